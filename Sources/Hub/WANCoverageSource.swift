import DUIS

/// Where DCC learns the SM WAN's coverage for its WAN matrix (12.1): the communications
/// service providers who run the WAN, not DCC, know where it reaches. The device side the
/// hub is assembled with answers for the WAN it is (`DeviceSide.coverage`); DCC adds what
/// it has seen itself (communications hubs installed with and without a connection).
public protocol WANCoverageSource: Sendable {
    /// The coverage at `postcode`, in `region`, as known at `time`.
    func coverage(postcode: String, region: CSPRegion, at time: Timestamp) -> WANCoverage
}
