import Testing
import AsyncHTTPClient
import Devices
import DUIS
import Foundation
import Homes
import Hub
import Hummingbird
import Logging
import Privacy
import NIOCore
import SMKI
import Server
import ServiceLifecycle
import Storage
import WAN
import Synchronization

/// A hub server running in the test process on a free loopback port, with its data
/// folder in a temporary directory.
public final class RunningHub: Sendable {
    public let hub: Hub
    /// The emulated homes behind the hub.
    public let homes: EmulatedHomes
    public let port: Int
    public let dataDirectory: URL
    /// The PostgreSQL database of the hub's state, or nil for SQLite in the data folder.
    public let storeURL: String?
    public let keystore: Keystore
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let directory: TemporaryDirectory

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `--data DIR`, and `--store URL` when the hub's state is in PostgreSQL: what an
    /// admin command needs to work on this hub.
    public var dataArguments: [String] { ["--data", dataDirectory.path] + (storeURL.map { ["--store", $0] } ?? []) }

    /// Starts a hub. With `zaz1`, it is provisioned like `serve --dcc-boxed` with the
    /// reference keystore; otherwise with a freshly generated test PKI (like `demo`).
    /// The WAN is instant and the homes quiet unless a test asks otherwise; with `fleet`,
    /// the data folder gets that fleet (its users registered with `responseURL`). Users
    /// receive devices' answers as `answers`: MMC by default here, since most tests read
    /// the answers' values (gbsm's Parse and Correlate over the device's GBCS); the GBCS
    /// tests ask for `.gbcs` and open them with `DUISMessage(_:keys:)`.
    public static func start(zaz1: Bool = false, responseURL: String? = nil, anomalyLimit: Int = 100_000,
                             delivery: DeliveryPolicy = DeliveryPolicy(initialBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400), requestTimeout: .seconds(5)),
                             pollInterval: Duration = .milliseconds(100), wan: WANSettings = .instant, fleetEvents: FleetEventSettings = .quiet,
                             fleet: FleetSpec? = nil, privacy: PrivacyEnforcement = .enforce, answers: AnswerFormat = .mmc,
                             clock: (any HubClock)? = nil, store: StoreBackend = .harnessDefault) async throws -> RunningHub {
        let directory = try TemporaryDirectory("gbsm-hub")
        let storeURL = try await store.freshURL()
        var keystoreFile: URL?
        if zaz1 {
            guard let reference = Reference.directory else { throw Reference.MissingReference() }
            keystoreFile = reference.appendingPathComponent("smki/zaz1-keystore.json")
        }
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: keystoreFile, responseURL: responseURL, answerFormat: answers,
                                         storeURL: storeURL)
        if let fleet {
            let built = Fleet.build(fleet)
            try built.write(to: HubConfiguration.fleetURL(directory.url))
            _ = try await Provisioning.registerFleet(dataDirectory: directory.url, fleet: built, responseURL: responseURL, answerFormat: answers,
                                                     storeURL: storeURL)
        }
        return try await open(directory: directory, storeURL: storeURL, anomalyLimit: anomalyLimit, delivery: delivery, pollInterval: pollInterval,
                              wan: wan, fleetEvents: fleetEvents, privacy: privacy, clock: clock)
    }

    /// Starts a second hub on `other`'s data folder and store, as a second `gbsm serve`
    /// process on one PostgreSQL database would run (its own port, memory and queues).
    public static func start(sharing other: RunningHub, pollInterval: Duration = .milliseconds(100)) async throws -> RunningHub {
        try await open(directory: other.directory, storeURL: other.storeURL, anomalyLimit: 100_000,
                       delivery: DeliveryPolicy(initialBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400), requestTimeout: .seconds(5)),
                       pollInterval: pollInterval, wan: .instant, fleetEvents: .quiet, privacy: .enforce, clock: nil)
    }

    private static func open(directory: TemporaryDirectory, storeURL: String?, anomalyLimit: Int, delivery: DeliveryPolicy, pollInterval: Duration,
                             wan: WANSettings, fleetEvents: FleetEventSettings, privacy: PrivacyEnforcement,
                             clock: (any HubClock)?) async throws -> RunningHub {
        var logger = Logger(label: "gbsm.test")
        logger.logLevel = .warning
        var configuration = HubConfiguration(dataDirectory: directory.url, anomalyDefaultLimit: anomalyLimit, delivery: delivery, pollInterval: pollInterval,
                                             privacy: privacy, schemas: Reference.schemas)
        if let clock { configuration.clock = clock }
        configuration.storeURL = storeURL
        let (hub, homes) = try await EmulatedHomes.open(configuration, homes: HomesSettings(wan: wan, events: fleetEvents), logger: logger)
        let bound = PortBox()
        let app = HubServer.application(hub: hub, homes: homes, configuration: ServerConfiguration(host: "127.0.0.1", port: 0), logger: logger) { port in
            bound.set(port)
        }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { try await group.run() }
        let port = try await bound.wait()
        return RunningHub(hub: hub, homes: homes, port: port, dataDirectory: directory.url, storeURL: storeURL, keystore: try Keystore.load(from: configuration.keystoreURL),
                          group: group, task: task, directory: directory)
    }

    private init(hub: Hub, homes: EmulatedHomes, port: Int, dataDirectory: URL, storeURL: String?, keystore: Keystore, group: ServiceGroup, task: Task<Void, any Error>, directory: TemporaryDirectory) {
        self.hub = hub
        self.homes = homes
        self.port = port
        self.dataDirectory = dataDirectory
        self.storeURL = storeURL
        self.keystore = keystore
        self.group = group
        self.task = task
        self.directory = directory
    }

    /// Moves a `MockClock` the hub was started with forward and lets the hub act on what
    /// fell due (`Hub.tick()`).
    public func advance(_ clock: MockClock, by milliseconds: Int64) async {
        clock.advance(by: milliseconds)
        await hub.tick()
    }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// Waits for a value set from another task.
