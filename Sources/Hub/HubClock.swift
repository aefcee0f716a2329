import DUIS

/// Where the hub's stages read the time. Serving, it is the system's clock (`WallClock`);
/// a test gives a clock it moves itself (TestSupport's `MockClock`) and calls
/// `Hub.tick()`, so a request future-dated for tomorrow, a DCC schedule's next run or an
/// outbox retry can be tested without waiting for it. No stage calls `Timestamp.now()`:
/// each is given this clock.
///
/// Counters seeded from the time (the gateway's and the broker's message counters) keep
/// the system's clock, so they stay above those of earlier runs whatever a test's clock
/// says.
public protocol HubClock: Sendable {
    func now() -> Timestamp
}

/// The system's clock.
public struct WallClock: HubClock {
    public init() {}
    public func now() -> Timestamp { Timestamp.now() }
}
