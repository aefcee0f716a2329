import DUIS
import LoadModel
import Synchronization

/// One UTC day at the meters, as they record it: half-hourly import, export and reactive
/// energy (Wh, varh), gas (litres) and average RMS voltage (tenths of a volt). Values are
/// integers per half hour, so sums of half hours, daily totals and register differences
/// agree exactly.
public struct DayReadings: Sendable {
    public var day: Int32
    public var importWh = InlineArray<48, Int32>(repeating: 0)
    public var exportWh = InlineArray<48, Int32>(repeating: 0)
    public var reactiveImport = InlineArray<48, Int32>(repeating: 0)
    public var reactiveExport = InlineArray<48, Int32>(repeating: 0)
    public var gasLitres = InlineArray<48, Int32>(repeating: 0)
    public var voltageDeci = InlineArray<48, Int16>(repeating: 0)

    public var importTotal: Int64 { var sum: Int64 = 0; for slot in 0..<48 { sum += Int64(importWh[slot]) }; return sum }
    public var exportTotal: Int64 { var sum: Int64 = 0; for slot in 0..<48 { sum += Int64(exportWh[slot]) }; return sum }
    public var gasTotal: Int64 { var sum: Int64 = 0; for slot in 0..<48 { sum += Int64(gasLitres[slot]) }; return sum }

    public static func slotStart(day: Int32, slot: Int) -> Timestamp {
        Timestamp(dayNumber: day, slot: slot)
    }
}

/// A monetary event on a prepayment meter.
public struct CreditEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case consumerTopUp, utrnTopUp, emergencyTopUp, debtRecovered, lowCredit }
    public var at: Timestamp
    public var fuel: Fuel
    public var kind: Kind
    public var pence: Int64
}

/// A billing data log entry: registers and prepayment values at a billing date.
public struct BillingSnapshot: Sendable, Hashable {
    public var at: Timestamp
    public var importWh: Int64
    public var tou: [Int64]
    public var blocks: [Int64]
    public var gasLitres: Int64
    public var electricityBalance: Int64
    public var gasBalance: Int64
    public var timeDebt: Int64
    public var paymentDebt: Int64
    /// The second time-based debt (2.3, TariffAndPrepayment).
    public var timeDebt2: Int64 = 0
    /// The fuel billed, when a billing calendar (6.8) bills one fuel alone; nil for both.
    public var fuel: Fuel? = nil
}

/// What the meters' registers and balances hold at the start of a UTC day. Money is kept
/// in micro-pence (Wh × millipence per kWh) so that sums stay exact.
public struct MeterCheckpoint: Sendable, Hashable {
    public var day: Int32
    public var importWh: Int64 = 0
    public var exportWh: Int64 = 0
    public var reactiveImport: Int64 = 0
    public var reactiveExport: Int64 = 0
    public var gasLitres: Int64 = 0
    public var tou: [Int64] = [0, 0, 0, 0]
    public var gasTOU: Int64 = 0
    /// Billing period (calendar month, or the electricity billing calendar's) to date.
    public var periodStart: Int32 = 0
    /// The day the gas billing period started (the gas billing calendar's, 6.8).
    public var gasPeriodStart: Int32 = 0
    public var periodImportWh: Int64 = 0
    public var periodGasLitres: Int64 = 0
    public var periodElectricityCost: Int64 = 0
    public var periodGasCost: Int64 = 0
    /// Cost since modelling started, micro-pence.
    public var electricityCost: Int64 = 0
    public var gasCost: Int64 = 0
    /// Prepayment balances, micro-pence.
    public var electricityBalance: Int64 = 0
    public var gasBalance: Int64 = 0
    public var timeDebt: Int64 = 0
    public var paymentDebt: Int64 = 0
    public var emergencyCreditInUse = false
    public var maxImportW: Int64 = 0
    public var maxImportAt: Timestamp?
    public var maxExportW: Int64 = 0
    public var maxExportAt: Timestamp?
    public var maxPeriodW: Int64 = 0
    public var maxPeriodAt: Timestamp?
    public var maxDemandResetAt: Timestamp?
    /// The latest credits (newest last, at most 5) and debt recoveries (at most 10).
    public var credits: [CreditEvent] = []
    public var debtPayments: [CreditEvent] = []
    /// Billing data log (at most 12) and change-of-mode/tariff log entries.
    public var billing: [BillingSnapshot] = []
    public var loadLimitCounter = 0
    // TariffAndPrepayment (critical commands): the second time-based debt and the gas meter's
    // debts (2.3), pence; the block counters (of the billing period starting
    // `blockCountersPeriod`) and registers (cumulative) of a block tariff's 8 × 4 blocks
    // (block tariff k, block b at 4k + b), Wh, empty until a block tariff is used; and the
    // billing data log entries tariff and payment mode changes took.
    public var timeDebt2: Int64 = 0
    public var gasTimeDebt: Int64 = 0
    public var gasTimeDebt2: Int64 = 0
    public var gasPaymentDebt: Int64 = 0
    public var blockCounters: [Int64] = []
    public var blockCountersPeriod: Int32 = 0
    public var blockRegisters: [Int64] = []
    public var changeBilling: [ChangeBillingEntry] = []

