import AsyncHTTPClient
import Foundation
import Server

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

    /// Starts `gbsm <arguments> --port 0` and waits until it serves. The kernel chooses the
    /// port when the server binds, and the server's banner says which (`ServeBanner`): a
    /// port picked here and released before the server bound it could be taken by a test
    /// running beside this one.
    public static func start(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> ServerProcess {
        guard let binary = GBSMBinary.url else { throw MissingBinary() }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments + ["--port", "0", "--log-level", "warning"]
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
        let banner = ServeBannerReader(following: output.fileHandleForReading) { log.append($0) }
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw ExitedEarly(status: process.terminationStatus) }
            if let port = banner.port {
                let server = ServerProcess(process: process, port: port, output: output, log: log)
                if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.baseURL)/health"), timeout: .seconds(2)),
                   response.status == .ok {
                    return server
                }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
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
