import DUIS
import Foundation
import Privacy
import Testing
import TestSupport
@testable import Storage

func makeStore() throws -> (SQLiteStore, TemporaryDirectory) {
    let directory = try TemporaryDirectory()
    return (try SQLiteStore(path: directory.file("hub.sqlite").path), directory)
}

let supplier = EUI64("90-B3-D5-1F-30-01-00-00")!
let meter = EUI64("00-DB-12-34-56-78-90-A0")!

/// What every backend stores and answers alike (each test runs on SQLite, and on
/// PostgreSQL when `GBSM_TEST_POSTGRES` names a server).
@Suite struct StoreTests {
    @Test func everySQLiteCommitIsSynced() async throws {
        let (store, directory) = try makeStore()
        _ = directory
        #expect(try await store.writerSynchronousMode() == 2, "PRAGMA synchronous must be FULL on the writer")
        try await store.apply([.audit(AuditEvent(kind: AuditKind(rawValue: "k"), detail: "d"))])
        #expect(try await store.writerSynchronousMode() == 2)
    }

    @Test(arguments: StoreBackend.available) func mutationsRoundTrip(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let request = StoredRequest(requestID: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:5", originator: supplier, target: meter,
                                    counter: UInt64.max - 3, srv: "4.1.1", commandVariant: 1, receivedAt: .now(), executeAt: nil,
                                    status: .awaitingDevice, code: "I99", raw: Array("<x/>".utf8))
        try await store.apply([
            .putUser(UserRecord(eui: supplier, name: "Supplier", roles: [.is, .gs], responseURL: "http://127.0.0.1:9/r")),
            .setCounter(originator: supplier, counter: UInt64.max - 3),
            .insertRequest(request),
            .putPremises(PremisesRecord(id: 1, uprn: 10001, postcode: "M22 0RR", addressIdentifier: "1 Threapwood Road", region: .central)),
            .putDevice(DeviceRecord(eui: meter, type: .esme, status: .commissioned, premises: 1, manufacturer: "AB01", model: "M1", importMPxN: "1312345678111")),
            .putRegistration(RegistrationRecord(mpxn: "1312345678111", role: .is, party: supplier, from: Timestamp(milliseconds: 0))),
            .bumpRegistryVersion,
        ])
        #expect(try await store.users().first?.roles == [.is, .gs])
        #expect(try await store.counters()[supplier] == UInt64.max - 3)
        // On a shared store the request is held by the process whose commit put it at the
        // device boundary.
        var read = try await store.request(id: request.requestID)
        #expect(read?.holder == (store.isShared ? store.instance : nil))
        read?.holder = nil
        #expect(read == request)
        #expect(try await store.devices().first?.importMPxN == "1312345678111")
        #expect(try await store.registrations().first?.party == supplier)
        #expect(try await store.registryVersion() == 1)
        // The request ID is unique: a second insert fails and nothing of its batch is written.
        await #expect(throws: (any Error).self) {
            try await store.apply([.audit(AuditEvent(kind: AuditKind(rawValue: "x"), detail: "y")), .insertRequest(request)])
        }
        #expect(try await store.audit(AuditQuery()).isEmpty)
    }

    /// Tamper events and the devices' wake times: each its own record, found by what is
    /// pending, never by a sentinel.
    @Test(arguments: StoreBackend.available) func tamperEventsAndWakeTimes(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let now = Timestamp(year: 2026, month: 11, day: 26)
        try await store.apply([.addTamperEvent(premises: 7, at: now, reason: "test"), .addTamperEvent(premises: 8, at: now.adding(milliseconds: 1), reason: "test"),
                               .putPowerCut(PowerCutRecord(id: 1, scope: .feeder, value: 3, start: now, end: now.adding(milliseconds: 60_000), reason: "LV fault"))])
        let pending = try await store.pendingTamperEvents(limit: 10)
        #expect(pending.map(\.premises) == [7, 8])
        try await store.apply([.tamperHandled(id: try #require(pending.first?.id), at: now)])
        #expect(try await store.pendingTamperEvents(limit: 10).map(\.premises) == [8])
        #expect(try await store.powerCuts().map(\.scope) == [.feeder])

        try await store.apply([.putDeviceState(premises: 7, state: Array("{}".utf8), wakeAt: now.adding(days: 1)),
                               .putDeviceState(premises: 8, state: Array("{}".utf8), wakeAt: nil)])
        #expect(try await store.premisesToWake(by: now, limit: 10).isEmpty)
        #expect(try await store.premisesToWake(by: now.adding(days: 1), limit: 10) == [7])
        try await store.apply([.setDeviceWake(premises: 7, wakeAt: nil)])
        #expect(try await store.premisesToWake(by: now.adding(days: 2), limit: 10).isEmpty)
    }

    /// A signed pre-command is sent once. SQLite's one writer claims each send in memory
    /// first, so a second send's update changes nothing; on PostgreSQL hubs share the store
    /// and the second commit fails, for its hub to refuse.
    @Test(arguments: StoreBackend.available) func aPreCommandIsSentOnce(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let id = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:77"
        try await store.apply([.insertRequest(StoredRequest(requestID: id, originator: supplier, target: meter, counter: 77, srv: "6.15.1", commandVariant: 4,
                                                            receivedAt: .now(), executeAt: nil, status: .transformed, code: "I0", raw: [1])),
                               .issuePreCommand(PreCommandRecord(requestID: id, preCommand: [0xDF, 1], issuedAt: .now()))])
        let send = Mutation.sendPreCommand(requestID: id, signed: [0xDF, 2], commandVariant: 5, status: .awaitingDevice, code: "I99", executeAt: nil, at: .now())
        try await store.apply([send])
        #expect(try await store.preCommand(requestID: id)?.sentWith == 5)
        #expect(try await store.request(id: id)?.status == .awaitingDevice)
        if store.isShared {
            await #expect(throws: PreCommandAlreadySent.self) { try await store.apply([send]) }
        } else {
            try await store.apply([send])
        }
        #expect(try await store.preCommand(requestID: id)?.signed == [0xDF, 2])
    }

    /// A finished request keeps its outcome, and only a released one goes back to the
    /// device boundary: two hubs that both ran (or released) one request record it once.
    @Test(arguments: StoreBackend.available) func aRequestsOutcomeIsRecordedOnce(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let id = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:78"
        try await store.apply([.insertRequest(StoredRequest(requestID: id, originator: supplier, target: meter, counter: 78, srv: "4.1.1", commandVariant: 1,
                                                            receivedAt: .now(), executeAt: nil, status: .quarantined, code: "I99", raw: [1]))])
        // Quarantined to the device boundary directly: refused; released first: once.
        await #expect(throws: RequestStatusConflict.self) { try await store.apply([.setRequestStatus(requestID: id, status: .awaitingDevice, code: "I99")]) }
        try await store.apply([.setRequestStatus(requestID: id, status: .released, code: "I99")])
        try await store.apply([.setRequestStatus(requestID: id, status: .awaitingDevice, code: "I99")])
        let second = await #expect(throws: RequestStatusConflict.self) {
            try await store.apply([.setRequestStatus(requestID: id, status: .awaitingDevice, code: "I99")])
        }
        #expect(second?.status == .awaitingDevice)
        // One outcome: a second, with its audit entry, is not written at all.
        try await store.apply([.setRequestStatus(requestID: id, status: .completed, code: "I0")])
        await #expect(throws: RequestStatusConflict.self) {
            try await store.apply([.audit(AuditEvent(kind: .device, requestID: id, code: "I0", detail: "again")),
                                   .setRequestStatus(requestID: id, status: .failed, code: "E21")])
        }
        #expect(try await store.request(id: id)?.status == .completed)
        #expect(try await store.audit(AuditQuery(requestID: id)).isEmpty)
        // A request the store does not hold changes nothing, as before.
        try await store.apply([.setRequestStatus(requestID: "none", status: .completed, code: "I0")])
    }

    /// Hubs sharing a database: the requests one put at the device boundary are its own
    /// while it is alive; once it is not (it died, or retired), another takes them, once.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func aDeadHubsRequestsAreTakenOverOnce() async throws {
        let url = try #require(try await StoreBackend.postgres.freshURL())
        let first = try await PostgresStore(url: url), second = try await PostgresStore(url: url), third = try await PostgresStore(url: url)
        let now = Timestamp.now()
        func request(_ counter: UInt64, status: RequestStatus = .awaitingDevice) -> StoredRequest {
            StoredRequest(requestID: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:\(counter)", originator: supplier, target: meter, counter: counter,
                          srv: "4.1.1", commandVariant: 1, receivedAt: now, executeAt: status == .scheduled ? now.adding(milliseconds: 60_000) : nil,
                          status: status, code: "I99", raw: [1])
        }
        #expect(try await first.adoptRequests(aliveUntil: now.adding(milliseconds: 10_000), now: now, limit: 100).isEmpty)
        try await first.apply([.insertRequest(request(1)), .insertRequest(request(2, status: .scheduled)), .insertRequest(request(3, status: .quarantined))])
        #expect(try await first.request(id: request(1).requestID)?.holder == first.instance)
        #expect(try await first.request(id: request(3).requestID)?.holder == nil)
        // While the first is alive, the second takes nothing.
        #expect(try await second.adoptRequests(aliveUntil: now.adding(milliseconds: 10_000), now: now, limit: 100).isEmpty)
        // Its lease run out: the second takes both boundary requests, with their due times.
        let later = now.adding(milliseconds: 11_000)
        let taken = try await second.adoptRequests(aliveUntil: later.adding(milliseconds: 10_000), now: later, limit: 100)
        #expect(Set(taken.map(\.requestID)) == [request(1).requestID, request(2).requestID])
        #expect(taken.first { $0.requestID == request(2).requestID }?.due == request(2, status: .scheduled).executeAt)
        #expect(try await second.request(id: request(1).requestID)?.holder == second.instance)
        // Nobody takes them again while the second is alive.
        #expect(try await third.adoptRequests(aliveUntil: later.adding(milliseconds: 10_000), now: later, limit: 100).isEmpty)
        // A hub that retires lets go at once.
        try await second.retireInstance()
        #expect(try await third.adoptRequests(aliveUntil: later.adding(milliseconds: 10_000), now: later, limit: 1).count == 1)
        #expect(try await third.adoptRequests(aliveUntil: later.adding(milliseconds: 10_000), now: later, limit: 100).count == 1)
        // The outbox leases of a hub that is not alive are void too.
        try await first.apply([.enqueueOutbox(OutboxItem(recipient: supplier, kind: "service-response", messageID: "m", requestID: nil, body: [1],
                                                         createdAt: now, nextAttemptAt: now))])
        let item = try #require(try await first.dueOutbox(now: later, limit: 10).first?.id)
        #expect(try await second.claimOutboxItems(ids: [item], owner: second.instance, until: later.adding(milliseconds: 600_000), now: later).count == 1)
        #expect(try await third.claimOutboxItems(ids: [item], owner: third.instance, until: later.adding(milliseconds: 600_000), now: later).count == 1,
                "the second retired: its lease holds nothing")
        #expect(try await first.claimOutboxItems(ids: [item], owner: first.instance, until: later.adding(milliseconds: 600_000), now: later).isEmpty,
                "the third is alive and holds it")
    }

    /// Two hubs that numbered a new schedule alike: the second's commit fails, it does not
    /// overwrite the first's (the hub then numbers it anew).
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func aScheduleIDIsOneSchedules() async throws {
        let url = try #require(try await StoreBackend.postgres.freshURL())
        let first = try await PostgresStore(url: url), second = try await PostgresStore(url: url)
        let now = Timestamp.now()
        var schedule = ScheduleRecord(id: 1, owner: supplier, device: meter, srv: "4.17", frequency: .daily, startDate: now.day, endDate: nil, executionTime: nil,
                                      definition: [1], createdAt: now)
        try await first.apply([.putSchedule(schedule)])
        var other = schedule
        other.owner = EUI64(0x90B3_D51F_3001_0099)
        await #expect(throws: ScheduleIDTaken(id: 1)) { try await second.apply([.putSchedule(other)]) }
        // The same schedule written again is a change to it.
        schedule.parkedAt = now
        try await second.apply([.putSchedule(schedule)])
        #expect(try await first.schedules().map(\.owner) == [supplier])
        #expect(try await first.schedules().first?.parkedAt == now)
    }

    /// A premises' device state made from revision r replaces only revision r: a second
    /// hub's state made from the same reading fails its commit instead of losing the first.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func aDeviceStateReplacesOnlyTheOneItWasMadeFrom() async throws {
        let url = try #require(try await StoreBackend.postgres.freshURL())
        let first = try await PostgresStore(url: url), second = try await PostgresStore(url: url)
        func put(_ text: String, from: Int64, to: Int64) -> Mutation {
            .putDeviceState(premises: 9, state: Array(text.utf8), wakeAt: nil, revision: DeviceStateRevision(from: from, to: to))
        }
        try await first.apply([put("a", from: 0, to: 1)])
        // Both hubs read revision 1; the first to commit wins, the other's fails whole.
        try await first.apply([put("b", from: 1, to: 3)])
        await #expect(throws: DeviceStateConflict(premises: 9)) {
            try await second.apply([.audit(AuditEvent(kind: .device, detail: "lost")), put("c", from: 1, to: 2)])
        }
        #expect(try await second.deviceState(premises: 9) == Array("b".utf8))
        #expect(try await second.audit(AuditQuery()).isEmpty)
        // Made again from the state now stored, it is written.
        try await second.apply([put("c", from: 3, to: 4)])
        #expect(try await first.deviceState(premises: 9) == Array("c".utf8))
        // A new premises' first state, from two hubs: one of them.
        try await first.apply([.putDeviceState(premises: 10, state: [1], wakeAt: nil, revision: DeviceStateRevision(from: 0, to: 1))])
        await #expect(throws: DeviceStateConflict(premises: 10)) {
            try await second.apply([.putDeviceState(premises: 10, state: [2], wakeAt: nil, revision: DeviceStateRevision(from: 0, to: 1))])
        }
        // Without a revision (a tool's write), as before: it replaces whatever is there.
        try await second.apply([.putDeviceState(premises: 10, state: [3], wakeAt: nil)])
        #expect(try await first.deviceState(premises: 10) == [3])
    }

    @Test(arguments: StoreBackend.available) func countersOnlyRise(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        try await store.apply([.setCounter(originator: supplier, counter: 1000)])
        try await store.apply([.setCounter(originator: supplier, counter: 999)])
        #expect(try await store.counters()[supplier] == 1000)
        // Unsigned: a counter with the top bit set is larger than any without it.
        try await store.apply([.setCounter(originator: supplier, counter: UInt64.max - 1)])
        try await store.apply([.setCounter(originator: supplier, counter: 5)])
        #expect(try await store.counters()[supplier] == UInt64.max - 1)
        try await store.apply([.setCounter(originator: supplier, counter: UInt64.max)])
        #expect(try await store.counters()[supplier] == UInt64.max)
    }

    @Test(arguments: StoreBackend.available) func outboxLifecycle(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let now = Timestamp.now()
        try await store.apply([.enqueueOutbox(OutboxItem(recipient: supplier, kind: "alert", messageID: "m1", requestID: nil,
                                                         body: [1, 2, 3], createdAt: now, nextAttemptAt: now))])
        let due = try await store.dueOutbox(now: now, limit: 10)
        #expect(due.count == 1)
        let id = try #require(due.first?.id)
        let keys = try await store.dueOutboxKeys(now: now, limit: 10, excluding: [])
        #expect(keys.map(\.id) == [id] && keys.map(\.recipient) == [supplier])
        #expect(try await store.pendingOutboxItems(ids: [id, id + 99]).map(\.body) == [[1, 2, 3]])
        try await store.apply([.outboxRetry(id: id, attempts: 1, nextAttemptAt: now.adding(milliseconds: 60_000), error: "refused")])
        #expect(try await store.dueOutbox(now: now, limit: 10).isEmpty)
        #expect(try await store.dueOutboxKeys(now: now, limit: 10, excluding: []).isEmpty)
        #expect(try await store.nextOutboxDue() == now.adding(milliseconds: 60_000))
        try await store.apply([.outboxDelivered(id: id, at: now)])
        #expect(try await store.nextOutboxDue() == nil)
        #expect(try await store.outbox(recipient: supplier, status: .delivered, limit: 10).first?.attempts == 2)
    }
}

