import Devices
import DUIS
import Foundation
import Hub
import LoadModel
import Privacy
import SMKI
import Storage
import Testing
import TestSupport
import WAN

/// The device boundary with a fleet behind it: WAN outages, future-dated and
/// DCC-scheduled requests, and the alerts devices raise on their own.
@Suite(.serialized) struct DeviceBoundaryTests {
    static let fleetSpec = FleetSpec(seed: 77, premises: 600, createdDay: Timestamp.now().day.number - 30)

    /// A hub with the fleet, its users answering to `receiver`.
    static func start(_ receiver: ResponseReceiver, wan: WANSettings = .instant, clock: MockClock? = nil) async throws -> (RunningHub, DUISClient, Fleet) {
        let hub = try await RunningHub.start(responseURL: receiver.url, wan: wan, fleet: fleetSpec, clock: clock)
        let fleet = try #require(hub.homes.fleet)
        return (hub, DUISClient(baseURL: hub.baseURL, keystore: hub.keystore), fleet)
    }

    /// A premises of the fleet in a region, installed long enough ago to have a history.
    static func premises(_ fleet: Fleet, region: CSPRegion? = nil, where predicate: (FleetPremises) -> Bool = { _ in true }) -> FleetPremises? {
        (0..<fleet.count).lazy.map { fleet.premises($0) }.first { premises in
            (region == nil || premises.region == region) && premises.traits.installedOn < fleetSpec.createdDay - 60 && predicate(premises)
        }
    }

    func readRegisters(_ premises: FleetPremises, executeAt: Timestamp? = nil) -> String {
        let execution = executeAt.map { "<sr:ExecutionDateTime>\($0.iso8601)</sr:ExecutionDateTime>" } ?? ""
        return requestXML(originator: premises.supplier.eui, target: premises.eui(.esme), commandVariant: "1", srv: "4.1.1",
                          body: "<sr:ReadInstantaneousImportRegisters>\(execution)</sr:ReadInstantaneousImportRegisters>")
    }

    func send(_ xml: String, _ client: DUISClient, expect code: String = "I99") async throws -> String {
        let signed = try client.sign(xml, counter: Counters.next())
        let answer = try await client.post(signed, to: .sendCommand)
        #expect(answer.code == code, "\(answer.code ?? "no code"): \(answer.reason ?? "")")
        return try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
    }

    @Test func wanOutageEndsInE20OrALateSuccessNeverSilence() async throws {
        let receiver = try await ResponseReceiver.start()
        // Real WAN behaviour 20 times faster: retries after 0.5, 1.5 and 3 s.
        let (hub, client, fleet) = try await Self.start(receiver, wan: WANSettings(speedUp: 20, delays: true, losses: false))
        let north = try #require(Self.premises(fleet, region: .north))
        let south = try #require(Self.premises(fleet, region: .south))
        let store = hub.hub.store

        // A long outage in the North: requests there are retried, then answered E20.
        let now = Timestamp.now()
        try await store.apply([.putWANOutage(WANOutageRecord(id: 1, region: .north, start: now, end: now.adding(milliseconds: 600_000), reason: "test"))])
        // The homes read the operators' outages on their next pass: now, not after a poll.
        await hub.hub.tick()
        var long: [String] = []
        for _ in 0..<5 { long.append(try await send(readRegisters(north), client)) }
        // The South is unaffected.
        let unaffected = try await send(readRegisters(south), client)

        // A short outage in the South: a request sent during it succeeds once it is over.
        let shortStart = Timestamp.now()
        try await store.apply([.putWANOutage(WANOutageRecord(id: 2, region: .south, start: shortStart, end: shortStart.adding(milliseconds: 900), reason: "test"))])
        await hub.hub.tick()
        let late = try await send(readRegisters(south), client)

        let responses = await waitForResponses(receiver, requestIDs: Set(long + [unaffected, late]))
        #expect(responses.count == long.count + 2, "every request is answered")
        for requestID in long {
            #expect(responses[requestID]?.code == "E20", "\(requestID): \(responses[requestID]?.code ?? "silence")")
            #expect(responses[requestID]?.text.contains("WAN outage") == true)
            #expect(try await store.request(id: requestID)?.status == .failed)
        }
        #expect(responses[unaffected]?.code == "I0")
        let lateResponse = try #require(responses[late])
        #expect(lateResponse.code == "I0", "late success: \(lateResponse.code ?? "")")
        let answeredAt = try #require(lateResponse.tree.descendant("Header", "ResponseDateTime").flatMap { Timestamp(xsDateTime: $0.text) })
        #expect(answeredAt >= shortStart.adding(milliseconds: 900), "answered after the outage ended")
        #expect(Int(lateResponse.values("Value").first ?? "") ?? 0 > 0)
        // The audit says why.
        let decisions = try await store.audit(AuditQuery(requestID: long[0]))
        #expect(decisions.contains { $0.event.code == "E20" && $0.event.detail.contains("tried 4 times") })
        await hub.stop()
        await receiver.stop()
    }

