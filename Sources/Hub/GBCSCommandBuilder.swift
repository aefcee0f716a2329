import Crypto
import DUIS
import GBCS

/// DUIS requests as the GBCS commands DCC sends for them (issue 12's first part): the
/// header (the user as originator, the device as recipient, the request's counter, the
/// use case's message code) and the payload, ready for the access control broker's MAC.
///
/// Built so far: the reads whose payload is fixed, a list of COSEM attributes to get
/// (GBCS's use case tables; the RTDS COMMAND vectors show each), and the sensitive reads
/// asked for with the data protection object's get_protected_attributes (4.1.1 to 4.1.3,
/// 4.3), whose protection parameters name the request. The DLMS long invoke ID is 0x20 and
/// the frame counter's low 24 bits, as in every DCC command.
public enum GBCSCommandBuilder {
    /// A read whose payload is a fixed list of COSEM attributes to get.
    struct FixedRead {
        let useCase: String
        let messageCode: UInt16
        let gets: [DLMSAPDU.Descriptor]
        /// Sent by DCC's access control broker on the user's behalf: the broker is the
        /// originator (with its own counter) and the user the supplementary remote party.
        var viaBroker = false
    }

    /// A sensitive read: get_protected_attributes on a data protection object for one
    /// protected attribute.
    struct ProtectedRead {
        let useCase: String
        let messageCode: UInt16
        /// The data protection object (class 30).
        let protection: [UInt8]
        /// The protected object (class 1, attribute 2).
        let protected: [UInt8]
    }

    /// An OBIS code written `a-b:c.d.e.f`.
    static func obis(_ text: String) -> [UInt8] {
        text.split(whereSeparator: { $0 == "-" || $0 == ":" || $0 == "." }).compactMap { UInt8($0) }
    }

    static func get(_ classID: UInt16, _ instance: String, _ attribute: Int8) -> DLMSAPDU.Descriptor {
        DLMSAPDU.Descriptor(classID: classID, instance: obis(instance), member: attribute)
    }

