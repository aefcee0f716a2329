import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import SMKI
import Storage
import Synchronization
import Testing
import TestSupport

/// Two hubs on one PostgreSQL database: what they already share (the anti-replay counters
/// and the audit chain) holds across them. Needs `GBSM_TEST_POSTGRES`.
@Suite(.serialized) struct SharedStoreTests {
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func aCounterAcceptedByOneHubIsRefusedByTheOther() async throws {
        let first = try await RunningHub.start(store: .postgres)
        let second = try await RunningHub.start(sharing: first)
        let toFirst = DUISClient(baseURL: first.baseURL, keystore: first.keystore)
        let toSecond = DUISClient(baseURL: second.baseURL, keystore: first.keystore)

        // Requests spread over both hubs, each with a counter above the last.
        var codes: [String] = []
        for index in 0..<6 {
            let client = index.isMultiple(of: 2) ? toFirst : toSecond
            codes.append(try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand).code ?? "none")
        }
        #expect(codes == Array(repeating: "I99", count: 6), "\(codes)")

        // The same signed request again, to the hub that did not take it: a replay.
        let signed = try toFirst.sign(readRegisters(), counter: Counters.next())
        #expect(try await toFirst.post(signed, to: .sendCommand).code == "I99")
        let replayed = try await toSecond.post(signed, to: .sendCommand)
        #expect(replayed.code == "E1", "\(replayed.text)")
        // A counter below one the first hub accepted, sent to the second for the first time.
        let high = Counters.next(), low = Counters.next() - 1_000
        #expect(try await toFirst.post(try toFirst.sign(readRegisters(), counter: high), to: .sendCommand).code == "I99")
        #expect(try await toSecond.post(try toSecond.sign(readRegisters(), counter: min(low, high - 1)), to: .sendCommand).code == "E1")

