import Crypto

/// A DUIS Response (`sr:Response`) before it is signed: header and one body.
public struct DUISResponse: Sendable {
    public enum Body: Sendable {
        /// `ResponseMessage`: service reference and variant, then at most one payload
        /// element that `payload` writes.
        case message(serviceReference: String, srv: String, payload: (@Sendable (inout CanonicalXMLWriter) -> Void)?)
        /// `DCCAlertMessage` with its alert code and the `DCCAlert` payload.
        case dccAlert(code: String, payload: @Sendable (inout CanonicalXMLWriter) -> Void)
        /// `DeviceAlertMessage`: a device's alert code and its payload (base64 of the
        /// device's message).
        case deviceAlert(code: String, payload: String)
    }

    public var schemaVersion: String
    public var requestID: String?
    public var responseID: String?
    public var code: ResponseCode
    public var dateTime: Timestamp
    public var body: Body

    public init(schemaVersion: String, requestID: String?, responseID: String? = nil, code: ResponseCode, dateTime: Timestamp, body: Body) {
        self.schemaVersion = schemaVersion
        self.requestID = requestID
        self.responseID = responseID
        self.code = code
        self.dateTime = dateTime
        self.body = body
    }

    /// The canonical document up to (not including) the root's end tag, where the
    /// signature goes.
    func canonicalOpenDocument() -> [UInt8] {
        var writer = CanonicalXMLWriter(capacity: 2048)
        writer.open("sr:Response", namespaces: [("sr", DUISNamespace.serviceUserGateway)], attributes: [("schemaVersion", schemaVersion)])
        writer.open("sr:Header")
        if let requestID { writer.element("sr:RequestID", requestID) }
        if let responseID { writer.element("sr:ResponseID", responseID) }
        writer.element("sr:ResponseCode", code.rawValue)
        writer.element("sr:ResponseDateTime", dateTime.iso8601)
        writer.close()
        writer.open("sr:Body")
        switch body {
        case .message(let serviceReference, let srv, let payload):
            writer.open("sr:ResponseMessage")
            writer.element("sr:ServiceReference", serviceReference)
            writer.element("sr:ServiceReferenceVariant", srv)
            payload?(&writer)
            writer.close()
        case .deviceAlert(let code, let payload):
            writer.open("sr:DeviceAlertMessage")
            writer.element("sr:AlertCode", code)
            writer.element("sr:GBCSPayload", payload)
            writer.close()
        case .dccAlert(let code, let payload):
            writer.open("sr:DCCAlertMessage")
            writer.element("sr:DCCAlertCode", code)
            writer.open("sr:DCCAlert")
            payload(&writer)
            writer.close()
            writer.close()
        }
        writer.close()  // Body
        return writer.finish()
    }
}

/// Signs DUIS responses with an XML-signing key (for DCC, the DSP key of role 137):
/// enveloped signature, exclusive C14N of SignedInfo, ECDSA P-256 over SHA-256, KeyInfo
/// naming the certificate by issuer and serial, the same form DCC uses.
public struct ResponseSigner: Sendable {
    public let key: P256.Signing.PrivateKey
    public let reference: SignerReference

    public init(key: P256.Signing.PrivateKey, reference: SignerReference) {
        self.key = key
        self.reference = reference
    }

    private static let rootEnd = Array("</sr:Response>".utf8)
    private static let canonicalSignedInfoOpen = Array("<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">".utf8)
    private static let signedInfoOpen = Array("<ds:SignedInfo>".utf8)
    private static let declaration = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".utf8)

    /// Signs a response. `comment`, if given, is written as an XML comment before the
    /// root element (outside what the signature covers): gbsm puts the reason for a
    /// refusal there.
    public func sign(_ response: DUISResponse, comment: String? = nil) -> [UInt8] {
        signDocument(openCanonical: response.canonicalOpenDocument(), rootEnd: Self.rootEnd, comment: comment)
    }

    /// Signs a document given in canonical form with its root element left open. The
    /// reference digest is over the document without the signature, which, with the
    /// signature as the root's last child, is the open document plus the root's end tag.
    public func signDocument(openCanonical: [UInt8], rootEnd: [UInt8], comment: String? = nil) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: openCanonical)
        hasher.update(data: rootEnd)
        let digest = encodeBase64(hasher.finalize())

        var signedInfo = CanonicalXMLWriter(capacity: 600)
        signedInfo.open("ds:SignedInfo", namespaces: [("ds", XMLDSig.namespace)])
        signedInfo.empty("ds:CanonicalizationMethod", attributes: [("Algorithm", CanonicalizationAlgorithm.exclusiveURI)])
        signedInfo.empty("ds:SignatureMethod", attributes: [("Algorithm", XMLDSig.ecdsaSHA256)])
        signedInfo.open("ds:Reference", attributes: [("URI", "")])
        signedInfo.open("ds:Transforms")
        signedInfo.empty("ds:Transform", attributes: [("Algorithm", XMLDSig.envelopedSignature)])
        signedInfo.close()
        signedInfo.empty("ds:DigestMethod", attributes: [("Algorithm", XMLDSig.sha256)])
        signedInfo.element("ds:DigestValue", digest)
        signedInfo.close()
        signedInfo.close()
        let signedInfoBytes = signedInfo.finish()
        let signatureValue: String
        do {
            signatureValue = encodeBase64(ECDSALowS.normalized(Array(try key.signature(for: signedInfoBytes).rawRepresentation)))
        } catch {
            // P-256 signing with a valid key cannot fail; keep the signature element well-formed regardless.
            signatureValue = ""
        }

        var output = [UInt8]()
        output.reserveCapacity(Self.declaration.count + openCanonical.count + signedInfoBytes.count + 600)
        output.append(contentsOf: Self.declaration)
        if let comment {
            output.append(contentsOf: "<!-- ".utf8)
            var previousDash = false
            for byte in comment.utf8 {
                let isDash = byte == UInt8(ascii: "-")
                if isDash && previousDash { continue }  // "--" may not appear in a comment
                if byte < 0x20 && byte != 0x09 { continue }
                output.append(byte)
                previousDash = isDash
            }
            output.append(contentsOf: " -->\n".utf8)
        }
        output.append(contentsOf: openCanonical)
        var signature = CanonicalXMLWriter(capacity: 1024)
        signature.open("ds:Signature", namespaces: [("ds", XMLDSig.namespace)])
        // In the document SignedInfo inherits xmlns:ds from Signature; its exclusive
        // canonical form (what was signed) declares it, so the declaration is dropped here.
        signature.raw(Self.signedInfoOpen)
        signature.raw(signedInfoBytes.dropFirst(Self.canonicalSignedInfoOpen.count))
        signature.element("ds:SignatureValue", signatureValue)
        signature.open("ds:KeyInfo")
        signature.open("ds:X509Data")
        signature.open("ds:X509IssuerSerial")
        signature.element("ds:X509IssuerName", reference.issuerName)
        signature.element("ds:X509SerialNumber", reference.serialNumber)
        signature.close()
        signature.close()
        signature.close()
        signature.close()
        output.append(contentsOf: signature.finish())
        output.append(contentsOf: rootEnd)
        return output
    }
}
