import DUIS
@testable import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The answers to critical commands, both ways: every RTDS RESPONSE vector of the family
/// read by Parse and Correlate (the device's real signature checked with the RTDS keys) and
/// written again by the encoder, signed with a made-up device key: all but the signature
/// is the vector's (a refusal: the same header, a refusal of as many requests), and Parse
/// and Correlate reads ours back to the same element. Then the layouts without the
/// command, the outcome mappers, and the answers gbsm's emulator writes.
@Suite struct CriticalAnswersTests {
    typealias RoundTrip = GBCSAnswerRoundTripTests

    static let family: Set<String> = [
        "ECS01a", "ECS01b", "ECS01c", "ECS01d", "ECS02", "ECS04a", "ECS05", "ECS07", "ECS08", "ECS08a", "ECS09", "ECS28a", "ECS30", "ECS30a",
        "ECS38", "ECS42", "ECS43", "ECS44", "ECS46a", "ECS46c", "ECS46d", "ECS47", "ECS47a", "ECS47e", "ECS48", "ECS70", "ECS81", "GCS01a",
        "GCS03", "GCS04", "GCS23", "GCS24", "GCS28Commission", "GCS32", "GCS40a", "GCS40d", "CS06", "CS02c", "CS02d", "CS02e",
    ]

    static var rtds: RTDSKeyStore {
        get throws { RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore")) }
    }

    /// The vector's `…Rsp` element, its signature checked with the device's real key.
    static func read(_ frame: GBCSFrame, srv: SRV, keys: some GBCSKeyStore) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    static func write(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool = true, keys: RoundTrip.DeviceSide) throws -> GBCSFrame {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        return try GBCSAnswerWriter(keys: keys).frame(body, context: context)
    }

    /// The payload an encoder writes for `body`, the use case's encoder taken from the
    /// table or, for CS02d (not in the table until Parse and Correlate reads it), directly.
    static func content(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, keys: RoundTrip.DeviceSide) throws -> [UInt8] {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        guard useCase.name == "CS02d" else { return try write(body, like: vector, srv: srv, keys: keys).content }
        return try GBCSAnswers.certificateUpdate(body, RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)).payload.encode()
    }

    static func familyVectors() throws -> [RoundTrip.Vector] {
        try RoundTrip.vectors().filter { vector in
            guard let name = UseCases.byCode[vector.response.messageCode]?.name else { return false }
            return family.contains(name)
        }
    }

