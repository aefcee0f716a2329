import ArgumentParser
import Crypto
import DUIS
import Foundation
import GBCS
import Homes
import Hub
import ParseAndCorrelate

struct GBCSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gbcs",
        abstract: "GBCS messages: decode and check them, parse answers to MMC XML, sign pre-commands (DCC's Parse and Correlate, and more).",
        subcommands: [GBCSDecode.self, GBCSParse.self, GBCSSign.self, GBCSEncode.self])
}

/// `--keystore PATH`, repeatable, for every `gbsm gbcs` command that needs keys.
struct GBCSKeystoreOptions: ParsableArguments {
    @Option(name: .customLong("keystore"), parsing: .singleValue,
            help: "Keys: an RTDS keystore folder, a ZAZ1 keystore JSON, or a gbsm data folder (repeatable).")
    var paths: [String]

    func load() throws -> any GBCSKeyStore { try GBCSKeystores.load(paths) }
}

/// Where `gbsm gbcs` finds keys: a folder in the RTDS keystore layout, a keystore JSON in
/// the ZAZ1 format (DCC Boxed's, or a data folder's `smki/keystore.json`), or a gbsm data
/// folder (its keystore). Several are asked in the order given.
enum GBCSKeystores {
    static func load(_ paths: [String]) throws -> any GBCSKeyStore {
        var stores: [any GBCSKeyStore] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("keystore \(path) does not exist") }
            let url = URL(fileURLWithPath: path)
            if !isDirectory.boolValue {
                do {
                    stores.append(try ZAZ1KeyStore(contentsOf: url))
                } catch {
                    throw ValidationError("keystore \(path): \(error)")
                }
            } else if FileManager.default.fileExists(atPath: url.appendingPathComponent("smki/keystore.json").path) {
                // A gbsm data folder: its users' keys and its devices' certified keys.
                stores.append(try DataFolderKeyStore(dataDirectory: url))
            } else {
                stores.append(RTDSKeyStore(directory: url))
            }
        }
        return stores.count == 1 ? stores[0] : GBCSKeyStores(stores)
    }
}

/// How a command prints a GBCS message.
enum GBCSOutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// Upper-case hex, as DCC's Reference Test Data Set has them.
    case hex
    /// Base64, as a DUIS `GBCSPayload` carries them.
    case base64
    /// The octets themselves.
    case raw

    func write(_ bytes: [UInt8]) {
        switch self {
        case .hex: print(Hex.encode(bytes, uppercase: true))
        case .base64: print(Data(bytes).base64EncodedString())
        case .raw: FileHandle.standardOutput.write(Data(bytes))
        }
    }
}

struct GBCSSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a GBCS pre-command with its user's DS key, ready for the Send Command service (command variants 5 to 7).",
        discussion: "The pre-command is what DCC returns for a critical request (command variant 4): a command with no signature. The signer must be its originator; the signature is ECDSA P-256 over the grouping header (GBCS 4.3.3), checked against the signer's certificate before it is printed.")

    @Argument(help: "A file holding the pre-command in hex, base64 or raw octets, or - for standard input.")
    var precommand: String

    @OptionGroup var keystore: GBCSKeystoreOptions

    @Option(help: "The signer's EUI-64 (the pre-command's originator).")
    var signer: String

    @Option(help: "How to print the signed command.")
    var format: GBCSOutputFormat = .hex

    func run() throws {
        guard let signerEUI = EUI64(signer) ?? EUI64(compactHex: signer) else { throw ValidationError("--signer \(signer) is not an EUI-64") }
        let keys = try keystore.load()
        let bytes = try GBCSDecode.readMessage(precommand)
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes)
        } catch {
            throw ValidationError("\(precommand) is not a GBCS message: \(error)")
        }
        guard frame.cra == .command, frame.macHeader == nil, frame.signature == .absent else {
            throw ValidationError("\(precommand) is not a pre-command (a command with no MAC header and no signature field)")
        }
        guard frame.originator == signerEUI else {
            throw ValidationError("the pre-command's originator is \(frame.originator); only it may sign (--signer \(signerEUI))")
        }
        guard let key = keys.signingKey(of: signerEUI) else { throw ValidationError("no DS private key for \(signerEUI) in the keystore") }
        let signed = try frame.signed(with: key)
        guard signed.verifySignature(keys: keys) == .valid else {
            throw ValidationError("the signature does not verify with \(signerEUI)'s DS certificate in the keystore: the private key is not its")
        }
        format.write(signed.encode())
    }
}

