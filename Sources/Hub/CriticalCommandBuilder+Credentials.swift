import DUIS
import Foundation
import GBCS

/// The security-credentials family: the critical SRVs whose GBCS commands are ASN.1 (DER)
/// rather than DLMS or GBZ. They change what a device trusts (the remote parties' trust
/// anchors, its own certificates), which devices it talks to on the HAN, and which
/// firmware it runs. The same payload goes to every device type that has the use case
/// (ESME, GSME, PPMID, HCALCS, CHF, GPF), except joins, whose method depends on the pair.
extension CriticalCommandBuilder {
    static let credentialBuilders: [SRV: Build] = [
        "6.15.1": { input throws(TransformError) in try credentialsUpdateKRP(input) },
        "6.15.2": { input throws(TransformError) in try credentialsUpdateDeviceCertificate(input) },
        "6.17": { input throws(TransformError) in try credentialsKeyUsageCommand(input, useCase: "CS02c", messageCode: 0x000A) },
        "6.24.2": { input throws(TransformError) in try credentialsKeyUsageCommand(input, useCase: "CS02e", messageCode: 0x000C) },
        "8.7.1": { input throws(TransformError) in try credentialsJoin(input) },
        "8.8.1": { input throws(TransformError) in try credentialsUnjoin(input) },
        "11.3": { input throws(TransformError) in try credentialsActivateFirmware(input) },
    ]

    // MARK: 6.15.1 Update Security Credentials (KRP): CS02b / CS02g

