import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The range reads' commands against the RTDS vectors the template test does not reach:
/// the gas (GBZ) use cases, the other 6.13 logs and the Unknown Remote Party reads, whose
/// bodies are written here from the DUIS XSD with the values the vectors carry. The
/// content and message code must be DCC's octets, and the sender (user or access control
/// broker) and counter too, except where the RTDS itself is inconsistent (GCS15d: its
/// SUCCESS vector comes from the broker, its NOT_FOUND one from the user). Then the values
/// GBCS cannot carry, which are refused with a reason rather than trapping.
@Suite struct GBCSCommandRangeReadsTests {
    static let rtds = "gbcs/rtds/RTDS-4.5.0/"

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func vector(_ path: String) throws -> GBCSFrame {
        guard let text = String(data: try Reference.file(rtds + path), encoding: .utf8), let octets = Hex.decode(text) else {
            throw Missing(description: "\(path) is not hex")
        }
        return try GBCSFrame.decode(octets)
    }

    static func leaf(_ name: String, _ text: String) -> ElementTree { ElementTree(name: name, text: text) }

    static func node(_ name: String, _ children: [ElementTree]) -> ElementTree { ElementTree(name: name, children: children) }

    /// A body holding a `ReadLogPeriod`, and whatever follows it.
    static func log(_ name: String, _ start: String, _ end: String, _ rest: [ElementTree] = []) -> ElementTree {
        node(name, [node("ReadLogPeriod", [leaf("StartDateTime", start), leaf("EndDateTime", end)])] + rest)
    }

