/// Who lives in a home, and how their days run.
public enum Archetype: UInt8, Sendable, CaseIterable, Codable {
    /// Adults out at work on working days (some days at home).
    case workingAway
    /// Parents and school-age children.
    case family
    /// Retired: at home most of the day.
    case retired
    /// Working from home.
    case homeWorker
    /// Shift work: early and late weeks.
    case shiftWorker

    public var name: String {
        switch self {
        case .workingAway: return "working"
        case .family: return "family"
        case .retired: return "retired"
        case .homeWorker: return "home worker"
        case .shiftWorker: return "shift worker"
        }
    }
}

/// What a home owns that shapes its energy use.
public struct Features: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Mains gas: a boiler for space and water heating.
    public static let gas = Features(rawValue: 1 << 0)
    public static let solar = Features(rawValue: 1 << 1)
    public static let electricVehicle = Features(rawValue: 1 << 2)
    public static let heatPump = Features(rawValue: 1 << 3)
    public static let storageHeaters = Features(rawValue: 1 << 4)
    /// Direct electric panel heaters.
    public static let electricHeaters = Features(rawValue: 1 << 5)
    public static let electricShower = Features(rawValue: 1 << 6)
    public static let gasCooking = Features(rawValue: 1 << 7)
    public static let tumbleDryer = Features(rawValue: 1 << 8)
    public static let dishwasher = Features(rawValue: 1 << 9)
    public static let prepayment = Features(rawValue: 1 << 10)
    /// A two-rate (Economy 7) tariff: cheap electricity at night.
    public static let economy7 = Features(rawValue: 1 << 11)
    /// Heating by oil, LPG or solid fuel (not metered).
    public static let offGridHeating = Features(rawValue: 1 << 12)
}

/// A home's parameters: 32 bytes, from which every day's demand follows.
public struct HouseholdProfile: Sendable, Hashable {
    public var seed: UInt64
    /// Climate region (the DNO licence area's index, 0 to 13).
    public var region: UInt8
    public var archetype: Archetype
    public var occupants: UInt8
    /// Behaviour intensity, percent (about 60 to 160).
    public var activityPercent: UInt8
    public var features: Features
    /// Always-on load (cold appliances, standby, router), W.
    public var baseloadW: UInt16
    /// Peak power of the PV array, W (0 without PV).
    public var solarW: UInt16
    /// PV orientation: degrees from south, negative to the east, halved.
    public var solarAzimuthHalfDegrees: Int8
    /// Energy per EV charging session, kWh.
    public var evSessionKWh: UInt8
    /// EV charging sessions per week, tenths.
    public var evSessionsPerWeekTenths: UInt8
    /// Fabric and ventilation heat loss, W per kelvin.
    public var heatLossWPerK: UInt16
    /// Heating set point above 17 °C, tenths.
    public var comfortTenths: UInt8
    /// Hot water use, percent of typical.
    public var hotWaterPercent: UInt8

    public init(seed: UInt64, region: UInt8, archetype: Archetype, occupants: UInt8, activityPercent: UInt8, features: Features,
                baseloadW: UInt16, solarW: UInt16, solarAzimuthHalfDegrees: Int8, evSessionKWh: UInt8, evSessionsPerWeekTenths: UInt8,
                heatLossWPerK: UInt16, comfortTenths: UInt8, hotWaterPercent: UInt8) {
        self.seed = seed
        self.region = region
        self.archetype = archetype
        self.occupants = occupants
        self.activityPercent = activityPercent
        self.features = features
        self.baseloadW = baseloadW
        self.solarW = solarW
        self.solarAzimuthHalfDegrees = solarAzimuthHalfDegrees
        self.evSessionKWh = evSessionKWh
        self.evSessionsPerWeekTenths = evSessionsPerWeekTenths
        self.heatLossWPerK = heatLossWPerK
        self.comfortTenths = comfortTenths
        self.hotWaterPercent = hotWaterPercent
    }

    public var setPoint: Double { 17 + Double(comfortTenths) / 10 }
    public var solarAzimuthDegrees: Double { Double(solarAzimuthHalfDegrees) * 2 }
}

/// The shares that shape a synthetic population of homes. Defaults are GB figures;
/// regional gas coverage comes from `gasShare(region:)`.
public struct PopulationMix: Sendable {
    public var archetypeWeights: [Double] = [0.36, 0.24, 0.26, 0.10, 0.04]
    public var solar = 0.07
    public var electricVehicle = 0.06
    /// Among homes with gas.
    public var heatPumpWithGas = 0.005
    /// Homes without mains gas, by how they heat: heat pump, storage heaters, direct
    /// electric, oil/LPG/solid fuel.
    public var offGasHeating: [Double] = [0.12, 0.45, 0.15, 0.28]
    public var electricShower = 0.35
    public var gasCooking = 0.45
    public var tumbleDryer = 0.55
    public var dishwasher = 0.50
    public var prepayment = 0.16

