import DUIS
import Foundation
import GBCS
import Crypto
import SMKI
import Testing
import TestSupport

/// GBCS frames against DCC's Reference Test Data Set: every vector's header decodes to
/// what `expected-frames.jsonl` says a correct decoder finds, and re-encodes byte-exact.
@Suite struct FrameTests {
    struct Expected: Decodable {
        let file: String
        let frame: String
        let cra: String
        let message_code: String
        let originator: String
        let recipient: String
        let originator_counter: UInt64
        let date_time: String?
        let supplementary_remote_party_id: String?
        let supplementary_remote_party_counter: UInt64?
        let supplementary_originator_counter: UInt64?
        let supplementary_ka_certificate_len: Int?
        let payload_len: Int
        let signature: String
        let mac: String
        let mac_tag: String?
        let encrypted_blocks: [Block]

        struct Block: Decodable {
            let kind: String
            let status: String
            let plaintext_len: Int
            let plaintext_sha256: String
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    static func vectors() throws -> [(Expected, [UInt8])] {
        let gbcs = try #require(Reference.directory).appendingPathComponent("gbcs")
        let lines = try String(contentsOf: gbcs.appendingPathComponent("expected-frames.jsonl"), encoding: .utf8).split(separator: "\n")
        return try lines.map { line in
            let expected = try JSONDecoder().decode(Expected.self, from: Data(line.utf8))
            let text = try String(contentsOf: gbcs.appendingPathComponent("rtds").appendingPathComponent(expected.file), encoding: .utf8)
            return (expected, try #require(Hex.decode(text), "\(expected.file) is not hex"))
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyReferenceVectorDecodesAsExpectedAndReencodesExactly() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count == 904)
        var disagreements: [String] = []
        for (expected, bytes) in vectors {
            let frame: GBCSFrame
            do {
                frame = try GBCSFrame.decode(bytes)
            } catch {
                disagreements.append("\(expected.file): \(error)")
                continue
            }
            var found: [String] = []
            func check(_ name: String, _ mine: String?, _ theirs: String?) { if mine != theirs { found.append("\(name) \(mine ?? "nil") ≠ \(theirs ?? "nil")") } }
            check("frame", frame.macHeader == nil ? "general-signing" : "general-ciphering", expected.frame)
            check("cra", frame.cra.name, expected.cra)
            check("message_code", String(format: "%04X", frame.messageCode), expected.message_code)
            check("originator", String(format: "%016llx", frame.originator.rawValue), expected.originator)
            check("recipient", String(format: "%016llx", frame.recipient.rawValue), expected.recipient)
            check("originator_counter", String(frame.originatorCounter), String(expected.originator_counter))
            check("date_time", frame.dateTime.map(Self.hex), expected.date_time)
            check("supplementary_remote_party_id", frame.supplement.remotePartyID.map { String(format: "%016llx", $0.rawValue) }, expected.supplementary_remote_party_id)
            check("supplementary_remote_party_counter", frame.supplement.remotePartyCounter.map { String($0) }, expected.supplementary_remote_party_counter.map { String($0) })
            check("supplementary_originator_counter", frame.supplement.originatorCounter.map { String($0) }, expected.supplementary_originator_counter.map { String($0) })
            check("supplementary_ka_certificate_len", frame.supplement.kaCertificate.map { String($0.count) }, expected.supplementary_ka_certificate_len.map { String($0) })
            check("payload_len", String(frame.content.count), String(expected.payload_len))
            let signature: String
            switch frame.signature {
            case .absent: signature = "absent"
            case .empty: signature = "empty"
            case .present: signature = expected.signature == "invalid" || expected.signature == "no-key" ? expected.signature : "valid"
            }
            check("signature", signature, expected.signature)
            check("mac_tag", frame.macHeader.map { Self.hex($0.tag) }, expected.mac_tag)
            if frame.macHeader == nil { check("mac", "none", expected.mac) }
            if frame.encode() != bytes { found.append("does not re-encode byte-exact") }
            if !found.isEmpty { disagreements.append("\(expected.file): \(found.joined(separator: "; "))") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) vectors disagree:\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }

    /// Hostile bytes: every truncation of a vector and every length octet pushed up is a
    /// typed error, never a trap or an allocation beyond the message.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func truncatedAndCorruptedFramesAreTypedErrors() throws {
        let vectors = try Self.vectors()
        let sample = vectors.filter { $0.1.count < 600 }.prefix(40)
        for (expected, bytes) in sample {
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 64)) {
                // A signed grouping header cut just before its signature is a pre-command:
                // the one prefix that is itself a message.
                let prefix = Array(bytes[0..<cut])
                if let frame = try? GBCSFrame.decode(prefix) {
                    #expect(frame.signature == .absent && frame.encode() == prefix, "\(expected.file) cut at \(cut)")
                }
            }
            for cut in [1, 5, 12, 30] where cut < bytes.count {
                #expect(throws: GBCSError.self, "\(expected.file) cut at \(cut)") { _ = try GBCSFrame.decode(Array(bytes[0..<cut])) }
            }
            for index in 0..<min(bytes.count, 80) {
                var corrupted = bytes
                corrupted[index] ^= 0xFF
                // Either a typed error or a frame that encodes back to exactly those bytes.
                if let frame = try? GBCSFrame.decode(corrupted) { #expect(frame.encode() == corrupted, "\(expected.file) byte \(index)") }
            }
        }
        #expect(throws: GBCSError.self) { _ = try GBCSFrame.decode([0xDD, 0, 0, 0, 0, 0, 0, 0x84, 0x7F, 0xFF, 0xFF, 0xFF]) }
        #expect(throws: GBCSError.self) { _ = try GBCSFrame.decode([0xDF, 0x09, 0x01] + [UInt8](repeating: 0, count: 8) + [0x08]) }
    }

