import DUIS
import Foundation
import SMKI

/// The certificates DCC itself puts on a device. DCC signs 6.21 (handover of a
/// DCC-controlled device) and 6.23 (change of supplier) in its own name, and its access
/// control broker sends 8.5 (service opt-out): a device trusts what those carry because
/// DCC sent it. So before DCC accepts one, each replacement certificate must be an SMKI
/// organisation certificate of the role whose cells it replaces, issued by the SMKI
/// organisation CA that issued DCC's own keystore's certificates (the CA is named in the
/// request's certification path, and trusted only if it issued one of those).
///
/// The party is not checked against the requester: DCC's own templates send 6.23 from one
/// supplier with another's certificates and 6.21 from a supplier with a network operator's.
/// Pure: a reason to refuse, or nil.
struct ReplacementCertificateCheck: Sendable {
    /// The organisation certificates DCC holds (its keystore's).
    let known: [SMKICertificate]

    /// The longest certificate read (SMKI organisation certificates are well under 1 KiB).
    static let maximumCertificate = 4096

    /// The SRVs whose certificates DCC vouches for.
    static let srvs: Set<SRV> = ["6.21", "6.23", "8.5"]

    func problem(srv: SRV, body: ElementTree) -> String? {
        guard Self.srvs.contains(srv) else { return nil }
        let container: ElementTree?
        let role: Int
        switch srv {
        case "6.23":
            container = body.child("SupplierReplacementCertificates")
            role = RemotePartyRole.supplier
        case "6.21":
            container = body.child("ReplacementCertificates")
            switch body.value("RemotePartyRole") {
            case "Supplier": role = RemotePartyRole.supplier
            case "NetworkOperator": role = RemotePartyRole.networkOperator
            default: return "\(srv) hands over a Supplier's or a Network Operator's credentials only"
            }
        default:
            container = body.child("ReplacementCertificates")
            role = RemotePartyRole.accessControlBroker
        }
        guard let container else { return "\(srv) carries no replacement certificates" }
        // The path's CAs that issued certificates DCC holds: SMKI's organisation CA.
        let path = body.child("CertificationPathCertificates")?.children.filter { $0.name == "Certificate" } ?? []
        var authorities: [SMKICertificate] = []
        for element in path {
            guard let ca = Self.certificate(element) else { return "a certificate of the certification path is not an X.509 certificate" }
            if known.contains(where: { $0.isIssued(by: ca) }) { authorities.append(ca) }
        }
        guard !authorities.isEmpty else {
            return "\(srv)'s certification path names no SMKI organisation CA that issued DCC's certificates"
        }
        let certificates = container.children.filter { $0.name.hasSuffix("Certificate") }
        guard !certificates.isEmpty else { return "\(srv) carries no replacement certificates" }
        for element in certificates {
            guard let certificate = Self.certificate(element) else { return "\(element.name) is not an X.509 certificate" }
            guard certificate.role == role else {
                return "\(element.name) is a certificate of role \(certificate.role.map(String.init) ?? "none"), not of role \(role) whose cells \(srv) replaces"
            }
            guard authorities.contains(where: { certificate.isIssued(by: $0) }) else {
                return "\(element.name) was not issued by the SMKI organisation CA of the certification path"
            }
        }
        return nil
    }

    /// A certificate from a base64 element, bounded, or nil.
    static func certificate(_ element: ElementTree) -> SMKICertificate? {
        guard element.children.isEmpty else { return nil }
        let compact = element.text.filter { !$0.isWhitespace }
        guard compact.utf8.count <= (maximumCertificate / 3 + 1) * 4, let data = Data(base64Encoded: compact), !data.isEmpty else { return nil }
        return try? SMKICertificate(der: [UInt8](data))
    }
}
