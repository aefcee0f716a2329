import DUIS
import Metrics
import Synchronization

/// Request counts by web service and outcome, and gateway latency by web service, through
/// swift-metrics (exported by the server for Prometheus). Metric objects are made on
/// first use, so that they come from whatever factory the process bootstrapped.
final class GatewayMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[DUISService: Metrics.Timer]>([:])

    func record(service: DUISService, outcome: String, duration: Duration) {
        let key = service.rawValue + "/" + outcome
        let counter = counters.withLock { counters -> Counter in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "gbsm_requests_total", dimensions: [("service", service.rawValue), ("outcome", outcome)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers -> Metrics.Timer in
            if let timer = timers[service] { return timer }
            let timer = Metrics.Timer(label: "gbsm_gateway_duration_seconds", dimensions: [("service", service.rawValue)], preferredDisplayUnit: .seconds)
            timers[service] = timer
            return timer
        }
        let (seconds, attoseconds) = duration.components
        timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
