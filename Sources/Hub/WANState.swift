import DUIS
import Synchronization
import WAN

/// The WAN as the hub sees it: the model, with outages and the sunset date that admin
/// commands change at run time.
public final class WANState: Sendable {
    private let model: Mutex<WANModel>

    public init(_ settings: WANSettings) { model = Mutex(WANModel(settings: settings)) }

    public var current: WANModel { model.withLock { $0 } }

    public func update(outages: [WANOutage], sunset: Timestamp?) {
        model.withLock { model in
            model.outages = outages
            model.settings.sunset = sunset
        }
    }
}
