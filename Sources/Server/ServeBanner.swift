/// The line `gbsm serve` prints once it listens, and how a parent process reads the port
/// from it. A parent that starts the hub with `--port 0` lets the kernel choose a free
/// port at bind time and learns it here: a port the parent picked and released before the
/// child bound it could be taken by another process in between.
public struct ServeBanner: Sendable {
    static let marker = "gbsm hub listening on http://"

    /// The banner's first line (ending in a newline).
    public static func line(host: String, port: Int, data: String) -> String {
        "\(marker)\(host):\(port) (data in \(data))\n"
    }

    /// The port a banner names, once its number is whole in `text` (a read may end inside
    /// it); nil before that, or for a number that is not a port.
    public static func port(in text: String) -> Int? {
        // The last banner in the text (a line logged before it may quote the marker), and
        // the port after the host's last colon (an IPv6 host has colons of its own).
        guard let marker = text.range(of: marker, options: .backwards) else { return nil }
        let rest = text[marker.upperBound...]
        let line = rest.prefix { $0 != " " && $0 != "\n" }
        guard let colon = line.lastIndex(of: ":") else { return nil }
        let after = rest[rest.index(after: colon)...]
        let digits = after.prefix { $0.isASCII && $0.isNumber }
        guard digits.endIndex < after.endIndex, after[digits.endIndex] == " " || after[digits.endIndex] == "\n" || after[digits.endIndex] == "/",
              let port = Int(digits), (1...65_535).contains(port) else { return nil }
        return port
    }

    /// The port, once read.
    public private(set) var port: Int?
    /// The end of what was read so far, where a banner cut by a read begins: bounded, so
    /// a hub that logs much before its banner costs the reader nothing more.
    private var tail = ""

    public init() {}

    /// Reads the next chunk of the hub's output; the port once the banner has arrived.
    @discardableResult
    public mutating func read(_ chunk: some Sequence<UInt8>) -> Int? {
        guard port == nil else { return port }
        let text = tail + String(decoding: Array(chunk), as: UTF8.self)
        port = Self.port(in: text)
        tail = String(decoding: text.utf8.suffix(256), as: UTF8.self)
        return port
    }
}
