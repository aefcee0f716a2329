import DUIS
import Foundation
import GBCS
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// Parse and Correlate over DCC's Reference Test Data Set: every RESPONSE vector of a
/// mapped use case verifies, opens and becomes MMC XML that MMC 5.4 accepts, with the
/// values the vector carries.
@Suite struct MMCMappingTests {
    struct Vector {
        let path: String
        /// The SRV the vector answers (nil for the RTDS files named "NA").
        let srv: SRV?
        let bytes: [UInt8]
    }

    static func responses() throws -> [Vector] {
        let root = try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0")
        return try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix("_RESPONSE_GBCS.HEX") }.sorted().map { path in
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            let srv = SRV(path.prefix { $0 != "_" })
            return Vector(path: path, srv: srv, bytes: try #require(Hex.decode(text)))
        }
    }

    static var keys: RTDSKeyStore {
        get throws { RTDSKeyStore(directory: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/keystore")) }
    }

    static func xml(_ vector: Vector) throws -> String? {
        let message = try ParsedMessage(frame: try GBCSFrame.decode(vector.bytes), keys: try keys)
        return try MMCMapping.xml(for: message, srv: vector.srv).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyMappedResponseBecomesValidMMC() throws {
        var mapped = 0, unmapped = 0
        var problems: [String] = []
        for vector in try Self.responses() {
            let message: ParsedMessage
            do {
                message = try ParsedMessage(frame: try GBCSFrame.decode(vector.bytes), keys: try Self.keys)
            } catch {
                // The four PCS vectors need device keys the set lacks.
                if !vector.path.contains("PCS01") { problems.append("\(vector.path): \(error)") }
                continue
            }
            guard MMCMapping.canMap(message) else {
                unmapped += 1
                continue
            }
            do {
                // The RTDS files vectors no SRV asks for under NA.
                guard let xml = try MMCMapping.xml(for: message, srv: vector.srv) else { continue }
                mapped += 1
                problems += SchemaCheck.mmcProblems(in: xml).map { "\(vector.path): \($0)" }
                let text = String(decoding: xml, as: UTF8.self)
                // A future-dated command's answer only accepts it: its failure comes later,
                // in the alert, so FUTURE_DATED_ERROR answers are acceptances.
                let refused = (vector.path.contains("ERROR") && !vector.path.contains("FUTURE_DATED_ERROR")) || vector.path.contains("NOT_FOUND")
                if refused != text.contains("MessageSuccess=\"false\"") {
                    problems.append("\(vector.path): success does not match the vector's kind")
                }
            } catch {
                problems.append("\(vector.path): \(error)")
            }
        }
        #expect(mapped >= 60, "\(mapped) responses mapped, \(unmapped) not")
        #expect(problems.isEmpty, "\(problems.count):\n\(problems.prefix(20).joined(separator: "\n"))")
    }

    /// Values by hand against the vectors (read with `gbsm gbcs parse --tree`).
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func valuesAreTheVectors() throws {
        let vectors = Dictionary(uniqueKeysWithValues: try Self.responses().map { (($0.path as NSString).lastPathComponent, $0) })
        func xml(_ name: String) throws -> String {
            let vector = try #require(vectors[name], "\(name)")
            return try #require(try Self.xml(vector))
        }
        // ECS17a: 10 Wh active and 20 varh reactive export, scaler 0.
        let export = try xml("ECS17a_4.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(export.contains("<ra:ActiveExportRegister><ra:Value>10</ra:Value><ra:ActiveEnergyUnit>Wh</ra:ActiveEnergyUnit>"))
        #expect(export.contains("<ra:ReactiveExportRegister><ra:Value>20</ra:Value><ra:ReactiveEnergyUnit>varh</ra:ReactiveEnergyUnit>"))
        // ECS17b twin: an encrypted block of five values, the fifth the secondary element.
        let twin = try xml("ECS17b_4.1.1_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(twin.contains("<ra:SecondaryActiveImportRegister><ra:Value>10</ra:Value>"))
        #expect(twin.contains("<ra:Timestamp>2015-01-01T00:00:00.000Z</ra:Timestamp>"))
        // ECS66: four days from 2014-12-02, in seconds since 2000.
        let daily = try xml("ECS66_4.17_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(daily.components(separatedBy: "<ra:LogEntry>").count == 5)
        #expect(daily.contains("<ra:LogEntry><ra:Value>95</ra:Value><ra:Timestamp>2014-12-02T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        #expect(daily.contains("<ra:LogEntry><ra:Value>46</ra:Value><ra:Timestamp>2014-12-05T00:00:00.000Z</ra:Timestamp></ra:LogEntry>"))
        // ECS40 twin: 26 digits are the primary and secondary import MPANs.
        let mpxn = try xml("ECS40_6.2.7_TWIN_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(mpxn.contains("<ra:ImportMPAN>1312345678111</ra:ImportMPAN><ra:SecondaryImportMPAN>1312345678222</ra:SecondaryImportMPAN><ra:ExportMPAN>1312345678333</ra:ExportMPAN>"))
        #expect(try xml("ECS82_4.18_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:MeterBalance>250000</ra:MeterBalance>"))
        #expect(try xml("ECS45_7.4_SUCCESS_RESPONSE_GBCS.HEX").contains("<ra:SupplyState>Enabled</ra:SupplyState>"))
        let firmware = try xml("CS08_11.2_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(firmware.contains("<ra:FirmwareVersion>0123ABCD</ra:FirmwareVersion>"))
        #expect(firmware.contains("<ra:SupplementaryRemotePartyID>90-B3-D5-1F-30-01-00-00</ra:SupplementaryRemotePartyID>"))
        #expect(try xml("CS08_11.2_ERROR_RESPONSE_GBCS.HEX").contains("<ra:ReadFirmwareVersionRsp MessageSuccess=\"false\">"))
    }

    /// One message code for two SRVs needs the request's SRV; a tampered answer is not
    /// parsed at all.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func ambiguityAndTamperingAreRefused() throws {
        let vector = try #require(try Self.responses().first { $0.path.hasSuffix("ECS62Remove_7.10_SUCCESS_RESPONSE_GBCS.HEX") })
        let message = try ParsedMessage(frame: try GBCSFrame.decode(vector.bytes), keys: try Self.keys)
        #expect(throws: MappingError.self) { try MMCMapping.xml(for: message) }
        #expect(throws: MappingError.self) { try MMCMapping.xml(for: message, srv: "4.1.1") }
        let remove = String(decoding: try #require(try MMCMapping.xml(for: message, srv: "7.10")), as: UTF8.self)
        #expect(remove.contains("<ra:RemoveAuxiliaryLoadFromBoostButtonRsp>"))
        for index in stride(from: 0, to: vector.bytes.count, by: 7) {
            var altered = vector.bytes
            altered[index] ^= 0x20
            guard let frame = try? GBCSFrame.decode(altered) else { continue }
            #expect(throws: ParseError.self, "octet \(index)") { try ParsedMessage(frame: frame, keys: try Self.keys) }
        }
    }
}

/// Times an attacker's meter could send that no longer trap the parser.
@Suite struct MMCFormatTests {
    @Test func timesOutsideUTCCountsAreMappingErrors() {
        #expect(throws: MappingError.self) { try MMCFormat.time(secondsSince2000: Int64.max) }
        #expect(throws: MappingError.self) { try MMCFormat.time(secondsSince2000: -1) }
        #expect((try? MMCFormat.time(secondsSince2000: 0)) == "2000-01-01T00:00:00.000Z")
        #expect((try? MMCFormat.time(secondsSince2000: Int64(UInt32.max))) != nil)
    }
}
