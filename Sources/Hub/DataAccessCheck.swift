import DUIS
import Privacy
import Storage

/// The gateway's privacy stage, for device requests: the data access rules for SRVs that
/// return consumption (the consent ledger of the premises' current occupancy, the user's
/// data privacy plans, DCC's own rules, `PrivacyGuard`), and for another user's change to
/// a home's HAN (joins, unjoins, device log changes). A refusal is E4 with the rule; a
/// refused read is recorded in the household's access log too, in the same commit as the
/// refusal. An allowed request carries the rules' summary into the decision's audit entry.
struct DataAccessCheck: Sendable {
    let privacy: PrivacyGuard

    /// A refusal, and what is committed with it.
    struct Refused: Error {
        let refusal: Refusal
        let extra: [Mutation]
    }

    /// The decision, with what the rules said, or the refusal. Throws when the store cannot
    /// be read.
    func decide(_ header: RequestHeader, decision: AccessDecision, user: EUI64, body: ElementTree,
                at time: Timestamp) async throws -> Result<AccessDecision, Refused> {
        guard !header.variant.isNonDevice, let device = decision.device else { return .success(decision) }
        var decision = decision
        if let check = try await privacy.check(role: decision.role, party: user, device: device, srv: header.variant.srv) {
            if case .refuse(let rule, let reason) = check.effective {
                return .failure(Refused(refusal: Refusal(.E4, rule: RuleID(rawValue: rule), reason),
                                        extra: [.privacy(.recordAccess(check.refusalAccess(party: user, requestID: header.requestID.description, at: time)))]))
            }
            decision = AccessDecision(role: decision.role, device: decision.device, rule: "\(decision.rule); \(check.summary)")
        }
        if PrivacyRules.hanChangeSRVs.contains(header.variant.srv),
           let verdict = try await privacy.hanCheck(role: decision.role, party: user, device: device, srv: header.variant.srv, body: body) {
            if case .refuse(let rule, let reason) = verdict {
                return .failure(Refused(refusal: Refusal(.E4, rule: RuleID(rawValue: rule), reason), extra: []))
            }
            decision = AccessDecision(role: decision.role, device: decision.device, rule: "\(decision.rule); privacy [\(verdict.rule)] \(verdict.reason)")
        }
        return .success(decision)
    }
}
