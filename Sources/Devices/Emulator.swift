import Crypto
import DUIS
import Foundation
import GBCS
import LoadModel
import MMC
import SMKI

/// A command as a device receives it: the service it carries, who sent it and the
/// request's body (the SRV's element under `sr:Body`).
public struct DeviceCommand: Sendable {
    public var srv: SRV
    public var serviceReference: String
    public var target: EUI64
    public var targetType: DeviceType
    public var originator: EUI64
    /// The roles the originator acts in (network operators and suppliers see different
    /// alert settings, for example).
    public var originatorRoles: UserRoleSet
    public var requestID: String
    public var body: ElementTree
    /// The GBCS command as it came over the SM WAN, for the commands the device checks
    /// itself: critical commands, signed by a remote party it trusts and MAC'd by DCC.
    public var gbcs: [UInt8]?
    /// When the request's `ExecutionDateTime` asked a future-datable critical command to
    /// run (nil: the request gave none). The device acts on the time its GBCS carries and
    /// refuses a command whose GBCS says otherwise.
    public var executionTime: ExecutionTime?

    public init(srv: SRV, serviceReference: String, target: EUI64, targetType: DeviceType, originator: EUI64, originatorRoles: UserRoleSet,
                requestID: String, body: ElementTree, gbcs: [UInt8]? = nil, executionTime: ExecutionTime? = nil) {
        self.gbcs = gbcs
        self.executionTime = executionTime
        self.srv = srv
        self.serviceReference = serviceReference
        self.target = target
        self.targetType = targetType
        self.originator = originator
        self.originatorRoles = originatorRoles
        self.requestID = requestID
        self.body = body
    }
}

/// What a device did with a command.
public struct DeviceOutcome: Sendable {
    public var response: DeviceResponse
    /// False when the device refused the command (its response says so).
    public var success: Bool
    /// The CIN shown on the IHD (9.1).
    public var customerIdentificationNumber: String?
    /// Alerts the command made the devices raise.
    public var alerts: [DeviceAlert]
    /// What happened, for the audit log.
    public var note: String
    /// The device left DCC's service (8.5).
    public var optedOut = false
    /// Held future-dated commands that fell due before this command, run first.
    public var held: [DeviceEmulator.HeldOutcome] = []
}

/// The devices of a premises acting on commands: meters, comms hub, gas proxy and HAN
/// devices behave as SMETS2 and CHTS describe, reading from the `MeterEngine` and
/// changing the premises' `PremisesState`.
public struct DeviceEmulator: Sendable {
    public let engine: MeterEngine
    /// The keys the devices hold and the certificates they were given: their own KA keys
    /// (for DCC's MACs) and the remote parties' DS certificates (for critical commands).
    public let keys: (any GBCSKeyStore)?

    public init(engine: MeterEngine, keys: (any GBCSKeyStore)? = nil) {
        self.engine = engine
        self.keys = keys
    }

    /// `xs:unsignedInt`.
    static let unsignedInt = CommandBodyRules.unsignedInt

    // MARK: - Execution

    public func execute(_ command: DeviceCommand, model: PremisesModel, state: inout PremisesState, at time: Timestamp) -> DeviceOutcome {
        // What the devices hold that fell due comes first, at its own time.
        let held = wake(model: model, state: &state, at: time)
        // The model with the tariff, payment mode and prepayment configuration in force for
        // the target's fuel (critical commands change them; Emulator+TariffAndPrepayment).
        let model = Self.modelInForce(model, state, at: time, for: command.targetType)
        var context = Context(command: command, model: model, time: time, engine: engine)
        let body: DataNode
        if ServiceCatalogue.variant(command.srv)?.isCritical == true {
            body = runCritical(&context, state: &state)
        } else if let bytes = command.gbcs, let failure = authenticateNonCritical(&context, &state, bytes: bytes) {
            // A non-critical command that came as GBCS is checked before it runs.
            refuseUnauthenticated(&context, &state, failure)
            // The answer's element is the SRV's: learnt by running it on a copy, discarded.
            var scratchContext = Context(command: command, model: model, time: time, engine: engine)
            var scratchState = state
            body = DataNode(run(&scratchContext, state: &scratchState).name)
        } else {
            body = run(&context, state: &state)
        }
        let counter = state.nextDeviceCounter(command.target, at: time)
        var rsp = body
        if !context.success { rsp.attributes.insert(DataNode.Attribute(name: "MessageSuccess", value: "false"), at: 0) }
        let header = DeviceMessageHeader(originator: command.target, target: command.originator, counter: counter,
                                         serviceReference: command.serviceReference, srv: command.srv, timestamp: time,
                                         fromGSME: command.targetType == .gsme)
        if context.changed { state.touch() }
        var alerts = context.alerts
        for index in alerts.indices { alerts[index].header.counter = state.nextDeviceCounter(alerts[index].header.originator, at: time) }
        return DeviceOutcome(response: DeviceResponse(header: header, body: rsp), success: context.success,
                             customerIdentificationNumber: context.cin, alerts: alerts, note: context.note, optedOut: context.optedOut, held: held)
    }

    struct Context {
        var command: DeviceCommand
        let model: PremisesModel
        let time: Timestamp
        let engine: MeterEngine
        var success = true
        var changed = false
        var cin: String?
        var alerts: [DeviceAlert] = []
        var note = ""
        var optedOut = false

        init(command: DeviceCommand, model: PremisesModel, time: Timestamp, engine: MeterEngine) {
            self.command = command
            self.model = model
            self.time = time
            self.engine = engine
        }

        var fuel: Fuel { command.targetType == .gsme || command.targetType == .gpf ? .gas : .electricity }
        var body: ElementTree { command.body }
        var today: Int32 { time.day.number }

        var period: (start: Timestamp, end: Timestamp)? {
            guard let period = body.child("ReadLogPeriod"),
                  let start = period.value("StartDateTime").flatMap({ Timestamp(xsDateTime: $0) }),
                  let end = period.value("EndDateTime").flatMap({ Timestamp(xsDateTime: $0) }) else { return nil }
            return (start, end)
        }

        mutating func refuse(_ reason: String) {
            success = false
            note = reason
        }
    }

