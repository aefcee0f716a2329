import Metrics
import NIOCore
import Synchronization

/// The bytes that large request bodies still streaming in have reserved, in the whole
/// process and per client (`BodyLimits`). It is shared by every connection's
/// `BodyLimitHandler`, and touched only by large bodies that did not arrive with their head,
/// so the common request never takes its lock. A client has an entry only while it has such
/// a body streaming, and each reserves at least `minimumReservation` bytes, so the table
/// holds at most `budgetBytes / minimumReservation` clients however many addresses an
/// attacker has.
///
/// It also remembers, until their penalty ends, the clients whose large body was cut for
/// being too slow (`BodyLimits.slowClientPenalty`): they may not reserve again until then.
/// That table holds at most `maxPenalised` clients (expired ones go first, then those
/// whose penalty ends soonest).
final class BodyAdmission: Sendable {
    struct Usage {
        var bytes = 0
        var largeBodies = 0
    }

    enum Refusal: Error, Equatable {
        /// The process-wide budget is exhausted.
        case busy
        /// This client's share or its number of large bodies is exhausted.
        case clientBusy
        /// This client's last large body was too slow: it may try again after this many seconds.
        case penalised(seconds: Int)
    }

    struct Reservation: Equatable {
        let client: ClientKey
        let bytes: Int
        let large: Bool
    }

    let limits: BodyLimits
    let maxPenalised: Int
    private let state = Mutex<(total: Int, clients: [ClientKey: Usage], penalised: [ClientKey: NIODeadline])>((0, [:], [:]))
    /// The most bytes ever reserved at once (never above the budget): what `/metrics`
    /// reports as `gbsm_http_body_budget_peak_bytes`, so an operator (and the slow-client
    /// test) sees the budget held.
    private let peakReserved = Mutex(0)
    static let reservedGauge = Gauge(label: "gbsm_http_body_budget_reserved_bytes")
    static let peakGauge = Gauge(label: "gbsm_http_body_budget_peak_bytes")

    /// The most bytes reserved at once so far.
    var peak: Int { peakReserved.withLock { $0 } }

    init(limits: BodyLimits, maxPenalised: Int = 4096) {
        self.limits = limits
        self.maxPenalised = max(1, maxPenalised)
    }

    /// Reserves room for a streaming body of `announced` bytes (nil: chunked, up to `maximum`).
    func reserve(client: ClientKey, announced: Int?, maximum: Int, now: NIODeadline = .now()) throws(Refusal) -> Reservation {
        let bytes = max(announced ?? maximum, limits.minimumReservation)
        let large = announced.map { $0 > limits.largeBodyBytes } ?? true
        let reservation = Reservation(client: client, bytes: bytes, large: large)
        let refusal = state.withLock { state -> Refusal? in
            if let until = state.penalised[client] {
                if now < until { return .penalised(seconds: max(1, Int((until - now).nanoseconds / 1_000_000_000) + 1)) }
                state.penalised[client] = nil
            }
            let usage = state.clients[client] ?? Usage()
            if usage.bytes + bytes > limits.clientBudgetBytes || (large && usage.largeBodies >= limits.clientLargeBodies) { return .clientBusy }
            if state.total + bytes > limits.budgetBytes { return .busy }
            state.total += bytes
            state.clients[client] = Usage(bytes: usage.bytes + bytes, largeBodies: usage.largeBodies + (large ? 1 : 0))
            let total = state.total
            let newPeak = peakReserved.withLock { peak -> Int? in
                guard total > peak else { return nil }
                peak = total
                return total
            }
            Self.reservedGauge.record(total)
            if let newPeak { Self.peakGauge.record(newPeak) }
            return nil
        }
        if let refusal { throw refusal }
        return reservation
    }

    func release(_ reservation: Reservation) {
        state.withLock { state in
            state.total -= reservation.bytes
            Self.reservedGauge.record(state.total)
            guard var usage = state.clients[reservation.client] else { return }
            usage.bytes -= reservation.bytes
            usage.largeBodies -= reservation.large ? 1 : 0
            state.clients[reservation.client] = usage.bytes <= 0 && usage.largeBodies <= 0 ? nil : usage
        }
    }

    /// `client`'s large body was cut for arriving too slowly: it may not reserve again for
    /// `slowClientPenalty`.
    func penalise(_ client: ClientKey, now: NIODeadline = .now()) {
        let parts = limits.slowClientPenalty.components
        guard parts.seconds > 0 || parts.attoseconds > 0 else { return }
        let until = now + .nanoseconds(min(parts.seconds, 86_400 * 365) * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
        state.withLock { state in
            if state.penalised[client] == nil, state.penalised.count >= maxPenalised {
                state.penalised = state.penalised.filter { $0.value > now }
                if state.penalised.count >= maxPenalised {
                    let cutoff = state.penalised.values.sorted()[state.penalised.count / 2]
                    state.penalised = state.penalised.filter { $0.value > cutoff }
                }
            }
            state.penalised[client] = until
        }
    }

    /// Bytes reserved now, and clients holding a reservation.
    var usage: (bytes: Int, clients: Int) {
        state.withLock { ($0.total, $0.clients.count) }
    }

    /// Clients penalised now (expired entries included until they are cleared).
    var penalisedClients: Int {
        state.withLock { $0.penalised.count }
    }
}
