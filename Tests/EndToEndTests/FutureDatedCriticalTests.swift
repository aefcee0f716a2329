import Crypto
import Devices
import DUIS
import Foundation
import GBCS
import Hub
import Storage
import Testing
import TestSupport

/// Critical commands future-dated at the device, as GBCS does them: the request to the
/// Transform service carries `ExecutionDateTime`, the pre-command carries it in its
/// activation times, the signed command goes to the meter at once, and the meter answers
/// that it holds it. At the execution time (the test moves the devices' clock there
/// rather than waiting) the meter acts and its outcome alerts, 0x8F66 per instruction and
/// signed, reach the supplier. A command dated 3000-12-31 cancels what the meter holds.
/// The hub runs on a `MockClock` the test moves.
@Suite(.serialized) struct FutureDatedCriticalTests {
    /// DCC's 1.2.1 template body (block prices and a standing charge), with an
    /// `ExecutionDateTime` first.
    static func priceUpdate(at time: Timestamp?) throws -> String {
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix("ECS01b_1.2.1_") })
        let xml = String(decoding: template.bytes, as: UTF8.self)
        let open = try #require(xml.range(of: "<sr:UpdatePricePrimaryElement>"))
        let close = try #require(xml.range(of: "</sr:Body>"))
        let rest = String(xml[open.upperBound..<close.lowerBound])
        let when = time.map { "<sr:ExecutionDateTime>\($0.iso8601)</sr:ExecutionDateTime>" } ?? ""
        return "<sr:UpdatePricePrimaryElement>" + when + rest
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aPriceUpdateIsHeldUntilItsTimeAndThenAlerted() async throws {
        let clock = MockClock()
        let session = try await CriticalCommandTests.start(clock: clock)
        let hub = session.hub.hub
        let premisesID = try #require(hub.inventory.device(session.esme)?.premises)
        // Two days ahead, to the second.
        let executeAt = Timestamp(milliseconds: clock.now().adding(days: 2).milliseconds / 1000 * 1000)

        // The pre-command carries the time in every activation attribute the meter reads.
        let (preCommand, counter) = try #require(try await session.transform(srv: "1.2.1", body: try Self.priceUpdate(at: executeAt)))
        let read = try #require(try FutureDatedCommand.read(try GBCSPayload.decode(preCommand.content, cra: .command)))
        #expect(read.executionTime == .at(executeAt))
        #expect(read.instructions.count == 2, "\(read.instructions)")
        let answer = try await session.send(srv: "1.2.1", try session.signed(preCommand, by: session.supplier), counter: counter)
        #expect(answer.code == "I99", "\(answer.refusal)")

        // The meter answers at once: held, not yet in force.
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let held = try #require(await waitForResponses(session.receiver, requestIDs: [requestID])[requestID])
        #expect(held.rsp?.name == "UpdatePricePrimaryElementRsp" && held.rsp?.attributes["MessageSuccess"] != "false", "\(held.text.suffix(400))")
        var state = try await session.hub.homes.premisesState(premisesID)
        #expect(state.heldCommands.map(\.executeAt) == [executeAt])
        #expect(state.meterSettingsChanges?.contains { $0.at == executeAt } != true, "not acted on before its time")

        // Nothing happens before the time.
        clock.advance(to: executeAt.adding(milliseconds: -1000))
        await hub.tick()
        #expect(try await session.hub.homes.premisesState(premisesID).heldCommands.count == 1)

        // At the time: the meter acts, and one signed 8F66 per instruction reaches the
        // supplier. Here the next command the meter is sent, a read of its tariff, finds it
        // due first: the read reports the new standing charge.
        let before = session.receiver.messages.count
        clock.advance(to: executeAt.adding(milliseconds: 1000))
        let tariffCounter = Counters.next()
        let tariffRead = requestXML(originator: session.supplier, target: session.esme, commandVariant: "1", srv: "4.11.1", body: "<sr:ReadTariffPrimaryElement/>")
        #expect(try await session.client.post(try session.client.sign(tariffRead, counter: tariffCounter), to: .sendCommand).code == "I99")
        let tariffID = "\(session.supplier):\(session.esme):\(tariffCounter)"
        let tariff = try #require(await waitForResponses(session.receiver, requestIDs: [tariffID])[tariffID])
        #expect(tariff.values("StandingCharge") == ["20000"], "\(tariff.values("StandingCharge"))")
        state = try await session.hub.homes.premisesState(premisesID)
        #expect(state.heldCommands.isEmpty)
        #expect(state.meterSettingsChanges?.contains { $0.at == executeAt } == true, "the prices are in force from the execution time")
        let messages = await session.receiver.waitFor(before + read.instructions.count + 1)
        let alerts = try messages.dropFirst(before).map { try DUISMessage($0.body) }.filter { $0.text.contains("8F66") }
        #expect(alerts.count == read.instructions.count, "\(alerts.map { $0.text.suffix(300) })")
        for alert in alerts {
            #expect(alert.values("FutureDatedCommandMessageCode") == [String(format: "%04X", preCommand.messageCode)], "\(alert.text.suffix(600))")
            #expect(alert.values("FutureDatedCommandOriginatorCounter") == [String(counter)])
            #expect(alert.values("ClassId").count == 1)
        }
        let audit = try await hub.store.audit(AuditQuery(device: session.esme, limit: 50))
        let events: [AuditEvent] = audit.map(\.event)
        let ran: [AuditEvent] = events.filter { (event: AuditEvent) -> Bool in event.kind == .device && event.code == "8F66" }
        #expect(ran.map { (event: AuditEvent) -> String? in event.requestID } == [requestID], "\(events.map(\.detail))")

        // Held again, then cancelled with 3000-12-31: nothing is left to run.
        let (second, secondCounter) = try #require(try await session.transform(srv: "1.2.1", body: try Self.priceUpdate(at: executeAt.adding(days: 1))))
        #expect(try await session.send(srv: "1.2.1", try session.signed(second, by: session.supplier), counter: secondCounter).code == "I99")
        _ = await waitForResponses(session.receiver, requestIDs: ["\(session.supplier):\(session.esme):\(secondCounter)"])
        #expect(try await session.hub.homes.premisesState(premisesID).heldCommands.count == 1)
        let (cancel, cancelCounter) = try #require(try await session.transform(srv: "1.2.1", body: try Self.priceUpdate(at: ExecutionTime.cancellationDate)))
        #expect(try FutureDatedCommand.read(try GBCSPayload.decode(cancel.content, cra: .command))?.executionTime == .cancel)
        #expect(try await session.send(srv: "1.2.1", try session.signed(cancel, by: session.supplier), counter: cancelCounter).code == "I99")
        let cancelled = await waitForResponses(session.receiver, requestIDs: ["\(session.supplier):\(session.esme):\(cancelCounter)"])
        #expect(cancelled.first?.value.rsp?.attributes["MessageSuccess"] != "false")
        #expect(try await session.hub.homes.premisesState(premisesID).heldCommands.isEmpty)
        let quiet = session.receiver.messages.count
        clock.advance(to: executeAt.adding(days: 2))
        await hub.tick()
        #expect(session.receiver.messages.count == quiet, "a cancelled command raises no alert")

        await session.hub.stop()
        await session.receiver.stop()
    }

    /// The same held command for a user who takes devices' messages in GBCS, as DCC sends
    /// them: the meter's answer that it holds the command, and at the time its outcome
    /// alerts (0x8F66, about a critical command, so signed by the meter), and a tamper
    /// alert, each verified with the meter's certificate and opened by Parse and Correlate.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func theOutcomeAlertsComeSignedInGBCS() async throws {
        let clock = MockClock()
        let session = try await CriticalCommandTests.start(clock: clock, answers: .gbcs)
        let hub = session.hub.hub
        let keys = hub.smki
        let executeAt = Timestamp(milliseconds: clock.now().adding(days: 1).milliseconds / 1000 * 1000)
        let (preCommand, counter) = try #require(try await session.transform(srv: "1.2.1", body: try Self.priceUpdate(at: executeAt)))
        let instructions = try #require(try FutureDatedCommand.read(try GBCSPayload.decode(preCommand.content, cra: .command))).instructions.count
        #expect(try await session.send(srv: "1.2.1", try session.signed(preCommand, by: session.supplier), counter: counter).code == "I99")
        let requestID = "\(session.supplier):\(session.esme):\(counter)"
        let held = try #require(await waitForResponses(session.receiver, requestIDs: [requestID], keys: keys)[requestID])
        let answer = try #require(held.gbcs, "the meter's answer in GBCS")
        #expect(answer.verifySignature(keys: keys) == .valid && answer.originator == session.esme && answer.originatorCounter == counter)
        #expect(held.deviceProblem == nil && held.rsp?.attributes["MessageSuccess"] != "false", "\(held.deviceProblem ?? "")")

        let before = session.receiver.messages.count
        clock.advance(to: executeAt.adding(milliseconds: 1000))
        await hub.tick()
        let messages = await session.receiver.waitFor(before + instructions)
        let alerts = try messages.dropFirst(before).map { try DUISMessage($0.body, keys: keys) }.filter { $0.deviceAlertCode == "8F66" }
        #expect(alerts.count == instructions, "\(messages.dropFirst(before).map { String($0.body.count) })")
        for alert in alerts {
            let frame = try #require(alert.gbcs, "the alert in GBCS")
            #expect(frame.cra == .alert && frame.originator == session.esme && frame.recipient == session.supplier)
            #expect(frame.verifySignature(keys: keys) == .valid, "signed by the meter")
            #expect(alert.deviceProblem == nil, "Parse and Correlate opens it: \(alert.deviceProblem ?? "")")
        }

        // An alert about no command: a tamper the meter detects (0x8F3F, critical as GBCS
        // numbers it, so signed too), to the supplier.
        let premisesID = try #require(hub.inventory.device(session.esme)?.premises)
        let count = session.receiver.messages.count
        try await hub.store.apply([.addTamperEvent(premises: premisesID, at: clock.now(), reason: "test")])
        let deadline = ContinuousClock.now + .seconds(20)
        var tamper: DUISMessage?
        while tamper == nil, ContinuousClock.now < deadline {
            tamper = session.receiver.messages.dropFirst(count).lazy.compactMap { try? DUISMessage($0.body, keys: keys) }.first { $0.deviceAlertCode == "8F3F" }
            try await Task.sleep(for: .milliseconds(50))
        }
        let tamperAlert = try #require(tamper, "the tamper alert")
        let frame = try #require(tamperAlert.gbcs, "in GBCS")
        #expect(frame.cra == .alert && frame.originator == session.esme && frame.recipient == session.supplier)
        #expect(frame.verifySignature(keys: keys) == .valid, "signed by the meter")
        #expect(tamperAlert.deviceProblem == nil, "Parse and Correlate opens it: \(tamperAlert.deviceProblem ?? "")")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// A held command runs only if the meter still trusts the party that signed it: after
    /// a credentials update makes another supplier the trusted one, the old supplier's held
    /// price update does not run at its time, and its sender gets 8F67 instead. A command the
    /// meter would refuse is refused on arrival, not held.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aHeldCommandRunsOnlyForAPartyTheMeterStillTrusts() async throws {
        let clock = MockClock()
        let session = try await CriticalCommandTests.start(clock: clock)
        let hub = session.hub.hub
        let premisesID = try #require(hub.inventory.device(session.esme)?.premises)
        let executeAt = Timestamp(milliseconds: clock.now().adding(days: 1).milliseconds / 1000 * 1000)

        // Refused on arrival: an activation of an image the meter does not hold.
        let hash = String(repeating: "AB", count: 32)
        let firmware = try await session.run(srv: "11.3", body: """
            <sr:ActivateFirmware><sr:ExecutionDateTime>\(executeAt.iso8601)</sr:ExecutionDateTime><sr:FirmwareHash>\(hash)</sr:FirmwareHash></sr:ActivateFirmware>
            """)
        #expect(firmware.rsp?.attributes["MessageSuccess"] == "false", "\(firmware.text.suffix(400))")
        #expect(try await session.hub.homes.premisesState(premisesID).heldCommands.isEmpty, "a command the meter would refuse is not held")

        // Held, then the other supplier's credentials replace the supplier's.
        let held = try await session.run(srv: "1.2.1", body: try Self.priceUpdate(at: executeAt))
        #expect(held.rsp?.attributes["MessageSuccess"] != "false")
        #expect(try await session.hub.homes.premisesState(premisesID).heldCommands.count == 1)
        let update = try await session.run(srv: "6.15.1", body: try session.credentialsOfTheOtherSupplier())
        #expect(update.rsp?.attributes["MessageSuccess"] != "false", "\(update.text.suffix(400))")

        let before = session.receiver.messages.count
        clock.advance(to: executeAt.adding(milliseconds: 1000))
        await hub.tick()
        let state = try await session.hub.homes.premisesState(premisesID)
        #expect(state.heldCommands.isEmpty)
        #expect(state.meterSettingsChanges?.contains { $0.at == executeAt } != true, "the old supplier's prices are not put in force")
        let messages = await session.receiver.waitFor(before + 2)
        let alerts = try messages.dropFirst(before).map { try DUISMessage($0.body) }
        #expect(alerts.count == 2 && alerts.allSatisfy { $0.text.contains("8F67") }, "\(alerts.map { $0.text.suffix(300) })")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// A future-dated firmware activation (11.3, CS06): held, then at its time the meter
    /// runs the image 11.1 distributed and its signed 8F66 reports the new version, which
    /// DCC reads into its inventory.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aFutureDatedFirmwareActivationReachesTheInventoryAtItsTime() async throws {
        let clock = MockClock()
        let session = try await CriticalCommandTests.start(clock: clock)
        let hub = session.hub.hub
        let image = [UInt8]((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 17) })
        let hash = Hex.encode(Array(SHA256.hash(data: image)), uppercase: true)
        let distribute = requestXML(originator: session.supplier, target: Provisioning.dccEUI, commandVariant: "8", srv: "11.1", body: """
            <sr:UpdateFirmware><sr:FirmwareImage>\(Data(image).base64EncodedString())</sr:FirmwareImage><sr:FirmwareVersion>0003B002</sr:FirmwareVersion>
            <sr:DeviceIDList>\(session.esme)</sr:DeviceIDList></sr:UpdateFirmware>
            """)
        #expect(try await session.client.post(try session.client.sign(distribute, counter: Counters.next()), to: .nonDevice).code == "I0")
        let executeAt = Timestamp(milliseconds: clock.now().adding(days: 1).milliseconds / 1000 * 1000)
        let held = try await session.run(srv: "11.3", body: """
            <sr:ActivateFirmware><sr:ExecutionDateTime>\(executeAt.iso8601)</sr:ExecutionDateTime><sr:FirmwareHash>\(hash)</sr:FirmwareHash></sr:ActivateFirmware>
            """)
        #expect(held.rsp?.attributes["MessageSuccess"] != "false", "\(held.text.suffix(400))")
        #expect(hub.inventory.device(session.esme)?.firmwareVersion != "0003B002", "not before its time")

        let before = session.receiver.messages.count
        clock.advance(to: executeAt.adding(milliseconds: 1000))
        await hub.tick()
        #expect(hub.inventory.device(session.esme)?.firmwareVersion == "0003B002")
        let messages = await session.receiver.waitFor(before + 1)
        let alert = try #require(try messages.dropFirst(before).map { try DUISMessage($0.body) }.first { $0.text.contains("8F66") })
        #expect(alert.values("FirmwareVersion") == ["0003B002"], "\(alert.text.suffix(600))")
        await session.hub.stop()
        await session.receiver.stop()
    }

    /// Only the SRVs DUIS lets the device hold can be future-dated at the Transform service;
    /// a date past what the device encodings hold is refused.
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func theTransformRefusesWhatTheDeviceCannotHold() async throws {
        let session = try await CriticalCommandTests.start()
        func transform(_ srv: String, _ body: String) async throws -> DUISClient.Answer {
            let xml = requestXML(originator: session.supplier, target: session.esme, commandVariant: "4", srv: srv, body: body)
            return try await session.client.post(try session.client.sign(xml, counter: Counters.next()), to: .transform)
        }
        // 7.2 cannot be future-dated at all.
        let later = Timestamp.now().adding(days: 2).iso8601
        let supply = try await transform("7.2", "<sr:DisableSupply><sr:ExecutionDateTime>\(later)</sr:ExecutionDateTime></sr:DisableSupply>")
        #expect(supply.refusedAsInvalid && supply.code != "I0", "\(supply.refusal)")
        // 1.2.1 can, but not to a time no GBCS encoding holds (before the cancellation date).
        let far = try await transform("1.2.1", try Self.priceUpdate(at: Timestamp(year: 2999, month: 1, day: 1)))
        #expect(far.code == "E12" && far.refusal.contains("latest"), "\(far.refusal)")
        await session.hub.stop()
        await session.receiver.stop()
    }
}
