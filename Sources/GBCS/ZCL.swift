/// ZigBee Cluster Library values and the profile-wide commands GBCS's gas use cases
/// answer with: Read Attributes Response (attribute ID, status, and when the status is
/// success the value's type and value) and Default Response (a command and its status).
/// ZCL is little-endian; values keep their octets as sent, so they re-encode exactly.
public struct ZCLValue: Sendable, Equatable {
    /// The ZCL data type (0x20 uint8 … 0x27 uint64, 0x28 int8 … 0x2F int64, 0x30 enum8,
    /// 0x18 bitmap8 …, 0x41 octet string, 0x42 character string, 0xE2 UTC time …).
    public var type: UInt8
    /// The value's octets (for strings, without their length octet).
    public var octets: [UInt8]
    /// A string sent as ZCL's "invalid" (length 0xFF, no octets).
    public var isInvalidString: Bool

    public init(type: UInt8, octets: [UInt8], isInvalidString: Bool = false) {
        self.type = type
        self.octets = octets
        self.isInvalidString = isInvalidString
    }

    /// The size of a fixed-size type, nil for strings (and unknown types).
    static func fixedSize(_ type: UInt8) -> Int? {
        switch type {
        case 0x08...0x0F: return Int(type - 0x07)
        case 0x10: return 1
        case 0x18...0x1F: return Int(type - 0x17)
        case 0x20...0x27: return Int(type - 0x1F)
        case 0x28...0x2F: return Int(type - 0x27)
        case 0x30: return 1
        case 0x31: return 2
        case 0x38: return 2
        case 0x39: return 4
        case 0x3A: return 8
        case 0xE0, 0xE1, 0xE2: return 4
        case 0xE8, 0xE9: return 2
        case 0xEA: return 4
        case 0xF0: return 8
        case 0xF1: return 16
        default: return nil
        }
    }

    /// Unsigned integers, enums, bitmaps and times as a number.
    public var unsigned: UInt64? {
        guard let size = Self.fixedSize(type), size <= 8, octets.count == size, !(0x28...0x2F).contains(type) else { return nil }
        return octets.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Signed integers (and unsigned ones that fit) as a number.
    public var signed: Int64? {
        if (0x28...0x2F).contains(type) {
            guard let size = Self.fixedSize(type), octets.count == size else { return nil }
            let raw = octets.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let shift = UInt64(64 - 8 * size)
            return Int64(bitPattern: raw << shift) >> Int64(shift)
        }
        guard let value = unsigned, value <= UInt64(Int64.max) else { return nil }
        return Int64(value)
    }

    static func decode(type: UInt8, _ reader: inout ByteReader) throws(GBCSError) -> ZCLValue {
        let at = reader.offset
        if let size = fixedSize(type) { return ZCLValue(type: type, octets: try reader.bytes(size)) }
        switch type {
        case 0x41, 0x42:
            let length = Int(try reader.byte())
            // 0xFF is ZCL's "invalid" string: no octets follow.
            if length == 0xFF { return ZCLValue(type: type, octets: [], isInvalidString: true) }
            return ZCLValue(type: type, octets: try reader.bytes(length))
        case 0x43, 0x44:
            let length = Int(try reader.byte()) | Int(try reader.byte()) << 8
            return ZCLValue(type: type, octets: try reader.bytes(length))
        default:
            throw .unsupported(String(format: "ZCL data type %02X", type), at: at)
        }
    }

    func encode(into writer: inout ByteWriter) {
        switch type {
        case 0x41, 0x42:
            if isInvalidString {
                writer.byte(0xFF)
            } else {
                writer.byte(UInt8(truncatingIfNeeded: octets.count))
                writer.append(octets)
            }
        case 0x43, 0x44:
            writer.byte(UInt8(truncatingIfNeeded: octets.count))
            writer.byte(UInt8(truncatingIfNeeded: octets.count >> 8))
            writer.append(octets)
        default:
            writer.append(octets)
        }
    }
}

/// One record of a ZCL Read Attributes Response.
public struct ZCLAttributeRecord: Sendable, Equatable {
    public var id: UInt16
    public var status: UInt8
    /// Present when the status is success (0).
    public var value: ZCLValue?

    public init(id: UInt16, status: UInt8, value: ZCLValue?) {
        self.id = id
        self.status = status
        self.value = value
    }

    /// Decodes a Read Attributes Response payload; every octet must belong to a record.
    public static func decodeReadAttributesResponse(_ payload: [UInt8]) throws(GBCSError) -> [ZCLAttributeRecord] {
        var reader = ByteReader(payload)
        var records: [ZCLAttributeRecord] = []
        while !reader.isAtEnd {
            let id = UInt16(try reader.byte()) | UInt16(try reader.byte()) << 8
            let status = try reader.byte()
            var value: ZCLValue?
            if status == 0 {
                let type = try reader.byte()
                value = try ZCLValue.decode(type: type, &reader)
            }
            records.append(ZCLAttributeRecord(id: id, status: status, value: value))
        }
        return records
    }

    public static func encodeReadAttributesResponse(_ records: [ZCLAttributeRecord]) -> [UInt8] {
        var writer = ByteWriter(capacity: records.count * 8)
        for record in records {
            writer.byte(UInt8(truncatingIfNeeded: record.id))
            writer.byte(UInt8(truncatingIfNeeded: record.id >> 8))
            writer.byte(record.status)
            if let value = record.value {
                writer.byte(value.type)
                value.encode(into: &writer)
            }
        }
        return writer.bytes
    }
}

extension GBZComponent {
    /// ZCL's Read Attributes Response (profile-wide command 0x01).
    public var isReadAttributesResponse: Bool { isProfileWide && command == 0x01 }
    /// ZCL's Default Response (profile-wide command 0x0B).
    public var isDefaultResponse: Bool { isProfileWide && command == 0x0B }
}
