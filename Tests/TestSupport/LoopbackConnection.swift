import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP connection to a server on 127.0.0.1, from any loopback source address
/// (127.0.0.2, 127.0.0.3, … are distinct clients to the server, as many addresses as an
/// attacker would use). For tests that must control every byte and its timing (a body
/// announced and never finished, one sent a byte at a time), which an HTTP client library
/// does not allow. Its calls block: use it from its own thread (`LoopbackConnection.run`),
/// never from the Swift concurrency pool that serves the hub in the same process.
public final class LoopbackConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let operation: String
        public let code: Int32
        public var description: String { "\(operation): \(String(cString: strerror(code)))" }
    }

    /// An HTTP/1.1 response as read off the socket.
    public struct Response: Sendable {
        public let status: Int
        public let headers: [(name: String, value: String)]
        public let body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        /// The values of every `Set-Cookie`.
        public var cookies: [String] {
            headers.filter { $0.name.lowercased() == "set-cookie" }.map(\.value)
        }
    }

    private let fd: Int32
    private var buffered: [UInt8] = []

    /// Connects from `source` (a 127.x.y.z address) to 127.0.0.1:`port`; with
    /// `connectTimeout`, gives up (`ETIMEDOUT`) if the connection is not established by then
    /// (a server that stopped accepting leaves connects waiting in its backlog for minutes).
    public init(from source: String = "127.0.0.1", port: Int, connectTimeout: Duration? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(operation: "socket", code: errno) }
        self.fd = fd
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure(operation: "bind \(source)", code: code)
        }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let flags = fcntl(fd, F_GETFL)
        if connectTimeout != nil { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0 else {
            var code = errno
            if let connectTimeout, code == EINPROGRESS {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let milliseconds = Int32(clamping: connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000)
                if poll(&descriptor, 1, milliseconds) > 0 {
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    code = 0
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
                } else {
                    code = ETIMEDOUT
                }
                if code == 0 {
                    _ = fcntl(fd, F_SETFL, flags)
                    return
                }
            }
            Glibc.close(fd)
            throw Failure(operation: "connect", code: code)
        }
        if connectTimeout != nil { _ = fcntl(fd, F_SETFL, flags) }
    }

    deinit { Glibc.close(fd) }

    /// Waits up to `timeout` for bytes (or the end) to read.
    public func readable(within timeout: Duration) -> Bool {
        if !buffered.isEmpty { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    /// Sends everything, waiting up to `timeout` for room; returns the bytes sent before
    /// the server stopped taking them (closed, reset, or answered: see `readable`).
    @discardableResult
    public func send(_ bytes: [UInt8], timeout: Duration = .seconds(10), stopWhenAnswered: Bool = true) -> Int {
        var sent = 0
        let deadline = ContinuousClock.now + timeout
        while sent < bytes.count, ContinuousClock.now < deadline {
            if stopWhenAnswered, readable(within: .zero) { return sent }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            if descriptor.revents & Int16(POLLERR | POLLHUP) != 0 { return sent }
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, 256 << 10), Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if count > 0 {
                sent += count
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                return sent
            }
        }
        return sent
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads one response: nil when the connection ends (or `timeout` passes) before a complete one.
    public func readResponse(timeout: Duration = .seconds(10)) -> Response? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let end = headerEnd() {
                let head = String(decoding: buffered[..<end], as: UTF8.self).components(separatedBy: "\r\n")
                let parts = head.first?.split(separator: " ", maxSplits: 2) ?? []
                guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
                let headers = head.dropFirst().compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
                while buffered.count < end + 4 + length {
                    guard fill(until: deadline) else { return nil }
                }
                let body = Array(buffered[(end + 4)..<(end + 4 + length)])
                buffered.removeFirst(end + 4 + length)
                return Response(status: status, headers: headers, body: body)
            }
            guard fill(until: deadline) else { return nil }
        }
    }

    /// True when the server closes (or resets) the connection within `timeout`; bytes that
    /// arrive meanwhile are read and dropped.
    public func waitForClose(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard readable(within: .milliseconds(100)) else { continue }
            buffered = []
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return true }
        }
        return false
    }

    private func headerEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        for index in 0...(buffered.count - 4) where buffered[index] == 13 && buffered[index + 1] == 10 && buffered[index + 2] == 13 && buffered[index + 3] == 10 {
            return index
        }
        return nil
    }

    private func fill(until deadline: ContinuousClock.Instant) -> Bool {
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                buffered += chunk[..<count]
                return true
            }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return false }
        }
        return false
    }

    /// Runs blocking work on a thread of its own and returns its result.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// One request on a fresh connection from `source`; the answer, or nil if the server
    /// closed without one.
    public static func request(from source: String = "127.0.0.1", port: Int, _ text: String, timeout: Duration = .seconds(15)) async throws -> Response? {
        try await run {
            let connection = try LoopbackConnection(from: source, port: port)
            connection.send(text)
            return connection.readResponse(timeout: timeout)
        }
    }
}
