import DUIS
import Foundation
import LoadModel
import MMC

// The tariff and prepayment family of critical commands at the meters: 1.1.1/1.1.2 (import
// tariff, primary and secondary element), 1.2.1/1.2.2 (prices), 1.5 (meter balance), 1.6
// (payment mode), 1.7 (block counters), 2.1 (prepayment configuration), 2.3 (debt) and 2.5
// (emergency credit), for the ESME and the GSME.
//
// What a command sets is kept in the premises' state with the time it took effect: the
// engine charges every half hour at the tariff then in force, so history before a change
// stays as it was and everything after it (costs, balances, registers, the billing data
// log) follows the new values. Money is in pence, as the emulator's reads report it;
// prices are millipence per kWh (10⁻⁵ GBP, GBCS's price scale −5).

// MARK: - What the commands set

/// A date as a DLMS or ZSE calendar names it, any part of it possibly unspecified (a
/// season that starts every year on 1 March, a special day every 25 December).
public struct TariffDate: Sendable, Hashable, Codable {
    /// 0: every year.
    public var year: Int
    /// 0: every month.
    public var month: Int
    /// 1...31; 0: every day; `lastDay` and `secondLastDay` of the month.
    public var day: Int
    /// 1 (Monday) ... 7 (Sunday); 0: any day of the week.
    public var weekday: Int

    public static let lastDay = 32
    public static let secondLastDay = 33
    /// 1 January, every year.
    public static let newYear = TariffDate(year: 0, month: 1, day: 1, weekday: 0)

    public init(year: Int, month: Int, day: Int, weekday: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.weekday = weekday
    }

    static func length(_ year: Int, _ month: Int) -> Int {
        let next = month == 12 ? UKCalendar.day(year: year + 1, month: 1, day: 1) : UKCalendar.day(year: year, month: month + 1, day: 1)
        return Int(next - UKCalendar.day(year: year, month: month, day: 1))
    }

    /// Whether a UTC day is this date (a special day).
    func matches(_ day: Int32) -> Bool {
        let (y, m, d) = UKCalendar.date(day)
        if year != 0 && year != y { return false }
        if month != 0 && month != m { return false }
        if weekday != 0 && weekday != UKCalendar.weekday(day) + 1 { return false }
        switch self.day {
        case 0: return true
        case Self.lastDay: return d == Self.length(y, m)
        case Self.secondLastDay: return d == Self.length(y, m) - 1
        default: return d == self.day
        }
    }

    /// The latest day on or before `day` that this date starts a season, or nil (a season
    /// of a year still to come). An unspecified day of the month is the first.
    func latestStart(onOrBefore day: Int32) -> Int32? {
        let (y, m, _) = UKCalendar.date(day)
        func start(_ year: Int, _ month: Int) -> Int32 {
            let length = Self.length(year, month)
            let dayOfMonth: Int
            switch self.day {
            case 0: dayOfMonth = 1
            case Self.lastDay: dayOfMonth = length
            case Self.secondLastDay: dayOfMonth = length - 1
            default: dayOfMonth = min(self.day, length)
            }
            return UKCalendar.day(year: year, month: month, day: dayOfMonth)
        }
        if year != 0 {
            let candidate = start(year, month == 0 ? 1 : month)
            return candidate <= day ? candidate : nil
        }
        if month != 0 {
            let candidate = start(y, month)
            return candidate <= day ? candidate : start(y - 1, month)
        }
        let candidate = start(y, m)
        return candidate <= day ? candidate : start(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1)
    }
}

/// From `minute` (after midnight UTC) a day profile switches to `action`: TOU rate 1...48,
/// or block tariff k as 100 + k (GBCS's script selectors 101...108; a gas meter's block
/// tariff is 101).
public struct TariffSwitch: Sendable, Hashable, Codable {
    public var minute: Int
    public var action: Int
}

public struct TariffDayProfile: Sendable, Hashable, Codable {
    public var id: Int
    /// In time order.
    public var switches: [TariffSwitch]
}

public struct TariffWeek: Sendable, Hashable, Codable {
    public var id: Int
    /// The day profile of Monday ... Sunday.
    public var days: [Int]
}

public struct TariffSeason: Sendable, Hashable, Codable {
    public var name: String
    public var start: TariffDate
    public var week: Int
}

public struct TariffSpecialDay: Sendable, Hashable, Codable {
    public var date: TariffDate
    public var dayProfile: Int
}

/// A tariff's switching table: which action is in force at each moment of each day.
public struct TariffCalendar: Sendable, Hashable, Codable {
    public var dayProfiles: [TariffDayProfile]
    public var weeks: [TariffWeek]
    public var seasons: [TariffSeason]
    public var specialDays: [TariffSpecialDay]

    /// All day, every day, one action.
    static func constant(_ action: Int, seasonName: String = "AllYear") -> TariffCalendar {
        TariffCalendar(dayProfiles: [TariffDayProfile(id: 1, switches: [TariffSwitch(minute: 0, action: action)])],
                       weeks: [TariffWeek(id: 1, days: Array(repeating: 1, count: 7))],
                       seasons: [TariffSeason(name: seasonName, start: .newYear, week: 1)], specialDays: [])
    }

    func profile(_ id: Int) -> TariffDayProfile? { dayProfiles.first { $0.id == id } ?? dayProfiles.first }

    /// The day profile of a UTC day: a special day's, else the one its season's week gives
    /// the day of the week. The season in force is the one that started last (DLMS's
    /// season profile); before any season has started, the first listed.
    func dayProfile(on day: Int32) -> TariffDayProfile? {
        if let special = specialDays.first(where: { $0.date.matches(day) }) { return profile(special.dayProfile) }
        var best: (start: Int32, week: Int)?
        for season in seasons {
            guard let start = season.start.latestStart(onOrBefore: day) else { continue }
            if best.map({ start >= $0.start }) ?? true { best = (start, season.week) }
        }
        guard let weekID = best?.week ?? seasons.first?.week, let week = weeks.first(where: { $0.id == weekID }) ?? weeks.first else {
            return dayProfiles.first
        }
        let weekday = UKCalendar.weekday(day)
        return weekday < week.days.count ? profile(week.days[weekday]) : dayProfiles.first
    }

    /// The action in force at the start of each half hour of a UTC day. Before the day's
    /// first switch the previous day's last action holds: the calendar switches, it does not
    /// restart at midnight.
    func actions(on day: Int32, fallback: Int) -> InlineArray<48, UInt8> {
        var result = InlineArray<48, UInt8>(repeating: UInt8(clamping: fallback))
        guard let today = dayProfile(on: day) else { return result }
        var current = dayProfile(on: day - 1)?.switches.last?.action ?? today.switches.first?.action ?? fallback
        var next = 0
        for slot in 0..<48 {
            while next < today.switches.count, today.switches[next].minute <= slot * 30 {
                current = today.switches[next].action
                next += 1
            }
            result[slot] = UInt8(clamping: current)
        }
        return result
    }

    /// The highest TOU rate the table switches to (at least 1).
    var touRates: Int {
        var rates = 1
        for profile in dayProfiles { for entry in profile.switches where entry.action <= 48 { rates = max(rates, entry.action) } }
        return rates
    }
}

/// Prices as the supplier wrote them, for the reads to give back: values with their
/// power-of-ten scales (GBP).
public struct ShownPrices: Sendable, Hashable, Codable {
    public var priceScale: Int
    public var standingCharge: Int
    public var standingChargeScale: Int
    /// TOU rate n's price at n − 1.
    public var tou: [Int]
    /// Block tariff k's block b at [k − 1][b − 1] (a gas meter has one block tariff).
    public var blocks: [[Int]]
    /// A gas block tariff's NumberOfThresholds.
    public var numberOfThresholds: Int?
}

/// A tariff element as a meter holds it: switching table, block thresholds, prices and
/// standing charge (an ESME's primary or secondary element, or a GSME's tariff).
public struct MeterTariff: Sendable, Hashable, Codable {
    public var currency: String
    public var calendar: TariffCalendar
    /// Block thresholds of each block tariff: an ESME's 8 × 3 (Wh, 4294967295 unused), a
    /// GSME's one list (litres).
    public var thresholds: [[Int64]]
    /// What the meter charges, millipence per kWh: TOU rate n at n − 1, block tariff k's
    /// block b at [k − 1][b − 1].
    public var touPrices: [Int]
    public var blockPrices: [[Int]]
    /// Millipence per day.
    public var standingCharge: Int
    public var shown: ShownPrices

    /// An ESME's tariff as the model installed it: its TOU switching every day of the year.
    init(_ tariff: ElectricityTariff) {
        var switches: [TariffSwitch] = []
        var previous = 0
        for (slot, rate) in tariff.switching.enumerated() where Int(rate) != previous {
            switches.append(TariffSwitch(minute: slot * 30, action: max(1, min(48, Int(rate)))))
            previous = Int(rate)
        }
        currency = "GBP"
        calendar = TariffCalendar(dayProfiles: [TariffDayProfile(id: 1, switches: switches)], weeks: [TariffWeek(id: 1, days: Array(repeating: 1, count: 7))],
                                  seasons: [TariffSeason(name: "AllYear", start: .newYear, week: 1)], specialDays: [])
        thresholds = []
        touPrices = tariff.prices
        blockPrices = []
        standingCharge = tariff.standingCharge
        let (prices, priceScale) = DeviceEmulator.scaled(tariff.prices)
        let (standing, standingScale) = DeviceEmulator.scaled([tariff.standingCharge])
        shown = ShownPrices(priceScale: priceScale - 5, standingCharge: standing.first ?? 0, standingChargeScale: standingScale - 5,
                            tou: prices, blocks: [], numberOfThresholds: nil)
    }

    /// A GSME's tariff as the model installed it: one block price, no thresholds.
    init(gas tariff: GasTariff) {
        currency = "GBP"
        calendar = .constant(101, seasonName: "")
        thresholds = []
        touPrices = []
        blockPrices = [[tariff.price]]
        standingCharge = tariff.standingCharge
        shown = ShownPrices(priceScale: -5, standingCharge: tariff.standingCharge, standingChargeScale: -5, tou: [], blocks: [[tariff.price]],
                            numberOfThresholds: nil)
    }

    init(currency: String, calendar: TariffCalendar) {
        self.currency = currency
        self.calendar = calendar
        thresholds = []
        touPrices = []
        blockPrices = []
        standingCharge = 0
        shown = ShownPrices(priceScale: -5, standingCharge: 0, standingChargeScale: -5, tou: [], blocks: [], numberOfThresholds: nil)
    }

    /// The gas thresholds in use: the first NumberOfThresholds of those set.
    var gasThresholds: [Int64] {
        let all = thresholds.first ?? []
        return Array(all.prefix(shown.numberOfThresholds ?? all.count))
    }

    /// The block (0...3) a block tariff's consumption `used` this billing period is in.
    static func block(_ used: Int64, thresholds: [Int64]) -> Int {
        var block = 0
        for threshold in thresholds where threshold < 4_294_967_295 && used >= threshold { block += 1 }
        return min(3, block)
    }

    /// The model's form of the tariff on a day (for what reads the model's tariff: the
    /// auxiliary load's cheap hours, the number of TOU registers).
    func approximation(on day: Int32, kind: ElectricityTariff.Kind) -> ElectricityTariff {
        let actions = calendar.actions(on: day, fallback: 1)
        var switching = [UInt8](repeating: 1, count: 48)
        for slot in 0..<48 where actions[slot] >= 1 && actions[slot] <= 48 { switching[slot] = actions[slot] }
        let prices = (0..<calendar.touRates).map { $0 < touPrices.count ? touPrices[$0] : 0 }
        return ElectricityTariff(kind: kind, switching: switching, prices: prices, blockThresholds: [], blockPrices: [], standingCharge: standingCharge)
    }
}

