import DUIS
import Foundation
import LoadModel
import Testing
@testable import Devices

@Suite struct IdentifierTests {
    @Test func mpanCheckDigits() {
        #expect(MPAN.isValid("1800021679848"))
        #expect(MPAN.isValid("1312345678907"))
        #expect(!MPAN.isValid("1312345678908"))
        #expect(!MPAN.isValid("131234567890"))
        let made = MPAN.make(distributor: 23, identifier: 1_234_567_890)
        #expect(made.hasPrefix("231234567890"))
        #expect(MPAN.parse(made)?.identifier == 1_234_567_890)
    }

    @Test func mprnCheckDigits() {
        #expect(MPRN.parse("3938424403") == 39_384_244)
        #expect(MPRN.parse("3938424600") == nil)
        #expect(MPRN.parse(MPRN.make(body: 12_345_678)) == 12_345_678)
    }

    @Test func scatterIsABijection() {
        let scatter = Scatter(modulus: 1_000_003, multiplier: 48_271, offset: 99)
        var seen = Set<UInt64>()
        for value in UInt64(0)..<5000 {
            let mapped = scatter.apply(value)
            #expect(scatter.invert(mapped) == value)
            seen.insert(mapped)
        }
        #expect(seen.count == 5000)
    }

    @Test func templateUTRNDecodes() throws {
        // The UTRN in the 2.2 template: £10, counter bits 3.
        let utrn = try UTRN("73946144332040217315")
        #expect(utrn.valueClass == .pounds)
        #expect(utrn.value == 10)
        #expect(utrn.pence == 1000)
        #expect(utrn.counterBits == 3)
        #expect(utrn.counter(above: 0) == 3 << 32)
        #expect(throws: UTRN.DecodeError.badCheckDigit) { try UTRN("73946144332040217316") }
        #expect(throws: UTRN.DecodeError.notTwentyDigits) { try UTRN("7394614433204021731") }
    }

    @Test func utrnRoundTrips() throws {
        let text = UTRN.make(counter: 17 << 32, valueClass: .pennies, value: 2500, mac: 0xDEAD_BEEF)
        let utrn = try UTRN(text)
        #expect(utrn.pence == 2500)
        #expect(utrn.counter(above: 16 << 32) == 17 << 32)
        #expect(utrn.mac == 0xDEAD_BEEF)
    }

    @Test func fleetEUIsCarryPremisesAndSlot() {
        let eui = FleetEUI.make(index: 123_456, slot: .gpf)
        #expect(FleetEUI.parse(eui)?.index == 123_456)
        #expect(FleetEUI.parse(eui)?.slot == .gpf)
        #expect(FleetEUI.parse(EUI64(0x00DB_1234_5678_90A0)) == nil)
    }
}

@Suite struct FleetTests {
    static let spec = FleetSpec(seed: 42, premises: 3000, createdDay: UKCalendar.day(year: 2026, month: 11, day: 1))

    @Test func sameSeedSameFleet() throws {
        let first = Fleet.build(Self.spec)
        let second = Fleet.build(Self.spec)
        #expect(first.traits == second.traits)
        #expect(first.layout == second.layout)
        let other = Fleet.build(FleetSpec(seed: 43, premises: 3000, createdDay: Self.spec.createdDay))
        #expect(other.traits != first.traits)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("fleet.bin")
        try first.write(to: url)
        let read = try Fleet.read(from: url)
        #expect(read.traits == first.traits)
        #expect(read.layout == first.layout)
        #expect(read.spec == first.spec)
        #expect(MemoryLayout<PremisesTraits>.stride == 12)
    }

    @Test func damagedFleetFileIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("fleet.bin")
        try Fleet.build(FleetSpec(seed: 1, premises: 100, createdDay: Self.spec.createdDay)).write(to: url)
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 7).write(to: url)
        #expect(throws: Fleet.FileError.self) { try Fleet.read(from: url) }
        try Data("not a fleet".utf8).write(to: url)
        #expect(throws: Fleet.FileError.self) { try Fleet.read(from: url) }
    }

    @Test func identifiersAreValidUniqueAndLeadBack() {
        let fleet = Fleet.build(Self.spec)
        var mpans = Set<String>()
        var mprns = Set<String>()
        var postcodes = Set<String>()
        var gas = 0
        for index in 0..<fleet.count {
            let premises = fleet.premises(index)
            #expect(MPAN.isValid(premises.importMPAN))
            #expect(premises.importMPAN.hasPrefix(String(premises.area.distributorID)))
            #expect(mpans.insert(premises.importMPAN).inserted)
            #expect(fleet.index(mpan: premises.importMPAN) == index)
            if let export = premises.exportMPAN {
                #expect(mpans.insert(export).inserted)
                #expect(fleet.index(mpan: export) == index)
            }
            if let mprn = premises.mprn {
                gas += 1
                #expect(mprns.insert(mprn).inserted)
                #expect(fleet.index(mprn: mprn) == index)
            }
            for slot in premises.slots {
                #expect(fleet.device(premises.eui(slot))?.index == index)
            }
            #expect(LicenceArea.area(postcode: premises.postcode)?.distributorID == premises.area.distributorID)
            postcodes.insert(premises.postcode)
        }
        // Most homes have gas; postcodes hold about 15 addresses.
        #expect(Double(gas) / Double(fleet.count) > 0.75)
        #expect(Double(fleet.count) / Double(postcodes.count) > 8)
        #expect(Double(fleet.count) / Double(postcodes.count) < 25)
        // Every licence area has homes, weighted by its share.
        let london = (0..<fleet.count).filter { fleet.premises($0).area.distributorID == 12 }.count
        #expect(abs(Double(london) / Double(fleet.count) - 0.078) < 0.01)
        // A postcode finds its homes.
        let sample = fleet.premises(1234)
        #expect(fleet.indices(postcode: sample.postcode)?.contains(1234) == true)
    }

    @Test func noTwoHomesAlike() {
        let fleet = Fleet.build(FleetSpec(seed: 9, premises: 400, createdDay: Self.spec.createdDay))
        let engine = MeterEngine()
        let day = Self.spec.createdDay - 30
        var seen = Set<[Int32]>()
        for index in 0..<fleet.count {
            let model = PremisesModel(fleet: fleet, index: index)
            guard model.installDay < day else { continue }
            let readings = engine.readings(model, PremisesState(), day: day)
            let values = (0..<48).map { readings.importWh[$0] }
            #expect(seen.insert(values).inserted, "premises \(index) repeats another home's day")
        }
    }
}
