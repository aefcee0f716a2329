import Storage

/// GB geography the hub needs: the 14 DNO licence areas (with their MPAN distributor
/// IDs), the CSP region each implies (Arqiva's radio mesh serves the North region:
/// northern England, Scotland and Wales; cellular the Central and South regions), and
/// which licence area a postcode area lies in (by the predominant distributor of the area).
public enum Geography {
    public struct LicenceArea: Sendable, Hashable {
        public let distributorID: Int
        public let name: String
        public let region: CSPRegion
    }

    public static let licenceAreas: [LicenceArea] = [
        .init(distributorID: 10, name: "Eastern", region: .central),
        .init(distributorID: 11, name: "East Midlands", region: .central),
        .init(distributorID: 12, name: "London", region: .south),
        .init(distributorID: 13, name: "Merseyside and North Wales", region: .north),
        .init(distributorID: 14, name: "West Midlands", region: .central),
        .init(distributorID: 15, name: "North East", region: .north),
        .init(distributorID: 16, name: "North West", region: .north),
        .init(distributorID: 17, name: "North Scotland", region: .north),
        .init(distributorID: 18, name: "South Scotland", region: .north),
        .init(distributorID: 19, name: "South Eastern", region: .south),
        .init(distributorID: 20, name: "Southern", region: .south),
        .init(distributorID: 21, name: "South Wales", region: .north),
        .init(distributorID: 22, name: "South Western", region: .south),
        .init(distributorID: 23, name: "Yorkshire", region: .north),
    ]

    private static let areasByPostcode: [String: Int] = {
        let table: [Int: [String]] = [
            10: ["AL", "CB", "CM", "CO", "EN", "HP", "IG", "IP", "LU", "NR", "RM", "SG", "SS", "WD"],
            11: ["DE", "LE", "LN", "MK", "NG", "NN", "PE"],
            12: ["BR", "CR", "E", "EC", "HA", "KT", "N", "NW", "SE", "SM", "SW", "TW", "UB", "W", "WC"],
            13: ["CH", "CW", "L", "LL", "SY"],
            14: ["B", "CV", "DY", "GL", "HR", "ST", "TF", "WR", "WS", "WV"],
            15: ["DH", "DL", "NE", "SR", "TS"],
            16: ["BB", "BL", "CA", "FY", "LA", "M", "OL", "PR", "SK", "WA", "WN"],
            17: ["AB", "DD", "HS", "IV", "KW", "PH", "ZE"],
            18: ["DG", "EH", "FK", "G", "KA", "KY", "ML", "PA", "TD"],
            19: ["BN", "CT", "DA", "ME", "RH", "TN"],
            20: ["BH", "GU", "OX", "PO", "RG", "SL", "SN", "SO", "SP"],
            21: ["CF", "LD", "NP", "SA"],
            22: ["BA", "BS", "DT", "EX", "PL", "TA", "TQ", "TR"],
            23: ["BD", "DN", "HD", "HG", "HU", "HX", "LS", "S", "WF", "YO"],
        ]
        var result: [String: Int] = [:]
        for (id, areas) in table { for area in areas { result[area] = id } }
        return result
    }()

    /// The postcode area: the leading letters of the outward code (`M22 0RR` → `M`).
    public static func postcodeArea(_ postcode: String) -> String? {
        let letters = postcode.uppercased().prefix { $0.isLetter }
        guard !letters.isEmpty, letters.count <= 2 else { return nil }
        return String(letters)
    }

    public static func licenceArea(postcode: String) -> LicenceArea? {
        guard let area = postcodeArea(postcode), let id = areasByPostcode[area] else { return nil }
        return licenceAreas.first { $0.distributorID == id }
    }

    public static func licenceArea(distributorID: Int) -> LicenceArea? {
        licenceAreas.first { $0.distributorID == distributorID }
    }

    /// The SM WAN technology of a CSP region: Arqiva's long range radio (868 MHz mesh) in
    /// the North, cellular in the Central and South regions.
    public static func wanTechnology(_ region: CSPRegion) -> String {
        region == .north ? "Long Range Radio" : "Cellular"
    }
}