    public init() {}

    /// Share of homes on mains gas in a climate region (lower in the north of Scotland
    /// and rural Wales, higher in cities).
    public func gasShare(region: Int) -> Double {
        switch region {
        case 7: return 0.55   // North Scotland
        case 2: return 0.90   // London
        case 11, 3: return 0.80   // South Wales, Merseyside and North Wales
        case 12: return 0.72  // South Western
        default: return 0.86
        }
    }

    /// A home drawn from this mix.
    public func household(seed: UInt64, region: Int) -> HouseholdProfile {
        var random = SplitMix64(seed: mix(seed, 0x686F_7573_6568_6F6C))
        let archetype = Archetype(rawValue: UInt8(random.pick(archetypeWeights))) ?? .workingAway
        let occupants: UInt8
        switch archetype {
        case .workingAway: occupants = random.chance(0.42) ? 1 : 2
        case .family: occupants = UInt8(3 + random.pick([0.36, 0.44, 0.20]))
        case .retired: occupants = random.chance(0.46) ? 1 : 2
        case .homeWorker: occupants = UInt8(1 + random.pick([0.35, 0.45, 0.20]))
        case .shiftWorker: occupants = UInt8(1 + random.pick([0.4, 0.4, 0.2]))
        }
        var features: Features = []
        let hasGas = random.chance(gasShare(region: region))
        if hasGas {
            features.insert(.gas)
            if random.chance(heatPumpWithGas) { features.insert(.heatPump) }
            if random.chance(gasCooking) { features.insert(.gasCooking) }
        } else {
            switch random.pick(offGasHeating) {
            case 0: features.insert(.heatPump)
            case 1: features.formUnion([.storageHeaters, .economy7])
            case 2: features.insert(.electricHeaters)
            default: features.insert(.offGridHeating)
            }
        }
        if random.chance(electricShower) { features.insert(.electricShower) }
        if random.chance(archetype == .family ? tumbleDryer + 0.2 : tumbleDryer) { features.insert(.tumbleDryer) }
        if random.chance(archetype == .family ? dishwasher + 0.25 : dishwasher - 0.1) { features.insert(.dishwasher) }
        if random.chance(prepayment) { features.insert(.prepayment) }
        var solarW: UInt16 = 0
        var azimuth: Int8 = 0
        if random.chance(solar) {
            features.insert(.solar)
            solarW = UInt16(random.uniform(2200, 5200) / 100) * 100
            azimuth = Int8(max(-45, min(45, random.normal(0, 22))))
        }
        var evKWh: UInt8 = 0
        var evSessions: UInt8 = 0
        if random.chance(electricVehicle * (archetype == .retired ? 0.5 : 1.2)) {
            features.insert(.electricVehicle)
            evKWh = UInt8(random.uniform(9, 28))
            evSessions = UInt8(random.uniform(15, 45))
            if random.chance(0.35) { features.insert(.economy7) }
        }
        // Always-on load: right-skewed, median near 110 W.
        let baseload = 48 + 55 * exp(random.normal(0.05, 0.45))
        // Heat loss: flats and terraces low, detached homes high. Homes heated by electricity
        // are more often flats; heat pumps go with better insulation.
        var heatLoss = 70 + 85 * exp(random.normal(0.05, 0.38)) + 18 * Double(occupants)
        if features.contains(.heatPump) {
            heatLoss *= 0.8
        } else if !features.isDisjoint(with: [.storageHeaters, .electricHeaters]) {
            heatLoss *= 0.62
        } else if features.contains(.gas) {
            heatLoss *= 1.16
        }
        let activity = max(55, min(170, random.normal(100, 20)))
        return HouseholdProfile(
            seed: seed, region: UInt8(region), archetype: archetype, occupants: occupants,
            activityPercent: UInt8(activity), features: features, baseloadW: UInt16(max(40, min(600, baseload))),
            solarW: solarW, solarAzimuthHalfDegrees: azimuth, evSessionKWh: evKWh, evSessionsPerWeekTenths: evSessions,
            heatLossWPerK: UInt16(max(60, min(500, heatLoss))), comfortTenths: UInt8(max(0, min(45, random.normal(30, 7)))),
            hotWaterPercent: UInt8(max(40, min(200, random.normal(100, 25)))))
    }
}

import Foundation
