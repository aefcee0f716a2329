/// Homes: the homes and the SM WAN behind the comms hubs, as DCC's device boundary meets
/// them. `EmulatedHomes` is the device side gbsm's hub is assembled with
/// (`Hub.open(_:devices:logger:)`): `EmulatedWAN` carries DCC's GBCS commands across the
/// WAN model to the premises' devices (`DeviceEmulator`, from `Devices`) and brings their
/// answers back; `HomeEvents` is the homes' own life (held commands falling due, power
/// cuts, tamper, low credit), handed to DCC as device messages; `PremisesDirectory` holds
/// the premises' models and device states; and the household's own data for the consumer
/// portal is read here, from the home's side, as a consumer access device would
/// (`ConsumerView`, `ConsumerDay`).
///
/// Nothing in `Hub` imports this module: DCC knows the homes only as a `DeviceSide`.
import DUIS
import Devices
import Foundation
import Hub
import Logging
import Storage
import Synchronization

public final class EmulatedHomes: DeviceSide {
    public let directory: PremisesDirectory
    public let engine: MeterEngine
    /// The fleet the homes are (`fleet/fleet.bin` in the data folder), if there is one.
    public let fleet: Fleet?
    public let fleetRecords: (any FleetRecords)?
    let wan: EmulatedWAN
    /// The WAN's model and the conditions operators set (outages, the sunset).
    let conditions: WANState
    let events: HomeEvents
    let inventory: Inventory
    let store: any HubStore
    let pollInterval: Duration
    let clock: any HubClock
    let logger: Logger
    /// Whether this process runs the homes' own life (one hub of several on a shared store).
    let leadership: Leadership

    public var transport: any DeviceTransport { wan }
    public var coverage: any WANCoverageSource { conditions }

    /// The homes behind a hub, built from what the hub gives its device side.
    public init(_ context: DeviceSideContext, settings: HomesSettings) throws {
        let url = context.configuration.fleetURL
        fleet = FileManager.default.fileExists(atPath: url.path) ? try Fleet.read(from: url) : nil
        fleetRecords = fleet.map(FleetRegister.init)
        if let fleet { context.logger.info("fleet of \(fleet.count) premises (seed \(fleet.spec.seed)) loaded: \(fleet.memoryBytes / 1_048_576) MiB") }
        engine = MeterEngine()
        inventory = context.inventory
        store = context.store
        pollInterval = context.configuration.pollInterval
        clock = context.configuration.clock
        logger = context.logger
        leadership = context.leadership
        conditions = WANState(settings.wan)
        directory = PremisesDirectory(inventory: context.inventory, fleet: fleet, store: context.store, registry: context.registry)
        let emulator = DeviceEmulator(engine: engine, keys: context.keys)
        let alerts = DeviceAlertSender(keys: context.keys, inventory: context.inventory, logger: context.logger)
        wan = EmulatedWAN(directory: directory, wan: conditions, emulator: emulator, answerer: DeviceAnswerer(keys: context.keys, logger: context.logger),
                          alerts: alerts)
        events = HomeEvents(dccEUI: context.configuration.dccEUI, store: context.store, fleet: fleet, directory: directory,
                            locks: context.locks, emulator: emulator, alerts: alerts, settings: settings.events, sink: context.sink,
                            clock: context.configuration.clock, logger: context.logger)
    }

    /// Opens a hub connected to gbsm's emulated homes, which behave as `settings` says;
    /// returns both.
    public static func open(_ configuration: HubConfiguration, homes settings: HomesSettings = HomesSettings(),
                            logger: Logger = Logger(label: "gbsm.hub")) async throws -> (hub: Hub, homes: EmulatedHomes) {
        let made = Made()
        let hub = try await Hub.open(configuration, devices: { context in
            let homes = try EmulatedHomes(context, settings: settings)
            made.set(homes)
            return homes
        }, logger: logger)
        guard let homes = made.value else { throw HubError.notProvisioned("the hub did not build its device side") }
        return (hub, homes)
    }

    public func recover() async throws {
        try await conditions.reload(from: store)
        try await events.recover()
    }

    /// Every poll interval, on loops of their own: the WAN's conditions as operators last
    /// set them (so that a long pass of the homes' life does not delay an outage), and the
    /// homes' own life.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.every(self.pollInterval) { await self.reloadConditions() } }
            // Once for the whole DCC: by the hub that leads, among several sharing a store.
            group.addTask {
                await self.every(self.pollInterval) {
                    if self.leadership.isLeading { await self.events.pass(now: self.clock.now()) }
                }
            }
        }
    }

    /// Runs `work`, then waits `interval`, until the task is cancelled.
    private func every(_ interval: Duration, _ work: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            await work()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// The WAN's conditions and the homes' life, at once.
    public func pass(now: Timestamp) async {
        await reloadConditions()
        await events.pass(now: now)
    }

    private func reloadConditions() async {
        do {
            try await conditions.reload(from: store)
        } catch {
            // A read cut short by shutdown is not a failure.
            if Task.isCancelled { return }
            logger.error("reading the WAN's outages and sunset failed (the last ones read stay in force): \(error)")
        }
    }

    /// The emulated installation at a premises (for tools and tests).
    public func premisesModel(_ id: Int64) -> PremisesModel? { directory.model(premises: id) }

    /// The device state of a premises.
    public func premisesState(_ id: Int64) async throws -> PremisesState { try await directory.state(premises: id) }
}

/// The homes `EmulatedHomes.open` built, handed out of the hub's assembly.
private final class Made: Sendable {
    private let box = Mutex<EmulatedHomes?>(nil)
    func set(_ homes: EmulatedHomes) { box.withLock { $0 = homes } }
    var value: EmulatedHomes? { box.withLock { $0 } }
}
