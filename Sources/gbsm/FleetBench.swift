import ArgumentParser
import AsyncHTTPClient
import Crypto
import Devices
import Dispatch
import DUIS
import Foundation
import Homes
import Hub
import Hummingbird
import Logging
import NIOCore
import SMKI
import Server
import ServiceLifecycle
import Storage
import Synchronization
import WAN

/// `gbsm bench fleet`: the emulated homes' three costs, each printed beside a bound
/// measured in the same run on the same machine.
///
/// 1. Building a fleet: premises per second and bytes per premises, against writing the
///    same bytes with one pseudo-random draw per 8 bytes (the least a generator must do).
/// 2. Half-hourly readings: generated per second on one core, against one pseudo-random
///    draw per reading on one core.
/// 3. Device requests through the hub and the WAN (delays off): signed 4.1.1 requests from
///    the fleet's suppliers, each answered I99 and then by the device with a signed
///    asynchronous response POSTed back; requests/s and p99 from sending to the device's
///    answer, against the ECDSA bound (one verify and two signs per request).
struct FleetBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Fleet creation, half-hourly reading generation and device requests through hub + WAN, each against a bound measured in the same run.")

    @Option(help: "Premises in the fleet that is built and measured.")
    var premises: Int = 1_000_000

    @Option(help: "Seed of the fleets.")
    var seed: UInt64 = 1

    @Option(name: .customLong("reading-premises"), help: "Premises whose half-hourly readings are generated (spread over the fleet).")
    var readingPremises: Int = 1_000

    @Option(help: "Days of readings generated for each of them.")
    var days: Int = 14

    @Option(help: "Device requests to time (after a warm-up of one per user).")
    var requests: Int = 5_000

    @Option(help: "Suppliers sending at once, each with one request in flight until its device has answered.")
    var concurrency: Int = 64

    @Option(name: .customLong("hub-premises"), help: "Premises in the fleet behind the benchmark hub.")
    var hubPremises: Int = 20_000

    @Flag(help: "Skip the device-request part.")
    var noRequests = false

    func validate() throws {
        guard premises > 0, readingPremises > 0, days > 0, requests > 0, concurrency > 0, hubPremises >= concurrency else {
            throw ValidationError("counts must be positive, and --hub-premises at least --concurrency")
        }
    }

    func run() async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #if DEBUG
        print("note: this is a debug build; measure with `swift run -c release gbsm bench fleet`")
        #endif
        let today = Timestamp.now().day.number

        // 1. Build.
        print("building a fleet of \(premises) premises…")
        let spec = FleetSpec(seed: seed, premises: premises, createdDay: today)
        let buildStart = ContinuousClock.now
        let fleet = Fleet.build(spec)
        let buildSeconds = seconds(ContinuousClock.now - buildStart)
        let bytes = fleet.memoryBytes
        let fill = fillBound(bytes: bytes, cores: cores)

        // 2. Readings on one core.
        print("generating \(days) days of readings for \(readingPremises) premises on one core…")
        let engine = MeterEngine(capacity: 16)
        let state = PremisesState()
        let step = max(1, fleet.count / readingPremises)
        let sampled = Swift.min(readingPremises, fleet.count)
        let readingStart = ContinuousClock.now
        for sample in 0..<sampled {
            let model = PremisesModel(fleet: fleet, index: (sample * step) % fleet.count)
            for offset in 0..<days {
                _ = engine.readings(model, state, day: today - Int32(days) + Int32(offset))
            }
        }
        let readingSeconds = seconds(ContinuousClock.now - readingStart)
        let premisesDays = Double(sampled * days)
        let importReadings = premisesDays * 48
        let drawBound = drawsPerSecond()

        // 3. Device requests.
        var requestFigures: RequestFigures?
        if !noRequests {
            requestFigures = try await deviceRequests(today: today)
        }

        print("")
        print("gbsm bench fleet: \(cores) cores")
        print(String(format: "  fleet build     %d premises in %.2f s: %.0f premises/s on %d cores", premises, buildSeconds, Double(premises) / buildSeconds, cores))
        print(String(format: "  fleet memory    %d bytes: %.2f bytes per premises (%.1f GB for 40 million)", bytes, Double(bytes) / Double(premises),
                     Double(bytes) / Double(premises) * 40e6 / 1e9))
        print(String(format: "  build bound     writing the same bytes with one random draw per 8 bytes: %.3f s on %d cores; ratio %.4f",
                     fill, cores, fill / buildSeconds))
        print(String(format: "  readings        %.0f premises-days in %.2f s on one core: %.0f half-hourly import readings/s per core "
                     + "(%.0f values/s with export, reactive import and export, voltage and gas)", premisesDays, readingSeconds, importReadings / readingSeconds,
                     importReadings * 6 / readingSeconds))
        print(String(format: "  reading bound   one random draw per reading: %.0f draws/s per core; ratio %.5f", drawBound, importReadings / readingSeconds / drawBound))
        print(String(format: "  national day    %.1f core-hours to generate one day of readings for 40 million premises", 40e6 * readingSeconds / premisesDays / 3600))
        if let figures = requestFigures {
            print(String(format: "  device requests %d signed 4.1.1 requests from %d suppliers through hub + WAN (delays off), %d premises: %.0f requests/s",
                         figures.count, concurrency, hubPremises, figures.rate))
            print(String(format: "  latency         acknowledgement (I99) p50 %.1f ms p99 %.1f ms; device answer received p50 %.1f ms p99 %.1f ms",
                         figures.ackP50, figures.ackP99, figures.endP50, figures.endP99))
            print(String(format: "  of which        from the hub signing the answer to its arrival (outbox and POST): p50 %.1f ms p99 %.1f ms",
                         figures.deliveryP50, figures.deliveryP99))
            print("  answers         " + figures.codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            print(String(format: "  crypto bound    %.0f requests/s on %d cores (one verify + two signs per request: %.1f µs + 2 × %.1f µs); ratio %.3f",
                         figures.bound, cores, figures.verify * 1e6, figures.sign * 1e6, figures.rate / figures.bound))
        }
    }

    // MARK: - Bounds

    /// Seconds to write `bytes` bytes, one SplitMix64 draw per 8 bytes, split over the cores.
    func fillBound(bytes: Int, cores: Int) -> Double {
        let words = bytes / 8 + 1
        let buffer = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: words)
        defer { buffer.deallocate() }
        let chunk = (words + cores - 1) / cores
        let address = Int(bitPattern: buffer.baseAddress)
        let total = words
        let start = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: cores) { part in
            guard let words = UnsafeMutablePointer<UInt64>(bitPattern: address) else { return }
            var state = UInt64(part) &* 0x9E37_79B9_7F4A_7C15
            let end = Swift.min(total, (part + 1) * chunk)
            var index = part * chunk
            while index < end {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                words[index] = z ^ (z >> 31)
                index += 1
            }
        }
        let elapsed = seconds(ContinuousClock.now - start)
        // Read the buffer back so the writes cannot be optimised away.
        var sum: UInt64 = 0
        for index in stride(from: 0, to: words, by: 4096) { sum &+= buffer[index] }
        return sum == 1 ? elapsed + 1e-12 : elapsed
    }

    /// SplitMix64 draws turned into a Double and summed, per second on one core.
    func drawsPerSecond() -> Double {
        var state: UInt64 = 0x1234_5678
        var total = 0.0
        var draws = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .milliseconds(500) {
            for _ in 0..<100_000 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                total += Double((z ^ (z >> 31)) >> 11) * 0x1.0p-53
            }
            draws += 100_000
        }
        let elapsed = seconds(ContinuousClock.now - start)
        return total < 0 ? 0 : Double(draws) / elapsed
    }

    // MARK: - Device requests

    struct RequestFigures {
        var count: Int
        var rate: Double
        var ackP50: Double
        var ackP99: Double
        var endP50: Double
        var endP99: Double
        var deliveryP50: Double
        var deliveryP99: Double
        var codes: [String: Int]
        var bound: Double
        var verify: Double
        var sign: Double
    }

    func deviceRequests(today: Int32) async throws -> RequestFigures {
        var logger = Logger(label: "gbsm.bench")
        logger.logLevel = .warning
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-bench-fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }

        // The users' response endpoint, in this process.
        let board = ArrivalBoard()
        let receiver = try await startReceiver(board: board, logger: logger)

        print("provisioning a hub with a fleet of \(hubPremises) premises and \(concurrency) suppliers…")
        try await Provisioning.provision(dataDirectory: directory, keystoreFile: nil, responseURL: nil)
        let spec = FleetSpec(seed: seed, premises: hubPremises, createdDay: today, supplierShares: [Double](repeating: 1, count: concurrency))
        let fleet = Fleet.build(spec)
        try fleet.write(to: HubConfiguration.fleetURL(directory))
        _ = try await Provisioning.registerFleet(dataDirectory: directory, fleet: fleet, responseURL: receiver.url)
        let configuration = HubConfiguration(dataDirectory: directory, anomalyDefaultLimit: Int.max / 2)
        let server = try await DUISBench.BenchServer.start(configuration: configuration, homes: HomesSettings(wan: WANSettings(speedUp: 1, delays: false, losses: false), events: .quiet),
                                                           separateProcess: false, logger: logger)
        let url = "http://127.0.0.1:\(server.port)" + DUISService.sendCommand.path

        // Each supplier's premises (installed by now), and its key.
        let keystore = try Keystore.load(from: configuration.keystoreURL)
        var meters = [[EUI64]](repeating: [], count: concurrency)
        for index in 0..<fleet.count {
            let premises = fleet.premises(index)
            guard premises.traits.installedOn < today else { continue }
            meters[Int(premises.traits.supplier) % concurrency].append(premises.eui(.esme))
        }
        let perUser = requests / concurrency + 1
        print("signing \(perUser * concurrency) requests…")
        let base = Timestamp.now().millisecondCounter
        var streams: [[(body: [UInt8], responseID: String)]] = []
        for user in 0..<concurrency {
            let supplier = FleetSpec.partyEUI(.supplier, user)
            guard let entry = keystore.xmlSigningEntry(for: supplier), let key = entry.signingKey else { throw ValidationError("no key for \(supplier)") }
            guard !meters[user].isEmpty else { throw ValidationError("supplier \(supplier) has no premises: use more --hub-premises") }
            var stream: [(body: [UInt8], responseID: String)] = []
            for index in 0..<perUser {
                let meter = meters[user][index % meters[user].count]
                let requestID = RequestID(originator: supplier, target: meter, counter: base + UInt64(index))
                let xml = """
                <?xml version="1.0" encoding="UTF-8"?><sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"><sr:Header><sr:RequestID>\(requestID)</sr:RequestID><sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>4.1</sr:ServiceReference><sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant></sr:Header><sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body></sr:Request>
                """
                stream.append((try XMLSigner.sign(try XMLDocument.parse(xml), key: key, signer: entry.certificate.signerReference), requestID.responseID))
            }
            streams.append(stream)
        }
        let crypto = DUISBench().measureCrypto()

        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)

        // The first request of each user warms up; the rest are timed.
        print("timing \((perUser - 1) * concurrency) device requests, \(concurrency) in flight…")
        let timedStart = FirstMark()
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: StreamResult.self) { group in
            for stream in streams {
                group.addTask {
                    var local = StreamResult()
                    for (index, request) in stream.enumerated() {
                        if index == 1 { timedStart.mark() }
                        let sent = ContinuousClock.now
                        let waiter = board.expect(request.responseID)
                        var http = HTTPClientRequest(url: url)
                        http.method = .POST
                        http.headers.add(name: "Content-Type", value: "application/xml")
                        http.body = .bytes(ByteBuffer(bytes: request.body))
                        do {
                            let response = try await client.execute(http, timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            let acked = ContinuousClock.now
                            let code = response.headers.first(name: "X-DUIS-Response-Code") ?? "HTTP \(response.status.code)"
                            guard code == "I99" else {
                                board.forget(request.responseID)
                                local.codes["sync " + code, default: 0] += 1
                                continue
                            }
                            let answer = await waiter.value(timeout: .seconds(60))
                            if index > 0 {
                                local.ack.append(seconds(acked - sent))
                                if let answer {
                                    local.end.append(seconds(answer.at - sent))
                                    if let delivery = answer.deliveryMilliseconds { local.delivery.append(Double(delivery) / 1000) }
                                    local.codes[answer.code, default: 0] += 1
                                } else {
                                    local.codes["no answer", default: 0] += 1
                                }
                            }
                        } catch {
                            board.forget(request.responseID)
                            local.codes["transport error", default: 0] += 1
                        }
                    }
                    local.finished = ContinuousClock.now
                    return local
                }
            }
            var merged = StreamResult()
            for await part in group {
                merged.ack += part.ack
                merged.end += part.end
                merged.delivery += part.delivery
                for (code, count) in part.codes { merged.codes[code, default: 0] += count }
                merged.finished = Swift.max(merged.finished, part.finished)
            }
            return merged
        }
        let elapsed = seconds(results.finished - (timedStart.instant ?? started))
        try await client.shutdown()
        await server.stop()
        await receiver.stop()

        let ack = results.ack.sorted(), end = results.end.sorted(), delivery = results.delivery.sorted()
        func percentile(_ values: [Double], _ p: Double) -> Double { values.isEmpty ? 0 : values[Swift.min(values.count - 1, Int(Double(values.count) * p))] * 1000 }
        let cryptoBound = Double(ProcessInfo.processInfo.activeProcessorCount) / (crypto.verifySeconds + 2 * crypto.signSeconds)
        return RequestFigures(count: end.count, rate: Double(end.count) / elapsed, ackP50: percentile(ack, 0.5), ackP99: percentile(ack, 0.99),
                              endP50: percentile(end, 0.5), endP99: percentile(end, 0.99),
                              deliveryP50: percentile(delivery, 0.5), deliveryP99: percentile(delivery, 0.99), codes: results.codes, bound: cryptoBound,
                              verify: crypto.verifySeconds, sign: crypto.signSeconds)
    }

    struct StreamResult: Sendable {
        var ack: [Double] = []
        var end: [Double] = []
        var delivery: [Double] = []
        var codes: [String: Int] = [:]
        var finished = ContinuousClock.now
    }

    struct Receiver: Sendable {
        let url: String
        let group: ServiceGroup
        let task: Task<Void, any Error>

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    /// A response endpoint that notes when each message arrived and with which code.
    func startReceiver(board: ArrivalBoard, logger: Logger) async throws -> Receiver {
        let router = Router()
        router.post("/responses") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 16 << 20)
            if let messageID = request.headers[.init("X-DUIS-Message-ID")!] {
                let bytes = Array(buffer.readableBytesView)
                board.arrived(messageID, code: Self.element("ResponseCode", in: bytes) ?? "?",
                              signedAt: Self.element("ResponseDateTime", in: bytes).flatMap { Timestamp(xsDateTime: $0) })
            }
            return Response(status: .ok)
        }
        let bound = Mutex<Int?>(nil)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in bound.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { try await group.run() }
        var port: Int?
        while port == nil {
            try await Task.sleep(for: .milliseconds(10))
            port = bound.withLock { $0 }
        }
        return Receiver(url: "http://127.0.0.1:\(port ?? 0)/responses", group: group, task: task)
    }

    /// An element's text, found by a byte search (the receiver must not compete with the
    /// hub for the CPU by parsing every message).
    static func element(_ name: String, in data: [UInt8]) -> String? {
        let marker = Array((name + ">").utf8)
        var index = 0
        while index + marker.count < data.count {
            if data[index] == marker[0], data[index..<(index + marker.count)].elementsEqual(marker), index > 0,
               data[index - 1] == UInt8(ascii: ":") || data[index - 1] == UInt8(ascii: "<") {
                var end = index + marker.count
                while end < data.count, data[end] != UInt8(ascii: "<") { end += 1 }
                return String(decoding: data[(index + marker.count)..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }
}

/// Arrivals at the response endpoint, matched to the requests waiting for them.
final class ArrivalBoard: Sendable {
    struct Arrival: Sendable {
        var at: ContinuousClock.Instant
        var code: String
        /// Milliseconds from the response's ResponseDateTime (when the hub signed it) to its arrival.
        var deliveryMilliseconds: Int64?
    }

    final class Waiter: Sendable {
        private let state = Mutex<(arrival: Arrival?, continuation: CheckedContinuation<Arrival?, Never>?)>((nil, nil))

        func deliver(_ arrival: Arrival?) {
            let continuation = state.withLock { state -> CheckedContinuation<Arrival?, Never>? in
                if state.arrival == nil { state.arrival = arrival }
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(returning: arrival)
        }

        func value(timeout: Duration) async -> Arrival? {
            let timer = Task {
                try await Task.sleep(for: timeout)
                deliver(nil)
            }
            defer { timer.cancel() }
            return await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Arrival?? in
                    if let arrival = state.arrival { return .some(arrival) }
                    state.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    private let waiters = Mutex<[String: Waiter]>([:])

    func expect(_ messageID: String) -> Waiter {
        let waiter = Waiter()
        waiters.withLock { $0[messageID] = waiter }
        return waiter
    }

    func forget(_ messageID: String) { _ = waiters.withLock { $0.removeValue(forKey: messageID) } }

    func arrived(_ messageID: String, code: String, signedAt: Timestamp?) {
        let arrival = Arrival(at: .now, code: code, deliveryMilliseconds: signedAt.map { Timestamp.now().milliseconds - $0.milliseconds })
        waiters.withLock { $0.removeValue(forKey: messageID) }?.deliver(arrival)
    }
}

/// The first time something happened, from whichever task got there first.
final class FirstMark: Sendable {
    private let state = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { state.withLock { if $0 == nil { $0 = .now } } }
    var instant: ContinuousClock.Instant? { state.withLock { $0 } }
}
