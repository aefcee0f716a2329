import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The security-credentials pre-commands (6.15.1, 6.15.2, 6.17, 6.24.2, 8.7.1, 8.8.1, 11.3)
/// against the RTDS vectors the generic test does not reach: the other use cases of the
/// same SRVs (CS03C, CS02g), the ERROR requests (other values, same layout), and 6.15.1,
/// whose template now carries newer replacement certificates than its vector. Bodies are
/// the templates', changed where the vector's request differed; the values that come from
/// DCC's inventory and SMKI repository rather than the request (a joined device's type
/// and certificate) are handed in as the desk would.
@Suite struct CriticalCommandBuilderCredentialsTests {
    static let rtds = "gbcs/rtds/RTDS-4.5.0/"

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func template(_ name: String) throws -> ElementTree {
        let data = try Reference.file("duis/templates/" + name)
        let request = try ServiceRequestDocument(try XMLDocument.parse([UInt8](data), limits: .duis))
        var body = request.body()
        body.children.removeAll { $0.name == "ExecutionDateTime" }
        return body
    }

    static func vector(_ path: String) throws -> (octets: [UInt8], frame: GBCSFrame) {
        guard let text = String(data: try Reference.file(rtds + path), encoding: .utf8), let octets = Hex.decode(text) else {
            throw Missing(description: "\(path) is not hex")
        }
        return (octets, try GBCSFrame.decode(octets))
    }

    /// The pre-command for a body, with the header of the vector's request.
    static func build(_ srv: SRV, _ body: ElementTree, like vector: GBCSFrame, _ type: DeviceType,
                      other: CriticalCommandBuilder.OtherDevice? = nil) throws -> [UInt8] {
        guard let frame = try CriticalCommandBuilder.preCommand(srv: srv, body: body, user: vector.originator, device: vector.recipient,
                                                                deviceType: type, counter: vector.originatorCounter, otherDevice: other)
        else { throw Missing(description: "no builder for \(srv)") }
        return frame.encode()
    }

    /// The tree with the element at `path` given this text (added when absent).
    static func setting(_ tree: ElementTree, _ path: [String], _ text: String) -> ElementTree {
        var tree = tree
        guard let name = path.first else {
            tree.text = text
            return tree
        }
        if let index = tree.children.firstIndex(where: { $0.name == name }) {
            tree.children[index] = setting(tree.children[index], Array(path.dropFirst()), text)
        } else {
            tree.children.append(setting(ElementTree(name: name), Array(path.dropFirst()), text))
        }
        return tree
    }

    static func removing(_ tree: ElementTree, _ path: [String]) -> ElementTree {
        var tree = tree
        guard let name = path.first else { return tree }
        if path.count == 1 {
            tree.children.removeAll { $0.name == name }
        } else if let index = tree.children.firstIndex(where: { $0.name == name }) {
            tree.children[index] = removing(tree.children[index], Array(path.dropFirst()))
        }
        return tree
    }

    static let certificates = ["ReplacementCertificates", "SupplierOrNetworkOperatorCertificates"]

