import Crypto
import DUIS
import GBCS
import MMC
import SMKI

/// Why a device's answer could not be put into GBCS. Each is a fault of gbsm's own
/// (the emulator's answer does not have the shape its use case's encoder writes, or a key
/// the device should hold is missing), never of the command: the device still acted.
public enum GBCSAnswerError: Error, Equatable, CustomStringConvertible {
    /// No GBCS use case of this device type answers the SRV.
    case noUseCase(srv: SRV)
    /// The use case has no encoder yet.
    case noEncoder(useCase: String)
    /// The answer lacks a value the use case's response carries, or holds one it cannot.
    case shape(String)
    /// A key the device needs to protect the answer is not in the key store.
    case noKey(String)

    public var description: String {
        switch self {
        case .noUseCase(let srv): return "no GBCS use case answers SRV \(srv) from this device"
        case .noEncoder(let useCase): return "the answer of \(useCase) is not written in GBCS yet"
        case .shape(let what): return "the answer cannot be written in GBCS: \(what)"
        case .noKey(let what): return "the device lacks a key: \(what)"
        }
    }
}

/// What the encoder of one use case writes: the response's payload and, where the use
/// case's header says more than the command's, its supplement (nil: the answer names the
/// command's supplementary remote party and its counter, as a command the access control
/// broker sent on a user's behalf is answered).
public struct GBCSAnswerBody: Sendable {
    public var payload: GBCSPayload
    public var supplement: GBCSFrame.Supplement?

    public init(_ payload: GBCSPayload, supplement: GBCSFrame.Supplement? = nil) {
        self.payload = payload
        self.supplement = supplement
    }
}

/// Everything an encoder needs besides the answer itself: who answers whom, the
/// command's counter and, where it came as GBCS, the command (its invoke-id, its requests
/// and its ZCL sequence numbers are echoed), the device's clock, and the key that
/// protects sensitive values.
public struct GBCSAnswerContext: Sendable {
    public var srv: SRV
    public var useCase: UseCase
    /// The answering device (the response's originator).
    public var device: EUI64
    /// The user the answer is for (the response's recipient).
    public var recipient: EUI64
    /// The command's originator counter, which the response's transaction ID repeats.
    public var counter: UInt64
    /// The device's clock when it answers.
    public var time: Timestamp
    /// The command as the device received it, when it came as GBCS.
    public var command: GBCSPayload?
    /// Whether the device did what it was asked (false: the answer is the use case's
    /// refusal, a DLMS result or ZCL status other than success).
    public var succeeded: Bool
    /// The command's supplementary remote party (a command the access control broker
    /// sends on a user's behalf names the user), which the answer's header repeats.
    public var commandSupplement: GBCSFrame.Supplement = .none
    /// The device's own originator counter for this answer: an answer with encrypted data
    /// for a supplementary remote party carries it in its header, and its block key is
    /// derived with it (GBCS; RTDS ECS21b's URP answer).
    public var deviceCounter: UInt64?
    /// The key of encrypted payload blocks (KA of the recipient and the device, usage 04);
    /// nil when the key store lacks either side.
    public var blockKey: SymmetricKey?

    public init(srv: SRV, useCase: UseCase, device: EUI64, recipient: EUI64, counter: UInt64, time: Timestamp, command: GBCSPayload?,
                succeeded: Bool, blockKey: SymmetricKey?) {
        self.srv = srv
        self.useCase = useCase
        self.device = device
        self.recipient = recipient
        self.counter = counter
        self.time = time
        self.command = command
        self.succeeded = succeeded
        self.blockKey = blockKey
    }

    /// The supplement an answer repeats from its command: the supplementary remote party
    /// and its counter.
    public var echoedSupplement: GBCSFrame.Supplement {
        guard let id = commandSupplement.remotePartyID, let counter = commandSupplement.remotePartyCounter else { return .none }
        return .remoteParty(id: id, counter: counter)
    }

    /// The DLMS invoke-id of the answer: the command's, else GBCS's rule for commands
    /// (0x20 and the counter's low 24 bits, as DCC writes them).
    public var invokeID: UInt32 {
        if case .dlms(.accessRequest(let request))? = command { return request.invokeID }
        return 0x2000_0000 | UInt32(truncatingIfNeeded: counter & 0x00FF_FFFF)
    }

