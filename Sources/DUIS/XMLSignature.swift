import CLibXML2
import Crypto
import Foundation

/// Algorithm identifiers of the XML signatures DUIS uses.
public enum XMLDSig {
    public static let namespace = "http://www.w3.org/2000/09/xmldsig#"
    public static let ecdsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    public static let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    public static let envelopedSignature = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
}

/// Names the signer's certificate as KeyInfo does: issuer distinguished name and serial.
public struct SignerReference: Hashable, Sendable, CustomStringConvertible {
    /// The issuer name as written in the document.
    public var issuerName: String
    /// The serial number in decimal, without leading zeros.
    public var serialNumber: String

    public init(issuerName: String, serialNumber: String) {
        self.issuerName = issuerName
        self.serialNumber = SignerReference.normalizeSerial(serialNumber) ?? serialNumber
    }

    /// A form of the issuer name in which `CN=Z1, OU=07` and `cn=z1,ou=07` agree.
    public var normalizedIssuer: String { DistinguishedNameText.normalize(issuerName) }

    public var description: String { "issuer \"\(issuerName)\" serial \(serialNumber)" }

    static func normalizeSerial(_ text: String) -> String? {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let stripped = trimmed.drop(while: { $0 == "0" })
        return stripped.isEmpty ? "0" : String(stripped)
    }
}

/// Compares distinguished names in their RFC 4514 text form, as KeyInfo carries them.
public enum DistinguishedNameText {
    /// Splits on unescaped commas, trims spaces around each component and around `=`,
    /// upper-cases attribute types and lower-cases values.
    public static func normalize(_ text: String) -> String {
        var components: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == "," || character == ";" {
                components.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        components.append(current)
        return components.map { component -> String in
            guard let equals = component.firstIndex(of: "=") else { return component.trimmingWhitespace().lowercased() }
            var type = String(component[..<equals]).trimmingWhitespace().uppercased()
            switch type {
            case "2.5.4.3": type = "CN"
            case "2.5.4.11": type = "OU"
            case "2.5.4.10": type = "O"
            case "2.5.4.6": type = "C"
            default: break
            }
            let value = String(component[component.index(after: equals)...]).trimmingWhitespace().lowercased()
            return type + "=" + value
        }.joined(separator: ",")
    }
}

/// Why a signature was refused. The request it protects is not processed.
public enum SignatureError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing
    case multiple
    case misplaced
    case malformed(String)
    case unsupported(String)
    case placeholder
    case unknownSigner(SignerReference)
    case signerMismatch(String)
    case digestMismatch
    case invalidSignature

    public var description: String {
        switch self {
        case .missing: return "the request carries no XML signature"
        case .multiple: return "the request carries more than one XML signature"
        case .misplaced: return "the signature must be the last child of the root element"
        case .malformed(let detail): return "malformed XML signature: \(detail)"
        case .unsupported(let detail): return "unsupported XML signature: \(detail)"
        case .placeholder: return "the signature is the template's placeholder; sign the request with your XML-signing key"
        case .unknownSigner(let reference): return "no registered XML-signing certificate for \(reference)"
        case .signerMismatch(let detail): return "signer does not match the request originator: \(detail)"
        case .digestMismatch: return "reference digest mismatch: the request was altered after it was signed"
        case .invalidSignature: return "signature value does not verify against the signer's certificate"
        }
    }
}

/// An enveloped signature found in a document, with everything needed to check it.
public struct EnvelopedSignature {
    let element: XMLNode
    let signedInfo: XMLNode
    public let signer: SignerReference
    public let signedInfoCanonicalization: CanonicalizationAlgorithm
    public let referenceCanonicalization: CanonicalizationAlgorithm
    let digestValue: [UInt8]
    let signatureValue: [UInt8]

    private static let placeholderValue = Array("default".utf8)

