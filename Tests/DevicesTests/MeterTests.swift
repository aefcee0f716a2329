import DUIS
import Foundation
import LoadModel
import MMC
import Testing
@testable import Devices

/// A fleet and helpers shared by the meter tests.
enum Bench {
    static let created = UKCalendar.day(year: 2026, month: 11, day: 1)
    static let fleet = Fleet.build(FleetSpec(seed: 2026, premises: 2000, createdDay: created))
    static let engine = MeterEngine()
    static let emulator = DeviceEmulator(engine: engine)
    /// "Now" for these tests: ten days after the fleet was created, early afternoon.
    static let now = Timestamp(milliseconds: Int64(created + 10) * 86_400_000 + 13 * 3_600_000 + 17 * 60_000)
    static let supplier = EUI64(0x90B3_D51F_3101_0000)

    static func premises(_ predicate: (FleetPremises, HouseholdProfile) -> Bool) -> PremisesModel {
        for index in 0..<fleet.count {
            let premises = fleet.premises(index)
            if premises.traits.installedOn < created - 500, predicate(premises, fleet.profile(index)) {
                return PremisesModel(fleet: fleet, index: index)
            }
        }
        fatalError("no premises in the test fleet matches")
    }

    static func element(_ name: String, _ children: [ElementTree] = [], text: String = "", attributes: [String: String] = [:]) -> ElementTree {
        ElementTree(name: name, namespace: DUISNamespace.serviceUserGateway, attributes: attributes, text: text, children: children)
    }

    static func period(_ start: Timestamp, _ end: Timestamp) -> ElementTree {
        element("ReadLogPeriod", [element("StartDateTime", text: start.iso8601), element("EndDateTime", text: end.iso8601)])
    }

    static func command(_ srv: SRV, _ model: PremisesModel, _ type: DeviceType, body: ElementTree, roles: UserRoleSet = [.is, .gs]) -> DeviceCommand {
        let device = model.device(type)!
        let reference = srv.numbers.prefix(2).map(String.init).joined(separator: ".")
        return DeviceCommand(srv: srv, serviceReference: reference, target: device.eui, targetType: type, originator: supplier,
                             originatorRoles: roles, requestID: "\(supplier):\(device.eui):1", body: body)
    }

    static func values(_ node: DataNode, _ name: String) -> [String] {
        var result: [String] = []
        func walk(_ node: DataNode) {
            if node.name == name, let text = node.text { result.append(text) }
            node.children.forEach(walk)
        }
        walk(node)
        return result
    }
}

