import Crypto
import DUIS
import Foundation
import Storage
import Synchronization

/// A non-device request (command variant 8) after access control.
struct NonDeviceRequest: Sendable {
    let header: RequestHeader
    let body: ElementTree
    let user: UserRecord
    let role: UserRole
    let received: Timestamp
    /// For 8.13: the stored request its OriginalRequestID names, read before the service runs.
    var original: StoredRequest? = nil
}

/// What a non-device service did: the payload of its I0 response, the state changes to
/// commit, and a note for the audit log.
struct NonDeviceOutcome: Sendable {
    var payload: (@Sendable (inout CanonicalXMLWriter) -> Void)?
    var mutations: [Mutation] = []
    var note: String
}

/// The DCC credentials a Service Opt In returns (the access control broker's
/// certificates).
public struct BrokerCredentials: Sendable {
    public var digitalSigning: [UInt8]?
    public var keyAgreement: [UInt8]?

    public init(digitalSigning: [UInt8]?, keyAgreement: [UInt8]?) {
        self.digitalSigning = digitalSigning
        self.keyAgreement = keyAgreement
    }
}

/// DCC schedules (5.1) in memory, with the next schedule ID.
final class ScheduleBook: Sendable {
    private struct State {
        var schedules: [Int64: ScheduleRecord] = [:]
        var nextID: Int64 = 1
    }

    private let state = Mutex(State())

    /// Takes in the stored schedules (at start, and after an operator changed one). A
    /// schedule only in memory (created while the store was being read) is kept, and IDs
    /// only ever rise, so a reload can never hand out an ID twice.
    func load(_ records: [ScheduleRecord]) {
        state.withLock { state in
            for record in records {
                state.schedules[record.id] = record
                state.nextID = max(state.nextID, record.id + 1)
            }
        }
    }

    func allocateID() -> Int64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    func schedule(_ id: Int64) -> ScheduleRecord? { state.withLock { $0.schedules[id] } }

    func active(device: EUI64, owner: EUI64) -> [ScheduleRecord] {
        state.withLock { $0.schedules.values.filter { $0.device == device && $0.owner == owner && $0.deletedAt == nil } }
            .sorted { $0.id < $1.id }
    }

    /// Schedules that run: neither deleted nor parked.
    var allActive: [ScheduleRecord] { state.withLock { $0.schedules.values.filter(\.isActive) } }

    var activeCount: Int { state.withLock { $0.schedules.values.filter { $0.deletedAt == nil }.count } }

    func apply(_ mutations: [Mutation]) {
        state.withLock { state in
            for mutation in mutations {
                switch mutation {
                case .putSchedule(let schedule): state.schedules[schedule.id] = schedule
                case .deleteSchedule(let id, let at): state.schedules[id]?.deletedAt = at
                case .parkSchedule(let id, let at): state.schedules[id]?.parkedAt = at
                default: continue
                }
            }
        }
    }
}

/// Firmware distributions (11.1, 11.4) in memory: which devices have one in progress.
final class FirmwareBook: Sendable {
    private let inProgress = Mutex<[EUI64: FirmwareRecord]>([:])

    func load(_ records: [FirmwareRecord]) {
        inProgress.withLock { map in
            map = [:]
            for record in records { for device in record.devices { map[device] = record } }
        }
    }

    func distribution(for device: EUI64) -> String? { inProgress.withLock { $0[device]?.requestID } }

    /// The image distributed to a device: its version and SHA-256, which a device holding
    /// it compares with 11.3's FirmwareHash.
    func image(for device: EUI64) -> FirmwareRecord? { inProgress.withLock { $0[device] } }

    func apply(_ mutations: [Mutation]) {
        inProgress.withLock { map in
            for case .putFirmware(let record) in mutations { for device in record.devices { map[device] = record } }
        }
    }
}

/// The DCC's own services (command variant 8): inventory (8.2, 8.3, 8.4, 12.2),
/// service opt-in (8.6), local command responses (8.13), communications hub status
/// updates (8.14.x), DCC schedules (5.1, 5.2, 5.3), firmware distribution records (11.1,
/// 11.4) and the WAN matrix (12.1). Requests that change state run one at a time:
/// check, commit, then apply to memory.
final class NonDeviceServices: Sendable {
    let inventory: Inventory
    let accessControl: AccessControl
    let store: any HubStore
    let committer: GroupCommitter
    let schedules: ScheduleBook
    let firmware: FirmwareBook
    let firmwareDirectory: URL
    let broker: BrokerCredentials
    /// The WAN model, whose coverage answers 12.1.
    let coverage: any WANCoverageSource
    private let lock = AsyncSerialLock()

    init(inventory: Inventory, accessControl: AccessControl, store: any HubStore, committer: GroupCommitter, schedules: ScheduleBook,
         firmware: FirmwareBook, firmwareDirectory: URL, broker: BrokerCredentials, coverage: any WANCoverageSource) {
        self.coverage = coverage
        self.inventory = inventory
        self.accessControl = accessControl
        self.store = store
        self.committer = committer
        self.schedules = schedules
        self.firmware = firmware
        self.firmwareDirectory = firmwareDirectory
        self.broker = broker
    }

    static let readOnly: Set<SRV> = ["8.2", "5.2", "12.1"]

