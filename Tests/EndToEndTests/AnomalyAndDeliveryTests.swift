import DUIS
import Foundation
import Hub
import Storage
import Testing
import TestSupport

@Suite(.serialized) struct AnomalyAndDeliveryTests {
    @Test func thresholdBreachQuarantinesRaisesAlertAndReleaseProcesses() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        // The supplier allows itself three 8.2 requests per hour.
        try await hub.hub.store.apply([.putThreshold(AnomalyThreshold(user: Provisioning.supplier, srv: "8.2", limit: 3, windowSeconds: 3600)), .bumpRegistryVersion])
        try await waitUntil { hub.hub.anomaly.thresholds().contains { $0.srv == "8.2" } }
        receiver.refuse(true)

        let inventory = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                                   body: "<sr:ReadInventory><sr:DeviceID>\(esme)</sr:DeviceID></sr:ReadInventory>")
        var codes: [String] = []
        var quarantinedID = ""
        for _ in 0..<5 {
            let signed = try client.sign(inventory, counter: Counters.next())
            let answer = try await client.post(signed, to: .nonDevice)
            codes.append(answer.code ?? "?")
            if answer.code == "I99" {
                quarantinedID = try ServiceRequestDocument(try XMLDocument.parse(signed)).header.requestID.description
                #expect(answer.reason?.contains("anomaly detection") == true)
            }
        }
        // Three answered, two quarantined (acknowledged, not processed).
        #expect(codes == ["I0", "I0", "I0", "I99", "I99"])
        #expect(try await hub.hub.store.requests(status: .quarantined, originator: Provisioning.supplier, limit: 10).count == 2)
        // Another user's requests are unaffected.
        let network = requestXML(originator: Provisioning.networkOperator, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                                 body: "<sr:ReadInventory><sr:DeviceID>\(esme)</sr:DeviceID></sr:ReadInventory>")
        #expect(try await client.post(try client.sign(network, counter: Counters.next()), to: .nonDevice).code == "I0")

        // The endpoint refuses for a while: the hub retries with backoff, then delivers once it accepts.
        try await waitUntil(timeout: .seconds(60)) { receiver.attempts >= 4 }
        #expect(receiver.messages.isEmpty)
        receiver.refuse(false)
        let alerts = await receiver.waitFor(2)
        #expect(alerts.count == 2)
        for alert in alerts {
            #expect(alert.text.contains("<sr:DCCAlertCode>AD1</sr:DCCAlertCode>"))
            #expect(alert.text.contains("<sr:ADUserThresholdBreach>"))
            let dsp = try #require(hub.keystore.dspSigner)
            try verifyResponse(alert.body, certificate: dsp.certificate)
        }
        #expect(Set(alerts.compactMap(\.messageID)).count == 2, "each alert delivered once")

        // The user releases one quarantined request: the running hub processes it and sends the result.
        try await hub.hub.store.apply([.setRequestStatus(requestID: quarantinedID, status: .released, code: "I99")])
        let all = await receiver.waitFor(3)
        let result = try #require(all.first { $0.text.contains("<sr:Header><sr:RequestID>\(quarantinedID)</sr:RequestID>") })
        #expect(result.text.contains("<sr:ResponseCode>I0</sr:ResponseCode>"))
        #expect(result.text.contains("<sr:DSPInventory>"))
        #expect(try await hub.hub.store.request(id: quarantinedID)?.status == .completed)
        // The hub records each acceptance just after the endpoint answers.
        var delivered: [OutboxItem] = []
        for _ in 0..<250 {
            delivered = try await hub.hub.store.outbox(recipient: Provisioning.supplier, status: .delivered, limit: 10)
            if delivered.count == 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(delivered.count == 3)
        #expect(try await hub.hub.store.outbox(recipient: Provisioning.supplier, status: .pending, limit: 10).isEmpty)
        #expect(try await hub.hub.store.verifyAudit().isIntact)
        await hub.stop()
        await receiver.stop()
    }
}

