/// Storage: the hub's durable state behind one protocol, `HubStore`, with two backends:
/// SQLite (GRDB, the embedded default in a data folder) and PostgreSQL (postgres-nio,
/// the scale-out store), chosen by `StoreLocation`. Every change is a `Mutation`;
/// the `GroupCommitter` gathers the mutations of many concurrent requests into one
/// transaction (one sync for the lot), and the store appends audit events to a
/// hash chain inside that same transaction.
import DUIS

public enum UserStatus: String, Sendable, Codable, CaseIterable {
    case active, suspended, withdrawn
}

/// A DCC user: one EUI (its business originator ID) with one or more roles.
public struct UserRecord: Sendable, Hashable {
    public var eui: EUI64
    public var name: String
    public var roles: UserRoleSet
    public var status: UserStatus
    public var responseURL: String?
    public var createdAt: Timestamp
    /// How the user receives devices' answers and alerts in `sr:GBCSPayload`.
    public var answerFormat: AnswerFormat

    public init(eui: EUI64, name: String, roles: UserRoleSet, status: UserStatus = .active, responseURL: String? = nil, createdAt: Timestamp = .now(),
                answerFormat: AnswerFormat = .gbcs) {
        self.eui = eui
        self.name = name
        self.roles = roles
        self.status = status
        self.responseURL = responseURL
        self.createdAt = createdAt
        self.answerFormat = answerFormat
    }
}

/// What a user receives in DUIS's `sr:GBCSPayload` for a device's answer or alert.
/// DCC sends the device's GBCS message, which the user's Parse and Correlate verifies and
/// decodes; gbsm can also do that for the user and send the Message Mapping Catalogue's
/// XML (`ra:GBCSResponse`) instead, where it holds the user's KA private key.
public enum AnswerFormat: String, Sendable, Hashable, CaseIterable {
    /// The device's GBCS message, as DCC sends it (the default).
    case gbcs
    /// The MMC XML that DCC's Parse and Correlate makes of it.
    case mmc
}

/// A user's DUIS XML-signing certificate, found by issuer and serial when a request
/// arrives.
public struct UserCertificateRecord: Sendable, Hashable {
    public var eui: EUI64
    public var issuerName: String
    public var serialNumber: String
    public var role: Int
    public var der: [UInt8]

    public init(eui: EUI64, issuerName: String, serialNumber: String, role: Int, der: [UInt8]) {
        self.eui = eui
        self.issuerName = issuerName
        self.serialNumber = serialNumber
        self.role = role
        self.der = der
    }
}

/// SMI device status.
public enum DeviceStatus: String, Sendable, Codable, CaseIterable {
    case pending = "Pending", whitelisted = "Whitelisted", installedNotCommissioned = "InstalledNotCommissioned"
    case commissioned = "Commissioned", decommissioned = "Decommissioned", withdrawn = "Withdrawn"
    case suspended = "Suspended", recovery = "Recovery", recovered = "Recovered"
}

/// A premises: the address the devices of one smart metering system share.
public struct PremisesRecord: Sendable, Hashable {
    public var id: Int64
    public var uprn: Int64?
    public var postcode: String
    public var addressIdentifier: String
    public var region: CSPRegion

    public init(id: Int64, uprn: Int64?, postcode: String, addressIdentifier: String, region: CSPRegion) {
        self.id = id
        self.uprn = uprn
        self.postcode = postcode
        self.addressIdentifier = addressIdentifier
        self.region = region
    }
}

/// One entry of the Smart Metering Inventory.
public struct DeviceRecord: Sendable, Hashable {
    public var eui: EUI64
    public var type: DeviceType
    public var status: DeviceStatus
    public var premises: Int64?
    public var manufacturer: String
    public var model: String
    public var smetsCHTSVersion: String?
    public var firmwareVersion: String?
    public var importMPxN: String?
    public var secondaryImportMPAN: String?
    public var exportMPAN: String?
    public var esmeVariant: String?
    public var dateCommissioned: Timestamp?
    public var gbcsVersion: String?
    public var hanVariant: String?
    public var optedOut: Bool
    /// Who added the device to the inventory (pre-notification or opt-in): the party
    /// that may change it until it is associated with an MPAN or MPRN.
    public var notifiedBy: EUI64?

