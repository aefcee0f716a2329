import DUIS
import Foundation
import Testing

/// Checks what gbsm produces against DCC's schemas: every DUIS Response against DUIS 5.4,
/// and every MMC payload it carries in `sr:GBCSPayload` against MMC 5.4. The test
/// clients call it on each answer they receive, so every test that talks to a hub checks
/// every answer (when the reference data is present).
public enum SchemaCheck {
    /// What does not conform, one line per problem; empty when all conforms (or when
    /// the schemas are absent, or the body is not a DUIS Response).
    public static func problems(in body: [UInt8]) -> [String] {
        guard let schemas = Reference.schemas,
              let document = try? XMLDocument.parse(body, limits: .duis), let root = document.root,
              root.localName == "Response" else { return [] }
        var problems: [String] = []
        if let violation = schemas.validateDUIS(document) { problems.append("DUIS 5.4: \(violation)") }
        let tree = ElementTree(root)
        for payload in tree.all("GBCSPayload") {
            guard let bytes = Data(base64Encoded: payload.text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  bytes.first == UInt8(ascii: "<") else { continue }
            do {
                let mmc = try XMLDocument.parse(Array(bytes), limits: .duis)
                if let violation = schemas.validateMMC(mmc) { problems.append("MMC 5.4: \(violation)") }
            } catch {
                problems.append("MMC payload unreadable: \(error)")
            }
        }
        return problems
    }

    /// What in an MMC document (an `ra:GBCSResponse`) does not conform to MMC 5.4; empty
    /// when it conforms or the schemas are absent.
    public static func mmcProblems(in document: [UInt8]) -> [String] {
        guard let schemas = Reference.schemas else { return [] }
        do {
            let mmc = try XMLDocument.parse(document, limits: .duis)
            return schemas.validateMMC(mmc).map { ["MMC 5.4: \($0)"] } ?? []
        } catch {
            return ["MMC document unreadable: \(error)"]
        }
    }

    /// Records an issue in the current test for each problem.
    public static func expectConforms(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        for problem in problems(in: body) {
            Issue.record("gbsm produced a message DCC's schema refuses: \(problem)\n\(String(decoding: body.prefix(600), as: UTF8.self))",
                         sourceLocation: sourceLocation)
        }
    }
}

extension ElementTree {
    /// Every descendant named `name` (local name), depth first.
    func all(_ name: String) -> [ElementTree] {
        var found: [ElementTree] = []
        var stack = [self]
        while let node = stack.popLast() {
            if node.name == name { found.append(node) }
            stack.append(contentsOf: node.children.reversed())
        }
        return found
    }
}
