/// GBCS's protected data in DLMS payloads: an encrypted block (an octet string holding the
/// security header 31 and an empty counter) right after its protection parameters (a
/// structure or array). A sensitive read's answer is a structure of those two; an alert
/// carries them as its last two members.
///
/// This one walk finds the blocks (`GBCSPayload.encryptedBlocks`) and puts their
/// decrypted values in their place (Parse and Correlate, the outline), so every reader
/// agrees on which block is which.
extension DLMSData {
    static func isEncryptedBlock(_ octets: [UInt8]) -> Bool {
        octets.count >= 5 + GBCSCrypto.tagLength && octets[0] == 0x31 && octets[1] == 0 && octets[2] == 0 && octets[3] == 0 && octets[4] == 0
    }

    /// The value with each protected block (and its protection parameters) replaced by
    /// `transform(block)`, depth first in order. A structure that is only the parameters
    /// and the block becomes the transformed value itself.
    public func replacingProtected(_ transform: ([UInt8]) throws(GBCSError) -> DLMSData) throws(GBCSError) -> DLMSData {
        switch self {
        case .structure(let items):
            var out: [DLMSData] = []
            out.reserveCapacity(items.count)
            var index = 0
            while index < items.count {
                if index + 1 < items.count, items[index].elements != nil, case .octetString(let block) = items[index + 1], Self.isEncryptedBlock(block) {
                    let opened = try transform(block)
                    if items.count == 2 { return opened }
                    out.append(opened)
                    index += 2
                    continue
                }
                out.append(try items[index].replacingProtected(transform))
                index += 1
            }
            return .structure(out)
        case .array(let items):
            var out: [DLMSData] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try item.replacingProtected(transform)) }
            return .array(out)
        default:
            return self
        }
    }

    /// The encrypted blocks in the value, in the order `replacingProtected` meets them.
    public var protectedBlocks: [[UInt8]] {
        var blocks: [[UInt8]] = []
        _ = try? replacingProtected { (block: [UInt8]) throws(GBCSError) -> DLMSData in
            blocks.append(block)
            return .null
        }
        return blocks
    }
}
