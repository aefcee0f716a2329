import DUIS
import Foundation
import GRDB
import Testing
import TestSupport
@testable import Storage

/// The audit log without secondary indexes: every query by user, device, SRV, kind,
/// request and time finds exactly what a scan of the whole log finds, across complete
/// blocks (summarised), the block not yet complete, and a block whose summary is gone.
@Suite struct AuditBlockSummaryTests {
    static let actors = (0..<5).map { EUI64(0x90B3_D51F_3001_0000 + UInt64($0)) }
    static let srvs = ["4.1.1", "7.2", "8.2", "6.15.1"]
    static let kinds: [AuditKind] = [.request, .device, AuditKind(rawValue: "decision")]
    static let start = Timestamp(milliseconds: 1_790_000_000_000)

    /// 2,600 entries (two blocks and part of a third): 300 devices, five users, four SRVs,
    /// three kinds, a request ID per three entries, times rising with some going back.
    static func populated(_ backend: StoreBackend = .sqlite) async throws -> (TestStore, [AuditEntry]) {
        let test = try await TestStore.make(backend)
        let store = test.store
        var batch: [Mutation] = []
        for index in 0..<2600 {
            let jitter = Int64(index % 7 == 0 ? -5_000 : 0)
            let event = AuditEvent(at: start.adding(milliseconds: Int64(index) * 1000 + jitter), kind: kinds[index % 3],
                                   actor: index % 11 == 0 ? nil : actors[index % 5], device: index % 13 == 0 ? nil : EUI64(0x00DB_0000_0000_0000 + UInt64(index % 300)),
                                   srv: index % 17 == 0 ? nil : srvs[index % 4], requestID: "r\(index / 3)", code: "I0", detail: "entry \(index)")
            batch.append(.audit(event))
            if batch.count == 200 {
                try await store.apply(batch)
                batch = []
            }
        }
        try await store.apply(batch)
        let all = try await store.audit(AuditQuery(limit: 10_000))
        #expect(all.count == 2600)
        return (test, all)
    }

    static func naive(_ all: [AuditEntry], _ query: AuditQuery) -> [Int64] {
        Array(all.filter { entry in
            let event = entry.event
            if let actor = query.actor, event.actor != actor { return false }
            if let device = query.device, event.device != device { return false }
            if let srv = query.srv, event.srv != srv { return false }
            if let kind = query.kind, event.kind != kind { return false }
            if let request = query.requestID, event.requestID != request { return false }
            if let from = query.from, event.at < from { return false }
            if let to = query.to, event.at >= to { return false }
            return true
        }.map(\.sequence).prefix(query.limit))
    }

    static let queries: [AuditQuery] = [
        AuditQuery(actor: actors[2], limit: 10_000),
        AuditQuery(actor: actors[2], limit: 7),
        AuditQuery(device: EUI64(0x00DB_0000_0000_0000 + 42), limit: 10_000),
        AuditQuery(device: EUI64(0x00DB_0000_0000_0000 + 299), limit: 10_000),
        AuditQuery(device: EUI64(0x00DB_0000_0000_FFFF), limit: 10_000),
        AuditQuery(srv: "7.2", limit: 10_000),
        AuditQuery(srv: "9.9", limit: 10_000),
        AuditQuery(kind: .device, limit: 10_000),
        AuditQuery(requestID: "r400", limit: 10_000),
        AuditQuery(requestID: "r866", limit: 10_000),
        AuditQuery(requestID: "r9999", limit: 10_000),
        AuditQuery(from: start.adding(milliseconds: 1_023_000), to: start.adding(milliseconds: 1_030_000), limit: 10_000),
        AuditQuery(from: start.adding(milliseconds: 2_500_000), limit: 10_000),
        AuditQuery(actor: actors[1], srv: "8.2", kind: .request, from: start.adding(milliseconds: 500_000), limit: 10_000),
        AuditQuery(actor: actors[3], limit: 0),
    ]

