import DUIS
import SMKI
import Storage
import Synchronization

/// The DCC users and their XML-signing certificates, held in memory for the request
/// path and reloaded when the registry version in the store changes (for example after
/// `gbsm users add` from another process).
public final class UserRegistry: Sendable {
    private struct Snapshot {
        var users: [EUI64: UserRecord] = [:]
        var certificates: [String: (UserCertificateRecord, SMKICertificate)] = [:]
    }

    private let snapshot = Mutex(Snapshot())

    public init() {}

    static func key(issuer: String, serial: String) -> String {
        DistinguishedNameText.normalize(issuer) + "#" + serial
    }

    /// Replaces the registry's content. Certificates that cannot be read are skipped and
    /// returned as warnings.
    @discardableResult
    public func load(users: [UserRecord], certificates: [UserCertificateRecord]) -> [String] {
        var next = Snapshot()
        var warnings: [String] = []
        for user in users { next.users[user.eui] = user }
        for record in certificates {
            do {
                let certificate = try SMKICertificate(der: record.der)
                guard certificate.signingKey != nil else {
                    warnings.append("certificate \(record.serialNumber) of \(record.eui) has no P-256 key")
                    continue
                }
                next.certificates[Self.key(issuer: record.issuerName, serial: record.serialNumber)] = (record, certificate)
            } catch {
                warnings.append("certificate \(record.serialNumber) of \(record.eui): \(error)")
            }
        }
        snapshot.withLock { $0 = next }
        return warnings
    }

    public func user(_ eui: EUI64) -> UserRecord? { snapshot.withLock { $0.users[eui] } }

    public var all: [UserRecord] { snapshot.withLock { $0.users.values.sorted { $0.eui < $1.eui } } }

    /// The certificate KeyInfo names, if it is a registered user's.
    public func certificate(for reference: SignerReference) -> (UserCertificateRecord, SMKICertificate)? {
        snapshot.withLock { $0.certificates[Self.key(issuer: reference.issuerName, serial: reference.serialNumber)] }
    }

    func update(_ user: UserRecord) { snapshot.withLock { $0.users[user.eui] = user } }
}
