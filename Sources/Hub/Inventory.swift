import DUIS
import Storage
import Synchronization

/// The Smart Metering Inventory: premises, devices and who is registered for each MPAN
/// and MPRN over time. Held in memory for access control; every change is written
/// through the store first and then applied here.
public final class Inventory: Sendable {
    private struct State {
        var devices: [EUI64: DeviceRecord] = [:]
        var premises: [Int64: PremisesRecord] = [:]
        var devicesByPremises: [Int64: [EUI64]] = [:]
        var registrations: [String: [RegistrationRecord]] = [:]
        var nextPremisesID: Int64 = 1
    }

    private let state = Mutex(State())

    public init() {}

    public func load(premises: [PremisesRecord], devices: [DeviceRecord], registrations: [RegistrationRecord]) {
        var next = State()
        for item in premises {
            next.premises[item.id] = item
            next.nextPremisesID = max(next.nextPremisesID, item.id + 1)
        }
        for device in devices {
            next.devices[device.eui] = device
            if let premises = device.premises { next.devicesByPremises[premises, default: []].append(device.eui) }
        }
        for registration in registrations { next.registrations[registration.mpxn, default: []].append(registration) }
        state.withLock { $0 = next }
    }

    public func device(_ eui: EUI64) -> DeviceRecord? { state.withLock { $0.devices[eui] } }

    public func premises(_ id: Int64) -> PremisesRecord? { state.withLock { $0.premises[id] } }

    public var deviceCount: Int { state.withLock { $0.devices.count } }

    public var allPremises: [PremisesRecord] { state.withLock { $0.premises.values.sorted { $0.id < $1.id } } }

    /// Devices at a premises, in a stable order (meters first).
    public func devices(atPremises id: Int64) -> [DeviceRecord] {
        state.withLock { state in
            (state.devicesByPremises[id] ?? []).compactMap { state.devices[$0] }
        }.sorted { ($0.type.sortOrder, $0.eui) < ($1.type.sortOrder, $1.eui) }
    }

    public func premises(uprn: Int64) -> PremisesRecord? {
        state.withLock { $0.premises.values.first { $0.uprn == uprn } }
    }

    public func premises(postcode: String, addressIdentifier: String?) -> [PremisesRecord] {
        let wanted = Self.normalisePostcode(postcode)
        return state.withLock { state in
            state.premises.values.filter { premises in
                Self.normalisePostcode(premises.postcode) == wanted
                    && (addressIdentifier.map { premises.addressIdentifier.caseInsensitiveCompare($0) == .orderedSame } ?? true)
            }
        }.sorted { $0.id < $1.id }
    }

    /// The premises an MPAN or MPRN belongs to (through a meter that carries it).
    public func premises(mpxn: String) -> PremisesRecord? {
        state.withLock { state in
            for device in state.devices.values where device.importMPxN == mpxn || device.secondaryImportMPAN == mpxn || device.exportMPAN == mpxn {
                if let id = device.premises, let premises = state.premises[id] { return premises }
            }
            return nil
        }
    }

    public func devices(mpxn: String) -> [DeviceRecord] {
        state.withLock { state in
            state.devices.values.filter { $0.importMPxN == mpxn || $0.secondaryImportMPAN == mpxn || $0.exportMPAN == mpxn }
        }
    }

    public func registrations(mpxn: String) -> [RegistrationRecord] { state.withLock { $0.registrations[mpxn] ?? [] } }

    public func allocatePremisesID() -> Int64 {
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
                    if let old = state.devices[device.eui], let oldPremises = old.premises, oldPremises != device.premises {
                        state.devicesByPremises[oldPremises]?.removeAll { $0 == device.eui }
                    }
                    if let premises = device.premises, !(state.devicesByPremises[premises]?.contains(device.eui) ?? false) {
                        state.devicesByPremises[premises, default: []].append(device.eui)
                    }
                    state.devices[device.eui] = device
                case .deleteDevice(let eui):
                    if let premises = state.devices[eui]?.premises { state.devicesByPremises[premises]?.removeAll { $0 == eui } }
                    state.devices[eui] = nil
                case .putPremises(let premises):
                    state.premises[premises.id] = premises
                    state.nextPremisesID = max(state.nextPremisesID, premises.id + 1)
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
    public func accessMPxNs(for device: DeviceRecord) -> [(mpxn: String, fuel: Fuel)] {
        func own(_ device: DeviceRecord) -> [(String, Fuel)] {
            let fuel: Fuel = device.type == .gsme ? .gas : .electricity
            var result: [(String, Fuel)] = []
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

public enum Fuel: Sendable {
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
