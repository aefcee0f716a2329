import Crypto
import Foundation
import Testing
import TestSupport
@testable import DUIS

let sampleRequest = """
<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
  <sr:Header>
    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>
    <sr:ServiceReference>2.2</sr:ServiceReference>
    <sr:ServiceReferenceVariant>2.2</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>
    <sr:TopUpDevice>
      <sr:UTRN>73946144332040217315</sr:UTRN>
    </sr:TopUpDevice>
  </sr:Body>
</sr:Request>
"""

let testSigner = SignerReference(issuerName: "CN=T1,OU=07", serialNumber: "4242")

func signed(_ text: String, key: P256.Signing.PrivateKey, transform: CanonicalizationAlgorithm? = nil) throws -> String {
    let document = try XMLDocument.parse(text)
    return String(decoding: try XMLSigner.sign(document, key: key, signer: testSigner, referenceTransform: transform), as: UTF8.self)
}

func verify(_ text: String, key: P256.Signing.PublicKey) throws(SignatureError) {
    let document: XMLDocument
    do { document = try XMLDocument.parse(text) } catch { throw .malformed("\(error)") }
    let signature = try EnvelopedSignature.locate(in: document)
    try signature.verify(in: document, key: key)
}

@Suite struct SignatureTests {
    let key = P256.Signing.PrivateKey()

    @Test func signAndVerify() throws {
        let text = try signed(sampleRequest, key: key)
        try verify(text, key: key.publicKey)
        let document = try XMLDocument.parse(text)
        #expect(try EnvelopedSignature.locate(in: document).signer == testSigner)
    }

    @Test func exclusiveReferenceTransformIsAccepted() throws {
        let text = try signed(sampleRequest, key: key, transform: .exclusive)
        #expect(text.contains(CanonicalizationAlgorithm.exclusiveURI))
        try verify(text, key: key.publicKey)
    }

    @Test func tamperingIsDetected() throws {
        let text = try signed(sampleRequest, key: key)
        let tampered = text.replacingOccurrences(of: "73946144332040217315", with: "73946144332040217316")
        #expect(throws: SignatureError.digestMismatch) { try verify(tampered, key: key.publicKey) }
    }

    @Test func wrongKeyIsDetected() throws {
        let text = try signed(sampleRequest, key: key)
        #expect(throws: SignatureError.invalidSignature) { try verify(text, key: P256.Signing.PrivateKey().publicKey) }
    }

    @Test func forgedSignedInfoIsDetected() throws {
        // Recomputing the digest after tampering, without the key, breaks the signature.
        let text = try signed(sampleRequest, key: key)
        let tamperedText = text.replacingOccurrences(of: "73946144332040217315", with: "11111111111111111111")
        let tamperedDocument = try XMLDocument.parse(tamperedText)
        let located = try EnvelopedSignature.locate(in: tamperedDocument)
        let newDigest = encodeBase64(SHA256.hash(data: try tamperedDocument.canonicalBytes(excluding: located.element)))
        let oldDigest = encodeBase64(located.digestValue)
        let forged = tamperedText.replacingOccurrences(of: oldDigest, with: newDigest)
        #expect(throws: SignatureError.invalidSignature) { try verify(forged, key: key.publicKey) }
    }

    @Test func missingAndPlaceholderSignatures() throws {
        #expect(throws: SignatureError.missing) { try verify(sampleRequest, key: key.publicKey) }
        let placeholder = sampleRequest.replacingOccurrences(of: "</sr:Request>", with: """
          <ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>ZGVmYXVsdA==</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>ZGVmYXVsdA==</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>CN=U1, OU=07</ds:X509IssuerName><ds:X509SerialNumber>1234567890</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature></sr:Request>
        """)
        #expect(throws: SignatureError.placeholder) { try verify(placeholder, key: key.publicKey) }
    }

