import DUIS

/// The rule a refusal (or an allowance) names: the pipeline's vocabulary as a type, so a
/// stage cannot misspell one, and the audit log's `[rule]` and the refusal's reason header
/// say which check decided. Each is written in the audit entry of its decision.
///
/// A struct over its text rather than an enum: the privacy rules (`PrivacyRules`, the
/// consent ledger's and the data privacy plans' own identifiers) and the critical-command
/// rules (`CriticalCommandRule`) keep their own vocabularies and come in through
/// `init(rawValue:)`; the rules the hub decides itself are the constants below.
public struct RuleID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    // MARK: Intake and authentication
    public static let body = RuleID(rawValue: "body")
    /// The certificates DCC itself puts on a device (6.21, 6.23, 8.5) are SMKI's, of their role.
    public static let replacementCertificates = RuleID(rawValue: "replacement-certificates")
    public static let bodySchema = RuleID(rawValue: "body-schema")
    public static let signature = RuleID(rawValue: "signature")
    public static let certificateValidity = RuleID(rawValue: "certificate-validity")
    public static let userRegistered = RuleID(rawValue: "user-registered")
    public static let antiReplay = RuleID(rawValue: "anti-replay")
    public static let counterCeiling = RuleID(rawValue: "counter-ceiling")

    // MARK: Access control (DUIS's checks, in their order)
    public static let accessControl = RuleID(rawValue: "access-control")
    public static let userStatus = RuleID(rawValue: "user-status")
    public static let commandVariantRange = RuleID(rawValue: "command-variant-range")
    public static let commandVariantSrv = RuleID(rawValue: "command-variant-srv")
    public static let webService = RuleID(rawValue: "web-service")
    public static let roleEligibility = RuleID(rawValue: "role-eligibility")
    public static let deviceExists = RuleID(rawValue: "device-exists")
    public static let deviceId = RuleID(rawValue: "device-id")
    public static let deviceType = RuleID(rawValue: "device-type")
    public static let deviceAuthorisation = RuleID(rawValue: "device-authorisation")
    public static let mpxnRegistration = RuleID(rawValue: "mpxn-registration")
    public static let deviceStatus = RuleID(rawValue: "device-status")
    public static let responsibleSupplier = RuleID(rawValue: "responsible-supplier")
    public static let nonDeviceService = RuleID(rawValue: "non-device-service")
    public static let nonDeviceTarget = RuleID(rawValue: "non-device-target")

    // MARK: Anomaly detection and quarantine
    public static let anomalyDetection = RuleID(rawValue: "anomaly-detection")
    public static let quarantineRelease = RuleID(rawValue: "quarantine-release")
    public static let originalRequest = RuleID(rawValue: "original-request")

    // MARK: Future-dated and scheduled requests
    public static let futureDatedLimit = RuleID(rawValue: "future-dated-limit")
    public static let cancelFutureDated = RuleID(rawValue: "cancel-future-dated")
    public static let dccSchedulable = RuleID(rawValue: "dcc-schedulable")
    public static let schedule = RuleID(rawValue: "schedule")
    public static let scheduleExists = RuleID(rawValue: "schedule-exists")
    public static let scheduleLimit = RuleID(rawValue: "schedule-limit")
    public static let scheduleOwner = RuleID(rawValue: "schedule-owner")
    public static let pendingDeviceLimit = RuleID(rawValue: "pending-device-limit")

    // MARK: The device boundary
    public static let deviceCommunication = RuleID(rawValue: "device-communication")
    public static let deviceInstallation = RuleID(rawValue: "device-installation")
    public static let deviceKeys = RuleID(rawValue: "device-keys")
    public static let brokerCredentials = RuleID(rawValue: "broker-credentials")
    public static let localCommand = RuleID(rawValue: "local-command")
    /// A value of a request that its GBCS command cannot carry (`TransformError`).
    public static let commandValue = RuleID(rawValue: "command-value")
    public static let storedRequest = RuleID(rawValue: "stored-request")
    public static let tenancyRestriction = RuleID(rawValue: "tenancy-restriction")

    // MARK: Privacy at DCC's own discretion
    public static let privacyDccMode = RuleID(rawValue: "privacy-dcc-mode")
    public static let otherUserHan = RuleID(rawValue: "other-user-han")

    // MARK: Non-device services
    public static let inventoryQuery = RuleID(rawValue: "inventory-query")
    public static let chPremises = RuleID(rawValue: "ch-premises")
    public static let firmwareStore = RuleID(rawValue: "firmware-store")
    public static let wanMatrixAddress = RuleID(rawValue: "wan-matrix-address")
}
