import Devices
import DUIS
import Foundation
import GBCS
import HeapModule
import Logging
import Privacy
import Storage
import Synchronization
import WAN

/// Locks per premises (striped), so a premises' state changes one command at a time.
final class PremisesLocks: Sendable {
    private let stripes: [AsyncSerialLock]

    init(count: Int = 1024) { stripes = (0..<count).map { _ in AsyncSerialLock() } }

    func withLock<T: Sendable, E: Error>(_ premises: Int64, _ body: () async throws(E) -> T) async throws(E) -> T {
        let index = Int(UInt64(bitPattern: premises) % UInt64(stripes.count))
        return try await stripes[index].withLock(body)
    }
}

/// The WAN as the hub sees it: the model, with outages and the sunset date that admin
/// commands change at run time.
final class WANState: Sendable {
    private let model: Mutex<WANModel>

    init(_ settings: WANSettings) { model = Mutex(WANModel(settings: settings)) }

    var current: WANModel { model.withLock { $0 } }

    func update(outages: [WANOutage], sunset: Timestamp?) {
        model.withLock { model in
            model.outages = outages
            model.settings.sunset = sunset
        }
    }
}

/// A request to run against a device: a user's request held at the device boundary, or
/// a run of a DCC schedule.
struct DeviceJob: Sendable {
    var requestID: String
    var due: Timestamp
    var premises: Int64?
}

