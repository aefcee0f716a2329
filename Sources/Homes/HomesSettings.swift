import WAN

/// How the emulated homes and the SM WAN behind the comms hubs behave: what DCC does not
/// decide, and so not part of `HubConfiguration`.
public struct HomesSettings: Sendable {
    /// The SM WAN's latency, losses and 2G/3G sunset.
    public var wan: WANSettings
    /// Power cuts, tampering and low credit in the homes.
    public var events: FleetEventSettings

    public init(wan: WANSettings = .realTime, events: FleetEventSettings = FleetEventSettings()) {
        self.wan = wan
        self.events = events
    }

    /// An instant WAN and homes where nothing happens unless injected (tests, tools).
    public static let quiet = HomesSettings(wan: .instant, events: .quiet)
}
