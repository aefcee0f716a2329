import DUIS
import Foundation
import MMC
import Storage

/// What a device request's outcome leaves for its users: the signed asynchronous Service
/// Response (the device's answer, or the code of a request that could not run), the
/// device's alerts to each party they are for, the outcomes of commands the device held,
/// and the device records the outcome changed.
///
/// Each is built as mutations for the dispatcher to commit in the same transaction as the
/// device's new state, so a response is never sent for an outcome that was not recorded.
/// The stage is apart from `DeviceDispatcher` so what a user receives can be tested alone:
/// it reads no clock (the time is an argument), commits nothing and sends nothing. Once
/// the dispatcher has committed, `committed(_:devicesChanged:)` brings the in-memory
/// inventory up to date and `wakeDelivery()` tells the delivery loop there is mail.
final class DeviceResponses: Sendable {
    /// DCC's EUI: in the response IDs of schedule runs.
    let dccEUI: EUI64
    let inventory: Inventory
    /// Each user's answer format (GBCS or MMC).
    let registry: UserRegistry
    /// A schedule run's response goes to the schedule's owner.
    let schedules: ScheduleBook
    /// The device's answers and alerts as each user receives them (GBCS or MMC).
    let answers: DeviceAnswers
    let signer: ResponseSigner
    /// The delivery loop's wakeup (`ResponseDelivery`).
    let delivery: Wakeup

    init(dccEUI: EUI64, inventory: Inventory, registry: UserRegistry, schedules: ScheduleBook, answers: DeviceAnswers, signer: ResponseSigner,
         delivery: Wakeup) {
        self.dccEUI = dccEUI
        self.inventory = inventory
        self.registry = registry
        self.schedules = schedules
        self.answers = answers
        self.signer = signer
        self.delivery = delivery
    }

    /// The signed asynchronous Service Response carrying the device's answer.
    /// Under a data privacy plan (`planReceipt`) it carries no device payload: the receipt
    /// is its comment.
    func response(_ work: DeviceRequestPreparation.Work, reply outcome: DeviceReply, originator: EUI64, command: [UInt8]?, planReceipt: String? = nil,
                  at time: Timestamp) -> OutboxItem {
        let payload: String
        var fallback: String?
        if planReceipt != nil {
            // Under a plan the user receives DCC's emptied answer (a schedule's) or none: not
            // the device's message.
            payload = work.scheduleID == nil ? "" : Data(answers.direct.encode(outcome.response)).base64EncodedString()
        } else {
            let answer = answers.payload(outcome, command: command, user: originator, format: registry.user(originator)?.answerFormat ?? .gbcs)
            payload = Data(answer.bytes).base64EncodedString()
            if answer.form == .direct {
                fallback = "gbsm: the device's answer could not be written in GBCS; GBCSPayload holds the emulator's MMC XML (README, Not yet)"
            }
        }
        let header = work.header
        let cin = outcome.customerIdentificationNumber
        let scheduleID = work.scheduleID
        let write: @Sendable (inout CanonicalXMLWriter) -> Void = { writer in
            if let scheduleID {
                writer.open("sr:DSPScheduledMessage")
                writer.element("sr:GBCSPayload", payload)
                writer.element("sr:DSPScheduleID", String(scheduleID))
                writer.close()
            } else if let cin {
                writer.open("sr:CINMessage")
                writer.element("sr:GBCSPayload", payload)
                writer.element("sr:CustomerIdentificationNumber", cin)
                writer.close()
            } else {
                writer.element("sr:GBCSPayload", payload)
            }
        }
        // A scheduled message must carry a payload (the plan's emptied answer); any other
        // answer under a plan carries none.
        let body: DUISResponse.Body = .message(serviceReference: header.serviceReference, srv: header.variant.srv.text,
                                               payload: planReceipt != nil && scheduleID == nil ? nil : write)
        let requestID = scheduleID == nil ? work.stored.requestID : nil
        let responseID = scheduleID == nil ? header.requestID.responseID : "\(work.device.eui):\(originator):\(outcome.response.header.counter)"
        let document = DUISResponse(schemaVersion: header.schemaVersion, requestID: requestID, responseID: responseID, code: .I0, dateTime: time, body: body)
        let comment = planReceipt ?? (outcome.success ? fallback : "gbsm: the device refused the command: \(outcome.note)" + (fallback.map { "; " + $0 } ?? ""))
        return OutboxItem(recipient: originator, kind: scheduleID == nil ? "service-response" : "dcc-scheduled-response", messageID: responseID,
                          requestID: work.stored.requestID, body: signer.sign(document, comment: comment), createdAt: time, nextAttemptAt: time)
    }

