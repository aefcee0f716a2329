import DUIS
import Foundation
import GBCS
import Logging
import MMC
import Privacy
import SMKI
import Storage
import Synchronization
import Testing
import TestSupport
@testable import Hub

/// A transport standing in for the SM WAN and the homes: it answers as it is told and
/// records what crossed it, so the device boundary is tested without any emulated device.
final class FakeTransport: DeviceTransport {
    enum Behaviour: Sendable {
        /// Delivered, and the device answers `reply`.
        case answer(DeviceReply)
        /// Every attempt is lost.
        case lose
        /// The hub cannot be reached.
        case unreachable
        /// Delivered, but the devices' side cannot keep its state.
        case unavailable
    }

    struct Record: Sendable {
        var attempts: [Int] = []
        var commands: [WANCommand] = []
        var settled: [Bool] = []
    }

    let behaviour: Behaviour
    let record = Mutex(Record())

    init(_ behaviour: Behaviour) { self.behaviour = behaviour }

    func attempt(to address: WANAddress, attempt: Int, at time: Timestamp) -> DeliveryAttempt {
        record.withLock { $0.attempts.append(attempt) }
        switch behaviour {
        case .lose: return .lost(timeout: .zero, reason: "the fake WAN lost it")
        case .unreachable: return .unreachable(reason: "the fake hub is off the air", retryAfter: .zero)
        case .answer, .unavailable: return .delivered(roundTrip: .zero)
        }
    }

    func exchange(_ command: WANCommand, at time: Timestamp) async throws(DeviceTransportFailure) -> DeviceReply {
        record.withLock { $0.commands.append(command) }
        switch behaviour {
        case .answer(let reply): return reply
        case .unavailable: throw .unavailable(CancellationError())
        case .lose, .unreachable: Issue.record("a command the WAN did not deliver reached the devices"); throw .noInstallation(premises: command.premises)
        }
    }

    func settled(_ reply: DeviceReply, committed: Bool) {
        record.withLock { $0.settled.append(committed) }
    }
}

/// A CSP whose WAN reaches nowhere yet: every postcode is promised for a date.
struct FakeCoverage: WANCoverageSource {
    func coverage(postcode: String, region: CSPRegion, at time: Timestamp) -> WANCoverage {
        WANCoverage(available: false, likelihood: .medium, technology: "Fake mesh \(region.rawValue)", anticipated: Timestamp(year: 2031, month: 3, day: 1),
                    auxiliaryEquipment: "Mast")
    }
}

/// A device side that is only its transport: no homes live behind it.
struct FakeDeviceSide: DeviceSide {
    let transport: any DeviceTransport
    var coverage: any WANCoverageSource { FakeCoverage() }
    func recover() async throws {}
    func run() async {}
    func pass(now: Timestamp) async {}
}

/// The device boundary over a fake transport: a hub opened in process, a signed request
/// through its gateway, and the dispatcher run once by hand on a `MockClock`.
@Suite struct DeviceTransportTests {
    static let supplier = Provisioning.supplier
    static let esme = Provisioning.defaultDevices[0].eui

    struct Bench {
        let hub: Hub
        let transport: FakeTransport
        let keystore: Keystore
        let directory: TemporaryDirectory

        /// Sends a signed 7.4 (read supply status) and returns its RequestID, accepted (I99).
        func sendReadSupplyStatus() async throws -> String {
            try await send(srv: "7.4", body: "<sr:ReadSupplyStatus/>")
        }

        /// Sends a signed request from the supplier to the meter; returns its RequestID, accepted (I99).
        func send(srv: SRV, body: String) async throws -> String {
            let counter = Counters.next()
            let xml = requestXML(originator: DeviceTransportTests.supplier, target: DeviceTransportTests.esme, counter: counter, commandVariant: "1",
                                 srv: srv.text, body: body)
            let signed = try DUISClient(baseURL: "", keystore: keystore).sign(xml, counter: nil)
            let answer = await hub.gateway.handle(service: .sendCommand, body: signed)
            #expect(answer.code == .I99, "\(answer.reason ?? "")")
            return "\(DeviceTransportTests.supplier):\(DeviceTransportTests.esme):\(counter)"
        }
    }

    /// Runs `body` on a hub with a fake transport, and shuts the hub down after it.
    static func withBench(_ behaviour: FakeTransport.Behaviour, _ body: (Bench) async throws -> Void) async throws {
        let bench = try await bench(behaviour)
        do {
            try await body(bench)
        } catch {
            await bench.hub.shutdown()
            throw error
        }
        await bench.hub.shutdown()
    }

