import DUIS
import GBCS

/// A verified answer laid open for mapping: a DLMS answer's results and values with each
/// protected (encrypted) value replaced by its decrypted value, a GBZ answer's
/// components, or an ASN.1 answer's tree; and whether the device did what it was asked.
struct Reading: Sendable {
    let message: ParsedMessage
    /// DLMS: one per request, in order.
    let results: [DLMSAPDU.ResponseSpecification]
    let values: [DLMSData]
    let components: [GBZComponent]
    let asn1: ASN1Value?
    let succeeded: Bool

    init(_ message: ParsedMessage) throws(MappingError) {
        self.message = message
        var plaintexts = message.plaintexts.makeIterator()
        switch message.payload {
        case .dlms(.accessResponse(let response)):
            // One value and one result per request.
            guard !response.results.isEmpty, response.data.count == response.results.count else {
                throw .shape("an answer of \(response.data.count) values and \(response.results.count) results")
            }
            results = response.results
            var opened: [DLMSData] = []
            for value in response.data { opened.append(try Self.open(value, &plaintexts)) }
            values = opened
            components = []
            asn1 = nil
            succeeded = response.results.allSatisfy(\.succeeded)
        case .dlms(let other):
            throw .shape("a response carries a DLMS ACCESS-Response, not \(other)")
        case .gbz(let gbz):
            results = []
            values = []
            components = gbz.allComponents
            asn1 = nil
            // A ZCL Default Response (command 0x0B) carries the command's status, and a
            // Read Attributes Response each attribute's: any failure is a refusal.
            var ok = true
            var gbzPlaintexts = message.plaintexts.makeIterator()
            for component in gbz.allComponents {
                var octets: [UInt8]?
                switch component.payload {
                case .plain(let plain): octets = plain
                case .encrypted: octets = gbzPlaintexts.next()
                }
                if component.isDefaultResponse, let octets {
                    ok = ok && octets.count == 2 && octets[1] == 0
                }
            }
            for records in try Self.attributeRecords(gbz.allComponents, &plaintexts) {
                ok = ok && records.allSatisfy { $0.status == 0 }
            }
            succeeded = ok
        case .asn1(let value):
            results = []
            values = []
            components = []
            asn1 = value
            succeeded = true
        }
    }

    /// The attribute records of every Read Attributes Response component (decrypted where
    /// encrypted), in component order; other components give an empty list.
    static func attributeRecords(_ components: [GBZComponent], _ plaintexts: inout IndexingIterator<[[UInt8]]>) throws(MappingError) -> [[ZCLAttributeRecord]] {
        var all: [[ZCLAttributeRecord]] = []
        for component in components {
            var octets: [UInt8] = []
            switch component.payload {
            case .plain(let plain): octets = plain
            case .encrypted:
                guard let plaintext = plaintexts.next() else { throw .shape("an encrypted component with no plaintext") }
                octets = plaintext
            }
            guard component.isReadAttributesResponse else {
                all.append([])
                continue
            }
            do {
                all.append(try ZCLAttributeRecord.decodeReadAttributesResponse(octets))
            } catch {
                throw .shape("a Read Attributes Response that does not decode: \(error)")
            }
        }
        return all
    }

    /// Each component's ZCL payload, decrypted where it was encrypted.
    var componentPayloads: [[UInt8]] {
        var plaintexts = message.plaintexts.makeIterator()
        return components.map { component in
            switch component.payload {
            case .plain(let octets): return octets
            case .encrypted: return plaintexts.next() ?? []
            }
        }
    }

    /// The attributes of every Read Attributes Response in the answer, by cluster and ID.
    func attributes() throws(MappingError) -> [ZCLAttributeKey: ZCLValue] {
        var plaintexts = message.plaintexts.makeIterator()
        let all = try Self.attributeRecords(components, &plaintexts)
        var found: [ZCLAttributeKey: ZCLValue] = [:]
        for (component, records) in zip(components, all) {
            for record in records { if let value = record.value { found[ZCLAttributeKey(cluster: component.cluster, id: record.id)] = value } }
        }
        return found
    }

