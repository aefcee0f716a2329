/// A Service Reference Variant: DUIS's name for one kind of request ("4.1.1", "8.2",
/// "12.1"), two or three numbers, each 1 to 99.
///
/// A type, not text, so that an SRV cannot be confused with another string (a request
/// ID, a device ID, a body element name), and so that SRVs sort as DUIS lists them
/// ("4.2" before "4.10"). Text from outside becomes an SRV only through `init?(_:)`,
/// which accepts exactly DUIS's form; literals in gbsm's own tables and rules are SRVs
/// written in that form (a malformed literal is a programming error and stops at once).
/// It is held as one packed integer, so comparing and hashing SRVs on the hot path costs
/// no string work.
public struct SRV: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The numbers, 8 bits each: first, second, third (0 when there are two).
    private let packed: UInt32

    /// Reads DUIS's form: `N.N` or `N.N.N`, each number 1 to 99 written without leading
    /// zeros. Anything else is not an SRV.
    public init?(_ text: some StringProtocol) {
        var parts: [UInt32] = []
        var current: UInt32 = 0
        var digits = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 0 && byte == UInt8(ascii: "0") { return nil }
                digits += 1
                guard digits <= 2 else { return nil }
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "."):
                guard digits > 0, parts.count < 2 else { return nil }
                parts.append(current)
                current = 0
                digits = 0
            default:
                return nil
            }
        }
        guard digits > 0, !parts.isEmpty else { return nil }
        parts.append(current)
        packed = parts[0] << 16 | parts[1] << 8 | (parts.count == 3 ? parts[2] : 0)
    }

    public init(stringLiteral value: StaticString) {
        guard let srv = SRV(value.description) else { preconditionFailure("not an SRV: \(value)") }
        self = srv
    }

    /// The numbers, in order (two or three).
    public var numbers: [Int] {
        let third = Int(packed & 0xFF)
        return [Int(packed >> 16), Int(packed >> 8 & 0xFF)] + (third == 0 ? [] : [third])
    }

    /// The first number: DUIS's group of service requests (1 tariffs, 2 prepayment,
    /// 4 reads, 6 configuration and security, 8 installation, 11 firmware…).
    public var group: Int { Int(packed >> 16) }

    /// DUIS's text of the SRV.
    public var text: String { numbers.map(String.init).joined(separator: ".") }

    public var description: String { text }

    public static func < (lhs: SRV, rhs: SRV) -> Bool { lhs.packed < rhs.packed }
}

extension SRV: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let srv = SRV(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a Service Reference Variant: \(text.prefix(20))")
        }
        self = srv
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
