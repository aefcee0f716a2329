/// SMKI: the Smart Metering Key Infrastructure. Organisation certificates of DCC users
/// and of DCC itself (ECDSA P-256), the keystore format DCC Boxed ships its ZAZ1 test
/// PKI in, a generator for a fresh test PKI of the same shape, and devices' credentials
/// (keys derived from a seed and the EUI, device certificates issued on demand).
import Crypto
import DUIS
import Foundation
import SwiftASN1
import X509

/// Remote party roles as SMKI certificates carry them (the subject's OU, in hex).
public enum RemotePartyRole {
    public static let recovery = 1
    public static let supplier = 2
    public static let networkOperator = 3
    public static let accessControlBroker = 4
    public static let transitionalCoS = 5
    public static let wanProvider = 6
    public static let issuingAuthority = 7
    public static let loadController = 8
    public static let otherUser = 127
    /// A DCC user's XML-signing key (DUIS).
    public static let xmlSigning = 135
    /// DCC's own XML-signing key (the DSP signs every response with it).
    public static let dspXMLSigning = 137
}

public enum SMKIError: Error, CustomStringConvertible {
    case invalidPEM(String)
    case notP256(String)
    case keystore(String)

    public var description: String {
        switch self {
        case .invalidPEM(let detail): return "invalid PEM: \(detail)"
        case .notP256(let detail): return "not an ECDSA P-256 key: \(detail)"
        case .keystore(let detail): return "keystore: \(detail)"
        }
    }
}

/// An organisation certificate with the fields gbsm needs read out once.
public struct SMKICertificate: Sendable, Hashable {
    public let certificate: Certificate
    public let der: [UInt8]
    /// The serial number in decimal, as KeyInfo writes it.
    public let serialNumber: String
    /// The issuer in RFC 4514 order (`CN=Z1,OU=07`), as KeyInfo writes it.
    public let issuerName: String
    /// The subject's EUI-64 (the x500UniqueIdentifier attribute).
    public let subjectEUI: EUI64?
    /// The remote party role in the subject's OU (hex), e.g. 135 for `OU=87`.
    public let role: Int?

    static let uniqueIdentifierOID: ASN1ObjectIdentifier = [2, 5, 4, 45]

    public init(der: [UInt8]) throws {
        let certificate = try Certificate(derEncoded: der)
        self.certificate = certificate
        self.der = der
        self.serialNumber = decimalString(bigEndian: Array(certificate.serialNumber.bytes))
        self.issuerName = certificate.issuer.description
        var eui: EUI64?
        var role: Int?
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == Self.uniqueIdentifierOID {
                    if let bits = try? ASN1BitString(asn1Any: ASN1Any(attribute.value)) {
                        eui = EUI64(bytes: bits.bytes)
                    }
                } else if attribute.type == .RDNAttributeType.organizationalUnitName, let text = String(attribute.value) {
                    role = Int(text, radix: 16)
                }
            }
        }
        self.subjectEUI = eui
        self.role = role
    }

    public init(pem: String) throws {
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: pem)
        } catch {
            throw SMKIError.invalidPEM("\(error)")
        }
        try self.init(der: document.derBytes)
    }

    public var pem: String {
        PEMDocument(type: "CERTIFICATE", derBytes: der).pemString
    }

    /// The ECDSA P-256 public key.
    public var signingKey: P256.Signing.PublicKey? { P256.Signing.PublicKey(certificate.publicKey) }

    /// How a signature made with this certificate's key names it in KeyInfo.
    public var signerReference: SignerReference {
        SignerReference(issuerName: issuerName, serialNumber: serialNumber)
    }

    /// Whether `issuer` issued this certificate: this one names it as issuer, and its key
    /// verifies this one's signature.
    public func isIssued(by issuer: SMKICertificate) -> Bool {
        issuer.certificate.subject == certificate.issuer && issuer.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
    }

    public static func == (lhs: SMKICertificate, rhs: SMKICertificate) -> Bool { lhs.der == rhs.der }
    public func hash(into hasher: inout Hasher) { hasher.combine(der) }
}

/// Converts a big-endian unsigned integer to decimal without a big-number library.
public func decimalString(bigEndian bytes: [UInt8]) -> String {
    var number = Array(bytes.drop(while: { $0 == 0 }))
    if number.isEmpty { return "0" }
    var digits: [UInt8] = []
    while !number.isEmpty {
        var remainder: UInt32 = 0
        var quotient: [UInt8] = []
        quotient.reserveCapacity(number.count)
        for byte in number {
            let value = remainder << 8 | UInt32(byte)
            let q = value / 10
            remainder = value % 10
            if !(quotient.isEmpty && q == 0) { quotient.append(UInt8(q)) }
        }
        digits.append(UInt8(remainder) + 48)
        number = quotient
    }
    return String(decoding: digits.reversed(), as: UTF8.self)
}
