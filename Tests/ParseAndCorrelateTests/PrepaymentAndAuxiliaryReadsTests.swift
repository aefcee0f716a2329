import Foundation
import GBCS
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// Prepayment configuration, the auxiliary controller event log and configuration
/// against DCC's reference vectors, values by hand (read with `gbsm gbcs parse --tree`).
@Suite struct PrepaymentAndAuxiliaryReadsTests {
    static func xml(_ name: String) throws -> String {
        let vector = try #require(try MMCMappingTests.responses().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func prepaymentConfiguration() throws {
        // ECS26a: proportion 5000, max_provision 10000, the single disablement threshold
        // -500000, preset credit 2500000 and threshold 100000, low credit 500000, maximum
        // credit 5000000 and meter balance 10000000.
        let single = try Self.xml("ECS26a_4.13_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(single.contains("<ra:ReadPrepaymentConfigurationRsp><ra:DebtRecoveryPerPayment>5000</ra:DebtRecoveryPerPayment><ra:DebtRecoveryRateCap>10000</ra:DebtRecoveryRateCap><ra:DisablementThreshold>-500000</ra:DisablementThreshold><ra:EmergencyCreditLimit>2500000</ra:EmergencyCreditLimit><ra:EmergencyCreditThreshold>100000</ra:EmergencyCreditThreshold><ra:LowCreditThreshold>500000</ra:LowCreditThreshold><ra:CreditMaxCreditThreshold>5000000</ra:CreditMaxCreditThreshold><ra:MaxCreditMaxMeterBalance>10000000</ra:MaxCreditMaxMeterBalance><ra:Electricity>"))
        // Special day 3 is 07DF0405FF, 2015-04-05; entry 2 of the calendar starts at
        // 18:00 (12000000), from 2014-10-26 to 2015-03-29; entry 3 (selector 33) stops on
        // weekdays (F8).
        #expect(single.contains("<ra:SpecialDay index=\"3\"><ra:Year><ra:SpecifiedYear>2015</ra:SpecifiedYear></ra:Year><ra:Month><ra:SpecifiedMonth>4</ra:SpecifiedMonth></ra:Month><ra:DayOfMonth><ra:SpecifiedDayOfMonth>5</ra:SpecifiedDayOfMonth></ra:DayOfMonth>"))
        #expect(single.contains("<ra:NonDisablementScript>STOP</ra:NonDisablementScript><ra:SpecialDaysApplicability></ra:SpecialDaysApplicability><ra:DaysOfWeekApplicability><ra:DayOfWeekApplicability><ra:DayOfWeekID>Monday</ra:DayOfWeekID></ra:DayOfWeekApplicability>"))
        #expect(single.contains("<ra:ScheduleDatesAndTime><ra:SwitchTime>18:00:00.00Z</ra:SwitchTime><ra:StartDate>2014-10-26Z</ra:StartDate><ra:EndDate>2015-03-29Z</ra:EndDate></ra:ScheduleDatesAndTime>"))
        #expect(single.components(separatedBy: "<ra:ElectricityNonDisablementSchedule>").count == 7)
        // Debt recovery rates: 5000 and 6000 at price scale -5, daily (86400 s).
        #expect(single.contains("<ra:DebtRecovery1><ra:DebtRecoveryRate>5000</ra:DebtRecoveryRate><ra:DebtRecoveryRatePriceScale>-5</ra:DebtRecoveryRatePriceScale><ra:DebtRecoveryRatePeriod>DAILY</ra:DebtRecoveryRatePeriod></ra:DebtRecovery1>"))
        #expect(single.contains("<ra:DebtRecovery2><ra:DebtRecoveryRate>6000</ra:DebtRecoveryRate>"))
        #expect(!single.contains("PaymentMode"))
        #expect(try Self.xml("ECS26a_4.13_TWIN_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:DebtRecoveryPerPayment>5000</ra:DebtRecoveryPerPayment>"))
        #expect(try Self.xml("ECS26a_4.13_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadPrepaymentConfigurationRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func auxiliaryControllerEventLog() throws {
        // ECS35g: 25 entries; the first 471916800 s (2014-12-15T00:00Z), 0x0211 (switch 2
        // on), outcome 0, HAN command 1418601600; the second 0x0200 (an HC ALCS's answer),
        // success; 0x0520 is switch 5 back to calendar control, succeeded, no HAN command.
        let log = try Self.xml("ECS35g_6.13_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(log.components(separatedBy: "<ra:ALCSEventLogEntry>").count == 26)
        #expect(log.contains("<ra:ReadEventOrSecurityLogRsp><ra:ALCSEvent><ra:ALCSEventLogEntry><ra:Timestamp>2014-12-15T00:00:00.000Z</ra:Timestamp><ra:SwitchNumber>2</ra:SwitchNumber><ra:SwitchAction>On</ra:SwitchAction><ra:Outcome>Outcome not known</ra:Outcome><ra:HANCommandID>1418601600</ra:HANCommandID></ra:ALCSEventLogEntry>"))
        #expect(log.contains("<ra:ALCSEventLogEntry><ra:Timestamp>2014-12-15T00:00:05.000Z</ra:Timestamp><ra:SwitchNumber>2</ra:SwitchNumber><ra:SwitchAction>Entry relates to a Message from an HC ALCS</ra:SwitchAction><ra:Outcome>Success</ra:Outcome><ra:HANCommandID>1418601600</ra:HANCommandID>"))
        #expect(log.contains("<ra:SwitchNumber>5</ra:SwitchNumber><ra:SwitchAction>Revert to calendar control</ra:SwitchAction><ra:Outcome>Success</ra:Outcome></ra:ALCSEventLogEntry>"))
        #expect(try Self.xml("ECS35g_6.13_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadEventOrSecurityLogRsp MessageSuccess=\"false\">"))
    }

    @Test func switchActions() throws {
        // The Set Auxiliary Controller State identifiers: controller 3 at 50 with input
        // from the controlled load; anything else is not one GBCS gives.
        let input = try PrepaymentAndAuxiliaryReads.switchAction(0x2332)
        #expect(input.map(\.name) == ["SwitchNumber", "AuxiliaryControllerLevel", "InputFromControlledLoad"])
        #expect(input.map(\.text) == ["3", "50", nil])
        #expect(try PrepaymentAndAuxiliaryReads.switchAction(0x0312).map(\.text) == ["3", "Off"])
        #expect(throws: MappingError.self) { try PrepaymentAndAuxiliaryReads.switchAction(0x0613) }
        #expect(throws: MappingError.self) { try PrepaymentAndAuxiliaryReads.switchAction(0x1565) }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func auxiliaryControllerConfiguration() throws {
        // ECS61d: five descriptions, three special days (the third 2015-04-03) and six
        // calendar entries; the second 0x21B2 (controller 1, level 50, input) at 09:30
        // on weekdays and special days 1 and 3 (A0), 2015-06-21 to 2015-12-21.
        let configuration = try Self.xml("ECS61d_7.14_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(configuration.contains("<ra:ReadAuxiliaryControllerConfigurationDataRsp><ra:AuxiliaryControllerDescription auxiliaryControllerN=\"1\"><ra:AuxiliaryControlDescription>ALCS_1_Description</ra:AuxiliaryControlDescription></ra:AuxiliaryControllerDescription><ra:AuxiliaryControllerDescription auxiliaryControllerN=\"2\"><ra:AuxiliaryControlDescription>HCALCS_2_Description</ra:AuxiliaryControlDescription>"))
        #expect(configuration.contains("<ra:AuxiliaryControllerSpecialDayDefinition identifier=\"3\"><ra:Year><ra:SpecifiedYear>2015</ra:SpecifiedYear></ra:Year><ra:Month><ra:SpecifiedMonth>4</ra:SpecifiedMonth></ra:Month><ra:DayOfMonth><ra:SpecifiedDayOfMonth>3</ra:SpecifiedDayOfMonth></ra:DayOfMonth>"))
        #expect(configuration.components(separatedBy: "<ra:AuxiliaryControllerSchedule>").count == 7)
        #expect(configuration.contains("<ra:AuxiliaryControllerSchedule><ra:AuxiliaryControllerAction auxiliaryControllerN=\"1\"><ra:CommandedStateLevel>50</ra:CommandedStateLevel><ra:InputFromControlledLoad></ra:InputFromControlledLoad></ra:AuxiliaryControllerAction><ra:SpecialDaysApplicability identifier=\"1\"></ra:SpecialDaysApplicability><ra:SpecialDaysApplicability identifier=\"3\"></ra:SpecialDaysApplicability><ra:DaysOfWeekApplicability>"))
        #expect(configuration.contains("<ra:AuxiliaryControllerSchedulePeriodAndTime><ra:SwitchTime>09:30:00.00Z</ra:SwitchTime><ra:StartDate><ra:Year><ra:SpecifiedYear>2015</ra:SpecifiedYear></ra:Year><ra:Month><ra:SpecifiedMonth>6</ra:SpecifiedMonth></ra:Month><ra:DayOfMonth><ra:SpecifiedDayOfMonth>21</ra:SpecifiedDayOfMonth>"))
        #expect(try Self.xml("ECS61d_7.14_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadAuxiliaryControllerConfigurationDataRsp MessageSuccess=\"false\">"))
    }
}

/// 7.15: the vector's five controllers (an HC ALCS, the meter's ALCS, two of no known
/// form, another ALCS) and their states as sent.
@Suite struct AuxiliaryControllerOperationalDataTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func operationalData() throws {
        let vector = try #require(try MMCMappingTests.responses().first { $0.path.hasSuffix("/ECS61e_7.15_SUCCESS_RESPONSE_GBCS.HEX") })
        let xml = try #require(try MMCMappingTests.xml(vector))
        #expect(xml.contains("<ra:AuxiliaryControllerOperationalData auxiliaryControllerN=\"1\"><ra:TypeAndIdentifier><ra:AuxiliaryControllerType>HCALCS</ra:AuxiliaryControllerType><ra:HCALCSID>12-34-56-78-90-AB-CD-EF</ra:HCALCSID>"))
        #expect(xml.contains("<ra:AuxiliaryControllerOperationalData auxiliaryControllerN=\"2\"><ra:TypeAndIdentifier><ra:AuxiliaryControllerType>ALCS</ra:AuxiliaryControllerType></ra:TypeAndIdentifier>"))
        #expect(xml.contains("<ra:AuxiliaryControllerOperationalData auxiliaryControllerN=\"3\"><ra:AuxiliaryControllerStateAndAssociatedInformation><ra:OutputState>100</ra:OutputState><ra:InputState>0</ra:InputState>"))
        #expect(xml.contains("<ra:StateAndAssociatedInformation>{}</ra:StateAndAssociatedInformation>"))
        #expect(SchemaCheck.mmcProblems(in: Array(xml.utf8)).isEmpty)
    }
}
