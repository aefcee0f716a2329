import Devices
import DUIS
import GBCS
import Hub
import MMC
import Storage
import Synchronization
import WAN

/// The `DeviceTransport` to gbsm's emulated homes, in process: the SM WAN as its model
/// decides (region latency, losses by signal class, outages, the 2G/3G sunset, the gas
/// meter's wake-up), and behind each hub the premises' devices, acting on their model and
/// state as a pure function of (model, state, time) (`DeviceEmulator`).
///
/// It is the only part of the device boundary that knows the homes: the dispatcher sees
/// `WANCommand`s go and `DeviceReply`s come back. The premises' device state it reads and
/// keeps through `PremisesDirectory`; what an exchange changed goes back as `writes` for
/// the hub to commit with its own record, and is remembered only once that commit is made
/// (`settled`).
final class EmulatedWAN: DeviceTransport {
    let directory: PremisesDirectory
    let wan: WANState
    let emulator: DeviceEmulator
    /// How the devices write their answers in GBCS.
    let answerer: DeviceAnswerer
    /// How the devices send their alerts.
    let alerts: DeviceAlertSender
    /// States exchanges left, by exchange, until the hub's commit settles them: at most one
    /// per exchange in flight (the hub settles each once).
    private let unsettled = Mutex<[UInt64: (premises: Int64, state: PremisesState)]>([:])
    private let exchanges = Atomic<UInt64>(0)

    init(directory: PremisesDirectory, wan: WANState, emulator: DeviceEmulator, answerer: DeviceAnswerer, alerts: DeviceAlertSender) {
        self.directory = directory
        self.wan = wan
        self.emulator = emulator
        self.answerer = answerer
        self.alerts = alerts
    }

    func attempt(to command: WANAddress, attempt: Int, at time: Timestamp) -> DeliveryAttempt {
        let endpoint = directory.endpoint(premises: command.premises, region: command.region)
        let model = wan.current
        switch model.attempt(endpoint, device: command.deviceType, message: command.message, attempt: attempt, at: time, answeredByGPF: command.answeredByGPF) {
        case .delivered(let roundTrip, _):
            return .delivered(roundTrip: roundTrip)
        case .lost(let timeout):
            return .lost(timeout: timeout, reason: "no response from \(command.deviceType.rawValue) \(command.device) after \(attempt + 1) attempt(s) over the \(endpoint.region.wanTechnology) WAN")
        case .unreachable(let reason):
            return .unreachable(reason: "cannot communicate with \(command.device): \(reason)", retryAfter: model.scaledRetry(attempt))
        }
    }

    func exchange(_ command: WANCommand, at time: Timestamp) async throws(DeviceTransportFailure) -> DeviceReply {
        guard let model = directory.model(premises: command.premises) else { throw .noInstallation(premises: command.premises) }
        var state: PremisesState
        do {
            state = try await directory.state(premises: command.premises)
        } catch {
            throw .unavailable(error)
        }
        let readRevision = state.revision
        let readState = state
        let otherDevice = command.body.value("OtherDeviceID").flatMap { EUI64($0) }
        let wasJoined = otherDevice.map { DeviceEmulator.isJoined(command.device, to: $0, model: model, state: state) } ?? false
        if let image = command.distributedImage {
            state.holdFirmwareImage(command.device, manufacturerImageHash: image.manufacturerImageHash, version: image.version, at: image.distributedAt)
        }
        let deviceCommand = DeviceCommand(srv: command.srv, serviceReference: command.serviceReference, target: command.device,
                                          targetType: command.deviceType, originator: command.originator, originatorRoles: command.originatorRoles,
                                          requestID: command.requestID, body: command.body, gbcs: command.gbcs, executionTime: command.executionTime)
        var outcome = emulator.execute(deviceCommand, model: model, state: &state, at: time)
        // The device answers for the period it was asked: nothing from before DCC's window.
        var withheld = 0
        if outcome.success, let window = command.dataWindow {
            withheld = ResponseFilter.dropEntries(&outcome.response.body, before: window.from, period: window.periodMilliseconds)
        }
        let gbcs = answerer.answer(&outcome.response, success: &outcome.success, to: command)
        var reply = DeviceReply(gbcs: gbcs, response: outcome.response, withheld: withheld, success: outcome.success,
                                alerts: outcome.alerts.map { alerts.addressed($0, originator: command.originator) }, note: outcome.note,
                                customerIdentificationNumber: outcome.customerIdentificationNumber, optedOut: outcome.optedOut, held: outcome.held.map(alerts.report))
        if outcome.success, command.srv == "8.7.2", !wasJoined, let otherDevice {
            reply.newlyJoined = DeviceEmulator.isJoined(command.device, to: otherDevice, model: model, state: state)
        }
        // A read changes nothing but the answering device's counter, which comes from the
        // clock: one process that keeps the state in memory need not store it (hubs
        // sharing a store read it from there, so they store every change).
        let unstored = outcome.response.header.counter > 0 && !directory.store.isShared && state.differsOnlyByClockCounters(from: readState, at: time)
        if unstored { directory.counters(notStored: state) }
        if outcome.response.header.counter > 0, !unstored {
            reply.writes.append(.putDeviceState(premises: command.premises, state: PremisesDirectory.encode(state), wakeAt: DeviceEmulator.wakeTime(state),
                                                revision: DeviceStateRevision(from: Int64(readRevision), to: Int64(state.revision))))
        }
        reply.exchange = exchanges.wrappingAdd(1, ordering: .relaxed).newValue
        unsettled.withLock { $0[reply.exchange] = (command.premises, state) }
        return reply
    }

    func settled(_ reply: DeviceReply, committed: Bool) {
        guard let left = unsettled.withLock({ $0.removeValue(forKey: reply.exchange) }) else { return }
        if committed { directory.remember(left.premises, left.state) }
    }
}

extension HeldCommandReport {
    /// What DCC records of a held command the emulated device ran.
    init(_ outcome: DeviceEmulator.HeldOutcome) {
        let held = outcome.command
        self.init(srv: held.srv, requestID: held.requestID, originator: held.originator, device: held.device, deviceType: held.deviceType,
                  executedAt: held.executeAt, success: outcome.success, note: outcome.note, alerts: outcome.alerts)
    }
}

extension WANModel {
    /// How long the hub waits before trying an unreachable hub again: 10 s, 30 s, 60 s.
    func scaledRetry(_ attempt: Int) -> Duration {
        scaled([10.0, 30, 60, 60][min(max(attempt, 0), 3)])
    }
}
