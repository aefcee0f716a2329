import ArgumentParser
import DUIS
import Foundation
import Storage

/// `gbsm bench storage`: the hub's durable write path alone, as a device request commits
/// it (the request, its counter and three audit entries when it is acknowledged; its
/// status and two audit entries when the device has answered), spread over many users as
/// at DCC, in group-commit batches. It prints the time and the octets written to storage
/// per request, on an empty store and again once `--preload` requests are stored, so a
/// cost that grows with the store shows as a ratio; and beside them the bound of this
/// machine's disk, measured in the same run: the same octets per request, appended to a
/// plain file and synced once per batch. With `--store` the same commits go to a fresh
/// PostgreSQL database and the octets are the server's WAL.
struct StorageBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Time the hub's durable write path (a device request's two commits), on an empty store and after --preload requests.")

    @Option(help: "Requests to commit in each measured window.")
    var requests: Int = 20_000

    @Option(help: "Requests per transaction (what group commit gathers; the DUIS benchmark sees about 20).")
    var batch: Int = 20

    @Option(help: "Users the requests come from (each user's request IDs rise, as their counters do).")
    var users: Int = 64

    @Option(help: "Requests stored between the two windows (in large transactions), to show whether the cost grows with the store.")
    var preload: Int = 0

    @Option(help: "Keep the store in this folder instead of a temporary one.")
    var data: String?

    @Option(help: "A PostgreSQL server (postgres://USER@HOST:PORT/DB) on which to make a fresh database for the run; SQLite without it. The octets written are then the server's WAL (pg_stat_wal).")
    var store: StoreURL?

    func validate() throws {
        guard (1...10_000_000).contains(requests) else { throw ValidationError("--requests is 1 to 10,000,000") }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch is 1 to 10,000") }
        guard (1...1_000_000).contains(users) else { throw ValidationError("--users is 1 to 1,000,000") }
        guard (0...1_000_000_000).contains(preload) else { throw ValidationError("--preload is 0 to 1,000,000,000") }
    }

    /// One measured window.
    struct Window {
        var seconds: Double
        var written: Int64?
        var grown: Int64
    }

    func run() async throws {
        let directory = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-storage-\(UUID().uuidString)")
        defer { if data == nil { try? FileManager.default.removeItem(at: directory) } }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store: any HubStore
        if let server = self.store {
            let url = try await server.freshDatabase(prefix: "gbsm_storage_")
            store = try await PostgresStore(url: url)
        } else {
            store = try SQLiteStore(path: directory.appendingPathComponent("hub.sqlite").path)
        }
        let workload = Workload(users: users)

        print("gbsm bench storage: \(requests) device requests per window from \(users) users, transactions of \(batch), synced ("
              + (store is PostgresStore ? "PostgreSQL, synchronous_commit on; octets written are the server's WAL" : "SQLite, synchronous=FULL") + ")")
        let empty = try await measure(store, workload, from: 0)
        report("empty store", empty)
        var next = requests
        if preload > 0 {
            let started = ContinuousClock.now
            var stored = 0
            // Large transactions: the point is the store's size, not this loop's speed.
            while stored < preload {
                let count = min(10_000, preload - stored)
                var mutations: [Mutation] = []
                mutations.reserveCapacity(count * 8)
                for index in next..<(next + count) { mutations += workload.acknowledged(index) + workload.answered(index) }
                try await store.apply(mutations)
                stored += count
                next += count
                if stored % 1_000_000 == 0 { print("  preloaded \(stored) requests…") }
            }
            print(String(format: "  preloaded %d requests in %.0f s (%.1f GB of pages in use)", preload, seconds(since: started),
                         Double(try await store.databaseBytes()) / 1e9))
            let full = try await measure(store, workload, from: next)
            report("after \(preload) stored", full)
            print(String(format: "  growth          %.2f× the time and %@ the octets written per request, from the empty store to %d stored",
                         full.seconds / empty.seconds,
                         full.written.flatMap { after in empty.written.map { String(format: "%.2f×", Double(after) / Double(max($0, 1))) } } ?? "(unknown)",
                         preload))
        }
        let bound = try diskBound(directory, octets: max(empty.grown / Int64(requests), 1))
        print(String(format: "  disk bound      %.1f µs per request: the store's %lld octets per request appended to a file, synced once per %d (this run); the empty store's window is %.1f× it",
                     bound * 1e6, max(empty.grown / Int64(requests), 1), batch, empty.seconds / Double(requests) / bound))
        print("  audit intact: \(try await store.verifyAudit().isIntact)")
    }

    /// Commits `requests` device requests: each batch acknowledges `batch` new ones and
    /// records the answers of the batch before it, as the gateway and the device boundary
    /// commit them.
    func measure(_ store: any HubStore, _ workload: Workload, from first: Int) async throws -> Window {
        let writtenBefore = try await Self.writtenOctets(store)
        let sizeBefore = try await store.databaseBytes()
        let started = ContinuousClock.now
        var index = first
        var previous: Range<Int>?
        while index < first + requests {
            let range = index..<min(index + batch, first + requests)
            var mutations: [Mutation] = []
            for request in range { mutations += workload.acknowledged(request) }
            if let previous { for request in previous { mutations += workload.answered(request) } }
            try await store.apply(mutations)
            previous = range
            index = range.upperBound
        }
        if let previous { try await store.apply(previous.flatMap(workload.answered)) }
        let elapsed = seconds(since: started)
        let writtenAfter = try await Self.writtenOctets(store)
        let sizeAfter = try await store.databaseBytes()
        return Window(seconds: elapsed, written: writtenAfter.flatMap { after in writtenBefore.map { after - $0 } }, grown: sizeAfter - sizeBefore)
    }

    func report(_ name: String, _ window: Window) {
        let perRequest = window.seconds / Double(requests)
        var line = String(format: "  %-15@ %.1f µs per request, %.0f requests/s on one writer", name as NSString, perRequest * 1e6, 1 / perRequest)
        if let written = window.written {
            line += String(format: "; %.1f KB written and %.1f KB stored per request", Double(written) / Double(requests) / 1000,
                           Double(window.grown) / Double(requests) / 1000)
        }
        print(line)
    }

    /// What the store's commits have written: the PostgreSQL server's WAL, or what this
    /// process has caused to be written to storage (SQLite's file and WAL).
    static func writtenOctets(_ store: any HubStore) async throws -> Int64? {
        if let postgres = store as? PostgresStore { return try await postgres.walBytes() }
        return writtenOctets()
    }

    /// What this process has caused to be written to storage (`write_bytes` of
    /// /proc/self/io), where the system says.
    static func writtenOctets() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
            return Int64(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Seconds per request to append `octets` per request to a plain file beside the store
    /// and sync it once per batch: what the disk allows the write path at best.
    func diskBound(_ directory: URL, octets: Int64) throws -> Double {
        let url = directory.appendingPathComponent("disk-bound.tmp")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: url) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        let chunk = Data(repeating: 0x5A, count: Int(octets) * batch)
        let batches = max(requests / batch, 1)
        let started = ContinuousClock.now
        for _ in 0..<batches {
            try handle.write(contentsOf: chunk)
            try handle.synchronize()
        }
        return seconds(since: started) / Double(batches * batch)
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The mutations a device request commits, as the hub writes them.
    struct Workload {
        let users: [EUI64]
        let meters: [EUI64]
        let raw = [UInt8](repeating: UInt8(ascii: "x"), count: 1450)
        let time = Timestamp.now()

        init(users count: Int) {
            users = (0..<count).map { EUI64(0x90B3_D51F_3100_0000 + UInt64($0)) }
            meters = (0..<count).map { EUI64(0x00DB_1234_5600_0000 + UInt64($0)) }
        }

        /// Request `index`: from user `index % users`, its counter rising with `index`.
        func ids(_ index: Int) -> (user: EUI64, meter: EUI64, counter: UInt64, id: String) {
            let user = users[index % users.count], meter = meters[index % meters.count]
            let counter = UInt64(1_000_000 + index)
            return (user, meter, counter, "\(user):\(meter):\(counter)")
        }

        func acknowledged(_ index: Int) -> [Mutation] {
            let (user, meter, counter, id) = ids(index)
            let at = time.adding(milliseconds: Int64(index))
            return [
                .setCounter(originator: user, counter: counter),
                .insertRequest(StoredRequest(requestID: id, originator: user, target: meter, counter: counter, srv: "4.1.1", commandVariant: 1,
                                             receivedAt: at, executeAt: nil, status: .awaitingDevice, code: "I99", raw: raw)),
                .audit(AuditEvent(at: at, kind: .request, actor: user, device: meter, srv: "4.1.1", requestID: id,
                                  detail: "Send Command Service, command variant 1, Read Instantaneous Import Registers, 1450 octets, SHA-256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, signature verified")),
                .audit(AuditEvent(at: at, kind: .decision, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I99",
                                  detail: "[access-control] IS: registered for 1312345678111 at 2026-11-23T05:57:57.730Z; stored at the device boundary, awaiting delivery to the device")),
                .audit(AuditEvent(at: at, kind: .response, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I99", detail: "synchronous acknowledgement")),
            ]
        }

        func answered(_ index: Int) -> [Mutation] {
            let (user, meter, _, id) = ids(index)
            let at = time.adding(milliseconds: Int64(index) + 500)
            return [
                .setRequestStatus(requestID: id, status: .completed, code: "I0"),
                .audit(AuditEvent(at: at, kind: .device, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I0",
                                  detail: "ReadInstantaneousImportRegistersRsp: import 1234567 Wh")),
                .audit(AuditEvent(at: at, kind: .response, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I0", detail: "queued for delivery")),
            ]
        }
    }
}
