import DUIS

/// One decision about a household's data, as the consumer sees it in "who accessed my
/// data": who asked, for what, under which rule, and what they got.
public struct DataAccess: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// The readings went to the user.
        case released
        /// The readings went into a data privacy plan's aggregation only.
        case aggregated
        /// The rules refused the request.
        case refused
        /// The rules would have refused it; the hub runs with `--privacy dcc` (audit only).
        case allowedAuditOnly = "allowed-audit-only"
    }

    public var id: Int64
    public var premises: Int64
    public var occupancy: Int
    public var at: Timestamp
    public var party: EUI64
    public var role: String
    public var srv: String
    public var granularity: Granularity
    public var outcome: Outcome
    public var rule: String
    public var detail: String
    public var requestID: String?

    public init(id: Int64 = 0, premises: Int64, occupancy: Int, at: Timestamp, party: EUI64, role: String, srv: String, granularity: Granularity,
                outcome: Outcome, rule: String, detail: String, requestID: String?) {
        self.id = id
        self.premises = premises
        self.occupancy = occupancy
        self.at = at
        self.party = party
        self.role = role
        self.srv = srv
        self.granularity = granularity
        self.outcome = outcome
        self.rule = rule
        self.detail = detail
        self.requestID = requestID
    }
}
