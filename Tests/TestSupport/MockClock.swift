import DUIS
import Hub
import Synchronization

/// A clock a test moves itself (as Hummingbird's `MockClock`): a hub started with it reads
/// this time in every stage, and the test calls `RunningHub.advance(by:)` (or moves it and
/// calls `Hub.tick()`) to get to a future-dated request's time, a schedule's next run or a
/// held command's execution, instead of sleeping until then.
public final class MockClock: HubClock {
    private let time: Mutex<Timestamp>

    public init(_ start: Timestamp = Timestamp.now()) { time = Mutex(start) }

    public func now() -> Timestamp { time.withLock { $0 } }

    /// Moves the clock forward (never back: the hub's stages assume time does not reverse).
    public func advance(by milliseconds: Int64) {
        time.withLock { $0 = $0.adding(milliseconds: max(0, milliseconds)) }
    }

    public func advance(to target: Timestamp) {
        time.withLock { $0 = max($0, target) }
    }
}
