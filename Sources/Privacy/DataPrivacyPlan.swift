import Crypto
import DUIS
import Foundation

/// Which meters a plan covers.
public enum PlanFuel: String, Sendable, Codable, CaseIterable {
    case electricity, gas
}

/// The network level a plan aggregates to.
public enum AggregationLevel: String, Sendable, Codable, CaseIterable {
    /// The LV feeder leaving a secondary substation.
    case feeder
    /// The secondary (11 kV/400 V) substation: all its feeders.
    case secondary
}

/// What a plan does with groups smaller than its minimum.
public enum SmallGroupPolicy: String, Sendable, Codable, CaseIterable {
    /// Merge small groups with their neighbours under the same parent (feeders of one
    /// substation; substations of one primary); suppress what is still too small.
    case merge
    /// Publish nothing for them.
    case suppress
}

/// A network operator's data privacy plan (SLC10A), as approved: how household data
/// for periods under a month is aggregated so that no property can be identified.
///
/// JSON (every field but `name` and `approvalReference` has a default):
/// ```json
/// {"name": "LV feeder profiles", "approvalReference": "OFG-DPP-2026-017",
///  "level": "feeder", "minimumHouseholds": 5, "dominanceLimit": 0.15,
///  "smallGroups": "merge", "rawRetentionDays": 0, "aggregateRetentionDays": 730,
///  "publicationDelayHours": 48, "purposes": ["network-planning"],
///  "granularity": "half-hourly", "fuel": "electricity"}
/// ```
public struct DataPrivacyPlan: Sendable, Hashable, Codable {
    /// Assigned at registration.
    public var id: Int64
    public var user: EUI64
    public var name: String
    public var approvalReference: String
    public var level: AggregationLevel
    /// No group of fewer households is published.
    public var minimumHouseholds: Int
    /// No household may contribute more than this share of its group's total.
    public var dominanceLimit: Double
    public var smallGroups: SmallGroupPolicy
    /// Raw (pseudonymised) readings are deleted once aggregated, or after this many days.
    public var rawRetentionDays: Int
    /// Aggregates are deleted this many days after the period they describe.
    public var aggregateRetentionDays: Int
    /// A period's aggregate is published when every household of its group has reported,
    /// or this long after the period ended; readings arriving later are discarded.
    public var publicationDelayHours: Int
    public var purposes: [Purpose]
    /// The finest granularity the plan takes in (daily or half-hourly).
    public var granularity: Granularity
    public var fuel: PlanFuel
    public var registeredAt: Timestamp
    public var retiredAt: Timestamp?
    /// The plan takes in no reading of a period before this: the retirement of the
    /// user's previous plan for the same data, whose published aggregates it must not
    /// overlap (nil: no earlier plan).
    public var dataFrom: Timestamp?

    public init(id: Int64 = 0, user: EUI64, name: String, approvalReference: String, level: AggregationLevel = .feeder, minimumHouseholds: Int = 5,
                dominanceLimit: Double = 0.15, smallGroups: SmallGroupPolicy = .merge, rawRetentionDays: Int = 0, aggregateRetentionDays: Int = 730,
                publicationDelayHours: Int = 48, purposes: [Purpose] = [.networkPlanning], granularity: Granularity = .halfHourly,
                fuel: PlanFuel = .electricity, registeredAt: Timestamp = Timestamp(milliseconds: 0), retiredAt: Timestamp? = nil) {
        self.id = id
        self.user = user
        self.name = name
        self.approvalReference = approvalReference
        self.level = level
        self.minimumHouseholds = minimumHouseholds
        self.dominanceLimit = dominanceLimit
        self.smallGroups = smallGroups
        self.rawRetentionDays = rawRetentionDays
        self.aggregateRetentionDays = aggregateRetentionDays
        self.publicationDelayHours = publicationDelayHours
        self.purposes = purposes
        self.granularity = granularity
        self.fuel = fuel
        self.registeredAt = registeredAt
        self.retiredAt = retiredAt
    }

    /// Whether the plan takes in reads of this granularity and fuel (a plan aggregates one
    /// granularity; a daily and a half-hourly plan are two plans).
    public func covers(granularity requested: Granularity, fuel requestedFuel: PlanFuel) -> Bool {
        retiredAt == nil && requested == granularity && fuel == requestedFuel
    }

    public var isActive: Bool { retiredAt == nil }

    /// What a network operator may never use plan data for (SLC10A and the plans' own terms).
    public static let forbiddenPurposes: Set<Purpose> = [.billing, .settlement, .marketing, .energyServices]

    /// Problems that stop the plan being approved, or none.
    public func problems() -> [String] {
        var problems: [String] = []
        if name.trimmingCharacters(in: .whitespaces).isEmpty { problems.append("name is empty") }
        if approvalReference.trimmingCharacters(in: .whitespaces).isEmpty { problems.append("approvalReference is empty: a plan must be approved") }
        if minimumHouseholds < 2 { problems.append("minimumHouseholds must be at least 2 (an aggregate of one household is that household)") }
        if minimumHouseholds > 10_000 { problems.append("minimumHouseholds above 10,000 leaves nothing to publish") }
        if !(dominanceLimit > 0 && dominanceLimit < 1) { problems.append("dominanceLimit must be a share between 0 and 1 (for example 0.15)") }
        if rawRetentionDays < 0 || rawRetentionDays > 31 { problems.append("rawRetentionDays must be 0 to 31: raw household data is deleted once aggregated") }
        if aggregateRetentionDays < 1 || aggregateRetentionDays > 3_650 { problems.append("aggregateRetentionDays must be 1 to 3,650") }
        if publicationDelayHours < 0 || publicationDelayHours > 24 * 31 { problems.append("publicationDelayHours must be 0 to 744") }
        if purposes.isEmpty { problems.append("purposes is empty") }
        let forbidden = purposes.filter(Self.forbiddenPurposes.contains)
        if !forbidden.isEmpty {
            problems.append("purposes \(forbidden.map(\.rawValue).joined(separator: ", ")) are not allowed: plan data is for network planning and research, never selling, marketing or bills")
        }
        if granularity == .monthly { problems.append("granularity monthly needs no plan (choose daily or half-hourly)") }
        return problems
    }

