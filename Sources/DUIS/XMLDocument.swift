import CLibXML2

/// Limits applied while parsing untrusted XML. DUIS requests are small; these bound the
/// memory and time any single request can cost the gateway.
public struct XMLParseLimits: Sendable {
    public var maxBytes: Int
    public var maxDepth: Int
    public var maxElements: Int
    /// Attributes (namespace declarations included) on one element. libxml2 2.9 checks
    /// duplicates pairwise, so unbounded counts cost quadratic time.
    public var maxAttributesPerElement: Int
    /// Namespace declarations in the whole document. Canonicalisation cost grows with
    /// elements times the namespaces in scope.
    public var maxNamespaceDeclarations: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 48, maxElements: Int = 10_000,
                maxAttributesPerElement: Int = 32, maxNamespaceDeclarations: Int = 32) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxAttributesPerElement = maxAttributesPerElement
        self.maxNamespaceDeclarations = maxNamespaceDeclarations
    }

    /// Firmware images (11.1, 11.4) may be up to 10,240,000 octets, base64 encoded.
    public static let duis = XMLParseLimits(maxBytes: 14 << 20)
}

/// Why a document was refused before any of it was processed.
public enum XMLParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLarge(limit: Int)
    case notUTF8(String)
    case doctypeForbidden
    case tooDeep(limit: Int)
    case tooManyElements(limit: Int)
    case tooManyAttributes(limit: Int)
    case tooManyNamespaces(limit: Int)
    case malformed(line: Int, message: String)

    public var description: String {
        switch self {
        case .empty: return "the request body is empty"
        case .tooLarge(let limit): return "the request body exceeds \(limit) bytes"
        case .notUTF8(let detail): return "only UTF-8 encoded XML is accepted (\(detail))"
        case .doctypeForbidden: return "DOCTYPE declarations are not accepted (no DTDs, no entities)"
        case .tooDeep(let limit): return "XML nesting deeper than \(limit) levels"
        case .tooManyElements(let limit): return "more than \(limit) XML elements"
        case .tooManyAttributes(let limit): return "an element with more than \(limit) attributes"
        case .tooManyNamespaces(let limit): return "more than \(limit) namespace declarations"
        case .malformed(let line, let message): return "malformed XML at line \(line): \(message)"
        }
    }
}

/// State shared with the SAX hooks through the parser context's `_private` pointer.
private struct ParseGuard {
    var maxDepth: Int32
    var maxElements: Int
    var maxNamespaces: Int
    var elements = 0
    var namespaces = 0
    var violation: XMLParseError?
}

let libxmlInitialised: Void = {
    xmlInitParser()
    gbsm_silence_libxml2()
    gbsm_forbid_network_loads()
}()

/// A parsed XML document owned by libxml2. Created only through `parse`, which refuses
/// DTDs (so no entity expansion and no external entities), forbids network access,
/// and enforces size, depth and element-count limits while parsing.
///
/// Not thread-safe: one document is used by one task at a time.
public final class XMLDocument {
    let doc: xmlDocPtr

    private init(doc: xmlDocPtr) { self.doc = doc }

    deinit { xmlFreeDoc(doc) }

    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: XMLParseLimits = XMLParseLimits()) throws(XMLParseError) -> XMLDocument {
        _ = libxmlInitialised
        guard bytes.count > 0, let base = bytes.baseAddress else { throw .empty }
        guard bytes.count <= limits.maxBytes else { throw .tooLarge(limit: limits.maxBytes) }
        // UTF-16 and UTF-32 documents start with a byte-order mark or a zero byte.
        let first = bytes[0]
        if first == 0 || first == 0xFE || first == 0xFF {
            throw .notUTF8("byte-order mark or NUL at the start")
        }
        // Before libxml2 sees the bytes: bound the attributes of every start tag.
        guard attributesWithinLimit(bytes, limit: limits.maxAttributesPerElement) else {
            throw .tooManyAttributes(limit: limits.maxAttributesPerElement)
        }
        guard let ctxt = xmlCreateMemoryParserCtxt(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count)) else {
            throw .malformed(line: 0, message: "parser could not be created")
        }
        defer { xmlFreeParserCtxt(ctxt) }

        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)
        xmlCtxtUseOptions(ctxt, options)
        // Never substitute entities, never load external subsets, never validate.
        ctxt.pointee.replaceEntities = 0
        ctxt.pointee.loadsubset = 0
        ctxt.pointee.validate = 0

        var state = ParseGuard(maxDepth: Int32(limits.maxDepth), maxElements: limits.maxElements, maxNamespaces: limits.maxNamespaceDeclarations)
        let parsed: xmlDocPtr? = withUnsafeMutablePointer(to: &state) { statePointer in
            ctxt.pointee._private = UnsafeMutableRawPointer(statePointer)
            if let sax = ctxt.pointee.sax {
                sax.pointee.internalSubset = refuseDoctype
                sax.pointee.externalSubset = refuseDoctype
                sax.pointee.entityDecl = refuseEntity
                sax.pointee.startElementNs = guardedStartElement
            }
            _ = xmlParseDocument(ctxt)
            ctxt.pointee._private = nil
            let doc = ctxt.pointee.myDoc
            ctxt.pointee.myDoc = nil
            return doc
        }
        if let violation = state.violation {
            if let parsed { xmlFreeDoc(parsed) }
            throw violation
        }
        guard ctxt.pointee.wellFormed != 0, let parsed else {
            if let parsed { xmlFreeDoc(parsed) }
            let error = xmlCtxtGetLastError(ctxt)
            var message = "not well-formed"
            var line = 0
            if let error, let text = error.pointee.message {
                message = String(cString: text).trimmingWhitespace()
                line = Int(error.pointee.line)
            }
            throw .malformed(line: line, message: message)
        }
        if parsed.pointee.intSubset != nil || parsed.pointee.extSubset != nil {
            xmlFreeDoc(parsed)
            throw .doctypeForbidden
        }
        if let encoding = parsed.pointee.encoding {
            let name = String(cString: encoding).uppercased()
            if name != "UTF-8" && name != "UTF8" {
                xmlFreeDoc(parsed)
                throw .notUTF8("declared encoding \(name)")
            }
        }
        return XMLDocument(doc: parsed)
    }

    public static func parse(_ bytes: [UInt8], limits: XMLParseLimits = XMLParseLimits()) throws(XMLParseError) -> XMLDocument {
        let result: Result<XMLDocument, XMLParseError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(XMLParseError) in try parse(buffer, limits: limits) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, limits: XMLParseLimits = XMLParseLimits()) throws(XMLParseError) -> XMLDocument {
        try parse(Array(text.utf8), limits: limits)
    }

    /// The document element.
    public var root: XMLNode? {
        guard let node = xmlDocGetRootElement(doc) else { return nil }
        return XMLNode(node)
    }

    /// Serialises the document as UTF-8 with an XML declaration.
    public func serialized() -> [UInt8] {
        var memory: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        xmlDocDumpMemoryEnc(doc, &memory, &size, "UTF-8")
        guard let memory else { return [] }
        defer { gbsm_xml_free(memory) }
        return Array(UnsafeBufferPointer(start: memory, count: Int(size)))
    }
}

