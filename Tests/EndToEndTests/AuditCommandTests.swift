import DUIS
import Foundation
import Hub
import Storage
import Testing
import TestSupport

/// `gbsm audit verify` and `gbsm audit list` on the data folder of a hub that served requests.
@Suite(.serialized) struct AuditCommandTests {
    @Test func verifyCatchesEditedAndDeletedEntries() async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        for _ in 0..<3 {
            #expect(try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand).code == "I99")
        }
        let refused = try await client.post(try client.sign(readRegisters(from: Provisioning.secondSupplier), counter: Counters.next()), to: .sendCommand)
        #expect(refused.code == "E4")
        await hub.stop()
        let data = hub.dataArguments

        let intact = try await Tool.run(binary.path, ["audit", "verify"] + data)
        #expect(intact.status == 0, "\(intact.stdout)\(intact.stderr)")
        #expect(intact.stdout.contains("intact"))

        // Filters: the second supplier's E4 decision, found by user and SRV.
        let listed = try await Tool.run(binary.path, ["audit", "list"] + data + ["--user", Provisioning.secondSupplier.description, "--srv", "4.1.1", "--kind", "decision", "--json"])
        #expect(listed.status == 0)
        let lines = listed.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("\"code\":\"E4\"") == true)
        #expect(lines.first?.contains("device-authorisation") == true)
        let byDevice = try await Tool.run(binary.path, ["audit", "list"] + data + ["--device", "00-DB-12-34-56-78-90-A0", "--kind", "response"])
        #expect(byDevice.stdout.split(separator: "\n").count == 5, "a header and four responses: \(byDevice.stdout)")
        let future = try await Tool.run(binary.path, ["audit", "list"] + data + ["--from", "2100-01-01"])
        #expect(future.stdout.split(separator: "\n").count == 1, "only the header")

        // An attacker rewrites a refusal as an acceptance.
        try await TestStore.tamper(hub.hub.store, "UPDATE audit SET code = 'I99' WHERE code = 'E4'")
        let edited = try await Tool.run(binary.path, ["audit", "verify"] + data)
        #expect(edited.status == 1)
        #expect(edited.stdout.contains("TAMPERED"))
        #expect(edited.stdout.contains("was altered"))
    }

    @Test func verifyCatchesDeletion() async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        for _ in 0..<3 {
            _ = try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand)
        }
        await hub.stop()
        let store = hub.hub.store
        let head = try await Tool.run(binary.path, ["audit", "verify"] + hub.dataArguments).stdout
            .firstMatch(of: /head (\d+:[0-9a-f]+)/).map { String($0.1) }
        try await TestStore.tamper(store, "DELETE FROM audit WHERE kind = 'decision' AND code = 'I99' AND seq = (SELECT MIN(seq) FROM audit WHERE code = 'I99' AND kind = 'decision')")
        let deleted = try await Tool.run(binary.path, ["audit", "verify"] + hub.dataArguments)
        #expect(deleted.status == 1)
        #expect(deleted.stdout.contains("missing"))
        // Removing entries from the end, head record included, is caught against a head kept elsewhere.
        try await TestStore.tamper(store, hub.storeURL == nil
            ? "DELETE FROM audit WHERE seq > 5; UPDATE meta SET value = (SELECT seq || ':' || lower(hex(hash)) FROM audit ORDER BY seq DESC LIMIT 1) WHERE key = 'audit_head'"
            : "DELETE FROM audit WHERE seq > 5; UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit), hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)")
        let truncated = try await Tool.run(binary.path, ["audit", "verify"] + hub.dataArguments + ["--expect-head", try #require(head)])
        #expect(truncated.status == 1)
        #expect(truncated.stdout.contains("expected head"))
    }
}
