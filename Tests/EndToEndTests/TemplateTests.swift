import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import SMKI
import Testing
import TestSupport

/// The acceptance test of the DUIS gateway against the Reference Test Data Set: every
/// template with command variant 1 or 8, signed with its originator's ZAZ1 key, gets a
/// signed I0 or I99 that verifies against the ZAZ1 DSP certificate (with gbsm's own
/// verifier and with xmlsec1).
@Suite(.serialized) struct ReferenceTemplateTests {
    struct Template {
        let name: String
        let xml: String
        let commandVariant: Int
        let srv: SRV
    }

    static func templates() throws -> [Template] {
        try Reference.templates().compactMap { name, data in
            let xml = String(decoding: data, as: UTF8.self)
            let document = try XMLDocument.parse(xml, limits: .duis)
            let header = try ServiceRequestDocument(document).header
            guard let variant = Int(header.commandVariantText), variant == 1 || variant == 8 else { return nil }
            return Template(name: name, xml: xml, commandVariant: variant, srv: header.variant.srv)
        }
    }

    /// Templates that change the default premises for good run in hubs of their own, in
    /// an order that makes sense: decommission the ESME (8.3) before deleting it (8.4);
    /// each communications hub status change on its own; the service opt-out (8.5), which
    /// the emulated ESME carries out, so later requests to it are refused with E5; the
    /// change of tenancy (3.2), after which the DCC Boxed consents no longer apply.
    static let ownHub: [[SRV]] = [["8.3", "8.4"], ["8.14.2"], ["8.14.3"], ["8.14.4"], ["8.5"], ["3.2"]]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyVariantOneAndEightTemplateGetsASignedAcknowledgement() async throws {
        let templates = try Self.templates()
        #expect(templates.count == 92, "templates with command variant 1 or 8")
        let isolated = Set(Self.ownHub.flatMap { $0 })
        var answers: [(String, [UInt8])] = []

        // The main hub: every other template, schedules created before they are read and deleted.
        let main = try await RunningHub.start(zaz1: true)
        let client = DUISClient(baseURL: main.baseURL, keystore: main.keystore)
        var scheduleID: String?
        let ordered = templates.filter { !isolated.contains($0.srv) }.sorted { rank($0) < rank($1) }
        for template in ordered {
            var xml = template.xml
            if template.srv == "5.2" || template.srv == "5.3" {
                // The templates read and delete "schedule 123": the schedule 5.1 created.
                let id = try #require(scheduleID, "5.1 must run first")
                xml = xml.replacingOccurrences(of: "<sr:DSPScheduleID>123</sr:DSPScheduleID>", with: "<sr:DSPScheduleID>\(id)</sr:DSPScheduleID>")
            }
            let answer = try await send(xml, template: template, client: client)
            answers.append((template.name, answer.body))
            if template.srv == "5.1" {
                scheduleID = answer.text.firstMatch(of: /<sr:DSPScheduleID>(\d+)<\/sr:DSPScheduleID>/).map { String($0.1) }
            }
        }
        await main.stop()

        for group in Self.ownHub {
            let hub = try await RunningHub.start(zaz1: true)
            let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
            for srv in group {
                for template in templates where template.srv == srv {
                    let answer = try await send(template.xml, template: template, client: client)
                    answers.append((template.name, answer.body))
                }
            }
            await hub.stop()
        }
        #expect(answers.count == templates.count)

        // Every answer is signed by the ZAZ1 DSP key (role 137): our verifier, then xmlsec1.
        let keystore = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"))
        let dsp = try #require(keystore.dspSigner)
        for (name, body) in answers {
            #expect(throws: Never.self, "\(name)") { try verifyResponse(body, certificate: dsp.certificate) }
        }
        if let xmlsec = Tool.find("xmlsec1") {
            let directory = try TemporaryDirectory()
            try dsp.certificate.pem.write(to: directory.file("dsp.pem"), atomically: true, encoding: .utf8)
            for (index, (name, body)) in answers.enumerated() {
                let file = directory.file("answer-\(index).xml")
                try Data(body).write(to: file)
                let result = try await Tool.run(xmlsec, ["--verify", "--pubkey-cert-pem", directory.file("dsp.pem").path, file.path])
                #expect(result.status == 0, "xmlsec1 refused the answer to \(name): \(result.stderr)")
            }
        } else {
            Issue.record("xmlsec1 is not installed (apt install xmlsec1): the independent check did not run")
        }
    }

    func rank(_ template: Template) -> Int {
        switch template.srv {
        case "5.1": return 1
        case "5.2": return 2
        case "5.3": return 3
        default: return 0
        }
    }

    func send(_ xml: String, template: Template, client: DUISClient) async throws -> DUISClient.Answer {
        let signed = try client.sign(xml, counter: Counters.next())
        let service: DUISService = template.commandVariant == 8 ? .nonDevice : .sendCommand
        let answer = try await client.post(signed, to: service)
        #expect(answer.status == 200, "\(template.name): HTTP \(answer.status) \(answer.reason ?? "")")
        let expected = template.commandVariant == 8 ? "I0" : "I99"
        #expect(answer.code == expected, "\(template.name): \(answer.code ?? "no code") \(answer.reason ?? "")")
        return answer
    }
}
