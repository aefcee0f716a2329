import DUIS
import Foundation
import Hummingbird
import Logging
import NIOCore
import SMKI

/// DCC Boxed's signing tool, as a service: `POST /sign` signs an unsigned DUIS request
/// with its originator's XML-signing key, `POST /verify` checks a signed DUIS response and
/// hands it back without its signature. The HTTP API is the one of DCC Boxed's own tool
/// (JSON `{"message": base64}` in and out; failures are 400 with `{"error", "errorCode"}`;
/// other methods 405), so Node-RED's DCC Boxed nodes and duis-sign-wrap can use gbsm in its
/// place.
///
/// Keys come from a keystore (the data folder's `smki/keystore.json`): the signer is the
/// RequestID's originator; a response's signer is found by its issuer and serial among
/// the keystore's certificates (DCC's DSP certificate among them).
public struct SigningService: Sendable {
    public let keystore: Keystore
    public let schemas: DUISSchemas?
    let now: @Sendable () -> Timestamp

    public init(keystore: Keystore, schemas: DUISSchemas?, now: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.keystore = keystore
        self.schemas = schemas
        self.now = now
    }

    /// Why a message was not signed or verified. `code` is the `errorCode` of the JSON
    /// answer (DCC Boxed's tool gives the exception's class name there).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let code: String
        public let message: String
        public var description: String { "\(code): \(message)" }
    }

    /// Signs `message`: DCC's schema first (when loaded), any signature it has replaced,
    /// the counter set to the current time in milliseconds unless `preserveCounter`.
    public func sign(_ message: [UInt8], preserveCounter: Bool) throws(Failure) -> [UInt8] {
        let document = try parse(message)
        let request: ServiceRequestDocument
        do {
            request = try ServiceRequestDocument(document)
        } catch {
            throw Failure(code: "InvalidRequest", message: "not a DUIS Service Request: \(error)")
        }
        var requestID = request.header.requestID
        if !preserveCounter {
            requestID.counter = now().millisecondCounter
            do {
                try request.setRequestID(requestID)
            } catch {
                throw Failure(code: "InvalidRequest", message: "the RequestID could not be set: \(error)")
            }
        }
        guard let entry = keystore.xmlSigningEntry(for: requestID.originator), let key = entry.signingKey else {
            throw Failure(code: "MissingKey", message: "could not locate the XML-signing key of \(requestID.originator)")
        }
        do {
            return try XMLSigner.sign(document, key: key, signer: entry.certificate.signerReference)
        } catch {
            throw Failure(code: "SigningFailed", message: "\(error)")
        }
    }

    /// What `verify` found: the message without its signature, and who signed it (nil
    /// when it carried no signature, which DCC Boxed's tool passes through as it is: DCC
    /// Boxed sends some refusals unsigned).
    public struct Verified: Sendable {
        public var message: [UInt8]
        public var signer: String?
    }

    /// Verifies a signed DUIS message against the certificate its KeyInfo names, and
    /// returns it without the signature. Only the right signer counts: a Service Response
    /// must be signed with DCC's response-signing (DSP, role 137) certificate, a Service
    /// Request with its originator's own XML-signing certificate.
    public func verify(_ message: [UInt8]) throws(Failure) -> Verified {
        let document = try parse(message)
        let signature: EnvelopedSignature
        do {
            signature = try EnvelopedSignature.locate(in: document)
        } catch .missing {
            return Verified(message: message, signer: nil)
        } catch {
            throw Failure(code: "InvalidSignature", message: error.description)
        }
        let issuer = signature.signer.normalizedIssuer
        guard let entry = keystore.entries.first(where: {
            $0.certificate.signerReference.serialNumber == signature.signer.serialNumber && $0.certificate.signerReference.normalizedIssuer == issuer
        }) else {
            throw Failure(code: "UnknownCertificate", message: "no certificate in the keystore has \(signature.signer)")
        }
        switch document.root?.localName {
        case "Response":
            guard entry.role == RemotePartyRole.dspXMLSigning else {
                throw Failure(code: "WrongSigner", message: "a Service Response must be signed by DCC (role 137); \(entry.eui) role \(entry.role.map(String.init) ?? "none") signed this one")
            }
        case "Request":
            let originator: EUI64
            do {
                originator = try ServiceRequestDocument(document).header.requestID.originator
            } catch {
                throw Failure(code: "InvalidRequest", message: "not a DUIS Service Request: \(error)")
            }
            guard entry.eui == originator, entry.role == RemotePartyRole.xmlSigning || entry.role == RemotePartyRole.dspXMLSigning else {
                throw Failure(code: "WrongSigner", message: "a Service Request must be signed by its originator \(originator); \(entry.eui) signed this one")
            }
        default:
            throw Failure(code: "InvalidRequest", message: "neither a DUIS Service Request nor a Service Response")
        }
        guard let key = entry.certificate.signingKey else {
            throw Failure(code: "UnknownCertificate", message: "certificate \(entry.certificate.serialNumber) has no ECDSA P-256 key")
        }
        do {
            try signature.verify(in: document, key: key)
        } catch {
            throw Failure(code: "InvalidSignature", message: error.description)
        }
        return Verified(message: XMLSigner.unsigned(document), signer: "\(entry.eui) role \(entry.role.map(String.init) ?? "none") serial \(entry.certificate.serialHex)")
    }

    private func parse(_ message: [UInt8]) throws(Failure) -> XMLDocument {
        let document: XMLDocument
        do {
            document = try XMLDocument.parse(message, limits: .duis)
        } catch {
            throw Failure(code: "MalformedXML", message: error.description)
        }
        if let schemas, let violation = schemas.validateDUIS(document) {
            throw Failure(code: "SchemaValidation", message: "the message does not conform to the DUIS 5.4 schema: \(violation)")
        }
        return document
    }

    // MARK: - HTTP

    /// The largest JSON body: a firmware request (14 MiB) in base64, with room.
    public static let maxBodyBytes = 20 << 20

    /// Whether a request's `Host` names this machine: `localhost`, an address literal, or
    /// one of `allowedHosts`. A page on another site that makes a browser post here
    /// through a DNS name it points at 127.0.0.1 (DNS rebinding) is refused.
    static func hostAllowed(_ header: String?, allowedHosts: Set<String>) -> Bool {
        guard let header, !header.isEmpty else { return false }
        var host = header.lowercased()
        if host.hasPrefix("[") {
            return true  // an IPv6 literal
        }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host == "localhost" || allowedHosts.contains(host) { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Registers `/sign` and `/verify` on a router. Requests must be JSON
    /// (`Content-Type: application/json`, which a browser cannot send to another site
    /// without asking first) and name this machine in `Host`.
    public func register<Context: RequestContext>(on router: Router<Context>, allowedHosts: Set<String> = []) {
        for path in ["/sign", "/verify"] {
            router.on(RouterPath(path), method: .post) { request, _ -> Response in
                guard Self.hostAllowed(request.head.authority, allowedHosts: allowedHosts) else {
                    return Self.json(.forbidden, ["error": "the Host header does not name this machine (pass --allow-host NAME to accept it)", "errorCode": "ForbiddenHost"])
                }
                guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
                    return Self.json(.unsupportedMediaType, ["error": "send the message as JSON (Content-Type: application/json)", "errorCode": "UnsupportedMediaType"])
                }
                return await self.handle(path: path, request: request)
            }
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ -> Response in
                    Self.json(.methodNotAllowed, ["error": "Method not allowed"])
                }
            }
        }
    }

    private func handle(path: String, request: Request) async -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return Self.json(.badRequest, ["error": "the request body exceeds \(Self.maxBodyBytes) bytes", "errorCode": "TooLarge"])
        }
        struct Input: Decodable {
            var message: String
            var preserveCounter: Bool?
        }
        let input: Input
        do {
            input = try JSONDecoder().decode(Input.self, from: Data(body.readableBytesView))
        } catch {
            return Self.json(.badRequest, ["error": "expected a JSON object with a base64 \"message\"", "errorCode": "JsonSyntaxException"])
        }
        guard let message = Data(base64Encoded: input.message, options: .ignoreUnknownCharacters) else {
            return Self.json(.badRequest, ["error": "\"message\" is not base64", "errorCode": "IllegalArgumentException"])
        }
        do throws(Failure) {
            if path == "/sign" {
                let signed = try sign(Array(message), preserveCounter: input.preserveCounter ?? false)
                return Self.json(.ok, ["message": Data(signed).base64EncodedString()])
            }
            let verified = try verify(Array(message))
            var answer = ["message": Data(verified.message).base64EncodedString()]
            answer[verified.signer == nil ? "signature" : "signer"] = verified.signer ?? "absent"
            return Self.json(.ok, answer)
        } catch {
            return Self.json(.badRequest, ["error": error.message, "errorCode": error.code])
        }
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONEncoder().encode(object)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A standalone application serving the signing service (`gbsm sign-server`, and
    /// beside the hub in `gbsm demo`).
    public func application(host: String, port: Int, allowedHosts: Set<String> = [], logger: Logger,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.get("/") { _, _ -> Response in
            textResponse(.ok, "gbsm signing service (DCC Boxed's signing tool API): POST /sign {\"message\": base64 unsigned DUIS[, \"preserveCounter\": true]}, POST /verify {\"message\": base64 signed DUIS}")
        }
        register(on: router, allowedHosts: allowedHosts.union([host.lowercased()]))
        return limitedApplication(router: router, host: host, port: port, serverName: "gbsm-sign", maximumBody: Self.maxBodyBytes, logger: logger, onRunning: onRunning)
    }
}
