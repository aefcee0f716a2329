import DUIS
import GBCS

/// The critical configuration SRVs: load limiting (6.4.1), the gas meter's conversion
/// (6.6) and flow and tamper settings (6.7), the billing calendar (6.8), the clock (6.11
/// and commissioning's 8.1.1), the electricity meter's supply tamper state (6.25) and the
/// daily reset of its tariff block counters (6.26). Each checked octet for octet against
/// the RTDS pre-commands of its use cases (ECS28a, GCS23, GCS24, ECS30, ECS30a, ECS70,
/// GCS28, ECS81, ECS48).
extension CriticalCommandBuilder {
    static let configurationBuilders: [SRV: Build] = [
        "6.4.1": { input throws(TransformError) in try configurationLoadLimit(input) },
        "6.6": { input throws(TransformError) in try configurationGasConversion(input) },
        "6.7": { input throws(TransformError) in try configurationGasFlow(input) },
        "6.8": { input throws(TransformError) in try configurationBillingCalendar(input) },
        "6.11": { input throws(TransformError) in try configurationClock(input) },
        "8.1.1": { input throws(TransformError) in try configurationClock(input) },
        "6.25": { input throws(TransformError) in try configurationSupplyTamperState(input) },
        "6.26": { input throws(TransformError) in try configurationDailyBlockCounterReset(input) },
    ]

    // MARK: 6.4.1 ECS28a

    /// ECS28a, Set Load Limit Configurations - General Settings (0x0043). Four of the
    /// meter's class 9000 objects, each given its passive value (attribute 4) and then its
    /// activation time (attribute 6): 0-0:94.44.0.3 the load limit supply state (boolean:
    /// disable the supply when the limit is exceeded, or leave it), 0-0:94.44.128.7 the
    /// power threshold (W), 128.6 the load limit period and 128.8 the restoration period
    /// (seconds), all double-long-unsigned. The activation time is the request's execution
    /// time (`Input.activation`, DUIS lets the device future-date 6.4.1): a COSEM date-time
    /// of zeros for now, the instant, or 0xFF for a cancellation (deviation unspecified).
    static func configurationLoadLimit(_ input: Input) throws(TransformError) -> Built {
        try configurationRequire(input, .esme, "6.4.1 load limiting")
        let body = input.body
        let period = try integer(body, "LoadLimitPeriod", as: UInt32.self)
        let threshold = try integer(body, "LoadLimitPowerThreshold", as: UInt32.self)
        let restoration = try integer(body, "LoadLimitRestorationPeriod", as: UInt32.self)
        let disable = try configurationChoice(body, "LoadLimitSupplyState", ["Disable": true, "Unchanged": false])
        let objects = ["0-0:94.44.0.3", "0-0:94.44.128.7", "0-0:94.44.128.6", "0-0:94.44.128.8"].map(GBCSCommandBuilder.obis)
        let values: [DLMSData] = [.boolean(disable ? 0xFF : 0x00), .doubleLongUnsigned(threshold), .doubleLongUnsigned(period),
                                  .doubleLongUnsigned(restoration)]
        let specifications = objects.map { DLMSAPDU.RequestSpecification.set(DLMSAPDU.Descriptor(classID: 9000, instance: $0, member: 4)) }
            + objects.map { DLMSAPDU.RequestSpecification.set(DLMSAPDU.Descriptor(classID: 9000, instance: $0, member: 6)) }
        let data = values + [DLMSData](repeating: activationDateTime(input), count: objects.count)
        return Built(useCase: "ECS28a", messageCode: 0x0043, content: access(input, specifications, data))
    }

    // MARK: 6.6 GCS23

    /// GCS23, Set CV and Conversion Factor Value(s) on the GSME (0x007C). Two Price
    /// cluster (0x0700) commands the ESI publishes to the meter (ZCL frame control 0x09):
    /// PublishConversionFactor (0x02) and then PublishCalorificValue (0x03), each with the
    /// issuer event ID and a start time of 0 ("now"). The conversion factor is sent as an
    /// integer with 5 digits after the point (trailing digit bitmap 0x50), the calorific
    /// value with 1 (0x10) in MJ/m³ (unit 0x01): the DUIS types' own fraction digits, so
    /// 1.02264 → 102264 and 40.0 → 400.
    static func configurationGasConversion(_ input: Input) throws(TransformError) -> Built {
        try configurationRequire(input, .gsme, "6.6 gas conversion")
        let factor = try configurationDecimal(input.body, "ConversionFactor", fractionDigits: 5)
        let calorific = try configurationDecimal(input.body, "CalorificValue", fractionDigits: 1)
        // Issuer event ID, start time 0 ("now"), then the value and its scale.
        var head = configurationLE(configurationIssuerEventID)
        head += configurationLE(UInt32(0))
        var publishFactor = head
        publishFactor += configurationLE(factor)
        publishFactor += [0x50]
        var publishCalorific = head
        publishCalorific += configurationLE(calorific)
        publishCalorific += [0x01, 0x10]
        let components = [
            GBZComponent(control: 0x00, cluster: 0x0700, frameControl: 0x09, sequenceNumber: 0, command: 0x02, payload: .plain(publishFactor)),
            GBZComponent(control: 0x01, cluster: 0x0700, frameControl: 0x09, sequenceNumber: 1, command: 0x03, payload: .plain(publishCalorific)),
        ]
        return Built(useCase: "GCS23", messageCode: 0x007C,
                     content: GBCSPayload.gbz(GBZPayload(componentCount: 2, components: components)).encode())
    }

