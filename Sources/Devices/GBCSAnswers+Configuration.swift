import DUIS
import GBCS
import MMC

/// GBCS answers: the inverse of Parse and Correlate's ConfigurationReads (the electricity
/// meter's configuration reads, its alert behaviours, load limiting and auxiliary loads;
/// DLMS COSEM GETs answered value by value in the order of the use case's table, which is
/// the order of the command's access-request list).
extension GBCSAnswers {
    static let configurationTable: [String: GBCSAnswerEncoder] = [
        "ECS26b": ConfigurationAnswers.voltage,
        "ECS26c": ConfigurationAnswers.randomisation,
        "ECS26d": ConfigurationAnswers.billingCalendar,
        "ECS26l": ConfigurationAnswers.billingCalendar,
        "ECS26e": ConfigurationAnswers.identity,
        "ECS26i": ConfigurationAnswers.identity,
        "ECS26f": ConfigurationAnswers.powerThresholds,
        "ECS26j": ConfigurationAnswers.paymentMode,
        "ECS27": ConfigurationAnswers.loadLimitData,
        "ECS61a": ConfigurationAnswers.alcsData,
        "ECS61c": ConfigurationAnswers.boostButtonDetails,
        "ECS25r1": ConfigurationAnswers.supplierAlertBehaviours,
        "ECS25r2": ConfigurationAnswers.networkOperatorAlertBehaviours,
    ]
}

/// The encoders of the configuration family and what they share.
private enum ConfigurationAnswers {
    // MARK: - Requests

    /// A GET of attribute `member` of interface class `classID`, object `obis`.
    static func get(_ classID: UInt16, _ obis: [UInt8], _ member: Int8) -> DLMSAPDU.RequestSpecification {
        .get(DLMSAPDU.Descriptor(classID: classID, instance: obis, member: member))
    }

    /// The requests an answer repeats one for one: the command's, where it came as DLMS,
    /// else the use case's fixed list (`layout`, as DCC builds the command). Where the
    /// command asked for a different number of values than the use case reads, the answer
    /// cannot be written in its layout.
    static func requests(_ context: GBCSAnswerContext, _ layout: [DLMSAPDU.RequestSpecification]) throws(GBCSAnswerError) -> [DLMSAPDU.RequestSpecification] {
        guard let asked = context.requests else { return layout }
        guard asked.count == layout.count else {
            throw .shape("\(context.useCase.name)'s command asked for \(asked.count) values, its answer has \(layout.count)")
        }
        return asked
    }

    /// The answer of `data`, one value per request, each a success.
    static func answer(_ context: GBCSAnswerContext, _ requests: [DLMSAPDU.RequestSpecification], _ data: [DLMSData]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        guard data.count == requests.count else { throw .shape("\(data.count) values for \(requests.count) requests") }
        return GBCSAnswers.dlms(context, data, GBCSAnswers.successes(requests))
    }

    // MARK: - Checked readers

    /// The child `name` of `parent`, or a shape error naming it.
    static func child(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DataNode {
        guard let node = parent.child(name) else { throw .shape("\(parent.name) lacks \(name)") }
        return node
    }

    /// The child's text, or a shape error naming it.
    static func text(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> String {
        guard let text = parent.child(name)?.text else { throw .shape("\(parent.name) lacks \(name)") }
        return text
    }

    /// The child's number as a double-long-unsigned.
    static func doubleLongUnsigned(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        .doubleLongUnsigned(try GBCSAnswers.fit(try GBCSAnswers.integer(parent, child: name), "\(parent.name)/\(name)"))
    }

    /// The child's number as a long-unsigned.
    static func longUnsigned(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        .longUnsigned(try GBCSAnswers.fit(try GBCSAnswers.integer(parent, child: name), "\(parent.name)/\(name)"))
    }

    /// A DLMS boolean as GBCS devices write it (RTDS): true FF, false 00.
    static func boolean(_ value: Bool) -> DLMSData { .boolean(value ? 0xFF : 0x00) }

    /// An `xs:boolean` element as a DLMS boolean.
    static func boolean(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        boolean(try flag(text(parent, name), "\(parent.name)/\(name)"))
    }

    /// An `xs:boolean` text.
    static func flag(_ text: String, _ what: String) throws(GBCSAnswerError) -> Bool {
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw .shape("\(what) \(text) is not a boolean")
        }
    }

    /// Printable ASCII text (GBCS's utf-8 identifiers and descriptions) of at most
    /// `limit` characters, as its octets.
    static func ascii(_ text: String, _ what: String, limit: Int) throws(GBCSAnswerError) -> [UInt8] {
        let octets = Array(text.utf8)
        guard octets.count <= limit else { throw .shape("\(what) has \(octets.count) characters (at most \(limit))") }
        guard octets.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .shape("\(what) is not printable text") }
        return octets
    }

