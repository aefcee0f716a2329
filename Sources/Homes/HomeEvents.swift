import Devices
import DUIS
import Foundation
import GBCS
import Hub
import LoadModel
import Logging
import MMC
import Storage
import Synchronization
import WAN

/// The life of the homes between commands: held future-dated commands falling due, power
/// cuts (injected by `gbsm fleet powercut` or arising as feeder faults) with the comms
/// hub's last gasp and the meters' restoration alerts, tamper detection, and prepayment
/// meters running low on credit. It is the devices' side: what the devices send goes to
/// DCC as `DeviceMessage`s through its `DeviceMessageSink`, with the premises' new state,
/// and a state is kept only once DCC has taken the messages.
final class HomeEvents: Sendable {
    /// DCC's EUI, the target of the devices' alerts.
    let dccEUI: EUI64
    let store: any HubStore
    /// The fleet the homes are, if any (power cuts by network unit, random faults, low credit).
    let fleet: Fleet?
    let directory: PremisesDirectory
    /// Shared with the device boundary, so an event and a command never change one
    /// premises' state at once.
    let locks: PremisesLocks
    /// The devices of the premises, for what they do on their own (held commands falling due).
    let emulator: DeviceEmulator
    var engine: MeterEngine { emulator.engine }
    /// How the devices send their alerts.
    let alerts: DeviceAlertSender
    let settings: FleetEventSettings
    /// DCC, as far as the homes know it.
    let sink: any DeviceMessageSink
    let logger: Logger
    /// The time (`HubClock`) the homes live in.
    let clock: any HubClock

    private struct State {
        var cutsStarted = Set<Int64>()
        var cutsEnded = Set<Int64>()
        var lastFaultCheck: Timestamp?
        var lowCreditDay: Int32?
        var lowCreditDue: [(Timestamp, Int64, Fuel)] = []
    }

    private let state = Mutex(State())

    init(dccEUI: EUI64, store: any HubStore, fleet: Fleet?, directory: PremisesDirectory, locks: PremisesLocks, emulator: DeviceEmulator,
         alerts: DeviceAlertSender, settings: FleetEventSettings, sink: any DeviceMessageSink, clock: any HubClock, logger: Logger) {
        self.dccEUI = dccEUI
        self.store = store
        self.fleet = fleet
        self.directory = directory
        self.locks = locks
        self.emulator = emulator
        self.alerts = alerts
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.logger = logger
    }

    /// Loads what a previous run already did (power cuts begun and ended).
    func recover() async throws {
        let started = try await store.meta("fleet_events.cuts_started").map(Self.ids) ?? []
        let ended = try await store.meta("fleet_events.cuts_ended").map(Self.ids) ?? []
        state.withLock { state in
            state.cutsStarted = Set(started)
            state.cutsEnded = Set(ended)
        }
    }

    static func ids(_ text: String) -> [Int64] { text.split(separator: ",").compactMap { Int64($0) } }

    /// One pass over what falls due by `now`: held commands, power cuts and tamper, random
    /// faults, low credit.
    func pass(now: Timestamp) async {
        await wakeDevices(now: now)
        await powerCuts(now: now)
        await tamperEvents(now: now)
        if settings.interruptionsPerPremisesYear > 0 || settings.tampersPerPremisesYear > 0 { await randomFaults(now: now) }
        if settings.lowCreditAlerts { await lowCredit(now: now) }
    }

    // MARK: - Held commands falling due

    /// The most premises woken in one pass; the rest wait for the next (a second later).
    static let wakeBatch = 1000