    public static let micro: Int64 = 1_000_000

    public var electricityBalancePence: Int64 { electricityBalance / Self.micro }
    public var gasBalancePence: Int64 { gasBalance / Self.micro }
}

/// The meters of every premises, computed on demand: a premises' half hours come from its
/// household (LoadModel) shaped by its supply state and outages; registers, balances,
/// maximum demand and logs come from walking the days from the start of modelling,
/// remembered per premises and state revision so that the walk is done once.
public final class MeterEngine: Sendable {
    public let demand: DemandModel
    private let cache = Mutex<[Int64: (revision: Int, checkpoint: MeterCheckpoint)]>([:])
    private let capacity: Int

    public init(demand: DemandModel = DemandModel(), capacity: Int = 200_000) {
        self.demand = demand
        self.capacity = capacity
    }

    // MARK: - A day

    /// The half hours of one day. `voltage` false leaves the voltages at 0: the registers
    /// do not read them, so a walk through the days to a checkpoint (a meter's first read
    /// walks up to 400 of them) skips their noise and outage arithmetic. The other values
    /// are the same either way (the voltage has its own random stream).
    public func readings(_ model: PremisesModel, _ state: PremisesState, day: Int32, voltage: Bool = true) -> DayReadings {
        var result = DayReadings(day: day)
        guard day >= model.installDay else { return result }
        let energy = demand.day(model.profile, day: day)
        let dayStart = Timestamp(dayNumber: day).milliseconds
        let electricity = availability(model: model, state: state, fuel: .electricity, dayStart: dayStart)
        let hasGas = model.hasGas
        let gas = hasGas ? availability(model: model, state: state, fuel: .gas, dayStart: dayStart) : nil
        let outages = voltage ? outageFractions(state, dayStart: dayStart) : nil
        var random = stream(model.profile.seed, day: day, purpose: 0x766F_6C74)
        for slot in 0..<48 {
            let available = electricity?[slot] ?? 1
            let importWh = energy.importWh(slot) * available
            let exportWh = energy.exportWh(slot) * available
            result.importWh[slot] = Int32(importWh.rounded())
            result.exportWh[slot] = Int32(exportWh.rounded())
            result.reactiveImport[slot] = Int32((importWh * Double(model.reactivePerMille) / 1000 + 6 * available).rounded())
            result.reactiveExport[slot] = Int32((exportWh * 0.04).rounded())
            if hasGas {
                result.gasLitres[slot] = Int32((model.litres(forWh: energy.gas[slot]) * (gas?[slot] ?? 1)).rounded())
            }
            // Voltage at the premises: the feeder's position, its evening sag, the home's own
            // load and export, a little noise; none while the power is off.
            guard voltage else { continue }
            let minute = Double(slot) * 30 + 15
            let sag = max(0, 1 - abs(minute - 1050) / 240)
            var volts = 241.0 + Double(model.voltageOffsetTenths) / 10 - 1.3 * importWh / 500 + 2.0 * exportWh / 500 - 3.2 * sag
            volts += random.normal(0, 0.5)
            let off = outages?[slot] ?? 0
            result.voltageDeci[slot] = Int16((volts * (1 - off) * 10).rounded())
        }
        return result
    }

