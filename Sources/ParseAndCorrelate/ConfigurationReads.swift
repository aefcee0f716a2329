import GBCS
import MMC

/// The electricity meter's configuration and auxiliary load reads (DLMS COSEM), GBCS payload to MMC elements.
///
/// Each mapper reads the values of its use case's GET list in the order of the GBCS
/// use case table ("ordering of fields according to section 19.2.1"), which is the order
/// of the command's access-request list.
enum ConfigurationReads {
    static let table: [String: MMCMapping.Mapper] = [
        "ECS26b": voltage,
        "ECS26c": randomisation,
        "ECS26d": billingCalendar,
        "ECS26l": billingCalendar,
        "ECS26e": identity,
        "ECS26i": identity,
        "ECS26f": powerThresholds,
        "ECS26j": paymentMode,
        "ECS27": loadLimitData,
        "ECS61a": alcsData,
        "ECS61c": boostButtonDetails,
        "ECS25r1": supplierAlertBehaviours,
        "ECS25r2": networkOperatorAlertBehaviours,
    ]

    // MARK: - Checked readers

    /// A DLMS boolean.
    static func boolean(_ value: DLMSData, _ what: String) throws(MappingError) -> Bool {
        guard case .boolean(let octet) = value else { throw .shape("\(what) is \(value.tag), not a boolean") }
        return octet != 0
    }

    /// An integer that must be in `range` (an MMC unsignedInt, a count, a period).
    static func integer(_ value: DLMSData, _ what: String, in range: ClosedRange<Int64> = 0...Int64(UInt32.max)) throws(MappingError) -> Int64 {
        let number = try value.integer(what)
        guard range.contains(number) else { throw .shape("\(what) is \(number), outside \(range)") }
        return number
    }

