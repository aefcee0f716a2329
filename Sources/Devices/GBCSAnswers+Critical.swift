import DUIS
import Foundation
import GBCS
import MMC

/// GBCS answers: the inverse of Parse and Correlate's `CriticalAnswers`, the answers to
/// critical commands (which `GBCSAnswerWriter` signs with the device's key).
///
/// Most only say the device did it: DLMS, a null value and a result per request; GBZ, a
/// ZCL Default Response per command component. Each repeats the command's requests (their
/// number and kind) or components (cluster, sequence number, command), and falls back on
/// the use case's table as DCC builds it when the command did not come as GBCS. A refusal
/// is the first request failing (result 1; ZCL status C0, hardware failure) and the rest
/// not done (result 250, other reason; GBZ `FF 01`), as RTDS's ERROR vectors show it.
///
/// A future-dated or cancelling command is answered in the same shape as an immediate one
/// (the device accepts it; alert 8F66 or 8F67 says later how it went), so these encoders
/// write that too; only CS06's such acceptance differs (an ASN.1 NULL, written for a
/// success that carries no response code).
///
/// Not here: GCS03 (1.6 on the gas meter), whose answer is the Prepayment cluster's
/// Change Payment Mode Response, the meter's friendly credit, its calendar ID and its
/// emergency credit limit and threshold, none of which MMC's empty `UpdatePaymentModeRsp`
/// (nor the command) carries.
extension GBCSAnswers {
    static let criticalTable: [String: GBCSAnswerEncoder] = {
        var table: [String: GBCSAnswerEncoder] = [:]
        for (name, layout) in acknowledgedLayouts { table[name] = acknowledged(layout) }
        table["ECS47"] = auxiliaryLoad
        table["ECS70"] = clockSynchronisation
        for (name, layout) in acknowledgedComponents { table[name] = defaultResponses(layout) }
        table["GCS32"] = gasSupplyDisabled
        table["GCS28Commission"] = gasClockSynchronisation
        table["CS06"] = firmwareActivation
        table["CS02c"] = credentialObject(code: "IssueCredentialsResponseCode", object: "CertificationRequest")
        table["CS02d"] = certificateUpdate
        table["CS02e"] = credentialObject(code: "RetrieveDeviceSecurityCredentialsStatusCode", object: "Certificate")
        return table
    }()

    // MARK: DLMS

    /// The kind of a DLMS request, which is all of it an answer repeats.
    enum RequestKind {
        case get, set, action
    }

    /// Requests of these kinds, for answering a command that did not come as GBCS (the
    /// attribute each names does not reach the answer).
    static func requests(_ kinds: [RequestKind]) -> [DLMSAPDU.RequestSpecification] {
        let placeholder = DLMSAPDU.Descriptor(classID: 0, instance: [0, 0, 0, 0, 0, 0], member: 0)
        return kinds.map { kind in
            switch kind {
            case .get: return .get(placeholder)
            case .set: return .set(placeholder)
            case .action: return .action(placeholder)
            }
        }
    }

    static func sets(_ count: Int) -> [RequestKind] { Array(repeating: .set, count: count) }

