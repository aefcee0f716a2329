import DUIS
import Foundation
import GBCS
import MMC

/// Prepayment configuration, the ALCS event log and the auxiliary controller's reads, GBCS payload to MMC elements.
///
/// Each mapper reads the values of its use case's GET list in the order of the GBCS use
/// case table ("ordering of fields according to section 19.2.1"), which is the order of
/// the command's access-request list.
///
/// ECS61e (7.15, Read Auxiliary Controller Operational Data) is not mapped: its answer
/// (0-0:94.44.0.21 to .25, octet strings such as an EUI-64, eight zeros, `FF` or none;
/// 0-0:94.44.0.31 to .35, strings of JSON-like text such as `{"outputState": 0,
/// "inputState": 0, "other-data": "StateA"}`) has no source for which octets mean which
/// controller type, nor for how the text becomes MMC's state elements.
enum PrepaymentAndAuxiliaryReads {
    static let table: [String: MMCMapping.Mapper] = [
        "ECS26a": prepaymentConfiguration,
        "ECS35g": auxiliaryControllerEventLog,
        "ECS61d": auxiliaryControllerConfiguration,
        "ECS61e": auxiliaryControllerOperationalData,
    ]

    // MARK: - Dates, days and schedules

    /// A Blue Book date (octet-string(5): year, two octets, 0xFFFF not specified; month,
    /// 0xFF not specified; day of month, 0xFE last, 0xFD second last, 0xFF not specified;
    /// day of week, 1 Monday … 7, 0xFF not specified) as an MMC `ra:Date` named `name`.
    /// Daylight-saving months (0xFD, 0xFE) have no MMC element and are a `.shape`.
    static func date(_ name: String, _ value: DLMSData, _ what: String, attributes: [(String, String)] = []) throws(MappingError) -> DataNode {
        let octets = try value.octetString(what)
        guard octets.count == 5 else { throw .shape("\(what) has \(octets.count) octets, not a date's 5") }
        var date = DataNode(name, attributes: attributes)
        let year = Int(octets[0]) << 8 | Int(octets[1])
        var yearNode = DataNode("Year")
        if year == 0xFFFF {
            yearNode.addEmpty("NonSpecifiedYear")
        } else {
            guard (2014...9999).contains(year) else { throw .shape("\(what)'s year \(year)") }
            yearNode.add("SpecifiedYear", year)
        }
        date.add(yearNode)
        var month = DataNode("Month")
        switch octets[2] {
        case 0xFF: month.addEmpty("NonSpecifiedMonth")
        case 1...12: month.add("SpecifiedMonth", Int(octets[2]))
        default: throw .shape("\(what)'s month \(octets[2])")
        }
        date.add(month)
        var day = DataNode("DayOfMonth")
        switch octets[3] {
        case 0xFF: day.addEmpty("NonSpecifiedDayOfMonth")
        case 0xFE: day.addEmpty("LastDayOfMonth")
        case 0xFD: day.addEmpty("SecondLastDayOfMonth")
        case 1...31: day.add("SpecifiedDayOfMonth", Int(octets[3]))
        default: throw .shape("\(what)'s day of month \(octets[3])")
        }
        date.add(day)
        var weekday = DataNode("DayOfWeek")
        switch octets[4] {
        case 0xFF: weekday.addEmpty("NonSpecifiedDayOfWeek")
        case 1...7: weekday.add("SpecifiedDayOfWeek", Int(octets[4]))
        default: throw .shape("\(what)'s day of week \(octets[4])")
        }
        date.add(weekday)
        return date
    }

    /// A Blue Book date with month and day given as an `xs:date`, `YYYY-MM-DDZ` (UTC, as
    /// GBCS keeps time). A year "not specified" (0xFFFF) is written as its value, 65535,
    /// as DUIS writes such dates in Update Prepay Configuration.
    static func plainDate(_ value: DLMSData, _ what: String) throws(MappingError) -> String {
        let octets = try value.octetString(what)
        guard octets.count == 5 else { throw .shape("\(what) has \(octets.count) octets, not a date's 5") }
        let year = Int(octets[0]) << 8 | Int(octets[1])
        guard year >= 1000, (1...12).contains(octets[2]), (1...31).contains(octets[3]), octets[4] == 0xFF || (1...7).contains(octets[4]) else {
            throw .shape("\(what) is not a date without wildcards")
        }
        func two(_ number: UInt8) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return "\(year)-\(two(octets[2]))-\(two(octets[3]))Z"
    }

