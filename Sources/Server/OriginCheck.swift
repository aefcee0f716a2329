import Hummingbird

/// Refuses state-changing portal posts that come from another site (OWASP's "verifying
/// origin with standard headers", beside the session-bound form token and the
/// `SameSite=Strict` session cookie). The source is the `Origin` header, or, when a
/// request has none, the origin of its `Referer`; it must be the request's own `Host`
/// (same host, same port, a missing port being the scheme's default) or one of the
/// configured origins (`gbsm serve --portal-origin`, for a proxy that rewrites Host).
/// `Origin: null` (a sandboxed frame, a redirect across origins, a `file:` page) is
/// refused, as is anything that does not parse as an http(s) origin.
///
/// A request with neither header is accepted. Browsers send `Origin` on every POST
/// (Chrome, Edge, Safari, and Firefox since version 70), so a cross-site form or script
/// always names its origin; a request without either header does not come from a modern
/// browser, so it cannot ride a victim's cookies, and a client that forges headers needs
/// no forgery anyway. The project's own tests and command-line clients send neither.
struct OriginCheck: Sendable {
    struct Origin: Hashable, Sendable {
        var scheme: String
        var host: String
        var port: Int
    }

    let trusted: Set<Origin>

    /// `trusted`: origins accepted besides the request's own Host; unparseable ones are
    /// refused by `ServerConfiguration.validOrigin` before they get here.
    init(trusted: [String]) {
        self.trusted = Set(trusted.compactMap(Self.origin))
    }

    /// Whether a state-changing request may proceed.
    func allows(_ request: Request) -> Bool {
        let claimed: String
        if let origin = request.headers[.origin] {
            claimed = origin
        } else if let referer = request.headers[.referer] {
            claimed = referer
        } else {
            return true
        }
        guard let origin = Self.origin(claimed) else { return false }
        if trusted.contains(origin) { return true }
        guard let authority = request.head.authority, let host = Self.authority(authority, scheme: origin.scheme) else { return false }
        return host.host == origin.host && host.port == origin.port
    }

    /// The origin of a URL or origin (`scheme://host[:port]`, anything after the authority
    /// ignored), lower-cased, with the scheme's default port made explicit.
    static func origin(_ text: String) -> Origin? {
        let lowered = text.lowercased()
        let scheme: String
        if lowered.hasPrefix("https://") {
            scheme = "https"
        } else if lowered.hasPrefix("http://") {
            scheme = "http"
        } else {
            return nil
        }
        let rest = lowered.dropFirst(scheme.count + 3)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let parsed = authority(rest[..<end], scheme: scheme) else { return nil }
        return Origin(scheme: scheme, host: parsed.host, port: parsed.port)
    }

    /// A Host header or URL authority (`host`, `host:port`, `[v6]`, `[v6]:port`; no user
    /// information), with `scheme`'s default port when it has none.
    static func authority<Text: StringProtocol>(_ text: Text, scheme: String) -> (host: String, port: Int)? {
        let value = text.lowercased()
        guard !value.isEmpty, !value.contains("@") else { return nil }
        var host = Substring(value)
        var portText: Substring?
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return nil }
            host = value[...close]
            let after = value[value.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = value.firstIndex(of: ":") {
            host = value[..<colon]
            portText = value[value.index(after: colon)...]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-._[]:".contains($0) }) else { return nil }
        let port: Int
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(portText), number <= 65_535 else { return nil }
            port = number
        } else {
            port = scheme == "https" ? 443 : 80
        }
        return (String(host), port)
    }
}
