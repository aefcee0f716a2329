/// GBCS: the Great Britain Companion Specification's messages, the bytes that cross the
/// SM WAN between DCC and a smart metering system's devices. A pure library (no I/O):
/// frames (the MAC header around the grouping header) decoded and encoded byte-exact,
/// every length checked against the message before it is used.
///
/// Built so far: the frames, their signatures (ECDSA P-256 over the grouping header) and
/// MACs (ECDH, the GBCS KDF, AES-128-GCM) and encrypted payload blocks, with keys found
/// through `GBCSKeyStore`. Still to come (issue 11): the payloads (DLMS COSEM, GBZ, ASN.1
/// use cases),
/// gbsm's and ZAZ1's key stores and the `gbsm gbcs` commands.

/// Why bytes are not a GBCS message. Every case names where the problem is.
public enum GBCSError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, at: Int, available: Int)
    case unexpectedTag(expected: UInt8, found: UInt8, at: Int)
    case invalidLength(String, at: Int)
    case nonMinimalLength(at: Int)
    case unsupported(String, at: Int)
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated(let needed, let at, let available): return "needs \(needed) more octets at offset \(at), \(available) left"
        case .unexpectedTag(let expected, let found, let at): return String(format: "expected tag %02X at offset %d, found %02X", expected, at, found)
        case .invalidLength(let what, let at): return "invalid length for \(what) at offset \(at)"
        case .nonMinimalLength(let at): return "a length at offset \(at) is not in its shortest A-XDR form"
        case .unsupported(let what, let at): return "\(what) at offset \(at) is not supported"
        case .trailingBytes(let count): return "\(count) octets after the end of the message"
        }
    }
}