public final class PortBox: Sendable {
    public init() {}
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    public func set(_ port: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, Never>] in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    public func wait() async throws -> Int {
        await withCheckedContinuation { continuation in
            let port = state.withLock { state -> Int? in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }
}

/// A user's response endpoint: records every POST; can refuse them for a while.
public final class ResponseReceiver: Sendable {
    public struct Message: Sendable {
        public let body: [UInt8]
        public let messageID: String?
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private let state = Mutex<(messages: [Message], refusing: Bool, attempts: Int)>(([], false, 0))
    private let hanging = Mutex<(messageIDs: Set<String>, prefixes: [String], started: Int)>(([], [], 0))
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public var url: String { "http://127.0.0.1:\(port)/duis/responses" }

    public static func start() async throws -> ResponseReceiver {
        let router = Router()
        let box = ReceiverBox()
        router.post("/duis/responses") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 16 << 20)
            let messageID = request.headers[.init("X-DUIS-Message-ID")!]
            // A message the test wants to hang on: no answer for up to a minute (or until released).
            if let receiver = box.receiver, receiver.shouldHang(messageID) {
                receiver.hangStarted()
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline, receiver.shouldHang(messageID) { try? await Task.sleep(for: .milliseconds(100)) }
                return Response(status: .serviceUnavailable)
            }
            let accepted = box.receiver?.record(Array(buffer.readableBytesView), messageID: messageID) ?? false
            return Response(status: accepted ? .ok : .serviceUnavailable)
        }
        var logger = Logger(label: "gbsm.test.receiver")
        logger.logLevel = .warning
        let bound = PortBox()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in bound.set(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task { try await group.run() }
        let receiver = ResponseReceiver(port: try await bound.wait(), group: group, task: task)
        box.receiver = receiver
        return receiver
    }

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    fileprivate func record(_ body: [UInt8], messageID: String?) -> Bool {
        state.withLock { state in
            state.attempts += 1
            if state.refusing { return false }
            state.messages.append(Message(body: body, messageID: messageID))
            return true
        }
    }

    public var messages: [Message] { state.withLock { $0.messages } }

    /// Makes the endpoint hold POSTs of these messages (by `X-DUIS-Message-ID`, or its
    /// prefix) without answering, as an endpoint that never responds would.
    public func hang(messageIDs: Set<String> = [], prefixes: [String] = []) { hanging.withLock { $0.messageIDs = messageIDs; $0.prefixes = prefixes } }
    /// How many POSTs were held so far.
    public var hangs: Int { hanging.withLock { $0.started } }
    fileprivate func hangStarted() { hanging.withLock { $0.started += 1 } }
    fileprivate func shouldHang(_ messageID: String?) -> Bool {
        guard let messageID else { return false }
        return hanging.withLock { $0.messageIDs.contains(messageID) || $0.prefixes.contains { messageID.hasPrefix($0) } }
    }
    public var attempts: Int { state.withLock { $0.attempts } }
    public func refuse(_ refusing: Bool) { state.withLock { $0.refusing = refusing } }

    /// Waits until `count` messages arrived or the timeout passes.
    public func waitFor(_ count: Int, timeout: Duration = .seconds(20)) async -> [Message] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let messages = self.messages
            if messages.count >= count { return messages }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return messages
    }

    /// Stops the endpoint, and records an issue in the calling test for every message it
    /// received that DCC's schemas refuse.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        for message in messages { SchemaCheck.expectConforms(message.body) }
    }
}