    static func vector(_ name: String) throws -> RoundTrip.Vector {
        try #require(try RoundTrip.vectors().first { ($0.path as NSString).lastPathComponent == name + "_RESPONSE_GBCS.HEX" }, "\(name)")
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyVectorIsWrittenAgain() throws {
        let rtds = try Self.rtds
        let keys = try RoundTrip.keys
        var written: [String: Int] = [:]
        var unmapped = Set<String>()
        var problems: [String] = []
        for vector in try Self.familyVectors() {
            let useCase = try #require(UseCases.byCode[vector.response.messageCode])
            guard let body = try Self.read(vector.response, srv: try vector.answered, keys: rtds) else {
                unmapped.insert(useCase.name)
                continue
            }
            guard GBCSAnswers.encoders[useCase.name] != nil else {
                unmapped.insert(useCase.name)
                continue
            }
            let ours = try Self.write(body, like: vector, srv: try vector.answered, keys: keys)
            #expect(ours.verifySignature(keys: keys) == .valid, "\(vector.path)")
            if body.attribute("MessageSuccess") == "false" {
                var header = ours
                header.content = vector.response.content
                header.signature = vector.response.signature
                if header.encode() != vector.response.encode() { problems.append("\(vector.path): the refusal's header differs") }
                let theirs = try GBCSPayload.decode(vector.response.content, cra: .response)
                let mine = try GBCSPayload.decode(ours.content, cra: .response)
                if case .dlms(.accessResponse(let a)) = mine, case .dlms(.accessResponse(let b)) = theirs {
                    if a.results.count != b.results.count || a.results.allSatisfy(\.succeeded) { problems.append("\(vector.path): \(a.results) is not a refusal as \(b.results)") }
                } else if mine.kind != theirs.kind {
                    problems.append("\(vector.path): a \(mine.kind) refusal, not \(theirs.kind)")
                }
            } else {
                var same = ours
                same.signature = vector.response.signature
                if same.encode() != vector.response.encode() {
                    problems.append("\(vector.path): differs\n  ours   \(Hex.encode(same.encode(), uppercase: true))\n  theirs \(Hex.encode(vector.response.encode(), uppercase: true))")
                }
            }
            let reread = try Self.read(ours, srv: try vector.answered, keys: keys)
            if reread != body { problems.append("\(vector.path): read back as \(String(describing: reread)), not \(body)") }
            written[useCase.name, default: 0] += 1
        }
        print("Critical answers: \(written.values.reduce(0, +)) RTDS responses of \(written.count) use cases written again; not mapped or encoded: \(unmapped.sorted())")
        #expect(written.values.reduce(0, +) >= 100)
        #expect(problems.isEmpty, "\(problems.count):\n\(problems.prefix(12).joined(separator: "\n"))")
    }

    /// Without the command, DCC's full layout (every optional row) gives the vector.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func fixedLayoutsAreTheCommands() throws {
        let rtds = try Self.rtds
        let keys = try RoundTrip.keys
        let names = [
            "ECS01a_1.1.1_IMMEDIATE_TOU_SUCCESS", "ECS01b_1.2.1_IMMEDIATE_TOU_SUCCESS", "ECS01c_1.1.2_IMMEDIATE_SUCCESS", "ECS01d_1.2.2_IMMEDIATE_SUCCESS",
            "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS", "ECS04a_1.5_SUCCESS", "ECS05_1.7_SUCCESS", "ECS07_2.3_SUCCESS", "ECS08_2.1_IMMEDIATE_SUCCESS",
            "ECS08a_2.1_IMMEDIATE_SUCCESS", "ECS09_2.5_SUCCESS", "ECS28a_6.4.1_IMMEDIATE_SUCCESS", "ECS30_6.8_SUCCESS", "ECS30a_6.8_SUCCESS",
            "ECS38_7.12_SUCCESS", "ECS42_7.1_SUCCESS", "ECS43_7.2_SUCCESS", "ECS44_7.3_SUCCESS", "ECS46a_6.14.1_ALL_OPTIONALS_SUCCESS",
            "ECS46c_6.14.2_FUTURE_DATED_ALL_OPTIONALS_SUCCESS", "ECS47Activate_7.5_SUCCESS", "ECS47Reset_7.8_SUCCESS", "ECS47a_7.13_APC_INPUT_SUCCESS",
            "ECS47e_7.16_APC_INPUT_SUCCESS", "ECS48_6.26_SUCCESS", "ECS81_6.25_SUCCESS", "ECS70_6.11_SUCCESS", "GCS01a_1.1.1_IMMEDIATE_TOU_SUCCESS",
            "GCS04_2.3_SUCCESS", "GCS23_6.6_SUCCESS", "GCS24_6.7_SUCCESS", "GCS40a_1.5_SUCCESS", "GCS40d_1.5_SUCCESS", "GCS32_7.2_SUCCESS",
            "CS06_11.3_IMMEDIATE_SUCCESS", "CS06_11.3_FUTURE_DATED_SUCCESS", "CS02c_6.17_SUCCESS", "CS02e_6.24.2_SUCCESS", "GCS28Commission_8.1.1_SUCCESS",
        ]
        for name in names {
            let vector = try Self.vector(name)
            let body = try #require(try Self.read(vector.response, srv: try vector.answered, keys: rtds), "\(name)")
            let written = try Self.write(body, like: vector, srv: try vector.answered, withCommand: false, keys: keys)
            #expect(Hex.encode(written.content) == Hex.encode(vector.response.content), "\(name)")
        }
    }

