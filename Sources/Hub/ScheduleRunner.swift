import DUIS
import Logging
import Storage
import Synchronization

/// DCC schedules falling due: each run of an active schedule is stored at the device
/// boundary (as a `ScheduledRun`) and queued for its time, once, however often the runner
/// looks. The homes' own events are not DCC's and live elsewhere (`HomeEvents`).
final class ScheduleRunner: Sendable {
    let store: any HubStore
    let committer: GroupCommitter
    let schedules: ScheduleBook
    let dispatcher: DeviceDispatcher
    let counter: DCCCounter
    let logger: Logger
    /// The next run planned per schedule.
    private let planned = Mutex<[Int64: Timestamp]>([:])

    init(store: any HubStore, committer: GroupCommitter, schedules: ScheduleBook, dispatcher: DeviceDispatcher, counter: DCCCounter, logger: Logger) {
        self.store = store
        self.committer = committer
        self.schedules = schedules
        self.dispatcher = dispatcher
        self.counter = counter
        self.logger = logger
    }

    /// The first run of a schedule after `after`: checked calendar arithmetic on the
    /// schedule's typed dates, so no stored schedule can make it fail.
    static func nextRun(_ schedule: ScheduleRecord, after: Timestamp) -> Timestamp? {
        schedule.frequency.nextRun(start: schedule.startDate, end: schedule.endDate, time: schedule.executionTime ?? .midnight, after: after)
    }

    /// Every `interval`, when this hub leads (one of several sharing a store runs the
    /// schedules; on a store of its own, this one).
    func run(interval: Duration, clock: any HubClock, leadership: Leadership) async {
        while !Task.isCancelled {
            if leadership.isLeading { await pass(now: clock.now()) }
            try? await Task.sleep(for: interval)
        }
    }

    /// Stores and queues every run due by `now` (within a second).
    func pass(now: Timestamp) async {
        let active = schedules.allActive
        var due: [(ScheduleRecord, Timestamp)] = []
        planned.withLock { planned in
            for schedule in active {
                let next = planned[schedule.id] ?? Self.nextRun(schedule, after: max(schedule.createdAt, now.adding(milliseconds: -1000)))
                guard let next else { continue }
                if next <= now.adding(milliseconds: 1000) {
                    due.append((schedule, next))
                    planned[schedule.id] = Self.nextRun(schedule, after: next)
                } else {
                    planned[schedule.id] = next
                }
            }
            let ids = Set(active.map(\.id))
            planned = planned.filter { ids.contains($0.key) }
        }
        for (schedule, runAt) in due {
            let run = ScheduledRun(scheduleID: schedule.id, runAt: runAt)
            let stored = run.request(schedule, counter: counter.next())
            do {
                if try await store.request(id: run.requestID) != nil { continue }
                try await committer.commit([
                    .insertRequest(stored),
                    .audit(AuditEvent(at: now, kind: .schedule, actor: schedule.owner, device: schedule.device, srv: schedule.srv,
                                      requestID: run.requestID, detail: "DCC schedule \(schedule.id) (\(schedule.frequency.rawValue)) run due at \(runAt.iso8601)")),
                ])
                dispatcher.enqueue(run.requestID, due: runAt)
            } catch {
                // Hubs sharing a store each look: the run's ID is the schedule's and its time,
                // so the store holds it once, and the hub that stored it first runs it.
                if store.isShared, (try? await store.request(id: run.requestID)) != nil { continue }
                logger.error("DCC schedule \(schedule.id) run could not be recorded: \(error)")
            }
        }
    }
}
