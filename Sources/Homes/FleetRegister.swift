import Devices
import DUIS
import Hub
import Storage

/// The registers' view of an emulated fleet (`FleetRecords`): what DCC's inventory, the
/// MPxN registrations and the network operators' topology hold of its premises, derived on
/// demand from the fleet's layout, never its households.
public struct FleetRegister: FleetRecords {
    public let fleet: Fleet
    public let deviceCount: Int

    /// The UPRNs of a fleet's premises begin here.
    static let uprnBase: Int64 = 10_000_000_000
    /// Network operators' registrations run from here (suppliers' from installation).
    static let registrationsFrom = Timestamp(year: 2000, month: 1, day: 1)

    public init(_ fleet: Fleet) {
        self.fleet = fleet
        var devices = 0
        for traits in fleet.traits { devices += 2 + (traits.hasGasMeter ? 2 : 0) + (traits.hasIHD ? 1 : 0) + (traits.hasPPMID ? 1 : 0) + (traits.hasHCALCS ? 1 : 0) + traits.cadCount }
        deviceCount = devices
    }

    public var count: Int { fleet.count }
    public var seed: UInt64 { fleet.spec.seed }

    public func premisesID(_ index: Int) -> Int64 { Fleet.premisesIDBase + Int64(index) }
    public func index(premisesID: Int64) -> Int? { fleet.index(premisesID: premisesID) }
    public func index(mpxn: String) -> Int? { mpxn.utf8.count == 13 ? fleet.index(mpan: mpxn) : fleet.index(mprn: mpxn) }
    public func index(uprn: Int64) -> Int? {
        guard uprn >= Self.uprnBase, uprn - Self.uprnBase < Int64(fleet.count) else { return nil }
        return Int(uprn - Self.uprnBase)
    }
    public func indices(postcode: String) -> Range<Int>? { fleet.indices(postcode: postcode) }
    public func isFleetDevice(_ eui: EUI64) -> Bool { FleetEUI.parse(eui) != nil }

    public func premises(_ index: Int) -> PremisesRecord {
        let premises = fleet.premises(index)
        return PremisesRecord(id: premisesID(index), uprn: Self.uprnBase + Int64(index), postcode: premises.postcode,
                              addressIdentifier: premises.address, region: premises.region)
    }

    public func devices(_ index: Int) -> [DeviceRecord] {
        let premises = fleet.premises(index)
        return premises.slots.map { record(premises, $0) }
    }

    public func device(_ eui: EUI64) -> DeviceRecord? {
        guard let (index, slot) = fleet.device(eui) else { return nil }
        return record(fleet.premises(index), slot)
    }

    func record(_ premises: FleetPremises, _ slot: DeviceSlot) -> DeviceRecord {
        let model = MeterModels.all[Int(premises.traits.model) % MeterModels.all.count]
        let type = slot.deviceType
        let commissioned = Timestamp(dayNumber: premises.traits.installedOn, millisecond: 36_000_000)
        var record = DeviceRecord(eui: premises.eui(slot), type: type, status: .commissioned, premises: premisesID(premises.index),
                                  manufacturer: type == .chf || type == .gpf ? "DCC Comms Hub" : model.manufacturer, model: type.rawValue + "-1",
                                  firmwareVersion: model.firmware, dateCommissioned: commissioned, gbcsVersion: "4.2",
                                  hanVariant: premises.region == .north ? "Dual Band" : "Single Band")
        switch type {
        case .esme:
            record.model = model.esmeModel
            record.smetsCHTSVersion = "SMETS V5.1"
            record.importMPxN = premises.importMPAN
            record.exportMPAN = premises.exportMPAN
            record.esmeVariant = "A"
        case .gsme:
            record.model = model.gsmeModel
            record.smetsCHTSVersion = "SMETS V5.1"
            record.importMPxN = premises.mprn
        case .chf, .gpf:
            record.model = model.hubModel
            record.smetsCHTSVersion = "CHTS V1.6"
        default:
            break
        }
        return record
    }

    public func registrations(_ index: Int, mpxn: String) -> [RegistrationRecord] {
        let premises = fleet.premises(index)
        let installed = Timestamp(dayNumber: premises.traits.installedOn)
        if mpxn == premises.importMPAN {
            return [RegistrationRecord(mpxn: mpxn, role: .is, party: premises.supplier.eui, from: installed),
                    RegistrationRecord(mpxn: mpxn, role: .ed, party: premises.distributor.eui, from: Self.registrationsFrom)]
        }
        if mpxn == premises.exportMPAN {
            return [RegistrationRecord(mpxn: mpxn, role: .es, party: premises.supplier.eui, from: installed),
                    RegistrationRecord(mpxn: mpxn, role: .ed, party: premises.distributor.eui, from: Self.registrationsFrom)]
        }
        if mpxn == premises.mprn, let transporter = premises.gasTransporter {
            return [RegistrationRecord(mpxn: mpxn, role: .gs, party: premises.supplier.eui, from: installed),
                    RegistrationRecord(mpxn: mpxn, role: .gt, party: transporter.eui, from: Self.registrationsFrom)]
        }
        return []
    }

    public var feederStarts: [UInt32] { fleet.layout.feederStart }
    public var secondaryStarts: [UInt32] { fleet.layout.secondaryStart }
    public var primaryStarts: [UInt32] { fleet.layout.primaryStart }
    public func installedOn(_ index: Int) -> Int32 { fleet.traits[index].installedOn }

    public func network(_ index: Int, fuel: NetworkFuel) -> (party: EUI64, meter: EUI64)? {
        if fuel == .gas, !fleet.traits[index].hasGasMeter { return nil }
        let premises = fleet.premises(index)
        switch fuel {
        case .electricity:
            return (premises.distributor.eui, premises.eui(.esme))
        case .gas:
            guard let transporter = premises.gasTransporter, premises.has(.gsme) else { return nil }
            return (transporter.eui, premises.eui(.gsme))
        }
    }
}
