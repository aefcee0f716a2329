import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The auxiliary load control family's pre-commands beyond the critical templates: the
/// RTDS vectors with no template (ERROR variants, the other ECS46a/ECS46d/ECS47a/ECS47e
/// variants) from the templates' bodies edited after the DUIS XSD, and the values the
/// builders refuse.
@Suite struct CriticalCommandBuilderAuxiliaryTests {
    static let user = EUI64(compactHex: "90B3D51F30010000")!
    static let esme = EUI64(compactHex: "00DB1234567890A0")!

    /// The pre-command from this family's table (independent of its registration in `builders`).
    static func build(_ srv: SRV, _ body: ElementTree, user: EUI64 = user, device: EUI64 = esme, deviceType: DeviceType = .esme,
                      counter: UInt64 = 1000) throws(TransformError) -> GBCSFrame? {
        guard let builder = CriticalCommandBuilder.auxiliaryBuilders[srv] else { return nil }
        let built = try builder(CriticalCommandBuilder.Input(srv: srv, body: body, user: user, device: device, deviceType: deviceType, counter: counter))
        return GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: user, recipient: device, dateTime: nil,
                         messageCode: built.messageCode, supplement: .none, content: built.content, signature: .absent)
    }

    static func vector(_ path: String) throws -> [UInt8] {
        let text = try String(contentsOf: try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0/" + path), encoding: .utf8)
        return try #require(Hex.decode(text))
    }

    /// A template's body after textual edits (each `(from, to)` replaces every occurrence).
    static func templateBody(_ name: String, _ edits: [(String, String)] = []) throws -> ElementTree {
        var text = try String(contentsOf: try #require(Reference.directory).appendingPathComponent("duis/templates/" + name), encoding: .utf8)
        for (from, to) in edits {
            #expect(text.contains(from), "\(name): \(from)")
            text = text.replacingOccurrences(of: from, with: to)
        }
        let document = try XMLDocument.parse(text, limits: .duis)
        return try withExtendedLifetime(document) { try ServiceRequestDocument(document).body() }
    }

    /// A body element from XML text (names are local; the namespace is DUIS's).
    static func body(_ xml: String) throws -> ElementTree {
        let document = try XMLDocument.parse(xml)
        return try withExtendedLifetime(document) { ElementTree(try #require(document.root)) }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func vectorsWithoutTemplates() throws {
        let descriptions = "ECS46a_6.14.1_ALL_OPTIONALS_SUCCESS_REQUEST_DUIS.XML"
        let alcs = "ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS_REQUEST_DUIS.XML"
        let state = "ECS47a_7.13_ALCS_ACTIVATE_SUCCESS_REQUEST_DUIS.XML"
        let limit = "ECS47e_7.16_APC_INPUT_SUCCESS_REQUEST_DUIS.XML"
        let level100 = "<sr:CommandedStateLevel>100</sr:CommandedStateLevel>"
        let apcOutput = [(level100, "<sr:CommandedStateLevel>50</sr:CommandedStateLevel>")]
        let apcInput = apcOutput + [("</sr:CommandedStateLevel>", "</sr:CommandedStateLevel><sr:InputFromControlledLoad/>")]
        let some = try Self.body("""
            <UpdateDeviceConfigurationALCDescriptions xmlns="http://www.dccinterface.co.uk/ServiceUserGateway">\
            <ALCSHCALCSDescription index="2"><SwitchDescription>Label2</SwitchDescription></ALCSHCALCSDescription>\
            <ALCSHCALCSDescription index="3"><SwitchDescription>Label3</SwitchDescription></ALCSHCALCSDescription>\
            <ALCSHCALCSDescription index="4"><SwitchDescription>Label4</SwitchDescription></ALCSHCALCSDescription>\
            </UpdateDeviceConfigurationALCDescriptions>
            """)
        let other = EUI64(compactHex: "90B3D51F30010008")!
        let cases: [(srv: SRV, body: ElementTree, user: EUI64, counter: UInt64, vector: String)] = try [
            ("6.14.1", Self.templateBody(descriptions), Self.user, 1006, "6.14.1_ECS46a/ECS46a_6.14.1_ALL_OPTIONALS_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.14.1", some, Self.user, 1002, "6.14.1_ECS46a/ECS46a_6.14.1_SOME_OPTIONALS_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("6.14.3", Self.templateBody(alcs), Self.user, 1003, "6.14.3_ECS46d/ECS46d_6.14.3_IMMEDIATE_ALCS_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.14.3", Self.templateBody(alcs, apcOutput), Self.user, 1005, "6.14.3_ECS46d/ECS46d_6.14.3_IMMEDIATE_APC_OUTPUT_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("6.14.3", Self.templateBody(alcs, apcOutput), Self.user, 1008, "6.14.3_ECS46d/ECS46d_6.14.3_IMMEDIATE_APC_OUTPUT_ERROR_PRECOMMAND_GBCS.HEX"),
            ("6.14.3", Self.templateBody(alcs, apcInput), Self.user, 1004, "6.14.3_ECS46d/ECS46d_6.14.3_IMMEDIATE_APC_INPUT_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("7.5", Self.templateBody("ECS47Activate_7.5_SUCCESS_REQUEST_DUIS.XML"), Self.user, 1003, "7.5_ECS47Activate/ECS47Activate_7.5_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.6", Self.templateBody("ECS47Deactivate_7.6_SUCCESS_REQUEST_DUIS.XML"), Self.user, 1004,
             "7.6_ECS47Deactivate/ECS47Deactivate_7.6_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.8", Self.templateBody("ECS47Reset_7.8_SUCCESS_REQUEST_DUIS.XML"), Self.user, 1005, "7.8_ECS47Reset/ECS47Reset_7.8_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.12", Self.templateBody("ECS38_7.12_SUCCESS_REQUEST_DUIS.XML"), Self.user, 1003, "7.12_ECS38/ECS38_7.12_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.13", Self.templateBody(state, [("auxiliaryControllerN=\"5\"", "auxiliaryControllerN=\"1\""), (">100<", ">0<")]), Self.user, 1003,
             "7.13_ECS47a/ECS47a_7.13_ALCS_DEACTIVATE_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("7.13", Self.templateBody(state, [("auxiliaryControllerN=\"5\"", "auxiliaryControllerN=\"1\""), (">100<", ">0<")]), Self.user, 1008,
             "7.13_ECS47a/ECS47a_7.13_ALCS_DEACTIVATE_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.13", Self.templateBody(state, [("auxiliaryControllerN=\"5\"", "auxiliaryControllerN=\"3\"")] + apcInput), Self.user, 1001,
             "7.13_ECS47a/ECS47a_7.13_APC_INPUT_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("7.13", Self.templateBody(state, [("auxiliaryControllerN=\"5\"", "auxiliaryControllerN=\"3\"")] + apcInput), Self.user, 1006,
             "7.13_ECS47a/ECS47a_7.13_APC_INPUT_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.13", Self.templateBody(state), Self.user, 1002, "7.13_ECS47a/ECS47a_7.13_APC_OUTPUT_SUCCESS_PRECOMMAND_GBCS.HEX"),
            ("7.16", Self.templateBody(limit), other, 9004, "7.16_ECS47e/ECS47e_7.16_APC_INPUT_ERROR_PRECOMMAND_GBCS.HEX"),
            ("7.16", Self.templateBody(limit, [("auxiliaryControllerN=\"3\"", "auxiliaryControllerN=\"5\""), (">50<", ">100<"),
                                                   ("<sr:InputFromControlledLoad/>", "")]), other, 9002,
             "7.16_ECS47e/ECS47e_7.16_APC_OUTPUT_SUCCESS_PRECOMMAND_GBCS.HEX"),
        ]
        for item in cases {
            let built = try #require(try Self.build(item.srv, item.body, user: item.user, counter: item.counter), "\(item.vector)")
            #expect(Hex.encode(built.encode()) == Hex.encode(try Self.vector(item.vector)), "\(item.vector)")
        }
    }

    /// ECS46c with all five switch identities: the RTDS has it only future-dated or as a
    /// cancellation, so all but the two activation times (the last 2 × 14 octets) agree.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func allSwitchIdentitiesMatchFutureDatedVector() throws {
        let identities = (3...5).map { "<sr:SwitchTypeAndId index=\"\($0)\"><sr:ALCS/></sr:SwitchTypeAndId>" }.joined()
        let body = try Self.templateBody("ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML",
                                         [("</sr:UpdateDeviceConfigurationALCScheduler>", identities + "</sr:UpdateDeviceConfigurationALCScheduler>")])
        let built = try #require(try Self.build("6.14.2", body, counter: 1007))
        let vector = try GBCSFrame.decode(try Self.vector("6.14.2_ECS46c/ECS46c_6.14.2_FUTURE_DATED_ALL_OPTIONALS_SUCCESS_PRECOMMAND_GBCS.HEX"))
        #expect(built.content.count == vector.content.count)
        #expect(Hex.encode(Array(built.content.dropLast(28))) == Hex.encode(Array(vector.content.dropLast(28))))
        let now: [UInt8] = [0x09, 0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xFF]
        #expect(Array(built.content.suffix(28)) == now + now)
    }

    @Test func refusals() throws {
        let ns = "xmlns=\"http://www.dccinterface.co.uk/ServiceUserGateway\""
        func date(_ month: String, _ day: String) -> String {
            """
            <Year><NonSpecifiedYear/></Year><Month><SpecifiedMonth>\(month)</SpecifiedMonth></Month>\
            <DayOfMonth><SpecifiedDayOfMonth>\(day)</SpecifiedDayOfMonth></DayOfMonth><DayOfWeek><NonSpecifiedDayOfWeek/></DayOfWeek>
            """
        }
        func calendar(_ special: String, _ applies: String) -> String {
            """
            <UpdateDeviceConfigurationAuxiliaryControllerScheduler \(ns)><AuxiliaryControllerSchedule>\
            <AuxiliaryControllerAction auxiliaryControllerN="1"><CommandedStateLevel>100</CommandedStateLevel></AuxiliaryControllerAction>\
            <SpecialDaysApplicability identifier="\(applies)"/>\
            <AuxiliaryControllerSchedulePeriodAndTime><SwitchTime>09:00:00Z</SwitchTime><StartDate>\(date("06", "21"))</StartDate>\
            <EndDate>\(date("12", "21"))</EndDate></AuxiliaryControllerSchedulePeriodAndTime></AuxiliaryControllerSchedule>\
            <AuxiliaryControllerSpecialDayDefinitions><AuxiliaryControllerSpecialDayDefinition identifier="1">\(special)\
            </AuxiliaryControllerSpecialDayDefinition></AuxiliaryControllerSpecialDayDefinitions></UpdateDeviceConfigurationAuxiliaryControllerScheduler>
            """
        }
        func state(_ n: String, _ level: String, _ start: String) -> String {
            """
            <SetAuxiliaryControllerState \(ns) auxiliaryControllerN="\(n)"><StartDateTime>\(start)</StartDateTime>\
            <EndDateTime>2015-01-03T01:00:00Z</EndDateTime><CommandedStateLevel>\(level)</CommandedStateLevel></SetAuxiliaryControllerState>
            """
        }
        func description(_ index: String, _ text: String) -> String {
            """
            <UpdateDeviceConfigurationALCDescriptions \(ns)><ALCSHCALCSDescription index="\(index)">\
            <SwitchDescription>\(text)</SwitchDescription></ALCSHCALCSDescription></UpdateDeviceConfigurationALCDescriptions>
            """
        }
        // The well-formed ones build.
        #expect(try Self.build("6.14.3", try Self.body(calendar(date("12", "25"), "1"))) != nil)
        #expect(try Self.build("7.13", try Self.body(state("5", "100", "2015-01-03T00:00:00Z"))) != nil)
        #expect(try Self.build("6.14.1", try Self.body(description("1", "Immersion heater"))) != nil)
        let refused: [(srv: SRV, xml: String)] = [
            ("6.14.3", calendar(date("12", "25"), "2")), // special day 2 is not defined
            ("6.14.3", calendar(date("02", "30"), "1")), // 30 February
            ("6.14.3", calendar(date("13", "01"), "1")), // month 13
            ("7.13", state("6", "100", "2015-01-03T00:00:00Z")), // controller 6
            ("7.13", state("1", "101", "2015-01-03T00:00:00Z")), // level above 100
            ("7.13", state("1", "-1", "2015-01-03T00:00:00Z")),
            ("7.13", state("1", "100", "2015-01-03")), // not an xs:dateTime
            ("6.14.1", description("0", "Label")),
            ("6.14.1", description("1", "Twenty-three characters")), // 23 > 22
            ("6.14.1", description("1", "Caf\u{E9}")), // not ASCII
            ("6.14.1", "<UpdateDeviceConfigurationALCDescriptions \(ns)/>"),
            ("7.12", "<SetRandomisedOffsetLimit \(ns)><RandomisedOffsetLimit>1800</RandomisedOffsetLimit></SetRandomisedOffsetLimit>"),
            ("7.5", "<ActivateAuxiliaryLoad \(ns)><ActivateALCSHCALCS index=\"1\"><Duration>65536</Duration></ActivateALCSHCALCS></ActivateAuxiliaryLoad>"),
            ("7.8", "<ResetAuxiliaryLoad \(ns)><ResetALCSHCALCS index=\"99999999999999999999\"/></ResetAuxiliaryLoad>"),
        ]
        for item in refused {
            let body = try Self.body(item.xml)
            #expect(throws: TransformError.self, "\(item.xml)") { _ = try Self.build(item.srv, body) }
        }
        // A command to the gas meter is refused.
        let reset = try Self.body("<ResetAuxiliaryLoad \(ns)><ResetALCSHCALCS index=\"1\"/></ResetAuxiliaryLoad>")
        #expect(throws: TransformError.self) { _ = try Self.build("7.8", reset, deviceType: .gsme) }
    }
}
