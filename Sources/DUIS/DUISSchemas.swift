import CLibXML2
import Foundation

/// DCC's published XML schemas, compiled once: DUIS 5.4 (which imports MMC 5.4 and
/// XMLDSig) for Service Requests and Responses, and MMC 5.4 on its own for the device
/// answers carried in `sr:GBCSPayload` as Parse and Correlate writes them.
///
/// gbsm does not ship the schemas: they are DCC's files, published with GPL-3.0 tooling,
/// and this repository holds only its own work. They are read from a folder holding
/// `duis-5.4.xsd`, `mmc-5.4.xsd` and `xmldsig-core-schema.xsd`, with the imports'
/// `schemaLocation`s set to those names (as `../shared/reference/duis/xsd/` has them).
public final class DUISSchemas: Sendable {
    public static let duisFile = "duis-5.4.xsd"
    public static let mmcFile = "mmc-5.4.xsd"
    public static let signatureFile = "xmldsig-core-schema.xsd"
    /// The folder beside a checkout where the reference data keeps them.
    public static let referencePath = "shared/reference/duis/xsd"

    public let directory: URL
    public let duis: XMLSchema
    public let mmc: XMLSchema

    public init(directory: URL) throws(SchemaLoadError) {
        for name in [Self.duisFile, Self.mmcFile, Self.signatureFile] {
            let path = directory.appendingPathComponent(name).path
            guard FileManager.default.isReadableFile(atPath: path) else { throw .missing(path: path) }
        }
        self.directory = directory
        // Compiled from a private copy in which one type is adjusted for libxml2 (see
        // `adjustedForLibXML2`); the copy is removed once the schemas are compiled.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-xsd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        do {
            try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
            for name in [Self.duisFile, Self.mmcFile, Self.signatureFile] {
                var text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                if name == Self.signatureFile {
                    let adjusted = Self.adjustedForLibXML2(signatureSchema: text)
                    guard adjusted != text else {
                        throw SchemaLoadError.invalid(path: directory.appendingPathComponent(name).path,
                                                      message: "its X509SerialNumber declaration is not the W3C one gbsm adjusts for libxml2 (every real signature would fail)")
                    }
                    text = adjusted
                }
                try Data(text.utf8).write(to: copy.appendingPathComponent(name))
            }
        } catch let error as SchemaLoadError {
            throw error
        } catch {
            throw .invalid(path: directory.path, message: "could not be read: \(error)")
        }
        self.duis = try XMLSchema(file: copy.appendingPathComponent(Self.duisFile))
        self.mmc = try XMLSchema(file: copy.appendingPathComponent(Self.mmcFile))
    }

    /// libxml2 (2.9 to 2.13) holds `xs:integer` and `xs:decimal` values in 24 decimal
    /// digits and refuses longer ones, but an X.509 serial number is up to 20 octets
    /// (49 digits): every real DUIS signature's `ds:X509SerialNumber` (ZAZ1's have 38 and
    /// 39 digits) would fail. That one element is validated as what it is, an optionally
    /// signed string of up to 80 digits, instead; the signature check compares it with the
    /// certificate's serial exactly.
    static func adjustedForLibXML2(signatureSchema text: String) -> String {
        text.replacingOccurrences(
            of: #"<element name="X509SerialNumber" type="integer"/>"#,
            with: #"<element name="X509SerialNumber"><simpleType><restriction base="token"><pattern value="[+\-]?[0-9]{1,80}"/></restriction></simpleType></element>"#)
    }

    /// The first DUIS 5.4 violation in a Service Request or Response, or nil.
    public func validateDUIS(_ document: XMLDocument) -> SchemaViolation? { duis.validate(document) }

    /// A request's violation: an `xsi:` attribute anywhere (DUIS requests carry none, and
    /// `xsi:type` would let a sender substitute the type an element is validated as), then
    /// DUIS 5.4.
    public func validateRequest(_ document: XMLDocument) -> SchemaViolation? {
        if let line = Self.instanceAttributeLine(document) {
            return SchemaViolation(line: line, message: "XML Schema instance attributes (xsi:type, xsi:nil, xsi:schemaLocation, …) are not accepted in a DUIS request", count: 1)
        }
        return duis.validate(document)
    }

    static let instanceNamespace = "http://www.w3.org/2001/XMLSchema-instance"

    /// The line of the first element with an attribute in the XML Schema instance
    /// namespace, or nil.
    static func instanceAttributeLine(_ document: XMLDocument) -> Int? {
        guard let root = xmlDocGetRootElement(document.doc) else { return nil }
        var stack: [xmlNodePtr] = [root]
        while let node = stack.popLast() {
            var attribute = node.pointee.properties
            while let current = attribute {
                if let ns = current.pointee.ns, let href = ns.pointee.href,
                   String(cString: UnsafeRawPointer(href).assumingMemoryBound(to: CChar.self)) == instanceNamespace {
                    return Int(xmlGetLineNo(node))
                }
                attribute = current.pointee.next
            }
            var child = node.pointee.children
            while let current = child {
                if current.pointee.type == XML_ELEMENT_NODE { stack.append(current) }
                child = current.pointee.next
            }
        }
        return nil
    }

    /// The first MMC 5.4 violation in a device answer or alert, or nil.
    public func validateMMC(_ document: XMLDocument) -> SchemaViolation? { mmc.validate(document) }

    /// Where gbsm looks when no folder is named: `shared/reference/duis/xsd` under the
    /// working directory or any folder above it, then under any folder above the
    /// executable (a checkout's `.build/release/gbsm` finds `../shared` beside the
    /// checkout).
    public static func defaultCandidates(workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                         executable: URL? = Bundle.main.executableURL) -> [URL] {
        var candidates: [URL] = []
        for start in [workingDirectory, executable?.deletingLastPathComponent()].compactMap({ $0 }) {
            var folder = start.standardizedFileURL
            for _ in 0..<8 {
                candidates.append(folder.appendingPathComponent(referencePath))
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        var seen = Set<String>()
        return candidates.filter { seen.insert($0.path).inserted }
    }

    /// The first default candidate that holds the DUIS schema.
    public static func locateDefault() -> URL? {
        defaultCandidates().first { FileManager.default.isReadableFile(atPath: $0.appendingPathComponent(duisFile).path) }
    }
}
