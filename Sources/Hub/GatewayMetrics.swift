import DUIS
import Metrics
import Synchronization

/// Request counts by web service and response code, and gateway latency, through
/// swift-metrics (exported by the server for Prometheus).
final class GatewayMetrics: Sendable {
    private let counters = Mutex<[String: Counter]>([:])
    private let latency = Metrics.Timer(label: "gbsm_gateway_duration_seconds", preferredDisplayUnit: .seconds)

    func record(service: DUISService, outcome: String, duration: Duration) {
        let key = service.rawValue + "/" + outcome
        let counter = counters.withLock { counters -> Counter in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "gbsm_requests_total", dimensions: [("service", service.rawValue), ("outcome", outcome)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let (seconds, attoseconds) = duration.components
        latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
