import DUIS
import GBCS
import MMC

/// Why a verified message could not be put into MMC XML.
public enum MappingError: Error, Equatable, CustomStringConvertible {
    /// One message code serves several SRVs and the request was not given to tell which.
    case ambiguousSRV(code: UInt16, srvs: [SRV])
    /// The SRV given is not one the use case serves.
    case wrongSRV(SRV, useCase: String)
    /// The payload does not have the layout GBCS gives the use case.
    case shape(String)

    public var description: String {
        switch self {
        case .ambiguousSRV(let code, let srvs):
            return String(format: "message code %04X answers SRVs ", code) + srvs.map(\.text).joined(separator: ", ") + ": say which with --srv (the request's)"
        case .wrongSRV(let srv, let useCase): return "SRV \(srv) is not served by \(useCase)"
        case .shape(let what): return "the payload is not laid out as its use case says: \(what)"
        }
    }
}

/// DCC's Message Mapping Catalogue for device answers: a verified GBCS response put into
/// the `ra:GBCSResponse` XML DCC's Parse and Correlate writes (schema MMC 5.4), with the
/// same element names and formats gbsm's emulated devices answer in
/// (`docs/DEVICE-RESPONSES.md`), so a user's code reads one form from either.
///
/// A use case is mapped by its message code; what each position of its payload means is
/// GBCS's (the use case's response table), checked as it is read: a value of the wrong
/// type or a missing one is a `MappingError`, never a guess. A device that refused the
/// command (a DLMS result or ZCL status other than success) gives the `…Rsp` element with
/// `MessageSuccess="false"` and nothing in it, as the emulator does.
public enum MMCMapping {
    /// The use cases mapped, by GBCS name.
    public static var mappedUseCases: [String] { mappers.keys.sorted() }

    /// Whether the message's use case has a mapping (every alert has).
    public static func canMap(_ message: ParsedMessage) -> Bool {
        if message.frame.cra == .alert { return true }
        guard let useCase = UseCases.byCode[message.frame.messageCode] else { return false }
        return message.frame.cra == .response && (mappers[useCase.name] != nil || outcomeMappers[useCase.name] != nil)
    }

    /// The MMC XML of a response, or nil when its use case has no mapping yet.
    /// - Parameter srv: the SRV of the request the message answers, where the message
    ///   code alone does not say.
    public static func xml(for message: ParsedMessage, srv: SRV? = nil) throws(MappingError) -> [UInt8]? {
        if message.frame.cra == .alert { return try AlertMapping.xml(for: message) }
        guard canMap(message), let useCase = UseCases.byCode[message.frame.messageCode] else { return nil }
        let variant: SRV
        if let srv {
            guard useCase.srvs.contains(srv) else { throw .wrongSRV(srv, useCase: useCase.name) }
            variant = srv
        } else {
            guard useCase.srvs.count == 1, let only = useCase.srvs.first else { throw .ambiguousSRV(code: useCase.code, srvs: useCase.srvs) }
            variant = only
        }
        guard let service = ServiceCatalogue.variant(variant) else { throw .wrongSRV(variant, useCase: useCase.name) }
        return envelope(message, service: service, body: try body(message, useCase: useCase, service: service))
    }

    /// The `…Rsp` element of a response (what `xml(for:srv:)` writes inside the envelope),
    /// or nil when its use case has no mapping yet.
    public static func body(for message: ParsedMessage, srv: SRV) throws(MappingError) -> DataNode? {
        guard message.frame.cra == .response, canMap(message), let useCase = UseCases.byCode[message.frame.messageCode] else { return nil }
        guard useCase.srvs.contains(srv), let service = ServiceCatalogue.variant(srv) else { throw .wrongSRV(srv, useCase: useCase.name) }
        return try body(message, useCase: useCase, service: service)
    }

    static func body(_ message: ParsedMessage, useCase: UseCase, service: ServiceRequestVariant) throws(MappingError) -> DataNode {
        let reading = try Reading(message)
        var body = DataNode(responseElement(service))
        if reading.succeeded, let outcome = outcomeMappers[useCase.name] {
            // The answer carries its own outcome (an ASN.1 response code MMC writes out).
            let (children, succeeded) = try outcome(reading)
            body = DataNode(body.name, attributes: succeeded ? [] : [("MessageSuccess", "false")], children: children)
        } else if reading.succeeded, let mapper = mappers[useCase.name], let children = try mapper(reading) {
            body.children = children
        } else {
            body = DataNode(body.name, attributes: [("MessageSuccess", "false")])
            // Where MMC's answer is a choice of fuel, the choice is made even empty: the
            // meter's fuel, by the use case (ECS electricity, GCS gas).
            if let required = fuelOnRefusal[useCase.name] {
                body.add(DataNode(required))
            } else if fuelChoiceAnswers.contains(body.name) {
                if useCase.name.hasPrefix("E") {
                    body.add(DataNode("Electricity"))
                } else if useCase.name.hasPrefix("G") {
                    body.add(DataNode("Gas"))
                }
            }
        }
        return body
    }

    static func envelope(_ message: ParsedMessage, service: ServiceRequestVariant, body: DataNode) -> [UInt8] {
        var writer = CanonicalXMLWriter(capacity: 1024)
        var stamp: String?
        if let octets = message.frame.dateTime, let seconds = DLMSDateTime(octets)?.unixTime { stamp = Timestamp(milliseconds: seconds * 1000).iso8601 }
        openEnvelope(&writer, message.frame, service: service, timestamp: stamp)
        writer.open("ra:Body")
        writer.open("ra:ResponseMessage")
        writer.open("ra:SMETSData")
        MMCXMLCodec.write(body, to: &writer)
        writer.close()
        writer.close()
        writer.close()
        writer.close()
        return writer.finish()
    }

