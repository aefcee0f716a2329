import DUIS
import Foundation
import LoadModel
import MMC
import Testing
@testable import Devices

/// The tariff and prepayment critical commands at the meters (1.1.x, 1.2.x, 1.5, 1.6, 1.7,
/// 2.1, 2.3, 2.5), each seen through what a later read, bill or engine number shows. The
/// commands run through `actOnTariffAndPrepayment` (after the device's own checks, which
/// CriticalCommandCheckTests covers); reads go through `execute` as a user's would.
@Suite struct TariffAndPrepaymentEffectsTests {
    static let day = Bench.now.day.number
    static let hour: Int64 = 3_600_000
    /// Each test its own engine: the engine remembers a premises' registers per state
    /// revision, and these tests give the same premises different states.
    let engine = MeterEngine()
    var emulator: DeviceEmulator { DeviceEmulator(engine: engine) }

    // MARK: Helpers

    static func e(_ name: String, _ children: ElementTree...) -> ElementTree { Bench.element(name, children) }

    static func v(_ name: String, _ text: String, index: Int? = nil) -> ElementTree {
        Bench.element(name, text: text, attributes: index.map { ["index": String($0)] } ?? [:])
    }

    static func date(year: Int? = nil, month: Int?, day: Int?, gas: Bool = false) -> [ElementTree] {
        let names = gas ? ["GasYearWithWildcards", "GasMonthWithWildcards", "GasDayOfMonthWithWildcards", "GasDayOfWeekWithWildcards"]
            : ["Year", "Month", "DayOfMonth", "DayOfWeek"]
        return [
            e(names[0], year.map { v("SpecifiedYear", String($0)) } ?? e("NonSpecifiedYear")),
            e(names[1], month.map { v("SpecifiedMonth", String($0)) } ?? e("NonSpecifiedMonth")),
            e(names[2], day.map { v("SpecifiedDayOfMonth", String($0)) } ?? e(gas ? "GasNonSpecifiedDayOfMonth" : "NonSpecifiedDayOfMonth")),
            e(names[3], e("NonSpecifiedDayOfWeek")),
        ]
    }

    static func week(_ name: Int, _ days: [Int]) -> ElementTree {
        Bench.element("WeekProfile", [v("WeekName", String(name))] + days.enumerated().map { v("ReferencedDayName", String($0.element), index: $0.offset + 1) })
    }

    static func season(_ name: String, week: Int) -> ElementTree {
        e("Season", v("SeasonName", name), Bench.element("SeasonStartDate", date(year: 2015, month: 1, day: 1)), v("ReferencedWeekName", String(week)))
    }

    /// A command of the family, run as the device runs it once authenticated.
    @discardableResult
    func act(_ srv: SRV, _ model: PremisesModel, _ type: DeviceType, _ body: ElementTree, _ state: inout PremisesState,
                    at time: Timestamp = Bench.now) -> (node: DataNode?, success: Bool, note: String) {
        let command = Bench.command(srv, model, type, body: body)
        var context = DeviceEmulator.Context(command: command, model: DeviceEmulator.modelInForce(model, state, at: time, for: type), time: time,
                                             engine: engine)
        let node = emulator.actOnTariffAndPrepayment(&context, &state)
        if context.changed { state.touch() }
        return (node, context.success, context.note)
    }

    func ask(_ srv: SRV, _ element: String, _ model: PremisesModel, _ type: DeviceType, _ state: PremisesState,
                     at time: Timestamp = Bench.now, _ children: [ElementTree] = []) -> DataNode {
        var copy = state
        return emulator.execute(Bench.command(srv, model, type, body: Bench.element(element, children)), model: model, state: &copy, at: time).response.body
    }

    static func value(_ node: DataNode, _ name: String) -> String? { Bench.values(node, name).first }

    /// An ESME tariff: one day profile (TOU 1 from midnight, TOU 2 from 16:00), every day.
    static func touTariff(standing: Int, prices: [Int]) -> ElementTree {
        e("UpdateImportTariffPrimaryElement",
          e("ElecTariffElements",
            v("CurrencyUnits", "GBP"),
            e("SwitchingTable",
              e("DayProfiles", e("DayProfile", v("DayName", "1"),
                                 e("ProfileSchedule", v("StartTime", "00:00:00.00Z"), v("TOUTariffAction", "1")),
                                 e("ProfileSchedule", v("StartTime", "16:00:00.00Z"), v("TOUTariffAction", "2")))),
              e("WeekProfiles", week(1, Array(repeating: 1, count: 7))),
              e("Seasons", season("all", week: 1))),
            e("SpecialDays"),
            Bench.element("ThresholdMatrix", (1...8).map { Bench.element("Thresholds", [v("BlockThreshold", "4294967295", index: 1)], attributes: ["index": String($0)]) })),
          priceElements(standing: standing, prices: prices))
    }

