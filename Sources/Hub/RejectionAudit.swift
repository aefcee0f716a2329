import DUIS
import Storage
import Synchronization

/// How much of the audit log requests nobody has authenticated may take.
///
/// A request that cannot be read, or whose signature does not verify, comes from anyone:
/// writing each one into the synced audit log lets a stranger fill the disk. So each is
/// refused with its reason as before, but only a bounded number are itemised in the log
/// (a token bucket: `burst` at once, `perSecond` after that); the rest are counted and
/// written as one summary entry per `summaryInterval`, with how many there were and the
/// commonest reasons. The log still shows that they happened; its growth under a flood
/// is bounded by time, not by the attacker's request rate. Authenticated requests are
/// never counted here: each of them is audited in full.
package final class RejectionAudit: Sendable {
    package struct Settings: Sendable {
        package var burst: Int = 200
        package var perSecond: Double = 20
        package var summaryInterval: Int64 = 10_000
        /// What the counted events are, in the summary entry.
        package var what = "unauthenticated or unreadable request(s) refused"
        package init() {}
    }

    private struct State {
        var tokens: Double
        var refilledAt: Int64
        var suppressed = 0
        var reasons: [String: Int] = [:]
        var since: Int64?
    }

    package let settings: Settings
    private let state: Mutex<State>

    package init(settings: Settings = Settings(), now: Timestamp = .now()) {
        self.settings = settings
        state = Mutex(State(tokens: Double(settings.burst), refilledAt: now.milliseconds))
    }

    /// Whether this rejection may be itemised; if not, it is counted under `reason`
    /// (a short, fixed text such as the rule: never the request's own text).
    package func admit(reason: String, at time: Timestamp) -> Bool {
        state.withLock { state in
            let elapsed = max(0, state.refilledAt.milliseconds(to: time.milliseconds))
            state.tokens = min(Double(settings.burst), state.tokens + Double(elapsed) / 1000 * settings.perSecond)
            state.refilledAt = max(state.refilledAt, time.milliseconds)
            if state.tokens >= 1 {
                state.tokens -= 1
                return true
            }
            state.suppressed += 1
            if state.reasons.count < 32 || state.reasons[reason] != nil { state.reasons[reason, default: 0] += 1 }
            if state.since == nil { state.since = time.milliseconds }
            return false
        }
    }

    /// The summary entry due at `time`, if rejections were counted and the interval passed
    /// (or `force`, at shutdown).
    package func summary(at time: Timestamp, force: Bool = false) -> AuditEvent? {
        state.withLock { state -> AuditEvent? in
            guard state.suppressed > 0, let since = state.since,
                  force || since.milliseconds(to: time.milliseconds) >= settings.summaryInterval else { return nil }
            let top = state.reasons.sorted { $0.value > $1.value }.prefix(5).map { "\($0.value)× \($0.key)" }.joined(separator: "; ")
            let event = AuditEvent(at: time, kind: .requestRejected, code: "summary",
                                   detail: "\(state.suppressed) further \(settings.what) since \(Timestamp(milliseconds: since).iso8601), not itemised (more than \(Int(settings.perSecond))/s): \(top)")
            state.suppressed = 0
            state.reasons = [:]
            state.since = nil
            return event
        }
    }
}

extension Int64 {
    /// `other - self`, saturating.
    func milliseconds(to other: Int64) -> Int64 {
        let (difference, overflow) = other.subtractingReportingOverflow(self)
        return overflow ? (other < self ? .min : .max) : difference
    }
}
