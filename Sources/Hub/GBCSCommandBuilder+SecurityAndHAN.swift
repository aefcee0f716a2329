import DUIS
import GBCS

/// The security and HAN family of non-critical requests: what a device trusts (DCC's own
/// credential changes on it, 6.21, 6.23 and 8.5, and the report of its trust anchors,
/// 6.24.1), which devices it talks to on the HAN (joins and unjoins 8.7.2 and 8.8.2, its
/// device log 8.9, the comms hub's whitelist 8.11 and its restoration on a new hub 8.12.x),
/// and the firmware version of a PPMID or HCALCS (11.2).
///
/// Who sends each one matters as much as the payload:
/// - the user, in its own name, for a meter's Method B join and unjoin (CS03B, CS04b), a
///   meter's or GPF's device log (CS07) and a meter's firmware version (ECS52, GCS38);
/// - DCC's access control broker on the user's behalf (its counter, the user as the
///   supplementary remote party) for everything sent to the comms hub function and to a
///   PPMID or HCALCS, which trust the broker rather than the user; the broker also signs
///   the joins and unjoins it sends to a PPMID or HCALCS (CS03A2, CS03C, CS04AC are
///   critical use cases: the broker's signature stands in for the user's);
/// - a DCC party in its own name, with its own counter and no supplementary remote party
///   (`securityAndHANSenders`): the broker for 6.21 (which it signs), 8.5, 6.24.1 and
///   8.12.2, the Transitional CoS party for 6.23 (which it signs).
extension GBCSCommandBuilder {
    static let securityAndHANBuilders: [SRV: CriticalCommandBuilder.Build] = [
        "6.21": { input throws(TransformError) in try securityAndHANHandover(input) },
        "6.23": { input throws(TransformError) in try securityAndHANChangeOfSupplier(input) },
        "8.5": { input throws(TransformError) in try securityAndHANOptOut(input) },
        "6.24.1": { input throws(TransformError) in try securityAndHANCredentialDetails(input) },
        "8.7.2": { input throws(TransformError) in try securityAndHANJoin(input) },
        "8.8.2": { input throws(TransformError) in try securityAndHANUnjoin(input) },
        "8.9": { input throws(TransformError) in try securityAndHANReadDeviceLog(input) },
        "8.11": { input throws(TransformError) in try securityAndHANUpdateCHFLog(input) },
        "11.2": { input throws(TransformError) in try securityAndHANReadFirmwareVersion(input) },
        // 8.12.1 and 8.12.2 (securityAndHANRestoreCHFLog, securityAndHANRestoreGPFLog) join
        // the table once the input carries DCC's copy of the old device's log.
    ]

    /// The SRVs whose command a DCC party sends in its own name: that party is the
    /// originator, with its own counter (handed in as `brokerCounter`), and there is no
    /// supplementary remote party (the RTDS's 6.21, 6.23, 8.5, 6.24.1 and 8.12.2 vectors).
    /// When the requesting user is that party itself (the RTDS's GCS59 and CS02f
    /// templates), the request's own counter is used and the frame is the user's as usual.
    static let securityAndHANSenders: [SRV: EUI64] = [
        "6.21": GBCSFrame.accessControlBroker,
        "6.23": securityAndHANTransCoS,
        "8.5": GBCSFrame.accessControlBroker,
        "6.24.1": GBCSFrame.accessControlBroker,
        "8.12.2": GBCSFrame.accessControlBroker,
    ]

    /// DCC's Transitional Change of Supplier party (GBCS remote party role 5).
    static let securityAndHANTransCoS = EUI64(0x90B3_D51F_3000_0004)

    // MARK: 6.21, 6.23, 8.5: CS02b sent by DCC

