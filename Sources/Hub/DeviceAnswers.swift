import DUIS
import Devices
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
/// The device writes its answer in GBCS (`GBCSAnswerWriter`): to the command's originator
/// (the user, or the access control broker where it sent the command on the user's
/// behalf), with the command's counter, MAC'd or, for a critical command, signed by the
/// device. Where a use case has no GBCS encoder yet, the answer goes as the emulator's MMC
/// XML, counted in `gbsm_device_answers_total{form="mmc-direct"}` (README, "Not yet").
/// Alerts go the same way (`GBCSAlertWriter`), each written for its recipient.
struct DeviceAnswers: Sendable {
    let writer: GBCSAnswerWriter
    /// The keys Parse and Correlate opens answers with for `mmc` users: their KA private
    /// keys (gbsm's keystore) and the devices' certificates.
    let keys: any GBCSKeyStore
    let direct = MMCXMLCodec()
    let logger: Logger
    private let counters: [Form: Counter]

    let alertWriter: GBCSAlertWriter

    init(keys: any GBCSKeyStore, logger: Logger) {
        writer = GBCSAnswerWriter(keys: keys)
        alertWriter = GBCSAlertWriter(keys: keys)
        self.keys = keys
        self.logger = logger
        counters = Dictionary(uniqueKeysWithValues: Form.allCases.map { ($0, Counter(label: "gbsm_device_answers_total", dimensions: [("form", $0.rawValue)])) })
    }

    /// How one answer went: GBCS, MMC from GBCS through Parse and Correlate, or the
    /// emulator's MMC because no GBCS could be written.
    enum Form: String, CaseIterable {
        case gbcs
        case parsed = "mmc-parsed"
        case direct = "mmc-direct"
    }

    /// The payload of the answer `response` to the command `command` (the GBCS octets
    /// sent over the WAN, nil where none were: a DSP schedule's run), for `user`.
    func payload(_ response: DeviceResponse, success: Bool, command: [UInt8]?, deviceType: DeviceType, user: EUI64, counter: UInt64,
                 format: AnswerFormat) -> (bytes: [UInt8], form: Form) {
        let srv = response.header.srv ?? ""
        var recipient = user
        var originatorCounter = counter
        var supplement: GBCSFrame.Supplement = .none
        var payload: GBCSPayload?
        var commandMessageCode: UInt16?
        if let command {
            // The command as sent: its originator (the user, or the broker on the user's
            // behalf), counter and supplement are what the answer repeats. gbsm built
            // these octets itself, so they decode; if not, the answer says why below.
            do {
                let frame = try GBCSFrame.decode(command)
                recipient = frame.originator
                originatorCounter = frame.originatorCounter
                supplement = frame.supplement
                commandMessageCode = frame.messageCode
                payload = try GBCSPayload.decode(frame.content, cra: .command)
            } catch {
                logger.error("device answer: the command sent for \(srv) does not decode (\(error)); answered from the request's header")
            }
        }
        // The use case the command named (its message code), else the SRV's for the device.
        var useCase = GBCSAnswers.useCase(srv: srv, deviceType: deviceType)
        if let code = commandMessageCode, let named = UseCases.byCode[code], named.srvs.contains(srv), GBCSAnswers.encoders[named.name] != nil {
            useCase = named
        }
        guard let useCase, GBCSAnswers.encoders[useCase.name] != nil else {
            return record(direct.encode(response), .direct)
        }
        var context = GBCSAnswerContext(srv: srv, useCase: useCase, device: response.header.originator, recipient: recipient, counter: originatorCounter,
                                        time: response.header.timestamp, command: payload, succeeded: success, blockKey: nil)
        context.commandSupplement = supplement
        context.deviceCounter = response.header.counter
        // The gas meter's time is the gas proxy's clock, which GBCS reports reliable (00);
        // the electricity meter leaves its clock status not specified.
        if deviceType == .gsme || deviceType == .gpf { context.clockStatus = 0x00 }
        // An unknown remote party's read (the command carried its KA certificate) is for
        // that party: never opened here, never sent in the clear.
        let forUnknownParty = supplement.kaCertificate != nil
        let frame: GBCSFrame
        do {
            frame = try writer.frame(response.body, context: context)
        } catch {
            if forUnknownParty {
                logger.error("device answer: \(useCase.name) for \(srv) for an unknown remote party could not be written in GBCS (\(error)); sent as a refusal")
                return record(direct.encode(DeviceResponse(header: response.header, body: DataNode(response.body.name, attributes: [("MessageSuccess", "false")]))), .direct)
            }
            logger.error("device answer: \(useCase.name) for \(srv) could not be written in GBCS (\(error)); sent as the emulator's MMC")
            return record(direct.encode(response), .direct)
        }
        let octets = frame.encode()
        // Parse and Correlate opens data only for the user it answers: encrypted blocks for
        // anyone else (the party the header names) stay as they are.
        let openedFor = frame.supplement.remotePartyID ?? frame.recipient
        switch format {
        case .gbcs:
            return record(octets, .gbcs)
        case .mmc:
            if forUnknownParty || (openedFor != user && !frame.encryptedBlocks(key: nil).isEmpty) { return record(octets, .gbcs) }
            do {
                let message = try ParsedMessage(frame: frame, keys: keys)
                if let xml = try MMCMapping.xml(for: message, srv: srv) { return record(xml, .parsed) }
                logger.error("device answer: Parse and Correlate has no mapping for \(useCase.name); sent as the emulator's MMC")
            } catch {
                logger.error("device answer: Parse and Correlate could not read the device's \(useCase.name) for \(user) (\(error)); sent as the emulator's MMC")
            }
            return record(direct.encode(response), .direct)
        }
    }

    /// An alert's payload for `recipient`: the device's GBCS alert, MAC'd for the
    /// recipient (or signed by the device, as GBCS signs the alerts of critical use
    /// cases), or for an `mmc` user what Parse and Correlate makes of it.
    func payload(_ alert: DeviceAlert, recipient: EUI64, deviceType: DeviceType?, format: AnswerFormat) -> [UInt8] {
        let frame: GBCSFrame
        do {
            frame = try alertWriter.frame(alert, recipient: recipient, counter: alert.header.counter, deviceType: deviceType)
        } catch {
            logger.error("device alert: \(alert.hexCode) from \(alert.header.originator) could not be written in GBCS (\(error)); sent as the emulator's MMC")
            return record(direct.encode(alert), .direct).bytes
        }
        switch format {
        case .gbcs:
            return record(frame.encode(), .gbcs).bytes
        case .mmc:
            do {
                if let xml = try MMCMapping.xml(for: try ParsedMessage(frame: frame, keys: keys)) { return record(xml, .parsed).bytes }
            } catch {
                logger.error("device alert: Parse and Correlate could not read \(alert.hexCode) for \(recipient) (\(error)); sent as the emulator's MMC")
            }
            return record(direct.encode(alert), .direct).bytes
        }
    }

    private func record(_ bytes: [UInt8], _ form: Form) -> (bytes: [UInt8], form: Form) {
        counters[form]?.increment()
        return (bytes, form)
    }
}
