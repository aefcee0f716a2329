import DUIS
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The scale-out backend: the hub's state in a PostgreSQL database, through postgres-nio,
/// so that a team's shared test environment, or several `gbsm serve` processes, keep one
/// store. Commits are synchronous (`synchronous_commit` is left on): a transaction the
/// server acknowledged survives a crash of either machine. Several processes may open it
/// at once; the audit chain's head is one row that each appending transaction locks
/// first (`audit_head`), so the chain stays one chain across processes.
///
/// The schema is PostgreSQL's own, made by `PostgresMigrations`, not a copy of SQLite's:
/// integers are `BIGINT` (EUI-64s and counters by their bit pattern, as on SQLite), octets
/// `BYTEA`, and the column SQLite calls `user` is `user_eui` (a reserved word here).
public final class PostgresStore: HubStore {
    /// The URL the store was opened with, without its password.
    public let location: String
    /// This process among those sharing the database (`HubStore.instance`): random, never 0.
    public let instance = Int64.random(in: 1...Int64.max)
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or
    /// `?host=/socket/dir` for a Unix socket) and brings its schema up to date.
    public init(url: String, logger: Logger = Logger(label: "gbsm.postgres")) async throws {
        let target = try PostgresURL(url)
        location = target.redacted
        var options = PostgresClient.Configuration.Options()
        options.maximumConnections = 16
        options.minimumConnections = 0
        var configuration = target.clientConfiguration
        configuration.options = options
        // The pool retries a server it cannot reach, or that refuses the user, for ever:
        // one connection first, which fails at once with the server's reason (or after
        // ten seconds), so a wrong URL is an error and not a hang.
        try await Self.probe(target, logger: logger)
        // The pool's own warnings (a lease asked for before `run` has started, which the
        // task below does at once) are not the operator's concern; errors are.
        var background = logger
        background.logLevel = .error
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
        do {
            let applied = try await PostgresMigrations.migrate(self)
            // The tables just partitioned hold their rows in the default partition: their
            // months are made now, before the hub writes to them (moving rows later means
            // holding the default partition against every write meanwhile).
            if applied.contains("pg-v7-monthly-partitions") || applied.contains("pg-v8-audit-partitions") {
                let made = try await maintainPartitions(now: .now(), retention: PartitionRetention(rawReadingsBefore: nil, aggregatesBefore: nil))
                logger.info("partitioned by month: \(made.made.count) partition(s) made, \(made.movedFromDefault) row(s) moved in")
            }
        } catch {
            runner.cancel()
            throw error
        }
    }

    deinit { runner.cancel() }

    /// Connects once and closes, or throws why not.
    static func probe(_ target: PostgresURL, logger: Logger) async throws {
        var configuration: PostgresConnection.Configuration = if let socket = target.socketPath {
            .init(unixSocketPath: socket, username: target.user, password: target.password, database: target.database)
        } else {
            .init(host: target.host, port: target.port, username: target.user, password: target.password, database: target.database, tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(10)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        } catch {
            let reason = plain(error)
            let why = (reason as? PostgresStoreError).map { error -> String in
                if case .server(_, let message) = error { return message }
                return "\(error)"
            } ?? String(describing: error).prefix(300).description
            throw PostgresStoreError.server(state: "", message: "cannot connect to \(target.redacted): \(why)")
        }
        try await connection.close()
    }

    /// Runs `body` on one pooled connection, outside a transaction (each statement its own).
    ///
    /// Store calls run in a task of their own, which the caller's cancellation does not
    /// reach: postgres-nio stops at a cancelled task's next statement, and a transaction
    /// stopped between its statements would keep its locks (the audit chain's head among
    /// them) until the connection closed, stalling every other writer. A call once started
    /// ends as it would on SQLite: committed, or failed with the server's error.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = client
        return try await Task {
            do {
                return try await client.withConnection { connection in try await body(connection) }
            } catch {
                throw Self.plain(error)
            }
        }.value
    }

