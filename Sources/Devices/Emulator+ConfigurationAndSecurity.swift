import Crypto
import DUIS
import Foundation
import GBCS
import LoadModel
import MMC
import SMKI

// The critical configuration and security commands at the device: load limiting (6.4.1),
// the gas meter's conversion and flow settings (6.6, 6.7), billing calendars (6.8), the
// clock and commissioning (6.11, 8.1.1), supply tamper states (6.25, 6.7), the daily reset
// of the block counters (6.26), auxiliary load control (6.14.1, 6.14.2, 6.14.3, 7.5, 7.6,
// 7.8, 7.12, 7.13, 7.16), security credentials (6.15.1, 6.15.2, 6.17, 6.24.2), critical
// joins (8.7.1, 8.8.1) and firmware activation (11.3). Each changes what later reads,
// bills and answers show; `readConfigurationAndSecurity` answers the reads whose content
// these commands set.

// MARK: - What the commands leave in the state

/// Load limiting on the electricity meter (6.4.1, GBCS ECS28a): an import above
/// `thresholdW` for `periodSeconds` is a load limit event (4.15 counts them) and, when
/// `disableSupply`, the meter would disable the supply for `restorationSeconds`.
public struct LoadLimitSettings: Sendable, Hashable, Codable {
    public var periodSeconds: Int
    public var thresholdW: Int
    public var restorationSeconds: Int
    public var disableSupply: Bool
    /// When it was set: events before are not counted against it.
    public var at: Timestamp
}

/// A change of the gas meter's calorific value and conversion factor (6.6, GBCS GCS23).
/// The meter measures volume; these turn volume into the kWh it prices, from the moment
/// they are set (gas before keeps the energy it was priced at).
public struct GasConversionChange: Sendable, Hashable, Codable {
    public var at: Timestamp
    /// MJ/m³, thousandths (PremisesModel's unit).
    public var calorificValueMilli: Int
    /// Millionths.
    public var conversionFactorMicro: Int

    /// The energy of `litres` (Wh) at the conversion in force at `milliseconds`: the last
    /// change at or before then, else the premises' own. Allocation-free (the engine's hot
    /// path calls it per half hour of gas when a change exists).
    @inline(__always)
    static func wh(litres: Int64, atMilliseconds milliseconds: Int64, changes: [GasConversionChange], model: PremisesModel) -> Double {
        var index = changes.count - 1
        while index >= 0 {
            let change = changes[index]
            if change.at.milliseconds <= milliseconds {
                return Double(litres) * Double(change.calorificValueMilli) * Double(change.conversionFactorMicro) / 3.6 / 1_000_000_000
            }
            index -= 1
        }
        return model.wh(forLitres: litres)
    }
}

/// The gas meter's uncontrolled flow detection and supply states on tamper and depletion
/// (6.7, GBCS GCS24).
public struct GasFlowSettings: Sendable, Hashable, Codable {
    /// Uncontrolled gas flow rate, m³/h in ten-thousandths (DUIS's integer form; 6.5535 at most).
    public var rateTenThousandths: Int
    public var stabilisationPeriod: Int
    public var measurementPeriod: Int
    /// Supply tamper state Locked: the valve closes and locks on a tamper.
    public var tamperLocked: Bool
    /// Supply depletion state Locked: the valve closes and locks when the battery is depleted.
    public var depletionLocked: Bool
    public var at: Timestamp
}

/// When a meter bills (6.8): the billing data log takes the registers and the billing
/// period's counters restart. An electricity calendar (ECS30) is a time of day and a
/// periodicity; a gas calendar (GCS25a) a first billing date and a periodicity.
public struct BillingSchedule: Sendable, Hashable, Codable {
    public enum Periodicity: String, Sendable, Hashable, Codable, CaseIterable {
        case daily = "Daily", weekly = "Weekly", monthly = "Monthly", quarterly = "Quarterly", sixMonthly = "SixMonthly", yearly = "Yearly"
    }

    public var periodicity: Periodicity
    /// Seconds after midnight UTC.
    public var secondOfDay: Int
    /// Weekly: 1 (Monday) to 7 (Sunday), as DUIS and DLMS number them.
    public var weekday: Int?
    /// Monthly, quarterly, six-monthly, yearly.
    public var dayOfMonth: Int?
    /// Quarterly, six-monthly, yearly: the month the first period starts.
    public var startMonth: Int?
    /// Gas: the first billing date (`BillingPeriodStart`); no billing before it.
    public var start: Timestamp?

    /// What a meter does until a calendar is set: bill at midnight on the first of the month.
    public static let firstOfTheMonth = BillingSchedule(periodicity: .monthly, secondOfDay: 0, weekday: nil, dayOfMonth: 1, startMonth: 1, start: nil)

    /// The half hour the billing falls in (the engine's resolution: it bills at its start).
    var slot: Int { min(47, max(0, secondOfDay / 1800)) }

    func isBillingDay(_ day: Int32) -> Bool {
        if let start, day < start.day.number { return false }
        switch periodicity {
        case .daily:
            return true
        case .weekly:
            return UKCalendar.weekday(day) + 1 == (weekday ?? 1)
        case .monthly, .quarterly, .sixMonthly, .yearly:
            let (_, month, dayOfMonth) = UKCalendar.date(day)
            guard dayOfMonth == (self.dayOfMonth ?? 1) else { return false }
            let step = periodicity == .monthly ? 1 : (periodicity == .quarterly ? 3 : (periodicity == .sixMonthly ? 6 : 12))
            return ((month - (startMonth ?? 1)) % step + step) % step == 0
        }
    }
}

/// A billing calendar set by 6.8 on one fuel's meter, from `at`.
public struct BillingCalendarChange: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var fuel: Fuel
    public var schedule: BillingSchedule

    /// The half hour of `day` each fuel bills in (nil: not that day), from the calendars in
    /// force at the billing moments: a calendar set during a day bills that day only if its
    /// moment is not yet past, and the one it replaced then bills that day if its moment
    /// came first. Allocation-free; called once per day walked when calendars exist.
    static func plan(_ changes: [BillingCalendarChange], day: Int32) -> (electricity: Int?, gas: Int?) {
        (slot(changes, fuel: .electricity, day: day), slot(changes, fuel: .gas, day: day))
    }

    static func slot(_ changes: [BillingCalendarChange], fuel: Fuel, day: Int32) -> Int? {
        let dayEnd = Timestamp(dayNumber: day + 1)
        var latest = -1
        var index = changes.count - 1
        while index >= 0 {
            if changes[index].fuel == fuel && changes[index].at < dayEnd {
                latest = index
                break
            }
            index -= 1
        }
        guard latest >= 0 else {
            let schedule = BillingSchedule.firstOfTheMonth
            return schedule.isBillingDay(day) ? schedule.slot : nil
        }
        let change = changes[latest]
        if change.schedule.isBillingDay(day), Timestamp(dayNumber: day, slot: change.schedule.slot) >= change.at { return change.schedule.slot }
        // The calendar before it, for a moment earlier that day than the change.
        var previous = BillingSchedule.firstOfTheMonth
        index = latest - 1
        while index >= 0 {
            if changes[index].fuel == fuel {
                previous = changes[index].schedule
                break
            }
            index -= 1
        }
        if previous.isBillingDay(day), Timestamp(dayNumber: day, slot: previous.slot) < change.at { return previous.slot }
        return nil
    }
}

/// 6.26: the electricity meter's daily reset of its tariff block counters switched on or off.
public struct DailyResetChange: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var on: Bool

    /// Whether the reset is on at `milliseconds` (the last change at or before then).
    static func isOn(_ changes: [DailyResetChange], atMilliseconds milliseconds: Int64) -> Bool {
        var index = changes.count - 1
        while index >= 0 {
            if changes[index].at.milliseconds <= milliseconds { return changes[index].on }
            index -= 1
        }
        return false
    }
}

/// A date of a DLMS schedule as DUIS writes it (`sr:Date`): each part specified or not.
public struct ScheduleDate: Sendable, Hashable, Codable {
    public var year: Int?
    public var month: Int?
    /// 1…31, or -1 for the last and -2 for the second last day of the month.
    public var dayOfMonth: Int?
    /// 1 (Monday) … 7.
    public var dayOfWeek: Int?

    /// Whether `day` is this date (unspecified parts match anything).
    func matches(_ day: Int32) -> Bool {
        let (y, m, d) = UKCalendar.date(day)
        if let year, year != y { return false }
        if let month, month != m { return false }
        if let dayOfWeek, UKCalendar.weekday(day) + 1 != dayOfWeek { return false }
        switch dayOfMonth {
        case nil: return true
        case -1: return d == Self.daysInMonth(y, m)
        case -2: return d == Self.daysInMonth(y, m) - 1
        case let value?: return value == d
        }
    }

    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        Int(UKCalendar.day(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1) - UKCalendar.day(year: year, month: month, day: 1))
    }

    /// Whether `day` lies from `start` to `end`: by full dates when both name their year,
    /// else by month and day (a range may wrap round the new year), else by day of month.
    static func within(_ day: Int32, from start: ScheduleDate, to end: ScheduleDate) -> Bool {
        let (y, m, d) = UKCalendar.date(day)
        func dom(_ value: Int?, _ otherwise: Int) -> Int { value.map { $0 < 0 ? 32 + $0 : $0 } ?? otherwise }
        if let startYear = start.year, let endYear = end.year {
            let key = y * 10_000 + m * 100 + d
            return key >= startYear * 10_000 + (start.month ?? 1) * 100 + dom(start.dayOfMonth, 1)
                && key <= endYear * 10_000 + (end.month ?? 12) * 100 + dom(end.dayOfMonth, 31)
        }
        if start.month == nil && end.month == nil {
            return d >= dom(start.dayOfMonth, 1) && d <= dom(end.dayOfMonth, 31)
        }
        let key = m * 100 + d
        let low = (start.month ?? 1) * 100 + dom(start.dayOfMonth, 1)
        let high = (end.month ?? 12) * 100 + dom(end.dayOfMonth, 31)
        return low <= high ? (key >= low && key <= high) : (key >= low || key <= high)
    }
}

/// One entry of an auxiliary load calendar: switch (6.14.2) or controller (6.14.3) `index`
/// to `level` (100 on, 0 off for a switch) at `secondOfDay` on the days it applies.
public struct AuxiliaryScheduleEntry: Sendable, Hashable, Codable {
    public var index: Int
    public var level: Int
    public var input: Bool
    public var specialDays: [Int]
    /// Bit 0 Monday … bit 6 Sunday; nil when the entry names no days of the week.
    public var weekdays: UInt8?
    public var secondOfDay: Int
    public var start: ScheduleDate
    public var end: ScheduleDate

    /// Whether the entry runs on `day`, as a DLMS schedule's entry does: on a special day
    /// only the entries naming it, on other days those whose weekdays include it (an entry
    /// without days of the week runs on none, as ECS46c/ECS46d encode it).
    func applies(_ day: Int32, specialDays defined: [Int: ScheduleDate]) -> Bool {
        guard ScheduleDate.within(day, from: start, to: end) else { return false }
        let today = defined.filter { $0.value.matches(day) }.map(\.key)
        if !today.isEmpty { return specialDays.contains { today.contains($0) } }
        guard let weekdays else { return false }
        return weekdays & (1 << UInt8(UKCalendar.weekday(day))) != 0
    }
}

/// A switch's kind (6.14.2 SwitchTypeAndId): the meter's own ALCS or an HC ALCS.
public struct AuxiliarySwitchType: Sendable, Hashable, Codable {
    /// nil: an ALCS.
    public var hcalcs: EUI64?
}

