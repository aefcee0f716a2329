/// Privacy: who may see a household's readings, and how the household stays in control.
///
/// - The consent ledger: grants and withdrawals by the consumer of one occupancy, to a
///   DCC user, for a purpose, a granularity, a period and until an expiry, with how the
///   consent was given and whether the consumer was verified.
/// - The data access rules per role (`PrivacyRules`): suppliers, network operators,
///   other users and the consumer, applied by the hub to every SRV that returns
///   consumption.
/// - Data privacy plans (SLC10A) and their aggregation (`DataPrivacyPlan`,
///   `PlanAggregator`): pseudonymised readings grouped by LV feeder or secondary
///   substation, published only in groups no household can be picked out of.
/// - What a household's data reveals (`Reveal`): the inferences that are the evidence
///   behind the rules.
///
/// The module is pure: no storage, no clock. `Storage` persists its records and `Hub`
/// applies its decisions.
import DUIS

/// How finely a reading describes a household, coarsest first.
public enum Granularity: Int, Sendable, Codable, Comparable, CaseIterable, CustomStringConvertible {
    case monthly = 1, daily = 2, halfHourly = 3

    public static func < (lhs: Granularity, rhs: Granularity) -> Bool { lhs.rawValue < rhs.rawValue }

    public var name: String {
        switch self {
        case .monthly: return "monthly"
        case .daily: return "daily"
        case .halfHourly: return "half-hourly"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let found = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = found
    }

    /// The next coarser granularity, or nil below monthly.
    public var coarser: Granularity? { Granularity(rawValue: rawValue - 1) }
}

/// What a party wants the readings for.
public enum Purpose: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case billing, settlement
    case energyServices = "energy-services"
    case marketing
    case networkPlanning = "network-planning"
    case research

    public var description: String { rawValue }

    public var title: String {
        switch self {
        case .billing: return "Billing"
        case .settlement: return "Settlement"
        case .energyServices: return "Energy services"
        case .marketing: return "Marketing"
        case .networkPlanning: return "Network planning"
        case .research: return "Research"
        }
    }
}

/// How the consumer gave or withdrew a consent.
public enum ConsentMethod: String, Sendable, Codable, CaseIterable {
    /// Signed in to the consumer portal with the premises' secret.
    case portal
    /// Read out the Customer Identification Number that SRV 9.1 put on the IHD.
    case ihdCode = "ihd-code"
    /// Told the party by phone (recorded, not verified by the hub).
    case phone
    /// In writing to the party (recorded, not verified by the hub).
    case written
    /// Provisioned with a DCC Boxed default premises, so the reference templates work.
    case dccBoxedDefault = "dcc-boxed-default"

    /// Whether the hub itself verified that the consumer of the premises gave it.
    public var verifiesConsumer: Bool {
        switch self {
        case .portal, .ihdCode, .dccBoxedDefault: return true
        case .phone, .written: return false
        }
    }
}

/// One occupancy of a premises: a household between a move-in and the next. A change
/// of tenancy (SRV 3.2 on the meter) starts a new one; consents never carry over.
public struct Occupancy: Sendable, Hashable, Codable {
    public var premises: Int64
    /// 0 for the occupancy that was there when the meters were installed.
    public var sequence: Int
    public var start: Timestamp
    public var end: Timestamp?
    /// What started it: "installation", "3.2 from <supplier>", …
    public var cause: String

    public init(premises: Int64, sequence: Int, start: Timestamp, end: Timestamp? = nil, cause: String) {
        self.premises = premises
        self.sequence = sequence
        self.start = start
        self.end = end
        self.cause = cause
    }

    /// The occupancy a premises has before any change of tenancy is recorded.
    public static func initial(premises: Int64) -> Occupancy {
        Occupancy(premises: premises, sequence: 0, start: Timestamp(milliseconds: 0), cause: "installation")
    }
}

