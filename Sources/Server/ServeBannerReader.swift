import Foundation
import Synchronization

/// Reads a `gbsm serve` child's output as it comes, for the port its banner names
/// (`ServeBanner`), handing every chunk to `also` as well. The output is drained whatever
/// the child logs (a pipe left full would block the child's next write), and the handler
/// is removed at the end of the output (it would be called on and on).
public final class ServeBannerReader: Sendable {
    private let banner = Mutex(ServeBanner())

    public init(following handle: FileHandle, also: @escaping @Sendable (Data) -> Void = { _ in }) {
        handle.readabilityHandler = { [self] handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            also(data)
            _ = self.banner.withLock { $0.read(data) }
        }
    }

    /// The port, once the banner has arrived.
    public var port: Int? { banner.withLock { $0.port } }
}