/// The device boundary: takes device requests the gateway accepted (or DCC schedules
/// due), sends each across the emulated WAN to its device, lets the device act, and
/// queues the signed asynchronous Service Response for the user. A request's outcome,
/// the device's new state and the response are committed in one transaction; a request
/// not yet finished when the hub stops is picked up again when it starts.
final class DeviceDispatcher: Sendable {
    struct Entry: Comparable {
        var due: Int64
        var sequence: UInt64
        var requestID: String
        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.due, lhs.sequence) < (rhs.due, rhs.sequence) }
    }

    private struct Queue {
        var heap = Heap<Entry>()
        var queued = Set<String>()
        var sequence: UInt64 = 0
        var inFlight = 0
    }

    let dccEUI: EUI64
    let store: SQLiteStore
    let committer: GroupCommitter
    let inventory: Inventory
    let registry: UserRegistry
    let directory: PremisesDirectory
    let locks: PremisesLocks
    let wan: WANState
    let emulator: DeviceEmulator
    /// The device's answers and alerts as each user receives them (GBCS or MMC).
    let answers: DeviceAnswers
    let signer: ResponseSigner
    let limits: XMLParseLimits
    let schedules: ScheduleBook
    let outboxWakeup: Wakeup
    let wakeup = Wakeup()
    let concurrency: Int
    let privacy: PrivacyGuard
    let accessControl: AccessControl
    let plans: PlanPipeline
    let jobs: JobGuard
    /// The GBCS commands sent over the SM WAN.
    let commands: WANCommands
    let logger: Logger
    /// The time (`HubClock`): due times, WAN attempts, authorisation and the answers' times.
    let clock: any HubClock
    private let queue = Mutex(Queue())
    let metrics = DeviceMetrics()

    init(dccEUI: EUI64, store: SQLiteStore, committer: GroupCommitter, inventory: Inventory, registry: UserRegistry, directory: PremisesDirectory,
         locks: PremisesLocks, wan: WANState, emulator: DeviceEmulator, answers: DeviceAnswers, signer: ResponseSigner, limits: XMLParseLimits,
         schedules: ScheduleBook, outboxWakeup: Wakeup, concurrency: Int, privacy: PrivacyGuard, accessControl: AccessControl, plans: PlanPipeline,
         jobs: JobGuard, commands: WANCommands, clock: any HubClock, logger: Logger) {
        self.clock = clock
        self.commands = commands
        self.dccEUI = dccEUI
        self.store = store
        self.committer = committer
        self.inventory = inventory
        self.registry = registry
        self.directory = directory
        self.locks = locks
        self.wan = wan
        self.emulator = emulator
        self.answers = answers
        self.signer = signer
        self.limits = limits
        self.schedules = schedules
        self.outboxWakeup = outboxWakeup
        self.concurrency = concurrency
        self.privacy = privacy
        self.accessControl = accessControl
        self.plans = plans
        self.jobs = jobs
        self.logger = logger
    }

    /// Queues a stored request to run at `due`.
    func enqueue(_ requestID: String, due: Timestamp) {
        let added = queue.withLock { queue -> Bool in
            guard queue.queued.insert(requestID).inserted else { return false }
            queue.sequence += 1
            queue.heap.insert(Entry(due: due.milliseconds, sequence: queue.sequence, requestID: requestID))
            return true
        }
        if added { wakeup.signal() }
    }

    var pending: Int { queue.withLock { $0.queued.count } }

    /// Loads the requests a previous run left at the device boundary.
    func recover() async throws {
        var recovered = 0
        for status in [RequestStatus.awaitingDevice, .scheduled] {
            // Keys only: the bodies are read one at a time, when each request runs.
            for (requestID, due) in try await store.requestKeys(status: status, limit: 10_000_000) {
                enqueue(requestID, due: due)
                recovered += 1
            }
        }
        if recovered > 0 { logger.info("\(recovered) device request(s) resumed at the device boundary") }
    }

    /// Runs due requests until cancelled, at most `concurrency` at once.
    func run() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let now = clock.now().milliseconds
                var started = 0
                while let entry = nextDue(now: now) {
                    started += 1
                    group.addTask {
                        let retry = await self.process(entry.requestID)
                        self.finished(entry.requestID, retryAfter: retry)
                    }
                }
                let nextDue = queue.withLock { queue -> Int64? in
                    queue.inFlight >= concurrency ? nil : queue.heap.min?.due
                }
                let wait: Duration = nextDue.map { .milliseconds(max(1, min(1000, $0 - clock.now().milliseconds))) } ?? .seconds(1)
                if started == 0 || nextDue == nil { await wakeup.wait(upTo: wait) }
            }
            group.cancelAll()
        }
    }

    private func nextDue(now: Int64) -> Entry? {
        queue.withLock { queue -> Entry? in
            guard queue.inFlight < concurrency, let first = queue.heap.min, first.due <= now else { return nil }
            queue.inFlight += 1
            return queue.heap.removeMin()
        }
    }

    private func finished(_ requestID: String, retryAfter delay: Duration?) {
        queue.withLock { queue in
            queue.inFlight -= 1
            if let delay {
                queue.sequence += 1
                queue.heap.insert(Entry(due: clock.now().milliseconds + delay.milliseconds, sequence: queue.sequence, requestID: requestID))
            } else {
                queue.queued.remove(requestID)
            }
        }
        wakeup.signal()
    }

    // MARK: - One request

    /// What the hub knows about a request it is about to run.
    struct Work {
        var stored: StoredRequest
        var header: RequestHeader
        var body: ElementTree
        var device: DeviceRecord
        var premises: PremisesRecord
        var model: PremisesModel
        var scheduleID: Int64?
        /// The request's `ExecutionDateTime` as written, for a critical command the device may hold.
        var executionDateTime: String? = nil
    }

    enum Failure: Error {
        case refused(Refusal)
        case storage(any Error)
        /// The premises' occupancy changed after the privacy check.
        case stale
    }

    /// Why a 3.2's restriction date cannot start a new occupancy, or nil.
    ///
    /// A new household's time begins at the restriction date, so everything recorded from
    /// then on is theirs to see: the date must not reach back into the household before.
    /// It must lie after the installation and at least a day after the current occupancy
    /// began (the other fuel's 3.2 for the same move, within a day of it, is the same
    /// move), at most `lateMoveIn` in the past (a move-in reported late) and at most a day
    /// ahead.
    func tenancyProblem(_ body: ElementTree, premises: Int64, model: PremisesModel, at time: Timestamp) async throws -> String? {
        guard let text = body.value("RestrictionDateTime") else { return nil }
        guard let restriction = Timestamp(xsDateTime: text) else { return "RestrictionDateTime \(untrusted(text, limit: 40)) is not a date-time" }
        let current = try await privacy.occupancy(premises: premises)
        let sameMove = current.sequence > 0 && current.cause.hasPrefix("3.2")
            && current.start.milliseconds(to: restriction).magnitude < UInt64(CalendarDay.millisecondsPerDay)
        if !sameMove, restriction < current.start.adding(days: 1) {
            return "RestrictionDateTime \(restriction.iso8601) is not a day after the current occupancy began (\(current.start.iso8601)): a change of tenancy cannot reach back into an earlier household's time"
        }
        let installed = Timestamp(dayNumber: model.installDay)
        if restriction < installed {
            return "RestrictionDateTime \(restriction.iso8601) is before the meters were installed (\(installed.isoDate))"
        }
        if restriction < time.adding(days: -Self.lateMoveIn) {
            return "RestrictionDateTime \(restriction.iso8601) is more than \(Self.lateMoveIn) days in the past: a change of tenancy reported that late would hand the previous household's data to the new one"
        }
        if restriction > time.adding(days: 1) {
            return "RestrictionDateTime \(restriction.iso8601) is more than a day ahead"
        }
        return nil
    }

    /// How late a move-in may be reported with 3.2, days.
    static let lateMoveIn: Int64 = 7

    /// Runs one request; returns when to try it again if it could not finish.
    func process(_ requestID: String) async -> Duration? {
        let started = ContinuousClock.now
        let stored: StoredRequest
        do {
            guard let found = try await store.request(id: requestID) else { return nil }
            stored = found
        } catch is CancellationError {
            return nil  // shutting down: the request stays at the boundary for the next start
        } catch {
            logger.error("device boundary: \(requestID) could not be read: \(error)")
            return .seconds(5)
        }
        guard stored.status == .awaitingDevice || stored.status == .scheduled else { return nil }
        if let executeAt = stored.executeAt, executeAt > clock.now() {
            // Future-dated and not yet due.
            return .milliseconds(max(1, min(Int64(Int32.max), clock.now().milliseconds(to: executeAt))))
        }
        return await run(stored, started: started)
    }

    /// Runs the request on its device, marked as running first (`JobGuard`): the part where
    /// the request's content is acted on (the emulated device, the privacy filters, the
    /// answer), not the waits for the WAN before it. So a crash counts against the few
    /// requests executing at that moment, and a suspect runs alone for milliseconds, not
    /// for the length of a WAN round trip.
    private func executeMarked(_ work: Work, attempts: Int) async -> Duration? {
        let requestID = work.stored.requestID
        return await jobs.isolated(crashes: work.stored.crashes) { () async -> Duration? in
            do {
                try await jobs.mark([.request(requestID)])
            } catch {
                logger.error("device boundary: \(requestID) could not be marked as running (\(error)); it will run later")
                return .seconds(5)
            }
            let retry = await execute(work, attempts: attempts)
            // Finished, or stopped to be tried again: either way no longer running.
            await jobs.finished(.request(requestID), crashes: work.stored.crashes)
            return retry
        }
    }

    /// Authorises a request again when it runs: a held or future-dated request was
    /// authorised for its execution time when it arrived, but the user may since have been
    /// suspended, or its registration for the device ended.
    func reauthorise(_ work: Work, at time: Timestamp) -> Refusal? {
        if let scheduleID = work.scheduleID {
            guard let schedule = schedules.schedule(scheduleID) else { return nil }
            guard let owner = registry.user(schedule.owner) else {
                return Refusal(.E1, rule: "user-registered", "\(schedule.owner), the owner of DCC schedule \(scheduleID), is no longer a registered DCC user")
            }
            guard owner.status == .active else {
                return Refusal(.E3, rule: "user-status", "\(owner.eui), the owner of DCC schedule \(scheduleID), is \(owner.status.rawValue)")
            }
            let eligible = owner.roles.intersection(work.header.variant.eligibleRoles)
            guard eligible.contains(where: { accessControl.authorisation(role: $0, user: owner.eui, device: work.device, at: time) != nil }) else {
                return Refusal(.E4, rule: "device-authorisation", "\(owner.eui) is no longer authorised for \(work.device.type.rawValue) \(work.device.eui) at \(time.iso8601)")
            }
            return nil
        }
        guard let user = registry.user(work.stored.originator) else {
            return Refusal(.E1, rule: "user-registered", "\(work.stored.originator) is no longer a registered DCC user")
        }
        guard let commandVariant = work.header.commandVariant else { return Refusal(.E12, rule: "command-variant-range", "invalid command variant") }
        do {
            _ = try accessControl.decide(header: work.header, user: user, service: commandVariant.service, at: time)
            return nil
        } catch {
            return error
        }
    }

    /// Runs a request that is due and marked as running.
    private func run(_ stored: StoredRequest, started: ContinuousClock.Instant) async -> Duration? {
        let requestID = stored.requestID
        let work: Work
        switch prepare(stored) {
        case .success(let prepared):
            work = prepared
        case .failure(let refusal):
            return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule)
        }
        if let refusal = reauthorise(work, at: clock.now()) {
            return await finish(stored, code: refusal.code, reason: "when the request was due to run: \(refusal.reason)", rule: refusal.rule, work: work)
        }
        let endpoint = directory.endpoint(premises: work.premises.id, region: work.premises.region)
        // A stable number for the message (String.hashValue differs between runs), so the
        // WAN's draws for a request are the same every time.
        var message: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in requestID.utf8 { message = (message ^ UInt64(byte)) &* 0x100_0000_01B3 }
        // Reads of a gas meter are answered by the GPF from its copy of the meter's data.
        let answeredByGPF = work.device.type == .gsme && work.header.serviceReference.hasPrefix("4.")
        var lastFailure: (ResponseCode, String) = (.E21, "no response")
        for attempt in 0..<Self.maxAttempts {
            let model = wan.current
            switch model.attempt(endpoint, device: work.device.type, message: message, attempt: attempt, at: clock.now(), answeredByGPF: answeredByGPF) {
            case .delivered(let roundTrip, _):
                if roundTrip > .zero { try? await Task.sleep(for: roundTrip) }
                if Task.isCancelled { return nil }
                let retry = await executeMarked(work, attempts: attempt + 1)
                if retry == nil { metrics.record(outcome: "I0", duration: ContinuousClock.now - started) }
                return retry
            case .lost(let timeout):
                lastFailure = (.E21, "no response from \(work.device.type.rawValue) \(work.device.eui) after \(attempt + 1) attempt(s) over the \(endpoint.region.wanTechnology) WAN")
                if timeout > .zero { try? await Task.sleep(for: timeout) }
            case .unreachable(let reason):
                lastFailure = (.E20, "cannot communicate with \(work.device.eui): \(reason)")
                let delay = model.scaledRetry(attempt)
                if delay > .zero { try? await Task.sleep(for: delay) }
            }
            if Task.isCancelled { return nil }
        }
        metrics.record(outcome: lastFailure.0.rawValue, duration: ContinuousClock.now - started)
        return await finish(stored, code: lastFailure.0, reason: lastFailure.1 + " (tried \(Self.maxAttempts) times)", rule: "device-communication", work: work)
    }

    static let maxAttempts = 4

    private func prepare(_ stored: StoredRequest) -> Result<Work, Refusal> {
        let request: ServiceRequestDocument
        var body: ElementTree
        var scheduleID: Int64?
        var executionDateTime: String?
        let header: RequestHeader
        if stored.commandVariant == 0, let run = ScheduledRun(stored: stored) {
            // A DCC schedule's run: the body comes from the schedule's definition.
            guard let schedule = schedules.schedule(run.scheduleID), schedule.deletedAt == nil else {
                return .failure(Refusal(.E19, rule: "schedule-exists", "DCC schedule \(run.scheduleID) was deleted before this run"))
            }
            guard let variant = ServiceCatalogue.variant(schedule.srv) else {
                return .failure(Refusal(.E12, rule: "schedule", "schedule \(run.scheduleID) names an unknown SRV \(schedule.srv)"))
            }
            header = RequestHeader(schemaVersion: "5.4", requestID: RequestID(originator: dccEUI, target: schedule.device, counter: stored.counter),
                                   firstInSequence: nil, precedingRequestID: nil, commandVariantText: "1",
                                   serviceReference: variant.serviceReference, variant: variant)
            guard let runBody = run.body(schedule: schedule, variant: variant) else {
                return .failure(Refusal(.E12, rule: "schedule", "schedule \(run.scheduleID)'s read period does not fit the calendar on \(run.runAt.isoDate)"))
            }
            body = runBody
            scheduleID = run.scheduleID
        } else {
            do {
                let document = try XMLDocument.parse(stored.raw, limits: limits)
                request = try ServiceRequestDocument(document)
            } catch {
                return .failure(Refusal(.E12, rule: "stored-request", "the stored request can no longer be read: \(error)"))
            }
            header = request.header
            body = request.body()
            if body.children.first?.name == "ExecutionDateTime" {
                executionDateTime = body.children.removeFirst().text
            }
        }
        guard let device = inventory.device(stored.target) else {
            return .failure(Refusal(.E19, rule: "device-exists", "device \(stored.target) left the inventory before the request ran"))
        }
        guard !device.optedOut else {
            return .failure(Refusal(.E5, rule: "device-status", "device \(device.eui) opted out of DCC services before the request ran"))
        }
        guard let premisesID = device.premises, let premises = inventory.premises(premisesID), let model = directory.model(premises: premisesID) else {
            return .failure(Refusal(.E20, rule: "device-installation", "device \(device.eui) is not installed at a premises with a comms hub"))
        }
        return .success(Work(stored: stored, header: header, body: body, device: device, premises: premises, model: model, scheduleID: scheduleID,
                             executionDateTime: executionDateTime))
    }

    /// Runs the command on the device and records its answer.
    private func execute(_ work: Work, attempts: Int) async -> Duration? {
        let stored = work.stored
        let originator = work.scheduleID.flatMap { schedules.schedule($0)?.owner } ?? stored.originator
        let roles = registry.user(originator)?.roles ?? []
        // A critical command goes as the GBCS its user signed and DCC MAC'd; the device
        // checks both before it acts.
        var gbcs: [UInt8]?
        if CommandVariant(rawValue: stored.commandVariant)?.sendsSignedPreCommand == true {
            do {
                gbcs = try await store.preCommand(requestID: stored.requestID)?.signed
            } catch {
                logger.error("device boundary: the command of \(stored.requestID) could not be read (\(error)); it will run again")
                return .seconds(5)
            }
            if gbcs == nil {
                return await finish(stored, code: .E12, reason: "no signed pre-command is stored for this request", rule: CriticalCommandRule.notIssued.rawValue, work: work)
            }
        } else if work.scheduleID == nil {
            // A non-critical command goes as GBCS where gbsm builds its use case: MAC'd by the
            // access control broker; the device checks the MAC and the counter.
            let cin = work.header.variant.srv == "9.1" ? WANCommands.makeCustomerIdentificationNumber() : nil
            if let frame = commands.command(srv: work.header.variant.srv, body: work.body, user: originator, roles: roles, device: work.device,
                                            counter: stored.counter, customerIdentificationNumber: cin).frame {
                do {
                    gbcs = try commands.maced(frame)
                } catch {
                    return await finish(stored, code: error.code, reason: error.reason, rule: error.rule, work: work)
                }
            }
        }
        // A critical command future-dated at the device: the time the request asked for,
        // which the device checks against its GBCS (it was transformed at `receivedAt`).
        var executionTime: ExecutionTime?
        if work.header.variant.futureDating == .device && work.header.variant.isCritical {
            if let text = work.executionDateTime {
                // The transform accepted it, so it reads; were it not to, the device is not told.
                do throws(Refusal) {
                    executionTime = try CriticalCommandDesk.executionTime(text, at: stored.receivedAt)
                } catch {
                    executionTime = nil
                }
            } else {
                executionTime = .now
            }
        }
        let command = DeviceCommand(srv: work.header.variant.srv, serviceReference: work.header.serviceReference, target: work.device.eui,
                                    targetType: work.device.type, originator: originator, originatorRoles: roles,
                                    requestID: stored.requestID, body: work.body, gbcs: gbcs, executionTime: executionTime)
        // The data access rules again, as they stand now: a consent may have been withdrawn,
        // or the tenancy changed, since the gateway accepted the request.
        var check: PrivacyGuard.Check?
        if DataRequest.classify(srv: command.srv) != nil {
            guard let user = registry.user(originator),
                  let role = privacy.role(of: user, srv: command.srv, device: work.device, accessControl: accessControl, at: clock.now()) else {
                return await finish(stored, code: .E4, reason: "\(originator) is no longer authorised for \(work.device.eui)", rule: "device-authorisation", work: work)
            }
            do {
                check = try await privacy.check(role: role, party: originator, device: work.device, srv: command.srv)
            } catch {
                logger.error("device boundary: privacy check for \(stored.requestID) failed (\(error)); it will run again")
                return .seconds(5)
            }
            if let check, case .refuse(let rule, let reason) = check.effective {
                return await finish(stored, code: .E4, reason: "when the request was due to run: \(reason)", rule: rule, work: work,
                                    extra: [.privacy(.recordAccess(check.refusalAccess(party: originator, requestID: stored.requestID, at: clock.now())))])
            }
        }
        // Other users and the HAN, as things stand now (a consent may have been withdrawn).
        if PrivacyRules.hanChangeSRVs.contains(command.srv), let user = registry.user(originator),
           let role = privacy.role(of: user, srv: command.srv, device: work.device, accessControl: accessControl, at: clock.now()) {
            do {
                if case .refuse(let rule, let reason) = try await privacy.hanCheck(role: role, party: originator, device: work.device, srv: command.srv, body: work.body) {
                    return await finish(stored, code: .E4, reason: "when the request was due to run: \(reason)", rule: rule, work: work)
                }
            } catch {
                logger.error("device boundary: HAN check for \(stored.requestID) failed (\(error)); it will run again")
                return .seconds(5)
            }
        }
        var aggregated = false
        do {
            try await locks.withLock(work.premises.id) { () async throws(Failure) in
                var state: PremisesState
                do {
                    state = try await directory.state(premises: work.premises.id)
                    // A change of tenancy committed since the check: decide again.
                    if let check, try await privacy.occupancy(premises: work.premises.id).sequence != check.occupancy.sequence { throw Failure.stale }
                } catch let failure as Failure {
                    throw failure
                } catch {
                    throw .storage(error)
                }
                if command.srv == "3.2" {
                    let problem: String?
                    do {
                        problem = try await tenancyProblem(work.body, premises: work.premises.id, model: work.model, at: clock.now())
                    } catch {
                        throw .storage(error)
                    }
                    if let problem { throw .refused(Refusal(.E12, rule: "tenancy-restriction", problem)) }
                }
                let time = clock.now()
                let previousRestriction = state.tenancyRestriction
                let otherDevice = work.body.value("OtherDeviceID").flatMap { EUI64($0) }
                let wasJoined = otherDevice.map { DeviceEmulator.isJoined(work.device.eui, to: $0, model: work.model, state: state) } ?? false
                if command.srv == "11.3", let image = commands.firmware.image(for: work.device.eui), let hash = Hex.decode(image.imageSHA256) {
                    // The image 11.1 distributed has reached the device by the time it is activated.
                    state.holdFirmwareImage(work.device.eui, manufacturerImageHash: hash, version: image.version, at: image.createdAt)
                }
                var outcome = emulator.execute(command, model: work.model, state: &state, at: time)
                var mutations: [Mutation] = []
                var privacyNote = ""
                var planReceipt: String?
                if let check, outcome.success {
                    do {
                        let (note, more, receipt) = try await applyPrivacy(check, outcome: &outcome, originator: originator, work: work, at: time)
                        privacyNote = note
                        planReceipt = receipt
                        mutations += more
                        if case .aggregate = check.effective { aggregated = true }
                    } catch {
                        throw .storage(error)
                    }
                }
                if command.srv == "3.2", outcome.success, let restriction = state.tenancyRestriction, restriction != previousRestriction {
                    do {
                        mutations += try await changeOfTenancy(premises: work.premises.id, at: restriction, by: originator, requestID: stored.requestID, time: time)
                    } catch {
                        throw .storage(error)
                    }
                }
                if outcome.response.header.counter > 0 {
                    mutations.append(.putDeviceState(premises: work.premises.id, state: PremisesDirectory.encode(state), wakeAt: DeviceEmulator.wakeTime(state)))
                }
                // Who joined which HAN device: other users may later unjoin what they joined. A
                // join of devices already joined claims nothing.
                if outcome.success, let hanDevice = PrivacyGuard.hanDevice(srv: command.srv, target: work.device, body: work.body) {
                    if command.srv == "8.7.2", !wasJoined, let otherDevice, DeviceEmulator.isJoined(work.device.eui, to: otherDevice, model: work.model, state: state) {
                        do {
                            let occupancy = try await privacy.occupancy(premises: work.premises.id)
                            mutations.append(.recordHANJoin(premises: work.premises.id, device: hanDevice, party: originator, occupancy: occupancy.sequence, at: time))
                        } catch {
                            throw .storage(error)
                        }
                    } else if command.srv == "8.8.2" || (command.srv == "8.11" && work.body.value("RequestType") == "Remove") {
                        mutations.append(.recordHANJoin(premises: work.premises.id, device: hanDevice, party: nil, occupancy: 0, at: time))
                    }
                }
                // Held commands that fell due before this one ran first.
                mutations += heldCommandMutations(outcome.held, at: time)
                mutations.append(.setRequestStatus(requestID: stored.requestID, status: .completed, code: ResponseCode.I0.rawValue))
                let detail = "\(work.device.type.rawValue) \(work.device.eui) answered after \(attempts) attempt(s): \(outcome.note)" + (outcome.success ? "" : " (the device refused)")
                    + privacyNote
                mutations.append(.audit(AuditEvent(at: time, kind: "device", actor: originator, device: work.device.eui, srv: command.srv,
                                                   requestID: stored.requestID, code: "I0", detail: detail)))
                mutations.append(.enqueueOutbox(response(work, outcome: outcome, originator: originator, command: gbcs, planReceipt: planReceipt, at: time)))
                for alert in outcome.alerts {
                    for recipient in recipients(alert, work: work, originator: originator) {
                        mutations.append(.enqueueOutbox(deviceAlert(alert, to: recipient, at: time)))
                        mutations.append(.audit(AuditEvent(at: time, kind: "alert", actor: recipient, device: alert.header.originator,
                                                           code: alert.hexCode, detail: "device alert \(alert.hexCode) \(alert.description) queued for \(recipient)")))
                    }
                }
                if outcome.optedOut {
                    var opted = work.device
                    opted.optedOut = true
                    mutations.append(.putDevice(opted))
                }
                // A firmware activation the device reports done: DCC's inventory records the
                // version it now runs (DUIS 8.2 and the SMI show it).
                var activated = false
                if command.srv == "11.3", outcome.success,
                   let version = outcome.response.body.children.first(where: { $0.name == "FirmwareVersion" })?.text, !version.isEmpty,
                   version != work.device.firmwareVersion {
                    // A device that left the inventory meanwhile is not written back.
                    if var updated = inventory.device(work.device.eui) {
                        updated.firmwareVersion = String(version.prefix(64))
                        mutations.append(.setFirmwareVersion(updated))
                        activated = true
                    }
                }
                do {
                    try await committer.commit(mutations)
                } catch {
                    throw .storage(error)
                }
                if outcome.optedOut || activated || !outcome.held.isEmpty { inventory.apply(mutations) }
                for case .privacy(.startOccupancy(let occupancy)) in mutations { privacy.remember(occupancy) }
                directory.remember(work.premises.id, state)
            }
            outboxWakeup.signal()
            if aggregated { plans.wakeup.signal() }
            return nil
        } catch .stale {
            return .milliseconds(1)
        } catch .refused(let refusal) {
            return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule, work: work)
        } catch {
            logger.error("device boundary: \(stored.requestID) could not be recorded (\(error)); it will run again")
            return .seconds(5)
        }
    }

    /// Applies a privacy decision to the device's answer: readings outside the data window
    /// are dropped; under a data privacy plan the readings go to the plan's pipeline and the
    /// user gets a receipt instead. Returns the audit note, the mutations to commit, and
    /// the receipt (under a plan).
    private func applyPrivacy(_ check: PrivacyGuard.Check, outcome: inout DeviceOutcome, originator: EUI64, work: Work,
                              at time: Timestamp) async throws -> (String, [Mutation], String?) {
        let requestID = work.scheduleID == nil ? work.stored.requestID : nil
        switch check.effective {
        case .refuse:
            return ("", [], nil)
        case .release(_, _, let from):
            let dropped = ResponseFilter.dropEntries(&outcome.response.body, before: from, period: check.request.periodMilliseconds)
            let window = dropped > 0 ? "; \(dropped) log entr\(dropped == 1 ? "y" : "ies") covering time before \(from.iso8601) withheld" : ""
            let access = check.auditOnly ? check.refusalAccess(party: originator, requestID: requestID, at: time)
                : check.access(party: originator, outcome: .released, detail: outcome.note + window, requestID: requestID, at: time)
            return ("; \(check.summary)\(window)", [.privacy(.recordAccess(access))], nil)
        case .aggregate(let planID, _, _, let from):
            _ = ResponseFilter.dropEntries(&outcome.response.body, before: from, period: check.request.periodMilliseconds)
            guard let plan = try await store.plans(user: originator).first(where: { $0.id == planID }) else {
                outcome.response.body.children = []
                return ("; data privacy plan \(planID) was retired: the readings were discarded", [],
                        "gbsm: data privacy plan \(planID) was retired: the readings were discarded")
            }
            // Only import profiles and daily consumption are aggregated; a plan takes no
            // period before its data window (the user's previous plan's retirement).
            let values = check.request.feedsPlans
                ? ResponseFilter.readings(outcome.response.body, periodMilliseconds: check.request.periodMilliseconds)
                    .filter { $0.start >= (plan.dataFrom ?? Timestamp(milliseconds: Int64.min)) }
                : []
            let readings = try await plans.intake(plan: plan, premises: check.occupancy.premises, occupancy: check.occupancy.sequence, readings: values)
            // The receipt echoes what was asked, never what was found: how many readings, or
            // the first period after the move-in, would tell the operator when the household
            // moved in or the meter was installed.
            // MMC has no element for it, so the receipt is the Service Response's comment,
            // and the response carries no device payload.
            var receipt = "gbsm: data privacy plan \(plan.id) receipt"
            if let period = work.body.child("ReadLogPeriod"),
               let start = period.value("StartDateTime").flatMap({ Timestamp(xsDateTime: $0) }),
               let end = period.value("EndDateTime").flatMap({ Timestamp(xsDateTime: $0) }) {
                receipt += "; requested from \(start.iso8601) to \(end.iso8601)"
            }
            receipt += check.request.feedsPlans ? "; aggregated by \(plan.level.rawValue) under the plan; no reading is returned raw"
                : "; withheld: the plan aggregates import profiles (4.8.1) and daily consumption (4.17) only"
            outcome.response.body.children = []
            let detail = "\(readings.count) reading(s) pseudonymised into data privacy plan \(plan.id) (\(plan.level.rawValue) aggregates)"
            return ("; \(check.summary); \(detail)", [
                .privacy(.addPlanReadings(plan: plan.id, readings: readings, at: time)),
                .privacy(.recordAccess(check.access(party: originator, outcome: .aggregated, detail: detail, requestID: requestID, at: time))),
            ], receipt)
        }
    }

    /// A change of tenancy (3.2 on the meter): a new occupancy from the restriction date,
    /// whose consents start empty.
    private func changeOfTenancy(premises: Int64, at restriction: Timestamp, by originator: EUI64, requestID: String, time: Timestamp) async throws -> [Mutation] {
        let current = try await store.currentOccupancy(premises: premises)
        // The other fuel's meter already started it (its 3.2 may carry a slightly different time).
        if current.sequence > 0, current.cause.hasPrefix("3.2"), current.start.milliseconds(to: restriction).magnitude < UInt64(CalendarDay.millisecondsPerDay) { return [] }
        guard current.start != restriction else { return [] }
        let next = Occupancy(premises: premises, sequence: current.sequence + 1, start: restriction, cause: "3.2 from \(originator) (\(requestID))")
        return [
            .privacy(.startOccupancy(next)),
            .audit(AuditEvent(at: time, kind: "privacy", actor: originator, requestID: requestID, code: "occupancy \(next.sequence)",
                              detail: "change of tenancy at premises \(premises): occupancy \(next.sequence) begins \(restriction.iso8601); the consents and portal sign-in of occupancy \(current.sequence) no longer apply, and no reading from before \(restriction.iso8601) is released to anyone")),
        ]
    }

    /// The signed asynchronous Service Response carrying the device's answer.
    /// Under a data privacy plan (`planReceipt`) it carries no device payload: the receipt
    /// is its comment.
    private func response(_ work: Work, outcome: DeviceOutcome, originator: EUI64, command: [UInt8]?, planReceipt: String? = nil, at time: Timestamp) -> OutboxItem {
        let payload: String
        var fallback: String?
        if planReceipt != nil {
            // Under a plan the user receives DCC's emptied answer (a schedule's) or none: not
            // the device's message.
            payload = work.scheduleID == nil ? "" : Data(answers.direct.encode(outcome.response)).base64EncodedString()
        } else {
            let answer = answers.payload(outcome.response, success: outcome.success, command: command, deviceType: work.device.type, user: originator,
                                         counter: work.stored.counter, format: registry.user(originator)?.answerFormat ?? .gbcs)
            payload = Data(answer.bytes).base64EncodedString()
            if answer.form == .direct {
                fallback = "gbsm: the device's answer could not be written in GBCS; GBCSPayload holds the emulator's MMC XML (README, Not yet)"
            }
        }
        let header = work.header
        let cin = outcome.customerIdentificationNumber
        let scheduleID = work.scheduleID
        let write: @Sendable (inout CanonicalXMLWriter) -> Void = { writer in
            if let scheduleID {
                writer.open("sr:DSPScheduledMessage")
                writer.element("sr:GBCSPayload", payload)
                writer.element("sr:DSPScheduleID", String(scheduleID))
                writer.close()
            } else if let cin {
                writer.open("sr:CINMessage")
                writer.element("sr:GBCSPayload", payload)
                writer.element("sr:CustomerIdentificationNumber", cin)
                writer.close()
            } else {
                writer.element("sr:GBCSPayload", payload)
            }
        }
        // A scheduled message must carry a payload (the plan's emptied answer); any other
        // answer under a plan carries none.
        let body: DUISResponse.Body = .message(serviceReference: header.serviceReference, srv: header.variant.srv,
                                               payload: planReceipt != nil && scheduleID == nil ? nil : write)
        let requestID = scheduleID == nil ? work.stored.requestID : nil
        let responseID = scheduleID == nil ? header.requestID.responseID : "\(work.device.eui):\(originator):\(outcome.response.header.counter)"
        let document = DUISResponse(schemaVersion: header.schemaVersion, requestID: requestID, responseID: responseID, code: .I0, dateTime: time, body: body)
        let comment = planReceipt ?? (outcome.success ? fallback : "gbsm: the device refused the command: \(outcome.note)" + (fallback.map { "; " + $0 } ?? ""))
        return OutboxItem(recipient: originator, kind: scheduleID == nil ? "service-response" : "dcc-scheduled-response", messageID: responseID,
                          requestID: work.stored.requestID, body: signer.sign(document, comment: comment), createdAt: time, nextAttemptAt: time)
    }

    /// What a device's held commands that ran leave to commit: an audit entry each, their
    /// outcome alerts to the party that sent them (and any other party the alert names),
    /// and the firmware version a CS06 outcome reports, in DCC's inventory as an immediate
    /// activation's answer puts it.
    func heldCommandMutations(_ outcomes: [DeviceEmulator.HeldOutcome], at time: Timestamp) -> [Mutation] {
        var mutations: [Mutation] = []
        for outcome in outcomes {
            let held = outcome.command
            mutations.append(.audit(AuditEvent(at: held.executeAt, kind: "device", actor: held.originator, device: held.device, srv: held.srv,
                                               requestID: held.requestID, code: outcome.success ? "8F66" : "8F67",
                                               detail: "future-dated \(held.srv) held by \(held.deviceType.rawValue) \(held.device) ran at \(held.executeAt.iso8601): \(outcome.note)"
                                                   + (outcome.success ? "" : " (the device did not act)"))))
            for alert in outcome.alerts {
                var recipients = alert.recipients.contains(.originator) ? [alert.header.target] : []
                if let device = inventory.device(alert.header.originator) {
                    recipients += AlertRouting.parties(alert.recipients, device: device, inventory: inventory, at: alert.at)
                }
                var seen = Set<EUI64>()
                for recipient in recipients where seen.insert(recipient).inserted {
                    mutations.append(.enqueueOutbox(deviceAlert(alert, to: recipient, at: time)))
                    mutations.append(.audit(AuditEvent(at: alert.at, kind: "alert", actor: recipient, device: alert.header.originator, code: alert.hexCode,
                                                       detail: "device alert \(alert.hexCode) \(alert.description) queued for \(recipient)")))
                }
            }
            if held.srv == "11.3", outcome.success, let version = Self.reportedFirmware(outcome.alerts),
               var device = inventory.device(held.device), device.firmwareVersion != version {
                device.firmwareVersion = version
                mutations.append(.setFirmwareVersion(device))
            }
        }
        return mutations
    }

    /// The firmware version a CS06 outcome alert reports.
    static func reportedFirmware(_ alerts: [DeviceAlert]) -> String? {
        for alert in alerts where alert.code == 0x8F66 {
            if let version = alert.payload?.children.first?.children.first(where: { $0.name == "FirmwareVersion" })?.text, !version.isEmpty {
                return String(version.prefix(64))
            }
        }
        return nil
    }

    func recipients(_ alert: DeviceAlert, work: Work, originator: EUI64) -> [EUI64] {
        var result: [EUI64] = []
        if alert.recipients.contains(.originator) { result.append(originator) }
        result += AlertRouting.parties(alert.recipients, device: work.device, inventory: inventory, at: alert.at)
        var seen = Set<EUI64>()
        return result.filter { seen.insert($0).inserted }
    }

    /// A device alert as DUIS carries it to one user.
    func deviceAlert(_ alert: DeviceAlert, to recipient: EUI64, at time: Timestamp) -> OutboxItem {
        let payload = Data(answers.payload(alert, recipient: recipient, deviceType: inventory.device(alert.header.originator)?.type,
                                           format: registry.user(recipient)?.answerFormat ?? .gbcs)).base64EncodedString()
        let messageID = "\(alert.header.originator):\(recipient):\(alert.header.counter)"
        let document = DUISResponse(schemaVersion: "5.4", requestID: nil, responseID: messageID, code: .I0, dateTime: time,
                                    body: .deviceAlert(code: alert.hexCode, payload: payload))
        return OutboxItem(recipient: recipient, kind: "device-alert \(alert.hexCode)", messageID: messageID, requestID: nil,
                          body: signer.sign(document), createdAt: time, nextAttemptAt: time)
    }

    /// Ends a request the device did not answer (or that can no longer run) with an
    /// asynchronous response carrying the code.
    private func finish(_ stored: StoredRequest, code: ResponseCode, reason: String, rule: String, work: Work? = nil, extra: [Mutation] = []) async -> Duration? {
        let time = clock.now()
        let srv = work?.header.variant.srv ?? stored.srv
        let serviceReference = work?.header.serviceReference ?? ServiceCatalogue.variant(stored.srv)?.serviceReference ?? stored.srv
        let isScheduled = stored.commandVariant == 0
        let originator = isScheduled ? (ScheduledRun(stored: stored).flatMap { schedules.schedule($0.scheduleID)?.owner } ?? stored.originator) : stored.originator
        let responseID = isScheduled ? "\(dccEUI):\(originator):\(stored.counter)" : "\(stored.target):\(stored.originator):\(stored.counter)"
        let document = DUISResponse(schemaVersion: work?.header.schemaVersion ?? "5.4", requestID: isScheduled ? nil : stored.requestID,
                                    responseID: responseID, code: code, dateTime: time,
                                    body: .message(serviceReference: serviceReference, srv: srv, payload: nil))
        let mutations: [Mutation] = extra + [
            .setRequestStatus(requestID: stored.requestID, status: .failed, code: code.rawValue),
            .audit(AuditEvent(at: time, kind: "decision", actor: originator, device: stored.target, srv: srv, requestID: stored.requestID,
                              code: code.rawValue, detail: "[\(rule)] \(reason)")),
            .audit(AuditEvent(at: time, kind: "response", actor: originator, device: stored.target, srv: srv, requestID: stored.requestID,
                              code: code.rawValue, detail: "asynchronous response queued")),
            .enqueueOutbox(OutboxItem(recipient: originator, kind: "service-response", messageID: responseID, requestID: stored.requestID,
                                      body: signer.sign(document, comment: "gbsm: \(code.rawValue): \(reason)"), createdAt: time, nextAttemptAt: time)),
        ]
        do {
            try await committer.commit(mutations)
            outboxWakeup.signal()
            return nil
        } catch {
            logger.error("device boundary: the outcome of \(stored.requestID) could not be recorded (\(error)); it will run again")
            return .seconds(5)
        }
    }
}

