import DUIS
import Foundation
import GBCS
import ParseAndCorrelate
import Testing
import TestSupport

/// Device alerts as MMC XML: every alert of DCC's Reference Test Data Set verifies and
/// becomes a `DeviceAlertMessage` that MMC 5.4 accepts, with its code, name and time, and
/// the payload MMC gives future-dated outcomes and firmware verification.
@Suite struct AlertMappingTests {
    static func alerts() throws -> [MMCMappingTests.Vector] {
        let root = try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0")
        return try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.contains("_ALERT") && $0.hasSuffix(".HEX") }.sorted().map { path in
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            return MMCMappingTests.Vector(path: path, srv: nil, bytes: try #require(Hex.decode(text)))
        }
    }

    static func xml(_ name: String) throws -> String {
        let vector = try #require(try alerts().first { $0.path.hasSuffix("/" + name) }, "\(name)")
        let message = try ParsedMessage(frame: try GBCSFrame.decode(vector.bytes), keys: try MMCMappingTests.keys)
        return String(decoding: try #require(try MMCMapping.xml(for: message)), as: UTF8.self)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyReferenceAlertBecomesValidMMC() throws {
        var problems: [String] = []
        var count = 0
        for vector in try Self.alerts() {
            do {
                let message = try ParsedMessage(frame: try GBCSFrame.decode(vector.bytes), keys: try MMCMappingTests.keys)
                let xml = try #require(try MMCMapping.xml(for: message))
                problems += SchemaCheck.mmcProblems(in: xml).map { "\(vector.path): \($0)" }
                count += 1
            } catch {
                problems.append("\(vector.path): \(error)")
            }
        }
        #expect(count == 61)
        #expect(problems.isEmpty, "\(problems.count):\n\(problems.prefix(20).joined(separator: "\n"))")
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func alertValuesAreTheVectors() throws {
        // A DLMS future-dated success: ECS01a's command 0019, its counter, and the COSEM
        // attribute it ran (class 0x0014, the activity calendar).
        let tariff = try Self.xml("ECS01a_1.1.1_8F66_FUTURE_DATED_TOU_BLOCK_SUCCESS_ALERT_SWITCHING_TABLE_GBCS.HEX")
        #expect(tariff.contains("<ra:GBCSHexAlertCode>8F66</ra:GBCSHexAlertCode><ra:AlertDescription>Future-date HAN Interface Command Successfully Actioned</ra:AlertDescription>"))
        #expect(tariff.contains("<ra:FutureDatedCommandMessageCode>0019</ra:FutureDatedCommandMessageCode><ra:FutureDatedCommandOriginatorCounter>1008</ra:FutureDatedCommandOriginatorCounter><ra:DLMSCOSEMFDInstructionIdentification><ra:ClassId>0014</ra:ClassId>"))
        // A GBZ one: GCS01a (006B), counter 1005, the Price cluster's Publish command.
        let gas = try Self.xml("GCS01a_1.1.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_BLOCK_THRESHOLDS_GBCS.HEX")
        #expect(gas.contains("<ra:FutureDatedCommandMessageCode>006B</ra:FutureDatedCommandMessageCode><ra:FutureDatedCommandOriginatorCounter>1005</ra:FutureDatedCommandOriginatorCounter><ra:GBZFDInstructionIdentification><ra:ExtendedHeaderClusterID>0700</ra:ExtendedHeaderClusterID><ra:FrameControl>09</ra:FrameControl><ra:CommandIdentifier>06</ra:CommandIdentifier>"))
        // CS06's failure: activation at 2030-01-01T00:00:00Z, hashMismatch or similar.
        let firmware = try Self.xml("CS06_11.3_8F67_FUTURE_DATED_ERROR_ALERT_GBCS.HEX")
        #expect(firmware.contains("<ra:GBCSHexAlertCode>8F67</ra:GBCSHexAlertCode>"))
        #expect(firmware.contains("<ra:FirmwareActivationDeviceAlert><ra:ExecutionDateTime>2030-01-01T00:00:00.000Z</ra:ExecutionDateTime>"))
        // Firmware verification on a gas meter: the manufacturer image hash.
        #expect(try Self.xml("FDRA-ZigBee_NA_8F72_ALERT_GBCS.HEX").contains("<ra:ManufacturerImageHash>" + String(repeating: "A1", count: 32) + "</ra:ManufacturerImageHash>"))
        // The billing data log alert opens (its block decrypts) and is named.
        #expect(try Self.xml("ECS68_NA_8F0A_SINGLE_ALERT_GBCS.HEX").contains("<ra:AlertDescription>Billing Data Log Updated</ra:AlertDescription>"))
    }
}
