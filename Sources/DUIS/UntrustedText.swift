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
        if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\"" || scalar == "\\" {
            out += scalar == "\"" ? "\\\"" : scalar == "\\" ? "\\\\" : "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    out += cut ? "…\" (\(text.utf8.count) octets)" : "\""
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
