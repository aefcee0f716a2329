/// Server: the hub's HTTP face (Hummingbird 2). The three DUIS web services DCC Boxed
/// serves (`/api/v1/serviceS`, `/api/v1/serviceD`, `/api/v1/serviceT`), `/health`,
/// `/metrics` for Prometheus, the data privacy plans' profiles (`/api/v1/dpp/N/profiles`)
/// and the consumer portal (`/portal`).
import DUIS
import Foundation
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

    public init(host: String = "127.0.0.1", port: Int = 8079, maxBodyBytes: Int = 14 << 20, maxCommandBodyBytes: Int = 1 << 20,
                idleTimeoutSeconds: Int64 = 30) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxCommandBodyBytes = maxCommandBodyBytes
        self.idleTimeoutSeconds = idleTimeoutSeconds
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
    public static func application(hub: Hub, configuration: ServerConfiguration, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        MetricsBootstrap.ensure()
        let router = Router()
        for service in DUISService.allCases {
            let maxBody = service == .nonDevice ? configuration.maxBodyBytes : configuration.maxCommandBodyBytes
            router.post(RouterPath(service.path)) { request, _ -> Response in
                let bytes: [UInt8]
                do {
                    let buffer = try await request.body.collect(upTo: maxBody)
                    bytes = Array(buffer.readableBytesView)
                } catch is NIOTooManyBytesError {
                    return textResponse(.contentTooLarge, "not a valid DUIS Service Request: the request body exceeds \(maxBody) bytes")
                }
                let result = await hub.gateway.handle(service: service, body: bytes)
                var headers: HTTPFields = [.contentType: result.contentType]
                if let code = result.code { headers[HTTPField.Name("X-DUIS-Response-Code")!] = code.rawValue }
                if let reason = result.reason { headers[HTTPField.Name("X-GBSM-Reason")!] = headerSafe(reason) }
                return Response(status: .init(code: result.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.body)))
            }
        }
        router.get("/health") { _, _ -> Response in
            textResponse(.ok, "ok: \(hub.inventory.deviceCount) devices, \(hub.registry.all.count) users")
        }
        Portal(hub: hub).register(router)
        router.get("/api/v1/dpp/:plan/profiles") { request, context -> Response in
            await dppProfiles(hub: hub, request: request, plan: context.parameters.get("plan"))
        }
        router.get("/metrics") { _, _ -> Response in
            var buffer = [UInt8]()
            MetricsBootstrap.registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(configuration.idleTimeoutSeconds))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "gbsm"),
            services: [HubBackgroundService(hub: hub)],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}

func textResponse(_ status: HTTPResponse.Status, _ message: String) -> Response {
    Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
}

func headerSafe(_ text: String) -> String {
    let cleaned = text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : " " }
    return String(String(cleaned).prefix(600))
}

/// A data privacy plan's published profiles, for its network operator: JSON, with the
/// plan's API token as a bearer token. Never a household's reading.
func dppProfiles(hub: Hub, request: Request, plan text: String?) async -> Response {
    guard let text, let id = Int64(text) else { return textResponse(.notFound, "no such plan") }
    let authorization = request.headers[.authorization] ?? ""
    guard authorization.hasPrefix("Bearer ") else {
        return textResponse(.unauthorized, "give the plan's API token (printed by `gbsm dpp register`) as Authorization: Bearer TOKEN")
    }
    do {
        guard let plan = try await hub.store.plans().first(where: { $0.id == id }), let secrets = try await hub.store.planSecrets(id: id) else {
            return textResponse(.notFound, "no active plan \(id)")
        }
        guard constantTimeEqual(sha256Hex(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)), secrets.tokenHash) else {
            return textResponse(.forbidden, "the token is not plan \(id)'s")
        }
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
