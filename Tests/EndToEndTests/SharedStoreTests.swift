import DUIS
import Foundation
import Hub
import Storage
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
}