/// 7.5 or 7.6: a switch held on or off, until `until` (nil: until 7.8 resets it).
public struct AuxiliaryOverride: Sendable, Hashable, Codable {
    public var on: Bool
    public var at: Timestamp
    public var until: Timestamp?
}

/// 7.13 (a controller's level) or 7.16 (an APC's limit) from `start` to `end`.
public struct AuxiliaryCommand: Sendable, Hashable, Codable {
    public var level: Int
    public var input: Bool
    public var start: Timestamp
    public var end: Timestamp
}

/// The electricity meter's auxiliary load control: descriptions (6.14.1), calendars
/// (6.14.2 for the switches, 6.14.3 for the controllers), switches held on or off (7.5,
/// 7.6, until 7.8), controllers commanded (7.13) and APC limits (7.16). Indices 1…5.
public struct AuxiliaryControl: Sendable, Hashable, Codable {
    public var descriptions: [Int: String] = [:]
    public var switchTypes: [Int: AuxiliarySwitchType] = [:]
    public var switchSchedule: [AuxiliaryScheduleEntry]?
    public var switchSpecialDays: [Int: ScheduleDate] = [:]
    public var controllerSchedule: [AuxiliaryScheduleEntry]?
    public var controllerSpecialDays: [Int: ScheduleDate] = [:]
    public var overrides: [Int: AuxiliaryOverride] = [:]
    public var commanded: [Int: AuxiliaryCommand] = [:]
    public var apcLimits: [Int: AuxiliaryCommand] = [:]

    public init() {}
}

/// A device's own credentials as commands changed them: certificates installed by 6.15.2
/// and key pairs generated by 6.17 awaiting theirs, by usage (`DigitalSigning`,
/// `KeyAgreement`).
public struct DeviceOwnCredentials: Sendable, Hashable, Codable {
    /// DER, base64.
    public var certificates: [String: String] = [:]
    /// The public key (X9.63, hex) of each pending key pair. The private key stays in the
    /// device: gbsm keeps none (the emulated device signs with the keys SMKI derives).
    public var pendingKeys: [String: String] = [:]
    public var replacedAt: [String: Timestamp] = [:]

    public init() {}
}

/// A firmware image a device holds (distributed after 11.1): the manufacturer image's
/// hash (upper-case hex) and the version it runs once activated (11.3).
public struct HeldFirmwareImage: Sendable, Hashable, Codable {
    public var hash: String
    public var version: String
    public var receivedAt: Timestamp
}

/// A source of devices' own SMKI certificates as issued at installation (the hub's SMKI
/// repository): 6.24.2 answers with it until 6.15.2 replaces a certificate.
public protocol DeviceCertificateSource: Sendable {
    func deviceCertificate(of device: EUI64, usage: Keystore.Usage) -> [UInt8]?
}

// MARK: - Helpers the hub calls

extension PremisesState {
    /// How many changes of a setting with history (6.6, 6.8, 6.26) are kept.
    static let settingHistory = 50

    /// The hub's distribution of an image (after 11.1) to `device`: the device holds it,
    /// verified, until 11.3 activates it. It holds one image; a newer one replaces it.
    public mutating func holdFirmwareImage(_ device: EUI64, manufacturerImageHash hash: [UInt8], version: String, at time: Timestamp) {
        var images = firmwareImages ?? [:]
        images[device] = HeldFirmwareImage(hash: Hex.encode(hash.prefix(64), uppercase: true), version: String(version.prefix(8)), receivedAt: time)
        firmwareImages = images
        log(LogEntry(at: time, code: 0x8F72, meaning: "Firmware Verification Successful", other: String(version.prefix(8))), device: device)
        touch()
    }

    /// What a meter does on a tamper it detects, with its supply tamper state Locked (6.25
    /// for electricity, 6.7 for gas): it disables its supply, which stays off until a
    /// supplier enables it (7.1). Returns whether it did. The caller records the tamper.
    @discardableResult
    public mutating func lockSupplyAfterTamper(_ fuel: Fuel, at time: Timestamp) -> Bool {
        let locked = fuel == .electricity ? electricitySupplyTamperLocked == true : gasFlow?.tamperLocked == true
        guard locked, (fuel == .electricity ? electricityState : gasState) != .disabled else { return false }
        let change = SupplyChange(at: time, state: .disabled, reason: "tamper detected: supply tamper state Locked")
        if fuel == .electricity { electricitySupply.append(change) } else { gasSupply.append(change) }
        touch()
        return true
    }

    /// The gas meter's CV and conversion factor at `time` (6.6, else the premises' own).
    public func gasConversion(at time: Timestamp, model: PremisesModel) -> (calorificValueMilli: Int, conversionFactorMicro: Int) {
        if let change = gasConversions?.last(where: { $0.at <= time }) { return (change.calorificValueMilli, change.conversionFactorMicro) }
        return (model.calorificValueMilli, model.conversionFactorMicro)
    }

    /// The energy (Wh) the gas meter reckons `litres` measured at `time` to be: what
    /// consumer displays and bills should show rather than `PremisesModel.wh(forLitres:)`.
    public func gasWh(litres: Int64, at time: Timestamp, model: PremisesModel) -> Double {
        guard let changes = gasConversions, !changes.isEmpty else { return model.wh(forLitres: litres) }
        return GasConversionChange.wh(litres: litres, atMilliseconds: time.milliseconds, changes: changes, model: model)
    }
}

extension MeterEngine {
    /// 6.8: at the start of `slot`, bills the fuels whose calendar falls due then (once a
    /// day each): the billing data log takes the registers (one entry for both fuels when
    /// they bill together) and the fuel's period counters restart.
    func billByCalendar(_ checkpoint: inout MeterCheckpoint, plan: (electricity: Int?, gas: Int?), slot: Int, model: PremisesModel) {
        let day = checkpoint.day
        let electricity = plan.electricity == slot && checkpoint.periodStart != day
        let gas = plan.gas == slot && checkpoint.gasPeriodStart != day
        guard electricity || gas else { return }
        let micro = MeterCheckpoint.micro
        if day > model.modelStart || checkpoint.billing.isEmpty {
            checkpoint.billing.append(BillingSnapshot(
                at: DayReadings.slotStart(day: day, slot: slot), importWh: checkpoint.importWh, tou: checkpoint.tou,
                blocks: [checkpoint.periodImportWh], gasLitres: checkpoint.gasLitres,
                electricityBalance: model.prepayment ? checkpoint.electricityBalance / micro : -checkpoint.periodElectricityCost / micro,
                gasBalance: model.prepayment ? checkpoint.gasBalance / micro : -checkpoint.periodGasCost / micro,
                timeDebt: checkpoint.timeDebt, paymentDebt: checkpoint.paymentDebt, fuel: electricity && gas ? nil : (electricity ? .electricity : .gas)))
            if checkpoint.billing.count > 12 { checkpoint.billing.removeFirst(checkpoint.billing.count - 12) }
        }
        if electricity {
            checkpoint.periodStart = day
            checkpoint.periodImportWh = 0
            checkpoint.periodElectricityCost = 0
        }
        if gas {
            checkpoint.gasPeriodStart = day
            checkpoint.periodGasLitres = 0
            checkpoint.periodGasCost = 0
        }
    }
}

// MARK: - The commands

extension DeviceEmulator {
    /// MMC 5.4's answer element of each SRV here (for `criticalResponses`). 6.14.3 has no
    /// answer element of its own in MMC 5.4: it answers with 6.14.2's (the same empty type).
    static let configurationAndSecurityResponses: [SRV: String] = [
        "6.4.1": "UpdateDeviceConfigurationLoadLimitingGeneralSettingsRsp",
        "6.6": "UpdateDeviceConfigurationGasConversionRsp",
        "6.7": "UpdateDeviceConfigurationGasFlowRsp",
        "6.8": "UpdateDeviceConfigurationBillingCalendarRsp",
        "6.11": "SynchroniseClockRsp",
        "8.1.1": "CommissionDeviceSynchroniseClockRsp",
        "6.25": "SetElectricitySupplyTamperStateRsp",
        "6.26": "UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrixRsp",
        "6.14.1": "UpdateDeviceConfigurationALCDescriptionsRsp",
        "6.14.2": "UpdateDeviceConfigurationALCSchedulerRsp",
        "6.14.3": "UpdateDeviceConfigurationALCSchedulerRsp",
        "7.5": "ActivateAuxiliaryLoadRsp",
        "7.6": "DeactivateAuxiliaryLoadRsp",
        "7.8": "ResetAuxiliaryLoadRsp",
        "7.12": "SetRandomisedOffsetLimitRsp",
        "7.13": "SetAuxiliaryControllerStateRsp",
        "7.16": "LimitAPCLevelRsp",
        "6.15.1": "UpdateSecurityCredentialsKRPRsp",
        "6.15.2": "UpdateSecurityCredentialsDeviceRsp",
        "6.17": "IssueSecurityCredentialsRsp",
        "6.24.2": "RetrieveDeviceSecurityCredentialsDeviceRsp",
        "8.7.1": "JoinServiceCriticalRsp",
        "8.8.1": "UnjoinServiceCriticalRsp",
        "11.3": "ActivateFirmwareRsp",
    ]

    /// The answer to a command of this family the device did not execute (for one that
    /// failed authentication, say): the SRV's element, with the response code MMC 5.4
    /// requires of 6.15.2, 8.7.1 and 8.8.1 (`notKnown`, MMC's generic code); nil for SRVs
    /// not of this family.
    static func unexecutedAnswer(_ srv: SRV) -> DataNode? {
        guard let element = configurationAndSecurityResponses[srv] else { return nil }
        let code: String
        switch srv {
        case "6.15.2": code = "UpdateSecurityCredentialsResponseCode"
        case "8.7.1": code = "joinResponseCode"
        case "8.8.1": code = "unjoinResponseCode"
        default: return DataNode(element)
        }
        return DataNode(element, children: [DataNode(code, attributes: [("ResponseCode", "127")], children: [DataNode("ASN1Status", text: "notKnown")])])
    }

    /// Acts on an authenticated critical command of this family, or nil when the SRV is
    /// not one of its.
    func actOnConfigurationAndSecurity(_ context: inout Context, _ state: inout PremisesState) -> DataNode? {
        let srv = context.command.srv
        guard let element = Self.configurationAndSecurityResponses[srv] else { return nil }
        switch srv {
        case "6.4.1": return configureLoadLimit(&context, &state, element)
        case "6.6": return configureGasConversion(&context, &state, element)
        case "6.7": return configureGasFlow(&context, &state, element)
        case "6.8": return configureBillingCalendar(&context, &state, element)
        case "6.11", "8.1.1": return synchroniseClock(&context, &state, element, commission: srv == "8.1.1")
        case "6.25": return configureSupplyTamperState(&context, &state, element)
        case "6.26": return configureDailyBlockCounterReset(&context, &state, element)
        case "6.14.1": return configureAuxiliaryDescriptions(&context, &state, element)
        case "6.14.2": return configureAuxiliarySchedule(&context, &state, element, controllers: false)
        case "6.14.3": return configureAuxiliarySchedule(&context, &state, element, controllers: true)
        case "7.5", "7.6": return switchAuxiliaryLoad(&context, &state, element, on: srv == "7.5")
        case "7.8": return resetAuxiliaryLoad(&context, &state, element)
        case "7.12": return setRandomisedOffsetLimit(&context, &state, element)
        case "7.13": return commandAuxiliaryController(&context, &state, element, limit: false)
        case "7.16": return commandAuxiliaryController(&context, &state, element, limit: true)
        case "6.15.1": return updateKRPCredentials(&context, &state, element)
        case "6.15.2": return updateDeviceCertificate(&context, &state, element)
        case "6.17": return issueDeviceCredentials(&context, &state, element)
        case "6.24.2": return retrieveDeviceCertificate(&context, state, element)
        case "8.7.1": return criticalJoin(&context, &state, element)
        case "8.8.1": return criticalUnjoin(&context, &state, element)
        case "11.3": return activateFirmware(&context, &state, element)
        default: return nil
        }
    }

