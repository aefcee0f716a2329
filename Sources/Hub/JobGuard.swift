import DUIS
import Logging
import Storage

/// Keeps a stored job that kills the process from killing it again and again.
///
/// The hub runs stored work in the background: requests at the device boundary (a user's
/// held or future-dated request, a DCC schedule's run), requests released from quarantine,
/// and outbox messages. Each is durable, so one whose input makes the process die (a
/// trap, an out-of-memory kill, anything) would be picked up at every restart and kill
/// the hub each time. So every job is marked as running before it runs (`mark`, in the
/// process's `RunningJobLog`, which outlives the process without a disk sync) and
/// unmarked once its outcome is committed (`finished`). At start-up (`recover`), every job
/// still marked and not finished was running when the process died: its crash count goes
/// up in the hub's store. A job that has been running at two deaths is *parked*: it is
/// not run again, an audit entry and a DCC alert name it, and an operator deals with it
/// (`gbsm quarantine`, `gbsm schedules`).
///
/// A crash kills every job in flight, not only the guilty one, so a job with one crash
/// is only a suspect: suspects run one at a time (`isolated`), never beside another
/// suspect. The guilty job then dies alone at the second crash, and the innocent jobs
/// that were in flight with it become suspects, not parked.
final class JobGuard: Sendable {
    /// Deaths while running after which a job is parked.
    static let parkAfterCrashes = 2

    let dccEUI: EUI64
    let store: any HubStore
    let committer: GroupCommitter
    let schedules: ScheduleBook
    let signer: ResponseSigner
    let log: RunningJobLog
    let logger: Logger
    /// The hub's clock: when a parked job was set aside.
    let clock: any HubClock
    /// Suspects take turns, one lane for the devices and one for deliveries, so that a
    /// suspect delivery waiting on a slow endpoint holds up no device work.
    private let deviceSuspects = AsyncSerialLock()
    private let deliverySuspects = AsyncSerialLock()

    enum Lane: Sendable { case device, delivery }

    init(dccEUI: EUI64, store: any HubStore, committer: GroupCommitter, schedules: ScheduleBook, signer: ResponseSigner, log: RunningJobLog,
         clock: any HubClock = WallClock(), logger: Logger) {
        self.log = log
        self.clock = clock
        self.dccEUI = dccEUI
        self.store = store
        self.committer = committer
        self.schedules = schedules
        self.signer = signer
        self.logger = logger
    }

    /// Records that jobs are about to run.
    func mark(_ jobs: [JobKey], at time: Timestamp = .now()) async throws {
        try await log.mark(jobs, at: time)
    }

    /// Records that a job is no longer running: its outcome is committed, or it stopped
    /// to be tried again later. A job that was a suspect (`crashes > 0`) and got here ran
    /// without the process dying, so it is a suspect no more.
    func finished(_ job: JobKey, crashes: Int) async {
        do {
            if crashes > 0 { try await committer.commit([.clearCrashes(job)]) }
            try await log.clear([job])
        } catch {
            logger.error("\(job) could not be recorded as finished: \(error)")
        }
    }

    /// Runs `body` alone among suspects when the job has died with the process before
    /// (`crashes > 0`); otherwise at once.
    func isolated<T: Sendable>(crashes: Int, lane: Lane = .device, _ body: () async -> T) async -> T {
        guard crashes > 0 else { return await body() }
        return await (lane == .device ? deviceSuspects : deliverySuspects).withLock(body)
    }

    /// What recovery found.
    struct Recovery: Sendable, Equatable {
        var crashed: [JobKey] = []
        var parked: [JobKey] = []
    }

    /// At start-up, before any job runs: counts a crash for each job the previous process
    /// was running, and parks those that reached `parkAfterCrashes`.
    func recover() async throws -> Recovery {
        var recovery = Recovery()
        let now = clock.now()
        var mutations: [Mutation] = []
        let previous = try await log.instance()
        for (job, since) in try await log.all() {
            // A mark whose job's outcome was committed just before the process died is stale,
            // and so is one whose request another hub on the shared store has taken over.
            guard let crashes = try await unfinishedCrashes(job, previous: previous) else { continue }
            recovery.crashed.append(job)
            mutations.append(.recordCrash(job))
            if crashes + 1 >= Self.parkAfterCrashes {
                mutations += try await park(job, crashes: crashes + 1, since: since, at: now)
                recovery.parked.append(job)
                logger.critical("\(job) was running when the hub stopped \(crashes + 1) times; it is parked and will not run again until an operator releases it")
            } else {
                logger.warning("\(job) was running when the hub stopped (started \(since.iso8601)); it will run again, alone")
            }
        }
        // One transaction for all of them, then the marks are done with.
        try await committer.commit(mutations)
        try await log.removeAll()
        try await log.setInstance(store.instance)
        if !recovery.parked.isEmpty { schedules.load(try await store.schedules()) }
        return recovery
    }

