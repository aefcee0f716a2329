/// Writes XML directly in its canonical form (Canonical XML 1.0): namespace
/// declarations before attributes, both sorted; empty elements as start and end tags;
/// the canonical escapes; no XML declaration, no insignificant whitespace. What it
/// writes hashes the same as libxml2's canonicalisation of it, so responses can be
/// signed without parsing them back (tests check this against libxml2 and xmlsec1).
public struct CanonicalXMLWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var open: [String] = []

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// Opens an element. `namespaces` are (prefix, URI) pairs, an empty prefix being the
    /// default namespace; `attributes` are unqualified (name, value) pairs.
    public mutating func open(_ qualifiedName: String, namespaces: [(String, String)] = [], attributes: [(String, String)] = []) {
        bytes.append(UInt8(ascii: "<"))
        bytes.append(contentsOf: qualifiedName.utf8)
        for (prefix, uri) in namespaces.sorted(by: { $0.0 < $1.0 }) {
            if prefix.isEmpty {
                bytes.append(contentsOf: " xmlns=\"".utf8)
            } else {
                bytes.append(contentsOf: " xmlns:".utf8)
                bytes.append(contentsOf: prefix.utf8)
                bytes.append(contentsOf: "=\"".utf8)
            }
            appendEscaped(uri, attribute: true)
            bytes.append(UInt8(ascii: "\""))
        }
        for (name, value) in attributes.sorted(by: { $0.0 < $1.0 }) {
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: "=\"".utf8)
            appendEscaped(value, attribute: true)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: ">"))
        open.append(qualifiedName)
    }

    public mutating func close() {
        guard let name = open.popLast() else { return }
        bytes.append(contentsOf: "</".utf8)
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: ">"))
    }

    public mutating func text(_ value: String) { appendEscaped(value, attribute: false) }

    /// `<name>text</name>`
    public mutating func element(_ qualifiedName: String, _ value: String) {
        open(qualifiedName)
        text(value)
        close()
    }

    /// `<name></name>`
    public mutating func empty(_ qualifiedName: String, attributes: [(String, String)] = []) {
        open(qualifiedName, attributes: attributes)
        close()
    }

    /// Appends bytes already in canonical form (for example a canonicalised subtree).
    public mutating func raw(_ canonical: some Sequence<UInt8>) { bytes.append(contentsOf: canonical) }

    public var depth: Int { open.count }

    /// Takes the bytes, leaving still-open elements open (the caller closes the root
    /// after the signature).
    public consuming func finish() -> [UInt8] { bytes }

    private mutating func appendEscaped(_ value: String, attribute: Bool) {
        // Most values (base64 payloads, numbers, identifiers) need no escaping: one copy.
        let plain = value.utf8.withContiguousStorageIfAvailable { utf8 in
            !utf8.contains { byte in byte < 0x20 || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "\"") }
        }
        if plain == true {
            bytes.append(contentsOf: value.utf8)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "&"): bytes.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): bytes.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">") where !attribute: bytes.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\"") where attribute: bytes.append(contentsOf: "&quot;".utf8)
            case 0x09 where attribute: bytes.append(contentsOf: "&#x9;".utf8)
            case 0x0A where attribute: bytes.append(contentsOf: "&#xA;".utf8)
            case 0x0D: bytes.append(contentsOf: "&#xD;".utf8)
            case 0x09, 0x0A: bytes.append(byte)
            case 0x00..<0x20: continue  // not allowed in XML 1.0 documents
            default: bytes.append(byte)
            }
        }
    }
}
