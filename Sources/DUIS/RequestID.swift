/// A DUIS RequestID: `originatorEUI:targetEUI:counter`. The originator is the DCC user
/// (its "business originator ID"), the target is the device, or DCC's own EUI for
/// non-device requests, and the counter must rise for each originator (anti-replay).
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    public var originator: EUI64
    public var target: EUI64
    public var counter: UInt64

    public init(originator: EUI64, target: EUI64, counter: UInt64) {
        self.originator = originator
        self.target = target
        self.counter = counter
    }

    /// Parses the DUIS form. The counter is a decimal without leading zeros that fits
    /// in 64 bits, as the DUIS schema requires.
    public init?<S: StringProtocol>(_ text: S) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let originator = EUI64(parts[0]),
              let target = EUI64(parts[1]),
              let counter = RequestID.parseCounter(parts[2])
        else { return nil }
        self.init(originator: originator, target: target, counter: counter)
    }

    static func parseCounter<S: StringProtocol>(_ text: S) -> UInt64? {
        let utf8 = text.utf8
        guard let first = utf8.first, utf8.count <= 20 else { return nil }
        if first == UInt8(ascii: "0") && utf8.count > 1 { return nil }
        var value: UInt64 = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    public var description: String {
        originator.description + ":" + target.description + ":" + String(counter)
    }

    /// The ResponseID DCC puts on a device's response: target and originator swapped,
    /// same counter.
    public var responseID: String {
        target.description + ":" + originator.description + ":" + String(counter)
    }
}
