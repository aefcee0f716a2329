import DUIS
import Foundation
import GBCS
import MMC

/// GBCS answers of device security, credentials, joins, device and event logs, the
/// CHF's Sub GHz reads and the gas meter's identity: the inverse of Parse and Correlate's
/// `DeviceSecurityReads` (its `table` and its `outcomeTable`, whose answers carry their
/// own outcome) and `SubGHzAndIdentityReads`.
extension GBCSAnswers {
    static let securityAndHANTable: [String: GBCSAnswerEncoder] = {
        var table: [String: GBCSAnswerEncoder] = [:]
        // CS03 (8.7.1, 8.7.2): one INTEGER JoinResponseCode.
        for name in ["CS03A1", "CS03A2NonCritical", "CS03CCritical"] { table[name] = SecurityAndHANAnswers.joinAnswer }
        // CS04 (8.8.1, 8.8.2): one INTEGER UnjoinResponseCode.
        for name in ["CS04AC", "CS04B"] { table[name] = SecurityAndHANAnswers.unjoinAnswer }
        // CS02a and CS02f (6.24.1): the trust anchors held, one layout.
        for name in ["CS02a", "CS02fMAC"] { table[name] = SecurityAndHANAnswers.securityCredentialsAnswer }
        // CS02b (6.15.1, 6.21, 6.23, 8.5): the update's execution outcome.
        for name in ["CS02bSupplierBySupplier", "CS02bNOByNOHandover", "CS02bACBByACB", "CS02bSupplierByTransCoS"] {
            table[name] = SecurityAndHANAnswers.updateSecurityCredentialsAnswer
        }
        table["CS07"] = SecurityAndHANAnswers.deviceLogAnswer
        table["CCS05CCS04"] = SecurityAndHANAnswers.chfDeviceLogAnswer
        table["ECS35a"] = SecurityAndHANAnswers.eventLogAnswer
        table["ECS35d"] = SecurityAndHANAnswers.securityLogAnswer
        table["CS10a"] = SecurityAndHANAnswers.gasEventLogAnswer
        table["DBCH01"] = SecurityAndHANAnswers.subGHzChannelAnswer
        table["DBCH02"] = SecurityAndHANAnswers.subGHzChannelLogAnswer
        table["DBCH03"] = SecurityAndHANAnswers.subGHzConfigurationAnswer
        table["GCS21e"] = SecurityAndHANAnswers.gasIdentityAnswer
        return table
    }()

    /// The family's encoders and the pieces they share (in their own namespace, so that
    /// no helper of another family's file clashes with theirs).
    enum SecurityAndHANAnswers {}
}

// MARK: - ASN.1 pieces

extension GBCSAnswers.SecurityAndHANAnswers {
    /// ASN.1 builders for GBCS's security answers: DER, but with every length of 128 or
    /// more written in two octets (`82 00 CA` for 202), as GBCS devices and the RTDS write
    /// them.
    enum ASN1 {
        static func integer(_ value: Int64) -> ASN1Value { ASN1Value(tag: [0x02], content: .primitive(twosComplement(value))) }
        static func enumerated(_ value: Int64) -> ASN1Value { ASN1Value(tag: [0x0A], content: .primitive(twosComplement(value))) }
        static func octets(_ value: [UInt8]) -> ASN1Value { ASN1Value(tag: [0x04], content: .primitive(value)) }
        static func bitString(_ value: [UInt8]) -> ASN1Value { ASN1Value(tag: [0x03], content: .primitive(value)) }
        static let null = ASN1Value(tag: [0x05], content: .primitive([]))
        static func sequence(_ children: [ASN1Value]) -> ASN1Value { ASN1Value(tag: [0x30], content: .constructed(children)) }

        /// The shortest two's complement octets of `value` (DER's INTEGER contents).
        static func twosComplement(_ value: Int64) -> [UInt8] {
            var octets: [UInt8] = []
            for shift in stride(from: 56, through: 0, by: -8) { octets.append(UInt8(truncatingIfNeeded: value >> Int64(shift))) }
            while octets.count > 1 {
                let first = octets[0], next = octets[1]
                guard (first == 0x00 && next & 0x80 == 0) || (first == 0xFF && next & 0x80 != 0) else { break }
                octets.removeFirst()
            }
            return octets
        }

        /// `value` with the length of every node of 128 to 255 octets written `82 00 nn`
        /// (longer ones take two octets anyway, shorter ones one).
        static func gbcsLengths(_ value: ASN1Value) -> ASN1Value {
            var result = value
            if case .constructed(let children) = value.content { result.content = .constructed(children.map(gbcsLengths)) }
            var contentLength = 0
            switch result.content {
            case .primitive(let octets): contentLength = octets.count
            case .constructed(let children): contentLength = children.reduce(0) { $0 + $1.encoded().count }
            }
            result.lengthPadding = (0x80...0xFF).contains(contentLength) ? 1 : 0
            return result
        }

        /// The answer's payload: `value` with GBCS's lengths.
        static func body(_ value: ASN1Value) -> GBCSAnswerBody { GBCSAnswerBody(.asn1(gbcsLengths(value))) }
    }

    /// GBCS's ASN.1 JoinResponseCode values (CS03), as MMC names them.
    static let joinResponseCodeNames = [
        "success", "invalidMessageCodeForJoinMethodAndRole", "invalidJoinMethodAndRole", "incompatibleWithExistingEntry", "deviceLogFull",
        "writeFailure", "keyAgreementNoResources", "keyAgreementUnknownIssuer", "keyAgreementUnsupportedSuite", "keyAgreementBadMessage",
        "keyAgreementBadKeyConfirm", "invalidOrMissingCertificate", "noPartnerLinkKeyReceived", "noCBKEResponse",
    ]

