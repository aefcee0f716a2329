import DUIS
import GBCS
import MMC

/// The answers to critical commands (signed by the device), GBCS payload positions to MMC
/// elements.
///
/// Most say only that the device did what it was told: MMC's answer is the SRV's empty
/// `…Rsp` element, and the payload is checked for the use case's shape (DLMS: one null
/// value per request; GBZ: a ZCL Default Response per command component, or the
/// cluster's own response). A future-dated or cancelling command is answered in the same
/// shape (the device only accepts it; the outcome comes later, in alert 8F66 or 8F67),
/// but for CS06, whose future-dated and cancelling answers are an ASN.1 NULL instead of
/// the immediate SEQUENCE of response code and firmware version.
///
/// The clock synchronisations carry the device's time and clock status, and the security
/// use cases (CS02c, CS02d, CS02e, CS06, GCS28) an ASN.1 response code that MMC writes
/// whether or not the device succeeded: their `outcomeTable` entries say both
/// (`MMCMapping.outcomeMappers` takes them first); `table` also maps those whose refusal
/// MMC allows empty (all but CS02d) with the refusal's code left out, for `canMap`.
enum CriticalAnswers {
    static let table: [String: MMCMapping.Mapper] = {
        var table: [String: MMCMapping.Mapper] = [:]
        for name in dlmsAcknowledged { table[name] = nullPerRequest }
        for name in gbzAcknowledged { table[name] = defaultResponses }
        table["GCS03"] = paymentModeChanged
        table["GCS32"] = supplyStatusChanged
        table["ECS70"] = clockSynchronised
        for (name, outcome) in outcomeTable where name != "CS02d" { table[name] = withoutRefusalCode(outcome) }
        return table
    }()

    /// An outcome mapper as a plain one: a refusal's code is left out.
    static func withoutRefusalCode(_ outcome: @escaping MMCMapping.OutcomeMapper) -> MMCMapping.Mapper {
        { reading throws(MappingError) in
            let answer = try outcome(reading)
            return answer.succeeded ? answer.children : nil
        }
    }

    /// The answers that carry their own outcome (an ASN.1 response code), for
    /// `MMCMapping.outcomeMappers`.
    static let outcomeTable: [String: MMCMapping.OutcomeMapper] = [
        "GCS28Commission": gasClockSynchronised,
        "CS06": firmwareActivated,
        "CS02c": keyPairIssued,
        "CS02d": certificateUpdated,
        "CS02e": certificateRetrieved,
    ]

    /// DLMS use cases whose answer is a result per request and a null value each (6.14.3's
    /// answer is `UpdateDeviceConfigurationALCSchedulerRsp`: `MMCMapping.responseElement`).
    static let dlmsAcknowledged = [
        "ECS01a", "ECS01b", "ECS01c", "ECS01d", "ECS02", "ECS04a", "ECS05", "ECS07", "ECS08", "ECS08a", "ECS09", "ECS28a", "ECS30", "ECS30a",
        "ECS38", "ECS42", "ECS43", "ECS44", "ECS46a", "ECS46c", "ECS46d", "ECS47", "ECS47a", "ECS47e", "ECS48", "ECS81",
    ]

    /// GBZ use cases whose answer is a ZCL Default Response per command component.
    static let gbzAcknowledged = ["GCS01a", "GCS04", "GCS23", "GCS24", "GCS40a", "GCS40d"]

    /// A set or action that succeeded answers null data.
    static let nullPerRequest: MMCMapping.Mapper = { reading throws(MappingError) in
        guard !reading.results.isEmpty else { throw .shape("the answer is not a DLMS ACCESS-Response") }
        for (index, value) in reading.values.enumerated() where value != .null {
            throw .shape("request \(index)'s answer is \(value.tag), not null")
        }
        return []
    }

    /// Each component a ZCL Default Response (command ID, status): the statuses are
    /// already checked (a failure is a refusal).
    static let defaultResponses: MMCMapping.Mapper = { reading throws(MappingError) in
        guard !reading.components.isEmpty else { throw .shape("the answer is not a GBZ payload") }
        for (component, payload) in zip(reading.components, reading.componentPayloads) {
            guard component.isDefaultResponse, payload.count == 2 else {
                throw .shape(String(format: "component of cluster %04X is command %02X, not a Default Response", component.cluster, component.command))
            }
        }
        return []
    }

