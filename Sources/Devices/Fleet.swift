/// Devices: the SMETS2 installations of an emulated fleet. `Fleet` lays out millions of
/// premises in about 12.5 bytes each (licence area, substations, feeder, postcode,
/// household traits), from which identifiers (MPANs with check digits, MPRNs, device
/// EUIs), the household (`LoadModel`) and the installed devices follow. `MeterEngine`
/// turns a premises' model and its sparse `PremisesState` into what its meters hold:
/// half-hourly and daily logs, cumulative, time-of-use and block registers, maximum
/// demand, billing data, prepayment balances, supply state, logs and alerts, all
/// computed on demand and consistent with each other. `DeviceEmulator` executes DUIS
/// service requests as the ESME, GSME, comms hub, GPF, IHD, PPMID, HCALCS or CAD would,
/// building their answers as MMC trees (`MMC`) and writing them, and their alerts, in GBCS
/// (`GBCSAnswerWriter`, `GBCSAlertWriter`). `CADFeed` is the consumer side of the HAN.
import DUIS
import Foundation
import LoadModel
import Synchronization

/// A DCC user the fleet registers for its premises: an energy supplier (import, export
/// and gas), a DNO group (electricity distributor) or a gas transporter.
public struct FleetParty: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable { case supplier, distributor, gasTransporter }

    public var kind: Kind
    public var index: Int
    public var name: String
    public var eui: EUI64

    public var roles: UserRoleSet {
        switch kind {
        case .supplier: return [.is, .es, .gs]
        case .distributor: return [.ed]
        case .gasTransporter: return [.gt]
        }
    }
}

/// What defines a fleet: the same specification gives the same premises, devices and
/// readings.
public struct FleetSpec: Sendable, Hashable, Codable {
    public var seed: UInt64
    public var premises: Int
    /// Day the fleet was created (days since 1970): installations happened before it.
    public var createdDay: Int32
    /// Market shares of the fleet's suppliers (one supplier user each).
    public var supplierShares: [Double]

    public static let defaultSupplierShares = [0.24, 0.20, 0.16, 0.13, 0.11, 0.09, 0.07]

    public init(seed: UInt64, premises: Int, createdDay: Int32, supplierShares: [Double] = FleetSpec.defaultSupplierShares) {
        self.seed = seed
        self.premises = premises
        self.createdDay = createdDay
        self.supplierShares = supplierShares
    }

    static let supplierNames = ["Northfield Energy", "Brightwater Power", "Meadow Gas & Electric", "Kestrel Energy",
                                "Harbour Light Supply", "Oakridge Utilities", "Fenland Power", "Saltmarsh Energy",
                                "Tidewater Supply", "Heathrow Lane Energy", "Copperbeech Power", "Windrush Energy"]

    /// The users that hold the fleet's registrations.
    public var parties: [FleetParty] {
        var result: [FleetParty] = []
        for index in supplierShares.indices {
            let name = index < Self.supplierNames.count ? Self.supplierNames[index] : "Supplier \(index + 1)"
            result.append(FleetParty(kind: .supplier, index: index, name: name, eui: Self.partyEUI(.supplier, index)))
        }
        for group in NetworkOperator.allCases {
            result.append(FleetParty(kind: .distributor, index: group.rawValue, name: group.name, eui: Self.partyEUI(.distributor, group.rawValue)))
        }
        for transporter in GasTransporter.allCases {
            result.append(FleetParty(kind: .gasTransporter, index: transporter.rawValue, name: transporter.name,
                                     eui: Self.partyEUI(.gasTransporter, transporter.rawValue)))
        }
        return result
    }

    public static func partyEUI(_ kind: FleetParty.Kind, _ index: Int) -> EUI64 {
        let group: UInt64
        switch kind {
        case .supplier: group = 0x01
        case .distributor: group = 0x02
        case .gasTransporter: group = 0x04
        }
        return EUI64(0x90B3_D51F_3100_0000 | group << 16 | UInt64(index))
    }
}

