import DUIS
import GBCS
import MMC

/// Device alerts as DCC's Message Mapping Catalogue writes them: `ra:GBCSResponse` with
/// `Body/DeviceAlertMessage/DeviceAlertContent` (the alert code in hex, its GBCS name,
/// when it was raised and, for the alerts MMC gives a payload, that payload).
///
/// Where the code and time are, by payload: a DLMS DATA-NOTIFICATION's structure starts
/// with the code (long-unsigned) and a 12-octet date-time; a GBZ alert carries them after
/// its component count (the time in seconds since 2000); an ASN.1 alert is a SEQUENCE
/// starting with the code (INTEGER) and a GeneralizedTime.
enum AlertMapping {
    static func xml(for message: ParsedMessage) throws(MappingError) -> [UInt8] {
        var plaintexts = message.plaintexts.makeIterator()
        let code: UInt16
        let time: Int64
        var payload: DataNode?
        switch message.payload {
        case .dlms(.dataNotification(let notification)):
            let body = try Reading.open(notification.body, &plaintexts)
            guard case .structure(let members) = body, members.count >= 2, case .longUnsigned(let alertCode) = members[0],
                  case .octetString(let stamp) = members[1], let dateTime = DLMSDateTime(stamp), let seconds = dateTime.unixTime else {
                throw .shape("a DLMS alert is a structure of its code and a date-time")
            }
            code = alertCode
            time = seconds
            payload = try dlmsPayload(code: code, messageCode: message.frame.messageCode, rest: Array(members.dropFirst(2)))
        case .gbz(let gbz):
            guard let alert = gbz.alert else { throw .shape("a GBZ alert has its code and time after the component count") }
            code = alert.code
            time = Int64(alert.time) + 946_684_800
            if case .octets(let octets) = alert.rest { payload = try gbzPayload(code: code, messageCode: message.frame.messageCode, octets: octets) }
        case .asn1(let value):
            guard value.tag == [0x30], value.children.count >= 2, let alertCode = value.children[0].integer, (0...0xFFFF).contains(alertCode),
                  value.children[1].tag == [0x18], let text = value.children[1].octets, let seconds = generalizedTime(text) else {
                throw .shape("an ASN.1 alert is a SEQUENCE of its code and a GeneralizedTime")
            }
            code = UInt16(alertCode)
            time = seconds
            payload = try asn1Payload(messageCode: message.frame.messageCode, fields: Array(value.children.dropFirst(2)), executed: seconds)
        default:
            throw .shape("an alert's payload is a DLMS DATA-NOTIFICATION, a GBZ alert or an ASN.1 SEQUENCE")
        }
        let stamp = Timestamp(milliseconds: time * 1000).iso8601
        var writer = CanonicalXMLWriter(capacity: 1024)
        MMCMapping.openEnvelope(&writer, message.frame, service: nil, timestamp: stamp)
        writer.open("ra:Body")
        writer.open("ra:DeviceAlertMessage")
        writer.open("ra:DeviceAlertContent")
        writer.element("ra:GBCSHexAlertCode", MMCMapping.hex16(code))
        writer.element("ra:AlertDescription", GBCSAlertCode.name(code) ?? "GBCS alert " + MMCMapping.hex16(code))
        writer.element("ra:Timestamp", stamp)
        if let payload {
            writer.open("ra:Payload")
            MMCXMLCodec.write(payload, to: &writer)
            writer.close()
        }
        writer.close()
        writer.close()
        writer.close()
        writer.close()
        return writer.finish()
    }

