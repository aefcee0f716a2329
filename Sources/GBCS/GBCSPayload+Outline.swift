import DUIS
import Foundation

/// A readable outline of a decoded payload: one node a line, indented by depth, values
/// in the forms GBCS readers use (integers in decimal, octet strings in hex, with text,
/// OBIS codes and DLMS date-times spelled out where the octets are one). What
/// `gbsm gbcs parse` prints for a use case it has no MMC mapping for.
extension GBCSPayload {
    public func outline(decrypted: [[UInt8]] = []) -> String {
        var lines: [String] = []
        var plaintexts = decrypted.makeIterator()
        // Protected data is shown decrypted, in its place (the walk that found the blocks).
        func opened(_ value: DLMSData) -> DLMSData {
            (try? value.replacingProtected { (_: [UInt8]) throws(GBCSError) -> DLMSData in
                guard let plaintext = plaintexts.next() else { throw GBCSError.unsupported("no plaintext", at: 0) }
                return (try? DLMSData.decode(plaintext)) ?? .octetString(plaintext)
            }) ?? value
        }
        if !decrypted.isEmpty { lines.append("(\(decrypted.count) encrypted block(s), shown decrypted in place)") }
        switch self {
        case .dlms(let apdu):
            switch apdu {
            case .accessRequest(let request):
                lines.append("DLMS ACCESS-Request invoke-id \(hex32(request.invokeID))")
                for (index, spec) in request.specifications.enumerated() {
                    lines.append("  [\(index)] \(spec.outline)")
                    if index < request.data.count { request.data[index].outline(into: &lines, depth: 2) }
                }
            case .accessResponse(let response):
                lines.append("DLMS ACCESS-Response invoke-id \(hex32(response.invokeID))")
                for (index, result) in response.results.enumerated() {
                    lines.append("  [\(index)] \(result.outline)")
                    if index < response.data.count { opened(response.data[index]).outline(into: &lines, depth: 2) }
                }
            case .dataNotification(let notification):
                lines.append("DLMS DATA-NOTIFICATION invoke-id \(hex32(notification.invokeID))")
                opened(notification.body).outline(into: &lines, depth: 1)
            }
        case .gbz(let gbz):
            lines.append("GBZ profile \(hex16(gbz.profile)), \(gbz.componentCount) component(s)")
            if let alert = gbz.alert {
                lines.append("  alert \(hex16(alert.code)) at UTC \(alert.time) (seconds from 2000)")
                if case .octets(let octets) = alert.rest { lines.append("  use case data \(hexString(octets))") }
            }
            for component in gbz.allComponents {
                var line = "  cluster \(hex16(component.cluster)) command \(component.command)"
                line += component.isProfileWide ? " (profile-wide)" : ""
                line += component.isFromServer ? " from server" : " to server"
                if let from = component.fromDateTime { line += ", from UTC \(from)" }
                lines.append(line)
                var octets: [UInt8]?
                switch component.payload {
                case .plain(let plain):
                    octets = plain
                case .encrypted:
                    octets = plaintexts.next()
                    lines.append(octets == nil ? "    encrypted payload" : "    decrypted payload:")
                }
                guard let octets else { continue }
                if component.isReadAttributesResponse, let records = try? ZCLAttributeRecord.decodeReadAttributesResponse(octets) {
                    for record in records {
                        let id = "    attribute " + hex16(record.id)
                        if let value = record.value {
                            lines.append(id + String(format: " type %02X ", value.type) + (value.signed.map(String.init) ?? hexString(value.octets)))
                        } else {
                            lines.append(id + String(format: " status %02X", record.status))
                        }
                    }
                } else {
                    lines.append("    payload \(hexString(octets))")
                }
            }
        case .asn1(let value):
            value.outline(into: &lines, depth: 0)
        }
        return lines.joined(separator: "\n")
    }
}

