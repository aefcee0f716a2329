import Devices
import DUIS

/// GB geography the hub needs, from `Devices`: the 14 DNO licence areas with their MPAN
/// distributor IDs and the CSP region each lies in.
public enum Geography {
    public typealias LicenceArea = Devices.LicenceArea

    public static var licenceAreas: [LicenceArea] { LicenceArea.all }

    public static func licenceArea(postcode: String) -> LicenceArea? { LicenceArea.area(postcode: postcode) }

    public static func licenceArea(distributorID: Int) -> LicenceArea? { LicenceArea.area(distributorID: distributorID) }

    /// The SM WAN technology of a CSP region.
    public static func wanTechnology(_ region: CSPRegion) -> String { region.wanTechnology }
}
