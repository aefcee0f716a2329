import DUIS
import Foundation
import Testing

/// `ReplacementCertificates`: the cells of 6.21, 6.23 and 8.5 exactly as DUIS's schema
/// defines them, so DCC's check, the command builder and the device read the same ones.
@Suite struct ReplacementCertificatesTests {
    static let der: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x07]
    static var base64: String { Data(der).base64EncodedString() }

    static func body(_ container: String, _ cells: [String]) -> ElementTree {
        ElementTree(name: "Body", children: [
            ElementTree(name: "RemotePartyRole", text: "Supplier"),
            ElementTree(name: container, children: cells.map { ElementTree(name: $0, text: base64) }),
        ])
    }

    @Test func eachSRVsCellsAreReadInOrder() throws {
        let handover = try ReplacementCertificates(srv: "6.21", body: Self.body("ReplacementCertificates", ["DigitalSigningCertificate", "KeyAgreementTopUpCertificate"]))
        #expect(handover.certificates.map(\.cell) == [.digitalSigning, .keyAgreementTopUp])
        #expect(handover[.digitalSigning] == Self.der && handover[.keyAgreement] == nil)
        let change = try ReplacementCertificates(srv: "6.23", body: Self.body("SupplierReplacementCertificates", ["DigitalSigningCertificate", "KeyAgreementCertificate"]))
        #expect(change.certificates.count == 2)
        // 8.5: the ACB's key agreement cell is required, its digital signing cell is not.
        let optOut = try ReplacementCertificates(srv: "8.5", body: Self.body("ReplacementCertificates", ["KeyAgreementCertificate"]))
        #expect(optOut.certificates.map(\.cell) == [.keyAgreement])
    }

    @Test func whatTheSchemaRefusesIsRefused() {
        let refused: [(SRV, ElementTree, String)] = [
            // 6.23's container is not 6.21's.
            ("6.23", Self.body("ReplacementCertificates", ["DigitalSigningCertificate"]), "holds 0"),
            ("6.21", Self.body("ReplacementCertificates", ["KeyAgreementCertificate"]), "requires"),
            ("8.5", Self.body("ReplacementCertificates", ["DigitalSigningCertificate"]), "requires"),
            ("8.5", Self.body("ReplacementCertificates", ["KeyAgreementCertificate", "KeyAgreementTopUpCertificate"]), "not one of"),
            ("6.21", Self.body("ReplacementCertificates", ["DigitalSigningCertificate", "OtherCertificate"]), "not one of"),
            ("6.21", Self.body("ReplacementCertificates", ["DigitalSigningCertificate", "DigitalSigningCertificate"]), "twice"),
            ("6.21", Self.body("ReplacementCertificates", ["KeyAgreementCertificate", "DigitalSigningCertificate"]), "order"),
            ("6.15.1", Self.body("ReplacementCertificates", ["DigitalSigningCertificate"]), "carries no"),
        ]
        for (srv, body, reason) in refused {
            #expect(throws: ReplacementCertificates.Problem.self, "\(srv) \(reason)") { try ReplacementCertificates(srv: srv, body: body) }
            do {
                _ = try ReplacementCertificates(srv: srv, body: body)
            } catch {
                #expect(error.reason.contains(reason), "\(srv): \(error.reason)")
            }
        }
        // Two containers, text that is not base64, a certificate past the bound, elements inside a cell.
        var two = Self.body("ReplacementCertificates", ["DigitalSigningCertificate"])
        two.children.append(two.children[1])
        #expect(throws: ReplacementCertificates.Problem.self) { try ReplacementCertificates(srv: "6.21", body: two) }
        var text = Self.body("ReplacementCertificates", ["DigitalSigningCertificate"])
        text.children[1].children[0].text = "not base64!"
        #expect(throws: ReplacementCertificates.Problem.self) { try ReplacementCertificates(srv: "6.21", body: text) }
        var long = Self.body("ReplacementCertificates", ["DigitalSigningCertificate"])
        long.children[1].children[0].text = Data(repeating: 0x30, count: ReplacementCertificates.maximumCertificate + 3).base64EncodedString()
        #expect(throws: ReplacementCertificates.Problem.self) { try ReplacementCertificates(srv: "6.21", body: long) }
        var nested = Self.body("ReplacementCertificates", ["DigitalSigningCertificate"])
        nested.children[1].children[0].children = [ElementTree(name: "Inner", text: Self.base64)]
        #expect(throws: ReplacementCertificates.Problem.self) { try ReplacementCertificates(srv: "6.21", body: nested) }
    }
}