/// Text from a device with its control characters escaped, so printing it cannot drive a
/// terminal.
func printable(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

func hex16(_ value: UInt16) -> String { hexString([UInt8(value >> 8), UInt8(value & 0xFF)]) }
func hex32(_ value: UInt32) -> String { hexString((0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }) }

func hexString(_ octets: [UInt8]) -> String { Hex.encode(octets, uppercase: true) }

extension DLMSAPDU.RequestSpecification {
    var outline: String {
        switch self {
        case .get(let d): return "get \(d)"
        case .set(let d): return "set \(d)"
        case .action(let d): return "action \(d)"
        case .getWithSelection(let d, let selector, _): return "get \(d) with selector \(selector)"
        case .setWithSelection(let d, let selector, _): return "set \(d) with selector \(selector)"
        }
    }
}

extension DLMSAPDU.ResponseSpecification {
    var outline: String {
        switch self {
        case .get(let r): return "get result \(r)\(r == 0 ? " (success)" : "")"
        case .set(let r): return "set result \(r)\(r == 0 ? " (success)" : "")"
        case .action(let r): return "action result \(r)\(r == 0 ? " (success)" : "")"
        }
    }
}

extension DLMSData {
    func outline(into lines: inout [String], depth: Int) {
        let indent = String(repeating: "  ", count: depth)
        switch self {
        case .array(let items), .structure(let items):
            lines.append(indent + (tag == .array ? "array" : "structure") + " of \(items.count)")
            for item in items { item.outline(into: &lines, depth: depth + 1) }
        case .compactArray(let compact):
            lines.append(indent + "compact array of \(compact.elements.count)")
            for item in compact.elements { item.outline(into: &lines, depth: depth + 1) }
        case .octetString(let octets):
            lines.append(indent + "octet-string " + DLMSData.describeOctets(octets))
        case .visibleString(let octets), .utf8String(let octets):
            lines.append(indent + "string \"" + printable(String(decoding: octets, as: UTF8.self)) + "\"")
        case .bitString(let bits):
            lines.append(indent + "bit-string \(bits.bitCount) bits " + hexString(bits.octets))
        case .boolean(let value): lines.append(indent + "boolean \(value != 0)")
        case .enumerated(let value): lines.append(indent + "enum \(value)")
        case .null: lines.append(indent + "null")
        case .dontCare: lines.append(indent + "don't-care")
        case .dateTime(let octets): lines.append(indent + "date-time " + DLMSData.describeOctets(octets))
        case .date(let octets), .time(let octets): lines.append(indent + "\(tag) " + hexString(octets))
        case .float32(let bits): lines.append(indent + "float32 \(Float(bitPattern: bits))")
        case .float64(let bits): lines.append(indent + "float64 \(Double(bitPattern: bits))")
        default:
            lines.append(indent + "\(tag) \(integerValue.map(String.init) ?? "?")")
        }
    }

    /// Octets as hex, with what they spell when they are a DLMS date-time, an OBIS code
    /// or printable text.
    static func describeOctets(_ octets: [UInt8]) -> String {
        var text = hexString(octets)
        if octets.count == 12, let dateTime = DLMSDateTime(octets) {
            text += " (\(dateTime))"
        } else if octets.count == 6 {
            text += " (OBIS " + octets.map(String.init).joined(separator: ".") + ")"
        } else if octets.count > 1, octets.allSatisfy({ (0x20...0x7E).contains($0) }) {
            text += " (\"" + String(decoding: octets, as: UTF8.self) + "\")"
        }
        return text
    }
}

extension ASN1Value {
    func outline(into lines: inout [String], depth: Int) {
        let indent = String(repeating: "  ", count: depth)
        let name: String
        switch (tagClass, tagNumber, tag.count) {
        case (0, 0x02, 1): name = "INTEGER"
        case (0, 0x03, 1): name = "BIT STRING"
        case (0, 0x04, 1): name = "OCTET STRING"
        case (0, 0x05, 1): name = "NULL"
        case (0, 0x06, 1): name = "OBJECT IDENTIFIER"
        case (0, 0x0A, 1): name = "ENUMERATED"
        case (0, 0x10, 1): name = "SEQUENCE"
        case (0, 0x11, 1): name = "SET"
        case (0, 0x17, 1): name = "UTCTime"
        case (0, 0x18, 1): name = "GeneralizedTime"
        case (2, let number, 1): name = "[\(number)]"
        default: name = "tag " + hexString(tag)
        }
        switch content {
        case .constructed(let children):
            lines.append(indent + name)
            for child in children { child.outline(into: &lines, depth: depth + 1) }
        case .primitive(let octets):
            if let integer, tagNumber == 0x02 || tagNumber == 0x0A, tagClass == 0 {
                lines.append(indent + name + " \(integer)")
            } else if tagClass == 0, tagNumber == 0x17 || tagNumber == 0x18 {
                lines.append(indent + name + " " + printable(String(decoding: octets, as: UTF8.self)))
            } else {
                lines.append(indent + name + " " + hexString(octets))
            }
        }
    }
}
