import DUIS
import Foundation
import SMKI
import Privacy
import Storage

/// Sets up a data folder: a test PKI (generated, or DCC Boxed's ZAZ1 keystore imported),
/// the DCC users registered with their XML-signing certificates, and DCC Boxed's default
/// premises commissioned with its supplier and network operator registered. Running it
/// again is safe: users and certificates are refreshed, existing state is kept.
public enum Provisioning {
    /// DCC's own EUI: the target of non-device requests, the DSP's certificate subject.
    public static let dccEUI = EUI64(0x90B3_D51F_3000_0002)
    public static let supplier = EUI64(0x90B3_D51F_3001_0000)
    public static let networkOperator = EUI64(0x90B3_D51F_3002_0000)
    public static let secondSupplier = EUI64(0x90B3_D51F_3003_0000)
    /// DCC Boxed's other user: its XML-signing key in the ZAZ1 keystore is entry
    /// `00db123456780004` (an earlier issue's `…-78-90-04` has no key).
    public static let otherUser = EUI64(0x00DB_1234_5678_0004)

    /// A DCC user to register, with the GBCS remote party role its organisation
    /// certificates carry.
    public struct UserSpec: Sendable {
        public var eui: EUI64
        public var name: String
        public var roles: UserRoleSet
        public var gbcsRole: Int?

        public init(eui: EUI64, name: String, roles: UserRoleSet, gbcsRole: Int?) {
            self.eui = eui
            self.name = name
            self.roles = roles
            self.gbcsRole = gbcsRole
        }
    }

    /// DCC Boxed's test users (and DCC itself, which sends some reference requests).
    /// DCC Boxed's reference requests are sent by its supplier as import, export and gas
    /// supplier, and once (9.1, Request Customer Identification Number) as an other
    /// user, so the supplier holds all four roles.
    public static let defaultUsers: [UserSpec] = [
        UserSpec(eui: supplier, name: "Supplier", roles: [.is, .es, .gs, .ou], gbcsRole: RemotePartyRole.supplier),
        UserSpec(eui: networkOperator, name: "Network operator", roles: [.ed, .gt], gbcsRole: RemotePartyRole.networkOperator),
        UserSpec(eui: secondSupplier, name: "Second supplier", roles: [.is, .gs], gbcsRole: RemotePartyRole.supplier),
        UserSpec(eui: otherUser, name: "Other user", roles: [.ou], gbcsRole: RemotePartyRole.otherUser),
        UserSpec(eui: dccEUI, name: "DCC", roles: [.dcc], gbcsRole: nil),
    ]

    /// DCC Boxed's users as its keystore defines them, not as a list: every EUI with a DUIS
    /// XML-signing certificate and key (role 135) is a user, with the DUIS roles its GBCS
    /// remote party certificates (same EUI) give it, as DCC Boxed does: a supplier (role 2)
    /// is import, export and gas supplier, and other user for the 9.1 DCC Boxed's
    /// reference data sends from it; a network operator (3) is electricity distributor and
    /// gas transporter; an other user (127) is an other user. DCC itself signs with its DSP
    /// key (137). A role 135 key with no such GBCS certificate makes an other user. Names
    /// are the certificate's common name, or this hub's name for a known EUI.
    public static func users(from keystore: Keystore) -> [UserSpec] {
        var result: [UserSpec] = []
        let signers = Set(keystore.userXMLSigning.filter { $0.privateKeyPEM != nil }.map(\.eui))
        for eui in signers.sorted(by: { $0.rawValue < $1.rawValue }) {
            let entries = keystore.entries.filter { $0.eui == eui }
            let gbcsRoles = Set(entries.compactMap(\.role).filter { $0 < RemotePartyRole.xmlSigning })
            var roles: [UserRole] = []
            if gbcsRoles.contains(RemotePartyRole.supplier) { roles += [.is, .es, .gs, .ou] }
            if gbcsRoles.contains(RemotePartyRole.networkOperator) { roles += [.ed, .gt] }
            if gbcsRoles.contains(RemotePartyRole.otherUser) || roles.isEmpty { roles.append(.ou) }
            let gbcsRole = [RemotePartyRole.supplier, RemotePartyRole.networkOperator, RemotePartyRole.otherUser].first(where: gbcsRoles.contains)
            let name = defaultUsers.first { $0.eui == eui }?.name ?? entries.compactMap(\.name).first ?? "DCC Boxed user \(eui)"
            result.append(UserSpec(eui: eui, name: name, roles: UserRoleSet(roles), gbcsRole: gbcsRole))
        }
        if let dsp = keystore.dspSigner, !signers.contains(dsp.eui) {
            result.append(UserSpec(eui: dsp.eui, name: "DCC", roles: [.dcc], gbcsRole: nil))
        }
        return result
    }

