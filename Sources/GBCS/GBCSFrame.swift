import DUIS

/// Whether a GBCS message is a command, a response or an alert (the first octet of the
/// transaction ID).
public enum CRAFlag: UInt8, Sendable, Codable {
    case command = 1, response = 2, alert = 3

    public var name: String {
        switch self {
        case .command: return "command"
        case .response: return "response"
        case .alert: return "alert"
        }
    }
}

/// One GBCS message: the grouping header (General Signing, tag DF) that every message has,
/// inside the MAC header (General Ciphering, tag DD) when the message is MAC'd.
///
/// Grouping header: transaction ID (CRA flag and the originator's counter), originator and
/// recipient EUI-64s, an optional date-time, other information (the message code and,
/// for some use cases, a supplementary remote party with its counter, and then either the
/// supplementary originator counter or the supplementary party's KA certificate), the
/// content, and a signature that is absent (pre-commands), empty, or 64 octets r‖s.
///
/// MAC header: GBCS leaves DLMS's general-ciphering fields empty and carries, in its
/// ciphered content, a security control octet, a 4-octet invocation counter, the grouping
/// header and a 12-octet MAC tag.
public struct GBCSFrame: Sendable, Equatable {
    public struct MACHeader: Sendable, Equatable {
        public var securityControl: UInt8
        public var invocationCounter: UInt32
        /// The 12-octet GCM tag over the message.
        public var tag: [UInt8]

        public init(securityControl: UInt8 = 0x11, invocationCounter: UInt32 = 0, tag: [UInt8]) {
            self.securityControl = securityControl
            self.invocationCounter = invocationCounter
            self.tag = tag
        }
    }

    /// What other information carries after the message code.
    public enum Supplement: Sendable, Equatable {
        case none
        case remoteParty(id: EUI64, counter: UInt64)
        case remotePartyAndOriginatorCounter(id: EUI64, counter: UInt64, originatorCounter: UInt64)
        case remotePartyAndKACertificate(id: EUI64, counter: UInt64, certificate: [UInt8])

        public var remotePartyID: EUI64? {
            switch self {
            case .none: return nil
            case .remoteParty(let id, _), .remotePartyAndOriginatorCounter(let id, _, _), .remotePartyAndKACertificate(let id, _, _): return id
            }
        }

        public var remotePartyCounter: UInt64? {
            switch self {
            case .none: return nil
            case .remoteParty(_, let counter), .remotePartyAndOriginatorCounter(_, let counter, _), .remotePartyAndKACertificate(_, let counter, _): return counter
            }
        }

        public var originatorCounter: UInt64? {
            if case .remotePartyAndOriginatorCounter(_, _, let counter) = self { return counter }
            return nil
        }

        public var kaCertificate: [UInt8]? {
            if case .remotePartyAndKACertificate(_, _, let certificate) = self { return certificate }
            return nil
        }
    }

    public enum Signature: Sendable, Equatable {
        /// No signature field at all (a pre-command, before its user signs it).
        case absent
        /// A zero-length signature (a message that is not signed).
        case empty
        /// ECDSA P-256 r‖s, 64 octets.
        case present([UInt8])
    }

    public var macHeader: MACHeader?
    public var cra: CRAFlag
    public var originatorCounter: UInt64
    public var originator: EUI64
    public var recipient: EUI64
    /// A DLMS date-time, 12 octets, when present.
    public var dateTime: [UInt8]?
    public var messageCode: UInt16
    public var supplement: Supplement
    public var content: [UInt8]
    public var signature: Signature

    public init(macHeader: MACHeader?, cra: CRAFlag, originatorCounter: UInt64, originator: EUI64, recipient: EUI64, dateTime: [UInt8]?,
                messageCode: UInt16, supplement: Supplement, content: [UInt8], signature: Signature) {
        self.macHeader = macHeader
        self.cra = cra
        self.originatorCounter = originatorCounter
        self.originator = originator
        self.recipient = recipient
        self.dateTime = dateTime
        self.messageCode = messageCode
        self.supplement = supplement
        self.content = content
        self.signature = signature
    }

    static let generalCiphering: UInt8 = 0xDD
    static let generalSigning: UInt8 = 0xDF
    static let macLength = 12
    static let signatureLength = 64

    // MARK: - Decoding

    public static func decode(_ bytes: [UInt8]) throws(GBCSError) -> GBCSFrame {
        var reader = ByteReader(bytes)
        let frame: GBCSFrame
        let first = try peek(reader)
        if first == generalCiphering {
            frame = try decodeCiphered(&reader)
        } else {
            frame = try decodeSigning(&reader, macHeader: nil)
        }
        guard reader.isAtEnd else { throw .trailingBytes(reader.remaining) }
        return frame
    }

    private static func peek(_ reader: ByteReader) throws(GBCSError) -> UInt8 {
        var copy = reader
        return try copy.byte()
    }

