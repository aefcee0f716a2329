import Logging
import Storage

/// What a device side may have committed in DCC's transaction (`DeviceReply.writes`,
/// `DeviceMessageSink.receive(_:writes:)`): its own records only. The in-process homes keep
/// their state in the hub's store, so their writes ride in DCC's commit; they may not touch
/// DCC's own records (requests, the outbox, users, devices, occupancies, consents). Anything
/// else is dropped and logged, never committed.
enum DeviceSideWrites {
    static func permitted(_ mutation: Mutation) -> Bool {
        switch mutation {
        case .putDeviceState, .setDeviceWake, .tamperHandled, .putPowerCut, .addTamperEvent:
            return true
        case .setMeta(let key, _):
            return key.hasPrefix("fleet_events.")
        case .audit(let event):
            return event.kind == .powerCut || event.kind == .device
        default:
            return false
        }
    }

    /// The permitted writes of `writes`; each other one is logged.
    static func checked(_ writes: [Mutation], logger: Logger) -> [Mutation] {
        writes.filter { write in
            if permitted(write) { return true }
            logger.error("device side: a write to DCC's own records was refused: \(String(describing: write).prefix(120))")
            return false
        }
    }
}