    public init(eui: EUI64, type: DeviceType, status: DeviceStatus, premises: Int64?, manufacturer: String, model: String,
                smetsCHTSVersion: String? = nil, firmwareVersion: String? = nil, importMPxN: String? = nil,
                secondaryImportMPAN: String? = nil, exportMPAN: String? = nil, esmeVariant: String? = nil,
                dateCommissioned: Timestamp? = nil, gbcsVersion: String? = nil, hanVariant: String? = nil, optedOut: Bool = false,
                notifiedBy: EUI64? = nil) {
        self.eui = eui
        self.type = type
        self.status = status
        self.premises = premises
        self.manufacturer = manufacturer
        self.model = model
        self.smetsCHTSVersion = smetsCHTSVersion
        self.firmwareVersion = firmwareVersion
        self.importMPxN = importMPxN
        self.secondaryImportMPAN = secondaryImportMPAN
        self.exportMPAN = exportMPAN
        self.esmeVariant = esmeVariant
        self.dateCommissioned = dateCommissioned
        self.gbcsVersion = gbcsVersion
        self.hanVariant = hanVariant
        self.optedOut = optedOut
        self.notifiedBy = notifiedBy
    }
}

/// Who is registered for an MPAN or MPRN, in a role, from a date (the registration
/// data DCC receives from the electricity and gas registration systems).
public struct RegistrationRecord: Sendable, Hashable {
    public var mpxn: String
    public var role: UserRole
    public var party: EUI64
    public var from: Timestamp
    public var to: Timestamp?

    public init(mpxn: String, role: UserRole, party: EUI64, from: Timestamp, to: Timestamp? = nil) {
        self.mpxn = mpxn
        self.role = role
        self.party = party
        self.from = from
        self.to = to
    }

    public func covers(_ time: Timestamp) -> Bool { from <= time && (to.map { time < $0 } ?? true) }
}

/// Where a request is in its life.
public enum RequestStatus: String, Sendable, Codable, CaseIterable {
    /// Acknowledged (I99), waiting at the device boundary for delivery to the device.
    case awaitingDevice = "awaiting-device"
    /// Future-dated: acknowledged, to be delivered at its execution time.
    case scheduled
    /// Held by anomaly detection until released or deleted.
    case quarantined
    /// Released from quarantine by its user (or from parking by an operator), to be
    /// processed by a running hub (the first of several sharing a store to move it on).
    case released
    /// Completed (non-device requests answered I0, or a device's response received).
    case completed
    /// Refused after it was stored (for example deleted from quarantine).
    case refused
    /// Critical request waiting for GBCS support (kept so older data folders read).
    case unsupported
    /// A critical request transformed (command variant 4): its pre-command was issued and
    /// waits for the user to send it back signed (command variant 5, 6 or 7).
    case transformed
    /// The device could not be reached or did not answer (E20, E21).
    case failed
    /// A future-dated request its user cancelled before it ran.
    case cancelled
    /// Running when the hub died, twice: set aside instead of being run a third time
    /// (`gbsm quarantine list` shows it; release runs it again, delete ends it).
    case parked
}

extension RequestStatus {
    /// A request in one of these has its outcome: its status never changes again.
    public static let finished: [RequestStatus] = [.completed, .refused, .failed, .cancelled]

    /// Whether a request is at the device boundary in this status, to be run by the hub
    /// holding it.
    public var isAtDeviceBoundary: Bool { self == .awaitingDevice || self == .scheduled }

    /// The statuses `Mutation.setRequestStatus` may move a request to `self` from, as an
    /// SQL condition on its `status` column (both backends): a finished request keeps its
    /// outcome, and only a released request goes back to the device boundary or is
    /// transformed (a request gets there first with its insert or its pre-command's
    /// send). A commit that breaks this fails with `RequestStatusConflict`: of two hubs
    /// sharing a store that both ran one request, or both moved one released request on,
    /// one records it.
    public var movableFromSQL: String {
        if isAtDeviceBoundary || self == .transformed { return "status = '\(RequestStatus.released.rawValue)'" }
        return "status NOT IN (" + Self.finished.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }
}

