import Crypto
import DUIS
import Foundation
import Testing
import TestSupport
@testable import SMKI

@Suite struct KeystoreTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func zaz1KeystoreLoads() throws {
        let keystore = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"))
        let supplier = try #require(EUI64("90-B3-D5-1F-30-01-00-00"))
        let entry = try #require(keystore.xmlSigningEntry(for: supplier))
        #expect(entry.certificate.role == 135)
        #expect(entry.certificate.subjectEUI == supplier)
        #expect(entry.certificate.issuerName == "CN=Z1,OU=07")
        #expect(entry.certificate.serialNumber == "27572613927499351639968579586655397031")
        let key = try #require(entry.signingKey)
        #expect(key.publicKey.rawRepresentation == entry.certificate.signingKey?.rawRepresentation)

        let dsp = try #require(keystore.dspSigner)
        #expect(dsp.eui == EUI64("90-B3-D5-1F-30-00-00-02"))
        #expect(dsp.certificate.role == 137)
        // The DSP certificate is the one DCC Boxed's real responses name in KeyInfo.
        #expect(keystore.userXMLSigning.count == 3)
        // The two "mdr" certificates encode their signature algorithm with NULL parameters,
        // which swift-certificates refuses; they are reported, not fatal.
        #expect(keystore.skipped.count == 2)
        #expect(keystore.skipped.allSatisfy { $0.hasPrefix("90-B3-D5-1F-30-01-00-09") })
    }

    @Test func decimalSerials() {
        #expect(decimalString(bigEndian: [0x00]) == "0")
        #expect(decimalString(bigEndian: [0x01, 0x00]) == "256")
        #expect(decimalString(bigEndian: [0x14, 0xBE, 0x4A, 0xD2, 0xEA, 0x1D, 0x0E, 0x4E, 0xC7, 0xF7, 0x15, 0x6B, 0xD2, 0x46, 0x24, 0xA7]) == "27572613927499351639968579586655397031")
    }

    @Test func rejectsBrokenKeystores() {
        #expect(throws: SMKIError.self) { try Keystore.decode(Data("[]".utf8)) }
        #expect(throws: SMKIError.self) { try Keystore.decode(Data(#"{"zz": {}}"#.utf8)) }
        #expect(throws: SMKIError.self) { try Keystore.decode(Data(#"{"90b3d51f30010000": {"digitalSignature": {"1": {"certificate": "nope"}}}}"#.utf8)) }
        #expect(throws: SMKIError.self) { try Keystore.decode(Data(#"{"90b3d51f30010000": {"signing": {}}}"#.utf8)) }
    }
}

@Suite struct TestPKITests {
    @Test func generatedPKIHasSMKIShape() throws {
        let user = try #require(EUI64("90-B3-D5-1F-30-01-00-00"))
        let dcc = try #require(EUI64("90-B3-D5-1F-30-00-00-02"))
        let pki = try TestPKI.generate(parties: [
            .init(eui: user, name: "supplier", signingRoles: [135, 2], keyAgreementRoles: [2]),
            .init(eui: dcc, name: "dcc", signingRoles: [137]),
        ])
        #expect(pki.keystore.entries.count == 4)
        let xml = try #require(pki.keystore.xmlSigningEntry(for: user))
        #expect(xml.certificate.subjectEUI == user)
        #expect(xml.certificate.role == 135)
        #expect(xml.certificate.issuerName == "CN=G1,OU=07")
        #expect(pki.verifies(xml.certificate))
        #expect(pki.keystore.dspSigner?.eui == dcc)

        let directory = try TemporaryDirectory()
        try pki.write(to: directory.url)
        let reloaded = try TestPKI.load(from: directory.url)
        #expect(Set(reloaded.keystore.entries.map(\.certificate)) == Set(pki.keystore.entries.map(\.certificate)))

        if let openssl = Tool.find("openssl") {
            try xml.certificate.pem.write(to: directory.file("user.pem"), atomically: true, encoding: .utf8)
            let text = try Tool.run(openssl, ["x509", "-in", directory.file("user.pem").path, "-noout", "-text"])
            #expect(text.status == 0)
            #expect(text.stdout.contains("1.2.826.0.1.8641679.1.2.1.4"))
            #expect(text.stdout.contains("OU = 87"))
            try pki.issuingCA.pem.write(to: directory.file("ca.pem"), atomically: true, encoding: .utf8)
            try pki.root.pem.write(to: directory.file("root.pem"), atomically: true, encoding: .utf8)
            let chain = try Tool.run(openssl, ["verify", "-partial_chain", "-CAfile", directory.file("root.pem").path,
                                               "-untrusted", directory.file("ca.pem").path, "-policy_check", "-explicit_policy",
                                               "-policy", "1.2.826.0.1.8641679.1.2.1.4", directory.file("user.pem").path])
            #expect(chain.status == 0, "openssl verify: \(chain.stdout) \(chain.stderr)")
        }
    }
}
