import DUIS

/// The header of a device's message: who sent it, to whom, its counter, the service it
/// answers and when.
public struct DeviceMessageHeader: Sendable, Hashable {
    public var originator: EUI64
    public var target: EUI64
    public var counter: UInt64
    public var serviceReference: String?
    public var srv: SRV?
    public var timestamp: Timestamp
    public var fromGSME: Bool
    public var useCase: String?

    public init(originator: EUI64, target: EUI64, counter: UInt64, serviceReference: String?, srv: SRV?, timestamp: Timestamp,
                fromGSME: Bool = false, useCase: String? = nil) {
        self.originator = originator
        self.target = target
        self.counter = counter
        self.serviceReference = serviceReference
        self.srv = srv
        self.timestamp = timestamp
        self.fromGSME = fromGSME
        self.useCase = useCase
    }
}
