import DUIS
import Foundation
import GBCS
import Hub
import SMKI
import Testing
import TestSupport

/// The request variants DCC's Reference Test Data Set sends beyond the templates held
/// here: the same Service Request Variants to the other device types the reference data
/// targets (a CHF's identity, a GPF's change of tenancy, a gas meter's network data and
/// device log, a gas MPRN), and command variants 2 and 3. Each is accepted with its
/// ZAZ1 key, and its signed answer arrives; every answer, synchronous and asynchronous,
/// conforms to DUIS 5.4 and its device payload to MMC 5.4 (the test clients check each
/// one they receive).
@Suite(.serialized) struct ReferenceVariantTests {
    struct Variant: CustomStringConvertible, Sendable {
        let template: String
        let target: String
        var commandVariant = "1"
        var body: (@Sendable (String) -> String)? = nil
        var description: String { "\(template) → -\(target) CV\(commandVariant)" }
    }

    /// Device suffixes of DCC Boxed's default premises: A0 ESME, A1 GSME, A2 CHF, A3 GPF.
    static let variants: [Variant] = [
        Variant(template: "ECS26e_6.2.4_", target: "A2"),
        Variant(template: "ECS26e_6.2.4_", target: "A1"),
        Variant(template: "ECS26e_6.2.4_", target: "A3"),
        Variant(template: "ECS23_4.10_", target: "A1"),
        Variant(template: "CCS05CCS04_8.9_", target: "A1"),
        Variant(template: "CCS05CCS04_8.9_", target: "A3"),
        Variant(template: "ECS25r1_6.2.10_", target: "A1"),
        Variant(template: "ECS39a_6.20.1_", target: "A1", body: { xml in
            xml.replacing(/<sr:ImportMPANs>[\s\S]*<\/sr:ImportMPANs>/, with: "<sr:ImportMPRN>1234567890</sr:ImportMPRN>")
        }),
        Variant(template: "ECS17b_4.1.1_", target: "A3"),
        Variant(template: "ECS17d_4.1.2_", target: "A1"),
        Variant(template: "ECS17d_4.1.2_", target: "A3"),
        Variant(template: "GCS13b_4.1.4_", target: "A1"),
        Variant(template: "ECS19_4.3_", target: "A3"),
        Variant(template: "ECS66_4.17_", target: "A3"),
        Variant(template: "ECS22b_4.8.1_", target: "A1"),
        Variant(template: "CS01a_2.2_", target: "A1"),
        Variant(template: "ECS17b_4.1.1_", target: "A0", commandVariant: "2"),
        Variant(template: "ECS17b_4.1.1_", target: "A0", commandVariant: "3"),
        Variant(template: "CS01a_2.2_", target: "A0", commandVariant: "2"),
        // The change of tenancy last: the DCC Boxed consents end with the occupancy.
        Variant(template: "ECS12_3.2_", target: "A3"),
    ]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func referenceVariantsToOtherDeviceTypesAreAnsweredAndConform() async throws {
        let templates = try Reference.templates()
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        var sent: [String: Variant] = [:]
        for variant in Self.variants {
            let template = try #require(templates.first { $0.name.hasPrefix(variant.template) }, "\(variant.template)")
            let now = Timestamp.now()
            var xml = DeviceTemplateTests.adapt(DeviceTemplateTests.Template(name: template.name, xml: String(decoding: template.bytes, as: UTF8.self),
                                                                              srv: try #require(SRV(variant.template.split(separator: "_")[1])), body: ""),
                                                    now: now)
            xml = xml.replacing(/(<sr:RequestID>[^:]*:00-DB-12-34-56-78-90-)A[0-9]/) { $0.1 + variant.target }
            xml = xml.replacing(/<sr:CommandVariant>[0-9]+<\/sr:CommandVariant>/, with: "<sr:CommandVariant>\(variant.commandVariant)</sr:CommandVariant>")
            if let body = variant.body { xml = body(xml) }
            if variant.template.hasPrefix("ECS12_3.2_") { _ = await waitForResponses(receiver, requestIDs: Set(sent.keys)) }
            let signed = try client.sign(xml, counter: Counters.next())
            let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
            // Command variant 2 (local delivery only) goes to the Non-Device Service.
            let local = variant.commandVariant == "2"
            let answer = try await client.post(signed, to: local ? .nonDevice : .sendCommand)
            // Command variant 2 answers at once with the command for local delivery; 3 also
            // sends it over the SM WAN. That command is MAC'd by DCC for the device.
            #expect(answer.status == 200 && answer.code == (local ? "I0" : "I99"),
                    "\(variant): \(answer.status) \(answer.code ?? "no code") \(answer.reason ?? answer.text.prefix(300).description)")
            if variant.commandVariant != "1" {
                let document = try XMLDocument.parse(answer.body)
                let tree = ElementTree(try #require(document.root))
                let octets = try #require(tree.descendant("Body", "ResponseMessage", "LocalCommand")?.value("GBCSPayload").flatMap { Data(base64Encoded: $0) },
                                          "\(variant): a LocalCommand")
                #expect(try GBCSFrame.decode([UInt8](octets)).verifyMAC(keys: hub.hub.smki) == .valid, "\(variant): DCC's MAC")
            }
            if answer.code == "I99" { sent[requestID] = variant }
        }
        let responses = await waitForResponses(receiver, requestIDs: Set(sent.keys))
        #expect(responses.count == sent.count, "answers for \(responses.count) of \(sent.count)")
        for (requestID, message) in responses {
            guard let variant = sent[requestID] else { continue }
            #expect(message.code == "I0", "\(variant): \(message.code ?? "none") \(message.text.prefix(300))")
            let rsp = try #require(message.rsp, "\(variant): no device payload")
            #expect(rsp.attributes["MessageSuccess"] != "false", "\(variant): the device refused: \(message.text.suffix(300))")
        }
        await hub.stop()
        await receiver.stop()
    }

