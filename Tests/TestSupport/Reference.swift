import Foundation
import DUIS

/// Locates `../shared/reference/` beside the checkout. Tests that need it skip with a
/// clear message when it is absent (a fresh clone has none).
public enum Reference {
    public static let directory: URL? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let candidates = [
            ProcessInfo.processInfo.environment["GBSM_REFERENCE"].map { URL(fileURLWithPath: $0) },
            url.deletingLastPathComponent().appendingPathComponent("shared/reference"),
        ].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("duis").path) }
    }()

    public static let skipReason = "../shared/reference is absent: reference-data tests are skipped (set GBSM_REFERENCE to its path)"

    public static var isAvailable: Bool { directory != nil }

    public static func file(_ relativePath: String) throws -> Data {
        guard let directory else { throw MissingReference() }
        return try Data(contentsOf: directory.appendingPathComponent(relativePath))
    }

    public static func templates() throws -> [(name: String, bytes: Data)] {
        guard let directory else { throw MissingReference() }
        let folder = directory.appendingPathComponent("duis/templates")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        return try names.map { ($0, try Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    public struct MissingReference: Error {}
}

extension Reference {
    /// DCC's DUIS and MMC schemas from the reference folder, compiled once per test run,
    /// or nil when the reference data is absent.
    public static let schemas: DUISSchemas? = {
        guard let directory else { return nil }
        return try? DUISSchemas(directory: directory.appendingPathComponent("duis/xsd"))
    }()
}
