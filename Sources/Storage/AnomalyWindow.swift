import DUIS

/// One fixed window of a user's requests of one SRV, as the anomaly detection's sliding
/// window counts them (`AnomalyDetector` in Hub). The key holds the window's length, so a
/// threshold whose window changes starts counting afresh instead of mixing lengths.
///
/// Hub processes that share a store count in it (`HubStore.countAnomalyWindow`), so a
/// user's threshold holds across them: N hubs do not let a user send N times as much.
public struct AnomalyWindow: Sendable, Hashable {
    /// The longest window a threshold may have (a year and a day), so a window's bounds
    /// in milliseconds never overflow.
    public static let longestSeconds = 366 * 86_400

    public let user: EUI64
    /// The SRV as DUIS writes it ("4.1.1").
    public let srv: String
    public let seconds: Int
    /// The window's start in milliseconds since 1970, a multiple of its length.
    public let start: Int64

    /// The window of `seconds` (clamped to 1...`longestSeconds`) that `milliseconds` falls in.
    public init(user: EUI64, srv: String, seconds: Int, containing milliseconds: Int64) {
        self.user = user
        self.srv = srv
        self.seconds = min(max(seconds, 1), Self.longestSeconds)
        let length = Int64(self.seconds) * 1000
        // Floor division, so a time before 1970 falls in the window that holds it too.
        let remainder = milliseconds % length
        self.start = milliseconds - (remainder < 0 ? remainder + length : remainder)
    }

    /// The window's length in milliseconds.
    public var length: Int64 { Int64(seconds) * 1000 }
    /// The start of the window before this one.
    public var previousStart: Int64 { start - length }
}

/// A window's count of requests, the one just counted included, and the count of the
/// window before it, from which the sliding estimate is made.
public struct AnomalyWindowCount: Sendable, Hashable {
    public var current: Int
    public var previous: Int

    public init(current: Int, previous: Int) {
        self.current = current
        self.previous = previous
    }
}
