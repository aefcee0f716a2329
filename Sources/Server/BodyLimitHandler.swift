import HTTPTypes
import Metrics
import NIOCore
import NIOHTTPTypes

/// Enforces `BodyLimits` on one HTTP/1 connection while bodies stream in. It sits in the
/// channel pipeline after HTTP decoding (Hummingbird's `additionalChannelHandlers`) and
/// before the application, on the connection's event loop, so it sees every body of every
/// route, and can refuse one before the application reads a byte of it.
///
/// A small body's head is forwarded at once. A large body's head (see `BodyLimits`) is held
/// until either its end arrives in the same read (forwarded then: no timer, no accounting)
/// or the read completes with the body still streaming: it then reserves room from
/// `BodyAdmission` (or gets 503). Any body still streaming at the end of a read gets one
/// timer that watches its deadline and rate, rescheduled to the earliest moment the next
/// breach could happen.
///
/// A request refused before the application saw it (413, 503) is answered once the client
/// has stopped sending what it announced, or after `drainBytes` or `linger`, whichever
/// comes first; what arrives meanwhile is discarded, never held. Clients that write a
/// whole body before reading (AsyncHTTPClient fails a request whose response arrives while
/// its body is still being written) then read the answer rather than a reset. A breach
/// while the application reads the body (408) is answered at once, and the application
/// gets an error instead of the rest of the body, so its buffer is released. Every refusal
/// carries `Connection: close`; the server then stops sending, discards what still
/// arrives for `linger`, and closes.
final class BodyLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Why a body was refused; the error an application reading it sees.
    enum Breach: Error, Equatable, CustomStringConvertible {
        case tooLarge(maximum: Int)
        case invalidLength
        case busy
        case clientBusy
        case tooSlow
        case deadline
        case lengthRequired
        case slowClient(retryAfter: Int)

        var status: HTTPResponse.Status {
            switch self {
            case .tooLarge: return .contentTooLarge
            case .invalidLength: return .badRequest
            case .busy, .clientBusy, .slowClient: return .serviceUnavailable
            case .tooSlow, .deadline: return .requestTimeout
            case .lengthRequired: return .lengthRequired
            }
        }

        /// `Retry-After` for this refusal, if it has its own.
        var retryAfter: Int? {
            if case .slowClient(let seconds) = self { return seconds }
            return nil
        }

        var label: String {
            switch self {
            case .tooLarge: return "too-large"
            case .invalidLength: return "invalid-length"
            case .busy: return "busy"
            case .clientBusy: return "client-busy"
            case .tooSlow: return "too-slow"
            case .deadline: return "deadline"
            case .lengthRequired: return "length-required"
            case .slowClient: return "slow-client"
            }
        }

        var description: String {
            switch self {
            case .tooLarge(let maximum): return "the request body exceeds \(maximum) bytes"
            case .invalidLength: return "the Content-Length is not a length"
            case .busy: return "the server is receiving as many request bodies as it can hold: try again later"
            case .clientBusy: return "this client is already sending as many request bodies as it may: try again later"
            case .tooSlow: return "the request body arrives too slowly"
            case .deadline: return "the request body did not arrive in time"
            case .lengthRequired: return "a DUIS Service Request needs a Content-Length"
            case .slowClient(let seconds): return "this client's last large request body arrived too slowly: try again in \(seconds) s"
            }
        }
    }

    /// The body of the request being received.
    private struct Incoming {
        let maximum: Int
        let announced: Int?
        let started: NIODeadline
        /// The average rate (bytes per second since the head) it must keep up after the grace.
        let rate: Double
        var received = 0
        /// Held back until the body completes or streams.
        var head: HTTPRequest?
        var held: [ByteBuffer] = []
        var reservation: BodyAdmission.Reservation?
        var deadline: NIODeadline?
        var timer: Scheduled<Void>?
        /// Its position among the heads forwarded on this connection (1-based).
        var number = 0
    }

    private let admission: BodyAdmission
    /// The smallest maximum of any route: a body announced within it needs no route lookup.
    private let floor: Int
    private let maximum: @Sendable (Substring) -> Int
    private let lengthRequired: @Sendable (Substring) -> Bool
    private var incoming: Incoming?
    private var forwardedHeads = 0
    private var writtenHeads = 0
    private var writtenEnds = 0
    /// Set once this connection is refused: everything inbound is dropped from then on.
    private var refused: Breach?
    /// The refusal's answer, waiting for the responses before it to be written.
    private var pendingAnswer: Breach?
    /// Set once the handler wrote its own answer: the application's writes are dropped.
    private var answered = false
    /// A refused request's body still being discarded: bytes it may still send.
    private var draining: Int?
    private var drainTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    private var limits: BodyLimits { admission.limits }

    /// Bodies that did not arrive with their head (watched by a timer; large ones admitted).
    static let streamed = Counter(label: "gbsm_http_bodies_streamed_total")

    init(admission: BodyAdmission, floor: Int, maximum: @escaping @Sendable (Substring) -> Int,
         lengthRequired: @escaping @Sendable (Substring) -> Bool = { _ in false }) {
        self.admission = admission
        self.floor = floor
        self.maximum = maximum
        self.lengthRequired = lengthRequired
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard refused == nil else {
            drain(context: context, unwrapInboundIn(data))
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            begin(context: context, head: head)
        case .body(let buffer):
            guard let body = incoming else {
                context.fireChannelRead(data)
                return
            }
            let received = body.received + buffer.readableBytes
            incoming?.received = received
            if received > body.maximum {
                refuse(context: context, .tooLarge(maximum: body.maximum))
            } else if body.head != nil {
                incoming?.held.append(buffer)
            } else {
                context.fireChannelRead(data)
            }
        case .end:
            guard let body = incoming else {
                context.fireChannelRead(data)
                return
            }
            incoming = nil
            if let head = body.head { forward(context: context, head: head, held: body.held, streaming: false) }
            finish(body)
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if refused == nil, var body = incoming, body.timer == nil {
            // The body did not arrive with its head: it streams, and is watched from now on.
            Self.streamed.increment()
            body.deadline = body.started + timeAmount(limits.allowedTime(for: body.announced ?? body.maximum))
            if let head = body.head {
                // A large one must first be admitted, before the application sees it.
                do {
                    body.reservation = try admission.reserve(client: ClientKey(context.channel.remoteAddress), announced: body.announced, maximum: body.maximum)
                } catch {
                    switch error {
                    case .busy: refuse(context: context, .busy)
                    case .clientBusy: refuse(context: context, .clientBusy)
                    case .penalised(let seconds): refuse(context: context, .slowClient(retryAfter: seconds))
                    }
                    context.fireChannelReadComplete()
                    return
                }
                let held = body.held
                body.head = nil
                body.held = []
                incoming = body
                forward(context: context, head: head, held: held, streaming: true)
            } else {
                incoming = body
            }
            schedule(context: context)
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        if let body = incoming { finish(body) }
        incoming = nil
        for timer in [drainTimer, lingerTimer] { timer?.cancel() }
        drainTimer = nil
        lingerTimer = nil
    }

    // MARK: - Outbound

    /// Whether the response being written says `Connection: close`.
    private var closeAfterResponse = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !answered else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            writtenHeads += 1
            closeAfterResponse = head.headerFields[.connection]?.lowercased().contains("close") ?? false
        case .end:
            writtenEnds += 1
            // The application answered "Connection: close" (a form it refused, say) while
            // the request's body is still arriving: the connection ends with the answer, as
            // it says, rather than waiting for a body the client may never finish.
            if closeAfterResponse, incoming != nil {
                context.writeAndFlush(data, promise: promise)
                close(context: context)
                return
            }
        default: break
        }
        context.write(data, promise: promise)
        if let breach = pendingAnswer, writtenEnds >= forwardedHeads {
            pendingAnswer = nil
            answer(context: context, breach)
        }
    }

    // MARK: - The rules

    private func begin(context: ChannelHandlerContext, head: HTTPRequest) {
        if let previous = incoming { finish(previous) }
        incoming = nil
        var announced: Int?
        if let value = head.headerFields[.contentLength] {
            guard let length = Self.length(value) else {
                refuse(context: context, .invalidLength)
                return
            }
            announced = length
        }
        // Within the floor any route takes it (and the decoder delivers no more than announced).
        let path = head.path.map { Substring($0) } ?? "/"
        let maximum = announced.map { $0 <= floor } == true ? floor : self.maximum(path)
        if let announced, announced > maximum {
            refuse(context: context, .tooLarge(maximum: maximum))
            return
        }
        if announced == nil, head.headerFields[.transferEncoding] != nil, lengthRequired(path) {
            refuse(context: context, .lengthRequired)
            return
        }
        var body = Incoming(maximum: maximum, announced: announced, started: .now(), rate: limits.requiredRate(for: announced))
        let large = announced.map { $0 > limits.largeBodyBytes } ?? (head.headerFields[.transferEncoding] != nil)
        if large {
            // Held until it completes in this read, or is admitted at the end of it.
            body.head = head
            incoming = body
        } else {
            // A small body needs no admission: the application has it at once, and the
            // deadline and rate watch it if it streams.
            incoming = body
            forward(context: context, head: head, held: [], streaming: true)
        }
    }

    /// A Content-Length value (several equal ones joined by commas are one): decimal digits
    /// only, at most 18 of them (no sign, no overflow), spaces around; nil for anything else.
    static func length(_ value: String) -> Int? {
        var result: Int?
        var current = 0, digits = 0, ended = false
        for byte in value.utf8 {
            switch byte {
            case 0x30...0x39:
                guard !ended, digits < 18 else { return nil }
                current = current * 10 + Int(byte - 0x30)
                digits += 1
            case 0x20, 0x09:
                ended = digits > 0
            case 0x2C:
                guard digits > 0, result == nil || result == current else { return nil }
                result = current
                (current, digits, ended) = (0, 0, false)
            default:
                return nil
            }
        }
        guard digits > 0, result == nil || result == current else { return nil }
        return current
    }

    /// Passes a head (and the body parts held with it) to the application; `streaming`:
    /// it belongs to `incoming`, whose body has yet to arrive.
    private func forward(context: ChannelHandlerContext, head: HTTPRequest, held: [ByteBuffer], streaming: Bool) {
        forwardedHeads += 1
        if streaming { incoming?.number = forwardedHeads }
        context.fireChannelRead(wrapInboundOut(.head(head)))
        for buffer in held { context.fireChannelRead(wrapInboundOut(.body(buffer))) }
    }

    private func finish(_ body: Incoming) {
        body.timer?.cancel()
        if let reservation = body.reservation { admission.release(reservation) }
    }

    /// Watches the streaming body: one timer, at the earliest moment it could breach.
    private func schedule(context: ChannelHandlerContext) {
        guard var body = incoming, let deadline = body.deadline else { return }
        let now = NIODeadline.now()
        if now >= deadline {
            refuse(context: context, .deadline)
            return
        }
        let elapsed = Double((now - body.started).nanoseconds) / 1e9
        let grace = limits.grace.inSeconds
        let rate = body.rate
        if elapsed >= grace, Double(body.received) < rate * elapsed {
            refuse(context: context, .tooSlow)
            return
        }
        // The average stays above the rate until received / rate seconds after the head.
        let next = min(deadline, body.started + .nanoseconds(Int64(max(grace, Double(body.received) / rate) * 1e9) + 1_000_000))
        body.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: max(next, now + .milliseconds(10))) { [weak self] in
            self?.schedule(context: context)
        }
        incoming = body
    }

    private func refuse(context: ChannelHandlerContext, _ breach: Breach) {
        guard refused == nil else { return }
        refused = breach
        Counter(label: "gbsm_http_body_refusals_total", dimensions: [("reason", breach.label)]).increment()
        let body = incoming
        if let body { finish(body) }
        incoming = nil
        if let reservation = body?.reservation, breach == .tooSlow || breach == .deadline {
            // A large body that could not keep up: its client waits before streaming another.
            admission.penalise(reservation.client)
        }
        if let body, body.head == nil, body.number > 0 {
            // The application is reading this body: it gets an error instead of the rest.
            context.fireErrorCaught(breach)
            if writtenHeads < body.number, writtenEnds == body.number - 1 {
                answer(context: context, breach)
            } else {
                close(context: context)
            }
        } else if breach == .invalidLength {
            respond(context: context, breach)
        } else {
            // Discard what the client is still sending of it (bounded) before answering.
            draining = limits.drainBytes
            drainTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeAmount(limits.linger)) { [weak self] in
                self?.drainTimer = nil
                self?.respond(context: context, breach)
            }
        }
    }

    /// A part of a refused connection: discarded; the refusal is answered once the body
    /// ends or the allowance is spent.
    private func drain(context: ChannelHandlerContext, _ part: HTTPRequestPart) {
        guard let left = draining, let breach = refused else { return }
        switch part {
        case .body(let buffer):
            draining = left - buffer.readableBytes
            if left - buffer.readableBytes <= 0 { respond(context: context, breach) }
        case .end, .head:
            respond(context: context, breach)
        }
    }

    /// Answers a refusal now, or after the responses still owed to earlier requests.
    private func respond(context: ChannelHandlerContext, _ breach: Breach) {
        draining = nil
        drainTimer?.cancel()
        drainTimer = nil
        guard !answered, pendingAnswer == nil else { return }
        if writtenEnds >= forwardedHeads {
            answer(context: context, breach)
        } else {
            pendingAnswer = breach
        }
    }

    private func answer(context: ChannelHandlerContext, _ breach: Breach) {
        answered = true
        var fields: HTTPFields = [.contentType: "text/plain; charset=utf-8", .connection: "close"]
        let text = ByteBuffer(string: breach.description + "\n")
        fields[.contentLength] = String(text.readableBytes)
        if breach.status == .serviceUnavailable { fields[.retryAfter] = String(breach.retryAfter ?? limits.retryAfterSeconds) }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: breach.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(text)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        close(context: context)
    }

    /// Stops sending, discards what arrives for `linger` (so the client reads the answer
    /// rather than a reset), then closes.
    private func close(context: ChannelHandlerContext) {
        answered = true
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: promise)
        promise.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        guard lingerTimer == nil else { return }
        lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeAmount(limits.linger)) { [weak self] in
            self?.lingerTimer = nil
            context.close(promise: nil)
        }
    }

    private func timeAmount(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        return .nanoseconds(parts.seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
}
