import Crypto
import DUIS

/// One change to the hub's durable state. Mutations from many requests are applied
/// together in one transaction by the `GroupCommitter`.
public enum Mutation: Sendable {
    case audit(AuditEvent)
    case putUser(UserRecord)
    case putUserCertificate(UserCertificateRecord)
    case deleteUserCertificates(EUI64)
    case setCounter(originator: EUI64, counter: UInt64)
    case insertRequest(StoredRequest)
    case setRequestStatus(requestID: String, status: RequestStatus, code: String?)
    /// A pre-command issued by the Transform service (its request is stored beside it).
    case issuePreCommand(PreCommandRecord)
    /// The user's signed pre-command accepted for sending: kept with the pre-command, and
    /// its request moved to the device boundary (`status`) under the send's variant.
    case sendPreCommand(requestID: String, signed: [UInt8], commandVariant: Int, status: RequestStatus, code: String, executeAt: Timestamp?, at: Timestamp)
    case putPremises(PremisesRecord)
    case putDevice(DeviceRecord)
    /// The firmware version a device reports after an activation (11.3): that column only
    /// of a stored device, so a change of its status committed meanwhile is not undone; a
    /// device known only from the fleet file is stored as given.
    case setFirmwareVersion(DeviceRecord)
    case deleteDevice(EUI64)
    case putRegistration(RegistrationRecord)
    case enqueueOutbox(OutboxItem)
    case outboxDelivered(id: Int64, at: Timestamp)
    case outboxRetry(id: Int64, attempts: Int, nextAttemptAt: Timestamp, error: String)
    case putSchedule(ScheduleRecord)
    case deleteSchedule(id: Int64, at: Timestamp)
    /// Sets a schedule aside (no more runs) or, with nil, resumes it.
    case parkSchedule(id: Int64, at: Timestamp?)
    /// A job ran to an end without the process dying: it is no longer a suspect.
    case clearCrashes(JobKey)
    /// A job was running when the process died (`RunningJobLog`): counted.
    case recordCrash(JobKey)
    /// An outbox message set aside after crashes.
    case parkOutbox(id: Int64)
    /// An operator sends a parked message again, or discards it.
    case releaseOutbox(id: Int64, at: Timestamp)
    case discardOutbox(id: Int64)
    /// Who joined a HAN device (a CAD, IHD, PPMID or HCALCS) at a premises to its meters
    /// with 8.7.2, during which occupancy, or (party nil) that it was unjoined: other users
    /// may unjoin what they joined for the household living there.
    case recordHANJoin(premises: Int64, device: EUI64, party: EUI64?, occupancy: Int, at: Timestamp)
    /// An operator sets a user's anti-replay counter, lower than it was if need be.
    case resetCounter(originator: EUI64, counter: UInt64, at: Timestamp)
    case putFirmware(FirmwareRecord)
    case putThreshold(AnomalyThreshold)
    case deviceEvent(DeviceEventRecord)
    case setMeta(key: String, value: String)
    /// A premises' device state (JSON), written with the response that changed it, and
    /// when its devices next act of their own accord (a held future-dated command), if ever.
    /// With `revision`, on a store several hubs share, it replaces only the state of
    /// revision `from` (the one it was made from), or fails the commit
    /// (`DeviceStateConflict`): two hubs acting on one premises at once cannot lose a change.
    case putDeviceState(premises: Int64, state: [UInt8], wakeAt: Timestamp?, revision: DeviceStateRevision? = nil)
    /// Sets when a premises' devices next act of their own accord, without its state (nil:
    /// never; for a premises whose state can no longer be read or run).
    case setDeviceWake(premises: Int64, wakeAt: Timestamp?)
    case putWANOutage(WANOutageRecord)
    case putPowerCut(PowerCutRecord)
    /// A tamper to be detected at a premises (its ID is the store's).
    case addTamperEvent(premises: Int64, at: Timestamp, reason: String)
    /// A tamper event acted on (its alerts are committed with this).
    case tamperHandled(id: Int64, at: Timestamp)
    /// Tells running servers that users, certificates or thresholds changed.
    case bumpRegistryVersion
    /// Consent ledger, occupancies, data privacy plans, the data access log and portal sign-in.
    case privacy(PrivacyMutation)
}

