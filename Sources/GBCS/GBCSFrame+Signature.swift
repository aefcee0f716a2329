import Crypto
import DUIS

/// What a frame's signature amounts to.
public enum SignatureVerdict: String, Sendable {
    case valid, invalid, empty, absent
    /// Signed, but the originator's DS certificate is not in the key store.
    case noKey = "no-key"
}

extension GBCSFrame {
    /// The octets GBCS signs: the grouping header from after its tag (0xDF) to the end of
    /// the content, so a pre-command's bytes are what its user signs.
    public func signedBytes() -> [UInt8] {
        var copy = self
        copy.signature = .absent
        return Array(copy.groupingHeader().dropFirst())
    }

    /// Checks the signature with the originator's DS public key (ECDSA P-256, SHA-256, r‖s).
    public func verifySignature(keys: some GBCSKeyStore) -> SignatureVerdict {
        switch signature {
        case .absent: return .absent
        case .empty: return .empty
        case .present(let raw):
            guard let key = keys.publicKey(of: originator, usage: .digitalSignature) else { return .noKey }
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw) else { return .invalid }
            return key.isValidSignature(signature, for: signedBytes()) ? .valid : .invalid
        }
    }

    /// Signs the frame (a pre-command becomes a signed command) with `key`.
    public func signed(with key: P256.Signing.PrivateKey) throws -> GBCSFrame {
        var copy = self
        copy.signature = .present(Array(try key.signature(for: signedBytes()).rawRepresentation))
        return copy
    }
}
