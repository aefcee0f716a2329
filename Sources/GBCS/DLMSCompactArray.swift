/// A DLMS compact array: one type description, then the elements' values without their
/// tags, in an octet string. GBCS uses it for long logs (profile data, event logs), where
/// it saves a tag on every value.
public struct DLMSCompactArray: Sendable, Equatable {
    /// The type of every element.
    public indirect enum TypeDescription: Sendable, Equatable {
        /// An array of a fixed number of elements of one type (the count is a 2-octet
        /// unsigned in a type description).
        case array(count: UInt16, of: TypeDescription)
        case structure([TypeDescription])
        case simple(DLMSData.Tag)
    }

    public var type: TypeDescription
    public var elements: [DLMSData]

    public init(type: TypeDescription, elements: [DLMSData]) {
        self.type = type
        self.elements = elements
    }

    static func decodeType(_ reader: inout ByteReader, depth: Int) throws(GBCSError) -> TypeDescription {
        guard depth <= DLMSData.maximumDepth else { throw .unsupported("a compact array type nested too deep", at: reader.offset) }
        let at = reader.offset
        let raw = try reader.byte()
        guard let tag = DLMSData.Tag(rawValue: raw) else { throw .unsupported(String(format: "compact array type %d", raw), at: at) }
        // Every type takes at least one octet of contents (no null, don't-care, empty array
        // or empty structure), so a compact array holds no more values than its contents
        // have octets: a small message cannot unfold into a huge tree.
        switch tag {
        case .array:
            let count = UInt16(truncatingIfNeeded: try reader.uint(2))
            guard count > 0 else { throw .unsupported("an empty array in a compact array's type", at: at) }
            return .array(count: count, of: try decodeType(&reader, depth: depth + 1))
        case .structure:
            let countAt = reader.offset
            let count = try reader.length()
            guard count > 0 else { throw .unsupported("an empty structure in a compact array's type", at: at) }
            guard count <= reader.remaining else { throw .invalidLength("a compact array structure type of \(count) members", at: countAt) }
            var members: [TypeDescription] = []
            members.reserveCapacity(count)
            for _ in 0..<count { members.append(try decodeType(&reader, depth: depth + 1)) }
            return .structure(members)
        case .compactArray:
            throw .unsupported("a compact array inside a compact array", at: at)
        case .null, .dontCare:
            throw .unsupported("a value of no octets in a compact array's type", at: at)
        default:
            return .simple(tag)
        }
    }

    static func decode(_ reader: inout ByteReader, depth: Int) throws(GBCSError) -> DLMSCompactArray {
        let type = try decodeType(&reader, depth: depth)
        let contentsAt = reader.offset
        let length = try reader.length()
        guard length <= reader.remaining else { throw .invalidLength("compact array contents (\(length) octets)", at: contentsAt) }
        var contents = ByteReader(reader.bytes, from: reader.offset, to: reader.offset + length)
        var elements: [DLMSData] = []
        while !contents.isAtEnd {
            let before = contents.offset
            elements.append(try value(of: type, &contents, depth: depth))
            // A type of no octets (an empty structure) would never end the loop.
            guard contents.offset > before else { throw .invalidLength("a compact array element of no octets", at: before) }
        }
        _ = try reader.bytes(length)
        return DLMSCompactArray(type: type, elements: elements)
    }

    static func value(of type: TypeDescription, _ reader: inout ByteReader, depth: Int) throws(GBCSError) -> DLMSData {
        guard depth <= DLMSData.maximumDepth else { throw .unsupported("a compact array value nested too deep", at: reader.offset) }
        switch type {
        case .array(let count, let element):
            // Each element takes at least one octet, else the type is refused below.
            guard Int(count) <= reader.remaining else { throw .invalidLength("a compact array's array of \(count)", at: reader.offset) }
            var items: [DLMSData] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<count {
                let before = reader.offset
                items.append(try value(of: element, &reader, depth: depth + 1))
                guard reader.offset > before else { throw .invalidLength("a compact array element of no octets", at: before) }
            }
            return .array(items)
        case .structure(let members):
            var items: [DLMSData] = []
            items.reserveCapacity(members.count)
            for member in members { items.append(try value(of: member, &reader, depth: depth + 1)) }
            return .structure(items)
        case .simple(let tag):
            return try DLMSData.decodeSimple(tag, &reader, at: reader.offset)
        }
    }

    static func encodeType(_ type: TypeDescription, into writer: inout ByteWriter) {
        switch type {
        case .array(let count, let element):
            writer.byte(DLMSData.Tag.array.rawValue)
            writer.uint(UInt64(count), width: 2)
            encodeType(element, into: &writer)
        case .structure(let members):
            writer.byte(DLMSData.Tag.structure.rawValue)
            writer.length(members.count)
            for member in members { encodeType(member, into: &writer) }
        case .simple(let tag):
            writer.byte(tag.rawValue)
        }
    }

    static func encodeValue(_ value: DLMSData, into writer: inout ByteWriter) {
        switch value {
        case .array(let items), .structure(let items):
            for item in items { encodeValue(item, into: &writer) }
        default:
            value.encodeSimple(into: &writer)
        }
    }

    func encode(into writer: inout ByteWriter) {
        Self.encodeType(type, into: &writer)
        var contents = ByteWriter(capacity: elements.count * 8)
        for element in elements { Self.encodeValue(element, into: &contents) }
        writer.octetString(contents.bytes)
    }
}
