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
}

/// The layout of the Reference Test Data Set's `keystore/` folder: `<eui>-ds.pem` and
/// `<eui>-ka.pem` certificates, `<eui>-ds.key` and `<eui>-ka.key` private keys (PKCS#8
/// PEM), EUIs in lower-case hex. Read when first asked, then kept.
public final class RTDSKeyStore: GBCSKeyStore, @unchecked Sendable {
    let directory: URL
    private let lock = NSLock()
    private var certificates: [String: SMKICertificate?] = [:]
    private var privateKeys: [String: String?] = [:]

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
