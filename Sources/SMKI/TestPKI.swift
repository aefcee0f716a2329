import Crypto
import DUIS
import Foundation
import SwiftASN1
import X509

/// Generates a test PKI shaped like SMKI's: a root, an organisation issuing CA, and
/// organisation certificates whose subject carries the remote party role (OU, in hex)
/// and the party's EUI-64 (x500UniqueIdentifier), with the SMKI organisation
/// certificate policy, a critical key usage and a subject key identifier.
public struct TestPKI: Sendable {
    public var root: SMKICertificate
    public var rootKeyPEM: String
    public var issuingCA: SMKICertificate
    public var issuingCAKeyPEM: String
    public var keystore: Keystore

    /// One party and the certificates it needs.
    public struct Party: Sendable {
        public var eui: EUI64
        public var name: String
        /// Remote party roles to issue digital-signature certificates for (135 for a
        /// user's DUIS XML-signing key, 137 for DCC's, 2/3/4/127 for GBCS roles).
        public var signingRoles: [Int]
        /// Remote party roles to issue key-agreement certificates for.
        public var keyAgreementRoles: [Int]

        public init(eui: EUI64, name: String, signingRoles: [Int], keyAgreementRoles: [Int] = []) {
            self.eui = eui
            self.name = name
            self.signingRoles = signingRoles
            self.keyAgreementRoles = keyAgreementRoles
        }
    }

    public init(root: SMKICertificate, rootKeyPEM: String, issuingCA: SMKICertificate, issuingCAKeyPEM: String, keystore: Keystore) {
        self.root = root
        self.rootKeyPEM = rootKeyPEM
        self.issuingCA = issuingCA
        self.issuingCAKeyPEM = issuingCAKeyPEM
        self.keystore = keystore
    }

    static let organisationPolicy: ASN1ObjectIdentifier = [1, 2, 826, 0, 1, 8_641_679, 1, 2, 1, 4]
    static let certificatePoliciesOID: ASN1ObjectIdentifier = [2, 5, 29, 32]

    static func policiesExtension() throws -> Certificate.Extension {
        var policies = DER.Serializer()
        try policies.appendConstructedNode(identifier: .sequence) { sequence in
            try sequence.appendConstructedNode(identifier: .sequence) { information in
                try information.serialize(TestPKI.organisationPolicy)
            }
        }
        return Certificate.Extension(oid: TestPKI.certificatePoliciesOID, critical: true, value: policies.serializedBytes[...])
    }

    public static func generate(parties: [Party], rootName: String = "G0", issuerName: String = "G1", now: Date = Date()) throws -> TestPKI {
        let notBefore = now.addingTimeInterval(-86_400)
        let notAfter = now.addingTimeInterval(100 * 365.25 * 86_400)

        let rootKey = P256.Signing.PrivateKey()
        let rootDN = try authorityName(unit: "00", name: rootName)
        let root = try authorityCertificate(key: rootKey, subject: rootDN, issuer: rootDN, issuerKey: rootKey, pathLength: 1,
                                            notBefore: notBefore, notAfter: notAfter)
        let caKey = P256.Signing.PrivateKey()
        let ca = try authorityCertificate(key: caKey, subject: try authorityName(unit: "07", name: issuerName), issuer: rootDN, issuerKey: rootKey,
                                          pathLength: 0, notBefore: notBefore, notAfter: notAfter)

        var pki = TestPKI(
            root: try SMKICertificate(der: try derBytes(root)),
            rootKeyPEM: rootKey.pemRepresentation,
            issuingCA: try SMKICertificate(der: try derBytes(ca)),
            issuingCAKeyPEM: caKey.pemRepresentation,
            keystore: Keystore())
        for party in parties {
            try pki.issue(for: party, now: now)
        }
        return pki
    }