    /// The command's DLMS requests, when it came as DLMS.
    public var requests: [DLMSAPDU.RequestSpecification]? {
        if case .dlms(.accessRequest(let request))? = command { return request.specifications }
        return nil
    }

    /// The command's GBZ components, when it came as GBZ.
    public var commandComponents: [GBZComponent]? {
        if case .gbz(let gbz)? = command { return gbz.allComponents }
        return nil
    }

    /// The clock status the device's date-time carries (DLMS: 0xFF not specified, as the
    /// electricity meter's RTDS answers have it; 0x00 a reliable clock, as the gas proxy's;
    /// bit 1 doubtful).
    public var clockStatus: UInt8 = 0xFF

    /// The device's clock as a DLMS date-time (octet-string(12), deviation not specified,
    /// `clockStatus`), as GBCS headers carry it.
    public var dateTime: [UInt8] {
        var octets = GBCSAnswers.dateTime(time)
        octets[11] = clockStatus
        return octets
    }

    /// Seconds since 2000-01-01T00:00:00Z, GBCS's UTCTime (ZCL) and profile stamps (DLMS).
    public var seconds2000: UInt32 { GBCSAnswers.seconds2000(time) }

    /// An encrypted payload block of `plaintext`: `31 ‖ 00000000 ‖ ciphertext ‖ tag(12)`,
    /// AES-128-GCM with the block key and IV device title ‖ 00000000.
    public func encrypt(_ plaintext: [UInt8]) throws(GBCSAnswerError) -> [UInt8] {
        guard let blockKey else { throw .noKey("the KA keys of \(device) and \(recipient) for an encrypted block") }
        do {
            let nonce = try AES.GCM.Nonce(data: device.bytes + [0, 0, 0, 0])
            let sealed = try AES.GCM.seal(plaintext, using: blockKey, nonce: nonce, authenticating: [0x31])
            return [0x31, 0, 0, 0, 0] + Array(sealed.ciphertext) + Array(sealed.tag.prefix(GBCSCrypto.tagLength))
        } catch {
            throw .noKey("AES-GCM refused the block: \(error)")
        }
    }

    /// GBCS protected data for `value`: the structure of its protection parameters (the
    /// command's, originator and recipient the other way round) and its encrypted block,
    /// as a sensitive read's answer carries it.
    public func protect(_ value: DLMSData) throws(GBCSAnswerError) -> DLMSData {
        .structure([protectionParameters, .octetString(try encrypt(value.encoded()))])
    }

    /// The protection parameters of an answer's protected data: an array of one structure
    /// {protection type 2 (encryption), {transaction ID 04 ‖ counter, originator and
    /// recipient system titles, date-time (empty), key information {2 (agreed key), {key
    /// parameters 02, key ciphered data (empty)}}}}.
    public var protectionParameters: DLMSData {
        var transaction: [UInt8] = [0x04]
        for shift in stride(from: 56, through: 0, by: -8) { transaction.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift))) }
        return .array([.structure([
            .enumerated(2),
            .structure([.octetString(transaction), .octetString(device.bytes), .octetString(recipient.bytes), .octetString([]),
                        .structure([.enumerated(2), .structure([.octetString([0x02]), .octetString([])])])]),
        ])])
    }
}

/// One use case's encoder: the device's answer (the SRV's `…Rsp` element, as MMC writes
/// it) into the GBCS response payload of that use case. The inverse of Parse and
/// Correlate's mapper for it: the round trip through both gives the same element, and
/// from an RTDS answer the same octets.
public typealias GBCSAnswerEncoder = @Sendable (DataNode, GBCSAnswerContext) throws(GBCSAnswerError) -> GBCSAnswerBody

/// The GBCS form of device answers: which use case answers an SRV from a device type,
/// each use case's encoder (one family per file, `GBCSAnswers+…`), and the pieces they share.
public enum GBCSAnswers {
    /// Every encoder, by use case name.
    public static let encoders: [String: GBCSAnswerEncoder] = {
        var table: [String: GBCSAnswerEncoder] = [:]
        for part in families {
            table.merge(part) { mine, _ in mine }
        }
        return table
    }()