/// A signed pre-command's send committed after another's (by another hub on a shared
/// store): the later commit fails, and its hub refuses the send as a replay.
public struct PreCommandAlreadySent: Error, Equatable, CustomStringConvertible {
    public var requestID: String
    public init(requestID: String) { self.requestID = requestID }
    public var description: String { "the signed pre-command of \(requestID) was sent already" }
}

/// A new DCC schedule under an ID another hub sharing the store gave its own schedule
/// first (each hub numbers schedules from what it has read): the commit fails, and the
/// hub reads the schedules again and numbers it anew.
public struct ScheduleIDTaken: Error, Equatable, CustomStringConvertible {
    public var id: Int64
    public init(id: Int64) { self.id = id }
    public var description: String { "DCC schedule ID \(id) is another schedule's" }
}

/// The revisions of a premises' device state a write goes from and to
/// (`PremisesState.revision`, which every change raises).
public struct DeviceStateRevision: Sendable, Equatable {
    public var from: Int64
    public var to: Int64
    public init(from: Int64, to: Int64) {
        self.from = from
        self.to = to
    }
}

/// A premises' device state written over one it was not made from: another hub sharing
/// the store changed the premises meanwhile. The commit fails; the command or event runs
/// again on the newer state.
public struct DeviceStateConflict: Error, Equatable, CustomStringConvertible {
    public var premises: Int64
    public init(premises: Int64) { self.premises = premises }
    public var description: String { "premises \(premises)'s device state was changed by another hub meanwhile" }
}

/// A request's status change that its current status does not allow
/// (`RequestStatus.movableFromSQL`): it has its outcome already, or another hub moved it
/// first. The commit fails; the group commit runs the others again without it.
public struct RequestStatusConflict: Error, Equatable, CustomStringConvertible {
    public var requestID: String
    /// What the request is now.
    public var status: RequestStatus?
    /// What the change would have made it.
    public var wanted: RequestStatus
    public init(requestID: String, status: RequestStatus?, wanted: RequestStatus) {
        self.requestID = requestID
        self.status = status
        self.wanted = wanted
    }
    public var description: String {
        "request \(requestID) is \(status?.rawValue ?? "unknown") and cannot become \(wanted.rawValue)"
    }
}

/// Filters for reading the audit log.
public struct AuditQuery: Sendable {
    public var actor: EUI64?
    public var device: EUI64?
    public var srv: String?
    public var kind: AuditKind?
    public var requestID: String?
    public var from: Timestamp?
    public var to: Timestamp?
    public var limit: Int

    public init(actor: EUI64? = nil, device: EUI64? = nil, srv: String? = nil, kind: AuditKind? = nil, requestID: String? = nil,
                from: Timestamp? = nil, to: Timestamp? = nil, limit: Int = 1000) {
        self.actor = actor
        self.device = device
        self.srv = srv
        self.kind = kind
        self.requestID = requestID
        self.from = from
        self.to = to
        self.limit = limit
    }
}

/// The outcome of checking the audit chain from its first entry to its recorded head.
public struct AuditVerification: Sendable, Equatable {
    public var entries: Int64
    public var problems: [String]
    public var head: String

    public var isIntact: Bool { problems.isEmpty }
}

/// The hub's durable state, the privacy tables' included (`PrivacyRecords`). The hub's
/// stages and the homes take this protocol, not a backend: `SQLiteStore` (the embedded
/// default) and `PostgresStore` (shared by several processes) are its two backends,
/// chosen by `StoreLocation`. The hub keeps hot state (users, inventory, counters) in
/// memory and writes through `apply`.
public protocol HubStore: PrivacyRecords {
    /// Applies mutations in one transaction, chaining any audit events onto the log.
    func apply(_ mutations: [Mutation]) async throws

    func users() async throws -> [UserRecord]
    func userCertificates() async throws -> [UserCertificateRecord]
    func premises() async throws -> [PremisesRecord]
    func devices() async throws -> [DeviceRecord]
    func registrations() async throws -> [RegistrationRecord]
    func counters() async throws -> [EUI64: UInt64]
    func thresholds() async throws -> [AnomalyThreshold]
    func schedules() async throws -> [ScheduleRecord]
    func firmware() async throws -> [FirmwareRecord]
    func deviceEvents(device: EUI64) async throws -> [DeviceEventRecord]

