import DUIS
import Foundation
import Hub
import Privacy
import Storage

/// HTML and server-side SVG for the consumer portal. Every value put in a page goes
/// through `escape`.
enum PortalPages {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    static let style = """
    body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}
    header{background:#0b3d5c;color:#fff;padding:10px 24px;display:flex;flex-wrap:wrap;align-items:center;gap:6px 18px}
    header a{color:#fff;text-decoration:none}header .who{margin-left:auto;font-size:14px}main{padding:16px 24px;max-width:1000px}
    table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #ddd;padding:6px;text-align:left;font-size:14px}
    .card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:12px 0}
    .refused{color:#a30000}.released{color:#0a6b1f}.aggregated{color:#5a3d99}.yes{color:#a30000;font-weight:600}.no{color:#555}
    form.inline{display:inline}button,input,select{font-size:14px;padding:4px 8px;margin:2px}
    .error{background:#fde8e8;border:1px solid #a30000;padding:8px;border-radius:4px}.note{color:#555;font-size:13px}
    nav.views a{margin-right:12px}
    """

    static func page(title: String, signedIn: String?, body: String) -> String {
        let navigation = signedIn == nil ? "" : """
        <a href="/portal/home">My consumption</a><a href="/portal/consents">My consents</a><a href="/portal/access">Who accessed my data</a>\
        <a href="/portal/reveal">What my data reveals</a><a href="/portal/export">My data export</a><a href="/portal/rules">Who may see what</a>\
        <span class="who">\(escape(signedIn ?? "")) <form class="inline" method="post" action="/portal/signout"><button id="signout">Sign out</button></form></span>
        """
        return """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · gbsm consumer portal</title>\
        <style>\(style)</style></head><body><header><strong>gbsm</strong> &nbsp; \(navigation)</header><main><h1>\(escape(title))</h1>\(body)</main></body></html>
        """
    }

    static func signIn(error: String?) -> String {
        page(title: "Sign in to see your energy data", signedIn: nil, body: """
        \(error.map { "<p class=\"error\" id=\"error\">\(escape($0))</p>" } ?? "")
        <div class="card"><form method="post" action="/portal/signin">
        <p><label>Your MPAN or MPRN (on your bill)<br><input name="mpxn" id="mpxn" size="20" autocomplete="off"></label></p>
        <p><label>The code your in-home display shows<br><input name="code" id="code" size="12" autocomplete="off"></label></p>
        <button id="signin">Sign in</button></form></div>
        <p class="note">Your supplier can also send you a one-use sign-in link. You only ever see your own home's data, and only since you moved in.</p>
        """)
    }

    // MARK: - Charts

    /// A bar chart as SVG: one bar per value, labels under every `labelEvery` bars.
    static func bars(_ values: [Double], labels: [String], labelEvery: Int, unit: String, color: String, id: String, caption: String) -> String {
        let width = 900.0, height = 260.0, left = 56.0, bottom = 30.0, top = 14.0
        let maximum = max(values.max() ?? 0, 0.001)
        let step = niceStep(maximum / 4)
        let ceiling = (maximum / step).rounded(.up) * step
        let barWidth = (width - left - 10) / Double(max(values.count, 1))
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(escape(caption))\">"
        svg += "<title>\(escape(caption))</title>"
        var tick = 0.0
        while tick <= ceiling + step / 2 {
            let y = top + (height - top - bottom) * (1 - tick / ceiling)
            svg += "<line x1=\"\(left)\" x2=\"\(width - 10)\" y1=\"\(format(y))\" y2=\"\(format(y))\" stroke=\"#e3e3e3\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(format(y + 4))\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">\(trim(tick))</text>"
            tick += step
        }
        for (index, value) in values.enumerated() {
            let barHeight = (height - top - bottom) * value / ceiling
            let x = left + Double(index) * barWidth
            svg += "<rect x=\"\(format(x + barWidth * 0.1))\" y=\"\(format(height - bottom - barHeight))\" width=\"\(format(barWidth * 0.8))\" height=\"\(format(barHeight))\" fill=\"\(color)\">"
            svg += "<title>\(escape(labels[safe: index] ?? "")): \(trim(value)) \(unit)</title></rect>"
            if index % max(labelEvery, 1) == 0 {
                svg += "<text x=\"\(format(x + barWidth / 2))\" y=\"\(Int(height - 10))\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">\(escape(labels[safe: index] ?? ""))</text>"
            }
        }
        svg += "<text x=\"4\" y=\"12\" font-size=\"11\" fill=\"#333\">\(escape(unit))</text></svg>"
        return svg
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        for multiple in [1.0, 2, 2.5, 5, 10] where multiple * magnitude >= raw { return multiple * magnitude }
        return 10 * magnitude
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func trim(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(Int(value.rounded())) : String(format: "%.2f", value)
    }

    static func pounds(_ millipence: Int64) -> String { String(format: "£%.2f", Double(millipence) / 100_000) }

    // MARK: - What each party may do

    static let rules = """
    <div class="card"><h2>You</h2><p>You can see all of your home's data since you moved in: every half hour, day and month,
    electricity, gas and any electricity you export, on your in-home display and here, free of charge. You choose who else gets it,
    and you can change your mind at any time. You can download all of it.</p></div>
    <div class="card"><h2>Your energy supplier</h2><ul>
    <li>May read your meter monthly, for your bill, without asking.</li>
    <li>May read daily totals unless you say no (opt out on the consents page).</li>
    <li>May read half-hourly data only if you say yes (opt in), or, where the hub is set up for market-wide half-hourly
    settlement, for settlement unless you say no.</li>
    <li>May not use your data for marketing unless you explicitly agree.</li></ul></div>
    <div class="card"><h2>Your network operator (who runs the cables and pipes)</h2><ul>
    <li>May read monthly data.</li>
    <li>May use half-hourly or daily data only under a data privacy plan approved by Ofgem, which combines your home with
    at least several others on your street or substation so that no home can be picked out, or with your consent.</li>
    <li>Never gets your half-hourly readings themselves under a plan: the hub turns them into a total for the group, with a
    code name instead of your address, and deletes them once the total is made.</li>
    <li>May not sell your data, market to you or use it for your bills.</li></ul></div>
    <div class="card"><h2>Anyone else (comparison sites, energy services, researchers)</h2><ul>
    <li>Gets nothing without your explicit consent, for a purpose you choose, at a level of detail you choose, until a date you choose.</li>
    <li>You confirm it here or by reading them the number your in-home display shows. A consent given only by phone is not enough.</li>
    <li>Consents end when you move out: the next household starts with none, and nobody sees your data after you leave.</li></ul></div>
    <div class="card"><h2>Honestly</h2><p>Half-hourly data shows when you wake, when you are out, when you cook, when you charge a
    car and when you are away (see "What my data reveals"). That is why the rules above exist. Every request for your data,
    allowed or refused, is recorded with the rule that decided it, and you can see each one under "Who accessed my data".
    No system is perfectly secure: this is what is held, so you know what could be exposed.</p></div>
    """
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
