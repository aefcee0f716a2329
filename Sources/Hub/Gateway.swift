import Crypto
import Foundation
import DUIS
import Logging
import Privacy
import Storage
import Synchronization

/// What the gateway answers on HTTP.
public struct GatewayResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// The DUIS response code, when the answer is a DUIS Response.
    public var code: ResponseCode?
    /// Why the request was refused, for people (also in the response as a comment).
    public var reason: String?

    static func text(_ status: Int, _ message: String) -> GatewayResponse {
        GatewayResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array((message + "\n").utf8), code: nil, reason: message)
    }
}

/// The DUIS gateway: the request pipeline every Service Request passes through.
///
/// intake (libxml2 parse with limits, DUIS 5.4 schema, DUIS structure) → authentication (XML signature
/// against the signer's registered certificate, which must be the originator's) →
/// anti-replay (counter) → access control (E2 to E19) → critical-command check →
/// anomaly detection (quarantine) → non-device service, or storage at the device
/// boundary. Each step's outcome is audited; nothing is answered before it is durable.
public final class Gateway: Sendable {
    let dccEUI: EUI64
    let limits: XMLParseLimits
    /// DUIS 5.4, checked right after the size and structure limits.
    let schemas: DUISSchemas?
    let registry: UserRegistry
    let accessControl: AccessControl
    let replayGuard: ReplayGuard
    let anomaly: AnomalyDetector
    let committer: GroupCommitter
    let signer: ResponseSigner
    let services: NonDeviceServices
    let outboxWakeup: Wakeup
    let dispatcher: DeviceDispatcher
    let privacy: PrivacyGuard
    let jobs: JobGuard
    /// Critical commands: the Transform service and the send of signed pre-commands.
    let desk: CriticalCommandDesk
    /// Non-critical commands as GBCS: built on acceptance (values GBCS cannot carry are
    /// refused), returned for local delivery with command variants 2 and 3.
    let commands: WANCommands
    let messageCounter: Atomic<UInt64>
    let logger: Logger
    /// The time (`HubClock`) a request is received at.
    let clock: any HubClock
    // The pipeline's own stages (see `process`).
    let intake: RequestIntake
    let authenticator: RequestAuthenticator
    let replayCheck: ReplayCheck
    let bodyCheck: BodyCheck
    let dataAccess: DataAccessCheck
    let metrics = GatewayMetrics()
    /// How much of the audit log unauthenticated and unreadable requests may take.
    let rejections = RejectionAudit()

    init(dccEUI: EUI64, limits: XMLParseLimits, schemas: DUISSchemas?, registry: UserRegistry, accessControl: AccessControl, replayGuard: ReplayGuard,
         anomaly: AnomalyDetector, committer: GroupCommitter, signer: ResponseSigner, services: NonDeviceServices,
         outboxWakeup: Wakeup, dispatcher: DeviceDispatcher, privacy: PrivacyGuard, jobs: JobGuard, desk: CriticalCommandDesk, commands: WANCommands,
         clock: any HubClock, logger: Logger) {
        self.clock = clock
        intake = RequestIntake(limits: limits, schemas: schemas)
        authenticator = RequestAuthenticator(registry: registry)
        let store = services.store
        var claim: (@Sendable (EUI64, UInt64) async throws -> UInt64?)?
        if store.isShared {
            claim = { originator, counter in try await store.claimCounter(originator: originator, counter: counter) }
        }
        replayCheck = ReplayCheck(replayGuard: replayGuard, claim: claim, preCommand: { requestID in try await store.preCommand(requestID: requestID) })
        bodyCheck = BodyCheck(schemaChecked: schemas != nil,
                              replacements: ReplacementCertificateCheck(keystore: commands.keys.organisations.compactMap(\.certificate)))
        dataAccess = DataAccessCheck(privacy: privacy)
        self.jobs = jobs
        self.commands = commands
        self.desk = desk
        self.dccEUI = dccEUI
        self.limits = limits
        self.schemas = schemas
        self.registry = registry
        self.accessControl = accessControl
        self.replayGuard = replayGuard
        self.anomaly = anomaly
        self.committer = committer
        self.signer = signer
        self.services = services
        self.outboxWakeup = outboxWakeup
        self.dispatcher = dispatcher
        self.privacy = privacy
        // Message counters for alerts: above any counter used before a restart.
        self.messageCounter = Atomic(Timestamp.now().microsecondCounter)
        self.logger = logger
    }