@Suite struct AuditChainTests {
    func populated(_ backend: StoreBackend) async throws -> TestStore {
        let test = try await TestStore.make(backend)
        for index in 0..<20 {
            try await test.store.apply([.audit(AuditEvent(kind: .request, actor: supplier, device: meter, srv: "4.1.1",
                                                          requestID: "r\(index)", code: "I99", detail: "accepted"))])
        }
        return test
    }

    @Test(arguments: StoreBackend.available) func intactChainVerifies(_ backend: StoreBackend) async throws {
        let test = try await populated(backend)
        let store = test.store
        let result = try await store.verifyAudit()
        #expect(result.isIntact)
        #expect(result.entries == 20)
        #expect(try await store.audit(AuditQuery(srv: "4.1.1", limit: 5)).count == 5)
        #expect(try await store.audit(AuditQuery(requestID: "r7")).first?.sequence == 8)
    }

    @Test(arguments: StoreBackend.available) func editedEntryIsDetected(_ backend: StoreBackend) async throws {
        let test = try await populated(backend)
        let store = test.store
        try await test.tamper("UPDATE audit SET code = 'E2' WHERE seq = 7")
        let result = try await store.verifyAudit()
        #expect(!result.isIntact)
        #expect(result.problems.contains { $0.contains("entry 7 was altered") })
    }