    /// The family tables, merged by `encoders`.
    static var families: [[String: GBCSAnswerEncoder]] {
        [basicTable, electricityLogTable, gasTable, tariffAndPrepaymentTable, configurationTable, securityAndHANTable, criticalTable]
    }

    /// The use case that answers `srv` from a device of `type`, where the command did not
    /// come as GBCS (which names it): GBCS names a use case for the electricity meter `E…`,
    /// for the gas meter or its proxy `G…`, for the comms hub `CCS…`, and for any device
    /// `CS…`; where several fit, the first with an encoder.
    public static func useCase(srv: SRV, deviceType: DeviceType) -> UseCase? {
        let gas = deviceType == .gsme || deviceType == .gpf
        let candidates = UseCases.all.filter { $0.srvs.contains(srv) }
        func fits(_ useCase: UseCase) -> Bool {
            // CCS: the comms hub's own use cases.
            if useCase.name.hasPrefix("CCS") { return deviceType == .chf }
            if useCase.name.hasPrefix("E") { return !gas }
            if useCase.name.hasPrefix("G") { return gas }
            return true
        }
        let fitting = candidates.filter(fits)
        return fitting.first { encoders[$0.name] != nil } ?? fitting.first
    }

    /// The payload of a DLMS answer: one data value and one result per request.
    public static func dlms(_ context: GBCSAnswerContext, _ data: [DLMSData], _ results: [DLMSAPDU.ResponseSpecification]) -> GBCSAnswerBody {
        GBCSAnswerBody(.dlms(.accessResponse(.init(invokeID: context.invokeID, data: data, results: results))))
    }

    /// A DLMS answer for a read the device refused: a null value and result `result` for
    /// each of `requests` (the command's, where it came as GBCS).
    public static func dlmsRefusal(_ context: GBCSAnswerContext, _ requests: [DLMSAPDU.RequestSpecification], result: UInt8 = 1) -> GBCSAnswerBody {
        dlms(context, requests.map { _ in .null }, requests.map { refusalResult($0, result) })
    }

    /// The result of request `request` with code `result` (get, set or action as asked).
    public static func refusalResult(_ request: DLMSAPDU.RequestSpecification, _ result: UInt8) -> DLMSAPDU.ResponseSpecification {
        switch request {
        case .get, .getWithSelection: return .get(result: result)
        case .set, .setWithSelection: return .set(result: result)
        case .action: return .action(result: result)
        }
    }

    /// Success for each request.
    public static func successes(_ requests: [DLMSAPDU.RequestSpecification]) -> [DLMSAPDU.ResponseSpecification] {
        requests.map { refusalResult($0, 0) }
    }

    /// A DLMS date-time (octet-string(12)) of `time`: year, month, day, day of week not
    /// specified, hour, minute, second, hundredths 0, deviation not specified (0x8000),
    /// clock status not specified (0xFF).
    public static func dateTime(_ time: Timestamp) -> [UInt8] {
        let (year, month, day) = time.day.civil
        let seconds = Int((time.milliseconds - time.day.start.milliseconds) / 1000)
        return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), UInt8(truncatingIfNeeded: month), UInt8(truncatingIfNeeded: day), 0xFF,
                UInt8(truncatingIfNeeded: seconds / 3600), UInt8(truncatingIfNeeded: seconds / 60 % 60), UInt8(truncatingIfNeeded: seconds % 60), 0x00,
                0x80, 0x00, 0xFF]
    }

    /// GBCS's epoch, 2000-01-01T00:00:00Z, in Unix seconds.
    public static let epoch2000: Int64 = 946_684_800

    /// Seconds since 2000 of `time`, clamped to UInt32 (before 2000 is 0).
    public static func seconds2000(_ time: Timestamp) -> UInt32 {
        let seconds = time.milliseconds / 1000 - epoch2000
        return UInt32(clamping: max(0, seconds))
    }

    /// Reads a number from an answer's element text, or says which element it lacks.
    /// (Labelled apart from `integer(_:child:)`: a node is not silently taken for a parent.)
    public static func integer(_ node: DataNode?, what: String) throws(GBCSAnswerError) -> Int64 {
        guard let text = node?.text, let value = Int64(text) else { throw .shape("\(what) is not a number (\(node?.text ?? "absent"))") }
        return value
    }

    /// The child element's number.
    public static func integer(_ parent: DataNode, child name: String) throws(GBCSAnswerError) -> Int64 {
        try integer(parent.child(name), what: "\(parent.name)/\(name)")
    }

    /// A number that must fit the DLMS or ZCL type it is written in.
    public static func fit<T: FixedWidthInteger>(_ value: Int64, _ what: String, as _: T.Type = T.self) throws(GBCSAnswerError) -> T {
        guard let fitted = T(exactly: value) else { throw .shape("\(what) \(value) does not fit \(T.self)") }
        return fitted
    }

    /// An `xs:dateTime` element's time.
    public static func timestamp(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> Timestamp {
        guard let text = node?.text, let time = Timestamp(xsDateTime: text) else { throw .shape("\(what) is not a date-time (\(node?.text ?? "absent"))") }
        return time
    }
}

