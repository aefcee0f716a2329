import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import SMKI
import Storage
import Synchronization
import Testing
import TestSupport

/// Durability: a request acknowledged with I99 was on disk first. SIGKILL the real server
/// while hundreds of requests are in flight, restart it: none is lost, none is answered
/// twice, the audit chain is intact, and queued alerts are still delivered.
@Suite(.serialized) struct CrashRecoveryTests {
    @Test func killWhileRequestsAreInFlightThenRestart() async throws {
        let receiver = try await ResponseReceiver.start()
        receiver.refuse(true)
        let directory = try TemporaryDirectory("gbsm-crash")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: receiver.url)
        let configuration = HubConfiguration(dataDirectory: directory.url)
        // 256 suppliers, each sending four requests one after another to its own meter:
        // up to 256 requests in flight, none overtaking another of the same supplier.
        let streams = 256
        let suppliers = try await Provisioning.addSuppliers(dataDirectory: directory.url, count: streams, responseURL: receiver.url)
        do {
            // The first 32 allow themselves one read an hour: their later ones are quarantined (alerts queued).
            let store = try SQLiteStore(path: configuration.databasePath)
            try await store.apply(suppliers.prefix(32).map { .putThreshold(AnomalyThreshold(user: $0.user, srv: "4.1.1", limit: 1, windowSeconds: 3600)) })
        }
        let keystore = try Keystore.load(from: configuration.keystoreURL)

        var requests: [(id: String, body: [UInt8])] = []
        let signer = DUISClient(baseURL: "", keystore: keystore)
        for round in 0..<4 {
            for (user, meter) in suppliers {
                let xml = requestXML(originator: user, target: meter, counter: UInt64(round + 1), commandVariant: "1", srv: "4.1.1",
                                     body: "<sr:ReadInstantaneousImportRegisters/>")
                let body = try signer.sign(xml, counter: nil)
                let id = try ServiceRequestDocument(try XMLDocument.parse(body)).header.requestID.description
                requests.append((id, body))
            }
        }

        let all = requests
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path, "--retry-initial", "0.1", "--retry-max", "0.5"])
        defer { if server.process.isRunning { server.kill() } }
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: streams)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let client = DUISClient(baseURL: server.baseURL, keystore: keystore, http: http)
        let acknowledged = Mutex<Set<String>>([])
        let inFlight = Mutex<(now: Int, atKill: Int)>((0, 0))
        let killed = Flag()
        let sendChain: @Sendable (Int) async -> Void = { start in
            var index = start
            while index < all.count, !killed.value {
                let request = all[index]
                inFlight.withLock { $0.now += 1 }
                let answer = try? await client.post(request.body, to: .sendCommand, timeout: 10)
                inFlight.withLock { $0.now -= 1 }
                if let answer, answer.code == "I99" {
                    let count = acknowledged.withLock { set -> Int in
                        set.insert(request.id)
                        return set.count
                    }
                    if count == 400, !killed.exchange(true) {
                        inFlight.withLock { $0.atKill = $0.now }
                        server.kill()
                    }
                }
                index += streams
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for start in 0..<streams {
                group.addTask { await sendChain(start) }
            }
        }
        try await http.shutdown()
        let inFlightAtKill = inFlight.withLock { $0.atKill }
        #expect(inFlightAtKill >= 100, "hundreds of requests in flight when the server died")
        let wasKilled = killed.value
        #expect(wasKilled, "the server was killed mid-flight")
        if !killed.exchange(true) { server.kill() }
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count >= 400)
        #expect(acked.count < requests.count, "some requests were in flight when the server died")

        // Restart on the same data folder.
        let restarted = try await ServerProcess.start(["serve", "--data", directory.url.path, "--retry-initial", "0.1", "--retry-max", "0.5"])
        defer { if restarted.process.isRunning { restarted.kill() } }
        let store = try SQLiteStore(path: configuration.databasePath)
        var stored: [String: StoredRequest] = [:]
        // Requests the emulated devices already answered are on disk too, as completed or failed.
        for status in RequestStatus.allCases {
            for request in try await store.requests(status: status, originator: nil, limit: 10_000) { stored[request.requestID] = request }
        }
        // None lost: every acknowledged request is on disk.
        for requestID in acked.subtracting(stored.keys) {
            // Moved on between the status queries above.
            if let request = try await store.request(id: requestID) { stored[requestID] = request }
        }
        let lost = acked.subtracting(stored.keys)
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.sorted().prefix(5))")
        // None answered twice: sending an acknowledged request again is a replay.
        let again = DUISClient(baseURL: restarted.baseURL, keystore: keystore)
        for request in requests where acked.contains(request.id) {
            let answer = try await again.post(request.body, to: .sendCommand)
            #expect(answer.code == "E1", "\(request.id) answered again: \(answer.code ?? "?")")
        }
        #expect(try await store.verifyAudit().isIntact)

        // The quarantine alerts queued before the crash are delivered after it, once each.
        let quarantined = stored.values.filter { $0.status == .quarantined }.count
        #expect(quarantined > 0)
        receiver.refuse(false)
        // Device responses arrive on the same endpoint; the quarantine alerts are the AD1s.
        let deadline = ContinuousClock.now + .seconds(60)
        var alerts: [ResponseReceiver.Message] = []
        while ContinuousClock.now < deadline {
            alerts = receiver.messages.filter { message in (try? DUISMessage(message.body))?.dccAlertCode == "AD1" }
            if alerts.count >= quarantined { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(300))
        alerts = receiver.messages.filter { message in (try? DUISMessage(message.body))?.dccAlertCode == "AD1" }
        #expect(alerts.count == quarantined)
        let everything = receiver.messages
        #expect(Set(everything.compactMap(\.messageID)).count == everything.count, "no message delivered twice")
        print("crash recovery: \(requests.count) signed requests, \(inFlightAtKill) in flight at SIGKILL, \(acked.count) acknowledged (I99) before it, \(stored.count) on disk after restart "
              + "(\(stored.count - acked.count) committed but not yet answered), \(acked.count) resent and refused as replays, "
              + "\(quarantined) quarantine alerts delivered after restart")
        #expect(restarted.terminate() == 0, "graceful shutdown on SIGTERM")
        await receiver.stop()
    }
}

final class Flag: Sendable {
    private let state = Mutex(false)
    func exchange(_ value: Bool) -> Bool { state.withLock { old in defer { old = value }; return old } }
    var value: Bool { state.withLock { $0 } }
}
