import Foundation
import ParseAndCorrelate
import Testing
import TestSupport

/// The configuration and auxiliary load reads against DCC's Reference Test Data Set:
/// values by hand from the vectors (read with `gbsm gbcs parse --tree`).
@Suite struct ConfigurationReadsTests {
    static func xml(_ name: String) throws -> String {
        let vector = try #require(try MMCMappingTests.responses().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func voltageRandomisationAndThresholds() throws {
        // ECS26b: limiter thresholds then periods, in request order; the average RMS
        // thresholds last.
        let voltage = try Self.xml("ECS26b_6.2.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(voltage.contains("<ra:AverageRMSOverVoltageThreshold>264</ra:AverageRMSOverVoltageThreshold><ra:AverageRMSUnderVoltageThreshold>200</ra:AverageRMSUnderVoltageThreshold>"))
        #expect(voltage.contains("<ra:RMSExtremeOverVoltageMeasurementPeriod>30</ra:RMSExtremeOverVoltageMeasurementPeriod><ra:RMSExtremeOverVoltageThreshold>287</ra:RMSExtremeOverVoltageThreshold>"))
        #expect(voltage.contains("<ra:RMSVoltageSwellThreshold>253</ra:RMSVoltageSwellThreshold>"))
        // ECS26c asks for the offset, the number (94.44.0.2), then the limit (94.44.0.1).
        let randomisation = try Self.xml("ECS26c_6.2.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(randomisation.contains("<ra:RandomisedOffset>200</ra:RandomisedOffset><ra:RandomisedOffsetNumber>2000</ra:RandomisedOffsetNumber><ra:RandomisedOffsetLimit>1000</ra:RandomisedOffsetLimit>"))
        let thresholds = try Self.xml("ECS26f_6.2.5_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(thresholds.contains("<ra:LowMediumPowerThreshold>2300</ra:LowMediumPowerThreshold><ra:MediumHighPowerThreshold>4600</ra:MediumHighPowerThreshold>"))
        #expect(try Self.xml("ECS26b_6.2.1_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadDeviceConfigurationVoltageRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func billingCalendars() throws {
        // ECS26d: one execution time, 12:00 on day 1 of every month.
        let monthly = try Self.xml("ECS26d_6.2.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(monthly.contains("<ra:ElectricityBillingCalendar><ra:BillingTime>12:00:00.00Z</ra:BillingTime><ra:Monthly>1</ra:Monthly></ra:ElectricityBillingCalendar>"))
        // ECS26l: day 1 of January, April, July and October.
        let quarterly = try Self.xml("ECS26l_6.2.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(quarterly.contains("<ra:Quarterly><ra:DayOfMonth>1</ra:DayOfMonth><ra:BillingPeriodStartMonth>1</ra:BillingPeriodStartMonth></ra:Quarterly>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func identityAndPaymentMode() throws {
        // ECS26e: variant "B", tamper boolean true is Locked.
        let identity = try Self.xml("ECS26e_6.2.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(identity.contains("<ra:DeviceIdentifier>00-DB-12-34-56-78-90-A0</ra:DeviceIdentifier><ra:ModelType>ATGTypeX</ra:ModelType><ra:ManufacturerIdentifier>CSW</ra:ManufacturerIdentifier>"))
        #expect(identity.contains("<ra:Electricity><ra:SupplyTamperState>Locked</ra:SupplyTamperState><ra:MeterVariant>B</ra:MeterVariant></ra:Electricity>"))
        // ECS26i: identifier, model and manufacturer only.
        let short = try Self.xml("ECS26i_6.2.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(short.contains("<ra:ModelType>ATGTypeY</ra:ModelType>"))
        #expect(!short.contains("<ra:Electricity>"))
        // ECS26j: payment_mode enum 2 is prepayment.
        #expect(try Self.xml("ECS26j_6.2.9_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:ReadDeviceConfigurationPaymentModeRsp><ra:PaymentMode>Prepayment</ra:PaymentMode></ra:ReadDeviceConfigurationPaymentModeRsp>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func loadLimitAndAuxiliaryLoads() throws {
        // ECS27: supply state false (Unchanged), counter 30, threshold 6900 W, 300 s, 30 s.
        let loadLimit = try Self.xml("ECS27_4.15_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(loadLimit.contains("<ra:LoadLimitCounterValue>30</ra:LoadLimitCounterValue><ra:LoadLimitPowerThreshold>6900</ra:LoadLimitPowerThreshold><ra:LoadLimitPeriod>300</ra:LoadLimitPeriod><ra:LoadLimitRestorationPeriod>30</ra:LoadLimitRestorationPeriod><ra:LoadLimitSupplyState>Unchanged</ra:LoadLimitSupplyState>"))
        // ECS61c: six boosts, 472867200 s after 2000 is 2014-12-26T00:00Z, ending 01:21.
        let boost = try Self.xml("ECS61c_7.11_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(boost.components(separatedBy: "<ra:EventLogEntry>").count == 7)
        #expect(boost.contains("<ra:EventLogEntry><ra:BoostEnd>2014-12-26T01:21:00.000Z</ra:BoostEnd><ra:BoostStart>2014-12-26T00:00:00.000Z</ra:BoostStart></ra:EventLogEntry>"))
        #expect(boost.contains("<ra:BoostFunctionAvailability>true</ra:BoostFunctionAvailability><ra:BoostFunctionControl1Value>true</ra:BoostFunctionControl1Value>"))
        // ECS61a: switch 2 is an HC ALCS (a non-zero identifier), the others ALCSs.
        let alcs = try Self.xml("ECS61a_7.7_ALL_OPTIONALS_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(alcs.contains("<ra:AuxiliaryLoadControlSwitch Index=\"2\"><ra:Description>HCALCS_2_Description</ra:Description><ra:TypeAndIdentifier><ra:HCALCS>00-DB-12-34-56-78-90-97</ra:HCALCS></ra:TypeAndIdentifier></ra:AuxiliaryLoadControlSwitch>"))
        #expect(alcs.contains("<ra:AuxiliaryLoadControlSwitch Index=\"1\"><ra:Description>ALCS_1_Description</ra:Description><ra:TypeAndIdentifier><ra:ALCS></ra:ALCS></ra:TypeAndIdentifier><ra:State>true</ra:State>"))
    }
    /// ECS25r1/r2 run once MMCMapping.fuelOnRefusal chooses their settings element on a
    /// refusal and the mappers are in ConfigurationReads.table.
    @Test(.enabled(if: Reference.isAvailable && MMCMapping.mappedUseCases.contains("ECS25r2"), "needs the reference data, and ECS25r1/r2 registered (after their fuelOnRefusal entries)"))
    func alertBehaviours() throws {
        // ECS25r2: bits 20 and 21 (from the least significant) are 0x8014 and 0x8015.
        let networkOperator = try Self.xml("ECS25r2_6.2.10_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(networkOperator.contains("<ra:ElectricityNetworkOperatorWANAlertSettings><ra:NetworkOperatorESMECommon><ra:x8014>Enable</ra:x8014><ra:x8015>Enable</ra:x8015></ra:NetworkOperatorESMECommon></ra:ElectricityNetworkOperatorWANAlertSettings>"))
        // ECS25r1: the alarm settings string is all zeros.
        let supplier = try Self.xml("ECS25r1_6.2.10_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(supplier.contains("<ra:ElectricitySupplierAlarmSettings><ra:SupplierESMECommon><ra:x810D>Disable</ra:x810D>"))
        #expect(supplier.contains("<ra:ElectricitySupplierHANAlertSettings><ra:SupplierESMECommon><ra:x810D>Enable</ra:x810D><ra:x810E>Disable</ra:x810E><ra:x8119>Enable</ra:x8119>"))
    }
}
