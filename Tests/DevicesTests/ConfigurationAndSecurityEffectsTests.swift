import Crypto
import DUIS
import Foundation
import GBCS
import MMC
import SMKI
import Testing
@testable import Devices

/// The critical configuration and security commands acting on the emulated devices: each
/// command is run as the device runs it once authenticated (`actOnConfigurationAndSecurity`),
/// and its effect checked through a later read, the engine's numbers or a later command's
/// authentication.
@Suite struct ConfigurationAndSecurityEffectsTests {
    /// Runs a command of the family on its device, as `runCritical` does after authentication.
    static func act(_ srv: SRV, _ model: PremisesModel, _ type: DeviceType, _ body: ElementTree, _ state: inout PremisesState,
                    at time: Timestamp = Bench.now, emulator: DeviceEmulator = Bench.emulator,
                    roles: UserRoleSet = [.is, .gs]) throws -> (rsp: DataNode, success: Bool, note: String, alerts: [DeviceAlert]) {
        let command = Bench.command(srv, model, type, body: body, roles: roles)
        var context = DeviceEmulator.Context(command: command, model: model, time: time, engine: Bench.engine)
        let rsp = try #require(emulator.actOnConfigurationAndSecurity(&context, &state))
        if context.changed { state.touch() }
        return (rsp, context.success, context.note, context.alerts)
    }

    /// A non-critical read, as the hub sends it.
    static func read(_ srv: SRV, _ model: PremisesModel, _ type: DeviceType, _ body: ElementTree, _ state: inout PremisesState,
                     at time: Timestamp = Bench.now, emulator: DeviceEmulator = Bench.emulator) -> DataNode {
        emulator.execute(Bench.command(srv, model, type, body: body), model: model, state: &state, at: time).response.body
    }

    static func el(_ name: String, _ children: [ElementTree] = [], text: String = "", attributes: [String: String] = [:]) -> ElementTree {
        Bench.element(name, children, text: text, attributes: attributes)
    }

    static func leaf(_ name: String, _ text: String) -> ElementTree { el(name, text: text) }

    static func at(_ day: Int32, _ hour: Int, _ minute: Int = 0) -> Timestamp {
        Timestamp(dayNumber: day, millisecond: Int64(hour * 3_600_000 + minute * 60_000))
    }

    static let gasHome = Bench.premises { premises, profile in premises.traits.hasGasMeter && !profile.features.contains(.prepayment) }

    // MARK: - Load limiting, gas, billing, clock, tamper, block counters

