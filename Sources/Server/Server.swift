/// Server: the hub's HTTP face (Hummingbird 2). The three DUIS web services DCC Boxed
/// serves (`/api/v1/serviceS`, `/api/v1/serviceD`, `/api/v1/serviceT`), `/health`,
/// `/metrics` for Prometheus, the data privacy plans' profiles (`/api/v1/dpp/N/profiles`),
/// the consumer portal (`/portal`), SMKI's repository services (`/services/...`, also on
/// a port of their own) and, as its own application, DCC Boxed's signing tool API.
import DUIS
import Foundation
import Homes
import Hub
import Privacy
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Non-Device Service bodies beyond this are refused with HTTP 413 before parsing
    /// (firmware images for 11.1 and 11.4 travel there).
    public var maxBodyBytes: Int
    /// The same for the Send Command and Transform services, whose requests are small.
    public var maxCommandBodyBytes: Int
    /// Connections idle for longer are closed (slow or stuck clients).
    public var idleTimeoutSeconds: Int64
    /// The most any other route accepts (the portal reads at most 64 KiB of a form, and treats
    /// a longer one as empty).
    public var maxOtherBodyBytes: Int
    /// Deadlines, rates and budgets for bodies that stream in (`BodyLimits`).
    public var bodyLimits: BodyLimits
    /// When set, `/metrics` requires `Authorization: Bearer` with this token.
    public var metricsToken: String?
    /// Origins (`https://host[:port]`) whose posts the portal accepts besides the request's
    /// own Host (behind a proxy that rewrites Host).
    public var portalOrigins: [String]
    /// Connections open at once, from all clients (`ConnectionLimits`; lowered at start to
    /// what the descriptor limit leaves free).
    public var maxConnections: Int
    /// Connections one client (an IPv4 address or IPv6 /64) may hold open at once.
    public var maxConnectionsPerClient: Int

    /// The defaults: 4,096 connections (a hub's DCC users keep a few pools of keep-alive
    /// connections, and a portal visitor's browser about six) and 64 per client (a
    /// client's connection pool, with room to spare; a household behind carrier-grade NAT
    /// shares it with its neighbours).
    public init(host: String = "127.0.0.1", port: Int = 8079, maxBodyBytes: Int = 14 << 20, maxCommandBodyBytes: Int = 1 << 20,
                idleTimeoutSeconds: Int64 = 30, maxOtherBodyBytes: Int = 256 << 10, bodyLimits: BodyLimits = BodyLimits(),
                metricsToken: String? = nil, portalOrigins: [String] = [], maxConnections: Int = 4096, maxConnectionsPerClient: Int = 64) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxCommandBodyBytes = maxCommandBodyBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxOtherBodyBytes = maxOtherBodyBytes
        self.bodyLimits = bodyLimits
        self.metricsToken = metricsToken
        self.portalOrigins = portalOrigins
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
    }

    /// Whether `text` is an origin `--portal-origin` accepts (`http(s)://host[:port]`).
    public static func validOrigin(_ text: String) -> Bool {
        OriginCheck.origin(text) != nil
    }

    /// The most a request to `path` may carry: by service, the smallest for anything else
    /// (a path the router would not route to a service gets no more than the portal).
    func maximumBody(path: Substring) -> Int {
        switch Self.service(path) {
        case "serviceD": return maxBodyBytes
        case "serviceS", "serviceT": return maxCommandBodyBytes
        default: return maxOtherBodyBytes
        }
    }

    /// Whether a request to `path` must announce its length: the DUIS services' clients
    /// send a Content-Length, and a body without one (chunked) gets 411.
    static func requiresLength(path: Substring) -> Bool {
        service(path) != nil
    }

    /// The DUIS service `path` routes to (`serviceS`, `serviceD`, `serviceT`), if any.
    private static func service(_ path: Substring) -> Substring? {
        let route = path[..<(path.firstIndex(of: "?") ?? path.endIndex)].split(separator: "/")
        guard route.count == 3, route[0] == "api", route[1] == "v1", ["serviceS", "serviceD", "serviceT"].contains(route[2]) else { return nil }
        return route[2]
    }
}

/// Prometheus registry shared by everything in the process (swift-metrics can be
/// bootstrapped once per process).
public enum MetricsBootstrap {
    public static let registry = PrometheusCollectorRegistry()
    private static let once: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    public static func ensure() { _ = once }
}

/// Runs the hub's background work for as long as the application runs.
struct HubBackgroundService: Service {
    let hub: Hub

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await hub.run()
        }
        await hub.shutdown()
    }
}