/// An accepted request, with its signed XML exactly as received.
public struct StoredRequest: Sendable, Hashable {
    public var requestID: String
    public var originator: EUI64
    public var target: EUI64
    public var counter: UInt64
    public var srv: String
    public var commandVariant: Int
    public var receivedAt: Timestamp
    public var executeAt: Timestamp?
    public var status: RequestStatus
    public var code: String?
    public var quarantineRef: Int64?
    public var raw: [UInt8]
    /// How many times the hub died while running this request.
    public var crashes: Int
    /// The DCC schedule (5.1) this is a run of, sent by DCC for the schedule's owner; nil
    /// for a user's own request. A run has no signed XML (`raw` is empty).
    public var scheduleID: Int64?
    /// On a shared store, the hub process holding the request at its device boundary
    /// (`HubStore.instance`, set by the commit that put it there); nil on a store one
    /// process writes. Another hub takes it over when its holder stops being alive
    /// (`HubStore.adoptRequests`).
    public var holder: Int64?

    public init(requestID: String, originator: EUI64, target: EUI64, counter: UInt64, srv: String, commandVariant: Int,
                receivedAt: Timestamp, executeAt: Timestamp?, status: RequestStatus, code: String?, quarantineRef: Int64? = nil, raw: [UInt8],
                crashes: Int = 0, scheduleID: Int64? = nil) {
        self.requestID = requestID
        self.originator = originator
        self.target = target
        self.counter = counter
        self.srv = srv
        self.commandVariant = commandVariant
        self.receivedAt = receivedAt
        self.executeAt = executeAt
        self.status = status
        self.code = code
        self.quarantineRef = quarantineRef
        self.raw = raw
        self.crashes = crashes
        self.scheduleID = scheduleID
    }
}

public enum OutboxStatus: String, Sendable, Codable {
    case pending, delivered
    /// Being delivered when the hub died, twice: set aside (`gbsm quarantine`).
    case parked
    /// A parked message an operator chose not to send.
    case discarded
}

/// A signed DUIS message (a Service Response or an alert) to POST to a user.
public struct OutboxItem: Sendable, Hashable {
    public var id: Int64?
    public var recipient: EUI64
    public var kind: String
    public var messageID: String
    public var requestID: String?
    public var body: [UInt8]
    public var createdAt: Timestamp
    public var attempts: Int
    public var nextAttemptAt: Timestamp
    public var status: OutboxStatus
    public var lastError: String?
    public var deliveredAt: Timestamp?
    /// How many times the hub died while delivering this message.
    public var crashes: Int

    public init(id: Int64? = nil, recipient: EUI64, kind: String, messageID: String, requestID: String?, body: [UInt8],
                createdAt: Timestamp, attempts: Int = 0, nextAttemptAt: Timestamp, status: OutboxStatus = .pending,
                lastError: String? = nil, deliveredAt: Timestamp? = nil, crashes: Int = 0) {
        self.id = id
        self.recipient = recipient
        self.kind = kind
        self.messageID = messageID
        self.requestID = requestID
        self.body = body
        self.createdAt = createdAt
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.status = status
        self.lastError = lastError
        self.deliveredAt = deliveredAt
        self.crashes = crashes
    }
}

/// A DCC schedule (5.1): a DCC-scheduled read, repeated at a frequency. Its dates and
/// time are typed (checked when the request was read, and again when loaded), so no
/// stored schedule can make the scheduler's arithmetic fail.
public struct ScheduleRecord: Sendable, Hashable {
    public var id: Int64
    public var owner: EUI64
    public var device: EUI64
    public var srv: String
    public var frequency: ScheduleFrequency
    public var startDate: CalendarDay
    public var endDate: CalendarDay?
    /// The time of day of each run (midnight when the request named none).
    public var executionTime: TimeOfDay?
    /// The `CreateSchedule` element as received, in canonical XML.
    public var definition: [UInt8]
    public var createdAt: Timestamp
    public var deletedAt: Timestamp?
    /// Set aside after one of its runs was running when the hub died twice: no further
    /// runs until an operator resumes or deletes it (`gbsm schedules`).
    public var parkedAt: Timestamp?

