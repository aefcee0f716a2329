import DUIS
import Foundation
import Hub
import Hummingbird
import Logging
import NIOCore
import SMKI

/// SMKI's repository services as DCC Boxed serves them on its port 8083, which DCC Boxed's
/// tooling (dccboxed-keystore's `certificateSearch`) uses to fetch device certificates:
///
/// - `POST /services/certificatesearch` with `<CertificateSearchRequest>` holding
///   `<CertificateSubjectName>` (an organisation's EUI) or `<CertificateSubjectAltName>`
///   (a device's), optionally narrowed by `CertificateStatus`, `CertificateUsage` and
///   `CertificateRole`, answers `<CertificateSearchResponse>` with one `<Result>` per
///   certificate;
/// - `POST /services/retrievecertificate` with `<CertificateDataRequest><CertificateSerial>`
///   answers `<CertificateDataResponse><CertificateResponse>` with the base64 DER body;
/// - `GET /services/organisationcertificates` downloads every organisation certificate
///   (PEM) as one tar archive.
///
/// As DCC Boxed's service does: `application/xml`; the `apikey` query parameter accepted;
/// 402 when nothing matches; 401 for a request it cannot read.
public struct SMKIService: Sendable {
    public let repository: SMKIRepository

    public init(repository: SMKIRepository) { self.repository = repository }

