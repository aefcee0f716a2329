import Devices
import GBCS

/// Security credentials, joins, device logs and the CHF's Sub GHz answers, GBCS payload to MMC elements.
enum DeviceSecurityReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