    /// Consequences of the plan its author may not have meant (shown at registration).
    public func warnings() -> [String] {
        let smallest = Int((1 / dominanceLimit).rounded(.up))
        guard dominanceLimit > 0, smallest > minimumHouseholds else { return [] }
        return ["with a dominance limit of \(dominanceLimit), a group needs at least \(smallest) households of equal use to be published, more than minimumHouseholds \(minimumHouseholds)"]
    }

    /// The JSON document a network operator submits (ids, user and dates are set on registration).
    public struct Submission: Codable, Sendable {
        public var name: String
        public var approvalReference: String
        public var level: AggregationLevel?
        public var minimumHouseholds: Int?
        public var dominanceLimit: Double?
        public var smallGroups: SmallGroupPolicy?
        public var rawRetentionDays: Int?
        public var aggregateRetentionDays: Int?
        public var publicationDelayHours: Int?
        public var purposes: [Purpose]?
        public var granularity: String?
        public var fuel: PlanFuel?
    }

    public enum ParseError: Error, CustomStringConvertible {
        case json(String)
        case invalid([String])

        public var description: String {
            switch self {
            case .json(let detail): return "the plan is not valid JSON for a data privacy plan: \(detail)"
            case .invalid(let problems): return "the plan cannot be approved: " + problems.joined(separator: "; ")
            }
        }
    }

    /// Reads and checks a submitted plan.
    public static func parse(_ data: Data, user: EUI64, at time: Timestamp) throws(ParseError) -> DataPrivacyPlan {
        let submission: Submission
        do {
            submission = try JSONDecoder().decode(Submission.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw .json(context.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) {
            throw .json("\"\(key.stringValue)\" is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .json("\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw .json("\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch {
            throw .json("\(error)")
        }
        var granularity = Granularity.halfHourly
        if let name = submission.granularity {
            guard let parsed = Granularity(name: name) else { throw .invalid(["granularity \"\(name)\" is not daily or half-hourly"]) }
            granularity = parsed
        }
        let plan = DataPrivacyPlan(user: user, name: submission.name, approvalReference: submission.approvalReference,
                                   level: submission.level ?? .feeder, minimumHouseholds: submission.minimumHouseholds ?? 5,
                                   dominanceLimit: submission.dominanceLimit ?? 0.15, smallGroups: submission.smallGroups ?? .merge,
                                   rawRetentionDays: submission.rawRetentionDays ?? 0, aggregateRetentionDays: submission.aggregateRetentionDays ?? 730,
                                   publicationDelayHours: submission.publicationDelayHours ?? 48, purposes: submission.purposes ?? [.networkPlanning],
                                   granularity: granularity, fuel: submission.fuel ?? .electricity, registeredAt: time)
        let problems = plan.problems()
        guard problems.isEmpty else { throw .invalid(problems) }
        return plan
    }
}

/// Keyed pseudonyms for a plan's households: HMAC-SHA256 under the plan's own key of the
/// premises and occupancy, so a pseudonym means nothing outside its plan and a new
/// occupant is a new pseudonym.
public struct Pseudonymiser: Sendable {
    let key: SymmetricKey

    public init(key: [UInt8]) { self.key = SymmetricKey(data: key) }

    public static func newKey() -> [UInt8] { SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) } }

    public func pseudonym(premises: Int64, occupancy: Int) -> String {
        var message = [UInt8]()
        message.reserveCapacity(12)
        withUnsafeBytes(of: premises.bigEndian) { message.append(contentsOf: $0) }
        withUnsafeBytes(of: Int32(truncatingIfNeeded: occupancy).bigEndian) { message.append(contentsOf: $0) }
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return Array(mac).prefix(12).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
    }
}

/// A plan's published profiles as the JSON API and `gbsm dpp profiles --format json` give them.
public struct ProfileDocument: Codable, Sendable {
    public struct PlanSummary: Codable, Sendable {
        public var id: Int64
        public var name: String
        public var level: AggregationLevel
        public var minimumHouseholds: Int
        public var dominanceLimit: Double
        public var granularity: String
        public var unit: String
    }

    public struct Profile: Codable, Sendable {
        public var group: String
        public var periodStart: String
        public var households: Int
        public var total: Int64
        public var mean: Double
    }

    public var plan: PlanSummary
    public var profiles: [Profile]

    public init(plan: DataPrivacyPlan, aggregates: [PlanAggregate]) {
        self.plan = PlanSummary(id: plan.id, name: plan.name, level: plan.level, minimumHouseholds: plan.minimumHouseholds,
                                dominanceLimit: plan.dominanceLimit, granularity: plan.granularity.name, unit: plan.fuel == .gas ? "litre" : "Wh")
        profiles = aggregates.map { aggregate in
            Profile(group: aggregate.group, periodStart: aggregate.slot.iso8601, households: aggregate.households, total: aggregate.total,
                    mean: (aggregate.mean * 10).rounded() / 10)
        }
    }
}

/// Lower-case hex SHA-256 of a secret (tokens and portal secrets are stored only hashed).
public func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
}