    /// Opens `ra:GBCSResponse` and writes its header from the frame (answers and alerts
    /// alike); the caller writes the body and closes.
    static func openEnvelope(_ writer: inout CanonicalXMLWriter, _ frame: GBCSFrame, service: ServiceRequestVariant?, timestamp: String?) {
        writer.open("ra:GBCSResponse", namespaces: [("ra", MMCXMLCodec.namespace)], attributes: [("schemaVersion", "5.4")])
        writer.open("ra:Header")
        writer.element("ra:BusinessOriginatorID", frame.originator.description)
        writer.element("ra:BusinessTargetID", frame.recipient.description)
        writer.element("ra:OriginatorCounter", String(frame.originatorCounter))
        if let party = frame.supplement.remotePartyID { writer.element("ra:SupplementaryRemotePartyID", party.description) }
        if let counter = frame.supplement.remotePartyCounter { writer.element("ra:SupplementaryRemotePartyCounter", String(counter)) }
        if let counter = frame.supplement.originatorCounter { writer.element("ra:SupplementaryOriginatorCounter", String(counter)) }
        writer.element("ra:GBCSHexadecimalMessageCode", hex16(frame.messageCode))
        if let service {
            writer.element("ra:ServiceReference", service.serviceReference)
            writer.element("ra:ServiceReferenceVariant", service.srv.text)
        }
        if let timestamp { writer.element("ra:Timestamp", timestamp) }
        writer.close()
    }

    static func hex16(_ value: UInt16) -> String { Hex.encode([UInt8(value >> 8), UInt8(value & 0xFF)], uppercase: true) }

    /// The `…Rsp` element's children, or nil when the answer says the device refused
    /// (a response code inside the payload, as ASN.1 answers carry).
    /// MMC's answer element for an SRV: the request's element and `Rsp`, but for the few
    /// SRVs whose MMC answer is named otherwise.
    static func responseElement(_ service: ServiceRequestVariant) -> String {
        switch service.srv {
        case "6.2.3": return "ReadDeviceConfigurationDataBillingCalendarRsp"
        case "6.14.3": return "UpdateDeviceConfigurationALCSchedulerRsp"
        default: return service.bodyElement + "Rsp"
        }
    }

    /// MMC answers that must choose a fuel element (a choice of Electricity and Gas that
    /// is not optional), so even a refusal has one.
    static let fuelChoiceAnswers: Set<String> = [
        "RetrieveCoMOrTariffTriggeredBillingDataLogRsp", "ReadNetworkDataRsp", "ReadTariffPrimaryElementRsp", "ReadPrepaymentDailyReadLogRsp",
        "RetrieveDailyConsumptionLogRsp", "ReadDeviceConfigurationMPxNRsp", "ReadInstantaneousImportRegistersRsp",
        "ReadInstantaneousImportTOUMatricesRsp", "RetrieveBillingCalendarTriggeredBillingDataLogRsp",
    ]

    /// Use cases whose refused answer needs an element MMC requires that the fuel rule
    /// does not give: 6.2.10's answer always holds one settings element.
    static let fuelOnRefusal: [String: String] = [
        "ECS25r1": "ElectricitySupplierAlertEventSettings",
        "ECS25r2": "ElectricityNetworkOperatorAlertEventSettings",
    ]

    typealias Mapper = @Sendable (Reading) throws(MappingError) -> [DataNode]?

    /// A mapper for an answer that carries its own outcome, which MMC writes out whether
    /// or not the device succeeded (a join's response code, say): the children and
    /// whether the device did what it was asked.
    typealias OutcomeMapper = @Sendable (Reading) throws(MappingError) -> (children: [DataNode], succeeded: Bool)

    static let outcomeMappers: [String: OutcomeMapper] = DeviceSecurityReads.outcomeTable.merging(CriticalAnswers.outcomeTable) { mine, _ in mine }

    static let mappers: [String: Mapper] = {
        var table: [String: Mapper] = [:]
        // Commands whose answer is only whether the device did it.
        for name in ["CS01a", "ECS10", "ECS12", "GCS09", "ECS16", "GCS44", "ECS14", "ECS28b", "ECS29a", "ECS29c", "ECS34", "ECS37",
                     "ECS57", "ECS39a", "ECS39b", "ECS25a", "ECS25a1", "ECS25b", "ECS29e", "DBCH04", "DBCH05", "ECS62", "CCS01", "CCS03", "ECS50"] {
            table[name] = { _ in [] }
        }
        table["CS11"] = SecurityReads.clearEventLog
        table["ECS17a"] = ElectricityReads.exportRegisters
        table["ECS17b"] = ElectricityReads.importRegisters
        table["ECS17c"] = ElectricityReads.activePowerImport
        table["ECS82"] = ElectricityReads.meterBalance
        table["ECS45"] = ElectricityReads.supplyStatus
        table["ECS40"] = ElectricityReads.mpxn
        table["ECS66"] = ElectricityReads.dailyConsumptionLog
        table["CS08"] = SecurityReads.firmwareVersion
        for part in [GasReads.table, ElectricityLogReads.table, ConfigurationReads.table, DeviceSecurityReads.table, TariffReads.table,
                     PrepaymentAndAuxiliaryReads.table, SubGHzAndIdentityReads.table, CriticalAnswers.table] {
            table.merge(part) { mine, _ in mine }
        }
        return table
    }()
}