    func request(id: String) async throws -> StoredRequest?
    /// The pre-command issued for a transform request, if any.
    func preCommand(requestID: String) async throws -> PreCommandRecord?
    func requests(status: RequestStatus, originator: EUI64?, limit: Int) async throws -> [StoredRequest]
    func requestCount(status: RequestStatus?) async throws -> Int
    /// The IDs and due times of requests in a status, without their bodies (what a queue
    /// needs at start-up, whatever the bodies weigh).
    func requestKeys(status: RequestStatus, limit: Int) async throws -> [(requestID: String, due: Timestamp)]
    /// The IDs of a user's requests held for their execution time to one device and SRV.
    func heldRequestIDs(originator: EUI64, target: EUI64, srv: String, limit: Int) async throws -> [String]
    /// How many requests a user has held for their execution time to one device.
    func heldRequestCount(originator: EUI64, target: EUI64) async throws -> Int

    /// Pending outbox items due at `now`, oldest first.
    func dueOutbox(now: Timestamp, limit: Int) async throws -> [OutboxItem]
    /// The IDs and recipients of pending outbox items due at `now`, oldest first: cheap to
    /// read repeatedly (no bodies) while earlier items are still being delivered.
    func dueOutboxKeys(now: Timestamp, limit: Int, excluding recipients: [EUI64]) async throws -> [(id: Int64, recipient: EUI64)]
    /// Outbox items by ID, still pending.
    func pendingOutboxItems(ids: [Int64]) async throws -> [OutboxItem]
    func outbox(recipient: EUI64?, status: OutboxStatus?, limit: Int) async throws -> [OutboxItem]
    /// The earliest time a pending item is due, if any.
    func nextOutboxDue() async throws -> Timestamp?

    func audit(_ query: AuditQuery) async throws -> [AuditEntry]
    func verifyAudit() async throws -> AuditVerification

    func meta(_ key: String) async throws -> String?
    func deviceState(premises: Int64) async throws -> [UInt8]?
    func premisesToWake(by time: Timestamp, limit: Int) async throws -> [Int64]
    func wanOutages() async throws -> [WANOutageRecord]
    func powerCuts() async throws -> [PowerCutRecord]
    /// Tamper events not yet acted on, oldest first, at most `limit`.
    func pendingTamperEvents(limit: Int) async throws -> [TamperEvent]
    /// Changes whenever users, certificates or thresholds change (any process).
    func registryVersion() async throws -> Int64

    func outboxItem(id: Int64) async throws -> OutboxItem?
    /// The party that joined each HAN device at a premises (8.7.2) and the occupancy it
    /// joined it in, by device.
    func hanJoins(premises: Int64) async throws -> [EUI64: (party: EUI64, occupancy: Int)]
    /// Counter resets recorded after `sequence`.
    func counterResets(after sequence: Int64) async throws -> [CounterReset]
    /// The audit entry with this sequence number, if the log holds it.
    func auditEntry(sequence: Int64) async throws -> AuditEntry?
    /// Every premises' device state (for exports), by premises ID.
    func deviceStates() async throws -> [Int64: [UInt8]]
    /// The octets the store takes (for benchmarks).
    func databaseBytes() async throws -> Int64

