/// The four companies that own GB's gas distribution networks.
public enum GasTransporter: Int, Sendable, CaseIterable, Codable {
    case cadent, ngn, sgn, wwu

    public var name: String {
        switch self {
        case .cadent: return "Cadent Gas"
        case .ngn: return "Northern Gas Networks"
        case .sgn: return "SGN"
        case .wwu: return "Wales & West Utilities"
        }
    }
}
