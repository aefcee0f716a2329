/// One of the 14 DNO licence areas: its MPAN distributor ID, its operator, the CSP region
/// it lies in, its postcode areas, its share of GB homes and its gas networks.
public struct LicenceArea: Sendable, Hashable {
    public let distributorID: Int
    public let name: String
    public let operatorGroup: NetworkOperator
    public let region: CSPRegion
    /// Share of GB domestic premises, percent.
    public let weight: Double
    /// The postcode areas the licence area mostly covers, in the order homes are laid out.
    public let postcodeAreas: [String]
    /// The gas transporter of the area's postcode areas (default, then exceptions).
    public let gasTransporter: GasTransporter
    public let gasTransporterByPostcode: [String: GasTransporter]

    /// The climate region (LoadModel's index): the licence area's position in the table.
    public var index: Int { distributorID - 10 }

    public func gasTransporter(postcodeArea: String) -> GasTransporter {
        gasTransporterByPostcode[postcodeArea] ?? gasTransporter
    }

    /// The 14 licence areas, distributor 10 to 23. Shares of homes follow the DNOs'
    /// customer numbers; Arqiva's long range radio (the North region) covers northern
    /// England, Scotland and Wales, cellular the Central and South regions.
    public static let all: [LicenceArea] = [
        LicenceArea(distributorID: 10, name: "Eastern", operatorGroup: .ukpn, region: .central, weight: 12.2,
                    postcodeAreas: ["CB", "IP", "NR", "CO", "CM", "SS", "LU", "SG", "AL", "HP", "WD", "EN", "IG", "RM"],
                    gasTransporter: .cadent, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 11, name: "East Midlands", operatorGroup: .nged, region: .central, weight: 8.9,
                    postcodeAreas: ["NG", "LE", "DE", "LN", "NN", "MK", "PE"], gasTransporter: .cadent, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 12, name: "London", operatorGroup: .ukpn, region: .south, weight: 7.8,
                    postcodeAreas: ["E", "EC", "N", "NW", "W", "WC", "HA", "UB", "SE", "SW", "BR", "CR", "KT", "SM", "TW"],
                    gasTransporter: .cadent,
                    gasTransporterByPostcode: ["SE": .sgn, "SW": .sgn, "BR": .sgn, "CR": .sgn, "KT": .sgn, "SM": .sgn, "TW": .sgn]),
        LicenceArea(distributorID: 13, name: "Merseyside and North Wales", operatorGroup: .spen, region: .north, weight: 5.0,
                    postcodeAreas: ["L", "CH", "CW", "LL", "SY"], gasTransporter: .cadent, gasTransporterByPostcode: ["LL": .wwu, "SY": .wwu]),
        LicenceArea(distributorID: 14, name: "West Midlands", operatorGroup: .nged, region: .central, weight: 8.3,
                    postcodeAreas: ["B", "CV", "DY", "WS", "WV", "ST", "TF", "WR", "HR", "GL"], gasTransporter: .cadent,
                    gasTransporterByPostcode: ["GL": .wwu, "HR": .wwu]),
        LicenceArea(distributorID: 15, name: "North East", operatorGroup: .npg, region: .north, weight: 5.4,
                    postcodeAreas: ["NE", "SR", "DH", "TS", "DL"], gasTransporter: .ngn, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 16, name: "North West", operatorGroup: .enwl, region: .north, weight: 8.1,
                    postcodeAreas: ["M", "SK", "OL", "BL", "WN", "WA", "PR", "BB", "FY", "LA", "CA"], gasTransporter: .cadent,
                    gasTransporterByPostcode: ["CA": .ngn]),
        LicenceArea(distributorID: 17, name: "North Scotland", operatorGroup: .ssen, region: .north, weight: 2.7,
                    postcodeAreas: ["AB", "IV", "PH", "DD", "KW", "HS", "ZE"], gasTransporter: .sgn, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 18, name: "South Scotland", operatorGroup: .spen, region: .north, weight: 6.7,
                    postcodeAreas: ["G", "EH", "PA", "ML", "KA", "FK", "KY", "DG", "TD"], gasTransporter: .sgn, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 19, name: "South Eastern", operatorGroup: .ukpn, region: .south, weight: 7.8,
                    postcodeAreas: ["BN", "TN", "ME", "CT", "RH", "DA"], gasTransporter: .sgn, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 20, name: "Southern", operatorGroup: .ssen, region: .south, weight: 10.2,
                    postcodeAreas: ["SO", "PO", "RG", "OX", "GU", "BH", "SN", "SL", "SP"], gasTransporter: .sgn, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 21, name: "South Wales", operatorGroup: .nged, region: .north, weight: 3.7,
                    postcodeAreas: ["CF", "SA", "NP", "LD"], gasTransporter: .wwu, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 22, name: "South Western", operatorGroup: .nged, region: .south, weight: 5.4,
                    postcodeAreas: ["BS", "EX", "PL", "TA", "BA", "TQ", "TR", "DT"], gasTransporter: .wwu, gasTransporterByPostcode: [:]),
        LicenceArea(distributorID: 23, name: "Yorkshire", operatorGroup: .npg, region: .north, weight: 7.8,
                    postcodeAreas: ["LS", "S", "BD", "HU", "DN", "WF", "HD", "HX", "YO", "HG"], gasTransporter: .ngn, gasTransporterByPostcode: [:]),
    ]

    public static func area(distributorID: Int) -> LicenceArea? {
        guard (10...23).contains(distributorID) else { return nil }
        return all[distributorID - 10]
    }

    private static let byPostcodeArea: [String: Int] = {
        var result: [String: Int] = [:]
        for area in all { for postcode in area.postcodeAreas { result[postcode] = area.distributorID } }
        return result
    }()

    /// The postcode area: the leading letters of the outward code (`M22 0RR` → `M`).
    public static func postcodeArea(_ postcode: String) -> String? {
        let letters = postcode.uppercased().prefix { $0.isLetter }
        guard !letters.isEmpty, letters.count <= 2 else { return nil }
        return String(letters)
    }

    /// The licence area a postcode lies in (by the predominant distributor of its area).
    public static func area(postcode: String) -> LicenceArea? {
        guard let letters = postcodeArea(postcode), let id = byPostcodeArea[letters] else { return nil }
        return area(distributorID: id)
    }
}
