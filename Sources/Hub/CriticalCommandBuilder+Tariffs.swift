import DUIS
import GBCS

/// The tariff family: Update Import Tariff (1.1.1 primary element, 1.1.2 secondary element)
/// and Update Price (1.2.1 primary, 1.2.2 secondary).
///
/// An ESME gets DLMS SETs of the *passive* (next) tariff objects and then their
/// activation times: the passive calendar of the Tariff Switching Table (class 20
/// 0-0:13.0.0.255, 0-0:13.0.1.255 for the secondary element: seasons, week and day
/// profiles), the passive special days (class 11 0-1:11.0.0/1.255), the passive block
/// threshold registers (class 21 0-0:16.1.11…18.255), the currency (class 9000
/// 0-0:94.44.2.0) and the passive charges (class 113: standing charge 0-0:19.20.4.255,
/// price matrix 0-0:19.20.0.255, secondary prices 0-0:19.20.5.255). Whatever the command
/// sets becomes current at its activation time. A GSME gets ZSE Calendar (0x0707) and
/// Price (0x0700) cluster publish commands (ESI to meter, ZCL frame control 0x09).
///
/// Checked octet for octet (Python prototype, /tmp/tariffs) against every RTDS
/// pre-command of ECS01a, ECS01b, ECS01c, ECS01d (the templates, and bodies written from
/// the XSD for the TOU and TOU+block vectors) and GCS01a (bodies written from the XSD).
/// GCS01b (1.2.1 to a GSME) has no RTDS vector: it follows GBCS's GBZ message template.
///
/// Every activation time is the request's execution time (`Input.activation`: DUIS lets
/// the device future-date all four SRVs): a COSEM date-time (zeros for now, the instant,
/// or 0xFF for a cancellation), or a ZSE UTCTime start time (0 for now, seconds since
/// 2000, or a cancellation value: `tariffStart`). The RTDS's FUTURE_DATED and CANCELLATION
/// vectors of ECS01a, ECS01b, ECS01c, ECS01d and GCS01a are built octet for octet.
extension CriticalCommandBuilder {
    static let tariffBuilders: [SRV: Build] = [
        "1.1.1": { input throws(TransformError) in try tariffSetTariffAndPrice(input) },
        "1.1.2": { input throws(TransformError) in try tariffSecondaryTariff(input) },
        "1.2.1": { input throws(TransformError) in try tariffSetPrice(input) },
        "1.2.2": { input throws(TransformError) in try tariffSecondaryPrice(input) },
    ]

    // MARK: 1.1.1 ECS01a / GCS01a

    /// Update Import Tariff (primary element): the whole tariff, ECS01a to an ESME or
    /// GCS01a to a GSME, by the request's choice of ElecTariffElements or GasTariffElements.
    private static func tariffSetTariffAndPrice(_ input: Input) throws(TransformError) -> Built {
        guard let prices = input.body.child("PriceElements") else { throw TransformError("\(input.body.name) has no PriceElements") }
        switch input.deviceType {
        case .esme:
            guard let elements = input.body.child("ElecTariffElements") else {
                throw TransformError("1.1.1 to an ESME needs ElecTariffElements (GasTariffElements are a gas meter's)")
            }
            guard let electricity = prices.child("ElectricityPriceElements") else {
                throw TransformError("1.1.1 to an ESME needs ElectricityPriceElements (GasPriceElements are a gas meter's)")
            }
            return try tariffECS01a(input, elements, electricity)
        case .gsme:
            guard let elements = input.body.child("GasTariffElements") else {
                throw TransformError("1.1.1 to a GSME needs GasTariffElements (ElecTariffElements are an electricity meter's)")
            }
            guard let gas = prices.child("GasPriceElements") else {
                throw TransformError("1.1.1 to a GSME needs GasPriceElements (ElectricityPriceElements are an electricity meter's)")
            }
            return try tariffGCS01a(input, elements, gas)
        default:
            throw tariffWrongDevice(input)
        }
    }

    /// ECS01a, Set Tariff and Price on ESME (0x0019): 21 SETs, in GBCS's order. First the
    /// passive values: the calendar's season_profile_passive (7), week_profile_table_passive
    /// (8) and day_profile_table_passive (9); the special days table 0-1:11.0.0.255; the
    /// eight threshold registers 0-0:16.1.11…18.255 (Thresholds index n, its one to three
    /// BlockThresholds); the currency's value_passive (0-0:94.44.2.0 attribute 4, boolean:
    /// GBP true, ECB euro false); the standing charge and the price matrix
    /// (unit_charge_passive). Then the activation times, all the request's: the calendar
    /// (attribute 10), the special days (0-0:94.44.128.29), the currency, the two charges
    /// (attribute 7) and the threshold matrix (0-0:63.1.1.255).
    private static func tariffECS01a(_ input: Input, _ elements: ElementTree, _ electricity: ElementTree) throws(TransformError) -> Built {
        let isPounds = try tariffIsPounds(elements.value("CurrencyUnits"))
        guard let table = elements.child("SwitchingTable") else { throw TransformError("ElecTariffElements has no SwitchingTable") }
        let calendar = try tariffCalendar(table, secondary: false)
        guard let specialDays = elements.child("SpecialDays") else { throw TransformError("ElecTariffElements has no SpecialDays") }
        let special = try tariffSpecialDays(specialDays)
        guard let matrix = elements.child("ThresholdMatrix") else { throw TransformError("ElecTariffElements has no ThresholdMatrix") }
        let thresholds = try tariffThresholdMatrix(matrix)
        let charges = try tariffPrimaryCharges(electricity)

        var specifications: [DLMSAPDU.RequestSpecification] = [
            .set(tariffObject(20, "0-0:13.0.0.255", 7)),
            .set(tariffObject(20, "0-0:13.0.0.255", 8)),
            .set(tariffObject(20, "0-0:13.0.0.255", 9)),
            .set(tariffObject(11, "0-1:11.0.0.255", 2)),
        ]
        var data: [DLMSData] = [calendar.seasons, calendar.weeks, calendar.days, special]
        for (offset, row) in thresholds.enumerated() {
            specifications.append(.set(tariffObject(21, "0-0:16.1.\(11 + offset).255", 2)))
            data.append(row)
        }
        specifications += [
            .set(tariffObject(9000, "0-0:94.44.2.0", 4)),
            .set(tariffObject(113, "0-0:19.20.4.255", 6)),
            .set(tariffObject(113, "0-0:19.20.0.255", 6)),
        ]
        data += [.boolean(isPounds ? 0xFF : 0x00), charges.standing, charges.matrix]
        let activations = [
            tariffObject(20, "0-0:13.0.0.255", 10),
            tariffObject(9000, "0-0:94.44.128.29", 6),
            tariffObject(9000, "0-0:94.44.2.0", 6),
            tariffObject(113, "0-0:19.20.4.255", 7),
            tariffObject(113, "0-0:19.20.0.255", 7),
            tariffObject(9000, "0-0:63.1.1.255", 6),
        ]
        for activation in activations {
            specifications.append(.set(activation))
            data.append(activationDateTime(input))
        }
        return Built(useCase: "ECS01a", messageCode: 0x0019, content: access(input, specifications, data))
    }

