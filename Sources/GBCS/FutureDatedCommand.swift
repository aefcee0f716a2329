import DUIS

/// What a device reads in a critical command that GBCS lets it hold: when it is to run
/// (`ExecutionTime`) and the instructions the outcome alerts (0x8F66 done, 0x8F67 not
/// done) name, one alert per instruction, as the RTDS's 8F66 vectors show.
///
/// - DLMS: each SET of an activation time, the attributes GBCS future-dates: the
///   calendar's `activate_passive_calendar_time` (class 20, attribute 10), a charge's
///   `unit_charge_activation_time` (class 113, attribute 7), the account's payment mode
///   activation (class 111, attribute 13, ECS02) and GBCS's own activation
///   objects (class 9000, attribute 6). All must carry the same time.
/// - GBZ (the gas meter's tariffs): each component with a start time, which ZSE puts in
///   the payload (PublishCalendar, PublishSpecialDays and PublishTariffInformation at
///   octet 12, PublishPriceMatrix, PublishBlockThresholds and Change Payment Mode at octet 8).
/// - ASN.1 (CS06's firmware activation, CS02b's credentials update): the optional
///   GeneralizedTime at the end of the command's SEQUENCE.
public struct FutureDatedCommand: Sendable, Equatable {
    /// One thing the command changes at its execution time.
    public enum Instruction: Sendable, Equatable, Hashable, Codable {
        /// A COSEM attribute: interface class, OBIS code (6 octets), attribute.
        case cosem(classID: UInt16, instance: [UInt8], attribute: UInt8)
        /// A ZCL command: the extended header's cluster, the frame control, the command.
        case gbz(cluster: UInt16, frameControl: UInt8, command: UInt8)
        /// The command as a whole (the ASN.1 use cases).
        case whole
    }

    public var executionTime: ExecutionTime
    public var instructions: [Instruction]

    public init(executionTime: ExecutionTime, instructions: [Instruction]) {
        self.executionTime = executionTime
        self.instructions = instructions
    }

    /// A command whose activation times cannot be read as one execution time.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The COSEM attributes GBCS future-dates: (class, attribute).
    static let activationAttributes: Set<[UInt16]> = [[20, 10], [111, 13], [113, 7], [9000, 6]]

    /// The ZSE commands with a start time in their payload: (cluster, command) → offset.
    static let gbzStartTimes: [UInt32: Int] = [
        0x0707_0000: 12,  // Calendar: PublishCalendar
        0x0707_0004: 12,  // Calendar: PublishSpecialDays
        0x0700_0004: 12,  // Price: PublishTariffInformation
        0x0700_0005: 8,  // Price: PublishPriceMatrix
        0x0700_0006: 8,  // Price: PublishBlockThresholds
        0x0705_0006: 8,  // Prepayment: Change Payment Mode (GCS03)
    ]

    /// Reads a command's content (`frame.content`, decoded as a command). Nil when it
    /// carries no activation time at all (nothing to hold); throws when its activation
    /// times disagree or do not read as an instant, "now" or "never".
    public static func read(_ payload: GBCSPayload) throws(Problem) -> FutureDatedCommand? {
        var times: [ExecutionTime] = []
        var instructions: [Instruction] = []
        switch payload {
        case .dlms(.accessRequest(let request)):
            for (specification, value) in zip(request.specifications, request.data) {
                guard case .set(let descriptor) = specification,
                      activationAttributes.contains([descriptor.classID, UInt16(UInt8(bitPattern: descriptor.member))]) else { continue }
                guard case .octetString(let octets) = value, let time = ExecutionTime(cosemDateTime: octets) else {
                    throw Problem("the activation time of \(descriptor) is not a COSEM date-time GBCS uses")
                }
                times.append(time)
                instructions.append(.cosem(classID: descriptor.classID, instance: descriptor.instance, attribute: UInt8(bitPattern: descriptor.member)))
            }
        case .gbz(let gbz):
            for component in gbz.components {
                guard let offset = gbzStartTimes[UInt32(component.cluster) << 16 | UInt32(component.command)] else { continue }
                guard case .plain(let octets) = component.payload, octets.count >= offset + 4 else {
                    throw Problem("the start time of ZCL command \(component.command) of cluster \(component.cluster) cannot be read")
                }
                // ZCL is little-endian.
                let raw = UInt32(octets[offset]) | UInt32(octets[offset + 1]) << 8 | UInt32(octets[offset + 2]) << 16 | UInt32(octets[offset + 3]) << 24
                times.append(ExecutionTime(utcTime: raw))
                instructions.append(.gbz(cluster: component.cluster, frameControl: component.frameControl, command: component.command))
            }
        case .asn1(let value):
            guard let element = value.children.last(where: { $0.tag == [0x18] }) else { return nil }
            guard let octets = element.octets, let text = String(validating: octets, as: UTF8.self), let time = generalizedTime(text) else {
                throw Problem("the execution GeneralizedTime is not YYYYMMDDhhmmssZ")
            }
            times.append(time)
            instructions.append(.whole)
        default:
            return nil
        }
        guard let first = times.first else { return nil }
        guard times.allSatisfy({ $0 == first }) else {
            throw Problem("the command's activation times differ (\(times.map(\.description).joined(separator: ", "))): GBCS gives all of a future-dated command's parts one time")
        }
        return FutureDatedCommand(executionTime: first, instructions: instructions)
    }

    /// YYYYMMDDhhmmssZ: 9999-12-31 23:59:59 cancels, any other real instant runs then.
    public static func generalizedTime(_ text: String) -> ExecutionTime? {
        let digits = Array(text.utf8)
        guard digits.count == 15, digits[14] == UInt8(ascii: "Z"), digits[0..<14].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        func number(_ range: Range<Int>) -> Int { digits[range].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        if text == "99991231235959Z" { return .cancel }
        guard let seconds = DLMSDateTime.unixTime(year: number(0..<4), month: number(4..<6), day: number(6..<8), hour: number(8..<10),
                                                  minute: number(10..<12), second: number(12..<14)) else { return nil }
        return .at(Timestamp(milliseconds: seconds * 1000))
    }
}
