/// The ASN.1 payloads of GBCS's security use cases (CS01 to CS11: certificate
/// replacement, device key generation, credentials updates, firmware activation and the
/// like): a tree of tag-length-value nodes.
///
/// GBCS says DER, but devices (and DCC's reference vectors) send some lengths in a longer
/// form than DER's shortest (`82 00 83` for 131). swift-asn1 rightly refuses those as DER
/// and would re-encode them shorter, so this reader keeps each length's form as sent:
/// definite lengths only, each checked against the octets left, nesting bounded, and the
/// tree re-encodes to exactly the octets read.
public struct ASN1Value: Sendable, Equatable {
    /// The identifier octets (class, constructed bit, tag number), as sent.
    public var tag: [UInt8]
    /// How many octets the length took beyond the shortest form (0 for DER).
    public var lengthPadding: Int
    public var content: Content

    public indirect enum Content: Sendable, Equatable {
        case primitive([UInt8])
        case constructed([ASN1Value])
    }

    public static let maximumDepth = 24

    public init(tag: [UInt8], lengthPadding: Int = 0, content: Content) {
        self.tag = tag
        self.lengthPadding = lengthPadding
        self.content = content
    }

    public var isConstructed: Bool { (tag.first ?? 0) & 0x20 != 0 }
    /// Universal INTEGER, OCTET STRING, SEQUENCE and so on, by their single-octet tags.
    public var tagNumber: UInt8 { tag.count == 1 ? tag[0] & 0x1F : 0x1F }
    public var tagClass: UInt8 { (tag.first ?? 0) >> 6 }

    public var children: [ASN1Value] {
        if case .constructed(let children) = content { return children }
        return []
    }

    public var octets: [UInt8]? {
        if case .primitive(let octets) = content { return octets }
        return nil
    }

    /// An INTEGER's (or ENUMERATED's) value, when it fits in 64 bits.
    public var integer: Int64? {
        guard let octets, !octets.isEmpty, octets.count <= 8 else { return nil }
        var value = Int64(Int8(bitPattern: octets[0]))
        for octet in octets.dropFirst() { value = value << 8 | Int64(octet) }
        return value
    }

    public static func decode(_ bytes: [UInt8]) throws(GBCSError) -> ASN1Value {
        var reader = ByteReader(bytes)
        let value = try decode(&reader, depth: 0)
        guard reader.isAtEnd else { throw .trailingBytes(reader.remaining) }
        return value
    }

    static func decode(_ reader: inout ByteReader, depth: Int) throws(GBCSError) -> ASN1Value {
        guard depth <= maximumDepth else { throw .unsupported("ASN.1 nested more than \(maximumDepth) deep", at: reader.offset) }
        let tagAt = reader.offset
        var tag = [try reader.byte()]
        if tag[0] & 0x1F == 0x1F {
            // High tag number: base-128 octets, the last without its top bit; at most 4.
            repeat {
                guard tag.count <= 4 else { throw .unsupported("an ASN.1 tag longer than 5 octets", at: tagAt) }
                tag.append(try reader.byte())
            } while tag[tag.count - 1] & 0x80 != 0
        }
        let lengthAt = reader.offset
        let first = try reader.byte()
        var length = Int(first)
        var padding = 0
        if first == 0x80 { throw .unsupported("an ASN.1 indefinite length", at: lengthAt) }
        if first > 0x80 {
            let count = Int(first & 0x7F)
            guard count <= 4 else { throw .invalidLength("an ASN.1 length of \(count) octets", at: lengthAt) }
            let value = Int(try reader.uint(count))
            let shortest = value < 0x80 ? 0 : (value.bitWidth - value.leadingZeroBitCount + 7) / 8
            padding = count - shortest
            length = value
        }
        guard length <= reader.remaining else { throw .invalidLength("ASN.1 content of \(length) octets, \(reader.remaining) left", at: lengthAt) }
        if tag[0] & 0x20 != 0 {
            var inner = ByteReader(reader.bytes, from: reader.offset, to: reader.offset + length)
            var children: [ASN1Value] = []
            while !inner.isAtEnd { children.append(try decode(&inner, depth: depth + 1)) }
            _ = try reader.bytes(length)
            return ASN1Value(tag: tag, lengthPadding: padding, content: .constructed(children))
        }
        return ASN1Value(tag: tag, lengthPadding: padding, content: .primitive(try reader.bytes(length)))
    }

    func encode(into writer: inout ByteWriter) {
        writer.append(tag)
        var body = ByteWriter(capacity: 64)
        switch content {
        case .primitive(let octets): body.append(octets)
        case .constructed(let children): for child in children { child.encode(into: &body) }
        }
        let length = body.bytes.count
        if length < 0x80 && lengthPadding == 0 {
            writer.byte(UInt8(length))
        } else {
            let shortest = length < 0x80 ? 0 : (length.bitWidth - length.leadingZeroBitCount + 7) / 8
            // A decoded value's padding keeps the count at most 4; a hand-built one is held there.
            let count = min(4, max(shortest + max(lengthPadding, 0), shortest, 1))
            writer.byte(0x80 | UInt8(count))
            writer.uint(UInt64(length), width: count)
        }
        writer.append(body.bytes)
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 128)
        encode(into: &writer)
        return writer.bytes
    }
}