    private func run(_ context: inout Context, state: inout PremisesState) -> DataNode {
        // Reads of what critical commands configured (nil where nothing was).
        if let answer = readConfigurationAndSecurity(&context, state) { return answer }
        let srv = context.command.srv
        switch srv {
        // Prepayment and display
        case "2.2": return topUp(&context, &state)
        case "3.1":
            let text = context.body.value("SupplierMessage") ?? ""
            state.displayMessages.append(DisplayMessage(at: context.time, text: text))
            if state.displayMessages.count > 10 { state.displayMessages.removeFirst(state.displayMessages.count - 10) }
            context.changed = true
            context.note = "message \"\(text)\" shown on the IHD"
            return DataNode("DisplayMessageRsp")
        case "3.2":
            let restriction = context.body.value("RestrictionDateTime").flatMap { Timestamp(xsDateTime: $0) } ?? context.time
            state.tenancyRestriction = restriction
            context.changed = true
            context.note = "consumption data before \(restriction.iso8601) no longer shown on the consumer's devices"
            return DataNode("RestrictAccessForChangeOfTenancyRsp")
        case "3.3":
            state.eventLogs[context.command.target] = []
            state.log(LogEntry(at: context.time, code: 0x8F52, meaning: "Event Log Cleared"), device: context.command.target)
            context.changed = true
            context.note = "event log cleared"
            return DataNode("ClearEventLogRsp")
        case "3.4":
            state.supplierName = context.body.value("SupplierName")
            state.supplierTelephone = context.body.value("SupplierTelephoneNumber")
            context.changed = true
            context.note = "supplier name set to \(state.supplierName ?? "")"
            return DataNode("UpdateSupplierNameRsp")
        case "3.5":
            state.privacyPINDisabledAt = context.time
            context.changed = true
            context.note = "privacy PIN disabled"
            return DataNode("DisablePrivacyPINRsp")
        // Readings
        case "4.1.1": return importRegisters(&context, state)
        case "4.1.2": return touMatrices(&context, state)
        case "4.1.3": return touWithBlocks(&context, state)
        case "4.1.4": return blockCounters(&context, state)
        case "4.2": return exportRegisters(&context, state)
        case "4.3": return prepayValues(&context, state)
        case "4.4.2": return changeOfModeLog(&context, state)
        case "4.4.3": return billingCalendarLog(&context, state)
        case "4.4.4": return creditLog(&context, state, debt: true)
        case "4.4.5": return creditLog(&context, state, debt: false)
        case "4.6.1": return importDailyReadLog(&context, state)
        case "4.6.2": return exportDailyReadLog(&context, state)
        case "4.8.1": return activeImportProfile(&context, state)
        case "4.8.2": return reactiveImportProfile(&context, state)
        case "4.8.3": return exportProfile(&context, state)
        case "4.10": return networkData(&context, state)
        case "4.11.1": return tariffPrimary(&context, state)
        case "4.11.2": return tariffSecondary(&context, state)
        case "4.12.1": return maximumDemandImport(&context, state)
        case "4.12.2": return maximumDemandExport(&context, state)
        case "4.13": return prepaymentConfiguration(&context, state)
        case "4.14": return prepaymentDailyReadLog(&context, state)
        case "4.15": return loadLimitData(&context, state)
        case "4.16": return activePower(&context, state)
        case "4.17": return dailyConsumptionLog(&context, state)
        case "4.18": return meterBalance(&context, state)
        // Configuration
        case "6.2.1": return voltageConfiguration(state)
        case "6.2.2":
            var rsp = DataNode("ReadDeviceConfigurationRandomisationRsp")
            let offset = Int(mix(context.model.profile.seed, 0x72616E64) % 1800)
            rsp.add("RandomisedOffset", offset)
            rsp.add("RandomisedOffsetNumber", 1)
            rsp.add("RandomisedOffsetLimit", 1800)
            return rsp
        case "6.2.3": return billingCalendar(&context)
        case "6.2.4": return identity(&context, state)
        case "6.2.5":
            var rsp = DataNode("ReadDeviceConfigurationInstantaneousPowerThresholdsRsp")
            rsp.add("LowMediumPowerThreshold", state.powerThresholds[0])
            rsp.add("MediumHighPowerThreshold", state.powerThresholds[1])
            return rsp
        case "6.2.7": return mpxnConfiguration(&context, state)
        case "6.2.8":
            var rsp = DataNode("ReadDeviceConfigurationGasRsp")
            rsp.add("CalorificValue", DeviceFormat.cubicMetres(Int64(context.model.calorificValueMilli)))
            rsp.add("ConversionFactor", String(format: "%.5f", Double(context.model.conversionFactorMicro) / 1_000_000))
            rsp.add("UncontrolledGasFlowRate", "3.000")
            rsp.add("FlowStabilisationPeriod", 10)
            rsp.add("FlowMeasurementPeriod", 6)
            return rsp
        case "6.2.9":
            var rsp = DataNode("ReadDeviceConfigurationPaymentModeRsp")
            rsp.add("PaymentMode", context.model.prepayment ? "Prepayment" : "Credit")
            rsp.add("SuspendDebtEmergency", DeviceFormat.bool(context.model.prepaymentConfiguration.suspendDebtEmergency))
            rsp.add("SuspendDebtDisabled", DeviceFormat.bool(context.model.prepaymentConfiguration.suspendDebtDisabled))
            return rsp
        case "6.2.10": return alertBehaviours(&context, state)
        case "6.4.2":
            state.loadLimitCounterResetAt = context.time
            state.loadLimitEvents = []
            context.changed = true
            context.note = "load limiting counter reset"
            return DataNode("UpdateDeviceConfigurationLoadLimitingCounterResetRsp")
        case "6.5": return setVoltage(&context, &state)
        case "6.12":
            state.powerThresholds = [context.body.integer("LowMediumPowerThreshold", in: Self.unsignedInt).map(Int.init) ?? 2300,
                                     context.body.integer("MediumHighPowerThreshold", in: Self.unsignedInt).map(Int.init) ?? 4600]
            context.changed = true
            context.note = "power thresholds set to \(state.powerThresholds[0]) W and \(state.powerThresholds[1]) W"
            return DataNode("UpdateDeviceConfigurationInstantaneousPowerThresholdRsp")
        case "6.13": return readLog(&context, state)
        case "6.18.1":
            if let schedule = context.body.child("MaximumDemandTimePeriodSchedule"),
               let start = schedule.value("StartTime").flatMap(DeviceFormat.minutes(ofTime:)),
               let end = schedule.value("EndTime").flatMap(DeviceFormat.minutes(ofTime:)) {
                state.maxDemandPeriod = [start, end]
                context.changed = true
                context.note = "maximum demand period \(DeviceFormat.time(minutes: start)) to \(DeviceFormat.time(minutes: end))"
            }
            return DataNode("SetMaximumDemandConfigurableTimePeriodRsp")
        case "6.18.2":
            state.maxDemandResets.append(context.time)
            if state.maxDemandResets.count > 20 { state.maxDemandResets.removeFirst() }
            context.changed = true
            context.note = "maximum demand registers reset"
            return DataNode("ResetMaximumDemandRegistersRsp")
        case "6.20.1":
            if context.command.targetType == .gsme {
                state.mprnOverride = context.body.value("ImportMPRN") ?? state.mprnOverride
            } else if let mpan = context.body.child("ImportMPANs")?.children.first?.text {
                state.importMPANOverride = mpan
            }
            context.changed = true
            context.note = "import MPxN configured"
            return DataNode("SetDeviceConfigurationImportMPxNRsp")
        case "6.20.2":
            state.exportMPANOverride = context.body.value("ExportMPAN")
            context.changed = true
            context.note = "export MPAN configured"
            return DataNode("SetDeviceConfigurationExportMPANRsp")
        case "6.21": return replaceCredentials(&context, &state, element: "RequestHandoverOfDCCControlledDeviceRsp", mode: "NetworkOperatorByNetworkOperator")
        case "6.22": return configureAlerts(&context, &state)
        case "6.23": return replaceCredentials(&context, &state, element: "UpdateSecurityCredentialsCoSRsp", mode: "SupplierByTransCoS")
        case "6.24.1": return retrieveCredentials(&context, state)
        case "6.27":
            state.voltageCountersResetAt = context.time
            context.changed = true
            context.note = "RMS voltage counters reset"
            return DataNode("UpdateDeviceConfigurationRMSVoltageCounterResetRsp")
        case "6.28": return setSubGHz(&context, &state)
        case "6.29":
            state.subGHzScans.append(context.time)
            if state.subGHzScans.count > 100 { state.subGHzScans.removeFirst() }
            context.changed = true
            context.note = "sub-GHz channel scan requested"
            return DataNode("RequestCHFSubGHzChannelScanRsp")
        case "6.30": return readSubGHz(state)
        case "6.31":
            var rsp = DataNode("ReadCHFSubGHzChannelRsp")
            rsp.add("OperatingSubGHzChannel") { channel in
                channel.add("OperatingLowerBandSubGHzChannel") { $0.addEmpty("Channel\(state.subGHzChannel)") }
            }
            return rsp
        case "6.32": return subGHzChannelLog(&context, state)
        // Supply and auxiliary loads
        case "7.4":
            var rsp = DataNode("ReadSupplyStatusRsp")
            let supply = context.fuel == .gas ? state.gasState : state.electricityState
            rsp.add("SupplyState", supply.rawValue)
            if context.fuel == .gas {
                let years = Double(context.today - context.model.installDay) / 365
                rsp.add("Gas") { $0.add("RemainingBatteryCapacity", max(5, 100 - Int(years * 6.5))) }
            }
            return rsp
        case "7.7": return auxiliaryLoadSwitches(&context, state)
        case "7.9", "7.10": return boostButton(&context, &state, add: srv == "7.9")
        case "7.11": return boostDetails(&context, state)
        case "7.14": return auxiliaryControllerConfiguration(&context)
        case "7.15": return auxiliaryControllerOperational(&context, state)
        // HAN and hub
        case "8.5": return replaceCredentials(&context, &state, element: "ServiceOptOutRsp", mode: "ACBByACB")
        case "8.7.2": return join(&context, &state)
        case "8.8.2": return unjoin(&context, &state)
        case "8.9": return deviceLog(&context, state)
        case "8.11": return updateHANLog(&context, &state)
        case "8.12.1":
            context.note = "CHF device log kept (the old hub \(context.body.value("OldCHFID") ?? "") holds no entries gbsm knows)"
            return DataNode("RestoreHANDeviceLogRsp")
        case "8.12.2": return restoreGPFLog(&context, state)
        case "9.1": return customerIdentificationNumber(&context, &state)
        case "11.2":
            var rsp = DataNode("ReadFirmwareVersionRsp")
            rsp.add("FirmwareVersion", state.firmware[context.command.target] ?? context.model.device(context.command.target)?.firmware ?? "01000000")
            return rsp
        case "14.1":
            let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
            let id = (state.gasNetworkSamples.last?.id ?? 0) + 1
            state.gasNetworkSamples.append(GasNetworkSample(id: id, at: context.time, litres: checkpoint.gasLitres))
            if state.gasNetworkSamples.count > 41 { state.gasNetworkSamples.removeFirst() }
            context.changed = true
            context.note = "gas network data sample \(id) recorded"
            var rsp = DataNode("RecordNetworkDataGASRsp")
            rsp.add("SampleID", id)
            return rsp
        default:
            context.refuse("\(srv) is not a command this device acts on")
            return DataNode("CommandNotSupported")
        }
    }