    public var isActive: Bool { deletedAt == nil && parkedAt == nil }

    public init(id: Int64, owner: EUI64, device: EUI64, srv: String, frequency: ScheduleFrequency, startDate: CalendarDay, endDate: CalendarDay?,
                executionTime: TimeOfDay?, definition: [UInt8], createdAt: Timestamp, deletedAt: Timestamp? = nil, parkedAt: Timestamp? = nil) {
        self.id = id
        self.owner = owner
        self.device = device
        self.srv = srv
        self.frequency = frequency
        self.startDate = startDate
        self.endDate = endDate
        self.executionTime = executionTime
        self.definition = definition
        self.createdAt = createdAt
        self.deletedAt = deletedAt
        self.parkedAt = parkedAt
    }
}

/// A stored job the hub runs in the background: a request at the device boundary (a
/// user's, held or future-dated, or a DCC schedule's run), a request released from
/// quarantine, or an outbox message. Each is marked as running before it runs
/// (`RunningJobLog`), so that one which kills the process is recognised at the next start
/// instead of killing it again and again.
public enum JobKey: Sendable, Hashable, CustomStringConvertible {
    case request(String)
    case outbox(Int64)

    public var description: String {
        switch self {
        case .request(let id): return "request \(id)"
        case .outbox(let id): return "outbox message \(id)"
        }
    }
}

/// An operator's reset of a user's anti-replay counter (`gbsm users reset-counter`).
public struct CounterReset: Sendable, Hashable {
    public var sequence: Int64
    public var originator: EUI64
    public var counter: UInt64
    public var at: Timestamp

    public init(sequence: Int64, originator: EUI64, counter: UInt64, at: Timestamp) {
        self.sequence = sequence
        self.originator = originator
        self.counter = counter
        self.at = at
    }
}

/// A firmware distribution (11.1, 11.4): the image's hash and size, the version and the
/// devices it is for. The image itself is kept as a file in the data folder.
public struct FirmwareRecord: Sendable, Hashable {
    public var requestID: String
    public var owner: EUI64
    public var srv: String
    public var version: String
    public var imageSHA256: String
    public var imageSize: Int
    public var devices: [EUI64]
    public var createdAt: Timestamp

    public init(requestID: String, owner: EUI64, srv: String, version: String, imageSHA256: String, imageSize: Int, devices: [EUI64], createdAt: Timestamp) {
        self.requestID = requestID
        self.owner = owner
        self.srv = srv
        self.version = version
        self.imageSHA256 = imageSHA256
        self.imageSize = imageSize
        self.devices = devices
        self.createdAt = createdAt
    }
}

/// A per-user, per-SRV anomaly detection threshold: at most `limit` requests in any
/// `windowSeconds`. The SRV `*` applies to every SRV without its own threshold.
public struct AnomalyThreshold: Sendable, Hashable {
    public var user: EUI64
    public var srv: String
    public var limit: Int
    public var windowSeconds: Int

    public init(user: EUI64, srv: String, limit: Int, windowSeconds: Int) {
        self.user = user
        self.srv = srv
        self.limit = limit
        self.windowSeconds = windowSeconds
    }
}

/// Something that happened to a device in the inventory (installation, return, opt-in,
/// a locally delivered command's response).
public struct DeviceEventRecord: Sendable, Hashable {
    public var device: EUI64
    public var at: Timestamp
    public var kind: String
    public var requestID: String?
    public var detail: String

    public init(device: EUI64, at: Timestamp, kind: String, requestID: String?, detail: String) {
        self.device = device
        self.at = at
        self.kind = kind
        self.requestID = requestID
        self.detail = detail
    }
}

/// One fact for the audit log. The store gives it a sequence number and chains it.
/// Every field is bounded here (`maxDetail` octets of detail, `maxField` of each short
/// field), whatever a caller puts in: the log is synced on every request, and no request,
/// signed or not, can make an entry grow with what it sends.
public struct AuditEvent: Sendable, Hashable {
    public static let maxDetail = 4096
    public static let maxField = 160

    public var at: Timestamp
    public var kind: AuditKind
    public var actor: EUI64?
    public var device: EUI64?
    public var srv: String?
    public var requestID: String?
    public var code: String?
    public var detail: String

