import Crypto
import DUIS

/// GBCS suite 1 key derivation and MACs, with swift-crypto.
///
/// A message key is derived per message: ECDH (static–static) between a remote party's KA
/// key and a device's, then the SP 800-56A concatenation KDF with SHA-256 over
/// `00000001 ‖ Z ‖ OtherInfo`, the first 16 octets. OtherInfo is the algorithm ID
/// (60 85 74 06 08 03 00) ‖ the originator's system title ‖ 09 ‖ a usage octet (the CRA
/// flag for the MAC, 04 for encrypted payload blocks) ‖ the originator counter ‖ the
/// recipient's system title. AES-128-GCM uses the IV originator title ‖ 00000000 and a
/// 12-octet tag; swift-crypto opens only full tags, so the tag is computed in full and its
/// first 12 octets compared in constant time.
public enum GBCSCrypto {
    static let algorithmID: [UInt8] = [0x60, 0x85, 0x74, 0x06, 0x08, 0x03, 0x00]
    /// The octet encrypted payload blocks use in place of the CRA flag.
    static let encryptionUsage: UInt8 = 0x04
    /// What precedes the grouping header in the MAC's additional data: the security
    /// control octet and the empty invocation counter and key fields.
    static let macPrefix: [UInt8] = [0x11, 0x00, 0x00, 0x00, 0x00, 0x00]
    public static let tagLength = 12

    public static func deriveKey(privateKey: P256.KeyAgreement.PrivateKey, publicKey: P256.KeyAgreement.PublicKey,
                                 originator: EUI64, usage: UInt8, counter: UInt64, recipient: EUI64) throws -> SymmetricKey {
        let secret = try privateKey.sharedSecretFromKeyAgreement(with: publicKey)
        return deriveKey(secret: secret.withUnsafeBytes { Array($0) }, originator: originator, usage: usage, counter: counter, recipient: recipient)
    }

    /// The message key from a shared secret Z already agreed.
    public static func deriveKey(secret: [UInt8], originator: EUI64, usage: UInt8, counter: UInt64, recipient: EUI64) -> SymmetricKey {
        var input: [UInt8] = [0, 0, 0, 1]
        input.reserveCapacity(4 + secret.count + 7 + 8 + 2 + 8 + 8)
        input += secret
        input += algorithmID + originator.bytes + [0x09, usage]
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
        input += recipient.bytes
        return SymmetricKey(data: Array(SHA256.hash(data: input).prefix(16)))
    }

    static func nonce(_ originator: EUI64) throws -> AES.GCM.Nonce {
        try AES.GCM.Nonce(data: originator.bytes + [0, 0, 0, 0])
    }

    /// The 12-octet GCM tag over `additionalData` with an empty plaintext.
    public static func mac(key: SymmetricKey, originator: EUI64, additionalData: [UInt8]) throws -> [UInt8] {
        let sealed = try AES.GCM.seal([UInt8](), using: key, nonce: try nonce(originator), authenticating: additionalData)
        return Array(sealed.tag.prefix(tagLength))
    }

    /// Whether two tags are equal, in time independent of where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// What a frame's MAC amounts to.
public enum MACVerdict: String, Sendable {
    case valid, invalid
    /// No MAC header (a message only signed, or a pre-command).
    case none
    /// The KA keys needed are not in the key store.
    case noKey = "no-key"
}

extension GBCSFrame {
    /// DCC's access control broker, which MACs every command to a device.
    public static let accessControlBroker = EUI64(0x90B3_D51F_3000_0002)

    /// The key the MAC was made with: for a command, the access control broker's KA key
    /// (or, from a device, the originating device's) and the recipient device's; for a
    /// response or alert, the recipient's KA key and the device's (the originator). Nil
    /// when the store lacks either side.
    public func macKey(keys: some GBCSKeyStore, accessControlBroker: EUI64 = GBCSFrame.accessControlBroker) -> SymmetricKey? {
        // A command from a device (a PPMID's top-up to its meter) is MAC'd between the two
        // devices: the originator's own key.
        let commandParty = keys.isDevice(originator) ? originator : accessControlBroker
        let (party, device) = cra == .command ? (commandParty, recipient) : (recipient, originator)
        guard let secret = keys.sharedSecret(of: party, with: device) else { return nil }
        return GBCSCrypto.deriveKey(secret: secret, originator: originator, usage: cra.rawValue, counter: originatorCounter, recipient: recipient)
    }

