import DUIS
import GBCS
import MMC

/// The electricity meter's reads (DLMS COSEM), GBCS payload positions to MMC elements.
enum ElectricityReads {
    /// A register value and its scaler_unit as MMC's `Value` and unit elements, checking
    /// the unit is the one MMC allows there.
    static func register(_ name: String, value: DLMSData, scalerUnit: DLMSData, unitElement: String, unit expected: String) throws(MappingError) -> DataNode {
        let (scaler, unit) = try scalerUnit.scalerUnit("\(name)'s scaler and unit")
        guard MMCFormat.unit(unit) == expected else { throw .shape("\(name) is in unit \(unit), not \(expected)") }
        var node = DataNode(name)
        node.add("Value", try MMCFormat.scaled(try value.integer(name), scaler: scaler))
        node.add(unitElement, expected)
        return node
    }

    /// ECS17a (4.2): active export register, its scaler_unit, reactive export register,
    /// its scaler_unit.
    static let exportRegisters: MMCMapping.Mapper = { reading throws(MappingError) in
        [try register("ActiveExportRegister", value: reading.value(0), scalerUnit: reading.value(1), unitElement: "ActiveEnergyUnit", unit: "Wh"),
         try register("ReactiveExportRegister", value: reading.value(2), scalerUnit: reading.value(3), unitElement: "ReactiveEnergyUnit", unit: "varh")]
    }

    /// ECS17b (4.1.1): one protected value, a structure of the active import register and
    /// its scaler_unit, the reactive import register and its scaler_unit and, on a twin
    /// element meter, the secondary element's active import register (in the active
    /// register's unit).
    static let importRegisters: MMCMapping.Mapper = { reading throws(MappingError) in
        var registers = try reading.value(0).items("the import register collection")
        if registers.count == 1, let inner = registers[0].elements { registers = inner }
        guard registers.count == 4 || registers.count == 5 else { throw .shape("the import register collection has \(registers.count) values, not 4 or 5") }
        var electricity = DataNode("Electricity")
        electricity.add(try register("ActiveImportRegister", value: registers[0], scalerUnit: registers[1], unitElement: "ActiveEnergyUnit", unit: "Wh"))
        electricity.add(try register("ReactiveImportRegister", value: registers[2], scalerUnit: registers[3], unitElement: "ReactiveEnergyUnit", unit: "varh"))
        if registers.count == 5 {
            electricity.add(try register("SecondaryActiveImportRegister", value: registers[4], scalerUnit: registers[1], unitElement: "ActiveEnergyUnit", unit: "Wh"))
        }
        return [electricity]
    }

    /// ECS17c (4.16): active power import, its scaler_unit (W), and the primary element's
    /// active power import.
    static let activePowerImport: MMCMapping.Mapper = { reading throws(MappingError) in
        let values = try reading.value(0).items("the active power import", count: 3)
        let (scaler, unit) = try values[1].scalerUnit("active power import's scaler and unit")
        guard MMCFormat.unit(unit) == "W" else { throw .shape("active power import is in unit \(unit), not W") }
        var power = DataNode("ActivePowerImport")
        power.add("Value", try MMCFormat.scaled(try values[0].integer("active power import"), scaler: scaler))
        power.add("Unit", "W")
        return [power, DataNode("PrimaryActivePowerImportValue", text: try MMCFormat.scaled(try values[2].integer("primary active power import"), scaler: scaler))]
    }

    /// ECS82 (4.18): the meter balance, a double-long in the currency's minor unit.
    static let meterBalance: MMCMapping.Mapper = { reading throws(MappingError) in
        [DataNode("MeterBalance", text: String(try reading.value(0).integer("the meter balance")))]
    }

    /// ECS45 (7.4): the supply's disconnect control state (0 disconnected, 1 connected,
    /// 2 ready for reconnection, that is armed).
    static let supplyStatus: MMCMapping.Mapper = { reading throws(MappingError) in
        let state: String
        switch try reading.value(0).integer("the supply state") {
        case 0: state = "Disabled"
        case 1: state = "Enabled"
        case 2: state = "Armed"
        case let other: throw .shape("supply state \(other)")
        }
        return [DataNode("SupplyState", text: state)]
    }

