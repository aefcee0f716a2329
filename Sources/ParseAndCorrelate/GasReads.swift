import Devices
import GBCS

/// The gas meter's and GPF's answers (GBZ, ZSE clusters), GBCS payload to MMC elements.
enum GasReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
