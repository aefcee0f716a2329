/// The rules a device command's body must meet beyond its values' DUIS types: what DCC's
/// schema cannot say (how values relate), and, for a hub run without the schema, what it
/// would have said about the elements a variant must have. The gateway's `BodyCheck`
/// applies them before a request is accepted.
public enum CommandBodyRules {
    /// `xs:unsignedInt`.
    public static let unsignedInt: ClosedRange<Int64> = 0...4_294_967_295

    /// Why a command's parameters are unusable together, or nil. The gateway asks before
    /// accepting a request, so bad parameters get a clear synchronous error, and a device
    /// never sees them.
    ///
    /// Only what DCC's DUIS schema cannot say is checked here: the schema (validated at
    /// intake) has already checked each value's type, range, length and the elements
    /// each variant must have. What is left is how values relate: a period that ends
    /// before it starts, thresholds out of order, and an MPAN that is not 13 digits (the
    /// schema only fixes its length).
    public static func incoherence(srv: SRV, body: ElementTree) -> String? {
        if let period = body.child("ReadLogPeriod") {
            guard let startText = period.value("StartDateTime"), let start = Timestamp(xsDateTime: startText) else {
                return "ReadLogPeriod/StartDateTime is missing or not an xs:dateTime"
            }
            guard let endText = period.value("EndDateTime"), let end = Timestamp(xsDateTime: endText) else {
                return "ReadLogPeriod/EndDateTime is missing or not an xs:dateTime"
            }
            guard start <= end else { return "ReadLogPeriod starts (\(startText)) after it ends (\(endText))" }
        }
        switch srv {
        case "6.12":
            guard let low = body.integer("LowMediumPowerThreshold", in: unsignedInt), let high = body.integer("MediumHighPowerThreshold", in: unsignedInt),
                  high >= low else {
                return "power thresholds must be whole watts with LowMediumPowerThreshold ≤ MediumHighPowerThreshold"
            }
        case "6.20.1":
            for mpan in body.child("ImportMPANs")?.children.map(\.text) ?? [] where !isMPAN(mpan) {
                return "ImportMPAN \(mpan.prefix(13)) is not 13 digits"
            }
        case "6.20.2":
            guard let mpan = body.value("ExportMPAN"), isMPAN(mpan) else { return "ExportMPAN must be 13 digits" }
        default:
            break
        }
        return nil
    }

    /// What DCC's schema would refuse about a command's parameters, for a hub running
    /// without it (`--schemas off`): the elements a variant must have, in the forms the
    /// devices read, then `incoherence`. With the schema loaded, intake has already checked
    /// all of this but the coherence.
    public static func problem(srv: SRV, body: ElementTree) -> String? {
        switch srv {
        case "2.2":
            guard let utrn = body.value("UTRN"), utrn.utf8.count == 20, utrn.utf8.allSatisfy({ (48...57).contains($0) }) else {
                return "TopUpDevice/UTRN must be 20 decimal digits"
            }
        case "3.1":
            guard let message = body.value("SupplierMessage"), !message.isEmpty, message.count <= 118 else {
                return "DisplayMessage/SupplierMessage must be 1 to 118 characters"
            }
        case "6.12":
            guard body.integer("LowMediumPowerThreshold", in: unsignedInt) != nil, body.integer("MediumHighPowerThreshold", in: unsignedInt) != nil else {
                return "power thresholds must be whole watts"
            }
        case "6.18.1":
            guard let schedule = body.child("MaximumDemandTimePeriodSchedule"),
                  schedule.value("StartTime").flatMap(minutes(ofTime:)) != nil,
                  schedule.value("EndTime").flatMap(minutes(ofTime:)) != nil else {
                return "MaximumDemandTimePeriodSchedule needs StartTime and EndTime as xs:time"
            }
        case "6.20.1":
            let mpans = body.child("ImportMPANs")?.children.map(\.text) ?? []
            guard !mpans.isEmpty || body.value("ImportMPRN") != nil else { return "SetDeviceConfigurationImportMPxN needs ImportMPANs or ImportMPRN" }
        case "8.7.2", "8.8.2":
            guard body.value("OtherDeviceID").flatMap({ EUI64($0) }) != nil else { return "OtherDeviceID must be an EUI-64" }
        case "8.11":
            guard body.value("DeviceID").flatMap({ EUI64($0) }) != nil else { return "UpdateHANDeviceLog/DeviceID must be an EUI-64" }
            guard let type = body.value("RequestType"), type == "Add" || type == "Remove" else { return "RequestType must be Add or Remove" }
        case "8.12.1":
            guard body.value("OldCHFID").flatMap({ EUI64($0) }) != nil else { return "OldCHFID must be an EUI-64" }
        case "8.12.2":
            guard body.value("OldGPFID").flatMap({ EUI64($0) }) != nil else { return "OldGPFID must be an EUI-64" }
        case "6.24.1":
            guard body.children.contains(where: { $0.name == "RemotePartyRole" }) else { return "name at least one RemotePartyRole" }
        default:
            break
        }
        return incoherence(srv: srv, body: body)
    }

    static func isMPAN(_ text: String) -> Bool {
        text.utf8.count == 13 && text.utf8.allSatisfy { (48...57).contains($0) }
    }

    /// Minutes from midnight of an `xs:time` such as `17:00:00.00Z`.
    public static func minutes(ofTime text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count >= 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }
}
