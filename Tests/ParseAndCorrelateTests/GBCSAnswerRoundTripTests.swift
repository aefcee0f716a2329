import Crypto
import DUIS
import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import SMKI
import Testing
import TestSupport

/// The devices' GBCS answers against DCC's Reference Test Data Set: every RESPONSE vector
/// of a use case with an encoder, read by Parse and Correlate into its MMC element and
/// written again by the encoder with the vector's header, counter and keys, gives the
/// vector's octets (answers to critical commands: all but the signature, which is ECDSA
/// with a fresh nonce, and the signature verifies). And what the encoder writes, Parse and
/// Correlate reads back to the same element.
@Suite struct GBCSAnswerRoundTripTests {
    /// The RTDS keys, with ECDH from either side (the set holds the users' private KA
    /// keys, not the devices'; Z is the same) and a DS key made up for each device, whose
    /// signature is checked with the key itself.
    final class DeviceSide: GBCSKeyStore, @unchecked Sendable {
        let rtds: RTDSKeyStore
        private let lock = NSLock()
        private var madeUp: [EUI64: P256.Signing.PrivateKey] = [:]
        init(_ rtds: RTDSKeyStore) { self.rtds = rtds }
        func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
            if usage == .digitalSignature, rtds.isDevice(party) { return signingKey(of: party)?.publicKey }
            return rtds.publicKey(of: party, usage: usage)
        }
        func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? {
            if let key = rtds.signingKey(of: party) { return key }
            lock.lock()
            defer { lock.unlock() }
            if let key = madeUp[party] { return key }
            let key = P256.Signing.PrivateKey()
            madeUp[party] = key
            return key
        }
        func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { rtds.keyAgreementKey(of: party) }
        func isDevice(_ party: EUI64) -> Bool { rtds.isDevice(party) }
        func sharedSecret(of party: EUI64, with other: EUI64) -> [UInt8]? {
            rtds.sharedSecret(of: party, with: other) ?? rtds.sharedSecret(of: other, with: party)
        }
    }

    struct Vector {
        let path: String
        /// The SRV the vector answers (nil for the RTDS files named "NA": no SRV asks for them).
        let srv: SRV?
        let response: GBCSFrame
        let command: GBCSFrame?

        /// The SRV of a vector known to answer one.
        var answered: SRV { get throws { try #require(srv, "\(path) answers no SRV") } }
    }

    static func vectors() throws -> [Vector] {
        let root = try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0")
        return try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix("_RESPONSE_GBCS.HEX") }.sorted().compactMap { path in
            func frame(_ path: String) throws -> GBCSFrame? {
                guard let text = try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) else { return nil }
                return try GBCSFrame.decode(try #require(Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines))))
            }
            guard let response = try frame(path) else { return nil }
            let commandPath = path.replacingOccurrences(of: "_RESPONSE_GBCS.HEX", with: "_COMMAND_GBCS.HEX")
            return Vector(path: path, srv: SRV(path.prefix { $0 != "_" }), response: response, command: try frame(commandPath))
        }
    }

    /// One store for the suite's contexts.
    static let sharedKeys: DeviceSide = DeviceSide(RTDSKeyStore(directory: (Reference.directory ?? URL(fileURLWithPath: "/nonexistent"))
        .appendingPathComponent("gbcs/rtds/keystore")))

    static var keys: DeviceSide {
        get throws { DeviceSide(RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))) }
    }

    /// The context the device answered the vector's command in.
    static func context(_ vector: Vector, useCase: UseCase, srv: SRV, body: DataNode) -> GBCSAnswerContext {
        let frame = vector.response
        let keys = sharedKeys
        let time = frame.dateTime.flatMap { DLMSDateTime($0)?.unixTime }.map { Timestamp(milliseconds: $0 * 1000) } ?? Timestamp(year: 2015, month: 1, day: 1)
        var context = GBCSAnswerContext(srv: srv, useCase: useCase, device: frame.originator, recipient: frame.recipient, counter: frame.originatorCounter,
                                        time: time, command: vector.command.flatMap { try? GBCSPayload.decode($0.content, cra: .command) },
                                        succeeded: body.attribute("MessageSuccess") != "false", blockKey: nil)
        context.commandSupplement = vector.command?.supplement ?? frame.supplement
        context.deviceCounter = frame.supplement.originatorCounter
        // An unknown remote party's read: the RTDS set holds the certificate holder's
        // private key, not the device's, so the block key is agreed from that side.
        if let der = context.commandSupplement.kaCertificate, let holder = try? SMKICertificate(der: der).subjectEUI,
           let id = frame.supplement.remotePartyID ?? context.commandSupplement.remotePartyID,
           let secret = keys.rtds.sharedSecret(of: holder, with: frame.originator) {
            context.blockKey = GBCSCrypto.deriveKey(secret: secret, originator: frame.originator, usage: 0x04,
                                                    counter: frame.supplement.originatorCounter ?? frame.originatorCounter, recipient: id)
        }
        if let octets = frame.dateTime, octets.count == 12 { context.clockStatus = octets[11] }
        return context
    }

    /// The RTDS answers that carry values MMC has no element for, so that no answer
    /// written from MMC can be them octet for octet: these must read (Parse and Correlate)
    /// to the same element as the vector, with the vector's header.
    static let beyondMMC: [String: String] = [
        "ECS24b_4.11.2_SUCCESS_RESPONSE_GBCS.HEX": "each season's start time of day (MMC's season start is a date)",
        "ECS26a_4.13_TWIN_SUCCESS_RESPONSE_GBCS.HEX": "a twin meter's secondary charge (nothing in the answer says twin)",
        "ECS61e_7.15_SUCCESS_RESPONSE_GBCS.HEX": "an identifier FF and an empty one, both read as no type",
        "ECS61a_7.7_ALL_OPTIONALS_SUCCESS_RESPONSE_GBCS.HEX": "the special days and switching calendar, which Parse and Correlate does not map",
        "CCS05CCS04_8.9_SUCCESS_RESPONSE_GBCS.HEX": "the device log's RSSI and LQI, which MMC does not carry",
    ]

    /// For each vector with an encoder: nil when it round-trips, else what differs.
    static func check(_ vector: Vector, keys: DeviceSide) throws -> (checked: Bool, problem: String?) {
        guard let useCase = UseCases.byCode[vector.response.messageCode], GBCSAnswers.encoders[useCase.name] != nil else { return (false, nil) }
        // The RTDS files use cases no DUIS request asks for under NA: DCC never sends them.
        guard let srv = vector.srv else { return (false, nil) }
        let message: ParsedMessage
        do {
            // Read with the RTDS keys (the devices' real DS certificates for signed answers).
            message = try ParsedMessage(frame: vector.response, keys: keys.rtds)
        } catch {
            return (false, nil)
        }
        guard let body = try MMCMapping.body(for: message, srv: srv) else { return (false, nil) }
        let writer = GBCSAnswerWriter(keys: keys)
        let written: GBCSFrame
        do {
            written = try writer.frame(body, context: context(vector, useCase: useCase, srv: srv, body: body))
        } catch {
            return (true, "\(vector.path): \(error)")
        }
        if body.attribute("MessageSuccess") == "false" {
            // A refusal's MMC element says only that the device refused, not which request
            // failed with which result: the header must be the vector's, and the payload a
            // refusal of as many requests.
            var ours = written
            ours.content = vector.response.content
            ours.macHeader = vector.response.macHeader
            ours.signature = vector.response.signature
            if ours != vector.response { return (true, "\(vector.path): the refusal's header differs") }
            let theirs = try GBCSPayload.decode(vector.response.content, cra: .response)
            let mine = try GBCSPayload.decode(written.content, cra: .response)
            if case .dlms(.accessResponse(let a)) = mine, case .dlms(.accessResponse(let b)) = theirs {
                if a.results.count != b.results.count || a.results.allSatisfy(\.succeeded) { return (true, "\(vector.path): \(a.results) refuses, not as \(b.results)") }
            } else if mine.kind != theirs.kind {
                return (true, "\(vector.path): a \(mine.kind) refusal, not \(theirs.kind)")
            }
        } else if case .present = vector.response.signature {
            guard written.verifySignature(keys: keys) == .valid else { return (true, "\(vector.path): our signature does not verify") }
            var ours = written
            ours.signature = vector.response.signature
            if ours.encode() != vector.response.encode() {
                return (true, "\(vector.path): differs (signature aside)\n  ours   \(Hex.encode(ours.encode(), uppercase: true))\n  theirs \(Hex.encode(vector.response.encode(), uppercase: true))")
            }
        } else if let reason = beyondMMC[(vector.path as NSString).lastPathComponent] {
            // Same header; the content reads to the same element (checked below).
            var ours = written
            ours.content = vector.response.content
            ours.macHeader = vector.response.macHeader
            if ours != vector.response { return (true, "\(vector.path) (\(reason)): the header differs") }
        } else if written.encode() != vector.response.encode() {
            return (true, "\(vector.path): differs\n  ours   \(Hex.encode(written.encode(), uppercase: true))\n  theirs \(Hex.encode(vector.response.encode(), uppercase: true))")
        }
        // And Parse and Correlate reads ours back to the same element.
        let reread = try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(written.encode()), keys: keys), srv: srv)
        if reread != body { return (true, "\(vector.path): read back as \(String(describing: reread)), not \(body)") }
        return (true, nil)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyEncodedAnswerIsTheVector() throws {
        let keys = try Self.keys
        var checked = 0
        var problems: [String] = []
        var covered = Set<String>()
        for vector in try Self.vectors() {
            let (didCheck, problem) = try Self.check(vector, keys: keys)
            if didCheck {
                checked += 1
                if let name = UseCases.byCode[vector.response.messageCode]?.name { covered.insert(name) }
            }
            if let problem { problems.append(problem) }
        }
        let uncovered = Set(GBCSAnswers.encoders.keys).subtracting(covered).sorted()
        var missing = Set<String>()
        for vector in try Self.vectors() {
            if let useCase = UseCases.byCode[vector.response.messageCode], GBCSAnswers.encoders[useCase.name] == nil { missing.insert(useCase.name) }
        }
        print("GBCS answers: RTDS use cases with no encoder yet: \(missing.sorted())")
        print("GBCS answers: \(checked) RTDS responses of \(covered.count) use cases written again; encoders with no vector: \(uncovered)")
        #expect(checked >= 10)
        #expect(problems.isEmpty, "\(problems.count):\n\(problems.prefix(12).joined(separator: "\n"))")
    }
}

