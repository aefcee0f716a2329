import Foundation
import ParseAndCorrelate
import Testing
import TestSupport

/// The CHF's Sub GHz reads and the gas meter's identity against DCC's Reference Test Data
/// Set: values by hand from the vectors (read with `gbsm gbcs parse --tree`).
@Suite struct SubGHzAndIdentityReadsTests {
    static func xml(_ name: String) throws -> String {
        let vector = try #require(try MMCMappingTests.responses().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func subGHzConfiguration() throws {
        // DBCH03: masks E0000003, E8000003, F0000003, F8000003 are the first two channels
        // of pages 28 (0, 1), 29 (27, 28), 30 (35, 36) and 31 (upper 0, 1); then 125 and
        // 200 hundredths of a percent, 4, 6, 6, 10, 5050 hundredths, 125, 90, 5000, 3000.
        let configuration = try Self.xml("DBCH03_6.30_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(configuration.contains("<ra:LowerBandSubGHzChannels0To26><ra:Channel0></ra:Channel0><ra:Channel1></ra:Channel1></ra:LowerBandSubGHzChannels0To26>"))
        #expect(configuration.contains("<ra:UpperBandSubGHzChannels0To26><ra:Channel0></ra:Channel0><ra:Channel1></ra:Channel1></ra:UpperBandSubGHzChannels0To26>"))
        #expect(configuration.contains("<ra:LowerBandSubGHzChannels27To34><ra:Channel27"))
        #expect(configuration.contains("<ra:LowerBandSubGHzChannels35To61><ra:Channel35"))
        #expect(configuration.contains("<ra:NormalLimitedDutyCycleThreshold>1.25</ra:NormalLimitedDutyCycleThreshold><ra:LimitedCriticalDutyCycleThreshold>2.0</ra:LimitedCriticalDutyCycleThreshold>"))
        #expect(configuration.contains("<ra:MaximumSubGHzChannelChangesPerWeek>4</ra:MaximumSubGHzChannelChangesPerWeek><ra:GSMECurfew>6</ra:GSMECurfew>"))
        #expect(configuration.contains("<ra:NonGSMEPoorCommsPercentageThreshold>50.50</ra:NonGSMEPoorCommsPercentageThreshold><ra:NonGSMEPoorCommsMeasurementPeriods>125</ra:NonGSMEPoorCommsMeasurementPeriods>"))
        #expect(configuration.contains("<ra:LocalCHFailurePercentage>50.00</ra:LocalCHFailurePercentage><ra:LocalCHRetryPercentage>30.00</ra:LocalCHRetryPercentage>"))
        #expect(try Self.xml("DBCH03_6.30_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadCHFSubGHzConfigurationRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func subGHzChannelLog() throws {
        // DBCH02: eleven 0x8F26 entries from 472348800 s after 2000 (2014-12-20T00:00Z);
        // the second (472470300 s, 2014-12-21T09:45Z) moved to E8000002, page 29 bit 1:
        // channel 28; the fourth to F8000008, the upper band's channel 3.
        let log = try Self.xml("DBCH02_6.32_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(log.components(separatedBy: "<ra:LogEntry>").count == 12)
        #expect(log.contains("<ra:LogEntry><ra:Timestamp>2014-12-20T00:00:00.000Z</ra:Timestamp><ra:EventCode>8F26</ra:EventCode><ra:EventDescription>Sub GHz Channel Changed</ra:EventDescription>"))
        #expect(log.contains("<ra:Timestamp>2014-12-21T09:45:00.000Z</ra:Timestamp><ra:EventCode>8F26</ra:EventCode><ra:EventDescription>Sub GHz Channel Changed</ra:EventDescription><ra:OperatingSubGHzChannel><ra:OperatingLowerBandSubGHzChannel><ra:Channel28"))
        #expect(log.contains("<ra:OperatingUpperBandSubGHzChannel><ra:Channel3"))
        #expect(!log.contains("<ra:ScanTrigger>"))
        #expect(try Self.xml("DBCH02_6.32_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadCHFSubGHzChannelLogRsp MessageSuccess=\"false\">"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func gasIdentity() throws {
        // GCS21e: ModelIdentifier "GFI     " then the meter's EUI; ManufacturerName
        // "Critical Software"; supply tamper and depletion states 3, unchanged.
        let identity = try Self.xml("GCS21e_6.2.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(identity.contains("<ra:DeviceIdentifier>00-DB-12-34-56-78-90-A1</ra:DeviceIdentifier><ra:ModelType>GFI     </ra:ModelType><ra:ManufacturerIdentifier>Critical Software</ra:ManufacturerIdentifier>"))
        #expect(identity.contains("<ra:Gas><ra:SupplyTamperState>Unchanged</ra:SupplyTamperState><ra:SupplyDepletionState>Unchanged</ra:SupplyDepletionState></ra:Gas>"))
        // The error answer's ManufacturerName has status 0xC0: a refusal.
        #expect(try Self.xml("GCS21e_6.2.4_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadDeviceConfigurationIdentityExcMPxNRsp MessageSuccess=\"false\">"))
    }
}
