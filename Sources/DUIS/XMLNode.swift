import CLibXML2

/// A borrowed view of an element inside an `XMLDocument`. Valid only while its document
/// is alive; used inside the DUIS module to read requests without copying them.
public struct XMLNode {
    let pointer: xmlNodePtr

    init(_ pointer: xmlNodePtr) { self.pointer = pointer }

    public var localName: String {
        guard let name = pointer.pointee.name else { return "" }
        return String(cString: name)
    }

    /// True when the element has this local name and namespace URI (compared as bytes,
    /// without creating Swift strings).
    public func `is`(_ name: StaticString, in namespace: StaticString) -> Bool {
        guard pointer.pointee.type == XML_ELEMENT_NODE,
              let ns = pointer.pointee.ns, let href = ns.pointee.href,
              let elementName = pointer.pointee.name
        else { return false }
        return equals(elementName, name) && equals(href, namespace)
    }

    public var namespaceURI: String? {
        guard let ns = pointer.pointee.ns, let href = ns.pointee.href else { return nil }
        return String(cString: href)
    }

    public var isElement: Bool { pointer.pointee.type == XML_ELEMENT_NODE }

    /// Child elements in document order (text, comments and processing instructions skipped).
    public var children: [XMLNode] {
        var result: [XMLNode] = []
        var child = pointer.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { result.append(XMLNode(current)) }
            child = current.pointee.next
        }
        return result
    }

    public var firstChildElement: XMLNode? {
        var child = pointer.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { return XMLNode(current) }
            child = current.pointee.next
        }
        return nil
    }

    public var nextSiblingElement: XMLNode? {
        var sibling = pointer.pointee.next
        while let current = sibling {
            if current.pointee.type == XML_ELEMENT_NODE { return XMLNode(current) }
            sibling = current.pointee.next
        }
        return nil
    }

    public var parent: XMLNode? {
        guard let parent = pointer.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE else { return nil }
        return XMLNode(parent)
    }

    /// True when there is non-whitespace text directly inside this element.
    public var hasDirectText: Bool {
        var child = pointer.pointee.children
        while let current = child {
            if current.pointee.type == XML_TEXT_NODE || current.pointee.type == XML_CDATA_SECTION_NODE,
               let content = current.pointee.content {
                var p = content
                while p.pointee != 0 {
                    let c = p.pointee
                    if c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D { return true }
                    p += 1
                }
            }
            child = current.pointee.next
        }
        return false
    }

    /// The concatenated text of the element's descendants (comments excluded).
    public var text: String {
        guard let content = xmlNodeGetContent(pointer) else { return "" }
        defer { gbsm_xml_free(content) }
        return String(cString: content)
    }

    public func attribute(_ name: String) -> String? {
        guard let value = xmlGetNoNsProp(pointer, name) else { return nil }
        defer { gbsm_xml_free(value) }
        return String(cString: value)
    }

    /// Attributes as (namespace URI or nil, local name, value).
    public var attributes: [(namespace: String?, name: String, value: String)] {
        var result: [(String?, String, String)] = []
        var attribute = pointer.pointee.properties
        while let current = attribute {
            let name = current.pointee.name.map { String(cString: $0) } ?? ""
            let namespace = current.pointee.ns?.pointee.href.map { String(cString: $0) }
            var value = ""
            if let content = xmlNodeListGetString(pointer.pointee.doc, current.pointee.children, 1) {
                value = String(cString: content)
                gbsm_xml_free(content)
            }
            result.append((namespace, name, value))
            attribute = current.pointee.next
        }
        return result
    }

    /// Number of element ancestors.
    public var depth: Int {
        var count = 0
        var node = pointer.pointee.parent
        while let current = node, current.pointee.type == XML_ELEMENT_NODE {
            count += 1
            node = current.pointee.parent
        }
        return count
    }
}

@inline(__always)
func equals(_ cString: UnsafePointer<xmlChar>, _ literal: StaticString) -> Bool {
    literal.withUTF8Buffer { expected in
        var i = 0
        while i < expected.count {
            if cString[i] != expected[i] { return false }
            i += 1
        }
        return cString[i] == 0
    }
}

extension XMLNode {
    /// Replaces the element's content with text (escaped as needed).
    func setText(_ text: String) {
        withXMLString(text) { value in
            if let escaped = xmlEncodeSpecialChars(pointer.pointee.doc, value) {
                xmlNodeSetContent(pointer, escaped)
                gbsm_xml_free(escaped)
            }
        }
    }
}