    /// Signatures: ECDSA P-256 over the grouping header after its tag, by the originator's
    /// DS key. Every vector's verdict is the expected one, and one flipped octet of a signed
    /// vector's signed bytes makes it invalid.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func signatureVerdictsAgreeAndAFlippedOctetIsCaught() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        var disagreements: [String] = []
        var checked = 0
        for (expected, bytes) in try Self.vectors() {
            let frame = try GBCSFrame.decode(bytes)
            let verdict = frame.verifySignature(keys: keys)
            if verdict.rawValue != expected.signature { disagreements.append("\(expected.file): \(verdict.rawValue) ≠ \(expected.signature)") }
            guard verdict == .valid else { continue }
            checked += 1
            var tampered = frame
            tampered.content[tampered.content.count / 2] ^= 0x01
            if tampered.verifySignature(keys: keys) != .invalid { disagreements.append("\(expected.file): a flipped content octet still verifies") }
            var counter = frame
            counter.originatorCounter += 1
            if counter.verifySignature(keys: keys) != .invalid { disagreements.append("\(expected.file): a changed counter still verifies") }
        }
        #expect(checked > 300, "\(checked) signed vectors")
        #expect(disagreements.isEmpty, "\(disagreements.count):\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }

    /// A pre-command signed with its user's key verifies as the signed command does.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aPreCommandSignedByItsUserVerifies() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        let (_, bytes) = try #require(try Self.vectors().first { $0.0.file.hasSuffix("ECS01a_1.1.1_IMMEDIATE_BLOCK_SUCCESS_PRECOMMAND_GBCS.HEX") })
        let precommand = try GBCSFrame.decode(bytes)
        #expect(precommand.signature == .absent)
        let key = try #require(keys.signingKey(of: precommand.originator))
        let signed = try precommand.signed(with: key)
        #expect(signed.verifySignature(keys: keys) == .valid)
        #expect(try GBCSFrame.decode(signed.encode()) == signed)
    }

    /// MACs: the key agreed between the access control broker (commands) or the recipient
    /// (answers, alerts) and the device, the GBCS KDF, AES-128-GCM with a 12-octet tag. Every
    /// verdict is the expected one; one flipped octet anywhere in a MAC'd message is caught;
    /// a message MAC'd again with its key carries its original tag.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func macVerdictsAgreeAndAFlippedOctetIsCaught() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        var disagreements: [String] = []
        var valid = 0
        for (expected, bytes) in try Self.vectors() {
            let frame = try GBCSFrame.decode(bytes)
            let verdict = frame.verifyMAC(keys: keys)
            if verdict.rawValue != expected.mac { disagreements.append("\(expected.file): \(verdict.rawValue) ≠ \(expected.mac)") }
            guard verdict == .valid, let key = frame.macKey(keys: keys) else { continue }
            valid += 1
            var stripped = frame
            stripped.macHeader = nil
            if try stripped.maced(with: key) != frame { disagreements.append("\(expected.file): MAC'd again, the tag differs") }
            // One flipped octet (spread across the message) is a failed MAC or no message.
            for index in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 12)) {
                var flipped = bytes
                flipped[index] ^= 0x01
                if let corrupted = try? GBCSFrame.decode(flipped), corrupted.verifyMAC(keys: keys) == .valid {
                    disagreements.append("\(expected.file): octet \(index) flipped still verifies")
                }
            }
        }
        #expect(valid == 560, "\(valid) MAC'd vectors verified")
        #expect(disagreements.isEmpty, "\(disagreements.count):\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }

    /// Encrypted payload blocks (sensitive reads and alerts), decrypted with the key of the
    /// party the data is for: each plaintext is what the reference found (length and
    /// SHA-256), and a flipped tag octet fails.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func encryptedBlocksDecryptToWhatTheReferenceFound() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        var disagreements: [String] = []
        var blocks = 0
        for (expected, bytes) in try Self.vectors() where !expected.encrypted_blocks.isEmpty {
            let frame = try GBCSFrame.decode(bytes)
            guard let key = frame.blockKey(keys: keys) else {
                disagreements.append("\(expected.file): no key")
                continue
            }
            let blocksFound = frame.encryptedBlocks(key: key)
            let found = blocksFound.compactMap(\.plaintext)
            if found.count != blocksFound.count { disagreements.append("\(expected.file): a block did not decrypt") }
            // Flipped octets: a block they fall in fails its tag, and a block they miss
            // decrypts as before; never to something else.
            for index in stride(from: 0, to: frame.content.count, by: max(1, frame.content.count / 16)) {
                var flipped = frame
                flipped.content[index] ^= 0x01
                let after = flipped.encryptedBlocks(key: key).compactMap(\.plaintext)
                if after.contains(where: { !found.contains($0) }) { disagreements.append("\(expected.file): octet \(index) flipped gives other plaintext") }
                if after.count > found.count { disagreements.append("\(expected.file): octet \(index) flipped gives more blocks") }
            }
            let mine = found.map { "\($0.count) \(Self.hex(Array(SHA256.hash(data: $0))))" }
            let theirs = expected.encrypted_blocks.map { "\($0.plaintext_len) \($0.plaintext_sha256)" }
            if mine != theirs { disagreements.append("\(expected.file): \(mine) ≠ \(theirs)") }
            blocks += found.count
        }
        #expect(blocks >= 34, "\(blocks) blocks decrypted")
        #expect(disagreements.isEmpty, "\(disagreements.count):\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }
}
