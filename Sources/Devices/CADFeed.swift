import DUIS
import LoadModel
import MMC

/// One message of a premises' consumer feed over the HAN.
public struct CADReading: Sendable, Hashable {
    public enum Fuel: String, Sendable { case electricity, gas }

    public var at: Timestamp
    public var fuel: Fuel
    /// Instantaneous import, W (electricity only).
    public var watts: Int?
    /// The import register: Wh for electricity, litres for gas.
    public var register: Int64

    /// JSON, as a consumer's device would receive it.
    public var json: String {
        var text = "{\"time\":\"\(at.iso8601)\",\"fuel\":\"\(fuel.rawValue)\""
        if let watts { text += ",\"demand_w\":\(watts)" }
        if fuel == .electricity {
            text += ",\"import_kwh\":" + DeviceFormat.cubicMetres(register)
        } else {
            text += ",\"volume_m3\":" + DeviceFormat.cubicMetres(register)
        }
        return text + "}"
    }
}

/// What the consumer's own devices see (an IHD or a CAD paired over the HAN): electricity
/// every 10 seconds (demand and the import register) and gas every 30 minutes (the
/// volume register as the gas meter last reported it). Computed from the same household
/// and meter state as the meters' own logs, so the two always agree.
public struct CADFeed: Sendable {
    public static let electricityInterval: Int64 = 10_000
    public static let gasInterval: Int64 = 1_800_000

    public let engine: MeterEngine
    public let model: PremisesModel
    public let state: PremisesState

    public init(engine: MeterEngine, model: PremisesModel, state: PremisesState) {
        self.engine = engine
        self.model = model
        self.state = state
    }

    /// The electricity message at an instant.
    public func electricity(at time: Timestamp) -> CADReading {
        let (checkpoint, readings, completed) = engine.snapshot(model, state, at: time)
        var register = checkpoint.importWh
        if completed < 48 {
            // The half hour under way, as far as it has gone.
            let half = Double(CalendarDay.millisecondsPerHalfHour)
            let elapsed = (Double(time.timeOfDay.milliseconds) - Double(completed) * half) / half
            register += Int64((Double(readings.importWh[completed]) * elapsed).rounded(.down))
        }
        return CADReading(at: time, fuel: .electricity, watts: engine.activePower(model, state, at: time), register: register)
    }

    /// The gas message at the half hour (gas meters report every 30 minutes).
    public func gas(at time: Timestamp) -> CADReading? {
        guard model.hasGas else { return nil }
        let aligned = Timestamp(milliseconds: time.milliseconds - time.milliseconds % Self.gasInterval)
        let (checkpoint, _, _) = engine.snapshot(model, state, at: aligned)
        return CADReading(at: aligned, fuel: .gas, watts: nil, register: checkpoint.gasLitres)
    }

    /// Every message from `start` (inclusive) to `end` (exclusive), in time order.
    public func messages(from start: Timestamp, to end: Timestamp, visit: (CADReading) -> Void) {
        var time = Timestamp(milliseconds: (start.milliseconds + Self.electricityInterval - 1) / Self.electricityInterval * Self.electricityInterval)
        while time < end {
            visit(electricity(at: time))
            if time.milliseconds % Self.gasInterval == 0, let gas = gas(at: time) { visit(gas) }
            time = time.adding(milliseconds: Self.electricityInterval)
        }
    }
}
