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
/// (`DeviceTransportTests`).
public protocol DeviceTransport: Sendable {
    /// One attempt to carry `command` to its device over the WAN at `time`: delivered
    /// after a round trip, lost (the hub hears nothing before its timeout) or unreachable.
    func attempt(to address: WANAddress, attempt: Int, at time: Timestamp) -> DeliveryAttempt

    /// The device acts on a delivered command at `time` and answers. The caller holds the
    /// premises' lock (`PremisesLocks`) until it has committed the reply's `writes` with
    /// its own records and called `settled`, so one premises runs one command at a time
    /// and nothing the devices did is kept unless DCC's record of it is too.
    func exchange(_ command: WANCommand, at time: Timestamp) async throws(DeviceTransportFailure) -> DeviceReply

    /// The reply's writes were committed (`committed`), or not: the devices' side keeps
    /// what the exchange did, or forgets it and answers the next command from what it
    /// had before. Called exactly once per reply `exchange` returned.
    func settled(_ reply: DeviceReply, committed: Bool)
}

/// Why a delivered command got no answer from the devices' side.
public enum DeviceTransportFailure: Error {
    /// The devices' side could not read or keep its own state; the command is tried again.
    case unavailable(any Error)
    /// The premises has no installation that can answer.
    case noInstallation(premises: Int64)
}

/// Where a message goes over the WAN, and what the WAN's draws for it depend on.
public struct WANAddress: Sendable {
    public var premises: Int64
    public var region: CSPRegion
    public var device: EUI64
    public var deviceType: DeviceType
    /// A stable number for the message, so the WAN's draws for a request repeat.
    public var message: UInt64
    /// A read of a gas meter, answered by the gas proxy from its copy of the meter's data.
    public var answeredByGPF: Bool

    public init(premises: Int64, region: CSPRegion, device: EUI64, deviceType: DeviceType, message: UInt64, answeredByGPF: Bool) {
        self.premises = premises
        self.region = region
        self.device = device
        self.deviceType = deviceType
        self.message = message
        self.answeredByGPF = answeredByGPF
    }
}

/// What DCC sends over the WAN for one request.
public struct WANCommand: Sendable {
    public var address: WANAddress
    public var premises: Int64 { address.premises }
    public var device: EUI64 { address.device }
    public var deviceType: DeviceType { address.deviceType }
    /// The GBCS command as it crosses the WAN (MAC'd by DCC; a critical command inside its
    /// user's signature). Nil only where gbsm builds no GBCS for the use case yet, and for a
    /// DCC schedule's run (README, "Not yet").
    public var gbcs: [UInt8]?
    /// The DUIS request the command came from. The emulated device still reads its
    /// parameters from these values, after checking the GBCS it was sent (README, "Not yet").
    public var srv: SRV
    public var serviceReference: String
    public var requestID: String
    /// The request's counter, which the device's answer repeats (a DCC schedule's run has
    /// no GBCS command to take it from).
    public var counter: UInt64
    public var originator: EUI64
    public var originatorRoles: UserRoleSet
    public var body: ElementTree
    /// For a critical command future-dated at the device: the time its GBCS carries.
    public var executionTime: ExecutionTime?
    /// For a firmware activation (11.3): the image 11.1 distributed, which has reached the
    /// device by the time the activation does.
    public var distributedImage: DistributedImage?
    /// The earliest time the command asks the device for: the privacy rules' data window
    /// (a move-in, a consent's start). The device leaves out log entries from before it.
    public var dataWindow: DataWindow?

    /// Readings from `from` on, in entries `periodMilliseconds` long (0 for snapshots).
    public struct DataWindow: Sendable, Equatable {
        public var from: Timestamp
        public var periodMilliseconds: Int64

        public init(from: Timestamp, periodMilliseconds: Int64) {
            self.from = from
            self.periodMilliseconds = periodMilliseconds
        }
    }

    public struct DistributedImage: Sendable {
        public var manufacturerImageHash: [UInt8]
        public var version: String
        public var distributedAt: Timestamp

        public init(manufacturerImageHash: [UInt8], version: String, distributedAt: Timestamp) {
            self.manufacturerImageHash = manufacturerImageHash
            self.version = version
            self.distributedAt = distributedAt
        }
    }

