import GBCS
import MMC

/// Tariffs (DLMS ECS24, ECS24b; GBZ GCS21f), GBCS payload to MMC elements.
///
/// The ESME reads follow GBCS's use case tables (ECS24, ECS24b: "ordering of fields
/// according to section 19.2.1", the order of the command's GET list). The MMC elements
/// mirror DUIS's Update Import Tariff requests, and what each DLMS value means for them
/// is read from DCC's reference data, where a DUIS request and the GBCS command DCC made
/// of it stand side by side (RTDS ECS01a 1.1.1 IMMEDIATE_BLOCK and ECS01c 1.1.2 IMMEDIATE):
/// - Script selectors of the Tariff script table (0-0:10.0.100.255) in a day profile:
///   the secondary element's `TOUTariffAction` n is selector 200 + n (ECS01c: 1, 4, 3 →
///   201, 204, 203); the primary element's `BlockTariffAction` n is selector 100 + n
///   (ECS01a: 1 → 101). The primary element's `TOUTariffAction` n is taken to be selector
///   n (1…48): no DUIS request shows it, but DCC's TOU commands (ECS01a IMMEDIATE_TOU)
///   use selectors 1…3 with TOU prices 1…3 set, and the read vectors agree.
/// - Price matrix charge table indexes (Charge 0-0:19.20.0.255): 0x01…0x30 are TOU
///   prices 1…48; 0xA1…0xD8 are block prices, the low nibble the block tariff
///   (`TariffBlockPrices` index 1…8) and the high nibble A…D the block (`BlockPrice`
///   index 1…4) (ECS01a: BlockPrices 1's BlockPrice 1, 2, 3 → 0xA1, 0xB1, 0xC1).
/// - Threshold matrix: register monitor 0-0:16.0.(10 + n).255's thresholds are
///   `ElecTariffThresholds` n's `BlockThreshold` 1…3 (ECS01a writes Thresholds n to
///   0-0:16.1.(10 + n).255, the passive twin).
/// - `PriceScale` and `StandingChargeScale` are the price_scale of the charges'
///   `charge_per_unit_scaling` (ECS01a/ECS01c: PriceScale −5 → price_scale −5, with
///   commodity_scale 3 before it); `StandingCharge` the standing charge's only charge.
/// - Week, day and season identifiers: a week name is one octet holding the number
///   (WeekName 1 → 0x01), a season name its text ("winter"), a day identifier the number.
/// Not written: `CurrencyUnitsName` (no source says how DCC derives it), the active
/// price's scaler_unit (GBCS fixes it at −5 and currency-per-kWh; MMC has no element for
/// it) and the time of day of a season's start (MMC's season start is a date).
enum TariffReads {
    static let table: [String: MMCMapping.Mapper] = [
        "ECS24b": secondaryElement,
        "ECS24": primaryElectricity,
        "GCS21f": primaryGas,
    ]

    // MARK: - DLMS pieces

    /// The Tariff script table's logical name, 0-0:10.0.100.255.
    static let tariffScriptTable: [UInt8] = [0x00, 0x00, 0x0A, 0x00, 0x64, 0xFF]

    /// A number read from DLMS that must lie in `range`.
    static func number(_ value: DLMSData, _ what: String, in range: ClosedRange<Int64>) throws(MappingError) -> Int64 {
        try ConfigurationReads.integer(value, what, in: range)
    }

