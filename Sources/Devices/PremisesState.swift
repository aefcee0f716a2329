import DUIS
import Foundation

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

/// The counters a device has seen from one originator: the highest, and the most recent
/// below it. A command is new if its counter is above the highest, or below it and within
/// the window but not seen (DCC may deliver one user's commands out of order: retries,
/// future-dated and scheduled ones); anything else is a replay.
public struct CounterWindow: Sendable, Hashable, Codable {
    public var highest: UInt64 = 0
    public var recent: [UInt64] = []
    /// At least the number of future-dated requests a user may hold for one device (100),
    /// which run later than commands sent after them.
    public static let size = 128

    public init() {}

    /// Records `counter`; false when it is a replay (seen, or older than the window).
    public mutating func admit(_ counter: UInt64) -> Bool {
        if counter > highest {
            if highest > 0 { recent.append(highest) }
            highest = counter
        } else {
            guard counter != highest, !recent.contains(counter) else { return false }
            if recent.count >= Self.size, let oldest = recent.min(), counter < oldest { return false }
            recent.append(counter)
        }
        if recent.count > Self.size, let oldest = recent.indices.min(by: { recent[$0] < recent[$1] }) { recent.remove(at: oldest) }
        return true
    }
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
    // MARK: non-critical commands' counters (anti-replay)
    /// Per device, per originator (a user, or DCC's access control broker): the counters
    /// of its recent non-critical commands, so a replay is refused (`CounterWindow`).
    public var commandCounters: [EUI64: [EUI64: CounterWindow]] = [:]
    public var optedOutAt: Timestamp?
    public var firmware: [EUI64: String] = [:]
    public var loadLimitEvents: [Timestamp] = []
    /// HAN joins replaced by commands: the meters each HAN device is joined to.
    public var joins: [EUI64: [EUI64]] = [:]
    public var tampered: [Timestamp] = []

    // MARK: ConfigurationAndSecurity (critical commands)
    // Optionals: a state stored before these commands existed decodes with none of them.
    /// Load limiting (6.4.1), as last set.
    public var loadLimit: LoadLimitSettings?
    /// The gas meter's CV and conversion factor (6.6), each change kept (oldest first):
    /// gas measured before a change keeps the energy it was priced at.
    public var gasConversions: [GasConversionChange]?
    /// The gas meter's uncontrolled flow and supply tamper and depletion states (6.7).
    public var gasFlow: GasFlowSettings?
    /// Billing calendars (6.8), each change kept (oldest first).
    public var billingCalendars: [BillingCalendarChange]?
    /// When devices were commissioned (8.1.1).
    public var commissionedAt: [EUI64: Timestamp]?
    /// The electricity meter's supply tamper state (6.25): true is Locked.
    public var electricitySupplyTamperLocked: Bool?
    /// The daily reset of the tariff block counters (6.26), each change kept.
    public var dailyBlockCounterResets: [DailyResetChange]?
    /// Auxiliary load control (6.14.1–6.14.3, 7.5, 7.6, 7.8, 7.13, 7.16).
    public var auxiliary: AuxiliaryControl?
    /// The randomised offset limit (7.12), seconds.
    public var randomisedOffsetLimit: Int?
    /// Devices' own certificates (6.15.2) and pending key pairs (6.17).
    public var deviceCredentials: [EUI64: DeviceOwnCredentials]?
    /// The firmware image each device holds (distributed after 11.1; 11.3 activates it).
    public var firmwareImages: [EUI64: HeldFirmwareImage]?

    // MARK: TariffAndPrepayment (critical commands)
    // Optionals: a state stored before these commands existed decodes with none of them.
    /// The meters' tariffs and prepayment settings as installed, copied from the model when a
    /// critical command (1.1.x, 1.2.x, 1.6, 2.1, 2.3) first changed one; nil until then.
    public var meterSettingsBaseline: MeterSettings?
    /// Each such change since, in time order: the part it set, in force from its time.
    public var meterSettingsChanges: [MeterSettingsChange]?
    /// Money 1.5 and 2.3 moved on the meters and 1.7's block counter resets, in time order.
    public var meterAdjustments: [MeterAdjustment]?

    // MARK: Future-dated critical commands
    /// Commands the devices hold until their execution time (`HeldCommand`), oldest first.
    public var heldCommands: [HeldCommand] = []

    public init() {}

    /// Reads a stored state. A state stored by an older gbsm lacks the fields added since:
    /// they take their defaults (the stored object is laid over a fresh state's), so an
    /// upgrade never leaves a premises unreadable.
    /// Every failure is a `DecodingError`: the stored bytes are not a state, whatever the
    /// reason (so a caller can tell them from a store that failed to answer).
    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> PremisesState {
        let data = Data(bytes)
        if let state = try? JSONDecoder().decode(PremisesState.self, from: data) { return state }
        do {
            guard let stored = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(PremisesState())) as? [String: Any]
            else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a premises state is not a JSON object")) }
            merged.merge(stored) { _, storedValue in storedValue }
            return try JSONDecoder().decode(PremisesState.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a premises state does not read: \(error)"))
        }
    }

    /// The state as stored.
    public func encoded() throws -> [UInt8] { Array(try JSONEncoder().encode(self)) }

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

    /// Raises every device counter below `floor` to it (the next answer's counter is then
    /// above it).
    public mutating func raiseDeviceCounters(atLeast floor: UInt64) {
        for (device, counter) in deviceCounters where counter < floor { deviceCounters[device] = floor }
    }

    /// Whether this state is `earlier` with nothing changed but device counters taken
    /// from the clock at `time` (each the time in microseconds, above the one before).
    /// Such a state need not be stored by a process that keeps it in memory: a device's
    /// next counter after a reload comes from a later time, and is higher still. Most
    /// answers are reads, which change nothing else, so most answers write no state.
    /// The rest is compared with `==`, so a field left out of its type's equality (an
    /// outage's `restorationAlerted`) must be stored by whoever changes it.
    public func differsOnlyByClockCounters(from earlier: PremisesState, at time: Timestamp) -> Bool {
        guard revision == earlier.revision, deviceCounters.count == earlier.deviceCounters.count else { return false }
        let clock = time.microsecondCounter
        for (device, counter) in deviceCounters where earlier.deviceCounters[device] != counter {
            guard counter == clock, let before = earlier.deviceCounters[device], before < clock else { return false }
        }
        var rest = self
        rest.deviceCounters = earlier.deviceCounters
        return rest == earlier
    }
}