/// A time-based debt's recovery rate as the supplier set it (2.3).
public struct DebtRecovery: Sendable, Hashable, Codable {
    /// As written: the rate, its power-of-ten scale (GBP; a gas meter's rate has none and is
    /// in pence) and whether it is per hour or per day.
    public var rate: Int
    public var scale: Int
    public var hourly: Bool
    /// What the meter takes at midnight, pence.
    public var penceADay: Int64
}

/// An ESME's non-disablement calendar (2.1), as the supplier wrote it: the special days
/// and the START/STOP schedule of the times the supply is not disabled for lack of credit.
public struct NonDisablementCalendar: Sendable, Hashable, Codable {
    public struct Schedule: Sendable, Hashable, Codable {
        public var start: Bool
        public var specialDays: [Int]
        public var weekdays: [String]
        public var switchTime: String
        public var startDate: String
        public var endDate: String
    }

    public var specialDays: [TariffDate]
    public var schedules: [Schedule]
}

/// How a meter runs its account: payment mode, prepayment configuration and debt recovery.
public struct PrepaymentAccount: Sendable, Hashable, Codable {
    public var prepayment: Bool
    /// Thresholds and limits in pence; the suspend-debt flags and disablement threshold.
    public var configuration: PrepaymentConfiguration
    /// Share of each payment that recovers payment-based debt, hundredths of a percent.
    public var recoveryPerPayment: Int
    /// Time-based debts 1 and 2.
    public var debtRecovery: [DebtRecovery]
    public var nonDisablement: NonDisablementCalendar?

    init(model: PremisesModel, fuel: Fuel) {
        prepayment = model.prepayment
        configuration = model.prepaymentConfiguration
        recoveryPerPayment = model.prepaymentConfiguration.debtRecoveryPerPayment * 100
        let perDay = fuel == .electricity ? model.prepaymentConfiguration.debtRecoveryPerDay : 0
        debtRecovery = [DebtRecovery(rate: perDay, scale: -2, hourly: false, penceADay: Int64(perDay)),
                        DebtRecovery(rate: 0, scale: -2, hourly: false, penceADay: 0)]
        nonDisablement = nil
    }

    func penceADay(_ debt: Int) -> Int64 { debt < debtRecovery.count ? debtRecovery[debt].penceADay : 0 }
}

/// Everything the tariff and prepayment commands set on a premises' meters.
public struct MeterSettings: Sendable, Hashable, Codable {
    public var electricity: MeterTariff
    /// An ESME's secondary element (1.1.2), once set.
    public var secondary: MeterTariff?
    public var gas: MeterTariff?
    public var electricityAccount: PrepaymentAccount
    public var gasAccount: PrepaymentAccount

    /// As the model installed them.
    init(model: PremisesModel) {
        electricity = MeterTariff(model.electricityTariff)
        secondary = nil
        gas = model.gasTariff.map { MeterTariff(gas: $0) }
        electricityAccount = PrepaymentAccount(model: model, fuel: .electricity)
        gasAccount = PrepaymentAccount(model: model, fuel: .gas)
    }

    func account(_ fuel: Fuel) -> PrepaymentAccount { fuel == .electricity ? electricityAccount : gasAccount }
}

/// One change of settings, in force from `at`: the parts it changed, whole.
public struct MeterSettingsChange: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var srv: SRV
    public var fuel: Fuel
    public var electricity: MeterTariff?
    public var secondary: MeterTariff?
    public var gas: MeterTariff?
    /// The account of `fuel`.
    public var account: PrepaymentAccount?

    func apply(to settings: inout MeterSettings) {
        if let electricity { settings.electricity = electricity }
        if let secondary { settings.secondary = secondary }
        if let gas { settings.gas = gas }
        if let account {
            if fuel == .electricity { settings.electricityAccount = account } else { settings.gasAccount = account }
        }
    }

    /// A tariff, price or payment mode change: the meter takes a billing data log entry
    /// (4.4.2, "change of mode or tariff triggered").
    var takesBillingLog: Bool { srv.group == 1 }
}

/// Money a command moved on a meter, or its block counters reset, at a moment.
public struct MeterAdjustment: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// 1.5: the prepayment meter balance, added to or zeroed (an ESME's reset also zeroes
        /// its debts, GBCS ECS04b).
        case adjustBalance, resetBalance
        /// 1.5 to a GSME in credit mode: its credit-mode balance.
        case adjustCreditBalance, resetCreditBalance
        /// 2.3: added to the debt registers.
        case timeDebt1, timeDebt2, paymentDebt
        /// 1.7: the block counters start again (consumption is charged at the first block).
        case resetBlockCounters
    }

    public var at: Timestamp
    public var fuel: Fuel
    public var kind: Kind
    public var pence: Int64
}

/// A billing data log entry a change of tariff or payment mode took (4.4.2): the registers
/// and prepayment values as they stood.
public struct ChangeBillingEntry: Sendable, Hashable {
    public var at: Timestamp
    public var fuel: Fuel
    public var importWh: Int64
    public var tou: [Int64]
    public var blockRegisters: [Int64]
    public var periodImportWh: Int64
    public var gasLitres: Int64
    public var gasTOU: Int64
    public var periodGasLitres: Int64
    /// As the meter showed them, pence.
    public var meterBalance: Int64
    public var emergencyCredit: Int64
    public var timeDebt1: Int64
    public var timeDebt2: Int64
    public var paymentDebt: Int64
}

// MARK: - Settings in force

extension PremisesState {
    /// Whether any tariff or prepayment command has changed the meters' settings.
    var hasMeterSettingsChanges: Bool { !(meterSettingsChanges?.isEmpty ?? true) }

    /// The settings in force at `time`: as installed, then each change up to `time`.
    func meterSettings(_ model: PremisesModel, at time: Timestamp) -> MeterSettings {
        var settings = meterSettingsBaseline ?? MeterSettings(model: model)
        for change in meterSettingsChanges ?? [] where change.at <= time { change.apply(to: &settings) }
        return settings
    }
}

extension MeterCheckpoint {
    /// A meter's debt registers, pence: time-based 1 and 2, payment-based.
    public func debts(_ fuel: Fuel) -> (time1: Int64, time2: Int64, payment: Int64) {
        fuel == .electricity ? (timeDebt, timeDebt2, paymentDebt) : (gasTimeDebt, gasTimeDebt2, gasPaymentDebt)
    }

    /// A half hour's import into the register the tariff in force names: a TOU register (the
    /// matrix grows past the model's four when a tariff has more rates) or a block's.
    mutating func addImport(_ wh: Int64, _ charge: MeterDayPlan.Charge) {
        if charge.tou >= 0 {
            if charge.tou >= tou.count { tou.append(contentsOf: repeatElement(0, count: charge.tou + 1 - tou.count)) }
            tou[charge.tou] += wh
        } else if charge.block >= 0 {
            if blockCounters.count < 32 {
                blockCounters = Array(repeating: 0, count: 32)
                blockCountersPeriod = periodStart
            }
            if blockRegisters.count < 32 { blockRegisters = Array(repeating: 0, count: 32) }
            blockCounters[charge.block] += wh
            blockRegisters[charge.block] += wh
        }
    }

    mutating func apply(_ adjustment: MeterAdjustment) {
        let amount = adjustment.pence
        let gas = adjustment.fuel == .gas
        switch adjustment.kind {
        case .adjustBalance:
            if gas { gasBalance += amount * Self.micro } else { electricityBalance += amount * Self.micro }
        case .resetBalance:
            if gas {
                gasBalance = 0
            } else {
                electricityBalance = 0
                timeDebt = 0
                timeDebt2 = 0
                paymentDebt = 0
            }
        case .adjustCreditBalance:
            // The credit-mode balance is what the period's charges leave: a credit lowers them.
            if gas { periodGasCost -= amount * Self.micro } else { periodElectricityCost -= amount * Self.micro }
        case .resetCreditBalance:
            if gas { periodGasCost = 0 } else { periodElectricityCost = 0 }
        case .timeDebt1:
            if gas { gasTimeDebt = max(0, gasTimeDebt + amount) } else { timeDebt = max(0, timeDebt + amount) }
        case .timeDebt2:
            if gas { gasTimeDebt2 = max(0, gasTimeDebt2 + amount) } else { timeDebt2 = max(0, timeDebt2 + amount) }
        case .paymentDebt:
            if gas { gasPaymentDebt = max(0, gasPaymentDebt + amount) } else { paymentDebt = max(0, paymentDebt + amount) }
        case .resetBlockCounters:
            periodImportWh = 0
            for index in blockCounters.indices { blockCounters[index] = 0 }
        }
    }
}

extension Array where Element == Int64 {
    /// A register of a matrix, 0 for one the meter has not used (a register matrix grows
    /// when a tariff with more TOU rates comes into force).
    func register(_ index: Int) -> Int64 { index >= 0 && index < count ? self[index] : 0 }
}

// MARK: - The engine's view of a day

/// The tariffs and prepayment settings of a UTC day's half hours, as `MeterEngine` charges
/// them: the model's own, or those critical commands set, each half hour at the settings in
/// force when it ends (a change during a half hour applies to all of it; reads only ever
/// show completed half hours, so nothing shown before the change moves). Standing charges
/// and time-based debt recovery, taken at midnight, follow the settings in force then.
/// Without any change it holds the model's values and allocates nothing.
struct MeterDayPlan {
    /// The prices and thresholds of one set of settings.
    struct Part {
        var touPrices: [Int]
        var blockPrices: [[Int]]
        var thresholds: [[Int64]]
        var gasTOUPrices: [Int]
        var gasBlockPrices: [Int]
        var gasThresholds: [Int64]
        /// The model's one gas price (when `gasBlockPrices` is empty).
        var gasFlatPrice: Int

        init(model: PremisesModel) {
            touPrices = model.electricityTariff.prices
            blockPrices = []
            thresholds = []
            gasTOUPrices = []
            gasBlockPrices = []
            gasThresholds = []
            gasFlatPrice = model.gasTariff?.price ?? 0
        }

        init(_ settings: MeterSettings) {
            touPrices = settings.electricity.touPrices
            blockPrices = settings.electricity.blockPrices
            thresholds = settings.electricity.thresholds
            gasTOUPrices = settings.gas?.touPrices ?? []
            gasBlockPrices = settings.gas?.blockPrices.first ?? []
            gasThresholds = settings.gas?.gasThresholds ?? []
            gasFlatPrice = 0
        }
    }

    /// A meter's account as the half hours need it: payment mode, configuration and the
    /// basis points of each payment that recover payment-based debt (plain values).
    struct Account {
        var prepayment: Bool
        var configuration: PrepaymentConfiguration
        var recovery: Int64

        init(model: PremisesModel) {
            prepayment = model.prepayment
            configuration = model.prepaymentConfiguration
            recovery = Int64(model.prepaymentConfiguration.debtRecoveryPerPayment) * 100
        }

        init(_ account: PrepaymentAccount) {
            prepayment = account.prepayment
            configuration = account.configuration
            recovery = Int64(account.recoveryPerPayment)
        }
    }

