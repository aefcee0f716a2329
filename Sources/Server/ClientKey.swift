import Foundation
import NIOCore

/// Who a client is, for limits that are kept per client: the peer's IPv4 address, or the
/// /64 prefix of its IPv6 address (one host is usually given a whole /64, so counting
/// single IPv6 addresses would let one host appear as millions of clients). An
/// IPv4-mapped IPv6 address counts as its IPv4 address. It is the TCP peer: behind a
/// reverse proxy every client is the proxy, which must then apply its own limits.
enum ClientKey: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64)
    /// A Unix socket or an unknown peer: all such clients share one key.
    case other

    init(_ address: SocketAddress?) {
        switch address {
        case .v4(let v4):
            self = .v4(UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            guard bytes.count == 16 else {
                self = .other
                return
            }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                self = .v4(bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            } else {
                self = .v6(bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            }
        case .unixDomainSocket, nil:
            self = .other
        }
    }

    /// 127.0.0.1, ::1, or a Unix socket: this host itself, where a reverse proxy (every one
    /// of whose clients is then this key) or the operator's own tools connect from.
    var isLocalHost: Bool {
        switch self {
        case .v4(let address): return address == 0x7F00_0001
        case .v6(let prefix): return prefix == 0
        case .other: return true
        }
    }

    var description: String {
        switch self {
        case .v4(let address):
            return "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
        case .v6(let prefix):
            return (0..<4).map { String(prefix >> (48 - 16 * UInt64($0)) & 0xFFFF, radix: 16) }.joined(separator: ":") + "::/64"
        case .other:
            return "local"
        }
    }
}