final class ReceiverBox: @unchecked Sendable {
    private let lock = Mutex<ResponseReceiver?>(nil)
    var receiver: ResponseReceiver? {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }
}

/// Builds, signs and sends DUIS requests as a DCC user would.
public struct DUISClient: Sendable {
    public let baseURL: String
    public let keystore: Keystore
    public let http: HTTPClient

    public init(baseURL: String, keystore: Keystore, http: HTTPClient = .shared) {
        self.baseURL = baseURL
        self.keystore = keystore
        self.http = http
    }

    public struct Answer: Sendable {
        public let status: Int
        public let body: [UInt8]
        public let reason: String?
        public var text: String { String(decoding: body, as: UTF8.self) }

        /// Refused because a value breaks DUIS: at intake by DCC's schema (HTTP 400 naming
        /// DUIS 5.4) when the hub has it, else by gbsm's typed field checks (E12).
        public var refusedAsInvalid: Bool { code == "E12" || (status == 400 && text.contains("DUIS 5.4 schema")) }
        /// Why it was refused: the reason header, or the plain-text answer.
        public var refusal: String { reason ?? text }

        /// The ResponseCode of a DUIS Response.
        public var code: String? {
            guard let document = try? XMLDocument.parse(body), let root = document.root,
                  let header = root.children.first, let code = header.children.first(where: { $0.localName == "ResponseCode" })
            else { return nil }
            return code.text
        }
    }

    /// Signs `xml` with the originator's key after setting `counter` (if given).
    public func sign(_ xml: String, counter: UInt64?, as signer: EUI64? = nil, transform: CanonicalizationAlgorithm? = nil) throws -> [UInt8] {
        let document = try XMLDocument.parse(xml, limits: .duis)
        let request = try ServiceRequestDocument(document)
        var requestID = request.header.requestID
        if let counter {
            requestID.counter = counter
            try request.setRequestID(requestID)
        }
        guard let entry = keystore.xmlSigningEntry(for: signer ?? requestID.originator), let key = entry.signingKey else {
            throw KeyMissing(eui: signer ?? requestID.originator)
        }
        return try XMLSigner.sign(document, key: key, signer: entry.certificate.signerReference, referenceTransform: transform)
    }

    public struct KeyMissing: Error { public let eui: EUI64 }

    public func post(_ body: [UInt8], to service: DUISService, timeout: Int64 = 30) async throws -> Answer {
        try await post(body, path: service.path, timeout: timeout)
    }

    public func post(_ body: [UInt8], path: String, timeout: Int64 = 30) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(timeout))
        let buffer = try await response.body.collect(upTo: 32 << 20)
        SchemaCheck.expectConforms(Array(buffer.readableBytesView))
        return Answer(status: Int(response.status.code), body: Array(buffer.readableBytesView), reason: response.headers.first(name: "X-GBSM-Reason"))
    }
}

/// Verifies a DUIS response's signature with a certificate's key (our verifier).
public func verifyResponse(_ body: [UInt8], certificate: SMKICertificate) throws {
    let document = try XMLDocument.parse(body)
    let signature = try EnvelopedSignature.locate(in: document)
    guard signature.signer == certificate.signerReference, let key = certificate.signingKey else {
        throw SignatureError.unknownSigner(signature.signer)
    }
    try signature.verify(in: document, key: key)
}

/// A counter source that always rises (shared across tests in a process).
public enum Counters {
    /// The time in milliseconds, as DCC Boxed's tools count (the hub refuses counters
    /// more than a day ahead of that), then one more for each request.
    private static let value = Atomic<UInt64>(UInt64(Date().timeIntervalSince1970 * 1000))
    public static func next() -> UInt64 { value.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// A minimal DUIS request for tests.
public func requestXML(originator: EUI64, target: EUI64, counter: UInt64 = 1, commandVariant: String, srv: String, body: String,
                       schemaVersion: String = "5.4") -> String {
    let sr = ServiceCatalogue.variant(text: srv)?.serviceReference ?? srv
    return """
    <?xml version="1.0" encoding="UTF-8"?>
    <sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="\(schemaVersion)">
      <sr:Header>
        <sr:RequestID>\(originator):\(target):\(counter)</sr:RequestID>
        <sr:CommandVariant>\(commandVariant)</sr:CommandVariant>
        <sr:ServiceReference>\(sr)</sr:ServiceReference>
        <sr:ServiceReferenceVariant>\(srv)</sr:ServiceReferenceVariant>
      </sr:Header>
      <sr:Body>\(body)</sr:Body>
    </sr:Request>
    """
}
