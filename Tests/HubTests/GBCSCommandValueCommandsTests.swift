import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The value-carrying family's commands beyond the templates: the RTDS COMMAND vectors of
/// other device types, roles and body choices (the gas GCS09, GCS44 and GCS21e, the CHF's
/// ECS26i, ECS25r2, ECS26l, ECS29c, ECS25a/b, the twin MPAN, ECS57 with one register, the
/// ERROR variants), from bodies written after the DUIS XSD, and the values refused.
@Suite struct GBCSCommandValueCommandsTests {
    static func leaf(_ name: String, _ text: String = "") -> ElementTree { ElementTree(name: name, text: text) }
    static func node(_ name: String, _ children: [ElementTree]) -> ElementTree { ElementTree(name: name, children: children) }

    static let deviceSuffix: [DeviceType: UInt8] = [.esme: 0xA0, .gsme: 0xA1, .chf: 0xA2, .gpf: 0xA3, .ppmid: 0xA5]

    /// The family's builder for an SRV, on its own (not through the fixed tables).
    /// What DCC adds to a request's values: the requester's roles, the CIN it made (9.1),
    /// and the meter's billing calendar kind (6.2.3).
    struct DCCValues {
        var roles: UserRoleSet = []
        var cin: String?
        var allPeriodicities = false
    }

