/// WAN: the smart metering wide area network between DCC and the comms hubs, as a model.
/// Each CSP region has its own technology (Arqiva's long range radio in the North, Telefónica
/// cellular in the Central and South regions), round-trip times and losses, worse where
/// the signal is marginal. The battery gas meter sleeps and is reached only when it wakes
/// (every 30 minutes; the gas proxy answers for it meanwhile). Regional outages can be
/// injected, and the 2G/3G sunset takes the at-risk cellular hubs off the air. Every
/// outcome is drawn from a seeded hash of (premises, request, attempt), so runs repeat.
import DUIS
import Foundation
import LoadModel

/// Where a message is going: the premises' region, its hub's signal and cohort.
public struct WANEndpoint: Sendable, Hashable {
    public var premises: Int64
    public var region: CSPRegion
    /// 0 excellent to 3 marginal.
    public var signalClass: Int
    /// A 2G/3G hub that goes dark at the sunset.
    public var atRiskFromSunset: Bool

    public init(premises: Int64, region: CSPRegion, signalClass: Int, atRiskFromSunset: Bool) {
        self.premises = premises
        self.region = region
        self.signalClass = signalClass
        self.atRiskFromSunset = atRiskFromSunset
    }
}

/// An injected loss of WAN service in a region (or everywhere).
public struct WANOutage: Sendable, Hashable, Codable {
    public var id: Int64
    public var region: CSPRegion?
    public var start: Timestamp
    public var end: Timestamp
    public var reason: String

    public init(id: Int64, region: CSPRegion?, start: Timestamp, end: Timestamp, reason: String) {
        self.id = id
        self.region = region
        self.start = start
        self.end = end
        self.reason = reason
    }

    public func covers(_ region: CSPRegion, at time: Timestamp) -> Bool {
        (self.region == nil || self.region == region) && start <= time && time < end
    }
}

/// How the WAN behaves.
public struct WANSettings: Sendable, Hashable, Codable {
    /// Real time divided by this: 1 is real time, 600 makes a 30-minute gas wake-up wait
    /// three seconds. Delays are off altogether when `delays` is false.
    public var speedUp: Double
    public var delays: Bool
    /// Lose messages as the real networks do (off for benchmarks).
    public var losses: Bool
    /// When the 2G/3G networks switch off; at-risk hubs are unreachable from then.
    public var sunset: Timestamp?
    public var seed: UInt64

    public init(speedUp: Double = 1, delays: Bool = true, losses: Bool = true, sunset: Timestamp? = nil, seed: UInt64 = 0x7761_6E) {
        self.speedUp = speedUp
        self.delays = delays
        self.losses = losses
        self.sunset = sunset
        self.seed = seed
    }

    public static let realTime = WANSettings()
    /// No waiting and no losses: for benchmarks of the hub itself.
    public static let instant = WANSettings(speedUp: 1, delays: false, losses: false)
}

/// What happened to one attempt to reach a device.
public enum WANAttempt: Sendable, Hashable {
    /// The command reached the device and its response came back after `roundTrip`
    /// (already scaled by the speed-up), of which `wakeWait` was spent waiting for a
    /// sleeping gas meter.
    case delivered(roundTrip: Duration, wakeWait: Duration)
    /// The command or its response was lost; the hub notices after `timeout`.
    case lost(timeout: Duration)
    /// No WAN to the hub at all (an outage, the sunset, no coverage).
    case unreachable(reason: String)
}

/// Characteristics of a CSP region's network.
public struct RegionProfile: Sendable {
    public var technology: String
    /// Median round trip to a hub with a good signal, seconds.
    public var medianRoundTrip: Double
    /// Spread of round trips (log-normal sigma).
    public var spread: Double
    /// Share of attempts lost at each signal class (0 to 3).
    public var loss: [Double]
    /// Share of premises with coverage.
    public var coverage: Double

    public static func of(_ region: CSPRegion) -> RegionProfile {
        switch region {
        case .north:
            return RegionProfile(technology: "Long Range Radio", medianRoundTrip: 9, spread: 0.45, loss: [0.004, 0.012, 0.04, 0.12], coverage: 0.995)
        case .central, .south:
            return RegionProfile(technology: "Cellular", medianRoundTrip: 3.5, spread: 0.5, loss: [0.003, 0.01, 0.035, 0.10], coverage: 0.992)
        }
    }
}

