import DUIS
import Foundation
import GBCS
import Logging
import MMC
import ParseAndCorrelate
import Storage
import Testing
import TestSupport
@testable import Homes
@testable import Hub

/// The homes' side of the device boundary alone: a command as DCC sends it (GBCS, MAC'd by
/// the access control broker) handed straight to `EmulatedWAN`, and what the device
/// answers read back with Parse and Correlate, as a DCC user would.
@Suite struct EmulatedWANTests {
    static let supplier = Provisioning.supplier
    static let esme = Provisioning.defaultDevices[0].eui

    struct Bench {
        let hub: Hub
        let homes: EmulatedHomes
        let directory: TemporaryDirectory

        /// The command DCC sends for `srv` with `body` from the supplier to the meter.
        func command(srv: SRV, body: ElementTree, counter: UInt64) throws -> WANCommand {
            let device = try #require(hub.inventory.device(EmulatedWANTests.esme))
            let premises = try #require(device.premises)
            let built = hub.dispatcher.commands.command(srv: srv, body: body, user: EmulatedWANTests.supplier, roles: [.is, .gs], device: device, counter: counter)
            let frame = try #require(built.frame, "gbsm builds GBCS for \(srv)")
            let octets = try hub.dispatcher.commands.maced(frame)
            let variant = try #require(ServiceCatalogue.variant(srv))
            return WANCommand(address: WANAddress(premises: premises, region: .north, device: device.eui, deviceType: device.type, message: 1, answeredByGPF: false),
                              gbcs: octets, srv: srv, serviceReference: variant.serviceReference, requestID: "\(EmulatedWANTests.supplier):\(device.eui):\(counter)",
                              counter: counter, originator: EmulatedWANTests.supplier, originatorRoles: [.is, .gs], body: body)
        }

        /// The device's GBCS answer, verified and decoded as a DCC user reads it.
        func read(_ reply: DeviceReply, srv: SRV) throws -> DataNode {
            let frame = try GBCSFrame.decode(try #require(reply.gbcs, "the device answered in GBCS"))
            let message = try ParsedMessage(frame: frame, keys: hub.smki)
            #expect(message.mac == .valid, "MAC'd by the device for the command's originator")
            return try #require(try MMCMapping.body(for: message, srv: srv))
        }
    }

    static func withBench(_ body: (Bench) async throws -> Void) async throws {
        let directory = try TemporaryDirectory("gbsm-homes")
        try await Provisioning.provision(dataDirectory: directory.url, keystoreFile: nil, responseURL: nil)
        var logger = Logger(label: "gbsm.test")
        logger.logLevel = .critical
        let configuration = HubConfiguration(dataDirectory: directory.url)
        let (hub, homes) = try await EmulatedHomes.open(configuration, homes: .quiet, logger: logger)
        do {
            try await body(Bench(hub: hub, homes: homes, directory: directory))
        } catch {
            await hub.shutdown()
            throw error
        }
        await hub.shutdown()
    }

    static func element(_ name: String, _ children: [ElementTree] = [], text: String = "") -> ElementTree {
        ElementTree(name: name, namespace: DUISNamespace.serviceUserGateway, text: text, children: children)
    }

    @Test func theDeviceAnswersInGBCSMACdForTheCommandsOriginator() async throws {
        try await Self.withBench { bench in
            let command = try bench.command(srv: "7.4", body: Self.element("ReadSupplyStatus"), counter: Timestamp.now().millisecondCounter)
            let reply = try await bench.homes.wan.exchange(command, at: Timestamp.now())
            bench.homes.wan.settled(reply, committed: true)
            #expect(reply.success)
            let frame = try GBCSFrame.decode(try #require(reply.gbcs))
            #expect(frame.originator == Self.esme)
            // The broker sent it on the supplier's behalf, so the answer goes back to whom the
            // command came from, with its counter.
            let sent = try GBCSFrame.decode(try #require(command.gbcs))
            #expect(frame.recipient == sent.originator && frame.originatorCounter == sent.originatorCounter)
            let body = try bench.read(reply, srv: "7.4")
            #expect(body.find("SupplyState")?.text == reply.response.body.find("SupplyState")?.text)
            #expect(reply.writes.contains { if case .putDeviceState = $0 { return true } else { return false } }, "the device's new state, for DCC to commit")
        }
    }

    @Test func aDataWindowLeavesOutWhatCameBeforeItInWhatTheDeviceMACs() async throws {
        try await Self.withBench { bench in
            let today = Timestamp.now().day.start
            let body = Self.element("ReadActiveImportProfileData", [Self.element("ReadLogPeriod", [
                Self.element("StartDateTime", text: today.adding(days: -2).iso8601), Self.element("EndDateTime", text: today.iso8601),
            ])])
            var command = try bench.command(srv: "4.8.1", body: body, counter: Timestamp.now().millisecondCounter)
            let whole = try await bench.homes.wan.exchange(command, at: Timestamp.now())
            bench.homes.wan.settled(whole, committed: false)
            let window = today.adding(days: -1)
            command.counter += 1
            command = try bench.command(srv: "4.8.1", body: body, counter: command.counter)
            command.dataWindow = .init(from: window, periodMilliseconds: 1_800_000)
            let cut = try await bench.homes.wan.exchange(command, at: Timestamp.now())
            bench.homes.wan.settled(cut, committed: false)
            #expect(cut.withheld >= 48, "at least a day of half hours left out")
            func entryTimes(_ node: DataNode) -> [Timestamp] {
                var times: [Timestamp] = []
                func walk(_ node: DataNode) {
                    if node.name == "LogEntry", let text = node.child("Timestamp")?.text, let time = Timestamp(xsDateTime: text) { times.append(time) }
                    for child in node.children { walk(child) }
                }
                walk(node)
                return times
            }
            let everything = entryTimes(try bench.read(whole, srv: "4.8.1"))
            let released = entryTimes(try bench.read(cut, srv: "4.8.1"))
            #expect(everything.count == released.count + cut.withheld, "the GBCS answer is what the device kept")
            #expect(!released.isEmpty && released.allSatisfy { $0.adding(milliseconds: -1_800_000) >= window }, "nothing before the window in the GBCS")
        }
    }

    @Test func aStateIsKeptOnlyOnceDCCHasCommittedIt() async throws {
        try await Self.withBench { bench in
            let premises = try #require(bench.hub.inventory.device(Self.esme)?.premises)
            let before = try await bench.homes.premisesState(premises)
            let message = Self.element("DisplayMessage", [Self.element("SupplierMessage", text: "hello"), Self.element("DisplayMessageType", text: "UTF8")])
            var command = try bench.command(srv: "3.1", body: message, counter: Timestamp.now().millisecondCounter)
            let abandoned = try await bench.homes.wan.exchange(command, at: Timestamp.now())
            bench.homes.wan.settled(abandoned, committed: false)
            #expect(try await bench.homes.premisesState(premises).displayMessages == before.displayMessages, "forgotten: DCC did not commit it")
            command = try bench.command(srv: "3.1", body: message, counter: command.counter + 1)
            let kept = try await bench.homes.wan.exchange(command, at: Timestamp.now())
            bench.homes.wan.settled(kept, committed: true)
            #expect(try await bench.homes.premisesState(premises).displayMessages.count == before.displayMessages.count + 1)
        }
    }
}