    public init(address: WANAddress, gbcs: [UInt8]?, srv: SRV, serviceReference: String, requestID: String, counter: UInt64, originator: EUI64,
                originatorRoles: UserRoleSet, body: ElementTree, executionTime: ExecutionTime? = nil, distributedImage: DistributedImage? = nil,
                dataWindow: DataWindow? = nil) {
        self.address = address
        self.gbcs = gbcs
        self.srv = srv
        self.serviceReference = serviceReference
        self.requestID = requestID
        self.counter = counter
        self.originator = originator
        self.originatorRoles = originatorRoles
        self.body = body
        self.executionTime = executionTime
        self.distributedImage = distributedImage
        self.dataWindow = dataWindow
    }
}

/// How one attempt over the WAN went.
public enum DeliveryAttempt: Sendable, Equatable {
    /// The command reached the device after `roundTrip`.
    case delivered(roundTrip: Duration)
    /// Nothing came back within `timeout`.
    case lost(timeout: Duration, reason: String)
    /// The hub cannot be reached; DCC tries again after `retryAfter`.
    case unreachable(reason: String, retryAfter: Duration)
}

/// What came back from a device.
public struct DeviceReply: Sendable {
    /// The device's answer as it crossed the WAN: GBCS, MAC'd for the command's originator
    /// or signed by the device. Nil where the device wrote none (README, "Not yet").
    public var gbcs: [UInt8]?
    /// The same answer in the Message Mapping Catalogue's form: what the device read out,
    /// for DCC's plan intake and for the answers it cannot write in GBCS yet.
    public var response: DeviceResponse
    /// Log entries the device left out as before the command's data window.
    public var withheld: Int
    /// False when the device refused the command, or could not answer it as asked (its
    /// answer says so).
    public var success: Bool
    /// Alerts the command made the devices raise.
    public var alerts: [DeviceAlert]
    /// What happened, for the audit log.
    public var note: String
    /// The CIN the IHD shows (9.1).
    public var customerIdentificationNumber: String?
    /// The device left DCC's service (8.5).
    public var optedOut: Bool
    /// A join (8.7.2) that joined two devices that were not joined before.
    public var newlyJoined: Bool
    /// Future-dated commands the device held that fell due, and ran, before this one.
    public var held: [HeldCommandReport]
    /// What the devices' side keeps of this exchange (the premises' device state), to be
    /// committed in the same transaction as DCC's record of it: the in-process WAN shares
    /// the hub's store, so a crash never leaves one without the other. Only the device
    /// side's own records (`DeviceSideWrites`); anything else is dropped.
    public var writes: [Mutation]
    /// Which exchange this is, for `settled`: set by the transport.
    public var exchange: UInt64

    public init(gbcs: [UInt8]? = nil, response: DeviceResponse, withheld: Int = 0, success: Bool, alerts: [DeviceAlert], note: String,
                customerIdentificationNumber: String? = nil,
                optedOut: Bool = false, newlyJoined: Bool = false, held: [HeldCommandReport] = [], writes: [Mutation] = [], exchange: UInt64 = 0) {
        self.gbcs = gbcs
        self.response = response
        self.withheld = withheld
        self.success = success
        self.alerts = alerts
        self.note = note
        self.customerIdentificationNumber = customerIdentificationNumber
        self.optedOut = optedOut
        self.newlyJoined = newlyJoined
        self.held = held
        self.writes = writes
        self.exchange = exchange
    }
}

/// A future-dated command the device held that ran at its execution time: what DCC
/// records of it and the outcome alerts (0x8F66 or 0x8F67) the device sent.
public struct HeldCommandReport: Sendable {
    public var srv: SRV
    public var requestID: String
    public var originator: EUI64
    public var device: EUI64
    public var deviceType: DeviceType
    public var executedAt: Timestamp
    public var success: Bool
    public var note: String
    public var alerts: [DeviceAlert]

    public init(srv: SRV, requestID: String, originator: EUI64, device: EUI64, deviceType: DeviceType, executedAt: Timestamp, success: Bool,
                note: String, alerts: [DeviceAlert]) {
        self.srv = srv
        self.requestID = requestID
        self.originator = originator
        self.device = device
        self.deviceType = deviceType
        self.executedAt = executedAt
        self.success = success
        self.note = note
        self.alerts = alerts
    }
}
