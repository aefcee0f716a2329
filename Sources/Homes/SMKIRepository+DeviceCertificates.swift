import Devices
import DUIS
import Hub
import SMKI

/// The devices' installation certificates, as the emulated devices answer 6.24.2 with
/// them (until a 6.15.2 replaces one).
extension SMKIRepository: DeviceCertificateSource {
    public func deviceCertificate(of device: EUI64, usage: Keystore.Usage) -> [UInt8]? {
        guard let record = search(device: device).first(where: { $0.usage == usage }) else { return nil }
        return (try? retrieve(serial: record.serial))?.certificate?.der
    }
}
