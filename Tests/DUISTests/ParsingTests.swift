import Foundation
import Testing
@testable import DUIS

@Suite struct IdentifierTests {
    @Test func euiRoundTrip() throws {
        let eui = try #require(EUI64("90-b3-d5-1f-30-01-00-00"))
        #expect(eui.description == "90-B3-D5-1F-30-01-00-00")
        #expect(eui.compactHex == "90b3d51f30010000")
        #expect(EUI64(compactHex: "90b3d51f30010000") == eui)
        #expect(EUI64("90b3d51f30010000") == nil, "DUIS writes EUIs with hyphens")
        #expect(EUI64("90-B3-D5-1F-30-01-00") == nil)
        #expect(EUI64("90-B3-D5-1F-30-01-00-0G") == nil)
        #expect(EUI64("90:B3-D5-1F-30-01-00-00") == nil)
    }

    @Test func requestIDRules() throws {
        let id = try #require(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:12884901888"))
        #expect(id.counter == 12_884_901_888)
        #expect(id.responseID == "00-DB-12-34-56-78-90-A0:90-B3-D5-1F-30-01-00-00:12884901888")
        #expect(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:0100") == nil, "leading zeros")
        #expect(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551616") == nil, "over 64 bits")
        #expect(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551615")?.counter == .max)
        #expect(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0") == nil)
        #expect(RequestID("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:-1") == nil)
    }

    @Test func timestamps() throws {
        let t = try #require(Timestamp(xsDateTime: "2022-08-12T06:43:49.844Z"))
        #expect(t.iso8601 == "2022-08-12T06:43:49.844Z")
        #expect(Timestamp(xsDateTime: "2015-01-15T00:00:00.00Z")?.iso8601 == "2015-01-15T00:00:00.000Z")
        #expect(Timestamp(xsDateTime: "2024-02-29T23:00:00+01:00")?.iso8601 == "2024-02-29T22:00:00.000Z")
        #expect(Timestamp(xsDateTime: "2023-02-29T00:00:00Z") == nil)
        #expect(Timestamp(xsDateTime: "2023-01-01") == nil)
        #expect(Timestamp(xsDate: "2015-02-01")?.iso8601 == "2015-02-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: -1).iso8601 == "1969-12-31T23:59:59.999Z")
        let now = Timestamp.now()
        #expect(Timestamp(xsDateTime: now.iso8601) == now)
    }
}

@Suite struct HostileXMLTests {
    func refusal(_ text: String, limits: XMLParseLimits = XMLParseLimits()) -> XMLParseError? {
        do {
            _ = try XMLDocument.parse(text, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func externalEntityIsRefused() {
        let xxe = """
        <?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>
        """
        #expect(refusal(xxe) == .doctypeForbidden)
    }

    @Test func entityExpansionIsRefused() {
        var laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        for level in 1...9 {
            laughs += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1 == 0 ? "" : String(level - 1));", count: 10) + "\">"
        }
        laughs += "]><lolz>&lol9;</lolz>"
        #expect(refusal(laughs) == .doctypeForbidden)
    }

    @Test func externalDTDIsRefused() {
        #expect(refusal("<!DOCTYPE r SYSTEM \"http://example.invalid/x.dtd\"><r/>") == .doctypeForbidden)
    }

    @Test func depthAndSizeLimits() {
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        #expect(refusal(deep) == .tooDeep(limit: 48))
        let wide = "<r>" + String(repeating: "<a/>", count: 30_000) + "</r>"
        #expect(refusal(wide) == .tooManyElements(limit: 10_000))
        #expect(refusal(String(repeating: " ", count: 2_000_000)) == .tooLarge(limit: 1 << 20))
        #expect(refusal("") == .empty)
    }

    @Test func attributeAndNamespaceFloodsAreRefusedCheaply() {
        // libxml2 2.9 compares each attribute with every earlier one: a flood of
        // attributes would cost quadratic time, so it is refused before parsing.
        let attributes = "<r " + (0..<5000).map { "a\($0)=\"\"" }.joined(separator: " ") + "/>"
        #expect(refusal(attributes) == .tooManyAttributes(limit: 32))
        // '=' inside values, comments and CDATA does not count.
        let innocent = "<r a=\"x=y=z=\"><!-- = = = = --><![CDATA[ " + String(repeating: "=", count: 100) + " ]]></r>"
        #expect(refusal(innocent) == nil)
        // Canonicalisation walks every namespace in scope for every element.
        let namespaces = "<r " + (0..<20).map { "xmlns:p\($0)=\"urn:a\"" }.joined(separator: " ") + "><c " +
            (20..<40).map { "xmlns:p\($0)=\"urn:a\"" }.joined(separator: " ") + "/></r>"
        #expect(refusal(namespaces) == .tooManyNamespaces(limit: 32))
    }

    @Test func malformedBinaryAndEncodings() {
        if case .malformed = refusal("<r><unclosed></r>") {} else { Issue.record("unclosed tag accepted") }
        let binary = String(decoding: (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }, as: UTF8.self)
        #expect(refusal(binary) != nil)
        let utf16: [UInt8] = [0xFF, 0xFE, 0x3C, 0x00, 0x72, 0x00, 0x2F, 0x00, 0x3E, 0x00]
        #expect(throws: XMLParseError.self) { try XMLDocument.parse(utf16) }
        #expect(refusal("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>") == .notUTF8("declared encoding ISO-8859-1"))
    }

    @Test func wellFormedDocumentParses() throws {
        let document = try XMLDocument.parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?><r xmlns=\"urn:x\"><a>1</a><!-- c --><b x=\"y\">2</b></r>")
        let root = try #require(document.root)
        #expect(root.localName == "r")
        #expect(root.children.map(\.localName) == ["a", "b"])
        #expect(root.children[1].attribute("x") == "y")
    }
}
