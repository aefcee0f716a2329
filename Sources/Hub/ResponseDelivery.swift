import AsyncHTTPClient
import DUIS
import Logging
import NIOCore
import NIOHTTP1
import Storage

/// How often failed deliveries are retried.
public struct DeliveryPolicy: Sendable {
    /// The first retry delay; each further failure doubles it.
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    public var requestTimeout: Duration
    /// How many messages are POSTed at once.
    public var concurrency: Int
    /// How many of those may go to one user, so that a slow endpoint cannot hold up the others.
    public var perRecipient: Int

    public init(initialBackoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(300), requestTimeout: Duration = .seconds(10),
                concurrency: Int = 64, perRecipient: Int = 4) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.requestTimeout = requestTimeout
        self.concurrency = concurrency
        self.perRecipient = perRecipient
    }

    public static let standard = DeliveryPolicy()

    func backoff(afterAttempts attempts: Int) -> Duration {
        let factor = 1 << min(max(attempts - 1, 0), 20)
        let delay = initialBackoff * factor
        let capped = delay > maximumBackoff ? maximumBackoff : delay
        // ±20% jitter spreads retries to a recovering endpoint.
        return capped * Double.random(in: 0.8...1.2)
    }
}

/// Delivers Service Responses and alerts from the durable outbox to each user's
/// registered response endpoint: POST of the signed XML, accepted on any 2xx, retried
/// with exponential backoff otherwise. The outbox lives in the store, so deliveries
/// survive restarts; each message carries a unique ResponseID so a receiver can
/// recognise the rare duplicate of a message whose acceptance was not yet recorded
/// when the hub stopped.
public final class ResponseDelivery: Sendable {
    let store: any HubStore
    let committer: GroupCommitter
    let registry: UserRegistry
    let client: HTTPClient
    let policy: DeliveryPolicy
    let wakeup: Wakeup
    /// This process among hubs sharing a store (`HubStore.instance`): the owner of the
    /// outbox leases it takes, void once the process is no longer alive.
    var owner: Int64 { store.instance }
    /// How long a taken message is this process's: its POST's timeout and a minute more,
    /// after which a hub that died has let it go to another.
    var leaseMilliseconds: Int64 { policy.requestTimeout.components.seconds * 1000 + 60_000 }
    let jobs: JobGuard
    let logger: Logger
    /// The time (`HubClock`) messages fall due at.
    let clock: any HubClock

    init(store: any HubStore, committer: GroupCommitter, registry: UserRegistry, client: HTTPClient, policy: DeliveryPolicy, wakeup: Wakeup,
         jobs: JobGuard, clock: any HubClock, logger: Logger) {
        self.clock = clock
        self.jobs = jobs
        self.store = store
        self.committer = committer
        self.registry = registry
        self.client = client
        self.policy = policy
        self.wakeup = wakeup
        self.logger = logger
    }