    /// Finds and structurally checks the signature: exactly one `ds:Signature`, the last
    /// element child of the root; one Reference to the whole document (`URI=""`) with
    /// the enveloped-signature transform (optionally followed by a C14N transform);
    /// ECDSA P-256 with SHA-256; KeyInfo naming the certificate by issuer and serial;
    /// no `ds:Object` (which signature-wrapping attacks rely on).
    public static func locate(in document: XMLDocument) throws(SignatureError) -> EnvelopedSignature {
        guard let root = document.root else { throw .missing }
        var found: [XMLNode] = []
        collectSignatures(root.pointer, into: &found)
        guard !found.isEmpty else { throw .missing }
        guard found.count == 1 else { throw .multiple }
        let signature = found[0]
        guard signature.parent?.pointer == root.pointer, signature.nextSiblingElement == nil else { throw .misplaced }

        let children = signature.children
        guard children.count >= 2, children.count <= 3 else { throw .malformed("Signature must hold SignedInfo, SignatureValue and KeyInfo") }
        let signedInfo = children[0]
        guard signedInfo.is("SignedInfo", in: "http://www.w3.org/2000/09/xmldsig#") else { throw .malformed("SignedInfo must come first") }
        let signatureValueNode = children[1]
        guard signatureValueNode.is("SignatureValue", in: "http://www.w3.org/2000/09/xmldsig#") else { throw .malformed("SignatureValue must follow SignedInfo") }
        guard children.count == 3, children[2].is("KeyInfo", in: "http://www.w3.org/2000/09/xmldsig#") else {
            throw .malformed("KeyInfo with X509IssuerSerial is required")
        }
        let keyInfo = children[2]

        // SignedInfo: CanonicalizationMethod, SignatureMethod, exactly one Reference.
        let infoChildren = signedInfo.children
        guard infoChildren.count == 3,
              infoChildren[0].is("CanonicalizationMethod", in: "http://www.w3.org/2000/09/xmldsig#"),
              infoChildren[1].is("SignatureMethod", in: "http://www.w3.org/2000/09/xmldsig#"),
              infoChildren[2].is("Reference", in: "http://www.w3.org/2000/09/xmldsig#")
        else { throw .malformed("SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference") }
        let c14nURI = infoChildren[0].attribute("Algorithm") ?? ""
        guard infoChildren[0].children.isEmpty, let signedInfoC14N = CanonicalizationAlgorithm(uri: c14nURI) else {
            throw .unsupported("CanonicalizationMethod \(c14nURI)")
        }
        let signatureMethod = infoChildren[1].attribute("Algorithm") ?? ""
        guard signatureMethod == XMLDSig.ecdsaSHA256 else { throw .unsupported("SignatureMethod \(signatureMethod)") }

        let reference = infoChildren[2]
        guard let uri = reference.attribute("URI") else { throw .malformed("the Reference must have URI=\"\"") }
        guard uri.isEmpty else { throw .unsupported("Reference URI \"\(uri)\" (only the whole document, URI=\"\", is accepted)") }
        let referenceChildren = reference.children
        guard referenceChildren.count == 3,
              referenceChildren[0].is("Transforms", in: "http://www.w3.org/2000/09/xmldsig#"),
              referenceChildren[1].is("DigestMethod", in: "http://www.w3.org/2000/09/xmldsig#"),
              referenceChildren[2].is("DigestValue", in: "http://www.w3.org/2000/09/xmldsig#")
        else { throw .malformed("Reference must hold Transforms, DigestMethod and DigestValue") }
        let transforms = referenceChildren[0].children
        guard !transforms.isEmpty, transforms.count <= 2,
              transforms.allSatisfy({ $0.is("Transform", in: "http://www.w3.org/2000/09/xmldsig#") && $0.children.isEmpty })
        else { throw .unsupported("the Transforms must be enveloped-signature, optionally followed by a canonicalisation") }
        guard transforms[0].attribute("Algorithm") == XMLDSig.envelopedSignature else {
            throw .unsupported("the first Transform must be enveloped-signature")
        }
        var referenceC14N = CanonicalizationAlgorithm.inclusive
        if transforms.count == 2 {
            let transformURI = transforms[1].attribute("Algorithm") ?? ""
            guard let algorithm = CanonicalizationAlgorithm(uri: transformURI) else {
                throw .unsupported("Transform \(transformURI)")
            }
            referenceC14N = algorithm
        }
        let digestMethod = referenceChildren[1].attribute("Algorithm") ?? ""
        guard digestMethod == XMLDSig.sha256 else { throw .unsupported("DigestMethod \(digestMethod)") }
        // One encoding only: canonical base64 (whitespace aside), so a signature has exactly
        // one textual form (no extra padding, no stray bits).
        guard let digest = decodeBase64(referenceChildren[2].text, canonical: true) else { throw .malformed("DigestValue is not canonical base64") }
        guard let signatureValue = decodeBase64(signatureValueNode.text, canonical: true) else { throw .malformed("SignatureValue is not canonical base64") }
        if digest == placeholderValue || signatureValue == placeholderValue { throw .placeholder }
        guard digest.count == 32 else { throw .malformed("a SHA-256 DigestValue is 32 octets, found \(digest.count)") }
        guard signatureValue.count == 64 else { throw .malformed("an ECDSA P-256 SignatureValue is 64 octets (r||s), found \(signatureValue.count)") }

        // KeyInfo / X509Data / X509IssuerSerial
        guard let x509Data = keyInfo.children.first(where: { $0.is("X509Data", in: "http://www.w3.org/2000/09/xmldsig#") }),
              let issuerSerial = x509Data.children.first(where: { $0.is("X509IssuerSerial", in: "http://www.w3.org/2000/09/xmldsig#") })
        else { throw .malformed("KeyInfo must name the certificate with X509Data/X509IssuerSerial") }
        let parts = issuerSerial.children
        guard parts.count == 2,
              parts[0].is("X509IssuerName", in: "http://www.w3.org/2000/09/xmldsig#"),
              parts[1].is("X509SerialNumber", in: "http://www.w3.org/2000/09/xmldsig#")
        else { throw .malformed("X509IssuerSerial must hold X509IssuerName and X509SerialNumber") }
        let issuerName = parts[0].text.trimmingWhitespace()
        guard !issuerName.isEmpty, let serial = SignerReference.normalizeSerial(parts[1].text) else {
            throw .malformed("X509IssuerName or X509SerialNumber is empty or not a decimal")
        }
        return EnvelopedSignature(
            element: signature, signedInfo: signedInfo,
            signer: SignerReference(issuerName: issuerName, serialNumber: serial),
            signedInfoCanonicalization: signedInfoC14N, referenceCanonicalization: referenceC14N,
            digestValue: digest, signatureValue: signatureValue)
    }

