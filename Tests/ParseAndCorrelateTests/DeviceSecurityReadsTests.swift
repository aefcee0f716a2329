import Foundation
import ParseAndCorrelate
import Testing
import TestSupport

/// Joins, device logs, event logs, Sub GHz and security credentials: values by hand
/// against the RTDS vectors (read with `gbsm gbcs parse --tree`).
@Suite struct DeviceSecurityReadsTests {
    func xml(_ name: String) throws -> String {
        let vectors = try MMCMappingTests.responses()
        let vector = try #require(vectors.first { $0.path.hasSuffix("/" + name) }, "\(name)")
        return try #require(try MMCMappingTests.xml(vector))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func joinsAndDeviceLogs() throws {
        // CS03: INTEGER 0; CS04B error: INTEGER 1, otherDeviceNotInDeviceLog.
        #expect(try xml("CS03A2NonCritical_8.7.2_SUCCESS_RESPONSE_GBCS.HEX")
            .contains("<ra:JoinServiceNonCriticalRsp><ra:joinResponseCode ResponseCode=\"0\"><ra:ASN1Status>success</ra:ASN1Status>"))
        #expect(try xml("CS04B_8.8.2_ERROR_RESPONSE_GBCS.HEX")
            .contains("<ra:UnjoinServiceNonCriticalRsp MessageSuccess=\"false\"><ra:unjoinResponseCode ResponseCode=\"1\"><ra:ASN1Status>otherDeviceNotInDeviceLog</ra:ASN1Status>"))
        // CS07: a GPF 01-02-…-08 first; CCS05: the ESME last heard 2014-12-31T23:50.
        #expect(try xml("CS07_8.9_SUCCESS_RESPONSE_GBCS.HEX")
            .contains("<ra:LogEntry><ra:DeviceID>01-02-03-04-05-06-07-08</ra:DeviceID><ra:DeviceType>GPF</ra:DeviceType></ra:LogEntry>"))
        #expect(try xml("CCS05CCS04_8.9_SUCCESS_RESPONSE_GBCS.HEX").contains(
            "<ra:CHFDeviceLogEntry><ra:DeviceID>00-DB-12-34-56-78-90-A0</ra:DeviceID><ra:LastCommunicationsDateTime>2014-12-31T23:50:00.000Z</ra:LastCommunicationsDateTime>"))
        // DBCH01: E0000001 is page 28, channel 0.
        #expect(try xml("DBCH01_6.31_SUCCESS_RESPONSE_GBCS.HEX")
            .contains("<ra:OperatingSubGHzChannel><ra:OperatingLowerBandSubGHzChannel><ra:Channel0></ra:Channel0>"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func eventLogs() throws {
        // ECS35a: 473299200 s after 2000 is 2014-12-31T00:00:00Z, event 36609 = 8F01.
        let events = try xml("ECS35a_6.13_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(events.contains("<ra:LogEntry><ra:Timestamp>2014-12-31T00:00:00.000Z</ra:Timestamp><ra:LogCode>8F01</ra:LogCode></ra:LogEntry>"))
        #expect(events.contains("<ra:LogCode>8154</ra:LogCode><ra:OtherInformation>009B</ra:OtherInformation>"))
        #expect(events.components(separatedBy: "<ra:LogEntry>").count == 34)
        // CS10a, the gas meter's ZSE Publish Event Log: the same first time, event 8F1F.
        #expect(try xml("CS10a_6.13_SUCCESS_RESPONSE_GBCS.HEX")
            .contains("<ra:LogEntry><ra:Timestamp>2014-12-31T00:00:00.000Z</ra:Timestamp><ra:LogCode>8F1F</ra:LogCode></ra:LogEntry>"))
        #expect(try xml("CS10a_6.13_NOT_FOUND_RESPONSE_GBCS.HEX").contains("MessageSuccess=\"false\""))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func securityCredentials() throws {
        // CS02a: the supplier (role 2), floor 0, its DS cell 90B3D51F30010000 / 44899792D196F4B8.
        let held = try xml("CS02aMAC_6.24.1_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(held.contains("<ra:RemotePartyDetails><ra:RemotePartyRole>Supplier</ra:RemotePartyRole><ra:StatusCode ResponseCode=\"0\"><ra:ASN1Status>success</ra:ASN1Status></ra:StatusCode><ra:RemotePartyFloorSeqNumber>0</ra:RemotePartyFloorSeqNumber><ra:CertificateUsage>DigitalSigning</ra:CertificateUsage><ra:ExistingRemotePartyID>90-B3-D5-1F-30-01-00-00</ra:ExistingRemotePartyID><ra:ExistingCertificateHash>RImXktGW9Lg=</ra:ExistingCertificateHash>"))
        #expect(held.contains("<ra:CertificateUsage>KeyAgreementTopUp</ra:CertificateUsage>"))
        // CS02b NO handover: counter 1301, mode 3, two replacements to the network operator.
        let handover = try xml("CS02bNOByNOHandover_6.21_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(handover.contains("<ra:ExecutionOutcome><ra:AuthorisingRemotePartyOriginatorCounter>1301</ra:AuthorisingRemotePartyOriginatorCounter><ra:CredentialsReplacementMode>NetworkOperatorByNetworkOperator</ra:CredentialsReplacementMode><ra:RemotePartySeqNumberChange><ra:RemotePartyRole>NetworkOperator</ra:RemotePartyRole><ra:RemotePartyFloorSeqNumber>0</ra:RemotePartyFloorSeqNumber></ra:RemotePartySeqNumberChange>"))
        #expect(handover.components(separatedBy: "<ra:ReplacementOutcome>").count == 3)
        #expect(handover.contains("<ra:NewRemotePartyID>90-B3-D5-1F-30-02-00-00</ra:NewRemotePartyID>"))
        // A future-dated command's answer only accepts it.
        #expect(try xml("CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:UpdateSecurityCredentialsCoSRsp></ra:UpdateSecurityCredentialsCoSRsp>"))
    }
}
