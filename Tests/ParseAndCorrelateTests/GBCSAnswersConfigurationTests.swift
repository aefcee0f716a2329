import DUIS
import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The configuration family's encoders beyond the RTDS round trip: without the command
/// (the fixed layouts of GBCS's tables give the same octets as the vectors), and on the
/// answers gbsm's emulator writes (read back by Parse and Correlate).
@Suite struct GBCSAnswersConfigurationTests {
    typealias RoundTrip = GBCSAnswerRoundTripTests

    static func vector(_ name: String) throws -> RoundTrip.Vector {
        try #require(try RoundTrip.vectors().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
    }

    /// The frame the device writes for `body` in the header of `vector`, with or without
    /// the vector's command.
    static func write(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool, keys: RoundTrip.DeviceSide) throws -> GBCSFrame {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        return try GBCSAnswerWriter(keys: keys).frame(body, context: context)
    }

    static func read(_ frame: GBCSFrame, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    /// Without the command, the use case's own request list gives the vector's octets
    /// (DCC's invoke-id rule matches RTDS's), success and refusal alike.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func fixedLayoutsAreTheCommands() throws {
        let keys = try RoundTrip.keys
        let names = ["ECS26b_6.2.1", "ECS26c_6.2.2", "ECS26d_6.2.3", "ECS26l_6.2.3", "ECS26e_6.2.4", "ECS26i_6.2.4", "ECS26f_6.2.5", "ECS26j_6.2.9",
                     "ECS27_4.15", "ECS61c_7.11", "ECS25r1_6.2.10", "ECS25r2_6.2.10"]
        for name in names {
            let vector = try Self.vector(name + "_SUCCESS_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector.response, srv: srv, keys: keys))
            let written = try Self.write(body, like: vector, srv: srv, withCommand: false, keys: keys)
            #expect(Hex.encode(written.encode()) == Hex.encode(vector.response.encode()), "\(name)")
            // A refusal without the command: as many null values as the use case reads.
            let refusal = DataNode(body.name, attributes: [("MessageSuccess", "false")])
            let refused = try Self.write(refusal, like: vector, srv: srv, withCommand: false, keys: keys)
            guard case .dlms(.accessResponse(let answer)) = try GBCSPayload.decode(refused.content, cra: .response),
                  case .dlms(.accessResponse(let theirs)) = try GBCSPayload.decode(vector.response.content, cra: .response) else {
                Issue.record("\(name): not a DLMS answer")
                continue
            }
            #expect(answer.results.count == theirs.results.count && !answer.results.contains { $0.succeeded }, "\(name)")
        }
    }

    /// What the emulator writes for 6.2.x, 4.15, 7.7 and 7.11 is written, and Parse and
    /// Correlate reads it back as noted.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorAnswers() throws {
        let keys = try RoundTrip.keys
        // 6.2.9: the suspend-debt flags are not part of ECS26j's read.
        var mode = DataNode("ReadDeviceConfigurationPaymentModeRsp")
        mode.add("PaymentMode", "Credit")
        mode.add("SuspendDebtEmergency", "false")
        mode.add("SuspendDebtDisabled", "true")
        let modeVector = try Self.vector("ECS26j_6.2.9_SUCCESS_RESPONSE_GBCS.HEX")
        let modeBack = try Self.read(try Self.write(mode, like: modeVector, srv: "6.2.9", withCommand: true, keys: keys), srv: "6.2.9", keys: keys)
        #expect(modeBack == DataNode("ReadDeviceConfigurationPaymentModeRsp", children: [DataNode("PaymentMode", text: "Credit")]))

        // 6.2.3: the emulator's monthly calendar, exactly.
        var calendar = DataNode("ReadDeviceConfigurationDataBillingCalendarRsp")
        calendar.add("BillingCalendar") { $0.add("ElectricityBillingCalendar") { $0.add("BillingTime", "00:00:00.00Z"); $0.add("Monthly", 1) } }
        let calendarVector = try Self.vector("ECS26d_6.2.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(try Self.read(try Self.write(calendar, like: calendarVector, srv: "6.2.3", withCommand: true, keys: keys), srv: "6.2.3", keys: keys) == calendar)
        // Six-monthly from November: November and May.
        var sixMonthly = DataNode("ReadDeviceConfigurationDataBillingCalendarRsp")
        sixMonthly.add("BillingCalendar") {
            $0.add("ElectricityBillingCalendar") {
                $0.add("BillingTime", "23:30:00.00Z")
                $0.add("SixMonthly") { $0.add("DayOfMonth", 28); $0.add("BillingPeriodStartMonth", 11) }
            }
        }
        #expect(try Self.read(try Self.write(sixMonthly, like: calendarVector, srv: "6.2.3", withCommand: true, keys: keys), srv: "6.2.3", keys: keys) == sixMonthly)

        // 6.2.4 (ECS26e): identity, tamper state and variant, exactly.
        var identity = DataNode("ReadDeviceConfigurationIdentityExcMPxNRsp")
        identity.add("DeviceIdentifier", "00-DB-12-34-56-78-90-A0")
        identity.add("ModelType", "SMETS2")
        identity.add("ManufacturerIdentifier", "gbsm")
        identity.add("Electricity") { $0.add("SupplyTamperState", "Unchanged"); $0.add("MeterVariant", "A") }
        let identityVector = try Self.vector("ECS26e_6.2.4_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(try Self.read(try Self.write(identity, like: identityVector, srv: "6.2.4", withCommand: true, keys: keys), srv: "6.2.4", keys: keys) == identity)

        // 7.7: the emulator lists switch 1 only; P&C reads back all five.
        var alcs = DataNode("ReadALCSDataRsp")
        alcs.add(DataNode("AuxiliaryLoadControlSwitch", attributes: [("Index", "1")], children: [
            DataNode("Description", text: "Storage heating"),
            DataNode("TypeAndIdentifier", children: [DataNode("HCALCS", text: "00-DB-12-34-56-78-90-97")]),
            DataNode("State", text: "true"),
        ]))
        let alcsVector = try Self.vector("ECS61a_7.7_ALL_OPTIONALS_SUCCESS_RESPONSE_GBCS.HEX")
        let alcsBack = try #require(try Self.read(try Self.write(alcs, like: alcsVector, srv: "7.7", withCommand: true, keys: keys), srv: "7.7", keys: keys))
        let switches = alcsBack.all("AuxiliaryLoadControlSwitch")
        #expect(switches.count == 5)
        #expect(switches.first?.child("TypeAndIdentifier")?.child("HCALCS")?.text == "00-DB-12-34-56-78-90-97")
        #expect(switches.first?.child("Description")?.text == "Storage heating")
        #expect(switches.dropFirst().allSatisfy { $0.child("TypeAndIdentifier")?.child("ALCS") != nil && $0.child("Description") == nil })

        // 7.11: boost log entries and the button's loads.
        var boost = DataNode("ReadBoostButtonDetailsRsp")
        boost.add("EventLogEntry") { $0.add("BoostEnd", "2015-01-02T01:00:00Z"); $0.add("BoostStart", "2015-01-02T00:00:00Z") }
        boost.add("BoostFunctionAvailability", "true")
        for index in 1...5 { boost.add("BoostFunctionControl\(index)Value", index == 2 ? "true" : "false") }
        let boostVector = try Self.vector("ECS61c_7.11_SUCCESS_RESPONSE_GBCS.HEX")
        let boostBack = try #require(try Self.read(try Self.write(boost, like: boostVector, srv: "7.11", withCommand: true, keys: keys), srv: "7.11", keys: keys))
        #expect(boostBack.child("EventLogEntry")?.child("BoostStart").flatMap { $0.text.flatMap { Timestamp(xsDateTime: $0) } } == Timestamp(xsDateTime: "2015-01-02T00:00:00Z"))
        #expect(boostBack.child("BoostFunctionControl2Value")?.text == "true")

        // 6.2.10 (ECS25r2): the emulator's single phase group is read back while one of
        // its codes is on.
        var behaviours = DataNode("ReadDeviceConfigurationEventAndAlertBehavioursRsp")
        behaviours.add("ElectricityNetworkOperatorAlertEventSettings") { settings in
            for group in ["ElectricityNetworkOperatorWANAlertSettings", "ElectricityNetworkOperatorLoggingSettings"] {
                settings.add(group) { alerts in
                    alerts.add("NetworkOperatorESMECommon") { $0.add("x8014", "Enable"); $0.add("x8015", "Disable") }
                    alerts.add("NetworkOperatorESMESinglePhase") { for code in ConfigurationReads.networkOperatorSinglePhaseCodes {
                        $0.add("x" + MMCMapping.hex16(code), code == 0x8002 ? "Enable" : "Disable")
                    } }
                }
            }
        }
        let behavioursVector = try Self.vector("ECS25r2_6.2.10_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(try Self.read(try Self.write(behaviours, like: behavioursVector, srv: "6.2.10", withCommand: true, keys: keys), srv: "6.2.10", keys: keys)
            == behaviours)
    }

    /// Values that do not fit their GBCS types are shape errors.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func badValuesAreShapeErrors() throws {
        let keys = try RoundTrip.keys
        let vector = try Self.vector("ECS26c_6.2.2_SUCCESS_RESPONSE_GBCS.HEX")
        var randomisation = DataNode("ReadDeviceConfigurationRandomisationRsp")
        randomisation.add("RandomisedOffset", 70000)
        randomisation.add("RandomisedOffsetNumber", 1)
        randomisation.add("RandomisedOffsetLimit", 1800)
        #expect(throws: GBCSAnswerError.self) { try Self.write(randomisation, like: vector, srv: "6.2.2", withCommand: true, keys: keys) }
        var calendar = DataNode("ReadDeviceConfigurationDataBillingCalendarRsp")
        calendar.add("BillingCalendar") { $0.add("ElectricityBillingCalendar") { $0.add("BillingTime", "24:00:00.00Z"); $0.add("Monthly", 1) } }
        let calendarVector = try Self.vector("ECS26d_6.2.3_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(throws: GBCSAnswerError.self) { try Self.write(calendar, like: calendarVector, srv: "6.2.3", withCommand: true, keys: keys) }
        // ECS25r1 given the network operator's settings: not its layout.
        var behaviours = DataNode("ReadDeviceConfigurationEventAndAlertBehavioursRsp")
        behaviours.add("ElectricityNetworkOperatorAlertEventSettings") { $0.add("ElectricityNetworkOperatorWANAlertSettings") { _ in } }
        let supplierVector = try Self.vector("ECS25r1_6.2.10_SUCCESS_RESPONSE_GBCS.HEX")
        #expect(throws: GBCSAnswerError.self) { try Self.write(behaviours, like: supplierVector, srv: "6.2.10", withCommand: true, keys: keys) }
    }
}
