/// Why a document is not a DUIS Service Request (what schema validation would catch).
/// No DUIS response can be built for these when the RequestID itself is unreadable.
public enum DUISRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case notARequest(String)
    case missingSchemaVersion
    case header(String)
    case invalidRequestID(String)
    case unknownServiceReferenceVariant(String)
    case serviceReferenceMismatch(serviceReference: String, srv: String)
    case body(String)

    public var description: String {
        switch self {
        case .notARequest(let found): return "not a DUIS Service Request: the root element is \(untrusted(found, limit: 120)), expected Request in \(DUISNamespace.serviceUserGateway)"
        case .missingSchemaVersion: return "the Request has no schemaVersion attribute"
        case .header(let detail): return "invalid DUIS header: \(detail.boundedUTF8(300))"
        case .invalidRequestID(let text): return "invalid RequestID \(untrusted(text, limit: 80)): expected originatorEUI:targetEUI:counter"
        case .unknownServiceReferenceVariant(let srv): return "unknown ServiceReferenceVariant \(untrusted(srv, limit: 20))"
        case .serviceReferenceMismatch(let sr, let srv): return "ServiceReference \(untrusted(sr, limit: 20)) does not match ServiceReferenceVariant \(srv)"
        case .body(let detail): return "invalid DUIS body: \(detail.boundedUTF8(300))"
        }
    }

    /// What kind of problem this is, in a few fixed words (for counting, never the request's text).
    public var kind: String {
        switch self {
        case .notARequest: return "not a Request"
        case .missingSchemaVersion: return "no schemaVersion"
        case .header: return "invalid header"
        case .invalidRequestID: return "invalid RequestID"
        case .unknownServiceReferenceVariant: return "unknown SRV"
        case .serviceReferenceMismatch: return "SR/SRV mismatch"
        case .body: return "invalid body"
        }
    }
}

/// The header of a Service Request. The command variant is kept raw so that a value
/// outside 1 to 8 can be answered with E12 rather than refused as unreadable.
public struct RequestHeader: Sendable, Hashable {
    public var schemaVersion: String
    public var requestID: RequestID
    public var firstInSequence: Bool?
    public var precedingRequestID: RequestID?
    public var commandVariantText: String
    public var serviceReference: String
    public var variant: ServiceRequestVariant

    public var commandVariant: CommandVariant? { Int(commandVariantText).flatMap(CommandVariant.init(rawValue:)) }

    public init(schemaVersion: String, requestID: RequestID, firstInSequence: Bool?, precedingRequestID: RequestID?,
                commandVariantText: String, serviceReference: String, variant: ServiceRequestVariant) {
        self.schemaVersion = schemaVersion
        self.requestID = requestID
        self.firstInSequence = firstInSequence
        self.precedingRequestID = precedingRequestID
        self.commandVariantText = commandVariantText
        self.serviceReference = serviceReference
        self.variant = variant
    }
}

/// A parsed, not yet authenticated, Service Request. Holds its libxml2 document so the
/// signature can be checked on exactly the bytes that are processed.
public struct ServiceRequestDocument {
    public let document: XMLDocument
    public let header: RequestHeader
    let bodyNode: XMLNode