struct GBCSDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode GBCS messages and check their signatures, MACs and encrypted blocks.",
        discussion: "Each FILE holds one message in hex (as DCC's Reference Test Data Set has them), base64 or raw bytes; a DIR is walked for *.HEX files. Keys come from --keystore: a folder in the RTDS keystore layout (<eui>-ds.pem, -ka.pem, -ds.key, -ka.key), a ZAZ1 keystore JSON, or a gbsm data folder. Exits 1 when any message fails to decode or a check fails.")

    @Argument(help: "Files or folders.")
    var paths: [String]

    @OptionGroup var keystore: GBCSKeystoreOptions

    @Flag(help: "One JSON object a line: the header, the verdicts and the encrypted blocks.")
    var json = false

    func run() throws {
        let keys = try keystore.load()
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

    /// The bytes of a file: its hex digits when it is hex text, its octets when it is
    /// base64 text, else the raw bytes.
    static func bytes(_ data: Data) -> [UInt8] {
        guard !data.isEmpty else { return [] }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let decoded = Hex.decode(text), !decoded.isEmpty { return decoded }
        if let first = data.first, first != 0xDD, first != 0xDF, let decoded = Data(base64Encoded: text), !decoded.isEmpty { return Array(decoded) }
        return Array(data)
    }

    /// A message from a file, or standard input for `-`, at most 16 MiB.
    static func readMessage(_ path: String) throws -> [UInt8] {
        bytes(try readBounded(path, limit: 16 << 20))
    }

    /// A file's contents, or standard input's for `-`, refused past `limit` octets
    /// (read up to one octet more, so a file growing while it is read is caught too).
    static func readBounded(_ path: String, limit: Int) throws -> Data {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot read \(path)") }
            handle = opened
        }
        defer { if path != "-" { try? handle.close() } }
        var data = Data()
        while data.count <= limit {
            guard let chunk = try handle.read(upToCount: min(1 << 20, limit + 1 - data.count)), !chunk.isEmpty else { break }
            data.append(chunk)
        }
        guard data.count <= limit else { throw ValidationError("\(path == "-" ? "standard input" : path) is larger than \(limit >> 20) MiB") }
        return data
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    static func describe(file: String, keys: some GBCSKeyStore, json: Bool) -> (text: String, failed: Bool) {
        let data: Data
        do {
            data = try readBounded(file, limit: 16 << 20)
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
        let encrypted = frame.encryptedBlocks(key: frame.blockKey(keys: keys))
        let blocks: [[String: Any]] = encrypted.map { block in
            switch block.status {
            case .decrypted(let plaintext):
                return ["kind": block.kind, "status": "decrypted", "plaintext_len": plaintext.count, "plaintext_sha256": hex(Array(SHA256.hash(data: plaintext)))]
            case .invalid:
                return ["kind": block.kind, "status": "invalid", "plaintext_len": NSNull(), "plaintext_sha256": NSNull()]
            case .noKey:
                return ["kind": block.kind, "status": "no-key", "plaintext_len": NSNull(), "plaintext_sha256": NSNull()]
            }
        }
        let failed = signature == .invalid || mac == .invalid || encrypted.contains { $0.status == .invalid }
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
            + "content \(frame.content.count) octets; signature \(signature.rawValue); MAC \(mac.rawValue); \(encrypted.filter { $0.plaintext != nil }.count) of \(encrypted.count) encrypted block(s) decrypted"
        return (text, failed)
    }

    static func jsonLine(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

struct GBCSParse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Verify, decrypt and parse a GBCS answer or alert: MMC XML where gbsm maps its use case, else the decoded tree.",
        discussion: "The message is checked first: a signature or MAC that does not verify, or an encrypted block that does not open, is an error (exit 1) and nothing is printed.")

    @Argument(help: "A file holding one message in hex, base64 or raw octets, or - for standard input.")
    var message: String

    @OptionGroup var keystore: GBCSKeystoreOptions

    @Flag(help: "Print the decoded tree even where an MMC mapping exists.")
    var tree = false

    @Option(help: "The SRV of the request the message answers, where its message code serves several (ECS62 answers 7.9 and 7.10).")
    var srv: SRV?

    func run() throws {
        let keys = try keystore.load()
        let bytes = try GBCSDecode.readMessage(message)
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes)
        } catch {
            throw ValidationError("\(message) is not a GBCS message: \(error)")
        }
        let parsed: ParsedMessage
        do {
            parsed = try ParsedMessage(frame: frame, keys: keys)
        } catch {
            FileHandle.standardError.write(Data("gbsm gbcs parse: \(message): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if !tree {
            do {
                if let xml = try MMCMapping.xml(for: parsed, srv: srv) {
                    print(String(decoding: xml, as: UTF8.self))
                    return
                }
            } catch {
                FileHandle.standardError.write(Data("gbsm gbcs parse: \(message): \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        print(parsed.outline)
    }
}

struct GBCSEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Build a GBCS message from its JSON description, signed and MAC'd with the keystore's keys.",
        discussion: """
            The JSON has the header fields of `gbsm gbcs decode --json` (frame, cra, message_code, originator, recipient, \
            originator_counter, date_time, supplementary_remote_party_id, supplementary_remote_party_counter, \
            supplementary_originator_counter) plus supplementary_ka_certificate (hex, optional), content (the payload, hex) and \
            signature: sign (with the originator's DS key), empty, or absent (a pre-command). frame general-ciphering adds the MAC \
            (commands between the access control broker and the device; answers and alerts between the device and the recipient). \
            Encrypted payload blocks are given already encrypted in content.
            """)

    @Argument(help: "A JSON file describing the message, or - for standard input.")
    var description: String

    @OptionGroup var keystore: GBCSKeystoreOptions

    @Option(help: "How to print the message.")
    var format: GBCSOutputFormat = .hex

    func run() throws {
        let keys = try keystore.load()
        // The content is hex: a 16 MiB message is 32 MiB of JSON.
        let data = try GBCSDecode.readBounded(description, limit: 40 << 20)
        let parsed: GBCSMessageDescription
        do {
            parsed = try JSONDecoder().decode(GBCSMessageDescription.self, from: data)
        } catch {
            throw ValidationError("\(description) is not a GBCS message description: \(error)")
        }
        do {
            format.write(try parsed.frame(keys: keys).encode())
        } catch {
            throw ValidationError("\(description): \(error)")
        }
    }
}
