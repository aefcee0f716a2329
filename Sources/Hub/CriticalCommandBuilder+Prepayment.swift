import DUIS
import GBCS

/// The prepayment family: the meter balance (1.5), the payment mode (1.6), the tariff
/// block counters (1.7), the prepayment configuration (2.1), debt (2.3) and emergency
/// credit (2.5). An ESME gets DLMS COSEM on its account (class 111), credits (class 112)
/// and charges (class 113); a GSME gets GBZ, ZSE Prepayment cluster (0x0705) commands.
///
/// Checked octet for octet against the RTDS pre-commands ECS04a, ECS02 (single element),
/// ECS05, ECS08, ECS07, ECS09 and, from bodies written from the XSD, GCS40a, GCS40d, GCS03
/// and GCS04. ECS04b, GCS40b/c, GCS02 and GCS06 have no RTDS vector: they follow the GBCS
/// use-case tables and GBZ message templates. ECS03 and GCS05 are refused (not built).
///
/// DUIS lets the device future-date 1.6 and 2.1: their activation times are the request's
/// execution time (`Input.activation`), a COSEM date-time (zeros for now, the instant, or
/// 0xFF for a cancellation) or ZSE's Implementation Date/Time (0 for now, seconds since
/// 2000, 0xFFFFFFFF for a cancellation), as the RTDS's FUTURE_DATED and CANCELLATION
/// vectors of ECS08 and GCS03 have them. The other SRVs here run now (`preCommand` refuses
/// them an execution time), so their ZSE start times are 0.
extension CriticalCommandBuilder {
    static let prepaymentBuilders: [SRV: Build] = [
        "1.5": { input throws(TransformError) in try prepaymentMeterBalance(input) },
        "1.6": { input throws(TransformError) in try prepaymentPaymentMode(input) },
        "1.7": { input throws(TransformError) in try prepaymentBlockCounters(input) },
        "2.1": { input throws(TransformError) in try prepaymentConfiguration(input) },
        "2.3": { input throws(TransformError) in try prepaymentDebt(input) },
        "2.5": { input throws(TransformError) in try prepaymentEmergencyCredit(input) },
    ]

    // MARK: 1.5 Adjust Meter Balance

    /// ECS04a adds `AdjustMeterBalance` to the ESME's meter balance (credit 0-0:19.10.0.255,
    /// update_amount); ECS04b zeroes the meter balance, the emergency credit balance and the
    /// accumulated debt register (19.10.0/1/2, set_amount_to_value 0). A GSME has two
    /// balances, so four use cases, all ZSE Credit Adjustment with GBCS's adjustment types:
    /// GCS40a prepayment incremental (0), GCS40b prepayment absolute zero (1), GCS40c credit
    /// mode incremental (3), GCS40d credit mode absolute zero (2). An ESME has no separate
    /// credit-mode balance, so `CreditMode` to an ESME is refused.
    private static func prepaymentMeterBalance(_ input: Input) throws(TransformError) -> Built {
        let prepayment = input.body.child("PrepaymentMode")
        let credit = input.body.child("CreditMode")
        guard let mode = prepayment ?? credit, (prepayment == nil) != (credit == nil) else {
            throw TransformError("UpdateMeterBalance needs exactly one of PrepaymentMode or CreditMode")
        }
        let adjusts = mode.child("AdjustMeterBalance") != nil
        guard adjusts != (mode.child("ResetMeterBalance") != nil) else {
            throw TransformError("\(mode.name) needs exactly one of AdjustMeterBalance or ResetMeterBalance")
        }
        switch input.deviceType {
        case .esme:
            guard prepayment != nil else { throw TransformError("CreditMode is for a GSME's credit-mode balance; an ESME has one meter balance (use PrepaymentMode)") }
            if adjusts {
                let amount = try integer(mode, "AdjustMeterBalance", as: Int32.self)
                return Built(useCase: "ECS04a", messageCode: 0x001C,
                             content: access(input, [.action(prepaymentObject(112, "0-0:19.10.0.255", 1))], [.doubleLong(amount)]))
            }
            let registers = ["0-0:19.10.0.255", "0-0:19.10.1.255", "0-0:19.10.2.255"]
            return Built(useCase: "ECS04b", messageCode: 0x00B3,
                         content: access(input, registers.map { DLMSAPDU.RequestSpecification.action(prepaymentObject(112, $0, 2)) },
                                         registers.map { _ in DLMSData.doubleLong(0) }))
        case .gsme:
            var amount: Int32 = 0
            if adjusts {
                amount = try integer(mode, "AdjustMeterBalance", as: Int32.self)
                // GBCS gives the Credit Adjustment Value the range ±0x7FFFFFFF.
                guard amount != Int32.min else { throw TransformError("AdjustMeterBalance \(amount) is outside -2147483647...2147483647 (ZSE Credit Adjustment Value)") }
            }
            let (useCase, code, type): (String, UInt16, UInt8) = switch (prepayment != nil, adjusts) {
            case (true, true): ("GCS40a", 0x0086, 0)
            case (true, false): ("GCS40b", 0x00B4, 1)
            case (false, true): ("GCS40c", 0x00C0, 3)
            case (false, false): ("GCS40d", 0x00C2, 2)
            }
            // Credit Adjustment: Issuer Event ID, Start Time (0 = now), type, value.
            var payload = prepaymentLE(prepaymentIssuerEventID)
            payload += prepaymentLE(UInt32(0))
            payload.append(type)
            payload += prepaymentLE(amount)
            return Built(useCase: useCase, messageCode: code, content: prepaymentGBZ([(0x05, payload)]))
        default:
            throw prepaymentWrongDevice(input)
        }
    }

