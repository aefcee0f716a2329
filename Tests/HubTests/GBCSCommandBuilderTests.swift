import DUIS
import Foundation
import GBCS
import Hub
import Testing
import TestSupport

/// The GBCS commands the hub builds for DUIS requests, against DCC's Reference Test Data
/// Set: for every SRV the builder makes, the command for the vector's user, device and
/// counter, MAC'd with the RTDS keys of the access control broker, is the vector's octets.
@Suite struct GBCSCommandBuilderTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func commandsAreDCCsOctets() throws {
        let rtds = try #require(Reference.directory).appendingPathComponent("gbcs/rtds")
        let keys = RTDSKeyStore(directory: rtds.appendingPathComponent("keystore"))
        let folders = try FileManager.default.contentsOfDirectory(atPath: rtds.appendingPathComponent("RTDS-4.5.0").path)
        var compared = 0
        var failures: [String] = []
        for srv in GBCSCommandBuilder.srvs {
            // Every success command of the SRV's electricity use case (single and twin).
            let useCase = try #require(GBCSCommandBuilder.useCase(srv: srv))
            let folder = try #require(folders.first { $0 == srv.text + "_" + useCase }, "an RTDS folder for \(srv) \(useCase)")
            let directory = rtds.appendingPathComponent("RTDS-4.5.0").appendingPathComponent(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.contains("SUCCESS_COMMAND") {
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                let bytes = try #require(Hex.decode(text))
                let vector = try GBCSFrame.decode(bytes)
                let built: GBCSFrame?
                if GBCSCommandBuilder.isSentByBroker(srv: srv) {
                    // The broker sends it: the user and its counter are the supplementary party.
                    let user = try #require(vector.supplement.remotePartyID), counter = try #require(vector.supplement.remotePartyCounter)
                    built = GBCSCommandBuilder.command(srv: srv, user: user, device: vector.recipient, counter: counter, brokerCounter: vector.originatorCounter)
                } else {
                    built = GBCSCommandBuilder.command(srv: srv, user: vector.originator, device: vector.recipient, counter: vector.originatorCounter)
                }
                guard let built else {
                    failures.append("\(srv): no command")
                    continue
                }
                let key = try #require(built.macKey(keys: keys), "the broker's and the meter's KA keys")
                let maced = try built.maced(with: key)
                if maced.encode() != bytes {
                    failures.append("\(name): built \(Hex.encode(built.content).prefix(120)) ≠ \(Hex.encode(vector.content).prefix(120))")
                }
                compared += 1
            }
        }
        #expect(compared >= 28, "\(compared) commands compared")
        #expect(failures.isEmpty, "\(failures.count):\n\(failures.prefix(10).joined(separator: "\n"))")
    }
}