    /// SMKI requests are a few elements; nothing larger is read.
    static let maxRequestBytes = 16 << 10

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/services/certificatesearch") { request, _ -> Response in
            await self.answer(request) { try self.search($0) }
        }
        router.post("/services/retrievecertificate") { request, _ -> Response in
            await self.answer(request) { try self.retrieve($0) }
        }
        router.get("/services/organisationcertificates") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/x-tar",
                                            .contentDisposition: "attachment; filename=\"organisation-certificates.tar\""],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.repository.organisationArchive())))
        }
    }

    /// A standalone application (`--smki-port`, 8083 in `gbsm demo`).
    public func application(host: String, port: Int, logger: Logger,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        register(on: router)
        return limitedApplication(router: router, host: host, port: port, serverName: "gbsm-smki", maximumBody: Self.maxRequestBytes, logger: logger, onRunning: onRunning)
    }

    /// DCC Boxed's SMKI answers a search or retrieval that finds nothing with 402.
    static let noMatch = HTTPResponse.Status(code: 402, reasonPhrase: "No Results")

    struct Refusal: Error {
        let status: HTTPResponse.Status
        let message: String
    }

    private func answer(_ request: Request, _ handle: (ElementTree) throws -> [UInt8]) async -> Response {
        let tree: ElementTree
        do {
            let body = try await request.body.collect(upTo: Self.maxRequestBytes)
            let document = try XMLDocument.parse(Array(body.readableBytesView), limits: XMLParseLimits(maxBytes: Self.maxRequestBytes, maxDepth: 8, maxElements: 64))
            guard let root = document.root else { throw Refusal(status: .unauthorized, message: "empty request") }
            tree = ElementTree(root)
        } catch let refusal as Refusal {
            return Self.failure(refusal)
        } catch {
            return Self.failure(Refusal(status: .unauthorized, message: "invalid search parameters: \(error)"))
        }
        do {
            return Response(status: .ok, headers: [.contentType: "application/xml; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try handle(tree))))
        } catch let refusal as Refusal {
            return Self.failure(refusal)
        } catch {
            return Self.failure(Refusal(status: .internalServerError, message: "the certificate could not be issued: \(error)"))
        }
    }

    func search(_ request: ElementTree) throws -> [UInt8] {
        guard request.name == "CertificateSearchRequest" else {
            throw Refusal(status: .unauthorized, message: "invalid search parameters: expected CertificateSearchRequest")
        }
        var records: [SMKIRepository.Record]
        if let name = request.value("CertificateSubjectName") {
            guard let eui = EUI64(name) ?? EUI64(compactHex: name) else { throw Refusal(status: .unauthorized, message: "invalid search parameters: CertificateSubjectName is not an EUI-64") }
            records = repository.search(organisation: eui)
        } else if let altName = request.value("CertificateSubjectAltName") {
            guard let eui = EUI64(altName) ?? EUI64(compactHex: altName) else { throw Refusal(status: .unauthorized, message: "invalid search parameters: CertificateSubjectAltName is not an EUI-64") }
            records = repository.search(device: eui)
        } else {
            throw Refusal(status: .unauthorized, message: "invalid search parameters: give CertificateSubjectName or CertificateSubjectAltName")
        }
        if let status = request.value("CertificateStatus") { records = records.filter { $0.status == status } }
        if let usage = request.value("CertificateUsage") { records = records.filter { Self.usage($0.usage) == usage } }
        if let role = request.value("CertificateRole") { records = records.filter { Self.role($0).map(String.init) == role } }
        guard !records.isEmpty else { throw Refusal(status: Self.noMatch, message: "no certificate matches") }
        var writer = Self.open("CertificateSearchResponse")
        for record in records {
            writer.open("Result")
            Self.fields(of: record, into: &writer, body: false)
            writer.close()
        }
        writer.close()
        return Self.declaration + writer.finish()
    }

    func retrieve(_ request: ElementTree) throws -> [UInt8] {
        guard request.name == "CertificateDataRequest", let serial = request.value("CertificateSerial") else {
            throw Refusal(status: .unauthorized, message: "invalid search parameters: expected CertificateDataRequest with CertificateSerial")
        }
        guard serial.utf8.count <= 64, let record = try repository.retrieve(serial: serial), record.certificate != nil else {
            throw Refusal(status: Self.noMatch, message: "no certificate has serial \(serial.prefix(64))")
        }
        var writer = Self.open("CertificateDataResponse")
        writer.open("CertificateResponse")
        Self.fields(of: record, into: &writer, body: true)
        writer.close()
        writer.close()
        return Self.declaration + writer.finish()
    }

    static let declaration = Array(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#.utf8)

    static func open(_ root: String, code: Int = 200, message: String = "Success") -> CanonicalXMLWriter {
        var writer = CanonicalXMLWriter(capacity: 2048)
        writer.open(root)
        writer.element("ResponseCode", String(code))
        writer.element("ResponseMessage", message)
        writer.element("AuditReference", auditReference())
        return writer
    }

    static func fields(of record: SMKIRepository.Record, into writer: inout CanonicalXMLWriter, body: Bool) {
        switch record.subject {
        case .organisation(let eui, _): writer.element("CertificateSubjectName", eui.description)
        case .device(let eui): writer.element("CertificateSubjectAltName", eui.description)
        }
        writer.element("CertificateSerial", record.serial)
        writer.element("CertificateStatus", record.status)
        if body, let certificate = record.certificate { writer.element("CertificateBody", Data(certificate.der).base64EncodedString()) }
        if let role = role(record) { writer.element("CertificateRole", String(role)) }
        writer.element("CertificateUsage", usage(record.usage))
        writer.element("ManufacturingFlag", "false")
    }

    static func usage(_ usage: Keystore.Usage) -> String { usage == .digitalSignature ? "DS" : "KA" }

    static func role(_ record: SMKIRepository.Record) -> Int? {
        if case .organisation(_, let role) = record.subject { return role }
        return nil
    }

    static func auditReference() -> String {
        "\(Timestamp.now().milliseconds)-\((0..<9).map { _ in String("0123456789abcdef".randomElement() ?? "0") }.joined())"
    }

    static func failure(_ refusal: Refusal) -> Response {
        var writer = CanonicalXMLWriter(capacity: 512)
        writer.open("CertificateSearchResponse")
        writer.element("ResponseCode", String(refusal.status.code))
        writer.element("ResponseMessage", refusal.message)
        writer.element("AuditReference", auditReference())
        writer.close()
        return Response(status: refusal.status, headers: [.contentType: "application/xml; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: declaration + writer.finish())))
    }
}
