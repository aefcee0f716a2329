import DUIS
import Storage
import Synchronization

/// The Smart Metering Inventory: premises, devices and who is registered for each MPAN
/// and MPRN over time. Held in memory for access control; every change is written
/// through the store first and then applied here.
///
/// Two layers: records the store holds explicitly (DCC Boxed's premises, devices added by
/// pre-notification, any change a service request made), and the emulated fleet, whose
/// premises, devices and registrations are derived from the fleet on demand. An explicit
/// record overrides the fleet's for the same device or MPxN, so 40 million premises cost
/// the inventory nothing until something changes them.
public final class Inventory: Sendable {
    private struct State {
        var devices: [EUI64: DeviceRecord] = [:]
        var premises: [Int64: PremisesRecord] = [:]
        var devicesByPremises: [Int64: [EUI64]] = [:]
        var registrations: [String: [RegistrationRecord]] = [:]
        var nextPremisesID: Int64 = 1
        /// Explicit devices by each MPxN they carry: lookups by MPAN or MPRN (every
        /// portal sign-in, every opt-in) cost the same however many devices there are.
        var devicesByMPxN: [String: Set<EUI64>] = [:]
        /// Pending devices (pre-notified, not yet at a premises) by who notified them.
        var pendingByNotifier: [EUI64: Int] = [:]

        mutating func index(_ device: DeviceRecord, adding: Bool) {
            for mpxn in [device.importMPxN, device.secondaryImportMPAN, device.exportMPAN].compactMap({ $0 }) {
                if adding {
                    devicesByMPxN[mpxn, default: []].insert(device.eui)
                } else {
                    devicesByMPxN[mpxn]?.remove(device.eui)
                    if devicesByMPxN[mpxn]?.isEmpty == true { devicesByMPxN[mpxn] = nil }
                }
            }
            if let notifier = device.notifiedBy, device.premises == nil, device.status == .pending {
                pendingByNotifier[notifier, default: 0] += adding ? 1 : -1
                if pendingByNotifier[notifier] == 0 { pendingByNotifier[notifier] = nil }
            }
        }
    }

    private let state = Mutex(State())
    private let fleetBox = Mutex<(any FleetRecords)?>(nil)

    public init() {}

    /// Explicit premises IDs stay below this; a fleet's are numbered from it.
    public static let fleetPremisesIDBase: Int64 = 1_000_000_000

    /// Serves the fleet's premises, devices and registrations from now on.
    public func attach(_ fleet: (any FleetRecords)?) {
        fleetBox.withLock { $0 = fleet }
    }

    /// The registers' records of the fleet the homes emulate, if there is one.
    public var fleet: (any FleetRecords)? { fleetBox.withLock { $0 } }

    func fleetIndex(mpxn: String) -> Int? { fleet?.index(mpxn: mpxn) }

    public func load(premises: [PremisesRecord], devices: [DeviceRecord], registrations: [RegistrationRecord]) {
        var next = State()
        for item in premises {
            next.premises[item.id] = item
            if item.id < Self.fleetPremisesIDBase { next.nextPremisesID = max(next.nextPremisesID, item.id + 1) }
        }
        for device in devices {
            next.devices[device.eui] = device
            next.index(device, adding: true)
            if let premises = device.premises { next.devicesByPremises[premises, default: []].append(device.eui) }
        }
        for registration in registrations { next.registrations[registration.mpxn, default: []].append(registration) }
        state.withLock { $0 = next }
    }

    public func device(_ eui: EUI64) -> DeviceRecord? {
        if let explicit = state.withLock({ $0.devices[eui] }) { return explicit }
        return fleet?.device(eui)
    }

    /// The premises the store holds explicitly (not the fleet's).
    public var explicitPremises: [PremisesRecord] { state.withLock { Array($0.premises.values) } }

    public func premises(_ id: Int64) -> PremisesRecord? {
        if let explicit = state.withLock({ $0.premises[id] }) { return explicit }
        guard let fleet, let index = fleet.index(premisesID: id) else { return nil }
        return fleet.premises(index)
    }

