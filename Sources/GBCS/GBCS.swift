/// GBCS: the Great Britain Companion Specification's messages, the bytes that cross the
/// SM WAN between DCC and a smart metering system's devices. A pure library (no I/O):
/// frames (the MAC header around the grouping header) decoded and encoded byte-exact,
/// every length checked against the message before it is used.
///
/// - Frames: `GBCSFrame` (general ciphering DD around general signing DF).
/// - Crypto, suite 1: signatures (ECDSA P-256 over the grouping header), MACs (ECDH, the
///   GBCS KDF, AES-128-GCM with 12-octet tags) and encrypted payload blocks.
/// - Payloads: `GBCSPayload`, one of DLMS COSEM (`DLMSAPDU`, `DLMSData`), GBZ
///   (`GBZPayload`) and ASN.1 (`ASN1Value`), each a typed tree that re-encodes byte-exact.
/// - Keys: `GBCSKeyStore`, with the RTDS keystore folder, ZAZ1 JSON and in-memory stores
///   here and gbsm's SMKI store in the Hub.
/// - `GBCSMessageDescription`: a message from its JSON description (`gbsm gbcs encode`);
///   `GBCSAlertCode`: alert codes' names.
///
/// Named fields per use case, and MMC XML, are the `ParseAndCorrelate` module's.

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
