import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// Future-dated and cancelled critical commands: for the eleven SRVs DUIS lets the device
/// future-date, every RTDS FUTURE_DATED and CANCELLATION pre-command, built from a DUIS body
/// (the immediate request's where the vector carries its values, else one written after
/// the XSD with the vector's values), the vector's user, device and counter, and the
/// execution time the vector carries. Then the SRVs that cannot be future-dated, refused.
///
/// Not octet for octet, and why (each checked as far as it can be):
/// - ECS02 (1.6) FUTURE_DATED_TWIN and CANCELLATION_TWIN: a twin element meter's
///   credit/charge configuration lists the secondary element's charge too; the builder
///   cannot tell a twin element meter from its device type and builds the single element
///   form. Equal to the vector once that third entry is dropped.
/// - ECS08a (2.1) FUTURE_DATED and CANCELLATION: gbsm builds ECS08 for 2.1, never ECS08a
///   (message code 0x00DE, the maximum meter balance's passive attribute 4). Equal to the
///   ECS08 built once the code and that attribute are ECS08a's.
@Suite struct CriticalCommandBuilderFutureDatedTests {
    /// The RTDS's execution times: 2030-01-15T09:00:00Z in most use cases, midnight of that
    /// day in GCS03, CS02b and CS02g, 2030-04-01T09:00:00Z in ECS46d, 2030-01-01T00:00:00Z
    /// in CS06's FUTURE_DATED_ERROR.
    static let nine = ExecutionTime.at(Timestamp(year: 2030, month: 1, day: 15, hour: 9))
    static let midnight = ExecutionTime.at(Timestamp(year: 2030, month: 1, day: 15))
    static let april = ExecutionTime.at(Timestamp(year: 2030, month: 4, day: 1, hour: 9))
    static let newYear = ExecutionTime.at(Timestamp(year: 2030, month: 1, day: 1))
    /// DUIS's cancellation (an ExecutionDateTime of 3000-12-31).
    static let cancel = ExecutionTime.cancel

    struct Case {
        let srv: SRV
        let body: ElementTree
        let type: DeviceType
        let time: ExecutionTime
        let vector: String
    }

    static func vector(_ path: String) throws -> (octets: [UInt8], frame: GBCSFrame) {
        try CriticalCommandBuilderCredentialsTests.vector(path)
    }