    private static func decodeCiphered(_ reader: inout ByteReader) throws(GBCSError) -> GBCSFrame {
        try reader.expect(generalCiphering)
        // Transaction ID, originator and recipient system titles, date-time, other
        // information: all empty in GBCS; key-info absent.
        for _ in 0..<6 {
            let at = reader.offset
            guard try reader.byte() == 0 else { throw .unsupported("a general-ciphering field GBCS leaves empty", at: at) }
        }
        let lengthAt = reader.offset
        let length = try reader.length()
        guard length == reader.remaining else { throw .invalidLength("the ciphered content (\(length) octets, \(reader.remaining) present)", at: lengthAt) }
        guard length >= 1 + 4 + macLength else { throw .invalidLength("the ciphered content", at: lengthAt) }
        let securityControl = try reader.byte()
        let invocationCounter = UInt32(truncatingIfNeeded: try reader.uint(4))
        var inner = ByteReader(reader.bytes, from: reader.offset, to: reader.end - macLength)
        let placeholder = MACHeader(securityControl: securityControl, invocationCounter: invocationCounter, tag: [])
        var frame = try decodeSigning(&inner, macHeader: placeholder)
        guard inner.isAtEnd else { throw .trailingBytes(inner.remaining) }
        _ = try reader.bytes(inner.offset - reader.offset)
        frame.macHeader?.tag = try reader.bytes(macLength)
        return frame
    }

    private static func decodeSigning(_ reader: inout ByteReader, macHeader: MACHeader?) throws(GBCSError) -> GBCSFrame {
        try reader.expect(generalSigning)
        let transactionAt = reader.offset
        guard try reader.length() == 9 else { throw .invalidLength("the transaction ID (9 octets)", at: transactionAt) }
        let craAt = reader.offset
        let craValue = try reader.byte()
        guard let cra = CRAFlag(rawValue: craValue) else { throw .unsupported("CRA flag \(craValue)", at: craAt) }
        let counter = try reader.uint(8)
        let originator = try systemTitle(&reader)
        let recipient = try systemTitle(&reader)
        let dateAt = reader.offset
        let date = try reader.octetString()
        guard date.isEmpty || date.count == 12 else { throw .invalidLength("the date-time (0 or 12 octets)", at: dateAt) }
        let otherAt = reader.offset
        let other = try reader.octetString()
        let (code, supplement) = try otherInformation(other, at: otherAt)
        let content = try reader.octetString()
        var signature = Signature.absent
        if !reader.isAtEnd {
            let signatureAt = reader.offset
            let value = try reader.octetString()
            switch value.count {
            case 0: signature = .empty
            case signatureLength: signature = .present(value)
            default: throw .invalidLength("the signature (0 or 64 octets)", at: signatureAt)
            }
        }
        return GBCSFrame(macHeader: macHeader, cra: cra, originatorCounter: counter, originator: originator, recipient: recipient,
                         dateTime: date.isEmpty ? nil : date, messageCode: code, supplement: supplement, content: content, signature: signature)
    }

    private static func systemTitle(_ reader: inout ByteReader) throws(GBCSError) -> EUI64 {
        let at = reader.offset
        guard try reader.length() == 8 else { throw .invalidLength("a system title (8 octets)", at: at) }
        return EUI64(try reader.uint(8))
    }

    /// The message code, then: nothing; a supplementary remote party (8) and its counter
    /// (8); and after those either the supplementary originator counter (8) or the
    /// supplementary party's KA certificate (DER, longer than 8).
    private static func otherInformation(_ bytes: [UInt8], at offset: Int) throws(GBCSError) -> (UInt16, Supplement) {
        var reader = ByteReader(bytes)
        guard bytes.count == 2 || bytes.count >= 18 else { throw .invalidLength("other information (\(bytes.count) octets)", at: offset) }
        let code = UInt16(try reader.uint(2))
        guard !reader.isAtEnd else { return (code, .none) }
        let id = EUI64(try reader.uint(8))
        let counter = try reader.uint(8)
        switch reader.remaining {
        case 0: return (code, .remoteParty(id: id, counter: counter))
        case 8: return (code, .remotePartyAndOriginatorCounter(id: id, counter: counter, originatorCounter: try reader.uint(8)))
        default:
            guard reader.remaining > 8 else { throw .invalidLength("other information's supplementary fields", at: offset) }
            return (code, .remotePartyAndKACertificate(id: id, counter: counter, certificate: try reader.bytes(reader.remaining)))
        }
    }

    // MARK: - Encoding

    /// The grouping header (General Signing APDU) as it is signed and sent.
    public func groupingHeader() -> [UInt8] {
        var writer = ByteWriter(capacity: content.count + 128)
        writer.byte(Self.generalSigning)
        writer.length(9)
        writer.byte(cra.rawValue)
        writer.uint(originatorCounter, width: 8)
        writer.octetString(originator.bytes)
        writer.octetString(recipient.bytes)
        writer.octetString(dateTime ?? [])
        var other = ByteWriter(capacity: 32)
        other.uint(UInt64(messageCode), width: 2)
        if let id = supplement.remotePartyID, let counter = supplement.remotePartyCounter {
            other.append(id.bytes)
            other.uint(counter, width: 8)
        }
        if let originatorCounter = supplement.originatorCounter { other.uint(originatorCounter, width: 8) }
        if let certificate = supplement.kaCertificate { other.append(certificate) }
        writer.octetString(other.bytes)
        writer.octetString(content)
        switch signature {
        case .absent: break
        case .empty: writer.length(0)
        case .present(let value): writer.octetString(value)
        }
        return writer.bytes
    }

    /// The whole message, byte-exact with what `decode` read.
    public func encode() -> [UInt8] {
        let inner = groupingHeader()
        guard let macHeader else { return inner }
        var writer = ByteWriter(capacity: inner.count + 32)
        writer.byte(Self.generalCiphering)
        writer.append([0, 0, 0, 0, 0, 0])
        writer.length(1 + 4 + inner.count + macHeader.tag.count)
        writer.byte(macHeader.securityControl)
        writer.uint(UInt64(macHeader.invocationCounter), width: 4)
        writer.append(inner)
        writer.append(macHeader.tag)
        return writer.bytes
    }
}