    @Test(arguments: StoreBackend.available) func everyQueryFindsWhatAScanFinds(_ backend: StoreBackend) async throws {
        let (test, all) = try await Self.populated(backend)
        let store = test.store
        let blocks = try await test.count("audit_blocks")
        #expect(blocks == 2, "two complete blocks of 1,024 are summarised; the third is not complete")
        for query in Self.queries {
            let found = try await store.audit(query).map(\.sequence)
            #expect(found == Self.naive(all, query), "\(query)")
        }
        // The chain is untouched by the summaries.
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test(arguments: StoreBackend.available) func aMissingOrUnreadableSummaryReadsItsBlockWhole(_ backend: StoreBackend) async throws {
        let (test, all) = try await Self.populated(backend)
        let store = test.store
        try await test.tamper("DELETE FROM audit_blocks WHERE block = 0")
        // SQLite stores a value of any type in any column; PostgreSQL only text that is not JSON and octets of the wrong size.
        if backend == .sqlite {
            try await test.tamper("UPDATE audit_blocks SET srvs = 'not json', kinds = 42, actors = x'00', devices = x'00', requests = x'00' WHERE block = 1")
            try await test.tamper("INSERT INTO audit_blocks (block, earliest, latest, actors, srvs, kinds, devices, requests) VALUES (9007199254740991, 'x', 0, x'', '[]', '[]', x'', x'')")
        } else {
            try await test.tamper("UPDATE audit_blocks SET srvs = 'not json', kinds = '42', actors = '\\x00'::bytea, devices = '\\x00'::bytea, requests = '\\x00'::bytea WHERE block = 1")
            try await test.tamper("INSERT INTO audit_blocks (block, earliest, latest, actors, srvs, kinds, devices, requests) VALUES (9007199254740991, 5, 0, ''::bytea, '[]', '[]', ''::bytea, ''::bytea)")
        }
        for query in Self.queries {
            #expect(try await store.audit(query).map(\.sequence) == Self.naive(all, query), "\(query)")
        }
    }

    /// A summary edited to hide entries (an empty set of users rules every block out) is
    /// found by `verifyAudit`, which rebuilds every complete block's summary.
    @Test(arguments: StoreBackend.available) func aSummaryThatHidesEntriesFailsVerification(_ backend: StoreBackend) async throws {
        let (test, _) = try await Self.populated(backend)
        let store = test.store
        #expect(try await store.verifyAudit().isIntact)
        try await test.tamper("UPDATE audit_blocks SET actors = \(test.bytesLiteral("")) WHERE block = 1")
        #expect(try await store.audit(AuditQuery(actor: Self.actors[0], limit: 10_000)).allSatisfy { $0.sequence <= 1024 || $0.sequence > 2048 },
                "the edit hides block 1's entries from queries")
        let verdict = try await store.verifyAudit()
        #expect(!verdict.isIntact && verdict.problems.contains { $0.contains("summary of block 1") }, "\(verdict.problems)")
        try await test.tamper("DELETE FROM audit_blocks WHERE block = 1")
        #expect(try await store.verifyAudit().problems.contains { $0.contains("block 1 of the log") })
    }

    /// The queries' condition for open requests is the index's, word for word (a status
    /// added later needs a migration), and every status is found by its queries.
    @Test(arguments: StoreBackend.available) func everyStatusIsFoundAndOpenOnesThroughTheIndex(_ backend: StoreBackend) async throws {
        #expect(SQLiteStore.openRequests == SQLiteStore.openRequestsV13)
        let test = try await TestStore.make(backend)
        let store = test.store
        let user = EUI64(0x90B3_D51F_3001_0000), meter = EUI64(0x00DB_0000_0000_0001)
        var mutations: [Mutation] = []
        for (index, status) in RequestStatus.allCases.enumerated() {
            mutations.append(.insertRequest(StoredRequest(requestID: "\(user):\(meter):\(index + 1)", originator: user, target: meter, counter: UInt64(index + 1),
                                                          srv: "4.1.1", commandVariant: 1, receivedAt: Self.start, executeAt: nil, status: status, code: nil, raw: [1])))
        }
        try await store.apply(mutations)
        for (index, status) in RequestStatus.allCases.enumerated() {
            let id = "\(user):\(meter):\(index + 1)"
            #expect(try await store.requests(status: status, originator: nil, limit: 10).map(\.requestID) == [id], "\(status)")
            #expect(try await store.requests(status: status, originator: user, limit: 10).map(\.requestID) == [id], "\(status)")
            #expect(try await store.requestKeys(status: status, limit: 10).map(\.requestID) == [id], "\(status)")
            #expect(try await store.requestCount(status: status) == 1, "\(status)")
        }
    }