    static func authorityName(unit: String, name: String) throws -> DistinguishedName {
        try DistinguishedName([
            RelativeDistinguishedName(.init(type: .RDNAttributeType.organizationalUnitName, printableString: unit)),
            RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, printableString: name)),
        ])
    }

    static func authorityCertificate(key: P256.Signing.PrivateKey, subject: DistinguishedName, issuer: DistinguishedName,
                                     issuerKey: P256.Signing.PrivateKey, pathLength: Int, notBefore: Date, notAfter: Date) throws -> Certificate {
        try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: issuer, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: pathLength))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
                try TestPKI.policiesExtension()
            },
            issuerPrivateKey: .init(issuerKey))
    }

    /// Issues a party's certificates from the issuing CA and adds them to the keystore.
    public mutating func issue(for party: Party, now: Date = Date()) throws {
        for role in party.signingRoles {
            try issue(eui: party.eui, role: role, usage: .digitalSignature, name: "\(party.name)-\(role)-ds", now: now)
        }
        for role in party.keyAgreementRoles {
            try issue(eui: party.eui, role: role, usage: .keyAgreement, name: "\(party.name)-\(role)-ka", now: now)
        }
    }

    @discardableResult
    public mutating func issue(eui: EUI64, role: Int, usage: Keystore.Usage, name: String, now: Date = Date()) throws -> Keystore.Entry {
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: issuingCAKeyPEM)
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName([
            RelativeDistinguishedName(.init(type: .RDNAttributeType.organizationalUnitName, printableString: String(format: "%02X", role))),
            RelativeDistinguishedName(.init(type: SMKICertificate.uniqueIdentifierOID,
                                            value: .init(asn1Any: try ASN1Any(erasing: ASN1BitString(bytes: eui.bytes[...]))))),
        ])
        let keyIdentifier = Array(SHA256.hash(data: key.publicKey.x963Representation).prefix(8))
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(bytes: (0..<16).map { _ in UInt8.random(in: 0...255) }),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(100 * 365.25 * 86_400),
            issuer: issuingCA.certificate.subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                try TestPKI.policiesExtension()
                SubjectKeyIdentifier(keyIdentifier: keyIdentifier[...])
                Critical(usage == .digitalSignature ? KeyUsage(digitalSignature: true) : KeyUsage(keyAgreement: true))
            },
            issuerPrivateKey: .init(caKey))
        let entry = Keystore.Entry(
            eui: eui, usage: usage,
            certificate: try SMKICertificate(der: try derBytes(certificate)),
            privateKeyPEM: key.pemRepresentation, role: role, name: name)
        keystore.entries.append(entry)
        return entry
    }

    /// Writes `keystore.json` (ZAZ1 format), `root.pem`, `issuing-ca.pem` and the CA keys.
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try keystore.write(to: directory.appendingPathComponent("keystore.json"))
        try root.pem.write(to: directory.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        try issuingCA.pem.write(to: directory.appendingPathComponent("issuing-ca.pem"), atomically: true, encoding: .utf8)
        try rootKeyPEM.write(to: directory.appendingPathComponent("root-key.pem"), atomically: true, encoding: .utf8)
        try issuingCAKeyPEM.write(to: directory.appendingPathComponent("issuing-ca-key.pem"), atomically: true, encoding: .utf8)
    }

    /// Reads a test PKI written by `write(to:)`.
    public static func load(from directory: URL) throws -> TestPKI {
        func read(_ name: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }
        return TestPKI(
            root: try SMKICertificate(pem: try read("root.pem")), rootKeyPEM: try read("root-key.pem"),
            issuingCA: try SMKICertificate(pem: try read("issuing-ca.pem")), issuingCAKeyPEM: try read("issuing-ca-key.pem"),
            keystore: try Keystore.load(from: directory.appendingPathComponent("keystore.json")))
    }

    /// Checks that a certificate was issued by this PKI's issuing CA.
    public func verifies(_ certificate: SMKICertificate) -> Bool {
        guard let caKey = P256.Signing.PublicKey(issuingCA.certificate.publicKey) else { return false }
        return Certificate.PublicKey(caKey).isValidSignature(certificate.certificate.signature, for: certificate.certificate)
    }
}

func derBytes(_ certificate: Certificate) throws -> [UInt8] {
    var serializer = DER.Serializer()
    try serializer.serialize(certificate)
    return serializer.serializedBytes
}