    /// GBCS's UnjoinResponseCode values (CS04).
    static let unjoinResponseCodeNames = ["success", "otherDeviceNotInDeviceLog", "otherFailure"]

    /// GBCS's StatusCode (CS02a, CS02b), by MMC's name.
    static let credentialsStatusCodes: [String: Int64] = [
        "success": 0, "badCertificate": 5, "noTrustAnchor": 10, "insufficientMemory": 17, "trustAnchorNotFound": 25, "resourcesBusy": 30, "other": 127,
    ]

    /// GBCS's RemotePartyRole, by MMC's name (and WANProvider, which MMC's
    /// RemotePartyRole lacks but the emulator writes).
    static let remotePartyRoles: [String: Int64] = [
        "Root": 0, "Recovery": 1, "Supplier": 2, "NetworkOperator": 3, "ACB": 4, "TransCoS": 5, "WANProvider": 6, "LoadController": 8,
    ]

    /// GBCS's CredentialsReplacementMode, by MMC's name.
    static let credentialsReplacementModes: [String: Int64] = [
        "SupplierBySupplier": 2, "NetworkOperatorByNetworkOperator": 3, "ACBByACB": 4, "SupplierByTransCoS": 7,
    ]

    /// An outcome element (`joinResponseCode`, `StatusCode` …: ResponseCode attribute and
    /// ASN1Status child) as its code: the ASN1Status name's code where `names` knows it,
    /// else the ResponseCode attribute.
    static func outcomeCode(_ node: DataNode, names: [String: Int64], what: String) throws(GBCSAnswerError) -> Int64 {
        if let name = node.child("ASN1Status")?.text, let code = names[name] { return code }
        guard let text = node.attribute("ResponseCode"), let code = Int64(text), (0...127).contains(code) else {
            throw .shape("\(what) is neither a status GBCS names (\(node.child("ASN1Status")?.text ?? "absent")) nor a code (\(node.attribute("ResponseCode") ?? "absent"))")
        }
        return code
    }

    static func namedCodes(_ names: [String]) -> [String: Int64] {
        var codes: [String: Int64] = [:]
        for (index, name) in names.enumerated() { codes[name] = Int64(index) }
        return codes
    }

    /// An answer's response code (CS03, CS04): the element's, or for a refusal with none,
    /// `refusal`.
    static func responseCode(_ body: DataNode, _ context: GBCSAnswerContext, element: String, names: [String], refusal: Int64) throws(GBCSAnswerError) -> Int64 {
        guard let node = body.child(element) else {
            guard context.succeeded else { return refusal }
            throw .shape("\(body.name) lacks its \(element)")
        }
        return try outcomeCode(node, names: namedCodes(names), what: "\(body.name)/\(element)")
    }

