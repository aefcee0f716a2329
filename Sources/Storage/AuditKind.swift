/// What an audit entry records. The audit log's vocabulary as a type: the kinds gbsm
/// writes are the constants below, so a writer cannot misspell one and `gbsm audit list
/// --kind` is given one it knows.
///
/// A struct over the stored text rather than an enum: entries are hash-chained as
/// written, and a store written by another gbsm version may hold kinds this one does not
/// know; such an entry still reads, verifies and lists.
public struct AuditKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    /// An authenticated request received (its SHA-256, size, service).
    public static let request = AuditKind(rawValue: "request")
    /// What the pipeline decided, with the rule.
    public static let decision = AuditKind(rawValue: "decision")
    /// The response sent or queued.
    public static let response = AuditKind(rawValue: "response")
    /// Octets refused before anyone was authenticated (within `RejectionAudit`'s budget).
    public static let requestRejected = AuditKind(rawValue: "request.rejected")
    /// What a device did: a request run at the device boundary, a held command falling due.
    public static let device = AuditKind(rawValue: "device")
    /// A device or DCC alert queued for a user.
    public static let alert = AuditKind(rawValue: "alert")
    /// A DCC schedule's run queued.
    public static let schedule = AuditKind(rawValue: "schedule")
    /// A power cut begun or ended.
    public static let powerCut = AuditKind(rawValue: "power-cut")
    /// An operator's command (`gbsm users`, `gbsm fleet`, …).
    public static let admin = AuditKind(rawValue: "admin")
    /// A data folder provisioned, a fleet registered.
    public static let provisioning = AuditKind(rawValue: "provisioning")
    /// A job parked after it died with the process twice.
    public static let jobParked = AuditKind(rawValue: "job-parked")
    /// An outbox message given up on, released or discarded.
    public static let delivery = AuditKind(rawValue: "delivery")
    /// An inventory change.
    public static let inventory = AuditKind(rawValue: "inventory")
    /// Privacy: an occupancy begun, a change of tenancy.
    public static let privacy = AuditKind(rawValue: "privacy")
    /// A household's consent granted or withdrawn.
    public static let consent = AuditKind(rawValue: "consent")
    /// A data privacy plan registered, run, retired.
    public static let dataPrivacyPlan = AuditKind(rawValue: "dpp")
    /// The consumer portal: sign-in codes, sessions.
    public static let portal = AuditKind(rawValue: "portal")

    /// Every kind gbsm writes.
    public static let all: [AuditKind] = [
        request, decision, response, requestRejected, device, alert, schedule, powerCut, admin, provisioning, jobParked, delivery, inventory,
        privacy, consent, dataPrivacyPlan, portal,
    ]
}