    /// An entity identifier as DUIS writes it (`00-DB-12-…`), as its 8 octets.
    static func eui(_ text: String, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard let eui = EUI64(text) else { throw .shape("\(what) \(text) is not an entity identifier") }
        return eui.bytes
    }

    /// Seconds since 2000 of an `xs:dateTime` element (GBCS's UTC in compact arrays), which
    /// must fit a double-long-unsigned.
    static func seconds2000(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> UInt32 {
        let time = try GBCSAnswers.timestamp(node, what)
        let (seconds, overflow) = (time.milliseconds / 1000).subtractingReportingOverflow(GBCSAnswers.epoch2000)
        guard !overflow, let fitted = UInt32(exactly: seconds) else { throw .shape("\(what) is not between 2000 and 2136") }
        return fitted
    }

    // MARK: - ECS26b (6.2.1)

    static let voltageLayout: [DLMSAPDU.RequestSpecification] = [
        get(71, [0, 0, 17, 0, 1, 255], 4), get(71, [0, 0, 17, 0, 1, 255], 6),
        get(71, [0, 0, 17, 0, 2, 255], 4), get(71, [0, 0, 17, 0, 2, 255], 6),
        get(71, [0, 0, 17, 0, 3, 255], 4), get(71, [0, 0, 17, 0, 3, 255], 6),
        get(71, [0, 0, 17, 0, 4, 255], 4), get(71, [0, 0, 17, 0, 4, 255], 6),
        get(1, [1, 0, 32, 35, 0, 4], 2), get(1, [1, 0, 32, 31, 0, 4], 2),
    ]

    /// ECS26b (6.2.1): ten double-long-unsigned values: the RMS extreme over voltage
    /// threshold and its measurement period (Limiter 0-0:17.0.1.255, attributes 4 and 6),
    /// the extreme under voltage (0-0:17.0.2.255), the sag (0-0:17.0.3.255) and the swell
    /// (0-0:17.0.4.255) likewise, then the average RMS over voltage threshold
    /// (1-0:32.35.0.4) and under voltage threshold (1-0:32.31.0.4).
    static let voltage: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, voltageLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let rms = try child(body, "RMSVoltageSettings")
        let average = try child(body, "SinglePhaseVoltageSettings")
        return try answer(context, requests, [
            try doubleLongUnsigned(rms, "RMSExtremeOverVoltageThreshold"), try doubleLongUnsigned(rms, "RMSExtremeOverVoltageMeasurementPeriod"),
            try doubleLongUnsigned(rms, "RMSExtremeUnderVoltageThreshold"), try doubleLongUnsigned(rms, "RMSExtremeUnderVoltageMeasurementPeriod"),
            try doubleLongUnsigned(rms, "RMSVoltageSagThreshold"), try doubleLongUnsigned(rms, "RMSVoltageSagMeasurementPeriod"),
            try doubleLongUnsigned(rms, "RMSVoltageSwellThreshold"), try doubleLongUnsigned(rms, "RMSVoltageSwellMeasurementPeriod"),
            try doubleLongUnsigned(average, "AverageRMSOverVoltageThreshold"), try doubleLongUnsigned(average, "AverageRMSUnderVoltageThreshold"),
        ])
    }

