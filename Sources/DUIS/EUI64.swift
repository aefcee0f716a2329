/// An EUI-64 identifier as DUIS writes it: eight hexadecimal octets joined by hyphens,
/// for example `90-B3-D5-1F-30-01-00-00`. Stored as one `UInt64` so that fleets of
/// millions of devices stay compact.
public struct EUI64: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses `XX-XX-XX-XX-XX-XX-XX-XX` (either case), the DUIS form.
    public init?<S: StringProtocol>(_ text: S) {
        guard text.utf8.count == 23 else { return nil }
        self.init(anyForm: text)
    }

    /// Parses the 16 hex digits without separators that SMKI keystores use as keys.
    public init?<S: StringProtocol>(compactHex text: S) {
        guard text.utf8.count == 16 else { return nil }
        self.init(anyForm: text)
    }

    private init?<S: StringProtocol>(anyForm text: S) {
        var value: UInt64 = 0
        var digits = 0
        let utf8 = text.utf8
        let count = utf8.count
        if count == 23 {
            var index = 0
            for byte in utf8 {
                if index % 3 == 2 {
                    guard byte == UInt8(ascii: "-") else { return nil }
                } else {
                    guard let nibble = EUI64.nibble(byte) else { return nil }
                    value = (value << 4) | UInt64(nibble)
                    digits += 1
                }
                index += 1
            }
        } else if count == 16 {
            for byte in utf8 {
                guard let nibble = EUI64.nibble(byte) else { return nil }
                value = (value << 4) | UInt64(nibble)
                digits += 1
            }
        } else {
            return nil
        }
        guard digits == 16 else { return nil }
        self.rawValue = value
    }

    @inline(__always)
    static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte &- UInt8(ascii: "A") &+ 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
        default: return nil
        }
    }

    /// The DUIS form, upper case with hyphens.
    public var description: String {
        String(unsafeUninitializedCapacity: 23) { buffer in
            writeHyphenated(into: buffer)
            return 23
        }
    }

    /// The 16 lower-case hex digits used as keystore keys.
    public var compactHex: String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            let hex: StaticString = "0123456789abcdef"
            hex.withUTF8Buffer { digits in
                for i in 0..<16 {
                    let shift = UInt64(60 - 4 * i)
                    buffer[i] = digits[Int((rawValue >> shift) & 0xF)]
                }
            }
            return 16
        }
    }

    /// The eight octets, most significant first.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: rawValue >> UInt64(56 - 8 * $0)) }
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for byte in bytes { value = (value << 8) | UInt64(byte) }
        self.rawValue = value
    }

    @inline(__always)
    func writeHyphenated(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let hex: StaticString = "0123456789ABCDEF"
        hex.withUTF8Buffer { digits in
            var out = 0
            for octet in 0..<8 {
                let byte = UInt8(truncatingIfNeeded: rawValue >> UInt64(56 - 8 * octet))
                buffer[out] = digits[Int(byte >> 4)]
                buffer[out + 1] = digits[Int(byte & 0xF)]
                if octet < 7 { buffer[out + 2] = UInt8(ascii: "-") }
                out += 3
            }
        }
    }

    public static func < (lhs: EUI64, rhs: EUI64) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension EUI64: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = EUI64(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an EUI-64: \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