    // MARK: 6.7 GCS24

    /// GCS24, Set Uncontrolled Gas Flow Rate and Supply Tamper State on the GSME
    /// (0x007D). Two Metering cluster (0x0702) client commands (frame control 0x01):
    /// SetUncontrolledFlowThreshold (0x0E) {provider ID 0, issuer event ID, threshold
    /// uint16, unit 0x01 (m³), multiplier 1, divisor 1 (GBCS's constants), stabilisation
    /// period uint8, measurement period uint16}, then SetSupplyStatus (0x0D) {issuer event
    /// ID, supply tamper state, supply depletion state, uncontrolled flow state 0x00, load
    /// limit supply state 0x03}, where GBCS maps Locked to 0x00 and Unchanged to 0x03. The
    /// two fixed states are the RTDS's. `UncontrolledGasFlowRateDecimal` is GCS24a
    /// (SMETS4, 0x00FC), whose layout the RTDS does not show: refused.
    static func configurationGasFlow(_ input: Input) throws(TransformError) -> Built {
        try configurationRequire(input, .gsme, "6.7 gas flow")
        let body = input.body
        if body.child("UncontrolledGasFlowRateDecimal") != nil {
            throw TransformError("UncontrolledGasFlowRateDecimal is GCS24a (SMETS4), which gbsm's Transform service does not build: send UncontrolledGasFlowRate")
        }
        let rate = try integer(body, "UncontrolledGasFlowRate", as: UInt16.self)
        let stabilisation = try integer(body, "StabilisationPeriod", as: UInt8.self)
        let measurement = try integer(body, "MeasurementPeriod", as: UInt16.self)
        let states: [String: UInt8] = ["Locked": 0x00, "Unchanged": 0x03]
        let tamper = try configurationChoice(body, "SupplyTamperState", states)
        let depletion = try configurationChoice(body, "SupplyDepletionState", states)
        let issuer = configurationLE(configurationIssuerEventID)
        var threshold = configurationLE(UInt32(0))
        threshold += issuer
        threshold += configurationLE(rate)
        threshold += [0x01]
        threshold += configurationLE(UInt16(1))
        threshold += configurationLE(UInt16(1))
        threshold += [stabilisation]
        threshold += configurationLE(measurement)
        var status = issuer
        status += [tamper, depletion, 0x00, 0x03]
        let components = [
            GBZComponent(control: 0x00, cluster: 0x0702, frameControl: 0x01, sequenceNumber: 0, command: 0x0E, payload: .plain(threshold)),
            GBZComponent(control: 0x01, cluster: 0x0702, frameControl: 0x01, sequenceNumber: 1, command: 0x0D,
                         payload: .plain(status)),
        ]
        return Built(useCase: "GCS24", messageCode: 0x007D,
                     content: GBCSPayload.gbz(GBZPayload(componentCount: 2, components: components)).encode())
    }

    // MARK: 6.8 ECS30 / ECS30a

