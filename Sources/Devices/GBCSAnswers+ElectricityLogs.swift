import DUIS
import GBCS
import MMC

/// GBCS answers: the inverse of Parse and Correlate's ElectricityLogReads (the electricity
/// meter's TOU registers, maximum demand, prepayment values, billing and daily read logs,
/// half-hour profiles and network data).
///
/// Layouts are GBCS's use-case tables: a protected read (get_protected_attributes, class
/// 30 method 1) answers one protected structure holding one value per attribute asked for;
/// a log read with selective access answers the buffer itself. Buffer timestamps are
/// double-long-unsigned UTC seconds since 2000; attribute date-times are DLMS
/// octet-string(12). Buffers are compact arrays (as every RTDS vector has them) when their
/// entries share one shape; the number of entries is the answer's.
extension GBCSAnswers {
    static let electricityLogTable: [String: GBCSAnswerEncoder] = [
        "ECS17d": ElectricityLogAnswers.touMatrices,
        "ECS17e": ElectricityLogAnswers.touWithBlocksMatrices,
        "ECS18a": ElectricityLogAnswers.maximumDemandExport,
        "ECS18b": ElectricityLogAnswers.maximumDemandImport,
        "ECS19": ElectricityLogAnswers.prepayValues,
        "ECS20a": ElectricityLogAnswers.debtPaymentsLog,
        "ECS20b": ElectricityLogAnswers.changeOfModeOrTariffLog,
        "ECS20c": ElectricityLogAnswers.billingCalendarLog,
        "ECS20d": ElectricityLogAnswers.prepaymentCreditsLog,
        "ECS21a": ElectricityLogAnswers.importDailyReadLog,
        "ECS21b": ElectricityLogAnswers.prepaymentDailyReadLog,
        "ECS21c": ElectricityLogAnswers.exportDailyReadLog,
        "ECS22a": ElectricityLogAnswers.exportProfile,
        "ECS22b": ElectricityLogAnswers.activeImportProfile,
        "ECS22c": ElectricityLogAnswers.reactiveImportProfile,
        "ECS23": ElectricityLogAnswers.networkData,
    ]
}

/// The encoders of the electricity log family and the pieces they share.
private enum ElectricityLogAnswers {
    typealias Request = DLMSAPDU.RequestSpecification
    typealias CompactType = DLMSCompactArray.TypeDescription

    // MARK: - Fixed layouts (GBCS's tables), for a command that did not come as GBCS

    /// get_protected_attributes of the data protection object 0-0:43.2.`instance`.255.
    static func protectedRead(_ instance: UInt8) -> [Request] {
        [.action(DLMSAPDU.Descriptor(classID: 30, instance: [0, 0, 43, 2, instance, 255], member: 1))]
    }

    /// A get of attribute `attribute` of the object of class `classID`, `obis`.
    static func get(_ classID: UInt16, _ obis: [UInt8], _ attribute: Int8) -> Request {
        .get(DLMSAPDU.Descriptor(classID: classID, instance: obis, member: attribute))
    }

    /// The refusal of a read: a null value and result 1 for each of the command's requests
    /// (or the use case's, where the command did not come as DLMS).
    static func refusal(_ context: GBCSAnswerContext, _ layout: [Request]) -> GBCSAnswerBody {
        let requests = context.requests.flatMap { $0.isEmpty ? nil : $0 } ?? layout
        return GBCSAnswers.dlmsRefusal(context, requests)
    }

    /// The answer of a protected read: one protected structure of `attributes` (one value
    /// per protected attribute asked for), action success.
    static func protected(_ context: GBCSAnswerContext, _ attributes: [DLMSData]) throws(GBCSAnswerError) -> GBCSAnswerBody {
        GBCSAnswers.dlms(context, [try context.protect(.structure(attributes))], [.action(result: 0)])
    }

    /// The answer of gets: each value with get success.
    static func gets(_ context: GBCSAnswerContext, _ values: [DLMSData]) -> GBCSAnswerBody {
        GBCSAnswers.dlms(context, values, values.map { _ in .get(result: 0) })
    }

    // MARK: - Values from the answer's elements