    /// The day a premises' metering system was installed (the start of the day its first
    /// device was commissioned; 2020-01-01 for devices with no date), or nil when no device
    /// is installed there.
    public func installed(premises id: Int64) -> Timestamp? {
        let devices = devices(atPremises: id)
        guard !devices.isEmpty else { return nil }
        let commissioned = devices.compactMap(\.dateCommissioned).min() ?? Timestamp(year: 2020, month: 1, day: 1)
        return Timestamp(dayNumber: commissioned.day.number)
    }

    /// Devices in the inventory: those held explicitly and the fleet's.
    public var deviceCount: Int {
        let fleet = fleet
        let explicit = state.withLock { state in state.devices.keys.filter { fleet?.isFleetDevice($0) != true }.count }
        return explicit + (fleet?.deviceCount ?? 0)
    }

    public var allPremises: [PremisesRecord] { state.withLock { $0.premises.values.sorted { $0.id < $1.id } } }

    /// Devices at a premises, in a stable order (meters first).
    public func devices(atPremises id: Int64) -> [DeviceRecord] {
        var result = state.withLock { state in
            (state.devicesByPremises[id] ?? []).compactMap { state.devices[$0] }
        }
        if let fleet, let index = fleet.index(premisesID: id) {
            let explicit = Set(result.map(\.eui))
            for device in fleet.devices(index) where !explicit.contains(device.eui) {
                // A fleet device moved elsewhere by a change is not here any more.
                if state.withLock({ $0.devices[device.eui] }) != nil { continue }
                result.append(device)
            }
        }
        return result.sorted { ($0.type.sortOrder, $0.eui) < ($1.type.sortOrder, $1.eui) }
    }

    public func premises(uprn: Int64) -> PremisesRecord? {
        if let explicit = state.withLock({ $0.premises.values.first { $0.uprn == uprn } }) { return explicit }
        guard let fleet, let index = fleet.index(uprn: uprn) else { return nil }
        return fleet.premises(index)
    }

    public func premises(postcode: String, addressIdentifier: String?) -> [PremisesRecord] {
        let wanted = Self.normalisePostcode(postcode)
        func matches(_ premises: PremisesRecord) -> Bool {
            guard let addressIdentifier else { return true }
            return premises.addressIdentifier.caseInsensitiveCompare(addressIdentifier) == .orderedSame
                || premises.addressIdentifier.lowercased().hasPrefix(addressIdentifier.lowercased() + " ")
        }
        var result = state.withLock { state in
            state.premises.values.filter { Self.normalisePostcode($0.postcode) == wanted && matches($0) }
        }
        if let fleet, let range = fleet.indices(postcode: postcode) {
            result += range.map { fleet.premises($0) }.filter(matches)
        }
        return result.sorted { $0.id < $1.id }
    }

    /// The premises an MPAN or MPRN belongs to (through a meter that carries it).
    public func premises(mpxn: String) -> PremisesRecord? {
        let explicit: PremisesRecord? = state.withLock { state in
            for eui in (state.devicesByMPxN[mpxn] ?? []).sorted() {
                if let id = state.devices[eui]?.premises, let premises = state.premises[id] { return premises }
            }
            return nil
        }
        if let explicit { return explicit }
        guard let fleet, let index = fleetIndex(mpxn: mpxn) else { return nil }
        return fleet.premises(index)
    }

    public func devices(mpxn: String) -> [DeviceRecord] {
        let explicit = state.withLock { state in
            (state.devicesByMPxN[mpxn] ?? []).sorted().compactMap { state.devices[$0] }
        }
        guard let fleet, let index = fleetIndex(mpxn: mpxn) else { return explicit }
        let fleetMeters = devices(atPremises: fleet.premisesID(index)).filter {
            $0.importMPxN == mpxn || $0.secondaryImportMPAN == mpxn || $0.exportMPAN == mpxn
        }
        return explicit + fleetMeters.filter { meter in !explicit.contains { $0.eui == meter.eui } }
    }

    /// How many pending devices (pre-notified or opted in, not yet at a premises) a party
    /// has put in the inventory.
    public func pendingDevices(notifiedBy party: EUI64) -> Int { state.withLock { $0.pendingByNotifier[party] ?? 0 } }

    public func registrations(mpxn: String) -> [RegistrationRecord] {
        if let explicit = state.withLock({ $0.registrations[mpxn] }), !explicit.isEmpty { return explicit }
        guard let fleet, let index = fleetIndex(mpxn: mpxn) else { return [] }
        return fleet.registrations(index, mpxn: mpxn)
    }