    @Test(arguments: StoreBackend.available) func aBlockIsSummarisedByTheCommitThatCompletesIt(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let events = (0..<Int(AuditBlockSummary.size)).map { AuditEvent(at: Self.start, kind: .request, actor: Self.actors[0], detail: "e\($0)") }
        try await store.apply(Array(events.dropLast()).map(Mutation.audit))
        let count = { try await test.count("audit_blocks") }
        #expect(try await count() == 0)
        try await store.apply([.audit(try #require(events.last))])
        #expect(try await count() == 1)
    }

    @Test func aBloomFilterNeverForgetsAndRarelyImagines() {
        var filter = BloomFilter(salt: 0x1234_5678_9ABC_DEF0)
        let members = (0..<1024).map { "member-\($0)" }
        for member in members { filter.insert(Array(member.utf8)) }
        #expect(members.allSatisfy { filter.mayContain(Array($0.utf8)) })
        let strangers = (0..<10_000).filter { filter.mayContain(Array("stranger-\($0)".utf8)) }.count
        #expect(strangers < 100, "\(strangers) of 10,000 strangers seem members (about 24 expected)")
        #expect(BloomFilter(filter.data, salt: filter.salt) == filter, "stored and read back")
        #expect(BloomFilter(Data([1, 2, 3]), salt: 1) == nil)
        // Another store's key puts the same values elsewhere.
        var other = BloomFilter(salt: 7)
        for member in members.prefix(10) { other.insert(Array(member.utf8)) }
        var same = BloomFilter(salt: filter.salt)
        for member in members.prefix(10) { same.insert(Array(member.utf8)) }
        #expect(other.words != same.words)
    }
}

/// Migrations v12 and v13 on a data folder the release before them left: the audit log's
/// complete blocks are summarised as they stood, its indexes go, and queries find what
/// they found; open requests are found through the partial index.
@Suite struct AuditIndexMigrationTests {
    @Test func anOlderLogIsSummarisedAndStillQueried() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hub.sqlite").path
        let (olderTest, all) = try await AuditBlockSummaryTests.populated(.sqlite)
        let older = try #require(olderTest.store as? SQLiteStore)
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v11-schedule-runs")
            let head = try await older.verifyAudit().head
            let olderPath = older.path
            try await queue.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS older", arguments: [olderPath])
                try db.execute(sql: "INSERT INTO audit SELECT seq, at, kind, actor, device, srv, request_id, code, detail, prev_hash, hash FROM older.audit")
                try db.execute(sql: "DETACH DATABASE older")
            }
            try await queue.write { db in
                try db.execute(sql: "INSERT INTO meta (key, value) SELECT key, value FROM (SELECT 'audit_head' AS key, ? AS value)",
                               arguments: [head])
                try db.execute(sql: """
                    INSERT INTO requests (request_id, originator, target, counter, srv, command_variant, received_at, execute_at, status, code, raw)
                    VALUES ('a:b:1', 1, 2, 1, '4.1.1', 1, 1, NULL, 'quarantined', NULL, X''), ('a:b:2', 1, 2, 2, '4.1.1', 1, 2, NULL, 'completed', 'I0', X'')
                    """)
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path)
        let (blocks, indexes) = try await store.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_blocks") ?? 0,
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('audit', 'requests') AND sql IS NOT NULL ORDER BY name"))
        }
        #expect(blocks == 2)
        #expect(indexes == ["requests_held", "requests_id", "requests_open"])
        for query in AuditBlockSummaryTests.queries {
            #expect(try await store.audit(query).map(\.sequence) == AuditBlockSummaryTests.naive(all, query), "\(query)")
        }
        #expect(try await store.verifyAudit().isIntact)
        #expect(try await store.requests(status: .quarantined, originator: nil, limit: 10).map(\.requestID) == ["a:b:1"])
        #expect(try await store.requestCount(status: .completed) == 1)
        #expect(try await store.requestCount(status: .quarantined) == 1)
        // The queries of open requests use the partial index (SQLite needs its condition
        // word for word in the query to use it).
        let plan = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM requests WHERE status = ? AND \(SQLiteStore.openRequests) ORDER BY received_at LIMIT ?",
                             arguments: ["quarantined", 10]).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("requests_open") }, "\(plan)")
    }
}