    static func child(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DataNode {
        guard let node = parent.child(name) else { throw .shape("\(parent.name) lacks \(name)") }
        return node
    }

    /// A double-long-unsigned of the child element's number.
    static func doubleLongUnsigned(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        .doubleLongUnsigned(try GBCSAnswers.fit(try GBCSAnswers.integer(parent, child: name), "\(parent.name)/\(name)"))
    }

    /// A double-long of the child element's number.
    static func doubleLong(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        .doubleLong(try GBCSAnswers.fit(try GBCSAnswers.integer(parent, child: name), "\(parent.name)/\(name)"))
    }

    /// A buffer timestamp: the child element's date-time as double-long-unsigned UTC
    /// seconds since 2000 (milliseconds dropped).
    static func stamp(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        let what = "\(parent.name)/\(name)"
        let time = try GBCSAnswers.timestamp(parent.child(name), what)
        let (seconds, overflow) = (time.milliseconds / 1000).subtractingReportingOverflow(GBCSAnswers.epoch2000)
        guard !overflow, time.milliseconds >= 0, seconds >= 0 else { throw .shape("\(what) is before 2000") }
        return .doubleLongUnsigned(try GBCSAnswers.fit(seconds, "\(what) (seconds since 2000)"))
    }

    /// A date-time that is not specified (every field 0xFF), which Parse and Correlate
    /// reads as no element.
    static let notSpecified: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF]

