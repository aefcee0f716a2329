import DUIS
import GBCS
import MMC

/// The answers that are only whether the device did it, the electricity meter's
/// instantaneous reads and balances, and the firmware version (ASN.1): the inverse of Parse
/// and Correlate's `ElectricityReads` and `SecurityReads`.
extension GBCSAnswers {
    static let basicTable: [String: GBCSAnswerEncoder] = {
        var table: [String: GBCSAnswerEncoder] = [:]
        // DLMS commands whose answer is one result per request, no data.
        for name in ["CS01a", "ECS10", "ECS12", "ECS16", "ECS14", "ECS28b", "ECS29a", "ECS29c", "ECS34", "ECS37", "ECS57", "ECS39a", "ECS39b",
                     "ECS25a", "ECS25a1", "ECS25b", "ECS29e", "DBCH04", "DBCH05", "ECS62", "CCS01", "CCS03", "ECS50"] {
            table[name] = resultsOnly
        }
        table["ECS17a"] = exportRegisters
        table["ECS17b"] = importRegisters
        table["ECS17c"] = activePowerImport
        table["ECS82"] = meterBalance
        table["ECS45"] = supplyStatus
        table["ECS40"] = mpxn
        table["ECS66"] = dailyConsumptionLog
        table["CS08"] = firmwareVersion
        return table
    }()

    /// What an answer of results only holds where the command did not come as GBCS: the
    /// kinds of the use case's requests, in order, as GBCS lays the command out (each RTDS
    /// answer of these has them so).
    static let resultsOnlyLayouts: [String: [DLMSAPDU.ResponseSpecification]] = {
        let set = DLMSAPDU.ResponseSpecification.set(result: 0), action = DLMSAPDU.ResponseSpecification.action(result: 0)
        return [
            "CS01a": [action], "ECS10": [set], "ECS12": [set], "ECS16": [set, set], "ECS14": [set], "ECS28b": [action],
            "ECS29a": Array(repeating: set, count: 11) + [action, action], "ECS29c": Array(repeating: set, count: 11), "ECS34": [set],
            "ECS37": [set], "ECS57": [action, action, action], "ECS39a": [set], "ECS39b": [set], "ECS25a": [set], "ECS25a1": [set],
            "ECS25b": [set], "ECS29e": [action, action], "DBCH04": [set], "DBCH05": [set], "ECS62": Array(repeating: set, count: 5),
            "CCS01": [action, set, set], "CCS03": [action], "ECS50": [set],
        ]
    }()

    /// The answer's results: one per request of the command, as it came; else the use
    /// case's layout. Success, or 1 for every request when the device refused.
    static let resultsOnly: GBCSAnswerEncoder = { _, context throws(GBCSAnswerError) in
        let code: UInt8 = context.succeeded ? 0 : 1
        if let requests = context.requests, !requests.isEmpty {
            return dlmsRefusal(context, requests, result: code)
        }
        guard let layout = resultsOnlyLayouts[context.useCase.name] else {
            throw .shape("\(context.useCase.name)'s answer repeats its command's requests, and the command did not come as DLMS")
        }
        let results = layout.map { kind -> DLMSAPDU.ResponseSpecification in
            switch kind {
            case .get: return .get(result: code)
            case .set: return .set(result: code)
            case .action: return .action(result: code)
            }
        }
        return dlms(context, results.map { _ in .null }, results)
    }

    /// A scaler_unit structure: scaler 0 (GBCS fixes it) and the DLMS unit.
    static func scalerUnit(_ unit: UInt8) -> DLMSData { .structure([.integer(0), .enumerated(unit)]) }

    /// DLMS units GBCS uses.
    enum Unit {
        static let watt: UInt8 = 27
        static let wattHour: UInt8 = 30
        static let varHour: UInt8 = 32
    }

    static func uint32(_ parent: DataNode, _ path: String...) throws(GBCSAnswerError) -> UInt32 {
        var node: DataNode? = parent
        for name in path { node = node?.child(name) }
        return try fit(try integer(node, what: path.joined(separator: "/")), path.joined(separator: "/"))
    }