    public func allocatePremisesID() -> Int64 {
        // Explicit premises IDs stay below the fleet's.
        state.withLock { state in
            let id = state.nextPremisesID
            state.nextPremisesID += 1
            return id
        }
    }

    /// Applies committed mutations to the in-memory copy.
    public func apply(_ mutations: [Mutation]) {
        state.withLock { state in
            for mutation in mutations {
                switch mutation {
                case .putDevice(let device):
                    if let old = state.devices[device.eui] { state.index(old, adding: false) }
                    state.index(device, adding: true)
                    if let old = state.devices[device.eui], let oldPremises = old.premises, oldPremises != device.premises {
                        state.devicesByPremises[oldPremises]?.removeAll { $0 == device.eui }
                    }
                    if let premises = device.premises, !(state.devicesByPremises[premises]?.contains(device.eui) ?? false) {
                        state.devicesByPremises[premises, default: []].append(device.eui)
                    }
                    state.devices[device.eui] = device
                case .setFirmwareVersion(let device):
                    if state.devices[device.eui] != nil {
                        state.devices[device.eui]?.firmwareVersion = device.firmwareVersion
                    } else {
                        state.index(device, adding: true)
                        if let premises = device.premises, !(state.devicesByPremises[premises]?.contains(device.eui) ?? false) {
                            state.devicesByPremises[premises, default: []].append(device.eui)
                        }
                        state.devices[device.eui] = device
                    }
                case .deleteDevice(let eui):
                    if let old = state.devices[eui] { state.index(old, adding: false) }
                    if let premises = state.devices[eui]?.premises { state.devicesByPremises[premises]?.removeAll { $0 == eui } }
                    state.devices[eui] = nil
                case .putPremises(let premises):
                    state.premises[premises.id] = premises
                    if premises.id < Self.fleetPremisesIDBase { state.nextPremisesID = max(state.nextPremisesID, premises.id + 1) }
                case .putRegistration(let registration):
                    var list = state.registrations[registration.mpxn] ?? []
                    list.removeAll { $0.role == registration.role && $0.from == registration.from }
                    list.append(registration)
                    state.registrations[registration.mpxn] = list
                default:
                    continue
                }
            }
        }
    }

    /// The MPANs and MPRNs a device answers to for access control: a meter's own, and for
    /// hub functions and HAN devices those of the meters at the same premises (a GPF
    /// only the gas ones).
    public func accessMPxNs(for device: DeviceRecord) -> [(mpxn: String, fuel: AccessFuel)] {
        func own(_ device: DeviceRecord) -> [(String, AccessFuel)] {
            let fuel: AccessFuel = device.type == .gsme ? .gas : .electricity
            var result: [(String, AccessFuel)] = []
            if let mpxn = device.importMPxN { result.append((mpxn, fuel)) }
            if let mpxn = device.secondaryImportMPAN { result.append((mpxn, .electricity)) }
            if let mpxn = device.exportMPAN { result.append((mpxn, .export)) }
            return result
        }
        switch device.type {
        case .esme, .gsme:
            return own(device)
        case .gpf:
            guard let premises = device.premises else { return [] }
            return devices(atPremises: premises).filter { $0.type == .gsme }.flatMap(own)
        case .hcalcs:
            guard let premises = device.premises else { return [] }
            return devices(atPremises: premises).filter { $0.type == .esme }.flatMap(own)
        case .chf, .ihd, .ppmid, .cad:
            guard let premises = device.premises else { return [] }
            return devices(atPremises: premises).filter { $0.type == .esme || $0.type == .gsme }.flatMap(own)
        }
    }

    static func normalisePostcode(_ text: String) -> String {
        String(text.uppercased().filter { !$0.isWhitespace })
    }
}

public enum AccessFuel: Sendable {
    case electricity, gas, export
}


extension DeviceType {
    var sortOrder: Int {
        switch self {
        case .chf: return 0
        case .esme: return 1
        case .gpf: return 2
        case .gsme: return 3
        case .hcalcs: return 4
        case .ppmid: return 5
        case .ihd: return 6
        case .cad: return 7
        }
    }
}
