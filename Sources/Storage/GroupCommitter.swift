import DequeModule
import Synchronization

/// Gathers the mutations of concurrent callers and applies them in as few transactions
/// as possible: while one transaction is being written and synced, everything that
/// arrives waits for the next one. Each caller resumes only once its own mutations are
/// durable. A failing batch is retried caller by caller so that one bad write cannot
/// fail the others.
public final class GroupCommitter: Sendable {
    private struct Waiter {
        var mutations: [Mutation]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: Deque<Waiter> = []
        var flushing = false
        var transactions: Int = 0
        var committedBatches: Int = 0
    }

    private let store: any HubStore
    private let state = Mutex(State())
    private let maxBatch: Int

    public init(store: any HubStore, maxBatch: Int = 2048) {
        self.store = store
        self.maxBatch = maxBatch
    }

    /// Returns once the mutations are committed.
    public func commit(_ mutations: [Mutation]) async throws {
        if mutations.isEmpty { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startFlush = state.withLock { state -> Bool in
                state.pending.append(Waiter(mutations: mutations, continuation: continuation))
                if state.flushing { return false }
                state.flushing = true
                return true
            }
            if startFlush {
                Task { await self.flush() }
            }
        }
    }

    /// Transactions written so far and the callers they served (for benchmarks).
    public var statistics: (transactions: Int, callers: Int) {
        state.withLock { ($0.transactions, $0.committedBatches) }
    }

    private func flush() async {
        while true {
            let batch: [Waiter]? = state.withLock { state in
                if state.pending.isEmpty {
                    state.flushing = false
                    return nil
                }
                let take = min(state.pending.count, maxBatch)
                let batch = Array(state.pending.prefix(take))
                state.pending.removeFirst(take)
                return batch
            }
            guard let batch else { return }
            do {
                try await store.apply(batch.flatMap(\.mutations))
                state.withLock {
                    $0.transactions += 1
                    $0.committedBatches += batch.count
                }
                for waiter in batch { waiter.continuation.resume() }
            } catch {
                if batch.count == 1 {
                    batch[0].continuation.resume(throwing: error)
                    continue
                }
                for waiter in batch {
                    do {
                        try await store.apply(waiter.mutations)
                        state.withLock {
                            $0.transactions += 1
                            $0.committedBatches += 1
                        }
                        waiter.continuation.resume()
                    } catch {
                        waiter.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