    // MARK: 1.6 Update Payment Mode

    /// ECS02 sets the ESME's passive account (0-1:19.0.0.255) to credit mode: mode and status
    /// {credit, new}, the credit/charge configuration (the meter balance credit paying the
    /// TOU/block price charge and the standing charge, collection configuration 111), and
    /// the activation time (the request's), which makes the passive account current. The
    /// RTDS single element vector has these two charges; a twin element meter also lists
    /// the second element's charge (0-0:19.20.5.255), which the device type here cannot
    /// tell, so the single element form is built (the RTDS's future-dated and cancellation
    /// vectors, twin element, are not).
    ///
    /// GCS02/GCS03 send ZSE Change Payment Mode with the Proposed Payment Control
    /// Configuration GBCS fixes: 0x0C94 for credit (cut-off value 0xFFFFFFFF, "unchanged"),
    /// and for prepayment 0x0097, with bit 10 when SuspendDebtDisabled and bit 11 unless
    /// SuspendDebtEmergency; the cut-off value is the DisablementThreshold.
    ///
    /// ECS03 (ESME to prepayment) is refused: its credit_charge_configuration values are set
    /// by GBCS section 18.2.1, which gbsm does not have, and the RTDS has no vector for it.
    private static func prepaymentPaymentMode(_ input: Input) throws(TransformError) -> Built {
        let credit = input.body.child("Credit")
        let prepayment = input.body.child("Prepayment")
        guard (credit == nil) != (prepayment == nil) else { throw TransformError("UpdatePaymentMode needs exactly one of Credit or Prepayment") }
        switch input.deviceType {
        case .esme:
            guard credit != nil else {
                throw TransformError("gbsm does not build ECS03 (ESME payment mode to prepayment) yet: its credit/charge configuration values (GBCS 18.2.1) are not known")
            }
            let account = "0-1:19.0.0.255"
            let balance = GBCSCommandBuilder.obis("0-0:19.10.0.255")
            let configuration: [DLMSData] = ["0-0:19.20.0.255", "0-0:19.20.4.255"].map { charge -> DLMSData in
                .structure([.octetString(balance), .octetString(GBCSCommandBuilder.obis(charge)), .bitString(.init(bitCount: 3, octets: [0xE0]))])
            }
            return Built(useCase: "ECS02", messageCode: 0x001A, content: access(input, [
                .set(prepaymentObject(111, account, 2)), .set(prepaymentObject(111, account, 11)), .set(prepaymentObject(111, account, 13)),
            ], [.structure([.enumerated(1), .enumerated(1)]), .array(configuration), activationDateTime(input)]))
        case .gsme:
            let configuration: UInt16
            var cutOff: Int32 = -1
            if let prepayment {
                let disabled = try prepaymentBoolean(prepayment, "SuspendDebtDisabled")
                let emergency = try prepaymentBoolean(prepayment, "SuspendDebtEmergency")
                cutOff = try integer(prepayment, "DisablementThreshold", as: Int32.self)
                configuration = 0x0097 | (disabled ? 0x0400 : 0) | (emergency ? 0 : 0x0800)
            } else {
                configuration = 0x0C94
            }
            // Change Payment Mode: Provider ID 0, Issuer Event ID, Implementation Date/Time
            // (the request's: 0 now, 0xFFFFFFFF cancel), Proposed Payment Control
            // Configuration, Cut Off Value.
            var payload = prepaymentLE(UInt32(0))
            payload += prepaymentLE(prepaymentIssuerEventID)
            payload += prepaymentLE(input.activation.utcTime)
            payload += prepaymentLE(configuration)
            payload += prepaymentLE(cutOff)
            return credit != nil
                ? Built(useCase: "GCS02", messageCode: 0x006C, content: prepaymentGBZ([(0x06, payload)]))
                : Built(useCase: "GCS03", messageCode: 0x006D, content: prepaymentGBZ([(0x06, payload)]))
        default:
            throw prepaymentWrongDevice(input)
        }
    }