    /// The answers that carry a response code, refusals too, as MMC writes them; and what
    /// the encoder makes of that element is the vector.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func outcomesCarryTheirCodes() throws {
        let rtds = try Self.rtds
        let keys = try RoundTrip.keys
        func outcome(_ name: String) throws -> (RoundTrip.Vector, [DataNode], Bool) {
            let vector = try Self.vector(name)
            let useCase = try #require(UseCases.byCode[vector.response.messageCode])
            let mapper = try #require(CriticalAnswers.outcomeTable[useCase.name])
            let (children, succeeded) = try mapper(try Reading(try ParsedMessage(frame: vector.response, keys: rtds)))
            return (vector, children, succeeded)
        }
        let status = { (element: String, name: String, code: Int) in
            DataNode(element, attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: name)])
        }
        let cases: [(String, String, [DataNode], Bool)] = [
            ("CS02d_6.15.2_SUCCESS", "UpdateSecurityCredentialsDeviceRsp", [status("UpdateSecurityCredentialsResponseCode", "success", 0)], true),
            ("CS02d_6.15.2_ERROR", "UpdateSecurityCredentialsDeviceRsp", [status("UpdateSecurityCredentialsResponseCode", "invalidKeyUsage", 3)], false),
            ("CS02c_6.17_ERROR", "IssueSecurityCredentialsRsp", [status("IssueCredentialsResponseCode", "invalidKeyUsage", 3)], false),
            ("CS02e_6.24.2_ERROR", "RetrieveDeviceSecurityCredentialsDeviceRsp", [status("RetrieveDeviceSecurityCredentialsStatusCode", "invalidKeyUsage", 3)], false),
            ("CS06_11.3_IMMEDIATE_SUCCESS", "ActivateFirmwareRsp",
             [status("ActivateImageResponseCode", "success", 0), DataNode("FirmwareVersion", text: "0123ABCE")], true),
            ("CS06_11.3_IMMEDIATE_ERROR", "ActivateFirmwareRsp",
             [status("ActivateImageResponseCode", "noImageHeld", 1), DataNode("FirmwareVersion", text: "0123ABCF")], false),
            ("CS06_11.3_CANCELLATION_SUCCESS", "ActivateFirmwareRsp", [], true),
            ("GCS28Commission_8.1.1_SUCCESS", "CommissionDeviceSynchroniseClockRsp",
             [DataNode("DeviceTime", text: "2014-12-31T23:30:00.000Z"), DataNode("Gas", children: [status("GasClockTimeStatus", "reliable", 0)])], true),
            ("GCS28Commission_8.1.1_ERROR", "CommissionDeviceSynchroniseClockRsp",
             [DataNode("DeviceTime", text: "2015-01-01T00:00:00.000Z"), DataNode("Gas", children: [status("GasClockTimeStatus", "unreliable", 2)])], false),
        ]
        for (name, element, expected, expectedSuccess) in cases {
            let (vector, children, succeeded) = try outcome(name)
            #expect(children == expected, "\(name)")
            #expect(succeeded == expectedSuccess, "\(name)")
            let body = DataNode(element, attributes: succeeded ? [] : [("MessageSuccess", "false")], children: children)
            let written = try Self.content(body, like: vector, srv: try vector.answered, keys: keys)
            #expect(Hex.encode(written) == Hex.encode(vector.response.content), "\(name)")
        }
    }

    /// The emulator's answers (`Emulator+ConfigurationAndSecurity.swift`), written and read
    /// back: each comes back as written, but for what MMC's answer or GBCS cannot hold.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorAnswers() throws {
        let keys = try RoundTrip.keys
        func roundTrip(_ body: DataNode, like name: String) throws -> DataNode? {
            let vector = try Self.vector(name)
            return try Self.read(try Self.write(body, like: vector, srv: try vector.answered, keys: keys), srv: try vector.answered, keys: keys)
        }
        // 6.11 on the electricity meter, at whole seconds (GBCS's date-time has no milliseconds).
        var clock = DataNode("SynchroniseClockRsp")
        clock.add("DeviceTime", "2026-11-23T07:50:15.000Z")
        clock.add("Electricity") { $0.add(DataNode("ElecClockTimeStatus", attributes: [("TimeStatusCode", "0")], children: [DataNode("TimeStatus", text: "reliable")])) }
        #expect(try roundTrip(clock, like: "ECS70_6.11_SUCCESS") == clock)
        // Its refusal (clock outside the tolerance) keeps only that it was refused.
        let late = DataNode("SynchroniseClockRsp", attributes: [("MessageSuccess", "false")], children: clock.children)
        #expect(try roundTrip(late, like: "ECS70_6.11_SUCCESS") == DataNode("SynchroniseClockRsp", attributes: [("MessageSuccess", "false")]))
        // 11.3 with a version in hex; 6.17 and 6.24.2 with their DER objects.
        let vector = try Self.vector("CS02c_6.17_SUCCESS")
        let request = try #require(try Self.read(vector.response, srv: "6.17", keys: try Self.rtds))
        #expect(try roundTrip(request, like: "CS02c_6.17_SUCCESS") == request)
        var firmware = DataNode("ActivateFirmwareRsp")
        firmware.add(DataNode("ActivateImageResponseCode", attributes: [("ResponseCode", "0")], children: [DataNode("ASN1Status", text: "success")]))
        firmware.add("FirmwareVersion", "0204000B")
        #expect(try roundTrip(firmware, like: "CS06_11.3_IMMEDIATE_SUCCESS") == firmware)
        // The emulator's firmware versions ("4.2.11") are not GBCS's octets: not written.
        firmware.children[1] = DataNode("FirmwareVersion", text: "4.2.11")
        #expect(throws: GBCSAnswerError.self) { try Self.write(firmware, like: try Self.vector("CS06_11.3_IMMEDIATE_SUCCESS"), srv: "11.3", keys: keys) }
        // 6.15.2 unexecuted: MMC's notKnown (127) goes as INTEGER 127.
        let unexecuted = DataNode("UpdateSecurityCredentialsDeviceRsp", attributes: [("MessageSuccess", "false")], children: [
            DataNode("UpdateSecurityCredentialsResponseCode", attributes: [("ResponseCode", "127")], children: [DataNode("ASN1Status", text: "notKnown")]),
        ])
        let written = try Self.content(unexecuted, like: try Self.vector("CS02d_6.15.2_ERROR"), srv: "6.15.2", keys: keys)
        #expect(Hex.encode(written, uppercase: true) == "02017F")
        // 6.14.3's answer as the emulator names it (MMC 5.4's) is written like 6.14.2's.
        let scheduler = try Self.write(DataNode("UpdateDeviceConfigurationALCSchedulerRsp"), like: try Self.vector("ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS"),
                                       srv: "6.14.3", keys: keys)
        #expect(scheduler.content == (try Self.vector("ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS")).response.content)
        // A success that says it failed, or a refusal that says it succeeded, is not written.
        var contradiction = DataNode("UpdateSecurityCredentialsDeviceRsp")
        contradiction.add(DataNode("UpdateSecurityCredentialsResponseCode", attributes: [("ResponseCode", "4")], children: [DataNode("ASN1Status", text: "wrongPublicKey")]))
        #expect(throws: GBCSAnswerError.self) { try Self.content(contradiction, like: try Self.vector("CS02d_6.15.2_SUCCESS"), srv: "6.15.2", keys: keys) }
        // 6.11 with a TimeStatusCode that is no DLMS unsigned.
        var bad = clock
        bad.children[1] = DataNode("Electricity", children: [DataNode("ElecClockTimeStatus", attributes: [("TimeStatusCode", "300")], children: [DataNode("TimeStatus", text: "reliable")])])
        #expect(throws: GBCSAnswerError.self) { try Self.write(bad, like: try Self.vector("ECS70_6.11_SUCCESS"), srv: "6.11", keys: keys) }
    }

    /// A refusal without the command is the use case's layout refused, read back as one.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func refusalsWithoutTheCommand() throws {
        let keys = try RoundTrip.keys
        for name in ["ECS01a_1.1.1_IMMEDIATE_ERROR", "ECS07_2.3_ERROR", "ECS70_6.11_ERROR", "ECS47a_7.13_APC_INPUT_ERROR", "GCS04_2.3_ERROR", "GCS32_7.2_ERROR",
                     "GCS40a_1.5_ERROR", "CS06_11.3_IMMEDIATE_ERROR", "GCS28Commission_8.1.1_ERROR", "CS02c_6.17_ERROR"] {
            let vector = try Self.vector(name)
            let useCase = try #require(UseCases.byCode[vector.response.messageCode])
            let refusal = DataNode(MMCMapping.responseElement(try #require(ServiceCatalogue.variant(try vector.answered))), attributes: [("MessageSuccess", "false")])
            for withCommand in [true, false] {
                let written = try Self.write(refusal, like: vector, srv: try vector.answered, withCommand: withCommand, keys: keys)
                // Read back as a refusal: the answers that carry their own outcome (CS06,
                // GCS28, CS02c) also say which code the device refused with.
                let read = try Self.read(written, srv: try vector.answered, keys: keys)
                #expect(read?.name == refusal.name && read?.attribute("MessageSuccess") == "false", "\(name) \(useCase.name) \(withCommand)")
                if !["CS06", "GCS28Commission", "CS02c"].contains(useCase.name) { #expect(read == refusal, "\(name)") }
            }
        }
    }
}
