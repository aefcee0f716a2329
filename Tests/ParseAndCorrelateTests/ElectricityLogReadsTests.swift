import Foundation
import ParseAndCorrelate
import Testing
import TestSupport

/// The electricity register, billing, daily and profile log reads against DCC's
/// reference vectors: values by hand from `gbsm gbcs parse --tree`.
@Suite struct ElectricityLogReadsTests {
    static func xml(_ name: String) throws -> String {
        let vectors = try MMCMappingTests.responses()
        let vector = try #require(vectors.first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    static func count(_ element: String, in xml: String) -> Int { xml.components(separatedBy: "<ra:\(element)>").count - 1 + xml.components(separatedBy: "<ra:\(element) ").count - 1 }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func registers() throws {
        // ECS17d twin: 48 primary TOU registers (the 43rd is 0) and 4 secondary ones.
        let tou = try Self.xml("ECS17d_4.1.2_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(tou.contains("<ra:Electricity><ra:TariffTOURegisterCollection><ra:TOUPrimaryRegisterValue index=\"1\">81</ra:TOUPrimaryRegisterValue>"))
        #expect(tou.contains("<ra:TOUPrimaryRegisterValue index=\"43\">0</ra:TOUPrimaryRegisterValue>"))
        #expect(tou.contains("<ra:TOUPrimaryRegisterValue index=\"48\">133</ra:TOUPrimaryRegisterValue><ra:TOUSecondRegisterValue index=\"1\">220</ra:TOUSecondRegisterValue>"))
        #expect(Self.count("TOUSecondRegisterValue", in: tou) == 4)
        #expect(!(try Self.xml("ECS17d_4.1.2_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")).contains("TOUSecondRegisterValue"))
        // ECS17e: 64 values, per block 8 registers then 8 counters.
        let blocks = try Self.xml("ECS17e_4.1.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(blocks.contains("<ra:TariffBlock index=\"1\"><ra:RegisterMatrixTOUValue index=\"1\">95</ra:RegisterMatrixTOUValue>"))
        #expect(blocks.contains("<ra:RegisterMatrixTOUValue index=\"8\">152</ra:RegisterMatrixTOUValue><ra:CounterMatrixTOUValue index=\"1\">39</ra:CounterMatrixTOUValue>"))
        #expect(blocks.contains("<ra:CounterMatrixTOUValue index=\"8\">115</ra:CounterMatrixTOUValue></ra:TariffBlock></ra:TariffBlockTOURegisterCollection>"))
        #expect(Self.count("TariffBlock", in: blocks) == 4)
        // ECS19: the six balances of the decrypted collection, in MMC's order.
        let prepay = try Self.xml("ECS19_4.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(prepay.contains("<ra:EmergencyCreditBalance>95000</ra:EmergencyCreditBalance><ra:AccumulatedDebtRegister>187000</ra:AccumulatedDebtRegister><ra:PaymentDebtRegister>46000</ra:PaymentDebtRegister><ra:TimeDebtRegister1>203000</ra:TimeDebtRegister1><ra:TimeDebtRegister2>243000</ra:TimeDebtRegister2><ra:MeterBalance>250000</ra:MeterBalance>"))
        #expect(try Self.xml("ECS19_4.3_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadInstantaneousPrepayValuesRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func maximumDemand() throws {
        let imports = try Self.xml("ECS18b_4.12.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(imports.contains("<ra:MaxDemandConfigurableTimeActivePowerImport><ra:Value>12122</ra:Value><ra:CaptureTime>2014-12-31T11:30:00.000Z</ra:CaptureTime><ra:LastResetDateTime>2014-12-31T00:00:00.000Z</ra:LastResetDateTime>"))
        #expect(imports.contains("<ra:MaxDemandActiveEnergyImport><ra:Value>4775</ra:Value><ra:CaptureTime>2014-12-31T09:30:00.000Z</ra:CaptureTime>"))
        // Script selector 1 starts the period (switch time 0C000000), 2 ends it (09000000).
        #expect(imports.contains("<ra:StartTime>12:00:00.00Z</ra:StartTime><ra:EndTime>09:00:00.00Z</ra:EndTime>"))
        let exports = try Self.xml("ECS18a_4.12.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(exports.contains("<ra:MaxDemandActiveEnergyExport><ra:Value>4775</ra:Value><ra:CaptureTime>2014-12-30T20:37:00.000Z</ra:CaptureTime><ra:LastResetDateTime>2014-12-31T00:00:00.000Z</ra:LastResetDateTime></ra:MaxDemandActiveEnergyExport>"))
        #expect(try Self.xml("ECS18a_4.12.2_ERROR_RESPONSE_GBCS.HEX").contains("MessageSuccess=\"false\""))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func billingDataLogs() throws {
        // ECS20a and ECS20d: (timestamp, amount) entries, 10 and 5 of them.
        let debt = try Self.xml("ECS20a_4.4.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(debt.contains("<ra:PaymentBasedDebtRepayment><ra:LogEntry><ra:Amount>95</ra:Amount><ra:Timestamp>2014-12-23T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(Self.count("LogEntry", in: debt) == 10)
        let credits = try Self.xml("ECS20d_4.4.5_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(credits.contains("<ra:LogEntry><ra:Amount>187</ra:Amount><ra:Timestamp>2015-01-01T00:00:00.000Z</ra:Timestamp></ra:LogEntry></ra:PrepaymentCredits>"))
        #expect(Self.count("LogEntry", in: credits) == 5)
        // ECS20b single: each entry's registers, then its prepayment values (the meter
        // balance is the second double-long, -21000 in the third entry).
        let change = try Self.xml("ECS20b_4.4.2_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntryConsumptionAndTariffRegistersData", in: change) == 3)
        #expect(change.contains("<ra:LogEntryConsumptionAndTariffRegistersData><ra:ActiveImportRegisterConsumption>10435000</ra:ActiveImportRegisterConsumption><ra:TariffTOURegisterMatrixValue index=\"1\">81000</ra:TariffTOURegisterMatrixValue>"))
        #expect(change.contains("<ra:TariffTOUBlock1RegisterMatrixValue index=\"1\">220000</ra:TariffTOUBlock1RegisterMatrixValue>"))
        #expect(change.contains("<ra:TariffTOUBlock4RegisterMatrixValue index=\"8\">205000</ra:TariffTOUBlock4RegisterMatrixValue><ra:Timestamp>2014-11-01T00:00:00.000Z</ra:Timestamp>"))
        #expect(change.contains("<ra:LogEntryPrepaymentData><ra:AccumulatedDebtRegister>199000</ra:AccumulatedDebtRegister><ra:EmergencyCreditBalance>95000</ra:EmergencyCreditBalance><ra:MeterBalance>152000</ra:MeterBalance><ra:PaymentDebtRegister>243000</ra:PaymentDebtRegister><ra:TimeDebtRegisters1>46000</ra:TimeDebtRegisters1><ra:TimeDebtRegisters2>187000</ra:TimeDebtRegisters2><ra:Timestamp>2014-11-01T00:00:00.000Z</ra:Timestamp></ra:LogEntryPrepaymentData>"))
        #expect(change.contains("<ra:MeterBalance>-21000</ra:MeterBalance>"))
        // ECS20b twin: the secondary element's register after the blocks.
        let twin = try Self.xml("ECS20b_4.4.2_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(twin.contains("<ra:SecondaryActiveImportRegisterConsumption>830000</ra:SecondaryActiveImportRegisterConsumption><ra:SecondaryTariffTOURegisterMatrixValue index=\"1\">"))
        // ECS20c: two protected logs, registers then prepayment.
        let calendar = try Self.xml("ECS20c_4.4.3_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(calendar.contains("<ra:ESMEBillingDataLogEntry><ra:Timestamp>2014-12-01T00:00:00.000Z</ra:Timestamp><ra:ActiveImportRegisterValueConsumption>10387</ra:ActiveImportRegisterValueConsumption>"))
        #expect(calendar.contains("<ra:ESMEBillingPrepaymentDataLogEntry><ra:AccumulatedDebtRegister>4</ra:AccumulatedDebtRegister><ra:EmergencyCreditBalance>248</ra:EmergencyCreditBalance><ra:MeterBalance>46</ra:MeterBalance>"))
        #expect(Self.count("ESMEBillingDataLogEntry", in: calendar) == 2)
        let calendarTwin = try Self.xml("ECS20c_4.4.3_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(calendarTwin.contains("<ra:ActiveImportRegisterValueConsumption>10674</ra:ActiveImportRegisterValueConsumption><ra:SecondaryActiveImportRegisterValueConsumption>546</ra:SecondaryActiveImportRegisterValueConsumption>"))
        #expect(try Self.xml("ECS20c_4.4.3_ERROR_RESPONSE_GBCS.HEX").contains("<ra:RetrieveBillingCalendarTriggeredBillingDataLogRsp MessageSuccess=\"false\"><ra:Electricity>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func dailyReadLogs() throws {
        // ECS21a: three days from 2014-03-09; the twin adds the secondary element.
        let single = try Self.xml("ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntry", in: single) == 3)
        #expect(single.contains("<ra:LogEntry><ra:Timestamp>2014-03-09T00:00:00.000Z</ra:Timestamp><ra:Electricity><ra:ElecActiveImportRegisterConsumption>10435000</ra:ElecActiveImportRegisterConsumption><ra:TariffTOURegisterMatrixValue index=\"1\">81000</ra:TariffTOURegisterMatrixValue>"))
        #expect(Self.count("TariffTOURegisterMatrixValue", in: single) == 3 * 48)
        let twin = try Self.xml("ECS21a_4.6.1_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(twin.contains("<ra:ElecActiveImportRegisterConsumption>10434000</ra:ElecActiveImportRegisterConsumption><ra:SecondaryActiveImportRegisterConsumption>513000</ra:SecondaryActiveImportRegisterConsumption><ra:SecondaryTariffTOURegisterMatrixValue index=\"1\">15000</ra:SecondaryTariffTOURegisterMatrixValue>"))
        // ECS21b: seven days of prepayment values.
        let prepayment = try Self.xml("ECS21b_4.14_KRP_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntry", in: prepayment) == 7)
        #expect(prepayment.contains("<ra:Electricity><ra:LogEntry><ra:AccumulatedDebtRegister>1900000</ra:AccumulatedDebtRegister><ra:EmergencyCreditBalance>700000</ra:EmergencyCreditBalance><ra:MeterBalance>1000000</ra:MeterBalance><ra:PaymentDebtRegister>490000</ra:PaymentDebtRegister><ra:TimeDebtRegisters1>410000</ra:TimeDebtRegisters1><ra:TimeDebtRegisters2>1000000</ra:TimeDebtRegisters2><ra:Timestamp>2014-12-26T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(try Self.xml("ECS21b_4.14_KRP_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadPrepaymentDailyReadLogRsp MessageSuccess=\"false\"><ra:Electricity>"))
        // ECS21c: 31 export register reads, December 2014.
        let export = try Self.xml("ECS21c_4.6.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntry", in: export) == 31)
        #expect(export.contains("<ra:LogEntry><ra:ActiveExportRegisterValue>80</ra:ActiveExportRegisterValue><ra:TimeStamp>2014-12-02T00:00:00.000Z</ra:TimeStamp></ra:LogEntry>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func profiles() throws {
        let single = try Self.xml("ECS22b_4.8.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntry", in: single) == 49)
        #expect(single.contains("<ra:LogEntry><ra:Timestamp>2014-12-31T00:30:00.000Z</ra:Timestamp><ra:Electricity><ra:PrimaryValue>243</ra:PrimaryValue></ra:Electricity></ra:LogEntry>"))
        let twin = try Self.xml("ECS22b_4.8.1_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(twin.contains("<ra:LogEntry><ra:Timestamp>2014-12-31T00:00:00.000Z</ra:Timestamp><ra:Electricity><ra:PrimaryValue>95</ra:PrimaryValue><ra:SecondaryValue>203</ra:SecondaryValue></ra:Electricity></ra:LogEntry>"))
        let reactive = try Self.xml("ECS22c_4.8.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(Self.count("LogEntry", in: reactive) == 49)
        #expect(reactive.contains("<ra:LogEntry><ra:ReactiveEnergyImportedValue>203</ra:ReactiveEnergyImportedValue><ra:Timestamp>2014-10-01T09:30:00.000Z</ra:Timestamp></ra:LogEntry>"))
        let export = try Self.xml("ECS22a_4.8.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(export.contains("<ra:LogEntry><ra:ActiveEnergyExportedValue>81</ra:ActiveEnergyExportedValue><ra:ReactiveEnergyExportedValue>56</ra:ReactiveEnergyExportedValue><ra:Timestamp>2014-10-01T09:30:00.000Z</ra:Timestamp></ra:LogEntry>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func networkData() throws {
        // ECS23: under-voltage counter 147 (1-0:32.32.0.4), over-voltage 239 (32.36), an
        // hourly voltage profile and its 3600 s period.
        let network = try Self.xml("ECS23_4.10_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(network.contains("<ra:Electricity><ra:SinglePhaseESME><ra:AvgRMSOverVoltageCounter><ra:Value>239</ra:Value><ra:Unit>count</ra:Unit></ra:AvgRMSOverVoltageCounter><ra:AvgRMSUnderVoltageCounter><ra:Value>147</ra:Value><ra:Unit>count</ra:Unit></ra:AvgRMSUnderVoltageCounter>"))
        #expect(network.contains("<ra:AvgRMSVoltageProfileDataLog><ra:LogEntry><ra:Value>81</ra:Value><ra:Timestamp>2014-12-30T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(network.contains("<ra:LogEntry><ra:Value>220</ra:Value><ra:Timestamp>2015-01-01T00:00:00.000Z</ra:Timestamp></ra:LogEntry><ra:MeasurementPeriod>3600</ra:MeasurementPeriod></ra:AvgRMSVoltageProfileDataLog>"))
        #expect(Self.count("LogEntry", in: network) == 49)
        #expect(try Self.xml("ECS23_4.10_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadNetworkDataRsp MessageSuccess=\"false\"><ra:Electricity>"))
    }
}
