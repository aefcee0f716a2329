import DUIS
import Foundation
import Logging
import Privacy
import Storage
import Synchronization

/// The privacy stage of the pipeline: for every SRV that returns consumption, the data
/// access rules for the user's role, against the consent ledger of the premises' current
/// occupancy and the user's approved data privacy plans. The gateway asks before it
/// accepts a request; the device boundary asks again before the device runs it (a
/// consent may have been withdrawn, or the tenancy changed, in between).
final class PrivacyGuard: Sendable {
    let store: any HubStore
    let inventory: Inventory
    let rules: PrivacyRules
    let enforcement: PrivacyEnforcement
    /// Current occupancies by premises. Only this process changes them (a 3.2 run at the
    /// device boundary), so the cache stays true; admin commands change consents, which
    /// are read from the store each time.
    private let occupancies = Mutex<[Int64: Occupancy]>([:])

    /// The time (`HubClock`) consents and occupancies are read at.
    let clock: any HubClock

    init(store: any HubStore, inventory: Inventory, rules: PrivacyRules, enforcement: PrivacyEnforcement, clock: any HubClock) {
        self.clock = clock
        self.store = store
        self.inventory = inventory
        self.rules = rules
        self.enforcement = enforcement
    }

    /// One decision, with what the consumer's access log records about it.
    struct Check: Sendable {
        /// What the rules decided.
        var verdict: PrivacyVerdict
        /// What the hub does: the verdict, or (with `--privacy dcc`) a release of what the rules refused.
        var effective: PrivacyVerdict
        /// The start of the data the verdict lets through, where it lets any through.
        var dataFrom: Timestamp? {
            switch effective {
            case .refuse: return nil
            case .release(_, _, let from), .aggregate(_, _, _, let from): return from
            }
        }
        var request: DataRequest
        var occupancy: Occupancy
        var role: UserRole

        var auditOnly: Bool { verdict.isRefusal && !effective.isRefusal }

        /// The audit text: the rule and why.
        var summary: String {
            auditOnly ? "privacy [\(verdict.rule)] would refuse (audit only, --privacy dcc): \(verdict.reason)"
                : "privacy [\(verdict.rule)] \(verdict.reason)"
        }

        func access(party: EUI64, outcome: DataAccess.Outcome, detail: String, requestID: String?, at time: Timestamp) -> DataAccess {
            DataAccess(premises: occupancy.premises, occupancy: occupancy.sequence, at: time, party: party, role: role.rawValue, srv: request.srv.text,
                       granularity: request.granularity, outcome: outcome, rule: verdict.rule, detail: detail, requestID: requestID)
        }

        /// The access log entry for a refusal (or an audit-only pass).
        func refusalAccess(party: EUI64, requestID: String?, at time: Timestamp) -> DataAccess {
            access(party: party, outcome: auditOnly ? .allowedAuditOnly : .refused, detail: verdict.reason, requestID: requestID, at: time)
        }
    }

    /// The rules' decision for `party` acting as `role` reading `srv` from `device`, or nil
    /// when the SRV returns no consumption or the device is at no premises.
    func check(role: UserRole, party: EUI64, device: DeviceRecord, srv: SRV) async throws -> Check? {
        guard let request = DataRequest.classify(srv: srv), let premises = device.premises else { return nil }
        let occupancy = try await occupancy(premises: premises)
        let now = clock.now()
        // A network operator's or other user's register read, classed by how recently it had
        // this household's registers.
        let previousRegisterRead = [.ed, .gt, .ou].contains(role) && request.isRegisterRead
            ? try await store.lastRegisterRead(premises: premises, party: party, srvs: Set(DataRequest.registerReads.map(\.text))) : nil
        let polled = request.registerReadClass(previous: previousRegisterRead, at: now) > .monthly
        // Monthly reads by suppliers and network operators need no consent: no ledger to read.
        let ledgerFree = request.granularity == .monthly && [.is, .es, .gs, .rsa, .ed, .gt].contains(role) && !polled
        let entries = ledgerFree ? [] : try await store.consents(premises: premises, occupancy: occupancy.sequence)
        let ledger = ConsentLedger(occupancy: occupancy, entries: entries, at: now)
        let plans = (role == .ed || role == .gt) && !ledgerFree ? try await store.plans(user: party) : []
        let fuel: PlanFuel = device.type == .gsme || device.type == .gpf ? .gas : .electricity
        let verdict = rules.registerFrequency(role: role, party: party, request: request, ledger: ledger, previous: previousRegisterRead, at: now)
            ?? rules.decide(role: role, party: party, request: request, ledger: ledger, plans: plans, fuel: fuel)
        var effective = verdict
        // A network operator's raw daily or half-hourly data (by consent) never covers a day
        // on which the household was part of a group released to it under a plan: the
        // aggregate less the household's own readings would give its neighbours.
        if (role == .ed || role == .gt), case .release(let rule, let reason, let from) = verdict, request.granularity > .monthly || polled,
           let released = try await store.lastReleasedDay(user: party, fuel: fuel, premises: premises) {
            let after = Timestamp(dayNumber: released.number + 1)
            if after > from {
                effective = .release(rule: rule, reason: reason + "; withheld up to \(after.iso8601): the household was in a group released to \(party) under its plans until then",
                                     dataFrom: after)
            }
        }
        if verdict.isRefusal, enforcement == .dcc {
            effective = .release(rule: "privacy-dcc-mode", reason: "audit only: \(verdict.reason)", dataFrom: occupancy.start)
        }
        return Check(verdict: verdict, effective: effective, request: request, occupancy: occupancy, role: role)
    }