    /// The requests of each DLMS use case answered with results only, as GBCS's table has
    /// them with every optional row (the kinds, in order, of RTDS's commands).
    static let acknowledgedLayouts: [String: [RequestKind]] = [
        "ECS01a": sets(21), // 1.1.1: calendar, scripts, thresholds, prices, activation times
        "ECS01b": sets(4), // 1.2.1: TOU and block prices, their activation times
        "ECS01c": sets(8), // 1.1.2: the secondary element's calendar and prices
        "ECS01d": sets(2), // 1.2.2: the secondary element's prices, their activation time
        "ECS02": sets(3), // 1.6: payment mode, register activations, activation time
        "ECS04a": [.action], // 1.5: the meter balance adjusted
        "ECS05": [.action], // 1.7: the block counter matrix reset
        "ECS07": sets(5) + Array(repeating: .action, count: 5), // 2.3: debt settings, then adjustments
        "ECS08": sets(18), // 2.1: prepayment settings and their activation times
        "ECS08a": sets(18),
        "ECS09": [.action], // 2.5: emergency credit activated
        "ECS28a": sets(8), // 6.4.1: load limit settings and their activation times
        "ECS30": sets(1), // 6.8: the billing calendar
        "ECS30a": sets(1),
        "ECS38": sets(1), // 7.12: the randomised offset limit
        "ECS42": [.action], // 7.1, 7.2, 7.3: the disconnect control
        "ECS43": [.action],
        "ECS44": [.action],
        "ECS46a": sets(5), // 6.14.1: the five switches' descriptions
        "ECS46c": sets(9), // 6.14.2: switch names, calendar, special days, activation times
        "ECS46d": sets(4), // 6.14.3: controllers' calendar, special days, activation times
        "ECS47a": [.set, .set, .action], // 7.13: level and period, then the script
        "ECS47e": [.set, .set, .action], // 7.16: likewise for an APC's limit
        "ECS48": sets(1), // 6.26: the daily block counter reset
        "ECS81": sets(1), // 6.25: the supply tamper state
    ]

    /// A result and a null value per request: all succeeded, or the device's refusal.
    static func acknowledged(_ layout: [RequestKind]) -> GBCSAnswerEncoder {
        { _, context throws(GBCSAnswerError) in
            acknowledgement(context, context.requests ?? requests(layout))
        }
    }

    static func acknowledgement(_ context: GBCSAnswerContext, _ requests: [DLMSAPDU.RequestSpecification]) -> GBCSAnswerBody {
        guard context.succeeded else { return refusal(context, requests) }
        return dlms(context, requests.map { _ in .null }, successes(requests))
    }

    /// A refused DLMS command: the first request failed (result 1), the rest were not
    /// done (250, other reason); a null value each.
    static func refusal(_ context: GBCSAnswerContext, _ requests: [DLMSAPDU.RequestSpecification]) -> GBCSAnswerBody {
        let results = requests.enumerated().map { index, request in refusalResult(request, index == 0 ? 1 : 250) }
        return dlms(context, requests.map { _ in .null }, results)
    }

    /// ECS47 (7.5, 7.6: the switch's state set and the switch script run; 7.8: the
    /// script alone, back to its calendar).
    static let auxiliaryLoad: GBCSAnswerEncoder = { _, context throws(GBCSAnswerError) in
        acknowledgement(context, context.requests ?? requests(context.srv == "7.8" ? [.action] : [.set, .action]))
    }

