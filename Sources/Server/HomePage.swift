import DUIS
import Hub

/// The page at `/`: what a newcomer who opens the hub's address needs to start (what this
/// is, where the DUIS services, the portal, the plan API, `/health` and `/metrics` are).
/// Built from the routes the server registers, so it cannot list a service that is not
/// there.
enum HomePage {
    static func html(hub: Hub, metricsNeedToken: Bool) -> String {
        let escape = PortalPages.escape
        let services = DUISService.allCases.map { service in
            "<tr><td><code>POST \(escape(service.path))</code></td><td>\(escape(service.title))</td></tr>"
        }.joined()
        return """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>gbsm · GB smart metering on one machine</title>\
        <style>\(PortalPages.style)</style></head><body><header><strong>gbsm</strong></header><main>\
        <h1>gbsm: DCC, its users' interface and the homes behind it</h1>\
        <p>This hub speaks DCC's User Interface Specification (DUIS 5.4): signed XML Service Requests, \
        synchronous answers, and signed asynchronous Service Responses posted to each user's endpoint. \
        It holds \(hub.inventory.deviceCount) devices and \(hub.registry.all.count) users. \
        \(schemaNote(hub))</p>\
        <div class="card"><h2>DUIS web services</h2><table>\(services)</table>\
        <p class="note">Sign each request with its originator's XML-signing key (<code>gbsm sign</code>); \
        device answers arrive on the user's response endpoint (<code>gbsm users set-endpoint</code>).</p></div>\
        <div class="card"><h2>SMKI</h2><table>\
        <tr><td><code>POST /services/certificatesearch</code></td><td>find an organisation's (<code>CertificateSubjectName</code>) or a device's (<code>CertificateSubjectAltName</code>) certificates</td></tr>\
        <tr><td><code>POST /services/retrievecertificate</code></td><td>a certificate by <code>CertificateSerial</code>, base64 DER</td></tr>\
        <tr><td><a href="/services/organisationcertificates"><code>GET /services/organisationcertificates</code></a></td><td>every organisation certificate (PEM, tar)</td></tr>\
        </table><p class="note">As DCC Boxed serves them on its port 8083 (<code>gbsm serve --smki-port 8083</code>). \
        DCC Boxed's signing tool API (<code>POST /sign</code>, <code>POST /verify</code>) is <code>gbsm sign-server</code>, on port 8080 in <code>gbsm demo</code>.</p></div>\
        <div class="card"><h2>Households</h2><p><a href="/portal">Consumer portal</a>: a household signs in with \
        its MPAN or MPRN and the code its IHD shows (<code>gbsm privacy portal-code</code>), sees its data, \
        its consents and who accessed its data.</p></div>\
        <div class="card"><h2>Network operators</h2><p><code>GET /api/v1/dpp/N/profiles?from=&amp;to=</code> \
        with <code>Authorization: Bearer TOKEN</code>: a data privacy plan's published aggregates \
        (<code>gbsm dpp register</code> prints the token).</p></div>\
        <div class="card"><h2>Operations</h2><table>\
        <tr><td><a href="/health"><code>GET /health</code></a></td><td>liveness, with device and user counts</td></tr>\
        <tr><td><code>GET /metrics</code></td><td>Prometheus metrics\(metricsNeedToken ? " (with the metrics token as a bearer token)" : "")</td></tr>\
        </table></div></main></body></html>
        """
    }

    static func schemaNote(_ hub: Hub) -> String {
        if let schemas = hub.configuration.schemas {
            return "Each request is validated against DCC's DUIS 5.4 schema (from <code>\(PortalPages.escape(schemas.directory.path))</code>) before anything else reads it."
        }
        return "<strong>Schema validation is off</strong>: the hub was started without DCC's DUIS schemas (<code>--schemas DIR</code>)."
    }
}
