import Foundation

/// Where the hub's state lives: SQLite in the data folder (the embedded default, nothing
/// to install) or a PostgreSQL database shared by several processes. Chosen with
/// `--store postgres://…` or `GBSM_STORE`; every process of one deployment, the admin
/// commands among them, must name the same one.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    /// The environment variable that names a PostgreSQL store for every gbsm command.
    public static let environmentVariable = "GBSM_STORE"

    /// The PostgreSQL URL the environment names, if any (an empty value names none).
    public static var fromEnvironment: String? {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty else { return nil }
        return value
    }

    /// Whether `text` is a PostgreSQL URL gbsm can connect with.
    public static func isValidPostgresURL(_ text: String) -> Bool { (try? PostgresURL(text)) != nil }

    /// Whether the store may hold a hub's state already (a SQLite file that exists; a
    /// database is asked when opened).
    public var exists: Bool {
        switch self {
        case .sqlite(let path): FileManager.default.fileExists(atPath: path)
        case .postgres: true
        }
    }

    /// Whether `name` is a plain lower-case SQL identifier (a table name gbsm made).
    static func isPlainIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 63 && name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            && !(name.first.map { ("0"..."9").contains($0) } ?? true)
    }

    /// Opens the store, bringing its schema up to date.
    public func open() async throws -> any HubStore {
        switch self {
        case .sqlite(let path): try SQLiteStore(path: path)
        case .postgres(let url): try await PostgresStore(url: url)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "SQLite \(path)"
        case .postgres(let url): "PostgreSQL " + ((try? PostgresURL(url).redacted) ?? "(bad URL)")
        }
    }
}
