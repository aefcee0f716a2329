/// The level of a unit of the network an operator runs and may meter.
public enum NetworkLevel: Int, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// An LV feeder (a "way" out of a secondary substation).
    case feeder
    /// A secondary (11 kV/400 V) substation.
    case secondary
    /// A primary (33/11 kV) substation.
    case primary

    public static func < (lhs: NetworkLevel, rhs: NetworkLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A unit of the network with every household on it (covered by a plan or not: a monitor
/// at the unit measures them all), identified by premises.
public struct NetworkUnit: Sendable, Hashable {
    public var key: String
    public var level: NetworkLevel
    public var members: Set<Int64>

    public init(key: String, level: NetworkLevel, members: Set<Int64>) {
        self.key = key
        self.level = level
        self.members = members
    }
}

/// A set of households whose total a user has received (any plan, any granularity) for
/// some time of one day, named after the group it was published as.
public struct ReleasedSet: Sendable, Hashable {
    public var key: String
    public var members: Set<Int64>

    public init(key: String, members: Set<Int64>) {
        self.key = key
        self.members = members
    }
}

/// Whether a new aggregate may join what a user already holds: the disclosure check of
/// "one release per user".
///
/// ## The model: what the operator is assumed to know
/// - Its network: which premises are on which feeder, secondary and primary substation.
/// - Which homes it read, and everything DCC released to it, under every plan it holds or
///   held, at every granularity and level, for the same day (a daily total and the 48 half
///   hours of that day are sums over the same household-periods).
/// - Its own measurements, as if exact (the households' sum, no losses, no other loads):
///   the total of any primary substation it chose to meter, and of any secondary
///   substation it chose to meter together with each of that substation's feeders (an LV
///   monitor sits in the substation and measures the transformer and every way out of it).
///   DCC does not know which it meters, so the check holds for every choice.
///
/// ## The rule, and why it holds
/// The units and the released sets must together be laminar (any two nested or disjoint).
/// For a laminar family the span of the sets' indicator vectors is the span of its atoms
/// (each set less the sets directly inside it), which are disjoint; every sum the operator
/// can compute, by any combination, is constant over each atom, so the smallest group it
/// can isolate is the smallest non-empty atom. The operator chooses the metered units; the
/// released sets are always in its family. For the new set and every set above it, the
/// check walks every choice of metering inside it and the sizes that set less what is
/// known inside it can take, and refuses the release when a choice that uses the new set
/// leaves 1 to k-1 households. Choices that do not use it were checked when what they use
/// was released, or are the operator's own measurements (a one-home feeder seen by its
/// substation's monitor is its own data) or what households chose to share (consent):
/// not DCC's to refuse. This induction needs the units and the consented households to
/// stay as they were, which `ReleaseLedger` and `PrivacyGuard` see to (a consent reaches
/// only days after the household's last release). Time adds nothing: a day's sets apply to periods of that day only, and
/// every value derivable from them is a combination of atom-by-period sums.
public struct ReleaseAudit: Sendable {
    public let minimumHouseholds: Int
    public let units: [NetworkUnit]
    /// Households whose own readings the user may hold (it has their consent for daily or
    /// half-hourly data): each is known alone, as if released by itself.
    public let knownHouseholds: Set<Int64>

    public init(minimumHouseholds: Int, units: [NetworkUnit], knownHouseholds: Set<Int64> = []) {
        self.minimumHouseholds = minimumHouseholds
        self.units = units
        self.knownHouseholds = knownHouseholds
    }

    /// Why `candidate` may not be released beside `released` (what the user already holds
    /// for the day), or nil when it may.
    public func problem(released: [ReleasedSet], candidate: ReleasedSet) -> String? {
        let k = minimumHouseholds
        if candidate.members.count < k { return "\(candidate.members.count) household(s), fewer than \(k)" }
        if released.contains(where: { $0.members == candidate.members }) { return nil }
        // One node per distinct set of households.
        var nodes: [Node] = []
        var index: [Set<Int64>: Int] = [:]
        func add(_ name: String, _ members: Set<Int64>, level: NetworkLevel?, released: Bool) {
            guard !members.isEmpty else { return }
            if let existing = index[members] {
                nodes[existing].released = nodes[existing].released || released
                // The same households as a unit of two levels (a one-feeder substation): the higher.
                nodes[existing].level = [nodes[existing].level, level].compactMap { $0 }.max()
            } else {
                index[members] = nodes.count
                nodes.append(Node(name: name, members: members, level: level, released: released))
            }
        }
        for unit in units { add(unit.key, unit.members, level: unit.level, released: false) }
        for set in released { add(set.key, set.members, level: nil, released: true) }
        let inNetwork = units.reduce(into: Set<Int64>()) { $0.formUnion($1.members) }
        for household in knownHouseholds.intersection(inNetwork.union(candidate.members)).sorted() {
            add("household \(household) (its own readings, with consent)", [household], level: nil, released: true)
        }
        add(candidate.key, candidate.members, level: nil, released: true)
        guard let candidateNode = index[candidate.members] else { return nil }

        // The tree: largest first, each household's smallest enclosing set so far is the
        // parent of the next set that holds it; a set whose households have different
        // parents overlaps another only in part.
        let order = nodes.indices.sorted { (nodes[$0].members.count, nodes[$1].name) > (nodes[$1].members.count, nodes[$0].name) }
        let none = -1
        var smallest: [Int64: Int] = [:]
        var parent = [Int](repeating: none, count: nodes.count)
        for node in order {
            var enclosing: Int?
            for member in nodes[node].members {
                let current = smallest[member] ?? none
                if let seen = enclosing, seen != current {
                    let other = [seen, current].filter { $0 != none }.map { nodes[$0].name }.first ?? "the rest of the network"
                    return "\(candidate.key) would overlap \(other) only in part, so their difference could be computed"
                }
                enclosing = current
            }
            parent[node] = enclosing ?? none
            for member in nodes[node].members { smallest[member] = node }
        }
        var children = [[Int]](repeating: [], count: nodes.count)
        for node in order where parent[node] != none { children[parent[node]].append(node) }

        // What a set leaves of its households, for each choice of metering inside it: sizes
        // capped at k, and whether the candidate was used. Derivations without the
        // candidate were checked when what they use was released (or are the operator's own
        // measurements, or what households chose to share), so only those using it are new. `substationMetered` is whether the
        // secondary substation around is metered (its feeders then are), nil above them.
        var memo: [Context: Set<Option>] = [:]
        func inside(_ node: Int, _ substationMetered: Bool?) -> Set<Option> {
            let key = Context(node: node, substationMetered: substationMetered)
            if let known = memo[key] { return known }
            var result = Set<Option>()
            let isCandidate = node == candidateNode
            switch nodes[node].level {
            case .feeder:
                if substationMetered == true {
                    result = [Option(size: 0, usedRelease: false)]
                } else {
                    result = nodes[node].released ? [Option(size: 0, usedRelease: isCandidate)] : below(node, false, usedRelease: false)
                }
            case .secondary, .primary:
                result = [Option(size: 0, usedRelease: false)]
                result.formUnion(nodes[node].released ? [Option(size: 0, usedRelease: isCandidate)] : below(node, false, usedRelease: false))
            case nil:
                result = [Option(size: 0, usedRelease: isCandidate)]
            }
            memo[key] = result
            return result
        }
        // The set's own households (in no set inside it) and what its children leave.
        func below(_ node: Int, _ substationMetered: Bool?, usedRelease: Bool) -> Set<Option> {
            let own = nodes[node].members.count - children[node].reduce(0) { $0 + nodes[$1].members.count }
            var sums: Set<Option> = [Option(size: min(own, k), usedRelease: usedRelease)]
            for child in children[node] {
                var next = Set<Option>()
                for a in sums {
                    for b in inside(child, substationMetered) {
                        next.insert(Option(size: min(a.size + b.size, k), usedRelease: a.usedRelease || b.usedRelease))
                    }
                }
                sums = next
            }
            return sums
        }
        // Whether a node lies inside a secondary substation.
        func withinSubstation(_ node: Int) -> Bool {
            var up = parent[node]
            while up != none {
                if nodes[up].level == .secondary { return true }
                up = parent[up]
            }
            return false
        }
        // Only the candidate and the sets above it can change. Each is known to the operator
        // as a metered unit (no release used) or as a release.
        var top = candidateNode
        while top != none {
            var choices: [Set<Option>] = []
            let node = nodes[top]
            let isCandidate = top == candidateNode
            switch node.level {
            case .primary:
                choices.append(below(top, nil, usedRelease: false))
                if node.released { choices.append(below(top, nil, usedRelease: isCandidate)) }
            case .secondary:
                choices.append(below(top, true, usedRelease: false))
                if node.released { choices.append(below(top, false, usedRelease: isCandidate)) }
            case .feeder:
                choices.append(below(top, true, usedRelease: false))
                if node.released { choices.append(below(top, false, usedRelease: isCandidate)) }
            case nil:
                if withinSubstation(top) {
                    choices.append(below(top, true, usedRelease: isCandidate))
                    choices.append(below(top, false, usedRelease: isCandidate))
                } else {
                    choices.append(below(top, nil, usedRelease: isCandidate))
                }
            }
            for option in choices.joined() where option.usedRelease && option.size > 0 && option.size < k {
                return "with \(candidate.key) released, \(node.name) less what the operator can know inside it would leave \(option.size) household(s), fewer than \(k)"
            }
            top = parent[top]
        }
        return nil
    }

    private struct Node {
        var name: String
        var members: Set<Int64>
        /// The unit's level, or nil for a released set that is no unit.
        var level: NetworkLevel?
        var released: Bool
    }

    private struct Context: Hashable {
        var node: Int
        var substationMetered: Bool?
    }

    private struct Option: Hashable {
        var size: Int
        /// Whether the derivation uses the candidate's release.
        var usedRelease: Bool
    }
}
