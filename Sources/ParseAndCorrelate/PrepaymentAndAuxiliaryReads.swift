import Devices
import GBCS

/// Prepayment configuration, the ALCS event log and the auxiliary controller's reads, GBCS payload to MMC elements.
enum PrepaymentAndAuxiliaryReads {
    static let table: [String: MMCMapping.Mapper] = [:]
}
