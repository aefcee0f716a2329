import DUIS
@testable import Devices
import Foundation
import GBCS
import MMC
import ParseAndCorrelate
import Testing
import TestSupport

/// Future-dated critical commands as a device reads them, against DCC's Reference Test
/// Data Set: each FUTURE_DATED command's activation times read as its execution time, each
/// CANCELLATION command's as "never", each IMMEDIATE command's as now (or none); and the
/// instructions the device reads are exactly those the RTDS's 0x8F66 outcome alerts of
/// that use case name, with the payload Parse and Correlate reads from them.
@Suite struct FutureDatedCommandTests {
    struct UseCase {
        var directory: String
        var futureCommand: String
        var alerts: [String]
    }

    static var root: URL {
        get throws { try #require(Reference.directory).appendingPathComponent("gbcs/rtds/RTDS-4.5.0") }
    }

    static func frame(_ path: String) throws -> GBCSFrame {
        let text = try String(contentsOf: try root.appendingPathComponent(path), encoding: .utf8)
        return try GBCSFrame.decode(try #require(Hex.decode(text.filter { !$0.isWhitespace })))
    }

    static func read(_ path: String) throws -> FutureDatedCommand? {
        try FutureDatedCommand.read(try GBCSPayload.decode(try frame(path).content, cra: .command))
    }

    /// Every use case with a successful future-dated command and its 8F66 alerts.
    static func useCases() throws -> [UseCase] {
        let paths = try FileManager.default.subpathsOfDirectory(atPath: try root.path).filter { $0.hasSuffix(".HEX") }.sorted()
        var result: [UseCase] = []
        for command in paths where command.contains("_FUTURE_DATED_") && command.hasSuffix("SUCCESS_COMMAND_GBCS.HEX") {
            let directory = String(command.split(separator: "/").first ?? "")
            let alerts = paths.filter { $0.hasPrefix(directory + "/") && $0.contains("_8F66_FUTURE_DATED_") }
            result.append(UseCase(directory: directory, futureCommand: command, alerts: alerts))
        }
        return result
    }

    /// The use cases whose future-dated command a device reads: DLMS, GBZ, CS06 and CS02b
    /// (CS02g, the load controller's credentials, has no SRV).
    static let read: Set<String> = [
        "1.1.1_ECS01a", "1.1.1_GCS01a", "1.1.2_ECS01c", "1.2.1_ECS01b", "1.2.2_ECS01d", "1.6_ECS02", "2.1_ECS08", "2.1_ECS08a",
        "6.4.1_ECS28a", "6.14.2_ECS46c", "6.14.3_ECS46d", "11.3_CS06", "1.6_GCS03", "6.15.1_CS02bSupplierBySupplier",
    ]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func futureDatedCommandsReadAsTheirAlertsSay() throws {
        let keys = try MMCMappingTests.keys
        var checked = 0
        var problems: [String] = []
        for useCase in try Self.useCases() where Self.read.contains(useCase.directory) {
            let command = try Self.frame(useCase.futureCommand)
            guard let future = try Self.read(useCase.futureCommand) else {
                problems.append("\(useCase.futureCommand): no activation time read")
                continue
            }
            let readings = try useCase.alerts.map { try GBCSAlertRoundTripTests.read(try Self.frame($0), keys: keys).reading }
            guard let first = readings.first else {
                // No outcome alert to compare with (GCS03): a time to come, read from each part.
                guard case .at = future.executionTime, !future.instructions.isEmpty else {
                    problems.append("\(useCase.futureCommand): read \(future.executionTime) with \(future.instructions.count) instructions")
                    continue
                }
                checked += 1
                continue
            }
            if future.executionTime != .at(first.time) {
                problems.append("\(useCase.futureCommand): read \(future.executionTime), the alerts say \(first.time.iso8601)")
            }
            let srv = try #require(SRV(useCase.directory.prefix { $0 != "_" }), "\(useCase.directory)")
            let held = HeldCommand(device: command.recipient, deviceType: .esme, srv: srv, serviceReference: "", originator: command.originator,
                                   originatorRoles: 0, requestID: "", body: ElementTree(name: "x"), messageCode: command.messageCode,
                                   counter: command.originatorCounter, executeAt: first.time, instructions: future.instructions)
            if useCase.directory.hasPrefix("6.15.1_") {
                // CS02b's outcome is the credentials update's, as its immediate answer has it.
                let answer = DataNode("UpdateSecurityCredentialsKRPRsp", children: [DataNode("ExecutionOutcome", children: [DataNode("AuthorisingRemotePartyOriginatorCounter", text: String(command.originatorCounter))])])
                let payload = DeviceEmulator.outcomePayload(held, instruction: .whole, answer: answer)
                let theirs = readings.first?.payload?.children.first?.children.first?.children.first.map { String(describing: $0) }
                if payload.children.first?.children.first?.children.first.map({ String(describing: $0) }) != theirs || future.instructions != [.whole] {
                    problems.append("6.15.1: \(payload) against \(readings)")
                }
            } else if useCase.directory == "11.3_CS06" {
                // CS06's outcome repeats the activation's answer; the command fixes its time and counter.
                let payload = DeviceEmulator.outcomePayload(held, instruction: .whole, answer: DataNode("ActivateFirmwareRsp"))
                let theirs = readings.first?.payload?.children.first?.children.prefix(2).map { String(describing: $0) }
                if payload.children.first?.children.map({ String(describing: $0) }) != theirs { problems.append("11.3: \(payload) against \(readings)") }
            } else {
                let ours = Set(future.instructions.map { String(describing: DeviceEmulator.outcomePayload(held, instruction: $0, answer: DataNode("x"))) })
                let theirs = Set(readings.compactMap { $0.payload.map { String(describing: $0) } })
                if ours != theirs || future.instructions.count != useCase.alerts.count {
                    problems.append("\(useCase.directory): \(future.instructions.count) instructions read, \(useCase.alerts.count) alerts; differing: \(ours.symmetricDifference(theirs))")
                }
            }
            checked += 1
        }
        print("\(checked) future-dated RTDS commands read as their 8F66 alerts say")
        #expect(checked == Self.read.count)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func cancellationAndImmediateCommandsRead() throws {
        let paths = try FileManager.default.subpathsOfDirectory(atPath: try Self.root.path).filter { $0.hasSuffix("_COMMAND_GBCS.HEX") }.sorted()
        var cancellations = 0
        var immediates = 0
        for path in paths {
            let directory = String(path.split(separator: "/").first ?? "")
            guard Self.read.contains(directory) else { continue }
            if path.contains("_CANCELLATION_") {
                #expect(try Self.read(path)?.executionTime == .cancel, "\(path)")
                cancellations += 1
            } else if path.contains("_IMMEDIATE_") {
                do {
                    let time = try Self.read(path)?.executionTime
                    #expect(time == nil || time == .now, "\(path): \(String(describing: time))")
                } catch {
                    Issue.record("\(path): \(error)")
                }
                immediates += 1
            }
        }
        print("\(cancellations) cancellation and \(immediates) immediate RTDS commands read")
        #expect(cancellations >= 10 && immediates >= 15)
    }

    /// Activation times that disagree, or are not instants, are refused, not guessed.
    @Test func disagreeingActivationTimesAreRefused() throws {
        let calendar = DLMSAPDU.Descriptor(classID: 20, instance: [0, 0, 13, 0, 0, 255], member: 10)
        let charge = DLMSAPDU.Descriptor(classID: 113, instance: [0, 0, 19, 20, 0, 255], member: 7)
        let soon = ExecutionTime.at(Timestamp(year: 2030, month: 1, day: 15, hour: 9))
        let later = ExecutionTime.at(Timestamp(year: 2030, month: 2, day: 15, hour: 9))
        func request(_ times: [[UInt8]]) -> GBCSPayload {
            .dlms(.accessRequest(.init(invokeID: 1, specifications: [.set(calendar), .set(charge)], data: times.map { .octetString($0) })))
        }
        #expect(throws: FutureDatedCommand.Problem.self) { try FutureDatedCommand.read(request([soon.cosemDateTime, later.cosemDateTime])) }
        #expect(throws: FutureDatedCommand.Problem.self) { try FutureDatedCommand.read(request([soon.cosemDateTime, [1, 2, 3]])) }
        #expect(try FutureDatedCommand.read(request([soon.cosemDateTime, soon.cosemDateTime]))?.executionTime == soon)
        #expect(try FutureDatedCommand.read(request([ExecutionTime.cancel.cosemDateTime, ExecutionTime.cancel.cosemDateTime]))?.executionTime == .cancel)
    }

    /// Each encoding reads back to the time it was written from.
    @Test func executionTimesRoundTrip() {
        let time = Timestamp(year: 2030, month: 1, day: 15, hour: 9)
        let at = ExecutionTime.at(time)
        #expect(Hex.encode(at.cosemDateTime, uppercase: true) == "07EE010FFF090000008000FF")
        #expect(ExecutionTime(cosemDateTime: at.cosemDateTime) == at)
        #expect(ExecutionTime(utcTime: at.utcTime) == at)
        #expect(at.generalizedTime == "20300115090000Z")
        #expect(FutureDatedCommand.generalizedTime("20300115090000Z") == at)
        #expect(FutureDatedCommand.generalizedTime("99991231235959Z") == .cancel)
        #expect(FutureDatedCommand.generalizedTime("20300231090000Z") == nil)
        #expect(ExecutionTime(executionDateTime: Timestamp(year: 3000, month: 12, day: 31), at: time) == .cancel)
        #expect(ExecutionTime(executionDateTime: time.adding(milliseconds: -1), at: time) == .now)
        #expect(ExecutionTime(executionDateTime: nil, at: time) == .now)
        #expect(ExecutionTime(executionDateTime: Timestamp(year: 2500, month: 1, day: 1), at: time) == nil)
        #expect(ExecutionTime(executionDateTime: time.adding(milliseconds: 1500), at: time.adding(milliseconds: -5000)) == .at(time.adding(milliseconds: 1000)))
    }
}