    /// GCS01a, Set Tariff and Price on GSME (0x006B): 7 to 12 GBZ components, in the GBZ
    /// message template's order. Calendar cluster: PublishCalendar {provider 0, issuer
    /// event ID, issuer calendar ID, start time, delivered calendar, UTC, no name, the
    /// numbers of seasons, week and day profiles}, one PublishDayProfile per day (one
    /// schedule entry from midnight: the TOU tier, or 0 for a block tariff day), one
    /// PublishWeekProfile per week (day IDs Monday…Sunday), PublishSeasons (ZCL dates and
    /// week IDs) and PublishSpecialDays (start time, ZCL dates and day IDs). Price cluster:
    /// PublishTariffInformation, PublishBlockThresholds (block tariffs only: GBCS omits it
    /// when no block thresholds are in use) and PublishPriceMatrix. Every start time is the
    /// request's (`tariffStart`). GCS01a IMMEDIATE_TOU, FUTURE_DATED_BLOCK and
    /// CANCELLATION_BLOCK reproduce from XSD-written bodies.
    private static func tariffGCS01a(_ input: Input, _ elements: ElementTree, _ gas: ElementTree) throws(TransformError) -> Built {
        guard let table = elements.child("SwitchingTable") else { throw TransformError("GasTariffElements has no SwitchingTable") }
        let days = try tariffChildren(table.child("DayProfiles"), "DayProfile", 1...4, "DayProfiles")
        let weeks = try tariffChildren(table.child("WeekProfiles"), "WeekProfile", 1...2, "WeekProfiles")
        let seasons = try tariffChildren(table.child("Seasons"), "Season", 1...3, "Seasons")
        guard let specialDays = elements.child("SpecialDays") else { throw TransformError("GasTariffElements has no SpecialDays") }
        let special = try tariffChildren(specialDays, "SpecialDay", 0...20, "SpecialDays")
        let prices = try tariffGasPrices(input, gas)
        let start = tariffLE(tariffStart(input, cancel: tariffCancelCommand))

        // Provider ID 0, issuer event ID, issuer calendar ID (GBCS: both "current UTC time").
        let head = tariffLE(UInt32(0)) + tariffLE(tariffIssuerEventID) + tariffLE(tariffIssuerEventID)
        var commands: [(cluster: UInt16, command: UInt8, payload: [UInt8])] = []
        commands.append((0x0707, 0x00, head + start
            + [0x00, 0x00, 0x00, UInt8(truncatingIfNeeded: seasons.count), UInt8(truncatingIfNeeded: weeks.count), UInt8(truncatingIfNeeded: days.count)]))
        for day in days {
            let id = try tariffChild(day, "DayName", UInt8(1)...4)
            var tier: UInt8 = 0
            if day.child("TOUTariffAction") != nil {
                tier = try tariffChild(day, "TOUTariffAction", UInt8(1)...4)
            } else if day.child("BlockTariff") == nil {
                throw TransformError("gas DayProfile \(id) has neither TOUTariffAction nor BlockTariff")
            }
            // Day ID, one entry, command 0 of 1, delivered calendar, start 00:00 (UINT16), tier.
            commands.append((0x0707, 0x01, head + [id, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, tier]))
        }
        for week in weeks {
            let id = try tariffChild(week, "WeekName", UInt8(1)...2)
            let refs = try tariffWeekDays(week, UInt8(1)...4)
            commands.append((0x0707, 0x02, head + [id] + refs))
        }
        var seasonEntries = head + [0x00, 0x01]
        for season in seasons {
            guard let start = season.child("SeasonStartDate") else { throw TransformError("a gas Season has no SeasonStartDate") }
            seasonEntries += try tariffGasDate(start, "SeasonStartDate")
            seasonEntries.append(try tariffChild(season, "ReferencedWeekName", UInt8(1)...2))
        }
        commands.append((0x0707, 0x03, seasonEntries))
        var specialEntries = head + start + [0x00, UInt8(truncatingIfNeeded: special.count), 0x00, 0x01]
        for day in special {
            guard let date = day.child("Date") else { throw TransformError("a gas SpecialDay has no Date") }
            specialEntries += try tariffGasDate(date, "a special day's Date")
            specialEntries.append(try tariffChild(day, "ReferencedDayName", UInt8(1)...4))
        }
        commands.append((0x0707, 0x04, specialEntries))
        commands.append((0x0700, 0x04, prices.information))
        if prices.thresholdsInUse > 0 {
            guard let matrix = elements.child("ThresholdMatrix") else { throw TransformError("GasTariffElements has no ThresholdMatrix") }
            let thresholds = try tariffOrdered(matrix, "BlockThreshold", 1...3, UInt64(0)...0xFFFF_FFFF_FFFF)
            guard thresholds.count >= Int(prices.thresholdsInUse) else {
                throw TransformError("NumberOfThresholds is \(prices.thresholdsInUse) but the ThresholdMatrix has \(thresholds.count) BlockThreshold")
            }
            // Provider, issuer event, start time, issuer tariff ID 1, command 0 of 1, thresholds
            // for all tiers (0x01), then tier 0 / the number of thresholds and each as UINT48.
            var payload = tariffLE(UInt32(0)) + tariffLE(tariffIssuerEventID) + start + tariffLE(UInt32(1))
            payload += [0x00, 0x01, 0x01, prices.thresholdsInUse]
            for threshold in thresholds.prefix(Int(prices.thresholdsInUse)) { payload += tariffLE(threshold, octets: 6) }
            commands.append((0x0700, 0x06, payload))
        }
        commands.append((0x0700, 0x05, prices.matrix))
        return Built(useCase: "GCS01a", messageCode: 0x006B, content: tariffGBZ(commands))
    }

