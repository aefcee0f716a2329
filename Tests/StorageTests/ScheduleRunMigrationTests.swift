import DUIS
import Foundation
import GRDB
import Testing
import TestSupport
@testable import Storage

/// Migration v11: DCC schedule runs stored before it (command variant 0, the schedule in
/// the request ID) come back marked with their schedule, as command variant 1; users'
/// requests are untouched.
@Suite struct ScheduleRunMigrationTests {
    @Test func runsStoredUnderCommandVariantZeroAreMarkedWithTheirSchedule() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("hub.sqlite").path
        do {
            // A data folder as the release before v11 left it.
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v10-tamper-events")
            try await queue.write { db in
                let insert = """
                    INSERT INTO requests (request_id, originator, target, counter, srv, command_variant, received_at, execute_at, status, code, raw)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, X'')
                    """
                try db.execute(sql: insert, arguments: ["schedule:42:1767225600000", 1, 2, 9, "4.17", 0, 1_767_225_600_000, 1_767_225_600_000, "scheduled"])
                try db.execute(sql: insert, arguments: ["90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:5", 1, 2, 5, "4.1.1", 1, 1_767_225_600_000, nil,
                                                        "awaitingDevice"])
            }
            try queue.close()
        }
        let store = try SQLiteStore(path: path)
        let run = try #require(try await store.request(id: "schedule:42:1767225600000"))
        #expect(run.scheduleID == 42 && run.commandVariant == 1 && run.srv == "4.17")
        let own = try #require(try await store.request(id: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:5"))
        #expect(own.scheduleID == nil && own.commandVariant == 1)
        // New runs keep their schedule.
        var next = run
        next.requestID = "schedule:43:1767225600000"
        next.scheduleID = 43
        try await store.apply([.insertRequest(next)])
        #expect(try await store.request(id: next.requestID)?.scheduleID == 43)
    }
}
