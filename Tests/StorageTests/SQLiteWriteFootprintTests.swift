import DUIS
import Foundation
import GRDB
import Testing
import TestSupport
@testable import Storage

/// What each SQLite commit writes: a new database has 2 KB pages, the WAL is checkpointed
/// every 4,000 pages, and the audit head is updated in place.
@Suite struct SQLiteWriteFootprintTests {
    @Test func aNewStoreHasSmallPagesAndUpdatesTheAuditHeadInPlace() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(path: directory.file("hub.sqlite").path)
        let (pageSize, checkpoint) = try await store.pool.write { db in
            (try Int.fetchOne(db, sql: "PRAGMA page_size"), try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"))
        }
        #expect(pageSize == 2048 && checkpoint == 4000)
        let at = Timestamp(milliseconds: 1_767_225_600_000)
        for index in 0..<3 {
            try await store.apply([.audit(AuditEvent(at: at, kind: .request, detail: "e\(index)"))])
        }
        let (heads, head) = try await store.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM meta WHERE key = 'audit_head'"),
             try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'audit_head'"))
        }
        #expect(heads == 1 && head?.hasPrefix("3:") == true)
        #expect(try await store.verifyAudit().isIntact)
        // A store made with 4 KB pages keeps them.
        let older = directory.file("older.sqlite").path
        do {
            let queue = try DatabaseQueue(path: older)
            try await queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            }
            try queue.close()
        }
        let reopened = try SQLiteStore(path: older)
        #expect(try await reopened.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == 4096)
    }
}
