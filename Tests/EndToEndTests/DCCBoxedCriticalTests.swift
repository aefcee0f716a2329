import DUIS
import Foundation
import GBCS
import Hub
import SMKI
import Testing
import TestSupport

/// The critical reference templates (command variant 4) against the real
/// `gbsm serve --dcc-boxed`, as DCC Boxed's own tooling sends them: each template, signed
/// with its originator's ZAZ1 XML key, to the Transform service; the pre-command from the
/// answer signed with the originator's ZAZ1 GBCS digital-signing key (what gbcs-parser's
/// `signGroupingHeader` does); sent back with command variant 5 under the transform's
/// RequestID. Every answer is signed by ZAZ1's DSP key and conforms to DUIS 5.4.
@Suite(.serialized) struct DCCBoxedCriticalTests {
    /// Templates whose values a meter refuses, and why.
    static let refusedByTheMeter: [String: String] = [
        "CS06_11.3": "its FirmwareHash names no image distributed to the meter (11.1)",
        "CS02d_6.15.2": "its certificate is not for the key pair the meter generated (6.17)",
        "ECS09_2.5": "emergency credit is for a prepayment meter low on credit; DCC Boxed's meter is in credit mode",
    ]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyCriticalTemplateIsTransformedSignedAndSent() async throws {
        let reference = try #require(Reference.directory)
        let keystoreFile = reference.appendingPathComponent("smki/zaz1-keystore.json")
        let zaz1 = try Keystore.decode(try Data(contentsOf: keystoreFile))
        let gbcsKeys = ZAZ1KeyStore(zaz1)
        let dsp = try #require(zaz1.dspSigner)
        let receiver = try await ResponseReceiver.start()
        let directory = try TemporaryDirectory("gbsm-boxed-critical")
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path, "--dcc-boxed", keystoreFile.path,
                                                    "--response-url", receiver.url, "--wan-delays", "off"])
        // A failed expectation that ends the test early must not leave the server running.
        defer { if server.isRunning { server.kill() } }
        let client = DUISClient(baseURL: server.baseURL, keystore: zaz1)
        // Answers come as the devices' GBCS, as DCC sends them: opened as a DCC Boxed user's
        // Parse and Correlate would, with ZAZ1's keys and the devices' certificates fetched
        // from gbsm's SMKI service.
        let keys = try await SMKIServiceKeys.fetch(server.baseURL, devices: (0xA0...0xA6).map { EUI64(0x00DB_1234_5678_9000 + UInt64($0)) }, users: zaz1)
        #expect(keys.deviceCount >= 5, "the default premises' certified devices")

        var templates: [(name: String, xml: String, srv: SRV)] = []
        for (name, bytes) in try Reference.templates() {
            let xml = String(decoding: bytes, as: UTF8.self)
            let header = try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis)).header
            guard header.commandVariantText == "4" else { continue }
            templates.append((name, xml, header.variant.srv))
        }
        #expect(templates.count == 37, "critical templates")
        // Supply last: enable after disable and arm, so later templates meet a live meter.
        templates.sort { ($0.srv.group == 7 ? 1 : 0, $0.srv) < ($1.srv.group == 7 ? 1 : 0, $1.srv) }

        var sent: [String: String] = [:]
        var srvs: [String: SRV] = [:]
        var transformed = 0
        var unsignable: [String] = []
        for template in templates {
            // ECS47e (7.16) comes from 90-B3-D5-1F-30-01-00-08, which has GBCS keys in ZAZ1
            // but no XML-signing key: no DCC Boxed user can send it.
            let originator = try ServiceRequestDocument(try XMLDocument.parse(template.xml, limits: .duis)).header.requestID.originator
            guard zaz1.xmlSigningEntry(for: originator) != nil else {
                unsignable.append(template.name)
                continue
            }
            let counter = Counters.next()
            // A join names a device of the premises (the template's is not in DCC Boxed's
            // inventory): its HCALCS.
            var xml = template.srv == "8.7.1" || template.srv == "8.8.1"
                ? template.xml.replacing(/<sr:OtherDeviceID>[^<]*<\/sr:OtherDeviceID>/, with: "<sr:OtherDeviceID>00-DB-12-34-56-78-90-A6</sr:OtherDeviceID>")
                : template.xml
            // A clock synchronisation's window starts now (the template's is in 2014, and a
            // meter takes the time only within the window).
            xml = xml.replacing(/<sr:CurrentDateTime>[^<]*<\/sr:CurrentDateTime>/,
                                with: "<sr:CurrentDateTime>\(Timestamp.now().adding(milliseconds: -5000).iso8601)</sr:CurrentDateTime>")
            let signed = try client.sign(xml, counter: counter)
            let header = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header
            let answer = try await client.post(signed, to: .transform)
            #expect(throws: Never.self, "\(template.name): signed by ZAZ1's DSP key") { try verifyResponse(answer.body, certificate: dsp.certificate) }
            guard CriticalCommandBuilder.srvs.contains(template.srv) else {
                #expect(answer.code == "E12" && answer.refusal.contains("does not build"), "\(template.name): \(answer.code ?? "") \(answer.refusal.prefix(200))")
                continue
            }
            #expect(answer.code == "I0", "\(template.name): \(answer.code ?? "no code") \(answer.refusal.prefix(300))")
            let document = try XMLDocument.parse(answer.body)
            let tree = ElementTree(try #require(document.root))
            let payload = try #require(tree.descendant("Body", "ResponseMessage", "PreCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) },
                                       "\(template.name): a PreCommand")
            let preCommand = try GBCSFrame.decode([UInt8](payload))
            #expect(preCommand.originator == header.requestID.originator && preCommand.recipient == header.requestID.target
                    && preCommand.originatorCounter == counter, "\(template.name): the pre-command's header")
            let key = try #require(gbcsKeys.signingKey(of: header.requestID.originator), "\(template.name): the originator's ZAZ1 GBCS DS key")
            let signedPreCommand = try preCommand.signed(with: key).encode()
            let send = requestXML(originator: header.requestID.originator, target: header.requestID.target, counter: counter, commandVariant: "5",
                                  srv: template.srv.text,
                                  body: "<sr:SignedPreCommand><sr:GBCSPayload>\(Data(signedPreCommand).base64EncodedString())</sr:GBCSPayload></sr:SignedPreCommand>")
            let sendAnswer = try await client.post(try client.sign(send, counter: nil), to: .sendCommand)
            #expect(sendAnswer.code == "I99", "\(template.name) send: \(sendAnswer.code ?? "no code") \(sendAnswer.refusal.prefix(300))")
            #expect(throws: Never.self, "\(template.name): signed by ZAZ1's DSP key") { try verifyResponse(sendAnswer.body, certificate: dsp.certificate) }
            sent[header.requestID.description] = template.name
            srvs[header.requestID.description] = template.srv
            transformed += 1
        }
        #expect(unsignable.count <= 1, "templates no ZAZ1 user can sign: \(unsignable)")
        let built = templates.filter { CriticalCommandBuilder.srvs.contains($0.srv) && !unsignable.contains($0.name) }.count
        #expect(transformed == built, "\(transformed) templates transformed, signed and sent")
        let responses = await waitForResponses(receiver, requestIDs: Set(sent.keys), keys: keys)
        #expect(responses.count == sent.count, "device answers for \(responses.count) of \(sent.count)")
        for (requestID, message) in responses {
            let name = sent[requestID] ?? requestID
            #expect(message.code == "I0", "\(name): \(message.code ?? "none")")
            // The device's GBCS answer, signed by the device (its DS certificate from the SMKI
            // service), read by Parse and Correlate into the answer asked for.
            #expect(message.deviceProblem == nil && message.rsp != nil, "\(name): \(message.deviceProblem ?? "no answer")")
            let frame = message.gbcs
            #expect(frame != nil, "\(name): the device's answer in GBCS")
            if let frame, let srv = srvs[requestID] {
                #expect(frame.verifySignature(keys: keys) == .valid, "\(name): the device's signature")
                #expect(DeviceTemplateTests.answers(frame, srv), "\(name): message code \(String(frame.messageCode, radix: 16)) answers \(srv)")
                #expect(message.srv == srv, "\(name): the answer names the SRV sent")
            }
            // The meter refuses what the template's values make it refuse, as a real one would.
            if let reason = Self.refusedByTheMeter.first(where: { name.hasPrefix($0.key) })?.value {
                #expect(message.rsp?.attributes["MessageSuccess"] == "false", "\(name): \(reason)")
            } else {
                #expect(message.rsp?.attributes["MessageSuccess"] != "false", "\(name): the device refused: \(message.text.suffix(300))")
            }
            #expect(throws: Never.self, "\(name): signed by ZAZ1's DSP key") { try verifyResponse(message.body, certificate: dsp.certificate) }
        }
        #expect(server.terminate() == 0, "a graceful shutdown")
        await receiver.stop()
    }
}
