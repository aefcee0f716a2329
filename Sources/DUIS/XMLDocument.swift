import CLibXML2

/// Limits applied while parsing untrusted XML. DUIS requests are small; these bound the
/// memory and time any single request can cost the gateway.
public struct XMLParseLimits: Sendable {
    public var maxBytes: Int
    public var maxDepth: Int
    public var maxElements: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 48, maxElements: Int = 20_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
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
    case malformed(line: Int, message: String)

    public var description: String {
        switch self {
        case .empty: return "the request body is empty"
        case .tooLarge(let limit): return "the request body exceeds \(limit) bytes"
        case .notUTF8(let detail): return "only UTF-8 encoded XML is accepted (\(detail))"
        case .doctypeForbidden: return "DOCTYPE declarations are not accepted (no DTDs, no entities)"
        case .tooDeep(let limit): return "XML nesting deeper than \(limit) levels"
        case .tooManyElements(let limit): return "more than \(limit) XML elements"
        case .malformed(let line, let message): return "malformed XML at line \(line): \(message)"
        }
    }
}

/// State shared with the SAX hooks through the parser context's `_private` pointer.
private struct ParseGuard {
    var maxDepth: Int32
    var maxElements: Int
    var elements = 0
    var violation: XMLParseError?
}

let libxmlInitialised: Void = {
    xmlInitParser()
    gbsm_silence_libxml2()
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

        var state = ParseGuard(maxDepth: Int32(limits.maxDepth), maxElements: limits.maxElements)
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
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes, nbDefaulted, attributes)
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        return String(scalars)
    }
}