/// Puts a device's answer into a GBCS response frame, as the device sends it: the use
/// case's payload, the header (the command's counter, the device as originator, the
/// command's originator as recipient), and then its protection: an answer to a critical
/// command signed with the device's DS key (General Signing), any other MAC'd with the KA
/// keys of the device and the recipient (General Ciphering), sensitive values encrypted
/// for the user inside it.
public struct GBCSAnswerWriter: Sendable {
    /// The device's own private keys and the remote parties' certificates.
    public let keys: any GBCSKeyStore

    public init(keys: any GBCSKeyStore) {
        self.keys = keys
    }

    /// The key of encrypted blocks for an answer from `device` with `supplement` (the data
    /// is for the supplementary remote party when there is one, else the recipient).
    /// With `certificate` (an unknown remote party's KA certificate, from the command),
    /// the data is for that certificate's key.
    public func blockKey(device: EUI64, recipient: EUI64, counter: UInt64, supplement: GBCSFrame.Supplement, certificate: [UInt8]? = nil) -> SymmetricKey? {
        let party = supplement.remotePartyID ?? recipient
        if let der = certificate ?? supplement.kaCertificate {
            // An unknown remote party's read: the data is for the holder of the KA
            // certificate the command carried, whoever the store would name.
            guard let certificate = try? SMKICertificate(der: der), let signing = certificate.signingKey,
                  let publicKey = try? P256.KeyAgreement.PublicKey(rawRepresentation: signing.rawRepresentation),
                  let privateKey = keys.keyAgreementKey(of: device),
                  let secret = try? privateKey.sharedSecretFromKeyAgreement(with: publicKey) else { return nil }
            return GBCSCrypto.deriveKey(secret: secret.withUnsafeBytes { Array($0) }, originator: device, usage: 0x04,
                                        counter: supplement.originatorCounter ?? counter, recipient: party)
        }
        guard let secret = keys.sharedSecret(of: device, with: party) else { return nil }
        return GBCSCrypto.deriveKey(secret: secret, originator: device, usage: 0x04, counter: supplement.originatorCounter ?? counter, recipient: party)
    }

