import DUIS
import Synchronization

/// The requests the gateway has just parsed, handed to the device boundary with their
/// IDs so that a request due at once is not parsed a second time when it runs (about a
/// tenth of the hub's CPU for a device request).
///
/// The stored bytes stay the authority: the dispatcher still reads the stored request
/// (its status, which a cancellation or quarantine may have changed) and parses its bytes
/// whenever this holds nothing for it (after a restart, a retry, a held request, or when
/// full). Each entry is taken once, when its request is first processed. Bounded, so
/// that requests the queue holds back cannot grow it.
final class ParsedRequests: Sendable {
    /// A request as the gateway read it: its header and body (`ServiceRequestDocument`).
    struct Parsed: Sendable {
        let header: RequestHeader
        let body: ElementTree
    }

    /// The most requests held parsed at once.
    let limit: Int
    private let entries = Mutex<[String: Parsed]>([:])

    init(limit: Int = 4096) { self.limit = limit }

    /// Keeps `parsed` for the request `requestID` unless the cache is full.
    func keep(_ requestID: String, _ parsed: Parsed) {
        entries.withLock { entries in
            if entries.count < limit { entries[requestID] = parsed }
        }
    }

    /// The request's parsed form, if kept; it is kept no longer.
    func take(_ requestID: String) -> Parsed? { entries.withLock { $0.removeValue(forKey: requestID) } }

    var count: Int { entries.withLock { $0.count } }
}