    /// Refuses a command sent to a device of another type than the SRV's.
    func requireType(_ context: inout Context, _ types: Set<DeviceType>, _ what: String) -> Bool {
        guard types.contains(context.command.targetType) else {
            context.refuse("\(what) is not a command a \(context.command.targetType.rawValue) acts on")
            return false
        }
        return true
    }

    /// An `xs:decimal` as an integer in units of 10^-`digits`: more fraction digits must be
    /// zeros; signs, exponents and values past 10^15 are refused (nil).
    static func decimal(_ text: String?, digits: Int) -> Int64? {
        guard let text, !text.isEmpty, text.utf8.count <= 40 else { return nil }
        var value: Int64 = 0
        var fraction = -1
        var seen = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "."), fraction < 0 {
                fraction = 0
                continue
            }
            guard (48...57).contains(byte) else { return nil }
            seen = true
            let digit = Int64(byte - 48)
            if fraction >= 0 {
                fraction += 1
                if fraction > digits {
                    guard digit == 0 else { return nil }
                    continue
                }
            }
            value = value * 10 + digit
            guard value < 1_000_000_000_000_000 else { return nil }
        }
        guard seen else { return nil }
        for _ in 0..<(digits - min(max(fraction, 0), digits)) {
            value *= 10
            guard value < 1_000_000_000_000_000 else { return nil }
        }
        return value
    }

    static func decimalText(_ value: Int, digits: Int) -> String {
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(value % scale)
        return String(value / scale) + "." + String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    }

    /// `hh:mm:ss.00Z` of seconds after midnight.
    static func clockTime(_ seconds: Int) -> String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let value = ((seconds % 86_400) + 86_400) % 86_400
        return two(value / 3600) + ":" + two(value / 60 % 60) + ":" + two(value % 60) + ".00Z"
    }

    /// Appends a change to a bounded history.
    static func appending<T>(_ list: [T]?, _ item: T) -> [T] {
        var list = list ?? []
        list.append(item)
        if list.count > PremisesState.settingHistory { list.removeFirst(list.count - PremisesState.settingHistory) }
        return list
    }

    // MARK: 6.4.1

    /// 6.4.1 (ECS28a): the electricity meter's load limiting; 4.15 reads it back, and its
    /// counter counts the half hours the engine's import exceeds the threshold.
    func configureLoadLimit(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme], "6.4.1 load limiting") else { return rsp }
        let body = context.body
        guard let period = body.integer("LoadLimitPeriod", in: Self.unsignedInt), let threshold = body.integer("LoadLimitPowerThreshold", in: Self.unsignedInt),
              let restoration = body.integer("LoadLimitRestorationPeriod", in: Self.unsignedInt),
              let supply = body.value("LoadLimitSupplyState"), supply == "Disable" || supply == "Unchanged"
        else {
            context.refuse("6.4.1 needs LoadLimitPeriod, LoadLimitPowerThreshold and LoadLimitRestorationPeriod (xs:unsignedInt) and LoadLimitSupplyState Disable or Unchanged")
            return rsp
        }
        state.loadLimit = LoadLimitSettings(periodSeconds: Int(period), thresholdW: Int(threshold), restorationSeconds: Int(restoration),
                                            disableSupply: supply == "Disable", at: context.time)
        context.changed = true
        context.note = "load limit \(threshold) W for \(period) s, restoration \(restoration) s, supply \(supply == "Disable" ? "disabled" : "unchanged") when exceeded"
        return rsp
    }

    /// How far back 4.15's counter looks at the engine's half hours (the export and
    /// reactive profiles' horizon: older events are not counted).
    static let loadLimitMemoryDays: Int32 = 93

    /// Load limit events since 6.4.1 set the limit (or 6.4.2 reset the counter): runs of
    /// completed half hours whose average import exceeds the threshold, long enough to
    /// cover the load limit period (the engine's resolution is the half hour).
    func loadLimitExceedances(_ context: Context, _ state: PremisesState) -> Int {
        guard let settings = state.loadLimit, settings.thresholdW > 0 else { return 0 }
        let from = max(settings.at, state.loadLimitCounterResetAt ?? settings.at)
        let first = max(from.day.number, context.today - Self.loadLimitMemoryDays, context.model.installDay)
        guard first <= context.today else { return 0 }
        let needed = max(1, (min(settings.periodSeconds, 86_400) + 1799) / 1800)
        var events = 0
        var run = 0
        for day in first...context.today {
            let readings = context.engine.readings(context.model, state, day: day)
            for slot in 0..<48 {
                let start = DayReadings.slotStart(day: day, slot: slot)
                guard start >= from, start.adding(milliseconds: 1_800_000) <= context.time else { continue }
                if Int(readings.importWh[slot]) * 2 > settings.thresholdW {
                    run += 1
                    if run == needed { events += 1 }
                } else {
                    run = 0
                }
            }
        }
        return events
    }

    // MARK: 6.6, 6.7

    /// The CV and conversion factor a gas meter takes (gbsm's bounds, wider than any gas
    /// metered in GB; they keep the engine's sums within 64 bits).
    static let calorificValues: ClosedRange<Int64> = 1_000...100_000
    static let conversionFactors: ClosedRange<Int64> = 500_000...5_000_000

    /// 6.6 (GCS23): the gas meter's CV and conversion factor, from now: the kWh and cost of
    /// the gas measured afterwards (balances, bills, 6.2.8) follow them.
    func configureGasConversion(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.gsme], "6.6 gas conversion") else { return rsp }
        guard let cv = Self.decimal(context.body.value("CalorificValue"), digits: 3), let factor = Self.decimal(context.body.value("ConversionFactor"), digits: 6) else {
            context.refuse("6.6 needs CalorificValue and ConversionFactor as decimals")
            return rsp
        }
        guard Self.calorificValues.contains(cv), Self.conversionFactors.contains(factor) else {
            context.refuse("the gas meter takes a CV of 1 to 100 MJ/m³ and a conversion factor of 0.5 to 5, not \(Self.decimalText(Int(min(cv, 999_999_999)), digits: 3)) and \(Self.decimalText(Int(min(factor, 999_999_999)), digits: 6))")
            return rsp
        }
        state.gasConversions = Self.appending(state.gasConversions, GasConversionChange(at: context.time, calorificValueMilli: Int(cv), conversionFactorMicro: Int(factor)))
        context.changed = true
        context.note = "CV \(Self.decimalText(Int(cv), digits: 3)) MJ/m³, conversion factor \(Self.decimalText(Int(factor), digits: 6)) from now"
        return rsp
    }

    /// 6.7 (GCS24): uncontrolled gas flow detection and the valve's tamper and depletion
    /// states; 6.2.8 and 6.2.4 read them back, and a tamper with Locked closes the valve
    /// (`PremisesState.lockSupplyAfterTamper`).
    func configureGasFlow(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.gsme], "6.7 gas flow") else { return rsp }
        let body = context.body
        let rate = body.integer("UncontrolledGasFlowRate", in: 0...65_535) ?? body.value("UncontrolledGasFlowRateDecimal").flatMap { Self.decimal($0, digits: 4) }
        let states = ["Locked": true, "Unchanged": false]
        guard let rate, (0...65_535).contains(rate), let stabilisation = body.integer("StabilisationPeriod", in: 1...255),
              let measurement = body.integer("MeasurementPeriod", in: 1...65_535),
              let tamper = body.value("SupplyTamperState").flatMap({ states[$0] }), let depletion = body.value("SupplyDepletionState").flatMap({ states[$0] })
        else {
            context.refuse("6.7 needs an uncontrolled gas flow rate (0 to 6.5535 m³/h), StabilisationPeriod 1–255, MeasurementPeriod 1–65535 and supply states Locked or Unchanged")
            return rsp
        }
        state.gasFlow = GasFlowSettings(rateTenThousandths: Int(rate), stabilisationPeriod: Int(stabilisation), measurementPeriod: Int(measurement),
                                        tamperLocked: tamper, depletionLocked: depletion, at: context.time)
        context.changed = true
        context.note = "uncontrolled gas flow rate \(Self.decimalText(Int(rate), digits: 4)) m³/h; valve \(tamper ? "locks" : "unchanged") on tamper, \(depletion ? "locks" : "unchanged") on depletion"
        return rsp
    }

    // MARK: 6.8

    /// 6.8 (ECS30/ECS30a, GCS25a): the meter's billing calendar; from now the billing data
    /// log (4.4.3) and the billing period's counters follow it, and 6.2.3 reads it back.
    func configureBillingCalendar(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme, .gsme], "6.8 billing calendar") else { return rsp }
        let schedule: BillingSchedule
        if context.fuel == .gas {
            guard let calendar = context.body.child("GasBillingCalendar"), let start = calendar.dateTime("BillingPeriodStart"),
                  let periodicity = calendar.value("Periodicity").flatMap(BillingSchedule.Periodicity.init(rawValue:))
            else {
                context.refuse("a gas meter's 6.8 needs GasBillingCalendar with BillingPeriodStart and Periodicity")
                return rsp
            }
            let (_, month, dayOfMonth) = UKCalendar.date(start.day.number)
            schedule = BillingSchedule(periodicity: periodicity, secondOfDay: Int(start.timeOfDay.milliseconds / 1000),
                                       weekday: UKCalendar.weekday(start.day.number) + 1, dayOfMonth: dayOfMonth, startMonth: month, start: start)
        } else {
            guard let calendar = context.body.child("ElectricityBillingCalendar"), let time = calendar.time("BillingTime") else {
                context.refuse("an electricity meter's 6.8 needs ElectricityBillingCalendar with BillingTime")
                return rsp
            }
            let second = Int(time.milliseconds / 1000)
            if calendar.child("Daily") != nil {
                schedule = BillingSchedule(periodicity: .daily, secondOfDay: second)
            } else if let weekday = calendar.integer("Weekly", in: 1...7) {
                schedule = BillingSchedule(periodicity: .weekly, secondOfDay: second, weekday: Int(weekday))
            } else if let day = calendar.integer("Monthly", in: 1...28) {
                schedule = BillingSchedule(periodicity: .monthly, secondOfDay: second, dayOfMonth: Int(day), startMonth: 1)
            } else if let periodicity = [BillingSchedule.Periodicity.quarterly, .sixMonthly, .yearly].first(where: { calendar.child($0.rawValue) != nil }),
                      let node = calendar.child(periodicity.rawValue),
                      let day = node.integer("DayOfMonth", in: 1...28), let month = node.integer("BillingPeriodStartMonth", in: 1...12) {
                schedule = BillingSchedule(periodicity: periodicity, secondOfDay: second, dayOfMonth: Int(day), startMonth: Int(month))
            } else {
                context.refuse("ElectricityBillingCalendar needs Daily, Weekly (1–7), Monthly (1–28) or Quarterly, SixMonthly or Yearly with DayOfMonth (1–28) and BillingPeriodStartMonth")
                return rsp
            }
        }
        state.billingCalendars = Self.appending(state.billingCalendars, BillingCalendarChange(at: context.time, fuel: context.fuel, schedule: schedule))
        context.changed = true
        context.note = "\(context.fuel.rawValue) billing calendar: \(schedule.periodicity.rawValue.lowercased()) at \(Self.clockTime(schedule.secondOfDay))"
        return rsp
    }

    /// The calendar a meter of `fuel` bills by now (nil: none set, the first of the month).
    func billingSchedule(_ fuel: Fuel, _ state: PremisesState) -> BillingSchedule? {
        state.billingCalendars?.last { $0.fuel == fuel }?.schedule
    }

    // MARK: 6.11, 8.1.1

    /// 6.11 and 8.1.1 (ECS70, GCS28): the meter takes the comms hub's time when it lies in
    /// [CurrentDateTime, CurrentDateTime + TolerancePeriod] (the emulated clocks keep the
    /// hub's time, so that is whether the requester's clock agrees); otherwise it logs that
    /// it did not adjust and answers its clock unreliable. 8.1.1 done commissions the
    /// device: its event log records it (6.13) and the state keeps when.
    func synchroniseClock(_ context: inout Context, _ state: inout PremisesState, _ element: String, commission: Bool) -> DataNode {
        var rsp = DataNode(element)
        let target = context.command.target
        guard requireType(&context, [.esme, .gsme], commission ? "8.1.1 commissioning" : "6.11 clock synchronisation") else { return rsp }
        guard let current = context.body.dateTime("CurrentDateTime"), let tolerance = context.body.integer("TolerancePeriod", in: 0...86_400) else {
            context.refuse("\(context.command.srv) needs CurrentDateTime (xs:dateTime) and TolerancePeriod (0 to 86400 s)")
            return rsp
        }
        let within = context.time >= current && context.time <= current.adding(milliseconds: tolerance * 1000)
        rsp.add("DeviceTime", context.time.iso8601)
        let status = within ? ("reliable", 0) : ("unreliable", 2)
        if context.fuel == .gas {
            rsp.add("Gas") { $0.add(statusASN1("GasClockTimeStatus", status.0, code: status.1)) }
        } else {
            rsp.add("Electricity") {
                $0.add(DataNode("ElecClockTimeStatus", attributes: [("TimeStatusCode", String(status.1))], children: [DataNode("TimeStatus", text: status.0)]))
            }
        }
        context.changed = true
        guard within else {
            state.log(LogEntry(at: context.time, code: 0x81C6, meaning: "Clock not adjusted (outside tolerance)", other: current.iso8601), device: target)
            context.refuse("the comms hub's time \(context.time.iso8601) is outside \(current.iso8601) + \(tolerance) s: clock not adjusted" + (commission ? ", device not commissioned" : ""))
            return rsp
        }
        state.log(LogEntry(at: context.time, code: 0x8145, meaning: "Clock adjusted (within tolerance)"), device: target)
        if commission {
            var commissioned = state.commissionedAt ?? [:]
            if commissioned[target] != nil || commissioned.count < 64 { commissioned[target] = context.time }
            state.commissionedAt = commissioned
            state.log(LogEntry(at: context.time, code: 0x8F69, meaning: "Device commissioned"), device: target)
            context.note = "clock synchronised; \(context.command.targetType.rawValue) \(target) commissioned"
        } else {
            context.note = "clock synchronised within \(tolerance) s"
        }
        return rsp
    }

    // MARK: 6.25, 6.26

    /// 6.25 (ECS81): what the electricity meter's supply does on a tamper (Locked: it is
    /// disabled and locked); 6.2.4 reads it back.
    func configureSupplyTamperState(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme], "6.25 supply tamper state") else { return rsp }
        guard let value = context.body.value("SupplyTamperState"), value == "Locked" || value == "Unchanged" else {
            context.refuse("SupplyTamperState must be Locked or Unchanged")
            return rsp
        }
        state.electricitySupplyTamperLocked = value == "Locked"
        context.changed = true
        context.note = "supply tamper state \(value)"
        return rsp
    }

    /// 6.26 (ECS48): the tariff block counters reset every midnight (from the next one) or
    /// only with the billing period; 4.1.3 and 4.6.1 show the counter.
    func configureDailyBlockCounterReset(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme], "6.26 daily block counter reset") else { return rsp }
        let choices = ["true": true, "1": true, "false": false, "0": false]
        guard let on = context.body.value("DailyTariffBlockCounterMatrixReset").flatMap({ choices[$0] }) else {
            context.refuse("DailyTariffBlockCounterMatrixReset must be a boolean")
            return rsp
        }
        state.dailyBlockCounterResets = Self.appending(state.dailyBlockCounterResets, DailyResetChange(at: context.time, on: on))
        context.changed = true
        context.note = on ? "tariff block counters reset every midnight from the next" : "tariff block counters reset only with the billing period"
        return rsp
    }

    // MARK: 6.14.1, 6.14.2, 6.14.3

    /// An index attribute 1…5 (or 1…20 for special days).
    static func index(_ node: ElementTree, _ name: String, _ range: ClosedRange<Int> = 1...5) -> Int? {
        guard let text = node.attributes[name], text.utf8.count <= 3, let value = Int(text), range.contains(value) else { return nil }
        return value
    }

    /// 6.14.1 (ECS46a): the switches' descriptions (printable, up to 22 characters); 7.7
    /// and 7.14 read them.
    func configureAuxiliaryDescriptions(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme], "6.14.1 auxiliary load descriptions") else { return rsp }
        let items = context.body.children.filter { $0.name == "ALCSHCALCSDescription" }
        guard (1...5).contains(items.count) else {
            context.refuse("6.14.1 describes 1 to 5 switches, not \(items.count)")
            return rsp
        }
        var descriptions: [Int: String] = [:]
        for item in items {
            guard let index = Self.index(item, "index"), descriptions[index] == nil, let text = item.value("SwitchDescription"), (1...22).contains(text.utf8.count),
                  text.utf8.allSatisfy({ (0x20...0x7E).contains($0) })
            else {
                context.refuse("each ALCSHCALCSDescription needs its own index 1–5 and a SwitchDescription of 1 to 22 printable characters")
                return rsp
            }
            descriptions[index] = text
        }
        var control = state.auxiliary ?? AuxiliaryControl()
        control.descriptions.merge(descriptions) { $1 }
        state.auxiliary = control
        context.changed = true
        context.note = "auxiliary load descriptions: " + descriptions.sorted { $0.key < $1.key }.map { "\($0.key) \"\($0.value)\"" }.joined(separator: ", ")
        return rsp
    }

    static let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    static func scheduleDate(_ node: ElementTree?) -> ScheduleDate? {
        guard let node else { return nil }
        var date = ScheduleDate()
        guard let year = node.child("Year"), let month = node.child("Month"), let day = node.child("DayOfMonth"), let weekday = node.child("DayOfWeek") else { return nil }
        if let value = year.integer("SpecifiedYear", in: 2014...9999) { date.year = Int(value) } else if year.child("NonSpecifiedYear") == nil { return nil }
        if let value = month.integer("SpecifiedMonth", in: 1...12) { date.month = Int(value) } else if month.child("NonSpecifiedMonth") == nil { return nil }
        if let value = day.integer("SpecifiedDayOfMonth", in: 1...31) {
            date.dayOfMonth = Int(value)
        } else if day.child("LastDayOfMonth") != nil {
            date.dayOfMonth = -1
        } else if day.child("SecondLastDayOfMonth") != nil {
            date.dayOfMonth = -2
        } else if day.child("NonSpecifiedDayOfMonth") == nil {
            return nil
        }
        if let value = weekday.integer("SpecifiedDayOfWeek", in: 1...7) { date.dayOfWeek = Int(value) } else if weekday.child("NonSpecifiedDayOfWeek") == nil { return nil }
        return date
    }

    static func dateNodes(_ date: ScheduleDate) -> [DataNode] {
        [
            DataNode("Year", children: [date.year.map { DataNode("SpecifiedYear", text: String($0)) } ?? DataNode("NonSpecifiedYear")]),
            DataNode("Month", children: [date.month.map { DataNode("SpecifiedMonth", text: String($0)) } ?? DataNode("NonSpecifiedMonth")]),
            DataNode("DayOfMonth", children: [
                date.dayOfMonth.map { $0 == -1 ? DataNode("LastDayOfMonth") : ($0 == -2 ? DataNode("SecondLastDayOfMonth") : DataNode("SpecifiedDayOfMonth", text: String($0))) }
                    ?? DataNode("NonSpecifiedDayOfMonth"),
            ]),
            DataNode("DayOfWeek", children: [date.dayOfWeek.map { DataNode("SpecifiedDayOfWeek", text: String($0)) } ?? DataNode("NonSpecifiedDayOfWeek")]),
        ]
    }

    /// One calendar entry (6.14.2's ALCSHCALCSConnectionSchedule or 6.14.3's
    /// AuxiliaryControllerSchedule), or nil when it is malformed.
    static func scheduleEntry(_ node: ElementTree, controllers: Bool) -> AuxiliaryScheduleEntry? {
        let index: Int
        let level: Int
        var input = false
        if controllers {
            guard let action = node.child("AuxiliaryControllerAction"), let n = Self.index(action, "auxiliaryControllerN"),
                  let commanded = action.integer("CommandedStateLevel", in: 0...100) else { return nil }
            (index, level) = (n, Int(commanded))
            input = action.child("InputFromControlledLoad") != nil
        } else {
            guard let action = node.child("ActivateDeactivateSwitch"), let n = Self.index(action, "index") else { return nil }
            if action.child("ActivateSwitch") != nil {
                (index, level) = (n, 100)
            } else if action.child("DeactivateSwitch") != nil {
                (index, level) = (n, 0)
            } else {
                return nil
            }
        }
        let specialName = controllers ? "identifier" : "index"
        var special: [Int] = []
        for item in node.children where item.name == "SpecialDaysApplicability" {
            guard special.count < 20, let value = Self.index(item, specialName, 1...20) else { return nil }
            if !special.contains(value) { special.append(value) }
        }
        var weekdays: UInt8?
        if let days = node.child("DaysOfWeekApplicability") {
            var bits: UInt8 = 0
            for day in days.children.prefix(8) where day.name == "DayOfWeekApplicability" {
                guard let name = day.value("DayOfWeekID"), let position = Self.weekdayNames.firstIndex(of: name) else { return nil }
                bits |= 1 << UInt8(position)
            }
            weekdays = bits
        }
        guard let times = node.child(controllers ? "AuxiliaryControllerSchedulePeriodAndTime" : "ALCSScheduleDatesAndTime"),
              let time = times.time("SwitchTime"), let start = Self.scheduleDate(times.child("StartDate")), let end = Self.scheduleDate(times.child("EndDate"))
        else { return nil }
        return AuxiliaryScheduleEntry(index: index, level: level, input: input, specialDays: special, weekdays: weekdays,
                                      secondOfDay: Int(time.milliseconds / 1000), start: start, end: end)
    }

    static func scheduleNode(_ entry: AuxiliaryScheduleEntry, controllers: Bool) -> DataNode {
        var node = DataNode(controllers ? "AuxiliaryControllerSchedule" : "ALCSScheduler")
        if controllers {
            var action = DataNode("AuxiliaryControllerAction", attributes: [("auxiliaryControllerN", String(entry.index))])
            action.add("CommandedStateLevel", entry.level)
            if entry.input { action.addEmpty("InputFromControlledLoad") }
            node.add(action)
        } else {
            node.add(DataNode("ActivateDeactivateSwitch", attributes: [("index", String(entry.index))],
                              children: [DataNode(entry.level == 100 ? "ActivateSwitch" : "DeactivateSwitch")]))
        }
        for day in entry.specialDays { node.addEmpty("SpecialDaysApplicability", attributes: [(controllers ? "identifier" : "index", String(day))]) }
        if let weekdays = entry.weekdays {
            node.add("DaysOfWeekApplicability") { days in
                for (position, name) in Self.weekdayNames.enumerated() where weekdays & (1 << UInt8(position)) != 0 {
                    days.add("DayOfWeekApplicability") { $0.add("DayOfWeekID", name) }
                }
            }
        }
        node.add(DataNode(controllers ? "AuxiliaryControllerSchedulePeriodAndTime" : "ALCSScheduleDatesAndTime", children: [
            DataNode("SwitchTime", text: Self.clockTime(entry.secondOfDay)),
            DataNode("StartDate", children: Self.dateNodes(entry.start)),
            DataNode("EndDate", children: Self.dateNodes(entry.end)),
        ]))
        return node
    }

    /// 6.14.2 (ECS46c) and 6.14.3 (ECS46d): a new calendar for the switches (at most 48
    /// entries) or the controllers (at most 120), with its special days and, for the
    /// switches, what each is (ALCS or an HC ALCS). It replaces the one before; 7.7 and
    /// 7.14 read it back, and 7.7's and 7.15's states follow it.
    func configureAuxiliarySchedule(_ context: inout Context, _ state: inout PremisesState, _ element: String, controllers: Bool) -> DataNode {
        let rsp = DataNode(element)
        let srv = context.command.srv
        guard requireType(&context, controllers ? [.esme, .hcalcs] : [.esme], "\(srv) auxiliary load calendar") else { return rsp }
        let body = context.body
        let entryName = controllers ? "AuxiliaryControllerSchedule" : "ALCSHCALCSConnectionSchedule"
        let limit = controllers ? 120 : 48
        let items = body.children.filter { $0.name == entryName }
        guard items.count <= limit else {
            context.refuse("\(srv) holds at most \(limit) calendar entries, not \(items.count)")
            return rsp
        }
        var entries: [AuxiliaryScheduleEntry] = []
        for item in items {
            guard let entry = Self.scheduleEntry(item, controllers: controllers) else {
                context.refuse("\(entryName) \(entries.count + 1) is malformed (index, action, days or dates)")
                return rsp
            }
            entries.append(entry)
        }
        let daysName = controllers ? "AuxiliaryControllerSpecialDayDefinitions" : "ALCSHCALCSSpecialDays"
        let dayName = controllers ? "AuxiliaryControllerSpecialDayDefinition" : "ALCSHCALCSSpecialDay"
        var specialDays: [Int: ScheduleDate] = [:]
        let dayItems = body.child(daysName)?.children.filter { $0.name == dayName } ?? []
        guard dayItems.count <= 20 else {
            context.refuse("\(srv) defines at most 20 special days")
            return rsp
        }
        for item in dayItems {
            guard let index = Self.index(item, controllers ? "identifier" : "index", 1...20), specialDays[index] == nil, let date = Self.scheduleDate(item) else {
                context.refuse("special day \(specialDays.count + 1) is malformed or defined twice")
                return rsp
            }
            specialDays[index] = date
        }
        if let entry = entries.first(where: { !$0.specialDays.allSatisfy { specialDays[$0] != nil } }) {
            context.refuse("a calendar entry for \(entry.index) names a special day the request does not define")
            return rsp
        }
        var types: [Int: AuxiliarySwitchType] = [:]
        if !controllers {
            let typeItems = body.children.filter { $0.name == "SwitchTypeAndId" }
            guard typeItems.count <= 5 else {
                context.refuse("6.14.2 names at most 5 switches")
                return rsp
            }
            for item in typeItems {
                guard let index = Self.index(item, "index") else {
                    context.refuse("SwitchTypeAndId needs an index 1–5")
                    return rsp
                }
                if item.child("ALCS") != nil {
                    types[index] = AuxiliarySwitchType(hcalcs: nil)
                } else if let eui = item.value("HCALCS").flatMap({ EUI64($0) }) {
                    types[index] = AuxiliarySwitchType(hcalcs: eui)
                } else {
                    context.refuse("SwitchTypeAndId \(index) is neither ALCS nor an HCALCS EUI-64")
                    return rsp
                }
            }
        }
        var control = state.auxiliary ?? AuxiliaryControl()
        if controllers {
            control.controllerSchedule = entries
            control.controllerSpecialDays = specialDays
        } else {
            control.switchSchedule = entries
            control.switchSpecialDays = specialDays
            control.switchTypes.merge(types) { $1 }
        }
        state.auxiliary = control
        context.changed = true
        context.note = "\(controllers ? "auxiliary controller" : "auxiliary load switch") calendar: \(entries.count) entries, \(specialDays.count) special days"
        return rsp
    }

    // MARK: 7.5, 7.6, 7.8, 7.12, 7.13, 7.16

    /// 7.5 and 7.6 (ECS47): a switch held on or off for Duration minutes (0: until 7.8
    /// returns it to its calendar), whatever its calendar says; 7.7 and 7.15 show it.
    func switchAuxiliaryLoad(_ context: inout Context, _ state: inout PremisesState, _ element: String, on: Bool) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme, .hcalcs], "\(context.command.srv) auxiliary load switching") else { return rsp }
        guard let item = context.body.child(on ? "ActivateALCSHCALCS" : "DeactivateALCSHCALCS"), let index = Self.index(item, "index"),
              let minutes = item.integer("Duration", in: 0...65_535)
        else {
            context.refuse("\(context.command.srv) needs \(on ? "ActivateALCSHCALCS" : "DeactivateALCSHCALCS") with an index 1–5 and a Duration (0 to 65535 minutes)")
            return rsp
        }
        var control = state.auxiliary ?? AuxiliaryControl()
        let until = minutes == 0 ? nil : context.time.adding(milliseconds: minutes * 60_000)
        control.overrides[index] = AuxiliaryOverride(on: on, at: context.time, until: until)
        control.commanded[index] = nil
        state.auxiliary = control
        context.changed = true
        context.note = "auxiliary load \(index) \(on ? "on" : "off") " + (until.map { "until \($0.iso8601)" } ?? "until reset")
        return rsp
    }

    /// 7.8 (ECS47): the switch goes back to its calendar.
    func resetAuxiliaryLoad(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme, .hcalcs], "7.8 auxiliary load reset") else { return rsp }
        guard let item = context.body.child("ResetALCSHCALCS"), let index = Self.index(item, "index") else {
            context.refuse("7.8 needs ResetALCSHCALCS with an index 1–5")
            return rsp
        }
        var control = state.auxiliary ?? AuxiliaryControl()
        control.overrides[index] = nil
        control.commanded[index] = nil
        state.auxiliary = control
        context.changed = true
        context.note = "auxiliary load \(index) back under calendar control"
        return rsp
    }

    /// 7.12 (ECS38): the limit of the random offset the meter adds to its scheduled
    /// switching; 6.2.2 reads it back and the auxiliary calendars' switching moves with it.
    func setRandomisedOffsetLimit(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let rsp = DataNode(element)
        guard requireType(&context, [.esme], "7.12 randomised offset limit") else { return rsp }
        guard let limit = context.body.integer("RandomisedOffsetLimit", in: 0...1799) else {
            context.refuse("RandomisedOffsetLimit must be 0 to 1799 seconds")
            return rsp
        }
        state.randomisedOffsetLimit = Int(limit)
        context.changed = true
        context.note = "randomised offset limit \(limit) s (offset now \(Self.randomisedOffset(context.model, limit: Int(limit))) s)"
        return rsp
    }

    /// The offset (seconds) the meter adds to its scheduled switching: drawn once per
    /// premises, within the limit (1800 s until 7.12 sets one, as 6.2.2 has always said).
    static func randomisedOffset(_ model: PremisesModel, limit: Int) -> Int {
        limit <= 0 ? 0 : Int(mix(model.profile.seed, 0x72616E64) % UInt64(limit + 1))
    }

    /// 7.13 (ECS47a): a controller held at a level (ALCS and HC ALCS: on at 100, off
    /// otherwise) from StartDateTime to EndDateTime; 7.16 (ECS47e): an APC's level capped
    /// there (alert 8F86 says so). 7.7 and 7.15 show the result.
    func commandAuxiliaryController(_ context: inout Context, _ state: inout PremisesState, _ element: String, limit: Bool) -> DataNode {
        let rsp = DataNode(element)
        let srv = context.command.srv
        guard requireType(&context, [.esme], limit ? "7.16 APC limit" : "7.13 auxiliary controller state") else { return rsp }
        let body = context.body
        guard let index = Self.index(body, "auxiliaryControllerN"), let start = body.dateTime("StartDateTime"), let end = body.dateTime("EndDateTime"),
              let level = body.integer("CommandedStateLevel", in: 0...100)
        else {
            context.refuse("\(srv) needs auxiliaryControllerN 1–5, StartDateTime, EndDateTime and CommandedStateLevel 0–100")
            return rsp
        }
        guard start < end else {
            context.refuse("\(srv): StartDateTime \(start.iso8601) is not before EndDateTime \(end.iso8601)")
            return rsp
        }
        let command = AuxiliaryCommand(level: Int(level), input: body.child("InputFromControlledLoad") != nil, start: start, end: end)
        var control = state.auxiliary ?? AuxiliaryControl()
        if limit { control.apcLimits[index] = command } else { control.commanded[index] = command }
        state.auxiliary = control
        context.changed = true
        context.note = "auxiliary controller \(index) \(limit ? "limited to" : "set to") \(level)% from \(start.iso8601) to \(end.iso8601)"
        if limit {
            let resulting = auxiliaryLevel(index, context, state, at: max(start, context.time)).level
            var payload = DataNode("LimitAPCLevelCommandProcessedDeviceAlert")
            payload.add("APCLimitPeriodStart", start.iso8601)
            payload.add("APCLimitPeriodEnd", end.iso8601)
            payload.add("AuxiliaryControllerN", index)
            payload.add("ResultingLevel", resulting)
            if command.input { payload.addEmpty("InputFromControlledLoad") }
            let target = context.command.target
            context.alerts.append(DeviceAlert(
                header: DeviceMessageHeader(originator: target, target: context.command.originator, counter: 0, serviceReference: nil, srv: nil, timestamp: context.time),
                code: 0x8F86, description: "Limit APC Level Command Processed", at: context.time, payload: payload, recipients: [.originator, .supplier]))
        }
        return rsp
    }

    /// A controller's (or switch's) level now: a 7.13 command in force, else a switch held
    /// by 7.5/7.6, else the latest calendar entry (6.14.3, 6.14.2) at its randomised
    /// moment, else what the installation does (switch 1 drives an installed HC ALCS's
    /// storage heating in the cheap hours); then capped by a 7.16 limit in force.
    func auxiliaryLevel(_ index: Int, _ context: Context, _ state: PremisesState, at time: Timestamp) -> (level: Int, input: Bool, why: String) {
        let control = state.auxiliary ?? AuxiliaryControl()
        var result: (level: Int, input: Bool, why: String)
        if let command = control.commanded[index], command.start <= time, time < command.end {
            result = (command.level, command.input, "set to \(command.level)% until \(command.end.iso8601) (7.13)")
        } else if let held = control.overrides[index], held.until.map({ time < $0 }) ?? true {
            result = (held.on ? 100 : 0, false, "held \(held.on ? "on" : "off") " + (held.until.map { "until \($0.iso8601)" } ?? "until reset") + " (\(held.on ? "7.5" : "7.6"))")
        } else {
            let offset = Self.randomisedOffset(context.model, limit: state.randomisedOffsetLimit ?? 1800)
            let controller = Self.lastScheduled(index, control.controllerSchedule, control.controllerSpecialDays, at: time, offset: offset)
            let switched = Self.lastScheduled(index, control.switchSchedule, control.switchSpecialDays, at: time, offset: offset)
            if let latest = [controller, switched].compactMap({ $0 }).max(by: { $0.at < $1.at }) {
                result = (latest.entry.level, latest.entry.input, "calendar: \(latest.entry.level)% since \(latest.at.iso8601)")
            } else if index == 1, context.model.device(.hcalcs) != nil {
                let on = context.model.electricityTariff.rate(slot: time.timeOfDay.minutes / 30) == 2
                result = (on ? 100 : 0, false, on ? "charging during off-peak hours" : "off")
            } else {
                result = (0, false, "off")
            }
        }
        if let cap = control.apcLimits[index], cap.start <= time, time < cap.end, result.level > cap.level {
            result.level = cap.level
            result.why += "; limited to \(cap.level)% until \(cap.end.iso8601) (7.16)"
        }
        return result
    }

    /// The latest calendar entry for `index` that has run by `time` (looking back 8 days).
    static func lastScheduled(_ index: Int, _ entries: [AuxiliaryScheduleEntry]?, _ specialDays: [Int: ScheduleDate], at time: Timestamp,
                              offset: Int) -> (entry: AuxiliaryScheduleEntry, at: Timestamp)? {
        guard let entries, entries.contains(where: { $0.index == index }) else { return nil }
        let today = time.day.number
        for day in stride(from: today, through: today - 8, by: -1) {
            var best: (entry: AuxiliaryScheduleEntry, at: Timestamp)?
            for entry in entries where entry.index == index && entry.applies(day, specialDays: specialDays) {
                let at = Timestamp(dayNumber: day, millisecond: Int64(entry.secondOfDay + offset) * 1000)
                if at <= time, best.map({ at >= $0.at }) ?? true { best = (entry, at) }
            }
            if let best { return best }
        }
        return nil
    }

    // MARK: 6.15.1

    /// 6.15.1 (CS02b, CS02g): the remote party replaces its own trust anchor on the
    /// device. The digital-signing certificate names the party the device trusts in the
    /// role from now (`authenticate` checks critical commands against it: the old party's
    /// signature is refused afterwards) with the floors the request sets.
    func updateKRPCredentials(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        var rsp = DataNode(element)
        guard requireType(&context, [.esme, .gsme, .chf, .gpf], "6.15.1 credentials update") else { return rsp }
        let body = context.body
        let role = body.value("RemotePartyRole") ?? ""
        let mode: String
        let roleNumber: Int
        switch role {
        case "Supplier": (mode, roleNumber) = ("SupplierBySupplier", RemotePartyRole.supplier)
        case "NetworkOperator": (mode, roleNumber) = ("NetworkOperatorByNetworkOperator", RemotePartyRole.networkOperator)
        case "LoadController": (mode, roleNumber) = ("LoadControllerBySupplier", RemotePartyRole.loadController)
        default:
            context.refuse("6.15.1 replaces a Supplier's, Network Operator's or Load Controller's credentials, not \(role.prefix(24))'s")
            return rsp
        }
        func fail(_ status: String, code: Int, _ why: String) -> DataNode {
            rsp.add("ExecutionOutcome") { outcome in
                outcome.add("CredentialsReplacementMode", mode)
                outcome.add("ReplacementOutcome") { $0.add(statusASN1("StatusCode", status, code: code)) }
            }
            context.refuse(why)
            return rsp
        }
        // CS02b: a party replaces its own role's credentials, authorised by its current ones.
        let signer = Self.signingRole(context.command.originatorRoles)
        guard role == signer || role == "LoadController" else {
            return fail("noTrustAnchor", code: 2, "the \(signer) cannot replace the \(role)'s credentials (CS02b is a party's own)")
        }
        let cells = body.child("ReplacementCertificates")?.child("SupplierOrNetworkOperatorCertificates")
        var replaced: [(type: String, der: [UInt8], certificate: SMKICertificate)] = []
        for (name, type) in [("DigitalSigningCertificate", "DigitalSigning"), ("KeyAgreementCertificate", "KeyAgreement"), ("KeyAgreementTopUpCertificate", "KeyAgreementTopUp")] {
            guard let node = cells?.child(name) else { continue }
            let text = node.text.filter { !$0.isWhitespace }
            guard text.utf8.count <= 4096, let data = Data(base64Encoded: text), let certificate = try? SMKICertificate(der: Array(data)) else {
                return fail("badCertificate", code: 1, "\(name) is not an X.509 certificate")
            }
            if type == "KeyAgreementTopUp" && role != "Supplier" { return fail("badCertificate", code: 1, "a top-up certificate is a Supplier's") }
            if let certified = certificate.role, certified != roleNumber {
                return fail("badCertificate", code: 1, "\(name) is for remote party role \(certified), not the \(role)'s (\(roleNumber))")
            }
            replaced.append((type, Array(data), certificate))
        }
        guard !replaced.isEmpty else { return fail("badCertificate", code: 1, "no replacement certificates in the request") }
        let signing = replaced.first { $0.type == "DigitalSigning" }
        if let signing, signing.certificate.subjectEUI == nil {
            return fail("badCertificate", code: 1, "the digital-signing certificate names no remote party (x500UniqueIdentifier)")
        }
        let existing = currentAnchor(role, context: context, state: state)
        let authorising = currentAnchor(signer, context: context, state: state).floor
        let floors: ClosedRange<Int64> = 0...Int64.max
        let floor = body.integer("RemotePartyFloorSeqNumber", in: floors).map { UInt64($0) } ?? existing.floor
        let prepaymentFloor = body.integer("RemotePartyPrepaymentTopUpFloorSeqNumber", in: floors).map { UInt64($0) } ?? existing.prepaymentFloor
        let newParty = signing?.certificate.subjectEUI ?? existing.party
        let anchor = TrustAnchor(role: role, party: newParty, floor: floor, prepaymentFloor: prepaymentFloor,
                                 certificateSHA1: signing.map { Self.sha1($0.der) } ?? existing.certificateSHA1, replacedAt: context.time)
        var anchors = state.trustAnchors[context.command.target] ?? []
        anchors.removeAll { $0.role == role }
        anchors.append(anchor)
        state.trustAnchors[context.command.target] = anchors
        state.log(LogEntry(at: context.time, code: 0x8F70, meaning: "Update Security Credentials: \(role) replaced by \(role)"), device: context.command.target, security: true)
        context.changed = true
        context.note = "\(role) credentials replaced: \(existing.party) → \(newParty), floor \(floor)"
        rsp.add("ExecutionOutcome") { outcome in
            outcome.add("AuthorisingRemotePartyOriginatorCounter", authorising)
            outcome.add("CredentialsReplacementMode", mode)
            outcome.add("RemotePartySeqNumberChange") { change in
                change.add("RemotePartyRole", role)
                change.add("RemotePartyFloorSeqNumber", floor)
                if role == "Supplier" { change.add("RemotePartyPrepaymentTopUpFloorSeqNumber", prepaymentFloor) }
            }
            for item in replaced {
                outcome.add("ReplacementOutcome") { outcome in
                    outcome.add(statusASN1("StatusCode", "success"))
                    outcome.add("CertificateType", item.type)
                    outcome.add("RemotePartyRole", role)
                    outcome.add("ExistingRemotePartyID", existing.party.description)
                    outcome.add("NewRemotePartyID", (item.certificate.subjectEUI ?? newParty).description)
                    outcome.add("ExistingCertificateHash", existing.certificateSHA1 ?? "")
                    outcome.add("NewCertificateHash", Self.sha1(item.der))
                }
            }
        }
        return rsp
    }

    // MARK: 6.15.2, 6.17, 6.24.2

    /// GBCS's response codes of the device-certificate commands (CS02c, CS02d, CS02e), in
    /// MMC's order. The RTDS confirms success (0) and invalidKeyUsage (3), the code all
    /// three answer their error vectors with.
    static let credentialCodes: [String: Int] = [
        "success": 0, "invalidCertificate": 1, "wrongDeviceIdentity": 2, "invalidKeyUsage": 3, "noCorrespondingKeyPairGenerated": 4,
        "wrongPublicKey": 5, "certificateStorageFailed": 6, "privateKeyChangeFailed": 7, "keyPairGenerationFailed": 8, "cRProductionFailed": 9,
        "noCertificateHeld": 10, "certificateRetrievalFailure": 11,
    ]

    func credentialStatus(_ name: String, _ status: String) -> DataNode { statusASN1(name, status, code: Self.credentialCodes[status] ?? 127) }

    /// DUIS's CredentialType as the key usage the state keys by.
    static func usage(_ text: String?) -> String? {
        switch text {
        case "Digital Signature": return "DigitalSigning"
        case "Key Agreement": return "KeyAgreement"
        default: return nil
        }
    }

    /// 6.17 (CS02c): the device generates a new key pair of the usage and answers a
    /// PKCS#10 certification request for it (its EUI as hwSerialNum, the key usage
    /// critical, signed with the new key). The public key waits for 6.15.2's certificate.
    func issueDeviceCredentials(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        var rsp = DataNode(element)
        guard requireType(&context, [.esme, .gsme], "6.17 key generation") else { return rsp }
        guard let usage = Self.usage(context.body.value("CredentialType")) else {
            rsp.add(credentialStatus("IssueCredentialsResponseCode", "invalidKeyUsage"))
            context.refuse("CredentialType must be Digital Signature or Key Agreement")
            return rsp
        }
        let signing: P256.Signing.PrivateKey
        if usage == "KeyAgreement" {
            // A key-agreement key signs its own request (proof of possession): the same scalar.
            guard let key = try? P256.Signing.PrivateKey(rawRepresentation: P256.KeyAgreement.PrivateKey().rawRepresentation) else {
                rsp.add(credentialStatus("IssueCredentialsResponseCode", "keyPairGenerationFailed"))
                context.refuse("key pair generation failed")
                return rsp
            }
            signing = key
        } else {
            signing = P256.Signing.PrivateKey()
        }
        guard let request = CredentialDER.certificationRequest(key: signing, device: context.command.target, digitalSignature: usage == "DigitalSigning") else {
            rsp.add(credentialStatus("IssueCredentialsResponseCode", "cRProductionFailed"))
            context.refuse("the certification request could not be signed")
            return rsp
        }
        var credentials = state.deviceCredentials ?? [:]
        var own = credentials[context.command.target] ?? DeviceOwnCredentials()
        own.pendingKeys[usage] = Hex.encode(signing.publicKey.x963Representation)
        guard credentials[context.command.target] != nil || credentials.count < 64 else {
            rsp.add(credentialStatus("IssueCredentialsResponseCode", "keyPairGenerationFailed"))
            context.refuse("the premises' device credentials are full")
            return rsp
        }
        credentials[context.command.target] = own
        state.deviceCredentials = credentials
        context.changed = true
        context.note = "new \(usage) key pair generated; certification request issued"
        rsp.add(credentialStatus("IssueCredentialsResponseCode", "success"))
        rsp.add("CertificationRequest", Data(request).base64EncodedString())
        return rsp
    }

    /// 6.15.2 (CS02d): the device's own certificate of a usage replaced by one for the key
    /// pair 6.17 generated: it must name the device (hwSerialNum), have one key usage and
    /// carry that pair's public key. 6.24.2 answers it afterwards. (The device CA's
    /// signature is not checked: the emulated device holds no CA certificate.)
    func updateDeviceCertificate(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        var rsp = DataNode(element)
        let name = "UpdateSecurityCredentialsResponseCode"
        guard requireType(&context, [.esme, .gsme, .chf, .gpf], "6.15.2 device certificate update") else { return Self.unexecutedAnswer("6.15.2") ?? rsp }
        let target = context.command.target
        func fail(_ status: String, _ why: String) -> DataNode {
            rsp.add(credentialStatus(name, status))
            context.refuse(why)
            return rsp
        }
        let text = (context.body.value("DeviceCertificate") ?? "").filter { !$0.isWhitespace }
        guard text.utf8.count <= 4096, let data = Data(base64Encoded: text), let certificate = CredentialDER.deviceCertificate(Array(data)) else {
            return fail("invalidCertificate", "DeviceCertificate is not an X.509 device certificate")
        }
        guard certificate.device == target else {
            return fail("wrongDeviceIdentity", "the certificate is for \(certificate.device?.description ?? "no device"), not \(target)")
        }
        guard let usage = certificate.usage else { return fail("invalidKeyUsage", "the certificate's key usage is neither digital signature nor key agreement alone") }
        var credentials = state.deviceCredentials ?? [:]
        var own = credentials[target] ?? DeviceOwnCredentials()
        guard let pending = own.pendingKeys[usage] else {
            return fail("noCorrespondingKeyPairGenerated", "the device generated no \(usage) key pair (6.17) for this certificate")
        }
        guard pending == Hex.encode(certificate.publicKey) else { return fail("wrongPublicKey", "the certificate's public key is not the one the device generated") }
        own.certificates[usage] = Data(data).base64EncodedString()
        own.pendingKeys[usage] = nil
        own.replacedAt[usage] = context.time
        credentials[target] = own
        state.deviceCredentials = credentials
        state.log(LogEntry(at: context.time, code: 0x8F70, meaning: "Update Security Credentials: device \(usage) certificate replaced"), device: target, security: true)
        context.changed = true
        context.note = "device \(usage) certificate replaced (SHA-1 \(Self.sha1(Array(data))))"
        rsp.add(credentialStatus(name, "success"))
        return rsp
    }

    /// 6.24.2 (CS02e): the device's certificate of a usage: the one 6.15.2 installed, else
    /// the one issued at installation (from SMKI, when the device's key store holds them).
    func retrieveDeviceCertificate(_ context: inout Context, _ state: PremisesState, _ element: String) -> DataNode {
        var rsp = DataNode(element)
        let name = "RetrieveDeviceSecurityCredentialsStatusCode"
        guard requireType(&context, [.esme, .gsme, .chf, .gpf], "6.24.2 certificate retrieval") else { return rsp }
        guard let usage = Self.usage(context.body.value("CredentialType")) else {
            rsp.add(credentialStatus(name, "invalidKeyUsage"))
            context.refuse("CredentialType must be Digital Signature or Key Agreement")
            return rsp
        }
        let target = context.command.target
        let installed = state.deviceCredentials?[target]?.certificates[usage].flatMap { Data(base64Encoded: $0) }.map { Array($0) }
        let issued = (keys as? any DeviceCertificateSource)?.deviceCertificate(of: target, usage: usage == "DigitalSigning" ? .digitalSignature : .keyAgreement)
        guard let der = installed ?? issued else {
            rsp.add(credentialStatus(name, "certificateRetrievalFailure"))
            context.refuse("the emulated device cannot reach its installation certificate (no SMKI certificate source)")
            return rsp
        }
        rsp.add(credentialStatus(name, "success"))
        rsp.add("Certificate", Data(der).base64EncodedString())
        context.note = "\(usage) certificate (SHA-1 \(Self.sha1(der)))" + (installed != nil ? ", installed by 6.15.2" : "")
        return rsp
    }

    // MARK: 8.7.1, 8.8.1

    /// 8.7.1 (CS03A1, CS03A2, CS03C): a meter and a PPMID or HC ALCS join by key agreement
    /// (Type 2 devices join by 8.7.2); the devices' logs change as 8.7.2's do.
    func criticalJoin(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        let other = context.body.value("OtherDeviceID").flatMap { EUI64($0) }
        let otherType = other.flatMap { context.model.device($0)?.type }
        let pairs: [(DeviceType, DeviceType)] = [(.esme, .ppmid), (.esme, .hcalcs), (.gsme, .ppmid), (.ppmid, .esme), (.hcalcs, .esme), (.ppmid, .gsme)]
        guard let otherType, pairs.contains(where: { $0.0 == context.command.targetType && $0.1 == otherType }) else {
            var rsp = DataNode(element)
            rsp.add(statusASN1("joinResponseCode", "invalidJoinMethodAndRole", code: 2))
            context.refuse("8.7.1 joins a meter with a PPMID or HC ALCS on this premises (GBCS Method A or C), not \(context.command.targetType.rawValue) with \(other?.description ?? "an unknown device")")
            return rsp
        }
        var rsp = join(&context, &state)
        rsp.name = element
        return rsp
    }

    /// 8.8.1 (CS04AC): the meter removes the other device from its log.
    func criticalUnjoin(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        guard requireType(&context, [.esme, .gsme], "8.8.1 unjoin") else {
            var rsp = DataNode(element)
            rsp.add(statusASN1("unjoinResponseCode", "otherFailure", code: 2))
            return rsp
        }
        var rsp = unjoin(&context, &state)
        rsp.name = element
        return rsp
    }

    // MARK: 11.3

    /// 11.3 (CS06): the device runs the image it holds if its hash is the command's; 11.2
    /// then reads the image's version. GBCS's ActivateImageResponseCode: success (0),
    /// noImageHeld (1), hashMismatch (2). The answer carries the version running after.
    func activateFirmware(_ context: inout Context, _ state: inout PremisesState, _ element: String) -> DataNode {
        var rsp = DataNode(element)
        guard requireType(&context, [.esme, .gsme, .chf, .gpf, .ppmid, .hcalcs], "11.3 firmware activation") else { return rsp }
        let target = context.command.target
        let running = state.firmware[target] ?? context.model.device(target)?.firmware ?? "01000000"
        func answer(_ status: String, code: Int, version: String) {
            rsp.add(statusASN1("ActivateImageResponseCode", status, code: code))
            if (1...8).contains(version.count) { rsp.add("FirmwareVersion", version) }
        }
        guard let hash = context.body.value("FirmwareHash").flatMap({ Hex.decode($0) }), hash.count == 32 else {
            answer("hashMismatch", code: 2, version: running)
            context.refuse("FirmwareHash is not 32 octets of hex")
            return rsp
        }
        guard let image = state.firmwareImages?[target] else {
            answer("noImageHeld", code: 1, version: running)
            context.refuse("the device holds no firmware image (none distributed since 11.1)")
            return rsp
        }
        guard image.hash == Hex.encode(hash, uppercase: true) else {
            answer("hashMismatch", code: 2, version: running)
            context.refuse("the image the device holds (version \(image.version)) has another hash")
            return rsp
        }
        state.firmware[target] = image.version
        state.log(LogEntry(at: context.time, code: 0x8F43, meaning: "Change in the executing Firmware version", other: "\(running.prefix(12)) → \(image.version)"), device: target)
        context.changed = true
        context.note = "firmware \(running) → \(image.version)"
        answer("success", code: 0, version: image.version)
        return rsp
    }

    // MARK: - Reads these commands change

    /// The reads whose content this family's commands set, answered from what they left
    /// (6.2.2, 6.2.3, 6.2.4, 6.2.8, 7.7, 7.14, 7.15), or nil for the usual answer: nothing
    /// of theirs was set, or the SRV is not one of them.
    func readConfigurationAndSecurity(_ context: inout Context, _ state: PremisesState) -> DataNode? {
        switch context.command.srv {
        case "6.2.2":
            guard let limit = state.randomisedOffsetLimit else { return nil }
            var rsp = DataNode("ReadDeviceConfigurationRandomisationRsp")
            rsp.add("RandomisedOffset", Self.randomisedOffset(context.model, limit: limit))
            rsp.add("RandomisedOffsetNumber", 1)
            rsp.add("RandomisedOffsetLimit", limit)
            return rsp
        case "6.2.3":
            guard let schedule = billingSchedule(context.fuel, state) else { return nil }
            return billingCalendarAnswer(schedule, fuel: context.fuel, context.time)
        case "6.2.4":
            let gas = context.fuel == .gas
            guard (gas && state.gasFlow != nil) || (!gas && state.electricitySupplyTamperLocked != nil) else { return nil }
            var rsp = identity(&context, state)
            for index in rsp.children.indices where rsp.children[index].name == (gas ? "Gas" : "Electricity") {
                for inner in rsp.children[index].children.indices {
                    let name = rsp.children[index].children[inner].name
                    if name == "SupplyTamperState" {
                        let locked = gas ? state.gasFlow?.tamperLocked == true : state.electricitySupplyTamperLocked == true
                        rsp.children[index].children[inner].text = locked ? "Locked" : "Unchanged"
                    } else if name == "SupplyDepletionState", let flow = state.gasFlow {
                        rsp.children[index].children[inner].text = flow.depletionLocked ? "Locked" : "Unchanged"
                    }
                }
            }
            return rsp
        case "6.2.8":
            guard context.fuel == .gas, state.gasConversions != nil || state.gasFlow != nil else { return nil }
            let conversion = state.gasConversion(at: context.time, model: context.model)
            var rsp = DataNode("ReadDeviceConfigurationGasRsp")
            rsp.add("CalorificValue", DeviceFormat.cubicMetres(Int64(conversion.calorificValueMilli)))
            rsp.add("ConversionFactor", Self.decimalText(conversion.conversionFactorMicro / 10, digits: 5))
            rsp.add("UncontrolledGasFlowRate", state.gasFlow.map { Self.decimalText($0.rateTenThousandths, digits: 4) } ?? "3.000")
            rsp.add("FlowStabilisationPeriod", state.gasFlow?.stabilisationPeriod ?? 10)
            rsp.add("FlowMeasurementPeriod", state.gasFlow?.measurementPeriod ?? 6)
            return rsp
        case "7.7":
            guard state.auxiliary != nil else { return nil }
            return configuredAuxiliarySwitches(&context, state)
        case "7.14":
            guard let control = state.auxiliary else { return nil }
            var rsp = DataNode("ReadAuxiliaryControllerConfigurationDataRsp")
            for index in auxiliaryIndices(context, control) {
                guard let text = auxiliaryDescription(index, context, control) else { continue }
                rsp.add(DataNode("AuxiliaryControllerDescription", attributes: [("auxiliaryControllerN", String(index))],
                                 children: [DataNode("AuxiliaryControlDescription", text: text)]))
            }
            if control.controllerSchedule != nil {
                rsp.add("AuxiliaryControllerSpecialDayDefinitions") { days in
                    for (identifier, date) in control.controllerSpecialDays.sorted(by: { $0.key < $1.key }) {
                        days.add(DataNode("AuxiliaryControllerSpecialDayDefinition", attributes: [("identifier", String(identifier))], children: Self.dateNodes(date)))
                    }
                }
                for entry in (control.controllerSchedule ?? []).prefix(120) { rsp.add(Self.scheduleNode(entry, controllers: true)) }
            }
            return rsp
        case "7.15":
            guard let control = state.auxiliary else { return nil }
            var rsp = DataNode("ReadAuxiliaryControllerOperationalDataRsp")
            for index in auxiliaryIndices(context, control) {
                let level = auxiliaryLevel(index, context, state, at: context.time)
                let hcalcs = auxiliaryHCALCS(index, context, control)
                // Controller 1 as installed is the HC ALCS, or none; any other is one a command configured.
                let configured = auxiliaryConfigured(index, control)
                let type = hcalcs != nil ? "HCALCS" : (index == 1 && !configured ? "None" : "ALCS")
                rsp.add(DataNode("AuxiliaryControllerOperationalData", attributes: [("auxiliaryControllerN", String(index))], children: [
                    DataNode("TypeAndIdentifier", children: [DataNode("AuxiliaryControllerType", text: type)] + (hcalcs.map { [DataNode("HCALCSID", text: $0.description)] } ?? [])),
                    DataNode("AuxiliaryControllerStateAndAssociatedInformation", children: [
                        DataNode("OutputState", text: String(level.level)), DataNode("InputState", text: String(level.level)),
                        DataNode("StateAndAssociatedInformation", text: String(level.why.prefix(500))),
                    ]),
                ]))
            }
            return rsp
        default:
            return nil
        }
    }

    func billingCalendarAnswer(_ schedule: BillingSchedule, fuel: Fuel, _ time: Timestamp) -> DataNode {
        var rsp = DataNode("ReadDeviceConfigurationDataBillingCalendarRsp")
        rsp.add("BillingCalendar") { calendar in
            if fuel == .gas {
                calendar.add("GasBillingCalendar") { gas in
                    gas.add("BillingPeriodStart", (schedule.start ?? Timestamp(dayNumber: time.day.number, millisecond: Int64(schedule.secondOfDay) * 1000)).iso8601)
                    gas.add("Periodicity", schedule.periodicity.rawValue)
                }
            } else {
                calendar.add("ElectricityBillingCalendar") { electricity in
                    electricity.add("BillingTime", Self.clockTime(schedule.secondOfDay))
                    switch schedule.periodicity {
                    case .daily: electricity.addEmpty("Daily")
                    case .weekly: electricity.add("Weekly", schedule.weekday ?? 1)
                    case .monthly: electricity.add("Monthly", schedule.dayOfMonth ?? 1)
                    case .quarterly, .sixMonthly, .yearly:
                        electricity.add(schedule.periodicity.rawValue) {
                            $0.add("DayOfMonth", schedule.dayOfMonth ?? 1)
                            $0.add("BillingPeriodStartMonth", schedule.startMonth ?? 1)
                        }
                    }
                }
            }
        }
        return rsp
    }

    /// The switches and controllers the meter reports: 1 (as installed) and each one a
    /// command configured.
    func auxiliaryIndices(_ context: Context, _ control: AuxiliaryControl) -> [Int] {
        var indices: Set<Int> = [1]
        indices.formUnion(control.descriptions.keys)
        indices.formUnion(control.switchTypes.keys)
        indices.formUnion(control.overrides.keys)
        indices.formUnion(control.commanded.keys)
        indices.formUnion(control.apcLimits.keys)
        for entry in (control.switchSchedule ?? []) + (control.controllerSchedule ?? []) { indices.insert(entry.index) }
        return indices.filter { (1...5).contains($0) }.sorted()
    }

    /// Whether a command configured switch or controller `index`.
    func auxiliaryConfigured(_ index: Int, _ control: AuxiliaryControl) -> Bool {
        control.descriptions[index] != nil || control.switchTypes[index] != nil || control.overrides[index] != nil || control.commanded[index] != nil
            || control.apcLimits[index] != nil || (control.switchSchedule ?? []).contains { $0.index == index }
            || (control.controllerSchedule ?? []).contains { $0.index == index }
    }

    func auxiliaryHCALCS(_ index: Int, _ context: Context, _ control: AuxiliaryControl) -> EUI64? {
        if let type = control.switchTypes[index] { return type.hcalcs }
        return index == 1 ? context.model.device(.hcalcs)?.eui : nil
    }

    func auxiliaryDescription(_ index: Int, _ context: Context, _ control: AuxiliaryControl) -> String? {
        if let text = control.descriptions[index] { return text }
        if index == 1 { return context.model.device(.hcalcs) == nil ? "Not used" : "Storage heating" }
        return nil
    }

    /// 7.7: each switch's description, kind and state now, then 6.14.2's special days and
    /// calendar.
    func configuredAuxiliarySwitches(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadALCSDataRsp")
        let control = state.auxiliary ?? AuxiliaryControl()
        for index in auxiliaryIndices(context, control) {
            let hcalcs = auxiliaryHCALCS(index, context, control)
            var item = DataNode("AuxiliaryLoadControlSwitch", attributes: [("Index", String(index))])
            if let text = auxiliaryDescription(index, context, control) { item.add("Description", text) }
            item.add(DataNode("TypeAndIdentifier", children: [hcalcs.map { DataNode("HCALCS", text: $0.description) } ?? DataNode("ALCS")]))
            item.add("State", DeviceFormat.bool(auxiliaryLevel(index, context, state, at: context.time).level == 100))
            rsp.add(item)
        }
        if let schedule = control.switchSchedule {
            rsp.add("ALCSHCALCSSpecialDays") { days in
                for (index, date) in control.switchSpecialDays.sorted(by: { $0.key < $1.key }) {
                    days.add(DataNode("ALCSHCALCSSpecialDay", attributes: [("index", String(index))], children: Self.dateNodes(date)))
                }
            }
            for entry in schedule.prefix(48) { rsp.add(Self.scheduleNode(entry, controllers: false)) }
        }
        context.note = "\(rsp.all("AuxiliaryLoadControlSwitch").count) auxiliary load switches"
        return rsp
    }
}

