import DUIS
import Foundation
import Logging
import MMC
import Privacy
import Storage

/// The privacy rules at the device boundary: checked again when a request runs, and
/// applied to the device's answer.
///
/// The gateway checked them when it accepted the request, but a consent may have been
/// withdrawn, or the tenancy changed, while it waited. So before the device acts the
/// boundary asks `PrivacyGuard` again (data reads, and another user's change to a home's
/// HAN) and puts the data window in the command; after, it checks the device kept to the
/// window (or takes the readings out for a data privacy plan); and a completed 3.2 starts a new occupancy. This is its own stage, apart
/// from `DeviceDispatcher`'s orchestration, so the rules' effect on one request can be read
/// (and tested) in one place; it reads no clock: times are arguments.
final class DevicePrivacyFilter: Sendable {
    let privacy: PrivacyGuard
    let registry: UserRegistry
    let accessControl: AccessControl
    /// Where readings taken under a data privacy plan go.
    let plans: PlanPipeline
    /// The data privacy plans, and the occupancy a change of tenancy follows.
    let store: any HubStore
    let logger: Logger

    init(privacy: PrivacyGuard, registry: UserRegistry, accessControl: AccessControl, plans: PlanPipeline, store: any HubStore,
         logger: Logger = Logger(label: "gbsm.device-boundary")) {
        self.privacy = privacy
        self.registry = registry
        self.accessControl = accessControl
        self.plans = plans
        self.store = store
        self.logger = logger
    }

    /// Whether a request may run, as the rules stand now.
    enum Decision: Sendable {
        /// It may; the data access decision to apply to its answer, if its SRV returns
        /// consumption.
        case run(PrivacyGuard.Check?)
        /// It may not: the refusal, and what is committed with it (the access log entry).
        case refuse(Refusal, extra: [Mutation])
    }

    /// A check could not read the store: the request is tried again later.
    struct Unavailable: Error {
        /// Which check: "privacy check" or "HAN check".
        var check: String
        var error: any Error
    }

    /// The data access rules (for an SRV that returns consumption) and the HAN rules (for
    /// another user's change to a home's HAN) for `originator`'s command, as of `time`.
    func decide(srv: SRV, body: ElementTree, device: DeviceRecord, originator: EUI64, requestID: String,
                at time: Timestamp) async throws(Unavailable) -> Decision {
        var check: PrivacyGuard.Check?
        if DataRequest.classify(srv: srv) != nil {
            guard let user = registry.user(originator),
                  let role = privacy.role(of: user, srv: srv, device: device, accessControl: accessControl, at: time) else {
                return .refuse(Refusal(.E4, rule: .deviceAuthorisation, "\(originator) is no longer authorised for \(device.eui)"), extra: [])
            }
            do {
                check = try await privacy.check(role: role, party: originator, device: device, srv: srv)
            } catch {
                throw Unavailable(check: "privacy check", error: error)
            }
            if let check, case .refuse(let rule, let reason) = check.effective {
                return .refuse(Refusal(.E4, rule: RuleID(rawValue: rule), "when the request was due to run: \(reason)"),
                               extra: [.privacy(.recordAccess(check.refusalAccess(party: originator, requestID: requestID, at: time)))])
            }
        }
        if PrivacyRules.hanChangeSRVs.contains(srv), let user = registry.user(originator),
           let role = privacy.role(of: user, srv: srv, device: device, accessControl: accessControl, at: time) {
            do {
                if case .refuse(let rule, let reason) = try await privacy.hanCheck(role: role, party: originator, device: device, srv: srv, body: body) {
                    return .refuse(Refusal(.E4, rule: RuleID(rawValue: rule), "when the request was due to run: \(reason)"), extra: [])
                }
            } catch {
                throw Unavailable(check: "HAN check", error: error)
            }
        }
        return .run(check)
    }

    /// Whether the premises' occupancy changed since `check` was made (a change of tenancy
    /// committed meanwhile): the request must be decided again.
    func isStale(_ check: PrivacyGuard.Check, premises: Int64) async throws -> Bool {
        try await privacy.occupancy(premises: premises).sequence != check.occupancy.sequence
    }

    /// The premises' current occupancy.
    func occupancy(premises: Int64) async throws -> Occupancy {
        try await privacy.occupancy(premises: premises)
    }