    static func bench(_ behaviour: FakeTransport.Behaviour) async throws -> Bench {
        let directory = try TemporaryDirectory("gbsm-transport")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: nil)
        var logger = Logger(label: "gbsm.test")
        logger.logLevel = .critical
        var configuration = HubConfiguration(dataDirectory: directory.url, schemas: Reference.schemas)
        configuration.clock = MockClock(Timestamp.now())
        let transport = FakeTransport(behaviour)
        let hub = try await Hub.open(configuration, devices: { _ in FakeDeviceSide(transport: transport) }, logger: logger)
        return Bench(hub: hub, transport: transport, keystore: try Keystore.load(from: configuration.keystoreURL), directory: directory)
    }

    static func reply(note: String, writes: [Mutation]) -> DeviceReply {
        let header = DeviceMessageHeader(originator: esme, target: supplier, counter: 1, serviceReference: "7.4", srv: "7.4", timestamp: Timestamp.now())
        var body = DataNode("ReadSupplyStatusRsp")
        body.add("SupplyState", "Enabled")
        return DeviceReply(response: DeviceResponse(header: header, body: body), success: true, alerts: [], note: note, writes: writes)
    }

    @Test func aCommandCrossesAsMACdGBCSAndTheHomesWritesAreCommittedWithDCCsRecord() async throws {
        let marker = AuditEvent(kind: .device, device: Self.esme, detail: "written by the fake home")
        try await Self.withBench(.answer(Self.reply(note: "supply enabled", writes: [.audit(marker)]))) { bench in
            let requestID = try await bench.sendReadSupplyStatus()
            #expect(await bench.hub.dispatcher.process(requestID) == nil)

            let record = bench.transport.record.withLock { $0 }
            #expect(record.attempts == [0])
            let command = try #require(record.commands.first)
            #expect(command.device == Self.esme && command.deviceType == .esme && command.srv == "7.4" && command.originator == Self.supplier)
            // What crossed the WAN is GBCS: a MAC header for the meter, from the user (or DCC's
            // broker on its behalf), with the request's counter.
            let frame = try GBCSFrame.decode(try #require(command.gbcs))
            #expect(frame.recipient == Self.esme)
            #expect(frame.originatorCounter > 0)
            #expect(record.settled == [true], "the transport is told its writes were committed")

            let stored = try #require(try await bench.hub.store.request(id: requestID))
            #expect(stored.status == .completed && stored.code == "I0")
            let responses = try await bench.hub.store.outbox(recipient: Self.supplier, status: nil, limit: 10)
            #expect(responses.contains { $0.requestID == requestID && $0.kind == "service-response" })
            let audit = try await bench.hub.store.audit(AuditQuery(device: Self.esme))
            #expect(audit.contains { $0.event.detail == "written by the fake home" }, "the home's writes are in the same commit")
            #expect(audit.contains { $0.event.requestID == requestID && $0.event.detail.contains("supply enabled") })
        }
    }

    /// A daily consumption log answered by a device that ignores the data window (an entry
    /// from 2000, long before the household moved in) and tries to write DCC's outbox.
    static func careless() -> DeviceReply {
        let now = Timestamp.now()
        let header = DeviceMessageHeader(originator: esme, target: supplier, counter: 1, serviceReference: "4.17", srv: "4.17", timestamp: now)
        var log = DataNode("RetrieveDailyConsumptionLogRsp")
        for time in [Timestamp(year: 2000, month: 6, day: 2), now.day.start] {
            log.add("LogEntry") { entry in
                entry.add("Timestamp", time.iso8601)
                entry.add("Consumption", "1234")
            }
        }
        let forged = OutboxItem(recipient: supplier, kind: "forged", messageID: "forged", requestID: nil, body: [], createdAt: now, nextAttemptAt: now)
        return DeviceReply(gbcs: [0xDD, 0x00], response: DeviceResponse(header: header, body: log), success: true, alerts: [], note: "read",
                           writes: [.enqueueOutbox(forged)])
    }

    @Test func theDataWindowGoesInTheCommandAndADeviceThatIgnoresItIsNotBelieved() async throws {
        try await Self.withBench(.answer(Self.careless())) { bench in
            let now = Timestamp.now()
            // A new household moved in a month ago.
            let premises = try #require(bench.hub.inventory.device(Self.esme)?.premises)
            let moveIn = now.adding(days: -30)
            try await bench.hub.store.apply([.privacy(.startOccupancy(Occupancy(premises: premises, sequence: 1, start: moveIn, cause: "3.2 in a test")))])
            let period = "<sr:ReadLogPeriod><sr:StartDateTime>\(now.adding(days: -8).iso8601)</sr:StartDateTime>"
                + "<sr:EndDateTime>\(now.iso8601)</sr:EndDateTime></sr:ReadLogPeriod>"
            let requestID = try await bench.send(srv: "4.17", body: "<sr:RetrieveDailyConsumptionLog>\(period)</sr:RetrieveDailyConsumptionLog>")
            #expect(await bench.hub.dispatcher.process(requestID) == nil)
            let command = try #require(bench.transport.record.withLock { $0.commands.first })
            let window = try #require(command.dataWindow, "the command asks only for the household's own time")
            #expect(window.from == moveIn)
            let responses = try await bench.hub.store.outbox(recipient: Self.supplier, status: nil, limit: 10)
            #expect(!responses.contains { $0.kind == "forged" }, "a device side cannot write DCC's outbox")
            let response = try #require(responses.first { $0.requestID == requestID })
            let text = String(decoding: response.body, as: UTF8.self)
            let start = try #require(text.range(of: "<sr:GBCSPayload>")), end = try #require(text.range(of: "</sr:GBCSPayload>"))
            let payload = String(decoding: try #require(Data(base64Encoded: String(text[start.upperBound..<end.lowerBound]))), as: UTF8.self)
            #expect(payload.contains("RetrieveDailyConsumptionLogRsp"), "the device's GBCS is withheld; its answer, cut, goes as MMC")
            #expect(!payload.contains("2000-06-0"), "nothing from before the window")
            #expect(payload.contains(now.day.start.iso8601))
        }
    }

    /// A value the request's GBCS command cannot carry (here a log period from before 2000,
    /// which GBCS's seconds since 2000 cannot say) is DCC's refusal: the device is never
    /// asked to act on a value DCC could not put in its command.
    @Test func aValueTheCommandCannotCarryIsRefusedAndNoDeviceIsAsked() async throws {
        try await Self.withBench(.answer(Self.careless())) { bench in
            let now = Timestamp.now()
            let period = "<sr:ReadLogPeriod><sr:StartDateTime>1999-06-01T00:00:00Z</sr:StartDateTime>"
                + "<sr:EndDateTime>\(now.iso8601)</sr:EndDateTime></sr:ReadLogPeriod>"
            let requestID = try await bench.send(srv: "4.17", body: "<sr:RetrieveDailyConsumptionLog>\(period)</sr:RetrieveDailyConsumptionLog>")
            #expect(await bench.hub.dispatcher.process(requestID) == nil)
            #expect(bench.transport.record.withLock { $0.commands.isEmpty }, "no command crossed the WAN")
            let stored = try #require(try await bench.hub.store.request(id: requestID))
            #expect(stored.status == .failed && stored.code == "E12")
            let decisions = try await bench.hub.store.audit(AuditQuery(requestID: requestID))
            #expect(decisions.contains { $0.event.detail.hasPrefix("[\(RuleID.commandValue)]") }, "\(decisions.map(\.event.detail))")
        }
    }

    /// DCC's WAN matrix is the CSPs' coverage (the device side's), with what DCC has seen
    /// itself: the hub has no WAN model of its own.
    @Test func theWANMatrixAnswersTheDeviceSidesCoverage() async throws {
        try await Self.withBench(.lose) { bench in
            // Where DCC has installed nothing, the CSP's answer stands as given.
            let xml = requestXML(originator: Self.supplier, target: Provisioning.dccEUI, counter: Counters.next(), commandVariant: "8", srv: "12.1",
                                 body: "<sr:RequestWANMatrix><sr:PartialAddress><sr:PostCode>IV1 1AA</sr:PostCode><sr:AddressIdentifier>1</sr:AddressIdentifier></sr:PartialAddress></sr:RequestWANMatrix>")
            let signed = try DUISClient(baseURL: "", keystore: bench.keystore).sign(xml, counter: nil)
            let answer = await bench.hub.gateway.handle(service: .nonDevice, body: signed)
            #expect(answer.code == .I0, "\(answer.reason ?? "")")
            let text = String(decoding: answer.body, as: UTF8.self)
            #expect(text.contains("<sr:CSPRegion>North</sr:CSPRegion>"))
            #expect(text.contains("<sr:CoverageAvailability>false</sr:CoverageAvailability>"))
            #expect(text.contains("<sr:AnticipatedCoverageDate>2031-03-01</sr:AnticipatedCoverageDate>"))
            #expect(text.contains("<sr:WANTechnology>Fake mesh North</sr:WANTechnology>"))
            #expect(text.contains("<sr:ConnectivityLikelihood>Medium</sr:ConnectivityLikelihood>"))
            #expect(text.contains("<sr:AuxiliaryEquipmentRequired>Mast</sr:AuxiliaryEquipmentRequired>"))
            #expect(bench.transport.record.withLock { $0.commands.isEmpty }, "the matrix asks no device")
        }
    }

    @Test func aCommandTheWANLosesEndsInE21AndNoDeviceIsAsked() async throws {
        try await Self.withBench(.lose) { bench in
            let requestID = try await bench.sendReadSupplyStatus()
            #expect(await bench.hub.dispatcher.process(requestID) == nil)
            let record = bench.transport.record.withLock { $0 }
            #expect(record.attempts == Array(0..<DeviceDispatcher.maxAttempts))
            #expect(record.commands.isEmpty)
            let stored = try #require(try await bench.hub.store.request(id: requestID))
            #expect(stored.status == .failed && stored.code == "E21")
            let responses = try await bench.hub.store.outbox(recipient: Self.supplier, status: nil, limit: 10)
            let response = try #require(responses.first { $0.requestID == requestID })
            #expect(String(decoding: response.body, as: UTF8.self).contains("the fake WAN lost it"))
        }
    }

    @Test func anUnreachableHubEndsInE20() async throws {
        try await Self.withBench(.unreachable) { bench in
            let requestID = try await bench.sendReadSupplyStatus()
            #expect(await bench.hub.dispatcher.process(requestID) == nil)
            let stored = try #require(try await bench.hub.store.request(id: requestID))
            #expect(stored.status == .failed && stored.code == "E20")
            #expect(bench.transport.record.withLock { $0.commands.isEmpty })
        }
    }

    @Test func aHomeThatCannotKeepItsStateLeavesTheRequestToRunAgain() async throws {
        try await Self.withBench(.unavailable) { bench in
            let requestID = try await bench.sendReadSupplyStatus()
            let retry = await bench.hub.dispatcher.process(requestID)
            #expect(retry != nil, "tried again later")
            let record = bench.transport.record.withLock { $0 }
            #expect(record.commands.count == 1)
            #expect(record.settled.isEmpty, "nothing to settle: the device side kept nothing")
            let stored = try #require(try await bench.hub.store.request(id: requestID))
            #expect(stored.status == .awaitingDevice)
            let responses = try await bench.hub.store.outbox(recipient: Self.supplier, status: nil, limit: 10)
            #expect(!responses.contains { $0.requestID == requestID }, "nothing answered")
        }
    }
}

/// DCC's side of what devices send unasked, fed through the sink a device side is given.
@Suite struct DeviceInboxTests {
    final class SinkBox: Sendable {
        let sink = Mutex<(any DeviceMessageSink)?>(nil)
    }

    @Test func alertsAndALastGaspReachTheRegisteredPartiesCommittedWithTheHomesWrites() async throws {
        let directory = try TemporaryDirectory("gbsm-inbox")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: nil)
        var logger = Logger(label: "gbsm.test")
        logger.logLevel = .critical
        var configuration = HubConfiguration(dataDirectory: directory.url)
        let clock = MockClock(Timestamp.now())
        configuration.clock = clock
        let box = SinkBox()
        let hub = try await Hub.open(configuration, devices: { context in
            box.sink.withLock { $0 = context.sink }
            return FakeDeviceSide(transport: FakeTransport(.lose))
        }, logger: logger)
        do {
            let sink = try #require(box.sink.withLock { $0 })
            let esme = DeviceTransportTests.esme
            let at = clock.now()
            let alert = DeviceAlert(header: DeviceMessageHeader(originator: esme, target: Provisioning.dccEUI, counter: 7, serviceReference: nil, srv: nil, timestamp: at),
                                    code: 0x8F3F, description: "Unauthorised Physical Access - Tamper Detect", at: at, payload: nil, recipients: [.supplier])
            let hubEUI = Provisioning.defaultDevices[2].eui
            let marker = AuditEvent(kind: .device, device: esme, detail: "kept by the home")
            try await sink.receive([.alert(alert), .lastGasp(commsHub: hubEUI, meter: esme, mpxn: Provisioning.defaultMPAN, at: at, cause: "a test cut")],
                                   writes: [.audit(marker)])
            let toSupplier = try await hub.store.outbox(recipient: Provisioning.supplier, status: nil, limit: 10)
            #expect(toSupplier.contains { $0.kind == "device-alert 8F3F" && $0.messageID == "\(esme):\(Provisioning.supplier):7" })
            let toOperator = try await hub.store.outbox(recipient: Provisioning.networkOperator, status: nil, limit: 10)
            let gasp = try #require(toOperator.first { $0.kind.hasPrefix("dcc-alert N999") })
            let text = String(decoding: gasp.body, as: UTF8.self)
            #expect(text.contains(hubEUI.description) && text.contains(Provisioning.defaultMPAN))
            #expect(!toOperator.contains { $0.kind.hasPrefix("device-alert") }, "the tamper alert is the supplier's only")
            let audit = try await hub.store.audit(AuditQuery(limit: 100))
            #expect(audit.contains { $0.event.detail == "kept by the home" })
            #expect(audit.contains { $0.event.detail.contains("PowerOutageEvent (a test cut)") })
        } catch {
            await hub.shutdown()
            throw error
        }
        await hub.shutdown()
    }
}