    /// Checks the signature over the canonical SignedInfo with `key`, then recomputes the
    /// reference digest over the document without this signature.
    public func verify(in document: XMLDocument, key: P256.Signing.PublicKey) throws(SignatureError) {
        // The signature over the small SignedInfo first: only a request its signer really
        // signed goes on to the costlier digest of the whole document.
        let signedInfoDigest: SHA256.Digest
        do {
            let sink = CanonicalSink(hashing: true)
            try document.canonicalizeSubtree(signedInfo, algorithm: signedInfoCanonicalization, into: sink)
            guard let hasher = sink.hasher else { throw SignatureError.malformed("SignedInfo digest could not be computed") }
            signedInfoDigest = hasher.finalize()
        } catch {
            throw .malformed("SignedInfo could not be canonicalised")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureValue),
              key.isValidSignature(signature, for: signedInfoDigest)
        else { throw .invalidSignature }

        let digest: SHA256.Digest
        do {
            let sink = CanonicalSink(hashing: true)
            try document.canonicalizeDocument(excluding: element, algorithm: referenceCanonicalization, into: sink)
            guard let hasher = sink.hasher else { throw SignatureError.malformed("digest could not be computed") }
            digest = hasher.finalize()
        } catch {
            throw .malformed("the document could not be canonicalised")
        }
        guard digest.elementsEqual(digestValue) else { throw .digestMismatch }
    }

    private static func collectSignatures(_ node: xmlNodePtr, into found: inout [XMLNode]) {
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE {
                let element = XMLNode(current)
                if element.is("Signature", in: "http://www.w3.org/2000/09/xmldsig#") {
                    found.append(element)
                }
                collectSignatures(current, into: &found)
            }
            child = current.pointee.next
        }
    }
}

/// Base64 as XML signatures carry it: line breaks and other whitespace (including the
/// `&#13;` some Java signers emit) are ignored.
/// Base64 with whitespace anywhere. With `canonical`, only the one encoding of the bytes
/// is accepted: a length that is a multiple of four, padding only where needed, and
/// unused bits zero (the text must be what encoding the result gives back).
public func decodeBase64(_ text: String, canonical: Bool = false) -> [UInt8]? {
    var cleaned = [UInt8]()
    cleaned.reserveCapacity(text.utf8.count)
    for byte in text.utf8 where byte != 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D {
        cleaned.append(byte)
    }
    guard let data = Data(base64Encoded: Data(cleaned)) else { return nil }
    if canonical {
        guard cleaned.count % 4 == 0, Array(data.base64EncodedData()) == cleaned else { return nil }
    }
    return [UInt8](data)
}

/// ECDSA P-256 signatures in one form: `s` in the lower half of the group order. Both
/// (r, s) and (r, n − s) verify; gbsm's own signatures always carry the low one.
public enum ECDSALowS {
    /// The order n of P-256, big-endian.
    static let order: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51]
    /// n / 2 (rounded down), big-endian.
    static let halfOrder: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                     0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8]

    /// Whether the raw signature r‖s (64 octets) has s above n/2.
    public static func isHigh(_ raw: [UInt8]) -> Bool {
        guard raw.count == 64 else { return false }
        return Array(raw[32...]).lexicographicallyPrecedes(halfOrder) == false && Array(raw[32...]) != halfOrder
    }

    /// r‖s with s replaced by n − s when it is high.
    public static func normalized(_ raw: [UInt8]) -> [UInt8] {
        guard isHigh(raw) else { return raw }
        var result = Array(raw[..<32])
        var s = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for index in stride(from: 31, through: 0, by: -1) {
            var difference = Int(order[index]) - Int(raw[32 + index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            s[index] = UInt8(difference)
        }
        result += s
        return result
    }
}

public func encodeBase64(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString()
}
