import Crypto
import DUIS
import Foundation
import SMKI

/// Where GBCS finds a party's keys: the public key of its DS or KA certificate by EUI, and
/// the private key where this side holds it (remote parties' keys in a test keystore;
/// gbsm's emulated devices derive theirs).
public protocol GBCSKeyStore: Sendable {
    func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey?
    func signingKey(of party: EUI64) -> P256.Signing.PrivateKey?
    func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey?
    /// Whether `party` is a device (its certificate is a device certificate), not a
    /// remote party.
    func isDevice(_ party: EUI64) -> Bool
    /// The public key of the party's KA certificate, ready for ECDH. Stores that hold
    /// keys in that form return them without converting (a conversion validates the
    /// point, which costs a third of an ECDH).
    func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey?
    /// The ECDH shared secret (Z) of `party`'s private KA key and `other`'s public one: the
    /// same for every message between the two (static–static), so a store that sees many
    /// messages may keep it rather than pay an ECDH per message.
    func sharedSecret(of party: EUI64, with other: EUI64) -> [UInt8]?
}

extension GBCSKeyStore {
    public func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey? {
        publicKey(of: party, usage: .keyAgreement).flatMap { try? P256.KeyAgreement.PublicKey(rawRepresentation: $0.rawRepresentation) }
    }

    public func sharedSecret(of party: EUI64, with other: EUI64) -> [UInt8]? {
        guard let privateKey = keyAgreementKey(of: party), let publicKey = keyAgreementPublicKey(of: other),
              let secret = try? privateKey.sharedSecretFromKeyAgreement(with: publicKey) else { return nil }
        return secret.withUnsafeBytes { Array($0) }
    }
}

/// The layout of the Reference Test Data Set's `keystore/` folder: `<eui>-ds.pem` and
/// `<eui>-ka.pem` certificates, `<eui>-ds.key` and `<eui>-ka.key` private keys (PKCS#8
/// PEM), EUIs in lower-case hex. Read when first asked, then kept.
public final class RTDSKeyStore: GBCSKeyStore, @unchecked Sendable {
    let directory: URL
    private let lock = NSLock()
    private var certificates: [String: SMKICertificate?] = [:]
    private var privateKeys: [String: String?] = [:]
    private var agreementKeys: [EUI64: P256.KeyAgreement.PublicKey?] = [:]

    public init(directory: URL) { self.directory = directory }

    private func name(_ party: EUI64, _ usage: Keystore.Usage) -> String {
        String(format: "%016llx", party.rawValue) + (usage == .digitalSignature ? "-ds" : "-ka")
    }

    private func certificate(_ party: EUI64, _ usage: Keystore.Usage) -> SMKICertificate? {
        let key = name(party, usage)
        lock.lock()
        defer { lock.unlock() }
        if let cached = certificates[key] { return cached }
        let url = directory.appendingPathComponent(key + ".pem")
        let loaded = (try? String(contentsOf: url, encoding: .utf8)).flatMap { try? SMKICertificate(pem: $0) }
        certificates[key] = loaded
        return loaded
    }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        certificate(party, usage)?.signingKey
    }

    public func isDevice(_ party: EUI64) -> Bool {
        (certificate(party, .keyAgreement) ?? certificate(party, .digitalSignature))?.hardwareSerialEUI != nil
    }

    public func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey? {
        lock.lock()
        if let cached = agreementKeys[party] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let converted = publicKey(of: party, usage: .keyAgreement).flatMap { try? P256.KeyAgreement.PublicKey(rawRepresentation: $0.rawRepresentation) }
        lock.lock()
        agreementKeys[party] = converted
        lock.unlock()
        return converted
    }

    private func privatePEM(_ party: EUI64, _ usage: Keystore.Usage) -> String? {
        let key = name(party, usage)
        lock.lock()
        defer { lock.unlock() }
        if let cached = privateKeys[key] { return cached }
        let loaded = try? String(contentsOf: directory.appendingPathComponent(key + ".key"), encoding: .utf8)
        privateKeys[key] = loaded
        return loaded
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? {
        privatePEM(party, .digitalSignature).flatMap { try? P256.Signing.PrivateKey(pemRepresentation: $0) }
    }

    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? {
        privatePEM(party, .keyAgreement).flatMap { try? P256.KeyAgreement.PrivateKey(pemRepresentation: $0) }
    }
}

/// GBCS keys from a keystore in DCC Boxed's ZAZ1 JSON format (and gbsm's own
/// `smki/keystore.json`, which has the same shape).
///
/// An EUI may hold several certificates for one usage: its DUIS XML-signing key (roles
/// 135 and 137, never a GBCS key), prepayment key-agreement keys (named `…PP…`, which GBCS
/// uses only for PTUT tokens) and, in ZAZ1, two generations (`Z1-` and `Z1b-`). The GBCS
/// key is the first of the rest by name, so `Z1-supplier-ka` before `Z1b-supplier-ka`.
public struct ZAZ1KeyStore: GBCSKeyStore {
    let chosen: [Key: Keystore.Entry]
    let agreementKeys: [EUI64: P256.KeyAgreement.PublicKey]

