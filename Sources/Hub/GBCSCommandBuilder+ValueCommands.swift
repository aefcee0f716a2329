import DUIS
import GBCS

private typealias ValueInput = CriticalCommandBuilder.Input
private typealias ValueBuilt = CriticalCommandBuilder.Built

/// The non-critical commands that carry the request's values (a message, a date, names,
/// thresholds, MPANs, alert settings, the CHF's Sub GHz settings) or whose use case
/// follows the target's device type or the requester's role: the supply's messages and
/// change of tenancy (2.2, 3.1 to 3.5), the ESME's settings and resets (6.4.2, 6.5, 6.12,
/// 6.18, 6.20, 6.22, 6.27), the reads that depend on device or role (6.2.3, 6.2.4,
/// 6.2.10), the CHF's Sub GHz configuration (6.28, 6.29), the boost button (7.9, 7.10)
/// and the CIN (9.1).
///
/// Checked octet for octet against the RTDS COMMAND vectors of CS01a, ECS10, ECS12,
/// GCS09, CS11, ECS16, GCS44, ECS14, ECS26d, ECS26l, ECS26i, GCS21e, ECS25r1, ECS25r2,
/// ECS28b, ECS29a, ECS29c, ECS34, ECS37, ECS57, ECS39a, ECS39b, ECS25a, ECS25a1, ECS25b,
/// ECS29e, DBCH04, DBCH05, ECS62 and ECS50. Use cases with no RTDS vector (the gas
/// GCS07, GCS11, GCS20, GCS20r, GCS21d/k, GCS36, GCS41 and CS01b, the polyphase ECS29b/d,
/// the ESME's ECS15a/c) are refused rather than guessed.
///
/// Three values are DCC's, not the request's, and come in the builder's input: the CIN DCC
/// made for a 9.1 request (`customerIdentificationNumber`), the requester's roles for
/// 6.2.10 (`roles`), and whether the meter has GBCS's "all periodicities" billing calendar
/// for 6.2.3 (`allPeriodicitiesBillingCalendar`, from DCC's inventory).
extension GBCSCommandBuilder {
    static let valueCommandBuilders: [SRV: CriticalCommandBuilder.Build] = [
        "2.2": { input throws(TransformError) in try valueTopUp(input) },
        "3.1": { input throws(TransformError) in try valueDisplayMessage(input) },
        "3.2": { input throws(TransformError) in try valueChangeOfTenancy(input) },
        "3.3": { input throws(TransformError) in try valueClearEventLog(input) },
        "3.4": { input throws(TransformError) in try valueSupplierName(input) },
        "3.5": { input throws(TransformError) in try valueDisablePrivacyPIN(input) },
        "6.2.3": { input throws(TransformError) in try valueReadBillingCalendar(input) },
        "6.2.4": { input throws(TransformError) in try valueReadIdentity(input) },
        "6.2.10": { input throws(TransformError) in try valueReadAlertBehaviours(input) },
        "6.4.2": { input throws(TransformError) in try valueLoadLimitCounterReset(input) },
        "6.5": { input throws(TransformError) in try valueVoltage(input) },
        "6.12": { input throws(TransformError) in try valuePowerThresholds(input) },
        "6.18.1": { input throws(TransformError) in try valueMaximumDemandPeriod(input) },
        "6.18.2": { input throws(TransformError) in try valueMaximumDemandReset(input) },
        "6.20.1": { input throws(TransformError) in try valueImportMPAN(input) },
        "6.20.2": { input throws(TransformError) in try valueExportMPAN(input) },
        "6.22": { input throws(TransformError) in try valueAlertBehaviour(input) },
        "6.27": { input throws(TransformError) in try valueVoltageCounterReset(input) },
        "6.28": { input throws(TransformError) in try valueSubGHzConfiguration(input) },
        "6.29": { input throws(TransformError) in try valueSubGHzChannelScan(input) },
        "7.9": { input throws(TransformError) in try valueBoostButton(input, add: true) },
        "7.10": { input throws(TransformError) in try valueBoostButton(input, add: false) },
        "9.1": { input throws(TransformError) in try valueCustomerIdentificationNumber(input) },
    ]

    // MARK: 2.2 CS01a