    /// A special days table (Special days table, attribute 2 `entries`: an array of
    /// {index long-unsigned, specialday_date octet-string(5), day_id unsigned}) as
    /// `element` nodes of `ra:Date` with the entry's index (1…20) in `attribute`.
    static func specialDays(_ value: DLMSData, element: String, attribute: String, _ what: String) throws(MappingError) -> [DataNode] {
        let entries = try value.items(what)
        guard entries.count <= 20 else { throw .shape("\(entries.count) \(what) (MMC holds 20)") }
        var days: [DataNode] = []
        for entry in entries {
            let fields = try entry.items("a special day", count: 3)
            let index = try ConfigurationReads.integer(fields[0], "a special day's index", in: 1...20)
            _ = try ConfigurationReads.integer(fields[2], "a special day's day_id", in: 0...255)
            days.append(try date(element, fields[1], "a special day's date", attributes: [(attribute, String(index))]))
        }
        return days
    }

    /// One Schedule entry (attribute 2 `entries`): index, enable, script_logical_name,
    /// script_selector, switch_time octet-string(4), validity_window, exec_weekdays
    /// bit-string(7), exec_specdays bit-string(n ≤ 20), begin_date and end_date
    /// octet-string(5).
    struct ScheduleEntry {
        let script: [UInt8]
        let selector: Int64
        let switchTime: String
        let weekdays: [String]
        let specialDays: [Int]
        let begin: DLMSData
        let end: DLMSData

        static let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

        init(_ value: DLMSData) throws(MappingError) {
            let fields = try value.items("a schedule entry", count: 10)
            _ = try ConfigurationReads.integer(fields[0], "a schedule entry's index", in: 0...65535)
            _ = try ConfigurationReads.boolean(fields[1], "a schedule entry's enable")
            script = try fields[2].octetString("a schedule entry's script")
            selector = try ConfigurationReads.integer(fields[3], "a schedule entry's script selector", in: 0...65535)
            switchTime = try ConfigurationReads.timeOfDay(fields[4], "a schedule entry's switch time")
            _ = try ConfigurationReads.integer(fields[5], "a schedule entry's validity window", in: 0...65535)
            guard case .bitString(let weekdayBits) = fields[6], weekdayBits.bitCount == 7 else { throw .shape("a schedule entry's weekdays are not a bit-string(7)") }
            weekdays = (0..<7).filter { weekdayBits.bit($0) }.map { Self.dayNames[$0] }
            guard case .bitString(let specialBits) = fields[7], specialBits.bitCount <= 20 else { throw .shape("a schedule entry's special days are not a bit-string of at most 20") }
            specialDays = (0..<specialBits.bitCount).filter { specialBits.bit($0) }.map { $0 + 1 }
            begin = fields[8]
            end = fields[9]
        }

        /// MMC's `DaysOfWeekApplicability`, one `DayOfWeekApplicability` per day set.
        var daysOfWeek: DataNode {
            DataNode("DaysOfWeekApplicability", children: weekdays.map { DataNode("DayOfWeekApplicability", children: [DataNode("DayOfWeekID", text: $0)]) })
        }
    }

    // MARK: - ECS26a

