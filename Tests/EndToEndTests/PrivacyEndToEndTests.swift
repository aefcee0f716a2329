import AsyncHTTPClient
import Devices
import DUIS
import Foundation
import Hub
import NIOCore
import Privacy
import SMKI
import Storage
import Testing
import TestSupport

/// The data access rules over DUIS, with a fleet behind the hub and the consent and plan
/// commands run as the real `gbsm` binary on the running hub's data folder.
@Suite(.serialized) struct PrivacyEndToEndTests {
    static let fleetSpec = FleetSpec(seed: 91, premises: 1500, createdDay: Timestamp.now().day.number - 30)

    struct Setup {
        let hub: RunningHub
        let client: DUISClient
        let fleet: Fleet
        let receiver: ResponseReceiver
        let binary: URL

        func stop() async {
            await hub.stop()
            await receiver.stop()
        }

        /// Signs and sends; returns the request ID and the synchronous answer.
        func send(_ xml: String) async throws -> (id: String, answer: DUISClient.Answer) {
            let signed = try client.sign(xml, counter: Counters.next())
            let answer = try await client.post(signed, to: .sendCommand)
            return (try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description, answer)
        }

        /// Sends and waits for the device's asynchronous answer.
        func read(_ xml: String) async throws -> DUISMessage {
            let (id, answer) = try await send(xml)
            #expect(answer.code == "I99", "\(answer.code ?? "?"): \(answer.reason ?? "")")
            let responses = await waitForResponses(receiver, requestIDs: [id])
            return try #require(responses[id], "an asynchronous answer to \(id)")
        }

        func gbsm(_ arguments: [String]) throws -> ToolResult {
            try Tool.run(binary.path, arguments + hub.dataArguments)
        }
    }