    /// The replacement certificates a CS02b/CS02g vector carries, base64.
    static func replacementCertificates(_ frame: GBCSFrame) throws -> [String] {
        let command = try ASN1Value.decode(frame.content)
        guard command.children.count >= 3 else { throw Missing(description: "not an UpdateSecurityCredentials command") }
        return command.children[1].children.compactMap { $0.children.first.map { Data($0.encoded()).base64EncodedString() } }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func supplierBySupplierIsTheVectorWithItsCertificates() throws {
        let (expected, frame) = try Self.vector("6.15.1_CS02bSupplierBySupplier/CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX")
        let template = try Self.template("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        // As it stands the template's three replacement certificates are newer than the
        // vector's: everything else (control, cells, path) is the vector's.
        let asIs = try ASN1Value.decode(try GBCSFrame.decode(try Self.build("6.15.1", template, like: frame, .esme)).content)
        let vectorCommand = try ASN1Value.decode(frame.content)
        #expect(asIs.children.count == 3)
        #expect(asIs.children.first == vectorCommand.children.first)
        #expect(asIs.children.last == vectorCommand.children.last)
        // With the vector's certificates, the whole frame is the vector's.
        let certificates = try Self.replacementCertificates(frame)
        try #require(certificates.count == 3)
        var body = template
        for (name, text) in zip(["DigitalSigningCertificate", "KeyAgreementCertificate", "KeyAgreementTopUpCertificate"], certificates) {
            body = Self.setting(body, Self.certificates + [name], text)
        }
        #expect(try Self.build("6.15.1", body, like: frame, .esme) == expected)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func loadControllerIsTheRTDSCS02g() throws {
        let (expected, frame) = try Self.vector("NA_CS02gLoadControllerByLoadController/CS02gLoadControllerByLoadController_NA_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX")
        var body = try Self.template("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        body = Self.setting(body, ["RemotePartyRole"], "LoadController")
        body = Self.removing(body, ["RemotePartyPrepaymentTopUpFloorSeqNumber"])
        body = Self.removing(body, Self.certificates + ["KeyAgreementTopUpCertificate"])
        body = Self.setting(body, ["ApplyTimeBasedCPVChecks"], "false")
        let certificates = try Self.replacementCertificates(frame)
        try #require(certificates.count == 2)
        body = Self.setting(body, Self.certificates + ["DigitalSigningCertificate"], certificates[0])
        body = Self.setting(body, Self.certificates + ["KeyAgreementCertificate"], certificates[1])
        #expect(try Self.build("6.15.1", body, like: frame, .hcalcs) == expected)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func joinsTakeTheOtherDeviceFromTheInventory() throws {
        let template = try Self.template("CS03A1_8.7.1_SUCCESS_REQUEST_DUIS.XML")
        // The same OtherDeviceID: an HCALCS in the SUCCESS request, a PPMID in the ERROR one.
        for (name, otherType) in [("SUCCESS", DeviceType.hcalcs), ("ERROR", .ppmid)] {
            let (expected, frame) = try Self.vector("8.7.1_CS03A1/CS03A1_8.7.1_\(name)_PRECOMMAND_GBCS.HEX")
            #expect(try Self.build("8.7.1", template, like: frame, .esme, other: .init(type: otherType, keyAgreementCertificate: nil)) == expected, "\(name)")
        }
        let success = try Self.vector("8.7.1_CS03A1/CS03A1_8.7.1_SUCCESS_PRECOMMAND_GBCS.HEX").frame
        #expect(throws: TransformError.self) { try Self.build("8.7.1", template, like: success, .esme) }

        // GSME–PPMID (Method C) carries the PPMID's key-agreement certificate (from SMKI).
        let (expected, frame) = try Self.vector("8.7.1_CS03CCritical/CS03CCritical_8.7.1_SUCCESS_PRECOMMAND_GBCS.HEX")
        let join = try ASN1Value.decode(frame.content)
        let certificate = try #require(join.children.last).encoded()
        let body = Self.setting(template, ["OtherDeviceID"], "00-DB-12-34-56-78-90-98")
        #expect(throws: TransformError.self) { try Self.build("8.7.1", body, like: frame, .gsme, other: .init(type: .ppmid, keyAgreementCertificate: nil)) }
        #expect(try Self.build("8.7.1", body, like: frame, .gsme, other: .init(type: .ppmid, keyAgreementCertificate: certificate)) == expected)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func errorRequestsHaveTheSameLayouts() throws {
        let cases: [(srv: SRV, template: String, vector: String, field: [String], value: String)] = [
            ("6.17", "CS02c_6.17_SUCCESS_REQUEST_DUIS.XML", "6.17_CS02c/CS02c_6.17_ERROR_PRECOMMAND_GBCS.HEX", ["CredentialType"], "Key Agreement"),
            ("6.24.2", "CS02e_6.24.2_SUCCESS_REQUEST_DUIS.XML", "6.24.2_CS02e/CS02e_6.24.2_ERROR_PRECOMMAND_GBCS.HEX", ["CredentialType"], "Key Agreement"),
            ("8.8.1", "CS04ACCritical_8.8.1_SUCCESS_REQUEST_DUIS.XML", "8.8.1_CS04ACCritical/CS04ACCritical_8.8.1_ERROR_PRECOMMAND_GBCS.HEX",
             ["OtherDeviceID"], "03-03-03-03-03-03-03-03"),
            ("11.3", "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", "11.3_CS06/CS06_11.3_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX",
             ["FirmwareHash"], "AA758690730934FF0685AA758690730934FF0685657788990011223344556677"),
        ]
        for item in cases {
            let (expected, frame) = try Self.vector(item.vector)
            let template = try Self.template(item.template)
            let body = Self.setting(template, item.field, item.value)
            #expect(try Self.build(item.srv, body, like: frame, .esme) == expected, "\(item.vector)")
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func hostileValuesAreRefused() throws {
        let frame = try Self.vector("6.17_CS02c/CS02c_6.17_SUCCESS_PRECOMMAND_GBCS.HEX").frame
        let krp = try Self.template("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let joinTemplate = try Self.template("CS03A1_8.7.1_SUCCESS_REQUEST_DUIS.XML")
        let join = joinTemplate
        var path = krp
        for _ in 0..<3 {
            if let certificate = path.child("CertificationPathCertificates")?.child("Certificate"),
               let index = path.children.firstIndex(where: { $0.name == "CertificationPathCertificates" }) {
                path.children[index].children.append(certificate)
            }
        }
        let issue = try Self.template("CS02c_6.17_SUCCESS_REQUEST_DUIS.XML")
        let activate = try Self.template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let unjoin = try Self.template("CS04ACCritical_8.8.1_SUCCESS_REQUEST_DUIS.XML")
        let device = try Self.template("CS02d_6.15.2_SUCCESS_REQUEST_DUIS.XML")
        let refused: [(String, SRV, ElementTree, DeviceType, CriticalCommandBuilder.OtherDevice?)] = [
            ("bad credential type", "6.17", Self.setting(issue, ["CredentialType"], "Both"), .esme, nil),
            ("short hash", "11.3", Self.setting(activate, ["FirmwareHash"], "AA75"), .esme, nil),
            ("hash not hex", "11.3", Self.setting(activate, ["FirmwareHash"], String(repeating: "ZZ", count: 32)), .esme, nil),
            ("other device", "8.8.1", Self.setting(unjoin, ["OtherDeviceID"], "00-DB-12"), .esme, nil),
            ("certificate not base64", "6.15.2", Self.setting(device, ["DeviceCertificate"], "%%%"), .esme, nil),
            ("certificate not DER", "6.15.2", Self.setting(device, ["DeviceCertificate"], "MIIB"), .esme, nil),
            ("certificate too long", "6.15.2", Self.setting(device, ["DeviceCertificate"], String(repeating: "A", count: 4000)), .esme, nil),
            ("ACB role", "6.15.1", Self.setting(krp, ["RemotePartyRole"], "ACB"), .esme, nil),
            ("NO with a top-up floor", "6.15.1", Self.setting(krp, ["RemotePartyRole"], "NetworkOperator"), .esme, nil),
            ("no replacement", "6.15.1", Self.removing(krp, ["ReplacementCertificates", "SupplierOrNetworkOperatorCertificates"]), .esme, nil),
            ("four path certificates", "6.15.1", path, .esme, nil),
            ("floor too large", "6.15.1", Self.setting(krp, ["RemotePartyFloorSeqNumber"], "18446744073709551616"), .esme, nil),
            ("meter with meter", "8.7.1", join, .esme, .init(type: .esme, keyAgreementCertificate: nil)),
            ("no other device known", "8.7.1", join, .esme, nil),
            ("GSME with HCALCS", "8.7.1", join, .gsme, .init(type: .hcalcs, keyAgreementCertificate: nil)),
        ]
        for (reason, srv, body, type, other) in refused {
            #expect(throws: TransformError.self, "\(reason)") { try Self.build(srv, body, like: frame, type, other: other) }
        }
    }
}
