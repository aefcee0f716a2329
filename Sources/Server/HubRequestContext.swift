import Hummingbird
import NIOCore

/// The request context of the hub's routes: Hummingbird's basic context plus the
/// connection, so that a route that limits per client (the portal's sign-in) can find the
/// peer's address. The address is read only when asked for, so routes that do not need it
/// pay nothing.
public struct HubRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    var client: ClientKey { ClientKey(remoteAddress) }
}