    /// Runs the future-dated commands devices hold that are due by `now`: each acts at its
    /// own execution time, and its outcome alerts (0x8F66 or 0x8F67, signed) go to the
    /// party that sent it. DCC reads the firmware version a CS06 outcome alert reports
    /// into its inventory, as it does from an immediate activation's answer.
    func wakeDevices(now: Timestamp) async {
        let due: [Int64]
        do {
            due = try await store.premisesToWake(by: now, limit: Self.wakeBatch)
        } catch is CancellationError {
            return
        } catch {
            logger.error("premises with held commands could not be read: \(error)")
            return
        }
        for premisesID in due {
            await locks.withLock(premisesID) { () async in
                // A premises that left the fleet, or whose state no longer reads, cannot run
                // what it holds: its wake time is cleared (and the state left as it is), so
                // it is not read again every pass. A store that fails to answer is tried
                // again on the next pass.
                guard let model = directory.model(premises: premisesID) else {
                    await dropWake(premisesID, now: now, reason: "it is no longer in the fleet")
                    return
                }
                var premisesState: PremisesState
                let readRevision: Int
                do {
                    premisesState = try await directory.state(premises: premisesID)
                    readRevision = premisesState.revision
                } catch is DecodingError {
                    await dropWake(premisesID, now: now, reason: "its device state does not read")
                    return
                } catch {
                    logger.error("premises \(premisesID)'s device state could not be read (\(error)); its held commands run on a later pass")
                    return
                }
                let outcomes = emulator.wake(model: model, state: &premisesState, at: now)
                // Written even when nothing ran, so a stale wake time is cleared.
                let write = Mutation.putDeviceState(premises: premisesID, state: PremisesDirectory.encode(premisesState),
                                                    wakeAt: DeviceEmulator.wakeTime(premisesState),
                                                    revision: DeviceStateRevision(from: Int64(readRevision), to: Int64(premisesState.revision)))
                do {
                    try await sink.receive(outcomes.isEmpty ? [] : [.heldCommands(outcomes.map(alerts.report))], writes: [write])
                } catch {
                    logger.error("held commands at premises \(premisesID) could not be recorded (\(error)); they run on a later pass")
                    return
                }
                directory.remember(premisesID, premisesState)
            }
        }
    }

    /// Clears a premises' wake time that cannot be acted on, audited.
    private func dropWake(_ premisesID: Int64, now: Timestamp, reason: String) async {
        logger.warning("premises \(premisesID) has held commands due but cannot run them: \(reason)")
        do {
            try await sink.receive([], writes: [.setDeviceWake(premises: premisesID, wakeAt: nil),
                                                .audit(AuditEvent(at: now, kind: .device, detail: "premises \(premisesID): held commands not run, \(reason)"))])
        } catch {
            logger.error("premises \(premisesID)'s wake time could not be cleared: \(error)")
        }
    }

    // MARK: - Power cuts

    /// The premises a power cut takes off supply.
    func premises(of cut: PowerCutRecord) -> [Int64] {
        guard let fleet else { return cut.scope == .premises ? [cut.value] : [] }
        let starts: [UInt32]
        switch cut.scope {
        case .premises: return [cut.value]
        case .feeder: starts = fleet.layout.feederStart
        case .secondary: starts = fleet.layout.secondaryStart
        case .primary: starts = fleet.layout.primaryStart
        }
        let index = Int(cut.value)
        guard index >= 0, index < starts.count else { return [] }
        let end = index + 1 < starts.count ? Int(starts[index + 1]) : fleet.count
        return (Int(starts[index])..<end).map { Fleet.premisesIDBase + Int64($0) }
    }

    func powerCuts(now: Timestamp) async {
        let cuts: [PowerCutRecord]
        do {
            cuts = try await store.powerCuts()
        } catch is CancellationError {
            return  // shutting down
        } catch {
            logger.error("power cuts could not be read: \(error)")
            return
        }
        for cut in cuts {
            let (started, ended) = state.withLock { ($0.cutsStarted.contains(cut.id), $0.cutsEnded.contains(cut.id)) }
            if !started && cut.start <= now { await begin(cut) }
            if !ended && cut.end <= now { await end(cut) }
        }
    }

