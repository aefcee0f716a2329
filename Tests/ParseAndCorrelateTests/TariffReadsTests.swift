import Foundation
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// Tariff reads against DCC's reference vectors, values by hand (read with
/// `gbsm gbcs parse --tree`).
@Suite struct TariffReadsTests {
    static func xml(_ name: String) throws -> String {
        let vector = try #require(try MMCMappingTests.responses().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func secondaryElement() throws {
        // ECS24b: price 10000 (scaler −5); matrix price_scale −5, prices 10000…13000;
        // day 1 selectors 201 at 00:00 and 202 at 12:00; season "spring" from 2015-03-20
        // (22:45, not in MMC) on week 0x01; special day FFFF-12-25 on day 4.
        let xml = try Self.xml("ECS24b_4.11.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(xml.contains("<ra:ReadTariffSecondaryElementRsp><ra:SecondaryActiveTariffPrice>10000</ra:SecondaryActiveTariffPrice><ra:PriceScale>-5</ra:PriceScale><ra:TariffTOUPriceMatrix><ra:TariffTOUPrice index=\"1\">10000</ra:TariffTOUPrice>"))
        #expect(xml.contains("<ra:TariffTOUPrice index=\"4\">13000</ra:TariffTOUPrice></ra:TariffTOUPriceMatrix>"))
        #expect(xml.contains("<ra:DayProfile><ra:Day>1</ra:Day><ra:ProfileSchedule><ra:StartTime>00:00:00.00Z</ra:StartTime><ra:TOUTariffAction>1</ra:TOUTariffAction></ra:ProfileSchedule><ra:ProfileSchedule><ra:StartTime>12:00:00.00Z</ra:StartTime><ra:TOUTariffAction>2</ra:TOUTariffAction></ra:ProfileSchedule></ra:DayProfile>"))
        #expect(xml.contains("<ra:Season><ra:SeasonName>spring</ra:SeasonName><ra:SeasonStartDate><ra:Year><ra:SpecifiedYear>2015</ra:SpecifiedYear></ra:Year><ra:Month><ra:SpecifiedMonth>3</ra:SpecifiedMonth></ra:Month><ra:DayOfMonth><ra:SpecifiedDayOfMonth>20</ra:SpecifiedDayOfMonth></ra:DayOfMonth><ra:DayOfWeek><ra:NonSpecifiedDayOfWeek></ra:NonSpecifiedDayOfWeek></ra:DayOfWeek></ra:SeasonStartDate><ra:ReferencedWeekName>1</ra:ReferencedWeekName></ra:Season>"))
        #expect(xml.contains("<ra:TariffSwitchingTableSpecialDays><ra:SpecialDay><ra:Date><ra:Year><ra:NonSpecifiedYear></ra:NonSpecifiedYear></ra:Year><ra:Month><ra:SpecifiedMonth>12</ra:SpecifiedMonth></ra:Month><ra:DayOfMonth><ra:SpecifiedDayOfMonth>25</ra:SpecifiedDayOfMonth></ra:DayOfMonth><ra:DayOfWeek><ra:NonSpecifiedDayOfWeek></ra:NonSpecifiedDayOfWeek></ra:DayOfWeek></ra:Date><ra:ReferencedDay>4</ra:ReferencedDay></ra:SpecialDay>"))
        #expect(try Self.xml("ECS24b_4.11.2_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadTariffSecondaryElementRsp MessageSuccess=\"false\"></ra:ReadTariffSecondaryElementRsp>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func primaryElectricity() throws {
        // ECS24: price 1; currency true (GBP); standing charge 20000 at −5; matrix
        // price_scale −5 with 0x01 = 2121, 0xA1 = 2289, 0xB1 = 3546, 0xA2 = 4002;
        // day 1 selectors 101 (07:00) and 102 (23:00), day 2 selector 1; TOU rate 1's
        // thresholds 10000, 4294967295, 4294967295.
        let xml = try Self.xml("ECS24_4.11.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(xml.contains("<ra:Electricity><ra:PrimaryActiveTariffPrice>1</ra:PrimaryActiveTariffPrice><ra:CurrencyUnitsLabel>GBP</ra:CurrencyUnitsLabel><ra:StandingCharge>20000</ra:StandingCharge><ra:StandingChargeScale>-5</ra:StandingChargeScale><ra:PriceScale>-5</ra:PriceScale><ra:TariffBlockPriceMatrix><ra:TariffBlockPrices index=\"1\"><ra:BlockPrice index=\"1\">2289</ra:BlockPrice><ra:BlockPrice index=\"2\">3546</ra:BlockPrice>"))
        #expect(xml.contains("<ra:TariffBlockPrices index=\"2\"><ra:BlockPrice index=\"1\">4002</ra:BlockPrice><ra:BlockPrice index=\"2\">6969</ra:BlockPrice>"))
        #expect(xml.contains("<ra:TariffTOUPriceMatrix><ra:TariffTOUPrice index=\"1\">2121</ra:TariffTOUPrice><ra:TariffTOUPrice index=\"2\">0</ra:TariffTOUPrice>"))
        #expect(xml.components(separatedBy: "<ra:TariffTOUPrice ").count == 49)
        #expect(xml.contains("<ra:DayProfile><ra:Day>1</ra:Day><ra:ProfileSchedule><ra:StartTime>07:00:00.00Z</ra:StartTime><ra:BlockTariffAction>1</ra:BlockTariffAction></ra:ProfileSchedule><ra:ProfileSchedule><ra:StartTime>23:00:00.00Z</ra:StartTime><ra:BlockTariffAction>2</ra:BlockTariffAction></ra:ProfileSchedule></ra:DayProfile><ra:DayProfile><ra:Day>2</ra:Day><ra:ProfileSchedule><ra:StartTime>00:00:00.00Z</ra:StartTime><ra:TOUTariffAction>1</ra:TOUTariffAction></ra:ProfileSchedule></ra:DayProfile>"))
        #expect(xml.contains("<ra:TariffThresholdMatrix><ra:ElecTariffThresholds index=\"1\"><ra:BlockThreshold index=\"1\">10000</ra:BlockThreshold><ra:BlockThreshold index=\"2\">4294967295</ra:BlockThreshold>"))
        #expect(xml.contains("<ra:Seasons><ra:Season><ra:SeasonName>all</ra:SeasonName>"))
        #expect(try Self.xml("ECS24_4.11.1_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadTariffPrimaryElementRsp MessageSuccess=\"false\"><ra:Electricity></ra:Electricity>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func primaryGas() throws {
        // GCS21f: Publish Price 9600 with trailing digit 5; Currency 826; Standing Charge
        // 22465; day 1 tier 1; seasons 0x72-09-17 (2014-09-23) on week 1; thresholds
        // 100000 × 1 / 1000; Tier1…4Block1Price 9600…11000; NoTierBlock1…4Price 10600…12000.
        let xml = try Self.xml("GCS21f_4.11.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(xml.contains("<ra:Gas><ra:PrimaryActiveTariffPrice>9600</ra:PrimaryActiveTariffPrice><ra:PrimaryActiveTariffPriceScale>-5</ra:PrimaryActiveTariffPriceScale><ra:CurrencyUnitsLabel>GBP</ra:CurrencyUnitsLabel><ra:StandingCharge>22465</ra:StandingCharge>"))
        #expect(xml.contains("<ra:DayProfiles><ra:DayProfile><ra:DayName>1</ra:DayName><ra:TOUTariffAction>1</ra:TOUTariffAction></ra:DayProfile>"))
        #expect(xml.contains("<ra:Season><ra:SeasonStartDate><ra:GasYearWithWildcards><ra:SpecifiedYear>2014</ra:SpecifiedYear></ra:GasYearWithWildcards><ra:GasMonthWithWildcards><ra:SpecifiedMonth>9</ra:SpecifiedMonth></ra:GasMonthWithWildcards><ra:GasDayOfMonthWithWildcards><ra:SpecifiedDayOfMonth>23</ra:SpecifiedDayOfMonth></ra:GasDayOfMonthWithWildcards>"))
        #expect(xml.contains("<ra:SpecifiedDayOfMonth>3</ra:SpecifiedDayOfMonth></ra:GasDayOfMonthWithWildcards><ra:GasDayOfWeekWithWildcards><ra:NonSpecifiedDayOfWeek></ra:NonSpecifiedDayOfWeek></ra:GasDayOfWeekWithWildcards></ra:Date><ra:ReferencedDay>4</ra:ReferencedDay></ra:SpecialDay></ra:TariffSwitchingTableSpecialDays>"))
        #expect(xml.contains("<ra:TariffThresholds><ra:BlockThreshold index=\"1\">100</ra:BlockThreshold><ra:BlockThreshold index=\"2\">200</ra:BlockThreshold><ra:BlockThreshold index=\"3\">300</ra:BlockThreshold></ra:TariffThresholds>"))
        #expect(xml.contains("<ra:TOUTariff><ra:TariffTOUPrice index=\"1\">9600</ra:TariffTOUPrice>"))
        #expect(xml.contains("<ra:TariffTOUPrice index=\"4\">11000</ra:TariffTOUPrice></ra:TOUTariff><ra:BlockTariff><ra:BlockPrice index=\"1\">10600</ra:BlockPrice>"))
        #expect(xml.contains("<ra:BlockPrice index=\"4\">12000</ra:BlockPrice></ra:BlockTariff></ra:Gas>"))
        for refused in ["GCS21f_4.11.1_ERROR_RESPONSE_GBCS.HEX", "GCS21f_4.11.1_NOT_FOUND_RESPONSE_GBCS.HEX"] {
            #expect(try Self.xml(refused).contains("<ra:ReadTariffPrimaryElementRsp MessageSuccess=\"false\"><ra:Gas></ra:Gas>"))
        }
    }
}
