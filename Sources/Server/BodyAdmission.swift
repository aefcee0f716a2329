import Synchronization

/// The bytes that large request bodies still streaming in have reserved, in the whole
/// process and per client (`BodyLimits`). It is shared by every connection's
/// `BodyLimitHandler`, and touched only by large bodies that did not arrive with their head,
/// so the common request never takes its lock. A client has an entry only while it has such
/// a body streaming, and each reserves at least `minimumReservation` bytes, so the table
/// holds at most `budgetBytes / minimumReservation` clients however many addresses an
/// attacker has.
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
    }

    struct Reservation: Equatable {
        let client: ClientKey
        let bytes: Int
        let large: Bool
    }

    let limits: BodyLimits
    private let state = Mutex<(total: Int, clients: [ClientKey: Usage])>((0, [:]))

    init(limits: BodyLimits) {
        self.limits = limits
    }

    /// Reserves room for a streaming body of `announced` bytes (nil: chunked, up to `maximum`).
    func reserve(client: ClientKey, announced: Int?, maximum: Int) throws(Refusal) -> Reservation {
        let bytes = max(announced ?? maximum, limits.minimumReservation)
        let large = announced.map { $0 > limits.largeBodyBytes } ?? true
        let reservation = Reservation(client: client, bytes: bytes, large: large)
        let refusal = state.withLock { state -> Refusal? in
            let usage = state.clients[client] ?? Usage()
            if usage.bytes + bytes > limits.clientBudgetBytes || (large && usage.largeBodies >= limits.clientLargeBodies) { return .clientBusy }
            if state.total + bytes > limits.budgetBytes { return .busy }
            state.total += bytes
            state.clients[client] = Usage(bytes: usage.bytes + bytes, largeBodies: usage.largeBodies + (large ? 1 : 0))
            return nil
        }
        if let refusal { throw refusal }
        return reservation
    }

    func release(_ reservation: Reservation) {
        state.withLock { state in
            state.total -= reservation.bytes
            guard var usage = state.clients[reservation.client] else { return }
            usage.bytes -= reservation.bytes
            usage.largeBodies -= reservation.large ? 1 : 0
            state.clients[reservation.client] = usage.bytes <= 0 && usage.largeBodies <= 0 ? nil : usage
        }
    }

    /// Bytes reserved now, and clients holding a reservation.
    var usage: (bytes: Int, clients: Int) {
        state.withLock { ($0.total, $0.clients.count) }
    }
}
