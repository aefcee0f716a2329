/// A libFuzzer target for the whole hub with signed requests: every value of a request
/// body is hostile, even from a user holding a valid key (issue 8).
///
/// Each input picks a reference template (DCC Boxed's DUIS requests, from
/// `GBSM_REFERENCE/duis/templates`), mutates the values of its body guided by their DUIS
/// types (numbers to their bounds and past them, times and dates to the ends of the
/// calendar, EUIs, lists, lengths; elements repeated, dropped or added), signs it with its
/// originator's ZAZ1 key and hands it to an in-process hub: the gateway, DCC's non-device
/// services, the device boundary and the emulated devices. A critical template goes to the
/// Transform service; its pre-command comes back signed (sometimes altered, or signed by
/// another user) with command variant 5, 6 or 7, and runs on its device. A DCC schedule the request
/// creates has its next runs computed and one run carried out on the device with the
/// period its offsets give on its due day. A trap anywhere is a crash libFuzzer reports.
///
/// Fuzzing build (see .ci/run):
///   swift build --product HubFuzzer --scratch-path .build-fuzz-hub -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
///   GBSM_REFERENCE=../shared/reference .build-fuzz-hub/debug/HubFuzzer -runs=20000 -max_len=256
/// In a normal build the executable replays files given as arguments (crash inputs), or
/// runs `--iterations N` inputs from a seeded generator (`FuzzDriver`).
import Devices
import DUIS
import Foundation
import FuzzSupport
import GBCS
import Logging
import MMC
import SMKI
import Storage
import Homes
@testable import Hub

/// The hub the inputs are sent to, built once per process.
final class FuzzWorld: @unchecked Sendable {
    struct Template {
        var name: String
        var header: RequestHeader
        var body: ElementTree
        var service: DUISService
    }

    let hub: Hub
    let homes: EmulatedHomes
    let keystore: Keystore
    let templates: [Template]
    let directory: URL
    private var counter: UInt64
    /// The default premises' devices as provisioned, put back after each input so that one
    /// input decommissioning a meter does not make every later one an E5.
    private var pristine: [DeviceRecord] = []
    /// Outcomes so far, by synchronous response code (and device answers), for the summary.
    private(set) var outcomes: [String: Int] = [:]

    var summary: String { outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }

    static let shared: FuzzWorld = {
        do {
            return try blocking { try await FuzzWorld() }
        } catch {
            FileHandle.standardError.write(Data("HubFuzzer: could not start the hub: \(error)\n".utf8))
            exit(2)
        }
    }()

