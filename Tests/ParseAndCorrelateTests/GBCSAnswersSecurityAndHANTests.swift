import DUIS
@testable import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The security and HAN family's encoders beyond the RTDS round trip: without the command
/// (GBCS's fixed layouts and DCC's sequence numbers give the vectors' payloads), on
/// refusals, and on the answers gbsm's emulator writes (read back by Parse and Correlate).
@Suite struct GBCSAnswersSecurityAndHANTests {
    typealias RoundTrip = GBCSAnswerRoundTripTests

    static func vector(_ name: String) throws -> RoundTrip.Vector {
        try #require(try RoundTrip.vectors().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
    }

    static func write(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool, keys: RoundTrip.DeviceSide) throws -> GBCSFrame {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        return try GBCSAnswerWriter(keys: keys).frame(body, context: context)
    }

    /// The payload the use case's encoder writes for `body` in the vector's context (the
    /// frame's protection aside: GBCSAnswerWriter MACs the answers of 6.21, 6.23, 8.5, 8.7.2
    /// and 8.8.2, whose RTDS answers are signed).
    static func content(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool) throws -> [UInt8] {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        let encoder = try #require(GBCSAnswers.encoders[useCase.name])
        return try encoder(body, context).payload.encode()
    }

    static func read(_ frame: GBCSFrame, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    /// A vector read with the RTDS's own keys (its signed answers verify with the devices'
    /// real DS keys, not the made-up ones our answers are signed with).
    static func read(_ vector: RoundTrip.Vector, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: vector.response, keys: keys.rtds), srv: srv)
    }

    /// The vectors whose payload the encoders write octet for octet (every one of the
    /// family's but CCS05CCS04's success, whose link qualities MMC does not carry).
    static let successes = [
        "CS03A1_8.7.1_SUCCESS", "CS03CCritical_8.7.1_SUCCESS", "CS03A2NonCritical_8.7.2_SUCCESS", "CS04ACCritical_8.8.1_SUCCESS", "CS04B_8.8.2_SUCCESS",
        "CS02aMAC_6.24.1_SUCCESS", "CS02aMAC_6.24.1_ERROR", "CS02fMAC_6.24.1_SUCCESS", "CS02fMAC_6.24.1_ERROR",
        "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS", "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_ERROR",
        "CS02bSupplierBySupplier_6.15.1_CANCELLATION_SUCCESS", "CS02bNOByNOHandover_6.21_SUCCESS", "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS",
        "CS02bACBByACB_8.5_SUCCESS", "CS07_8.9_SUCCESS", "CS07_8.9_ERROR", "ECS35a_6.13_SUCCESS", "ECS35d_6.13_SUCCESS", "CS10a_6.13_SUCCESS",
        "DBCH01_6.31_SUCCESS", "DBCH02_6.32_SUCCESS", "DBCH03_6.30_SUCCESS", "GCS21e_6.2.4_SUCCESS",
        // Signed by the devices' real DS keys, which the round trip's key store replaces.
        "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_SUCCESS", "CS02bSupplierBySupplier_6.15.1_FUTURE_DATED_ERROR",
        "CS02bSupplierByTransCoS_6.23_CANCELLATION_SUCCESS", "CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS", "CS03A1_8.7.1_ERROR",
        "CS04ACCritical_8.8.1_ERROR", "CS04ACNonCritical_8.8.2_SUCCESS", "CS04B_8.8.2_ERROR",
    ]

    /// Without the command, the payload is the vector's: DCC's fixed requests, sequence
    /// numbers 0, 1…, the event log's ID.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func fixedLayoutsAreTheCommands() throws {
        let keys = try RoundTrip.keys
        for name in Self.successes {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector, srv: srv, keys: keys))
            for withCommand in [true, false] {
                let written = try Self.content(body, like: vector, srv: srv, withCommand: withCommand)
                #expect(Hex.encode(written) == Hex.encode(vector.response.content), "\(name) \(withCommand)")
            }
        }
    }

    /// A refusal, with or without the command, is read back as one; the ERROR vectors of
    /// the reads are written as they are.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func refusalsAreReadAsRefusals() throws {
        let keys = try RoundTrip.keys
        let reads = ["CS07_8.9_SUCCESS", "CCS05CCS04_8.9_SUCCESS", "ECS35a_6.13_SUCCESS", "ECS35d_6.13_SUCCESS", "CS10a_6.13_SUCCESS", "DBCH01_6.31_SUCCESS",
                     "DBCH02_6.32_SUCCESS", "DBCH03_6.30_SUCCESS", "GCS21e_6.2.4_SUCCESS", "CS03A1_8.7.1_SUCCESS", "CS04AC_8.8.1_SUCCESS"]
        for name in reads {
            let file = name.replacingOccurrences(of: "CS04AC_", with: "CS04ACCritical_") + "_RESPONSE_GBCS.HEX"
            let vector = try Self.vector(file)
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector, srv: srv, keys: keys))
            for withCommand in [true, false] {
                let refusal = DataNode(body.name, attributes: [("MessageSuccess", "false")])
                let read = try #require(try Self.read(try Self.write(refusal, like: vector, srv: srv, withCommand: withCommand, keys: keys), srv: srv, keys: keys))
                #expect(read.attribute("MessageSuccess") == "false", "\(name)")
            }
        }
        for name in ["CS07_8.9_ERROR", "CCS05CCS04_8.9_ERROR", "ECS35a_6.13_ERROR", "ECS35d_6.13_ERROR", "CS10a_6.13_ERROR", "DBCH01_6.31_ERROR",
                     "DBCH02_6.32_ERROR", "DBCH03_6.30_ERROR", "CS03A1_8.7.1_ERROR", "CS04ACCritical_8.8.1_ERROR"] {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector, srv: srv, keys: keys))
            let written = try Self.content(body, like: vector, srv: srv, withCommand: true)
            #expect(Hex.encode(written) == Hex.encode(vector.response.content), "\(name)")
        }
    }

    /// The header and context of an answer like `vector`'s, for a body the emulator writes.
    static func roundTrip(_ body: DataNode, like name: String, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
        return try Self.read(try Self.write(body, like: vector, srv: srv, withCommand: true, keys: keys), srv: srv, keys: keys)
    }

    static func status(_ element: String, _ name: String, _ code: Int) -> DataNode {
        DataNode(element, attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: name)])
    }

    /// The emulator's answers (`docs/DEVICE-RESPONSES.md`), written and read back: what
    /// Parse and Correlate has elements for comes back as written.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorAnswersAreWritten() throws {
        let keys = try RoundTrip.keys
        // 8.7.2 and 8.8.2, a success and the emulator's refusals.
        for (element, code, name) in [("joinResponseCode", 0, "success"), ("joinResponseCode", 13, "noCBKEResponse"), ("joinResponseCode", 2, "invalidJoinMethodAndRole")] {
            var body = DataNode("JoinServiceNonCriticalRsp", attributes: code == 0 ? [] : [("MessageSuccess", "false")])
            body.add(Self.status(element, name, code))
            #expect(try Self.roundTrip(body, like: "CS03A2NonCritical_8.7.2_SUCCESS", srv: "8.7.2", keys: keys) == body)
        }
        var unjoin = DataNode("UnjoinServiceNonCriticalRsp", attributes: [("MessageSuccess", "false")])
        unjoin.add(Self.status("unjoinResponseCode", "otherDeviceNotInDeviceLog", 1))
        #expect(try Self.roundTrip(unjoin, like: "CS04ACNonCritical_8.8.2_SUCCESS", srv: "8.8.2", keys: keys) == unjoin)

        // 6.24.1: a found party (SHA-1 hashes, as the emulator writes them) and one not found.
        var credentials = DataNode("RetrieveDeviceSecurityCredentialsKRPRsp")
        credentials.add("RemotePartyDetails") { details in
            details.add("RemotePartyRole", "Supplier")
            details.add(Self.status("StatusCode", "success", 0))
            details.add("RemotePartyFloorSeqNumber", "0")
            details.add("CertificateUsage", "DigitalSigning")
            details.add("ExistingRemotePartyID", "90-B3-D5-1F-30-03-00-00")
            details.add("ExistingCertificateHash", "LMk8l2jmSo9YXxZLq4dtS3It2mw=")
        }
        credentials.add("RemotePartyDetails") { details in
            details.add("RemotePartyRole", "ACB")
            details.add(Self.status("StatusCode", "trustAnchorNotFound", 25))
        }
        let expected = DataNode(credentials.name, attributes: [("MessageSuccess", "false")], children: credentials.children)
        #expect(try Self.roundTrip(credentials, like: "CS02aMAC_6.24.1_SUCCESS", srv: "6.24.1", keys: keys) == expected)

        // 6.21's execution outcome.
        var handover = DataNode("RequestHandoverOfDCCControlledDeviceRsp")
        handover.add("ExecutionOutcome") { outcome in
            outcome.add("AuthorisingRemotePartyOriginatorCounter", "1795420218086000")
            outcome.add("CredentialsReplacementMode", "NetworkOperatorByNetworkOperator")
            outcome.add("RemotePartySeqNumberChange") { change in
                change.add("RemotePartyRole", "NetworkOperator")
                change.add("RemotePartyFloorSeqNumber", "0")
                change.add("RemotePartyPrepaymentTopUpFloorSeqNumber", "0")
            }
            outcome.add("ReplacementOutcome") { replaced in
                replaced.add(Self.status("StatusCode", "success", 0))
                replaced.add("CertificateType", "DigitalSigning")
                replaced.add("RemotePartyRole", "NetworkOperator")
                replaced.add("ExistingRemotePartyID", "90-B3-D5-1F-30-02-00-00")
                replaced.add("NewRemotePartyID", "90-B3-D5-1F-30-02-00-00")
                replaced.add("ExistingCertificateHash", "Dhnp2jAtUvz2dFwSqLOBRXY00cM=")
                replaced.add("NewCertificateHash", "cA2RCzrvgFH+/ZX18FHk824Z8Wg=")
            }
        }
        #expect(try Self.roundTrip(handover, like: "CS02bNOByNOHandover_6.21_SUCCESS", srv: "6.21", keys: keys) == handover)

        // 8.9 from a meter.
        var log = DataNode("ReadDeviceLogRsp")
        log.add("DeviceLogEntries") { entries in
            entries.add("LogEntry") { $0.add("DeviceID", "00-DB-12-34-56-78-90-A0"); $0.add("DeviceType", "ESME") }
            entries.add("LogEntry") { $0.add("DeviceID", "00-DB-12-34-56-78-90-A6"); $0.add("DeviceType", "Type2") }
        }
        #expect(try Self.roundTrip(log, like: "CS07_8.9_SUCCESS", srv: "8.9", keys: keys) == log)

        // 8.9 from the CHF: the device and the last communication (to the second) come back.
        var chf = DataNode("ReadDeviceLogRsp")
        chf.add("CHFDeviceLog") { entries in
            entries.add("CHFDeviceLogEntry") { item in
                item.add("DeviceID", "00-DB-12-34-56-78-90-A0")
                item.add("LastCommunicationsDateTime", "2026-11-23T07:40:39.948Z")
                item.add("SubGHzLinkQuality", "-59")
            }
        }
        var chfRead = DataNode("ReadDeviceLogRsp")
        chfRead.add("CHFDeviceLog") { entries in
            entries.add("CHFDeviceLogEntry") { item in
                item.add("DeviceID", "00-DB-12-34-56-78-90-A0")
                item.add("LastCommunicationsDateTime", "2026-11-23T07:40:39.000Z")
            }
        }
        #expect(try Self.roundTrip(chf, like: "CCS05CCS04_8.9_SUCCESS", srv: "8.9", keys: keys) == chfRead)

        // 6.30 with the emulator's defaults: the groups it leaves out come back empty.
        var subGHz = DataNode("ReadCHFSubGHzConfigurationRsp")
        subGHz.add("LowerBandSubGHzChannels27To34") { node in for channel in 27...34 { node.addEmpty("Channel\(channel)") } }
        let defaults = [("NormalLimitedDutyCycleThreshold", "1.3"), ("LimitedCriticalDutyCycleThreshold", "2.2"), ("MaximumSubGHzChannelChangesPerWeek", "5"),
                        ("GSMECurfew", "7"), ("ChannelQuieterThreshold", "7"), ("ChannelNoisierThreshold", "12"), ("NonGSMEPoorCommsPercentageThreshold", "60.00"),
                        ("NonGSMEPoorCommsMeasurementPeriods", "130"), ("LocalCHNoiseMeasurementPeriod", "100"), ("LocalCHFailurePercentage", "40.00"),
                        ("LocalCHRetryPercentage", "30.00")]
        for (name, value) in defaults { subGHz.add(name, value) }
        let subGHzRead = try #require(try Self.roundTrip(subGHz, like: "DBCH03_6.30_SUCCESS", srv: "6.30", keys: keys))
        #expect(subGHzRead.child("LowerBandSubGHzChannels27To34") == subGHz.child("LowerBandSubGHzChannels27To34"))
        #expect(subGHzRead.child("LowerBandSubGHzChannels0To26")?.children.isEmpty == true)
        for (name, value) in defaults { #expect(subGHzRead.child(name)?.text == value, "\(name)") }

        // 6.31 and a 6.32 channel change.
        var channel = DataNode("ReadCHFSubGHzChannelRsp")
        channel.add("OperatingSubGHzChannel") { $0.add("OperatingLowerBandSubGHzChannel") { $0.addEmpty("Channel28") } }
        #expect(try Self.roundTrip(channel, like: "DBCH01_6.31_SUCCESS", srv: "6.31", keys: keys) == channel)
        var channelLog = DataNode("ReadCHFSubGHzChannelLogRsp")
        channelLog.add("LogEntry") { entry in
            entry.add("Timestamp", "2026-11-23T07:50:18.000Z")
            entry.add("EventCode", "8F26")
            entry.add("EventDescription", "Sub GHz Channel Changed")
            entry.add("OperatingSubGHzChannel") { $0.add("OperatingUpperBandSubGHzChannel") { $0.addEmpty("Channel26") } }
        }
        #expect(try Self.roundTrip(channelLog, like: "DBCH02_6.32_SUCCESS", srv: "6.32", keys: keys) == channelLog)

        // 6.13: the emulator's log meanings have no place in GBCS; the rest comes back.
        var events = DataNode("ReadEventOrSecurityLogRsp")
        events.add("Log") { log in
            log.add("LogEntry") { item in
                item.add("Timestamp", "2026-11-23T07:50:15.000Z")
                item.add("LogCode", "8F52")
                item.add("OtherInformation", "0A0B")
            }
        }
        #expect(try Self.roundTrip(events, like: "ECS35a_6.13_SUCCESS", srv: "6.13", keys: keys) == events)
        #expect(try Self.roundTrip(events, like: "CS10a_6.13_SUCCESS", srv: "6.13", keys: keys) == events)

        // 6.2.4 from the gas meter: an 8-character model type comes back as it was.
        var identity = DataNode("ReadDeviceConfigurationIdentityExcMPxNRsp")
        identity.add("DeviceIdentifier", "00-DB-12-34-56-78-90-A1")
        identity.add("ModelType", "GSME0001")
        identity.add("ManufacturerIdentifier", "gbsm")
        identity.add("Gas") { $0.add("SupplyTamperState", "Unchanged"); $0.add("SupplyDepletionState", "Unchanged") }
        #expect(try Self.roundTrip(identity, like: "GCS21e_6.2.4_SUCCESS", srv: "6.2.4", keys: keys) == identity)
    }

    /// Values the answer cannot carry are shape errors, never a crash or a guess.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func badValuesAreShapeErrors() throws {
        func fails(_ body: DataNode, like name: String, srv: SRV) throws {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            #expect(throws: GBCSAnswerError.self, "\(name)") { _ = try Self.content(body, like: vector, srv: srv, withCommand: true) }
        }
        var subGHz = DataNode("ReadCHFSubGHzConfigurationRsp")
        for name in ["NormalLimitedDutyCycleThreshold", "LimitedCriticalDutyCycleThreshold", "NonGSMEPoorCommsPercentageThreshold",
                     "LocalCHFailurePercentage", "LocalCHRetryPercentage"] { subGHz.add(name, "1.25") }
        for name in ["GSMECurfew", "ChannelQuieterThreshold", "ChannelNoisierThreshold", "NonGSMEPoorCommsMeasurementPeriods", "LocalCHNoiseMeasurementPeriod"] {
            subGHz.add(name, "1")
        }
        subGHz.add("MaximumSubGHzChannelChangesPerWeek", "300")
        try fails(subGHz, like: "DBCH03_6.30_SUCCESS", srv: "6.30")
        subGHz.children.removeAll { $0.name == "MaximumSubGHzChannelChangesPerWeek" }
        subGHz.add("MaximumSubGHzChannelChangesPerWeek", "4")
        subGHz.children[0].text = "1.255"
        try fails(subGHz, like: "DBCH03_6.30_SUCCESS", srv: "6.30")
        var channel = DataNode("ReadCHFSubGHzChannelRsp")
        channel.add("OperatingSubGHzChannel") { $0.add("OperatingUpperBandSubGHzChannel") { $0.addEmpty("Channel27") } }
        try fails(channel, like: "DBCH01_6.31_SUCCESS", srv: "6.31")
        // The emulator's refused credentials update: an outcome without its counter or cells.
        var refused = DataNode("UpdateSecurityCredentialsKRPRsp", attributes: [("MessageSuccess", "false")])
        refused.add("ExecutionOutcome") { outcome in
            outcome.add("CredentialsReplacementMode", "SupplierBySupplier")
            outcome.add("ReplacementOutcome") { $0.add(Self.status("StatusCode", "badCertificate", 1)) }
        }
        try fails(refused, like: "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS", srv: "6.15.1")
        var log = DataNode("ReadDeviceLogRsp")
        log.add("DeviceLogEntries") { $0.add("LogEntry") { $0.add("DeviceID", "00-DB-12-34-56-78-90-A0"); $0.add("DeviceType", "IHD") } }
        try fails(log, like: "CS07_8.9_SUCCESS", srv: "8.9")
        var events = DataNode("ReadEventOrSecurityLogRsp")
        events.add("Log") { $0.add("LogEntry") { $0.add("Timestamp", "1999-12-31T23:59:59Z"); $0.add("LogCode", "8F52") } }
        try fails(events, like: "ECS35a_6.13_SUCCESS", srv: "6.13")
        var identity = DataNode("ReadDeviceConfigurationIdentityExcMPxNRsp")
        identity.add("DeviceIdentifier", "00-DB-12-34-56-78-90-A1")
        identity.add("ModelType", "A model type longer than 8")
        identity.add("ManufacturerIdentifier", "gbsm")
        identity.add("Gas") { $0.add("SupplyTamperState", "Unchanged"); $0.add("SupplyDepletionState", "Unchanged") }
        try fails(identity, like: "GCS21e_6.2.4_SUCCESS", srv: "6.2.4")
    }

    /// GBCS's lengths: 128 octets or more in two octets.
    @Test func asn1LengthsAreGBCSs() {
        let long = GBCSAnswers.SecurityAndHANAnswers.ASN1.sequence(Array(repeating: GBCSAnswers.SecurityAndHANAnswers.ASN1.integer(1), count: 50))
        let written = GBCSAnswers.SecurityAndHANAnswers.ASN1.gbcsLengths(GBCSAnswers.SecurityAndHANAnswers.ASN1.sequence([long, GBCSAnswers.SecurityAndHANAnswers.ASN1.integer(-129)]))
        let octets = written.encoded()
        #expect(Array(octets.prefix(7)) == [0x30, 0x82, 0x00, 0x9E, 0x30, 0x82, 0x00])
        #expect(Array(octets.suffix(4)) == [0x02, 0x02, 0xFF, 0x7F])
        #expect(GBCSAnswers.SecurityAndHANAnswers.ASN1.twosComplement(128) == [0x00, 0x80])
        #expect(GBCSAnswers.SecurityAndHANAnswers.ASN1.twosComplement(0) == [0x00])
    }
}
