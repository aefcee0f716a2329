import ArgumentParser
import AsyncHTTPClient
import Crypto
import DUIS
import Foundation
import GBCS
import Glibc
import Homes
import Hub
import Logging
import NIOCore
import SMKI
import Server
import ServiceLifecycle
import Storage
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks that print their figures beside a bound measured in the same run.",
                                                    subcommands: [DUISBench.self, StorageBench.self, FleetBench.self, GBCSBench.self, PlansBench.self])
}

struct DUISBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duis",
        abstract: "Drive signed DUIS requests end to end over loopback: requests/s, p50 and p99 latency, against the ECDSA bound (one verify plus one sign per request).")

    @Option(help: "Requests to time.")
    var requests: Int = 20_000

    @Option(help: "Requests in flight at once.")
    var concurrency: Int = 64

    @Option(help: "Untimed requests first.")
    var warmup: Int = 2_000

    @Option(help: "device (4.1.1, acknowledged I99 and stored), non-device (8.2 Read Inventory, answered I0) or mixed.")
    var mix: String = "device"

    @Option(help: "Data folder for the benchmark hub (default: a temporary one, removed afterwards).")
    var data: String?

    @Option(name: .customLong("store"),
            help: "A PostgreSQL server whose user may create databases (postgres://USER@HOST:PORT/DB): the hub runs on a fresh database there instead of SQLite.")
    var store: StoreURL?

    @Flag(name: .customLong("separate-process"), help: "Run the hub as its own `gbsm serve` process and report its CPU time per request.")
    var separateProcess = false

    @Flag(name: .customLong("no-http"), help: "Call the gateway directly, without HTTP (measures the pipeline alone).")
    var noHTTP = false

    @Option(name: .customLong("hubs"), help: "`gbsm serve` processes sharing the --store database (each with a copy of the data folder); the users' streams are spread over them. More than 1 needs --store, and implies --separate-process.")
    var hubs: Int = 1

    func validate() throws {
        guard (1...16).contains(hubs) else { throw ValidationError("--hubs is 1 to 16") }
        if hubs > 1 && store == nil { throw ValidationError("--hubs \(hubs) needs --store: hubs share a PostgreSQL database, not a data folder's SQLite") }
        if hubs > 1 && noHTTP { throw ValidationError("--no-http calls one hub in this process; --hubs runs hub processes") }
        guard requests > 0, concurrency > 0, warmup >= 0 else { throw ValidationError("--requests and --concurrency are positive, --warmup not negative") }
    }

    @Option(name: .customLong("schemas"), help: "DCC's schema folder, as for serve (default: found beside the checkout); 'off' measures without schema validation.")
    var schemas: String?

    func run() async throws {
        guard ["device", "non-device", "mixed"].contains(mix) else { throw ValidationError("--mix is device, non-device or mixed") }
        var hubOptions = try HubOptions.parse([])
        hubOptions.schemas = schemas
        let loadedSchemas = try hubOptions.loadSchemas(required: false)
        print("DUIS schema validation: \(loadedSchemas.map { "on (\($0.directory.path))" } ?? "off")")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // openssl speed times with SIGALRM: run it before the server's threads exist.
        let openssl = opensslSpeed()
        #if DEBUG
        print("note: this is a debug build; measure with `swift run -c release gbsm bench duis`")
        #endif
        let directory = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-bench-\(UUID().uuidString)")
        defer { if data == nil { try? FileManager.default.removeItem(at: directory) } }
        if let store {
            // A fresh database, named for everything this run starts (the child hub included).
            let url = try await store.freshDatabase(prefix: "gbsm_bench_")
            setenv(StoreLocation.environmentVariable, url, 1)
        }
        print("store: \(HubConfiguration(dataDirectory: directory).storeLocation)")
        try await Provisioning.provision(dataDirectory: directory, keystoreFile: nil, responseURL: nil)
        print("registering \(concurrency) benchmark users, each the supplier of its own premises…")
        let users = try await Provisioning.addSuppliers(dataDirectory: directory, count: concurrency)

        var logger = Logger(label: "gbsm.bench")
        logger.logLevel = .warning
        var configuration = HubConfiguration(dataDirectory: directory, anomalyDefaultLimit: Int.max / 2)
        configuration.schemas = loadedSchemas
        // Every hub after the first runs on a copy of the data folder (the same keys; the
        // state is the shared database's).
        var servers: [BenchServer] = []
        var copies: [URL] = []
        defer { for copy in copies { try? FileManager.default.removeItem(at: copy) } }
        for index in 0..<hubs {
            var hubConfiguration = configuration
            if index > 0 {
                let copy = directory.deletingLastPathComponent().appendingPathComponent(directory.lastPathComponent + "-hub\(index + 1)")
                try? FileManager.default.removeItem(at: copy)
                try FileManager.default.copyItem(at: directory, to: copy)
                copies.append(copy)
                hubConfiguration.dataDirectory = copy
            }
            servers.append(try await BenchServer.start(configuration: hubConfiguration, separateProcess: separateProcess || hubs > 1, logger: logger))
        }
        let server = servers[0]
        let urls = servers.map { "http://127.0.0.1:\($0.port)" }

        // Sign every request up front, as the users' systems would before sending.
        let keystore = try Keystore.load(from: configuration.keystoreURL)
        let total = warmup + requests
        print("signing \(total) requests (\(mix))…")
        let signed = try presign(count: total, users: users, keystore: keystore)

        // The bound: one ECDSA P-256 verify plus one sign per request, on every core.
        let crypto = measureCrypto()
        // What DCC's schema costs a request: parse plus validation, against the parse alone.
        let schemaCost = loadedSchemas.map { measureSchemaValidation($0, requests: signed) }
        let boundPerCore = 1 / (crypto.verifySeconds + crypto.signSeconds)
        let boundAll = boundPerCore * Double(cores)

        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let mix = self.mix
        let service: @Sendable (Int) -> DUISService = { index in
            switch mix {
            case "device": return .sendCommand
            case "non-device": return .nonDevice
            default: return index % 2 == 0 ? .sendCommand : .nonDevice
            }
        }
        let timed = (requests / concurrency) * concurrency

        let gateway = noHTTP ? server.hub?.gateway : nil
        if noHTTP && gateway == nil { throw ValidationError("--no-http needs the hub in this process") }
        print("warming up with \(warmup) requests…")
        _ = try await drive(client: client, gateway: gateway, urls: urls, streams: signed.map { Array($0.prefix(warmup / concurrency)) }, service: service)
        // Opened before the window, so that its own writes (none: it only reads) are not
        // the hub's in the in-process mode.
        let measuredStore = try await configuration.storeLocation.open()
        let storeBefore = try await measuredStore.databaseBytes()
        let walBefore = try await (measuredStore as? PostgresStore)?.walBytes()
        let cpuBefore = BenchServer.total(servers.map { $0.cpuSeconds() })
        let diskBefore = BenchServer.total(servers.map { $0.diskWrites() })
        let commitBefore = server.commitStatistics()
        print("timing \(requests) requests, \(concurrency) in flight…")
        let started = ContinuousClock.now
        let result = try await drive(client: client, gateway: gateway, urls: urls, streams: signed.map { Array($0.dropFirst(warmup / concurrency)) }, service: service)
        let elapsed = ContinuousClock.now - started
        let cpuAfter = BenchServer.total(servers.map { $0.cpuSeconds() })
        let diskAfter = BenchServer.total(servers.map { $0.diskWrites() })
        let storeAfter = try await measuredStore.databaseBytes()
        let walAfter = try await (measuredStore as? PostgresStore)?.walBytes()
        let commitAfter = server.commitStatistics()
        try await client.shutdown()

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(timed) / seconds
        let latencies = result.latencies.sorted()
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        for server in servers { await server.stop() }
        let stored = try await configuration.storeLocation.open().requestCount(status: nil)

        print("")
        print("gbsm bench duis: \(timed) signed \(mix) requests from \(concurrency) users (one in flight each), \(cores) cores, "
              + (noHTTP ? "gateway called directly (no HTTP)" : hubs > 1 ? "\(hubs) hub processes sharing the store, the users spread over them"
                  : separateProcess ? "hub in its own process" : "server and client in one process"))
        print(String(format: "  throughput      %8.0f requests/s", rate))
        print(String(format: "  latency         p50 %.2f ms   p99 %.2f ms   p99.9 %.2f ms", percentile(0.50), percentile(0.99), percentile(0.999)))
        print("  answers         " + result.codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        if let before = commitBefore, let after = commitAfter {
            let transactions = after.transactions - before.transactions, callers = after.callers - before.callers
            print(String(format: "  group commit    %d transactions for %d callers (%.1f per transaction)",
                         transactions, callers, Double(callers) / Double(max(transactions, 1))))
        }
        print("  stored          \(stored) requests in the hub database")
        print(String(format: "  ECDSA P-256     verify %.1f µs, sign %.1f µs (swift-crypto, this run)", crypto.verifySeconds * 1e6, crypto.signSeconds * 1e6))
        if let schemaCost {
            print(String(format: "  DUIS schema     %.1f µs to validate a request (its parse alone %.1f µs): %.2f of one ECDSA verify (this run)",
                         schemaCost.validate * 1e6, schemaCost.parse * 1e6, schemaCost.validate / crypto.verifySeconds))
        }
        if let openssl {
            print(String(format: "  openssl speed   verify %.1f µs, sign %.1f µs (ecdsap256, this run)", 1e6 / openssl.verify, 1e6 / openssl.sign))
        }
        if mix != "non-device" {
            // A device request's command is MAC'd by DCC and checked by the device, and the
            // device's answer (4.1.1, ECS17b) is MAC'd for the user with its registers
            // encrypted: four key derivations and four GCM passes (three MACs, one block);
            // the ECDHs behind them are agreed once per pair of parties.
            let gbcs = measureGBCSCrypto()
            let perRequest = 4 * (gbcs.kdf + gbcs.gmac)
            print(String(format: "  GBCS crypto     ECDH %.1f µs (once per pair of parties, then kept), KDF %.2f µs, GMAC %.2f µs: %.1f µs per device request (the command's MAC and the device's check, the answer's MAC and encrypted registers; this run)",
                         gbcs.ecdh * 1e6, gbcs.kdf * 1e6, gbcs.gmac * 1e6, perRequest * 1e6))
            let bound = 1 / (crypto.verifySeconds + crypto.signSeconds + perRequest)
            print(String(format: "  with GBCS       %.0f requests/s per core, %.0f on %d cores (ECDSA verify + sign + the GBCS MACs); ratio %.3f",
                         bound, bound * Double(cores), cores, rate / (bound * Double(cores))))
        }
        print(String(format: "  crypto bound    %.0f requests/s per core, %.0f on %d cores (one verify + one sign per request)", boundPerCore, boundAll, cores))
        print(String(format: "  ratio           %.3f of the crypto bound (goal 3,000 requests/s; long-term goal 0.5)", rate / boundAll))
        if let before = cpuBefore, let after = cpuAfter {
            let perRequest = (after - before) / Double(timed)
            let whose = hubs > 1 ? " (the \(hubs) hub processes together)" : ""
            print(String(format: "  hub CPU         %.0f µs per request" + whose + " (%.0f%% of it ECDSA): %.0f requests/s if the hub had all %d cores",
                         perRequest * 1e6, 100 * (crypto.verifySeconds + crypto.signSeconds) / perRequest, Double(cores) / perRequest, cores))
        }
        if let before = walBefore, let after = walAfter {
            // The server writes the store: its write-ahead log is what the commits cost.
            let acknowledged = max((result.codes["I99"] ?? 0) + (result.codes["I0"] ?? 0), 1)
            let grown = Double(max(storeAfter - storeBefore, 0)) / Double(acknowledged)
            print(String(format: "  WAL written     %.1f KB per acknowledged request (the PostgreSQL server's pg_stat_wal; target 8 KB); the database grew %.1f KB per request",
                         Double(after - before) / Double(acknowledged) / 1000, grown / 1000))
            print("  note            the hub CPU above excludes the PostgreSQL server's own")
        } else if let before = diskBefore, let after = diskAfter {
            // What the hub's writes cost the disk per acknowledged request (the kernel's count
            // of bytes it dirtied for the storage layer), against what the store grew by: the
            // difference is indexes' page splits, the WAL's copies of pages, and rewrites.
            let acknowledged = max((result.codes["I99"] ?? 0) + (result.codes["I0"] ?? 0), 1)
            let written = Double(after - before) / Double(acknowledged)
            let grown = Double(max(storeAfter - storeBefore, 0)) / Double(acknowledged)
            print(String(format: "  disk written    %.1f KB per acknowledged request (target 8 KB); the store grew %.1f KB per request (%.1f× written to grown)",
                         written / 1000, grown / 1000, grown > 0 ? written / grown : 0))
        }
        if result.errors > 0 { print("  transport errors \(result.errors)") }
    }

    /// The hub under test: in this process, or a `gbsm serve` child process.
    final class BenchServer: Sendable {
        let port: Int
        let hub: Hub?
        let group: ServiceGroup?
        let task: Task<Void, any Error>?
        let process: Process?

        private init(port: Int, hub: Hub?, group: ServiceGroup?, task: Task<Void, any Error>?, process: Process?) {
            self.port = port
            self.hub = hub
            self.group = group
            self.task = task
            self.process = process
        }

        static func start(configuration: HubConfiguration, homes settings: HomesSettings = HomesSettings(), separateProcess: Bool,
                          logger: Logger) async throws -> BenchServer {
            if separateProcess {
                // The hub binds a port of the kernel's choosing (--port 0) and says which in
                // its banner: no port picked here can be taken by another process first.
                let process = Process()
                process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                process.arguments = ["serve", "--data", configuration.dataDirectory.path, "--port", "0", "--anomaly-limit", String(Int.max / 2),
                                     "--log-level", "warning", "--schemas", configuration.schemas?.directory.path ?? "off"]
                let output = Pipe()
                process.standardOutput = output
                // The port is read from the banner, whatever the hub logged before it.
                let banner = ServeBannerReader(following: output.fileHandleForReading)
                try process.run()
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                defer { _ = client.shutdown() }
                let deadline = ContinuousClock.now + .seconds(120)
                while ContinuousClock.now < deadline {
                    guard process.isRunning else {
                        output.fileHandleForReading.readabilityHandler = nil
                        throw ValidationError("the hub process exited (status \(process.terminationStatus)) before it served")
                    }
                    if let port = banner.port,
                       let response = try? await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(1)), response.status == .ok {
                        return BenchServer(port: port, hub: nil, group: nil, task: nil, process: process)
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                process.terminate()
                process.waitUntilExit()
                output.fileHandleForReading.readabilityHandler = nil
                throw ValidationError("the hub process did not serve within 120 s")
            }
            let (hub, homes) = try await EmulatedHomes.open(configuration, homes: settings, logger: logger)
            let bound = Mutex<Int?>(nil)
            let app = HubServer.application(hub: hub, homes: homes, configuration: ServerConfiguration(host: "127.0.0.1", port: 0), logger: logger) { port in
                bound.withLock { $0 = port }
            }
            let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
            let task = Task { try await group.run() }
            var port: Int?
            while port == nil {
                try await Task.sleep(for: .milliseconds(10))
                port = bound.withLock { $0 }
            }
            return BenchServer(port: port ?? 0, hub: hub, group: group, task: task, process: nil)
        }

        /// User plus system CPU time of the hub process (child mode only).
        func cpuSeconds() -> Double? {
            guard let process else { return nil }
            guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the command: state is field 3; utime and stime are fields 14 and 15.
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }

        /// The octets the hub process caused to be written to storage (`write_bytes` of
        /// /proc/PID/io, counted as pages are dirtied), this process's in-process.
        func diskWrites() -> Int64? {
            let path = process.map { "/proc/\($0.processIdentifier)/io" } ?? "/proc/self/io"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
                return Int64(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces))
            }
            return nil
        }

        /// The sum of the hubs' figures, or nil when one of them has none.
        static func total<T: AdditiveArithmetic>(_ figures: [T?]) -> T? {
            var sum = T.zero
            for figure in figures {
                guard let figure else { return nil }
                sum += figure
            }
            return sum
        }

        func commitStatistics() -> (transactions: Int, callers: Int)? {
            hub.map { $0.committer.statistics }
        }

        func stop() async {
            if let process {
                process.terminate()
                process.waitUntilExit()
            }
            if let group {
                await group.triggerGracefulShutdown()
                _ = try? await task?.value
            }
            await hub?.shutdown()
        }
    }

    struct DriveResult: Sendable {
        var latencies: [Double]
        var codes: [String: Int]
        var errors: Int
    }

    /// Each stream is one user's requests, sent one after another (its counters rise);
    /// the streams run concurrently.
    /// Stream `i` goes to `urls[i % urls.count]` (the hubs, when several share a store).
    func drive(client: HTTPClient, gateway: Gateway?, urls: [String], streams: [[[UInt8]]], service: @escaping @Sendable (Int) -> DUISService) async throws -> DriveResult {
        await withTaskGroup(of: DriveResult.self) { group in
            for (streamIndex, stream) in streams.enumerated() {
                let url = urls[streamIndex % urls.count]
                group.addTask {
                    var local = DriveResult(latencies: [], codes: [:], errors: 0)
                    local.latencies.reserveCapacity(stream.count)
                    for (index, body) in stream.enumerated() {
                        if let gateway {
                            let start = ContinuousClock.now
                            let answer = await gateway.handle(service: service(index), body: body)
                            let duration = ContinuousClock.now - start
                            local.latencies.append(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
                            local.codes[answer.code?.rawValue ?? "HTTP \(answer.status)", default: 0] += 1
                            continue
                        }
                        var request = HTTPClientRequest(url: url + service(index).path)
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/xml")
                        request.body = .bytes(ByteBuffer(bytes: body))
                        let start = ContinuousClock.now
                        do {
                            let response = try await client.execute(request, timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            let duration = ContinuousClock.now - start
                            local.latencies.append(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
                            let code = response.headers.first(name: "X-DUIS-Response-Code") ?? "HTTP \(response.status.code)"
                            local.codes[code, default: 0] += 1
                        } catch {
                            local.errors += 1
                        }
                    }
                    return local
                }
            }
            var merged = DriveResult(latencies: [], codes: [:], errors: 0)
            for await part in group {
                merged.latencies += part.latencies
                merged.errors += part.errors
                for (code, n) in part.codes { merged.codes[code, default: 0] += n }
            }
            return merged
        }
    }

    func presign(count: Int, users: [(user: EUI64, meter: EUI64)], keystore: Keystore) throws -> [[[UInt8]]] {
        let base = Timestamp.now().millisecondCounter
        let perUser = count / users.count
        var streams: [[[UInt8]]] = []
        for (user, meter) in users {
            guard let entry = keystore.xmlSigningEntry(for: user), let key = entry.signingKey else { throw ValidationError("no key for \(user)") }
            var stream: [[UInt8]] = []
            stream.reserveCapacity(perUser)
            for index in 0..<perUser {
                let nonDevice = mix == "non-device" || (mix == "mixed" && index % 2 == 1)
                let counter = base + UInt64(index)
                let xml: String
                if nonDevice {
                    xml = """
                    <?xml version="1.0" encoding="UTF-8"?><sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"><sr:Header><sr:RequestID>\(user):\(Provisioning.dccEUI):\(counter)</sr:RequestID><sr:CommandVariant>8</sr:CommandVariant><sr:ServiceReference>8.2</sr:ServiceReference><sr:ServiceReferenceVariant>8.2</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:ReadInventory><sr:DeviceID>\(meter)</sr:DeviceID></sr:ReadInventory></sr:Body></sr:Request>
                    """
                } else {
                    xml = """
                    <?xml version="1.0" encoding="UTF-8"?><sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"><sr:Header><sr:RequestID>\(user):\(meter):\(counter)</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>4.1</sr:ServiceReference><sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body></sr:Request>
                    """
                }
                stream.append(try XMLSigner.sign(try XMLDocument.parse(xml), key: key, signer: entry.certificate.signerReference))
            }
            streams.append(stream)
        }
        return streams
    }

    /// Times ECDSA P-256 verify and sign of a SignedInfo-sized message on one core.
    /// Seconds to parse one of the signed requests, and to parse and validate it against
    /// DUIS 5.4 (each timed over a second of repetitions).
    func measureSchemaValidation(_ schemas: DUISSchemas, requests: [[[UInt8]]]) -> (parse: Double, validate: Double) {
        let sample = requests.flatMap { $0 }.prefix(256)
        func time(_ body: ([UInt8]) -> Void) -> Double {
            var iterations = 0
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(1) {
                for request in sample { body(request) }
                iterations += sample.count
            }
            let elapsed = ContinuousClock.now - start
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / Double(max(iterations, 1))
        }
        let parse = time { _ = try? XMLDocument.parse($0, limits: .duis) }
        let validate = time { request in
            if let document = try? XMLDocument.parse(request, limits: .duis) { _ = schemas.validateDUIS(document) }
        }
        return (parse, validate)
    }

    func measureCrypto() -> (verifySeconds: Double, signSeconds: Double) {
        let key = P256.Signing.PrivateKey()
        let message = [UInt8](repeating: 0x41, count: 560)
        let signature = try? key.signature(for: message)
        var iterations = 0
        var start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(1) {
            for _ in 0..<50 { if let signature { _ = key.publicKey.isValidSignature(signature, for: message) } }
            iterations += 50
        }
        let verify = (ContinuousClock.now - start) / iterations
        iterations = 0
        start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(1) {
            for _ in 0..<50 { _ = try? key.signature(for: message) }
            iterations += 50
        }
        let sign = (ContinuousClock.now - start) / iterations
        func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
        return (seconds(verify), seconds(sign))
    }

    /// GBCS's suite-1 operations as a device request uses them: an ECDH shared secret, the
    /// key derivation from it, and the GMAC over a command's grouping header.
    func measureGBCSCrypto() -> (ecdh: Double, kdf: Double, gmac: Double) {
        let party = P256.KeyAgreement.PrivateKey(), device = P256.KeyAgreement.PrivateKey()
        func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
        func time(_ body: () -> Void) -> Double {
            var iterations = 0
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .milliseconds(500) {
                for _ in 0..<50 { body() }
                iterations += 50
            }
            return seconds((ContinuousClock.now - start) / iterations)
        }
        let secret = (try? party.sharedSecretFromKeyAgreement(with: device.publicKey)).map { $0.withUnsafeBytes { Array($0) } } ?? []
        let originator = EUI64(0x90B3_D51F_3000_0002), recipient = EUI64(0x00DB_1234_5678_90A0)
        let ecdh = time { _ = try? party.sharedSecretFromKeyAgreement(with: device.publicKey) }
        let kdf = time { _ = GBCSCrypto.deriveKey(secret: secret, originator: originator, usage: 1, counter: 1_000, recipient: recipient) }
        let key = GBCSCrypto.deriveKey(secret: secret, originator: originator, usage: 1, counter: 1_000, recipient: recipient)
        let header = [UInt8](repeating: 0xDF, count: 80)
        let gmac = time { _ = try? GBCSCrypto.mac(key: key, originator: originator, additionalData: header) }
        return (ecdh, kdf, gmac)
    }

    /// `openssl speed ecdsap256` as an independent reference, if openssl is installed.
    /// openssl times its runs with SIGALRM, so it is spawned with an empty signal mask
    /// and default handlers (a child otherwise inherits the threads' blocked signals).
    func opensslSpeed() -> (sign: Double, verify: Double)? {
        guard let path = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        guard let output = spawnCapturingOutput(path, ["speed", "-seconds", "2", "ecdsap256"]) else { return nil }
        // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  42000.0  14000.0"
        guard let line = output.split(separator: "\n").last(where: { $0.contains("nistp256") }) else { return nil }
        let numbers = line.split(separator: " ").compactMap { Double($0) }
        guard numbers.count >= 2 else { return nil }
        return (numbers[numbers.count - 2], numbers[numbers.count - 1])
    }
}

func spawnCapturingOutput(_ path: String, _ arguments: [String]) -> String? {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { return nil }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addclose(&actions, pipe[0])
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    close(pipe[1])
    guard spawned == 0 else {
        close(pipe[0])
        return nil
    }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(pipe[0], &buffer, buffer.count)
        if count <= 0 { break }
        data.append(contentsOf: buffer[0..<count])
    }
    close(pipe[0])
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return String(decoding: data, as: UTF8.self)
}