    static func priceElements(standing: Int, prices: [Int], scale: Int = -5) -> ElementTree {
        e("PriceElements", e("ElectricityPriceElements", v("StandingCharge", String(standing)), v("StandingChargeScale", "-5"), v("PriceScale", String(scale)),
                             Bench.element("TOUTariff", prices.enumerated().map { v("TOUPrice", String($0.element), index: $0.offset + 1) })))
    }

    // MARK: 1.1.1 and 1.2.1

    @Test func aNewTariffBillsFromItsActivationAndTheReadsShowIt() throws {
        let model = Bench.premises { _, profile in !profile.features.contains(.prepayment) }
        let before = PremisesState()
        var state = before
        let outcome = act("1.1.1", model, .esme, Self.touTariff(standing: 5000, prices: [10000, 30000]), &state)
        #expect(outcome.success, "\(outcome.note)")
        #expect(outcome.node?.name == "UpdateImportTariffPrimaryElementRsp")

        // The next whole day is charged at the new prices: 10p/kWh to 16:00, 30p/kWh after, 5p a day.
        let next = Self.day + 1
        let readings = engine.readings(model, state, day: next)
        var expected: Int64 = 5000 * 1000
        for slot in 0..<48 { expected += Int64(readings.importWh[slot]) * (slot < 32 ? 10000 : 30000) }
        let cost = engine.checkpoint(model, state, day: next + 1).electricityCost - engine.checkpoint(model, state, day: next).electricityCost
        #expect(cost == expected)

        // Before the change nothing moved: the registers at today's start, and the half hours
        // completed before 13:17 (the change's half hour is the first at the new prices).
        #expect(engine.checkpoint(model, state, day: Self.day) == engine.checkpoint(model, before, day: Self.day))
        let (nowOld, _, _) = engine.snapshot(model, before, at: Bench.now)
        var (nowNew, _, _) = engine.snapshot(model, state, at: Bench.now)
        #expect(nowNew.changeBilling.count == 1)
        nowNew.changeBilling = []
        #expect(nowNew == nowOld)

        // 4.11.1 reads what was written; the active price is rate 1's (13:17).
        let tariff = ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state)
        #expect(Self.value(tariff, "PrimaryActiveTariffPrice") == "10000")
        #expect(Self.value(tariff, "PriceScale") == "-5")
        #expect(Self.value(tariff, "StandingCharge") == "5000")
        #expect(Array(Bench.values(tariff, "TariffTOUPrice").prefix(3)) == ["10000", "30000", "0"])
        #expect(Bench.values(tariff, "StartTime") == ["00:00:00.00Z", "16:00:00.00Z"])
        #expect(Self.value(tariff, "SeasonName") == "all")

        // 4.4.2: the change took a billing data log entry with the registers as they stood.
        let log = ask("4.4.2", "RetrieveCoMOrTariffTriggeredBillingDataLog", model, .esme, state, [Bench.period(Bench.now.adding(days: -1), Bench.now)])
        #expect(Bench.values(log, "Timestamp") == [Bench.now.iso8601, Bench.now.iso8601])
        #expect(Self.value(log, "ActiveImportRegisterConsumption") == String(nowOld.importWh))

