import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The security and HAN family's commands (6.21, 6.23, 8.5, 6.24.1, 8.7.2, 8.8.2, 8.9, 8.11,
/// 8.12.1, 8.12.2, 11.2) against every RTDS COMMAND vector of their use cases, the ERROR
/// requests and the other device types included. Each command is framed as DCC sends it
/// (by the user, by the access control broker for the user, or by a DCC party in its own
/// name), signed by the DCC party the builder names, MAC'd with the RTDS keys and compared
/// whole. ECDSA signatures are randomised: a built signature must verify with the signing
/// party's key, and the vector's then stands in for it before the MAC. Values DUIS does not
/// carry (the other device's type, DCC's copies of old device logs, the CS02b vectors'
/// older certificates) are handed in as DCC's inventory and state would, read from the
/// vectors at run time.
@Suite struct GBCSCommandSecurityAndHANTests {
    static let rtds = "gbcs/rtds/RTDS-4.5.0/"
    static let supplier = EUI64(0x90B3_D51F_3001_0000)
    static let broker = GBCSFrame.accessControlBroker

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func eui(_ last: UInt8) -> EUI64 { EUI64(0x00DB_1234_5678_9000 | UInt64(last)) }

    static func template(_ name: String) throws -> ElementTree {
        let data = try Reference.file("duis/templates/" + name)
        let request = try ServiceRequestDocument(try XMLDocument.parse([UInt8](data), limits: .duis))
        var body = request.body()
        body.children.removeAll { $0.name == "ExecutionDateTime" }
        return body
    }

    static func vector(_ path: String) throws -> (octets: [UInt8], frame: GBCSFrame) {
        guard let text = String(data: try Reference.file(rtds + path), encoding: .utf8), let octets = Hex.decode(text) else {
            throw Missing(description: "\(path) is not hex")
        }
        return (octets, try GBCSFrame.decode(octets))
    }

    /// The tree with the element at `path` given this text (added when absent).
    static func setting(_ tree: ElementTree, _ path: [String], _ text: String) -> ElementTree {
        var tree = tree
        guard let name = path.first else {
            tree.text = text
            return tree
        }
        if let index = tree.children.firstIndex(where: { $0.name == name }) {
            tree.children[index] = setting(tree.children[index], Array(path.dropFirst()), text)
        } else {
            tree.children.append(setting(ElementTree(name: name), Array(path.dropFirst()), text))
        }
        return tree
    }

    static func removing(_ tree: ElementTree, _ name: String) -> ElementTree {
        var tree = tree
        tree.children.removeAll { $0.name == name }
        return tree
    }

    /// The replacement certificates a CS02b vector carries, base64, in order.
    static func replacementCertificates(_ frame: GBCSFrame) throws -> [String] {
        let command = try ASN1Value.decode(frame.content)
        guard command.children.count >= 3 else { throw Missing(description: "not an UpdateSecurityCredentials command") }
        return command.children[1].children.compactMap { $0.children.first.map { Data($0.encoded()).base64EncodedString() } }
    }

