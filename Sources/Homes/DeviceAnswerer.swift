import Devices
import DUIS
import GBCS
import Hub
import Logging
import MMC

/// How an emulated device answers a command in GBCS: to the command's originator (the
/// user, or DCC's access control broker where it sent the command on the user's behalf),
/// repeating the command's counter and supplement, MAC'd with the device's KA key or, for
/// a critical command, signed with its DS key (`GBCSAnswerWriter`). The device writes what
/// it answers; DCC only carries it (and, for users who chose MMC, reads it with Parse and
/// Correlate).
///
/// Where a use case has no GBCS encoder yet, there is no GBCS answer: DCC then sends the
/// device's answer as MMC XML (README, "Not yet").
struct DeviceAnswerer: Sendable {
    let writer: GBCSAnswerWriter
    let logger: Logger

    init(keys: any GBCSKeyStore, logger: Logger) {
        writer = GBCSAnswerWriter(keys: keys)
        self.logger = logger
    }

    /// The device's GBCS answer `response` to `command`, or nil where none can be written.
    /// An answer for an unknown remote party (the command carried its KA certificate) that
    /// cannot be written in GBCS becomes a refusal: it is never sent in the clear.
    func answer(_ response: inout DeviceResponse, success: inout Bool, to command: WANCommand) -> [UInt8]? {
        let srv = response.header.srv ?? ""
        var recipient = command.originator
        var originatorCounter = command.counter
        var supplement: GBCSFrame.Supplement = .none
        var payload: GBCSPayload?
        var commandMessageCode: UInt16?
        if let bytes = command.gbcs {
            // The command as it arrived: its originator, counter and supplement are what the
            // answer repeats. The device checked it before it acted, so it decodes; if not,
            // the answer is addressed from the request's own values.
            do {
                let frame = try GBCSFrame.decode(bytes)
                recipient = frame.originator
                originatorCounter = frame.originatorCounter
                supplement = frame.supplement
                commandMessageCode = frame.messageCode
                payload = try GBCSPayload.decode(frame.content, cra: .command)
            } catch {
                logger.error("device answer: the command for \(srv) does not decode (\(error)); answered from the request's values")
            }
        }
        // The use case the command named (its message code), else the SRV's for the device.
        var useCase = GBCSAnswers.useCase(srv: srv, deviceType: command.deviceType)
        if let code = commandMessageCode, let named = UseCases.byCode[code], named.srvs.contains(srv), GBCSAnswers.encoders[named.name] != nil {
            useCase = named
        }
        guard let useCase, GBCSAnswers.encoders[useCase.name] != nil else { return nil }
        var context = GBCSAnswerContext(srv: srv, useCase: useCase, device: response.header.originator, recipient: recipient, counter: originatorCounter,
                                        time: response.header.timestamp, command: payload, succeeded: success, blockKey: nil)
        context.commandSupplement = supplement
        context.deviceCounter = response.header.counter
        // The gas meter's time is the gas proxy's clock, which GBCS reports reliable (00);
        // the electricity meter leaves its clock status not specified.
        if command.deviceType == .gsme || command.deviceType == .gpf { context.clockStatus = 0x00 }
        do {
            return try writer.frame(response.body, context: context).encode()
        } catch {
            if supplement.kaCertificate != nil {
                logger.error("device answer: \(useCase.name) for \(srv) for an unknown remote party could not be written in GBCS (\(error)); sent as a refusal")
                response.body = DataNode(response.body.name, attributes: [("MessageSuccess", "false")])
                success = false
                return nil
            }
            logger.error("device answer: \(useCase.name) for \(srv) could not be written in GBCS (\(error)); sent as MMC")
            return nil
        }
    }
}
