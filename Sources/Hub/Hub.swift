/// Hub: the DCC service. The DUIS gateway and its request pipeline (authentication,
/// anti-replay, access control, the privacy rules, anomaly detection), the Smart Metering Inventory,
/// DCC's non-device services, DCC schedules, the device boundary where device requests
/// wait for delivery, the data privacy plans' pipeline, a household's view of its own
/// data, the durable outbox that delivers responses and alerts, and the audit trail.
///
/// The hub does not contain the homes it serves: it is assembled with a `DeviceSide`
/// (gbsm's `EmulatedHomes`, module `Homes`) and reaches devices only through its
/// `DeviceTransport`; what devices send unasked reaches it through `DeviceMessageSink`.
import AsyncHTTPClient
import DUIS
import Foundation
import Logging
import Privacy
import SMKI
import Storage
import Synchronization

public struct HubConfiguration: Sendable {
    public var dataDirectory: URL
    public var dccEUI: EUI64
    public var parseLimits: XMLParseLimits
    /// DCC's own anomaly detection threshold, for users and SRVs without their own.
    public var anomalyDefaultLimit: Int
    public var anomalyDefaultWindowSeconds: Int
    public var delivery: DeliveryPolicy
    /// How often the hub looks for changes made by admin commands in other processes.
    public var pollInterval: Duration
    /// How many device requests run at once at the device boundary.
    public var deviceConcurrency: Int
    /// Whether the data access rules refuse (gbsm) or only audit (DCC's own behaviour).
    public var privacy: PrivacyEnforcement
    /// How suppliers may have half-hourly data.
    public var supplierHalfHourly: SupplierHalfHourlyPolicy
    /// DCC's DUIS and MMC schemas: every request is validated against DUIS 5.4 before
    /// anything reads its body. Nil runs without (the typed field checks still apply).
    public var schemas: DUISSchemas?
    /// The time the hub's stages read (`HubClock`): the system's, unless a test moves its own.
    public var clock: any HubClock = WallClock()
    /// The PostgreSQL database the hub's state is in, or nil for SQLite in the data folder
    /// (`StoreLocation`); `GBSM_STORE` by default, so every command of one deployment finds it.
    public var storeURL: String? = StoreLocation.fromEnvironment
    /// On a shared store, how long this process counts as alive after each sign of life
    /// (given every `pollInterval`): once it runs out, other hubs take over the requests it
    /// held at the device boundary and the outbox messages it was sending.
    public var holdLease: Duration = .seconds(10)

    public init(dataDirectory: URL, dccEUI: EUI64 = Provisioning.dccEUI, parseLimits: XMLParseLimits = .duis,
                anomalyDefaultLimit: Int = 100_000, anomalyDefaultWindowSeconds: Int = 3600,
                delivery: DeliveryPolicy = .standard, pollInterval: Duration = .seconds(1),
                deviceConcurrency: Int = 512,
                privacy: PrivacyEnforcement = .enforce, supplierHalfHourly: SupplierHalfHourlyPolicy = .optIn,
                schemas: DUISSchemas? = nil) {
        self.schemas = schemas
        self.dataDirectory = dataDirectory
        self.dccEUI = dccEUI
        self.parseLimits = parseLimits
        self.anomalyDefaultLimit = anomalyDefaultLimit
        self.anomalyDefaultWindowSeconds = anomalyDefaultWindowSeconds
        self.delivery = delivery
        self.pollInterval = pollInterval
        self.deviceConcurrency = deviceConcurrency
        self.privacy = privacy
        self.supplierHalfHourly = supplierHalfHourly
    }