    /// A half hour's electricity charge: the TOU register (index) or block (4k + b) its
    /// import goes to, −1 for the other, and the price, millipence per kWh.
    struct Charge {
        var tou: Int
        var block: Int
        var price: Int64
    }

    /// The settings in force at the day's start, and from each change during it.
    var first: Part
    var firstAccounts: (electricity: Account, gas: Account)
    var others: [Part] = []
    var otherAccounts: [(electricity: Account, gas: Account)] = []
    var partOf = InlineArray<48, UInt8>(repeating: 0)
    /// Each half hour's action: TOU rate 1...48, block tariff 101...108.
    var electricityActions = InlineArray<48, UInt8>(repeating: 1)
    var gasActions = InlineArray<48, UInt8>(repeating: 101)
    /// Taken at midnight: millipence per day (gas nil without a gas meter) and time-based
    /// debt recovery, pence per day (debts 1 and 2).
    var electricityStandingCharge: Int
    var gasStandingCharge: Int?
    var debtRecovery: (Int64, Int64)
    var gasDebtRecovery: (Int64, Int64) = (0, 0)
    /// Settings changes and money adjustments during the day (and whether there are any, a
    /// plain field the engine's half hours test).
    var changes: [MeterSettingsChange] = []
    var adjustments: [MeterAdjustment] = []
    var hasChanges = false
    var hasAdjustments = false
    /// No command has changed a setting: the half hours are the model's (the engine then
    /// charges them as it always has, without asking the plan).
    var byModel = false

    init(model: PremisesModel, state: PremisesState, day: Int32) {
        let dayStart = Timestamp(dayNumber: day)
        let dayEnd = Timestamp(dayNumber: day + 1)
        if let all = state.meterAdjustments, !all.isEmpty {
            adjustments = all.filter { $0.at >= dayStart && $0.at < dayEnd }
            hasAdjustments = !adjustments.isEmpty
        }
        guard let history = state.meterSettingsChanges, !history.isEmpty else {
            let tariff = model.electricityTariff
            first = Part(model: model)
            firstAccounts = (Account(model: model), Account(model: model))
            electricityStandingCharge = tariff.standingCharge
            gasStandingCharge = model.gasTariff?.standingCharge
            debtRecovery = (Int64(model.prepaymentConfiguration.debtRecoveryPerDay), 0)
            byModel = true
            return
        }
        var settings = state.meterSettings(model, at: dayStart)
        first = Part(settings)
        firstAccounts = (Account(settings.electricityAccount), Account(settings.gasAccount))
        electricityStandingCharge = settings.electricity.standingCharge
        gasStandingCharge = model.gasTariff == nil ? nil : settings.gas?.standingCharge
        debtRecovery = (settings.electricityAccount.penceADay(0), settings.electricityAccount.penceADay(1))
        gasDebtRecovery = (settings.gasAccount.penceADay(0), settings.gasAccount.penceADay(1))
        changes = history.filter { $0.at >= dayStart && $0.at < dayEnd }
        hasChanges = !changes.isEmpty
        var electricity = settings.electricity.calendar.actions(on: day, fallback: 1)
        var gas = settings.gas?.calendar.actions(on: day, fallback: 101) ?? InlineArray<48, UInt8>(repeating: 101)
        var next = changes.firstIndex { $0.at > dayStart } ?? changes.count
        for slot in 0..<48 {
            let slotEnd = dayStart.adding(milliseconds: Int64(slot + 1) * CalendarDay.millisecondsPerHalfHour)
            var changed = false
            while next < changes.count, changes[next].at < slotEnd {
                changes[next].apply(to: &settings)
                next += 1
                changed = true
            }
            if changed, others.count < 254 {
                others.append(Part(settings))
                otherAccounts.append((Account(settings.electricityAccount), Account(settings.gasAccount)))
                electricity = settings.electricity.calendar.actions(on: day, fallback: 1)
                gas = settings.gas?.calendar.actions(on: day, fallback: 101) ?? InlineArray<48, UInt8>(repeating: 101)
            }
            partOf[slot] = UInt8(others.count)
            electricityActions[slot] = electricity[slot]
            gasActions[slot] = gas[slot]
        }
    }

    /// A half hour's import, into the register the tariff in force names (a TOU register,
    /// the matrix growing past the model's four for a tariff with more rates, or a block's),
    /// and its price, millipence per kWh. A block tariff's counters count within a billing
    /// period: they start again with each (whatever started it).
    @inline(__always)
    func chargeImport(_ slot: Int, _ wh: Int64, _ checkpoint: inout MeterCheckpoint) -> Int64 {
        let action = Int(electricityActions[slot])
        let index = Int(partOf[slot])
        if action <= 48, index == 0 {
            // A TOU rate of the day's first settings (the model's own, most often).
            let rate = max(1, action)
            if rate <= checkpoint.tou.count { checkpoint.tou[rate - 1] += wh } else { checkpoint.addImport(wh, Charge(tou: rate - 1, block: -1, price: 0)) }
            let count = first.touPrices.count
            return Int64(rate <= count ? first.touPrices[rate - 1] : (count > 0 ? first.touPrices[count - 1] : 0))
        }
        if !checkpoint.blockCounters.isEmpty, checkpoint.blockCountersPeriod != checkpoint.periodStart {
            for counter in checkpoint.blockCounters.indices { checkpoint.blockCounters[counter] = 0 }
            checkpoint.blockCountersPeriod = checkpoint.periodStart
        }
        let charge = index == 0 ? Self.charge(action, first, checkpoint.blockCounters) : Self.charge(action, others[index - 1], checkpoint.blockCounters)
        checkpoint.addImport(wh, charge)
        return charge.price
    }

    @inline(__always)
    private static func charge(_ action: Int, _ part: borrowing Part, _ counters: borrowing [Int64]) -> Charge {
        if action <= 48 {
            let rate = max(1, action)
            let count = part.touPrices.count
            let price = rate <= count ? part.touPrices[rate - 1] : (count > 0 ? part.touPrices[count - 1] : 0)
            return Charge(tou: rate - 1, block: -1, price: Int64(price))
        }
        let tariff = min(7, max(0, action - 101))
        var used: Int64 = 0
        if counters.count >= (tariff + 1) * 4 { for block in 0..<4 { used += counters[tariff * 4 + block] } }
        let block = MeterTariff.block(used, thresholds: tariff < part.thresholds.count ? part.thresholds[tariff] : [])
        let price = tariff < part.blockPrices.count && block < part.blockPrices[tariff].count ? part.blockPrices[tariff][block] : 0
        return Charge(tou: -1, block: tariff * 4 + block, price: Int64(price))
    }

    /// Millipence per kWh of gas in a half hour; `periodLitres` is the billing period's gas
    /// before it (the block counter).
    @inline(__always)
    func gasPrice(_ slot: Int, periodLitres: Int64) -> Int64 {
        let action = Int(gasActions[slot])
        let index = Int(partOf[slot])
        if index == 0 { return Self.gasPrice(action, first, periodLitres) }
        return Self.gasPrice(action, others[index - 1], periodLitres)
    }

    @inline(__always)
    private static func gasPrice(_ action: Int, _ part: borrowing Part, _ periodLitres: Int64) -> Int64 {
        if action >= 1 && action <= 4 { return Int64(action <= part.gasTOUPrices.count ? part.gasTOUPrices[action - 1] : 0) }
        if part.gasBlockPrices.isEmpty { return Int64(part.gasFlatPrice) }
        let block = MeterTariff.block(periodLitres, thresholds: part.gasThresholds)
        return Int64(block < part.gasBlockPrices.count ? part.gasBlockPrices[block] : 0)
    }

    /// Both meters' accounts in a half hour.
    @inline(__always)
    func accounts(_ slot: Int) -> (electricity: Account, gas: Account) {
        let index = Int(partOf[slot])
        return index == 0 ? firstAccounts : otherAccounts[index - 1]
    }

    func recoveryPerPayment(_ fuel: Fuel, _ slot: Int) -> Int64 {
        let both = accounts(slot)
        return fuel == .electricity ? both.electricity.recovery : both.gas.recovery
    }

    /// Billing data log entries of the tariff and payment mode changes in [`from`, `until`)
    /// (milliseconds): the registers as they stand, balances as the meter showed them just
    /// before the change.
    @inline(__always)
    func captureBilling(_ checkpoint: inout MeterCheckpoint, from: Int64, until: Int64, model: PremisesModel, state: PremisesState) {
        guard !changes.isEmpty else { return }
        for change in changes where change.takesBillingLog && change.at.milliseconds >= from && change.at.milliseconds < until {
            let account = state.meterSettings(model, at: change.at.adding(milliseconds: -1)).account(change.fuel)
            let gas = change.fuel == .gas
            let micro = MeterCheckpoint.micro
            let balance = (gas ? checkpoint.gasBalance : checkpoint.electricityBalance) / micro
            let periodCost = (gas ? checkpoint.periodGasCost : checkpoint.periodElectricityCost) / micro
            let debts = checkpoint.debts(change.fuel)
            checkpoint.changeBilling.append(ChangeBillingEntry(
                at: change.at, fuel: change.fuel, importWh: checkpoint.importWh, tou: checkpoint.tou, blockRegisters: checkpoint.blockRegisters,
                periodImportWh: checkpoint.periodImportWh, gasLitres: checkpoint.gasLitres, gasTOU: checkpoint.gasTOU,
                periodGasLitres: checkpoint.periodGasLitres, meterBalance: account.prepayment ? max(0, balance) : -periodCost,
                emergencyCredit: account.prepayment ? max(0, Int64(account.configuration.emergencyCreditLimit) + min(0, balance)) : 0,
                timeDebt1: debts.time1, timeDebt2: debts.time2, paymentDebt: debts.payment))
            // A meter keeps 12 entries of each fuel's log.
            if checkpoint.changeBilling.count > 24 { checkpoint.changeBilling.removeFirst(checkpoint.changeBilling.count - 24) }
        }
    }

    /// The balance, debt and block counter adjustments in [`from`, `until`) (milliseconds).
    @inline(__always)
    func applyAdjustments(_ checkpoint: inout MeterCheckpoint, from: Int64, until: Int64) {
        guard !adjustments.isEmpty else { return }
        for adjustment in adjustments where adjustment.at.milliseconds >= from && adjustment.at.milliseconds < until {
            checkpoint.apply(adjustment)
        }
    }
}

// MARK: - The model as the meters now stand

extension DeviceEmulator {
    /// The premises' model with the tariff, payment mode and prepayment configuration that a
    /// device of `type` has in force at `time` (its fuel's account), for everything that reads
    /// them from the model (payment mode and configuration reads, prepayment values, a
    /// top-up's maximum credit, the auxiliary load's cheap hours). The engine gives the same
    /// answers whichever model it is handed: once a command changed a setting it reads the
    /// settings from the state, history included.
    public static func modelInForce(_ model: PremisesModel, _ state: PremisesState, at time: Timestamp, for type: DeviceType) -> PremisesModel {
        guard state.hasMeterSettingsChanges else { return model }
        let settings = state.meterSettings(model, at: time)
        let fuel: Fuel = type == .gsme || type == .gpf ? .gas : .electricity
        let account = settings.account(fuel)
        var result = model
        result.prepayment = account.prepayment
        var configuration = account.configuration
        configuration.debtRecoveryPerPayment = account.recoveryPerPayment / 100
        configuration.debtRecoveryPerDay = Int(clamping: account.penceADay(0))
        result.prepaymentConfiguration = configuration
        result.electricityTariff = settings.electricity.approximation(on: time.day.number, kind: model.electricityTariff.kind)
        if model.gasTariff != nil, let gas = settings.gas {
            let action = Int(gas.calendar.actions(on: time.day.number, fallback: 101)[min(47, time.timeOfDay.minutes / 30)])
            let price = action >= 1 && action <= 4 ? (action <= gas.touPrices.count ? gas.touPrices[action - 1] : 0) : (gas.blockPrices.first?.first ?? 0)
            result.gasTariff = GasTariff(price: price, blockThresholds: gas.gasThresholds.map { Int(clamping: $0) }, standingCharge: gas.standingCharge)
        }
        return result
    }
}

