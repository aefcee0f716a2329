import DUIS
@testable import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The tariff, prepayment and auxiliary controller family's encoders beyond the RTDS round
/// trip: without the command (GBCS's fixed layouts and DCC's sequence numbers give the
/// vectors' payloads), on refusals, and on answers shaped as gbsm's emulator writes them.
@Suite struct GBCSAnswersTariffAndPrepaymentTests {
    typealias RoundTrip = GBCSAnswerRoundTripTests

    static func vector(_ name: String) throws -> RoundTrip.Vector {
        try #require(try RoundTrip.vectors().first { ($0.path as NSString).lastPathComponent == name + "_RESPONSE_GBCS.HEX" }, "\(name)")
    }

    static func write(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool, keys: RoundTrip.DeviceSide) throws -> GBCSFrame {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        return try GBCSAnswerWriter(keys: keys).frame(body, context: context)
    }

    static func read(_ frame: GBCSFrame, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    static func read(_ vector: RoundTrip.Vector, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: vector.response, keys: keys), srv: srv)
    }

    static func roundTrip(_ body: DataNode, like name: String, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try read(try write(body, like: try vector(name), srv: srv, withCommand: true, keys: keys), srv: srv, keys: keys)
    }

    /// The success vectors written octet for octet, and their SRVs.
    static let exact: [(String, SRV)] = [("ECS24_4.11.1_SUCCESS", "4.11.1"), ("GCS21f_4.11.1_SUCCESS", "4.11.1"), ("ECS26a_4.13_SINGLE_SUCCESS", "4.13"),
                        ("ECS35g_6.13_SUCCESS", "6.13"), ("ECS61d_7.14_SUCCESS", "7.14")]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func fixedLayoutsAreTheCommands() throws {
        let keys = try RoundTrip.keys
        for (name, srv) in Self.exact {
            let vector = try Self.vector(name)
            let body = try #require(try Self.read(vector, srv: srv, keys: keys))
            for withCommand in [true, false] {
                let written = try Self.write(body, like: vector, srv: srv, withCommand: withCommand, keys: keys)
                #expect(Hex.encode(written.content) == Hex.encode(vector.response.content), "\(name) \(withCommand)")
            }
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func refusalsAreReadAsRefusals() throws {
        let keys = try RoundTrip.keys
        for (name, srv) in Self.exact + [("ECS24b_4.11.2_SUCCESS", "4.11.2"), ("ECS61e_7.15_SUCCESS", "7.15")] {
            let vector = try Self.vector(name)
            let body = try #require(try Self.read(vector, srv: srv, keys: keys))
            for withCommand in [true, false] {
                let refusal = DataNode(body.name, attributes: [("MessageSuccess", "false")])
                let read = try #require(try Self.read(try Self.write(refusal, like: vector, srv: srv, withCommand: withCommand, keys: keys), srv: srv, keys: keys))
                #expect(read.attribute("MessageSuccess") == "false", "\(name) \(withCommand)")
            }
        }
    }

    /// An electricity primary element as the emulator writes it (4.11.1): Parse and
    /// Correlate reads back all but `CurrencyUnitsName` (no GBCS value), and always writes
    /// the block price matrix, the special days and the eight threshold rows.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorTariffsAreWritten() throws {
        let keys = try RoundTrip.keys
        let tariff = MeterTariff(ElectricityTariff.make(.economy7, perMille: 1000, prepayment: false))
        var electricity = DataNode("Electricity")
        electricity.add("PrimaryActiveTariffPrice", tariff.shown.tou.first ?? 0)
        electricity.add("CurrencyUnitsLabel", tariff.currency)
        electricity.add("CurrencyUnitsName", "Millipence")
        electricity.add("StandingCharge", tariff.shown.standingCharge)
        electricity.add("StandingChargeScale", tariff.shown.standingChargeScale)
        electricity.add("PriceScale", tariff.shown.priceScale)
        electricity.add("TariffTOUPriceMatrix") { matrix in
            for (index, price) in tariff.shown.tou.enumerated() { matrix.add("TariffTOUPrice", String(price), attributes: [("index", String(index + 1))]) }
        }
        electricity.add(TariffRead.switchingTable(tariff.calendar))
        let body = DataNode("ReadTariffPrimaryElementRsp", children: [electricity])
        let read = try #require(try Self.roundTrip(body, like: "ECS24_4.11.1_SUCCESS", srv: "4.11.1", keys: keys))
        var expected = electricity
        expected.children.removeAll { $0.name == "CurrencyUnitsName" }
        expected.children.insert(DataNode("TariffBlockPriceMatrix"), at: 5)
        expected.add(DataNode("TariffSwitchingTableSpecialDays"))
        expected.add(DataNode("TariffThresholdMatrix", children: (1...8).map { DataNode("ElecTariffThresholds", attributes: [("index", String($0))]) }))
        #expect(read == DataNode(body.name, children: [expected]))

        // 4.11.2: the secondary element reads back as written.
        var secondary = DataNode("ReadTariffSecondaryElementRsp")
        secondary.add("SecondaryActiveTariffPrice", 12000)
        secondary.add("PriceScale", -5)
        secondary.add("TariffTOUPriceMatrix") { $0.add("TariffTOUPrice", "12000", attributes: [("index", "1")]) }
        secondary.add(TariffRead.switchingTable(tariff.calendar))
        secondary.add(DataNode("TariffSwitchingTableSpecialDays"))
        #expect(try Self.roundTrip(secondary, like: "ECS24b_4.11.2_SUCCESS", srv: "4.11.2", keys: keys) == secondary)

        // A value out of its DLMS type is a shape error, not a crash.
        var wide = electricity
        if let position = wide.children.firstIndex(where: { $0.name == "StandingCharge" }) { wide.children[position].text = "40000" }
        #expect(throws: GBCSAnswerError.self) { try Self.roundTrip(DataNode(body.name, children: [wide]), like: "ECS24_4.11.1_SUCCESS", srv: "4.11.1", keys: keys) }
    }

    /// The emulator's gas tariff (one block price, a constant calendar) is written; what the
    /// emulator leaves out, GCS21f still carries (zero prices, thresholds never reached).
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorGasTariffIsWritten() throws {
        let keys = try RoundTrip.keys
        var gas = DataNode("Gas")
        gas.add("PrimaryActiveTariffPrice", 6330)
        gas.add("PrimaryActiveTariffPriceScale", -5)
        gas.add("CurrencyUnitsLabel", "GBP")
        gas.add("StandingCharge", 29820)
        gas.add("TariffSwitchingTable") { table in
            table.add("DayProfiles") { $0.add("DayProfile") { day in day.add("DayName", 1); day.addEmpty("BlockTariff") } }
            table.add("WeekProfiles") { weeks in
                weeks.add("WeekProfile") { week in
                    week.add("WeekName", 1)
                    for index in 1...7 { week.add("ReferencedDay", "1", attributes: [("index", String(index))]) }
                }
            }
            table.add("Seasons") { seasons in
                seasons.add("Season") { season in
                    season.add(TariffRead.dateNode("SeasonStartDate", .newYear, gas: true))
                    season.add("ReferencedWeekName", 1)
                }
            }
        }
        gas.add("TariffThresholds") { $0.add("BlockThreshold", "100.000", attributes: [("index", "1")]) }
        gas.add("BlockTariff") { $0.add("BlockPrice", "6330", attributes: [("index", "1")]) }
        let read = try #require(try Self.roundTrip(DataNode("ReadTariffPrimaryElementRsp", children: [gas]), like: "GCS21f_4.11.1_SUCCESS", srv: "4.11.1", keys: keys))
        let readGas = try #require(read.child("Gas"))
        #expect(read.attribute("MessageSuccess") == nil)
        #expect(readGas.child("PrimaryActiveTariffPrice")?.text == "6330")
        #expect(readGas.child("TariffSwitchingTable") == gas.child("TariffSwitchingTable"))
        #expect(readGas.child("TariffThresholds")?.all("BlockThreshold").first?.text == "100")
        #expect(readGas.child("BlockTariff")?.all("BlockPrice").map(\.text) == ["6330", "0", "0", "0"])
    }

    /// 7.14 and 7.15 as the emulator writes them for one HC ALCS.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorAuxiliaryAnswersAreWritten() throws {
        let keys = try RoundTrip.keys
        var configuration = DataNode("ReadAuxiliaryControllerConfigurationDataRsp")
        for n in 1...5 {
            configuration.add(DataNode("AuxiliaryControllerDescription", attributes: [("auxiliaryControllerN", String(n))],
                                       children: [DataNode("AuxiliaryControlDescription", text: n == 1 ? "Storage heating" : "")]))
        }
        configuration.add(DataNode("AuxiliaryControllerSpecialDayDefinitions"))
        #expect(try Self.roundTrip(configuration, like: "ECS61d_7.14_SUCCESS", srv: "7.14", keys: keys) == configuration)

        var operational = DataNode("ReadAuxiliaryControllerOperationalDataRsp")
        operational.add(DataNode("AuxiliaryControllerOperationalData", attributes: [("auxiliaryControllerN", "1")], children: [
            DataNode("TypeAndIdentifier", children: [DataNode("AuxiliaryControllerType", text: "HCALCS"), DataNode("HCALCSID", text: "00-DB-12-34-56-78-90-A4")]),
            DataNode("AuxiliaryControllerStateAndAssociatedInformation", children: [
                DataNode("OutputState", text: "100"), DataNode("InputState", text: "100"),
                DataNode("StateAndAssociatedInformation", text: "{\"outputState\": 100, \"inputState\": 100}"),
            ]),
        ]))
        let read = try #require(try Self.roundTrip(operational, like: "ECS61e_7.15_SUCCESS", srv: "7.15", keys: keys))
        #expect(read.all("AuxiliaryControllerOperationalData").first == operational.children.first)
        #expect(read.all("AuxiliaryControllerOperationalData").count == 5)
    }
}