    /// What ends a request the device did not answer (or that can no longer run): its
    /// status, the decision's and the response's audit entries, and the asynchronous
    /// response carrying the code, after `extra`. `work` is what preparation knew of it,
    /// if it got that far.
    func failure(_ stored: StoredRequest, code: ResponseCode, reason: String, rule: RuleID, work: DeviceRequestPreparation.Work? = nil,
                 extra: [Mutation] = [], at time: Timestamp) -> [Mutation] {
        // The stored text is the request's own, checked when it was received.
        let variant = work?.header.variant ?? ServiceCatalogue.variant(text: stored.srv)
        let srv = variant?.srv.text ?? stored.srv
        let serviceReference = work?.header.serviceReference ?? variant?.serviceReference ?? stored.srv
        let isScheduled = ScheduledRun.isScheduledRun(stored)
        let originator = isScheduled ? (ScheduledRun(stored: stored).flatMap { schedules.schedule($0.scheduleID)?.owner } ?? stored.originator) : stored.originator
        let responseID = isScheduled ? "\(dccEUI):\(originator):\(stored.counter)" : "\(stored.target):\(stored.originator):\(stored.counter)"
        let document = DUISResponse(schemaVersion: work?.header.schemaVersion ?? "5.4", requestID: isScheduled ? nil : stored.requestID,
                                    responseID: responseID, code: code, dateTime: time,
                                    body: .message(serviceReference: serviceReference, srv: srv, payload: nil))
        return extra + [
            .setRequestStatus(requestID: stored.requestID, status: .failed, code: code.rawValue),
            .audit(AuditEvent(at: time, kind: .decision, actor: originator, device: stored.target, srv: srv, requestID: stored.requestID,
                              code: code.rawValue, detail: "[\(rule)] \(reason)")),
            .audit(AuditEvent(at: time, kind: .response, actor: originator, device: stored.target, srv: srv, requestID: stored.requestID,
                              code: code.rawValue, detail: "asynchronous response queued")),
            .enqueueOutbox(OutboxItem(recipient: originator, kind: "service-response", messageID: responseID, requestID: stored.requestID,
                                      body: signer.sign(document, comment: "gbsm: \(code.rawValue): \(reason)"), createdAt: time, nextAttemptAt: time)),
        ]
    }

    /// A device alert as DUIS carries it to one user.
    func deviceAlert(_ alert: DeviceAlert, to recipient: EUI64, at time: Timestamp) -> OutboxItem {
        let payload = Data(answers.payload(alert, recipient: recipient, format: registry.user(recipient)?.answerFormat ?? .gbcs)).base64EncodedString()
        let messageID = "\(alert.header.originator):\(recipient):\(alert.header.counter)"
        let document = DUISResponse(schemaVersion: "5.4", requestID: nil, responseID: messageID, code: .I0, dateTime: time,
                                    body: .deviceAlert(code: alert.hexCode, payload: payload))
        return OutboxItem(recipient: recipient, kind: "device-alert \(alert.hexCode)", messageID: messageID, requestID: nil,
                          body: signer.sign(document), createdAt: time, nextAttemptAt: time)
    }

    /// Who receives an alert the device raised while it ran `originator`'s command: the
    /// originator, if the alert is for it, and the parties registered for the premises'
    /// meters the alert is for; each once.
    func recipients(_ alert: DeviceAlert, device: DeviceRecord, originator: EUI64) -> [EUI64] {
        AlertRouting.recipients(alert, device: device, originator: originator, inventory: inventory)
    }