    // MARK: - Prepayment

    func topUp(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        let rsp = DataNode("TopUpDeviceRsp")
        let target = context.command.target
        let text = context.body.value("UTRN") ?? ""
        let utrn: UTRN
        do {
            utrn = try UTRN(text)
        } catch {
            state.log(LogEntry(at: context.time, code: 0x8F63, meaning: "UTRN not Authentic", other: error.description), device: target)
            context.changed = true
            context.refuse("UTRN \(text) rejected: \(error.description)")
            return rsp
        }
        let fuel = context.fuel
        let floor = state.trustAnchors[target]?.first { $0.role == "Supplier" }?.prepaymentFloor ?? 0
        let accepted = state.utrnCounters[fuel] ?? []
        let counter = utrn.counter(above: floor)
        if accepted.contains(counter) {
            state.log(LogEntry(at: context.time, code: 0x8F51, meaning: "UTRN Manual Entry (duplicate): rejected", other: text), device: target)
            context.changed = true
            context.refuse("UTRN \(text) was used before (counter \(counter)): rejected as a duplicate")
            return rsp
        }
        if accepted.count >= 5, let oldest = accepted.min(), counter < oldest {
            state.log(LogEntry(at: context.time, code: 0x8F51, meaning: "UTRN older than the UTRN counter cache: rejected", other: text), device: target)
            context.changed = true
            context.refuse("UTRN \(text) is older than every counter the meter remembers: rejected")
            return rsp
        }
        let maxCredit = context.model.prepaymentConfiguration.maxCreditThreshold
        guard utrn.pence <= maxCredit else {
            state.log(LogEntry(at: context.time, code: 0x8F5B, meaning: "UTRN exceeds Maximum Credit Threshold", other: text), device: target)
            context.changed = true
            context.refuse("UTRN \(text) is for \(utrn.pence)p, above the maximum credit of \(maxCredit)p")
            return rsp
        }
        var counters = accepted + [counter]
        if counters.count > 5 { counters.removeFirst(counters.count - 5) }
        state.utrnCounters[fuel] = counters
        state.topUps.append(TopUpRecord(at: context.time, fuel: fuel, pence: utrn.pence, counter: counter, utrn: text))
        if state.topUps.count > 100 { state.topUps.removeFirst(state.topUps.count - 100) }
        state.log(LogEntry(at: context.time, code: 0x810E, meaning: "Credit added: \(utrn.pence)p by UTRN", other: text), device: target)
        context.changed = true
        context.note = "UTRN accepted: \(utrn.pence)p credited to the \(fuel.rawValue) meter balance (counter \(counter))"
        return rsp
    }

    func prepaymentData(_ checkpoint: MeterCheckpoint, fuel: Fuel, model: PremisesModel, at time: Timestamp? = nil, operational: Bool) -> [DataNode] {
        let balance = fuel == .electricity ? checkpoint.electricityBalancePence : checkpoint.gasBalancePence
        let limit = Int64(model.prepaymentConfiguration.emergencyCreditLimit)
        let meterBalance = model.prepayment ? max(0, balance) : -(fuel == .electricity ? checkpoint.periodElectricityCost : checkpoint.periodGasCost) / MeterCheckpoint.micro
        let emergency = model.prepayment ? max(0, limit + min(0, balance)) : 0
        // Each meter's own debts: two time-based, one payment-based (2.3 sets them).
        let (timeDebt, timeDebt2, paymentDebt) = checkpoint.debts(fuel)
        var nodes: [DataNode] = []
        if operational {
            nodes.append(DataNode("AccumulatedDebtRegister", text: String(timeDebt + timeDebt2 + paymentDebt)))
            nodes.append(DataNode("EmergencyCreditBalance", text: String(emergency)))
            nodes.append(DataNode("MeterBalance", text: String(meterBalance)))
            nodes.append(DataNode("PaymentDebtRegister", text: String(paymentDebt)))
            nodes.append(DataNode("TimeDebtRegisters1", text: String(timeDebt)))
            nodes.append(DataNode("TimeDebtRegisters2", text: String(timeDebt2)))
            if let time { nodes.append(DataNode("Timestamp", text: time.iso8601)) }
        } else {
            nodes.append(DataNode("EmergencyCreditBalance", text: String(emergency)))
            nodes.append(DataNode("AccumulatedDebtRegister", text: String(timeDebt + timeDebt2 + paymentDebt)))
            nodes.append(DataNode("PaymentDebtRegister", text: String(paymentDebt)))
            nodes.append(DataNode("TimeDebtRegister1", text: String(timeDebt)))
            nodes.append(DataNode("TimeDebtRegister2", text: String(timeDebt2)))
            nodes.append(DataNode("MeterBalance", text: String(meterBalance)))
        }
        return nodes
    }

