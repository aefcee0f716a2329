/// LoadModel: household demand, computed on demand and deterministically. A home is a
/// small profile (who lives there, what they own, how their house holds heat); its
/// half-hourly electricity import, export, reactive energy and gas for any day follow
/// from that profile, the calendar, the region's weather and the sun, through random
/// numbers derived by hashing (profile seed, day, purpose). Nothing is stored: any day
/// of any home can be computed in microseconds, in any order.

/// SplitMix64: the generator and, through `mix`, the hash behind every random choice.
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.finalize(state)
    }

    @inline(__always)
    static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A uniform double in [low, high).
    @inline(__always)
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// An approximately normal value (sum of uniforms), cheap and bounded at ±3σ.
    @inline(__always)
    public mutating func normal(_ mean: Double, _ deviation: Double) -> Double {
        let sum = unit() + unit() + unit() + unit() + unit() + unit() - 3
        return mean + deviation * sum * 1.414
    }

    /// True with probability `p`.
    @inline(__always)
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// An index drawn with the given weights.
    public mutating func pick(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var target = unit() * total
        for (index, weight) in weights.enumerated() {
            target -= weight
            if target < 0 { return index }
        }
        return weights.count - 1
    }
}

/// Combines values into one well-mixed 64-bit hash (for deriving independent streams).
@inline(__always)
public func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    SplitMix64.finalize(a ^ SplitMix64.finalize(b &+ 0x9E37_79B9_7F4A_7C15))
}

@inline(__always)
public func mix(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 { mix(mix(a, b), c) }

/// A generator for one purpose on one day of one home.
@inline(__always)
public func stream(_ seed: UInt64, day: Int32, purpose: UInt64) -> SplitMix64 {
    SplitMix64(seed: mix(seed, UInt64(bitPattern: Int64(day)), purpose))
}
