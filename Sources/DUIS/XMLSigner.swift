import CLibXML2
import Crypto

/// Signs any DUIS document the way DCC users do (the generic path, working on the parsed
/// tree): removes existing signatures (such as the templates' placeholders), appends an
/// enveloped `ds:Signature` to the root and computes digest and signature. Used by
/// `gbsm sign`, the benchmark client and tests. Server responses use `ResponseSigner`.
public enum XMLSigner {
    public enum Error: Swift.Error, CustomStringConvertible {
        case noRoot
        case canonicalization

        public var description: String {
            switch self {
            case .noRoot: return "the document has no root element"
            case .canonicalization: return "the document could not be canonicalised"
            }
        }
    }

    /// - Parameter referenceTransform: add an explicit C14N transform after the
    ///   enveloped-signature transform (DCC's own signatures use none, which means
    ///   inclusive C14N of the resulting node-set).
    public static func sign(_ document: XMLDocument, key: P256.Signing.PrivateKey, signer: SignerReference,
                            referenceTransform: CanonicalizationAlgorithm? = nil) throws -> [UInt8] {
        guard let root = document.root else { throw Error.noRoot }
        removeSignatures(root.pointer)

        let digestSink = CanonicalSink(hashing: true)
        do {
            try document.canonicalizeDocument(excluding: nil, algorithm: referenceTransform ?? .inclusive, into: digestSink)
        } catch {
            throw Error.canonicalization
        }
        guard let digestHasher = digestSink.hasher else { throw Error.canonicalization }
        let digest = encodeBase64(digestHasher.finalize())

        let doc = document.doc
        let signature = newElement(doc, "Signature")
        let ns = withXMLString(XMLDSig.namespace) { href in withXMLString("ds") { prefix in xmlNewNs(signature, href, prefix) } }
        xmlSetNs(signature, ns)
        let signedInfo = child(signature, ns, "SignedInfo")
        setAttribute(child(signedInfo, ns, "CanonicalizationMethod"), "Algorithm", CanonicalizationAlgorithm.exclusiveURI)
        setAttribute(child(signedInfo, ns, "SignatureMethod"), "Algorithm", XMLDSig.ecdsaSHA256)
        let reference = child(signedInfo, ns, "Reference")
        setAttribute(reference, "URI", "")
        let transforms = child(reference, ns, "Transforms")
        setAttribute(child(transforms, ns, "Transform"), "Algorithm", XMLDSig.envelopedSignature)
        if let referenceTransform {
            setAttribute(child(transforms, ns, "Transform"), "Algorithm", referenceTransform.uri)
        }
        setAttribute(child(reference, ns, "DigestMethod"), "Algorithm", XMLDSig.sha256)
        _ = child(reference, ns, "DigestValue", text: digest)
        let signatureValue = child(signature, ns, "SignatureValue")
        let keyInfo = child(signature, ns, "KeyInfo")
        let issuerSerial = child(child(keyInfo, ns, "X509Data"), ns, "X509IssuerSerial")
        _ = child(issuerSerial, ns, "X509IssuerName", text: signer.issuerName)
        _ = child(issuerSerial, ns, "X509SerialNumber", text: signer.serialNumber)
        xmlAddChild(root.pointer, signature)

        let sink = CanonicalSink(hashing: false)
        do {
            try document.canonicalizeSubtree(XMLNode(signedInfo), algorithm: .exclusive, into: sink)
        } catch {
            throw Error.canonicalization
        }
        let value = ECDSALowS.normalized(Array(try key.signature(for: sink.bytes ?? []).rawRepresentation))
        withXMLString(encodeBase64(value)) { xmlNodeSetContent(signatureValue, $0) }
        return document.serialized()
    }

    /// The document without its XML signatures, serialised (what a verifier hands on
    /// once the signature has been checked).
    public static func unsigned(_ document: XMLDocument) -> [UInt8] {
        if let root = document.root { removeSignatures(root.pointer) }
        return document.serialized()
    }

    private static func removeSignatures(_ node: xmlNodePtr) {
        var child = node.pointee.children
        while let current = child {
            child = current.pointee.next
            guard current.pointee.type == XML_ELEMENT_NODE else { continue }
            if XMLNode(current).is("Signature", in: "http://www.w3.org/2000/09/xmldsig#") {
                xmlUnlinkNode(current)
                xmlFreeNode(current)
            } else {
                removeSignatures(current)
            }
        }
    }

    private static func newElement(_ doc: xmlDocPtr, _ name: String) -> xmlNodePtr {
        withXMLString(name) { xmlNewDocNode(doc, nil, $0, nil) }
    }

    private static func child(_ parent: xmlNodePtr, _ ns: xmlNsPtr?, _ name: String, text: String? = nil) -> xmlNodePtr {
        withXMLString(name) { name in
            if let text {
                return withXMLString(text) { xmlNewTextChild(parent, ns, name, $0) }
            }
            return xmlNewChild(parent, ns, name, nil)
        }
    }

    private static func setAttribute(_ node: xmlNodePtr, _ name: String, _ value: String) {
        withXMLString(name) { name in withXMLString(value) { _ = xmlNewProp(node, name, $0) } }
    }
}

func withXMLString<R>(_ text: String, _ body: (UnsafePointer<xmlChar>) -> R) -> R {
    text.withCString { pointer in
        body(UnsafeRawPointer(pointer).assumingMemoryBound(to: xmlChar.self))
    }
}