    init() async throws {
        // tmpfs when there is one: every accepted request is synced to disk.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        directory = base.appendingPathComponent("gbsm-hubfuzz-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        let reference = ProcessInfo.processInfo.environment["GBSM_REFERENCE"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: "../shared/reference")
        let keystoreFile = reference.appendingPathComponent("smki/zaz1-keystore.json")
        let zaz1 = FileManager.default.fileExists(atPath: keystoreFile.path)
        try await Provisioning.provision(dataDirectory: directory, keystoreFile: zaz1 ? keystoreFile : nil, responseURL: nil)
        // The default premises commissioned 40 days ago rather than in 2020: a meter's
        // registers are walked day by day from its commissioning whenever its state
        // changed, which in a debug build costs seconds for six years and milliseconds here.
        do {
            let store = try SQLiteStore(path: HubConfiguration(dataDirectory: directory).databasePath)
            let recent = Timestamp.now().adding(days: -40)
            var devices: [Mutation] = []
            for var device in try await store.devices() where device.premises == 1 {
                device.dateCommissioned = recent
                devices.append(.putDevice(device))
            }
            try await store.apply(devices)
        }
        var logger = Logger(label: "gbsm.fuzz")
        logger.logLevel = .critical
        let configuration = HubConfiguration(dataDirectory: directory, anomalyDefaultLimit: Int.max)
        let (hub, homes) = try await EmulatedHomes.open(configuration, homes: .quiet, logger: logger)
        self.hub = hub
        self.homes = homes
        keystore = try Keystore.load(from: configuration.keystoreURL)
        pristine = Provisioning.defaultDevices.compactMap { hub.inventory.device($0.eui) }
        counter = Timestamp.now().millisecondCounter

        var templates: [Template] = []
        let folder = reference.appendingPathComponent("duis/templates")
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path),
                  let request = try? ServiceRequestDocument(try XMLDocument.parse(Array(data), limits: .duis)),
                  let variant = request.header.commandVariant, variant.rawValue <= 4 || variant.rawValue == 8
            else { continue }
            templates.append(Template(name: name, header: request.header, body: request.body(), service: variant.service))
        }
        if templates.isEmpty {
            FileHandle.standardError.write(Data("HubFuzzer: no templates in \(folder.path) (set GBSM_REFERENCE): fuzzing built-in requests only\n".utf8))
            templates = Self.builtIn()
        }
        self.templates = templates
        FileHandle.standardError.write(Data("HubFuzzer: \(templates.count) templates, keys: \(zaz1 ? "ZAZ1" : "a generated test PKI"), data in \(directory.path)\n".utf8))
    }

    /// Requests of gbsm's own to fuzz when the reference templates are absent.
    static func builtIn() -> [Template] {
        let esme = Provisioning.defaultDevices[0].eui
        func template(_ srv: String, _ cv: String, target: EUI64, _ body: ElementTree) -> Template? {
            guard let variant = ServiceCatalogue.variant(text: srv), let commandVariant = CommandVariant(rawValue: Int(cv) ?? 0) else { return nil }
            return Template(name: srv, header: RequestHeader(schemaVersion: "5.4", requestID: RequestID(originator: Provisioning.supplier, target: target, counter: 1),
                                                             firstInSequence: nil, precedingRequestID: nil, commandVariantText: cv,
                                                             serviceReference: variant.serviceReference, variant: variant),
                            body: body, service: commandVariant.service)
        }
        let period = ElementTree(name: "ReadLogPeriod", children: [ElementTree(name: "StartDateTime", text: "2026-01-01T00:00:00Z"),
                                                                   ElementTree(name: "EndDateTime", text: "2026-01-02T00:00:00Z")])
        return [
            template("4.8.1", "1", target: esme, ElementTree(name: "ReadActiveImportProfileData", children: [period])),
            template("4.17", "1", target: esme, ElementTree(name: "RetrieveDailyConsumptionLog", children: [period])),
            template("5.1", "8", target: Provisioning.dccEUI, ElementTree(name: "CreateSchedule", children: [
                ElementTree(name: "ScheduleFrequency", text: "Daily"), ElementTree(name: "ScheduleStartDate", text: "2026-01-01"),
                ElementTree(name: "ScheduleExecutionStartTime", text: "07:00:00Z"), ElementTree(name: "DSPScheduledServiceReference", text: "4.17"),
                ElementTree(name: "DSPScheduledServiceReferenceVariant", text: "4.17"), ElementTree(name: "DeviceID", text: esme.description),
                ElementTree(name: "DSPRetrieveDailyConsumptionLog", children: [ElementTree(name: "StartDateOffset", text: "-1"),
                                                                               ElementTree(name: "EndDateOffset", text: "0")]),
            ])),
        ].compactMap { $0 }
    }

    func nextCounter() -> UInt64 {
        counter += 1
        return counter
    }

    /// One input: a template, mutated, signed and sent; its device work and schedule run.
    func run(_ input: [UInt8]) async {
        guard !templates.isEmpty else { return }
        var reader = ByteReader(input)
        let template = templates[Int(reader.next()) % templates.count]
        var body = template.body
        let count = 1 + Int(reader.next() % 4)
        for _ in 0..<count { Mutator.mutate(&body, &reader) }
        var header = template.header
        header.requestID.counter = nextCounter()
        // Defence in depth: the emulated device itself, given the mutated body directly, as
        // if the gateway's checks of the values had let it through.
        if !header.variant.isNonDevice { await runOnDevice(header: header, body: body) }
        guard let signed = sign(header: header, body: body) else { return }
        let answer = await hub.gateway.handle(service: template.service, body: signed)
        outcomes[answer.code?.rawValue ?? "HTTP \(answer.status)", default: 0] += 1
        let requestID = header.requestID.description
        if answer.code == .I99, !header.variant.isNonDevice {
            // The device boundary, now (a future-dated request is run as if it were due).
            for _ in 0..<3 where await hub.dispatcher.process(requestID) != nil {
                guard let stored = try? await hub.store.request(id: requestID), stored.status == .scheduled || stored.status == .awaitingDevice else { break }
                outcomes["device retry", default: 0] += 1
                if stored.executeAt.map({ $0 > Timestamp.now() }) ?? false {
                    try? await hub.store.apply([.setRequestStatus(requestID: requestID, status: .cancelled, code: nil)])
                    break
                }
            }
        }
        if answer.code == .I0, header.commandVariant == .criticalTransform {
            await sendSigned(answer.body, header: header, template: template, reader: &reader)
        }
        if answer.code == .I0, header.variant.srv == "5.1" { await runSchedules() }
        await restore()
    }

    /// A transform's pre-command, signed by its user (sometimes altered first, or signed
    /// by someone else), sent back with command variant 5, 6 or 7, and run on the device.
    func sendSigned(_ answer: [UInt8], header: RequestHeader, template: Template, reader: inout ByteReader) async {
        guard let document = try? XMLDocument.parse(answer, limits: .duis), let root = document.root,
              let text = ElementTree(root).descendant("Body", "ResponseMessage", "PreCommand")?.value("GBCSPayload"),
              let octets = Data(base64Encoded: text), var preCommand = try? GBCSFrame.decode([UInt8](octets))
        else { outcomes["transform answer unreadable", default: 0] += 1; return }
        let keys = ZAZ1KeyStore(keystore)
        var signer = header.requestID.originator
        switch reader.next() % 8 {
        case 0 where !preCommand.content.isEmpty:
            let index = Int(reader.next()) % preCommand.content.count
            preCommand.content[index] ^= max(1, reader.next())
        case 1: signer = keystore.entries.first { $0.eui != signer && $0.privateKeyPEM != nil }?.eui ?? signer
        default: break
        }
        guard let key = keys.signingKey(of: signer), let signed = try? preCommand.signed(with: key) else { return }
        let variant = reader.pick([CommandVariant.signedPreCommandWAN, .signedPreCommandLocal, .signedPreCommandWANAndLocal])
        var sendHeader = header
        sendHeader.commandVariantText = String(variant.rawValue)
        let body = ElementTree(name: "SignedPreCommand", namespace: DUISNamespace.serviceUserGateway,
                               children: [ElementTree(name: "GBCSPayload", namespace: DUISNamespace.serviceUserGateway,
                                                      text: Data(signed.encode()).base64EncodedString())])
        guard let request = sign(header: sendHeader, body: body) else { return }
        let sent = await hub.gateway.handle(service: variant.service, body: request)
        outcomes["send \(sent.code?.rawValue ?? "HTTP \(sent.status)")", default: 0] += 1
        if sent.code == .I99 {
            _ = await hub.dispatcher.process(header.requestID.description)
            outcomes["critical on device", default: 0] += 1
        }
    }

    /// Puts the default premises' devices back as they were provisioned.
    func restore() async {
        let changed = pristine.filter { hub.inventory.device($0.eui) != $0 }
        guard !changed.isEmpty else { return }
        let mutations = changed.map(Mutation.putDevice)
        if (try? await hub.store.apply(mutations)) != nil { hub.inventory.apply(mutations) }
    }

    /// Runs the command on its device without the gateway, on a copy of the premises'
    /// state (nothing is stored).
    func runOnDevice(header: RequestHeader, body: ElementTree) async {
        guard let device = hub.inventory.device(header.requestID.target), let premises = device.premises,
              let model = homes.premisesModel(premises), let state = try? await homes.premisesState(premises)
        else { return }
        var command = body
        if command.children.first?.name == "ExecutionDateTime" { command.children.removeFirst() }
        _ = CommandBodyRules.incoherence(srv: header.variant.srv, body: command)
        let emulator = DeviceEmulator(engine: homes.engine)
        let deviceCommand = DeviceCommand(srv: header.variant.srv, serviceReference: header.serviceReference, target: device.eui, targetType: device.type,
                                          originator: header.requestID.originator, originatorRoles: [.is, .gs, .ed, .gt, .ou], requestID: header.requestID.description,
                                          body: command)
        // At the time the hub would run it (a device's clock is the hub's; the meters' history
        // is walked up to it, so far-off times would cost a walk of millennia, not a trap).
        var copy = state
        let outcome = emulator.execute(deviceCommand, model: model, state: &copy, at: Timestamp.now())
        _ = MMCXMLCodec().encode(outcome.response)
        outcomes["direct to device", default: 0] += 1
    }

    /// Each active schedule: its next runs from now and from the ends of the calendar, and
    /// one run carried out on its device as the scheduler would at its due time; then it is
    /// deleted so that the world stays small.
    func runSchedules() async {
        for schedule in hub.schedules.allActive {
            for after in [Timestamp.now(), Timestamp(milliseconds: .min), Timestamp(milliseconds: .max), CalendarDay.last.start, CalendarDay.first.start] {
                _ = ScheduleRunner.nextRun(schedule, after: after)
            }
            if ScheduleRunner.nextRun(schedule, after: .now()) != nil {
                // A run as the runner queues it, due now (its read period worked out for now).
                let run = ScheduledRun(scheduleID: schedule.id, runAt: .now())
                let stored = run.request(schedule, counter: nextCounter())
                if (try? await hub.store.apply([.insertRequest(stored)])) != nil {
                    _ = await hub.dispatcher.process(run.requestID)
                    outcomes["schedule run", default: 0] += 1
                }
            }
            let deletion: [Mutation] = [.deleteSchedule(id: schedule.id, at: .now())]
            try? await hub.store.apply(deletion)
            hub.schedules.apply(deletion)
        }
    }

    func sign(header: RequestHeader, body: ElementTree) -> [UInt8]? {
        var writer = CanonicalXMLWriter()
        writer.open("sr:Request", attributes: [("xmlns:sr", DUISNamespace.serviceUserGateway), ("schemaVersion", header.schemaVersion)])
        writer.open("sr:Header")
        writer.element("sr:RequestID", header.requestID.description)
        writer.element("sr:CommandVariant", header.commandVariantText)
        writer.element("sr:ServiceReference", header.serviceReference)
        writer.element("sr:ServiceReferenceVariant", header.variant.srv.text)
        writer.close()
        writer.open("sr:Body")
        body.write(to: &writer, prefix: "sr")
        writer.close()
        writer.close()
        guard let entry = keystore.xmlSigningEntry(for: header.requestID.originator), let key = entry.signingKey,
              let document = try? XMLDocument.parse(writer.finish(), limits: .duis)
        else { return nil }
        return try? XMLSigner.sign(document, key: key, signer: entry.certificate.signerReference)
    }
}

