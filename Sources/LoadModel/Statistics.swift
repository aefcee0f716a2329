/// Statistics of a population of homes over a period: what the fleet must match to be
/// believable (annual consumption, its spread, the after-diversity maximum demand of a
/// street).
public struct PopulationStatistics: Sendable {
    public var homes: Int
    public var days: Int
    public var electricityKWh: [Double]
    public var gasKWh: [Double]
    public var exportKWh: [Double]
    /// For each group of `groupSize` homes, the highest half-hourly import of the group on
    /// a winter weekday evening, in kW per home.
    public var winterADMDPerHome: [Double]
    public var groupSize: Int

    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = p * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
        let fraction = position - Double(lower)
        return sorted[lower] * (1 - fraction) + sorted[upper] * fraction
    }

    /// Runs `homes` over the days `first..<first+days`.
    public static func measure(_ profiles: [HouseholdProfile], model: DemandModel, first: Int32, days: Int, groupSize: Int = 100) -> PopulationStatistics {
        var electricity = [Double](repeating: 0, count: profiles.count)
        var gas = [Double](repeating: 0, count: profiles.count)
        var export = [Double](repeating: 0, count: profiles.count)
        let groups = profiles.count / groupSize
        var admd = [Double](repeating: 0, count: groups)
        var groupDemand = [Double](repeating: 0, count: 48)
        for day in first..<(first + Int32(days)) {
            let (_, month, _) = UKCalendar.date(day)
            let winterWeekday = [12, 1, 2].contains(month) && !UKCalendar.isDayOff(day)
            for group in 0..<max(groups, 1) {
                for slot in 0..<48 { groupDemand[slot] = 0 }
                let range = groups == 0 ? 0..<profiles.count : (group * groupSize)..<((group + 1) * groupSize)
                for index in range {
                    let energy = model.day(profiles[index], day: day)
                    var total = 0.0
                    for slot in 0..<48 {
                        let imported = energy.importWh(slot)
                        total += imported
                        groupDemand[slot] += imported
                        gas[index] += energy.gas[slot]
                        export[index] += energy.exportWh(slot)
                    }
                    electricity[index] += total
                }
                if winterWeekday && groups > 0 {
                    // Half-hourly energy in Wh over 0.5 h is twice the mean power in W.
                    let peak = groupDemand.max() ?? 0
                    admd[group] = max(admd[group], peak * 2 / 1000 / Double(groupSize))
                }
            }
        }
        let scale = 365.0 / Double(days) / 1000
        return PopulationStatistics(homes: profiles.count, days: days, electricityKWh: electricity.map { $0 * scale },
                                    gasKWh: zip(profiles, gas).filter { $0.0.features.contains(.gas) }.map { $0.1 * scale },
                                    exportKWh: zip(profiles, export).filter { $0.0.features.contains(.solar) }.map { $0.1 * scale },
                                    winterADMDPerHome: admd, groupSize: groupSize)
    }

    /// Median annual electricity by kind of home.
    public func breakdown(_ profiles: [HouseholdProfile]) -> String {
        let kinds: [(String, (HouseholdProfile) -> Bool)] = [
            ("gas heating, no EV or PV", { $0.features.contains(.gas) && !$0.features.contains(.electricVehicle) && !$0.features.contains(.solar) && !$0.features.contains(.heatPump) }),
            ("storage heaters", { $0.features.contains(.storageHeaters) }),
            ("heat pump", { $0.features.contains(.heatPump) }),
            ("direct electric heating", { $0.features.contains(.electricHeaters) }),
            ("oil/LPG heating", { $0.features.contains(.offGridHeating) }),
            ("electric vehicle", { $0.features.contains(.electricVehicle) }),
            ("solar PV", { $0.features.contains(.solar) }),
        ]
        var lines: [String] = []
        for (name, test) in kinds {
            let values = zip(profiles, electricityKWh).filter { test($0.0) }.map(\.1)
            lines.append("  \(name): \(values.count) homes, median \(Int(Self.percentile(values, 0.5))) kWh")
        }
        for archetype in Archetype.allCases {
            let values = zip(profiles, electricityKWh).filter { $0.0.archetype == archetype && $0.0.features.contains(.gas) && $0.0.features.isDisjoint(with: [.electricVehicle, .solar]) }.map(\.1)
            lines.append("  \(archetype.name) (gas-heated): \(values.count) homes, median \(Int(Self.percentile(values, 0.5))) kWh")
        }
        return lines.joined(separator: "\n")
    }

    public var summary: String {
        func f(_ value: Double) -> String { String(Int(value.rounded())) }
        func k(_ value: Double) -> String { String(Double(Int(value * 100)) / 100) }
        return """
        \(homes) homes over \(days) days (scaled to a year)
          electricity import kWh/year: median \(f(Self.percentile(electricityKWh, 0.5))), mean \(f(electricityKWh.reduce(0, +) / Double(max(electricityKWh.count, 1)))), p10 \(f(Self.percentile(electricityKWh, 0.1))), p90 \(f(Self.percentile(electricityKWh, 0.9)))
          gas kWh/year (\(gasKWh.count) homes with gas): median \(f(Self.percentile(gasKWh, 0.5))), p10 \(f(Self.percentile(gasKWh, 0.1))), p90 \(f(Self.percentile(gasKWh, 0.9)))
          export kWh/year (\(exportKWh.count) homes with PV): median \(f(Self.percentile(exportKWh, 0.5)))
          winter weekday ADMD, groups of \(groupSize): median \(k(Self.percentile(winterADMDPerHome, 0.5))) kW/home, range \(k(winterADMDPerHome.min() ?? 0))–\(k(winterADMDPerHome.max() ?? 0))
        """
    }
}
