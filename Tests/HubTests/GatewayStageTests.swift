import DUIS
import Foundation
@testable import Hub
import SMKI
import Storage
import Synchronization
import Testing
import TestSupport

/// The gateway's stages, each alone: no server, no store, the time given.
@Suite struct GatewayStageTests {
    static let user = EUI64(0x90B3_D51F_3001_0000)
    static let other = EUI64(0x90B3_D51F_3001_0001)
    static let meter = EUI64(0x00DB_1234_5678_90A0)
    static let now = Timestamp(year: 2026, month: 11, day: 26, hour: 12)

    static func read(_ xml: String, limits: XMLParseLimits = .duis) -> Result<RequestIntake.Accepted, RequestIntake.Malformed> {
        RequestIntake(limits: limits, schemas: nil).read(Array(xml.utf8))
    }

    // MARK: Intake

    @Test func intakeRefusesWhatIsNotARequestOfItsShape() throws {
        func malformed(_ xml: String) -> RequestIntake.Malformed? {
            if case .failure(let failure) = Self.read(xml) { return failure }
            return nil
        }
        #expect(malformed("not xml")?.kind == "unreadable XML")
        #expect(malformed("<a/>")?.status == 400)
        // The body is not the one the command variant expects.
        let wrongBody = requestXML(originator: Self.user, target: Self.meter, commandVariant: "1", srv: "4.1.1", body: "<sr:ReadSupplyStatus/>")
        #expect(malformed(wrongBody)?.reason.contains("ReadInstantaneousImportRegisters") == true, "\(String(describing: malformed(wrongBody)))")
        // 6.2.1 cannot be future-dated.
        let futureDated = requestXML(originator: Self.user, target: Self.meter, commandVariant: "1", srv: "6.2.1",
                                     body: "<sr:ReadDeviceConfigurationVoltage><sr:ExecutionDateTime>2030-01-01T00:00:00Z</sr:ExecutionDateTime></sr:ReadDeviceConfigurationVoltage>")
        #expect(malformed(futureDated)?.reason.contains("cannot be future-dated") == true)
        // Over 1 MiB for an SRV other than firmware distribution: 413.
        let padding = String(repeating: " ", count: RequestIntake.maxRequestBytes)
        let large = requestXML(originator: Self.user, target: Self.meter, commandVariant: "1", srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>" + padding)
        #expect(malformed(large)?.status == 413)
    }

    @Test func intakeAcceptsARequestAndReadsItsExecutionTime() throws {
        let xml = requestXML(originator: Self.user, target: Self.meter, commandVariant: "1", srv: "4.1.1",
                             body: "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>2030-01-15T09:00:00Z</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>")
        let accepted = try Self.read(xml).get()
        #expect(accepted.executeAt == Timestamp(year: 2030, month: 1, day: 15, hour: 9))
        #expect(accepted.request.header.variant.srv == "4.1.1" && !accepted.schemaDeferred)
    }

    // MARK: Authentication

    struct Signed {
        let registry: UserRegistry
        let keystore: Keystore
        let validFrom: Date
    }

    /// A registry with one user and its XML-signing certificate, from a fresh test PKI.
    static func registry() throws -> Signed {
        let issued = Date(timeIntervalSince1970: Double(now.milliseconds) / 1000)
        let pki = try TestPKI.generate(parties: [.init(eui: user, name: "Supplier", signingRoles: [RemotePartyRole.xmlSigning])], now: issued)
        let entry = try #require(pki.keystore.xmlSigningEntry(for: user))
        let registry = UserRegistry()
        _ = registry.load(users: [UserRecord(eui: user, name: "Supplier", roles: [.is])],
                          certificates: [UserCertificateRecord(eui: user, issuerName: entry.certificate.issuerName, serialNumber: entry.certificate.serialNumber,
                                                               role: RemotePartyRole.xmlSigning, der: entry.certificate.der)])
        return Signed(registry: registry, keystore: pki.keystore, validFrom: issued.addingTimeInterval(-86_400))
    }

    static func signed(_ xml: String, by keystore: Keystore, as signer: EUI64 = user) throws -> ServiceRequestDocument {
        let document = try XMLDocument.parse(xml, limits: .duis)
        let entry = try #require(keystore.xmlSigningEntry(for: signer))
        let key = try #require(entry.signingKey)
        let bytes = try XMLSigner.sign(document, key: key, signer: entry.certificate.signerReference)
        return try ServiceRequestDocument(try XMLDocument.parse(bytes, limits: .duis))
    }

    @Test func authenticationNamesItsRule() throws {
        let signed = try Self.registry()
        let authenticator = RequestAuthenticator(registry: signed.registry)
        let xml = requestXML(originator: Self.user, target: Self.meter, commandVariant: "1", srv: "7.4", body: "<sr:ReadSupplyStatus/>")
        // Signed by the user, within its certificate's validity: the user.
        let good = try Self.signed(xml, by: signed.keystore)
        #expect(try authenticator.authenticate(good, at: Self.now).get().eui == Self.user)
        // Unsigned.
        let unsigned = try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis))
        #expect(Self.rule(authenticator.authenticate(unsigned, at: Self.now)) == "signature")
        // Signed by the user, but the RequestID names another originator.
        let otherXML = requestXML(originator: Self.other, target: Self.meter, commandVariant: "1", srv: "7.4", body: "<sr:ReadSupplyStatus/>")
        #expect(Self.rule(authenticator.authenticate(try Self.signed(otherXML, by: signed.keystore), at: Self.now)) == "signature")
        // Before the certificate's validity.
        let before = Timestamp(milliseconds: Int64(signed.validFrom.timeIntervalSince1970 * 1000) - 60_000)
        #expect(Self.rule(authenticator.authenticate(good, at: before)) == "certificate-validity")
        // Altered after signing.
        let tampered = try Self.signed(xml, by: signed.keystore)
        try tampered.setRequestID(RequestID(originator: Self.user, target: Self.meter, counter: 99))
        #expect(Self.rule(authenticator.authenticate(tampered, at: Self.now)) == "signature")
    }

    static func rule<T>(_ result: Result<T, Refusal>) -> String? {
        if case .failure(let refusal) = result { return refusal.rule.rawValue }
        return nil
    }

    // MARK: Anti-replay

    static func header(counter: UInt64, cv: String = "1", srv: SRV = "7.4", body: String = "<sr:ReadSupplyStatus/>") throws -> RequestHeader {
        let xml = requestXML(originator: user, target: meter, counter: counter, commandVariant: cv, srv: srv.text, body: body)
        return try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis)).header
    }

    @Test func replayCheckAdmitsRisingCountersOnly() async throws {
        let check = ReplayCheck(replayGuard: ReplayGuard()) { _ in nil }
        let counter = UInt64(Self.now.milliseconds)
        #expect(try await check.refusal(try Self.header(counter: counter), at: Self.now) == nil)
        #expect(try await check.refusal(try Self.header(counter: counter), at: Self.now)?.rule.rawValue == "anti-replay")
        #expect(try await check.refusal(try Self.header(counter: counter - 1), at: Self.now)?.rule.rawValue == "anti-replay")
        #expect(try await check.refusal(try Self.header(counter: counter + 1), at: Self.now) == nil)
        // Above the ceiling (a day past the time, in milliseconds): refused, and it does not
        // raise the floor.
        #expect(try await check.refusal(try Self.header(counter: UInt64.max), at: Self.now)?.rule.rawValue == "counter-ceiling")
        #expect(try await check.refusal(try Self.header(counter: counter + 2), at: Self.now) == nil)
    }

    @Test func aSignedPreCommandReusesItsCounterOnceWhileLive() async throws {
        let counter = UInt64(Self.now.milliseconds)
        let requestID = "\(Self.user):\(Self.meter):\(counter)"
        let record = Mutex<PreCommandRecord?>(PreCommandRecord(requestID: requestID, preCommand: [1], issuedAt: Self.now))
        let replayGuard = ReplayGuard()
        let check = ReplayCheck(replayGuard: replayGuard) { id in id == requestID ? record.withLock { $0 } : nil }
        let transform = try Self.header(counter: counter, cv: "4", srv: "7.2", body: "<sr:DisableSupply/>")
        let send = try Self.header(counter: counter, cv: "5", srv: "7.2", body: "<sr:SignedPreCommand><sr:GBCSPayload>AQ==</sr:GBCSPayload></sr:SignedPreCommand>")
        #expect(try await check.refusal(transform, at: Self.now) == nil)
        // The send keeps the transform's counter: admitted while the pre-command is live and unsent.
        #expect(try await check.refusal(send, at: Self.now.adding(milliseconds: 1000)) == nil)
        // Once sent: a replay of the pre-command.
        record.withLock { $0?.sentAt = Self.now.adding(milliseconds: 1000) }
        #expect(try await check.refusal(send, at: Self.now.adding(milliseconds: 2000))?.rule.rawValue == CriticalCommandRule.replayed.rawValue)
        // Unsent but a day old: expired.
        record.withLock { $0?.sentAt = nil }
        #expect(try await check.refusal(send, at: Self.now.adding(days: 2))?.rule.rawValue == CriticalCommandRule.expired.rawValue)
    }

    // MARK: Values

    @Test func bodyCheckRefusesValuesOutsideTheirTypesWithoutTheSchema() throws {
        let check = BodyCheck(schemaChecked: false)
        let header = try Self.header(counter: 1, srv: "4.8.1", body: "<sr:ReadActiveImportProfileData/>")
        var body = ElementTree(name: "ReadActiveImportProfileData", namespace: "http://www.dccinterface.co.uk/ServiceUserGateway")
        body.children = [ElementTree(name: "ReadLogPeriod", namespace: body.namespace, children: [
            ElementTree(name: "StartDateTime", namespace: body.namespace, text: "yesterday"),
            ElementTree(name: "EndDateTime", namespace: body.namespace, text: "2026-11-26T00:00:00Z"),
        ])]
        let refusal = check.refusal(header, body: body)
        #expect(refusal?.code == .E12, "\(String(describing: refusal))")
        #expect(refusal?.rule.rawValue == "body-schema", "\(String(describing: refusal))")
        let read = try Self.header(counter: 1)
        #expect(check.refusal(read, body: ElementTree(name: "ReadSupplyStatus", namespace: body.namespace)) == nil)
    }
}