    /// CS03 (8.7): an INTEGER JoinResponseCode (0 success … 13 noCBKEResponse). A refusal
    /// with no code says invalidJoinMethodAndRole (2).
    static let joinAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let code = try responseCode(body, context, element: "joinResponseCode", names: joinResponseCodeNames, refusal: 2)
        return ASN1.body(ASN1.integer(code))
    }

    /// CS04 (8.8): an INTEGER UnjoinResponseCode (0 success, 1 otherDeviceNotInDeviceLog,
    /// 2 otherFailure). A refusal with no code says otherFailure.
    static let unjoinAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let code = try responseCode(body, context, element: "unjoinResponseCode", names: unjoinResponseCodeNames, refusal: 2)
        return ASN1.body(ASN1.integer(code))
    }

    static func eui(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let text = node?.text, let eui = EUI64(text) else { throw .shape("\(what) is not an EUI-64 (\(node?.text ?? "absent"))") }
        return eui.bytes
    }

    /// A base64 element (MMC's certificate hashes: GBCS's subject key identifiers).
    static func base64(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let text = node?.text, let data = Data(base64Encoded: text) else { throw .shape("\(what) is not base64 (\(node?.text ?? "absent"))") }
        return Array(data)
    }

    static func role(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> Int64 {
        guard let name = node?.text, let code = remotePartyRoles[name] else { throw .shape("\(what) is not a remote party role GBCS numbers (\(node?.text ?? "absent"))") }
        return code
    }

    /// A KeyUsage BIT STRING (unused bits, then the bits: digitalSignature 80,
    /// keyAgreement 08, keyCertSign 04) and the cell usage (1, prepayment top-up, for
    /// KeyAgreementTopUp; none otherwise).
    static func keyUsage(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> (bits: ASN1Value, cellUsage: ASN1Value?) {
        switch node?.text {
        case "DigitalSigning": return (ASN1.bitString([0x07, 0x80]), nil)
        case "KeyAgreement": return (ASN1.bitString([0x03, 0x08]), nil)
        case "KeyAgreementTopUp": return (ASN1.bitString([0x03, 0x08]), ASN1.integer(1))
        case "KeyCertSign": return (ASN1.bitString([0x02, 0x04]), nil)
        case let other: throw .shape("\(what) \(other ?? "absent") is not a certificate usage GBCS has")
        }
    }

    static func nonNegative(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> Int64 {
        let value = try GBCSAnswers.integer(node, what: what)
        guard value >= 0 else { throw .shape("\(what) is negative (\(value))") }
        return value
    }

    /// CS02a and CS02f (6.24.1): SEQUENCE OF remote party details { role INTEGER, status
    /// ENUMERATED, and where the device holds the party's anchors: current sequence
    /// number INTEGER, SEQUENCE OF trust anchor cells { key usage BIT STRING, cell usage
    /// INTEGER (top-up only), subject unique ID OCTET STRING (8), subject key identifier
    /// OCTET STRING } }. MMC repeats the party's role, status and sequence number in one
    /// `RemotePartyDetails` per cell: consecutive ones of one party are one party again.
    /// A party whose details have no sequence number is written with its role and status
    /// alone.
    static let securityCredentialsAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        struct Party {
            var role: Int64
            var status: Int64
            var sequence: Int64?
            var cells: [ASN1Value]
        }
        var parties: [Party] = []
        for details in body.all("RemotePartyDetails") {
            let role = try role(details.child("RemotePartyRole"), "a RemotePartyDetails' RemotePartyRole")
            guard let statusNode = details.child("StatusCode") else { throw .shape("a RemotePartyDetails lacks its StatusCode") }
            let status = try outcomeCode(statusNode, names: credentialsStatusCodes, what: "a RemotePartyDetails' StatusCode")
            guard details.child("RemotePartyFloorSeqNumber") != nil else {
                parties.append(Party(role: role, status: status, sequence: nil, cells: []))
                continue
            }
            let sequence = try nonNegative(details.child("RemotePartyFloorSeqNumber"), "RemotePartyFloorSeqNumber")
            let usage = try keyUsage(details.child("CertificateUsage"), "CertificateUsage")
            let cell = ASN1.sequence([usage.bits] + (usage.cellUsage.map { [$0] } ?? [])
                + [ASN1.octets(try eui(details.child("ExistingRemotePartyID"), "ExistingRemotePartyID")),
                   ASN1.octets(try base64(details.child("ExistingCertificateHash"), "ExistingCertificateHash"))])
            if let last = parties.last, last.role == role, last.status == status, last.sequence == sequence {
                parties[parties.count - 1].cells.append(cell)
            } else {
                parties.append(Party(role: role, status: status, sequence: sequence, cells: [cell]))
            }
        }
        if parties.isEmpty && context.succeeded { throw .shape("a credentials answer with no RemotePartyDetails") }
        let sequence = ASN1.sequence(parties.map { party in
            var fields = [ASN1.integer(party.role), ASN1.enumerated(party.status)]
            if let number = party.sequence { fields += [ASN1.integer(number), ASN1.sequence(party.cells)] }
            return ASN1.sequence(fields)
        })
        return ASN1.body(sequence)
    }

    /// CS02b (6.15.1, 6.21, 6.23, 8.5): SEQUENCE { command accepted NULL, execution outcome
    /// SEQUENCE { authorising party's originator counter INTEGER, credentials replacement
    /// mode INTEGER, SEQUENCE OF sequence number changes { role INTEGER, floor INTEGER,
    /// SEQUENCE OF specialist floors { usage 0 (prepayment top-up) INTEGER, floor INTEGER }
    /// where MMC has the top-up floor }, SEQUENCE OF replacement outcomes { affected cell
    /// { role INTEGER, key usage BIT STRING, cell usage INTEGER (top-up only) }, status
    /// ENUMERATED, existing subject OCTET STRING, existing key ID OCTET STRING, replacing
    /// subject OCTET STRING, replacing key ID OCTET STRING } } OPTIONAL }. No outcome
    /// (a future-dated or cancelled command): the NULL alone.
    static let updateSecurityCredentialsAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard let outcome = body.child("ExecutionOutcome") else { return ASN1.body(ASN1.sequence([ASN1.null])) }
        let counter = try nonNegative(outcome.child("AuthorisingRemotePartyOriginatorCounter"), "AuthorisingRemotePartyOriginatorCounter")
        guard let modeName = outcome.child("CredentialsReplacementMode")?.text, let mode = credentialsReplacementModes[modeName] else {
            throw .shape("credentials replacement mode \(outcome.child("CredentialsReplacementMode")?.text ?? "absent") has no GBCS number MMC names")
        }
        var changes: [ASN1Value] = []
        for change in outcome.all("RemotePartySeqNumberChange") {
            var fields = [ASN1.integer(try role(change.child("RemotePartyRole"), "a RemotePartySeqNumberChange's RemotePartyRole")),
                          ASN1.integer(try nonNegative(change.child("RemotePartyFloorSeqNumber"), "RemotePartyFloorSeqNumber"))]
            if let topUp = change.child("RemotePartyPrepaymentTopUpFloorSeqNumber") {
                let floor = try nonNegative(topUp, "RemotePartyPrepaymentTopUpFloorSeqNumber")
                fields.append(ASN1.sequence([ASN1.sequence([ASN1.integer(0), ASN1.integer(floor)])]))
            }
            changes.append(ASN1.sequence(fields))
        }
        var replacements: [ASN1Value] = []
        for replacement in outcome.all("ReplacementOutcome") {
            guard let statusNode = replacement.child("StatusCode") else { throw .shape("a ReplacementOutcome lacks its StatusCode") }
            let status = try outcomeCode(statusNode, names: credentialsStatusCodes, what: "a ReplacementOutcome's StatusCode")
            let usage = try keyUsage(replacement.child("CertificateType"), "a ReplacementOutcome's CertificateType")
            let cell = ASN1.sequence([ASN1.integer(try role(replacement.child("RemotePartyRole"), "a ReplacementOutcome's RemotePartyRole")), usage.bits]
                + (usage.cellUsage.map { [$0] } ?? []))
            replacements.append(ASN1.sequence([
                cell, ASN1.enumerated(status),
                ASN1.octets(try eui(replacement.child("ExistingRemotePartyID"), "ExistingRemotePartyID")),
                ASN1.octets(try base64(replacement.child("ExistingCertificateHash"), "ExistingCertificateHash")),
                ASN1.octets(try eui(replacement.child("NewRemotePartyID"), "NewRemotePartyID")),
                ASN1.octets(try base64(replacement.child("NewCertificateHash"), "NewCertificateHash")),
            ]))
        }
        let execution = ASN1.sequence([ASN1.integer(counter), ASN1.integer(mode), ASN1.sequence(changes),
                                               ASN1.sequence(replacements)])
        return ASN1.body(ASN1.sequence([ASN1.null, execution]))
    }

    /// GBCS's ASN.1 DeviceType (CS07), by MMC's name.
    static let deviceLogTypes: [String: Int64] = ["GSME": 0, "ESME": 1, "CHF": 2, "GPF": 3, "HCALCS": 4, "PPMID": 5, "Type2": 6]

    /// CS07 (8.9, a meter or the GPF): SEQUENCE { response code INTEGER (0 success, 1 read
    /// failure), SEQUENCE OF device log entries { device ID OCTET STRING (8), device type
    /// INTEGER } } (the entries left out of a failure).
    static let deviceLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return ASN1.body(ASN1.sequence([ASN1.integer(1)])) }
        guard let log = body.child("DeviceLogEntries") else { throw .shape("a device log answer without DeviceLogEntries") }
        var entries: [ASN1Value] = []
        for entry in log.all("LogEntry") {
            guard let typeName = entry.child("DeviceType")?.text, let type = deviceLogTypes[typeName] else {
                throw .shape("device type \(entry.child("DeviceType")?.text ?? "absent") is not one GBCS numbers")
            }
            entries.append(ASN1.sequence([ASN1.octets(try eui(entry.child("DeviceID"), "a device log entry's DeviceID")), ASN1.integer(type)]))
        }
        return ASN1.body(ASN1.sequence([ASN1.integer(0), ASN1.sequence(entries)]))
    }
}

