import Crypto
import Devices
import DUIS
import Foundation
import GBCS
import Hub
import Privacy
import SMKI
import Storage
import Testing
import TestSupport

/// Critical commands end to end, as DCC Boxed's tools send them: the request with command
/// variant 4 to the Transform service, the pre-command signed with the user's GBCS key,
/// sent back with command variant 5 under the same RequestID, and the device acting on
/// it. Every way of sending a pre-command that is not the one issued, signed by its user,
/// once, is refused and changes nothing.
@Suite(.serialized) struct CriticalCommandTests {
    static let fleetSpec = FleetSpec(seed: 12, premises: 40, createdDay: Timestamp.now().day.number - 30)

    struct Session {
        let hub: RunningHub
        let client: DUISClient
        let receiver: ResponseReceiver
        let keys: ZAZ1KeyStore
        let premises: FleetPremises
        let otherSupplier: EUI64

        var supplier: EUI64 { premises.supplier.eui }
        var esme: EUI64 { premises.eui(.esme) }

        /// Sends the request with command variant 4; returns the pre-command and its counter.
        func transform(srv: String, body: String, expect code: String = "I0", as originator: EUI64? = nil) async throws -> (GBCSFrame, UInt64)? {
            let counter = Counters.next()
            let xml = requestXML(originator: originator ?? supplier, target: esme, commandVariant: "4", srv: srv, body: body)
            let answer = try await client.post(try client.sign(xml, counter: counter), to: .transform)
            #expect(answer.code == code, "\(srv) transform: \(answer.code ?? "no code") \(answer.refusal)")
            guard answer.code == "I0" else { return nil }
            let tree = try CriticalCommandTests.tree(answer.body)
            let preCommand = try #require(tree.descendant("Body", "ResponseMessage", "PreCommand"))
            #expect(preCommand.value("GBCSVersion")?.isEmpty == false)
            let octets = try #require(preCommand.value("GBCSPayload").flatMap { Data(base64Encoded: $0) })
            return (try GBCSFrame.decode([UInt8](octets)), counter)
        }

        /// Sends a signed pre-command (base64 of `octets`) with the transform's counter.
        func send(srv: String, _ octets: [UInt8], counter: UInt64, variant: String = "5", service: DUISService = .sendCommand,
                  as originator: EUI64? = nil) async throws -> DUISClient.Answer {
            let body = "<sr:SignedPreCommand><sr:GBCSPayload>\(Data(octets).base64EncodedString())</sr:GBCSPayload></sr:SignedPreCommand>"
            let xml = requestXML(originator: originator ?? supplier, target: esme, commandVariant: variant, srv: srv, body: body)
            return try await client.post(try client.sign(xml, counter: counter), to: service)
        }