    /// The frame of `body` answering in `context` (whose `blockKey` the caller may leave
    /// nil: it is derived here).
    public func frame(_ body: DataNode, context: GBCSAnswerContext) throws(GBCSAnswerError) -> GBCSFrame {
        guard let encoder = GBCSAnswers.encoders[context.useCase.name] else { throw .noEncoder(useCase: context.useCase.name) }
        var context = context
        // Data encrypted for a supplementary remote party is keyed with the device's own
        // counter, which the header then carries.
        var forRemoteParty: GBCSFrame.Supplement?
        if let id = context.commandSupplement.remotePartyID, let counter = context.commandSupplement.remotePartyCounter, let deviceCounter = context.deviceCounter {
            forRemoteParty = .remotePartyAndOriginatorCounter(id: id, counter: counter, originatorCounter: deviceCounter)
        }
        if context.blockKey == nil {
            context.blockKey = blockKey(device: context.device, recipient: context.recipient, counter: context.counter,
                                        supplement: forRemoteParty ?? context.commandSupplement, certificate: context.commandSupplement.kaCertificate)
        }
        var answer = try encoder(body, context)
        if answer.supplement == nil, let forRemoteParty, !answer.payload.encryptedBlocks.isEmpty {
            answer.supplement = forRemoteParty
        }
        let critical = GBCSAnswers.signedUseCases.contains(context.useCase.name) || ServiceCatalogue.variant(context.srv)?.isCritical == true
        var frame = GBCSFrame(macHeader: nil, cra: .response, originatorCounter: context.counter, originator: context.device, recipient: context.recipient,
                              dateTime: GBCSAnswers.dateTimeUseCases.contains(context.useCase.name) ? context.dateTime : nil,
                              messageCode: context.useCase.code, supplement: answer.supplement ?? context.echoedSupplement, content: answer.payload.encode(),
                              signature: critical ? .absent : .empty)
        if critical {
            guard let key = keys.signingKey(of: context.device) else { throw .noKey("the DS key of \(context.device)") }
            do {
                frame = try frame.signed(with: key)
            } catch {
                throw .noKey("ECDSA refused to sign: \(error)")
            }
        } else {
            guard let secret = keys.sharedSecret(of: context.device, with: context.recipient) else {
                throw .noKey("the KA keys of \(context.device) and \(context.recipient) for the MAC")
            }
            let key = GBCSCrypto.deriveKey(secret: secret, originator: context.device, usage: CRAFlag.response.rawValue, counter: context.counter,
                                           recipient: context.recipient)
            do {
                frame = try frame.maced(with: key)
            } catch {
                throw .noKey("AES-GCM refused the MAC: \(error)")
            }
        }
        return frame
    }
}

extension GBCSAnswers {
    /// The use cases whose answers the device signs (General Signing, no MAC): the answers
    /// to critical commands and to the security commands GBCS has signed (every RTDS
    /// response of these is signed, and no other's).
    public static let signedUseCases: Set<String> = [
        "CS02bACBByACB", "CS02bNOByNOHandover", "CS02bSupplierBySupplier", "CS02bSupplierByTransCoS", "CS02bTransCoSByTransCoS", "CS02c", "CS02d",
        "CS02e", "CS02gLoadControllerByLoadController", "CS03A1", "CS03A2NonCritical", "CS03CCritical", "CS04AC", "CS06", "ECS01a", "ECS01b",
        "ECS01c", "ECS01d", "ECS02", "ECS04a", "ECS05", "ECS07", "ECS08", "ECS08a", "ECS09", "ECS28a", "ECS30", "ECS30a", "ECS38", "ECS42", "ECS43",
        "ECS44", "ECS46a", "ECS46c", "ECS46d", "ECS47", "ECS47a", "ECS47e", "ECS48", "ECS70", "ECS81", "GCS01a", "GCS03", "GCS04", "GCS23",
        "GCS24", "GCS28Commission", "GCS32", "GCS40a", "GCS40d",
    ]

    /// The use cases whose response header carries the device's date-time (GBCS's
    /// instantaneous reads and the critical commands' answers; every RTDS response of
    /// these has one, and no other's does).
    public static let dateTimeUseCases: Set<String> = [
        "CS01a", "CS02bACBByACB", "CS02bNOByNOHandover", "CS02bSupplierBySupplier", "CS02bSupplierByTransCoS", "CS02bTransCoSByTransCoS",
        "CS02gLoadControllerByLoadController", "CS06", "ECS01a", "ECS01b", "ECS01c", "ECS01d", "ECS02", "ECS08", "ECS08a", "ECS17a", "ECS17b",
        "ECS17c", "ECS17d", "ECS17e", "ECS18a", "ECS18b", "ECS19", "ECS23", "ECS28a", "ECS46c", "ECS46d", "GCS01a", "GCS03", "GCS13b", "GCS13c",
        "GCS14",
    ]
}
