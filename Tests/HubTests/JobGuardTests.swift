import Crypto
import DUIS
import Foundation
import Logging
import Storage
import Synchronization
import Testing
import TestSupport
@testable import Hub

/// Poison jobs: a stored job that was running when the process died twice is parked, with
/// an audit entry and a DCC alert, instead of being run a third time (issue 8). A "process"
/// here is a JobGuard over a store; dying is abandoning it with jobs still marked.
@Suite struct JobGuardTests {
    struct World {
        let directory: TemporaryDirectory
        let path: String
        let signer = ResponseSigner(key: P256.Signing.PrivateKey(), reference: SignerReference(issuerName: "CN=T", serialNumber: "1"))

        init() throws {
            directory = try TemporaryDirectory("gbsm-jobs")
            path = directory.file("hub.sqlite").path
        }

        /// A fresh process on the same data: a new store connection, committer and guard.
        func process() throws -> (JobGuard, SQLiteStore, ScheduleBook) {
            let store = try SQLiteStore(path: path)
            let schedules = ScheduleBook()
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let jobs = JobGuard(dccEUI: dcc, store: store, committer: GroupCommitter(store: store), schedules: schedules, signer: signer,
                                log: try RunningJobLog(path: directory.file("running.sqlite").path), logger: logger)
            return (jobs, store, schedules)
        }
    }

    func request(_ id: String, target: EUI64 = esme, commandVariant: Int = 1) -> StoredRequest {
        StoredRequest(requestID: id, originator: supplier, target: target, counter: 1, srv: "4.1.1", commandVariant: commandVariant, receivedAt: now,
                      executeAt: nil, status: .awaitingDevice, code: "I99", raw: [])
    }