        await second.stop()
        await first.stop()
        // One chain, written by both processes' commits.
        let verdict = try await first.hub.store.verifyAudit()
        #expect(verdict.isIntact, "\(verdict.problems)")
        let refusals = try await first.hub.store.audit(AuditQuery(kind: .decision, limit: 1000)).filter { $0.event.code == "E1" }
        #expect(refusals.count == 2)
    }

    /// An anomaly threshold holds for a user across the hubs sharing a store: requests
    /// spread over two hubs are counted together, so the fourth of three allowed is
    /// quarantined by whichever hub takes it. Counted per hub, six would pass.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func anAnomalyThresholdHoldsAcrossHubs() async throws {
        let first = try await RunningHub.start(store: .postgres)
        let second = try await RunningHub.start(sharing: first)
        try await first.hub.store.apply([.putThreshold(AnomalyThreshold(user: Provisioning.supplier, srv: "8.2", limit: 3, windowSeconds: 3600)),
                                         .bumpRegistryVersion])
        try await waitUntil { [first, second].allSatisfy { $0.hub.anomaly.thresholds().contains { $0.srv == "8.2" } } }
        let clients = [DUISClient(baseURL: first.baseURL, keystore: first.keystore), DUISClient(baseURL: second.baseURL, keystore: first.keystore)]
        let inventory = requestXML(originator: Provisioning.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "8.2",
                                   body: "<sr:ReadInventory><sr:DeviceID>\(esme)</sr:DeviceID></sr:ReadInventory>")
        var codes: [String] = []
        for index in 0..<6 {
            let client = clients[index % 2]
            codes.append(try await client.post(try client.sign(inventory, counter: Counters.next()), to: .nonDevice).code ?? "?")
        }
        #expect(codes == ["I0", "I0", "I0", "I99", "I99", "I99"], "\(codes)")
        #expect(try await first.hub.store.requests(status: .quarantined, originator: Provisioning.supplier, limit: 10).count == 3)
        await second.stop()
        await first.stop()
    }

    /// Each hub leases the outbox messages it sends (`claimOutboxItems`): both hubs look for
    /// due messages in the one outbox, and every answer reaches its user once.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func eachAnswerIsSentByOneHubOnce() async throws {
        let receiver = try await ResponseReceiver.start()
        let first = try await RunningHub.start(responseURL: receiver.url, store: .postgres)
        let second = try await RunningHub.start(sharing: first)
        let clients = [DUISClient(baseURL: first.baseURL, keystore: first.keystore), DUISClient(baseURL: second.baseURL, keystore: first.keystore)]
        let count = 20
        for index in 0..<count {
            let client = clients[index % 2]
            #expect(try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand).code == "I99")
        }
        let arrived = await receiver.waitFor(count)
        #expect(arrived.count == count)
        // Every message delivered as the store records it; by then any second sending of one
        // would have reached the receiver too.
        var delivered = 0
        for _ in 0..<200 {
            delivered = try await first.hub.store.outbox(recipient: nil, status: .delivered, limit: 1000).count
            if delivered == count { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(delivered == count)
        let messages = await receiver.waitFor(count)
        #expect(messages.count == count, "\(messages.count) POSTs for \(count) answers")
        #expect(Set(messages.compactMap(\.messageID)).count == messages.compactMap(\.messageID).count, "no message sent twice")
        await second.stop()
        await first.stop()
    }

    /// The homes' own life runs on one hub of those sharing a store: the one that started
    /// first, and then the next once it stops.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func oneHubRunsTheHomesOwnLife() async throws {
        // A hub decides once it runs (its first sign of life).
        func leads(_ hub: RunningHub, _ expected: Bool) async throws -> Bool {
            for _ in 0..<100 where hub.hub.leadership.isLeading != expected { try await Task.sleep(for: .milliseconds(50)) }
            return hub.hub.leadership.isLeading == expected
        }
        let first = try await RunningHub.start(store: .postgres)
        #expect(try await leads(first, true), "the only hub leads")
        let second = try await RunningHub.start(sharing: first)
        // Several of its signs of life later, the second still does not lead.
        try await Task.sleep(for: .milliseconds(500))
        #expect(!second.hub.leadership.isLeading)
        #expect(first.hub.leadership.isLeading)
        await first.stop()
        #expect(try await leads(second, true), "the second leads once the first has stopped")
        await second.stop()
    }

    /// Two `gbsm serve` processes on one database, under load; one is killed with SIGKILL.
    /// The other takes over the requests the dead one held at the device boundary (once its
    /// sign of life runs out) and the messages it was sending: every acknowledged request
    /// gets its outcome and its one response, none is answered twice, a resend of any of
    /// them is a replay, and the audit chain both wrote verifies.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func oneHubKilledMidLoadLosesNothingAndAnswersNothingTwice() async throws {
        let receiver = try await ResponseReceiver.start()
        // Nothing is answered until the kill is over, so no answer can be sent by the dead
        // hub and its successor both (a POST cut off by the kill may be sent again: that is
        // DUIS's at-least-once, and not what this test counts).
        receiver.refuse(true)
        let url = try #require(try await StoreBackend.postgres.freshURL())
        let first = try TemporaryDirectory("gbsm-shared-a"), second = try TemporaryDirectory("gbsm-shared-b")
        try await Provisioning.provision(dataDirectory: first.url, keystoreFile: nil, responseURL: receiver.url, storeURL: url)
        let streams = 64
        let suppliers = try await Provisioning.addSuppliers(dataDirectory: first.url, count: streams, responseURL: receiver.url, storeURL: url)
        // Each hub has a data folder of its own (the same keys); the state is the database's.
        let secondData = second.url.appendingPathComponent("data")
        try FileManager.default.copyItem(at: first.url, to: secondData)
        let keystore = try Keystore.load(from: HubConfiguration(dataDirectory: first.url).keystoreURL)
        let signer = DUISClient(baseURL: "", keystore: keystore)
        var requests: [(id: String, body: [UInt8])] = []
        for round in 0..<6 {
            for (user, meter) in suppliers {
                let xml = requestXML(originator: user, target: meter, counter: UInt64(round + 1), commandVariant: "1", srv: "4.1.1",
                                     body: "<sr:ReadInstantaneousImportRegisters/>")
                let body = try signer.sign(xml, counter: nil)
                requests.append((try ServiceRequestDocument(try XMLDocument.parse(body)).header.requestID.description, body))
            }
        }
        let all = requests
        // The real WAN's delays (seconds per round trip), so requests wait at the boundary.
        let options = ["--store", url, "--retry-initial", "0.1", "--retry-max", "0.5", "--wan-losses", "off"]
        let doomed = try await ServerProcess.start(["serve", "--data", first.url.path] + options)
        defer { if doomed.process.isRunning { doomed.kill() } }
        let survivor = try await ServerProcess.start(["serve", "--data", secondData.path] + options)
        defer { if survivor.process.isRunning { survivor.kill() } }
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: streams)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let clients = [DUISClient(baseURL: doomed.baseURL, keystore: keystore, http: http), DUISClient(baseURL: survivor.baseURL, keystore: keystore, http: http)]
        // Acknowledged requests, by the hub that acknowledged them (0: the one killed).
        let acknowledged = Mutex<[Set<String>]>([[], []])
        let killed = Flag()
        // Killed once it acknowledged this many: while its later ones still wait on the WAN.
        let killAfter = streams
        let outcomes = Mutex<[String: Int]>([:])
        let stream: @Sendable (Int) async -> Void = { stream in
            let hub = stream % 2
            var index = stream
            while index < all.count {
                if hub == 0 && killed.value { return }
                let request = all[index]
                let answer = try? await clients[hub].post(request.body, to: .sendCommand, timeout: 30)
                outcomes.withLock { $0[answer?.code ?? "no answer", default: 0] += 1 }
                if answer?.code == "I99" {
                    let count = acknowledged.withLock { sets -> Int in
                        sets[hub].insert(request.id)
                        return sets[0].count
                    }
                    if hub == 0, count == killAfter, !killed.exchange(true) { doomed.kill() }
                }
                index += streams
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<streams {
                group.addTask { await stream(index) }
            }
        }
        try await http.shutdown()
        #expect(killed.value, "the first hub was killed under load (answers: \(outcomes.withLock { $0 }))")
        let acked = acknowledged.withLock { $0 }
        let store = try await PostgresStore(url: url)
        // Every acknowledged request gets its outcome.
        let everyAcked = acked[0].union(acked[1])
        var unfinished = everyAcked
        let deadline = ContinuousClock.now + .seconds(150)
        while !unfinished.isEmpty, ContinuousClock.now < deadline {
            for id in unfinished where try await store.request(id: id).map({ RequestStatus.finished.contains($0.status) }) == true { unfinished.remove(id) }
            if !unfinished.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(unfinished.isEmpty, "acknowledged but never finished: \(unfinished.count), e.g. \(unfinished.sorted().prefix(3))")
        let lost = try await everyAcked.asyncFilter { try await store.request(id: $0) == nil }
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(3))")

        // What the dead hub left at the device boundary was taken over by the survivor: a
        // request's holder is the hub that put it there (the survivor's own requests name
        // it), until another takes it over.
        let survivorsOwn = try #require(acked[1].first)
        let survivorInstance = try #require(try await store.request(id: survivorsOwn)?.holder)
        var leftOver = 0
        for id in acked[0] where try await store.request(id: id)?.holder == survivorInstance { leftOver += 1 }
        #expect(leftOver > 0, "requests were waiting at the dead hub's device boundary")

        // Each answered once, by one hub.
        receiver.refuse(false)
        let answersDeadline = ContinuousClock.now + .seconds(60)
        var answered: [String: Int] = [:]
        while ContinuousClock.now < answersDeadline {
            answered = [:]
            for message in receiver.messages {
                if let id = try? DUISMessage(message.body).requestID, everyAcked.contains(id) { answered[id, default: 0] += 1 }
            }
            if answered.count == everyAcked.count { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(1))
        answered = [:]
        for message in receiver.messages {
            if let id = try? DUISMessage(message.body).requestID, everyAcked.contains(id) { answered[id, default: 0] += 1 }
        }
        #expect(answered.count == everyAcked.count, "\(everyAcked.count - answered.count) acknowledged request(s) never answered")
        let twice = answered.filter { $0.value > 1 }
        #expect(twice.isEmpty, "answered more than once: \(twice.keys.sorted().prefix(3))")
        let messages = receiver.messages
        #expect(Set(messages.compactMap(\.messageID)).count == messages.count, "no message delivered twice")

        // A resend of any acknowledged request, to the survivor, is a replay.
        let again = DUISClient(baseURL: survivor.baseURL, keystore: keystore)
        var replays = 0
        for request in all where everyAcked.contains(request.id) {
            let answer = try await again.post(request.body, to: .sendCommand)
            #expect(answer.code == "E1", "\(request.id) answered again: \(answer.code ?? "?")")
            if answer.code == "E1" { replays += 1 }
        }
        #expect(survivor.terminate() == 0, "graceful shutdown on SIGTERM")
        let verdict = try await store.verifyAudit()
        #expect(verdict.isIntact, "\(verdict.problems)")
        print("two hubs, one PostgreSQL: \(all.count) signed requests over \(streams) streams; \(acked[0].count) acknowledged (I99) by the hub killed with SIGKILL, "
              + "\(acked[1].count) by the other (answers: \(outcomes.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); \(leftOver) waiting at the dead hub's device boundary, taken over and finished by the survivor; "
              + "\(everyAcked.count - unfinished.count) of \(everyAcked.count) acknowledged finished, \(lost.count) lost; \(answered.count) answered, "
              + "\(twice.count) twice; \(replays) resent and refused as replays; audit chain of \(verdict.entries) entries intact: \(verdict.isIntact)")
        await receiver.stop()
    }
}

extension Set {
    fileprivate func asyncFilter(_ isIncluded: (Element) async throws -> Bool) async rethrows -> [Element] {
        var result: [Element] = []
        for element in self where try await isIncluded(element) { result.append(element) }
        return result
    }
}
