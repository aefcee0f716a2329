import Foundation
import DUIS
import GBCS
import MMC

/// Joins, device logs, event logs and the CHF's Sub GHz answers: GBCS payload to MMC
/// elements.
enum DeviceSecurityReads {
    static let table: [String: MMCMapping.Mapper] = [
        "CS07": deviceLog,
        "CCS05CCS04": chfDeviceLog,
        "DBCH01": subGHzChannel,
        "ECS35a": eventLog,
        "ECS35d": eventLog,
        "CS10a": gasEventLog,
    ]

    static let outcomeTable: [String: MMCMapping.OutcomeMapper] = [
        "CS03A1": join,
        "CS03A2NonCritical": join,
        "CS03CCritical": join,
        "CS04AC": unjoin,
        "CS04B": unjoin,
        "CS02a": securityCredentials,
        // CS02f (6.24.1 for the load controller's credentials): CS02a's layout.
        "CS02fMAC": securityCredentials,
        "CS02bSupplierBySupplier": updateSecurityCredentials,
        "CS02bNOByNOHandover": updateSecurityCredentials,
        "CS02bACBByACB": updateSecurityCredentials,
        "CS02bSupplierByTransCoS": updateSecurityCredentials,
    ]

    /// GBCS's ASN.1 JoinResponseCode values (CS03, and GCS59's restore outcomes), as MMC
    /// names them.
    static let joinResponseCodes = [
        "success", "invalidMessageCodeForJoinMethodAndRole", "invalidJoinMethodAndRole", "incompatibleWithExistingEntry", "deviceLogFull",
        "writeFailure", "keyAgreementNoResources", "keyAgreementUnknownIssuer", "keyAgreementUnsupportedSuite", "keyAgreementBadMessage",
        "keyAgreementBadKeyConfirm", "invalidOrMissingCertificate", "noPartnerLinkKeyReceived", "noCBKEResponse",
    ]

    /// GBCS's UnjoinResponseCode (CS04).
    static let unjoinResponseCodes = ["success", "otherDeviceNotInDeviceLog", "otherFailure"]

    /// GBCS's ASN.1 DeviceType, as MMC names it.
    static let deviceTypes = ["GSME", "ESME", "CHF", "GPF", "HCALCS", "PPMID", "Type2"]

