import Devices
import GBCS

/// The electricity meter's register, billing, daily and profile log reads (DLMS COSEM), GBCS payload to MMC elements.
enum ElectricityLogReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