/// The certificates DCC itself puts on a device (6.21, 6.23, 8.5): SMKI organisation
/// certificates of the role whose cells they replace, issued by the organisation CA that
/// issued DCC's own certificates.
@Suite struct ReplacementCertificateCheckTests {
    static func body(_ stem: String) throws -> (SRV, ElementTree) {
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix(stem) }, "\(stem)")
        let request = try ServiceRequestDocument(try XMLDocument.parse([UInt8](template.bytes), limits: .duis))
        return (request.header.variant.srv, request.body())
    }

    static var zaz1: ReplacementCertificateCheck {
        get throws {
            let keystore = try Keystore.load(from: try #require(Reference.directory).appendingPathComponent("smki/zaz1-keystore.json"))
            return ReplacementCertificateCheck(keystore: keystore.entries.map(\.certificate))
        }
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func dccsTemplatesPassAndAnotherCAsOrRolesDoNot() throws {
        let check = try Self.zaz1
        for stem in ["CS02bSupplierByTransCoS_6.23_", "CS02bNOByNOHandover_6.21_", "CS02bACBByACB_8.5_"] {
            let (srv, body) = try Self.body(stem)
            #expect(check.problem(srv: srv, body: body) == nil, "\(stem): \(check.problem(srv: srv, body: body) ?? "")")
            // A DCC whose certificates another CA issued does not vouch for ZAZ1's.
            let other = try TestPKI.generate(parties: [.init(eui: EUI64(0x90B3_D51F_3000_0002), name: "ACB", signingRoles: [4], keyAgreementRoles: [4])])
            let elsewhere = ReplacementCertificateCheck(keystore: other.keystore.entries.map(\.certificate))
            #expect(elsewhere.problem(srv: srv, body: body)?.contains("organisation CA") == true, "\(stem)")
            // Only DCC's senders' certificates count: ZAZ1's users' alone vouch for nothing.
            let zaz1 = try Keystore.load(from: try #require(Reference.directory).appendingPathComponent("smki/zaz1-keystore.json"))
            let users = ReplacementCertificateCheck(keystore: zaz1.entries.map(\.certificate).filter { $0.role == RemotePartyRole.supplier || $0.role == RemotePartyRole.networkOperator })
            #expect(users.dcc.isEmpty)
            #expect(users.problem(srv: srv, body: body)?.contains("organisation CA") == true, "\(stem)")
        }
        // The Network Operator's certificates offered as a Supplier's.
        var (srv, body) = try Self.body("CS02bNOByNOHandover_6.21_")
        let index = try #require(body.children.firstIndex { $0.name == "RemotePartyRole" })
        body.children[index].text = "Supplier"
        #expect(check.problem(srv: srv, body: body)?.contains("not of role 2") == true)
        // A certificate that is not one, and a path left out.
        (srv, body) = try Self.body("CS02bSupplierByTransCoS_6.23_")
        var broken = body
        let certificates = try #require(broken.children.firstIndex { $0.name == "SupplierReplacementCertificates" })
        broken.children[certificates].children[0].text = "AAAA"
        #expect(check.problem(srv: srv, body: broken)?.contains("not an X.509 certificate") == true)
        var pathless = body
        pathless.children.removeAll { $0.name == "CertificationPathCertificates" }
        #expect(check.problem(srv: srv, body: pathless) != nil)
        // Cells of two parties: another supplier's key agreement certificate (ZAZ1's, from
        // the same CA) among the new supplier's.
        let keystore = try Keystore.load(from: try #require(Reference.directory).appendingPathComponent("smki/zaz1-keystore.json"))
        let otherSupplier = try #require(keystore.entries.first {
            $0.eui == EUI64(0x90B3_D51F_3001_0000) && $0.usage == .keyAgreement && $0.role == RemotePartyRole.supplier
        })
        var mixed = body
        #expect(mixed.children[certificates].children[1].name == "KeyAgreementCertificate")
        mixed.children[certificates].children[1].text = Data(otherSupplier.certificate.der).base64EncodedString()
        #expect(check.problem(srv: srv, body: mixed)?.contains("one party's cells") == true, "\(check.problem(srv: srv, body: mixed) ?? "")")
        // What the schema refuses is refused here too (a server may run with it off): an
        // element that is no cell, a cell twice, a second container, a path of four.
        var unknown = body
        unknown.children[certificates].children.append(ElementTree(name: "SpareCertificate", text: body.children[certificates].children[0].text))
        #expect(check.problem(srv: srv, body: unknown)?.contains("SpareCertificate") == true)
        var twice = body
        twice.children[certificates].children.append(body.children[certificates].children[0])
        #expect(check.problem(srv: srv, body: twice)?.contains("twice") == true)
        var second = body
        second.children.insert(body.children[certificates], at: certificates)
        #expect(check.problem(srv: srv, body: second)?.contains("holds 2") == true)
        var long = body
        let pathIndex = try #require(long.children.firstIndex { $0.name == "CertificationPathCertificates" })
        let first = try #require(long.children[pathIndex].children.first)
        long.children[pathIndex].children = Array(repeating: first, count: 4)
        #expect(check.problem(srv: srv, body: long)?.contains("1 to 3") == true)
        // Other SRVs are not its concern.
        #expect(check.problem(srv: "6.15.1", body: body) == nil)
    }
}
