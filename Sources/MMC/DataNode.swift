import DUIS

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

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
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