    func prepayValues(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        var rsp = DataNode("ReadInstantaneousPrepayValuesRsp")
        rsp.children = prepaymentData(checkpoint, fuel: context.fuel, model: context.model, operational: false)
        return rsp
    }

    func meterBalance(_ context: inout Context, _ state: PremisesState) -> DataNode {
        let (checkpoint, _, _) = context.engine.snapshot(context.model, state, at: context.time)
        let data = prepaymentData(checkpoint, fuel: context.fuel, model: context.model, operational: false)
        var rsp = DataNode("ReadMeterBalanceRsp")
        let balance = data.first { $0.name == "MeterBalance" }?.text ?? "0"
        rsp.add("MeterBalance", balance)
        if context.fuel == .gas {
            rsp.add("Gas") { $0.add("MeterBalancePrepaymentMode", context.model.prepayment ? balance : "0") }
        }
        return rsp
    }

    // MARK: - HAN, hub and security

    static func mmcType(_ type: DeviceType) -> String {
        switch type {
        case .esme: return "ESME"
        case .gsme: return "GSME"
        case .gpf: return "GPF"
        case .chf: return "CHF"
        case .hcalcs: return "HCALCS"
        case .ppmid: return "PPMID"
        case .ihd, .cad: return "Type2"
        }
    }

    /// A hub function's device log: the installation's devices unless commands replaced it.
    static func hanLog(_ hub: EUI64, model: PremisesModel, state: PremisesState) -> [HANLogEntry] {
        if let replaced = state.hanLogs[hub] { return replaced }
        let hubType = model.device(hub)?.type
        return model.devices.filter { device in
            if hubType == .gpf { return [.gsme, .ihd, .ppmid, .cad].contains(device.type) }
            return device.eui != hub && device.type != .chf
        }.map { HANLogEntry(device: $0.eui, type: mmcType($0.type), addedAt: nil) }
    }

    /// Whether `device` holds `other` among the devices it is joined to (what 8.7.2 to
    /// `device` adds and 8.8.2 removes).
    public static func isJoined(_ device: EUI64, to other: EUI64, model: PremisesModel, state: PremisesState) -> Bool {
        joins(device, model: model, state: state).contains(other)
    }

    /// The meters a HAN device is joined to.
    static func joins(_ device: EUI64, model: PremisesModel, state: PremisesState) -> [EUI64] {
        if let replaced = state.joins[device] { return replaced }
        guard let type = model.device(device)?.type else { return [] }
        switch type {
        case .ihd, .ppmid, .cad: return model.devices.filter { $0.type == .esme || $0.type == .gsme }.map(\.eui)
        case .hcalcs: return model.devices.filter { $0.type == .esme }.map(\.eui)
        case .esme, .gsme: return model.devices.filter { [.ihd, .ppmid, .cad, .hcalcs].contains($0.type) && ($0.type != .hcalcs || type == .esme) }.map(\.eui)
        default: return []
        }
    }

    func statusASN1(_ name: String, _ value: String, code: Int = 0) -> DataNode {
        DataNode(name, attributes: [("ResponseCode", String(code))], children: [DataNode("ASN1Status", text: value)])
    }

    func join(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        var rsp = DataNode("JoinServiceNonCriticalRsp")
        let device = context.command.target
        guard let other = context.body.value("OtherDeviceID").flatMap({ EUI64($0) }) else {
            rsp.add(statusASN1("joinResponseCode", "invalidJoinMethodAndRole", code: 2))
            context.refuse("no OtherDeviceID")
            return rsp
        }
        let otherType = context.model.device(other)?.type
        let joinable: Bool
        switch context.command.targetType {
        case .ihd, .ppmid, .cad: joinable = otherType == .esme || otherType == .gsme
        case .hcalcs: joinable = otherType == .esme
        case .esme, .gsme, .gpf: joinable = otherType.map { [.ihd, .ppmid, .cad, .hcalcs].contains($0) } ?? false
        default: joinable = false
        }
        guard joinable else {
            rsp.add(statusASN1("joinResponseCode", "noCBKEResponse", code: 13))
            context.refuse("\(other) is not a device on this premises' HAN that \(context.command.targetType.rawValue) \(device) can join: no key establishment response")
            return rsp
        }
        var joined = Self.joins(device, model: context.model, state: state)
        if !joined.contains(other) { joined.append(other) }
        state.joins[device] = joined
        state.log(LogEntry(at: context.time, code: 0x8F12, meaning: "Joined \(other)"), device: device)
        context.changed = true
        context.note = "\(device) joined \(other)"
        rsp.add(statusASN1("joinResponseCode", "success"))
        return rsp
    }

    func unjoin(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        var rsp = DataNode("UnjoinServiceNonCriticalRsp")
        let device = context.command.target
        let other = context.body.value("OtherDeviceID").flatMap { EUI64($0) }
        var joined = Self.joins(device, model: context.model, state: state)
        guard let other, joined.contains(other) else {
            rsp.add(statusASN1("unjoinResponseCode", "otherDeviceNotInDeviceLog", code: 1))
            context.refuse("\(other?.description ?? "the other device") is not joined to \(device)")
            return rsp
        }
        joined.removeAll { $0 == other }
        state.joins[device] = joined
        context.changed = true
        context.note = "\(device) unjoined \(other)"
        rsp.add(statusASN1("unjoinResponseCode", "success"))
        return rsp
    }

