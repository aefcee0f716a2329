import DUIS

public enum SupplyState: String, Sendable, Codable, CaseIterable {
    case enabled = "Enabled", disabled = "Disabled", armed = "Armed"
}

public enum Fuel: String, Sendable, Codable { case electricity, gas }

/// A change of a meter's supply switch (or valve), kept so that readings before and after
/// it come out right.
public struct SupplyChange: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var state: SupplyState
    public var reason: String
}

/// A loss of mains power at the premises (a power cut on its feeder).
public struct Outage: Sendable, Hashable, Codable {
    public var start: Timestamp
    public var end: Timestamp?
    /// Whether the meter has raised its restoration alert.
    public var restorationAlerted = false

    public init(start: Timestamp, end: Timestamp?) {
        self.start = start
        self.end = end
    }

    public static func == (lhs: Outage, rhs: Outage) -> Bool { lhs.start == rhs.start && lhs.end == rhs.end }
    public func hash(into hasher: inout Hasher) { hasher.combine(start); hasher.combine(end) }
}

/// An entry of a device's event or security log.
public struct LogEntry: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var code: UInt16
    public var meaning: String
    public var other: String?

    public init(at: Timestamp, code: UInt16, meaning: String, other: String? = nil) {
        self.at = at
        self.code = code
        self.meaning = meaning
        self.other = other
    }
}

/// A credit added to a meter by a UTRN (remotely by 2.2, or typed in at the meter or PPMID).
public struct TopUpRecord: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var fuel: Fuel
    public var pence: Int
    public var counter: UInt64
    public var utrn: String
}

public struct VoltageSettings: Sendable, Hashable, Codable {
    public var extremeOverVoltagePeriod = 30
    public var extremeOverVoltageThreshold = 287
    public var extremeUnderVoltagePeriod = 30
    public var extremeUnderVoltageThreshold = 180
    public var sagPeriod = 30
    public var sagThreshold = 216
    public var swellPeriod = 30
    public var swellThreshold = 253
    public var averageOverVoltageThreshold = 253
    public var averageUnderVoltageThreshold = 216
    public var averageMeasurementPeriod = 1800
    public init() {}
}

public struct DisplayMessage: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var text: String
}

/// An entry of a CHF's or GPF's device log (the HAN whitelist).
public struct HANLogEntry: Sendable, Hashable, Codable {
    public var device: EUI64
    /// The Message Mapping Catalogue's device type: ESME, GSME, GPF, CHF, HCALCS, PPMID
    /// or Type2 (IHDs and CADs).
    public var type: String
    public var addedAt: Timestamp?
}

/// Who the device trusts in each remote party role (certificates replaced by 6.15, 6.21,
/// 6.23 or 8.5) and the role's floor counter.
public struct TrustAnchor: Sendable, Hashable, Codable {
    public var role: String
    public var party: EUI64
    public var floor: UInt64
    public var prepaymentFloor: UInt64
    public var certificateSHA1: String?
    public var replacedAt: Timestamp?
}

/// The sub-GHz settings of a dual-band comms hub (6.28, 6.30), kept as the element names
/// and values the user set.
public struct SubGHzConfiguration: Sendable, Hashable, Codable {
    public var channels: [String: [Int]]
    public var values: [String: String]
}

public struct GasNetworkSample: Sendable, Hashable, Codable {
    public var id: Int
    public var at: Timestamp
    public var litres: Int64
}

/// What changes on a premises' devices: the state commands and events leave behind. It
/// is small (empty for a premises nobody has touched), persisted as JSON beside the
/// hub's other state and changed in the same transaction as the response it causes.
public struct PremisesState: Sendable, Hashable, Codable {
    /// Incremented by every change; readings cached for one revision stay valid for it.
    public var revision = 0
    public var electricitySupply: [SupplyChange] = []
    public var gasSupply: [SupplyChange] = []
    public var outages: [Outage] = []
    public var topUps: [TopUpRecord] = []
    /// UTRN counters accepted recently, per fuel (newest last; GBCS keeps a short cache).
    public var utrnCounters: [Fuel: [UInt64]] = [:]
    public var eventLogs: [EUI64: [LogEntry]] = [:]
    public var securityLogs: [EUI64: [LogEntry]] = [:]
    public var maxDemandResets: [Timestamp] = []
    /// The configurable maximum demand period, minutes from midnight UTC.
    public var maxDemandPeriod = [960, 1140]
    public var powerThresholds = [2300, 4600]
    public var voltage = VoltageSettings()
    public var alertSettings: [String: String] = [:]
    public var supplierName: String?
    public var supplierTelephone: String?
    public var displayMessages: [DisplayMessage] = []
    public var privacyPINDisabledAt: Timestamp?
    public var tenancyRestriction: Timestamp?
    public var loadLimitCounterResetAt: Timestamp?
    public var voltageCountersResetAt: Timestamp?
    public var importMPANOverride: String?
    public var exportMPANOverride: String?
    public var mprnOverride: String?
    /// HAN device logs replaced by commands (absent: the installation's own).
    public var hanLogs: [EUI64: [HANLogEntry]] = [:]
    public var subGHz: SubGHzConfiguration?
    public var subGHzChannel = 28
    public var subGHzScans: [Timestamp] = []
    public var boostButton = [false, false, false, false, false]
    public var boostEvents: [Timestamp] = []
    public var customerIdentificationNumber: String?
    public var cinIssuedAt: Timestamp?
    /// The other user whose 9.1 put the CIN on the IHD.
    public var cinIssuedTo: EUI64?
    public var gasNetworkSamples: [GasNetworkSample] = []
    /// Originator counters of the devices' own messages (responses and alerts).
    public var deviceCounters: [EUI64: UInt64] = [:]
    public var trustAnchors: [EUI64: [TrustAnchor]] = [:]
    public var optedOutAt: Timestamp?
    public var firmware: [EUI64: String] = [:]
    public var loadLimitEvents: [Timestamp] = []
    /// HAN joins replaced by commands: the meters each HAN device is joined to.
    public var joins: [EUI64: [EUI64]] = [:]
    public var tampered: [Timestamp] = []

    public init() {}

    public static let logCapacity = 100

    public func supply(_ fuel: Fuel, at time: Timestamp) -> SupplyState {
        let changes = fuel == .electricity ? electricitySupply : gasSupply
        return changes.last { $0.at <= time }?.state ?? .enabled
    }

    public var electricityState: SupplyState { electricitySupply.last?.state ?? .enabled }
    public var gasState: SupplyState { gasSupply.last?.state ?? .enabled }

    public mutating func log(_ entry: LogEntry, device: EUI64, security: Bool = false) {
        if security {
            securityLogs[device, default: []].append(entry)
            if let count = securityLogs[device]?.count, count > Self.logCapacity { securityLogs[device]?.removeFirst(count - Self.logCapacity) }
        } else {
            eventLogs[device, default: []].append(entry)
            if let count = eventLogs[device]?.count, count > Self.logCapacity { eventLogs[device]?.removeFirst(count - Self.logCapacity) }
        }
    }

    public mutating func nextDeviceCounter(_ device: EUI64, at time: Timestamp) -> UInt64 {
        // Device counters rise monotonically; starting from the time keeps them rising
        // across fleet rebuilds.
        let next = max((deviceCounters[device] ?? 0) + 1, time.microsecondCounter)
        deviceCounters[device] = next
        return next
    }

    public mutating func touch() { revision += 1 }
}
