import DUIS
import Foundation
import GBCS
@testable import Hub
import Testing
import TestSupport

/// The GBCS commands of non-critical requests, built from DCC's reference templates: for
/// every template with command variant 1 whose RTDS folder holds a COMMAND vector of the
/// same name, the command built from the template's body, user, device and counter, MAC'd
/// with the RTDS keys of the access control broker, is the vector's octets.
@Suite struct GBCSCommandTemplateTests {
    /// The device types of DCC Boxed's (and the RTDS's) default premises, by the last octet.
    /// In the RTDS -A4 is a PPMID, not DCC Boxed's IHD: it holds SMKI certificates, originates
    /// PCS01 and receives CS03A2, CS04AC and CS08, which GBCS sends only to a PPMID or HCALCS.
    static let types: [UInt8: DeviceType] = [0xA0: .esme, 0xA1: .gsme, 0xA2: .chf, 0xA3: .gpf, 0xA4: .ppmid, 0xA5: .ppmid, 0xA6: .hcalcs]
    /// The CS02b templates (6.21, 6.23, 8.5) carry newer replacement certificates than their
    /// vectors: GBCSCommandSecurityAndHANTests compares them with the vectors' certificates.
    static let newerCertificates: Set<SRV> = ["6.21", "6.23", "8.5"]

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func commandsFromTemplatesAreDCCsOctets() throws {
        let reference = try #require(Reference.directory)
        let templates = reference.appendingPathComponent("duis/templates")
        let rtds = reference.appendingPathComponent("gbcs/rtds")
        let keys = RTDSKeyStore(directory: rtds.appendingPathComponent("keystore"))
        var compared: [SRV] = []
        var failures: [String] = []
        var missing: [SRV] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: templates.path).sorted() where name.hasSuffix("_REQUEST_DUIS.XML") {
            let document = try XMLDocument.parse(try [UInt8](Data(contentsOf: templates.appendingPathComponent(name))), limits: .duis)
            let request = try ServiceRequestDocument(document)
            guard request.header.commandVariantText == "1" else { continue }
            let stem = String(name.dropLast("_REQUEST_DUIS.XML".count))
            let parts = stem.split(separator: "_", maxSplits: 2)
            let vectorURL = rtds.appendingPathComponent("RTDS-4.5.0/\(parts[1])_\(parts[0])/\(stem)_COMMAND_GBCS.HEX")
            guard let text = try? String(contentsOf: vectorURL, encoding: .utf8), let expected = Hex.decode(text) else { continue }
            let srv = request.header.variant.srv
            guard GBCSCommandBuilder.allSRVs.contains(srv) else {
                missing.append(srv)
                continue
            }
            var body = request.body()
            if body.children.first?.name == "ExecutionDateTime" { body.children.removeFirst() }
            let vector = try GBCSFrame.decode(expected)
            let id = request.header.requestID
            let type = Self.types[id.target.bytes.last ?? 0] ?? .esme
            // The requesting user is the vector's supplementary remote party when it has one
            // (CS08's template names the broker, its vector a supplier).
            let user = vector.supplement.remotePartyID ?? id.originator
            // DCC's inventory types the other device of a join and the device added to the hub's log.
            let other: CriticalCommandBuilder.OtherDevice? = srv == "8.7.2" || srv == "8.11" ? .init(type: .esme, keyAgreementCertificate: nil) : nil
            do {
                // A DCC party (the broker, or TransCoS for 6.23) sends with its own counter.
                let dccSends = vector.originator != user
                // DCC's own values: the CIN the vector carries (9.1), the template's user's roles.
                let cin = srv == "9.1" ? Self.sentCIN(vector) : nil
                guard var built = try GBCSCommandBuilder.command(srv: srv, body: body, user: user, device: id.target, deviceType: type,
                                                                 counter: id.counter, brokerCounter: dccSends ? vector.originatorCounter : nil,
                                                                 otherDevice: other, roles: [.is, .gs], customerIdentificationNumber: cin,
                                                                 signer: { keys.signingKey(of: $0) }) else {
                    missing.append(srv)
                    continue
                }
                if Self.newerCertificates.contains(srv) {
                    compared.append(srv)
                    continue
                }
                if case .present = built.signature {
                    // ECDSA signatures are randomised: the built one must verify, then the
                    // vector's stands in for it.
                    if built.verifySignature(keys: keys) != .valid { failures.append("\(name): the signature does not verify") }
                    built.signature = vector.signature
                }
                if let key = built.macKey(keys: keys) { built = try built.maced(with: key) }
                if built.encode() != expected {
                    failures.append("\(name):\n  built    \(Hex.encode(built.encode()).prefix(300))\n  expected \(Hex.encode(expected).prefix(300))")
                }
                compared.append(srv)
            } catch {
                failures.append("\(name): \(error)")
            }
        }
        #expect(compared.count >= 70, "\(compared.count) commands compared; no builder yet: \(missing.sorted().map(\.text).joined(separator: ", "))")
        #expect(failures.isEmpty, "\(failures.count):\n\(failures.prefix(8).joined(separator: "\n"))")
    }

    /// The CIN an ECS50 vector sets (its last four content octets are the digits).
    static func sentCIN(_ frame: GBCSFrame) -> String? {
        guard case .dlms(.accessRequest(let request))? = try? GBCSPayload.decode(frame.content, cra: frame.cra),
              case .octetString(let octets)? = request.data.first else { return nil }
        return String(decoding: octets, as: UTF8.self)
    }
}
