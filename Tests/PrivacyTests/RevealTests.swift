import Devices
import DUIS
import LoadModel
import Privacy
import Testing

/// The inferences on emulated households, checked against what the household model
/// really has: the evidence that half-hourly data gives away more than daily data.
@Suite struct RevealTests {
    @Test func halfHourlyDataGivesAwayWhatDailyDataDoesNot() {
        let today = Timestamp(year: 2026, month: 11, day: 20).day.number
        let fleet = Fleet.build(FleetSpec(seed: 5, premises: 1200, createdDay: today))
        let engine = MeterEngine()
        var evHomes = 0, evFoundHalfHourly = 0, noEV = 0, evFalse = 0, solarHomes = 0, solarFound = 0, wakeFound = 0, wakeFoundDaily = 0, homes = 0
        for index in 0..<fleet.count {
            let model = PremisesModel(fleet: fleet, index: index)
            guard model.installDay < today - 70 else { continue }
            homes += 1
            let state = PremisesState()
            let days = (today - 56..<today).map { day -> RevealDay in
                let readings = engine.readings(model, state, day: day)
                return RevealDay(day: day, importWh: (0..<48).map { Double(readings.importWh[$0]) }, exportWh: (0..<48).map { Double(readings.exportWh[$0]) })
            }
            let found = Reveal.analyse(days)
            func revealed(_ name: String, _ granularity: String) -> Bool { found.contains { $0.name == name && $0.granularity == granularity && $0.revealed } }
            if model.profile.features.contains(.electricVehicle) {
                evHomes += 1
                if revealed("electric vehicle", "half-hourly") { evFoundHalfHourly += 1 }
            } else {
                noEV += 1
                if revealed("electric vehicle", "half-hourly") { evFalse += 1 }
            }
            if model.profile.features.contains(.solar) {
                solarHomes += 1
                if revealed("solar panels", "half-hourly") { solarFound += 1 }
            }
            if revealed("wake time", "half-hourly") { wakeFound += 1 }
            if revealed("wake time", "daily") { wakeFoundDaily += 1 }
        }
        print("reveal: \(homes) homes, 56 days each: EV found in \(evFoundHalfHourly)/\(evHomes) EV homes (false in \(evFalse)/\(noEV)); solar \(solarFound)/\(solarHomes); wake time from half hours in \(wakeFound), from daily totals in \(wakeFoundDaily)")
        #expect(evHomes > 10 && solarHomes > 10)
        #expect(Double(evFoundHalfHourly) >= 0.7 * Double(evHomes), "half hours show most EVs")
        #expect(Double(evFalse) <= 0.05 * Double(noEV), "and rarely one that is not there")
        #expect(Double(solarFound) >= 0.8 * Double(solarHomes))
        #expect(Double(wakeFound) >= 0.6 * Double(homes), "most wake times show in half hours")
        #expect(wakeFoundDaily == 0, "never in daily totals")
    }

    @Test func aHolidayShowsAsStandbyDays() {
        let base: [Double] = Array(repeating: 60, count: 48)
        var days: [RevealDay] = []
        for day in Int32(20_000)..<20_021 {
            var values = base
            if !(10...14).contains(day - 20_000) {
                for slot in 14..<16 { values[slot] = 700 }  // 07:00 kettle and shower
                values[36] = 1_400  // 18:00 oven
            }
            days.append(RevealDay(day: day, importWh: values, exportWh: Array(repeating: 0, count: 48)))
        }
        let found = Reveal.analyse(days)
        #expect(found.contains { $0.name == "holidays" && $0.granularity == "half-hourly" && $0.revealed && $0.finding.contains("5 days") })
        #expect(found.contains { $0.name == "wake time" && $0.finding.contains("07:00") })
        #expect(found.contains { $0.name == "cooking" && $0.finding.contains("18:00") })
        let aggregate = Reveal.analyseAggregate(days, households: 12)
        #expect(aggregate.allSatisfy { !$0.revealed }, "an aggregate belongs to no household")
    }
}
