import DUIS
import Foundation
import GBCS
import Storage

/// The two halves of a critical command at the gateway (DUIS command variants 4 to 7).
///
/// Transform (4, on the Transform service): the request is authenticated and authorised as
/// any other; DCC answers I0 at once with the GBCS pre-command in `PreCommand`, and keeps
/// it with the request. Send (5 and 7 on the Send Command service, 6 on the Non-Device
/// service): the user's `SignedPreCommand` under the same RequestID, counter included, is
/// checked against what was issued (`CriticalCommandDesk`); DCC MACs it for the device and
/// sends it (5, 7), and returns it for local delivery over the HAN (6, 7).
extension Gateway {
    func transform(_ header: RequestHeader, body: ElementTree, service: DUISService, decision: AccessDecision, bytes: [UInt8], digest: String,
                   at time: Timestamp) async -> GatewayResponse {
        guard let device = decision.device else {
            return await refuse(header, service: service, Refusal(.E19, rule: .deviceExists, "\(header.requestID.target) is not a device"),
                                digest: digest, size: bytes.count, at: time, authenticated: true, allowedBy: decision.rule)
        }
        let preCommand: GBCSFrame
        do {
            preCommand = try desk.transform(header: header, body: body, device: device, at: time)
        } catch {
            return await refuse(header, service: service, error, digest: digest, size: bytes.count, at: time, authenticated: true, allowedBy: decision.rule)
        }
        let octets = preCommand.encode()
        let requestID = header.requestID.description
        // The transform request is kept whole: the device acts on its values once the
        // signed pre-command comes back.
        let stored = StoredRequest(requestID: requestID, originator: header.requestID.originator, target: header.requestID.target,
                                   counter: header.requestID.counter, srv: header.variant.srv.text, commandVariant: CommandVariant.criticalTransform.rawValue,
                                   receivedAt: time, executeAt: nil, status: .transformed, code: ResponseCode.I0.rawValue, raw: bytes)
        let mutations: [Mutation] = [
            .setCounter(originator: header.requestID.originator, counter: header.requestID.counter),
            .insertRequest(stored),
            .issuePreCommand(PreCommandRecord(requestID: requestID, preCommand: octets, issuedAt: time)),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: .I0, rule: .accessControl,
                                 reason: "\(decision.rule); transformed into GBCS message code \(String(format: "0x%04X", preCommand.messageCode)), \(octets.count) octets, for the user to sign",
                                 at: time)),
            .audit(responseEvent(header, code: .I0, detail: "synchronous pre-command", at: time)),
        ]
        do {
            try await committer.commit(mutations)
        } catch {
            return storageFailure(error)
        }
        let version = device.gbcsVersion ?? "4.2"
        let payload = Data(octets).base64EncodedString()
        return signedResponse(header, code: .I0, payload: { writer in
            writer.open("sr:PreCommand")
            writer.element("sr:GBCSVersion", version)
            writer.element("sr:GBCSPayload", payload)
            writer.close()
        }, comment: nil)
    }

    /// A transform request its user released from quarantine: the pre-command is issued
    /// now and sent as the asynchronous answer.
    func releasedTransform(_ header: RequestHeader, body: ElementTree, stored: StoredRequest, decision: AccessDecision, at time: Timestamp) async {
        var mutations: [Mutation]
        if let device = decision.device {
            do {
                let preCommand = try desk.transform(header: header, body: body, device: device, at: stored.receivedAt)
                let octets = preCommand.encode()
                let version = device.gbcsVersion ?? "4.2"
                let payload = Data(octets).base64EncodedString()
                let response = DUISResponse(schemaVersion: header.schemaVersion, requestID: stored.requestID, responseID: header.requestID.responseID,
                                            code: .I0, dateTime: time,
                                            body: .message(serviceReference: header.serviceReference, srv: header.variant.srv.text, payload: { writer in
                                                writer.open("sr:PreCommand")
                                                writer.element("sr:GBCSVersion", version)
                                                writer.element("sr:GBCSPayload", payload)
                                                writer.close()
                                            }))
                mutations = [
                    .setRequestStatus(requestID: stored.requestID, status: .transformed, code: ResponseCode.I0.rawValue),
                    .issuePreCommand(PreCommandRecord(requestID: stored.requestID, preCommand: octets, issuedAt: time)),
                    .audit(decisionEvent(header, code: .I0, rule: .quarantineRelease, reason: "released by its user; \(decision.rule); transformed into its pre-command", at: time)),
                    .enqueueOutbox(OutboxItem(recipient: stored.originator, kind: "service-response", messageID: header.requestID.responseID,
                                              requestID: stored.requestID, body: signer.sign(response), createdAt: time, nextAttemptAt: time)),
                ]
            } catch {
                mutations = [
                    .setRequestStatus(requestID: stored.requestID, status: .refused, code: error.code.rawValue),
                    .audit(decisionEvent(header, code: error.code, rule: error.rule, reason: "after release from quarantine: \(error.reason)", at: time)),
                    .enqueueOutbox(asynchronousResponse(header, result: .failure(error), at: time)),
                ]
            }
        } else {
            let refusal = Refusal(.E19, rule: .deviceExists, "\(stored.target) is not a device")
            mutations = [
                .setRequestStatus(requestID: stored.requestID, status: .refused, code: refusal.code.rawValue),
                .enqueueOutbox(asynchronousResponse(header, result: .failure(refusal), at: time)),
            ]
        }
        if await commitReleased(mutations, "released transform", stored) { outboxWakeup.signal() }
    }

    /// A command-variant-2 request its user released from quarantine: the command for
    /// local delivery is made now and sent as the asynchronous answer; nothing goes over
    /// the SM WAN.
    func releasedLocalCommand(_ header: RequestHeader, body: ElementTree, stored: StoredRequest, decision: AccessDecision, at time: Timestamp) async {
        var commandBody = body
        commandBody.children.removeAll { $0.name == "ExecutionDateTime" }
        var result: Result<[UInt8], Refusal>
        if let device = decision.device {
            switch commands.command(srv: header.variant.srv, body: commandBody, user: stored.originator, roles: registry.user(stored.originator)?.roles ?? [],
                                    device: device, counter: stored.counter,
                                    customerIdentificationNumber: header.variant.srv == "9.1" ? WANCommands.makeCustomerIdentificationNumber() : nil) {
            case .command(let frame):
                do {
                    result = .success(try commands.maced(frame))
                } catch {
                    result = .failure(error)
                }
            case .notBuilt(let reason):
                result = .failure(Refusal(.E17, rule: .localCommand, "no GBCS command of \(header.variant.srv) for local delivery: \(reason)"))
            case .refused(let refusal):
                result = .failure(refusal)
            }
        } else {
            result = .failure(Refusal(.E19, rule: .deviceExists, "\(stored.target) is not a device"))
        }
        var mutations: [Mutation]
        switch result {
        case .success(let octets):
            let payload = Data(octets).base64EncodedString()
            let response = DUISResponse(schemaVersion: header.schemaVersion, requestID: stored.requestID, responseID: header.requestID.responseID,
                                        code: .I0, dateTime: time,
                                        body: .message(serviceReference: header.serviceReference, srv: header.variant.srv.text, payload: { writer in
                                            writer.open("sr:LocalCommand")
                                            writer.element("sr:GBCSPayload", payload)
                                            writer.close()
                                        }))
            mutations = [
                .setRequestStatus(requestID: stored.requestID, status: .completed, code: ResponseCode.I0.rawValue),
                .audit(decisionEvent(header, code: .I0, rule: .quarantineRelease, reason: "released by its user; \(decision.rule); the command MAC'd for local delivery", at: time)),
                .enqueueOutbox(OutboxItem(recipient: stored.originator, kind: "service-response", messageID: header.requestID.responseID,
                                          requestID: stored.requestID, body: signer.sign(response), createdAt: time, nextAttemptAt: time)),
            ]
        case .failure(let refusal):
            mutations = [
                .setRequestStatus(requestID: stored.requestID, status: .refused, code: refusal.code.rawValue),
                .audit(decisionEvent(header, code: refusal.code, rule: refusal.rule, reason: "after release from quarantine: \(refusal.reason)", at: time)),
                .enqueueOutbox(asynchronousResponse(header, result: .failure(refusal), at: time)),
            ]
        }
        if await commitReleased(mutations, "released local command", stored) { outboxWakeup.signal() }
    }

    func sendSignedPreCommand(_ header: RequestHeader, request: ServiceRequestDocument, commandVariant: CommandVariant, service: DUISService,
                              decision: AccessDecision, bytes: [UInt8], digest: String, at time: Timestamp, executeAt: Timestamp?) async -> GatewayResponse {
        let requestID = header.requestID.description
        func refuse(_ refusal: Refusal) async -> GatewayResponse {
            await self.refuse(header, service: service, refusal, digest: digest, size: bytes.count, at: time, authenticated: true, allowedBy: decision.rule)
        }
        // One send at a time per RequestID; what was issued is read once the claim is held,
        // so a send committed meanwhile is seen.
        guard desk.claim(requestID) else {
            return await refuse(CriticalCommandRule.replayed.refusal("the signed pre-command of \(requestID) is being sent already"))
        }
        defer { desk.release(requestID) }
        let issued: PreCommandRecord?
        let transformed: StoredRequest?
        do {
            issued = try await services.store.preCommand(requestID: requestID)
            transformed = try await services.store.request(id: requestID)
        } catch {
            return storageFailure(error)
        }
        guard let issued, let transformed, transformed.srv == header.variant.srv.text else {
            return await refuse(CriticalCommandRule.notIssued.refusal(
                "no pre-command of \(header.variant.srv) was issued for \(requestID): send the request with command variant 4 to the Transform service first, and keep its RequestID"))
        }
        guard issued.sentAt == nil, transformed.status == .transformed else {
            return await refuse(CriticalCommandRule.replayed.refusal("the signed pre-command of \(requestID) was sent already: each pre-command is sent once"))
        }
        guard CriticalCommandDesk.isLive(issued, at: time) else {
            return await refuse(CriticalCommandRule.expired.refusal("the pre-command of \(requestID) was issued at \(issued.issuedAt.iso8601), more than a day ago: transform the request again"))
        }
        // A send may be held by DCC (DSP future-dated) within the limits of any held
        // request; the cancellation date is for cancelling, not for holding for ever.
        if let executeAt, executeAt >= Self.cancellationDate {
            return await refuse(CriticalCommandRule.notIssued.refusal("a signed pre-command cannot be held until \(executeAt.iso8601): that date cancels held requests"))
        }
        if let executeAt, executeAt > time {
            do {
                let held = try await services.store.heldRequestCount(originator: header.requestID.originator, target: header.requestID.target)
                if held >= Self.maxHeldPerDevice {
                    return await refuse(Refusal(.E12, rule: .futureDatedLimit,
                                                "\(header.requestID.originator) already holds \(held) future-dated requests for \(header.requestID.target), the most gbsm holds per user and device"))
                }
            } catch {
                return storageFailure(error)
            }
        }
        let signedText = request.body().value("GBCSPayload") ?? ""
        let command: GBCSFrame
        do {
            let signed = try desk.check(signedPayload: signedText, issued: issued, user: header.requestID.originator)
            command = try desk.command(signed)
        } catch {
            return await refuse(error)
        }
        let octets = command.encode()
        let local = commandVariant != .signedPreCommandWAN
        let overWAN = commandVariant != .signedPreCommandLocal
        let futureDated = overWAN && (executeAt.map { $0 > time } ?? false)
        let status: RequestStatus = overWAN ? (futureDated ? .scheduled : .awaitingDevice) : .completed
        let note = overWAN
            ? (futureDated ? "signed pre-command verified; held until \(executeAt?.iso8601 ?? "")" : "signed pre-command verified; MAC'd by the access control broker, awaiting delivery to the device")
                + (local ? "; also returned for local delivery" : "")
            : "signed pre-command verified; MAC'd by the access control broker and returned for local delivery over the HAN"
        let code: ResponseCode = overWAN ? .I99 : .I0
        let mutations: [Mutation] = [
            .sendPreCommand(requestID: requestID, signed: octets, commandVariant: commandVariant.rawValue, status: status, code: code.rawValue,
                            executeAt: futureDated ? executeAt : nil, at: time),
            .audit(requestEvent(header, service: service, digest: digest, size: bytes.count, at: time, authenticated: true)),
            .audit(decisionEvent(header, code: code, rule: .accessControl, reason: "\(decision.rule); \(note)", at: time)),
            .audit(responseEvent(header, code: code, detail: local ? "synchronous command for local delivery" : "synchronous acknowledgement", at: time)),
        ]
        do {
            try await committer.commit(mutations)
        } catch is PreCommandAlreadySent {
            // Another hub on the shared store committed this send first.
            return await refuse(CriticalCommandRule.replayed.refusal("the signed pre-command of \(requestID) was sent already: each pre-command is sent once"))
        } catch {
            return storageFailure(error)
        }
        if overWAN { dispatcher.enqueue(requestID, due: futureDated ? (executeAt ?? time) : time) }
        guard local else { return signedResponse(header, code: code, comment: nil) }
        let payload = Data(octets).base64EncodedString()
        return signedResponse(header, code: code, payload: { writer in
            writer.open("sr:LocalCommand")
            writer.element("sr:GBCSPayload", payload)
            writer.close()
        }, comment: nil)
    }
}
