import ArgumentParser
import Crypto
import DUIS
import Foundation
import GBCS

/// `gbsm bench gbcs`: how fast one core decodes and verifies, and encodes and protects,
/// GBCS messages, each beside the bound of the same public-key operations measured in
/// the same run (the ECDH of a MAC; the ECDSA of a critical command's signature). The
/// ratio says what the framing, payload codec, KDF and AES-GCM cost on top of the
/// unavoidable elliptic-curve work.
struct GBCSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gbcs",
        abstract: "GBCS decode+verify and encode+protect per second on one core, beside the ECDH/ECDSA bound measured in the same run.")

    @Option(help: "Messages per measurement.")
    var messages: Int = 4_000

    @Option(help: "Half-hourly profile entries in the response measured (a 4.8.1-like read; 48 is one day).")
    var entries: Int = 48

    func run() throws {
        guard (1...1_000_000).contains(messages) else { throw ValidationError("--messages is 1 to 1000000") }
        guard (0...4_800).contains(entries) else { throw ValidationError("--entries is 0 to 4800") }
        #if DEBUG
        print("note: this is a debug build; measure with `swift run -c release gbsm bench gbcs`")
        #endif
        let supplier = EUI64(0x90B3_D51F_3001_0000), meter = EUI64(0x00DB_1234_5678_90A0)
        let keys = GBCSMemoryKeyStore(parties: [
            supplier: .init(isDevice: false),
            GBCSFrame.accessControlBroker: .init(isDevice: false),
            meter: .init(isDevice: true),
        ])
        let response = try Self.response(from: meter, to: supplier, entries: entries, keys: keys)
        let command = try Self.criticalCommand(from: supplier, to: meter, keys: keys)
        let responseBytes = response.encode(), commandBytes = command.encode()

        // The bounds: the public-key operations each message needs, alone.
        let ka = try _require(keys.keyAgreementKey(of: supplier)), peer = try _require(keys.keyAgreementKey(of: meter)).publicKey
        let signer = try _require(keys.signingKey(of: supplier))
        let sample = Array(commandBytes.prefix(200))
        let signature = try signer.signature(for: sample)
        var failures = 0
        let responseContent = try GBCSFrame.decode(responseBytes).content
        // Every measurement in turn, five rounds, so the bounds and the operations are
        // timed under the same conditions (the machine's speed drifts between seconds).
        let timings = try Self.interleaved(messages, [
            { _ = try ka.sharedSecretFromKeyAgreement(with: peer) },
            { _ = signer.publicKey.isValidSignature(signature, for: sample) },
            { _ = try signer.signature(for: sample) },
            {
                let frame = try GBCSFrame.decode(responseBytes)
                _ = try GBCSPayload.decode(frame.content, cra: frame.cra)
                if frame.verifyMAC(keys: keys) != .valid { failures += 1 }
            },
            {
                let frame = try GBCSFrame.decode(commandBytes)
                _ = try GBCSPayload.decode(frame.content, cra: frame.cra)
                if frame.verifySignature(keys: keys) != .valid || frame.verifyMAC(keys: keys) != .valid { failures += 1 }
            },
            { _ = try Self.response(from: meter, to: supplier, entries: entries, keys: keys).encode() },
            { _ = try Self.criticalCommand(from: supplier, to: meter, keys: keys).encode() },
            { _ = try GBCSPayload.decode(responseContent, cra: .response) },
            { _ = try GBCSFrame.decode(responseBytes) },
        ])
        let (ecdh, verify, sign) = (timings[0], timings[1], timings[2])
        let (decodeResponse, decodeCommand, encodeResponse, encodeCommand) = (timings[3], timings[4], timings[5], timings[6])
        let (payloadAlone, frameAlone) = (timings[7], timings[8])
        guard failures == 0 else { throw ValidationError("\(failures) messages failed verification") }

        func row(_ name: String, _ seconds: Double, bound: Double, boundName: String) {
            print(String(format: "  %-36@ %8.0f /s   bound %8.0f /s (%@)   ratio %.2f", name as NSString, 1 / seconds, 1 / bound, boundName as NSString, bound / seconds))
        }
        print("gbsm bench gbcs: \(messages) messages a measurement, one core")
        print("  response: \(responseBytes.count) octets (MAC'd, \(entries) profile entries); critical command: \(commandBytes.count) octets (signed and MAC'd)")
        print(String(format: "  ECDH %.0f /s, ECDSA verify %.0f /s, ECDSA sign %.0f /s", 1 / ecdh, 1 / verify, 1 / sign))
        row("decode+verify response (MAC)", decodeResponse, bound: ecdh, boundName: "1 ECDH")
        row("decode+verify command (sig+MAC)", decodeCommand, bound: ecdh + verify, boundName: "1 ECDH + 1 verify")
        row("encode+protect response (MAC)", encodeResponse, bound: ecdh, boundName: "1 ECDH")
        row("encode+protect command (sig+MAC)", encodeCommand, bound: ecdh + sign, boundName: "1 ECDH + 1 sign")
        print(String(format: "  of the response's decode: frame %.1f µs, payload (DLMS) %.1f µs", frameAlone * 1e6, payloadAlone * 1e6))
        print("  (ratio: the bound's time over the whole operation's; 1.00 means nothing but the curve operations)")
    }

    /// Seconds per call of each body: five rounds, each running every body `count / 5`
    /// times in turn; the median round of each.
    static func interleaved(_ count: Int, _ bodies: [() throws -> Void]) throws -> [Double] {
        let per = max(1, count / 5)
        var runs = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<5 {
            for (index, body) in bodies.enumerated() {
                let start = ContinuousClock.now
                for _ in 0..<per { try body() }
                let elapsed = ContinuousClock.now - start
                runs[index].append((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / Double(per))
            }
        }
        return runs.map { $0.sorted()[2] }
    }

    /// A profile read's answer: a DLMS access response with `entries` half-hourly
    /// (capture time, consumption) structures, MAC'd for the supplier.
    static func response(from meter: EUI64, to supplier: EUI64, entries: Int, keys: some GBCSKeyStore) throws -> GBCSFrame {
        var rows: [DLMSData] = []
        rows.reserveCapacity(entries)
        for index in 0..<entries {
            let stamp: [UInt8] = [0x07, 0xEA, 11, 25, 0xFF, UInt8(index / 2), UInt8(index % 2 * 30), 0, 0, 0x80, 0, 0xFF]
            rows.append(.structure([.octetString(stamp), .doubleLongUnsigned(UInt32(200 + index * 7))]))
        }
        let apdu = DLMSAPDU.accessResponse(.init(invokeID: 0x2000_0001, data: [.array(rows)], results: [.get(result: 0)]))
        let frame = GBCSFrame(macHeader: nil, cra: .response, originatorCounter: 0x0000_0001_0000_0001, originator: meter, recipient: supplier,
                              dateTime: nil, messageCode: 0x0037, supplement: .none, content: GBCSPayload.dlms(apdu).encode(), signature: .empty)
        guard let key = frame.macKey(keys: keys) else { throw ValidationError("no MAC key") }
        return try frame.maced(with: key)
    }

    /// A critical command (a supply disable): signed by the supplier, MAC'd by DCC.
    static func criticalCommand(from supplier: EUI64, to meter: EUI64, keys: some GBCSKeyStore) throws -> GBCSFrame {
        let descriptor = DLMSAPDU.Descriptor(classID: 70, instance: [0, 0, 96, 3, 10, 255], member: 1)
        let apdu = DLMSAPDU.accessRequest(.init(invokeID: 0x2000_0002, specifications: [.action(descriptor)], data: [.integer(0)]))
        let precommand = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: 0x0000_0001_0000_0002, originator: supplier, recipient: meter,
                                   dateTime: nil, messageCode: 0x0041, supplement: .none, content: GBCSPayload.dlms(apdu).encode(), signature: .absent)
        guard let signer = keys.signingKey(of: supplier) else { throw ValidationError("no DS key") }
        let signed = try precommand.signed(with: signer)
        guard let key = signed.macKey(keys: keys) else { throw ValidationError("no MAC key") }
        return try signed.maced(with: key)
    }
}

private struct MissingKey: Error {}

/// `try _require(x)` for a benchmark: the value, or an error naming what was missing.
private func _require<T>(_ value: T?) throws -> T {
    guard let value else { throw MissingKey() }
    return value
}