    /// The HAN rule for other users (`PrivacyRules.hanChange`): whether `party` acting as
    /// `role` may join, unjoin or change the device log of `device`'s home. Nil when the
    /// rule does not apply. With `--privacy dcc` a refusal is audited and let through.
    func hanCheck(role: UserRole, party: EUI64, device: DeviceRecord, srv: SRV, body: ElementTree) async throws -> PrivacyVerdict? {
        guard role == .ou, PrivacyRules.hanChangeSRVs.contains(srv) else { return nil }
        guard let premises = device.premises else {
            return .refuse(rule: "other-user-han", reason: "\(srv): \(device.eui) is at no premises")
        }
        let occupancy = try await occupancy(premises: premises)
        let ledger = ConsentLedger(occupancy: occupancy, entries: try await store.consents(premises: premises, occupancy: occupancy.sequence), at: clock.now())
        var joined = false
        // A device it joined itself, for the household living there now.
        if let hanDevice = Self.hanDevice(srv: srv, target: device, body: body), let claim = try await store.hanJoins(premises: premises)[hanDevice] {
            joined = claim.party == party && claim.occupancy == occupancy.sequence
        }
        guard let verdict = rules.hanChange(role: role, party: party, srv: srv, ledger: ledger, joinedByParty: joined) else { return nil }
        if verdict.isRefusal, enforcement == .dcc {
            return .release(rule: "privacy-dcc-mode", reason: "audit only: \(verdict.reason)", dataFrom: occupancy.start)
        }
        return verdict
    }

    /// The HAN device a HAN change concerns: the device named in an 8.11, or whichever of
    /// the target and `OtherDeviceID` of an 8.7.2 or 8.8.2 is not a meter or gas proxy.
    static func hanDevice(srv: SRV, target: DeviceRecord, body: ElementTree) -> EUI64? {
        if srv == "8.11" { return body.value("DeviceID").flatMap { EUI64($0) } }
        if [.esme, .gsme, .gpf, .chf].contains(target.type) { return body.value("OtherDeviceID").flatMap { EUI64($0) } }
        return target.eui
    }

    func occupancy(premises: Int64) async throws -> Occupancy {
        if let cached = occupancies.withLock({ $0[premises] }) { return cached }
        let current = try await store.currentOccupancy(premises: premises)
        remember(current)
        return current
    }

    /// Records a premises' new occupancy once its change of tenancy is committed.
    func remember(_ occupancy: Occupancy) {
        occupancies.withLock { cache in
            if cache.count >= 1_000_000, cache[occupancy.premises] == nil { cache.removeAll(keepingCapacity: true) }
            if let known = cache[occupancy.premises], known.sequence > occupancy.sequence { return }
            cache[occupancy.premises] = occupancy
        }
    }

    /// The role a user acts in for a device (as access control chose it at the gateway).
    func role(of user: UserRecord, srv: SRV, device: DeviceRecord, accessControl: AccessControl, at time: Timestamp) -> UserRole? {
        guard let variant = ServiceCatalogue.variant(srv) else { return nil }
        for role in user.roles.intersection(variant.eligibleRoles) where accessControl.authorisation(role: role, user: user.eui, device: device, at: time) != nil {
            return role
        }
        return nil
    }
}
