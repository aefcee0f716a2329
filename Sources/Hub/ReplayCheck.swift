import DUIS
import Storage

/// The gateway's anti-replay stage: each originator's counter must rise, and stay below
/// the ceiling (a counter of 2^64−1 would otherwise lock its user out for good). The one
/// exception is the send of a signed pre-command, which keeps its transform request's
/// RequestID, counter included (DUIS; DCC Boxed's tools do so): admitted without raising
/// the counter while the pre-command is live and unsent (`CriticalCommandDesk` checks the
/// rest), and refused as expired or replayed otherwise.
///
/// A replay proves nothing new (anyone who saw the request can send it again), so the
/// gateway audits these refusals as unauthenticated ones. The stage raises the counter
/// in `ReplayGuard` as it admits; the gateway stores it with the request's outcome.
/// When hub processes share the store (`HubStore.isShared`), a counter admitted from
/// memory is also claimed in the store, so that one accepted by another hub is refused.
struct ReplayCheck: Sendable {
    let replayGuard: ReplayGuard
    /// The pre-command issued for a RequestID, from the store.
    let preCommand: @Sendable (String) async throws -> PreCommandRecord?
    /// Claims a counter in a shared store (`HubStore.claimCounter`); nil for a store one process writes.
    var claim: (@Sendable (EUI64, UInt64) async throws -> UInt64?)? = nil

    init(replayGuard: ReplayGuard, claim: (@Sendable (EUI64, UInt64) async throws -> UInt64?)? = nil,
         preCommand: @escaping @Sendable (String) async throws -> PreCommandRecord?) {
        self.replayGuard = replayGuard
        self.claim = claim
        self.preCommand = preCommand
    }

    /// Nil when admitted, else the refusal. Throws when the store cannot be read.
    func refusal(_ header: RequestHeader, at time: Timestamp) async throws -> Refusal? {
        let ceiling = ReplayGuard.ceiling(at: time)
        if header.requestID.counter > ceiling {
            return Refusal(.E1, rule: .counterCeiling, "counter \(header.requestID.counter) is above \(ceiling), the current time in milliseconds plus one day: gbsm accepts counters that rise and stay below that bound (DCC Boxed's tools use the time in milliseconds)")
        }
        var issued: PreCommandRecord?
        if header.commandVariant?.sendsSignedPreCommand == true {
            issued = try await preCommand(header.requestID.description)
        }
        if let issued, CriticalCommandDesk.isLive(issued, at: time) {
            return nil
        }
        guard let last = replayGuard.admit(originator: header.requestID.originator, counter: header.requestID.counter) else {
            guard let claim, let stored = try await claim(header.requestID.originator, header.requestID.counter) else { return nil }
            // Another hub accepted this counter or a higher one.
            replayGuard.raise(originator: header.requestID.originator, to: stored)
            return Refusal(.E1, rule: .antiReplay, "counter \(header.requestID.counter) is not above \(stored), the last counter of \(header.requestID.originator) (accepted by another hub process): the request is a replay")
        }
        if let issued, issued.sentAt == nil {
            return CriticalCommandRule.expired.refusal("the pre-command of \(header.requestID) was issued at \(issued.issuedAt.iso8601), more than a day ago: transform the request again")
        }
        if issued != nil {
            return CriticalCommandRule.replayed.refusal("the signed pre-command of \(header.requestID) was sent already: each pre-command is sent once")
        }
        return Refusal(.E1, rule: .antiReplay, "counter \(header.requestID.counter) is not above \(last), the last counter of \(header.requestID.originator): the request is a replay")
    }
}
