import CLibXML2
import Crypto

/// The canonicalisation algorithms XML signatures in DUIS use.
public enum CanonicalizationAlgorithm: Sendable, Equatable {
    /// Canonical XML 1.0, without comments.
    case inclusive
    /// Exclusive XML Canonicalization 1.0, without comments.
    case exclusive

    public static let inclusiveURI = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    public static let exclusiveURI = "http://www.w3.org/2001/10/xml-exc-c14n#"

    public init?(uri: String) {
        switch uri {
        case Self.inclusiveURI: self = .inclusive
        case Self.exclusiveURI: self = .exclusive
        default: return nil
        }
    }

    public var uri: String {
        switch self {
        case .inclusive: return Self.inclusiveURI
        case .exclusive: return Self.exclusiveURI
        }
    }

    var mode: Int32 {
        switch self {
        case .inclusive: return Int32(XML_C14N_1_0.rawValue)
        case .exclusive: return Int32(XML_C14N_EXCLUSIVE_1_0.rawValue)
        }
    }
}

/// Where canonical bytes go: straight into a SHA-256 hash, or collected.
final class CanonicalSink {
    private enum Target {
        case hash(SHA256)
        case collect([UInt8])
    }

    private var target: Target

    init(hashing: Bool) {
        target = hashing ? .hash(SHA256()) : .collect([])
    }

    func append(_ buffer: UnsafeRawBufferPointer) {
        switch target {
        case .hash(var hasher):
            hasher.update(bufferPointer: buffer)
            target = .hash(hasher)
        case .collect(var bytes):
            target = .collect([])
            bytes.append(contentsOf: buffer)
            target = .collect(bytes)
        }
    }

    /// The SHA-256 of what was written, for a hashing sink.
    var hasher: SHA256? {
        if case .hash(let hasher) = target { return hasher }
        return nil
    }

    /// The bytes written, for a collecting sink.
    var bytes: [UInt8]? {
        if case .collect(let bytes) = target { return bytes }
        return nil
    }
}

private let sinkWrite: xmlOutputWriteCallback = { context, buffer, length in
    guard let context, let buffer, length > 0 else { return 0 }
    let sink = Unmanaged<CanonicalSink>.fromOpaque(context).takeUnretainedValue()
    sink.append(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
    return length
}

private let sinkClose: xmlOutputCloseCallback = { _ in 0 }

/// Node-set filter for a subtree: an element and everything beneath it, including its
/// attributes and namespace nodes. libxml2 lays out the `type` and `parent` fields of
/// namespace, attribute and element nodes at the same offsets, which this relies on.
private let insideSubtree: xmlC14NIsVisibleCallback = { userData, node, parent in
    guard let userData, let node else { return 0 }
    let root = userData.assumingMemoryBound(to: xmlNode.self)
    var current: xmlNodePtr? = node.pointee.type == XML_NAMESPACE_DECL ? parent : node
    while let element = current {
        if element == root { return 1 }
        current = element.pointee.parent
    }
    return 0
}

public enum CanonicalizationError: Error, Sendable {
    case failed
}

extension XMLDocument {
    /// Canonicalises the whole document without comments, leaving out `excluded` (the
    /// enveloped-signature transform), and feeds the octets to `sink`.
    func canonicalizeDocument(excluding excluded: XMLNode?, algorithm: CanonicalizationAlgorithm, into sink: CanonicalSink) throws(CanonicalizationError) {
        var reattach: (() -> Void)?
        if let excluded {
            let node = excluded.pointer
            let parent = node.pointee.parent
            let next = node.pointee.next
            xmlUnlinkNode(node)
            reattach = {
                if let next {
                    xmlAddPrevSibling(next, node)
                } else if let parent {
                    xmlAddChild(parent, node)
                }
            }
        }
        defer { reattach?() }
        try execute(algorithm: algorithm, filter: nil, userData: nil, into: sink)
    }

    /// Canonicalises one element's subtree as a document subset (how SignedInfo is
    /// canonicalised before its signature is checked).
    func canonicalizeSubtree(_ element: XMLNode, algorithm: CanonicalizationAlgorithm, into sink: CanonicalSink) throws(CanonicalizationError) {
        try execute(algorithm: algorithm, filter: insideSubtree, userData: UnsafeMutableRawPointer(element.pointer), into: sink)
    }

    private func execute(algorithm: CanonicalizationAlgorithm, filter: xmlC14NIsVisibleCallback?, userData: UnsafeMutableRawPointer?, into sink: CanonicalSink) throws(CanonicalizationError) {
        _ = libxmlInitialised
        let context = Unmanaged.passUnretained(sink).toOpaque()
        guard let output = xmlOutputBufferCreateIO(sinkWrite, sinkClose, context, nil) else { throw .failed }
        let status = xmlC14NExecute(doc, filter, userData, algorithm.mode, nil, 0, output)
        let closed = xmlOutputBufferClose(output)
        withExtendedLifetime(sink) {}
        if status < 0 || closed < 0 { throw .failed }
    }

    /// Canonical octets of the document without comments (for tests and tools).
    public func canonicalBytes(algorithm: CanonicalizationAlgorithm = .inclusive, excluding excluded: XMLNode? = nil) throws(CanonicalizationError) -> [UInt8] {
        let sink = CanonicalSink(hashing: false)
        try canonicalizeDocument(excluding: excluded, algorithm: algorithm, into: sink)
        return sink.bytes ?? []
    }

    public func canonicalBytes(of element: XMLNode, algorithm: CanonicalizationAlgorithm) throws(CanonicalizationError) -> [UInt8] {
        let sink = CanonicalSink(hashing: false)
        try canonicalizeSubtree(element, algorithm: algorithm, into: sink)
        return sink.bytes ?? []
    }
}