    /// Handles one HTTP POST of a DUIS Service Request to `service`.
    public func handle(service: DUISService, body bytes: [UInt8]) async -> GatewayResponse {
        let started = ContinuousClock.now
        let response = await process(service: service, bytes: bytes)
        metrics.record(service: service, outcome: response.code?.rawValue ?? "http\(response.status)", duration: ContinuousClock.now - started)
        return response
    }

    // MARK: - The pipeline

    /// Runs the pipeline's stages in order; the first that refuses ends it, and what it
    /// refused is committed (audited, counted) before the answer. Each stage is its own
    /// type, tested alone: `RequestIntake`, `RequestAuthenticator`, `ReplayCheck`,
    /// `AccessControl`, `BodyCheck`, `DataAccessCheck`, `AnomalyDetector`; then the route
    /// (non-device services, the Transform service, the send of a signed pre-command, or
    /// the device boundary).
    private func process(service: DUISService, bytes: [UInt8]) async -> GatewayResponse {
        let received = clock.now()

        // Intake: well-formed, within limits, a DUIS Service Request.
        let accepted: RequestIntake.Accepted
        switch intake.read(bytes) {
        case .success(let request):
            accepted = request
        case .failure(let malformed):
            return await self.malformed(bytes, service: service, malformed, at: received)
        }
        let request = accepted.request
        let header = request.header
        let digest = AuditChain.hex(Array(SHA256.hash(data: bytes)))
        func refuse(_ refusal: Refusal, authenticated: Bool, allowedBy: String? = nil, extra: [Mutation] = []) async -> GatewayResponse {
            await self.refuse(header, service: service, refusal, digest: digest, size: bytes.count, at: received, authenticated: authenticated,
                              allowedBy: allowedBy, extra: extra)
        }

        // Authentication: the XML signature, by the originator's registered certificate.
        let user: UserRecord
        switch authenticator.authenticate(request, at: received) {
        case .success(let authenticated):
            user = authenticated
        case .failure(let refusal):
            return await refuse(refusal, authenticated: false)
        }
        if accepted.schemaDeferred, let schemas, let violation = schemas.validateRequest(request.document) {
            return await malformed(bytes, service: service, RequestIntake.schema(violation), at: received)
        }

        // Anti-replay (audited as unauthenticated: a replay proves nothing new).
        do {
            if let refusal = try await replayCheck.refusal(header, at: received) { return await refuse(refusal, authenticated: false) }
        } catch {
            return storageFailure(error)
        }

        // Access control: a future-dated request is authorised for its execution time; a
        // past one runs now.
        var decision: AccessDecision
        do {
            decision = try accessControl.decide(header: header, user: user, service: service, at: max(accepted.executeAt ?? received, received))
        } catch {
            return await refuse(error, authenticated: true)
        }
        guard let commandVariant = header.commandVariant else {
            return await refuse(Refusal(.E12, rule: .commandVariantRange, "invalid command variant"), authenticated: true)
        }

        // Critical commands sent back signed: checked against what was issued.
        if commandVariant.sendsSignedPreCommand {
            return await sendSignedPreCommand(header, request: request, commandVariant: commandVariant, service: service, decision: decision,
                                              bytes: bytes, digest: digest, at: received, executeAt: accepted.executeAt)
        }

        // Values, then the data access rules.
        let body = request.body()
        if let refusal = bodyCheck.refusal(header, body: body) { return await refuse(refusal, authenticated: true, allowedBy: decision.rule) }
        do {
            switch try await dataAccess.decide(header, decision: decision, user: user.eui, body: body, at: received) {
            case .success(let allowed):
                decision = allowed
            case .failure(let refused):
                return await refuse(refused.refusal, authenticated: true, allowedBy: decision.rule, extra: refused.extra)
            }
        } catch {
            return storageFailure(error)
        }

        // Anomaly detection.
        do {
            if let breach = try await anomaly.record(user: user.eui, srv: header.variant.srv, at: received) {
                return await quarantine(header, service: service, bytes: bytes, digest: digest, breach: breach, decision: decision, at: received,
                                        executeAt: accepted.executeAt)
            }
        } catch {
            return storageFailure(error)
        }

        // The route.
        if header.variant.isNonDevice {
            return await nonDevice(header, body: body, service: service, user: user, decision: decision, bytes: bytes, digest: digest, at: received)
        }
        if commandVariant == .criticalTransform {
            return await transform(header, body: body, service: service, decision: decision, bytes: bytes, digest: digest, at: received)
        }
        return await acceptDeviceRequest(header, body: body, service: service, bytes: bytes, digest: digest, decision: decision, at: received,
                                         executeAt: accepted.executeAt)
    }

    // MARK: - Outcomes

