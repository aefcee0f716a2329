import Crypto
import DUIS
import Foundation
import GBCS
import MMC

/// Puts a device's alert into a GBCS alert frame, as the device sends it (CRA flag 3, the
/// device as originator, the user as recipient, the device's own alert counter, no
/// date-time in the header).
///
/// The payload, by how GBCS lays out the alert:
/// - the electricity meter (and the comms hub and other DLMS devices): a DLMS
///   DATA-NOTIFICATION, invoke-id 0x20 ‖ the counter's low 24 bits, no date-time, whose
///   body is a structure of the alert code (long-unsigned), its time (a 12-octet COSEM
///   date-time) and the alert's own data;
/// - the gas meter and its proxy: a GBZ alert, profile 0109, a component count (0, or 1
///   where the alert carries use case data), the alert code and its time in seconds since
///   2000, and then the use case data;
/// - the security alerts (firmware activation, credentials update): an ASN.1 SEQUENCE of
///   the alert code (INTEGER), a GeneralizedTime and the outcome.
///
/// The message code is the alert's use case (RTDS: 00CA, 00CB, 00CC, 00CD, 00CF, 0121,
/// 0018…), else GBCS's Generic Critical Alert (1000) for the critical alert codes (0x8Fxx)
/// and Generic Non Critical Alert (1001) for the rest (0x80xx, 0x81xx). A critical alert is
/// signed with the device's DS key (its signature, no MAC); any other is MAC'd with the KA
/// keys of the device and the recipient (key usage 03, the CRA flag), signature empty.
public struct GBCSAlertWriter: Sendable {
    /// The device's own private keys and the remote parties' certificates.
    public let keys: any GBCSKeyStore

    public init(keys: any GBCSKeyStore) {
        self.keys = keys
    }

    /// The GBCS alert frame of `alert`, for `recipient`, numbered `counter` (the device's
    /// originator counter). `deviceType` tells which payload the device writes (GBZ for
    /// the gas meter and its proxy, DLMS for the others; the CHF's alerts are all
    /// non-critical); nil: a gas meter when the alert's header says it comes from one,
    /// else an electricity meter.
    public func frame(_ alert: DeviceAlert, recipient: EUI64, counter: UInt64, deviceType: DeviceType? = nil) throws(GBCSAnswerError) -> GBCSFrame {
        let type = deviceType ?? (alert.header.fromGSME ? .gsme : .esme)
        let layout = try GBCSAlerts.layout(alert, deviceType: type, counter: counter)
        let device = alert.header.originator
        var frame = GBCSFrame(macHeader: nil, cra: .alert, originatorCounter: counter, originator: device, recipient: recipient, dateTime: nil,
                              messageCode: layout.messageCode, supplement: .none, content: layout.payload.encode(), signature: .empty)
        if layout.critical {
            guard let key = keys.signingKey(of: device) else { throw .noKey("the DS key of \(device)") }
            do {
                frame = try frame.signed(with: key)
            } catch {
                throw .noKey("ECDSA refused to sign: \(error)")
            }
        } else {
            guard let secret = keys.sharedSecret(of: device, with: recipient) else { throw .noKey("the KA keys of \(device) and \(recipient) for the MAC") }
            let key = GBCSCrypto.deriveKey(secret: secret, originator: device, usage: CRAFlag.alert.rawValue, counter: counter, recipient: recipient)
            do {
                frame = try frame.maced(with: key)
            } catch {
                throw .noKey("AES-GCM refused the MAC: \(error)")
            }
        }
        return frame
    }
}

/// How each alert is laid out in GBCS, and the pieces the layouts share.
public enum GBCSAlerts {
    /// An alert's message code, whether it is signed (critical) or MAC'd, and its payload.
    public struct Layout: Sendable, Equatable {
        public var messageCode: UInt16
        public var critical: Bool
        public var payload: GBCSPayload
    }

    /// GBCS's message codes of alerts without a use case of their own.
    public static let genericCritical: UInt16 = 0x1000
    public static let genericNonCritical: UInt16 = 0x1001

    /// Whether an alert code is critical: GBCS numbers its critical alerts 0x8Fxx and the
    /// non-critical ones 0x80xx and 0x81xx (the range ECS25r and GCS20r say the
    /// non-critical behaviours use). The comms hub's alerts are all non-critical (CS14,
    /// DBCH06 to DBCH11 are SME.A.NC).
    public static func isCritical(_ code: UInt16, deviceType: DeviceType) -> Bool {
        deviceType != .chf && code & 0xFF00 == 0x8F00
    }

