import AsyncHTTPClient
import DUIS
import Foundation
import Hub
import Testing
import TestSupport

@Suite(.serialized) struct ServerEndpointTests {
    @Test func healthAndMetrics() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        #expect(try await client.post(try client.sign(readRegisters(), counter: Counters.next()), to: .sendCommand).code == "I99")

        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: hub.baseURL + "/health"), timeout: .seconds(10))
        #expect(health.status == .ok)
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: hub.baseURL + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        #expect(text.contains("gbsm_requests_total{service=\"S\",outcome=\"I99\"}"))
        #expect(text.contains("gbsm_gateway_duration_seconds_bucket{service=\"S\""))

        // A newcomer opening the hub's address finds where everything is.
        let home = try await HTTPClient.shared.execute(HTTPClientRequest(url: hub.baseURL + "/"), timeout: .seconds(10))
        #expect(home.status == .ok && home.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
        let page = String(buffer: try await home.body.collect(upTo: 1 << 20))
        for link in ["/api/v1/serviceS", "/api/v1/serviceD", "/api/v1/serviceT", "/portal", "/health", "/metrics", "/api/v1/dpp/N/profiles"] {
            #expect(page.contains(link), "the home page names \(link)")
        }

        // Only POST is served on the DUIS paths.
        let get = try await HTTPClient.shared.execute(HTTPClientRequest(url: hub.baseURL + "/api/v1/serviceS"), timeout: .seconds(10))
        #expect(get.status.code >= 400)
        await hub.stop()
    }
}
