import DUIS
import Foundation

/// Device data in a form no wire format owns: named elements with text, attributes and
/// children, in the order and with the names of DCC's Message Mapping Catalogue (the
/// parsed form of GBCS). The emulator builds these; a `DeviceCodec` puts them on the wire.
public struct DataNode: Sendable, Hashable {
    public var name: String
    public var attributes: [Attribute]
    public var text: String?
    public var children: [DataNode]

    public struct Attribute: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    public init(_ name: String, text: String? = nil, attributes: [(String, String)] = [], children: [DataNode] = []) {
        self.name = name
        self.text = text
        self.attributes = attributes.map { Attribute(name: $0.0, value: $0.1) }
        self.children = children
    }

    public mutating func add(_ child: DataNode) { children.append(child) }

    public mutating func add(_ name: String, _ text: String, attributes: [(String, String)] = []) {
        children.append(DataNode(name, text: text, attributes: attributes))
    }

    public mutating func add(_ name: String, _ value: some BinaryInteger) { add(name, String(value)) }

    public mutating func addEmpty(_ name: String, attributes: [(String, String)] = []) {
        children.append(DataNode(name, attributes: attributes))
    }

    public mutating func add(_ name: String, _ build: (inout DataNode) -> Void) {
        var node = DataNode(name)
        build(&node)
        children.append(node)
    }

    public func child(_ name: String) -> DataNode? { children.first { $0.name == name } }

    public func all(_ name: String) -> [DataNode] { children.filter { $0.name == name } }

    /// The first descendant with this name, depth first.
    public func find(_ name: String) -> DataNode? {
        for child in children {
            if child.name == name { return child }
            if let found = child.find(name) { return found }
        }
        return nil
    }

    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }
}

/// The header of a device's message: who sent it, to whom, its counter, the service it
/// answers and when.
public struct DeviceMessageHeader: Sendable, Hashable {
    public var originator: EUI64
    public var target: EUI64
    public var counter: UInt64
    public var serviceReference: String?
    public var srv: String?
    public var timestamp: Timestamp
    public var fromGSME: Bool
    public var useCase: String?

    public init(originator: EUI64, target: EUI64, counter: UInt64, serviceReference: String?, srv: String?, timestamp: Timestamp,
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

/// A device's answer to a command: the header and the SRV's `…Rsp` element.
public struct DeviceResponse: Sendable, Hashable {
    public var header: DeviceMessageHeader
    public var body: DataNode

    public init(header: DeviceMessageHeader, body: DataNode) {
        self.header = header
        self.body = body
    }
}

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

/// The boundary between the hub and the devices: how device responses and alerts are put
/// into bytes for DUIS's `GBCSPayload`. gbsm's first codec writes the Message Mapping
/// Catalogue's XML; a GBCS codec replaces it without touching the emulator or the hub.
public protocol DeviceCodec: Sendable {
    /// A short name for logs and documentation.
    var name: String { get }
    func encode(_ response: DeviceResponse) -> [UInt8]
    func encode(_ alert: DeviceAlert) -> [UInt8]
}

/// Writes device messages as `ra:GBCSResponse` documents of the Message Mapping
/// Catalogue (namespace `http://www.dccinterface.co.uk/ResponseAndAlert`, schema 5.4):
/// the header, then `Body/ResponseMessage/SMETSData/<SRV>Rsp` for a response or
/// `Body/DeviceAlertMessage/DeviceAlertContent` for an alert. Written in canonical XML, so
/// the bytes are stable.
public struct MMCXMLCodec: DeviceCodec {
    public static let namespace = "http://www.dccinterface.co.uk/ResponseAndAlert"
    public let name = "MMC XML (ra:GBCSResponse 5.4)"

    public init() {}

    public func encode(_ response: DeviceResponse) -> [UInt8] {
        var writer = CanonicalXMLWriter(capacity: 1024)
        open(&writer, response.header)
        writer.open("ra:Body")
        writer.open("ra:ResponseMessage")
        writer.open("ra:SMETSData")
        write(response.body, to: &writer)
        writer.close()
        writer.close()
        writer.close()
        writer.close()
        return writer.finish()
    }

    public func encode(_ alert: DeviceAlert) -> [UInt8] {
        var writer = CanonicalXMLWriter(capacity: 512)
        open(&writer, alert.header)
        writer.open("ra:Body")
        writer.open("ra:DeviceAlertMessage")
        writer.open("ra:DeviceAlertContent")
        writer.element("ra:GBCSHexAlertCode", alert.hexCode)
        writer.element("ra:AlertDescription", alert.description)
        writer.element("ra:Timestamp", alert.at.iso8601)
        if let payload = alert.payload {
            writer.open("ra:Payload")
            write(payload, to: &writer)
            writer.close()
        }
        writer.close()
        writer.close()
        writer.close()
        writer.close()
        return writer.finish()
    }

    private func open(_ writer: inout CanonicalXMLWriter, _ header: DeviceMessageHeader) {
        writer.open("ra:GBCSResponse", namespaces: [("ra", Self.namespace)], attributes: [("schemaVersion", "5.4")])
        writer.open("ra:Header")
        writer.element("ra:BusinessOriginatorID", header.originator.description)
        writer.element("ra:BusinessTargetID", header.target.description)
        writer.element("ra:OriginatorCounter", String(header.counter))
        if let serviceReference = header.serviceReference { writer.element("ra:ServiceReference", serviceReference) }
        if let srv = header.srv { writer.element("ra:ServiceReferenceVariant", srv) }
        var attributes: [(String, String)] = [("ClockStatus", "reliable")]
        if header.fromGSME { attributes.append(("isFromGSME", "true")) }
        writer.open("ra:Timestamp", attributes: attributes)
        writer.text(header.timestamp.iso8601)
        writer.close()
        writer.close()
    }

    private func write(_ node: DataNode, to writer: inout CanonicalXMLWriter) { Self.write(node, to: &writer) }

    /// Writes a node and its descendants as `ra:` elements (for other MMC writers, such
    /// as Parse and Correlate's).
    public static func write(_ node: DataNode, to writer: inout CanonicalXMLWriter) {
        writer.open("ra:" + node.name, attributes: node.attributes.map { ($0.name, $0.value) })
        if let text = node.text { writer.text(text) }
        for child in node.children { write(child, to: &writer) }
        writer.close()
    }
}

/// Formats device values as the Message Mapping Catalogue writes them.
public enum DeviceFormat {
    /// Litres as cubic metres with three decimals.
    public static func cubicMetres(_ litres: Int64) -> String {
        let sign = litres < 0 ? "-" : ""
        let magnitude = litres.magnitude
        let fraction = String(magnitude % 1000)
        return sign + String(magnitude / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A UTC time of day, `hh:mm:ss.00Z`.
    public static func time(minutes: Int) -> String {
        let hour = (minutes / 60) % 24
        let minute = minutes % 60
        return (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute) + ":00.00Z"
    }

    /// Minutes from midnight of an `xs:time` such as `17:00:00.00Z`.
    public static func minutes(ofTime text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count >= 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }

    public static func bool(_ value: Bool) -> String { value ? "true" : "false" }
}
