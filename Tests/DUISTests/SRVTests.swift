import DUIS
import Foundation
import Testing

/// `SRV`: DUIS's form and nothing else becomes one, and SRVs sort as DUIS lists them.
@Suite struct SRVTests {
    @Test func duisFormIsReadAndWrittenBack() throws {
        for text in ["4.1.1", "8.2", "12.1", "6.20.1", "99.99.99", "1.1"] {
            let srv = try #require(SRV(text), "\(text)")
            #expect(srv.text == text && srv.description == text)
        }
        #expect(SRV("6.2.10").numbers == [6, 2, 10], "a literal is an SRV at once (SE-0213)")
        #expect(SRV("11.3").group == 11)
    }

    @Test func anythingElseIsNotAnSRV() {
        let refused = ["", "4", "4.", ".4", "4..1", "04.1", "4.01", "4.1.1.1", "4.100", "100.1", "4.0", "0.1", "4.1.0", "a.b", "4.1 ", " 4.1",
                       "4,1", "4.1\u{0}", "\u{0664}.\u{0661}", "4.1.1x", "+4.1", "-4.1", "4.1e1", String(repeating: "9", count: 10_000)]
        for text in refused { #expect(SRV(text) == nil, "\(text.prefix(20))") }
        #expect(ServiceCatalogue.variant(text: "4.1.1") != nil)
        #expect(ServiceCatalogue.variant(text: "4.1.9") == nil, "DUIS's form but not a variant DUIS defines")
        #expect(ServiceCatalogue.variant(text: "04.1.1") == nil)
    }

    @Test func srvsSortAsDUISListsThem() {
        let sorted = (["4.10", "4.2", "12.1", "4.1.1", "4.1", "1.1.1", "6.2.10", "6.2.9"] as [SRV]).sorted()
        #expect(sorted.map(\.text) == ["1.1.1", "4.1", "4.1.1", "4.2", "4.10", "6.2.9", "6.2.10", "12.1"])
        #expect(ServiceCatalogue.all.map(\.srv) == ServiceCatalogue.all.map(\.srv).sorted(), "the catalogue is in DUIS's order")
    }

    @Test func codableAsItsText() throws {
        let srv: SRV = "6.15.1"
        let data = try JSONEncoder().encode([srv])
        #expect(String(decoding: data, as: UTF8.self) == #"["6.15.1"]"#)
        #expect(try JSONDecoder().decode([SRV].self, from: data) == [srv])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SRV].self, from: Data(#"["6.15.1.1"]"#.utf8)) }
    }
}