/// The per-premises facts a fleet keeps: 12 bytes, so 40 million premises fit in 480 MB.
/// Everything else about a premises (its household, identifiers, address, network
/// position) follows from the fleet seed, the premises index and the layout.
public struct PremisesTraits: Sendable, Hashable {
    /// `LoadModel.Features` of the household.
    public var features: UInt16
    /// Installation day, days since 2015-01-01.
    public var installDay: UInt16
    public var supplier: UInt8
    /// HAN devices: bit 0 IHD, bit 1 PPMID, bit 2 HCALCS, bits 3–5 number of CADs, bit 6
    /// an export MPAN (solar export registered).
    public var han: UInt8
    /// WAN: bit 0 the hub is a 2G/3G one at risk from the sunset; bits 1–2 signal class
    /// (0 excellent to 3 marginal).
    public var wan: UInt8
    /// Meter and hub model, index into `MeterModels.all`.
    public var model: UInt8
    public var area: UInt8
    /// Consumer behaviour flags: bits 0–3 the prepayment top-up habit, bit 4 debt.
    public var habits: UInt8
    public var reserved: UInt16 = 0

    public static let epochDay: Int32 = 16436  // 2015-01-01

    public var hasIHD: Bool { han & 1 != 0 }
    public var hasPPMID: Bool { han & 2 != 0 }
    public var hasHCALCS: Bool { han & 4 != 0 }
    public var cadCount: Int { Int((han >> 3) & 7) }
    public var exportsEnergy: Bool { han & 64 != 0 }
    public var householdFeatures: Features { Features(rawValue: features) }
    public var hasGasMeter: Bool { householdFeatures.contains(.gas) }
    public var atRiskFromSunset: Bool { wan & 1 != 0 }
    public var signalClass: Int { Int((wan >> 1) & 3) }
    public var installedOn: Int32 { Self.epochDay + Int32(installDay) }
}

/// The network and postal layout of a fleet: premises are numbered so that each licence
/// area, primary substation, secondary substation, LV feeder and postcode unit is a
/// contiguous range. Each level is an array of start indices (0.4 bytes per premises).
public struct FleetLayout: Sendable, Hashable {
    public var areaStart: [Int] = []
    public var primaryStart: [UInt32] = []
    public var secondaryStart: [UInt32] = []
    public var feederStart: [UInt32] = []
    public var postcodeStart: [UInt32] = []
    /// The first postcode unit of each area (index into `postcodeStart`), for naming.
    public var areaFirstPostcode: [Int] = []

    public static func containing(_ index: Int, in starts: [UInt32]) -> Int {
        var low = 0
        var high = starts.count - 1
        let key = UInt32(index)
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= key { low = middle } else { high = middle - 1 }
        }
        return low
    }

    func area(of index: Int) -> Int {
        var area = 0
        while area + 1 < areaStart.count - 1 && areaStart[area + 1] <= index { area += 1 }
        return area
    }

    /// Lays out `premises` homes over the licence areas by their shares of GB homes.
    static func make(premises: Int, seed: UInt64) -> FleetLayout {
        var layout = FleetLayout()
        let total = LicenceArea.all.reduce(0) { $0 + $1.weight }
        var cumulative = 0.0
        layout.areaStart = [0]
        for area in LicenceArea.all {
            cumulative += area.weight
            layout.areaStart.append(Int((Double(premises) * cumulative / total).rounded()))
        }
        layout.areaStart[LicenceArea.all.count] = premises
        for (areaIndex, area) in LicenceArea.all.enumerated() {
            let start = layout.areaStart[areaIndex]
            let end = layout.areaStart[areaIndex + 1]
            layout.areaFirstPostcode.append(layout.postcodeStart.count)
            guard end > start else { continue }
            var random = SplitMix64(seed: mix(seed, 0x6C61_796F_7574, UInt64(area.distributorID)))
            var next = start
            while next < end {
                // A primary substation (33/11 kV) serves a few thousand homes.
                let primaryEnd = min(end, next + max(500, Int(random.normal(5500, 1800))))
                layout.primaryStart.append(UInt32(next))
                while next < primaryEnd {
                    // A secondary substation (11 kV/400 V): a handful of rural homes to a few hundred in town.
                    let size = max(4, min(600, Int(60 * exp(random.normal(0.75, 0.7)))))
                    let secondaryEnd = min(primaryEnd, next + size)
                    layout.secondaryStart.append(UInt32(next))
                    let feeders = max(1, min(6, (secondaryEnd - next + 39) / 40 + Int(random.uniform(0, 2))))
                    let perFeeder = max(1, (secondaryEnd - next + feeders - 1) / feeders)
                    while next < secondaryEnd {
                        let feederEnd = min(secondaryEnd, next + perFeeder)
                        layout.feederStart.append(UInt32(next))
                        while next < feederEnd {
                            // A postcode unit: about 15 addresses.
                            let unitEnd = min(feederEnd, next + max(3, Int(random.normal(15, 5))))
                            layout.postcodeStart.append(UInt32(next))
                            next = unitEnd
                        }
                    }
                }
            }
        }
        return layout
    }
}