    // MARK: 1.1.2 ECS01c

    /// ECS01c, Set Tariff and Price on ESME secondary (0x00B7): the secondary element's
    /// passive prices (0-0:19.20.5.255 unit_charge_passive, four TOU rates), its passive
    /// calendar (0-0:13.0.1.255 attributes 7, 8, 9: TOUTariffAction n is script selector
    /// 200 + n) and special days (0-1:11.0.1.255), then the activation times, all the
    /// request's: the calendar (attribute 10), the prices (attribute 7) and the special days
    /// (0-0:94.44.128.30).
    private static func tariffSecondaryTariff(_ input: Input) throws(TransformError) -> Built {
        guard input.deviceType == .esme else { throw TransformError("1.1.2 sets an ESME's secondary element, not a \(input.deviceType.rawValue)") }
        guard let table = input.body.child("SwitchingTable") else { throw TransformError("\(input.body.name) has no SwitchingTable") }
        guard let specialDays = input.body.child("SpecialDays") else { throw TransformError("\(input.body.name) has no SpecialDays") }
        guard let prices = input.body.child("PriceElements") else { throw TransformError("\(input.body.name) has no PriceElements") }
        let charges = try tariffSecondaryCharges(prices)
        let calendar = try tariffCalendar(table, secondary: true)
        let special = try tariffSpecialDays(specialDays)
        let specifications: [DLMSAPDU.RequestSpecification] = [
            .set(tariffObject(113, "0-0:19.20.5.255", 6)),
            .set(tariffObject(20, "0-0:13.0.1.255", 7)),
            .set(tariffObject(20, "0-0:13.0.1.255", 8)),
            .set(tariffObject(20, "0-0:13.0.1.255", 9)),
            .set(tariffObject(11, "0-1:11.0.1.255", 2)),
            .set(tariffObject(20, "0-0:13.0.1.255", 10)),
            .set(tariffObject(113, "0-0:19.20.5.255", 7)),
            .set(tariffObject(9000, "0-0:94.44.128.30", 6)),
        ]
        let now = activationDateTime(input)
        let data: [DLMSData] = [charges, calendar.seasons, calendar.weeks, calendar.days, special, now, now, now]
        return Built(useCase: "ECS01c", messageCode: 0x00B7, content: access(input, specifications, data))
    }

    // MARK: 1.2.1 ECS01b / GCS01b

    /// Update Price (primary element): the prices of the tariff in force. ECS01b (0x00A2)
    /// sets the standing charge and the price matrix (unit_charge_passive of
    /// 0-0:19.20.4.255 and 0-0:19.20.0.255) and their activation times (the request's).
    /// GCS01b (0x00A3) publishes PublishTariffInformation and PublishPriceMatrix, as in
    /// GCS01a, with the same start times; it has no RTDS vector, so its layout is GBCS's
    /// GBZ message template's.
    private static func tariffSetPrice(_ input: Input) throws(TransformError) -> Built {
        guard let prices = input.body.child("PriceElements") else { throw TransformError("\(input.body.name) has no PriceElements") }
        switch input.deviceType {
        case .esme:
            guard let electricity = prices.child("ElectricityPriceElements") else {
                throw TransformError("1.2.1 to an ESME needs ElectricityPriceElements (GasPriceElements are a gas meter's)")
            }
            let charges = try tariffPrimaryCharges(electricity)
            let specifications: [DLMSAPDU.RequestSpecification] = [
                .set(tariffObject(113, "0-0:19.20.4.255", 6)),
                .set(tariffObject(113, "0-0:19.20.0.255", 6)),
                .set(tariffObject(113, "0-0:19.20.4.255", 7)),
                .set(tariffObject(113, "0-0:19.20.0.255", 7)),
            ]
            return Built(useCase: "ECS01b", messageCode: 0x00A2,
                         content: access(input, specifications, [charges.standing, charges.matrix, activationDateTime(input), activationDateTime(input)]))
        case .gsme:
            guard let gas = prices.child("GasPriceElements") else {
                throw TransformError("1.2.1 to a GSME needs GasPriceElements (ElectricityPriceElements are an electricity meter's)")
            }
            let published = try tariffGasPrices(input, gas)
            return Built(useCase: "GCS01b", messageCode: 0x00A3,
                         content: tariffGBZ([(0x0700, 0x04, published.information), (0x0700, 0x05, published.matrix)]))
        default:
            throw tariffWrongDevice(input)
        }
    }