    /// ECS70 (6.11, 8.1.1 on the electricity meter): the clock's status set, the time
    /// adjusted (two actions), then the clock's time (date-time) and status (unsigned:
    /// DLMS clock status bits, 0 reliable) read back.
    static let clockSynchronisation: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = context.requests ?? requests([.set, .action, .action, .get, .get])
        guard context.succeeded else { return refusal(context, requests) }
        guard requests.count == 5 else { throw .shape("a clock synchronisation answers 5 requests, not \(requests.count)") }
        let time = try timestamp(body.child("DeviceTime"), "DeviceTime")
        guard let status = body.child("Electricity")?.child("ElecClockTimeStatus") else { throw .shape("a clock synchronisation without ElecClockTimeStatus") }
        let code: UInt8 = try fit(try attributeInteger(status, "TimeStatusCode"), "TimeStatusCode")
        return dlms(context, [.null, .null, .null, .octetString(dateTime(time)), .unsigned(code)], successes(requests))
    }

    /// An attribute's number.
    static func attributeInteger(_ node: DataNode, _ name: String) throws(GBCSAnswerError) -> Int64 {
        guard let text = node.attribute(name), let value = Int64(text) else { throw .shape("\(node.name)@\(name) is not a number (\(node.attribute(name) ?? "absent"))") }
        return value
    }

    // MARK: GBZ

    /// One command component as the answer repeats it: its cluster, whether it went from
    /// the cluster's server (the answer then goes to it), its command and sequence number.
    struct CommandComponent {
        var cluster: UInt16
        var fromServer: Bool
        var command: UInt8
        var sequenceNumber: UInt8
    }

    /// The command components of each GBZ use case answered with Default Responses, as
    /// DCC builds them (sequence numbers 0, 1, 2… in order):
    static let acknowledgedComponents: [String: [CommandComponent]] = {
        func components(_ parts: [(UInt16, Bool, UInt8)]) -> [CommandComponent] {
            parts.enumerated().map { index, part in
                CommandComponent(cluster: part.0, fromServer: part.1, command: part.2, sequenceNumber: UInt8(truncatingIfNeeded: index))
            }
        }
        return [
            // 1.1.1 (TOU): Calendar cluster Publish Calendar, Day Profile ×4, Week Profile ×2,
            // Seasons, Special Days; Price cluster Publish Tariff Information, Price Matrix.
            "GCS01a": components([(0x0707, true, 0x00), (0x0707, true, 0x01), (0x0707, true, 0x01), (0x0707, true, 0x01), (0x0707, true, 0x01),
                                  (0x0707, true, 0x02), (0x0707, true, 0x02), (0x0707, true, 0x03), (0x0707, true, 0x04),
                                  (0x0700, true, 0x04), (0x0700, true, 0x05)]),
            // 2.3: Prepayment cluster Change Debt ×3.
            "GCS04": components([(0x0705, false, 0x02), (0x0705, false, 0x02), (0x0705, false, 0x02)]),
            // 6.6: Price cluster Publish Conversion Factor, Publish Calorific Value.
            "GCS23": components([(0x0700, true, 0x02), (0x0700, true, 0x03)]),
            // 6.7: Metering cluster Set Uncontrolled Flow Threshold, Set Supply Status.
            "GCS24": components([(0x0702, false, 0x0E), (0x0702, false, 0x0D)]),
            // 1.5: Prepayment cluster Credit Adjustment.
            "GCS40a": components([(0x0705, false, 0x05)]),
            "GCS40d": components([(0x0705, false, 0x05)]),
        ]
    }()

    /// The command's components, else the use case's.
    static func commandComponents(_ context: GBCSAnswerContext, _ layout: [CommandComponent]) -> [CommandComponent] {
        guard let components = context.commandComponents, !components.isEmpty else { return layout }
        return components.map { CommandComponent(cluster: $0.cluster, fromServer: $0.isFromServer, command: $0.command, sequenceNumber: $0.sequenceNumber) }
    }

    /// A GBZ answer of these components, the last one marked so in its control field.
    static func gbz(_ parts: [(cluster: UInt16, frameControl: UInt8, sequenceNumber: UInt8, command: UInt8, payload: [UInt8])])
        throws(GBCSAnswerError) -> GBCSAnswerBody {
        let count: UInt8 = try fit(Int64(parts.count), "the number of GBZ components")
        let components = parts.enumerated().map { index, part in
            GBZComponent(control: index == parts.count - 1 ? 0x01 : 0x00, cluster: part.cluster, frameControl: part.frameControl,
                         sequenceNumber: part.sequenceNumber, command: part.command, payload: .plain(part.payload))
        }
        return GBCSAnswerBody(.gbz(GBZPayload(componentCount: count, components: components)))
    }

    /// ZCL Default Responses to `components` (profile-wide, towards the command's sender,
    /// its sequence number, the command ID and status): success for each, or the first
    /// failed (C0, hardware failure) and the rest not done (`FF 01`).
    static func defaultResponses(_ context: GBCSAnswerContext, _ components: [CommandComponent]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        try gbz(components.enumerated().map { index, component in
            let payload: [UInt8] = context.succeeded ? [component.command, 0x00] : index == 0 ? [component.command, 0xC0] : [0xFF, 0x01]
            return (component.cluster, component.fromServer ? 0x00 : 0x08, component.sequenceNumber, 0x0B, payload)
        })
    }

    static func defaultResponses(_ layout: [CommandComponent]) -> GBCSAnswerEncoder {
        { _, context throws(GBCSAnswerError) in try defaultResponses(context, commandComponents(context, layout)) }
    }

    /// GCS32 (7.2 on the gas meter): the Metering cluster's Supply Status Response to
    /// Change Supply (cluster-specific, from the server): the command's provider ID and
    /// issuer event ID, its implementation date-time (UTCTime, 0 now) and the supply
    /// status now (enum8, 0 off). A command that did not come as GBCS gives provider 0 and,
    /// as DCC numbers issuer events, the device's time in seconds since 2000.
    static let gasSupplyDisabled: GBCSAnswerEncoder = { _, context throws(GBCSAnswerError) in
        let command = context.commandComponents?.first { $0.cluster == 0x0702 && $0.command == 0x0B }
        let sequenceNumber = command?.sequenceNumber ?? 0
        guard context.succeeded else {
            return try defaultResponses(context, [CommandComponent(cluster: 0x0702, fromServer: false, command: 0x0B, sequenceNumber: sequenceNumber)])
        }
        var provider: [UInt8] = [0, 0, 0, 0]
        let seconds = context.seconds2000
        var issuer: [UInt8] = [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: seconds >> $0) }
        var implementation: [UInt8] = [0, 0, 0, 0]
        if let command {
            // Change Supply: provider ID, issuer event ID, request date-time,
            // implementation date-time (uint32 each), proposed supply status, control bits.
            guard case .plain(let payload) = command.payload, payload.count == 18 else { throw .shape("the Change Supply command is not 18 plain octets") }
            provider = Array(payload[0..<4])
            issuer = Array(payload[4..<8])
            implementation = Array(payload[12..<16])
        }
        return try gbz([(0x0702, 0x09, sequenceNumber, 0x0C, provider + issuer + implementation + [0x00])])
    }

    // MARK: ASN.1

    /// An ASN.1 INTEGER, in the fewest octets.
    static func asn1Integer(_ value: Int64) -> ASN1Value {
        var octets = stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: value >> Int64($0)) }
        while octets.count > 1, (octets[0] == 0x00 && octets[1] & 0x80 == 0) || (octets[0] == 0xFF && octets[1] & 0x80 != 0) {
            octets.removeFirst()
        }
        return ASN1Value(tag: [0x02], content: .primitive(octets))
    }

    static func asn1Sequence(_ children: [ASN1Value]) -> ASN1Value { ASN1Value(tag: [0x30], content: .constructed(children)) }

    /// A GeneralizedTime as GBCS writes it: YYYYMMDDHHMMSSZ, UTC, whole seconds.
    static func generalizedTime(_ time: Timestamp) throws(GBCSAnswerError) -> ASN1Value {
        let (year, month, day) = time.day.civil
        guard (0...9999).contains(year) else { throw .shape("year \(year) does not fit a GeneralizedTime") }
        let seconds = Int((time.milliseconds - time.day.start.milliseconds) / 1000)
        func digits(_ value: Int, _ count: Int) -> [UInt8] {
            (0..<count).reversed().map { place in
                var divisor = 1
                for _ in 0..<place { divisor *= 10 }
                return UInt8(truncatingIfNeeded: 0x30 + value / divisor % 10)
            }
        }
        let text = digits(year, 4) + digits(month, 2) + digits(day, 2) + digits(seconds / 3600, 2) + digits(seconds / 60 % 60, 2) + digits(seconds % 60, 2)
        return ASN1Value(tag: [0x18], content: .primitive(text + [UInt8(ascii: "Z")]))
    }

    /// The response code an ASN.1 answer carries: the element's `ResponseCode`, else
    /// success, or `refused` for a refusal that does not say why. A code that says
    /// otherwise than whether the device succeeded is a fault of the answer.
    static func responseCode(_ node: DataNode?, _ context: GBCSAnswerContext, refused: Int64) throws(GBCSAnswerError) -> Int64 {
        guard let node else { return context.succeeded ? 0 : refused }
        let code = try attributeInteger(node, "ResponseCode")
        guard (code == 0) == context.succeeded else {
            throw .shape("\(node.name) \(code) in an answer that \(context.succeeded ? "succeeded" : "was refused")")
        }
        return code
    }

    /// GCS28 (8.1.1 on the gas meter): SEQUENCE { the meter's time GeneralizedTime, its
    /// clock status INTEGER (0 reliable, 1 invalid, 2 unreliable) }. A refusal that gives
    /// neither is the clock unreliable at the device's time.
    static let gasClockSynchronisation: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let timeStatus = body.child("Gas")?.child("GasClockTimeStatus")
        if context.succeeded {
            guard body.child("DeviceTime") != nil, timeStatus != nil else { throw .shape("a commissioning answer without DeviceTime and GasClockTimeStatus") }
        }
        let time = body.child("DeviceTime") == nil ? context.time : try timestamp(body.child("DeviceTime"), "DeviceTime")
        let code = try responseCode(timeStatus, context, refused: 2)
        return GBCSAnswerBody(.asn1(asn1Sequence([try generalizedTime(time), asn1Integer(code)])))
    }

    /// CS06 (11.3): SEQUENCE { ActivateImageResponseCode INTEGER (0 success, 1 no image
    /// held, 2 hash mismatch, 3 activation failure), the firmware version running OCTET
    /// STRING (from MMC's hex; empty when the answer names none) }. A success without a
    /// response code is a future-dated or cancelling command's acceptance: NULL.
    static let firmwareActivation: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let codeNode = body.child("ActivateImageResponseCode")
        if context.succeeded, codeNode == nil {
            return GBCSAnswerBody(.asn1(ASN1Value(tag: [0x05], content: .primitive([]))))
        }
        let code = try responseCode(codeNode, context, refused: 1)
        var version: [UInt8] = []
        if let text = body.child("FirmwareVersion")?.text {
            guard let octets = Hex.decode(text), (1...4).contains(octets.count) else {
                throw .shape("FirmwareVersion \(text) is not 1 to 4 octets in hex, as GBCS carries it")
            }
            version = octets
        }
        return GBCSAnswerBody(.asn1(asn1Sequence([asn1Integer(code), ASN1Value(tag: [0x04], content: .primitive(version))])))
    }

    /// CS02c (6.17) and CS02e (6.24.2): the DER object (the certification request, the
    /// certificate) from the element's base64, or for a refusal the INTEGER response code
    /// (3, invalid key usage, when the answer does not say: RTDS's ERROR vectors).
    static func credentialObject(code codeName: String, object: String) -> GBCSAnswerEncoder {
        { body, context throws(GBCSAnswerError) in
            let code = try responseCode(body.child(codeName), context, refused: 3)
            guard context.succeeded else { return GBCSAnswerBody(.asn1(asn1Integer(code))) }
            guard let text = body.child(object)?.text, let data = Data(base64Encoded: text.filter { !$0.isWhitespace }) else {
                throw .shape("\(object) is not base64")
            }
            let value: ASN1Value
            do {
                value = try ASN1Value.decode(Array(data))
            } catch {
                throw .shape("\(object) is not DER: \(error)")
            }
            guard value.tag == [0x30] else { throw .shape("\(object) is not a SEQUENCE") }
            return GBCSAnswerBody(.asn1(value))
        }
    }

    /// CS02d (6.15.2): the INTEGER response code (0 success; 3 for a refusal that does not
    /// say why).
    static let certificateUpdate: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        GBCSAnswerBody(.asn1(asn1Integer(try responseCode(body.child("UpdateSecurityCredentialsResponseCode"), context, refused: 3))))
    }
}