/// Everything about one fleet premises, derived on demand.
public struct FleetPremises: Sendable, Hashable {
    public let index: Int
    public let traits: PremisesTraits
    public let area: LicenceArea
    public let primary: Int
    public let secondary: Int
    public let feeder: Int
    public let postcode: String
    public let address: String
    public let importMPAN: String
    public let exportMPAN: String?
    public let mprn: String?
    public let supplier: FleetParty
    public let distributor: FleetParty
    public let gasTransporter: FleetParty?

    public var region: CSPRegion { area.region }

    public func eui(_ slot: DeviceSlot) -> EUI64 { FleetEUI.make(index: index, slot: slot) }

    /// The slots of the devices installed.
    public var slots: [DeviceSlot] {
        var result: [DeviceSlot] = [.esme, .chf]
        if traits.hasGasMeter { result += [.gsme, .gpf] }
        if traits.hasIHD { result.append(.ihd) }
        if traits.hasPPMID { result.append(.ppmid) }
        if traits.hasHCALCS { result.append(.hcalcs) }
        result += DeviceSlot.cads.prefix(traits.cadCount)
        return result
    }

    public func has(_ slot: DeviceSlot) -> Bool { FleetPremisesFlags(traits).has(slot) }

    public var secondaryName: String { "SS-\(area.distributorID)-\(String(secondary, radix: 10))" }
}

/// A fleet of premises: the specification, the layout and 12 bytes of traits per
/// premises. Read-only once built, so any number of tasks may share it.
public final class Fleet: Sendable {
    public let spec: FleetSpec
    public let layout: FleetLayout
    public let traits: [PremisesTraits]
    public let parties: [FleetParty]
    public let mix: PopulationMix
    /// Premises IDs of fleet premises in the hub's inventory start here.
    public static let premisesIDBase: Int64 = 1_000_000_000

    let importScatter = Scatter(modulus: 5_000_000_000, multiplier: 2_654_435_761, offset: 3_917_402_561)
    let gasScatter = Scatter(modulus: 89_000_000, multiplier: 48_271, offset: 7_654_321)

    init(spec: FleetSpec, layout: FleetLayout, traits: [PremisesTraits]) {
        self.spec = spec
        self.layout = layout
        self.traits = traits
        self.parties = spec.parties
        self.mix = PopulationMix()
    }

    public var count: Int { traits.count }

    // MARK: - Building

