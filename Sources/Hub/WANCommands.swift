import DUIS
import GBCS
import Storage
import Synchronization

/// The GBCS commands DCC sends for non-critical device requests: built from the request
/// (`GBCSCommandBuilder`) and MAC'd by DCC's access control broker for the device. The
/// device boundary builds and MACs each when it sends it; the gateway builds the copy for
/// local delivery of command variants 2 and 3 (a command gbsm does not build goes without
/// its GBCS, and has no local copy: E17).
final class WANCommands: Sendable {
    let keys: SMKIRepository
    let inventory: Inventory
    /// Firmware images distributed to devices (11.1): a device holds its image by the
    /// time an activation (11.3) reaches it.
    let firmware: FirmwareBook
    /// The access control broker's own originator counter, for the commands it sends on
    /// users' behalf: rising, from the time in microseconds (above any used before a restart).
    private let brokerCounter: Atomic<UInt64>

    init(keys: SMKIRepository, inventory: Inventory, firmware: FirmwareBook) {
        self.keys = keys
        self.inventory = inventory
        self.firmware = firmware
        brokerCounter = Atomic(Timestamp.now().microsecondCounter)
    }

    /// What becomes of a request's command.
    enum Built {
        case command(GBCSFrame)
        /// gbsm does not build this command yet (its SRV, or this use case of it): the
        /// request runs on the device without its GBCS.
        case notBuilt(String)
        /// A value of the request that its command cannot carry: DCC refuses the request,
        /// and the device never sees it (it would act on a value DCC did not check).
        case refused(Refusal)

        var frame: GBCSFrame? { if case .command(let frame) = self { return frame } else { return nil } }
    }

    /// The command of a request, not MAC'd. `customerIdentificationNumber` is the CIN DCC
    /// made for a 9.1 request.
    func command(srv: SRV, body: ElementTree, user: EUI64, roles: UserRoleSet, device: DeviceRecord, counter: UInt64,
                 customerIdentificationNumber: String? = nil) -> Built {
        // The other device a command names: a join's, or the device 8.11 adds to the comms
        // hub's log (its DeviceID; the target is the hub).
        let otherElement = srv == "8.11" ? "DeviceID" : "OtherDeviceID"
        let other = body.value(otherElement).flatMap { EUI64($0) }.flatMap { eui -> CriticalCommandBuilder.OtherDevice? in
            inventory.device(eui).map { CriticalCommandBuilder.OtherDevice(type: $0.type, keyAgreementCertificate: nil) }
        }
        do {
            guard let frame = try GBCSCommandBuilder.command(srv: srv, body: body, user: user, device: device.eui, deviceType: device.type, counter: counter,
                                                             brokerCounter: brokerCounter.wrappingAdd(1, ordering: .relaxed).newValue, otherDevice: other,
                                                             roles: roles, customerIdentificationNumber: customerIdentificationNumber,
                                                             signer: { [keys] party in keys.signingKey(of: party) })
            else { return .notBuilt("gbsm does not build the GBCS command of \(srv) yet") }
            return .command(frame)
        } catch {
            return error.unsupported ? .notBuilt(error.reason) : .refused(Refusal(.E12, rule: .commandValue, error.reason))
        }
    }

    /// A customer identification number for 9.1: four digits, made by DCC.
    static func makeCustomerIdentificationNumber() -> String {
        let value = UInt16.random(in: 0...9999)
        return String(repeating: "0", count: 4 - String(value).count) + String(value)
    }

    /// The command MAC'd for its device, as it goes over the SM WAN (or to the HAN for
    /// local delivery).
    func maced(_ frame: GBCSFrame) throws(Refusal) -> [UInt8] {
        guard let key = frame.macKey(keys: keys) else {
            throw Refusal(.E20, rule: .deviceKeys, "no KA keys for DCC's access control broker and \(frame.recipient)")
        }
        do {
            return try frame.maced(with: key).encode()
        } catch {
            throw Refusal(.E20, rule: .deviceKeys, "the command could not be MAC'd for \(frame.recipient): \(error)")
        }
    }
}
