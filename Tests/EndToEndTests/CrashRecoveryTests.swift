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
        do {
            // The network operator allows itself 20 export-register reads an hour: more are quarantined (alerts queued).
            let store = try SQLiteStore(path: configuration.databasePath)
            try await store.apply([.putThreshold(AnomalyThreshold(user: Provisioning.networkOperator, srv: "4.2", limit: 20, windowSeconds: 3600))])
        }
        let keystore = try Keystore.load(from: configuration.keystoreURL)

        // 400 signed requests: 300 from the supplier, 100 from the network operator.
        var requests: [(id: String, body: [UInt8])] = []
        let signer = DUISClient(baseURL: "", keystore: keystore)
        for index in 0..<400 {
            let xml = index % 4 == 3
                ? requestXML(originator: Provisioning.networkOperator, target: esme, commandVariant: "1", srv: "4.2", body: "<sr:ReadInstantaneousExportRegisters/>")
                : readRegisters()
            let body = try signer.sign(xml, counter: Counters.next())
            let id = try ServiceRequestDocument(try XMLDocument.parse(body)).header.requestID.description
            requests.append((id, body))
        }

        let all = requests
        let server = try await ServerProcess.start(["serve", "--data", directory.url.path, "--retry-initial", "0.1", "--retry-max", "0.5"])
        defer { if server.process.isRunning { server.kill() } }
        let client = DUISClient(baseURL: server.baseURL, keystore: keystore)
        let acknowledged = Mutex<Set<String>>([])
        let killed = Flag()
        let sendChain: @Sendable (Int) async -> Void = { start in
            var index = start
            while index < all.count, !killed.value {
                let request = all[index]
                if let answer = try? await client.post(request.body, to: .sendCommand, timeout: 10), answer.code == "I99" {
                    let count = acknowledged.withLock { set -> Int in
                        set.insert(request.id)
                        return set.count
                    }
                    if count == 100, !killed.exchange(true) {
                        server.kill()
                    }
                }
                index += 32
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for start in 0..<32 {
                group.addTask { await sendChain(start) }
            }
        }
        let wasKilled = killed.value
        #expect(wasKilled, "the server was killed mid-flight")
        if !killed.exchange(true) { server.kill() }
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count >= 100)
        #expect(acked.count < requests.count, "some requests were in flight when the server died")

        // Restart on the same data folder.
        let restarted = try await ServerProcess.start(["serve", "--data", directory.url.path, "--retry-initial", "0.1", "--retry-max", "0.5"])
        defer { if restarted.process.isRunning { restarted.kill() } }
        let store = try SQLiteStore(path: configuration.databasePath)
        var stored: [String: StoredRequest] = [:]
        for status in [RequestStatus.awaitingDevice, .quarantined] {
            for request in try await store.requests(status: status, originator: nil, limit: 10_000) { stored[request.requestID] = request }
        }
        // None lost: every acknowledged request is on disk.
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
        let delivered = await receiver.waitFor(quarantined, timeout: .seconds(60))
        #expect(delivered.count == quarantined)
        #expect(Set(delivered.compactMap(\.messageID)).count == delivered.count)
        print("crash recovery: \(requests.count) signed requests, \(acked.count) acknowledged (I99) before SIGKILL, \(stored.count) on disk after restart "
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
