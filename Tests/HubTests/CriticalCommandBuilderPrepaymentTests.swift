import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The prepayment pre-commands (1.5, 1.6, 1.7, 2.1, 2.3, 2.5) against the RTDS vectors the
/// generic test does not reach: the gas use cases (GCS40a, GCS40d, GCS03, GCS04), whose
/// bodies are written here from the DUIS XSD with the values the vectors carry, and the
/// ERROR requests (the same bodies at other counters). Then the values GBCS cannot carry,
/// which are refused with a reason rather than trapping.
@Suite struct CriticalCommandBuilderPrepaymentTests {
    static let rtds = "gbcs/rtds/RTDS-4.5.0/"

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func template(_ name: String) throws -> ElementTree {
        let data = try Reference.file("duis/templates/" + name)
        let request = try ServiceRequestDocument(try XMLDocument.parse([UInt8](data), limits: .duis))
        var body = request.body()
        body.children.removeAll { $0.name == "ExecutionDateTime" }
        return body
    }

    static func vector(_ path: String) throws -> (octets: [UInt8], frame: GBCSFrame) {
        guard let text = String(data: try Reference.file(rtds + path), encoding: .utf8), let octets = Hex.decode(text) else {
            throw Missing(description: "\(path) is not hex")
        }
        return (octets, try GBCSFrame.decode(octets))
    }

    static func build(_ srv: SRV, _ body: ElementTree, like vector: GBCSFrame, _ type: DeviceType) throws -> [UInt8] {
        guard let frame = try CriticalCommandBuilder.preCommand(srv: srv, body: body, user: vector.originator, device: vector.recipient,
                                                                deviceType: type, counter: vector.originatorCounter)
        else { throw Missing(description: "no builder for \(srv)") }
        return frame.encode()
    }

    /// An element holding text.
    static func leaf(_ name: String, _ text: String) -> ElementTree { ElementTree(name: name, text: text) }

    /// An element holding elements.
    static func node(_ name: String, _ children: [ElementTree], attributes: [String: String] = [:]) -> ElementTree {
        ElementTree(name: name, attributes: attributes, children: children)
    }