    /// CS01a, Apply Prepayment Top Up to an ESME (0x0007): the token's twenty digits, as
    /// ASCII, to the meter's token gateway 0-0:19.40.0.255 (class 115), method 1 (enter).
    /// The UTRN carries the supplier's own protection (GBCS 14.3); DCC passes it as given,
    /// and the RequestID counter is the UTRN counter. The GSME's CS01b is not built.
    private static func valueTopUp(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "2.2 top up (CS01a)", other: "the GSME's CS01b is not built")
        let utrn = try valueDigits(input.body, "UTRN", count: 20)
        return ValueBuilt(useCase: "CS01a", messageCode: 0x0007,
                          content: try valueDLMS(input, [.action(get(115, "0-0:19.40.0.255", 1))], [.octetString(utrn)]))
    }

    // MARK: 3.1 ECS10

    /// ECS10, Send Message to ESME (0x0021): the supplier's message for the consumer, as
    /// ASCII text, into the meter's message object 0-2:96.13.1.255 (class 1, value). The
    /// text is taken as sent (not trimmed): 1 to 116 printable ASCII characters.
    private static func valueDisplayMessage(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "3.1 display message (ECS10)", other: "the GSME's GCS07 is not built")
        let message = try valueASCII(input.body, "SupplierMessage", 1...116)
        return ValueBuilt(useCase: "ECS10", messageCode: 0x0021,
                          content: try valueDLMS(input, [.set(get(1, "0-2:96.13.1.255", 2))], [.octetString(message)]))
    }

    // MARK: 3.2 ECS12 / GCS09

    /// ECS12, Set Change of Tenancy date on ESME (0x0022): the date from which the meter
    /// withholds earlier data from the consumer's devices, 0-0:94.44.3.2 (class 1, value),
    /// a COSEM date-time to the second in UTC.
    ///
    /// GCS09, Set Change of Tenancy date on GPF (0x0072): the gas proxy on the comms hub
    /// holds the gas logs, so the date goes to the GPF as the Device Management cluster's
    /// (0x0708) PublishChangeOfTenancy (0x00, published to the client, frame control 0x09):
    /// provider ID 0, the issuer event ID, tariff type 0, the implementation date-time
    /// (ZigBee UTCTime) and the proposed tenancy change control 0x00000200, GBCS's
    /// constants as the RTDS vector has them.
    private static func valueChangeOfTenancy(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        switch input.deviceType {
        case .esme:
            let date = try CriticalCommandBuilder.auxiliaryDateTime(input.body, "RestrictionDateTime")
            return ValueBuilt(useCase: "ECS12", messageCode: 0x0022,
                              content: try valueDLMS(input, [.set(get(1, "0-0:94.44.3.2", 2))], [.octetString(date)]))
        case .gpf:
            let time = try valueUTCTime(input.body, "RestrictionDateTime")
            var payload = CriticalCommandBuilder.configurationLE(UInt32(0))
            payload += CriticalCommandBuilder.configurationLE(CriticalCommandBuilder.configurationIssuerEventID)
            payload.append(0x00)
            payload += CriticalCommandBuilder.configurationLE(time)
            payload += CriticalCommandBuilder.configurationLE(UInt32(0x0000_0200))
            return ValueBuilt(useCase: "GCS09", messageCode: 0x0072, content: valueGBZ([(0x0708, 0x09, 0x00, payload)]))
        default:
            throw TransformError(unsupported: "3.2 sets the change of tenancy date on an ESME (ECS12) or, for gas, on the GPF (GCS09), not on a \(input.deviceType.rawValue)")
        }
    }

    // MARK: 3.3 CS11

    /// CS11, Clear ZigBee Device Event Log (0x0015): the Events cluster's (0x0709)
    /// ClearEventLogRequest (0x01) for log ID 3, the general event log (the security log
    /// cannot be cleared remotely). For the ZigBee devices: GSME, GPF, PPMID, HCALCS. The
    /// ESME's own logs (`ESMEEventLogType`: ECS15a, ECS15c) are not built.
    private static func valueClearEventLog(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        if input.deviceType == .esme {
            throw TransformError(unsupported: "3.3 for an ESME's event or ALCS log (ECS15a, ECS15c) is not built; CS11 clears a ZigBee device's event log")
        }
        if input.body.child("ESMEEventLogType") != nil {
            throw TransformError("ESMEEventLogType names an ESME's log, not a \(input.deviceType.rawValue)'s")
        }
        try valueRequire(input, [.gsme, .gpf, .ppmid, .hcalcs], "3.3 clear event log (CS11)")
        return ValueBuilt(useCase: "CS11", messageCode: 0x0015, content: valueGBZ([(0x0709, 0x01, 0x01, [0x03])]))
    }

    // MARK: 3.4 ECS16 / GCS44

    /// ECS16, Write Supplier Contact Details on ESME (0x0025): the telephone number into
    /// 0-0:96.13.0.255 and then the name into 0-0:96.13.1.255 (class 9000, value), ASCII
    /// octet-strings in that order.
    ///
    /// GCS44, Write Contact Details on GSME (0x0088): the Device Management cluster's
    /// PublishChangeOfSupplier (0x01, frame control 0x09): current provider ID 0, issuer
    /// event ID, tariff type 0, proposed provider ID 0, implementation time 0 ("now"),
    /// provider change control 0x00001800 (GBCS's constants as in the RTDS), then the
    /// name and the contact details as ZCL octet strings (a length octet, then the text).
    private static func valueSupplierName(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        let name = try valueASCII(input.body, "SupplierName", 1...15)
        let telephone = try valueASCII(input.body, "SupplierTelephoneNumber", 1...18)
        switch input.deviceType {
        case .esme:
            return ValueBuilt(useCase: "ECS16", messageCode: 0x0025,
                              content: try valueDLMS(input, [.set(get(9000, "0-0:96.13.0.255", 2)), .set(get(9000, "0-0:96.13.1.255", 2))],
                                                     [.octetString(telephone), .octetString(name)]))
        case .gsme:
            var payload = CriticalCommandBuilder.configurationLE(UInt32(0))
            payload += CriticalCommandBuilder.configurationLE(CriticalCommandBuilder.configurationIssuerEventID)
            payload.append(0x00)
            payload += CriticalCommandBuilder.configurationLE(UInt32(0))
            payload += CriticalCommandBuilder.configurationLE(UInt32(0))
            payload += CriticalCommandBuilder.configurationLE(UInt32(0x0000_1800))
            payload.append(UInt8(truncatingIfNeeded: name.count))
            payload += name
            payload.append(UInt8(truncatingIfNeeded: telephone.count))
            payload += telephone
            return ValueBuilt(useCase: "GCS44", messageCode: 0x0088, content: valueGBZ([(0x0708, 0x09, 0x01, payload)]))
        default:
            throw TransformError(unsupported: "3.4 writes the supplier's contact details on an ESME (ECS16) or a GSME (GCS44), not on a \(input.deviceType.rawValue)")
        }
    }

    // MARK: 3.5 ECS14

    /// ECS14, Disable Privacy PIN Protection on ESME (0x0023): the privacy PIN
    /// 0-0:94.44.3.1 (class 1, value) set to an empty octet-string, which turns the PIN
    /// off. The GSME's GCS11 is not built.
    private static func valueDisablePrivacyPIN(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "3.5 disable privacy PIN (ECS14)", other: "the GSME's GCS11 is not built")
        return ValueBuilt(useCase: "ECS14", messageCode: 0x0023,
                          content: try valueDLMS(input, [.set(get(1, "0-0:94.44.3.1", 2))], [.octetString([])]))
    }

    // MARK: 6.2.3 ECS26d / ECS26l

    /// ECS26d (0x003E) or ECS26l (0x00D9), the ESME's billing calendar: both read the
    /// billing snapshot schedule's execution_time (0-0:15.0.0.255, class 22, attribute 4)
    /// and differ only in the message code. ECS26l is GBCS's "all periodicities" use case
    /// for meters whose calendar can be quarterly, six-monthly or yearly; DCC picks it by
    /// the meter's GBCS version, which the request does not carry: the hub says so in the
    /// input, else ECS26d (the template's). The gas
    /// GCS21d/GCS21k are not built.
    private static func valueReadBillingCalendar(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.2.3 billing calendar read", other: "the GSME's GCS21d/GCS21k are not built")
        let allPeriodicities = input.allPeriodicitiesBillingCalendar
        let content = try valueDLMS(input, [.get(get(22, "0-0:15.0.0.255", 4))], [.null])
        return allPeriodicities ? ValueBuilt(useCase: "ECS26l", messageCode: 0x00D9, content: content)
            : ValueBuilt(useCase: "ECS26d", messageCode: 0x003E, content: content)
    }

    // MARK: 6.2.4 ECS26e / ECS26i / GCS21e

    /// The device's identity, by its type. ESME: ECS26e (0x003F), the fixed read of the
    /// table above. CHF: ECS26i (0x0092), the comms hub's manufacturer, model and
    /// firmware identifiers (0-0:96.1.1/96.1.4/96.1.6.255, class 1, value); the CHF
    /// answers only DCC's access control broker, which sends it on the user's behalf.
    /// GSME or GPF: GCS21e (0x009E), Read Attributes of the Basic cluster (0x0000:
    /// manufacturer name 0x0004, model identifier 0x0005, hardware version 0x0003) and of
    /// the Metering cluster (0x0702: 0x0608, 0x0607, the supply states).
    private static func valueReadIdentity(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        switch input.deviceType {
        case .esme:
            guard let read = fixedReads["6.2.4"] else { throw TransformError("6.2.4 has no ESME read") }
            return ValueBuilt(useCase: read.useCase, messageCode: read.messageCode,
                              content: try valueDLMS(input, read.gets.map { DLMSAPDU.RequestSpecification.get($0) },
                                                     [DLMSData](repeating: .null, count: read.gets.count)))
        case .chf:
            let objects = ["0-0:96.1.1.255", "0-0:96.1.4.255", "0-0:96.1.6.255"]
            return ValueBuilt(useCase: "ECS26i", messageCode: 0x0092,
                              content: try valueDLMS(input, objects.map { DLMSAPDU.RequestSpecification.get(get(1, $0, 2)) },
                                                     [DLMSData](repeating: .null, count: objects.count), viaBroker: true),
                              sentByBroker: true)
        case .gsme, .gpf:
            return ValueBuilt(useCase: "GCS21e", messageCode: 0x009E,
                              content: valueGBZ([(0x0000, 0x00, 0x00, valueAttributes([0x0004, 0x0005, 0x0003])),
                                                 (0x0702, 0x00, 0x00, valueAttributes([0x0608, 0x0607]))]))
        default:
            throw TransformError(unsupported: "6.2.4 reads the identity of an ESME, CHF, GSME or GPF, not of a \(input.deviceType.rawValue)")
        }
    }

    // MARK: 6.2.10 ECS25r1 / ECS25r2

    /// The ESME's non-critical event and alert behaviours, the requester's part of them.
    /// A supplier: ECS25r1 (0x00EE), the four read objects 0-30:97.98.15 to 18.255 (WAN
    /// alerts, HAN alerts, audible alarms, logging). A network operator: ECS25r2 (0x00EF),
    /// 0-33:97.98.15.255 and 18.255 (WAN alerts, logging). The body is empty, so the role
    /// comes from the hub (`Input.roles`); a supplier role wins, and without one the
    /// supplier's use case is built (the template's; a meter refuses it from a network
    /// operator). The GSME's GCS20r is not built.
    private static func valueReadAlertBehaviours(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.2.10 event and alert behaviours read", other: "the GSME's GCS20r is not built")
        let roles = input.roles
        let supplier = roles.isEmpty || roles.contains(.is) || roles.contains(.gs)
        if supplier {
            let objects = ["0-30:97.98.15.255", "0-30:97.98.16.255", "0-30:97.98.17.255", "0-30:97.98.18.255"]
            return ValueBuilt(useCase: "ECS25r1", messageCode: 0x00EE,
                              content: try valueDLMS(input, objects.map { DLMSAPDU.RequestSpecification.get(get(1, $0, 2)) },
                                                     [DLMSData](repeating: .null, count: objects.count)))
        }
        guard roles.contains(.ed) else {
            throw TransformError("6.2.10 is for an import or gas supplier (IS, GS) or an electricity distributor (ED), not \(roles.codes)")
        }
        let objects = ["0-33:97.98.15.255", "0-33:97.98.18.255"]
        return ValueBuilt(useCase: "ECS25r2", messageCode: 0x00EF,
                          content: try valueDLMS(input, objects.map { DLMSAPDU.RequestSpecification.get(get(1, $0, 2)) },
                                                 [DLMSData](repeating: .null, count: objects.count)))
    }

    // MARK: 6.4.2 ECS28b

    /// ECS28b, Set Load Limit Configuration Counter Reset (0x0044): reset (method 1,
    /// integer 0) of the load limit counter 0-0:94.44.42.255 (class 3).
    private static func valueLoadLimitCounterReset(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.4.2 load limit counter reset (ECS28b)")
        return ValueBuilt(useCase: "ECS28b", messageCode: 0x0044,
                          content: try valueDLMS(input, [.action(get(3, "0-0:94.44.42.255", 1))], [.integer(0)]))
    }

    // MARK: 6.5 ECS29a / ECS29c

    /// The single-phase ESME's voltage settings, all double-long-unsigned (volts,
    /// seconds): the average RMS voltage profile's capture period (1-0:32.24.0.255,
    /// class 7, attribute 4); the four RMS voltage monitors (class 71, 0-0:17.0.1 extreme
    /// over, 17.0.2 extreme under, 17.0.3 sag, 17.0.4 swell), each its threshold
    /// (attribute 4) and time threshold (attribute 6); the average RMS over- and
    /// under-voltage thresholds (1-0:32.35.0.4 and 32.31.0.4, class 1).
    ///
    /// ECS29a (0x0045) sets them in that order and then resets the over- and
    /// under-voltage counters (1-0:32.32.0.4 and 32.36.0.4, class 3, method 1).
    /// `RMSVoltageCountersNotReset` asks for ECS29c (0x00D1): no resets, and GBCS's order
    /// puts the two average thresholds (under, then over) and the capture period first.
    /// The polyphase ECS29b/ECS29d are not built.
    private static func valueVoltage(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.5 voltage configuration")
        let body = input.body
        if body.child("PolyPhaseVoltageSettings") != nil {
            // Refused rather than run without its GBCS: the meter would act on settings no
            // command carried (gbsm's meters are single phase).
            throw TransformError("6.5 for a polyphase ESME (ECS29b, ECS29d) is not built: send SinglePhaseVoltageSettings")
        }
        guard let rms = body.child("RMSVoltageSettings") else { throw TransformError("\(body.name) has no RMSVoltageSettings") }
        guard let average = body.child("SinglePhaseVoltageSettings") else { throw TransformError("\(body.name) has no SinglePhaseVoltageSettings") }
        let monitors: [(obis: String, threshold: String, period: String)] = [
            ("0-0:17.0.1.255", "RMSExtremeOverVoltageThreshold", "RMSExtremeOverVoltageMeasurementPeriod"),
            ("0-0:17.0.2.255", "RMSExtremeUnderVoltageThreshold", "RMSExtremeUnderVoltageMeasurementPeriod"),
            ("0-0:17.0.3.255", "RMSVoltageSagThreshold", "RMSVoltageSagMeasurementPeriod"),
            ("0-0:17.0.4.255", "RMSVoltageSwellThreshold", "RMSVoltageSwellMeasurementPeriod"),
        ]
        var monitorSpecs: [DLMSAPDU.RequestSpecification] = []
        var monitorData: [DLMSData] = []
        for monitor in monitors {
            let threshold = try CriticalCommandBuilder.integer(rms, monitor.threshold, as: UInt32.self)
            let time = try CriticalCommandBuilder.integer(rms, monitor.period, as: UInt32.self)
            monitorSpecs += [.set(get(71, monitor.obis, 4)), .set(get(71, monitor.obis, 6))]
            monitorData += [.doubleLongUnsigned(threshold), .doubleLongUnsigned(time)]
        }
        let over = try CriticalCommandBuilder.integer(average, "AverageRMSOverVoltageThreshold", as: UInt32.self)
        let under = try CriticalCommandBuilder.integer(average, "AverageRMSUnderVoltageThreshold", as: UInt32.self)
        let period = try CriticalCommandBuilder.integer(average, "AverageRMSVoltageMeasurementPeriod", as: UInt32.self)
        let capture = DLMSAPDU.RequestSpecification.set(get(7, "1-0:32.24.0.255", 4))
        let setOver = DLMSAPDU.RequestSpecification.set(get(1, "1-0:32.35.0.4", 2))
        let setUnder = DLMSAPDU.RequestSpecification.set(get(1, "1-0:32.31.0.4", 2))
        if body.child("RMSVoltageCountersNotReset") != nil {
            return ValueBuilt(useCase: "ECS29c", messageCode: 0x00D1,
                              content: try valueDLMS(input, [setUnder, setOver, capture] + monitorSpecs,
                                                     [.doubleLongUnsigned(under), .doubleLongUnsigned(over), .doubleLongUnsigned(period)] + monitorData))
        }
        let resets: [DLMSAPDU.RequestSpecification] = [.action(get(3, "1-0:32.32.0.4", 1)), .action(get(3, "1-0:32.36.0.4", 1))]
        return ValueBuilt(useCase: "ECS29a", messageCode: 0x0045,
                          content: try valueDLMS(input, [capture] + monitorSpecs + [setOver, setUnder] + resets,
                                                 [.doubleLongUnsigned(period)] + monitorData
                                                     + [.doubleLongUnsigned(over), .doubleLongUnsigned(under), .integer(0), .integer(0)]))
    }

    // MARK: 6.12 ECS34

    /// ECS34, Set Instantaneous Power Threshold Configuration (0x0047): the register
    /// monitor 0-0:16.0.0.255 (class 21) thresholds, an array of the low/medium and the
    /// medium/high thresholds (W, double-long-unsigned), which colour the IHD's display.
    private static func valuePowerThresholds(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.12 power thresholds (ECS34)")
        let low = try CriticalCommandBuilder.integer(input.body, "LowMediumPowerThreshold", as: UInt32.self)
        let high = try CriticalCommandBuilder.integer(input.body, "MediumHighPowerThreshold", as: UInt32.self)
        return ValueBuilt(useCase: "ECS34", messageCode: 0x0047,
                          content: try valueDLMS(input, [.set(get(21, "0-0:16.0.0.255", 2))],
                                                 [.array([.doubleLongUnsigned(low), .doubleLongUnsigned(high)])]))
    }

    // MARK: 6.18.1 ECS37

    /// ECS37, Set Maximum Demand Configurable Time Period (0x004A): the single action
    /// schedule 0-0:12.0.0.255 (class 10) entries, attribute 2. Two entries running the
    /// maximum demand script table 0-0:10.128.100.255: index 0 selector 1 (start) at
    /// StartTime, index 1 selector 2 (end) at EndTime, each enabled, every day of the week
    /// (bits7 0xFE), no special days, validity window 0xFFFF, begin date 0000-01 any day
    /// and end date any: GBCS's constants as the RTDS has them. Times are UTC hh mm ss
    /// with hundredths 00 (a fraction is dropped).
    private static func valueMaximumDemandPeriod(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.18.1 maximum demand period (ECS37)")
        guard let schedule = input.body.child("MaximumDemandTimePeriodSchedule") else {
            throw TransformError("\(input.body.name) has no MaximumDemandTimePeriodSchedule")
        }
        func time(_ name: String) throws(TransformError) -> [UInt8] {
            guard let text = schedule.value(name) else { throw TransformError("MaximumDemandTimePeriodSchedule has no \(name)") }
            guard let parsed = TimeOfDay(xsTime: text) else { throw TransformError("\(name) \(untrusted(text, limit: 40)) is not an xs:time") }
            return [UInt8(truncatingIfNeeded: parsed.hour), UInt8(truncatingIfNeeded: parsed.minute), UInt8(truncatingIfNeeded: parsed.second), 0x00]
        }
        let script = obis("0-0:10.128.100.255")
        func entry(_ index: UInt16, _ selector: UInt16, _ at: [UInt8]) -> DLMSData {
            .structure([
                .longUnsigned(index), .boolean(0xFF), .octetString(script), .longUnsigned(selector), .octetString(at), .longUnsigned(0xFFFF),
                .bitString(.init(bitCount: 7, octets: [0xFE])), .bitString(.init(bitCount: 0, octets: [])),
                .octetString([0x00, 0x00, 0x01, 0xFF, 0xFF]), .octetString([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            ])
        }
        let start = try time("StartTime")
        let end = try time("EndTime")
        return ValueBuilt(useCase: "ECS37", messageCode: 0x004A,
                          content: try valueDLMS(input, [.set(get(10, "0-0:12.0.0.255", 2))], [.array([entry(0, 1, start), entry(1, 2, end)])]))
    }

    // MARK: 6.18.2 ECS57

    /// ECS57, Reset ESME Maximum Demand Registers (0x005A): reset (method 1, integer 0)
    /// of each extended register named, in GBCS's order: active power import 1-0:1.6.0.255,
    /// the configurable-time import 1-0:1.6.1.255, export 1-0:2.6.0.255 (class 4). A body
    /// naming none is refused (nothing to reset).
    private static func valueMaximumDemandReset(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.18.2 maximum demand reset (ECS57)")
        let registers = [("MaxDemandActivePowerImportValue", "1-0:1.6.0.255"), ("MaxDemandConfigTimeActivePowerImportValue", "1-0:1.6.1.255"),
                         ("MaxDemandActivePowerExportValue", "1-0:2.6.0.255")]
        let named = registers.filter { input.body.child($0.0) != nil }
        guard !named.isEmpty else {
            throw TransformError("ResetMaximumDemandRegisters names no register (MaxDemandActivePowerImportValue, MaxDemandConfigTimeActivePowerImportValue, MaxDemandActivePowerExportValue)")
        }
        return ValueBuilt(useCase: "ECS57", messageCode: 0x005A,
                          content: try valueDLMS(input, named.map { DLMSAPDU.RequestSpecification.action(get(4, $0.1, 1)) },
                                                 [DLMSData](repeating: .integer(0), count: named.count)))
    }

    // MARK: 6.20.1 ECS39a

    /// ECS39a, Set MPAN Value on the ESME (0x004C): the import MPAN 0-0:94.44.34.11
    /// (class 1, value) as ASCII, 13 octets, or 26 for a twin element meter (the primary
    /// then the secondary MPAN). The body says which. The GSME's MPRN (GCS41) is not built.
    private static func valueImportMPAN(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        if input.deviceType == .gsme {
            throw TransformError(unsupported: "6.20.1 for a GSME's MPRN (GCS41) is not built")
        }
        if input.body.child("ImportMPRN") != nil {
            throw TransformError("ImportMPRN is a gas meter's, not a \(input.deviceType.rawValue)'s")
        }
        try valueRequire(input, [.esme], "6.20.1 import MPAN (ECS39a)")
        guard let mpans = input.body.child("ImportMPANs") else { throw TransformError("\(input.body.name) has no ImportMPANs") }
        var value = try valueDigits(mpans, "ImportMPAN", count: 13)
        if mpans.child("SecondaryImportMPAN") != nil { value += try valueDigits(mpans, "SecondaryImportMPAN", count: 13) }
        return ValueBuilt(useCase: "ECS39a", messageCode: 0x004C,
                          content: try valueDLMS(input, [.set(get(1, "0-0:94.44.34.11", 2))], [.octetString(value)]))
    }

    // MARK: 6.20.2 ECS39b

    /// ECS39b, Set Export MPAN Value on the ESME (0x004D): the export MPAN 1-0:0.0.2.255
    /// (class 1, value), 13 ASCII octets. The export supplier is unknown to the meter, so
    /// DCC's access control broker sends it on the user's behalf.
    private static func valueExportMPAN(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.20.2 export MPAN (ECS39b)")
        let mpan = try valueDigits(input.body, "ExportMPAN", count: 13)
        return ValueBuilt(useCase: "ECS39b", messageCode: 0x004D,
                          content: try valueDLMS(input, [.set(get(1, "1-0:0.0.2.255", 2))], [.octetString(mpan)], viaBroker: true),
                          sentByBroker: true)
    }

    // MARK: 6.22 ECS25a / a1 / a2 / a3 / b / b3

    /// Configure Alert Behaviour on the ESME: the body's one choice element picks the
    /// settings object, each written (class 1, value) with a bit-string(512) = a 256-bit
    /// mask (which alerts change) ‖ 256 bits of actions (1 on, 0 off), both numbered
    /// LSB = 0, bit n standing for alert code 0x81‖n (supplier objects 0-30:…) or 0x80‖n
    /// (network operator objects 0-33:…), per GBCS's use case tables. Element x810D
    /// Enable sets bit 0x0D in both halves; Disable in the mask only.
    ///
    /// ElectricitySupplierAlerts ECS25a (0x00AC, 0-30:97.98.11.255, WAN alerts);
    /// …HANAlertSettings ECS25a1 (0x00EA, 12.255); …AlarmSettings ECS25a2 (0x00EB, 13.255);
    /// …LoggingSettings ECS25a3 (0x00EC, 14.255); ElectricityNetworkOperatorAlerts ECS25b
    /// (0x00B0, 0-33:97.98.11.255); …LoggingSettings ECS25b3 (0x00ED, 0-33:97.98.14.255).
    /// The gas settings (GCS20) are not built.
    private static func valueAlertBehaviour(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        let kinds: [(element: String, useCase: String, code: UInt16, object: String, prefix: UInt16, groups: [String])] = [
            ("ElectricitySupplierAlerts", "ECS25a", 0x00AC, "0-30:97.98.11.255", 0x81, ["SupplierESMECommon", "SupplierESMEPolyPhase"]),
            ("ElectricitySupplierHANAlertSettings", "ECS25a1", 0x00EA, "0-30:97.98.12.255", 0x81, ["SupplierESMECommon", "SupplierESMEPolyPhase"]),
            ("ElectricitySupplierAlarmSettings", "ECS25a2", 0x00EB, "0-30:97.98.13.255", 0x81, ["SupplierESMECommon", "SupplierESMEPolyPhase"]),
            ("ElectricitySupplierLoggingSettings", "ECS25a3", 0x00EC, "0-30:97.98.14.255", 0x81, ["SupplierESMECommon", "SupplierESMEPolyPhase"]),
            ("ElectricityNetworkOperatorAlerts", "ECS25b", 0x00B0, "0-33:97.98.11.255", 0x80,
             ["NetworkOperatorESMECommon", "NetworkOperatorESMESinglePhase", "NetworkOperatorESMEPolyPhase"]),
            ("ElectricityNetworkOperatorLoggingSettings", "ECS25b3", 0x00ED, "0-33:97.98.14.255", 0x80,
             ["NetworkOperatorESMECommon", "NetworkOperatorESMESinglePhase", "NetworkOperatorESMEPolyPhase"]),
        ]
        if input.deviceType == .gsme {
            throw TransformError(unsupported: "6.22 for a GSME (GCS20) is not built")
        }
        if input.body.child("GasSupplierAlerts") != nil || input.body.child("GasSupplierAlertEventSettings") != nil {
            throw TransformError("gas supplier alert settings are a gas meter's, not a \(input.deviceType.rawValue)'s")
        }
        try valueRequire(input, [.esme], "6.22 alert behaviour")
        guard input.body.children.count == 1, let settings = input.body.children.first,
              let kind = kinds.first(where: { $0.element == settings.name }) else {
            throw TransformError("ConfigureAlertBehaviour needs exactly one of \(kinds.map { $0.element }.joined(separator: ", "))")
        }
        var mask = [UInt8](repeating: 0, count: 32)
        var actions = [UInt8](repeating: 0, count: 32)
        for group in settings.children {
            guard kind.groups.contains(group.name) else {
                throw TransformError("\(settings.name) holds \(untrusted(group.name, limit: 40)), not one of \(kind.groups.joined(separator: ", "))")
            }
            for alert in group.children {
                let hex = alert.name.utf8.dropFirst()
                guard alert.name.hasPrefix("x"), hex.count == 4, let code = UInt16(String(alert.name.dropFirst()), radix: 16), code >> 8 == kind.prefix else {
                    throw TransformError("\(untrusted(alert.name, limit: 40)) is not an alert code x\(String(kind.prefix, radix: 16, uppercase: true))nn that \(kind.useCase) configures")
                }
                let bit = Int(code & 0xFF)
                let octet = 31 - bit / 8
                let flag = UInt8(1) << UInt8(bit % 8)
                guard mask[octet] & flag == 0 else { throw TransformError("\(alert.name) appears twice in \(settings.name)") }
                let value = valueTrimmed(alert.text)
                switch value {
                case "Enable": actions[octet] |= flag
                case "Disable": break
                default: throw TransformError("\(alert.name) \(untrusted(value, limit: 16)) is neither Enable nor Disable")
                }
                mask[octet] |= flag
            }
        }
        return ValueBuilt(useCase: kind.useCase, messageCode: kind.code,
                          content: try valueDLMS(input, [.set(get(1, kind.object, 2))], [.bitString(.init(bitCount: 512, octets: mask + actions))]))
    }

    // MARK: 6.27 ECS29e

    /// ECS29e, Reset RMS Voltage Counters on ESME (0x00D3): reset (method 1, integer 0)
    /// of the average RMS over- and under-voltage counters 1-0:32.32.0.4 and 32.36.0.4
    /// (class 3). The builder cannot tell a polyphase meter (ECS29f) from the device type:
    /// it builds the single-phase use case.
    private static func valueVoltageCounterReset(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "6.27 RMS voltage counter reset (ECS29e)")
        return ValueBuilt(useCase: "ECS29e", messageCode: 0x00D3,
                          content: try valueDLMS(input, [.action(get(3, "1-0:32.32.0.4", 1)), .action(get(3, "1-0:32.36.0.4", 1))], [.integer(0), .integer(0)]))
    }

    // MARK: 6.28 DBCH04

    /// DBCH04, Set CHF Sub GHz Configuration (0x010D): 0-0:94.44.10.0 (class 1, value), a
    /// structure of 15 in the body's order. The four channel masks are bit-string(32) in
    /// IEEE 802.15.4's channel page form: the page in the top 5 bits (28 lower band 0-26,
    /// 29 lower band 27-34, 30 lower band 35-61, 31 upper band 0-26) and bit k set for the
    /// band's first channel + k. The duty cycle thresholds and percentages are carried in
    /// hundredths (1.3 → 130, 60.00 → 6000, long-unsigned); the counts and periods as
    /// unsigned or long-unsigned, as the RTDS shows. The CHF answers only DCC's access
    /// control broker, which sends it on the user's behalf.
    private static func valueSubGHzConfiguration(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.chf], "6.28 Sub GHz configuration (DBCH04)")
        let body = input.body
        let bands: [(name: String, page: UInt32, channels: ClosedRange<Int>)] = [
            ("LowerBandSubGHzChannels0To26", 28, 0...26), ("LowerBandSubGHzChannels27To34", 29, 27...34),
            ("LowerBandSubGHzChannels35To61", 30, 35...61), ("UpperBandSubGHzChannels0To26", 31, 0...26),
        ]
        var values: [DLMSData] = []
        for band in bands {
            guard let element = body.child(band.name) else { throw TransformError("\(body.name) has no \(band.name)") }
            var mask = band.page << 27
            for channel in element.children {
                guard channel.name.hasPrefix("Channel"), channel.name.utf8.count <= 9, let number = Int(channel.name.dropFirst(7)),
                      band.channels.contains(number) else {
                    throw TransformError("\(band.name) holds \(untrusted(channel.name, limit: 40)), not a channel \(band.channels.lowerBound) to \(band.channels.upperBound)")
                }
                mask |= UInt32(1) << UInt32(number - band.channels.lowerBound)
            }
            values.append(.bitString(.init(bitCount: 32, octets: [UInt8(truncatingIfNeeded: mask >> 24), UInt8(truncatingIfNeeded: mask >> 16),
                                                                   UInt8(truncatingIfNeeded: mask >> 8), UInt8(truncatingIfNeeded: mask)])))
        }
        func hundredths(_ name: String) throws(TransformError) -> DLMSData {
            let value = try CriticalCommandBuilder.configurationDecimal(body, name, fractionDigits: 2)
            guard let narrow = UInt16(exactly: value) else { throw TransformError("\(name) is more than 655.35 (hundredths in a long-unsigned)") }
            return .longUnsigned(narrow)
        }
        func short(_ name: String) throws(TransformError) -> DLMSData { .longUnsigned(try CriticalCommandBuilder.integer(body, name, as: UInt16.self)) }
        func byte(_ name: String) throws(TransformError) -> DLMSData { .unsigned(try CriticalCommandBuilder.integer(body, name, as: UInt8.self)) }
        let settings: [DLMSData] = try [
            hundredths("NormalLimitedDutyCycleThreshold"), hundredths("LimitedCriticalDutyCycleThreshold"),
            byte("MaximumSubGHzChannelChangesPerWeek"), short("GSMECurfew"), byte("ChannelQuieterThreshold"),
            byte("ChannelNoisierThreshold"), hundredths("NonGSMEPoorCommsPercentageThreshold"), byte("NonGSMEPoorCommsMeasurementPeriods"),
            short("LocalCHNoiseMeasurementPeriod"), hundredths("LocalCHFailurePercentage"), hundredths("LocalCHRetryPercentage"),
        ]
        values += settings
        return ValueBuilt(useCase: "DBCH04", messageCode: 0x010D,
                          content: try valueDLMS(input, [.set(get(1, "0-0:94.44.10.0", 2))], [.structure(values)], viaBroker: true),
                          sentByBroker: true)
    }

    // MARK: 6.29 DBCH05

    /// DBCH05, Request CHF Sub GHz Channel Scan (0x010E): 0-0:94.44.10.1 (class 1, value)
    /// set to unsigned 0, which starts the scan. Sent by DCC's access control broker.
    private static func valueSubGHzChannelScan(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.chf], "6.29 Sub GHz channel scan (DBCH05)")
        return ValueBuilt(useCase: "DBCH05", messageCode: 0x010E,
                          content: try valueDLMS(input, [.set(get(1, "0-0:94.44.10.1", 2))], [.unsigned(0)], viaBroker: true),
                          sentByBroker: true)
    }

    // MARK: 7.9 / 7.10 ECS62

    /// ECS62, Set ALCS/APC and Boost Function Association (0x005F), for adding (7.9) and
    /// removing (7.10) auxiliary loads to the boost button: for each load n (1 to 5)
    /// marked true, its association 0-0:94.44.6.n (class 1, value) set to TRUE (add) or
    /// FALSE (remove), in load order. A load marked false is left as it is (no SET); the
    /// RTDS shows only all five true. A body marking none is refused.
    private static func valueBoostButton(_ input: ValueInput, add: Bool) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "\(input.srv) boost button (ECS62)")
        let name = add ? "AddToBoostButton" : "RemoveFromBoostButton"
        var marked = [Bool?](repeating: nil, count: 5)
        for child in input.body.children where child.name == name {
            let text = valueTrimmed(child.attributes["index"] ?? "")
            guard let index = Int(text), (1...5).contains(index) else { throw TransformError("\(name) index \(untrusted(text, limit: 8)) is not 1 to 5") }
            guard marked[index - 1] == nil else { throw TransformError("\(name) index \(index) appears twice") }
            switch valueTrimmed(child.text) {
            case "true", "1": marked[index - 1] = true
            case "false", "0": marked[index - 1] = false
            default: throw TransformError("\(name) \(index) \(untrusted(child.text, limit: 16)) is not a boolean")
            }
        }
        let loads = (1...5).filter { marked[$0 - 1] == true }
        guard !loads.isEmpty else { throw TransformError("\(input.body.name) marks no auxiliary load true") }
        return ValueBuilt(useCase: "ECS62", messageCode: 0x005F,
                          content: try valueDLMS(input, loads.map { DLMSAPDU.RequestSpecification.set(get(1, "0-0:94.44.6.\($0)", 2)) },
                                                 [DLMSData](repeating: .boolean(add ? 0xFF : 0x00), count: loads.count)))
    }

    // MARK: 9.1 ECS50

    /// ECS50, Send CIN to ESME (0x0058): the customer identification number DCC made for
    /// this request, four ASCII digits, into 0-3:96.13.1.255 (class 1, value), which the
    /// meter shows to the consumer. The request is empty: DCC makes the CIN (`Input.customerIdentificationNumber`)
    /// and returns it in the response's CINMessage. The requester (another user) is unknown to the meter, so DCC's access
    /// control broker sends it. The GSME's GCS36 is not built.
    private static func valueCustomerIdentificationNumber(_ input: ValueInput) throws(TransformError) -> ValueBuilt {
        try valueRequire(input, [.esme], "9.1 customer identification number (ECS50)", other: "the GSME's GCS36 is not built")
        guard let text = input.customerIdentificationNumber else { throw TransformError("9.1 needs the CIN DCC made for it") }
        let cin = Array(text.utf8)
        guard cin.count == 4, cin.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw TransformError("the CIN \(untrusted(text, limit: 8)) is not four decimal digits")
        }
        return ValueBuilt(useCase: "ECS50", messageCode: 0x0058,
                          content: try valueDLMS(input, [.set(get(1, "0-3:96.13.1.255", 2))], [.octetString(cin)], viaBroker: true),
                          sentByBroker: true)
    }

    // MARK: Helpers

    /// A DLMS ACCESS-Request as content octets. The long invoke ID is 0x20 and the low 24
    /// bits of the frame's counter: the access control broker's own when it sends.
    private static func valueDLMS(_ input: ValueInput, _ specifications: [DLMSAPDU.RequestSpecification], _ data: [DLMSData],
                                  viaBroker: Bool = false) throws(TransformError) -> [UInt8] {
        var counter = input.counter
        if viaBroker {
            guard let broker = input.brokerCounter else {
                throw TransformError(unsupported: "\(input.srv) is sent by DCC's access control broker, and needs its counter")
            }
            counter = broker
        }
        let invokeID = 0x2000_0000 | UInt32(truncatingIfNeeded: counter & 0x00FF_FFFF)
        return GBCSPayload.dlms(.accessRequest(.init(invokeID: invokeID, specifications: specifications, data: data))).encode()
    }

    /// A GBZ payload of ZCL commands, one component each: control 0x00, the last 0x01;
    /// sequence numbers 0, 1, 2…
    private static func valueGBZ(_ commands: [(cluster: UInt16, frameControl: UInt8, command: UInt8, payload: [UInt8])]) -> [UInt8] {
        var components: [GBZComponent] = []
        for (index, item) in commands.enumerated() {
            components.append(GBZComponent(control: index == commands.count - 1 ? 0x01 : 0x00, cluster: item.cluster, frameControl: item.frameControl,
                                           sequenceNumber: UInt8(truncatingIfNeeded: index), command: item.command, payload: .plain(item.payload)))
        }
        return GBCSPayload.gbz(GBZPayload(componentCount: UInt8(truncatingIfNeeded: components.count), components: components)).encode()
    }

    /// A ZCL Read Attributes payload: the attribute IDs, little-endian.
    private static func valueAttributes(_ ids: [UInt16]) -> [UInt8] {
        var payload: [UInt8] = []
        for id in ids { payload += CriticalCommandBuilder.configurationLE(id) }
        return payload
    }

    /// Refuses a command to a device of another type than its use case's.
    private static func valueRequire(_ input: ValueInput, _ types: [DeviceType], _ what: String, other: String? = nil) throws(TransformError) {
        guard types.contains(input.deviceType) else {
            let allowed = types.map(\.rawValue).joined(separator: ", ")
            throw TransformError(unsupported: "\(what) is a command to the \(allowed), not to a \(input.deviceType.rawValue)" + (other.map { " (\($0))" } ?? ""))
        }
    }

    /// A simple element's text as sent, when it is printable ASCII of a length in range.
    private static func valueASCII(_ element: ElementTree, _ name: String, _ length: ClosedRange<Int>) throws(TransformError) -> [UInt8] {
        guard let child = element.child(name), child.children.isEmpty else { throw TransformError("\(element.name) has no \(name)") }
        let octets = Array(child.text.utf8)
        guard length.contains(octets.count), octets.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw TransformError("\(name) \(untrusted(child.text, limit: 40)) is not \(length.lowerBound) to \(length.upperBound) printable ASCII characters")
        }
        return octets
    }

    /// A simple element's value (trimmed) as ASCII, when it is exactly `count` digits.
    private static func valueDigits(_ element: ElementTree, _ name: String, count: Int) throws(TransformError) -> [UInt8] {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        let octets = Array(text.utf8)
        guard octets.count == count, octets.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw TransformError("\(name) \(untrusted(text, limit: 40)) is not \(count) decimal digits")
        }
        return octets
    }

    /// An xs:dateTime as ZigBee UTCTime: whole seconds since 2000-01-01T00:00:00Z, from
    /// 2000 up to 0xFFFFFFFE (0xFFFFFFFF means "invalid").
    private static func valueUTCTime(_ element: ElementTree, _ name: String) throws(TransformError) -> UInt32 {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        guard let time = Timestamp(xsDateTime: text) else { throw TransformError("\(name) \(untrusted(text, limit: 40)) is not an xs:dateTime") }
        let since2000 = time.milliseconds - Timestamp(year: 2000, month: 1, day: 1).milliseconds
        guard since2000 >= 0, let seconds = UInt32(exactly: since2000 / 1000), seconds < UInt32.max else {
            throw TransformError("\(name) \(untrusted(text, limit: 40)) is outside ZigBee UTCTime (2000 to 2136)")
        }
        return seconds
    }

    /// Text without leading and trailing whitespace.
    private static func valueTrimmed(_ text: String) -> String {
        var trimmed = Substring(text)
        while let first = trimmed.first, first.isWhitespace { trimmed.removeFirst() }
        while let last = trimmed.last, last.isWhitespace { trimmed.removeLast() }
        return String(trimmed)
    }
}
