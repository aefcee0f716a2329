import DUIS
import GBCS
import MMC

/// Critical commands at the device: before it acts, a device checks what GBCS makes it
/// check (CS: "Remote Party Message authentication"): the MAC of DCC's access control
/// broker, that the command is for this device, that it is signed by the remote party
/// the device trusts in the role, and that the party's counter rises above the floor the
/// device holds for it. A command that fails any of these is not executed: the device
/// logs a security event, raises alert 0x8F3D (Trusted Source Authentication Failure) and
/// answers that it refused.
extension DeviceEmulator {
    /// The remote-party role that signs a user's critical commands: network operators'
    /// (their own SRVs, such as 6.4.1's load limiting) or else the supplier's.
    static func signingRole(_ roles: UserRoleSet) -> String {
        roles.contains(.is) || roles.contains(.gs) ? "Supplier" : (roles.contains(.ed) || roles.contains(.gt) ? "NetworkOperator" : "Supplier")
    }

    /// Checks a critical command's GBCS; nil when the device accepts it (its floor counter
    /// for the party then rises to the command's counter), else why not.
    func authenticate(_ context: inout Context, _ state: inout PremisesState) -> String? {
        guard let bytes = context.command.gbcs else { return "the command came without its GBCS (a critical command is signed by its remote party)" }
        guard let keys else { return "the device holds no keys" }
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes)
        } catch {
            return "unreadable GBCS: \(error)"
        }
        let target = context.command.target
        guard frame.recipient == target else { return "the command is for \(frame.recipient), not this device" }
        guard frame.cra == .command else { return "not a command" }
        switch frame.verifyMAC(keys: keys) {
        case .valid: break
        case let verdict: return "the MAC of DCC's access control broker is \(verdict)"
        }
        let role = Self.signingRole(context.command.originatorRoles)
        let anchor = currentAnchor(role, context: context, state: state)
        guard frame.originator == anchor.party else {
            return "signed by \(frame.originator); the device trusts \(anchor.party) as its \(role)"
        }
        switch frame.verifySignature(keys: keys) {
        case .valid: break
        case let verdict: return "the \(role)'s signature is \(verdict)"
        }
        guard frame.originatorCounter > anchor.floor else {
            return "counter \(frame.originatorCounter) is not above \(anchor.floor), the floor the device holds for its \(role): a replay"
        }
        var raised = anchor
        raised.floor = frame.originatorCounter
        var anchors = state.trustAnchors[target] ?? []
        anchors.removeAll { $0.role == role }
        anchors.append(raised)
        state.trustAnchors[target] = anchors
        // Stored with the state (every answer stores it), but not a change of what the
        // meter reads: the readings cached for this revision stay valid.
        return nil
    }

    /// Checks a non-critical command's GBCS: for this device, MAC'd by DCC's access control
    /// broker, from the user the command names (or the broker on its behalf), and not a
    /// replay of a counter the device has seen from that originator. Nil when accepted.
    func authenticateNonCritical(_ context: inout Context, _ state: inout PremisesState, bytes: [UInt8]) -> String? {
        guard let keys else { return "the device holds no keys" }
        let frame: GBCSFrame
        do {
            frame = try GBCSFrame.decode(bytes)
        } catch {
            return "unreadable GBCS: \(error)"
        }
        let target = context.command.target
        guard frame.recipient == target, frame.cra == .command else { return "not a command for this device" }
        // From the user, or DCC's access control broker on its behalf, or a DCC party in its
        // own name (the broker's or the transitional change of supplier party's credential
        // commands, 6.21, 6.23, 8.5): the MAC below proves DCC sent it.
        let user = context.command.originator
        let dccParties: Set<EUI64> = [GBCSFrame.accessControlBroker, Self.transitionalChangeOfSupplier]
        guard frame.originator == user || frame.supplement.remotePartyID == user
                || (dccParties.contains(frame.originator) && frame.supplement.remotePartyID == nil) else {
            return "the command comes from \(frame.originator), not \(user)"
        }
        switch frame.verifyMAC(keys: keys) {
        case .valid: break
        case let verdict: return "the MAC of DCC's access control broker is \(verdict)"
        }
        var window = state.commandCounters[target]?[frame.originator] ?? CounterWindow()
        guard window.admit(frame.originatorCounter) else {
            return "counter \(frame.originatorCounter) from \(frame.originator) was seen already, or is older than the device remembers: a replay"
        }
        state.commandCounters[target, default: [:]][frame.originator] = window
        // Stored with the state (every answer stores it), but not a change of what the
        // meter reads: the readings cached for this revision stay valid.
        return nil
    }

    /// A command the device does not execute: logged, alerted to the supplier, refused.
    func refuseUnauthenticated(_ context: inout Context, _ state: inout PremisesState, _ failure: String) {
        let target = context.command.target
        state.log(LogEntry(at: context.time, code: 0x8F3D, meaning: "Trusted Source Authentication Failure", other: String(failure.prefix(120))),
                  device: target, security: true)
        context.changed = true
        context.alerts.append(DeviceAlert(
            header: DeviceMessageHeader(originator: target, target: context.command.originator, counter: 0, serviceReference: nil, srv: nil, timestamp: context.time),
            code: 0x8F3D, description: "Trusted Source Authentication Failure", at: context.time, payload: nil, recipients: [.supplier]))
        context.refuse("\(context.command.srv) not executed: \(failure)")
    }

    /// DCC's transitional change of supplier party (it sends 6.23's credentials update).
    static let transitionalChangeOfSupplier = EUI64(0x90B3_D51F_3000_0004)

    /// Runs a critical command once the device has authenticated it.
    func runCritical(_ context: inout Context, state: inout PremisesState) -> DataNode {
        let srv = context.command.srv
        let element = Self.criticalResponses[srv] ?? Self.configurationAndSecurityResponses[srv] ?? "CommandNotSupported"
        if let failure = authenticate(&context, &state) {
            refuseUnauthenticated(&context, &state, failure)
            // Some answers must carry a response code even when nothing ran.
            return Self.unexecutedAnswer(srv) ?? DataNode(element)
        }
        // A future-dated command is held (or a held one cancelled) rather than run now.
        if let answer = holdIfFutureDated(&context, &state, element: element) { return answer }
        return actCritical(&context, &state, element: element)
    }

    /// What an authenticated critical command does, now or when a held one falls due.
    func actCritical(_ context: inout Context, _ state: inout PremisesState, element: String) -> DataNode {
        let srv = context.command.srv
        if let answer = actOnTariffAndPrepayment(&context, &state) { return answer }
        switch srv {
        case "7.1": return switchSupply(&context, &state, to: .enabled, element: element)
        case "7.2": return switchSupply(&context, &state, to: .disabled, element: element)
        case "7.3": return switchSupply(&context, &state, to: .armed, element: element)
        default:
            if let answer = actOnConfigurationAndSecurity(&context, &state) { return answer }
            context.refuse("\(srv) is authenticated, but the emulated device does not act on it yet")
            return DataNode(element)
        }
    }

    /// The MMC element of each critical SRV's answer.
    static let criticalResponses: [SRV: String] = [
        "7.1": "EnableSupplyRsp", "7.2": "DisableSupplyRsp", "7.3": "ArmSupplyRsp",
    ].merging(tariffAndPrepaymentResponses) { first, _ in first }

    /// 7.1, 7.2, 7.3: the meter's supply switch (or the gas meter's valve). Armed is off
    /// until the consumer presses the meter's button; the meter reads no consumption while
    /// its supply is off.
    func switchSupply(_ context: inout Context, _ state: inout PremisesState, to target: SupplyState, element: String) -> DataNode {
        let fuel = context.fuel
        let current = fuel == .gas ? state.gasState : state.electricityState
        if current != target {
            let change = SupplyChange(at: context.time, state: target, reason: "\(context.command.srv) from \(context.command.originator)")
            if fuel == .gas { state.gasSupply.append(change) } else { state.electricitySupply.append(change) }
            // The history is what readings are computed from: keep its last changes.
            if state.electricitySupply.count > Self.supplyHistory { state.electricitySupply.removeFirst(state.electricitySupply.count - Self.supplyHistory) }
            if state.gasSupply.count > Self.supplyHistory { state.gasSupply.removeFirst(state.gasSupply.count - Self.supplyHistory) }
            if target == .armed { state.log(LogEntry(at: context.time, code: 0x8F32, meaning: "Supply Armed"), device: context.command.target) }
            context.changed = true
        }
        context.note = "\(fuel == .gas ? "gas valve" : "electricity supply") \(current.rawValue) → \(target.rawValue)"
        return DataNode(element)
    }

    /// How many supply changes a meter keeps (older ones no longer affect any reading a
    /// user can ask for).
    static let supplyHistory = 200
}
