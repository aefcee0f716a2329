import DUIS
import Foundation
import Logging
import Privacy
import Storage
import Synchronization

/// The data privacy plans' pipeline. Half-hourly (or daily) reads by a network operator
/// under a plan arrive here pseudonymised with the plan's key and tagged with the
/// household's network group; each run decides the periods that are due into published
/// aggregates or suppressions (`PlanAggregator`), deletes the raw readings it decided
/// and expires what the plan's retention allows. Fleet premises group by their LV
/// feeder or secondary substation; premises the store holds explicitly, whose network
/// gbsm does not model, group by postcode unit (feeder) and district (substation).
public final class PlanPipeline: Sendable {
    let store: any HubStore
    let committer: GroupCommitter
    let inventory: Inventory
    let logger: Logger
    /// The hub's clock: a registration covers a plan's user as of now.
    let clock: any HubClock
    let wakeup = Wakeup()
    /// One aggregation run at a time in this process: two runs of one plan would decide
    /// the same periods and reserve the same release sets, and the later commit would fail
    /// (hubs sharing a store still can: the plain insert of a reservation fails that run
    /// whole, and the next decides again).
    private let runs = AsyncSerialLock()
    /// When partition maintenance last ran in this process.
    private let lastMaintenance = Mutex<Timestamp?>(nil)

    init(store: any HubStore, committer: GroupCommitter, inventory: Inventory, clock: any HubClock = WallClock(), logger: Logger) {
        self.store = store
        self.clock = clock
        self.committer = committer
        self.inventory = inventory
        self.logger = logger
    }

    // MARK: - Network groups

    /// The network group of a premises at the plan's level, and the group above it.
    public func location(premises id: Int64, level: AggregationLevel) -> (key: String, parent: String)? {
        if let fleet = inventory.fleet, let index = fleet.index(premisesID: id) {
            let secondary = fleet.group(of: index, in: fleet.secondaryStarts)
            switch level {
            case .feeder: return ("LV\(fleet.group(of: index, in: fleet.feederStarts))", "SS\(secondary)")
            case .secondary: return ("SS\(secondary)", "PS\(fleet.group(of: index, in: fleet.primaryStarts))")
            }
        }
        guard let premises = inventory.premises(id) else { return nil }
        let postcode = premises.postcode.uppercased().replacingOccurrences(of: " ", with: "")
        let district = String(postcode.dropLast(3))
        switch level {
        case .feeder: return ("PC:\(postcode)", "PD:\(district)")
        case .secondary: return ("PD:\(district)", "AREA")
        }
    }

    /// Every network group under `parent` with the premises the plan covers in each.
    func groups(under parent: String, level: AggregationLevel, plan: DataPrivacyPlan, seen: Set<String>) -> [(key: String, premises: [Int64])] {
        if let fleet = inventory.fleet, let (kind, number) = Self.split(parent), kind == "SS" || kind == "PS" {
            let (childStarts, parentStarts) = kind == "SS" ? (fleet.feederStarts, fleet.secondaryStarts)
                : (fleet.secondaryStarts, fleet.primaryStarts)
            guard number < parentStarts.count else { return [] }
            let start = Int(parentStarts[number])
            let end = number + 1 < parentStarts.count ? Int(parentStarts[number + 1]) : fleet.count
            var result: [(String, [Int64])] = []
            var child = fleet.group(of: start, in: childStarts)
            while child < childStarts.count, Int(childStarts[child]) < end {
                let childEnd = child + 1 < childStarts.count ? min(end, Int(childStarts[child + 1])) : end
                let members = (Int(childStarts[child])..<childEnd).filter { covered(fleet: fleet, index: $0, plan: plan) }
                    .map { fleet.premisesID($0) }
                result.append(((kind == "SS" ? "LV" : "SS") + String(child), members))
                child += 1
            }
            return result
        }
        // Store premises: every postcode unit (or district) under the parent, whether it
        // has readings or not, so the groups do not depend on whom the operator chose to read.
        var byKey: [String: [Int64]] = [:]
        for premises in inventory.explicitPremises where inventory.fleet?.index(premisesID: premises.id) == nil {
            guard let location = location(premises: premises.id, level: level), location.parent == parent else { continue }
            byKey[location.key, default: []].append(premises.id)
        }
        for key in seen where byKey[key] == nil { byKey[key] = [] }
        return byKey.keys.sorted().map { key in (key, (byKey[key] ?? []).filter { covered(premises: $0, plan: plan) }.sorted()) }
    }

