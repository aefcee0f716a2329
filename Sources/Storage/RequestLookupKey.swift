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
///
/// The rule is frozen: a stored row's key was worked out when it was written, so a rule
/// that changed would leave rows that no lookup finds (and let an ID be stored twice).
/// It therefore reads the ID itself, not through DUIS's `RequestID` parser, which may
/// change.
public enum RequestLookupKey {
    /// The key of `requestID`: its last `:`-separated part read as an unsigned decimal of
    /// 1 to 20 ASCII digits that fits 64 bits, as its bit pattern (a DUIS RequestID's
    /// counter, a DCC schedule run's time in `schedule:<id>:<milliseconds>`); 0 for any
    /// other ID (found as well, by the ID, among the others keyed 0).
    public static func of(_ requestID: String) -> Int64 {
        guard let colon = requestID.utf8.lastIndex(of: UInt8(ascii: ":")) else { return 0 }
        let digits = requestID.utf8[requestID.utf8.index(after: colon)...]
        guard !digits.isEmpty, digits.count <= 20 else { return 0 }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return 0 }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { return 0 }
            value = sum
        }
        return Int64(bitPattern: value)
    }
}