    /// Records that a cut's start or end has been handled (after its effects are committed).
    private func markDone(_ id: Int64, ended: Bool) async {
        let list = state.withLock { state -> [Int64] in
            if ended { state.cutsEnded.insert(id) } else { state.cutsStarted.insert(id) }
            return (ended ? state.cutsEnded : state.cutsStarted).sorted().suffix(10_000)
        }
        do {
            try await sink.receive([], writes: [.setMeta(key: ended ? "fleet_events.cuts_ended" : "fleet_events.cuts_started",
                                                         value: list.map(String.init).joined(separator: ","))])
        } catch {
            // The cut's effects are committed; after a restart it would be looked at again,
            // and each premises' state says it was done (nothing is raised twice).
            logger.error("power cut \(id) could not be marked as handled: \(error)")
        }
    }

    /// What an event at one premises sends DCC, and what else the homes keep of it.
    struct Change {
        var messages: [DeviceMessage] = []
        var writes: [Mutation] = []
    }

    /// Changes one premises' state under its lock and hands what its devices send to DCC
    /// with the new state. Returns false when it could not be recorded.
    private func change(_ premisesID: Int64, _ body: @Sendable (PremisesModel, inout PremisesState) -> Change?) async -> Bool {
        await locks.withLock(premisesID) { () async -> Bool in
            guard let model = directory.model(premises: premisesID), var premisesState = try? await directory.state(premises: premisesID) else { return true }
            let readRevision = premisesState.revision
            guard let change = body(model, &premisesState) else { return true }
            premisesState.touch()
            let write = Mutation.putDeviceState(premises: premisesID, state: PremisesDirectory.encode(premisesState), wakeAt: DeviceEmulator.wakeTime(premisesState),
                                                revision: DeviceStateRevision(from: Int64(readRevision), to: Int64(premisesState.revision)))
            do {
                let messages = change.messages.map { message -> DeviceMessage in
                    if case .alert(let alert) = message { return .alert(alerts.addressed(alert, originator: nil)) }
                    return message
                }
                try await sink.receive(messages, writes: [write] + change.writes)
                directory.remember(premisesID, premisesState)
                return true
            } catch {
                logger.error("fleet event at premises \(premisesID) could not be recorded: \(error)")
                return false
            }
        }
    }

    /// The power goes off: meters record the outage; each comms hub's last gasp reaches
    /// the network operator as a DCC alert.
    func begin(_ cut: PowerCutRecord) async {
        var affected = 0
        var complete = true
        for premisesID in premises(of: cut) {
            let ok = await change(premisesID) { model, premisesState in
                let outage = Outage(start: cut.start, end: cut.end)
                guard !premisesState.outages.contains(outage) else { return nil }
                premisesState.outages.append(outage)
                if premisesState.outages.count > 50 { premisesState.outages.removeFirst() }
                let hub = model.device(.chf)?.eui ?? model.device(.esme)?.eui
                guard let hub, let esme = model.device(.esme)?.eui else { return Change() }
                return Change(messages: [.lastGasp(commsHub: hub, meter: esme, mpxn: model.importMPAN ?? "", at: cut.start, cause: "power cut \(cut.id)")])
            }
            if ok { affected += 1 } else { complete = false }
        }
        guard complete else { return }
        do {
            try await sink.receive([], writes: [.audit(AuditEvent(at: cut.start, kind: .powerCut,
                                                          detail: "power cut \(cut.id) (\(cut.scope.rawValue) \(cut.value), \(cut.reason)): \(affected) premises off supply until \(cut.end.iso8601)"))])
        } catch {
            logger.error("power cut \(cut.id) could not be audited (\(error)); it is looked at again on the next pass")
            return
        }
        await markDone(cut.id, ended: false)
    }

