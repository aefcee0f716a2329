import DUIS
import GBCS
import Logging
import Storage

/// What DCC is connected to at the device boundary: the SM WAN and the homes behind the
/// comms hubs. The hub is assembled with one (`Hub.open(_:devices:logger:)`) and reaches it
/// only through its `transport` (commands out, answers back); the device side sends DCC
/// what devices send unasked through the `DeviceMessageSink` it is given. The in-process
/// homes read what installers notified DCC of (the inventory) and keep their own state in
/// the hub's store, committed in DCC's transactions and limited to their own records
/// (`DeviceSideWrites`).
///
/// gbsm's own is `EmulatedHomes` (module `Homes`); tests put fakes in its place.
public protocol DeviceSide: Sendable {
    /// The SM WAN, as DCC's device boundary sends over it.
    var transport: any DeviceTransport { get }
    /// The SM WAN's coverage, as its communications service providers tell DCC.
    var coverage: any WANCoverageSource { get }
    /// What the industry's registers hold of the fleet the homes are (DCC's inventory,
    /// registrations, network topology), if they are one.
    var fleetRecords: (any FleetRecords)? { get }
    /// Loads what a previous run of the device side left, before anything runs.
    func recover() async throws
    /// The homes' own life (events, held commands falling due) until the task is cancelled.
    func run() async
    /// Acts at once on what is due by `now` (`Hub.tick()`, for tests on a moved clock).
    func pass(now: Timestamp) async
}

extension DeviceSide {
    public var fleetRecords: (any FleetRecords)? { nil }
}

/// What the hub gives the device side it is assembled with.
public struct DeviceSideContext: Sendable {
    public let configuration: HubConfiguration
    /// DCC's inventory: the installations the homes are built from, as installers notify DCC.
    public let inventory: Inventory
    public let store: any HubStore
    public let registry: UserRegistry
    /// The keys devices hold: their own KA and DS keys, and the certificates they trust
    /// (gbsm's SMKI store, which holds the test PKI's users' keys too: the emulated
    /// devices use only their own and the certificates).
    public let keys: any GBCSKeyStore
    /// One command or event per premises at a time, shared with the device boundary.
    public let locks: PremisesLocks
    /// Where what the devices send unasked goes: DCC's `DeviceInbox`.
    public let sink: any DeviceMessageSink
    /// Whether this process runs the homes' own life (`Leadership`): one hub among those
    /// sharing a store does.
    public let leadership: Leadership
    public let logger: Logger
}
