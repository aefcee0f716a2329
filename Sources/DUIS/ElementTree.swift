import CLibXML2

/// A small, owned copy of an XML element subtree (names, attributes, text, children),
/// used to carry a request body out of its libxml2 document.
public struct ElementTree: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var attributes: [String: String]
    public var text: String
    public var children: [ElementTree]

    public init(name: String, namespace: String? = nil, attributes: [String: String] = [:], text: String = "", children: [ElementTree] = []) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.text = text
        self.children = children
    }

    public init(_ node: XMLNode) {
        name = node.localName
        namespace = node.namespaceURI
        var attributes: [String: String] = [:]
        for attribute in node.attributes { attributes[attribute.name] = attribute.value }
        self.attributes = attributes
        var text = ""
        var children: [ElementTree] = []
        var child = node.pointer.pointee.children
        while let current = child {
            switch current.pointee.type {
            case XML_ELEMENT_NODE:
                children.append(ElementTree(XMLNode(current)))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = current.pointee.content { text += String(cString: content) }
            default:
                break
            }
            child = current.pointee.next
        }
        self.text = children.isEmpty ? text : text.trimmingWhitespace()
        self.children = children
    }

    /// The first child element with this local name.
    public func child(_ name: String) -> ElementTree? { children.first { $0.name == name } }

    /// The trimmed text of the first child element with this local name, when that element
    /// is a simple value (an element holding elements has no value).
    public func value(_ name: String) -> String? {
        guard let child = child(name), child.children.isEmpty else { return nil }
        return child.text.trimmingWhitespace()
    }

    /// Follows a path of child names.
    public func descendant(_ path: String...) -> ElementTree? {
        var current: ElementTree? = self
        for name in path { current = current?.child(name) }
        return current
    }

    /// Writes the subtree in canonical form, prefixing every element with `prefix`.
    public func write(to writer: inout CanonicalXMLWriter, prefix: String) {
        let qualified = prefix.isEmpty ? name : prefix + ":" + name
        writer.open(qualified, attributes: attributes.map { ($0.key, $0.value) })
        if children.isEmpty {
            writer.text(text)
        } else {
            for child in children { child.write(to: &writer, prefix: prefix) }
        }
        writer.close()
    }
}

/// Stored as JSON where a device holds a command's body until it runs (a future-dated
/// critical command, `HeldCommand`).
extension ElementTree: Codable {}