    /// 6.15.1: GBCS CS02b (CS02g for a Load Controller). The remote party replaces its own
    /// trust anchors on the device: each replacement certificate goes into the device's
    /// trust anchor cell of that role and key usage (digital signing; key agreement; key
    /// agreement for prepayment top-up, a second cell). The command is authorised by the
    /// role's current digital-signing cell, whose key signs it; its sequence number is the
    /// command's counter. The floor sequence numbers reset the role's anti-replay counters
    /// (commands, and UTRN top-ups for a supplier). "ApplyTimeBasedCPVChecks" false is sent
    /// as "disapply" (1); true is GBCS's default and left out, as in every RTDS CS02b.
    ///
    /// Layout (GBCS UpdateSecurityCredentials): SEQUENCE { control SEQUENCE { INTEGER mode,
    /// [1] disapply?, [2] { INTEGER role, KeyUsage digitalSignature }, [3] counter,
    /// [4] floor?, [5] { { INTEGER 0 (prepaymentTopUp), INTEGER floor } }? },
    /// SEQUENCE OF { Certificate, { INTEGER role, KeyUsage, [INTEGER 1 (top-up cell)] } },
    /// SEQUENCE OF Certificate (certification path), GeneralizedTime? }: the execution time
    /// of a future-dated request (99991231235959Z to cancel the held command) ends it, as in
    /// the RTDS's FUTURE_DATED and CANCELLATION vectors of CS02b and CS02g.
    ///
    /// Roles: Supplier is supplierBySupplier (mode 2, role 2, 0x0102) and NetworkOperator
    /// networkOperatorByNetworkOperator (mode 3, role 3, 0x0103). LoadController builds
    /// the RTDS's only CS02g, loadControllerByLoadController (mode 10, role 8, 0x0125):
    /// that assumes the Load Controller sends the request itself (a Supplier acting for it
    /// would need CS02g loadControllerBySupplier, whose mode and message code gbsm lacks).
    static func credentialsUpdateKRP(_ input: Input) throws(TransformError) -> Built {
        let body = input.body
        guard let role = body.value("RemotePartyRole") else { throw TransformError("UpdateSecurityCredentialsKRP has no RemotePartyRole") }
        let mode: (replacement: UInt64, role: UInt64, useCase: String, messageCode: UInt16)
        switch role {
        case "Supplier": mode = (2, 2, "CS02b", 0x0102)
        case "NetworkOperator": mode = (3, 3, "CS02b", 0x0103)
        case "LoadController": mode = (10, 8, "CS02g", 0x0125)
        default:
            throw TransformError("6.15.1 replaces a Supplier's, a Network Operator's or a Load Controller's own credentials (GBCS CS02b/CS02g), not the \(untrusted(role, limit: 24)) role's")
        }
        let roleNumber = mode.role
        let isSupplier = role == "Supplier"

        var control: [ASN1Value] = [credentialsInteger(mode.replacement)]
        guard let cpv = body.value("ApplyTimeBasedCPVChecks") else { throw TransformError("UpdateSecurityCredentialsKRP has no ApplyTimeBasedCPVChecks") }
        switch cpv {
        case "true", "1": break
        case "false", "0": control.append(credentialsInteger(1, tag: 0x81))
        default: throw TransformError("ApplyTimeBasedCPVChecks \(untrusted(cpv, limit: 24)) is not a boolean")
        }
        control.append(credentialsNode(0xA2, [credentialsInteger(roleNumber), credentialsDigitalSignature]))
        control.append(credentialsInteger(input.counter, tag: 0x83))
        if body.child("RemotePartyFloorSeqNumber") != nil {
            control.append(credentialsInteger(try integer(body, "RemotePartyFloorSeqNumber", as: UInt64.self), tag: 0x84))
        }
        if body.child("RemotePartyPrepaymentTopUpFloorSeqNumber") != nil {
            guard isSupplier else { throw TransformError("RemotePartyPrepaymentTopUpFloorSeqNumber is a Supplier's (prepayment top-up), not the \(role) role's") }
            let floor = try integer(body, "RemotePartyPrepaymentTopUpFloorSeqNumber", as: UInt64.self)
            control.append(credentialsNode(0xA5, [credentialsNode(0x30, [credentialsInteger(0), credentialsInteger(floor)])]))
        }

        guard let certificates = body.child("ReplacementCertificates")?.child("SupplierOrNetworkOperatorCertificates") else {
            throw TransformError("UpdateSecurityCredentialsKRP has no ReplacementCertificates/SupplierOrNetworkOperatorCertificates")
        }
        let cells: [(name: String, keyUsage: ASN1Value, topUp: Bool)] = [
            ("DigitalSigningCertificate", credentialsDigitalSignature, false),
            ("KeyAgreementCertificate", credentialsKeyAgreement, false),
            ("KeyAgreementTopUpCertificate", credentialsKeyAgreement, true),
        ]
        var replacements: [ASN1Value] = []
        for cell in cells {
            guard let element = certificates.child(cell.name) else { continue }
            if cell.topUp && !isSupplier {
                throw TransformError("KeyAgreementTopUpCertificate is a Supplier's (prepayment top-up cell), not the \(role) role's")
            }
            var target = [credentialsInteger(roleNumber), cell.keyUsage]
            if cell.topUp { target.append(credentialsInteger(1)) }  // CellUsage prepaymentTopUp; management is the default, left out
            replacements.append(credentialsNode(0x30, [try credentialsCertificate(element, cell.name), credentialsNode(0x30, target)]))
        }
        guard !replacements.isEmpty else { throw TransformError("UpdateSecurityCredentialsKRP replaces no certificate") }

        let pathElements = body.child("CertificationPathCertificates")?.children.filter { $0.name == "Certificate" } ?? []
        guard (1...3).contains(pathElements.count) else {
            throw TransformError("CertificationPathCertificates holds \(pathElements.count) certificates, GBCS takes 1 to 3")
        }
        var path: [ASN1Value] = []
        for element in pathElements { path.append(try credentialsCertificate(element, "CertificationPathCertificates/Certificate")) }

        var parts = [credentialsNode(0x30, control), credentialsNode(0x30, replacements), credentialsNode(0x30, path)]
        if let execution = executionGeneralizedTime(input) { parts.append(execution) }
        let command = credentialsNode(0x30, parts)
        return Built(useCase: mode.useCase, messageCode: mode.messageCode, content: GBCSPayload.asn1(command).encode())
    }

    // MARK: 6.15.2, 6.17, 6.24.2: the device's own credentials

    /// 6.15.2: GBCS CS02d, Update Device Certificates on Device. The content is the new
    /// device certificate itself (DER). The device checks it names itself and matches the
    /// key pair it generated (6.17), then replaces its own digital-signing or key-agreement
    /// certificate (which one, from the certificate's key usage) and starts using that key.
    static func credentialsUpdateDeviceCertificate(_ input: Input) throws(TransformError) -> Built {
        guard let element = input.body.child("DeviceCertificate") else { throw TransformError("UpdateSecurityCredentialsDevice has no DeviceCertificate") }
        let certificate = try credentialsCertificate(element, "DeviceCertificate")
        return Built(useCase: "CS02d", messageCode: 0x000B, content: GBCSPayload.asn1(certificate).encode())
    }

