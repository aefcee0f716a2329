import DUIS
import Privacy
import Testing
import TestSupport

/// The attacks of a network operator that combines what it receives across plans,
/// granularities and levels with its own substation and feeder monitors, against
/// `ReleaseAudit`; and a randomised check of the audit against an independent attacker
/// that solves the linear system by elimination.
@Suite struct ReleaseAuditTests {
    /// Households numbered from `start`.
    static func homes(_ start: Int64, _ count: Int) -> Set<Int64> { Set((0..<Int64(count)).map { start + $0 }) }

    /// One primary: SS22 with one home on one feeder, SS23 with 233 homes on six feeders,
    /// SS24 with 50 on one.
    static let ss22 = homes(0, 1)
    static let ss24 = homes(5000, 50)
    static let ss23Feeders = (0..<6).map { homes(100 + Int64($0) * 100, $0 == 0 ? 38 : 39) }
    static var units: [NetworkUnit] {
        let ss23 = ss23Feeders.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        var units = [NetworkUnit(key: "PS1", level: .primary, members: ss22.union(ss23).union(ss24)),
                     NetworkUnit(key: "SS24", level: .secondary, members: ss24), NetworkUnit(key: "LV240", level: .feeder, members: ss24),
                     NetworkUnit(key: "SS22", level: .secondary, members: ss22), NetworkUnit(key: "SS23", level: .secondary, members: ss23),
                     NetworkUnit(key: "LV220", level: .feeder, members: ss22)]
        for (index, feeder) in ss23Feeders.enumerated() { units.append(NetworkUnit(key: "LV23\(index)", level: .feeder, members: feeder)) }
        return units
    }

    @Test func crossGranularityDifferencingIsRefused() {
        // Finding 1: a daily plan at feeder level releases SS23's feeders; a half-hourly plan
        // at secondary level may not then release SS22 and SS23 merged (the difference is
        // SS22's one home).
        let audit = ReleaseAudit(minimumHouseholds: 5, units: Self.units)
        let ss23 = Self.units[4].members
        var released: [ReleasedSet] = []
        for (index, feeder) in Self.ss23Feeders.enumerated().dropLast() {
            let candidate = ReleasedSet(key: "LV23\(index)", members: feeder)
            #expect(audit.problem(released: released, candidate: candidate) == nil)
            released.append(candidate)
        }
        let merged = ReleasedSet(key: "SS22+SS23", members: Self.ss22.union(ss23))
        let refusal = audit.problem(released: released, candidate: merged)
        #expect(refusal?.contains("1 household(s)") == true, "\(refusal ?? "released")")
        // Nor the sixth feeder, nor SS23 whole: the primary's monitor less SS24's and SS23's
        // released total would be SS22 (complementary suppression).
        #expect(audit.problem(released: released, candidate: ReleasedSet(key: "LV235", members: Self.ss23Feeders[5]))?.contains("1 household(s)") == true)
        #expect(audit.problem(released: released, candidate: ReleasedSet(key: "SS23", members: ss23)) != nil)
        // The merge alone is refused as well (SS23's monitor isolates SS22).
        #expect(audit.problem(released: [], candidate: merged) != nil)
        // Without the one-home substation, the whole of SS23 goes with its feeders.
        let without = ReleaseAudit(minimumHouseholds: 5, units: Self.units.filter { !$0.members.isSubset(of: Self.ss22) }.map { unit in
            NetworkUnit(key: unit.key, level: unit.level, members: unit.members.subtracting(Self.ss22))
        })
        released.append(ReleasedSet(key: "LV235", members: Self.ss23Feeders[5]))
        #expect(without.problem(released: Array(released.dropLast()), candidate: released[5]) == nil)
        #expect(without.problem(released: released, candidate: ReleasedSet(key: "SS23", members: ss23)) == nil)
    }