// MARK: - The commands

/// Why a meter refuses a command's values.
struct TariffRefusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension DeviceEmulator {
    /// The MMC element of each SRV's answer (all are empty: success or failure is the answer).
    static let tariffAndPrepaymentResponses: [SRV: String] = [
        "1.1.1": "UpdateImportTariffPrimaryElementRsp", "1.1.2": "UpdateImportTariffSecondaryElementRsp",
        "1.2.1": "UpdatePricePrimaryElementRsp", "1.2.2": "UpdatePriceSecondaryElementRsp",
        "1.5": "UpdateMeterBalanceRsp", "1.6": "UpdatePaymentModeRsp", "1.7": "ResetTariffBlockCounterMatrixRsp",
        "2.1": "UpdatePrepayConfigurationRsp", "2.3": "UpdateDebtRsp", "2.5": "ActivateEmergencyCreditRsp",
    ]

    /// How many settings changes a premises keeps; an older one folds into the settings as
    /// installed (its effect on days long past is then approximate).
    static let settingsHistory = 32
    /// How many money adjustments a premises keeps (as with top-ups, older ones drop).
    static let adjustmentHistory = 200

    /// The tariff and prepayment commands, once authenticated: nil for another SRV.
    func actOnTariffAndPrepayment(_ context: inout Context, _ state: inout PremisesState) -> DataNode? {
        let srv = context.command.srv
        guard let element = Self.tariffAndPrepaymentResponses[srv] else { return nil }
        let type = context.command.targetType
        guard type == .esme || (type == .gsme && context.model.hasGas) else {
            context.refuse("\(srv) is for an electricity or gas meter, not a \(type.rawValue)")
            return DataNode(element)
        }
        do throws(TariffRefusal) {
            switch srv {
            case "1.1.1": try updatePrimary(&context, &state, tariff: true)
            case "1.2.1": try updatePrimary(&context, &state, tariff: false)
            case "1.1.2": try updateSecondary(&context, &state, tariff: true)
            case "1.2.2": try updateSecondary(&context, &state, tariff: false)
            case "1.5": try updateMeterBalance(&context, &state)
            case "1.6": try updatePaymentMode(&context, &state)
            case "1.7": try resetBlockCounters(&context, &state)
            case "2.1": try updatePrepayConfiguration(&context, &state)
            case "2.3": try updateDebt(&context, &state)
            default: try activateEmergencyCredit(&context, &state)
            }
        } catch {
            context.refuse("\(srv) refused: \(error.reason)")
        }
        return DataNode(element)
    }

    /// Keeps a change, in time order, with the settings as installed the first time.
    func recordSettings(_ change: MeterSettingsChange, _ context: inout Context, _ state: inout PremisesState) {
        var baseline = state.meterSettingsBaseline ?? MeterSettings(model: context.model)
        var changes = state.meterSettingsChanges ?? []
        let index = (changes.lastIndex { $0.at <= change.at }).map { $0 + 1 } ?? 0
        changes.insert(change, at: index)
        while changes.count > Self.settingsHistory {
            changes[0].apply(to: &baseline)
            changes.removeFirst()
        }
        state.meterSettingsBaseline = baseline
        state.meterSettingsChanges = changes
        context.changed = true
    }

    func recordAdjustments(_ adjustments: [MeterAdjustment], _ context: inout Context, _ state: inout PremisesState) {
        guard !adjustments.isEmpty else { return }
        var all = state.meterAdjustments ?? []
        for adjustment in adjustments {
            let index = (all.lastIndex { $0.at <= adjustment.at }).map { $0 + 1 } ?? 0
            all.insert(adjustment, at: index)
        }
        if all.count > Self.adjustmentHistory { all.removeFirst(all.count - Self.adjustmentHistory) }
        state.meterAdjustments = all
        context.changed = true
    }

    // MARK: 1.1.1, 1.2.1

    /// The primary element: an ESME's or GSME's whole tariff (1.1.1: switching table, special
    /// days, block thresholds and prices) or its prices alone (1.2.1). Prices the request
    /// does not give are zero, as the meter's price table then holds.
    func updatePrimary(_ context: inout Context, _ state: inout PremisesState, tariff replacing: Bool) throws(TariffRefusal) {
        let body = context.body
        let settings = state.meterSettings(context.model, at: context.time)
        guard let prices = body.child("PriceElements") else { throw TariffRefusal("no PriceElements") }
        var change = MeterSettingsChange(at: context.time, srv: context.command.srv, fuel: context.fuel)
        if context.fuel == .electricity {
            guard let electricityPrices = prices.child("ElectricityPriceElements") else { throw TariffRefusal("an ESME takes ElectricityPriceElements") }
            var tariff = settings.electricity
            if replacing {
                guard let elements = body.child("ElecTariffElements") else { throw TariffRefusal("an ESME's tariff is ElecTariffElements") }
                tariff.currency = try TariffRequest.currency(elements)
                tariff.calendar = try TariffRequest.calendar(elements.child("SwitchingTable"), elements.child("SpecialDays"), .primary)
                tariff.thresholds = try TariffRequest.electricityThresholds(elements.child("ThresholdMatrix"))
            }
            try TariffRequest.setPrices(electricityPrices, &tariff)
            change.electricity = tariff
            context.note = "primary element \(replacing ? "tariff" : "prices") in force: " + TariffRequest.describe(tariff)
        } else {
            guard let gasPrices = prices.child("GasPriceElements") else { throw TariffRefusal("a GSME takes GasPriceElements") }
            var tariff = settings.gas ?? MeterTariff(currency: "GBP", calendar: .constant(101, seasonName: ""))
            if replacing {
                guard let elements = body.child("GasTariffElements") else { throw TariffRefusal("a GSME's tariff is GasTariffElements") }
                tariff.calendar = try TariffRequest.calendar(elements.child("SwitchingTable"), elements.child("SpecialDays"), .gas)
                tariff.thresholds = [try TariffRequest.gasThresholds(elements.child("ThresholdMatrix"))]
            }
            try TariffRequest.setGasPrices(gasPrices, &tariff)
            change.gas = tariff
            context.note = "gas \(replacing ? "tariff" : "prices") in force: " + TariffRequest.describe(tariff)
        }
        recordSettings(change, &context, &state)
    }

    // MARK: 1.1.2, 1.2.2

    /// An ESME's secondary element (the second measuring element of a twin-element meter):
    /// its TOU switching table, special days and four prices (1.1.2), or the prices (1.2.2).
    func updateSecondary(_ context: inout Context, _ state: inout PremisesState, tariff replacing: Bool) throws(TariffRefusal) {
        guard context.fuel == .electricity else { throw TariffRefusal("a gas meter has no secondary element") }
        let body = context.body
        let settings = state.meterSettings(context.model, at: context.time)
        var tariff = settings.secondary ?? MeterTariff(currency: settings.electricity.currency, calendar: .constant(1))
        if replacing { tariff.calendar = try TariffRequest.calendar(body.child("SwitchingTable"), body.child("SpecialDays"), .secondary) }
        guard let prices = body.child("PriceElements") else { throw TariffRefusal("no PriceElements") }
        let scale = try TariffRequest.number(prices, "PriceScale", -128...127)
        var values = [Int](repeating: 0, count: 4)
        var seen = Set<Int>()
        let elements = prices.children.filter { $0.name == "ElectricityPriceElement" }
        guard (1...4).contains(elements.count) else { throw TariffRefusal("\(elements.count) ElectricityPriceElement: a secondary element has 1 to 4 prices") }
        for element in elements {
            let index = try TariffRequest.index(element, 1...4)
            guard seen.insert(index).inserted else { throw TariffRefusal("ElectricityPriceElement \(index) twice") }
            values[index - 1] = try TariffRequest.ownNumber(element, -32768...32767)
        }
        tariff.shown = ShownPrices(priceScale: scale, standingCharge: 0, standingChargeScale: scale, tou: values, blocks: [], numberOfThresholds: nil)
        var converted: [Int] = []
        for value in values { converted.append(try TariffRequest.millipence(value, scale: scale)) }
        tariff.touPrices = converted
        var change = MeterSettingsChange(at: context.time, srv: context.command.srv, fuel: .electricity)
        change.secondary = tariff
        recordSettings(change, &context, &state)
        context.note = "secondary element \(replacing ? "tariff" : "prices") in force: TOU prices \(tariff.touPrices.map(String.init).joined(separator: "/")) millipence/kWh"
    }

    // MARK: 1.5

    /// Adds to or zeroes a meter balance: the prepayment balance (an ESME's reset also zeroes
    /// its debt registers), or a GSME's credit-mode balance.
    func updateMeterBalance(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        let body = context.body
        let prepayment = body.child("PrepaymentMode")
        let credit = body.child("CreditMode")
        guard let mode = prepayment ?? credit, (prepayment == nil) != (credit == nil) else { throw TariffRefusal("give one of PrepaymentMode or CreditMode") }
        guard prepayment != nil || context.fuel == .gas else { throw TariffRefusal("an ESME has one meter balance (PrepaymentMode)") }
        let kind: MeterAdjustment.Kind
        var amount: Int64 = 0
        if mode.child("ResetMeterBalance") != nil, mode.child("AdjustMeterBalance") == nil {
            kind = prepayment != nil ? .resetBalance : .resetCreditBalance
        } else {
            amount = Int64(try TariffRequest.number(mode, "AdjustMeterBalance", -2_147_483_648...2_147_483_647))
            kind = prepayment != nil ? .adjustBalance : .adjustCreditBalance
        }
        recordAdjustments([MeterAdjustment(at: context.time, fuel: context.fuel, kind: kind, pence: amount)], &context, &state)
        let balance = prepayment != nil ? "prepayment" : "credit-mode"
        context.note = kind == .adjustBalance || kind == .adjustCreditBalance
            ? "\(context.fuel.rawValue) \(balance) meter balance adjusted by \(amount)p" : "\(context.fuel.rawValue) \(balance) meter balance reset to zero"
    }

    // MARK: 1.6

    /// Credit or prepayment mode (prepayment with its suspend-debt flags and disablement
    /// threshold). The meter takes a billing data log entry.
    func updatePaymentMode(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        let body = context.body
        let credit = body.child("Credit")
        let prepayment = body.child("Prepayment")
        guard (credit == nil) != (prepayment == nil) else { throw TariffRefusal("give one of Credit or Prepayment") }
        var account = state.meterSettings(context.model, at: context.time).account(context.fuel)
        let was = account.prepayment
        account.prepayment = prepayment != nil
        if let prepayment {
            account.configuration.suspendDebtDisabled = try TariffRequest.boolean(prepayment, "SuspendDebtDisabled")
            account.configuration.suspendDebtEmergency = try TariffRequest.boolean(prepayment, "SuspendDebtEmergency")
            account.configuration.disablementThreshold = try TariffRequest.number(prepayment, "DisablementThreshold", -2_147_483_648...2_147_483_647)
        }
        var change = MeterSettingsChange(at: context.time, srv: "1.6", fuel: context.fuel)
        change.account = account
        recordSettings(change, &context, &state)
        context.note = "\(context.fuel.rawValue) payment mode \(was ? "Prepayment" : "Credit") → \(account.prepayment ? "Prepayment" : "Credit")"
    }

