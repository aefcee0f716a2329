import Crypto
import DUIS
import GBCS
import Foundation
import SMKI
import Storage
import DequeModule
import Synchronization

/// SMKI's repository as DCC Boxed serves it: organisation certificates (every
/// certificate in the hub's keystore: users' XML-signing and GBCS role certificates, DCC's
/// own) and device certificates (a DS and a KA certificate for every Type 1 device in the
/// inventory, issued on demand by `DeviceCredentials`).
///
/// Searches are by an organisation's EUI (`CertificateSubjectName`) or a device's
/// (`CertificateSubjectAltName`); retrieval is by serial.
public final class SMKIRepository: Sendable {
    /// One certificate as the repository lists it.
    public struct Record: Sendable {
        public enum Subject: Sendable, Equatable {
            case organisation(EUI64, role: Int)
            case device(EUI64)
        }
        public var subject: Subject
        public var serial: String
        public var usage: Keystore.Usage
        /// SMKI's status: I (in use), P (pending), N (not in use), E (expired), R (revoked).
        public var status: String
        public var certificate: SMKICertificate?
    }

    let organisations: [Record]
    /// The organisations' GBCS keys (their private keys too, in a test keystore).
    let organisationKeys: ZAZ1KeyStore
    let credentials: DeviceCredentials
    let inventory: Inventory
    private let fleetSeed: Atomic<UInt64>
    /// Issued device certificates, most recent kept (issuing costs an ECDSA signature).
    private let cache = Mutex<(certificates: [String: SMKICertificate], order: Deque<String>)>(([:], []))
    static let cacheLimit = 4096
    /// Shared secrets of KA key pairs (`sharedSecret(of:with:)`), oldest forgotten first.
    private let secrets = Mutex<(values: [SecretPair: [UInt8]], order: Deque<SecretPair>)>(([:], []))
    /// About 100 octets each: a few tens of megabytes at most.
    static let secretLimit = 200_000
    struct SecretPair: Hashable, Sendable {
        let party: EUI64
        let other: EUI64
    }
    /// When device certificates begin (a fixed date: a certificate's bytes depend only on
    /// the device and the CA, up to its ECDSA signature).
    static let deviceNotBefore = Date(timeIntervalSince1970: 1_577_836_800)  // 2020-01-01
    /// Device types that hold SMKI device certificates (Type 2 devices, IHDs and CADs, have none).
    static let certifiedTypes: Set<DeviceType> = [.esme, .gsme, .chf, .gpf, .ppmid, .hcalcs]

    public init(keystore: Keystore, credentials: DeviceCredentials, inventory: Inventory, fleetSeed: UInt64) {
        self.organisations = keystore.entries.compactMap { entry in
            // The repository's state, not the validity dates: the keystore's certificates
            // are the ones in use (DCC Boxed lists ZAZ1's, some past their notAfter, as I).
            guard let role = entry.role else { return nil }
            return Record(subject: .organisation(entry.eui, role: role), serial: entry.certificate.serialHex, usage: entry.usage,
                          status: "I", certificate: entry.certificate)
        }
        self.organisationKeys = ZAZ1KeyStore(keystore)
        self.credentials = credentials
        self.inventory = inventory
        self.fleetSeed = Atomic(fleetSeed)
    }

    /// The seed of the fleet the inventory holds (set once the fleet is loaded).
    public func setFleetSeed(_ seed: UInt64) {
        fleetSeed.store(seed, ordering: .relaxed)
        // Devices' keys derive from the seed: secrets agreed with the old keys are void.
        secrets.withLock { $0 = ([:], []) }
    }

    /// The seed a device's keys derive from: its fleet's, or 0 for devices outside a fleet.
    public func seed(for device: DeviceRecord) -> UInt64 {
        (device.premises ?? 0) >= Inventory.fleetPremisesIDBase ? fleetSeed.load(ordering: .relaxed) : 0
    }

    /// An organisation's certificates.
    public func search(organisation eui: EUI64) -> [Record] {
        organisations.filter { if case .organisation(let owner, _) = $0.subject { return owner == eui } else { return false } }
    }

    /// A device's certificates (DS and KA), or none when it is not a Type 1 device here.
    public func search(device eui: EUI64) -> [Record] {
        guard let device = inventory.device(eui), Self.certifiedTypes.contains(device.type) else { return [] }
        let status = device.status == .decommissioned || device.status == .withdrawn ? "N" : "I"
        return [Keystore.Usage.digitalSignature, .keyAgreement].map { usage in
            Record(subject: .device(eui), serial: Hex.encode(DeviceCredentials.serial(eui: eui, usage: usage), uppercase: true), usage: usage, status: status, certificate: nil)
        }
    }