    /// Fraction of each half hour a fuel's supply was on, or nil when always on.
    func availability(model: PremisesModel, state: PremisesState, fuel: Fuel, dayStart: Int64) -> [Double]? {
        let changes = fuel == .electricity ? state.electricitySupply : state.gasSupply
        let dayEnd = dayStart + CalendarDay.millisecondsPerDay
        let outages = fuel == .electricity ? state.outages.filter { $0.start.milliseconds < dayEnd && ($0.end?.milliseconds ?? Int64.max) > dayStart } : []
        let relevant = changes.contains { $0.at.milliseconds < dayEnd }
        guard relevant || !outages.isEmpty else { return nil }
        // The switch state through the day: its state at the start, then each change.
        var segments: [(Int64, Bool)] = []
        var on = (changes.last { $0.at.milliseconds <= dayStart }?.state ?? .enabled) == .enabled
        if !relevant && on && outages.isEmpty { return nil }
        segments.append((dayStart, on))
        for change in changes where change.at.milliseconds > dayStart && change.at.milliseconds < dayEnd {
            on = change.state == .enabled
            segments.append((change.at.milliseconds, on))
        }
        var fractions = [Double](repeating: 0, count: 48)
        for slot in 0..<48 {
            let start = dayStart + Int64(slot) * 1_800_000
            let end = start + 1_800_000
            var onTime: Int64 = 0
            for (index, segment) in segments.enumerated() where segment.1 {
                let segmentEnd = index + 1 < segments.count ? segments[index + 1].0 : Int64.max
                onTime += max(0, min(end, segmentEnd) - max(start, segment.0))
            }
            for outage in outages {
                // Power cuts take everything off, whatever the switch says.
                let overlapStart = max(start, outage.start.milliseconds)
                let overlapEnd = min(end, outage.end?.milliseconds ?? Int64.max)
                if overlapEnd > overlapStart { onTime -= min(onTime, overlapEnd - overlapStart) }
            }
            fractions[slot] = Double(max(0, onTime)) / 1_800_000
        }
        return fractions
    }

    func outageFractions(_ state: PremisesState, dayStart: Int64) -> [Double]? {
        let dayEnd = dayStart + CalendarDay.millisecondsPerDay
        let outages = state.outages.filter { $0.start.milliseconds < dayEnd && ($0.end?.milliseconds ?? Int64.max) > dayStart }
        guard !outages.isEmpty else { return nil }
        var fractions = [Double](repeating: 0, count: 48)
        for slot in 0..<48 {
            let start = dayStart + Int64(slot) * 1_800_000
            let end = start + 1_800_000
            for outage in outages {
                let overlap = min(end, outage.end?.milliseconds ?? Int64.max) - max(start, outage.start.milliseconds)
                if overlap > 0 { fractions[slot] += Double(overlap) / 1_800_000 }
            }
            fractions[slot] = min(1, fractions[slot])
        }
        return fractions
    }

    // MARK: - Walking the days

    /// The opening checkpoint, when modelling starts.
    public func opening(_ model: PremisesModel) -> MeterCheckpoint {
        var checkpoint = MeterCheckpoint(day: model.modelStart)
        checkpoint.importWh = model.openingImportWh
        checkpoint.exportWh = model.openingExportWh
        checkpoint.gasLitres = model.openingGasLitres
        checkpoint.reactiveImport = model.openingImportWh * Int64(model.reactivePerMille) / 1000
        checkpoint.tou[0] = model.openingImportWh
        checkpoint.periodStart = Self.monthStart(model.modelStart)
        checkpoint.gasPeriodStart = checkpoint.periodStart
        checkpoint.electricityBalance = Int64(model.topUpAmount) * MeterCheckpoint.micro
        checkpoint.gasBalance = model.hasGas ? Int64(model.topUpAmount) * MeterCheckpoint.micro : 0
        checkpoint.timeDebt = Int64(model.openingTimeDebt)
        checkpoint.paymentDebt = Int64(model.openingTimeDebt / 3)
        checkpoint.maxDemandResetAt = DayReadings.slotStart(day: model.modelStart, slot: 0)
        return checkpoint
    }

    static func monthStart(_ day: Int32) -> Int32 {
        let (year, month, _) = UKCalendar.date(day)
        return UKCalendar.day(year: year, month: month, day: 1)
    }

