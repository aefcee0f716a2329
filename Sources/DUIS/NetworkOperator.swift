/// The network operators of GB: six DNO groups run the 14 electricity licence areas, and
/// four companies own the gas distribution networks.
public enum NetworkOperator: Int, Sendable, CaseIterable, Codable {
    case ukpn, nged, spen, npg, enwl, ssen

    public var name: String {
        switch self {
        case .ukpn: return "UK Power Networks"
        case .nged: return "National Grid Electricity Distribution"
        case .spen: return "SP Energy Networks"
        case .npg: return "Northern Powergrid"
        case .enwl: return "Electricity North West"
        case .ssen: return "Scottish and Southern Electricity Networks"
        }
    }
}
