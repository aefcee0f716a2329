import Crypto
import DUIS
import Foundation
import HTTPTypes
import Homes
import Hub
import Hummingbird
import NIOCore
import Privacy
import Storage
import Synchronization

/// The consumer portal: a household signs in for its own premises (the code its IHD
/// shows, or a one-use link) and sees its consumption, its consents, who accessed its
/// data and under which rule, what its data reveals, and a statement of what each kind
/// of party may and may not do; it can grant and withdraw consents and download its data.
/// A session names one premises and occupancy, signed by the hub; no page takes a
/// premises from the request, so no other home's data can be reached.
final class Portal: Sendable {
    let hub: Hub
    /// The household's own data, read from the home's side as a consumer access device would.
    let homes: EmulatedHomes
    private let key = Mutex<SymmetricKey?>(nil)
    /// Wrong codes slow their guesser, not the household (`SignInThrottle`).
    let throttle: SignInThrottle
    /// Posts from other sites are refused (`OriginCheck`).
    let origins: OriginCheck
    /// Failed sign-ins are audited within a budget (`SignInAudit`).
    let audit: SignInAudit
    static let cookie = "gbsm_portal"
    static let sessionHours: Int64 = 8

    init(hub: Hub, homes: EmulatedHomes, audit: SignInAudit, trustedOrigins: [String] = [], throttle: SignInThrottle = SignInThrottle()) {
        self.hub = hub
        self.homes = homes
        self.audit = audit
        self.origins = OriginCheck(trusted: trustedOrigins)
        self.throttle = throttle
    }

    struct Session {
        var premises: Int64
        var occupancy: Int
        var value: String
    }

    // MARK: - Keys and sessions

    private func sessionKey() async throws -> SymmetricKey {
        if let key = key.withLock({ $0 }) { return key }
        var hex = try await hub.store.meta("portal.key")
        if hex == nil {
            let fresh = Pseudonymiser.newKey().map { String(format: "%02x", $0) }.joined()
            try await hub.store.apply([.setMeta(key: "portal.key", value: fresh)])
            hex = try await hub.store.meta("portal.key")
        }
        var bytes: [UInt8] = []
        var characters = Array((hex ?? "").utf8)[...]
        while characters.count >= 2, let byte = UInt8(String(decoding: characters.prefix(2), as: UTF8.self), radix: 16) {
            bytes.append(byte)
            characters = characters.dropFirst(2)
        }
        let made = SymmetricKey(data: bytes)
        key.withLock { $0 = made }
        return made
    }

    private func mac(_ text: String, key: SymmetricKey) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    func makeSession(premises: Int64, occupancy: Int) async throws -> String {
        let expires = Timestamp.now().milliseconds + Self.sessionHours * 3_600_000
        let body = "\(premises).\(occupancy).\(expires)"
        return body + "." + mac(body, key: try await sessionKey())
    }

