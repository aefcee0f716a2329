/// Resource limits per client on request bodies, enforced while a body streams in (by
/// `BodyLimitHandler`, below the router). Closing only idle connections is not enough: a
/// client that sends all but one byte of a large body and then one byte now and then is
/// never idle, and holds its buffer for as long as it likes (100 such connections held
/// about 940 MiB). So:
///
/// - a body that arrives with its head, in the same read, costs nothing more (no timer,
///   no accounting: almost every DUIS request);
/// - a large body (announced beyond `largeBodyBytes`, or chunked) still streaming in after
///   that first read *reserves* its announced length (the service's maximum when chunked)
///   from a process-wide budget and from its client's share, and counts against the
///   client's number of large bodies; if any of them is exhausted the request gets 503
///   with `Retry-After` before the application sees it, and the connection is closed;
/// - every body that streams (large or small) must then arrive within `readTimeout`
///   (longer for a body announced large: its length at `minimumRate`, but never more than
///   `maxReadTimeout`), and after `grace` at no less than `minimumRate` averaged since its
///   head; a breach is answered 408 and the connection closed, which releases the buffer.
///   A small body is therefore held for at most `grace` (64 KiB at 16 KiB/s: 4 s) unless
///   it keeps coming: holding memory costs an attacker the bandwidth to send it, so small
///   bodies need no budget, and a small request is never refused because large ones
///   exhausted it;
/// - a body too long to arrive at `minimumRate` within `maxReadTimeout` (over 1.875 MiB by
///   default: firmware images) must instead average the rate that brings it in by its
///   deadline (a 14 MiB body: 14 MiB / 120 s, about 120 KiB/s). One that falls behind can
///   no longer arrive in time, and is cut as soon as that shows (after `grace`), not at
///   its deadline: five clients that announced firmware images and sent 16 KiB a second
///   held the whole budget for 120 s, so that every other large body got 503;
/// - a client whose large body was cut for arriving too slowly or too late may not stream
///   another large body for `slowClientPenalty` (503 with `Retry-After`), so that
///   reconnecting does not buy it the budget again for another `grace`;
/// - the DUIS services need a Content-Length (their clients send one): a body without one
///   (chunked) gets 411 and the connection is closed. A chunked body would otherwise
///   reserve its service's maximum (14 MiB) however little of it ever came;
/// - a body announced longer than its service's maximum gets 413 (nothing of it is read
///   into the application) and the connection is closed.
///
/// A request refused before the application saw it is answered as soon as the client has
/// stopped sending (its body discarded, not held), or after `linger` or `drainBytes` at
/// most, because some clients (AsyncHTTPClient) fail rather than read an answer that
/// arrives while they are still writing.
///
/// Headers cannot be trickled instead: Hummingbird's idle timeout counts only complete
/// parts, so a connection whose head does not complete is closed after the idle timeout.
public struct BodyLimits: Sendable, Equatable {
    /// The longest a body may take to arrive once it streams (a body announced large
    /// gets its length at `minimumRate`, up to `maxReadTimeout`).
    public var readTimeout: Duration
    /// The cap on the time any body may take.
    public var maxReadTimeout: Duration
    /// No rate is required before this much time has passed since the head.
    public var grace: Duration
    /// Bytes per second, averaged since the head, that a body must keep up after `grace`.
    public var minimumRate: Int
    /// Bytes that bodies still streaming in may reserve together, in the whole process.
    public var budgetBytes: Int
    /// The share of the budget one client may reserve.
    public var clientBudgetBytes: Int
    /// Large bodies (announced beyond `largeBodyBytes`, or chunked) one client may stream at once.
    public var clientLargeBodies: Int
    /// A body announced beyond this is large.
    public var largeBodyBytes: Int
    /// The least a large streaming body reserves.
    public var minimumReservation: Int
    /// After a refusal the server stops sending, discards what still arrives for this long
    /// (so the client reads the answer rather than a reset), then closes. A request refused
    /// before its body was read is answered once its body has been discarded, or after this
    /// long at most.
    public var linger: Duration
    /// The most of a refused request's body discarded before it is answered.
    public var drainBytes: Int
    /// `Retry-After` on a 503 for an exhausted budget, in seconds.
    public var retryAfterSeconds: Int
    /// How long a client whose large body was too slow (or too late) may not stream another.
    public var slowClientPenalty: Duration