    /// Runs `body` in one transaction, committed when it returns and rolled back when it
    /// throws, shielded from the caller's cancellation as `read` is. The error thrown is
    /// `body`'s own (a `PortalLinkUnavailable` stays one), or the server's, as a
    /// `PostgresStoreError.server`.
    ///
    /// A transaction the server ended as a deadlock or serialization failure (hubs sharing
    /// the store can take rows in different orders) is run again, up to three times: it
    /// was rolled back whole, and `body` is a function of what it was given.
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = client, logger = logger
        return try await Task {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
                } catch {
                    let thrown: any Error
                    if let failed = error as? PostgresTransactionError {
                        if let closureError = failed.closureError, failed.rollbackError == nil {
                            thrown = Self.plain(closureError)
                        } else {
                            thrown = Self.plain(failed.commitError ?? failed.beginError ?? failed.rollbackError ?? failed)
                        }
                    } else {
                        thrown = Self.plain(error)
                    }
                    if attempt < 3, (thrown as? PostgresStoreError)?.isRetryable == true {
                        logger.notice("PostgreSQL transaction run again after \(thrown)")
                        continue
                    }
                    throw thrown
                }
            }
        }.value
    }

    /// A server's error as gbsm tells it (postgres-nio's own description hides the
    /// server's message); any other error as it is.
    static func plain(_ error: any Error) -> any Error {
        guard let failure = error as? PSQLError else { return error }
        if let message = failure.serverInfo?[.message] {
            return PostgresStoreError.server(state: failure.serverInfo?[.sqlState] ?? "", message: message)
        }
        return PostgresStoreError.server(state: "", message: "\(failure.code)" + (failure.underlying.map { ": \($0)" } ?? ""))
    }

    /// The octets of write-ahead log the whole server has written since its statistics
    /// were reset (`pg_stat_wal`): what a benchmark's commits cost the disk, since the hub
    /// process writes nothing itself.
    public func walBytes() async throws -> Int64 {
        try await read { [logger] connection in
            try await connection.rows("SELECT wal_bytes::BIGINT AS bytes FROM pg_stat_wal", logger).first?.int("bytes") ?? 0
        }
    }

    /// The octets the database's tables and indexes take.
    public func databaseBytes() async throws -> Int64 {
        try await read { [logger] connection in
            try await connection.rows("SELECT pg_database_size(current_database())::BIGINT AS size", logger).first?.int("size") ?? 0
        }
    }
}

/// A database URL taken apart. Only what gbsm needs: user, password, host or socket
/// folder, port and database, all checked (a URL from an environment variable or a
/// command line is outside input).
struct PostgresURL: Sendable, Equatable {
    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var socketPath: String?

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresStoreError.badURL("\(text.prefix(200)) is not a postgres:// URL")
        }
        guard let user = components.user, !user.isEmpty else { throw PostgresStoreError.badURL("the URL names no user (postgres://USER@HOST:PORT/DB)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw PostgresStoreError.badURL("the URL names no database (postgres://USER@HOST:PORT/DB)") }
        self.user = user
        password = components.password
        self.database = database
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresStoreError.badURL("port \(port) is out of range") }
        if let socketDirectory = components.queryItems?.first(where: { $0.name == "host" })?.value, socketDirectory.hasPrefix("/") {
            host = "localhost"
            socketPath = socketDirectory + "/.s.PGSQL.\(port)"
        } else {
            guard let host = components.host, !host.isEmpty else { throw PostgresStoreError.badURL("the URL names no host") }
            self.host = host
            socketPath = nil
        }
    }

    /// The URL without its password, for logs and banners.
    var redacted: String {
        "postgres://\(user)@\(socketPath == nil ? "\(host):\(port)" : "")/\(database)" + (socketPath.map { "?host=\(($0 as NSString).deletingLastPathComponent)" } ?? "")
    }
}

public enum PostgresStoreError: Error, CustomStringConvertible {
    case badURL(String)
    /// A stored value that does not read as its column's type (edited by hand, or a newer gbsm's).
    case unreadable(column: String)
    /// The server refused a statement or could not be reached (SQLSTATE and message).
    case server(state: String, message: String)
    /// The database has migrations this gbsm does not know: a newer gbsm's.
    case newerSchema([String])

    /// A serialization failure or deadlock: the transaction may be run again.
    public var isRetryable: Bool {
        if case .server(let state, _) = self { return state == "40001" || state == "40P01" }
        return false
    }