    func requestEvent(_ header: RequestHeader, service: DUISService, digest: String, size: Int, at time: Timestamp, authenticated: Bool) -> AuditEvent {
        AuditEvent(at: time, kind: .request, actor: header.requestID.originator,
                   device: header.requestID.target == dccEUI ? nil : header.requestID.target, srv: header.variant.srv.text,
                   requestID: header.requestID.description,
                   detail: "\(service.title), command variant \(untrusted(header.commandVariantText, limit: 8)), \(header.variant.name), \(size) octets, SHA-256 \(digest)"
                       + (authenticated ? ", signature verified" : ", not authenticated"))
    }

    func decisionEvent(_ header: RequestHeader, code: ResponseCode, rule: RuleID, reason: String, at time: Timestamp) -> AuditEvent {
        AuditEvent(at: time, kind: .decision, actor: header.requestID.originator,
                   device: header.requestID.target == dccEUI ? nil : header.requestID.target, srv: header.variant.srv.text,
                   requestID: header.requestID.description, code: code.rawValue, detail: "[\(rule)] \(reason)")
    }

    func responseEvent(_ header: RequestHeader, code: ResponseCode, detail: String, at time: Timestamp) -> AuditEvent {
        AuditEvent(at: time, kind: .response, actor: header.requestID.originator,
                   device: header.requestID.target == dccEUI ? nil : header.requestID.target, srv: header.variant.srv.text,
                   requestID: header.requestID.description, code: code.rawValue, detail: detail)
    }

    func signedResponse(_ header: RequestHeader, code: ResponseCode, payload: (@Sendable (inout CanonicalXMLWriter) -> Void)? = nil, comment: String?) -> GatewayResponse {
        let response = DUISResponse(schemaVersion: header.schemaVersion, requestID: header.requestID.description, code: code, dateTime: clock.now(),
                                    body: .message(serviceReference: header.serviceReference, srv: header.variant.srv.text, payload: payload))
        let text = comment.map { "gbsm: \(code.rawValue): \($0)" }
        return GatewayResponse(status: 200, contentType: "application/xml", body: signer.sign(response, comment: text), code: code, reason: comment)
    }

    func storageFailure(_ error: any Error) -> GatewayResponse {
        logger.error("storage failure: \(error)")
        return .text(503, "the hub could not record the request durably (\(error)); it was not accepted, send it again with a new counter")
    }

    /// A request that could not be read: refused with its reason, and audited within the
    /// budget unauthenticated requests have (`RejectionAudit`).
    private func malformed(_ bytes: [UInt8], service: DUISService, _ malformed: RequestIntake.Malformed, at time: Timestamp) async -> GatewayResponse {
        let reason = malformed.reason, kind = malformed.kind, status = malformed.status
        var mutations: [Mutation] = []
        if rejections.admit(reason: kind, at: time) {
            let digest = AuditChain.hex(Array(SHA256.hash(data: bytes)))
            mutations.append(.audit(AuditEvent(at: time, kind: .requestRejected, detail: "\(service.title): \(reason); \(bytes.count) octets, SHA-256 \(digest)")))
        }
        if let summary = rejections.summary(at: time) { mutations.append(.audit(summary)) }
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        return .text(status, "not a valid DUIS Service Request: \(reason)")
    }

    /// Writes the summary of unitemised rejections once its interval has passed (the hub
    /// calls this periodically, so a flood's count is logged even when nothing follows it).
    public func flushRejectionSummary(force: Bool = false) async {
        guard let summary = rejections.summary(at: clock.now(), force: force) else { return }
        do {
            try await committer.commit([.audit(summary)])
        } catch {
            logger.error("the summary of rejected requests could not be audited: \(error)")
        }
    }