/// The WAN model. Outages change at run time; everything else is fixed by the settings.
public struct WANModel: Sendable {
    public var settings: WANSettings
    public var outages: [WANOutage]
    /// How long the hub waits for an answer before it counts a message lost, seconds.
    public static let timeout: Double = 30
    /// How often a battery gas meter wakes to collect commands, seconds.
    public static let gasWakeInterval: Double = 1800

    public init(settings: WANSettings, outages: [WANOutage] = []) {
        self.settings = settings
        self.outages = outages
    }

    public func scaled(_ seconds: Double) -> Duration {
        guard settings.delays else { return .zero }
        return .milliseconds(Int64((seconds * 1000 / max(settings.speedUp, 0.001)).rounded()))
    }

    /// Why the hub cannot be reached at all at `time`, or nil.
    public func unreachable(_ endpoint: WANEndpoint, at time: Timestamp) -> String? {
        if let outage = outages.first(where: { $0.covers(endpoint.region, at: time) }) {
            let scope = outage.region.map { "the \($0.rawValue) region" } ?? "every region"
            return "WAN outage in \(scope) until \(outage.end.iso8601) (\(outage.reason))"
        }
        if endpoint.atRiskFromSunset, let sunset = settings.sunset, sunset <= time {
            return "the hub is a 2G/3G hub and the networks it used were switched off on \(sunset.isoDate)"
        }
        return nil
    }

    /// One attempt to deliver a command to a device behind a premises' hub and get its
    /// answer back. A battery gas meter is asleep most of the time: a command for it
    /// waits in the hub until its next wake-up, unless the GPF answers from the copy of
    /// the meter's data it keeps (`answeredByGPF`, for reads).
    public func attempt(_ endpoint: WANEndpoint, device: DeviceType, message: UInt64, attempt: Int, at time: Timestamp,
                        answeredByGPF: Bool = false) -> WANAttempt {
        if let reason = unreachable(endpoint, at: time) { return .unreachable(reason: reason) }
        var random = SplitMix64(seed: mix(settings.seed, UInt64(bitPattern: endpoint.premises), mix(message, UInt64(attempt))))
        let profile = RegionProfile.of(endpoint.region)
        let signal = max(0, min(3, endpoint.signalClass))
        if settings.losses && random.chance(profile.loss[signal]) {
            return .lost(timeout: scaled(Self.timeout))
        }
        // Round trip: log-normal around the region's median, longer with a weaker signal.
        let gaussian = random.normal(0, 1)
        var seconds = profile.medianRoundTrip * (1 + 0.35 * Double(signal)) * exp(profile.spread * gaussian)
        seconds = min(seconds, Self.timeout * 0.95)
        var wait = 0.0
        if device == .gsme && answeredByGPF {
            seconds += 0.8  // the GPF is on the same HAN as the hub
        } else if device == .gsme {
            // The command waits in the hub until the gas meter's next wake-up.
            let phase = Double(mix(settings.seed, UInt64(bitPattern: endpoint.premises)) % 1800)
            let now = Double(time.milliseconds) / 1000
            wait = (phase - now).truncatingRemainder(dividingBy: Self.gasWakeInterval)
            if wait < 0 { wait += Self.gasWakeInterval }
            seconds += 1.5
        } else if device == .ihd || device == .ppmid || device == .cad || device == .hcalcs {
            seconds += 0.8  // one more HAN hop
        }
        return .delivered(roundTrip: scaled(seconds + wait), wakeWait: scaled(wait))
    }

    /// Coverage at a postcode, as the region's communications service provider would
    /// tell DCC for its WAN matrix.
    public func coverage(postcode: String, region: CSPRegion, at time: Timestamp) -> WANCoverage {
        let normalised = String(postcode.uppercased().filter { !$0.isWhitespace })
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in normalised.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var random = SplitMix64(seed: mix(settings.seed, hash))
        let profile = RegionProfile.of(region)
        let available = random.unit() < profile.coverage
        let quality = random.unit()
        let likelihood: ConnectivityLikelihood = !available ? .low : (quality < 0.8 ? .high : (quality < 0.96 ? .medium : .low))
        return WANCoverage(available: available, likelihood: likelihood, technology: profile.technology,
                           anticipated: available ? nil : time.adding(days: Int64(90 + random.unit() * 270)),
                           auxiliaryEquipment: likelihood == .low && available ? "External aerial" : nil)
    }
}