    // MARK: 1.7

    func resetBlockCounters(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        guard context.fuel == .electricity else { throw TariffRefusal("a GSME's block counters are reset by its billing calendar only (no use case)") }
        recordAdjustments([MeterAdjustment(at: context.time, fuel: .electricity, kind: .resetBlockCounters, pence: 0)], &context, &state)
        context.note = "tariff block counter matrix reset: consumption is charged from the first block again"
    }

    // MARK: 2.1

    /// The prepayment thresholds and limits, and an ESME's non-disablement calendar.
    func updatePrepayConfiguration(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        let body = context.body
        let gas = context.fuel == .gas
        guard let values = body.child(gas ? "UpdatePrepayConfigGas" : "UpdatePrepayConfigElectricity") else {
            throw TariffRefusal("an \(gas ? "GSME" : "ESME") takes \(gas ? "UpdatePrepayConfigGas" : "UpdatePrepayConfigElectricity")")
        }
        let signed: ClosedRange<Int64> = -2_147_483_648...2_147_483_647
        let amounts: ClosedRange<Int64> = gas ? 0...4_294_967_295 : signed
        var account = state.meterSettings(context.model, at: context.time).account(context.fuel)
        var configuration = account.configuration
        configuration.debtRecoveryRateCap = try TariffRequest.number(values, "DebtRecoveryRateCap", gas ? signed : 0...65_535)
        configuration.emergencyCreditLimit = try TariffRequest.number(values, "EmergencyCreditLimit", amounts)
        configuration.emergencyCreditThreshold = try TariffRequest.number(values, "EmergencyCreditThreshold", amounts)
        configuration.lowCreditThreshold = try TariffRequest.number(values, "LowCreditThreshold", amounts)
        configuration.maxMeterBalance = try TariffRequest.number(values, "MaxMeterBalance", amounts)
        configuration.maxCreditThreshold = try TariffRequest.number(values, "MaxCreditThreshold", amounts)
        account.configuration = configuration
        if !gas { account.nonDisablement = try TariffRequest.nonDisablement(values.child("ElectricityNonDisablementCalendar")) }
        var change = MeterSettingsChange(at: context.time, srv: "2.1", fuel: context.fuel)
        change.account = account
        recordSettings(change, &context, &state)
        context.note = "\(context.fuel.rawValue) prepayment configuration: low credit \(configuration.lowCreditThreshold)p, emergency credit "
            + "\(configuration.emergencyCreditLimit)p from \(configuration.emergencyCreditThreshold)p, maximum credit \(configuration.maxCreditThreshold)p, "
            + "maximum balance \(configuration.maxMeterBalance)p"
    }

    // MARK: 2.3

    /// Adds to the debt registers (time-based 1 and 2, payment-based) and sets how they are
    /// recovered: each time-based debt at its rate (taken at midnight; an hourly rate 24
    /// times), the payment-based debt as a share of each payment.
    func updateDebt(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        let body = context.body
        let signed: ClosedRange<Int64> = -2_147_483_648...2_147_483_647
        let time1 = Int64(try TariffRequest.number(body, "TimeDebtRegister1", signed))
        let time2 = Int64(try TariffRequest.number(body, "TimeDebtRegister2", signed))
        let payment = Int64(try TariffRequest.number(body, "PaymentDebtRegister", signed))
        let perPayment = try TariffRequest.number(body, "DebtRecoveryPerPayment", 0...10_000)
        let gas = context.fuel == .gas
        let prefix = gas ? "GasDebtRecovery" : "ElecDebtRecovery"
        var recoveries: [DebtRecovery] = []
        for debt in 1...2 {
            guard let node = body.child(prefix + String(debt)) else { throw TariffRefusal("an \(gas ? "GSME" : "ESME") takes \(prefix)1 and \(prefix)2") }
            recoveries.append(try TariffRequest.debtRecovery(node, gas: gas))
        }
        var account = state.meterSettings(context.model, at: context.time).account(context.fuel)
        account.recoveryPerPayment = perPayment
        account.debtRecovery = recoveries
        var change = MeterSettingsChange(at: context.time, srv: "2.3", fuel: context.fuel)
        change.account = account
        recordSettings(change, &context, &state)
        var adjustments: [MeterAdjustment] = []
        let debts: [(MeterAdjustment.Kind, Int64)] = [(.timeDebt1, time1), (.timeDebt2, time2), (.paymentDebt, payment)]
        for (kind, amount) in debts where amount != 0 {
            adjustments.append(MeterAdjustment(at: context.time, fuel: context.fuel, kind: kind, pence: amount))
        }
        recordAdjustments(adjustments, &context, &state)
        context.note = "\(context.fuel.rawValue) debts: time-based +\(time1)p and +\(time2)p (recovered \(recoveries[0].penceADay)p and "
            + "\(recoveries[1].penceADay)p a day), payment-based +\(payment)p (\(perPayment / 100).\(String(format: "%02d", perPayment % 100))% of each payment)"
    }

    // MARK: 2.5

    /// Emergency credit, activated remotely: GBCS has the meter answer success when
    /// emergency credit is then active (already, or available because the balance is below
    /// the emergency credit threshold), and failure otherwise. The emulator's balances carry
    /// emergency credit below zero; what activation leaves is the meter's event log entry.
    func activateEmergencyCredit(_ context: inout Context, _ state: inout PremisesState) throws(TariffRefusal) {
        let fuel = context.fuel
        let account = state.meterSettings(context.model, at: context.time).account(fuel)
        guard account.prepayment else { throw TariffRefusal("the \(fuel.rawValue) meter is in credit mode: it has no emergency credit") }
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        let balance = fuel == .electricity ? checkpoint.electricityBalancePence : checkpoint.gasBalancePence
        let threshold = Int64(account.configuration.emergencyCreditThreshold)
        guard balance < threshold else {
            throw TariffRefusal("emergency credit is not available: the balance \(balance)p is not below the emergency credit threshold \(threshold)p")
        }
        let inUse = balance < 0
        if !inUse {
            state.log(LogEntry(at: context.time, code: 0x81AB, meaning: "Emergency Credit Activated"), device: context.command.target)
            context.changed = true
        }
        context.note = inUse ? "emergency credit already in use (balance \(balance)p)" : "emergency credit activated (balance \(balance)p, "
            + "\(account.configuration.emergencyCreditLimit)p of emergency credit)"
    }

    // MARK: - Reads

    /// 4.11.1: the primary element in force, prices as the supplier wrote them, the active
    /// price being the one the meter charges now (the current TOU rate, or the block a block
    /// tariff's consumption this period has reached).
    func tariffPrimaryInForce(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadTariffPrimaryElementRsp")
        let settings = state.meterSettings(context.model, at: context.time)
        let slot = min(47, context.time.timeOfDay.minutes / 30)
        if context.fuel == .gas {
            guard let tariff = settings.gas else {
                rsp.add(DataNode("Gas"))
                context.note = "no gas tariff"
                return rsp
            }
            let action = Int(tariff.calendar.actions(on: context.today, fallback: 101)[slot])
            let active: Int
            if action >= 1 && action <= 4 {
                active = action <= tariff.shown.tou.count ? tariff.shown.tou[action - 1] : 0
            } else {
                let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
                let block = MeterTariff.block(checkpoint.periodGasLitres, thresholds: tariff.gasThresholds)
                let prices = tariff.shown.blocks.first ?? []
                active = block < prices.count ? prices[block] : 0
            }
            rsp.add("Gas") { gas in
                gas.add("PrimaryActiveTariffPrice", max(0, active))
                gas.add("PrimaryActiveTariffPriceScale", tariff.shown.priceScale)
                gas.add("CurrencyUnitsLabel", tariff.currency)
                gas.add("StandingCharge", max(0, tariff.shown.standingCharge))
                gas.add("TariffSwitchingTable") { table in
                    table.add("DayProfiles") { profiles in
                        for profile in tariff.calendar.dayProfiles {
                            profiles.add("DayProfile") { day in
                                day.add("DayName", profile.id)
                                let action = profile.switches.first?.action ?? 101
                                if action <= 4 { day.add("TOUTariffAction", action) } else { day.addEmpty("BlockTariff") }
                            }
                        }
                    }
                    table.add("WeekProfiles") { weeks in
                        for week in tariff.calendar.weeks {
                            weeks.add("WeekProfile") { node in
                                node.add("WeekName", week.id)
                                for (index, day) in week.days.enumerated() { node.add("ReferencedDay", String(day), attributes: [("index", String(index + 1))]) }
                            }
                        }
                    }
                    table.add("Seasons") { seasons in
                        for season in tariff.calendar.seasons {
                            seasons.add("Season") { node in
                                node.add(TariffRead.dateNode("SeasonStartDate", season.start, gas: true))
                                node.add("ReferencedWeekName", season.week)
                            }
                        }
                    }
                }
                if let special = TariffRead.specialDaysNode(tariff.calendar, gas: true) { gas.add(special) }
                let thresholds = tariff.thresholds.first ?? []
                if !thresholds.isEmpty {
                    gas.add("TariffThresholds") { node in
                        for (index, threshold) in thresholds.enumerated() {
                            node.add("BlockThreshold", DeviceFormat.cubicMetres(threshold), attributes: [("index", String(index + 1))])
                        }
                    }
                }
                if !tariff.shown.tou.isEmpty {
                    gas.add("TOUTariff") { node in
                        for (index, price) in tariff.shown.tou.enumerated() { node.add("TariffTOUPrice", String(max(0, price)), attributes: [("index", String(index + 1))]) }
                    }
                }
                if let blocks = tariff.shown.blocks.first, !blocks.isEmpty {
                    gas.add("BlockTariff") { node in
                        for (index, price) in blocks.enumerated() { node.add("BlockPrice", String(max(0, price)), attributes: [("index", String(index + 1))]) }
                    }
                }
            }
            context.note = "gas tariff: " + TariffRequest.describe(tariff)
            return rsp
        }
        let tariff = settings.electricity
        let action = Int(tariff.calendar.actions(on: context.today, fallback: 1)[slot])
        let active: Int
        if action <= 48 {
            let rate = max(1, action)
            active = rate <= tariff.shown.tou.count ? tariff.shown.tou[rate - 1] : (tariff.shown.tou.last ?? 0)
        } else {
            let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
            let blockTariff = min(7, action - 101)
            var used: Int64 = 0
            if checkpoint.blockCountersPeriod == checkpoint.periodStart {
                for block in 0..<4 { used += checkpoint.blockCounters.register(blockTariff * 4 + block) }
            }
            let block = MeterTariff.block(used, thresholds: blockTariff < tariff.thresholds.count ? tariff.thresholds[blockTariff] : [])
            let prices = blockTariff < tariff.shown.blocks.count ? tariff.shown.blocks[blockTariff] : []
            active = block < prices.count ? prices[block] : 0
        }
        rsp.add("Electricity") { electricity in
            electricity.add("PrimaryActiveTariffPrice", max(0, active))
            electricity.add("CurrencyUnitsLabel", tariff.currency)
            electricity.add("CurrencyUnitsName", tariff.currency == "ECB" ? "Millicent" : "Millipence")
            electricity.add("StandingCharge", tariff.shown.standingCharge)
            electricity.add("StandingChargeScale", tariff.shown.standingChargeScale)
            electricity.add("PriceScale", tariff.shown.priceScale)
            if !tariff.shown.blocks.isEmpty {
                electricity.add("TariffBlockPriceMatrix") { matrix in
                    for (row, prices) in tariff.shown.blocks.enumerated() {
                        matrix.add(DataNode("TariffBlockPrices", attributes: [("index", String(row + 1))], children: prices.enumerated().map {
                            DataNode("BlockPrice", text: String($0.element), attributes: [("index", String($0.offset + 1))])
                        }))
                    }
                }
            }
            electricity.add("TariffTOUPriceMatrix") { matrix in
                for (index, price) in tariff.shown.tou.enumerated() { matrix.add("TariffTOUPrice", String(price), attributes: [("index", String(index + 1))]) }
            }
            electricity.add(TariffRead.switchingTable(tariff.calendar))
            if let special = TariffRead.specialDaysNode(tariff.calendar, gas: false) { electricity.add(special) }
            if !tariff.thresholds.isEmpty {
                electricity.add("TariffThresholdMatrix") { matrix in
                    for (row, thresholds) in tariff.thresholds.enumerated() {
                        matrix.add(DataNode("ElecTariffThresholds", attributes: [("index", String(row + 1))], children: thresholds.enumerated().map {
                            DataNode("BlockThreshold", text: String($0.element), attributes: [("index", String($0.offset + 1))])
                        }))
                    }
                }
            }
        }
        context.note = "primary element: " + TariffRequest.describe(tariff)
        return rsp
    }

