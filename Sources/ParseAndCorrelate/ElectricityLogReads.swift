import DUIS
import GBCS
import MMC

/// The electricity meter's register, billing, daily and profile log reads (DLMS COSEM), GBCS payload to MMC elements.
///
/// Layouts are GBCS's use-case tables ("the ordering of fields below is according to
/// section 19.2.1"): a protected read (get_protected_attributes, class 30) answers one
/// decrypted structure holding one value per attribute asked for; a log read with
/// selective access answers the buffer itself. Buffer timestamps are double-long-unsigned
/// UTC seconds since 2000; attribute date-times are DLMS octet-string(12).
enum ElectricityLogReads {
    static let table: [String: MMCMapping.Mapper] = [
        "ECS17d": touMatrices,
        "ECS17e": touWithBlocksMatrices,
        "ECS18a": maximumDemandExport,
        "ECS18b": maximumDemandImport,
        "ECS19": prepayValues,
        "ECS20a": debtPaymentsLog,
        "ECS20b": changeOfModeOrTariffLog,
        "ECS20c": billingCalendarLog,
        "ECS20d": prepaymentCreditsLog,
        "ECS21a": importDailyReadLog,
        "ECS21b": prepaymentDailyReadLog,
        "ECS21c": exportDailyReadLog,
        "ECS22a": exportProfile,
        "ECS22b": activeImportProfile,
        "ECS22c": reactiveImportProfile,
        "ECS23": networkData,
    ]

    // MARK: - Registers

    /// ECS17d (4.1.2): one protected value (0-0:94.44.34.1), TOU_register_collection, a
    /// structure of the primary element's TOU registers [1..48] and, on a twin element
    /// meter, the secondary element's [1..4], each double-long-unsigned Wh.
    static let touMatrices: MMCMapping.Mapper = { reading throws(MappingError) in
        let collection = try protectedValues(reading, count: 1, "the TOU register collection")[0]
        let arrays = try collection.items("the TOU register collection")
        guard arrays.count == 1 || arrays.count == 2 else { throw .shape("the TOU register collection has \(arrays.count) arrays, not 1 or 2") }
        var registers = DataNode("TariffTOURegisterCollection")
        registers.children += try matrix("TOUPrimaryRegisterValue", arrays[0], "a primary TOU register", maximum: 48)
        if arrays.count == 2 {
            registers.children += try matrix("TOUSecondRegisterValue", arrays[1], "a secondary TOU register", maximum: 4)
        }
        var electricity = DataNode("Electricity")
        electricity.add(registers)
        return [electricity]
    }

    /// ECS17e (4.1.3): one protected value (0-0:94.44.34.2), a structure of one array of
    /// 64 double-long-unsigned: for block b (1...4), entries 16(b-1)+1...16(b-1)+8 are the
    /// block's TOU register matrix values [1..8] and the next 8 its block counters [1..8].
    static let touWithBlocksMatrices: MMCMapping.Mapper = { reading throws(MappingError) in
        let collection = try protectedValues(reading, count: 1, "the block TOU register collection")[0]
        let inner = try collection.items("the block TOU register collection", count: 1)
        let values = try inner[0].items("the block TOU registers", count: 64)
        var blocks = DataNode("TariffBlockTOURegisterCollection")
        for block in 0..<4 {
            var node = DataNode("TariffBlock", attributes: [("index", String(block + 1))])
            for rate in 0..<8 {
                node.add(DataNode("RegisterMatrixTOUValue", text: String(try values[16 * block + rate].integer("a block TOU register")), attributes: [("index", String(rate + 1))]))
            }
            for rate in 0..<8 {
                node.add(DataNode("CounterMatrixTOUValue", text: String(try values[16 * block + 8 + rate].integer("a block TOU counter")), attributes: [("index", String(rate + 1))]))
            }
            blocks.add(node)
        }
        return [blocks]
    }