    /// Octets that are printable ASCII text (GBCS's utf-8 identifiers), at most `limit` long.
    static func text(_ value: DLMSData, _ what: String, limit: Int) throws(MappingError) -> String {
        let octets = try value.octetString(what)
        guard octets.count <= limit else { throw .shape("\(what) has \(octets.count) characters (MMC holds \(limit))") }
        guard octets.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .shape("\(what) is not printable text") }
        return String(decoding: octets, as: UTF8.self)
    }

    /// An 8-octet entity identifier as DUIS writes it, `00-DB-12-…`.
    static func eui(_ value: DLMSData, _ what: String) throws(MappingError) -> String {
        let octets = try value.octetString(what)
        guard octets.count == 8 else { throw .shape("\(what) has \(octets.count) octets, not 8") }
        return octets.map { SecurityReads.hexString([$0]) }.joined(separator: "-")
    }

    /// A DLMS time (octet-string(4): hour, minute, second, hundredths; Blue Book 4.1.6.1)
    /// as an MMC time of day, `hh:mm:ss.ccZ` (UTC, as GBCS keeps time). Hundredths "not
    /// specified" (0xFF) are written as 00.
    static func timeOfDay(_ value: DLMSData, _ what: String) throws(MappingError) -> String {
        let octets = try value.octetString(what)
        guard octets.count == 4, octets[0] <= 23, octets[1] <= 59, octets[2] <= 59, octets[3] <= 99 || octets[3] == 0xFF else {
            throw .shape("\(what) is not a time of day")
        }
        func two(_ number: UInt8) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return "\(two(octets[0])):\(two(octets[1])):\(two(octets[2])).\(two(octets[3] == 0xFF ? 0 : octets[3]))Z"
    }

    // MARK: - Mappers

    /// ECS26b (6.2.1): ten double-long-unsigned values: the RMS extreme over voltage
    /// threshold and its period (Limiter 0-0:17.0.1.255, attributes 4 and 6), the extreme
    /// under voltage (0-0:17.0.2.255), the sag (0-0:17.0.3.255) and the swell
    /// (0-0:17.0.4.255) likewise, then the average RMS over voltage threshold
    /// (1-0:32.35.0.4) and under voltage threshold (1-0:32.31.0.4).
    static let voltage: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 10 else { throw .shape("\(reading.values.count) voltage settings, not 10") }
        var values: [String] = []
        for index in 0..<10 { values.append(String(try integer(reading.value(index), "voltage setting \(index)"))) }
        var average = DataNode("SinglePhaseVoltageSettings")
        average.add("AverageRMSOverVoltageThreshold", values[8])
        average.add("AverageRMSUnderVoltageThreshold", values[9])
        var rms = DataNode("RMSVoltageSettings")
        rms.add("RMSExtremeOverVoltageMeasurementPeriod", values[1])
        rms.add("RMSExtremeOverVoltageThreshold", values[0])
        rms.add("RMSExtremeUnderVoltageMeasurementPeriod", values[3])
        rms.add("RMSExtremeUnderVoltageThreshold", values[2])
        rms.add("RMSVoltageSagMeasurementPeriod", values[5])
        rms.add("RMSVoltageSagThreshold", values[4])
        rms.add("RMSVoltageSwellMeasurementPeriod", values[7])
        rms.add("RMSVoltageSwellThreshold", values[6])
        return [average, rms]
    }

    /// ECS26c (6.2.2): three long-unsigned values, RandomisedOffset (0-0:94.44.0.0),
    /// RandomisedOffsetNumber (0-0:94.44.0.2) and RandomisedOffsetLimit (0-0:94.44.0.1).
    static let randomisation: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 3 else { throw .shape("\(reading.values.count) randomisation values, not 3") }
        return [DataNode("RandomisedOffset", text: String(try integer(reading.value(0), "the randomised offset", in: 0...65535))),
                DataNode("RandomisedOffsetNumber", text: String(try integer(reading.value(1), "the randomised offset number", in: 0...65535))),
                DataNode("RandomisedOffsetLimit", text: String(try integer(reading.value(2), "the randomised offset limit", in: 0...65535)))]
    }

    /// ECS26d and ECS26l (6.2.3): the billing calendar, Single action schedule
    /// 0-0:15.0.0.255 attribute 4 `execution_time`, an array of 1 to 4 structures {time
    /// octet-string(4), date octet-string(5)} (Blue Book date: year, month, day of month,
    /// day of week, 0xFF(FF) "not specified"). The periodicity is read from which date
    /// fields are given: none (daily), the day of week (weekly), the day of month (monthly),
    /// day and month once (yearly), twice six months apart (six-monthly) or four times
    /// three months apart (quarterly, the first entry's month starting the period).
    static let billingCalendar: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) billing calendar values, not 1") }
        let entries = try reading.value(0).items("the billing calendar")
        guard (1...4).contains(entries.count) else { throw .shape("a billing calendar of \(entries.count) execution times") }
        var times: [String] = []
        var dates: [(month: Int?, day: Int?, weekday: Int?)] = []
        for entry in entries {
            let pair = try entry.items("a billing execution time", count: 2)
            times.append(try timeOfDay(pair[0], "a billing time"))
            let date = try pair[1].octetString("a billing date")
            guard date.count == 5, date[0] == 0xFF, date[1] == 0xFF else { throw .shape("a billing date is not a yearly pattern") }
            let month = date[2] == 0xFF ? nil : Int(date[2])
            let day = date[3] == 0xFF ? nil : Int(date[3])
            let weekday = date[4] == 0xFF ? nil : Int(date[4])
            if let month, !(1...12).contains(month) { throw .shape("a billing month of \(month)") }
            if let day, !(1...28).contains(day) { throw .shape("a billing day of \(day)") }
            if let weekday, !(1...7).contains(weekday) { throw .shape("a billing day of week \(weekday)") }
            dates.append((month, day, weekday))
        }
        guard Set(times).count == 1, let time = times.first, let first = dates.first else { throw .shape("billing execution times at different times of day") }
        var calendar = DataNode("ElectricityBillingCalendar")
        calendar.add("BillingTime", time)
        func monthsApart(_ step: Int) -> Bool {
            guard let start = first.month, let day = first.day, first.weekday == nil else { return false }
            for (index, date) in dates.enumerated() {
                guard date.day == day, date.weekday == nil, date.month == (start - 1 + index * step) % 12 + 1 else { return false }
            }
            return true
        }
        func period(_ name: String) -> DataNode {
            var node = DataNode(name)
            node.add("DayOfMonth", String(first.day ?? 0))
            node.add("BillingPeriodStartMonth", String(first.month ?? 0))
            return node
        }
        switch (dates.count, first.month, first.day, first.weekday) {
        case (1, nil, nil, nil): calendar.add(DataNode("Daily"))
        case (1, nil, nil, .some(let weekday)): calendar.add("Weekly", String(weekday))
        case (1, nil, .some(let day), nil): calendar.add("Monthly", String(day))
        case (1, .some, .some, nil): calendar.add(period("Yearly"))
        case (2, _, _, _) where monthsApart(6): calendar.add(period("SixMonthly"))
        case (4, _, _, _) where monthsApart(3): calendar.add(period("Quarterly"))
        default: throw .shape("billing dates that are no MMC periodicity")
        }
        return [DataNode("BillingCalendar", children: [calendar])]
    }

    /// ECS26e (6.2.4): the meter's entity identifier (0-0:96.1.1.255, octet-string(8)),
    /// MeterVariant (0-0:96.1.2.255, one utf-8 octet), ModelType (0-0:96.1.4.255, 8
    /// utf-8 octets), ManufacturerIdentifier (0-0:96.1.6.255, utf-8) and
    /// SupplyTamperState (0-0:94.44.0.4, boolean: Locked true, Unchanged false). ECS26i
    /// reads the identifier, ModelType and ManufacturerIdentifier only.
    static let identity: MMCMapping.Mapper = { reading throws(MappingError) in
        switch reading.values.count {
        case 3:
            return [DataNode("DeviceIdentifier", text: try eui(reading.value(0), "the device identifier")),
                    DataNode("ModelType", text: try text(reading.value(1), "the model type", limit: 8)),
                    DataNode("ManufacturerIdentifier", text: try text(reading.value(2), "the manufacturer identifier", limit: 32))]
        case 5:
            var electricity = DataNode("Electricity")
            electricity.add("SupplyTamperState", try boolean(reading.value(4), "the supply tamper state") ? "Locked" : "Unchanged")
            electricity.add("MeterVariant", try text(reading.value(1), "the meter variant", limit: 1))
            return [DataNode("DeviceIdentifier", text: try eui(reading.value(0), "the device identifier")),
                    DataNode("ModelType", text: try text(reading.value(2), "the model type", limit: 8)),
                    DataNode("ManufacturerIdentifier", text: try text(reading.value(3), "the manufacturer identifier", limit: 32)),
                    electricity]
        case let count:
            throw .shape("\(count) identity values, not 3 or 5")
        }
    }

    /// ECS26f (6.2.5): Register monitor 0-0:16.0.0.255 attribute 2, an array of two
    /// double-long-unsigned thresholds: low/medium, then medium/high power (W).
    static let powerThresholds: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) threshold values, not 1") }
        let thresholds = try reading.value(0).items("the power thresholds", count: 2)
        return [DataNode("LowMediumPowerThreshold", text: String(try integer(thresholds[0], "the low/medium power threshold"))),
                DataNode("MediumHighPowerThreshold", text: String(try integer(thresholds[1], "the medium/high power threshold")))]
    }

    /// ECS26j (6.2.9): Account 0-0:19.0.0.255 attribute 2 `account_mode_and_status`, a
    /// structure of payment_mode (enum: 1 credit, 2 prepayment) and account_status
    /// (enum, 2 active). The suspend-debt flags are not part of this read.
    static let paymentMode: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) payment mode values, not 1") }
        let modeAndStatus = try reading.value(0).items("the account mode and status", count: 2)
        guard case .enumerated(let mode) = modeAndStatus[0] else { throw .shape("the payment mode is \(modeAndStatus[0].tag), not an enum") }
        switch mode {
        case 1: return [DataNode("PaymentMode", text: "Credit")]
        case 2: return [DataNode("PaymentMode", text: "Prepayment")]
        default: throw .shape("payment mode \(mode)")
        }
    }

    /// ECS27 (4.15): LoadLimitSupplyState (0-0:94.44.0.3, boolean: Disable true,
    /// Unchanged false), the load limit counter (Register 0-0:94.44.42.255: value, and
    /// scaler_unit with scaler 0, unit 255 count), then the Limiter 0-0:17.0.0.255's
    /// threshold (W), min over threshold duration and min under threshold duration (s).
    static let loadLimitData: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 6 else { throw .shape("\(reading.values.count) load limit values, not 6") }
        let (scaler, unit) = try reading.value(2).scalerUnit("the load limit counter's scaler and unit")
        guard scaler == 0, unit == 255 else { throw .shape("a load limit counter with scaler \(scaler) and unit \(unit), not a count") }
        return [DataNode("LoadLimitCounterValue", text: String(try integer(reading.value(1), "the load limit counter"))),
                DataNode("LoadLimitPowerThreshold", text: String(try integer(reading.value(3), "the load limit power threshold"))),
                DataNode("LoadLimitPeriod", text: String(try integer(reading.value(4), "the load limit period"))),
                DataNode("LoadLimitRestorationPeriod", text: String(try integer(reading.value(5), "the load limit restoration period"))),
                DataNode("LoadLimitSupplyState", text: try boolean(reading.value(0), "the load limit supply state") ? "Disable" : "Unchanged")]
    }

    /// ECS61c (7.11): BoostFunctionAvailability (0-0:94.44.7.255, boolean), the boost
    /// function event log (Profile generic 0-0:99.98.20.255 buffer, up to 25 entries
    /// {boost_start, boost_end}, each double-long-unsigned UTC seconds since 2000), then
    /// BoostFunctionControl[1..5] (0-0:94.44.6.1 to .5, booleans: controlled by the button).
    static let boostButtonDetails: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 7 else { throw .shape("\(reading.values.count) boost button values, not 7") }
        let log = try reading.value(1).items("the boost function event log")
        guard log.count <= 25 else { throw .shape("\(log.count) boost log entries (MMC holds 25)") }
        var nodes: [DataNode] = []
        for entry in log {
            let pair = try entry.items("a boost log entry", count: 2)
            var node = DataNode("EventLogEntry")
            node.add("BoostEnd", try MMCFormat.time(secondsSince2000: try integer(pair[1], "a boost end")))
            node.add("BoostStart", try MMCFormat.time(secondsSince2000: try integer(pair[0], "a boost start")))
            nodes.append(node)
        }
        nodes.append(DataNode("BoostFunctionAvailability", text: DeviceFormat.bool(try boolean(reading.value(0), "the boost function availability"))))
        for index in 1...5 {
            nodes.append(DataNode("BoostFunctionControl\(index)Value", text: DeviceFormat.bool(try boolean(reading.value(index + 1), "boost function control \(index)"))))
        }
        return nodes
    }

    /// ECS61a (7.7): for the five switches n = 1…5, the descriptions (0-0:94.44.0.11 to
    /// .15, visible-string), then the types and identifiers (0-0:94.44.0.21 to .25,
    /// octet-string(8): all zeros for an ALCS, else the HC ALCS's entity identifier),
    /// then the special days (0-0:11.0.3.255) and the switching calendar (0-0:12.0.2.255),
    /// then the states (Disconnect control 0-n:96.3.10.255 attribute 2 `output_state`,
    /// boolean: connected / closed true). GBCS gives an HC ALCS's state no meaning, so it
    /// is written for an ALCS only. The special days and the calendar are not mapped:
    /// their script selectors' meaning (GBCS 7.3.7) was not available.
    static let alcsData: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 17 else { throw .shape("\(reading.values.count) ALCS values, not 17") }
        var switches: [DataNode] = []
        for n in 1...5 {
            var node = DataNode("AuxiliaryLoadControlSwitch", attributes: [("Index", String(n))])
            let description = try text(reading.value(n - 1), "switch \(n)'s description", limit: 22)
            if !description.isEmpty { node.add("Description", description) }
            let identifier = try reading.value(n + 4).octetString("switch \(n)'s type and identifier")
            guard identifier.count == 8 else { throw .shape("switch \(n)'s identifier has \(identifier.count) octets, not 8") }
            let isALCS = identifier.allSatisfy { $0 == 0 }
            var type = DataNode("TypeAndIdentifier")
            if isALCS {
                type.add(DataNode("ALCS"))
            } else {
                type.add("HCALCS", try eui(reading.value(n + 4), "switch \(n)'s identifier"))
            }
            node.add(type)
            let state = try boolean(reading.value(n + 11), "switch \(n)'s state")
            if isALCS { node.add("State", DeviceFormat.bool(state)) }
            switches.append(node)
        }
        return switches
    }

    // MARK: - Event and alert behaviours

    /// The alert codes of each MMC group, in the schema's order.
    static let supplierCommonCodes: [UInt16] = [0x810D, 0x810E, 0x8119, 0x8145, 0x8154, 0x8155, 0x8161, 0x8162, 0x8168, 0x8183]
        + Array(0x81A0...0x81B3) + [0x81B8, 0x81B9, 0x81BA, 0x81BB, 0x81BC, 0x81BD, 0x81BE, 0x81C0, 0x81C1, 0x81C4, 0x81C5, 0x81C6]
    static let supplierPolyPhaseCodes: [UInt16] = [0x81B7]
    static let networkOperatorCommonCodes: [UInt16] = [0x8014, 0x8015]
    static let networkOperatorSinglePhaseCodes: [UInt16] = [0x8002, 0x8006, 0x8020, 0x8024, 0x8028, 0x802C, 0x8085, 0x8089, 0x808D, 0x8091, 0x8095, 0x8099, 0x8010]
    static let networkOperatorPolyPhaseCodes: [UInt16] = [0x8003, 0x8004, 0x8005, 0x8007, 0x8008, 0x8009, 0x8021, 0x8022, 0x8023, 0x8025, 0x8026, 0x8027,
                                                          0x8029, 0x802A, 0x802B, 0x802D, 0x802E, 0x802F, 0x8086, 0x8087, 0x8088, 0x808A, 0x808B, 0x808C,
                                                          0x808E, 0x808F, 0x8090, 0x8092, 0x8093, 0x8094, 0x8096, 0x8097, 0x8098, 0x809A, 0x809B, 0x809C,
                                                          0x8011, 0x8016, 0x8013]

    /// A 256-bit settings string (GBCS: numbered with the least significant bit 0, bit n
    /// being the event / alert code `prefix || n`, 1 on), as the set of codes turned on.
    static func enabledCodes(_ value: DLMSData, prefix: UInt16, _ what: String) throws(MappingError) -> Set<UInt16> {
        guard case .bitString(let bits) = value, bits.bitCount == 256, bits.octets.count == 32 else { throw .shape("\(what) is not a bit-string(256)") }
        var codes: Set<UInt16> = []
        for n in 0..<256 where bits.bit(255 - n) { codes.insert(prefix << 8 | UInt16(n)) }
        return codes
    }

    static func alertGroup(_ name: String, _ codes: [UInt16], enabled: Set<UInt16>) -> DataNode {
        var group = DataNode(name)
        for code in codes { group.add("x" + MMCMapping.hex16(code), enabled.contains(code) ? "Enable" : "Disable") }
        return group
    }

    /// ECS25r1 (6.2.10): four bit-string(256) values of the supplier's settings
    /// (0-30:97.98.15.255 WAN alerting, .16 HAN device sharing, .17 alarms, .18 logging;
    /// codes 0x81nn). The polyphase group (0x81B7) is written only when that code is on,
    /// since the answer does not say whether the meter is polyphase.
    static let supplierAlertBehaviours: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 4 else { throw .shape("\(reading.values.count) supplier settings, not 4") }
        var settings = DataNode("ElectricitySupplierAlertEventSettings")
        let names = ["ElectricitySupplierWANAlertSettings", "ElectricitySupplierHANAlertSettings", "ElectricitySupplierAlarmSettings", "ElectricitySupplierLoggingSettings"]
        for (index, name) in names.enumerated() {
            let enabled = try enabledCodes(reading.value(index), prefix: 0x81, "supplier setting \(index)")
            var node = DataNode(name)
            node.add(alertGroup("SupplierESMECommon", supplierCommonCodes, enabled: enabled))
            if !enabled.isDisjoint(with: supplierPolyPhaseCodes) { node.add(alertGroup("SupplierESMEPolyPhase", supplierPolyPhaseCodes, enabled: enabled)) }
            settings.add(node)
        }
        return [settings]
    }

    /// ECS25r2 (6.2.10): two bit-string(256) values of the network operator's settings
    /// (0-33:97.98.15.255 WAN alerting, .18 logging; codes 0x80nn). The single or
    /// polyphase group is written when one of its codes is on (which says the kind of
    /// meter), neither when none is.
    static let networkOperatorAlertBehaviours: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 2 else { throw .shape("\(reading.values.count) network operator settings, not 2") }
        var settings = DataNode("ElectricityNetworkOperatorAlertEventSettings")
        for (index, name) in ["ElectricityNetworkOperatorWANAlertSettings", "ElectricityNetworkOperatorLoggingSettings"].enumerated() {
            let enabled = try enabledCodes(reading.value(index), prefix: 0x80, "network operator setting \(index)")
            var node = DataNode(name)
            node.add(alertGroup("NetworkOperatorESMECommon", networkOperatorCommonCodes, enabled: enabled))
            let single = !enabled.isDisjoint(with: networkOperatorSinglePhaseCodes), poly = !enabled.isDisjoint(with: networkOperatorPolyPhaseCodes)
            if single && poly { throw .shape("single and polyphase alerts both on") }
            if single { node.add(alertGroup("NetworkOperatorESMESinglePhase", networkOperatorSinglePhaseCodes, enabled: enabled)) }
            if poly { node.add(alertGroup("NetworkOperatorESMEPolyPhase", networkOperatorPolyPhaseCodes, enabled: enabled)) }
            settings.add(node)
        }
        return [settings]
    }
}