        // 1.2.1 at the next midnight but one: new prices (at scale −4: 20p and 40p) on the same
        // switching table, from then on.
        let later = DayReadings.slotStart(day: next + 1, slot: 0)
        let costBefore = cost
        let prices = act("1.2.1", model, .esme, Self.e("UpdatePricePrimaryElement", Self.priceElements(standing: 6000, prices: [2000, 4000], scale: -4)), &state, at: later)
        #expect(prices.success, "\(prices.note)")
        let readings2 = engine.readings(model, state, day: next + 1)
        var expected2: Int64 = 6000 * 1000
        for slot in 0..<48 { expected2 += Int64(readings2.importWh[slot]) * (slot < 32 ? 20000 : 40000) }
        #expect(engine.checkpoint(model, state, day: next + 2).electricityCost - engine.checkpoint(model, state, day: next + 1).electricityCost == expected2)
        #expect(engine.checkpoint(model, state, day: next + 1).electricityCost - engine.checkpoint(model, state, day: next).electricityCost == costBefore)
        let tariff2 = ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state, at: later)
        #expect(Array(Bench.values(tariff2, "TariffTOUPrice").prefix(2)) == ["2000", "4000"])
        #expect(Self.value(tariff2, "PriceScale") == "-4")
        #expect(Self.value(tariff2, "PrimaryActiveTariffPrice") == "2000")
        #expect(Bench.values(tariff2, "StartTime") == ["00:00:00.00Z", "16:00:00.00Z"], "1.2.1 keeps the switching table")
    }

    @Test func aBlockTariffClimbsItsBlocksAnd1_7StartsThemAgain() throws {
        let model = Bench.premises { _, profile in !profile.features.contains(.prepayment) }
        var state = PremisesState()
        let body = Self.e("UpdateImportTariffPrimaryElement",
            Self.e("ElecTariffElements", Self.v("CurrencyUnits", "GBP"),
                   Self.e("SwitchingTable",
                          Self.e("DayProfiles", Self.e("DayProfile", Self.v("DayName", "1"),
                                                       Self.e("ProfileSchedule", Self.v("StartTime", "00:00:00.00Z"), Self.v("BlockTariffAction", "1")))),
                          Self.e("WeekProfiles", Self.week(1, Array(repeating: 1, count: 7))),
                          Self.e("Seasons", Self.season("all", week: 1))),
                   Self.e("SpecialDays"),
                   Self.e("ThresholdMatrix", Bench.element("Thresholds", [Self.v("BlockThreshold", "1000", index: 1), Self.v("BlockThreshold", "2000", index: 2)],
                                                           attributes: ["index": "1"]))),
            Self.e("PriceElements", Self.e("ElectricityPriceElements", Self.v("StandingCharge", "0"), Self.v("StandingChargeScale", "-5"), Self.v("PriceScale", "-5"),
                                           Self.e("BlockTariff", Bench.element("BlockPrices", [Self.v("BlockPrice", "1000", index: 1), Self.v("BlockPrice", "2000", index: 2),
                                                                                               Self.v("BlockPrice", "3000", index: 3)], attributes: ["index": "1"])))))
        #expect(act("1.1.1", model, .esme, body, &state).success)

        // Right after the change no block consumption yet: block 1's price is active.
        #expect(Self.value(ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state), "PrimaryActiveTariffPrice") == "1000")
        // Each half hour of the next day at the price of the block its counter had reached.
        let next = Self.day + 1
        let opening = engine.checkpoint(model, state, day: next)
        let readings = engine.readings(model, state, day: next)
        var used = opening.blockCounters.prefix(4).reduce(0, +)
        if engine.checkpoint(model, state, day: next).periodStart != MeterEngine.monthStart(next) { used = 0 }
        var expected: Int64 = 0
        for slot in 0..<48 {
            let price: Int64 = used >= 2000 ? 3000 : (used >= 1000 ? 2000 : 1000)
            expected += Int64(readings.importWh[slot]) * price
            used += Int64(readings.importWh[slot])
        }
        let closing = engine.checkpoint(model, state, day: next + 1)
        if MeterEngine.monthStart(next) != next {
            #expect(closing.electricityCost - opening.electricityCost == expected)
        }
        // A day on, past 2 kWh this period: block 3's price.
        let later = Bench.now.adding(days: 1)
        let (now, _, _) = engine.snapshot(model, state, at: later)
        if now.blockCounters.prefix(4).reduce(0, +) >= 2000 {
            #expect(Self.value(ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state, at: later), "PrimaryActiveTariffPrice") == "3000")
        }
        // 1.7: the counters start again, consumption is charged at block 1.
        let reset = act("1.7", model, .esme, Self.e("ResetTariffBlockCounterMatrix"), &state, at: later)
        #expect(reset.success && reset.node?.name == "ResetTariffBlockCounterMatrixRsp")
        #expect(Self.value(ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state, at: later), "PrimaryActiveTariffPrice") == "1000")
        #expect(Self.value(ask("4.1.3", "ReadInstantaneousImportTOUWithBlocksMatrices", model, .esme, state, at: later), "CounterMatrixTOUValue") == "0")
        if model.hasGas { #expect(!act("1.7", model, .gsme, Self.e("ResetTariffBlockCounterMatrix"), &state, at: later).success) }
    }

    @Test func aGasTariffFollowsItsWeekAndTheReadShowsIt() throws {
        let model = Bench.premises { premises, profile in premises.traits.hasGasMeter && !profile.features.contains(.prepayment) }
        var state = PremisesState()
        let body = Self.e("UpdateImportTariffPrimaryElement",
            Self.e("GasTariffElements",
                   Self.e("SwitchingTable",
                          Self.e("DayProfiles", Self.e("DayProfile", Self.v("DayName", "1"), Self.v("TOUTariffAction", "1")),
                                 Self.e("DayProfile", Self.v("DayName", "2"), Self.v("TOUTariffAction", "2"))),
                          Self.e("WeekProfiles", Self.week(1, [1, 1, 1, 1, 1, 2, 2])),
                          Self.e("Seasons", Self.e("Season", Bench.element("SeasonStartDate", Self.date(month: 1, day: 1, gas: true)), Self.v("ReferencedWeekName", "1")))),
                   Self.e("SpecialDays"),
                   Self.e("ThresholdMatrix", Self.v("BlockThreshold", "100000", index: 1))),
            Self.e("PriceElements", Self.e("GasPriceElements", Self.v("CurrencyUnits", "GBP"), Self.v("StandingCharge", "20000"),
                                           Self.e("TOUTariff", Self.v("TOUPrice", "5000", index: 1), Self.v("TOUPrice", "3000", index: 2)))))
        let outcome = act("1.1.1", model, .gsme, body, &state)
        #expect(outcome.success, "\(outcome.note)")
        for next in [Self.day + 1, Self.day + 2, Self.day + 3] {
            let readings = engine.readings(model, state, day: next)
            let price: Int64 = UKCalendar.weekday(next) < 5 ? 5000 : 3000
            var expected: Int64 = 20000 * 1000
            for slot in 0..<48 { expected += Int64(model.wh(forLitres: Int64(readings.gasLitres[slot])).rounded()) * price }
            #expect(engine.checkpoint(model, state, day: next + 1).gasCost - engine.checkpoint(model, state, day: next).gasCost == expected)
        }
        let tariff = ask("4.11.1", "ReadTariffPrimaryElement", model, .gsme, state)
        #expect(Self.value(tariff, "PrimaryActiveTariffPrice") == (UKCalendar.weekday(Self.day) < 5 ? "5000" : "3000"))
        #expect(Self.value(tariff, "StandingCharge") == "20000")
        #expect(Bench.values(tariff, "TariffTOUPrice") == ["5000", "3000", "0", "0"])
        #expect(Bench.values(tariff, "BlockThreshold") == ["100.000"])
        // The electricity meter's tariff is untouched.
        #expect(Self.value(ask("4.11.1", "ReadTariffPrimaryElement", model, .esme, state), "TariffTOUPrice")
            == String(DeviceEmulator.scaled(model.electricityTariff.prices).values[0]))
    }

    // MARK: 1.1.2 and 1.2.2

    @Test func theSecondaryElementIsSetAndRead() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        #expect(Self.value(ask("4.11.2", "ReadTariffSecondaryElement", model, .esme, state), "SecondaryActiveTariffPrice") == "0")
        let body = Self.e("UpdateImportTariffSecondaryElement",
            Self.e("SwitchingTable",
                   Self.e("DayProfiles", Self.e("DayProfile", Self.v("DayName", "1"),
                                                Self.e("ProfileSchedule", Self.v("StartTime", "00:00:00.00Z"), Self.v("TOUTariffAction", "01")),
                                                Self.e("ProfileSchedule", Self.v("StartTime", "07:00:00.00Z"), Self.v("TOUTariffAction", "04")))),
                   Self.e("WeekProfiles", Self.week(1, Array(repeating: 1, count: 7))),
                   Self.e("Seasons", Self.season("winter", week: 1))),
            Self.e("SpecialDays", Self.e("SpecialDay", Bench.element("Date", Self.date(month: 12, day: 25)), Self.v("ReferencedDayName", "1"))),
            Self.e("PriceElements", Self.v("PriceScale", "-5"), Self.v("ElectricityPriceElement", "10100", index: 1), Self.v("ElectricityPriceElement", "0", index: 2),
                   Self.v("ElectricityPriceElement", "12300", index: 3), Self.v("ElectricityPriceElement", "13400", index: 4)))
        let outcome = act("1.1.2", model, .esme, body, &state)
        #expect(outcome.success && outcome.node?.name == "UpdateImportTariffSecondaryElementRsp", "\(outcome.note)")
        let read = ask("4.11.2", "ReadTariffSecondaryElement", model, .esme, state)
        #expect(Self.value(read, "SecondaryActiveTariffPrice") == "13400", "13:17 is rate 4's")
        #expect(Self.value(read, "PriceScale") == "-5")
        #expect(Bench.values(read, "TariffTOUPrice") == ["10100", "0", "12300", "13400"])
        #expect(Self.value(read, "SeasonName") == "winter")
        #expect(Self.value(read, "ReferencedDay") == "1")
        // 1.2.2: the prices alone.
        let prices = Self.e("UpdatePriceSecondaryElement", Self.e("PriceElements", Self.v("PriceScale", "-5"), Self.v("ElectricityPriceElement", "1010", index: 1),
                                                                   Self.v("ElectricityPriceElement", "1340", index: 4)))
        #expect(act("1.2.2", model, .esme, prices, &state, at: Bench.now.adding(milliseconds: 60_000)).success)
        let read2 = ask("4.11.2", "ReadTariffSecondaryElement", model, .esme, state, at: Bench.now.adding(milliseconds: 60_000))
        #expect(Bench.values(read2, "TariffTOUPrice") == ["1010", "0", "0", "1340"])
        #expect(Self.value(read2, "SecondaryActiveTariffPrice") == "1340")
        #expect(Bench.values(read2, "StartTime") == ["00:00:00.00Z", "07:00:00.00Z"])
        // A gas meter has no secondary element.
        if model.hasGas { #expect(!act("1.1.2", model, .gsme, body, &state).success) }
    }

    // MARK: 1.6

    @Test func thePaymentModeChangesWhatTheReadsAndTheBalanceDo() throws {
        let model = Bench.premises { premises, profile in profile.features.contains(.prepayment) && premises.traits.hasGasMeter }
        var state = PremisesState()
        #expect(Self.value(ask("6.2.9", "ReadDeviceConfigurationPaymentMode", model, .esme, state), "PaymentMode") == "Prepayment")
        let outcome = act("1.6", model, .esme, Self.e("UpdatePaymentMode", Self.e("Credit")), &state)
        #expect(outcome.success && outcome.node?.name == "UpdatePaymentModeRsp", "\(outcome.note)")
        #expect(Self.value(ask("6.2.9", "ReadDeviceConfigurationPaymentMode", model, .esme, state), "PaymentMode") == "Credit")
        #expect(Self.value(ask("4.13", "ReadPrepaymentConfiguration", model, .esme, state), "PaymentMode") == "Credit")
        // The gas meter keeps its own mode.
        #expect(Self.value(ask("6.2.9", "ReadDeviceConfigurationPaymentMode", model, .gsme, state), "PaymentMode") == "Prepayment")
        // In credit mode the balance no longer pays for the electricity; before, it did.
        let next = Self.day + 1
        #expect(engine.checkpoint(model, state, day: next + 1).electricityBalance == engine.checkpoint(model, state, day: next).electricityBalance)
        #expect(engine.checkpoint(model, state, day: Self.day).electricityBalance != engine.checkpoint(model, state, day: Self.day - 1).electricityBalance)
        // 4.18 now shows the credit-mode balance: what this period's charges come to.
        let (now, _, _) = engine.snapshot(model, state, at: Bench.now)
        #expect(Self.value(ask("4.18", "ReadMeterBalance", model, .esme, state), "MeterBalance") == String(-now.periodElectricityCost / MeterCheckpoint.micro))
        // 4.4.2: the change's billing data log entry, the balance as the prepayment meter showed it.
        let log = ask("4.4.2", "RetrieveCoMOrTariffTriggeredBillingDataLog", model, .esme, state, [Bench.period(Bench.now, Bench.now)])
        #expect(Bench.values(log, "Timestamp") == [Bench.now.iso8601, Bench.now.iso8601])
        let balance = engine.snapshot(model, PremisesState(), at: Bench.now).0.electricityBalancePence
        #expect(Self.value(log, "MeterBalance") == String(max(0, balance)))

        // The gas meter to prepayment with its suspend-debt settings and disablement threshold.
        let gas = Self.e("UpdatePaymentMode", Self.e("Prepayment", Self.v("SuspendDebtDisabled", "false"), Self.v("SuspendDebtEmergency", "true"),
                                                     Self.v("DisablementThreshold", "-500")))
        #expect(act("1.6", model, .gsme, gas, &state).success)
        let configuration = ask("4.13", "ReadPrepaymentConfiguration", model, .gsme, state)
        #expect(Self.value(configuration, "DisablementThreshold") == "-500")
        #expect(Self.value(configuration, "SuspendDebtDisabled") == "false")
        #expect(Self.value(configuration, "SuspendDebtEmergency") == "true")
    }

    // MARK: 2.1

    @Test func thePrepaymentConfigurationIsWhat2_1Wrote() throws {
        let model = Bench.premises { _, profile in profile.features.contains(.prepayment) }
        var state = PremisesState()
        let body = Self.e("UpdatePrepayConfiguration", Self.e("UpdatePrepayConfigElectricity",
            Self.v("DebtRecoveryRateCap", "30"), Self.v("EmergencyCreditLimit", "1500"), Self.v("EmergencyCreditThreshold", "300"),
            Self.v("LowCreditThreshold", "500"),
            Self.e("ElectricityNonDisablementCalendar",
                   Self.e("ElectricitySpecialDays", Bench.element("SpecialDay", [Bench.element("Date", Self.date(month: 12, day: 25))], attributes: ["index": "1"])),
                   Self.e("ElectricityNonDisablementSchedule", Self.v("NonDisablementScript", "START"),
                          Self.e("SpecialDaysApplicability", Self.e("SpecialDayApplicability", Self.v("SpecialDayID", "1"))),
                          Self.e("DaysOfWeekApplicability", Self.e("DayOfWeekApplicability", Self.v("DayOfWeekID", "Saturday"))),
                          Self.e("ScheduleDatesAndTime", Self.v("SwitchTime", "00:00:00.00Z"), Self.v("StartDate", "65535-01-01Z"), Self.v("EndDate", "65535-12-31Z")))),
            Self.v("MaxMeterBalance", "50000"), Self.v("MaxCreditThreshold", "2000")))
        let outcome = act("2.1", model, .esme, body, &state)
        #expect(outcome.success && outcome.node?.name == "UpdatePrepayConfigurationRsp", "\(outcome.note)")
        let read = ask("4.13", "ReadPrepaymentConfiguration", model, .esme, state)
        #expect(Self.value(read, "DebtRecoveryRateCap") == "30")
        #expect(Self.value(read, "EmergencyCreditLimit") == "1500")
        #expect(Self.value(read, "EmergencyCreditThreshold") == "300")
        #expect(Self.value(read, "LowCreditThreshold") == "500")
        #expect(Self.value(read, "CreditMaxCreditThreshold") == "2000")
        #expect(Self.value(read, "MaxCreditMaxMeterBalance") == "50000")
        #expect(Self.value(read, "DayOfWeekID") == "Saturday")
        #expect(Self.value(read, "StartDate") == "65535-01-01Z")
        // The emergency credit the meter shows follows the new limit.
        let (now, _, _) = engine.snapshot(model, state, at: Bench.now)
        let emergency = Self.value(ask("4.3", "ReadInstantaneousPrepayValues", model, .esme, state), "EmergencyCreditBalance")
        #expect(emergency == String(max(0, 1500 + min(0, now.electricityBalancePence))))
        // The engine runs the account with the new thresholds from the command on, the old before.
        #expect(MeterDayPlan(model: model, state: state, day: Self.day + 1).accounts(0).electricity.configuration.lowCreditThreshold == 500)
        #expect(MeterDayPlan(model: model, state: state, day: Self.day).accounts(0).electricity.configuration.lowCreditThreshold
            == model.prepaymentConfiguration.lowCreditThreshold)
        #expect(MeterDayPlan(model: model, state: state, day: Self.day).accounts(47).electricity.configuration.emergencyCreditLimit == 1500)
    }

    // MARK: 1.5

    @Test func meterBalanceAdjustmentsMoveTheBalance() throws {
        let model = Bench.premises { premises, profile in profile.features.contains(.prepayment) && premises.traits.hasGasMeter }
        var state = PremisesState()
        let before = engine.snapshot(model, state, at: Bench.now).0
        let adjust = act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("PrepaymentMode", Self.v("AdjustMeterBalance", "1234"))), &state)
        #expect(adjust.success && adjust.node?.name == "UpdateMeterBalanceRsp", "\(adjust.note)")
        let after = engine.snapshot(model, state, at: Bench.now).0
        #expect(after.electricityBalancePence - before.electricityBalancePence == 1234)
        #expect(after.gasBalance == before.gasBalance)
        #expect(Self.value(ask("4.18", "ReadMeterBalance", model, .esme, state), "MeterBalance") == String(max(0, after.electricityBalancePence)))
        // Nothing before the adjustment moved.
        #expect(engine.checkpoint(model, state, day: Self.day) == engine.checkpoint(model, PremisesState(), day: Self.day))

        // A reset zeroes an ESME's balance and its debts.
        let later = Bench.now.adding(milliseconds: Self.hour)
        #expect(act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("PrepaymentMode", Self.e("ResetMeterBalance"))), &state, at: later).success)
        let values = ask("4.3", "ReadInstantaneousPrepayValues", model, .esme, state, at: later)
        #expect(Self.value(values, "MeterBalance") == "0")
        #expect(Self.value(values, "AccumulatedDebtRegister") == "0")

        // An ESME has one balance; a GSME in credit mode has its own.
        #expect(!act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("CreditMode", Self.v("AdjustMeterBalance", "10"))), &state, at: later).success)
        #expect(act("1.6", model, .gsme, Self.e("UpdatePaymentMode", Self.e("Credit")), &state, at: later).success)
        let credit = Int64(Self.value(ask("4.18", "ReadMeterBalance", model, .gsme, state, at: later), "MeterBalance") ?? "") ?? 0
        #expect(act("1.5", model, .gsme, Self.e("UpdateMeterBalance", Self.e("CreditMode", Self.v("AdjustMeterBalance", "70"))), &state, at: later).success)
        #expect(Int64(Self.value(ask("4.18", "ReadMeterBalance", model, .gsme, state, at: later), "MeterBalance") ?? "") == credit + 70)
        // Hostile: not a number.
        let refused = act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("PrepaymentMode", Self.v("AdjustMeterBalance", "12e9"))), &state, at: later)
        #expect(!refused.success && refused.node?.name == "UpdateMeterBalanceRsp")
    }

    // MARK: 2.3

    @Test func debtIsAddedAndRecoveredAtItsRates() throws {
        let model = Bench.premises { _, profile in profile.features.contains(.prepayment) }
        var state = PremisesState()
        let before = engine.snapshot(model, state, at: Bench.now).0
        let body = Self.e("UpdateDebt", Self.v("TimeDebtRegister1", "3000"), Self.v("TimeDebtRegister2", "1500"), Self.v("PaymentDebtRegister", "5000"),
                          Self.v("DebtRecoveryPerPayment", "1000"),
                          Self.e("ElecDebtRecovery1", Self.v("DebtRecoveryRate", "3"), Self.v("DebtRecoveryRatePriceScale", "-1"), Self.v("DebtRecoveryRatePeriod", "DAILY")),
                          Self.e("ElecDebtRecovery2", Self.v("DebtRecoveryRate", "15"), Self.v("DebtRecoveryRatePriceScale", "-1"), Self.v("DebtRecoveryRatePeriod", "DAILY")))
        let outcome = act("2.3", model, .esme, body, &state)
        #expect(outcome.success && outcome.node?.name == "UpdateDebtRsp", "\(outcome.note)")
        let after = engine.snapshot(model, state, at: Bench.now).0
        #expect(after.timeDebt == before.timeDebt + 3000)
        #expect(after.timeDebt2 == 1500)
        #expect(after.paymentDebt == before.paymentDebt + 5000)
        let values = ask("4.3", "ReadInstantaneousPrepayValues", model, .esme, state)
        #expect(Self.value(values, "TimeDebtRegister1") == String(after.timeDebt))
        #expect(Self.value(values, "TimeDebtRegister2") == "1500")
        #expect(Self.value(values, "PaymentDebtRegister") == String(after.paymentDebt))
        #expect(Self.value(values, "AccumulatedDebtRegister") == String(after.timeDebt + 1500 + after.paymentDebt))
        let configuration = ask("4.13", "ReadPrepaymentConfiguration", model, .esme, state)
        #expect(Self.value(configuration, "DebtRecoveryPerPayment") == "1000")
        #expect(Bench.values(configuration, "DebtRecoveryRate") == ["3", "15"])
        #expect(Bench.values(configuration, "DebtRecoveryRatePriceScale") == ["-1", "-1"])
        // At the next midnight: 0.3 GBP × 10 = 30p of debt 1 and 150p of debt 2.
        let midnight = engine.checkpoint(model, state, day: Self.day + 2)
        #expect(midnight.timeDebt2 == 1500 - 150)
        #expect(midnight.timeDebt == after.timeDebt - 30)
        let log = ask("4.14", "ReadPrepaymentDailyReadLog", model, .esme, state, at: Bench.now.adding(days: 2),
                            [Bench.period(DayReadings.slotStart(day: Self.day + 2, slot: 0), DayReadings.slotStart(day: Self.day + 2, slot: 0))])
        #expect(Self.value(log, "TimeDebtRegisters2") == "1350")
        // A negative recovery rate is refused.
        var hostile = body
        hostile.children[4] = Self.e("ElecDebtRecovery1", Self.v("DebtRecoveryRate", "-3"), Self.v("DebtRecoveryRatePriceScale", "-1"), Self.v("DebtRecoveryRatePeriod", "DAILY"))
        #expect(!act("2.3", model, .esme, hostile, &state).success)
    }

    // MARK: 2.5

    @Test func emergencyCreditIsActivatedOnlyBelowItsThreshold() throws {
        let model = Bench.premises { _, profile in profile.features.contains(.prepayment) }
        var state = PremisesState()
        act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("PrepaymentMode", Self.v("AdjustMeterBalance", "100000"))), &state)
        let refused = act("2.5", model, .esme, Self.e("ActivateEmergencyCredit"), &state)
        #expect(!refused.success && refused.node?.name == "ActivateEmergencyCreditRsp", "\(refused.note)")
        let later = Bench.now.adding(milliseconds: 60_000)
        act("1.5", model, .esme, Self.e("UpdateMeterBalance", Self.e("PrepaymentMode", Self.e("ResetMeterBalance"))), &state, at: later)
        let accepted = act("2.5", model, .esme, Self.e("ActivateEmergencyCredit"), &state, at: later)
        #expect(accepted.success, "\(accepted.note)")
        let log = ask("6.13", "ReadEventOrSecurityLog", model, .esme, state, at: later,
                            [Self.v("LogToRead", "Event"), Bench.period(Bench.now, later)])
        #expect(Bench.values(log, "LogCode").contains("81AB"))
    }

    // MARK: History and state

    /// A change to what is already in force changes nothing the engine computes, before or
    /// after it: the settings-history path bills exactly as the model's own.
    @Test func aChangeToTheSameSettingsLeavesEveryNumberAlone() throws {
        let model = Bench.premises { premises, profile in profile.features.contains(.prepayment) && premises.traits.hasGasMeter }
        let config = model.prepaymentConfiguration
        var state = PremisesState()
        let body = Self.e("UpdatePaymentMode", Self.e("Prepayment", Self.v("SuspendDebtDisabled", String(config.suspendDebtDisabled)),
                                                      Self.v("SuspendDebtEmergency", String(config.suspendDebtEmergency)),
                                                      Self.v("DisablementThreshold", String(config.disablementThreshold))))
        #expect(act("1.6", model, .esme, body, &state, at: Bench.now.adding(days: -20)).success)
        for day in [Self.day - 40, Self.day - 20, Self.day - 19, Self.day, Self.day + 3] {
            var changed = engine.checkpoint(model, state, day: day)
            changed.changeBilling = []
            #expect(changed == engine.checkpoint(model, PremisesState(), day: day), "day \(day)")
        }
        // And the state survives the store.
        let decoded = try JSONDecoder().decode(PremisesState.self, from: try JSONEncoder().encode(state))
        #expect(decoded == state)
        #expect(try JSONDecoder().decode(PremisesState.self, from: try JSONEncoder().encode(PremisesState())).meterSettingsChanges == nil)
    }

    @Test func valuesAMeterCannotTakeAreRefusedAndChangeNothing() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        // A price beyond any a meter charges.
        var scaled = Self.touTariff(standing: 5000, prices: [10000, 30000])
        scaled.children[1] = Self.e("PriceElements", Self.e("ElectricityPriceElements", Self.v("StandingCharge", "1"), Self.v("StandingChargeScale", "-5"),
                                                            Self.v("PriceScale", "120"), Self.e("TOUTariff", Self.v("TOUPrice", "5", index: 1))))
        // A week of six days; a week naming a day profile the table does not have.
        var sixDays = Self.touTariff(standing: 5000, prices: [10000])
        sixDays.children[0].children[1].children[1] = Self.e("WeekProfiles", Self.week(1, Array(repeating: 1, count: 6)))
        var dangling = Self.touTariff(standing: 5000, prices: [10000])
        dangling.children[0].children[1].children[1] = Self.e("WeekProfiles", Self.week(1, [1, 1, 1, 1, 1, 1, 9]))
        for body in [scaled, sixDays, dangling, Self.e("UpdateImportTariffPrimaryElement")] {
            let outcome = act("1.1.1", model, .esme, body, &state)
            #expect(!outcome.success && outcome.node?.name == "UpdateImportTariffPrimaryElementRsp", "\(outcome.note)")
        }
        #expect(state == PremisesState())
        // Not this family's SRV.
        #expect(act("7.1", model, .esme, Self.e("EnableSupply"), &state).node == nil)
    }
}