    // MARK: 1.2.2 ECS01d

    /// ECS01d, Set Price on ESME secondary (0x00C7): the secondary element's four TOU
    /// prices (0-0:19.20.5.255 unit_charge_passive) and their activation time (the request's).
    private static func tariffSecondaryPrice(_ input: Input) throws(TransformError) -> Built {
        guard input.deviceType == .esme else { throw TransformError("1.2.2 sets an ESME's secondary element, not a \(input.deviceType.rawValue)") }
        guard let prices = input.body.child("PriceElements") else { throw TransformError("\(input.body.name) has no PriceElements") }
        let charges = try tariffSecondaryCharges(prices)
        let specifications: [DLMSAPDU.RequestSpecification] = [
            .set(tariffObject(113, "0-0:19.20.5.255", 6)),
            .set(tariffObject(113, "0-0:19.20.5.255", 7)),
        ]
        return Built(useCase: "ECS01d", messageCode: 0x00C7, content: access(input, specifications, [charges, activationDateTime(input)]))
    }

    // MARK: DLMS pieces

    private static func tariffObject(_ classID: UInt16, _ obis: String, _ member: Int8) -> DLMSAPDU.Descriptor {
        DLMSAPDU.Descriptor(classID: classID, instance: GBCSCommandBuilder.obis(obis), member: member)
    }

    /// The passive calendar of a Tariff Switching Table (class 20), its attributes 7, 8, 9:
    /// - seasons {season_profile_name: the SeasonName's octets, season_start: a COSEM
    ///   date-time, the SeasonStartDate at 00:00:00.00, deviation 0x8000, status 0xFF,
    ///   week_name: octet-string(1) of the ReferencedWeekName};
    /// - weeks {week_profile_name: octet-string(1) of the WeekName, the day IDs of Monday
    ///   (ReferencedDayName index 1) to Sunday (7), unsigned};
    /// - days {day_id unsigned, day_schedule [{start_time: COSEM time of StartTime in UTC,
    ///   script 0-0:10.0.100.255 (the tariff script table), script_selector}]}. GBCS 7.3.7's
    ///   selectors: a primary TOUTariffAction n is n (1…48), a BlockTariffAction n is
    ///   100 + n (1…8), a secondary TOUTariffAction n is 200 + n (1…4).
    /// Profiles keep the request's order.
    private static func tariffCalendar(_ table: ElementTree, secondary: Bool) throws(TransformError) -> (seasons: DLMSData, weeks: DLMSData, days: DLMSData) {
        let script = GBCSCommandBuilder.obis("0-0:10.0.100.255")
        var days: [DLMSData] = []
        for day in try tariffChildren(table.child("DayProfiles"), "DayProfile", 1...16, "DayProfiles") {
            let id = try tariffChild(day, "DayName", UInt8(1)...16)
            var actions: [DLMSData] = []
            for entry in try tariffChildren(day, "ProfileSchedule", 1...48, "DayProfile \(id)") {
                let start = try tariffTime(entry.value("StartTime"))
                let selector: UInt16
                if entry.child("TOUTariffAction") != nil {
                    if secondary {
                        let rate = try tariffChild(entry, "TOUTariffAction", UInt16(1)...4)
                        selector = 200 + rate
                    } else {
                        selector = try tariffChild(entry, "TOUTariffAction", UInt16(1)...48)
                    }
                } else if !secondary, entry.child("BlockTariffAction") != nil {
                    let block = try tariffChild(entry, "BlockTariffAction", UInt16(1)...8)
                    selector = 100 + block
                } else {
                    throw TransformError("a ProfileSchedule of DayProfile \(id) has no \(secondary ? "TOUTariffAction" : "TOUTariffAction or BlockTariffAction")")
                }
                actions.append(.structure([.octetString(start), .octetString(script), .longUnsigned(selector)]))
            }
            days.append(.structure([.unsigned(id), .array(actions)]))
        }
        var weeks: [DLMSData] = []
        for week in try tariffChildren(table.child("WeekProfiles"), "WeekProfile", 1...4, "WeekProfiles") {
            let id = try tariffChild(week, "WeekName", UInt8(1)...4)
            var fields: [DLMSData] = [.octetString([id])]
            for day in try tariffWeekDays(week, UInt8(1)...16) { fields.append(.unsigned(day)) }
            weeks.append(.structure(fields))
        }
        var seasons: [DLMSData] = []
        for season in try tariffChildren(table.child("Seasons"), "Season", 1...4, "Seasons") {
            let name = tariffTrimmed(season.child("SeasonName")?.text ?? "")
            guard name.count <= 8 else { throw TransformError("SeasonName \(untrusted(name, limit: 16)) is longer than 8 characters") }
            guard let startDate = season.child("SeasonStartDate") else { throw TransformError("Season \(untrusted(name, limit: 16)) has no SeasonStartDate") }
            let start = try tariffDate(startDate, "SeasonStartDate") + [0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0xFF]
            let week = try tariffChild(season, "ReferencedWeekName", UInt8(1)...4)
            seasons.append(.structure([.octetString(Array(name.utf8)), .octetString(start), .octetString([week])]))
        }
        return (.array(seasons), .array(weeks), .array(days))
    }

