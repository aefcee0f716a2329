import DUIS
import GBCS

/// Why a message cannot be parsed: DCC's Parse and Correlate parses only what verifies.
public enum ParseError: Error, Equatable, CustomStringConvertible {
    case signature(SignatureVerdict)
    case mac(MACVerdict)
    case unprotected
    case encryptedBlock(String)
    case payload(GBCSError)

    public var description: String {
        switch self {
        case .signature(let verdict): return "the signature is \(verdict.rawValue)" + (verdict == .noKey ? " (the originator's DS certificate is not in the keystore)" : "")
        case .mac(let verdict): return "the MAC is \(verdict.rawValue)" + (verdict == .noKey ? " (a KA key it needs is not in the keystore)" : "")
        case .unprotected: return "the message is neither signed nor MAC'd, so nothing vouches for it"
        case .encryptedBlock(let why): return "an encrypted block \(why)"
        case .payload(let error): return "the content is not a GBCS payload: \(error)"
        }
    }
}

/// A device's message, verified and opened: its frame, its payload decoded, and the
/// plaintext of each encrypted block in order.
public struct ParsedMessage: Sendable {
    public let frame: GBCSFrame
    public let payload: GBCSPayload
    public let plaintexts: [[UInt8]]
    public let signature: SignatureVerdict
    public let mac: MACVerdict

    /// Verifies the signature and the MAC (each, where the message has one; at least one
    /// is required), decodes the payload and decrypts its blocks, or says which failed.
    public init(frame: GBCSFrame, keys: some GBCSKeyStore) throws(ParseError) {
        self.frame = frame
        signature = frame.verifySignature(keys: keys)
        mac = frame.verifyMAC(keys: keys)
        switch signature {
        case .invalid, .noKey: throw .signature(signature)
        default: break
        }
        switch mac {
        case .invalid, .noKey: throw .mac(mac)
        default: break
        }
        guard signature == .valid || mac == .valid else { throw .unprotected }
        do {
            payload = try GBCSPayload.decode(frame.content, cra: frame.cra)
        } catch {
            throw .payload(error)
        }
        let blocks = payload.encryptedBlocks
        guard !blocks.isEmpty else {
            plaintexts = []
            return
        }
        guard let key = frame.blockKey(keys: keys) else { throw .encryptedBlock("needs a KA key the keystore lacks") }
        var plaintexts: [[UInt8]] = []
        for block in blocks {
            guard let plaintext = frame.decryptBlock(block, key: key) else { throw .encryptedBlock("does not verify with the recipient's key") }
            plaintexts.append(plaintext)
        }
        self.plaintexts = plaintexts
    }

    public var outline: String {
        let header = "GBCS \(frame.cra.name) " + String(format: "%04X", frame.messageCode) + (UseCases.byCode[frame.messageCode].map { " (\($0.name))" } ?? "")
            + " from \(frame.originator) to \(frame.recipient), counter \(frame.originatorCounter)"
        return header + "\n" + payload.outline(decrypted: plaintexts)
    }
}
