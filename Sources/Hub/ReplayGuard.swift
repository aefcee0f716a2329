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
}