    /// A charge's `unit_charge_active` (Charge attribute 5): a structure of
    /// charge_per_unit_scaling {commodity_scale integer, price_scale integer},
    /// commodity_reference {class_id, logical_name, attribute_index} and a charge_table
    /// of one {index octet-string, charge_per_unit long}, with the charge's `period`
    /// (attribute 8, double-long-unsigned seconds: 3600 hourly, 86400 daily) as MMC's
    /// `ElecDebtRecovery`.
    static func debtRecovery(_ name: String, unitCharge: DLMSData, period: DLMSData) throws(MappingError) -> DataNode {
        let parts = try unitCharge.items("\(name)'s unit charge", count: 3)
        let scaling = try parts[0].items("\(name)'s charge scaling", count: 2)
        let priceScale = try ConfigurationReads.integer(scaling[1], "\(name)'s price scale", in: -128...127)
        _ = try parts[1].items("\(name)'s commodity reference", count: 3)
        let table = try parts[2].items("\(name)'s charge table", count: 1)
        let element = try table[0].items("\(name)'s charge table element", count: 2)
        let rate = try element[1].integer("\(name)'s charge per unit")
        let periodName: String
        switch try period.integer("\(name)'s period") {
        case 3600: periodName = "HOURLY"
        case 86400: periodName = "DAILY"
        case let other: throw .shape("\(name)'s period is \(other) s, neither an hour nor a day")
        }
        var node = DataNode(name)
        node.add("DebtRecoveryRate", String(rate))
        node.add("DebtRecoveryRatePriceScale", String(priceScale))
        node.add("DebtRecoveryRatePeriod", periodName)
        return node
    }