// MARK: - DLMS reads

extension GBCSAnswers.SecurityAndHANAnswers {
    static func descriptor(_ classID: UInt16, _ instance: [UInt8], _ member: Int8) -> DLMSAPDU.Descriptor {
        DLMSAPDU.Descriptor(classID: classID, instance: instance, member: member)
    }

    /// The command's requests, or the use case's one get where it did not come as DLMS.
    static func requests(_ context: GBCSAnswerContext, or fixed: DLMSAPDU.Descriptor) -> [DLMSAPDU.RequestSpecification] {
        if let requests = context.requests, !requests.isEmpty { return requests }
        return [.get(fixed)]
    }

    /// One value answering one get.
    static func single(_ context: GBCSAnswerContext, _ value: DLMSData) -> GBCSAnswerBody { GBCSAnswers.dlms(context, [value], [.get(result: 0)]) }

    /// A 4-digit hex element (an event code).
    static func hex16(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> UInt16 {
        guard let text = node?.text, text.utf8.count == 4, let value = UInt16(text, radix: 16) else { throw .shape("\(what) is not 4 hex digits (\(node?.text ?? "absent"))") }
        return value
    }

    /// A log entry's time as seconds since 2000 (GBCS's log times are whole seconds: a
    /// fraction is dropped).
    static func logSeconds(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> UInt32 {
        let time = try GBCSAnswers.timestamp(node, what)
        let seconds = time.milliseconds / 1000 - GBCSAnswers.epoch2000
        guard let fitted = UInt32(exactly: seconds) else { throw .shape("\(what) \(time.iso8601) is outside GBCS's UTC time") }
        return fitted
    }

    /// An optional hex element's octets (none when absent).
    static func hexOctets(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let node else { return [] }
        guard let text = node.text, let octets = Hex.decode(text) else { throw .shape("\(what) is not hex (\(node.text ?? "empty"))") }
        return octets
    }

    static let eventLogInstance: [UInt8] = [0, 0, 99, 98, 0, 255]
    static let securityLogInstance: [UInt8] = [0, 0, 99, 98, 1, 255]

    /// ECS35a (6.13, the electricity meter's event log, Profile generic 0-0:99.98.0.255
    /// buffer by date range): a compact array of (time, double-long-unsigned seconds since
    /// 2000; event code, long-unsigned; other information, octet string, empty when none).
    static let eventLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        try logAnswer(body, context, instance: eventLogInstance, otherInformation: true)
    }

    /// ECS35d (6.13, the security log, 0-0:99.98.1.255): a compact array of (time, event
    /// code); a security log entry has no other information.
    static let securityLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        try logAnswer(body, context, instance: securityLogInstance, otherInformation: false)
    }

