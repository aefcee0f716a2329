import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import NIOCore
import NIOHTTP1
import Privacy
import Storage
import Testing
import TestSupport

/// The consumer portal in a real browser: headless Chromium driven by Selenium
/// (`Tests/Browser/portal_test.py`), against a hub whose default premises has had its
/// data read and refused over DUIS. Screenshots go to `GBSM_SCREENSHOTS` (default
/// `.build/portal-screenshots`).
@Suite(.serialized) struct PortalBrowserTests {
    /// The system Python, which the Debian selenium package serves (a pyenv on PATH may not have it).
    static var python: String? {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : Tool.find("python3")
    }

    static var browserAvailable: Bool {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), let python else { return false }
        return (try? Tool.run(python, ["-c", "import selenium"]))?.status == 0
    }

    static let skipReason = "headless Chromium, chromedriver and python3-selenium are needed (apt-get install chromium chromium-driver python3-selenium): the browser test is skipped"

    @Test(.enabled(if: browserAvailable, Comment(rawValue: skipReason)))
    func aConsumerSeesAndControlsTheirOwnDataInABrowser() async throws {
        let receiver = try await ResponseReceiver.start()
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let binary = try #require(GBSMBinary.url)
        let meter = EUI64(0x00DB_1234_5678_90A0)
        let data = hub.dataArguments

        // The other user reads half hours under the DCC Boxed consent; the consumer then
        // withdraws it by phone, and the next read is refused.
        let today = Timestamp.now().day.start
        func profile() throws -> [UInt8] {
            try client.sign(requestXML(originator: Provisioning.otherUser, target: meter, commandVariant: "1", srv: "4.8.1", body: """
                <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(today.adding(days: -1).iso8601)</sr:StartDateTime>\
                <sr:EndDateTime>\(today.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
                """), counter: Counters.next())
        }
        let first = try await client.post(try profile(), to: .sendCommand)
        #expect(first.code == "I99")
        _ = await receiver.waitFor(1)
        let withdrawn = try await Tool.run(binary.path, ["consent", "withdraw"] + data + ["--device", meter.description, "--party", Provisioning.otherUser.description,
                                                   "--purpose", "energy-services"])
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        #expect(try await client.post(try profile(), to: .sendCommand).code == "E4")

        // The IHD's code, as the consumer reads it.
        let issued = try await Tool.run(binary.path, ["privacy", "portal-code"] + data + ["--mpxn", Provisioning.defaultMPAN, "--base-url", hub.baseURL])
        #expect(issued.status == 0, "\(issued.stderr)")
        let code = try #require(issued.stdout.firstMatch(of: /IHD code: ([0-9A-Z]{4}-[0-9A-Z]{4})/).map { String($0.1) })

        let shots = ProcessInfo.processInfo.environment["GBSM_SCREENSHOTS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/portal-screenshots").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Browser/portal_test.py")
        let run = try await Tool.run(try #require(Self.python), [script.path, hub.baseURL, Provisioning.defaultMPAN, code, shots, Provisioning.otherUser.description])
        #expect(run.status == 0, "the browser test failed: \(run.stderr.suffix(3000))")
        print("portal browser test: screenshots in \(shots)")
        if run.status == 0, let line = run.stdout.split(separator: "\n").last,
           let seen = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
            print("portal browser test saw: months \(seen["months"] ?? "?"), export rows \(seen["export_rows"] ?? "?"), access rows \((seen["access_rows"] as? [Any])?.count ?? 0), \(seen["consent_message"] ?? "")")
            #expect((seen["screenshots"] as? [String])?.count ?? 0 >= 9)
            #expect(seen["tampered_cookie_refused"] as? Bool == true)
            #expect(seen["export_rows"] as? Int ?? 0 > 48 * 300, "a year of half hours in the export")
        }
        // The portal's grant is in the ledger, verified.
        let entries = try await hub.hub.store.consents(premises: 1)
        #expect(entries.contains { $0.method == .portal && $0.purpose == .research && $0.party == Provisioning.otherUser && $0.granularity == .daily })
        #expect(try await hub.hub.store.audit(AuditQuery(kind: .portal)).contains { $0.event.detail.contains("signed in with the IHD code") })
        await hub.stop()
        await receiver.stop()
    }

    /// Hostile requests to the portal and the plan API: each gets a clear refusal, nothing
    /// changes, and the hub keeps serving.
    @Test func forgedAndHostileRequestsGetNothing() async throws {
        let hub = try await RunningHub.start()
        let base = hub.baseURL
        // Redirects are part of what is checked: do not follow them.
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        func send(_ method: HTTPMethod, _ path: String, cookie: String? = nil, form: String? = nil, authorization: String? = nil) async throws -> (Int, String, String?) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            if let form {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: form))
            }
            let response = try await http.execute(request, timeout: .seconds(10))
            let body = String(buffer: try await response.body.collect(upTo: 4 << 20))
            return (Int(response.status.code), body, response.headers.first(name: "Location"))
        }
        // No session, a garbage one, a forged one: back to sign-in, no data.
        for cookie in [nil, "gbsm_portal=garbage", "gbsm_portal=1.0.99999999999999.00", "gbsm_portal=<script>"] {
            let (status, body, location) = try await send(.GET, "/portal/export.csv", cookie: cookie)
            #expect(status == 303 && location == "/portal" && !body.contains("period_start"), "\(cookie ?? "no cookie"): \(status)")
        }
        // A wrong code, an unknown MPAN, an oversized and a malformed form: refused with a reason.
        let code = PortalSecrets.issue()
        try await hub.hub.store.apply(Mutation.issuePortalAccess(premises: 1, occupancy: 0, code: code.code, token: code.token, at: .now(), by: "test"))
        #expect(try await send(.POST, "/portal/signin", form: "mpxn=\(Provisioning.defaultMPAN)&code=AAAA-AAAA").0 == 401)
        #expect(try await send(.POST, "/portal/signin", form: "mpxn=999&code=\(code.code)").0 == 401)
        // An oversized form (180 KB, past the 64 KiB a form may have) is refused whole, never read in part.
        #expect(try await send(.POST, "/portal/signin", form: String(repeating: "a=%ZZ&", count: 30_000)).0 == 413)
        #expect(try await send(.POST, "/portal/signin", form: "%%%&&&===").0 == 401)
        // An unknown or reused link.
        #expect(try await send(.GET, "/portal/link/00").0 == 401)
        let (linkStatus, _, _) = try await send(.GET, "/portal/link/\(code.token)")
        #expect(linkStatus == 303)
        #expect(try await send(.GET, "/portal/link/\(code.token)").0 == 401, "a link works once")
        // Signed in, but a consent form without the session's token changes nothing.
        let signIn = try await send(.POST, "/portal/signin", form: "mpxn=\(Provisioning.defaultMPAN)&code=\(code.code)")
        #expect(signIn.0 == 303)
        var request = HTTPClientRequest(url: base + "/portal/signin")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: "mpxn=\(Provisioning.defaultMPAN)&code=\(code.code)"))
        let response = try await http.execute(request, timeout: .seconds(10))
        let session = try #require(response.headers.first(name: "Set-Cookie")?.split(separator: ";").first.map(String.init))
        let before = try await hub.hub.store.consents(premises: 1).count
        let forged = try await send(.POST, "/portal/consents", cookie: session,
                                    form: "action=grant&party=\(Provisioning.otherUser)&purpose=marketing&granularity=half-hourly&csrf=0000")
        #expect(forged.0 == 403 && forged.1.contains("expired"))
        #expect(try await hub.hub.store.consents(premises: 1).count == before, "nothing recorded")
        // The plan API without a token, and for a plan that does not exist.
        #expect(try await send(.GET, "/api/v1/dpp/1/profiles").0 == 401)
        #expect(try await send(.GET, "/api/v1/dpp/x/profiles", authorization: "Bearer 00").0 == 404)
        // Still serving.
        #expect(try await send(.GET, "/health").0 == 200)
        try await http.shutdown()
        await hub.stop()
    }
}
