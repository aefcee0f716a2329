import DUIS
import Foundation

/// What one block of the audit log holds, kept so that queries by user, device, SRV, kind,
/// request and time find their entries without a secondary index on the log.
///
/// Why not indexes: every acknowledged request appends three or four audit entries, and
/// an index by user or device puts each of them at one of as many places in a B-tree as
/// there are users or devices, so every commit dirtied a page per index per user (five
/// indexes cost about 12 KB of disk writes per request, measured with `bench duis`).
/// The log itself is appended in sequence order, which costs only the pages it fills.
///
/// A block is `size` consecutive sequence numbers. When its last entry is committed, its
/// summary is written in the same transaction: the range of its times, the exact sets of
/// its actors, SRVs and kinds (few per block), and Bloom filters of its devices and
/// request IDs (up to one each per entry). A query reads the summaries, skips the blocks
/// that cannot hold a match (a Bloom filter says "perhaps" or "no", never a wrong "no"),
/// reads the rest by sequence range, and reads the block not yet complete whole. A
/// summary is a pure function of its entries, so a lost or stale one can be rebuilt.
public struct AuditBlockSummary: Sendable, Equatable {
    /// Entries per block: the most a query reads for a block it cannot skip.
    public static let size: Int64 = 1024

    public let block: Int64
    public let earliest: Int64
    public let latest: Int64
    /// Actors and SRVs and kinds of the block's entries, sorted (exact: few per block); nil
    /// for a stored set that could not be read, which then rules nothing out.
    public let actors: [Int64]?
    public let srvs: [String]?
    public let kinds: [String]?
    public let devices: BloomFilter
    public let requests: BloomFilter

    /// The sequence numbers block `block` holds (1 to `size` for block 0); nil for a block
    /// number no sequence number reaches (a summary row written by hand).
    public static func range(of block: Int64) -> ClosedRange<Int64>? {
        guard block >= 0, block <= (Int64.max - size) / size else { return nil }
        return (block * size + 1)...(block * size + size)
    }

    /// The block of entry `sequence`.
    public static func block(of sequence: Int64) -> Int64 { (sequence - 1) / size }

    /// One entry's searchable fields.
    public struct Entry: Sendable {
        public var at: Int64
        public var actor: Int64?
        public var device: Int64?
        public var srv: String?
        public var kind: String
        public var requestID: String?

        public init(at: Int64, actor: Int64?, device: Int64?, srv: String?, kind: String, requestID: String?) {
            self.at = at
            self.actor = actor
            self.device = device
            self.srv = srv
            self.kind = kind
            self.requestID = requestID
        }
    }

    /// The summary of a block's entries, its filters keyed with the store's `salt`.
    public init(block: Int64, entries: [Entry], salt: UInt64) {
        self.block = block
        earliest = entries.map(\.at).min() ?? 0
        latest = entries.map(\.at).max() ?? 0
        actors = Array(Set(entries.compactMap(\.actor))).sorted()
        srvs = Array(Set(entries.compactMap(\.srv))).sorted()
        kinds = Array(Set(entries.map(\.kind))).sorted()
        var devices = BloomFilter(salt: salt)
        var requests = BloomFilter(salt: salt)
        for entry in entries {
            if let device = entry.device { devices.insert(Self.octets(device)) }
            if let request = entry.requestID { requests.insert(Array(request.utf8)) }
        }
        self.devices = devices
        self.requests = requests
    }

    init(block: Int64, earliest: Int64, latest: Int64, actors: [Int64]?, srvs: [String]?, kinds: [String]?, devices: BloomFilter, requests: BloomFilter) {
        self.block = block
        self.earliest = earliest
        self.latest = latest
        self.actors = actors
        self.srvs = srvs
        self.kinds = kinds
        self.devices = devices
        self.requests = requests
    }

    /// Whether the block may hold an entry the query asks for (false: it holds none).
    public func mayMatch(_ query: AuditQuery) -> Bool {
        if let actor = query.actor, let actors, !actors.contains(sqlValue(actor)) { return false }
        if let srv = query.srv, let srvs, !srvs.contains(srv) { return false }
        if let kind = query.kind, let kinds, !kinds.contains(kind.rawValue) { return false }
        if let device = query.device, !devices.mayContain(Self.octets(sqlValue(device))) { return false }
        if let request = query.requestID, !requests.mayContain(Array(request.utf8)) { return false }
        if let from = query.from, latest < from.milliseconds { return false }
        if let to = query.to, earliest >= to.milliseconds { return false }
        return true
    }

    static func octets(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    /// The sets as stored: values one after another (8 octets each, big-endian), and
    /// texts as a JSON array (whatever characters they hold).
    static func encode(_ values: [Int64]) -> Data {
        var data = Data(capacity: values.count * 8)
        for value in values { data.append(contentsOf: octets(value)) }
        return data
    }

    static func encode(_ texts: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(texts), as: UTF8.self)
    }

    /// The texts of a stored set; nil when it cannot be read (its block is then read whole).
    static func decode(texts: String) -> [String]? {
        try? JSONDecoder().decode([String].self, from: Data(texts.utf8))
    }

    /// The values of a stored set; nil for octets that are not whole values.
    static func decode(_ data: Data) -> [Int64]? {
        let bytes = [UInt8](data)
        guard bytes.count % 8 == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: 8).map { start in
            bytes[start..<start + 8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        }
    }
}

/// A Bloom filter of 16,384 bits and four probes: for the up to 1,024 distinct values of
/// one audit block, about one block in 400 is read for nothing. The probes come from
/// FNV-1a (64-bit) by double hashing, keyed with the store's own secret salt: the same on
/// every run (filters are stored), unlike Swift's seeded `Hasher`, but not known to a
/// user who would choose device IDs whose probes cover another device's, so that every
/// block seems to hold it and a query by that device reads the whole log.
public struct BloomFilter: Sendable, Equatable {
    static let bits = 16_384
    static let probes = 4
    public private(set) var words: [UInt64]
    /// The store's key for the probes (not stored with the filter).
    let salt: UInt64

    public init(salt: UInt64) {
        words = Array(repeating: 0, count: Self.bits / 64)
        self.salt = salt
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.words == rhs.words }

    /// A filter that may contain anything.
    static var everything: BloomFilter {
        var filter = BloomFilter(salt: 0)
        filter.words = Array(repeating: .max, count: bits / 64)
        return filter
    }

    /// From its stored octets; nil for another length (never filters out anything then).
    init?(_ data: Data, salt: UInt64) {
        guard data.count == Self.bits / 8 else { return nil }
        self.salt = salt
        let bytes = [UInt8](data)
        words = stride(from: 0, to: bytes.count, by: 8).map { start in
            bytes[start..<start + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }

    var data: Data {
        var data = Data(capacity: Self.bits / 8)
        for word in words { data.append(contentsOf: withUnsafeBytes(of: word.bigEndian) { Array($0) }) }
        return data
    }

    public mutating func insert(_ value: [UInt8]) {
        for bit in positions(value) { words[bit / 64] |= 1 << UInt64(bit % 64) }
    }

    public func mayContain(_ value: [UInt8]) -> Bool {
        positions(value).allSatisfy { words[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
    }

    func positions(_ value: [UInt8]) -> [Int] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in withUnsafeBytes(of: salt.bigEndian, Array.init) + value {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let first = hash & 0xFFFF_FFFF, second = (hash >> 32) | 1
        return (0..<UInt64(Self.probes)).map { Int((first &+ $0 &* second) % UInt64(Self.bits)) }
    }
}