    /// Runs the service and commits its changes together with `finalize`'s (the
    /// gateway's request record, counter and audit events for this outcome).
    func execute(_ request: NonDeviceRequest, finalize: @Sendable (Result<NonDeviceOutcome, Refusal>) -> [Mutation]) async throws -> Result<NonDeviceOutcome, Refusal> {
        var request = request
        if request.header.variant.srv == "8.13", let text = request.body.value("OriginalRequestID"), let original = RequestID(text) {
            request.original = try await store.request(id: original.description)
        }
        if Self.readOnly.contains(request.header.variant.srv) {
            let result = run(request)
            try await committer.commit(finalize(result))
            return result
        }
        return try await lock.withLock {
            var result = run(request)
            var mutations = finalize(result)
            if case .success(let outcome) = result { mutations += outcome.mutations }
            var attempts = 0
            while true {
                do {
                    try await committer.commit(mutations)
                    break
                } catch let error where attempts < 3 && (error is ScheduleIDTaken || error is RequestStatusConflict) {
                    // Another hub on the shared store numbered a schedule of its own so: read
                    // them again (IDs only rise) and number this one anew. Or the request an
                    // 8.13 completes was finished meanwhile: read it again.
                    attempts += 1
                    if error is ScheduleIDTaken { schedules.load(try await store.schedules()) }
                    if let original = request.original { request.original = try await store.request(id: original.requestID) }
                    result = run(request)
                    mutations = finalize(result)
                    if case .success(let outcome) = result { mutations += outcome.mutations }
                }
            }
            if case .success(let outcome) = result {
                inventory.apply(outcome.mutations)
                schedules.apply(outcome.mutations)
                firmware.apply(outcome.mutations)
            }
            return result
        }
    }

    private func run(_ request: NonDeviceRequest) -> Result<NonDeviceOutcome, Refusal> {
        do {
            return .success(try dispatch(request))
        } catch {
            return .failure(error)
        }
    }

    private func dispatch(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        switch request.header.variant.srv {
        case "8.2": return try readInventory(request)
        case "8.3": return try decommission(request)
        case "8.4": return try updateInventory(request)
        case "8.6": return try serviceOptIn(request)
        case "8.13": return try returnLocalCommandResponse(request)
        case "8.14.1": return try communicationsHubInstalled(request, withWAN: true)
        case "8.14.2": return try communicationsHubInstalled(request, withWAN: false)
        case "8.14.3": return try communicationsHubReturned(request, fault: true)
        case "8.14.4": return try communicationsHubReturned(request, fault: false)
        case "5.1": return try createSchedule(request)
        case "5.2": return try readSchedule(request)
        case "5.3": return try deleteSchedule(request)
        case "11.1": return try updateFirmware(request, ppmid: false)
        case "11.4": return try updateFirmware(request, ppmid: true)
        case "12.1": return try wanMatrix(request)
        case "12.2": return try prenotify(request)
        default:
            throw Refusal(.E12, rule: .nonDeviceService, "\(request.header.variant.srv) is not a DCC non-device service")
        }
    }

    // MARK: - Helpers

    private func eui(_ body: ElementTree, _ name: String) throws(Refusal) -> EUI64 {
        guard let text = body.value(name) else { throw Refusal(.E12, rule: .body, "\(body.name) needs \(name)") }
        guard let eui = EUI64(text) else { throw Refusal(.E19, rule: .deviceId, "\(name) \"\(text)\" is not an EUI-64") }
        return eui
    }

    private func deviceType(_ body: ElementTree) throws(Refusal) -> DeviceType {
        guard let text = body.value("DeviceType"), let type = DeviceType(rawValue: text) else {
            throw Refusal(.E12, rule: .body, "\(body.name) needs a DeviceType (ESME, GSME, CHF, GPF, HCALCS, PPMID, IHD or CAD)")
        }
        return type
    }

    private func existingDevice(_ eui: EUI64) throws(Refusal) -> DeviceRecord {
        guard let device = inventory.device(eui) else { throw Refusal(.E19, rule: .deviceExists, "device \(eui) is not in the inventory") }
        return device
    }

    /// Only the supplier responsible for a device may change it in the inventory: one
    /// registered, in a supplier role eligible for this request, for one of the device's
    /// MPANs or MPRNs at the time; or, for a device not yet associated with any, the party
    /// that notified it.
    private func requireResponsible(_ request: NonDeviceRequest, for device: DeviceRecord) throws(Refusal) {
        let supplierRoles = request.user.roles.intersection(request.header.variant.eligibleRoles).intersection([.is, .gs, .es])
        for role in supplierRoles where accessControl.authorisation(role: role, user: request.user.eui, device: device, at: request.received) != nil {
            return
        }
        if inventory.accessMPxNs(for: device).isEmpty, let notifier = device.notifiedBy, notifier == request.user.eui { return }
        throw Refusal(.E4, rule: .responsibleSupplier,
                      "only the supplier responsible for \(device.type.rawValue) \(device.eui) (registered for its MPAN or MPRN, or the party that notified it) may change it; \(request.user.eui) is not")
    }

    private func requireRegistered(_ request: NonDeviceRequest, mpxn: String) throws(Refusal) {
        let registered = inventory.registrations(mpxn: mpxn).contains { $0.party == request.user.eui && $0.covers(request.received) && [.is, .gs, .es].contains($0.role) }
        guard registered else {
            throw Refusal(.E4, rule: .mpxnRegistration, "user \(request.user.eui) is not the registered supplier of \(mpxn) at \(request.received.iso8601)")
        }
    }

    /// The most devices one party may have pending (added to the inventory, not yet at a
    /// premises): what a user may add that nothing else bounds.
    static let maxPendingDevices = 10_000

    private func requirePendingRoom(_ request: NonDeviceRequest) throws(Refusal) {
        let pending = inventory.pendingDevices(notifiedBy: request.user.eui)
        guard pending < Self.maxPendingDevices else {
            throw Refusal(.E12, rule: .pendingDeviceLimit, "\(request.user.eui) already has \(pending) pending devices in the inventory, the most gbsm keeps for one party; install or delete some first")
        }
    }

    private func event(_ request: NonDeviceRequest, device: EUI64, kind: String, _ detail: String) -> Mutation {
        .deviceEvent(DeviceEventRecord(device: device, at: request.received, kind: kind, requestID: request.header.requestID.description, detail: detail))
    }

    // MARK: - 8.2 Read Inventory

