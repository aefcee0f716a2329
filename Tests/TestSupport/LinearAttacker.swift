/// An attacker that knows the totals of some sets of households and finds every group of
/// fewer than k whose total it can compute, by Gaussian elimination over the rationals
/// (exact, with Int fractions: the systems are small).
public struct Attacker {
    public let universe: [Int64]

    public init(universe: [Int64]) { self.universe = universe }

    func vector(_ set: Set<Int64>) -> [Fraction] { universe.map { set.contains($0) ? Fraction(1) : Fraction(0) } }

    /// Row-reduced basis of the span.
    func basis(_ sets: [Set<Int64>]) -> [[Fraction]] {
        var rows: [[Fraction]] = []
        for set in sets { rows = reduce(rows, adding: vector(set)) }
        return rows
    }

    func reduce(_ basis: [[Fraction]], adding vector: [Fraction]) -> [[Fraction]] {
        var v = vector
        for row in basis {
            guard let pivot = row.firstIndex(where: { !$0.isZero }), !v[pivot].isZero else { continue }
            let factor = v[pivot] / row[pivot]
            for index in v.indices { v[index] = v[index] - factor * row[index] }
        }
        return v.contains(where: { !$0.isZero }) ? basis + [v] : basis
    }

    func inSpan(_ basis: [[Fraction]], _ set: Set<Int64>) -> Bool { reduce(basis, adding: vector(set)).count == basis.count }

    /// Groups of 1 to `below - 1` households (classes of households the released span
    /// cannot tell apart, and pairs of them) computable with the releases but not without.
    public func smallGroupsIsolated(known: [Set<Int64>], released: [Set<Int64>], below k: Int) -> [[Int64]] {
        let withReleases = basis(known + released)
        let without = basis(known)
        // Households always weighted alike in the span form classes; every computable group
        // is a union of classes.
        var classes: [[Fraction]: [Int64]] = [:]
        for (index, household) in universe.enumerated() { classes[withReleases.map { $0[index] }, default: []].append(household) }
        let groups = Array(classes.values)
        var candidates = groups.filter { $0.count < k }.map { Set($0) }
        for i in groups.indices { for j in groups.indices where i < j && groups[i].count + groups[j].count < k { candidates.append(Set(groups[i] + groups[j])) } }
        return candidates.filter { inSpan(withReleases, $0) && !inSpan(without, $0) }.map { $0.sorted() }
    }
}

/// An exact fraction (small systems only).
public struct Fraction: Hashable, Sendable {
    var numerator: Int
    var denominator: Int

    init(_ value: Int) { (numerator, denominator) = (value, 1) }
    init(_ n: Int, _ d: Int) {
        let sign = d < 0 ? -1 : 1
        var (a, b) = (abs(n), abs(d))
        while b != 0 { (a, b) = (b, a % b) }
        let g = max(a, 1)
        (numerator, denominator) = (sign * n / g, sign * d / g)
    }

    var isZero: Bool { numerator == 0 }
    static func - (l: Fraction, r: Fraction) -> Fraction { Fraction(l.numerator * r.denominator - r.numerator * l.denominator, l.denominator * r.denominator) }
    static func * (l: Fraction, r: Fraction) -> Fraction { Fraction(l.numerator * r.numerator, l.denominator * r.denominator) }
    static func / (l: Fraction, r: Fraction) -> Fraction { Fraction(l.numerator * r.denominator, l.denominator * r.numerator) }
}

/// A seeded generator, so a failure repeats.
public struct SplitMix {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(max(bound, 1)))
    }
}
