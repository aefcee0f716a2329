/// SM WAN coverage at a postcode, as a communications service provider tells DCC and DCC
/// answers it in the WAN matrix (12.1, `DSPWANMatrixResponse`): whether the WAN reaches
/// the postcode, how likely a communications hub there connects, the technology, and when
/// coverage is expected where it is missing.
///
/// It lives in DUIS because it is the response's shape: the WAN that knows the coverage
/// (gbsm's `WANModel`) and DCC that answers with it (`Hub`) share it without knowing each
/// other.
public struct WANCoverage: Sendable, Hashable {
    public var available: Bool
    public var likelihood: ConnectivityLikelihood
    /// `WANTechnologyType`: 1 to 30 characters.
    public var technology: String
    public var anticipated: Timestamp?
    /// At most 50 characters in DUIS.
    public var auxiliaryEquipment: String?

    public init(available: Bool, likelihood: ConnectivityLikelihood, technology: String, anticipated: Timestamp? = nil, auxiliaryEquipment: String? = nil) {
        self.available = available
        self.likelihood = likelihood
        self.technology = technology
        self.anticipated = anticipated
        self.auxiliaryEquipment = auxiliaryEquipment
    }
}

/// DUIS's `ConnectivityLikelihood`: how likely a communications hub at the postcode
/// connects to the SM WAN.
public enum ConnectivityLikelihood: String, Sendable, Hashable, CaseIterable {
    case high = "High"
    case medium = "Medium"
    case low = "Low"
}
