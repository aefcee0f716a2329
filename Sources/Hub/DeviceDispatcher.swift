import DUIS
import Foundation
import GBCS
import Logging
import MMC
import Privacy
import Storage
import Synchronization
import MMC

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
/// not yet finished when the hub stops is picked up again when it starts, or, on a store
/// several hubs share, by another hub once this one is no longer alive (`adopt`).
///
/// The dispatcher is the orchestration: the run loop over its `DeviceQueue`, the WAN
/// attempts and the device's exchange through its `DeviceTransport` (the only way it
/// reaches a device), under the premises' lock, and the commit.
/// What each step decides is a stage of its own, tested alone: `DeviceRequestPreparation`
/// (the stored request read again, the device checked, the request authorised again),
/// `DevicePrivacyFilter` (the privacy rules again, and their filters on the answer) and
/// `DeviceResponses` (the signed responses and alerts an outcome leaves). None of them
/// reads a clock: every time comes from the dispatcher's `clock`.
final class DeviceDispatcher: Sendable {
    typealias Work = DeviceRequestPreparation.Work

    /// The requests waiting to run, by due time, at most `--device-concurrency` at once.
    let queue: DeviceQueue
    let preparation: DeviceRequestPreparation
    let privacyFilter: DevicePrivacyFilter
    let responses: DeviceResponses
    let store: any HubStore
    let committer: GroupCommitter
    let locks: PremisesLocks
    /// The SM WAN and the devices behind it.
    let transport: any DeviceTransport
    let jobs: JobGuard
    /// The GBCS commands sent over the SM WAN.
    let commands: WANCommands
    let logger: Logger
    /// The time (`HubClock`): due times, WAN attempts, authorisation and the answers' times.
    let clock: any HubClock
    /// Wakes the run loop: a request was queued or finished.
    let wakeup = Wakeup()
    /// Requests the gateway handed over parsed, until each is first processed.
    let parsed = ParsedRequests()
    let metrics = DeviceMetrics()

    init(queue: DeviceQueue, preparation: DeviceRequestPreparation, privacyFilter: DevicePrivacyFilter, responses: DeviceResponses,
         store: any HubStore, committer: GroupCommitter, locks: PremisesLocks, transport: any DeviceTransport,
         jobs: JobGuard, commands: WANCommands, clock: any HubClock, logger: Logger) {
        self.queue = queue
        self.preparation = preparation
        self.privacyFilter = privacyFilter
        self.responses = responses
        self.store = store
        self.committer = committer
        self.locks = locks
        self.transport = transport
        self.jobs = jobs
        self.commands = commands
        self.clock = clock
        self.logger = logger
    }

    /// Queues a stored request to run at `due`; `parsed` is the request as the gateway
    /// just read it, for one due at once (it is then not parsed again).
    func enqueue(_ requestID: String, due: Timestamp, parsed: ParsedRequests.Parsed? = nil) {
        if let parsed { self.parsed.keep(requestID, parsed) }
        if queue.enqueue(requestID, due: due) { wakeup.signal() }
    }

    var pending: Int { queue.pending }

