import DUIS
import Devices
import Foundation
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The gas family's encoders beyond the RTDS round trip: without the command (GBCS's fixed
/// layouts and DCC's sequence numbers give the vectors' payloads), on the answers gbsm's
/// emulator writes (read back by Parse and Correlate), and on refusals.
@Suite struct GBCSAnswersGasTests {
    typealias RoundTrip = GBCSAnswerRoundTripTests

    static func vector(_ name: String) throws -> RoundTrip.Vector {
        try #require(try RoundTrip.vectors().first { ($0.path as NSString).lastPathComponent == name }, "\(name)")
    }

    static func write(_ body: DataNode, like vector: RoundTrip.Vector, srv: SRV, withCommand: Bool, keys: RoundTrip.DeviceSide) throws -> GBCSFrame {
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        var context = RoundTrip.context(vector, useCase: useCase, srv: srv, body: body)
        if !withCommand { context.command = nil }
        return try GBCSAnswerWriter(keys: keys).frame(body, context: context)
    }

    static func read(_ frame: GBCSFrame, srv: SRV, keys: RoundTrip.DeviceSide) throws -> DataNode? {
        try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    static let successes = [
        "GCS13c_4.1.2_SUCCESS_RELIABLE_GPF", "GCS13b_4.1.4_SUCCESS_RELIABLE_GPF", "GCS14_4.3_SUCCESS_RELIABLE_GPF", "GCS15d_4.4.4_SUCCESS",
        "GCS17_4.8.1_SUCCESS", "GCS61_4.17_SUCCESS", "GCS21a_6.2.8_SUCCESS", "GCS21j_6.2.9_SUCCESS", "GCS31_14.1_SUCCESS", "GCS59_8.12.2_SUCCESS",
        "GCS09_3.2_SUCCESS", "GCS44_3.4_SUCCESS", "CS11_3.3_SUCCESS",
    ]

    /// Without the command, the payload is the vector's (the header's date-time aside,
    /// which the framework writes).
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func fixedLayoutsAreTheCommands() throws {
        let keys = try RoundTrip.keys
        for name in Self.successes {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector.response, srv: srv, keys: keys))
            let written = try Self.write(body, like: vector, srv: srv, withCommand: false, keys: keys)
            #expect(Hex.encode(written.content) == Hex.encode(vector.response.content), "\(name)")
        }
    }

    /// A refusal, with or without the command, is read back as one; the ERROR vectors'
    /// refusals are written as they are.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func refusalsAreReadAsRefusals() throws {
        let keys = try RoundTrip.keys
        for name in Self.successes where !name.hasPrefix("GCS59") {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector.response, srv: srv, keys: keys))
            for withCommand in [true, false] {
                let refusal = DataNode(body.name, attributes: [("MessageSuccess", "false")])
                let read = try #require(try Self.read(try Self.write(refusal, like: vector, srv: srv, withCommand: withCommand, keys: keys), srv: srv, keys: keys))
                #expect(read.attribute("MessageSuccess") == "false", "\(name)")
            }
        }
        // The refusals DCC's ERROR vectors show, octet for octet (their headers carry no date-time).
        for name in ["GCS21j_6.2.9_ERROR", "GCS15d_4.4.4_ERROR", "GCS17_4.8.1_ERROR", "GCS44_3.4_ERROR", "CS11_3.3_ERROR", "GCS31_14.1_ERROR"] {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            let body = try #require(try Self.read(vector.response, srv: srv, keys: keys))
            #expect(body.attribute("MessageSuccess") == "false", "\(name)")
            let written = try Self.write(body, like: vector, srv: srv, withCommand: true, keys: keys)
            #expect(Hex.encode(written.encode()) == Hex.encode(vector.response.encode()), "\(name)")
        }
        // GCS14's: the price attributes failed, the prepayment read a Default Response (FF, 01).
        let vector = try Self.vector("GCS14_4.3_ERROR_RESPONSE_GBCS.HEX")
        let refusal = DataNode("ReadInstantaneousPrepayValuesRsp", attributes: [("MessageSuccess", "false")])
        let written = try Self.write(refusal, like: vector, srv: "4.3", withCommand: true, keys: keys)
        #expect(Hex.encode(written.content, uppercase: true) == "01090200070000090800011706C01606C0010705000508010BFF01")
    }

    static func node(_ name: String, _ text: String, index: Int? = nil) -> DataNode {
        DataNode(name, text: text, attributes: index.map { [("index", String($0))] } ?? [])
    }

    static func entry(_ children: [DataNode]) -> DataNode { DataNode("LogEntry", children: children) }

    /// What the emulator writes for each SRV of the family is written and read back as it is.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorAnswers() throws {
        let keys = try RoundTrip.keys
        let answers: [(String, DataNode)] = [
            ("GCS13c_4.1.2_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousImportTOUMatricesRsp", children: [
                DataNode("Gas", children: [DataNode("TariffTOURegisterMatrix", children: [Self.node("TOURegisterMatrixValue", "12345.678", index: 1)])]),
            ])),
            ("GCS13b_4.1.4_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousImportBlockCountersRsp", children: [
                DataNode("ImportBlockCounters", children: [Self.node("TariffBlockCounterValue", "0.042", index: 1)]),
            ])),
            ("GCS14_4.3_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousPrepayValuesRsp", children: [
                Self.node("EmergencyCreditBalance", "0"), Self.node("AccumulatedDebtRegister", "1200"), Self.node("PaymentDebtRegister", "200"),
                Self.node("TimeDebtRegister1", "600"), Self.node("TimeDebtRegister2", "400"), Self.node("MeterBalance", "-2512"),
            ])),
            ("GCS15d_4.4.4_SUCCESS", DataNode("RetrieveBillingDataLogDebtPaymentsRsp", children: [DataNode("PaymentBasedDebtRepayment", children: [
                Self.entry([Self.node("Amount", "150"), Self.node("Timestamp", "2015-01-02T08:30:00.000Z")]),
                Self.entry([Self.node("Amount", "75"), Self.node("Timestamp", "2015-01-03T08:30:00.000Z")]),
            ])])),
            ("GCS15d_4.4.4_SUCCESS", DataNode("RetrieveBillingDataLogDebtPaymentsRsp", children: [DataNode("PaymentBasedDebtRepayment")])),
            ("GCS17_4.8.1_SUCCESS", DataNode("ReadActiveImportProfileDataRsp", children: [
                Self.entry([Self.node("Timestamp", "2015-01-01T00:30:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "0.120")])]),
                Self.entry([Self.node("Timestamp", "2015-01-01T01:00:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "0.000")])]),
                Self.entry([Self.node("Timestamp", "2015-01-01T01:30:00.000Z"), DataNode("Gas")]),
            ])),
            ("GCS17_4.8.1_SUCCESS", DataNode("ReadActiveImportProfileDataRsp")),
            ("GCS61_4.17_SUCCESS", DataNode("RetrieveDailyConsumptionLogRsp", children: [DataNode("Gas", children: [
                Self.entry([Self.node("Value", "3.456"), Self.node("Timestamp", "2015-01-02T00:00:00.000Z")]),
                Self.entry([Self.node("Value", "12.000"), Self.node("Timestamp", "2015-01-03T00:00:00.000Z")]),
            ])])),
            ("GCS61_4.17_SUCCESS", DataNode("RetrieveDailyConsumptionLogRsp", children: [DataNode("Gas")])),
            ("GCS21a_6.2.8_SUCCESS", DataNode("ReadDeviceConfigurationGasRsp", children: [
                Self.node("CalorificValue", "39.500"), Self.node("ConversionFactor", "1.02264"), Self.node("UncontrolledGasFlowRate", "3.000"),
                Self.node("FlowStabilisationPeriod", "10"), Self.node("FlowMeasurementPeriod", "6"),
            ])),
            ("GCS21j_6.2.9_SUCCESS", DataNode("ReadDeviceConfigurationPaymentModeRsp", children: [
                Self.node("PaymentMode", "Prepayment"), Self.node("SuspendDebtEmergency", "true"), Self.node("SuspendDebtDisabled", "false"),
            ])),
            ("GCS21j_6.2.9_SUCCESS", DataNode("ReadDeviceConfigurationPaymentModeRsp", children: [
                Self.node("PaymentMode", "Credit"), Self.node("SuspendDebtEmergency", "false"), Self.node("SuspendDebtDisabled", "true"),
            ])),
            ("GCS31_14.1_SUCCESS", DataNode("RecordNetworkDataGASRsp", children: [Self.node("SampleID", "3")])),
            ("GCS59_8.12.2_SUCCESS", DataNode("RestoreGPFDeviceLogRsp", children: [
                DataNode("RestoreDeviceLogOutcome", children: [
                    DataNode("DeviceLogEntry", children: [Self.node("DeviceID", "00-DB-12-34-56-78-90-A1"), Self.node("DeviceType", "GSME")]),
                    DataNode("joinResponseCode", attributes: [("ResponseCode", "0")], children: [Self.node("ASN1Status", "success")]),
                ]),
                DataNode("RestoreDeviceLogOutcome", children: [
                    DataNode("DeviceLogEntry", children: [Self.node("DeviceID", "00-DB-12-34-56-78-90-A4"), Self.node("DeviceType", "Type2")]),
                    DataNode("joinResponseCode", attributes: [("ResponseCode", "4")], children: [Self.node("ASN1Status", "deviceLogFull")]),
                ]),
            ])),
            ("GCS09_3.2_SUCCESS", DataNode("RestrictAccessForChangeOfTenancyRsp")),
            ("GCS44_3.4_SUCCESS", DataNode("UpdateSupplierNameRsp")),
            ("CS11_3.3_SUCCESS", DataNode("ClearEventLogRsp")),
        ]
        for (name, body) in answers {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            for withCommand in [true, false] {
                let written = try Self.write(body, like: vector, srv: srv, withCommand: withCommand, keys: keys)
                #expect(try Self.read(written, srv: srv, keys: keys) == body, "\(name)")
            }
        }
    }

    /// Values the use case's types cannot hold are `.shape` errors, not crashes.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func badValuesAreShapeErrors() throws {
        let keys = try RoundTrip.keys
        let bad: [(String, DataNode)] = [
            ("GCS14_4.3_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousPrepayValuesRsp", children: [
                Self.node("EmergencyCreditBalance", "0"), Self.node("AccumulatedDebtRegister", "99999999999"), Self.node("PaymentDebtRegister", "200"),
                Self.node("TimeDebtRegister1", "600"), Self.node("TimeDebtRegister2", "400"), Self.node("MeterBalance", "1"),
            ])),
            ("GCS14_4.3_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousPrepayValuesRsp", children: [Self.node("MeterBalance", "1")])),
            ("GCS13b_4.1.4_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousImportBlockCountersRsp", children: [
                DataNode("ImportBlockCounters", children: [Self.node("TariffBlockCounterValue", "-1.000", index: 1)]),
            ])),
            ("GCS13b_4.1.4_SUCCESS_RELIABLE_GPF", DataNode("ReadInstantaneousImportBlockCountersRsp", children: [
                DataNode("ImportBlockCounters", children: [Self.node("TariffBlockCounterValue", "1.000", index: 5)]),
            ])),
            ("GCS17_4.8.1_SUCCESS", DataNode("ReadActiveImportProfileDataRsp", children: [
                Self.entry([Self.node("Timestamp", "2015-01-01T00:30:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "0.1205")])]),
            ])),
            ("GCS17_4.8.1_SUCCESS", DataNode("ReadActiveImportProfileDataRsp", children: [
                Self.entry([Self.node("Timestamp", "2015-01-01T00:30:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "16777.215")])]),
            ])),
            ("GCS17_4.8.1_SUCCESS", DataNode("ReadActiveImportProfileDataRsp", children: [
                Self.entry([Self.node("Timestamp", "2015-01-01T00:30:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "1")])]),
                Self.entry([Self.node("Timestamp", "2015-01-01T01:30:00.000Z"), DataNode("Gas", children: [Self.node("PrimaryValue", "1")])]),
            ])),
            ("GCS61_4.17_SUCCESS", DataNode("RetrieveDailyConsumptionLogRsp", children: [DataNode("Gas", children: [
                Self.entry([Self.node("Value", "3.456"), Self.node("Timestamp", "1999-01-02T00:00:00.000Z")]),
            ])])),
            ("GCS21a_6.2.8_SUCCESS", DataNode("ReadDeviceConfigurationGasRsp", children: [
                Self.node("CalorificValue", "39.500"), Self.node("ConversionFactor", "1.02264"), Self.node("UncontrolledGasFlowRate", "3.000"),
                Self.node("FlowStabilisationPeriod", "300"), Self.node("FlowMeasurementPeriod", "6"),
            ])),
            ("GCS21j_6.2.9_SUCCESS", DataNode("ReadDeviceConfigurationPaymentModeRsp", children: [Self.node("PaymentMode", "Both")])),
            ("GCS31_14.1_SUCCESS", DataNode("RecordNetworkDataGASRsp", children: [Self.node("SampleID", "65535")])),
            ("GCS59_8.12.2_SUCCESS", DataNode("RestoreGPFDeviceLogRsp", children: [
                DataNode("RestoreDeviceLogOutcome", children: [
                    DataNode("DeviceLogEntry", children: [Self.node("DeviceID", "00-DB-12-34-56-78-90-A1"), Self.node("DeviceType", "Toaster")]),
                    DataNode("joinResponseCode", attributes: [("ResponseCode", "0")], children: [Self.node("ASN1Status", "success")]),
                ]),
            ])),
        ]
        for (name, body) in bad {
            let vector = try Self.vector(name + "_RESPONSE_GBCS.HEX")
            let srv = try #require(SRV(name.split(separator: "_")[1]))
            #expect(throws: GBCSAnswerError.self, "\(name)") { try Self.write(body, like: vector, srv: srv, withCommand: false, keys: keys) }
        }
    }
}
