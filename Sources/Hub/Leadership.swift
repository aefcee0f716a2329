import Synchronization

/// Which hub process, among those sharing a store, runs what must happen once for the
/// whole DCC rather than once per process: the homes' own life (their events, the held
/// commands falling due, power cuts and tampers), whose alerts would otherwise reach users
/// once from every hub. The longest-running live process leads
/// (`HubStore.leadingInstance`); when it dies, the next takes over once its sign of life
/// runs out. On a store one process writes, that process always leads.
public final class Leadership: Sendable {
    private let state: Mutex<Bool>

    public init(leading: Bool) {
        state = Mutex(leading)
    }

    public var isLeading: Bool { state.withLock { $0 } }

    /// Sets whether this process leads; returns whether that changed.
    @discardableResult
    func set(_ leading: Bool) -> Bool {
        state.withLock { current in
            defer { current = leading }
            return current != leading
        }
    }
}