    struct Key: Hashable {
        let eui: EUI64
        let usage: Keystore.Usage
    }

    public init(_ keystore: Keystore) {
        var chosen: [Key: Keystore.Entry] = [:]
        let candidates = keystore.entries.filter { entry in
            entry.role != RemotePartyRole.xmlSigning && entry.role != RemotePartyRole.dspXMLSigning && !(entry.name ?? "").contains("PP")
        }
        for entry in candidates.sorted(by: { ($0.name ?? "") < ($1.name ?? "") }) {
            let key = Key(eui: entry.eui, usage: entry.usage)
            if chosen[key] == nil { chosen[key] = entry }
        }
        self.chosen = chosen
        var agreementKeys: [EUI64: P256.KeyAgreement.PublicKey] = [:]
        for (key, entry) in chosen where key.usage == .keyAgreement {
            if let raw = entry.certificate.signingKey?.rawRepresentation, let converted = try? P256.KeyAgreement.PublicKey(rawRepresentation: raw) {
                agreementKeys[key.eui] = converted
            }
        }
        self.agreementKeys = agreementKeys
    }

    public func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey? { agreementKeys[party] }

    public init(contentsOf url: URL) throws {
        self.init(try Keystore.load(from: url))
    }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        chosen[Key(eui: party, usage: usage)]?.certificate.signingKey
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? {
        chosen[Key(eui: party, usage: .digitalSignature)]?.privateKeyPEM.flatMap { try? P256.Signing.PrivateKey(pemRepresentation: $0) }
    }

    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? {
        chosen[Key(eui: party, usage: .keyAgreement)]?.privateKeyPEM.flatMap { try? P256.KeyAgreement.PrivateKey(pemRepresentation: $0) }
    }

    public func isDevice(_ party: EUI64) -> Bool {
        (chosen[Key(eui: party, usage: .keyAgreement)] ?? chosen[Key(eui: party, usage: .digitalSignature)])?.certificate.hardwareSerialEUI != nil
    }
}

/// Several key stores asked in order: the first that knows a party answers for it (a
/// users' keystore beside the devices' credentials, say).
public struct GBCSKeyStores: GBCSKeyStore {
    public let stores: [any GBCSKeyStore]

    public init(_ stores: [any GBCSKeyStore]) { self.stores = stores }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        stores.lazy.compactMap { $0.publicKey(of: party, usage: usage) }.first
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? {
        stores.lazy.compactMap { $0.signingKey(of: party) }.first
    }

    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? {
        stores.lazy.compactMap { $0.keyAgreementKey(of: party) }.first
    }

    public func isDevice(_ party: EUI64) -> Bool {
        stores.contains { $0.isDevice(party) }
    }

    public func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey? {
        stores.lazy.compactMap { $0.keyAgreementPublicKey(of: party) }.first
    }

    public func sharedSecret(of party: EUI64, with other: EUI64) -> [UInt8]? {
        // The private key from the first store that holds it, the public from the first
        // that holds that (the two may come from different stores).
        guard let privateKey = keyAgreementKey(of: party), let publicKey = keyAgreementPublicKey(of: other),
              let secret = try? privateKey.sharedSecretFromKeyAgreement(with: publicKey) else { return nil }
        return secret.withUnsafeBytes { Array($0) }
    }
}

/// Keys held in memory: for tests, benchmarks and `gbsm gbcs encode` with keys made on the
/// spot. Each party has a DS and a KA key pair; `devices` marks which are devices.
public struct GBCSMemoryKeyStore: GBCSKeyStore {
    public struct Party: Sendable {
        public var signing: P256.Signing.PrivateKey
        public var keyAgreement: P256.KeyAgreement.PrivateKey
        public var isDevice: Bool

        public init(signing: P256.Signing.PrivateKey = .init(), keyAgreement: P256.KeyAgreement.PrivateKey = .init(), isDevice: Bool) {
            self.signing = signing
            self.keyAgreement = keyAgreement
            self.isDevice = isDevice
        }
    }

    public var parties: [EUI64: Party]

    public init(parties: [EUI64: Party] = [:]) { self.parties = parties }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        guard let held = parties[party] else { return nil }
        switch usage {
        case .digitalSignature: return held.signing.publicKey
        case .keyAgreement: return try? P256.Signing.PublicKey(rawRepresentation: held.keyAgreement.publicKey.rawRepresentation)
        }
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { parties[party]?.signing }
    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { parties[party]?.keyAgreement }
    public func isDevice(_ party: EUI64) -> Bool { parties[party]?.isDevice ?? false }
    public func keyAgreementPublicKey(of party: EUI64) -> P256.KeyAgreement.PublicKey? { parties[party]?.keyAgreement.publicKey }
}