    /// 6.21 Request Handover of DCC Controlled Device: a device whose Supplier or Network
    /// Operator trust anchors DCC holds gets the user's. GBCS CS02b supplierBySupplier (mode
    /// 2, 0x0102) or networkOperatorByNetworkOperator (mode 3, 0x0103): the same layout as
    /// the user's own replacement (6.15.1, whose builder makes it), but authorised by the
    /// cells DCC controls, so the access control broker sends it in its own name, its
    /// counter the authorising sequence number, and signs it (RTDS: both handover vectors).
    static func securityAndHANHandover(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let party = GBCSFrame.accessControlBroker
        guard let role = input.body.value("RemotePartyRole") else { throw TransformError("RequestHandoverOfDCCControlledDevice has no RemotePartyRole") }
        guard role == "Supplier" || role == "NetworkOperator" else {
            throw TransformError("6.21 hands over a DCC-controlled device's Supplier or Network Operator credentials (GBCS CS02b), not the \(untrusted(role, limit: 24)) role's")
        }
        try securityAndHANReplacements(input)
        var body = input.body
        guard let index = body.children.firstIndex(where: { $0.name == "ReplacementCertificates" }) else {
            throw TransformError("RequestHandoverOfDCCControlledDevice has no ReplacementCertificates")
        }
        body.children[index] = securityAndHANKRPCertificates(body.children[index])
        let counter = try securityAndHANSenderCounter(input, party)
        let built = try CriticalCommandBuilder.credentialsUpdateKRP(securityAndHANInput(input, body: body, counter: counter))
        return CriticalCommandBuilder.Built(useCase: built.useCase, messageCode: built.messageCode, content: built.content, signedBy: party)
    }

    /// 6.23 Update Security Credentials (CoS): the new supplier's certificates replace the
    /// old supplier's in the device's three Supplier cells. GBCS CS02b supplierByTransCoS
    /// (mode 7, 0x0107), authorised by the Transitional CoS party's digital-signing cell
    /// (role 5): that party sends it in its own name, its counter the authorising sequence
    /// number, and signs it. The new supplier's floor sequence numbers (and the prepayment
    /// top-up floor) are "other remote party sequence number changes" ([6]) for role 2.
    /// ImportMPxN is DCC's (it names the supply), not the device's. Immediate only: a
    /// future-dated (or cancelling) CS02b appends ExecutionDateTime, which reaches the
    /// builders removed.
    static func securityAndHANChangeOfSupplier(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let party = securityAndHANTransCoS
        try securityAndHANReplacements(input)
        let body = input.body
        guard let certificates = body.child("SupplierReplacementCertificates") else {
            throw TransformError("UpdateSecurityCredentialsCoS has no SupplierReplacementCertificates")
        }
        let counter = try securityAndHANSenderCounter(input, party)
        // The certificates, their Supplier cells and the certification path are those of a
        // Supplier's own replacement: 6.15.1's builder checks and encodes them.
        let parts = try securityAndHANKRPParts(input, role: "Supplier", certificates: certificates, counter: counter)
        let form = try securityAndHANForm(input)
        let floor = try securityAndHANSeqNumber(body, form.floor)
        var change = [CriticalCommandBuilder.credentialsInteger(2), CriticalCommandBuilder.credentialsInteger(floor)]
        if let name = form.prepaymentFloor, body.child(name) != nil {
            let topUp = try securityAndHANSeqNumber(body, name)
            change.append(securityAndHANNode(0x30, [securityAndHANNode(0x30, [CriticalCommandBuilder.credentialsInteger(0), CriticalCommandBuilder.credentialsInteger(topUp)])]))
        }
        var control = [CriticalCommandBuilder.credentialsInteger(7)]
        control += parts.disapplyCPV
        control.append(securityAndHANNode(0xA2, [CriticalCommandBuilder.credentialsInteger(5), securityAndHANDigitalSignature]))
        control.append(CriticalCommandBuilder.credentialsInteger(counter, tag: 0x83))
        control.append(securityAndHANNode(0xA6, [securityAndHANNode(0x30, change)]))
        let command = securityAndHANNode(0x30, [securityAndHANNode(0x30, control), parts.replacements, parts.path])
        return CriticalCommandBuilder.Built(useCase: "CS02b", messageCode: 0x0107, content: GBCSPayload.asn1(command).encode(), signedBy: party)
    }

