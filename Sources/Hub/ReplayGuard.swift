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

    /// Sets an originator's counter, lower than it was if need be (an operator's reset).
    public func reset(originator: EUI64, to counter: UInt64) { counters.withLock { $0[originator] = counter } }

    /// The highest counter accepted at `time`: the time in microseconds plus one day.
    ///
    /// DUIS only asks that counters rise. Without a ceiling, one request with the counter
    /// 2^64−1, which a holder of the user's key can send, would lock that user out for
    /// ever (nothing is above it, and refusals keep the counter too). Counters that count
    /// from 1, DCC Boxed's tools (the time in milliseconds) and gbsm's (the time in
    /// microseconds) all stay far below this bound; a counter above it is refused with E1
    /// and not recorded, so at worst a user is locked out until the clock catches up with
    /// what it sent (a day), or until an operator runs `gbsm users reset-counter`.
    public static func ceiling(at time: Timestamp) -> UInt64 {
        let milliseconds = max(0, time.adding(days: 1).milliseconds)
        let (micro, overflow) = UInt64(milliseconds).multipliedReportingOverflow(by: 1000)
        return overflow ? .max : micro
    }
}
