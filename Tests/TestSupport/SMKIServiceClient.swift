import AsyncHTTPClient
import Crypto
import DUIS
import Foundation
import GBCS
import NIOCore
import SMKI

/// DCC Boxed's SMKI service as a user's tooling calls it (dccboxed-keystore's search and
/// retrieval, POSTed XML with its API key).
public enum SMKIServiceClient {
    public struct Answer: Sendable {
        public let status: Int
        public let contentType: String
        public let tree: ElementTree?
    }

    public static func post(_ url: String, _ root: String, _ children: [(String, String)]) async throws -> Answer {
        let body = #"<?xml version="1.0" encoding="utf-8"?>"# + "<\(root)>" + children.map { "<\($0.0)>\($0.1)</\($0.0)>" }.joined() + "</\(root)>"
        var request = HTTPClientRequest(url: url + "?apikey=u3bg9gt38htd0j2")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let document = try? XMLDocument.parse(Array(bytes.readableBytesView))
        let tree = document?.root.map(ElementTree.init)
        return Answer(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "", tree: tree)
    }

    /// A search answer's results, each as its fields.
    public static func results(_ answer: Answer) -> [[String: String]] {
        (answer.tree?.children ?? []).filter { $0.name == "Result" }.map { result in
            Dictionary(result.children.map { ($0.name, $0.text) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public struct NoCertificate: Error {}

    /// A certificate by serial: its fields and the certificate.
    public static func retrieve(_ base: String, serial: String) async throws -> (fields: [String: String], certificate: SMKICertificate) {
        let answer = try await post(base + "/services/retrievecertificate", "CertificateDataRequest", [("CertificateSerial", serial)])
        guard answer.status == 200, let response = answer.tree?.children.first(where: { $0.name == "CertificateResponse" }) else { throw NoCertificate() }
        let fields = Dictionary(response.children.map { ($0.name, $0.text) }, uniquingKeysWith: { a, _ in a })
        guard let der = Data(base64Encoded: fields["CertificateBody"] ?? "") else { throw NoCertificate() }
        return (fields, try SMKICertificate(der: Array(der)))
    }

    /// The in-use DS and KA certificates of `device`, searched and retrieved.
    public static func deviceCertificates(_ base: String, device: EUI64) async throws -> [Keystore.Usage: SMKICertificate] {
        let answer = try await post(base + "/services/certificatesearch", "CertificateSearchRequest", [("CertificateSubjectAltName", device.description)])
        var found: [Keystore.Usage: SMKICertificate] = [:]
        for result in results(answer) where result["CertificateStatus"] == "I" {
            guard let serial = result["CertificateSerial"] else { continue }
            let usage: Keystore.Usage = result["CertificateUsage"] == "KA" ? .keyAgreement : .digitalSignature
            found[usage] = try await retrieve(base, serial: serial).certificate
        }
        return found
    }
}

/// What a DCC user opens devices' answers with: its own keys (a keystore) and the devices'
/// certificates, fetched from the SMKI service.
public final class SMKIServiceKeys: GBCSKeyStore, @unchecked Sendable {
    let users: ZAZ1KeyStore
    let devices: [EUI64: [Keystore.Usage: SMKICertificate]]

    /// Fetches the certificates of `devices` from the SMKI service at `base`.
    public static func fetch(_ base: String, devices: [EUI64], users: Keystore) async throws -> SMKIServiceKeys {
        var certificates: [EUI64: [Keystore.Usage: SMKICertificate]] = [:]
        for device in devices {
            let found = try await SMKIServiceClient.deviceCertificates(base, device: device)
            if !found.isEmpty { certificates[device] = found }
        }
        return SMKIServiceKeys(users: ZAZ1KeyStore(users), devices: certificates)
    }

    init(users: ZAZ1KeyStore, devices: [EUI64: [Keystore.Usage: SMKICertificate]]) {
        self.users = users
        self.devices = devices
    }

    /// How many devices' certificates were fetched.
    public var deviceCount: Int { devices.count }

    public func publicKey(of party: EUI64, usage: Keystore.Usage) -> P256.Signing.PublicKey? {
        if let certificates = devices[party] { return certificates[usage]?.signingKey }
        return users.publicKey(of: party, usage: usage)
    }

    public func signingKey(of party: EUI64) -> P256.Signing.PrivateKey? { users.signingKey(of: party) }
    public func keyAgreementKey(of party: EUI64) -> P256.KeyAgreement.PrivateKey? { users.keyAgreementKey(of: party) }
    public func isDevice(_ party: EUI64) -> Bool { devices[party] != nil }
}
