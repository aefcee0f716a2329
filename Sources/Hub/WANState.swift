import DUIS
import Synchronization
import WAN

/// The WAN as the hub sees it: the model, with outages and the sunset date that admin
/// commands change at run time.
final class WANState: Sendable {
    private let model: Mutex<WANModel>

    init(_ settings: WANSettings) { model = Mutex(WANModel(settings: settings)) }

    var current: WANModel { model.withLock { $0 } }

    func update(outages: [WANOutage], sunset: Timestamp?) {
        model.withLock { model in
            model.outages = outages
            model.settings.sunset = sunset
        }
    }
}
