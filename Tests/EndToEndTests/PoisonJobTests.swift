import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import SMKI
import Storage
import Testing
import TestSupport

/// Stored work that cannot be finished must not take the hub, or other users, down with
/// it (issue 8): an endpoint that never answers starves nobody else's deliveries, and a
/// job that was running each time the process died is parked after the second death.
@Suite(.serialized) struct PoisonJobTests {
    static let esme = Provisioning.defaultDevices[0].eui

    /// Finding 7: 600 responses to an endpoint that never answers kept another supplier's
    /// response waiting for minutes; delivery is now fair per recipient.
    @Test func oneSlowEndpointStarvesNoOtherRecipient() async throws {
        let receiver = try await ResponseReceiver.start()
        receiver.hang(prefixes: ["flood-"])
        let hub = try await RunningHub.start(responseURL: receiver.url)
        let now = Timestamp.now()
        var flood: [Mutation] = []
        for index in 0..<600 {
            flood.append(.enqueueOutbox(OutboxItem(recipient: Provisioning.supplier, kind: "service-response", messageID: "flood-\(index)", requestID: nil,
                                                   body: Array("<flood/>".utf8), createdAt: now, nextAttemptAt: now)))
        }
        try await hub.hub.store.apply(flood)
        // Wait until the flood holds its share of the delivery slots, then queue one message for another supplier.
        // (Queued straight into the store, they are picked up at the delivery loop's next
        // periodic look, within seconds; generously bounded for a loaded machine.)
        let busy = ContinuousClock.now + .seconds(40)
        while receiver.hangs < 4, ContinuousClock.now < busy { try await Task.sleep(for: .milliseconds(20)) }
        #expect(receiver.hangs >= 4)
        let later = Timestamp.now()
        try await hub.hub.store.apply([.enqueueOutbox(OutboxItem(recipient: Provisioning.secondSupplier, kind: "service-response", messageID: "fair-1",
                                                                 requestID: nil, body: Array("<fair/>".utf8), createdAt: later, nextAttemptAt: later))])
        let delivered = await receiver.waitFor(1, timeout: .seconds(30))
        #expect(delivered.contains { $0.messageID == "fair-1" }, "the other supplier's response is delivered while 600 wait for a dead endpoint")
        let held = receiver.hangs
        print("fair delivery: \"fair-1\" delivered while \(held) POSTs to the endpoint that never answers were held, at most 4 at a time")
        receiver.hang()
        await hub.stop()
        await receiver.stop()
    }

    /// Forced crashes during a poisoned job: the delivery of one message is in progress
    /// each time the real server is killed. After the second death the hub starts, serves,
    /// parks the message, and a DCC alert names its request.
    @Test func aJobRunningAtTwoDeathsIsParkedAndNamedInAnAlert() async throws {
        let receiver = try await ResponseReceiver.start()
        let directory = try TemporaryDirectory("gbsm-poison-job")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: receiver.url)
        let configuration = HubConfiguration(dataDirectory: directory.url)
        let keystore = try Keystore.load(from: configuration.keystoreURL)
        // The device's answer to this request is the poisoned job: its endpoint never answers it.
        let signer = DUISClient(baseURL: "", keystore: keystore)
        let body = try signer.sign(requestXML(originator: Provisioning.supplier, target: Self.esme, commandVariant: "1", srv: "4.1.1",
                                              body: "<sr:ReadInstantaneousImportRegisters/>"), counter: Counters.next())
        let requestID = try ServiceRequestDocument(try XMLDocument.parse(body)).header.requestID
        receiver.hang(messageIDs: [requestID.responseID])
        let arguments = ["serve", "--data", directory.url.path, "--wan-delays", "off", "--retry-initial", "0.1", "--retry-max", "0.2"]
        let store = try SQLiteStore(path: configuration.databasePath)
        let running = try RunningJobLog(path: configuration.runningJobsPath)
        /// Waits until the response's delivery is under way (marked as running), then kills the server.
        func killDuringDelivery(_ server: ServerProcess) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if try await running.all().contains(where: { if case .outbox = $0.job { return true } else { return false } }) { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await running.all().count == 1, "the delivery is running when the server dies")
            server.kill()
        }

        let first = try await ServerProcess.start(arguments)
        let answer = try await DUISClient(baseURL: first.baseURL, keystore: keystore).post(body, to: .sendCommand)
        #expect(answer.code == "I99")
        try await killDuringDelivery(first)
        // First restart: the message was running at one death; it is tried again, alone, and the server dies again.
        let second = try await ServerProcess.start(arguments)
        try await killDuringDelivery(second)
        let crashed = try #require(try await store.outbox(recipient: Provisioning.supplier, status: nil, limit: 100).first { $0.messageID == requestID.responseID })
        #expect(crashed.crashes == 1)
        // Second restart: parked, not run a third time; the hub serves; an alert names the request.
        let third = try await ServerProcess.start(arguments)
        defer { if third.process.isRunning { third.kill() } }
        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: third.baseURL + "/health"), timeout: .seconds(5))
        #expect(health.status == .ok)
        let crashedID = try #require(crashed.id)
        let parked = try #require(try await store.outboxItem(id: crashedID))
        #expect(parked.status == .parked)
        let alerts = await receiver.waitFor(1, timeout: .seconds(20))
        let alert = try #require(alerts.compactMap { try? DUISMessage($0.body) }.first { $0.dccAlertCode == "N999" })
        #expect(alert.text.contains("<sr:CommandRequestID>\(requestID.description)</sr:CommandRequestID>"), "\(alert.text)")
        let audit = try await store.audit(AuditQuery(kind: .jobParked))
        #expect(audit.contains { $0.event.detail.contains(requestID.responseID) && $0.event.detail.contains("2 times") })
        let list = try runGBSM(["quarantine", "list", "--data", directory.url.path])
        #expect(list.stdout.contains("parked message"), "\(list.stdout)")
        // An operator sends it again once the endpoint answers.
        receiver.hang()
        #expect(try runGBSM(["quarantine", "release", "--data", directory.url.path, "--message", String(crashedID)]).status == 0)
        let resent = await receiver.waitFor(2, timeout: .seconds(20))
        #expect(resent.contains { $0.messageID == requestID.responseID })
        print("poison job: the delivery of \(requestID.responseID) was running at 2 deaths; after the second restart it was parked, the hub served, alert N999 named \(requestID)")
        #expect(third.terminate() == 0)
        await receiver.stop()
    }
}