    func refuse(_ header: RequestHeader, service: DUISService, _ refusal: Refusal, digest: String, size: Int, at time: Timestamp,
                        authenticated: Bool, persistCounter: Bool = true, allowedBy: String? = nil, extra: [Mutation] = []) async -> GatewayResponse {
        guard authenticated else {
            // Anyone can send this (or replay it): one entry, not attributed to the user it
            // claims to come from, within the budget for unauthenticated requests.
            var mutations: [Mutation] = []
            if rejections.admit(reason: "\(refusal.code.rawValue) [\(refusal.rule)]", at: time) {
                mutations.append(.audit(AuditEvent(at: time, kind: .decision, srv: header.variant.srv.text, requestID: header.requestID.description,
                                                   code: refusal.code.rawValue,
                                                   detail: "[\(refusal.rule)] \(refusal.reason); unauthenticated request claiming to come from \(header.requestID.originator) (\(service.title), command variant \(untrusted(header.commandVariantText, limit: 8)), \(size) octets, SHA-256 \(digest))")))
            }
            if let summary = rejections.summary(at: time) { mutations.append(.audit(summary)) }
            do {
                try await committer.commit(mutations)
            } catch {
                return storageFailure(error)
            }
            return signedResponse(header, code: refusal.code, comment: refusal.reason)
        }
        var mutations: [Mutation] = [.audit(requestEvent(header, service: service, digest: digest, size: size, at: time, authenticated: authenticated))]
        if let allowedBy {
            mutations.append(.audit(decisionEvent(header, code: .I0, rule: .accessControl, reason: allowedBy, at: time)))
        }
        mutations.append(.audit(decisionEvent(header, code: refusal.code, rule: refusal.rule, reason: refusal.reason, at: time)))
        mutations.append(.audit(responseEvent(header, code: refusal.code, detail: "synchronous refusal", at: time)))
        if authenticated && persistCounter {
            mutations.append(.setCounter(originator: header.requestID.originator, counter: header.requestID.counter))
        }
        mutations += extra
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        return signedResponse(header, code: refusal.code, comment: refusal.reason)
    }

    /// An ExecutionDateTime from this date on cancels the user's held future-dated requests
    /// of the same SRV to the same device (DUIS's convention for cancelling future-dated
    /// commands is 3000-12-31T00:00:00Z).
    static let cancellationDate = Timestamp(year: 3000, month: 1, day: 1)

    /// The most future-dated requests one user may have held for one device.
    static let maxHeldPerDevice = 100

    /// What is kept of a request that is already answered: its bytes up to 64 KiB (a
    /// request that runs later keeps its bytes whatever their size, to run them; the
    /// audit log has every request's SHA-256).
    static func kept(_ bytes: [UInt8]) -> [UInt8] { bytes.count <= 65_536 ? bytes : [] }

