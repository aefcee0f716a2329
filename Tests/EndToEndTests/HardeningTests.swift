import DUIS
import Foundation
import Hub
import Privacy
import Storage
import Testing
import TestSupport

/// What an independent attack test of the hub found (issue 8), each reproduced from
/// outside with signed requests against a running hub, and the class it belongs to.
@Suite(.serialized) struct HardeningTests {
    static let esme = Provisioning.defaultDevices[0].eui
    static let chf = Provisioning.defaultDevices[2].eui
    static let ihd = Provisioning.defaultDevices[4].eui
    static let hcalcs = Provisioning.defaultDevices[6].eui

    func nonDevice(_ srv: String, _ body: String, from originator: EUI64 = Provisioning.supplier) -> String {
        requestXML(originator: originator, target: Provisioning.dccEUI, commandVariant: "8", srv: srv, body: body)
    }

    func send(_ client: DUISClient, _ xml: String, to service: DUISService = .nonDevice, counter: UInt64? = nil) async throws -> (DUISClient.Answer, String) {
        let signed = try client.sign(xml, counter: counter ?? Counters.next())
        let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
        return (try await client.post(signed, to: service), requestID)
    }

    func schedule(executionTime: String = "07:00:00.00Z", startOffset: String = "-1") -> String {
        nonDevice("5.1", """
            <sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency><sr:ScheduleStartDate>2026-01-01</sr:ScheduleStartDate>\
            <sr:ScheduleExecutionStartTime>\(executionTime)</sr:ScheduleExecutionStartTime>\
            <sr:DSPScheduledServiceReference>4.17</sr:DSPScheduledServiceReference><sr:DSPScheduledServiceReferenceVariant>4.17</sr:DSPScheduledServiceReferenceVariant>\
            <sr:DeviceID>\(Self.esme)</sr:DeviceID><sr:DSPRetrieveDailyConsumptionLog><sr:StartDateOffset>\(startOffset)</sr:StartDateOffset>\
            <sr:StartTime>00:00:00.00Z</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset><sr:EndTime>00:00:00.00Z</sr:EndTime></sr:DSPRetrieveDailyConsumptionLog>\
            </sr:CreateSchedule>
            """)
    }

    // MARK: - Finding 1: one 5.1 could crash the hub for good

