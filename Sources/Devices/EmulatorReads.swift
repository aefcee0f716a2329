import DUIS
import LoadModel
import MMC

/// How long a SMETS2 meter keeps each log, days.
public enum MeterMemory {
    /// Half-hourly active import: 13 months.
    public static let importProfileDays: Int32 = 397
    /// Half-hourly export and reactive energy: 3 months.
    public static let exportProfileDays: Int32 = 93
    /// Daily consumption: 2 years.
    public static let dailyLogDays: Int32 = 731
    /// Daily read log (registers at midnight): 31 days.
    public static let dailyReadDays: Int32 = 31
    /// Average RMS voltage profile: 90 days.
    public static let voltageProfileDays: Int32 = 90
}

extension DeviceEmulator {
    /// The days a log covers for a read period, within what the meter still remembers.
    func days(_ context: Context, start: Timestamp, end: Timestamp, memory: Int32) -> ClosedRange<Int32>? {
        let today = context.today
        let first = max(start.day.number, today - memory, context.model.installDay)
        let last = min(end.day.number, today)
        return first <= last ? first...last : nil
    }

    // MARK: - Registers

    func importRegisters(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousImportRegistersRsp")
        if context.fuel == .gas {
            rsp.add("Gas") { gas in
                gas.add("ConsumptionRegister") { $0.add("Value", DeviceFormat.cubicMetres(checkpoint.gasLitres)); $0.add("Unit", "m3") }
            }
        } else {
            rsp.add("Electricity") { electricity in
                electricity.add("ActiveImportRegister") { $0.add("Value", checkpoint.importWh); $0.add("ActiveEnergyUnit", "Wh") }
                electricity.add("ReactiveImportRegister") { $0.add("Value", checkpoint.reactiveImport); $0.add("ReactiveEnergyUnit", "varh") }
            }
        }
        context.note = context.fuel == .gas ? "gas register \(DeviceFormat.cubicMetres(checkpoint.gasLitres)) m3" : "import register \(checkpoint.importWh) Wh"
        return rsp
    }

    func touRates(_ context: Context) -> Int { max(1, context.model.electricityTariff.prices.count) }

    func touMatrices(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousImportTOUMatricesRsp")
        if context.fuel == .gas {
            rsp.add("Gas") { gas in
                gas.add("TariffTOURegisterMatrix") {
                    $0.add("TOURegisterMatrixValue", DeviceFormat.cubicMetres(checkpoint.gasTOU), attributes: [("index", "1")])
                }
            }
        } else {
            rsp.add("Electricity") { electricity in
                electricity.add("TariffTOURegisterCollection") { collection in
                    for rate in 0..<touRates(context) {
                        collection.add("TOUPrimaryRegisterValue", String(checkpoint.tou.register(rate)), attributes: [("index", String(rate + 1))])
                    }
                }
            }
        }
        return rsp
    }

    func touWithBlocks(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousImportTOUWithBlocksMatricesRsp")
        rsp.add("TariffBlockTOURegisterCollection") { collection in
            collection.add(DataNode("TariffBlock", attributes: [("index", "1")], children:
                (0..<touRates(context)).map { DataNode("RegisterMatrixTOUValue", text: String(checkpoint.tou.register($0)), attributes: [("index", String($0 + 1))]) }
                    + [DataNode("CounterMatrixTOUValue", text: String(checkpoint.periodImportWh), attributes: [("index", "1")])]))
        }
        return rsp
    }

    func blockCounters(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousImportBlockCountersRsp")
        rsp.add("ImportBlockCounters") {
            $0.add("TariffBlockCounterValue", DeviceFormat.cubicMetres(checkpoint.periodGasLitres), attributes: [("index", "1")])
        }
        return rsp
    }

    func exportRegisters(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousExportRegistersRsp")
        rsp.add("ActiveExportRegister") { $0.add("Value", checkpoint.exportWh); $0.add("ActiveEnergyUnit", "Wh") }
        rsp.add("ReactiveExportRegister") { $0.add("Value", checkpoint.reactiveExport); $0.add("ReactiveEnergyUnit", "varh") }
        return rsp
    }