    /// The power comes back: each ESME raises its restoration alert to the network
    /// operator and the supplier.
    func end(_ cut: PowerCutRecord) async {
        let long = cut.end.milliseconds - cut.start.milliseconds >= 180_000
        var complete = true
        for premisesID in premises(of: cut) {
            let ok = await change(premisesID) { model, premisesState in
                guard let index = premisesState.outages.firstIndex(where: { $0.start == cut.start && $0.end == cut.end }),
                      !premisesState.outages[index].restorationAlerted,
                      let esmeEUI = model.device(.esme)?.eui else { return nil }
                premisesState.outages[index].restorationAlerted = true
                let alert = DeviceAlert(header: DeviceMessageHeader(originator: esmeEUI, target: self.dccEUI,
                                                                    counter: premisesState.nextDeviceCounter(esmeEUI, at: cut.end),
                                                                    serviceReference: nil, srv: nil, timestamp: cut.end),
                                        code: long ? 0x8F36 : 0x8F35, description: long ? "Supply Outage Restored (outage of 3 minutes or more)" : "Supply Outage Restored",
                                        at: cut.end, payload: DataNode("SupplyOutageRestoreAlert", children: [
                                            DataNode("interruptionValue", text: cut.start.iso8601), DataNode("restorationValue", text: cut.end.iso8601),
                                        ]), recipients: [.networkOperator, .supplier])
                return Change(messages: [.alert(alert)])
            }
            if !ok { complete = false }
        }
        guard complete else { return }
        do {
            try await sink.receive([], writes: [.audit(AuditEvent(at: cut.end, kind: .powerCut, detail: "power cut \(cut.id) ended"))])
        } catch {
            logger.error("the end of power cut \(cut.id) could not be audited (\(error)); it is looked at again on the next pass")
            return
        }
        await markDone(cut.id, ended: true)
    }

    // MARK: - Tamper

    /// Tamper events due by `now`, each acted on once: its premises' meter logs it and
    /// alerts its supplier, and the event is marked handled in the same commit.
    func tamperEvents(now: Timestamp) async {
        let events: [TamperEvent]
        do {
            events = try await store.pendingTamperEvents(limit: Self.wakeBatch)
        } catch is CancellationError {
            return
        } catch {
            logger.error("tamper events could not be read: \(error)")
            return
        }
        for event in events where event.at <= now { await tamper(event, now: now) }
    }

    func tamper(_ event: TamperEvent, now: Timestamp) async {
        let ok = await change(event.premises) { model, premisesState in
            let handled = Mutation.tamperHandled(id: event.id, at: now)
            guard !premisesState.tampered.contains(event.at), let esmeEUI = model.device(.esme)?.eui else {
                return Change(writes: [handled])
            }
            premisesState.tampered.append(event.at)
            premisesState.log(LogEntry(at: event.at, code: 0x8F3F, meaning: "Unauthorised Physical Access - Tamper Detect"), device: esmeEUI, security: true)
            let alert = DeviceAlert(header: DeviceMessageHeader(originator: esmeEUI, target: self.dccEUI, counter: premisesState.nextDeviceCounter(esmeEUI, at: event.at),
                                                                serviceReference: nil, srv: nil, timestamp: event.at),
                                    code: 0x8F3F, description: "Unauthorised Physical Access - Tamper Detect", at: event.at, payload: nil, recipients: [.supplier])
            return Change(messages: [.alert(alert)], writes: [handled])
        }
        if !ok { logger.error("tamper event \(event.id) at premises \(event.premises) could not be recorded; it is tried again") }
    }

    // MARK: - Random faults and tampering