    @Test func createScheduleWithImpossibleValuesIsRefusedAndTheHubServes() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        for (name, xml) in [("twenty-digit seconds", schedule(executionTime: "00:00:99999999999999999999")),
                            ("an offset of a trillion days", schedule(startOffset: "-1000000000000")),
                            ("a positive offset", schedule(startOffset: "1000000000000")),
                            ("an offset beyond Int64", schedule(startOffset: "-99999999999999999999999"))] {
            let (answer, _) = try await send(client, xml)
            #expect(answer.refusedAsInvalid, "\(name): \(answer.code ?? "?") \(answer.refusal)")
            #expect(answer.refusal.contains("schema") || answer.refusal.contains("ScheduleExecutionStartTime")
                        || answer.refusal.contains("StartDateOffset"), "\(name): \(answer.refusal)")
        }
        #expect(hub.hub.inventory.deviceCount > 0)
        // The schema's extreme (−400 days) is accepted; the hub computes its runs.
        let (valid, _) = try await send(client, schedule(startOffset: "-400"))
        #expect(valid.code == "I0", "\(valid.reason ?? "")")
        #expect(try await hub.hub.store.schedules().count == 1)
        await hub.stop()
    }

    /// A schedule an older gbsm stored with the values that crashed it: the hub starts, sets
    /// the schedule aside, and serves.
    @Test func aPoisonScheduleAlreadyStoredIsParkedNotRun() async throws {
        let directory = try TemporaryDirectory("gbsm-poison")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: nil)
        let configuration = HubConfiguration(dataDirectory: directory.url)
        do {
            let store = try SQLiteStore(path: configuration.databasePath)
            let definition = "<sr:DSPRetrieveDailyConsumptionLog><sr:StartDateOffset>1000000000000</sr:StartDateOffset><sr:EndDateOffset>0</sr:EndDateOffset></sr:DSPRetrieveDailyConsumptionLog>"
            try await store.unsafeExecute("""
                INSERT INTO schedules (id, owner, device, srv, frequency, start_date, end_date, execution_time, definition, created_at, deleted_at)
                VALUES (1, \(Int64(bitPattern: Provisioning.supplier.rawValue)), \(Int64(bitPattern: Self.esme.rawValue)), '4.17', 'Daily', 0, NULL,
                        '00:00:99999999999999999999', X'\(definition.utf8.map { String(format: "%02X", $0) }.joined())', 0, NULL)
                """)
        }
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path])
        defer { if server.process.isRunning { server.kill() } }
        try await Task.sleep(for: .seconds(2))
        #expect(server.process.isRunning, "the hub is still up")
        let list = try runGBSM(["schedules", "list", "--data", directory.url.path])
        #expect(list.stdout.contains("parked"), "\(list.stdout)")
        #expect(server.terminate() == 0)
    }

    // MARK: - Finding 2: unauthenticated requests filled the disk through the audit log

    @Test func unauthenticatedRequestsCannotGrowTheAuditLog() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let files = { () -> Int in
            let path = HubConfiguration(dataDirectory: hub.dataDirectory).databasePath
            return ["", "-wal"].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: path + $1)[.size] as? Int) ?? 0) }
        }
        let before = files()
        // An unsigned request whose CommandVariant is 5 MiB, claiming to be the supplier.
        let huge = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: String(repeating: "9", count: 5 << 20),
                              srv: "8.2", body: "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>")
        let answer = try await client.post(Array(huge.utf8), to: .nonDevice)
        #expect(answer.code == "E1" || answer.status == 400 || answer.status == 413)
        // And an unknown SRV of 5 MiB.
        let unknown = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: String(repeating: "4", count: 5 << 20),
                                 body: "<sr:ReadInventory/>").replacingOccurrences(of: "<sr:ServiceReference>\(String(repeating: "4", count: 5 << 20))", with: "<sr:ServiceReference>8.2")
        #expect([400, 413].contains(try await client.post(Array(unknown.utf8), to: .nonDevice).status))
        let entries = try await hub.hub.store.audit(AuditQuery(limit: 100_000))
        #expect(entries.allSatisfy { $0.event.detail.utf8.count <= AuditEvent.maxDetail + 64 })
        #expect(!entries.contains { $0.event.actor == Provisioning.supplier }, "an unauthenticated request is not put on the user it claims to be")
        // A flood of unsigned requests: the log grows with time, not with the flood.
        let small = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                               body: "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>")
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<250 { _ = try? await client.post(Array(small.utf8), to: .nonDevice) }
                }
            }
        }
        let seconds = Double((ContinuousClock.now - started).components.seconds) + 1
        await hub.hub.gateway.flushRejectionSummary(force: true)
        let refused = try await hub.hub.store.audit(AuditQuery(kind: .decision, limit: 100_000)).filter { $0.event.code == "E1" }
        let summaries = try await hub.hub.store.audit(AuditQuery(kind: .requestRejected, limit: 100_000)).filter { $0.event.code == "summary" }
        #expect(refused.count <= 200 + Int(20 * seconds) + 1, "\(refused.count) of 2,000 itemised in \(seconds) s")
        #expect(!summaries.isEmpty && summaries.contains { $0.event.detail.contains("not itemised") })
        if let sqlite = hub.hub.store as? SQLiteStore { try await sqlite.checkpoint() }
        let growth = files() - before
        print("audit under 2,000 unauthenticated requests and two of 5 MiB: \(refused.count) itemised, \(summaries.count) summary entries, data folder +\(growth / 1024) KiB")
        #expect(growth < 1 << 20, "the data folder grew by \(growth) octets")
        #expect(try await hub.hub.store.verifyAudit().isIntact)
        await hub.stop()
    }

    // MARK: - Finding 4: a supplier could take over another home's MPAN with 8.6

    @Test func serviceOptInChecksEveryMPxNItStores() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let attackerMPAN = "1900000000012"
        let registration = RegistrationRecord(mpxn: attackerMPAN, role: .is, party: Provisioning.secondSupplier, from: Timestamp(year: 2020, month: 1, day: 1))
        try await hub.hub.store.apply([.putRegistration(registration)])
        hub.hub.inventory.apply([.putRegistration(registration)])
        let device = EUI64(0x00DB_1234_5678_9B01)
        for (field, victim) in [("SecondaryImportMPAN", Provisioning.defaultSecondaryMPAN), ("ExportMPAN", Provisioning.defaultExportMPAN),
                                ("SecondaryImportMPAN", Provisioning.defaultMPAN)] {
            let (answer, _) = try await send(client, nonDevice("8.6", """
                <sr:ServiceOptIn><sr:DeviceID>\(device)</sr:DeviceID><sr:DeviceType>ESME</sr:DeviceType><sr:MPxNs><sr:ImportMPxN>\(attackerMPAN)</sr:ImportMPxN>\
                <sr:\(field)>\(victim)</sr:\(field)></sr:MPxNs><sr:OptInDate>2026-01-01</sr:OptInDate></sr:ServiceOptIn>
                """, from: Provisioning.secondSupplier))
            #expect(answer.code == "E4", "\(field) \(victim): \(answer.code ?? "?")")
            #expect(answer.reason?.contains(victim) == true)
        }
        #expect(hub.hub.inventory.device(device) == nil)
        #expect(hub.hub.inventory.devices(mpxn: Provisioning.defaultSecondaryMPAN).allSatisfy { $0.premises == 1 })
        #expect(hub.hub.inventory.premises(mpxn: Provisioning.defaultMPAN)?.id == 1)
        // Its own MPAN alone is fine.
        let (own, _) = try await send(client, nonDevice("8.6", """
            <sr:ServiceOptIn><sr:DeviceID>\(device)</sr:DeviceID><sr:DeviceType>ESME</sr:DeviceType><sr:MPxNs><sr:ImportMPxN>\(attackerMPAN)</sr:ImportMPxN>\
            </sr:MPxNs><sr:OptInDate>2026-01-01</sr:OptInDate></sr:ServiceOptIn>
            """, from: Provisioning.secondSupplier))
        #expect(own.code == "I0", "\(own.reason ?? "")")
        await hub.stop()
    }

    // MARK: - Finding 5: held requests were not authorised again when they ran

    @Test func heldRequestsAreAuthorisedAgainWhenTheyRun() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let runAt = Timestamp.now().adding(milliseconds: 2500)
        let message = { (text: String) in
            requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "3.1",
                       body: "<sr:DisplayMessage><sr:ExecutionDateTime>\(runAt.iso8601)</sr:ExecutionDateTime><sr:SupplierMessage>\(text)</sr:SupplierMessage></sr:DisplayMessage>")
        }
        let (held, heldID) = try await send(client, message("Suspended before it ran"), to: .sendCommand)
        #expect(held.code == "I99", "\(held.reason ?? "")")
        // The supplier is suspended before the execution time.
        try await runGBSMAsync(["users", "set-status"] + hub.dataArguments + ["--eui", Provisioning.supplier.description, "--status", "suspended"])
        let answered = try #require(await waitForResponses(receiver, requestIDs: [heldID])[heldID])
        #expect(answered.code == "E3", "\(answered.text)")
        #expect(try await hub.hub.store.request(id: heldID)?.status == .failed)
        let state = try await hub.homes.premisesState(1)
        #expect(!state.displayMessages.contains { $0.text.contains("Suspended") }, "the display never showed it")
        await hub.stop()
        await receiver.stop()
    }

    @Test func aRegistrationEndingBeforeTheRunEndsTheHeldRequest() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let runAt = Timestamp.now().adding(milliseconds: 2500)
        let (held, heldID) = try await send(client, requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "4.1.1",
                                                              body: "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>\(runAt.iso8601)</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>"),
                                            to: .sendCommand)
        #expect(held.code == "I99", "\(held.reason ?? "")")
        // A change of supplier recorded after the request was accepted: the registrations end now.
        let ended = [Provisioning.defaultMPAN, Provisioning.defaultSecondaryMPAN].map {
            Mutation.putRegistration(RegistrationRecord(mpxn: $0, role: .is, party: Provisioning.supplier, from: Timestamp(year: 2020, month: 1, day: 1), to: Timestamp.now()))
        }
        try await hub.hub.store.apply(ended)
        hub.hub.inventory.apply(ended)
        let answered = try #require(await waitForResponses(receiver, requestIDs: [heldID])[heldID])
        #expect(answered.code == "E4", "\(answered.text)")
        await hub.stop()
        await receiver.stop()
    }

    // MARK: - Finding 6: an other user could change or read any home's HAN

    @Test func otherUsersChangeAHomesHANOnlyWithConsentOrForTheirOwnDevice() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let store = hub.hub.store
        let ou = Provisioning.otherUser
        // The default premises' consent for the other user is withdrawn: it has no relationship with this home.
        try await store.apply([.privacy(.addConsent(ConsentEntry(premises: 1, occupancy: 0, party: ou, purpose: .energyServices, action: .withdraw,
                                                                 granularity: .monthly, method: .portal, at: .now())))])
        func device(_ target: EUI64, _ srv: String, _ body: String) async throws -> (DUISClient.Answer, String) {
            try await send(client, requestXML(originator: ou, target: target, commandVariant: "1", srv: srv, body: body), to: .sendCommand)
        }
        let unjoin = "<sr:UnjoinServiceNonCritical><sr:OtherDeviceID>\(Self.esme)</sr:OtherDeviceID></sr:UnjoinServiceNonCritical>"
        let removeMeter = "<sr:UpdateHANDeviceLog><sr:DeviceID>\(Self.esme)</sr:DeviceID><sr:RequestType>Remove</sr:RequestType></sr:UpdateHANDeviceLog>"
        for (target, srv, body, rule) in [(Self.ihd, "8.8.2", unjoin, "other-user-han"), (Self.chf, "8.11", removeMeter, "other-user-han"),
                                          (Self.esme, "4.11.1", "<sr:ReadTariffPrimaryElement/>", "other-user-consent"),
                                          (Self.esme, "7.11", "<sr:ReadBoostButtonDetails><sr:ReadLogPeriod><sr:StartDateTime>\(Timestamp.now().adding(days: -7).iso8601)</sr:StartDateTime><sr:EndDateTime>\(Timestamp.now().iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadBoostButtonDetails>", "other-user-consent")] {
            let (answer, requestID) = try await device(target, srv, body)
            #expect(answer.code == "E4", "\(srv): \(answer.code ?? "?") \(answer.reason ?? "")")
            let decisions = try await store.audit(AuditQuery(kind: .decision, requestID: requestID))
            #expect(decisions.contains { $0.event.detail.hasPrefix("[\(rule)]") }, "\(srv): \(decisions.map(\.event.detail))")
        }
        // With the household's verified consent the other user joins the IHD to the meter
        // (the supplier first takes it off, so that the join adds it) …
        let (off, offID) = try await send(client, requestXML(originator: Provisioning.supplier, target: Self.ihd, commandVariant: "1", srv: "8.8.2", body: unjoin),
                                          to: .sendCommand)
        #expect(off.code == "I99", "\(off.reason ?? "")")
        #expect(await waitForResponses(receiver, requestIDs: [offID])[offID]?.code == "I0")
        try await store.apply([.privacy(.addConsent(ConsentEntry(premises: 1, occupancy: 0, party: ou, purpose: .energyServices, action: .grant,
                                                                 granularity: .halfHourly, method: .portal, at: .now())))])
        let join = "<sr:JoinServiceNonCritical><sr:OtherDeviceID>\(Self.esme)</sr:OtherDeviceID></sr:JoinServiceNonCritical>"
        let (joined, joinID) = try await device(Self.ihd, "8.7.2", join)
        #expect(joined.code == "I99", "\(joined.reason ?? "")")
        #expect(await waitForResponses(receiver, requestIDs: [joinID])[joinID]?.code == "I0")
        // A join of devices already joined claims nothing (the PPMID was joined at installation).
        let ppmid = Provisioning.defaultDevices[5].eui
        let (noop, noopID) = try await device(ppmid, "8.7.2", join)
        #expect(noop.code == "I99")
        let noopAnswer = await waitForResponses(receiver, requestIDs: [noopID])[noopID]
        #expect(noopAnswer?.code == "I0", "\(noopAnswer.map { String(decoding: $0.body.prefix(400), as: UTF8.self) } ?? "")")
        #expect(try await store.hanJoins(premises: 1)[ppmid] == nil)
        #expect(try await store.hanJoins(premises: 1)[Self.ihd]?.party == ou)
        // … and may unjoin what it joined after the consent is withdrawn, but nothing else.
        try await store.apply([.privacy(.addConsent(ConsentEntry(premises: 1, occupancy: 0, party: ou, purpose: .energyServices, action: .withdraw,
                                                                 granularity: .monthly, method: .portal, at: .now())))])
        let (own, ownID) = try await device(Self.ihd, "8.8.2", unjoin)
        #expect(own.code == "I99", "\(own.reason ?? "")")
        #expect(await waitForResponses(receiver, requestIDs: [ownID])[ownID]?.code == "I0")
        let (other, _) = try await device(Self.chf, "8.11", removeMeter)
        #expect(other.code == "E4")
        let (notClaimed, _) = try await device(ppmid, "8.8.2", unjoin)
        #expect(notClaimed.code == "E4", "a device it only pretended to join is not its own")
        // A supplier's device log change is alerted to the registered supplier.
        let (change, changeID) = try await send(client, requestXML(originator: Provisioning.supplier, target: Self.chf, commandVariant: "1", srv: "8.11",
                                                                   body: removeMeter.replacingOccurrences(of: "\(Self.esme)", with: "\(Self.hcalcs)")), to: .sendCommand)
        #expect(change.code == "I99", "\(change.reason ?? "")")
        _ = await waitForResponses(receiver, requestIDs: [changeID])
        let alerts = try await store.audit(AuditQuery(kind: .alert, limit: 1000)).filter { $0.event.code == "8F12" }
        #expect(alerts.contains { $0.event.actor == Provisioning.supplier }, "\(alerts.map(\.event.detail))")
        #expect(!alerts.contains { $0.event.actor == ou })
        await hub.stop()
        await receiver.stop()
    }

    // MARK: - Finding 8: firmware distribution was quadratic and kept images it refused

    @Test func firmwareForNoAcceptedDeviceIsNotStored() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        // The longest list DUIS allows (1,199,999 characters): 50,000 devices, none known.
        let list = (0..<50_000).map { EUI64(0x00DB_0000_0000_0000 | UInt64($0)).description }.joined(separator: ",")
        let image = encodeBase64((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let (answer, _) = try await send(client, nonDevice("11.1", """
            <sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>0002FFFF</sr:FirmwareVersion><sr:DeviceIDList>\(list)</sr:DeviceIDList></sr:UpdateFirmware>
            """))
        // The answer lists 50,000 devices: larger than the 1 MiB the test's default parse takes.
        let code = { (answer: DUISClient.Answer) in answer.text.firstMatch(of: /<sr:ResponseCode>(\w+)<\/sr:ResponseCode>/).map { String($0.1) } }
        #expect(code(answer) == "I0", "HTTP \(answer.status): \(answer.reason ?? "")")
        #expect(answer.text.contains("<sr:InvalidDeviceIDList>"))
        let folder = HubConfiguration(dataDirectory: hub.dataDirectory).firmwareDirectory
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).isEmpty, "no image kept for no device")
        #expect(try await hub.hub.store.firmware().isEmpty)
        // One item more than DUIS allows is refused by its type.
        let tooLong = list + "," + EUI64(0x00DB_0000_0001_0000).description
        let (refused, _) = try await send(client, nonDevice("11.1", """
            <sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>0002FFFF</sr:FirmwareVersion><sr:DeviceIDList>\(tooLong)</sr:DeviceIDList></sr:UpdateFirmware>
            """))
        #expect(refused.refusedAsInvalid, "\(refused.refusal)")
        await hub.stop()
    }

    // MARK: - Finding 9: a counter of 2^64−1 locked its user out for ever

    @Test func aRunawayCounterIsRefusedAndAnOperatorCanResetOne() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let read = nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>")
        let (maximum, _) = try await send(client, read, counter: UInt64.max)
        #expect(maximum.code == "E1")
        #expect(maximum.reason?.contains("milliseconds") == true, "\(maximum.reason ?? "")")
        // Not recorded: the user's next ordinary request is served.
        #expect(try await send(client, read).0.code == "I0")
        // A counter just under the ceiling is accepted, and then every ordinary counter is a replay …
        let high = ReplayGuard.ceiling(at: .now()) - 1_000_000
        #expect(try await send(client, read, counter: high).0.code == "I0")
        #expect(try await send(client, read).0.code == "E1")
        // … until an operator resets it; the running hub picks that up.
        try await runGBSMAsync(["users", "reset-counter"] + hub.dataArguments + ["--eui", Provisioning.supplier.description, "--counter", "0"])
        let deadline = ContinuousClock.now + .seconds(10)
        var code: String?
        while ContinuousClock.now < deadline {
            code = try await send(client, read).0.code
            if code == "I0" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(code == "I0")
        #expect(try await hub.hub.store.audit(AuditQuery(kind: .admin)).contains { $0.event.code == "counter-reset" })
        await hub.stop()
    }

    // MARK: - Finding 12: one encoding of a signature; DCC's keys kept apart

    @Test func signaturesHaveOneTextualFormAndResponsesAreLowS() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let read = nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(Self.esme)</sr:DeviceID></sr:ReadInventory>")
        let signed = String(decoding: try client.sign(read, counter: Counters.next()), as: UTF8.self)
        let padded = try #require(signed.firstMatch(of: /<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/))
        let tampered = signed.replacingOccurrences(of: String(padded.0), with: "<ds:SignatureValue>\(padded.1)==</ds:SignatureValue>")
        let answer = try await client.post(Array(tampered.utf8), to: .nonDevice)
        // DCC's schema refuses it as base64Binary at intake; without the schema, the
        // signature check does.
        #expect(answer.refusedAsInvalid && answer.refusal.contains("SignatureValue")
                    || answer.code == "E1" && answer.refusal.contains("canonical base64"), "\(answer.refusal)")
        // Every response the hub signs carries s in the lower half of the group order.
        for _ in 0..<40 {
            let response = try await client.post(try client.sign(read, counter: Counters.next()), to: .nonDevice)
            let value = try #require(response.text.firstMatch(of: /<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/))
            #expect(!ECDSALowS.isHigh(try #require(decodeBase64(String(value.1)))))
        }
        // DCC's own requests are signed with a key of their own, not the DSP key.
        let dsp = try #require(hub.keystore.dspSigner)
        let dccUser = try #require(hub.keystore.xmlSigningEntry(for: Provisioning.dccEUI))
        #expect(dccUser.certificate.serialNumber != dsp.certificate.serialNumber)
        let registered = try await hub.hub.store.userCertificates().filter { $0.eui == Provisioning.dccEUI }
        #expect(registered.map(\.serialNumber) == [dccUser.certificate.serialNumber])
        await hub.stop()
    }
}

/// Runs the gbsm command line and returns its output.
func runGBSM(_ arguments: [String]) throws -> ToolResult {
    let binary = try #require(GBSMBinary.url, "the gbsm executable is built beside the tests")
    return try Tool.run(binary.path, arguments)
}

func runGBSMAsync(_ arguments: [String]) async throws {
    let result = try runGBSM(arguments)
    #expect(result.status == 0, "gbsm \(arguments.joined(separator: " ")): \(result.stderr)")
}
