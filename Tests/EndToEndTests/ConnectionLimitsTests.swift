import AsyncHTTPClient
import Foundation
import Hub
@testable import Server
import Testing
import TestSupport

/// Connections per client and in total (the attack review's critical finding): an
/// anonymous client that opened keep-alive connections and kept each busy with `GET
/// /health` exhausted the hub's file descriptors, and the runtime then trapped. Against the
/// real `gbsm serve` in a child process whose descriptor limit is lowered to 512 (with
/// `prlimit`), clients from loopback addresses of their own open far more connections than
/// the caps, and than the descriptors, allow.
@Suite(.serialized) struct ConnectionLimitsTests {
    static let health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    /// Open descriptors of a process.
    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // The state follows the command name in parentheses: Z (zombie) or X (dead) once it exited.
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// What became of a batch of connections from one address.
    struct Batch: Sendable {
        var source: String
        /// Connections kept open, each of which answered `/health`.
        var held: [LoopbackConnection] = []
        /// Connections the server refused: answered 503 (or nothing) and closed.
        var refused = 0
        var refusedWith503 = 0
        /// Refused connections the server did not close within 2 s.
        var lingering = 0
        /// The longest from connecting to seeing a refused connection closed, in seconds.
        var slowestRefusal = 0.0
        var failures: [String] = []
    }

