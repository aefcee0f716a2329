import Synchronization

/// Locks per premises (striped), so a premises' state changes one command at a time.
public final class PremisesLocks: Sendable {
    private let stripes: [AsyncSerialLock]

    public init(count: Int = 1024) { stripes = (0..<count).map { _ in AsyncSerialLock() } }

    public func withLock<T: Sendable, E: Error>(_ premises: Int64, _ body: () async throws(E) -> T) async throws(E) -> T {
        let index = Int(UInt64(bitPattern: premises) % UInt64(stripes.count))
        return try await stripes[index].withLock(body)
    }
}