    /// The alerts a device raised while it ran `originator`'s command, queued for each of
    /// their recipients with an audit entry each.
    func alertMutations(_ alerts: [DeviceAlert], device: DeviceRecord, originator: EUI64, at time: Timestamp) -> [Mutation] {
        var mutations: [Mutation] = []
        for alert in alerts {
            // Routed by the device's record as it stands now, as the device addressed it.
            for recipient in recipients(alert, device: inventory.device(alert.header.originator) ?? device, originator: originator) {
                mutations.append(.enqueueOutbox(deviceAlert(alert, to: recipient, at: time)))
                mutations.append(.audit(AuditEvent(at: time, kind: .alert, actor: recipient, device: alert.header.originator,
                                                   code: alert.hexCode, detail: "device alert \(alert.hexCode) \(alert.description) queued for \(recipient)")))
            }
        }
        return mutations
    }

    /// What a device's held commands that ran leave to commit: an audit entry each, their
    /// outcome alerts to the party that sent them (and any other party the alert names),
    /// and the firmware version a CS06 outcome reports, in DCC's inventory as an immediate
    /// activation's answer puts it.
    func heldCommandMutations(_ outcomes: [HeldCommandReport], at time: Timestamp) -> [Mutation] {
        var mutations: [Mutation] = []
        for outcome in outcomes {
            let held = outcome
            mutations.append(.audit(AuditEvent(at: held.executedAt, kind: .device, actor: held.originator, device: held.device, srv: held.srv.text,
                                               requestID: held.requestID, code: outcome.success ? "8F66" : "8F67",
                                               detail: "future-dated \(held.srv) held by \(held.deviceType.rawValue) \(held.device) ran at \(held.executedAt.iso8601): \(outcome.note)"
                                                   + (outcome.success ? "" : " (the device did not act)"))))
            for alert in outcome.alerts {
                let recipients = inventory.device(alert.header.originator).map {
                    AlertRouting.recipients(alert, device: $0, originator: held.originator, inventory: inventory)
                } ?? (alert.recipients.contains(.originator) ? [held.originator] : [])
                for recipient in recipients {
                    mutations.append(.enqueueOutbox(deviceAlert(alert, to: recipient, at: time)))
                    mutations.append(.audit(AuditEvent(at: alert.at, kind: .alert, actor: recipient, device: alert.header.originator, code: alert.hexCode,
                                                       detail: "device alert \(alert.hexCode) \(alert.description) queued for \(recipient)")))
                }
            }
            if held.srv == "11.3", outcome.success, let version = Self.reportedFirmware(outcome.alerts),
               var device = inventory.device(held.device), device.firmwareVersion != version {
                device.firmwareVersion = version
                mutations.append(.setFirmwareVersion(device))
            }
        }
        return mutations
    }

    /// The firmware version a CS06 outcome alert reports.
    static func reportedFirmware(_ alerts: [DeviceAlert]) -> String? {
        for alert in alerts where alert.code == 0x8F66 {
            if let version = alert.payload?.children.first?.children.first(where: { $0.name == "FirmwareVersion" })?.text, !version.isEmpty {
                return String(version.prefix(64))
            }
        }
        return nil
    }

    /// A firmware activation (11.3) the device reports done: the version it now runs, for
    /// DCC's inventory (DUIS 8.2 and the SMI show it). Nil when the version did not change,
    /// or the device left the inventory meanwhile (it is not written back).
    func firmwareActivation(srv: SRV, reply outcome: DeviceReply, device: DeviceRecord) -> Mutation? {
        guard srv == "11.3", outcome.success,
              let version = outcome.response.body.children.first(where: { $0.name == "FirmwareVersion" })?.text, !version.isEmpty,
              version != device.firmwareVersion, var updated = inventory.device(device.eui)
        else { return nil }
        updated.firmwareVersion = String(version.prefix(64))
        return .setFirmwareVersion(updated)
    }

    /// Takes in what a commit changed: the in-memory inventory takes the device records
    /// the outcome changed (an opt-out, a firmware version), when there are any.
    func committed(_ mutations: [Mutation], devicesChanged: Bool) {
        if devicesChanged { inventory.apply(mutations) }
    }

    /// Tells the delivery loop new responses or alerts are committed.
    func wakeDelivery() {
        delivery.signal()
    }
}
