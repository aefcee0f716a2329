import Crypto
import DUIS
import Devices
import Foundation
import GBCS
import Hub
import SMKI

/// The keys a DCC user of a gbsm data folder opens devices' GBCS answers and alerts with,
/// as its own Parse and Correlate would: the users' keys from the folder's keystore
/// (gbsm's test PKI or DCC Boxed's ZAZ1, private keys included) and the public keys the
/// devices' SMKI certificates carry (those gbsm's SMKI service issues: derived from the
/// device's EUI and, for a fleet's devices, the fleet's seed). For `gbsm gbcs parse
/// --keystore DATA` and the tests.
public final class DataFolderKeyStore: GBCSKeyStore, @unchecked Sendable {
    let users: ZAZ1KeyStore
    let known: Set<EUI64>
    let fleetSeed: UInt64

    public init(dataDirectory: URL) throws {
        let configuration = HubConfiguration(dataDirectory: dataDirectory)
        let keystore = try Keystore.load(from: configuration.keystoreURL)
        users = ZAZ1KeyStore(keystore)
        known = Set(keystore.entries.map(\.eui))
        fleetSeed = FileManager.default.fileExists(atPath: configuration.fleetURL.path) ? try Fleet.read(from: configuration.fleetURL).spec.seed : 0
    }

    /// The seed a device's keys derive from: the fleet's for its devices, else 0 (as
    /// `SMKIRepository.seed(for:)`).
    func seed(_ device: EUI64) -> UInt64 { FleetEUI.parse(device) != nil ? fleetSeed : 0 }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        known.contains(party) ? users.publicKey(of: party, usage: usage) : DeviceCredentials.publicKey(eui: party, seed: seed(party), usage: usage)
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { users.signingKey(of: party) }
    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { users.keyAgreementKey(of: party) }
    public func isDevice(_ party: EUI64) -> Bool { !known.contains(party) }
}