    /// On a shared store a hub's crash marks count only against the requests it held: one
    /// another hub has taken over since is that hub's to run, and is not parked here.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func aCrashCountsOnlyAgainstTheRequestsTheDeadHubHeld() async throws {
        let directory = try TemporaryDirectory("gbsm-jobs-shared")
        let url = try #require(try await StoreBackend.postgres.freshURL())
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let signer = ResponseSigner(key: P256.Signing.PrivateKey(), reference: SignerReference(issuerName: "CN=T", serialNumber: "1"))
        func process() async throws -> (JobGuard, PostgresStore) {
            let store = try await PostgresStore(url: url)
            return (JobGuard(dccEUI: dcc, store: store, committer: GroupCommitter(store: store), schedules: ScheduleBook(), signer: signer,
                             log: try RunningJobLog(path: directory.file("running.sqlite").path), logger: logger), store)
        }
        // A life that holds two requests and dies running both.
        let (dying, dyingStore) = try await process()
        #expect(try await dying.recover() == JobGuard.Recovery())
        try await dyingStore.apply([.insertRequest(request("kept")), .insertRequest(request("taken"))])
        try await dying.mark([.request("kept"), .request("taken")])
        // Another hub takes one of them over (its holder had stopped signing).
        let other = try await PostgresStore(url: url)
        try await TestStore.tamper(other, "UPDATE requests SET held_by = \(other.instance) WHERE request_id = 'taken'")
        // The next life on the same data folder counts the crash against its own only.
        let (next, store) = try await process()
        let recovery = try await next.recover()
        #expect(recovery.crashed == [.request("kept")])
        #expect(try await store.request(id: "kept")?.crashes == 1)
        #expect(try await store.request(id: "taken")?.crashes == 0)
        #expect(try await next.log.instance() == store.instance)
    }

    @Test func aJobRunningAtTwoDeathsIsParkedWithAnAlertAndAnAuditEntry() async throws {
        let world = try World()
        do {
            let (_, store, _) = try world.process()
            try await store.apply([.insertRequest(request("poison")), .insertRequest(request("innocent"))])
        }
        // First life: both running when it dies.
        do {
            let (jobs, _, _) = try world.process()
            #expect(try await jobs.recover() == JobGuard.Recovery())
            try await jobs.mark([.request("poison"), .request("innocent")])
        }
        // Second life: both are suspects; the innocent one finishes, the poison one dies again.
        do {
            let (jobs, store, _) = try world.process()
            let recovery = try await jobs.recover()
            #expect(Set(recovery.crashed) == [.request("poison"), .request("innocent")])
            #expect(recovery.parked.isEmpty)
            #expect(try await store.request(id: "poison")?.crashes == 1)
            try await jobs.mark([.request("innocent")])
            try await store.apply([.setRequestStatus(requestID: "innocent", status: .completed, code: "I0")])
            await jobs.finished(.request("innocent"), crashes: 1)
            try await jobs.mark([.request("poison")])
        }
        // Third life: the poison job is parked, named in an audit entry and a DCC alert.
        let (jobs, store, _) = try world.process()
        let recovery = try await jobs.recover()
        #expect(recovery.parked == [.request("poison")])
        #expect(try await store.request(id: "poison")?.status == .parked)
        #expect(try await store.request(id: "innocent")?.status == .completed)
        #expect(try await store.request(id: "innocent")?.crashes == 0, "it ran without dying: no longer a suspect")
        #expect(try await jobs.log.all().isEmpty)
        let audit = try await store.audit(AuditQuery(kind: .jobParked))
        #expect(audit.count == 1 && audit[0].event.requestID == "poison" && audit[0].event.detail.contains("2 times"))
        let alerts = try await store.outbox(recipient: supplier, status: .pending, limit: 10)
        #expect(alerts.count == 1)
        let alert = try DUISMessage(try #require(alerts.first).body)
        #expect(alert.dccAlertCode == "N999")
        #expect(alert.text.contains("<sr:CommandRequestID>poison</sr:CommandRequestID>"))
        // A fourth life finds nothing to do.
        #expect(try await jobs.recover() == JobGuard.Recovery())
    }

    @Test func aParkedScheduleRunParksItsSchedule() async throws {
        let world = try World()
        let (jobs, store, schedules) = try world.process()
        let schedule = ScheduleRecord(id: 7, owner: supplier, device: esme, srv: "4.17", frequency: .daily, startDate: now.day, endDate: nil, executionTime: nil,
                                      definition: [], createdAt: now)
        let run = ScheduledRun(scheduleID: 7, runAt: now)
        try await store.apply([.putSchedule(schedule), .insertRequest(run.request(schedule, counter: 1))])
        schedules.load(try await store.schedules())
        try await store.apply([.recordCrash(.request(run.requestID))])
        try await jobs.mark([.request(run.requestID)])
        #expect(try await jobs.recover().parked == [.request(run.requestID)])
        #expect(try await store.schedules().first?.parkedAt != nil)
        #expect(schedules.allActive.isEmpty, "a parked schedule makes no more runs")
        let alert = try DUISMessage(try #require(try await store.outbox(recipient: supplier, status: .pending, limit: 10).first).body)
        #expect(alert.text.contains("<sr:DSPScheduleID>7</sr:DSPScheduleID>"))
    }

    @Test func aParkedAlertDoesNotBreedAnotherAlert() async throws {
        let world = try World()
        let (jobs, store, _) = try world.process()
        let item = OutboxItem(recipient: supplier, kind: JobGuard.alertKind, messageID: "m1", requestID: "r1", body: [1], createdAt: now, nextAttemptAt: now)
        try await store.apply([.enqueueOutbox(item)])
        let id = try #require(try await store.outbox(recipient: nil, status: .pending, limit: 1).first?.id)
        try await store.apply([.recordCrash(.outbox(id))])
        try await jobs.mark([.outbox(id)])
        #expect(try await jobs.recover().parked == [.outbox(id)])
        #expect(try await store.outboxItem(id: id)?.status == .parked)
        #expect(try await store.outbox(recipient: nil, status: .pending, limit: 10).isEmpty)
        // An operator sends it again; a finished attempt clears the suspicion.
        try await store.apply([.releaseOutbox(id: id, at: now)])
        #expect(try await store.outboxItem(id: id)?.status == .pending)
        try await store.apply([.outboxRetry(id: id, attempts: 1, nextAttemptAt: now, error: "x")])
        #expect(try await store.outboxItem(id: id)?.crashes == 0)
    }

    @Test func aMarkLeftByAFinishedJobIsStale() async throws {
        let world = try World()
        let (jobs, store, _) = try world.process()
        try await store.apply([.insertRequest(request("done"))])
        try await jobs.mark([.request("done")])
        // Its outcome was committed, then the process died before the mark was cleared.
        try await store.apply([.setRequestStatus(requestID: "done", status: .completed, code: "I0")])
        let (again, _, _) = try world.process()
        #expect(try await again.recover() == JobGuard.Recovery())
        #expect(try await store.request(id: "done")?.crashes == 0)
    }

    @Test func suspectsRunOneAtATime() async throws {
        let world = try World()
        let (jobs, _, _) = try world.process()
        let running = Peak()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<16 {
                group.addTask {
                    await jobs.isolated(crashes: index % 2) {
                        let suspect = index % 2 == 1
                        if suspect { running.state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
                        await Task.yield()
                        try? await Task.sleep(for: .milliseconds(2))
                        if suspect { running.state.withLock { $0.now -= 1 } }
                    }
                }
            }
        }
        #expect(running.state.withLock { $0.most } == 1)
    }
}

/// How many suspects ran at once, at most.
final class Peak: Sendable {
    let state = Mutex((now: 0, most: 0))
}
