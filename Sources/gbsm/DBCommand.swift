import ArgumentParser
import Foundation
import Storage

/// `gbsm db`: a private PostgreSQL cluster in the data folder, for the scale-out store,
/// made and run with the system's PostgreSQL programs (Debian's `postgresql`). Run as
/// root, the cluster belongs to the unprivileged `postgres` user (PostgreSQL refuses to
/// run as root). It listens on loopback only, with its socket in its own folder (only its
/// owner may use it, by peer authentication), and asks TCP clients for the password of
/// the user `gbsm` (SCRAM), made at random and kept in `postgres/password`: a test and
/// development database, not a production one.
/// It allows 1,000 connections: each hub process pools up to 16, and a test run starts
/// dozens of hubs at once.
struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Run a private PostgreSQL cluster in the data folder for `--store` (Debian's postgresql programs).",
        subcommands: [Start.self, Stop.self, URLCommand.self])

    struct ClusterOptions: ParsableArguments {
        @Option(name: .long, help: "The hub's data folder (the cluster goes in its postgres/ folder).")
        var data: String = "./gbsm-data"

        var folder: URL { URL(fileURLWithPath: data, isDirectory: true).appendingPathComponent("postgres") }
        var cluster: URL { folder.appendingPathComponent("cluster") }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the cluster if needed, start it and print its URL.")

        @OptionGroup var options: ClusterOptions

        @Option(name: .long, help: "The TCP port on 127.0.0.1 (default: a free one, kept across restarts).")
        var port: Int?

        func run() async throws {
            let tools = try PostgresTools.find()
            let cluster = options.cluster
            let owner = try PostgresTools.owner()
            // The folder goes into postgresql.conf in quotes, and the socket's path has a
            // length limit.
            guard !cluster.path.contains(where: { $0 == "'" || $0 == "," || $0 == "\\" || $0.isNewline }), cluster.path.utf8.count <= 80 else {
                throw ValidationError("the cluster's folder \(cluster.path) must be at most 80 octets without quotes, commas, backslashes or line breaks")
            }
            try FileManager.default.createDirectory(at: options.folder, withIntermediateDirectories: true)
            let passwordFile = options.folder.appendingPathComponent("password")
            if !FileManager.default.fileExists(atPath: passwordFile.path) {
                let password = (0..<24).map { _ in String("abcdefghijkmnopqrstuvwxyz23456789".randomElement() ?? "x") }.joined()
                guard FileManager.default.createFile(atPath: passwordFile.path, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(passwordFile.path)")
                }
            }
            let password = try PostgresTools.password(options.folder)
            if let owner { try PostgresTools.run("/bin/chown", ["-R", owner, options.folder.path]) }
            if !FileManager.default.fileExists(atPath: cluster.appendingPathComponent("PG_VERSION").path) {
                try PostgresTools.run(tools.initdb, ["-D", cluster.path, "-U", PostgresTools.user, "--auth-local=peer", "--auth-host=scram-sha-256",
                                                     "--pwfile=\(passwordFile.path)", "-E", "UTF8", "--no-instructions"], as: owner)
            }
            let portFile = options.folder.appendingPathComponent("port")
            let chosen: Int
            if let port {
                guard (1024...65535).contains(port) else { throw ValidationError("--port must be 1024 to 65535") }
                chosen = port
            } else if let kept = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                chosen = kept
            } else {
                chosen = try PostgresTools.freePort()
            }
            try "\(chosen)\n".write(to: portFile, atomically: true, encoding: .utf8)
            // gbsm's settings come last in the file, so they win over initdb's.
            let settings = """

                # gbsm db start
                listen_addresses = '127.0.0.1'
                port = \(chosen)
                unix_socket_directories = '\(cluster.path)'
                unix_socket_permissions = 0700
                fsync = on
                synchronous_commit = on
                max_connections = 1000
                shared_buffers = 256MB
                """
            let conf = cluster.appendingPathComponent("postgresql.conf")
            var text = try String(contentsOf: conf, encoding: .utf8)
            if let range = text.range(of: "\n# gbsm db start") { text = String(text[..<range.lowerBound]) }
            try (text + settings + "\n").write(to: conf, atomically: true, encoding: .utf8)
            if let owner { try PostgresTools.run("/bin/chown", [owner, conf.path, portFile.path]) }
            if try PostgresTools.status(tools, cluster: cluster, as: owner) {
                print("the cluster in \(cluster.path) is already running")
            } else {
                try PostgresTools.run(tools.pgctl, ["-D", cluster.path, "-l", options.folder.appendingPathComponent("server.log").path, "-w", "-t", "60", "start"],
                                      as: owner)
            }
            // Until the database is known to exist (a start that stopped between initdb and
            // here is finished by the next).
            let created = options.folder.appendingPathComponent("database-created")
            if !FileManager.default.fileExists(atPath: created.path) {
                if let password { setenv("PGPASSWORD", password, 1) }
                let result = try PostgresTools.run(tools.createdb, ["-h", "127.0.0.1", "-p", "\(chosen)", "-U", PostgresTools.user, PostgresTools.database],
                                                   as: owner, quiet: true)
                unsetenv("PGPASSWORD")
                guard result.status == 0 || result.output.contains("already exists") else {
                    throw ValidationError("createdb failed (\(result.status)):\n\(result.output.suffix(2000))")
                }
                FileManager.default.createFile(atPath: created.path, contents: Data())
            }
            print(PostgresTools.url(port: chosen, password: password))
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the data folder's cluster.")

        @OptionGroup var options: ClusterOptions

        func run() async throws {
            let tools = try PostgresTools.find()
            guard try PostgresTools.status(tools, cluster: options.cluster, as: try PostgresTools.owner()) else {
                print("the cluster in \(options.cluster.path) is not running")
                return
            }
            try PostgresTools.run(tools.pgctl, ["-D", options.cluster.path, "-w", "-m", "fast", "stop"], as: try PostgresTools.owner())
        }
    }

    struct URLCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "url", abstract: "Print the data folder's cluster's URL.")

        @OptionGroup var options: ClusterOptions

        func run() async throws {
            guard let port = (try? String(contentsOf: options.folder.appendingPathComponent("port"), encoding: .utf8))
                .flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                throw ValidationError("no cluster in \(options.folder.path) (run `gbsm db start --data \(options.data)`)")
            }
            print(PostgresTools.url(port: port, password: try PostgresTools.password(options.folder)))
        }
    }
}