/// An unknown remote party's read (ECS21b URP): the command carries the KA certificate of
/// the party the data is for, and the device encrypts for that certificate's key, whoever
/// the key store would name: the requester cannot open what another party asked for.
@Suite struct UnknownRemotePartyAnswerTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func theDataIsForTheCertificatesHolder() throws {
        let keys = try GBCSAnswerRoundTripTests.keys
        let vector = try #require(try GBCSAnswerRoundTripTests.vectors().first { $0.path.hasSuffix("ECS21b_4.14_URP_SUCCESS_RESPONSE_GBCS.HEX") })
        let command = try #require(vector.command)
        guard case .remotePartyAndKACertificate(let id, let counter, _) = command.supplement else {
            Issue.record("the URP command carries a KA certificate: \(command.supplement)")
            return
        }
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        let message = try ParsedMessage(frame: vector.response, keys: keys.rtds)
        let body = try #require(try MMCMapping.body(for: message, srv: "4.14"))
        // The network operator's KA certificate in place of the supplier's; the device's KA
        // key made up here (the RTDS set lacks the devices' private keys).
        let root = try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore")
        let other = try SMKICertificate(pem: try String(contentsOf: root.appendingPathComponent("90b3d51f30020000-ka.pem"), encoding: .utf8))
        let device = OneDevice(vector.response.originator, rtds: keys.rtds)
        var context = GBCSAnswerRoundTripTests.context(vector, useCase: useCase, srv: "4.14", body: body)
        context.commandSupplement = .remotePartyAndKACertificate(id: id, counter: counter, certificate: other.der)
        context.blockKey = nil
        let written = try GBCSAnswerWriter(keys: device).frame(body, context: context)
        let block = try #require(written.encryptedBlocks(key: nil).first?.block)
        func key(_ holder: EUI64) throws -> SymmetricKey {
            let privateKey = try #require(keys.rtds.keyAgreementKey(of: holder))
            return try GBCSCrypto.deriveKey(privateKey: privateKey, publicKey: device.key.publicKey, originator: written.originator, usage: 0x04,
                                            counter: written.supplement.originatorCounter ?? written.originatorCounter, recipient: id)
        }
        #expect(written.decryptBlock(block, key: try key(EUI64(0x90B3_D51F_3002_0000))) != nil, "the certificate's holder opens it")
        #expect(written.decryptBlock(block, key: try key(id)) == nil, "the requester does not")
    }

    /// One device with a KA key of its own; everyone else's public keys from the RTDS set.
    final class OneDevice: GBCSKeyStore, @unchecked Sendable {
        let eui: EUI64
        let key = P256.KeyAgreement.PrivateKey()
        let rtds: RTDSKeyStore
        init(_ eui: EUI64, rtds: RTDSKeyStore) {
            self.eui = eui
            self.rtds = rtds
        }
        func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
            party == eui ? (usage == .keyAgreement ? try? P256.Signing.PublicKey(rawRepresentation: key.publicKey.rawRepresentation) : nil)
                : rtds.publicKey(of: party, usage: usage)
        }
        func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { nil }
        func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { party == eui ? key : nil }
        func isDevice(_ party: EUI64) -> Bool { party == eui || rtds.isDevice(party) }
    }
}
