import DUIS
import Logging
import MMC
import Storage
import Synchronization

/// DCC's side of what the devices send unasked (`DeviceMessage`): each alert to the
/// parties registered for the device's premises (and, for a held command's outcome, the
/// party that sent the command), the held commands' outcomes in the audit log and the
/// firmware version a CS06 outcome reports in the inventory, and a comms hub's last gasp
/// as DCC's PowerOutageEvent alert to the network operator. Everything is committed in one
/// transaction with the devices' side's own writes, then delivery is woken.
final class DeviceInbox: DeviceMessageSink {
    let dccEUI: EUI64
    let inventory: Inventory
    let responses: DeviceResponses
    let signer: ResponseSigner
    let committer: GroupCommitter
    let counter: DCCCounter
    /// The time (`HubClock`) the messages are queued at.
    let clock: any HubClock
    let logger: Logger

    init(dccEUI: EUI64, inventory: Inventory, responses: DeviceResponses, signer: ResponseSigner, committer: GroupCommitter, counter: DCCCounter,
         clock: any HubClock, logger: Logger) {
        self.dccEUI = dccEUI
        self.inventory = inventory
        self.responses = responses
        self.signer = signer
        self.committer = committer
        self.counter = counter
        self.clock = clock
        self.logger = logger
    }

    /// PowerOutageEvent's DCC alert code: DUIS lists N1 to N65 and N999 without saying
    /// which carries which payload, so gbsm uses the catch-all N999.
    static let powerOutageAlertCode = "N999"

    func receive(_ messages: [DeviceMessage], writes: [Mutation]) async throws {
        let now = clock.now()
        var mutations = DeviceSideWrites.checked(writes, logger: logger)
        var devicesChanged = false
        for message in messages {
            switch message {
            case .alert(let alert):
                mutations += alertMutations(alert, at: now)
            case .heldCommands(let outcomes):
                mutations += responses.heldCommandMutations(outcomes, at: now)
                devicesChanged = devicesChanged || !outcomes.isEmpty
            case .lastGasp(let commsHub, let meter, let mpxn, let at, let cause):
                mutations += lastGaspMutations(commsHub: commsHub, meter: meter, mpxn: mpxn, at: at, cause: cause, now: now)
            }
        }
        guard !mutations.isEmpty else { return }
        try await committer.commit(mutations)
        responses.committed(mutations, devicesChanged: devicesChanged)
        responses.wakeDelivery()
    }

    /// An alert to each party registered for it (the device's premises' meters), once each.
    func alertMutations(_ alert: DeviceAlert, at now: Timestamp) -> [Mutation] {
        guard let device = inventory.device(alert.header.originator) else { return [] }
        var mutations: [Mutation] = []
        var seen = Set<EUI64>()
        for recipient in AlertRouting.parties(alert.recipients, device: device, inventory: inventory, at: alert.at) where seen.insert(recipient).inserted {
            mutations.append(.enqueueOutbox(responses.deviceAlert(alert, to: recipient, at: now)))
            mutations.append(.audit(AuditEvent(at: alert.at, kind: .alert, actor: recipient, device: alert.header.originator, code: alert.hexCode,
                                               detail: "device alert \(alert.hexCode) \(alert.description) queued for \(recipient)")))
        }
        return mutations
    }

    /// DCC's PowerOutageEvent alert (N999) to each network operator registered for the meter.
    func lastGaspMutations(commsHub: EUI64, meter: EUI64, mpxn: String, at: Timestamp, cause: String, now: Timestamp) -> [Mutation] {
        guard let esme = inventory.device(meter) else { return [] }
        var mutations: [Mutation] = []
        for operatorEUI in AlertRouting.parties(.networkOperator, device: esme, inventory: inventory, at: at) {
            let messageID = "\(dccEUI):\(operatorEUI):\(counter.next())"
            let body = DUISResponse.Body.dccAlert(code: Self.powerOutageAlertCode) { writer in
                writer.open("sr:PowerOutageEvent")
                writer.element("sr:CommsHubDeviceID", commsHub.description)
                writer.element("sr:StartDateTime", at.iso8601)
                writer.element("sr:MPxN", mpxn)
                writer.close()
            }
            let response = DUISResponse(schemaVersion: "5.4", requestID: nil, responseID: messageID, code: .I0, dateTime: at, body: body)
            mutations.append(.enqueueOutbox(OutboxItem(recipient: operatorEUI, kind: "dcc-alert \(Self.powerOutageAlertCode) PowerOutageEvent",
                                                       messageID: messageID, requestID: nil, body: signer.sign(response), createdAt: now, nextAttemptAt: now)))
            mutations.append(.audit(AuditEvent(at: at, kind: .alert, actor: operatorEUI, device: commsHub, code: Self.powerOutageAlertCode,
                                               detail: "DCC alert PowerOutageEvent (\(cause)) queued for \(operatorEUI)")))
        }
        return mutations
    }
}

/// DCC's own counter for the messages it originates (schedule runs, DCC alerts): from the
/// time in microseconds at start, so a restart never reuses one.
final class DCCCounter: Sendable {
    private let value: Atomic<UInt64>

    init(start: Timestamp) { value = Atomic(start.microsecondCounter &+ 500) }

    func next() -> UInt64 { value.wrappingAdd(1, ordering: .relaxed).newValue }
}
