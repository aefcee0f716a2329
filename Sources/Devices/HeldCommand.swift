import DUIS
import GBCS

/// A critical command a device holds until its execution time: GBCS lets the device be
/// sent a future-dated tariff, prepayment configuration, load limit, auxiliary schedule
/// or firmware activation at once and act on it later (DUIS's "Device" future-dated
/// pattern). The device answers that it holds it; when the time comes it acts and raises
/// alert 0x8F66 (done) or 0x8F67 (not done), one per instruction, to the party that sent
/// it.
///
/// Kept in the premises' state, so a held command survives a restart and is replaced or
/// cancelled as GBCS says: a later command of the same message code to the same device
/// replaces it (the device has one passive set of each), and one dated 3000-12-31 drops it.
public struct HeldCommand: Sendable, Hashable, Codable {
    public var device: EUI64
    public var deviceType: DeviceType
    public var srv: SRV
    public var serviceReference: String
    /// The party whose signed command it is (it receives the outcome alerts).
    public var originator: EUI64
    public var originatorRoles: UInt16
    public var requestID: String
    /// The request's body, which the device acts on when the time comes.
    public var body: ElementTree
    /// The command's message code and originator counter (the outcome alerts repeat both).
    public var messageCode: UInt16
    public var counter: UInt64
    public var executeAt: Timestamp
    /// What the command changes; one outcome alert each.
    public var instructions: [FutureDatedCommand.Instruction]

    /// The most commands one device holds: GBCS's use cases that may be future-dated,
    /// each with one passive set.
    public static let maxPerDevice = 16
}
