import Crypto
import DUIS
import Foundation
import GBCS
import Hub
import ParseAndCorrelate
import SMKI
import Testing
import TestSupport

/// What a user receives for a device's answer: the device's GBCS (the default, as DCC sends
/// it), which verifies with the device's keys and opens only with the user's; or, once the
/// user asks with `gbsm users set-payload`, the MMC XML gbsm's Parse and Correlate makes of
/// that same answer.
@Suite(.serialized) struct AnswerFormatTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func gbcsByDefaultAndMMCOnRequest() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url, answers: .gbcs)
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let supplier = EUI64(0x90B3_D51F_3001_0000)
        let meter = EUI64(0x00DB_1234_5678_90A0)
        let keys = hub.hub.smki
        func read() async throws -> DUISMessage {
            let xml = requestXML(originator: supplier, target: meter, commandVariant: "1", srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>")
            let signed = try client.sign(xml, counter: Counters.next())
            let id = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
            let answer = try await client.post(signed, to: .sendCommand)
            #expect(answer.code == "I99", "\(answer.code ?? "?"): \(answer.reason ?? "")")
            return try #require(await waitForResponses(receiver, requestIDs: [id], keys: keys)[id])
        }

        // GBCS: the device's ECS17b answer, for the supplier, MAC'd, its registers encrypted.
        let gbcs = try await read()
        let frame = try #require(gbcs.gbcs, "a GBCS answer: \(gbcs.text.prefix(300))")
        #expect(frame.cra == .response && frame.originator == meter && frame.recipient == supplier && frame.messageCode == 0x0027)
        #expect(frame.verifyMAC(keys: keys) == .valid)
        #expect(frame.encryptedBlocks(key: nil).count == 1, "the registers travel encrypted")
        #expect(gbcs.deviceProblem == nil, "\(gbcs.deviceProblem ?? "")")
        #expect(gbcs.rsp?.name == "ReadInstantaneousImportRegistersRsp")
        #expect(Int(gbcs.values("Value").first ?? "") ?? 0 > 0, "the import register, opened with the supplier's key")
        // Without the supplier's private key (the devices' public keys and everyone else's
        // keys), it does not verify, let alone open.
        #expect(throws: ParseError.self) { try ParsedMessage(frame: frame, keys: WithoutPrivateKeys(keys, of: [supplier, meter])) }
        // What a user of the data folder runs on it: gbsm gbcs parse with the folder's keys
        // (the supplier's, and the devices' certified ones).
        let file = hub.dataDirectory.appendingPathComponent("answer.b64")
        try Data(Data(frame.encode()).base64EncodedString().utf8).write(to: file)
        let parsed = try await Tool.run(binary.path, ["gbcs", "parse", file.path, "--keystore", hub.dataDirectory.path, "--srv", "4.1.1"])
        #expect(parsed.status == 0 && parsed.stdout.contains("<ra:ReadInstantaneousImportRegistersRsp>"), "\(parsed.stdout.prefix(300)) \(parsed.stderr)")
        // Altered on the way, it is refused.
        var altered = frame.encode()
        altered[altered.count - 20] ^= 0x01
        #expect(throws: ParseError.self) { try ParsedMessage(frame: try GBCSFrame.decode(altered), keys: keys) }

        // A user whose KA private key gbsm does not hold cannot ask for MMC.
        let refused = try await Tool.run(binary.path, ["users", "set-payload"] + hub.dataArguments + ["--eui", "00-DB-12-34-56-78-90-A0", "mmc"])
        #expect(refused.status != 0)
        // The supplier asks for MMC: the running hub reloads its users and answers in MMC XML.
        let set = try await Tool.run(binary.path, ["users", "set-payload"] + hub.dataArguments + ["--eui", supplier.description, "mmc"])
        #expect(set.status == 0, "\(set.stderr)")
        let list = try await Tool.run(binary.path, ["users", "list"] + hub.dataArguments)
        #expect(list.stdout.contains("mmc"))
        var mmc = try await read()
        for _ in 0..<50 where mmc.gbcs != nil {
            try await Task.sleep(for: .milliseconds(100))
            mmc = try await read()
        }
        #expect(mmc.gbcs == nil && mmc.device != nil, "MMC XML once the hub has reloaded its users")
        #expect(mmc.rsp?.name == "ReadInstantaneousImportRegistersRsp")
        #expect(Int(mmc.values("Value").first ?? "") ?? 0 > 0)
        // Parse and Correlate's envelope: the answer's message code and the request's counter.
        #expect(mmc.device?.descendant("Header", "GBCSHexadecimalMessageCode")?.text == "0027")
        #expect(SchemaCheck.problems(in: mmc.body).isEmpty, "\(SchemaCheck.problems(in: mmc.body))")
        await hub.stop()
        await receiver.stop()
    }
}

/// A key store without some parties' private keys: what anyone but them holds.
final class WithoutPrivateKeys: GBCSKeyStore, @unchecked Sendable {
    let keys: any GBCSKeyStore
    let hidden: Set<EUI64>
    init(_ keys: any GBCSKeyStore, of hidden: Set<EUI64>) {
        self.keys = keys
        self.hidden = hidden
    }
    func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? { keys.publicKey(of: party, usage: usage) }
    func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { hidden.contains(party) ? nil : keys.signingKey(of: party) }
    func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { hidden.contains(party) ? nil : keys.keyAgreementKey(of: party) }
    func isDevice(_ party: EUI64) -> Bool { keys.isDevice(party) }
}
