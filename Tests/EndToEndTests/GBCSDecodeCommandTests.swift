import DUIS
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

/// `gbsm gbcs sign`: every pre-command of the Reference Test Data Set signed by its user
/// with the RTDS keystore, and one with DCC Boxed's ZAZ1 keystore, verifies; a signer that
/// is not the originator, and a message that is not a pre-command, are refused.
@Suite struct GBCSSignCommandTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func preCommandsSignedByTheirUsersVerify() throws {
        let binary = try #require(GBSMBinary.url, "the gbsm executable")
        let rtds = try #require(Reference.directory).appendingPathComponent("gbcs/rtds")
        let keystore = rtds.appendingPathComponent("keystore").path
        let directory = try TemporaryDirectory("gbsm-sign")
        let precommands = try FileManager.default.subpathsOfDirectory(atPath: rtds.appendingPathComponent("RTDS-4.5.0").path)
            .filter { $0.hasSuffix("_PRECOMMAND_GBCS.HEX") }.sorted()
        #expect(precommands.count >= 20)
        var signedFiles: [String] = []
        for (index, name) in precommands.enumerated() {
            let path = rtds.appendingPathComponent("RTDS-4.5.0").appendingPathComponent(name).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            // The originator: octets 3 to 10 of the grouping header's system titles.
            let originator = String(text.dropFirst(2 + 2 + 18 + 2).prefix(16))
            let result = try Tool.run(binary.path, ["gbcs", "sign", path, "--keystore", keystore, "--signer", originator])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let out = directory.url.appendingPathComponent("\(index).HEX")
            try result.stdout.write(to: out, atomically: true, encoding: .utf8)
            signedFiles.append(out.path)
        }
        let decoded = try Tool.run(binary.path, ["gbcs", "decode"] + signedFiles + ["--keystore", keystore, "--json"])
        #expect(decoded.status == 0, "\(decoded.stderr)")
        let verdicts = try decoded.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["signature"] as? String
        }
        #expect(verdicts.count == precommands.count && verdicts.allSatisfy { $0 == "valid" }, "\(verdicts)")

        // DCC Boxed's keystore: the supplier's Z1 DS key, base64 for a DUIS GBCSPayload.
        let zaz1 = try #require(Reference.directory).appendingPathComponent("smki/zaz1-keystore.json").path
        let supplierPrecommand = try #require(precommands.first { name in
            (try? String(contentsOfFile: rtds.appendingPathComponent("RTDS-4.5.0").appendingPathComponent(name).path, encoding: .utf8))?
                .dropFirst(24).hasPrefix("90B3D51F30010000") ?? false
        })
        let path = rtds.appendingPathComponent("RTDS-4.5.0").appendingPathComponent(supplierPrecommand).path
        let signed = try Tool.run(binary.path, ["gbcs", "sign", path, "--keystore", zaz1, "--signer", "90-B3-D5-1F-30-01-00-00", "--format", "base64"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let out = directory.url.appendingPathComponent("zaz1.b64")
        try signed.stdout.write(to: out, atomically: true, encoding: .utf8)
        let check = try Tool.run(binary.path, ["gbcs", "decode", out.path, "--keystore", zaz1, "--json"])
        #expect(check.stdout.contains("\"signature\":\"valid\""), "\(check.stdout)")

        // Refusals: the wrong signer, and a command that is already signed and MAC'd.
        let wrong = try Tool.run(binary.path, ["gbcs", "sign", path, "--keystore", keystore, "--signer", "90B3D51F30020000"])
        #expect(wrong.status != 0 && wrong.stderr.contains("only it may sign"))
        let command = path.replacingOccurrences(of: "_PRECOMMAND_", with: "_COMMAND_")
        let already = try Tool.run(binary.path, ["gbcs", "sign", command, "--keystore", keystore, "--signer", "90B3D51F30010000"])
        #expect(already.status != 0 && already.stderr.contains("not a pre-command"))
    }
}

/// `gbsm gbcs parse` and `gbsm gbcs encode` through the binary: a mapped answer becomes MMC
/// XML that MMC 5.4 accepts; a tampered one is refused with nothing printed; a command
/// described in JSON is built to the reference's octets.
@Suite struct GBCSParseAndEncodeCommandTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func parseAndEncodeThroughTheBinary() throws {
        let binary = try #require(GBSMBinary.url, "the gbsm executable")
        let rtds = try #require(Reference.directory).appendingPathComponent("gbcs/rtds")
        let keystore = rtds.appendingPathComponent("keystore").path
        let folder = rtds.appendingPathComponent("RTDS-4.5.0")
        let response = folder.appendingPathComponent("4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX").path
        let parsed = try Tool.run(binary.path, ["gbcs", "parse", response, "--keystore", keystore])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        #expect(parsed.stdout.contains("<ra:ReadInstantaneousImportRegistersRsp><ra:Electricity><ra:ActiveImportRegister><ra:Value>10</ra:Value>"))
        #expect(SchemaCheck.mmcProblems(in: Array(parsed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).utf8)).isEmpty)

        // One flipped octet in the encrypted block: refused, nothing on standard output.
        let directory = try TemporaryDirectory("gbsm-parse")
        var text = Array(try String(contentsOfFile: response, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        let index = text.count - 40
        text[index] = text[index] == "0" ? "1" : "0"
        let tampered = directory.url.appendingPathComponent("tampered.HEX")
        try String(text).write(to: tampered, atomically: true, encoding: .utf8)
        let refused = try Tool.run(binary.path, ["gbcs", "parse", tampered.path, "--keystore", keystore])
        #expect(refused.status == 1 && refused.stdout.isEmpty, "\(refused.stdout)")
        #expect(refused.stderr.contains("MAC is invalid"), "\(refused.stderr)")

        // The same command described in JSON: MAC'd by the access control broker's key.
        let command = folder.appendingPathComponent("4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_COMMAND_GBCS.HEX").path
        let reference = try String(contentsOfFile: command, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let decoded = try Tool.run(binary.path, ["gbcs", "decode", command, "--keystore", keystore, "--json"])
        var fields = try #require(try JSONSerialization.jsonObject(with: Data(decoded.stdout.utf8)) as? [String: Any])
        // The content: the reference's octets after the header the decoder reports.
        let payloadLength = try #require(fields["payload_len"] as? Int)
        let octets = try #require(Hex.decode(reference))
        let contentEnd = octets.count - 12 - 1  // MAC tag, empty signature's length octet
        fields["content"] = Hex.encode(Array(octets[(contentEnd - payloadLength)..<contentEnd]))
        fields["signature"] = "empty"
        for key in ["file", "payload_len", "mac", "mac_tag", "encrypted_blocks"] { fields[key] = nil }
        let json = directory.url.appendingPathComponent("command.json")
        try JSONSerialization.data(withJSONObject: fields).write(to: json)
        let encoded = try Tool.run(binary.path, ["gbcs", "encode", json.path, "--keystore", keystore])
        #expect(encoded.status == 0, "\(encoded.stderr)")
        #expect(encoded.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == reference)
    }
}
