import Crypto
import DUIS
import Foundation
import GBCS
import Storage
import Synchronization

/// Why DCC refuses a critical request: the rules of the Transform service (command variant
/// 4) and of the send of a signed pre-command (5, 6, 7), each with the DUIS code it
/// answers. DUIS's own list of codes gives no meanings for these cases, so gbsm's choice
/// is written here, once: a GBCS signature that does not prove the user is an
/// authentication failure (E1, as the XML signature's is); a send of a pre-command DCC
/// did not issue, or that the user altered, is an invalid request (E12); a second send of
/// the same pre-command is a replay (E1, as a repeated counter is).
public enum CriticalCommandRule: String, Sendable, CaseIterable {
    /// The Transform service has no builder for the SRV yet.
    case transformUnsupported = "transform-unsupported"
    /// A value of the request that its GBCS command cannot carry.
    case transformValue = "transform-value"
    /// An `ExecutionDateTime` the SRV cannot have (DUIS lets the device hold only the
    /// "Device" pattern's SRVs), or later than a device holds a command for.
    case transformFutureDated = "transform-future-dated"
    /// No pre-command was issued for the send's RequestID (or it was for another SRV).
    case notIssued = "precommand-not-issued"
    /// The pre-command was sent already.
    case replayed = "precommand-replayed"
    /// `GBCSPayload` is not a GBCS general-signing message.
    case unreadable = "precommand-unreadable"
    /// The pre-command came back without a signature.
    case unsigned = "precommand-unsigned"
    /// What came back is not the pre-command DCC issued (header or content changed).
    case altered = "precommand-altered"
    /// The signature does not verify with the user's GBCS digital-signing certificate.
    case signature = "precommand-signature"
    /// The pre-command was issued longer ago than a pre-command lives
    /// (`CriticalCommandDesk.lifetime`): transform the request again.
    case expired = "precommand-expired"

    public var code: ResponseCode {
        switch self {
        case .transformUnsupported, .transformValue, .transformFutureDated, .notIssued, .unreadable, .unsigned, .altered, .expired: return .E12
        case .signature, .replayed: return .E1
        }
    }

    func refusal(_ reason: String) -> Refusal { Refusal(code, rule: RuleID(rawValue: rawValue), reason) }
}

/// DCC's desk for critical commands. The Transform service turns a critical request into
/// the GBCS pre-command the user signs (`transform`); the Send Command service takes the
/// signed pre-command back under the same RequestID, checks that it is the one issued,
/// unaltered and signed by the user, and lets it through exactly once (`claim`, `check`).
/// Pure apart from the claims: the store's record of what was issued is passed in.
public final class CriticalCommandDesk: Sendable {
    let keys: any GBCSKeyStore
    /// What DCC knows of a device a command names besides its target (a join's other
    /// device): its type, and its KA certificate.
    let otherDevice: @Sendable (EUI64) -> CriticalCommandBuilder.OtherDevice?
    /// RequestIDs whose send is being checked and committed now: a second send of the
    /// same pre-command waits for nothing, it is refused as a replay.
    private let claims = Mutex(Set<String>())

    /// How long an issued pre-command may be sent: a day. A send captured on its way and
    /// held back cannot be replayed later, and an abandoned transform does not stay
    /// sendable for ever.
    static let lifetime: Int64 = 24 * 3_600_000

    /// Whether a pre-command issued at `issued` may still be sent at `time`.
    static func isLive(_ record: PreCommandRecord, at time: Timestamp) -> Bool {
        record.sentAt == nil && time.milliseconds - record.issuedAt.milliseconds <= lifetime
    }

    /// The largest signed pre-command accepted: the largest pre-command GBCS makes (a
    /// tariff, about 1.2 KB; credentials with certificates, about 2 KB) with room to spare.
    static let maxSignedBytes = 16 << 10

    init(keys: any GBCSKeyStore, otherDevice: @escaping @Sendable (EUI64) -> CriticalCommandBuilder.OtherDevice? = { _ in nil }) {
        self.keys = keys
        self.otherDevice = otherDevice
    }

    /// The desk of a hub: keys and device certificates from its SMKI repository, device
    /// types from its inventory.
    convenience init(smki: SMKIRepository, inventory: Inventory) {
        self.init(keys: smki) { eui in
            guard let device = inventory.device(eui) else { return nil }
            let record = smki.search(device: eui).first { $0.usage == .keyAgreement }
            let certificate = record.flatMap { try? smki.retrieve(serial: $0.serial)?.certificate }
            return CriticalCommandBuilder.OtherDevice(type: device.type, keyAgreementCertificate: certificate?.der)
        }
    }