@Suite struct MeterStoreTests {
    @Test func halfHoursDailyLogAndRegistersAgree() {
        let day = Bench.created + 3
        let model = Bench.premises { premises, profile in
            premises.traits.hasGasMeter && profile.features.contains(.solar) && !profile.features.contains(.heatPump)
                && !Bench.engine.demand.isAway(profile, day: day)
        }
        let state = PremisesState()
        let readings = Bench.engine.readings(model, state, day: day)
        let opening = Bench.engine.checkpoint(model, state, day: day)
        let closing = Bench.engine.checkpoint(model, state, day: day + 1)
        // Register deltas = sum of the half hours, for import, export and gas.
        #expect(closing.importWh - opening.importWh == readings.importTotal)
        #expect(closing.exportWh - opening.exportWh == readings.exportTotal)
        #expect(closing.gasLitres - opening.gasLitres == readings.gasTotal)
        #expect(readings.importTotal > 0 && readings.gasTotal > 0)
        // The TOU registers add up to the total register.
        #expect(closing.tou.reduce(0, +) - opening.tou.reduce(0, +) == readings.importTotal)

        // The device's own logs say the same: the daily consumption log and the profile.
        let dayStart = DayReadings.slotStart(day: day, slot: 0)
        let dayEnd = DayReadings.slotStart(day: day + 1, slot: 0)
        var state2 = state
        let daily = Bench.emulator.execute(Bench.command("4.17", model, .esme, body: Bench.element("RetrieveDailyConsumptionLog", [Bench.period(dayEnd, dayEnd)])),
                                           model: model, state: &state2, at: Bench.now)
        #expect(Bench.values(daily.response.body, "Value") == [String(readings.importTotal)])
        let profile = Bench.emulator.execute(
            Bench.command("4.8.1", model, .esme, body: Bench.element("ReadActiveImportProfileData", [Bench.period(dayStart.adding(milliseconds: 1_800_000), dayEnd)])),
            model: model, state: &state2, at: Bench.now)
        let halfHours = Bench.values(profile.response.body, "PrimaryValue").compactMap { Int64($0) }
        #expect(halfHours.count == 48)
        #expect(halfHours.reduce(0, +) == readings.importTotal)
        let gasDaily = Bench.emulator.execute(Bench.command("4.17", model, .gsme, body: Bench.element("RetrieveDailyConsumptionLog", [Bench.period(dayEnd, dayEnd)])),
                                              model: model, state: &state2, at: Bench.now)
        #expect(Bench.values(gasDaily.response.body, "Value") == [DeviceFormat.cubicMetres(readings.gasTotal)])

        // The daily read log holds the registers at midnight.
        let dailyReads = Bench.emulator.execute(
            Bench.command("4.6.1", model, .esme, body: Bench.element("RetrieveImportDailyReadLog", [Bench.period(dayStart, dayEnd)])),
            model: model, state: &state2, at: Bench.now)
        #expect(Bench.values(dailyReads.response.body, "ElecActiveImportRegisterConsumption") == [String(opening.importWh), String(closing.importWh)])
    }

    @Test func moneyIsEnergyTimesPricePlusStandingCharge() {
        let model = Bench.premises { premises, profile in premises.traits.hasGasMeter && profile.features.contains(.economy7) == false }
        let state = PremisesState()
        let day = Bench.created + 2
        let readings = Bench.engine.readings(model, state, day: day)
        let opening = Bench.engine.checkpoint(model, state, day: day)
        let closing = Bench.engine.checkpoint(model, state, day: day + 1)
        var expected = Int64(model.electricityTariff.standingCharge) * 1000
        for slot in 0..<48 {
            expected += Int64(readings.importWh[slot]) * Int64(model.electricityTariff.prices[model.electricityTariff.rate(slot: slot) - 1])
        }
        #expect(closing.electricityCost - opening.electricityCost == expected)
        if let gasTariff = model.gasTariff {
            var gasExpected = Int64(gasTariff.standingCharge) * 1000
            for slot in 0..<48 { gasExpected += Int64(model.wh(forLitres: Int64(readings.gasLitres[slot])).rounded()) * Int64(gasTariff.price) }
            #expect(closing.gasCost - opening.gasCost == gasExpected)
        }
    }

    @Test func prepaymentBalanceFollowsCreditsAndCost() {
        let model = Bench.premises { premises, profile in profile.features.contains(.prepayment) }
        let state = PremisesState()
        var credits: Int64 = 0
        var debt: Int64 = 0
        let first = Bench.created - 20
        let last = Bench.created + 5
        let before = Bench.engine.checkpoint(model, state, day: first)
        let after = Bench.engine.walk(model, state, from: first, through: last, events: { event in
            guard event.fuel == .electricity else { return }
            switch event.kind {
            case .consumerTopUp, .utrnTopUp, .emergencyTopUp: credits += event.pence
            case .debtRecovered: debt += event.pence
            case .lowCredit: break
            }
        }, visit: { _, _ in })
        let cost = (after.electricityCost - before.electricityCost) / MeterCheckpoint.micro
        let change = after.electricityBalancePence - before.electricityBalancePence
        // Balance change = credits − debt recovered − cost (to the penny, rounding aside).
        #expect(abs(change - (credits - debt - cost)) <= 1)
        #expect(credits > 0)
    }