    @Test func sunsetTakesAtRiskHubsOffTheAir() async throws {
        let receiver = try await ResponseReceiver.start()
        let (hub, client, fleet) = try await Self.start(receiver, wan: WANSettings(speedUp: 1000, delays: true, losses: false))
        let atRisk = try #require(Self.premises(fleet) { $0.traits.atRiskFromSunset })
        let safe = try #require(Self.premises(fleet) { !$0.traits.atRiskFromSunset && $0.region == atRisk.region })
        try await hub.hub.store.apply([.setMeta(key: "wan.sunset", value: Timestamp.now().adding(milliseconds: -1000).iso8601)])
        await hub.hub.tick()
        let dark = try await send(readRegisters(atRisk), client)
        let fine = try await send(readRegisters(safe), client)
        let responses = await waitForResponses(receiver, requestIDs: [dark, fine])
        #expect(responses[dark]?.code == "E20")
        #expect(responses[dark]?.text.contains("2G/3G") == true)
        #expect(responses[fine]?.code == "I0")
        await hub.stop()
        await receiver.stop()
    }

    /// On a clock the test moves: an hour, then a day, pass without waiting for them.
    @Test func futureDatedRequestsRunAtTheirTimeAndCanBeCancelled() async throws {
        let receiver = try await ResponseReceiver.start()
        let clock = MockClock()
        let (hub, client, fleet) = try await Self.start(receiver, clock: clock)
        let premises = try #require(Self.premises(fleet))
        let runAt = clock.now().adding(milliseconds: 3_600_000)
        let due = try await send(readRegisters(premises, executeAt: runAt), client)
        let heldAt = clock.now().adding(days: 1)
        let held = try await send(readRegisters(premises, executeAt: heldAt), client)
        #expect(try await hub.hub.store.request(id: held)?.status == .scheduled)
        #expect(try await hub.hub.store.request(id: due)?.status == .scheduled)
        // Not before its time.
        await hub.advance(clock, by: 3_599_000)
        #expect(await waitForResponses(receiver, requestIDs: [due], timeout: .milliseconds(300)).isEmpty, "not run before its time")
        await hub.advance(clock, by: 2000)
        let ran = try #require(await waitForResponses(receiver, requestIDs: [due])[due])
        #expect(ran.code == "I0")
        let answeredAt = try #require(ran.tree.descendant("Header", "ResponseDateTime").flatMap { Timestamp(xsDateTime: $0.text) })
        #expect(answeredAt >= runAt, "run at its execution time, not before")
        // Cancelling: the same request with ExecutionDateTime 3000-12-31 cancels every held
        // request of this user, SRV and device.
        let cancel = try await send(readRegisters(premises, executeAt: Timestamp(year: 3000, month: 12, day: 31)), client)
        let responses = await waitForResponses(receiver, requestIDs: [cancel])
        #expect(responses[cancel]?.code == "I0")
        #expect(responses[cancel]?.text.contains(held) == true, "the cancellation names what it cancelled")
        #expect(responses[cancel]?.text.contains(due) == false, "what already ran is not cancelled")
        #expect(try await hub.hub.store.request(id: held)?.status == .cancelled)
        // Past the time it would have run.
        await hub.advance(clock, by: 86_400_000)
        let late = await waitForResponses(receiver, requestIDs: [held], timeout: .milliseconds(300))
        #expect(late.isEmpty, "a cancelled request is never run")
        await hub.stop()
        await receiver.stop()
    }

