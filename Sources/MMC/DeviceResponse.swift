import DUIS

/// A device's answer to a command: the header and the SRV's `…Rsp` element.
public struct DeviceResponse: Sendable, Hashable {
    public var header: DeviceMessageHeader
    public var body: DataNode

    public init(header: DeviceMessageHeader, body: DataNode) {
        self.header = header
        self.body = body
    }
}
