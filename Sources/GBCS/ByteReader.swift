/// A cursor over untrusted bytes: every read is checked against what is left, so no
/// length in a message can reach past its end, and nothing is allocated from a length
/// before the bytes it promises are there.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from offset: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    mutating func byte() throws(GBCSError) -> UInt8 {
        guard offset < end else { throw .truncated(needed: 1, at: offset, available: 0) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bytes(_ count: Int) throws(GBCSError) -> [UInt8] {
        guard count >= 0, count <= remaining else { throw .truncated(needed: count, at: offset, available: remaining) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func expect(_ tag: UInt8) throws(GBCSError) {
        let at = offset
        let found = try byte()
        guard found == tag else { throw .unexpectedTag(expected: tag, found: found, at: at) }
    }

    mutating func uint(_ width: Int) throws(GBCSError) -> UInt64 {
        try bytes(width).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// An A-XDR length: one octet below 0x80, else 0x81–0x84 and that many octets, in the
    /// shortest form (so a message has one encoding, and re-encodes byte-exact).
    mutating func length() throws(GBCSError) -> Int {
        let at = offset
        let first = try byte()
        if first < 0x80 { return Int(first) }
        let count = Int(first & 0x7F)
        guard (1...4).contains(count) else { throw .invalidLength("an A-XDR length of \(count) octets", at: at) }
        let value = Int(try uint(count))
        guard value >= 0x80, value >> (8 * (count - 1)) != 0 else { throw .nonMinimalLength(at: at) }
        return value
    }

    /// A length-prefixed octet string.
    mutating func octetString() throws(GBCSError) -> [UInt8] {
        let count = try length()
        return try bytes(count)
    }
}

/// Writes what `ByteReader` reads.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func append(_ more: [UInt8]) { bytes += more }

    mutating func uint(_ value: UInt64, width: Int) {
        for index in stride(from: width - 1, through: 0, by: -1) { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    mutating func length(_ value: Int) {
        if value < 0x80 {
            bytes.append(UInt8(value))
            return
        }
        var octets: [UInt8] = []
        var rest = value
        while rest > 0 {
            octets.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        bytes.append(0x80 | UInt8(octets.count))
        bytes += octets
    }

    mutating func octetString(_ value: [UInt8]) {
        length(value.count)
        bytes += value
    }
}