    /// The devices of DCC Boxed's default premises.
    public static let defaultDevices: [(eui: EUI64, type: DeviceType)] = [
        (EUI64(0x00DB_1234_5678_90A0), .esme), (EUI64(0x00DB_1234_5678_90A1), .gsme), (EUI64(0x00DB_1234_5678_90A2), .chf),
        (EUI64(0x00DB_1234_5678_90A3), .gpf), (EUI64(0x00DB_1234_5678_90A4), .ppmid), (EUI64(0x00DB_1234_5678_90A5), .ihd),
        (EUI64(0x00DB_1234_5678_90A6), .hcalcs),
    ]
    public static let defaultMPAN = "1312345678111"
    public static let defaultSecondaryMPAN = "1312345678222"
    public static let defaultExportMPAN = "1312345678333"
    public static let defaultMPRN = "1000999888"

    /// Generates a test PKI in the SMKI shape for DCC (its DSP XML-signing key and its
    /// access control broker keys) and the given users (XML-signing and GBCS keys).
    public static func generateTestPKI(users: [UserSpec], dccEUI: EUI64 = dccEUI) throws -> TestPKI {
        // DCC's requests as a user (8.12.2, 11.2) are signed with a key of their own (role
        // 135), kept apart from the DSP key that signs the hub's responses (role 137). A
        // ZAZ1 keystore has only the DSP key for DCC, which DCC Boxed's tools sign DCC's
        // requests with, so there `xmlSigningEntry` falls back to it, as DCC Boxed does.
        var parties = [TestPKI.Party(eui: dccEUI, name: "dcc", signingRoles: [RemotePartyRole.dspXMLSigning, RemotePartyRole.xmlSigning, RemotePartyRole.accessControlBroker],
                                     keyAgreementRoles: [RemotePartyRole.accessControlBroker])]
        for user in users where user.eui != dccEUI {
            parties.append(TestPKI.Party(eui: user.eui, name: user.name.lowercased().replacingOccurrences(of: " ", with: "-"),
                                         signingRoles: [RemotePartyRole.xmlSigning] + (user.gbcsRole.map { [$0] } ?? []),
                                         keyAgreementRoles: user.gbcsRole.map { [$0] } ?? []))
        }
        return try TestPKI.generate(parties: parties)
    }

    /// Registers each user whose XML-signing certificate is in the keystore (DCC with its
    /// DSP certificate). Existing users keep their status and response endpoint unless
    /// `responseURL` is given.
    /// `answerFormat` sets every user's (nil: existing users keep theirs, new ones get GBCS).
    public static func userMutations(keystore: Keystore, users: [UserSpec], responseURL: String?, existing: [UserRecord], at time: Timestamp,
                                     answerFormat: AnswerFormat? = nil) -> [Mutation] {
        var mutations: [Mutation] = []
        for spec in users {
            guard let entry = keystore.xmlSigningEntry(for: spec.eui) else { continue }
            let current = existing.first { $0.eui == spec.eui }
            let record = UserRecord(eui: spec.eui, name: current?.name ?? spec.name, roles: spec.roles, status: current?.status ?? .active,
                                    responseURL: responseURL ?? current?.responseURL, createdAt: current?.createdAt ?? time,
                                    answerFormat: answerFormat ?? current?.answerFormat ?? .gbcs)
            mutations.append(.putUser(record))
            mutations.append(.deleteUserCertificates(spec.eui))
            mutations.append(.putUserCertificate(UserCertificateRecord(eui: spec.eui, issuerName: entry.certificate.issuerName,
                                                                       serialNumber: entry.certificate.serialNumber,
                                                                       role: entry.role ?? RemotePartyRole.xmlSigning, der: entry.certificate.der)))
        }
        return mutations
    }

