import Testing
@testable import Hub

@Suite struct GeographyTests {
    @Test func postcodeAreasMapToRegions() {
        #expect(Geography.licenceArea(postcode: "M22 0RR")?.region == .north)
        #expect(Geography.licenceArea(postcode: "SW1A 1AA")?.region == .south)
        #expect(Geography.licenceArea(postcode: "B1 1AA")?.name == "West Midlands")
        #expect(Geography.licenceArea(postcode: "EH1 1AA")?.distributorID == 18)
        #expect(Geography.licenceArea(postcode: "BT1 1AA") == nil, "Northern Ireland is not served by DCC")
        #expect(Geography.licenceAreas.count == 14)
    }
}