    /// 6.17 (GBCS CS02c, Issue Security Credentials: the device generates a new key pair
    /// of that usage and answers a certification request) and 6.24.2 (GBCS CS02e, Provide
    /// Device Certificates from Device: the device answers its certificate of that usage).
    /// Both are SEQUENCE { KeyUsage }, the X.509 bit: digitalSignature (bit 0) or
    /// keyAgreement (bit 4), DER with the unused bits counted.
    static func credentialsKeyUsageCommand(_ input: Input, useCase: String, messageCode: UInt16) throws(TransformError) -> Built {
        guard let text = input.body.value("CredentialType") else { throw TransformError("\(input.body.name) has no CredentialType") }
        let keyUsage: ASN1Value
        switch text {
        case "Digital Signature": keyUsage = credentialsDigitalSignature
        case "Key Agreement": keyUsage = credentialsKeyAgreement
        default: throw TransformError("CredentialType \(untrusted(text, limit: 24)) is neither Digital Signature nor Key Agreement")
        }
        return Built(useCase: useCase, messageCode: messageCode, content: GBCSPayload.asn1(credentialsNode(0x30, [keyUsage])).encode())
    }

    // MARK: 8.7.1 Join Service (critical), 8.8.1 Unjoin Service (critical)

    /// 8.7.1: the device adds the other device to its Device Log, the HAN whitelist of the
    /// devices it exchanges commands with (after a CBKE key agreement on the HAN).
    /// GBCS JoinDevice: SEQUENCE { INTEGER joinMethodAndRole, OCTET STRING(8) other device,
    /// INTEGER other device type, Certificate? }, the use case chosen by the pair:
    /// - ESME with a PPMID or HCALCS: CS03A1, Method A initiator (0), 0x000D;
    /// - GSME with a PPMID: CS03C, Method C (3), with the PPMID's KA certificate, 0x00AF;
    /// - PPMID or HCALCS with an ESME: CS03A2, Method A responder (1), 0x00AB;
    /// - PPMID with a GSME: CS03C with the GSME's certificate (inferred from GBCS's "present
    ///   if and only if a join between a GSME and a PPMID"; no RTDS vector).
    /// Type 2 devices (IHD, CAD) join by Method B, 8.7.2.
    static func credentialsJoin(_ input: Input) throws(TransformError) -> Built {
        let other = try credentialsOtherDevice(input.body)
        // DUIS names the other device only by its EUI: DCC takes its type (and, for
        // CS03C, its KA certificate) from the inventory and the SMKI repository.
        guard let known = input.otherDevice else {
            throw TransformError("8.7.1 needs the other device's type, which DCC takes from its inventory: \(other) is not in it")
        }
        var certificate: ASN1Value?
        if let der = known.keyAgreementCertificate {
            do {
                certificate = try ASN1Value.decode(der)
            } catch {
                throw TransformError("the key-agreement certificate of \(other) cannot be read: \(error)")
            }
        }
        return try credentialsJoin(input, other: other, otherType: known.type, otherCertificate: certificate)
    }

    /// The JoinDevice command for a device and the other device, by their types.
    static func credentialsJoin(_ input: Input, other: EUI64, otherType: DeviceType, otherCertificate: ASN1Value?) throws(TransformError) -> Built {
        let join: (useCase: String, messageCode: UInt16, method: UInt64)
        var needsCertificate = false
        switch (input.deviceType, otherType) {
        case (.esme, .ppmid), (.esme, .hcalcs):
            join = ("CS03A1", 0x000D, 0)
        case (.gsme, .ppmid), (.ppmid, .gsme):
            join = ("CS03C", 0x00AF, 3)
            needsCertificate = true
        case (.ppmid, .esme), (.hcalcs, .esme):
            join = ("CS03A2", 0x00AB, 1)
        default:
            throw TransformError("8.7.1 joins a meter with a PPMID or HCALCS (GBCS Method A or C), not a \(input.deviceType.rawValue) with a \(otherType.rawValue)")
        }
        var fields = [credentialsInteger(join.method), credentialsPrimitive(0x04, other.bytes), credentialsInteger(credentialsGBCSDeviceType(otherType))]
        if needsCertificate {
            guard let otherCertificate else {
                throw TransformError("a GSME–PPMID join (GBCS CS03C) carries the other device's key-agreement certificate, and gbsm has none for \(other)")
            }
            fields.append(otherCertificate)
        }
        return Built(useCase: join.useCase, messageCode: join.messageCode, content: GBCSPayload.asn1(credentialsNode(0x30, fields)).encode())
    }

    /// 8.8.1: GBCS CS04AC (Method A or C Unjoin), the content an OCTET STRING(8) of the
    /// other device: the device removes it from its Device Log (and drops its HAN link key).
    static func credentialsUnjoin(_ input: Input) throws(TransformError) -> Built {
        let other = try credentialsOtherDevice(input.body)
        return Built(useCase: "CS04AC", messageCode: 0x000F, content: GBCSPayload.asn1(credentialsPrimitive(0x04, other.bytes)).encode())
    }

    // MARK: 11.3 Activate Firmware

