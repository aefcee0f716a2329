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

/// What an attacker's review found, each kept fixed.
@Suite struct HostilePayloadTests {
    /// A compact array's type may not hold members of no octets: `structure{null × K,
    /// unsigned}` would unfold K·L values from K+L octets.
    @Test func compactArrayTypesOfNoOctetsAreRefused() {
        for member: UInt8 in [0x00, 0xFF] {
            var bytes: [UInt8] = [0x0F, 0, 0, 0, 1, 0, 0x13, 0x02, 0x82, 0x03, 0xE9]
            bytes += [UInt8](repeating: member, count: 1000) + [0x11]
            bytes += [0x82, 0x4E, 0x20] + [UInt8](repeating: 7, count: 20_000)
            #expect(throws: GBCSError.self) { try GBCSPayload.decode(bytes, cra: .alert) }
        }
        // An empty array or structure in the type.
        #expect(throws: GBCSError.self) { try DLMSData.decode([0x13, 0x01, 0x00, 0x00, 0x11, 0x02, 0x01, 0x02]) }
        #expect(throws: GBCSError.self) { try DLMSData.decode([0x13, 0x02, 0x00, 0x02, 0x01, 0x02]) }
        // A well-formed compact array still decodes and re-encodes exactly.
        let good: [UInt8] = [0x13, 0x02, 0x02, 0x06, 0x12, 0x0C] + [0, 0, 0, 1, 0, 2, 0, 0, 0, 3, 0, 4]
        #expect((try? DLMSData.decode(good))?.encoded() == good)
    }

    /// A one-character string of 0xFF and ZCL's invalid string are not the same value.
    @Test func zclInvalidStringsRoundTrip() throws {
        for payload: [UInt8] in [[0x05, 0x00, 0x00, 0x42, 0x01, 0xFF], [0x05, 0x00, 0x00, 0x42, 0xFF]] {
            let records = try ZCLAttributeRecord.decodeReadAttributesResponse(payload)
            #expect(ZCLAttributeRecord.encodeReadAttributesResponse(records) == payload)
        }
    }

    /// Dates that are not dates, and times that are not UTC, are not read as instants.
    @Test func dateTimesAreRealUTCDates() {
        func stamp(_ year: Int, _ month: UInt8, _ day: UInt8, deviation: (UInt8, UInt8) = (0x80, 0x00)) -> DLMSDateTime? {
            DLMSDateTime([UInt8(year >> 8), UInt8(year & 0xFF), month, day, 0xFF, 12, 0, 0, 0, deviation.0, deviation.1, 0])
        }
        #expect(stamp(2024, 2, 29)?.unixTime == 1_709_208_000)
        #expect(stamp(2023, 2, 29)?.unixTime == nil)
        #expect(stamp(2024, 2, 31)?.unixTime == nil)
        #expect(stamp(2024, 6, 1, deviation: (0xFF, 0xC4))?.unixTime == nil, "60 minutes from UTC is not UTC")
        #expect(stamp(1900, 1, 1)?.unixTime == nil)
    }

    /// Device text printed in the tree cannot carry terminal escapes.
    @Test func outlinesEscapeControlCharacters() throws {
        let hostile = GBCSPayload.dlms(.accessResponse(.init(invokeID: 1, data: [.visibleString(Array("\u{1B}[2Jowned".utf8))], results: [.get(result: 0)])))
        let outline = hostile.outline()
        #expect(!outline.contains("\u{1B}") && outline.contains("\\u{1b}[2Jowned"))
    }
}
