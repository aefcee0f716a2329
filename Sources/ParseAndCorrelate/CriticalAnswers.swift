import DUIS
import Devices
import GBCS

/// The answers to critical commands (signed by the device), GBCS payload positions to MMC
/// elements.
enum CriticalAnswers {
    static let table: [String: MMCMapping.Mapper] = [:]
}