    /// Runs until the task is cancelled. Due messages are POSTed as slots free up (at
    /// most `concurrency` at once, `perRecipient` to one user); the loop also wakes when a
    /// new message is queued and periodically to pick up retries that fall due.
    public func run() async {
        await withTaskGroup(of: Int64?.self) { group in
            var inFlight: [Int64: EUI64] = [:]
            var perRecipient: [EUI64: Int] = [:]
            var ticking = false
            // The store is asked for due items when something may have changed: a wake-up
            // (a new message, or the periodic tick for retries) or deliveries running low.
            // Asking after every finished delivery would cap throughput at the rate of
            // those reads.
            var shouldQuery = true
            while !Task.isCancelled {
                if shouldQuery && inFlight.count < policy.concurrency {
                    shouldQuery = false
                    do {
                        // Choose by ID and recipient first; read the bodies of the chosen only.
                        // Recipients already at their limit are left out of the query, so one
                        // recipient's backlog (an endpoint that never answers, say) cannot fill
                        // the window every other recipient's messages are chosen from.
                        var chosen: [Int64] = []
                        var taken = perRecipient
                        let saturated = perRecipient.filter { $0.value >= policy.perRecipient }.map(\.key)
                        for key in try await store.dueOutboxKeys(now: clock.now(), limit: policy.concurrency * 4, excluding: saturated) {
                            guard inFlight[key.id] == nil, inFlight.count + chosen.count < policy.concurrency,
                                  taken[key.recipient, default: 0] < policy.perRecipient
                            else { continue }
                            chosen.append(key.id)
                            taken[key.recipient, default: 0] += 1
                        }
                        // Leased to this process (on a store hubs share, another hub may hold some).
                        let now = clock.now()
                        let items = try await store.claimOutboxItems(ids: chosen, owner: owner, until: now.adding(milliseconds: leaseMilliseconds), now: now)
                        // Marked as running before they are sent (`JobGuard`): messages that
                        // were being sent when the process died before go alone, each marked
                        // once it holds the suspects' turn.
                        try await jobs.mark(items.filter { $0.crashes == 0 }.compactMap { $0.id.map(JobKey.outbox) })
                        for item in items {
                            guard let id = item.id, inFlight[id] == nil else { continue }
                            inFlight[id] = item.recipient
                            perRecipient[item.recipient, default: 0] += 1
                            group.addTask {
                                await self.jobs.isolated(crashes: item.crashes, lane: .delivery) {
                                    if item.crashes > 0 {
                                        do {
                                            // Its turn may come after the lease it was taken with
                                            // ran out: taken again, or left to the hub that has it.
                                            let now = self.clock.now()
                                            guard try await !self.store.claimOutboxItems(ids: [id], owner: self.owner, until: now.adding(milliseconds: self.leaseMilliseconds),
                                                                                         now: now).isEmpty else { return }
                                            try await self.jobs.mark([.outbox(id)])
                                        } catch {
                                            self.logger.error("outbox message \(id) could not be marked as running: \(error)")
                                            return
                                        }
                                    }
                                    await self.deliver(item)
                                    await self.jobs.finished(.outbox(id), crashes: item.crashes)
                                }
                                return id
                            }
                        }
                    } catch {
                        if Task.isCancelled { break }
                        logger.error("outbox unavailable: \(error)")
                    }
                }
                if !ticking {
                    ticking = true
                    var wait = Duration.seconds(1)
                    if inFlight.isEmpty {
                        wait = .seconds(5)
                        if let next = try? await store.nextOutboxDue() {
                            wait = min(wait, .milliseconds(max(next.milliseconds - clock.now().milliseconds, 1)))
                        }
                    }
                    group.addTask {
                        await self.wakeup.wait(upTo: wait)
                        return nil
                    }
                }
                guard let finished = await group.next() else { break }
                if let id = finished {
                    if let recipient = inFlight.removeValue(forKey: id) {
                        perRecipient[recipient, default: 1] -= 1
                    }
                    if inFlight.count <= policy.concurrency / 2 { shouldQuery = true }
                } else {
                    ticking = false
                    shouldQuery = true
                }
            }
            group.cancelAll()
        }
    }

    func deliver(_ item: OutboxItem) async {
        guard let id = item.id else { return }
        let attempts = item.attempts + 1
        guard let url = registry.user(item.recipient)?.responseURL, !url.isEmpty else {
            await retry(item, id: id, attempts: attempts, error: "no response endpoint registered for \(item.recipient) (gbsm users set-response-url)")
            return
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml")
        request.headers.add(name: "X-DUIS-Message-ID", value: item.messageID)
        request.body = .bytes(ByteBuffer(bytes: item.body))
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(policy.requestTimeout.components.seconds) * 1_000_000_000 + policy.requestTimeout.components.attoseconds / 1_000_000_000))
            status = response.status.code
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch {
            await retry(item, id: id, attempts: attempts, error: "\(url): \(error)")
            return
        }
        guard (200..<300).contains(status) else {
            await retry(item, id: id, attempts: attempts, error: "\(url) answered HTTP \(status)")
            return
        }
        let now = clock.now()
        do {
            try await committer.commit([
                .outboxDelivered(id: id, at: now),
                .audit(AuditEvent(at: now, kind: .delivery, actor: item.recipient, requestID: item.requestID, code: "HTTP \(status)",
                                  detail: "\(item.kind) \(item.messageID) delivered to \(url) after \(attempts) attempt(s)")),
            ])
        } catch {
            // Delivered, but not recorded: the message stays pending and will be sent again
            // (the receiver recognises it by its ResponseID).
            logger.error("\(item.messageID) was delivered but its delivery could not be recorded: \(error)")
        }
    }

    private func retry(_ item: OutboxItem, id: Int64, attempts: Int, error: String) async {
        let delay = policy.backoff(afterAttempts: attempts)
        let next = clock.now().adding(milliseconds: delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        logger.info("delivery of \(item.messageID) failed (attempt \(attempts)): \(error); next attempt at \(next.iso8601)")
        do {
            try await committer.commit([.outboxRetry(id: id, attempts: attempts, nextAttemptAt: next, error: error)])
        } catch {
            logger.error("could not record the retry of \(item.messageID): \(error)")
        }
    }
}
