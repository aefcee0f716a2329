import DUIS

/// Where a request sits in the SQLite requests table's index of request IDs: the index is
/// ordered by this key first, then by the ID.
///
/// Why: a request ID begins with its user's EUI, so an index ordered by the ID alone puts
/// each new request at one of as many places as there are users, and once the index has
/// more leaf pages than users, every request in a group commit writes a page of its own
/// (and the checkpoint writes it again). A DUIS counter is the request's time in
/// milliseconds in practice (DCC Boxed's signing tool sets it so, and counters only rise),
/// so ordering by the counter first puts every user's new requests at the end of the
/// index, where one page takes many of them. Lookups by ID stay exact: the key is a
/// function of the ID, worked out by whoever asks.
public enum RequestLookupKey {
    /// The key of `requestID`: the counter of a DUIS RequestID (its bit pattern, as the
    /// store keeps unsigned counters), the run time of a DCC schedule's run
    /// (`schedule:<id>:<milliseconds>`), and 0 for any other ID (found as well, by the
    /// ID, among the others keyed 0).
    public static func of(_ requestID: String) -> Int64 {
        if let id = RequestID(requestID) { return Int64(bitPattern: id.counter) }
        let parts = requestID.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0] == "schedule", Int64(parts[1]) != nil, let time = Int64(parts[2]) { return time }
        return 0
    }
}
