import DUIS
import Foundation
import GRDB
import Testing
import TestSupport
@testable import Storage

/// Requests are found by ID through an index ordered by `RequestLookupKey` first
/// (migration v16), so that every user's new requests land at the index's end.
@Suite struct RequestLookupKeyTests {
    @Test func theKeyIsTheCounterTheRunTimeOrZero() {
        #expect(RequestLookupKey.of("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1767225600123") == 1_767_225_600_123)
        // A counter above Int64.max is kept as its bit pattern, as the counters table keeps it.
        #expect(RequestLookupKey.of("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551615") == -1)
        #expect(RequestLookupKey.of("schedule:42:1767225600000") == 1_767_225_600_000)
        // The rule reads the last part alone, whatever comes before it.
        #expect(RequestLookupKey.of("a:b:1") == 1)
        #expect(RequestLookupKey.of("90-b3-d5-1f-30-01-00-00:00-DB-12-34-56-78-90-A0:007") == 7)
        for other in ["", "5", "a:b:", "schedule:1:+5", "schedule:1:-5", "a:b:1x", "a:b:18446744073709551616", "a:b:000000000000000000001",
                      "a:b:1\u{301}", "a:b:\u{0661}"] {
            #expect(RequestLookupKey.of(other) == 0, "\(other)")
        }
    }

    @Test func requestsStoredBeforeTheKeyAreFoundByIDAndNewOnesGoToTheEnd() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hub.sqlite").path
        let ids = ["90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1767225600000", "schedule:7:1767225700000", "odd:id:x",
                   "00-DB-12-34-56-78-00-04:00-DB-12-34-56-78-90-A0:5"]
        do {
            // A data folder as the release before v16 left it.
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v15-plan-open-slots")
            try await queue.write { db in
                for (index, id) in ids.enumerated() {
                    try db.execute(sql: """
                        INSERT INTO requests (request_id, originator, target, counter, srv, command_variant, received_at, status, raw, crashes)
                        VALUES (?, 1, 2, ?, '4.1.1', 1, ?, 'awaiting-device', X'01', ?)
                        """, arguments: [id, index, 1_767_225_600_000 + index, index])
                }
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path)
        for (index, id) in ids.enumerated() {
            let found = try #require(try await store.request(id: id), "\(id)")
            #expect(found.crashes == index && found.raw == [1])
        }
        #expect(try await store.request(id: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1767225600001") == nil)
        let keys = try await store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT lookup_key FROM requests ORDER BY rowid") }
        #expect(keys == ids.map(RequestLookupKey.of))
        // An ID is stored once, whatever its key.
        var again = try #require(try await store.request(id: ids[2]))
        await #expect(throws: DatabaseError.self) { try await store.apply([.insertRequest(again)]) }
        again.requestID = "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1767225600002"
        try await store.apply([.insertRequest(again), .setRequestStatus(requestID: again.requestID, status: .completed, code: "I0")])
        #expect(try await store.request(id: again.requestID)?.status == .completed)
        // Lookups by ID go through the index.
        let plan = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM requests WHERE lookup_key = ? AND request_id = ?", arguments: [1, "x"])
                .map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("requests_id") }, "\(plan)")
    }
}
