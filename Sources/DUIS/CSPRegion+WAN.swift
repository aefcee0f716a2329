extension CSPRegion {
    /// The SM WAN technology of the region.
    public var wanTechnology: String { self == .north ? "Long Range Radio" : "Cellular" }
}