    /// The defaults. 30 s is the idle timeout's value, and a DUIS request of a few KiB takes
    /// milliseconds; 16 KiB/s is 128 kbit/s, slower than any line a DCC user sends from,
    /// while a trickling client sends bytes per minute. A 1 MiB Send Command body may take
    /// 64 s, a 14 MiB firmware image the 120 s cap (it needs about 1 Mbit/s). The 64 MiB
    /// budget holds four firmware images or 64 full Send Command bodies at once; one client
    /// may hold 16 MiB of it (one firmware image and its small requests), and stream at
    /// most four large bodies. A client whose large body was too slow waits 60 s before
    /// another: a sender on a line too slow for its body would fail anyway.
    public init(readTimeout: Duration = .seconds(30), maxReadTimeout: Duration = .seconds(120), grace: Duration = .seconds(5),
                minimumRate: Int = 16 << 10, budgetBytes: Int = 64 << 20, clientBudgetBytes: Int = 16 << 20, clientLargeBodies: Int = 4,
                largeBodyBytes: Int = 64 << 10, minimumReservation: Int = 4 << 10, linger: Duration = .seconds(2), drainBytes: Int = 16 << 20,
                retryAfterSeconds: Int = 5, slowClientPenalty: Duration = .seconds(60)) {
        self.readTimeout = readTimeout
        self.maxReadTimeout = maxReadTimeout
        self.grace = grace
        self.minimumRate = minimumRate
        self.budgetBytes = budgetBytes
        self.clientBudgetBytes = clientBudgetBytes
        self.clientLargeBodies = clientLargeBodies
        self.largeBodyBytes = largeBodyBytes
        self.minimumReservation = minimumReservation
        self.linger = linger
        self.drainBytes = drainBytes
        self.retryAfterSeconds = retryAfterSeconds
        self.slowClientPenalty = slowClientPenalty
    }

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case notPositive(String)
        case timeoutsOutOfOrder
        case clientShareTooSmall(needed: Int)

        public var description: String {
            switch self {
            case .notPositive(let name): return "\(name) must be positive"
            case .timeoutsOutOfOrder: return "the body read timeout cannot exceed its maximum, nor the grace period the timeout"
            case .clientShareTooSmall(let needed):
                return "a client's body budget must hold the largest body (\(needed) bytes) and fit in the process-wide budget"
            }
        }
    }

    /// Checks the limits can admit a body of `largestBody` bytes at all.
    public func validate(largestBody: Int) throws(Invalid) {
        for (name, value) in [("the minimum body rate", minimumRate), ("the body budget", budgetBytes), ("a client's body budget", clientBudgetBytes),
                              ("a client's large bodies", clientLargeBodies), ("the retry delay", retryAfterSeconds)] where value <= 0 {
            throw .notPositive(name)
        }
        guard readTimeout > .zero, grace >= .zero, linger >= .zero, slowClientPenalty >= .zero else { throw .notPositive("the body timeouts") }
        guard readTimeout <= maxReadTimeout, grace <= readTimeout else { throw .timeoutsOutOfOrder }
        guard clientBudgetBytes >= largestBody, clientBudgetBytes <= budgetBytes else { throw .clientShareTooSmall(needed: largestBody) }
    }

    /// The time a body of `length` bytes may take: its length at the minimum rate, within
    /// `readTimeout...maxReadTimeout`.
    func allowedTime(for length: Int) -> Duration {
        let seconds = Double(length) / Double(max(minimumRate, 1))
        let atRate = seconds >= maxReadTimeout.inSeconds ? maxReadTimeout : Duration.milliseconds(Int64(seconds * 1000))
        return min(max(atRate, readTimeout), maxReadTimeout)
    }

    /// The average rate, in bytes per second since the head, a body of `length` bytes
    /// (nil: unknown) must keep up after `grace`: `minimumRate`, or the rate that brings the
    /// whole body in within its allowed time if that is higher.
    func requiredRate(for length: Int?) -> Double {
        let floor = Double(max(minimumRate, 1))
        guard let length else { return floor }
        return max(floor, Double(length) / max(allowedTime(for: length).inSeconds, 0.001))
    }
}

extension Duration {
    var inSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