private func parseGuard(_ ctx: UnsafeMutableRawPointer?) -> (xmlParserCtxtPtr, UnsafeMutablePointer<ParseGuard>)? {
    guard let ctx else { return nil }
    let ctxt = ctx.assumingMemoryBound(to: xmlParserCtxt.self)
    guard let state = ctxt.pointee._private else { return nil }
    return (ctxt, state.assumingMemoryBound(to: ParseGuard.self))
}

private let refuseDoctype: internalSubsetSAXFunc = { ctx, _, _, _ in
    guard let (ctxt, state) = parseGuard(ctx) else { return }
    if state.pointee.violation == nil { state.pointee.violation = .doctypeForbidden }
    xmlStopParser(ctxt)
}

private let refuseEntity: entityDeclSAXFunc = { ctx, _, _, _, _, _ in
    guard let (ctxt, state) = parseGuard(ctx) else { return }
    if state.pointee.violation == nil { state.pointee.violation = .doctypeForbidden }
    xmlStopParser(ctxt)
}

private let guardedStartElement: startElementNsSAX2Func = { ctx, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes, nbDefaulted, attributes in
    guard let (ctxt, state) = parseGuard(ctx) else { return }
    if state.pointee.violation != nil { return }
    state.pointee.elements += 1
    if state.pointee.elements > state.pointee.maxElements {
        state.pointee.violation = .tooManyElements(limit: state.pointee.maxElements)
        xmlStopParser(ctxt)
        return
    }
    if ctxt.pointee.nodeNr >= state.pointee.maxDepth {
        state.pointee.violation = .tooDeep(limit: Int(state.pointee.maxDepth))
        xmlStopParser(ctxt)
        return
    }
    state.pointee.namespaces += Int(nbNamespaces)
    if state.pointee.namespaces > state.pointee.maxNamespaces {
        state.pointee.violation = .tooManyNamespaces(limit: state.pointee.maxNamespaces)
        xmlStopParser(ctxt)
        return
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes, nbDefaulted, attributes)
}

/// Counts the attributes of each start tag (an `=` outside quotes) in one linear pass,
/// skipping comments, processing instructions, CDATA sections and declarations. False
/// when a tag has more than `limit`.
func attributesWithinLimit(_ bytes: UnsafeRawBufferPointer, limit: Int) -> Bool {
    let count = bytes.count
    var index = 0
    @inline(__always) func startsWith(_ literal: StaticString, at position: Int) -> Bool {
        literal.withUTF8Buffer { expected in
            guard position + expected.count <= count else { return false }
            for offset in 0..<expected.count where bytes[position + offset] != expected[offset] { return false }
            return true
        }
    }
    @inline(__always) func skip(past terminator: StaticString, from position: Int) -> Int {
        var cursor = position
        while cursor < count {
            if startsWith(terminator, at: cursor) { return cursor + terminator.utf8CodeUnitCount }
            cursor += 1
        }
        return count
    }
    while index < count {
        guard bytes[index] == UInt8(ascii: "<") else {
            index += 1
            continue
        }
        if startsWith("<!--", at: index) {
            index = skip(past: "-->", from: index + 4)
        } else if startsWith("<![CDATA[", at: index) {
            index = skip(past: "]]>", from: index + 9)
        } else if startsWith("<?", at: index) {
            index = skip(past: "?>", from: index + 2)
        } else if startsWith("<!", at: index) || startsWith("</", at: index) {
            index = skip(past: ">", from: index + 2)
        } else {
            var attributes = 0
            index += 1
            while index < count, bytes[index] != UInt8(ascii: ">") {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    index += 1
                    while index < count, bytes[index] != byte { index += 1 }
                } else if byte == UInt8(ascii: "=") {
                    attributes += 1
                    if attributes > limit { return false }
                }
                index += 1
            }
        }
    }
    return true
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        return String(scalars)
    }
}