    /// 8.5 Service Opt Out: DCC's access control broker replaces its own credentials on the
    /// device with the user's (the device leaves DCC's service). GBCS CS02b
    /// accessControlBrokerByACB (mode 4, 0x0104): no authorising cell (the broker's MAC
    /// authorises it), the broker's counter, the new ACB floor sequence number ([4]), the
    /// ACB cells (role 4; key agreement, digital signing optional). Sent by the broker in
    /// its own name and not signed (RTDS). ExecutionDateTime (mandatory) is when DCC sends
    /// it; the command carries none (RTDS).
    static func securityAndHANOptOut(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let party = GBCSFrame.accessControlBroker
        try securityAndHANReplacements(input)
        guard let certificates = input.body.child("ReplacementCertificates") else { throw TransformError("ServiceOptOut has no ReplacementCertificates") }
        let floor = try securityAndHANSeqNumber(input.body, try securityAndHANForm(input).floor)
        let counter = try securityAndHANSenderCounter(input, party)
        // Checked and encoded as a Network Operator's replacement (digital signing and key
        // agreement cells, no top-up cell), then retargeted to the ACB's cells.
        let parts = try securityAndHANKRPParts(input, role: "NetworkOperator", certificates: certificates, counter: counter)
        var replacements: [ASN1Value] = []
        for replacement in parts.replacements.children {
            let cell = replacement.children.count == 2 ? replacement.children[1].children : []
            guard cell.count == 2, let certificate = replacement.children.first else { throw TransformError("8.5's replacement certificates could not be encoded") }
            replacements.append(securityAndHANNode(0x30, [certificate, securityAndHANNode(0x30, [CriticalCommandBuilder.credentialsInteger(4), cell[1]])]))
        }
        var control = [CriticalCommandBuilder.credentialsInteger(4)]
        control += parts.disapplyCPV
        control.append(CriticalCommandBuilder.credentialsInteger(counter, tag: 0x83))
        control.append(CriticalCommandBuilder.credentialsInteger(floor, tag: 0x84))
        let command = securityAndHANNode(0x30, [securityAndHANNode(0x30, control), securityAndHANNode(0x30, replacements), parts.path])
        return CriticalCommandBuilder.Built(useCase: "CS02b", messageCode: 0x0104, content: GBCSPayload.asn1(command).encode())
    }

    /// The replacement certificates exactly as DUIS defines them for the SRV, as DCC's
    /// check and the device read them: nothing else in the container reaches the command.
    private static func securityAndHANReplacements(_ input: CriticalCommandBuilder.Input) throws(TransformError) {
        do {
            _ = try ReplacementCertificates(srv: input.srv, body: input.body)
        } catch {
            throw TransformError(error.reason)
        }
    }

