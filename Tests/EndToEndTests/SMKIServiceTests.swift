import AsyncHTTPClient
import Crypto
import DUIS
import Devices
import Foundation
import Hub
import NIOCore
import SMKI
import Testing
import TestSupport
import X509

/// SMKI's repository services as DCC Boxed tooling calls them: search by an
/// organisation's EUI (its DS certificate carries ZAZ1's key) and by a device's EUI
/// (in-use DS and KA device certificates naming the device), then retrieval by serial.
@Suite(.serialized) struct SMKIServiceTests {
    typealias Answer = SMKIServiceClient.Answer

    static func post(_ url: String, _ root: String, _ children: [(String, String)]) async throws -> Answer {
        try await SMKIServiceClient.post(url, root, children)
    }

    static func results(_ answer: Answer) -> [[String: String]] { SMKIServiceClient.results(answer) }

    static func retrieve(_ base: String, serial: String) async throws -> (fields: [String: String], certificate: SMKICertificate) {
        try await SMKIServiceClient.retrieve(base, serial: serial)
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func organisationAndDeviceCertificatesAreSearchedAndRetrieved() async throws {
        let fleetSpec = FleetSpec(seed: 7, premises: 20, createdDay: Timestamp.now().day.number)
        let hub = try await RunningHub.start(zaz1: true, fleet: fleetSpec)
        let base = hub.baseURL
        let zaz1 = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"))

        // An organisation: DCC Boxed's supplier. Its DS certificates carry ZAZ1's keys.
        let supplier = Provisioning.supplier
        let found = try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectName", supplier.description)])
        #expect(found.status == 200 && found.contentType.hasPrefix("application/xml"))
        #expect(found.tree?.value("ResponseCode") == "200" && found.tree?.value("AuditReference")?.isEmpty == false)
        let organisation = Self.results(found)
        #expect(!organisation.isEmpty && organisation.allSatisfy { $0["CertificateSubjectName"] == supplier.description && $0["CertificateStatus"] == "I" })
        let xmlSigning = try #require(organisation.first { $0["CertificateRole"] == "135" && $0["CertificateUsage"] == "DS" })
        let (fields, certificate) = try await Self.retrieve(base, serial: try #require(xmlSigning["CertificateSerial"]))
        #expect(fields["CertificateSubjectName"] == supplier.description && fields["CertificateRole"] == "135")
        let zaz1Key = try #require(zaz1.xmlSigningEntry(for: supplier)?.signingKey)
        #expect(certificate.signingKey?.rawRepresentation == zaz1Key.publicKey.rawRepresentation, "the DS certificate carries ZAZ1's key")

        // A device of the default premises and one of the fleet: in-use DS and KA certificates.
        let fleet = try Fleet.read(from: HubConfiguration.fleetURL(hub.dataDirectory))
        for (device, seed) in [(EUI64(0x00DB_1234_5678_90A0), UInt64(0)), (fleet.premises(3).eui(.esme), fleetSpec.seed)] {
            let answer = try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectAltName", device.description)])
            let results = Self.results(answer)
            #expect(Set(results.compactMap { $0["CertificateUsage"] }) == ["DS", "KA"], "\(device): \(results)")
            for result in results {
                #expect(result["CertificateSubjectAltName"] == device.description && result["CertificateStatus"] == "I" && result["CertificateRole"] == nil)
                let (fields, certificate) = try await Self.retrieve(base, serial: try #require(result["CertificateSerial"]))
                #expect(fields["CertificateSubjectAltName"] == device.description)
                #expect(certificate.hardwareSerialEUI == device, "the EUI is the hwSerialNum")
                #expect(certificate.certificate.subject.isEmpty)
                let usage = try #require(try certificate.certificate.extensions.keyUsage)
                if result["CertificateUsage"] == "DS" {
                    #expect(usage.digitalSignature && !usage.keyAgreement)
                    #expect(certificate.signingKey?.rawRepresentation == DeviceCredentials.signingKey(eui: device, seed: seed).publicKey.rawRepresentation)
                } else {
                    #expect(usage.keyAgreement && !usage.digitalSignature)
                    #expect(certificate.signingKey?.rawRepresentation == DeviceCredentials.keyAgreementKey(eui: device, seed: seed).publicKey.rawRepresentation)
                }
                // Issued by gbsm's device CA.
                let ca = try DeviceCredentials.open(smkiDirectory: HubConfiguration(dataDirectory: hub.dataDirectory).keystoreURL.deletingLastPathComponent()).ca
                let caKey = try #require(ca.signingKey)
                #expect(Certificate.PublicKey(caKey).isValidSignature(certificate.certificate.signature, for: certificate.certificate))
                #expect(certificate.certificate.issuer == ca.certificate.subject)
            }
        }

        // Misses are 402, unreadable requests 401, as DCC Boxed's client expects; an IHD has no certificate.
        #expect(try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectAltName", "11-22-33-44-55-66-77-88")]).status == 402)
        #expect(try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectAltName", "00-DB-12-34-56-78-90-A5")]).status == 402)
        #expect(try await Self.post(base + "/services/retrievecertificate", "CertificateDataRequest", [("CertificateSerial", "47010000000000000001000000000000")]).status == 402)
        #expect(try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("Nonsense", "1")]).status == 401)
        #expect(try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectName", "not an EUI")]).status == 401)
        // Narrowed by usage and role, as the client filters.
        let narrowed = try await Self.post(base + "/services/certificatesearch", "CertificateSearchRequest",
                                           [("CertificateSubjectName", supplier.description), ("CertificateUsage", "KA")])
        #expect(Self.results(narrowed).allSatisfy { $0["CertificateUsage"] == "KA" })

        // Every organisation certificate in one archive.
        let archive = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/services/organisationcertificates"), timeout: .seconds(10))
        let tar = Array(try await archive.body.collect(upTo: 4 << 20).readableBytesView)
        #expect(archive.status.code == 200 && tar.count % 512 == 0)
        let pems = String(decoding: tar, as: UTF8.self).components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        #expect(pems == (try Keystore.load(from: HubConfiguration(dataDirectory: hub.dataDirectory).keystoreURL)).entries.filter { $0.role != nil }.count, "\(pems) certificates in the archive")
        await hub.stop()
    }
}
