import ArgumentParser
import Crypto
import DUIS
import Foundation
import GBCS

struct GBCSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gbcs",
        abstract: "GBCS messages: decode and check frames (the start of DCC's Parse and Correlate).",
        subcommands: [GBCSDecode.self])
}

struct GBCSDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode GBCS messages and check their signatures, MACs and encrypted blocks.",
        discussion: "Each FILE holds one message in hex (as DCC's Reference Test Data Set has them) or raw bytes; a DIR is walked for *.HEX files. Keys come from a folder in the RTDS keystore layout (<eui>-ds.pem, -ka.pem, -ds.key, -ka.key). Exits 1 when any message fails to decode or a check fails.")

    @Argument(help: "Files or folders.")
    var paths: [String]

    @Option(help: "A folder of keys in the RTDS keystore layout.")
    var keystore: String

    @Flag(help: "One JSON object a line: the header, the verdicts and the encrypted blocks.")
    var json = false

    func run() throws {
        let keys = RTDSKeyStore(directory: URL(fileURLWithPath: keystore))
        var failed = false
        for path in paths {
            for file in try Self.files(path) {
                let line = Self.describe(file: file, keys: keys, json: json)
                print(line.text)
                failed = failed || line.failed
            }
        }
        if failed { throw ExitCode(1) }
    }

    static func files(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("\(path) does not exist") }
        guard isDirectory.boolValue else { return [path] }
        let root = URL(fileURLWithPath: path)
        let enumerator = FileManager.default.enumerator(atPath: path)
        var files: [String] = []
        while let name = enumerator?.nextObject() as? String {
            if name.uppercased().hasSuffix(".HEX") { files.append(root.appendingPathComponent(name).relativePath) }
        }
        return files.sorted()
    }

    /// The bytes of a file: its hex digits when it is hex text, else the raw bytes.
    static func bytes(_ data: Data) -> [UInt8] {
        guard !data.isEmpty, let decoded = Hex.decode(String(decoding: data, as: UTF8.self)), !decoded.isEmpty else { return Array(data) }
        return decoded
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    static func describe(file: String, keys: RTDSKeyStore, json: Bool) -> (text: String, failed: Bool) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            return (json ? jsonLine(["file": file, "error": "\(error)"]) : "\(file): \(error)", true)
        }
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes(data))
        } catch {
            return (json ? jsonLine(["file": file, "error": "\(error)"]) : "\(file): not a GBCS message: \(error)", true)
        }
        let signature = frame.verifySignature(keys: keys)
        let mac = frame.verifyMAC(keys: keys)
        var blocks: [[String: Any]] = []
        if let key = frame.blockKey(keys: keys) {
            blocks = frame.decryptedBlocks(key: key).map {
                ["kind": frame.content.first == 0x01 ? "gbz" : "dlms", "status": "decrypted", "plaintext_len": $0.count,
                 "plaintext_sha256": hex(Array(SHA256.hash(data: $0)))]
            }
        }
        let failed = signature == .invalid || mac == .invalid
        let euiHex = { (eui: EUI64) in String(format: "%016llx", eui.rawValue) }
        let object: [String: Any] = [
            "file": file,
            "frame": frame.macHeader == nil ? "general-signing" : "general-ciphering",
            "cra": frame.cra.name,
            "message_code": String(format: "%04X", frame.messageCode),
            "originator": euiHex(frame.originator),
            "recipient": euiHex(frame.recipient),
            "originator_counter": frame.originatorCounter,
            "date_time": frame.dateTime.map(hex) ?? NSNull(),
            "supplementary_remote_party_id": frame.supplement.remotePartyID.map(euiHex) ?? NSNull(),
            "supplementary_remote_party_counter": frame.supplement.remotePartyCounter ?? NSNull(),
            "supplementary_originator_counter": frame.supplement.originatorCounter ?? NSNull(),
            "supplementary_ka_certificate_len": frame.supplement.kaCertificate?.count ?? NSNull(),
            "payload_len": frame.content.count,
            "signature": signature.rawValue,
            "mac": mac.rawValue,
            "mac_tag": frame.macHeader.map { hex($0.tag) } ?? NSNull(),
            "encrypted_blocks": blocks,
        ]
        if json { return (jsonLine(object), failed) }
        let text = "\(file): \(object["frame"] ?? "") \(frame.cra.name) \(object["message_code"] ?? "") "
            + "\(object["originator"] ?? "") → \(object["recipient"] ?? "") counter \(frame.originatorCounter); "
            + "content \(frame.content.count) octets; signature \(signature.rawValue); MAC \(mac.rawValue); \(blocks.count) encrypted block(s) decrypted"
        return (text, failed)
    }

    static func jsonLine(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