    private func acceptDeviceRequest(_ header: RequestHeader, body: ElementTree, service: DUISService, bytes: [UInt8], digest: String,
                                     decision: AccessDecision, at time: Timestamp, executeAt: Timestamp?) async -> GatewayResponse {
        if let executeAt, executeAt >= Self.cancellationDate {
            return await cancelFutureDated(header, service: service, bytes: bytes, digest: digest, decision: decision, at: time)
        }
        // Command variants 2 and 3 return the GBCS command, MAC'd, for local delivery over
        // the HAN.
        var localCommand: [UInt8]?
        let local = header.commandVariant == .nonCriticalLocal || header.commandVariant == .nonCriticalWANAndLocal
        if local, let device = decision.device {
            var commandBody = body
            commandBody.children.removeAll { $0.name == "ExecutionDateTime" }
            do throws(Refusal) {
                let built = commands.command(srv: header.variant.srv, body: commandBody, user: header.requestID.originator,
                                             roles: registry.user(header.requestID.originator)?.roles ?? [], device: device,
                                             counter: header.requestID.counter,
                                             customerIdentificationNumber: header.variant.srv == "9.1" ? WANCommands.makeCustomerIdentificationNumber() : nil)
                switch built {
                case .command(let frame):
                    localCommand = try commands.maced(frame)
                case .notBuilt(let reason):
                    throw Refusal(.E17, rule: .localCommand, "no GBCS command of \(header.variant.srv) \(header.variant.name) for local delivery: \(reason)")
                case .refused(let refusal):
                    throw refusal
                }
            } catch {
                return await refuse(header, service: service, error, digest: digest, size: bytes.count, at: time, authenticated: true, allowedBy: decision.rule)
            }
        }
        if header.commandVariant == .nonCriticalLocal {
            return await returnLocalCommand(header, command: localCommand ?? [], service: service, bytes: bytes, digest: digest, decision: decision, at: time)
        }
        let futureDated = executeAt.map { $0 > time } ?? false
        if futureDated {
            // Held requests wait on disk, with their bodies: a user may hold so many per device.
            do {
                let held = try await services.store.heldRequestCount(originator: header.requestID.originator, target: header.requestID.target)
                if held >= Self.maxHeldPerDevice {
                    return await refuse(header, service: service, Refusal(.E12, rule: .futureDatedLimit,
                                                                          "\(header.requestID.originator) already holds \(held) future-dated requests for \(header.requestID.target), the most gbsm holds per user and device; cancel some (ExecutionDateTime 3000-12-31) or wait for them to run"),
                                        digest: digest, size: bytes.count, at: time, authenticated: true, allowedBy: decision.rule)
                }
            } catch {
                return storageFailure(error)
            }
        }
        let status: RequestStatus = futureDated ? .scheduled : .awaitingDevice
        let stored = StoredRequest(requestID: header.requestID.description, originator: header.requestID.originator, target: header.requestID.target,
                                   counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: Int(header.commandVariantText) ?? 0,
                                   receivedAt: time, executeAt: executeAt, status: status, code: ResponseCode.I99.rawValue, raw: bytes)
        let note = futureDated ? "future-dated for \(executeAt?.iso8601 ?? ""): held until then" : "stored at the device boundary, awaiting delivery to the device"
        let mutations: [Mutation] = [
            .setCounter(originator: header.requestID.originator, counter: header.requestID.counter),
            .insertRequest(stored),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: .I99, rule: .accessControl, reason: "\(decision.rule); \(note)", at: time)),
            .audit(responseEvent(header, code: .I99, detail: "synchronous acknowledgement", at: time)),
        ]
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        // A request due now runs on the gateway's parse; a held one is read again when due.
        dispatcher.enqueue(stored.requestID, due: futureDated ? (executeAt ?? time) : time,
                           parsed: futureDated ? nil : ParsedRequests.Parsed(header: header, body: body))
        if let localCommand {
            let payload = Data(localCommand).base64EncodedString()
            return signedResponse(header, code: .I99, payload: { writer in
                writer.open("sr:LocalCommand")
                writer.element("sr:GBCSPayload", payload)
                writer.close()
            }, comment: nil)
        }
        return signedResponse(header, code: .I99, comment: nil)
    }

    /// Command variant 2: the command for local delivery only, answered at once (I0); it
    /// does not go over the SM WAN.
    private func returnLocalCommand(_ header: RequestHeader, command: [UInt8], service: DUISService, bytes: [UInt8], digest: String,
                                    decision: AccessDecision, at time: Timestamp) async -> GatewayResponse {
        let mutations: [Mutation] = [
            .setCounter(originator: header.requestID.originator, counter: header.requestID.counter),
            .insertRequest(StoredRequest(requestID: header.requestID.description, originator: header.requestID.originator, target: header.requestID.target,
                                         counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: CommandVariant.nonCriticalLocal.rawValue,
                                         receivedAt: time, executeAt: nil, status: .completed, code: ResponseCode.I0.rawValue, raw: Self.kept(bytes))),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: .I0, rule: .accessControl, reason: "\(decision.rule); the GBCS command MAC'd for local delivery over the HAN, \(command.count) octets", at: time)),
            .audit(responseEvent(header, code: .I0, detail: "synchronous command for local delivery", at: time)),
        ]
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        let payload = Data(command).base64EncodedString()
        return signedResponse(header, code: .I0, payload: { writer in
            writer.open("sr:LocalCommand")
            writer.element("sr:GBCSPayload", payload)
            writer.close()
        }, comment: nil)
    }

    private func cancelFutureDated(_ header: RequestHeader, service: DUISService, bytes: [UInt8], digest: String, decision: AccessDecision,
                                   at time: Timestamp, attempt: Int = 0) async -> GatewayResponse {
        let cancelled: [String]
        do {
            // IDs only, of this user, device and SRV (at most as many as may be held).
            cancelled = try await services.store.heldRequestIDs(originator: header.requestID.originator, target: header.requestID.target,
                                                                srv: header.variant.srv.text, limit: Self.maxHeldPerDevice)
        } catch {
            return storageFailure(error)
        }
        let note = cancelled.isEmpty ? "no future-dated \(header.variant.srv) request of this user was held for \(header.requestID.target)"
            : "cancelled \(cancelled.count) held future-dated request(s): \(cancelled.joined(separator: ", "))"
        var mutations: [Mutation] = [
            .setCounter(originator: header.requestID.originator, counter: header.requestID.counter),
            .insertRequest(StoredRequest(requestID: header.requestID.description, originator: header.requestID.originator, target: header.requestID.target,
                                         counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: Int(header.commandVariantText) ?? 0,
                                         receivedAt: time, executeAt: nil, status: .completed, code: ResponseCode.I0.rawValue, raw: Self.kept(bytes))),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: .I99, rule: .cancelFutureDated, reason: "\(decision.rule); ExecutionDateTime 3000-12-31 asks to cancel; \(note)", at: time)),
            .audit(responseEvent(header, code: .I99, detail: "synchronous acknowledgement", at: time)),
        ]
        for requestID in cancelled {
            mutations.append(.setRequestStatus(requestID: requestID, status: .cancelled, code: nil))
            mutations.append(.audit(AuditEvent(at: time, kind: .decision, actor: header.requestID.originator, device: header.requestID.target,
                                               srv: header.variant.srv.text, requestID: requestID, code: "cancelled",
                                               detail: "[cancel-future-dated] cancelled by \(header.requestID.description)")))
        }
        let response = DUISResponse(schemaVersion: header.schemaVersion, requestID: header.requestID.description, responseID: header.requestID.responseID,
                                    code: .I0, dateTime: time, body: .message(serviceReference: header.serviceReference, srv: header.variant.srv.text, payload: nil))
        mutations.append(.enqueueOutbox(OutboxItem(recipient: header.requestID.originator, kind: "service-response", messageID: header.requestID.responseID,
                                                   requestID: header.requestID.description, body: signer.sign(response, comment: "gbsm: \(note)"),
                                                   createdAt: time, nextAttemptAt: time)))
        do {
            try await committer.commit(mutations)
        } catch is RequestStatusConflict where attempt < 3 {
            // A held request fell due and ran (here or on another hub) since the IDs were
            // read: nothing of this commit was written; read them again.
            return await cancelFutureDated(header, service: service, bytes: bytes, digest: digest, decision: decision, at: time, attempt: attempt + 1)
        } catch {
            return storageFailure(error)
        }
        outboxWakeup.signal()
        return signedResponse(header, code: .I99, comment: nil)
    }

    private func quarantine(_ header: RequestHeader, service: DUISService, bytes: [UInt8], digest: String, breach: AnomalyDetector.Breach,
                            decision: AccessDecision, at time: Timestamp, executeAt: Timestamp?) async -> GatewayResponse {
        let reference = Int64(bitPattern: nextMessageCounter())
        let requestID = header.requestID.description
        let threshold = breach.threshold
        let reason = "anomaly detection: \(breach.observed) \(header.variant.srv) requests from \(header.requestID.originator) within \(threshold.windowSeconds) s exceed the \(breach.isUserThreshold ? "user's" : "DCC's") threshold of \(threshold.limit); quarantined as event \(reference) until the user releases or deletes it (DCC alert AD1 sent)"
        let stored = StoredRequest(requestID: requestID, originator: header.requestID.originator, target: header.requestID.target,
                                   counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: Int(header.commandVariantText) ?? 0,
                                   receivedAt: time, executeAt: executeAt, status: .quarantined, code: ResponseCode.I99.rawValue,
                                   quarantineRef: reference, raw: bytes)
        let alert = makeAlert(to: header.requestID.originator, schemaVersion: header.schemaVersion,
                              body: DCCAlerts.quarantined(requestID: requestID, reference: reference, userThreshold: breach.isUserThreshold),
                              kind: "dcc-alert AD1", requestID: requestID, at: time)
        let mutations: [Mutation] = [
            .setCounter(originator: header.requestID.originator, counter: header.requestID.counter),
            .insertRequest(stored),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: .I99, rule: .anomalyDetection, reason: reason, at: time)),
            .audit(responseEvent(header, code: .I99, detail: "synchronous acknowledgement (quarantined)", at: time)),
            .enqueueOutbox(alert),
            .audit(AuditEvent(at: time, kind: .alert, actor: header.requestID.originator, srv: header.variant.srv.text, requestID: requestID,
                              code: "AD1", detail: "DCC alert AD1 (quarantined request, event \(reference)) queued for \(header.requestID.originator)")),
        ]
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        logger.warning("quarantined \(requestID): \(reason)")
        outboxWakeup.signal()
        return signedResponse(header, code: .I99, comment: reason)
    }

    private func nonDevice(_ header: RequestHeader, body: ElementTree, service: DUISService, user: UserRecord, decision: AccessDecision, bytes: [UInt8],
                           digest: String, at time: Timestamp) async -> GatewayResponse {
        let input = NonDeviceRequest(header: header, body: body, user: user, role: decision.role, received: time)
        let base = baseMutations(header, service: service, bytes: bytes, digest: digest, decision: decision, at: time, synchronous: true)
        let result: Result<NonDeviceOutcome, Refusal>
        do {
            result = try await services.execute(input, finalize: base)
        } catch {
            return storageFailure(error)
        }
        switch result {
        case .success(let outcome):
            return signedResponse(header, code: .I0, payload: outcome.payload, comment: nil)
        case .failure(let refusal):
            return signedResponse(header, code: refusal.code, comment: refusal.reason)
        }
    }

    /// The gateway's own record of a non-device request, whichever way its service ends.
    private func baseMutations(_ header: RequestHeader, service: DUISService, bytes: [UInt8], digest: String, decision: AccessDecision,
                               at time: Timestamp, synchronous: Bool) -> @Sendable (Result<NonDeviceOutcome, Refusal>) -> [Mutation] {
        let request = requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)
        return { result in
            var mutations: [Mutation] = [.setCounter(originator: header.requestID.originator, counter: header.requestID.counter)]
            if synchronous { mutations.append(.audit(request)) }
            switch result {
            case .success(let outcome):
                if synchronous {
                    mutations.append(.insertRequest(StoredRequest(
                        requestID: header.requestID.description, originator: header.requestID.originator, target: header.requestID.target,
                        counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: 8, receivedAt: time, executeAt: nil,
                        status: .completed, code: ResponseCode.I0.rawValue, raw: Self.kept(bytes))))
                }
                mutations.append(.audit(self.decisionEvent(header, code: .I0, rule: .accessControl, reason: "\(decision.rule); \(outcome.note)", at: time)))
                mutations.append(.audit(self.responseEvent(header, code: .I0, detail: synchronous ? "synchronous result" : "asynchronous result queued", at: time)))
            case .failure(let refusal):
                mutations.append(.audit(self.decisionEvent(header, code: refusal.code, rule: refusal.rule, reason: refusal.reason, at: time)))
                mutations.append(.audit(self.responseEvent(header, code: refusal.code, detail: synchronous ? "synchronous refusal" : "asynchronous refusal queued", at: time)))
            }
            return mutations
        }
    }

    // MARK: - Alerts and released requests

    func nextMessageCounter() -> UInt64 {
        messageCounter.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// A signed DCC alert or asynchronous response queued for a user.
    func makeAlert(to recipient: EUI64, schemaVersion: String, body: DUISResponse.Body, kind: String, requestID: String?, at time: Timestamp) -> OutboxItem {
        let messageID = "\(dccEUI):\(recipient):\(nextMessageCounter())"
        let response = DUISResponse(schemaVersion: schemaVersion, requestID: nil, responseID: messageID, code: .I0, dateTime: time, body: body)
        return OutboxItem(recipient: recipient, kind: kind, messageID: messageID, requestID: requestID, body: signer.sign(response),
                          createdAt: time, nextAttemptAt: time)
    }

    /// Processes a request its user released from quarantine: a device request moves to
    /// the device boundary; a non-device request runs now and its result is sent as an
    /// asynchronous response.
    func processReleased(_ stored: StoredRequest) async {
        // A released request is a stored job like any other: marked before it runs. Its
        // crash count stays (a parked request released to the device boundary is still a
        // suspect there).
        do {
            try await jobs.mark([.request(stored.requestID)])
        } catch {
            logger.error("released request \(stored.requestID) could not be marked as running: \(error)")
            return
        }
        await processReleasedMarked(stored)
        await jobs.finished(.request(stored.requestID), crashes: 0)
    }

    private func processReleasedMarked(_ stored: StoredRequest) async {
        let time = clock.now()
        if ScheduledRun.isScheduledRun(stored) {
            // A DCC schedule's run, released after it was parked: back to the device boundary.
            if await commitReleased([
                .setRequestStatus(requestID: stored.requestID, status: .scheduled, code: ResponseCode.I99.rawValue),
                .audit(AuditEvent(at: time, kind: .decision, actor: stored.originator, device: stored.target, srv: stored.srv, requestID: stored.requestID,
                                  code: "I99", detail: "[job-parked] released by an operator; the schedule run goes to the device boundary again")),
            ], "released schedule run", stored) {
                dispatcher.enqueue(stored.requestID, due: time)
            }
            return
        }
        let document: XMLDocument
        let request: ServiceRequestDocument
        do {
            document = try XMLDocument.parse(stored.raw, limits: limits)
            request = try ServiceRequestDocument(document)
        } catch {
            logger.error("released request \(stored.requestID) can no longer be read: \(error)")
            await commitReleased([.setRequestStatus(requestID: stored.requestID, status: .refused, code: ResponseCode.E12.rawValue)], "the refusal of unreadable released request", stored)
            return
        }
        let header = request.header
        // Access control again: the user, the registrations and the device may have
        // changed while the request sat in quarantine.
        guard let user = registry.user(stored.originator) else {
            await queueAsynchronousResult(header, stored: stored, result: .failure(Refusal(.E1, rule: .userRegistered, "\(stored.originator) is no longer a registered DCC user")),
                                          at: time, decision: nil)
            return
        }
        let decision: AccessDecision
        do {
            let service = header.commandVariant?.service ?? .sendCommand
            decision = try accessControl.decide(header: header, user: user, service: service, at: max(stored.executeAt ?? time, time))
        } catch {
            await queueAsynchronousResult(header, stored: stored, result: .failure(error), at: time, decision: nil)
            return
        }
        if header.commandVariant == .criticalTransform {
            await releasedTransform(header, body: request.body(), stored: stored, decision: decision, at: time)
            return
        }
        if header.commandVariant == .nonCriticalLocal {
            await releasedLocalCommand(header, body: request.body(), stored: stored, decision: decision, at: time)
            return
        }
        guard header.variant.isNonDevice else {
            let status: RequestStatus = (stored.executeAt.map { $0 > time } ?? false) ? .scheduled : .awaitingDevice
            if await commitReleased([
                .setRequestStatus(requestID: stored.requestID, status: status, code: ResponseCode.I99.rawValue),
                .audit(AuditEvent(at: time, kind: .decision, actor: stored.originator, device: stored.target, srv: stored.srv, requestID: stored.requestID,
                                  code: "I99", detail: "[quarantine-release] released by its user; \(decision.rule); now \(status.rawValue)")),
            ], "released request", stored) {
                dispatcher.enqueue(stored.requestID, due: max(stored.executeAt ?? time, time))
            }
            return
        }
        let input = NonDeviceRequest(header: header, body: request.body(), user: user, role: decision.role, received: time)
        do {
            _ = try await services.execute(input) { [self] result in
                var mutations: [Mutation] = [.setRequestStatus(requestID: stored.requestID, status: result.isSuccess ? .completed : .refused,
                                                               code: (result.refusal?.code ?? .I0).rawValue)]
                mutations += baseMutations(header, service: .nonDevice, bytes: stored.raw, digest: "", decision: decision, at: time, synchronous: false)(result)
                    .filter { if case .setCounter = $0 { return false } else { return true } }
                mutations.append(.enqueueOutbox(asynchronousResponse(header, result: result, at: time)))
                return mutations
            }
            outboxWakeup.signal()
        } catch let conflict as RequestStatusConflict {
            logger.notice("released request: \(conflict) (another hub on the shared store took it)")
        } catch {
            logger.error("released request \(stored.requestID) could not be processed: \(error)")
        }
    }

    func asynchronousResponse(_ header: RequestHeader, result: Result<NonDeviceOutcome, Refusal>, at time: Timestamp) -> OutboxItem {
        let code: ResponseCode
        var payload: (@Sendable (inout CanonicalXMLWriter) -> Void)?
        switch result {
        case .success(let outcome):
            code = .I0
            payload = outcome.payload
        case .failure(let refusal):
            code = refusal.code
        }
        let response = DUISResponse(schemaVersion: header.schemaVersion, requestID: header.requestID.description,
                                    responseID: header.requestID.responseID, code: code, dateTime: time,
                                    body: .message(serviceReference: header.serviceReference, srv: header.variant.srv.text, payload: payload))
        return OutboxItem(recipient: header.requestID.originator, kind: "service-response", messageID: header.requestID.responseID,
                          requestID: header.requestID.description, body: signer.sign(response, comment: result.refusal.map { "gbsm: \($0.code.rawValue): \($0.reason)" }),
                          createdAt: time, nextAttemptAt: time)
    }

    private func queueAsynchronousResult(_ header: RequestHeader, stored: StoredRequest, result: Result<NonDeviceOutcome, Refusal>, at time: Timestamp,
                                         decision: AccessDecision?) async {
        var mutations: [Mutation] = [
            .setRequestStatus(requestID: stored.requestID, status: .refused, code: (result.refusal?.code ?? .I0).rawValue),
            .enqueueOutbox(asynchronousResponse(header, result: result, at: time)),
        ]
        if let refusal = result.refusal {
            mutations.append(.audit(decisionEvent(header, code: refusal.code, rule: refusal.rule, reason: "after release from quarantine: \(refusal.reason)", at: time)))
        }
        await commitReleased(mutations, "the refusal of released request", stored)
        outboxWakeup.signal()
    }

    /// Commits what moves a released request on; true once committed. Another hub on a
    /// shared store that moved it first (`RequestStatusConflict`) is noted, not an error;
    /// any other failure is logged, and the request stays released to be tried again.
    @discardableResult
    func commitReleased(_ mutations: [Mutation], _ what: String, _ stored: StoredRequest) async -> Bool {
        do {
            try await committer.commit(mutations)
            return true
        } catch let conflict as RequestStatusConflict {
            logger.notice("\(what): \(conflict) (another hub on the shared store took it)")
        } catch {
            logger.error("\(what) \(stored.requestID) could not be recorded; it stays released and is tried again: \(error)")
        }
        return false
    }
}

extension Result where Failure == Refusal {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
    var refusal: Refusal? { if case .failure(let refusal) = self { return refusal } else { return nil } }
}