    static func build(_ srv: SRV, _ body: ElementTree, like vector: GBCSFrame, _ type: DeviceType) throws -> GBCSFrame {
        let user = vector.supplement.remotePartyID ?? vector.originator
        let counter = vector.supplement.remotePartyCounter ?? vector.originatorCounter
        let broker: UInt64? = vector.originator == GBCSFrame.accessControlBroker ? vector.originatorCounter : nil
        guard let frame = try GBCSCommandBuilder.command(srv: srv, body: body, user: user, device: vector.recipient, deviceType: type,
                                                         counter: counter, brokerCounter: broker)
        else { throw Missing(description: "no builder for \(srv)") }
        return frame
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func rangeReadsAreDCCsOctets() throws {
        let empty = ElementTree(name: "Read")
        let cases: [(SRV, ElementTree, DeviceType, String)] = [
            ("4.4.4", Self.log("RetrieveBillingDataLogDebtPayments", "2014-12-01T00:00:00.00Z", "2020-12-31T00:00:00.00Z"), .gsme,
             "4.4.4_GCS15d/GCS15d_4.4.4_SUCCESS_COMMAND_GBCS.HEX"),
            ("4.4.4", Self.log("RetrieveBillingDataLogDebtPayments", "2014-12-31T00:00:00Z", "2014-12-31T18:00:00Z"), .gsme,
             "4.4.4_GCS15d/GCS15d_4.4.4_NOT_FOUND_COMMAND_GBCS.HEX"),
            ("4.8.1", Self.log("ReadActiveImportProfileData", "2014-12-30T00:00:00.00Z", "2015-01-01T00:00:00.00Z"), .gsme,
             "4.8.1_GCS17/GCS17_4.8.1_SUCCESS_COMMAND_GBCS.HEX"),
            ("4.8.1", Self.log("ReadActiveImportProfileData", "2013-01-01T00:00:00Z", "2013-07-01T00:30:00Z"), .gsme,
             "4.8.1_GCS17/GCS17_4.8.1_NOT_FOUND_COMMAND_GBCS.HEX"),
            ("4.17", Self.log("RetrieveDailyConsumptionLog", "2030-12-22T00:00:00Z", "2031-01-01T00:00:00Z"), .gpf,
             "4.17_GCS61/GCS61_4.17_NOT_FOUND_COMMAND_GBCS.HEX"),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2014-12-31T00:00:00.00Z", "2030-01-01T00:00:00.00Z", [Self.leaf("LogToRead", "Event")]), .gsme,
             "6.13_CS10a/CS10a_6.13_ERROR_COMMAND_GBCS.HEX"),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2030-01-26T00:00:00Z", "2030-01-26T07:00:00Z", [Self.leaf("LogToRead", "Event")]), .gsme,
             "6.13_CS10a/CS10a_6.13_NOT_FOUND_COMMAND_GBCS.HEX"),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2014-12-31T00:00:00Z", "2015-01-01T00:00:00Z", [Self.leaf("LogToRead", "Event")]), .esme,
             "6.13_ECS35a/ECS35a_6.13_SUCCESS_COMMAND_GBCS.HEX"),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2014-12-31T00:00:00Z", "2014-12-31T09:00:00Z", [Self.leaf("LogToRead", "Security")]), .chf,
             "6.13_ECS35d/ECS35d_6.13_SUCCESS_COMMAND_GBCS.HEX"),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2014-12-15T00:00:00Z", "2015-01-01T00:00:00Z", [Self.leaf("LogToRead", "ALCSEvent")]), .esme,
             "6.13_ECS35g/ECS35g_6.13_SUCCESS_COMMAND_GBCS.HEX"),
            ("4.1.2", empty, .gpf, "4.1.2_GCS13c/GCS13c_4.1.2_SUCCESS_RELIABLE_GPF_COMMAND_GBCS.HEX"),
            ("4.1.2", empty, .gsme, "4.1.2_GCS13c/GCS13c_4.1.2_SUCCESS_UNRELIABLE_COMMAND_GBCS.HEX"),
            ("4.1.4", empty, .gsme, "4.1.4_GCS13b/GCS13b_4.1.4_SUCCESS_UNRELIABLE_COMMAND_GBCS.HEX"),
            ("4.3", empty, .gpf, "4.3_GCS14/GCS14_4.3_SUCCESS_RELIABLE_GSME_COMMAND_GBCS.HEX"),
            ("4.3", empty, .gsme, "4.3_GCS14/GCS14_4.3_SUCCESS_UNRELIABLE_COMMAND_GBCS.HEX"),
            ("4.11.1", empty, .gsme, "4.11.1_GCS21f/GCS21f_4.11.1_SUCCESS_COMMAND_GBCS.HEX"),
            ("4.11.1", empty, .gsme, "4.11.1_GCS21f/GCS21f_4.11.1_NOT_FOUND_COMMAND_GBCS.HEX"),
            ("6.2.9", empty, .gsme, "6.2.9_GCS21j/GCS21j_6.2.9_SUCCESS_COMMAND_GBCS.HEX"),
            ("6.2.8", empty, .gsme, "6.2.8_GCS21a/GCS21a_6.2.8_ERROR_COMMAND_GBCS.HEX"),
            ("14.1", empty, .gsme, "14.1_GCS31/GCS31_14.1_ERROR_COMMAND_GBCS.HEX"),
        ]
        for (srv, body, type, path) in cases {
            let vector = try Self.vector(path)
            let built = try Self.build(srv, body, like: vector, type)
            #expect(built.content == vector.content, "\(path):\n  built    \(Hex.encode(built.content))\n  expected \(Hex.encode(vector.content))")
            #expect(built.messageCode == vector.messageCode, "\(path)")
            if !path.hasPrefix("4.4.4_GCS15d/GCS15d_4.4.4_SUCCESS") {
                #expect(built.originator == vector.originator && built.originatorCounter == vector.originatorCounter, "\(path): sender")
            }
        }
    }

    /// An Unknown Remote Party's read (its KA certificate in the body) goes through the
    /// access control broker, whose counter the invoke ID and protection follow; the
    /// certificate the frame must carry is the body's, as DER.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func unknownRemotePartyReadsGoThroughTheBroker() throws {
        let cases: [(SRV, String, String, String, DeviceType, String)] = [
            ("4.14", "ReadPrepaymentDailyReadLog", "2014-12-25T23:30:00.00Z", "2015-01-01T00:00:00.00Z", .esme,
             "4.14_ECS21b/ECS21b_4.14_URP_SUCCESS_COMMAND_GBCS.HEX"),
            ("4.17", "RetrieveDailyConsumptionLog", "2014-12-22T00:00:00Z", "2016-12-22T00:00:00Z", .gpf,
             "4.17_GCS61/GCS61_4.17_SUCCESS_COMMAND_GBCS.HEX"),
        ]
        for (srv, name, start, end, type, path) in cases {
            let vector = try Self.vector(path)
            let certificate = try #require(vector.supplement.kaCertificate)
            let body = Self.log(name, start, end, [Self.leaf("KAPublicSecurityCredentials", Data(certificate).base64EncodedString())])
            let built = try Self.build(srv, body, like: vector, type)
            #expect(built.content == vector.content, "\(path):\n  built    \(Hex.encode(built.content))\n  expected \(Hex.encode(vector.content))")
            #expect(built.originator == GBCSFrame.accessControlBroker && built.originatorCounter == vector.originatorCounter, "\(path)")
            #expect(try GBCSCommandBuilder.rangeReadsURPCertificate(body) == certificate)
        }
    }

    static func command(_ srv: SRV, _ body: ElementTree, _ type: DeviceType, brokerCounter: UInt64? = nil) throws -> GBCSFrame? {
        try GBCSCommandBuilder.command(srv: srv, body: body, user: EUI64(0x90B3_D51F_3001_0000), device: EUI64(0x00DB_1234_5678_90A0),
                                       deviceType: type, counter: 1000, brokerCounter: brokerCounter)
    }

    @Test func gasSampleCountsStopAtTheLogsSize() throws {
        let frame = try #require(try Self.command("4.17", Self.log("RetrieveDailyConsumptionLog", "2014-01-01T00:00:00Z", "2020-01-01T00:00:00Z"), .gpf))
        #expect(Array(frame.content.suffix(2)) == [0xDB, 0x02])
        let day = try #require(try Self.command("4.8.1", Self.log("ReadActiveImportProfileData", "2015-01-01T00:00:00Z", "2015-01-01T00:29:59.9Z"), .gsme))
        #expect(Array(day.content.suffix(2)) == [0x01, 0x00])
    }

    @Test func valuesGBCSCannotCarryAreRefused() throws {
        // The broker's counter is given, so that only the value is at fault (but for 6.32,
        // which the broker must send and cannot without it).
        let refused: [(SRV, ElementTree, DeviceType)] = [
            ("4.4.4", Self.log("RetrieveBillingDataLogDebtPayments", "2015-01-02T00:00:00Z", "2015-01-01T00:00:00Z"), .esme),
            ("4.4.4", Self.log("RetrieveBillingDataLogDebtPayments", "1999-12-31T23:59:59Z", "2015-01-01T00:00:00Z"), .esme),
            ("4.8.1", Self.log("ReadActiveImportProfileData", "2015-01-01T00:00:00Z", "2200-01-01T00:00:00Z"), .gsme),
            ("4.4.2", Self.log("RetrieveCoMOrTariffTriggeredBillingDataLog", "2015-13-01T00:00:00Z", "2016-01-01T00:00:00Z"), .esme),
            ("4.4.2", Self.node("RetrieveCoMOrTariffTriggeredBillingDataLog", []), .esme),
            ("4.6.2", Self.log("RetrieveExportDailyReadLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z"), .gsme),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z", [Self.leaf("LogToRead", "GSMEEvent")]), .gsme),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z", [Self.leaf("LogToRead", "PowerEvent")]), .chf),
            ("6.13", Self.log("ReadEventOrSecurityLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z", [Self.leaf("LogToRead", "Bogus")]), .esme),
            ("6.32", Self.log("ReadCHFSubGHzChannelLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z"), .chf),
            ("4.1.4", ElementTree(name: "ReadInstantaneousImportBlockCounters"), .esme),
            ("4.14", Self.log("ReadPrepaymentDailyReadLog", "2015-01-01T00:00:00Z", "2015-01-02T00:00:00Z",
                              [Self.leaf("KAPublicSecurityCredentials", "MIIB")]), .esme),
        ]
        for (srv, body, type) in refused {
            let broker: UInt64? = srv == "6.32" ? nil : 1300
            #expect(throws: TransformError.self, "\(srv) \(body)") { try Self.command(srv, body, type, brokerCounter: broker) }
        }
        #expect(throws: TransformError.self) {
            try GBCSCommandBuilder.rangeReadsURPCertificate(Self.node("Read", [Self.leaf("KAPublicSecurityCredentials", "bm90IGEgY2VydA==")]))
        }
    }
}
