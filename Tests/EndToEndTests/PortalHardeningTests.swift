import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import NIOCore
import NIOHTTP1
import Privacy
@testable import Server
import Storage
import Synchronization
import Testing
import TestSupport

/// The portal and the plan API against an attacker (issue 8): one-use links used in
/// parallel, guessing sign-in codes from one address and from many, cross-site posts, and
/// telling plans apart by their refusals. The hub runs in the test process; requests from
/// other loopback addresses (127.0.0.2, …) are other clients to it.
@Suite(.serialized) struct PortalHardeningTests {
    /// State shared with the client threads.
    final class Shared<Value: Sendable>: Sendable {
        let state: Mutex<Value>
        init(_ value: Value) { state = Mutex(value) }
    }

    struct Answer {
        let status: Int
        let body: String
        let headers: HTTPHeaders
        var cookie: String? { headers.first(name: "Set-Cookie") }
    }

    /// A client that does not follow redirects (they are what is checked) and opens up to 32 connections.
    static func client() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func send(_ http: HTTPClient, _ base: String, _ method: HTTPMethod, _ path: String, cookie: String? = nil, form: String? = nil,
                     headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await http.execute(request, timeout: .seconds(20))
        let body = String(buffer: try await response.body.collect(upTo: 4 << 20))
        return Answer(status: Int(response.status.code), body: body, headers: response.headers)
    }

    /// A sign-in POST from another loopback address.
    static func signIn(from source: String, port: Int, mpxn: String, code: String, headers: String = "") async throws -> LoopbackConnection.Response? {
        let form = "mpxn=\(mpxn)&code=\(code)"
        return try await LoopbackConnection.request(from: source, port: port, """
            POST /portal/signin HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/x-www-form-urlencoded\r\n\
            Content-Length: \(form.utf8.count)\r\nConnection: close\r\n\(headers)\r\n\(form)
            """)
    }

    static func issueCode(_ hub: RunningHub) async throws -> (code: String, token: String) {
        let issued = PortalSecrets.issue()
        try await hub.hub.store.apply(Mutation.issuePortalAccess(premises: 1, occupancy: 0, code: issued.code, token: issued.token, at: .now(), by: "test"))
        return issued
    }

    /// A code of the right shape that is not the premises' code (a different one per index).
    static func wrongCode(_ right: String, _ index: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        let characters = (0..<8).map { alphabet[(index >> (5 * $0)) & 31] }
        let code = String(characters.prefix(4)) + "-" + String(characters.suffix(4))
        return PortalSecrets.normalise(code) == PortalSecrets.normalise(right) ? "ZZZZ-ZZZZ" : code
    }

    // MARK: - Finding 2: one-use links

    /// 30 connections opened first, then the same link sent on all of them at once, five
    /// times over with a fresh link: exactly one session each time.
    @Test func aOneUseLinkUsedThirtyTimesAtOnceGivesOneSession() async throws {
        let hub = try await RunningHub.start()
        let port = hub.port
        var sessionsPerRound: [Int] = []
        for _ in 0..<5 {
            let issued = try await Self.issueCode(hub)
            let request = "GET /portal/link/\(issued.token) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
            let answers = try await LoopbackConnection.run { () -> [LoopbackConnection.Response?] in
                let connections = try (0..<30).map { index in try LoopbackConnection(from: "127.0.3.\(index + 1)", port: port) }
                let go = DispatchSemaphore(value: 0)
                let done = DispatchGroup()
                let results = Shared<[LoopbackConnection.Response?]>([])
                for connection in connections {
                    done.enter()
                    Thread {
                        go.wait()
                        connection.send(request)
                        let response = connection.readResponse(timeout: .seconds(15))
                        results.state.withLock { $0.append(response) }
                        done.leave()
                    }.start()
                }
                for _ in connections { go.signal() }
                done.wait()
                return results.state.withLock { $0 }
            }
            let sessions = answers.compactMap { $0 }.filter { answer in
                answer.status == 303 && answer.cookies.contains { $0.hasPrefix("gbsm_portal=") && !$0.hasPrefix("gbsm_portal=;") }
            }
            #expect(answers.compactMap { $0 }.filter { $0.status == 401 }.count == 30 - sessions.count)
            sessionsPerRound.append(sessions.count)
        }
        print("portal link: 30 simultaneous uses of a one-use link, five times: \(sessionsPerRound) session(s)")
        #expect(sessionsPerRound == [1, 1, 1, 1, 1], "exactly one use of a one-use link signs in")
        let audited = try await hub.hub.store.audit(AuditQuery(kind: "portal")).filter { $0.event.detail.contains("signed in with a one-use link") }
        #expect(audited.count == 5)
        await hub.stop()
    }

    // MARK: - Finding 3: throttle the guesser, not the household

    // MARK: - Finding 4a: the plan API

    @Test func thePlanAPIAnswersAMissingPlanAndAWrongTokenAlike() async throws {
        let hub = try await RunningHub.start()
        let http = Self.client()
        let token = "5e" + String(repeating: "ab", count: 31)
        let plan = DataPrivacyPlan(id: 1, user: Provisioning.networkOperator, name: "feeders", approvalReference: "OFG-T", registeredAt: .now())
        try await hub.hub.store.apply([.privacy(.putPlan(plan, key: Pseudonymiser.newKey(), tokenHash: sha256Hex(token)))])
        let wrong = [("Authorization", "Bearer " + String(repeating: "0", count: 64))]
        let existing = try await Self.send(http, hub.baseURL, .GET, "/api/v1/dpp/1/profiles", headers: wrong)
        let missing = try await Self.send(http, hub.baseURL, .GET, "/api/v1/dpp/2/profiles", headers: wrong)
        let far = try await Self.send(http, hub.baseURL, .GET, "/api/v1/dpp/9223372036854775807/profiles", headers: wrong)
        print("dpp: plan 1 with a wrong token \(existing.status) \"\(existing.body.trimmingCharacters(in: .newlines))\"; plan 2 (none) \(missing.status) \"\(missing.body.trimmingCharacters(in: .newlines))\"")
        #expect(existing.status == 403)
        for other in [missing, far] {
            #expect(other.status == existing.status && other.body == existing.body, "a missing plan is answered as a wrong token")
        }
        // The right token still reads the plan.
        let right = try await Self.send(http, hub.baseURL, .GET, "/api/v1/dpp/1/profiles", headers: [("Authorization", "Bearer \(token)")])
        #expect(right.status == 200 && right.body.contains("\"profiles\""))
        try await http.shutdown()
        await hub.stop()
    }
}