        func signed(_ frame: GBCSFrame, by party: EUI64) throws -> [UInt8] {
            try frame.signed(with: try #require(keys.signingKey(of: party), "the GBCS DS key of \(party)")).encode()
        }

        /// Transform, sign, send (5), and the device's answer.
        func run(srv: String, body: String, as originator: EUI64? = nil) async throws -> DUISMessage {
            let user = originator ?? supplier
            let (preCommand, counter) = try #require(try await transform(srv: srv, body: body, as: user))
            let answer = try await send(srv: srv, try signed(preCommand, by: user), counter: counter, as: user)
            #expect(answer.code == "I99", "\(srv) send: \(answer.code ?? "") \(answer.refusal)")
            let requestID = "\(user):\(esme):\(counter)"
            let responses = await waitForResponses(receiver, requestIDs: [requestID])
            return try #require(responses[requestID], "the device's answer to \(srv)")
        }

        /// 6.15.1's body that makes the other supplier the meter's trusted supplier.
        func credentialsOfTheOtherSupplier() throws -> String {
            let keystore = hub.keystore
            func certificate(_ usage: Keystore.Usage) throws -> String {
                let entry = try #require(keystore.entries.first { $0.eui == otherSupplier && $0.role == RemotePartyRole.supplier && $0.usage == usage })
                return Data(entry.certificate.der).base64EncodedString()
            }
            let pki = try TestPKI.load(from: hub.dataDirectory.appendingPathComponent("smki"))
            return """
            <sr:UpdateSecurityCredentialsKRP><sr:RemotePartyRole>Supplier</sr:RemotePartyRole>
            <sr:RemotePartyFloorSeqNumber>0</sr:RemotePartyFloorSeqNumber><sr:RemotePartyPrepaymentTopUpFloorSeqNumber>0</sr:RemotePartyPrepaymentTopUpFloorSeqNumber>
            <sr:ReplacementCertificates><sr:SupplierOrNetworkOperatorCertificates>
            <sr:DigitalSigningCertificate>\(try certificate(.digitalSignature))</sr:DigitalSigningCertificate>
            <sr:KeyAgreementCertificate>\(try certificate(.keyAgreement))</sr:KeyAgreementCertificate>
            <sr:KeyAgreementTopUpCertificate>\(try certificate(.keyAgreement))</sr:KeyAgreementTopUpCertificate>
            </sr:SupplierOrNetworkOperatorCertificates></sr:ReplacementCertificates>
            <sr:CertificationPathCertificates><sr:Certificate>\(Data(pki.issuingCA.der).base64EncodedString())</sr:Certificate></sr:CertificationPathCertificates>
            <sr:ApplyTimeBasedCPVChecks>false</sr:ApplyTimeBasedCPVChecks></sr:UpdateSecurityCredentialsKRP>
            """
        }

        /// The meter's active import power now (4.16), in W.
        func activePower() async throws -> Int? {
            let counter = Counters.next()
            let xml = requestXML(originator: supplier, target: esme, commandVariant: "1", srv: "4.16", body: "<sr:ReadActivePowerImport/>")
            let answer = try await client.post(try client.sign(xml, counter: counter), to: .sendCommand)
            #expect(answer.code == "I99", "\(answer.refusal)")
            let requestID = "\(supplier):\(esme):\(counter)"
            return await waitForResponses(receiver, requestIDs: [requestID])[requestID]?.values("PrimaryActivePowerImportValue").first.flatMap { Int($0) }
        }

        func supplyState() async throws -> String? {
            let counter = Counters.next()
            let xml = requestXML(originator: supplier, target: esme, commandVariant: "1", srv: "7.4", body: "<sr:ReadSupplyStatus/>")
            let answer = try await client.post(try client.sign(xml, counter: counter), to: .sendCommand)
            #expect(answer.code == "I99")
            let requestID = "\(supplier):\(esme):\(counter)"
            return await waitForResponses(receiver, requestIDs: [requestID])[requestID]?.values("SupplyState").first
        }
    }

    /// A response as a tree (copied while its document is alive).
    static func tree(_ body: [UInt8]) throws -> ElementTree {
        let document = try XMLDocument.parse(body)
        return ElementTree(try #require(document.root))
    }

    static func start(clock: (any HubClock)? = nil, answers: AnswerFormat = .mmc) async throws -> Session {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url, fleet: fleetSpec, answers: answers, clock: clock)
        let fleet = try #require(hub.homes.fleet)
        let premises = try #require((0..<fleet.count).lazy.map { fleet.premises($0) }.first { $0.traits.installedOn < fleetSpec.createdDay - 1 })
        let other = try #require(fleet.parties.first { $0.kind == .supplier && $0.eui != premises.supplier.eui }?.eui, "a second supplier")
        let keys = try ZAZ1KeyStore(contentsOf: hub.dataDirectory.appendingPathComponent("smki/keystore.json"))
        return Session(hub: hub, client: DUISClient(baseURL: hub.baseURL, keystore: hub.keystore), receiver: receiver, keys: keys,
                       premises: premises, otherSupplier: other)
    }

