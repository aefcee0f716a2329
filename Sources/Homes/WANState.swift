import DUIS
import Hub
import Storage
import Synchronization
import WAN

/// The SM WAN as the homes behind it meet it: the model, with the outages and the 2G/3G
/// sunset date that operators inject with `gbsm wan` (stored in the data folder and read
/// again every poll interval, on a loop of their own, and on each `Hub.tick()`, so a
/// change made by another process takes effect within one poll).
///
/// The WAN is the communications service providers', not DCC's: DCC sees it only as its
/// `DeviceTransport` (deliveries, losses, unreachable hubs) and its coverage answers
/// (`WANCoverageSource`, for the WAN matrix).
public final class WANState: WANCoverageSource {
    private let model: Mutex<WANModel>
    /// The sunset date the homes were started with, where operators set none.
    private let configuredSunset: Timestamp?

    public init(_ settings: WANSettings) {
        model = Mutex(WANModel(settings: settings))
        configuredSunset = settings.sunset
    }

    public var current: WANModel { model.withLock { $0 } }

    func update(outages: [WANOutage], sunset: Timestamp?) {
        model.withLock { model in
            model.outages = outages
            model.settings.sunset = sunset
        }
    }

    /// Reads the operators' outages and sunset date from the store.
    func reload(from store: any HubStore) async throws {
        let outages = try await store.wanOutages().map { WANOutage(id: $0.id, region: $0.region, start: $0.start, end: $0.end, reason: $0.reason) }
        let sunset = try await store.meta("wan.sunset").flatMap { Timestamp(xsDateTime: $0) ?? Timestamp(xsDate: $0) }
        update(outages: outages, sunset: sunset ?? configuredSunset)
    }

    public func coverage(postcode: String, region: CSPRegion, at time: Timestamp) -> WANCoverage {
        current.coverage(postcode: postcode, region: region, at: time)
    }
}