    /// A value with its protected data (protection parameters, then the encrypted block)
    /// replaced by the decrypted DLMS value, block by block in the order GBCS's walk finds
    /// them (`DLMSData.replacingProtected`, the same walk that found the blocks).
    static func open(_ value: DLMSData, _ plaintexts: inout IndexingIterator<[[UInt8]]>) throws(MappingError) -> DLMSData {
        var failure: MappingError?
        var iterator = plaintexts
        let opened: DLMSData
        do {
            opened = try value.replacingProtected { (_: [UInt8]) throws(GBCSError) -> DLMSData in
                guard let plaintext = iterator.next() else {
                    failure = .shape("an encrypted block with no plaintext")
                    throw GBCSError.unsupported("an encrypted block with no plaintext", at: 0)
                }
                do throws(GBCSError) {
                    return try DLMSData.decode(plaintext)
                } catch {
                    failure = .shape("a decrypted block that is not a DLMS value: \(error)")
                    throw error
                }
            }
        } catch {
            throw failure ?? .shape("\(error)")
        }
        plaintexts = iterator
        return opened
    }

    func value(_ index: Int) throws(MappingError) -> DLMSData {
        guard index < values.count else { throw .shape("value \(index) of \(values.count)") }
        return values[index]
    }
}

/// A ZCL attribute: its cluster and its ID.
struct ZCLAttributeKey: Hashable {
    let cluster: UInt16
    let id: UInt16
}

/// Reading typed values out of DLMS data, each a `MappingError` when the type is not the
/// one GBCS gives.
extension DLMSData {
    func integer(_ what: String) throws(MappingError) -> Int64 {
        guard let value = integerValue else { throw .shape("\(what) is \(tag), not an integer") }
        return value
    }

    func items(_ what: String, count: Int? = nil) throws(MappingError) -> [DLMSData] {
        guard let items = elements else { throw .shape("\(what) is \(tag), not a structure or array") }
        if let count, items.count != count { throw .shape("\(what) has \(items.count) members, not \(count)") }
        return items
    }

    func octetString(_ what: String) throws(MappingError) -> [UInt8] {
        guard let octets else { throw .shape("\(what) is \(tag), not an octet string") }
        return octets
    }

    /// A COSEM scaler_unit structure (integer scaler, enum unit).
    func scalerUnit(_ what: String) throws(MappingError) -> (scaler: Int, unit: UInt8) {
        let pair = try items(what, count: 2)
        guard case .integer(let scaler) = pair[0], case .enumerated(let unit) = pair[1] else { throw .shape("\(what) is not a scaler and unit") }
        return (Int(scaler), unit)
    }
}

/// Formats for MMC values.
enum MMCFormat {
    /// `value × 10^scaler` as an integer or a decimal, exactly.
    static func scaled(_ value: Int64, scaler: Int) throws(MappingError) -> String {
        guard (-9...9).contains(scaler) else { throw .shape("a scaler of \(scaler)") }
        if scaler >= 0 {
            var result = value
            for _ in 0..<scaler {
                let (product, overflow) = result.multipliedReportingOverflow(by: 10)
                guard !overflow else { throw .shape("a value too large to scale") }
                result = product
            }
            return String(result)
        }
        let sign = value < 0 ? "-" : ""
        let digits = String(value.magnitude)
        let places = -scaler
        let padded = String(repeating: "0", count: max(0, places + 1 - digits.count)) + digits
        let whole = padded.dropLast(places)
        let fraction = padded.suffix(places)
        return sign + whole + "." + fraction
    }

    /// Seconds since 2000-01-01T00:00:00Z (GBCS's UTC in compact arrays, a
    /// double-long-unsigned; ZigBee's UTCTime) as an MMC date-time. Anything outside an
    /// unsigned 32-bit count is not such a time.
    static func time(secondsSince2000 seconds: Int64) throws(MappingError) -> String {
        guard (0...Int64(UInt32.max)).contains(seconds) else { throw .shape("a time of \(seconds) s after 2000 is not a UTC time") }
        return Timestamp(milliseconds: (seconds + 946_684_800) * 1000).iso8601
    }

    /// DLMS physical units GBCS uses, as MMC spells them.
    static func unit(_ code: UInt8) -> String? {
        switch code {
        case 27: return "W"
        case 30: return "Wh"
        case 32: return "varh"
        case 33: return "A"
        case 35: return "V"
        default: return nil
        }
    }
}