    public var description: String {
        switch self {
        case .badURL(let why): "bad --store URL: \(why)"
        case .unreadable(let column): "a stored value of column \(column) cannot be read"
        case .server(let state, let message): "PostgreSQL: \(message)" + (state.isEmpty ? "" : " (SQLSTATE \(state))")
        case .newerSchema(let names): "the database was migrated by a newer gbsm (\(names.joined(separator: ", "))): run that gbsm, or give this one a database of its own"
        }
    }
}

/// One row of a result, read by column name. Values that do not decode are errors, not
/// crashes: the database is shared with other processes and operators.
struct PGRow: Sendable {
    let row: PostgresRandomAccessRow

    func int(_ column: String) throws -> Int64 { try decode(Int64.self, column) }
    func optionalInt(_ column: String) throws -> Int64? { try decode(Int64?.self, column) }
    func int(_ column: String) throws -> Int { Int(try int(column) as Int64) }
    func optionalInt(_ column: String) throws -> Int? { (try optionalInt(column) as Int64?).map { Int($0) } }
    func text(_ column: String) throws -> String { try decode(String.self, column) }
    func optionalText(_ column: String) throws -> String? { try decode(String?.self, column) }
    func bytes(_ column: String) throws -> [UInt8] { [UInt8](try decode(Data.self, column)) }
    func optionalBytes(_ column: String) throws -> [UInt8]? { try decode(Data?.self, column).map { [UInt8]($0) } }
    func bool(_ column: String) throws -> Bool { try decode(Bool.self, column) }
    func eui(_ column: String) throws -> EUI64 { Storage.eui(try int(column)) }
    func optionalEUI(_ column: String) throws -> EUI64? { (try optionalInt(column) as Int64?).map(Storage.eui) }
    func timestamp(_ column: String) throws -> Timestamp { Timestamp(milliseconds: try int(column)) }
    func optionalTimestamp(_ column: String) throws -> Timestamp? { (try optionalInt(column) as Int64?).map(Timestamp.init(milliseconds:)) }

    private func decode<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T {
        guard row.contains(column) else { throw PostgresStoreError.unreadable(column: column) }
        do {
            return try row[column].decode(T.self)
        } catch {
            throw PostgresStoreError.unreadable(column: column)
        }
    }
}

extension PostgresConnection {
    /// Every row of a query.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PGRow] {
        var result: [PGRow] = []
        for try await row in try await self.query(query, logger: logger) { result.append(PGRow(row: row.makeRandomAccess())) }
        return result
    }

    /// Runs a statement and returns how many rows it returned (a statement that changes
    /// rows says how many with `RETURNING 1`).
    @discardableResult
    func run(_ query: PostgresQuery, _ logger: Logger) async throws -> Int {
        var count = 0
        for try await _ in try await self.query(query, logger: logger) { count += 1 }
        return count
    }
}

extension Data {
    /// Octets for a `BYTEA` parameter (`[UInt8]` binds as an array of chars).
    init(bytea bytes: [UInt8]) { self.init(bytes) }
}

extension PostgresStore {
    /// Creates a database on the server `serverURL` reaches (its user must be allowed to)
    /// and returns the URL of the new one: for tests and benchmarks that need a fresh store
    /// each. The name is checked: lower-case letters, digits and underscores, not first a digit.
    public static func createDatabase(serverURL: String, name: String, logger: Logger = Logger(label: "gbsm.postgres")) async throws -> String {
        guard StoreLocation.isPlainIdentifier(name) else {
            throw PostgresStoreError.badURL("\(name) is not a database name gbsm makes")
        }
        var target = try PostgresURL(serverURL)
        let configuration = target.clientConfiguration
        var quiet = logger
        quiet.logLevel = .error
        try await probe(target, logger: quiet)
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await client.withConnection { connection in
            try await connection.run(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), quiet)
        }
        target.database = name
        return target.url
    }
}

extension PostgresURL {
    /// A pool's configuration for this server (no TLS: README "Not yet").
    var clientConfiguration: PostgresClient.Configuration {
        if let socketPath {
            return PostgresClient.Configuration(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }

    /// The URL again, password included.
    var url: String {
        let password = password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0) } ?? ""
        let user = user.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? user
        if let socketPath {
            return "postgres://\(user)\(password)@localhost:\(port)/\(database)?host=\((socketPath as NSString).deletingLastPathComponent)"
        }
        return "postgres://\(user)\(password)@\(host):\(port)/\(database)"
    }
}