    @Test func supplyDisableArmEnableThroughTransformSignSend() async throws {
        let session = try await Self.start()
        #expect(try await session.supplyState() == "Enabled")
        // Live power is half-hourly data: the household opts in (by phone to its supplier).
        try await session.hub.hub.store.apply([.privacy(.addConsent(ConsentEntry(
            premises: Fleet.premisesIDBase + Int64(session.premises.index), occupancy: 0, party: session.supplier, purpose: .billing, action: .grant,
            granularity: .halfHourly, method: .phone, at: .now())))])
        let before = try #require(try await session.activePower())
        #expect(before > 0, "the home draws power")

        // The pre-command: the user as originator, the meter as recipient, the request's
        // counter, 7.2's message code, not signed.
        let (preCommand, counter) = try #require(try await session.transform(srv: "7.2", body: "<sr:DisableSupply/>"))
        #expect(preCommand.originator == session.supplier && preCommand.recipient == session.esme)
        #expect(preCommand.originatorCounter == counter && preCommand.messageCode == 0x0050)
        #expect(preCommand.signature == .absent && preCommand.macHeader == nil)

        // Refused, and nothing runs: unsigned, altered, signed by someone else, never issued.
        let unsigned = try await session.send(srv: "7.2", preCommand.encode(), counter: counter)
        #expect(unsigned.code == "E12" && unsigned.refusal.contains("not signed"), "\(unsigned.refusal)")
        var altered = preCommand
        altered.content[altered.content.count - 1] ^= 0x07   // another script: arm instead of disable
        let alteredAnswer = try await session.send(srv: "7.2", try session.signed(altered, by: session.supplier), counter: counter)
        #expect(alteredAnswer.code == "E12" && alteredAnswer.refusal.contains("differs"), "\(alteredAnswer.refusal)")
        let foreign = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.otherSupplier), counter: counter)
        #expect(foreign.code == "E1" && foreign.refusal.contains("does not verify"), "\(foreign.refusal)")
        let neverIssuedCounter = Counters.next()
        let neverIssued = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: neverIssuedCounter)
        #expect(neverIssued.code == "E12" && neverIssued.refusal.contains("no pre-command"), "\(neverIssued.refusal)")
        // A transform for one SRV cannot be sent as another.
        let otherSRV = try await session.send(srv: "7.1", try session.signed(preCommand, by: session.supplier), counter: counter)
        #expect(otherSRV.code != "I99", "\(otherSRV.refusal)")
        #expect(try await session.supplyState() == "Enabled", "nothing ran")

        // The pre-command as issued, signed by its user: sent, and the meter acts.
        let answer = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter)
        #expect(answer.code == "I99", "\(answer.refusal)")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let response = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        #expect(response.code == "I0" && response.rsp?.name == "DisableSupplyRsp", "\(response.text.prefix(600))")
        #expect(try await session.supplyState() == "Disabled")
        #expect(try await session.activePower() == 0, "the meter reads zero with its supply off")

        // Sent once: the same signed pre-command again is a replay.
        let replay = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter)
        #expect(replay.code == "E1" && replay.refusal.contains("sent already"), "\(replay.refusal)")

        // Arm, then enable: the meter's supply follows.
        let armed = try await session.run(srv: "7.3", body: "<sr:ArmSupply/>")
        #expect(armed.rsp?.name == "ArmSupplyRsp")
        #expect(try await session.supplyState() == "Armed")
        let enabled = try await session.run(srv: "7.1", body: "<sr:EnableSupply/>")
        #expect(enabled.rsp?.name == "EnableSupplyRsp")
        #expect(try await session.supplyState() == "Enabled")
        #expect(try #require(try await session.activePower()) > 0, "the home draws power again")

        // Every refusal is audited with its rule, the replay's too; the one never issued
        // under its own RequestID.
        let store = session.hub.hub.store
        let decisions = try await store.audit(AuditQuery(requestID: requestID)).map(\.event.detail)
        for rule in [CriticalCommandRule.unsigned, .altered, .signature, .replayed] {
            #expect(decisions.contains { $0.contains("[\(rule.rawValue)]") }, "audited: \(rule.rawValue)")
        }
        let strayID = "\(session.supplier):\(session.esme):\(neverIssuedCounter)"
        #expect(try await store.audit(AuditQuery(requestID: strayID)).contains { $0.event.detail.contains("[\(CriticalCommandRule.notIssued.rawValue)]") })
        // The meter ran the command once: one answer from it for the RequestID.
        let answers = try await store.audit(AuditQuery(kind: .device, requestID: requestID))
        #expect(answers.count == 1, "\(answers.map(\.event.detail))")
        await session.hub.stop()
        await session.receiver.stop()
    }

    @Test func localDeliveryReturnsTheMACdCommand() async throws {
        let session = try await Self.start()
        let (preCommand, counter) = try #require(try await session.transform(srv: "7.2", body: "<sr:DisableSupply/>"))
        // Command variant 6 belongs on the Non-Device service, and answers at once.
        let answer = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter, variant: "6", service: .nonDevice)
        #expect(answer.code == "I0", "\(answer.refusal)")
        let tree = try CriticalCommandTests.tree(answer.body)
        let local = try #require(tree.descendant("Body", "ResponseMessage", "LocalCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) })
        let command = try GBCSFrame.decode([UInt8](local))
        // The signed pre-command in DCC's MAC header, which the meter's key verifies.
        let smki = session.hub.hub.smki
        #expect(command.verifyMAC(keys: smki) == .valid)
        #expect(command.verifySignature(keys: smki) == .valid)
        // Not sent over the WAN: the supply is unchanged.
        #expect(try await session.supplyState() == "Enabled")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// Command variant 7: the signed command goes to the device over the WAN and comes
    /// back at once for local delivery too (DCC Boxed has no variant 7; DUIS does).
    @Test func wanAndLocalDeliveryReturnsTheCommandAndRunsIt() async throws {
        let session = try await Self.start()
        let (preCommand, counter) = try #require(try await session.transform(srv: "7.2", body: "<sr:DisableSupply/>"))
        let answer = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter, variant: "7")
        // Acknowledged (the device answers later), with the command for the HAN.
        #expect(answer.code == "I99", "\(answer.refusal)")
        let tree = try CriticalCommandTests.tree(answer.body)
        let local = try #require(tree.descendant("Body", "ResponseMessage", "LocalCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) },
                                 "the command for local delivery")
        let command = try GBCSFrame.decode([UInt8](local))
        let smki = session.hub.hub.smki
        #expect(command.verifyMAC(keys: smki) == .valid && command.verifySignature(keys: smki) == .valid)
        #expect(command.originatorCounter == counter && command.messageCode == preCommand.messageCode && command.content == preCommand.content)
        // And over the WAN: the device ran it, answering signed in GBCS.
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let device = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID], "the device's answer")
        #expect(device.code == "I0" && device.rsp?.name == "DisableSupplyRsp", "\(device.text.suffix(300))")
        #expect(device.rsp?.attributes["MessageSuccess"] != "false")
        #expect(try await session.supplyState() == "Disabled")
        // The same signed command again on variant 7 is a replay: refused, nothing runs.
        let again = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter, variant: "7")
        #expect(again.code != "I99" && again.code != "I0", "\(again.code ?? "") \(again.refusal)")
        await session.hub.stop()
        await session.receiver.stop()
    }

    @Test func aQuarantinedTransformIsIssuedWhenReleased() async throws {
        let session = try await Self.start()
        let store = session.hub.hub.store
        try await store.apply([.putThreshold(AnomalyThreshold(user: session.supplier, srv: "7.2", limit: 1, windowSeconds: 3600)), .bumpRegistryVersion])
        try await waitUntil { session.hub.hub.anomaly.thresholds().contains { $0.srv == "7.2" } }
        _ = try #require(try await session.transform(srv: "7.2", body: "<sr:DisableSupply/>"))
        // The second transform within the hour is quarantined: acknowledged, no pre-command.
        let counter = Counters.next()
        let xml = requestXML(originator: session.supplier, target: session.esme, commandVariant: "4", srv: "7.2", body: "<sr:DisableSupply/>")
        let answer = try await session.client.post(try session.client.sign(xml, counter: counter), to: .transform)
        #expect(answer.code == "I99" && answer.refusal.contains("anomaly detection"), "\(answer.refusal)")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        #expect(try await store.request(id: requestID)?.status == .quarantined)
        #expect(try await store.preCommand(requestID: requestID) == nil)
        // Released by its user: the pre-command comes as the asynchronous answer, and can be sent.
        try await store.apply([.setRequestStatus(requestID: requestID, status: .released, code: "I99")])
        let released = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        #expect(released.code == "I0")
        let payload = try #require(DUISMessage.find(released.tree, "PreCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) })
        let preCommand = try GBCSFrame.decode([UInt8](payload))
        #expect(preCommand.originatorCounter == counter && preCommand.messageCode == 0x0050)
        #expect(try await store.request(id: requestID)?.status == .transformed)
        let send = try await session.send(srv: "7.2", try session.signed(preCommand, by: session.supplier), counter: counter)
        #expect(send.code == "I99", "\(send.refusal)")
        await session.hub.stop()
        await session.receiver.stop()
    }

    @Test func hostileSendsAreRefusedAndThePreCommandStaysSendable() async throws {
        let session = try await Self.start()
        let (preCommand, counter) = try #require(try await session.transform(srv: "7.2", body: "<sr:DisableSupply/>"))
        let signed = try session.signed(preCommand, by: session.supplier)
        func sendText(_ text: String) async throws -> DUISClient.Answer {
            let xml = requestXML(originator: session.supplier, target: session.esme, commandVariant: "5", srv: "7.2",
                                 body: "<sr:SignedPreCommand><sr:GBCSPayload>\(text)</sr:GBCSPayload></sr:SignedPreCommand>")
            return try await session.client.post(try session.client.sign(xml, counter: counter), to: .sendCommand)
        }
        // Far larger than any pre-command; not GBCS; truncated; already MAC'd (DCC adds the MAC).
        let huge = Data(repeating: 0xDF, count: 64 << 10).base64EncodedString()
        let maced = try GBCSFrame.decode(signed).maced(with: try #require(try GBCSFrame.decode(signed).macKey(keys: session.hub.hub.smki))).encode()
        for (name, text) in [("huge", huge), ("not GBCS", Data("hello".utf8).base64EncodedString()),
                             ("truncated", Data(signed.prefix(signed.count - 10)).base64EncodedString()),
                             ("with a MAC header", Data(maced).base64EncodedString())] {
            let answer = try await sendText(text)
            #expect(answer.code == "E12" || answer.status == 400, "\(name): \(answer.code ?? "") \(answer.refusal.prefix(200))")
        }
        #expect(try await session.hub.hub.store.request(id: "\(session.supplier):\(session.esme):\(counter)")?.status == .transformed)
        // The user's own signed pre-command still goes through, once.
        let answer = try await session.send(srv: "7.2", signed, counter: counter)
        #expect(answer.code == "I99", "\(answer.refusal)")
        // Its answer first: a read sent before it could reach the meter first (commands to
        // one device are not ordered by the hub, as the test above also waits).
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let response = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        #expect(response.rsp?.name == "DisableSupplyRsp", "\(response.text.prefix(600))")
        #expect(try await session.supplyState() == "Disabled")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// A change of supplier's credentials (6.15.1): the old supplier replaces the supplier
    /// role's certificates on the meter with the new supplier's; from then on the meter
    /// refuses a critical command the old supplier signs (DCC still lets it through: the
    /// registration has not changed yet), and runs the new supplier's.
    @Test func afterACredentialsUpdateTheMeterTrustsTheNewSupplierOnly() async throws {
        let session = try await Self.start()
        let update = try await session.run(srv: "6.15.1", body: try session.credentialsOfTheOtherSupplier())
        #expect(update.code == "I0" && update.rsp?.attributes["MessageSuccess"] != "false", "\(update.text.suffix(600))")

        // The old supplier, still registered with DCC: refused by the meter, nothing runs.
        let old = try await session.run(srv: "7.2", body: "<sr:DisableSupply/>")
        #expect(old.rsp?.attributes["MessageSuccess"] == "false", "the meter refuses the old supplier: \(old.text.suffix(400))")
        #expect(try await session.supplyState() == "Enabled")

        // The new supplier, once DCC's registration data name it: the meter acts.
        let registration: [Mutation] = [.putRegistration(RegistrationRecord(mpxn: session.premises.importMPAN, role: .is, party: session.otherSupplier,
                                                                           from: Timestamp.now().adding(milliseconds: -1000)))]
        try await session.hub.hub.store.apply(registration)
        session.hub.hub.inventory.apply(registration)
        let new = try await session.run(srv: "7.2", body: "<sr:DisableSupply/>", as: session.otherSupplier)
        #expect(new.rsp?.attributes["MessageSuccess"] != "false", "\(new.text.suffix(400))")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// Firmware: an image distributed with 11.1, activated with 11.3 (its SHA-256 as the
    /// hash): the meter then runs and reports the new version (11.2), and DCC's inventory
    /// records it; an activation whose hash is not the image's changes nothing.
    @Test func activatedFirmwareIsWhatTheMeterAndTheInventoryReport() async throws {
        let session = try await Self.start()
        let image = [UInt8]((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let hash = Hex.encode(Array(SHA256.hash(data: image)), uppercase: true)
        let distribute = requestXML(originator: session.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "11.1", body: """
            <sr:UpdateFirmware><sr:FirmwareImage>\(Data(image).base64EncodedString())</sr:FirmwareImage><sr:FirmwareVersion>0002A001</sr:FirmwareVersion>
            <sr:DeviceIDList>\(session.esme)</sr:DeviceIDList></sr:UpdateFirmware>
            """)
        let distributed = try await session.client.post(try session.client.sign(distribute, counter: Counters.next()), to: .nonDevice)
        #expect(distributed.code == "I0", "\(distributed.refusal)")

        let wrong = try await session.run(srv: "11.3", body: "<sr:ActivateFirmware><sr:FirmwareHash>\(String(repeating: "AB", count: 32))</sr:FirmwareHash></sr:ActivateFirmware>")
        #expect(wrong.rsp?.attributes["MessageSuccess"] == "false" || wrong.values("ActivateImageResponseCode").first != "success", "\(wrong.text.suffix(400))")
        #expect(session.hub.hub.inventory.device(session.esme)?.firmwareVersion != "0002A001")

        let activated = try await session.run(srv: "11.3", body: "<sr:ActivateFirmware><sr:FirmwareHash>\(hash)</sr:FirmwareHash></sr:ActivateFirmware>")
        #expect(activated.values("FirmwareVersion") == ["0002A001"], "\(activated.text.suffix(400))")
        // The meter reports it, and so does DCC's inventory.
        let counter = Counters.next()
        let read = requestXML(originator: session.supplier, target: session.esme, commandVariant: "1", srv: "11.2", body: "<sr:ReadFirmwareVersion/>")
        #expect(try await session.client.post(try session.client.sign(read, counter: counter), to: .sendCommand).code == "I99")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        #expect(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID]?.values("FirmwareVersion") == ["0002A001"])
        #expect(session.hub.hub.inventory.device(session.esme)?.firmwareVersion == "0002A001")
        // DCC's inventory as a user reads it (8.2): the active firmware is the new version.
        let inventory = requestXML(originator: session.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                                   body: "<sr:ReadInventory><sr:DeviceID>\(session.esme)</sr:DeviceID></sr:ReadInventory>")
        let listed = try await session.client.post(try session.client.sign(inventory, counter: Counters.next()), to: .nonDevice)
        #expect(listed.code == "I0", "\(listed.refusal)")
        #expect(listed.text.contains("<sr:DeviceFirmwareVersion>0002A001</sr:DeviceFirmwareVersion>"), "\(listed.text.suffix(600))")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// A price update (DCC's 1.2.1 template: block prices and a standing charge) changes
    /// what the meter reports as its tariff (4.11.1); TariffAndPrepaymentEffectsTests shows
    /// the engine charging the new prices from then on.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aPriceUpdateIsWhatTheMeterReports() async throws {
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix("ECS01b_1.2.1_") })
        let xml = String(decoding: template.bytes, as: UTF8.self)
        guard let open = xml.range(of: "<sr:Body>"), let close = xml.range(of: "</sr:Body>") else {
            Issue.record("the 1.2.1 template has no body")
            return
        }
        let body = String(xml[open.upperBound..<close.lowerBound])
        let session = try await Self.start()
        func tariff() async throws -> DUISMessage {
            let counter = Counters.next()
            let read = requestXML(originator: session.supplier, target: session.esme, commandVariant: "1", srv: "4.11.1", body: "<sr:ReadTariffPrimaryElement/>")
            #expect(try await session.client.post(try session.client.sign(read, counter: counter), to: .sendCommand).code == "I99")
            let requestID = "\(session.supplier):\(session.esme):\(counter)"
            return try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        }
        let before = try await tariff()
        let update = try await session.run(srv: "1.2.1", body: body)
        #expect(update.rsp?.attributes["MessageSuccess"] != "false", "\(update.text.suffix(400))")
        let after = try await tariff()
        for price in ["2361", "4289", "6566"] {
            #expect(after.values("BlockPrice").contains(price) || after.text.contains(">\(price)<") || after.values("Price").contains(price),
                    "4.11.1 reports block price \(price): \(after.device.map { "\($0)" }?.prefix(600) ?? "")")
        }
        #expect(after.values("StandingCharge") == ["20000"], "\(after.values("StandingCharge"))")
        #expect(before.values("StandingCharge") != after.values("StandingCharge"))
        // The bill: the change of prices closed a billing period, which the meter's tariff
        // triggered billing data log (4.4.2) now holds, with the registers as they stood.
        let counter = Counters.next()
        let now = Timestamp.now()
        let period = "<sr:ReadLogPeriod><sr:StartDateTime>\(now.adding(days: -1).iso8601)</sr:StartDateTime>"
            + "<sr:EndDateTime>\(now.adding(days: 1).iso8601)</sr:EndDateTime></sr:ReadLogPeriod>"
        let read = requestXML(originator: session.supplier, target: session.esme, commandVariant: "1", srv: "4.4.2",
                              body: "<sr:RetrieveCoMOrTariffTriggeredBillingDataLog>\(period)</sr:RetrieveCoMOrTariffTriggeredBillingDataLog>")
        #expect(try await session.client.post(try session.client.sign(read, counter: counter), to: .sendCommand).code == "I99")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let billing = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        let entries = billing.values("ActiveImportRegisterConsumption")
        #expect(billing.code == "I0" && !entries.isEmpty, "a billing entry for the change: \(String(billing.text.suffix(600)))")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// Command variant 2 quarantined by anomaly detection: once released, the command for
    /// local delivery comes as the asynchronous answer, and nothing goes over the WAN.
    @Test func aQuarantinedLocalCommandIsReturnedWhenReleased() async throws {
        let session = try await Self.start()
        let store = session.hub.hub.store
        try await store.apply([.putThreshold(AnomalyThreshold(user: session.supplier, srv: "7.4", limit: 1, windowSeconds: 3600)), .bumpRegistryVersion])
        try await waitUntil { session.hub.hub.anomaly.thresholds().contains { $0.srv == "7.4" } }
        var answers: [DUISClient.Answer] = []
        var counter: UInt64 = 0
        for _ in 0..<2 {
            counter = Counters.next()
            let xml = requestXML(originator: session.supplier, target: session.esme, commandVariant: "2", srv: "7.4", body: "<sr:ReadSupplyStatus/>")
            answers.append(try await session.client.post(try session.client.sign(xml, counter: counter), to: .nonDevice))
        }
        #expect(answers.map(\.code) == ["I0", "I99"], "\(answers.map(\.refusal))")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        try await store.apply([.setRequestStatus(requestID: requestID, status: .released, code: "I99")])
        let released = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        let payload = try #require(DUISMessage.find(released.tree, "LocalCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) })
        #expect(try GBCSFrame.decode([UInt8](payload)).verifyMAC(keys: session.hub.hub.smki) == .valid)
        #expect(try await store.request(id: requestID)?.status == .completed)
        await session.hub.stop()
        await session.receiver.stop()
    }
}
