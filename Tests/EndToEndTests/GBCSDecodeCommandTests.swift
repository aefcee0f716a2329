import Foundation
import Testing
import TestSupport

/// `gbsm gbcs decode --json` over DCC's Reference Test Data Set: one line per vector, with
/// exactly the fields `expected-frames.jsonl` has (header, signature and MAC verdicts,
/// encrypted blocks), and every value what a correct decoder finds.
@Suite struct GBCSDecodeCommandTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func decodeAgreesWithEveryReferenceVector() throws {
        let binary = try #require(GBSMBinary.url, "the gbsm executable")
        let rtds = try #require(Reference.directory).appendingPathComponent("gbcs/rtds")
        let result = try Tool.run(binary.path, ["gbcs", "decode", rtds.appendingPathComponent("RTDS-4.5.0").path,
                                                "--keystore", rtds.appendingPathComponent("keystore").path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        var expected: [String: [String: Any]] = [:]
        for line in try String(contentsOf: rtds.deletingLastPathComponent().appendingPathComponent("expected-frames.jsonl"), encoding: .utf8).split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            expected[try #require(object["file"] as? String)] = object
        }
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == expected.count)
        var disagreements: [String] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let path = try #require(object["file"] as? String)
            let relative = String(path.dropFirst(rtds.path.count + 1))
            guard let reference = expected[relative] else {
                disagreements.append("\(relative): not a reference vector")
                continue
            }
            let keys = Set(reference.keys).subtracting(["file", "file_kind", "roundtrip_exact"])
            if Set(object.keys).subtracting(["file"]) != keys { disagreements.append("\(relative): fields \(object.keys.sorted())") }
            for key in keys {
                let mine = try JSONSerialization.data(withJSONObject: [object[key] ?? NSNull()], options: [.sortedKeys])
                let theirs = try JSONSerialization.data(withJSONObject: [reference[key] ?? NSNull()], options: [.sortedKeys])
                if mine != theirs { disagreements.append("\(relative): \(key) \(String(decoding: mine, as: UTF8.self)) ≠ \(String(decoding: theirs, as: UTF8.self))") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count):\n\(disagreements.prefix(20).joined(separator: "\n"))")
    }
}
