import Foundation
import Storage
import Testing

/// The store backends a store-touching test runs against: SQLite always, PostgreSQL when
/// `GBSM_TEST_POSTGRES` names a server whose user may create databases (`.ci/run` starts
/// one with `gbsm db start`). Each test gets a fresh store of its own.
public enum StoreBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres

    public var testDescription: String { rawValue }

    /// The environment variable naming the PostgreSQL server for tests.
    public static let serverVariable = "GBSM_TEST_POSTGRES"

    public static var serverURL: String? {
        guard let value = ProcessInfo.processInfo.environment[serverVariable], !value.isEmpty else { return nil }
        return value
    }

    /// SQLite, and PostgreSQL if a server is named; says once when PostgreSQL is skipped.
    public static let available: [StoreBackend] = {
        guard serverURL != nil else {
            FileHandle.standardError.write(Data("note: the PostgreSQL cases of the store tests are skipped: set \(serverVariable)=postgres://USER@HOST:PORT/DB (a user that may create databases; `gbsm db start --data DIR` prints one)\n".utf8))
            return [.sqlite]
        }
        return [.sqlite, .postgres]
    }()
}

extension StoreBackend {
    /// The backend in-process hubs use unless a test names one: SQLite, or PostgreSQL when
    /// `GBSM_TEST_HUB_STORE=postgres` (CI runs the hub and end-to-end suites once more so).
    public static var harnessDefault: StoreBackend {
        ProcessInfo.processInfo.environment["GBSM_TEST_HUB_STORE"] == "postgres" && serverURL != nil ? .postgres : .sqlite
    }

    /// A new, empty database's URL for a PostgreSQL store; nil for SQLite (in the data folder).
    public func freshURL() async throws -> String? {
        switch self {
        case .sqlite: return nil
        case .postgres:
            let server = try #require(StoreBackend.serverURL, "GBSM_TEST_POSTGRES is not set")
            return try await PostgresStore.createDatabase(serverURL: server, name: "gbsm_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
        }
    }
}

/// A fresh store and what keeps it alive (its folder).
public struct TestStore: Sendable {
    public let store: any HubStore
    public let backend: StoreBackend
    public let directory: TemporaryDirectory

    public static func make(_ backend: StoreBackend) async throws -> TestStore {
        let directory = try TemporaryDirectory()
        switch backend {
        case .sqlite:
            return TestStore(store: try SQLiteStore(path: directory.file("hub.sqlite").path), backend: backend, directory: directory)
        case .postgres:
            let url = try #require(try await backend.freshURL())
            return TestStore(store: try await PostgresStore(url: url), backend: backend, directory: directory)
        }
    }

    /// Runs SQL on the store directly, as an attacker with the database's password would.
    public func tamper(_ sql: String) async throws { try await Self.tamper(store, sql) }

    /// Runs SQL on any store directly (a running hub's, say).
    public static func tamper(_ store: any HubStore, _ sql: String) async throws {
        switch store {
        case let sqlite as SQLiteStore: try await sqlite.unsafeExecute(sql)
        case let postgres as PostgresStore: try await postgres.unsafeExecute(sql)
        default: throw StoreBackendUnknown()
        }
    }

    /// How many rows a table of the store holds.
    public func count(_ table: String) async throws -> Int {
        switch store {
        case let sqlite as SQLiteStore: return try await sqlite.rowCount(table)
        case let postgres as PostgresStore: return try await postgres.rowCount(table)
        default: throw StoreBackendUnknown()
        }
    }

    /// An octet string literal in the backend's SQL.
    public func bytesLiteral(_ hex: String) -> String {
        backend == .sqlite ? "X'\(hex)'" : "decode('\(hex)', 'hex')"
    }
}

struct StoreBackendUnknown: Error {}
