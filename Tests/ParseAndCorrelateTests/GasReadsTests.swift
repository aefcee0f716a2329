import Foundation
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The gas meter's and GPF's answers against DCC's reference vectors, values by hand
/// (read with `gbsm gbcs parse --tree`).
@Suite struct GasReadsTests {
    static func xml(_ name: String) throws -> String {
        let vector = try #require(try MMCMappingTests.responses().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func registers() throws {
        // GCS13c: tiers 1000…4000 with Multiplier 1 and Divisor 1000.
        let tou = try Self.xml("GCS13c_4.1.2_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX")
        #expect(tou.contains("<ra:Gas><ra:TariffTOURegisterMatrix><ra:TOURegisterMatrixValue index=\"1\">1.000</ra:TOURegisterMatrixValue>"))
        #expect(tou.contains("<ra:TOURegisterMatrixValue index=\"4\">4.000</ra:TOURegisterMatrixValue></ra:TariffTOURegisterMatrix></ra:Gas>"))
        // GCS13b: block counters 0…3 thousandths of m³.
        let blocks = try Self.xml("GCS13b_4.1.4_SUCCESS_RELIABLE_GPF_RESPONSE_GBCS.HEX")
        #expect(blocks.contains("<ra:ImportBlockCounters><ra:TariffBlockCounterValue index=\"1\">0.000</ra:TariffBlockCounterValue>"))
        #expect(blocks.contains("<ra:TariffBlockCounterValue index=\"4\">0.003</ra:TariffBlockCounterValue></ra:ImportBlockCounters>"))
        // A Multiplier read with status C0 is a refusal.
        #expect(try Self.xml("GCS13b_4.1.4_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadInstantaneousImportBlockCountersRsp MessageSuccess=\"false\">"))
        // GCS14: the encrypted Prepayment component, in MMC's order.
        let prepay = try Self.xml("GCS14_4.3_SUCCESS_UNRELIABLE_RESPONSE_GBCS.HEX")
        #expect(prepay.contains("<ra:ReadInstantaneousPrepayValuesRsp><ra:EmergencyCreditBalance>500000</ra:EmergencyCreditBalance><ra:AccumulatedDebtRegister>2500000</ra:AccumulatedDebtRegister><ra:PaymentDebtRegister>5000</ra:PaymentDebtRegister>"))
        #expect(prepay.contains("<ra:MeterBalance>2500000</ra:MeterBalance></ra:ReadInstantaneousPrepayValuesRsp>"))
        #expect(try Self.xml("GCS14_4.3_ERROR_RESPONSE_GBCS.HEX").contains("MessageSuccess=\"false\""))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func sampledData() throws {
        // GCS17: 97 half hours from 2014-12-30T00:00Z; the first sample is 4767306.
        let profile = try Self.xml("GCS17_4.8.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(profile.components(separatedBy: "<ra:LogEntry>").count == 98)
        #expect(profile.contains("<ra:LogEntry><ra:Timestamp>2014-12-30T00:00:00.000Z</ra:Timestamp><ra:Gas><ra:PrimaryValue>4767.306</ra:PrimaryValue></ra:Gas></ra:LogEntry>"))
        #expect(profile.contains("<ra:LogEntry><ra:Timestamp>2014-12-30T00:30:00.000Z</ra:Timestamp><ra:Gas><ra:PrimaryValue>3949.710</ra:PrimaryValue></ra:Gas></ra:LogEntry>"))
        #expect(profile.contains("<ra:Timestamp>2015-01-01T00:00:00.000Z</ra:Timestamp>"))
        #expect(try Self.xml("GCS17_4.8.1_NOT_FOUND_RESPONSE_GBCS.HEX").contains("<ra:ReadActiveImportProfileDataRsp MessageSuccess=\"false\">"))
        // GCS61: 11 days from 2014-12-22; 48714 and, last, 5360 litres.
        let daily = try Self.xml("GCS61_4.17_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(daily.components(separatedBy: "<ra:LogEntry>").count == 12)
        #expect(daily.contains("<ra:Gas><ra:LogEntry><ra:Value>48.714</ra:Value><ra:Timestamp>2014-12-22T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(daily.contains("<ra:LogEntry><ra:Value>5.360</ra:Value><ra:Timestamp>2015-01-01T00:00:00.000Z</ra:Timestamp></ra:LogEntry></ra:Gas>"))
        #expect(try Self.xml("GCS61_4.17_NOT_FOUND_RESPONSE_GBCS.HEX").contains("<ra:RetrieveDailyConsumptionLogRsp MessageSuccess=\"false\"><ra:Gas></ra:Gas>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func configurationAndLogs() throws {
        // GCS21a: CV 567 (trailing digit 0x00), conversion factor 36 (0x01: no places),
        // flow threshold 200 × 1 / 1, periods 10 and 3600.
        let gas = try Self.xml("GCS21a_6.2.8_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(gas.contains("<ra:ReadDeviceConfigurationGasRsp><ra:CalorificValue>567.000</ra:CalorificValue><ra:ConversionFactor>36.00000</ra:ConversionFactor><ra:UncontrolledGasFlowRate>200.000</ra:UncontrolledGasFlowRate><ra:FlowStabilisationPeriod>10</ra:FlowStabilisationPeriod><ra:FlowMeasurementPeriod>3600</ra:FlowMeasurementPeriod></ra:ReadDeviceConfigurationGasRsp>"))
        #expect(try Self.xml("GCS21a_6.2.8_ERROR_RESPONSE_GBCS.HEX").contains("MessageSuccess=\"false\""))
        // GCS21j: 0x0C97 is prepayment, debt not suspended in emergency credit, suspended when disabled.
        let mode = try Self.xml("GCS21j_6.2.9_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(mode.contains("<ra:PaymentMode>Prepayment</ra:PaymentMode><ra:SuspendDebtEmergency>false</ra:SuspendDebtEmergency><ra:SuspendDebtDisabled>true</ra:SuspendDebtDisabled>"))
        // GCS15d: ten payment-based debt payments, the first 163000 on 2014-12-01.
        let debts = try Self.xml("GCS15d_4.4.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(debts.components(separatedBy: "<ra:LogEntry>").count == 11)
        #expect(debts.contains("<ra:PaymentBasedDebtRepayment><ra:LogEntry><ra:Amount>163000</ra:Amount><ra:Timestamp>2014-12-01T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(debts.contains("<ra:LogEntry><ra:Amount>121000</ra:Amount><ra:Timestamp>2014-12-28T21:36:00.000Z</ra:Timestamp></ra:LogEntry></ra:PaymentBasedDebtRepayment>"))
        // GCS31: sample 2 allocated; 0xFFFF is a refusal.
        #expect(try Self.xml("GCS31_14.1_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:RecordNetworkDataGASRsp><ra:SampleID>2</ra:SampleID></ra:RecordNetworkDataGASRsp>"))
        #expect(try Self.xml("GCS31_14.1_ERROR_RESPONSE_GBCS.HEX").contains("<ra:RecordNetworkDataGASRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func gpfDeviceLog() throws {
        // GCS59: two devices restored, types 5 (PPMID) and 6 (Type 2), both response code 0.
        let restore = try Self.xml("GCS59_8.12.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(restore.contains("<ra:RestoreGPFDeviceLogRsp><ra:RestoreDeviceLogOutcome><ra:DeviceLogEntry><ra:DeviceID>00-11-22-33-44-55-66-77</ra:DeviceID><ra:DeviceType>PPMID</ra:DeviceType></ra:DeviceLogEntry><ra:joinResponseCode ResponseCode=\"0\"><ra:ASN1Status>success</ra:ASN1Status></ra:joinResponseCode></ra:RestoreDeviceLogOutcome>"))
        #expect(restore.contains("<ra:DeviceID>88-99-AA-BB-CC-DD-EE-FF</ra:DeviceID><ra:DeviceType>Type2</ra:DeviceType>"))
    }

    /// Multiplier and divisor are applied exactly or not at all.
    @Test func volumesAreExact() throws {
        func volume(_ value: UInt64, _ multiplier: UInt64, _ divisor: UInt64) throws -> String {
            try GasReads.decimal(value, GasReads.Formatting(multiplier: multiplier, divisor: divisor))
        }
        #expect(try volume(48714, 1, 1000) == "48.714")
        #expect(try volume(5, 1, 1000) == "0.005")
        #expect(try volume(12345, 1, 10000) == "1.2345")
        #expect(try volume(7, 3, 8) == "2.625")
        #expect(try volume(200, 1, 1) == "200.000")
        #expect(try volume(1500, 2, 3) == "1000.000")
        #expect(throws: MappingError.self) { try volume(1, 1, 3) }
        #expect(throws: MappingError.self) { try volume(1, 1, 0) }
        #expect(throws: MappingError.self) { try volume(1, 0, 1) }
        #expect(throws: MappingError.self) { try volume(UInt64(1) << 48, 1 << 23, 1) }
        #expect(try GasReads.trailing(102264, digit: 0x50, places: 5) == "1.02264")
    }
}
