import DUIS
import Foundation
import Privacy

/// What the hub reads of the privacy tables (occupancies, the consent ledger, data privacy
/// plans with their readings and aggregates, release sets, the data access log, the
/// portal's codes and links), as part of `HubStore`: every backend serves them, so the
/// stages that apply the privacy rules take the protocol, not one backend. Their changes
/// go through `apply` as `Mutation.privacy`.
public protocol PrivacyRecords: Sendable {
    /// The premises' occupancies, oldest first (none recorded: only the installation's).
    func occupancies(premises: Int64) async throws -> [Occupancy]
    func currentOccupancy(premises: Int64) async throws -> Occupancy
    /// The current occupancy's sequence number of each premises that has had a change.
    func currentOccupancies(premises ids: [Int64]) async throws -> [Int64: Int]
    /// The consent ledger of a premises (one occupancy's, or all).
    func consents(premises: Int64, occupancy: Int?) async throws -> [ConsentEntry]
    func consents(party: EUI64) async throws -> [ConsentEntry]
    func plans(user: EUI64?, includeRetired: Bool) async throws -> [DataPrivacyPlan]
    func planSecrets(id: Int64) async throws -> (key: [UInt8], tokenHash: String)?
    func nextPlanID() async throws -> Int64
    /// The periods of each network group that hold undecided readings, with how many
    /// (kept as readings arrive and go), so an aggregation run reads only the readings of
    /// the periods it can decide, not every undecided reading.
    func planOpenSlots(plan: Int64) async throws -> [PlanAggregator.SlotKey: Int]
    /// The undecided readings of these network groups' periods.
    func planReadings(plan: Int64, slots: [PlanAggregator.SlotKey]) async throws -> [PlanReading]
    /// The raw readings a plan holds: undecided, and decided but kept for its raw retention.
    func planReadingCount(plan: Int64) async throws -> Int
    /// The (group, slot) periods a plan has decided among these slots.
    func decidedSlots(plan: Int64, slots: Set<Int64>) async throws -> Set<PlanAggregator.SlotKey>
    func consentedPremises(party: EUI64) async throws -> Set<Int64>
    func lastReleasedDay(user: EUI64, fuel: PlanFuel, premises: Int64) async throws -> CalendarDay?
    func occupancyStarts() async throws -> [Int64: [Timestamp]]
    func releaseReservations(user: EUI64, fuel: PlanFuel, days: [CalendarDay]) async throws -> [ReleaseReservation]
    func planAggregates(plan: Int64, from: Timestamp?, to: Timestamp?) async throws -> [PlanAggregate]
    func planSuppressions(plan: Int64) async throws -> [PlanSuppression]
    func dataAccess(premises: Int64, occupancy: Int?, limit: Int) async throws -> [DataAccess]
    func lastRegisterRead(premises: Int64, party: EUI64, srvs: Set<String>) async throws -> Timestamp?
    func portalSecretHash(premises: Int64, occupancy: Int) async throws -> String?
    func portalLink(tokenHash: String) async throws -> PortalLink?
}

extension PrivacyRecords {
    /// Every occupancy's consents.
    public func consents(premises: Int64) async throws -> [ConsentEntry] { try await consents(premises: premises, occupancy: nil) }
    /// Everyone's plans in force.
    public func plans() async throws -> [DataPrivacyPlan] { try await plans(user: nil, includeRetired: false) }
    public func plans(user: EUI64?) async throws -> [DataPrivacyPlan] { try await plans(user: user, includeRetired: false) }
    public func plans(includeRetired: Bool) async throws -> [DataPrivacyPlan] { try await plans(user: nil, includeRetired: includeRetired) }
    /// All of a plan's aggregates.
    public func planAggregates(plan: Int64) async throws -> [PlanAggregate] { try await planAggregates(plan: plan, from: nil, to: nil) }
    /// The most recent 1,000 releases.
    public func dataAccess(premises: Int64, occupancy: Int?) async throws -> [DataAccess] {
        try await dataAccess(premises: premises, occupancy: occupancy, limit: 1000)
    }
}
