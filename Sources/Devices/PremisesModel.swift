import DUIS
import LoadModel

/// A device installed at a premises, as the emulator needs to know it.
public struct InstalledDevice: Sendable, Hashable {
    public var eui: EUI64
    public var type: DeviceType
    public var importMPxN: String?
    public var exportMPAN: String?
    public var manufacturer: String
    public var model: String
    public var firmware: String

    public init(eui: EUI64, type: DeviceType, importMPxN: String? = nil, exportMPAN: String? = nil, manufacturer: String, model: String, firmware: String) {
        self.eui = eui
        self.type = type
        self.importMPxN = importMPxN
        self.exportMPAN = exportMPAN
        self.manufacturer = manufacturer
        self.model = model
        self.firmware = firmware
    }
}

/// Everything fixed about one premises' smart metering system: the household behind the
/// meters, the devices, tariffs and prepayment habits. With the premises' mutable
/// `PremisesState` it determines every reading, register, log and balance.
public struct PremisesModel: Sendable {
    /// The premises ID in the inventory (fleet premises: `Fleet.premisesIDBase + index`).
    public var key: Int64
    public var profile: HouseholdProfile
    public var region: CSPRegion
    public var areaIndex: Int
    public var installDay: Int32
    /// Readings are modelled exactly from this day; what went before is summed up in the
    /// opening registers (a meter keeps at most two years of daily data).
    public var modelStart: Int32
    public var devices: [InstalledDevice]
    public var electricityTariff: ElectricityTariff
    public var gasTariff: GasTariff?
    public var prepayment: Bool
    public var prepaymentConfiguration = PrepaymentConfiguration()
    /// The consumer's top-up: amount and the balance below which they top up (pence).
    public var topUpAmount: Int
    public var topUpTrigger: Int
    /// Time-based debt outstanding when modelling starts (pence).
    public var openingTimeDebt: Int
    /// Reactive energy per unit of active energy (the household's tan φ), thousandths.
    public var reactivePerMille: Int
    /// The premises' place on its LV feeder: volts above or below nominal at no load.
    public var voltageOffsetTenths: Int
    /// Gas calorific value (MJ/m³, thousandths) and conversion factor (millionths).
    public var calorificValueMilli: Int = 39_500
    public var conversionFactorMicro: Int = 1_022_640
    public var openingImportWh: Int64
    public var openingExportWh: Int64
    public var openingGasLitres: Int64
    public var supplierName: String
    /// The supplier whose certificates the devices were installed with: the party they
    /// trust in the supplier role until a change of credentials (6.15, 6.23) replaces it.
    public var installedSupplier: EUI64?

    public func device(_ type: DeviceType) -> InstalledDevice? { devices.first { $0.type == type } }
    public func device(_ eui: EUI64) -> InstalledDevice? { devices.first { $0.eui == eui } }
    public var hasGas: Bool { devices.contains { $0.type == .gsme } }
    public var importMPAN: String? { device(.esme)?.importMPxN }
    public var exportMPAN: String? { device(.esme)?.exportMPAN }
    public var mprn: String? { device(.gsme)?.importMPxN }

    /// Litres of gas for an energy in Wh, at this premises' calorific value.
    @inline(__always)
    public func litres(forWh wh: Double) -> Double {
        wh * 3.6 * 1_000_000_000 / (Double(calorificValueMilli) * Double(conversionFactorMicro))
    }

    /// Energy of a volume of gas, Wh.
    @inline(__always)
    public func wh(forLitres litres: Int64) -> Double {
        Double(litres) * Double(calorificValueMilli) * Double(conversionFactorMicro) / 3.6 / 1_000_000_000
    }

    /// The model of a fleet premises.
    public init(fleet: Fleet, index: Int) {
        let premises = fleet.premises(index)
        let profile = fleet.profile(index)
        let model = MeterModels.all[Int(premises.traits.model) % MeterModels.all.count]
        var devices: [InstalledDevice] = []
        for slot in premises.slots {
            let type = slot.deviceType
            let modelName: String
            switch type {
            case .esme: modelName = model.esmeModel
            case .gsme: modelName = model.gsmeModel
            case .chf, .gpf: modelName = model.hubModel
            default: modelName = type.rawValue + "-1"
            }
            devices.append(InstalledDevice(
                eui: premises.eui(slot), type: type,
                importMPxN: type == .esme ? premises.importMPAN : (type == .gsme ? premises.mprn : nil),
                exportMPAN: type == .esme ? premises.exportMPAN : nil,
                manufacturer: type == .chf || type == .gpf ? "DCC Comms Hub" : model.manufacturer, model: modelName, firmware: model.firmware))
        }
        self.init(key: Fleet.premisesIDBase + Int64(index), profile: profile, region: premises.region, areaIndex: premises.area.index,
                  installDay: premises.traits.installedOn, fleetCreated: fleet.spec.createdDay, devices: devices,
                  supplierIndex: Int(premises.traits.supplier), supplierName: premises.supplier.name, habits: premises.traits.habits,
                  voltageSeed: UInt64(premises.feeder) &* 0x9E37_79B9 ^ UInt64(index - premises.feeder))
        installedSupplier = premises.supplier.eui
    }