    // MARK: - ECS26c (6.2.2)

    static let randomisationLayout: [DLMSAPDU.RequestSpecification] = [
        get(1, [0, 0, 94, 44, 0, 0], 2), get(1, [0, 0, 94, 44, 0, 2], 2), get(1, [0, 0, 94, 44, 0, 1], 2),
    ]

    /// ECS26c (6.2.2): three long-unsigned values, RandomisedOffset (0-0:94.44.0.0),
    /// RandomisedOffsetNumber (0-0:94.44.0.2) and RandomisedOffsetLimit (0-0:94.44.0.1).
    static let randomisation: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, randomisationLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        return try answer(context, requests, [try longUnsigned(body, "RandomisedOffset"), try longUnsigned(body, "RandomisedOffsetNumber"),
                                              try longUnsigned(body, "RandomisedOffsetLimit")])
    }

    // MARK: - ECS26d, ECS26l (6.2.3)

    static let billingCalendarLayout: [DLMSAPDU.RequestSpecification] = [get(22, [0, 0, 15, 0, 0, 255], 4)]

    /// An MMC time of day `hh:mm:ss[.cc]Z` as a DLMS time (octet-string(4): hour, minute,
    /// second, hundredths).
    static func timeOfDay(_ text: String, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        var rest = Substring(text)
        if rest.hasSuffix("Z") { rest = rest.dropLast() }
        let fields = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3 else { throw .shape("\(what) \(text) is not a time of day") }
        let secondFields = fields[2].split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(secondFields.count) else { throw .shape("\(what) \(text) is not a time of day") }
        func number(_ digits: Substring, _ limit: UInt8) throws(GBCSAnswerError) -> UInt8 {
            guard digits.count == 2, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = UInt8(digits), value <= limit else {
                throw .shape("\(what) \(text) is not a time of day")
            }
            return value
        }
        let hundredths = secondFields.count == 2 ? try number(secondFields[1], 99) : 0
        return [try number(fields[0], 23), try number(fields[1], 59), try number(secondFields[0], 59), hundredths]
    }

    /// A yearly date pattern (octet-string(5): year 0xFFFF not specified, month, day of
    /// month, day of week; 0xFF not specified).
    static func datePattern(month: UInt8 = 0xFF, day: UInt8 = 0xFF, weekday: UInt8 = 0xFF) -> [UInt8] { [0xFF, 0xFF, month, day, weekday] }

    /// ECS26d and ECS26l (6.2.3): Single action schedule 0-0:15.0.0.255 attribute 4
    /// `execution_time`, an array of 1 to 4 structures {time octet-string(4), date
    /// octet-string(5)}, all at the billing time: one entry with no date field (Daily),
    /// the day of week (Weekly), the day of month (Monthly) or day and month (Yearly); two
    /// entries six months apart (SixMonthly) or four three months apart (Quarterly), from
    /// the start month.
    static let billingCalendar: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, billingCalendarLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let calendar = try child(try child(body, "BillingCalendar"), "ElectricityBillingCalendar")
        let time = try timeOfDay(try text(calendar, "BillingTime"), "the billing time")
        func number(_ node: DataNode, _ name: String, _ range: ClosedRange<Int64>) throws(GBCSAnswerError) -> UInt8 {
            let value = try GBCSAnswers.integer(node, child: name)
            guard range.contains(value) else { throw .shape("\(node.name)/\(name) \(value) is outside \(range)") }
            return try GBCSAnswers.fit(value, "\(node.name)/\(name)")
        }
        /// Every `step` months from the start month, `count` times, on the day of month.
        func periods(_ name: String, step: UInt8, count: UInt8) throws(GBCSAnswerError) -> [[UInt8]]? {
            guard let node = calendar.child(name) else { return nil }
            let day = try number(node, "DayOfMonth", 1...28)
            let start = try number(node, "BillingPeriodStartMonth", 1...12)
            return (0..<count).map { index in datePattern(month: (start - 1 + index * step) % 12 + 1, day: day) }
        }
        var dates: [[UInt8]]
        if calendar.child("Daily") != nil {
            dates = [datePattern()]
        } else if calendar.child("Weekly") != nil {
            dates = [datePattern(weekday: try number(calendar, "Weekly", 1...7))]
        } else if calendar.child("Monthly") != nil {
            dates = [datePattern(day: try number(calendar, "Monthly", 1...28))]
        } else if let yearly = try periods("Yearly", step: 12, count: 1) {
            dates = yearly
        } else if let sixMonthly = try periods("SixMonthly", step: 6, count: 2) {
            dates = sixMonthly
        } else if let quarterly = try periods("Quarterly", step: 3, count: 4) {
            dates = quarterly
        } else {
            throw .shape("an electricity billing calendar with no periodicity")
        }
        return try answer(context, requests, [.array(dates.map { .structure([.octetString(time), .octetString($0)]) })])
    }

    // MARK: - ECS26e, ECS26i (6.2.4)

    static let identityLayout: [DLMSAPDU.RequestSpecification] = [
        get(1, [0, 0, 96, 1, 1, 255], 2), get(1, [0, 0, 96, 1, 2, 255], 2), get(1, [0, 0, 96, 1, 4, 255], 2),
        get(1, [0, 0, 96, 1, 6, 255], 2), get(1, [0, 0, 94, 44, 0, 4], 2),
    ]
    static let identityShortLayout: [DLMSAPDU.RequestSpecification] = [
        get(1, [0, 0, 96, 1, 1, 255], 2), get(1, [0, 0, 96, 1, 4, 255], 2), get(1, [0, 0, 96, 1, 6, 255], 2),
    ]

    /// ECS26e (6.2.4): the meter's entity identifier (0-0:96.1.1.255, octet-string(8)),
    /// MeterVariant (0-0:96.1.2.255, one utf-8 octet), ModelType (0-0:96.1.4.255, up to 8
    /// utf-8 octets), ManufacturerIdentifier (0-0:96.1.6.255, utf-8) and SupplyTamperState
    /// (0-0:94.44.0.4, boolean: Locked true, Unchanged false). ECS26i (the comms hub's
    /// identity) reads the identifier, ModelType and ManufacturerIdentifier only (an
    /// `Electricity` element in the answer is not written).
    static let identity: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let full = context.useCase.name != "ECS26i"
        let requests = try requests(context, full ? identityLayout : identityShortLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let identifier = DLMSData.octetString(try eui(try text(body, "DeviceIdentifier"), "the device identifier"))
        let model = DLMSData.octetString(try ascii(try text(body, "ModelType"), "the model type", limit: 8))
        let manufacturer = DLMSData.octetString(try ascii(try text(body, "ManufacturerIdentifier"), "the manufacturer identifier", limit: 32))
        guard full else { return try answer(context, requests, [identifier, model, manufacturer]) }
        let electricity = try child(body, "Electricity")
        let variant = try ascii(try text(electricity, "MeterVariant"), "the meter variant", limit: 1)
        guard variant.count == 1 else { throw .shape("an empty meter variant") }
        let tamper: Bool
        switch try text(electricity, "SupplyTamperState") {
        case "Locked": tamper = true
        case "Unchanged": tamper = false
        case let other: throw .shape("supply tamper state \(other)")
        }
        return try answer(context, requests, [identifier, .octetString(variant), model, manufacturer, boolean(tamper)])
    }

    // MARK: - ECS26f (6.2.5)

    static let powerThresholdsLayout: [DLMSAPDU.RequestSpecification] = [get(21, [0, 0, 16, 0, 0, 255], 2)]

    /// ECS26f (6.2.5): Register monitor 0-0:16.0.0.255 attribute 2 `thresholds`, an array
    /// of two double-long-unsigned: low/medium, then medium/high power (W).
    static let powerThresholds: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, powerThresholdsLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        return try answer(context, requests, [.array([try doubleLongUnsigned(body, "LowMediumPowerThreshold"),
                                                      try doubleLongUnsigned(body, "MediumHighPowerThreshold")])])
    }

    // MARK: - ECS26j (6.2.9)

    static let paymentModeLayout: [DLMSAPDU.RequestSpecification] = [get(111, [0, 0, 19, 0, 0, 255], 2)]

    /// ECS26j (6.2.9): Account 0-0:19.0.0.255 attribute 2 `account_mode_and_status`, a
    /// structure of payment_mode (enum: 1 credit, 2 prepayment) and account_status (enum:
    /// 2 active, as a commissioned meter's account is). The suspend-debt flags the
    /// emulator adds are not part of this read.
    static let paymentMode: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, paymentModeLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let mode: UInt8
        switch try text(body, "PaymentMode") {
        case "Credit": mode = 1
        case "Prepayment": mode = 2
        case let other: throw .shape("payment mode \(other)")
        }
        return try answer(context, requests, [.structure([.enumerated(mode), .enumerated(2)])])
    }

    // MARK: - ECS27 (4.15)

    static let loadLimitLayout: [DLMSAPDU.RequestSpecification] = [
        get(9000, [0, 0, 94, 44, 0, 3], 2), get(3, [0, 0, 94, 44, 42, 255], 2), get(3, [0, 0, 94, 44, 42, 255], 3),
        get(71, [0, 0, 17, 0, 0, 255], 4), get(71, [0, 0, 17, 0, 0, 255], 6), get(71, [0, 0, 17, 0, 0, 255], 7),
    ]

    /// ECS27 (4.15): LoadLimitSupplyState (0-0:94.44.0.3, boolean: Disable true,
    /// Unchanged false), the load limit counter (Register 0-0:94.44.42.255: value
    /// double-long-unsigned, then scaler_unit {scaler 0, unit 255 count}), then the
    /// Limiter 0-0:17.0.0.255's threshold (W), min over threshold duration and min under
    /// threshold duration (s), each double-long-unsigned.
    static let loadLimitData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, loadLimitLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let disable: Bool
        switch try text(body, "LoadLimitSupplyState") {
        case "Disable": disable = true
        case "Unchanged": disable = false
        case let other: throw .shape("load limit supply state \(other)")
        }
        return try answer(context, requests, [
            boolean(disable), try doubleLongUnsigned(body, "LoadLimitCounterValue"), .structure([.integer(0), .enumerated(255)]),
            try doubleLongUnsigned(body, "LoadLimitPowerThreshold"), try doubleLongUnsigned(body, "LoadLimitPeriod"),
            try doubleLongUnsigned(body, "LoadLimitRestorationPeriod"),
        ])
    }

    // MARK: - ECS61a (7.7)

    static let alcsLayout: [DLMSAPDU.RequestSpecification] = {
        var layout: [DLMSAPDU.RequestSpecification] = []
        for n: UInt8 in 11...15 { layout.append(get(1, [0, 0, 94, 44, 0, n], 2)) }
        for n: UInt8 in 21...25 { layout.append(get(1, [0, 0, 94, 44, 0, n], 2)) }
        layout.append(get(11, [0, 0, 11, 0, 3, 255], 2))
        layout.append(get(10, [0, 0, 12, 0, 2, 255], 2))
        for n: UInt8 in 1...5 { layout.append(get(70, [0, n, 96, 3, 10, 255], 2)) }
        return layout
    }()

    /// ECS61a (7.7): for the five switches n = 1…5, the descriptions (0-0:94.44.0.11 to
    /// .15, visible-string, up to 22 characters; empty where the answer has none), then the
    /// types and identifiers (0-0:94.44.0.21 to .25, octet-string(8): all zeros for an
    /// ALCS, else the HC ALCS's entity identifier), then the special days table
    /// (0-0:11.0.3.255 attribute 2) and the switching calendar (Schedule 0-0:12.0.2.255
    /// attribute 2), then the states (Disconnect control 0-n:96.3.10.255 attribute 2
    /// `output_state`, boolean: true connected / closed).
    ///
    /// MMC's answer as Parse and Correlate reads it carries neither special days nor
    /// calendar (their script selectors' meaning is not mapped), so both are written as
    /// empty arrays: an RTDS answer with entries there is not written again exactly. A
    /// switch the answer does not list is written as an ALCS with no description, and a
    /// switch without a State (P&C gives an HC ALCS none) as connected.
    static let alcsData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, alcsLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        var switches: [Int: DataNode] = [:]
        for node in body.all("AuxiliaryLoadControlSwitch") {
            guard let index = node.attribute("Index").flatMap({ Int($0) }), (1...5).contains(index) else {
                throw .shape("an auxiliary load control switch with index \(node.attribute("Index") ?? "absent")")
            }
            guard switches[index] == nil else { throw .shape("auxiliary load control switch \(index) twice") }
            switches[index] = node
        }
        var descriptions: [DLMSData] = []
        var identifiers: [DLMSData] = []
        var states: [DLMSData] = []
        for n in 1...5 {
            guard let node = switches[n] else {
                descriptions.append(.visibleString([]))
                identifiers.append(.octetString(Array(repeating: 0, count: 8)))
                states.append(boolean(true))
                continue
            }
            descriptions.append(.visibleString(try ascii(node.child("Description")?.text ?? "", "switch \(n)'s description", limit: 22)))
            if let type = node.child("TypeAndIdentifier") {
                if type.child("ALCS") != nil {
                    identifiers.append(.octetString(Array(repeating: 0, count: 8)))
                } else if let hcalcs = type.child("HCALCS")?.text {
                    let octets = try eui(hcalcs, "switch \(n)'s HC ALCS")
                    guard octets.contains(where: { $0 != 0 }) else { throw .shape("switch \(n)'s HC ALCS identifier is all zeros (an ALCS)") }
                    identifiers.append(.octetString(octets))
                } else {
                    throw .shape("switch \(n)'s type is neither ALCS nor HCALCS")
                }
            } else {
                identifiers.append(.octetString(Array(repeating: 0, count: 8)))
            }
            if let state = node.child("State")?.text {
                states.append(boolean(try flag(state, "switch \(n)'s state")))
            } else {
                states.append(boolean(true))
            }
        }
        return try answer(context, requests, descriptions + identifiers + [.array([]), .array([])] + states)
    }

    // MARK: - ECS61c (7.11)

    static let boostLayout: [DLMSAPDU.RequestSpecification] = {
        var layout: [DLMSAPDU.RequestSpecification] = [get(1, [0, 0, 94, 44, 7, 255], 2), get(7, [0, 0, 99, 98, 20, 255], 2)]
        for n: UInt8 in 1...5 { layout.append(get(1, [0, 0, 94, 44, 6, n], 2)) }
        return layout
    }()

    /// ECS61c (7.11): BoostFunctionAvailability (0-0:94.44.7.255, boolean), the boost
    /// function event log (Profile generic 0-0:99.98.20.255 buffer in the range asked for,
    /// a compact array of up to 25 entries {boost_start, boost_end}, each
    /// double-long-unsigned UTC seconds since 2000), then BoostFunctionControl[1..5]
    /// (0-0:94.44.6.1 to .5, booleans: the load is controlled by the button).
    static let boostButtonDetails: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, boostLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        let log = body.all("EventLogEntry")
        guard log.count <= 25 else { throw .shape("\(log.count) boost log entries (GBCS holds 25)") }
        var entries: [DLMSData] = []
        for entry in log {
            entries.append(.structure([.doubleLongUnsigned(try seconds2000(entry.child("BoostStart"), "a boost start")),
                                       .doubleLongUnsigned(try seconds2000(entry.child("BoostEnd"), "a boost end"))]))
        }
        let compact = DLMSCompactArray(type: .structure([.simple(.doubleLongUnsigned), .simple(.doubleLongUnsigned)]), elements: entries)
        var data: [DLMSData] = [try boolean(body, "BoostFunctionAvailability"), .compactArray(compact)]
        for index in 1...5 { data.append(try boolean(body, "BoostFunctionControl\(index)Value")) }
        return try answer(context, requests, data)
    }

    // MARK: - ECS25r1, ECS25r2 (6.2.10)

    /// A 256-bit settings string of the `xNNNN` elements anywhere under `settings` (GBCS:
    /// bit n, numbered from the least significant bit, is event / alert code
    /// `prefix || n`, 1 on): each Enable sets its bit, each Disable leaves it clear.
    static func settingsBits(_ settings: DataNode, prefix: UInt8) throws(GBCSAnswerError) -> DLMSData {
        var octets = [UInt8](repeating: 0, count: 32)
        for group in settings.children {
            for item in group.children {
                guard item.name.hasPrefix("x"), let code = UInt16(item.name.dropFirst(), radix: 16), item.name.count == 5 else {
                    throw .shape("\(settings.name)/\(group.name) holds \(item.name), not an alert code")
                }
                guard UInt8(truncatingIfNeeded: code >> 8) == prefix else {
                    throw .shape("alert code \(item.name) in \(settings.name) is not one of its codes (0x\(String(prefix, radix: 16, uppercase: true))nn)")
                }
                switch item.text {
                case "Enable":
                    // Bit n is bit 255 - n counted from the first octet's most significant bit.
                    let index = 255 - Int(code & 0xFF)
                    octets[index / 8] |= 0x80 >> UInt8(index % 8)
                case "Disable":
                    break
                case let other:
                    throw .shape("alert setting \(item.name) is \(other ?? "absent"), not Enable or Disable")
                }
            }
        }
        return .bitString(DLMSData.BitString(bitCount: 256, octets: octets))
    }

    /// The settings strings of `element`'s groups named `groups`, in that order.
    static func settings(_ body: DataNode, _ element: String, _ groups: [String], prefix: UInt8) throws(GBCSAnswerError) -> [DLMSData] {
        let settings = try child(body, element)
        var data: [DLMSData] = []
        for name in groups { data.append(try settingsBits(try child(settings, name), prefix: prefix)) }
        return data
    }

    static let supplierLayout: [DLMSAPDU.RequestSpecification] = (15...18).map { (n: UInt8) in get(1, [0, 30, 97, 98, n, 255], 2) }
    static let networkOperatorLayout: [DLMSAPDU.RequestSpecification] = [get(1, [0, 33, 97, 98, 15, 255], 2), get(1, [0, 33, 97, 98, 18, 255], 2)]

    /// ECS25r1 (6.2.10, asked by the supplier): four bit-string(256) values of the
    /// supplier's settings (Data 0-30:97.98.15.255 WAN alerting, .16 HAN device sharing,
    /// .17 alarms, .18 logging; codes 0x81nn).
    static let supplierAlertBehaviours: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, supplierLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        return try answer(context, requests, try settings(body, "ElectricitySupplierAlertEventSettings", [
            "ElectricitySupplierWANAlertSettings", "ElectricitySupplierHANAlertSettings", "ElectricitySupplierAlarmSettings",
            "ElectricitySupplierLoggingSettings",
        ], prefix: 0x81))
    }

    /// ECS25r2 (6.2.10, asked by the network operator): two bit-string(256) values of the
    /// network operator's settings (Data 0-33:97.98.15.255 WAN alerting, .18 logging;
    /// codes 0x80nn).
    static let networkOperatorAlertBehaviours: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try requests(context, networkOperatorLayout)
        guard context.succeeded else { return GBCSAnswers.dlmsRefusal(context, requests) }
        return try answer(context, requests, try settings(body, "ElectricityNetworkOperatorAlertEventSettings", [
            "ElectricityNetworkOperatorWANAlertSettings", "ElectricityNetworkOperatorLoggingSettings",
        ], prefix: 0x80))
    }
}
