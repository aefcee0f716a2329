import DUIS
import Foundation
import GRDB

/// Which stored jobs this hub process is running right now (`JobKey`), kept where the
/// death of the process cannot lose it but no commit waits for a disk sync.
///
/// A job is marked before it runs and unmarked after its outcome is committed; a mark
/// found at start-up belongs to a job that was running when the process died. The marks
/// only have to outlive the process, not the machine: they live in a small SQLite file of
/// their own beside the hub's database, in WAL mode with `synchronous=OFF`, so a mark is a
/// write into the operating system's cache (tens of microseconds), not a synced
/// transaction of the hub's store on every device request. After a power loss the marks
/// of the last moments may be gone: a job that was running then is simply run again. The
/// file is per process and per data folder (it records what this process is doing), so
/// it stays local whatever the hub's store is.
public final class RunningJobLog: Sendable {
    public let path: String
    private let queue: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "gbsm.running"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = OFF")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS running (job TEXT PRIMARY KEY, since INTEGER NOT NULL)")
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS process (id INTEGER PRIMARY KEY CHECK (id = 1), instance INTEGER NOT NULL)")
        }
    }

    /// The store instance (`HubStore.instance`) of the process that last ran with this
    /// log, if it recorded one: on a shared store, the requests that process held are the
    /// ones its marks may count a crash against.
    public func instance() async throws -> Int64? {
        try await queue.read { db in try Int64.fetchOne(db, sql: "SELECT instance FROM process WHERE id = 1") }
    }

    /// Records this process's store instance (after recovery has read the last one's).
    public func setInstance(_ instance: Int64) async throws {
        try await queue.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO process (id, instance) VALUES (1, ?)", arguments: [instance])
        }
    }

    /// Marks jobs as running (one small unsynced transaction).
    public func mark(_ jobs: [JobKey], at time: Timestamp) async throws {
        guard !jobs.isEmpty else { return }
        try await queue.write { db in
            for job in jobs {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO running (job, since) VALUES (?, ?)").execute(arguments: [Self.text(job), time.milliseconds])
            }
        }
    }

    /// Unmarks jobs that finished or stopped.
    public func clear(_ jobs: [JobKey]) async throws {
        guard !jobs.isEmpty else { return }
        try await queue.write { db in
            for job in jobs { try db.cachedStatement(sql: "DELETE FROM running WHERE job = ?").execute(arguments: [Self.text(job)]) }
        }
    }

    /// Every marked job and since when.
    public func all() async throws -> [(job: JobKey, since: Timestamp)] {
        try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT job, since FROM running").compactMap { row -> (JobKey, Timestamp)? in
                guard let job = Self.job(row["job"]) else { return nil }
                return (job, Timestamp(milliseconds: row["since"]))
            }
        }
    }

    /// Forgets every mark (at start-up, once the crashes they stand for are recorded).
    public func removeAll() async throws {
        try await queue.write { db in try db.execute(sql: "DELETE FROM running") }
    }

    static func text(_ job: JobKey) -> String {
        switch job {
        case .request(let id): return "r:" + id
        case .outbox(let id): return "o:" + String(id)
        }
    }

    static func job(_ text: String) -> JobKey? {
        if text.hasPrefix("r:") { return .request(String(text.dropFirst(2))) }
        if text.hasPrefix("o:"), let id = Int64(text.dropFirst(2)) { return .outbox(id) }
        return nil
    }
}