    /// The electricity meter's fixed reads, by SRV.
    static let fixedReads: [SRV: FixedRead] = [
        "4.2": FixedRead(useCase: "ECS17a", messageCode: 0x0026, gets: [get(3, "1-0:2.8.0.255", 2), get(3, "1-0:2.8.0.255", 3), get(3, "1-0:4.8.0.255", 2), get(3, "1-0:4.8.0.255", 3)]),
        "4.16": FixedRead(useCase: "ECS17c", messageCode: 0x0028, gets: [get(1, "0-0:94.44.34.20", 2)]),
        "4.18": FixedRead(useCase: "ECS82", messageCode: 0x0069, gets: [get(112, "0-0:19.10.0.255", 2)]),
        "7.4": FixedRead(useCase: "ECS45", messageCode: 0x0052, gets: [get(70, "0-0:96.3.10.255", 3)]),
        "4.12.1": FixedRead(useCase: "ECS18b", messageCode: 0x002C, gets: [get(1, "0-0:94.44.5.0", 2), get(1, "0-0:94.44.5.1", 2), get(4, "1-0:1.6.0.255", 2), get(4, "1-0:1.6.0.255", 3), get(4, "1-0:1.6.0.255", 5), get(4, "1-0:1.6.1.255", 2), get(4, "1-0:1.6.1.255", 3), get(4, "1-0:1.6.1.255", 5), get(10, "0-0:12.0.0.255", 2)]),
        "4.12.2": FixedRead(useCase: "ECS18a", messageCode: 0x002B, gets: [get(1, "0-0:94.44.5.2", 2), get(4, "1-0:2.6.0.255", 2), get(4, "1-0:2.6.0.255", 3), get(4, "1-0:2.6.0.255", 5)]),
        "4.11.1": FixedRead(useCase: "ECS24", messageCode: 0x003A, gets: [get(3, "0-0:94.44.1.7", 2), get(3, "0-0:94.44.1.7", 3), get(20, "0-0:13.0.0.255", 3), get(20, "0-0:13.0.0.255", 4), get(20, "0-0:13.0.0.255", 5), get(11, "0-0:11.0.0.255", 2), get(21, "0-0:16.0.11.255", 2), get(21, "0-0:16.0.12.255", 2), get(21, "0-0:16.0.13.255", 2), get(21, "0-0:16.0.14.255", 2), get(21, "0-0:16.0.15.255", 2), get(21, "0-0:16.0.16.255", 2), get(21, "0-0:16.0.17.255", 2), get(21, "0-0:16.0.18.255", 2), get(9000, "0-0:94.44.2.0", 2), get(113, "0-0:19.20.4.255", 5), get(113, "0-0:19.20.0.255", 5)]),
        "4.11.2": FixedRead(useCase: "ECS24b", messageCode: 0x00BD, gets: [get(113, "0-0:19.20.5.255", 5), get(3, "0-0:94.44.1.8", 2), get(3, "0-0:94.44.1.8", 3), get(11, "0-0:11.0.1.255", 2), get(20, "0-0:13.0.1.255", 3), get(20, "0-0:13.0.1.255", 4), get(20, "0-0:13.0.1.255", 5)]),
        "4.13": FixedRead(useCase: "ECS26a", messageCode: 0x003B, gets: [get(113, "0-0:19.20.1.255", 5), get(11, "0-0:11.0.2.255", 2), get(113, "0-0:19.20.1.255", 8), get(113, "0-0:19.20.1.255", 5), get(113, "0-0:19.20.2.255", 5), get(113, "0-0:19.20.2.255", 8), get(113, "0-0:19.20.2.255", 5), get(113, "0-0:19.20.3.255", 13), get(9000, "0-0:94.44.2.10", 2), get(21, "0-0:16.0.1.255", 2), get(9000, "0-0:94.44.2.20", 2), get(111, "0-0:19.0.0.255", 16), get(111, "0-0:19.0.0.255", 18), get(111, "0-0:19.0.0.255", 19), get(112, "0-0:19.10.1.255", 9), get(112, "0-0:19.10.1.255", 10), get(10, "0-0:12.0.1.255", 2), get(111, "0-0:19.0.0.255", 11)]),
        "4.15": FixedRead(useCase: "ECS27", messageCode: 0x0042, gets: [get(9000, "0-0:94.44.0.3", 2), get(3, "0-0:94.44.42.255", 2), get(3, "0-0:94.44.42.255", 3), get(71, "0-0:17.0.0.255", 4), get(71, "0-0:17.0.0.255", 6), get(71, "0-0:17.0.0.255", 7)]),
        "6.2.1": FixedRead(useCase: "ECS26b", messageCode: 0x003C, gets: [get(71, "0-0:17.0.1.255", 4), get(71, "0-0:17.0.1.255", 6), get(71, "0-0:17.0.2.255", 4), get(71, "0-0:17.0.2.255", 6), get(71, "0-0:17.0.3.255", 4), get(71, "0-0:17.0.3.255", 6), get(71, "0-0:17.0.4.255", 4), get(71, "0-0:17.0.4.255", 6), get(1, "1-0:32.35.0.4", 2), get(1, "1-0:32.31.0.4", 2)]),
        "6.2.2": FixedRead(useCase: "ECS26c", messageCode: 0x003D, gets: [get(1, "0-0:94.44.0.0", 2), get(1, "0-0:94.44.0.2", 2), get(1, "0-0:94.44.0.1", 2)]),
        "6.2.3": FixedRead(useCase: "ECS26d", messageCode: 0x003E, gets: [get(22, "0-0:15.0.0.255", 4)]),
        "6.2.5": FixedRead(useCase: "ECS26f", messageCode: 0x0040, gets: [get(21, "0-0:16.0.0.255", 2)]),
        "6.2.7": FixedRead(useCase: "ECS40", messageCode: 0x004E, gets: [get(1, "0-0:94.44.34.11", 2), get(1, "1-0:0.0.2.255", 2)]),
        "6.2.9": FixedRead(useCase: "ECS26j", messageCode: 0x00BE, gets: [get(111, "0-0:19.0.0.255", 2)]),
        "6.30": FixedRead(useCase: "DBCH03", messageCode: 0x010C, gets: [get(1, "0-0:94.44.10.0", 2)], viaBroker: true),
        "6.31": FixedRead(useCase: "DBCH01", messageCode: 0x010A, gets: [get(1, "0-0:94.44.10.2", 2)], viaBroker: true),
        "7.7": FixedRead(useCase: "ECS61a", messageCode: 0x00BB, gets: [get(1, "0-0:94.44.0.11", 2), get(1, "0-0:94.44.0.12", 2), get(1, "0-0:94.44.0.13", 2), get(1, "0-0:94.44.0.14", 2), get(1, "0-0:94.44.0.15", 2), get(1, "0-0:94.44.0.21", 2), get(1, "0-0:94.44.0.22", 2), get(1, "0-0:94.44.0.23", 2), get(1, "0-0:94.44.0.24", 2), get(1, "0-0:94.44.0.25", 2), get(11, "0-0:11.0.3.255", 2), get(10, "0-0:12.0.2.255", 2), get(70, "0-1:96.3.10.255", 2), get(70, "0-2:96.3.10.255", 2), get(70, "0-3:96.3.10.255", 2), get(70, "0-4:96.3.10.255", 2), get(70, "0-5:96.3.10.255", 2)]),
        "7.14": FixedRead(useCase: "ECS61d", messageCode: 0x011C, gets: [get(1, "0-0:94.44.0.11", 2), get(1, "0-0:94.44.0.12", 2), get(1, "0-0:94.44.0.13", 2), get(1, "0-0:94.44.0.14", 2), get(1, "0-0:94.44.0.15", 2), get(11, "0-0:11.0.3.255", 2), get(10, "0-0:12.0.2.255", 2)], viaBroker: true),
        "7.15": FixedRead(useCase: "ECS61e", messageCode: 0x011D, gets: [get(1, "0-0:94.44.0.21", 2), get(1, "0-0:94.44.0.22", 2), get(1, "0-0:94.44.0.23", 2), get(1, "0-0:94.44.0.24", 2), get(1, "0-0:94.44.0.25", 2), get(1, "0-0:94.44.0.31", 2), get(1, "0-0:94.44.0.32", 2), get(1, "0-0:94.44.0.33", 2), get(1, "0-0:94.44.0.34", 2), get(1, "0-0:94.44.0.35", 2)]),
        "6.2.4": FixedRead(useCase: "ECS26e", messageCode: 0x003F, gets: [get(1, "0-0:96.1.1.255", 2), get(1, "0-0:96.1.2.255", 2), get(1, "0-0:96.1.4.255", 2), get(1, "0-0:96.1.6.255", 2), get(1, "0-0:94.44.0.4", 2)]),
    ]

