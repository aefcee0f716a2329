import Devices
import DUIS
import GBCS
import Hub
import Logging
import MMC

/// How an emulated device sends an alert: to each party it is for (the user whose command
/// caused it, where the alert names the originator, and the parties its premises' meters
/// are registered to, whom the device trusts in those roles: `AlertRouting`), written in
/// GBCS for each (`GBCSAlertWriter`: MAC'd for the party, or signed by the device for a
/// critical use case's outcome). DCC carries `DeviceAlert.frames` as they are.
struct DeviceAlertSender: Sendable {
    let writer: GBCSAlertWriter
    let inventory: Inventory
    let logger: Logger

    init(keys: any GBCSKeyStore, inventory: Inventory, logger: Logger) {
        writer = GBCSAlertWriter(keys: keys)
        self.inventory = inventory
        self.logger = logger
    }

    /// `alert` with its GBCS for each of its recipients; `originator`: the user whose
    /// command caused it, if any.
    func addressed(_ alert: DeviceAlert, originator: EUI64?) -> DeviceAlert {
        var alert = alert
        let device = inventory.device(alert.header.originator)
        let recipients = device.map { AlertRouting.recipients(alert, device: $0, originator: originator, inventory: inventory) }
            ?? (alert.recipients.contains(.originator) ? originator.map { [$0] } ?? [] : [])
        for recipient in recipients {
            do {
                alert.frames[recipient] = try writer.frame(alert, recipient: recipient, counter: alert.header.counter, deviceType: device?.type).encode()
            } catch {
                logger.error("device alert: \(alert.hexCode) from \(alert.header.originator) could not be written in GBCS for \(recipient) (\(error)); DCC sends its MMC")
            }
        }
        return alert
    }

    /// A held command's outcome as DCC records it, its alerts addressed.
    func report(_ outcome: DeviceEmulator.HeldOutcome) -> HeldCommandReport {
        var report = HeldCommandReport(outcome)
        report.alerts = report.alerts.map { addressed($0, originator: report.originator) }
        return report
    }
}