    static func logAnswer(_ body: DataNode, _ context: GBCSAnswerContext, instance: [UInt8], otherInformation: Bool) throws(GBCSAnswerError) -> GBCSAnswerBody {
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests(context, or: descriptor(7, instance, 2))) }
        guard let log = body.child("Log") else { throw .shape("a log answer without Log") }
        var entries: [DLMSData] = []
        for entry in log.all("LogEntry") {
            var fields: [DLMSData] = [.doubleLongUnsigned(try logSeconds(entry.child("Timestamp"), "a log entry's Timestamp")),
                                      .longUnsigned(try hex16(entry.child("LogCode"), "a log entry's LogCode"))]
            if otherInformation { fields.append(.octetString(try hexOctets(entry.child("OtherInformation"), "a log entry's OtherInformation"))) }
            entries.append(.structure(fields))
        }
        guard entries.count <= 100 else { throw .shape("\(entries.count) log entries (GBCS's log holds 100)") }
        var members: [DLMSCompactArray.TypeDescription] = [.simple(.doubleLongUnsigned), .simple(.longUnsigned)]
        if otherInformation { members.append(.simple(.octetString)) }
        return single(context, .compactArray(DLMSCompactArray(type: .structure(members), elements: entries)))
    }

    /// The ZigBee channel pages of the Sub GHz channel groups MMC names, with the first
    /// channel number of each and how many channels it has.
    static let subGHzGroups: [(name: String, page: UInt32, first: Int, count: Int)] = [
        ("LowerBandSubGHzChannels0To26", 28, 0, 27),
        ("LowerBandSubGHzChannels27To34", 29, 27, 8),
        ("LowerBandSubGHzChannels35To61", 30, 35, 27),
        ("UpperBandSubGHzChannels0To26", 31, 0, 27),
    ]

    /// A `ChannelN` element's N.
    static func channelNumber(_ node: DataNode) throws(GBCSAnswerError) -> Int {
        guard node.name.hasPrefix("Channel"), let number = Int(node.name.dropFirst("Channel".count)), number >= 0 else {
            throw .shape("\(node.name) is not a Sub GHz channel")
        }
        return number
    }

    /// A 32-bit channel page and mask, big-endian: the page in the top 5 bits, the
    /// channel's bit below.
    static func pageAndMask(page: UInt32, mask: UInt32) -> [UInt8] {
        let word = page << 27 | mask
        return [UInt8(truncatingIfNeeded: word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
    }

    /// MMC's OperatingSubGHzChannel as its channel page and the channel's bit in it:
    /// the lower band's channels 0–26, 27–34 and 35–61 on pages 28, 29 and 30, the upper
    /// band's 0–26 on page 31.
    static func operatingChannel(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> (page: UInt32, bit: Int) {
        guard let band = node?.children.first, band.children.count == 1, let channelNode = band.children.first else {
            throw .shape("\(what) is not one band with one channel")
        }
        let channel = try channelNumber(channelNode)
        let groups: ArraySlice<(name: String, page: UInt32, first: Int, count: Int)>
        switch band.name {
        case "OperatingLowerBandSubGHzChannel": groups = subGHzGroups.prefix(3)
        case "OperatingUpperBandSubGHzChannel": groups = subGHzGroups.suffix(1)
        default: throw .shape("\(what) names band \(band.name)")
        }
        guard let group = groups.first(where: { (($0.first)..<($0.first + $0.count)).contains(channel) }) else {
            throw .shape("\(what) is channel \(channel), outside its band")
        }
        return (group.page, channel - group.first)
    }

    static func bitString32(_ octets: [UInt8]) -> DLMSData { .bitString(DLMSData.BitString(bitCount: 32, octets: octets)) }

    /// DBCH01 (6.31, Data 0-0:94.44.10.2 attribute 2): the operating channel, a
    /// bit-string(32) channel page and mask with one channel.
    static let subGHzChannelAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests(context, or: descriptor(1, [0, 0, 94, 44, 10, 2], 2))) }
        let (page, bit) = try operatingChannel(body.child("OperatingSubGHzChannel"), "OperatingSubGHzChannel")
        return single(context, bitString32(pageAndMask(page: page, mask: UInt32(1) << UInt32(bit))))
    }

    /// A decimal with at most two fraction digits in hundredths (1.25 is 125, 2.0 is 200,
    /// 60.00 is 6000).
    static func hundredths(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> Int64 {
        guard let text = node?.text else { throw .shape("\(what) is absent") }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts.first ?? ""
        let fraction = parts.count == 2 ? parts[1] : ""
        let digits: (Substring) -> Bool = { $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }
        guard parts.count <= 2, !whole.isEmpty, whole.count <= 15, digits(whole), fraction.count <= 2, digits(fraction), parts.count == 1 || !fraction.isEmpty,
              let units = Int64(whole), let cents = Int64(fraction.isEmpty ? "0" : fraction) else {
            throw .shape("\(what) \(text) is not a decimal of hundredths")
        }
        return units * 100 + (fraction.count == 1 ? cents * 10 : cents)
    }

    /// DBCH03 (6.30, Data 0-0:94.44.10.0 attribute 2): a structure of 15: the allowed
    /// channels as four bit-string(32) channel pages and masks (pages 28, 29, 30, 31: MMC's
    /// groups in order), NormalLimitedDutyCycleThreshold and
    /// LimitedCriticalDutyCycleThreshold (long-unsigned, hundredths of a percent),
    /// MaximumSubGHzChannelChangesPerWeek (unsigned), GSMECurfew (long-unsigned),
    /// ChannelQuieterThreshold and ChannelNoisierThreshold (unsigned),
    /// NonGSMEPoorCommsPercentageThreshold (long-unsigned, hundredths),
    /// NonGSMEPoorCommsMeasurementPeriods (unsigned), LocalCHNoiseMeasurementPeriod
    /// (long-unsigned), LocalCHFailurePercentage and LocalCHRetryPercentage (long-unsigned,
    /// hundredths). A group MMC leaves out has no channels.
    static let subGHzConfigurationAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests(context, or: descriptor(1, [0, 0, 94, 44, 10, 0], 2))) }
        var fields: [DLMSData] = []
        for group in subGHzGroups {
            var mask: UInt32 = 0
            for node in body.child(group.name)?.children ?? [] {
                let channel = try channelNumber(node)
                guard ((group.first)..<(group.first + group.count)).contains(channel) else { throw .shape("\(group.name) holds channel \(channel)") }
                mask |= UInt32(1) << UInt32(channel - group.first)
            }
            fields.append(bitString32(pageAndMask(page: group.page, mask: mask)))
        }
        func long(_ value: Int64, _ name: String) throws(GBCSAnswerError) -> DLMSData { .longUnsigned(try GBCSAnswers.fit(value, name)) }
        func short(_ value: Int64, _ name: String) throws(GBCSAnswerError) -> DLMSData { .unsigned(try GBCSAnswers.fit(value, name)) }
        func number(_ name: String) throws(GBCSAnswerError) -> Int64 { try GBCSAnswers.integer(body, child: name) }
        func scaled(_ name: String) throws(GBCSAnswerError) -> Int64 { try hundredths(body.child(name), name) }
        fields += [
            try long(try scaled("NormalLimitedDutyCycleThreshold"), "NormalLimitedDutyCycleThreshold"),
            try long(try scaled("LimitedCriticalDutyCycleThreshold"), "LimitedCriticalDutyCycleThreshold"),
            try short(try number("MaximumSubGHzChannelChangesPerWeek"), "MaximumSubGHzChannelChangesPerWeek"),
            try long(try number("GSMECurfew"), "GSMECurfew"),
            try short(try number("ChannelQuieterThreshold"), "ChannelQuieterThreshold"),
            try short(try number("ChannelNoisierThreshold"), "ChannelNoisierThreshold"),
            try long(try scaled("NonGSMEPoorCommsPercentageThreshold"), "NonGSMEPoorCommsPercentageThreshold"),
            try short(try number("NonGSMEPoorCommsMeasurementPeriods"), "NonGSMEPoorCommsMeasurementPeriods"),
            try long(try number("LocalCHNoiseMeasurementPeriod"), "LocalCHNoiseMeasurementPeriod"),
            try long(try scaled("LocalCHFailurePercentage"), "LocalCHFailurePercentage"),
            try long(try scaled("LocalCHRetryPercentage"), "LocalCHRetryPercentage"),
        ]
        return single(context, .structure(fields))
    }

    /// DBCH02 (6.32, Profile generic 0-0:94.44.10.3 buffer by date range): a compact array
    /// of (time, double-long-unsigned seconds since 2000; event code, long-unsigned; data,
    /// octet string). An entry with a channel (a Sub GHz Channel Changed, 0x8F26, always
    /// has one) carries 7 octets: the channel page and mask, then `09 01` and the
    /// channel's bit in its page, as every RTDS entry has them (what GBCS calls these 3
    /// octets was not found; MMC has no element for them). Other entries carry none.
    static let subGHzChannelLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests(context, or: descriptor(7, [0, 0, 94, 44, 10, 3], 2))) }
        var entries: [DLMSData] = []
        for entry in body.all("LogEntry") {
            let code = try hex16(entry.child("EventCode"), "a channel log entry's EventCode")
            var data: [UInt8] = []
            if let channel = entry.child("OperatingSubGHzChannel") {
                let (page, bit) = try operatingChannel(channel, "a channel log entry's OperatingSubGHzChannel")
                data = pageAndMask(page: page, mask: UInt32(1) << UInt32(bit)) + [0x09, 0x01, UInt8(truncatingIfNeeded: bit)]
            } else if code == 0x8F26 {
                throw .shape("a Sub GHz Channel Changed entry without its OperatingSubGHzChannel")
            }
            entries.append(.structure([.doubleLongUnsigned(try logSeconds(entry.child("Timestamp"), "a channel log entry's Timestamp")), .longUnsigned(code), .octetString(data)]))
        }
        guard entries.count <= 100 else { throw .shape("\(entries.count) channel log entries (the log holds 100)") }
        let type = DLMSCompactArray.TypeDescription.structure([.simple(.doubleLongUnsigned), .simple(.longUnsigned), .simple(.octetString)])
        return single(context, .compactArray(DLMSCompactArray(type: type, elements: entries)))
    }

    /// A DLMS date-time of `time` with its day of week (1 Monday … 7 Sunday), as the CHF's
    /// device log carries it: hundredths 0, deviation not specified, status not specified.
    static func dateTimeWithWeekday(_ time: Timestamp) -> [UInt8] {
        var octets = GBCSAnswers.dateTime(time)
        let days = Int64(time.day.number)
        octets[4] = UInt8(truncatingIfNeeded: ((days + 3) % 7 + 7) % 7 + 1)
        return octets
    }

    /// The CHF device log's "never" (no communication yet): every field not specified.
    static let neverDateTime: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF]

    /// CCS05/CCS04 (8.9, the CHF: ZigBee network control 0-0:30.3.0.255 attribute 4, the
    /// active devices): an array of structures of 14: MAC address (octet string, the
    /// EUI-64), status (bit-string(8)), maximum, average and minimum RSSI (integer),
    /// maximum, average and minimum LQI (unsigned), last communication (date-time octet
    /// string, "never" when MMC has none), hops, transmission failures, transmission
    /// successes, application version and stack version (unsigned). MMC keeps only the
    /// device and its last communication, so the rest are written as every RTDS entry has
    /// them (status C8, 1 hop, 0 failures, 100 successes, versions 1 and 1), the RSSI as
    /// the emulator's SubGHzLinkQuality where it gives one (else 0) and the LQI 0: not
    /// the device's own, so this answer cannot be the RTDS's octets.
    static let chfDeviceLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests(context, or: descriptor(104, [0, 0, 30, 3, 0, 255], 4))) }
        guard let log = body.child("CHFDeviceLog") else { throw .shape("a CHF device log answer without CHFDeviceLog") }
        let entries = log.all("CHFDeviceLogEntry")
        guard entries.count <= 16 else { throw .shape("\(entries.count) CHF device log entries (the CHF holds 16)") }
        var devices: [DLMSData] = []
        for entry in entries {
            let id = try eui(entry.child("DeviceID"), "a CHF device log entry's DeviceID")
            var last = neverDateTime
            if let node = entry.child("LastCommunicationsDateTime") {
                let time = try GBCSAnswers.timestamp(node, "LastCommunicationsDateTime")
                last = dateTimeWithWeekday(Timestamp(milliseconds: time.milliseconds / 1000 * 1000))
            }
            var rssi: Int8 = 0
            if entry.child("SubGHzLinkQuality") != nil {
                rssi = try GBCSAnswers.fit(try GBCSAnswers.integer(entry.child("SubGHzLinkQuality"), what: "SubGHzLinkQuality"), "SubGHzLinkQuality")
            }
            devices.append(.structure([
                .octetString(id), .bitString(DLMSData.BitString(bitCount: 8, octets: [0xC8])), .integer(rssi), .integer(rssi), .integer(rssi),
                .unsigned(0), .unsigned(0), .unsigned(0), .octetString(last), .unsigned(1), .unsigned(0), .unsigned(100), .unsigned(1), .unsigned(1),
            ]))
        }
        return single(context, .array(devices))
    }
}