    /// DCC Boxed's default premises: ESME, GSME, CHF, GPF, IHD, PPMID and HCALCS,
    /// commissioned, with the supplier registered as import and gas supplier and the
    /// network operator as electricity distributor and gas transporter (the supplier is
    /// also the export supplier of the export MPAN).
    public static func defaultPremisesMutations(at time: Timestamp) -> [Mutation] {
        let postcode = "M22 0RR"
        let region = LicenceArea.area(postcode: postcode)?.region ?? .north
        var mutations: [Mutation] = [.putPremises(PremisesRecord(id: 1, uprn: 10_001, postcode: postcode, addressIdentifier: "Threapwood Road", region: region))]
        let commissioned = Timestamp(year: 2020, month: 1, day: 1)
        for (eui, type) in defaultDevices {
            var device = DeviceRecord(eui: eui, type: type, status: .commissioned, premises: 1, manufacturer: "AB01", model: "GBSM-\(type.rawValue)",
                                      firmwareVersion: "0002012F", dateCommissioned: commissioned, gbcsVersion: "4.2", hanVariant: "Single Band")
            switch type {
            case .esme:
                device.model = "010A030B"
                device.smetsCHTSVersion = "SMETS V1.58"
                device.importMPxN = defaultMPAN
                device.secondaryImportMPAN = defaultSecondaryMPAN
                device.exportMPAN = defaultExportMPAN
                device.esmeVariant = "AD"
            case .gsme:
                device.smetsCHTSVersion = "SMETS V1.58"
                device.importMPxN = defaultMPRN
            case .chf, .gpf:
                device.smetsCHTSVersion = "CHTS V1.4"
            default:
                break
            }
            mutations.append(.putDevice(device))
        }
        let from = Timestamp(year: 2020, month: 1, day: 1)
        for mpan in [defaultMPAN, defaultSecondaryMPAN] {
            mutations.append(.putRegistration(RegistrationRecord(mpxn: mpan, role: .is, party: supplier, from: from)))
            mutations.append(.putRegistration(RegistrationRecord(mpxn: mpan, role: .ed, party: networkOperator, from: from)))
        }
        mutations.append(.putRegistration(RegistrationRecord(mpxn: defaultExportMPAN, role: .es, party: supplier, from: from)))
        mutations.append(.putRegistration(RegistrationRecord(mpxn: defaultExportMPAN, role: .ed, party: networkOperator, from: from)))
        mutations.append(.putRegistration(RegistrationRecord(mpxn: defaultMPRN, role: .gs, party: supplier, from: from)))
        mutations.append(.putRegistration(RegistrationRecord(mpxn: defaultMPRN, role: .gt, party: networkOperator, from: from)))
        mutations.append(.audit(AuditEvent(at: time, kind: .inventory, detail: "DCC Boxed default premises commissioned: \(defaultDevices.count) devices at \(postcode), MPAN \(defaultMPAN), MPRN \(defaultMPRN)")))
        mutations.append(.setMeta(key: "default_premises", value: "1"))
        mutations += defaultConsents(at: time)
        return mutations
    }

    /// The consents DCC Boxed's users rely on at its default premises, so the reference
    /// templates work under gbsm's privacy rules: the supplier opted in to half-hourly
    /// data, the network operator and the other user hold the consumer's consent. Each is
    /// an ordinary ledger entry, withdrawable like any other.
    public static func defaultConsents(at time: Timestamp) -> [Mutation] {
        let grants: [(EUI64, Purpose)] = [(supplier, .billing), (networkOperator, .networkPlanning), (otherUser, .energyServices)]
        var mutations: [Mutation] = grants.map { party, purpose in
            .privacy(.addConsent(ConsentEntry(premises: 1, occupancy: 0, party: party, purpose: purpose, action: .grant, granularity: .halfHourly,
                                              method: .dccBoxedDefault, at: time, note: "DCC Boxed default premises")))
        }
        mutations.append(.audit(AuditEvent(at: time, kind: .consent, detail: "DCC Boxed default premises: half-hourly consents for \(grants.map { "\($0.0) (\($0.1.rawValue))" }.joined(separator: ", "))")))
        return mutations
    }

    public struct Report: Sendable {
        public var keystoreSource: String
        public var users: [UserSpec]
        public var createdPremises: Bool
        public var skippedCertificates: [String]
    }

