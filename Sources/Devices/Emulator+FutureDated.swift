import DUIS
import GBCS
import MMC

/// Future-dated critical commands at the device (GBCS's "Device" future-dated pattern).
/// The device reads the execution time from the command's own activation times
/// (`FutureDatedCommand`): a time still to come is held (`HeldCommand`) and answered at
/// once with the use case's answer (nothing yet done); "never" (a request dated
/// 3000-12-31) drops what it holds of that command; "now", or a time already past, runs
/// it now. A command the device would refuse is refused on arrival (it is tried on a copy
/// of the state), and a party replaces or cancels only what it sent itself. When a held
/// command falls due (`wake`, also before any command the device is sent later), the
/// device acts as it would have on arrival, if it still trusts the party that signed it
/// in its role, and raises alert 0x8F66 (or 0x8F67 when it did not act) per instruction,
/// signed, to that party.
extension DeviceEmulator {
    /// Holds or cancels a future-dated command; nil when it is to run now.
    func holdIfFutureDated(_ context: inout Context, _ state: inout PremisesState, element: String) -> DataNode? {
        let command = context.command
        guard ServiceCatalogue.variant(command.srv)?.futureDating == .device, let bytes = command.gbcs else { return nil }
        let read: FutureDatedCommand?
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes)
            read = try FutureDatedCommand.read(try GBCSPayload.decode(frame.content, cra: .command))
        } catch {
            context.refuse("\(command.srv) not executed: its activation times cannot be read (\(error))")
            return DataNode(element)
        }
        let carried = read?.executionTime ?? .now
        // The request's ExecutionDateTime, where the hub passed it on, must be what the GBCS says.
        if let asked = command.executionTime, asked != carried {
            context.refuse("\(command.srv) not executed: the request asked for \(asked) but its GBCS says \(carried)")
            return DataNode(element)
        }
        guard let read else { return nil }
        let target = command.target
        switch read.executionTime {
        case .now:
            return nil
        case .at(let time) where time <= context.time:
            return nil
        case .cancel:
            // A party cancels only what it sent itself.
            let before = state.heldCommands.count
            state.heldCommands.removeAll { $0.device == target && $0.messageCode == frame.messageCode && $0.originator == command.originator }
            let dropped = before - state.heldCommands.count
            context.changed = true
            context.note = dropped == 0 ? "nothing of \(command.srv) was held to cancel" : "cancelled \(dropped) held \(command.srv) command(s)"
            return DataNode(element)
        case .at(let time):
            // The device checks the command as it arrives (the RTDS's FUTURE_DATED_ERROR
            // answers refuse at once): it is run on a copy of the state, which is then
            // discarded; a command the device would refuse is refused now, not held.
            var trial = context
            var trialState = state
            let trialAnswer = actCritical(&trial, &trialState, element: element)
            guard trial.success else {
                context.refuse("\(command.srv) not held: \(trial.note)")
                return trialAnswer
            }
            // A party replaces only what it sent itself.
            var held = state.heldCommands.filter { !($0.device == target && $0.messageCode == frame.messageCode && $0.originator == command.originator) }
            let replaced = held.count != state.heldCommands.count
            guard held.filter({ $0.device == target }).count < HeldCommand.maxPerDevice else {
                context.refuse("\(command.srv) not held: the device already holds \(HeldCommand.maxPerDevice) future-dated commands")
                return DataNode(element)
            }
            held.append(HeldCommand(device: target, deviceType: command.targetType, srv: command.srv, serviceReference: command.serviceReference,
                                    originator: command.originator, originatorRoles: command.originatorRoles.mask, requestID: command.requestID,
                                    body: command.body, messageCode: frame.messageCode, counter: frame.originatorCounter, executeAt: time,
                                    instructions: read.instructions))
            state.heldCommands = held
            context.changed = true
            context.note = "held until \(time.iso8601)" + (replaced ? " (replacing the \(command.srv) held before)" : "")
            return DataNode(element)
        }
    }

    /// What a held command did when it fell due.
    public struct HeldOutcome: Sendable {
        public var command: HeldCommand
        public var success: Bool
        public var note: String
        /// Its outcome alerts (0x8F66 or 0x8F67), to the command's originator.
        public var alerts: [DeviceAlert]
    }

    /// The earliest time a premises' devices have something to do (a held command).
    public static func wakeTime(_ state: PremisesState) -> Timestamp? {
        state.heldCommands.map(\.executeAt).min()
    }

    /// Runs every held command due by `time`, each at its own execution time, oldest first.
    public func wake(model: PremisesModel, state: inout PremisesState, at time: Timestamp) -> [HeldOutcome] {
        let due = state.heldCommands.filter { $0.executeAt <= time }.sorted { $0.executeAt < $1.executeAt }
        guard !due.isEmpty else { return [] }
        state.heldCommands.removeAll { $0.executeAt <= time }
        var outcomes: [HeldOutcome] = []
        for held in due {
            let command = DeviceCommand(srv: held.srv, serviceReference: held.serviceReference, target: held.device, targetType: held.deviceType,
                                        originator: held.originator, originatorRoles: UserRoleSet(mask: held.originatorRoles),
                                        requestID: held.requestID, body: held.body)
            let inForce = Self.modelInForce(model, state, at: held.executeAt, for: held.deviceType)
            var context = Context(command: command, model: inForce, time: held.executeAt, engine: engine)
            let element = Self.criticalResponses[held.srv] ?? Self.configurationAndSecurityResponses[held.srv] ?? "CommandNotSupported"
            // Still signed by the party the device trusts in its role: a change of supplier
            // (or credentials update) since it was held means the device no longer acts on it.
            let role = Self.signingRole(command.originatorRoles)
            let anchor = currentAnchor(role, context: context, state: state)
            let answer: DataNode
            if anchor.party == held.originator {
                answer = actCritical(&context, &state, element: element)
            } else {
                context.refuse("\(held.srv) not run: the device now trusts \(anchor.party), not \(held.originator), as its \(role)")
                answer = DataNode(element)
            }
            var alerts: [DeviceAlert] = []
            for instruction in held.instructions {
                let header = DeviceMessageHeader(originator: held.device, target: held.originator,
                                                 counter: state.nextDeviceCounter(held.device, at: held.executeAt),
                                                 serviceReference: nil, srv: nil, timestamp: held.executeAt, fromGSME: held.deviceType == .gsme)
                alerts.append(DeviceAlert(header: header, code: context.success ? 0x8F66 : 0x8F67,
                                          description: context.success ? "Future-date HAN Interface Command Successfully Actioned"
                                            : "Future-date HAN Interface Command not Successfully Actioned",
                                          at: held.executeAt, payload: Self.outcomePayload(held, instruction: instruction, answer: answer),
                                          recipients: [.originator]))
            }
            alerts += context.alerts
            state.touch()
            outcomes.append(HeldOutcome(command: held, success: context.success,
                                        note: context.note.isEmpty ? "\(held.srv) held since \(held.requestID) ran at \(held.executeAt.iso8601)" : context.note,
                                        alerts: alerts))
        }
        return outcomes
    }

    /// The outcome alert's payload, as MMC's `FutureDatedCommandOutcomeDeviceAlert` has it.
    static func outcomePayload(_ held: HeldCommand, instruction: FutureDatedCommand.Instruction, answer: DataNode) -> DataNode {
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        // DLMS and GBZ name the instruction alike: the command's code and counter, then
        // the part that ran.
        func outcome(_ name: String, _ identification: String, _ fields: [(String, String)]) -> DataNode {
            var alert = DataNode(name)
            alert.add("FutureDatedCommandMessageCode", hex(UInt64(held.messageCode), 4))
            alert.add("FutureDatedCommandOriginatorCounter", held.counter)
            alert.add(DataNode(identification, children: fields.map { DataNode($0.0, text: $0.1) }))
            return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [alert])
        }
        switch instruction {
        case .cosem(let classID, let instance, let attribute):
            return outcome("COSEMFutureDatedAlert", "DLMSCOSEMFDInstructionIdentification", [
                ("ClassId", hex(UInt64(classID), 4)), ("InstanceId", Hex.encode(instance, uppercase: true)), ("AttributeId", hex(UInt64(attribute), 2)),
            ])
        case .gbz(let cluster, let frameControl, let command):
            return outcome("GBZFutureDatedAlert", "GBZFDInstructionIdentification", [
                ("ExtendedHeaderClusterID", hex(UInt64(cluster), 4)), ("FrameControl", hex(UInt64(frameControl), 2)), ("CommandIdentifier", hex(UInt64(command), 2)),
            ])
        case .whole:
            // CS02b (6.15.1): the credentials update's outcome, as the immediate answer
            // carries it.
            if let credentials = answer.children.first(where: { $0.name == "ExecutionOutcome" }) {
                let execution = DataNode("UpdateSecurityCredentialsExecutionOutcome", children: credentials.children)
                return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [DataNode("UpdateSecurityCredentialsDeviceAlert", children: [execution])])
            }
            // CS06: the activation's outcome, as the immediate answer carries it.
            var alert = DataNode("FirmwareActivationDeviceAlert")
            alert.add("ExecutionDateTime", held.executeAt.iso8601)
            alert.add("OriginatorCounterFromCommand", held.counter)
            for child in answer.children where child.name == "ActivateImageResponseCode" || child.name == "FirmwareVersion" { alert.add(child) }
            return DataNode("FutureDatedCommandOutcomeDeviceAlert", children: [alert])
        }
    }
}
