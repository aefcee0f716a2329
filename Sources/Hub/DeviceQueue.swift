import DUIS
import HeapModule
import Synchronization

/// The device boundary's queue: the stored requests waiting to run, by due time, and how
/// many of them are in progress.
///
/// It is its own type, apart from `DeviceDispatcher`'s run loop, so its order, its dedupe
/// and its limit can be tested alone: it reads no clock (every time is an argument, the
/// dispatcher's `HubClock` reading), it sleeps on nothing and wakes nothing. A test moves
/// time by passing a later `now`, never by waiting.
final class DeviceQueue: Sendable {
    /// One queued request. Requests due at the same time run in the order they were queued
    /// (`sequence`), so a burst queued together is served first come, first served.
    struct Entry: Comparable, Sendable {
        /// Milliseconds since the epoch.
        var due: Int64
        var sequence: UInt64
        var requestID: String

        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.due, lhs.sequence) < (rhs.due, rhs.sequence) }
    }

    private struct State {
        var heap = Heap<Entry>()
        /// The requests queued or in progress: a request is in the heap at most once, and
        /// not at all while it runs, however often the gateway, a schedule or recovery
        /// hands it over.
        var queued = Set<String>()
        var sequence: UInt64 = 0
        var inFlight = 0

        mutating func insert(_ requestID: String, due: Int64) {
            sequence += 1
            heap.insert(Entry(due: due, sequence: sequence, requestID: requestID))
        }
    }

    /// How many requests may be in progress at once (`--device-concurrency`).
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Queues a request to run at `due`. Returns false, and changes nothing, when the
    /// request is already queued or in progress.
    @discardableResult
    func enqueue(_ requestID: String, due: Timestamp) -> Bool {
        state.withLock { state -> Bool in
            guard state.queued.insert(requestID).inserted else { return false }
            state.insert(requestID, due: due.milliseconds)
            return true
        }
    }

    /// Takes the earliest request due at `now` and counts it as in progress, or nil when
    /// none is due or `limit` are in progress already.
    func next(at now: Timestamp) -> Entry? {
        state.withLock { state -> Entry? in
            guard state.inFlight < limit, let first = state.heap.min, first.due <= now.milliseconds else { return nil }
            state.inFlight += 1
            return state.heap.removeMin()
        }
    }

    /// When the earliest queued request is due, or nil when nothing is queued or `limit`
    /// are in progress (nothing can start before one of them finishes).
    var nextDue: Timestamp? {
        state.withLock { state -> Timestamp? in
            guard state.inFlight < limit, let first = state.heap.min else { return nil }
            return Timestamp(milliseconds: first.due)
        }
    }

    /// Ends a request taken with `next(at:)`: queued again `delay` after `now` (it could
    /// not finish), or forgotten (nil: it finished, or it is no longer the boundary's).
    func finished(_ requestID: String, retryAfter delay: Duration?, at now: Timestamp) {
        state.withLock { state in
            state.inFlight -= 1
            if let delay {
                state.insert(requestID, due: now.milliseconds + delay.milliseconds)
            } else {
                state.queued.remove(requestID)
            }
        }
    }

    /// Requests queued or in progress.
    var pending: Int { state.withLock { $0.queued.count } }

    /// Requests in progress.
    var inFlight: Int { state.withLock { $0.inFlight } }
}
