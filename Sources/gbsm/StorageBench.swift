import ArgumentParser
import DUIS
import Foundation
import Storage

struct StorageBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Time the hub's durable write path: what one acknowledged request commits (request, counter, three audit entries), in group-commit batches.")

    @Option(help: "Requests to commit.")
    var requests: Int = 50_000

    @Option(help: "Requests per transaction (what group commit gathers; the DUIS benchmark sees about 20).")
    var batch: Int = 20

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-storage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("hub.sqlite").path)
        let raw = [UInt8](repeating: UInt8(ascii: "x"), count: 1450)
        let user = EUI64(0x90B3_D51F_3001_0000)
        let meter = EUI64(0x00DB_1234_5678_90A0)
        func mutations(_ index: Int) -> [Mutation] {
            let id = "\(user):\(meter):\(index)"
            let now = Timestamp.now()
            return [
                .setCounter(originator: user, counter: UInt64(index)),
                .insertRequest(StoredRequest(requestID: id, originator: user, target: meter, counter: UInt64(index), srv: "4.1.1", commandVariant: 1,
                                             receivedAt: now, executeAt: nil, status: .awaitingDevice, code: "I99", raw: raw)),
                .audit(AuditEvent(at: now, kind: .request, actor: user, device: meter, srv: "4.1.1", requestID: id,
                                  detail: "Send Command Service, command variant 1, Read Instantaneous Import Registers, 1450 octets, SHA-256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, signature verified")),
                .audit(AuditEvent(at: now, kind: .decision, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I99",
                                  detail: "[access-control] IS: registered for 1312345678111 at 2026-11-23T05:57:57.730Z; stored at the device boundary, awaiting delivery to the device")),
                .audit(AuditEvent(at: now, kind: .response, actor: user, device: meter, srv: "4.1.1", requestID: id, code: "I99", detail: "synchronous acknowledgement")),
            ]
        }
        let started = ContinuousClock.now
        var index = 0
        while index < requests {
            var batchMutations: [Mutation] = []
            for offset in 0..<min(batch, requests - index) { batchMutations += mutations(index + offset) }
            try await store.apply(batchMutations)
            index += batch
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "gbsm bench storage: %d requests in transactions of %d: %.1f µs per request, %.0f requests/s on one writer",
                     requests, batch, seconds / Double(requests) * 1e6, Double(requests) / seconds))
        print("  audit intact: \(try await store.verifyAudit().isIntact)")
    }
}