    /// The crashes so far of a job that is still to be done here, or nil when it is done
    /// (or, on a shared store, held by a hub other than `previous`, the process that made
    /// the marks: that hub runs it now).
    private func unfinishedCrashes(_ job: JobKey, previous: Int64?) async throws -> Int? {
        switch job {
        case .request(let id):
            guard let stored = try await store.request(id: id), [.awaitingDevice, .scheduled, .released].contains(stored.status) else { return nil }
            if store.isShared, let previous, let holder = stored.holder, holder != previous { return nil }
            return stored.crashes
        case .outbox(let id):
            guard let item = try await store.outboxItem(id: id), item.status == .pending else { return nil }
            return item.crashes
        }
    }

    /// The changes that park a job: its status, the schedule behind a schedule run, an
    /// audit entry and a DCC alert to the party concerned.
    private func park(_ job: JobKey, crashes: Int, since: Timestamp, at time: Timestamp) async throws -> [Mutation] {
        let why = "running when the hub stopped \(crashes) times (last started \(since.iso8601))"
        switch job {
        case .request(let requestID):
            guard let stored = try await store.request(id: requestID) else { return [] }
            var mutations: [Mutation] = [.setRequestStatus(requestID: requestID, status: .parked, code: stored.code)]
            let run = ScheduledRun(stored: stored)
            let schedule = run.flatMap { schedules.schedule($0.scheduleID) }
            let recipient = schedule?.owner ?? stored.originator
            if let run, schedule != nil {
                mutations.append(.parkSchedule(id: run.scheduleID, at: time))
                mutations.append(.audit(AuditEvent(at: time, kind: .jobParked, actor: recipient, device: stored.target, srv: stored.srv,
                                                   requestID: requestID, code: "schedule \(run.scheduleID)",
                                                   detail: "DCC schedule \(run.scheduleID) parked: its run \(requestID) was \(why); no further runs until `gbsm schedules resume` or `delete`")))
            }
            mutations.append(.audit(AuditEvent(at: time, kind: .jobParked, actor: recipient, device: stored.target, srv: stored.srv,
                                               requestID: requestID, code: "N999",
                                               detail: "request \(requestID) parked: \(why); `gbsm quarantine release --request \(requestID)` runs it again, `delete` ends it")))
            mutations.append(.enqueueOutbox(alert(to: recipient, requestID: requestID, scheduleID: run?.scheduleID, device: stored.target, at: time)))
            return mutations
        case .outbox(let id):
            guard let item = try await store.outboxItem(id: id) else { return [] }
            var mutations: [Mutation] = [
                .parkOutbox(id: id),
                .audit(AuditEvent(at: time, kind: .jobParked, actor: item.recipient, requestID: item.requestID, code: "N999",
                                  detail: "outbox message \(id) (\(item.kind) \(item.messageID)) parked: \(why); `gbsm quarantine release --message \(id)` sends it again")),
            ]
            // The recipient learns that a message for it is held, unless that message was
            // itself such an alert (one parked message never breeds a chain of them).
            if !item.kind.hasPrefix(Self.alertKind) {
                mutations.append(.enqueueOutbox(alert(to: item.recipient, requestID: item.requestID ?? item.messageID, scheduleID: nil, device: nil, at: time)))
            }
            return mutations
        }
    }

    static let alertKind = "dcc-alert N999 CommandFailure"

    /// DCC alert N999 with a `CommandFailure` naming the request (and the schedule, for a
    /// schedule's run). DUIS lists the DCC alert codes without saying which carries which
    /// payload, so gbsm uses the catch-all N999, as for power outages.
    private func alert(to recipient: EUI64, requestID: String, scheduleID: Int64?, device: EUI64?, at time: Timestamp) -> OutboxItem {
        let messageID = "\(dccEUI):\(recipient):\(time.microsecondCounter &+ UInt64.random(in: 0..<1000))"
        let deviceID = device ?? dccEUI
        let body = DUISResponse.Body.dccAlert(code: "N999") { writer in
            writer.open("sr:CommandFailure")
            writer.element("sr:CommandRequestID", String(requestID.prefix(100)))
            if let scheduleID { writer.element("sr:DSPScheduleID", String(scheduleID)) }
            writer.element("sr:DeviceID", deviceID.description)
            writer.close()
        }
        let response = DUISResponse(schemaVersion: "5.4", requestID: nil, responseID: messageID, code: .I0, dateTime: time, body: body)
        return OutboxItem(recipient: recipient, kind: Self.alertKind, messageID: messageID, requestID: requestID,
                          body: signer.sign(response, comment: "gbsm: \(requestID) was running when the hub stopped twice; it is parked"),
                          createdAt: time, nextAttemptAt: time)
    }
}