    /// A special days table's entries (class 11 attribute 2): {index: the special day's
    /// place, 1 up, long-unsigned; specialday_date: COSEM date; day_id}. No special days is
    /// an empty array (GBCS), which clears the table.
    private static func tariffSpecialDays(_ list: ElementTree) throws(TransformError) -> DLMSData {
        var entries: [DLMSData] = []
        for (offset, day) in try tariffChildren(list, "SpecialDay", 0...50, "SpecialDays").enumerated() {
            guard let date = day.child("Date") else { throw TransformError("a SpecialDay has no Date") }
            let octets = try tariffDate(date, "a special day's Date")
            let id = try tariffChild(day, "ReferencedDayName", UInt8(1)...16)
            entries.append(.structure([.longUnsigned(UInt16(truncatingIfNeeded: offset + 1)), .octetString(octets), .unsigned(id)]))
        }
        return .array(entries)
    }

    /// The eight passive threshold registers' values (class 21 attribute 2), Thresholds
    /// index 1…8 in order: an array of one to three double-long-unsigned thresholds each,
    /// BlockThreshold index 1…n in order.
    private static func tariffThresholdMatrix(_ matrix: ElementTree) throws(TransformError) -> [DLMSData] {
        var rows = [DLMSData?](repeating: nil, count: 8)
        for row in matrix.children where row.name == "Thresholds" {
            let index = try tariffIndex(row, 1...8)
            guard rows[index - 1] == nil else { throw TransformError("ThresholdMatrix has Thresholds \(index) twice") }
            let values = try tariffOrdered(row, "BlockThreshold", 1...3, UInt32.min...UInt32.max)
            rows[index - 1] = .array(values.map { DLMSData.doubleLongUnsigned($0) })
        }
        var ordered: [DLMSData] = []
        for (offset, row) in rows.enumerated() {
            guard let value = row else { throw TransformError("ThresholdMatrix has no Thresholds \(offset + 1): it needs all eight") }
            ordered.append(value)
        }
        return ordered
    }

    /// The primary element's standing charge and price matrix, as unit_charge_passive
    /// (class 113 attribute 6) values.
    /// - Standing charge (0-0:19.20.4.255): scaling {commodity_scale 0, price_scale
    ///   StandingChargeScale}, no commodity reference {0, 0-0:0.0.0.0, 0}, one charge
    ///   {index octet-string(0), StandingCharge as long}.
    /// - Price matrix (0-0:19.20.0.255): scaling {3, PriceScale}, commodity the active
    ///   import register {3, 1-0:1.8.0.255, 2}, and always all 80 charges {index
    ///   octet-string(1), price as long}: 0x01…0x30 the TOU prices 1…48, then 0xA1…0xD8
    ///   the block prices, the high nibble A…D the block (BlockPrice index 1…4) and the
    ///   low nibble the block tariff (BlockPrices index 1…8). A price the request does not
    ///   give is 0, as in DCC's commands.
    private static func tariffPrimaryCharges(_ prices: ElementTree) throws(TransformError) -> (standing: DLMSData, matrix: DLMSData) {
        let standingCharge = try tariffChild(prices, "StandingCharge", Int16.min...Int16.max)
        let standingScale = try tariffChild(prices, "StandingChargeScale", Int8.min...Int8.max)
        let priceScale = try tariffChild(prices, "PriceScale", Int8.min...Int8.max)
        let schemes = prices.children.filter { $0.name == "BlockTariff" || $0.name == "TOUTariff" || $0.name == "HybridTariff" }
        guard schemes.count == 1, let scheme = schemes.first else {
            throw TransformError("ElectricityPriceElements needs one of BlockTariff, TOUTariff or HybridTariff")
        }
        var tou = [Int16](repeating: 0, count: 48)
        var block = [Int16](repeating: 0, count: 32)  // block b (1…4), tariff t (1…8) at (b − 1) × 8 + t − 1
        var touSeen = Set<Int>()
        var blockSeen = Set<Int>()
        for element in scheme.children {
            if element.name == "TOUPrice", scheme.name != "BlockTariff" {
                let index = try tariffIndex(element, 1...48)
                guard touSeen.insert(index).inserted else { throw TransformError("TOUPrice \(index) appears twice") }
                tou[index - 1] = try tariffOwn(element, Int16.min...Int16.max)
            } else if element.name == "BlockPrices", scheme.name != "TOUTariff" {
                let tariff = try tariffIndex(element, 1...8)
                for price in element.children where price.name == "BlockPrice" {
                    let blockIndex = try tariffIndex(price, 1...4)
                    let slot = (blockIndex - 1) * 8 + tariff - 1
                    guard blockSeen.insert(slot).inserted else { throw TransformError("BlockPrices \(tariff) has BlockPrice \(blockIndex) twice") }
                    block[slot] = try tariffOwn(price, Int16.min...Int16.max)
                }
            }
        }
        if scheme.name != "BlockTariff", touSeen.isEmpty { throw TransformError("\(scheme.name) has no TOUPrice") }
        if scheme.name != "TOUTariff", blockSeen.isEmpty { throw TransformError("\(scheme.name) has no BlockPrice") }

        var entries: [DLMSData] = []
        entries.reserveCapacity(80)
        for (offset, price) in tou.enumerated() {
            entries.append(.structure([.octetString([UInt8(truncatingIfNeeded: offset + 1)]), .long(price)]))
        }
        for (slot, price) in block.enumerated() {
            let index = UInt8(truncatingIfNeeded: (0xA + slot / 8) << 4 | (slot % 8 + 1))
            entries.append(.structure([.octetString([index]), .long(price)]))
        }
        let standing = DLMSData.structure([
            .structure([.integer(0), .integer(standingScale)]),
            .structure([.longUnsigned(0), .octetString([0, 0, 0, 0, 0, 0]), .integer(0)]),
            .array([.structure([.octetString([]), .long(standingCharge)])]),
        ])
        let matrix = DLMSData.structure([
            .structure([.integer(3), .integer(priceScale)]),
            .structure([.longUnsigned(3), .octetString(GBCSCommandBuilder.obis("1-0:1.8.0.255")), .integer(2)]),
            .array(entries),
        ])
        return (standing, matrix)
    }

