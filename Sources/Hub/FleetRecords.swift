import DUIS
import Storage

/// What the industry's registers hold of a fleet of premises laid out together, derived on
/// demand so that millions of premises cost no stored rows: DCC's Smart Metering
/// Inventory (premises, devices), the MPxN registrations (suppliers, network operators)
/// and the network operators' topology (which LV feeder, secondary and primary
/// substation each premises hangs from) that data privacy plans group by. `Inventory`
/// serves these beneath its explicit records; the homes' side provides them
/// (`DeviceSide.fleetRecords`) from the fleet it emulates.
///
/// A fleet's premises are numbered by index, `0..<count`; indices of one substation or
/// feeder are contiguous.
public protocol FleetRecords: Sendable {
    /// Premises in the fleet.
    var count: Int { get }
    /// Devices in the fleet.
    var deviceCount: Int { get }
    /// The seed the fleet's devices' keys derive from (gbsm's SMKI).
    var seed: UInt64 { get }

    /// The premises ID of the premises at `index`.
    func premisesID(_ index: Int) -> Int64
    func index(premisesID: Int64) -> Int?
    func index(mpxn: String) -> Int?
    func index(uprn: Int64) -> Int?
    func indices(postcode: String) -> Range<Int>?
    /// Whether `eui` is one of the fleet's device identifiers (whether or not its record
    /// was changed since).
    func isFleetDevice(_ eui: EUI64) -> Bool

    func premises(_ index: Int) -> PremisesRecord
    /// The fleet's devices at the premises at `index`, as installed.
    func devices(_ index: Int) -> [DeviceRecord]
    /// A fleet device's record as installed.
    func device(_ eui: EUI64) -> DeviceRecord?
    func registrations(_ index: Int, mpxn: String) -> [RegistrationRecord]

    /// Where each feeder's, secondary's and primary substation's premises begin (indices,
    /// ascending).
    var feederStarts: [UInt32] { get }
    var secondaryStarts: [UInt32] { get }
    var primaryStarts: [UInt32] { get }
    /// The day the premises at `index` had its meters installed.
    func installedOn(_ index: Int) -> Int32
    /// The electricity distributor's or gas transporter's party for the premises at
    /// `index` (nil: no such meter there), and the meter it reads.
    func network(_ index: Int, fuel: NetworkFuel) -> (party: EUI64, meter: EUI64)?
}

/// A fuel, as network operators' data is split.
public enum NetworkFuel: Sendable {
    case electricity, gas
}

extension FleetRecords {
    /// The feeder, secondary or primary (by its number in `starts`) that the premises at
    /// `index` is in.
    public func group(of index: Int, in starts: [UInt32]) -> Int {
        var low = 0, high = starts.count - 1
        guard high >= 0 else { return 0 }
        while low < high {
            let mid = (low + high + 1) / 2
            if Int(starts[mid]) <= index { low = mid } else { high = mid - 1 }
        }
        return low
    }

    /// The index range of group `number` in `starts`.
    public func range(_ number: Int, in starts: [UInt32]) -> Range<Int>? {
        guard number >= 0, number < starts.count else { return nil }
        let end = number + 1 < starts.count ? Int(starts[number + 1]) : count
        return Int(starts[number])..<end
    }
}
