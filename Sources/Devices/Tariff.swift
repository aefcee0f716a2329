/// Tariffs as a SMETS2 meter holds them. Prices are in millipence (thousandths of a
/// penny) per kWh, standing charges in millipence per day; money on the meter (balances,
/// credits, debts) is in pence.
public struct ElectricityTariff: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable { case single, economy7, peakTimeOfUse }

    public var kind: Kind
    /// The TOU rate (1 to 4) of each UTC half hour.
    public var switching: [UInt8]
    /// Price of each TOU rate, millipence per kWh.
    public var prices: [Int]
    /// Block thresholds within a billing period, kWh (empty: one block).
    public var blockThresholds: [Int]
    /// Price added in each block above the first, millipence per kWh.
    public var blockPrices: [Int]
    public var standingCharge: Int

    public func rate(slot: Int) -> Int { Int(switching[slot]) }

    /// A supplier's tariff of a kind, near the GB price cap of 2025–26, scaled by the
    /// supplier's pricing (per mille).
    public static func make(_ kind: Kind, perMille: Int, prepayment: Bool) -> ElectricityTariff {
        func scaled(_ value: Int) -> Int { value * perMille / 1000 }
        let standing = scaled(prepayment ? 49_740 : 51_370)
        switch kind {
        case .single:
            return ElectricityTariff(kind: kind, switching: Array(repeating: 1, count: 48), prices: [scaled(25_730)],
                                     blockThresholds: [], blockPrices: [], standingCharge: standing)
        case .economy7:
            // Seven hours of cheap electricity, 00:30 to 07:30 GMT.
            var switching = [UInt8](repeating: 1, count: 48)
            for slot in 1...14 { switching[slot] = 2 }
            return ElectricityTariff(kind: kind, switching: switching, prices: [scaled(30_910), scaled(14_760)],
                                     blockThresholds: [], blockPrices: [], standingCharge: standing)
        case .peakTimeOfUse:
            // Dearer from 16:00 to 19:00 UTC, cheap overnight.
            var switching = [UInt8](repeating: 1, count: 48)
            for slot in 32..<38 { switching[slot] = 3 }
            for slot in 2..<10 { switching[slot] = 2 }
            return ElectricityTariff(kind: kind, switching: switching, prices: [scaled(24_500), scaled(15_000), scaled(38_900)],
                                     blockThresholds: [], blockPrices: [], standingCharge: standing)
        }
    }
}

/// A gas tariff: SMETS2 gas meters run block tariffs (here one block) with a standing
/// charge.
public struct GasTariff: Sendable, Hashable, Codable {
    public var price: Int
    public var blockThresholds: [Int]
    public var standingCharge: Int

    public static func make(perMille: Int, prepayment: Bool) -> GasTariff {
        GasTariff(price: 6_330 * perMille / 1000, blockThresholds: [], standingCharge: (prepayment ? 29_440 : 29_820) * perMille / 1000)
    }
}

/// Prepayment settings a supplier configures on the meter (pence).
public struct PrepaymentConfiguration: Sendable, Hashable, Codable {
    public var lowCreditThreshold = 300
    public var emergencyCreditLimit = 1_000
    public var emergencyCreditThreshold = 200
    public var disablementThreshold = 0
    public var maxCreditThreshold = 25_000
    public var maxMeterBalance = 50_000
    /// Share of each top-up that recovers payment-based debt, percent.
    public var debtRecoveryPerPayment = 10
    /// Time-based debt recovery per day, pence.
    public var debtRecoveryPerDay = 50
    public var debtRecoveryRateCap = 2_000
    public var suspendDebtDisabled = true
    public var suspendDebtEmergency = true

    public init() {}
}