    /// The registers at the start of `day` (at most today), from the cache when it holds
    /// this premises at this state revision.
    public func checkpoint(_ model: PremisesModel, _ state: PremisesState, day: Int32) -> MeterCheckpoint {
        let cached = cache.withLock { $0[model.key] }
        var checkpoint: MeterCheckpoint
        if let cached, cached.revision == state.revision, cached.checkpoint.day <= day {
            checkpoint = cached.checkpoint
        } else {
            checkpoint = opening(model)
        }
        if checkpoint.day > day { return opening(model) }
        while checkpoint.day < day {
            let readings = self.readings(model, state, day: checkpoint.day, voltage: false)
            advance(&checkpoint, readings, model: model, state: state, through: 48, events: nil)
        }
        let result = checkpoint
        cache.withLock { cache in
            // Keep the latest checkpoint: walks into the past must not push it out.
            if let current = cache[model.key], current.revision == state.revision, current.checkpoint.day > result.day { return }
            if cache.count >= capacity, cache[model.key] == nil {
                // Forget a tenth of the premises (arbitrary ones) to stay within bounds.
                for key in cache.keys.prefix(capacity / 10) { cache[key] = nil }
            }
            cache[model.key] = (state.revision, result)
        }
        return result
    }

    /// Registers at an instant: the day's checkpoint plus the half hours completed since.
    public func snapshot(_ model: PremisesModel, _ state: PremisesState, at time: Timestamp) -> (MeterCheckpoint, DayReadings, Int) {
        let day = time.day.number
        let completed = Int(time.timeOfDay.milliseconds / Int32(CalendarDay.millisecondsPerHalfHour))
        var checkpoint = self.checkpoint(model, state, day: day)
        let readings = self.readings(model, state, day: day)
        advance(&checkpoint, readings, model: model, state: state, through: completed, events: nil)
        // Credits in the half hour under way count at once; so do the tariff and prepayment
        // commands' adjustments and billing data log entries (TariffAndPrepayment).
        let slotStart = Timestamp(dayNumber: day, slot: completed).milliseconds
        let plan = MeterDayPlan(model: model, state: state, day: day)
        let slot = min(47, completed)
        plan.captureBilling(&checkpoint, from: slotStart, until: time.milliseconds + 1, model: model, state: state)
        for topUp in state.topUps where topUp.at.milliseconds >= slotStart && topUp.at <= time {
            credit(&checkpoint, fuel: topUp.fuel, pence: Int64(topUp.pence), at: topUp.at, kind: .utrnTopUp,
                   recovery: plan.recoveryPerPayment(topUp.fuel, slot), events: nil)
        }
        plan.applyAdjustments(&checkpoint, from: slotStart, until: time.milliseconds + 1)
        return (checkpoint, readings, completed)
    }

    /// Walks the days `from` (a checkpoint day) to `through`, calling `visit` with each day's
    /// opening checkpoint and readings, and returns the checkpoint after the last day.
    public func walk(_ model: PremisesModel, _ state: PremisesState, from first: Int32, through last: Int32,
                     events: ((CreditEvent) -> Void)? = nil, visit: (MeterCheckpoint, DayReadings) -> Void) -> MeterCheckpoint {
        var checkpoint = self.checkpoint(model, state, day: max(model.modelStart, min(first, last)))
        var day = checkpoint.day
        while day <= last {
            let readings = self.readings(model, state, day: day)
            visit(checkpoint, readings)
            advance(&checkpoint, readings, model: model, state: state, through: 48, events: events)
            day += 1
        }
        return checkpoint
    }

