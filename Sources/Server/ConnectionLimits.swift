import Synchronization

/// How many connections the server holds open, in total and per client, shared by every
/// connection's `ConnectionLimitHandler`.
///
/// Every open connection holds a file descriptor, and the idle timeout does not bound how
/// many a client holds: a request every few seconds keeps a connection busy forever. With
/// nothing else in the way, one anonymous address opened connections until the process
/// ran out of descriptors, and then the runtime itself (libdispatch, which must open
/// `/proc/<tid>/stat`) trapped: the hub died. So a client (`ClientKey`: an IPv4 address
/// or IPv6 /64) may hold `perClient` connections, and all clients together `total`, which
/// is kept well below the descriptor limit (`total(configured:descriptors:)`) so that
/// SQLite, outbound deliveries and the runtime always find one. A connection beyond either
/// is closed as soon as it is accepted.
///
/// The host itself (`ClientKey.isLocalHost`: 127.0.0.1, ::1, a Unix socket) counts in the
/// total but has no cap of its own: a reverse proxy in front of the hub connects from
/// there for all its clients (and must limit them itself), and so do the operator's tools.
///
/// A client has an entry only while it has a connection open, and entries go at zero, so
/// the table never holds more than `total` clients however many addresses connect.
final class ConnectionLimits: Sendable {
    enum Refusal: Error, Equatable {
        /// This client already holds `perClient` connections.
        case client
        /// All clients together hold `total`.
        case total

        var label: String {
            switch self {
            case .client: return "client"
            case .total: return "total"
            }
        }
    }

    let total: Int
    let perClient: Int
    private let state = Mutex<(open: Int, clients: [ClientKey: Int])>((0, [:]))

    init(total: Int, perClient: Int) {
        self.total = max(1, total)
        self.perClient = max(1, min(perClient, total))
    }

    /// Counts a new connection from `client`, or tells why it may not stay open.
    func open(_ client: ClientKey) throws(Refusal) {
        let refusal = state.withLock { state -> Refusal? in
            let held = state.clients[client] ?? 0
            if held >= perClient, !client.isLocalHost { return .client }
            if state.open >= total { return .total }
            state.open += 1
            state.clients[client] = held + 1
            return nil
        }
        if let refusal { throw refusal }
    }

    /// A connection `open` counted has closed.
    func close(_ client: ClientKey) {
        state.withLock { state in
            guard let held = state.clients[client] else { return }
            state.open -= 1
            state.clients[client] = held > 1 ? held - 1 : nil
        }
    }

    /// Connections open now, and clients holding them.
    var usage: (open: Int, clients: Int) {
        state.withLock { ($0.open, $0.clients.count) }
    }

    /// Descriptors kept free of connections: at least 256 (the databases, outbound
    /// deliveries, the runtime's own reads; the hub uses about 30 at rest), and at least
    /// half the limit, so that a burst of accepts beyond the cap never reaches it.
    static func reserve(descriptors: Int) -> Int {
        max(256, descriptors / 2)
    }

    /// The total to enforce: the configured one, within what `descriptors` (the soft
    /// `RLIMIT_NOFILE`) leaves after `reserve`; never less than 16.
    static func total(configured: Int, descriptors: Int) -> Int {
        max(16, min(configured, descriptors - reserve(descriptors: descriptors)))
    }
}
