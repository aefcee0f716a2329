/// gbsm: the command line. `serve` and `demo` run the hub; `smki`, `users`, `audit`,
/// `anomaly`, `quarantine`, `fleet` and `wan` administer a data folder (also while a hub
/// runs on it); `sign` and `example` help a user build signed requests; `loadmodel` looks
/// at household demand; `bench` measures.
import ArgumentParser
import DUIS
import Foundation
import Hub
import Logging
import Storage

@main
struct GBSM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gbsm",
        abstract: "The GB smart metering system on one machine: a DCC hub that speaks DUIS.",
        subcommands: [Serve.self, Demo.self, DBCommand.self, SMKICommand.self, UsersCommand.self, AuditCommand.self, SignCommand.self, SignServer.self, GBCSCommand.self,
                      ExampleCommand.self, AnomalyCommand.self, QuarantineCommand.self, BenchCommand.self, LoadModelCommand.self,
                      FleetCommand.self, WANCommand.self, ConsentCommand.self, DPPCommand.self, PrivacyCommand.self, SchedulesCommand.self])
}

/// `--data DIR` and `--store URL`, shared by every subcommand that works on a data folder
/// (the folder of a running `gbsm serve` is fine: SQLite and PostgreSQL both allow the
/// admin commands alongside it).
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The hub's data folder.")
    var data: String = "./gbsm-data"

    @Option(name: .customLong("store"),
            help: "The PostgreSQL database that holds the hub's state (postgres://USER@HOST:PORT/DB); default: $GBSM_STORE, else SQLite in the data folder.")
    var storeURL: StoreURL?

    var url: URL { URL(fileURLWithPath: data, isDirectory: true) }

    /// A `--store` given names the store for this process and the processes it starts
    /// (servers under test, the bench's hub) the way `GBSM_STORE` does.
    func validate() throws {
        if let storeURL { setenv(StoreLocation.environmentVariable, storeURL.url, 1) }
    }

    func store() async throws -> any HubStore {
        let configuration = HubConfiguration(dataDirectory: url)
        if case .sqlite(let path) = configuration.storeLocation, !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("no hub database in \(data) (start `gbsm serve --data \(data)` or `gbsm smki init --data \(data)` first)")
        }
        return try await configuration.storeLocation.open()
    }
}

/// A PostgreSQL URL on the command line, checked when parsed.
struct StoreURL: ExpressibleByArgument, Sendable {
    var url: String

    init?(argument: String) {
        guard StoreLocation.isValidPostgresURL(argument) else { return nil }
        url = argument
    }

    static var defaultCompletionKind: CompletionKind { .default }

    /// Makes a fresh database on this server for one benchmark run (`prefix` then a random
    /// name) and returns its URL.
    func freshDatabase(prefix: String) async throws -> String {
        try await PostgresStore.createDatabase(serverURL: url, name: prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
    }
}

func parseEUI(_ text: String) throws -> EUI64 {
    guard let eui = EUI64(text) else { throw ValidationError("\"\(text)\" is not an EUI-64 (XX-XX-XX-XX-XX-XX-XX-XX)") }
    return eui
}

func parseRoles(_ text: String) throws -> UserRoleSet {
    var roles: [UserRole] = []
    for part in text.split(separator: ",") {
        guard let role = UserRole(rawValue: part.trimmingCharacters(in: .whitespaces).uppercased()) else {
            throw ValidationError("unknown role \"\(part)\" (IS, ES, GS, ED, GT, OU, RSA)")
        }
        roles.append(role)
    }
    guard !roles.isEmpty else { throw ValidationError("give at least one role") }
    return UserRoleSet(roles)
}

func parseTime(_ text: String) throws -> Timestamp {
    if let time = Timestamp(xsDateTime: text) ?? Timestamp(xsDate: text) { return time }
    throw ValidationError("\"\(text)\" is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDThh:mm:ssZ)")
}

func makeLogger(_ label: String, level: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = Logger.Level(rawValue: level) ?? .info
    return logger
}

extension UserRoleSet {
    var display: String { codes.replacingOccurrences(of: ",", with: " ") }
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = Array(repeating: 0, count: first.count)
    for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
    for row in rows {
        let line = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
        print(line)
    }
}