    /// ECS30 (0x0046) or ECS30a (0x00D7), Set Billing Calendar on the ESME: the billing
    /// snapshot's single action schedule 0-0:15.0.0.255 (class 22), attribute 4
    /// execution_time, an array of {time octet-string(4) hh mm ss 00, date octet-string(5)
    /// FFFF month day day-of-week, 0xFF "any"}: daily (all any), weekly (the day of week),
    /// monthly (the day of month), yearly (month and day), six-monthly and quarterly (two
    /// or four entries 6 or 3 months apart from the start month). The time is the
    /// request's BillingTime in UTC to the second.
    ///
    /// ECS30a is GBCS's "all periodicities" use case; DCC picks between the two by the
    /// meter's GBCS version, which the builder is not given. The RTDS sends a monthly
    /// calendar as ECS30 (the template) and a daily one once as ECS30a, with the same
    /// payload. So: daily, weekly and monthly (what ECS30 has always carried) go as ECS30,
    /// quarterly, six-monthly and yearly as ECS30a. The gas calendar (GCS25a) has no RTDS
    /// vector and is refused.
    static func configurationBillingCalendar(_ input: Input) throws(TransformError) -> Built {
        if input.body.child("GasBillingCalendar") != nil || input.deviceType == .gsme {
            throw TransformError("the gas meter's billing calendar (GCS25a) is not built by gbsm's Transform service")
        }
        try configurationRequire(input, .esme, "6.8 billing calendar")
        guard let calendar = input.body.child("ElectricityBillingCalendar") else {
            throw TransformError("\(input.body.name) has no ElectricityBillingCalendar")
        }
        guard let text = calendar.value("BillingTime") else { throw TransformError("ElectricityBillingCalendar has no BillingTime") }
        guard let time = TimeOfDay(xsTime: text) else { throw TransformError("BillingTime \(untrusted(text, limit: 40)) is not an xs:time") }
        let at: [UInt8] = [UInt8(truncatingIfNeeded: time.hour), UInt8(truncatingIfNeeded: time.minute), UInt8(truncatingIfNeeded: time.second), 0x00]
        func date(month: UInt8 = 0xFF, day: UInt8 = 0xFF, weekday: UInt8 = 0xFF) -> [UInt8] { [0xFF, 0xFF, month, day, weekday] }
        func ranged(_ element: ElementTree, _ name: String, _ range: ClosedRange<UInt8>) throws(TransformError) -> UInt8 {
            let value = try integer(element, name, as: UInt8.self)
            guard range.contains(value) else { throw TransformError("\(name) \(value) is outside \(range.lowerBound)...\(range.upperBound)") }
            return value
        }
        let dates: [[UInt8]]
        let allPeriodicities: Bool
        if calendar.child("Daily") != nil {
            dates = [date()]
            allPeriodicities = false
        } else if calendar.child("Weekly") != nil {
            let weekday = try ranged(calendar, "Weekly", 1...7)
            dates = [date(weekday: weekday)]
            allPeriodicities = false
        } else if calendar.child("Monthly") != nil {
            let day = try ranged(calendar, "Monthly", 1...28)
            dates = [date(day: day)]
            allPeriodicities = false
        } else {
            let periods: [(name: String, step: UInt8)] = [("Quarterly", 3), ("SixMonthly", 6), ("Yearly", 12)]
            guard let period = periods.first(where: { calendar.child($0.name) != nil }), let element = calendar.child(period.name) else {
                throw TransformError("ElectricityBillingCalendar has no periodicity (Daily, Weekly, Monthly, Quarterly, SixMonthly or Yearly)")
            }
            let day = try ranged(element, "DayOfMonth", 1...28)
            let start = try ranged(element, "BillingPeriodStartMonth", 1...12)
            dates = stride(from: 0, to: 12, by: Int(period.step)).map { (offset: Int) -> [UInt8] in
                date(month: UInt8(truncatingIfNeeded: (Int(start) - 1 + offset) % 12 + 1), day: day)
            }
            allPeriodicities = true
        }
        let schedule = DLMSData.array(dates.map { (entry: [UInt8]) -> DLMSData in DLMSData.structure([.octetString(at), .octetString(entry)]) })
        let content = access(input, [.set(DLMSAPDU.Descriptor(classID: 22, instance: GBCSCommandBuilder.obis("0-0:15.0.0.255"), member: 4))], [schedule])
        return allPeriodicities ? Built(useCase: "ECS30a", messageCode: 0x00D7, content: content) : Built(useCase: "ECS30", messageCode: 0x0046, content: content)
    }

    // MARK: 6.11 and 8.1.1 ECS70 / GCS28