    /// The electricity meter's sensitive fixed reads, by SRV.
    static let protectedReads: [SRV: ProtectedRead] = [
        "4.1.1": ProtectedRead(useCase: "ECS17b", messageCode: 0x0027, protection: obis("0-0:43.2.8.255"), protected: obis("0-0:94.44.34.10")),
        "4.1.2": ProtectedRead(useCase: "ECS17d", messageCode: 0x0029, protection: obis("0-0:43.2.9.255"), protected: obis("0-0:94.44.34.1")),
        "4.1.3": ProtectedRead(useCase: "ECS17e", messageCode: 0x002A, protection: obis("0-0:43.2.10.255"), protected: obis("0-0:94.44.34.2")),
        "4.3": ProtectedRead(useCase: "ECS19", messageCode: 0x002D, protection: obis("0-0:43.2.1.255"), protected: obis("0-0:94.44.34.30")),
    ]

    /// The GBCS use case the builder makes for an SRV.
    public static func useCase(srv: SRV) -> String? { fixedReads[srv]?.useCase ?? protectedReads[srv]?.useCase }

    /// The SRVs this builder makes commands for (to the electricity meter).
    public static var srvs: [SRV] { (Array(fixedReads.keys) + Array(protectedReads.keys)).sorted() }

    /// Whether DCC's access control broker sends the SRV's command on the user's behalf.
    public static func isSentByBroker(srv: SRV) -> Bool { fixedReads[srv]?.viaBroker ?? false }