    private func readInventory(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        var found: [DeviceRecord] = []
        var query = ""
        if let text = body.value("DeviceID") {
            guard let eui = EUI64(text) else { throw Refusal(.E19, rule: .deviceId, "DeviceID \"\(text)\" is not an EUI-64") }
            let device = try existingDevice(eui)
            found = device.premises.map { inventory.devices(atPremises: $0) } ?? [device]
            query = "DeviceID \(eui)"
        } else if let mpxn = body.value("MPxN") {
            if let premises = inventory.premises(mpxn: mpxn) { found = inventory.devices(atPremises: premises.id) } else { found = inventory.devices(mpxn: mpxn) }
            query = "MPxN \(mpxn)"
        } else if let uprnText = body.value("UPRN") {
            guard let uprn = Int64(uprnText), let premises = inventory.premises(uprn: uprnText.isEmpty ? -1 : uprn) else {
                throw Refusal(.E19, rule: .inventoryQuery, "no premises with UPRN \(uprnText)")
            }
            found = inventory.devices(atPremises: premises.id)
            query = "UPRN \(uprnText)"
        } else if let filter = body.child("PropertyFilter"), let postcode = filter.value("PostCode") {
            let address = filter.value("AddressIdentifier")
            found = inventory.premises(postcode: postcode, addressIdentifier: address).flatMap { inventory.devices(atPremises: $0.id) }
            query = "PostCode \(postcode)" + (address.map { ", \($0)" } ?? "")
        } else {
            throw Refusal(.E12, rule: .body, "ReadInventory needs one of DeviceID, MPxN, UPRN or PropertyFilter")
        }
        guard !found.isEmpty else { throw Refusal(.E19, rule: .inventoryQuery, "no devices found for \(query)") }
        let devices = Array(found.prefix(17))
        let premisesByID = Dictionary(uniqueKeysWithValues: Set(devices.compactMap(\.premises)).compactMap { id in inventory.premises(id).map { (id, $0) } })
        return NonDeviceOutcome(payload: { writer in
            writer.open("sr:DSPInventory")
            for device in devices {
                writer.open("sr:Device")
                writer.element("sr:DeviceID", device.eui.description)
                writer.element("sr:DeviceType", device.type.rawValue)
                writer.element("sr:DeviceStatus", device.status.rawValue)
                writer.element("sr:DeviceManufacturer", device.manufacturer)
                writer.element("sr:DeviceModel", device.model)
                if let value = device.smetsCHTSVersion { writer.element("sr:SMETSCHTSVersion", value) }
                if let value = device.firmwareVersion {
                    writer.element("sr:DeviceFirmwareVersion", value)
                    writer.element("sr:DeviceFirmwareVersionStatus", "Active")
                }
                if let value = device.dateCommissioned { writer.element("sr:DateCommissioned", value.isoDate) }
                if let value = device.importMPxN { writer.element("sr:ImportMPxN", value) }
                if let value = device.secondaryImportMPAN { writer.element("sr:SecondaryImportMPAN", value) }
                if let value = device.exportMPAN { writer.element("sr:ExportMPAN", value) }
                if let value = device.esmeVariant { writer.element("sr:ESMEVariant", value) }
                if let id = device.premises, let premises = premisesByID[id] {
                    if let uprn = premises.uprn { writer.element("sr:UPRN", String(uprn)) }
                    writer.open("sr:PropertyFilter")
                    writer.element("sr:PostCode", premises.postcode)
                    writer.element("sr:AddressIdentifier", premises.addressIdentifier)
                    writer.close()
                    writer.element("sr:CSPRegion", premises.region.rawValue)
                }
                if let value = device.gbcsVersion { writer.element("sr:DeviceGBCSVersion", value) }
                if let value = device.hanVariant { writer.element("sr:HANVariant", value) }
                writer.close()
            }
            writer.close()
        }, note: "\(devices.count) device(s) for \(query)")
    }

    // MARK: - 8.3 Decommission Device