    @Test func lowCreditIsRaisedWhenTheBalanceCrossesTheThreshold() {
        // Prepayment homes over three months: the meter raises low credit each time the
        // balance falls through the threshold, and only then.
        var homes = 0
        var alerts = 0
        for index in 0..<Bench.fleet.count where homes < 12 {
            guard Bench.fleet.profile(index).features.contains(.prepayment), Bench.fleet.premises(index).traits.installedOn < Bench.created - 500 else { continue }
            homes += 1
            let model = PremisesModel(fleet: Bench.fleet, index: index)
            let state = PremisesState()
            let threshold = Int64(PrepaymentConfiguration().lowCreditThreshold)
            var previousWasLow = false
            _ = Bench.engine.walk(model, state, from: Bench.created - 90, through: Bench.created, events: { event in
                guard event.fuel == .electricity else { return }
                switch event.kind {
                case .lowCredit:
                    #expect(event.pence < threshold, "raised below the threshold: \(event.pence)p")
                    #expect(!previousWasLow, "raised once per crossing")
                    previousWasLow = true
                    alerts += 1
                case .consumerTopUp, .utrnTopUp, .emergencyTopUp:
                    previousWasLow = false
                case .debtRecovered:
                    break
                }
            }, visit: { _, _ in })
        }
        #expect(homes == 12)
        #expect(alerts > 0, "households let their credit run low now and then")
    }

    @Test func logsRollOverAtTheirHorizons() {
        let model = Bench.premises { premises, _ in premises.traits.hasGasMeter && premises.traits.householdFeatures.contains(.solar) }
        var state = PremisesState()
        let longAgo = Bench.now.adding(milliseconds: -3 * 365 * 86_400_000)
        func run(_ srv: SRV, _ name: String) -> DataNode {
            Bench.emulator.execute(Bench.command(srv, model, .esme, body: Bench.element(name, [Bench.period(longAgo, Bench.now)])),
                                   model: model, state: &state, at: Bench.now).response.body
        }
        func oldest(_ node: DataNode, _ field: String = "Timestamp") -> Timestamp? {
            Bench.values(node, field).compactMap { Timestamp(xsDateTime: $0) }.min()
        }
        let day: Int64 = 86_400_000
        // 13 months of half-hourly import.
        let profile = run("4.8.1", "ReadActiveImportProfileData")
        let halfHours = Bench.values(profile, "PrimaryValue").count
        #expect(halfHours > 396 * 48 && halfHours <= 398 * 48)
        #expect(oldest(profile)! >= Bench.now.adding(milliseconds: -398 * day))
        // Two years of daily consumption.
        let daily = run("4.17", "RetrieveDailyConsumptionLog")
        let days = Bench.values(daily, "Value").count
        #expect(days >= 730 && days <= 732)
        #expect(oldest(daily)! >= Bench.now.adding(milliseconds: -733 * day))
        // Three months of export and reactive energy.
        let export = run("4.8.3", "ReadExportProfileData")
        #expect(Bench.values(export, "ActiveEnergyExportedValue").count <= 94 * 48)
        #expect(Bench.values(export, "ActiveEnergyExportedValue").count > 92 * 48)
        #expect(oldest(export)! >= Bench.now.adding(milliseconds: -94 * day))
        let reactive = run("4.8.2", "ReadReactiveImportProfileData")
        #expect(Bench.values(reactive, "ReactiveEnergyImportedValue").count <= 94 * 48)
        // 31 days of daily reads.
        let reads = run("4.6.1", "RetrieveImportDailyReadLog")
        #expect(Bench.values(reads, "ElecActiveImportRegisterConsumption").count <= 32)
        #expect(Bench.values(reads, "ElecActiveImportRegisterConsumption").count >= 31)
        // Twelve billing periods.
        let billing = run("4.4.3", "RetrieveBillingCalendarTriggeredBillingDataLog")
        #expect(Bench.values(billing, "ActiveImportRegisterValueConsumption").count == 12)
    }

