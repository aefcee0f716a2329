import Devices
import DUIS
import Foundation
import Hub
import SMKI
import Storage

extension Provisioning {
    /// Registers a fleet's parties (its suppliers, the DNO groups and the gas transporters)
    /// as DCC users with XML-signing certificates from the data folder's test PKI, so
    /// their keys are in `smki/keystore.json` for signing requests. A folder whose
    /// keystore was imported from DCC Boxed gets a test CA of its own for them.
    public static func registerFleet(dataDirectory: URL, fleet: Fleet, responseURL: String?, answerFormat: AnswerFormat? = nil,
                                     storeURL: String? = StoreLocation.fromEnvironment) async throws -> [FleetParty] {
        var configuration = HubConfiguration(dataDirectory: dataDirectory)
        configuration.storeURL = storeURL
        let smki = configuration.keystoreURL.deletingLastPathComponent()
        var pki: TestPKI
        if let loaded = try? TestPKI.load(from: smki) {
            pki = loaded
        } else {
            let authority = try TestPKI.generate(parties: [], rootName: "F0", issuerName: "F1")
            pki = TestPKI(root: authority.root, rootKeyPEM: authority.rootKeyPEM, issuingCA: authority.issuingCA,
                          issuingCAKeyPEM: authority.issuingCAKeyPEM, keystore: try Keystore.load(from: configuration.keystoreURL))
        }
        let store = try await configuration.storeLocation.open()
        let existing = Dictionary(uniqueKeysWithValues: try await store.users().map { ($0.eui, $0) })
        var mutations: [Mutation] = []
        for party in fleet.parties {
            if existing[party.eui] == nil || pki.keystore.xmlSigningEntry(for: party.eui) == nil {
                pki.keystore.entries.removeAll { $0.eui == party.eui }
                let entry = try pki.issue(eui: party.eui, role: RemotePartyRole.xmlSigning, usage: .digitalSignature, name: "fleet-\(party.kind.rawValue)-\(party.index)")
                mutations.append(.deleteUserCertificates(party.eui))
                mutations.append(.putUserCertificate(UserCertificateRecord(eui: party.eui, issuerName: entry.certificate.issuerName,
                                                                           serialNumber: entry.certificate.serialNumber, role: RemotePartyRole.xmlSigning,
                                                                           der: entry.certificate.der)))
            }
            // The party's GBCS certificates (DS and KA) in its remote-party role: critical
            // commands it signs, and device answers MAC'd and encrypted for it.
            let gbcsRole = party.kind == .supplier ? RemotePartyRole.supplier : RemotePartyRole.networkOperator
            for usage in [Keystore.Usage.digitalSignature, .keyAgreement]
            where !pki.keystore.entries.contains(where: { $0.eui == party.eui && $0.role == gbcsRole && $0.usage == usage }) {
                _ = try pki.issue(eui: party.eui, role: gbcsRole, usage: usage,
                                  name: "fleet-\(party.kind.rawValue)-\(party.index)-\(usage == .digitalSignature ? "ds" : "ka")")
            }
            var user = existing[party.eui] ?? UserRecord(eui: party.eui, name: party.name, roles: party.roles, responseURL: responseURL)
            user.name = party.name
            user.roles = party.roles
            if let responseURL { user.responseURL = responseURL }
            if let answerFormat { user.answerFormat = answerFormat }
            mutations.append(.putUser(user))
        }
        try pki.write(to: smki)
        mutations.append(.setMeta(key: "fleet", value: "\(fleet.count) premises, seed \(fleet.spec.seed)"))
        mutations.append(.audit(AuditEvent(kind: .provisioning, detail: "fleet of \(fleet.count) premises (seed \(fleet.spec.seed)) registered: "
                                                    + fleet.parties.map { "\($0.eui) \($0.name) (\($0.roles.codes))" }.joined(separator: ", "))))
        mutations.append(.bumpRegistryVersion)
        try await store.apply(mutations)
        return fleet.parties
    }
}
