import DUIS
import Foundation

/// An asynchronous DUIS message as a user receives it (a Service Response, a device
/// alert or a DCC alert), with the device's payload decoded.
public struct DUISMessage: Sendable {
    public let body: [UInt8]
    public let tree: ElementTree
    /// The decoded `GBCSPayload` (gbsm's Message Mapping Catalogue XML), if any.
    public let device: ElementTree?

    static let generous = XMLParseLimits(maxBytes: 256 << 20, maxDepth: 64, maxElements: 50_000_000)

    public init(_ body: [UInt8]) throws {
        self.body = body
        let document = try XMLDocument.parse(body, limits: Self.generous)
        guard let root = document.root else { throw XMLParseError.malformed(line: 0, message: "no root") }
        tree = ElementTree(root)
        // gbsm's XML form of a device's payload; GBCS bytes (a pre-command, a command for
        // local delivery) are not decoded here.
        if let payload = Self.find(tree, "GBCSPayload")?.text, let data = Data(base64Encoded: payload), data.first == UInt8(ascii: "<") {
            let inner = try XMLDocument.parse(Array(data), limits: Self.generous)
            device = inner.root.map(ElementTree.init)
        } else {
            device = nil
        }
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
    public var srv: String? { tree.descendant("Body", "ResponseMessage", "ServiceReferenceVariant")?.text }
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
