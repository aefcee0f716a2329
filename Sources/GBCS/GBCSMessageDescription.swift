import Foundation
import DUIS

/// Why a message description cannot become a message.
public struct GBCSDescriptionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A GBCS message described in JSON, for `gbsm gbcs encode`: the header fields under the
/// names `gbsm gbcs decode --json` uses, the content in hex, and what protection to add.
public struct GBCSMessageDescription: Codable, Sendable {
    /// general-ciphering (MAC'd) or general-signing (not MAC'd).
    public var frame: String
    public var cra: String
    public var message_code: String
    public var originator: String
    public var recipient: String
    public var originator_counter: UInt64
    public var date_time: String?
    public var supplementary_remote_party_id: String?
    public var supplementary_remote_party_counter: UInt64?
    public var supplementary_originator_counter: UInt64?
    /// The supplementary party's KA certificate (DER, hex), where the use case carries it.
    public var supplementary_ka_certificate: String?
    /// The content (the DLMS, GBZ or ASN.1 payload), hex.
    public var content: String
    /// sign (with the originator's DS key), empty, absent (a pre-command), or a signature
    /// made elsewhere (r‖s, 128 hex digits), kept as given.
    public var signature: String

    public init(frame: String, cra: String, message_code: String, originator: String, recipient: String, originator_counter: UInt64,
                date_time: String? = nil, supplementary_remote_party_id: String? = nil, supplementary_remote_party_counter: UInt64? = nil,
                supplementary_originator_counter: UInt64? = nil, supplementary_ka_certificate: String? = nil, content: String, signature: String) {
        self.frame = frame
        self.cra = cra
        self.message_code = message_code
        self.originator = originator
        self.recipient = recipient
        self.originator_counter = originator_counter
        self.date_time = date_time
        self.supplementary_remote_party_id = supplementary_remote_party_id
        self.supplementary_remote_party_counter = supplementary_remote_party_counter
        self.supplementary_originator_counter = supplementary_originator_counter
        self.supplementary_ka_certificate = supplementary_ka_certificate
        self.content = content
        self.signature = signature
    }

    /// The description of a frame, its signature kept as it is.
    public init(_ frame: GBCSFrame) {
        func eui(_ value: EUI64) -> String { Hex.encode(value.bytes) }
        let signature: String
        switch frame.signature {
        case .absent: signature = "absent"
        case .empty: signature = "empty"
        case .present(let value): signature = Hex.encode(value)
        }
        self.init(frame: frame.macHeader == nil ? "general-signing" : "general-ciphering", cra: frame.cra.name,
                  message_code: Hex.encode([UInt8(frame.messageCode >> 8), UInt8(frame.messageCode & 0xFF)], uppercase: true),
                  originator: eui(frame.originator), recipient: eui(frame.recipient), originator_counter: frame.originatorCounter,
                  date_time: frame.dateTime.map { Hex.encode($0) }, supplementary_remote_party_id: frame.supplement.remotePartyID.map(eui),
                  supplementary_remote_party_counter: frame.supplement.remotePartyCounter,
                  supplementary_originator_counter: frame.supplement.originatorCounter,
                  supplementary_ka_certificate: frame.supplement.kaCertificate.map { Hex.encode($0) }, content: Hex.encode(frame.content),
                  signature: signature)
    }

    /// The message: its header and content checked, signed with the originator's DS key
    /// when `signature` is `sign`, and MAC'd when `frame` is general-ciphering.
    public func frame(keys: some GBCSKeyStore) throws -> GBCSFrame {
        func eui(_ text: String, _ field: String) throws -> EUI64 {
            guard let value = EUI64(text) ?? EUI64(compactHex: text) else { throw GBCSDescriptionError("\(field): \(text) is not an EUI-64") }
            return value
        }
        func hex(_ text: String, _ field: String, limit: Int) throws -> [UInt8] {
            guard text.utf8.count <= 2 * limit else { throw GBCSDescriptionError("\(field) is longer than \(limit) octets") }
            guard let octets = Hex.decode(text) else { throw GBCSDescriptionError("\(field) is not hex") }
            return octets
        }
        guard let craFlag = [CRAFlag.command, .response, .alert].first(where: { $0.name == cra }) else { throw GBCSDescriptionError("cra is command, response or alert") }
        let code = try hex(message_code, "message_code", limit: 2)
        guard code.count == 2 else { throw GBCSDescriptionError("message_code is 4 hex digits") }
        var dateTime: [UInt8]?
        if let date_time {
            dateTime = try hex(date_time, "date_time", limit: 12)
            guard dateTime?.count == 12 else { throw GBCSDescriptionError("date_time is 12 octets (a DLMS date-time)") }
        }
        var supplement = GBCSFrame.Supplement.none
        switch (supplementary_remote_party_id, supplementary_remote_party_counter) {
        case (nil, nil):
            guard supplementary_originator_counter == nil, supplementary_ka_certificate == nil else {
                throw GBCSDescriptionError("a supplementary originator counter or KA certificate needs a supplementary remote party")
            }
        case (let id?, let counter?):
            let party = try eui(id, "supplementary_remote_party_id")
            if let certificate = supplementary_ka_certificate {
                guard supplementary_originator_counter == nil else { throw GBCSDescriptionError("give a supplementary originator counter or a KA certificate, not both") }
                let der = try hex(certificate, "supplementary_ka_certificate", limit: 4096)
                guard der.count > 8 else { throw GBCSDescriptionError("supplementary_ka_certificate is too short to be a certificate") }
                supplement = .remotePartyAndKACertificate(id: party, counter: counter, certificate: der)
            } else if let originatorCounter = supplementary_originator_counter {
                supplement = .remotePartyAndOriginatorCounter(id: party, counter: counter, originatorCounter: originatorCounter)
            } else {
                supplement = .remoteParty(id: party, counter: counter)
            }
        default:
            throw GBCSDescriptionError("a supplementary remote party needs both its ID and its counter")
        }
        let signatureMode: GBCSFrame.Signature
        switch signature {
        case "sign", "empty": signatureMode = .empty
        case "absent": signatureMode = .absent
        default:
            guard signature.utf8.count == 128, let value = Hex.decode(signature), value.count == 64 else {
                throw GBCSDescriptionError("signature is sign, empty, absent or 64 octets of r‖s in hex")
            }
            signatureMode = .present(value)
        }
        guard frame == "general-ciphering" || frame == "general-signing" else { throw GBCSDescriptionError("frame is general-ciphering or general-signing") }
        var result = GBCSFrame(macHeader: nil, cra: craFlag, originatorCounter: originator_counter, originator: try eui(originator, "originator"),
                               recipient: try eui(recipient, "recipient"), dateTime: dateTime, messageCode: UInt16(code[0]) << 8 | UInt16(code[1]),
                               supplement: supplement, content: try hex(content, "content", limit: 16 << 20), signature: signatureMode)
        if signature == "sign" {
            guard let key = keys.signingKey(of: result.originator) else { throw GBCSDescriptionError("no DS private key for \(result.originator) to sign with") }
            result = try result.signed(with: key)
        }
        if frame == "general-ciphering" {
            guard signature != "absent" else { throw GBCSDescriptionError("a pre-command (signature absent) is not MAC'd") }
            guard let key = result.macKey(keys: keys) else { throw GBCSDescriptionError("the keystore lacks a KA key this message's MAC needs") }
            result = try result.maced(with: key)
        }
        return result
    }
}