    /// Whether other hub processes may write to the store at once (PostgreSQL): what one
    /// process decides from memory alone (an originator's last counter) must then be
    /// claimed in the store too.
    var isShared: Bool { get }
    /// Raises an originator's stored counter to `counter` if it is above it (compared
    /// unsigned), atomically across processes, and returns nil; or returns the stored
    /// counter, which `counter` does not exceed (a replay, perhaps sent to another hub).
    func claimCounter(originator: EUI64, counter: UInt64) async throws -> UInt64?
    /// Counts one request in its anomaly window, atomically across hub processes, and
    /// returns that window's count with the request and the previous window's count.
    func countAnomalyWindow(_ window: AnomalyWindow) async throws -> AnomalyWindowCount
    /// Keeps the tables that grow with time in monthly partitions where the backend has
    /// them (PostgreSQL: plans' kept readings, aggregates and suppressions, the access
    /// log): makes the months ahead and drops the months past `retention`. SQLite keeps one
    /// file and deletes expired rows by plan (`expirePlanData`): nothing to do there.
    func maintainPartitions(now: Timestamp, retention: PartitionRetention) async throws -> PartitionMaintenance
    /// Forgets the anomaly windows no estimate at `now` (milliseconds) can read any more
    /// (those that ended a whole window ago or more); returns how many went.
    func pruneAnomalyWindows(now: Int64) async throws -> Int
    /// The pending outbox items of `ids` this hub process (`owner`) may send now: on a
    /// shared store each is leased to one process until `until` (`FOR UPDATE SKIP
    /// LOCKED`), so two hubs never send one message, and another takes it once the lease
    /// of a hub that died runs out. On a store one process writes, `pendingOutboxItems`.
    func claimOutboxItems(ids: [Int64], owner: Int64, until: Timestamp, now: Timestamp) async throws -> [OutboxItem]
    /// This process among those sharing the store, drawn at random when it opened it: the
    /// holder of the device-boundary requests its commits put there, and the owner of its
    /// outbox leases. 0 on a store one process writes.
    var instance: Int64 { get }
    /// On a shared store: records this process (`instance`) alive until `aliveUntil`, then
    /// takes over, at most `limit`, the requests at the device boundary whose holder is no
    /// longer alive at `now` (a hub that died or stopped) and returns their IDs and due
    /// times. Two hubs never take the same request (`FOR UPDATE SKIP LOCKED`). On a store
    /// one process writes, nothing: that process loads every such request when it starts.
    func adoptRequests(aliveUntil: Timestamp, now: Timestamp, limit: Int) async throws -> [(requestID: String, due: Timestamp)]
    /// On a shared store: this process stops being alive at once, so other hubs take over
    /// what it held without waiting for its time to run out (a hub that stops cleanly).
    func retireInstance() async throws
    /// On a shared store, the live process (signed alive at `now`) that has run longest:
    /// the one that runs what happens once for all (the homes' own life); nil when none
    /// is. On a store one process writes, `instance`.
    func leadingInstance(now: Timestamp) async throws -> Int64?
}

extension SQLiteStore {
    public func claimOutboxItems(ids: [Int64], owner: Int64, until: Timestamp, now: Timestamp) async throws -> [OutboxItem] {
        try await pendingOutboxItems(ids: ids)
    }

    public var instance: Int64 { 0 }

    public func adoptRequests(aliveUntil: Timestamp, now: Timestamp, limit: Int) async throws -> [(requestID: String, due: Timestamp)] { [] }

    public func retireInstance() async throws {}

    public func leadingInstance(now: Timestamp) async throws -> Int64? { instance }
}

/// The audit log's hash chain: each entry's hash covers the previous entry's hash, its
/// sequence number and every field of the event, length-prefixed, so that editing,
/// inserting or deleting any entry breaks every hash after it.
public enum AuditChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func hash(previous: [UInt8], sequence: Int64, event: AuditEvent) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        appendInteger(&hasher, UInt64(bitPattern: sequence))
        appendInteger(&hasher, UInt64(bitPattern: event.at.milliseconds))
        appendField(&hasher, event.kind.rawValue)
        appendField(&hasher, event.actor?.description)
        appendField(&hasher, event.device?.description)
        appendField(&hasher, event.srv)
        appendField(&hasher, event.requestID)
        appendField(&hasher, event.code)
        appendField(&hasher, event.detail)
        return Array(hasher.finalize())
    }

    private static func appendInteger(_ hasher: inout SHA256, _ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { hasher.update(bufferPointer: $0) }
    }

    private static func appendField(_ hasher: inout SHA256, _ value: String?) {
        guard let value else {
            appendInteger(&hasher, UInt64.max)
            return
        }
        let bytes = Array(value.utf8)
        appendInteger(&hasher, UInt64(bytes.count))
        hasher.update(data: bytes)
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