    // MARK: 1.7 Reset Tariff Block Counter Matrix

    /// ECS05: the ESME's tariff script table (0-0:10.0.100.255) runs script 99, which
    /// zeroes the block counters so consumption is charged at the first block again. There
    /// is no gas use case.
    private static func prepaymentBlockCounters(_ input: Input) throws(TransformError) -> Built {
        guard input.deviceType == .esme else { throw TransformError("1.7 (ECS05) resets an ESME's tariff block counters; there is no use case for a \(input.deviceType.rawValue)") }
        return Built(useCase: "ECS05", messageCode: 0x001D,
                     content: access(input, [.action(prepaymentObject(9, "0-0:10.0.100.255", 1))], [.longUnsigned(99)]))
    }

    // MARK: 2.1 Update Prepay Configuration

    /// ECS08 writes the ESME's next prepayment configuration and activates it at the
    /// request's execution time (now, an instant, or the cancellation of the held one): the
    /// non-disablement special days (0-1:11.0.2.255) and schedule (0-1:12.0.1.255, script
    /// table 0-0:10.0.106.255, selector 32 START / 33 STOP), the maximum meter balance
    /// (94.44.2.20) and maximum credit threshold (94.44.2.10), the debt recovery rate cap
    /// (128.12) and its period (128.13), the low credit (128.9), emergency credit limit
    /// (128.2) and emergency credit threshold (128.3), then the activation times
    /// (attribute 6) of the special days (128.31), each value and the calendar (128.28).
    ///
    /// ECS08 sets the maximum meter balance's attribute 2 as the RTDS ECS08 vector does
    /// (ECS08a, 0x00DE, sets its passive attribute 4; otherwise the same). The cap period is
    /// not in the request: it is one week (604800 s), the value in every RTDS vector. The
    /// special days must be indexed 1 to N: their day IDs are their indexes and a schedule's
    /// exec_specdays is an N-bit string whose bit k−1 is SpecialDayID k (GBCS: the string is
    /// as long as the special days table). GCS05 (gas) is not built.
    private static func prepaymentConfiguration(_ input: Input) throws(TransformError) -> Built {
        guard input.deviceType == .esme else {
            throw TransformError("gbsm does not build GCS05 (gas prepayment configuration) yet; 2.1 is built for an ESME only")
        }
        guard let electricity = input.body.child("UpdatePrepayConfigElectricity") else {
            throw TransformError("2.1 to an ESME needs UpdatePrepayConfigElectricity")
        }
        let cap = try integer(electricity, "DebtRecoveryRateCap", as: UInt16.self)
        let emergencyLimit = try integer(electricity, "EmergencyCreditLimit", as: Int32.self)
        let emergencyThreshold = try integer(electricity, "EmergencyCreditThreshold", as: Int32.self)
        let lowCredit = try integer(electricity, "LowCreditThreshold", as: Int32.self)
        let maxBalance = try integer(electricity, "MaxMeterBalance", as: Int32.self)
        let maxCredit = try integer(electricity, "MaxCreditThreshold", as: Int32.self)
        guard let calendar = electricity.child("ElectricityNonDisablementCalendar"),
              let specialDays = calendar.child("ElectricitySpecialDays") else {
            throw TransformError("UpdatePrepayConfigElectricity has no ElectricityNonDisablementCalendar with ElectricitySpecialDays")
        }

        // Special days, by index 1...N.
        let days = specialDays.children.filter { $0.name == "SpecialDay" }
        guard days.count <= 20 else { throw TransformError("\(days.count) special days; a non-disablement calendar holds at most 20") }
        var dated = [[UInt8]?](repeating: nil, count: days.count)
        for day in days {
            let text = day.attributes["index"] ?? ""
            guard let index = Int(text), index >= 1, index <= days.count else {
                throw TransformError("SpecialDay index \(untrusted(text, limit: 8)): the \(days.count) special days must be indexed 1 to \(days.count)")
            }
            guard dated[index - 1] == nil else { throw TransformError("SpecialDay index \(index) appears twice") }
            guard let date = day.child("Date") else { throw TransformError("SpecialDay \(index) has no Date") }
            dated[index - 1] = try prepaymentDate(date)
        }
        var specialEntries: [DLMSData] = []
        for (offset, date) in dated.enumerated() {
            guard let date else { throw TransformError("special day \(offset + 1) is missing") }
            specialEntries.append(.structure([.longUnsigned(UInt16(offset + 1)), .octetString(date), .unsigned(UInt8(offset + 1))]))
        }

        // Schedule entries, numbered in request order.
        let schedules = calendar.children.filter { $0.name == "ElectricityNonDisablementSchedule" }
        guard (1...22).contains(schedules.count) else { throw TransformError("\(schedules.count) non-disablement schedule entries; GBCS allows 1 to 22") }
        let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        let disconnector = GBCSCommandBuilder.obis("0-0:10.0.106.255")
        var scheduleEntries: [DLMSData] = []
        for (offset, schedule) in schedules.enumerated() {
            let script = schedule.value("NonDisablementScript") ?? ""
            let selector: UInt16
            switch script {
            case "START": selector = 32
            case "STOP": selector = 33
            default: throw TransformError("NonDisablementScript \(untrusted(script, limit: 16)) is neither START nor STOP")
            }
            var weekdays: UInt8 = 0
            let weekdayElements = schedule.child("DaysOfWeekApplicability")?.children ?? []
            guard weekdayElements.count <= 7 else { throw TransformError("a schedule entry names \(weekdayElements.count) days of the week") }
            for element in weekdayElements {
                let name = element.value("DayOfWeekID") ?? ""
                guard let index = dayNames.firstIndex(of: name) else { throw TransformError("DayOfWeekID \(untrusted(name, limit: 16)) is not a day of the week") }
                weekdays |= UInt8(0x80) >> UInt8(index)
            }
            var specialBits = [UInt8](repeating: 0, count: (days.count + 7) / 8)
            let specialElements = schedule.child("SpecialDaysApplicability")?.children ?? []
            guard specialElements.count <= 20 else { throw TransformError("a schedule entry names \(specialElements.count) special days") }
            for element in specialElements {
                let id = try integer(element, "SpecialDayID", as: Int.self)
                guard id >= 1, id <= days.count else { throw TransformError("SpecialDayID \(id) names no special day (there are \(days.count))") }
                specialBits[(id - 1) / 8] |= UInt8(0x80) >> UInt8((id - 1) % 8)
            }
            guard let times = schedule.child("ScheduleDatesAndTime") else { throw TransformError("a schedule entry has no ScheduleDatesAndTime") }
            let switchTime = try prepaymentTime(times.value("SwitchTime"), "SwitchTime")
            let start = try prepaymentScheduleDate(times.value("StartDate"), "StartDate")
            let end = try prepaymentScheduleDate(times.value("EndDate"), "EndDate")
            scheduleEntries.append(.structure([
                .longUnsigned(UInt16(offset + 1)), .boolean(0xFF), .octetString(disconnector), .longUnsigned(selector),
                .octetString(switchTime), .longUnsigned(0xFFFF),
                .bitString(.init(bitCount: 7, octets: [weekdays])), .bitString(.init(bitCount: days.count, octets: specialBits)),
                .octetString(start), .octetString(end),
            ]))
        }

        func value(_ obis: String, _ attribute: Int8) -> DLMSAPDU.RequestSpecification { .set(prepaymentObject(9000, obis, attribute)) }
        let activations = ["0-0:94.44.2.20", "0-0:94.44.2.10", "0-0:94.44.128.12", "0-0:94.44.128.13", "0-0:94.44.128.9",
                           "0-0:94.44.128.2", "0-0:94.44.128.3", "0-0:94.44.128.28"]
        let specifications: [DLMSAPDU.RequestSpecification] = [
            .set(prepaymentObject(11, "0-1:11.0.2.255", 2)), value("0-0:94.44.2.20", 2), value("0-0:94.44.2.10", 4),
            .set(prepaymentObject(10, "0-1:12.0.1.255", 2)), value("0-0:94.44.128.12", 4), value("0-0:94.44.128.13", 4),
            value("0-0:94.44.128.9", 4), value("0-0:94.44.128.2", 4), value("0-0:94.44.128.31", 6), value("0-0:94.44.128.3", 4),
        ] + activations.map { obis -> DLMSAPDU.RequestSpecification in value(obis, 6) }
        let data: [DLMSData] = [
            .array(specialEntries), .doubleLong(maxBalance), .doubleLong(maxCredit), .array(scheduleEntries),
            .longUnsigned(cap), .doubleLong(604_800), .doubleLong(lowCredit), .doubleLong(emergencyLimit), activationDateTime(input),
            .doubleLong(emergencyThreshold),
        ] + activations.map { _ -> DLMSData in activationDateTime(input) }
        return Built(useCase: "ECS08", messageCode: 0x001F, content: access(input, specifications, data))
    }