    /// Prepares a data folder for `serve`: imports `keystoreFile` (a ZAZ1-format keystore,
    /// for DCC Boxed mode) or, when none is given and the folder has no keystore yet,
    /// generates a test PKI; then registers the users and the default premises.
    @discardableResult
    public static func provision(dataDirectory: URL, keystoreFile: URL?, responseURL: String?, users: [UserSpec] = defaultUsers,
                                 defaultPremises: Bool = true, answerFormat: AnswerFormat? = nil,
                                 storeURL: String? = StoreLocation.fromEnvironment) async throws -> Report {
        var configuration = HubConfiguration(dataDirectory: dataDirectory)
        configuration.storeURL = storeURL
        let smki = configuration.keystoreURL.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: smki, withIntermediateDirectories: true)
        let keystore: Keystore
        let source: String
        if let keystoreFile {
            keystore = try Keystore.load(from: keystoreFile)
            guard keystore.dspSigner != nil else { throw HubError.noDSPKey(keystoreFile.path) }
            try keystore.write(to: configuration.keystoreURL)
            source = "imported \(keystoreFile.path)"
        } else if FileManager.default.fileExists(atPath: configuration.keystoreURL.path) {
            keystore = try Keystore.load(from: configuration.keystoreURL)
            source = "existing \(configuration.keystoreURL.path)"
        } else {
            let pki = try generateTestPKI(users: users)
            try pki.write(to: smki)
            keystore = pki.keystore
            source = "generated test PKI in \(smki.path)"
        }
        // An imported keystore defines the users (DCC Boxed's); a generated one has the
        // users it was generated for.
        let users = keystoreFile == nil ? users : Self.users(from: keystore)
        let store = try await configuration.storeLocation.open()
        let now = Timestamp.now()
        var mutations = userMutations(keystore: keystore, users: users, responseURL: responseURL, existing: try await store.users(), at: now,
                                      answerFormat: answerFormat)
        let registered = users.filter { spec in keystore.xmlSigningEntry(for: spec.eui) != nil }
        var created = false
        if defaultPremises, try await store.meta("default_premises") == nil {
            mutations += defaultPremisesMutations(at: now)
            created = true
        }
        mutations.append(.audit(AuditEvent(at: now, kind: .provisioning,
                                           detail: "\(source); users \(registered.map { "\($0.eui) (\($0.roles.codes))" }.joined(separator: ", "))"
                                               + (responseURL.map { "; response endpoint \($0)" } ?? ""))))
        mutations.append(.bumpRegistryVersion)
        try await store.apply(mutations)
        return Report(keystoreSource: source, users: registered, createdPremises: created, skippedCertificates: keystore.skipped)
    }

    /// Adds `count` suppliers (EUIs 90-B3-D5-1F-31-00-00-00 upwards), each registered as
    /// import supplier of the ESME of its own premises, with XML-signing and GBCS (DS, KA)
    /// certificates issued from the data folder's test PKI. For load: each supplier's requests carry
    /// their own rising counters, so many can be in flight at once without one user's
    /// requests overtaking each other.
    public static func addSuppliers(dataDirectory: URL, count: Int, responseURL: String? = nil,
                                    storeURL: String? = StoreLocation.fromEnvironment) async throws -> [(user: EUI64, meter: EUI64)] {
        var configuration = HubConfiguration(dataDirectory: dataDirectory)
        configuration.storeURL = storeURL
        var pki = try TestPKI.load(from: configuration.keystoreURL.deletingLastPathComponent())
        let store = try await configuration.storeLocation.open()
        var mutations: [Mutation] = []
        var result: [(EUI64, EUI64)] = []
        let from = Timestamp(year: 2020, month: 1, day: 1)
        for index in 0..<count {
            let user = EUI64(0x90B3_D51F_3100_0000 + UInt64(index))
            let meter = EUI64(0x00BE_0000_0000_0000 + UInt64(index))
            let premises = Int64(1000 + index)
            let mpan = String(format: "10%011d", index)
            let entry = try pki.issue(eui: user, role: RemotePartyRole.xmlSigning, usage: .digitalSignature, name: "supplier-\(index)")
            // Its GBCS certificates: devices MAC (and sign) their answers for it.
            for usage in [Keystore.Usage.digitalSignature, .keyAgreement] {
                _ = try pki.issue(eui: user, role: RemotePartyRole.supplier, usage: usage, name: "supplier-\(index)-\(usage == .digitalSignature ? "ds" : "ka")")
            }
            mutations += [
                .putUser(UserRecord(eui: user, name: "Supplier \(index)", roles: [.is, .gs], responseURL: responseURL)),
                .putUserCertificate(UserCertificateRecord(eui: user, issuerName: entry.certificate.issuerName, serialNumber: entry.certificate.serialNumber,
                                                          role: RemotePartyRole.xmlSigning, der: entry.certificate.der)),
                .putPremises(PremisesRecord(id: premises, uprn: nil, postcode: "CB1 1AA", addressIdentifier: "\(index) Load Street", region: .central)),
                .putDevice(DeviceRecord(eui: meter, type: .esme, status: .commissioned, premises: premises, manufacturer: "AB01", model: "LOAD", importMPxN: mpan)),
                .putRegistration(RegistrationRecord(mpxn: mpan, role: .is, party: user, from: from)),
            ]
            result.append((user, meter))
        }
        try pki.keystore.write(to: configuration.keystoreURL)
        mutations.append(.audit(AuditEvent(kind: .provisioning, detail: "\(count) suppliers added, each with one premises and ESME")))
        try await store.apply(mutations + [.bumpRegistryVersion])
        return result
    }
}