// MARK: - GBZ (the gas meter)

extension GBCSAnswers.SecurityAndHANAnswers {
    /// ZCL's status of a refused GBZ command in the RTDS's ERROR answers (0xC0).
    static let zclRefusalStatus: UInt8 = 0xC0

    /// The command's components, or, where it did not come as GBZ, DCC's: `fixed`
    /// (cluster, command, payload) with sequence numbers 0, 1, 2….
    static func commandComponents(_ context: GBCSAnswerContext, or fixed: [(cluster: UInt16, command: UInt8, payload: [UInt8])]) -> [GBZComponent] {
        if let components = context.commandComponents, !components.isEmpty { return components }
        return fixed.enumerated().map { index, part in
            // The Events cluster's Get Event Log is cluster-specific (frame type 1); reads are profile-wide.
            GBZComponent(control: index == fixed.count - 1 ? 0x01 : 0x00, cluster: part.cluster, frameControl: part.cluster == 0x0709 ? 0x01 : 0x00,
                         sequenceNumber: UInt8(truncatingIfNeeded: index), command: part.command, payload: .plain(part.payload))
        }
    }

    /// A GBZ answer of `components` (the last one's control field says it is the last).
    static func gbz(_ components: [GBZComponent]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        guard !components.isEmpty, let count = UInt8(exactly: components.count) else { throw .shape("a GBZ answer of \(components.count) components") }
        var parts = components
        for index in parts.indices { parts[index].control = index == parts.count - 1 ? 0x01 : 0x00 }
        return GBCSAnswerBody(.gbz(GBZPayload(componentCount: count, components: parts)))
    }

