import DUIS
import GBCS

/// A value in a request's body that cannot become its GBCS command. The body has passed
/// DUIS's schema by then, so this is what the schema cannot say: a value outside the range
/// GBCS encodes it in, a count of elements the command cannot carry, a date that does not
/// exist. DCC answers E12 with the reason, and nothing reaches the device.
///
/// Or, marked `unsupported`, a command gbsm does not build yet (a use case of the SRV for
/// this device type, or DCC's own key or counter missing): a non-critical request then
/// still runs on the device without its GBCS, as the README's "Not yet" says.
public struct TransformError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    /// gbsm's gap, not the request's fault.
    public let unsupported: Bool
    public init(_ reason: String) {
        self.reason = reason
        unsupported = false
    }
    init(unsupported reason: String) {
        self.reason = reason
        unsupported = true
    }
    public var description: String { reason }
}

/// DCC's Transform service for critical commands (command variant 4): the DUIS request
/// as the GBCS pre-command the user signs. The header has the user as originator, the
/// device as recipient, the request's counter and the use case's message code; the
/// content is the use case's payload with the request's values. There is no MAC header
/// and no signature yet: the user signs the grouping header (`gbsm gbcs sign`, or
/// gbcs-parser's `signGroupingHeader`) and sends it back on the Send Command service.
///
/// One table per family of SRVs, each in its own file (`CriticalCommandBuilder+….swift`),
/// each checked octet for octet against the RTDS pre-command vectors of its use cases.
public enum CriticalCommandBuilder {
    /// What a family's builder is given: the body element of the request (the SRV's
    /// element, `ExecutionDateTime` removed), and the values that fix the DLMS invoke ID.
    struct Input {
        let srv: SRV
        let body: ElementTree
        let user: EUI64
        let device: EUI64
        /// The device's type: some SRVs go to an electricity or a gas meter (DLMS or GBZ).
        let deviceType: DeviceType
        let counter: UInt64
        /// The other device of a join or unjoin (8.7.1), as DCC's inventory and SMKI
        /// repository know it: DUIS names it only by its EUI.
        var otherDevice: OtherDevice? = nil
        /// The access control broker's own counter, for the commands it originates on the
        /// user's behalf (`Built.sentByBroker`).
        var brokerCounter: UInt64? = nil
        /// The requester's roles (some reads differ by role: 6.2.10).
        var roles: UserRoleSet = []
        /// The customer identification number DCC made for a 9.1 request.
        var customerIdentificationNumber: String? = nil
        /// Whether DCC's inventory says the meter has GBCS's "all periodicities" billing
        /// calendar (6.2.3 is then ECS26l, else ECS26d).
        var allPeriodicitiesBillingCalendar = false
        /// When the device is to run the command (the request's `ExecutionDateTime`): the
        /// builders of `deviceFutureDatable` write it into the command's activation times;
        /// `preCommand` refuses anything but `.now` for every other SRV.
        var activation: ExecutionTime = .now
        /// 0x20 and the counter's low 24 bits, as in every command DCC sends.
        var invokeID: UInt32 { 0x2000_0000 | UInt32(truncatingIfNeeded: counter & 0x00FF_FFFF) }
    }

    /// What DCC knows of a device a command names besides its target.
    public struct OtherDevice: Sendable {
        public let type: DeviceType
        /// Its key-agreement certificate (DER), for the joins that carry it (GBCS CS03C).
        public let keyAgreementCertificate: [UInt8]?

        public init(type: DeviceType, keyAgreementCertificate: [UInt8]?) {
            self.type = type
            self.keyAgreementCertificate = keyAgreementCertificate
        }
    }

    /// A use case's pre-command content.
    struct Built {
        let useCase: String
        let messageCode: UInt16
        let content: [UInt8]
        /// Sent by DCC's access control broker on the user's behalf: the broker is the
        /// originator (with its own counter, which the invoke ID then follows) and the user
        /// the supplementary remote party.
        var sentByBroker = false
        /// Signed by a DCC party before it is sent (its EUI), as GBCS has DCC sign some
        /// commands of its own (the access control broker's credentials, for one).
        var signedBy: EUI64? = nil

        init(useCase: String, messageCode: UInt16, content: [UInt8], sentByBroker: Bool = false, signedBy: EUI64? = nil) {
            self.useCase = useCase
            self.messageCode = messageCode
            self.content = content
            self.sentByBroker = sentByBroker
            self.signedBy = signedBy
        }
    }

    typealias Build = @Sendable (Input) throws(TransformError) -> Built