    public init(at: Timestamp = .now(), kind: AuditKind, actor: EUI64? = nil, device: EUI64? = nil, srv: String? = nil,
                requestID: String? = nil, code: String? = nil, detail: String) {
        self.at = at
        self.kind = AuditKind(rawValue: kind.rawValue.boundedUTF8(Self.maxField))
        self.actor = actor
        self.device = device
        self.srv = srv?.boundedUTF8(Self.maxField)
        self.requestID = requestID?.boundedUTF8(Self.maxField)
        self.code = code?.boundedUTF8(Self.maxField)
        self.detail = detail.boundedUTF8(Self.maxDetail)
    }
}

/// An audit event as stored: sequence number, the previous entry's hash and its own.
public struct AuditEntry: Sendable, Hashable {
    public var sequence: Int64
    public var event: AuditEvent
    public var previousHash: [UInt8]
    public var hash: [UInt8]
}

/// An injected loss of the SM WAN in a CSP region (nil: every region).
public struct WANOutageRecord: Sendable, Hashable {
    public var id: Int64
    public var region: CSPRegion?
    public var start: Timestamp
    public var end: Timestamp
    public var reason: String

    public init(id: Int64, region: CSPRegion?, start: Timestamp, end: Timestamp, reason: String) {
        self.id = id
        self.region = region
        self.start = start
        self.end = end
        self.reason = reason
    }
}

/// A power cut: premises without mains electricity from `start` to `end`. `scope` names
/// what lost power (`premises`, `feeder`, `secondary` or `primary`) and `value` which one.
/// What a power cut takes off supply: one premises, or every premises on an LV feeder, a
/// secondary substation or a primary substation of the fleet (the value is its index).
public enum PowerCutScope: String, Sendable, Hashable, CaseIterable {
    case premises, feeder, secondary, primary
}

/// A tamper a premises' electricity meter detects at a time (injected by
/// `gbsm fleet tamper`, or a random fault): the meter logs it, raises 8F3F to the
/// supplier, and locks its supply if its tamper state says so. Handled once: `handledAt`
/// is set in the same commit as the alerts.
public struct TamperEvent: Sendable, Hashable {
    public var id: Int64
    public var premises: Int64
    public var at: Timestamp
    public var reason: String
    public var handledAt: Timestamp?

    public init(id: Int64, premises: Int64, at: Timestamp, reason: String, handledAt: Timestamp? = nil) {
        self.id = id
        self.premises = premises
        self.at = at
        self.reason = reason
        self.handledAt = handledAt
    }
}

public struct PowerCutRecord: Sendable, Hashable {
    public var id: Int64
    public var scope: PowerCutScope
    public var value: Int64
    public var start: Timestamp
    public var end: Timestamp
    public var reason: String

    public init(id: Int64, scope: PowerCutScope, value: Int64, start: Timestamp, end: Timestamp, reason: String) {
        self.id = id
        self.scope = scope
        self.value = value
        self.start = start
        self.end = end
        self.reason = reason
    }
}

/// A GBCS pre-command DCC issued for a critical request (command variant 4), kept so that
/// the user's signed send (command variant 5, 6 or 7) can be checked against it octet for
/// octet, and sent once.
public struct PreCommandRecord: Sendable, Hashable {
    /// The RequestID of the transform request; the send carries the same.
    public var requestID: String
    /// The pre-command as issued (GBCS, general signing, no signature).
    public var preCommand: [UInt8]
    public var issuedAt: Timestamp
    /// The user's signed pre-command, once accepted for sending.
    public var signed: [UInt8]?
    /// The command variant it was sent with (5, 6 or 7).
    public var sentWith: Int?
    public var sentAt: Timestamp?

    public init(requestID: String, preCommand: [UInt8], issuedAt: Timestamp, signed: [UInt8]? = nil, sentWith: Int? = nil, sentAt: Timestamp? = nil) {
        self.requestID = requestID
        self.preCommand = preCommand
        self.issuedAt = issuedAt
        self.signed = signed
        self.sentWith = sentWith
        self.sentAt = sentAt
    }
}
