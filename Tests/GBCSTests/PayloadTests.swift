import Crypto
import DUIS
import Foundation
import GBCS
import Testing
import TestSupport

/// GBCS payloads (DLMS COSEM, GBZ, DER) against DCC's Reference Test Data Set: every
/// vector's content decodes to a typed tree and encodes back to exactly its octets, and
/// so does the plaintext of every encrypted block.
@Suite struct PayloadTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyReferencePayloadDecodesAndReencodesExactly() throws {
        var failures: [String] = []
        var kinds: [String: Int] = [:]
        for (expected, bytes) in try FrameTests.vectors() {
            var frame = try GBCSFrame.decode(bytes)
            do {
                let payload = try GBCSPayload.decode(frame.content, cra: frame.cra)
                kinds[payload.kind, default: 0] += 1
                let again = payload.encode()
                if again != frame.content {
                    failures.append("\(expected.file): re-encodes to \(again.count) octets, not the \(frame.content.count) read")
                    continue
                }
                // The whole message from its decoded frame and payload.
                frame.content = payload.encode()
                if frame.encode() != bytes { failures.append("\(expected.file): the message does not re-encode") }
            } catch {
                failures.append("\(expected.file): \(error)")
            }
        }
        #expect(kinds["dlms", default: 0] == 629 && kinds["gbz", default: 0] == 149 && kinds["asn1", default: 0] == 126, "\(kinds)")
        #expect(failures.isEmpty, "\(failures.count):\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    /// The plaintext of an encrypted block is a DLMS value (DLMS) or a ZCL payload (GBZ),
    /// and a DLMS one re-encodes exactly.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func decryptedDLMSBlocksAreDLMSValues() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        var checked = 0
        var failures: [String] = []
        for (expected, bytes) in try FrameTests.vectors() where !expected.encrypted_blocks.isEmpty {
            let frame = try GBCSFrame.decode(bytes)
            for block in frame.encryptedBlocks(key: frame.blockKey(keys: keys)) where block.kind == "dlms" {
                guard let plaintext = block.plaintext else {
                    failures.append("\(expected.file): not decrypted")
                    continue
                }
                do {
                    let value = try DLMSData.decode(plaintext)
                    if value.encoded() != plaintext { failures.append("\(expected.file): plaintext does not re-encode") }
                    checked += 1
                } catch {
                    failures.append("\(expected.file): \(error)")
                }
            }
        }
        #expect(checked >= 18, "\(checked) DLMS blocks")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// Every prefix of every reference payload is refused with a typed error or decodes to
    /// something that re-encodes to that prefix (a truncation never crashes or reads past
    /// the end), and hostile counts are refused before anything is reserved.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func truncatedPayloadsAreTypedErrors() throws {
        var accepted = 0
        for (_, bytes) in try FrameTests.vectors().prefix(300) {
            let frame = try GBCSFrame.decode(bytes)
            for length in stride(from: 0, to: frame.content.count, by: max(1, frame.content.count / 40)) {
                let prefix = Array(frame.content.prefix(length))
                if let payload = try? GBCSPayload.decode(prefix, cra: frame.cra) {
                    #expect(payload.encode() == prefix)
                    accepted += 1
                }
            }
        }
        // An array that claims 2^31 elements in a 9-octet message.
        let hostile: [UInt8] = [0xDA, 0, 0, 0, 1, 0, 0, 1, 0x01, 0x84, 0x7F, 0xFF, 0xFF, 0xFF]
        #expect(throws: GBCSError.self) { try GBCSPayload.decode(hostile, cra: .response) }
        // Structures nested past the bound.
        let deep: [UInt8] = [0x0F, 0, 0, 0, 1, 0] + [UInt8](repeating: 0, count: 0).flatMap { [$0] } + Array([[UInt8]](repeating: [0x02, 0x01], count: 100).joined()) + [0x00]
        #expect(throws: GBCSError.self) { try GBCSPayload.decode(deep, cra: .alert) }
        // A compact array whose element type takes no octets.
        let empty: [UInt8] = [0x0F, 0, 0, 0, 1, 0, 0x13, 0x02, 0x00, 0x02, 0xAA, 0xBB]
        #expect(throws: GBCSError.self) { try GBCSPayload.decode(empty, cra: .alert) }
        _ = accepted
    }
}