    @Test func signatureWrappingIsRefused() throws {
        let text = try signed(sampleRequest, key: key)
        // A second signature hidden in the body.
        let signatureStart = try #require(text.range(of: "<ds:Signature"))
        let signatureXML = String(text[signatureStart.lowerBound..<(try #require(text.range(of: "</ds:Signature>"))).upperBound])
        let twice = text.replacingOccurrences(of: "</sr:TopUpDevice>", with: "</sr:TopUpDevice>" + signatureXML)
        #expect(throws: SignatureError.multiple) { try verify(twice, key: key.publicKey) }
        // The signature moved away from the end of the root.
        let moved = text.replacingOccurrences(of: signatureXML, with: "")
            .replacingOccurrences(of: "<sr:Header>", with: signatureXML + "<sr:Header>")
        #expect(throws: SignatureError.misplaced) { try verify(moved, key: key.publicKey) }
        // A reference to a fragment instead of the whole document.
        let fragment = text.replacingOccurrences(of: "URI=\"\"", with: "URI=\"#body\"")
        #expect(throws: SignatureError.unsupported("Reference URI \"#body\" (only the whole document, URI=\"\", is accepted)")) {
            try verify(fragment, key: key.publicKey)
        }
        // An Object element smuggling content.
        let object = text.replacingOccurrences(of: "</ds:Signature>", with: "<ds:Object><sr:TopUpDevice/></ds:Object></ds:Signature>")
        #expect(throws: SignatureError.self) { try verify(object, key: key.publicKey) }
    }

    @Test func responseSignerFastPathMatchesLibxml2() throws {
        let signer = ResponseSigner(key: key, reference: testSigner)
        let response = DUISResponse(
            schemaVersion: "5.4", requestID: "90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:7",
            code: .I0, dateTime: Timestamp(milliseconds: 1_700_000_000_123),
            body: .message(serviceReference: "8.2", srv: "8.2", payload: { writer in
                writer.open("sr:DSPInventory")
                writer.element("sr:Note", "a & b < c > d \"e\"\r")
                writer.close()
            }))
        let bytes = signer.sign(response)
        let text = String(decoding: bytes, as: UTF8.self)
        try verify(text, key: key.publicKey)
        // The canonical form libxml2 computes equals what the writer produced.
        let document = try XMLDocument.parse(bytes)
        let located = try EnvelopedSignature.locate(in: document)
        let canonical = String(decoding: try document.canonicalBytes(excluding: located.element), as: UTF8.self)
        #expect(text.contains(canonical.replacingOccurrences(of: "</sr:Response>", with: "")))
    }
}

@Suite struct XmlsecInteroperability {
    static let xmlsec = Tool.find("xmlsec1")
    let key = P256.Signing.PrivateKey()

    @Test(.enabled(if: xmlsec != nil, "xmlsec1 is not installed (apt install xmlsec1)"))
    func xmlsecVerifiesOurSignatures() throws {
        let directory = try TemporaryDirectory()
        try key.publicKey.pemRepresentation.write(to: directory.file("pub.pem"), atomically: true, encoding: .utf8)
        let request = try signed(sampleRequest, key: key)
        try request.write(to: directory.file("request.xml"), atomically: true, encoding: .utf8)
        let response = ResponseSigner(key: key, reference: testSigner).sign(DUISResponse(
            schemaVersion: "5.4", requestID: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000",
            code: .I99, dateTime: .now(), body: .message(serviceReference: "2.2", srv: "2.2", payload: nil)))
        try Data(response).write(to: directory.file("response.xml"))
        for name in ["request.xml", "response.xml"] {
            let result = try Tool.run(Self.xmlsec!, ["--verify", "--pubkey-pem", directory.file("pub.pem").path, directory.file(name).path])
            #expect(result.status == 0, "xmlsec1 refused \(name): \(result.stderr)")
        }
        // And it refuses a tampered copy.
        try request.replacingOccurrences(of: "73946144332040217315", with: "73946144332040217316")
            .write(to: directory.file("tampered.xml"), atomically: true, encoding: .utf8)
        let tampered = try Tool.run(Self.xmlsec!, ["--verify", "--pubkey-pem", directory.file("pub.pem").path, directory.file("tampered.xml").path])
        #expect(tampered.status != 0)
    }

    @Test(.enabled(if: xmlsec != nil, "xmlsec1 is not installed (apt install xmlsec1)"))
    func weVerifyXmlsecSignatures() throws {
        let directory = try TemporaryDirectory()
        try key.pemRepresentation.write(to: directory.file("key.pem"), atomically: true, encoding: .utf8)
        let template = sampleRequest.replacingOccurrences(of: "</sr:Request>", with: """
          <ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>CN=T1,OU=07</ds:X509IssuerName><ds:X509SerialNumber>4242</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature></sr:Request>
        """)
        try template.write(to: directory.file("template.xml"), atomically: true, encoding: .utf8)
        let result = try Tool.run(Self.xmlsec!, ["--sign", "--privkey-pem", directory.file("key.pem").path, "--output", directory.file("signed.xml").path, directory.file("template.xml").path])
        try #require(result.status == 0, "xmlsec1 could not sign: \(result.stderr)")
        let signedText = try String(contentsOf: directory.file("signed.xml"), encoding: .utf8)
        try verify(signedText, key: key.publicKey)
    }
}
