import HTTPTypes
import Metrics
import NIOCore
import NIOHTTPTypes

/// Enforces `ConnectionLimits` on one accepted connection. It is the first of the handlers
/// Hummingbird adds after HTTP decoding (`additionalChannelHandlers`), the only hook it
/// gives into every accepted connection (its `availableConnectionsDelegate` counts in
/// total only, and stops accepting rather than refusing, so one client could fill it and
/// leave everyone else waiting in the backlog).
///
/// When the connection becomes active it is counted against its client and the total; if
/// either is full it gets a minimal `503` with `Connection: close` (written at once, not
/// waited for) and is closed in the same turn of the event loop, before anything of it is
/// read: it never holds more than the moment of its refusal. Otherwise it is counted until
/// it closes (or the handler leaves the pipeline).
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private let retryAfterSeconds: Int
    /// The client this connection is counted for, while it is.
    private var counted: ClientKey?

    static let opened = Counter(label: "gbsm_http_connections_total")
    static let open = Gauge(label: "gbsm_http_connections_open")

    init(limits: ConnectionLimits, retryAfterSeconds: Int) {
        self.limits = limits
        self.retryAfterSeconds = retryAfterSeconds
    }

    func channelActive(context: ChannelHandlerContext) {
        let client = ClientKey(context.channel.remoteAddress)
        do {
            try limits.open(client)
            counted = client
            Self.opened.increment()
            Self.open.record(limits.usage.open)
            context.fireChannelActive()
        } catch {
            Counter(label: "gbsm_http_connections_refused_total", dimensions: [("reason", error.label)]).increment()
            context.fireChannelActive()
            refuse(context: context, error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    /// Anything that still arrives on a refused connection is dropped.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard counted != nil else { return }
        context.fireChannelRead(data)
    }

    private func release() {
        guard let client = counted else { return }
        counted = nil
        limits.close(client)
        Self.open.record(limits.usage.open)
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: ConnectionLimits.Refusal) {
        let text = ByteBuffer(string: refusal == .client
            ? "this client has as many connections open as it may: reuse one, or close some\n"
            : "the server has as many connections open as it can hold: try again later\n")
        var fields: HTTPFields = [.contentType: "text/plain; charset=utf-8", .connection: "close", .retryAfter: String(retryAfterSeconds)]
        fields[.contentLength] = String(text.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .serviceUnavailable, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(text)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.close(promise: nil)
    }
}