    /// 4.11.2: the secondary element in force (a single-element meter's reads as unset until
    /// 1.1.2 or 1.2.2 sets one).
    func tariffSecondary(_ context: inout Context, _ state: PremisesState) -> DataNode {
        guard context.fuel == .electricity, let tariff = state.meterSettings(context.model, at: context.time).secondary else { return tariffSecondary(&context) }
        var rsp = DataNode("ReadTariffSecondaryElementRsp")
        let action = Int(tariff.calendar.actions(on: context.today, fallback: 1)[min(47, context.time.timeOfDay.minutes / 30)])
        let active = action >= 1 && action <= tariff.shown.tou.count ? tariff.shown.tou[action - 1] : 0
        rsp.add("SecondaryActiveTariffPrice", max(0, active))
        rsp.add("PriceScale", tariff.shown.priceScale)
        rsp.add("TariffTOUPriceMatrix") { matrix in
            for (index, price) in tariff.shown.tou.enumerated() { matrix.add("TariffTOUPrice", String(price), attributes: [("index", String(index + 1))]) }
        }
        rsp.add(TariffRead.switchingTable(tariff.calendar))
        if let special = TariffRead.specialDaysNode(tariff.calendar, gas: false) { rsp.add(special) }
        context.note = "secondary element: TOU prices \(tariff.touPrices.map(String.init).joined(separator: "/")) millipence/kWh"
        return rsp
    }

    /// 4.13: the prepayment configuration in force (thresholds and limits in pence, the
    /// payment-based recovery in hundredths of a percent, each time-based debt's rate as set).
    func prepaymentConfiguration(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let gas = context.fuel == .gas
        let account = state.meterSettings(context.model, at: context.time).account(context.fuel)
        let config = account.configuration
        var rsp = DataNode("ReadPrepaymentConfigurationRsp")
        rsp.add("DebtRecoveryPerPayment", account.recoveryPerPayment)
        rsp.add("DebtRecoveryRateCap", config.debtRecoveryRateCap)
        rsp.add("DisablementThreshold", config.disablementThreshold)
        rsp.add("EmergencyCreditLimit", config.emergencyCreditLimit)
        rsp.add("EmergencyCreditThreshold", config.emergencyCreditThreshold)
        rsp.add("LowCreditThreshold", config.lowCreditThreshold)
        rsp.add("CreditMaxCreditThreshold", config.maxCreditThreshold)
        rsp.add("MaxCreditMaxMeterBalance", config.maxMeterBalance)
        rsp.add("SuspendDebtDisabled", DeviceFormat.bool(config.suspendDebtDisabled))
        rsp.add("SuspendDebtEmergency", DeviceFormat.bool(config.suspendDebtEmergency))
        func recovery(_ name: String, _ index: Int) -> DataNode {
            var node = DataNode(name)
            let recovery = index < account.debtRecovery.count ? account.debtRecovery[index] : DebtRecovery(rate: 0, scale: -2, hourly: false, penceADay: 0)
            node.add("DebtRecoveryRate", recovery.rate)
            if !gas { node.add("DebtRecoveryRatePriceScale", recovery.scale) }
            node.add("DebtRecoveryRatePeriod", recovery.hourly ? "HOURLY" : "DAILY")
            return node
        }
        if gas {
            rsp.add("Gas") { $0.add(recovery("DebtRecovery1", 0)); $0.add(recovery("DebtRecovery2", 1)) }
        } else {
            rsp.add("Electricity") { electricity in
                electricity.add("PaymentMode", account.prepayment ? "Prepayment" : "Credit")
                if let calendar = account.nonDisablement { electricity.add(TariffRead.nonDisablementNode(calendar)) }
                electricity.add(recovery("DebtRecovery1", 0))
                electricity.add(recovery("DebtRecovery2", 1))
            }
        }
        context.note = "\(account.prepayment ? "prepayment" : "credit") mode, low credit \(config.lowCreditThreshold)p, emergency credit \(config.emergencyCreditLimit)p"
        return rsp
    }

    /// 4.4.2: the billing data log entries the meter took when its tariff, prices or payment
    /// mode changed (at most 12), registers then prepayment values.
    func changeOfModeOrTariffLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveCoMOrTariffTriggeredBillingDataLogRsp")
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        let fuel = context.fuel
        let period = context.period
        let entries = Array(checkpoint.changeBilling.filter { entry in
            entry.fuel == fuel && (period.map { entry.at >= $0.start && entry.at <= $0.end } ?? true)
        }.suffix(12))
        var branch = DataNode(fuel == .gas ? "Gas" : "Electricity")
        for entry in entries {
            if fuel == .gas {
                branch.add("LogEntryConsumptionRegister") { item in
                    item.add("ConsumptionRegister", DeviceFormat.cubicMetres(entry.gasLitres))
                    item.add("Timestamp", entry.at.iso8601)
                    item.add("TariffTOURegisterMatrixValue", DeviceFormat.cubicMetres(entry.gasTOU), attributes: [("index", "1")])
                    item.add("BlockRegisterMatrixValue", DeviceFormat.cubicMetres(entry.periodGasLitres), attributes: [("index", "1")])
                }
            } else {
                branch.add("LogEntryConsumptionAndTariffRegistersData") { item in
                    item.add("ActiveImportRegisterConsumption", entry.importWh)
                    for (index, value) in entry.tou.prefix(48).enumerated() {
                        item.add("TariffTOURegisterMatrixValue", String(value), attributes: [("index", String(index + 1))])
                    }
                    if entry.blockRegisters.count >= 32 {
                        for block in 0..<4 {
                            for tariff in 0..<8 {
                                item.add("TariffTOUBlock\(block + 1)RegisterMatrixValue", String(entry.blockRegisters[tariff * 4 + block]),
                                         attributes: [("index", String(tariff + 1))])
                            }
                        }
                    } else {
                        item.add("TariffTOUBlock1RegisterMatrixValue", String(entry.periodImportWh), attributes: [("index", "1")])
                    }
                    item.add("Timestamp", entry.at.iso8601)
                }
            }
        }
        for entry in entries {
            branch.add("LogEntryPrepaymentData") { item in
                item.add("AccumulatedDebtRegister", entry.timeDebt1 + entry.timeDebt2 + entry.paymentDebt)
                item.add("EmergencyCreditBalance", entry.emergencyCredit)
                item.add("MeterBalance", entry.meterBalance)
                item.add("PaymentDebtRegister", entry.paymentDebt)
                item.add("TimeDebtRegisters1", entry.timeDebt1)
                item.add("TimeDebtRegisters2", entry.timeDebt2)
                item.add("Timestamp", entry.at.iso8601)
            }
        }
        rsp.add(branch)
        context.note = entries.isEmpty ? "no change of mode or tariff recorded" : "\(entries.count) change of mode or tariff billing data log entries"
        return rsp
    }
}

// MARK: - Reading the request

/// The checks and conversions of the family's request bodies: every value hostile, every
/// count bounded, nothing trusted that the schema would have refused.
enum TariffRequest {

    static func trimmed(_ text: String) -> String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// A value of the request, bounded for a message.
    static func quoted(_ text: String) -> String { "\"" + String(trimmed(text).prefix(24)) + "\"" }

