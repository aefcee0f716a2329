import DUIS

/// Writes device messages as `ra:GBCSResponse` documents of the Message Mapping
/// Catalogue (namespace `http://www.dccinterface.co.uk/ResponseAndAlert`, schema 5.4):
/// the header, then `Body/ResponseMessage/SMETSData/<SRV>Rsp` for a response or
/// `Body/DeviceAlertMessage/DeviceAlertContent` for an alert. Written in canonical XML, so
/// the bytes are stable.
public struct MMCXMLCodec: Sendable {
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
        if let srv = header.srv { writer.element("ra:ServiceReferenceVariant", srv.text) }
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