    /// A correctly signed request that breaks the DUIS schema is refused with HTTP 400 and
    /// the validator's message, and nothing of it is processed: its counter is not
    /// consumed (the same counter on a conforming request is then accepted) and no answer
    /// follows.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aRequestThatFailsTheSchemaIsRefusedAndNothingIsProcessed() async throws {
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix("ECS17b_4.1.1_") })
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let xml = String(decoding: template.bytes, as: UTF8.self)
        let counter = Counters.next()
        // Three ways to break it: an element DUIS does not have, a value outside its type,
        // an xsi:type that would have the element validated as another type.
        let broken = [
            xml.replacingOccurrences(of: "<sr:ReadInstantaneousImportRegisters/>",
                                     with: "<sr:ReadInstantaneousImportRegisters><sr:Priority>1</sr:Priority></sr:ReadInstantaneousImportRegisters>"),
            xml.replacing(/<sr:CommandVariant>1<\/sr:CommandVariant>/, with: "<sr:CommandVariant>one</sr:CommandVariant>"),
            xml.replacingOccurrences(of: "<sr:ReadInstantaneousImportRegisters/>",
                                     with: "<sr:ReadInstantaneousImportRegisters xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"sr:ReadMeterBalance\"/>"),
        ]
        for (index, bad) in broken.enumerated() {
            let answer = try await client.post(try client.sign(bad, counter: counter), to: .sendCommand)
            #expect(answer.status == 400, "case \(index): \(answer.status) \(answer.text.prefix(300))")
            #expect(answer.text.contains("DUIS 5.4 schema"), "case \(index): \(answer.text.prefix(300))")
        }
        #expect(try await client.post(try client.sign(broken[1], counter: counter), to: .sendCommand).text.contains("CommandVariant"))
        let good = try await client.post(try client.sign(xml, counter: counter), to: .sendCommand)
        #expect(good.code == "I99", "the counter of the refused requests was not consumed: \(good.code ?? "") \(good.reason ?? "")")
        let answers = await receiver.waitFor(1, timeout: .seconds(30))
        #expect(answers.count == 1, "only the conforming request is answered")
        await hub.stop()
        await receiver.stop()
    }
}
