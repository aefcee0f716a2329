import Crypto
import DUIS
import Foundation

/// A keystore in the format DCC Boxed publishes its ZAZ1 test PKI in: a JSON object keyed
/// by EUI (16 lower-case hex digits), then key usage (`digitalSignature`,
/// `keyAgreement`), then certificate serial number (decimal), each entry holding the PEM
/// certificate, optionally its PKCS#8 private key, the remote party role and a name.
/// gbsm writes its own generated test PKI in the same format.
public struct Keystore: Sendable {
    public enum Usage: String, Sendable, Codable, CaseIterable {
        case digitalSignature, keyAgreement
    }

    public struct Entry: Sendable {
        public var eui: EUI64
        public var usage: Usage
        public var certificate: SMKICertificate
        public var privateKeyPEM: String?
        public var role: Int?
        public var name: String?

        public init(eui: EUI64, usage: Usage, certificate: SMKICertificate, privateKeyPEM: String?, role: Int?, name: String?) {
            self.eui = eui
            self.usage = usage
            self.certificate = certificate
            self.privateKeyPEM = privateKeyPEM
            self.role = role
            self.name = name
        }

        public var signingKey: P256.Signing.PrivateKey? {
            guard let privateKeyPEM else { return nil }
            return try? P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        }
    }

    public var entries: [Entry]
    /// Entries that could not be read (for example a certificate whose signature
    /// algorithm encoding swift-certificates refuses), with the reason.
    public var skipped: [String]

    public init(entries: [Entry] = [], skipped: [String] = []) {
        self.entries = entries
        self.skipped = skipped
    }

    private struct FileEntry: Codable {
        var certificate: String
        var privateKey: String?
        var role: Int?
        var name: String?
    }

    public static func load(from url: URL) throws -> Keystore {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SMKIError.keystore("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try decode(data, source: url.path)
    }

    public static func decode(_ data: Data, source: String = "keystore") throws -> Keystore {
        let file: [String: [String: [String: FileEntry]]]
        do {
            file = try JSONDecoder().decode([String: [String: [String: FileEntry]]].self, from: data)
        } catch {
            throw SMKIError.keystore("\(source) is not a keystore in the ZAZ1 format: \(error)")
        }
        var entries: [Entry] = []
        var skipped: [String] = []
        for (euiText, usages) in file.sorted(by: { $0.key < $1.key }) {
            guard let eui = EUI64(compactHex: euiText) else { throw SMKIError.keystore("\(source): \"\(euiText)\" is not an EUI-64") }
            for (usageText, serials) in usages.sorted(by: { $0.key < $1.key }) {
                guard let usage = Usage(rawValue: usageText) else { throw SMKIError.keystore("\(source): unknown key usage \(usageText)") }
                for (serial, fileEntry) in serials.sorted(by: { $0.key < $1.key }) {
                    let certificate: SMKICertificate
                    do {
                        certificate = try SMKICertificate(pem: fileEntry.certificate)
                    } catch {
                        skipped.append("\(eui) \(usage.rawValue) \(serial) (\(fileEntry.name ?? "unnamed")): \(error)")
                        continue
                    }
                    guard certificate.serialNumber == serial else {
                        throw SMKIError.keystore("\(source): entry \(serial) holds certificate \(certificate.serialNumber)")
                    }
                    entries.append(Entry(eui: eui, usage: usage, certificate: certificate, privateKeyPEM: fileEntry.privateKey, role: fileEntry.role, name: fileEntry.name))
                }
            }
        }
        guard !entries.isEmpty else {
            throw SMKIError.keystore("\(source) holds no readable certificate" + (skipped.isEmpty ? "" : ": " + skipped.joined(separator: "; ")))
        }
        return Keystore(entries: entries, skipped: skipped)
    }

    public func encoded() throws -> Data {
        var file: [String: [String: [String: FileEntry]]] = [:]
        for entry in entries {
            file[entry.eui.compactHex, default: [:]][entry.usage.rawValue, default: [:]][entry.certificate.serialNumber] =
                FileEntry(certificate: entry.certificate.pem, privateKey: entry.privateKeyPEM, role: entry.role, name: entry.name)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(file)
    }

    public func write(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoded().write(to: url, options: .atomic)
    }

    /// Entries with a given role.
    public func entries(role: Int) -> [Entry] { entries.filter { $0.role == role } }

    /// DUIS XML-signing certificates of DCC users (role 135).
    public var userXMLSigning: [Entry] { entries(role: RemotePartyRole.xmlSigning) }

    /// DCC's own XML-signing key and certificate (role 137), with its private key.
    public var dspSigner: Entry? { entries(role: RemotePartyRole.dspXMLSigning).first { $0.signingKey != nil } }

    /// The key a party signs DUIS requests with: its role 135 entry, or, for DCC itself,
    /// the DSP key.
    public func xmlSigningEntry(for eui: EUI64) -> Entry? {
        entries.first { $0.eui == eui && $0.role == RemotePartyRole.xmlSigning && $0.privateKeyPEM != nil }
            ?? entries.first { $0.eui == eui && $0.role == RemotePartyRole.dspXMLSigning && $0.privateKeyPEM != nil }
    }
}