/// A grant or a withdrawal in the consent ledger. Entries are never edited: the ledger's
/// state at any time is the fold of its entries up to then.
public struct ConsentEntry: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Codable { case grant, withdraw }

    public var id: Int64
    public var premises: Int64
    public var occupancy: Int
    public var party: EUI64
    public var purpose: Purpose
    public var action: Action
    /// Grant: the finest granularity consented to. Withdraw: the granularity withdrawn
    /// (and everything finer); nil withdraws every granularity.
    public var granularity: Granularity?
    /// The readings the consent covers start here (nil: from the occupancy's start).
    public var dataFrom: Timestamp?
    /// The consent lapses at this time (nil: until withdrawn).
    public var until: Timestamp?
    public var method: ConsentMethod
    public var at: Timestamp
    public var note: String

    public init(id: Int64 = 0, premises: Int64, occupancy: Int, party: EUI64, purpose: Purpose, action: Action, granularity: Granularity?,
                dataFrom: Timestamp? = nil, until: Timestamp? = nil, method: ConsentMethod, at: Timestamp, note: String = "") {
        self.id = id
        self.premises = premises
        self.occupancy = occupancy
        self.party = party
        self.purpose = purpose
        self.action = action
        self.granularity = granularity
        self.dataFrom = dataFrom
        self.until = until
        self.method = method
        self.at = at
        self.note = note
    }
}

/// A consent in force: the finest granularity a party may have for a purpose.
public struct ActiveConsent: Sendable, Hashable {
    public var party: EUI64
    public var purpose: Purpose
    public var granularity: Granularity
    public var dataFrom: Timestamp?
    public var until: Timestamp?
    public var method: ConsentMethod
    public var given: Timestamp
    /// The ledger entry that set it.
    public var entry: Int64
}

/// An explicit withdrawal in force: the party may have nothing finer than `ceiling`
/// (nil: nothing at all) for the purpose, whatever its defaults.
public struct Withdrawal: Sendable, Hashable {
    public var party: EUI64
    public var purpose: Purpose
    public var ceiling: Granularity?
    public var at: Timestamp
    public var entry: Int64
}

/// The consent state of one occupancy at one time: the fold of its ledger entries.
public struct ConsentLedger: Sendable {
    public let occupancy: Occupancy
    public private(set) var consents: [ActiveConsent] = []
    public private(set) var withdrawals: [Withdrawal] = []

    /// Folds `entries` (any order; only the occupancy's, up to `time`, count).
    public init(occupancy: Occupancy, entries: [ConsentEntry], at time: Timestamp) {
        self.occupancy = occupancy
        struct Key: Hashable { var party: EUI64; var purpose: Purpose }
        var granted: [Key: ActiveConsent] = [:]
        var withdrawn: [Key: Withdrawal] = [:]
        let relevant = entries.filter { $0.premises == occupancy.premises && $0.occupancy == occupancy.sequence && $0.at <= time }
            .sorted { ($0.at, $0.id) < ($1.at, $1.id) }
        for entry in relevant {
            let key = Key(party: entry.party, purpose: entry.purpose)
            switch entry.action {
            case .grant:
                guard let granularity = entry.granularity else { continue }
                granted[key] = ActiveConsent(party: entry.party, purpose: entry.purpose, granularity: granularity, dataFrom: entry.dataFrom,
                                             until: entry.until, method: entry.method, given: entry.at, entry: entry.id)
                withdrawn[key] = nil
            case .withdraw:
                let ceiling = entry.granularity?.coarser
                if var consent = granted[key] {
                    if let ceiling {
                        consent.granularity = min(consent.granularity, ceiling)
                        granted[key] = consent
                    } else {
                        granted[key] = nil
                    }
                }
                withdrawn[key] = Withdrawal(party: entry.party, purpose: entry.purpose, ceiling: ceiling, at: entry.at, entry: entry.id)
            }
        }
        consents = granted.values.filter { consent in consent.until.map { time < $0 } ?? true }
            .sorted { ($0.given, $0.entry) < ($1.given, $1.entry) }
        withdrawals = withdrawn.values.sorted { ($0.at, $0.entry) < ($1.at, $1.entry) }
    }

    /// The current consent of `party` that covers `granularity` for one of `purposes`,
    /// verified if asked; the finest and most recent first.
    public func consent(party: EUI64, covering granularity: Granularity, purposes: Set<Purpose>? = nil, verified: Bool = false) -> ActiveConsent? {
        consents.filter { consent in
            consent.party == party && consent.granularity >= granularity && (purposes?.contains(consent.purpose) ?? true)
                && (!verified || consent.method.verifiesConsumer)
        }.max { ($0.granularity, $0.given) < ($1.granularity, $1.given) }
    }

    /// The party's explicit withdrawal for a purpose, if one is in force.
    public func withdrawal(party: EUI64, purpose: Purpose) -> Withdrawal? {
        withdrawals.first { $0.party == party && $0.purpose == purpose }
    }
}