    /// `YYYYMMDDhhmmssZ` (GBCS's GeneralizedTime) as seconds since 1970.
    static func generalizedTime(_ octets: [UInt8]) -> Int64? {
        guard octets.count == 15, octets[14] == UInt8(ascii: "Z"), octets.prefix(14).allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        func number(_ from: Int, _ count: Int) -> Int { octets[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        return DLMSDateTime.unixTime(year: number(0, 4), month: number(4, 2), day: number(6, 2), hour: number(8, 2), minute: number(10, 2),
                                     second: number(12, 2))
    }

    static func hex(_ octets: [UInt8]) -> String { SecurityReads.hexString(octets) }

    /// The future-dated outcome (8F66, 8F67) of a DLMS command: an octet string of the
    /// command's message code (2), originator counter (8) and the COSEM attribute or
    /// method it ran (class 2, OBIS 6, member 1).
    /// A DLMS date-time value as MMC's `xs:dateTime`.
    static func dateTimeText(_ value: DLMSData, _ what: String) throws(MappingError) -> String {
        guard case .octetString(let octets) = value, let seconds = DLMSDateTime(octets)?.unixTime else { throw .shape("\(what) is not a date-time") }
        return Timestamp(milliseconds: seconds * 1000).iso8601
    }

    static func dlmsPayload(code: UInt16, messageCode: UInt16, rest: [DLMSData]) throws(MappingError) -> DataNode? {
        // ECS80, supply outage restored (8F35–8F3C): when the supply was interrupted and
        // when it came back.
        if messageCode == 0x0067, (0x8F35...0x8F3C).contains(code) {
            guard rest.count == 2 else { throw .shape("a supply outage restoration alert has \(rest.count) values, not 2") }
            return DataNode("SupplyOutageRestoreAlert", children: [
                DataNode("interruptionValue", text: try dateTimeText(rest[0], "the interruption")),
                DataNode("restorationValue", text: try dateTimeText(rest[1], "the restoration")),
            ])
        }
        // ECS101, APC limit processed (8F86): the controller (0x10 + n, 0x20 + n with input
        // from the controlled load), the period and the level it came to.
        if messageCode == 0x0121, code == 0x8F86 {
            guard rest.count == 4, case .unsigned(let selector) = rest[0], case .unsigned(let level) = rest[3], level <= 100,
                  (0x11...0x15).contains(selector) || (0x21...0x25).contains(selector) else {
                throw .shape("an APC limit alert is a controller, a period and a level")
            }
            var node = DataNode("LimitAPCLevelCommandProcessedDeviceAlert")
            node.add("APCLimitPeriodStart", try dateTimeText(rest[1], "the APC limit's start"))
            node.add("APCLimitPeriodEnd", try dateTimeText(rest[2], "the APC limit's end"))
            node.add("AuxiliaryControllerN", String(selector & 0x0F))
            node.add("ResultingLevel", String(level))
            if selector & 0x20 != 0 { node.addEmpty("InputFromControlledLoad") }
            return node
        }
        guard code == 0x8F66 || code == 0x8F67, let first = rest.first, case .octetString(let octets) = first else { return nil }
        guard octets.count == 19 else { throw .shape("a future-dated alert's instruction is \(octets.count) octets, not 19") }
        let counter = octets[2..<10].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var alert = DataNode("COSEMFutureDatedAlert")
        alert.add("FutureDatedCommandMessageCode", hex(Array(octets[0..<2])))
        alert.add("FutureDatedCommandOriginatorCounter", String(counter))
        alert.add(DataNode("DLMSCOSEMFDInstructionIdentification", children: [
            DataNode("ClassId", text: hex(Array(octets[10..<12]))), DataNode("InstanceId", text: hex(Array(octets[12..<18]))),
            DataNode("AttributeId", text: hex([octets[18]])),
        ]))
        return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [alert])
    }

    /// The future-dated outcome of a GBZ command: a length octet, then the command's
    /// message code (2), originator counter (8), cluster (2), frame control and command.
    static func gbzPayload(code: UInt16, messageCode: UInt16, octets: [UInt8]) throws(MappingError) -> DataNode? {
        // Firmware verification (8F72, 8F1C): the manufacturer image hash, a DLMS
        // octet-string (tag 09, a length, the hash).
        if code == 0x8F72 || code == 0x8F1C {
            guard octets.count >= 2, octets[0] == 0x09, Int(octets[1]) == octets.count - 2 else { throw .shape("a firmware verification alert's hash") }
            return DataNode("FirmwareVerificationDeviceAlert", children: [DataNode("ManufacturerImageHash", text: hex(Array(octets.dropFirst(2))))])
        }
        guard code == 0x8F66 || code == 0x8F67 else { return nil }
        guard octets.count == 15, octets[0] == 14 else { throw .shape("a GBZ future-dated alert's instruction is \(octets.count) octets, not 15") }
        let counter = octets[3..<11].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var alert = DataNode("GBZFutureDatedAlert")
        alert.add("FutureDatedCommandMessageCode", hex(Array(octets[1..<3])))
        alert.add("FutureDatedCommandOriginatorCounter", String(counter))
        alert.add(DataNode("GBZFDInstructionIdentification", children: [
            DataNode("ExtendedHeaderClusterID", text: hex(Array(octets[11..<13]))), DataNode("FrameControl", text: hex([octets[13]])),
            DataNode("CommandIdentifier", text: hex([octets[14]])),
        ]))
        return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [alert])
    }

    /// ASN.1 alerts after their code and time: CS02b's execution outcome, and CS06's firmware activation (the command's
    /// originator counter, then an outcome of a response code and the firmware version).
    static func asn1Payload(messageCode: UInt16, fields: [ASN1Value], executed: Int64) throws(MappingError) -> DataNode? {
        // CS02b's future-dated update: its execution outcome.
        if messageCode == 0x00CB {
            guard fields.count == 1 else { throw .shape("an update security credentials alert has one execution outcome") }
            let (outcome, _) = try DeviceSecurityReads.executionOutcome(fields[0], element: "UpdateSecurityCredentialsExecutionOutcome")
            return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [DataNode("UpdateSecurityCredentialsDeviceAlert", children: [outcome])])
        }
        guard messageCode == 0x00CA else { return nil }
        guard fields.count == 2, let counter = fields[0].integer, counter >= 0, fields[1].children.count == 2,
              let response = fields[1].children[0].integer, let version = fields[1].children[1].octets else {
            throw .shape("a firmware activation alert is the command's counter and an outcome")
        }
        let codes = ["success", "noImageHeld", "hashMismatch", "activationFailure"]
        guard response >= 0, response < Int64(codes.count) else { throw .shape("activate image response code \(response)") }
        var activation = DataNode("FirmwareActivationDeviceAlert")
        activation.add("ExecutionDateTime", Timestamp(milliseconds: executed * 1000).iso8601)
        activation.add("OriginatorCounterFromCommand", String(counter))
        activation.add(DataNode("ActivateImageResponseCode", attributes: [("ResponseCode", String(response))],
                                children: [DataNode("ASN1Status", text: codes[Int(response)])]))
        if !version.isEmpty {
            guard version.count <= 4 else { throw .shape("a firmware version of \(version.count) octets") }
            activation.add("FirmwareVersion", hex(version))
        }
        return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [activation])
    }
}
