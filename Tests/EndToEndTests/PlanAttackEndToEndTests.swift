import AsyncHTTPClient
import Devices
import DUIS
import Foundation
import Hub
import Privacy
import Storage
import Testing
import TestSupport

/// The attacks of the independent privacy test, run black-box as a network operator would:
/// signed DUIS reads of the homes it chooses, plans registered with the `gbsm` binary, the
/// plan API for what it receives, and its own substation and feeder monitors (the household
/// model's truth summed over each unit). Scored against that truth: no attack isolates a
/// household or a group of fewer than k.
extension PrivacyEndToEndTests {
    /// The network as the operator knows it: every unit under one primary, by premises.
    struct Network {
        let fleet: Fleet
        let primary: Int
        var homes: [Int] { (0..<fleet.count).filter { fleet.premises($0).primary == primary } }

        func members(of group: String) -> Set<Int64> {
            var result = Set<Int64>()
            for part in group.split(separator: "+") {
                guard let number = Int(part.dropFirst(2)) else { continue }
                for index in homes {
                    let premises = fleet.premises(index)
                    if (part.hasPrefix("LV") && premises.feeder == number) || (part.hasPrefix("SS") && premises.secondary == number) {
                        result.insert(Fleet.premisesIDBase + Int64(index))
                    }
                }
            }
            return result
        }

        /// What the operator may meter: nothing, the primary, every secondary with its
        /// feeders, and a few random choices of substations.
        func meterings() -> [[Set<Int64>]] {
            let all = Set(homes.map { Fleet.premisesIDBase + Int64($0) })
            let secondaries = Dictionary(grouping: homes, by: { fleet.premises($0).secondary }).values.map { Set($0.map { Fleet.premisesIDBase + Int64($0) }) }
            let feeders = Dictionary(grouping: homes, by: { fleet.premises($0).feeder }).values.map { Set($0.map { Fleet.premisesIDBase + Int64($0) }) }
            var result: [[Set<Int64>]] = [[], [all], [all] + secondaries, [all] + secondaries + feeders]
            var random = SplitMix(seed: UInt64(primary) &+ 7)
            for _ in 0..<4 {
                var metered: [Set<Int64>] = random.next(2) == 0 ? [all] : []
                for secondary in secondaries where random.next(2) == 0 { metered += [secondary] + feeders.filter { $0.isSubset(of: secondary) } }
                result.append(metered)
            }
            return result
        }
    }

