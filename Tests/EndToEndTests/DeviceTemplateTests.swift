import DUIS
import Foundation
import GBCS
import Hub
import SMKI
import Testing
import TestSupport

/// Every template with command variant 1 reaches its device across the emulated WAN and
/// comes back as a signed asynchronous I0 carrying the device's GBCS answer, as DCC sends
/// it: its MAC (or, answering a critical command, the device's signature) verifies with the
/// device's keys, and Parse and Correlate decodes it to the data the request asked for.
@Suite(.serialized) struct DeviceTemplateTests {
    struct Template {
        let name: String
        let xml: String
        let srv: SRV
        let body: String
    }

    static func templates() throws -> [Template] {
        try Reference.templates().compactMap { name, data in
            let xml = String(decoding: data, as: UTF8.self)
            let request = try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis))
            guard request.header.commandVariantText == "1" else { return nil }
            return Template(name: name, xml: xml, srv: request.header.variant.srv, body: request.body().name)
        }
    }

    /// The templates ask about 2014 and 2015, long before any meter's memory: their read
    /// periods move to the recent past (the period each log covers), so the answers carry
    /// readings. The join and unjoin templates name devices that are not at the premises:
    /// they join the IHD to the premises' ESME instead.
    static func adapt(_ template: Template, now: Timestamp) -> String {
        var xml = template.xml
        let day: Int64 = 86_400_000
        let back: Int64
        switch template.srv {
        case "4.4.2", "4.4.3", "4.4.4", "4.4.5": back = 400 * day
        case "4.6.1", "4.6.2", "4.14", "4.17": back = 10 * day
        default: back = 2 * day
        }
        let start = now.adding(milliseconds: -back)
        let end = template.srv == "6.32" ? now.adding(milliseconds: day) : now
        xml = xml.replacing(/<sr:StartDateTime>[^<]*<\/sr:StartDateTime>/, with: "<sr:StartDateTime>\(start.iso8601)</sr:StartDateTime>")
        xml = xml.replacing(/<sr:EndDateTime>[^<]*<\/sr:EndDateTime>/, with: "<sr:EndDateTime>\(end.iso8601)</sr:EndDateTime>")
        // A change of tenancy takes effect from a recent moment (gbsm refuses one reaching
        // back more than a week: it would hand the previous household's data to the next).
        xml = xml.replacing(/<sr:RestrictionDateTime>[^<]*<\/sr:RestrictionDateTime>/, with: "<sr:RestrictionDateTime>\(now.adding(milliseconds: -day).iso8601)</sr:RestrictionDateTime>")
        if template.srv == "8.7.2" || template.srv == "8.8.2" {
            // A meter joins the premises' IHD; a HAN device joins the ESME.
            let meter = xml.contains(":00-DB-12-34-56-78-90-A0:") || xml.contains(":00-DB-12-34-56-78-90-A1:")
            let other = meter ? "00-DB-12-34-56-78-90-A5" : "00-DB-12-34-56-78-90-A0"
            xml = xml.replacing(/<sr:OtherDeviceID>[^<]*<\/sr:OtherDeviceID>/, with: "<sr:OtherDeviceID>\(other)</sr:OtherDeviceID>")
        }
        return xml
    }

    /// Requests that change what later ones see go in a sensible order: the channel scan
    /// before its log, join before unjoin, the change of tenancy (after which the DCC Boxed
    /// consents no longer apply: a new occupancy starts with none) near the end, and the
    /// opt-out (which takes the ESME out of DCC's service) last.
    static func rank(_ srv: SRV) -> Int {
        switch srv {
        case "6.29", "8.7.2": return 1
        case "6.32", "8.8.2": return 2
        case "3.2": return 8
        case "8.5": return 9
        default: return 0
        }
    }

    /// The `…Rsp` element each request's answer carries (the MMC names; 6.2.3's has "Data").
    static func expectedResponse(_ template: Template) -> String {
        template.srv == "6.2.3" ? "ReadDeviceConfigurationDataBillingCalendarRsp" : template.body + "Rsp"
    }

    /// Answers that are only an acknowledgement (the MMC defines no data for them).
    static let acknowledgementOnly: Set<SRV> = ["2.2", "3.1", "3.2", "3.3", "3.4", "3.5", "6.4.2", "6.5", "6.12", "6.18.1", "6.18.2", "6.20.1",
                                                   "6.20.2", "6.22", "6.27", "6.28", "6.29", "7.9", "7.10", "8.11", "8.12.1", "9.1"]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyVariantOneTemplateGetsItsDeviceAnswer() async throws {
        let templates = try Self.templates().sorted { (Self.rank($0.srv), $0.srv) < (Self.rank($1.srv), $1.srv) }
        #expect(templates.count == 76, "templates with command variant 1")
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(zaz1: true, responseURL: receiver.url, answers: .gbcs)
        let keys = hub.hub.smki
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let keystore = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"))
        let dsp = try #require(keystore.dspSigner)

        var sent: [String: Template] = [:]
        for template in templates {
            if template.srv == "3.2" {
                // The change of tenancy ends the occupancy the consents belong to: everything sent before it runs first.
                _ = await waitForResponses(receiver, requestIDs: Set(sent.keys), keys: keys)
            }
            let xml = Self.adapt(template, now: Timestamp.now())
            let signed = try client.sign(xml, counter: Counters.next())
            let requestID = try ServiceRequestDocument(try XMLDocument.parse(signed, limits: .duis)).header.requestID.description
            let answer = try await client.post(signed, to: .sendCommand)
            #expect(answer.status == 200 && answer.code == "I99", "\(template.name): \(answer.code ?? "no code") \(answer.reason ?? "")")
            sent[requestID] = template
            if template.srv == "8.7.2" || template.srv == "6.29" || template.srv == "8.5" {
                // Let the change reach the device before the request that depends on it.
                _ = await waitForResponses(receiver, requestIDs: Set([requestID]), keys: keys)
            }
        }
        let responses = await waitForResponses(receiver, requestIDs: Set(sent.keys), keys: keys)
        #expect(responses.count == sent.count, "asynchronous responses for \(responses.count) of \(sent.count) requests")
        // Every answer is the device's GBCS, and verified.
        let notGBCS = responses.compactMap { requestID, message in message.gbcs == nil ? sent[requestID]?.srv : nil }.sorted()
        #expect(notGBCS.isEmpty, "device answers not in GBCS: \(notGBCS)")

        // GBSM_DUMP_DEVICE_RESPONSES=DIR keeps each decoded device payload (for the docs).
        let dump = ProcessInfo.processInfo.environment["GBSM_DUMP_DEVICE_RESPONSES"].map { URL(fileURLWithPath: $0) }
        for (requestID, message) in responses {
            guard let template = sent[requestID] else { continue }
            if let dump, let payload = DUISMessage.find(message.tree, "GBCSPayload")?.text, let data = Data(base64Encoded: payload) {
                try? data.write(to: dump.appendingPathComponent("\(template.srv).xml"))
            }
            #expect(throws: Never.self, "\(template.name) response signature") { try verifyResponse(message.body, certificate: dsp.certificate) }
            #expect(message.code == "I0", "\(template.name): \(message.code ?? "no code") \(message.text.prefix(400))")
            #expect(message.srv == template.srv, "\(template.name)")
            #expect(message.deviceProblem == nil, "\(template.name): \(message.deviceProblem ?? "")")
            if let xml = message.parsedXML {
                // What Parse and Correlate makes of the device's GBCS is MMC 5.4.
                #expect(SchemaCheck.mmcProblems(in: xml).isEmpty, "\(template.name): \(SchemaCheck.mmcProblems(in: xml))")
            }
            let rsp = try #require(message.rsp, "\(template.name): no device payload")
            #expect(rsp.name == Self.expectedResponse(template), "\(template.name): \(rsp.name)")
            #expect(rsp.attributes["MessageSuccess"] != "false", "\(template.name): the device refused: \(message.text.suffix(300))")
            if !Self.acknowledgementOnly.contains(template.srv) {
                #expect(!rsp.children.isEmpty, "\(template.name): \(rsp.name) carries no data")
            }
            // The answer is for the requester, or for the DCC party that sent the command: the
            // access control broker (on the requester's behalf, or as DCC's own party in 6.21,
            // 6.24.1 and 8.5) or DCC's party for a change of supplier (6.23).
            let target = message.device?.descendant("Header", "BusinessTargetID")?.text
            let requester = requestID.split(separator: ":").first.map(String.init)
            #expect(target == requester || target.map { $0.hasPrefix("90-B3-D5-1F-30-00-00-") } == true, "\(template.name): answer for \(target ?? "nobody")")
            if let frame = message.gbcs {
                // A GBCS answer: from the target device, for the request's counter, to the
                // use case asked for.
                #expect(frame.cra == .response && frame.originator.description == requestID.split(separator: ":").dropFirst().first.map(String.init))
                #expect(Self.answers(frame, template.srv), "\(template.name): message code \(String(frame.messageCode, radix: 16)) answers \(template.srv)")
            }
        }
        // A few answers in detail: the data is what the request asked for.
        func response(_ srv: SRV) -> DUISMessage? { responses.first { sent[$0.key]?.srv == srv }?.value }
        let profile = try #require(response("4.8.1"))
        #expect(profile.values("PrimaryValue").count >= 90, "two days of half hours")
        #expect(profile.values("PrimaryValue").allSatisfy { Int($0) != nil })
        let registers = try #require(response("4.1.1"))
        #expect(registers.values("ActiveEnergyUnit") == ["Wh"])
        #expect(Int(registers.values("Value").first ?? "") ?? 0 > 0)
        let cin = try #require(response("9.1"))
        #expect(cin.customerIdentificationNumber?.count == 4)
        let supply = try #require(response("7.4"))
        #expect(supply.values("SupplyState") == ["Enabled"])
        let firmware = try #require(response("11.2"))
        #expect(!(firmware.values("FirmwareVersion").first ?? "").isEmpty)
        let daily = try #require(response("4.17"))
        #expect(daily.values("Value").count >= 9)

        // The opt-out took the ESME out of service: the next request to it is refused.
        let after = try client.sign(Self.adapt(try #require(templates.first { $0.srv == "4.1.1" }), now: Timestamp.now()), counter: Counters.next())
        let refused = try await client.post(after, to: .sendCommand)
        #expect(refused.code == "E5", "\(refused.code ?? "") \(refused.reason ?? "")")
        await hub.stop()
        await receiver.stop()
    }
}

extension DeviceTemplateTests {
    /// Whether a device's GBCS message answers the SRV: its message code names a use case
    /// DCC turns that SRV into.
    static func answers(_ frame: GBCSFrame, _ srv: SRV) -> Bool {
        UseCases.byCode[frame.messageCode]?.srvs.contains(srv) == true
    }
}

/// Waits until a response has arrived for each request (or 60 s pass).
func waitForResponses(_ receiver: ResponseReceiver, requestIDs: Set<String>, timeout: Duration = .seconds(60),
                      keys: (any GBCSKeyStore)? = nil) async -> [String: DUISMessage] {
    let deadline = ContinuousClock.now + timeout
    var found: [String: DUISMessage] = [:]
    while ContinuousClock.now < deadline {
        for message in receiver.messages {
            guard let parsed = try? DUISMessage(message.body, keys: keys), let requestID = parsed.requestID, requestIDs.contains(requestID) else { continue }
            found[requestID] = parsed
        }
        if found.count >= requestIDs.count { break }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return found
}
