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
        guard let packed = Self.pack(text.utf8) else { return nil }
        self.packed = packed
    }

    public init(stringLiteral value: StaticString) {
        // Literals are compared with request SRVs on the hot path (`case "4.1.1":`): read
        // their bytes in place, with no String made.
        let packed: UInt32? = value.hasPointerRepresentation
            ? Self.pack(UnsafeBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
            : Self.pack(value.description.utf8)
        guard let packed else { preconditionFailure("not an SRV: \(value)") }
        self.packed = packed
    }

    /// The numbers packed 8 bits each, or nil when `bytes` is not DUIS's form.
    private static func pack(_ bytes: some Sequence<UInt8>) -> UInt32? {
        var packed: UInt32 = 0
        var parts = 0
        var current: UInt32 = 0
        var digits = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 0 && byte == UInt8(ascii: "0") { return nil }
                digits += 1
                guard digits <= 2 else { return nil }
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "."):
                guard digits > 0, parts < 2 else { return nil }
                packed = packed << 8 | current
                parts += 1
                current = 0
                digits = 0
            default:
                return nil
            }
        }
        guard digits > 0, parts > 0 else { return nil }
        packed = packed << 8 | current
        // Two numbers leave the third place empty.
        return parts == 1 ? packed << 8 : packed
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
    public var text: String {
        let third = packed & 0xFF
        var text = String(packed >> 16)
        text += "."
        text += String(packed >> 8 & 0xFF)
        if third != 0 {
            text += "."
            text += String(third)
        }
        return text
    }

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
