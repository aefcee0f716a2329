import DUIS

/// A group of households as the network is built: an LV feeder or a secondary
/// substation, with the group it sits under (for merging) and its members' pseudonyms.
/// Membership is every household the plan covers there, whether or not it reported.
public struct NetworkGroup: Sendable, Hashable {
    public var key: String
    public var parent: String
    public var members: [String]

    public init(key: String, parent: String, members: [String]) {
        self.key = key
        self.parent = parent
        self.members = members
    }
}

/// A group a plan publishes: one network group, or small ones merged with each other.
/// Within a plan every household belongs to at most one; across plans and levels
/// `ReleaseAudit` decides what may be published together.
public struct PublicationGroup: Sendable, Hashable {
    public var key: String
    public var parent: String
    public var members: Set<String>
    public var networkGroups: [String]
}

/// One pseudonymised reading in a plan's pipeline.
public struct PlanReading: Sendable, Hashable {
    public var pseudonym: String
    public var group: String
    /// Start of the period the value covers.
    public var slot: Timestamp
    /// Wh for electricity, litres for gas.
    public var value: Int64

    public init(pseudonym: String, group: String, slot: Timestamp, value: Int64) {
        self.pseudonym = pseudonym
        self.group = group
        self.slot = slot
        self.value = value
    }
}

/// A published aggregate: what the network operator sees.
public struct PlanAggregate: Sendable, Hashable, Codable {
    public var plan: Int64
    public var group: String
    public var slot: Timestamp
    public var households: Int
    public var total: Int64
    public var publishedAt: Timestamp

    public init(plan: Int64, group: String, slot: Timestamp, households: Int, total: Int64, publishedAt: Timestamp) {
        self.plan = plan
        self.group = group
        self.slot = slot
        self.households = households
        self.total = total
        self.publishedAt = publishedAt
    }

    public var mean: Double { households > 0 ? Double(total) / Double(households) : 0 }
}

/// A period of a group that will never be published, and why.
public struct PlanSuppression: Sendable, Hashable, Codable {
    public var plan: Int64
    public var group: String
    public var slot: Timestamp
    public var reason: String
    public var decidedAt: Timestamp

    public init(plan: Int64, group: String, slot: Timestamp, reason: String, decidedAt: Timestamp) {
        self.plan = plan
        self.group = group
        self.slot = slot
        self.reason = reason
        self.decidedAt = decidedAt
    }
}

/// Turns a plan's pseudonymised readings into the aggregates it may publish.
///
/// - Groups: the plan's network groups, small ones merged with their neighbours (or
///   suppressed), into a partition: a household is in one published group only.
/// - A period of a group is decided once, when all its households have reported or
///   the plan's publication delay has passed, and never again: later readings are
///   discarded, so no two versions of one aggregate exist to subtract.
/// - A period is published only if every household of the group reported (at least
///   `minimumHouseholds`), so the operator's choice of which homes to read cannot shape an
///   aggregate; no household is above `dominanceLimit` of the total; and the group's
///   households may join what the user already holds for that day (`ReleaseAudit`, asked
///   through `release`), across all its plans, granularities and levels.
public struct PlanAggregator: Sendable {
    public let plan: DataPrivacyPlan

    public init(plan: DataPrivacyPlan) { self.plan = plan }

    public struct Partition: Sendable {
        public var groups: [PublicationGroup]
        /// Network groups with nothing publishable, and why.
        public var unpublishable: [(group: String, reason: String)]
        /// The published group of each member.
        public var groupOf: [String: String]
    }

    /// Forms the published groups from the network groups.
    public func partition(_ networkGroups: [NetworkGroup]) -> Partition {
        let k = plan.minimumHouseholds
        var groups: [PublicationGroup] = []
        var unpublishable: [(String, String)] = []
        var byParent: [String: [NetworkGroup]] = [:]
        for group in networkGroups { byParent[group.parent, default: []].append(group) }
        for parent in byParent.keys.sorted() {
            let siblings = (byParent[parent] ?? []).sorted { $0.key < $1.key }
            var large = siblings.filter { Set($0.members).count >= k }
                .map { PublicationGroup(key: $0.key, parent: parent, members: Set($0.members), networkGroups: [$0.key]) }
            let small = siblings.filter { Set($0.members).count < k }
            if !small.isEmpty {
                switch plan.smallGroups {
                case .suppress:
                    for group in small {
                        unpublishable.append((group.key, "\(Set(group.members).count) household(s), fewer than the plan's minimum of \(k); the plan suppresses small groups"))
                    }
                case .merge:
                    // Small units merge only with each other, never into a larger sibling: the
                    // sibling is a unit the operator can meter, and the merged total less its
                    // measurement would be the small units. Each merged unit is unpublishable
                    // alone, so no measurement of one of them is a published group's part.
                    let members = small.reduce(into: Set<String>()) { $0.formUnion($1.members) }
                    let keys = small.map(\.key)
                    if members.count >= k {
                        large.append(PublicationGroup(key: keys.joined(separator: "+"), parent: parent, members: members, networkGroups: keys))
                    } else {
                        for group in small {
                            unpublishable.append((group.key, "\(members.count) household(s) in the small groups under \(parent), fewer than the plan's minimum of \(k) even merged (a small group is never merged into a larger neighbour, whose own measurement would give it away)"))
                        }
                    }
                }
            }
            groups += large
        }
        var groupOf: [String: String] = [:]
        for group in groups { for member in group.members { groupOf[member] = group.key } }
        return Partition(groups: groups, unpublishable: unpublishable, groupOf: groupOf)
    }