    /// The secondary element's prices (0-0:19.20.5.255 unit_charge_passive): scaling {3,
    /// PriceScale}, commodity {3, 1-20:1.8.0.255, 2} (the OBIS code GBCS's vectors carry),
    /// and always four charges {index 0x01…0x04, ElectricityPriceElement index 1…4 as
    /// long}, 0 where the request gives none (the RTDS requests give all four).
    private static func tariffSecondaryCharges(_ prices: ElementTree) throws(TransformError) -> DLMSData {
        let priceScale = try tariffChild(prices, "PriceScale", Int8.min...Int8.max)
        var values = [Int16](repeating: 0, count: 4)
        var seen = Set<Int>()
        for element in prices.children where element.name == "ElectricityPriceElement" {
            let index = try tariffIndex(element, 1...4)
            guard seen.insert(index).inserted else { throw TransformError("ElectricityPriceElement \(index) appears twice") }
            values[index - 1] = try tariffOwn(element, Int16.min...Int16.max)
        }
        guard !seen.isEmpty else { throw TransformError("PriceElements has no ElectricityPriceElement") }
        var entries: [DLMSData] = []
        for (offset, price) in values.enumerated() {
            entries.append(.structure([.octetString([UInt8(truncatingIfNeeded: offset + 1)]), .long(price)]))
        }
        return .structure([
            .structure([.integer(3), .integer(priceScale)]),
            .structure([.longUnsigned(3), .octetString(GBCSCommandBuilder.obis("1-20:1.8.0.255")), .integer(2)]),
            .array(entries),
        ])
    }