    /// ECS26a (4.13): eighteen values, in the use case's order:
    /// 0 DebtRecoveryRates[1] `unit_charge_active` (Charge 0-0:19.20.1.255 attribute 5),
    /// 1 the non-disablement special days (Special days table 0-0:11.0.2.255),
    /// 2 DebtRecoveryRates[1] `period` (attribute 8), 3 the same `unit_charge_active`
    /// again, 4 to 6 likewise for DebtRecoveryRates[2] (0-0:19.20.2.255),
    /// 7 DebtRecoveryPerPayment (0-0:19.20.3.255 `proportion`, long-unsigned, 0…10000),
    /// 8 MaximumCreditThreshold (0-0:94.44.2.10, double-long), 9 DisablementThreshold
    /// (Register monitor 0-0:16.0.1.255 `thresholds`, one double-long), 10 MaxMeterBalance
    /// (0-0:94.44.2.20), 11 LowCreditThreshold (Account 0-0:19.0.0.255
    /// `low_credit_threshold`), 12 DebtRecoveryRateCap (`max_provision`, long-unsigned),
    /// 13 its period (`max_provision_period`, fixed by GBCS at a week; MMC has no element),
    /// 14 EmergencyCreditLimit and 15 EmergencyCreditThreshold (Credit 0-0:19.10.1.255
    /// `preset_credit_amount` and `credit_available_threshold`), 16 the non-disablement
    /// calendar (Schedule 0-0:12.0.1.255 `entries`, script 0-0:10.0.106.255, selector 32
    /// START and 33 STOP as in DUIS's ECS08 and its GBCS command), 17
    /// `credit_charge_configuration`. Amounts are written as the meter holds them (DUIS's
    /// Update Prepay Configuration sends the same numbers). PaymentMode and the two
    /// SuspendDebt flags come from `credit_charge_configuration` by GBCS section 18.2.1's
    /// table of five allowed values, which was not available: they are left out.
    static let prepaymentConfiguration: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 18 else { throw .shape("\(reading.values.count) prepayment configuration values, not 18") }
        let disablement = try reading.value(9).items("the disablement threshold", count: 1)
        _ = try ConfigurationReads.integer(reading.value(13), "the debt recovery rate cap's period", in: 0...Int64(Int32.max))
        _ = try reading.value(17).items("the credit charge configuration")
        var nodes: [DataNode] = [
            DataNode("DebtRecoveryPerPayment", text: String(try ConfigurationReads.integer(reading.value(7), "the debt recovery per payment", in: 0...10000))),
            DataNode("DebtRecoveryRateCap", text: String(try ConfigurationReads.integer(reading.value(12), "the debt recovery rate cap", in: 0...65535))),
            DataNode("DisablementThreshold", text: String(try disablement[0].integer("the disablement threshold"))),
            DataNode("EmergencyCreditLimit", text: String(try reading.value(14).integer("the emergency credit limit"))),
            DataNode("EmergencyCreditThreshold", text: String(try reading.value(15).integer("the emergency credit threshold"))),
            DataNode("LowCreditThreshold", text: String(try reading.value(11).integer("the low credit threshold"))),
            DataNode("CreditMaxCreditThreshold", text: String(try reading.value(8).integer("the maximum credit threshold"))),
            DataNode("MaxCreditMaxMeterBalance", text: String(try reading.value(10).integer("the maximum meter balance"))),
        ]
        var calendar = DataNode("NonDisablementCalendar")
        calendar.add(DataNode("ElectricitySpecialDays", children: try specialDays(reading.value(1), element: "SpecialDay", attribute: "index", "non-disablement special days")))
        let entries = try reading.value(16).items("the non-disablement calendar")
        guard entries.count <= 22 else { throw .shape("\(entries.count) non-disablement calendar entries (MMC holds 22)") }
        for value in entries {
            let entry = try ScheduleEntry(value)
            guard entry.script == [0, 0, 10, 0, 106, 255] else { throw .shape("a non-disablement entry runs script \(SecurityReads.hexString(entry.script))") }
            let script: String
            switch entry.selector {
            case 32: script = "START"
            case 33: script = "STOP"
            default: throw .shape("a non-disablement script selector of \(entry.selector)")
            }
            var schedule = DataNode("ElectricityNonDisablementSchedule")
            schedule.add("NonDisablementScript", script)
            schedule.add(DataNode("SpecialDaysApplicability", children: entry.specialDays.map {
                DataNode("SpecialDayApplicability", children: [DataNode("SpecialDayID", text: String($0))])
            }))
            schedule.add(entry.daysOfWeek)
            var times = DataNode("ScheduleDatesAndTime")
            times.add("SwitchTime", entry.switchTime)
            times.add("StartDate", try plainDate(entry.begin, "a non-disablement entry's begin date"))
            times.add("EndDate", try plainDate(entry.end, "a non-disablement entry's end date"))
            schedule.add(times)
            calendar.add(schedule)
        }
        var electricity = DataNode("Electricity")
        electricity.add(calendar)
        electricity.add(try debtRecovery("DebtRecovery1", unitCharge: reading.value(0), period: reading.value(2)))
        electricity.add(try debtRecovery("DebtRecovery2", unitCharge: reading.value(4), period: reading.value(5)))
        nodes.append(electricity)
        return nodes
    }

    // MARK: - ECS35g

    /// One auxiliary controller event log entry's switch number and action field
    /// (long-unsigned): GBCS (ECS35f, the ALCS event log) puts the script identifier of
    /// the Remote Party Command there, or for an entry about a Response from an HC ALCS
    /// the HC ALCS's number n then 0x00. The script identifiers are the commands':
    /// ECS47 `0n11` switches n on, `0n12` off and `0n20` back to calendar control (DUIS
    /// 7.5, 7.6 and 7.8 against their GBCS commands); ECS47a / ECS47e `1nLL` commands
    /// controller n to level LL (0…100) and `2nLL` does so with input from the controlled
    /// load (DUIS 7.13 and 7.16 against theirs).
    static func switchAction(_ code: Int64) throws(MappingError) -> [DataNode] {
        guard (0...0xFFFF).contains(code) else { throw .shape("a switch number and action of \(code)") }
        let high = code >> 8, low = code & 0xFF
        if (1...5).contains(high) {
            let action: String
            switch low {
            case 0x00: action = "Entry relates to a Message from an HC ALCS"
            case 0x11: action = "On"
            case 0x12: action = "Off"
            case 0x20: action = "Revert to calendar control"
            default: throw .shape(String(format: "switch number and action %04X", code))
            }
            return [DataNode("SwitchNumber", text: String(high)), DataNode("SwitchAction", text: action)]
        }
        let kind = code >> 12, controller = (code >> 8) & 0xF
        guard kind == 1 || kind == 2, (1...5).contains(controller), low <= 100 else { throw .shape(String(format: "switch number and action %04X", code)) }
        var nodes = [DataNode("SwitchNumber", text: String(controller))]
        // HANCommandID comes between the action and the level in MMC's order; the caller
        // places it.
        nodes.append(DataNode("AuxiliaryControllerLevel", text: String(low)))
        if kind == 2 { nodes.append(DataNode("InputFromControlledLoad")) }
        return nodes
    }

    /// ECS35g (6.13, the auxiliary controller event log, Profile generic
    /// 0-17:99.98.2.255): a compact array of at most 100 entries {timestamp
    /// double-long-unsigned seconds since 2000 UTC, switch number and action
    /// long-unsigned (see `switchAction`), outcome enum (0 outcome not known, 1 success,
    /// 2 failure), HAN command ID double-long-unsigned (0 for an ALCS, else the Issuer
    /// Event ID of the ZSE command to the HC ALCS; written only when not 0)}, as GBCS
    /// ECS35f lays out the ALCS event log.
    static let auxiliaryControllerEventLog: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) auxiliary controller log values, not 1") }
        let entries = try reading.value(0).items("the auxiliary controller event log")
        guard entries.count <= 100 else { throw .shape("\(entries.count) auxiliary controller log entries (MMC holds 100)") }
        var log = DataNode("ALCSEvent")
        for entry in entries {
            let fields = try entry.items("an auxiliary controller log entry", count: 4)
            var node = DataNode("ALCSEventLogEntry")
            node.add("Timestamp", try MMCFormat.time(secondsSince2000: try ConfigurationReads.integer(fields[0], "a log entry's time")))
            let action = try switchAction(try fields[1].integer("a log entry's switch number and action"))
            let outcome: String
            switch try fields[2].integer("a log entry's outcome") {
            case 0: outcome = "Outcome not known"
            case 1: outcome = "Success"
            case 2: outcome = "Failure"
            case let other: throw .shape("a log entry's outcome is \(other)")
            }
            let command = try ConfigurationReads.integer(fields[3], "a log entry's HAN command ID")
            for part in action where part.name == "SwitchNumber" || part.name == "SwitchAction" { node.add(part) }
            node.add("Outcome", outcome)
            if command != 0 { node.add("HANCommandID", String(command)) }
            for part in action where part.name != "SwitchNumber" && part.name != "SwitchAction" { node.add(part) }
            log.add(node)
        }
        return [log]
    }

    // MARK: - ECS61d

    /// ECS61d (7.14): the five auxiliary controllers' descriptions (0-0:94.44.0.11 to .15,
    /// strings of at most 22 characters, controller n = 1…5 in order), the auxiliary
    /// controller special days (Special days table 0-0:11.0.3.255, each entry's index the
    /// MMC identifier) and calendar (Schedule 0-0:12.0.2.255, script 0-0:10.0.103.255).
    /// A calendar entry's selector is `1nLL` (controller n's output) or `2nLL` (its input
    /// from the controlled load) with LL = 0x80 + the commanded level 0…100, as DUIS's
    /// ECS46d request and the RTDS ECS46d commands (ALCS, APC output, APC input) have it.
    static let auxiliaryControllerConfiguration: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 7 else { throw .shape("\(reading.values.count) auxiliary controller configuration values, not 7") }
        var nodes: [DataNode] = []
        for n in 1...5 {
            let description = try ConfigurationReads.text(reading.value(n - 1), "auxiliary controller \(n)'s description", limit: 22)
            nodes.append(DataNode("AuxiliaryControllerDescription", attributes: [("auxiliaryControllerN", String(n))],
                                  children: [DataNode("AuxiliaryControlDescription", text: description)]))
        }
        nodes.append(DataNode("AuxiliaryControllerSpecialDayDefinitions", children: try specialDays(
            reading.value(5), element: "AuxiliaryControllerSpecialDayDefinition", attribute: "identifier", "auxiliary controller special days")))
        let entries = try reading.value(6).items("the auxiliary controller calendar")
        guard entries.count <= 120 else { throw .shape("\(entries.count) auxiliary controller calendar entries (MMC holds 120)") }
        for value in entries {
            let entry = try ScheduleEntry(value)
            guard entry.script == [0, 0, 10, 0, 103, 255] else { throw .shape("an auxiliary controller calendar entry runs script \(SecurityReads.hexString(entry.script))") }
            let kind = entry.selector >> 12, controller = (entry.selector >> 8) & 0xF, level = entry.selector & 0xFF
            guard kind == 1 || kind == 2, (1...5).contains(controller), (0x80...0x80 + 100).contains(level) else {
                throw .shape(String(format: "an auxiliary controller calendar selector of %04X", entry.selector))
            }
            var action = DataNode("AuxiliaryControllerAction", attributes: [("auxiliaryControllerN", String(controller))])
            action.add("CommandedStateLevel", String(level - 0x80))
            if kind == 2 { action.add(DataNode("InputFromControlledLoad")) }
            var schedule = DataNode("AuxiliaryControllerSchedule")
            schedule.add(action)
            for day in entry.specialDays { schedule.addEmpty("SpecialDaysApplicability", attributes: [("identifier", String(day))]) }
            schedule.add(entry.daysOfWeek)
            var times = DataNode("AuxiliaryControllerSchedulePeriodAndTime")
            times.add("SwitchTime", entry.switchTime)
            times.add(try date("StartDate", entry.begin, "a calendar entry's begin date"))
            times.add(try date("EndDate", entry.end, "a calendar entry's end date"))
            schedule.add(times)
            nodes.append(schedule)
        }
        return nodes
    }

    // MARK: - 7.15

    /// ECS61e (7.15): for auxiliary controllers 1 to 5 in turn, their identifier
    /// (octet-string: eight zero octets for the meter's own ALCS, else an HC ALCS's entity
    /// identifier, as ECS61a gives them), then for 1 to 5 their state and associated
    /// information (text). MMC's `StateAndAssociatedInformation` is that text as the device
    /// sent it; `OutputState` and `InputState` are read from it only where it is a JSON
    /// object whose `outputState` and `inputState` are levels 0–100 (the names MMC uses).
    /// Identifiers of other forms (one octet, none: an APC or no controller, for which no
    /// source gives the encoding) leave `TypeAndIdentifier` out rather than guess.
    static let auxiliaryControllerOperationalData: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 10 else { throw .shape("\(reading.values.count) auxiliary controller values, not 10") }
        var controllers: [DataNode] = []
        for n in 1...5 {
            var node = DataNode("AuxiliaryControllerOperationalData", attributes: [("auxiliaryControllerN", String(n))])
            let identifier = try reading.value(n - 1).octetString("controller \(n)'s identifier")
            if identifier.count == 8 {
                if identifier.allSatisfy({ $0 == 0 }) {
                    node.add(DataNode("TypeAndIdentifier", children: [DataNode("AuxiliaryControllerType", text: "ALCS")]))
                } else {
                    let id = EUI64(identifier.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                    node.add(DataNode("TypeAndIdentifier", children: [DataNode("AuxiliaryControllerType", text: "HCALCS"),
                                                                       DataNode("HCALCSID", text: id.description)]))
                }
            }
            let octets: [UInt8]
            switch try reading.value(4 + n) {
            case .octetString(let value), .visibleString(let value), .utf8String(let value): octets = value
            case let other: throw .shape("controller \(n)'s state is \(other.tag), not text")
            }
            guard octets.count <= 72_000 else { throw .shape("controller \(n)'s state is \(octets.count) octets (MMC holds 72,000)") }
            guard let text = String(validating: octets, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" && $0 != "\n" && $0 != "\r" }) else {
                throw .shape("controller \(n)'s state is not text")
            }
            var state = DataNode("AuxiliaryControllerStateAndAssociatedInformation")
            if let object = (try? JSONSerialization.jsonObject(with: Data(octets))) as? [String: Any] {
                for (key, element) in [("outputState", "OutputState"), ("inputState", "InputState")] {
                    if let level = object[key] as? Int, (0...100).contains(level) { state.add(element, String(level)) }
                }
            }
            state.add("StateAndAssociatedInformation", text)
            node.add(state)
            controllers.append(node)
        }
        return controllers
    }
}
