import Devices
import GBCS

/// The CHF's Sub GHz configuration and channel log, the gas meter's identity and device security credentials (CS02f), GBCS payload to MMC elements.
enum SubGHzAndIdentityReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
