import Devices
import GBCS

/// The electricity meter's configuration and auxiliary load reads (DLMS COSEM), GBCS payload to MMC elements.
enum ConfigurationReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