    @Test func loadLimitingIsReadBackAndCountsExceedances() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        let later = Bench.now.adding(days: 2)
        // A threshold half the largest half-hourly power of the next two days: exceeded at least once.
        var peak = 0
        for day in Bench.now.day.number...later.day.number {
            let readings = Bench.engine.readings(model, state, day: day)
            for slot in 0..<48 where DayReadings.slotStart(day: day, slot: slot) >= Bench.now && DayReadings.slotStart(day: day, slot: slot + 1) <= later {
                peak = max(peak, Int(readings.importWh[slot]) * 2)
            }
        }
        let threshold = max(1, peak / 2)
        let body = Self.el("UpdateDeviceConfigurationLoadLimitingGeneralSettings", [
            Self.leaf("LoadLimitPeriod", "1800"), Self.leaf("LoadLimitPowerThreshold", String(threshold)),
            Self.leaf("LoadLimitRestorationPeriod", "30"), Self.leaf("LoadLimitSupplyState", "Disable"),
        ])
        let done = try Self.act("6.4.1", model, .esme, body, &state)
        #expect(done.success && done.rsp.name == "UpdateDeviceConfigurationLoadLimitingGeneralSettingsRsp")
        let data = Self.read("4.15", model, .esme, Self.el("ReadLoadLimitData"), &state, at: later)
        #expect(Bench.values(data, "LoadLimitPowerThreshold") == [String(threshold)])
        #expect(Bench.values(data, "LoadLimitPeriod") == ["1800"])
        #expect(Bench.values(data, "LoadLimitSupplyState") == ["Disable"])
        let counted = Int(Bench.values(data, "LoadLimitCounterValue").first ?? "") ?? 0
        #expect(counted >= 1)
        // 6.4.2 resets the counter: nothing counted since.
        _ = Self.read("6.4.2", model, .esme, Self.el("UpdateDeviceConfigurationLoadLimitingCounterReset"), &state, at: later)
        #expect(Bench.values(Self.read("4.15", model, .esme, Self.el("ReadLoadLimitData"), &state, at: later), "LoadLimitCounterValue") == ["0"])
        // A hostile value is refused and changes nothing.
        var other = PremisesState()
        let bad = try Self.act("6.4.1", model, .esme, Self.el("UpdateDeviceConfigurationLoadLimitingGeneralSettings", [Self.leaf("LoadLimitPeriod", "-1")]), &other)
        #expect(!bad.success && other.loadLimit == nil)
    }

    @Test func gasConversionPricesTheGasMeasuredAfterIt() throws {
        let model = Self.gasHome
        let gasTariff = try #require(model.gasTariff)
        var state = PremisesState()
        let before = PremisesState()
        let body = Self.el("UpdateDeviceConfigurationGasConversion", [Self.leaf("CalorificValue", "40.0"), Self.leaf("ConversionFactor", "1.02264")])
        let done = try Self.act("6.6", model, .gsme, body, &state)
        #expect(done.success, "\(done.note)")
        let gas = Self.read("6.2.8", model, .gsme, Self.el("ReadDeviceConfigurationGas"), &state)
        #expect(Bench.values(gas, "CalorificValue") == ["40.000"])
        #expect(Bench.values(gas, "ConversionFactor") == ["1.02264"])
        // A day after the change: the same litres, priced at the new CV.
        let day = Bench.now.day.number + 2
        func dayCost(_ state: PremisesState) -> (cost: Int64, litres: Int64) {
            let open = Bench.engine.checkpoint(model, state, day: day)
            let close = Bench.engine.checkpoint(model, state, day: day + 1)
            return (close.gasCost - open.gasCost - Int64(gasTariff.standingCharge) * 1000, close.gasLitres - open.gasLitres)
        }
        let (old, oldLitres) = dayCost(before)
        let (new, newLitres) = dayCost(state)
        #expect(oldLitres == newLitres && newLitres > 0)
        let readings = Bench.engine.readings(model, state, day: day)
        var expected: Int64 = 0
        for slot in 0..<48 { expected += Int64((Double(readings.gasLitres[slot]) * 40_000 * 1_022_640 / 3.6 / 1_000_000_000).rounded()) * Int64(gasTariff.price) }
        #expect(new == expected)
        #expect(old < new)
        // Gas measured before the change keeps its price.
        let earlier = Bench.now.day.number - 3
        #expect(Bench.engine.checkpoint(model, state, day: earlier).gasCost == Bench.engine.checkpoint(model, before, day: earlier).gasCost)
        // (Fleet homes' CVs are 39.2 to 39.8 MJ/m³: a litre is worth more at 40.)
        #expect(state.gasWh(litres: 1000, at: Bench.now.adding(days: 1), model: model) > state.gasWh(litres: 1000, at: Bench.now.adding(days: -1), model: model))
        // A CV no gas has is refused.
        let bad = try Self.act("6.6", model, .gsme, Self.el("UpdateDeviceConfigurationGasConversion", [Self.leaf("CalorificValue", "429496729.5"), Self.leaf("ConversionFactor", "1")]), &state)
        #expect(!bad.success && state.gasConversions?.count == 1)
    }

    @Test func gasFlowAndTamperStatesAreReadAndLockTheValve() throws {
        let model = Self.gasHome
        var state = PremisesState()
        let body = Self.el("UpdateDeviceConfigurationGasFlow", [
            Self.leaf("UncontrolledGasFlowRate", "61680"), Self.leaf("SupplyDepletionState", "Unchanged"), Self.leaf("SupplyTamperState", "Locked"),
            Self.leaf("StabilisationPeriod", "60"), Self.leaf("MeasurementPeriod", "300"),
        ])
        #expect(try Self.act("6.7", model, .gsme, body, &state).success)
        let gas = Self.read("6.2.8", model, .gsme, Self.el("ReadDeviceConfigurationGas"), &state)
        #expect(Bench.values(gas, "UncontrolledGasFlowRate") == ["6.1680"])
        #expect(Bench.values(gas, "FlowStabilisationPeriod") == ["60"] && Bench.values(gas, "FlowMeasurementPeriod") == ["300"])
        let identity = Self.read("6.2.4", model, .gsme, Self.el("ReadDeviceConfigurationIdentityExcMPxN"), &state)
        #expect(Bench.values(identity, "SupplyTamperState") == ["Locked"] && Bench.values(identity, "SupplyDepletionState") == ["Unchanged"])
        // A tamper now closes the valve.
        let locked = state.lockSupplyAfterTamper(.gas, at: Bench.now)
        #expect(locked)
        #expect(Bench.values(Self.read("7.4", model, .gsme, Self.el("ReadSupplyStatus"), &state), "SupplyState") == ["Disabled"])
    }

    @Test func electricitySupplyTamperStateLocksTheSupplyOnATamper() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        let unlocked = state.lockSupplyAfterTamper(.electricity, at: Bench.now)
        #expect(!unlocked, "unconfigured: the supply stays on")
        #expect(try Self.act("6.25", model, .esme, Self.el("SetElectricitySupplyTamperState", [Self.leaf("SupplyTamperState", "Locked")]), &state).success)
        let identity = Self.read("6.2.4", model, .esme, Self.el("ReadDeviceConfigurationIdentityExcMPxN"), &state)
        #expect(Bench.values(identity, "SupplyTamperState") == ["Locked"])
        let tamper = Bench.now.adding(milliseconds: 3_600_000)
        let locked = state.lockSupplyAfterTamper(.electricity, at: tamper)
        #expect(locked)
        #expect(state.electricityState == .disabled)
        // No consumption once the supply is off.
        let next = Bench.engine.readings(model, state, day: tamper.day.number + 1)
        #expect(next.importTotal == 0)
    }

    @Test func billingCalendarsMoveTheBillingDataLog() throws {
        let model = Self.gasHome
        var state = PremisesState()
        let today = Bench.now.day.number
        let electricity = Self.el("UpdateDeviceConfigurationBillingCalendar", [Self.el("ElectricityBillingCalendar", [Self.leaf("BillingTime", "12:00:00.00Z"), Self.el("Daily")])])
        #expect(try Self.act("6.8", model, .esme, electricity, &state).success)
        let gasStart = Self.at(today + 1, 6)
        let gas = Self.el("UpdateDeviceConfigurationBillingCalendar", [Self.el("GasBillingCalendar", [Self.leaf("BillingPeriodStart", gasStart.iso8601), Self.leaf("Periodicity", "Daily")])])
        #expect(try Self.act("6.8", model, .gsme, gas, &state).success)
        // 6.2.3 reads them back.
        let calendar = Self.read("6.2.3", model, .esme, Self.el("ReadDeviceConfigurationBillingCalendar"), &state)
        #expect(Bench.values(calendar, "BillingTime") == ["12:00:00.00Z"] && calendar.find("Daily") != nil)
        let gasCalendar = Self.read("6.2.3", model, .gsme, Self.el("ReadDeviceConfigurationBillingCalendar"), &state)
        #expect(Bench.values(gasCalendar, "Periodicity") == ["Daily"] && Bench.values(gasCalendar, "BillingPeriodStart") == [gasStart.iso8601])
        // Three days on: electricity billed at noon (not today: it was set after noon), gas at six.
        let later = Self.at(today + 3, 13, 17)
        let period = Bench.period(Self.at(today, 0), later)
        let electricityLog = Self.read("4.4.3", model, .esme, Self.el("RetrieveBillingCalendarTriggeredBillingDataLog", [period]), &state, at: later)
        let electricityTimes = Set(Bench.values(electricityLog, "Timestamp"))
        #expect(electricityTimes == Set((1...3).map { Self.at(today + Int32($0), 12).iso8601 }))
        let gasLog = Self.read("4.4.3", model, .gsme, Self.el("RetrieveBillingCalendarTriggeredBillingDataLog", [period]), &state, at: later)
        #expect(Set(Bench.values(gasLog, "Timestamp")) == Set((1...3).map { Self.at(today + Int32($0), 6).iso8601 }))
        // The electricity period (and its block counter) restarted at noon.
        let (_, readings, _) = Bench.engine.snapshot(model, state, at: later)
        let blocks = Self.read("4.1.3", model, .esme, Self.el("ReadInstantaneousImportTOUWithBlocksMatrices"), &state, at: later)
        #expect(Bench.values(blocks, "CounterMatrixTOUValue") == [String(Int64(readings.importWh[24]) + Int64(readings.importWh[25]))])
    }

    @Test func dailyBlockCounterResetRestartsTheCounterAtMidnight() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        let later = Self.at(Bench.now.day.number + 2, 13, 17)
        let before = Self.read("4.1.3", model, .esme, Self.el("ReadInstantaneousImportTOUWithBlocksMatrices"), &state, at: later)
        #expect(try Self.act("6.26", model, .esme, Self.el("UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix",
                                                            [Self.leaf("DailyTariffBlockCounterMatrixReset", "true")]), &state).success)
        let after = Self.read("4.1.3", model, .esme, Self.el("ReadInstantaneousImportTOUWithBlocksMatrices"), &state, at: later)
        let readings = Bench.engine.readings(model, state, day: later.day.number)
        let sinceMidnight = (0..<26).reduce(Int64(0)) { $0 + Int64(readings.importWh[$1]) }
        #expect(Bench.values(after, "CounterMatrixTOUValue") == [String(sinceMidnight)])
        #expect(Bench.values(before, "CounterMatrixTOUValue") != Bench.values(after, "CounterMatrixTOUValue"))
    }

    @Test func clockSynchronisationAndCommissioningAreLogged() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        let esme = try #require(model.device(.esme)).eui
        func clock(_ element: String, _ current: Timestamp) -> ElementTree {
            Self.el(element, [Self.leaf("CurrentDateTime", current.iso8601), Self.leaf("TolerancePeriod", "60")])
        }
        let good = try Self.act("6.11", model, .esme, clock("SynchroniseClock", Bench.now.adding(milliseconds: -10_000)), &state)
        #expect(good.success && good.rsp.name == "SynchroniseClockRsp")
        #expect(Bench.values(good.rsp, "TimeStatus") == ["reliable"] && Bench.values(good.rsp, "DeviceTime") == [Bench.now.iso8601])
        let bad = try Self.act("6.11", model, .esme, clock("SynchroniseClock", Bench.now.adding(milliseconds: -600_000)), &state)
        #expect(!bad.success && Bench.values(bad.rsp, "TimeStatus") == ["unreliable"])
        let commissioned = try Self.act("8.1.1", model, .esme, clock("CommissionDeviceSynchroniseClock", Bench.now), &state)
        #expect(commissioned.success && commissioned.rsp.name == "CommissionDeviceSynchroniseClockRsp")
        #expect(state.commissionedAt?[esme] == Bench.now)
        let log = Self.read("6.13", model, .esme, Self.el("ReadEventOrSecurityLog", [Self.leaf("LogToRead", "Event"),
                                                                                    Bench.period(Bench.now.adding(milliseconds: -1), Bench.now)]), &state)
        let codes = Bench.values(log, "LogCode")
        #expect(codes.contains("8F69") && codes.contains("81C6") && codes.contains("8145"))
        // A gas meter answers with its ASN.1 status.
        let gasModel = Self.gasHome
        var gasState = PremisesState()
        let gas = try Self.act("6.11", gasModel, .gsme, clock("SynchroniseClock", Bench.now), &gasState)
        #expect(gas.success && gas.rsp.find("GasClockTimeStatus")?.attribute("ResponseCode") == "0")
    }

    // MARK: - Auxiliary load control

    static func dates(_ start: (Int?, Int?), _ end: (Int?, Int?)) -> [ElementTree] {
        func date(_ name: String, _ month: Int?, _ day: Int?) -> ElementTree {
            el(name, [
                el("Year", [el("NonSpecifiedYear")]),
                el("Month", [month.map { leaf("SpecifiedMonth", String($0)) } ?? el("NonSpecifiedMonth")]),
                el("DayOfMonth", [day.map { leaf("SpecifiedDayOfMonth", String($0)) } ?? el("NonSpecifiedDayOfMonth")]),
                el("DayOfWeek", [el("NonSpecifiedDayOfWeek")]),
            ])
        }
        return [date("StartDate", start.0, start.1), date("EndDate", end.0, end.1)]
    }

    static let everyDay = el("DaysOfWeekApplicability", DeviceEmulator.weekdayNames.map { el("DayOfWeekApplicability", [leaf("DayOfWeekID", $0)]) })

    static func switchEntry(_ index: Int, on: Bool, at time: String) -> ElementTree {
        el("ALCSHCALCSConnectionSchedule", [
            el("ActivateDeactivateSwitch", [el(on ? "ActivateSwitch" : "DeactivateSwitch")], attributes: ["index": String(index)]),
            everyDay,
            el("ALCSScheduleDatesAndTime", [leaf("SwitchTime", time)] + dates((nil, nil), (nil, nil))),
        ])
    }

    @Test func auxiliaryLoadSwitchesFollowTheirCalendarAndCommands() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        // 7.12: no randomised offset, so the calendar switches on the minute.
        #expect(try Self.act("7.12", model, .esme, Self.el("SetRandomisedOffsetLimit", [Self.leaf("RandomisedOffsetLimit", "0")]), &state).success)
        let randomisation = Self.read("6.2.2", model, .esme, Self.el("ReadDeviceConfigurationRandomisation"), &state)
        #expect(Bench.values(randomisation, "RandomisedOffsetLimit") == ["0"] && Bench.values(randomisation, "RandomisedOffset") == ["0"])
        let descriptions = Self.el("UpdateDeviceConfigurationALCDescriptions", [
            Self.el("ALCSHCALCSDescription", [Self.leaf("SwitchDescription", "Immersion heater")], attributes: ["index": "2"]),
        ])
        #expect(try Self.act("6.14.1", model, .esme, descriptions, &state).success)
        let calendar = Self.el("UpdateDeviceConfigurationALCScheduler", [
            Self.switchEntry(2, on: true, at: "06:00:00.00Z"), Self.switchEntry(2, on: false, at: "10:00:00.00Z"),
            Self.el("ALCSHCALCSSpecialDays"),
            Self.el("SwitchTypeAndId", [Self.el("ALCS")], attributes: ["index": "2"]),
        ])
        let scheduled = try Self.act("6.14.2", model, .esme, calendar, &state)
        #expect(scheduled.success, "\(scheduled.note)")
        let tomorrow = Bench.now.day.number + 1
        func switchState(_ index: Int, at time: Timestamp) -> String? {
            let data = Self.read("7.7", model, .esme, Self.el("ReadALCSData"), &state, at: time)
            return data.all("AuxiliaryLoadControlSwitch").first { $0.attribute("Index") == String(index) }?.child("State")?.text
        }
        #expect(switchState(2, at: Self.at(tomorrow, 6, 1)) == "true")
        #expect(switchState(2, at: Self.at(tomorrow, 5, 59)) == "false")
        #expect(switchState(2, at: Self.at(tomorrow, 10, 30)) == "false")
        let data = Self.read("7.7", model, .esme, Self.el("ReadALCSData"), &state, at: Self.at(tomorrow, 8))
        let second = try #require(data.all("AuxiliaryLoadControlSwitch").first { $0.attribute("Index") == "2" })
        #expect(second.child("Description")?.text == "Immersion heater" && second.find("ALCS") != nil)
        #expect(data.all("ALCSScheduler").count == 2)
        // 7.5 holds switch 3 on for 30 minutes; 7.6 switch 2 off; 7.8 gives switch 2 back to its calendar.
        let on = Self.el("ActivateAuxiliaryLoad", [Self.el("ActivateALCSHCALCS", [Self.leaf("Duration", "30")], attributes: ["index": "3"])])
        let morning = Self.at(tomorrow, 8)
        #expect(try Self.act("7.5", model, .esme, on, &state, at: morning).success)
        #expect(switchState(3, at: morning.adding(milliseconds: 60_000)) == "true")
        #expect(switchState(3, at: morning.adding(milliseconds: 31 * 60_000)) == "false")
        let off = Self.el("DeactivateAuxiliaryLoad", [Self.el("DeactivateALCSHCALCS", [Self.leaf("Duration", "0")], attributes: ["index": "2"])])
        #expect(try Self.act("7.6", model, .esme, off, &state, at: morning).success)
        #expect(switchState(2, at: Self.at(tomorrow + 1, 8)) == "false", "held off until reset")
        #expect(try Self.act("7.8", model, .esme, Self.el("ResetAuxiliaryLoad", [Self.el("ResetALCSHCALCS", attributes: ["index": "2"])]), &state, at: morning).success)
        #expect(switchState(2, at: Self.at(tomorrow + 1, 8)) == "true", "back under its calendar")
    }

    @Test func auxiliaryControllersFollowCommandsLimitsAndTheirCalendar() throws {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        #expect(try Self.act("7.12", model, .esme, Self.el("SetRandomisedOffsetLimit", [Self.leaf("RandomisedOffsetLimit", "0")]), &state).success)
        func entry(_ n: Int, _ level: Int, _ time: String) -> ElementTree {
            Self.el("AuxiliaryControllerSchedule", [
                Self.el("AuxiliaryControllerAction", [Self.leaf("CommandedStateLevel", String(level))], attributes: ["auxiliaryControllerN": String(n)]),
                Self.everyDay,
                Self.el("AuxiliaryControllerSchedulePeriodAndTime", [Self.leaf("SwitchTime", time)] + Self.dates((nil, nil), (nil, nil))),
            ])
        }
        let calendar = Self.el("UpdateDeviceConfigurationAuxiliaryControllerScheduler", [entry(5, 0, "09:00:00.00Z"), entry(5, 70, "12:00:00.00Z"),
                                                                                         Self.el("AuxiliaryControllerSpecialDayDefinitions")])
        #expect(try Self.act("6.14.3", model, .esme, calendar, &state).success)
        let tomorrow = Bench.now.day.number + 1
        func output(_ n: Int, at time: Timestamp) -> String? {
            let data = Self.read("7.15", model, .esme, Self.el("ReadAuxiliaryControllerOperationalData"), &state, at: time)
            return data.all("AuxiliaryControllerOperationalData").first { $0.attribute("auxiliaryControllerN") == String(n) }?.find("OutputState")?.text
        }
        #expect(output(5, at: Self.at(tomorrow, 13)) == "70")
        #expect(output(5, at: Self.at(tomorrow, 10)) == "0")
        let configuration = Self.read("7.14", model, .esme, Self.el("ReadAuxiliaryControllerConfigurationData"), &state)
        #expect(configuration.all("AuxiliaryControllerSchedule").count == 2)
        // 7.13 sets controller 4 for an hour; 7.16 caps it.
        let start = Bench.now.adding(milliseconds: -60_000)
        let end = Bench.now.adding(milliseconds: 3_600_000)
        func command(_ element: String, _ level: Int) -> ElementTree {
            Self.el(element, [Self.leaf("StartDateTime", start.iso8601), Self.leaf("EndDateTime", end.iso8601), Self.leaf("CommandedStateLevel", String(level))],
                    attributes: ["auxiliaryControllerN": "4"])
        }
        #expect(try Self.act("7.13", model, .esme, command("SetAuxiliaryControllerState", 60), &state).success)
        #expect(output(4, at: Bench.now) == "60")
        let limited = try Self.act("7.16", model, .esme, command("LimitAPCLevel", 20), &state)
        #expect(limited.success)
        #expect(output(4, at: Bench.now) == "20")
        #expect(output(4, at: end.adding(milliseconds: 1)) == "0", "the command and the limit end")
        let alert = try #require(limited.alerts.first)
        #expect(alert.code == 0x8F86 && alert.payload?.child("ResultingLevel")?.text == "20")
        // A period that ends before it starts is refused.
        let backwards = Self.el("SetAuxiliaryControllerState", [Self.leaf("StartDateTime", end.iso8601), Self.leaf("EndDateTime", start.iso8601),
                                                                Self.leaf("CommandedStateLevel", "10")], attributes: ["auxiliaryControllerN": "4"])
        #expect(try !Self.act("7.13", model, .esme, backwards, &state).success)
    }

    // MARK: - Security credentials

    struct World {
        var model: PremisesModel
        let esme: EUI64
        let keys: GBCSMemoryKeyStore
        let emulator: DeviceEmulator
    }

    static let newSupplier = EUI64(0x90B3_D51F_3101_0077)

    static func world() throws -> World {
        var model = Bench.premises { _, _ in true }
        model.installedSupplier = Bench.supplier
        let esme = try #require(model.device(.esme)).eui
        let keys = GBCSMemoryKeyStore(parties: [
            GBCSFrame.accessControlBroker: .init(isDevice: false), Bench.supplier: .init(isDevice: false),
            newSupplier: .init(isDevice: false), esme: .init(isDevice: true),
        ])
        return World(model: model, esme: esme, keys: keys, emulator: DeviceEmulator(engine: Bench.engine, keys: keys))
    }

    /// 7.2 signed by `signer` and MAC'd by DCC, run through the device's own checks.
    static func disable(_ world: World, signer: EUI64, counter: UInt64, state: inout PremisesState) throws -> DeviceOutcome {
        var frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: signer, recipient: world.esme, dateTime: nil,
                              messageCode: 0x0050, supplement: .none, content: [0xD9, 0x20, 0x00, 0x00, 0x01, 0x00, 0x00], signature: .absent)
        frame = try frame.signed(with: try #require(world.keys.signingKey(of: signer)))
        frame = try frame.maced(with: try #require(frame.macKey(keys: world.keys)))
        var command = Bench.command("7.2", world.model, .esme, body: Bench.element("DisableSupply"))
        command.originator = signer
        command.gbcs = frame.encode()
        return world.emulator.execute(command, model: world.model, state: &state, at: Bench.now)
    }

    @Test func updatedCredentialsChangeWhoseSignatureTheDeviceTrusts() throws {
        let world = try Self.world()
        let pki = try TestPKI.generate(parties: [TestPKI.Party(eui: Self.newSupplier, name: "NEW", signingRoles: [2], keyAgreementRoles: [2])])
        let signing = try #require(pki.keystore.entries.first { $0.usage == .digitalSignature }).certificate.der
        let agreement = try #require(pki.keystore.entries.first { $0.usage == .keyAgreement }).certificate.der
        let body = Self.el("UpdateSecurityCredentialsKRP", [
            Self.leaf("RemotePartyRole", "Supplier"), Self.leaf("RemotePartyFloorSeqNumber", "0"),
            Self.el("ReplacementCertificates", [Self.el("SupplierOrNetworkOperatorCertificates", [
                Self.leaf("DigitalSigningCertificate", Data(signing).base64EncodedString()),
                Self.leaf("KeyAgreementCertificate", Data(agreement).base64EncodedString()),
            ])]),
            Self.el("CertificationPathCertificates", [Self.leaf("Certificate", Data(pki.issuingCA.der).base64EncodedString())]),
            Self.leaf("ApplyTimeBasedCPVChecks", "false"),
        ])
        var state = PremisesState()
        let done = try Self.act("6.15.1", world.model, .esme, body, &state, emulator: world.emulator)
        #expect(done.success, "\(done.note)")
        #expect(done.rsp.name == "UpdateSecurityCredentialsKRPRsp" && Bench.values(done.rsp, "NewRemotePartyID").contains(Self.newSupplier.description))
        // The old supplier's signature is refused; the new one's accepted.
        let old = try Self.disable(world, signer: Bench.supplier, counter: 5000, state: &state)
        #expect(!old.success && state.electricityState == .enabled, "\(old.note)")
        let new = try Self.disable(world, signer: Self.newSupplier, counter: 5001, state: &state)
        #expect(new.success && state.electricityState == .disabled, "\(new.note)")
        // 6.24.1 reads the new trust anchor.
        let anchors = Self.read("6.24.1", world.model, .esme, Self.el("RetrieveDeviceSecurityCredentialsKRP", [Self.leaf("RemotePartyRole", "Supplier")]), &state,
                                emulator: world.emulator)
        #expect(Bench.values(anchors, "ExistingRemotePartyID") == [Self.newSupplier.description])
        #expect(Bench.values(anchors, "ExistingCertificateHash") == [DeviceEmulator.sha1(signing)])
        // A supplier cannot replace the network operator's credentials.
        var other = PremisesState()
        let wrongRole = try Self.act("6.15.1", world.model, .esme, Self.el("UpdateSecurityCredentialsKRP", [Self.leaf("RemotePartyRole", "NetworkOperator")] + body.children.dropFirst()),
                                     &other, emulator: world.emulator)
        #expect(!wrongRole.success && other.trustAnchors.isEmpty)
    }

    /// 6.23's new supplier takes the floors its command carries (SupplierFloorSeqNumber and
    /// the top-up floor), not another SRV's element slipped into the body, and the cells
    /// of the SRV's own container only.
    @Test func aChangeOfSupplierReadsOnlyItsOwnElements() throws {
        let world = try Self.world()
        let pki = try TestPKI.generate(parties: [TestPKI.Party(eui: Self.newSupplier, name: "NEW", signingRoles: [2], keyAgreementRoles: [2])])
        let signing = try #require(pki.keystore.entries.first { $0.usage == .digitalSignature }).certificate.der
        let body = Self.el("UpdateSecurityCredentialsCoS", [
            Self.leaf("RemotePartyFloorSeqNumber", "9"), Self.leaf("SupplierFloorSeqNumber", "4000"),
            Self.leaf("SupplierPrepaymentTopUpFloorSeqNumber", "77"),
            Self.el("SupplierReplacementCertificates", [Self.leaf("DigitalSigningCertificate", Data(signing).base64EncodedString())]),
            Self.el("CertificationPathCertificates", [Self.leaf("Certificate", Data(pki.issuingCA.der).base64EncodedString())]),
            Self.leaf("ApplyTimeBasedCPVChecks", "true"), Self.leaf("ImportMPxN", "1234567890123"),
        ])
        var state = PremisesState()
        let done = world.emulator.execute(Bench.command("6.23", world.model, .esme, body: body), model: world.model, state: &state, at: Bench.now)
        #expect(done.success, "\(done.note)")
        let anchor = try #require(state.trustAnchors[world.esme]?.first { $0.role == "Supplier" })
        #expect(anchor.party == Self.newSupplier && anchor.floor == 4000 && anchor.prepaymentFloor == 77)
        // A cell the SRV has not, or a second container, and nothing changes.
        var spare = body
        spare.children[3].children.append(Self.leaf("SpareCertificate", Data(signing).base64EncodedString()))
        var untouched = PremisesState()
        let refused = world.emulator.execute(Bench.command("6.23", world.model, .esme, body: spare), model: world.model, state: &untouched, at: Bench.now)
        #expect(!refused.success && untouched.trustAnchors.isEmpty, "\(refused.note)")
        #expect(refused.note.contains("SpareCertificate"))
    }

    /// A device certificate for `device` and `publicKey` in SMKI's device shape (the device
    /// checks its identity, key usage and key, not its issuer's signature).
    static func deviceCertificate(for device: EUI64, publicKey: [UInt8], digitalSignature: Bool = true) -> [UInt8] {
        typealias D = CredentialDER
        let usage = D.primitive(0x03, digitalSignature ? [0x07, 0x80] : [0x03, 0x08])
        let name = D.node(0x30, [D.node(0xA0, [D.oid(D.hardwareModuleName), D.node(0xA0, [D.node(0x30, [D.oid(D.hardwareType), D.primitive(0x04, device.bytes)])])])])
        let tbs = D.node(0x30, [
            D.node(0xA0, [D.primitive(0x02, [0x02])]), D.primitive(0x02, [0x01]), D.node(0x30, [D.oid(D.ecdsaWithSHA256)]), D.node(0x30, []),
            D.node(0x30, [D.primitive(0x17, Array("200101000000Z".utf8)), D.primitive(0x18, Array("99991231235959Z".utf8))]), D.node(0x30, []),
            D.node(0x30, [D.node(0x30, [D.oid(D.ecPublicKey), D.oid(D.prime256v1)]), D.primitive(0x03, [0x00] + publicKey)]),
            D.node(0xA3, [D.node(0x30, [
                D.node(0x30, [D.primitive(0x06, D.keyUsage), D.primitive(0x01, [0xFF]), D.primitive(0x04, usage.encoded())]),
                D.node(0x30, [D.primitive(0x06, D.subjectAltName), D.primitive(0x01, [0xFF]), D.primitive(0x04, name.encoded())]),
            ])]),
        ])
        return D.node(0x30, [tbs, D.node(0x30, [D.oid(D.ecdsaWithSHA256)]), D.primitive(0x03, [0x00, 0x30, 0x00])]).encoded()
    }

    struct CertificateShelf: GBCSKeyStore, DeviceCertificateSource {
        let certificate: [UInt8]
        func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? { nil }
        func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { nil }
        func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { nil }
        func isDevice(_ party: EUI64) -> Bool { false }
        func deviceCertificate(of device: EUI64, usage: Keystore.Usage) -> [UInt8]? { usage == .digitalSignature ? certificate : nil }
    }

    @Test func aNewKeyPairGetsItsCertificateWhichTheDeviceThenAnswers() throws {
        let model = Bench.premises { _, _ in true }
        let esme = try #require(model.device(.esme)).eui
        var state = PremisesState()
        let type = Self.leaf("CredentialType", "Digital Signature")
        // Installation's certificate, from SMKI (or a failure without a source).
        let installed = Self.deviceCertificate(for: esme, publicKey: Array(P256.Signing.PrivateKey().publicKey.x963Representation))
        let shelf = DeviceEmulator(engine: Bench.engine, keys: CertificateShelf(certificate: installed))
        let first = try Self.act("6.24.2", model, .esme, Self.el("RetrieveDeviceSecurityCredentialsDevice", [type]), &state, emulator: shelf)
        #expect(first.success && Bench.values(first.rsp, "Certificate") == [Data(installed).base64EncodedString()])
        #expect(try !Self.act("6.24.2", model, .esme, Self.el("RetrieveDeviceSecurityCredentialsDevice", [type]), &state).success)
        // 6.15.2 before 6.17: no key pair for it.
        let early = try Self.act("6.15.2", model, .esme, Self.el("UpdateSecurityCredentialsDevice", [Self.leaf("DeviceCertificate", Data(installed).base64EncodedString())]), &state)
        #expect(!early.success && Bench.values(early.rsp, "ASN1Status") == ["noCorrespondingKeyPairGenerated"])
        // 6.17: a PKCS#10 request for a new key, signed with it, naming the device.
        let issued = try Self.act("6.17", model, .esme, Self.el("IssueSecurityCredentials", [type]), &state)
        #expect(issued.success)
        let request = try #require(Bench.values(issued.rsp, "CertificationRequest").first.flatMap { Data(base64Encoded: $0) })
        let decoded = try ASN1Value.decode(Array(request))
        let info = decoded.children[0]
        let point = Array(try #require(info.children[2].children[1].octets).dropFirst())
        let key = try P256.Signing.PublicKey(x963Representation: point)
        let signature = try P256.Signing.ECDSASignature(derRepresentation: Array(try #require(decoded.children[2].octets).dropFirst()))
        #expect(key.isValidSignature(signature, for: info.encoded()))
        #expect(request.range(of: Data([0x04, 0x08] + esme.bytes)) != nil, "the device's EUI as hwSerialNum")
        // 6.15.2: another device's or another key's certificate is refused; the right one installed.
        let wrongDevice = try Self.act("6.15.2", model, .esme, Self.el("UpdateSecurityCredentialsDevice", [
            Self.leaf("DeviceCertificate", Data(Self.deviceCertificate(for: EUI64(0x00DB_1234_5678_90A0), publicKey: point)).base64EncodedString())]), &state)
        #expect(Bench.values(wrongDevice.rsp, "ASN1Status") == ["wrongDeviceIdentity"])
        let wrongKey = try Self.act("6.15.2", model, .esme, Self.el("UpdateSecurityCredentialsDevice", [
            Self.leaf("DeviceCertificate", Data(installed).base64EncodedString())]), &state)
        #expect(Bench.values(wrongKey.rsp, "ASN1Status") == ["wrongPublicKey"])
        let certificate = Self.deviceCertificate(for: esme, publicKey: point)
        let replaced = try Self.act("6.15.2", model, .esme, Self.el("UpdateSecurityCredentialsDevice", [Self.leaf("DeviceCertificate", Data(certificate).base64EncodedString())]), &state)
        #expect(replaced.success && Bench.values(replaced.rsp, "ASN1Status") == ["success"])
        // 6.24.2 now answers the new certificate, source or not.
        let after = try Self.act("6.24.2", model, .esme, Self.el("RetrieveDeviceSecurityCredentialsDevice", [type]), &state, emulator: shelf)
        #expect(Bench.values(after.rsp, "Certificate") == [Data(certificate).base64EncodedString()])
    }

    @Test func aRealDeviceCertificateIsRead() throws {
        // The certificate of the RTDS's 6.24.2 answer (CS02e): ESME 00-DB-12-34-56-78-90-A0, digital signature.
        let hex = "308201A130820146A003020102021030398236744D9DA0E57F8D74AE041FCD300A06082A8648CE3D040302300F310D300B06035504031304453335373020170D3136303430363030303030305A180F39393939313233313233353935395A30003059301306072A8648CE3D020106082A8648CE3D03010703420004F41284362A5A81EEFF848AE2DB4C6D0DF336F06128EB32121596FAEF86DB383D93C3952E73476036406D91009F6133244102A9F88A3682F16F92CCBF7CC959FAA3819030818D300E0603551D0F0101FF04040302078030110603551D0E040A040841978BA90C066FFA30350603551D110101FF042B3029A02706082B06010505070804A01B3019060D2A863A0001848FB90F01020201040800DB1234567890A0301C0603551D200101FF04123010300E060C2A863A0001EDEE400102010430130603551D23040C300A800847D40AF3412904A0300A06082A8648CE3D040302034900304602210095CE1D8EBEEB818CDE82D4EEC170E72A101EF0B9064E53B55176F23D28D575B702210081B8465E35D1D1C403F7616BC391636BDF3EA72A299AD0CE3D1EC870E855BB82"
        let der = try #require(Hex.decode(hex))
        let parsed = try #require(CredentialDER.deviceCertificate(der))
        #expect(parsed.device == EUI64(0x00DB_1234_5678_90A0) && parsed.usage == "DigitalSigning" && parsed.publicKey.count == 65)
    }

    // MARK: - HAN joins, firmware, stored state

    @Test func criticalJoinsChangeTheMetersDeviceLog() throws {
        let model = Bench.premises { premises, _ in premises.traits.hasPPMID && premises.traits.hasIHD }
        let esme = try #require(model.device(.esme)).eui
        let ppmid = try #require(model.device(.ppmid)).eui
        let ihd = try #require(model.device(.ihd)).eui
        var state = PremisesState()
        #expect(DeviceEmulator.isJoined(esme, to: ppmid, model: model, state: state))
        let unjoined = try Self.act("8.8.1", model, .esme, Self.el("UnjoinServiceCritical", [Self.leaf("OtherDeviceID", ppmid.description)]), &state)
        #expect(unjoined.success && unjoined.rsp.name == "UnjoinServiceCriticalRsp")
        #expect(!DeviceEmulator.isJoined(esme, to: ppmid, model: model, state: state))
        let joined = try Self.act("8.7.1", model, .esme, Self.el("JoinServiceCritical", [Self.leaf("OtherDeviceID", ppmid.description)]), &state)
        #expect(joined.success && joined.rsp.name == "JoinServiceCriticalRsp" && Bench.values(joined.rsp, "ASN1Status") == ["success"])
        #expect(DeviceEmulator.isJoined(esme, to: ppmid, model: model, state: state))
        // An IHD joins by 8.7.2, not by a critical join.
        let ihdJoin = try Self.act("8.7.1", model, .esme, Self.el("JoinServiceCritical", [Self.leaf("OtherDeviceID", ihd.description)]), &state)
        #expect(!ihdJoin.success && Bench.values(ihdJoin.rsp, "ASN1Status") == ["invalidJoinMethodAndRole"])
    }

    @Test func activatedFirmwareIsTheVersionTheDeviceReports() throws {
        let model = Bench.premises { _, _ in true }
        let esme = try #require(model.device(.esme)).eui
        var state = PremisesState()
        let hash = Array(SHA256.hash(data: Array("gbsm image 0203".utf8)))
        let body = Self.el("ActivateFirmware", [Self.leaf("FirmwareHash", Hex.encode(hash, uppercase: true))])
        let none = try Self.act("11.3", model, .esme, body, &state)
        #expect(!none.success && Bench.values(none.rsp, "ASN1Status") == ["noImageHeld"])
        state.holdFirmwareImage(esme, manufacturerImageHash: Array(SHA256.hash(data: Array("another image".utf8))), version: "0203", at: Bench.now)
        let mismatch = try Self.act("11.3", model, .esme, body, &state)
        #expect(!mismatch.success && Bench.values(mismatch.rsp, "ASN1Status") == ["hashMismatch"])
        state.holdFirmwareImage(esme, manufacturerImageHash: hash, version: "0203", at: Bench.now)
        let done = try Self.act("11.3", model, .esme, body, &state)
        #expect(done.success && Bench.values(done.rsp, "FirmwareVersion") == ["0203"])
        #expect(Bench.values(Self.read("11.2", model, .esme, Self.el("ReadFirmwareVersion"), &state), "FirmwareVersion") == ["0203"])
    }

    @Test func unexecutedCommandsAnswerWithTheCodesMMCRequires() {
        // A command that failed authentication is answered without being run.
        for srv in DeviceEmulator.configurationAndSecurityResponses.keys {
            let answer = DeviceEmulator.unexecutedAnswer(srv)
            #expect(answer?.name == DeviceEmulator.configurationAndSecurityResponses[srv])
            #expect((answer?.find("ASN1Status") != nil) == ["6.15.2", "8.7.1", "8.8.1"].contains(srv), "\(srv)")
        }
        #expect(DeviceEmulator.unexecutedAnswer("7.1") == nil)
    }

    @Test func theStateKeepsWhatTheCommandsSetAcrossStorage() throws {
        let model = Self.gasHome
        var state = PremisesState()
        _ = try Self.act("6.6", model, .gsme, Self.el("UpdateDeviceConfigurationGasConversion", [Self.leaf("CalorificValue", "40.0"), Self.leaf("ConversionFactor", "1.02264")]), &state)
        _ = try Self.act("6.8", model, .esme, Self.el("UpdateDeviceConfigurationBillingCalendar", [Self.el("ElectricityBillingCalendar", [
            Self.leaf("BillingTime", "00:00:00Z"), Self.el("Quarterly", [Self.leaf("DayOfMonth", "3"), Self.leaf("BillingPeriodStartMonth", "2")])])]), &state)
        _ = try Self.act("6.14.2", model, .esme, Self.el("UpdateDeviceConfigurationALCScheduler", [Self.switchEntry(1, on: true, at: "06:00:00Z"), Self.el("ALCSHCALCSSpecialDays")]), &state)
        _ = try Self.act("7.12", model, .esme, Self.el("SetRandomisedOffsetLimit", [Self.leaf("RandomisedOffsetLimit", "900")]), &state)
        let decoded = try JSONDecoder().decode(PremisesState.self, from: JSONEncoder().encode(state))
        #expect(decoded == state)
        // A state stored before these commands existed still decodes.
        let old = try JSONDecoder().decode(PremisesState.self, from: JSONEncoder().encode(PremisesState()))
        #expect(old.gasConversions == nil && old.auxiliary == nil)
    }
}