    /// Applies a privacy decision to the device's answer: readings outside the data window
    /// are dropped; under a data privacy plan the readings go to the plan's pipeline and the
    /// user gets a receipt instead. Returns the audit note, the mutations to commit, and
    /// the receipt (under a plan).
    func apply(_ check: PrivacyGuard.Check, reply outcome: inout DeviceReply, originator: EUI64, work: DeviceRequestPreparation.Work,
               at time: Timestamp) async throws -> (String, [Mutation], String?) {
        let requestID = work.scheduleID == nil ? work.stored.requestID : nil
        switch check.effective {
        case .refuse:
            return ("", [], nil)
        case .release(_, _, let from):
            // The command asked only from `from` (`WANCommand.dataWindow`): the device left out
            // what came before. DCC checks it did: a device that answered with more is not
            // trusted with the household's data, and its GBCS (which DCC cannot cut) is not sent.
            let extra = enforceWindow(&outcome, from: from, period: check.request.periodMilliseconds)
            let dropped = outcome.withheld + extra
            let window = dropped > 0 ? "; \(dropped) log entr\(dropped == 1 ? "y" : "ies") covering time before \(from.iso8601) withheld" : ""
            let access = check.auditOnly ? check.refusalAccess(party: originator, requestID: requestID, at: time)
                : check.access(party: originator, outcome: .released, detail: outcome.note + window, requestID: requestID, at: time)
            return ("; \(check.summary)\(window)", [.privacy(.recordAccess(access))], nil)
        case .aggregate(let planID, _, _, let from):
            // The device answered from the data window on (`WANCommand.dataWindow`); DCC checks.
            _ = enforceWindow(&outcome, from: from, period: check.request.periodMilliseconds)
            guard let plan = try await store.plans(user: originator).first(where: { $0.id == planID }) else {
                outcome.response.body.children = []
                outcome.gbcs = nil
                return ("; data privacy plan \(planID) was retired: the readings were discarded", [],
                        "gbsm: data privacy plan \(planID) was retired: the readings were discarded")
            }
            // Only import profiles and daily consumption are aggregated; a plan takes no
            // period before its data window (the user's previous plan's retirement).
            let values = check.request.feedsPlans
                ? ResponseFilter.readings(outcome.response.body, periodMilliseconds: check.request.periodMilliseconds)
                    .filter { $0.start >= (plan.dataFrom ?? Timestamp(milliseconds: Int64.min)) }
                : []
            let readings = try await plans.intake(plan: plan, premises: check.occupancy.premises, occupancy: check.occupancy.sequence, readings: values)
            // The receipt echoes what was asked, never what was found: how many readings, or
            // the first period after the move-in, would tell the operator when the household
            // moved in or the meter was installed.
            // MMC has no element for it, so the receipt is the Service Response's comment,
            // and the response carries no device payload.
            var receipt = "gbsm: data privacy plan \(plan.id) receipt"
            if let period = work.body.child("ReadLogPeriod"),
               let start = period.value("StartDateTime").flatMap({ Timestamp(xsDateTime: $0) }),
               let end = period.value("EndDateTime").flatMap({ Timestamp(xsDateTime: $0) }) {
                receipt += "; requested from \(start.iso8601) to \(end.iso8601)"
            }
            receipt += check.request.feedsPlans ? "; aggregated by \(plan.level.rawValue) under the plan; no reading is returned raw"
                : "; withheld: the plan aggregates import profiles (4.8.1) and daily consumption (4.17) only"
            outcome.response.body.children = []
            outcome.gbcs = nil
            let detail = "\(readings.count) reading(s) pseudonymised into data privacy plan \(plan.id) (\(plan.level.rawValue) aggregates)"
            return ("; \(check.summary); \(detail)", [
                .privacy(.addPlanReadings(plan: plan.id, readings: readings, at: time)),
                .privacy(.recordAccess(check.access(party: originator, outcome: .aggregated, detail: detail, requestID: requestID, at: time))),
            ], receipt)
        }
    }

    /// Cuts from the device's answer what is before `from`, which the device should have
    /// left out itself. Anything cut means the device's GBCS holds it too: that answer is
    /// dropped (the user gets the cut MMC instead) and logged. Returns how many were cut.
    func enforceWindow(_ outcome: inout DeviceReply, from: Timestamp, period: Int64) -> Int {
        let cut = ResponseFilter.dropEntries(&outcome.response.body, before: from, period: period)
        if cut > 0 {
            outcome.gbcs = nil
            logger.error("device boundary: \(outcome.response.header.originator) answered \(cut) log entr\(cut == 1 ? "y" : "ies") from before the data window \(from.iso8601); its GBCS answer is withheld")
        }
        return cut
    }

    /// A change of tenancy (3.2 on the meter): a new occupancy from the restriction date,
    /// whose consents start empty.
    func changeOfTenancy(premises: Int64, at restriction: Timestamp, by originator: EUI64, requestID: String, time: Timestamp) async throws -> [Mutation] {
        let current = try await store.currentOccupancy(premises: premises)
        // The other fuel's meter already started it (its 3.2 may carry a slightly different time).
        if current.sequence > 0, current.cause.hasPrefix("3.2"), current.start.milliseconds(to: restriction).magnitude < UInt64(CalendarDay.millisecondsPerDay) { return [] }
        guard current.start != restriction else { return [] }
        let next = Occupancy(premises: premises, sequence: current.sequence + 1, start: restriction, cause: "3.2 from \(originator) (\(requestID))")
        return [
            .privacy(.startOccupancy(next)),
            .audit(AuditEvent(at: time, kind: .privacy, actor: originator, requestID: requestID, code: "occupancy \(next.sequence)",
                              detail: "change of tenancy at premises \(premises): occupancy \(next.sequence) begins \(restriction.iso8601); the consents and portal sign-in of occupancy \(current.sequence) no longer apply, and no reading from before \(restriction.iso8601) is released to anyone")),
        ]
    }

    /// Takes in what a commit changed: the occupancies it started become the current ones.
    func committed(_ mutations: [Mutation]) {
        for case .privacy(.startOccupancy(let occupancy)) in mutations { privacy.remember(occupancy) }
    }

    /// Wakes the plan pipeline: readings were added to a data privacy plan.
    func planReadingsAdded() {
        plans.wakeup.signal()
    }
}