    @Test func reporterChoiceCannotSplitAGroup() {
        // Finding 2: a group released with all but 5 homes, then all but 6: the difference
        // is one home. Any two releases of one group with different households are refused.
        let feeder = Self.homes(1000, 20)
        let audit = ReleaseAudit(minimumHouseholds: 5, units: [NetworkUnit(key: "PS", level: .primary, members: feeder),
                                                              NetworkUnit(key: "SS", level: .secondary, members: feeder),
                                                              NetworkUnit(key: "LV", level: .feeder, members: feeder)])
        let allButFive = ReleasedSet(key: "LV", members: Set(feeder.sorted().dropFirst(5)))
        // Five missing is already refused where the operator meters the feeder? No: five is k.
        #expect(audit.problem(released: [], candidate: allButFive) == nil)
        let allButSix = ReleasedSet(key: "LV", members: Set(feeder.sorted().dropFirst(6)))
        #expect(audit.problem(released: [allButFive], candidate: allButSix)?.contains("1 household(s)") == true)
        // A home missing from a group the operator meters is refused on its own.
        #expect(audit.problem(released: [], candidate: ReleasedSet(key: "LV", members: Set(feeder.sorted().dropFirst(1)))) != nil)
    }

    @Test func suppressionAtFeederLevelIsComplementedAgainstTheSubstationMonitor() {
        // Finding 3: F1 (2 homes) is too small; F2 and F3 (10 each) are published. The
        // secondary's monitor less F2 and F3 would be F1: the last of them is refused.
        let f1 = Self.homes(0, 2), f2 = Self.homes(10, 10), f3 = Self.homes(30, 10)
        let ss = f1.union(f2).union(f3)
        let audit = ReleaseAudit(minimumHouseholds: 5, units: [
            NetworkUnit(key: "PS", level: .primary, members: ss), NetworkUnit(key: "SS", level: .secondary, members: ss),
            NetworkUnit(key: "F1", level: .feeder, members: f1), NetworkUnit(key: "F2", level: .feeder, members: f2),
            NetworkUnit(key: "F3", level: .feeder, members: f3),
        ])
        let first = ReleasedSet(key: "F2", members: f2)
        #expect(audit.problem(released: [], candidate: first) == nil)
        let second = audit.problem(released: [first], candidate: ReleasedSet(key: "F3", members: f3))
        #expect(second?.contains("2 household(s)") == true, "\(second ?? "released")")
        // The secondary as a whole is its own monitor's figure: allowed.
        #expect(audit.problem(released: [], candidate: ReleasedSet(key: "SS", members: ss)) == nil)
        // ... but not beside F2: SS less F2 is F1 and F3 (12), fine; beside F2 and F3 it would be F1.
        #expect(audit.problem(released: [first], candidate: ReleasedSet(key: "SS", members: ss)) == nil)
    }

    @Test func householdsThatShareTheirOwnDataAreNotAShieldForTheirNeighbours() {
        // Two of a feeder's six homes gave the operator their half hours by consent: the
        // feeder's aggregate less theirs would be the other four.
        let feeder = Self.homes(0, 6)
        let audit = ReleaseAudit(minimumHouseholds: 5, units: [NetworkUnit(key: "LV", level: .feeder, members: feeder)], knownHouseholds: [0, 1])
        #expect(audit.problem(released: [], candidate: ReleasedSet(key: "LV", members: feeder))?.contains("4 household(s)") == true)
        let larger = Self.homes(0, 9)
        #expect(ReleaseAudit(minimumHouseholds: 5, units: [], knownHouseholds: [0, 1]).problem(released: [], candidate: ReleasedSet(key: "LV", members: larger)) == nil)
    }

    @Test func partlyOverlappingGroupsAreRefused() {
        let a = Self.homes(0, 10), b = Self.homes(5, 10)
        let audit = ReleaseAudit(minimumHouseholds: 5, units: [])
        #expect(audit.problem(released: [ReleasedSet(key: "A", members: a)], candidate: ReleasedSet(key: "B", members: b))?.contains("only in part") == true)
    }

    @Test func aHomeOutsideThePlanIsNotExposedByItsFeedersMonitor() {
        // Nine of ten homes are covered (one opted out of DCC's service): the feeder's monitor
        // less the nine would be the tenth.
        let feeder = Self.homes(0, 10)
        let audit = ReleaseAudit(minimumHouseholds: 5, units: [NetworkUnit(key: "LV", level: .feeder, members: feeder)])
        #expect(audit.problem(released: [], candidate: ReleasedSet(key: "LV", members: Set(feeder.sorted().dropFirst()))) != nil)
    }

    // MARK: - Against an independent attacker

