import Crypto
import DUIS
import Foundation
import GBCS
import SMKI

/// The keys a DCC user of a gbsm data folder opens devices' GBCS answers with, as its own
/// Parse and Correlate would: the users' keys from the folder's keystore (gbsm's test PKI
/// or DCC Boxed's ZAZ1, private keys included) and the public keys of the devices' SMKI
/// certificates (those of DCC Boxed's premises and other premises outside a fleet; the
/// same keys gbsm's SMKI service certifies).
public final class DataFolderKeys: GBCSKeyStore, @unchecked Sendable {
    let users: ZAZ1KeyStore
    let known: Set<EUI64>

    public init(dataDirectory: URL) throws {
        let keystore = try Keystore.load(from: dataDirectory.appendingPathComponent("smki/keystore.json"))
        users = ZAZ1KeyStore(keystore)
        known = Set(keystore.entries.map(\.eui))
    }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        known.contains(party) ? users.publicKey(of: party, usage: usage) : DeviceCredentials.publicKey(eui: party, seed: 0, usage: usage)
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { users.signingKey(of: party) }
    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { users.keyAgreementKey(of: party) }
    public func isDevice(_ party: EUI64) -> Bool { !known.contains(party) }
}