// MARK: - DER for the device's own credentials

/// The little DER the device writes and reads for its own credentials (6.17's PKCS#10
/// request, 6.15.2's certificate), with GBCS's ASN.1 reader and writer.
enum CredentialDER {
    static func node(_ tag: UInt8, _ children: [ASN1Value]) -> ASN1Value { ASN1Value(tag: [tag], content: .constructed(children)) }
    static func primitive(_ tag: UInt8, _ octets: [UInt8]) -> ASN1Value { ASN1Value(tag: [tag], content: .primitive(octets)) }

    static func oid(_ arcs: [UInt64]) -> ASN1Value {
        var octets: [UInt8] = []
        let values = [arcs[0] * 40 + arcs[1]] + arcs.dropFirst(2)
        for value in values {
            var chunk: [UInt8] = [UInt8(value & 0x7F)]
            var rest = value >> 7
            while rest > 0 {
                chunk.insert(UInt8(rest & 0x7F) | 0x80, at: 0)
                rest >>= 7
            }
            octets += chunk
        }
        return primitive(0x06, octets)
    }

    static let ecPublicKey: [UInt64] = [1, 2, 840, 10045, 2, 1]
    static let prime256v1: [UInt64] = [1, 2, 840, 10045, 3, 1, 7]
    static let ecdsaWithSHA256: [UInt64] = [1, 2, 840, 10045, 4, 3, 2]
    static let extensionRequest: [UInt64] = [1, 2, 840, 113_549, 1, 9, 14]
    static let keyUsage: [UInt8] = [0x55, 0x1D, 0x0F]
    static let subjectAltName: [UInt8] = [0x55, 0x1D, 0x11]
    /// hardwareModuleName (RFC 4108) and the hardware type gbsm's device certificates carry.
    static let hardwareModuleName: [UInt64] = [1, 3, 6, 1, 5, 5, 7, 8, 4]
    static let hardwareType: [UInt64] = [1, 2, 826, 0, 1372, 1, 1, 2, 1]