    /// Builds a fleet, reporting progress (premises done) as it goes. Work is split over
    /// the processor's cores; the result depends only on the specification.
    public static func build(_ spec: FleetSpec, progress: (@Sendable (Int) -> Void)? = nil) -> Fleet {
        let layout = FleetLayout.make(premises: spec.premises, seed: spec.seed)
        var traits = [PremisesTraits](repeating: PremisesTraits(features: 0, installDay: 0, supplier: 0, han: 0, wan: 0, model: 0, area: 0, habits: 0),
                                      count: spec.premises)
        let mix = PopulationMix()
        let chunk = 65_536
        let chunks = (spec.premises + chunk - 1) / chunk
        let done = Mutex(0)
        let cumulativeShares = spec.supplierShares.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
        traits.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let base = buffer.baseAddress
            DispatchQueue.concurrentPerform(iterations: chunks) { chunkIndex in
                let start = chunkIndex * chunk
                let end = min(spec.premises, start + chunk)
                var area = layout.area(of: start)
                for index in start..<end {
                    while index >= layout.areaStart[area + 1] { area += 1 }
                    base?[index] = makeTraits(spec: spec, index: index, area: area, mix: mix, cumulativeShares: cumulativeShares)
                }
                let total = done.withLock { value -> Int in
                    value += end - start
                    return value
                }
                progress?(total)
            }
        }
        return Fleet(spec: spec, layout: layout, traits: traits)
    }

    static func householdSeed(_ spec: FleetSpec, _ index: Int) -> UInt64 { LoadModel.mix(spec.seed, 0x686F_6D65, UInt64(index)) }

    static func makeTraits(spec: FleetSpec, index: Int, area: Int, mix: PopulationMix, cumulativeShares: [Double]) -> PremisesTraits {
        let profile = mix.household(seed: householdSeed(spec, index), region: area)
        var random = SplitMix64(seed: LoadModel.mix(spec.seed, 0x7472_6169_7473, UInt64(index)))
        let features = profile.features
        // Installations: SMETS2 from 2018, most in 2019 to 2024, none after the fleet's creation.
        let latest = max(0, Int(spec.createdDay - PremisesTraits.epochDay) - 7)
        let earliest = min(latest, 3 * 365 + 30)
        let install = earliest + Int(random.unit() * random.unit().squareRoot() * Double(latest - earliest + 1))
        let target = random.unit() * (cumulativeShares.last ?? 1)
        let supplier = cumulativeShares.firstIndex { target < $0 } ?? 0
        var han: UInt8 = 0
        if random.chance(0.93) { han |= 1 }
        if features.contains(.prepayment) ? random.chance(0.7) : random.chance(0.02) { han |= 2 }
        if features.contains(.storageHeaters) ? random.chance(0.55) : (features.contains(.electricVehicle) && random.chance(0.08)) { han |= 4 }
        let cads = random.chance(0.09) ? (random.chance(0.85) ? 1 : (random.chance(0.7) ? 2 : Int(random.uniform(3, 5)))) : 0
        han |= UInt8(min(4, cads)) << 3
        if features.contains(.solar) && random.chance(0.8) { han |= 64 }
        var wan: UInt8 = 0
        // Cellular hubs installed before 4G hubs arrived are at risk from the 2G/3G sunset.
        let region = LicenceArea.all[area].region
        let installYear = 2015 + install / 365
        if region != .north && installYear < 2024 && random.chance(0.34) { wan |= 1 }
        if region == .north && random.chance(0.01) { wan |= 1 }
        wan |= UInt8(random.pick([0.45, 0.35, 0.15, 0.05])) << 1
        var habits = UInt8(random.uniform(0, 16))
        if features.contains(.prepayment) && random.chance(0.25) { habits |= 16 }
        return PremisesTraits(features: features.rawValue, installDay: UInt16(install), supplier: UInt8(supplier), han: han, wan: wan,
                              model: UInt8(random.uniform(0, Double(MeterModels.all.count))), area: UInt8(area), habits: habits)
    }

    // MARK: - Lookups

    public func premises(_ index: Int) -> FleetPremises {
        let traits = self.traits[index]
        let area = LicenceArea.all[Int(traits.area)]
        let secondary = FleetLayout.containing(index, in: layout.secondaryStart)
        let postcodeIndex = FleetLayout.containing(index, in: layout.postcodeStart)
        let (postcode, street) = postcodeAndStreet(postcodeIndex, area: Int(traits.area))
        let house = (index - Int(layout.postcodeStart[postcodeIndex])) * 2 + 1
        let gasTransporter = traits.hasGasMeter
            ? parties.first { $0.kind == .gasTransporter && $0.index == area.gasTransporter(postcodeArea: LicenceArea.postcodeArea(postcode) ?? "").rawValue }
            : nil
        return FleetPremises(
            index: index, traits: traits, area: area,
            primary: FleetLayout.containing(index, in: layout.primaryStart), secondary: secondary,
            feeder: FleetLayout.containing(index, in: layout.feederStart), postcode: postcode, address: "\(house) \(street)",
            importMPAN: MPAN.make(distributor: area.distributorID, identifier: importScatter.apply(UInt64(index))),
            exportMPAN: traits.exportsEnergy ? MPAN.make(distributor: area.distributorID, identifier: 5_000_000_000 + importScatter.apply(UInt64(index))) : nil,
            mprn: traits.hasGasMeter ? MPRN.make(body: 10_000_000 + gasScatter.apply(UInt64(index))) : nil,
            supplier: parties.first { $0.kind == .supplier && $0.index == Int(traits.supplier) } ?? parties[0],
            distributor: parties.first { $0.kind == .distributor && $0.index == area.operatorGroup.rawValue } ?? parties[0],
            gasTransporter: gasTransporter)
    }

    public func profile(_ index: Int) -> HouseholdProfile {
        mix.household(seed: Self.householdSeed(spec, index), region: Int(traits[index].area))
    }

    /// The premises an MPAN (import or export) belongs to.
    public func index(mpan: String) -> Int? {
        guard let (distributor, identifier) = MPAN.parse(mpan) else { return nil }
        let exported = identifier >= 5_000_000_000
        let index = Int(importScatter.invert(exported ? identifier - 5_000_000_000 : identifier))
        guard index < count, LicenceArea.all[Int(traits[index].area)].distributorID == distributor,
              !exported || traits[index].exportsEnergy else { return nil }
        return index
    }

    public func index(mprn: String) -> Int? {
        guard let body = MPRN.parse(mprn), body >= 10_000_000 else { return nil }
        let index = Int(gasScatter.invert(body - 10_000_000))
        guard index < count, traits[index].hasGasMeter else { return nil }
        return index
    }

    /// The premises and slot of a fleet device, if that device exists.
    public func device(_ eui: EUI64) -> (index: Int, slot: DeviceSlot)? {
        guard let (index, slot) = FleetEUI.parse(eui), index < count else { return nil }
        let premises = FleetPremisesFlags(traits[index])
        return premises.has(slot) ? (index, slot) : nil
    }

    public func index(premisesID: Int64) -> Int? {
        let index = premisesID - Self.premisesIDBase
        return index >= 0 && index < Int64(count) ? Int(index) : nil
    }

    /// Premises indices in a postcode unit.
    public func indices(postcode: String) -> Range<Int>? {
        let normalised = postcode.uppercased().filter { !$0.isWhitespace }
        guard let area = LicenceArea.area(postcode: normalised) else { return nil }
        let areaIndex = area.index
        let first = layout.areaFirstPostcode[areaIndex]
        let last = areaIndex + 1 < layout.areaFirstPostcode.count ? layout.areaFirstPostcode[areaIndex + 1] : layout.postcodeStart.count
        guard first < last else { return nil }
        // Postcodes are assigned in order within the area, so search by name.
        for unit in first..<last where postcodeAndStreet(unit, area: areaIndex).0.filter({ !$0.isWhitespace }) == normalised {
            let start = Int(layout.postcodeStart[unit])
            let end = unit + 1 < layout.postcodeStart.count ? Int(layout.postcodeStart[unit + 1]) : count
            return start..<end
        }
        return nil
    }

    static let unitLetters = Array("ABDEFGHJLNPQRSTUWXYZ")
    static let streetNames = ["Acorn", "Beech", "Church", "Station", "Mill", "Park", "Victoria", "Albert", "Kings", "Queens", "Manor",
                              "Orchard", "Meadow", "Chapel", "School", "Grange", "Willow", "Elm", "Ash", "Rowan", "Hawthorn", "Brook",
                              "Castle", "Windmill", "Highfield", "Springfield", "Holly", "Cedar", "Poplar", "Cherry"]
    static let streetKinds = ["Road", "Street", "Lane", "Avenue", "Close", "Way", "Drive", "Gardens", "Crescent", "Terrace"]

    /// The postcode of a postcode unit (`NG7 2QR` style) and its street.
    func postcodeAndStreet(_ unit: Int, area: Int) -> (String, String) {
        let licence = LicenceArea.all[area]
        let first = layout.areaFirstPostcode[area]
        let last = area + 1 < layout.areaFirstPostcode.count ? layout.areaFirstPostcode[area + 1] : layout.postcodeStart.count
        let units = max(1, last - first)
        let local = unit - first
        let perPostcodeArea = max(1, (units + licence.postcodeAreas.count - 1) / licence.postcodeAreas.count)
        let postcodeArea = licence.postcodeAreas[min(licence.postcodeAreas.count - 1, local / perPostcodeArea)]
        let within = local % perPostcodeArea
        let district = 1 + (within / 400) % 40
        let sector = (within / 40) % 10
        let code = within % 40
        let letters = String([Self.unitLetters[code / 20 * 7 % 20], Self.unitLetters[code % 20]])
        let hash = LoadModel.mix(spec.seed, 0x7374_7265_6574, UInt64(unit))
        let street = Self.streetNames[Int(hash % UInt64(Self.streetNames.count))] + " " + Self.streetKinds[Int((hash >> 16) % UInt64(Self.streetKinds.count))]
        return ("\(postcodeArea)\(district) \(sector)\(letters)", street)
    }

    // MARK: - Files

    static let magic = Array("GBSMFLT1".utf8)

    public enum FileError: Error, CustomStringConvertible {
        case notAFleet(String), truncated(String)

        public var description: String {
            switch self {
            case .notAFleet(let path): return "\(path) is not a gbsm fleet file"
            case .truncated(let path): return "\(path) is truncated or damaged"
            }
        }
    }

    struct Header: Codable {
        var spec: FleetSpec
        var areaStart: [Int]
        var areaFirstPostcode: [Int]
        var primaries: Int
        var secondaries: Int
        var feeders: Int
        var postcodes: Int
    }

    /// Writes the fleet: a header, the layout and the traits, written to a temporary
    /// file and renamed into place.
    public func write(to url: URL) throws {
        var bytes = Self.magic
        let header = Header(spec: spec, areaStart: layout.areaStart, areaFirstPostcode: layout.areaFirstPostcode,
                            primaries: layout.primaryStart.count, secondaries: layout.secondaryStart.count,
                            feeders: layout.feederStart.count, postcodes: layout.postcodeStart.count)
        let json = try JSONEncoder().encode(header)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        for array in [layout.primaryStart, layout.secondaryStart, layout.feederStart, layout.postcodeStart] {
            array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        traits.withUnsafeBytes { bytes.append(contentsOf: $0) }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.appendingPathExtension("partial")
        try Data(bytes).write(to: temporary)
        _ = try? FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: temporary, to: url)
    }

    public static func read(from url: URL) throws -> Fleet {
        let data = try Data(contentsOf: url)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Fleet in
            guard raw.count >= 12, Array(raw[0..<8]) == magic else { throw FileError.notAFleet(url.path) }
            let length = Int(raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            guard raw.count >= 12 + length else { throw FileError.truncated(url.path) }
            let header = try JSONDecoder().decode(Header.self, from: Data(raw[12..<(12 + length)]))
            var offset = 12 + length
            func array<T>(_ count: Int, _ type: T.Type) throws -> [T] {
                let size = count * MemoryLayout<T>.stride
                guard count >= 0, offset + size <= raw.count else { throw FileError.truncated(url.path) }
                let result = [T](unsafeUninitializedCapacity: count) { buffer, initialised in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + size)]))
                    initialised = count
                }
                offset += size
                return result
            }
            var layout = FleetLayout()
            layout.areaStart = header.areaStart
            layout.areaFirstPostcode = header.areaFirstPostcode
            layout.primaryStart = try array(header.primaries, UInt32.self)
            layout.secondaryStart = try array(header.secondaries, UInt32.self)
            layout.feederStart = try array(header.feeders, UInt32.self)
            layout.postcodeStart = try array(header.postcodes, UInt32.self)
            let traits = try array(header.spec.premises, PremisesTraits.self)
            guard offset == raw.count else { throw FileError.truncated(url.path) }
            return Fleet(spec: header.spec, layout: layout, traits: traits)
        }
    }

    /// Memory the fleet holds, bytes.
    public var memoryBytes: Int {
        traits.count * MemoryLayout<PremisesTraits>.stride
            + (layout.primaryStart.count + layout.secondaryStart.count + layout.feederStart.count + layout.postcodeStart.count) * 4
    }
}

