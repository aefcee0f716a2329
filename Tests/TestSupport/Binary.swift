import AsyncHTTPClient
import Foundation

/// The `gbsm` executable built beside the tests (`swift test` builds it).
public enum GBSMBinary {
    public static var url: URL? {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("gbsm")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/gbsm")
        return FileManager.default.isExecutableFile(atPath: fallback.path) ? fallback : nil
    }
}

/// A `gbsm serve` process.
public final class ServerProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    private let output: Pipe

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts `gbsm <arguments> --port <free port>` and waits until it listens.
    public static func start(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> ServerProcess {
        guard let binary = GBSMBinary.url else { throw MissingBinary() }
        let port = try freePort()
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments + ["--port", String(port), "--log-level", "warning"]
        // DCC's schemas from the reference data, or none (a fresh clone has no reference data).
        var environment = ProcessInfo.processInfo.environment
        environment["GBSM_SCHEMAS"] = Reference.directory.map { $0.appendingPathComponent("duis/xsd").path } ?? "off"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        // Drained as it comes: a server that logs more than a pipe holds must not block
        // on its next write (the last 1 MiB is kept for `log`).
        let log = OutputLog()
        output.fileHandleForReading.readabilityHandler = { handle in log.append(handle.availableData) }
        try process.run()
        let server = ServerProcess(process: process, port: port, output: output, log: log)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw ExitedEarly(status: process.terminationStatus) }
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(2)),
               response.status == .ok {
                return server
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.kill()
        throw ExitedEarly(status: -1)
    }

    private init(process: Process, port: Int, output: Pipe, log: OutputLog) {
        self.process = process
        self.port = port
        self.output = output
        self.outputLog = log
    }

    private let outputLog: OutputLog

    /// What the server wrote to standard output and error (the last 1 MiB).
    public var log: String { outputLog.text }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var isRunning: Bool { process.isRunning }

    /// SIGKILL: no chance to flush or clean up.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM: a graceful shutdown.
    public func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    public struct MissingBinary: Error, CustomStringConvertible {
        public var description: String { "the gbsm executable was not found beside the tests; run `swift build` first" }
    }

    public struct ExitedEarly: Error { public let status: Int32 }
}

/// A process's output as it arrives, bounded.
final class OutputLog: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.lock()
        defer { lock.unlock() }
        data.append(chunk)
        if data.count > 1 << 20 { data.removeFirst(data.count - (1 << 20)) }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}
