import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The pre-commands DCC's Transform service makes for critical requests, against DCC's
/// Reference Test Data Set: for every critical template (command variant 4) whose SRV the
/// builder makes, the pre-command built from the template's body, user, device and
/// counter is the RTDS PRECOMMAND vector of the same name, octet for octet.
@Suite struct CriticalCommandBuilderTests {
    struct Case {
        let template: String
        let srv: SRV
        let vector: URL
    }

    /// The critical templates and their vectors: `<UC>_<SRV>_<rest>_REQUEST_DUIS.XML`
    /// pairs with `RTDS-4.5.0/<SRV>_<UC>/<UC>_<SRV>_<rest>_PRECOMMAND_GBCS.HEX`.
    static func cases() throws -> [Case] {
        let reference = try #require(Reference.directory)
        let templates = reference.appendingPathComponent("duis/templates")
        let rtds = reference.appendingPathComponent("gbcs/rtds/RTDS-4.5.0")
        var cases: [Case] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: templates.path).sorted() where name.hasSuffix("_REQUEST_DUIS.XML") {
            let text = try String(contentsOf: templates.appendingPathComponent(name), encoding: .utf8)
            guard text.contains("<sr:CommandVariant>4</sr:CommandVariant>") else { continue }
            let stem = String(name.dropLast("_REQUEST_DUIS.XML".count))
            let parts = stem.split(separator: "_", maxSplits: 2)
            guard parts.count >= 2 else { continue }
            let vector = rtds.appendingPathComponent("\(parts[1])_\(parts[0])").appendingPathComponent(stem + "_PRECOMMAND_GBCS.HEX")
            cases.append(Case(template: name, srv: try #require(SRV(parts[1])), vector: vector))
        }
        return cases
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func preCommandsAreDCCsOctets() throws {
        let cases = try Self.cases()
        #expect(cases.count == 37, "critical templates: \(cases.count)")
        let templates = try #require(Reference.directory).appendingPathComponent("duis/templates")
        var compared = 0
        var failures: [String] = []
        for item in cases where CriticalCommandBuilder.srvs.contains(item.srv) {
            let document = try XMLDocument.parse(try [UInt8](Data(contentsOf: templates.appendingPathComponent(item.template))), limits: .duis)
            let request = try ServiceRequestDocument(document)
            var body = request.body()
            if body.children.first?.name == "ExecutionDateTime" { body.children.removeFirst() }
            let expected = try #require(Hex.decode(try String(contentsOf: item.vector, encoding: .utf8)), "\(item.vector.lastPathComponent)")
            let vector = try GBCSFrame.decode(expected)
            let id = request.header.requestID
            // DCC's inventory types CS03A1's other device (DUIS gives its EUI only): an HCALCS.
            let other = item.srv == "8.7.1" ? CriticalCommandBuilder.OtherDevice(type: .hcalcs, keyAgreementCertificate: nil) : nil
            do {
                let built = try #require(try CriticalCommandBuilder.preCommand(srv: item.srv, body: body, user: id.originator, device: id.target,
                                                                               deviceType: Self.deviceType(vector), counter: id.counter, otherDevice: other))
                #expect(built.originator == vector.originator && built.recipient == vector.recipient && built.originatorCounter == vector.originatorCounter,
                        "\(item.template): header")
                #expect(built.messageCode == vector.messageCode, "\(item.template): message code")
                if item.srv == "6.15.1" {
                    // The template's replacement certificates are newer (2025) than those the
                    // RTDS vector carries (2016), so only the layout can agree; the octets are
                    // compared with the vector's certificates in CriticalCommandBuilderCredentialsTests.
                    #expect(built.encode().count == expected.count, "\(item.template): length")
                } else if built.encode() != expected {
                    failures.append("\(item.template):\n  built    \(Hex.encode(built.content).prefix(400))\n  expected \(Hex.encode(vector.content).prefix(400))")
                }
            } catch {
                failures.append("\(item.template): \(error)")
            }
            compared += 1
        }
        #expect(compared == CriticalCommandBuilder.srvs.count, "\(compared) pre-commands compared for \(CriticalCommandBuilder.srvs.count) SRVs")
        #expect(failures.isEmpty, "\(failures.count):\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    /// The device type from the RTDS naming: gas use cases go to the gas meter.
    static func deviceType(_ frame: GBCSFrame) -> DeviceType {
        // The RTDS's ESME is …A0 and its GSME …A1; the payload says it too (GBZ is gas).
        frame.recipient.bytes.last == 0xA1 ? .gsme : .esme
    }
}