    /// The outcome of one aggregation run.
    public struct Outcome: Sendable {
        public var published: [PlanAggregate] = []
        public var suppressed: [PlanSuppression] = []
        /// Readings whose period was decided (published or suppressed): raw data to delete
        /// once the plan's raw retention allows.
        public var decided: [PlanReading] = []
        /// Readings for periods already decided, or from households outside every published
        /// group: discarded.
        public var discarded: [PlanReading] = []

        public init() {}
    }

    /// Decides every period that is due. `decidedSlots` are the (group, slot) pairs
    /// already published or suppressed in earlier runs.
    ///
    /// `release` is asked, for each period about to be published, whether the group's
    /// households may be released to the user for that day beside everything it already
    /// holds (`ReleaseAudit`); it returns why not, or nil.
    public func run(readings: [PlanReading], partition: Partition, decidedSlots: Set<SlotKey>, slotMilliseconds: Int64, now: Timestamp,
                    release: (PublicationGroup, CalendarDay) -> String? = { _, _ in nil }) -> Outcome {
        var outcome = Outcome()
        let k = plan.minimumHouseholds
        let delay = Int64(plan.publicationDelayHours) * 3_600_000
        // A period is final for every network group that was part of a decided group
        // (merged groups are named after their network groups, joined by "+"), so a
        // regrouping cannot publish the same households' period again under a new name.
        var decidedNetwork = Set<SlotKey>()
        for key in decidedSlots {
            for part in key.group.split(separator: "+") { decidedNetwork.insert(SlotKey(group: String(part), slot: key.slot)) }
        }
        let networkGroupsOf = Dictionary(partition.groups.map { ($0.key, $0.networkGroups) }, uniquingKeysWith: { first, _ in first })
        var bySlot: [SlotKey: [PlanReading]] = [:]
        for reading in readings {
            guard let group = partition.groupOf[reading.pseudonym] else {
                outcome.discarded.append(reading)
                continue
            }
            let key = SlotKey(group: group, slot: reading.slot.milliseconds)
            let networkGroups = networkGroupsOf[group] ?? [group]
            if decidedSlots.contains(key) || decidedNetwork.contains(SlotKey(group: reading.group, slot: key.slot))
                || networkGroups.contains(where: { decidedNetwork.contains(SlotKey(group: $0, slot: key.slot)) }) {
                outcome.discarded.append(reading)
            } else {
                bySlot[key, default: []].append(reading)
            }
        }
        let groups = Dictionary(uniqueKeysWithValues: partition.groups.map { ($0.key, $0) })
        for key in bySlot.keys.sorted(by: { ($0.group, $0.slot) < ($1.group, $1.slot) }) {
            guard let group = groups[key.group], let slotReadings = bySlot[key] else { continue }
            // One value per household (the latest wins if a household reported twice).
            var values: [String: Int64] = [:]
            for reading in slotReadings where group.members.contains(reading.pseudonym) { values[reading.pseudonym] = reading.value }
            let missing = group.members.count - values.count
            let slot = Timestamp(milliseconds: key.slot)
            // Checked: a stored period or value is never trusted not to overflow.
            let (end, late) = key.slot.addingReportingOverflow(slotMilliseconds)
            let (dueAt, later) = end.addingReportingOverflow(delay)
            let due = !late && !later && now.milliseconds >= dueAt
            guard missing == 0 || due else { continue }
            outcome.decided += slotReadings
            var total: Int64 = 0
            var overflowed = false
            for value in values.values {
                let (sum, overflow) = total.addingReportingOverflow(value)
                total = sum
                overflowed = overflowed || overflow
            }
            let largest = values.values.max() ?? 0
            var reason: String?
            if overflowed {
                reason = "the households' values do not sum within 64 bits"
            } else if values.count < k {
                reason = "\(values.count) household(s) reported, fewer than the plan's minimum of \(k)"
            } else if missing > 0 {
                // Which homes an aggregate covers is never the operator's to choose: a group
                // is published whole or not at all.
                reason = "\(missing) household(s) of the group did not report: a group is published only when every household in it reported, so the homes an aggregate covers are never the reader's choice"
            } else if total > 0 && Double(largest) > plan.dominanceLimit * Double(total) {
                reason = "one household is \(Int((Double(largest) / Double(total) * 100).rounded()))% of the group's total, above the plan's dominance limit of \(Int((plan.dominanceLimit * 100).rounded()))%"
            } else if let refusal = release(group, CalendarDay(slot)) {
                reason = refusal
            }
            if let reason {
                outcome.suppressed.append(PlanSuppression(plan: plan.id, group: key.group, slot: slot, reason: reason, decidedAt: now))
            } else {
                outcome.published.append(PlanAggregate(plan: plan.id, group: key.group, slot: slot, households: values.count, total: total, publishedAt: now))
            }
        }
        return outcome
    }

    public struct SlotKey: Hashable, Sendable {
        public var group: String
        public var slot: Int64
        public init(group: String, slot: Int64) {
            self.group = group
            self.slot = slot
        }
    }
}
