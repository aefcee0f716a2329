import DUIS
import GBCS

/// The critical auxiliary load control SRVs of the electricity meter: the switches'
/// descriptions (6.14.1), the ALCS/HCALCS switching calendar (6.14.2), the auxiliary
/// controller calendar (6.14.3), timed activation, deactivation and reset of a switch
/// (7.5, 7.6, 7.8), the randomised offset limit (7.12), and an auxiliary controller's
/// commanded state for a period (7.13, and 7.16 for an APC's limit). Each checked octet for
/// octet against the RTDS pre-commands of its use cases (ECS46a, ECS46c, ECS46d, ECS47,
/// ECS38, ECS47a, ECS47e), the variants without a template from bodies written to the XSD.
///
/// The ESME's auxiliary load control script table 0-0:10.0.103.255 (class 9, execute)
/// drives the switches; its script selector says what to do, as the RTDS shows it: high
/// octet the switch (1...5), low octet 0x01 on / 0x02 off (calendar), 0x11 on / 0x12 off
/// for a period, 0x20 reset. For an auxiliary controller (ALCS, HCALCS or APC) the high
/// octet is 0x10 + n (0x20 + n with InputFromControlledLoad) and the low octet the
/// commanded level 0...100, with 0x80 added in a calendar entry.
extension CriticalCommandBuilder {
    static let auxiliaryBuilders: [SRV: Build] = [
        "6.14.1": { input throws(TransformError) in try auxiliaryDescriptions(input) },
        "6.14.2": { input throws(TransformError) in try auxiliarySwitchCalendar(input) },
        "6.14.3": { input throws(TransformError) in try auxiliaryControllerCalendar(input) },
        "7.5": { input throws(TransformError) in try auxiliaryTimedSwitch(input, activate: true) },
        "7.6": { input throws(TransformError) in try auxiliaryTimedSwitch(input, activate: false) },
        "7.8": { input throws(TransformError) in try auxiliaryReset(input) },
        "7.12": { input throws(TransformError) in try auxiliaryRandomisedOffset(input) },
        "7.13": { input throws(TransformError) in try auxiliaryControllerState(input, apcLimit: false) },
        "7.16": { input throws(TransformError) in try auxiliaryControllerState(input, apcLimit: true) },
    ]

    // MARK: 6.14.1 ECS46a