    /// The GBCS command (not yet MAC'd) for a request: nil when the builder does not
    /// make that SRV's command yet. `brokerCounter` is the broker's own counter, for the
    /// commands it originates (`isSentByBroker`).
    public static func command(srv: SRV, user: EUI64, device: EUI64, counter: UInt64, brokerCounter: UInt64? = nil) -> GBCSFrame? {
        let viaBroker = fixedReads[srv]?.viaBroker == true
        if viaBroker && brokerCounter == nil { return nil }
        // The invoke ID follows the frame's counter (the broker's, when it sends).
        let frameCounter = viaBroker ? (brokerCounter ?? counter) : counter
        let invokeID = 0x2000_0000 | UInt32(truncatingIfNeeded: frameCounter & 0x00FF_FFFF)
        let apdu: DLMSAPDU
        let code: UInt16
        if let read = fixedReads[srv] {
            apdu = .accessRequest(.init(invokeID: invokeID, specifications: read.gets.map { .get($0) },
                                        data: [DLMSData](repeating: .null, count: read.gets.count)))
            code = read.messageCode
        } else if let read = protectedReads[srv] {
            // get_protected_attributes: which object (all of attribute 2, no selection), and
            // the protection wanted: authenticated and encrypted for the requesting user,
            // the transaction ID the request's counter (04 ‖ counter), key agreement.
            var transaction: [UInt8] = [0x04]
            for shift in stride(from: 56, through: 0, by: -8) { transaction.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
            let selection = DLMSData.structure([
                .longUnsigned(1), .octetString(read.protected), .integer(2), .longUnsigned(0), .structure([.enumerated(0), .null]),
            ])
            let protection = DLMSData.structure([
                .enumerated(2),
                .structure([
                    .octetString(transaction), .octetString(user.bytes), .octetString(device.bytes), .octetString([]),
                    .structure([.enumerated(2), .structure([.octetString([0x02]), .octetString([])])]),
                ]),
            ])
            let parameter = DLMSData.structure([.array([selection]), .array([protection])])
            apdu = .accessRequest(.init(invokeID: invokeID, specifications: [.action(DLMSAPDU.Descriptor(classID: 30, instance: read.protection, member: 1))],
                                        data: [parameter]))
            code = read.messageCode
        } else {
            return nil
        }
        if viaBroker {
            return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: frameCounter, originator: GBCSFrame.accessControlBroker, recipient: device,
                             dateTime: nil, messageCode: code, supplement: .remoteParty(id: user, counter: counter),
                             content: GBCSPayload.dlms(apdu).encode(), signature: .empty)
        }
        return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: device, dateTime: nil,
                         messageCode: code, supplement: .none, content: GBCSPayload.dlms(apdu).encode(), signature: .empty)
    }

    /// The builders of non-critical commands that carry the request's values (ranges,
    /// settings, identifiers) or depend on the device type, one table per family
    /// (`GBCSCommandBuilder+….swift`), with the same input as the critical ones.
    static let bodyBuilders: [SRV: CriticalCommandBuilder.Build] = {
        var all: [SRV: CriticalCommandBuilder.Build] = [:]
        for family in [rangeReadBuilders, valueCommandBuilders, securityAndHANBuilders] {
            all.merge(family) { first, _ in first }
        }
        return all
    }()

    /// Every SRV with a command builder: the fixed tables and the body builders.
    public static var allSRVs: [SRV] { Set(srvs + bodyBuilders.keys).sorted() }

    /// The GBCS command (not yet MAC'd) of a non-critical request: the electricity meter's
    /// fixed reads from their tables, the rest from the request's body by the families'
    /// builders. Nil when no builder makes that SRV's command yet. A command DCC itself
    /// signs comes back signed (`signer` gives the key of a DCC party).
    public static func command(srv: SRV, body: ElementTree, user: EUI64, device: EUI64, deviceType: DeviceType, counter: UInt64,
                               brokerCounter: UInt64? = nil, otherDevice: CriticalCommandBuilder.OtherDevice? = nil, roles: UserRoleSet = [],
                               customerIdentificationNumber: String? = nil,
                               signer: (EUI64) -> P256.Signing.PrivateKey? = { _ in nil }) throws(TransformError) -> GBCSFrame? {
        // The fixed tables hold the electricity meter's reads (and the comms hub's Sub GHz
        // ones); a gas meter's read of the same SRV is a family's.
        if fixedReads[srv] != nil || protectedReads[srv] != nil, deviceType == .esme || bodyBuilders[srv] == nil {
            return command(srv: srv, user: user, device: device, counter: counter, brokerCounter: brokerCounter)
        }
        guard let build = bodyBuilders[srv] else { return nil }
        let input = CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: device, deviceType: deviceType, counter: counter,
                                                 otherDevice: otherDevice, brokerCounter: brokerCounter, roles: roles,
                                                 customerIdentificationNumber: customerIdentificationNumber)
        let built = try build(input)
        var frame: GBCSFrame
        if let party = securityAndHANSenders[srv], party != user {
            // A DCC party sending in its own name (the broker for 6.21, 8.5, 6.24.1, 8.12.2;
            // the Transitional CoS party for 6.23): its counter, no supplementary remote party.
            guard let brokerCounter else { throw TransformError(unsupported: "\(srv) is sent by DCC (\(party)) in its own name, and needs that party's counter") }
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: brokerCounter, originator: party, recipient: device, dateTime: nil,
                              messageCode: built.messageCode, supplement: .none, content: built.content, signature: .empty)
        } else if built.sentByBroker {
            guard let brokerCounter else { throw TransformError(unsupported: "\(srv) is sent by DCC's access control broker, and needs its counter") }
            // An unknown remote party's read carries the user's KA certificate, which the
            // header passes on so the device can encrypt its answer for that user.
            let supplement: GBCSFrame.Supplement = try rangeReadsURPCertificate(body).map {
                .remotePartyAndKACertificate(id: user, counter: counter, certificate: $0)
            } ?? .remoteParty(id: user, counter: counter)
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: brokerCounter, originator: GBCSFrame.accessControlBroker, recipient: device,
                              dateTime: nil, messageCode: built.messageCode, supplement: supplement, content: built.content, signature: .empty)
        } else {
            frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: device, dateTime: nil,
                              messageCode: built.messageCode, supplement: .none, content: built.content, signature: .empty)
        }
        if let party = built.signedBy {
            guard let key = signer(party) else { throw TransformError(unsupported: "\(srv) is signed by \(party), whose key DCC does not hold") }
            do {
                frame = try frame.signed(with: key)
            } catch {
                throw TransformError(unsupported: "\(srv) could not be signed by \(party): \(error)")
            }
        }
        return frame
    }
}
