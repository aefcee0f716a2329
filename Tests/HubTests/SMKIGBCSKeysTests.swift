import Crypto
import DUIS
import Foundation
import GBCS
import Hub
import SMKI
import Testing
import TestSupport

/// gbsm's SMKI store as GBCS's key store: organisations' keys from the ZAZ1 keystore,
/// devices' derived from their seed, the same keys the SMKI repository certifies.
@Suite struct SMKIGBCSKeysTests {
    @Test(.enabled(if: Reference.isAvailable, Comment(rawValue: Reference.skipReason)))
    func aCommandMACdByTheBrokerVerifiesWithTheDevicesOwnKey() async throws {
        let running = try await RunningHub.start(zaz1: true)
        do {
            try check(running.hub.smki)
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }

    func check(_ keys: SMKIRepository) throws {
        let esme = EUI64(0x00DB_1234_5678_90A0), ihd = EUI64(0x00DB_1234_5678_90A5)
        #expect(keys.isDevice(esme) && !keys.isDevice(ihd) && !keys.isDevice(Provisioning.supplier))
        // An IHD (Type 2) holds no SMKI keys.
        #expect(keys.keyAgreementKey(of: ihd) == nil)
        // The ZAZ1 supplier's GBCS key is Z1-supplier-ka, never its XML-signing or PP key.
        let zaz1 = try Keystore.decode(try Reference.file("smki/zaz1-keystore.json"))
        let z1 = try #require(zaz1.entries.first { $0.name == "Z1-supplier-ka" })
        #expect(keys.publicKey(of: Provisioning.supplier, usage: .keyAgreement)?.rawRepresentation == z1.certificate.signingKey?.rawRepresentation)
        #expect(keys.publicKey(of: Provisioning.supplier, usage: .digitalSignature)?.rawRepresentation
                == zaz1.entries.first { $0.name == "Z1-supplier-ds" }?.certificate.signingKey?.rawRepresentation)

        // A command from the broker to the meter: the hub's key and the device's (its own
        // KA key with the broker's certified one) are the same key.
        let frame = GBCSFrame(macHeader: nil, cra: .command, originatorCounter: 0x0000_0001_0000_0009, originator: Provisioning.supplier,
                              recipient: esme, dateTime: nil, messageCode: 0x0027, supplement: .none,
                              content: GBCSPayload.dlms(.accessRequest(.init(invokeID: 1, specifications: [], data: []))).encode(), signature: .empty)
        let hubKey = try #require(frame.macKey(keys: keys))
        let broker = try #require(keys.publicKey(of: GBCSFrame.accessControlBroker, usage: .keyAgreement))
        let deviceKey = try GBCSCrypto.deriveKey(privateKey: DeviceCredentials.keyAgreementKey(eui: esme, seed: 0),
                                                 publicKey: try P256.KeyAgreement.PublicKey(rawRepresentation: broker.rawRepresentation),
                                                 originator: frame.originator, usage: 1, counter: frame.originatorCounter, recipient: esme)
        #expect(hubKey == deviceKey)
        let maced = try frame.maced(with: hubKey)
        #expect(maced.verifyMAC(keys: keys) == .valid)
        var altered = maced
        altered.originatorCounter += 1
        #expect(altered.verifyMAC(keys: keys) == .invalid)

        // The device's DS key is the one its SMKI certificate carries.
        let record = try #require(keys.search(device: esme).first { $0.usage == .digitalSignature })
        let certificate = try #require(try keys.retrieve(serial: record.serial)?.certificate)
        #expect(certificate.signingKey?.rawRepresentation == keys.publicKey(of: esme, usage: .digitalSignature)?.rawRepresentation)
    }
}
