import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The configuration family's pre-commands beyond the critical templates: the RTDS
/// vectors that have no template (GCS28 for a gas meter's clock, ECS30a, the ERROR
/// variants), from bodies written after the DUIS XSD, and the values the builders refuse.
@Suite struct CriticalCommandBuilderConfigurationTests {
    static let user = EUI64(compactHex: "90B3D51F30010000")!
    static let esme = EUI64(compactHex: "00DB1234567890A0")!
    static let gsme = EUI64(compactHex: "00DB1234567890A1")!

    static func body(_ name: String, _ values: [(String, String)], _ children: [ElementTree] = []) -> ElementTree {
        ElementTree(name: name, children: values.map { ElementTree(name: $0.0, text: $0.1) } + children)
    }

    /// The pre-command as `CriticalCommandBuilder.preCommand` frames it, from this family's
    /// table (so the tests do not depend on its registration in `builders`).
    static func build(_ srv: SRV, _ body: ElementTree, device: DeviceType = .esme, counter: UInt64 = 1000) throws(TransformError) -> GBCSFrame? {
        guard let builder = CriticalCommandBuilder.configurationBuilders[srv] else { return nil }
        let target = device == .gsme ? gsme : esme
        let built = try builder(CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: target, deviceType: device, counter: counter))
        return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: target, dateTime: nil,
                         messageCode: built.messageCode, supplement: .none, content: built.content, signature: .absent)
    }

    static func vector(_ path: String) throws -> [UInt8] {
        let text = try String(contentsOf: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0/" + path), encoding: .utf8)
        return try #require(Hex.decode(text))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func vectorsWithoutTemplates() throws {
        let clock = { (time: String, tolerance: String) in Self.body("CommissionDeviceSynchroniseClock", [("CurrentDateTime", time), ("TolerancePeriod", tolerance)]) }
        let electricity = { (time: String, period: ElementTree) in
            Self.body("UpdateDeviceConfigurationBillingCalendar", [], [ElementTree(name: "ElectricityBillingCalendar", children: [ElementTree(name: "BillingTime", text: time), period])])
        }
        let quarterly = ElementTree(name: "Quarterly", children: [ElementTree(name: "DayOfMonth", text: "1"), ElementTree(name: "BillingPeriodStartMonth", text: "1")])
        let flow = Self.body("UpdateDeviceConfigurationGasFlow", [("UncontrolledGasFlowRate", "61680"), ("SupplyDepletionState", "Unchanged"),
                                                                   ("SupplyTamperState", "Unchanged"), ("StabilisationPeriod", "60"), ("MeasurementPeriod", "300")])
        let cases: [(srv: SRV, body: ElementTree, device: DeviceType, counter: UInt64, vector: String)] = [
            ("8.1.1", clock("2014-12-31T23:30:00Z", "3600"), .gsme, 1000, "8.1.1_GCS28Commission/GCS28Commission_8.1.1_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("8.1.1", clock("2015-01-01T01:00:00Z", "3600"), .gsme, 1002, "8.1.1_GCS28Commission/GCS28Commission_8.1.1_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.11", Self.body("SynchroniseClock", [("CurrentDateTime", "2014-12-31T23:59:10.00Z"), ("TolerancePeriod", "60")]), .esme, 1002,
             "6.11_ECS70/ECS70_6.11_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.8", electricity("12:00:00Z", ElementTree(name: "Monthly", text: "1")), .esme, 1001, "6.8_ECS30/ECS30_6.8_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("6.8", electricity("00:00:00Z", ElementTree(name: "Monthly", text: "1")), .esme, 1003, "6.8_ECS30/ECS30_6.8_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.8", electricity("00:00:00Z", quarterly), .esme, 1003, "6.8_ECS30a/ECS30a_6.8_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("6.6", Self.body("UpdateDeviceConfigurationGasConversion", [("CalorificValue", "12.3"), ("ConversionFactor", "1.23456")]), .gsme, 1004,
             "6.6_GCS23/GCS23_6.6_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.7", flow, .gsme, 1004, "6.7_GCS24/GCS24_6.7_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.25", Self.body("SetElectricitySupplyTamperState", [("SupplyTamperState", "Locked")]), .esme, 1001, "6.25_ECS81/ECS81_6.25_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.26", Self.body("UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix", [("DailyTariffBlockCounterMatrixReset", "true")]), .esme, 1002,
             "6.26_ECS48/ECS48_6.26_ERROR_PRECOMMAND_GBCS.HEX"),
        ]
        for item in cases {
            let built = try #require(try Self.build(item.srv, item.body, device: item.device, counter: item.counter))
            let expected = try Self.vector(item.vector)
            #expect(Hex.encode(built.encode()) == Hex.encode(expected), "\(item.vector)")
        }
    }

    /// A daily calendar goes as ECS30 (the RTDS's one daily vector is ECS30a, the same
    /// payload under the "all periodicities" code: DCC chose by the meter's version).
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func dailyCalendarPayloadMatchesECS30a() throws {
        let body = Self.body("UpdateDeviceConfigurationBillingCalendar", [], [
            ElementTree(name: "ElectricityBillingCalendar", children: [ElementTree(name: "BillingTime", text: "00:00:00Z"), ElementTree(name: "Daily")]),
        ])
        let built = try #require(try Self.build("6.8", body, counter: 1006))
        let vector = try GBCSFrame.decode(try Self.vector("6.8_ECS30a/ECS30a_6.8_ERROR_PRECOMMAND_GBCS.HEX"))
        #expect(built.content == vector.content)
        #expect(built.messageCode == 0x0046 && vector.messageCode == 0x00D7)
    }

    @Test func periodicitiesAndDecimals() throws {
        func calendar(_ period: ElementTree) throws -> [UInt8] {
            let body = Self.body("UpdateDeviceConfigurationBillingCalendar", [], [
                ElementTree(name: "ElectricityBillingCalendar", children: [ElementTree(name: "BillingTime", text: "01:30:15.75+01:00"), period]),
            ])
            return try #require(try Self.build("6.8", body)).content
        }
        // 01:30:15 at +01:00 is 00:30:15 UTC; six-monthly from November: November and May.
        let six = try calendar(ElementTree(name: "SixMonthly", children: [ElementTree(name: "DayOfMonth", text: "5"), ElementTree(name: "BillingPeriodStartMonth", text: "11")]))
        #expect(Hex.encode(six).hasSuffix("010202020904001e0f000905ffff0b05ff02020904001e0f000905ffff0505ff"))
        let weekly = try calendar(ElementTree(name: "Weekly", text: "7"))
        #expect(Hex.encode(weekly).hasSuffix("0905ffffffff07"))
        let built = try #require(try Self.build("6.6", Self.body("UpdateDeviceConfigurationGasConversion", [("CalorificValue", "429496729.5"), ("ConversionFactor", "+0.5")]), device: .gsme))
        let hex = Hex.encode(built.content)
        #expect(hex.contains("50c30000" + "50"), "0.5 with 5 digits is 50000")
        #expect(hex.contains("ffffffff0110"), "429496729.5 with 1 digit is 2^32 - 1")
    }

    @Test func hostileValuesAreRefused() {
        func refused(_ srv: SRV, _ body: ElementTree, device: DeviceType = .esme) -> Bool {
            do {
                _ = try Self.build(srv, body, device: device)
                return false
            } catch {
                return !error.reason.isEmpty
            }
        }
        let conversion = { (cv: String, cf: String) in Self.body("UpdateDeviceConfigurationGasConversion", [("CalorificValue", cv), ("ConversionFactor", cf)]) }
        for (cv, cf) in [("40.0", "1.234567"), ("40.0", "42949.67296"), ("-1", "1"), ("40.0", "1e5"), ("429496729.6", "1"), ("", "1"), ("40.0", "."), ("4..0", "1")] {
            #expect(refused("6.6", conversion(cv, cf), device: .gsme), "\(cv) \(cf)")
        }
        #expect(!refused("6.6", conversion("-0.0", "1.022640000"), device: .gsme))
        #expect(refused("6.6", conversion("40.0", "1.0"), device: .esme))
        let clock = { (time: String, tolerance: String) in Self.body("SynchroniseClock", [("CurrentDateTime", time), ("TolerancePeriod", tolerance)]) }
        #expect(refused("6.11", clock("2014-12-31T23:59:10Z", "86401")))
        #expect(refused("6.11", clock("2014-12-31T23:59:10Z", "-1")))
        #expect(refused("6.11", clock("9999-12-31T23:59:59Z", "60")))
        #expect(refused("6.11", clock("0000-01-01T00:00:00+01:00", "0")))
        #expect(refused("6.11", clock("2014-13-31T23:59:10Z", "60")))
        #expect(refused("6.11", clock("2014-12-31T23:59:10Z", "60"), device: .chf))
        #expect(!refused("6.11", clock("9999-12-31T23:58:59Z", "60"), device: .gsme))
        let calendar = { (period: ElementTree) in
            Self.body("UpdateDeviceConfigurationBillingCalendar", [], [ElementTree(name: "ElectricityBillingCalendar", children: [ElementTree(name: "BillingTime", text: "12:00:00Z"), period])])
        }
        #expect(refused("6.8", calendar(ElementTree(name: "Weekly", text: "8"))))
        #expect(refused("6.8", calendar(ElementTree(name: "Monthly", text: "29"))))
        #expect(refused("6.8", calendar(ElementTree(name: "Yearly", children: [ElementTree(name: "DayOfMonth", text: "1"), ElementTree(name: "BillingPeriodStartMonth", text: "13")]))))
        #expect(refused("6.8", calendar(ElementTree(name: "Hourly"))))
        #expect(refused("6.8", Self.body("UpdateDeviceConfigurationBillingCalendar", [], [ElementTree(name: "GasBillingCalendar")]), device: .gsme))
        #expect(refused("6.26", Self.body("UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix", [("DailyTariffBlockCounterMatrixReset", "false")])))
        let limit = { (threshold: String, state: String) in
            Self.body("UpdateDeviceConfigurationLoadLimitingGeneralSettings", [("LoadLimitPeriod", "300"), ("LoadLimitPowerThreshold", threshold),
                                                                                ("LoadLimitRestorationPeriod", "30"), ("LoadLimitSupplyState", state)])
        }
        #expect(refused("6.4.1", limit("4294967296", "Disable")))
        #expect(refused("6.4.1", limit("6900", "Maybe")))
        #expect(!refused("6.4.1", limit("4294967295", "Unchanged")))
        #expect(refused("6.25", Self.body("SetElectricitySupplyTamperState", [("SupplyTamperState", "locked")])))
        let flow = { (rate: (String, String), stabilisation: String) in
            Self.body("UpdateDeviceConfigurationGasFlow", [rate, ("SupplyDepletionState", "Locked"), ("SupplyTamperState", "Locked"),
                                                           ("StabilisationPeriod", stabilisation), ("MeasurementPeriod", "300")])
        }
        #expect(refused("6.7", flow(("UncontrolledGasFlowRateDecimal", "1.5"), "60"), device: .gsme))
        #expect(refused("6.7", flow(("UncontrolledGasFlowRate", "65536"), "60"), device: .gsme))
        #expect(refused("6.7", flow(("UncontrolledGasFlowRate", "100"), "256"), device: .gsme))
        #expect(!refused("6.7", flow(("UncontrolledGasFlowRate", "100"), "255"), device: .gsme))
    }
}