    static func build(_ srv: SRV, _ body: ElementTree, _ type: DeviceType, user: EUI64 = EUI64(compactHex: "90B3D51F30010000")!,
                      counter: UInt64 = 1000, broker: UInt64? = 1300, dcc: DCCValues = DCCValues()) throws(TransformError) -> CriticalCommandBuilder.Built {
        guard let builder = GBCSCommandBuilder.valueCommandBuilders[srv] else { throw TransformError("no builder for \(srv)") }
        let device = EUI64(compactHex: "00DB1234567890" + Hex.encode([deviceSuffix[type] ?? 0xA0], uppercase: true))!
        return try builder(CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: device, deviceType: type, counter: counter,
                                                        brokerCounter: broker, roles: dcc.roles, customerIdentificationNumber: dcc.cin,
                                                        allPeriodicitiesBillingCalendar: dcc.allPeriodicities))
    }

    static func vector(_ path: String) throws -> GBCSFrame {
        let text = try String(contentsOf: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0/" + path), encoding: .utf8)
        return try GBCSFrame.decode(try #require(Hex.decode(text)))
    }

    static let supplierName = node("UpdateSupplierName", [leaf("SupplierName", "E-ON"), leaf("SupplierTelephoneNumber", "0333 202 4650")])

    static func voltage(notReset: Bool) -> ElementTree {
        let rms = node("RMSVoltageSettings", [
            leaf("RMSExtremeOverVoltageMeasurementPeriod", "30"), leaf("RMSExtremeOverVoltageThreshold", "287"),
            leaf("RMSExtremeUnderVoltageMeasurementPeriod", "30"), leaf("RMSExtremeUnderVoltageThreshold", "180"),
            leaf("RMSVoltageSagMeasurementPeriod", "30"), leaf("RMSVoltageSagThreshold", "216"),
            leaf("RMSVoltageSwellMeasurementPeriod", "30"), leaf("RMSVoltageSwellThreshold", "253"),
        ])
        let average = node("SinglePhaseVoltageSettings", [leaf("AverageRMSOverVoltageThreshold", "264"), leaf("AverageRMSUnderVoltageThreshold", "200"),
                                                          leaf("AverageRMSVoltageMeasurementPeriod", "30")])
        return node("UpdateDeviceConfigurationVoltage", [rms, average] + (notReset ? [leaf("RMSVoltageCountersNotReset")] : []))
    }

    static func alerts(_ choice: String, _ groups: [(String, [(String, String)])]) -> ElementTree {
        node("ConfigureAlertBehaviour", [node(choice, groups.map { group in node(group.0, group.1.map { leaf($0.0, $0.1) }) })])
    }

    static func subGHz(_ replacing: [String: ElementTree] = [:]) -> ElementTree {
        let children = [
            node("LowerBandSubGHzChannels0To26", [leaf("Channel1"), leaf("Channel2")]),
            node("LowerBandSubGHzChannels27To34", [leaf("Channel28"), leaf("Channel29")]),
            node("LowerBandSubGHzChannels35To61", [leaf("Channel36"), leaf("Channel37")]),
            node("UpperBandSubGHzChannels0To26", [leaf("Channel1"), leaf("Channel2")]),
            leaf("NormalLimitedDutyCycleThreshold", "1.3"), leaf("LimitedCriticalDutyCycleThreshold", "2.2"),
            leaf("MaximumSubGHzChannelChangesPerWeek", "5"), leaf("GSMECurfew", "7"), leaf("ChannelQuieterThreshold", "7"),
            leaf("ChannelNoisierThreshold", "12"), leaf("NonGSMEPoorCommsPercentageThreshold", "60.00"),
            leaf("NonGSMEPoorCommsMeasurementPeriods", "130"), leaf("LocalCHNoiseMeasurementPeriod", "100"),
            leaf("LocalCHFailurePercentage", "40.00"), leaf("LocalCHRetryPercentage", "30.00"),
        ]
        return node("SetCHFSubGHzConfiguration", children.map { replacing[$0.name] ?? $0 })
    }

    static func boost(_ add: Bool, _ values: [(String, String)]) -> ElementTree {
        node(add ? "AddAuxiliaryLoadToBoostButton" : "RemoveAuxiliaryLoadFromBoostButton",
             values.map { ElementTree(name: add ? "AddToBoostButton" : "RemoveFromBoostButton", attributes: ["index": $0.0], text: $0.1) })
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func vectorsBeyondTheTemplates() throws {
        let empty = { (name: String) in Self.node(name, []) }
        let cases: [(srv: SRV, body: ElementTree, type: DeviceType, vector: String, dcc: DCCValues)] = [
            ("3.2", Self.node("RestrictAccessForChangeOfTenancy", [Self.leaf("RestrictionDateTime", "2016-11-22T02:46:56Z")]), .gpf,
             "3.2_GCS09/GCS09_3.2_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("3.4", Self.supplierName, .gsme, "3.4_GCS44/GCS44_3.4_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("3.4", Self.supplierName, .gsme, "3.4_GCS44/GCS44_3.4_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("3.3", empty("ClearEventLog"), .gsme, "3.3_CS11/CS11_3.3_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("2.2", Self.node("TopUpDevice", [Self.leaf("UTRN", "73948959061972833313")]), .esme, "2.2_CS01a/CS01a_2.2_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.3", empty("ReadDeviceConfigurationBillingCalendar"), .esme, "6.2.3_ECS26d/ECS26d_6.2.3_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.3", empty("ReadDeviceConfigurationBillingCalendar"), .esme,
             "6.2.3_ECS26l/ECS26l_6.2.3_SUCCESS_COMMAND_GBCS.HEX", DCCValues(allPeriodicities: true)),
            ("6.2.4", empty("ReadDeviceConfigurationIdentityExcMPxN"), .esme, "6.2.4_ECS26e/ECS26e_6.2.4_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.4", empty("ReadDeviceConfigurationIdentityExcMPxN"), .chf, "6.2.4_ECS26i/ECS26i_6.2.4_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.4", empty("ReadDeviceConfigurationIdentityExcMPxN"), .chf, "6.2.4_ECS26i/ECS26i_6.2.4_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.4", empty("ReadDeviceConfigurationIdentityExcMPxN"), .gsme, "6.2.4_GCS21e/GCS21e_6.2.4_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.10", empty("ReadDeviceConfigurationEventAndAlertBehaviours"), .esme, "6.2.10_ECS25r1/ECS25r1_6.2.10_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.2.10", empty("ReadDeviceConfigurationEventAndAlertBehaviours"), .esme,
             "6.2.10_ECS25r2/ECS25r2_6.2.10_SUCCESS_COMMAND_GBCS.HEX", DCCValues(roles: [.ed])),
            ("6.5", Self.voltage(notReset: true), .esme, "6.5_ECS29c/ECS29c_6.5_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.18.2", Self.node("ResetMaximumDemandRegisters", [Self.leaf("MaxDemandConfigTimeActivePowerImportValue")]), .esme,
             "6.18.2_ECS57/ECS57_6.18.2_SOME_OPTIONALS_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.20.1", Self.node("SetDeviceConfigurationImportMPxN", [Self.node("ImportMPANs", [Self.leaf("ImportMPAN", "1312345678111"),
                                                                                              Self.leaf("SecondaryImportMPAN", "1312345678222")])]),
             .esme, "6.20.1_ECS39a/ECS39a_6.20.1_TWIN_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.20.2", Self.node("SetDeviceConfigurationExportMPAN", [Self.leaf("ExportMPAN", "1312345678333")]), .esme,
             "6.20.2_ECS39b/ECS39b_6.20.2_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x810D", "Enable"), ("x810E", "Disable"), ("x81C4", "Disable"),
                                                                                      ("x81C5", "Disable")])]),
             .esme, "6.22_ECS25a/ECS25a_6.22_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x810D", "Enable"), ("x810E", "Disable")]),
                                                               ("SupplierESMEPolyPhase", [("x81B7", "Enable")])]),
             .esme, "6.22_ECS25a/ECS25a_6.22_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.22", Self.alerts("ElectricityNetworkOperatorAlerts", [("NetworkOperatorESMECommon", [("x8014", "Enable"), ("x8015", "Disable")])]),
             .esme, "6.22_ECS25b/ECS25b_6.22_SUCCESS_COMMAND_GBCS.HEX", DCCValues()),
            ("6.22", Self.alerts("ElectricityNetworkOperatorAlerts", [("NetworkOperatorESMECommon", [("x8014", "Enable"), ("x8015", "Enable")]),
                                                                      ("NetworkOperatorESMEPolyPhase", [("x8003", "Enable")])]),
             .esme, "6.22_ECS25b/ECS25b_6.22_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.28", Self.subGHz(), .chf, "6.28_DBCH04/DBCH04_6.28_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("6.29", empty("RequestCHFSubGHzChannelScan"), .chf, "6.29_DBCH05/DBCH05_6.29_ERROR_COMMAND_GBCS.HEX", DCCValues()),
            ("9.1", empty("RequestCustomerIdentificationNumber"), .esme,
             "9.1_ECS50/ECS50_9.1_SUCCESS_COMMAND_GBCS.HEX", DCCValues(cin: "1234")),
        ]
        for item in cases {
            let frame = try Self.vector(item.vector)
            let viaBroker = frame.originator == GBCSFrame.accessControlBroker
            let user = frame.supplement.remotePartyID ?? frame.originator
            let counter = frame.supplement.remotePartyCounter ?? frame.originatorCounter
            let built = try Self.build(item.srv, item.body, item.type, user: user, counter: counter, broker: viaBroker ? frame.originatorCounter : nil,
                                       dcc: item.dcc)
            #expect(Hex.encode(built.content) == Hex.encode(frame.content), "\(item.vector)")
            #expect(built.messageCode == frame.messageCode, "\(item.vector)")
            #expect(built.sentByBroker == viaBroker, "\(item.vector)")
        }
    }

    /// A load marked false is left alone: only the loads marked true are set.
    @Test func boostButtonSetsOnlyTheMarkedLoads() throws {
        let built = try Self.build("7.9", Self.boost(true, [("1", "false"), ("2", "true"), ("3", "0"), ("4", "false"), ("5", "false")]), .esme)
        let expected = GBCSPayload.dlms(.accessRequest(.init(invokeID: 0x2000_03E8,
                                                             specifications: [.set(DLMSAPDU.Descriptor(classID: 1, instance: [0, 0, 94, 44, 6, 2], member: 2))],
                                                             data: [.boolean(0xFF)]))).encode()
        #expect(built.content == expected)
    }

    @Test func hostileValuesAreRefused() {
        let cases: [(srv: SRV, body: ElementTree, type: DeviceType, dcc: DCCValues)] = [
            ("2.2", Self.node("TopUpDevice", [Self.leaf("UTRN", "7394614433204021731")]), .esme, DCCValues()),
            ("2.2", Self.node("TopUpDevice", [Self.leaf("UTRN", "7394614433204021731x")]), .esme, DCCValues()),
            ("2.2", Self.node("TopUpDevice", [Self.leaf("UTRN", "73946144332040217315")]), .gsme, DCCValues()),
            ("3.1", Self.node("DisplayMessage", [Self.leaf("SupplierMessage", "Caf\u{E9}")]), .esme, DCCValues()),
            ("3.1", Self.node("DisplayMessage", [Self.leaf("SupplierMessage", String(repeating: "a", count: 117))]), .esme, DCCValues()),
            ("3.2", Self.node("RestrictAccessForChangeOfTenancy", [Self.leaf("RestrictionDateTime", "1999-12-31T23:59:59Z")]), .gpf, DCCValues()),
            ("3.2", Self.node("RestrictAccessForChangeOfTenancy", [Self.leaf("RestrictionDateTime", "2016-11-22T02:46:56Z")]), .gsme, DCCValues()),
            ("3.3", Self.node("ClearEventLog", [Self.leaf("ESMEEventLogType", "ALCS")]), .esme, DCCValues()),
            ("3.4", Self.node("UpdateSupplierName", [Self.leaf("SupplierName", String(repeating: "N", count: 16)),
                                                     Self.leaf("SupplierTelephoneNumber", "0333")]), .gsme, DCCValues()),
            ("6.2.10", Self.node("ReadDeviceConfigurationEventAndAlertBehaviours", []), .esme, DCCValues(roles: [.es])),
            ("6.5", Self.node("UpdateDeviceConfigurationVoltage", [Self.voltage(notReset: false).children[0],
                                                                   Self.node("PolyPhaseVoltageSettings", [])]), .esme, DCCValues()),
            ("6.12", Self.node("UpdateDeviceConfigurationInstantaneousPowerThreshold", [Self.leaf("LowMediumPowerThreshold", "4294967296"),
                                                                                        Self.leaf("MediumHighPowerThreshold", "1")]), .esme, DCCValues()),
            ("6.18.1", Self.node("SetMaximumDemandConfigurableTimePeriod", [Self.node("MaximumDemandTimePeriodSchedule", [
                Self.leaf("StartTime", "25:00:00Z"), Self.leaf("EndTime", "22:00:00Z"),
            ])]), .esme, DCCValues()),
            ("6.18.2", Self.node("ResetMaximumDemandRegisters", []), .esme, DCCValues()),
            ("6.20.1", Self.node("SetDeviceConfigurationImportMPxN", [Self.node("ImportMPANs", [Self.leaf("ImportMPAN", "131234567833")])]), .esme, DCCValues()),
            ("6.20.1", Self.node("SetDeviceConfigurationImportMPxN", [Self.leaf("ImportMPRN", "1234567")]), .gsme, DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x8014", "Enable")])]), .esme, DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x810D", "Enable"), ("x810D", "Disable")])]), .esme, DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x810D", "Maybe")])]), .esme, DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("NetworkOperatorESMECommon", [("x810D", "Enable")])]), .esme, DCCValues()),
            ("6.22", Self.alerts("ElectricitySupplierAlerts", [("SupplierESMECommon", [("x81", "Enable")])]), .esme, DCCValues()),
            ("6.22", Self.alerts("GasSupplierAlerts", []), .gsme, DCCValues()),
            ("6.28", Self.subGHz(["LowerBandSubGHzChannels0To26": Self.node("LowerBandSubGHzChannels0To26", [Self.leaf("Channel27")])]), .chf, DCCValues()),
            ("6.28", Self.subGHz(["LocalCHRetryPercentage": Self.leaf("LocalCHRetryPercentage", "700.00")]), .chf, DCCValues()),
            ("6.28", Self.subGHz(), .esme, DCCValues()),
            ("7.9", Self.boost(true, [("6", "true")]), .esme, DCCValues()),
            ("7.9", Self.boost(true, [("1", "true"), ("1", "true")]), .esme, DCCValues()),
            ("7.10", Self.boost(false, [("1", "false"), ("2", "false"), ("3", "false"), ("4", "false"), ("5", "false")]), .esme, DCCValues()),
            ("7.10", Self.boost(false, [("1", "yes")]), .esme, DCCValues()),
            ("9.1", Self.node("RequestCustomerIdentificationNumber", []), .esme, DCCValues()),
            ("9.1", Self.node("RequestCustomerIdentificationNumber", []), .esme, DCCValues(cin: "12a4")),
            ("9.1", Self.node("RequestCustomerIdentificationNumber", []), .esme, DCCValues(cin: "12345")),
        ]
        for item in cases {
            #expect(throws: TransformError.self, "\(item.srv) \(item.body)") { _ = try Self.build(item.srv, item.body, item.type, dcc: item.dcc) }
        }
        // A broker-sent command needs the broker's counter.
        #expect(throws: TransformError.self) {
            _ = try Self.build("9.1", Self.node("RequestCustomerIdentificationNumber", []), .esme, broker: nil, dcc: DCCValues(cin: "1234"))
        }
    }
}
