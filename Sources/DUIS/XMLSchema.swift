import CLibXML2
import Foundation

/// Why a document does not conform to an XML schema: the validator's first message, with
/// its line, and how many violations it found in all.
public struct SchemaViolation: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var count: Int

    public var description: String {
        let more = count > 1 ? " (and \(count - 1) more)" : ""
        return "line \(line): \(message)\(more)"
    }
}

/// Why a schema could not be compiled.
public enum SchemaLoadError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(path: String)
    case invalid(path: String, message: String)

    public var description: String {
        switch self {
        case .missing(let path): return "no XML schema at \(path)"
        case .invalid(let path, let message): return "the XML schema \(path) does not compile: \(message)"
        }
    }
}

/// One compiled W3C XML schema (with everything it imports), validated against by
/// libxml2.
///
/// Compiled once, then shared: libxml2 only reads a compiled schema while validating, and
/// each validation has its own context. Imports are read from local files only: the
/// process installs libxml2's no-network loader before any schema is read, so a schema
/// that names an `http:` location fails to compile instead of fetching it.
public final class XMLSchema: @unchecked Sendable {
    private let schema: xmlSchemaPtr
    public let path: String

    public init(file: URL) throws(SchemaLoadError) {
        _ = libxmlInitialised
        let path = file.path
        guard FileManager.default.isReadableFile(atPath: path) else { throw .missing(path: path) }
        guard let parser = xmlSchemaNewParserCtxt(path) else { throw .invalid(path: path, message: "parser could not be created") }
        defer { xmlSchemaFreeParserCtxt(parser) }
        let collector = ErrorCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        xmlSchemaSetParserStructuredErrors(parser, collectError, context)
        let compiled = withExtendedLifetime(collector) { xmlSchemaParse(parser) }
        guard let compiled else {
            throw .invalid(path: path, message: collector.first?.message ?? "unknown error")
        }
        self.schema = compiled
        self.path = path
    }

    deinit { xmlSchemaFree(schema) }

    /// The first violation of this schema in `document`, or nil when it conforms.
    /// Messages are bounded (they quote parts of the document, which may be hostile).
    public func validate(_ document: XMLDocument) -> SchemaViolation? {
        guard let context = xmlSchemaNewValidCtxt(schema) else {
            return SchemaViolation(line: 0, message: "the schema validator could not be created", count: 1)
        }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = ErrorCollector()
        xmlSchemaSetValidStructuredErrors(context, collectError, Unmanaged.passUnretained(collector).toOpaque())
        let result = withExtendedLifetime(collector) { xmlSchemaValidateDoc(context, document.doc) }
        if result == 0 { return nil }
        if let first = collector.first {
            return SchemaViolation(line: first.line, message: first.message, count: max(collector.count, 1))
        }
        return SchemaViolation(line: 0, message: "the document does not conform (validator result \(result))", count: 1)
    }
}

/// Collects libxml2's structured errors: the first one's text and the total.
private final class ErrorCollector {
    var first: (line: Int, message: String)?
    var count = 0
}

private let collectError: xmlStructuredErrorFunc = { context, error in
    guard let context, let error else { return }
    let collector = Unmanaged<ErrorCollector>.fromOpaque(context).takeUnretainedValue()
    collector.count += 1
    guard collector.first == nil else { return }
    // libxml2 quotes the offending value or name verbatim: controls and bidirectional
    // characters are escaped, since the message reaches the audit log and the answer.
    var message = error.pointee.message.map { String(cString: $0) } ?? "schema violation"
    message = escapingControls(message.trimmingWhitespace())
    if message.utf8.count > 400 { message = String(decoding: message.utf8.prefix(400), as: UTF8.self) + "…" }
    collector.first = (Int(error.pointee.line), message)
}
