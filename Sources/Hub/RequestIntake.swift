import DUIS
import Foundation

/// The gateway's first stage: the posted octets as a DUIS Service Request. Well-formed
/// XML within the parse limits, a DUIS `Request` with a readable header, no larger than
/// its SRV may be, valid against DCC's DUIS 5.4 schema where it is loaded, the body the
/// header's command variant expects, and a readable `ExecutionDateTime` where the SRV may
/// be future-dated. Nothing is read from the body before this passes.
///
/// Pure: no clock, no store. What it refuses is not attributed to anyone (nothing is
/// authenticated yet); the gateway audits it within `RejectionAudit`'s budget.
struct RequestIntake: Sendable {
    let limits: XMLParseLimits
    let schemas: DUISSchemas?

    /// The largest request of any SRV but firmware distribution (11.1, 11.4), whose
    /// images are what the Non-Device Service's 14 MiB are for.
    static let maxRequestBytes = 1 << 20
    static let firmwareSRVs: Set<SRV> = ["11.1", "11.4"]

    /// A request that passed intake.
    struct Accepted {
        let request: ServiceRequestDocument
        let executeAt: Timestamp?
        /// A firmware request over 1 MiB is validated against the schema once its
        /// signature is checked (validating megabytes costs a sender without a key nothing).
        let schemaDeferred: Bool
    }

    /// Why the octets are not a request the gateway reads further: the reason, a short
    /// kind for the rejection audit's budget, and the HTTP status.
    struct Malformed: Error, Equatable {
        let reason: String
        let kind: String
        let status: Int
    }

    func read(_ bytes: [UInt8]) -> Result<Accepted, Malformed> {
        do {
            let document = try XMLDocument.parse(bytes, limits: limits)
            // The structure (a DUIS Request with a readable header) and the size its SRV may
            // have, then DCC's schema, before anything reads the body.
            let request = try ServiceRequestDocument(document)
            if bytes.count > Self.maxRequestBytes, !Self.firmwareSRVs.contains(request.header.variant.srv) {
                throw XMLParseError.tooLarge(limit: Self.maxRequestBytes)
            }
            let deferred = schemas != nil && bytes.count > Self.maxRequestBytes
            if let schemas, !deferred, let violation = schemas.validateRequest(document) { throw violation }
            if let commandVariant = request.header.commandVariant { try request.checkBody(for: commandVariant) }
            let executeAt = try request.executionDateTime()
            return .success(Accepted(request: request, executeAt: executeAt, schemaDeferred: deferred))
        } catch let error as XMLParseError {
            if case .tooLarge = error { return .failure(Malformed(reason: error.description, kind: "too large", status: 413)) }
            return .failure(Malformed(reason: error.description, kind: "unreadable XML", status: 400))
        } catch let error as SchemaViolation {
            return .failure(Self.schema(error))
        } catch let error as DUISRequestError {
            return .failure(Malformed(reason: error.description, kind: error.kind, status: 400))
        } catch {
            return .failure(Malformed(reason: String(describing: error).boundedUTF8(300), kind: "other", status: 400))
        }
    }

    /// A request DCC's schema refuses.
    static func schema(_ violation: SchemaViolation) -> Malformed {
        Malformed(reason: "the request does not conform to the DUIS 5.4 schema: \(violation)", kind: "schema", status: 400)
    }
}
