import DUIS
import Foundation
import Testing
import TestSupport

/// libxml2's XSD validator against DCC's DUIS 5.4 schema: every real request variant
/// conforms, and typical mistakes are caught with a message that names them.
@Suite struct SchemaValidationTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func everyReferenceTemplateConformsToDUIS54() throws {
        let schemas = try #require(Reference.schemas)
        var failures: [String] = []
        let templates = try Reference.templates()
        #expect(templates.count > 100)
        for (name, bytes) in templates {
            let document = try XMLDocument.parse(Array(bytes), limits: .duis)
            if let violation = schemas.validateDUIS(document) { failures.append("\(name): \(violation)") }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func violationsAreNamedWithTheirLine() throws {
        let schemas = try #require(Reference.schemas)
        let template = try #require(try Reference.templates().first { $0.name.contains("_4.1.1_") })
        var text = String(decoding: template.bytes, as: UTF8.self)
        // An element DUIS does not have, in the header.
        text = text.replacingOccurrences(of: "</sr:RequestID>", with: "</sr:RequestID><sr:Extra>1</sr:Extra>")
        let violation = try #require(schemas.validateDUIS(try XMLDocument.parse(text)))
        #expect(violation.message.contains("Extra"))
        #expect(violation.line > 0)
        // A value outside its type: a command variant DUIS does not define.
        var bad = String(decoding: template.bytes, as: UTF8.self)
        let range = try #require(bad.range(of: "<sr:CommandVariant>"))
        let end = try #require(bad.range(of: "</sr:CommandVariant>", range: range.upperBound..<bad.endIndex))
        bad.replaceSubrange(range.upperBound..<end.lowerBound, with: "99")
        let second = try #require(schemas.validateDUIS(try XMLDocument.parse(bad)))
        #expect(second.message.contains("CommandVariant"))
    }

    @Test func aMissingSchemaFolderIsAClearError() {
        #expect(throws: SchemaLoadError.missing(path: "/nonexistent/duis-5.4.xsd")) {
            _ = try DUISSchemas(directory: URL(fileURLWithPath: "/nonexistent"))
        }
    }

    @Test func aSchemaImportingFromTheNetworkDoesNotCompile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-xsd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema = """
            <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:a">
              <xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="http://127.0.0.1:9/xmldsig.xsd"/>
              <xs:element name="a" type="xs:string"/>
            </xs:schema>
            """
        let file = directory.appendingPathComponent("net.xsd")
        try Data(schema.utf8).write(to: file)
        // libxml2 reports an import it could not load as a warning and goes on; what
        // matters is that nothing was fetched: the no-network loader refuses the URL.
        let compiled = try? XMLSchema(file: file)
        if let compiled {
            let document = try XMLDocument.parse("<a xmlns=\"urn:a\">x</a>")
            #expect(compiled.validate(document) == nil)
        }
    }
}

/// The validator's messages quote the document: control and bidirectional characters in
/// what they quote reach the audit log escaped.
@Suite struct SchemaMessageTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func controlCharactersInQuotedValuesAreEscaped() throws {
        let schemas = try #require(Reference.schemas)
        let template = try #require(try Reference.templates().first { $0.name.hasPrefix("ECS17b_4.1.1_") })
        let text = String(decoding: template.bytes, as: UTF8.self)
            .replacingOccurrences(of: "<sr:CommandVariant>1</sr:CommandVariant>", with: "<sr:CommandVariant>1\u{202E}\u{9B}evil</sr:CommandVariant>")
        let violation = try #require(schemas.validateDUIS(try XMLDocument.parse(text)))
        #expect(violation.message.contains("evil"), "the message quotes the value: \(violation.message)")
        #expect(!violation.message.unicodeScalars.contains { $0.value == 0x202E || $0.value == 0x9B }, "\(violation.message)")
        #expect(violation.message.contains("\\u{202e}"), "\(violation.message)")
    }
}