    /// The SRV's floor sequence number elements, as the device reads them.
    private static func securityAndHANForm(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> ReplacementCertificates.Form {
        guard let form = ReplacementCertificates.form(of: input.srv) else { throw TransformError("\(input.srv) carries no replacement certificates") }
        return form
    }

    // MARK: 6.24.1 CS02a / CS02f

    /// GBCS remote party roles, as DUIS names them. LoadController (8) is inferred from the
    /// CS02f vector and CS02g's authorising cell.
    static let securityAndHANRoles: [String: UInt64] = [
        "Root": 0, "Recovery": 1, "Supplier": 2, "NetworkOperator": 3, "ACB": 4, "TransCoS": 5, "LoadController": 8,
    ]

    /// 6.24.1 Retrieve Device Security Credentials (KRP): the device reports, per role
    /// asked, its trust anchor cells (subject and key IDs) and sequence number. GBCS CS02a
    /// (0x0008) or, for the Load Controller role, CS02f (0x011B, "ESME and SAPC": only such a
    /// device has that role). SEQUENCE { authorising cell { ACB, key agreement } (the
    /// broker's MAC authorises it), SEQUENCE OF role }, the roles in the request's order.
    /// The broker sends it in its own name (RTDS). Assumed: CS02f exactly when LoadController
    /// is asked (the RTDS's CS02f ERROR vector asks TransCoS alone of an ESME by CS02f,
    /// which suggests DCC chooses by the ESME's GBCS version, inventory the builder lacks).
    static func securityAndHANCredentialDetails(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let elements = input.body.children.filter { $0.name == "RemotePartyRole" }
        guard (1...7).contains(elements.count) else { throw TransformError("RetrieveDeviceSecurityCredentialsKRP asks \(elements.count) roles, DUIS allows 1 to 7") }
        var roles: [ASN1Value] = []
        var loadController = false
        for element in elements {
            let text = String(element.text.filter { !$0.isWhitespace })
            guard element.children.isEmpty, let role = securityAndHANRoles[text] else {
                throw TransformError("RemotePartyRole \(untrusted(element.text, limit: 24)) is not a GBCS remote party role")
            }
            loadController = loadController || role == 8
            roles.append(CriticalCommandBuilder.credentialsInteger(role))
        }
        if loadController && input.deviceType != .esme {
            throw TransformError(unsupported: "the Load Controller role's credentials are an ESME's (GBCS CS02f), not a \(input.deviceType.rawValue)'s")
        }
        let authorising = securityAndHANNode(0x30, [CriticalCommandBuilder.credentialsInteger(4), securityAndHANKeyAgreement])
        let command = securityAndHANNode(0x30, [authorising, securityAndHANNode(0x30, roles)])
        return CriticalCommandBuilder.Built(useCase: loadController ? "CS02f" : "CS02a", messageCode: loadController ? 0x011B : 0x0008,
                                            content: GBCSPayload.asn1(command).encode())
    }

    // MARK: 8.7.2, 8.8.2: joins and unjoins

    /// 8.7.2 Join Service (Non-Critical), GBCS JoinDevice SEQUENCE { INTEGER method and
    /// role, OCTET STRING(8) other device, INTEGER its GBCS device type, [certificate] }:
    /// - a PPMID or HCALCS with an ESME: CS03A2 (Method A responder, 0x00AB), a PPMID with a
    ///   GSME: CS03C (Method C, 0x00AF, with the GSME's KA certificate from SMKI); both made
    ///   by 8.7.1's builder, sent and signed by the access control broker for the user;
    /// - a meter with any other device (a Type 2 IHD or CAD; the RTDS's has a GPF): CS03B
    ///   (Method B, 0x000E), non-critical, from the user.
    /// The other device's type (and certificate) is DCC's inventory's (`input.otherDevice`).
    static func securityAndHANJoin(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let other = try securityAndHANDevice(input.body, "OtherDeviceID")
        guard let known = input.otherDevice else {
            throw TransformError(unsupported: "8.7.2 needs the other device's type, which DCC takes from its inventory: \(other) is not in it")
        }
        switch (input.deviceType, known.type) {
        case (.ppmid, .esme), (.hcalcs, .esme), (.ppmid, .gsme):
            var certificate: ASN1Value?
            if let der = known.keyAgreementCertificate {
                do {
                    certificate = try ASN1Value.decode(der)
                } catch {
                    throw TransformError("the key-agreement certificate of \(other) cannot be read: \(error)")
                }
            }
            let join = try CriticalCommandBuilder.credentialsJoin(input, other: other, otherType: known.type, otherCertificate: certificate)
            return CriticalCommandBuilder.Built(useCase: join.useCase, messageCode: join.messageCode, content: join.content,
                                                sentByBroker: securityAndHANViaBroker(input), signedBy: GBCSFrame.accessControlBroker)
        case (.esme, .ppmid), (.esme, .hcalcs), (.gsme, .ppmid):
            throw TransformError("a meter joins a PPMID or HCALCS by GBCS Method A or C, the critical 8.7.1")
        case (.esme, _), (.gsme, _):
            let join = securityAndHANNode(0x30, [CriticalCommandBuilder.credentialsInteger(2), securityAndHANOctets(other.bytes),
                                                 CriticalCommandBuilder.credentialsInteger(CriticalCommandBuilder.credentialsGBCSDeviceType(known.type))])
            return CriticalCommandBuilder.Built(useCase: "CS03B", messageCode: 0x000E, content: GBCSPayload.asn1(join).encode())
        default:
            throw TransformError(unsupported: "8.7.2 joins a meter with a HAN device, or a PPMID or HCALCS with a meter, not a \(input.deviceType.rawValue) with a \(known.type.rawValue)")
        }
    }

    /// 8.8.2 Unjoin Service (Non-Critical): the device drops the other device from its
    /// device log. The content is an OCTET STRING(8) of the other device. To a PPMID or
    /// HCALCS: CS04AC (0x000F), sent and signed by the access control broker for the user;
    /// to a meter: CS04b (Method B, 0x0010), from the user. A meter's unjoin of a PPMID or
    /// HCALCS (when the inventory knows the other device) is the critical 8.8.1.
    static func securityAndHANUnjoin(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let other = try securityAndHANDevice(input.body, "OtherDeviceID")
        let content = GBCSPayload.asn1(securityAndHANOctets(other.bytes)).encode()
        switch input.deviceType {
        case .ppmid, .hcalcs:
            return CriticalCommandBuilder.Built(useCase: "CS04AC", messageCode: 0x000F, content: content,
                                                sentByBroker: securityAndHANViaBroker(input), signedBy: GBCSFrame.accessControlBroker)
        case .esme, .gsme:
            if let known = input.otherDevice, known.type == .ppmid || known.type == .hcalcs {
                throw TransformError("a meter unjoins a PPMID or HCALCS by GBCS CS04AC, the critical 8.8.1")
            }
            return CriticalCommandBuilder.Built(useCase: "CS04b", messageCode: 0x0010, content: content)
        default:
            throw TransformError(unsupported: "8.8.2 unjoins a HAN device from a meter, PPMID or HCALCS, not from a \(input.deviceType.rawValue)")
        }
    }

    // MARK: 8.9, 8.11, 8.12: device logs

    /// The comms hub's ZigBee network management object (class 104): its device log (the
    /// HAN whitelist) and the methods that change it.
    static let securityAndHANNetwork = obis("0-0:30.3.0.255")

    /// 8.9 Read Device Log. The comms hub function: GBCS CCS05CCS04 (0x0004), a GET of the
    /// device log (class 104 attribute 4); with ReadSecurityDetails, CCS07 (0x00FE), method 4
    /// of 0-0:30.3.0.255 and of 0-0:30.3.1.255 (the device logs with their security
    /// details). Sent by the access control broker for the user. Any other Type 1 device:
    /// CS07 (0x0013), ASN.1 NULL, from the user (to a meter or GPF) or the broker (to a
    /// PPMID or HCALCS). Assumed: CCS05CCS04, not CCS06 (0x010F, the same GET), as the local
    /// RTDS and its 5.4 template have it.
    static func securityAndHANReadDeviceLog(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        let security = input.body.child("ReadSecurityDetails") != nil
        switch input.deviceType {
        case .chf:
            let sender = try securityAndHANBrokerInput(input)
            if security {
                let specs: [DLMSAPDU.RequestSpecification] = [
                    .action(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 4)),
                    .action(DLMSAPDU.Descriptor(classID: 104, instance: obis("0-0:30.3.1.255"), member: 4)),
                ]
                return CriticalCommandBuilder.Built(useCase: "CCS07", messageCode: 0x00FE, content: CriticalCommandBuilder.access(sender, specs, [.null, .null]),
                                                    sentByBroker: securityAndHANViaBroker(input))
            }
            let specs: [DLMSAPDU.RequestSpecification] = [.get(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 4))]
            return CriticalCommandBuilder.Built(useCase: "CCS05CCS04", messageCode: 0x0004, content: CriticalCommandBuilder.access(sender, specs, [.null]),
                                                sentByBroker: securityAndHANViaBroker(input))
        case .esme, .gsme, .gpf, .ppmid, .hcalcs:
            guard !security else { throw TransformError("ReadSecurityDetails is for the comms hub's device logs, not a \(input.deviceType.rawValue)'s") }
            let viaBroker = (input.deviceType == .ppmid || input.deviceType == .hcalcs) && securityAndHANViaBroker(input)
            return CriticalCommandBuilder.Built(useCase: "CS07", messageCode: 0x0013, content: securityAndHANNull, sentByBroker: viaBroker)
        case .ihd, .cad:
            throw TransformError(unsupported: "a Type 2 device (\(input.deviceType.rawValue)) takes no GBCS commands")
        }
    }

    /// 8.11 Update HAN Device Log: the comms hub's whitelist, class 104 on 0-0:30.3.0.255.
    /// Add is GBCS CCS01 (0x0001): register_device (method 1) {os8 DeviceID, enum its GBCS
    /// device type (inventory), os key ← InstallCode (decoded hex), enum 0}, then
    /// join_timeout (attribute 3) ← JoinTimePeriod (s) and enable (attribute 2) TRUE, so
    /// the device may join in that window. Remove is CCS02 (0x0002): unregister_device
    /// (method 2) with the os8 DeviceID. The MPxNs are DCC's inventory, not the hub's. Sent by
    /// the access control broker for the user. Inferred: the type enum is GBCS's DeviceType
    /// (the RTDS shows ESME = 1 only) and the last enum is always 0.
    static func securityAndHANUpdateCHFLog(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        guard input.deviceType == .chf else { throw TransformError(unsupported: "8.11 updates the comms hub's device log, not a \(input.deviceType.rawValue)'s") }
        let body = input.body
        let device = try securityAndHANDevice(body, "DeviceID")
        let add = body.child("AddDeviceToCHFWhitelist")
        let sender = try securityAndHANBrokerInput(input)
        switch body.value("RequestType") {
        case "Add":
            guard let add else { throw TransformError("adding a device to the comms hub's log needs AddDeviceToCHFWhitelist") }
            // The request's own values first: refused whether or not DCC knows the device.
            let period = try CriticalCommandBuilder.integer(add, "JoinTimePeriod", as: UInt16.self)
            guard (1...3600).contains(period) else { throw TransformError("JoinTimePeriod \(period) is outside 1...3600 seconds") }
            guard let text = add.value("InstallCode"), let code = Hex.decode(text), (6...16).contains(code.count) else {
                throw TransformError("InstallCode \(untrusted(add.value("InstallCode") ?? "", limit: 40)) is not 6 to 16 octets of hex")
            }
            guard let known = input.otherDevice else {
                throw TransformError(unsupported: "8.11 needs the added device's type, which DCC takes from its inventory: \(device) is not in it")
            }
            let type = UInt8(truncatingIfNeeded: CriticalCommandBuilder.credentialsGBCSDeviceType(known.type))
            let specs: [DLMSAPDU.RequestSpecification] = [
                .action(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 1)),
                .set(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 3)),
                .set(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 2)),
            ]
            let data: [DLMSData] = [
                .structure([.octetString(device.bytes), .enumerated(type), .octetString(code), .enumerated(0)]),
                .longUnsigned(period),
                .boolean(0xFF),
            ]
            return CriticalCommandBuilder.Built(useCase: "CCS01", messageCode: 0x0001, content: CriticalCommandBuilder.access(sender, specs, data),
                                                sentByBroker: securityAndHANViaBroker(input))
        case "Remove":
            guard add == nil else { throw TransformError("AddDeviceToCHFWhitelist goes with RequestType Add, not Remove") }
            let specs: [DLMSAPDU.RequestSpecification] = [.action(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 2))]
            return CriticalCommandBuilder.Built(useCase: "CCS02", messageCode: 0x0002,
                                                content: CriticalCommandBuilder.access(sender, specs, [.octetString(device.bytes)]),
                                                sentByBroker: securityAndHANViaBroker(input))
        case let other:
            throw TransformError("RequestType \(untrusted(other ?? "(none)", limit: 24)) is neither Add nor Remove")
        }
    }

    /// What DCC keeps of a comms hub's device log to restore it on its replacement (GBCS
    /// 18.2, 8.12.1): the HAN's extended PAN ID (GBCS sets it to the hub's HAN IEEE address,
    /// the old GPF's EUI) and, per device, the 16 octets the old hub reported for its link
    /// with it (the hashed TC link key of its CS14 device log alerts).
    struct CHFDeviceLogBackup: Sendable {
        struct Entry: Sendable {
            let device: EUI64
            let linkKey: [UInt8]
        }

        let extendedPANID: [UInt8]
        let entries: [Entry]
    }

    /// 8.12.1 Restore HAN Device Log: the new comms hub takes the old one's device log and
    /// forms its HAN with the old extended PAN ID, so the premises' devices rejoin without
    /// new install codes. GBCS CCS03 (0x0003): restore (method 5) of 0-0:30.3.0.255 with
    /// structure {os8 extended PAN ID, array of structure {os8 device, os16 link key}}, sent
    /// by the access control broker for the user. DUIS names only OldCHFID: the rest is
    /// DCC's copy of that hub's log (the hub must keep it from the old hub's CS14 alerts).
    static func securityAndHANRestoreCHFLog(_ input: CriticalCommandBuilder.Input, backup: CHFDeviceLogBackup) throws(TransformError) -> CriticalCommandBuilder.Built {
        guard input.deviceType == .chf else { throw TransformError(unsupported: "8.12.1 restores a comms hub's device log, not a \(input.deviceType.rawValue)'s") }
        _ = try securityAndHANDevice(input.body, "OldCHFID")
        guard backup.extendedPANID.count == 8 else { throw TransformError("an extended PAN ID is 8 octets, not \(backup.extendedPANID.count)") }
        var entries: [DLMSData] = []
        for entry in backup.entries {
            guard entry.linkKey.count == 16 else { throw TransformError("the link key kept for \(entry.device) is \(entry.linkKey.count) octets, not 16") }
            entries.append(.structure([.octetString(entry.device.bytes), .octetString(entry.linkKey)]))
        }
        let sender = try securityAndHANBrokerInput(input)
        let specs: [DLMSAPDU.RequestSpecification] = [.action(DLMSAPDU.Descriptor(classID: 104, instance: securityAndHANNetwork, member: 5))]
        return CriticalCommandBuilder.Built(useCase: "CCS03", messageCode: 0x0003,
                                            content: CriticalCommandBuilder.access(sender, specs, [.structure([.octetString(backup.extendedPANID), .array(entries)])]),
                                            sentByBroker: securityAndHANViaBroker(input))
    }

    /// What DCC keeps of a GPF's device log (its GCS62 backup alerts), per device: its EUI
    /// and type.
    struct GPFDeviceLogBackup: Sendable {
        struct Entry: Sendable {
            let device: EUI64
            let type: DeviceType
        }

        let entries: [Entry]
    }

    /// 8.12.2 Restore GPF Device Log: the new GPF takes the old one's device log. GBCS GCS59
    /// (0x008C): SEQUENCE { SEQUENCE OF SEQUENCE { OCTET STRING(8) device, INTEGER GBCS
    /// device type } }. DUIS names only OldGPFID: the entries are DCC's copy of that GPF's
    /// log, from its GCS62 backup alerts. Sent by the access control broker in its own name.
    static func securityAndHANRestoreGPFLog(_ input: CriticalCommandBuilder.Input, backup: GPFDeviceLogBackup) throws(TransformError) -> CriticalCommandBuilder.Built {
        guard input.deviceType == .gpf else { throw TransformError(unsupported: "8.12.2 restores a GPF's device log, not a \(input.deviceType.rawValue)'s") }
        _ = try securityAndHANDevice(input.body, "OldGPFID")
        let entries = backup.entries.map { entry in
            securityAndHANNode(0x30, [securityAndHANOctets(entry.device.bytes),
                                      CriticalCommandBuilder.credentialsInteger(CriticalCommandBuilder.credentialsGBCSDeviceType(entry.type))])
        }
        let command = securityAndHANNode(0x30, [securityAndHANNode(0x30, entries)])
        return CriticalCommandBuilder.Built(useCase: "GCS59", messageCode: 0x008C, content: GBCSPayload.asn1(command).encode())
    }

    // MARK: 11.2 Read Firmware Version

    /// 11.2 Read Firmware Version. A PPMID or HCALCS: GBCS CS08 (0x0129), ASN.1 NULL, sent
    /// by the access control broker for the user (the RTDS's template names the broker as
    /// requester; its vector has a supplier as the supplementary remote party). An ESME:
    /// ECS52 (0x0059), a GET of 0-0:0.2.1.255 attribute 2 (the firmware version); a GSME:
    /// GCS38 (0x0084), a GBZ read of metering cluster attribute 0x0206; both from the user
    /// (upstream RTDS 4.5.0 vectors). The comms hub's and GPF's are not built (no vector).
    static func securityAndHANReadFirmwareVersion(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        switch input.deviceType {
        case .ppmid, .hcalcs:
            return CriticalCommandBuilder.Built(useCase: "CS08", messageCode: 0x0129, content: securityAndHANNull, sentByBroker: securityAndHANViaBroker(input))
        case .esme:
            return CriticalCommandBuilder.Built(useCase: "ECS52", messageCode: 0x0059,
                                                content: CriticalCommandBuilder.access(input, [.get(get(1, "0-0:0.2.1.255", 2))], [.null]))
        case .gsme:
            let read = GBZComponent(control: 0x01, cluster: 0x0702, frameControl: 0x00, sequenceNumber: 0, command: 0x00, payload: .plain([0x06, 0x02]))
            return CriticalCommandBuilder.Built(useCase: "GCS38", messageCode: 0x0084,
                                                content: GBCSPayload.gbz(GBZPayload(componentCount: 1, components: [read])).encode())
        default:
            throw TransformError(unsupported: "11.2 is built for a PPMID, HCALCS, ESME or GSME, not a \(input.deviceType.rawValue)")
        }
    }

    // MARK: Helpers

    /// ASN.1 NULL, the whole content of CS07 and CS08.
    static let securityAndHANNull = GBCSPayload.asn1(ASN1Value(tag: [0x05], content: .primitive([]))).encode()
    /// KeyUsage digitalSignature and keyAgreement (X.509 bits 0 and 4, DER).
    private static let securityAndHANDigitalSignature = ASN1Value(tag: [0x03], content: .primitive([0x07, 0x80]))
    private static let securityAndHANKeyAgreement = ASN1Value(tag: [0x03], content: .primitive([0x03, 0x08]))

    private static func securityAndHANNode(_ tag: UInt8, _ children: [ASN1Value]) -> ASN1Value {
        ASN1Value(tag: [tag], content: .constructed(children))
    }

    private static func securityAndHANOctets(_ octets: [UInt8]) -> ASN1Value {
        ASN1Value(tag: [0x04], content: .primitive(octets))
    }

    /// An EUI-64 element of the body (OtherDeviceID, DeviceID, OldCHFID, OldGPFID).
    static func securityAndHANDevice(_ body: ElementTree, _ name: String) throws(TransformError) -> EUI64 {
        guard let text = body.value(name) else { throw TransformError("\(body.name) has no \(name)") }
        guard let eui = EUI64(text) else { throw TransformError("\(name) \(untrusted(text, limit: 24)) is not an EUI-64") }
        return eui
    }

    /// A GBCS sequence number (floor): 0 to 2^63 - 1.
    private static func securityAndHANSeqNumber(_ body: ElementTree, _ name: String) throws(TransformError) -> UInt64 {
        let value = try CriticalCommandBuilder.integer(body, name, as: Int64.self)
        guard value >= 0 else { throw TransformError("\(name) \(value) is negative") }
        return UInt64(value)
    }

    /// Whether the access control broker sends the command for the user: unless the user
    /// is the broker itself.
    private static func securityAndHANViaBroker(_ input: CriticalCommandBuilder.Input) -> Bool {
        input.user != GBCSFrame.accessControlBroker
    }

    /// The input whose counter is the frame's, for the DLMS invoke ID: the broker's when it
    /// sends for the user.
    private static func securityAndHANBrokerInput(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Input {
        guard securityAndHANViaBroker(input) else { return input }
        guard let counter = input.brokerCounter else { throw TransformError(unsupported: "\(input.srv) is sent by DCC's access control broker, and needs its counter") }
        return securityAndHANInput(input, body: input.body, counter: counter)
    }

    /// The counter of the DCC party sending in its own name: the request's when the party
    /// made the request, else the party's own (handed in as `brokerCounter`).
    private static func securityAndHANSenderCounter(_ input: CriticalCommandBuilder.Input, _ party: EUI64) throws(TransformError) -> UInt64 {
        if input.user == party { return input.counter }
        guard let counter = input.brokerCounter else { throw TransformError(unsupported: "\(input.srv) is sent by DCC (\(party)) in its own name, and needs that party's counter") }
        return counter
    }

    private static func securityAndHANInput(_ input: CriticalCommandBuilder.Input, body: ElementTree, counter: UInt64) -> CriticalCommandBuilder.Input {
        CriticalCommandBuilder.Input(srv: input.srv, body: body, user: input.user, device: input.device, deviceType: input.deviceType, counter: counter,
                                     otherDevice: input.otherDevice, brokerCounter: input.brokerCounter)
    }

    /// DUIS's DCC replacement certificates as 6.15.1's (under SupplierOrNetworkOperatorCertificates).
    private static func securityAndHANKRPCertificates(_ certificates: ElementTree) -> ElementTree {
        ElementTree(name: "ReplacementCertificates", children: [ElementTree(name: "SupplierOrNetworkOperatorCertificates", children: certificates.children)])
    }

    /// The parts of a CS02b that 6.15.1's builder checks and encodes for a role: the
    /// "disapply time-based CPV checks" flag ([1], absent when applied), the replacements
    /// (certificate and that role's cell each) and the certification path.
    private static func securityAndHANKRPParts(_ input: CriticalCommandBuilder.Input, role: String, certificates: ElementTree,
                                               counter: UInt64) throws(TransformError) -> (disapplyCPV: [ASN1Value], replacements: ASN1Value, path: ASN1Value) {
        var children = [ElementTree(name: "RemotePartyRole", text: role), securityAndHANKRPCertificates(certificates)]
        for name in ["CertificationPathCertificates", "ApplyTimeBasedCPVChecks"] {
            if let element = input.body.child(name) { children.append(element) }
        }
        let built = try CriticalCommandBuilder.credentialsUpdateKRP(securityAndHANInput(input, body: ElementTree(name: input.body.name, children: children), counter: counter))
        let command: ASN1Value
        do {
            command = try ASN1Value.decode(built.content)
        } catch {
            throw TransformError("\(input.srv)'s credentials could not be encoded: \(error)")
        }
        let parts = command.children
        guard parts.count == 3, let control = parts.first?.children else { throw TransformError("\(input.srv)'s credentials could not be encoded") }
        return (control.filter { $0.tag == [0x81] }, parts[1], parts[2])
    }
}