    /// ECS17a (4.2): active export register, its scaler_unit, reactive export, its scaler_unit.
    static let exportRegisters: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests: [DLMSAPDU.RequestSpecification] = context.requests ?? Array(repeating: .get(DLMSAPDU.Descriptor(classID: 3, instance: [], member: 2)), count: 4)
        guard context.succeeded else { return dlmsRefusal(context, requests) }
        let data: [DLMSData] = [.doubleLongUnsigned(try uint32(body, "ActiveExportRegister", "Value")), scalerUnit(Unit.wattHour),
                                .doubleLongUnsigned(try uint32(body, "ReactiveExportRegister", "Value")), scalerUnit(Unit.varHour)]
        return dlms(context, data, data.map { _ in .get(result: 0) })
    }

    /// ECS17b (4.1.1): one protected structure of active import and its scaler_unit,
    /// reactive import and its scaler_unit and, on a twin element meter, the secondary
    /// element's active import.
    static let importRegisters: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return dlmsRefusal(context, [.action(DLMSAPDU.Descriptor(classID: 30, instance: [], member: 1))]) }
        guard let electricity = body.child("Electricity") else { throw .shape("an import register answer without Electricity") }
        var registers: [DLMSData] = [.doubleLongUnsigned(try uint32(electricity, "ActiveImportRegister", "Value")), scalerUnit(Unit.wattHour),
                                     .doubleLongUnsigned(try uint32(electricity, "ReactiveImportRegister", "Value")), scalerUnit(Unit.varHour)]
        if electricity.child("SecondaryActiveImportRegister") != nil {
            registers.append(.doubleLongUnsigned(try uint32(electricity, "SecondaryActiveImportRegister", "Value")))
        }
        return dlms(context, [try context.protect(.structure([.structure(registers)]))], [.action(result: 0)])
    }

    /// ECS17c (4.16): active power import, its scaler_unit (W), the primary element's.
    static let activePowerImport: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return dlmsRefusal(context, [.get(DLMSAPDU.Descriptor(classID: 3, instance: [], member: 2))]) }
        let power = try integer(body.child("ActivePowerImport")?.child("Value"), what: "ActivePowerImport/Value")
        let primary = try integer(body.child("PrimaryActivePowerImportValue"), what: "PrimaryActivePowerImportValue")
        return dlms(context, [.structure([.doubleLongUnsigned(try fit(power, "active power import")), scalerUnit(Unit.watt),
                                          .doubleLongUnsigned(try fit(primary, "primary active power import"))])], [.get(result: 0)])
    }

    /// ECS82 (4.18): the meter balance, a double-long in the currency's minor unit.
    static let meterBalance: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return dlmsRefusal(context, [.get(DLMSAPDU.Descriptor(classID: 3, instance: [], member: 2))]) }
        return dlms(context, [.doubleLong(try fit(try integer(body, child: "MeterBalance"), "the meter balance"))], [.get(result: 0)])
    }

    /// ECS45 (7.4): the disconnect control state (0 disabled, 1 enabled, 2 armed).
    static let supplyStatus: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return dlmsRefusal(context, [.get(DLMSAPDU.Descriptor(classID: 70, instance: [], member: 3))]) }
        let state: UInt8
        switch body.child("SupplyState")?.text {
        case "Disabled": state = 0
        case "Enabled": state = 1
        case "Armed": state = 2
        case let other: throw .shape("supply state \(other ?? "absent")")
        }
        return dlms(context, [.enumerated(state)], [.get(result: 0)])
    }

    /// ECS40 (6.2.7): the import MPAN (a twin element meter's primary then secondary) and
    /// the export MPAN, as digits.
    static let mpxn: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let requests = context.requests ?? Array(repeating: .get(DLMSAPDU.Descriptor(classID: 1, instance: [], member: 2)), count: 2)
        guard context.succeeded else { return dlmsRefusal(context, requests) }
        guard let electricity = body.child("Electricity") else { throw .shape("an MPxN answer without Electricity") }
        func digits(_ name: String) throws(GBCSAnswerError) -> [UInt8] {
            guard let text = electricity.child(name)?.text else { return [] }
            let octets = Array(text.utf8)
            guard octets.count == 13, octets.allSatisfy({ (0x30...0x39).contains($0) }) else { throw .shape("\(name) \(text) is not 13 digits") }
            return octets
        }
        return dlms(context, [.octetString(try digits("ImportMPAN") + digits("SecondaryImportMPAN")), .octetString(try digits("ExportMPAN"))],
                    [.get(result: 0), .get(result: 0)])
    }

    /// ECS66 (4.17): a protected compact array of (capture time in seconds since 2000, the
    /// day's active import in Wh).
    static let dailyConsumptionLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return dlmsRefusal(context, [.action(DLMSAPDU.Descriptor(classID: 30, instance: [], member: 1))]) }
        guard let electricity = body.child("Electricity") else { throw .shape("a daily consumption log without Electricity") }
        var entries: [DLMSData] = []
        for entry in electricity.all("LogEntry") {
            let time = try timestamp(entry.child("Timestamp"), "a log entry's Timestamp")
            let seconds = time.milliseconds / 1000 - epoch2000
            entries.append(.structure([.doubleLongUnsigned(try fit(seconds, "a log entry's time (seconds since 2000)")),
                                       .doubleLongUnsigned(try uint32(entry, "Value"))]))
        }
        let compact = DLMSCompactArray(type: .structure([.simple(.doubleLongUnsigned), .simple(.doubleLongUnsigned)]), elements: entries)
        return dlms(context, [try context.protect(.structure([.compactArray(compact)]))], [.action(result: 0)])
    }

    /// CS08 (11.2): a SEQUENCE of the firmware version (octets, from hex) and the response
    /// code (0 success, 1 refused); the access control broker asked on the user's behalf,
    /// so the header names the user as supplementary remote party.
    static let firmwareVersion: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var version: [UInt8] = [0, 0, 0, 0]
        if context.succeeded {
            guard let text = body.child("FirmwareVersion")?.text, let octets = Hex.decode(text), (1...4).contains(octets.count) else {
                throw .shape("a firmware version that is not 1 to 4 octets in hex")
            }
            version = octets
        }
        let sequence = ASN1Value(tag: [0x30], content: .constructed([
            ASN1Value(tag: [0x04], content: .primitive(version)),
            ASN1Value(tag: [0x02], content: .primitive([context.succeeded ? 0 : 1])),
        ]))
        return GBCSAnswerBody(.asn1(sequence))
    }
}
