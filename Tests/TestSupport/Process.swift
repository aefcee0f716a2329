import Foundation

/// Runs a command-line tool and collects its output (for interoperability checks with
/// independent tools such as xmlsec1).
public struct ToolResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum Tool {
    /// The full path of an executable on PATH, or nil.
    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `run` on a thread of its own, for async code: a tool that runs for seconds (a
    /// benchmark, a browser) must not hold one of the few threads every in-process hub of
    /// the test run shares, or the hubs stall with it.
    public static func run(_ executable: String, _ arguments: [String], input: Data? = nil) async throws -> ToolResult {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ToolResult, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { () throws -> ToolResult in try runBlocking(executable, arguments, input: input) })
            }
        }
    }

    public static func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> ToolResult {
        try runBlocking(executable, arguments, input: input)
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: Data?) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let inputPipe = Pipe()
        if input != nil { process.standardInput = inputPipe }
        try process.run()
        if let input {
            inputPipe.fileHandleForWriting.write(input)
            try inputPipe.fileHandleForWriting.close()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus,
                          stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A temporary directory removed when the value is deinitialised.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL

    public init(_ prefix: String = "gbsm-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(at: url) }
}
