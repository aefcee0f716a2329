import Crypto
import DUIS
import Foundation
import SwiftASN1
import X509

/// The SMKI credentials of emulated devices: a digital-signing (DS) and a key-agreement
/// (KA) key pair for every Type 1 device, and device certificates in SMKI's device shape,
/// issued by gbsm's device CA.
///
/// Nothing per device is stored, so a fleet of millions costs nothing until asked: each
/// key is derived (HKDF-SHA256) from a seed (the fleet's, or 0 for devices outside a
/// fleet) and the device's EUI-64, and each certificate is issued when it is asked for.
/// The certificate serial carries the EUI and the usage, so a serial alone finds its
/// certificate again. The keys are test keys: anyone who knows the seed can derive them,
/// which is what a test environment wants (the GBCS work signs and MACs with them).
public struct DeviceCredentials: Sendable {
    public let ca: SMKICertificate
    let caKey: P256.Signing.PrivateKey

    public init(ca: SMKICertificate, caKey: P256.Signing.PrivateKey) {
        self.ca = ca
        self.caKey = caKey
    }

    /// The device CA of a data folder (`smki/device-ca.pem` and its key), created on first use.
    public static func open(smkiDirectory: URL, now: Date = Date()) throws -> DeviceCredentials {
        let certificateURL = smkiDirectory.appendingPathComponent("device-ca.pem")
        let keyURL = smkiDirectory.appendingPathComponent("device-ca-key.pem")
        if FileManager.default.fileExists(atPath: certificateURL.path), FileManager.default.fileExists(atPath: keyURL.path) {
            return DeviceCredentials(ca: try SMKICertificate(pem: try String(contentsOf: certificateURL, encoding: .utf8)),
                                     caKey: try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOf: keyURL, encoding: .utf8)))
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName([
            RelativeDistinguishedName(.init(type: .RDNAttributeType.organizationalUnitName, printableString: "04")),
            RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, printableString: "GBSMDEVICECA")),
        ])
        let certificate = try TestPKI.authorityCertificate(key: key, subject: name, issuer: name, issuerKey: key, pathLength: 0,
                                                           notBefore: now.addingTimeInterval(-86_400), notAfter: Self.notAfter)
        try FileManager.default.createDirectory(at: smkiDirectory, withIntermediateDirectories: true)
        try key.pemRepresentation.write(to: keyURL, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyURL.path)
        let ca = try SMKICertificate(der: try derBytes(certificate))
        try ca.pem.write(to: certificateURL, atomically: true, encoding: .utf8)
        return DeviceCredentials(ca: ca, caKey: key)
    }

    /// Device certificates do not expire (SMKI gives them 9999-12-31T23:59:59Z).
    static let notAfter = Date(timeIntervalSince1970: 253_402_300_799)
    /// SMKI's hardwareModuleName other name (RFC 4108), with a manufacturer's hardware type.
    static let hardwareModuleNameOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 8, 4]
    static let hardwareTypeOID: ASN1ObjectIdentifier = [1, 2, 826, 0, 1372, 1, 1, 2, 1]

    // MARK: - Keys

    /// The device's private key for `usage`, derived from `seed` and its EUI.
    public static func signingKey(eui: EUI64, seed: UInt64) -> P256.Signing.PrivateKey {
        deriveScalar(eui: eui, seed: seed, usage: .digitalSignature) { try P256.Signing.PrivateKey(rawRepresentation: $0) }
    }

    public static func keyAgreementKey(eui: EUI64, seed: UInt64) -> P256.KeyAgreement.PrivateKey {
        deriveScalar(eui: eui, seed: seed, usage: .keyAgreement) { try P256.KeyAgreement.PrivateKey(rawRepresentation: $0) }
    }

    /// The public key of the device's DS or KA key pair, as a certificate carries it.
    public static func publicKey(eui: EUI64, seed: UInt64, usage: Keystore.Usage) -> P256.Signing.PublicKey {
        switch usage {
        case .digitalSignature:
            return signingKey(eui: eui, seed: seed).publicKey
        case .keyAgreement:
            let raw = keyAgreementKey(eui: eui, seed: seed).publicKey.rawRepresentation
            // The same point, typed for the certificate.
            return (try? P256.Signing.PublicKey(rawRepresentation: raw)) ?? signingKey(eui: eui, seed: seed).publicKey
        }
    }

    /// HKDF-SHA256 over the seed and EUI; a derived value that is not a valid P-256
    /// scalar (one in 2^32) is derived again with a counter.
    private static func deriveScalar<Key>(eui: EUI64, seed: UInt64, usage: Keystore.Usage, _ make: ([UInt8]) throws -> Key) -> Key {
        var material = Array("gbsm device key v1".utf8)
        withUnsafeBytes(of: seed.bigEndian) { material += $0 }
        for attempt in UInt8(0)...UInt8.max {
            let info = Array((usage == .digitalSignature ? "DS" : "KA").utf8) + [attempt]
            let bytes = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: eui.bytes, info: info, outputByteCount: 32)
                .withUnsafeBytes { Array($0) }
            if let key = try? make(bytes) { return key }
        }
        preconditionFailure("256 HKDF outputs in a row were not P-256 scalars")
    }

    // MARK: - Serials

    /// A device certificate's serial: a marker, the usage, the EUI, and a check value, so
    /// that the serial alone leads back to the certificate and a made-up one does not.
    public static func serial(eui: EUI64, usage: Keystore.Usage) -> [UInt8] {
        let head: [UInt8] = [0x47, usage == .digitalSignature ? 0x01 : 0x02] + eui.bytes
        return head + check(head)
    }

    /// The EUI and usage a device certificate serial names, or nil when it is not one.
    public static func parseSerial(_ bytes: [UInt8]) -> (eui: EUI64, usage: Keystore.Usage)? {
        guard bytes.count == 16, bytes[0] == 0x47, bytes[1] == 0x01 || bytes[1] == 0x02 else { return nil }
        let head = Array(bytes[0..<10])
        guard Array(bytes[10...]) == check(head) else { return nil }
        let eui = EUI64(bytes[2..<10].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return (eui, bytes[1] == 0x01 ? .digitalSignature : .keyAgreement)
    }

    private static func check(_ head: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array("gbsm device serial".utf8) + head).prefix(6))
    }

    // MARK: - Certificates

    /// The device certificate for `usage`: issuer the device CA, an empty subject, the EUI
    /// as hwSerialNum in a critical subject alternative name, a critical key usage
    /// (digitalSignature or keyAgreement), SMKI's certificate policy, the CA's key
    /// identifier, valid from `notBefore` for ever.
    public func certificate(eui: EUI64, seed: UInt64, usage: Keystore.Usage, notBefore: Date) throws -> SMKICertificate {
        var hardwareModule = DER.Serializer()
        try hardwareModule.appendConstructedNode(identifier: .sequence) { sequence in
            try sequence.serialize(Self.hardwareTypeOID)
            try sequence.serialize(ASN1OctetString(contentBytes: eui.bytes[...]))
        }
        let otherName = GeneralName.OtherName(typeID: Self.hardwareModuleNameOID, value: try ASN1Any(derEncoded: hardwareModule.serializedBytes))
        let caKeyIdentifier = try ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(bytes: Self.serial(eui: eui, usage: usage)[...]),
            publicKey: .init(Self.publicKey(eui: eui, seed: seed, usage: usage)),
            notValidBefore: notBefore, notValidAfter: Self.notAfter,
            issuer: ca.certificate.subject, subject: DistinguishedName(),
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(usage == .digitalSignature ? KeyUsage(digitalSignature: true) : KeyUsage(keyAgreement: true))
                Critical(SubjectAlternativeNames([.otherName(otherName)]))
                try TestPKI.policiesExtension()
                if let caKeyIdentifier { AuthorityKeyIdentifier(keyIdentifier: caKeyIdentifier) }
            },
            issuerPrivateKey: .init(caKey))
        return try SMKICertificate(der: try derBytes(certificate))
    }
}

extension SMKICertificate {
    /// The serial number in upper-case hex, as SMKI's repository writes it.
    public var serialHex: String {
        var bytes = Array(certificate.serialNumber.bytes)
        while bytes.count > 1, bytes[0] == 0 { bytes.removeFirst() }
        return Hex.encode(bytes, uppercase: true)
    }

    /// The device EUI in the subject alternative name's hwSerialNum, if it has one.
    public var hardwareSerialEUI: EUI64? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        for name in names {
            guard case .otherName(let other) = name, other.typeID == DeviceCredentials.hardwareModuleNameOID, let value = other.value else { continue }
            var serializer = DER.Serializer()
            guard (try? serializer.serialize(value)) != nil, let node = try? DER.parse(serializer.serializedBytes),
                  case .constructed(let children) = node.content else { continue }
            var iterator = children.makeIterator()
            _ = iterator.next()
            guard let serialNode = iterator.next(), let octets = try? ASN1OctetString(derEncoded: serialNode), octets.bytes.count == 8 else { continue }
            return EUI64(octets.bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
        return nil
    }
}
