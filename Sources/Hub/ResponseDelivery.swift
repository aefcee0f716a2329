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

    public init(initialBackoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(300), requestTimeout: Duration = .seconds(10), concurrency: Int = 16) {
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.requestTimeout = requestTimeout
        self.concurrency = concurrency
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
    let logger: Logger

    init(store: any HubStore, committer: GroupCommitter, registry: UserRegistry, client: HTTPClient, policy: DeliveryPolicy, wakeup: Wakeup, logger: Logger) {
        self.store = store
        self.committer = committer
        self.registry = registry
        self.client = client
        self.policy = policy
        self.wakeup = wakeup
        self.logger = logger
    }

    /// Runs until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            let now = Timestamp.now()
            let due: [OutboxItem]
            do {
                due = try await store.dueOutbox(now: now, limit: policy.concurrency * 4)
            } catch {
                if Task.isCancelled { break }
                logger.error("outbox unavailable: \(error)")
                await wakeup.wait(upTo: .seconds(1))
                continue
            }
            if due.isEmpty {
                var wait = Duration.seconds(5)
                if let next = try? await store.nextOutboxDue() {
                    let milliseconds = max(next.milliseconds - Timestamp.now().milliseconds, 1)
                    wait = min(wait, .milliseconds(milliseconds))
                }
                await wakeup.wait(upTo: wait)
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for item in due {
                    if running >= policy.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await self.deliver(item) }
                    running += 1
                }
            }
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
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(policy.requestTimeout.components.seconds) * 1_000_000_000 + policy.requestTimeout.components.attoseconds / 1_000_000_000))
            let status = response.status.code
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(status) else {
                await retry(item, id: id, attempts: attempts, error: "\(url) answered HTTP \(status)")
                return
            }
            let now = Timestamp.now()
            try await committer.commit([
                .outboxDelivered(id: id, at: now),
                .audit(AuditEvent(at: now, kind: "delivery", actor: item.recipient, requestID: item.requestID, code: "HTTP \(status)",
                                  detail: "\(item.kind) \(item.messageID) delivered to \(url) after \(attempts) attempt(s)")),
            ])
        } catch {
            await retry(item, id: id, attempts: attempts, error: "\(url): \(error)")
        }
    }

    private func retry(_ item: OutboxItem, id: Int64, attempts: Int, error: String) async {
        let delay = policy.backoff(afterAttempts: attempts)
        let next = Timestamp.now().adding(milliseconds: delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
        logger.info("delivery of \(item.messageID) failed (attempt \(attempts)): \(error); next attempt at \(next.iso8601)")
        do {
            try await committer.commit([.outboxRetry(id: id, attempts: attempts, nextAttemptAt: next, error: error)])
        } catch {
            logger.error("could not record the retry of \(item.messageID): \(error)")
        }
    }
}