    @Test(arguments: StoreBackend.available) func deletedEntryIsDetected(_ backend: StoreBackend) async throws {
        let test = try await populated(backend)
        let store = test.store
        try await test.tamper("DELETE FROM audit WHERE seq = 12")
        let result = try await store.verifyAudit()
        #expect(result.problems.contains { $0.contains("missing") })
    }

    @Test(arguments: StoreBackend.available) func truncatedTailIsDetected(_ backend: StoreBackend) async throws {
        let test = try await populated(backend)
        let store = test.store
        try await test.tamper("DELETE FROM audit WHERE seq > 17")
        let result = try await store.verifyAudit()
        #expect(result.problems.contains { $0.contains("recorded head") })
    }

    @Test(arguments: StoreBackend.available) func rehashedEditIsDetectedByTheNextLink(_ backend: StoreBackend) async throws {
        // An attacker who edits an entry and recomputes its own hash still breaks the link
        // from the following entry.
        let test = try await populated(backend)
        let store = test.store
        let entries = try await store.audit(AuditQuery())
        var edited = entries[9].event
        edited.code = "E4"
        let newHash = AuditChain.hash(previous: entries[9].previousHash, sequence: 10, event: edited)
        try await test.tamper("UPDATE audit SET code = 'E4', hash = \(test.bytesLiteral(AuditChain.hex(newHash))) WHERE seq = 10")
        let result = try await store.verifyAudit()
        #expect(result.problems.contains { $0.contains("entry 11 does not link") })
    }
}

