import Devices
import DUIS
import Foundation
import Hub
import Privacy
import Storage

/// One day of a household's own data as the consumer sees it: half-hourly import,
/// export and gas, with what it cost on the meter's tariff.
public struct ConsumerDay: Sendable {
    public var day: Int32
    /// Half hours of the day that belong to the consumer (the rest is before their move-in or still to come).
    public var slots: Range<Int>
    public var importWh: [Int32]
    public var exportWh: [Int32]
    public var gasLitres: [Int32]
    /// Electricity cost, millipence: energy at each half hour's rate plus the standing charge.
    public var electricityCost: Int64
    /// Gas cost, millipence (0 without gas).
    public var gasCost: Int64

    public var date: Timestamp { Timestamp(dayNumber: day) }
    public var importTotal: Int64 { importWh.reduce(0) { $0 + Int64($1) } }
    public var exportTotal: Int64 { exportWh.reduce(0) { $0 + Int64($1) } }
    public var gasTotal: Int64 { gasLitres.reduce(0) { $0 + Int64($1) } }
}

/// A consumer's view of their own premises: everything of their occupancy, nothing from
/// before it.
public struct ConsumerView: Sendable {
    public var premises: PremisesRecord
    public var occupancy: Occupancy
    public var model: PremisesModel
    public var hasGas: Bool
    public var hasExport: Bool
    /// The first and last day with data of this occupancy.
    public var firstDay: Int32
    public var lastDay: Int32
}

extension EmulatedHomes {
    /// The consumer's view of a premises, or nil when it has no emulated meters.
    public func consumerView(premises id: Int64) async throws -> ConsumerView? {
        guard let premises = inventory.premises(id), let model = directory.model(premises: id) else { return nil }
        let occupancy = try await store.currentOccupancy(premises: id)
        let today = clock.now().day.number
        let moveInDay = occupancy.start.day.number
        let first = max(model.installDay, occupancy.sequence == 0 ? model.installDay : moveInDay, today - MeterMemory.importProfileDays)
        return ConsumerView(premises: premises, occupancy: occupancy, model: model, hasGas: model.hasGas, hasExport: model.exportMPAN != nil,
                            firstDay: first, lastDay: today)
    }

    /// The consumer's days from `first` through `last` (clipped to their occupancy and today).
    public func consumerDays(_ view: ConsumerView, from first: Int32, through last: Int32) async throws -> [ConsumerDay] {
        let state = try await directory.state(premises: view.premises.id)
        let now = clock.now()
        let start = max(first, view.firstDay), end = min(last, view.lastDay)
        guard start <= end else { return [] }
        let tariff = view.model.electricityTariff
        let gasTariff = view.model.gasTariff
        var days: [ConsumerDay] = []
        days.reserveCapacity(Int(end - start) + 1)
        for day in start...end {
            let readings = engine.readings(view.model, state, day: day)
            let dayStart = Timestamp(dayNumber: day)
            let half = CalendarDay.millisecondsPerHalfHour
            var lower = 0, upper = 48
            if view.occupancy.sequence > 0, view.occupancy.start > dayStart {
                lower = Int(min(48, (dayStart.milliseconds(to: view.occupancy.start) + half - 1) / half))
            }
            if now < dayStart.adding(days: 1) { upper = Int(max(0, min(48, dayStart.milliseconds(to: now) / half))) }
            lower = min(lower, upper)
            var importWh = [Int32](repeating: 0, count: 48), exportWh = importWh, gas = importWh
            var electricityCost: Int64 = 0, gasCost: Int64 = 0
            for slot in lower..<upper {
                importWh[slot] = readings.importWh[slot]
                exportWh[slot] = readings.exportWh[slot]
                gas[slot] = readings.gasLitres[slot]
                let rate = max(0, min(tariff.prices.count - 1, tariff.rate(slot: slot) - 1))
                electricityCost += Int64(readings.importWh[slot]) * Int64(tariff.prices.isEmpty ? 0 : tariff.prices[rate]) / 1000
                if let gasTariff {
                    gasCost += Int64((view.model.wh(forLitres: Int64(readings.gasLitres[slot])) * Double(gasTariff.price) / 1000).rounded())
                }
            }
            let share = Int64(upper - lower)
            electricityCost += Int64(tariff.standingCharge) * share / 48
            if let gasTariff, view.hasGas { gasCost += Int64(gasTariff.standingCharge) * share / 48 }
            days.append(ConsumerDay(day: day, slots: lower..<upper, importWh: importWh, exportWh: exportWh, gasLitres: gas,
                                    electricityCost: electricityCost, gasCost: view.hasGas ? gasCost : 0))
        }
        return days
    }
}

/// What a household's data gives away, for `gbsm privacy reveal` and the portal.
public struct RevealReport: Sendable {
    public var days: Int
    public var inferences: [Inference]
    /// What the model of the household really has, to check the inferences against.
    public var truth: [String]
}

extension EmulatedHomes {
    /// Runs the inferences on the last `days` days of the consumer's own data, and on the
    /// aggregates of any data privacy plan whose group the premises is in (what DCC's
    /// `plans` published).
    public func reveal(premises id: Int64, days count: Int32 = 56, plans: PlanPipeline) async throws -> RevealReport? {
        guard let view = try await consumerView(premises: id) else { return nil }
        let days = try await consumerDays(view, from: view.lastDay - count, through: view.lastDay - 1)
            .filter { $0.slots == 0..<48 }
            .map { RevealDay(day: $0.day, importWh: $0.importWh.map(Double.init), exportWh: $0.exportWh.map(Double.init)) }
        var inferences = Reveal.analyse(days)
        for plan in try await store.plans() {
            guard let location = plans.location(premises: id, level: plan.level) else { continue }
            let aggregates = try await store.planAggregates(plan: plan.id).filter { $0.group.split(separator: "+").contains(Substring(location.key)) }
            guard plan.granularity == .halfHourly, !aggregates.isEmpty else { continue }
            var byDay: [Int32: [Double]] = [:]
            var households = 0
            for aggregate in aggregates {
                byDay[aggregate.slot.day.number, default: Array(repeating: 0, count: 48)][aggregate.slot.timeOfDay.minutes / 30] = aggregate.mean
                households = max(households, aggregate.households)
            }
            let aggregateDays = byDay.keys.sorted().map { RevealDay(day: $0, importWh: byDay[$0] ?? [], exportWh: Array(repeating: 0, count: 48)) }
            if aggregateDays.count >= 7 {
                inferences += Reveal.analyseAggregate(aggregateDays, households: households)
            } else {
                inferences.append(Inference(name: "plan \(plan.id)", granularity: "plan aggregate (\(households) households)",
                                            finding: "\(aggregates.count) published half hours of the group's total: a street's profile, no household's", revealed: false))
            }
        }
        var truth: [String] = []
        let features = view.model.profile.features
        truth.append(features.contains(.electricVehicle) ? "has an electric vehicle" : "no electric vehicle")
        truth.append(features.contains(.solar) ? "has solar panels" : "no solar panels")
        return RevealReport(days: days.count, inferences: inferences, truth: truth)
    }
}
