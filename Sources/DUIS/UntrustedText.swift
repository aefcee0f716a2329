/// Text from outside (a request's field, an element name, a header) made safe to put in a
/// log line, an audit entry or an error message: at most `limit` characters, control
/// characters shown as `\u{…}`, and when cut, the original length in octets. Whatever a
/// client sends, what the hub writes about it stays small.
public func untrusted(_ text: some StringProtocol, limit: Int = 64) -> String {
    var out = "\""
    var count = 0
    var cut = false
    for scalar in text.unicodeScalars {
        if count == limit {
            cut = true
            break
        }
        count += 1
        if isControlOrBidi(scalar) || scalar == "\"" || scalar == "\\" {
            out += scalar == "\"" ? "\\\"" : scalar == "\\" ? "\\\\" : "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    out += cut ? "…\" (\(text.utf8.count) octets)" : "\""
    return out
}

/// C0 and C1 control characters, DEL, and the Unicode bidirectional controls (which can
/// make a log line read differently from what it holds).
func isControlOrBidi(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    return value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
        || value == 0x200E || value == 0x200F || value == 0x061C
}

/// `text` with every control or bidirectional character shown as `\u{…}` (no quotes, no
/// cut): for messages that quote untrusted text inside them.
public func escapingControls(_ text: some StringProtocol) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if isControlOrBidi(scalar) { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
    }
    return out
}

extension String {
    /// The longest prefix of at most `maxBytes` UTF-8 octets that ends on a character
    /// boundary, with a note of how much was cut.
    public func boundedUTF8(_ maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, maxBytes - 32))
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        return String(self[..<end]) + "… [\(utf8.count) octets, cut]"
    }
}