    /// Moves a checkpoint through the first `slots` half hours of its day (to the start of
    /// the next day when `slots` is 48).
    public func advance(_ checkpoint: inout MeterCheckpoint, _ readings: DayReadings, model: PremisesModel, state: PremisesState,
                        through slots: Int, events: ((CreditEvent) -> Void)?) {
        let day = checkpoint.day
        let micro = MeterCheckpoint.micro
        let tariff = model.electricityTariff
        // The tariffs and prepayment settings of each half hour: the model's, or as critical
        // commands (1.1.x, 1.2.x, 1.6, 2.1, 2.3) set them from their times (TariffAndPrepayment).
        let plan = MeterDayPlan(model: model, state: state, day: day)
        let prepayment = plan.firstAccounts.electricity.prepayment
        let gasPrepayment = plan.firstAccounts.gas.prepayment
        let dayStartMs = Timestamp(dayNumber: day).milliseconds
        // A new billing period on the first of the month: the billing data log takes the
        // registers as they stand, and the period counters restart. Billing calendars (6.8)
        // move the billing to their dates and half hours (`billByCalendar`).
        let billingPlan = state.billingCalendars.map { BillingCalendarChange.plan($0, day: day) }
        if billingPlan == nil, slots > 0, Self.monthStart(day) == day, checkpoint.periodStart != day {
            if day > model.modelStart || checkpoint.billing.isEmpty {
                checkpoint.billing.append(BillingSnapshot(
                    at: DayReadings.slotStart(day: day, slot: 0), importWh: checkpoint.importWh, tou: checkpoint.tou,
                    blocks: [checkpoint.periodImportWh], gasLitres: checkpoint.gasLitres,
                    electricityBalance: prepayment ? checkpoint.electricityBalance / micro : -checkpoint.periodElectricityCost / micro,
                    gasBalance: gasPrepayment ? checkpoint.gasBalance / micro : -checkpoint.periodGasCost / micro,
                    timeDebt: checkpoint.timeDebt, paymentDebt: checkpoint.paymentDebt, timeDebt2: checkpoint.timeDebt2))
                if checkpoint.billing.count > 12 { checkpoint.billing.removeFirst(checkpoint.billing.count - 12) }
            }
            checkpoint.periodStart = day
            checkpoint.gasPeriodStart = day
            checkpoint.periodImportWh = 0
            checkpoint.periodGasLitres = 0
            checkpoint.periodElectricityCost = 0
            checkpoint.periodGasCost = 0
        }
        let dayStarting = slots > 0
        // A calendar's midnight billing comes before the day's charges, as the first of the month's does.
        if dayStarting, let billingPlan { billByCalendar(&checkpoint, plan: billingPlan, slot: 0, model: model) }
        // 6.26: with the daily reset on, the tariff block counters restart every midnight.
        if dayStarting, let resets = state.dailyBlockCounterResets, DailyResetChange.isOn(resets, atMilliseconds: dayStartMs) {
            checkpoint.periodImportWh = 0
        }
        if dayStarting {
            // Standing charges and time-based debt recovery are taken at midnight.
            let standing = Int64(plan.electricityStandingCharge) * 1000
            checkpoint.electricityCost += standing
            checkpoint.periodElectricityCost += standing
            let midnight = DayReadings.slotStart(day: day, slot: 0)
            if let gasStandingCharge = plan.gasStandingCharge {
                let gasStanding = Int64(gasStandingCharge) * 1000
                checkpoint.gasCost += gasStanding
                checkpoint.periodGasCost += gasStanding
                if gasPrepayment {
                    checkpoint.gasBalance -= gasStanding
                    recover(&checkpoint, \.gasTimeDebt, perDay: plan.gasDebtRecovery.0, fuel: .gas, at: midnight, events: events)
                    recover(&checkpoint, \.gasTimeDebt2, perDay: plan.gasDebtRecovery.1, fuel: .gas, at: midnight, events: events)
                }
            }
            if prepayment {
                checkpoint.electricityBalance -= standing
                recover(&checkpoint, \.timeDebt, perDay: plan.debtRecovery.0, fuel: .electricity, at: midnight, events: events)
                recover(&checkpoint, \.timeDebt2, perDay: plan.debtRecovery.1, fuel: .electricity, at: midnight, events: events)
            }
        }
        // The consumer checks the balance at 09:00 local time.
        let checkSlot = UKCalendar.isSummerTime(day) ? 16 : 18
        let resets = state.maxDemandResets.filter { $0.milliseconds >= dayStartMs && $0.milliseconds < dayStartMs + CalendarDay.millisecondsPerDay }
        let topUps = state.topUps.filter { $0.at.milliseconds >= dayStartMs && $0.at.milliseconds < dayStartMs + CalendarDay.millisecondsPerDay }
        // 6.6: the gas meter's own CV and conversion factor price its gas from when set.
        let gasConversions = state.gasConversions
        for slot in 0..<slots {
            let slotStart = dayStartMs + Int64(slot) * 1_800_000
            let slotEnd = slotStart + 1_800_000
            if plan.hasChanges { plan.captureBilling(&checkpoint, from: slotStart, until: slotEnd, model: model, state: state) }
            if let billingPlan { billByCalendar(&checkpoint, plan: billingPlan, slot: slot, model: model) }
            for reset in resets where reset.milliseconds < slotEnd && reset.milliseconds >= slotStart {
                checkpoint.maxImportW = 0
                checkpoint.maxExportW = 0
                checkpoint.maxPeriodW = 0
                checkpoint.maxImportAt = nil
                checkpoint.maxExportAt = nil
                checkpoint.maxPeriodAt = nil
                checkpoint.maxDemandResetAt = reset
            }
            let importWh = Int64(readings.importWh[slot])
            let exportWh = Int64(readings.exportWh[slot])
            let litres = Int64(readings.gasLitres[slot])
            checkpoint.importWh += importWh
            checkpoint.exportWh += exportWh
            checkpoint.reactiveImport += Int64(readings.reactiveImport[slot])
            checkpoint.reactiveExport += Int64(readings.reactiveExport[slot])
            checkpoint.gasLitres += litres
            checkpoint.gasTOU += litres
            checkpoint.periodImportWh += importWh
            checkpoint.periodGasLitres += litres
            // The register and price of the tariff in force (TariffAndPrepayment): the model's
            // unless a command changed it.
            let cost: Int64
            if plan.byModel {
                let rate = max(1, min(4, tariff.rate(slot: slot)))
                checkpoint.tou[rate - 1] += importWh
                cost = importWh * Int64(tariff.prices[min(rate, tariff.prices.count) - 1])
            } else {
                cost = importWh * plan.chargeImport(slot, importWh, &checkpoint)
            }
            checkpoint.electricityCost += cost
            checkpoint.periodElectricityCost += cost
            var gasCost: Int64 = 0
            if plan.gasStandingCharge != nil, litres > 0 {
                let wh = gasConversions.map { GasConversionChange.wh(litres: litres, atMilliseconds: slotStart, changes: $0, model: model) } ?? model.wh(forLitres: litres)
                gasCost = Int64(wh.rounded())
                    * (plan.byModel ? Int64(plan.first.gasFlatPrice) : plan.gasPrice(slot, periodLitres: checkpoint.periodGasLitres - litres))
                checkpoint.gasCost += gasCost
                checkpoint.periodGasCost += gasCost
            }
            // Maximum demand: the half hour's average power.
            let importW = importWh * 2
            if importW > checkpoint.maxImportW {
                checkpoint.maxImportW = importW
                checkpoint.maxImportAt = Timestamp(milliseconds: slotStart)
            }
            if exportWh * 2 > checkpoint.maxExportW {
                checkpoint.maxExportW = exportWh * 2
                checkpoint.maxExportAt = Timestamp(milliseconds: slotStart)
            }
            let minute = slot * 30
            if minute >= state.maxDemandPeriod[0] && minute < state.maxDemandPeriod[1] && importW > checkpoint.maxPeriodW {
                checkpoint.maxPeriodW = importW
                checkpoint.maxPeriodAt = Timestamp(milliseconds: slotStart)
            }
            // Each fuel's payment mode and configuration in force (TariffAndPrepayment).
            let accounts = plan.byModel ? plan.firstAccounts : plan.accounts(slot)
            for topUp in topUps where topUp.at.milliseconds >= slotStart && topUp.at.milliseconds < slotEnd {
                credit(&checkpoint, fuel: topUp.fuel, pence: Int64(topUp.pence), at: topUp.at, kind: .utrnTopUp,
                       recovery: topUp.fuel == .electricity ? accounts.electricity.recovery : accounts.gas.recovery, events: events)
            }
            if plan.hasAdjustments { plan.applyAdjustments(&checkpoint, from: slotStart, until: slotEnd) }
            let electricityPrepayment = accounts.electricity.prepayment
            let gasPrepaymentNow = accounts.gas.prepayment
            guard electricityPrepayment || gasPrepaymentNow else { continue }
            let config = accounts.electricity.configuration
            let before = checkpoint.electricityBalance
            if electricityPrepayment { checkpoint.electricityBalance -= cost }
            if gasPrepaymentNow { checkpoint.gasBalance -= gasCost }
            let low = Int64(config.lowCreditThreshold) * micro
            if electricityPrepayment && before >= low && checkpoint.electricityBalance < low {
                events?(CreditEvent(at: Timestamp(milliseconds: slotEnd), fuel: .electricity, kind: .lowCredit, pence: checkpoint.electricityBalance / micro))
            }
            // The household tops up in the morning when the balance is below its habit, or
            // at once when it would otherwise run out of emergency credit.
            let trigger = Int64(model.topUpTrigger) * micro
            for fuel in [Fuel.electricity, .gas] where fuel == .electricity ? electricityPrepayment : gasPrepaymentNow && model.hasGas {
                let account = fuel == .electricity ? accounts.electricity : accounts.gas
                let floor = -Int64(account.configuration.emergencyCreditLimit - 100) * micro
                let balance = fuel == .electricity ? checkpoint.electricityBalance : checkpoint.gasBalance
                if (slot == checkSlot && balance < trigger) || balance < floor {
                    var added: Int64 = 0
                    var current = balance
                    while current < trigger && added < 20 * Int64(model.topUpAmount) {
                        let amount = Int64(model.topUpAmount)
                        credit(&checkpoint, fuel: fuel, pence: amount, at: Timestamp(milliseconds: slotStart + 600_000 + Int64(slot) * 1000),
                               kind: balance < floor ? .emergencyTopUp : .consumerTopUp, recovery: account.recovery, events: events)
                        added += amount
                        current = fuel == .electricity ? checkpoint.electricityBalance : checkpoint.gasBalance
                    }
                }
            }
            if electricityPrepayment { checkpoint.emergencyCreditInUse = checkpoint.electricityBalance < 0 }
        }
        if slots >= 48 {
            checkpoint.day = day + 1
        }
    }