    /// Opens `count` connections from `source`, each sending `GET /health`; keeps those
    /// answered 200, and checks that the others are closed.
    static func open(_ count: Int, from source: String, port: Int) -> Batch {
        var batch = Batch(source: source)
        var pending: [(LoopbackConnection, ContinuousClock.Instant)] = []
        for _ in 0..<count {
            do {
                let connection = try LoopbackConnection(from: source, port: port, connectTimeout: .seconds(3))
                connection.send(health)
                pending.append((connection, .now))
            } catch {
                batch.failures.append("\(error)")
            }
        }
        for (connection, start) in pending {
            let response = connection.readResponse(timeout: .seconds(5))
            if response?.status == 200 {
                batch.held.append(connection)
                continue
            }
            batch.refused += 1
            if response?.status == 503 { batch.refusedWith503 += 1 }
            if response == nil || response?.header("Connection")?.lowercased() == "close" {
                if connection.waitForClose(timeout: .seconds(2)) {
                    let elapsed = (ContinuousClock.now - start).components
                    batch.slowestRefusal = max(batch.slowestRefusal, Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
                } else {
                    batch.lingering += 1
                }
            } else {
                batch.failures.append("unexpected answer \(response?.status ?? 0)")
            }
        }
        return batch
    }

    /// One `GET /health` on each held connection (as the attacker did every 10 s, to stay
    /// clear of the idle timeout): how many answered.
    static func ping(_ connections: [LoopbackConnection]) -> Int {
        connections.filter { connection in
            connection.send(health)
            return connection.readResponse(timeout: .seconds(5))?.status == 200
        }.count
    }

    /// `GET /health` on a fresh connection from `source`: its status, 0 if closed without one.
    static func fresh(from source: String, port: Int) async throws -> Int {
        try await LoopbackConnection.run {
            guard let connection = try? LoopbackConnection(from: source, port: port, connectTimeout: .seconds(3)) else { return -1 }
            connection.send(health)
            return connection.readResponse(timeout: .seconds(5))?.status ?? 0
        }
    }

    /// What the attack saw.
    struct Figures {
        var opened = 0
        var heldByFour = 0
        var heldByAll = 0
        var refused = 0
        var refusedWith503 = 0
        var lingering = 0
        var slowestRefusal = 0.0
        var failures: [String] = []
        var pinged: [Int] = []
        var freshDuringFlood = 0
        var freshWhenFull = 0
        var peakDescriptors = 0
        var aliveUnderAttack = false
    }

    /// Four addresses open 60 connections each, then thirty more 30 each, every one kept
    /// busy; the connections close when this returns.
    static func attack(pid: Int32, port: Int) async throws -> Figures {
        var figures = Figures()
        var peak = descriptors(pid)
        // Four addresses, 60 connections each: 20 each stay open, the rest are refused at once.
        var batches: [Batch] = []
        for index in 1...4 {
            batches.append(try await LoopbackConnection.run { open(60, from: "127.0.4.\(index)", port: port) })
            peak = max(peak, descriptors(pid))
        }
        let heldByFour = batches.flatMap(\.held)
        figures.heldByFour = heldByFour.count
        // The attack: keep every held connection busy. They stay open and answer.
        for _ in 0..<2 { figures.pinged.append(try await LoopbackConnection.run { ping(heldByFour) }) }
        figures.freshDuringFlood = try await fresh(from: "127.0.4.200", port: port)
        peak = max(peak, descriptors(pid))
        // Thirty more addresses, 30 connections each: the total fills, the rest is refused.
        for index in 1...30 {
            batches.append(try await LoopbackConnection.run { open(30, from: "127.0.5.\(index)", port: port) })
            peak = max(peak, descriptors(pid))
        }
        let everyone = batches.flatMap(\.held)
        figures.heldByAll = everyone.count
        figures.freshWhenFull = try await fresh(from: "127.0.4.201", port: port)
        figures.pinged.append(try await LoopbackConnection.run { ping(everyone) })
        figures.peakDescriptors = max(peak, descriptors(pid))
        figures.aliveUnderAttack = alive(pid)
        figures.opened = batches.reduce(0) { $0 + $1.held.count + $1.refused }
        figures.refused = batches.reduce(0) { $0 + $1.refused }
        figures.refusedWith503 = batches.reduce(0) { $0 + $1.refusedWith503 }
        figures.lingering = batches.reduce(0) { $0 + $1.lingering }
        figures.slowestRefusal = batches.map(\.slowestRefusal).max() ?? 0
        figures.failures = batches.flatMap(\.failures)
        return figures
    }

    @Test func connectionsAreCappedPerClientAndInTotalAndTheHubSurvives() async throws {
        let directory = try TemporaryDirectory("gbsm-connections")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: nil)
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path, "--max-connections", "200", "--max-connections-per-client", "20"])
        defer { server.kill() }
        let pid = server.process.processIdentifier
        let port = server.port
        // 512 descriptors from now on: far fewer than the connections the clients open.
        let prlimit = Tool.find("prlimit")
        if let prlimit {
            let lowered = try await Tool.run(prlimit, ["--pid", String(pid), "--nofile=512:512"])
            #expect(lowered.status == 0, "\(lowered.stderr)")
        }
        let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("Max open files") }.map { $0.split(separator: " ").dropFirst(3).prefix(2).joined(separator: ":") } ?? "?"
        let baseline = Self.descriptors(pid)
        let figures = try await Self.attack(pid: pid, port: port)

        // The attackers are gone: their connections are released, and a new client is served again.
        var freshAfter = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while freshAfter != 200, ContinuousClock.now < deadline {
            freshAfter = try await Self.fresh(from: "127.0.4.202", port: port)
        }
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: server.baseURL + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        let aliveAfter = Self.alive(pid)

        print("""
            connections: descriptor limit \(limits) (prlimit \(prlimit == nil ? "missing" : "applied")); \(figures.opened) opened from 34 addresses, \
            caps 200 in total and 20 per client: \(figures.heldByFour) held by the first 4 addresses, \(figures.heldByAll) by all; \
            \(figures.refused) refused (\(figures.refusedWith503) with 503), each closed within \(String(format: "%.3f", figures.slowestRefusal)) s, \
            \(figures.lingering) left open; connect failures \(figures.failures.count); pings answered \(figures.pinged); fresh /health during the \
            per-client flood \(figures.freshDuringFlood), with the total full \(figures.freshWhenFull), after the attackers left \(freshAfter); \
            server descriptors \(baseline) at rest, peak \(figures.peakDescriptors); alive \(figures.aliveUnderAttack) / \(aliveAfter)
            """)
        #expect(figures.failures.isEmpty, "\(figures.failures.prefix(3))")
        #expect(figures.heldByFour == 80, "20 connections stay open for each of the 4 addresses")
        #expect(figures.pinged.prefix(2).allSatisfy { $0 == figures.heldByFour }, "held connections are served: \(figures.pinged)")
        #expect(figures.freshDuringFlood == 200, "another client is served while one holds its cap")
        #expect((195...200).contains(figures.heldByAll), "the total stops at 200 (the harness's own connection may hold one)")
        #expect(figures.freshWhenFull == 503 || figures.freshWhenFull == 0, "with the total full, a new connection is refused at once: \(figures.freshWhenFull)")
        #expect(figures.refused == figures.opened - figures.heldByAll && figures.lingering == 0, "every refused connection was closed")
        #expect(figures.slowestRefusal < 2)
        #expect(figures.peakDescriptors <= 200 + 64, "descriptors stay under the cap plus headroom: peak \(figures.peakDescriptors)")
        #expect(figures.aliveUnderAttack && aliveAfter)
        #expect(freshAfter == 200, "once the attackers leave, a new client is served")
        #expect(text.contains("gbsm_http_connections_refused_total{reason=\"client\"}") && text.contains("gbsm_http_connections_refused_total{reason=\"total\"}"))
    }

    /// The arithmetic of the caps: counted per client and in total, released on close, the
    /// table emptied at zero; the total sized from the descriptor limit.
    @Test func theConnectionTableIsBoundedAndSizedFromTheDescriptorLimit() throws {
        let limits = ConnectionLimits(total: 5, perClient: 2)
        let a = ClientKey.v4(0x0A00_0001), b = ClientKey.v4(0x0A00_0002)
        try limits.open(a)
        try limits.open(a)
        #expect(throws: ConnectionLimits.Refusal.client) { try limits.open(a) }
        try limits.open(b)
        try limits.open(b)
        try limits.open(.v4(0x0A00_0003))
        #expect(throws: ConnectionLimits.Refusal.total) { try limits.open(.v4(0x0A00_0004)) }
        #expect(limits.usage.open == 5 && limits.usage.clients == 3)
        limits.close(a)
        try limits.open(.v4(0x0A00_0004))
        for client in [a, b, b, .v4(0x0A00_0003), .v4(0x0A00_0004)] { limits.close(client) }
        #expect(limits.usage.open == 0 && limits.usage.clients == 0, "no entry outlives its last connection")
        // The host itself (a reverse proxy, the operator's tools) has no cap of its own, only the total.
        let local = ClientKey.v4(0x7F00_0001)
        for _ in 0..<5 { try limits.open(local) }
        #expect(throws: ConnectionLimits.Refusal.total) { try limits.open(local) }
        for _ in 0..<5 { limits.close(local) }
        // Other loopback addresses are clients like any other.
        let loopback = ClientKey.v4(0x7F00_0002)
        for _ in 0..<2 { try limits.open(loopback) }
        #expect(throws: ConnectionLimits.Refusal.client) { try limits.open(loopback) }
        for _ in 0..<2 { limits.close(loopback) }
        // 10,000 addresses one after another never hold more than the total; closing a
        // connection that was refused (never counted) changes nothing.
        var admitted = 0
        for index in 0..<10_000 {
            let client = ClientKey.v4(0x0B00_0000 + UInt32(index))
            if (try? limits.open(client)) != nil { admitted += 1 }
            if index % 7 == 0 { limits.close(client) }
        }
        #expect(limits.usage.clients <= 5 && limits.usage.open == limits.usage.clients)
        #expect(admitted > 5, "a slot freed by a close is taken again")
        #expect(ConnectionLimits.total(configured: 4096, descriptors: 1024) == 512)
        #expect(ConnectionLimits.total(configured: 4096, descriptors: 1_048_576) == 4096)
        #expect(ConnectionLimits.total(configured: 4096, descriptors: 300) == 44)
        #expect(ConnectionLimits.total(configured: 4096, descriptors: 100) == 16)
        let raised = FileDescriptorLimit.raise()
        #expect(raised.soft == raised.hard || raised.soft >= raised.before)
    }
}