    static func registerPlan(_ setup: Setup, _ user: EUI64, _ json: String) throws -> String {
        let directory = try TemporaryDirectory("dpp-attack")
        let file = directory.file("plan.json")
        try Data(json.utf8).write(to: file)
        let result = try setup.gbsm(["dpp", "register", "--user", user.description, "--file", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(result.stdout.firstMatch(of: /API token \(shown once\): ([0-9a-f]+)/).map { String($0.1) })
    }

    static func profiles(_ setup: Setup, plan: Int64, token: String) async throws -> [ProfileDocument.Profile] {
        var request = HTTPClientRequest(url: setup.hub.baseURL + "/api/v1/dpp/\(plan)/profiles")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 200)
        return try JSONDecoder().decode(ProfileDocument.self, from: Data(buffer: try await response.body.collect(upTo: 64 << 20))).profiles
    }

    /// One home's import on a day: 48 half hours, from the household model (what a monitor
    /// would see of it).
    static func truth(_ setup: Setup, index: Int, day: Int32) async throws -> [Int64] {
        let id = Fleet.premisesIDBase + Int64(index)
        let readings = MeterEngine().readings(PremisesModel(fleet: setup.fleet, index: index), try await setup.hub.homes.premisesState(id), day: day)
        return (0..<48).map { Int64(readings.importWh[$0]) }
    }

    @Test func attackSuiteCrossGranularityMergesAndMonitorsIsolateNoHousehold() async throws {
        let setup = try await Self.start()
        let fleet = setup.fleet
        // The primary with the most secondary substations, every home installed long ago.
        let byPrimary = Dictionary(grouping: (0..<fleet.count).map { fleet.premises($0) }, by: \.primary)
        let (primary, homes) = try #require(byPrimary.filter { $0.value.allSatisfy { $0.traits.installedOn < Self.fleetSpec.createdDay - 2 } }
            .max { Set($0.value.map(\.secondary)).count < Set($1.value.map(\.secondary)).count })
        let network = Network(fleet: fleet, primary: primary)
        let operatorEUI = homes[0].distributor.eui
        // Finding 1's plans: half-hourly at secondary level, daily at feeder level.
        let hhToken = try Self.registerPlan(setup, operatorEUI, #"{"name": "SS half hours", "approvalReference": "OFG-A1", "level": "secondary", "dominanceLimit": 0.3, "publicationDelayHours": 48}"#)
        let dailyToken = try Self.registerPlan(setup, operatorEUI, #"{"name": "LV days", "approvalReference": "OFG-A2", "level": "feeder", "granularity": "daily", "dominanceLimit": 0.3, "publicationDelayHours": 48}"#)
        for home in homes {
            let profile = try await setup.read(Self.profileRead(operatorEUI, home.eui(.esme), days: 1))
            let daily = try await setup.read(Self.dailyRead(operatorEUI, home.eui(.esme)))
            for receipt in [profile, daily] {
                #expect(receipt.values("PrimaryValue").isEmpty && receipt.values("Value").isEmpty, "no raw reading reaches the operator")
                #expect(receipt.values("Readings").isEmpty && receipt.values("FirstPeriodStart").isEmpty, "the receipt echoes the request only")
            }
        }
        let later = Timestamp.now().adding(milliseconds: 72 * 3_600_000)
        for plan in try await setup.hub.hub.store.plans(user: operatorEUI).sorted(by: { $0.granularity == .daily && $1.granularity != .daily }) {
            try await setup.hub.hub.plans.run(plan: plan, now: later)
        }
        let halfHourly = try await Self.profiles(setup, plan: 1, token: hhToken)
        let daily = try await Self.profiles(setup, plan: 2, token: dailyToken)
        let day = Timestamp.now().day.number - 1
        let dayStart = Timestamp(dayNumber: day)
        let slotsOfDay = Set((0..<48).map { Timestamp(dayNumber: day, slot: $0).iso8601 })
        let hhOfDay = halfHourly.filter { slotsOfDay.contains($0.periodStart) }
        let dailyOfDay = daily.filter { $0.periodStart == dayStart.iso8601 }
        let reasons = Dictionary(grouping: try await setup.hub.hub.store.planSuppressions(plan: 1) + setup.hub.hub.store.planSuppressions(plan: 2), by: { String($0.reason.prefix(90)) }).mapValues(\.count)
        #expect(!hhOfDay.isEmpty && !dailyOfDay.isEmpty, "the operator receives data: \(hhOfDay.count) half hours, \(dailyOfDay.count) daily totals; \(halfHourly.count) + \(daily.count) in all; suppressed: \(reasons)")
        for profile in hhOfDay + dailyOfDay {
            #expect(network.members(of: profile.group).count == profile.households, "\(profile.group): the published count is the group's households")
        }

        // Every combination, as linear algebra: the day's totals (daily groups, and
        // half-hourly groups with all 48 periods), and each half hour's groups, with each
        // choice of monitors.
        let universe = network.homes.map { Fleet.premisesIDBase + Int64($0) }
        let attacker = Attacker(universe: universe)
        let fullDays = Dictionary(grouping: hhOfDay, by: \.group).filter { $0.value.count == 48 }.keys
        let daySets = dailyOfDay.map { network.members(of: $0.group) } + fullDays.map { network.members(of: $0) }
        var isolated: [[Int64]] = []
        for metering in network.meterings() {
            isolated += attacker.smallGroupsIsolated(known: metering, released: daySets, below: 5)
            for slot in slotsOfDay.sorted() {
                let sets = hhOfDay.filter { $0.periodStart == slot }.map { network.members(of: $0.group) }
                if !sets.isEmpty { isolated += attacker.smallGroupsIsolated(known: metering, released: sets, below: 5) }
            }
        }
        #expect(isolated.isEmpty, "groups below k isolated: \(isolated)")

        // Finding 1 by hand, scored against the truth: each secondary's 48 half hours less its
        // feeders' daily totals leaves nothing, or at least k households.
        var differences: [String] = []
        for group in fullDays {
            let members = network.members(of: group)
            let feeders = dailyOfDay.filter { network.members(of: $0.group).isSubset(of: members) }
            let rest = members.subtracting(feeders.reduce(into: Set<Int64>()) { $0.formUnion(network.members(of: $1.group)) })
            let difference = hhOfDay.filter { $0.group == group }.reduce(0) { $0 + $1.total } - feeders.reduce(0) { $0 + $1.total }
            var truth: Int64 = 0
            for id in rest { truth += try await Self.truth(setup, index: Int(id - Fleet.premisesIDBase), day: day).reduce(0, +) }
            #expect(rest.isEmpty || rest.count >= 5, "\(group) less its published feeders is \(rest.count) household(s)")
            #expect(difference == truth, "\(group): the difference is the rest's consumption")
            differences.append("\(group) − \(feeders.count) feeder(s) = \(rest.count) households")
        }
        // Merged groups against the monitors of their parts: never a part of fewer than k.
        for profile in hhOfDay + dailyOfDay where profile.group.contains("+") {
            for part in profile.group.split(separator: "+") {
                let rest = network.members(of: profile.group).subtracting(network.members(of: String(part)))
                #expect(rest.count >= 5, "\(profile.group) less \(part) is \(rest.count) household(s)")
            }
        }
        // Consent given after a release: the household's own half hours reach the operator
        // only from the day after its last released day, never for a day its group was
        // published (the aggregate less its own readings would give its neighbours).
        let member = try #require(hhOfDay.first.map { network.members(of: $0.group) }?.min())
        let home = fleet.premises(Int(member - Fleet.premisesIDBase))
        try await setup.hub.hub.store.apply(Mutation.recordConsent(
            ConsentEntry(premises: member, occupancy: 0, party: operatorEUI, purpose: .networkPlanning, action: .grant, granularity: .halfHourly,
                         method: .portal, at: Timestamp.now()), via: "test"))
        let own = try await setup.read(requestXML(originator: operatorEUI, target: home.eui(.esme), commandVariant: "1", srv: "4.8.1", body: """
            <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(Timestamp(dayNumber: day - 1).iso8601)</sr:StartDateTime>\
            <sr:EndDateTime>\(Timestamp.now().iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
            """))
        let stamps = own.values("Timestamp").compactMap { Timestamp(xsDateTime: $0) }
        // In the first half hour after midnight no half hour of the day after has ended yet.
        let firstHalfHourEnded = Timestamp.now() >= Timestamp(dayNumber: day + 1).adding(milliseconds: CalendarDay.millisecondsPerHalfHour)
        #expect(own.code == "I0" && (!stamps.isEmpty || !firstHalfHourEnded), "its own half hours after the released day arrive")
        #expect(stamps.allSatisfy { $0.adding(milliseconds: -CalendarDay.millisecondsPerHalfHour) >= Timestamp(dayNumber: day + 1) },
                "none of the released day: \(stamps.map(\.iso8601).prefix(3))")

        let suppressed = try await setup.hub.hub.store.planSuppressions(plan: 1) + setup.hub.hub.store.planSuppressions(plan: 2)
        let releaseRefusals = suppressed.filter { $0.reason.contains("one release per user") }
        print("privacy attack suite (fleet \(Self.fleetSpec.premises) homes, seed \(Self.fleetSpec.seed)): PS\(primary), \(homes.count) homes, \(Set(homes.map(\.secondary)).count) secondaries, \(Set(homes.map(\.feeder)).count) feeders; operator received \(hhOfDay.count) half-hourly and \(dailyOfDay.count) daily aggregates for \(dayStart.isoDate); \(releaseRefusals.count) period(s) withheld by one release per user; \(network.meterings().count) monitor choices; groups below k isolated: \(isolated.count); by hand: \(differences.joined(separator: "; "))")
        await setup.stop()
    }

    @Test func attackSuiteReporterChoiceCannotSplitAGroup() async throws {
        let setup = try await Self.start()
        let fleet = setup.fleet
        let byFeeder = Dictionary(grouping: Self.homes(fleet), by: \.feeder)
        let feeder = try #require(byFeeder.values.filter { homes in homes.count >= 11 && homes.count == (0..<fleet.count).filter { fleet.premises($0).feeder == homes[0].feeder }.count }
            .min { $0[0].index < $1[0].index })
        let operatorEUI = feeder[0].distributor.eui
        _ = try Self.registerPlan(setup, operatorEUI, #"{"name": "LV half hours", "approvalReference": "OFG-B1", "level": "feeder", "dominanceLimit": 0.5, "publicationDelayHours": 48}"#)
        _ = try Self.registerPlan(setup, operatorEUI, #"{"name": "LV days", "approvalReference": "OFG-B2", "level": "feeder", "granularity": "daily", "dominanceLimit": 0.5, "publicationDelayHours": 48}"#)
        // Daily: all but five homes. Half-hourly: all but the same five and a target.
        let target = feeder[5]
        for home in feeder.dropFirst(5) { _ = try await setup.read(Self.dailyRead(operatorEUI, home.eui(.esme))) }
        for home in feeder.dropFirst(5) where home.index != target.index { _ = try await setup.read(Self.profileRead(operatorEUI, home.eui(.esme), days: 1)) }
        let later = Timestamp.now().adding(milliseconds: 72 * 3_600_000)
        for plan in try await setup.hub.hub.store.plans(user: operatorEUI) { try await setup.hub.hub.plans.run(plan: plan, now: later) }
        let group = "LV\(feeder[0].feeder)"
        let published = try await setup.hub.hub.store.planAggregates(plan: 1) + setup.hub.hub.store.planAggregates(plan: 2)
        #expect(!published.contains { $0.group.split(separator: "+").contains(Substring(group)) }, "the chosen readers' group is never published")
        let suppressed = try await setup.hub.hub.store.planSuppressions(plan: 1) + setup.hub.hub.store.planSuppressions(plan: 2)
        #expect(suppressed.contains { $0.group == group && $0.reason.contains("did not report") }, "\(Set(suppressed.map { String($0.reason.prefix(100)) }))")
        // The missing homes read afterwards change nothing: the periods were decided.
        for home in feeder.prefix(5) + [target] { _ = try await setup.read(Self.profileRead(operatorEUI, home.eui(.esme), days: 1)) }
        for plan in try await setup.hub.hub.store.plans(user: operatorEUI) { try await setup.hub.hub.plans.run(plan: plan, now: later) }
        #expect(try await setup.hub.hub.store.planAggregates(plan: 1).allSatisfy { !$0.group.split(separator: "+").contains(Substring(group)) })
        print("privacy attack suite: reporter choice on \(group) (\(feeder.count) homes): daily read for \(feeder.count - 5), half-hourly for \(feeder.count - 6); published for the group: 0; suppressed periods: \(suppressed.filter { $0.group == group }.count)")
        await setup.stop()
    }

    @Test func attackSuiteReceiptsAndRegisterPolling() async throws {
        let setup = try await Self.start()
        let fleet = setup.fleet
        // Two homes of one operator, one installed weeks ago, one days before the fleet was made:
        // for the same requested range their receipts are alike.
        let all = (0..<fleet.count).map { fleet.premises($0) }
        let recent = try #require(all.max { $0.traits.installedOn < $1.traits.installedOn })
        let old = try #require(all.first { $0.distributor.eui == recent.distributor.eui && $0.traits.installedOn < recent.traits.installedOn - 30 })
        let operatorEUI = recent.distributor.eui
        _ = try Self.registerPlan(setup, operatorEUI, #"{"name": "LV", "approvalReference": "OFG-C1"}"#)
        let now = Timestamp.now()
        func read(_ home: FleetPremises) -> String {
            requestXML(originator: operatorEUI, target: home.eui(.esme), commandVariant: "1", srv: "4.8.1", body: """
                <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(Timestamp(dayNumber: recent.traits.installedOn - 5).iso8601)</sr:StartDateTime>\
                <sr:EndDateTime>\(now.day.start.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
                """)
        }
        let receipts = [try await setup.read(read(recent)), try await setup.read(read(old))]
        // The receipt is the Service Response's comment; the answer carries no device payload.
        let shown = receipts.map { answer in
            answer.text.firstMatch(of: /<!--([^>]*)-->/).map { String($0.1) } ?? ""
        }
        #expect(receipts.allSatisfy { $0.rsp == nil && !$0.text.contains("GBCSPayload") })
        #expect(shown[0] == shown[1], "receipts reveal nothing of what was dropped: \(shown)")
        #expect(shown[0].contains("requested from \(Timestamp(dayNumber: recent.traits.installedOn - 5).iso8601)"), "\(shown[0])")

        // Register polling: the operator's second register read within 23 hours is refused
        // with the rule named; the supplier's billing reads are not.
        let registers = { (user: EUI64) in requestXML(originator: user, target: old.eui(.esme), commandVariant: "1", srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>") }
        #expect(try await setup.read(registers(operatorEUI)).code == "I0")
        let (_, polled) = try await setup.send(registers(operatorEUI))
        #expect(polled.code == "E4" && polled.reason?.contains("as often as half-hourly data") == true, "\(polled.code ?? "") \(polled.reason ?? "")")
        let log = try await setup.hub.hub.store.dataAccess(premises: Fleet.premisesIDBase + Int64(old.index), occupancy: nil)
        #expect(log.contains { $0.party == operatorEUI && $0.outcome == .refused && $0.rule == "register-read-frequency" }, "the household's access log names the rule")
        for _ in 0..<2 { #expect(try await setup.read(registers(old.supplier.eui)).code == "I0") }
        print("privacy attack suite: receipts for homes installed on day \(recent.traits.installedOn) and \(old.traits.installedOn) alike; second register read by the operator: \(polled.code ?? "?")")
        await setup.stop()
    }
}
