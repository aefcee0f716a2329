import Devices
import DUIS
import Foundation
import Hub
import Storage
import Synchronization
import WAN

/// Finds, for a device in the inventory, the emulated installation behind it: the
/// premises' model (household, devices, tariffs), its device state and where it sits on
/// the WAN. Fleet premises come from the fleet; premises the store holds explicitly (DCC
/// Boxed's) get a household drawn from their premises ID.
public final class PremisesDirectory: Sendable {
    let inventory: Inventory
    /// The fleet the homes are, if any.
    let fleet: Fleet?
    let store: any HubStore
    let registry: UserRegistry
    private let states = Mutex<[Int64: PremisesState]>([:])
    private let capacity = 500_000
    /// The highest device counter this process answered with and did not store (a read's
    /// counter, taken from the clock: `PremisesState.differsOnlyByClockCounters`). A
    /// state loaded from the store again (after the memory forgot it) has its device
    /// counters raised to it, so that no device answers with a counter it used before,
    /// even in the same millisecond. Across a restart the counters rely on the clock
    /// moving on, as DCC's own counters do.
    private let unstoredCounterFloor = Mutex<UInt64>(0)

    init(inventory: Inventory, fleet: Fleet?, store: any HubStore, registry: UserRegistry) {
        self.inventory = inventory
        self.fleet = fleet
        self.store = store
        self.registry = registry
    }

    /// The model of a premises, or nil when it has no metering system gbsm can emulate.
    public func model(premises id: Int64) -> PremisesModel? {
        let devices = inventory.devices(atPremises: id)
        if let fleet, let index = fleet.index(premisesID: id) {
            var model = PremisesModel(fleet: fleet, index: index)
            // Devices the store changed (pre-notified additions, status changes) are part of it.
            model.devices = devices.map(Self.installed)
            return model
        }
        guard let premises = inventory.premises(id), !devices.isEmpty else { return nil }
        let commissioned = devices.compactMap(\.dateCommissioned).min() ?? Timestamp(year: 2020, month: 1, day: 1)
        let registered = devices.first { $0.type == .esme }?.importMPxN.flatMap { mpan in
            inventory.registrations(mpxn: mpan).first { $0.role == .is }?.party
        }
        let supplier = registered.flatMap { registry.user($0)?.name } ?? "Energy Supplier"
        var model = PremisesModel(premisesID: id, postcode: premises.postcode, region: premises.region,
                                  installDay: commissioned.day.number, devices: devices.map(Self.installed), supplierName: supplier)
        model.installedSupplier = registered
        if devices.contains(where: { $0.type == .esme && $0.exportMPAN != nil }), !model.profile.features.contains(.solar) {
            // An export MPAN means generation at the premises.
            model.profile.features.insert(.solar)
            model.profile.solarW = 3600
        }
        return model
    }

    public static func installed(_ record: DeviceRecord) -> InstalledDevice {
        InstalledDevice(eui: record.eui, type: record.type, importMPxN: record.importMPxN, exportMPAN: record.exportMPAN,
                        manufacturer: record.manufacturer, model: record.model, firmware: record.firmwareVersion ?? "01000000")
    }

    /// Where the premises' hub sits on the WAN.
    func endpoint(premises id: Int64, region: CSPRegion) -> WANEndpoint {
        if let fleet, let index = fleet.index(premisesID: id) {
            let traits = fleet.traits[index]
            return WANEndpoint(premises: id, region: region, signalClass: traits.signalClass, atRiskFromSunset: traits.atRiskFromSunset)
        }
        return WANEndpoint(premises: id, region: region, signalClass: Int(UInt64(bitPattern: id) % 2), atRiskFromSunset: false)
    }

    /// The premises' device state, from memory or the store. On a store several hubs
    /// share, from the store every time: another hub may have committed a newer one since
    /// (and a write made from an older one fails: `DeviceStateRevision`).
    public func state(premises id: Int64) async throws -> PremisesState {
        let shared = store.isShared
        if !shared, let cached = states.withLock({ $0[id] }) { return cached }
        var state = PremisesState()
        if let bytes = try await store.deviceState(premises: id) {
            state = try PremisesState.decode(bytes)
        }
        if shared { return state }
        state.raiseDeviceCounters(atLeast: unstoredCounterFloor.withLock { $0 })
        // A command may have settled a newer state while this one loaded: that one stays.
        return keep(id, state, replacing: false)
    }

    /// Notes that `state`'s device counters were not stored (see `unstoredCounterFloor`).
    func counters(notStored state: PremisesState) {
        guard let highest = state.deviceCounters.values.max() else { return }
        unstoredCounterFloor.withLock { $0 = max($0, highest) }
    }

    /// Keeps a premises' committed state (in memory only when this process alone writes
    /// the store).
    func remember(_ id: Int64, _ state: PremisesState) {
        if store.isShared { return }
        _ = keep(id, state, replacing: true)
    }

    /// Caches `state` (unless, `replacing` false, one is cached already, which wins) and
    /// returns the cached state.
    private func keep(_ id: Int64, _ state: PremisesState, replacing: Bool) -> PremisesState {
        states.withLock { states in
            if !replacing, let cached = states[id] { return cached }
            if states.count >= capacity, states[id] == nil {
                // Forget premises nothing has changed (they reload as empty state).
                for (key, value) in states where value.revision == 0 { states[key] = nil }
                if states.count >= capacity { states.removeAll(keepingCapacity: true) }
            }
            states[id] = state
            return state
        }
    }

    static func encode(_ state: PremisesState) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(state))) ?? []
    }
}