    /// ECS40 (6.2.7): the import MPAN (on a twin element meter, the primary's 13 digits
    /// then the secondary's) and the export MPAN, as text.
    static let mpxn: MMCMapping.Mapper = { reading throws(MappingError) in
        func digits(_ octets: [UInt8], _ what: String) throws(MappingError) -> String {
            guard octets.allSatisfy({ (0x30...0x39).contains($0) }) else { throw .shape("\(what) is not digits") }
            return String(decoding: octets, as: UTF8.self)
        }
        var electricity = DataNode("Electricity")
        let importMPAN = try digits(try reading.value(0).octetString("the import MPAN"), "the import MPAN")
        switch importMPAN.count {
        case 0: break
        case 13: electricity.add("ImportMPAN", importMPAN)
        case 26:
            electricity.add("ImportMPAN", String(importMPAN.prefix(13)))
            electricity.add("SecondaryImportMPAN", String(importMPAN.suffix(13)))
        default: throw .shape("an import MPAN of \(importMPAN.count) digits")
        }
        let exportMPAN = try digits(try reading.value(1).octetString("the export MPAN"), "the export MPAN")
        if !exportMPAN.isEmpty {
            guard exportMPAN.count == 13 else { throw .shape("an export MPAN of \(exportMPAN.count) digits") }
            electricity.add("ExportMPAN", exportMPAN)
        }
        return [electricity]
    }

    /// ECS66 (4.17): a protected compact array of (capture time, seconds since 2000 UTC;
    /// the day's active import in Wh).
    static let dailyConsumptionLog: MMCMapping.Mapper = { reading throws(MappingError) in
        var entries = try reading.value(0).items("the daily consumption log")
        if entries.count == 1, case .compactArray(let compact) = entries[0] { entries = compact.elements }
        guard entries.count <= 731 else { throw .shape("\(entries.count) daily log entries (MMC holds 731)") }
        var electricity = DataNode("Electricity")
        for entry in entries {
            let pair = try entry.items("a daily log entry", count: 2)
            var node = DataNode("LogEntry")
            node.add("Value", String(try pair[1].integer("a day's consumption")))
            node.add("Timestamp", try MMCFormat.time(secondsSince2000: try pair[0].integer("a log entry's time")))
            electricity.add(node)
        }
        return [electricity]
    }
}

/// Security and firmware answers (ASN.1).
enum SecurityReads {
    /// CS08 (11.2): a SEQUENCE of the firmware version (an octet string, written in hex)
    /// and the response code (INTEGER, 0 for success).
    static let firmwareVersion: MMCMapping.Mapper = { reading throws(MappingError) in
        guard let sequence = reading.asn1, sequence.tag == [0x30], sequence.children.count == 2,
              sequence.children[0].tag == [0x04], let version = sequence.children[0].octets,
              sequence.children[1].tag == [0x02], let code = sequence.children[1].integer else {
            throw .shape("a firmware version answer is a SEQUENCE of an OCTET STRING and an INTEGER")
        }
        guard code == 0 else { return nil }
        return [DataNode("FirmwareVersion", text: hexString(version))]
    }

    /// CS11 (3.3): a DLMS answer's results, or on a gas meter ZSE's Clear Event Log
    /// Response, a bitmap of the logs cleared (none when it refused).
    static let clearEventLog: MMCMapping.Mapper = { reading throws(MappingError) in
        for component in reading.components where component.cluster == 0x0709 && component.command == 0x02 {
            guard case .plain(let octets) = component.payload, octets.count == 1 else { throw .shape("a Clear Event Log Response is one octet") }
            if octets[0] == 0 { return nil }
        }
        return []
    }

    static func hexString(_ octets: [UInt8]) -> String { Hex.encode(octets, uppercase: true) }
}
