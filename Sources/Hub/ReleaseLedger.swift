import DUIS
import Privacy
import Storage

/// One release per user, during one aggregation run: the sets of households the user's
/// plans already release for each day (from every plan it holds or held, at every
/// granularity and level), and the decisions this run adds. A group is checked once per
/// day (`ReleaseAudit`), at its first publication; the decision, with the households it
/// covers, is then fixed for every plan of the user, so a daily and a half-hourly plan
/// publish one group of one day with the same households or not at all.
struct ReleaseLedger {
    let plan: DataPrivacyPlan
    let groupPremises: [String: Set<Int64>]
    /// The strictest minimum of the user's plans for the fuel: what one plan releases, the
    /// others' releases must not undo.
    let minimumHouseholds: Int
    private var reservations: [Key: ReleaseReservation] = [:]
    private var released: [CalendarDay: [ReleasedSet]] = [:]
    private var units: [String: [NetworkUnit]] = [:]
    private let pipeline: PlanPipeline
    /// Households that gave the user their own daily or half-hourly data (by consent).
    private let known: Set<Int64>
    /// Changes of tenancy by premises: a group is withheld for the calendar month of any
    /// member's move-in or installation, so its first published period dates neither.
    private let moves: [Int64: [Timestamp]]
    private(set) var newReservations: [ReleaseReservation] = []

    struct Key: Hashable {
        var day: CalendarDay
        var group: String
    }

    init(pipeline: PlanPipeline, plan: DataPrivacyPlan, days: Set<CalendarDay>, groupPremises: [String: Set<Int64>]) async throws {
        self.pipeline = pipeline
        self.plan = plan
        self.groupPremises = groupPremises
        let plans = try await pipeline.store.plans(user: plan.user, includeRetired: true).filter { $0.fuel == plan.fuel }
        minimumHouseholds = max(plan.minimumHouseholds, plans.map(\.minimumHouseholds).max() ?? 0)
        known = try await pipeline.store.consentedPremises(party: plan.user)
        moves = try await pipeline.store.occupancyStarts()
        for reservation in try await pipeline.store.releaseReservations(user: plan.user, fuel: plan.fuel, days: Array(days)) {
            reservations[Key(day: reservation.day, group: reservation.group)] = reservation
            if reservation.refusal == nil {
                released[reservation.day, default: []].append(ReleasedSet(key: reservation.group, members: Set(reservation.members)))
            }
        }
    }

    /// Whether the premises' household moved in, or its meter was installed, in the calendar
    /// month of `day`.
    private func movedIn(_ premises: Int64, month day: CalendarDay) -> Bool {
        let (year, month, _) = day.civil
        func same(_ other: CalendarDay) -> Bool { let (y, m, _) = other.civil; return y == year && m == month }
        if let starts = moves[premises], starts.contains(where: { same(CalendarDay($0)) }) { return true }
        return pipeline.installDay(premises: premises).map(same) ?? false
    }

    /// Why `group` may not be published for a period of `day`, or nil when it may.
    mutating func decide(group: String, day: CalendarDay) -> String? {
        let members = groupPremises[group] ?? []
        if let reservation = reservations[Key(day: day, group: group)] {
            if let refusal = reservation.refusal { return refusal }
            return Set(reservation.members) == members ? nil
                : "the households of \(group) changed during \(day) after it was first released that day: its periods of the day are published with the first day's households or not at all"
        }
        guard let first = members.first else { return "\(group) has no households" }
        let primary = pipeline.primary(of: first)
        let network: [NetworkUnit]
        if let known = units[primary] {
            network = known
        } else {
            network = pipeline.networkUnits(primary: primary, fuel: plan.fuel)
            units[primary] = network
        }
        let refusal: String?
        if let moved = members.sorted().first(where: { movedIn($0, month: day) }) {
            let (year, month, _) = day.civil
            refusal = "one release per user: a household of \(group) moved in or had its meter installed in \(year)-\(month < 10 ? "0" : "")\(month) (premises \(moved)); the group is withheld for that calendar month, so its first published period dates neither"
        } else {
            // Sets under other primaries are disjoint from this one's: they change nothing.
            let primaryMembers = network.first { $0.level == .primary }?.members ?? members
            let near = (released[day] ?? []).filter { set in set.members.first.map(primaryMembers.contains) ?? false }
            refusal = ReleaseAudit(minimumHouseholds: minimumHouseholds, units: network, knownHouseholds: known)
                .problem(released: near, candidate: ReleasedSet(key: group, members: members))
                .map { "one release per user: \($0)" }
        }
        let reservation = ReleaseReservation(user: plan.user, fuel: plan.fuel, day: day, group: group, members: members.sorted(), refusal: refusal)
        reservations[Key(day: day, group: group)] = reservation
        newReservations.append(reservation)
        if refusal == nil { released[day, default: []].append(ReleasedSet(key: group, members: members)) }
        return refusal
    }
}