    // Gas bodies, from the XSD, with the values in the RTDS gas vectors.
    static let adjustPrepayment = node("UpdateMeterBalance", [node("PrepaymentMode", [leaf("AdjustMeterBalance", "23130")])])
    static let resetCredit = node("UpdateMeterBalance", [node("CreditMode", [node("ResetMeterBalance", [])])])
    static let toPrepayment = node("UpdatePaymentMode", [node("Prepayment", [
        leaf("SuspendDebtDisabled", "false"), leaf("SuspendDebtEmergency", "false"), leaf("DisablementThreshold", "0"),
    ])])
    static let gasDebt = node("UpdateDebt", [
        leaf("TimeDebtRegister1", "1000000"), leaf("TimeDebtRegister2", "500000"), leaf("PaymentDebtRegister", "1000000"),
        leaf("DebtRecoveryPerPayment", "100"),
        node("GasDebtRecovery1", [leaf("DebtRecoveryRate", "50000"), leaf("DebtRecoveryRatePeriod", "DAILY")]),
        node("GasDebtRecovery2", [leaf("DebtRecoveryRate", "50000"), leaf("DebtRecoveryRatePeriod", "HOURLY")]),
    ])

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func gasPreCommandsAreDCCsOctets() throws {
        let cases: [(SRV, ElementTree, String)] = [
            ("1.5", Self.adjustPrepayment, "1.5_GCS40a/GCS40a_1.5_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("1.5", Self.adjustPrepayment, "1.5_GCS40a/GCS40a_1.5_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.5", Self.resetCredit, "1.5_GCS40d/GCS40d_1.5_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("1.5", Self.resetCredit, "1.5_GCS40d/GCS40d_1.5_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.6", Self.toPrepayment, "1.6_GCS03/GCS03_1.6_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("1.6", Self.toPrepayment, "1.6_GCS03/GCS03_1.6_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("2.3", Self.gasDebt, "2.3_GCS04/GCS04_2.3_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("2.3", Self.gasDebt, "2.3_GCS04/GCS04_2.3_ERROR_PRECOMMAND_GBCS.HEX"),
        ]
        for (srv, body, path) in cases {
            let (octets, frame) = try Self.vector(path)
            let built = try Self.build(srv, body, like: frame, .gsme)
            #expect(built == octets, "\(path):\n  built    \(Hex.encode(built))\n  expected \(Hex.encode(octets))")
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func errorRequestsAreDCCsOctets() throws {
        let cases: [(SRV, String, String)] = [
            ("1.5", "ECS04a_1.5_SUCCESS_REQUEST_DUIS.XML", "1.5_ECS04a/ECS04a_1.5_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.6", "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML", "1.6_ECS02/ECS02_1.6_IMMEDIATE_SINGLE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("1.7", "ECS05_1.7_SUCCESS_REQUEST_DUIS.XML", "1.7_ECS05/ECS05_1.7_ERROR_PRECOMMAND_GBCS.HEX"),
            ("2.1", "ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", "2.1_ECS08/ECS08_2.1_IMMEDIATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("2.3", "ECS07_2.3_SUCCESS_REQUEST_DUIS.XML", "2.3_ECS07/ECS07_2.3_ERROR_PRECOMMAND_GBCS.HEX"),
            ("2.5", "ECS09_2.5_SUCCESS_REQUEST_DUIS.XML", "2.5_ECS09/ECS09_2.5_ERROR_PRECOMMAND_GBCS.HEX"),
        ]
        for (srv, template, path) in cases {
            let (octets, frame) = try Self.vector(path)
            let built = try Self.build(srv, try Self.template(template), like: frame, .esme)
            #expect(built == octets, "\(path):\n  built    \(Hex.encode(built))\n  expected \(Hex.encode(octets))")
        }
    }

    /// A request GBCS cannot carry, or gbsm does not build: a TransformError, no frame.
    static func refused(_ srv: SRV, _ body: ElementTree, _ type: DeviceType = .esme) -> TransformError? {
        let user = EUI64(0x90B3_D51F_3001_0000), device = EUI64(0x00DB_1234_5678_90A0)
        do {
            _ = try CriticalCommandBuilder.preCommand(srv: srv, body: body, user: user, device: device, deviceType: type, counter: 1000)
            return nil
        } catch {
            return error
        }
    }

    /// The template's body with one descendant replaced (`path` of names, first match).
    static func replacing(_ tree: ElementTree, _ path: ArraySlice<String>, with replacement: ElementTree) -> ElementTree {
        var tree = tree
        guard let name = path.first, let index = tree.children.firstIndex(where: { $0.name == name }) else { return tree }
        tree.children[index] = path.count == 1 ? replacement : replacing(tree.children[index], path.dropFirst(), with: replacement)
        return tree
    }

    @Test func valuesGBCSCannotCarryAreRefused() throws {
        // Use cases gbsm does not build, or that do not exist for the device.
        #expect(Self.refused("1.6", Self.toPrepayment, .esme) != nil)  // ECS03
        #expect(Self.refused("1.7", Self.node("ResetTariffBlockCounterMatrix", []), .gsme) != nil)
        #expect(Self.refused("2.5", Self.node("ActivateEmergencyCredit", []), .chf) != nil)
        #expect(Self.refused("1.5", Self.resetCredit, .esme) != nil)  // an ESME has no credit-mode balance
        // ZSE's Credit Adjustment Value is ±0x7FFFFFFF.
        let minimum = Self.node("UpdateMeterBalance", [Self.node("PrepaymentMode", [Self.leaf("AdjustMeterBalance", "-2147483648")])])
        #expect(Self.refused("1.5", minimum, .gsme) != nil)
        #expect(Self.refused("1.5", minimum, .esme) == nil)  // a COSEM double-long carries it
        // A price scale beyond an integer, a period that is no period.
        var debt = Self.gasDebt
        debt.children.removeAll { $0.name.hasPrefix("GasDebtRecovery") }
        let recovery = { (scale: String, period: String) in
            Self.node("ElecDebtRecovery1", [Self.leaf("DebtRecoveryRate", "3"), Self.leaf("DebtRecoveryRatePriceScale", scale), Self.leaf("DebtRecoveryRatePeriod", period)])
        }
        var second = recovery("-1", "DAILY")
        second.name = "ElecDebtRecovery2"
        var good = debt
        good.children += [recovery("-1", "DAILY"), second]
        #expect(Self.refused("2.3", good) == nil)
        var badScale = debt
        badScale.children += [recovery("200", "DAILY"), second]
        #expect(Self.refused("2.3", badScale) != nil)
        var badPeriod = debt
        badPeriod.children += [recovery("-1", "WEEKLY"), second]
        #expect(Self.refused("2.3", badPeriod) != nil)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func calendarsGBCSCannotCarryAreRefused() throws {
        let body = try Self.template("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        #expect(Self.refused("2.1", body) == nil)
        #expect(Self.refused("2.1", body, .gsme) != nil)  // GCS05 is not built
        let calendar = ["UpdatePrepayConfigElectricity", "ElectricityNonDisablementCalendar"][...]
        let electricity = try #require(body.child("UpdatePrepayConfigElectricity"))
        let original = try #require(electricity.child("ElectricityNonDisablementCalendar"))
        // Special days must be indexed 1...N.
        var gap = original
        if let days = gap.children.firstIndex(where: { $0.name == "ElectricitySpecialDays" }) {
            gap.children[days].children[0].attributes["index"] = "9"
        }
        #expect(Self.refused("2.1", Self.replacing(body, calendar, with: gap)) != nil)
        // Dates and times COSEM cannot carry: 30 February, a zone other than UTC, 24:00.
        func schedule(_ name: String, _ text: String) -> ElementTree {
            var changed = original
            if let first = changed.children.firstIndex(where: { $0.name == "ElectricityNonDisablementSchedule" }),
               let times = changed.children[first].children.firstIndex(where: { $0.name == "ScheduleDatesAndTime" }),
               let field = changed.children[first].children[times].children.firstIndex(where: { $0.name == name }) {
                changed.children[first].children[times].children[field].text = text
            }
            return Self.replacing(body, calendar, with: changed)
        }
        #expect(Self.refused("2.1", schedule("StartDate", "2015-02-30Z")) != nil)
        #expect(Self.refused("2.1", schedule("StartDate", "2015-03-01+01:00")) != nil)
        #expect(Self.refused("2.1", schedule("EndDate", "99999-01-01Z")) != nil)
        #expect(Self.refused("2.1", schedule("SwitchTime", "24:00:00Z")) != nil)
        #expect(Self.refused("2.1", schedule("StartDate", "65535-02-29Z")) == nil)
        #expect(Self.refused("2.1", schedule("SwitchTime", "23:59:59.5")) == nil)
    }
}
