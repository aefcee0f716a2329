import DUIS
import Hub
import Logging
import ServiceLifecycle
import Storage

/// Failed portal sign-ins in the audit log, within a budget. Anyone can post a wrong code
/// for a known MPAN, from as many addresses as they have: auditing each failure in the
/// synced, hash-chained log wrote 1,994 rows for 2,000 posts from 2,000 addresses (at
/// 208 a second, and without end with IPv6 /64s), so the throttle, which limits each
/// address and premises, does not bound the log. So the failures are itemised (premises
/// and client) within a budget of their own, `RejectionAudit` as the hub uses for
/// unauthenticated DUIS requests: 100 at once, then one a second; the rest are counted by
/// premises and written as one summary entry a minute at most (kind `portal`, code
/// `summary`), when a later sign-in attempt comes or, failing that, from `run` (a service
/// of the application, which also writes what is left at shutdown). The log still shows
/// every failure, and its growth is bounded by time, not by the attacker's rate.
final class SignInAudit: Service, Sendable {
    let budget: RejectionAudit
    private let store: any HubStore
    private let logger: Logger

    /// 100 itemised failures at once, then one a second; a summary a minute at most. A
    /// household mistypes a handful of times; a flood gets at most 86,400 rows and 1,440
    /// summaries a day.
    static let settings: RejectionAudit.Settings = {
        var settings = RejectionAudit.Settings()
        settings.what = "failed portal sign-in(s)"
        settings.burst = 100
        settings.perSecond = 1
        settings.summaryInterval = 60_000
        return settings
    }()

    init(store: any HubStore, logger: Logger, settings: RejectionAudit.Settings = SignInAudit.settings) {
        self.budget = RejectionAudit(settings: settings)
        self.store = store
        self.logger = logger
    }

    /// The audit entries a failed sign-in for `premises` from `client` adds: itemised
    /// within the budget, and the summary if one is due. Often none.
    func failed(premises: Int64, client: ClientKey, at time: Timestamp) -> [Mutation] {
        var mutations: [Mutation] = []
        if budget.admit(reason: "failed portal sign-in for premises \(premises)", at: time) {
            mutations.append(.audit(AuditEvent(at: time, kind: .portal, detail: "failed portal sign-in for premises \(premises) from \(client)")))
        }
        return mutations + due(at: time)
    }

    /// The summary of failures not itemised, once it is due (or now, with `force`).
    func due(at time: Timestamp, force: Bool = false) -> [Mutation] {
        guard let summary = budget.summary(at: time, force: force) else { return [] }
        return [.audit(AuditEvent(at: summary.at, kind: .portal, code: summary.code, detail: summary.detail))]
    }

    /// Writes the summary if it is due.
    func flush(force: Bool = false) async {
        let mutations = due(at: .now(), force: force)
        guard !mutations.isEmpty else { return }
        do {
            try await store.apply(mutations)
        } catch {
            logger.error("the summary of failed portal sign-ins could not be audited: \(error)")
        }
    }

    /// Writes a due summary every ten seconds while the application runs (so a flood's
    /// count is logged even when nothing follows it), and what is left when it stops.
    func run() async throws {
        let interval = Duration.milliseconds(min(budget.settings.summaryInterval, 10_000))
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    break
                }
                await self.flush()
            }
        }
        await flush(force: true)
    }
}