    /// The certificate with this serial (hex, any case), with its record.
    public func retrieve(serial text: String) throws -> Record? {
        let serial = text.trimmingCharacters(in: .whitespaces).uppercased()
        if let organisation = organisations.first(where: { $0.serial == serial }) { return organisation }
        guard serial.utf8.count <= 64, let bytes = Hex.decode(serial), let (eui, usage) = DeviceCredentials.parseSerial(bytes),
              var record = search(device: eui).first(where: { $0.usage == usage }),
              let device = inventory.device(eui) else { return nil }
        if let cached = cache.withLock({ $0.certificates[serial] }) {
            record.certificate = cached
            return record
        }
        let certificate = try credentials.certificate(eui: eui, seed: seed(for: device), usage: usage, notBefore: Self.deviceNotBefore)
        cache.withLock { cache in
            guard cache.certificates.updateValue(certificate, forKey: serial) == nil else { return }
            cache.order.append(serial)
            // The oldest goes first: a client walking through serials costs the others
            // one certificate each, not the whole cache.
            while cache.order.count > Self.cacheLimit, let oldest = cache.order.popFirst() { cache.certificates[oldest] = nil }
        }
        record.certificate = certificate
        return record
    }

    /// Every organisation certificate as PEM, in one tar archive (`<EUI>-<role>-<DS|KA>-<serial>.pem`).
    public func organisationArchive() -> [UInt8] {
        var archive = TarArchive()
        for record in organisations {
            guard case .organisation(let eui, let role) = record.subject, let certificate = record.certificate else { continue }
            let name = "\(eui.description.replacingOccurrences(of: "-", with: ""))-\(role)-\(record.usage == .digitalSignature ? "DS" : "KA")-\(record.serial).pem"
            archive.add(name: name, contents: Array(certificate.pem.utf8))
        }
        return archive.finish()
    }
}

/// A POSIX ustar archive of small regular files, for downloads of many certificates.
struct TarArchive {
    private var bytes: [UInt8] = []

    mutating func add(name: String, contents: [UInt8]) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, length: Int) {
            for (index, byte) in text.utf8.prefix(length).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, length: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, length - 1 - digits.count)) + digits
        }
        put(name, at: 0, length: 100)
        put(octal(0o644, length: 8), at: 100, length: 7)
        put(octal(0, length: 8), at: 108, length: 7)
        put(octal(0, length: 8), at: 116, length: 7)
        put(octal(contents.count, length: 12), at: 124, length: 11)
        put(octal(Int(Date().timeIntervalSince1970), length: 12), at: 136, length: 11)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, length: 6)
        put("00", at: 263, length: 2)
        for index in 148..<156 { header[index] = UInt8(ascii: " ") }
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(octal(checksum, length: 7), at: 148, length: 6)
        header[154] = 0
        bytes += header
        bytes += contents
        bytes += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    mutating func finish() -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: 1024)
    }
}

/// gbsm's own SMKI store as GBCS's key store: organisations' keys from the keystore, and
/// every Type 1 device's DS and KA keys derived from its fleet's seed and its EUI (so the
/// hub and the emulated devices agree on them without storing any).
extension SMKIRepository: GBCSKeyStore {
    private func certifiedDevice(_ eui: EUI64) -> DeviceRecord? {
        guard let device = inventory.device(eui), Self.certifiedTypes.contains(device.type) else { return nil }
        return device
    }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        if let device = certifiedDevice(party) { return DeviceCredentials.publicKey(eui: party, seed: seed(for: device), usage: usage) }
        return organisationKeys.publicKey(of: party, usage: usage)
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? {
        if let device = certifiedDevice(party) { return DeviceCredentials.signingKey(eui: party, seed: seed(for: device)) }
        return organisationKeys.signingKey(of: party)
    }

    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? {
        if let device = certifiedDevice(party) { return DeviceCredentials.keyAgreementKey(eui: party, seed: seed(for: device)) }
        return organisationKeys.keyAgreementKey(of: party)
    }

    public func isDevice(_ party: EUI64) -> Bool { certifiedDevice(party) != nil }

    /// Z of a party's KA key with another's, kept: every message between DCC's access
    /// control broker (or a user) and a device uses the same, and an ECDH (with a device's
    /// key derived from its seed first) costs more than the rest of a MAC.
    public func sharedSecret(of party: EUI64, with other: EUI64) -> [UInt8]? {
        let pair = SecretPair(party: party, other: other)
        if let cached = secrets.withLock({ $0.values[pair] }) { return cached }
        guard let privateKey = keyAgreementKey(of: party), let publicKey = keyAgreementPublicKey(of: other),
              let secret = try? privateKey.sharedSecretFromKeyAgreement(with: publicKey) else { return nil }
        let bytes = secret.withUnsafeBytes { Array($0) }
        secrets.withLock { cache in
            guard cache.values.updateValue(bytes, forKey: pair) == nil else { return }
            cache.order.append(pair)
            while cache.order.count > Self.secretLimit, let oldest = cache.order.popFirst() { cache.values[oldest] = nil }
        }
        return bytes
    }
}
