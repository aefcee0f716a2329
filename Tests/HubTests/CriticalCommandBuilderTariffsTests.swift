import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The tariff family's pre-commands beyond the critical templates: the RTDS vectors that
/// have no template (ECS01a and ECS01b TOU, the ERROR variants, GCS01a), from bodies
/// written after the DUIS XSD with the values the vectors carry, and the values the
/// builders refuse.
@Suite struct CriticalCommandBuilderTariffsTests {
    static let user = EUI64(compactHex: "90B3D51F30010000")!
    static let esme = EUI64(compactHex: "00DB1234567890A0")!
    static let gsme = EUI64(compactHex: "00DB1234567890A1")!

    static func build(_ srv: SRV, _ xml: String, device: DeviceType = .esme, counter: UInt64 = 1000,
                      activation: ExecutionTime = .now) throws -> GBCSFrame? {
        guard let builder = CriticalCommandBuilder.tariffBuilders[srv] else { return nil }
        let document = try XMLDocument.parse(xml)
        let body = ElementTree(try #require(document.root))
        let target = device == .gsme ? gsme : esme
        var input = CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: target, deviceType: device, counter: counter)
        input.activation = activation
        let built = try builder(input)
        return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: target, dateTime: nil,
                         messageCode: built.messageCode, supplement: .none, content: built.content, signature: .absent)
    }

    static func vector(_ path: String) throws -> [UInt8] {
        let text = try String(contentsOf: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0/" + path), encoding: .utf8)
        return try #require(Hex.decode(text))
    }

    // MARK: Bodies, after the XSD

    static func date(_ year: Int?, _ month: Int, _ day: Int) -> String {
        (year.map { "<Year><SpecifiedYear>\($0)</SpecifiedYear></Year>" } ?? "<Year><NonSpecifiedYear/></Year>")
            + "<Month><SpecifiedMonth>\(month)</SpecifiedMonth></Month><DayOfMonth><SpecifiedDayOfMonth>\(day)</SpecifiedDayOfMonth></DayOfMonth>"
            + "<DayOfWeek><NonSpecifiedDayOfWeek/></DayOfWeek>"
    }

    static func gasDate(_ year: Int?, _ month: Int, _ day: Int) -> String {
        (year.map { "<GasYearWithWildcards><SpecifiedYear>\($0)</SpecifiedYear></GasYearWithWildcards>" }
            ?? "<GasYearWithWildcards><NonSpecifiedYear/></GasYearWithWildcards>")
            + "<GasMonthWithWildcards><SpecifiedMonth>\(month)</SpecifiedMonth></GasMonthWithWildcards>"
            + "<GasDayOfMonthWithWildcards><SpecifiedDayOfMonth>\(day)</SpecifiedDayOfMonth></GasDayOfMonthWithWildcards>"
            + "<GasDayOfWeekWithWildcards><NonSpecifiedDayOfWeek/></GasDayOfWeekWithWildcards>"
    }

    static func weeks(_ weeks: [(Int, [Int])]) -> String {
        "<WeekProfiles>" + weeks.map { week in
            "<WeekProfile><WeekName>\(week.0)</WeekName>"
                + week.1.enumerated().map { "<ReferencedDayName index=\"\($0.offset + 1)\">\($0.element)</ReferencedDayName>" }.joined()
                + "</WeekProfile>"
        }.joined() + "</WeekProfiles>"
    }

    static func indexed(_ name: String, _ values: [Int]) -> String {
        values.enumerated().map { "<\(name) index=\"\($0.offset + 1)\">\($0.element)</\(name)>" }.joined()
    }

    static func electricityPrices(_ scheme: String) -> String {
        "<PriceElements><ElectricityPriceElements><StandingCharge>20000</StandingCharge><StandingChargeScale>-5</StandingChargeScale>"
            + "<PriceScale>-5</PriceScale>\(scheme)</ElectricityPriceElements></PriceElements>"
    }

    /// The tariff of ECS01a IMMEDIATE_TOU and IMMEDIATE_ERROR: three day profiles of TOU
    /// rates 2/3, 3/2 and 1, winter and summer weeks, two special days, no thresholds.
    static let touTariff: String = {
        let schedule = { (start: String, rate: Int) in "<ProfileSchedule><StartTime>\(start)</StartTime><TOUTariffAction>\(rate)</TOUTariffAction></ProfileSchedule>" }
        let days = "<DayProfiles>"
            + "<DayProfile><DayName>1</DayName>\(schedule("00:00:00.00Z", 2))\(schedule("07:00:00.00Z", 3))</DayProfile>"
            + "<DayProfile><DayName>2</DayName>\(schedule("06:00:00.00Z", 3))\(schedule("23:00:00.00Z", 2))</DayProfile>"
            + "<DayProfile><DayName>3</DayName>\(schedule("00:00:00.00Z", 1))</DayProfile></DayProfiles>"
        let seasons = "<Seasons><Season><SeasonName>winter</SeasonName><SeasonStartDate>\(date(2014, 10, 27))</SeasonStartDate><ReferencedWeekName>1</ReferencedWeekName></Season>"
            + "<Season><SeasonName>summer</SeasonName><SeasonStartDate>\(date(2015, 3, 29))</SeasonStartDate><ReferencedWeekName>2</ReferencedWeekName></Season></Seasons>"
        let special = "<SpecialDays><SpecialDay><Date>\(date(2015, 5, 1))</Date><ReferencedDayName>2</ReferencedDayName></SpecialDay>"
            + "<SpecialDay><Date>\(date(nil, 12, 25))</Date><ReferencedDayName>3</ReferencedDayName></SpecialDay></SpecialDays>"
        let thresholds = "<ThresholdMatrix>" + (1...8).map { "<Thresholds index=\"\($0)\"><BlockThreshold index=\"1\">4294967295</BlockThreshold></Thresholds>" }.joined()
            + "</ThresholdMatrix>"
        return "<UpdateImportTariffPrimaryElement><ElecTariffElements><CurrencyUnits>GBP</CurrencyUnits><SwitchingTable>\(days)"
            + weeks([(1, [1, 1, 1, 1, 1, 3, 3]), (2, [2, 2, 2, 2, 2, 3, 3])]) + "\(seasons)</SwitchingTable>\(special)\(thresholds)</ElecTariffElements>"
            + electricityPrices("<TOUTariff>" + indexed("TOUPrice", [2121, 3127, 4744]) + "</TOUTariff>") + "</UpdateImportTariffPrimaryElement>"
    }()

    /// GCS01a's gas tariff: four day profiles (TOU tiers 1…4, or one block tariff day),
    /// weeks, seasons from 20 March and 21 June of any year, special days of 2015.
    static func gasTariff(block: Bool) -> String {
        let days = block ? "<DayProfile><DayName>1</DayName><BlockTariff/></DayProfile>"
            : (1...4).map { "<DayProfile><DayName>\($0)</DayName><TOUTariffAction>\($0)</TOUTariffAction></DayProfile>" }.joined()
        let weekList = block ? weeks([(1, [1, 1, 1, 1, 1, 1, 1])]) : weeks([(1, [1, 1, 1, 1, 1, 2, 2]), (2, [3, 3, 3, 3, 3, 4, 4])])
        let season = { (month: Int, day: Int, week: Int) in
            "<Season><SeasonStartDate>\(gasDate(nil, month, day))</SeasonStartDate><ReferencedWeekName>\(week)</ReferencedWeekName></Season>"
        }
        let seasons = block ? season(3, 20, 1) : season(3, 20, 1) + season(6, 21, 2)
        let holidays = block ? [] : [(1, 1), (1, 2), (3, 1), (3, 17), (4, 3), (4, 6), (4, 23), (5, 4), (5, 9), (5, 25)]
        let special = holidays.map { "<SpecialDay><Date>\(gasDate(2015, $0.0, $0.1))</Date><ReferencedDayName>2</ReferencedDayName></SpecialDay>" }.joined()
        let thresholds = block ? [1_000_000, 2_000_000, 3_000_000] : [1_000_000]
        return "<UpdateImportTariffPrimaryElement><GasTariffElements><SwitchingTable><DayProfiles>\(days)</DayProfiles>\(weekList)<Seasons>\(seasons)</Seasons>"
            + "</SwitchingTable><SpecialDays>\(special)</SpecialDays><ThresholdMatrix>" + indexed("BlockThreshold", thresholds) + "</ThresholdMatrix>"
            + "</GasTariffElements>" + gasPrices(block: block) + "</UpdateImportTariffPrimaryElement>"
    }

    static func gasPrices(block: Bool) -> String {
        let prices = [9600, 10200, 10750, 11000]
        let scheme = block ? "<BlockTariff>" + indexed("BlockPrice", prices) + "<NumberOfThresholds>3</NumberOfThresholds></BlockTariff>"
            : "<TOUTariff>" + indexed("TOUPrice", prices) + "</TOUTariff>"
        return "<PriceElements><GasPriceElements><CurrencyUnits>GBP</CurrencyUnits><StandingCharge>\(block ? 54794 : 22465)</StandingCharge>"
            + "\(scheme)</GasPriceElements></PriceElements>"
    }

    // MARK: Tests

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func vectorsWithoutTemplates() throws {
        let touPrices = Self.electricityPrices("<TOUTariff>" + Self.indexed("TOUPrice", [3221, 4327, 5744]) + "</TOUTariff>")
        let secondary = "<UpdatePriceSecondaryElement><PriceElements><PriceScale>-5</PriceScale>"
            + Self.indexed("ElectricityPriceElement", [1010, 1120, 1230, 1340]) + "</PriceElements></UpdatePriceSecondaryElement>"
        let cases: [(srv: SRV, xml: String, device: DeviceType, counter: UInt64, vector: String)] = [
            ("1.1.1", Self.touTariff, .esme, 1006, "1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("1.1.1", Self.touTariff, .esme, 1012, "1.1.1_ECS01a/ECS01a_1.1.1_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.2.1", "<UpdatePricePrimaryElement>\(touPrices)</UpdatePricePrimaryElement>", .esme, 1003,
             "1.2.1_ECS01b/ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("1.2.1", "<UpdatePricePrimaryElement>\(touPrices)</UpdatePricePrimaryElement>", .esme, 1007,
             "1.2.1_ECS01b/ECS01b_1.2.1_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.2.2", secondary, .esme, 1005, "1.2.2_ECS01d/ECS01d_1.2.2_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.1.1", Self.gasTariff(block: false), .gsme, 1007, "1.1.1_GCS01a/GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS_PRECOMMAND_GBCS.HEX"),
        ]
        for item in cases {
            let built = try #require(try Self.build(item.srv, item.xml, device: item.device, counter: item.counter))
            let expected = try Self.vector(item.vector)
            #expect(Hex.encode(built.encode()) == Hex.encode(expected), "\(item.vector)")
        }
    }

    /// The RTDS has GCS01a's block tariff only future-dated (2030-01-15T09:00:00Z, the
    /// start time of every component) or cancelled: built with that execution time, it is
    /// the vector octet for octet (the cancellation: CriticalCommandBuilderFutureDatedTests).
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func gasBlockTariffAndSetPrice() throws {
        let at = ExecutionTime.at(Timestamp(year: 2030, month: 1, day: 15, hour: 9))
        let built = try #require(try Self.build("1.1.1", Self.gasTariff(block: true), device: .gsme, counter: 1005, activation: at))
        let expected = try Self.vector("1.1.1_GCS01a/GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS_PRECOMMAND_GBCS.HEX")
        #expect(built.messageCode == 0x006B)
        #expect(Hex.encode(built.encode()) == Hex.encode(expected))
        guard case .gbz(let ours) = try GBCSPayload.decode(built.content, cra: .command) else {
            Issue.record("not GBZ")
            return
        }
        try #require(ours.components.count == 8)
        // GCS01b (no RTDS vector): GCS01a's PublishTariffInformation and PublishPriceMatrix.
        let price = try #require(try Self.build("1.2.1", "<UpdatePricePrimaryElement>\(Self.gasPrices(block: true))</UpdatePricePrimaryElement>",
                                                device: .gsme, activation: at))
        #expect(price.messageCode == 0x00A3)
        guard case .gbz(let set) = try GBCSPayload.decode(price.content, cra: .command) else {
            Issue.record("not GBZ")
            return
        }
        #expect(set.components.map(\.command) == [0x04, 0x05] && set.components.map(\.control) == [0x00, 0x01])
        #expect(set.components.first?.payload == ours.components[5].payload && set.components.last?.payload == ours.components[7].payload)
    }

    @Test func hostileValuesAreRefused() {
        func refused(_ srv: SRV, _ xml: String, device: DeviceType = .esme) -> Bool {
            do {
                _ = try Self.build(srv, xml, device: device)
                return false
            } catch {
                return true
            }
        }
        let tou = Self.touTariff
        #expect(!refused("1.1.1", tou))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: ">2121<", with: ">32768<")), "a price beyond a long")
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "<TOUTariffAction>3<", with: "<TOUTariffAction>49<")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "index=\"7\">3<", with: "index=\"6\">3<")), "Sunday missing")
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "<Thresholds index=\"8\">", with: "<Thresholds index=\"1\">")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: ">GBP<", with: ">USD<")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "07:00:00.00Z", with: "24:30:00Z")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: ">winter<", with: ">midwinter<")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "<SpecifiedYear>2015<", with: "<SpecifiedYear>99999999999<")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "<StandingChargeScale>-5<", with: "<StandingChargeScale>-129<")))
        #expect(refused("1.1.1", tou.replacingOccurrences(of: "<TOUTariff>", with: "<BlockTariff>").replacingOccurrences(of: "</TOUTariff>", with: "</BlockTariff>")))
        #expect(refused("1.1.1", tou, device: .gsme))
        #expect(refused("1.1.1", tou, device: .chf))
        #expect(!refused("1.1.1", tou.replacingOccurrences(of: "07:00:00.00Z", with: "08:00:00+01:00")), "a zone moves the time to UTC")
        let secondary = { (prices: String) in "<UpdatePriceSecondaryElement><PriceElements><PriceScale>-5</PriceScale>\(prices)</PriceElements></UpdatePriceSecondaryElement>" }
        #expect(!refused("1.2.2", secondary("<ElectricityPriceElement index=\"2\">1</ElectricityPriceElement>")))
        #expect(refused("1.2.2", secondary("<ElectricityPriceElement index=\"5\">1</ElectricityPriceElement>")))
        #expect(refused("1.2.2", secondary("<ElectricityPriceElement index=\"1\">1</ElectricityPriceElement><ElectricityPriceElement index=\"1\">2</ElectricityPriceElement>")))
        #expect(refused("1.2.2", secondary(""), device: .esme))
        #expect(refused("1.2.2", secondary("<ElectricityPriceElement index=\"1\">1</ElectricityPriceElement>"), device: .gsme))
        let gas = Self.gasTariff(block: true)
        #expect(!refused("1.1.1", gas, device: .gsme))
        #expect(refused("1.1.1", gas.replacingOccurrences(of: ">1000000<", with: ">281474976710656<"), device: .gsme), "beyond UINT48")
        #expect(refused("1.1.1", gas.replacingOccurrences(of: "<BlockPrice index=\"3\">", with: "<BlockPrice index=\"5\">"), device: .gsme))
        #expect(refused("1.1.1", gas.replacingOccurrences(of: "<BlockThreshold index=\"3\">3000000</BlockThreshold>", with: ""), device: .gsme),
                "three thresholds in use, two given")
        #expect(refused("1.1.1", gas.replacingOccurrences(of: "<NonSpecifiedYear/>", with: "<SpecifiedYear>2155</SpecifiedYear>"), device: .gsme))
        #expect(refused("1.1.1", gas, device: .esme))
    }
}