    /// The pre-command for a body and execution time, with the vector's user, device and counter.
    static func build(_ srv: SRV, _ body: ElementTree, like frame: GBCSFrame, _ type: DeviceType, _ time: ExecutionTime) throws -> GBCSFrame {
        try #require(try CriticalCommandBuilder.preCommand(srv: srv, body: body, user: frame.originator, device: frame.recipient, deviceType: type,
                                                           counter: frame.originatorCounter, executionTime: time))
    }

    static func template(_ name: String) throws -> ElementTree { try CriticalCommandBuilderPrepaymentTests.template(name) }

    static func xml(_ text: String) throws -> ElementTree { try CriticalCommandBuilderAuxiliaryTests.body(text) }

    // MARK: Bodies written after the XSD with the vectors' values

    /// ECS01a's TOU_BLOCK (hybrid) tariff: block tariff actions 2/1 and 1/2 in day profiles
    /// 1 and 2, TOU rate 1 on day 3; thresholds 10000 and 40000 for block tariffs 1 and 2;
    /// TOU price 1, block prices of block tariffs 1 and 2.
    static let hybridTariff: String = {
        let tariffs = CriticalCommandBuilderTariffsTests.self
        let block = { (start: String, action: Int) in "<ProfileSchedule><StartTime>\(start)</StartTime><BlockTariffAction>\(action)</BlockTariffAction></ProfileSchedule>" }
        let days = "<DayProfiles>"
            + "<DayProfile><DayName>1</DayName>\(block("00:00:00.00Z", 2))\(block("07:00:00.00Z", 1))</DayProfile>"
            + "<DayProfile><DayName>2</DayName>\(block("06:00:00.00Z", 1))\(block("23:00:00.00Z", 2))</DayProfile>"
            + "<DayProfile><DayName>3</DayName><ProfileSchedule><StartTime>00:00:00.00Z</StartTime><TOUTariffAction>1</TOUTariffAction></ProfileSchedule>"
            + "</DayProfile></DayProfiles>"
        let season = { (name: String, date: String, week: Int) in
            "<Season><SeasonName>\(name)</SeasonName><SeasonStartDate>\(date)</SeasonStartDate><ReferencedWeekName>\(week)</ReferencedWeekName></Season>"
        }
        let seasons = "<Seasons>" + season("winter", tariffs.date(2014, 10, 27), 1) + season("summer", tariffs.date(2015, 3, 29), 2) + "</Seasons>"
        let special = "<SpecialDays><SpecialDay><Date>\(tariffs.date(2015, 5, 1))</Date><ReferencedDayName>1</ReferencedDayName></SpecialDay>"
            + "<SpecialDay><Date>\(tariffs.date(nil, 12, 25))</Date><ReferencedDayName>3</ReferencedDayName></SpecialDay></SpecialDays>"
        let rows = [[10000, 4_294_967_295], [40000, 4_294_967_295]] + [[Int]](repeating: [4_294_967_295], count: 6)
        let thresholds = "<ThresholdMatrix>"
            + rows.enumerated().map { "<Thresholds index=\"\($0.offset + 1)\">" + tariffs.indexed("BlockThreshold", $0.element) + "</Thresholds>" }.joined()
            + "</ThresholdMatrix>"
        return "<UpdateImportTariffPrimaryElement><ElecTariffElements><CurrencyUnits>GBP</CurrencyUnits><SwitchingTable>\(days)"
            + tariffs.weeks([(1, [1, 1, 1, 1, 1, 3, 3]), (2, [2, 2, 2, 2, 2, 3, 3])]) + "\(seasons)</SwitchingTable>\(special)\(thresholds)</ElecTariffElements>"
            + hybridPrices(tou: 2121, blocks: [[2289, 3546], [4002, 6969]]) + "</UpdateImportTariffPrimaryElement>"
    }()

    /// Electricity PriceElements of a HybridTariff: BlockPrices n holds block tariff n's
    /// prices, block 1 first.
    static func hybridPrices(tou: Int, blocks: [[Int]]) -> String {
        let tariffs = CriticalCommandBuilderTariffsTests.self
        let scheme = "<HybridTariff>"
            + blocks.enumerated().map { "<BlockPrices index=\"\($0.offset + 1)\">" + tariffs.indexed("BlockPrice", $0.element) + "</BlockPrices>" }.joined()
            + "<TOUPrice index=\"1\">\(tou)</TOUPrice></HybridTariff>"
        return tariffs.electricityPrices(scheme)
    }

    /// ECS01b's TOU_BLOCK prices.
    static let hybridPriceUpdate = "<UpdatePricePrimaryElement>" + hybridPrices(tou: 3121, blocks: [[3289, 4546], [5002, 7969]]) + "</UpdatePricePrimaryElement>"

    /// GCS03's payment mode to prepayment, as its future-dated (debt suspended in emergency
    /// credit) and cancellation (debt suspended when disabled, not in emergency) vectors.
    static func toPrepayment(disabled: Bool, emergency: Bool) -> ElementTree {
        let leaf = CriticalCommandBuilderPrepaymentTests.leaf
        return CriticalCommandBuilderPrepaymentTests.node("UpdatePaymentMode", [CriticalCommandBuilderPrepaymentTests.node("Prepayment", [
            leaf("SuspendDebtDisabled", disabled ? "true" : "false"), leaf("SuspendDebtEmergency", emergency ? "true" : "false"),
            leaf("DisablementThreshold", "0"),
        ])])
    }

    /// ECS46c ALL_OPTIONALS: the template's two switch identities and ALCS 3 to 5.
    static func allSwitchIdentities() throws -> ElementTree {
        let identities = (3...5).map { "<sr:SwitchTypeAndId index=\"\($0)\"><sr:ALCS/></sr:SwitchTypeAndId>" }.joined()
        return try CriticalCommandBuilderAuxiliaryTests.templateBody("ECS46c_6.14.2_IMMEDIATE_SOME_OPTIONALS_SUCCESS_REQUEST_DUIS.XML",
                                                                     [("</sr:UpdateDeviceConfigurationALCScheduler>", identities + "</sr:UpdateDeviceConfigurationALCScheduler>")])
    }

    /// A DUIS Date (day of week not specified).
    static func date(_ year: Int?, _ month: Int, _ day: Int) -> [ElementTree] {
        [
            ElementTree(name: "Year", children: [year.map { ElementTree(name: "SpecifiedYear", text: "\($0)") } ?? ElementTree(name: "NonSpecifiedYear")]),
            ElementTree(name: "Month", children: [ElementTree(name: "SpecifiedMonth", text: "\(month)")]),
            ElementTree(name: "DayOfMonth", children: [ElementTree(name: "SpecifiedDayOfMonth", text: "\(day)")]),
            ElementTree(name: "DayOfWeek", children: [ElementTree(name: "NonSpecifiedDayOfWeek")]),
        ]
    }

    /// ECS46d FUTURE_DATED/CANCELLATION APC_OUTPUT: the immediate APC output calendar with
    /// special days 25 and 26 December, 3 April and 31 August 2015, the fourth applying to
    /// the entries of controllers 1 to 4 that apply on the first three.
    static func apcOutputCalendar() throws -> ElementTree {
        let level = [("<sr:CommandedStateLevel>100</sr:CommandedStateLevel>", "<sr:CommandedStateLevel>50</sr:CommandedStateLevel>")]
        var body = try CriticalCommandBuilderAuxiliaryTests.templateBody("ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS_REQUEST_DUIS.XML", level)
        let specials: [(year: Int?, month: Int, day: Int)] = [(nil, 12, 25), (nil, 12, 26), (2015, 4, 3), (2015, 8, 31)]
        var days: [ElementTree] = []
        for (offset, special) in specials.enumerated() {
            days.append(ElementTree(name: "AuxiliaryControllerSpecialDayDefinition", attributes: ["identifier": "\(offset + 1)"],
                                    children: date(special.year, special.month, special.day)))
        }
        let definitions = try #require(body.children.firstIndex { $0.name == "AuxiliaryControllerSpecialDayDefinitions" })
        body.children[definitions].children = days
        var position = 0
        for index in body.children.indices where body.children[index].name == "AuxiliaryControllerSchedule" {
            var schedule = body.children[index]
            let applies = Set(schedule.children.filter { $0.name == "SpecialDaysApplicability" }.compactMap { $0.attributes["identifier"] })
            // The vector's entries 9 and 10 (controller 5) apply on the first three only.
            if applies == ["1", "2", "3"], position < 8, let last = schedule.children.lastIndex(where: { $0.name == "SpecialDaysApplicability" }) {
                schedule.children.insert(ElementTree(name: "SpecialDaysApplicability", attributes: ["identifier": "4"]), at: last + 1)
            }
            body.children[index] = schedule
            position += 1
        }
        return body
    }

    /// CS02b with the vector's replacement certificates (the template's are newer) and
    /// time-based CPV checks applied (the future-dated vectors leave out "disapply").
    static func supplierCredentials(like frame: GBCSFrame) throws -> ElementTree {
        let credentials = CriticalCommandBuilderCredentialsTests.self
        var body = try template("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        body = credentials.setting(body, ["ApplyTimeBasedCPVChecks"], "true")
        let certificates = try credentials.replacementCertificates(frame)
        try #require(certificates.count == 3)
        for (name, text) in zip(["DigitalSigningCertificate", "KeyAgreementCertificate", "KeyAgreementTopUpCertificate"], certificates) {
            body = credentials.setting(body, credentials.certificates + [name], text)
        }
        return body
    }

    /// CS02g, loadControllerByLoadController, as CriticalCommandBuilderCredentialsTests builds it.
    static func loadControllerCredentials(like frame: GBCSFrame) throws -> ElementTree {
        let credentials = CriticalCommandBuilderCredentialsTests.self
        var body = try template("CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        body = credentials.setting(body, ["RemotePartyRole"], "LoadController")
        body = credentials.removing(body, ["RemotePartyPrepaymentTopUpFloorSeqNumber"])
        body = credentials.removing(body, credentials.certificates + ["KeyAgreementTopUpCertificate"])
        body = credentials.setting(body, ["ApplyTimeBasedCPVChecks"], "false")
        let certificates = try credentials.replacementCertificates(frame)
        try #require(certificates.count == 2)
        body = credentials.setting(body, credentials.certificates + ["DigitalSigningCertificate"], certificates[0])
        return credentials.setting(body, credentials.certificates + ["KeyAgreementCertificate"], certificates[1])
    }

    // MARK: Tests

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func futureDatedAndCancellationVectorsAreDCCsOctets() throws {
        #expect(ExecutionTime(executionDateTime: Timestamp(year: 3000, month: 12, day: 31), at: Timestamp(year: 2025, month: 6, day: 1)) == Self.cancel)
        let tariff = try Self.xml(Self.hybridTariff)
        let price = try Self.xml(Self.hybridPriceUpdate)
        let gasTariff = try Self.xml(CriticalCommandBuilderTariffsTests.gasTariff(block: true))
        let secondaryTariff = try Self.template("ECS01c_1.1.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let secondaryPrice = try Self.template("ECS01d_1.2.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let prepay = try Self.template("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let loadLimit = try Self.template("ECS28a_6.4.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let switches = try Self.allSwitchIdentities()
        let controllers = try Self.apcOutputCalendar()
        let firmware = try Self.template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        func credentials(_ path: String) throws -> ElementTree { try Self.supplierCredentials(like: try Self.vector(path).frame) }
        func loadController(_ path: String) throws -> ElementTree { try Self.loadControllerCredentials(like: try Self.vector(path).frame) }
        let cs02b = "6.15.1_CS02bSupplierBySupplier/CS02bSupplierBySupplier_6.15.1_"
        let cs02g = "NA_CS02gLoadControllerByLoadController/CS02gLoadControllerByLoadController_NA_"
        let cases: [Case] = try [
            Case(srv: "1.1.1", body: tariff, type: .esme, time: Self.nine, vector: "1.1.1_ECS01a/ECS01a_1.1.1_FUTURE_DATED_TOU_BLOCK_SUCCESS"),
            Case(srv: "1.1.1", body: tariff, type: .esme, time: Self.cancel, vector: "1.1.1_ECS01a/ECS01a_1.1.1_CANCELLATION_TOU_BLOCK_SUCCESS"),
            Case(srv: "1.1.1", body: gasTariff, type: .gsme, time: Self.nine, vector: "1.1.1_GCS01a/GCS01a_1.1.1_FUTURE_DATED_BLOCK_SUCCESS"),
            Case(srv: "1.1.1", body: gasTariff, type: .gsme, time: Self.nine, vector: "1.1.1_GCS01a/GCS01a_1.1.1_FUTURE_DATED_BLOCK_ERROR"),
            Case(srv: "1.1.1", body: gasTariff, type: .gsme, time: Self.cancel, vector: "1.1.1_GCS01a/GCS01a_1.1.1_CANCELLATION_BLOCK_SUCCESS"),
            Case(srv: "1.1.2", body: secondaryTariff, type: .esme, time: Self.nine, vector: "1.1.2_ECS01c/ECS01c_1.1.2_FUTURE_DATED_SUCCESS"),
            Case(srv: "1.1.2", body: secondaryTariff, type: .esme, time: Self.cancel, vector: "1.1.2_ECS01c/ECS01c_1.1.2_CANCELLATION_SUCCESS"),
            Case(srv: "1.2.1", body: price, type: .esme, time: Self.nine, vector: "1.2.1_ECS01b/ECS01b_1.2.1_FUTURE_DATED_TOU_BLOCK_SUCCESS"),
            Case(srv: "1.2.1", body: price, type: .esme, time: Self.cancel, vector: "1.2.1_ECS01b/ECS01b_1.2.1_CANCELLATION_TOU_BLOCK_SUCCESS"),
            Case(srv: "1.2.2", body: secondaryPrice, type: .esme, time: Self.nine, vector: "1.2.2_ECS01d/ECS01d_1.2.2_FUTURE_DATED_SUCCESS"),
            Case(srv: "1.2.2", body: secondaryPrice, type: .esme, time: Self.cancel, vector: "1.2.2_ECS01d/ECS01d_1.2.2_CANCELLATION_SUCCESS"),
            Case(srv: "1.6", body: Self.toPrepayment(disabled: false, emergency: true), type: .gsme, time: Self.midnight,
                 vector: "1.6_GCS03/GCS03_1.6_FUTURE_DATED_SUCCESS"),
            Case(srv: "1.6", body: Self.toPrepayment(disabled: true, emergency: false), type: .gsme, time: Self.cancel,
                 vector: "1.6_GCS03/GCS03_1.6_CANCELLATION_SUCCESS"),
            Case(srv: "2.1", body: prepay, type: .esme, time: Self.nine, vector: "2.1_ECS08/ECS08_2.1_FUTURE_DATED_SUCCESS"),
            Case(srv: "2.1", body: prepay, type: .esme, time: Self.cancel, vector: "2.1_ECS08/ECS08_2.1_CANCELLATION_SUCCESS"),
            Case(srv: "6.4.1", body: CriticalCommandBuilderCredentialsTests.setting(loadLimit, ["LoadLimitSupplyState"], "Unchanged"), type: .esme,
                 time: Self.nine, vector: "6.4.1_ECS28a/ECS28a_6.4.1_FUTURE_DATED_SUCCESS"),
            Case(srv: "6.4.1", body: loadLimit, type: .esme, time: Self.cancel, vector: "6.4.1_ECS28a/ECS28a_6.4.1_CANCELLATION_SUCCESS"),
            Case(srv: "6.14.2", body: switches, type: .esme, time: Self.nine, vector: "6.14.2_ECS46c/ECS46c_6.14.2_FUTURE_DATED_ALL_OPTIONALS_SUCCESS"),
            Case(srv: "6.14.2", body: switches, type: .esme, time: Self.nine, vector: "6.14.2_ECS46c/ECS46c_6.14.2_FUTURE_DATED_ALL_OPTIONALS_ERROR"),
            Case(srv: "6.14.2", body: switches, type: .esme, time: Self.cancel, vector: "6.14.2_ECS46c/ECS46c_6.14.2_CANCELLATION_ALL_OPTIONALS_SUCCESS"),
            Case(srv: "6.14.3", body: controllers, type: .esme, time: Self.april, vector: "6.14.3_ECS46d/ECS46d_6.14.3_FUTURE_DATED_APC_OUTPUT_SUCCESS"),
            Case(srv: "6.14.3", body: controllers, type: .esme, time: Self.cancel, vector: "6.14.3_ECS46d/ECS46d_6.14.3_CANCELLATION_APC_OUTPUT_SUCCESS"),
            Case(srv: "6.15.1", body: credentials(cs02b + "FUTURE_DATED_SUCCESS_PRECOMMAND_GBCS.HEX"), type: .esme, time: Self.midnight,
                 vector: cs02b + "FUTURE_DATED_SUCCESS"),
            Case(srv: "6.15.1", body: credentials(cs02b + "FUTURE_DATED_ERROR_PRECOMMAND_GBCS.HEX"), type: .esme, time: Self.midnight,
                 vector: cs02b + "FUTURE_DATED_ERROR"),
            Case(srv: "6.15.1", body: credentials(cs02b + "CANCELLATION_SUCCESS_PRECOMMAND_GBCS.HEX"), type: .esme, time: Self.cancel,
                 vector: cs02b + "CANCELLATION_SUCCESS"),
            Case(srv: "6.15.1", body: loadController(cs02g + "FUTURE_DATED_SUCCESS_PRECOMMAND_GBCS.HEX"), type: .hcalcs, time: Self.midnight,
                 vector: cs02g + "FUTURE_DATED_SUCCESS"),
            Case(srv: "6.15.1", body: loadController(cs02g + "CANCELLATION_SUCCESS_PRECOMMAND_GBCS.HEX"), type: .hcalcs, time: Self.cancel,
                 vector: cs02g + "CANCELLATION_SUCCESS"),
            Case(srv: "11.3", body: firmware, type: .esme, time: Self.nine, vector: "11.3_CS06/CS06_11.3_FUTURE_DATED_SUCCESS"),
            Case(srv: "11.3", body: firmware, type: .esme, time: Self.newYear, vector: "11.3_CS06/CS06_11.3_FUTURE_DATED_ERROR"),
            Case(srv: "11.3", body: firmware, type: .esme, time: Self.cancel, vector: "11.3_CS06/CS06_11.3_CANCELLATION_SUCCESS"),
        ]
        var exact = 0
        var failures: [String] = []
        for item in cases {
            let path = item.vector + "_PRECOMMAND_GBCS.HEX"
            let (expected, frame) = try Self.vector(path)
            do {
                let built = try Self.build(item.srv, item.body, like: frame, item.type, item.time).encode()
                if built == expected {
                    exact += 1
                } else {
                    failures.append("\(path) (\(item.time)):\n  built    \(Hex.encode(built))\n  expected \(Hex.encode(expected))")
                }
            } catch {
                failures.append("\(path) (\(item.time)): \(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count):\n\(failures.prefix(6).joined(separator: "\n"))")
        print("\(exact) of \(cases.count) future-dated and cancellation RTDS pre-commands built octet for octet")
        #expect(exact == 30, "\(exact) of \(cases.count) future-dated and cancellation pre-commands are DCC's octets")
    }

    /// ECS02's twin element vectors: the builder's single element form with the vector's
    /// execution time is the vector without the secondary element's credit/charge entry.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func twinElementPaymentModeIsTheSingleElementForm() throws {
        let body = try Self.template("ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML")
        for (name, time) in [("FUTURE_DATED", Self.nine), ("CANCELLATION", Self.cancel)] {
            let frame = try Self.vector("1.6_ECS02/ECS02_1.6_\(name)_TWIN_SUCCESS_PRECOMMAND_GBCS.HEX").frame
            guard case .dlms(.accessRequest(var request)) = try GBCSPayload.decode(frame.content, cra: .command),
                  request.data.count == 3, case .array(var entries) = request.data[1] else {
                Issue.record("\(name): not ECS02's three SETs")
                continue
            }
            #expect(entries.count == 3, "\(name): twin element entries")
            entries.removeLast()
            request.data[1] = .array(entries)
            let built = try Self.build("1.6", body, like: frame, .esme, time)
            #expect(built.messageCode == frame.messageCode)
            #expect(Hex.encode(built.content) == Hex.encode(GBCSPayload.dlms(.accessRequest(request)).encode()), "\(name)")
        }
    }

    /// ECS08a's vectors: ECS08 (what gbsm builds for 2.1) under ECS08a's message code, with
    /// the maximum meter balance's passive attribute (4) for its attribute 2.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func ecs08aIsECS08WithItsPassiveMaximumBalance() throws {
        let body = try Self.template("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
        let maximumBalance = DLMSAPDU.Descriptor(classID: 9000, instance: GBCSCommandBuilder.obis("0-0:94.44.2.20"), member: 2)
        for (name, time) in [("FUTURE_DATED", Self.nine), ("CANCELLATION", Self.cancel)] {
            let frame = try Self.vector("2.1_ECS08a/ECS08a_2.1_\(name)_SUCCESS_PRECOMMAND_GBCS.HEX").frame
            guard case .dlms(.accessRequest(var request)) = try GBCSPayload.decode(frame.content, cra: .command), request.specifications.count > 1 else {
                Issue.record("\(name): not an ACCESS request")
                continue
            }
            #expect(request.specifications[1] == .set(DLMSAPDU.Descriptor(classID: 9000, instance: GBCSCommandBuilder.obis("0-0:94.44.2.20"), member: 4)))
            request.specifications[1] = .set(maximumBalance)
            let built = try Self.build("2.1", body, like: frame, .esme, time)
            #expect(frame.messageCode == 0x00DE && built.messageCode == 0x001F)
            #expect(Hex.encode(built.content) == Hex.encode(GBCSPayload.dlms(.accessRequest(request)).encode()), "\(name)")
        }
    }

    /// `.now` is what every builder made before: the IMMEDIATE vectors, octet for octet.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func nowIsTheImmediateCommand() throws {
        let cases: [(srv: SRV, body: ElementTree, type: DeviceType, vector: String)] = try [
            ("1.1.2", Self.template("ECS01c_1.1.2_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"), .esme, "1.1.2_ECS01c/ECS01c_1.1.2_IMMEDIATE_SUCCESS"),
            ("1.6", Self.template("ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML"), .esme, "1.6_ECS02/ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS"),
            ("1.6", CriticalCommandBuilderPrepaymentTests.toPrepayment, .gsme, "1.6_GCS03/GCS03_1.6_IMMEDIATE_SUCCESS"),
            ("2.1", Self.template("ECS08_2.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"), .esme, "2.1_ECS08/ECS08_2.1_IMMEDIATE_SUCCESS"),
            ("6.4.1", Self.template("ECS28a_6.4.1_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"), .esme, "6.4.1_ECS28a/ECS28a_6.4.1_IMMEDIATE_SUCCESS"),
            ("6.14.3", Self.template("ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS_REQUEST_DUIS.XML"), .esme, "6.14.3_ECS46d/ECS46d_6.14.3_IMMEDIATE_ALCS_SUCCESS"),
            ("11.3", Self.template("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"), .esme, "11.3_CS06/CS06_11.3_IMMEDIATE_SUCCESS"),
            ("7.1", Self.template("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML"), .esme, "7.1_ECS42/ECS42_7.1_SUCCESS"),
        ]
        for item in cases {
            let (expected, frame) = try Self.vector(item.vector + "_PRECOMMAND_GBCS.HEX")
            let explicit = try Self.build(item.srv, item.body, like: frame, item.type, .now).encode()
            let implicit = try #require(try CriticalCommandBuilder.preCommand(srv: item.srv, body: item.body, user: frame.originator, device: frame.recipient,
                                                                              deviceType: item.type, counter: frame.originatorCounter)).encode()
            #expect(explicit == expected, "\(item.vector)")
            #expect(implicit == explicit, "\(item.vector)")
        }
    }

    @Test func onlyTheDeviceFutureDatableSRVsTakeAnExecutionTime() throws {
        #expect(CriticalCommandBuilder.deviceFutureDatable == ["1.1.1", "1.1.2", "1.2.1", "1.2.2", "1.6", "2.1", "6.4.1", "6.14.2", "6.14.3", "6.15.1", "11.3"])
        #expect(CriticalCommandBuilder.deviceFutureDatable.isSubset(of: Set(CriticalCommandBuilder.srvs)))
        let user = EUI64(0x90B3_D51F_3001_0000), esme = EUI64(0x00DB_1234_5678_90A0), gsme = EUI64(0x00DB_1234_5678_90A1)
        func refusal(_ srv: SRV, _ body: ElementTree, _ type: DeviceType, _ time: ExecutionTime) -> TransformError? {
            do {
                _ = try CriticalCommandBuilder.preCommand(srv: srv, body: body, user: user, device: type == .gsme ? gsme : esme, deviceType: type,
                                                          counter: 1000, executionTime: time)
                return nil
            } catch {
                return error
            }
        }
        let supply = ElementTree(name: "EnableSupply")
        let debt = CriticalCommandBuilderPrepaymentTests.gasDebt
        #expect(refusal("7.1", supply, .esme, .now) == nil)
        #expect(refusal("2.3", debt, .gsme, .now) == nil)
        for time in [Self.nine, .cancel] {
            for (srv, body, type) in [(SRV("7.1"), supply, DeviceType.esme), ("2.3", debt, .gsme)] {
                let error = refusal(srv, body, type, time)
                #expect(error?.reason.contains("\(srv) cannot be future-dated") == true, "\(srv) at \(time): \(String(describing: error))")
            }
        }
        // A future-datable SRV takes one (GCS03: the Implementation Date/Time).
        #expect(refusal("1.6", Self.toPrepayment(disabled: false, emergency: true), .gsme, Self.nine) == nil)
    }
}
