/// The simple type of a value in a DUIS request body, with the range, length or
/// enumeration the DUIS 5.4 XML schema gives it.
///
/// Every value a signed request carries is hostile until checked. The gateway checks each
/// element gbsm reads (`DUISFields.types`) against its type before anything acts on the
/// body, so the services, the scheduler and the emulated devices only ever see values in
/// the schema's ranges: an offset of −400 to 0 days, a time of day, a four-digit year, an
/// `unsignedInt`. Text of every other element is bounded by `DUISFields.maxUntypedText`,
/// so nothing a user sends can grow what the hub stores without limit.
public enum DUISFieldType: Sendable, Hashable {
    /// `xs:dateTime` with a four-digit year.
    case dateTime
    /// `xs:date` with a four-digit year (optionally `Z`).
    case date
    /// `xs:time`.
    case time
    /// An integer type with the schema's bounds (`xs:int`, `xs:unsignedInt`,
    /// `sr:logPeriodOffset`, `sr:floorSequenceNumber`…).
    case integer(ClosedRange<Int64>)
    /// `xs:decimal` with bounds and at most this many fraction digits.
    case decimal(ClosedRange<Double>, fractionDigits: Int)
    case boolean
    /// `sr:EUI`: eight hexadecimal octets joined by hyphens.
    case eui
    /// A comma-separated list of EUIs (`DeviceIDList`), at most this many characters.
    case euiList(maxLength: Int)
    /// `sr:RequestIDType`: originator EUI, target EUI and counter.
    case requestID
    /// A string whose length in characters lies in the range; `printable` restricts it to
    /// the schema's `[ -~]` (ASCII printable), `digits` to `[0-9]`.
    case string(length: ClosedRange<Int>, characters: Characters = .any)
    case enumeration([String])
    /// `xs:base64Binary` of at most this many octets.
    case base64(maxOctets: Int)

    public enum Characters: Sendable, Hashable {
        case any, printable, digits, digitsAndSpaces
    }

    /// Why `text` is not a value of this type, or nil.
    public func problem(with text: String) -> String? {
        switch self {
        case .dateTime:
            return Timestamp(xsDateTime: text) == nil ? "is not an xs:dateTime with a four-digit year" : nil
        case .date:
            return Timestamp(xsDate: text) == nil ? "is not an xs:date with a four-digit year" : nil
        case .time:
            return TimeOfDay(xsTime: text) == nil ? "is not an xs:time (hh:mm:ss[.fff][Z])" : nil
        case .integer(let range):
            guard let value = DUISFieldType.integer(text) else { return "is not an integer" }
            return range.contains(value) ? nil : "is outside \(range.lowerBound)…\(range.upperBound)"
        case .decimal(let range, let fractionDigits):
            guard let (value, digits) = DUISFieldType.decimal(text) else { return "is not a decimal" }
            guard digits <= fractionDigits else { return "has more than \(fractionDigits) fraction digit(s)" }
            return range.contains(value) ? nil : "is outside \(range.lowerBound)…\(range.upperBound)"
        case .boolean:
            return ["true", "false", "1", "0"].contains(text) ? nil : "is not a boolean"
        case .eui:
            return EUI64(text) == nil ? "is not an EUI-64" : nil
        case .euiList(let maxLength):
            guard text.utf8.count <= maxLength else { return "is longer than \(maxLength) characters" }
            for item in text.split(separator: ",", omittingEmptySubsequences: false) where EUI64(item) == nil {
                return "holds \"\(item.prefix(40))\", which is not an EUI-64"
            }
            return nil
        case .requestID:
            return text.utf8.count <= 64 && RequestID(text) != nil ? nil : "is not a RequestID (originator:target:counter)"
        case .string(let length, let characters):
            // Count characters only up to the limit: a megabyte of text costs no more than that.
            var count = 0
            for scalar in text.unicodeScalars {
                count += 1
                if count > length.upperBound { return "is longer than \(length.upperBound) characters" }
                switch characters {
                case .any: continue
                case .printable: if scalar.value < 0x20 || scalar.value > 0x7E { return "may only hold printable ASCII" }
                case .digits: if scalar.value < 0x30 || scalar.value > 0x39 { return "may only hold the digits 0–9" }
                case .digitsAndSpaces: if scalar.value != 0x20 && (scalar.value < 0x30 || scalar.value > 0x39) { return "may only hold digits and spaces" }
                }
            }
            return count < length.lowerBound ? "is shorter than \(length.lowerBound) characters" : nil
        case .enumeration(let values):
            return values.contains(text) ? nil : "is not one of \(values.joined(separator: ", "))"
        case .base64(let maxOctets):
            // Four characters carry three octets; whitespace may separate them.
            guard text.utf8.count <= (maxOctets + 2) / 3 * 4 + text.utf8.count / 64 + 2 else { return "is longer than \(maxOctets) octets" }
            let valid = text.utf8.allSatisfy { byte in
                (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || byte == 43 || byte == 47 || byte == 61
                    || byte == 10 || byte == 13 || byte == 32 || byte == 9
            }
            return valid ? nil : "is not base64"
        }
    }

    /// An `xs:integer` lexical value (optional sign, digits, at most 19 of them) in Int64.
    public static func integer(_ text: String) -> Int64? {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == 43 || first == 45 {
            negative = first == 45
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= 48, byte <= 57 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(byte - 48))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    /// An `xs:decimal` lexical value and its number of fraction digits (at most 18 digits in all).
    public static func decimal(_ text: String) -> (Double, Int)? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count <= 2, text.utf8.count <= 24 else { return nil }
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard whole.isEmpty || integer(String(whole)) != nil || whole == "-" || whole == "+",
              fraction.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), !(whole.isEmpty && fraction.isEmpty),
              let value = Double(text), value.isFinite
        else { return nil }
        return (value, fraction.count)
    }
}