    /// A PKCS#10 CertificationRequest (RFC 2986) as SMKI's device requests are: an empty
    /// subject, the P-256 key, and an extension request for a critical key usage and a
    /// critical subject alternative name naming the device (hwSerialNum); signed
    /// ECDSA-with-SHA256 by the key itself.
    static func certificationRequest(key: P256.Signing.PrivateKey, device: EUI64, digitalSignature: Bool) -> [UInt8]? {
        let usage = primitive(0x03, digitalSignature ? [0x07, 0x80] : [0x03, 0x08])
        let hardware = node(0x30, [oid(hardwareType), primitive(0x04, device.bytes)])
        let alternativeName = node(0x30, [node(0xA0, [oid(hardwareModuleName), node(0xA0, [hardware])])])
        let extensions = node(0x30, [
            node(0x30, [primitive(0x06, keyUsage), primitive(0x01, [0xFF]), primitive(0x04, usage.encoded())]),
            node(0x30, [primitive(0x06, subjectAltName), primitive(0x01, [0xFF]), primitive(0x04, alternativeName.encoded())]),
        ])
        let info = node(0x30, [
            primitive(0x02, [0x00]),
            node(0x30, []),
            node(0x30, [node(0x30, [oid(ecPublicKey), oid(prime256v1)]), primitive(0x03, [0x00] + Array(key.publicKey.x963Representation))]),
            node(0xA0, [node(0x30, [oid(extensionRequest), node(0x31, [extensions])])]),
        ])
        let signed = info.encoded()
        guard let signature = try? key.signature(for: signed) else { return nil }
        return node(0x30, [info, node(0x30, [oid(ecdsaWithSHA256)]), primitive(0x03, [0x00] + Array(signature.derRepresentation))]).encoded()
    }