/// The input's bytes, read one at a time (zeros once they run out).
struct ByteReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func next() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }

    mutating func int64() -> Int64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(next()) }
        return Int64(bitPattern: value)
    }

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(next()) % choices.count] }
}

/// Mutations of a request body guided by the DUIS types of its values.
enum Mutator {
    static let integers = ["0", "-1", "1", "-400", "-401", "400", "65535", "65536", "4294967295", "4294967296", "9223372036854775807",
                           "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "99999999999999999999", "-1000000000000",
                           "1000000000000", "1e12", "+1", "-0", " 7 ", "", "NaN", "0x10", "1.5"]
    static let times = ["00:00:00Z", "24:00:00", "23:59:59.999Z", "00:00:99999999999999999999", "25:00:00", "00:60:00", "12:00:00+14:00",
                        "12:00:00-14:00", "12:00:00+23:59", "07:00:00.0000000000001Z", "7:0:0", ""]
    static let dates = ["0000-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "65535-07-25Z", "1970-01-01Z", "2015-13-01", "-2015-01-01", ""]
    static let dateTimes = ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "3000-12-31T00:00:00Z", "2014-03-09T00:00:00.00Z",
                            "2015-01-01T24:00:00Z", "2026-11-25T00:00:00-14:00", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", ""]
    static let euis = Provisioning.defaultDevices.map(\.eui.description)
        + ["FF-FF-FF-FF-FF-FF-FF-FF", "00-00-00-00-00-00-00-00", "90-B3-D5-1F-30-00-00-02", "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A"]

    static func mutate(_ body: inout ElementTree, _ reader: inout ByteReader) {
        var leaves: [[Int]] = []
        collect(body, path: [], into: &leaves)
        let action = reader.next() % 16
        guard !leaves.isEmpty || action >= 12 else { return }
        let path = leaves.isEmpty ? [] : leaves[Int(reader.next()) % leaves.count]
        switch action {
        case 12:
            // Repeat an element (lists and counts).
            duplicate(&body, path: path, times: 1 + Int(reader.next()) * 4)
        case 13:
            remove(&body, path: path)
        case 14:
            // An element the hub does not expect, with a long value.
            body.children.append(ElementTree(name: "X" + String(reader.next()), text: String(repeating: "9", count: Int(reader.next()) * 64)))
        case 15:
            // A future-dated body, where DUIS allows one.
            body.children.insert(ElementTree(name: "ExecutionDateTime", text: reader.pick(dateTimes + [Timestamp.now().adding(milliseconds: Int64(reader.next()) * 10).iso8601])), at: 0)
        default:
            update(&body, path: path) { leaf in leaf.text = value(for: leaf, &reader) }
        }
    }

    /// A new value for a leaf, by its DUIS type or, for untyped leaves, by what it looks like.
    static func value(for leaf: ElementTree, _ reader: inout ByteReader) -> String {
        let text = leaf.text
        let type = DUISFields.types[leaf.name]
        let generic = reader.next() % 5 == 0
        if generic {
            switch reader.next() % 4 {
            case 0: return String(repeating: text.isEmpty ? "A" : text, count: 1 + Int(reader.next()) * 16).prefix(200_000).description
            case 1: return String(reader.int64())
            case 2: return "\u{0}\u{7F}\u{FFFF}é" + text
            default: return ""
            }
        }
        switch type {
        case .time?: return reader.pick(times + [String(format: "%02d:%02d:%02d", reader.next() % 30, reader.next() % 70, reader.next() % 70)])
        case .date?: return reader.pick(dates + [String(format: "%04d-%02d-%02d", Int(reader.next()) * 40, reader.next() % 14, reader.next() % 33)])
        case .dateTime?: return reader.pick(dateTimes + [Timestamp.now().adding(days: Int64(Int8(bitPattern: reader.next())) * 30).iso8601])
        case .integer?, .decimal?: return reader.pick(integers + [String(reader.int64())])
        case .eui?: return reader.pick(euis)
        case .euiList?: return (0..<(1 + Int(reader.next()) * 8)).map { _ in reader.pick(euis) }.joined(separator: ",")
        case .requestID?: return reader.pick(euis) + ":" + reader.pick(euis) + ":" + reader.pick(integers)
        default:
            if Timestamp(xsDateTime: text) != nil { return reader.pick(dateTimes) }
            if Timestamp(xsDate: text) != nil { return reader.pick(dates) }
            if TimeOfDay(xsTime: text) != nil { return reader.pick(times) }
            if EUI64(text) != nil { return reader.pick(euis) }
            if Int64(text) != nil || Double(text) != nil { return reader.pick(integers + [String(reader.int64())]) }
            return reader.pick(["", "true", "false", "Enable", "Add", "Remove", "Daily", "Yearly", "ESME", text + text])
        }
    }

    static func collect(_ node: ElementTree, path: [Int], into leaves: inout [[Int]]) {
        if node.children.isEmpty {
            if !path.isEmpty { leaves.append(path) }
            return
        }
        for (index, child) in node.children.enumerated() { collect(child, path: path + [index], into: &leaves) }
    }

    static func update(_ node: inout ElementTree, path: ArraySlice<Int>, _ change: (inout ElementTree) -> Void) {
        guard let first = path.first else { return change(&node) }
        guard node.children.indices.contains(first) else { return }
        update(&node.children[first], path: path.dropFirst(), change)
    }

    static func update(_ node: inout ElementTree, path: [Int], _ change: (inout ElementTree) -> Void) { update(&node, path: path[...], change) }

    static func duplicate(_ body: inout ElementTree, path: [Int], times: Int) {
        guard let last = path.last else { return }
        update(&body, path: Array(path.dropLast())) { parent in
            guard parent.children.indices.contains(last) else { return }
            let copy = parent.children[last]
            // Up to about 16 MB of body: past the largest a service takes, not past memory.
            let size = copy.text.utf8.count + 64 * max(1, copy.children.count)
            parent.children.insert(contentsOf: Array(repeating: copy, count: min(times, 2000, max(1, 16_000_000 / size))), at: last)
        }
    }

    static func remove(_ body: inout ElementTree, path: [Int]) {
        guard let last = path.last else { return }
        update(&body, path: Array(path.dropLast())) { parent in
            if parent.children.indices.contains(last) { parent.children.remove(at: last) }
        }
    }
}

/// Runs async work to completion from synchronous code (libFuzzer calls in on its own thread).
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        box.result = await Result { try await body() }
        semaphore.signal()
    }
    semaphore.wait()
    guard let result = box.result else { throw CancellationError() }
    return try result.get()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    let world = FuzzWorld.shared
    let input = Array(bytes)
    _ = try? blocking { await world.run(input) }
}