    /// Reads the DUIS structure: `sr:Request` with `schemaVersion`, a Header with
    /// RequestID, optional FirstInSequence and PrecedingServiceRequestID,
    /// CommandVariant, ServiceReference and ServiceReferenceVariant, then a Body with
    /// exactly one element.
    public init(_ document: XMLDocument) throws(DUISRequestError) {
        guard let root = document.root else { throw .notARequest("missing") }
        guard root.is("Request", in: "http://www.dccinterface.co.uk/ServiceUserGateway") else {
            throw .notARequest("{\(root.namespaceURI ?? "")}\(root.localName)")
        }
        guard let schemaVersion = root.attribute("schemaVersion")?.trimmingWhitespace(), !schemaVersion.isEmpty else {
            throw .missingSchemaVersion
        }
        // An xs:decimal such as 5.4 (it is echoed in the response).
        let dots = schemaVersion.utf8.filter { $0 == UInt8(ascii: ".") }.count
        guard schemaVersion.utf8.count <= 12, dots <= 1,
              schemaVersion.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") }),
              schemaVersion.utf8.contains(where: { $0 != UInt8(ascii: ".") })
        else { throw .header("schemaVersion \"\(schemaVersion.prefix(20))\" is not a DUIS schema version such as 5.4") }
        let parts = root.children
        guard parts.count >= 2,
              parts[0].is("Header", in: "http://www.dccinterface.co.uk/ServiceUserGateway"),
              parts[1].is("Body", in: "http://www.dccinterface.co.uk/ServiceUserGateway")
        else { throw .header("the Request must start with sr:Header then sr:Body") }
        for extra in parts.dropFirst(2) where !extra.is("Signature", in: "http://www.w3.org/2000/09/xmldsig#") {
            throw .body("unexpected element \(untrusted(extra.localName, limit: 40)) after the Body")
        }

        var fields = parts[0].children[...]
        func take(_ name: StaticString, optional: Bool = false) throws(DUISRequestError) -> String? {
            if let next = fields.first, next.is(name, in: "http://www.dccinterface.co.uk/ServiceUserGateway") {
                fields.removeFirst()
                return next.text.trimmingWhitespace()
            }
            if optional { return nil }
            throw .header("missing \(name)")
        }
        let requestIDText = try take("RequestID") ?? ""
        guard let requestID = RequestID(requestIDText) else { throw .invalidRequestID(requestIDText) }
        let firstText = try take("FirstInSequence", optional: true)
        var firstInSequence: Bool?
        if let firstText {
            switch firstText {
            case "true", "1": firstInSequence = true
            case "false", "0": firstInSequence = false
            default: throw .header("FirstInSequence must be a boolean")
            }
        }
        var preceding: RequestID?
        if let text = try take("PrecedingServiceRequestID", optional: true) {
            guard let id = RequestID(text) else { throw .invalidRequestID(text) }
            preceding = id
        }
        // Kept as text (so that 9 or "x" can be answered with E12), but never more than a
        // few characters of it: it is written to the audit log.
        let commandVariant = String((try take("CommandVariant") ?? "").prefix(8))
        let serviceReference = try take("ServiceReference") ?? ""
        let srv = try take("ServiceReferenceVariant") ?? ""
        if let extra = fields.first { throw .header("unexpected element \(untrusted(extra.localName, limit: 40))") }
        guard let variant = ServiceCatalogue.variant(text: srv) else { throw .unknownServiceReferenceVariant(srv) }
        guard variant.serviceReference == serviceReference else {
            throw .serviceReferenceMismatch(serviceReference: serviceReference, srv: srv)
        }
        let bodyChildren = parts[1].children
        guard bodyChildren.count == 1 else { throw .body("the Body must hold exactly one element, found \(bodyChildren.count)") }
        guard bodyChildren[0].namespaceURI == DUISNamespace.serviceUserGateway else {
            throw .body("the body element must be in the DUIS namespace")
        }
        self.document = document
        self.header = RequestHeader(
            schemaVersion: schemaVersion, requestID: requestID, firstInSequence: firstInSequence,
            precedingRequestID: preceding, commandVariantText: commandVariant,
            serviceReference: serviceReference, variant: variant)
        self.bodyNode = bodyChildren[0]
    }

    /// The local name of the body element.
    public var bodyElementName: String { bodyNode.localName }

    /// Checks that the body element is the one this variant and command variant expect.
    public func checkBody(for commandVariant: CommandVariant) throws(DUISRequestError) {
        let expected = header.variant.expectedBody(for: commandVariant)
        guard bodyNode.localName == expected else {
            throw .body("ServiceReferenceVariant \(header.variant.srv) expects \(expected), found \(untrusted(bodyNode.localName, limit: 40))")
        }
    }

    /// The body as an owned tree.
    public func body() -> ElementTree { ElementTree(bodyNode) }

    /// `ExecutionDateTime`, which comes first in future-dated bodies.
    public func executionDateTime() throws(DUISRequestError) -> Timestamp? {
        guard let first = bodyNode.firstChildElement,
              first.is("ExecutionDateTime", in: "http://www.dccinterface.co.uk/ServiceUserGateway")
        else { return nil }
        guard header.variant.futureDating != .none || header.variant.srv == "8.5" else {
            throw .body("\(header.variant.srv) \(header.variant.name) cannot be future-dated: remove ExecutionDateTime")
        }
        let text = first.text.trimmingWhitespace()
        guard let time = Timestamp(xsDateTime: text) else { throw .body("ExecutionDateTime \(untrusted(text, limit: 40)) is not an xs:dateTime") }
        return time
    }

    /// Finds the enveloped signature (structure only; checking needs the signer's key).
    public func signature() throws(SignatureError) -> EnvelopedSignature {
        try EnvelopedSignature.locate(in: document)
    }
}

extension ServiceRequestDocument {
    /// Rewrites the RequestID in the document (signing tools set a fresh counter before
    /// signing). The document must be signed afterwards.
    public func setRequestID(_ requestID: RequestID) throws(DUISRequestError) {
        guard let header = document.root?.firstChildElement,
              let element = header.children.first(where: { $0.is("RequestID", in: "http://www.dccinterface.co.uk/ServiceUserGateway") })
        else { throw .header("missing RequestID") }
        element.setText(requestID.description)
    }
}