    /// The codes whose GBCS use case carries data the alert must hold (a payload), so the
    /// alert cannot be written without it.
    static let needPayload: [UInt16: String] = [
        0x8F66: "the future-dated command's outcome", 0x8F67: "the future-dated command's outcome",
        0x8F0A: "the billing data log entry (ECS68, GCS53)", 0x8F86: "the APC limit (ECS101)",
        0x8F35: "the interruption and restoration times (ECS80)", 0x8F36: "the interruption and restoration times (ECS80)",
        0x8F37: "the interruption and restoration times (ECS80)", 0x8F38: "the interruption and restoration times (ECS80)",
        0x8F39: "the interruption and restoration times (ECS80)", 0x8F3A: "the interruption and restoration times (ECS80)",
        0x8F3B: "the interruption and restoration times (ECS80)", 0x8F3C: "the interruption and restoration times (ECS80)",
        0x8F72: "the manufacturer image hash (firmware verification)", 0x81A0: "the integrity warning (00F0, 00F2)",
    ]

    /// The comms hub's Sub GHz alerts, each its own use case with data the alert must hold.
    static let subGHzUseCases: [UInt16: String] = [
        0x8F20: "DBCH06", 0x8F26: "DBCH07", 0x8F28: "DBCH08", 0x8F2A: "DBCH09", 0x8F2C: "DBCH10", 0x8F2D: "DBCH11",
    ]

    /// The layout of `alert` from a device of `deviceType`, numbered `counter`.
    public static func layout(_ alert: DeviceAlert, deviceType: DeviceType, counter: UInt64) throws(GBCSAnswerError) -> Layout {
        let code = alert.code
        let gas = deviceType == .gsme || deviceType == .gpf
        guard let payload = alert.payload else {
            if deviceType == .chf, let useCase = subGHzUseCases[code] {
                throw .shape("alert \(alert.hexCode) is \(useCase), whose data the alert does not hold")
            }
            if let what = needPayload[code] { throw .shape("alert \(alert.hexCode) carries \(what) in GBCS, and the alert has no payload") }
            // The comms hub's whitelist alert (CS14): the use case's code; gbsm's hub does
            // not give the log it carries.
            let messageCode: UInt16
            if code == 0x8F12 && deviceType == .chf {
                messageCode = 0x0018
            } else {
                messageCode = isCritical(code, deviceType: deviceType) ? genericCritical : genericNonCritical
            }
            let content: GBCSPayload = gas ? try gbz(code, alert.at, data: nil) : dlms(code, alert.at, counter: counter, data: [])
            return Layout(messageCode: messageCode, critical: isCritical(code, deviceType: deviceType), payload: content)
        }
        switch payload.name {
        case "FutureDatedCommandOutcomeDeviceAlert":
            guard code == 0x8F66 || code == 0x8F67 else { throw .shape("a future-dated outcome under alert \(alert.hexCode), not 8F66 or 8F67") }
            guard payload.children.count == 1, let outcome = payload.children.first else { throw .shape("a future-dated outcome holds one alert") }
            switch outcome.name {
            case "COSEMFutureDatedAlert":
                return Layout(messageCode: 0x00CC, critical: true, payload: dlms(code, alert.at, counter: counter, data: [.octetString(try cosemInstruction(outcome))]))
            case "GBZFutureDatedAlert":
                return Layout(messageCode: 0x00CD, critical: true, payload: try gbz(code, alert.at, data: try gbzInstruction(outcome)))
            case "FirmwareActivationDeviceAlert":
                return Layout(messageCode: 0x00CA, critical: true, payload: .asn1(try firmwareActivation(code, alert.at, outcome)))
            case "UpdateSecurityCredentialsDeviceAlert":
                return Layout(messageCode: 0x00CB, critical: true, payload: .asn1(try credentialsUpdate(code, alert.at, outcome)))
            default:
                throw .shape("a future-dated outcome \(outcome.name) GBCS has no layout for")
            }
        case "FirmwareVerificationDeviceAlert":
            guard code == 0x8F72 || code == 0x8F1C else { throw .shape("a firmware verification under alert \(alert.hexCode)") }
            let hash = try hexValue(payload.child("ManufacturerImageHash"), "ManufacturerImageHash", count: nil)
            guard !hash.isEmpty, hash.count < 0x80 else { throw .shape("a manufacturer image hash of \(hash.count) octets") }
            // Firmware Distribution Receipt Alert: GSME 00CF (RTDS FDRA-ZigBee), ESME 00CE.
            if gas { return Layout(messageCode: 0x00CF, critical: true, payload: try gbz(code, alert.at, data: [0x09, UInt8(hash.count)] + hash)) }
            return Layout(messageCode: 0x00CE, critical: true, payload: dlms(code, alert.at, counter: counter, data: [.octetString(hash)]))
        case "LimitAPCLevelCommandProcessedDeviceAlert":
            guard code == 0x8F86, !gas else { throw .shape("an APC limit under alert \(alert.hexCode) from a \(deviceType.rawValue)") }
            return Layout(messageCode: 0x0121, critical: true, payload: dlms(code, alert.at, counter: counter, data: try apcLimit(payload)))
        case "SupplyOutageRestoreAlert":
            guard (0x8F35...0x8F3C).contains(code), !gas else { throw .shape("a supply outage restoration under alert \(alert.hexCode) from a \(deviceType.rawValue)") }
            let interruption = try GBCSAnswers.timestamp(payload.child("interruptionValue"), "SupplyOutageRestoreAlert/interruptionValue")
            let restoration = try GBCSAnswers.timestamp(payload.child("restorationValue"), "SupplyOutageRestoreAlert/restorationValue")
            return Layout(messageCode: 0x0067, critical: true, payload: dlms(code, alert.at, counter: counter, data: [
                .octetString(GBCSAnswers.dateTime(interruption)), .octetString(GBCSAnswers.dateTime(restoration)),
            ]))
        default:
            throw .shape("alert \(alert.hexCode)'s payload \(payload.name) has no GBCS layout in gbsm")
        }
    }

