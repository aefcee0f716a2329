import DUIS
import Devices
import GBCS
import MMC
@testable import ParseAndCorrelate
import Testing
import TestSupport

/// The electricity log family's encoders beyond the RTDS vectors: answers shaped as gbsm's
/// emulator writes them and long logs go through Parse and Correlate and back, and answers
/// that cannot be GBCS are refused as such (never a crash).
@Suite struct GBCSAnswersElectricityLogsTests {
    // MARK: - Helpers

    /// Writes `body` as the device answering the command of RTDS vector `name` (its header,
    /// counter and keys), and reads the frame back with Parse and Correlate.
    static func roundTrip(_ name: String, srv: SRV, _ body: DataNode) throws -> DataNode? {
        let keys = try GBCSAnswerRoundTripTests.keys
        let vector = try #require(try GBCSAnswerRoundTripTests.vectors().first { $0.path.hasSuffix(name) }, "\(name)")
        let useCase = try #require(UseCases.byCode[vector.response.messageCode])
        let context = GBCSAnswerRoundTripTests.context(vector, useCase: useCase, srv: srv, body: body)
        let frame = try GBCSAnswerWriter(keys: keys).frame(body, context: context)
        return try MMCMapping.body(for: try ParsedMessage(frame: try GBCSFrame.decode(frame.encode()), keys: keys), srv: srv)
    }

    /// A context with no GBCS command and no keys (what is checked fails before protection).
    static func context(_ useCase: String) throws -> GBCSAnswerContext {
        let found = try #require(UseCases.all.first { $0.name == useCase })
        return GBCSAnswerContext(srv: found.srvs.first ?? "", useCase: found, device: EUI64(0x00DB_1234_5678_90A0), recipient: EUI64(0x90B3_D51F_3001_0000),
                                 counter: 1000, time: Timestamp(year: 2026, month: 11, day: 26), command: nil, succeeded: true, blockKey: nil)
    }

    /// Whether the encoder of `useCase` refuses `body` as a shape it cannot write.
    static func refusesShape(_ useCase: String, _ body: DataNode) throws -> Bool {
        let encoder = try #require(GBCSAnswers.encoders[useCase])
        let context = try Self.context(useCase)
        do {
            _ = try encoder(body, context)
            return false
        } catch {
            if case .shape = error { return true }
            return false
        }
    }

    static func node(_ name: String, _ children: [DataNode]) -> DataNode { DataNode(name, children: children) }
    static func leaf(_ name: String, _ text: String, index: Int? = nil) -> DataNode {
        DataNode(name, text: text, attributes: index.map { [("index", String($0))] } ?? [])
    }

    // MARK: - The family's RTDS vectors