    /// A Blue Book date (octet-string(5), or a date-time's first five octets: year,
    /// month, day of month, day of week; 0xFF(FF) not specified, day of month 0xFE the
    /// last and 0xFD the second last) as MMC's `Date`: Year, Month, DayOfMonth, DayOfWeek.
    /// Months 0xFD/0xFE (daylight saving's end and start) and years before 2014 have no
    /// MMC form and are a `.shape` error.
    static func date(_ octets: ArraySlice<UInt8>, _ name: String, _ what: String) throws(MappingError) -> DataNode {
        guard octets.count == 5 else { throw .shape("\(what) has \(octets.count) octets, not 5") }
        let bytes = Array(octets)
        var node = DataNode(name)
        let year = Int(bytes[0]) << 8 | Int(bytes[1])
        switch year {
        case 0xFFFF: node.add("Year") { $0.addEmpty("NonSpecifiedYear") }
        case 2014...9999: node.add("Year") { $0.add("SpecifiedYear", year) }
        default: throw .shape("\(what) has year \(year), which MMC cannot hold")
        }
        switch bytes[2] {
        case 0xFF: node.add("Month") { $0.addEmpty("NonSpecifiedMonth") }
        case 1...12: node.add("Month") { $0.add("SpecifiedMonth", bytes[2]) }
        default: throw .shape("\(what) has month \(bytes[2]), which MMC cannot hold")
        }
        switch bytes[3] {
        case 0xFF: node.add("DayOfMonth") { $0.addEmpty("NonSpecifiedDayOfMonth") }
        case 0xFE: node.add("DayOfMonth") { $0.addEmpty("LastDayOfMonth") }
        case 0xFD: node.add("DayOfMonth") { $0.addEmpty("SecondLastDayOfMonth") }
        case 1...31: node.add("DayOfMonth") { $0.add("SpecifiedDayOfMonth", bytes[3]) }
        default: throw .shape("\(what) has day of month \(bytes[3])")
        }
        switch bytes[4] {
        case 0xFF: node.add("DayOfWeek") { $0.addEmpty("NonSpecifiedDayOfWeek") }
        case 1...7: node.add("DayOfWeek") { $0.add("SpecifiedDayOfWeek", bytes[4]) }
        default: throw .shape("\(what) has day of week \(bytes[4])")
        }
        return node
    }

    /// A week name: one octet holding the week's number, 1…`weeks`.
    static func weekName(_ value: DLMSData, _ what: String, weeks: Int) throws(MappingError) -> Int {
        let octets = try value.octetString(what)
        guard octets.count == 1, (1...weeks).contains(Int(octets[0])) else { throw .shape("\(what) is not a week number 1…\(weeks)") }
        return Int(octets[0])
    }

    /// Activity calendar attribute 3 `season_profile_active`: an array of up to 4
    /// {season_profile_name octet-string (text, ≤ 8), season_start date-time
    /// octet-string(12), week_name}; as MMC's `Seasons`.
    static func seasons(_ value: DLMSData) throws(MappingError) -> DataNode {
        let entries = try value.items("the season profile")
        guard entries.count <= 4 else { throw .shape("\(entries.count) seasons (MMC holds 4)") }
        var seasons = DataNode("Seasons")
        for entry in entries {
            let fields = try entry.items("a season", count: 3)
            let start = try fields[1].octetString("a season start")
            guard start.count == 12 else { throw .shape("a season start has \(start.count) octets, not 12") }
            var season = DataNode("Season")
            season.add("SeasonName", try ConfigurationReads.text(fields[0], "a season name", limit: 8))
            season.add(try date(start.prefix(5), "SeasonStartDate", "a season start"))
            season.add("ReferencedWeekName", try weekName(fields[2], "a season's week name", weeks: 4))
            seasons.add(season)
        }
        return seasons
    }

    /// Activity calendar attribute 4 `week_profile_table_active`: an array of up to 4
    /// {week_profile_name, day_id Monday … Sunday (unsigned)}; as MMC's `WeekProfiles`.
    static func weekProfiles(_ value: DLMSData) throws(MappingError) -> DataNode {
        let entries = try value.items("the week profile table")
        guard entries.count <= 4 else { throw .shape("\(entries.count) week profiles (MMC holds 4)") }
        var weeks = DataNode("WeekProfiles")
        for entry in entries {
            let fields = try entry.items("a week profile", count: 8)
            var week = DataNode("WeekProfile")
            week.add("WeekName", try weekName(fields[0], "a week profile's name", weeks: 4))
            for day in 1...7 {
                let id = try number(fields[day], "a week profile's day \(day)", in: 1...16)
                week.add("ReferencedElecDay", String(id), attributes: [("index", String(day))])
            }
            weeks.add(week)
        }
        return weeks
    }

