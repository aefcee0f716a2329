import DUIS
import GBCS
import MMC
import Storage

/// The one way DCC reaches a device: a command carried over the SM WAN to the
/// communications hub of a premises, and the device's answer carried back. The device
/// boundary (`DeviceDispatcher`) knows nothing else of the homes behind the hubs: not
/// their models, their state, nor how the WAN decides whether a message arrives.
///
/// The exchange has two halves, as the real WAN has: an `attempt` (does the message reach
/// the hub, and how long does that take) and the device's `exchange` (it acts and
/// answers). Between attempts the hub waits as DCC does; the transport never sleeps.
///
/// `EmulatedWAN` is the transport to gbsm's emulated homes, in process. Tests use fakes
/// (`DeviceBoundaryTransportTests`).
protocol DeviceTransport: Sendable {
    /// One attempt to carry `command` to its device over the WAN at `time`: delivered
    /// after a round trip, lost (the hub hears nothing before its timeout) or unreachable.
    func attempt(to address: WANAddress, attempt: Int, at time: Timestamp) -> WANAttempt

    /// The device acts on a delivered command at `time` and answers. The caller holds the
    /// premises' lock (`PremisesLocks`) until it has committed the reply's `writes` with
    /// its own records and called `settled`, so one premises runs one command at a time
    /// and nothing the devices did is kept unless DCC's record of it is too.
    func exchange(_ command: WANCommand, at time: Timestamp) async throws(DeviceTransportFailure) -> DeviceReply

    /// The reply's writes were committed (`committed`), or not: the devices' side keeps
    /// what the exchange did, or forgets it and answers the next command from what it
    /// had before.
    func settled(_ reply: DeviceReply, premises: Int64, committed: Bool)
}

/// Why a delivered command got no answer from the devices' side.
enum DeviceTransportFailure: Error {
    /// The devices' side could not read or keep its own state; the command is tried again.
    case unavailable(any Error)
    /// The premises has no installation that can answer.
    case noInstallation(premises: Int64)
}

/// Where a message goes over the WAN, and what the WAN's draws for it depend on.
struct WANAddress: Sendable {
    var premises: Int64
    var region: CSPRegion
    var device: EUI64
    var deviceType: DeviceType
    /// A stable number for the message, so the WAN's draws for a request repeat.
    var message: UInt64
    /// A read of a gas meter, answered by the gas proxy from its copy of the meter's data.
    var answeredByGPF: Bool
}

/// What DCC sends over the WAN for one request.
struct WANCommand: Sendable {
    var address: WANAddress
    var premises: Int64 { address.premises }
    var device: EUI64 { address.device }
    var deviceType: DeviceType { address.deviceType }
    /// The GBCS command as it crosses the WAN (MAC'd by DCC; a critical command inside its
    /// user's signature). Nil only where gbsm builds no GBCS for the use case yet, and for a
    /// DCC schedule's run (README, "Not yet").
    var gbcs: [UInt8]?
    /// The DUIS request the command came from. The emulated device still reads its
    /// parameters from these values, after checking the GBCS it was sent (README, "Not yet").
    var srv: String
    var serviceReference: String
    var requestID: String
    var originator: EUI64
    var originatorRoles: UserRoleSet
    var body: ElementTree
    /// For a critical command future-dated at the device: the time its GBCS carries.
    var executionTime: ExecutionTime?
    /// For a firmware activation (11.3): the image 11.1 distributed, which has reached the
    /// device by the time the activation does.
    var distributedImage: DistributedImage?

    struct DistributedImage: Sendable {
        var manufacturerImageHash: [UInt8]
        var version: String
        var distributedAt: Timestamp
    }
}

/// How one attempt over the WAN went.
enum WANAttempt: Sendable, Equatable {
    /// The command reached the device after `roundTrip`.
    case delivered(roundTrip: Duration)
    /// Nothing came back within `timeout`.
    case lost(timeout: Duration, reason: String)
    /// The hub cannot be reached; DCC tries again after `retryAfter`.
    case unreachable(reason: String, retryAfter: Duration)
}

/// What came back from a device.
struct DeviceReply: Sendable {
    /// The device's answer, in the Message Mapping Catalogue's form.
    var response: DeviceResponse
    /// False when the device refused the command (its answer says so).
    var success: Bool
    /// Alerts the command made the devices raise.
    var alerts: [DeviceAlert]
    /// What happened, for the audit log.
    var note: String
    /// The CIN the IHD shows (9.1).
    var customerIdentificationNumber: String?
    /// The device left DCC's service (8.5).
    var optedOut = false
    /// A join (8.7.2) that joined two devices that were not joined before.
    var newlyJoined = false
    /// Future-dated commands the device held that fell due, and ran, before this one.
    var held: [HeldCommandReport] = []
    /// What the devices' side keeps of this exchange (the premises' device state), to be
    /// committed in the same transaction as DCC's record of it: the in-process WAN shares
    /// the hub's store, so a crash never leaves one without the other.
    var writes: [Mutation] = []
}

/// A future-dated command the device held that ran at its execution time: what DCC
/// records of it and the outcome alerts (0x8F66 or 0x8F67) the device sent.
struct HeldCommandReport: Sendable {
    var srv: String
    var requestID: String
    var originator: EUI64
    var device: EUI64
    var deviceType: DeviceType
    var executedAt: Timestamp
    var success: Bool
    var note: String
    var alerts: [DeviceAlert]
}