    /// The signed-in household, if the cookie is genuine, unexpired and its occupancy current.
    func session(_ request: Request) async -> Session? {
        guard let header = request.headers[.cookie] else { return nil }
        var values = Set<String>()
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == Self.cookie { values.insert(String(pair[1])) }
        }
        // Two different session cookies (one planted beside the real one): neither is trusted.
        guard values.count == 1, let value = values.first else { return nil }
        let fields = value.split(separator: ".")
        guard fields.count == 4, let premises = Int64(fields[0]), let occupancy = Int(fields[1]), let expires = Int64(fields[2]),
              let key = try? await sessionKey(),
              constantTimeEqual(mac("\(fields[0]).\(fields[1]).\(fields[2])", key: key), String(fields[3])),
              expires > Timestamp.now().milliseconds,
              let current = try? await hub.store.currentOccupancy(premises: premises), current.sequence == occupancy
        else { return nil }
        return Session(premises: premises, occupancy: occupancy, value: value)
    }

    func csrf(_ session: Session) async -> String {
        guard let key = try? await sessionKey() else { return "" }
        return String(mac("csrf:" + session.value, key: key).prefix(32))
    }

    // MARK: - Responses

    static func html(_ text: String, status: HTTPResponse.Status = .ok, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A state-changing post that came from another site.
    static func crossSite() -> Response {
        html(PortalPages.page(title: "Not accepted", signedIn: "", body: "<p class=\"error\">This form was sent from another site. Open the portal and try again.</p>"),
             status: .forbidden)
    }

    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }

    static func sessionCookie(_ value: String) -> String {
        "\(cookie)=\(value); Path=/portal; HttpOnly; SameSite=Strict; Max-Age=\(sessionHours * 3600)"
    }

    static let clearCookie = "\(cookie)=; Path=/portal; HttpOnly; SameSite=Strict; Max-Age=0"

    /// A posted form, or nil when its body could not be read whole (too large, or cut off
    /// by the server's limits): such a post is refused as a whole, never read in part.
    static func form(_ request: Request) async -> [String: String]? {
        guard let buffer = try? await request.body.collect(upTo: 64 << 10) else { return nil }
        var result: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if let name = parts.first { result[name] = parts.count > 1 ? parts[1] : "" }
        }
        return result
    }

    static var formTooLarge: Response {
        var response = textResponse(.contentTooLarge, "the form could not be read: it is larger than 64 KiB or arrived too slowly")
        response.headers[.connection] = "close"
        return response
    }

    // MARK: - Routes

    func register(_ router: Router<HubRequestContext>) {
        router.get("/portal") { [self] request, _ in
            await session(request) == nil ? Self.html(PortalPages.signIn(error: nil)) : Self.redirect("/portal/home")
        }
        router.post("/portal/signin") { [self] request, context in
            origins.allows(request) ? await signIn(request, client: context.client) : Self.crossSite()
        }
        router.get("/portal/link/:token") { [self] _, context in await link(context.parameters.get("token") ?? "") }
        router.post("/portal/signout") { [self] request, _ in
            origins.allows(request) ? Self.redirect("/portal", cookie: Self.clearCookie) : Self.crossSite()
        }
        router.get("/portal/home") { [self] request, _ in await signedIn(request) { try await self.home($0, request) } }
        router.get("/portal/consents") { [self] request, _ in await signedIn(request) { try await self.consents($0, message: nil) } }
        router.post("/portal/consents") { [self] request, _ in
            guard origins.allows(request) else { return Self.crossSite() }
            return await signedIn(request) { try await self.changeConsent($0, request) }
        }
        router.get("/portal/access") { [self] request, _ in await signedIn(request) { try await self.access($0) } }
        router.get("/portal/reveal") { [self] request, _ in await signedIn(request) { try await self.reveal($0) } }
        router.get("/portal/rules") { [self] request, _ in await signedIn(request) { _ in
            Self.html(PortalPages.page(title: "Who may see what", signedIn: "", body: PortalPages.rules))
        } }
        router.get("/portal/export") { [self] request, _ in await signedIn(request) { try await self.exportPage($0) } }
        router.get("/portal/export.csv") { [self] request, _ in await signedIn(request) { try await self.export($0, json: false) } }
        router.get("/portal/export.json") { [self] request, _ in await signedIn(request) { try await self.export($0, json: true) } }
    }

    private func signedIn(_ request: Request, _ body: (Session) async throws -> Response) async -> Response {
        guard let session = await session(request) else { return Self.redirect("/portal", cookie: Self.clearCookie) }
        do {
            return try await body(session)
        } catch {
            return Self.html(PortalPages.page(title: "Something went wrong", signedIn: "", body: "<p class=\"error\">\(PortalPages.escape("\(error)"))</p>"),
                             status: .serviceUnavailable)
        }
    }

    /// Sign-in with an MPAN or MPRN and the IHD's code, throttled per client and premises
    /// (`SignInThrottle`): a throttled attempt is refused with 429 and `Retry-After`
    /// without its code being checked. A failure is audited within `SignInAudit`'s budget.
    private func signIn(_ request: Request, client: ClientKey) async -> Response {
        guard let form = await Self.form(request) else { return Self.formTooLarge }
        let mpxn = (form["mpxn"] ?? "").trimmingCharacters(in: .whitespaces)
        let code = PortalSecrets.normalise(form["code"] ?? "")
        let refusal = "That MPAN or MPRN and code do not match. Check the code on your in-home display."
        // Only an attempt whose code is checked counts: an empty form or an unknown MPAN tells nothing.
        guard !mpxn.isEmpty, !code.isEmpty, let premises = hub.inventory.premises(mpxn: mpxn) else {
            return Self.html(PortalPages.signIn(error: refusal), status: .unauthorized)
        }
        if case .wait(let seconds, let reason) = throttle.attempt(client: client, premises: premises.id, now: hub.configuration.clock.now().milliseconds) {
            let message = reason == .premises
                ? "This home's sign-in is being tried too often from elsewhere: try again in \(seconds) seconds."
                : "Too many wrong codes from your connection: try again in \(Self.readable(seconds: seconds))."
            var response = Self.html(PortalPages.signIn(error: message), status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        }
        do {
            let occupancy = try await hub.store.currentOccupancy(premises: premises.id)
            guard let stored = try await hub.store.portalSecretHash(premises: premises.id, occupancy: occupancy.sequence),
                  constantTimeEqual(sha256Hex(code), stored) else {
                let entries = audit.failed(premises: premises.id, client: client, at: .now())
                if !entries.isEmpty { try await hub.store.apply(entries) }
                return Self.html(PortalPages.signIn(error: refusal), status: .unauthorized)
            }
            throttle.succeeded(client: client, premises: premises.id)
            let value = try await makeSession(premises: premises.id, occupancy: occupancy.sequence)
            let now = Timestamp.now()
            try await hub.store.apply([.audit(AuditEvent(at: now, kind: .portal, detail: "consumer of premises \(premises.id), occupancy \(occupancy.sequence), signed in with the IHD code"))]
                + audit.due(at: now))
            return Self.redirect("/portal/home", cookie: Self.sessionCookie(value))
        } catch {
            return Self.html(PortalPages.signIn(error: "The hub could not check the code: \(error)"), status: .serviceUnavailable)
        }
    }

    static func readable(seconds: Int64) -> String {
        seconds < 120 ? "\(seconds) seconds" : seconds < 7200 ? "\((seconds + 59) / 60) minutes" : "\((seconds + 3599) / 3600) hours"
    }

    /// A one-use link: the read finds whose it is, and the atomic `consumePortalLink`
    /// decides whether this request is its one use (it is, only if its commit changed the
    /// row; the sign-in's audit event is in the same transaction).
    private func link(_ token: String) async -> Response {
        let refusal = Self.html(PortalPages.signIn(error: "That sign-in link has expired or has been used. Sign in with the code on your in-home display."),
                                status: .unauthorized)
        do {
            let hash = sha256Hex(token)
            let now = Timestamp.now()
            guard let link = try await hub.store.portalLink(tokenHash: hash), link.usedAt == nil, link.expires > now else { return refusal }
            do {
                try await hub.store.apply([
                    .privacy(.consumePortalLink(tokenHash: hash, premises: link.premises, occupancy: link.occupancy, at: now)),
                    .audit(AuditEvent(at: now, kind: .portal, detail: "consumer of premises \(link.premises), occupancy \(link.occupancy), signed in with a one-use link")),
                ])
            } catch is PortalLinkUnavailable {
                return refusal
            }
            return Self.redirect("/portal/home", cookie: Self.sessionCookie(try await makeSession(premises: link.premises, occupancy: link.occupancy)))
        } catch {
            return Self.html(PortalPages.signIn(error: "The hub could not check the link: \(error)"), status: .serviceUnavailable)
        }
    }

    private func view(_ session: Session) async throws -> ConsumerView {
        guard let view = try await homes.consumerView(premises: session.premises) else { throw PortalError.noMeters }
        return view
    }

    enum PortalError: Error, CustomStringConvertible {
        case noMeters
        var description: String { "this home has no smart meters the hub can read" }
    }

    private func who(_ view: ConsumerView) -> String {
        "\(view.premises.addressIdentifier), \(view.premises.postcode)"
    }

    // MARK: - Pages

    private func home(_ session: Session, _ request: Request) async throws -> Response {
        let view = try await view(session)
        let query = request.uri.queryParameters
        let mode = query.get("view") ?? "day"
        let yesterday = view.lastDay - 1
        let chosen = query.get("date").flatMap { Timestamp(xsDate: $0) }.map { $0.day.number } ?? yesterday
        let day = min(max(chosen, view.firstDay), view.lastDay)
        var body = "<nav class=\"views\"><a id=\"view-day\" href=\"/portal/home?view=day\">Half-hourly</a><a id=\"view-month\" href=\"/portal/home?view=month\">Daily</a>"
            + "<a id=\"view-year\" href=\"/portal/home?view=year\">Monthly</a></nav>"
        if view.occupancy.sequence > 0 {
            body += "<p class=\"note\">Since you moved in on \(view.occupancy.start.isoDate): earlier data belongs to the previous household and is not shown to anyone.</p>"
        }
        let tariff = view.model.electricityTariff
        body += "<p class=\"note\">Tariff: \(tariff.kind.rawValue), \(tariff.prices.map { String(format: "%.2fp", Double($0) / 1000) }.joined(separator: " / ")) per kWh, "
            + "standing charge \(String(format: "%.2fp", Double(tariff.standingCharge) / 1000)) a day"
            + (view.model.gasTariff.map { String(format: "; gas %.2fp per kWh", Double($0.price) / 1000) } ?? "") + ".</p>"
        switch mode {
        case "month":
            let days = try await homes.consumerDays(view, from: view.lastDay - 30, through: view.lastDay)
            let labels = days.map { String($0.date.isoDate.suffix(5)) }
            body += "<h2>Electricity, day by day</h2>" + PortalPages.bars(days.map { Double($0.importTotal) / 1000 }, labels: labels, labelEvery: 5, unit: "kWh",
                                                                         color: "#1f77b4", id: "chart-electricity", caption: "Electricity per day, last 30 days")
            if view.hasGas {
                body += "<h2>Gas, day by day</h2>" + PortalPages.bars(days.map { view.model.wh(forLitres: $0.gasTotal) / 1000 }, labels: labels, labelEvery: 5, unit: "kWh",
                                                                     color: "#d62728", id: "chart-gas", caption: "Gas per day, last 30 days")
            }
            if view.hasExport {
                body += "<h2>Exported, day by day</h2>" + PortalPages.bars(days.map { Double($0.exportTotal) / 1000 }, labels: labels, labelEvery: 5, unit: "kWh",
                                                                          color: "#2ca02c", id: "chart-export", caption: "Exported per day")
            }
            body += costTable(days, title: "Last 30 days")
        case "year":
            let days = try await homes.consumerDays(view, from: view.lastDay - 365, through: view.lastDay)
            var months: [(String, Double, Double, Double, Int64, Int64)] = []
            for day in days {
                let label = String(day.date.isoDate.prefix(7))
                if months.last?.0 != label { months.append((label, 0, 0, 0, 0, 0)) }
                months[months.count - 1].1 += Double(day.importTotal) / 1000
                months[months.count - 1].2 += view.model.wh(forLitres: day.gasTotal) / 1000
                months[months.count - 1].3 += Double(day.exportTotal) / 1000
                months[months.count - 1].4 += day.electricityCost
                months[months.count - 1].5 += day.gasCost
            }
            body += "<h2>Electricity, month by month</h2>" + PortalPages.bars(months.map(\.1), labels: months.map(\.0), labelEvery: 2, unit: "kWh", color: "#1f77b4",
                                                                             id: "chart-electricity", caption: "Electricity per month")
            if view.hasGas {
                body += "<h2>Gas, month by month</h2>" + PortalPages.bars(months.map(\.2), labels: months.map(\.0), labelEvery: 2, unit: "kWh", color: "#d62728",
                                                                         id: "chart-gas", caption: "Gas per month")
            }
            body += "<table id=\"months\"><tr><th>Month</th><th>Electricity kWh</th><th>Cost</th>" + (view.hasGas ? "<th>Gas kWh</th><th>Cost</th>" : "")
                + (view.hasExport ? "<th>Exported kWh</th>" : "") + "</tr>"
            for month in months {
                body += "<tr><td>\(month.0)</td><td>\(Int(month.1))</td><td>\(PortalPages.pounds(month.4))</td>"
                    + (view.hasGas ? "<td>\(Int(month.2))</td><td>\(PortalPages.pounds(month.5))</td>" : "") + (view.hasExport ? "<td>\(Int(month.3))</td>" : "") + "</tr>"
            }
            body += "</table>"
        default:
            let days = try await homes.consumerDays(view, from: day, through: day)
            guard let one = days.first else { break }
            let labels = (0..<48).map { slot in (slot / 2 < 10 ? "0" : "") + "\(slot / 2):" + (slot % 2 == 0 ? "00" : "30") }
            body += "<p><a id=\"previous-day\" href=\"/portal/home?view=day&date=\(Timestamp(dayNumber: day - 1).isoDate)\">&larr; previous day</a> "
                + "&nbsp; <strong id=\"day\">\(one.date.isoDate)</strong> (UTC) &nbsp; "
                + "<a href=\"/portal/home?view=day&date=\(Timestamp(dayNumber: day + 1).isoDate)\">next day &rarr;</a></p>"
            body += "<h2>Electricity, half hour by half hour</h2>" + PortalPages.bars(one.importWh.map { Double($0) / 1000 }, labels: labels, labelEvery: 4, unit: "kWh",
                                                                                      color: "#1f77b4", id: "chart-electricity", caption: "Electricity per half hour on \(one.date.isoDate)")
            if view.hasGas {
                body += "<h2>Gas</h2>" + PortalPages.bars(one.gasLitres.map { view.model.wh(forLitres: Int64($0)) / 1000 }, labels: labels, labelEvery: 4, unit: "kWh",
                                                          color: "#d62728", id: "chart-gas", caption: "Gas per half hour")
            }
            if view.hasExport {
                body += "<h2>Exported (solar)</h2>" + PortalPages.bars(one.exportWh.map { Double($0) / 1000 }, labels: labels, labelEvery: 4, unit: "kWh",
                                                                       color: "#2ca02c", id: "chart-export", caption: "Exported per half hour")
            }
            body += costTable(days, title: one.date.isoDate)
        }
        return Self.html(PortalPages.page(title: "My consumption", signedIn: who(view), body: body))
    }

    private func costTable(_ days: [ConsumerDay], title: String) -> String {
        let electricity = days.reduce(Int64(0)) { $0 + $1.importTotal }, gas = days.reduce(Int64(0)) { $0 + $1.gasTotal }
        let cost = days.reduce(Int64(0)) { $0 + $1.electricityCost }, gasCost = days.reduce(Int64(0)) { $0 + $1.gasCost }
        return "<div class=\"card\" id=\"costs\"><strong>\(PortalPages.escape(title))</strong>: electricity \(String(format: "%.1f", Double(electricity) / 1000)) kWh, "
            + "\(PortalPages.pounds(cost))" + (gas > 0 ? "; gas \(String(format: "%.1f", Double(gas) / 1000)) m³, \(PortalPages.pounds(gasCost))" : "")
            + " (including standing charges)</div>"
    }

    private func consents(_ session: Session, message: String?) async throws -> Response {
        let view = try await view(session)
        let entries = try await hub.store.consents(premises: session.premises, occupancy: session.occupancy)
        let ledger = ConsentLedger(occupancy: view.occupancy, entries: entries, at: .now())
        let token = await csrf(session)
        func name(_ eui: EUI64) -> String { hub.registry.user(eui).map { "\($0.name) (\(eui))" } ?? eui.description }
        var body = message.map { "<p class=\"card\" id=\"message\">\(PortalPages.escape($0))</p>" } ?? ""
        body += "<h2>In force now</h2><table id=\"active\"><tr><th>Who</th><th>What</th><th>For</th><th>Until</th><th>How given</th><th></th></tr>"
        if ledger.consents.isEmpty { body += "<tr><td colspan=\"6\">No consents: your supplier has monthly and daily reads; nobody else has anything.</td></tr>" }
        for consent in ledger.consents {
            body += "<tr><td>\(PortalPages.escape(name(consent.party)))</td><td>\(consent.granularity.name)</td><td>\(consent.purpose.title)</td>"
                + "<td>\(consent.until?.isoDate ?? "until you withdraw it")</td><td>\(consent.method.rawValue)</td><td>"
                + "<form class=\"inline\" method=\"post\" action=\"/portal/consents\"><input type=\"hidden\" name=\"csrf\" value=\"\(token)\">"
                + "<input type=\"hidden\" name=\"action\" value=\"withdraw\"><input type=\"hidden\" name=\"party\" value=\"\(consent.party)\">"
                + "<input type=\"hidden\" name=\"purpose\" value=\"\(consent.purpose.rawValue)\"><button class=\"withdraw\">Withdraw</button></form></td></tr>"
        }
        for withdrawal in ledger.withdrawals {
            body += "<tr><td>\(PortalPages.escape(name(withdrawal.party)))</td><td colspan=\"5\">withdrawn for \(withdrawal.purpose.title)"
                + (withdrawal.ceiling.map { ": nothing finer than \($0.name)" } ?? ": nothing") + " since \(withdrawal.at.isoDate)</td></tr>"
        }
        body += "</table><h2>Give a consent</h2><div class=\"card\"><form method=\"post\" action=\"/portal/consents\" id=\"grant-form\">"
            + "<input type=\"hidden\" name=\"csrf\" value=\"\(token)\"><input type=\"hidden\" name=\"action\" value=\"grant\">"
            + "<label>Who <select name=\"party\" id=\"party\">"
        for user in hub.registry.all where !user.roles.contains(.dcc) {
            body += "<option value=\"\(user.eui)\">\(PortalPages.escape(user.name)) (\(user.eui), \(user.roles.codes))</option>"
        }
        body += "</select></label> <label>For <select name=\"purpose\" id=\"purpose\">"
            + Purpose.allCases.map { "<option value=\"\($0.rawValue)\">\($0.title)</option>" }.joined() + "</select></label>"
            + " <label>Detail <select name=\"granularity\" id=\"granularity\">"
            + Granularity.allCases.reversed().map { "<option value=\"\($0.name)\">\($0.name)</option>" }.joined() + "</select></label>"
            + " <label>Until <input type=\"date\" name=\"until\" id=\"until\"></label> <button id=\"grant\">Give consent</button></form>"
            + "<p class=\"note\">A consent here is verified: you are signed in with your home's code. It ends when you withdraw it, on its date, or when you move out.</p></div>"
        body += "<h2>Your supplier's reads</h2><div class=\"card\"><p>Suppliers may read daily totals unless you opt out, and half hours only if you opt in.</p>"
        let suppliers = hub.registry.all.filter { $0.roles.contains(.is) || $0.roles.contains(.gs) }
        for supplier in suppliers.prefix(6) {
            body += "<form class=\"inline\" method=\"post\" action=\"/portal/consents\"><input type=\"hidden\" name=\"csrf\" value=\"\(token)\">"
                + "<input type=\"hidden\" name=\"action\" value=\"withdraw\"><input type=\"hidden\" name=\"party\" value=\"\(supplier.eui)\">"
                + "<input type=\"hidden\" name=\"purpose\" value=\"billing\"><input type=\"hidden\" name=\"granularity\" value=\"daily\">"
                + "<button>Opt out of daily reads by \(PortalPages.escape(supplier.name))</button></form> "
        }
        body += "</div><h2>History</h2><table id=\"history\"><tr><th>When</th><th>What</th><th>Who</th><th>Purpose</th><th>Detail</th><th>How</th></tr>"
        for entry in entries.reversed() {
            body += "<tr><td>\(entry.at.iso8601)</td><td>\(entry.action.rawValue)</td><td>\(PortalPages.escape(name(entry.party)))</td><td>\(entry.purpose.title)</td>"
                + "<td>\(entry.granularity?.name ?? "all")</td><td>\(entry.method.rawValue)</td></tr>"
        }
        body += "</table>"
        return Self.html(PortalPages.page(title: "My consents", signedIn: who(view), body: body))
    }

    private func changeConsent(_ session: Session, _ request: Request) async throws -> Response {
        guard let form = await Self.form(request) else { return Self.formTooLarge }
        guard let token = form["csrf"], constantTimeEqual(token, await csrf(session)) else {
            return Self.html(PortalPages.page(title: "Not accepted", signedIn: "", body: "<p class=\"error\">The form has expired: reload the page and try again.</p>"),
                             status: .forbidden)
        }
        guard let partyText = form["party"], let party = EUI64(partyText), hub.registry.user(party) != nil,
              let purpose = form["purpose"].flatMap(Purpose.init(rawValue:)) else {
            return try await consents(session, message: "Choose who and what for.")
        }
        let now = Timestamp.now()
        let granularity = form["granularity"].flatMap { $0.isEmpty ? nil : Granularity(name: $0) }
        let entry: ConsentEntry
        let message: String
        if form["action"] == "grant" {
            guard let granularity else { return try await consents(session, message: "Choose the level of detail.") }
            var until: Timestamp?
            if let text = form["until"], !text.isEmpty {
                guard let date = Timestamp(xsDate: text), date > now else { return try await consents(session, message: "The end date must be in the future.") }
                until = date
            }
            entry = ConsentEntry(premises: session.premises, occupancy: session.occupancy, party: party, purpose: purpose, action: .grant,
                                 granularity: granularity, until: until, method: .portal, at: now, note: "consumer portal")
            message = "Consent given: \(hub.registry.user(party)?.name ?? party.description) may have \(granularity.name) data for \(purpose.title.lowercased())"
                + (until.map { " until \($0.isoDate)" } ?? " until you withdraw it") + "."
        } else {
            entry = ConsentEntry(premises: session.premises, occupancy: session.occupancy, party: party, purpose: purpose, action: .withdraw,
                                 granularity: granularity, method: .portal, at: now, note: "consumer portal")
            message = "Withdrawn: \(hub.registry.user(party)?.name ?? party.description) no longer has " + (granularity.map { "\($0.name) data or finer" } ?? "your data")
                + " for \(purpose.title.lowercased())."
        }
        try await hub.store.apply(Mutation.recordConsent(entry, via: "consumer portal"))
        return try await consents(session, message: message)
    }

    private func access(_ session: Session) async throws -> Response {
        let view = try await view(session)
        let log = try await hub.store.dataAccess(premises: session.premises, occupancy: session.occupancy, limit: 500)
        var body = "<p>Every request for your home's data, allowed or refused, with the rule that decided it.</p>"
            + "<table id=\"access-log\"><tr><th>When</th><th>Who</th><th>Role</th><th>Asked for</th><th>Outcome</th><th>Rule</th><th>Detail</th></tr>"
        if log.isEmpty { body += "<tr><td colspan=\"7\">Nobody has asked for your data yet.</td></tr>" }
        for entry in log {
            let name = hub.registry.user(entry.party)?.name ?? entry.party.description
            let asked = (SRV(entry.srv).flatMap { DataRequest.classify(srv: $0) }?.what ?? entry.srv) + " (SRV \(entry.srv))"
            body += "<tr><td>\(entry.at.iso8601)</td><td>\(PortalPages.escape(name))</td><td>\(entry.role)</td><td>\(PortalPages.escape(asked))</td>"
                + "<td class=\"\(entry.outcome.rawValue)\">\(entry.outcome.rawValue)</td><td>\(PortalPages.escape(entry.rule))</td><td>\(PortalPages.escape(entry.detail))</td></tr>"
        }
        body += "</table>"
        return Self.html(PortalPages.page(title: "Who accessed my data", signedIn: who(view), body: body))
    }

    private func reveal(_ session: Session) async throws -> Response {
        let view = try await view(session)
        var body = "<p>What someone holding your data could work out from it, at each level of detail, from your last 8 weeks. "
            + "This is why half-hourly data needs your consent.</p>"
        if let report = try await homes.reveal(premises: session.premises, plans: hub.plans) {
            body += "<table id=\"reveal\"><tr><th>What</th><th>From</th><th>Gives it away?</th><th>What it shows</th></tr>"
            for inference in report.inferences {
                body += "<tr><td>\(PortalPages.escape(inference.name))</td><td>\(PortalPages.escape(inference.granularity))</td>"
                    + "<td class=\"\(inference.revealed ? "yes" : "no")\">\(inference.revealed ? "yes" : "no")</td><td>\(PortalPages.escape(inference.finding))</td></tr>"
            }
            body += "</table>"
        }
        return Self.html(PortalPages.page(title: "What my data reveals", signedIn: who(view), body: body))
    }

    private func exportPage(_ session: Session) async throws -> Response {
        let view = try await view(session)
        let body = "<p>All your half-hourly data since you moved in (up to 13 months, as your meter keeps it): electricity imported and exported, and gas.</p>"
            + "<p><a id=\"export-csv\" href=\"/portal/export.csv\">Download as CSV</a> &nbsp; <a id=\"export-json\" href=\"/portal/export.json\">Download as JSON</a></p>"
        return Self.html(PortalPages.page(title: "My data export", signedIn: who(view), body: body))
    }

    private func export(_ session: Session, json: Bool) async throws -> Response {
        let view = try await view(session)
        let days = try await homes.consumerDays(view, from: view.firstDay, through: view.lastDay)
        var text = ""
        if json {
            struct Reading: Encodable { var start: String; var `import`: Int32; var export: Int32; var gas: Int32 }
            struct Document: Encodable {
                var premises: String
                var occupancySince: String
                var units = ["import": "Wh", "export": "Wh", "gas": "litre"]
                var readings: [Reading]
            }
            var readings: [Reading] = []
            for day in days {
                for slot in day.slots {
                    readings.append(Reading(start: DayReadingsClock.start(day: day.day, slot: slot), import: day.importWh[slot], export: day.exportWh[slot], gas: day.gasLitres[slot]))
                }
            }
            let document = Document(premises: who(view), occupancySince: view.occupancy.sequence == 0 ? "installation" : view.occupancy.start.iso8601, readings: readings)
            text = String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
        } else {
            text = "period_start,import_wh,export_wh,gas_litres\n"
            for day in days {
                for slot in day.slots {
                    text += "\(DayReadingsClock.start(day: day.day, slot: slot)),\(day.importWh[slot]),\(day.exportWh[slot]),\(day.gasLitres[slot])\n"
                }
            }
        }
        try await hub.store.apply([.audit(AuditEvent(at: .now(), kind: .portal, detail: "consumer of premises \(session.premises) downloaded their data (\(json ? "JSON" : "CSV"), \(days.count) days)"))])
        var headers: HTTPFields = [.contentType: json ? "application/json" : "text/csv; charset=utf-8", .cacheControl: "no-store"]
        headers[.contentDisposition] = "attachment; filename=\"my-energy-data.\(json ? "json" : "csv")\""
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

enum DayReadingsClock {
    static func start(day: Int32, slot: Int) -> String {
        Timestamp(dayNumber: day, slot: slot).iso8601
    }
}