    /// A credit to a meter balance, less the payment-based debt it recovers (`recovery`:
    /// basis points of the payment; each meter recovers its own debt, TariffAndPrepayment).
    private func credit(_ checkpoint: inout MeterCheckpoint, fuel: Fuel, pence: Int64, at time: Timestamp, kind: CreditEvent.Kind,
                        recovery: Int64, events: ((CreditEvent) -> Void)?) {
        var amount = pence
        let debt = fuel == .electricity ? checkpoint.paymentDebt : checkpoint.gasPaymentDebt
        if debt > 0 {
            let recovered = min(debt, pence * recovery / 10_000)
            if recovered > 0 {
                if fuel == .electricity { checkpoint.paymentDebt -= recovered } else { checkpoint.gasPaymentDebt -= recovered }
                amount -= recovered
                let event = CreditEvent(at: time, fuel: fuel, kind: .debtRecovered, pence: recovered)
                record(&checkpoint.debtPayments, event, limit: 10)
                events?(event)
            }
        }
        if fuel == .electricity {
            checkpoint.electricityBalance += amount * MeterCheckpoint.micro
        } else {
            checkpoint.gasBalance += amount * MeterCheckpoint.micro
        }
        let event = CreditEvent(at: time, fuel: fuel, kind: kind, pence: pence)
        record(&checkpoint.credits, event, limit: 5)
        events?(event)
    }

