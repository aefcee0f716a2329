import DUIS
import MMC
import Storage

/// What the devices send DCC unasked, over the same WAN its commands cross: a device's
/// alert, the outcomes of future-dated commands a device held and ran, and a comms hub's
/// last gasp when the power goes.
public enum DeviceMessage: Sendable {
    /// An alert a device raised; DCC sends it to the parties it is for.
    case alert(DeviceAlert)
    /// Future-dated commands a device held that fell due and ran.
    case heldCommands([HeldCommandReport])
    /// A comms hub lost its power supply at `at` (its last gasp): DCC tells the network
    /// operator registered for `meter` with a DCC alert. `cause` is for the audit log.
    case lastGasp(commsHub: EUI64, meter: EUI64, mpxn: String, at: Timestamp, cause: String)
}

/// Where the devices' side hands what the devices send unasked (`DeviceMessage`): DCC's
/// `DeviceInbox`. `writes` are what the devices' side keeps of the same events (a premises'
/// device state, an event marked handled); they are committed with DCC's record of the
/// messages, as an exchange's are (`DeviceTransport`), or not at all, in which case the
/// call throws and the devices' side keeps nothing either.
public protocol DeviceMessageSink: Sendable {
    func receive(_ messages: [DeviceMessage], writes: [Mutation]) async throws
}