    /// Activity calendar attribute 5 `day_profile_table_active`: an array of up to 16
    /// {day_id unsigned, day_schedule: up to 48 {start_time octet-string(4), script
    /// 0-0:10.0.100.255, script_selector long-unsigned}}; as MMC's `DayProfiles`, each
    /// selector made an action by `action` (its element name and number).
    static func dayProfiles(_ value: DLMSData, action: (Int64) throws(MappingError) -> (String, Int64)) throws(MappingError) -> DataNode {
        let entries = try value.items("the day profile table")
        guard entries.count <= 16 else { throw .shape("\(entries.count) day profiles (MMC holds 16)") }
        var days = DataNode("DayProfiles")
        for entry in entries {
            let fields = try entry.items("a day profile", count: 2)
            var day = DataNode("DayProfile")
            day.add("Day", try number(fields[0], "a day profile's day", in: 1...16))
            let schedule = try fields[1].items("a day schedule")
            guard schedule.count <= 48 else { throw .shape("a day schedule of \(schedule.count) actions (MMC holds 48)") }
            for item in schedule {
                let parts = try item.items("a day profile action", count: 3)
                guard try parts[1].octetString("a day profile action's script") == tariffScriptTable else {
                    throw .shape("a day profile action runs a script other than the Tariff script table")
                }
                let selector = try number(parts[2], "a script selector", in: 0...65535)
                let (name, value) = try action(selector)
                var step = DataNode("ProfileSchedule")
                step.add("StartTime", try ConfigurationReads.timeOfDay(parts[0], "a day profile action's start time"))
                step.add(name, value)
                day.add(step)
            }
            days.add(day)
        }
        return days
    }

    /// Special days table attribute 2 `entries`: an array of up to 50 {index
    /// long-unsigned, specialday_date octet-string(5), day_id unsigned}; as MMC's
    /// `TariffSwitchingTableSpecialDays`, in the device's order.
    static func specialDays(_ value: DLMSData) throws(MappingError) -> DataNode {
        let entries = try value.items("the special days table")
        guard entries.count <= 50 else { throw .shape("\(entries.count) special days (MMC holds 50)") }
        var days = DataNode("TariffSwitchingTableSpecialDays")
        for entry in entries {
            let fields = try entry.items("a special day", count: 3)
            _ = try number(fields[0], "a special day's index", in: 0...65535)
            var day = DataNode("SpecialDay")
            day.add(try date(try fields[1].octetString("a special day's date")[...], "Date", "a special day's date"))
            day.add("ReferencedDay", try number(fields[2], "a special day's day", in: 1...16))
            days.add(day)
        }
        return days
    }

    /// A Charge's `unit_charge_active` (class 113 attribute 5): {charge_per_unit_scaling
    /// {commodity_scale integer, price_scale integer}, commodity_reference {class_id,
    /// logical_name, attribute_index}, charge_table array of {index octet-string,
    /// charge_per_unit long}}: the price scale and the charges.
    static func unitCharge(_ value: DLMSData, _ what: String) throws(MappingError) -> (priceScale: Int64, charges: [(index: [UInt8], charge: Int64)]) {
        let fields = try value.items(what, count: 3)
        let scaling = try fields[0].items("\(what)'s scaling", count: 2)
        _ = try number(scaling[0], "\(what)'s commodity scale", in: -128...127)
        let priceScale = try number(scaling[1], "\(what)'s price scale", in: -128...127)
        _ = try fields[1].items("\(what)'s commodity reference", count: 3)
        var charges: [(index: [UInt8], charge: Int64)] = []
        for element in try fields[2].items("\(what)'s charge table") {
            let pair = try element.items("a charge table element", count: 2)
            charges.append((try pair[0].octetString("a charge index"), try number(pair[1], "a charge per unit", in: -32768...32767)))
        }
        return (priceScale, charges)
    }

    // MARK: - Mappers