    static func input(_ srv: SRV, _ body: ElementTree, user: EUI64 = GBCSCommandSecurityAndHANTests.supplier, device: EUI64, _ type: DeviceType, counter: UInt64,
                      dcc: UInt64? = nil, other: CriticalCommandBuilder.OtherDevice? = nil) -> CriticalCommandBuilder.Input {
        CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: device, deviceType: type, counter: counter, otherDevice: other, brokerCounter: dcc)
    }

    /// The frame DCC sends for a built command: from the DCC party that sends the SRV in its
    /// own name, from the access control broker for the user, or from the user; then signed
    /// by the party the builder names.
    static func frame(_ built: CriticalCommandBuilder.Built, _ input: CriticalCommandBuilder.Input, keys: RTDSKeyStore) throws -> GBCSFrame {
        var frame: GBCSFrame
        if let party = GBCSCommandBuilder.securityAndHANSenders[input.srv], party != input.user {
            guard let counter = input.brokerCounter else { throw Missing(description: "\(input.srv): no counter for \(party)") }
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: party, recipient: input.device, dateTime: nil,
                              messageCode: built.messageCode, supplement: .none, content: built.content, signature: .empty)
        } else if built.sentByBroker {
            guard let counter = input.brokerCounter else { throw Missing(description: "\(input.srv): no broker counter") }
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: broker, recipient: input.device, dateTime: nil,
                              messageCode: built.messageCode, supplement: .remoteParty(id: input.user, counter: input.counter), content: built.content,
                              signature: .empty)
        } else {
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: input.counter, originator: input.user, recipient: input.device, dateTime: nil,
                              messageCode: built.messageCode, supplement: .none, content: built.content, signature: .empty)
        }
        if let party = built.signedBy {
            guard let key = keys.signingKey(of: party) else { throw Missing(description: "no signing key for \(party)") }
            frame = try frame.signed(with: key)
        }
        return frame
    }

    static func build(_ input: CriticalCommandBuilder.Input) throws -> CriticalCommandBuilder.Built {
        guard let build = GBCSCommandBuilder.securityAndHANBuilders[input.srv] else { throw Missing(description: "no builder for \(input.srv)") }
        return try build(input)
    }

    /// Whether the framed command, MAC'd, is the vector's octets (a built signature verified,
    /// then replaced by the vector's).
    static func matches(_ built: CriticalCommandBuilder.Built, _ input: CriticalCommandBuilder.Input, _ path: String, keys: RTDSKeyStore,
                        useCase: String? = nil) throws -> Bool {
        let (expected, vector) = try vector(path)
        var frame = try frame(built, input, keys: keys)
        if case .present = frame.signature {
            #expect(frame.verifySignature(keys: keys) == .valid, "\(path): signature")
            #expect(vector.signature != .empty, "\(path): the vector is not signed")
            frame.signature = vector.signature
        }
        if let useCase { #expect(built.useCase == useCase, "\(path)") }
        guard let key = frame.macKey(keys: keys) else { throw Missing(description: "\(path): no MAC key") }
        let octets = try frame.maced(with: key).encode()
        if octets != expected {
            Issue.record("\(path):\n  built    \(Hex.encode(octets).prefix(400))\n  expected \(Hex.encode(expected).prefix(400))")
        }
        return octets == expected
    }

    static func keys() throws -> RTDSKeyStore {
        guard let directory = Reference.directory else { throw Missing(description: "no reference") }
        return RTDSKeyStore(directory: directory.appendingPathComponent("gbcs/rtds/keystore"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func credentialsSentByDCCAreTheVectors() throws {
        let keys = try Self.keys()
        // 6.21: the Network Operator takes over a DCC-controlled GPF; the broker sends and signs.
        var path = "6.21_CS02bNOByNOHandover/CS02bNOByNOHandover_6.21_SUCCESS_COMMAND_GBCS.HEX"
        var certificates = try Self.replacementCertificates(try Self.vector(path).frame)
        try #require(certificates.count == 2)
        var body = try Self.template("CS02bNOByNOHandover_6.21_SUCCESS_REQUEST_DUIS.XML")
        body = Self.setting(body, ["ReplacementCertificates", "DigitalSigningCertificate"], certificates[0])
        body = Self.setting(body, ["ReplacementCertificates", "KeyAgreementCertificate"], certificates[1])
        var input = Self.input("6.21", body, device: Self.eui(0xA3), .gpf, counter: 1001, dcc: 1301)
        #expect(try Self.matches(try Self.build(input), input, path, keys: keys, useCase: "CS02b"))

        // 6.23: the Transitional CoS party replaces the old supplier's credentials and signs.
        body = try Self.template("CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        for (kind, counter) in [("IMMEDIATE", UInt64(6001))] {
            path = "6.23_CS02bSupplierByTransCoS/CS02bSupplierByTransCoS_6.23_\(kind)_SUCCESS_COMMAND_GBCS.HEX"
            certificates = try Self.replacementCertificates(try Self.vector(path).frame)
            try #require(certificates.count == 3)
            for (name, text) in zip(["DigitalSigningCertificate", "KeyAgreementCertificate", "KeyAgreementTopUpCertificate"], certificates) {
                body = Self.setting(body, ["SupplierReplacementCertificates", name], text)
            }
            input = Self.input("6.23", body, device: Self.eui(0xA0), .esme, counter: 1006, dcc: counter)
            #expect(try Self.matches(try Self.build(input), input, path, keys: keys, useCase: "CS02b"))
        }

        // 8.5: the broker hands its own cells over; not signed.
        path = "8.5_CS02bACBByACB/CS02bACBByACB_8.5_SUCCESS_COMMAND_GBCS.HEX"
        certificates = try Self.replacementCertificates(try Self.vector(path).frame)
        try #require(certificates.count == 1)
        body = Self.setting(try Self.template("CS02bACBByACB_8.5_SUCCESS_REQUEST_DUIS.XML"), ["ReplacementCertificates", "KeyAgreementCertificate"], certificates[0])
        input = Self.input("8.5", body, device: Self.eui(0xA0), .esme, counter: 1005, dcc: 1300)
        #expect(try Self.matches(try Self.build(input), input, path, keys: keys, useCase: "CS02b"))
        // Without the sending party's counter there is no command.
        #expect(throws: TransformError.self) { try Self.build(Self.input("8.5", body, device: Self.eui(0xA0), .esme, counter: 1005)) }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func credentialDetailsAreTheVectors() throws {
        let keys = try Self.keys()
        let template = try Self.template("CS02aMAC_6.24.1_SUCCESS_REQUEST_DUIS.XML")
        func roles(_ names: [String]) -> ElementTree {
            ElementTree(name: template.name, children: names.map { ElementTree(name: "RemotePartyRole", text: $0) })
        }
        let cases: [(ElementTree, UInt8, DeviceType, String, String)] = [
            (template, 0xA0, .esme, "CS02a", "6.24.1_CS02aMAC/CS02aMAC_6.24.1_SUCCESS_COMMAND_GBCS.HEX"),
            (roles(["ACB", "NetworkOperator"]), 0xA1, .gsme, "CS02a", "6.24.1_CS02aMAC/CS02aMAC_6.24.1_ERROR_COMMAND_GBCS.HEX"),
            (roles(["Supplier", "LoadController"]), 0xA0, .esme, "CS02f", "6.24.1_CS02fMAC/CS02fMAC_6.24.1_SUCCESS_COMMAND_GBCS.HEX"),
        ]
        for (body, last, type, useCase, path) in cases {
            let input = Self.input("6.24.1", body, device: Self.eui(last), type, counter: 1000, dcc: 1302)
            #expect(try Self.matches(try Self.build(input), input, path, keys: keys, useCase: useCase))
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func joinsAndUnjoinsAreTheVectors() throws {
        let keys = try Self.keys()
        // In the RTDS, -A4 is a PPMID (it has SMKI certificates and takes CS03A2, CS04AC, CS08).
        let join = try Self.template("CS03A2NonCritical_8.7.2_SUCCESS_REQUEST_DUIS.XML")
        var input = Self.input("8.7.2", join, device: Self.eui(0xA4), .ppmid, counter: 1000, dcc: 1300, other: .init(type: .esme, keyAgreementCertificate: nil))
        #expect(try Self.matches(try Self.build(input), input, "8.7.2_CS03A2NonCritical/CS03A2NonCritical_8.7.2_SUCCESS_COMMAND_GBCS.HEX", keys: keys, useCase: "CS03A2"))
        // The other device's type is DCC's inventory's.
        #expect(throws: TransformError.self) { try Self.build(Self.input("8.7.2", join, device: Self.eui(0xA4), .ppmid, counter: 1000, dcc: 1300)) }

        let unjoin = try Self.template("CS04ACNonCritical_8.8.2_SUCCESS_REQUEST_DUIS.XML")
        input = Self.input("8.8.2", unjoin, device: Self.eui(0xA4), .ppmid, counter: 1000, dcc: 1300)
        #expect(try Self.matches(try Self.build(input), input, "8.8.2_CS04ACNonCritical/CS04ACNonCritical_8.8.2_SUCCESS_COMMAND_GBCS.HEX", keys: keys, useCase: "CS04AC"))
        // A gas meter's Method B unjoin, from the user (the upstream CS04B template's request).
        input = Self.input("8.8.2", unjoin, device: Self.eui(0xA1), .gsme, counter: 1000)
        #expect(try Self.matches(try Self.build(input), input, "8.8.2_CS04B/CS04B_8.8.2_SUCCESS_COMMAND_GBCS.HEX", keys: keys, useCase: "CS04b"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func deviceLogsAreTheVectors() throws {
        let keys = try Self.keys()
        let read = try Self.template("CCS05CCS04_8.9_SUCCESS_REQUEST_DUIS.XML")
        for (kind, counter) in [("SUCCESS", UInt64(1000)), ("ERROR", 1001)] {
            let input = Self.input("8.9", read, device: Self.eui(0xA2), .chf, counter: counter, dcc: counter + 300)
            #expect(try Self.matches(try Self.build(input), input, "8.9_CCS05CCS04/CCS05CCS04_8.9_\(kind)_COMMAND_GBCS.HEX", keys: keys, useCase: "CCS05CCS04"))
        }
        // A gas meter's join details, from the user (the upstream CS07 template's request).
        var input = Self.input("8.9", read, device: Self.eui(0xA1), .gsme, counter: 1001)
        #expect(try Self.matches(try Self.build(input), input, "8.9_CS07/CS07_8.9_SUCCESS_COMMAND_GBCS.HEX", keys: keys, useCase: "CS07"))

        // 8.11: the ESME joins the comms hub's whitelist; its type is the inventory's.
        let add = try Self.template("CCS01_8.11_SUCCESS_REQUEST_DUIS.XML")
        for (kind, counter) in [("SUCCESS", UInt64(1002)), ("ERROR", 1003)] {
            input = Self.input("8.11", add, device: Self.eui(0xA2), .chf, counter: counter, dcc: counter + 300, other: .init(type: .esme, keyAgreementCertificate: nil))
            #expect(try Self.matches(try Self.build(input), input, "8.11_CCS01/CCS01_8.11_\(kind)_COMMAND_GBCS.HEX", keys: keys, useCase: "CCS01"))
        }

        // 8.12.1: DCC's copy of the old hub's log (here the vector's own values).
        let restore = try Self.template("CCS03_8.12.1_SUCCESS_REQUEST_DUIS.XML")
        for (kind, counter) in [("SUCCESS", UInt64(1002)), ("ERROR", 1003)] {
            let path = "8.12.1_CCS03/CCS03_8.12.1_\(kind)_COMMAND_GBCS.HEX"
            guard case .dlms(.accessRequest(let request)) = try GBCSPayload.decode(try Self.vector(path).frame.content, cra: .command),
                  case .structure(let restored)? = request.data.first, restored.count == 2,
                  case .octetString(let panID) = restored[0], case .array(let items) = restored[1]
            else { throw Missing(description: "\(path) is not a CCS03") }
            var entries: [GBCSCommandBuilder.CHFDeviceLogBackup.Entry] = []
            for item in items {
                guard case .structure(let fields) = item, fields.count == 2, case .octetString(let device) = fields[0], case .octetString(let key) = fields[1],
                      device.count == 8 else { throw Missing(description: "\(path): an entry") }
                entries.append(.init(device: EUI64(device.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }), linkKey: key))
            }
            input = Self.input("8.12.1", restore, device: Self.eui(0xA2), .chf, counter: counter, dcc: counter + 300)
            let built = try GBCSCommandBuilder.securityAndHANRestoreCHFLog(input, backup: .init(extendedPANID: panID, entries: entries))
            #expect(try Self.matches(built, input, path, keys: keys, useCase: "CCS03"))
        }

        // 8.12.2: DCC's copy of the old GPF's log (its GCS62 backups; here the vector's values).
        let path = "8.12.2_GCS59/GCS59_8.12.2_SUCCESS_COMMAND_GBCS.HEX"
        let types: [Int64: DeviceType] = [0: .gsme, 1: .esme, 2: .chf, 3: .gpf, 4: .hcalcs, 5: .ppmid, 6: .ihd]
        var entries: [GBCSCommandBuilder.GPFDeviceLogBackup.Entry] = []
        for item in try ASN1Value.decode(try Self.vector(path).frame.content).children.first?.children ?? [] {
            guard item.children.count == 2, let device = item.children[0].octets, device.count == 8, let number = item.children[1].integer, let type = types[number]
            else { throw Missing(description: "\(path): an entry") }
            entries.append(.init(device: EUI64(device.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }), type: type))
        }
        try #require(entries.count == 2)
        // The RTDS's request comes from the broker itself: the frame is then simply its own.
        input = Self.input("8.12.2", try Self.template("GCS59_8.12.2_SUCCESS_REQUEST_DUIS.XML"), user: Self.broker, device: Self.eui(0xA3), .gpf, counter: 1300)
        #expect(try Self.matches(try GBCSCommandBuilder.securityAndHANRestoreGPFLog(input, backup: .init(entries: entries)), input, path, keys: keys, useCase: "GCS59"))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func firmwareVersionsAreTheVectors() throws {
        let keys = try Self.keys()
        // The template names the broker as requester; its vectors have a supplier as the
        // supplementary remote party, which is what DCC does for a supplier's request.
        let body = try Self.template("CS08_11.2_SUCCESS_REQUEST_DUIS.XML")
        for (kind, last, counter) in [("SUCCESS", UInt8(0xA4), UInt64(1000)), ("ERROR", 0xA5, 1001)] {
            let input = Self.input("11.2", body, device: Self.eui(last), .ppmid, counter: counter, dcc: counter + 300)
            #expect(try Self.matches(try Self.build(input), input, "11.2_CS08/CS08_11.2_\(kind)_COMMAND_GBCS.HEX", keys: keys, useCase: "CS08"))
        }
    }

    @Test func hostileValuesAreRefused() throws {
        let device = Self.eui(0xA2)
        let esme = CriticalCommandBuilder.OtherDevice(type: .esme, keyAgreementCertificate: nil)
        let ppmid = CriticalCommandBuilder.OtherDevice(type: .ppmid, keyAgreementCertificate: nil)
        let add = ElementTree(name: "UpdateHANDeviceLog", children: [
            ElementTree(name: "DeviceID", text: "00-DB-12-34-56-78-90-A0"), ElementTree(name: "RequestType", text: "Add"),
            ElementTree(name: "AddDeviceToCHFWhitelist", children: [ElementTree(name: "JoinTimePeriod", text: "90"),
                                                                    ElementTree(name: "InstallCode", text: "30313233343536373839414243444546")]),
        ])
        // The well-formed request builds.
        #expect(throws: Never.self) { try Self.build(Self.input("8.11", add, device: device, .chf, counter: 1, dcc: 2, other: esme)) }
        let join = ElementTree(name: "JoinServiceNonCritical", children: [ElementTree(name: "OtherDeviceID", text: "00-DB-12-34-56-78-90-A0")])
        let roles = { (names: [String]) in ElementTree(name: "RetrieveDeviceSecurityCredentialsKRP", children: names.map { ElementTree(name: "RemotePartyRole", text: $0) }) }
        let refused: [(String, CriticalCommandBuilder.Input)] = [
            ("install code too short", Self.input("8.11", Self.setting(add, ["AddDeviceToCHFWhitelist", "InstallCode"], "3031"), device: device, .chf, counter: 1, dcc: 2, other: esme)),
            ("install code not hex", Self.input("8.11", Self.setting(add, ["AddDeviceToCHFWhitelist", "InstallCode"], String(repeating: "Z", count: 32)), device: device, .chf,
                                                counter: 1, dcc: 2, other: esme)),
            ("join time 0", Self.input("8.11", Self.setting(add, ["AddDeviceToCHFWhitelist", "JoinTimePeriod"], "0"), device: device, .chf, counter: 1, dcc: 2, other: esme)),
            ("join time too long", Self.input("8.11", Self.setting(add, ["AddDeviceToCHFWhitelist", "JoinTimePeriod"], "99999999999"), device: device, .chf, counter: 1, dcc: 2,
                                              other: esme)),
            ("bad request type", Self.input("8.11", Self.setting(add, ["RequestType"], "Swap"), device: device, .chf, counter: 1, dcc: 2, other: esme)),
            ("remove with whitelist details", Self.input("8.11", Self.setting(add, ["RequestType"], "Remove"), device: device, .chf, counter: 1, dcc: 2)),
            ("add without inventory", Self.input("8.11", add, device: device, .chf, counter: 1, dcc: 2)),
            ("add without the broker's counter", Self.input("8.11", add, device: device, .chf, counter: 1, other: esme)),
            ("bad device ID", Self.input("8.11", Self.setting(add, ["DeviceID"], "00-DB-12"), device: device, .chf, counter: 1, dcc: 2, other: esme)),
            ("whitelist on a meter", Self.input("8.11", add, device: device, .esme, counter: 1, dcc: 2, other: esme)),
            ("meter joins a PPMID non-critically", Self.input("8.7.2", join, device: Self.eui(0xA0), .esme, counter: 1, other: ppmid)),
            ("join a comms hub", Self.input("8.7.2", join, device: device, .chf, counter: 1, dcc: 2, other: esme)),
            ("GSME join without its certificate", Self.input("8.7.2", join, device: Self.eui(0xA4), .ppmid, counter: 1, dcc: 2,
                                                             other: .init(type: .gsme, keyAgreementCertificate: nil))),
            ("unjoin a PPMID from a meter", Self.input("8.8.2", join, device: Self.eui(0xA0), .esme, counter: 1, other: ppmid)),
            ("device log of an IHD", Self.input("8.9", ElementTree(name: "ReadDeviceLog"), device: Self.eui(0xA4), .ihd, counter: 1, dcc: 2)),
            ("security details of a meter", Self.input("8.9", ElementTree(name: "ReadDeviceLog", children: [ElementTree(name: "ReadSecurityDetails")]),
                                                       device: Self.eui(0xA1), .gsme, counter: 1)),
            ("unknown role", Self.input("6.24.1", roles(["Supplier", "Landlord"]), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("eight roles", Self.input("6.24.1", roles(Array(repeating: "Supplier", count: 8)), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("load controller of a gas meter", Self.input("6.24.1", roles(["LoadController"]), device: Self.eui(0xA1), .gsme, counter: 1, dcc: 2)),
            ("firmware of a comms hub", Self.input("11.2", ElementTree(name: "ReadFirmwareVersion"), device: device, .chf, counter: 1, dcc: 2)),
        ]
        for (reason, input) in refused {
            #expect(throws: TransformError.self, "\(reason)") { try Self.build(input) }
        }
        // DCC's copies of old logs must have GBCS's sizes.
        let restore = Self.input("8.12.1", ElementTree(name: "RestoreHANDeviceLog", children: [ElementTree(name: "OldCHFID", text: "00-DB-12-34-56-78-90-95")]),
                                 device: device, .chf, counter: 1, dcc: 2)
        #expect(throws: TransformError.self) {
            try GBCSCommandBuilder.securityAndHANRestoreCHFLog(restore, backup: .init(extendedPANID: [1, 2, 3], entries: []))
        }
        #expect(throws: TransformError.self) {
            try GBCSCommandBuilder.securityAndHANRestoreCHFLog(restore, backup: .init(extendedPANID: Array(repeating: 0, count: 8),
                                                                                      entries: [.init(device: Self.eui(0xA0), linkKey: [1, 2])]))
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func hostileCredentialsAreRefused() throws {
        let handover = try Self.template("CS02bNOByNOHandover_6.21_SUCCESS_REQUEST_DUIS.XML")
        let cos = try Self.template("CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let optOut = try Self.template("CS02bACBByACB_8.5_SUCCESS_REQUEST_DUIS.XML")
        let refused: [(String, CriticalCommandBuilder.Input)] = [
            ("handover of the ACB role", Self.input("6.21", Self.setting(handover, ["RemotePartyRole"], "ACB"), device: Self.eui(0xA3), .gpf, counter: 1, dcc: 2)),
            ("handover without the broker's counter", Self.input("6.21", handover, device: Self.eui(0xA3), .gpf, counter: 1)),
            ("NO handover with a top-up floor", Self.input("6.21", Self.setting(handover, ["RemotePartyPrepaymentTopUpFloorSeqNumber"], "0"), device: Self.eui(0xA3), .gpf,
                                                           counter: 1, dcc: 2)),
            ("certificate not base64", Self.input("6.21", Self.setting(handover, ["ReplacementCertificates", "DigitalSigningCertificate"], "%%%"), device: Self.eui(0xA3),
                                                  .gpf, counter: 1, dcc: 2)),
            ("negative floor", Self.input("6.23", Self.setting(cos, ["SupplierFloorSeqNumber"], "-1"), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("floor too large", Self.input("6.23", Self.setting(cos, ["SupplierFloorSeqNumber"], "9223372036854775808"), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("no replacements", Self.input("6.23", Self.removing(cos, "SupplierReplacementCertificates"), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("CPV flag not boolean", Self.input("8.5", Self.setting(optOut, ["ApplyTimeBasedCPVChecks"], "maybe"), device: Self.eui(0xA0), .esme, counter: 1, dcc: 2)),
            ("ACB top-up certificate", Self.input("8.5", Self.setting(optOut, ["ReplacementCertificates", "KeyAgreementTopUpCertificate"], "MIIB"), device: Self.eui(0xA0),
                                                  .esme, counter: 1, dcc: 2)),
        ]
        for (reason, input) in refused {
            #expect(throws: TransformError.self, "\(reason)") { try Self.build(input) }
        }
    }
}
