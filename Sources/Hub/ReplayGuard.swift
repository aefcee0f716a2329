import DUIS
import Synchronization

/// Anti-replay: each originator's counter must rise. The last counter of every
/// originator is kept in memory and written with each authenticated request.
public final class ReplayGuard: Sendable {
    private let counters = Mutex<[EUI64: UInt64]>([:])

    public init() {}

    public func load(_ values: [EUI64: UInt64]) { counters.withLock { $0 = values } }

    /// Admits `counter` if it is above the originator's last one, and records it.
    /// Returns the last counter when the request is a replay.
    public func admit(originator: EUI64, counter: UInt64) -> UInt64? {
        counters.withLock { counters in
            if let last = counters[originator], counter <= last { return last }
            counters[originator] = counter
            return nil
        }
    }

    public func last(_ originator: EUI64) -> UInt64? { counters.withLock { $0[originator] } }

    /// Raises an originator's counter to `counter` if it is above it (one another hub accepted).
    public func raise(originator: EUI64, to counter: UInt64) {
        counters.withLock { counters in
            if (counters[originator] ?? 0) < counter { counters[originator] = counter }
        }
    }

    /// Sets an originator's counter, lower than it was if need be (an operator's reset).
    public func reset(originator: EUI64, to counter: UInt64) { counters.withLock { $0[originator] = counter } }

    /// The highest counter accepted at `time`: the time in milliseconds plus one day.
    ///
    /// DUIS only asks that counters rise. Without a ceiling, one request with the counter
    /// 2^64−1, which a holder of the user's key can send, would lock that user out for
    /// ever (nothing is above it, and refusals keep the counter too). Counters that count
    /// from 1 and those that follow the clock in milliseconds (DCC Boxed's tools, gbsm's)
    /// stay below it; a counter above it is refused with E1 and not recorded. The highest
    /// counter a user can have reached is the clock plus a day, so a clock-based tool is
    /// above it again a day later at most (or at once after `gbsm users reset-counter`).
    public static func ceiling(at time: Timestamp) -> UInt64 {
        time.adding(days: 1).millisecondCounter
    }
}
