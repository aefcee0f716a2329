import DUIS
import Foundation
import GBCS
import Testing
import TestSupport

/// `GBCSMessageDescription` (what `gbsm gbcs encode` reads) against DCC's Reference Test
/// Data Set: each vector described in JSON (its signature kept) and built again with the
/// RTDS keys comes back byte for byte, its MAC made afresh; and every one a remote party
/// signed, signed afresh (ECDSA signatures are randomised), has the same octets but its
/// signature and MAC, and both verify.
@Suite struct EncodeTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyVectorIsBuiltAgainFromItsDescription() throws {
        let keys = RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore"))
        var identical = 0, resigned = 0, noKey = 0
        var failures: [String] = []
        for (expected, bytes) in try FrameTests.vectors() {
            let original = try GBCSFrame.decode(bytes)
            let json = try JSONEncoder().encode(GBCSMessageDescription(original))
            let description = try JSONDecoder().decode(GBCSMessageDescription.self, from: json)
            let rebuilt: GBCSFrame
            do {
                rebuilt = try description.frame(keys: keys)
            } catch {
                if expected.mac == "no-key" { noKey += 1 } else { failures.append("\(expected.file): \(error)") }
                continue
            }
            if rebuilt.encode() == bytes {
                identical += 1
            } else {
                failures.append("\(expected.file): rebuilt, it is not the same octets")
            }
            guard case .present = original.signature, keys.signingKey(of: original.originator) != nil else { continue }
            var fresh = description
            fresh.signature = "sign"
            let signed = try fresh.frame(keys: keys)
            var a = signed, b = original
            a.signature = .empty
            b.signature = .empty
            a.macHeader = nil
            b.macHeader = nil
            if a != b { failures.append("\(expected.file): signed afresh, it differs beyond its signature and MAC") }
            if signed.verifySignature(keys: keys) != .valid { failures.append("\(expected.file): the new signature does not verify") }
            if signed.macHeader != nil, signed.verifyMAC(keys: keys) != .valid { failures.append("\(expected.file): the new MAC does not verify") }
            resigned += 1
        }
        // Two of the four PCS vectors are MAC'd with device keys the set lacks.
        #expect(noKey == 2 && identical == 902 && resigned >= 100, "\(identical) identical, \(resigned) signed afresh, \(noKey) without keys")
        #expect(failures.isEmpty, "\(failures.count):\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    @Test func hostileDescriptionsAreRefused() throws {
        let keys = GBCSMemoryKeyStore()
        func attempt(_ change: (inout GBCSMessageDescription) -> Void) -> Bool {
            var description = GBCSMessageDescription(frame: "general-signing", cra: "response", message_code: "0027", originator: "00DB1234567890A0",
                                                     recipient: "90B3D51F30010000", originator_counter: 1, content: "DA", signature: "empty")
            change(&description)
            return (try? description.frame(keys: keys)) != nil
        }
        #expect(attempt { _ in })
        #expect(!attempt { $0.cra = "request" })
        #expect(!attempt { $0.message_code = "027" })
        #expect(!attempt { $0.originator = "not an EUI" })
        #expect(!attempt { $0.content = "XY" })
        #expect(!attempt { $0.date_time = "00" })
        #expect(!attempt { $0.supplementary_remote_party_id = "90B3D51F30010000" })
        #expect(!attempt { $0.supplementary_originator_counter = 1 })
        #expect(!attempt { $0.signature = "sign" }, "no key to sign with")
        #expect(!attempt { $0.frame = "general-ciphering" }, "no key to MAC with")
        #expect(!attempt { $0.frame = "general-ciphering"; $0.signature = "absent" })
        #expect(!attempt { $0.signature = "00" })
        #expect(attempt { $0.signature = String(repeating: "AB", count: 64) })
    }
}
