import Foundation
import Server
import Storage
import Testing
import TestSupport

/// `gbsm bench duis --separate-process`, the benchmark the README's figures come from,
/// starts its own hub process on a port the kernel gives it (read from the hub's banner)
/// and every request it sends is answered. No timing is checked: only that it runs. The
/// benchmarks run one at a time (each starts hub processes), each on a thread of its own
/// (`Tool.run` awaited), so the in-process hubs of other suites are not held up.
@Suite(.serialized) struct BenchCommandTests {
    @Test func theDeviceMixRunsAgainstAHubInItsOwnProcess() async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let result = try await Tool.run(binary.path, ["bench", "duis", "--requests", "64", "--warmup", "0", "--mix", "device", "--separate-process"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hub in its own process"), "\(result.stdout)")
        let answers = try #require(result.stdout.split(separator: "\n").first { $0.contains("answers ") }, "\(result.stdout)")
        #expect(answers.hasSuffix("I99=64"), "every request accepted: \(answers)")
        #expect(result.stdout.contains("hub CPU"), "the hub's CPU per request is read from its own process")
        #expect(result.stdout.contains("disk written"), "the octets the hub wrote per request, from its own process")
    }

    /// `--hubs 2 --store URL`: two hub processes share a fresh database, the users spread
    /// over them, every request accepted once, and the CPU of both counted.
    @Test(.enabled(if: StoreBackend.serverURL != nil, "needs a PostgreSQL server: set GBSM_TEST_POSTGRES"))
    func twoHubProcessesShareOneDatabase() async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let server = try #require(StoreBackend.serverURL)
        let result = try await Tool.run(binary.path, ["bench", "duis", "--requests", "64", "--warmup", "0", "--mix", "device", "--hubs", "2", "--store", server])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("2 hub processes sharing the store"), "\(result.stdout)")
        let answers = try #require(result.stdout.split(separator: "\n").first { $0.contains("answers ") }, "\(result.stdout)")
        #expect(answers.hasSuffix("I99=64"), "every request accepted: \(answers)")
        #expect(result.stdout.contains("the 2 hub processes together"), "\(result.stdout)")
        #expect(result.stdout.contains("stored          64 requests"), "\(result.stdout)")
        let refused = try await Tool.run(binary.path, ["bench", "duis", "--hubs", "2"])
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("needs --store"))
    }

    /// `gbsm bench storage` on an empty store and after a preload: both windows, their
    /// growth and the disk's bound are printed, and the audit chain it wrote verifies.
    @Test func theStorageBenchComparesAnEmptyStoreWithAPreloadedOne() async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let result = try await Tool.run(binary.path, ["bench", "storage", "--requests", "200", "--preload", "1000", "--users", "8"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for line in ["empty store", "after 1000 stored", "growth", "disk bound", "audit intact: true"] {
            #expect(result.stdout.contains(line), "\(line): \(result.stdout)")
        }
        let refused = try await Tool.run(binary.path, ["bench", "storage", "--requests", "0"])
        #expect(refused.status != 0)
        // The same on PostgreSQL: the server's WAL is what the commits wrote.
        if let server = StoreBackend.serverURL {
            let postgres = try await Tool.run(binary.path, ["bench", "storage", "--requests", "200", "--preload", "1000", "--users", "8", "--store", server])
            #expect(postgres.status == 0, "\(postgres.stdout)\(postgres.stderr)")
            for line in ["PostgreSQL, synchronous_commit on", "empty store", "after 1000 stored", "KB written", "audit intact: true"] {
                #expect(postgres.stdout.contains(line), "\(line): \(postgres.stdout)")
            }
        }
    }

    /// `gbsm bench plans` on each backend: a small fleet's day taken in and aggregated by a
    /// plan, and every published profile checked against DuckDB's sums of the same rows
    /// (the command fails if one disagrees).
    @Test(.enabled(if: duckDBAvailable, "needs Python's duckdb (pip install duckdb)"), arguments: StoreBackend.available)
    func thePlansBenchAgreesWithDuckDB(_ backend: StoreBackend) async throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        var arguments = ["bench", "plans", "--homes", "600"]
        if backend == .postgres { arguments += ["--store", try #require(StoreBackend.serverURL)] }
        let result = try await Tool.run(binary.path, arguments)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(backend == .postgres ? "gbsm (PostgreSQL)" : "gbsm (SQLite)"), "\(result.stdout)")
        let agreed = try #require(result.stdout.firstMatch(of: /the (\d+) published profiles agree with DuckDB/), "\(result.stdout)")
        #expect((Int(agreed.1) ?? 0) > 0, "some profiles published: \(result.stdout)")
        #expect(result.stdout.contains("0 raw readings left"), "\(result.stdout)")
    }

    /// The port a parent reads from `gbsm serve`'s output: whatever came before the banner,
    /// a read that ends inside the number, an IPv6 host, and the last banner of several.
    @Test func theBannerNamesThePort() {
        #expect(ServeBanner.port(in: ServeBanner.line(host: "127.0.0.1", port: 8443, data: "/d")) == 8443)
        #expect(ServeBanner.port(in: ServeBanner.line(host: "::1", port: 40001, data: "/d")) == 40001)
        #expect(ServeBanner.port(in: "gbsm hub listening on http://127.0.0.1:80") == nil, "the number may go on")
        #expect(ServeBanner.port(in: "a log line quoting gbsm hub listening on http://x:y\n" + ServeBanner.line(host: "0.0.0.0", port: 9, data: "/d")) == 9)
        #expect(ServeBanner.port(in: ServeBanner.line(host: "h", port: 0, data: "/d")) == nil, "not a port")
        var reader = ServeBanner()
        let text = Array(("warning: early\n" + ServeBanner.line(host: "127.0.0.1", port: 51234, data: "/tmp/x")).utf8)
        #expect(reader.read(text[..<(text.count - 22)]) == nil)
        #expect(reader.read(text[(text.count - 22)...]) == 51234)
    }
}

/// Whether Python's duckdb is installed (the plans bench's independent peer).
let duckDBAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import duckdb"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        FileHandle.standardError.write(Data("note: the plans bench's test is skipped: Python's duckdb is absent (pip install duckdb)\n".utf8))
    }
    return process.terminationStatus == 0
}()