    /// Every family's builders, by SRV.
    static let builders: [SRV: Build] = {
        var all: [SRV: Build] = [:]
        for family in [supplyBuilders, tariffBuilders, credentialBuilders, prepaymentBuilders, configurationBuilders, auxiliaryBuilders] {
            all.merge(family) { first, _ in first }
        }
        return all
    }()

    /// The SRVs whose pre-commands are built.
    public static var srvs: [SRV] { builders.keys.sorted() }

    /// The critical SRVs whose commands DUIS lets the device future-date (the request
    /// matrix's "Device" response pattern): their builders write the execution time into
    /// the command, as an instant or as the cancellation of the held command.
    public static let deviceFutureDatable: Set<SRV> = [
        "1.1.1", "1.1.2", "1.2.1", "1.2.2", "1.6", "2.1", "6.4.1", "6.14.2", "6.14.3", "6.15.1", "11.3",
    ]

    /// The pre-command for a critical request, or nil when its SRV has no builder yet.
    /// `executionTime` is when the device is to run it (`ExecutionTime.now` unless the
    /// request is future-dated): anything else is refused for an SRV outside
    /// `deviceFutureDatable`.
    public static func preCommand(srv: SRV, body: ElementTree, user: EUI64, device: EUI64, deviceType: DeviceType, counter: UInt64,
                                  otherDevice: OtherDevice? = nil, executionTime: ExecutionTime = .now) throws(TransformError) -> GBCSFrame? {
        guard let build = builders[srv] else { return nil }
        guard executionTime == .now || deviceFutureDatable.contains(srv) else {
            throw TransformError("\(srv) cannot be future-dated at the device (execution time \(executionTime)): DUIS lets only "
                + deviceFutureDatable.sorted().map(\.text).joined(separator: ", ") + " carry an ExecutionDateTime to the device")
        }
        var input = Input(srv: srv, body: body, user: user, device: device, deviceType: deviceType, counter: counter, otherDevice: otherDevice)
        input.activation = executionTime
        let built = try build(input)
        return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: device, dateTime: nil,
                         messageCode: built.messageCode, supplement: .none, content: built.content, signature: .absent)
    }

    // MARK: Helpers the families share

    /// The request's activation time as a COSEM date-time (octet-string(12)): zeros for
    /// now, the instant in UTC, or 0xFF for a cancellation; deviation 0x8000, status 0xFF.
    static func activationDateTime(_ input: Input) -> DLMSData { .octetString(input.activation.cosemDateTime) }

    /// The request's execution time as the ASN.1 GeneralizedTime (tag 0x18) that ends a
    /// future-dated CS02b, CS02g or CS06 command; nil for now (the element is left out).
    static func executionGeneralizedTime(_ input: Input) -> ASN1Value? {
        input.activation.generalizedTime.map { ASN1Value(tag: [0x18], content: .primitive(Array($0.utf8))) }
    }

    /// A DLMS ACCESS-Request of one or more requests, as the content octets.
    static func access(_ input: Input, _ specifications: [DLMSAPDU.RequestSpecification], _ data: [DLMSData]) -> [UInt8] {
        GBCSPayload.dlms(.accessRequest(.init(invokeID: input.invokeID, specifications: specifications, data: data))).encode()
    }

    /// The integer value of a body element, in a range.
    static func integer<T: FixedWidthInteger>(_ element: ElementTree, _ name: String, as _: T.Type) throws(TransformError) -> T {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        guard let value = T(text) else { throw TransformError("\(name) \(untrusted(text, limit: 24)) is outside \(T.min)...\(T.max)") }
        return value
    }
}

extension CriticalCommandBuilder {
    /// 7.1, 7.2, 7.3: the electricity meter's disconnect control, through its script table
    /// (0-0:10.0.106.255, execute): script 51 enables the supply, 52 disables it, 54 arms it.
    static let supplyBuilders: [SRV: Build] = {
        func script(_ useCase: String, _ code: UInt16, _ selector: UInt16) -> Build {
            { input throws(TransformError) in
                Built(useCase: useCase, messageCode: code,
                      content: access(input, [.action(DLMSAPDU.Descriptor(classID: 9, instance: GBCSCommandBuilder.obis("0-0:10.0.106.255"), member: 1))],
                                      [.longUnsigned(selector)]))
            }
        }
        return [
            "7.1": script("ECS42", 0x004F, 51),
            "7.2": script("ECS43", 0x0050, 52),
            "7.3": script("ECS44", 0x0051, 54),
        ]
    }()
}
