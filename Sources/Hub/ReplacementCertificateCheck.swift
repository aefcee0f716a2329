import DUIS
import Foundation
import SMKI

/// The certificates DCC itself puts on a device. DCC signs 6.21 (handover of a
/// DCC-controlled device) and 6.23 (change of supplier) in its own name, and its access
/// control broker sends 8.5 (service opt-out): a device trusts what those carry because
/// DCC sent it. So before DCC accepts one, each replacement certificate must be an SMKI
/// organisation certificate of the role whose cells it replaces, issued by the SMKI
/// organisation CA that issued the certificates of DCC's own senders (the CA is named in the
/// request's certification path, and trusted only if it issued one of those).
///
/// The party is not checked against the requester: DCC's own templates send 6.23 from one
/// supplier with another's certificates and 6.21 from a supplier with a network operator's.
/// Pure: a reason to refuse, or nil.
struct ReplacementCertificateCheck: Sendable {
    /// The certificates of DCC's parties that send these commands in their own name: the
    /// access control broker's (6.21, 8.5) and the Transitional CoS party's (6.23). Not the
    /// whole keystore: a test keystore (ZAZ1's) also holds users' certificates from other
    /// CAs, which DCC does not vouch for.
    let dcc: [SMKICertificate]

    /// The check against a keystore's certificates, of which DCC's senders' count.
    init(keystore: [SMKICertificate]) {
        dcc = keystore.filter { $0.role == RemotePartyRole.accessControlBroker || $0.role == RemotePartyRole.transitionalCoS }
    }

    /// The SRVs whose certificates DCC vouches for.
    static let srvs: Set<SRV> = ["6.21", "6.23", "8.5"]

    func problem(srv: SRV, body: ElementTree) -> String? {
        guard Self.srvs.contains(srv) else { return nil }
        let role: Int
        switch srv {
        case "6.23":
            role = RemotePartyRole.supplier
        case "6.21":
            switch body.value("RemotePartyRole") {
            case "Supplier": role = RemotePartyRole.supplier
            case "NetworkOperator": role = RemotePartyRole.networkOperator
            default: return "\(srv) hands over a Supplier's or a Network Operator's credentials only"
            }
        default:
            role = RemotePartyRole.accessControlBroker
        }
        // Exactly DUIS's cells: what the device and the command builder read.
        let replacements: ReplacementCertificates
        do {
            replacements = try ReplacementCertificates(srv: srv, body: body)
        } catch {
            return error.reason
        }
        // The path's CAs that issued DCC's senders' certificates: SMKI's organisation CA.
        let containers = body.children.filter { $0.name == "CertificationPathCertificates" }
        guard containers.count == 1, let container = containers.first else {
            return "\(srv) carries \(containers.count) CertificationPathCertificates, DUIS has one"
        }
        let path = container.children
        guard (1...3).contains(path.count), path.allSatisfy({ $0.name == "Certificate" }) else {
            return "CertificationPathCertificates holds \(path.count) elements, DUIS takes 1 to 3 Certificate"
        }
        var authorities: [SMKICertificate] = []
        for element in path {
            guard let ca = Self.certificate(element) else { return "a certificate of the certification path is not an X.509 certificate" }
            if dcc.contains(where: { $0.isIssued(by: ca) }) { authorities.append(ca) }
        }
        guard !authorities.isEmpty else {
            return "\(srv)'s certification path names no SMKI organisation CA that issued DCC's certificates"
        }
        // One party's cells: the device takes the new party from its certificates.
        var party: EUI64?
        for (cell, der) in replacements.certificates {
            guard let certificate = try? SMKICertificate(der: der) else { return "\(cell.rawValue) is not an X.509 certificate" }
            guard let subject = certificate.subjectEUI else { return "\(cell.rawValue) names no party (no subject EUI-64)" }
            if let party, party != subject { return "\(cell.rawValue) is \(subject)'s, the other replacement certificates \(party)'s: one party's cells at a time" }
            party = subject
            guard certificate.role == role else {
                return "\(cell.rawValue) is a certificate of role \(certificate.role.map(String.init) ?? "none"), not of role \(role) whose cells \(srv) replaces"
            }
            guard authorities.contains(where: { certificate.isIssued(by: $0) }) else {
                return "\(cell.rawValue) was not issued by the SMKI organisation CA of the certification path"
            }
        }
        return nil
    }

    /// A certificate from a base64 element, bounded, or nil.
    static func certificate(_ element: ElementTree) -> SMKICertificate? {
        guard element.children.isEmpty, let der = ReplacementCertificates.decode(element.text) else { return nil }
        return try? SMKICertificate(der: der)
    }
}