    static func split(_ key: String) -> (String, Int)? {
        let kind = String(key.prefix(2))
        guard let number = Int(key.dropFirst(2)), number >= 0 else { return nil }
        return (kind, number)
    }

    /// Whether the plan's operator is the premises' distributor (or gas transporter) and
    /// its meter is in DCC's service.
    func covered(fleet: any FleetRecords, index: Int, plan: DataPrivacyPlan) -> Bool {
        guard let network = fleet.network(index, fuel: plan.fuel == .electricity ? .electricity : .gas), network.party == plan.user else { return false }
        return inventory.device(network.meter)?.optedOut != true
    }

    func covered(premises id: Int64, plan: DataPrivacyPlan) -> Bool {
        let type: DeviceType = plan.fuel == .electricity ? .esme : .gsme
        let role: UserRole = plan.fuel == .electricity ? .ed : .gt
        guard let meter = inventory.devices(atPremises: id).first(where: { $0.type == type }), !meter.optedOut, let mpxn = meter.importMPxN else { return false }
        let now = clock.now()
        return inventory.registrations(mpxn: mpxn).contains { $0.role == role && $0.party == plan.user && $0.covers(now) }
    }

    // MARK: - Intake

    /// The readings of one household's read, pseudonymised and tagged for the plan.
    func intake(plan: DataPrivacyPlan, premises: Int64, occupancy: Int, readings: [(start: Timestamp, value: Int64)]) async throws -> [PlanReading] {
        guard let secrets = try await store.planSecrets(id: plan.id), let location = location(premises: premises, level: plan.level) else { return [] }
        let pseudonym = Pseudonymiser(key: secrets.key).pseudonym(premises: premises, occupancy: occupancy)
        return readings.map { PlanReading(pseudonym: pseudonym, group: location.key, slot: $0.start, value: $0.value) }
    }

    // MARK: - Aggregation runs

    /// Runs every active plan (after new readings, and periodically for publication
    /// delays) on the leading hub only: two hubs deciding one period at once could decide
    /// it differently (one publishing, the other suppressing once the delay passed).
    func run(interval: Duration = .seconds(30), leadership: Leadership) async {
        while !Task.isCancelled {
            await wakeup.wait(upTo: interval)
            if Task.isCancelled { break }
            guard leadership.isLeading else { continue }
            await runAll()
        }
    }