    public var databasePath: String { dataDirectory.appendingPathComponent("hub.sqlite").path }
    /// Where the hub's state is: `storeURL`'s database, or SQLite at `databasePath`.
    public var storeLocation: StoreLocation { storeURL.map { .postgres(url: $0) } ?? .sqlite(path: databasePath) }
    /// The jobs this process is running (`RunningJobLog`): local to the process, unsynced.
    public var runningJobsPath: String { dataDirectory.appendingPathComponent("running.sqlite").path }
    public var keystoreURL: URL { dataDirectory.appendingPathComponent("smki/keystore.json") }
    public var firmwareDirectory: URL { dataDirectory.appendingPathComponent("firmware") }
    public var fleetURL: URL { Self.fleetURL(dataDirectory) }

    public static func fleetURL(_ dataDirectory: URL) -> URL { dataDirectory.appendingPathComponent("fleet/fleet.bin") }
}

public enum HubError: Error, CustomStringConvertible {
    case noDSPKey(String)
    case notProvisioned(String)

    public var description: String {
        switch self {
        case .noDSPKey(let path): return "no DCC (DSP) XML-signing key with its private key in \(path): run `gbsm smki init` or `gbsm serve --dcc-boxed FILE`"
        case .notProvisioned(let detail): return detail
        }
    }
}

/// The assembled hub: state loaded from the data folder, the gateway ready for requests,
/// and the background work (response delivery, admin changes, released quarantine).
public final class Hub: Sendable {
    public let configuration: HubConfiguration
    public let store: any HubStore
    public let committer: GroupCommitter
    public let registry: UserRegistry
    public let inventory: Inventory
    /// SMKI's repository: organisation and device certificates.
    public let smki: SMKIRepository
    public let replayGuard: ReplayGuard
    public let anomaly: AnomalyDetector
    public let gateway: Gateway
    public let delivery: ResponseDelivery
    let dispatcher: DeviceDispatcher
    let scheduleRunner: ScheduleRunner
    /// The SM WAN and the homes behind it: reached only through its transport.
    public let devices: any DeviceSide
    let schedules: ScheduleBook
    let firmware: FirmwareBook
    let httpClient: HTTPClient
    let privacy: PrivacyGuard
    public let plans: PlanPipeline
    let jobs: JobGuard
    /// What start-up found of jobs the previous process was running when it stopped.
    var jobRecovery: JobGuard.Recovery { recovered.withLock { $0 } }
    /// Whether this process runs what happens once for the whole DCC (`Leadership`).
    public let leadership: Leadership
    private let recovered = Mutex(JobGuard.Recovery())
    let logger: Logger
    /// The last operator's counter reset applied to the replay guard.
    private let lastCounterReset = Mutex<Int64>(0)
    /// The registry version the in-memory users and thresholds reflect.
    private let loadedRegistryVersion = Mutex<Int64>(0)
    /// When the leading hub last forgot old shared anomaly windows.
    private let lastAnomalyPrune = Mutex<Timestamp?>(nil)

    /// Opens the hub in `configuration`'s data folder, connected to the device side
    /// `devices` makes (gbsm's emulated homes: `EmulatedHomes.open`).
    public static func open(_ configuration: HubConfiguration, devices: @Sendable (DeviceSideContext) throws -> any DeviceSide,
                            logger: Logger = Logger(label: "gbsm.hub")) async throws -> Hub {
        let keystore: Keystore
        do {
            keystore = try Keystore.load(from: configuration.keystoreURL)
        } catch {
            throw HubError.noDSPKey(configuration.keystoreURL.path)
        }
        guard let dsp = keystore.dspSigner, let dspKey = dsp.signingKey else { throw HubError.noDSPKey(configuration.keystoreURL.path) }
        let broker = BrokerCredentials(
            digitalSigning: keystore.entries.first { $0.eui == configuration.dccEUI && $0.role == RemotePartyRole.accessControlBroker && $0.usage == .digitalSignature }?.certificate.der,
            keyAgreement: keystore.entries.first { $0.eui == configuration.dccEUI && $0.role == RemotePartyRole.accessControlBroker && $0.usage == .keyAgreement }?.certificate.der)
        let store = try await configuration.storeLocation.open()
        let credentials = try DeviceCredentials.open(smkiDirectory: configuration.keystoreURL.deletingLastPathComponent())
        return try await Hub(configuration: configuration, store: store, signer: ResponseSigner(key: dspKey, reference: dsp.certificate.signerReference),
                             broker: broker, keystore: keystore, deviceCredentials: credentials, devices: devices, logger: logger)
    }