/// The types of the DUIS body elements gbsm reads, by local name (DUIS uses each of these
/// names with one type wherever it appears), and the check of a whole body against them.
public enum DUISFields {
    /// Text of an element not in `types` is at most this many UTF-8 bytes (certificates,
    /// the longest such values in real requests, are under 1 KiB).
    public static let maxUntypedText = 4096
    /// Attributes: at most this many on an element, each value at most `maxAttributeValue` octets.
    public static let maxAttributes = 4
    public static let maxAttributeValue = 64

    public static let types: [String: DUISFieldType] = [
        // Dates and times.
        "ExecutionDateTime": .dateTime, "StartDateTime": .dateTime, "EndDateTime": .dateTime, "RestrictionDateTime": .dateTime,
        "CurrentDateTime": .dateTime, "InstallDateTime": .dateTime,
        "ScheduleStartDate": .date, "ScheduleEndDate": .date, "OptInDate": .date,
        "ScheduleExecutionStartTime": .time, "StartTime": .time, "EndTime": .time, "BillingTime": .time, "SwitchTime": .time,
        // sr:logPeriodOffset: days before the run, −400 to 0.
        "StartDateOffset": .integer(-400...0), "EndDateOffset": .integer(-400...0),
        // Counts and thresholds (xs:unsignedInt unless noted).
        "LowMediumPowerThreshold": .integer(0...4_294_967_295), "MediumHighPowerThreshold": .integer(0...4_294_967_295),
        "AverageRMSOverVoltageThreshold": .integer(0...4_294_967_295), "AverageRMSUnderVoltageThreshold": .integer(0...4_294_967_295),
        "AverageRMSVoltageMeasurementPeriod": .integer(0...4_294_967_295),
        "RMSExtremeOverVoltageMeasurementPeriod": .integer(0...4_294_967_295), "RMSExtremeOverVoltageThreshold": .integer(0...4_294_967_295),
        "RMSExtremeUnderVoltageMeasurementPeriod": .integer(0...4_294_967_295), "RMSExtremeUnderVoltageThreshold": .integer(0...4_294_967_295),
        "RMSVoltageSagMeasurementPeriod": .integer(0...4_294_967_295), "RMSVoltageSagThreshold": .integer(0...4_294_967_295),
        "RMSVoltageSwellMeasurementPeriod": .integer(0...4_294_967_295), "RMSVoltageSwellThreshold": .integer(0...4_294_967_295),
        // sr:floorSequenceNumber.
        "RemotePartyFloorSeqNumber": .integer(0...Int64.max), "SupplierFloorSeqNumber": .integer(0...Int64.max),
        "ACBFloorSeqNumber": .integer(0...Int64.max), "SupplierPrepaymentTopUpFloorSeqNumber": .integer(0...Int64.max),
        "RemotePartyPrepaymentTopUpFloorSeqNumber": .integer(0...Int64.max),
        // sr:scheduleID and sr:UPRN.
        "DSPScheduleID": .integer(0...1_000_000_000_000), "UPRN": .integer(1...999_999_999_999),
        // The CHF's sub-GHz configuration (8.x), kept in the hub's state.
        "NormalLimitedDutyCycleThreshold": .decimal(0.5...2.0, fractionDigits: 1),
        "LimitedCriticalDutyCycleThreshold": .decimal(1.5...2.5, fractionDigits: 1),
        "MaximumSubGHzChannelChangesPerWeek": .integer(1...7), "GSMECurfew": .integer(2...65_535),
        "ChannelQuieterThreshold": .integer(1...255), "ChannelNoisierThreshold": .integer(0...20),
        "NonGSMEPoorCommsPercentageThreshold": .decimal(1...100, fractionDigits: 2), "NonGSMEPoorCommsMeasurementPeriods": .integer(50...150),
        "LocalCHNoiseMeasurementPeriod": .integer(61...65_535), "LocalCHFailurePercentage": .decimal(1...100, fractionDigits: 2),
        "LocalCHRetryPercentage": .decimal(1...100, fractionDigits: 2),
        // Identifiers.
        "DeviceID": .eui, "OtherDeviceID": .eui, "OldCHFID": .eui, "OldGPFID": .eui, "HCALCS": .eui,
        "DeviceIDList": .euiList(maxLength: 1_199_999), "OriginalRequestID": .requestID,
        "ImportMPxN": .string(length: 1...13), "MPxN": .string(length: 1...13), "MPRN": .string(length: 1...10), "ImportMPRN": .string(length: 1...10),
        "ImportMPAN": .string(length: 13...13), "ExportMPAN": .string(length: 13...13), "SecondaryImportMPAN": .string(length: 13...13),
        "UTRN": .string(length: 20...20, characters: .digits),
        // Texts the devices or the inventory keep.
        "SupplierMessage": .string(length: 1...116, characters: .printable), "SupplierName": .string(length: 1...15, characters: .printable),
        "SupplierTelephoneNumber": .string(length: 1...18, characters: .digitsAndSpaces),
        "DeviceManufacturer": .string(length: 0...30), "DeviceModel": .string(length: 0...30), "FirmwareVersion": .string(length: 1...8),
        "SMETSCHTSVersion": .string(length: 1...20), "PostCode": .string(length: 6...8), "AddressIdentifier": .string(length: 0...30),
        // Enumerations.
        "DeviceType": .enumeration(["ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "IHD", "CAD"]),
        "ScheduleFrequency": .enumeration(["Daily", "Weekly", "Monthly", "Quarterly", "Half-Yearly", "Yearly"]),
        "RequestType": .enumeration(["Add", "Remove"]),
        "RemotePartyRole": .enumeration(["ACB", "NetworkOperator", "Recovery", "Root", "Supplier", "TransCoS", "LoadController"]),
        "ESMEVariant": .enumeration(["A", "B", "C", "AD", "BD", "CD", "ADE", "BDE", "CDE", "ADF", "BDF", "CDF", "ADEF", "BDEF", "CDEF"]),
        "UpdateDeviceStatusCH": .enumeration(["Commissioned", "Withdrawn", "InstalledNotCommissioned"]),
        "UpdateDeviceStatusExceptCH": .enumeration(["Pending", "InstalledNotCommissioned"]),
        // Large binary values.
        "FirmwareImage": .base64(maxOctets: 10_240_000), "DeviceGBCSResponse": .base64(maxOctets: 65_536),
        "GBCSPayload": .base64(maxOctets: 65_536),
    ]

    /// Why a request body does not fit the types of its elements, or nil. Walks every
    /// element (the parse limits bound how many there are). A typed element must be a
    /// simple value (no child elements); an element with children carries no text of its
    /// own (no mixed content, which would otherwise slip text past the types); attributes
    /// are few and short.
    public static func problem(in body: ElementTree) -> String? {
        var stack: [(ElementTree, String)] = [(body, String(body.name.prefix(40)))]
        while let (node, path) = stack.popLast() {
            if node.attributes.count > maxAttributes {
                return "\(path) has more than \(maxAttributes) attributes"
            }
            for (name, value) in node.attributes where value.utf8.count > maxAttributeValue {
                return "\(path)/@\(untrusted(name, limit: 20)) is longer than \(maxAttributeValue) octets"
            }
            if node.children.isEmpty {
                if let type = types[node.name] {
                    let text = node.text.trimmingWhitespace()
                    if let problem = type.problem(with: text) { return "\(path) \(untrusted(text, limit: 40)) \(problem)" }
                } else if node.text.utf8.count > maxUntypedText {
                    return "\(path) is longer than \(maxUntypedText) octets"
                }
            } else if types[node.name] != nil {
                return "\(path) must be a simple value, not hold elements"
            } else if !node.text.isEmpty {
                return "\(path) mixes text with elements"
            } else {
                for child in node.children.reversed() { stack.append((child, path + "/" + String(child.name.prefix(40)))) }
            }
        }
        return nil
    }
}

extension ElementTree {
    /// The value of child `name` as an `xs:dateTime`, or nil when absent or not one.
    public func dateTime(_ name: String) -> Timestamp? { value(name).flatMap { Timestamp(xsDateTime: $0) } }

    /// The value of child `name` as an `xs:date`, or nil when absent or not one.
    public func date(_ name: String) -> CalendarDay? { value(name).flatMap { Timestamp(xsDate: $0) }.map(CalendarDay.init) }

    /// The value of child `name` as an `xs:time`, or nil when absent or not one.
    public func time(_ name: String) -> TimeOfDay? { value(name).flatMap { TimeOfDay(xsTime: $0) } }

    /// The value of child `name` as an integer within `range`, or nil when absent, not an
    /// integer, or outside the range.
    public func integer(_ name: String, in range: ClosedRange<Int64>) -> Int64? {
        guard let value = value(name).flatMap(DUISFieldType.integer), range.contains(value) else { return nil }
        return value
    }
}