/// Under libFuzzer; otherwise replays files, or with `--iterations N [--seed S]` sends N
/// inputs from a seeded generator (a quick check that needs no fuzzing build).
@main
struct Fuzz {
    static func main() {
        let status = FuzzDriver.run(name: "HubFuzzer", fuzzOne) { arguments in
            guard let flag = arguments.firstIndex(of: "--iterations"), flag + 1 < arguments.count, let iterations = Int(arguments[flag + 1]) else {
                return false
            }
            var state: UInt64 = 0x6762_736D
            if let seedFlag = arguments.firstIndex(of: "--seed"), seedFlag + 1 < arguments.count, let value = UInt64(arguments[seedFlag + 1]) { state = value }
            for iteration in 0..<iterations {
                var input: [UInt8] = []
                for _ in 0..<64 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    input.append(UInt8(truncatingIfNeeded: state >> 33))
                }
                input.withUnsafeBytes { fuzzOne($0) }
                if (iteration + 1) % 500 == 0 { print("\(iteration + 1) inputs") }
            }
            print("\(iterations) generated inputs through the hub, no crash: \(FuzzWorld.shared.summary)")
            return true
        }
        FileHandle.standardError.write(Data("HubFuzzer outcomes: \(FuzzWorld.shared.summary)\n".utf8))
        try? FileManager.default.removeItem(at: FuzzWorld.shared.directory)
        exit(status)
    }
}
