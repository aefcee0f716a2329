import DUIS
import Foundation
import Hub
import SMKI
import Testing
import TestSupport

/// The DCC Boxed drop-in, checked as a user would: the real `gbsm serve --dcc-boxed` with
/// DCC Boxed's ZAZ1 keystore; every reference template with command variant 1, 2, 3 or 8
/// (the templates held here have 1 and 8), signed with its originator's ZAZ1 key, is
/// accepted; each device request's signed asynchronous answer arrives on the response
/// endpoint; every synchronous and asynchronous answer verifies with ZAZ1's DSP
/// certificate and conforms to DUIS 5.4, and each device payload to MMC 5.4 (the test
/// clients check every answer they receive against the schemas).
@Suite(.serialized) struct DCCBoxedAcceptanceTests {
    /// Requests that change the default premises for good go last, in an order that makes
    /// sense: the change of tenancy, the ESME's service opt-out, the communications hub's
    /// status changes, then decommissioning the ESME before deleting it. The fault return
    /// (8.14.3) and the no-fault return (8.14.4) each withdraw the one hub: the fault
    /// return goes to a second DCC Boxed of its own.
    static func rank(_ srv: SRV) -> Int {
        switch srv {
        case "5.1": return -3
        case "5.2": return -2
        case "5.3": return -1
        case "6.29", "8.7.2": return 1
        case "6.32", "8.8.2": return 2
        case "3.2": return 8
        case "8.5": return 9
        case "8.14.1": return 10
        case "8.14.2": return 11
        case "8.14.4": return 13
        case "8.3": return 14
        case "8.4": return 15
        default: return 0
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyReferenceRequestIsAcceptedAndEveryAnswerConforms() async throws {
        let reference = try #require(Reference.directory)
        let keystoreFile = reference.appendingPathComponent("smki/zaz1-keystore.json")
        let zaz1 = try Keystore.decode(try Data(contentsOf: keystoreFile))
        let dsp = try #require(zaz1.dspSigner)
        let receiver = try await ResponseReceiver.start()
        let directory = try TemporaryDirectory("gbsm-boxed")
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path, "--dcc-boxed", keystoreFile.path,
                                                    "--response-url", receiver.url, "--wan-delays", "off"])
        let client = DUISClient(baseURL: server.baseURL, keystore: zaz1)
        // Answers come as the devices' GBCS, as DCC sends them: opened as a DCC Boxed user's
        // Parse and Correlate would, with ZAZ1's keys and the devices' certificates fetched
        // from gbsm's SMKI service.
        let keys = try await SMKIServiceKeys.fetch(server.baseURL, devices: (0xA0...0xA6).map { EUI64(0x00DB_1234_5678_9000 + UInt64($0)) }, users: zaz1)
        #expect(keys.deviceCount >= 5, "the default premises' certified devices")

        struct Sent { let name: String; let srv: SRV; let device: Bool }
        var templates: [(name: String, xml: String, srv: SRV, variant: Int)] = []
        for (name, bytes) in try Reference.templates() {
            let xml = String(decoding: bytes, as: UTF8.self)
            let header = try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis)).header
            guard let variant = Int(header.commandVariantText), [1, 2, 3, 8].contains(variant) else { continue }
            templates.append((name, xml, header.variant.srv, variant))
        }
        #expect(templates.count == 92, "templates with command variant 1, 2, 3 or 8")
        templates.sort { (Self.rank($0.srv), $0.srv) < (Self.rank($1.srv), $1.srv) }

        var sent: [String: Sent] = [:]
        var scheduleID: String?
        for template in templates where template.srv != "8.14.3" {
            if Self.rank(template.srv) >= 8 {
                // What comes before a change for good has been answered first.
                _ = await waitForResponses(receiver, requestIDs: Set(sent.filter { $0.value.device }.keys), keys: keys)
            }
            var xml = DeviceTemplateTests.adapt(DeviceTemplateTests.Template(name: template.name, xml: template.xml, srv: template.srv, body: ""),
                                                now: Timestamp.now())
            if template.srv == "5.2" || template.srv == "5.3" {
                let id = try #require(scheduleID, "5.1 runs first")
                xml = xml.replacingOccurrences(of: "<sr:DSPScheduleID>123</sr:DSPScheduleID>", with: "<sr:DSPScheduleID>\(id)</sr:DSPScheduleID>")
            }
            let signed = try client.sign(xml, counter: Counters.next())
            let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
            let service: DUISService = template.variant == 8 || template.variant == 2 ? .nonDevice : .sendCommand
            let answer = try await client.post(signed, to: service)
            let device = template.variant != 8
            #expect(answer.status == 200 && answer.code == (device ? "I99" : "I0"),
                    "\(template.name): \(answer.status) \(answer.code ?? "no code") \(answer.refusal.prefix(300))")
            #expect(throws: Never.self, "\(template.name): the answer is signed by ZAZ1's DSP key") { try verifyResponse(answer.body, certificate: dsp.certificate) }
            if template.srv == "5.1" { scheduleID = answer.text.firstMatch(of: /<sr:DSPScheduleID>(\d+)<\/sr:DSPScheduleID>/).map { String($0.1) } }
            sent[requestID] = Sent(name: template.name, srv: template.srv, device: device)
            if template.srv == "8.7.2" || template.srv == "6.29" { _ = await waitForResponses(receiver, requestIDs: [requestID], keys: keys) }
        }
        let devices = Set(sent.filter { $0.value.device }.keys)
        let responses = await waitForResponses(receiver, requestIDs: devices, keys: keys)
        #expect(responses.count == devices.count, "asynchronous answers for \(responses.count) of \(devices.count) device requests")
        for (requestID, message) in responses {
            let name = sent[requestID]?.name ?? requestID
            #expect(message.code == "I0", "\(name): \(message.code ?? "none")")
            #expect(message.srv == sent[requestID]?.srv, "\(name): the answer names the SRV asked")
            #expect(message.rsp != nil && message.deviceProblem == nil, "\(name): a device payload \(message.deviceProblem ?? "")")
            // The device's own GBCS, MAC'd for its recipient or signed by the device (each
            // checked with the device's certificates from the SMKI service), answering the
            // use case asked for.
            let frame = message.gbcs
            #expect(frame != nil, "\(name): the device's answer in GBCS")
            if let frame, let srv = sent[requestID]?.srv {
                #expect(frame.verifyMAC(keys: keys) == .valid || frame.verifySignature(keys: keys) == .valid, "\(name): the device's MAC or signature")
                #expect(DeviceTemplateTests.answers(frame, srv), "\(name): message code \(String(frame.messageCode, radix: 16)) answers \(srv)")
            }
            #expect(throws: Never.self, "\(name): signed by ZAZ1's DSP key") { try verifyResponse(message.body, certificate: dsp.certificate) }
        }
        #expect(server.isRunning)
        #expect(server.terminate() == 0, "a graceful shutdown")

        let second = try TemporaryDirectory("gbsm-boxed")
        let other = try await ServerProcess.start(["serve", "--data", second.url.path, "--dcc-boxed", keystoreFile.path, "--response-url", receiver.url])
        let otherClient = DUISClient(baseURL: other.baseURL, keystore: zaz1)
        for template in templates where template.srv == "8.14.3" {
            let answer = try await otherClient.post(try otherClient.sign(template.xml, counter: Counters.next()), to: .nonDevice)
            #expect(answer.code == "I0", "\(template.name): \(answer.code ?? "no code") \(answer.refusal.prefix(300))")
            #expect(throws: Never.self, "\(template.name)") { try verifyResponse(answer.body, certificate: dsp.certificate) }
        }
        #expect(other.terminate() == 0)
        // Every answer received (acknowledgements, device answers, alerts) is checked
        // against DUIS 5.4 and MMC 5.4 here.
        await receiver.stop()
    }

    /// More of DCC's reference requests than the repository's reference folder holds (for
    /// example the rest of SmartDCCInnovation/duis-templates): GBSM_EXTRA_TEMPLATES=DIR
    /// runs each non-critical one through a fresh DCC Boxed (those that change the
    /// premises for good last), with the same checks.
    @Test(.enabled(if: Reference.isAvailable && ProcessInfo.processInfo.environment["GBSM_EXTRA_TEMPLATES"] != nil,
                   "set GBSM_EXTRA_TEMPLATES to a folder of DUIS request templates"))
    func extraReferenceRequestsAreAcceptedAndConform() async throws {
        let folder = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["GBSM_EXTRA_TEMPLATES"]))
        let keystoreFile = try #require(Reference.directory).appendingPathComponent("smki/zaz1-keystore.json")
        let zaz1 = try Keystore.decode(try Data(contentsOf: keystoreFile))
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: zaz1)
        var sent: [String: String] = [:]
        var templates: [(name: String, xml: String, header: RequestHeader, variant: Int)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.uppercased().hasSuffix(".XML") {
            let xml = String(decoding: try Data(contentsOf: folder.appendingPathComponent(name)), as: UTF8.self)
            guard let header = try? ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis)).header,
                  let variant = Int(header.commandVariantText), [1, 2, 3, 8].contains(variant) else { continue }
            templates.append((name, xml, header, variant))
        }
        templates.sort { (Self.rank($0.header.variant.srv), $0.name) < (Self.rank($1.header.variant.srv), $1.name) }
        for (name, xml, header, variant) in templates {
            if Self.rank(header.variant.srv) >= 8 { _ = await waitForResponses(receiver, requestIDs: Set(sent.keys)) }
            let adapted = DeviceTemplateTests.adapt(DeviceTemplateTests.Template(name: name, xml: xml, srv: header.variant.srv, body: ""), now: Timestamp.now())
            let signed = try client.sign(adapted, counter: Counters.next())
            let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
            let answer = try await client.post(signed, to: variant == 8 || variant == 2 ? .nonDevice : .sendCommand)
            #expect(answer.status == 200 && (answer.code == "I99" || answer.code == "I0"), "\(name): \(answer.status) \(answer.code ?? "no code") \(answer.refusal.prefix(400))")
            if answer.code == "I99" { sent[requestID] = name }
        }
        let responses = await waitForResponses(receiver, requestIDs: Set(sent.keys))
        #expect(responses.count == sent.count, "answers for \(responses.count) of \(sent.count)")
        for (requestID, message) in responses {
            let name = sent[requestID] ?? requestID
            #expect(message.code == "I0", "\(name): \(message.code ?? "none") \(message.text.prefix(300))")
            #expect(message.rsp?.attributes["MessageSuccess"] != "false", "\(name): the device refused: \(message.text.suffix(400))")
        }
        await hub.stop()
        await receiver.stop()
    }
}
