import DUIS
import Foundation
import GBCS
import Testing
@testable import Devices

/// A device's own checks of a critical command, alone (no hub): DCC's MAC, the signature
/// of the remote party it trusts, and a counter above the floor it holds for that party.
/// What fails is not executed: a security log entry, alert 0x8F3D, and a refusal.
@Suite struct CriticalCommandCheckTests {
    static let otherSupplier = EUI64(0x90B3_D51F_3101_0099)

    struct World {
        let model: PremisesModel
        let esme: EUI64
        let keys: GBCSMemoryKeyStore
        let emulator: DeviceEmulator
    }

    static func world() throws -> World {
        var model = Bench.premises { _, _ in true }
        model.installedSupplier = Bench.supplier
        let esme = try #require(model.device(.esme)).eui
        let keys = GBCSMemoryKeyStore(parties: [
            GBCSFrame.accessControlBroker: .init(isDevice: false), Bench.supplier: .init(isDevice: false),
            otherSupplier: .init(isDevice: false), esme: .init(isDevice: true),
        ])
        return World(model: model, esme: esme, keys: keys, emulator: DeviceEmulator(engine: Bench.engine, keys: keys))
    }

    /// 7.2's command as DCC sends it: signed by `signer`, MAC'd by the broker (or not).
    static func disable(_ world: World, signer: EUI64, counter: UInt64, mac: Bool = true, tamper: Bool = false) throws -> [UInt8] {
        var frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: signer, recipient: world.esme, dateTime: nil,
                              messageCode: 0x0050, supplement: .none, content: [0xD9, 0x20, 0x00, 0x00, 0x01, 0x00, 0x00], signature: .absent)
        frame = try frame.signed(with: try #require(world.keys.signingKey(of: signer)))
        if mac { frame = try frame.maced(with: try #require(frame.macKey(keys: world.keys))) }
        var bytes = frame.encode()
        if tamper { bytes[bytes.count - 20] ^= 1 }
        return bytes
    }

    static func run(_ world: World, _ bytes: [UInt8], originator: EUI64 = Bench.supplier, state: inout PremisesState) -> DeviceOutcome {
        var command = Bench.command("7.2", world.model, .esme, body: Bench.element("DisableSupply"))
        command.originator = originator
        command.gbcs = bytes
        return world.emulator.execute(command, model: world.model, state: &state, at: Bench.now)
    }

    @Test func aTrustedSignedCommandRunsOnce() throws {
        let world = try Self.world()
        var state = PremisesState()
        let bytes = try Self.disable(world, signer: Bench.supplier, counter: 1000)
        let outcome = Self.run(world, bytes, state: &state)
        #expect(outcome.success, "\(outcome.note)")
        #expect(outcome.response.body.name == "DisableSupplyRsp")
        #expect(state.electricityState == .disabled)
        // The same command again: its counter is not above the floor now held.
        state.electricitySupply.removeAll()
        let replay = Self.run(world, bytes, state: &state)
        #expect(!replay.success && replay.note.contains("replay"), "\(replay.note)")
        #expect(state.electricityState == .enabled, "not executed")
        #expect(replay.alerts.map(\.code) == [0x8F3D])
    }

    @Test func untrustedUnMACdOrTamperedCommandsAreRefused() throws {
        let world = try Self.world()
        let cases: [(String, [UInt8], EUI64)] = [
            ("another supplier's signature", try Self.disable(world, signer: Self.otherSupplier, counter: 2000), Self.otherSupplier),
            ("no MAC", try Self.disable(world, signer: Bench.supplier, counter: 2001, mac: false), Bench.supplier),
            ("a changed octet", try Self.disable(world, signer: Bench.supplier, counter: 2002, tamper: true), Bench.supplier),
        ]
        for (name, bytes, originator) in cases {
            var state = PremisesState()
            let outcome = Self.run(world, bytes, originator: originator, state: &state)
            #expect(!outcome.success, "\(name) refused")
            #expect(state.electricityState == .enabled, "\(name): not executed")
            #expect(outcome.alerts.map(\.code) == [0x8F3D], "\(name): alerted")
            #expect(state.securityLogs[world.esme]?.last?.code == 0x8F3D, "\(name): logged")
        }
        // Without its GBCS a critical command is not executed at all.
        var state = PremisesState()
        let bare = world.emulator.execute(Bench.command("7.2", world.model, .esme, body: Bench.element("DisableSupply")), model: world.model, state: &state, at: Bench.now)
        #expect(!bare.success && state.electricityState == .enabled)
    }
}

/// A device's checks of a non-critical command, alone: for this device, MAC'd by DCC's
/// access control broker, from the user the command names, and a counter it has not seen
/// from that user. What fails is not executed: a security log entry, alert 0x8F3D, and a
/// refusal.
@Suite struct NonCriticalCommandCheckTests {
    /// 4.1.1's command (ECS17b) from `originator`, MAC'd by the broker (or not).
    static func read(_ world: CriticalCommandCheckTests.World, originator: EUI64 = Bench.supplier, recipient: EUI64? = nil, counter: UInt64,
                     mac: Bool = true, tamper: Bool = false) throws -> [UInt8] {
        var frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: counter, originator: originator, recipient: world.esme,
                              dateTime: nil, messageCode: 0x0052, supplement: .none, content: [0xD9, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00], signature: .absent)
        if mac { frame = try frame.maced(with: try #require(frame.macKey(keys: world.keys))) }
        // Readdressed after its MAC (the test's key store holds the ESME's keys only).
        if let recipient { frame.recipient = recipient }
        var bytes = frame.encode()
        if tamper { bytes[bytes.count - 20] ^= 1 }
        return bytes
    }

    static func run(_ world: CriticalCommandCheckTests.World, _ bytes: [UInt8], state: inout PremisesState) -> DeviceOutcome {
        var command = Bench.command("4.1.1", world.model, .esme, body: Bench.element("ReadInstantaneousImportRegisters"))
        command.gbcs = bytes
        return world.emulator.execute(command, model: world.model, state: &state, at: Bench.now)
    }

    @Test func aMACdCommandRunsAndItsReplayIsRefused() throws {
        let world = try CriticalCommandCheckTests.world()
        var state = PremisesState()
        let bytes = try Self.read(world, counter: 5000)
        let first = Self.run(world, bytes, state: &state)
        #expect(first.success, "\(first.note)")
        #expect(first.alerts.isEmpty)
        // The same bytes again (a replay on the WAN), and an older counter than the device
        // remembers are refused; a later counter runs.
        let replay = Self.run(world, bytes, state: &state)
        #expect(!replay.success && replay.note.contains("replay"), "\(replay.note)")
        #expect(replay.alerts.map(\.code) == [0x8F3D])
        #expect(state.securityLogs[world.esme]?.last?.code == 0x8F3D)
        let next = Self.run(world, try Self.read(world, counter: 5001), state: &state)
        #expect(next.success, "\(next.note)")
    }

    @Test func anUnMACdTamperedMisaddressedOrOtherUsersCommandIsRefused() throws {
        let world = try CriticalCommandCheckTests.world()
        let gsme = try #require(world.model.device(.gsme)).eui
        let cases: [(String, [UInt8])] = [
            ("no MAC", try Self.read(world, counter: 6000, mac: false)),
            ("a changed octet", try Self.read(world, counter: 6001, tamper: true)),
            ("another device's command", try Self.read(world, recipient: gsme, counter: 6002)),
            ("another user's command", try Self.read(world, originator: CriticalCommandCheckTests.otherSupplier, counter: 6003)),
        ]
        for (name, bytes) in cases {
            var state = PremisesState()
            let outcome = Self.run(world, bytes, state: &state)
            #expect(!outcome.success, "\(name) refused")
            #expect(outcome.alerts.map(\.code) == [0x8F3D], "\(name): alerted")
            #expect(state.securityLogs[world.esme]?.last?.code == 0x8F3D, "\(name): logged")
            #expect(outcome.response.body.children.isEmpty, "\(name): nothing read")
        }
    }
}

/// A premises state stored by an older gbsm (fewer fields) still reads: the missing fields
/// take their defaults, and what was stored is kept.
@Suite struct PremisesStateUpgradeTests {
    @Test func anOlderStateReadsWithDefaults() throws {
        var state = PremisesState()
        state.electricitySupply = [SupplyChange(at: Timestamp(milliseconds: 1_700_000_000_000), state: .disabled, reason: "old")]
        state.revision = 7
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try state.encoded())) as? [String: Any])
        // Fields added after the state was stored.
        for key in ["commandCounters", "trustAnchors", "joins", "tampered"] { object[key] = nil }
        let old = [UInt8](try JSONSerialization.data(withJSONObject: object))
        #expect(throws: (any Error).self) { try JSONDecoder().decode(PremisesState.self, from: Data(old)) }
        let read = try PremisesState.decode(old)
        #expect(read.revision == 7 && read.electricityState == .disabled && read.commandCounters.isEmpty)
        #expect(throws: (any Error).self) { try PremisesState.decode(Array("[1,2]".utf8)) }
    }
}