    /// Loads the requests a previous run left at the device boundary. On a shared store,
    /// nothing here: the running hub takes over those no live hub holds (`adopt`).
    func recover() async throws {
        if store.isShared { return }
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

    /// On a shared store: signs this hub alive for `lease`, and queues the requests at the
    /// device boundary whose holder is no longer alive (it died, or stopped), now held by
    /// this hub. Returns how many.
    @discardableResult
    func adopt(lease: Duration) async throws -> Int {
        let now = clock.now()
        var adopted = 0
        while true {
            let batch = try await store.adoptRequests(aliveUntil: now.adding(milliseconds: lease.milliseconds), now: now, limit: Self.adoptBatch)
            for (requestID, due) in batch { enqueue(requestID, due: due) }
            adopted += batch.count
            if batch.count < Self.adoptBatch { return adopted }
        }
    }

    static let adoptBatch = 10_000

    /// Runs due requests until cancelled, at most the queue's limit at once.
    func run() async {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let now = clock.now()
                var started = 0
                while let entry = queue.next(at: now) {
                    started += 1
                    group.addTask {
                        let retry = await self.process(entry.requestID)
                        self.finished(entry.requestID, retryAfter: retry)
                    }
                }
                let nextDue = queue.nextDue
                let wait: Duration = nextDue.map { .milliseconds(max(1, min(1000, $0.milliseconds - clock.now().milliseconds))) } ?? .seconds(1)
                if started == 0 || nextDue == nil { await wakeup.wait(upTo: wait) }
            }
            group.cancelAll()
        }
    }

    private func finished(_ requestID: String, retryAfter delay: Duration?) {
        queue.finished(requestID, retryAfter: delay, at: clock.now())
        wakeup.signal()
    }

    // MARK: - One request

    enum Failure: Error {
        case refused(Refusal)
        case storage(any Error)
        /// The premises' occupancy changed after the privacy check.
        case stale
    }

    /// Runs one request; returns when to try it again if it could not finish.
    func process(_ requestID: String) async -> Duration? {
        let started = ContinuousClock.now
        // Taken whatever happens next: a request processed again (a retry) is parsed again.
        let parsed = self.parsed.take(requestID)
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
        guard stored.status.isAtDeviceBoundary else { return nil }
        // Another hub on the shared store took it over (this one looked dead to it).
        if store.isShared, let holder = stored.holder, holder != store.instance {
            logger.notice("device boundary: \(requestID) is held by another hub now; left to it")
            return nil
        }
        if let executeAt = stored.executeAt, executeAt > clock.now() {
            // Future-dated and not yet due.
            return .milliseconds(max(1, min(Int64(Int32.max), clock.now().milliseconds(to: executeAt))))
        }
        return await run(stored, parsed: parsed, started: started)
    }

    /// Runs the request on its device, marked as running first (`JobGuard`): the part where
    /// the request's content is acted on (the emulated device, the privacy filters, the
    /// answer), not the waits for the WAN before it. So a crash counts against the few
    /// requests executing at that moment, and a suspect runs alone for milliseconds, not
    /// for the length of a WAN round trip.
    private func executeMarked(_ work: Work, address: WANAddress, attempts: Int) async -> Duration? {
        let requestID = work.stored.requestID
        return await jobs.isolated(crashes: work.stored.crashes) { () async -> Duration? in
            do {
                try await jobs.mark([.request(requestID)])
            } catch {
                logger.error("device boundary: \(requestID) could not be marked as running (\(error)); it will run later")
                return .seconds(5)
            }
            let retry = await execute(work, address: address, attempts: attempts)
            // Finished, or stopped to be tried again: either way no longer running.
            await jobs.finished(.request(requestID), crashes: work.stored.crashes)
            return retry
        }
    }

    /// Runs a request that is due: prepared and authorised again, then sent over the WAN.
    private func run(_ stored: StoredRequest, parsed: ParsedRequests.Parsed?, started: ContinuousClock.Instant) async -> Duration? {
        let requestID = stored.requestID
        let work: Work
        switch preparation.prepare(stored, parsed: parsed) {
        case .success(let prepared):
            work = prepared
        case .failure(let refusal):
            return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule)
        }
        if let refusal = preparation.reauthorise(work, at: clock.now()) {
            return await finish(stored, code: refusal.code, reason: "when the request was due to run: \(refusal.reason)", rule: refusal.rule, work: work)
        }
        // A stable number for the message (String.hashValue differs between runs), so the
        // WAN's draws for a request are the same every time.
        var message: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in requestID.utf8 { message = (message ^ UInt64(byte)) &* 0x100_0000_01B3 }
        // Reads of a gas meter are answered by the GPF from its copy of the meter's data.
        let answeredByGPF = work.device.type == .gsme && work.header.serviceReference.hasPrefix("4.")
        let address = WANAddress(premises: work.premises.id, region: work.premises.region, device: work.device.eui, deviceType: work.device.type,
                                 message: message, answeredByGPF: answeredByGPF)
        var lastFailure: (ResponseCode, String) = (.E21, "no response")
        for attempt in 0..<Self.maxAttempts {
            switch transport.attempt(to: address, attempt: attempt, at: clock.now()) {
            case .delivered(let roundTrip):
                if roundTrip > .zero { try? await Task.sleep(for: roundTrip) }
                if Task.isCancelled { return nil }
                let retry = await executeMarked(work, address: address, attempts: attempt + 1)
                if retry == nil { metrics.record(outcome: "I0", duration: ContinuousClock.now - started) }
                return retry
            case .lost(let timeout, let reason):
                lastFailure = (.E21, reason)
                if timeout > .zero { try? await Task.sleep(for: timeout) }
            case .unreachable(let reason, let delay):
                lastFailure = (.E20, reason)
                if delay > .zero { try? await Task.sleep(for: delay) }
            }
            if Task.isCancelled { return nil }
        }
        metrics.record(outcome: lastFailure.0.rawValue, duration: ContinuousClock.now - started)
        return await finish(stored, code: lastFailure.0, reason: lastFailure.1 + " (tried \(Self.maxAttempts) times)", rule: .deviceCommunication, work: work)
    }

    static let maxAttempts = 4

    /// Runs the command on the device and records its answer.
    private func execute(_ work: Work, address: WANAddress, attempts: Int) async -> Duration? {
        let stored = work.stored
        let originator = preparation.originator(of: work)
        let roles = preparation.roles(of: originator)
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
                return await finish(stored, code: .E12, reason: "no signed pre-command is stored for this request", rule: RuleID(rawValue: CriticalCommandRule.notIssued.rawValue), work: work)
            }
        } else if work.scheduleID == nil {
            // A non-critical command goes as GBCS where gbsm builds its use case: MAC'd by the
            // access control broker; the device checks the MAC and the counter.
            let cin = work.header.variant.srv == "9.1" ? WANCommands.makeCustomerIdentificationNumber() : nil
            switch commands.command(srv: work.header.variant.srv, body: work.body, user: originator, roles: roles, device: work.device,
                                    counter: stored.counter, customerIdentificationNumber: cin) {
            case .command(let frame):
                do {
                    gbcs = try commands.maced(frame)
                } catch {
                    return await finish(stored, code: error.code, reason: error.reason, rule: error.rule, work: work)
                }
            case .refused(let refusal):
                return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule, work: work)
            case .notBuilt:
                break
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
        var command = WANCommand(address: address, gbcs: gbcs, srv: work.header.variant.srv, serviceReference: work.header.serviceReference,
                                 requestID: stored.requestID, counter: stored.counter, originator: originator, originatorRoles: roles, body: work.body,
                                 executionTime: executionTime)
        if command.srv == "11.3", let image = commands.firmware.image(for: work.device.eui), let hash = Hex.decode(image.imageSHA256) {
            // The image 11.1 distributed has reached the device by the time it is activated.
            command.distributedImage = .init(manufacturerImageHash: hash, version: image.version, distributedAt: image.createdAt)
        }
        // The data access and HAN rules again, as they stand now: a consent may have been
        // withdrawn, or the tenancy changed, since the gateway accepted the request.
        let check: PrivacyGuard.Check?
        do throws(DevicePrivacyFilter.Unavailable) {
            switch try await privacyFilter.decide(srv: command.srv, body: work.body, device: work.device, originator: originator,
                                                  requestID: stored.requestID, at: clock.now()) {
            case .run(let decided):
                check = decided
                // The command asks only for what may be released (or aggregated).
                if let decided, let from = decided.dataFrom {
                    command.dataWindow = .init(from: from, periodMilliseconds: decided.request.periodMilliseconds)
                }
            case .refuse(let refusal, let extra):
                return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule, work: work, extra: extra)
            }
        } catch {
            logger.error("device boundary: \(error.check) for \(stored.requestID) failed (\(error.error)); it will run again")
            return .seconds(5)
        }
        var aggregated = false
        do {
            try await locks.withLock(work.premises.id) { () async throws(Failure) in
                do {
                    // A change of tenancy committed since the check: decide again.
                    if let check, try await privacyFilter.isStale(check, premises: work.premises.id) { throw Failure.stale }
                } catch let failure as Failure {
                    throw failure
                } catch {
                    throw .storage(error)
                }
                if command.srv == "3.2" {
                    let problem: String?
                    do {
                        problem = try await preparation.tenancyProblem(work.body, premises: work.premises.id, installed: work.installed, at: clock.now())
                    } catch {
                        throw .storage(error)
                    }
                    if let problem { throw .refused(Refusal(.E12, rule: .tenancyRestriction, problem)) }
                }
                let time = clock.now()
                var reply: DeviceReply
                do throws(DeviceTransportFailure) {
                    reply = try await transport.exchange(command, at: time)
                } catch {
                    switch error {
                    case .unavailable(let underlying): throw .storage(underlying)
                    case .noInstallation: throw .refused(Refusal(.E20, rule: .deviceInstallation, "device \(work.device.eui) is not installed at a premises with a comms hub"))
                    }
                }
                var committed = false
                defer { transport.settled(reply, committed: committed) }
                var mutations: [Mutation] = []
                var privacyNote = ""
                var planReceipt: String?
                if let check, reply.success {
                    do {
                        let (note, more, receipt) = try await privacyFilter.apply(check, reply: &reply, originator: originator, work: work, at: time)
                        privacyNote = note
                        planReceipt = receipt
                        mutations += more
                        if case .aggregate = check.effective { aggregated = true }
                    } catch {
                        throw .storage(error)
                    }
                }
                if command.srv == "3.2", reply.success {
                    // The date the meter now restricts its data from (the request's, or now).
                    let restriction = work.body.value("RestrictionDateTime").flatMap { Timestamp(xsDateTime: $0) } ?? time
                    do {
                        mutations += try await privacyFilter.changeOfTenancy(premises: work.premises.id, at: restriction, by: originator,
                                                                             requestID: stored.requestID, time: time)
                    } catch {
                        throw .storage(error)
                    }
                }
                mutations += DeviceSideWrites.checked(reply.writes, logger: logger)
                // Who joined which HAN device: other users may later unjoin what they joined. A
                // join of devices already joined claims nothing.
                if reply.success, let hanDevice = PrivacyGuard.hanDevice(srv: command.srv, target: work.device, body: work.body) {
                    if command.srv == "8.7.2", reply.newlyJoined {
                        do {
                            let occupancy = try await privacyFilter.occupancy(premises: work.premises.id)
                            mutations.append(.recordHANJoin(premises: work.premises.id, device: hanDevice, party: originator, occupancy: occupancy.sequence, at: time))
                        } catch {
                            throw .storage(error)
                        }
                    } else if command.srv == "8.8.2" || (command.srv == "8.11" && work.body.value("RequestType") == "Remove") {
                        mutations.append(.recordHANJoin(premises: work.premises.id, device: hanDevice, party: nil, occupancy: 0, at: time))
                    }
                }
                // Held commands that fell due before this one ran first.
                mutations += responses.heldCommandMutations(reply.held, at: time)
                mutations.append(.setRequestStatus(requestID: stored.requestID, status: .completed, code: ResponseCode.I0.rawValue))
                let detail = "\(work.device.type.rawValue) \(work.device.eui) answered after \(attempts) attempt(s): \(reply.note)" + (reply.success ? "" : " (the device refused)")
                    + privacyNote
                mutations.append(.audit(AuditEvent(at: time, kind: .device, actor: originator, device: work.device.eui, srv: command.srv.text,
                                                   requestID: stored.requestID, code: "I0", detail: detail)))
                mutations.append(.enqueueOutbox(responses.response(work, reply: reply, originator: originator, command: gbcs, planReceipt: planReceipt, at: time)))
                mutations += responses.alertMutations(reply.alerts, device: work.device, originator: originator, at: time)
                if reply.optedOut {
                    var opted = work.device
                    opted.optedOut = true
                    mutations.append(.putDevice(opted))
                }
                // A firmware activation the device reports done: DCC's inventory records the
                // version it now runs (DUIS 8.2 and the SMI show it).
                let activation = responses.firmwareActivation(srv: command.srv, reply: reply, device: work.device)
                if let activation { mutations.append(activation) }
                do {
                    try await committer.commit(mutations)
                } catch {
                    throw .storage(error)
                }
                committed = true
                responses.committed(mutations, devicesChanged: reply.optedOut || activation != nil || !reply.held.isEmpty)
                privacyFilter.committed(mutations)
            }
            responses.wakeDelivery()
            if aggregated { privacyFilter.planReadingsAdded() }
            return nil
        } catch .stale {
            return .milliseconds(1)
        } catch .storage(let conflict as DeviceStateConflict) {
            // Another hub sharing the store changed the premises since its state was read:
            // run again, on the newer state.
            logger.notice("device boundary: \(conflict); \(stored.requestID) runs again")
            return .milliseconds(10)
        } catch .storage(let conflict as RequestStatusConflict) {
            // Another hub that took the request over recorded its outcome first.
            logger.notice("device boundary: \(conflict); this hub's outcome is discarded")
            return nil
        } catch .refused(let refusal) {
            return await finish(stored, code: refusal.code, reason: refusal.reason, rule: refusal.rule, work: work)
        } catch {
            logger.error("device boundary: \(stored.requestID) could not be recorded (\(error)); it will run again")
            return .seconds(5)
        }
    }

    /// Ends a request the device did not answer (or that can no longer run) with an
    /// asynchronous response carrying the code (`DeviceResponses.failure`).
    private func finish(_ stored: StoredRequest, code: ResponseCode, reason: String, rule: RuleID, work: Work? = nil, extra: [Mutation] = []) async -> Duration? {
        let mutations = responses.failure(stored, code: code, reason: reason, rule: rule, work: work, extra: extra, at: clock.now())
        do {
            try await committer.commit(mutations)
            responses.wakeDelivery()
            return nil
        } catch let conflict as RequestStatusConflict {
            logger.notice("device boundary: \(conflict); this hub's outcome is discarded")
            return nil
        } catch {
            logger.error("device boundary: the outcome of \(stored.requestID) could not be recorded (\(error)); it will run again")
            return .seconds(5)
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Who receives a device's alert: the parties registered for the meters at its premises
/// (and, for an alert a command caused that names its originator, that user). A device
/// addresses its alerts to the parties it trusts in those roles, which in gbsm's homes are
/// the registered ones; DCC routes by the same rule.
public enum AlertRouting {
    /// Each recipient of `alert` from `device`, once; `originator`: the user whose command
    /// caused it, if any.
    public static func recipients(_ alert: DeviceAlert, device: DeviceRecord, originator: EUI64?, inventory: Inventory) -> [EUI64] {
        var result: [EUI64] = []
        if alert.recipients.contains(.originator), let originator { result.append(originator) }
        result += parties(alert.recipients, device: device, inventory: inventory, at: alert.at)
        var seen = Set<EUI64>()
        return result.filter { seen.insert($0).inserted }
    }

    public static func parties(_ recipients: DeviceAlert.Recipients, device: DeviceRecord, inventory: Inventory, at time: Timestamp) -> [EUI64] {
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