    /// What the device checks of a certificate for itself: the device it names (the
    /// subject alternative name's hwSerialNum), its key usage (`DigitalSigning` or
    /// `KeyAgreement`, nil for none or both) and its public key (X9.63).
    static func deviceCertificate(_ der: [UInt8]) -> (device: EUI64?, usage: String?, publicKey: [UInt8])? {
        guard der.count <= 2048, let certificate = try? ASN1Value.decode(der), certificate.tag == [0x30], certificate.children.count == 3,
              certificate.encoded() == der
        else { return nil }
        let fields = certificate.children[0].children
        let offset = fields.first?.tag == [0xA0] ? 1 : 0
        guard certificate.children[0].tag == [0x30], fields.count > offset + 5 else { return nil }
        let keyInfo = fields[offset + 5]
        guard keyInfo.tag == [0x30], keyInfo.children.count == 2, keyInfo.children[1].tag == [0x03], let bits = keyInfo.children[1].octets,
              bits.count == 66, bits[0] == 0x00, bits[1] == 0x04
        else { return nil }
        var device: EUI64?
        var usage: String?
        let extensions = fields.first { $0.tag == [0xA3] }?.children.first?.children ?? []
        for item in extensions where item.tag == [0x30] {
            guard let identifier = item.children.first?.octets, let value = item.children.last?.octets, let inner = try? ASN1Value.decode(value) else { continue }
            if identifier == keyUsage, let flags = inner.octets, flags.count >= 2 {
                let signing = flags[1] & 0x80 != 0
                let agreement = flags[1] & 0x08 != 0
                usage = signing != agreement ? (signing ? "DigitalSigning" : "KeyAgreement") : nil
            } else if identifier == subjectAltName {
                device = eightOctets(inner, depth: 0).flatMap { EUI64(bytes: $0) }
            }
        }
        return (device, usage, Array(bits.dropFirst()))
    }

    /// The first OCTET STRING of eight octets inside `value` (the hwSerialNum).
    static func eightOctets(_ value: ASN1Value, depth: Int) -> [UInt8]? {
        if value.tag == [0x04], let octets = value.octets, octets.count == 8 { return octets }
        guard depth < 8 else { return nil }
        for child in value.children {
            if let found = eightOctets(child, depth: depth + 1) { return found }
        }
        return nil
    }
}