public enum HubServer {
    /// Builds the HTTP application around a hub. `onRunning` receives the bound port
    /// (useful with port 0).
    public static func application(hub: Hub, homes: EmulatedHomes, configuration: ServerConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        MetricsBootstrap.ensure()
        let router = Router(context: HubRequestContext.self)
        for service in DUISService.allCases {
            let maxBody = service == .nonDevice ? configuration.maxBodyBytes : configuration.maxCommandBodyBytes
            router.post(RouterPath(service.path)) { request, _ -> Response in
                let bytes: [UInt8]
                do {
                    bytes = try await readBody(request, maximum: maxBody)
                } catch let breach as BodyLimitHandler.Breach {
                    guard case .tooLarge = breach else { return textResponse(breach.status, breach.description) }
                    return textResponse(.contentTooLarge, "not a valid DUIS Service Request: the request body exceeds \(maxBody) bytes")
                }
                let result = await hub.gateway.handle(service: service, body: bytes)
                var headers: HTTPFields = [.contentType: result.contentType]
                if let code = result.code { headers[HTTPField.Name("X-DUIS-Response-Code")!] = code.rawValue }
                if let reason = result.reason { headers[HTTPField.Name("X-GBSM-Reason")!] = headerSafe(reason) }
                return Response(status: .init(code: result.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.body)))
            }
        }
        // SMKI's repository services, also on the hub's port.
        SMKIService(repository: hub.smki).register(on: router)
        let metricsNeedToken = configuration.metricsToken != nil
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: HomePage.html(hub: hub, metricsNeedToken: metricsNeedToken))))
        }
        router.get("/health") { _, _ -> Response in
            textResponse(.ok, "ok: \(hub.inventory.deviceCount) devices, \(hub.registry.all.count) users, DUIS schema validation \(hub.configuration.schemas == nil ? "off" : "on")")
        }
        let signInAudit = SignInAudit(store: hub.store, logger: logger)
        Portal(hub: hub, homes: homes, audit: signInAudit, trustedOrigins: configuration.portalOrigins).register(router)
        let decoy = sha256Hex(Pseudonymiser.newKey().map { String(format: "%02x", $0) }.joined())
        router.get("/api/v1/dpp/:plan/profiles") { request, context -> Response in
            await dppProfiles(hub: hub, request: request, plan: context.parameters.get("plan"), decoy: decoy)
        }
        let metricsTokenHash = configuration.metricsToken.map(sha256Hex)
        router.get("/metrics") { request, _ -> Response in
            if let metricsTokenHash, !bearerMatches(request, hash: metricsTokenHash) {
                var response = textResponse(.unauthorized, "give the metrics token as Authorization: Bearer TOKEN")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"metrics\""
                return response
            }
            var buffer = [UInt8]()
            MetricsBootstrap.registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let admission = BodyAdmission(limits: configuration.bodyLimits)
        let floor = min(configuration.maxOtherBodyBytes, configuration.maxBodyBytes, configuration.maxCommandBodyBytes)
        let maximum: @Sendable (Substring) -> Int = { configuration.maximumBody(path: $0) }
        let connections = connectionLimits(configuration, logger: logger)
        let retryAfter = configuration.bodyLimits.retryAfterSeconds
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionLimitHandler(limits: connections, retryAfterSeconds: retryAfter),
                                                                            BodyLimitHandler(admission: admission, floor: floor, maximum: maximum,
                                                                                             lengthRequired: { ServerConfiguration.requiresLength(path: $0) })],
                                                idleTimeout: .seconds(configuration.idleTimeoutSeconds))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "gbsm"),
            services: [HubBackgroundService(hub: hub), signInAudit],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

/// An application beside the hub (SMKI's port, the signing service) with the hub's
/// limits per client: open connections, and bodies of at most `maximumBody` that must
/// arrive in time.
func limitedApplication(router: Router<BasicRequestContext>, host: String, port: Int, serverName: String, maximumBody: Int,
                                                 logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
    let configuration = ServerConfiguration(host: host, port: port)
    let admission = BodyAdmission(limits: configuration.bodyLimits)
    let connections = connectionLimits(configuration, logger: logger)
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [
            ConnectionLimitHandler(limits: connections, retryAfterSeconds: configuration.bodyLimits.retryAfterSeconds),
            BodyLimitHandler(admission: admission, floor: maximumBody, maximum: { _ in maximumBody }, lengthRequired: { _ in false }),
        ], idleTimeout: .seconds(configuration.idleTimeoutSeconds))),
        configuration: .init(address: .hostname(host, port: port), serverName: serverName),
        onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
        logger: logger)
}