/// Which devices a premises has, from its traits alone (for EUI lookups).
struct FleetPremisesFlags {
    let traits: PremisesTraits
    init(_ traits: PremisesTraits) { self.traits = traits }

    func has(_ slot: DeviceSlot) -> Bool {
        switch slot {
        case .esme, .chf: return true
        case .gsme, .gpf: return traits.hasGasMeter
        case .ihd: return traits.hasIHD
        case .ppmid: return traits.hasPPMID
        case .hcalcs: return traits.hasHCALCS
        case .cad1, .cad2, .cad3, .cad4: return Int(slot.rawValue) - Int(DeviceSlot.cad1.rawValue) < traits.cadCount
        }
    }
}

/// Meter and comms hub makes in the fleet: manufacturer, model and firmware.
public struct MeterModels: Sendable {
    public struct Model: Sendable {
        public let manufacturer: String
        public let esmeModel: String
        public let gsmeModel: String
        public let hubModel: String
        public let firmware: String
    }

    /// Firmware versions as GBCS carries them (four octets, in hex: DUIS's FirmwareVersion
    /// is at most eight characters).
    public static let all: [Model] = [
        Model(manufacturer: "Aclara", esmeModel: "SGM1411", gsmeModel: "SGM1430", hubModel: "EDMI-CH", firmware: "02130041"),
        Model(manufacturer: "Landis+Gyr", esmeModel: "E470", gsmeModel: "G470", hubModel: "TOSHIBA-CH", firmware: "0402000B"),
        Model(manufacturer: "Secure Meters", esmeModel: "Liberty 100", gsmeModel: "Europa", hubModel: "EDMI-CH", firmware: "01290006"),
        Model(manufacturer: "EDMI", esmeModel: "ES-10A", gsmeModel: "GS-10", hubModel: "EDMI-CH", firmware: "03000019"),
        Model(manufacturer: "Honeywell Elster", esmeModel: "AS302P", gsmeModel: "BK-G4 E", hubModel: "WNC-CH", firmware: "08010002"),
    ]
}