    // MARK: - Payloads

    /// A DLMS alert: DATA-NOTIFICATION, invoke-id 0x20 ‖ the counter's low 24 bits, date-time
    /// absent, body structure {alert code long-unsigned, time octet-string(12), data…}.
    static func dlms(_ code: UInt16, _ time: Timestamp, counter: UInt64, data: [DLMSData]) -> GBCSPayload {
        let invokeID = 0x2000_0000 | UInt32(truncatingIfNeeded: counter & 0x00FF_FFFF)
        let body = DLMSData.structure([.longUnsigned(code), .octetString(GBCSAnswers.dateTime(time))] + data)
        return .dlms(.dataNotification(DLMSAPDU.DataNotification(invokeID: invokeID, dateTime: [], body: body)))
    }

    /// A GBZ alert: profile 0109, a component count (1 with use case data, else 0), the
    /// code, UTC seconds since 2000 and the use case data.
    /// (`GBZPayload.Alert` has no public initialiser, so the octets are written here and
    /// read back as the payload they are.)
    static func gbz(_ code: UInt16, _ time: Timestamp, data: [UInt8]?) throws(GBCSAnswerError) -> GBCSPayload {
        let seconds = GBCSAnswers.seconds2000(time)
        var octets: [UInt8] = [0x01, 0x09, data == nil ? 0 : 1, UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code)]
        octets += bigEndian(UInt64(seconds)).suffix(4)
        octets += data ?? []
        do {
            return try GBCSPayload.decode(octets, cra: .alert)
        } catch {
            throw .shape("the GBZ alert \(Hex.encode(octets, uppercase: true)) does not read back: \(error)")
        }
    }

    /// A future-dated DLMS command's instruction: the command's message code (2), its
    /// originator counter (8), and the COSEM attribute it ran: class (2), OBIS (6),
    /// attribute (1); 19 octets.
    static func cosemInstruction(_ node: DataNode) throws(GBCSAnswerError) -> [UInt8] {
        let messageCode = try hexValue(node.child("FutureDatedCommandMessageCode"), "FutureDatedCommandMessageCode", count: 2)
        let counter = try unsignedCounter(node.child("FutureDatedCommandOriginatorCounter"), "FutureDatedCommandOriginatorCounter")
        guard let instruction = node.child("DLMSCOSEMFDInstructionIdentification") else { throw .shape("COSEMFutureDatedAlert lacks DLMSCOSEMFDInstructionIdentification") }
        let classID = try hexValue(instruction.child("ClassId"), "ClassId", count: 2)
        let instance = try hexValue(instruction.child("InstanceId"), "InstanceId", count: 6)
        let attribute = try hexValue(instruction.child("AttributeId"), "AttributeId", count: 1)
        return messageCode + bigEndian(counter) + classID + instance + attribute
    }

    /// A future-dated GBZ command's instruction: a length (14), the command's message code
    /// (2), its originator counter (8), the extended header's cluster (2), the ZCL frame
    /// control (1) and command (1).
    static func gbzInstruction(_ node: DataNode) throws(GBCSAnswerError) -> [UInt8] {
        let messageCode = try hexValue(node.child("FutureDatedCommandMessageCode"), "FutureDatedCommandMessageCode", count: 2)
        let counter = try unsignedCounter(node.child("FutureDatedCommandOriginatorCounter"), "FutureDatedCommandOriginatorCounter")
        guard let instruction = node.child("GBZFDInstructionIdentification") else { throw .shape("GBZFutureDatedAlert lacks GBZFDInstructionIdentification") }
        let cluster = try hexValue(instruction.child("ExtendedHeaderClusterID"), "ExtendedHeaderClusterID", count: 2)
        let frameControl = try hexValue(instruction.child("FrameControl"), "FrameControl", count: 1)
        let command = try hexValue(instruction.child("CommandIdentifier"), "CommandIdentifier", count: 1)
        return [14] + messageCode + bigEndian(counter) + cluster + frameControl + command
    }

    /// ECS101 (Limit APC [n] Level Command processed): the period's start and end as
    /// COSEM date-times around the controller's selector (unsigned: 0x10 + n, or 0x20 + n
    /// with input from the controlled load, as ECS47e's script selector) and the level
    /// the controller is left at (unsigned, 0…100).
    static func apcLimit(_ node: DataNode) throws(GBCSAnswerError) -> [DLMSData] {
        let start = try GBCSAnswers.timestamp(node.child("APCLimitPeriodStart"), "APCLimitPeriodStart")
        let end = try GBCSAnswers.timestamp(node.child("APCLimitPeriodEnd"), "APCLimitPeriodEnd")
        let controller = try GBCSAnswers.integer(node, child: "AuxiliaryControllerN")
        guard (1...5).contains(controller) else { throw .shape("AuxiliaryControllerN \(controller) is not 1–5") }
        let level = try GBCSAnswers.integer(node, child: "ResultingLevel")
        guard (0...100).contains(level) else { throw .shape("ResultingLevel \(level) is not 0–100") }
        let input = node.child("InputFromControlledLoad") != nil
        let selector = UInt8(truncatingIfNeeded: (input ? 0x20 : 0x10) + controller)
        return [.unsigned(selector), .octetString(GBCSAnswers.dateTime(start)), .octetString(GBCSAnswers.dateTime(end)),
                .unsigned(UInt8(truncatingIfNeeded: level))]
    }

    /// CS06's future-dated activation (00CA): SEQUENCE {alert code INTEGER, GeneralizedTime
    /// (when it ran), the command's originator counter INTEGER, SEQUENCE {activate image
    /// response code INTEGER (0 success, 1 noImageHeld, 2 hashMismatch, 3
    /// activationFailure), firmware version OCTET STRING (empty when not given)}}.
    static func firmwareActivation(_ code: UInt16, _ time: Timestamp, _ node: DataNode) throws(GBCSAnswerError) -> ASN1Value {
        if let executed = node.child("ExecutionDateTime") {
            let at = try GBCSAnswers.timestamp(executed, "ExecutionDateTime")
            guard at.milliseconds / 1000 == time.milliseconds / 1000 else {
                throw .shape("ExecutionDateTime \(at.iso8601) is not the alert's time \(time.iso8601), the one time GBCS carries")
            }
        }
        let counter = try unsignedCounter(node.child("OriginatorCounterFromCommand"), "OriginatorCounterFromCommand")
        guard let response = node.child("ActivateImageResponseCode") else { throw .shape("FirmwareActivationDeviceAlert lacks ActivateImageResponseCode") }
        let codes = ["success", "noImageHeld", "hashMismatch", "activationFailure"]
        let number: Int
        if let attribute = response.attribute("ResponseCode") {
            guard let value = Int(attribute), codes.indices.contains(value) else { throw .shape("activate image response code \(attribute)") }
            number = value
        } else {
            guard let name = response.child("ASN1Status")?.text, let index = codes.firstIndex(of: name) else { throw .shape("ActivateImageResponseCode has no code") }
            number = index
        }
        if let name = response.child("ASN1Status")?.text, name != codes[number] { throw .shape("activate image response code \(number) is \(codes[number]), not \(name)") }
        let version = try node.child("FirmwareVersion").map { (version) throws(GBCSAnswerError) in try hexValue(version, "FirmwareVersion", count: nil) } ?? []
        guard version.count <= 4 else { throw .shape("a firmware version of \(version.count) octets") }
        return sequence([integer(Int64(code)), generalizedTime(time), unsignedInteger(counter),
                         sequence([integer(Int64(number)), primitive(0x04, version)])])
    }

    /// CS02b's future-dated credentials update (00CB): SEQUENCE {alert code INTEGER,
    /// GeneralizedTime, execution outcome SEQUENCE {the authorising command's originator
    /// counter INTEGER, credentials replacement mode INTEGER, SEQUENCE OF sequence number
    /// changes {role INTEGER, floor INTEGER, [SEQUENCE OF specialist floors {usage
    /// INTEGER (0 top-up), floor INTEGER}]}, SEQUENCE OF replacement outcomes {affected
    /// cell {role INTEGER, key usage BIT STRING, [cell usage INTEGER (1 top-up)]}, status
    /// ENUMERATED, existing subject OCTET STRING (8), existing key identifier, new subject,
    /// new key identifier}}}. Lengths of 128 octets and more in two octets, as devices send them.
    static func credentialsUpdate(_ code: UInt16, _ time: Timestamp, _ node: DataNode) throws(GBCSAnswerError) -> ASN1Value {
        guard let outcome = node.child("UpdateSecurityCredentialsExecutionOutcome") else { throw .shape("UpdateSecurityCredentialsDeviceAlert lacks its execution outcome") }
        let counter = try unsignedCounter(outcome.child("AuthorisingRemotePartyOriginatorCounter"), "AuthorisingRemotePartyOriginatorCounter")
        let modes = ["SupplierBySupplier": 2, "NetworkOperatorByNetworkOperator": 3, "ACBByACB": 4, "SupplierByTransCoS": 7]
        guard let modeName = outcome.child("CredentialsReplacementMode")?.text, let mode = modes[modeName] else {
            throw .shape("credentials replacement mode \(outcome.child("CredentialsReplacementMode")?.text ?? "absent")")
        }
        var changes: [ASN1Value] = []
        for change in outcome.all("RemotePartySeqNumberChange") {
            var parts = [integer(try role(change.child("RemotePartyRole"))),
                         integer(try GBCSAnswers.integer(change, child: "RemotePartyFloorSeqNumber"))]
            if change.child("RemotePartyPrepaymentTopUpFloorSeqNumber") != nil {
                parts.append(sequence([sequence([integer(0), integer(try GBCSAnswers.integer(change, child: "RemotePartyPrepaymentTopUpFloorSeqNumber"))])]))
            }
            changes.append(sequence(parts))
        }
        var replacements: [ASN1Value] = []
        for replacement in outcome.all("ReplacementOutcome") {
            let usages: [String: (UInt8, UInt8, Int64?)] = ["DigitalSigning": (7, 0x80, nil), "KeyAgreement": (3, 0x08, nil), "KeyAgreementTopUp": (3, 0x08, 1),
                                                           "KeyCertSign": (2, 0x04, nil)]
            guard let usageName = replacement.child("CertificateType")?.text, let usage = usages[usageName] else {
                throw .shape("certificate type \(replacement.child("CertificateType")?.text ?? "absent")")
            }
            var cell = [integer(try role(replacement.child("RemotePartyRole"))), primitive(0x03, [usage.0, usage.1])]
            if let cellUsage = usage.2 { cell.append(integer(cellUsage)) }
            guard let status = replacement.child("StatusCode"), let statusText = status.attribute("ResponseCode"), let statusCode = UInt8(statusText),
                  [0, 5, 10, 17, 25, 30, 127].contains(statusCode) else {
                throw .shape("a replacement outcome's status code \(replacement.child("StatusCode")?.attribute("ResponseCode") ?? "absent")")
            }
            replacements.append(sequence([
                sequence(cell), primitive(0x0A, [statusCode]),
                primitive(0x04, try euiBytes(replacement.child("ExistingRemotePartyID"), "ExistingRemotePartyID")),
                primitive(0x04, try base64(replacement.child("ExistingCertificateHash"), "ExistingCertificateHash")),
                primitive(0x04, try euiBytes(replacement.child("NewRemotePartyID"), "NewRemotePartyID")),
                primitive(0x04, try base64(replacement.child("NewCertificateHash"), "NewCertificateHash")),
            ]))
        }
        return sequence([integer(Int64(code)), generalizedTime(time),
                         sequence([unsignedInteger(counter), integer(Int64(mode)), sequence(changes), sequence(replacements)])])
    }

    /// GBCS's remote party role numbers.
    static func role(_ node: DataNode?) throws(GBCSAnswerError) -> Int64 {
        let roles: [String: Int64] = ["Root": 0, "Recovery": 1, "Supplier": 2, "NetworkOperator": 3, "ACB": 4, "TransCoS": 5, "LoadController": 8]
        guard let name = node?.text, let number = roles[name] else { throw .shape("remote party role \(node?.text ?? "absent")") }
        return number
    }

    // MARK: - Values

    /// Octets written in hex (MMC's xs:hexBinary), `count` of them where given.
    static func hexValue(_ node: DataNode?, _ what: String, count: Int?) throws(GBCSAnswerError) -> [UInt8] {
        guard let text = node?.text, text.utf8.count % 2 == 0, let octets = Hex.decode(text) else { throw .shape("\(what) is not hex (\(node?.text ?? "absent"))") }
        if let count, octets.count != count { throw .shape("\(what) is \(octets.count) octets, not \(count)") }
        return octets
    }

    /// An originator counter (xs:nonNegativeInteger, 8 octets in GBCS).
    static func unsignedCounter(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> UInt64 {
        guard let text = node?.text, let value = UInt64(text) else { throw .shape("\(what) is not a counter (\(node?.text ?? "absent"))") }
        return value
    }

    static func euiBytes(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let text = node?.text, let eui = EUI64(text) ?? EUI64(compactHex: text) else { throw .shape("\(what) is not an EUI-64 (\(node?.text ?? "absent"))") }
        return eui.bytes
    }

    static func base64(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let text = node?.text, let data = Data(base64Encoded: text) else { throw .shape("\(what) is not base64 (\(node?.text ?? "absent"))") }
        return Array(data)
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: value >> UInt64($0)) }
    }

    // MARK: - ASN.1

    /// An ASN.1 INTEGER: the shortest two's complement.
    /// An unsigned value as an ASN.1 INTEGER (a counter may use all 64 bits: a leading 00
    /// keeps it positive).
    static func unsignedInteger(_ value: UInt64) -> ASN1Value {
        var octets = bigEndian(value)
        while octets.count > 1, octets[0] == 0, octets[1] & 0x80 == 0 { octets.removeFirst() }
        if let first = octets.first, first & 0x80 != 0 { octets.insert(0, at: 0) }
        return primitive(0x02, octets)
    }

    static func integer(_ value: Int64) -> ASN1Value {
        var octets = bigEndian(UInt64(bitPattern: value))
        while octets.count > 1, (octets[0] == 0 && octets[1] & 0x80 == 0) || (octets[0] == 0xFF && octets[1] & 0x80 != 0) { octets.removeFirst() }
        return primitive(0x02, octets)
    }

    static func primitive(_ tag: UInt8, _ octets: [UInt8]) -> ASN1Value {
        ASN1Value(tag: [tag], lengthPadding: padding(octets.count), content: .primitive(octets))
    }

    /// A SEQUENCE of `children`.
    static func sequence(_ children: [ASN1Value]) -> ASN1Value {
        let length = children.reduce(0) { $0 + $1.encoded().count }
        return ASN1Value(tag: [0x30], lengthPadding: padding(length), content: .constructed(children))
    }

    /// Devices write lengths of 128 to 255 in two octets (`82 00 xx`), not DER's one.
    static func padding(_ length: Int) -> Int { (0x80...0xFF).contains(length) ? 1 : 0 }

    /// `YYYYMMDDhhmmssZ`, GBCS's GeneralizedTime.
    static func generalizedTime(_ time: Timestamp) -> ASN1Value {
        let stamp = GBCSAnswers.dateTime(time)
        let year = Int(stamp[0]) << 8 | Int(stamp[1])
        func digits(_ value: Int, _ count: Int) -> [UInt8] {
            var text = String(value)
            while text.count < count { text = "0" + text }
            return Array(text.utf8.suffix(count))
        }
        let octets = digits(year, 4) + digits(Int(stamp[2]), 2) + digits(Int(stamp[3]), 2) + digits(Int(stamp[5]), 2) + digits(Int(stamp[6]), 2)
            + digits(Int(stamp[7]), 2) + [UInt8(ascii: "Z")]
        return primitive(0x18, octets)
    }
}