    /// The model of a premises the inventory holds explicitly (for example DCC Boxed's
    /// default premises): a household drawn from the premises ID, with gas when a GSME is
    /// installed.
    public init(premisesID: Int64, postcode: String, region: CSPRegion, installDay: Int32, devices: [InstalledDevice], supplierName: String) {
        let area = LicenceArea.area(postcode: postcode) ?? LicenceArea.all[6]
        let mixer = PopulationMix()
        var profile = mixer.household(seed: LoadModel.mix(0x6578_706C_6963_6974, UInt64(bitPattern: premisesID)), region: area.index)
        let hasGas = devices.contains { $0.type == .gsme }
        var features = profile.features
        if hasGas {
            features.insert(.gas)
            features.subtract([.storageHeaters, .electricHeaters, .offGridHeating, .economy7])
        } else {
            features.remove(.gas)
            features.remove(.gasCooking)
        }
        profile.features = features
        self.init(key: premisesID, profile: profile, region: region, areaIndex: area.index, installDay: installDay, fleetCreated: installDay,
                  devices: devices, supplierIndex: 0, supplierName: supplierName, habits: UInt8(premisesID & 0xF),
                  voltageSeed: UInt64(bitPattern: premisesID))
    }

    init(key: Int64, profile: HouseholdProfile, region: CSPRegion, areaIndex: Int, installDay: Int32, fleetCreated: Int32,
         devices: [InstalledDevice], supplierIndex: Int, supplierName: String, habits: UInt8, voltageSeed: UInt64) {
        self.key = key
        self.profile = profile
        self.region = region
        self.areaIndex = areaIndex
        self.installDay = installDay
        self.modelStart = max(installDay, fleetCreated - 400)
        self.devices = devices
        self.supplierName = supplierName
        let prepayment = profile.features.contains(.prepayment)
        self.prepayment = prepayment
        let perMille = 960 + 15 * (supplierIndex % 6)
        let kind: ElectricityTariff.Kind = profile.features.contains(.economy7) ? .economy7 : (profile.features.contains(.electricVehicle) && habits & 8 != 0 ? .peakTimeOfUse : .single)
        electricityTariff = ElectricityTariff.make(kind, perMille: perMille, prepayment: prepayment)
        gasTariff = devices.contains { $0.type == .gsme } ? GasTariff.make(perMille: perMille, prepayment: prepayment) : nil
        topUpAmount = [1_000, 1_500, 2_000, 2_000, 2_500, 3_000, 3_000, 4_000][Int(habits & 7)]
        topUpTrigger = [150, 250, 400, 600, 800, 1_000, 200, 500][Int((habits >> 1) & 7)]
        var random = SplitMix64(seed: LoadModel.mix(profile.seed, 0x6D65_7465_72))
        openingTimeDebt = habits & 16 != 0 ? Int(random.uniform(150, 800)) * 100 : 0
        reactivePerMille = Int(random.uniform(150, 380))
        var voltageRandom = SplitMix64(seed: voltageSeed)
        voltageOffsetTenths = Int(voltageRandom.unit() * 80) - 20
        calorificValueMilli = 39_200 + Int(random.uniform(0, 600))
        // What the meters counted between installation and the start of the modelled window.
        let earlier = Double(max(0, modelStart - installDay))
        let annualKWh = PremisesModel.estimatedAnnualKWh(profile)
        openingImportWh = Int64(earlier * annualKWh.electricity * 1000 / 365)
        openingExportWh = Int64(earlier * annualKWh.export * 1000 / 365)
        let gasWh = earlier * annualKWh.gas * 1000 / 365
        openingGasLitres = Int64(gasWh * 3.6 * 1_000_000 / Double(calorificValueMilli) / Double(conversionFactorMicro) * 1000)
    }

    /// A quick estimate of a household's annual energy from its profile (for the opening
    /// registers only; the modelled days come from the demand model itself).
    static func estimatedAnnualKWh(_ profile: HouseholdProfile) -> (electricity: Double, export: Double, gas: Double) {
        let features = profile.features
        var electricity = Double(profile.baseloadW) * 8.76 + 450 * Double(profile.occupants) * Double(profile.activityPercent) / 100
        if features.contains(.electricVehicle) { electricity += Double(profile.evSessionKWh) * Double(profile.evSessionsPerWeekTenths) / 10 * 52 }
        if features.contains(.heatPump) { electricity += Double(profile.heatLossWPerK) * 2_300 * 24 / 1000 / 2.8 }
        if !features.isDisjoint(with: [.storageHeaters, .electricHeaters]) { electricity += Double(profile.heatLossWPerK) * 2_300 * 24 / 1000 }
        var gas = 0.0
        if features.contains(.gas) && !features.contains(.heatPump) {
            gas = Double(profile.heatLossWPerK) * 2_300 * 24 / 1000 / 0.88 + 1_800 * Double(profile.hotWaterPercent) / 100
        }
        let export = features.contains(.solar) ? Double(profile.solarW) * 0.9 * 0.5 : 0
        return (electricity - export * 0.4, export, gas)
    }
}