    // MARK: 2.3 Update Debt

    /// ECS07 configures the ESME's two time-based debts (charges 0-0:19.20.1/2.255): their
    /// passive unit charge (rate and price scale), the payment-based debt's collection per
    /// payment (19.20.3, attribute 13), each period (attribute 8: 3600 s hourly, 86400 s
    /// daily), activates the passive unit charges, then adds the three register amounts
    /// (update_total_amount_remaining: payment debt, time debt 1, time debt 2).
    ///
    /// GCS04 sends three ZSE Change Debt commands: time-based debt 1 and 2 (incremental
    /// amount, recovery amount per hour or day) and the payment-based debt (incremental
    /// amount, recovery percentage per payment), collection at midnight, starting now.
    private static func prepaymentDebt(_ input: Input) throws(TransformError) -> Built {
        let body = input.body
        let timeDebt1 = try integer(body, "TimeDebtRegister1", as: Int32.self)
        let timeDebt2 = try integer(body, "TimeDebtRegister2", as: Int32.self)
        let paymentDebt = try integer(body, "PaymentDebtRegister", as: Int32.self)
        let perPayment = try integer(body, "DebtRecoveryPerPayment", as: UInt16.self)
        guard perPayment <= 10000 else { throw TransformError("DebtRecoveryPerPayment \(perPayment) is outside 0...10000") }
        switch input.deviceType {
        case .esme:
            guard let first = body.child("ElecDebtRecovery1"), let second = body.child("ElecDebtRecovery2") else {
                throw TransformError("2.3 to an ESME needs ElecDebtRecovery1 and ElecDebtRecovery2")
            }
            func unitCharge(_ recovery: ElementTree) throws(TransformError) -> DLMSData {
                let rate = try integer(recovery, "DebtRecoveryRate", as: Int16.self)
                let scale = try integer(recovery, "DebtRecoveryRatePriceScale", as: Int8.self)
                // {charge_per_unit_scaling {commodity 0, price}, commodity {none}, table {{index "", rate}}}
                return .structure([
                    .structure([.integer(0), .integer(scale)]),
                    .structure([.longUnsigned(0), .octetString([0, 0, 0, 0, 0, 0]), .integer(0)]),
                    .array([.structure([.octetString([]), .long(rate)])]),
                ])
            }
            func period(_ recovery: ElementTree) throws(TransformError) -> DLMSData {
                let hourly = try prepaymentHourly(recovery)
                return .doubleLongUnsigned(hourly ? 3600 : 86400)
            }
            let debt1 = "0-0:19.20.1.255", debt2 = "0-0:19.20.2.255", payment = "0-0:19.20.3.255"
            let specifications: [DLMSAPDU.RequestSpecification] = [
                .set(prepaymentObject(113, debt1, 6)), .set(prepaymentObject(113, debt2, 6)), .set(prepaymentObject(113, payment, 13)),
                .set(prepaymentObject(113, debt1, 8)), .set(prepaymentObject(113, debt2, 8)),
                .action(prepaymentObject(113, debt1, 2)), .action(prepaymentObject(113, debt2, 2)),
                .action(prepaymentObject(113, payment, 4)), .action(prepaymentObject(113, debt1, 4)), .action(prepaymentObject(113, debt2, 4)),
            ]
            let charge1 = try unitCharge(first), charge2 = try unitCharge(second)
            let period1 = try period(first), period2 = try period(second)
            let data: [DLMSData] = [
                charge1, charge2, .longUnsigned(perPayment), period1, period2,
                .integer(0), .integer(0), .doubleLong(paymentDebt), .doubleLong(timeDebt1), .doubleLong(timeDebt2),
            ]
            return Built(useCase: "ECS07", messageCode: 0x001E, content: access(input, specifications, data))
        case .gsme:
            guard let first = body.child("GasDebtRecovery1"), let second = body.child("GasDebtRecovery2") else {
                throw TransformError("2.3 to a GSME needs GasDebtRecovery1 and GasDebtRecovery2")
            }
            // Change Debt: Issuer Event ID, Debt Label "", Debt Amount, Recovery Method,
            // Amount Type, Recovery Start Time 0, Collection Time 0 (midnight), Frequency,
            // Recovery Amount, Recovery Balance Percentage.
            func change(_ amount: Int32, method: UInt8, type: UInt8, frequency: UInt8, recovery: Int32, percentage: UInt16) -> [UInt8] {
                var payload = prepaymentLE(prepaymentIssuerEventID)
                payload.append(0)
                payload += prepaymentLE(amount)
                payload += [method, type]
                payload += prepaymentLE(UInt32(0))
                payload += prepaymentLE(UInt16(0))
                payload.append(frequency)
                payload += prepaymentLE(recovery)
                payload += prepaymentLE(percentage)
                return payload
            }
            func timeDebt(_ amount: Int32, _ type: UInt8, _ recovery: ElementTree) throws(TransformError) -> [UInt8] {
                let rate = try integer(recovery, "DebtRecoveryRate", as: Int32.self)
                let hourly = try prepaymentHourly(recovery)
                return change(amount, method: 0, type: type, frequency: hourly ? 0 : 1, recovery: rate, percentage: 0)
            }
            let debt1 = try timeDebt(timeDebt1, 1, first)
            let debt2 = try timeDebt(timeDebt2, 3, second)
            let commands: [(UInt8, [UInt8])] = [
                (0x02, debt1),
                (0x02, debt2),
                (0x02, change(paymentDebt, method: 1, type: 5, frequency: 1, recovery: 0, percentage: perPayment)),
            ]
            return Built(useCase: "GCS04", messageCode: 0x006E, content: prepaymentGBZ(commands))
        default:
            throw prepaymentWrongDevice(input)
        }
    }