    func randomFaults(now: Timestamp) async {
        guard let fleet, fleet.count > 0 else { return }
        let previous = state.withLock { state -> Timestamp? in
            let last = state.lastFaultCheck
            state.lastFaultCheck = now
            return last
        }
        guard let previous, now > previous else { return }
        let years = Double(previous.milliseconds(to: now)) / (365.25 * Double(CalendarDay.millisecondsPerDay))
        var random = SplitMix64(seed: mix(settings.seed, now.bitPattern))
        // Feeder faults: each takes out a feeder's homes for a while.
        let feeders = fleet.layout.feederStart.count
        let perFeeder = Double(fleet.count) / Double(max(1, feeders))
        let faults = poisson(settings.interruptionsPerPremisesYear * Double(fleet.count) / perFeeder * years, &random)
        let tampers = poisson(settings.tampersPerPremisesYear * Double(fleet.count) * years, &random)
        guard faults + tampers > 0 else { return }
        var mutations: [Mutation] = []
        var nextID: Int64
        do {
            nextID = try await store.powerCuts().map(\.id).max() ?? 0
        } catch {
            logger.error("power cuts could not be read for new faults: \(error)")
            return
        }
        for _ in 0..<faults {
            nextID += 1
            let minutes = max(1, min(24 * 60, Int(60 * exp(random.normal(0, 0.9)))))
            mutations.append(.putPowerCut(PowerCutRecord(id: nextID, scope: .feeder, value: Int64(random.uniform(0, Double(feeders))), start: now,
                                                         end: now.adding(milliseconds: Int64(minutes) * 60_000), reason: "LV fault")))
        }
        for _ in 0..<tampers {
            let index = Int64(random.uniform(0, Double(fleet.count)))
            mutations.append(.addTamperEvent(premises: Fleet.premisesIDBase + index, at: now, reason: "tamper"))
        }
        do {
            try await sink.receive([], writes: mutations)
        } catch {
            logger.error("random faults could not be recorded: \(error)")
        }
    }

    func poisson(_ mean: Double, _ random: inout SplitMix64) -> Int {
        guard mean > 0 else { return 0 }
        if mean > 50 { return max(0, Int(random.normal(mean, mean.squareRoot()).rounded())) }
        var count = 0
        var product = random.unit()
        let limit = exp(-mean)
        while product > limit {
            count += 1
            product *= random.unit()
        }
        return count
    }

    // MARK: - Low credit

    /// Once a day, works out when each prepayment meter's balance will fall below its low
    /// credit threshold; the alerts go out when that moment comes.
    func lowCredit(now: Timestamp) async {
        let today = now.day.number
        let plan = state.withLock { state -> Bool in
            guard state.lowCreditDay != today else { return false }
            state.lowCreditDay = today
            state.lowCreditDue = []
            return true
        }
        if plan {
            var due: [(Timestamp, Int64, Fuel)] = []
            var premisesIDs: [Int64] = []
            if let fleet {
                for index in 0..<fleet.count where fleet.traits[index].householdFeatures.contains(.prepayment) {
                    premisesIDs.append(Fleet.premisesIDBase + Int64(index))
                }
            }
            for premisesID in premisesIDs {
                guard let model = directory.model(premises: premisesID), model.prepayment, model.installDay < today,
                      let premisesState = try? await directory.state(premises: premisesID) else { continue }
                _ = engine.walk(model, premisesState, from: today, through: today, events: { event in
                    if event.kind == .lowCredit && event.at > now { due.append((event.at, premisesID, event.fuel)) }
                }, visit: { _, _ in })
                await Task.yield()
                if Task.isCancelled { return }
            }
            state.withLock { $0.lowCreditDue = due.sorted { $0.0 < $1.0 } }
        }
        let ready = state.withLock { state -> [(Timestamp, Int64, Fuel)] in
            let split = state.lowCreditDue.firstIndex { $0.0 > now } ?? state.lowCreditDue.count
            let ready = Array(state.lowCreditDue[..<split])
            state.lowCreditDue.removeFirst(split)
            return ready
        }
        for (at, premisesID, _) in ready {
            _ = await change(premisesID) { model, premisesState in
                guard let esmeEUI = model.device(.esme)?.eui else { return nil }
                let alert = DeviceAlert(header: DeviceMessageHeader(originator: esmeEUI, target: self.dccEUI, counter: premisesState.nextDeviceCounter(esmeEUI, at: at),
                                                                    serviceReference: nil, srv: nil, timestamp: at),
                                        code: 0x810D, description: "Combined Credit Below Low Credit Threshold (prepayment mode)", at: at, payload: nil,
                                        recipients: [.supplier])
                premisesState.log(LogEntry(at: at, code: 0x810D, meaning: "Combined Credit Below Low Credit Threshold"), device: esmeEUI)
                return Change(messages: [.alert(alert)])
            }
        }
    }
}