    /// A day's recovery of a time-based debt from its meter's balance, taken at midnight
    /// (two debts per meter since 2.3, TariffAndPrepayment).
    private func recover(_ checkpoint: inout MeterCheckpoint, _ debt: WritableKeyPath<MeterCheckpoint, Int64>, perDay: Int64, fuel: Fuel,
                         at time: Timestamp, events: ((CreditEvent) -> Void)?) {
        guard checkpoint[keyPath: debt] > 0 else { return }
        let recovered = min(checkpoint[keyPath: debt], max(0, perDay))
        checkpoint[keyPath: debt] -= recovered
        if fuel == .electricity {
            checkpoint.electricityBalance -= recovered * MeterCheckpoint.micro
        } else {
            checkpoint.gasBalance -= recovered * MeterCheckpoint.micro
        }
        let event = CreditEvent(at: time, fuel: fuel, kind: .debtRecovered, pence: recovered)
        record(&checkpoint.debtPayments, event, limit: 10)
        events?(event)
    }

    private func record(_ list: inout [CreditEvent], _ event: CreditEvent, limit: Int) {
        list.append(event)
        if list.count > limit { list.removeFirst(list.count - limit) }
    }

    /// Instantaneous electrical import at a moment, W (demand net of PV; zero without supply).
    public func activePower(_ model: PremisesModel, _ state: PremisesState, at time: Timestamp) -> Int {
        let day = time.day.number
        let millisecond = Int64(time.timeOfDay.milliseconds)
        guard day >= model.installDay, state.supply(.electricity, at: time) == .enabled,
              !state.outages.contains(where: { $0.start <= time && ($0.end.map { time < $0 } ?? true) })
        else { return 0 }
        let schedule = demand.schedule(model.profile, day: day)
        let minute = Double(millisecond) / 60_000
        let slot = min(47, Int(minute / 30))
        return Int(max(0, schedule.demandW(atMinute: minute) - schedule.solarW[slot]).rounded())
    }
}
