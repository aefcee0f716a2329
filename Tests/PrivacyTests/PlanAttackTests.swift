import DUIS
import Privacy
import Testing

/// Tries to pick one household out of a plan's published aggregates. Each attack must fail.
@Suite struct PlanAttackTests {
    let plan = DataPrivacyPlan(id: 1, user: EUI64(0x3333), name: "feeders", approvalReference: "OFG-1", level: .feeder,
                               minimumHouseholds: 5, dominanceLimit: 0.15, smallGroups: .merge, publicationDelayHours: 48)
    let slot = Timestamp(year: 2026, month: 11, day: 20, hour: 18)
    let halfHour: Int64 = 1_800_000
    var now: Timestamp { slot.adding(milliseconds: 3_600_000) }

    func members(_ prefix: String, _ count: Int) -> [String] { (0..<count).map { "\(prefix)\($0)" } }

    func readings(_ values: [String: Int64], group: String = "F1", at slot: Timestamp? = nil) -> [PlanReading] {
        values.map { PlanReading(pseudonym: $0.key, group: group, slot: slot ?? self.slot, value: $0.value) }
    }

    func run(_ groups: [NetworkGroup], _ readings: [PlanReading], decided: Set<PlanAggregator.SlotKey> = [], now: Timestamp? = nil, plan: DataPrivacyPlan? = nil) -> PlanAggregator.Outcome {
        let aggregator = PlanAggregator(plan: plan ?? self.plan)
        return aggregator.run(readings: readings, partition: aggregator.partition(groups), decidedSlots: decided, slotMilliseconds: halfHour, now: now ?? self.now)
    }

    @Test func aGroupOfFourIsNeverPublishedWhenFiveAreRequired() {
        let four = members("a", 4)
        // Alone under its substation (nothing to merge with): suppressed.
        var outcome = run([NetworkGroup(key: "F1", parent: "S1", members: four)], readings(Dictionary(uniqueKeysWithValues: four.map { ($0, 300) })),
                          now: slot.adding(milliseconds: 60 * 3_600_000))
        #expect(outcome.published.isEmpty)
        // Under a plan that suppresses small groups: suppressed even with a large sibling.
        var suppressing = plan
        suppressing.smallGroups = .suppress
        let sibling = members("b", 10)
        let all = Dictionary(uniqueKeysWithValues: (four + sibling).map { ($0, Int64(250)) })
        outcome = run([NetworkGroup(key: "F1", parent: "S1", members: four), NetworkGroup(key: "F2", parent: "S1", members: sibling)],
                      readings(all), plan: suppressing)
        #expect(outcome.published.map(\.group) == ["F2"])
        #expect(outcome.published.first?.households == 10)
        // Merging: a small group is never merged into a larger sibling (merged minus the
        // sibling's own measured total would be the four); it is suppressed.
        outcome = run([NetworkGroup(key: "F1", parent: "S1", members: four), NetworkGroup(key: "F2", parent: "S1", members: sibling)], readings(all))
        #expect(outcome.published.map(\.group) == ["F2"])
        // Two small groups together reach the minimum: merged with each other.
        let three = members("c", 3)
        let both = Dictionary(uniqueKeysWithValues: (four + three + sibling).map { ($0, Int64(250)) })
        outcome = run([NetworkGroup(key: "F1", parent: "S1", members: four), NetworkGroup(key: "F2", parent: "S1", members: sibling),
                       NetworkGroup(key: "F3", parent: "S1", members: three)], readings(both))
        #expect(Set(outcome.published.map(\.group)) == ["F2", "F1+F3"])
        #expect(outcome.published.first { $0.group == "F1+F3" }?.households == 7)
    }