    // MARK: 2.5 Activate Emergency Credit

    /// ECS09 invokes the ESME's emergency credit (0-0:19.10.1.255, invoke_credit, 0). GCS06
    /// sends ZSE Select Available Emergency Credit: Command Issue Date/Time 0 and
    /// Originating Device 0 (the energy service interface), as GBCS's template fixes.
    private static func prepaymentEmergencyCredit(_ input: Input) throws(TransformError) -> Built {
        switch input.deviceType {
        case .esme:
            return Built(useCase: "ECS09", messageCode: 0x0020,
                         content: access(input, [.action(prepaymentObject(112, "0-0:19.10.1.255", 3))], [.integer(0)]))
        case .gsme:
            return Built(useCase: "GCS06", messageCode: 0x0070, content: prepaymentGBZ([(0x00, [0, 0, 0, 0, 0])]))
        default:
            throw prepaymentWrongDevice(input)
        }
    }

    // MARK: Helpers

    /// ZSE's Issuer Event ID. GBCS's GBZ templates say "current UTC time"; a builder has no
    /// clock, so gbsm sends the value every RTDS gas vector carries, 2015-01-01T00:00:00Z in
    /// seconds since 2000 (ZSE UTCTime). The GSME does not order these commands by it.
    static let prepaymentIssuerEventID: UInt32 = 473_385_600