    // MARK: - Billing logs

    func changeOfModeLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        // The entries tariff, price and payment mode changes (1.1.x, 1.2.x, 1.6) took
        // (Emulator+TariffAndPrepayment).
        changeOfModeOrTariffLog(&context, state)
    }

    func billingCalendarLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveBillingCalendarTriggeredBillingDataLogRsp")
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        let period = context.period
        // An entry of one fuel's billing calendar (6.8) is that fuel's alone.
        let entries = checkpoint.billing.filter { entry in
            (entry.fuel == nil || entry.fuel == context.fuel) && (period.map { entry.at >= $0.start && entry.at <= $0.end } ?? true)
        }
        let gas = context.fuel == .gas
        rsp.add(gas ? "Gas" : "Electricity") { branch in
            for entry in entries {
                if gas {
                    branch.add("GSMEBillingDataLogEntry") { item in
                        item.add("Timestamp", entry.at.iso8601)
                        item.add("ActiveImportRegisterValueConsumption", DeviceFormat.cubicMetres(entry.gasLitres))
                        item.add("BlockRegisterMatrixValue", DeviceFormat.cubicMetres(entry.gasLitres), attributes: [("index", "1")])
                        item.add("TariffTOURegisterMatrixValue", DeviceFormat.cubicMetres(entry.gasLitres), attributes: [("index", "1")])
                    }
                } else {
                    branch.add("ESMEBillingDataLogEntry") { item in
                        item.add("Timestamp", entry.at.iso8601)
                        item.add("ActiveImportRegisterValueConsumption", entry.importWh)
                        for rate in 0..<touRates(context) {
                            item.add("TariffTOURegisterMatrixValue", String(entry.tou.register(rate)), attributes: [("index", String(rate + 1))])
                        }
                        item.add("TariffTOUBlock1RegisterMatrixValue", String(entry.blocks.first ?? 0), attributes: [("index", "1")])
                    }
                }
            }
            // Each entry with the payment mode and emergency credit limit of its time (they
            // change with 1.6 and 2.1, TariffAndPrepayment).
            for entry in entries {
                let inForce = Self.modelInForce(context.model, state, at: entry.at, for: context.command.targetType)
                guard inForce.prepayment else { continue }
                let balance = gas ? entry.gasBalance : entry.electricityBalance
                branch.add(gas ? "GSMEBillingPrepaymentDataLogEntry" : "ESMEBillingPrepaymentDataLogEntry") { item in
                    item.add("AccumulatedDebtRegister", gas ? 0 : entry.timeDebt + entry.timeDebt2 + entry.paymentDebt)
                    item.add("EmergencyCreditBalance", Int64(inForce.prepaymentConfiguration.emergencyCreditLimit) + min(0, balance))
                    item.add("MeterBalance", max(0, balance))
                    item.add("PaymentDebtRegister", gas ? 0 : entry.paymentDebt)
                    item.add("TimeDebtRegisters1", gas ? 0 : entry.timeDebt)
                    item.add("TimeDebtRegisters2", gas ? 0 : entry.timeDebt2)
                    item.add("Timestamp", entry.at.iso8601)
                }
            }
        }
        context.note = "\(entries.count) billing data log entries"
        return rsp
    }

    func creditLog(_ context: inout Context, _ state: PremisesState, debt: Bool) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        let period = context.period
        let fuel = context.fuel
        let source = debt ? checkpoint.debtPayments : checkpoint.credits
        let entries = source.filter { event in event.fuel == fuel && (period.map { event.at >= $0.start && event.at <= $0.end } ?? true) }
        var rsp = DataNode(debt ? "RetrieveBillingDataLogDebtPaymentsRsp" : "RetrieveBillingDataLogPrepaymentCreditsRsp")
        rsp.add(debt ? "PaymentBasedDebtRepayment" : "PrepaymentCredits") { log in
            for entry in entries {
                log.add("LogEntry") { $0.add("Amount", entry.pence); $0.add("Timestamp", entry.at.iso8601) }
            }
        }
        context.note = "\(entries.count) \(debt ? "debt payments" : "credits")"
        return rsp
    }

    // MARK: - Daily logs

    func importDailyReadLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveImportDailyReadLogRsp")
        guard let (start, end) = context.period, let days = days(context, start: start, end: end, memory: MeterMemory.dailyReadDays) else {
            context.note = "no daily reads in the period the meter remembers"
            return rsp
        }
        let gas = context.fuel == .gas
        let rates = touRates(context)
        var count = 0
        // The read taken at midnight at the start of each day (a day is logged once it has begun).
        _ = context.engine.walk(context.model, state, from: days.lowerBound, through: days.upperBound) { checkpoint, readings in
            let at = DayReadings.slotStart(day: readings.day, slot: 0)
            guard at >= start, at <= end, readings.day > context.model.installDay || checkpoint.day == context.model.modelStart else { return }
            count += 1
            rsp.add("LogEntry") { entry in
                entry.add("Timestamp", at.iso8601)
                if gas {
                    entry.add("Gas") { branch in
                        branch.add("GasActiveImportRegisterConsumption", DeviceFormat.cubicMetres(checkpoint.gasLitres))
                        branch.add("TariffBlockCounterMatrix", DeviceFormat.cubicMetres(checkpoint.periodGasLitres), attributes: [("index", "1")])
                        branch.add("TariffTOURegisterMatrix", DeviceFormat.cubicMetres(checkpoint.gasTOU), attributes: [("index", "1")])
                    }
                } else {
                    entry.add("Electricity") { branch in
                        branch.add("ElecActiveImportRegisterConsumption", checkpoint.importWh)
                        for rate in 0..<rates {
                            branch.add("TariffTOURegisterMatrixValue", String(checkpoint.tou.register(rate)), attributes: [("index", String(rate + 1))])
                        }
                        branch.add("TariffTOUBlock1RegisterMatrixValue", String(checkpoint.periodImportWh), attributes: [("index", "1")])
                    }
                }
            }
        }
        context.note = "\(count) daily reads"
        return rsp
    }

    func exportDailyReadLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveExportDailyReadLogRsp")
        guard let (start, end) = context.period, let days = days(context, start: start, end: end, memory: MeterMemory.dailyReadDays) else { return rsp }
        _ = context.engine.walk(context.model, state, from: days.lowerBound, through: days.upperBound) { checkpoint, readings in
            let at = DayReadings.slotStart(day: readings.day, slot: 0)
            guard at >= start, at <= end else { return }
            rsp.add("LogEntry") { $0.add("ActiveExportRegisterValue", checkpoint.exportWh); $0.add("TimeStamp", at.iso8601) }
        }
        return rsp
    }

    func dailyConsumptionLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveDailyConsumptionLogRsp")
        let gas = context.fuel == .gas
        var log = DataNode(gas ? "Gas" : "Electricity")
        var count = 0
        if let (start, end) = context.period, let days = days(context, start: start.adding(days: -1), end: end, memory: MeterMemory.dailyLogDays) {
            for day in days where day < context.today {
                // Each day's consumption is logged at the midnight that ends it.
                let at = DayReadings.slotStart(day: day + 1, slot: 0)
                guard at >= start, at <= end else { continue }
                let readings = context.engine.readings(context.model, state, day: day)
                log.add("LogEntry") { entry in
                    entry.add("Value", gas ? DeviceFormat.cubicMetres(readings.gasTotal) : String(readings.importTotal))
                    entry.add("Timestamp", at.iso8601)
                }
                count += 1
            }
        }
        rsp.add(log)
        context.note = "\(count) days of consumption"
        return rsp
    }

    func prepaymentDailyReadLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadPrepaymentDailyReadLogRsp")
        let fuel = context.fuel
        var log = DataNode(fuel == .gas ? "Gas" : "Electricity")
        if let (start, end) = context.period, let days = days(context, start: start, end: end, memory: MeterMemory.dailyReadDays) {
            _ = context.engine.walk(context.model, state, from: days.lowerBound, through: days.upperBound) { checkpoint, readings in
                let at = DayReadings.slotStart(day: readings.day, slot: 0)
                guard at >= start, at <= end else { return }
                // The payment mode and limits of the entry's day (TariffAndPrepayment).
                let inForce = Self.modelInForce(context.model, state, at: at, for: context.command.targetType)
                log.add(DataNode("LogEntry", children: prepaymentData(checkpoint, fuel: fuel, model: inForce, at: at, operational: true)))
            }
        }
        rsp.add(log)
        return rsp
    }

    // MARK: - Profiles

    /// Half hours whose capture time (the end of the half hour) lies in the period.
    func profile(_ context: Context, _ state: PremisesState, memory: Int32, visit: (Timestamp, DayReadings, Int) -> Void) -> Int {
        guard let (start, end) = context.period,
              let days = days(context, start: start.adding(milliseconds: -1_800_000), end: end, memory: memory) else { return 0 }
        var count = 0
        for day in days {
            let readings = context.engine.readings(context.model, state, day: day)
            for slot in 0..<48 {
                let captured = DayReadings.slotStart(day: day, slot: slot + 1)
                guard captured >= start, captured <= end, captured <= context.time else { continue }
                visit(captured, readings, slot)
                count += 1
            }
        }
        return count
    }

    func activeImportProfile(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadActiveImportProfileDataRsp")
        let gas = context.fuel == .gas
        let count = profile(context, state, memory: MeterMemory.importProfileDays) { at, readings, slot in
            rsp.add("LogEntry") { entry in
                entry.add("Timestamp", at.iso8601)
                if gas {
                    entry.add("Gas") { $0.add("PrimaryValue", DeviceFormat.cubicMetres(Int64(readings.gasLitres[slot]))) }
                } else {
                    entry.add("Electricity") { $0.add("PrimaryValue", readings.importWh[slot]) }
                }
            }
        }
        context.note = "\(count) half-hourly readings"
        return rsp
    }

    func reactiveImportProfile(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadReactiveImportProfileDataRsp")
        let count = profile(context, state, memory: MeterMemory.exportProfileDays) { at, readings, slot in
            rsp.add("LogEntry") { $0.add("ReactiveEnergyImportedValue", readings.reactiveImport[slot]); $0.add("Timestamp", at.iso8601) }
        }
        context.note = "\(count) half-hourly reactive readings"
        return rsp
    }

    func exportProfile(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadExportProfileDataRsp")
        let count = profile(context, state, memory: MeterMemory.exportProfileDays) { at, readings, slot in
            rsp.add("LogEntry") { entry in
                entry.add("ActiveEnergyExportedValue", readings.exportWh[slot])
                entry.add("ReactiveEnergyExportedValue", readings.reactiveExport[slot])
                entry.add("Timestamp", at.iso8601)
            }
        }
        context.note = "\(count) half-hourly export readings"
        return rsp
    }

    func networkData(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadNetworkDataRsp")
        if context.fuel == .gas {
            let period = context.period
            rsp.add("Gas") { gas in
                gas.add("NetworkDataLog") { log in
                    for sample in state.gasNetworkSamples where period.map({ sample.at >= $0.start && sample.at <= $0.end }) ?? true {
                        log.add("LogEntry") { $0.add("Value", DeviceFormat.cubicMetres(sample.litres)); $0.add("Timestamp", sample.at.iso8601) }
                    }
                }
            }
            return rsp
        }
        // Counters of half hours above and below the average RMS thresholds, since reset.
        let settings = state.voltage
        var over = 0
        var under = 0
        let firstCounted = max(context.today - MeterMemory.voltageProfileDays, context.model.installDay,
                               state.voltageCountersResetAt?.day.number ?? 0)
        if firstCounted <= context.today {
            for day in firstCounted...context.today {
                let readings = context.engine.readings(context.model, state, day: day)
                for slot in 0..<48 where DayReadings.slotStart(day: day, slot: slot + 1) <= context.time {
                    let volts = Int(readings.voltageDeci[slot]) / 10
                    if volts > settings.averageOverVoltageThreshold { over += 1 }
                    if volts > 0 && volts < settings.averageUnderVoltageThreshold { under += 1 }
                }
            }
        }
        var log = DataNode("AvgRMSVoltageProfileDataLog")
        _ = profile(context, state, memory: MeterMemory.voltageProfileDays) { at, readings, slot in
            let deci = Int(readings.voltageDeci[slot])
            log.add("LogEntry") { $0.add("Value", String(deci / 10) + "." + String(abs(deci % 10))); $0.add("Timestamp", at.iso8601) }
        }
        log.add("MeasurementPeriod", settings.averageMeasurementPeriod)
        rsp.add("Electricity") { electricity in
            electricity.add("SinglePhaseESME") { phase in
                phase.add("AvgRMSOverVoltageCounter") { $0.add("Value", over); $0.add("Unit", "count") }
                phase.add("AvgRMSUnderVoltageCounter") { $0.add("Value", under); $0.add("Unit", "count") }
                phase.add(log)
            }
        }
        return rsp
    }

    // MARK: - Tariff and demand

    /// A value and a power-of-ten scale that fits a signed 16-bit field.
    static func scaled(_ values: [Int]) -> (values: [Int], scale: Int) {
        var scale = 0
        var result = values
        while result.contains(where: { $0 > 32_767 }) {
            result = result.map { ($0 + 5) / 10 }
            scale += 1
        }
        return (result, scale)
    }

    func tariffPrimary(_ context: inout Context, _ state: PremisesState) -> DataNode {
        // The primary element in force, as 1.1.1 and 1.2.1 leave it (Emulator+TariffAndPrepayment).
        tariffPrimaryInForce(&context, state)
    }

    func tariffSecondary(_ context: inout Context) -> DataNode {
        // Single-element meters have no secondary element; it reads as unset.
        var rsp = DataNode("ReadTariffSecondaryElementRsp")
        rsp.add("SecondaryActiveTariffPrice", 0)
        rsp.add("PriceScale", 0)
        context.note = "single-element meter: no secondary tariff"
        return rsp
    }

    func maxDemand(_ name: String, value: Int64, at: Timestamp?, reset: Timestamp?) -> DataNode {
        var node = DataNode(name)
        node.add("Value", value)
        if let at { node.add("CaptureTime", at.iso8601) }
        if let reset { node.add("LastResetDateTime", reset.iso8601) }
        return node
    }

    func maximumDemandImport(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadMaximumDemandImportRegistersRsp")
        rsp.add(maxDemand("MaxDemandConfigurableTimeActivePowerImport", value: checkpoint.maxPeriodW, at: checkpoint.maxPeriodAt, reset: checkpoint.maxDemandResetAt))
        rsp.add(maxDemand("MaxDemandActiveEnergyImport", value: checkpoint.maxImportW, at: checkpoint.maxImportAt, reset: checkpoint.maxDemandResetAt))
        rsp.add("MaxDemandConfigurableTimePeriod") { period in
            period.add("StartTime", DeviceFormat.time(minutes: state.maxDemandPeriod[0]))
            period.add("EndTime", DeviceFormat.time(minutes: state.maxDemandPeriod[1]))
        }
        context.note = "maximum demand \(checkpoint.maxImportW) W"
        return rsp
    }

    func maximumDemandExport(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadMaximumDemandExportRegistersRsp")
        rsp.add(maxDemand("MaxDemandActiveEnergyExport", value: checkpoint.maxExportW, at: checkpoint.maxExportAt, reset: checkpoint.maxDemandResetAt))
        return rsp
    }

    func loadLimitData(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadLoadLimitDataRsp")
        // 6.4.1's settings (ConfigurationAndSecurity); the counter adds the exceedances of
        // the engine's half hours since they were set or 6.4.2 reset it.
        let settings = state.loadLimit
        rsp.add("LoadLimitCounterValue", state.loadLimitEvents.count + loadLimitExceedances(context, state))
        rsp.add("LoadLimitPowerThreshold", settings?.thresholdW ?? 0)
        rsp.add("LoadLimitPeriod", settings?.periodSeconds ?? 0)
        rsp.add("LoadLimitRestorationPeriod", settings?.restorationSeconds ?? 0)
        rsp.add("LoadLimitSupplyState", settings?.disableSupply == true ? "Disable" : "Unchanged")
        context.note = settings.map { "load limit \($0.thresholdW) W" } ?? "load limiting not configured"
        return rsp
    }

    func activePower(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let watts = context.engine.activePower(context.model, state, at: context.time)
        var rsp = DataNode("ReadActivePowerImportRsp")
        rsp.add("ActivePowerImport") { $0.add("Value", watts); $0.add("Unit", "W") }
        rsp.add("PrimaryActivePowerImportValue", watts)
        context.note = "\(watts) W"
        return rsp
    }

    // MARK: - Event and security logs

    /// The device's log: the events it records by itself (clock adjustments, power events,
    /// installation) and those commands left in the state.
    func logEntries(_ context: Context, _ state: PremisesState, kind: String) -> [LogEntry] {
        let device = context.command.target
        var entries: [LogEntry] = []
        let install = DayReadings.slotStart(day: context.model.installDay, slot: 20)
        switch kind {
        case "Security":
            entries.append(LogEntry(at: install, code: 0x8F70, meaning: "Update Security Credentials (installation)"))
            entries += state.securityLogs[device] ?? []
            entries += state.tampered.map { LogEntry(at: $0, code: 0x8F3F, meaning: "Unauthorised Physical Access - Tamper Detect") }
        case "PowerEvent":
            for outage in state.outages {
                entries.append(LogEntry(at: outage.start, code: 0x8F57, meaning: "Supply interrupted"))
                if let end = outage.end {
                    let long = end.milliseconds - outage.start.milliseconds >= 180_000
                    entries.append(LogEntry(at: end, code: long ? 0x8F36 : 0x8F35, meaning: long ? "Supply Outage Restored (3 minutes or more)" : "Supply Outage Restored"))
                }
            }
        default:
            let cleared = state.eventLogs[device]?.first { $0.code == 0x8F52 }?.at
            if cleared == nil { entries.append(LogEntry(at: install, code: 0x8F12, meaning: "Device commissioned")) }
            // Clocks drift and are adjusted within tolerance every week or two.
            let phase = Int32(device.rawValue % 9)
            var day = context.model.installDay + phase
            while day <= context.today {
                let at = DayReadings.slotStart(day: day, slot: 5).adding(milliseconds: Int64(device.rawValue % 1_700_000))
                if at <= context.time, cleared.map({ at > $0 }) ?? true {
                    entries.append(LogEntry(at: at, code: 0x8145, meaning: "Clock adjusted (within tolerance)"))
                }
                day += 9 + Int32((device.rawValue >> 8) % 5)
            }
            entries += state.eventLogs[device] ?? []
        }
        return entries.sorted { $0.at < $1.at }
    }

    func readLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadEventOrSecurityLogRsp")
        let kind = context.body.value("LogToRead") ?? "Event"
        let period = context.period
        let entries = logEntries(context, state, kind: kind).filter { entry in period.map { entry.at >= $0.start && entry.at <= $0.end } ?? true }.suffix(PremisesState.logCapacity)
        rsp.add("Log") { log in
            for entry in entries {
                log.add("LogEntry") { item in
                    item.add("Timestamp", entry.at.iso8601)
                    item.add("LogCode", String(format: "%04X", entry.code))
                    item.add("LogMeaning", String(entry.meaning.prefix(200)))
                    if let other = entry.other {
                        item.add("OtherInformation", Array(other.utf8).prefix(32).map { String(format: "%02X", $0) }.joined())
                        item.add("OtherInformationLogMeaning", String(other.prefix(200)))
                    }
                }
            }
        }
        context.note = "\(entries.count) \(kind.lowercased()) log entries"
        return rsp
    }
}