    static func number(_ node: ElementTree, _ name: String, _ range: ClosedRange<Int64>) throws(TariffRefusal) -> Int {
        guard let child = node.child(name) else { throw TariffRefusal("\(node.name) has no \(name)") }
        guard child.children.isEmpty, let value = DUISFieldType.integer(trimmed(child.text)), range.contains(value) else {
            throw TariffRefusal("\(name) \(quoted(child.text)) is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(value)
    }

    static func ownNumber(_ node: ElementTree, _ range: ClosedRange<Int64>) throws(TariffRefusal) -> Int {
        guard node.children.isEmpty, let value = DUISFieldType.integer(trimmed(node.text)), range.contains(value) else {
            throw TariffRefusal("\(node.name) \(quoted(node.text)) is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(value)
    }

    static func index(_ node: ElementTree, _ range: ClosedRange<Int>) throws(TariffRefusal) -> Int {
        let text = node.attributes["index"] ?? ""
        guard let value = Int(trimmed(text)), range.contains(value) else {
            throw TariffRefusal("\(node.name) index \(quoted(text)) is not in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    static func boolean(_ node: ElementTree, _ name: String) throws(TariffRefusal) -> Bool {
        switch node.value(name).map(trimmed) {
        case "true", "1": return true
        case "false", "0": return false
        default: throw TariffRefusal("\(name) is not a boolean")
        }
    }

    static func currency(_ node: ElementTree) throws(TariffRefusal) -> String {
        let text = node.value("CurrencyUnits").map(trimmed) ?? ""
        guard text == "GBP" || text == "ECB" else { throw TariffRefusal("CurrencyUnits \(quoted(text)) is neither GBP nor ECB") }
        return text
    }

    /// Millipence (10⁻⁵ of the currency) of a value at a power-of-ten scale of the currency,
    /// to the nearest; at most £1000 (a kWh's price or a day's standing charge).
    static func millipence(_ value: Int, scale: Int) throws(TariffRefusal) -> Int {
        guard value != 0 else { return 0 }
        let exponent = scale + 5
        guard exponent >= -18 else { return 0 }
        guard exponent <= 8 else { throw TariffRefusal("\(value) at scale \(scale) is beyond any price a meter charges") }
        var power: Int64 = 1
        for _ in 0..<abs(exponent) { power *= 10 }
        let result: Int64
        if exponent >= 0 {
            result = Int64(value) * power
        } else {
            let magnitude = (Int64(value.magnitude) + power / 2) / power
            result = value < 0 ? -magnitude : magnitude
        }
        guard result.magnitude <= 100_000_000 else { throw TariffRefusal("\(value) at scale \(scale) is beyond any price a meter charges (£1000)") }
        return Int(result)
    }

    static func date(_ node: ElementTree?, gas: Bool) throws(TariffRefusal) -> TariffDate {
        let names = gas ? ["GasYearWithWildcards", "GasMonthWithWildcards", "GasDayOfMonthWithWildcards", "GasDayOfWeekWithWildcards"]
            : ["Year", "Month", "DayOfMonth", "DayOfWeek"]
        guard let node, let year = node.child(names[0]), let month = node.child(names[1]), let day = node.child(names[2]), let weekday = node.child(names[3]) else {
            throw TariffRefusal("a date needs \(names.joined(separator: ", "))")
        }
        var result = TariffDate(year: 0, month: 0, day: 0, weekday: 0)
        if year.child("NonSpecifiedYear") == nil { result.year = try number(year, "SpecifiedYear", 2014...9999) }
        if month.child("NonSpecifiedMonth") == nil { result.month = try number(month, "SpecifiedMonth", 1...12) }
        if day.child("LastDayOfMonth") != nil, !gas {
            result.day = TariffDate.lastDay
        } else if day.child("SecondLastDayOfMonth") != nil, !gas {
            result.day = TariffDate.secondLastDay
        } else if day.child(gas ? "GasNonSpecifiedDayOfMonth" : "NonSpecifiedDayOfMonth") == nil {
            result.day = try number(day, "SpecifiedDayOfMonth", 1...31)
        }
        if weekday.child("NonSpecifiedDayOfWeek") == nil { result.weekday = try number(weekday, "SpecifiedDayOfWeek", 1...7) }
        return result
    }

    enum CalendarKind { case primary, secondary, gas }

    /// A switching table and its special days, checked as a meter would: the counts GBCS
    /// allows, each day profile, week and season named once, every reference to one that
    /// exists.
    static func calendar(_ table: ElementTree?, _ special: ElementTree?, _ kind: CalendarKind) throws(TariffRefusal) -> TariffCalendar {
        guard let table else { throw TariffRefusal("no SwitchingTable") }
        let gas = kind == .gas
        let maxDays = gas ? 4 : 16, maxWeeks = gas ? 2 : 4, maxSeasons = gas ? 3 : 4, maxSpecial = gas ? 20 : 50
        let dayNodes = table.child("DayProfiles")?.children.filter { $0.name == "DayProfile" } ?? []
        guard (1...maxDays).contains(dayNodes.count) else { throw TariffRefusal("\(dayNodes.count) day profiles; the table holds 1 to \(maxDays)") }
        var profiles: [TariffDayProfile] = []
        for node in dayNodes {
            let id = try number(node, "DayName", 1...Int64(maxDays))
            guard !profiles.contains(where: { $0.id == id }) else { throw TariffRefusal("day profile \(id) twice") }
            var switches: [TariffSwitch] = []
            if gas {
                let action = try node.child("BlockTariff") != nil ? 101 : number(node, "TOUTariffAction", 1...4)
                switches = [TariffSwitch(minute: 0, action: action)]
            } else {
                let schedules = node.children.filter { $0.name == "ProfileSchedule" }
                guard (1...48).contains(schedules.count) else { throw TariffRefusal("day profile \(id) has \(schedules.count) switches; 1 to 48") }
                for schedule in schedules {
                    guard let text = schedule.value("StartTime"), let time = TimeOfDay(xsTime: trimmed(text)) else {
                        throw TariffRefusal("day profile \(id): a StartTime is not an xs:time")
                    }
                    let action: Int
                    if schedule.child("BlockTariffAction") != nil {
                        guard kind == .primary else { throw TariffRefusal("a secondary element switches TOU rates only") }
                        action = try 100 + number(schedule, "BlockTariffAction", 1...8)
                    } else {
                        action = try number(schedule, "TOUTariffAction", kind == .primary ? 1...48 : 1...4)
                    }
                    switches.append(TariffSwitch(minute: time.minutes, action: action))
                }
                switches.sort { $0.minute < $1.minute }
            }
            profiles.append(TariffDayProfile(id: id, switches: switches))
        }
        let weekNodes = table.child("WeekProfiles")?.children.filter { $0.name == "WeekProfile" } ?? []
        guard (1...maxWeeks).contains(weekNodes.count) else { throw TariffRefusal("\(weekNodes.count) week profiles; the table holds 1 to \(maxWeeks)") }
        var weeks: [TariffWeek] = []
        for node in weekNodes {
            let id = try number(node, "WeekName", 1...Int64(maxWeeks))
            guard !weeks.contains(where: { $0.id == id }) else { throw TariffRefusal("week profile \(id) twice") }
            var days = [Int](repeating: 0, count: 7)
            let references = node.children.filter { $0.name == "ReferencedDayName" }
            guard references.count == 7 else { throw TariffRefusal("week profile \(id) names \(references.count) days, not 7") }
            for reference in references {
                let weekday = try index(reference, 1...7)
                guard days[weekday - 1] == 0 else { throw TariffRefusal("week profile \(id) names day \(weekday) twice") }
                let profile = try ownNumber(reference, 1...Int64(maxDays))
                guard profiles.contains(where: { $0.id == profile }) else { throw TariffRefusal("week profile \(id) names day profile \(profile), which is not in the table") }
                days[weekday - 1] = profile
            }
            weeks.append(TariffWeek(id: id, days: days))
        }
        let seasonNodes = table.child("Seasons")?.children.filter { $0.name == "Season" } ?? []
        guard (1...maxSeasons).contains(seasonNodes.count) else { throw TariffRefusal("\(seasonNodes.count) seasons; the table holds 1 to \(maxSeasons)") }
        var seasons: [TariffSeason] = []
        for node in seasonNodes {
            let week = try number(node, "ReferencedWeekName", 1...Int64(maxWeeks))
            guard weeks.contains(where: { $0.id == week }) else { throw TariffRefusal("a season names week profile \(week), which is not in the table") }
            let name = gas ? "" : String(trimmed(node.value("SeasonName") ?? "").prefix(8))
            seasons.append(TariffSeason(name: name, start: try date(node.child("SeasonStartDate"), gas: gas), week: week))
        }
        let specialNodes = special?.children.filter { $0.name == "SpecialDay" } ?? []
        guard specialNodes.count <= maxSpecial else { throw TariffRefusal("\(specialNodes.count) special days; the table holds at most \(maxSpecial)") }
        var specialDays: [TariffSpecialDay] = []
        for node in specialNodes {
            let profile = try number(node, "ReferencedDayName", 1...Int64(maxDays))
            guard profiles.contains(where: { $0.id == profile }) else { throw TariffRefusal("a special day names day profile \(profile), which is not in the table") }
            specialDays.append(TariffSpecialDay(date: try date(node.child("Date"), gas: gas), dayProfile: profile))
        }
        return TariffCalendar(dayProfiles: profiles, weeks: weeks, seasons: seasons, specialDays: specialDays)
    }

    /// An ESME's threshold matrix: three thresholds (Wh) for each of the eight block tariffs,
    /// 4294967295 where unused.
    static func electricityThresholds(_ matrix: ElementTree?) throws(TariffRefusal) -> [[Int64]] {
        var result = [[Int64]](repeating: [4_294_967_295, 4_294_967_295, 4_294_967_295], count: 8)
        let rows = matrix?.children.filter { $0.name == "Thresholds" } ?? []
        guard rows.count <= 8 else { throw TariffRefusal("\(rows.count) rows of thresholds; an ESME has 8") }
        var seen = Set<Int>()
        for row in rows {
            let tariff = try index(row, 1...8)
            guard seen.insert(tariff).inserted else { throw TariffRefusal("thresholds of block tariff \(tariff) twice") }
            let values = row.children.filter { $0.name == "BlockThreshold" }
            guard values.count <= 3 else { throw TariffRefusal("block tariff \(tariff) has \(values.count) thresholds; at most 3") }
            for value in values {
                let position = try index(value, 1...3)
                result[tariff - 1][position - 1] = Int64(try ownNumber(value, 0...4_294_967_295))
            }
        }
        return result
    }

    /// A GSME's block thresholds (up to three, litres of gas in the billing period).
    static func gasThresholds(_ matrix: ElementTree?) throws(TariffRefusal) -> [Int64] {
        let values = matrix?.children.filter { $0.name == "BlockThreshold" } ?? []
        guard (1...3).contains(values.count) else { throw TariffRefusal("\(values.count) gas block thresholds; 1 to 3") }
        var result = [Int64?](repeating: nil, count: 3)
        for value in values {
            let position = try index(value, 1...3)
            guard result[position - 1] == nil else { throw TariffRefusal("gas block threshold \(position) twice") }
            result[position - 1] = Int64(try ownNumber(value, 0...281_474_976_710_655))
        }
        return result.compactMap { $0 }
    }

    /// An ESME's prices: the standing charge and the TOU and block price tables, each at
    /// its scale.
    static func setPrices(_ prices: ElementTree, _ tariff: inout MeterTariff) throws(TariffRefusal) {
        let priceScale = try number(prices, "PriceScale", -128...127)
        let standingScale = try number(prices, "StandingChargeScale", -128...127)
        let standing = try number(prices, "StandingCharge", -32768...32767)
        var tou = [Int](repeating: 0, count: 48)
        var blocks = [[Int]](repeating: [0, 0, 0, 0], count: 8)
        guard let table = prices.child("BlockTariff") ?? prices.child("TOUTariff") ?? prices.child("HybridTariff") else {
            throw TariffRefusal("ElectricityPriceElements has none of BlockTariff, TOUTariff or HybridTariff")
        }
        let blockRows = table.children.filter { $0.name == "BlockPrices" }
        let touPrices = table.children.filter { $0.name == "TOUPrice" }
        guard blockRows.count <= 8, touPrices.count <= 48, !(blockRows.isEmpty && touPrices.isEmpty) else {
            throw TariffRefusal("\(blockRows.count) block price rows and \(touPrices.count) TOU prices: 1 to 8 rows, 1 to 48 prices")
        }
        var seenRows = Set<Int>()
        for row in blockRows {
            let tariffIndex = try index(row, 1...8)
            guard seenRows.insert(tariffIndex).inserted else { throw TariffRefusal("block prices of block tariff \(tariffIndex) twice") }
            let values = row.children.filter { $0.name == "BlockPrice" }
            guard (1...4).contains(values.count) else { throw TariffRefusal("block tariff \(tariffIndex) has \(values.count) prices; 1 to 4") }
            for value in values {
                let block = try index(value, 1...4)
                blocks[tariffIndex - 1][block - 1] = try ownNumber(value, -32768...32767)
            }
        }
        var seenRates = Set<Int>()
        for price in touPrices {
            let rate = try index(price, 1...48)
            guard seenRates.insert(rate).inserted else { throw TariffRefusal("TOU price \(rate) twice") }
            tou[rate - 1] = try ownNumber(price, -32768...32767)
        }
        tariff.shown = ShownPrices(priceScale: priceScale, standingCharge: standing, standingChargeScale: standingScale, tou: tou, blocks: blocks, numberOfThresholds: nil)
        var touMillipence: [Int] = []
        for value in tou { touMillipence.append(try millipence(value, scale: priceScale)) }
        var blockMillipence: [[Int]] = []
        for row in blocks {
            var converted: [Int] = []
            for value in row { converted.append(try millipence(value, scale: priceScale)) }
            blockMillipence.append(converted)
        }
        tariff.touPrices = touMillipence
        tariff.blockPrices = blockMillipence
        tariff.standingCharge = try millipence(standing, scale: standingScale)
    }

    /// A GSME's prices: standing charge and block or TOU prices (millipence, GBCS's gas
    /// price scale −5).
    static func setGasPrices(_ prices: ElementTree, _ tariff: inout MeterTariff) throws(TariffRefusal) {
        tariff.currency = try currency(prices)
        let limit: ClosedRange<Int64> = 0...100_000_000
        let standing = try number(prices, "StandingCharge", limit)
        var tou = [0, 0, 0, 0]
        var blocks = [0, 0, 0, 0]
        var numberOfThresholds: Int?
        if let block = prices.child("BlockTariff") {
            let values = block.children.filter { $0.name == "BlockPrice" }
            guard (1...4).contains(values.count) else { throw TariffRefusal("\(values.count) gas block prices; 1 to 4") }
            for value in values {
                let position = try index(value, 1...4)
                blocks[position - 1] = try ownNumber(value, limit)
            }
            numberOfThresholds = try number(block, "NumberOfThresholds", 1...3)
        } else if let touTable = prices.child("TOUTariff") {
            let values = touTable.children.filter { $0.name == "TOUPrice" }
            guard (1...4).contains(values.count) else { throw TariffRefusal("\(values.count) gas TOU prices; 1 to 4") }
            for value in values {
                let position = try index(value, 1...4)
                tou[position - 1] = try ownNumber(value, limit)
            }
        } else {
            throw TariffRefusal("GasPriceElements has neither BlockTariff nor TOUTariff")
        }
        tariff.shown = ShownPrices(priceScale: -5, standingCharge: standing, standingChargeScale: -5, tou: tou, blocks: [blocks],
                                   numberOfThresholds: numberOfThresholds)
        tariff.touPrices = tou
        tariff.blockPrices = [blocks]
        tariff.standingCharge = standing
    }

    static func debtRecovery(_ node: ElementTree, gas: Bool) throws(TariffRefusal) -> DebtRecovery {
        let rate = try number(node, "DebtRecoveryRate", gas ? 0...2_147_483_647 : 0...32_767)
        let scale = try gas ? -2 : number(node, "DebtRecoveryRatePriceScale", -128...127)
        let hourly: Bool
        switch node.value("DebtRecoveryRatePeriod").map(trimmed) {
        case "HOURLY": hourly = true
        case "DAILY": hourly = false
        default: throw TariffRefusal("DebtRecoveryRatePeriod is neither HOURLY nor DAILY")
        }
        // Pence: the rate at its scale of the currency (10² pence), per period.
        let pence = try millipence(rate, scale: scale - 3)
        let perDay = Int64(pence) * (hourly ? 24 : 1)
        return DebtRecovery(rate: rate, scale: scale, hourly: hourly, penceADay: perDay)
    }

    static func nonDisablement(_ node: ElementTree?) throws(TariffRefusal) -> NonDisablementCalendar {
        guard let node else { throw TariffRefusal("no ElectricityNonDisablementCalendar") }
        let dayNodes = node.child("ElectricitySpecialDays")?.children.filter { $0.name == "SpecialDay" } ?? []
        guard dayNodes.count <= 20 else { throw TariffRefusal("\(dayNodes.count) non-disablement special days; at most 20") }
        var days = [TariffDate?](repeating: nil, count: dayNodes.count)
        for day in dayNodes {
            let position = try index(day, 1...dayNodes.count)
            guard days[position - 1] == nil else { throw TariffRefusal("special day \(position) twice") }
            days[position - 1] = try date(day.child("Date"), gas: false)
        }
        let scheduleNodes = node.children.filter { $0.name == "ElectricityNonDisablementSchedule" }
        guard (1...22).contains(scheduleNodes.count) else { throw TariffRefusal("\(scheduleNodes.count) non-disablement schedule entries; 1 to 22") }
        let weekdayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        var schedules: [NonDisablementCalendar.Schedule] = []
        for schedule in scheduleNodes {
            let script = schedule.value("NonDisablementScript").map(trimmed)
            guard script == "START" || script == "STOP" else { throw TariffRefusal("NonDisablementScript is neither START nor STOP") }
            var special: [Int] = []
            for entry in (schedule.child("SpecialDaysApplicability")?.children ?? []).prefix(21) {
                let id = try number(entry, "SpecialDayID", 1...20)
                guard id <= dayNodes.count else { throw TariffRefusal("SpecialDayID \(id) names no special day") }
                special.append(id)
            }
            var weekdays: [String] = []
            for entry in (schedule.child("DaysOfWeekApplicability")?.children ?? []).prefix(8) {
                let name = entry.value("DayOfWeekID").map(trimmed) ?? ""
                guard weekdayNames.contains(name) else { throw TariffRefusal("DayOfWeekID \(quoted(name)) is not a day of the week") }
                weekdays.append(name)
            }
            guard let times = schedule.child("ScheduleDatesAndTime"), let switchTime = times.value("SwitchTime").map(trimmed),
                  TimeOfDay(xsTime: switchTime) != nil,
                  let start = times.value("StartDate").map(trimmed), let end = times.value("EndDate").map(trimmed),
                  isDate(start), isDate(end) else {
                throw TariffRefusal("a schedule entry's ScheduleDatesAndTime needs an xs:time SwitchTime and xs:date StartDate and EndDate")
            }
            schedules.append(.init(start: script == "START", specialDays: special, weekdays: weekdays, switchTime: switchTime, startDate: start, endDate: end))
        }
        return NonDisablementCalendar(specialDays: days.compactMap { $0 }, schedules: schedules)
    }

    /// An xs:date GBCS can carry (a year of 4 or 5 digits, 65535 for every year; UTC).
    static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 10, bytes.count <= 16, let dash = bytes.firstIndex(of: UInt8(ascii: "-")), dash == 4 || dash == 5, bytes.count >= dash + 6 else { return false }
        let digits: (Int, Int) -> Bool = { from, to in bytes[from..<to].allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard digits(0, dash), bytes[dash + 3] == UInt8(ascii: "-"), digits(dash + 1, dash + 3), digits(dash + 4, dash + 6) else { return false }
        let zone = String(decoding: bytes[(dash + 6)...], as: UTF8.self)
        return zone.isEmpty || zone == "Z" || zone == "+00:00" || zone == "-00:00"
    }

    static func describe(_ tariff: MeterTariff) -> String {
        let rates = tariff.calendar.touRates
        let tou = tariff.touPrices.prefix(rates).map(String.init).joined(separator: "/")
        let blocks = tariff.blockPrices.first.map { $0.map(String.init).joined(separator: "/") } ?? ""
        return "TOU \(tou), block tariff 1 \(blocks.isEmpty ? "none" : blocks) millipence/kWh, standing charge \(tariff.standingCharge) millipence a day"
    }
}

// MARK: - Writing the reads

enum TariffRead {
    /// A date as the MMC writes it (electricity `ra:Date`, or the gas date with wildcards).
    static func dateNode(_ name: String, _ date: TariffDate, gas: Bool) -> DataNode {
        var node = DataNode(name)
        node.add(gas ? "GasYearWithWildcards" : "Year") { year in
            if date.year == 0 { year.addEmpty("NonSpecifiedYear") } else { year.add("SpecifiedYear", date.year) }
        }
        node.add(gas ? "GasMonthWithWildcards" : "Month") { month in
            if date.month == 0 { month.addEmpty("NonSpecifiedMonth") } else { month.add("SpecifiedMonth", date.month) }
        }
        node.add(gas ? "GasDayOfMonthWithWildcards" : "DayOfMonth") { day in
            switch date.day {
            case TariffDate.lastDay where !gas: day.addEmpty("LastDayOfMonth")
            case TariffDate.secondLastDay where !gas: day.addEmpty("SecondLastDayOfMonth")
            case 1...31: day.add("SpecifiedDayOfMonth", date.day)
            default: day.addEmpty(gas ? "GasNonSpecifiedDayOfMonth" : "NonSpecifiedDayOfMonth")
            }
        }
        node.add(gas ? "GasDayOfWeekWithWildcards" : "DayOfWeek") { weekday in
            if date.weekday == 0 { weekday.addEmpty("NonSpecifiedDayOfWeek") } else { weekday.add("SpecifiedDayOfWeek", date.weekday) }
        }
        return node
    }

    /// An electricity switching table (primary or secondary element).
    static func switchingTable(_ calendar: TariffCalendar) -> DataNode {
        var table = DataNode("TariffSwitchingTable")
        table.add("DayProfiles") { profiles in
            for profile in calendar.dayProfiles {
                profiles.add("DayProfile") { day in
                    day.add("Day", profile.id)
                    for entry in profile.switches {
                        day.add("ProfileSchedule") { schedule in
                            schedule.add("StartTime", DeviceFormat.time(minutes: entry.minute))
                            if entry.action > 100 { schedule.add("BlockTariffAction", entry.action - 100) } else { schedule.add("TOUTariffAction", entry.action) }
                        }
                    }
                }
            }
        }
        table.add("WeekProfiles") { weeks in
            for week in calendar.weeks {
                weeks.add("WeekProfile") { node in
                    node.add("WeekName", week.id)
                    for (index, day) in week.days.enumerated() { node.add("ReferencedElecDay", String(day), attributes: [("index", String(index + 1))]) }
                }
            }
        }
        table.add("Seasons") { seasons in
            for season in calendar.seasons {
                seasons.add("Season") { node in
                    node.add("SeasonName", season.name)
                    node.add(dateNode("SeasonStartDate", season.start, gas: false))
                    node.add("ReferencedWeekName", season.week)
                }
            }
        }
        return table
    }

    static func specialDaysNode(_ calendar: TariffCalendar, gas: Bool) -> DataNode? {
        guard !calendar.specialDays.isEmpty else { return nil }
        var node = DataNode("TariffSwitchingTableSpecialDays")
        for special in calendar.specialDays {
            node.add("SpecialDay") { day in
                day.add(dateNode("Date", special.date, gas: gas))
                day.add("ReferencedDay", special.dayProfile)
            }
        }
        return node
    }

    static func nonDisablementNode(_ calendar: NonDisablementCalendar) -> DataNode {
        var node = DataNode("NonDisablementCalendar")
        node.add("ElectricitySpecialDays") { days in
            for (index, date) in calendar.specialDays.enumerated() {
                var day = dateNode("SpecialDay", date, gas: false)
                day.attributes = [DataNode.Attribute(name: "index", value: String(index + 1))]
                days.add(day)
            }
        }
        for schedule in calendar.schedules {
            node.add("ElectricityNonDisablementSchedule") { entry in
                entry.add("NonDisablementScript", schedule.start ? "START" : "STOP")
                entry.add("SpecialDaysApplicability") { days in
                    for id in schedule.specialDays { days.add("SpecialDayApplicability") { $0.add("SpecialDayID", id) } }
                }
                entry.add("DaysOfWeekApplicability") { days in
                    for name in schedule.weekdays { days.add("DayOfWeekApplicability") { $0.add("DayOfWeekID", name) } }
                }
                entry.add("ScheduleDatesAndTime") { times in
                    times.add("SwitchTime", schedule.switchTime)
                    times.add("StartDate", schedule.startDate)
                    times.add("EndDate", schedule.endDate)
                }
            }
        }
        return node
    }
}
