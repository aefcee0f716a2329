import DUIS
import Foundation
import Hub
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
        let data = hub.dataDirectory.path

        // The other user reads half hours under the DCC Boxed consent; the consumer then
        // withdraws it by phone, and the next read is refused.
        let today = Timestamp(milliseconds: Timestamp.now().dayAndTime.day * 86_400_000)
        func profile() throws -> [UInt8] {
            try client.sign(requestXML(originator: Provisioning.otherUser, target: meter, commandVariant: "1", srv: "4.8.1", body: """
                <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(today.adding(milliseconds: -86_400_000).iso8601)</sr:StartDateTime>\
                <sr:EndDateTime>\(today.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
                """), counter: Counters.next())
        }
        let first = try await client.post(try profile(), to: .sendCommand)
        #expect(first.code == "I99")
        _ = await receiver.waitFor(1)
        let withdrawn = try Tool.run(binary.path, ["consent", "withdraw", "--data", data, "--device", meter.description, "--party", Provisioning.otherUser.description,
                                                   "--purpose", "energy-services"])
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        #expect(try await client.post(try profile(), to: .sendCommand).code == "E4")

        // The IHD's code, as the consumer reads it.
        let issued = try Tool.run(binary.path, ["privacy", "portal-code", "--data", data, "--mpxn", Provisioning.defaultMPAN, "--base-url", hub.baseURL])
        #expect(issued.status == 0, "\(issued.stderr)")
        let code = try #require(issued.stdout.firstMatch(of: /IHD code: ([0-9A-Z]{4}-[0-9A-Z]{4})/).map { String($0.1) })

        let shots = ProcessInfo.processInfo.environment["GBSM_SCREENSHOTS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/portal-screenshots").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Browser/portal_test.py")
        let run = try Tool.run(try #require(Self.python), [script.path, hub.baseURL, Provisioning.defaultMPAN, code, shots, Provisioning.otherUser.description])
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
        #expect(try await hub.hub.store.audit(AuditQuery(kind: "portal")).contains { $0.event.detail.contains("signed in with the IHD code") })
        await hub.stop()
        await receiver.stop()
    }
}