    private static func prepaymentObject(_ classID: UInt16, _ obis: String, _ member: Int8) -> DLMSAPDU.Descriptor {
        DLMSAPDU.Descriptor(classID: classID, instance: GBCSCommandBuilder.obis(obis), member: member)
    }

    private static func prepaymentWrongDevice(_ input: Input) -> TransformError {
        TransformError("\(input.srv) goes to an ESME or a GSME, not a \(input.deviceType.rawValue)")
    }

    /// ZSE Prepayment cluster commands (client to server), one GBZ component each: control
    /// 0x01 on the last component, ZCL sequence numbers from 0.
    private static func prepaymentGBZ(_ commands: [(UInt8, [UInt8])]) -> [UInt8] {
        var components: [GBZComponent] = []
        for (index, command) in commands.enumerated() {
            components.append(GBZComponent(control: index == commands.count - 1 ? 0x01 : 0x00, cluster: 0x0705, frameControl: 0x01,
                                           sequenceNumber: UInt8(truncatingIfNeeded: index), command: command.0, payload: .plain(command.1)))
        }
        return GBCSPayload.gbz(GBZPayload(componentCount: UInt8(truncatingIfNeeded: components.count), components: components)).encode()
    }

    /// A ZCL integer, little-endian.
    private static func prepaymentLE<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    /// An xs:boolean child.
    private static func prepaymentBoolean(_ element: ElementTree, _ name: String) throws(TransformError) -> Bool {
        let text = element.value(name) ?? ""
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw TransformError("\(name) \(untrusted(text, limit: 16)) is not a boolean")
        }
    }

    /// DebtRecoveryRatePeriod: HOURLY or DAILY.
    private static func prepaymentHourly(_ recovery: ElementTree) throws(TransformError) -> Bool {
        let text = recovery.value("DebtRecoveryRatePeriod") ?? ""
        switch text {
        case "HOURLY": return true
        case "DAILY": return false
        default: throw TransformError("DebtRecoveryRatePeriod \(untrusted(text, limit: 16)) is neither HOURLY nor DAILY")
        }
    }

    /// The decimal value of ASCII digits, or nil (at most 9 digits, so no overflow).
    private static func prepaymentDigits(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 9 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// A time-zone suffix GBCS can carry: none or UTC (COSEM dates and times have no zone).
    private static func prepaymentIsUTC(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.isEmpty || Array(bytes) == Array("Z".utf8) || Array(bytes) == Array("+00:00".utf8) || Array(bytes) == Array("-00:00".utf8)
    }

    /// The COSEM date (octet-string(5): year, month, day, day of week 0xFF) of a schedule's
    /// xs:date. DUIS writes "every year" as the year 65535, COSEM's 0xFFFF.
    private static func prepaymentScheduleDate(_ value: String?, _ name: String) throws(TransformError) -> [UInt8] {
        let text = value ?? ""
        let bytes = Array(text.utf8)
        let refuse = TransformError("\(name) \(untrusted(text, limit: 24)) is not a UTC date GBCS can carry (YYYY-MM-DD, or year 65535 for every year)")
        guard let dash = bytes.firstIndex(of: UInt8(ascii: "-")), dash == 4 || dash == 5, bytes.count >= dash + 6,
              bytes[dash + 3] == UInt8(ascii: "-"),
              let year = prepaymentDigits(bytes[0..<dash]), let month = prepaymentDigits(bytes[(dash + 1)..<(dash + 3)]),
              let day = prepaymentDigits(bytes[(dash + 4)..<(dash + 6)]), prepaymentIsUTC(bytes[(dash + 6)...]) else { throw refuse }
        let everyYear = year == 65535
        guard everyYear || (dash == 4 && year <= 9999), (1...12).contains(month) else { throw refuse }
        let leap = everyYear || (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= lengths[month - 1] else { throw refuse }
        return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), UInt8(month), UInt8(day), 0xFF]
    }

    /// The COSEM time (octet-string(4): hour, minute, second, hundredths) of an xs:time.
    private static func prepaymentTime(_ value: String?, _ name: String) throws(TransformError) -> [UInt8] {
        let text = value ?? ""
        let bytes = Array(text.utf8)
        let refuse = TransformError("\(name) \(untrusted(text, limit: 24)) is not a UTC time of day GBCS can carry")
        guard bytes.count >= 8, bytes[2] == UInt8(ascii: ":"), bytes[5] == UInt8(ascii: ":"),
              let hour = prepaymentDigits(bytes[0..<2]), let minute = prepaymentDigits(bytes[3..<5]),
              let second = prepaymentDigits(bytes[6..<8]), hour <= 23, minute <= 59, second <= 59 else { throw refuse }
        var rest = bytes[8...]
        var hundredths = 0
        if rest.first == UInt8(ascii: ".") {
            let fraction = rest.dropFirst().prefix { $0 >= 0x30 && $0 <= 0x39 }
            guard !fraction.isEmpty else { throw refuse }
            let tenths = Int(fraction[fraction.startIndex] - 0x30)
            let hundredthsDigit = fraction.count > 1 ? Int(fraction[fraction.startIndex + 1] - 0x30) : 0
            hundredths = tenths * 10 + hundredthsDigit
            rest = rest.dropFirst(1 + fraction.count)
        }
        guard prepaymentIsUTC(rest) else { throw refuse }
        return [UInt8(hour), UInt8(minute), UInt8(second), UInt8(hundredths)]
    }

    /// The COSEM date (octet-string(5)) of a DUIS `Date` with wildcards: an unspecified
    /// year, month, day or day of week is 0xFFFF/0xFF, the last and second last day of the
    /// month 0xFE and 0xFD (the Blue Book's values).
    private static func prepaymentDate(_ date: ElementTree) throws(TransformError) -> [UInt8] {
        guard let year = date.child("Year"), let month = date.child("Month"), let day = date.child("DayOfMonth"),
              let weekday = date.child("DayOfWeek") else { throw TransformError("a special day's Date needs Year, Month, DayOfMonth and DayOfWeek") }
        var octets: [UInt8] = []
        if year.child("NonSpecifiedYear") != nil {
            octets += [0xFF, 0xFF]
        } else {
            let value = try integer(year, "SpecifiedYear", as: UInt16.self)
            guard value <= 9999 else { throw TransformError("SpecifiedYear \(value) is outside 2014...9999") }
            octets += [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
        }
        if month.child("NonSpecifiedMonth") != nil {
            octets.append(0xFF)
        } else {
            let value = try integer(month, "SpecifiedMonth", as: UInt8.self)
            guard (1...12).contains(value) else { throw TransformError("SpecifiedMonth \(value) is outside 1...12") }
            octets.append(value)
        }
        if day.child("LastDayOfMonth") != nil {
            octets.append(0xFE)
        } else if day.child("SecondLastDayOfMonth") != nil {
            octets.append(0xFD)
        } else if day.child("NonSpecifiedDayOfMonth") != nil {
            octets.append(0xFF)
        } else {
            let value = try integer(day, "SpecifiedDayOfMonth", as: UInt8.self)
            guard (1...31).contains(value) else { throw TransformError("SpecifiedDayOfMonth \(value) is outside 1...31") }
            octets.append(value)
        }
        if weekday.child("NonSpecifiedDayOfWeek") != nil {
            octets.append(0xFF)
        } else {
            let value = try integer(weekday, "SpecifiedDayOfWeek", as: UInt8.self)
            guard (1...7).contains(value) else { throw TransformError("SpecifiedDayOfWeek \(value) is outside 1...7") }
            octets.append(value)
        }
        return octets
    }
}
