import DUIS
import GBCS
import MMC

/// GBCS answers: the inverse of Parse and Correlate's TariffReads and PrepaymentAndAuxiliaryReads.
///
/// - ECS24 (4.11.1, electricity) and ECS24b (4.11.2): the tariff's DLMS reads, in the order
///   of the command's GET list (GBCS section 19.2.1).
/// - GCS21f (4.11.1, gas): a GBZ answer to the Price cluster's Read Attributes, the
///   Calendar cluster's Get Day Profiles, Get Week Profiles, Get Seasons and Get Special
///   Days, and Get Current Price.
/// - ECS26a (4.13): the prepayment configuration, eighteen DLMS values.
/// - ECS35g (6.13): the auxiliary controller event log, a compact array.
/// - ECS61d (7.14) and ECS61e (7.15): the auxiliary controllers' configuration and
///   operational data.
///
/// What the MMC element does not carry is written as DCC's reference data (RTDS 4.5.0) has
/// it: the active price's scaler_unit {−5, currency}, the charges' commodity scales and
/// references, a season's start time of day (00:00:00), the credit charge configuration,
/// the gas calendar's provider and issuer calendar IDs and the Publish Price's fixed fields.
extension GBCSAnswers {
    static let tariffAndPrepaymentTable: [String: GBCSAnswerEncoder] = [
        "ECS24": TariffAnswers.primaryElectricity,
        "ECS24b": TariffAnswers.secondaryElement,
        "GCS21f": TariffAnswers.primaryGas,
        "ECS26a": TariffAnswers.prepaymentConfiguration,
        "ECS35g": TariffAnswers.auxiliaryControllerEventLog,
        "ECS61d": TariffAnswers.auxiliaryControllerConfiguration,
        "ECS61e": TariffAnswers.auxiliaryControllerOperationalData,
    ]
}

/// The encoders of the tariff, prepayment and auxiliary controller reads and the pieces
/// they share (a namespace of this file's, so its names meet no other family's).
enum TariffAnswers {
    typealias Answers = GBCSAnswers

    // MARK: - Reading the answer

    /// The child element, or a `.shape` error naming it.
    static func required(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DataNode {
        guard let node = parent.child(name) else { throw .shape("\(parent.name) lacks \(name)") }
        return node
    }

    /// The child element's number, fitted to `T`.
    static func number<T: FixedWidthInteger>(_ parent: DataNode, _ name: String, as _: T.Type = T.self) throws(GBCSAnswerError) -> T {
        try Answers.fit(try Answers.integer(parent, child: name), "\(parent.name)/\(name)")
    }

    /// The element's own number, fitted to `T` and within `range`.
    static func value<T: FixedWidthInteger>(_ node: DataNode, in range: ClosedRange<Int64>, _ what: String, as _: T.Type = T.self) throws(GBCSAnswerError) -> T {
        let number = try Answers.integer(Optional(node), what: what)
        guard range.contains(number) else { throw .shape("\(what) \(number) is outside \(range)") }
        return try Answers.fit(number, what)
    }

    /// An attribute's number within `range`.
    static func attribute(_ node: DataNode, _ name: String, in range: ClosedRange<Int64>) throws(GBCSAnswerError) -> Int {
        guard let text = node.attribute(name), let number = Int64(text), range.contains(number) else {
            throw .shape("\(node.name)'s \(name) \(node.attribute(name) ?? "absent") is not in \(range)")
        }
        return Int(number)
    }

    /// The children named `name` with their `index` attribute (in `range`), each index once,
    /// sorted by index.
    static func indexed(_ parent: DataNode?, _ name: String, attribute key: String = "index", in range: ClosedRange<Int64>) throws(GBCSAnswerError) -> [(index: Int, node: DataNode)] {
        guard let parent else { return [] }
        var found: [(index: Int, node: DataNode)] = []
        var seen: Set<Int> = []
        for child in parent.all(name) {
            let index = try attribute(child, key, in: range)
            guard seen.insert(index).inserted else { throw .shape("\(parent.name) has \(name) \(index) twice") }
            found.append((index, child))
        }
        return found.sorted { $0.index < $1.index }
    }

    /// Printable ASCII text of at most `limit` characters, as DLMS octets.
    static func text(_ node: DataNode?, _ what: String, limit: Int) throws(GBCSAnswerError) -> [UInt8] {
        let octets = Array((node?.text ?? "").utf8)
        guard octets.count <= limit, octets.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .shape("\(what) is not printable text of at most \(limit) characters") }
        return octets
    }

    /// Two decimal digits at `offset` of `octets`.
    static func twoDigits(_ octets: [UInt8], _ offset: Int) -> Int? {
        guard offset + 1 < octets.count, (0x30...0x39).contains(octets[offset]), (0x30...0x39).contains(octets[offset + 1]) else { return nil }
        return Int(octets[offset] - 0x30) * 10 + Int(octets[offset + 1] - 0x30)
    }

    /// An MMC time of day (`hh:mm:ss`, optionally `.cc` hundredths and `Z`) as a DLMS time,
    /// octet-string(4): hour, minute, second, hundredths.
    static func time(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        let octets = Array((node?.text ?? "").utf8)
        guard octets.count >= 8, octets[2] == 0x3A, octets[5] == 0x3A, let hour = twoDigits(octets, 0), let minute = twoDigits(octets, 3),
              let second = twoDigits(octets, 6), hour <= 23, minute <= 59, second <= 59 else { throw .shape("\(what) is not a time of day (\(node?.text ?? "absent"))") }
        var rest = octets[8...]
        var hundredths = 0
        if rest.first == 0x2E {
            let digits = Array(rest.dropFirst().prefix { (0x30...0x39).contains($0) })
            guard !digits.isEmpty else { throw .shape("\(what) has an empty fraction") }
            hundredths = Int(digits[0] - 0x30) * 10 + (digits.count > 1 ? Int(digits[1] - 0x30) : 0)
            rest = rest.dropFirst(1 + digits.count)
        }
        guard rest.isEmpty || Array(rest) == [0x5A] else { throw .shape("\(what) is not a UTC time of day (\(node?.text ?? ""))") }
        return [UInt8(hour), UInt8(minute), UInt8(second), UInt8(hundredths)]
    }