    private func decommission(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        var device = try existingDevice(try eui(request.body, "DeviceID"))
        try requireResponsible(request, for: device)
        guard [.commissioned, .installedNotCommissioned, .whitelisted].contains(device.status) else {
            throw Refusal(.E5, rule: .deviceStatus, "device \(device.eui) is \(device.status.rawValue); only installed or commissioned devices can be decommissioned")
        }
        let previous = device.status
        device.status = .decommissioned
        return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: device.eui, kind: "decommissioned", "status \(previous.rawValue) → Decommissioned")],
                                note: "\(device.type.rawValue) \(device.eui) decommissioned")
    }

    // MARK: - 8.4 Update Inventory

    private func updateInventory(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        var device = try existingDevice(try eui(body, "DeviceID"))
        try requireResponsible(request, for: device)
        if body.child("DeleteDevice") != nil {
            guard [.pending, .whitelisted, .installedNotCommissioned, .decommissioned, .withdrawn].contains(device.status) else {
                throw Refusal(.E5, rule: .deviceStatus, "device \(device.eui) is \(device.status.rawValue); decommission or withdraw it before deleting it from the inventory")
            }
            return NonDeviceOutcome(mutations: [.deleteDevice(device.eui), event(request, device: device.eui, kind: "deleted", "removed from the inventory (was \(device.status.rawValue))")],
                                    note: "\(device.eui) deleted from the inventory")
        }
        if let status = body.value("UpdateDeviceStatusExceptCH") {
            guard device.type != .chf, device.type != .gpf else {
                throw Refusal(.E11, rule: .deviceType, "use UpdateDeviceStatusCH for communications hub \(device.eui)")
            }
            guard let next = DeviceStatus(rawValue: status), [.pending, .installedNotCommissioned].contains(next) else {
                throw Refusal(.E12, rule: .body, "UpdateDeviceStatusExceptCH must be Pending or InstalledNotCommissioned")
            }
            guard [.pending, .whitelisted, .installedNotCommissioned].contains(device.status) else {
                throw Refusal(.E5, rule: .deviceStatus, "device \(device.eui) is \(device.status.rawValue); its status can no longer be set by Update Inventory")
            }
            let previous = device.status
            device.status = next
            return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: device.eui, kind: "status", "\(previous.rawValue) → \(next.rawValue)")],
                                    note: "\(device.eui) status \(next.rawValue)")
        }
        if let status = body.value("UpdateDeviceStatusCH") {
            guard device.type == .chf else { throw Refusal(.E11, rule: .deviceType, "UpdateDeviceStatusCH applies to a CHF, not \(device.type.rawValue)") }
            guard let next = DeviceStatus(rawValue: status), [.commissioned, .withdrawn, .installedNotCommissioned].contains(next) else {
                throw Refusal(.E12, rule: .body, "UpdateDeviceStatusCH must be Commissioned, Withdrawn or InstalledNotCommissioned")
            }
            let previous = device.status
            device.status = next
            if next == .commissioned && device.dateCommissioned == nil { device.dateCommissioned = request.received }
            return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: device.eui, kind: "status", "\(previous.rawValue) → \(next.rawValue)")],
                                    note: "\(device.eui) status \(next.rawValue)")
        }
        if let details = body.child("UpdateDeviceDetails") {
            if let value = details.value("DeviceManufacturer") { device.manufacturer = value }
            if let value = details.value("DeviceModel") { device.model = value }
            if let value = details.value("SMETSCHTSVersion") { device.smetsCHTSVersion = value }
            if let value = details.value("FirmwareVersion") { device.firmwareVersion = value }
            if let value = details.value("ESMEVariant") {
                guard device.type == .esme else { throw Refusal(.E11, rule: .deviceType, "ESMEVariant applies to an ESME only") }
                device.esmeVariant = value
            }
            return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: device.eui, kind: "details", "details updated")],
                                    note: "\(device.eui) details updated")
        }
        if let update = body.child("UpdateMPxN") {
            guard device.type == .esme || device.type == .gsme else {
                throw Refusal(.E11, rule: .deviceType, "MPxNs belong to meters, not to \(device.type.rawValue)")
            }
            // The supplier may only associate the meter with MPxNs it is registered for.
            if let value = update.value("ImportMPxN") {
                try requireRegistered(request, mpxn: value)
                device.importMPxN = value
            }
            if let value = update.value("SecondaryImportMPAN") {
                try requireRegistered(request, mpxn: value)
                device.secondaryImportMPAN = value
            }
            if let value = update.value("ExportMPAN") {
                try requireRegistered(request, mpxn: value)
                device.exportMPAN = value
            }
            return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: device.eui, kind: "mpxn", "MPxN updated")],
                                    note: "\(device.eui) MPxN updated")
        }
        throw Refusal(.E12, rule: .body, "UpdateInventory needs one of UpdateDeviceStatusExceptCH, UpdateDeviceStatusCH, UpdateDeviceDetails, DeleteDevice or UpdateMPxN")
    }

    // MARK: - 8.6 Service Opt In

    private func serviceOptIn(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        let deviceID = try eui(body, "DeviceID")
        let type = try deviceType(body)
        guard let mpxns = body.child("MPxNs"), let importMPxN = mpxns.value("ImportMPxN") else {
            throw Refusal(.E12, rule: .body, "ServiceOptIn needs MPxNs/ImportMPxN")
        }
        // Every MPxN the device will be associated with, not only the import one: the
        // inventory finds premises (and the portal finds households) by any of them.
        let secondaryImportMPAN = mpxns.value("SecondaryImportMPAN")
        let exportMPAN = mpxns.value("ExportMPAN")
        for mpxn in [importMPxN, secondaryImportMPAN, exportMPAN].compactMap({ $0 }) {
            try requireRegistered(request, mpxn: mpxn)
        }
        var mutations: [Mutation] = []
        if var device = inventory.device(deviceID) {
            guard device.type == type else {
                throw Refusal(.E11, rule: .deviceType, "device \(deviceID) is a \(device.type.rawValue), not a \(type.rawValue)")
            }
            try requireResponsible(request, for: device)
            if let current = device.importMPxN, current != importMPxN {
                throw Refusal(.E4, rule: .mpxnRegistration, "device \(deviceID) is associated with \(current), not \(importMPxN)")
            }
            device.importMPxN = importMPxN
            device.secondaryImportMPAN = secondaryImportMPAN ?? device.secondaryImportMPAN
            device.exportMPAN = exportMPAN ?? device.exportMPAN
            device.optedOut = false
            mutations.append(.putDevice(device))
        } else {
            let premises = inventory.premises(mpxn: importMPxN)?.id
            if premises == nil { try requirePendingRoom(request) }
            mutations.append(.putDevice(DeviceRecord(eui: deviceID, type: type, status: .pending, premises: premises, manufacturer: "Unknown", model: "Unknown",
                                                     importMPxN: importMPxN, secondaryImportMPAN: secondaryImportMPAN, exportMPAN: exportMPAN,
                                                     notifiedBy: request.user.eui)))
        }
        let optInDate = body.value("OptInDate") ?? request.received.isoDate
        mutations.append(event(request, device: deviceID, kind: "opt-in", "opted in to DCC services from \(optInDate) for \(importMPxN)"))
        let broker = self.broker
        guard broker.keyAgreement != nil else {
            throw Refusal(.E5, rule: .brokerCredentials, "this hub's keystore holds no access control broker key agreement certificate")
        }
        return NonDeviceOutcome(payload: { writer in
            writer.open("sr:DSPOptIn")
            writer.element("sr:DeviceID", deviceID.description)
            if let signing = broker.digitalSigning { writer.element("sr:DSPBrokerSecurityCredentialsDigitalSigning", encodeBase64(signing)) }
            if let agreement = broker.keyAgreement { writer.element("sr:DSPBrokerSecurityCredentialsKeyAgreement", encodeBase64(agreement)) }
            writer.close()
        }, mutations: mutations, note: "\(type.rawValue) \(deviceID) opted in")
    }

    // MARK: - 8.13 Return Local Command Response

    private func returnLocalCommandResponse(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        guard let payloadText = body.value("DeviceGBCSResponse"), let payload = decodeBase64(payloadText), !payload.isEmpty else {
            throw Refusal(.E12, rule: .body, "ReturnLocalCommandResponse needs a base64 DeviceGBCSResponse")
        }
        var mutations: [Mutation] = []
        var note = "device response of \(payload.count) octets recorded"
        if let originalText = body.value("OriginalRequestID") {
            guard let original = RequestID(originalText) else { throw Refusal(.E12, rule: .body, "OriginalRequestID \"\(originalText)\" is not a RequestID") }
            guard original.originator == request.user.eui else {
                throw Refusal(.E4, rule: .originalRequest, "OriginalRequestID \(original) was not sent by \(request.user.eui)")
            }
            let digest = AuditChain.hex(Array(SHA256.hash(data: payload)))
            // A request sent for local delivery (command variant 2 or 3, or a signed
            // pre-command for local delivery) is completed by its device's response.
            if let stored = request.original, stored.originator == request.user.eui, [2, 3, 6, 7].contains(stored.commandVariant),
               stored.status == .awaitingDevice || stored.status == .scheduled {
                mutations.append(.setRequestStatus(requestID: stored.requestID, status: .completed, code: "I0"))
                note += " for \(original), which is now completed"
            } else {
                note += " for \(original), which this hub is not holding for local delivery (the response is recorded, no request is changed)"
            }
            mutations.append(event(request, device: original.target, kind: "local-command-response",
                                   "device response for \(original), \(payload.count) octets, SHA-256 \(digest)"))
        }
        return NonDeviceOutcome(mutations: mutations, note: note)
    }

    // MARK: - 8.14 Communications Hub Status Update

    private func communicationsHubInstalled(_ request: NonDeviceRequest, withWAN: Bool) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        var hub = try existingDevice(try eui(body, "DeviceID"))
        guard hub.type == .chf else { throw Refusal(.E11, rule: .deviceType, "\(hub.eui) is a \(hub.type.rawValue), not a communications hub function") }
        guard [.pending, .whitelisted, .installedNotCommissioned, .commissioned].contains(hub.status) else {
            throw Refusal(.E5, rule: .deviceStatus, "communications hub \(hub.eui) is \(hub.status.rawValue) and cannot be installed")
        }
        guard let mpxn = body.value("MPxN") else { throw Refusal(.E12, rule: .body, "the installation needs the MPxN of the premises") }
        try requireRegistered(request, mpxn: mpxn)
        try requireResponsible(request, for: hub)
        let mpxnPremises = inventory.premises(mpxn: mpxn)?.id
        if let current = hub.premises, let mpxnPremises, current != mpxnPremises {
            throw Refusal(.E4, rule: .chPremises, "communications hub \(hub.eui) is installed at another premises than \(mpxn)")
        }
        let premises = mpxnPremises ?? hub.premises
        let previous = hub.status
        hub.status = withWAN ? .commissioned : .installedNotCommissioned
        hub.premises = premises
        if withWAN && hub.dateCommissioned == nil { hub.dateCommissioned = request.received }
        var mutations: [Mutation] = [.putDevice(hub)]
        if let premises {
            for var gpf in inventory.devices(atPremises: premises) where gpf.type == .gpf && gpf.status != .decommissioned && gpf.status != .withdrawn {
                gpf.status = hub.status
                mutations.append(.putDevice(gpf))
            }
        }
        let details = ["CHFInstallType", "InstallDateTime", "CHFLocation", "AerialInstall", "PremiseType", "AdditionalInformation"]
            .compactMap { name in body.value(name).map { "\(name)=\($0)" } }.joined(separator: "; ")
        mutations.append(event(request, device: hub.eui, kind: "ch-install", "SM WAN: \(withWAN ? "yes" : "no"); MPxN \(mpxn); \(previous.rawValue) → \(hub.status.rawValue); \(details)"))
        return NonDeviceOutcome(mutations: mutations, note: "communications hub \(hub.eui) installed \(withWAN ? "with" : "without") SM WAN")
    }

    private func communicationsHubReturned(_ request: NonDeviceRequest, fault: Bool) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        var hub = try existingDevice(try eui(body, "DeviceID"))
        guard hub.type == .chf else { throw Refusal(.E11, rule: .deviceType, "\(hub.eui) is a \(hub.type.rawValue), not a communications hub function") }
        guard hub.status != .withdrawn, hub.status != .decommissioned else {
            throw Refusal(.E5, rule: .deviceStatus, "communications hub \(hub.eui) is already \(hub.status.rawValue)")
        }
        try requireResponsible(request, for: hub)
        let previous = hub.status
        hub.status = .withdrawn
        var mutations: [Mutation] = [.putDevice(hub)]
        if let premises = hub.premises {
            for var gpf in inventory.devices(atPremises: premises) where gpf.type == .gpf && gpf.status != .decommissioned {
                gpf.status = .withdrawn
                mutations.append(.putDevice(gpf))
            }
        }
        let fields = fault ? ["CHFFaultReturnType", "CHFFaultReason", "CHFConnectionMethod", "OtherDeviceID", "IncidentReference", "AdditionalInformation"]
            : ["CHFNoFaultReturnType", "IncidentReference", "AdditionalInformation"]
        let details = fields.compactMap { name in body.value(name).map { "\(name)=\($0)" } }.joined(separator: "; ")
        mutations.append(event(request, device: hub.eui, kind: fault ? "ch-fault-return" : "ch-no-fault-return", "\(previous.rawValue) → Withdrawn; \(details)"))
        return NonDeviceOutcome(mutations: mutations, note: "communications hub \(hub.eui) returned (\(fault ? "fault" : "no fault"))")
    }

    // MARK: - 5.x DCC schedules

    /// The most DCC schedules one user may keep for one device (DUIS's Read Schedule
    /// answers at most 99).
    static let maxSchedulesPerDevice = 99

    private func createSchedule(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        guard let frequency = body.value("ScheduleFrequency").flatMap(ScheduleFrequency.init(rawValue:)) else {
            throw Refusal(.E12, rule: .body, "ScheduleFrequency must be one of \(ScheduleFrequency.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let start = body.date("ScheduleStartDate") else {
            throw Refusal(.E12, rule: .body, "ScheduleStartDate must be an xs:date")
        }
        var end: CalendarDay?
        if body.value("ScheduleEndDate") != nil {
            guard let value = body.date("ScheduleEndDate"), value >= start else {
                throw Refusal(.E12, rule: .body, "ScheduleEndDate must be an xs:date on or after the start date")
            }
            end = value
        }
        var executionTime: TimeOfDay?
        if body.value("ScheduleExecutionStartTime") != nil {
            guard let value = body.time("ScheduleExecutionStartTime") else {
                throw Refusal(.E12, rule: .body, "ScheduleExecutionStartTime must be an xs:time (hh:mm:ss[.fff][Z])")
            }
            executionTime = value
        }
        guard frequency.nextRun(start: start, end: end, time: executionTime ?? .midnight, after: request.received) != nil else {
            throw Refusal(.E12, rule: .body, "the schedule would never run: it ends (\(end?.isoDate ?? "-")) before its next run after \(request.received.iso8601)")
        }
        guard let srvText = body.value("DSPScheduledServiceReferenceVariant"), let scheduled = ServiceCatalogue.variant(text: srvText), scheduled.isDCCSchedulable else {
            throw Refusal(.E12, rule: .dccSchedulable, "DSPScheduledServiceReferenceVariant must be a DCC-schedulable request (4.6.1, 4.6.2, 4.8.x, 4.10, 4.12.x, 4.14 to 4.17, 14.1)")
        }
        guard body.value("DSPScheduledServiceReference") == scheduled.serviceReference else {
            throw Refusal(.E12, rule: .body, "DSPScheduledServiceReference does not match \(scheduled.srv)")
        }
        let eligible = request.user.roles.intersection(scheduled.eligibleRoles)
        guard !eligible.isEmpty else {
            throw Refusal(.E2, rule: .roleEligibility, "\(scheduled.srv) \(scheduled.name) may be sent by \(scheduled.eligibleRoles.codes); user \(request.user.eui) holds \(request.user.roles.codes)")
        }
        let device = try existingDevice(try eui(body, "DeviceID"))
        guard scheduled.deviceTypes.contains(device.type) else {
            throw Refusal(.E11, rule: .deviceType, "\(scheduled.srv) does not apply to \(device.type.rawValue) \(device.eui)")
        }
        guard eligible.contains(where: { accessControl.authorisation(role: $0, user: request.user.eui, device: device, at: request.received) != nil }) else {
            throw Refusal(.E4, rule: .deviceAuthorisation, "user \(request.user.eui) is not authorised for \(device.type.rawValue) \(device.eui)")
        }
        guard schedules.active(device: device.eui, owner: request.user.eui).count < Self.maxSchedulesPerDevice else {
            throw Refusal(.E12, rule: .scheduleLimit, "user \(request.user.eui) already has \(Self.maxSchedulesPerDevice) DCC schedules for \(device.eui); delete one (5.3) first")
        }
        // The read's parameters: the choice named after the scheduled SRV, with its offsets
        // and times. What is kept (and echoed by 5.2) is the schedule as gbsm read it, in
        // canonical form: a few hundred octets, whatever else the request carried.
        let choice = "DSP" + scheduled.expectedBody(for: .nonCriticalWAN)
        let parameters = body.children.filter { $0.name.hasPrefix("DSP") && !$0.name.hasPrefix("DSPScheduled") }
        guard parameters.count <= 1, parameters.first.map({ $0.name == choice }) ?? true else {
            throw Refusal(.E12, rule: .body, "the schedule's read must be \(choice) for \(scheduled.srv), found \(parameters.map { untrusted($0.name, limit: 40) }.joined(separator: ", "))")
        }
        var details = CanonicalXMLWriter()
        details.element("sr:ScheduleFrequency", frequency.rawValue)
        details.element("sr:ScheduleStartDate", start.isoDate)
        if let end { details.element("sr:ScheduleEndDate", end.isoDate) }
        if let executionTime { details.element("sr:ScheduleExecutionStartTime", executionTime.xsTime) }
        details.element("sr:DSPScheduledServiceReference", scheduled.serviceReference)
        details.element("sr:DSPScheduledServiceReferenceVariant", scheduled.srv.text)
        details.element("sr:DeviceID", device.eui.description)
        details.open("sr:" + choice)
        if let read = parameters.first {
            for name in ["StartDateOffset", "StartTime", "EndDateOffset", "EndTime"] {
                if name.hasSuffix("Offset"), let offset = read.integer(name, in: -400...0) { details.element("sr:" + name, String(offset)) }
                if name.hasSuffix("Time"), let time = read.time(name) { details.element("sr:" + name, time.xsTime) }
            }
        }
        details.close()
        let id = schedules.allocateID()
        let record = ScheduleRecord(id: id, owner: request.user.eui, device: device.eui, srv: scheduled.srv.text, frequency: frequency, startDate: start,
                                    endDate: end, executionTime: executionTime, definition: details.finish(), createdAt: request.received)
        return NonDeviceOutcome(payload: { writer in writer.element("sr:DSPScheduleID", String(id)) },
                                // Other hubs on a shared store load the schedule when the version moves.
                                mutations: [.putSchedule(record), .bumpRegistryVersion], note: "schedule \(id): \(frequency.rawValue) \(scheduled.srv) on \(device.eui) from \(start.isoDate)")
    }

    private func ownedSchedules(_ request: NonDeviceRequest) throws(Refusal) -> [ScheduleRecord] {
        let body = request.body
        if let idText = body.value("DSPScheduleID") {
            guard let id = Int64(idText), let schedule = schedules.schedule(id), schedule.deletedAt == nil else {
                throw Refusal(.E19, rule: .scheduleExists, "no active DCC schedule \(idText)")
            }
            guard schedule.owner == request.user.eui else {
                throw Refusal(.E4, rule: .scheduleOwner, "DCC schedule \(idText) belongs to another user")
            }
            return [schedule]
        }
        let device = try eui(body, "DeviceID")
        let found = schedules.active(device: device, owner: request.user.eui)
        guard !found.isEmpty else { throw Refusal(.E19, rule: .scheduleExists, "no active DCC schedules of \(request.user.eui) for \(device)") }
        return found
    }

    private func readSchedule(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let found = Array(try ownedSchedules(request).prefix(99))
        return NonDeviceOutcome(payload: { writer in
            writer.open("sr:DSPSchedulesRead")
            for schedule in found {
                writer.open("sr:DSPSchedules")
                writer.element("sr:DSPScheduleID", String(schedule.id))
                writer.open("sr:DSPScheduleDetails")
                writer.raw(schedule.definition)
                writer.close()
                writer.close()
            }
            writer.close()
        }, note: "\(found.count) schedule(s) read")
    }

    private func deleteSchedule(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let found = try ownedSchedules(request)
        return NonDeviceOutcome(mutations: found.map { .deleteSchedule(id: $0.id, at: request.received) } + [.bumpRegistryVersion],
                                note: "deleted schedule(s) \(found.map { String($0.id) }.joined(separator: ", "))")
    }

    // MARK: - 11.1 / 11.4 firmware distribution

    static let maxFirmwareImage = 10_240_000

    private func updateFirmware(_ request: NonDeviceRequest, ppmid: Bool) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        guard let imageText = body.value("FirmwareImage"), let image = decodeBase64(imageText), !image.isEmpty else {
            throw Refusal(.E12, rule: .body, "FirmwareImage must be base64")
        }
        guard image.count <= Self.maxFirmwareImage else {
            throw Refusal(.E12, rule: .body, "FirmwareImage exceeds \(Self.maxFirmwareImage) octets")
        }
        guard let version = body.value("FirmwareVersion"), (1...8).contains(version.count) else {
            throw Refusal(.E12, rule: .body, "FirmwareVersion must be 1 to 8 characters")
        }
        guard let list = body.value("DeviceIDList"), !list.isEmpty else { throw Refusal(.E12, rule: .body, "DeviceIDList is empty") }
        // Linear in the list (DUIS allows about 50,000 IDs): this runs while other users'
        // inventory changes wait.
        var listed: [EUI64] = []
        var seen = Set<EUI64>()
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            guard let eui = EUI64(item) else {
                throw Refusal(.E12, rule: .body, "DeviceIDList entry \(untrusted(item, limit: 40)) is not an EUI-64")
            }
            if seen.insert(eui).inserted { listed.append(eui) }
        }
        var invalid: [String] = [], notCommissioned: [String] = [], inProgress: [String] = [], accepted: [EUI64] = []
        for eui in listed {
            guard let device = inventory.device(eui) else {
                invalid.append(eui.description)
                continue
            }
            let applicable = ppmid ? device.type == .ppmid : [.esme, .gsme, .chf, .gpf, .hcalcs].contains(device.type)
            guard applicable, (try? requireResponsible(request, for: device)) != nil else {
                invalid.append(device.eui.description)
                continue
            }
            guard device.status == .commissioned else {
                notCommissioned.append(device.eui.description)
                continue
            }
            if firmware.distribution(for: eui) != nil {
                inProgress.append(device.eui.description)
                continue
            }
            accepted.append(eui)
        }
        let digest = AuditChain.hex(Array(SHA256.hash(data: image)))
        let warnings: [(String, [String])] = [("InvalidDeviceIDList", invalid), ("NotCommissionedDeviceIDList", notCommissioned),
                                              ("OtherRequestInProgressList", inProgress)].filter { !$0.1.isEmpty }
        let element = ppmid ? "sr:DSPUpdatePPMIDFirmwareWarning" : "sr:DSPUpdateFirmwareWarning"
        var payload: (@Sendable (inout CanonicalXMLWriter) -> Void)?
        if !warnings.isEmpty {
            payload = { writer in
                writer.open(element)
                for (name, devices) in warnings { writer.element("sr:" + name, devices.joined(separator: ",")) }
                writer.close()
            }
        }
        let summary = warnings.map { "\($0.0)=\($0.1.count)" }.joined(separator: ", ")
        guard !accepted.isEmpty else {
            // Nothing to distribute to: the image is not kept, nothing is recorded.
            return NonDeviceOutcome(payload: payload, mutations: [],
                                    note: "firmware \(version), \(image.count) octets, accepted for no device, so not stored; warnings: \(summary)")
        }
        let file = firmwareDirectory.appendingPathComponent("\(digest).bin")
        do {
            try FileManager.default.createDirectory(at: firmwareDirectory, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: file.path) { try Data(image).write(to: file, options: .atomic) }
        } catch {
            throw Refusal(.E12, rule: .firmwareStore, "the firmware image could not be stored: \(error.localizedDescription)")
        }
        let srv = ppmid ? "11.4" : "11.1"
        let record = FirmwareRecord(requestID: request.header.requestID.description, owner: request.user.eui, srv: srv, version: version,
                                    imageSHA256: digest, imageSize: image.count, devices: accepted, createdAt: request.received)
        var mutations: [Mutation] = [.putFirmware(record)]
        for device in accepted {
            mutations.append(event(request, device: device, kind: "firmware", "firmware \(version) (\(image.count) octets, SHA-256 \(digest)) awaiting distribution"))
        }
        return NonDeviceOutcome(payload: payload, mutations: mutations,
                                note: "firmware \(version), \(image.count) octets, for \(accepted.count) device(s)" + (summary.isEmpty ? "" : "; warnings: \(summary)"))
    }

    // MARK: - 12.1 Request WAN Matrix

    private func wanMatrix(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        var postcode: String
        var premisesList: [PremisesRecord]
        if let uprnText = body.value("UPRN") {
            guard let uprn = Int64(uprnText), let premises = inventory.premises(uprn: uprn) else {
                throw Refusal(.E19, rule: .wanMatrixAddress, "UPRN \(uprnText) is not known to DCC; give the postcode instead")
            }
            postcode = premises.postcode
            premisesList = [premises]
        } else if let partial = body.child("PartialAddress"), let code = partial.value("PostCode") {
            postcode = code
            premisesList = inventory.premises(postcode: code, addressIdentifier: nil)
        } else {
            throw Refusal(.E12, rule: .body, "RequestWANMatrix needs UPRN or PartialAddress")
        }
        guard let area = LicenceArea.area(postcode: postcode) else {
            throw Refusal(.E19, rule: .wanMatrixAddress, "postcode \(postcode) is not in a GB postcode area DCC serves")
        }
        // The CSP's coverage at this postcode, then what DCC has seen there:
        // communications hubs installed with and without a SM WAN connection.
        let region = area.region
        let coverage = self.coverage.coverage(postcode: postcode, region: region, at: request.received)
        var withWAN = 0, withoutWAN = 0
        for premises in premisesList {
            for device in inventory.devices(atPremises: premises.id) where device.type == .chf {
                if device.status == .commissioned { withWAN += 1 } else if device.status == .installedNotCommissioned { withoutWAN += 1 }
            }
        }
        var available = coverage.available
        var likelihood = coverage.likelihood
        var anticipated = coverage.anticipated
        var auxiliary = coverage.auxiliaryEquipment
        var information = "\(area.name) licence area; \(coverage.technology) coverage model"
        switch (withWAN, withoutWAN) {
        case (0, 0):
            information += "; no communications hub installed at this postcode yet"
        case (_, 0):
            // A hub already on the SM WAN here is the best evidence there is.
            available = true
            likelihood = .high
            anticipated = nil
            auxiliary = nil
            information += "; \(withWAN) communications hub(s) at this postcode connected to the SM WAN"
        case (0, _):
            available = false
            likelihood = .low
            information += "; \(withoutWAN) communications hub(s) at this postcode installed without SM WAN"
        default:
            information += "; \(withWAN) hub(s) connected and \(withoutWAN) without SM WAN at this postcode"
        }
        let echo = body
        let answer = (available: available, anticipated: anticipated, likelihood: likelihood, auxiliary: auxiliary, information: information)
        return NonDeviceOutcome(payload: { writer in
            let (available, anticipated, likelihood, auxiliary, information) = answer
            writer.open("sr:DSPWANMatrix")
            var request = echo
            request.name = "Request"
            request.write(to: &writer, prefix: "sr")
            writer.open("sr:DSPWANMatrixResponse")
            writer.element("sr:CSPRegion", region.rawValue)
            writer.element("sr:CSPRegionResponseCode", "I0")
            writer.element("sr:CoverageAvailability", available ? "true" : "false")
            if !available, let anticipated { writer.element("sr:AnticipatedCoverageDate", anticipated.isoDate) }
            writer.element("sr:WANTechnology", coverage.technology)
            writer.element("sr:ConnectivityLikelihood", likelihood.rawValue)
            if let auxiliary { writer.element("sr:AuxiliaryEquipmentRequired", auxiliary) }
            writer.element("sr:AdditionalInformation", String(information.prefix(250)))
            writer.close()
            writer.close()
        }, note: "\(postcode): \(region.rawValue), available \(answer.available), likelihood \(answer.likelihood.rawValue)")
    }

    // MARK: - 12.2 Device Pre-notification

    private func prenotify(_ request: NonDeviceRequest) throws(Refusal) -> NonDeviceOutcome {
        let body = request.body
        let deviceID = try eui(body, "DeviceID")
        let type = try deviceType(body)
        guard let manufacturer = body.value("DeviceManufacturer"), let model = body.value("DeviceModel") else {
            throw Refusal(.E12, rule: .body, "DevicePrenotification needs DeviceManufacturer and DeviceModel")
        }
        if let esmeVariant = body.value("ESMEVariant"), type != .esme {
            throw Refusal(.E11, rule: .deviceType, "ESMEVariant \(esmeVariant) applies to an ESME only")
        }
        var device: DeviceRecord
        var note: String
        if var existing = inventory.device(deviceID) {
            guard existing.type == type else {
                throw Refusal(.E11, rule: .deviceType, "device \(deviceID) is already in the inventory as a \(existing.type.rawValue)")
            }
            guard existing.status != .decommissioned, existing.status != .withdrawn else {
                throw Refusal(.E5, rule: .deviceStatus, "device \(deviceID) is \(existing.status.rawValue)")
            }
            try requireResponsible(request, for: existing)
            existing.manufacturer = manufacturer
            existing.model = model
            existing.smetsCHTSVersion = body.value("SMETSCHTSVersion") ?? existing.smetsCHTSVersion
            existing.firmwareVersion = body.value("FirmwareVersion") ?? existing.firmwareVersion
            existing.esmeVariant = body.value("ESMEVariant") ?? existing.esmeVariant
            device = existing
            note = "\(type.rawValue) \(deviceID) was already in the inventory (\(existing.status.rawValue)); details updated"
        } else {
            try requirePendingRoom(request)
            device = DeviceRecord(eui: deviceID, type: type, status: .pending, premises: nil, manufacturer: manufacturer, model: model,
                                  smetsCHTSVersion: body.value("SMETSCHTSVersion"), firmwareVersion: body.value("FirmwareVersion"),
                                  esmeVariant: body.value("ESMEVariant"), notifiedBy: request.user.eui)
            note = "\(type.rawValue) \(deviceID) added to the inventory as Pending"
        }
        return NonDeviceOutcome(mutations: [.putDevice(device), event(request, device: deviceID, kind: "prenotification", note)], note: note)
    }
}