    @Test func disabledSupplyReadsZero() {
        let model = Bench.premises { premises, _ in premises.traits.hasGasMeter }
        var state = PremisesState()
        let disabledAt = DayReadings.slotStart(day: Bench.created + 5, slot: 20)
        state.electricitySupply.append(SupplyChange(at: disabledAt, state: .disabled, reason: "test"))
        state.gasSupply.append(SupplyChange(at: disabledAt, state: .disabled, reason: "test"))
        state.touch()
        let day = Bench.engine.readings(model, state, day: Bench.created + 5)
        #expect((0..<20).reduce(Int32(0)) { $0 + day.importWh[$1] } > 0)
        for slot in 20..<48 {
            #expect(day.importWh[slot] == 0)
            #expect(day.exportWh[slot] == 0)
            #expect(day.gasLitres[slot] == 0)
        }
        let next = Bench.engine.readings(model, state, day: Bench.created + 6)
        #expect(next.importTotal == 0 && next.gasTotal == 0)
        let before = Bench.engine.checkpoint(model, state, day: Bench.created + 6)
        let after = Bench.engine.checkpoint(model, state, day: Bench.created + 9)
        #expect(after.importWh == before.importWh)
        #expect(after.gasLitres == before.gasLitres)
        #expect(Bench.engine.activePower(model, state, at: Bench.now) == 0)
        let status = Bench.emulator.execute(Bench.command("7.4", model, .esme, body: Bench.element("ReadSupplyStatus")), model: model, state: &state, at: Bench.now)
        #expect(Bench.values(status.response.body, "SupplyState") == ["Disabled"])
        // Enabled again, the home uses electricity again.
        state.electricitySupply.append(SupplyChange(at: DayReadings.slotStart(day: Bench.created + 7, slot: 0), state: .enabled, reason: "test"))
        state.touch()
        #expect(Bench.engine.readings(model, state, day: Bench.created + 7).importTotal > 0)
    }

    @Test func topUpUTRNCannotBeUsedTwice() {
        let model = Bench.premises { premises, profile in profile.features.contains(.prepayment) }
        var state = PremisesState()
        let utrn = UTRN.make(counter: 5 << 32, valueClass: .pounds, value: 20, mac: 0x1234_5678)
        let body = Bench.element("TopUpDevice", [Bench.element("UTRN", text: utrn)])
        let balanceBefore = Bench.engine.snapshot(model, state, at: Bench.now).0.electricityBalancePence
        let first = Bench.emulator.execute(Bench.command("2.2", model, .esme, body: body), model: model, state: &state, at: Bench.now)
        #expect(first.success)
        #expect(first.response.body.attribute("MessageSuccess") == nil)
        let later = Bench.now.adding(milliseconds: 1000)
        let balanceAfter = Bench.engine.snapshot(model, state, at: later).0.electricityBalancePence
        #expect(balanceAfter - balanceBefore >= 2000 - 5 && balanceAfter - balanceBefore <= 2000)
        let second = Bench.emulator.execute(Bench.command("2.2", model, .esme, body: body), model: model, state: &state, at: later)
        #expect(!second.success)
        #expect(second.response.body.attribute("MessageSuccess") == "false")
        #expect(second.note.contains("duplicate"))
        #expect(Bench.engine.snapshot(model, state, at: later).0.electricityBalancePence == balanceAfter)
        #expect(state.topUps.count == 1)
        #expect(state.eventLogs[model.device(.esme)!.eui]?.last?.code == 0x8F51)
        // A newer token is accepted.
        let next = UTRN.make(counter: 6 << 32, valueClass: .pennies, value: 500, mac: 1)
        let third = Bench.emulator.execute(Bench.command("2.2", model, .esme, body: Bench.element("TopUpDevice", [Bench.element("UTRN", text: next)])),
                                           model: model, state: &state, at: later)
        #expect(third.success)
        #expect(state.topUps.count == 2)
    }
}