/// The system's PostgreSQL programs and how gbsm runs them.
enum PostgresTools {
    static let user = "gbsm"
    static let database = "gbsm"

    struct Paths {
        var initdb: String
        var pgctl: String
        var createdb: String
    }

    static func url(port: Int, password: String?) -> String {
        "postgres://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(port)/\(database)"
    }

    /// The password of the user gbsm (nil for a cluster made before gbsm set one).
    static func password(_ folder: URL) throws -> String? {
        let file = folder.appendingPathComponent("password")
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        return try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `initdb`, `pg_ctl` and `createdb`: from `pg_config --bindir`'s folder, Debian's
    /// versioned folders (newest first), or the PATH.
    static func find() throws -> Paths {
        var folders: [String] = []
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) { folders.append("/usr/lib/postgresql/\(version)/bin") }
        folders += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/initdb") && FileManager.default.isExecutableFile(atPath: folder + "/pg_ctl") {
            return Paths(initdb: folder + "/initdb", pgctl: folder + "/pg_ctl", createdb: folder + "/createdb")
        }
        throw ValidationError("PostgreSQL's programs (initdb, pg_ctl) are not installed: `apt-get install postgresql`")
    }

    /// Who runs the cluster: nil for the current user, or `postgres` when gbsm runs as root.
    static func owner() throws -> String? {
        guard geteuid() == 0 else { return nil }
        guard getpwnam("postgres") != nil else {
            throw ValidationError("running as root, gbsm runs PostgreSQL as the user postgres, which does not exist (`apt-get install postgresql` makes it)")
        }
        return "postgres"
    }

    /// A TCP port on loopback that nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("cannot find a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether the cluster's server runs (`pg_ctl status` exits 0).
    static func status(_ tools: Paths, cluster: URL, as owner: String?) throws -> Bool {
        guard FileManager.default.fileExists(atPath: cluster.appendingPathComponent("PG_VERSION").path) else { return false }
        return try run(tools.pgctl, ["-D", cluster.path, "status"], as: owner, quiet: true).status == 0
    }

    /// Runs a program (as `owner` through runuser, when given) and fails with its output
    /// unless it exits 0 or `quiet` asks for the status instead. Spawned and waited for
    /// directly: Foundation's `Process` waits until every copy of its status channel
    /// closes, and the server `pg_ctl start` leaves running keeps one.
    @discardableResult
    static func run(_ program: String, _ arguments: [String], as owner: String? = nil, quiet: Bool = false) throws -> (status: Int32, output: String) {
        // From the root folder: the postgres user may not read the one gbsm runs in.
        let argv = ["/bin/sh", "-c", "cd / && exec \"$@\"", "sh"] + (owner.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? []) + [program] + arguments
        // Output goes to a file, not a pipe: the server would hold a pipe open while it runs.
        let outputPath = NSTemporaryDirectory() + "gbsm-db-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw ValidationError("cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw ValidationError("lost \(argv[0]) (waitpid: \(String(cString: strerror(errno))))") }
        }
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        if quiet { return (exitStatus, text) }
        guard exitStatus == 0 else {
            throw ValidationError("\((program as NSString).lastPathComponent) failed (\(exitStatus)):\n\(text.suffix(2000))")
        }
        return (0, text)
    }
}