    /// The pre-command for a critical request received at `time`. An `ExecutionDateTime`
    /// future-dates it at the device where DUIS lets the device hold the SRV ("Device"
    /// pattern): its time goes into the command's activation times (3000-12-31 and later:
    /// GBCS's cancellation); other critical SRVs cannot be future-dated.
    func transform(header: RequestHeader, body: ElementTree, device: DeviceRecord, at time: Timestamp) throws(Refusal) -> GBCSFrame {
        let id = header.requestID
        var body = body
        var executionTime = ExecutionTime.now
        if body.children.first?.name == "ExecutionDateTime" {
            let text = body.children.removeFirst().text
            guard header.variant.futureDating == .device else {
                throw CriticalCommandRule.transformFutureDated.refusal(
                    "\(header.variant.srv) \(header.variant.name) cannot be future-dated at the device (DUIS's request matrix); send it without ExecutionDateTime")
            }
            executionTime = try Self.executionTime(text, at: time)
        }
        body.children.removeAll { $0.name == "ExecutionDateTime" }
        let frame: GBCSFrame?
        do {
            let other = body.value("OtherDeviceID").flatMap { EUI64($0) }.flatMap(otherDevice)
            frame = try CriticalCommandBuilder.preCommand(srv: header.variant.srv, body: body, user: id.originator, device: id.target,
                                                          deviceType: device.type, counter: id.counter, otherDevice: other,
                                                          executionTime: executionTime)
        } catch {
            throw CriticalCommandRule.transformValue.refusal(error.reason)
        }
        guard let frame else {
            throw CriticalCommandRule.transformUnsupported.refusal(
                "gbsm's Transform service does not build the GBCS command of \(header.variant.srv) \(header.variant.name) yet (built: \(CriticalCommandBuilder.srvs.map(\.text).joined(separator: ", ")))")
        }
        return frame
    }

    /// A request's `ExecutionDateTime` text, received at `time`, as the device is to run
    /// it: 3000-12-31 or later as written (whatever its offset) cancels; a time not after
    /// `time` is now.
    static func executionTime(_ text: String, at time: Timestamp) throws(Refusal) -> ExecutionTime {
        if let day = Timestamp(xsDate: String(text.filter { !$0.isWhitespace }.prefix(10))), day >= ExecutionTime.cancellationDate { return .cancel }
        guard let requested = Timestamp(xsDateTime: text) else {
            throw CriticalCommandRule.transformFutureDated.refusal("ExecutionDateTime \(untrusted(text, limit: 40)) is not an xs:dateTime")
        }
        guard let executionTime = ExecutionTime(executionDateTime: requested, at: time) else {
            throw CriticalCommandRule.transformFutureDated.refusal(
                "ExecutionDateTime \(untrusted(text, limit: 40)) is after \(ExecutionTime.latest.iso8601), the latest a device holds a command for")
        }
        return executionTime
    }

    /// Claims a RequestID's send; false when another send of it is being handled now.
    func claim(_ requestID: String) -> Bool { claims.withLock { $0.insert(requestID).inserted } }

    /// Ends a claim, once the send is committed (or refused).
    func release(_ requestID: String) { _ = claims.withLock { $0.remove(requestID) } }

    /// Checks a signed pre-command against the one issued for its RequestID: readable,
    /// signed, the issued octets exactly, and signed with the user's GBCS digital-signing
    /// key. Returns the signed frame.
    func check(signedPayload text: String, issued: PreCommandRecord, user: EUI64) throws(Refusal) -> GBCSFrame {
        let compact = text.filter { !$0.isWhitespace }
        guard compact.utf8.count <= (Self.maxSignedBytes / 3 + 1) * 4, let data = Data(base64Encoded: compact) else {
            throw CriticalCommandRule.unreadable.refusal("GBCSPayload is not base64 of at most \(Self.maxSignedBytes) octets")
        }
        let signed: GBCSFrame
        do {
            signed = try GBCSFrame.decode([UInt8](data))
        } catch {
            throw CriticalCommandRule.unreadable.refusal("GBCSPayload is not a GBCS message: \(error)")
        }
        guard signed.macHeader == nil else {
            throw CriticalCommandRule.unreadable.refusal("GBCSPayload carries a MAC header: send the signed pre-command as the Transform service issued it, DCC adds the MAC")
        }
        guard case .present = signed.signature else {
            throw CriticalCommandRule.unsigned.refusal("the pre-command is not signed: sign its grouping header with your GBCS digital-signing key (gbsm gbcs sign, or gbcs-parser's signGroupingHeader)")
        }
        // The signed octets without the signature are the pre-command as issued (whose
        // signature field GBCS leaves out until it is signed).
        var unsigned = signed
        unsigned.signature = .absent
        guard unsigned.encode() == issued.preCommand else {
            throw CriticalCommandRule.altered.refusal("the signed pre-command differs from the one the Transform service issued for \(issued.requestID)")
        }
        guard signed.originator == user else {
            throw CriticalCommandRule.altered.refusal("the pre-command names \(signed.originator) as its originator, not \(user)")
        }
        switch signed.verifySignature(keys: keys) {
        case .valid:
            return signed
        case .noKey:
            throw CriticalCommandRule.signature.refusal("no GBCS digital-signing certificate of \(user) is known to DCC")
        case .invalid, .empty, .absent:
            throw CriticalCommandRule.signature.refusal("the pre-command's signature does not verify with \(user)'s GBCS digital-signing certificate")
        }
    }

    /// The command DCC sends to the device: the signed pre-command in the MAC header,
    /// MAC'd by DCC's access control broker for the device.
    func command(_ signed: GBCSFrame) throws(Refusal) -> GBCSFrame {
        guard let key = signed.macKey(keys: keys) else {
            throw Refusal(.E20, rule: .deviceKeys, "no KA keys for DCC's access control broker and \(signed.recipient)")
        }
        do {
            return try signed.maced(with: key)
        } catch {
            throw Refusal(.E20, rule: .deviceKeys, "the command could not be MAC'd for \(signed.recipient): \(error)")
        }
    }
}