    /// The MAC over the grouping header with `key`.
    public func computeMAC(key: SymmetricKey) throws -> [UInt8] {
        try GBCSCrypto.mac(key: key, originator: originator, additionalData: GBCSCrypto.macPrefix + groupingHeader())
    }

    public func verifyMAC(keys: some GBCSKeyStore, accessControlBroker: EUI64 = GBCSFrame.accessControlBroker) -> MACVerdict {
        guard let macHeader else { return .none }
        // The MAC covers a fixed security header (0x11, counter 0): any other is not GBCS's,
        // and would otherwise pass unauthenticated.
        guard let key = macKey(keys: keys, accessControlBroker: accessControlBroker) else { return .noKey }
        guard macHeader.securityControl == 0x11, macHeader.invocationCounter == 0 else { return .invalid }
        guard let tag = try? computeMAC(key: key) else { return .invalid }
        return GBCSCrypto.constantTimeEqual(tag, macHeader.tag) ? .valid : .invalid
    }

    /// The frame with a MAC header made with `key` (security control 0x11, counter 0).
    public func maced(with key: SymmetricKey) throws -> GBCSFrame {
        var copy = self
        copy.macHeader = MACHeader(tag: try computeMAC(key: key))
        return copy
    }
}

extension GBCSFrame {
    /// The key of the encrypted payload blocks in an answer or alert: the KA key of the
    /// party the data is for (the supplementary remote party when there is one, else the
    /// recipient) with the originating device's, usage 04, and the supplementary
    /// originator counter when there is one.
    public func blockKey(keys: some GBCSKeyStore) -> SymmetricKey? {
        let party = supplement.remotePartyID ?? recipient
        guard let secret = keys.sharedSecret(of: party, with: originator) else { return nil }
        return GBCSCrypto.deriveKey(secret: secret, originator: originator, usage: GBCSCrypto.encryptionUsage,
                                    counter: supplement.originatorCounter ?? originatorCounter, recipient: party)
    }

    /// Decrypts one encrypted payload block (`31 ‖ 00000000 ‖ ciphertext ‖ 12-octet tag`):
    /// the plaintext, or nil when the tag does not verify or the block is not one.
    public func decryptBlock(_ block: [UInt8], key: SymmetricKey) -> [UInt8]? {
        guard block.count >= 5 + GBCSCrypto.tagLength, block[0] == 0x31, block[1...4].allSatisfy({ $0 == 0 }) else { return nil }
        let ciphertext = Array(block[5..<(block.count - GBCSCrypto.tagLength)])
        let tag = Array(block.suffix(GBCSCrypto.tagLength))
        guard let nonce = try? GBCSCrypto.nonce(originator) else { return nil }
        // GCM's counter-mode keystream: encrypting the ciphertext gives the plaintext, and
        // sealing that plaintext gives the full tag to compare (swift-crypto opens only
        // 16-octet tags).
        guard let keystream = try? AES.GCM.seal([UInt8](repeating: 0, count: ciphertext.count), using: key, nonce: nonce, authenticating: [0x31]) else { return nil }
        let plaintext = zip(ciphertext, keystream.ciphertext).map { $0 ^ $1 }
        guard let sealed = try? AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: [0x31]),
              GBCSCrypto.constantTimeEqual(Array(sealed.tag.prefix(GBCSCrypto.tagLength)), tag) else { return nil }
        return plaintext
    }
}

/// One encrypted payload block and what became of it.
public struct GBCSEncryptedBlock: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case decrypted([UInt8])
        /// Its tag does not verify with the key: altered, or not for this key.
        case invalid
        /// No key to open it.
        case noKey
    }

    /// dlms or gbz.
    public var kind: String
    public var block: [UInt8]
    public var status: Status

    public var plaintext: [UInt8]? {
        if case .decrypted(let plaintext) = status { return plaintext }
        return nil
    }
}

extension GBCSFrame {
    /// The encrypted payload blocks, where the payload's structure places them (a GBZ
    /// component with its encryption bit; a DLMS protected-data octet string), in order,
    /// each decrypted with `key` when there is one. Empty when the content does not decode.
    public func encryptedBlocks(key: SymmetricKey?) -> [GBCSEncryptedBlock] {
        guard let payload = try? GBCSPayload.decode(content, cra: cra) else { return [] }
        return payload.encryptedBlocks.map { block in
            let status: GBCSEncryptedBlock.Status
            if let key {
                status = decryptBlock(block, key: key).map { .decrypted($0) } ?? .invalid
            } else {
                status = .noKey
            }
            return GBCSEncryptedBlock(kind: payload.kind, block: block, status: status)
        }
    }
}
