/// A GBCS message's content, decoded: DLMS COSEM for the electricity meter and the comms
/// hub, GBZ for the gas meter and its proxy, ASN.1 (DER, lengths as sent) for the security
/// use cases.
///
/// Which one is told by the first octets: D9, DA and 0F are DLMS APDUs, 01 09 is GBZ's
/// profile, and anything else must be ASN.1. `encode()` gives back exactly the octets
/// decoded, so a message can be read, changed and sent again without drift.
public enum GBCSPayload: Sendable, Equatable {
    case dlms(DLMSAPDU)
    case gbz(GBZPayload)
    case asn1(ASN1Value)

    public var kind: String {
        switch self {
        case .dlms: return "dlms"
        case .gbz: return "gbz"
        case .asn1: return "asn1"
        }
    }

    /// Decodes a message's content. `cra` tells a GBZ alert (its code and time come
    /// before its components) from a GBZ command or response.
    public static func decode(_ content: [UInt8], cra: CRAFlag) throws(GBCSError) -> GBCSPayload {
        guard let first = content.first else { throw .truncated(needed: 1, at: 0, available: 0) }
        var reader = ByteReader(content)
        let payload: GBCSPayload
        switch first {
        case DLMSAPDU.accessRequestTag, DLMSAPDU.accessResponseTag, DLMSAPDU.dataNotificationTag:
            payload = .dlms(try DLMSAPDU.decode(&reader))
        case 0x01 where content.count >= 2 && content[1] == 0x09:
            payload = .gbz(try GBZPayload.decode(&reader, isAlert: cra == .alert))
        default:
            return .asn1(try ASN1Value.decode(content))
        }
        guard reader.isAtEnd else { throw .trailingBytes(reader.remaining) }
        return payload
    }

    public func encode() -> [UInt8] {
        switch self {
        case .dlms(let apdu):
            var writer = ByteWriter(capacity: 256)
            apdu.encode(into: &writer)
            return writer.bytes
        case .gbz(let gbz):
            var writer = ByteWriter(capacity: 256)
            gbz.encode(into: &writer)
            return writer.bytes
        case .asn1(let value):
            return value.encoded()
        }
    }

    /// The GBCS encrypted blocks the payload carries, where its structure puts them: a
    /// GBZ component with its encryption bit, and in DLMS an octet string that holds a
    /// security header (31, counter 0) right after its protection parameters.
    public var encryptedBlocks: [[UInt8]] {
        switch self {
        case .gbz(let gbz):
            return gbz.allComponents.compactMap { component in
                if case .encrypted(let block) = component.payload { return block }
                return nil
            }
        case .dlms(let apdu):
            switch apdu {
            case .accessRequest: return []
            case .accessResponse(let response): return response.data.flatMap(\.protectedBlocks)
            case .dataNotification(let notification): return notification.body.protectedBlocks
            }
        case .asn1:
            return []
        }
    }

    static func looksEncrypted(_ block: [UInt8]) -> Bool { DLMSData.isEncryptedBlock(block) }
}