    @Test func dccScheduleRunsOnItsSchedule() async throws {
        let receiver = try await ResponseReceiver.start()
        let (hub, client, fleet) = try await Self.start(receiver)
        let premises = try #require(Self.premises(fleet))
        let runAt = Timestamp.now().adding(milliseconds: 2500)
        let time = String(runAt.iso8601.dropFirst(11).prefix(8)) + ".00Z"
        let body = """
        <sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency><sr:ScheduleStartDate>\(runAt.isoDate)</sr:ScheduleStartDate>\
        <sr:ScheduleExecutionStartTime>\(time)</sr:ScheduleExecutionStartTime>\
        <sr:DSPScheduledServiceReference>4.8</sr:DSPScheduledServiceReference><sr:DSPScheduledServiceReferenceVariant>4.8.1</sr:DSPScheduledServiceReferenceVariant>\
        <sr:DeviceID>\(premises.eui(.esme))</sr:DeviceID><sr:DSPReadActiveImportProfileData><sr:StartDateOffset>-1</sr:StartDateOffset>\
        <sr:StartTime>00:00:00.00Z</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset><sr:EndTime>00:00:00.00Z</sr:EndTime></sr:DSPReadActiveImportProfileData>\
        </sr:CreateSchedule>
        """
        // Half-hourly data needs the consumer's opt-in (by phone to the supplier here).
        try await hub.hub.store.apply([.privacy(.addConsent(ConsentEntry(premises: Fleet.premisesIDBase + Int64(premises.index), occupancy: 0,
                                                                         party: premises.supplier.eui, purpose: .billing, action: .grant,
                                                                         granularity: .halfHourly, method: .phone, at: .now())))])
        let signed = try client.sign(requestXML(originator: premises.supplier.eui, target: Provisioning.dccEUI, commandVariant: "8", srv: "5.1", body: body),
                                     counter: Counters.next())
        let created = try await client.post(signed, to: .nonDevice)
        #expect(created.code == "I0", "\(created.reason ?? "")")
        let scheduleID = try #require(created.text.firstMatch(of: /<sr:DSPScheduleID>(\d+)<\/sr:DSPScheduleID>/).map { String($0.1) })
        let deadline = ContinuousClock.now + .seconds(20)
        var run: DUISMessage?
        while run == nil && ContinuousClock.now < deadline {
            run = receiver.messages.compactMap { try? DUISMessage($0.body) }.first { $0.scheduleID == scheduleID }
            try await Task.sleep(for: .milliseconds(100))
        }
        let message = try #require(run, "the schedule ran")
        #expect(message.code == "I0")
        #expect(message.srv == "4.8.1")
        // Capture times (the end of each half hour) from 00:00 yesterday to 00:00 today, both
        // ends included as in a meter's profile read: 49 entries.
        #expect(message.values("PrimaryValue").count == 49, "yesterday's half hours and the one ending at its start")
        let answeredAt = try #require(message.tree.descendant("Header", "ResponseDateTime").flatMap { Timestamp(xsDateTime: $0.text) })
        #expect(answeredAt >= Timestamp(milliseconds: runAt.milliseconds / 1000 * 1000))
        await hub.stop()
        await receiver.stop()
    }

    @Test func powerCutsAndTamperReachTheSupplierAndTheNetworkOperator() async throws {
        let receiver = try await ResponseReceiver.start()
        let (hub, _, fleet) = try await Self.start(receiver)
        let premises = try #require(Self.premises(fleet))
        let id = Fleet.premisesIDBase + Int64(premises.index)
        let start = Timestamp.now()
        try await hub.hub.store.apply([
            .putPowerCut(PowerCutRecord(id: 1, scope: .premises, value: id, start: start, end: start.adding(milliseconds: 1200), reason: "test")),
            .addTamperEvent(premises: id, at: start, reason: "test"),
        ])
        let deadline = ContinuousClock.now + .seconds(20)
        var messages: [(EUI64?, DUISMessage)] = []
        while ContinuousClock.now < deadline {
            messages = receiver.messages.compactMap { message in
                // A message ID is "sender:recipient:counter".
                (try? DUISMessage(message.body)).map { parsed in (parsed.responseID?.split(separator: ":").dropFirst().first.flatMap { EUI64($0) }, parsed) }
            }
            if messages.filter({ $0.1.deviceAlertCode == "8F35" }).count >= 2 && messages.contains(where: { $0.1.deviceAlertCode == "8F3F" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let lastGasp = messages.filter { $0.1.dccAlertCode == "N999" }
        #expect(lastGasp.map(\.0) == [premises.distributor.eui], "the hub's last gasp goes to the network operator")
        #expect(lastGasp.first?.1.text.contains(premises.importMPAN) == true)
        let restored = messages.filter { $0.1.deviceAlertCode == "8F35" }
        #expect(Set(restored.map(\.0)) == [premises.distributor.eui, premises.supplier.eui], "restoration to the network operator and the supplier")
        #expect(restored.first?.1.device?.descendant("Body", "DeviceAlertMessage", "DeviceAlertContent", "Payload", "SupplyOutageRestoreAlert") != nil)
        let tamper = messages.filter { $0.1.deviceAlertCode == "8F3F" }
        #expect(tamper.map(\.0) == [premises.supplier.eui])
        // The meter saw no electricity while the power was off.
        let model = try #require(hub.homes.premisesModel(id))
        let state = try await hub.homes.premisesState(id)
        #expect(state.outages.count == 1)
        #expect(hub.homes.engine.activePower(model, state, at: start.adding(milliseconds: 600)) == 0)
        await hub.stop()
        await receiver.stop()
    }
}
