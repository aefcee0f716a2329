import Foundation

/// The certificates a request that DCC sends in its own name puts on a device: 6.21
/// (handover of a DCC-controlled device), 6.23 (change of supplier) and 8.5 (service opt
/// out). DUIS gives each its own container and its own cells (digital signing, key
/// agreement, key agreement for prepayment top-up), some required, in one order.
///
/// One reader for everyone who looks at them (DCC's check of the certificates, the GBCS
/// command builder, the device acting on the command), so none of them reads more than
/// another: a body the schema would refuse (a cell twice, a cell the SRV has not, an
/// element of another name, text where a certificate belongs) is refused here too, for a
/// server run with schema validation off.
public struct ReplacementCertificates: Sendable, Equatable {
    /// A trust anchor cell of the remote party's role on the device, as DUIS names it.
    public enum Cell: String, Sendable, CaseIterable {
        case digitalSigning = "DigitalSigningCertificate"
        case keyAgreement = "KeyAgreementCertificate"
        case keyAgreementTopUp = "KeyAgreementTopUpCertificate"
    }

    /// What DUIS lets one request carry.
    public struct Form: Sendable, Equatable {
        /// The body's element holding the certificates.
        public let container: String
        /// The cells it may hold, in the schema's order.
        public let cells: [Cell]
        /// Those it must hold.
        public let required: Set<Cell>
        /// The body's element with the new floor of the role's command sequence numbers, and
        /// the one with its prepayment top-up floor (a Supplier's only), as DUIS names them
        /// for this SRV: the command carries these, so the device reads no other.
        public let floor: String
        public let prepaymentFloor: String?
    }

    /// The longest certificate read: SMKI organisation certificates are well under 1 KiB.
    public static let maximumCertificate = 2048

    /// The form of an SRV's replacement certificates (DUIS 5.4: ReplacementCertificatesDCCHandover,
    /// ReplacementCertificatesCoS, ReplacementCertificatesACB), or nil for another SRV.
    public static func form(of srv: SRV) -> Form? {
        switch srv {
        case "6.21":
            return Form(container: "ReplacementCertificates", cells: Cell.allCases, required: [.digitalSigning],
                        floor: "RemotePartyFloorSeqNumber", prepaymentFloor: "RemotePartyPrepaymentTopUpFloorSeqNumber")
        case "6.23":
            return Form(container: "SupplierReplacementCertificates", cells: Cell.allCases, required: [.digitalSigning],
                        floor: "SupplierFloorSeqNumber", prepaymentFloor: "SupplierPrepaymentTopUpFloorSeqNumber")
        case "8.5":
            return Form(container: "ReplacementCertificates", cells: [.digitalSigning, .keyAgreement], required: [.keyAgreement],
                        floor: "ACBFloorSeqNumber", prepaymentFloor: nil)
        default:
            return nil
        }
    }

    /// The certificates, in the request's order (DER).
    public let certificates: [(cell: Cell, der: [UInt8])]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.certificates.map(\.cell) == rhs.certificates.map(\.cell) && lhs.certificates.map(\.der) == rhs.certificates.map(\.der)
    }

    /// The DER of a cell's certificate, when the request carries one.
    public subscript(cell: Cell) -> [UInt8]? { certificates.first { $0.cell == cell }?.der }

    /// Why a body's replacement certificates cannot be read.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// The replacement certificates of an SRV's body (the SRV's element), exactly as DUIS
    /// defines them: one container, its cells in order, each once, each base64 of at most
    /// `maximumCertificate` octets. Whether the octets are a certificate, of which party,
    /// is for the reader to check.
    public init(srv: SRV, body: ElementTree) throws(Problem) {
        guard let form = Self.form(of: srv) else { throw Problem(reason: "\(srv) carries no replacement certificates") }
        let containers = body.children.filter { $0.name == form.container }
        guard containers.count == 1, let container = containers.first else {
            throw Problem(reason: "\(srv)'s \(body.name) holds \(containers.count) \(form.container), DUIS has one")
        }
        var read: [(cell: Cell, der: [UInt8])] = []
        var next = 0  // the first of form.cells the next element may be
        for element in container.children {
            guard let cell = Cell(rawValue: element.name), let index = form.cells.firstIndex(of: cell) else {
                throw Problem(reason: "\(form.container) holds \(untrusted(element.name, limit: 40)), not one of \(form.cells.map(\.rawValue).joined(separator: ", "))")
            }
            guard index >= next else {
                throw Problem(reason: "\(form.container) holds \(cell.rawValue) twice or out of DUIS's order (\(form.cells.map(\.rawValue).joined(separator: ", ")))")
            }
            next = index + 1
            guard element.children.isEmpty, element.attributes.isEmpty else { throw Problem(reason: "\(cell.rawValue) is not base64 text") }
            guard let der = Self.decode(element.text) else {
                throw Problem(reason: "\(cell.rawValue) is not base64 of 1 to \(Self.maximumCertificate) octets")
            }
            read.append((cell, der))
        }
        for cell in form.cells where form.required.contains(cell) && !read.contains(where: { $0.cell == cell }) {
            throw Problem(reason: "\(form.container) has no \(cell.rawValue), which \(srv) requires")
        }
        certificates = read
    }

    /// Base64 text of at most `maximumCertificate` octets (line breaks and spaces allowed,
    /// the raw text bounded before anything is copied), or nil.
    public static func decode(_ text: String) -> [UInt8]? {
        let encoded = (maximumCertificate + 2) / 3 * 4
        guard text.utf8.count <= encoded * 2 else { return nil }
        let compact = text.filter { !$0.isWhitespace }
        guard compact.utf8.count <= encoded, let data = Data(base64Encoded: compact), !data.isEmpty, data.count <= maximumCertificate else { return nil }
        return [UInt8](data)
    }
}