    /// 11.3: GBCS CS06. The device checks the hash of the image it holds (sent earlier by
    /// 11.1/CCS08, the manufacturer's image hash) against this one and, if equal, runs it.
    /// SEQUENCE { OCTET STRING(32) manufacturer image hash, INTEGER originator counter }
    /// (the command's own counter, which the alert of a future-dated activation repeats),
    /// then, for a future-dated request, its execution time as a GeneralizedTime
    /// (99991231235959Z cancels the held activation), as in the RTDS's FUTURE_DATED and
    /// CANCELLATION vectors.
    static func credentialsActivateFirmware(_ input: Input) throws(TransformError) -> Built {
        guard let text = input.body.value("FirmwareHash") else { throw TransformError("ActivateFirmware has no FirmwareHash") }
        guard let hash = Hex.decode(text), hash.count == 32 else {
            throw TransformError("FirmwareHash \(untrusted(text, limit: 24)) is not 32 octets of hex")
        }
        var parts = [credentialsPrimitive(0x04, hash), credentialsInteger(input.counter)]
        if let execution = executionGeneralizedTime(input) { parts.append(execution) }
        let command = credentialsNode(0x30, parts)
        return Built(useCase: "CS06", messageCode: 0x0012, content: GBCSPayload.asn1(command).encode())
    }

    // MARK: Helpers

    /// KeyUsage digitalSignature: BIT STRING, 7 unused bits, 0x80.
    private static let credentialsDigitalSignature = credentialsPrimitive(0x03, [0x07, 0x80])
    /// KeyUsage keyAgreement: BIT STRING, 3 unused bits, 0x08.
    private static let credentialsKeyAgreement = credentialsPrimitive(0x03, [0x03, 0x08])

    /// The largest certificate taken: GBCS's are ECDSA P-256, about 400 to 450 octets.
    static let credentialsMaximumCertificate = 2048

    private static func credentialsNode(_ tag: UInt8, _ children: [ASN1Value]) -> ASN1Value {
        ASN1Value(tag: [tag], content: .constructed(children))
    }

    private static func credentialsPrimitive(_ tag: UInt8, _ octets: [UInt8]) -> ASN1Value {
        ASN1Value(tag: [tag], content: .primitive(octets))
    }

    /// A non-negative INTEGER (or one implicitly tagged), DER: the shortest big-endian
    /// octets, with a leading 00 when the top bit is set.
    static func credentialsInteger(_ value: UInt64, tag: UInt8 = 0x02) -> ASN1Value {
        var octets: [UInt8] = []
        var rest = value
        repeat {
            octets.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        } while rest != 0
        if let first = octets.first, first & 0x80 != 0 { octets.insert(0, at: 0) }
        return credentialsPrimitive(tag, octets)
    }

    /// GBCS DeviceType: gSME 0, eSME 1, CHF 2, GPF 3, HCALCS 4, PPMID 5, type 2 (IHD, CAD) 6.
    static func credentialsGBCSDeviceType(_ type: DeviceType) -> UInt64 {
        switch type {
        case .gsme: 0
        case .esme: 1
        case .chf: 2
        case .gpf: 3
        case .hcalcs: 4
        case .ppmid: 5
        case .ihd, .cad: 6
        }
    }

    private static func credentialsOtherDevice(_ body: ElementTree) throws(TransformError) -> EUI64 {
        guard let text = body.value("OtherDeviceID") else { throw TransformError("\(body.name) has no OtherDeviceID") }
        guard let other = EUI64(text) else { throw TransformError("OtherDeviceID \(untrusted(text, limit: 24)) is not an EUI-64") }
        return other
    }

    /// An X.509 certificate from a base64 element, as its DER: a SEQUENCE of three
    /// (to-be-signed, algorithm, signature) that re-encodes to the octets sent.
    private static func credentialsCertificate(_ element: ElementTree, _ name: String) throws(TransformError) -> ASN1Value {
        guard element.children.isEmpty else { throw TransformError("\(name) is not base64 text") }
        let compact = element.text.filter { !$0.isWhitespace }
        guard compact.utf8.count <= (credentialsMaximumCertificate / 3 + 1) * 4 else {
            throw TransformError("\(name) is longer than \(credentialsMaximumCertificate) octets")
        }
        guard let data = Data(base64Encoded: compact), !data.isEmpty else { throw TransformError("\(name) is not base64") }
        let octets = [UInt8](data)
        let value: ASN1Value
        do {
            value = try ASN1Value.decode(octets)
        } catch {
            throw TransformError("\(name) is not DER: \(error)")
        }
        guard value.tag == [0x30], value.children.count == 3, value.children.allSatisfy({ $0.tag == [0x30] || $0.tag == [0x03] }),
              value.encoded() == octets
        else {
            throw TransformError("\(name) is not an X.509 certificate")
        }
        return value
    }
}