    /// ECS24b (4.11.2), seven GETs: the secondary price matrix (Charge 0-0:19.20.5.255
    /// attribute 5, charge table indexes 0x01…0x04 the TOU prices 1…4), the secondary
    /// active tariff price (register 0-0:94.44.1.8 attribute 2, double-long-unsigned, and
    /// attribute 3, its scaler_unit), the special days (0-0:11.0.1.255 attribute 2) and the
    /// secondary activity calendar (0-0:13.0.1.255 attributes 3, 4, 5: seasons, weeks,
    /// days). Script selectors 201…204 are TOU rates 1…4.
    static let secondaryElement: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 7 else { throw .shape("\(reading.values.count) secondary tariff values, not 7") }
        let matrix = try unitCharge(reading.value(0), "the secondary price matrix")
        _ = try reading.value(2).scalerUnit("the secondary active tariff price's scaler and unit")
        var prices = DataNode("TariffTOUPriceMatrix")
        var seen: Set<UInt8> = []
        for (index, charge) in matrix.charges {
            guard index.count == 1, (1...4).contains(index[0]), seen.insert(index[0]).inserted else { throw .shape("a secondary price index that is not one of 0x01…0x04") }
            prices.add("TariffTOUPrice", String(charge), attributes: [("index", String(index[0]))])
        }
        var switching = DataNode("TariffSwitchingTable")
        switching.add(try dayProfiles(reading.value(6)) { selector throws(MappingError) in
            guard (201...204).contains(selector) else { throw .shape("secondary script selector \(selector), not 201…204") }
            return ("TOUTariffAction", selector - 200)
        })
        switching.add(try weekProfiles(reading.value(5)))
        switching.add(try seasons(reading.value(4)))
        return [
            DataNode("SecondaryActiveTariffPrice", text: String(try number(reading.value(1), "the secondary active tariff price", in: 0...Int64(UInt32.max)))),
            DataNode("PriceScale", text: String(matrix.priceScale)),
            prices,
            switching,
            try specialDays(reading.value(3)),
        ]
    }

    /// ECS24 (4.11.1, electricity), seventeen GETs: the active tariff price (register
    /// 0-0:94.44.1.7 attributes 2 and 3), the activity calendar (0-0:13.0.0.255 attributes
    /// 3, 4, 5), the special days (0-0:11.0.0.255 attribute 2), the block thresholds of
    /// TOU rates 1…8 (register monitors 0-0:16.0.11.255 … 0-0:16.0.18.255 attribute 2, up
    /// to three double-long-unsigned each), the currency (0-0:94.44.2.0 attribute 2,
    /// boolean: GB pounds true, euro false), the standing charge (Charge 0-0:19.20.4.255
    /// attribute 5, one charge) and the price matrix (Charge 0-0:19.20.0.255 attribute 5).
    /// Script selectors 1…48 are TOU rates, 101…108 block tariffs 1…8.
    static let primaryElectricity: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 17 else { throw .shape("\(reading.values.count) tariff values, not 17") }
        _ = try reading.value(1).scalerUnit("the active tariff price's scaler and unit")
        var electricity = DataNode("Electricity")
        electricity.add("PrimaryActiveTariffPrice", String(try number(reading.value(0), "the active tariff price", in: 0...Int64(UInt32.max))))
        electricity.add("CurrencyUnitsLabel", try ConfigurationReads.boolean(reading.value(14), "the currency") ? "GBP" : "ECB")
        let standing = try unitCharge(reading.value(15), "the standing charge")
        guard standing.charges.count == 1, let charge = standing.charges.first else { throw .shape("a standing charge of \(standing.charges.count) charges, not 1") }
        electricity.add("StandingCharge", String(charge.charge))
        electricity.add("StandingChargeScale", String(standing.priceScale))
        let matrix = try unitCharge(reading.value(16), "the price matrix")
        electricity.add("PriceScale", String(matrix.priceScale))
        var tou: [Int: Int64] = [:]
        var blocks: [Int: [Int: Int64]] = [:]
        for (index, price) in matrix.charges {
            guard index.count == 1 else { throw .shape("a price index of \(index.count) octets") }
            let octet = index[0], tariff = Int(octet & 0x0F), block = Int(octet >> 4) - 0x09
            if (0x01...0x30).contains(octet) {
                guard tou.updateValue(price, forKey: Int(octet)) == nil else { throw .shape("TOU price \(octet) twice") }
            } else if (1...4).contains(block), (1...8).contains(tariff) {
                guard blocks[tariff, default: [:]].updateValue(price, forKey: block) == nil else { throw .shape("block price \(octet) twice") }
            } else {
                throw .shape("price index \(octet), neither a TOU nor a block price")
            }
        }
        var blockMatrix = DataNode("TariffBlockPriceMatrix")
        for tariff in blocks.keys.sorted() {
            var prices = DataNode("TariffBlockPrices", attributes: [("index", String(tariff))])
            for (block, price) in (blocks[tariff] ?? [:]).sorted(by: { $0.key < $1.key }) {
                prices.add("BlockPrice", String(price), attributes: [("index", String(block))])
            }
            blockMatrix.add(prices)
        }
        electricity.add(blockMatrix)
        var touMatrix = DataNode("TariffTOUPriceMatrix")
        for (rate, price) in tou.sorted(by: { $0.key < $1.key }) {
            touMatrix.add("TariffTOUPrice", String(price), attributes: [("index", String(rate))])
        }
        electricity.add(touMatrix)
        var switching = DataNode("TariffSwitchingTable")
        switching.add(try dayProfiles(reading.value(4)) { selector throws(MappingError) in
            switch selector {
            case 1...48: return ("TOUTariffAction", selector)
            case 101...108: return ("BlockTariffAction", selector - 100)
            default: throw .shape("script selector \(selector), neither a TOU rate (1…48) nor a block tariff (101…108)")
            }
        })
        switching.add(try weekProfiles(reading.value(3)))
        switching.add(try seasons(reading.value(2)))
        electricity.add(switching)
        electricity.add(try specialDays(reading.value(5)))
        var thresholds = DataNode("TariffThresholdMatrix")
        for rate in 1...8 {
            let values = try reading.value(5 + rate).items("TOU rate \(rate)'s block thresholds")
            guard values.count <= 3 else { throw .shape("TOU rate \(rate) has \(values.count) block thresholds (MMC holds 3)") }
            var node = DataNode("ElecTariffThresholds", attributes: [("index", String(rate))])
            for (index, value) in values.enumerated() {
                let threshold = try number(value, "a block threshold", in: 0...Int64(UInt32.max))
                node.add("BlockThreshold", String(threshold), attributes: [("index", String(index + 1))])
            }
            thresholds.add(node)
        }
        electricity.add(thresholds)
        return [electricity]
    }

    // MARK: - Gas

    static let calendar: UInt16 = 0x0707

    /// The payloads of every component that is the cluster's command from the server, in order.
    static func serverCommands(_ reading: Reading, cluster: UInt16, command: UInt8) -> [[UInt8]] {
        var found: [[UInt8]] = []
        for (component, payload) in zip(reading.components, reading.componentPayloads)
        where component.cluster == cluster && component.command == command && !component.isProfileWide && component.isFromServer {
            found.append(payload)
        }
        return found
    }

    /// A ZCL Date (year − 1900, month, day of month, day of week Monday = 1; 0xFF not
    /// specified) as MMC's `GasDateWithWildcards`.
    static func gasDate(_ reader: inout GasReads.LittleEndian, _ name: String, _ what: String) throws(MappingError) -> DataNode {
        let year = try reader.uint(1, "\(what)'s year"), month = try reader.uint(1, "\(what)'s month")
        let day = try reader.uint(1, "\(what)'s day"), weekday = try reader.uint(1, "\(what)'s day of week")
        var node = DataNode(name)
        switch year {
        case 0xFF: node.add("GasYearWithWildcards") { $0.addEmpty("NonSpecifiedYear") }
        case 114...254: node.add("GasYearWithWildcards") { $0.add("SpecifiedYear", 1900 + year) }
        default: throw .shape("\(what) has year \(1900 + year), which MMC cannot hold")
        }
        switch month {
        case 0xFF: node.add("GasMonthWithWildcards") { $0.addEmpty("NonSpecifiedMonth") }
        case 1...12: node.add("GasMonthWithWildcards") { $0.add("SpecifiedMonth", month) }
        default: throw .shape("\(what) has month \(month)")
        }
        switch day {
        case 0xFF: node.add("GasDayOfMonthWithWildcards") { $0.addEmpty("GasNonSpecifiedDayOfMonth") }
        case 1...31: node.add("GasDayOfMonthWithWildcards") { $0.add("SpecifiedDayOfMonth", day) }
        default: throw .shape("\(what) has day of month \(day)")
        }
        switch weekday {
        case 0xFF: node.add("GasDayOfWeekWithWildcards") { $0.addEmpty("NonSpecifiedDayOfWeek") }
        case 1...7: node.add("GasDayOfWeekWithWildcards") { $0.add("SpecifiedDayOfWeek", weekday) }
        default: throw .shape("\(what) has day of week \(weekday)")
        }
        return node
    }

    /// GCS21f (4.11.1, gas), a GBZ answer of ten components:
    /// - Price cluster Read Attributes: ThresholdDivisor 0x0203 and ThresholdMultiplier
    ///   0x0202 (UINT24), Block1…3Threshold 0x0100…0x0102 (UINT48), UnitofMeasure 0x0615,
    ///   NoTierBlock1…4Price 0x0400…0x0403 and Tier1…4Block1Price 0x0410, 0x0420, 0x0430,
    ///   0x0440 (UINT32), Currency 0x0616 (UINT16, ISO 4217: 826 GBP, 978 euro), Price
    ///   Trailing Digit 0x0617 and Standing Charge 0x0301 (UINT32). A threshold is written
    ///   as `value × multiplier / divisor` (ZSE's Block Period formatting), exactly.
    /// - Calendar cluster PublishDayProfile (one per day: provider, issuer event and
    ///   calendar IDs, day ID, entries, command index and count, calendar type, then
    ///   {start time UINT16, price tier UINT8}; a GSME day has one entry), PublishWeekProfile
    ///   (week ID, day ID Monday … Sunday), PublishSeasons (command index and count, then
    ///   {ZCL Date, week ID}) and PublishSpecialDays (start time, calendar type, count,
    ///   command index and count, then {ZCL Date, day ID}).
    /// - Price cluster Publish Price: the active price (`Price`) and its trailing digit.
    /// A day's price tier 1…4 is that TOU rate; tier 0 is the block tariff (DCC's
    /// GCS01a BLOCK commands publish tier 0, its TOU commands tiers 1…4: inferred, no DUIS
    /// request was seen beside them). A day's start time has no MMC element and is not
    /// written. Prices are written as the meter holds them (the Price Trailing Digit
    /// gives their places; MMC has no element for it), the active price's places as
    /// `PrimaryActiveTariffPriceScale` (−trailing digit).
    static let primaryGas: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let price = GasReads.price
        func unsigned(_ id: UInt16, _ type: UInt8, _ what: String) throws(MappingError) -> UInt64 {
            try GasReads.unsigned(attributes, price, id, type: type, what)
        }
        var gas = DataNode("Gas")
        // Publish Price: provider, rate label, issuer event, current time, unit, currency,
        // trailing digit and tier, tiers and register tier, start time, duration, price.
        let published = serverCommands(reading, cluster: price, command: 0x00)
        guard published.count == 1, let publish = published.first else { throw .shape("\(published.count) Publish Price commands, not 1") }
        var reader = GasReads.LittleEndian(publish, "the Publish Price")
        _ = try reader.uint(4, "provider ID")
        let label = Int(try reader.uint(1, "rate label length"))
        for _ in 0..<label { _ = try reader.uint(1, "rate label") }
        _ = try reader.uint(4, "issuer event ID")
        _ = try reader.uint(4, "current time")
        _ = try reader.uint(1, "unit of measure")
        _ = try reader.uint(2, "currency")
        let trailing = try reader.uint(1, "trailing digit and price tier")
        _ = try reader.uint(1, "number of price tiers")
        _ = try reader.uint(4, "start time")
        _ = try reader.uint(2, "duration")
        gas.add("PrimaryActiveTariffPrice", try reader.uint(4, "price"))
        gas.add("PrimaryActiveTariffPriceScale", -Int(trailing >> 4))
        switch try unsigned(0x0616, 0x21, "Currency") {
        case 826: gas.add("CurrencyUnitsLabel", "GBP")
        case 978: gas.add("CurrencyUnitsLabel", "ECB")
        case let other: throw .shape("currency \(other), neither GBP (826) nor euro (978)")
        }
        gas.add("StandingCharge", try unsigned(0x0301, 0x23, "Standing Charge"))

        var switching = DataNode("TariffSwitchingTable")
        let dayPayloads = serverCommands(reading, cluster: calendar, command: 0x01)
        guard dayPayloads.count <= 4 else { throw .shape("\(dayPayloads.count) day profiles (MMC holds 4)") }
        var days = DataNode("DayProfiles")
        for payload in dayPayloads {
            var reader = GasReads.LittleEndian(payload, "a PublishDayProfile")
            _ = try reader.uint(12, "provider, issuer event and calendar IDs")
            let id = try reader.uint(1, "day ID")
            let entries = try reader.uint(1, "number of schedule entries")
            _ = try reader.uint(1, "command index")
            let commands = try reader.uint(1, "number of commands")
            let type = try reader.uint(1, "calendar type")
            guard (1...4).contains(id), entries == 1, commands == 1, type == 0 else {
                throw .shape("a day profile that is not one delivered-calendar entry for day 1…4")
            }
            _ = try reader.uint(2, "start time")
            let tier = try reader.uint(1, "price tier")
            guard reader.remaining == 0 else { throw .shape("a PublishDayProfile with \(reader.remaining) octets left") }
            var day = DataNode("DayProfile")
            day.add("DayName", id)
            switch tier {
            case 0: day.addEmpty("BlockTariff")
            case 1...4: day.add("TOUTariffAction", tier)
            default: throw .shape("price tier \(tier), not 0…4")
            }
            days.add(day)
        }
        switching.add(days)
        let weekPayloads = serverCommands(reading, cluster: calendar, command: 0x02)
        guard weekPayloads.count <= 2 else { throw .shape("\(weekPayloads.count) week profiles (MMC holds 2)") }
        var weeks = DataNode("WeekProfiles")
        for payload in weekPayloads {
            var reader = GasReads.LittleEndian(payload, "a PublishWeekProfile")
            _ = try reader.uint(12, "provider, issuer event and calendar IDs")
            let id = try reader.uint(1, "week ID")
            guard (1...2).contains(id) else { throw .shape("week ID \(id), not 1…2") }
            var week = DataNode("WeekProfile")
            week.add("WeekName", id)
            for index in 1...7 {
                let day = try reader.uint(1, "day \(index)")
                guard (1...4).contains(day) else { throw .shape("a week's day ID \(day), not 1…4") }
                week.add("ReferencedDay", String(day), attributes: [("index", String(index))])
            }
            guard reader.remaining == 0 else { throw .shape("a PublishWeekProfile with \(reader.remaining) octets left") }
            weeks.add(week)
        }
        switching.add(weeks)
        var seasons = DataNode("Seasons")
        for payload in serverCommands(reading, cluster: calendar, command: 0x03) {
            var reader = GasReads.LittleEndian(payload, "a PublishSeasons")
            _ = try reader.uint(14, "IDs, command index and count")
            guard reader.remaining % 5 == 0 else { throw .shape("PublishSeasons entries of \(reader.remaining) octets") }
            while reader.remaining > 0 {
                var season = DataNode("Season")
                season.add(try gasDate(&reader, "SeasonStartDate", "a season start"))
                let week = try reader.uint(1, "week ID")
                guard (1...2).contains(week) else { throw .shape("a season's week ID \(week), not 1…2") }
                season.add("ReferencedWeekName", week)
                seasons.add(season)
            }
        }
        guard seasons.children.count <= 3 else { throw .shape("\(seasons.children.count) seasons (MMC holds 3)") }
        switching.add(seasons)
        gas.add(switching)

        var special = DataNode("TariffSwitchingTableSpecialDays")
        for payload in serverCommands(reading, cluster: calendar, command: 0x04) {
            var reader = GasReads.LittleEndian(payload, "a PublishSpecialDays")
            _ = try reader.uint(20, "IDs, start time, calendar type, count, command index and count")
            guard reader.remaining % 5 == 0 else { throw .shape("PublishSpecialDays entries of \(reader.remaining) octets") }
            while reader.remaining > 0 {
                var day = DataNode("SpecialDay")
                day.add(try gasDate(&reader, "Date", "a special day"))
                let id = try reader.uint(1, "day ID")
                guard (1...4).contains(id) else { throw .shape("a special day's day ID \(id), not 1…4") }
                day.add("ReferencedDay", id)
                special.add(day)
            }
        }
        guard special.children.count <= 20 else { throw .shape("\(special.children.count) special days (MMC holds 20)") }
        gas.add(special)

        let formatting = GasReads.Formatting(multiplier: try unsigned(0x0202, 0x22, "ThresholdMultiplier"),
                                             divisor: try unsigned(0x0203, 0x22, "ThresholdDivisor"))
        var thresholds = DataNode("TariffThresholds")
        for index in 1...3 {
            let value = try unsigned(0x0100 + UInt16(index - 1), 0x25, "Block\(index)Threshold")
            thresholds.add("BlockThreshold", try GasReads.decimal(value, formatting, places: 0), attributes: [("index", String(index))])
        }
        gas.add(thresholds)
        var touPrices = DataNode("TOUTariff")
        for tier in 1...4 {
            touPrices.add("TariffTOUPrice", String(try unsigned(0x0400 + UInt16(tier) << 4, 0x23, "Tier\(tier)Block1Price")), attributes: [("index", String(tier))])
        }
        gas.add(touPrices)
        var blockPrices = DataNode("BlockTariff")
        for block in 1...4 {
            blockPrices.add("BlockPrice", String(try unsigned(0x0400 + UInt16(block - 1), 0x23, "NoTierBlock\(block)Price")), attributes: [("index", String(block))])
        }
        gas.add(blockPrices)
        return [gas]
    }
}
