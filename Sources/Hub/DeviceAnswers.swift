import DUIS
import Foundation
import GBCS
import Logging
import Metrics
import MMC
import ParseAndCorrelate
import Storage

/// What a user receives in `sr:GBCSPayload` for a device's answer: the device's GBCS
/// response as it came over the SM WAN (the default, as DCC sends it), or, for a user who
/// chose `mmc` (`gbsm users set-payload`), the Message Mapping Catalogue XML that Parse and
/// Correlate makes of those same octets, with the user's keys from gbsm's keystore.
///
/// The device writes its answer (`DeviceReply.gbcs`); DCC only carries it. Where the
/// device wrote none (a use case with no GBCS encoder yet), the answer goes as the
/// device's MMC XML, counted in `gbsm_device_answers_total{form="mmc-direct"}` (README,
/// "Not yet"). Alerts come the same way: written by the device for each party it sends them
/// to (`DeviceAlert.frames`).
struct DeviceAnswers: Sendable {
    /// The keys Parse and Correlate opens answers with for `mmc` users: their KA private
    /// keys (gbsm's keystore) and the devices' certificates.
    let keys: any GBCSKeyStore
    let direct = MMCXMLCodec()
    let logger: Logger
    private let counters: [Form: Counter]

    init(keys: any GBCSKeyStore, logger: Logger) {
        self.keys = keys
        self.logger = logger
        counters = Dictionary(uniqueKeysWithValues: Form.allCases.map { ($0, Counter(label: "gbsm_device_answers_total", dimensions: [("form", $0.rawValue)])) })
    }

    /// How one answer went: GBCS, MMC from GBCS through Parse and Correlate, or the
    /// device's MMC because it wrote no GBCS.
    enum Form: String, CaseIterable {
        case gbcs
        case parsed = "mmc-parsed"
        case direct = "mmc-direct"
    }

    /// The payload of the device's answer `reply` to the command `command` (the GBCS
    /// octets DCC sent, nil where none were: a DSP schedule's run), for `user`.
    func payload(_ reply: DeviceReply, command: [UInt8]?, user: EUI64, format: AnswerFormat) -> (bytes: [UInt8], form: Form) {
        guard let octets = reply.gbcs else { return record(direct.encode(reply.response), .direct) }
        switch format {
        case .gbcs:
            return record(octets, .gbcs)
        case .mmc:
            let frame: GBCSFrame
            do {
                frame = try GBCSFrame.decode(octets)
            } catch {
                logger.error("device answer: the device's GBCS for \(user) does not decode (\(error)); sent as it came")
                return record(octets, .gbcs)
            }
            // An unknown remote party's read (the command carried its KA certificate) is for
            // that party: never opened here. Parse and Correlate opens data only for the user
            // it answers: encrypted blocks for anyone else stay as they are.
            let forUnknownParty = command.flatMap { try? GBCSFrame.decode($0) }?.supplement.kaCertificate != nil
            let openedFor = frame.supplement.remotePartyID ?? frame.recipient
            if forUnknownParty || (openedFor != user && !frame.encryptedBlocks(key: nil).isEmpty) { return record(octets, .gbcs) }
            let srv = reply.response.header.srv ?? ""
            do {
                let message = try ParsedMessage(frame: frame, keys: keys)
                if let xml = try MMCMapping.xml(for: message, srv: srv) { return record(xml, .parsed) }
                logger.error("device answer: Parse and Correlate has no mapping for \(srv); sent as the device's MMC")
            } catch {
                logger.error("device answer: Parse and Correlate could not read the device's answer to \(srv) for \(user) (\(error)); sent as the device's MMC")
            }
            return record(direct.encode(reply.response), .direct)
        }
    }

    /// An alert's payload for `recipient`: the device's GBCS alert to it (MAC'd for the
    /// recipient, or signed by the device, as GBCS signs the alerts of critical use cases),
    /// or for an `mmc` user what Parse and Correlate makes of it. Where the device wrote no
    /// GBCS for the recipient, its MMC.
    func payload(_ alert: DeviceAlert, recipient: EUI64, format: AnswerFormat) -> [UInt8] {
        guard let octets = alert.frames[recipient] else {
            logger.error("device alert: \(alert.hexCode) from \(alert.header.originator) came with no GBCS for \(recipient); sent as the device's MMC")
            return record(direct.encode(alert), .direct).bytes
        }
        switch format {
        case .gbcs:
            return record(octets, .gbcs).bytes
        case .mmc:
            do {
                if let xml = try MMCMapping.xml(for: try ParsedMessage(frame: try GBCSFrame.decode(octets), keys: keys)) { return record(xml, .parsed).bytes }
            } catch {
                logger.error("device alert: Parse and Correlate could not read \(alert.hexCode) for \(recipient) (\(error)); sent as the device's MMC")
            }
            return record(direct.encode(alert), .direct).bytes
        }
    }

    private func record(_ bytes: [UInt8], _ form: Form) -> (bytes: [UInt8], form: Form) {
        counters[form]?.increment()
        return (bytes, form)
    }
}