    static func start() async throws -> Setup {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url, fleet: fleetSpec)
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        return Setup(hub: hub, client: DUISClient(baseURL: hub.baseURL, keystore: hub.keystore), fleet: try #require(hub.homes.fleet),
                     receiver: receiver, binary: binary)
    }

    /// Premises installed long enough ago to have two days of history.
    static func homes(_ fleet: Fleet) -> [FleetPremises] {
        (0..<fleet.count).map { fleet.premises($0) }.filter { $0.traits.installedOn < fleetSpec.createdDay - 60 }
    }

    static func profileRead(_ originator: EUI64, _ meter: EUI64, days: Int64 = 2) -> String {
        let now = Timestamp.now()
        let today = now.day.start
        return requestXML(originator: originator, target: meter, commandVariant: "1", srv: "4.8.1", body: """
            <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(today.adding(days: -days).iso8601)</sr:StartDateTime>\
            <sr:EndDateTime>\(today.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
            """)
    }

    static func dailyRead(_ originator: EUI64, _ meter: EUI64) -> String {
        let now = Timestamp.now()
        return requestXML(originator: originator, target: meter, commandVariant: "1", srv: "4.17", body: """
            <sr:RetrieveDailyConsumptionLog><sr:ReadLogPeriod><sr:StartDateTime>\(now.adding(days: -8).iso8601)</sr:StartDateTime>\
            <sr:EndDateTime>\(now.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:RetrieveDailyConsumptionLog>
            """)
    }

    func decisions(_ store: any HubStore, _ requestID: String) async throws -> [String] {
        try await store.audit(AuditQuery(kind: .decision, requestID: requestID)).map(\.event.detail)
    }

    @Test func otherUserNeedsTheConsumersConsentGrantedAndWithdrawnWithTheCLI() async throws {
        let setup = try await Self.start()
        let home = try #require(Self.homes(setup.fleet).first)
        let meter = home.eui(.esme)
        let ou = Provisioning.otherUser
        let store = setup.hub.hub.store

        // No consent: refused, naming the rule.
        let (first, refused) = try await setup.send(Self.profileRead(ou, meter))
        #expect(refused.code == "E4")
        #expect(refused.reason?.contains("explicit, verified consent") == true, "\(refused.reason ?? "")")
        #expect(try await decisions(store, first).contains { $0.hasPrefix("[other-user-consent]") })

        // The other user asks for a CIN on the IHD (9.1); the consumer reads it out.
        let cinAnswer = try await setup.read(requestXML(originator: ou, target: meter, commandVariant: "1", srv: "9.1",
                                                        body: "<sr:RequestCustomerIdentificationNumber/>"))
        let cin = try #require(cinAnswer.customerIdentificationNumber)
        let wrong = try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services",
                                    "--granularity", "half-hourly", "--cin", cin == "0000" ? "0001" : "0000"])
        #expect(wrong.status != 0 && wrong.stderr.contains("does not match"), "a wrong CIN is refused: \(wrong.stderr)")
        let granted = try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services",
                                      "--granularity", "half-hourly", "--cin", cin, "--until", Timestamp.now().adding(days: 30).isoDate])
        #expect(granted.status == 0, "\(granted.stderr)")

        // With consent: the half hours arrive.
        let allowed = try await setup.read(Self.profileRead(ou, meter))
        #expect(allowed.code == "I0")
        #expect(allowed.values("PrimaryValue").count >= 96, "two days of half hours: \(allowed.values("PrimaryValue").count)")
        #expect(try await decisions(store, try #require(allowed.requestID)).contains { $0.contains("privacy [other-user-consent]") && $0.contains("ihd-code") })

        // Withdrawn: refused again.
        let withdrawn = try setup.gbsm(["consent", "withdraw", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services"])
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        let (_, again) = try await setup.send(Self.profileRead(ou, meter))
        #expect(again.code == "E4")
        // The CIN served once: granting again with it is refused.
        let reused = try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", ou.description, "--purpose", "energy-services",
                                     "--granularity", "half-hourly", "--cin", cin])
        #expect(reused.status != 0 && reused.stderr.contains("already been used"), "\(reused.stderr)")

        // The consumer's access log has all three, with their rules.
        let log = try await store.dataAccess(premises: Fleet.premisesIDBase + Int64(home.index), occupancy: nil)
        #expect(log.map(\.outcome) == [.refused, .released, .refused])
        #expect(log.allSatisfy { $0.rule == "other-user-consent" && $0.party == ou })
        let listed = try setup.gbsm(["consent", "list", "--device", meter.description])
        #expect(listed.stdout.contains("withdraw") && listed.stdout.contains("ihd-code"))
        await setup.stop()
    }

    @Test func supplierGetsDailyButHalfHourlyOnlyAfterOptIn() async throws {
        let setup = try await Self.start()
        let home = try #require(Self.homes(setup.fleet).dropFirst(3).first)
        let supplier = home.supplier.eui, meter = home.eui(.esme)

        let daily = try await setup.read(Self.dailyRead(supplier, meter))
        #expect(daily.code == "I0" && daily.values("Value").count >= 7, "daily reads without consent: \(daily.values("Value").count)")
        let (_, halfHourly) = try await setup.send(Self.profileRead(supplier, meter))
        #expect(halfHourly.code == "E4" && halfHourly.reason?.contains("opt-in") == true, "\(halfHourly.reason ?? "")")

        // The consumer opts in by phone: half hours arrive.
        #expect(try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", supplier.description, "--purpose", "billing",
                                "--granularity", "half-hourly", "--method", "phone"]).status == 0)
        #expect(try await setup.read(Self.profileRead(supplier, meter)).values("PrimaryValue").count >= 96)

        // Opting out of daily reads leaves monthly (register) reads only.
        #expect(try setup.gbsm(["consent", "withdraw", "--device", meter.description, "--party", supplier.description, "--purpose", "billing",
                                "--granularity", "daily"]).status == 0)
        let (_, optedOut) = try await setup.send(Self.dailyRead(supplier, meter))
        #expect(optedOut.code == "E4" && optedOut.reason?.contains("opted out of daily") == true, "\(optedOut.reason ?? "")")
        let registers = try await setup.read(requestXML(originator: supplier, target: meter, commandVariant: "1", srv: "4.1.1",
                                                        body: "<sr:ReadInstantaneousImportRegisters/>"))
        #expect(registers.code == "I0")
        await setup.stop()
    }

    @Test func networkOperatorGetsOnlyPlanConformantAggregates() async throws {
        let setup = try await Self.start()
        let fleet = setup.fleet
        let store = setup.hub.hub.store
        // A feeder whose homes all have two days of history, all with the same distributor.
        let byFeeder = Dictionary(grouping: (0..<fleet.count).map { fleet.premises($0) }, by: \.feeder)
        let feeder = try #require(byFeeder.values.filter { homes in
            homes.count >= 12 && homes.allSatisfy { $0.traits.installedOn < Self.fleetSpec.createdDay - 60 && $0.distributor.eui == homes[0].distributor.eui }
        }.min { $0[0].index < $1[0].index })
        let operatorEUI = feeder[0].distributor.eui

        // No plan: refused.
        let (_, refused) = try await setup.send(Self.profileRead(operatorEUI, feeder[0].eui(.esme)))
        #expect(refused.code == "E4" && refused.reason?.contains("data privacy plan") == true, "\(refused.reason ?? "")")

        // A plan that breaks the rules is not registered; a sound one is.
        let directory = try TemporaryDirectory("dpp")
        let bad = directory.file("bad.json")
        try Data(#"{"name": "Everything", "approvalReference": "OFG-X", "minimumHouseholds": 1, "purposes": ["marketing"]}"#.utf8).write(to: bad)
        let badResult = try setup.gbsm(["dpp", "register", "--user", operatorEUI.description, "--file", bad.path])
        #expect(badResult.status != 0 && badResult.stderr.contains("marketing"), "\(badResult.stderr)")
        let good = directory.file("plan.json")
        try Data(#"{"name": "LV feeder profiles", "approvalReference": "OFG-DPP-2026-017", "level": "feeder", "minimumHouseholds": 5, "dominanceLimit": 0.3, "publicationDelayHours": 48}"#.utf8).write(to: good)
        let registered = try setup.gbsm(["dpp", "register", "--user", operatorEUI.description, "--file", good.path])
        #expect(registered.status == 0, "\(registered.stderr)")
        let token = try #require(registered.stdout.firstMatch(of: /API token \(shown once\): ([0-9a-f]+)/).map { String($0.1) })

        // Every home on the feeder is read: each answer is a receipt, never a reading.
        var answers: [DUISMessage] = []
        for home in feeder { answers.append(try await setup.read(Self.profileRead(operatorEUI, home.eui(.esme), days: 1))) }
        for answer in answers {
            #expect(answer.code == "I0")
            #expect(answer.values("PrimaryValue").isEmpty, "no raw reading reaches the network operator")
            #expect(answer.rsp == nil && answer.text.contains("receipt; requested from") && answer.text.contains("no reading is returned raw"),
                    "the receipt (the response's comment) echoes the request")
        }
        // The pipeline publishes the complete feeder's half hours, then deletes the raw data.
        await setup.hub.hub.plans.runAll()
        let aggregates = try await store.planAggregates(plan: 1)
        let suppressed = try await store.planSuppressions(plan: 1)
        #expect(aggregates.count + suppressed.count >= 48, "each half hour decided: \(aggregates.count) published, \(suppressed.count) suppressed")
        #expect(!aggregates.isEmpty)
        print("privacy: feeder LV\(feeder[0].feeder) of \(feeder.count) homes read by its network operator: \(aggregates.count) half hours published, \(suppressed.count) suppressed (\(Set(suppressed.map(\.reason.first)).count) reason kinds)")
        #expect(aggregates.allSatisfy { $0.households == feeder.count }, "the whole feeder in each")
        #expect(try await store.planReadingCount(plan: 1) == 0, "raw readings deleted once aggregated")

        // Four homes of another feeder: too few reported, never published, even after the delay.
        let other = try #require(byFeeder.values.first { homes in homes.count >= 10 && homes[0].feeder != feeder[0].feeder
            && homes.allSatisfy { $0.distributor.eui == operatorEUI && $0.traits.installedOn < Self.fleetSpec.createdDay - 60 } })
        for home in other.prefix(4) { _ = try await setup.read(Self.profileRead(operatorEUI, home.eui(.esme), days: 1)) }
        let plan = try #require(try await store.plans(user: operatorEUI).first)
        let otherGroup = "LV\(other[0].feeder)"
        // The store counts their undecided readings per half hour; a run before the
        // publication delay decides none of them, and leaves them counted.
        let open = try await store.planOpenSlots(plan: 1)
        #expect(!open.isEmpty && open.allSatisfy { $0.key.group == otherGroup && $0.value == 4 }, "\(open.prefix(3))")
        try await setup.hub.hub.plans.run(plan: plan)
        #expect(try await store.planOpenSlots(plan: 1) == open)
        #expect(try await store.planReadingCount(plan: 1) == 4 * open.count)
        try await setup.hub.hub.plans.run(plan: plan, now: Timestamp.now().adding(milliseconds: 72 * 3_600_000))
        #expect(try await store.planOpenSlots(plan: 1).isEmpty, "every period decided once the delay passed")
        #expect(try await store.planReadingCount(plan: 1) == 0)
        #expect(try await store.planAggregates(plan: 1).allSatisfy { !$0.group.contains(otherGroup) })
        #expect(try await store.planSuppressions(plan: 1).contains { $0.group.contains(otherGroup) && $0.reason.contains("fewer than the plan's minimum") })

        // The JSON API: the plan's token, profiles without an MPAN or a pseudonym.
        var request = HTTPClientRequest(url: setup.hub.baseURL + "/api/v1/dpp/1/profiles")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 200)
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        let document = try JSONDecoder().decode(ProfileDocument.self, from: Data(body.utf8))
        #expect(document.profiles.count == aggregates.count)
        #expect(!feeder.contains { body.contains($0.importMPAN) })
        var anonymous = HTTPClientRequest(url: setup.hub.baseURL + "/api/v1/dpp/1/profiles")
        anonymous.headers.add(name: "Authorization", value: "Bearer 00")
        #expect(try await HTTPClient.shared.execute(anonymous, timeout: .seconds(10)).status.code == 403)
        let cli = try setup.gbsm(["dpp", "profiles", "--plan", "1", "--format", "csv"])
        #expect(cli.stdout.split(separator: "\n").count == aggregates.count + 1)
        await setup.stop()
    }

    @Test func aNewTenantNeverSeesThePreviousTenantsReadings() async throws {
        let setup = try await Self.start()
        let home = try #require(Self.homes(setup.fleet).dropFirst(7).first)
        let supplier = home.supplier.eui, meter = home.eui(.esme)
        let premises = Fleet.premisesIDBase + Int64(home.index)
        // The first tenant opted in; the supplier reads their half hours.
        #expect(try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", supplier.description, "--purpose", "billing",
                                "--granularity", "half-hourly"]).status == 0)
        #expect(try await setup.read(Self.profileRead(supplier, meter)).values("PrimaryValue").count >= 96)

        // Change of tenancy: the new occupant moved in at midnight yesterday.
        let today = Timestamp.now().day.start
        let moveIn = today.adding(days: -1)
        let restricted = try await setup.read(requestXML(originator: supplier, target: meter, commandVariant: "1", srv: "3.2", body: """
            <sr:RestrictAccessForChangeOfTenancy><sr:RestrictionDateTime>\(moveIn.iso8601)</sr:RestrictionDateTime></sr:RestrictAccessForChangeOfTenancy>
            """))
        #expect(restricted.code == "I0")
        let occupancy = try await setup.hub.hub.store.currentOccupancy(premises: premises)
        #expect(occupancy.sequence == 1 && occupancy.start == moveIn)

        // The old tenant's opt-in does not carry over.
        let (_, refused) = try await setup.send(Self.profileRead(supplier, meter))
        #expect(refused.code == "E4")
        // The new tenant opts in: only half hours after the move-in arrive, though three days were asked for.
        #expect(try setup.gbsm(["consent", "grant", "--device", meter.description, "--party", supplier.description, "--purpose", "billing",
                                "--granularity", "half-hourly"]).status == 0)
        let after = try await setup.read(Self.profileRead(supplier, meter, days: 3))
        let stamps = after.values("Timestamp").compactMap { Timestamp(xsDateTime: $0) }
        #expect(!stamps.isEmpty)
        #expect(stamps.allSatisfy { $0.milliseconds - 1_800_000 >= moveIn.milliseconds }, "nothing from before the move-in")
        #expect(stamps.count <= 49)
        // Daily consumption: no day that began before the move-in.
        let daily = try await setup.read(Self.dailyRead(supplier, meter))
        #expect(daily.values("Timestamp").compactMap { Timestamp(xsDateTime: $0) }.allSatisfy { $0.milliseconds - 86_400_000 >= moveIn.milliseconds })
        // A later 3.2 cannot reach back before this household moved in.
        let back = try await setup.read(requestXML(originator: supplier, target: meter, commandVariant: "1", srv: "3.2", body: """
            <sr:RestrictAccessForChangeOfTenancy><sr:RestrictionDateTime>\(moveIn.adding(days: -3).iso8601)</sr:RestrictionDateTime></sr:RestrictAccessForChangeOfTenancy>
            """))
        #expect(back.code == "E12", "\(back.code ?? "")")
        #expect(try await setup.hub.hub.store.currentOccupancy(premises: premises).sequence == 1)
        let audit = try await setup.hub.hub.store.audit(AuditQuery(kind: .privacy))
        #expect(audit.contains { $0.event.detail.contains("change of tenancy") && $0.event.detail.contains("occupancy 1") })
        await setup.stop()
    }

    @Test func dccModeAuditsWhatItWouldRefuse() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url, fleet: Self.fleetSpec, privacy: .dcc)
        let fleet = try #require(hub.homes.fleet)
        let setup = Setup(hub: hub, client: DUISClient(baseURL: hub.baseURL, keystore: hub.keystore), fleet: fleet, receiver: receiver,
                          binary: try #require(GBSMBinary.url))
        let home = try #require(Self.homes(fleet).first)
        let answer = try await setup.read(Self.profileRead(Provisioning.otherUser, home.eui(.esme)))
        #expect(answer.code == "I0" && answer.values("PrimaryValue").count >= 96, "DCC's behaviour: the rules do not refuse")
        let decisions = try await decisions(hub.hub.store, try #require(answer.requestID))
        #expect(decisions.contains { $0.contains("would refuse (audit only, --privacy dcc)") })
        let log = try await hub.hub.store.dataAccess(premises: Fleet.premisesIDBase + Int64(home.index), occupancy: nil)
        #expect(log.first?.outcome == .allowedAuditOnly)
        await setup.stop()
    }
}
