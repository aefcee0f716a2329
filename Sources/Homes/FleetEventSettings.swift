/// How often things go wrong in the emulated homes (`HomeEvents` in `Homes`).
public struct FleetEventSettings: Sendable {
    /// Power interruptions per premises per year, as LV faults affecting a feeder (GB's
    /// customer interruptions are about 0.5 per customer a year).
    public var interruptionsPerPremisesYear: Double
    /// Tamper alerts per premises per year.
    public var tampersPerPremisesYear: Double
    /// Whether prepayment meters raise low credit alerts as their balances run down.
    public var lowCreditAlerts: Bool
    public var seed: UInt64

    public init(interruptionsPerPremisesYear: Double = 0.5, tampersPerPremisesYear: Double = 0.0005, lowCreditAlerts: Bool = true, seed: UInt64 = 0x6576_656E_7473) {
        self.interruptionsPerPremisesYear = interruptionsPerPremisesYear
        self.tampersPerPremisesYear = tampersPerPremisesYear
        self.lowCreditAlerts = lowCreditAlerts
        self.seed = seed
    }

    /// Nothing happens unless injected (tests that want quiet).
    public static let quiet = FleetEventSettings(interruptionsPerPremisesYear: 0, tampersPerPremisesYear: 0, lowCreditAlerts: false)
}