    public func runAll() async {
        let now = clock.now()
        do {
            for plan in try await store.plans() { try await run(plan: plan, now: now) }
        } catch is CancellationError {
        } catch {
            logger.error("data privacy plan aggregation failed: \(error)")
        }
        let due = lastMaintenance.withLock { last in
            guard last.map({ now.milliseconds - $0.milliseconds >= 3_600_000 }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            let done = try await maintainPartitions(now: now)
            if !done.made.isEmpty || !done.dropped.isEmpty {
                logger.notice("partitions: \(done.made.count) month(s) made (\(done.movedFromDefault) row(s) moved in), \(done.dropped.count) dropped past every plan's retention: \(done.dropped.joined(separator: ", "))")
            }
        } catch is CancellationError {
        } catch {
            lastMaintenance.withLock { $0 = nil }
            logger.error("partition maintenance failed (tried again at the next run): \(error)")
        }
    }

    /// Deletes undecided readings long past their period's publication delay (a safety net),
    /// then makes the months ahead and drops the months past every active plan's retention
    /// (`HubStore.maintainPartitions`; nothing on SQLite). Run hourly from `runAll`.
    @discardableResult
    public func maintainPartitions(now: Timestamp) async throws -> PartitionMaintenance {
        let plans = try await store.plans()
        // Undecided readings left a week past their publication delay: none should be (a
        // run decides each period once it is due), so any are deleted, not kept for ever.
        for plan in plans {
            let slotDays: Int64 = plan.granularity == .daily ? 1 : 0
            let receivedBefore = now.adding(days: -(7 + slotDays)).adding(milliseconds: -Int64(plan.publicationDelayHours) * 3_600_000
                                                                         - CalendarDay.millisecondsPerHalfHour)
            try await committer.commit([.privacy(.expireUndecidedReadings(plan: plan.id, receivedBefore: receivedBefore))])
        }
        let raw = plans.map { now.adding(days: -Int64($0.rawRetentionDays)) }.min()
        let aggregates = plans.map { now.adding(days: -Int64($0.aggregateRetentionDays)) }.min()
        return try await store.maintainPartitions(now: now, retention: PartitionRetention(rawReadingsBefore: raw, aggregatesBefore: aggregates))
    }

    /// One aggregation run of one plan.
    @discardableResult
    public func run(plan: DataPrivacyPlan, now: Timestamp = .now()) async throws -> PlanAggregator.Outcome {
        try await runs.withLock { () async throws -> PlanAggregator.Outcome in try await runAlone(plan: plan, now: now) }
    }

    /// Reads what the plan can decide now, not every undecided reading: the store counts
    /// each network group's undecided readings per period (`planOpenSlots`), and only the
    /// periods of a published group that every household has reported in, or whose
    /// publication delay has passed, are read (with those of groups nothing can be
    /// published for, to discard). A run costs the open periods plus the readings it
    /// decides, whatever the store holds.
    private func runAlone(plan: DataPrivacyPlan, now: Timestamp) async throws -> PlanAggregator.Outcome {
        let open = try await store.planOpenSlots(plan: plan.id)
        var outcome = PlanAggregator.Outcome()
        var reservations: [ReleaseReservation] = []
        if !open.isEmpty, let secrets = try await store.planSecrets(id: plan.id) {
            let pseudonymiser = Pseudonymiser(key: secrets.key)
            // The network groups with open periods, with their siblings (for merging).
            var parents: [String: Set<String>] = [:]
            for key in Set(open.keys.map(\.group)) {
                parents[parent(of: key, level: plan.level), default: []].insert(key)
            }
            var premisesByGroup: [(key: String, parent: String, premises: [Int64])] = []
            for (parent, seen) in parents {
                for group in groups(under: parent, level: plan.level, plan: plan, seen: seen) {
                    premisesByGroup.append((group.key, parent, group.premises))
                }
            }
            let occupancies = try await store.currentOccupancies(premises: [])
            let networkGroups = premisesByGroup.map { group in
                NetworkGroup(key: group.key, parent: group.parent,
                             members: group.premises.map { pseudonymiser.pseudonym(premises: $0, occupancy: occupancies[$0] ?? 0) })
            }
            let aggregator = PlanAggregator(plan: plan)
            let partition = aggregator.partition(networkGroups)
            let slotLength: Int64 = plan.granularity == .daily ? CalendarDay.millisecondsPerDay : CalendarDay.millisecondsPerHalfHour
            let ready = Self.readySlots(open: open, partition: partition, slotMilliseconds: slotLength,
                                        delayMilliseconds: Int64(plan.publicationDelayHours) * 3_600_000, now: now)
            let readings = try await store.planReadings(plan: plan.id, slots: ready)
            if !readings.isEmpty {
                var premisesOfNetworkGroup: [String: [Int64]] = [:]
                for group in premisesByGroup { premisesOfNetworkGroup[group.key, default: []] += group.premises }
                var ledger = try await ReleaseLedger(pipeline: self, plan: plan, days: Set(readings.map { CalendarDay($0.slot) }),
                                                     groupPremises: Dictionary(partition.groups.map { group in
                                                         (group.key, Set(group.networkGroups.flatMap { premisesOfNetworkGroup[$0] ?? [] }))
                                                     }, uniquingKeysWith: { first, _ in first }))
                outcome = aggregator.run(readings: readings, partition: partition,
                                         decidedSlots: try await store.decidedSlots(plan: plan.id, slots: Set(ready.map(\.slot))),
                                         slotMilliseconds: slotLength, now: now, release: { group, day in ledger.decide(group: group.key, day: day) })
                reservations = ledger.newReservations
            }
        }
        var mutations: [Mutation] = reservations.isEmpty ? [] : [.privacy(.reserveReleaseSets(reservations))]
        // Decided readings leave the undecided ones: deleted, or kept for the plan's raw retention.
        let toDelete = plan.rawRetentionDays == 0 ? outcome.decided + outcome.discarded : outcome.discarded
        let toKeep = plan.rawRetentionDays == 0 ? [] : outcome.decided
        if !outcome.published.isEmpty || !outcome.suppressed.isEmpty || !toDelete.isEmpty || !toKeep.isEmpty || !reservations.isEmpty {
            mutations.append(.privacy(.planDecided(plan: plan.id, published: outcome.published, suppressed: outcome.suppressed, deleteReadings: toDelete,
                                                   keepReadings: toKeep)))
            var reasons: [String: Int] = [:]
            for suppression in outcome.suppressed {
                let reason = suppression.reason.split(separator: ",").first.map(String.init) ?? suppression.reason
                reasons[String(reason.drop { $0.isNumber || $0 == " " || $0 == "%" }), default: 0] += 1
            }
            let why = reasons.sorted { $0.value > $1.value }.prefix(3).map { "\($0.value)× \($0.key)" }.joined(separator: "; ")
            mutations.append(.audit(AuditEvent(at: now, kind: .dataPrivacyPlan, actor: plan.user, code: "plan \(plan.id)",
                                               detail: "data privacy plan \(plan.id): \(outcome.published.count) period(s) published, \(outcome.suppressed.count) suppressed"
                                                   + (why.isEmpty ? "" : " (\(why))")
                                                   + ", \(toDelete.count) raw reading(s) deleted, \(outcome.discarded.count) discarded")))
        }
        mutations.append(.privacy(.expirePlanData(plan: plan.id,
                                                  readingsBefore: plan.rawRetentionDays > 0 ? now.adding(days: -Int64(plan.rawRetentionDays)) : nil,
                                                  aggregatesBefore: now.adding(days: -Int64(plan.aggregateRetentionDays)))))
        try await committer.commit(mutations)
        return outcome
    }

    /// The open periods a run reads: each published group's periods in which its network
    /// groups hold at least as many undecided readings as it has households, or whose
    /// publication delay has passed; and every open period of a network group in no
    /// published group (its readings are discarded).
    static func readySlots(open: [PlanAggregator.SlotKey: Int], partition: PlanAggregator.Partition, slotMilliseconds: Int64,
                           delayMilliseconds: Int64, now: Timestamp) -> [PlanAggregator.SlotKey] {
        var published: [String: PublicationGroup] = [:]
        var groups: [String: PublicationGroup] = [:]
        for group in partition.groups {
            groups[group.key] = group
            for network in group.networkGroups { published[network] = group }
        }
        var readings: [PlanAggregator.SlotKey: Int] = [:]
        var ready = Set<PlanAggregator.SlotKey>()
        for (key, count) in open {
            guard let group = published[key.group] else {
                ready.insert(key)
                continue
            }
            readings[PlanAggregator.SlotKey(group: group.key, slot: key.slot), default: 0] += count
        }
        for (key, count) in readings {
            guard let group = groups[key.group] else { continue }
            let (due, overflow) = key.slot.addingReportingOverflow(slotMilliseconds &+ delayMilliseconds)
            guard count >= group.members.count || (!overflow && now.milliseconds >= due) else { continue }
            for network in group.networkGroups where open[PlanAggregator.SlotKey(group: network, slot: key.slot)] != nil {
                ready.insert(PlanAggregator.SlotKey(group: network, slot: key.slot))
            }
        }
        return ready.sorted { ($0.slot, $0.group) < ($1.slot, $1.group) }
    }

    // MARK: - The network as the operator meters it

    /// The day a premises' meters were installed (the fleet's install day, or the earliest
    /// commissioning of a meter the store holds), if known.
    func installDay(premises: Int64) -> CalendarDay? {
        if let fleet = inventory.fleet, let index = fleet.index(premisesID: premises) {
            return CalendarDay(number: Int64(fleet.installedOn(index)))
        }
        return inventory.devices(atPremises: premises).filter { $0.type == .esme || $0.type == .gsme }
            .compactMap(\.dateCommissioned).min().map(CalendarDay.init)
    }

    /// The primary substation (or, for premises gbsm does not place on its network, the
    /// area) a premises is under.
    func primary(of premises: Int64) -> String {
        if let fleet = inventory.fleet, let index = fleet.index(premisesID: premises) {
            return "PS\(fleet.group(of: index, in: fleet.primaryStarts))"
        }
        return "AREA"
    }

    /// Every unit under a primary substation (the primary, its secondaries and their
    /// feeders) with every household on it that has a meter of the fuel, covered by a plan
    /// or not: what a monitor on the unit would measure.
    func networkUnits(primary key: String, fuel: PlanFuel) -> [NetworkUnit] {
        func hasMeter(_ premises: Int64) -> Bool {
            if fuel == .electricity { return true }
            if let fleet = inventory.fleet, let index = fleet.index(premisesID: premises) { return fleet.network(index, fuel: .gas) != nil }
            return inventory.devices(atPremises: premises).contains { $0.type == .gsme }
        }
        var units: [NetworkUnit] = []
        if let fleet = inventory.fleet, let (kind, number) = Self.split(key), kind == "PS", number < fleet.primaryStarts.count {
            let start = Int(fleet.primaryStarts[number])
            let end = number + 1 < fleet.primaryStarts.count ? Int(fleet.primaryStarts[number + 1]) : fleet.count
            var all = Set<Int64>()
            var secondaries: [Int: Set<Int64>] = [:], feeders: [Int: Set<Int64>] = [:]
            let secondaryStarts = fleet.secondaryStarts, feederStarts = fleet.feederStarts
            for index in start..<end {
                let id = fleet.premisesID(index)
                guard hasMeter(id) else { continue }
                all.insert(id)
                secondaries[fleet.group(of: index, in: secondaryStarts), default: []].insert(id)
                feeders[fleet.group(of: index, in: feederStarts), default: []].insert(id)
            }
            units.append(NetworkUnit(key: key, level: .primary, members: all))
            for (number, members) in secondaries { units.append(NetworkUnit(key: "SS\(number)", level: .secondary, members: members)) }
            for (number, members) in feeders { units.append(NetworkUnit(key: "LV\(number)", level: .feeder, members: members)) }
            return units
        }
        // Premises the store holds explicitly: postcode units stand for feeders, districts
        // for secondary substations, the whole area for the primary.
        var all = Set<Int64>()
        var districts: [String: Set<Int64>] = [:], postcodes: [String: Set<Int64>] = [:]
        for premises in inventory.explicitPremises where inventory.fleet?.index(premisesID: premises.id) == nil && hasMeter(premises.id) {
            guard let location = location(premises: premises.id, level: .feeder) else { continue }
            all.insert(premises.id)
            postcodes[location.key, default: []].insert(premises.id)
            districts[location.parent, default: []].insert(premises.id)
        }
        units.append(NetworkUnit(key: "AREA", level: .primary, members: all))
        for (key, members) in districts { units.append(NetworkUnit(key: key, level: .secondary, members: members)) }
        for (key, members) in postcodes { units.append(NetworkUnit(key: key, level: .feeder, members: members)) }
        return units
    }

    func parent(of key: String, level: AggregationLevel) -> String {
        if let fleet = inventory.fleet, let (kind, number) = Self.split(key) {
            if kind == "LV", number < fleet.feederStarts.count {
                return "SS\(fleet.group(of: Int(fleet.feederStarts[number]), in: fleet.secondaryStarts))"
            }
            if kind == "SS", number < fleet.secondaryStarts.count {
                return "PS\(fleet.group(of: Int(fleet.secondaryStarts[number]), in: fleet.primaryStarts))"
            }
        }
        if key.hasPrefix("PC:") { return "PD:" + String(key.dropFirst(3).dropLast(3)) }
        return "AREA"
    }
}