    /// The one child element of a choice (`Year`'s `SpecifiedYear` or `NonSpecifiedYear`…).
    static func choice(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DataNode {
        guard let node = parent.child(name)?.children.first else { throw .shape("\(parent.name) lacks \(name)") }
        return node
    }

    /// An MMC `Date` (Year, Month, DayOfMonth, DayOfWeek, each specified or not) as a Blue
    /// Book date, octet-string(5): year (0xFFFF not specified), month, day of month (0xFE
    /// the last, 0xFD the second last), day of week (0xFF not specified).
    static func date(_ node: DataNode) throws(GBCSAnswerError) -> [UInt8] {
        var octets: [UInt8] = []
        let year = try choice(node, "Year")
        switch year.name {
        case "NonSpecifiedYear": octets += [0xFF, 0xFF]
        case "SpecifiedYear":
            let number: UInt16 = try value(year, in: 2014...9999, "\(node.name)'s year")
            octets += [UInt8(truncatingIfNeeded: number >> 8), UInt8(truncatingIfNeeded: number)]
        default: throw .shape("\(node.name)'s year is \(year.name)")
        }
        let month = try choice(node, "Month")
        switch month.name {
        case "NonSpecifiedMonth": octets.append(0xFF)
        case "SpecifiedMonth": octets.append(try value(month, in: 1...12, "\(node.name)'s month"))
        default: throw .shape("\(node.name)'s month is \(month.name)")
        }
        let day = try choice(node, "DayOfMonth")
        switch day.name {
        case "NonSpecifiedDayOfMonth": octets.append(0xFF)
        case "LastDayOfMonth": octets.append(0xFE)
        case "SecondLastDayOfMonth": octets.append(0xFD)
        case "SpecifiedDayOfMonth": octets.append(try value(day, in: 1...31, "\(node.name)'s day of month"))
        default: throw .shape("\(node.name)'s day of month is \(day.name)")
        }
        let weekday = try choice(node, "DayOfWeek")
        switch weekday.name {
        case "NonSpecifiedDayOfWeek": octets.append(0xFF)
        case "SpecifiedDayOfWeek": octets.append(try value(weekday, in: 1...7, "\(node.name)'s day of week"))
        default: throw .shape("\(node.name)'s day of week is \(weekday.name)")
        }
        return octets
    }

    /// An `xs:date` (`YYYY-MM-DD`, optionally `Z`) as a Blue Book date with the day of week
    /// not specified; the year 65535 is "not specified" (0xFFFF), as DUIS writes it.
    static func plainDate(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        let text = node?.text ?? ""
        let parts = text.hasSuffix("Z") ? text.dropLast().split(separator: "-", omittingEmptySubsequences: false) : text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let year = UInt16(parts[0]), year >= 1000, parts[1].count == 2, let month = UInt8(parts[1]), (1...12).contains(month),
              parts[2].count == 2, let day = UInt8(parts[2]), (1...31).contains(day) else { throw .shape("\(what) is not a date (\(text))") }
        return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), month, day, 0xFF]
    }

    /// Bits as a DLMS bit-string, the first the most significant bit of the first octet.
    static func bitString(_ bits: [Bool]) -> DLMSData {
        var octets = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (index, bit) in bits.enumerated() where bit { octets[index / 8] |= 0x80 >> UInt8(index % 8) }
        return .bitString(DLMSData.BitString(bitCount: bits.count, octets: octets))
    }

    /// The days of the week, in the order of an exec_weekdays bit-string.
    static let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// MMC's `DaysOfWeekApplicability` (absent: no day) as exec_weekdays, bit-string(7).
    static func weekdays(_ node: DataNode?) throws(GBCSAnswerError) -> DLMSData {
        var bits = [Bool](repeating: false, count: 7)
        for day in node?.all("DayOfWeekApplicability") ?? [] {
            guard let name = day.child("DayOfWeekID")?.text, let position = dayNames.firstIndex(of: name) else {
                throw .shape("a day of week \(day.child("DayOfWeekID")?.text ?? "absent")")
            }
            bits[position] = true
        }
        return bitString(bits)
    }

    /// A Schedule entry (class 10 attribute 2): index, enable (true), script logical name,
    /// script selector, switch time, validity window 0xFFFF, exec_weekdays, exec_specdays
    /// (one bit per special day of the table, `specialDayCount` bits), begin and end dates.
    static func scheduleEntry(index: Int, script: [UInt8], selector: UInt16, switchTime: [UInt8], weekdays: DLMSData,
                              specialDays: [Int], specialDayCount: Int, begin: [UInt8], end: [UInt8]) throws(GBCSAnswerError) -> DLMSData {
        let count = max(specialDayCount, specialDays.max() ?? 0)
        guard count <= 20 else { throw .shape("a schedule entry refers to special day \(count) (at most 20)") }
        var bits = [Bool](repeating: false, count: count)
        for day in specialDays {
            guard day >= 1 else { throw .shape("a schedule entry refers to special day \(day)") }
            bits[day - 1] = true
        }
        return .structure([.longUnsigned(try Answers.fit(Int64(index), "a schedule entry's index")), .boolean(0xFF), .octetString(script),
                           .longUnsigned(selector), .octetString(switchTime), .longUnsigned(0xFFFF), weekdays, bitString(bits),
                           .octetString(begin), .octetString(end)])
    }

    /// A special days table entry: {index long-unsigned, specialday_date octet-string(5),
    /// day_id unsigned}.
    static func specialDay(index: Int, date: [UInt8], day: Int) throws(GBCSAnswerError) -> DLMSData {
        .structure([.longUnsigned(try Answers.fit(Int64(index), "a special day's index")), .octetString(date),
                    .unsigned(try Answers.fit(Int64(day), "a special day's day_id"))])
    }

    /// A Charge's `unit_charge_active`: {charge_per_unit_scaling {commodity_scale,
    /// price_scale}, commodity_reference {class_id, logical_name, attribute_index},
    /// charge_table [{index, charge_per_unit long}]}.
    static func unitCharge(commodityScale: Int8, priceScale: Int8, reference: (UInt16, [UInt8], Int8), charges: [([UInt8], Int16)]) -> DLMSData {
        .structure([
            .structure([.integer(commodityScale), .integer(priceScale)]),
            .structure([.longUnsigned(reference.0), .octetString(reference.1), .integer(reference.2)]),
            .array(charges.map { .structure([.octetString($0.0), .long($0.1)]) }),
        ])
    }

    /// A charge with no commodity (standing charge, time-based debt): commodity scale 0,
    /// reference {0, 0-0:0.0.0.0, 0} and one charge of empty index.
    static func flatCharge(_ charge: Int16, priceScale: Int8) -> DLMSData {
        unitCharge(commodityScale: 0, priceScale: priceScale, reference: (0, [0, 0, 0, 0, 0, 0], 0), charges: [([], charge)])
    }

    static func get(_ classID: UInt16, _ obis: [UInt8], _ member: Int8) -> DLMSAPDU.RequestSpecification {
        .get(DLMSAPDU.Descriptor(classID: classID, instance: obis, member: member))
    }

    /// The command's requests, or the use case's GET list where the command did not come
    /// as GBCS; a command of another number of requests is not this use case's.
    static func askedRequests(_ context: GBCSAnswerContext, _ fallback: [DLMSAPDU.RequestSpecification]) throws(GBCSAnswerError) -> [DLMSAPDU.RequestSpecification] {
        guard let requests = context.requests else { return fallback }
        guard context.succeeded == false || requests.count == fallback.count else {
            throw .shape("\(context.useCase.name) answers \(fallback.count) requests, and the command has \(requests.count)")
        }
        return requests
    }

    // MARK: - Tariff switching tables (ECS24, ECS24b)

    /// The Tariff script table, 0-0:10.0.100.255.
    static let tariffScriptTable: [UInt8] = [0x00, 0x00, 0x0A, 0x00, 0x64, 0xFF]

    /// The active price's scaler_unit: −5 and currency (254), as GBCS fixes it.
    static let priceScalerUnit: DLMSData = .structure([.integer(-5), .enumerated(254)])

    /// `Seasons` as activity calendar attribute 3: {season_profile_name (text), season_start
    /// date-time octet-string(12) (the date, 00:00:00.00, deviation and status not
    /// specified), week_name (one octet, the week's number)}.
    static func seasons(_ node: DataNode?) throws(GBCSAnswerError) -> DLMSData {
        let entries = node?.all("Season") ?? []
        guard entries.count <= 4 else { throw .shape("\(entries.count) seasons (at most 4)") }
        var seasons: [DLMSData] = []
        for season in entries {
            let start = try date(try required(season, "SeasonStartDate")) + [0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xFF]
            let week: UInt8 = try value(try required(season, "ReferencedWeekName"), in: 1...4, "a season's week")
            seasons.append(.structure([.octetString(try text(season.child("SeasonName"), "a season's name", limit: 8)), .octetString(start), .octetString([week])]))
        }
        return .array(seasons)
    }

    /// `WeekProfiles` as activity calendar attribute 4: {week_profile_name (one octet),
    /// day_id Monday … Sunday}.
    static func weekProfiles(_ node: DataNode?) throws(GBCSAnswerError) -> DLMSData {
        let entries = node?.all("WeekProfile") ?? []
        guard entries.count <= 4 else { throw .shape("\(entries.count) week profiles (at most 4)") }
        var weeks: [DLMSData] = []
        for week in entries {
            let name: UInt8 = try value(try required(week, "WeekName"), in: 1...4, "a week's name")
            let days = try indexed(week, "ReferencedElecDay", in: 1...7)
            guard days.count == 7 else { throw .shape("week \(name) names \(days.count) days, not 7") }
            var fields: [DLMSData] = [.octetString([name])]
            for day in days { fields.append(.unsigned(try value(day.node, in: 1...16, "week \(name)'s day \(day.index)"))) }
            weeks.append(.structure(fields))
        }
        return .array(weeks)
    }

    /// `DayProfiles` as activity calendar attribute 5: {day_id, day_schedule [{start_time,
    /// the Tariff script table, script_selector}]}, each action's selector by `selector`.
    static func dayProfiles(_ node: DataNode?, selector: (DataNode) throws(GBCSAnswerError) -> UInt16) throws(GBCSAnswerError) -> DLMSData {
        let entries = node?.all("DayProfile") ?? []
        guard entries.count <= 16 else { throw .shape("\(entries.count) day profiles (at most 16)") }
        var days: [DLMSData] = []
        for day in entries {
            let id: UInt8 = try value(try required(day, "Day"), in: 1...16, "a day profile's day")
            let steps = day.all("ProfileSchedule")
            guard steps.count <= 48 else { throw .shape("day \(id) has \(steps.count) actions (at most 48)") }
            var schedule: [DLMSData] = []
            for step in steps {
                schedule.append(.structure([.octetString(try time(step.child("StartTime"), "day \(id)'s start time")), .octetString(tariffScriptTable),
                                            .longUnsigned(try selector(step))]))
            }
            days.append(.structure([.unsigned(id), .array(schedule)]))
        }
        return .array(days)
    }

    /// `TariffSwitchingTableSpecialDays` (absent: none) as the special days table, indexes
    /// counted from `first`.
    static func tariffSpecialDays(_ node: DataNode?, first: Int) throws(GBCSAnswerError) -> DLMSData {
        let entries = node?.all("SpecialDay") ?? []
        guard entries.count <= 50 else { throw .shape("\(entries.count) special days (at most 50)") }
        var days: [DLMSData] = []
        for (position, day) in entries.enumerated() {
            let id: Int = try value(try required(day, "ReferencedDay"), in: 1...16, "a special day's day")
            days.append(try specialDay(index: first + position, date: try date(try required(day, "Date")), day: id))
        }
        return .array(days)
    }

    /// `TariffTOUPriceMatrix`'s prices 1…`rates` as charge table elements (index one octet,
    /// the rate), in rate order.
    static func touCharges(_ node: DataNode?, rates: Int64) throws(GBCSAnswerError) -> [([UInt8], Int16)] {
        var charges: [([UInt8], Int16)] = []
        for price in try indexed(node, "TariffTOUPrice", in: 1...rates) {
            charges.append(([UInt8(truncatingIfNeeded: price.index)], try value(price.node, in: -32768...32767, "TOU price \(price.index)")))
        }
        return charges
    }

    /// ECS24 (4.11.1, electricity): seventeen GETs in the use case's order.
    static let primaryRequests: [DLMSAPDU.RequestSpecification] = {
        let price: [UInt8] = [0, 0, 94, 44, 1, 7], calendar: [UInt8] = [0, 0, 13, 0, 0, 255]
        var list = [get(3, price, 2), get(3, price, 3), get(20, calendar, 3), get(20, calendar, 4), get(20, calendar, 5), get(11, [0, 0, 11, 0, 0, 255], 2)]
        for rate in 1...8 { list.append(get(21, [0, 0, 16, 0, UInt8(10 + rate), 255], 2)) }
        list += [get(9000, [0, 0, 94, 44, 2, 0], 2), get(113, [0, 0, 19, 20, 4, 255], 5), get(113, [0, 0, 19, 20, 0, 255], 5)]
        return list
    }()

    /// ECS24 (4.11.1): 0 the active tariff price (double-long-unsigned) and 1 its
    /// scaler_unit; 2–4 the activity calendar's seasons, weeks and days (selectors 1…48 TOU
    /// rates, 101…108 block tariffs); 5 the special days (indexes from 1); 6–13 the block
    /// thresholds of TOU rates 1…8 (arrays of double-long-unsigned, an absent rate none);
    /// 14 the currency (boolean, GBP true, euro false); 15 the standing charge; 16 the price
    /// matrix (commodity scale 3 of 1-0:1.8.0.255 attribute 2: TOU prices 0x01…0x30, then
    /// block prices 0xA1…0xD8 block by block).
    static let primaryElectricity: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, primaryRequests)
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let electricity = try required(body, "Electricity")
        let currency: UInt8
        switch electricity.child("CurrencyUnitsLabel")?.text {
        case "GBP": currency = 0xFF
        case "ECB": currency = 0x00
        case let other: throw .shape("currency \(other ?? "absent"), neither GBP nor ECB")
        }
        var charges = try touCharges(electricity.child("TariffTOUPriceMatrix"), rates: 48)
        var blocks: [(block: Int, tariff: Int, price: Int16)] = []
        for row in try indexed(electricity.child("TariffBlockPriceMatrix"), "TariffBlockPrices", in: 1...8) {
            for price in try indexed(row.node, "BlockPrice", in: 1...4) {
                blocks.append((price.index, row.index, try value(price.node, in: -32768...32767, "block tariff \(row.index)'s price \(price.index)")))
            }
        }
        blocks.sort { ($0.block, $0.tariff) < ($1.block, $1.tariff) }
        charges += blocks.map { ([UInt8(truncatingIfNeeded: (9 + $0.block) << 4 | $0.tariff)], $0.price) }
        let switching = try required(electricity, "TariffSwitchingTable")
        let days = try dayProfiles(switching.child("DayProfiles")) { step throws(GBCSAnswerError) -> UInt16 in
            if let tou = step.child("TOUTariffAction") { return try value(tou, in: 1...48, "a TOU tariff action") }
            if let block = step.child("BlockTariffAction") { return 100 + (try value(block, in: 1...8, "a block tariff action") as UInt16) }
            throw .shape("a profile schedule with neither a TOU nor a block tariff action")
        }
        var data: [DLMSData] = [
            .doubleLongUnsigned(try number(electricity, "PrimaryActiveTariffPrice")), priceScalerUnit,
            try seasons(switching.child("Seasons")), try weekProfiles(switching.child("WeekProfiles")), days,
            try tariffSpecialDays(electricity.child("TariffSwitchingTableSpecialDays"), first: 1),
        ]
        let rows = try indexed(electricity.child("TariffThresholdMatrix"), "ElecTariffThresholds", in: 1...8)
        for rate in 1...8 {
            let thresholds = try indexed(rows.first { $0.index == rate }?.node, "BlockThreshold", in: 1...3)
            guard thresholds.enumerated().allSatisfy({ $0.offset + 1 == $0.element.index }) else {
                throw .shape("TOU rate \(rate)'s block thresholds are not numbered 1…\(thresholds.count)")
            }
            var values: [DLMSData] = []
            for threshold in thresholds { values.append(.doubleLongUnsigned(try value(threshold.node, in: 0...Int64(UInt32.max), "a block threshold"))) }
            data.append(.array(values))
        }
        data.append(.boolean(currency))
        data.append(flatCharge(try number(electricity, "StandingCharge"), priceScale: try number(electricity, "StandingChargeScale")))
        data.append(unitCharge(commodityScale: 3, priceScale: try number(electricity, "PriceScale"), reference: (3, [1, 0, 1, 8, 0, 255], 2), charges: charges))
        return Answers.dlms(context, data, Answers.successes(requests))
    }

    /// ECS24b (4.11.2): seven GETs in the use case's order.
    static let secondaryRequests: [DLMSAPDU.RequestSpecification] = {
        let price: [UInt8] = [0, 0, 94, 44, 1, 8], calendar: [UInt8] = [0, 0, 13, 0, 1, 255]
        return [get(113, [0, 0, 19, 20, 5, 255], 5), get(3, price, 2), get(3, price, 3), get(11, [0, 0, 11, 0, 1, 255], 2),
                get(20, calendar, 3), get(20, calendar, 4), get(20, calendar, 5)]
    }()

    /// ECS24b (4.11.2): 0 the secondary price matrix (commodity scale 3 of 1-0:20.1.8.0.255
    /// attribute 2, TOU prices 0x01…0x04), 1 the secondary active tariff price and 2 its
    /// scaler_unit, 3 the special days (indexes from 0, as RTDS has them), 4–6 the secondary
    /// activity calendar's seasons, weeks and days (selectors 201…204, TOU rates 1…4).
    static let secondaryElement: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, secondaryRequests)
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let matrix = unitCharge(commodityScale: 3, priceScale: try number(body, "PriceScale"), reference: (3, [1, 20, 1, 8, 0, 255], 2),
                                charges: try touCharges(body.child("TariffTOUPriceMatrix"), rates: 4))
        // A single-element meter's secondary element holds no calendar: its seasons, weeks
        // and days are empty.
        let switching = body.child("TariffSwitchingTable") ?? DataNode("TariffSwitchingTable")
        let days = try dayProfiles(switching.child("DayProfiles")) { step throws(GBCSAnswerError) -> UInt16 in
            guard let tou = step.child("TOUTariffAction") else { throw .shape("a secondary profile schedule without a TOU tariff action") }
            return 200 + (try value(tou, in: 1...4, "a secondary TOU tariff action") as UInt16)
        }
        let data: [DLMSData] = [
            matrix, .doubleLongUnsigned(try number(body, "SecondaryActiveTariffPrice")), priceScalerUnit,
            try tariffSpecialDays(body.child("TariffSwitchingTableSpecialDays"), first: 0),
            try seasons(switching.child("Seasons")), try weekProfiles(switching.child("WeekProfiles")), days,
        ]
        return Answers.dlms(context, data, Answers.successes(requests))
    }

    // MARK: - Gas tariff (GCS21f)

    static let priceCluster: UInt16 = 0x0700
    static let calendarCluster: UInt16 = 0x0707

    /// The Price cluster attributes GCS21f reads, in the use case's order.
    static let gasAttributes: [UInt16] = [0x0203, 0x0202, 0x0100, 0x0101, 0x0102, 0x0615, 0x0400, 0x0401, 0x0402, 0x0403,
                                          0x0410, 0x0420, 0x0430, 0x0440, 0x0616, 0x0617, 0x0301]

    /// The issuer calendar ID the calendar commands carry. gbsm's tariffs keep none; this is
    /// the one of DCC's reference data (0x1C0FBD80, 2014-12-02T00:00:00Z).
    static let issuerCalendarID: UInt32 = 0x1C0F_BD80

    /// `value` little-endian in `size` octets.
    static func littleEndian(_ value: UInt64, _ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }

    /// A gas date with wildcards as a ZCL Date: year − 1900, month, day of month, day of
    /// week (Monday 1), 0xFF not specified.
    static func gasDate(_ node: DataNode) throws(GBCSAnswerError) -> [UInt8] {
        var octets: [UInt8] = []
        let year = try choice(node, "GasYearWithWildcards")
        switch year.name {
        case "NonSpecifiedYear": octets.append(0xFF)
        case "SpecifiedYear": octets.append(UInt8(truncatingIfNeeded: (try value(year, in: 2014...2154, "\(node.name)'s year") as Int) - 1900))
        default: throw .shape("\(node.name)'s year is \(year.name)")
        }
        let month = try choice(node, "GasMonthWithWildcards")
        switch month.name {
        case "NonSpecifiedMonth": octets.append(0xFF)
        case "SpecifiedMonth": octets.append(try value(month, in: 1...12, "\(node.name)'s month"))
        default: throw .shape("\(node.name)'s month is \(month.name)")
        }
        let day = try choice(node, "GasDayOfMonthWithWildcards")
        switch day.name {
        case "GasNonSpecifiedDayOfMonth": octets.append(0xFF)
        case "SpecifiedDayOfMonth": octets.append(try value(day, in: 1...31, "\(node.name)'s day of month"))
        default: throw .shape("\(node.name)'s day of month is \(day.name)")
        }
        let weekday = try choice(node, "GasDayOfWeekWithWildcards")
        switch weekday.name {
        case "NonSpecifiedDayOfWeek": octets.append(0xFF)
        case "SpecifiedDayOfWeek": octets.append(try value(weekday, in: 1...7, "\(node.name)'s day of week"))
        default: throw .shape("\(node.name)'s day of week is \(weekday.name)")
        }
        return octets
    }

    /// A decimal number of m³ (`100`, `0.5`, `100.000`) in litres, exactly.
    static func litres(_ node: DataNode, _ what: String) throws(GBCSAnswerError) -> UInt64 {
        let text = node.text ?? ""
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].allSatisfy({ $0.isASCII && $0.isNumber }), let whole = UInt64(parts[0]) else { throw .shape("\(what) is not a volume (\(text))") }
        var fraction: UInt64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .shape("\(what) is not a volume (\(text))") }
            let kept = String(digits.prefix(3)), dropped = digits.dropFirst(3)
            guard dropped.allSatisfy({ $0 == "0" }), let value = UInt64(kept + String(repeating: "0", count: 3 - kept.count)) else {
                throw .shape("\(what) \(text) is not a whole number of litres")
            }
            fraction = value
        }
        let (thousands, overflow) = whole.multipliedReportingOverflow(by: 1000)
        guard !overflow, thousands <= 0xFFFF_FFFF_FFFF - fraction else { throw .shape("\(what) \(text) does not fit UINT48") }
        return thousands + fraction
    }

    /// One GBZ component of a ZCL frame from the server (the answer's side).
    static func component(_ cluster: UInt16, frameControl: UInt8, sequence: UInt8, command: UInt8, _ payload: [UInt8]) -> GBZComponent {
        GBZComponent(control: 0x00, cluster: cluster, frameControl: frameControl, sequenceNumber: sequence, command: command, payload: .plain(payload))
    }

    /// The GBZ payload of `components`, the last marked the last (control bit 0).
    static func gbz(_ components: [GBZComponent]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        var parts = components
        guard let last = parts.indices.last else { throw .shape("a GBZ answer of no components") }
        parts[last].control |= 0x01
        return GBCSAnswerBody(.gbz(GBZPayload(componentCount: try Answers.fit(Int64(parts.count), "the GBZ component count"), components: parts)))
    }

    /// What GCS21f's command asked: each component's cluster, whether it is profile-wide,
    /// its command, sequence number and payload. Where the command did not come as GBCS,
    /// the use case's six, numbered 0…5 as DCC builds them.
    static func gasQuestions(_ context: GBCSAnswerContext) -> [GBZComponent] {
        if let components = context.commandComponents, !components.isEmpty { return components }
        let attributes = gasAttributes.flatMap { littleEndian(UInt64($0), 2) }
        let asked: [(UInt16, UInt8, UInt8, [UInt8])] = [
            (priceCluster, 0x00, 0x00, attributes),
            (calendarCluster, 0x01, 0x01, [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00]),
            (calendarCluster, 0x01, 0x02, [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00]),
            (calendarCluster, 0x01, 0x03, [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            (calendarCluster, 0x01, 0x04, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            (priceCluster, 0x01, 0x00, [0x00]),
        ]
        return asked.enumerated().map { position, item in
            GBZComponent(control: position == asked.count - 1 ? 0x01 : 0x00, cluster: item.0, frameControl: item.1,
                         sequenceNumber: UInt8(truncatingIfNeeded: position), command: item.2, payload: .plain(item.3))
        }
    }

    /// GCS21f (4.11.1, gas): one answer per command component, with its sequence number:
    /// - Read Attributes (Price cluster): a Read Attributes Response of ThresholdDivisor
    ///   1000 and ThresholdMultiplier 1 (UINT24), Block1…3Threshold (UINT48, litres; an
    ///   absent threshold 0xFFFFFFFFFFFF, never reached), UnitofMeasure (enum8 0),
    ///   NoTierBlock1…4Price and Tier1…4Block1Price (UINT32), Currency (UINT16, 826 GBP,
    ///   978 euro), Price Trailing Digit (bitmap8, −PrimaryActiveTariffPriceScale in the
    ///   high nibble) and Standing Charge (UINT32), in the order asked.
    /// - Get Day Profiles: a PublishDayProfile per day (provider 0, issuer event ID the
    ///   device's clock, issuer calendar ID, day ID, one entry, command 0 of 1, calendar
    ///   type 0, then start time 0 and price tier: the TOU rate 1…4, or 0 for the block tariff).
    /// - Get Week Profiles: a PublishWeekProfile per week (IDs, week ID, day IDs Monday … Sunday).
    /// - Get Seasons: one PublishSeasons (IDs, command 0 of 1, then {ZCL Date, week ID}).
    /// - Get Special Days: one PublishSpecialDays (IDs, start time 0, calendar type 0,
    ///   count, command 0 of 1, then {ZCL Date, day ID}).
    /// - Get Current Price: a Publish Price (provider 0, no rate label, issuer event ID and
    ///   current time the device's clock, unit of measure m³, currency, trailing digit and
    ///   price tier, four tiers and the register tier, start time now, 1440 minutes, price).
    ///   The tier is the TOU rate whose price is the active price, else 0 (block pricing).
    /// A refusal answers each component with a Default Response: FAILURE (0x01) to the Read
    /// Attributes, NOT_FOUND (0x8B) to the others, as the RTDS NOT_FOUND answer.
    static let primaryGas: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let questions = gasQuestions(context)
        guard context.succeeded else {
            return try gbz(questions.map { question in
                component(question.cluster, frameControl: 0x08, sequence: question.sequenceNumber, command: 0x0B,
                          [question.command, question.isProfileWide && question.command == 0x00 ? 0x01 : 0x8B])
            })
        }
        let gas = try required(body, "Gas")
        let now = UInt64(context.seconds2000)
        let ids = littleEndian(0, 4) + littleEndian(now, 4) + littleEndian(UInt64(issuerCalendarID), 4)
        let scale: Int64 = try number(gas, "PrimaryActiveTariffPriceScale")
        guard (-15...0).contains(scale) else { throw .shape("a gas price scale of \(scale) (a trailing digit 0…15)") }
        let trailing = UInt8(truncatingIfNeeded: -scale)
        let currency: UInt64
        switch gas.child("CurrencyUnitsLabel")?.text {
        case "GBP": currency = 826
        case "ECB": currency = 978
        case let other: throw .shape("currency \(other ?? "absent"), neither GBP nor ECB")
        }
        let active: UInt32 = try number(gas, "PrimaryActiveTariffPrice")
        var touPrices: [Int: UInt64] = [:]
        for price in try indexed(gas.child("TOUTariff"), "TariffTOUPrice", in: 1...4) {
            touPrices[price.index] = try value(price.node, in: 0...Int64(UInt32.max), "TOU price \(price.index)")
        }
        var blockPrices: [Int: UInt64] = [:]
        for price in try indexed(gas.child("BlockTariff"), "BlockPrice", in: 1...4) {
            blockPrices[price.index] = try value(price.node, in: 0...Int64(UInt32.max), "block price \(price.index)")
        }
        var thresholds: [Int: UInt64] = [:]
        for threshold in try indexed(gas.child("TariffThresholds"), "BlockThreshold", in: 1...3) {
            thresholds[threshold.index] = try litres(threshold.node, "block threshold \(threshold.index)")
        }
        let standing: UInt32 = try number(gas, "StandingCharge")
        func attribute(_ id: UInt16) -> ZCLAttributeRecord {
            func record(_ type: UInt8, _ value: UInt64, _ size: Int) -> ZCLAttributeRecord {
                ZCLAttributeRecord(id: id, status: 0x00, value: ZCLValue(type: type, octets: littleEndian(value, size)))
            }
            switch id {
            case 0x0203: return record(0x22, 1000, 3)
            case 0x0202: return record(0x22, 1, 3)
            case 0x0100...0x0102: return record(0x25, thresholds[Int(id - 0x0100) + 1] ?? 0xFFFF_FFFF_FFFF, 6)
            case 0x0615: return record(0x30, 0, 1)
            case 0x0400...0x0403: return record(0x23, blockPrices[Int(id - 0x0400) + 1] ?? 0, 4)
            case 0x0410, 0x0420, 0x0430, 0x0440: return record(0x23, touPrices[Int(id - 0x0400) >> 4] ?? 0, 4)
            case 0x0616: return record(0x21, currency, 2)
            case 0x0617: return record(0x18, UInt64(trailing) << 4, 1)
            case 0x0301: return record(0x23, UInt64(standing), 4)
            default: return ZCLAttributeRecord(id: id, status: 0x86, value: nil)
            }
        }
        let switching = try required(gas, "TariffSwitchingTable")
        let dayNodes = switching.child("DayProfiles")?.all("DayProfile") ?? []
        guard dayNodes.count <= 4 else { throw .shape("\(dayNodes.count) gas day profiles (at most 4)") }
        var dayPayloads: [[UInt8]] = []
        for day in dayNodes {
            let id: UInt8 = try value(try required(day, "DayName"), in: 1...4, "a gas day profile's day")
            let tier: UInt8
            if let tou = day.child("TOUTariffAction") {
                tier = try value(tou, in: 1...4, "a gas TOU tariff action")
            } else if day.child("BlockTariff") != nil {
                tier = 0
            } else {
                throw .shape("gas day \(id) is neither TOU nor block")
            }
            dayPayloads.append(ids + [id, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, tier])
        }
        let weekNodes = switching.child("WeekProfiles")?.all("WeekProfile") ?? []
        guard weekNodes.count <= 2 else { throw .shape("\(weekNodes.count) gas week profiles (at most 2)") }
        var weekPayloads: [[UInt8]] = []
        for week in weekNodes {
            let id: UInt8 = try value(try required(week, "WeekName"), in: 1...2, "a gas week's name")
            let days = try indexed(week, "ReferencedDay", in: 1...7)
            guard days.count == 7 else { throw .shape("gas week \(id) names \(days.count) days, not 7") }
            var payload = ids + [id]
            for day in days { payload.append(try value(day.node, in: 1...4, "gas week \(id)'s day \(day.index)")) }
            weekPayloads.append(payload)
        }
        let seasonNodes = switching.child("Seasons")?.all("Season") ?? []
        guard seasonNodes.count <= 3 else { throw .shape("\(seasonNodes.count) gas seasons (at most 3)") }
        var seasons = ids + [0x00, 0x01]
        for season in seasonNodes {
            seasons += try gasDate(try required(season, "SeasonStartDate"))
            seasons.append(try value(try required(season, "ReferencedWeekName"), in: 1...2, "a gas season's week"))
        }
        let specialNodes = gas.child("TariffSwitchingTableSpecialDays")?.all("SpecialDay") ?? []
        guard specialNodes.count <= 20 else { throw .shape("\(specialNodes.count) gas special days (at most 20)") }
        var special = ids + [0, 0, 0, 0, 0x00, UInt8(truncatingIfNeeded: specialNodes.count), 0x00, 0x01]
        for day in specialNodes {
            special += try gasDate(try required(day, "Date"))
            special.append(try value(try required(day, "ReferencedDay"), in: 1...4, "a gas special day's day"))
        }
        let tier = UInt8(truncatingIfNeeded: touPrices.sorted { $0.key < $1.key }.first { $0.value == UInt64(active) }?.key ?? 0)
        let price = littleEndian(0, 4) + [0x00] + littleEndian(now, 4) + littleEndian(now, 4) + [0x01] + littleEndian(currency, 2)
            + [trailing << 4 | tier, 0x40 | tier] + littleEndian(0, 4) + littleEndian(1440, 2) + littleEndian(UInt64(active), 4)

        var answers: [GBZComponent] = []
        for question in questions {
            let sequence = question.sequenceNumber
            switch (question.cluster, question.isProfileWide, question.command) {
            case (priceCluster, true, 0x00):
                guard case .plain(let asked) = question.payload, asked.count % 2 == 0 else { throw .shape("a Read Attributes command that is not a list of attributes") }
                let records = stride(from: 0, to: asked.count, by: 2).map { attribute(UInt16(asked[$0]) | UInt16(asked[$0 + 1]) << 8) }
                answers.append(component(priceCluster, frameControl: 0x18, sequence: sequence, command: 0x01, ZCLAttributeRecord.encodeReadAttributesResponse(records)))
            case (calendarCluster, false, 0x01):
                answers += dayPayloads.map { component(calendarCluster, frameControl: 0x19, sequence: sequence, command: 0x01, $0) }
            case (calendarCluster, false, 0x02):
                answers += weekPayloads.map { component(calendarCluster, frameControl: 0x19, sequence: sequence, command: 0x02, $0) }
            case (calendarCluster, false, 0x03):
                answers.append(component(calendarCluster, frameControl: 0x19, sequence: sequence, command: 0x03, seasons))
            case (calendarCluster, false, 0x04):
                answers.append(component(calendarCluster, frameControl: 0x19, sequence: sequence, command: 0x04, special))
            case (priceCluster, false, 0x00):
                answers.append(component(priceCluster, frameControl: 0x19, sequence: sequence, command: 0x00, price))
            default:
                throw .shape(String(format: "GCS21f does not answer cluster %04X command %02X", question.cluster, question.command))
            }
        }
        return try gbz(answers)
    }

    // MARK: - Prepayment configuration (ECS26a)

    /// ECS26a (4.13): eighteen GETs in the use case's order.
    static let prepaymentRequests: [DLMSAPDU.RequestSpecification] = {
        let debt1: [UInt8] = [0, 0, 19, 20, 1, 255], debt2: [UInt8] = [0, 0, 19, 20, 2, 255], account: [UInt8] = [0, 0, 19, 0, 0, 255]
        let credit: [UInt8] = [0, 0, 19, 10, 1, 255]
        return [get(113, debt1, 5), get(11, [0, 0, 11, 0, 2, 255], 2), get(113, debt1, 8), get(113, debt1, 5),
                get(113, debt2, 5), get(113, debt2, 8), get(113, debt2, 5), get(113, [0, 0, 19, 20, 3, 255], 13),
                get(9000, [0, 0, 94, 44, 2, 10], 2), get(21, [0, 0, 16, 0, 1, 255], 2), get(9000, [0, 0, 94, 44, 2, 20], 2),
                get(111, account, 16), get(111, account, 18), get(111, account, 19), get(112, credit, 9), get(112, credit, 10),
                get(10, [0, 0, 12, 0, 1, 255], 2), get(111, account, 11)]
    }()

    /// The non-disablement script table, 0-0:10.0.106.255.
    static let nonDisablementScript: [UInt8] = [0, 0, 10, 0, 106, 255]

    /// The Account's `credit_charge_configuration` of a single element meter, as RTDS's
    /// ECS26a answer has it (no MMC element carries it): {credit, charge, collection
    /// configuration bit-string(3)} for the token, emergency and debt credits against the
    /// consumption, standing and debt charges.
    static let creditChargeConfiguration: DLMSData = {
        let table: [(UInt8, UInt8, UInt8)] = [(0, 0, 0xE0), (0, 4, 0xE0), (0, 1, 0xC0), (0, 2, 0xC0), (0, 3, 0xE0),
                                              (1, 3, 0xE0), (1, 0, 0xE0), (1, 4, 0xE0), (1, 1, 0xC0), (1, 2, 0xC0),
                                              (2, 4, 0xE0), (2, 1, 0xE0), (2, 2, 0xE0)]
        return .array(table.map { credit, charge, bits in
            .structure([.octetString([0, 0, 19, 10, credit, 255]), .octetString([0, 0, 19, 20, charge, 255]),
                        .bitString(DLMSData.BitString(bitCount: 3, octets: [bits]))])
        })
    }()

    /// A time-based debt's `unit_charge_active` and `period` (3600 HOURLY, 86400 DAILY).
    static func debtRecovery(_ node: DataNode) throws(GBCSAnswerError) -> (charge: DLMSData, period: DLMSData) {
        let period: UInt32
        switch node.child("DebtRecoveryRatePeriod")?.text {
        case "HOURLY": period = 3600
        case "DAILY": period = 86400
        case let other: throw .shape("\(node.name)'s period \(other ?? "absent"), neither HOURLY nor DAILY")
        }
        return (flatCharge(try number(node, "DebtRecoveryRate"), priceScale: try number(node, "DebtRecoveryRatePriceScale")), .doubleLongUnsigned(period))
    }

    /// ECS26a (4.13): 0 DebtRecovery1's unit charge, 1 the non-disablement special days
    /// (index and day_id the MMC index), 2 its period, 3 its unit charge again, 4–6 the same
    /// for DebtRecovery2, 7 DebtRecoveryPerPayment (long-unsigned), 8 CreditMaxCreditThreshold,
    /// 9 DisablementThreshold (an array of one), 10 MaxCreditMaxMeterBalance, 11
    /// LowCreditThreshold (double-long each), 12 DebtRecoveryRateCap (long-unsigned), 13 its
    /// period (a week, 604800 s), 14 EmergencyCreditLimit, 15 EmergencyCreditThreshold, 16
    /// the non-disablement calendar (script 0-0:10.0.106.255, selector 32 START, 33 STOP),
    /// 17 the credit charge configuration (a single element meter's: a twin element
    /// meter's has two more, which the answer cannot tell).
    static let prepaymentConfiguration: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, prepaymentRequests)
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let electricity = try required(body, "Electricity")
        let debt1 = try debtRecovery(try required(electricity, "DebtRecovery1"))
        let debt2 = try debtRecovery(try required(electricity, "DebtRecovery2"))
        let calendar = electricity.child("NonDisablementCalendar")
        let days = try indexed(calendar?.child("ElectricitySpecialDays"), "SpecialDay", in: 1...20)
        var specialDays: [DLMSData] = []
        for day in days { specialDays.append(try specialDay(index: day.index, date: try date(day.node), day: day.index)) }
        let scheduleNodes = calendar?.all("ElectricityNonDisablementSchedule") ?? []
        guard scheduleNodes.count <= 22 else { throw .shape("\(scheduleNodes.count) non-disablement calendar entries (at most 22)") }
        var entries: [DLMSData] = []
        for (position, node) in scheduleNodes.enumerated() {
            let selector: UInt16
            switch node.child("NonDisablementScript")?.text {
            case "START": selector = 32
            case "STOP": selector = 33
            case let other: throw .shape("a non-disablement script \(other ?? "absent")")
            }
            var special: [Int] = []
            for applicability in node.child("SpecialDaysApplicability")?.all("SpecialDayApplicability") ?? [] {
                special.append(try value(try required(applicability, "SpecialDayID"), in: 1...20, "a special day ID"))
            }
            let times = try required(node, "ScheduleDatesAndTime")
            entries.append(try scheduleEntry(index: position + 1, script: nonDisablementScript, selector: selector,
                                             switchTime: try time(times.child("SwitchTime"), "a non-disablement switch time"),
                                             weekdays: try weekdays(node.child("DaysOfWeekApplicability")), specialDays: special,
                                             specialDayCount: days.count, begin: try plainDate(times.child("StartDate"), "a non-disablement start date"),
                                             end: try plainDate(times.child("EndDate"), "a non-disablement end date")))
        }
        let perPayment: UInt16 = try value(try required(body, "DebtRecoveryPerPayment"), in: 0...10000, "the debt recovery per payment")
        let data: [DLMSData] = [
            debt1.charge, .array(specialDays), debt1.period, debt1.charge,
            debt2.charge, debt2.period, debt2.charge,
            .longUnsigned(perPayment),
            .doubleLong(try number(body, "CreditMaxCreditThreshold")),
            .array([.doubleLong(try number(body, "DisablementThreshold"))]),
            .doubleLong(try number(body, "MaxCreditMaxMeterBalance")),
            .doubleLong(try number(body, "LowCreditThreshold")),
            .longUnsigned(try number(body, "DebtRecoveryRateCap")),
            .doubleLong(604_800),
            .doubleLong(try number(body, "EmergencyCreditLimit")),
            .doubleLong(try number(body, "EmergencyCreditThreshold")),
            .array(entries),
            creditChargeConfiguration,
        ]
        return Answers.dlms(context, data, Answers.successes(requests))
    }

    // MARK: - Auxiliary controllers (ECS35g, ECS61d, ECS61e)

    /// An ALCS event log entry's switch number and action: `0n11` on, `0n12` off, `0n20`
    /// revert to calendar control, `0n00` an entry about a message from HC ALCS n; or
    /// `1nLL` controller n commanded to level LL, `2nLL` with input from the controlled load.
    static func switchAction(_ entry: DataNode) throws(GBCSAnswerError) -> UInt16 {
        let switchNumber: UInt16 = try value(try required(entry, "SwitchNumber"), in: 1...5, "a log entry's switch number")
        if let action = entry.child("SwitchAction") {
            let code: UInt16
            switch action.text {
            case "Entry relates to a Message from an HC ALCS": code = 0x00
            case "On": code = 0x11
            case "Off": code = 0x12
            case "Revert to calendar control": code = 0x20
            case let other: throw .shape("a switch action \(other ?? "absent")")
            }
            return switchNumber << 8 | code
        }
        let level: UInt16 = try value(try required(entry, "AuxiliaryControllerLevel"), in: 0...100, "a log entry's controller level")
        let kind: UInt16 = entry.child("InputFromControlledLoad") != nil ? 2 : 1
        return kind << 12 | switchNumber << 8 | level
    }

    /// ECS35g (6.13): the auxiliary controller event log (Profile generic 0-17:99.98.2.255
    /// buffer) as a compact array of {timestamp double-long-unsigned seconds since 2000,
    /// switch number and action long-unsigned, outcome enum (0 not known, 1 success, 2
    /// failure), HAN command ID double-long-unsigned (0 where the entry has none)}.
    static let auxiliaryControllerEventLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, [.getWithSelection(DLMSAPDU.Descriptor(classID: 7, instance: [0, 17, 99, 98, 2, 255], member: 2), selector: 1, parameters: .null)])
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let log = try required(body, "ALCSEvent")
        let entries = log.all("ALCSEventLogEntry")
        guard entries.count <= 100 else { throw .shape("\(entries.count) auxiliary controller log entries (at most 100)") }
        var elements: [DLMSData] = []
        for entry in entries {
            let time = try Answers.timestamp(entry.child("Timestamp"), "a log entry's Timestamp")
            guard time.milliseconds % 1000 == 0, time.milliseconds / 1000 >= Answers.epoch2000,
                  time.milliseconds / 1000 - Answers.epoch2000 <= Int64(UInt32.max) else { throw .shape("a log entry's time \(time.iso8601) is not a whole UTC second after 2000") }
            let outcome: UInt8
            switch entry.child("Outcome")?.text {
            case "Outcome not known": outcome = 0
            case "Success": outcome = 1
            case "Failure": outcome = 2
            case let other: throw .shape("a log entry's outcome \(other ?? "absent")")
            }
            let command: UInt32 = entry.child("HANCommandID") == nil ? 0 : try number(entry, "HANCommandID")
            elements.append(.structure([.doubleLongUnsigned(Answers.seconds2000(time)), .longUnsigned(try switchAction(entry)), .enumerated(outcome),
                                        .doubleLongUnsigned(command)]))
        }
        let compact = DLMSCompactArray(type: .structure([.simple(.doubleLongUnsigned), .simple(.longUnsigned), .simple(.enumerated), .simple(.doubleLongUnsigned)]),
                                       elements: elements)
        return Answers.dlms(context, [.compactArray(compact)], Answers.successes(requests))
    }

    /// ECS61d (7.14): seven GETs in the use case's order.
    static let auxiliaryConfigurationRequests: [DLMSAPDU.RequestSpecification] =
        (11...15).map { get(1, [0, 0, 94, 44, 0, UInt8($0)], 2) } + [get(11, [0, 0, 11, 0, 3, 255], 2), get(10, [0, 0, 12, 0, 2, 255], 2)]

    /// The auxiliary controller script table, 0-0:10.0.103.255.
    static let auxiliaryScript: [UInt8] = [0, 0, 10, 0, 103, 255]

    /// ECS61d (7.14): 0–4 controllers 1…5's descriptions (visible-string, at most 22
    /// characters; a controller the answer does not describe, empty), 5 the auxiliary
    /// controller special days (index and day_id the MMC identifier), 6 the calendar
    /// (script 0-0:10.0.103.255, selector `1nLL` controller n's output or `2nLL` its input
    /// from the controlled load, LL = 0x80 + the level).
    static let auxiliaryControllerConfiguration: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, auxiliaryConfigurationRequests)
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let descriptions = try indexed(body, "AuxiliaryControllerDescription", attribute: "auxiliaryControllerN", in: 1...5)
        var data: [DLMSData] = []
        for n in 1...5 {
            let node = descriptions.first { $0.index == n }?.node.child("AuxiliaryControlDescription")
            data.append(.visibleString(try text(node, "auxiliary controller \(n)'s description", limit: 22)))
        }
        let definitions = body.child("AuxiliaryControllerSpecialDayDefinitions")?.all("AuxiliaryControllerSpecialDayDefinition") ?? []
        guard definitions.count <= 20 else { throw .shape("\(definitions.count) auxiliary controller special days (at most 20)") }
        var days: [DLMSData] = []
        for definition in definitions {
            let identifier = try attribute(definition, "identifier", in: 1...20)
            days.append(try specialDay(index: identifier, date: try date(definition), day: identifier))
        }
        data.append(.array(days))
        let schedules = body.all("AuxiliaryControllerSchedule")
        guard schedules.count <= 120 else { throw .shape("\(schedules.count) auxiliary controller calendar entries (at most 120)") }
        var entries: [DLMSData] = []
        for (position, schedule) in schedules.enumerated() {
            let action = try required(schedule, "AuxiliaryControllerAction")
            let controller = UInt16(try attribute(action, "auxiliaryControllerN", in: 1...5))
            let level: UInt16 = try value(try required(action, "CommandedStateLevel"), in: 0...100, "a commanded state level")
            let kind: UInt16 = action.child("InputFromControlledLoad") != nil ? 2 : 1
            let special = try schedule.all("SpecialDaysApplicability").map { node throws(GBCSAnswerError) in try attribute(node, "identifier", in: 1...20) }
            let times = try required(schedule, "AuxiliaryControllerSchedulePeriodAndTime")
            entries.append(try scheduleEntry(index: position + 1, script: auxiliaryScript, selector: kind << 12 | controller << 8 | (0x80 + level),
                                             switchTime: try time(times.child("SwitchTime"), "an auxiliary controller switch time"),
                                             weekdays: try weekdays(schedule.child("DaysOfWeekApplicability")), specialDays: special,
                                             specialDayCount: definitions.count, begin: try date(try required(times, "StartDate")),
                                             end: try date(try required(times, "EndDate"))))
        }
        data.append(.array(entries))
        return Answers.dlms(context, data, Answers.successes(requests))
    }

    /// ECS61e (7.15): ten GETs in the use case's order.
    static let auxiliaryOperationalRequests: [DLMSAPDU.RequestSpecification] =
        (21...25).map { get(1, [0, 0, 94, 44, 0, UInt8($0)], 2) } + (31...35).map { get(1, [0, 0, 94, 44, 0, UInt8($0)], 2) }

    /// ECS61e (7.15): 0–4 controllers 1…5's identifiers (octet-string: an HC ALCS's entity
    /// identifier, eight zero octets for the meter's own ALCS, none where the answer names
    /// no type or "None"), then 5–9 their state and associated information (utf8-string,
    /// the text as the answer has it; a controller the answer leaves out, `{}`).
    static let auxiliaryControllerOperationalData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = try askedRequests(context, auxiliaryOperationalRequests)
        guard context.succeeded else { return Answers.dlmsRefusal(context, requests) }
        let controllers = try indexed(body, "AuxiliaryControllerOperationalData", attribute: "auxiliaryControllerN", in: 1...5)
        var identifiers: [DLMSData] = []
        var states: [DLMSData] = []
        for n in 1...5 {
            let node = controllers.first { $0.index == n }?.node
            var identifier: [UInt8] = []
            if let type = node?.child("TypeAndIdentifier") {
                switch type.child("AuxiliaryControllerType")?.text {
                case "ALCS": identifier = [0, 0, 0, 0, 0, 0, 0, 0]
                case "HCALCS":
                    guard let text = type.child("HCALCSID")?.text, let eui = EUI64(text) else { throw .shape("controller \(n)'s HC ALCS ID is not an EUI-64") }
                    identifier = eui.bytes
                case "None": identifier = []
                case let other: throw .shape("controller \(n)'s type \(other ?? "absent")")
                }
            }
            identifiers.append(.octetString(identifier))
            var state = Array("{}".utf8)
            if let node {
                let information = try required(try required(node, "AuxiliaryControllerStateAndAssociatedInformation"), "StateAndAssociatedInformation")
                state = Array((information.text ?? "").utf8)
                guard state.count <= 72_000 else { throw .shape("controller \(n)'s state is \(state.count) octets (at most 72,000)") }
            }
            states.append(.utf8String(state))
        }
        return Answers.dlms(context, identifiers + states, Answers.successes(requests))
    }
}