    /// The one cluster-specific response component a use case answers with.
    static func clusterResponse(_ reading: Reading, cluster: UInt16, command: UInt8, length: Int, what: String) throws(MappingError) {
        guard reading.components.count == 1, let component = reading.components.first, let payload = reading.componentPayloads.first,
              component.cluster == cluster, component.command == command, !component.isProfileWide, component.isFromServer, payload.count == length
        else {
            throw .shape("the answer is not one \(what) (cluster \(String(format: "%04X", cluster)), command \(String(format: "%02X", command)), \(length) octets)")
        }
    }

    /// GCS03 (1.6): the Prepayment cluster's Change Payment Mode Response (friendly credit
    /// bitmap8, friendly credit calendar ID uint32, emergency credit limit uint32,
    /// emergency credit threshold uint32), which MMC's answer does not carry.
    static let paymentModeChanged: MMCMapping.Mapper = { reading throws(MappingError) in
        try clusterResponse(reading, cluster: 0x0705, command: 0x02, length: 13, what: "Change Payment Mode Response")
        return []
    }

    /// GCS32 (7.2): the Metering cluster's Supply Status Response (provider ID uint32,
    /// issuer event ID uint32, implementation date-time UTCTime, supply status enum8),
    /// which MMC's answer does not carry.
    static let supplyStatusChanged: MMCMapping.Mapper = { reading throws(MappingError) in
        try clusterResponse(reading, cluster: 0x0702, command: 0x0C, length: 13, what: "Supply Status Response")
        return []
    }

    /// MMC's names of a clock's status (DLMS clock status bits: 01 invalid value, 02
    /// doubtful value; GCS28's INTEGER 0, 1, 2).
    static func clockStatus(_ code: Int64) -> String {
        if code & 0x01 != 0 { return "invalid" }
        if code & 0x02 != 0 { return "unreliable" }
        return "reliable"
    }