    /// A COSEM date (octet-string(5): year, month, day of month, day of week) of a DUIS
    /// `Date`: an unspecified field is 0xFFFF/0xFF, the last and second last day of the
    /// month 0xFE and 0xFD (the Blue Book's wildcards).
    private static func tariffDate(_ date: ElementTree, _ what: String) throws(TransformError) -> [UInt8] {
        guard let year = date.child("Year"), let month = date.child("Month"), let day = date.child("DayOfMonth"),
              let weekday = date.child("DayOfWeek") else { throw TransformError("\(what) needs Year, Month, DayOfMonth and DayOfWeek") }
        var octets: [UInt8] = []
        if year.child("NonSpecifiedYear") != nil {
            octets += [0xFF, 0xFF]
        } else {
            let value = try tariffChild(year, "SpecifiedYear", UInt16(2014)...9999)
            octets += [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
        }
        if month.child("NonSpecifiedMonth") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(month, "SpecifiedMonth", UInt8(1)...12))
        }
        if day.child("LastDayOfMonth") != nil {
            octets.append(0xFE)
        } else if day.child("SecondLastDayOfMonth") != nil {
            octets.append(0xFD)
        } else if day.child("NonSpecifiedDayOfMonth") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(day, "SpecifiedDayOfMonth", UInt8(1)...31))
        }
        if weekday.child("NonSpecifiedDayOfWeek") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(weekday, "SpecifiedDayOfWeek", UInt8(1)...7))
        }
        return octets
    }

    /// The COSEM time (octet-string(4): hour, minute, second, hundredths) of an xs:time,
    /// moved to UTC when it has a zone offset (COSEM times here have no zone; GBCS
    /// switching times are UTC).
    private static func tariffTime(_ text: String?) throws(TransformError) -> [UInt8] {
        let raw = text ?? ""
        guard let time = TimeOfDay(xsTime: raw) else { throw TransformError("StartTime \(untrusted(raw, limit: 40)) is not an xs:time") }
        let hundredths = Int(time.milliseconds % 1000) / 10
        return [UInt8(truncatingIfNeeded: time.hour), UInt8(truncatingIfNeeded: time.minute), UInt8(truncatingIfNeeded: time.second),
                UInt8(truncatingIfNeeded: hundredths)]
    }

    // MARK: ZSE pieces

    /// ZSE's Issuer Event ID (and Issuer Calendar ID). GBCS's GBZ templates say "current
    /// UTC time"; a builder has no clock, so it is the value every RTDS gas vector carries,
    /// 2015-01-01T00:00:00Z in seconds since 2000, for the pre-command to be DCC's octets.
    private static let tariffIssuerEventID: UInt32 = 473_385_600

    /// The start time of a cancellation in PublishTariffInformation: 0xFFFFFFFF, ZSE's
    /// "cancel the command of this issuer event" (`ExecutionTime.utcTime`).
    private static let tariffCancelTariffInformation: UInt32 = 0xFFFF_FFFF

    /// The start time of a cancellation in PublishCalendar, PublishSpecialDays,
    /// PublishBlockThresholds and PublishPriceMatrix: 0xFFFFFFFE, as the RTDS's
    /// GCS01a_1.1.1_CANCELLATION_BLOCK vector writes it (its PublishTariffInformation
    /// alone has 0xFFFFFFFF).
    private static let tariffCancelCommand: UInt32 = 0xFFFF_FFFE

    /// A ZSE start time (UTCTime, seconds since 2000) of the request's activation: 0 for
    /// now, the instant, or `cancel` for a cancellation.
    private static func tariffStart(_ input: Input, cancel: UInt32) -> UInt32 {
        input.activation == .cancel ? cancel : input.activation.utcTime
    }

    /// PublishTariffInformation and PublishPriceMatrix payloads of GasPriceElements, and
    /// the number of block thresholds in use.
    /// - Tariff information: provider 0, issuer event ID, issuer tariff ID 1, start time,
    ///   tariff type 0x10 block / 0x00 TOU (delivered), empty label, price tiers in use
    ///   (the TOU prices; 0 for block), block thresholds in use (NumberOfThresholds; 0 for
    ///   TOU), unit kWh (0), currency (ISO 4217: GBP 826, ECB euro 978), price trailing
    ///   digit 0x50, StandingCharge (UINT32), TierBlockMode 0xFF, block threshold
    ///   multiplier 1 and divisor 1000 (UINT24).
    /// - Price matrix: provider 0, issuer event ID, start time, issuer tariff ID 1, command 0
    ///   of 1, sub-payload control 0x00 block / 0x01 TOU, then {tier/block ID, price
    ///   UINT32}: BlockPrice n has ID n − 1 (tier 0, blocks 0…3), TOUPrice n has ID n.
    /// The prices' indexes must run 1…n: the ZSE tables have no gaps.
    private static func tariffGasPrices(_ input: Input, _ gas: ElementTree) throws(TransformError) -> (information: [UInt8], matrix: [UInt8], thresholdsInUse: UInt8) {
        let currency: UInt16 = try tariffIsPounds(gas.value("CurrencyUnits")) ? 826 : 978
        let standingCharge = try tariffChild(gas, "StandingCharge", UInt32.min...UInt32.max)
        var tariffType: UInt8 = 0x00
        var tiers: UInt8 = 0
        var thresholds: UInt8 = 0
        var control: UInt8 = 0x00
        var entries: [UInt8] = []
        if let block = gas.child("BlockTariff") {
            let prices = try tariffOrdered(block, "BlockPrice", 1...4, UInt32.min...UInt32.max)
            thresholds = try tariffChild(block, "NumberOfThresholds", UInt8(1)...3)
            tariffType = 0x10
            for (offset, price) in prices.enumerated() {
                entries.append(UInt8(truncatingIfNeeded: offset))
                entries += tariffLE(price)
            }
        } else if let tou = gas.child("TOUTariff") {
            let prices = try tariffOrdered(tou, "TOUPrice", 1...4, UInt32.min...UInt32.max)
            tiers = UInt8(truncatingIfNeeded: prices.count)
            control = 0x01
            for (offset, price) in prices.enumerated() {
                entries.append(UInt8(truncatingIfNeeded: offset + 1))
                entries += tariffLE(price)
            }
        } else {
            throw TransformError("GasPriceElements needs BlockTariff or TOUTariff")
        }
        var information = tariffLE(UInt32(0)) + tariffLE(tariffIssuerEventID) + tariffLE(UInt32(1))
            + tariffLE(tariffStart(input, cancel: tariffCancelTariffInformation))
        information += [tariffType, 0x00, tiers, thresholds, 0x00]
        information += tariffLE(currency)
        information.append(0x50)
        information += tariffLE(standingCharge)
        information += [0xFF, 0x01, 0x00, 0x00, 0xE8, 0x03, 0x00]
        var matrix = tariffLE(UInt32(0)) + tariffLE(tariffIssuerEventID) + tariffLE(tariffStart(input, cancel: tariffCancelCommand)) + tariffLE(UInt32(1))
        matrix += [0x00, 0x01, control]
        matrix += entries
        return (information, matrix, thresholds)
    }

    /// A ZCL Date (year − 1900, month, day of month, day of week 1 Monday…7 Sunday; 0xFF
    /// for an unspecified field) of a DUIS `GasDateWithWildcards`.
    private static func tariffGasDate(_ date: ElementTree, _ what: String) throws(TransformError) -> [UInt8] {
        guard let year = date.child("GasYearWithWildcards"), let month = date.child("GasMonthWithWildcards"),
              let day = date.child("GasDayOfMonthWithWildcards"), let weekday = date.child("GasDayOfWeekWithWildcards") else {
            throw TransformError("\(what) needs GasYearWithWildcards, GasMonthWithWildcards, GasDayOfMonthWithWildcards and GasDayOfWeekWithWildcards")
        }
        var octets: [UInt8] = []
        if year.child("NonSpecifiedYear") != nil {
            octets.append(0xFF)
        } else {
            // ZCL's year octet counts from 1900, 0xFF being "any": 2154 is the last it holds.
            let value = try tariffChild(year, "SpecifiedYear", UInt16(2014)...2154)
            octets.append(UInt8(truncatingIfNeeded: value - 1900))
        }
        if month.child("NonSpecifiedMonth") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(month, "SpecifiedMonth", UInt8(1)...12))
        }
        if day.child("GasNonSpecifiedDayOfMonth") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(day, "SpecifiedDayOfMonth", UInt8(1)...31))
        }
        if weekday.child("NonSpecifiedDayOfWeek") != nil {
            octets.append(0xFF)
        } else {
            octets.append(try tariffChild(weekday, "SpecifiedDayOfWeek", UInt8(1)...7))
        }
        return octets
    }

    /// ZSE Calendar/Price cluster publish commands (server to client, frame control 0x09),
    /// one GBZ component each: control 0x01 on the last, ZCL sequence numbers from 0.
    private static func tariffGBZ(_ commands: [(cluster: UInt16, command: UInt8, payload: [UInt8])]) -> [UInt8] {
        var components: [GBZComponent] = []
        for (offset, command) in commands.enumerated() {
            components.append(GBZComponent(control: offset == commands.count - 1 ? 0x01 : 0x00, cluster: command.cluster, frameControl: 0x09,
                                           sequenceNumber: UInt8(truncatingIfNeeded: offset), command: command.command, payload: .plain(command.payload)))
        }
        return GBCSPayload.gbz(GBZPayload(componentCount: UInt8(truncatingIfNeeded: components.count), components: components)).encode()
    }

    /// A ZCL integer, little-endian, in its own width or in `octets` (UINT48 thresholds).
    private static func tariffLE<T: FixedWidthInteger>(_ value: T, octets: Int? = nil) -> [UInt8] {
        let count = min(octets ?? T.bitWidth / 8, T.bitWidth / 8)
        var out: [UInt8] = []
        for index in 0..<count { out.append(UInt8(truncatingIfNeeded: value >> (index * 8))) }
        return out
    }

    // MARK: Reading the body

    private static func tariffWrongDevice(_ input: Input) -> TransformError {
        TransformError("\(input.srv) goes to an ESME or a GSME, not a \(input.deviceType.rawValue)")
    }

    /// CurrencyUnits: GBP (true) or ECB, DUIS's name for the euro (false).
    private static func tariffIsPounds(_ text: String?) throws(TransformError) -> Bool {
        switch text {
        case "GBP": return true
        case "ECB": return false
        default: throw TransformError("CurrencyUnits \(untrusted(text ?? "", limit: 16)) is neither GBP nor ECB")
        }
    }

    private static func tariffTrimmed(_ text: String) -> String {
        var trimmed = Substring(text)
        while let first = trimmed.first, first.isWhitespace { trimmed.removeFirst() }
        while let last = trimmed.last, last.isWhitespace { trimmed.removeLast() }
        return String(trimmed)
    }

    /// The elements named `name` under `parent`, checked against the count GBCS carries.
    private static func tariffChildren(_ parent: ElementTree?, _ name: String, _ count: ClosedRange<Int>, _ what: String) throws(TransformError) -> [ElementTree] {
        guard let parent else { throw TransformError("the request has no \(what)") }
        let found = parent.children.filter { $0.name == name }
        guard count.contains(found.count) else {
            throw TransformError("\(what) has \(found.count) \(name), not \(count.lowerBound)...\(count.upperBound)")
        }
        return found
    }

    /// An element's own integer value, in a range.
    private static func tariffOwn<T: FixedWidthInteger>(_ element: ElementTree, _ range: ClosedRange<T>) throws(TransformError) -> T {
        let text = tariffTrimmed(element.text)
        guard let value = T(text), range.contains(value) else {
            throw TransformError("\(element.name) \(untrusted(text, limit: 24)) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A child's integer value, in a range.
    private static func tariffChild<T: FixedWidthInteger>(_ parent: ElementTree, _ name: String, _ range: ClosedRange<T>) throws(TransformError) -> T {
        guard let child = parent.child(name), child.children.isEmpty else { throw TransformError("\(parent.name) has no \(name)") }
        return try tariffOwn(child, range)
    }

    /// An element's `index` attribute, in a range.
    private static func tariffIndex(_ element: ElementTree, _ range: ClosedRange<Int>) throws(TransformError) -> Int {
        let text = tariffTrimmed(element.attributes["index"] ?? "")
        guard let value = Int(text), range.contains(value) else {
            throw TransformError("\(element.name) index \(untrusted(text, limit: 16)) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// The values of indexed elements (`index` 1…n, each once, no gaps), in index order.
    private static func tariffOrdered<T: FixedWidthInteger>(_ parent: ElementTree, _ name: String, _ count: ClosedRange<Int>,
                                                            _ range: ClosedRange<T>) throws(TransformError) -> [T] {
        var found: [Int: T] = [:]
        for element in parent.children where element.name == name {
            let index = try tariffIndex(element, 1...max(count.upperBound, 1))
            guard found[index] == nil else { throw TransformError("\(parent.name) has \(name) \(index) twice") }
            found[index] = try tariffOwn(element, range)
        }
        guard count.contains(found.count) else {
            throw TransformError("\(parent.name) has \(found.count) \(name), not \(count.lowerBound)...\(count.upperBound)")
        }
        var ordered: [T] = []
        for index in 0..<found.count {
            guard let value = found[index + 1] else { throw TransformError("\(parent.name)'s \(name) indexes must run 1...\(found.count)") }
            ordered.append(value)
        }
        return ordered
    }

    /// A week profile's day IDs, Monday (ReferencedDayName index 1) to Sunday (7).
    private static func tariffWeekDays(_ week: ElementTree, _ range: ClosedRange<UInt8>) throws(TransformError) -> [UInt8] {
        var days = [UInt8?](repeating: nil, count: 7)
        for reference in week.children where reference.name == "ReferencedDayName" {
            let index = try tariffIndex(reference, 1...7)
            guard days[index - 1] == nil else { throw TransformError("a WeekProfile names day \(index) of the week twice") }
            days[index - 1] = try tariffOwn(reference, range)
        }
        var ordered: [UInt8] = []
        for (offset, day) in days.enumerated() {
            guard let value = day else { throw TransformError("a WeekProfile has no ReferencedDayName \(offset + 1): it needs all seven days") }
            ordered.append(value)
        }
        return ordered
    }
}
