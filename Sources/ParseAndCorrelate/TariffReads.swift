import Devices
import GBCS

/// Tariffs (DLMS ECS24, ECS24b; GBZ GCS21f), GBCS payload to MMC elements.
enum TariffReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