    /// ECS70, Set Clock on ESME (0x0062), for 6.11 Synchronise Clock and 8.1.1 Commission
    /// Device alike: on the clock 0-0:1.0.0.255 (class 8), set clock_base (attribute 9) to
    /// 5, call preset_adjusting_time (method 5) with an unspecified preset time and the
    /// validity interval [CurrentDateTime, CurrentDateTime + TolerancePeriod], call
    /// adjust_to_preset_time (method 4, integer 0), and read back time (attribute 2) and
    /// status (attribute 4). The meter takes the comms hub's time if that lies in the
    /// interval. Every octet comes from the request: none from the time of the transform.
    ///
    /// GCS28, Set Clock on GSME (0x007F), carries the same interval as an ASN.1 SEQUENCE
    /// of two GeneralizedTime ("YYYYMMDDhhmmssZ"). Times are UTC, to the second.
    static func configurationClock(_ input: Input) throws(TransformError) -> Built {
        let body = input.body
        guard let text = body.value("CurrentDateTime") else { throw TransformError("\(body.name) has no CurrentDateTime") }
        guard let current = Timestamp(xsDateTime: text) else { throw TransformError("CurrentDateTime \(untrusted(text, limit: 40)) is not an xs:dateTime") }
        let tolerance = try integer(body, "TolerancePeriod", as: Int32.self)
        guard (0...86_400).contains(tolerance) else { throw TransformError("TolerancePeriod \(tolerance) is outside 0...86400 seconds") }
        let start = try configurationCivil(current, "CurrentDateTime")
        let end = try configurationCivil(current.adding(milliseconds: Int64(tolerance) * 1000), "CurrentDateTime + TolerancePeriod")
        switch input.deviceType {
        case .esme:
            let clock = GBCSCommandBuilder.obis("0-0:1.0.0.255")
            func on(_ member: Int8) -> DLMSAPDU.Descriptor { DLMSAPDU.Descriptor(classID: 8, instance: clock, member: member) }
            let unspecified: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF]
            let interval = DLMSData.structure([.octetString(unspecified), .octetString(configurationDLMSDateTime(start)),
                                               .octetString(configurationDLMSDateTime(end))])
            return Built(useCase: "ECS70", messageCode: 0x0062,
                         content: access(input, [.set(on(9)), .action(on(5)), .action(on(4)), .get(on(2)), .get(on(4))],
                                         [.enumerated(5), interval, .integer(0), .null, .null]))
        case .gsme:
            let interval = ASN1Value(tag: [0x30], content: .constructed([configurationGeneralizedTime(start), configurationGeneralizedTime(end)]))
            return Built(useCase: "GCS28", messageCode: 0x007F, content: GBCSPayload.asn1(interval).encode())
        default:
            throw TransformError("\(input.srv) sets the clock of an electricity or gas meter, not of a \(input.deviceType.rawValue)")
        }
    }

    // MARK: 6.25 ECS81

    /// ECS81, Set Supply Tamper State on ESME (0x0068): the supply tamper state
    /// configuration 0-0:94.44.0.4 (class 1, attribute 2), a boolean: Locked (the supply
    /// is disabled and locked when a tamper is detected) true, Unchanged false.
    static func configurationSupplyTamperState(_ input: Input) throws(TransformError) -> Built {
        try configurationRequire(input, .esme, "6.25 supply tamper state")
        let locked = try configurationChoice(input.body, "SupplyTamperState", ["Locked": true, "Unchanged": false])
        return Built(useCase: "ECS81", messageCode: 0x0068,
                     content: access(input, [.set(DLMSAPDU.Descriptor(classID: 1, instance: GBCSCommandBuilder.obis("0-0:94.44.0.4"), member: 2))],
                                     [.boolean(locked ? 0xFF : 0x00)]))
    }

    // MARK: 6.26 ECS48

    /// ECS48, Configure daily resetting of Tariff Block Counter Matrix (0x00DB): the
    /// single action schedule 0-0:15.1.0.255 (class 22) that resets the block counters,
    /// attribute 4 execution_time, one entry: every day ({FFFF FF FF FF}) at 00:00:00.
    /// That is "on" (DailyTariffBlockCounterMatrixReset true), the RTDS's one shape.
    /// GBCS encodes "off" its own way (section 18.2.1), which neither the RTDS nor the use
    /// case tables show: false is refused rather than guessed.
    static func configurationDailyBlockCounterReset(_ input: Input) throws(TransformError) -> Built {
        try configurationRequire(input, .esme, "6.26 daily block counter reset")
        let on = try configurationChoice(input.body, "DailyTariffBlockCounterMatrixReset", ["true": true, "1": true, "false": false, "0": false])
        guard on else {
            throw TransformError("DailyTariffBlockCounterMatrixReset false: gbsm's Transform service builds only the daily reset's \"on\" (GBCS's encoding of \"off\" is not known to it)")
        }
        let entry = DLMSData.structure([.octetString([0x00, 0x00, 0x00, 0x00]), .octetString([0xFF, 0xFF, 0xFF, 0xFF, 0xFF])])
        return Built(useCase: "ECS48", messageCode: 0x00DB,
                     content: access(input, [.set(DLMSAPDU.Descriptor(classID: 22, instance: GBCSCommandBuilder.obis("0-0:15.1.0.255"), member: 4))],
                                     [.array([entry])]))
    }

    // MARK: Helpers

    /// The ZigBee issuer event ID of the gas commands: a value DCC makes, not the request.
    /// Every RTDS GBZ command carries 0x1C374A80 (473385600, 2015-01-01T00:00Z as seconds
    /// since 2000), and the pre-command must match DCC's octets, so it is that constant.
    /// ZSE reads a larger ID as newer information; a live DCC would use a rising value
    /// (its clock in seconds since 2000).
    static let configurationIssuerEventID: UInt32 = 473_385_600

    /// Refuses an SRV sent to a device of another type than its use case's.
    static func configurationRequire(_ input: Input, _ type: DeviceType, _ what: String) throws(TransformError) {
        guard input.deviceType == type else {
            throw TransformError("\(what) is a command to the \(type.rawValue), not to a \(input.deviceType.rawValue)")
        }
    }

    /// The value of an enumerated element, from its allowed texts.
    static func configurationChoice<T>(_ element: ElementTree, _ name: String, _ choices: [String: T]) throws(TransformError) -> T {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        guard let value = choices[text] else {
            throw TransformError("\(name) \(untrusted(text, limit: 24)) is not one of \(choices.keys.sorted().joined(separator: ", "))")
        }
        return value
    }

    /// An xs:decimal as an unsigned 32-bit integer with `fractionDigits` digits after the
    /// point (1.02264 with 5 → 102264). More digits must be zeros; negatives (other than
    /// zero) and values past 32 bits are refused.
    static func configurationDecimal(_ element: ElementTree, _ name: String, fractionDigits: Int) throws(TransformError) -> UInt32 {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        let bad = TransformError("\(name) \(untrusted(text, limit: 24)) is not a decimal from 0 to 4294967295 in units of 10^-\(fractionDigits)")
        var bytes = Array(text.utf8)
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        var value: UInt64 = 0
        var digits = 0
        var fraction = -1
        for byte in bytes {
            if byte == UInt8(ascii: "."), fraction < 0 {
                fraction = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw bad }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            digits += 1
            if fraction >= 0 {
                fraction += 1
                if fraction > fractionDigits {
                    guard digit == 0 else { throw bad }
                    continue
                }
            }
            value = value * 10 + digit
            guard value <= UInt64(UInt32.max) else { throw bad }
        }
        guard digits > 0 else { throw bad }
        // Scale up by the fraction digits the text left out (those past `fractionDigits` were zeros, skipped).
        for _ in 0..<max(0, fractionDigits - min(max(fraction, 0), fractionDigits)) {
            value *= 10
            guard value <= UInt64(UInt32.max) else { throw bad }
        }
        guard !negative || value == 0 else { throw bad }
        return UInt32(value)
    }

    /// The little-endian octets of an integer (ZigBee's order).
    static func configurationLE<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    /// A UTC instant to the second, as year, month, day, hour, minute, second: only in
    /// years 0 to 9999 (what DLMS's and ASN.1's four-digit years carry).
    static func configurationCivil(_ time: Timestamp, _ name: String) throws(TransformError) -> [Int] {
        guard time >= CalendarDay.first.start, time < CalendarDay.last.end else {
            throw TransformError("\(name) \(time) is outside the years 0000 to 9999")
        }
        let day = CalendarDay(time).civil
        let clock = TimeOfDay(time)
        return [day.year, day.month, day.day, clock.hour, clock.minute, clock.second]
    }

    /// A COSEM date-time (octet-string(12)) of a civil UTC time: day of week and
    /// hundredths not given (0xFF, 00), deviation unspecified (0x8000), status 0xFF.
    static func configurationDLMSDateTime(_ civil: [Int]) -> [UInt8] {
        let field = { (index: Int) -> UInt8 in index < civil.count ? UInt8(truncatingIfNeeded: civil[index]) : 0 }
        let year = civil.first ?? 0
        return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), field(1), field(2), 0xFF, field(3), field(4), field(5),
                0x00, 0x80, 0x00, 0xFF]
    }

    /// An ASN.1 GeneralizedTime (tag 0x18) "YYYYMMDDhhmmssZ" of a civil UTC time.
    static func configurationGeneralizedTime(_ civil: [Int]) -> ASN1Value {
        var text: [UInt8] = []
        for (index, value) in civil.enumerated() {
            let width = index == 0 ? 4 : 2
            var digits: [UInt8] = []
            var rest = max(0, value)
            for _ in 0..<width {
                digits.insert(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10), at: 0)
                rest /= 10
            }
            text += digits
        }
        text.append(UInt8(ascii: "Z"))
        return ASN1Value(tag: [0x18], content: .primitive(text))
    }
}
