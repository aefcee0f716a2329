import DUIS
import Foundation
import GBCS
import ParseAndCorrelate

/// An asynchronous DUIS message as a user receives it (a Service Response, a device
/// alert or a DCC alert), with the device's payload decoded.
public struct DUISMessage: Sendable {
    public let body: [UInt8]
    public let tree: ElementTree
    /// The decoded `GBCSPayload` (gbsm's Message Mapping Catalogue XML), if any.
    public let device: ElementTree?

    static let generous = XMLParseLimits(maxBytes: 256 << 20, maxDepth: 64, maxElements: 50_000_000)

    /// The device's GBCS message in `GBCSPayload`, when it carries one (not MMC XML).
    public let gbcs: GBCSFrame?
    /// Why Parse and Correlate could not open or map the GBCS message, when it could not.
    public let deviceProblem: String?
    /// The MMC XML Parse and Correlate made of the GBCS message.
    public let parsedXML: [UInt8]?

    /// Reads a message; with `keys`, a device answer or alert that came as GBCS is verified
    /// and decoded by Parse and Correlate (as the user's own would) into `device`.
    public init(_ body: [UInt8], keys: (any GBCSKeyStore)? = nil) throws {
        self.body = body
        let document = try XMLDocument.parse(body, limits: Self.generous)
        guard let root = document.root else { throw XMLParseError.malformed(line: 0, message: "no root") }
        tree = ElementTree(root)
        // gbsm's XML form of a device's payload; GBCS bytes (a pre-command, a command for
        // local delivery) are not decoded here.
        var frame: GBCSFrame?
        var problem: String?
        var parsed: [UInt8]?
        if let payload = Self.find(tree, "GBCSPayload")?.text, let data = Data(base64Encoded: payload), data.first == UInt8(ascii: "<") {
            let inner = try XMLDocument.parse(Array(data), limits: Self.generous)
            device = inner.root.map(ElementTree.init)
        } else if let payload = Self.find(tree, "GBCSPayload")?.text, let data = Data(base64Encoded: payload),
                  Self.find(tree, "PreCommand") == nil, Self.find(tree, "LocalCommand") == nil,
                  let decoded = try? GBCSFrame.decode(Array(data)) {
            frame = decoded
            var opened: ElementTree?
            if let keys {
                do {
                    let message = try ParsedMessage(frame: decoded, keys: keys)
                    let srv = tree.descendant("Body", "ResponseMessage", "ServiceReferenceVariant").flatMap { SRV($0.text) }
                    if let xml = try MMCMapping.xml(for: message, srv: decoded.cra == .response ? srv : nil) {
                        parsed = xml
                        // The tree is read while its document is alive.
                        let document = try XMLDocument.parse(xml, limits: Self.generous)
                        opened = document.root.map(ElementTree.init)
                        withExtendedLifetime(document) {}
                    } else {
                        problem = "Parse and Correlate has no mapping for message code \(decoded.messageCode)"
                    }
                } catch {
                    problem = "\(error)"
                }
            }
            device = opened
        } else {
            device = nil
        }
        gbcs = frame
        deviceProblem = problem
        parsedXML = parsed
    }

    public static func find(_ tree: ElementTree, _ name: String) -> ElementTree? {
        if tree.name == name { return tree }
        for child in tree.children {
            if let found = find(child, name) { return found }
        }
        return nil
    }

    public var code: String? { tree.descendant("Header", "ResponseCode")?.text }
    public var requestID: String? { tree.descendant("Header", "RequestID")?.text }
    public var responseID: String? { tree.descendant("Header", "ResponseID")?.text }
    public var deviceAlertCode: String? { tree.descendant("Body", "DeviceAlertMessage", "AlertCode")?.text }
    public var dccAlertCode: String? { tree.descendant("Body", "DCCAlertMessage", "DCCAlertCode")?.text }
    public var customerIdentificationNumber: String? { Self.find(tree, "CustomerIdentificationNumber")?.text }
    public var scheduleID: String? { tree.descendant("Body", "ResponseMessage", "DSPScheduledMessage", "DSPScheduleID")?.text }
    public var srv: SRV? { tree.descendant("Body", "ResponseMessage", "ServiceReferenceVariant").flatMap { SRV($0.text) } }
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The device's `…Rsp` element.
    public var rsp: ElementTree? { device?.descendant("Body", "ResponseMessage", "SMETSData")?.children.first }

    /// Every text of elements with this name in the device's payload.
    public func values(_ name: String) -> [String] {
        var result: [String] = []
        func walk(_ node: ElementTree) {
            if node.name == name, node.children.isEmpty { result.append(node.text) }
            node.children.forEach(walk)
        }
        if let device { walk(device) }
        return result
    }
}
