import Synchronization

/// Throttles the portal's sign-in by the guesser, not by the household. A premises'
/// sign-in identifier (its MPAN or MPRN) is no secret, so a lockout per premises would let
/// anyone lock any household out; the secret is the IHD code, 8 characters of 32 (10^12
/// codes), so online guessing only has to be kept slow, not stopped at a handful.
///
/// - Per client (an IPv4 address or IPv6 /64): three wrong attempts are free (typing
///   mistakes); after that each attempt waits twice as long as the one before (1 s, 2 s,
///   4 s, … up to 15 minutes), and after 100 the client is refused until 24 hours after its
///   last attempt. A client is forgotten 24 hours after its last failure, and on success.
/// - Per premises, across all clients: up to 50 failures an hour cost nothing. Beyond
///   that, clients that have used up their free mistakes may try that premises only once
///   every 10 s between them; a client still within its free mistakes (fewer than three
///   failures, counted over all premises) is checked at once, so a household that mistyped
///   its code once or twice still signs in with the right one while its premises is being
///   guessed at. The count is the client's, not the client's on this premises: it is the
///   one the client's own delays use, it needs no table per client and premises, and it
///   gives an address no fresh free mistakes on each premises it tries. An attacker with
///   many addresses gets three unthrottled guesses per fresh address (one before this
///   change), against 10^12 codes.
///
/// Only attempts whose code is checked count (an empty form or an unknown MPAN tells the
/// sender nothing). An attempt counts as a failure when it is admitted, before the code is checked, so
/// parallel guesses cannot slip past the limits; `succeeded` takes it back. A refused
/// attempt is not checked at all (the right code from a throttled client waits too) and
/// counts nothing. Both tables are bounded: at `maxEntries`, expired entries go first,
/// then the older half.
final class SignInThrottle: Sendable {
    struct Policy: Sendable {
        var freeFailures = 3
        var firstDelayMilliseconds: Int64 = 1000
        var maxDelayMilliseconds: Int64 = 15 * 60_000
        var clientCap = 100
        var clientWindowMilliseconds: Int64 = 24 * 3_600_000
        var premisesCeiling = 50
        var premisesWindowMilliseconds: Int64 = 3_600_000
        var premisesIntervalMilliseconds: Int64 = 10_000
        var maxEntries = 50_000
    }

    enum Decision: Equatable {
        /// Check the code.
        case check
        /// Refuse without checking; try again after this many seconds.
        case wait(seconds: Int64, because: Reason)
    }

    enum Reason: Equatable {
        case client
        case clientCapped
        case premises
    }

    private struct ClientRecord {
        var failures: Int
        var last: Int64
    }

    private struct PremisesRecord {
        var windowStart: Int64
        var failures: Int
        var nextSlot: Int64
    }

    let policy: Policy
    private let state = Mutex<(clients: [ClientKey: ClientRecord], premises: [Int64: PremisesRecord])>(([:], [:]))

    init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Whether an attempt from `client` on `premises` is checked, at `now` (milliseconds).
    func attempt(client: ClientKey, premises: Int64, now: Int64) -> Decision {
        state.withLock { state in
            var record = state.clients[client].flatMap { now - $0.last < policy.clientWindowMilliseconds ? $0 : nil } ?? ClientRecord(failures: 0, last: now)
            if record.failures >= policy.clientCap {
                return .wait(seconds: Self.seconds(record.last + policy.clientWindowMilliseconds - now), because: .clientCapped)
            }
            if record.failures >= policy.freeFailures {
                let doublings = min(record.failures - policy.freeFailures, 30)
                let delay = min(policy.firstDelayMilliseconds << doublings, policy.maxDelayMilliseconds)
                if now < record.last + delay { return .wait(seconds: Self.seconds(record.last + delay - now), because: .client) }
            }
            var counts = state.premises[premises].flatMap { now - $0.windowStart < policy.premisesWindowMilliseconds ? $0 : nil }
                ?? PremisesRecord(windowStart: now, failures: 0, nextSlot: 0)
            if counts.failures >= policy.premisesCeiling, record.failures >= policy.freeFailures {
                if now < counts.nextSlot { return .wait(seconds: Self.seconds(counts.nextSlot - now), because: .premises) }
                counts.nextSlot = now + policy.premisesIntervalMilliseconds
            }
            counts.failures += 1
            if state.premises[premises] == nil {
                Self.makeRoom(&state.premises, limit: policy.maxEntries) { now - $0.windowStart >= policy.premisesWindowMilliseconds } by: { $0.windowStart }
            }
            state.premises[premises] = counts
            record.failures += 1
            record.last = now
            if state.clients[client] == nil {
                Self.makeRoom(&state.clients, limit: policy.maxEntries) { now - $0.last >= policy.clientWindowMilliseconds } by: { $0.last }
            }
            state.clients[client] = record
            return .check
        }
    }

    /// The attempt was the right code: the client is forgotten, and the premises' count
    /// gives back the failure its attempt was counted as.
    func succeeded(client: ClientKey, premises: Int64) {
        state.withLock { state in
            state.clients[client] = nil
            if let counts = state.premises[premises], counts.failures > 0 { state.premises[premises]?.failures = counts.failures - 1 }
        }
    }

    /// Clients and premises with a record (for tests and metrics).
    var entries: (clients: Int, premises: Int) {
        state.withLock { ($0.clients.count, $0.premises.count) }
    }

    private static func seconds(_ milliseconds: Int64) -> Int64 {
        max(1, (milliseconds + 999) / 1000)
    }

    /// Before a new key goes into a full table: drop expired entries, then the older half.
    private static func makeRoom<Key, Value>(_ table: inout [Key: Value], limit: Int, expired: (Value) -> Bool, by age: (Value) -> Int64) {
        guard table.count >= limit else { return }
        table = table.filter { !expired($0.value) }
        guard table.count >= limit else { return }
        let cutoff = table.values.map(age).sorted()[table.count / 2]
        table = table.filter { age($0.value) > cutoff }
    }
}