    /// ECS18a (4.12.2): the export maximum demand's date-time of last reset
    /// (0-0:94.44.5.2), its value (1-0:2.6.0.255 attribute 2), scaler_unit (W) and
    /// capture time (attribute 5).
    static let maximumDemandExport: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 4 else { throw .shape("a maximum demand export answer has \(reading.values.count) values, not 4") }
        return [try maximumDemand("MaxDemandActiveEnergyExport", value: reading.value(1), scalerUnit: reading.value(2), captured: reading.value(3), reset: reading.value(0))]
    }

    /// ECS18b (4.12.1): the date-times of last reset of the configurable-time (0-0:94.44.5.0)
    /// and the active import (0-0:94.44.5.1) maximum demands; the active import maximum
    /// demand (1-0:1.6.0.255: value, scaler_unit W, capture time); the configurable-time one
    /// (1-0:1.6.1.255, likewise); and the schedule (0-0:12.0.0.255 entries) whose entry with
    /// script selector 1 starts the configurable period and with selector 2 ends it.
    static let maximumDemandImport: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 9 else { throw .shape("a maximum demand import answer has \(reading.values.count) values, not 9") }
        let configurable = try maximumDemand("MaxDemandConfigurableTimeActivePowerImport", value: reading.value(5), scalerUnit: reading.value(6), captured: reading.value(7), reset: reading.value(0))
        let active = try maximumDemand("MaxDemandActiveEnergyImport", value: reading.value(2), scalerUnit: reading.value(3), captured: reading.value(4), reset: reading.value(1))
        var start: String?, end: String?
        for entry in try reading.value(8).items("the maximum demand period schedule") {
            // schedule_table_entry: index, enable, script, script_selector, switch_time, …
            let fields = try entry.items("a maximum demand schedule entry", count: 10)
            let time = try timeOfDay(fields[4], "a maximum demand switch time")
            switch try fields[3].integer("a maximum demand script selector") {
            case 1 where start == nil: start = time
            case 2 where end == nil: end = time
            case let other: throw .shape("a maximum demand schedule entry with script selector \(other)")
            }
        }
        guard let start, let end else { throw .shape("the maximum demand schedule lacks its start or end") }
        var period = DataNode("MaxDemandConfigurableTimePeriod")
        period.add("StartTime", start)
        period.add("EndTime", end)
        return [configurable, active, period]
    }

    /// ECS19 (4.3): one protected value (0-0:94.44.34.30), prepayment_balance_collection,
    /// a structure of six double-long: meter balance, emergency credit balance,
    /// accumulated debt register, time debt registers 1 and 2, payment debt register.
    static let prepayValues: MMCMapping.Mapper = { reading throws(MappingError) in
        let collection = try protectedValues(reading, count: 1, "the prepayment balance collection")[0]
        let values = try collection.items("the prepayment balance collection", count: 6)
        func money(_ index: Int, _ what: String) throws(MappingError) -> String { String(try values[index].integer(what)) }
        return [DataNode("EmergencyCreditBalance", text: try money(1, "the emergency credit balance")),
                DataNode("AccumulatedDebtRegister", text: try money(2, "the accumulated debt register")),
                DataNode("PaymentDebtRegister", text: try money(5, "the payment debt register")),
                DataNode("TimeDebtRegister1", text: try money(3, "time debt register 1")),
                DataNode("TimeDebtRegister2", text: try money(4, "time debt register 2")),
                DataNode("MeterBalance", text: try money(0, "the meter balance"))]
    }

    // MARK: - Billing data logs

    /// ECS20a (4.4.4): the payment-based debt repayment log (0-0:98.1.4.255, selective
    /// access), entries [1..10] of (timestamp, amount recovered).
    static let debtPaymentsLog: MMCMapping.Mapper = { reading throws(MappingError) in
        [try amountLog("PaymentBasedDebtRepayment", reading.value(0), "the debt repayment log", maximum: 10)]
    }

    /// ECS20d (4.4.5): the prepayment credits log (0-0:98.1.5.255, selective access),
    /// entries [1..5] of (timestamp, amount of credit).
    static let prepaymentCreditsLog: MMCMapping.Mapper = { reading throws(MappingError) in
        [try amountLog("PrepaymentCredits", reading.value(0), "the prepayment credits log", maximum: 5)]
    }

    /// ECS20b (4.4.2): one protected value, the change of mode / tariff triggered billing
    /// data log (0-0:98.1.2.255), entries [1..12] of: timestamp, active import register,
    /// (twin) secondary active import register, TOU registers [1..48], (twin) secondary TOU
    /// registers [1..4], TOU block 1 to 4 registers [1..8] each, then the double-long
    /// emergency credit balance, meter balance, payment debt register, time debt registers
    /// 1 and 2 and accumulated debt register. MMC splits each entry in two: its registers,
    /// then its prepayment values, both with the entry's timestamp.
    static let changeOfModeOrTariffLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let log = try buffer(protectedValues(reading, count: 1, "the billing data log")[0], "the billing data log", maximum: 12)
        var electricity = DataNode("Electricity")
        var prepayment: [DataNode] = []
        for entry in log {
            let (reads, rest) = try registerReads(entry, "a billing data log entry", extra: 6)
            var node = DataNode("LogEntryConsumptionAndTariffRegistersData")
            node.add("ActiveImportRegisterConsumption", reads.active)
            node.children += reads.tou("TariffTOURegisterMatrixValue")
            node.children += reads.blockNodes { "TariffTOUBlock\($0)RegisterMatrixValue" }
            if let secondary = reads.secondary { node.add("SecondaryActiveImportRegisterConsumption", secondary) }
            node.children += reads.secondaryTOUNodes("SecondaryTariffTOURegisterMatrixValue")
            node.add("Timestamp", reads.timestamp)
            electricity.add(node)
            prepayment.append(try prepaymentData("LogEntryPrepaymentData", timestamp: reads.timestamp, rest, "a billing data log entry"))
        }
        electricity.children += prepayment
        return [electricity]
    }

    /// ECS20c (4.4.3): two protected values, the billing calendar triggered billing data
    /// logs: the register log (0-0:98.1.0.255), entries [1..12] of timestamp, active import
    /// register, (twin) secondary active import register, TOU registers [1..48], (twin)
    /// secondary TOU registers [1..4], TOU block 1 to 4 registers [1..8] each; and the
    /// prepayment log (0-0:98.1.1.255), entries [1..12] of timestamp, then the double-long
    /// emergency credit balance, meter balance, payment debt register, time debt registers
    /// 1 and 2 and accumulated debt register.
    static let billingCalendarLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let logs = try protectedValues(reading, count: 2, "the billing data logs")
        var electricity = DataNode("Electricity")
        for entry in try buffer(logs[0], "the billing data log", maximum: 12) {
            let (reads, _) = try registerReads(entry, "a billing data log entry", extra: 0)
            var node = DataNode("ESMEBillingDataLogEntry")
            node.add("Timestamp", reads.timestamp)
            node.add("ActiveImportRegisterValueConsumption", reads.active)
            if let secondary = reads.secondary { node.add("SecondaryActiveImportRegisterValueConsumption", secondary) }
            node.children += reads.tou("TariffTOURegisterMatrixValue")
            node.children += reads.secondaryTOUNodes("SecondaryTariffTOURegisterMatrixValue")
            node.children += reads.blockNodes { "TariffTOUBlock\($0)RegisterMatrixValue" }
            electricity.add(node)
        }
        for entry in try buffer(logs[1], "the billing prepayment log", maximum: 12) {
            let fields = try entry.items("a billing prepayment log entry", count: 7)
            electricity.add(try prepaymentData("ESMEBillingPrepaymentDataLogEntry", timestamp: time(fields[0], "a billing log entry's time"), Array(fields[1...]), "a billing prepayment log entry"))
        }
        return [electricity]
    }

    // MARK: - Daily read logs

    /// ECS21a (4.6.1): one protected value, the daily read log (0-0:98.1.9.255), entries
    /// [1..31] of timestamp, active import register, (twin) secondary active import
    /// register, TOU registers [1..48], (twin) secondary TOU registers [1..4], TOU block 1
    /// to 4 registers [1..8] each.
    static let importDailyReadLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let log = try buffer(protectedValues(reading, count: 1, "the daily read log")[0], "the daily read log", maximum: 31)
        return try log.map { entry throws(MappingError) in
            let (reads, _) = try registerReads(entry, "a daily read log entry", extra: 0)
            var electricity = DataNode("Electricity")
            electricity.add("ElecActiveImportRegisterConsumption", reads.active)
            if let secondary = reads.secondary { electricity.add("SecondaryActiveImportRegisterConsumption", secondary) }
            electricity.children += reads.secondaryTOUNodes("SecondaryTariffTOURegisterMatrixValue")
            electricity.children += reads.tou("TariffTOURegisterMatrixValue")
            electricity.children += reads.blockNodes { "TariffTOUBlock\($0)RegisterMatrixValue" }
            var node = DataNode("LogEntry")
            node.add("Timestamp", reads.timestamp)
            node.add(electricity)
            return node
        }
    }

    /// ECS21b (4.14): one protected value, the prepayment daily read log (0-0:98.1.8.255),
    /// entries [1..31] of timestamp, then the double-long emergency credit balance, meter
    /// balance, payment debt register, time debt registers 1 and 2 and accumulated debt
    /// register.
    static let prepaymentDailyReadLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let log = try buffer(protectedValues(reading, count: 1, "the prepayment daily read log")[0], "the prepayment daily read log", maximum: 31)
        var electricity = DataNode("Electricity")
        for entry in log {
            let fields = try entry.items("a prepayment daily read log entry", count: 7)
            electricity.add(try prepaymentData("LogEntry", timestamp: time(fields[0], "a daily read's time"), Array(fields[1...]), "a prepayment daily read log entry"))
        }
        return [electricity]
    }

    /// ECS21c (4.6.2): the export daily read log (0-0:98.1.10.255, selective access),
    /// entries [1..31] of (timestamp, active export register).
    static let exportDailyReadLog: MMCMapping.Mapper = { reading throws(MappingError) in
        try buffer(reading.value(0), "the export daily read log", maximum: 31).map { entry throws(MappingError) in
            let pair = try entry.items("an export daily read", count: 2)
            var node = DataNode("LogEntry")
            node.add("ActiveExportRegisterValue", String(try pair[1].integer("an active export register")))
            node.add("TimeStamp", try time(pair[0], "an export daily read's time"))
            return node
        }
    }

    // MARK: - Half-hour profiles

    /// ECS22b (4.8.1): one protected value, the active import profile (0-0:99.1.0.255),
    /// entries [1..19056] of (timestamp at the end of the half hour, the half hour's active
    /// import in Wh and, on a twin element meter, the secondary element's).
    static let activeImportProfile: MMCMapping.Mapper = { reading throws(MappingError) in
        let log = try buffer(protectedValues(reading, count: 1, "the active import profile")[0], "the active import profile", maximum: 19_056)
        return try log.map { entry throws(MappingError) in
            let fields = try entry.items("an active import profile entry")
            guard fields.count == 2 || fields.count == 3 else { throw .shape("an active import profile entry has \(fields.count) values, not 2 or 3") }
            var electricity = DataNode("Electricity")
            electricity.add("PrimaryValue", String(try fields[1].integer("a half hour's active import")))
            if fields.count == 3 { electricity.add("SecondaryValue", String(try fields[2].integer("a half hour's secondary active import"))) }
            var node = DataNode("LogEntry")
            node.add("Timestamp", try time(fields[0], "a profile entry's time"))
            node.add(electricity)
            return node
        }
    }

    /// ECS22c (4.8.2): the reactive import profile (0-0:99.1.2.255, selective access),
    /// entries [1..4464] of (timestamp at the end of the half hour, reactive import in varh).
    static let reactiveImportProfile: MMCMapping.Mapper = { reading throws(MappingError) in
        try buffer(reading.value(0), "the reactive import profile", maximum: 4464).map { entry throws(MappingError) in
            let pair = try entry.items("a reactive import profile entry", count: 2)
            var node = DataNode("LogEntry")
            node.add("ReactiveEnergyImportedValue", String(try pair[1].integer("a half hour's reactive import")))
            node.add("Timestamp", try time(pair[0], "a profile entry's time"))
            return node
        }
    }

    /// ECS22a (4.8.3): the export profile (0-0:99.1.1.255, selective access), entries
    /// [1..4464] of (timestamp at the end of the half hour, active export in Wh, reactive
    /// export in varh).
    static let exportProfile: MMCMapping.Mapper = { reading throws(MappingError) in
        try buffer(reading.value(0), "the export profile", maximum: 4464).map { entry throws(MappingError) in
            let fields = try entry.items("an export profile entry", count: 3)
            var node = DataNode("LogEntry")
            node.add("ActiveEnergyExportedValue", String(try fields[1].integer("a half hour's active export")))
            node.add("ReactiveEnergyExportedValue", String(try fields[2].integer("a half hour's reactive export")))
            node.add("Timestamp", try time(fields[0], "a profile entry's time"))
            return node
        }
    }

    // MARK: - Network data

    /// ECS23 (4.10): the single phase meter's average RMS under-voltage counter
    /// (1-0:32.32.0.4) and its scaler_unit (no unit), the over-voltage counter
    /// (1-0:32.36.0.4) and its scaler_unit, the average RMS voltage profile
    /// (1-0:32.24.0.255, selective access) of (timestamp at the end of the measurement
    /// period, average RMS voltage in V) [1..4320], and its capture period in seconds.
    static let networkData: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 6 else { throw .shape("a voltage operational data answer has \(reading.values.count) values, not 6") }
        func counter(_ name: String, _ value: DLMSData, _ scalerUnit: DLMSData) throws(MappingError) -> DataNode {
            let (scaler, unit) = try scalerUnit.scalerUnit("\(name)'s scaler and unit")
            guard unit == 255 else { throw .shape("\(name) is in unit \(unit), not a count (255)") }
            guard scaler >= 0 else { throw .shape("\(name) has scaler \(scaler): MMC's value is an integer") }
            var node = DataNode(name)
            node.add("Value", try MMCFormat.scaled(try value.integer(name), scaler: scaler))
            node.add("Unit", "count")
            return node
        }
        var log = DataNode("AvgRMSVoltageProfileDataLog")
        for entry in try buffer(reading.value(4), "the average RMS voltage profile", maximum: 4320) {
            let pair = try entry.items("an average RMS voltage profile entry", count: 2)
            var node = DataNode("LogEntry")
            node.add("Value", String(try pair[1].integer("an average RMS voltage")))
            node.add("Timestamp", try time(pair[0], "a voltage profile entry's time"))
            log.add(node)
        }
        log.add("MeasurementPeriod", String(try reading.value(5).integer("the average RMS voltage measurement period")))
        var phase = DataNode("SinglePhaseESME")
        phase.add(try counter("AvgRMSOverVoltageCounter", reading.value(2), reading.value(3)))
        phase.add(try counter("AvgRMSUnderVoltageCounter", reading.value(0), reading.value(1)))
        phase.add(log)
        var electricity = DataNode("Electricity")
        electricity.add(phase)
        return [electricity]
    }

    // MARK: - Reading helpers

    /// The decrypted answer of a get_protected_attributes action: a structure of one value
    /// per protected attribute asked for.
    static func protectedValues(_ reading: Reading, count: Int, _ what: String) throws(MappingError) -> [DLMSData] {
        let value = try reading.value(0)
        guard case .structure(let items) = value else { throw .shape("\(what) is \(value.tag), not a structure of protected attributes") }
        guard items.count == count else { throw .shape("\(what) holds \(items.count) protected attributes, not \(count)") }
        return items
    }

    /// A profile's buffer: an array or compact array of at most `maximum` entries (MMC's
    /// maxOccurs).
    static func buffer(_ data: DLMSData, _ what: String, maximum: Int) throws(MappingError) -> [DLMSData] {
        let entries: [DLMSData]
        switch data {
        case .array(let items): entries = items
        case .compactArray(let compact): entries = compact.elements
        default: throw .shape("\(what) is \(data.tag), not an array")
        }
        guard entries.count <= maximum else { throw .shape("\(what) has \(entries.count) entries (MMC holds \(maximum))") }
        return entries
    }

    /// A buffer timestamp, UTC seconds since 2000, as an MMC date-time.
    static func time(_ data: DLMSData, _ what: String) throws(MappingError) -> String {
        let seconds = try data.integer(what)
        guard seconds >= 0 else { throw .shape("\(what) is negative") }
        return try MMCFormat.time(secondsSince2000: seconds)
    }

    /// A DLMS date-time (octet-string(12), UTC) as an MMC date-time, or nil when it is
    /// not an instant (a field not specified).
    static func dateTime(_ data: DLMSData, _ what: String) throws(MappingError) -> String? {
        let octets = try data.octetString(what)
        guard let dateTime = DLMSDateTime(octets) else { throw .shape("\(what) is not a DLMS date-time") }
        guard let seconds = dateTime.unixTime else { return nil }
        return Timestamp(milliseconds: seconds * 1000).iso8601
    }

    /// A DLMS time (octet-string(4): hour, minute, second, hundredths) as MMC's
    /// `hh:mm:ss.hhZ`.
    static func timeOfDay(_ data: DLMSData, _ what: String) throws(MappingError) -> String {
        let octets = try data.octetString(what)
        guard octets.count == 4, octets[0] < 24, octets[1] < 60, octets[2] < 60, octets[3] < 100 || octets[3] == 0xFF else {
            throw .shape("\(what) is not a time of day")
        }
        func two(_ value: UInt8) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return two(octets[0]) + ":" + two(octets[1]) + ":" + two(octets[2]) + "." + two(octets[3] == 0xFF ? 0 : octets[3]) + "Z"
    }

    /// An array of register values as indexed MMC elements (index from 1), at most
    /// `maximum` of them.
    static func matrix(_ name: String, _ data: DLMSData, _ what: String, maximum: Int) throws(MappingError) -> [DataNode] {
        guard case .array(let items) = data else { throw .shape("\(what) array is \(data.tag), not an array") }
        guard items.count <= maximum else { throw .shape("\(items.count) of \(what) (MMC holds \(maximum))") }
        var nodes: [DataNode] = []
        for (index, item) in items.enumerated() {
            nodes.append(DataNode(name, text: String(try item.integer(what)), attributes: [("index", String(index + 1))]))
        }
        return nodes
    }

    /// A maximum demand register: value, scaler_unit (W), capture time and the date-time
    /// of its last reset.
    static func maximumDemand(_ name: String, value: DLMSData, scalerUnit: DLMSData, captured: DLMSData, reset: DLMSData) throws(MappingError) -> DataNode {
        let (scaler, unit) = try scalerUnit.scalerUnit("\(name)'s scaler and unit")
        guard MMCFormat.unit(unit) == "W" else { throw .shape("\(name) is in unit \(unit), not W") }
        guard scaler >= 0 else { throw .shape("\(name) has scaler \(scaler): MMC's value is an integer") }
        var node = DataNode(name)
        node.add("Value", try MMCFormat.scaled(try value.integer(name), scaler: scaler))
        if let time = try dateTime(captured, "\(name)'s capture time") { node.add("CaptureTime", time) }
        if let time = try dateTime(reset, "\(name)'s last reset") { node.add("LastResetDateTime", time) }
        return node
    }

    /// A log of (timestamp, amount) entries, as MMC's `LogEntry` elements in `name`.
    static func amountLog(_ name: String, _ data: DLMSData, _ what: String, maximum: Int) throws(MappingError) -> DataNode {
        var log = DataNode(name)
        for entry in try buffer(data, what, maximum: maximum) {
            let pair = try entry.items("an entry of \(what)", count: 2)
            var node = DataNode("LogEntry")
            node.add("Amount", String(try pair[1].integer("an amount")))
            node.add("Timestamp", try time(pair[0], "an entry's time"))
            log.add(node)
        }
        return log
    }

    /// A prepayment log entry's six double-long values (emergency credit balance, meter
    /// balance, payment debt register, time debt registers 1 and 2, accumulated debt
    /// register) in MMC's PrepaymentOperationalDataType order.
    static func prepaymentData(_ name: String, timestamp: String, _ values: [DLMSData], _ what: String) throws(MappingError) -> DataNode {
        guard values.count == 6 else { throw .shape("\(what) has \(values.count) prepayment values, not 6") }
        func money(_ index: Int, _ field: String) throws(MappingError) -> String { String(try values[index].integer("\(what)'s \(field)")) }
        var node = DataNode(name)
        node.add("AccumulatedDebtRegister", try money(5, "accumulated debt register"))
        node.add("EmergencyCreditBalance", try money(0, "emergency credit balance"))
        node.add("MeterBalance", try money(1, "meter balance"))
        node.add("PaymentDebtRegister", try money(2, "payment debt register"))
        node.add("TimeDebtRegisters1", try money(3, "time debt register 1"))
        node.add("TimeDebtRegisters2", try money(4, "time debt register 2"))
        node.add("Timestamp", timestamp)
        return node
    }

    /// The registers a register read log entry holds (GBCS entry_registerReadLogEntry and
    /// its billing kin), values as MMC text.
    struct RegisterReads {
        var timestamp: String
        var active: String
        var secondary: String?
        var touValues: [String]
        var secondaryTOU: [String]
        var blocks: [[String]]

        func tou(_ name: String) -> [DataNode] { Self.indexed(name, touValues) }
        func secondaryTOUNodes(_ name: String) -> [DataNode] { Self.indexed(name, secondaryTOU) }
        func blockNodes(_ name: (Int) -> String) -> [DataNode] {
            blocks.enumerated().flatMap { Self.indexed(name($0.offset + 1), $0.element) }
        }

        static func indexed(_ name: String, _ values: [String]) -> [DataNode] {
            values.enumerated().map { DataNode(name, text: $0.element, attributes: [("index", String($0.offset + 1))]) }
        }
    }

    /// A register read log entry: timestamp, active import register, (twin) secondary
    /// active import register, TOU registers [1..48], (twin) secondary TOU registers
    /// [1..4], TOU block 1 to 4 registers [1..8]; 7 values, or 9 on a twin element meter,
    /// followed by `extra` more, which are returned.
    static func registerReads(_ entry: DLMSData, _ what: String, extra: Int) throws(MappingError) -> (RegisterReads, [DLMSData]) {
        let fields = try entry.items(what)
        guard fields.count == 7 + extra || fields.count == 9 + extra else { throw .shape("\(what) has \(fields.count) values, not \(7 + extra) or \(9 + extra)") }
        let twin = fields.count == 9 + extra
        func values(_ data: DLMSData, _ field: String, maximum: Int) throws(MappingError) -> [String] {
            guard case .array(let items) = data else { throw .shape("\(what)'s \(field) is \(data.tag), not an array") }
            guard items.count <= maximum else { throw .shape("\(what) has \(items.count) \(field) (MMC holds \(maximum))") }
            var texts: [String] = []
            for item in items { texts.append(String(try item.integer("\(what)'s \(field)"))) }
            return texts
        }
        var next = twin ? 3 : 2
        var reads = RegisterReads(timestamp: try time(fields[0], "\(what)'s time"),
                                  active: String(try fields[1].integer("\(what)'s active import register")),
                                  secondary: twin ? String(try fields[2].integer("\(what)'s secondary active import register")) : nil,
                                  touValues: try values(fields[next], "TOU registers", maximum: 48),
                                  secondaryTOU: [], blocks: [])
        next += 1
        if twin {
            reads.secondaryTOU = try values(fields[next], "secondary TOU registers", maximum: 4)
            next += 1
        }
        for block in 1...4 {
            reads.blocks.append(try values(fields[next], "block \(block) TOU registers", maximum: 8))
            next += 1
        }
        return (reads, Array(fields[next...]))
    }
}
