import ArgumentParser
import Foundation
import LoadModel

struct LoadModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "loadmodel", abstract: "The household demand model.",
                                                    subcommands: [Stats.self, Day.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Annual consumption and winter ADMD of a synthetic population, to compare with GB figures (Ofgem TDCV 2,700 kWh electricity and 11,500 kWh gas; ADMD 1–2 kW per home for 100 homes).")

        @Option(help: "Homes to simulate.")
        var homes: Int = 1000

        @Option(help: "Days to simulate from 1 January (365 for a year).")
        var days: Int = 365

        @Option(help: "Year.")
        var year: Int = 2025

        @Option(help: "Population seed.")
        var seed: UInt64 = 1

        func run() async throws {
            let mix = PopulationMix()
            let profiles = (0..<homes).map { index in
                mix.household(seed: LoadModel_mix(seed, UInt64(index)), region: index % 14)
            }
            let first = UKCalendar.day(year: year, month: 1, day: 1)
            let statistics = PopulationStatistics.measure(profiles, model: DemandModel(), first: first, days: days)
            print(statistics.summary)
            print(statistics.breakdown(profiles))
        }
    }

    struct Day: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One home's day, half hour by half hour.")

        @Option(help: "Population seed.")
        var seed: UInt64 = 1

        @Option(help: "Home index.")
        var home: Int = 0

        @Option(help: "Date (YYYY-MM-DD).")
        var date: String = "2025-01-15"

        func run() async throws {
            let parts = date.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3 else { throw ValidationError("date is YYYY-MM-DD") }
            let profile = PopulationMix().household(seed: LoadModel_mix(seed, UInt64(home)), region: home % 14)
            print(profile)
            let energy = DemandModel().day(profile, day: UKCalendar.day(year: parts[0], month: parts[1], day: parts[2]))
            for slot in 0..<48 {
                print(String(format: "%02d:%02d  import %6.0f Wh  export %6.0f Wh  gas %6.0f Wh", slot / 2, slot % 2 * 30,
                             energy.importWh(slot), energy.exportWh(slot), energy.gas[slot]))
            }
            print(String(format: "total import %.2f kWh, export %.2f kWh, gas %.2f kWh%@", energy.importTotal / 1000, energy.exportTotal / 1000,
                         energy.gasTotal / 1000, energy.away ? " (away)" : ""))
        }
    }
}

func LoadModel_mix(_ a: UInt64, _ b: UInt64) -> UInt64 { LoadModel.mix(a, b) }