    /// An ASN.1 INTEGER response code as MMC's StatusASN1 element.
    static func status(_ element: String, code: Int64, names: [String]) throws(MappingError) -> DataNode {
        guard code >= 0, code < Int64(names.count) else { throw .shape("response code \(code) is not one GBCS defines") }
        return DataNode(element, attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: names[Int(code)])])
    }

    static func responseCode(_ reading: Reading) throws(MappingError) -> Int64 {
        guard let value = reading.asn1, value.tag == [0x02], let code = value.integer else { throw .shape("the answer is an ASN.1 INTEGER response code") }
        return code
    }

    /// CS03 (8.7): an INTEGER JoinResponseCode.
    static let join: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        let code = try responseCode(reading)
        return ([try status("joinResponseCode", code: code, names: joinResponseCodes)], code == 0)
    }

    /// CS04 (8.8): an INTEGER UnjoinResponseCode.
    static let unjoin: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        let code = try responseCode(reading)
        return ([try status("unjoinResponseCode", code: code, names: unjoinResponseCodes)], code == 0)
    }

    static func eui(_ octets: [UInt8], _ what: String) throws(MappingError) -> String {
        guard octets.count == 8 else { throw .shape("\(what) is \(octets.count) octets, not an EUI-64") }
        return EUI64(octets.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }).description
    }

    /// CS07 (8.9, a device other than the CHF): SEQUENCE { responseCode INTEGER (0 success,
    /// 1 read failure), deviceLogEntries SEQUENCE OF SEQUENCE { deviceID OCTET STRING (8),
    /// deviceType INTEGER } OPTIONAL }.
    static let deviceLog: MMCMapping.Mapper = { reading throws(MappingError) in
        guard let answer = reading.asn1, answer.tag == [0x30], let first = answer.children.first, first.tag == [0x02], let code = first.integer else {
            throw .shape("a device log answer is a SEQUENCE starting with its response code")
        }
        guard code == 0 else { return nil }
        var log = DataNode("DeviceLogEntries")
        if answer.children.count > 1 {
            let entries = answer.children[1]
            guard entries.tag == [0x30] else { throw .shape("the device log entries are a SEQUENCE OF") }
            for entry in entries.children {
                guard entry.tag == [0x30], entry.children.count == 2, let id = entry.children[0].octets, let type = entry.children[1].integer else {
                    throw .shape("a device log entry is a SEQUENCE of an ID and a device type")
                }
                guard type >= 0, type < Int64(deviceTypes.count) else { throw .shape("device type \(type)") }
                var node = DataNode("LogEntry")
                node.add("DeviceID", try eui(id, "a device ID"))
                node.add("DeviceType", deviceTypes[Int(type)])
                log.add(node)
            }
        }
        return [log]
    }

    /// CCS05/CCS04 (8.9, the CHF): the ZigBee network control object's active devices,
    /// an array of structures of 14 (MAC address, status, maximum, average and minimum
    /// RSSI, maximum, average and minimum LQI, last communication date-time, hops,
    /// transmission failures, successes, application and stack versions). MMC keeps the
    /// device and its last communication; its Sub GHz link quality has no field here,
    /// so it is left out rather than guessed.
    static let chfDeviceLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let devices = try reading.value(0).items("the CHF device log")
        guard devices.count <= 16 else { throw .shape("\(devices.count) CHF device log entries (MMC holds 16)") }
        var log = DataNode("CHFDeviceLog")
        for device in devices {
            let fields = try device.items("a CHF device log entry", count: 14)
            var node = DataNode("CHFDeviceLogEntry")
            node.add("DeviceID", try eui(try fields[0].octetString("a device ID"), "a device ID"))
            let last = try fields[8].octetString("the last communication")
            if let dateTime = DLMSDateTime(last), let seconds = dateTime.unixTime {
                node.add("LastCommunicationsDateTime", Timestamp(milliseconds: seconds * 1000).iso8601)
            } else if !(DLMSDateTime(last)?.isNever ?? false) {
                throw .shape("the last communication is not a date-time")
            }
            log.add(node)
        }
        return [log]
    }

    /// DBCH01 (6.31): the operating channel as a ZigBee channel page and mask (32 bits:
    /// page in the top 5, channel bits below). Pages 28, 29 and 30 are the lower band's
    /// channels 0–26, 27–34 and 35–61; page 31 the upper band's 0–26.
    static let subGHzChannel: MMCMapping.Mapper = { reading throws(MappingError) in
        guard case .bitString(let bits) = try reading.value(0), bits.bitCount == 32, bits.octets.count == 4 else {
            throw .shape("the operating channel is a 32-bit bit string")
        }
        let word = bits.octets.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let page = word >> 27, mask = word & 0x07FF_FFFF
        guard mask != 0, mask & (mask - 1) == 0 else { throw .shape("the operating channel mask has \(mask.nonzeroBitCount) channels, not one") }
        let bit = mask.trailingZeroBitCount
        let band: String, channel: Int
        switch page {
        case 28: (band, channel) = ("OperatingLowerBandSubGHzChannel", bit)
        case 29: (band, channel) = ("OperatingLowerBandSubGHzChannel", 27 + bit)
        case 30: (band, channel) = ("OperatingLowerBandSubGHzChannel", 35 + bit)
        case 31: (band, channel) = ("OperatingUpperBandSubGHzChannel", bit)
        default: throw .shape("channel page \(page)")
        }
        guard (band == "OperatingLowerBandSubGHzChannel" && channel <= 61) || channel <= 26 else { throw .shape("channel \(channel) on page \(page)") }
        return [DataNode("OperatingSubGHzChannel", children: [DataNode(band, children: [DataNode("Channel\(channel)")])])]
    }

    static func hex(_ octets: [UInt8]) -> String { SecurityReads.hexString(octets) }

    static func logEntry(seconds: Int64, code: Int64, data: [UInt8]) throws(MappingError) -> DataNode {
        guard (0...0xFFFF).contains(code) else { throw .shape("event code \(code)") }
        var node = DataNode("LogEntry")
        node.add("Timestamp", try MMCFormat.time(secondsSince2000: seconds))
        node.add("LogCode", MMCMapping.hex16(UInt16(code)))
        if !data.isEmpty { node.add("OtherInformation", hex(data)) }
        return node
    }

    /// ECS35a and ECS35d (6.13, the event and security logs): a compact array of (time,
    /// seconds since 2000 UTC; event code; for the event log, the event's other
    /// information, an octet string). The ALCS log (ECS35g) is not mapped yet.
    static let eventLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let entries = try reading.value(0).items("the log")
        guard entries.count <= 100 else { throw .shape("\(entries.count) log entries (MMC holds 100)") }
        var log = DataNode("Log")
        for entry in entries {
            // The security log (ECS35d) has no other information.
            let fields = try entry.items("a log entry")
            guard fields.count == 2 || fields.count == 3 else { throw .shape("a log entry has \(fields.count) members, not 2 or 3") }
            log.add(try logEntry(seconds: try fields[0].integer("a log entry's time"), code: try fields[1].integer("an event code"),
                                 data: fields.count == 3 ? try fields[2].octetString("a log entry's other information") : []))
        }
        return [log]
    }

    /// CS10a (6.13, a gas meter): ZSE's Publish Event Log (Events cluster 0709, command
    /// 1): total matching events (2 octets), command index, total commands, log payload
    /// control (its low nibble the events in this command), then each event's log ID,
    /// event ID (2), time (ZigBee UTC, 4) and data (a ZCL octet string). Little-endian.
    static let gasEventLog: MMCMapping.Mapper = { reading throws(MappingError) in
        var log = DataNode("Log")
        for (component, payload) in zip(reading.components, reading.componentPayloads) where component.cluster == 0x0709 && component.command == 0x01 {
            guard payload.count >= 5 else { throw .shape("a Publish Event Log of \(payload.count) octets") }
            var index = 5
            while index < payload.count {
                guard index + 8 <= payload.count else { throw .shape("a truncated event") }
                let code = Int64(payload[index + 1]) | Int64(payload[index + 2]) << 8
                let seconds = (0..<4).reduce(Int64(0)) { $0 | Int64(payload[index + 3 + $1]) << (8 * Int64($1)) }
                let length = Int(payload[index + 7])
                guard index + 8 + length <= payload.count else { throw .shape("an event's data runs past the payload") }
                let data = Array(payload[(index + 8)..<(index + 8 + length)])
                log.add(try logEntry(seconds: seconds, code: code, data: data))
                guard log.children.count <= 100 else { throw .shape("more than 100 log entries") }
                index += 8 + length
            }
        }
        return [log]
    }

    // MARK: - Security credentials (CS02)

    /// GBCS's RemotePartyRole values that MMC names; nil for the WAN provider (6), the
    /// issuing authority (7) and other (127), which MMC's RemotePartyRole has no name for
    /// (their element is left out).
    static func role(_ value: ASN1Value?, _ what: String) throws(MappingError) -> String? {
        guard let code = value?.integer else { throw .shape("\(what) is not an INTEGER role") }
        switch code {
        case 0: return "Root"
        case 1: return "Recovery"
        case 2: return "Supplier"
        case 3: return "NetworkOperator"
        case 4: return "ACB"
        case 5: return "TransCoS"
        case 8: return "LoadController"
        case 6, 7, 127: return nil
        default: throw .shape("remote party role \(code) is not one GBCS defines")
        }
    }

    /// GBCS's StatusCode (an ENUMERATED in CS02a and CS02b answers).
    static func statusCode(_ value: ASN1Value?) throws(MappingError) -> (DataNode, Bool) {
        guard let code = value?.integer else { throw .shape("a status code is not an ENUMERATED") }
        let names: [Int64: String] = [0: "success", 5: "badCertificate", 10: "noTrustAnchor", 17: "insufficientMemory", 25: "trustAnchorNotFound",
                                      30: "resourcesBusy", 127: "other"]
        guard let name = names[code] else { throw .shape("status code \(code) is not one GBCS defines") }
        return (DataNode("StatusCode", attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: name)]), code == 0)
    }

    /// A KeyUsage BIT STRING (first octet the unused bits) with an optional CellUsage
    /// (1, prepayment top-up) as MMC's certificate usage.
    static func certificateUsage(_ keyUsage: ASN1Value?, cellUsage: Int64?) throws(MappingError) -> String {
        guard let octets = keyUsage?.octets, keyUsage?.tag == [0x03], octets.count == 2 else { throw .shape("a key usage is a one-octet BIT STRING") }
        switch octets[1] {
        case 0x80: return "DigitalSigning"
        case 0x08: return cellUsage == 1 ? "KeyAgreementTopUp" : "KeyAgreement"
        case 0x04: return "KeyCertSign"
        default: throw .shape("key usage \(hex(octets))")
        }
    }

    static func base64(_ octets: [UInt8]) -> String { Data(octets).base64EncodedString() }

    /// CS02a (6.24.1): SEQUENCE OF remote party details { role INTEGER, status
    /// ENUMERATED, and when found: current sequence number INTEGER, SEQUENCE OF trust
    /// anchor cells { key usage BIT STRING, cell usage INTEGER OPTIONAL, subject unique ID,
    /// subject key identifier } }. MMC has one `RemotePartyDetails` per trust anchor cell
    /// (the party's role, status and sequence number repeated), or one with the role and
    /// status alone when the device holds none; the subject key identifier is written as
    /// GBCS carries it, base64.
    static let securityCredentials: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        guard let parties = reading.asn1, parties.tag == [0x30] else { throw .shape("the credentials answer is a SEQUENCE OF") }
        var details: [DataNode] = []
        var succeeded = true
        for party in parties.children {
            let fields = party.children
            guard party.tag == [0x30], fields.count == 2 || fields.count == 4 else { throw .shape("remote party details of \(fields.count) fields") }
            let roleName = try role(fields[0], "a remote party's role")
            let (status, ok) = try statusCode(fields[1])
            succeeded = succeeded && ok
            guard fields.count == 4 else {
                details.append(DataNode("RemotePartyDetails", children: (roleName.map { [DataNode("RemotePartyRole", text: $0)] } ?? []) + [status]))
                continue
            }
            guard let sequence = fields[2].integer, sequence >= 0 else { throw .shape("a sequence number") }
            for cell in fields[3].children {
                let parts = cell.children
                guard parts.count == 3 || parts.count == 4 else { throw .shape("a trust anchor cell of \(parts.count) fields") }
                let cellUsage = parts.count == 4 ? parts[1].integer : nil
                guard let subject = parts[parts.count - 2].octets, let keyID = parts[parts.count - 1].octets else { throw .shape("a trust anchor cell's IDs") }
                var node = DataNode("RemotePartyDetails")
                if let roleName { node.add("RemotePartyRole", roleName) }
                node.add(status)
                node.add("RemotePartyFloorSeqNumber", String(sequence))
                node.add("CertificateUsage", try certificateUsage(parts[0], cellUsage: cellUsage))
                node.add("ExistingRemotePartyID", try eui(subject, "a trust anchor's subject"))
                node.add("ExistingCertificateHash", base64(keyID))
                details.append(node)
            }
        }
        return (details, succeeded)
    }

    /// CS02b (6.15.1, 6.21, 6.23, 8.5): SEQUENCE { command accepted NULL, execution
    /// outcome SEQUENCE OPTIONAL { authorising party's sequence number, credentials
    /// replacement mode, SEQUENCE OF remote party sequence number changes { role, floor
    /// sequence number, specialist floor numbers OPTIONAL }, SEQUENCE OF replacement
    /// outcomes { affected cell { role, key usage, cell usage OPTIONAL }, status, existing
    /// subject ID, existing key ID, replacing subject ID, replacing key ID } } }. A
    /// future-dated or cancelled command has no outcome.
    static let updateSecurityCredentials: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        guard let answer = reading.asn1, answer.tag == [0x30], let accepted = answer.children.first, accepted.tag == [0x05] else {
            throw .shape("an update security credentials answer starts with NULL")
        }
        guard answer.children.count == 2 else { return ([], true) }
        let (node, succeeded) = try executionOutcome(answer.children[1], element: "ExecutionOutcome")
        return ([node], succeeded)
    }

    /// A CS02b execution outcome (in an answer, or in the alert a future-dated update
    /// raises) as MMC's ExecutionOutcome, and whether every replacement succeeded.
    static func executionOutcome(_ value: ASN1Value, element: String) throws(MappingError) -> (DataNode, Bool) {
        let outcome = value.children
        guard outcome.count == 4, let counter = outcome[0].integer, counter >= 0, let modeCode = outcome[1].integer else { throw .shape("an execution outcome") }
        let modes: [Int64: String] = [2: "SupplierBySupplier", 3: "NetworkOperatorByNetworkOperator", 4: "ACBByACB", 7: "SupplierByTransCoS"]
        guard let mode = modes[modeCode] else { throw .shape("credentials replacement mode \(modeCode) has no MMC name") }
        var node = DataNode(element)
        node.add("AuthorisingRemotePartyOriginatorCounter", String(counter))
        node.add("CredentialsReplacementMode", mode)
        let changes = outcome[2].children
        guard changes.count <= 1 else { throw .shape("\(changes.count) sequence number changes (MMC holds one)") }
        for change in changes {
            let parts = change.children
            guard parts.count >= 2, let floor = parts[1].integer, floor >= 0 else { throw .shape("a sequence number change") }
            var element = DataNode("RemotePartySeqNumberChange")
            if let name = try role(parts[0], "a sequence number change's role") { element.add("RemotePartyRole", name) }
            element.add("RemotePartyFloorSeqNumber", String(floor))
            if parts.count == 3 {
                // Specialist floor numbers: usage 0 is prepayment top-up.
                for specialist in parts[2].children where specialist.children.first?.integer == 0 {
                    if let number = specialist.children.dropFirst().first?.integer { element.add("RemotePartyPrepaymentTopUpFloorSeqNumber", String(number)) }
                }
            }
            node.add(element)
        }
        let replacements = outcome[3].children
        guard replacements.count <= 3 else { throw .shape("\(replacements.count) replacement outcomes (MMC holds 3)") }
        var succeeded = true
        for replacement in replacements {
            let parts = replacement.children
            guard parts.count == 6 else { throw .shape("a replacement outcome of \(parts.count) fields") }
            let cell = parts[0].children
            guard cell.count == 2 || cell.count == 3 else { throw .shape("an affected trust anchor cell") }
            guard let existing = parts[2].octets, let existingKey = parts[3].octets, let new = parts[4].octets, let newKey = parts[5].octets else {
                throw .shape("a replacement outcome's IDs")
            }
            var element = DataNode("ReplacementOutcome")
            let (status, ok) = try statusCode(parts[1])
            succeeded = succeeded && ok
            element.add(status)
            element.add("CertificateType", try certificateUsage(cell[1], cellUsage: cell.count == 3 ? cell[2].integer : nil))
            if let name = try role(cell[0], "an affected cell's role") { element.add("RemotePartyRole", name) }
            element.add("ExistingRemotePartyID", try eui(existing, "the existing subject"))
            element.add("NewRemotePartyID", try eui(new, "the new subject"))
            element.add("ExistingCertificateHash", base64(existingKey))
            element.add("NewCertificateHash", base64(newKey))
            node.add(element)
        }
        return (node, succeeded)
    }
}
