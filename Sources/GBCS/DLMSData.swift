/// A DLMS COSEM `Data` value in A-XDR (IEC 62056-6-2 / the Green Book): the values every
/// GBCS DLMS payload carries, from registers and profile buffers to tariff tables.
///
/// Decoded to this tree and encoded back byte-exact. Values keep their wire form where
/// two encodings mean the same (a boolean's octet, a bit string's unused bits), so a
/// message re-encodes to exactly its own bytes. Nesting is bounded (`maximumDepth`) and
/// every count is checked against the octets left before anything is reserved, so a
/// hostile length can neither exhaust the stack nor allocate beyond the message.
public indirect enum DLMSData: Sendable, Equatable {
    case null
    case array([DLMSData])
    case structure([DLMSData])
    /// The octet as sent (A-XDR: zero is false, anything else true).
    case boolean(UInt8)
    case bitString(BitString)
    case doubleLong(Int32)
    case doubleLongUnsigned(UInt32)
    case octetString([UInt8])
    case visibleString([UInt8])
    case utf8String([UInt8])
    case bcd(UInt8)
    case integer(Int8)
    case long(Int16)
    case unsigned(UInt8)
    case longUnsigned(UInt16)
    case compactArray(DLMSCompactArray)
    case long64(Int64)
    case long64Unsigned(UInt64)
    case enumerated(UInt8)
    case float32(UInt32)
    case float64(UInt64)
    case dateTime([UInt8])
    case date([UInt8])
    case time([UInt8])
    case dontCare

    /// A bit string: its length in bits and the octets that hold them (the unused low
    /// bits of the last octet kept as sent).
    public struct BitString: Sendable, Equatable {
        public var bitCount: Int
        public var octets: [UInt8]

        public init(bitCount: Int, octets: [UInt8]) {
            self.bitCount = bitCount
            self.octets = octets
        }

        /// Bit `index`, counted from the most significant bit of the first octet.
        public func bit(_ index: Int) -> Bool {
            guard index >= 0, index < bitCount, index / 8 < octets.count else { return false }
            return octets[index / 8] & (0x80 >> UInt8(index % 8)) != 0
        }
    }

    /// The A-XDR tag of each choice.
    public enum Tag: UInt8, Sendable {
        case null = 0, array = 1, structure = 2, boolean = 3, bitString = 4, doubleLong = 5, doubleLongUnsigned = 6
        case octetString = 9, visibleString = 10, utf8String = 12, bcd = 13, integer = 15, long = 16, unsigned = 17
        case longUnsigned = 18, compactArray = 19, long64 = 20, long64Unsigned = 21, enumerated = 22, float32 = 23
        case float64 = 24, dateTime = 25, date = 26, time = 27, dontCare = 255
    }

    public static let maximumDepth = 24

    public var tag: Tag {
        switch self {
        case .null: return .null
        case .array: return .array
        case .structure: return .structure
        case .boolean: return .boolean
        case .bitString: return .bitString
        case .doubleLong: return .doubleLong
        case .doubleLongUnsigned: return .doubleLongUnsigned
        case .octetString: return .octetString
        case .visibleString: return .visibleString
        case .utf8String: return .utf8String
        case .bcd: return .bcd
        case .integer: return .integer
        case .long: return .long
        case .unsigned: return .unsigned
        case .longUnsigned: return .longUnsigned
        case .compactArray: return .compactArray
        case .long64: return .long64
        case .long64Unsigned: return .long64Unsigned
        case .enumerated: return .enumerated
        case .float32: return .float32
        case .float64: return .float64
        case .dateTime: return .dateTime
        case .date: return .date
        case .time: return .time
        case .dontCare: return .dontCare
        }
    }

    // MARK: - Reading values

    /// The value as an integer, for any integer, enum or unsigned choice.
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): return Int64(value)
        case .long(let value): return Int64(value)
        case .doubleLong(let value): return Int64(value)
        case .long64(let value): return value
        case .unsigned(let value), .enumerated(let value), .bcd(let value): return Int64(value)
        case .longUnsigned(let value): return Int64(value)
        case .doubleLongUnsigned(let value): return Int64(value)
        case .long64Unsigned(let value): return value <= UInt64(Int64.max) ? Int64(value) : nil
        default: return nil
        }
    }

    public var octets: [UInt8]? {
        switch self {
        case .octetString(let value), .visibleString(let value), .utf8String(let value): return value
        default: return nil
        }
    }

    public var elements: [DLMSData]? {
        switch self {
        case .array(let items), .structure(let items): return items
        case .compactArray(let compact): return compact.elements
        default: return nil
        }
    }

    // MARK: - Decoding

    static func decode(_ reader: inout ByteReader, depth: Int = 0) throws(GBCSError) -> DLMSData {
        guard depth <= maximumDepth else { throw .unsupported("DLMS data nested more than \(maximumDepth) deep", at: reader.offset) }
        let at = reader.offset
        let raw = try reader.byte()
        guard let tag = Tag(rawValue: raw) else { throw .unsupported(String(format: "DLMS data choice %d", raw), at: at) }
        switch tag {
        case .array, .structure:
            let countAt = reader.offset
            let count = try reader.length()
            // Every element takes at least one octet.
            guard count <= reader.remaining else { throw .invalidLength("a DLMS \(tag == .array ? "array" : "structure") of \(count) elements", at: countAt) }
            var items: [DLMSData] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try decode(&reader, depth: depth + 1)) }
            return tag == .array ? .array(items) : .structure(items)
        case .compactArray:
            return .compactArray(try DLMSCompactArray.decode(&reader, depth: depth + 1))
        default:
            return try decodeSimple(tag, &reader, at: at)
        }
    }

    /// A value of a simple (not array or structure) type, without its tag: how compact
    /// array contents carry them.
    static func decodeSimple(_ tag: Tag, _ reader: inout ByteReader, at: Int) throws(GBCSError) -> DLMSData {
        switch tag {
        case .null: return .null
        case .boolean: return .boolean(try reader.byte())
        case .bitString:
            let bits = try reader.length()
            let octets = try reader.bytes((bits + 7) / 8)
            return .bitString(BitString(bitCount: bits, octets: octets))
        case .doubleLong: return .doubleLong(Int32(truncatingIfNeeded: try reader.uint(4)))
        case .doubleLongUnsigned: return .doubleLongUnsigned(UInt32(truncatingIfNeeded: try reader.uint(4)))
        case .octetString: return .octetString(try reader.octetString())
        case .visibleString: return .visibleString(try reader.octetString())
        case .utf8String: return .utf8String(try reader.octetString())
        case .bcd: return .bcd(try reader.byte())
        case .integer: return .integer(Int8(bitPattern: try reader.byte()))
        case .long: return .long(Int16(truncatingIfNeeded: try reader.uint(2)))
        case .unsigned: return .unsigned(try reader.byte())
        case .longUnsigned: return .longUnsigned(UInt16(truncatingIfNeeded: try reader.uint(2)))
        case .long64: return .long64(Int64(bitPattern: try reader.uint(8)))
        case .long64Unsigned: return .long64Unsigned(try reader.uint(8))
        case .enumerated: return .enumerated(try reader.byte())
        case .float32: return .float32(UInt32(truncatingIfNeeded: try reader.uint(4)))
        case .float64: return .float64(try reader.uint(8))
        case .dateTime: return .dateTime(try reader.bytes(12))
        case .date: return .date(try reader.bytes(5))
        case .time: return .time(try reader.bytes(4))
        case .dontCare: return .dontCare
        case .array, .structure, .compactArray:
            throw .unsupported("a DLMS \(tag) where a simple type is needed", at: at)
        }
    }

    // MARK: - Encoding

    func encode(into writer: inout ByteWriter) {
        writer.byte(tag.rawValue)
        switch self {
        case .array(let items), .structure(let items):
            writer.length(items.count)
            for item in items { item.encode(into: &writer) }
        case .compactArray(let compact):
            compact.encode(into: &writer)
        default:
            encodeSimple(into: &writer)
        }
    }

    /// The value without its tag.
    func encodeSimple(into writer: inout ByteWriter) {
        switch self {
        case .null, .dontCare, .array, .structure, .compactArray: break
        case .boolean(let value), .bcd(let value), .unsigned(let value), .enumerated(let value): writer.byte(value)
        case .bitString(let bits):
            writer.length(bits.bitCount)
            writer.append(bits.octets)
        case .doubleLong(let value): writer.uint(UInt64(UInt32(bitPattern: value)), width: 4)
        case .doubleLongUnsigned(let value): writer.uint(UInt64(value), width: 4)
        case .octetString(let value), .visibleString(let value), .utf8String(let value): writer.octetString(value)
        case .integer(let value): writer.byte(UInt8(bitPattern: value))
        case .long(let value): writer.uint(UInt64(UInt16(bitPattern: value)), width: 2)
        case .longUnsigned(let value): writer.uint(UInt64(value), width: 2)
        case .long64(let value): writer.uint(UInt64(bitPattern: value), width: 8)
        case .long64Unsigned(let value): writer.uint(value, width: 8)
        case .float32(let value): writer.uint(UInt64(value), width: 4)
        case .float64(let value): writer.uint(value, width: 8)
        case .dateTime(let value), .date(let value), .time(let value): writer.append(value)
        }
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 64)
        encode(into: &writer)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(GBCSError) -> DLMSData {
        var reader = ByteReader(bytes)
        let value = try decode(&reader)
        guard reader.isAtEnd else { throw .trailingBytes(reader.remaining) }
        return value
    }
}