    /// ECS46a, Set Auxiliary Controller Descriptions (0x0053): for each description the
    /// request gives, the switch's description object 0-0:94.44.0.(10 + n) (class 1,
    /// attribute 2) as a visible-string. A description the request leaves out is not set,
    /// so the meter keeps its old one (the RTDS's SOME_OPTIONALS vector sets only 2, 3 and
    /// 4). They are set in the request's order; an index given twice is refused.
    static func auxiliaryDescriptions(_ input: Input) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let descriptions = input.body.children.filter { $0.name == "ALCSHCALCSDescription" }
        guard (1...5).contains(descriptions.count) else {
            throw TransformError("\(input.body.name) has \(descriptions.count) ALCSHCALCSDescription elements: 1 to 5 are allowed")
        }
        var seen: Set<Int> = []
        var specifications: [DLMSAPDU.RequestSpecification] = []
        var data: [DLMSData] = []
        for description in descriptions {
            let index = try auxiliaryIndex(description, "index", 1...5)
            guard seen.insert(index).inserted else { throw TransformError("ALCSHCALCSDescription index \(index) is given twice") }
            // The raw text: xs:string keeps its spaces, and so does the description.
            guard let element = description.child("SwitchDescription"), element.children.isEmpty else {
                throw TransformError("ALCSHCALCSDescription \(index) has no SwitchDescription")
            }
            let octets = Array(element.text.utf8)
            guard (1...22).contains(octets.count), octets.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
                throw TransformError("SwitchDescription \(untrusted(element.text, limit: 32)) is not 1 to 22 printable ASCII characters")
            }
            specifications.append(.set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, 0, UInt8(truncatingIfNeeded: 10 + index)], member: 2)))
            data.append(.visibleString(octets))
        }
        return Built(useCase: "ECS46a", messageCode: 0x0053, content: access(input, specifications, data))
    }

    // MARK: 6.14.2 ECS46c

    /// ECS46c, Set ALCS/HCALCS calendar (0x0054). First, for each SwitchTypeAndId the
    /// request gives, switch n's identity 0-0:94.44.0.(20 + n) (class 1, attribute 2),
    /// octet-string(8): zeros for an ALCS (a switch in the meter), the HCALCS's EUI-64 for a
    /// HAN-connected one. A switch left out is not set (the RTDS's SOME_OPTIONALS vector
    /// sets 1 and 2, its ALL_OPTIONALS ones 1 to 5). Then the calendar: the passive special
    /// days table 0-1:11.0.3.255 (class 11) and the passive schedule 0-1:12.0.2.255 (class
    /// 10), each connection schedule an entry that runs script (n, 0x01 on or 0x02 off),
    /// and the activation times (class 9000, attribute 6) of 0-0:94.44.128.26 and 128.35
    /// that put them into service: the request's execution time (`Input.activation`) as a
    /// COSEM date-time, zeros for now, the instant, or 0xFF for a cancellation.
    static func auxiliarySwitchCalendar(_ input: Input) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let body = input.body
        var specifications: [DLMSAPDU.RequestSpecification] = []
        var data: [DLMSData] = []
        let switches = body.children.filter { $0.name == "SwitchTypeAndId" }
        guard switches.count <= 5 else { throw TransformError("\(switches.count) SwitchTypeAndId elements: at most 5 are allowed") }
        var seen: Set<Int> = []
        for entry in switches {
            let index = try auxiliaryIndex(entry, "index", 1...5)
            guard seen.insert(index).inserted else { throw TransformError("SwitchTypeAndId index \(index) is given twice") }
            let identity: [UInt8]
            if entry.child("ALCS") != nil, entry.child("HCALCS") == nil {
                identity = [UInt8](repeating: 0, count: 8)
            } else if entry.child("ALCS") == nil, let text = entry.value("HCALCS") {
                guard let eui = EUI64(text) else { throw TransformError("SwitchTypeAndId \(index) HCALCS \(untrusted(text, limit: 32)) is not an EUI-64") }
                identity = eui.bytes
            } else {
                throw TransformError("SwitchTypeAndId \(index) must be either ALCS or HCALCS")
            }
            specifications.append(.set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, 0, UInt8(truncatingIfNeeded: 20 + index)], member: 2)))
            data.append(.octetString(identity))
        }
        guard let specialDays = body.child("ALCSHCALCSSpecialDays") else { throw TransformError("\(body.name) has no ALCSHCALCSSpecialDays") }
        let days = try auxiliarySpecialDays(specialDays.children.filter { $0.name == "ALCSHCALCSSpecialDay" }, "index")
        let schedules = body.children.filter { $0.name == "ALCSHCALCSConnectionSchedule" }
        guard (1...48).contains(schedules.count) else {
            throw TransformError("\(schedules.count) ALCSHCALCSConnectionSchedule elements: 1 to 48 are allowed")
        }
        var entries: [DLMSData] = []
        for (offset, schedule) in schedules.enumerated() {
            guard let action = schedule.child("ActivateDeactivateSwitch") else {
                throw TransformError("connection schedule \(offset + 1) has no ActivateDeactivateSwitch")
            }
            let index = try auxiliaryIndex(action, "index", 1...5)
            let activate = action.child("ActivateSwitch") != nil
            guard activate != (action.child("DeactivateSwitch") != nil) else {
                throw TransformError("connection schedule \(offset + 1) must either ActivateSwitch or DeactivateSwitch")
            }
            let selector = UInt16(truncatingIfNeeded: index) << 8 | (activate ? 0x01 : 0x02)
            let entry = try auxiliaryScheduleEntry(offset + 1, selector, schedule, days, applicability: "index", period: "ALCSScheduleDatesAndTime")
            entries.append(entry)
        }
        specifications += auxiliaryCalendarSpecifications
        data += [days.table, .array(entries), activationDateTime(input), activationDateTime(input)]
        return Built(useCase: "ECS46c", messageCode: 0x0054, content: access(input, specifications, data))
    }

    // MARK: 6.14.3 ECS46d

    /// ECS46d, Set Auxiliary Controller Calendar (0x011A): the same passive special days
    /// table and schedule as ECS46c, and the same activation times, with no switch
    /// identities. Each AuxiliaryControllerSchedule is an entry that commands controller n
    /// to its level at the switch time: selector (0x10 + n, or 0x20 + n with
    /// InputFromControlledLoad) and 0x80 + level (the RTDS's ALCS, APC output and APC input
    /// vectors).
    static func auxiliaryControllerCalendar(_ input: Input) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let body = input.body
        guard let definitions = body.child("AuxiliaryControllerSpecialDayDefinitions") else {
            throw TransformError("\(body.name) has no AuxiliaryControllerSpecialDayDefinitions")
        }
        let days = try auxiliarySpecialDays(definitions.children.filter { $0.name == "AuxiliaryControllerSpecialDayDefinition" }, "identifier")
        let schedules = body.children.filter { $0.name == "AuxiliaryControllerSchedule" }
        guard schedules.count <= 120 else { throw TransformError("\(schedules.count) AuxiliaryControllerSchedule elements: at most 120 are allowed") }
        var entries: [DLMSData] = []
        for (offset, schedule) in schedules.enumerated() {
            guard let action = schedule.child("AuxiliaryControllerAction") else {
                throw TransformError("auxiliary controller schedule \(offset + 1) has no AuxiliaryControllerAction")
            }
            let selector = try auxiliaryControllerSelector(action) | 0x0080
            let entry = try auxiliaryScheduleEntry(offset + 1, selector, schedule, days, applicability: "identifier",
                                                   period: "AuxiliaryControllerSchedulePeriodAndTime")
            entries.append(entry)
        }
        let data: [DLMSData] = [days.table, .array(entries), activationDateTime(input), activationDateTime(input)]
        return Built(useCase: "ECS46d", messageCode: 0x011A, content: access(input, auxiliaryCalendarSpecifications, data))
    }

    // MARK: 7.5, 7.6, 7.8 ECS47

    /// ECS47, Set HC ALCS or ALCS State (0x0055), to switch n on (7.5) or off (7.6) for a
    /// period: the switch's period object 0-0:94.44.(116 + n).1 (on) or .2 (off), class 1
    /// attribute 2, long-unsigned, takes the request's Duration as given, then the script
    /// table runs (n, 0x11) or (n, 0x12). When the period ends the switch returns to its
    /// calendar.
    static func auxiliaryTimedSwitch(_ input: Input, activate: Bool) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let name = activate ? "ActivateALCSHCALCS" : "DeactivateALCSHCALCS"
        guard let element = input.body.child(name) else { throw TransformError("\(input.body.name) has no \(name)") }
        let index = try auxiliaryIndex(element, "index", 1...5)
        let duration = try integer(element, "Duration", as: UInt16.self)
        let state: UInt8 = activate ? 1 : 2
        let period = DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, UInt8(truncatingIfNeeded: 116 + index), state], member: 2)
        let selector = UInt16(truncatingIfNeeded: index) << 8 | UInt16(0x10 | state)
        return Built(useCase: "ECS47", messageCode: 0x0055,
                     content: access(input, [.set(period), .action(auxiliaryScript(103))], [.longUnsigned(duration), .longUnsigned(selector)]))
    }

    /// ECS47 for 7.8, Reset Auxiliary Load (0x0055): the script table runs (n, 0x20),
    /// which ends switch n's timed on or off and returns it to its calendar.
    static func auxiliaryReset(_ input: Input) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        guard let element = input.body.child("ResetALCSHCALCS") else { throw TransformError("\(input.body.name) has no ResetALCSHCALCS") }
        let index = try auxiliaryIndex(element, "index", 1...5)
        let selector = UInt16(truncatingIfNeeded: index) << 8 | 0x20
        return Built(useCase: "ECS47", messageCode: 0x0055, content: access(input, [.action(auxiliaryScript(103))], [.longUnsigned(selector)]))
    }

    // MARK: 7.12 ECS38

    /// ECS38, Update Randomised Offset Limit (0x004B): 0-0:94.44.0.1 (class 1, attribute
    /// 2), long-unsigned seconds 0...1799, the most by which the meter randomly delays its
    /// scheduled switching.
    static func auxiliaryRandomisedOffset(_ input: Input) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let limit = try integer(input.body, "RandomisedOffsetLimit", as: UInt16.self)
        guard limit <= 1799 else { throw TransformError("RandomisedOffsetLimit \(limit) is outside 0...1799") }
        return Built(useCase: "ECS38", messageCode: 0x004B,
                     content: access(input, [.set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, 0, 1], member: 2))], [.longUnsigned(limit)]))
    }

    // MARK: 7.13 ECS47a, 7.16 ECS47e

    /// ECS47a, Set Auxiliary Controller [n] State (0x011E), and ECS47e, Limit APC [n] Level
    /// (0x011F): controller n's override period, StartDateTime and EndDateTime as COSEM
    /// date-times (UTC to the second, deviation unspecified) in 0-0:94.44.(116 + n).1 and .2
    /// (ECS47a) or .3 and .4 (ECS47e), class 1 attribute 2, then a script runs selector
    /// (0x10 + n, or 0x20 + n with InputFromControlledLoad) and the level: the auxiliary
    /// load control script table 0-0:10.0.103.255 for ECS47a, 0-0:10.0.107.255 for ECS47e.
    /// An ALCS or HCALCS is on at level 100, off below.
    static func auxiliaryControllerState(_ input: Input, apcLimit: Bool) throws(TransformError) -> Built {
        try auxiliaryRequireESME(input)
        let body = input.body
        let controller = try auxiliaryIndex(body, "auxiliaryControllerN", 1...5)
        let selector = try auxiliaryControllerSelector(body)
        let start = try auxiliaryDateTime(body, "StartDateTime")
        let end = try auxiliaryDateTime(body, "EndDateTime")
        let object = UInt8(truncatingIfNeeded: 116 + controller)
        let first: UInt8 = apcLimit ? 3 : 1
        let specifications: [DLMSAPDU.RequestSpecification] = [
            .set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, object, first], member: 2)),
            .set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, object, first + 1], member: 2)),
            .action(auxiliaryScript(apcLimit ? 107 : 103)),
        ]
        let content = access(input, specifications, [.octetString(start), .octetString(end), .longUnsigned(selector)])
        return apcLimit ? Built(useCase: "ECS47e", messageCode: 0x011F, content: content) : Built(useCase: "ECS47a", messageCode: 0x011E, content: content)
    }

    // MARK: Helpers

    /// DUIS's day names in the order of a schedule's exec_weekdays bits (Monday first).
    static let auxiliaryWeekdays: [String] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// A calendar's special days: the class 11 table, the width of each schedule entry's
    /// exec_specdays bit-string (the highest index defined) and the indexes defined.
    typealias AuxiliarySpecialDays = (table: DLMSData, bits: Int, defined: Set<Int>)

    /// The calendar objects ECS46c and ECS46d set, in the RTDS's order: the passive special
    /// days table, the passive schedule, and the two activation times.
    static var auxiliaryCalendarSpecifications: [DLMSAPDU.RequestSpecification] {
        [
            .set(DLMSAPDU.Descriptor(classID: 11, instance: [0, 1, 11, 0, 3, 255], member: 2)),
            .set(DLMSAPDU.Descriptor(classID: 10, instance: [0, 1, 12, 0, 2, 255], member: 2)),
            .set(DLMSAPDU.Descriptor(classID: 9000, instance: [0, 0, 94, 44, 128, 26], member: 6)),
            .set(DLMSAPDU.Descriptor(classID: 9000, instance: [0, 0, 94, 44, 128, 35], member: 6)),
        ]
    }

    /// Execute (method 1) on the script table 0-0:10.0.`d`.255 (class 9).
    static func auxiliaryScript(_ d: UInt8) -> DLMSAPDU.Descriptor {
        DLMSAPDU.Descriptor(classID: 9, instance: [0, 0, 10, 0, d, 255], member: 1)
    }

    /// Refuses a command to anything but the electricity meter (every use case here is an ECS).
    static func auxiliaryRequireESME(_ input: Input) throws(TransformError) {
        guard input.deviceType == .esme else {
            throw TransformError("\(input.srv) is a command to the electricity meter (ESME), not to a \(input.deviceType.rawValue)")
        }
    }

    /// An integer attribute (index, identifier, auxiliaryControllerN) in a range.
    static func auxiliaryIndex(_ element: ElementTree, _ attribute: String, _ range: ClosedRange<Int>) throws(TransformError) -> Int {
        guard let raw = element.attributes[attribute] else { throw TransformError("\(element.name) has no \(attribute)") }
        var text = Substring(raw)
        while let first = text.first, first == " " || first == "\t" || first == "\n" || first == "\r" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\n" || last == "\r" { text.removeLast() }
        guard let value = Int(text), range.contains(value) else {
            throw TransformError("\(element.name) \(attribute) \(untrusted(raw, limit: 24)) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// An auxiliary controller's script selector: (0x10 + n, or 0x20 + n with
    /// InputFromControlledLoad) and CommandedStateLevel 0...100, from an element with the
    /// auxiliaryControllerN attribute (AuxiliaryControllerAction, or 7.13's and 7.16's body).
    static func auxiliaryControllerSelector(_ element: ElementTree) throws(TransformError) -> UInt16 {
        let controller = try auxiliaryIndex(element, "auxiliaryControllerN", 1...5)
        let level = try integer(element, "CommandedStateLevel", as: UInt16.self)
        guard level <= 100 else { throw TransformError("CommandedStateLevel \(level) is outside 0...100") }
        let kind: UInt16 = element.child("InputFromControlledLoad") != nil ? 0x20 : 0x10
        return (kind | UInt16(truncatingIfNeeded: controller)) << 8 | level
    }

    /// The special days table 0-1:11.0.3.255: {index, date octet-string(5), day_id = index}
    /// per definition, in the request's order. An index defined twice is refused.
    static func auxiliarySpecialDays(_ definitions: [ElementTree], _ attribute: String) throws(TransformError) -> AuxiliarySpecialDays {
        guard definitions.count <= 20 else { throw TransformError("\(definitions.count) special days: at most 20 are allowed") }
        var defined: Set<Int> = []
        var entries: [DLMSData] = []
        for definition in definitions {
            let index = try auxiliaryIndex(definition, attribute, 1...20)
            guard defined.insert(index).inserted else { throw TransformError("special day \(index) is defined twice") }
            let date = try auxiliaryDate(definition, "special day \(index)")
            entries.append(.structure([.longUnsigned(UInt16(truncatingIfNeeded: index)), .octetString(date), .unsigned(UInt8(truncatingIfNeeded: index))]))
        }
        return (DLMSData.array(entries), defined.max() ?? 0, defined)
    }

    /// One entry of the schedule 0-1:12.0.2.255 (class 10): {index (1-based position),
    /// enable true, script 0-0:10.0.103.255, selector, switch time octet-string(4) hh mm
    /// ss 00 in UTC, validity window 0xFFFF, exec_weekdays bit-string(7) Monday first,
    /// exec_specdays bit-string (special day k is bit k-1, as wide as the highest special
    /// day defined), begin and end date octet-string(5)}. An absent DaysOfWeekApplicability
    /// sets no weekday bit, absent SpecialDaysApplicability no special day bit (the RTDS
    /// shows the latter). A special day the request does not define is refused.
    static func auxiliaryScheduleEntry(_ position: Int, _ selector: UInt16, _ schedule: ElementTree, _ days: AuxiliarySpecialDays,
                                       applicability: String, period: String) throws(TransformError) -> DLMSData {
        var special = [UInt8](repeating: 0, count: (days.bits + 7) / 8)
        for reference in schedule.children where reference.name == "SpecialDaysApplicability" {
            let index = try auxiliaryIndex(reference, applicability, 1...20)
            guard days.defined.contains(index), (index - 1) / 8 < special.count else {
                throw TransformError("schedule entry \(position) applies on special day \(index), which the request does not define")
            }
            special[(index - 1) / 8] |= UInt8(0x80) >> UInt8(truncatingIfNeeded: (index - 1) % 8)
        }
        var weekdays: UInt8 = 0
        if let list = schedule.child("DaysOfWeekApplicability") {
            for day in list.children where day.name == "DayOfWeekApplicability" {
                guard let name = day.value("DayOfWeekID"), let number = auxiliaryWeekdays.firstIndex(of: name) else {
                    throw TransformError("schedule entry \(position) has a DayOfWeekID that is not Monday to Sunday")
                }
                weekdays |= UInt8(0x80) >> UInt8(truncatingIfNeeded: number)
            }
        }
        guard let when = schedule.child(period) else { throw TransformError("schedule entry \(position) has no \(period)") }
        guard let text = when.value("SwitchTime") else { throw TransformError("schedule entry \(position) has no SwitchTime") }
        guard let time = TimeOfDay(xsTime: text) else { throw TransformError("SwitchTime \(untrusted(text, limit: 40)) is not an xs:time") }
        guard let startDate = when.child("StartDate"), let endDate = when.child("EndDate") else {
            throw TransformError("schedule entry \(position) has no StartDate or EndDate")
        }
        let begin = try auxiliaryDate(startDate, "schedule entry \(position) StartDate")
        let end = try auxiliaryDate(endDate, "schedule entry \(position) EndDate")
        let at: [UInt8] = [UInt8(truncatingIfNeeded: time.hour), UInt8(truncatingIfNeeded: time.minute), UInt8(truncatingIfNeeded: time.second), 0x00]
        return .structure([
            .longUnsigned(UInt16(truncatingIfNeeded: position)),
            .boolean(0xFF),
            .octetString([0, 0, 10, 0, 103, 255]),
            .longUnsigned(selector),
            .octetString(at),
            .longUnsigned(0xFFFF),
            .bitString(DLMSData.BitString(bitCount: 7, octets: [weekdays])),
            .bitString(DLMSData.BitString(bitCount: days.bits, octets: special)),
            .octetString(begin),
            .octetString(end),
        ])
    }

    /// A DUIS Date (year, month, day of month and day of week, each given or not) as a
    /// COSEM date octet-string(5): year (0xFFFF not given), month, day (0xFE last, 0xFD
    /// second last, 0xFF not given), day of week 1...7 (0xFF not given). A day that cannot
    /// exist in the given month (and year) is refused.
    static func auxiliaryDate(_ date: ElementTree, _ what: String) throws(TransformError) -> [UInt8] {
        func field(_ name: String, _ specified: String, _ range: ClosedRange<Int>, _ wildcards: [String: Int]) throws(TransformError) -> Int {
            guard let element = date.child(name) else { throw TransformError("\(what) has no \(name)") }
            if element.child(specified) != nil {
                let value = try integer(element, specified, as: Int.self)
                guard range.contains(value) else { throw TransformError("\(what) \(specified) \(value) is outside \(range.lowerBound)...\(range.upperBound)") }
                return value
            }
            for (wildcard, value) in wildcards where element.child(wildcard) != nil { return value }
            throw TransformError("\(what) \(name) is neither \(specified) nor \(wildcards.keys.sorted().joined(separator: ", "))")
        }
        let year = try field("Year", "SpecifiedYear", 0...9999, ["NonSpecifiedYear": 0xFFFF])
        let month = try field("Month", "SpecifiedMonth", 1...12, ["NonSpecifiedMonth": 0xFF])
        let day = try field("DayOfMonth", "SpecifiedDayOfMonth", 1...31,
                            ["NonSpecifiedDayOfMonth": 0xFF, "LastDayOfMonth": 0xFE, "SecondLastDayOfMonth": 0xFD])
        let weekday = try field("DayOfWeek", "SpecifiedDayOfWeek", 1...7, ["NonSpecifiedDayOfWeek": 0xFF])
        if month <= 12, day <= 31 {
            let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let possible = year <= 9999 ? CalendarDay(year: year, month: month, day: day) != nil : day <= longest[month - 1]
            guard possible else { throw TransformError("\(what) has no day \(day) in month \(month)\(year <= 9999 ? " of \(year)" : "")") }
        }
        return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), UInt8(truncatingIfNeeded: month),
                UInt8(truncatingIfNeeded: day), UInt8(truncatingIfNeeded: weekday)]
    }

    /// An xs:dateTime as a COSEM date-time octet-string(12): UTC, to the second (a fraction
    /// is dropped), day of week not given (0xFF), hundredths 00, deviation unspecified
    /// (0x8000), status 0xFF. Only in the years 0000 to 9999.
    static func auxiliaryDateTime(_ element: ElementTree, _ name: String) throws(TransformError) -> [UInt8] {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        guard let time = Timestamp(xsDateTime: text) else { throw TransformError("\(name) \(untrusted(text, limit: 40)) is not an xs:dateTime") }
        guard time >= CalendarDay.first.start, time < CalendarDay.last.end else {
            throw TransformError("\(name) \(untrusted(text, limit: 40)) is outside the years 0000 to 9999")
        }
        let day = CalendarDay(time).civil
        let clock = TimeOfDay(time)
        return [UInt8(truncatingIfNeeded: day.year >> 8), UInt8(truncatingIfNeeded: day.year), UInt8(truncatingIfNeeded: day.month),
                UInt8(truncatingIfNeeded: day.day), 0xFF, UInt8(truncatingIfNeeded: clock.hour), UInt8(truncatingIfNeeded: clock.minute),
                UInt8(truncatingIfNeeded: clock.second), 0x00, 0x80, 0x00, 0xFF]
    }
}
