import DUIS
import Foundation

/// An alert a device raises on its own: a GBCS alert code, its meaning, when, and for
/// some codes a payload.
public struct DeviceAlert: Sendable, Hashable {
    public var header: DeviceMessageHeader
    public var code: UInt16
    public var description: String
    public var at: Timestamp
    public var payload: DataNode?
    /// Who receives it: the supplier, the network operator or both.
    public var recipients: Recipients
    /// The alert as the device sent it to each party, in GBCS (MAC'd for that party, or
    /// signed by the device): written by the device, carried by DCC.
    public var frames: [EUI64: [UInt8]] = [:]

    public struct Recipients: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let supplier = Recipients(rawValue: 1)
        public static let networkOperator = Recipients(rawValue: 2)
        /// The user whose command caused it.
        public static let originator = Recipients(rawValue: 4)
    }

    public init(header: DeviceMessageHeader, code: UInt16, description: String, at: Timestamp, payload: DataNode?, recipients: Recipients) {
        self.header = header
        self.code = code
        self.description = description
        self.at = at
        self.payload = payload
        self.recipients = recipients
    }

    public var hexCode: String { String(format: "%04X", code) }
}