@Suite struct GroupCommitTests {
    @Test(arguments: StoreBackend.available) func concurrentCallersShareTransactions(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let committer = GroupCommitter(store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await committer.commit([.audit(AuditEvent(kind: .request, requestID: "r\(index)", detail: "x"))])
                }
            }
            try await group.waitForAll()
        }
        let statistics = committer.statistics
        #expect(statistics.callers == 500)
        #expect(statistics.transactions < 500, "group commit should batch concurrent callers")
        #expect(try await store.verifyAudit().entries == 500)
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test(arguments: StoreBackend.available) func oneBadCallerDoesNotFailTheOthers(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let committer = GroupCommitter(store: store)
        let duplicate = StoredRequest(requestID: "dup", originator: supplier, target: meter, counter: 1, srv: "4.1.1", commandVariant: 1,
                                      receivedAt: .now(), executeAt: nil, status: .awaitingDevice, code: nil, raw: [])
        try await committer.commit([.insertRequest(duplicate)])
        let results = await withTaskGroup(of: Bool.self) { group -> [Bool] in
            for index in 0..<50 {
                group.addTask {
                    do {
                        if index == 25 { try await committer.commit([.insertRequest(duplicate)]) } else {
                            try await committer.commit([.audit(AuditEvent(kind: AuditKind(rawValue: "k"), detail: "\(index)"))])
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { !$0 }.count == 1)
        #expect(try await store.verifyAudit().entries == 49)
    }
}

/// The plans' incremental aggregation on both backends: each network group's period counts
/// its undecided readings as they arrive and leave, a run reads only the periods it asks
/// for, and decided readings kept for the raw retention are apart from the undecided ones.
@Suite struct PlanOpenSlotTests {
    @Test(arguments: StoreBackend.available) func undecidedReadingsAreCountedPerPeriod(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let plan = DataPrivacyPlan(id: 1, user: supplier, name: "feeders", approvalReference: "OFG-T", registeredAt: .now())
        try await store.apply([.privacy(.putPlan(plan, key: Array(repeating: 7, count: 32), tokenHash: "t"))])
        let first = Timestamp(milliseconds: 1_800_000_000_000)
        let second = first.adding(milliseconds: 1_800_000)
        func reading(_ home: Int, _ group: String, _ slot: Timestamp, _ value: Int64) -> PlanReading {
            PlanReading(pseudonym: "p\(home)", group: group, slot: slot, value: value)
        }
        let key = { (group: String, slot: Timestamp) in PlanAggregator.SlotKey(group: group, slot: slot.milliseconds) }
        try await store.apply([.privacy(.addPlanReadings(plan: 1, readings: (0..<3).map { reading($0, "LV1", first, 100) }
            + (3..<5).map { reading($0, "LV2", first, 200) } + [reading(0, "LV1", second, 50)], at: first))])
        // A household's period read again replaces its value and counts once.
        try await store.apply([.privacy(.addPlanReadings(plan: 1, readings: [reading(1, "LV1", first, 150), reading(1, "LV1", first, 160)], at: second))])
        #expect(try await store.planOpenSlots(plan: 1) == [key("LV1", first): 3, key("LV2", first): 2, key("LV1", second): 1])
        let asked = try await store.planReadings(plan: 1, slots: [key("LV1", first)])
        #expect(asked.count == 3 && asked.allSatisfy { $0.group == "LV1" && $0.slot == first })
        #expect(asked.first { $0.pseudonym == "p1" }?.value == 160)
        #expect(try await store.planReadings(plan: 1, slots: []).isEmpty)

        // LV1's first period decided: two readings kept, one deleted; LV2's left open.
        let decided = asked.sorted { $0.pseudonym < $1.pseudonym }
        try await store.apply([.privacy(.planDecided(plan: 1, published: [PlanAggregate(plan: 1, group: "LV1", slot: first, households: 3, total: 410,
                                                                                          publishedAt: second)],
                                                     suppressed: [], deleteReadings: [decided[0]], keepReadings: Array(decided[1...])))])
        #expect(try await store.planOpenSlots(plan: 1) == [key("LV2", first): 2, key("LV1", second): 1])
        #expect(try await store.planReadings(plan: 1, slots: [key("LV1", first)]).isEmpty, "kept readings are not undecided")
        #expect(try await store.planReadingCount(plan: 1) == 2 + 2 + 1)
        #expect(try await store.decidedSlots(plan: 1, slots: [first.milliseconds, second.milliseconds]) == [key("LV1", first)])
        #expect(try await store.decidedSlots(plan: 1, slots: [second.milliseconds]).isEmpty)
        // Deleting a reading twice (two runs) takes it from the count once.
        let lv2 = try await store.planReadings(plan: 1, slots: [key("LV2", first)])
        try await store.apply([.privacy(.planDecided(plan: 1, published: [], suppressed: [], deleteReadings: [lv2[0]], keepReadings: []))])
        try await store.apply([.privacy(.planDecided(plan: 1, published: [], suppressed: [], deleteReadings: [lv2[0]], keepReadings: []))])
        #expect(try await store.planOpenSlots(plan: 1) == [key("LV2", first): 1, key("LV1", second): 1])
        // The safety net: undecided readings received long ago go, with their counts.
        try await store.apply([.privacy(.addPlanReadings(plan: 1, readings: [reading(9, "LV9", first, 5)], at: first.adding(days: -30)))])
        #expect(try await store.planOpenSlots(plan: 1)[key("LV9", first)] == 1)
        try await store.apply([.privacy(.expireUndecidedReadings(plan: 1, receivedBefore: first.adding(days: -1)))])
        #expect(try await store.planOpenSlots(plan: 1) == [key("LV2", first): 1, key("LV1", second): 1], "only the old one went")
        // Retention removes the kept and the undecided readings of earlier periods, and their counts.
        try await store.apply([.privacy(.expirePlanData(plan: 1, readingsBefore: second, aggregatesBefore: nil))])
        #expect(try await store.planOpenSlots(plan: 1) == [key("LV1", second): 1])
        #expect(try await store.planReadingCount(plan: 1) == 1)
        try await store.apply([.privacy(.retirePlan(id: 1, at: second))])
        #expect(try await store.planOpenSlots(plan: 1).isEmpty)
        #expect(try await store.planReadingCount(plan: 1) == 0)
    }
}

/// PostgreSQL's monthly partitions of the time-growing tables: maintenance makes the months
/// around now and those rows in a default partition fall in (moving them), and drops a
/// month whole once every plan's retention has passed it; the rows stay readable.
@Suite struct MonthlyPartitionTests {
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func monthsAreMadeAheadAndDroppedPastEveryPlansRetention() async throws {
        let url = try #require(try await StoreBackend.postgres.freshURL())
        let store = try await PostgresStore(url: url)
        func day(_ month: Int, _ day: Int) throws -> Timestamp { Timestamp(dayNumber: try #require(CalendarDay(year: 2026, month: month, day: day)).number) }
        let now = try day(11, 27)
        let ancient = Timestamp(dayNumber: try #require(CalendarDay(year: 2019, month: 1, day: 15)).number)
        let slots = [try day(8, 15), try day(9, 15), try day(10, 15), now]
        try await store.apply([.privacy(.planDecided(
            plan: 1, published: slots.map { PlanAggregate(plan: 1, group: "LV1", slot: $0, households: 5, total: 100, publishedAt: now) },
            suppressed: slots.map { PlanSuppression(plan: 1, group: "LV2", slot: $0, reason: "few", decidedAt: now) }, deleteReadings: [], keepReadings: []))])
        try await store.apply([.privacy(.planDecided(plan: 1, published: [PlanAggregate(plan: 1, group: "LV1", slot: ancient, households: 5, total: 1,
                                                                                          publishedAt: now)],
                                                     suppressed: [], deleteReadings: [], keepReadings: []))])
        for at in [slots[0], now] {
            try await store.unsafeExecute("""
                INSERT INTO data_access (premises, occupancy, at, party, role, srv, granularity, outcome, rule, detail)
                VALUES (1, 0, \(at.milliseconds), 1, 'ED', '4.8.1', 1, 'released', 'rule', 'detail')
                """)
        }
        try await store.apply([.audit(AuditEvent(at: slots[0], kind: .admin, detail: "in August")), .audit(AuditEvent(at: now, kind: .admin, detail: "now"))])
        // (Opening the store made the months around the real now already; the rest wait
        // in the default partitions.)
        #expect(try await store.rowCount("dpp_aggregates_default") >= 3, "August, September and 2019 are in the default partition")

        // Nothing to drop without a plan's word; the months are made and the rows moved in.
        let first = try await store.maintainPartitions(now: now, retention: PartitionRetention(rawReadingsBefore: nil, aggregatesBefore: nil))
        #expect(first.dropped.isEmpty)
        #expect(first.movedFromDefault >= 3 + 2 + 1 + 1, "\(first)")
        // Each row in its month (a missing partition is an error); more than five years
        // back, one archive of everything before, made once.
        for (partition, rows) in [("dpp_aggregates_before_p2021_11", 1), ("dpp_aggregates_p2026_08", 1), ("dpp_aggregates_p2026_09", 1),
                                  ("dpp_aggregates_p2026_10", 1), ("dpp_aggregates_p2026_11", 1), ("dpp_aggregates_p2026_12", 0),
                                  ("dpp_aggregates_p2027_01", 0), ("dpp_suppressed_p2026_08", 1), ("data_access_p2026_08", 1), ("data_access_p2026_11", 1),
                                  ("audit_p2026_08", 1), ("audit_p2027_01", 0), ("dpp_kept_readings_p2026_12", 0)] {
            #expect(try await store.rowCount(partition) == rows, "\(partition)")
        }
        // The audit chain reads across its months as one.
        let verdict = try await store.verifyAudit()
        #expect(verdict.isIntact, "\(verdict.problems)")
        #expect(try await store.audit(AuditQuery(kind: .admin, limit: 10)).map(\.event.detail) == ["in August", "now"])
        for table in ["dpp_aggregates_default", "dpp_suppressed_default", "data_access_default", "audit_default"] {
            #expect(try await store.rowCount(table) == 0, "\(table)")
        }
        #expect(try await store.planAggregates(plan: 1, from: nil, to: nil).count == 5)
        #expect(try await store.maintainPartitions(now: now, retention: PartitionRetention(rawReadingsBefore: nil, aggregatesBefore: nil)) == PartitionMaintenance())

        // Every plan keeps aggregates 30 days: August and September go whole; October,
        // which ends after the cutoff, stays (its rows are the plans' to delete one by one).
        let cutoff = now.adding(days: -30)
        let second = try await store.maintainPartitions(now: now, retention: PartitionRetention(rawReadingsBefore: now, aggregatesBefore: cutoff))
        for name in ["dpp_aggregates_before_p2021_11", "dpp_aggregates_p2021_11", "dpp_aggregates_p2026_08", "dpp_aggregates_p2026_09",
                     "dpp_suppressed_p2026_08", "dpp_suppressed_p2026_09", "dpp_kept_readings_p2026_10"] {
            #expect(second.dropped.contains(name), "\(name)")
        }
        #expect(!second.dropped.contains { $0.hasSuffix("2026_10") && !$0.hasPrefix("dpp_kept") }, "\(second.dropped)")
        #expect(!second.dropped.contains { $0.hasPrefix("data_access") || $0.hasPrefix("audit") })
        #expect(try await store.planAggregates(plan: 1, from: nil, to: nil).map(\.slot) == [slots[2], now])
        #expect(try await store.planSuppressions(plan: 1).count == 2)
        // The access log has no plan's retention: both its months stay; new rows take new ids.
        #expect(try await store.rowCount("data_access") == 2)
        try await store.unsafeExecute("""
            INSERT INTO data_access (premises, occupancy, at, party, role, srv, granularity, outcome, rule, detail)
            VALUES (1, 0, \(now.milliseconds), 1, 'ED', '4.8.1', 1, 'released', 'rule', 'detail')
            """)
        #expect(try await store.dataAccess(premises: 1, occupancy: nil, limit: 10).count == 3)
    }
}

/// A store a newer gbsm has migrated is refused, on both backends, rather than written the
/// old way.
@Suite struct NewerSchemaTests {
    @Test(arguments: StoreBackend.available) func aStoreANewerGBSMMigratedIsRefused(_ backend: StoreBackend) async throws {
        switch backend {
        case .sqlite:
            let directory = try TemporaryDirectory()
            let path = directory.file("hub.sqlite").path
            try await SQLiteStore(path: path).unsafeExecute("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
            #expect(throws: (any Error).self) { try SQLiteStore(path: path) }
        case .postgres:
            let url = try #require(try await StoreBackend.postgres.freshURL())
            try await PostgresStore(url: url).unsafeExecute("INSERT INTO schema_migrations (name) VALUES ('pg-v99-from-the-future')")
            await #expect {
                _ = try await PostgresStore(url: url)
            } throws: { error in
                (error as? PostgresStoreError).map { "\($0)".contains("pg-v99-from-the-future") } ?? false
            }
        }
    }
}
