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

    /// Verifies a signed DUIS message (a response, or a request) against the certificate
    /// its KeyInfo names, and returns it without the signature. A message with no
    /// signature is returned as it is, as DCC Boxed's tool does.
    public func verify(_ message: [UInt8]) throws(Failure) -> [UInt8] {
        let document = try parse(message)
        let signature: EnvelopedSignature
        do {
            signature = try EnvelopedSignature.locate(in: document)
        } catch .missing {
            return message
        } catch {
            throw Failure(code: "InvalidSignature", message: error.description)
        }
        let issuer = signature.signer.normalizedIssuer
        guard let entry = keystore.entries.first(where: {
            $0.certificate.signerReference.serialNumber == signature.signer.serialNumber && $0.certificate.signerReference.normalizedIssuer == issuer
        }) else {
            throw Failure(code: "UnknownCertificate", message: "no certificate in the keystore has \(signature.signer)")
        }
        guard let key = entry.certificate.signingKey else {
            throw Failure(code: "UnknownCertificate", message: "certificate \(entry.certificate.serialNumber) has no ECDSA P-256 key")
        }
        do {
            try signature.verify(in: document, key: key)
        } catch {
            throw Failure(code: "InvalidSignature", message: error.description)
        }
        return XMLSigner.unsigned(document)
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

    /// Registers `/sign` and `/verify` on a router.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        for path in ["/sign", "/verify"] {
            router.on(RouterPath(path), method: .post) { request, _ -> Response in
                await self.handle(path: path, request: request)
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
            let result = path == "/sign" ? try sign(Array(message), preserveCounter: input.preserveCounter ?? false) : try verify(Array(message))
            return Self.json(.ok, ["message": Data(result).base64EncodedString()])
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
    public func application(host: String, port: Int, logger: Logger,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.get("/") { _, _ -> Response in
            textResponse(.ok, "gbsm signing service (DCC Boxed's signing tool API): POST /sign {\"message\": base64 unsigned DUIS[, \"preserveCounter\": true]}, POST /verify {\"message\": base64 signed DUIS}")
        }
        register(on: router)
        return limitedApplication(router: router, host: host, port: port, serverName: "gbsm-sign", maximumBody: Self.maxBodyBytes, logger: logger, onRunning: onRunning)
    }
}
