import DUIS
import Logging
import Storage
import Synchronization

/// Anomaly detection: per-user, per-SRV volume thresholds. A request beyond the number
/// allowed in the sliding window is quarantined and a DCC alert raised. A user's own
/// threshold for the SRV applies first, then the user's threshold for every SRV (`*`),
/// then DCC's default.
///
/// One hub process on its own store counts in memory. Hub processes that share a store
/// count in it (`HubStore.countAnomalyWindow`: on PostgreSQL one upsert per request, in a
/// transaction that does not wait for the disk), so a threshold
/// holds for the user across all of them, as one DCC.
public final class AnomalyDetector: Sendable {
    public struct Breach: Sendable {
        public let threshold: AnomalyThreshold
        public let observed: Int
        /// True for a threshold the user set, false for DCC's own.
        public let isUserThreshold: Bool
    }

    /// A user's threshold for one SRV, or (`srv` nil) for every SRV (`*`).
    private struct Key: Hashable {
        let user: EUI64
        let srv: SRV?
    }

    private struct State {
        var thresholds: [Key: AnomalyThreshold] = [:]
        /// The windows counted in memory, by user and SRV: the latest one counted.
        var windows: [Key: (window: AnomalyWindow, count: AnomalyWindowCount)] = [:]
    }

    private let state = Mutex(State())
    public let defaultLimit: Int
    public let defaultWindowSeconds: Int
    /// Counts in a store other hub processes count in too; nil counts in memory.
    private let shared: (@Sendable (AnomalyWindow) async throws -> AnomalyWindowCount)?

    public init(defaultLimit: Int, defaultWindowSeconds: Int,
                shared: (@Sendable (AnomalyWindow) async throws -> AnomalyWindowCount)? = nil) {
        self.defaultLimit = defaultLimit
        self.defaultWindowSeconds = defaultWindowSeconds
        self.shared = shared
    }

    public func load(_ thresholds: [AnomalyThreshold]) {
        // `gbsm anomaly set` refuses longer windows; one stored by an older gbsm is counted
        // over the longest (`AnomalyWindow` clamps), and reported here.
        for threshold in thresholds where !(1...AnomalyWindow.longestSeconds).contains(threshold.windowSeconds) {
            Logger(label: "gbsm.hub").warning("anomaly threshold of \(threshold.user) for \(threshold.srv): a window of \(threshold.windowSeconds) s is counted over \(min(max(threshold.windowSeconds, 1), AnomalyWindow.longestSeconds)) s (1 s to a year and a day)")
        }
        state.withLock { state in
            state.thresholds = [:]
            for threshold in thresholds {
                // The store keeps DUIS's text ("*" for every SRV); `gbsm anomaly set` writes
                // nothing else, so text that is neither is not a threshold.
                if threshold.srv == "*" {
                    state.thresholds[Key(user: threshold.user, srv: nil)] = threshold
                } else if let srv = SRV(threshold.srv) {
                    state.thresholds[Key(user: threshold.user, srv: srv)] = threshold
                }
            }
        }
    }

    public func thresholds() -> [AnomalyThreshold] { state.withLock { Array($0.thresholds.values) } }

    /// Counts the request and reports a breach if it is over its threshold. The window
    /// slides: the previous fixed window's count is weighted by how much of it the
    /// sliding window still overlaps. Throws only when a shared store cannot count.
    public func record(user: EUI64, srv: SRV, at time: Timestamp) async throws -> Breach? {
        let (threshold, isUser) = state.withLock { state in
            if let own = state.thresholds[Key(user: user, srv: srv)] ?? state.thresholds[Key(user: user, srv: nil)] {
                return (own, true)
            }
            return (AnomalyThreshold(user: user, srv: "*", limit: defaultLimit, windowSeconds: defaultWindowSeconds), false)
        }
        let window = AnomalyWindow(user: user, srv: srv.text, seconds: threshold.windowSeconds, containing: time.milliseconds)
        let count: AnomalyWindowCount
        if let shared {
            count = try await shared(window)
        } else {
            count = state.withLock { state in
                let key = Key(user: user, srv: srv)
                var count = AnomalyWindowCount(current: 0, previous: 0)
                if let last = state.windows[key], last.window.seconds == window.seconds {
                    if last.window.start == window.start {
                        count = last.count
                    } else if last.window.start == window.previousStart {
                        count.previous = last.count.current
                    }
                }
                count.current += 1
                state.windows[key] = (window, count)
                return count
            }
        }
        let overlap = Double(window.length - (time.milliseconds - window.start)) / Double(window.length)
        let estimate = Int((Double(count.previous) * overlap).rounded(.down)) + count.current
        return estimate > threshold.limit ? Breach(threshold: threshold, observed: estimate, isUserThreshold: isUser) : nil
    }
}