    /// ECS70 (6.11, 8.1.1): the clock's status set, time adjusted, then the clock's time
    /// (attribute 2, a date-time) and status (attribute 4, unsigned) read.
    static let clockSynchronised: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 5 else { throw .shape("a clock synchronisation answers 5 requests, not \(reading.values.count)") }
        let octets = try reading.value(3).octetString("the device's clock")
        guard let time = DLMSDateTime(octets), let seconds = time.unixTime else { throw .shape("the device's clock is not a date-time") }
        let status = try reading.value(4).integer("the clock status")
        guard (0...255).contains(status) else { throw .shape("clock status \(status)") }
        let timeStatus = DataNode("ElecClockTimeStatus", attributes: [("TimeStatusCode", String(status))],
                                  children: [DataNode("TimeStatus", text: clockStatus(status))])
        return [DataNode("DeviceTime", text: Timestamp(milliseconds: seconds * 1000).iso8601), DataNode("Electricity", children: [timeStatus])]
    }

    /// An ASN.1 response code as MMC's StatusASN1 element: GBCS's name for it, else
    /// MMC's generic `notKnown` (the code kept).
    static func status(_ element: String, code: Int64, names: [String]) -> DataNode {
        let name = code >= 0 && code < Int64(names.count) ? names[Int(code)] : "notKnown"
        return DataNode(element, attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: name)])
    }

    static func integer(_ value: ASN1Value?, _ what: String) throws(MappingError) -> Int64 {
        guard let value, value.tag == [0x02], let code = value.integer else { throw .shape("\(what) is not an ASN.1 INTEGER") }
        return code
    }

    /// GBCS's credential response codes (6.15.2, 6.17, 6.24.2), as MMC names them.
    static let credentialCodes = [
        "success", "invalidCertificate", "wrongDeviceIdentity", "invalidKeyUsage", "noCorrespondingKeyPairGenerated", "wrongPublicKey",
        "certificateStorageFailed", "privateKeyChangeFailed", "keyPairGenerationFailed", "cRProductionFailed", "noCertificateHeld",
        "certificateRetrievalFailure",
    ]

    /// GBCS's ActivateImageResponseCode (11.3).
    static let activationCodes = ["success", "noImageHeld", "hashMismatch", "activationFailure"]

    /// GCS28's clock status codes.
    static let timeStatusCodes = ["reliable", "invalid", "unreliable"]

    /// GCS28 (8.1.1 on the gas meter): SEQUENCE { the meter's time GeneralizedTime
    /// (YYYYMMDDHHMMSSZ), its clock status INTEGER (0 reliable, 1 invalid, 2 unreliable) }.
    static let gasClockSynchronised: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        guard let answer = reading.asn1, answer.tag == [0x30], answer.children.count == 2, answer.children[0].tag == [0x18],
              let text = answer.children[0].octets else {
            throw .shape("a commissioning answer is a SEQUENCE of a GeneralizedTime and an INTEGER")
        }
        let time = try generalizedTime(text)
        let code = try integer(answer.children[1], "the clock status")
        let gas = DataNode("Gas", children: [status("GasClockTimeStatus", code: code, names: timeStatusCodes)])
        return ([DataNode("DeviceTime", text: time.iso8601), gas], code == 0)
    }

    /// A GeneralizedTime of GBCS's form, YYYYMMDDHHMMSSZ (UTC, whole seconds).
    static func generalizedTime(_ octets: [UInt8]) throws(MappingError) -> Timestamp {
        guard octets.count == 15, octets[14] == UInt8(ascii: "Z"), octets.prefix(14).allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw .shape("a GeneralizedTime that is not YYYYMMDDHHMMSSZ")
        }
        func number(_ from: Int, _ count: Int) -> Int { octets[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        guard let seconds = DLMSDateTime.unixTime(year: number(0, 4), month: number(4, 2), day: number(6, 2), hour: number(8, 2),
                                                  minute: number(10, 2), second: number(12, 2)) else {
            throw .shape("a GeneralizedTime that is not a time")
        }
        return Timestamp(milliseconds: seconds * 1000)
    }

    /// CS06 (11.3): immediately, SEQUENCE { ActivateImageResponseCode INTEGER, the
    /// firmware version running OCTET STRING }; a future-dated or cancelling command's
    /// acceptance is a NULL.
    static let firmwareActivated: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        guard let answer = reading.asn1 else { throw .shape("a firmware activation answer is ASN.1") }
        if answer.tag == [0x05], answer.octets == [] { return ([], true) }
        guard answer.tag == [0x30], answer.children.count == 2, answer.children[1].tag == [0x04], let version = answer.children[1].octets else {
            throw .shape("a firmware activation answer is a SEQUENCE of an INTEGER and an OCTET STRING, or NULL")
        }
        let code = try integer(answer.children[0], "the activation response code")
        var children = [status("ActivateImageResponseCode", code: code, names: activationCodes)]
        // MMC's FirmwareVersion holds 1 to 8 characters: 1 to 4 octets in hex.
        guard version.count <= 4 else { throw .shape("a firmware version of \(version.count) octets") }
        if !version.isEmpty { children.append(DataNode("FirmwareVersion", text: SecurityReads.hexString(version))) }
        return (children, code == 0)
    }

    /// A credential answer that is a DER object (a SEQUENCE) on success or an INTEGER
    /// response code: the code element and, on success, the object's base64.
    static func credential(_ reading: Reading, codeElement: String, objectElement: String) throws(MappingError) -> (children: [DataNode], succeeded: Bool) {
        guard let answer = reading.asn1 else { throw .shape("a credentials answer is ASN.1") }
        if answer.tag == [0x02] {
            let code = try integer(answer, "the response code")
            return ([status(codeElement, code: code, names: credentialCodes)], code == 0)
        }
        guard answer.tag == [0x30] else { throw .shape("a credentials answer is a SEQUENCE or an INTEGER response code") }
        return ([status(codeElement, code: 0, names: credentialCodes), DataNode(objectElement, text: DeviceSecurityReads.base64(answer.encoded()))], true)
    }

    /// CS02c (6.17): the PKCS#10 certification request for the new key pair, or an
    /// INTEGER response code.
    static let keyPairIssued: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        try credential(reading, codeElement: "IssueCredentialsResponseCode", objectElement: "CertificationRequest")
    }

    /// CS02e (6.24.2): the device's X.509 certificate, or an INTEGER response code.
    static let certificateRetrieved: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        try credential(reading, codeElement: "RetrieveDeviceSecurityCredentialsStatusCode", objectElement: "Certificate")
    }

    /// CS02d (6.15.2): an INTEGER response code (0 success).
    static let certificateUpdated: MMCMapping.OutcomeMapper = { reading throws(MappingError) in
        guard let answer = reading.asn1 else { throw .shape("a certificate update answer is ASN.1") }
        let code = try integer(answer, "the response code")
        return ([status("UpdateSecurityCredentialsResponseCode", code: code, names: credentialCodes)], code == 0)
    }
}