/// Raises the descriptor limit and sizes the connection caps from it (logged, as the
/// limits a server runs under should be).
func connectionLimits(_ configuration: ServerConfiguration, logger: Logger) -> ConnectionLimits {
    let descriptors = FileDescriptorLimit.raise()
    let total = ConnectionLimits.total(configured: configuration.maxConnections, descriptors: descriptors.soft)
    let limits = ConnectionLimits(total: total, perClient: configuration.maxConnectionsPerClient)
    let raised = descriptors.soft > descriptors.before ? " (raised from \(descriptors.before))" : ""
    logger.notice("open file limit \(descriptors.soft)\(raised), hard \(descriptors.hard); connections: at most \(limits.total) in total, \(limits.perClient) per client")
    if limits.total < configuration.maxConnections {
        logger.notice("--max-connections \(configuration.maxConnections) lowered to \(limits.total): the open file limit (\(descriptors.soft)) must keep \(ConnectionLimits.reserve(descriptors: descriptors.soft)) descriptors free")
    }
    return limits
}

/// A request's body as bytes, at most `maximum` of them, in one buffer sized by its
/// Content-Length (already checked by `BodyLimitHandler`), so that a large body is not
/// copied as its buffer grows.
func readBody(_ request: Request, maximum: Int) async throws(BodyLimitHandler.Breach) -> [UInt8] {
    var bytes: [UInt8] = []
    if let text = request.headers[.contentLength], let length = BodyLimitHandler.length(text) {
        guard length <= maximum else { throw .tooLarge(maximum: maximum) }
        bytes.reserveCapacity(length)
    }
    do {
        for try await buffer in request.body {
            guard buffer.readableBytes <= maximum - bytes.count else { throw BodyLimitHandler.Breach.tooLarge(maximum: maximum) }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
    } catch let breach as BodyLimitHandler.Breach {
        throw breach
    } catch {
        // The connection failed while the body was read (the limits fire `Breach` themselves).
        throw .deadline
    }
    return bytes
}

/// Whether the request carries `Authorization: Bearer` with the token whose SHA-256 is
/// `hash` (compared in constant time: both sides are hashes of the same length).
func bearerMatches(_ request: Request, hash: String) -> Bool {
    guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer ") else { return false }
    return constantTimeEqual(sha256Hex(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)), hash)
}

func textResponse(_ status: HTTPResponse.Status, _ message: String) -> Response {
    Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
}

func headerSafe(_ text: String) -> String {
    let cleaned = text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : " " }
    return String(String(cleaned).prefix(600))
}

/// A data privacy plan's published profiles, for its network operator: JSON, with the
/// plan's API token as a bearer token. Never a household's reading. A plan that does not
/// exist (or is retired) and a wrong token get the same answer, after the same work: the
/// token's hash is compared, in constant time, with the plan's or with `decoy` (a random
/// hash of the same length) when there is no plan.
func dppProfiles(hub: Hub, request: Request, plan text: String?, decoy: String) async -> Response {
    // Not a number: not a plan ID at all (nothing about any plan is told).
    guard let text, let id = Int64(text) else { return textResponse(.notFound, "no such plan") }
    let authorization = request.headers[.authorization] ?? ""
    guard authorization.hasPrefix("Bearer ") else {
        return textResponse(.unauthorized, "give the plan's API token (printed by `gbsm dpp register`) as Authorization: Bearer TOKEN")
    }
    let refusal = textResponse(.forbidden, "no plan with that ID and token")
    do {
        let presented = sha256Hex(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        let secrets = try await hub.store.planSecrets(id: id)
        guard constantTimeEqual(presented, secrets?.tokenHash ?? decoy), secrets != nil,
              let plan = try await hub.store.plans().first(where: { $0.id == id }) else { return refusal }
        let query = request.uri.queryParameters
        let from = query.get("from").flatMap { Timestamp(xsDateTime: $0) ?? Timestamp(xsDate: $0) }
        let to = query.get("to").flatMap { Timestamp(xsDateTime: $0) ?? Timestamp(xsDate: $0) }
        let aggregates = try await hub.store.planAggregates(plan: id, from: from, to: to)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = try encoder.encode(ProfileDocument(plan: plan, aggregates: aggregates))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    } catch {
        return textResponse(.serviceUnavailable, "the plan's profiles could not be read: \(error)")
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in x.indices { difference |= x[index] ^ y[index] }
    return difference == 0
}