    /// A refusal: a ZCL Default Response (from the server, profile-wide, command 0x0B:
    /// the command's ID and the status) to each of the command's components.
    static func gbzRefusal(_ commands: [GBZComponent]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        try gbz(commands.map { command in
            GBZComponent(control: 0, cluster: command.cluster, frameControl: 0x08, sequenceNumber: command.sequenceNumber, command: 0x0B,
                         payload: .plain([command.command, zclRefusalStatus]))
        })
    }

    /// The Events cluster's Get Event Log (0709, command 0) of DCC's CS10a: event
    /// control 1 and log ID 3 (the event log), every event ID, the whole time range, every
    /// event from the first.
    static let getEventLog: (cluster: UInt16, command: UInt8, payload: [UInt8]) = (0x0709, 0x00, [0x13, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0])

    /// CS10a (6.13, a gas meter): ZSE's Publish Event Log (Events cluster 0709, command 1,
    /// from the server, default response disabled): total matching events (2), command
    /// index 0, total commands 1, log payload control 0, then each event: log ID (the
    /// command's), event ID (2), time (ZigBee UTC, 4), data (a ZCL octet string).
    /// Little-endian. A refusal: Default Response.
    static let gasEventLogAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let commands = commandComponents(context, or: [getEventLog])
        guard context.succeeded else { return try gbzRefusal(commands) }
        guard let command = commands.first(where: { $0.cluster == 0x0709 }) ?? commands.first else { throw .shape("CS10a's command has no component") }
        var logID: UInt8 = 3
        if case .plain(let octets) = command.payload, let first = octets.first, first & 0x0F != 0 { logID = first & 0x0F }
        guard let log = body.child("Log") else { throw .shape("a gas event log answer without Log") }
        let entries = log.all("LogEntry")
        guard entries.count <= 100, let total = UInt16(exactly: entries.count) else { throw .shape("\(entries.count) log entries (the log holds 100)") }
        var payload: [UInt8] = [UInt8(truncatingIfNeeded: total), UInt8(truncatingIfNeeded: total >> 8), 0x00, 0x01, 0x00]
        for entry in entries {
            let code = try hex16(entry.child("LogCode"), "a log entry's LogCode")
            let seconds = try logSeconds(entry.child("Timestamp"), "a log entry's Timestamp")
            let data = try hexOctets(entry.child("OtherInformation"), "a log entry's OtherInformation")
            guard let length = UInt8(exactly: data.count), length < 0xFF else { throw .shape("an event's other information of \(data.count) octets") }
            payload += [logID, UInt8(truncatingIfNeeded: code), UInt8(truncatingIfNeeded: code >> 8)]
            payload += (0..<4).map { UInt8(truncatingIfNeeded: seconds >> UInt32(8 * $0)) }
            payload += [length] + data
        }
        return try gbz([GBZComponent(control: 0x01, cluster: 0x0709, frameControl: 0x19, sequenceNumber: command.sequenceNumber, command: 0x01, payload: .plain(payload))])
    }

    /// The attribute IDs a Read Attributes command asks for (2 octets each, little-endian).
    static func requestedAttributes(_ component: GBZComponent) -> [UInt16]? {
        guard component.command == 0x00, component.isProfileWide, case .plain(let octets) = component.payload, !octets.isEmpty, octets.count % 2 == 0 else { return nil }
        return stride(from: 0, to: octets.count, by: 2).map { UInt16(octets[$0]) | UInt16(octets[$0 + 1]) << 8 }
    }

    /// DCC's GCS21e command: Basic ManufacturerName (0004), ModelIdentifier (0005) and
    /// HWVersion (0003); Metering SupplyDepletionState (0608) and SupplyTamperState (0607).
    static let gasIdentityReads: [(cluster: UInt16, command: UInt8, payload: [UInt8])] = [
        (0x0000, 0x00, [0x04, 0x00, 0x05, 0x00, 0x03, 0x00]),
        (0x0702, 0x00, [0x08, 0x06, 0x07, 0x06]),
    ]

    /// A ZSE supply state (enum8, SE 1.4: 0 supply off, 1 off and armed, 2 on, 3
    /// unchanged) from MMC's: Unchanged is 3; the emulator's Locked is taken as supply off
    /// (0), which Parse and Correlate leaves out as it does 0–2.
    static func supplyStateValue(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> ZCLValue {
        switch node?.text {
        case "Unchanged": return ZCLValue(type: 0x30, octets: [3])
        case "Locked": return ZCLValue(type: 0x30, octets: [0])
        case let other: throw .shape("\(what) \(other ?? "absent") is not a supply state GBCS writes")
        }
    }

    /// GCS21e (6.2.4, a gas meter): Read Attributes Responses (profile-wide command 1
    /// from the server) in the command's order of attributes: Basic ManufacturerName
    /// (character string, the ManufacturerIdentifier), ModelIdentifier (character string
    /// of 16: the model type padded with spaces to 8, then the device's EUI-64) and
    /// HWVersion (uint8: MMC has no element for it, written 1 as the RTDS has it);
    /// Metering SupplyDepletionState and SupplyTamperState (enum8). An attribute not among
    /// these is answered unsupported (0x86). A refusal: Default Response.
    static let gasIdentityAnswer: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let commands = commandComponents(context, or: gasIdentityReads)
        guard context.succeeded else { return try gbzRefusal(commands) }
        guard let gas = body.child("Gas") else { throw .shape("a gas identity answer without Gas") }
        guard let model = body.child("ModelType")?.text, model.utf8.count <= 8, model.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .shape("ModelType \(body.child("ModelType")?.text ?? "absent") is not up to 8 printable characters")
        }
        guard let manufacturer = body.child("ManufacturerIdentifier")?.text, manufacturer.utf8.count <= 32,
              manufacturer.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .shape("ManufacturerIdentifier \(body.child("ManufacturerIdentifier")?.text ?? "absent") is not up to 32 printable characters")
        }
        let device = try eui(body.child("DeviceIdentifier"), "DeviceIdentifier")
        let modelIdentifier = Array(model.utf8) + Array(repeating: 0x20, count: 8 - model.utf8.count) + device
        let tamper = try supplyStateValue(gas.child("SupplyTamperState"), "SupplyTamperState")
        let depletion = try supplyStateValue(gas.child("SupplyDepletionState"), "SupplyDepletionState")
        func value(_ cluster: UInt16, _ id: UInt16) -> ZCLValue? {
            switch (cluster, id) {
            case (0x0000, 0x0004): return ZCLValue(type: 0x42, octets: Array(manufacturer.utf8))
            case (0x0000, 0x0005): return ZCLValue(type: 0x42, octets: modelIdentifier)
            case (0x0000, 0x0003): return ZCLValue(type: 0x20, octets: [1])
            case (0x0702, 0x0608): return depletion
            case (0x0702, 0x0607): return tamper
            default: return nil
            }
        }
        var answers: [GBZComponent] = []
        for command in commands {
            guard let ids = requestedAttributes(command) else { throw .shape(String(format: "GCS21e's command component for cluster %04X is not a Read Attributes", command.cluster)) }
            let records = ids.map { id in
                value(command.cluster, id).map { ZCLAttributeRecord(id: id, status: 0, value: $0) } ?? ZCLAttributeRecord(id: id, status: 0x86, value: nil)
            }
            answers.append(GBZComponent(control: 0, cluster: command.cluster, frameControl: 0x08, sequenceNumber: command.sequenceNumber, command: 0x01,
                                        payload: .plain(ZCLAttributeRecord.encodeReadAttributesResponse(records))))
        }
        return try gbz(answers)
    }
}