extension WANModel {
    /// How long the hub waits before trying an unreachable hub again: 10 s, 30 s, 60 s.
    func scaledRetry(_ attempt: Int) -> Duration {
        scaled([10.0, 30, 60, 60][min(attempt, 3)])
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Who receives a device's alert: the parties registered for the meters at its premises.
enum AlertRouting {
    static func parties(_ recipients: DeviceAlert.Recipients, device: DeviceRecord, inventory: Inventory, at time: Timestamp) -> [EUI64] {
        var result: [EUI64] = []
        let meters = device.premises.map { inventory.devices(atPremises: $0) }?.filter { $0.type == .esme || $0.type == .gsme } ?? []
        let relevant = device.type == .gsme || device.type == .gpf ? meters.filter { $0.type == .gsme } : meters.filter { $0.type == .esme }
        for meter in relevant {
            guard let mpxn = meter.importMPxN else { continue }
            for registration in inventory.registrations(mpxn: mpxn) where registration.covers(time) {
                switch registration.role {
                case .is, .gs: if recipients.contains(.supplier) { result.append(registration.party) }
                case .ed, .gt: if recipients.contains(.networkOperator) { result.append(registration.party) }
                default: break
                }
            }
        }
        return result
    }
}

/// A run of a DCC schedule, stored as a request with command variant 0 whose request ID
/// is `schedule:<id>:<run time>`.
struct ScheduledRun {
    let scheduleID: Int64
    let runAt: Timestamp

    init(scheduleID: Int64, runAt: Timestamp) {
        self.scheduleID = scheduleID
        self.runAt = runAt
    }

    init?(stored: StoredRequest) {
        let parts = stored.requestID.split(separator: ":")
        guard parts.count == 3, parts[0] == "schedule", let id = Int64(parts[1]), let at = Int64(parts[2]) else { return nil }
        scheduleID = id
        runAt = Timestamp(milliseconds: at)
    }

    var requestID: String { "schedule:\(scheduleID):\(runAt.milliseconds)" }

    /// The device command a run sends: the scheduled SRV's body, with the read period
    /// worked out from the schedule's offsets (−400 to 0 days, as DUIS types them) and
    /// times on the day of the run. Nil when the period does not fit the calendar.
    func body(schedule: ScheduleRecord, variant: ServiceRequestVariant) -> ElementTree? {
        let name = variant.expectedBody(for: .nonCriticalWAN)
        var body = ElementTree(name: name, namespace: DUISNamespace.serviceUserGateway)
        let details = (try? XMLDocument.parse(Array("<d xmlns:sr=\"\(DUISNamespace.serviceUserGateway)\">".utf8) + schedule.definition + Array("</d>".utf8), limits: .duis))
            .flatMap { $0.root.map(ElementTree.init) }
        guard let parameters = details?.children.first(where: { $0.name == "DSP" + name }), parameters.child("StartDateOffset") != nil else { return body }
        let day = runAt.day
        guard let startOffset = parameters.integer("StartDateOffset", in: -400...0), let endOffset = parameters.integer("EndDateOffset", in: -400...0),
              let startDay = day.adding(days: startOffset), let endDay = day.adding(days: endOffset)
        else { return nil }
        let start = startDay.at(parameters.time("StartTime") ?? .midnight)
        let end = endDay.at(parameters.time("EndTime") ?? .midnight)
        let ns = DUISNamespace.serviceUserGateway
        body.children.append(ElementTree(name: "ReadLogPeriod", namespace: ns, children: [
            ElementTree(name: "StartDateTime", namespace: ns, text: start.iso8601),
            ElementTree(name: "EndDateTime", namespace: ns, text: end.iso8601),
        ]))
        return body
    }
}

/// Counts of device requests by outcome, and their time at the device boundary.
final class DeviceMetrics: Sendable {
    private let state = Mutex<(counts: [String: Int], durations: [Double])>(([:], []))

    func record(outcome: String, duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        state.withLock { state in
            state.counts[outcome, default: 0] += 1
            if state.durations.count < 1_000_000 { state.durations.append(seconds) }
        }
    }

    var counts: [String: Int] { state.withLock { $0.counts } }
}
