import Crypto
import DUIS
import Foundation
import Hub
import SMKI
import Storage
import Testing
import TestSupport

let esme = EUI64(0x00DB_1234_5678_90A0)
let gsme = EUI64(0x00DB_1234_5678_90A1)
let ihd = EUI64(0x00DB_1234_5678_90A5)

func readRegisters(from originator: EUI64 = Provisioning.supplier, to target: EUI64 = esme, variant: String = "1") -> String {
    requestXML(originator: originator, target: target, commandVariant: variant, srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>")
}

/// Each refusal the gateway makes, over HTTP against a running hub with a generated
/// test PKI: the code, and that the refusal is signed and audited with its rule.
@Suite(.serialized) struct RefusalTests {
    func expectRefusal(_ hub: RunningHub, _ body: [UInt8], service: DUISService = .sendCommand, code: String, rule: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let answer = try await client.post(body, to: service)
        #expect(answer.status == 200, sourceLocation: sourceLocation)
        #expect(answer.code == code, "\(answer.reason ?? "")", sourceLocation: sourceLocation)
        #expect(answer.reason?.isEmpty == false, sourceLocation: sourceLocation)
        let dsp = try #require(hub.keystore.dspSigner)
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try verifyResponse(answer.body, certificate: dsp.certificate) }
        // The decision is in the audit log with the rule that made it.
        let document = try XMLDocument.parse(body)
        let requestID = try ServiceRequestDocument(document).header.requestID.description
        let decisions = try await hub.hub.store.audit(AuditQuery(kind: .decision, requestID: requestID))
        #expect(decisions.contains { $0.event.code == code && $0.event.detail.hasPrefix("[\(rule)]") },
                "audit: \(decisions.map(\.event.detail))", sourceLocation: sourceLocation)
    }

    @Test func signatureRefusals() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)

        // Missing signature.
        try await expectRefusal(hub, Array(readRegisters().replacingOccurrences(of: ":1<", with: ":\(Counters.next())<").utf8), code: "E1", rule: "signature")
        // The templates' placeholder signature.
        let placeholder = readRegisters().replacingOccurrences(of: ":1<", with: ":\(Counters.next())<").replacingOccurrences(of: "</sr:Request>", with: """
        <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>ZGVmYXVsdA==</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>ZGVmYXVsdA==</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>CN=U1, OU=07</ds:X509IssuerName><ds:X509SerialNumber>1234567890</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature></sr:Request>
        """)
        try await expectRefusal(hub, Array(placeholder.utf8), code: "E1", rule: "signature")
        // Tampered after signing.
        let signed = String(decoding: try client.sign(readRegisters(), counter: Counters.next()), as: UTF8.self)
        let tampered = signed.replacingOccurrences(of: "00-DB-12-34-56-78-90-A0", with: "00-DB-12-34-56-78-90-A1")
        try await expectRefusal(hub, Array(tampered.utf8), code: "E1", rule: "signature")
        // Signed with a key that is not the registered certificate's (wrong key).
        let entry = try #require(hub.keystore.xmlSigningEntry(for: Provisioning.supplier))
        let document = try XMLDocument.parse(readRegisters().replacingOccurrences(of: ":1<", with: ":\(Counters.next())<"))
        let wrongKey = try XMLSigner.sign(document, key: P256.Signing.PrivateKey(), signer: entry.certificate.signerReference)
        try await expectRefusal(hub, wrongKey, code: "E1", rule: "signature")
        // Signed by another registered user than the RequestID's originator.
        let other = try client.sign(readRegisters(), counter: Counters.next(), as: Provisioning.secondSupplier)
        try await expectRefusal(hub, other, code: "E1", rule: "signature")
        // An unregistered certificate.
        let stranger = try XMLSigner.sign(try XMLDocument.parse(readRegisters().replacingOccurrences(of: ":1<", with: ":\(Counters.next())<")),
                                          key: P256.Signing.PrivateKey(), signer: SignerReference(issuerName: "CN=X9,OU=07", serialNumber: "99"))
        try await expectRefusal(hub, stranger, code: "E1", rule: "signature")
        // A correct request after all that is still served.
        let ok = try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand)
        #expect(ok.code == "I99")
        await hub.stop()
    }

    @Test func antiReplay() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let counter = Counters.next()
        let first = try client.sign(readRegisters(), counter: counter)
        #expect(try await client.post(first, to: .sendCommand).code == "I99")
        // The same request again, and an older counter, are replays.
        try await expectRefusal(hub, first, code: "E1", rule: "anti-replay")
        try await expectRefusal(hub, try client.sign(readRegisters(), counter: counter - 1), code: "E1", rule: "anti-replay")
        // Counters are per originator: another user's lower counter is fine.
        let network = requestXML(originator: Provisioning.networkOperator, target: esme, commandVariant: "1", srv: "4.2", body: "<sr:ReadInstantaneousExportRegisters/>")
        #expect(try await client.post(try client.sign(network, counter: 5), to: .sendCommand).code == "I99")
        // The replays were not stored: two requests in all, waiting or already answered by the device.
        #expect(try await hub.hub.store.requestCount(status: nil) == 2)
        await hub.stop()
    }

    @Test func roleStatusAndDeviceRefusals() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        func signed(_ xml: String) throws -> [UInt8] { try client.sign(xml, counter: Counters.next()) }

        // E2: a network operator may not top up a meter.
        let topUp = requestXML(originator: Provisioning.networkOperator, target: esme, commandVariant: "1", srv: "2.2",
                               body: "<sr:TopUpDevice><sr:UTRN>73946144332040217315</sr:UTRN></sr:TopUpDevice>")
        try await expectRefusal(hub, try signed(topUp), code: "E2", rule: "role-eligibility")
        // E4: the second supplier is not registered for the default premises.
        try await expectRefusal(hub, try signed(readRegisters(from: Provisioning.secondSupplier)), code: "E4", rule: "device-authorisation")
        // E11: gas configuration to an electricity meter.
        let gasConfig = requestXML(originator: Provisioning.supplier, target: esme, commandVariant: "1", srv: "6.2.8", body: "<sr:ReadDeviceConfigurationGas/>")
        try await expectRefusal(hub, try signed(gasConfig), code: "E11", rule: "device-type")
        // E19: a device the inventory does not hold.
        try await expectRefusal(hub, try signed(readRegisters(to: EUI64(0x00DB_1234_5678_90FF))), code: "E19", rule: "device-exists")
        // E12: a command variant the SRV does not have, and one that does not exist.
        try await expectRefusal(hub, try signed(readRegisters(variant: "5").replacingOccurrences(of: "<sr:ReadInstantaneousImportRegisters/>",
                                                                                                  with: "<sr:SignedPreCommand><sr:GBCSPayload>AA==</sr:GBCSPayload></sr:SignedPreCommand>")),
                                code: "E12", rule: "command-variant-srv")
        try await expectRefusal(hub, try signed(readRegisters(variant: "9")), code: "E12", rule: "command-variant-range")
        // E13: a device request sent to the Non-Device Service, a non-device one to the Send Command Service.
        try await expectRefusal(hub, try signed(readRegisters()), service: .nonDevice, code: "E13", rule: "web-service")
        let inventory = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                                   body: "<sr:ReadInventory><sr:DeviceID>\(esme)</sr:DeviceID></sr:ReadInventory>")
        try await expectRefusal(hub, try signed(inventory), service: .sendCommand, code: "E13", rule: "web-service")
        // A critical request belongs on the Transform service (CriticalCommandTests covers
        // the transform, sign and send).
        let enableSupply = requestXML(originator: Provisioning.supplier, target: esme, commandVariant: "4", srv: "7.1", body: "<sr:EnableSupply/>")
        try await expectRefusal(hub, try signed(enableSupply), service: .sendCommand, code: "E13", rule: "web-service")
        // E5: a decommissioned device.
        let decommission = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.3",
                                      body: "<sr:DecommissionDevice><sr:DeviceID>\(esme)</sr:DeviceID></sr:DecommissionDevice>")
        #expect(try await client.post(try signed(decommission), to: .nonDevice).code == "I0")
        try await expectRefusal(hub, try signed(readRegisters()), code: "E5", rule: "device-status")
        // E3: a suspended user.
        var user = try #require(try await hub.hub.store.users().first(where: { $0.eui == Provisioning.networkOperator }))
        user.status = .suspended
        try await hub.hub.store.apply([.putUser(user), .bumpRegistryVersion])
        try await waitUntil { hub.hub.registry.user(Provisioning.networkOperator)?.status == .suspended }
        let export = requestXML(originator: Provisioning.networkOperator, target: gsme, commandVariant: "1", srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>")
        try await expectRefusal(hub, try signed(export), code: "E3", rule: "user-status")
        await hub.stop()
    }

    @Test func unknownUserIsRefused() async throws {
        // E1 for a user the hub does not know, even with a certificate from the same PKI.
        let hub = try await RunningHub.start()
        var pki = try TestPKI.load(from: hub.dataDirectory.appendingPathComponent("smki"))
        let stranger = EUI64(0x90B3_D51F_3009_0000)
        let entry = try pki.issue(eui: stranger, role: RemotePartyRole.xmlSigning, usage: .digitalSignature, name: "stranger")
        let document = try XMLDocument.parse(readRegisters(from: stranger).replacingOccurrences(of: ":1<", with: ":\(Counters.next())<"))
        let body = try XMLSigner.sign(document, key: try #require(entry.signingKey), signer: entry.certificate.signerReference)
        try await expectRefusal(hub, body, code: "E1", rule: "signature")
        await hub.stop()
    }
}

func waitUntil(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(location: sourceLocation) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let location: SourceLocation
    var description: String { "timed out waiting at \(location)" }
}