    init(configuration: HubConfiguration, store: any HubStore, signer: ResponseSigner, broker: BrokerCredentials, keystore: Keystore,
         deviceCredentials: DeviceCredentials, devices makeDevices: @Sendable (DeviceSideContext) throws -> any DeviceSide, logger: Logger) async throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        committer = GroupCommitter(store: store)
        registry = UserRegistry()
        inventory = Inventory()
        smki = SMKIRepository(keystore: keystore, credentials: deviceCredentials, inventory: inventory, fleetSeed: 0)
        replayGuard = ReplayGuard()
        var sharedCount: (@Sendable (AnomalyWindow) async throws -> AnomalyWindowCount)?
        if store.isShared {
            sharedCount = { window in try await store.countAnomalyWindow(window) }
        }
        anomaly = AnomalyDetector(defaultLimit: configuration.anomalyDefaultLimit, defaultWindowSeconds: configuration.anomalyDefaultWindowSeconds,
                                  shared: sharedCount)
        schedules = ScheduleBook()
        firmware = FirmwareBook()
        let accessControl = AccessControl(dccEUI: configuration.dccEUI, inventory: inventory)
        let wakeup = Wakeup()
        let locks = PremisesLocks()
        privacy = PrivacyGuard(store: store, inventory: inventory, rules: PrivacyRules(supplierHalfHourly: configuration.supplierHalfHourly),
                               enforcement: configuration.privacy, clock: configuration.clock)
        plans = PlanPipeline(store: store, committer: committer, inventory: inventory, clock: configuration.clock, logger: logger)
        jobs = JobGuard(dccEUI: configuration.dccEUI, store: store, committer: committer, schedules: schedules, signer: signer,
                        log: try RunningJobLog(path: configuration.runningJobsPath), clock: configuration.clock, logger: logger)
        let commands = WANCommands(keys: smki, inventory: inventory, firmware: firmware)
        let responses = DeviceResponses(dccEUI: configuration.dccEUI, inventory: inventory, registry: registry, schedules: schedules,
                                        answers: DeviceAnswers(keys: smki, logger: logger), signer: signer, delivery: wakeup)
        let dccCounter = DCCCounter(start: Timestamp.now())
        let inbox = DeviceInbox(dccEUI: configuration.dccEUI, inventory: inventory, responses: responses, signer: signer, committer: committer,
                                counter: dccCounter, clock: configuration.clock, logger: logger)
        leadership = Leadership(leading: !store.isShared)
        devices = try makeDevices(DeviceSideContext(configuration: configuration, inventory: inventory, store: store, registry: registry, keys: smki,
                                                    locks: locks, sink: inbox, leadership: leadership, logger: logger))
        let services = NonDeviceServices(inventory: inventory, accessControl: accessControl, store: store, committer: committer, schedules: schedules,
                                         firmware: firmware, firmwareDirectory: configuration.firmwareDirectory, broker: broker, coverage: devices.coverage)
        dispatcher = DeviceDispatcher(
            queue: DeviceQueue(limit: configuration.deviceConcurrency),
            preparation: DeviceRequestPreparation(dccEUI: configuration.dccEUI, schedules: schedules, inventory: inventory, registry: registry,
                                                  accessControl: accessControl, limits: configuration.parseLimits,
                                                  premisesInstalled: { [inventory] premises in inventory.installed(premises: premises) },
                                                  occupancy: { [privacy] premises in try await privacy.occupancy(premises: premises) }),
            privacyFilter: DevicePrivacyFilter(privacy: privacy, registry: registry, accessControl: accessControl, plans: plans, store: store, logger: logger),
            responses: responses, store: store, committer: committer, locks: locks, transport: devices.transport,
            jobs: jobs, commands: commands, clock: configuration.clock, logger: logger)
        scheduleRunner = ScheduleRunner(store: store, committer: committer, schedules: schedules, dispatcher: dispatcher, counter: dccCounter, logger: logger)
        gateway = Gateway(dccEUI: configuration.dccEUI, limits: configuration.parseLimits, schemas: configuration.schemas, registry: registry, accessControl: accessControl,
                          replayGuard: replayGuard, anomaly: anomaly, committer: committer, signer: signer, services: services,
                          outboxWakeup: wakeup, dispatcher: dispatcher, privacy: privacy, jobs: jobs, desk: CriticalCommandDesk(smki: smki, inventory: inventory), commands: commands,
                          clock: configuration.clock, logger: logger)
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        delivery = ResponseDelivery(store: store, committer: committer, registry: registry, client: httpClient,
                                    policy: configuration.delivery, wakeup: wakeup, jobs: jobs, clock: configuration.clock, logger: logger)
        // Read the version before loading, so a change made meanwhile triggers a reload.
        let version = try await store.registryVersion()
        try await reloadRegistry()
        loadedRegistryVersion.withLock { $0 = version }
        inventory.load(premises: try await store.premises(), devices: try await store.devices(), registrations: try await store.registrations())
        if let fleet = devices.fleetRecords {
            inventory.attach(fleet)
            smki.setFleetSeed(fleet.seed)
            logger.info("fleet of \(fleet.count) premises (seed \(fleet.seed)) in the inventory")
        }
        replayGuard.load(try await store.counters())
        let resets = try await store.counterResets(after: 0)
        lastCounterReset.withLock { $0 = resets.last?.sequence ?? 0 }
        schedules.load(try await store.schedules())
        firmware.load(try await store.firmware())
        // Jobs the previous process was running when it stopped: counted, and parked after
        // a second death, before anything runs again.
        let recovery = try await jobs.recover()
        recovered.withLock { $0 = recovery }
        try await dispatcher.recover()
        try await devices.recover()
    }

    private func reloadRegistry() async throws {
        let warnings = registry.load(users: try await store.users(), certificates: try await store.userCertificates())
        for warning in warnings { logger.warning("\(warning)") }
        anomaly.load(try await store.thresholds())
        // Operators' counter resets and schedule changes (`gbsm users reset-counter`,
        // `gbsm schedules delete|resume`) bump the registry version too.
        let after = lastCounterReset.withLock { $0 }
        for reset in try await store.counterResets(after: after) {
            replayGuard.reset(originator: reset.originator, to: reset.counter)
            lastCounterReset.withLock { $0 = max($0, reset.sequence) }
            logger.notice("anti-replay counter of \(reset.originator) reset to \(reset.counter) by an operator")
        }
        schedules.load(try await store.schedules())
    }

    /// Runs the background work until the task is cancelled: response delivery, and
    /// watching the store for admin changes (users, certificates, thresholds) and for
    /// requests released from quarantine.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.delivery.run() }
            group.addTask { await self.watch() }
            group.addTask { await self.dispatcher.run() }
            group.addTask {
                await self.scheduleRunner.run(interval: self.configuration.pollInterval, clock: self.configuration.clock, leadership: self.leadership)
            }
            group.addTask { await self.devices.run() }
            group.addTask { await self.plans.run(leadership: self.leadership) }
            if store.isShared {
                group.addTask { await self.holdRequests() }
                group.addTask { await self.pruneAnomalyWindows() }
            }
            await group.waitForAll()
        }
    }

    /// On a shared store, from the moment the hub runs (a tool that only opens a hub takes
    /// nothing over): signs of life every poll interval, the device-boundary requests of
    /// hubs that stopped giving them taken over (`DeviceDispatcher.adopt`), and whether
    /// this hub leads.
    private func holdRequests() async {
        // Well inside the lease, so a busy poll or two does not let it run out.
        let interval = min(configuration.pollInterval, configuration.holdLease / 4)
        var first = true
        while !Task.isCancelled {
            if !first { try? await Task.sleep(for: interval) }
            if Task.isCancelled { break }
            do {
                let adopted = try await dispatcher.adopt(lease: configuration.holdLease)
                if adopted > 0 { logger.info("\(adopted) device request(s) no live hub held taken over at the device boundary") }
            } catch {
                if Task.isCancelled { break }
                logger.error("signing this hub alive on the shared store failed: \(error)")
                // Another hub takes over once this one's lease runs out: this one must not
                // go on running what runs once.
                if leadership.set(false) { logger.warning("this hub stops running the homes' own life until it can sign itself alive again") }
                continue
            }
            first = false
            do {
                try await decideLeadership()
            } catch {
                if Task.isCancelled { break }
                logger.error("reading which hub leads on the shared store failed: \(error)")
                if leadership.set(false) { logger.warning("this hub stops running the homes' own life until it can read which hub leads") }
            }
        }
    }

    /// On a shared store, on a loop of its own (a slow delete must not delay the signs of
    /// life): the leading hub forgets the anomaly windows no estimate reads any more, once
    /// a minute, so the table holds at most two windows per user, SRV and window length.
    private func pruneAnomalyWindows() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            if Task.isCancelled { break }
            guard leadership.isLeading else { continue }
            let now = configuration.clock.now()
            let due = lastAnomalyPrune.withLock { last in
                guard last.map({ now.milliseconds - $0.milliseconds >= 60_000 }) ?? true else { return false }
                last = now
                return true
            }
            guard due else { continue }
            do {
                _ = try await store.pruneAnomalyWindows(now: now.milliseconds)
            } catch {
                if Task.isCancelled { break }
                logger.error("forgetting old anomaly windows on the shared store failed (tried again in a minute): \(error)")
            }
        }
    }

    /// Leads when this process is the longest-running live one on the shared store.
    private func decideLeadership() async throws {
        let leader = try await store.leadingInstance(now: configuration.clock.now())
        let leading = leader == store.instance
        if leadership.set(leading) {
            logger.notice(leading ? "this hub now runs the homes' own life for all hubs sharing the store" : "another hub on the shared store runs the homes' own life")
            // What the hub that led before recorded of the homes' life (power cuts begun
            // and ended) is read again, not this process's memory of it.
            if leading { try await devices.recover() }
        }
    }

    private func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            if Task.isCancelled { break }
            do {
                let current = try await store.registryVersion()
                if current != loadedRegistryVersion.withLock({ $0 }) {
                    try await reloadRegistry()
                    loadedRegistryVersion.withLock { $0 = current }
                    logger.info("registry reloaded (version \(current))")
                    delivery.wakeup.signal()
                }
                for released in try await store.requests(status: .released, originator: nil, limit: 100) {
                    await gateway.processReleased(released)
                }
                await gateway.flushRejectionSummary()
            } catch {
                if Task.isCancelled { break }
                logger.error("watching the store failed: \(error)")
            }
        }
    }

    /// Acts on what is due by the clock's time now, at once: held and future-dated
    /// requests, DCC schedule runs, devices' held commands, power cuts, outbox messages.
    /// The hub does this by itself every poll interval; a test that moves its own clock
    /// (`HubClock`) calls it after each move instead of waiting.
    public func tick() async {
        dispatcher.wakeup.signal()
        delivery.wakeup.signal()
        await scheduleRunner.pass(now: configuration.clock.now())
        await devices.pass(now: configuration.clock.now())
        // What the pass queued (schedule runs, alerts) is looked at now too.
        dispatcher.wakeup.signal()
        delivery.wakeup.signal()
    }

    public func shutdown() async {
        // Other hubs on a shared store take over what this one held, at once.
        do {
            try await store.retireInstance()
        } catch {
            logger.error("could not tell other hubs this one stopped (they take over once its lease runs out): \(error)")
        }
        try? await httpClient.shutdown()
    }
}