    /// Random small networks and random candidate releases (whole feeders, feeders less a
    /// few homes, secondaries, unions of feeders, arbitrary sets); whatever the audit lets
    /// through, an attacker solving the linear system of the releases and any level of
    /// monitors never isolates fewer than k households it could not isolate from its
    /// monitors alone.
    @Test func noApprovedReleaseIsolatesASmallGroupForAnAttackerWhoSolvesTheSystem() {
        var random = SplitMix(seed: 0x5EED)
        let k = 3
        var approvedTotal = 0
        for round in 0..<60 {
            var units: [NetworkUnit] = []
            var next: Int64 = 0
            var primary = Set<Int64>()
            var feeders: [Set<Int64>] = [], secondaries: [Set<Int64>] = []
            for s in 0..<(2 + random.next(3)) {
                var secondary = Set<Int64>()
                for f in 0..<(1 + random.next(3)) {
                    let feeder = Self.homes(next, 1 + random.next(7))
                    next += Int64(feeder.count)
                    units.append(NetworkUnit(key: "LV\(s).\(f)", level: .feeder, members: feeder))
                    feeders.append(feeder)
                    secondary.formUnion(feeder)
                }
                units.append(NetworkUnit(key: "SS\(s)", level: .secondary, members: secondary))
                secondaries.append(secondary)
                primary.formUnion(secondary)
            }
            units.append(NetworkUnit(key: "PS", level: .primary, members: primary))
            // Now and then a household or two that shared their own readings by consent.
            let known = Set((0..<random.next(3)).map { _ in Int64(random.next(primary.count)) })
            let audit = ReleaseAudit(minimumHouseholds: k, units: units, knownHouseholds: known)
            var released: [ReleasedSet] = []
            for attempt in 0..<12 {
                var members: Set<Int64>
                switch random.next(5) {
                case 0: members = feeders[random.next(feeders.count)]
                case 1: members = Set(feeders[random.next(feeders.count)].sorted().dropFirst(random.next(2)))
                case 2: members = secondaries[random.next(secondaries.count)]
                case 3: members = feeders[random.next(feeders.count)].union(feeders[random.next(feeders.count)])
                default: members = Set(primary.filter { _ in random.next(2) == 0 })
                }
                let candidate = ReleasedSet(key: "R\(round).\(attempt)", members: members)
                if audit.problem(released: released, candidate: candidate) == nil { released.append(candidate) }
            }
            approvedTotal += released.count
            let universe = primary.sorted()
            // Monitors by level, and on substations chosen at random (a secondary's monitor
            // measures each of its feeders too).
            var meterings = [[NetworkLevel](), [.primary], [.primary, .secondary], NetworkLevel.allCases].map { levels in
                units.filter { levels.contains($0.level) }.map(\.members)
            }
            for _ in 0..<8 {
                var metered: [Set<Int64>] = random.next(2) == 0 ? [primary] : []
                for secondary in secondaries where random.next(2) == 0 {
                    metered.append(secondary)
                    metered += feeders.filter { $0.isSubset(of: secondary) }
                }
                meterings.append(metered)
            }
            for metered in meterings {
                let leaks = Attacker(universe: universe).smallGroupsIsolated(known: metered + known.map { [$0] }, released: released.map(\.members), below: k)
                #expect(leaks.isEmpty, "round \(round), metering \(metered.map { $0.sorted() }): isolated \(leaks) from \(released.map { $0.members.sorted() })")
            }
        }
        #expect(approvedTotal > 100, "the audit releases something: \(approvedTotal)")
    }

    @Test func theAttackerFindsWhatUncheckedReleasesLeak() {
        // The attacker itself has teeth: the three findings, released unchecked, are found.
        let f1 = Self.homes(0, 2), f2 = Self.homes(10, 10), f3 = Self.homes(30, 10)
        let ss = f1.union(f2).union(f3)
        let attacker = Attacker(universe: ss.sorted())
        #expect(attacker.smallGroupsIsolated(known: [ss], released: [f2, f3], below: 5) == [f1.sorted()])
        let allButOne = Set(f2.sorted().dropFirst()), allButTwo = Set(f2.sorted().dropFirst(2))
        #expect(attacker.smallGroupsIsolated(known: [], released: [allButOne, allButTwo], below: 5) == [[f2.sorted()[1]]])
        #expect(attacker.smallGroupsIsolated(known: [f2], released: [f1.union(f2)], below: 5) == [f1.sorted()])
    }
}