@Suite(.serialized) struct HostileInputTests {
    @Test func badInputGetsClearErrorsAndTheServerKeepsServing() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let valid = readRegisters()
        func post(_ text: String, _ service: DUISService = .sendCommand) async throws -> DUISClient.Answer {
            try await client.post(Array(text.utf8), to: service)
        }

        let cases: [(String, String, Int, String)] = [
            ("malformed", "<sr:Request><unclosed></sr:Request>", 400, "malformed XML"),
            ("empty", "", 400, "empty"),
            ("xxe", "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" + valid.replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", with: "").replacingOccurrences(of: "ReadInstantaneousImportRegisters/>", with: "ReadInstantaneousImportRegisters>&x;</sr:ReadInstantaneousImportRegisters>"), 400, "DOCTYPE"),
            ("entity expansion", "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><l>&c;</l>", 400, "DOCTYPE"),
            ("wrong namespace", valid.replacingOccurrences(of: "http://www.dccinterface.co.uk/ServiceUserGateway", with: "urn:not-duis"), 400, "not a DUIS Service Request"),
            ("wrong root", "<?xml version=\"1.0\"?><Response xmlns=\"http://www.dccinterface.co.uk/ServiceUserGateway\"/>", 400, "not a DUIS Service Request"),
            ("deep", String(repeating: "<a>", count: 5000) + String(repeating: "</a>", count: 5000), 400, "nesting"),
            ("unknown SRV", valid.replacingOccurrences(of: ">4.1.1<", with: ">4.1.9<"), 400, "unknown ServiceReferenceVariant"),
            ("body mismatch", valid.replacingOccurrences(of: "ReadInstantaneousImportRegisters", with: "ReadMeterBalance"), 400, "expects ReadInstantaneousImportRegisters"),
            ("bad RequestID", valid.replacingOccurrences(of: ":1<", with: ":01<"), 400, "invalid RequestID"),
            ("bad schema version", valid.replacingOccurrences(of: "schemaVersion=\"5.4\"", with: "schemaVersion=\"5.4&quot;&gt;\""), 400, "schema version"),
        ]
        for (name, text, status, fragment) in cases {
            let answer = try await post(text)
            #expect(answer.status == status, "\(name)")
            #expect(answer.text.contains(fragment), "\(name): \(answer.text)")
        }
        // Binary noise.
        let noise = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        #expect(try await client.post(noise, to: .sendCommand).status == 400)
        // Oversized: refused before parsing (1 MiB on the Send Command Service, 14 MiB on the Non-Device Service).
        let answer = try await client.post(Array(repeating: UInt8(ascii: " "), count: 2 << 20), to: .sendCommand)
        #expect(answer.status == 413)
        #expect(try await client.post(Array(repeating: UInt8(ascii: " "), count: 15 << 20), to: .nonDevice).status == 413)
        // Signature wrapping: a second signed copy hidden inside the body.
        let signed = String(decoding: try client.sign(valid, counter: Counters.next()), as: UTF8.self)
        let signatureStart = try #require(signed.range(of: "<ds:Signature"))
        let signature = String(signed[signatureStart.lowerBound...]).replacingOccurrences(of: "</sr:Request>", with: "")
        let wrapped = signed.replacingOccurrences(of: "<sr:ReadInstantaneousImportRegisters/>", with: "<sr:ReadInstantaneousImportRegisters/>" + signature)
        let wrappedAnswer = try await post(wrapped)
        #expect(wrappedAnswer.code == "E1" || wrappedAnswer.status == 400, "\(wrappedAnswer.text)")
        // Nothing was processed, every rejection is audited, and the server still serves.
        #expect(try await hub.hub.store.requestCount(status: nil) == 0)
        let rejected = try await hub.hub.store.audit(AuditQuery(kind: .requestRejected))
        #expect(rejected.count >= cases.count + 2)
        let ok = try await client.post(try client.sign(valid, counter: Counters.next()), to: .sendCommand)
        #expect(ok.code == "I99")
        await hub.stop()
    }
}
