import ArgumentParser
import Devices
import DUIS
import Privacy

/// `gbsm dpp coverage`: what network operators still get under the plan rules, measured on
/// a generated fleet where every household reports: the share of feeder and secondary
/// substation half hours (and of household half hours) a plan publishes, alone and beside
/// a daily plan at the other level (one release per user).
struct DPPCoverage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coverage",
        abstract: "The share of feeder and secondary substation half hours a default plan publishes on a generated fleet (every household reporting, one day), alone and beside a daily plan at feeder level.")

    @Option(help: "Homes in the generated fleet.")
    var premises: Int = 10_000

    @Option(help: "The fleet's seed.")
    var seed: UInt64 = 1

    @Option(help: "Smallest group published.")
    var minimumHouseholds: Int = 5

    @Option(help: "Largest share of a group's total one household may have.")
    var dominanceLimit: Double = 0.15

    @Option(help: "merge or suppress.")
    var smallGroups: SmallGroupPolicy = .merge

    func run() async throws {
        guard (1...100_000).contains(premises) else { throw ValidationError("--premises is 1 to 100,000 (every home's day is held in memory)") }
        let created = Timestamp.now().day.number
        let fleet = Fleet.build(FleetSpec(seed: seed, premises: premises, createdDay: created))
        let day = created + 1
        let engine = MeterEngine()
        // Every home's day: 48 half hours of import, and its total.
        var halfHours = [[Int64]](repeating: [], count: fleet.count)
        for index in 0..<fleet.count {
            let readings = engine.readings(PremisesModel(fleet: fleet, index: index), PremisesState(), day: day)
            halfHours[index] = (0..<48).map { Int64(readings.importWh[$0]) }
        }
        let layout = fleet.layout
        func units(_ starts: [UInt32], _ prefix: String, _ level: NetworkLevel) -> [NetworkUnit] {
            starts.indices.map { number in
                let end = number + 1 < starts.count ? Int(starts[number + 1]) : fleet.count
                return NetworkUnit(key: "\(prefix)\(number)", level: level, members: Set((Int(starts[number])..<end).map(Int64.init)))
            }
        }
        let feeders = units(layout.feederStart, "LV", .feeder), secondaries = units(layout.secondaryStart, "SS", .secondary)
        let primaries = units(layout.primaryStart, "PS", .primary)
        func parent(_ unit: NetworkUnit, in above: [NetworkUnit], starts: [UInt32]) -> String {
            guard let first = unit.members.min() else { return "" }
            return above[FleetLayout.containing(Int(first), in: starts)].key
        }
        let primaryOf: (Int64) -> Int = { FleetLayout.containing(Int($0), in: layout.primaryStart) }
        var unitsByPrimary: [Int: [NetworkUnit]] = [:]
        for unit in feeders + secondaries + primaries { if let first = unit.members.min() { unitsByPrimary[primaryOf(first), default: []].append(unit) } }

        struct Result { var unitSlots = 0, publishedUnitSlots = 0, householdSlots = 0, publishedHouseholdSlots = 0 }
        // One plan's run over the day; `released` is what the user already holds (per primary).
        func runPlan(level: AggregationLevel, granularity: Granularity, released: inout [Int: [ReleasedSet]]) -> Result {
            let plan = DataPrivacyPlan(user: EUI64(0), name: "coverage", approvalReference: "coverage", level: level, minimumHouseholds: minimumHouseholds,
                                       dominanceLimit: dominanceLimit, smallGroups: smallGroups, publicationDelayHours: 0, granularity: granularity)
            let networkUnits = level == .feeder ? feeders : secondaries
            let groups = networkUnits.map { unit in
                NetworkGroup(key: unit.key, parent: level == .feeder ? parent(unit, in: secondaries, starts: layout.secondaryStart) : parent(unit, in: primaries, starts: layout.primaryStart),
                             members: unit.members.map(String.init))
            }
            let aggregator = PlanAggregator(plan: plan)
            let partition = aggregator.partition(groups)
            let slots = granularity == .daily ? [Timestamp(dayNumber: day)] : (0..<48).map { Timestamp(dayNumber: day, slot: $0) }
            var readings: [PlanReading] = []
            for group in groups {
                for member in group.members {
                    guard let index = Int(member) else { continue }
                    for (slot, start) in slots.enumerated() {
                        let value = granularity == .daily ? halfHours[index].reduce(0, +) : halfHours[index][slot]
                        readings.append(PlanReading(pseudonym: member, group: group.key, slot: start, value: value))
                    }
                }
            }
            var decided: [String: String?] = [:]
            let outcome = aggregator.run(readings: readings, partition: partition, decidedSlots: [], slotMilliseconds: granularity == .daily ? CalendarDay.millisecondsPerDay : CalendarDay.millisecondsPerHalfHour,
                                         now: Timestamp(dayNumber: day + 3), release: { group, _ in
                if let known = decided[group.key] { return known }
                let members = Set(group.members.compactMap { Int64($0) })
                guard let first = members.min() else { return "empty" }
                // A group is withheld for the calendar month of a member's installation (as
                // the hub does, with moves too), so its first period dates neither.
                let month = { (day: Int32) -> Int in let (y, m, _) = CalendarDay(number: Int64(day)).map(\.civil) ?? (0, 0, 0); return y * 12 + m }
                if members.contains(where: { month(fleet.premises(Int($0)).traits.installedOn) == month(day) }) {
                    decided[group.key] = "installed this month"
                    return "installed this month"
                }
                let primary = primaryOf(first)
                let refusal = ReleaseAudit(minimumHouseholds: minimumHouseholds, units: unitsByPrimary[primary] ?? [])
                    .problem(released: released[primary] ?? [], candidate: ReleasedSet(key: group.key, members: members))
                if refusal == nil { released[primary, default: []].append(ReleasedSet(key: group.key, members: members)) }
                decided[group.key] = refusal
                return refusal
            })
            var result = Result()
            let sizes = Dictionary(uniqueKeysWithValues: networkUnits.map { ($0.key, $0.members.count) })
            result.unitSlots = networkUnits.count * slots.count
            result.householdSlots = fleet.count * slots.count
            for aggregate in outcome.published {
                let parts = aggregate.group.split(separator: "+").map(String.init)
                result.publishedUnitSlots += parts.count
                result.publishedHouseholdSlots += parts.reduce(0) { $0 + (sizes[$1] ?? 0) }
            }
            return result
        }
        func line(_ name: String, _ result: Result) {
            let units = Double(result.publishedUnitSlots) / Double(max(result.unitSlots, 1)) * 100
            let households = Double(result.publishedHouseholdSlots) / Double(max(result.householdSlots, 1)) * 100
            print("\(name): \(String(format: "%.1f", units))% of unit periods published (\(result.publishedUnitSlots) of \(result.unitSlots)), \(String(format: "%.1f", households))% of household periods")
        }
        print("fleet of \(fleet.count) homes (seed \(seed)): \(feeders.count) feeders, \(secondaries.count) secondary substations, \(primaries.count) primaries; k = \(minimumHouseholds), dominance \(dominanceLimit), \(smallGroups.rawValue)")
        var none: [Int: [ReleasedSet]] = [:]
        line("half-hourly plan at feeder level, alone", runPlan(level: .feeder, granularity: .halfHourly, released: &none))
        none = [:]
        line("half-hourly plan at secondary level, alone", runPlan(level: .secondary, granularity: .halfHourly, released: &none))
        var held: [Int: [ReleasedSet]] = [:]
        let daily = runPlan(level: .feeder, granularity: .daily, released: &held)
        line("daily plan at feeder level", daily)
        line("half-hourly plan at secondary level beside it", runPlan(level: .secondary, granularity: .halfHourly, released: &held))
    }
}

extension SmallGroupPolicy: ExpressibleByArgument {}