    /// An attribute date-time (octet-string(12)) of the optional child element: not
    /// specified when absent.
    static func dateTime(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> DLMSData {
        guard let node = parent.child(name) else { return .octetString(notSpecified) }
        let time = try GBCSAnswers.timestamp(node, "\(parent.name)/\(name)")
        guard time.milliseconds >= 0 else { throw .shape("\(parent.name)/\(name) is before 1970") }
        return .octetString(GBCSAnswers.dateTime(time))
    }

    /// A DLMS time (octet-string(4): hour, minute, second, hundredths) of MMC's
    /// `hh:mm:ss[.hh][Z]`.
    static func timeOfDay(_ node: DataNode, _ what: String) throws(GBCSAnswerError) -> [UInt8] {
        guard var text = node.text else { throw .shape("\(what) is empty") }
        if text.hasSuffix("Z") { text.removeLast() }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .shape("\(what) \(text) is not a time of day") }
        let seconds = parts[2].split(separator: ".", omittingEmptySubsequences: false)
        guard seconds.count == 1 || seconds.count == 2 else { throw .shape("\(what) \(text) is not a time of day") }
        func field(_ part: Substring, _ limit: UInt8) throws(GBCSAnswerError) -> UInt8 {
            guard part.count == 2, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part), value < limit else {
                throw .shape("\(what) \(text) is not a time of day")
            }
            return value
        }
        return [try field(parts[0], 24), try field(parts[1], 60), try field(seconds[0], 60), seconds.count == 2 ? try field(seconds[1], 100) : 0]
    }

    /// The numbers of the indexed elements (index from 1; one without an index takes the
    /// next position), by position: at most `maximum`, gaps and positions up to `length`
    /// read as 0.
    static func indexed(_ nodes: [DataNode], _ what: String, maximum: Int, length: Int = 0) throws(GBCSAnswerError) -> [Int64] {
        var values: [Int64?] = []
        var position = 0
        for node in nodes {
            if let index = node.attribute("index") {
                guard let number = Int(index) else { throw .shape("\(what) has index \(index)") }
                position = number
            } else {
                position += 1
            }
            guard position >= 1, position <= maximum else { throw .shape("\(what) \(position) is not in 1...\(maximum)") }
            if values.count < position { values.append(contentsOf: repeatElement(nil, count: position - values.count)) }
            guard values[position - 1] == nil else { throw .shape("\(what) \(position) is given twice") }
            values[position - 1] = try GBCSAnswers.integer(Optional(node), what: "\(what) \(position)")
        }
        if values.count < length { values.append(contentsOf: repeatElement(nil, count: length - values.count)) }
        return values.map { $0 ?? 0 }
    }

    /// An array of double-long-unsigned registers of the indexed elements `name`.
    static func registers(_ parent: DataNode, _ name: String, maximum: Int, length: Int = 0) throws(GBCSAnswerError) -> DLMSData {
        var items: [DLMSData] = []
        for value in try indexed(parent.all(name), "\(parent.name)/\(name)", maximum: maximum, length: length) {
            items.append(.doubleLongUnsigned(try GBCSAnswers.fit(value, "\(parent.name)/\(name)")))
        }
        return .array(items)
    }

    /// A number of MMC's xs:decimal text, rounded to the nearest integer (half away from zero).
    static func rounded(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> Int64 {
        guard let text = node?.text, !text.isEmpty else { throw .shape("\(what) is absent") }
        if let whole = Int64(text) { return whole }
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative || digits.hasPrefix("+") { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !(parts[0].isEmpty && parts[1].isEmpty),
              (parts[0] + parts[1]).allSatisfy({ $0.isASCII && $0.isNumber }),
              let magnitude = parts[0].isEmpty ? 0 : Int64(parts[0]) else { throw .shape("\(what) \(text) is not a number") }
        let up: Int64 = (parts[1].first.map { $0 >= "5" } ?? false) ? 1 : 0
        let (result, overflow) = magnitude.addingReportingOverflow(up)
        guard !overflow else { throw .shape("\(what) \(text) is too large") }
        return negative ? -result : result
    }

    // MARK: - Buffers

    /// A log buffer: a compact array of `entries` when they share one shape that a compact
    /// array can describe (no empty array), as meters send them; else an array of them,
    /// which reads the same. An empty log is a compact array of no elements of `empty`,
    /// the use case's entry type.
    static func buffer(_ entries: [DLMSData], empty: CompactType) -> DLMSData {
        guard let first = entries.first else { return .compactArray(DLMSCompactArray(type: empty, elements: [])) }
        guard let type = compactType(first), entries.dropFirst().allSatisfy({ compactType($0) == type }) else { return .array(entries) }
        return .compactArray(DLMSCompactArray(type: type, elements: entries))
    }

    /// The compact array type of a value, when it has one.
    static func compactType(_ data: DLMSData) -> CompactType? {
        switch data {
        case .structure(let items):
            guard !items.isEmpty else { return nil }
            var members: [CompactType] = []
            for item in items {
                guard let member = compactType(item) else { return nil }
                members.append(member)
            }
            return .structure(members)
        case .array(let items):
            guard let first = items.first, let count = UInt16(exactly: items.count), let element = compactType(first),
                  items.dropFirst().allSatisfy({ compactType($0) == element }) else { return nil }
            return .array(count: count, of: element)
        case .null, .dontCare, .compactArray, .octetString, .visibleString, .utf8String, .bitString:
            return nil
        default:
            return .simple(data.tag)
        }
    }

    /// Entry types of the fixed layouts.
    static let dlu = CompactType.simple(.doubleLongUnsigned)
    static let dl = CompactType.simple(.doubleLong)
    static let pairType = CompactType.structure([dlu, dlu])
    /// A single element meter's register read: timestamp, active import, TOU registers
    /// [48], TOU block 1 to 4 registers [8] each.
    static let registerTypes: [CompactType] = [dlu, dlu, .array(count: 48, of: dlu)] + Array(repeating: .array(count: 8, of: dlu), count: 4)
    /// Emergency credit balance, meter balance, payment debt register, time debt
    /// registers 1 and 2, accumulated debt register.
    static let prepaymentTypes: [CompactType] = Array(repeating: dl, count: 6)

    /// At most `maximum` entries (MMC's maxOccurs, which Parse and Correlate holds to).
    static func entries(_ nodes: [DataNode], _ what: String, maximum: Int) throws(GBCSAnswerError) -> [DataNode] {
        guard nodes.count <= maximum else { throw .shape("\(nodes.count) entries of \(what) (GBCS's log holds \(maximum))") }
        return nodes
    }

    // MARK: - Register and prepayment entries

    /// The element names of a register read log entry.
    struct RegisterNames {
        var active: String
        var secondary: String
    }

    /// A register read log entry (entry_registerReadLogEntry and its billing kin):
    /// timestamp, active import register, (twin) secondary active import register, TOU
    /// registers [1..48], (twin) secondary TOU registers [1..4], TOU block 1 to 4
    /// registers [1..8] each. A twin element meter's entry has the secondary register.
    static func registerEntry(_ entry: DataNode, timestamp: DLMSData, _ names: RegisterNames) throws(GBCSAnswerError) -> [DLMSData] {
        var fields = [timestamp, try doubleLongUnsigned(entry, names.active)]
        let twin = entry.child(names.secondary) != nil
        if twin { fields.append(try doubleLongUnsigned(entry, names.secondary)) }
        fields.append(try registers(entry, "TariffTOURegisterMatrixValue", maximum: 48))
        if twin {
            fields.append(try registers(entry, "SecondaryTariffTOURegisterMatrixValue", maximum: 4))
        } else if entry.child("SecondaryTariffTOURegisterMatrixValue") != nil {
            throw .shape("\(entry.name) has secondary TOU registers and no \(names.secondary)")
        }
        for block in 1...4 {
            fields.append(try registers(entry, "TariffTOUBlock\(block)RegisterMatrixValue", maximum: 8))
        }
        return fields
    }

    /// A prepayment log entry's six double-long values: emergency credit balance, meter
    /// balance, payment debt register, time debt registers 1 and 2, accumulated debt
    /// register (MMC's PrepaymentOperationalDataType names).
    static func prepaymentValues(_ entry: DataNode) throws(GBCSAnswerError) -> [DLMSData] {
        try ["EmergencyCreditBalance", "MeterBalance", "PaymentDebtRegister", "TimeDebtRegisters1", "TimeDebtRegisters2", "AccumulatedDebtRegister"]
            .map { (name: String) throws(GBCSAnswerError) -> DLMSData in try doubleLong(entry, name) }
    }

    // MARK: - Registers

    /// ECS17d (4.1.2): one protected value (0-0:94.44.34.1), TOU_register_collection, a
    /// structure of the primary element's TOU registers [1..48] and, on a twin element
    /// meter, the secondary element's [1..4], each double-long-unsigned Wh.
    static let touMatrices: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(9)) }
        let collection = try child(try child(body, "Electricity"), "TariffTOURegisterCollection")
        var arrays = [try registers(collection, "TOUPrimaryRegisterValue", maximum: 48)]
        if collection.child("TOUSecondRegisterValue") != nil { arrays.append(try registers(collection, "TOUSecondRegisterValue", maximum: 4)) }
        return try protected(context, [.structure(arrays)])
    }

    /// ECS17e (4.1.3): one protected value (0-0:94.44.34.2), a structure of one array of
    /// 64 double-long-unsigned: for block b (1...4), entries 16(b-1)+1...16(b-1)+8 are the
    /// block's TOU register matrix values [1..8] and the next 8 its block counters [1..8]
    /// (a block or value the answer lacks is 0).
    static let touWithBlocksMatrices: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(10)) }
        let collection = try child(body, "TariffBlockTOURegisterCollection")
        var blocks: [DataNode?] = Array(repeating: nil, count: 4)
        var position = 0
        for block in collection.all("TariffBlock") {
            if let index = block.attribute("index") {
                guard let number = Int(index) else { throw .shape("TariffBlock has index \(index)") }
                position = number
            } else {
                position += 1
            }
            guard (1...4).contains(position), blocks[position - 1] == nil else { throw .shape("TariffBlock \(position) is not one of 1...4 once") }
            blocks[position - 1] = block
        }
        var values: [DLMSData] = []
        for block in blocks {
            let node = block ?? DataNode("TariffBlock")
            for name in ["RegisterMatrixTOUValue", "CounterMatrixTOUValue"] {
                for value in try indexed(node.all(name), "TariffBlock/\(name)", maximum: 8, length: 8) {
                    values.append(.doubleLongUnsigned(try GBCSAnswers.fit(value, "TariffBlock/\(name)")))
                }
            }
        }
        return try protected(context, [.structure([.array(values)])])
    }

    // MARK: - Maximum demand

    /// A maximum demand register's value (double-long-unsigned W), scaler_unit (0, W) and
    /// capture time.
    static func maximumDemand(_ register: DataNode) throws(GBCSAnswerError) -> [DLMSData] {
        [try doubleLongUnsigned(register, "Value"), .structure([.integer(0), .enumerated(27)]), try dateTime(register, "CaptureTime")]
    }

    static let maximumDemandExportLayout: [Request] = [
        get(1, [0, 0, 94, 44, 5, 2], 2), get(4, [1, 0, 2, 6, 0, 255], 2), get(4, [1, 0, 2, 6, 0, 255], 3), get(4, [1, 0, 2, 6, 0, 255], 5),
    ]

    /// ECS18a (4.12.2): the export maximum demand's date-time of last reset
    /// (0-0:94.44.5.2), its value (1-0:2.6.0.255 attribute 2), scaler_unit (W) and
    /// capture time (attribute 5). An absent date-time is written not specified.
    static let maximumDemandExport: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, maximumDemandExportLayout) }
        let export = try child(body, "MaxDemandActiveEnergyExport")
        return gets(context, [try dateTime(export, "LastResetDateTime")] + (try maximumDemand(export)))
    }

    static let maximumDemandImportLayout: [Request] = [
        get(1, [0, 0, 94, 44, 5, 0], 2), get(1, [0, 0, 94, 44, 5, 1], 2),
        get(4, [1, 0, 1, 6, 0, 255], 2), get(4, [1, 0, 1, 6, 0, 255], 3), get(4, [1, 0, 1, 6, 0, 255], 5),
        get(4, [1, 0, 1, 6, 1, 255], 2), get(4, [1, 0, 1, 6, 1, 255], 3), get(4, [1, 0, 1, 6, 1, 255], 5),
        get(10, [0, 0, 12, 0, 0, 255], 2),
    ]

    /// A schedule_table_entry of the maximum demand period: index, enabled, the script
    /// table 0-0:10.128.100.255, script selector (1 starts the period, 2 ends it), switch
    /// time, validity window 0xFFFF, every weekday, no special days, begin and end dates
    /// not specified (as GBCS's table and RTDS have them).
    static func scheduleEntry(_ selector: UInt16, switchTime: [UInt8]) -> DLMSData {
        .structure([
            .longUnsigned(selector), .boolean(0xFF), .octetString([0, 0, 10, 128, 100, 255]), .longUnsigned(selector), .octetString(switchTime),
            .longUnsigned(0xFFFF), .bitString(DLMSData.BitString(bitCount: 7, octets: [0xFE])), .bitString(DLMSData.BitString(bitCount: 0, octets: [])),
            .octetString([0x00, 0x00, 0x01, 0xFF, 0xFF]), .octetString([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ])
    }

    /// ECS18b (4.12.1): the date-times of last reset of the configurable-time (0-0:94.44.5.0)
    /// and the active import (0-0:94.44.5.1) maximum demands; the active import maximum
    /// demand (1-0:1.6.0.255: value, scaler_unit W, capture time); the configurable-time one
    /// (1-0:1.6.1.255, likewise); and the schedule (0-0:12.0.0.255 entries) whose entry with
    /// script selector 1 starts the configurable period and with selector 2 ends it.
    static let maximumDemandImport: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, maximumDemandImportLayout) }
        let configurable = try child(body, "MaxDemandConfigurableTimeActivePowerImport")
        let active = try child(body, "MaxDemandActiveEnergyImport")
        let period = try child(body, "MaxDemandConfigurableTimePeriod")
        let schedule: DLMSData = .array([
            scheduleEntry(1, switchTime: try timeOfDay(try child(period, "StartTime"), "the maximum demand period's StartTime")),
            scheduleEntry(2, switchTime: try timeOfDay(try child(period, "EndTime"), "the maximum demand period's EndTime")),
        ])
        let values = [try dateTime(configurable, "LastResetDateTime"), try dateTime(active, "LastResetDateTime")]
            + (try maximumDemand(active)) + (try maximumDemand(configurable)) + [schedule]
        return gets(context, values)
    }

    // MARK: - Prepayment values

    /// ECS19 (4.3): one protected value (0-0:94.44.34.30), prepayment_balance_collection,
    /// a structure of six double-long: meter balance, emergency credit balance,
    /// accumulated debt register, time debt registers 1 and 2, payment debt register.
    static let prepayValues: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(1)) }
        let values = try ["MeterBalance", "EmergencyCreditBalance", "AccumulatedDebtRegister", "TimeDebtRegister1", "TimeDebtRegister2", "PaymentDebtRegister"]
            .map { (name: String) throws(GBCSAnswerError) -> DLMSData in try doubleLong(body, name) }
        return try protected(context, [.structure(values)])
    }

    // MARK: - Billing data logs

    /// A log of (timestamp, amount) entries in `name`, at most `maximum`.
    static func amountLog(_ body: DataNode, _ name: String, maximum: Int) throws(GBCSAnswerError) -> DLMSData {
        var items: [DLMSData] = []
        for entry in try entries(try child(body, name).all("LogEntry"), name, maximum: maximum) {
            items.append(.structure([try stamp(entry, "Timestamp"), try doubleLongUnsigned(entry, "Amount")]))
        }
        return buffer(items, empty: pairType)
    }

    /// ECS20a (4.4.4): the payment-based debt repayment log (0-0:98.1.4.255, selective
    /// access), entries [1..10] of (timestamp, amount recovered).
    static let debtPaymentsLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, [get(7, [0, 0, 98, 1, 4, 255], 2)]) }
        return gets(context, [try amountLog(body, "PaymentBasedDebtRepayment", maximum: 10)])
    }

    /// ECS20d (4.4.5): the prepayment credits log (0-0:98.1.5.255, selective access),
    /// entries [1..5] of (timestamp, amount of credit).
    static let prepaymentCreditsLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, [get(7, [0, 0, 98, 1, 5, 255], 2)]) }
        return gets(context, [try amountLog(body, "PrepaymentCredits", maximum: 5)])
    }

    /// ECS20b (4.4.2): one protected value, the change of mode / tariff triggered billing
    /// data log (0-0:98.1.2.255), entries [1..12] of: timestamp, active import register,
    /// (twin) secondary active import register, TOU registers [1..48], (twin) secondary TOU
    /// registers [1..4], TOU block 1 to 4 registers [1..8] each, then the double-long
    /// emergency credit balance, meter balance, payment debt register, time debt registers
    /// 1 and 2 and accumulated debt register. MMC splits each entry in two: its registers
    /// (`LogEntryConsumptionAndTariffRegistersData`), then its prepayment values
    /// (`LogEntryPrepaymentData`), both with the entry's timestamp; the n-th of each make
    /// the n-th entry.
    static let changeOfModeOrTariffLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(3)) }
        let electricity = try child(body, "Electricity")
        let registerEntries = try entries(electricity.all("LogEntryConsumptionAndTariffRegistersData"), "the billing data log", maximum: 12)
        let prepaymentEntries = electricity.all("LogEntryPrepaymentData")
        guard registerEntries.count == prepaymentEntries.count else {
            throw .shape("\(registerEntries.count) register entries and \(prepaymentEntries.count) prepayment entries of the billing data log")
        }
        let names = RegisterNames(active: "ActiveImportRegisterConsumption", secondary: "SecondaryActiveImportRegisterConsumption")
        var items: [DLMSData] = []
        for (registers, prepayment) in zip(registerEntries, prepaymentEntries) {
            let timestamp = try stamp(registers, "Timestamp")
            guard try stamp(prepayment, "Timestamp") == timestamp else { throw .shape("a billing data log entry's registers and prepayment values differ in time") }
            items.append(.structure(try registerEntry(registers, timestamp: timestamp, names) + (try prepaymentValues(prepayment))))
        }
        return try protected(context, [buffer(items, empty: .structure(registerTypes + prepaymentTypes))])
    }

    /// ECS20c (4.4.3): two protected values, the billing calendar triggered billing data
    /// logs: the register log (0-0:98.1.0.255), entries [1..12] of timestamp, active import
    /// register, (twin) secondary active import register, TOU registers [1..48], (twin)
    /// secondary TOU registers [1..4], TOU block 1 to 4 registers [1..8] each; and the
    /// prepayment log (0-0:98.1.1.255), entries [1..12] of timestamp, then the double-long
    /// emergency credit balance, meter balance, payment debt register, time debt registers
    /// 1 and 2 and accumulated debt register.
    static let billingCalendarLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(2)) }
        let electricity = try child(body, "Electricity")
        let names = RegisterNames(active: "ActiveImportRegisterValueConsumption", secondary: "SecondaryActiveImportRegisterValueConsumption")
        var registers: [DLMSData] = []
        for entry in try entries(electricity.all("ESMEBillingDataLogEntry"), "the billing data log", maximum: 12) {
            registers.append(.structure(try registerEntry(entry, timestamp: try stamp(entry, "Timestamp"), names)))
        }
        var prepayment: [DLMSData] = []
        for entry in try entries(electricity.all("ESMEBillingPrepaymentDataLogEntry"), "the billing prepayment log", maximum: 12) {
            prepayment.append(.structure([try stamp(entry, "Timestamp")] + (try prepaymentValues(entry))))
        }
        return try protected(context, [buffer(registers, empty: .structure(registerTypes)), buffer(prepayment, empty: .structure([dlu] + prepaymentTypes))])
    }

    // MARK: - Daily read logs

    /// ECS21a (4.6.1): one protected value, the daily read log (0-0:98.1.9.255), entries
    /// [1..31] of timestamp, active import register, (twin) secondary active import
    /// register, TOU registers [1..48], (twin) secondary TOU registers [1..4], TOU block 1
    /// to 4 registers [1..8] each.
    static let importDailyReadLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(5)) }
        let names = RegisterNames(active: "ElecActiveImportRegisterConsumption", secondary: "SecondaryActiveImportRegisterConsumption")
        var items: [DLMSData] = []
        for entry in try entries(body.all("LogEntry"), "the daily read log", maximum: 31) {
            items.append(.structure(try registerEntry(try child(entry, "Electricity"), timestamp: try stamp(entry, "Timestamp"), names)))
        }
        return try protected(context, [buffer(items, empty: .structure(registerTypes))])
    }

    /// ECS21b (4.14): one protected value, the prepayment daily read log (0-0:98.1.8.255),
    /// entries [1..31] of timestamp, then the double-long emergency credit balance, meter
    /// balance, payment debt register, time debt registers 1 and 2 and accumulated debt
    /// register.
    static let prepaymentDailyReadLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(6)) }
        var items: [DLMSData] = []
        for entry in try entries(try child(body, "Electricity").all("LogEntry"), "the prepayment daily read log", maximum: 31) {
            items.append(.structure([try stamp(entry, "Timestamp")] + (try prepaymentValues(entry))))
        }
        return try protected(context, [buffer(items, empty: .structure([dlu] + prepaymentTypes))])
    }

    /// ECS21c (4.6.2): the export daily read log (0-0:98.1.10.255, selective access),
    /// entries [1..31] of (timestamp, active export register).
    static let exportDailyReadLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, [get(7, [0, 0, 98, 1, 10, 255], 2)]) }
        var items: [DLMSData] = []
        for entry in try entries(body.all("LogEntry"), "the export daily read log", maximum: 31) {
            items.append(.structure([try stamp(entry, "TimeStamp"), try doubleLongUnsigned(entry, "ActiveExportRegisterValue")]))
        }
        return gets(context, [buffer(items, empty: pairType)])
    }

    // MARK: - Half-hour profiles

    /// ECS22b (4.8.1): one protected value, the active import profile (0-0:99.1.0.255),
    /// entries [1..19056] of (timestamp at the end of the half hour, the half hour's active
    /// import in Wh and, on a twin element meter, the secondary element's).
    static let activeImportProfile: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, protectedRead(7)) }
        var items: [DLMSData] = []
        for entry in try entries(body.all("LogEntry"), "the active import profile", maximum: 19_056) {
            let electricity = try child(entry, "Electricity")
            var fields = [try stamp(entry, "Timestamp"), try doubleLongUnsigned(electricity, "PrimaryValue")]
            if electricity.child("SecondaryValue") != nil { fields.append(try doubleLongUnsigned(electricity, "SecondaryValue")) }
            items.append(.structure(fields))
        }
        return try protected(context, [buffer(items, empty: pairType)])
    }

    /// ECS22c (4.8.2): the reactive import profile (0-0:99.1.2.255, selective access),
    /// entries [1..4464] of (timestamp at the end of the half hour, reactive import in varh).
    static let reactiveImportProfile: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, [get(7, [0, 0, 99, 1, 2, 255], 2)]) }
        var items: [DLMSData] = []
        for entry in try entries(body.all("LogEntry"), "the reactive import profile", maximum: 4464) {
            items.append(.structure([try stamp(entry, "Timestamp"), try doubleLongUnsigned(entry, "ReactiveEnergyImportedValue")]))
        }
        return gets(context, [buffer(items, empty: pairType)])
    }

    /// ECS22a (4.8.3): the export profile (0-0:99.1.1.255, selective access), entries
    /// [1..4464] of (timestamp at the end of the half hour, active export in Wh, reactive
    /// export in varh).
    static let exportProfile: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, [get(7, [0, 0, 99, 1, 1, 255], 2)]) }
        var items: [DLMSData] = []
        for entry in try entries(body.all("LogEntry"), "the export profile", maximum: 4464) {
            items.append(.structure([try stamp(entry, "Timestamp"), try doubleLongUnsigned(entry, "ActiveEnergyExportedValue"),
                                     try doubleLongUnsigned(entry, "ReactiveEnergyExportedValue")]))
        }
        return gets(context, [buffer(items, empty: .structure([dlu, dlu, dlu]))])
    }

    // MARK: - Network data

    static let networkDataLayout: [Request] = [
        get(3, [1, 0, 32, 32, 0, 4], 2), get(3, [1, 0, 32, 32, 0, 4], 3), get(3, [1, 0, 32, 36, 0, 4], 2), get(3, [1, 0, 32, 36, 0, 4], 3),
        get(7, [1, 0, 32, 24, 0, 255], 2), get(7, [1, 0, 32, 24, 0, 255], 4),
    ]

    /// A voltage event counter: its value (double-long-unsigned) and scaler_unit (0, no
    /// unit: a count).
    static func counter(_ phase: DataNode, _ name: String) throws(GBCSAnswerError) -> [DLMSData] {
        let node = try child(phase, name)
        if let unit = node.child("Unit")?.text, unit != "count" { throw .shape("\(name) is in \(unit), not a count") }
        return [try doubleLongUnsigned(node, "Value"), .structure([.integer(0), .enumerated(255)])]
    }

    /// ECS23 (4.10): the single phase meter's average RMS under-voltage counter
    /// (1-0:32.32.0.4) and its scaler_unit (no unit), the over-voltage counter
    /// (1-0:32.36.0.4) and its scaler_unit, the average RMS voltage profile
    /// (1-0:32.24.0.255, selective access) of (timestamp at the end of the measurement
    /// period, average RMS voltage in whole V) [1..4320], and its capture period in seconds.
    static let networkData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return refusal(context, networkDataLayout) }
        let phase = try child(try child(body, "Electricity"), "SinglePhaseESME")
        let log = try child(phase, "AvgRMSVoltageProfileDataLog")
        var items: [DLMSData] = []
        for entry in try entries(log.all("LogEntry"), "the average RMS voltage profile", maximum: 4320) {
            let volts = try rounded(entry.child("Value"), "an average RMS voltage")
            items.append(.structure([try stamp(entry, "Timestamp"), .doubleLongUnsigned(try GBCSAnswers.fit(volts, "an average RMS voltage"))]))
        }
        let values = (try counter(phase, "AvgRMSUnderVoltageCounter")) + (try counter(phase, "AvgRMSOverVoltageCounter"))
            + [buffer(items, empty: pairType), try doubleLongUnsigned(log, "MeasurementPeriod")]
        return gets(context, values)
    }
}