    func deviceLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadDeviceLogRsp")
        let log = Self.hanLog(context.command.target, model: context.model, state: state)
        // MMC 5.4 gives 8.9 one of three answers: a meter's or GPF's device log entries, or
        // the CHF's device log (with when each device last spoke and how well).
        if context.command.targetType != .chf {
            rsp.add("DeviceLogEntries") { entries in
                for entry in log {
                    entries.add("LogEntry") { $0.add("DeviceID", entry.device.description); $0.add("DeviceType", entry.type) }
                }
            }
        } else {
            rsp.add("CHFDeviceLog") { chf in
                for entry in log.prefix(16) {
                    chf.add("CHFDeviceLogEntry") { item in
                        item.add("DeviceID", entry.device.description)
                        // Meters talk to the hub every half hour at most; HAN devices more often.
                        let lag = Int64(mix(entry.device.rawValue, UInt64(bitPattern: context.time.milliseconds / 600_000)) % 900_000)
                        item.add("LastCommunicationsDateTime", context.time.adding(milliseconds: -lag).iso8601)
                        item.add("SubGHzLinkQuality", -40 - Int(entry.device.rawValue % 45))
                    }
                }
            }
        }
        return rsp
    }

    /// A communications hub's device log holds this many devices.
    static let maxHANLogEntries = 16

    func updateHANLog(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        let hub = context.command.target
        guard let device = context.body.value("DeviceID").flatMap({ EUI64($0) }) else { return DataNode("UpdateHANDeviceLogRsp") }
        var log = Self.hanLog(hub, model: context.model, state: state)
        let add = context.body.value("RequestType") == "Add"
        if add {
            guard log.contains(where: { $0.device == device }) || log.count < Self.maxHANLogEntries else {
                context.refuse("the device log of \(hub) is full (\(Self.maxHANLogEntries) devices)")
                return DataNode("UpdateHANDeviceLogRsp")
            }
            if !log.contains(where: { $0.device == device }) {
                let type = context.model.device(device).map { Self.mmcType($0.type) } ?? "Type2"
                log.append(HANLogEntry(device: device, type: type, addedAt: context.time))
            }
        } else {
            log.removeAll { $0.device == device }
        }
        state.hanLogs[hub] = log
        state.log(LogEntry(at: context.time, code: 0x8F12, meaning: add ? "Device \(device) added to the device log" : "Device \(device) removed from the device log"), device: hub)
        context.changed = true
        context.note = add ? "\(device) added to the device log of \(hub)" : "\(device) removed from the device log of \(hub)"
        // The hub tells the supplier its whitelist changed (CS14).
        var payload = DataNode("DeviceLog")
        for entry in log { payload.add("DeviceID", entry.device.description) }
        context.alerts.append(DeviceAlert(
            header: DeviceMessageHeader(originator: hub, target: context.command.originator, counter: 0, serviceReference: nil, srv: nil, timestamp: context.time),
            code: 0x8F12, description: "CHF Device Log Changed", at: context.time, payload: nil, recipients: [.supplier, .originator]))
        return DataNode("UpdateHANDeviceLogRsp")
    }

    func restoreGPFLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RestoreGPFDeviceLogRsp")
        for entry in Self.hanLog(context.command.target, model: context.model, state: state) {
            rsp.add("RestoreDeviceLogOutcome") { outcome in
                outcome.add("DeviceLogEntry") { $0.add("DeviceID", entry.device.description); $0.add("DeviceType", entry.type) }
                outcome.add(statusASN1("joinResponseCode", "success"))
            }
        }
        context.note = "GPF device log restored from \(context.body.value("OldGPFID") ?? "")"
        return rsp
    }

    func customerIdentificationNumber(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        // The CIN DCC made and sent in the command (ECS50: four digits set into
        // 0-3:96.13.1.255); a command that came without GBCS gets one of the device's own.
        let cin: String
        if let sent = Self.sentCustomerIdentificationNumber(context.command.gbcs) {
            cin = sent
        } else {
            let value = mix(context.model.profile.seed, context.time.bitPattern) % 10_000
            cin = String(repeating: "0", count: 4 - String(value).count) + String(value)
        }
        state.customerIdentificationNumber = cin
        state.cinIssuedAt = context.time
        state.cinIssuedTo = context.command.originator
        context.cin = cin
        context.changed = true
        context.note = "customer identification number shown on the IHD"
        return DataNode("RequestCustomerIdentificationNumberRsp")
    }

    /// The CIN an ECS50 command carries: the octet string set into 0-3:96.13.1.255, if
    /// it is four digits.
    static func sentCustomerIdentificationNumber(_ bytes: [UInt8]?) -> String? {
        guard let bytes, let frame = try? GBCSFrame.decode(bytes), case .dlms(.accessRequest(let request))? = try? GBCSPayload.decode(frame.content, cra: frame.cra),
              let index = request.specifications.firstIndex(where: { $0.descriptor.instance == [0, 3, 96, 13, 1, 255] }),
              index < request.data.count, case .octetString(let octets) = request.data[index],
              octets.count == 4, octets.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return String(decoding: octets, as: UTF8.self)
    }

    static func sha1(_ der: [UInt8]) -> String { Data(Insecure.SHA1.hash(data: der)).base64EncodedString() }

    func currentAnchor(_ role: String, context: Context, state: PremisesState) -> TrustAnchor {
        if let anchor = state.trustAnchors[context.command.target]?.first(where: { $0.role == role }) { return anchor }
        // Installed with the registered parties' certificates.
        let party: EUI64
        switch role {
        case "Supplier":
            // The supplier the devices were installed with; without one on record, the
            // supplier that speaks to it (as before a credentials update is known).
            party = context.model.installedSupplier
                ?? (context.command.originatorRoles.contains(.is) || context.command.originatorRoles.contains(.gs) ? context.command.originator : EUI64(0x90B3_D51F_3001_0000))
        case "NetworkOperator": party = EUI64(0x90B3_D51F_3002_0000)
        case "ACB": party = EUI64(0x90B3_D51F_3000_0002)
        default: party = EUI64(0x90B3_D51F_3000_0001)
        }
        var bytes = withUnsafeBytes(of: party.rawValue.bigEndian) { Array($0) }
        bytes += Array(role.utf8)
        return TrustAnchor(role: role, party: party, floor: 0, prepaymentFloor: 0, certificateSHA1: Self.sha1(bytes), replacedAt: nil)
    }

    func replaceCredentials(_ context: inout Context, _ state: inout PremisesState, element: String, mode: String) -> DataNode {
        let role: String
        switch context.command.srv {
        case "6.21": role = context.body.value("RemotePartyRole") ?? "NetworkOperator"
        case "6.23": role = "Supplier"
        default: role = "ACB"
        }
        var rsp = DataNode(element)
        let existing = currentAnchor(role, context: context, state: state)
        // Exactly the cells DUIS gives the SRV, as DCC checked them and built the command.
        let replacements: ReplacementCertificates?
        var unreadable: String?
        do {
            replacements = try ReplacementCertificates(srv: context.command.srv, body: context.body)
        } catch {
            replacements = nil
            unreadable = error.reason
        }
        let certificates = (replacements?.certificates ?? []).map { ($0.cell.rawValue, $0.der) }
        var newParty = context.command.originator
        for (_, der) in certificates {
            if let certificate = try? SMKICertificate(der: der), let eui = certificate.subjectEUI { newParty = eui; break }
        }
        // sr:floorSequenceNumber: 0 to 2^63−1, from the elements DUIS gives this SRV (the
        // ones its command carries), no other.
        let floors: ClosedRange<Int64> = 0...Int64.max
        let form = ReplacementCertificates.form(of: context.command.srv)
        let floor = UInt64(form.flatMap { context.body.integer($0.floor, in: floors) } ?? 0)
        let prepaymentFloor = UInt64(form?.prepaymentFloor.flatMap { context.body.integer($0, in: floors) } ?? 0)
        guard !certificates.isEmpty else {
            rsp.add("ExecutionOutcome") { outcome in
                outcome.add("CredentialsReplacementMode", mode)
                outcome.add("ReplacementOutcome") { $0.add(statusASN1("StatusCode", "badCertificate", code: 1)) }
            }
            context.refuse(unreadable ?? "no replacement certificates in the request")
            return rsp
        }
        let anchor = TrustAnchor(role: role, party: newParty, floor: floor, prepaymentFloor: prepaymentFloor,
                                 certificateSHA1: Self.sha1(replacements?[.digitalSigning] ?? certificates[0].1), replacedAt: context.time)
        var anchors = state.trustAnchors[context.command.target] ?? []
        anchors.removeAll { $0.role == role }
        anchors.append(anchor)
        state.trustAnchors[context.command.target] = anchors
        state.log(LogEntry(at: context.time, code: 0x8F70, meaning: "Update Security Credentials: \(role) replaced"), device: context.command.target, security: true)
        context.changed = true
        context.note = "\(role) credentials replaced: \(existing.party) → \(newParty)"
        rsp.add("ExecutionOutcome") { outcome in
            outcome.add("AuthorisingRemotePartyOriginatorCounter", context.time.microsecondCounter)
            outcome.add("CredentialsReplacementMode", mode)
            outcome.add("RemotePartySeqNumberChange") { change in
                change.add("RemotePartyRole", role)
                change.add("RemotePartyFloorSeqNumber", floor)
                change.add("RemotePartyPrepaymentTopUpFloorSeqNumber", prepaymentFloor)
            }
            for (name, der) in certificates.prefix(3) {
                outcome.add("ReplacementOutcome") { replaced in
                    replaced.add(statusASN1("StatusCode", "success"))
                    replaced.add("CertificateType", name.hasPrefix("KeyAgreementTopUp") ? "KeyAgreementTopUp" : (name.hasPrefix("KeyAgreement") ? "KeyAgreement" : "DigitalSigning"))
                    replaced.add("RemotePartyRole", role)
                    replaced.add("ExistingRemotePartyID", existing.party.description)
                    replaced.add("NewRemotePartyID", newParty.description)
                    replaced.add("ExistingCertificateHash", existing.certificateSHA1 ?? "")
                    replaced.add("NewCertificateHash", Self.sha1(der))
                }
            }
        }
        if context.command.srv == "8.5" {
            state.optedOutAt = context.time
            context.optedOut = true
            context.note += "; the device has left DCC's service"
        }
        return rsp
    }

    func retrieveCredentials(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("RetrieveDeviceSecurityCredentialsKRPRsp")
        let known = ["Supplier", "NetworkOperator", "ACB", "Recovery", "Root", "TransCoS", "LoadController", "WANProvider"]
        for role in context.body.children.filter({ $0.name == "RemotePartyRole" }).map(\.text) {
            rsp.add("RemotePartyDetails") { details in
                details.add("RemotePartyRole", role)
                guard known.contains(role) else {
                    details.add(statusASN1("StatusCode", "trustAnchorNotFound", code: 1))
                    return
                }
                let anchor = currentAnchor(role, context: context, state: state)
                details.add(statusASN1("StatusCode", "success"))
                details.add("RemotePartyFloorSeqNumber", anchor.floor)
                details.add("CertificateUsage", "DigitalSigning")
                details.add("ExistingRemotePartyID", anchor.party.description)
                details.add("ExistingCertificateHash", anchor.certificateSHA1 ?? "")
            }
        }
        return rsp
    }

    // MARK: - Alerts and configuration

    static let supplierESMECommon: [String] = ["810D", "810E", "8119", "8145", "8154", "8155", "8161", "8162", "8168", "8183"]
        + (0xA0...0xB3).map { String(format: "81%02X", $0) } + ["81B8", "81B9", "81BA", "81BB", "81BC", "81BD", "81BE", "81C0", "81C1", "81C4", "81C5", "81C6"]
    static let networkOperatorCommon = ["8014", "8015"]
    static let networkOperatorSinglePhase = ["8002", "8006", "8020", "8024", "8028", "802C", "8085", "8089", "808D", "8091", "8095", "8099", "8010"]
    static let supplierGSME: [String] = ["810D", "810E", "8119", "8145", "8154", "8155", "8161", "8162", "8168", "8183", "8184", "81A0", "81A1"]
        + (0xA4...0xB6).map { String(format: "81%02X", $0) } + ["81B9", "81BA", "81BC", "81BD", "81BE", "81BF", "81C0", "81C2", "81C3", "81C4", "81C5", "81C6"]
    /// The gas supplier alert codes MMC 5.4's 6.2.10 answer has elements for (its
    /// SupplierGSMEAlertsEvents sequence), in that order.
    static let supplierGSMEReported: Set<String> = Set(["810D", "810E", "8119", "8145", "8154", "8155", "8161", "8162", "8168", "8183", "8184", "81A0", "81A1"]
        + (0xA4...0xB6).map { String(format: "81%02X", $0) } + ["81B9", "81BA", "81BC", "81BD"])
    /// Alerts on by default: low credit, emergency credit, credit changes and supply.
    static let defaultOn: Set<String> = ["810D", "81AB", "8119", "8168", "81BE", "81BF", "8014", "8015", "8002", "8006", "8020", "8010"]

    func alertBehaviours(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadDeviceConfigurationEventAndAlertBehavioursRsp")
        func setting(_ path: String, _ code: String) -> String {
            state.alertSettings[path + "/x" + code] ?? (Self.defaultOn.contains(code) ? "Enable" : "Disable")
        }
        if context.command.targetType == .gsme {
            // MMC 5.4: the settings are of type SupplierGSMEAlertsEvents, one element per
            // alert code directly inside.
            rsp.add("GasSupplierAlertEventSettings") { events in
                for code in Self.supplierGSME where Self.supplierGSMEReported.contains(code) {
                    events.add("x" + code) { item in
                        for kind in ["WANAlert", "HANAlert", "EventLog", "Alarm"] {
                            item.add(kind, kind == "EventLog" ? "Enable" : setting("GasSupplier/" + kind, code))
                        }
                    }
                }
            }
        } else if context.command.originatorRoles.contains(.ed) && !context.command.originatorRoles.contains(.is) {
            rsp.add("ElectricityNetworkOperatorAlertEventSettings") { settings in
                for group in ["ElectricityNetworkOperatorWANAlertSettings", "ElectricityNetworkOperatorLoggingSettings"] {
                    settings.add(group) { alerts in
                        alerts.add("NetworkOperatorESMECommon") { for code in Self.networkOperatorCommon { $0.add("x" + code, setting(group + "/NetworkOperatorESMECommon", code)) } }
                        alerts.add("NetworkOperatorESMESinglePhase") { for code in Self.networkOperatorSinglePhase { $0.add("x" + code, setting(group + "/NetworkOperatorESMESinglePhase", code)) } }
                    }
                }
            }
        } else {
            rsp.add("ElectricitySupplierAlertEventSettings") { settings in
                for group in ["ElectricitySupplierWANAlertSettings", "ElectricitySupplierHANAlertSettings", "ElectricitySupplierAlarmSettings", "ElectricitySupplierLoggingSettings"] {
                    settings.add(group) { alerts in
                        alerts.add("SupplierESMECommon") { for code in Self.supplierESMECommon { $0.add("x" + code, setting(group + "/SupplierESMECommon", code)) } }
                    }
                }
            }
        }
        return rsp
    }

    /// Every alert code a meter here has a setting for.
    static let knownAlertCodes = Set(supplierESMECommon + networkOperatorCommon + networkOperatorSinglePhase + supplierGSME).union(defaultOn)

    /// The most alert settings a premises keeps (a meter has a few dozen).
    static let maxAlertSettings = 512

    func configureAlerts(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        var changed = 0
        var ignored = 0
        // Only settings a meter has (a known alert code, Enable or Disable) are kept, under
        // paths of the schema's depth: what a request can add to the stored state is bounded.
        func walk(_ node: ElementTree, _ path: String, depth: Int) {
            for child in node.children {
                let childPath = path.isEmpty ? child.name : path + "/" + child.name
                if child.children.isEmpty, child.name.hasPrefix("x") {
                    let value = child.text.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard Self.knownAlertCodes.contains(String(child.name.dropFirst())), value == "Enable" || value == "Disable", childPath.utf8.count <= 200,
                          state.alertSettings[childPath] != nil || state.alertSettings.count < Self.maxAlertSettings
                    else {
                        ignored += 1
                        continue
                    }
                    state.alertSettings[childPath] = value
                    changed += 1
                } else if depth < 4 {
                    walk(child, childPath, depth: depth + 1)
                }
            }
        }
        walk(context.body, "", depth: 0)
        context.changed = true
        context.note = "\(changed) alert settings changed" + (ignored > 0 ? ", \(ignored) unknown setting(s) ignored" : "")
        return DataNode("ConfigureAlertBehaviourRsp")
    }

    func setVoltage(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        var settings = state.voltage
        if let rms = context.body.child("RMSVoltageSettings") {
            func int(_ name: String) -> Int? { rms.integer(name, in: Self.unsignedInt).map(Int.init) }
            settings.extremeOverVoltagePeriod = int("RMSExtremeOverVoltageMeasurementPeriod") ?? settings.extremeOverVoltagePeriod
            settings.extremeOverVoltageThreshold = int("RMSExtremeOverVoltageThreshold") ?? settings.extremeOverVoltageThreshold
            settings.extremeUnderVoltagePeriod = int("RMSExtremeUnderVoltageMeasurementPeriod") ?? settings.extremeUnderVoltagePeriod
            settings.extremeUnderVoltageThreshold = int("RMSExtremeUnderVoltageThreshold") ?? settings.extremeUnderVoltageThreshold
            settings.sagPeriod = int("RMSVoltageSagMeasurementPeriod") ?? settings.sagPeriod
            settings.sagThreshold = int("RMSVoltageSagThreshold") ?? settings.sagThreshold
            settings.swellPeriod = int("RMSVoltageSwellMeasurementPeriod") ?? settings.swellPeriod
            settings.swellThreshold = int("RMSVoltageSwellThreshold") ?? settings.swellThreshold
        }
        if let average = context.body.child("SinglePhaseVoltageSettings") {
            settings.averageOverVoltageThreshold = average.integer("AverageRMSOverVoltageThreshold", in: Self.unsignedInt).map(Int.init) ?? settings.averageOverVoltageThreshold
            settings.averageUnderVoltageThreshold = average.integer("AverageRMSUnderVoltageThreshold", in: Self.unsignedInt).map(Int.init) ?? settings.averageUnderVoltageThreshold
            settings.averageMeasurementPeriod = average.integer("AverageRMSVoltageMeasurementPeriod", in: Self.unsignedInt).map(Int.init) ?? settings.averageMeasurementPeriod
        }
        state.voltage = settings
        context.changed = true
        context.note = "voltage thresholds set"
        return DataNode("UpdateDeviceConfigurationVoltageRsp")
    }

    func voltageConfiguration(_ state: PremisesState) -> DataNode {
        let settings = state.voltage
        var rsp = DataNode("ReadDeviceConfigurationVoltageRsp")
        rsp.add("SinglePhaseVoltageSettings") { average in
            average.add("AverageRMSOverVoltageThreshold", settings.averageOverVoltageThreshold)
            average.add("AverageRMSUnderVoltageThreshold", settings.averageUnderVoltageThreshold)
        }
        rsp.add("RMSVoltageSettings") { rms in
            rms.add("RMSExtremeOverVoltageMeasurementPeriod", settings.extremeOverVoltagePeriod)
            rms.add("RMSExtremeOverVoltageThreshold", settings.extremeOverVoltageThreshold)
            rms.add("RMSExtremeUnderVoltageMeasurementPeriod", settings.extremeUnderVoltagePeriod)
            rms.add("RMSExtremeUnderVoltageThreshold", settings.extremeUnderVoltageThreshold)
            rms.add("RMSVoltageSagMeasurementPeriod", settings.sagPeriod)
            rms.add("RMSVoltageSagThreshold", settings.sagThreshold)
            rms.add("RMSVoltageSwellMeasurementPeriod", settings.swellPeriod)
            rms.add("RMSVoltageSwellThreshold", settings.swellThreshold)
        }
        return rsp
    }

    func billingCalendar(_ context: inout Context) -> DataNode {
        var rsp = DataNode("ReadDeviceConfigurationDataBillingCalendarRsp")
        rsp.add("BillingCalendar") { calendar in
            if context.fuel == .gas {
                calendar.add("GasBillingCalendar") { gas in
                    gas.add("BillingPeriodStart", DayReadings.slotStart(day: MeterEngine.monthStart(context.today), slot: 0).iso8601)
                    gas.add("Periodicity", "Monthly")
                }
            } else {
                calendar.add("ElectricityBillingCalendar") { electricity in
                    electricity.add("BillingTime", "00:00:00.00Z")
                    electricity.add("Monthly", 1)
                }
            }
        }
        return rsp
    }

    func identity(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadDeviceConfigurationIdentityExcMPxNRsp")
        let device = context.model.device(context.command.target)
        rsp.add("DeviceIdentifier", context.command.target.description)
        rsp.add("ModelType", String((device?.model ?? "SMETS2").filter { !$0.isWhitespace }.prefix(8)))
        rsp.add("ManufacturerIdentifier", String((device?.manufacturer ?? "gbsm").prefix(32)))
        let tampered = !state.tampered.isEmpty
        switch context.command.targetType {
        case .esme:
            rsp.add("Electricity") { $0.add("SupplyTamperState", tampered ? "Locked" : "Unchanged"); $0.add("MeterVariant", "A") }
        case .gsme, .gpf:
            rsp.add("Gas") { $0.add("SupplyTamperState", tampered ? "Locked" : "Unchanged"); $0.add("SupplyDepletionState", "Unchanged") }
        default:
            break
        }
        return rsp
    }

    func mpxnConfiguration(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadDeviceConfigurationMPxNRsp")
        if context.fuel == .gas {
            rsp.add("Gas") { gas in
                if let mprn = state.mprnOverride ?? context.model.mprn { gas.add("MPRN", mprn) }
            }
        } else {
            rsp.add("Electricity") { electricity in
                if let mpan = state.importMPANOverride ?? context.model.importMPAN { electricity.add("ImportMPAN", mpan) }
                if let mpan = state.exportMPANOverride ?? context.model.exportMPAN { electricity.add("ExportMPAN", mpan) }
            }
        }
        return rsp
    }

    // MARK: - Comms hub

    static let defaultSubGHz: [(String, String)] = [
        ("NormalLimitedDutyCycleThreshold", "1.3"), ("LimitedCriticalDutyCycleThreshold", "2.2"), ("MaximumSubGHzChannelChangesPerWeek", "5"),
        ("GSMECurfew", "7"), ("ChannelQuieterThreshold", "7"), ("ChannelNoisierThreshold", "12"), ("NonGSMEPoorCommsPercentageThreshold", "60.00"),
        ("NonGSMEPoorCommsMeasurementPeriods", "130"), ("LocalCHNoiseMeasurementPeriod", "100"), ("LocalCHFailurePercentage", "40.00"),
        ("LocalCHRetryPercentage", "30.00"),
    ]
    static let channelGroups = ["LowerBandSubGHzChannels0To26", "LowerBandSubGHzChannels27To34", "LowerBandSubGHzChannels35To61", "UpperBandSubGHzChannels0To26"]

    func setSubGHz(_ context: inout Context, _ state: inout PremisesState) -> DataNode {
        var channels: [String: [Int]] = [:]
        for group in Self.channelGroups {
            guard let node = context.body.child(group) else { continue }
            // Channel numbers 0…61 only, each once: the stored configuration stays small.
            channels[group] = Array(Set(node.children.compactMap { Int($0.name.dropFirst("Channel".count)) }.filter { (0...61).contains($0) })).sorted()
        }
        var values: [String: String] = [:]
        for (name, _) in Self.defaultSubGHz { if let value = context.body.value(name) { values[name] = value } }
        state.subGHz = SubGHzConfiguration(channels: channels, values: values)
        if let first = channels["LowerBandSubGHzChannels27To34"]?.first ?? channels["LowerBandSubGHzChannels0To26"]?.first { state.subGHzChannel = first }
        context.changed = true
        context.note = "sub-GHz configuration set"
        return DataNode("SetCHFSubGHzConfigurationRsp")
    }

    func readSubGHz(_ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadCHFSubGHzConfigurationRsp")
        let channels = state.subGHz?.channels ?? ["LowerBandSubGHzChannels27To34": Array(27...34)]
        for group in Self.channelGroups {
            guard let list = channels[group] else { continue }
            rsp.add(group) { node in for channel in list.sorted() { node.addEmpty("Channel\(channel)") } }
        }
        for (name, value) in Self.defaultSubGHz { rsp.add(name, state.subGHz?.values[name] ?? value) }
        return rsp
    }

    func subGHzChannelLog(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadCHFSubGHzChannelLogRsp")
        guard let (start, end) = context.period else { return rsp }
        for scan in state.subGHzScans where scan >= start && scan <= end {
            rsp.add("LogEntry") { entry in
                entry.add("Timestamp", scan.iso8601)
                // GBCS's code for a channel scan (8F27, "Sub GHz Channel Scan initiated").
                entry.add("EventCode", "8F27")
                entry.add("EventDescription", "Sub GHz Channel Scan initiated")
                entry.add("OperatingSubGHzChannel") { channel in
                    channel.add("OperatingLowerBandSubGHzChannel") { $0.addEmpty("Channel\(state.subGHzChannel)") }
                }
                entry.add("ScanTrigger", "RemotePartyCommand")
            }
        }
        return rsp
    }

    // MARK: - Auxiliary loads

    func auxiliaryLoadSwitches(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadALCSDataRsp")
        let hcalcs = context.model.device(.hcalcs)
        let on = auxiliaryOn(context)
        rsp.add(DataNode("AuxiliaryLoadControlSwitch", attributes: [("Index", "1")], children: [
            DataNode("Description", text: hcalcs == nil ? "Not used" : "Storage heating"),
            DataNode("TypeAndIdentifier", children: [hcalcs.map { DataNode("HCALCS", text: $0.eui.description) } ?? DataNode("ALCS")]),
            DataNode("State", text: DeviceFormat.bool(hcalcs != nil && on)),
        ]))
        return rsp
    }

    /// Whether the auxiliary load (storage heaters) is on: during the cheap hours.
    func auxiliaryOn(_ context: Context) -> Bool {
        let slot = context.time.timeOfDay.minutes / 30
        return context.model.electricityTariff.rate(slot: slot) == 2
    }

    func boostButton(_ context: inout Context, _ state: inout PremisesState, add: Bool) -> DataNode {
        let name = add ? "AddToBoostButton" : "RemoveFromBoostButton"
        var changed: [Int] = []
        for child in context.body.children where child.name == name && child.text == "true" {
            if let index = child.attributes["index"].flatMap(Int.init), (1...5).contains(index) {
                state.boostButton[index - 1] = add
                changed.append(index)
            }
        }
        context.changed = true
        context.note = "auxiliary loads \(changed.map(String.init).joined(separator: ", ")) \(add ? "added to" : "removed from") the boost button"
        return DataNode(add ? "AddAuxiliaryLoadToBoostButtonRsp" : "RemoveAuxiliaryLoadFromBoostButtonRsp")
    }

    func boostDetails(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadBoostButtonDetailsRsp")
        if let (start, end) = context.period {
            for boost in state.boostEvents where boost >= start && boost <= end {
                rsp.add("EventLogEntry") { $0.add("BoostEnd", boost.adding(milliseconds: 3_600_000).iso8601); $0.add("BoostStart", boost.iso8601) }
            }
        }
        rsp.add("BoostFunctionAvailability", DeviceFormat.bool(context.model.device(.hcalcs) != nil))
        for index in 0..<5 { rsp.add("BoostFunctionControl\(index + 1)Value", DeviceFormat.bool(state.boostButton[index])) }
        return rsp
    }

    func auxiliaryControllerConfiguration(_ context: inout Context) -> DataNode {
        var rsp = DataNode("ReadAuxiliaryControllerConfigurationDataRsp")
        if context.model.device(.hcalcs) != nil {
            rsp.add(DataNode("AuxiliaryControllerDescription", attributes: [("auxiliaryControllerN", "1")],
                             children: [DataNode("AuxiliaryControlDescription", text: "Storage heating")]))
        }
        return rsp
    }

    func auxiliaryControllerOperational(_ context: inout Context, _ state: PremisesState) -> DataNode {
        var rsp = DataNode("ReadAuxiliaryControllerOperationalDataRsp")
        let hcalcs = context.model.device(.hcalcs)
        let on = hcalcs != nil && auxiliaryOn(context)
        rsp.add(DataNode("AuxiliaryControllerOperationalData", attributes: [("auxiliaryControllerN", "1")], children: [
            DataNode("TypeAndIdentifier", children: [DataNode("AuxiliaryControllerType", text: hcalcs == nil ? "None" : "HCALCS")]
                + (hcalcs.map { [DataNode("HCALCSID", text: $0.eui.description)] } ?? [])),
            DataNode("AuxiliaryControllerStateAndAssociatedInformation", children: [
                DataNode("OutputState", text: on ? "100" : "0"), DataNode("InputState", text: on ? "100" : "0"),
                DataNode("StateAndAssociatedInformation", text: on ? "charging during off-peak hours" : "off"),
            ]),
        ]))
        return rsp
    }
}
