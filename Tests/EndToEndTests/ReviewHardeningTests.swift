import DUIS
import Foundation
import Hub
import Storage
import Testing
import TestSupport

/// What an independent review of the issue 8 fixes still broke in the hub core, each
/// reproduced with signed requests against a running hub.
@Suite(.serialized) struct ReviewHardeningTests {
    static let esme = Provisioning.defaultDevices[0].eui

    func nonDevice(_ srv: String, _ body: String, from originator: EUI64 = Provisioning.supplier) -> String {
        requestXML(originator: originator, target: Provisioning.dccEUI, commandVariant: "8", srv: srv, body: body)
    }

    func send(_ client: DUISClient, _ xml: String, to service: DUISService = .nonDevice) async throws -> (DUISClient.Answer, String) {
        let signed = try client.sign(xml, counter: Counters.next())
        let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
        return (try await client.post(signed, to: service), requestID)
    }

    /// Text beside child elements slipped past the types: a 40-character manufacturer was
    /// refused, the same with `<sr:x/>` inside it was stored.
    @Test func mixedContentAndLongAttributesAreRefused() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let device = EUI64(0x00DB_1234_5678_9C01)
        let manufacturer = String(repeating: "M", count: 40)
        let model = "<sr:DeviceModel>M2</sr:DeviceModel>"
        for (name, inner, modelElement) in [("too long", manufacturer, model), ("mixed content", manufacturer + "<sr:x/>", model),
                                            ("long attribute", "AB01", "<sr:DeviceModel a=\"\(String(repeating: "a", count: 100))\">M2</sr:DeviceModel>")] {
            let (answer, _) = try await send(client, nonDevice("12.2", """
                <sr:DevicePrenotification><sr:DeviceID>\(device)</sr:DeviceID><sr:DeviceManufacturer>\(inner)</sr:DeviceManufacturer>\
                \(modelElement)<sr:DeviceType>GSME</sr:DeviceType></sr:DevicePrenotification>
                """))
            #expect(answer.refusedAsInvalid, "\(name): \(answer.code ?? "?") \(answer.refusal)")
        }
        #expect(hub.hub.inventory.device(device) == nil)
        await hub.stop()
    }

    /// Anyone who saw a signed request can send it again: its replays are refused and
    /// audited within the budget, not on the user's name.
    @Test func replaysAreAuditedWithinTheBudget() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let signed = try client.sign(nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>"), counter: Counters.next())
        #expect(try await client.post(signed, to: .nonDevice).code == "I0")
        let before = try await hub.hub.store.audit(AuditQuery(limit: 1_000_000)).count
        let started = ContinuousClock.now
        for _ in 0..<1000 { #expect(try await client.post(signed, to: .nonDevice).code == "E1") }
        let seconds = Double((ContinuousClock.now - started).components.seconds) + 1
        let added = try await hub.hub.store.audit(AuditQuery(limit: 1_000_000)).count - before
        #expect(added <= 200 + Int(20 * seconds) + 2, "\(added) audit entries for 1,000 replays in \(seconds) s")
        #expect(try await hub.hub.store.audit(AuditQuery(actor: Provisioning.supplier, limit: 1_000_000)).filter { $0.event.detail.contains("replay") }.isEmpty)
        print("1,000 replays of one signed request: \(added) audit entries")
        await hub.stop()
    }

    /// Held requests wait on disk with their bodies: a user may hold 100 per device; the
    /// cancellation and the start-up read their IDs, not their bodies.
    @Test func heldRequestsAreBoundedPerUserAndDevice() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let later = Timestamp.now().adding(days: 300).iso8601
        let held = requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "4.1.1",
                              body: "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>\(later)</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>")
        for _ in 0..<100 { #expect(try await send(client, held, to: .sendCommand).0.code == "I99") }
        let (refused, _) = try await send(client, held, to: .sendCommand)
        #expect(refused.code == "E12")
        #expect(refused.reason?.contains("future-dated") == true, "\(refused.reason ?? "")")
        // Cancelling them all is one request.
        let cancel = requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "4.1.1",
                                body: "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>3000-12-31T00:00:00Z</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>")
        #expect(try await send(client, cancel, to: .sendCommand).0.code == "I99")
        #expect(try await hub.hub.store.heldRequestCount(originator: Provisioning.supplier, target: Self.esme) == 0)
        #expect(try await send(client, held, to: .sendCommand).0.code == "I99")
        await hub.stop()
    }

    /// 5.1 kept the whole body as the schedule's definition (13 MB each, held in memory and
    /// echoed by 5.2); now only what the schedule is, in canonical form.
    @Test func aScheduleKeepsOnlyWhatItIs() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        // Comments: the schema has no room for elements that are not DUIS's.
        let padding = (0..<100).map { "<!--Pad\($0) \(String(repeating: "p", count: 4000))-->" }.joined()
        let (answer, _) = try await send(client, nonDevice("5.1", """
            <sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency><sr:ScheduleStartDate>2026-01-01</sr:ScheduleStartDate>\
            <sr:DSPScheduledServiceReference>4.17</sr:DSPScheduledServiceReference><sr:DSPScheduledServiceReferenceVariant>4.17</sr:DSPScheduledServiceReferenceVariant>\
            <sr:DeviceID>\(Self.esme)</sr:DeviceID>\(padding)<sr:DSPRetrieveDailyConsumptionLog><sr:StartDateOffset>-1</sr:StartDateOffset>\
            <sr:StartTime>00:00:00.00Z</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset><sr:EndTime>00:00:00.00Z</sr:EndTime></sr:DSPRetrieveDailyConsumptionLog>\
            </sr:CreateSchedule>
            """))
        #expect(answer.code == "I0", "\(answer.reason ?? "")")
        let schedule = try #require(try await hub.hub.store.schedules().first)
        #expect(schedule.definition.count < 1024, "\(schedule.definition.count) octets kept")
        let definition = String(decoding: schedule.definition, as: UTF8.self)
        #expect(definition.contains("<sr:StartDateOffset>-1</sr:StartDateOffset>") && !definition.contains("Pad"))
        // A read that is not the scheduled SRV's is refused.
        let (wrong, _) = try await send(client, nonDevice("5.1", """
            <sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency><sr:ScheduleStartDate>2026-01-01</sr:ScheduleStartDate>\
            <sr:DSPScheduledServiceReference>4.17</sr:DSPScheduledServiceReference><sr:DSPScheduledServiceReferenceVariant>4.17</sr:DSPScheduledServiceReferenceVariant>\
            <sr:DeviceID>\(Self.esme)</sr:DeviceID><sr:DSPReadActiveImportProfileData><sr:StartDateOffset>-1</sr:StartDateOffset></sr:DSPReadActiveImportProfileData>\
            </sr:CreateSchedule>
            """))
        #expect(wrong.refusedAsInvalid, "\(wrong.refusal)")
        await hub.stop()
    }

    /// Only firmware travels in megabytes: any other request over 1 MiB is refused before
    /// anything reads it (an 8.2 padded to 13 MB was stored whole).
    @Test func onlyFirmwareRequestsMayBeLarge() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let padding = (0..<400).map { "<sr:Pad\($0)>\(String(repeating: "p", count: 4000))</sr:Pad\($0)>" }.joined()
        let (answer, _) = try await send(client, nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID>\(padding)</sr:ReadInventory>"))
        #expect(answer.status == 413)
        // An ordinary answered request keeps its bytes; nothing larger than 64 KiB is kept once answered.
        let (read, readID) = try await send(client, nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>"))
        #expect(read.code == "I0")
        #expect(try await hub.hub.store.request(id: readID)?.raw.isEmpty == false)
        await hub.stop()
    }

    /// A 3.2 dated 0000-01-01 handed the previous household's 13 months to the new one.
    @Test func aChangeOfTenancyCannotReachBack() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        func restrict(_ time: String) async throws -> String? {
            let (answer, requestID) = try await send(client, requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "3.2",
                                                                      body: "<sr:RestrictAccessForChangeOfTenancy><sr:RestrictionDateTime>\(time)</sr:RestrictionDateTime></sr:RestrictAccessForChangeOfTenancy>"),
                                                     to: .sendCommand)
            // Year 0000 is not an xs:dateTime: DCC's schema refuses it at intake.
            if answer.refusedAsInvalid { return "E12" }
            #expect(answer.code == "I99")
            return await waitForResponses(receiver, requestIDs: [requestID])[requestID]?.code
        }
        #expect(try await restrict("0000-01-01T00:00:00+14:00") == "E12")
        #expect(try await restrict(Timestamp.now().adding(days: -30).iso8601) == "E12")
        #expect(try await hub.hub.store.currentOccupancy(premises: 1).sequence == 0)
        #expect(try await restrict(Timestamp.now().adding(days: -1).iso8601) == "I0")
        let moved = try await hub.hub.store.currentOccupancy(premises: 1)
        #expect(moved.sequence == 1)
        // Not back before the household that just moved in either.
        #expect(try await restrict(moved.start.adding(days: -2).iso8601) == "E12")
        #expect(try await hub.hub.store.currentOccupancy(premises: 1).sequence == 1)
        await hub.stop()
        await receiver.stop()
    }
}