    @Test func fourReportingOfAGroupOfTenIsSuppressed() {
        let group = members("a", 10)
        let reported = Dictionary(uniqueKeysWithValues: group.prefix(4).map { ($0, Int64(300)) })
        // Not yet due: nothing decided.
        #expect(run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(reported)).suppressed.isEmpty)
        let late = run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(reported), now: slot.adding(milliseconds: 50 * 3_600_000))
        #expect(late.published.isEmpty)
        #expect(late.suppressed.first?.reason.contains("fewer than the plan's minimum") == true)
    }

    @Test func oneDominantHomeSuppressesItsGroup() {
        let group = members("a", 8)
        var values = Dictionary(uniqueKeysWithValues: group.map { ($0, Int64(200)) })
        values["a0"] = 3_500  // an EV charging: 7 kW for the half hour
        let outcome = run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(values))
        #expect(outcome.published.isEmpty)
        #expect(outcome.suppressed.first?.reason.contains("dominance") == true)
        // Without it, the same group is published.
        values["a0"] = 200
        #expect(run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(values)).published.first?.total == 1600)
    }

    @Test func differencingTwoOverlappingGroupsIsImpossible() {
        // Attack 1: read the group, then one more home, and subtract two versions of one period.
        let group = members("a", 6)
        var values = Dictionary(uniqueKeysWithValues: group.prefix(5).map { ($0, Int64(300)) })
        let first = run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(values), now: slot.adding(milliseconds: 50 * 3_600_000))
        // 5 of 6 reported: the missing one alone would be revealed by the feeder-head total.
        #expect(first.published.isEmpty)
        #expect(first.suppressed.first?.reason.contains("did not report") == true)
        values["a5"] = 900
        let decided: Set<PlanAggregator.SlotKey> = Set(first.suppressed.map { PlanAggregator.SlotKey(group: $0.group, slot: $0.slot.milliseconds) })
        let second = run([NetworkGroup(key: "F1", parent: "S1", members: group)], readings(values), decided: decided)
        #expect(second.published.isEmpty, "a decided period is never decided again")
        #expect(second.discarded.count == 6)

        // Attack 2: a small feeder merged with its sibling, while the sibling is also
        // published: their difference would be the small feeder. The partition makes
        // every home belong to one published group only.
        let small = members("s", 2), big = members("b", 9)
        let aggregator = PlanAggregator(plan: plan)
        let partition = aggregator.partition([NetworkGroup(key: "F1", parent: "S1", members: big), NetworkGroup(key: "F2", parent: "S1", members: small)])
        #expect(partition.groups.count == 1)
        let seen = partition.groups.flatMap { Array($0.members) }
        #expect(seen.count == Set(seen).count, "no household in two published groups")

        // Attack 3: a complete group published, then the same period again with one home
        // more (a new tenant's pseudonym): the second version is discarded.
        let street = members("c", 10)
        let complete = Dictionary(uniqueKeysWithValues: street.map { ($0, Int64(300)) })
        let published = run([NetworkGroup(key: "F1", parent: "S1", members: street)], readings(complete))
        #expect(published.published.count == 1)
        let key = Set(published.published.map { PlanAggregator.SlotKey(group: $0.group, slot: $0.slot.milliseconds) })
        let again = run([NetworkGroup(key: "F1", parent: "S1", members: street + ["new"])], readings(complete.merging(["new": 500]) { $1 }), decided: key)
        #expect(again.published.isEmpty)
    }

    @Test func aRegroupingCannotPublishADecidedPeriodAgain() {
        // F1 (3 homes) merged with F2 (4) was published for the slot. Then F2's homes leave
        // the plan and F1 grows: F1's readings for that slot must not be published alone.
        let f1 = members("a", 3), f2 = members("b", 4)
        let first = run([NetworkGroup(key: "F1", parent: "S1", members: f1), NetworkGroup(key: "F2", parent: "S1", members: f2)],
                        readings(Dictionary(uniqueKeysWithValues: (f1 + f2).map { ($0, Int64(300)) }), group: "F1"))
        #expect(first.published.count == 1)
        let decided = Set(first.published.map { PlanAggregator.SlotKey(group: $0.group, slot: $0.slot.milliseconds) })
        let grown = f1 + members("c", 5)
        let second = run([NetworkGroup(key: "F1", parent: "S1", members: grown)],
                         readings(Dictionary(uniqueKeysWithValues: grown.map { ($0, Int64(300)) }), group: "F1"), decided: decided)
        #expect(second.published.isEmpty, "the period was decided for F1's homes already")
    }

    @Test func everyPublishedGroupMeetsThePlanInARandomFleet() {
        // 200 random feeders, random reporting and one heavy user now and then: whatever is
        // published has at least k households, none above the dominance limit, and no
        // missing remainder smaller than k.
        var generator = SystemRandomNumberGenerator()
        var groups: [NetworkGroup] = []
        var all: [PlanReading] = []
        var truth: [String: Int64] = [:]
        for feeder in 0..<200 {
            let size = Int.random(in: 1...30, using: &generator)
            let people = members("f\(feeder)-", size)
            groups.append(NetworkGroup(key: "F\(feeder)", parent: "S\(feeder / 4)", members: people))
            for person in people where Double.random(in: 0..<1, using: &generator) < 0.9 {
                let value = Double.random(in: 0..<1, using: &generator) < 0.05 ? Int64.random(in: 2000...4000) : Int64.random(in: 50...600)
                truth[person] = value
                all.append(PlanReading(pseudonym: person, group: "F\(feeder)", slot: slot, value: value))
            }
        }
        let aggregator = PlanAggregator(plan: plan)
        let partition = aggregator.partition(groups)
        let outcome = aggregator.run(readings: all, partition: partition, decidedSlots: [], slotMilliseconds: halfHour, now: slot.adding(milliseconds: 60 * 3_600_000))
        #expect(!outcome.published.isEmpty)
        let byKey = Dictionary(uniqueKeysWithValues: partition.groups.map { ($0.key, $0) })
        for aggregate in outcome.published {
            let group = byKey[aggregate.group]!
            let values = group.members.compactMap { truth[$0] }
            #expect(aggregate.households >= 5)
            #expect(aggregate.households == values.count && aggregate.total == values.reduce(0, +))
            #expect(values.count == group.members.count, "published only when every household reported")
            #expect(Double(values.max() ?? 0) <= 0.15 * Double(aggregate.total))
        }
    }
}