    static let family: Set<String> = ["ECS17d", "ECS17e", "ECS18a", "ECS18b", "ECS19", "ECS20a", "ECS20b", "ECS20c", "ECS20d", "ECS21a", "ECS21b",
                                      "ECS21c", "ECS22a", "ECS22b", "ECS22c", "ECS23"]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyVectorOfTheFamilyIsWrittenAgain() throws {
        let keys = try GBCSAnswerRoundTripTests.keys
        var checked = 0
        var problems: [String] = []
        for vector in try GBCSAnswerRoundTripTests.vectors() {
            guard let name = UseCases.byCode[vector.response.messageCode]?.name, Self.family.contains(name) else { continue }
            // The answer to an unknown remote party (via the access control broker) carries
            // the device's own originator counter, which the answer's context does not hold.
            if vector.path.contains("_URP_") { continue }
            let (didCheck, problem) = try GBCSAnswerRoundTripTests.check(vector, keys: keys)
            if didCheck { checked += 1 }
            if let problem { problems.append(problem) }
        }
        print("GBCS answers, electricity logs: \(checked) RTDS responses written again")
        #expect(checked >= 37)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    // MARK: - Long logs

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func longestActiveImportProfileRoundTrips() throws {
        // 13 months of half hours, protected, as a compact array.
        let start = Timestamp(year: 2014, month: 1, day: 1).milliseconds
        var entries: [DataNode] = []
        for slot in 0..<19_056 {
            let time = Timestamp(milliseconds: start + Int64(slot + 1) * 1_800_000)
            let electricity = Self.node("Electricity", [Self.leaf("PrimaryValue", String(slot % 4001))])
            entries.append(Self.node("LogEntry", [Self.leaf("Timestamp", time.iso8601), electricity]))
        }
        let body = Self.node("ReadActiveImportProfileDataRsp", entries)
        #expect(try Self.roundTrip("ECS22b_4.8.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.8.1", body) == body)
        // One entry more than GBCS's log holds is not written.
        let tooLong = Self.node("ReadActiveImportProfileDataRsp", entries + [entries[0]])
        #expect(try Self.refusesShape("ECS22b", tooLong))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func exportProfileAndEmptyLogsRoundTrip() throws {
        let start = Timestamp(year: 2026, month: 8, day: 1).milliseconds
        var entries: [DataNode] = []
        for slot in 0..<4464 {
            let time = Timestamp(milliseconds: start + Int64(slot) * 1_800_000)
            let fields: [DataNode] = [Self.leaf("ActiveEnergyExportedValue", String(slot * 3)), Self.leaf("ReactiveEnergyExportedValue", String(slot % 7)),
                                      Self.leaf("Timestamp", time.iso8601)]
            entries.append(Self.node("LogEntry", fields))
        }
        let body = Self.node("ReadExportProfileDataRsp", entries)
        #expect(try Self.roundTrip("ECS22a_4.8.3_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.8.3", body) == body)
        // No entries in the period asked for.
        let empty = DataNode("ReadExportProfileDataRsp")
        #expect(try Self.roundTrip("ECS22a_4.8.3_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.8.3", empty) == empty)
        let noCredits = Self.node("RetrieveBillingDataLogPrepaymentCreditsRsp", [DataNode("PrepaymentCredits")])
        #expect(try Self.roundTrip("ECS20d_4.4.5_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.4.5", noCredits) == noCredits)
    }

    // MARK: - What the emulator writes

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorDailyReadLogWithFewRatesRoundTrips() throws {
        // One TOU rate, one block register and no blocks 2 to 4: not a compact array's
        // shape, written as an array of entries, which reads the same.
        var entries: [DataNode] = []
        for day in 0..<10 {
            let register = String(18_411_715 + day * 9000)
            let electricity = Self.node("Electricity", [Self.leaf("ElecActiveImportRegisterConsumption", register),
                                                        Self.leaf("TariffTOURegisterMatrixValue", register, index: 1),
                                                        Self.leaf("TariffTOUBlock1RegisterMatrixValue", String(116_306 + day * 9000), index: 1)])
            entries.append(Self.node("LogEntry", [Self.leaf("Timestamp", Timestamp(year: 2026, month: 11, day: 14 + day).iso8601), electricity]))
        }
        let body = Self.node("RetrieveImportDailyReadLogRsp", entries)
        #expect(try Self.roundTrip("ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.6.1", body) == body)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorBillingLogsRoundTrip() throws {
        let at = Timestamp(year: 2025, month: 12, day: 1).iso8601
        let registers = Self.node("ESMEBillingDataLogEntry", [
            Self.leaf("Timestamp", at), Self.leaf("ActiveImportRegisterValueConsumption", "15868399"),
            Self.leaf("TariffTOURegisterMatrixValue", "15000000", index: 1), Self.leaf("TariffTOURegisterMatrixValue", "868399", index: 2),
            Self.leaf("TariffTOUBlock1RegisterMatrixValue", "270238", index: 1),
        ])
        let prepayment = Self.node("ESMEBillingPrepaymentDataLogEntry", [
            Self.leaf("AccumulatedDebtRegister", "0"), Self.leaf("EmergencyCreditBalance", "1000"), Self.leaf("MeterBalance", "-250"),
            Self.leaf("PaymentDebtRegister", "0"), Self.leaf("TimeDebtRegisters1", "0"), Self.leaf("TimeDebtRegisters2", "0"), Self.leaf("Timestamp", at),
        ])
        // A credit meter has no prepayment entries: the second log is empty.
        for children in [[registers, prepayment], [registers]] {
            let body = Self.node("RetrieveBillingCalendarTriggeredBillingDataLogRsp", [Self.node("Electricity", children)])
            #expect(try Self.roundTrip("ECS20c_4.4.3_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.4.3", body) == body)
        }
        var change = registers
        change.name = "LogEntryConsumptionAndTariffRegistersData"
        change.children = change.children.filter { $0.name != "Timestamp" }.map { node in
            var node = node
            if node.name == "ActiveImportRegisterValueConsumption" { node.name = "ActiveImportRegisterConsumption" }
            return node
        } + [Self.leaf("Timestamp", at)]
        var changePrepayment = prepayment
        changePrepayment.name = "LogEntryPrepaymentData"
        let body = Self.node("RetrieveCoMOrTariffTriggeredBillingDataLogRsp", [Self.node("Electricity", [change, changePrepayment])])
        #expect(try Self.roundTrip("ECS20b_4.4.2_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.4.2", body) == body)
        // The two halves of an entry must be of one time.
        var late = changePrepayment
        late.children = late.children.filter { $0.name != "Timestamp" } + [Self.leaf("Timestamp", Timestamp(year: 2025, month: 12, day: 2).iso8601)]
        #expect(try Self.refusesShape("ECS20b", Self.node("RetrieveCoMOrTariffTriggeredBillingDataLogRsp", [Self.node("Electricity", [change, late])])))
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorMaximumDemandWithoutTimesRoundTrips() throws {
        // A register never reset nor captured has no times: written as not specified.
        let body = Self.node("ReadMaximumDemandImportRegistersRsp", [
            Self.node("MaxDemandConfigurableTimeActivePowerImport", [Self.leaf("Value", "0")]),
            Self.node("MaxDemandActiveEnergyImport", [Self.leaf("Value", "10744"), Self.leaf("CaptureTime", "2026-09-11T20:30:00.000Z"),
                                                      Self.leaf("LastResetDateTime", "2020-01-01T00:00:00.000Z")]),
            Self.node("MaxDemandConfigurableTimePeriod", [Self.leaf("StartTime", "16:00:00.00Z"), Self.leaf("EndTime", "19:00:00.00Z")]),
        ])
        #expect(try Self.roundTrip("ECS18b_4.12.1_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.12.1", body) == body)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func emulatorNetworkDataAndBlockMatricesAreWritten() throws {
        // The emulator's voltages have a tenth of a volt; GBCS's profile holds whole volts.
        func network(_ volts: String) -> DataNode {
            Self.node("ReadNetworkDataRsp", [Self.node("Electricity", [Self.node("SinglePhaseESME", [
                Self.node("AvgRMSOverVoltageCounter", [Self.leaf("Value", "3"), Self.leaf("Unit", "count")]),
                Self.node("AvgRMSUnderVoltageCounter", [Self.leaf("Value", "0"), Self.leaf("Unit", "count")]),
                Self.node("AvgRMSVoltageProfileDataLog", [
                    Self.node("LogEntry", [Self.leaf("Value", volts), Self.leaf("Timestamp", "2026-11-21T08:00:00.000Z")]),
                    Self.leaf("MeasurementPeriod", "1800"),
                ]),
            ])])])
        }
        #expect(try Self.roundTrip("ECS23_4.10_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.10", network("242.5")) == network("243"))
        #expect(try Self.roundTrip("ECS23_4.10_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.10", network("239.4")) == network("239"))
        #expect(try Self.refusesShape("ECS23", network("2x.1")))
        // One block of one rate and one counter: GBCS's 64 values, the rest 0.
        let blocks = Self.node("ReadInstantaneousImportTOUWithBlocksMatricesRsp", [Self.node("TariffBlockTOURegisterCollection", [
            DataNode("TariffBlock", attributes: [("index", "1")], children: [Self.leaf("RegisterMatrixTOUValue", "18483581", index: 1),
                                                                             Self.leaf("CounterMatrixTOUValue", "188172", index: 1)]),
        ])])
        let read = try #require(try Self.roundTrip("ECS17e_4.1.3_SUCCESS_RESPONSE_GBCS.HEX", srv: "4.1.3", blocks))
        let collection = try #require(read.child("TariffBlockTOURegisterCollection"))
        #expect(collection.all("TariffBlock").count == 4)
        #expect(collection.all("TariffBlock").first?.all("RegisterMatrixTOUValue").first?.text == "18483581")
        #expect(collection.all("TariffBlock").first?.all("CounterMatrixTOUValue").first?.text == "188172")
        #expect(collection.all("TariffBlock").last?.all("CounterMatrixTOUValue").last?.text == "0")
    }

    // MARK: - Hostile answers

    @Test func answersThatCannotBeGBCSAreRefused() throws {
        let balances = ["MeterBalance", "EmergencyCreditBalance", "AccumulatedDebtRegister", "TimeDebtRegister1", "TimeDebtRegister2", "PaymentDebtRegister"]
        // A balance that is not a number, or beyond a double-long.
        #expect(try Self.refusesShape("ECS19", Self.node("ReadInstantaneousPrepayValuesRsp", balances.map { Self.leaf($0, $0 == "MeterBalance" ? "lots" : "0") })))
        #expect(try Self.refusesShape("ECS19", Self.node("ReadInstantaneousPrepayValuesRsp", balances.map { Self.leaf($0, $0 == "MeterBalance" ? "2147483648" : "0") })))
        #expect(try Self.refusesShape("ECS19", Self.node("ReadInstantaneousPrepayValuesRsp", Array(balances.dropLast().map { Self.leaf($0, "0") }))))
        // A TOU register index out of GBCS's 48, given twice, or not a number; a negative register.
        func tou(_ values: [DataNode]) -> DataNode {
            Self.node("ReadInstantaneousImportTOUMatricesRsp", [Self.node("Electricity", [Self.node("TariffTOURegisterCollection", values)])])
        }
        #expect(try Self.refusesShape("ECS17d", tou([Self.leaf("TOUPrimaryRegisterValue", "1", index: 49)])))
        #expect(try Self.refusesShape("ECS17d", tou([Self.leaf("TOUPrimaryRegisterValue", "1", index: 2), Self.leaf("TOUPrimaryRegisterValue", "1", index: 2)])))
        #expect(try Self.refusesShape("ECS17d", tou([DataNode("TOUPrimaryRegisterValue", text: "1", attributes: [("index", "one")])])))
        #expect(try Self.refusesShape("ECS17d", tou([Self.leaf("TOUPrimaryRegisterValue", "-1", index: 1)])))
        #expect(try Self.refusesShape("ECS17d", DataNode("ReadInstantaneousImportTOUMatricesRsp")))
        // A log entry before 2000, without a time, or with a time that is not one.
        func credits(_ time: String?) -> DataNode {
            Self.node("RetrieveBillingDataLogPrepaymentCreditsRsp", [Self.node("PrepaymentCredits", [
                Self.node("LogEntry", [Self.leaf("Amount", "1000")] + (time.map { [Self.leaf("Timestamp", $0)] } ?? [])),
            ])])
        }
        #expect(try Self.refusesShape("ECS20d", credits("1999-12-31T23:59:59.000Z")))
        #expect(try Self.refusesShape("ECS20d", credits(nil)))
        #expect(try Self.refusesShape("ECS20d", credits("yesterday")))
        // More entries than GBCS's log holds.
        let six = Self.node("RetrieveBillingDataLogPrepaymentCreditsRsp", [Self.node("PrepaymentCredits", Array(repeating:
            Self.node("LogEntry", [Self.leaf("Amount", "1"), Self.leaf("Timestamp", "2026-01-01T00:00:00.000Z")]), count: 6))])
        #expect(try Self.refusesShape("ECS20d", six))
        // A maximum demand period time that is not a time of day.
        let period = Self.node("ReadMaximumDemandImportRegistersRsp", [
            Self.node("MaxDemandConfigurableTimeActivePowerImport", [Self.leaf("Value", "0")]),
            Self.node("MaxDemandActiveEnergyImport", [Self.leaf("Value", "0")]),
            Self.node("MaxDemandConfigurableTimePeriod", [Self.leaf("StartTime", "25:00:00.00Z"), Self.leaf("EndTime", "19:00:00.00Z")]),
        ])
        #expect(try Self.refusesShape("ECS18b", period))
        // A network data answer without its measurement period.
        let network = Self.node("ReadNetworkDataRsp", [Self.node("Electricity", [Self.node("SinglePhaseESME", [
            Self.node("AvgRMSOverVoltageCounter", [Self.leaf("Value", "3")]), Self.node("AvgRMSUnderVoltageCounter", [Self.leaf("Value", "0")]),
            DataNode("AvgRMSVoltageProfileDataLog"),
        ])])])
        #expect(try Self.refusesShape("ECS23", network))
    }

    @Test func refusalsAnswerEachRequestOfTheLayout() throws {
        // No GBCS command: the use case's own requests, each refused.
        for (useCase, count) in [("ECS18a", 4), ("ECS18b", 9), ("ECS23", 6), ("ECS22b", 1), ("ECS21c", 1)] {
            let encoder = try #require(GBCSAnswers.encoders[useCase])
            var context = try Self.context(useCase)
            context.succeeded = false
            let body = try encoder(DataNode("Rsp", attributes: [("MessageSuccess", "false")]), context)
            guard case .dlms(.accessResponse(let response)) = body.payload else {
                Issue.record("\(useCase) refused not in DLMS")
                continue
            }
            #expect(response.results.count == count)
            #expect(response.results.allSatisfy { !$0.succeeded })
            #expect(response.data.allSatisfy { $0 == .null })
        }
    }
}
