import DUIS
import GBCS
import MMC

/// GBCS answers of the gas meter and its proxy (GBZ, ZSE clusters): the inverse of Parse and
/// Correlate's `GasReads`, of the answers that are only a ZCL Default Response (GCS09,
/// GCS44) and of CS11's Clear Event Log Response (`SecurityReads.clearEventLog`).
extension GBCSAnswers {
    static let gasTable: [String: GBCSAnswerEncoder] = [
        "GCS13c": GasGBZAnswers.touMatrices,
        "GCS13b": GasGBZAnswers.blockCounters,
        "GCS14": GasGBZAnswers.prepayValues,
        "GCS15d": GasGBZAnswers.debtPayments,
        "GCS17": GasGBZAnswers.profileData,
        "GCS61": GasGBZAnswers.dailyConsumptionLog,
        "GCS21a": GasGBZAnswers.gasConfiguration,
        "GCS21j": GasGBZAnswers.paymentMode,
        "GCS31": GasGBZAnswers.recordNetworkData,
        "GCS59": GasGBZAnswers.restoreGPFDeviceLog,
        "GCS09": GasGBZAnswers.defaultResponseOnly,
        "GCS44": GasGBZAnswers.defaultResponseOnly,
        "CS11": GasGBZAnswers.clearEventLog,
    ]
}

/// The gas family's encoders and the GBZ pieces they share (kept in their own namespace so
/// that the other families' helpers in `GBCSAnswers` never clash with them).
enum GasGBZAnswers {
    // MARK: - Clusters, types and statuses

    static let price: UInt16 = 0x0700
    static let metering: UInt16 = 0x0702
    static let prepayment: UInt16 = 0x0705
    static let deviceManagement: UInt16 = 0x0708
    static let events: UInt16 = 0x0709

    /// ZCL data types the answers use, with their sizes.
    enum ZCLType {
        static let bitmap8: UInt8 = 0x18
        static let bitmap16: UInt8 = 0x19
        static let uint8: UInt8 = 0x20
        static let uint16: UInt8 = 0x21
        static let uint24: UInt8 = 0x22
        static let uint32: UInt8 = 0x23
        static let uint48: UInt8 = 0x25
        static let int32: UInt8 = 0x2B
        static let enum8: UInt8 = 0x30
    }

    /// The ZCL status of a refused read or command, as every RTDS ERROR answer of the
    /// family has it (0xC0).
    static let failure: UInt8 = 0xC0

    /// ZCL frame controls: profile-wide (0x00) or cluster-specific (0x01), server to
    /// client (0x08), default response disabled (0x10).
    enum FrameControl {
        /// A Read Attributes Response as GCS14, GCS21a and GCS21j send it.
        static let response: UInt8 = 0x08
        /// A Read Attributes Response with the default response disabled (GCS13b, GCS13c).
        static let responseNoDefault: UInt8 = 0x18
        /// A cluster command from the server (StartSamplingResponse, ClearEventLogResponse).
        static let serverCommand: UInt8 = 0x09
        /// A cluster command from the server with the default response disabled
        /// (GetSampledDataResponse, Publish Debt Log).
        static let serverCommandNoDefault: UInt8 = 0x19
    }

    // MARK: - GBZ payloads

    /// One ZCL frame of an answer, before it is put into its GBZ component.
    struct Part {
        var cluster: UInt16
        var frameControl: UInt8
        var sequence: UInt8
        var command: UInt8
        var payload: [UInt8]
        var encrypted: Bool
    }

    /// The GBZ payload of `parts`: profile 0x0109, the component count, and each component
    /// with its extended header control (bit 0 on the last component, bit 1 on an
    /// encrypted one, whose additional header is 00 00 and whose payload is the GBCS
    /// encrypted block of the ZCL payload).
    static func gbz(_ parts: [Part], _ context: GBCSAnswerContext) throws(GBCSAnswerError) -> GBCSAnswerBody {
        guard let count = UInt8(exactly: parts.count), count > 0 else { throw .shape("a GBZ answer of \(parts.count) components") }
        var components: [GBZComponent] = []
        for (index, part) in parts.enumerated() {
            let last: UInt8 = index == parts.count - 1 ? 0x01 : 0x00
            let payload: GBZComponent.Payload = part.encrypted ? .encrypted(try context.encrypt(part.payload)) : .plain(part.payload)
            components.append(GBZComponent(control: last | (part.encrypted ? 0x02 : 0x00), cluster: part.cluster,
                                           additionalHeader: part.encrypted ? [0x00, 0x00] : nil, frameControl: part.frameControl,
                                           sequenceNumber: part.sequence, command: part.command, payload: payload))
        }
        return GBCSAnswerBody(.gbz(GBZPayload(componentCount: count, components: components)))
    }

    /// The command's component of `cluster` (the first), when the command came as GBZ.
    static func commandComponent(_ context: GBCSAnswerContext, cluster: UInt16) -> GBZComponent? {
        context.commandComponents?.first { $0.cluster == cluster }
    }

    /// The ZCL sequence number the answer to the command's component of `cluster` repeats;
    /// without a GBZ command, DCC's numbering (0, 1, 2… in component order) at `position`.
    static func sequence(_ context: GBCSAnswerContext, cluster: UInt16, position: Int) -> UInt8 {
        if let component = commandComponent(context, cluster: cluster) { return component.sequenceNumber }
        return UInt8(truncatingIfNeeded: position)
    }

    /// The attribute IDs a Read Attributes command (profile-wide 0x00) of `cluster` asks
    /// for, in its order; `fallback` (GBCS's, as DCC sends them) when the command did not
    /// come as GBZ or has no such plain request.
    static func requestedAttributes(_ context: GBCSAnswerContext, cluster: UInt16, fallback: [UInt16]) -> [UInt16] {
        guard let component = commandComponent(context, cluster: cluster), component.isProfileWide, component.command == 0x00,
              case .plain(let octets) = component.payload, !octets.isEmpty, octets.count % 2 == 0 else { return fallback }
        return stride(from: 0, to: octets.count, by: 2).map { UInt16(octets[$0]) | UInt16(octets[$0 + 1]) << 8 }
    }

    /// A Read Attributes Response (profile-wide 0x01) of `cluster` answering `ids`: each
    /// attribute the answer holds a value for, in the command's order (one it does not is
    /// left out, as Parse and Correlate then leaves it out too), or on a refusal each with
    /// the failure status.
    static func readAttributes(_ context: GBCSAnswerContext, cluster: UInt16, position: Int, frameControl: UInt8, ids: [UInt16],
                               values: [UInt16: ZCLValue], encrypted: Bool) -> Part {
        let records: [ZCLAttributeRecord]
        if context.succeeded {
            records = ids.compactMap { id in values[id].map { ZCLAttributeRecord(id: id, status: 0, value: $0) } }
        } else {
            records = ids.map { ZCLAttributeRecord(id: $0, status: failure, value: nil) }
        }
        return Part(cluster: cluster, frameControl: frameControl, sequence: sequence(context, cluster: cluster, position: position), command: 0x01,
                    payload: ZCLAttributeRecord.encodeReadAttributesResponse(records), encrypted: encrypted)
    }

    /// A ZCL Default Response (profile-wide 0x0B) to the command's component of `cluster`:
    /// the command ID it answers and `status`; its direction is the command's turned
    /// round (a command to the server is answered from it, 0x08, and a command from the
    /// server, as GCS09's and GCS44's publish commands are, to it, 0x00). Without a GBZ
    /// command, `fallbackCommand` and `fallbackFrameControl` (GBCS's).
    static func defaultResponse(_ context: GBCSAnswerContext, cluster: UInt16, position: Int = 0, status: UInt8, fallbackCommand: UInt8,
                                fallbackFrameControl: UInt8 = FrameControl.response) -> Part {
        let component = commandComponent(context, cluster: cluster)
        let frameControl = component.map { ($0.frameControl & 0x08) ^ 0x08 } ?? fallbackFrameControl
        return Part(cluster: cluster, frameControl: frameControl, sequence: sequence(context, cluster: cluster, position: position), command: 0x0B,
                    payload: [component?.command ?? fallbackCommand, status], encrypted: false)
    }

    // MARK: - Values

    /// `value`'s `size` octets, little-endian (ZCL's order).
    static func littleEndian(_ value: UInt64, _ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }

    /// An unsigned ZCL value (integers, enums, bitmaps) of `size` octets, or a `.shape`
    /// error when `value` does not fit them.
    static func unsigned(_ value: UInt64, type: UInt8, size: Int, _ what: String) throws(GBCSAnswerError) -> ZCLValue {
        guard size >= 8 || value >> UInt64(8 * size) == 0 else { throw .shape("\(what) \(value) does not fit \(size) octets") }
        return ZCLValue(type: type, octets: littleEndian(value, size))
    }

    /// A signed 32-bit ZCL integer (INT32).
    static func int32(_ value: Int64, _ what: String) throws(GBCSAnswerError) -> ZCLValue {
        let fitted: Int32 = try GBCSAnswers.fit(value, what)
        return ZCLValue(type: ZCLType.int32, octets: littleEndian(UInt64(UInt32(bitPattern: fitted)), 4))
    }

    /// The child element's number, which must not be negative.
    static func natural(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> UInt64 {
        let value = try GBCSAnswers.integer(parent, child: name)
        guard let natural = UInt64(exactly: value) else { throw .shape("\(parent.name)/\(name) \(value) is negative") }
        return natural
    }

    /// An `xs:dateTime` element as ZigBee's UTCTime (seconds since 2000, a part second
    /// dropped), or a `.shape` error before 2000 or past UTCTime's range (0xFFFFFFFF is
    /// not a time).
    static func utcTime(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) -> UInt32 {
        let time = try GBCSAnswers.timestamp(node, what)
        let (seconds, _) = time.milliseconds.quotientAndRemainder(dividingBy: 1000)
        let floored = time.milliseconds < 0 && time.milliseconds % 1000 != 0 ? seconds - 1 : seconds
        let since2000 = floored - GBCSAnswers.epoch2000
        guard since2000 >= 0, since2000 < Int64(UInt32.max) else { throw .shape("\(what) \(time.iso8601) is not a ZigBee UTC time") }
        return UInt32(since2000)
    }

    /// An exact decimal as MMC writes volumes and factors (`12.345`): its digits, with the
    /// fraction's trailing zeros dropped.
    struct ExactDecimal {
        var whole: [UInt8]
        var fraction: [UInt8]

        init(_ node: DataNode?, _ what: String) throws(GBCSAnswerError) {
            guard let text = node?.text else { throw .shape("\(what) is absent") }
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            let whole = Array(parts[0].utf8)
            var fraction = parts.count > 1 ? Array(parts[1].utf8) : []
            guard !whole.isEmpty, parts.count == 1 || !fraction.isEmpty,
                  (whole + fraction).allSatisfy({ (0x30...0x39).contains($0) }) else { throw .shape("\(what) \(text) is not a non-negative decimal") }
            while fraction.last == 0x30 { fraction.removeLast() }
            self.whole = whole.map { $0 - 0x30 }
            self.fraction = fraction.map { $0 - 0x30 }
            self.what = what
            self.text = text
        }

        let what: String
        let text: String

        /// The fewest digits right of the decimal point that write it exactly.
        var places: Int { fraction.count }

        /// The value × 10^`places`, which must be a whole number that fits UInt64.
        func scaled(_ places: Int) throws(GBCSAnswerError) -> UInt64 {
            guard places >= fraction.count else { throw .shape("\(what) \(text) has more than \(places) decimal places") }
            var value: UInt64 = 0
            for digit in whole + fraction + Array(repeating: 0, count: places - fraction.count) {
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times.addingReportingOverflow(UInt64(digit))
                guard !overflow, !carry else { throw .shape("\(what) \(text) is too large") }
                value = sum
            }
            return value
        }
    }

    /// 10^`power`.
    static func powerOfTen(_ power: Int) -> UInt64 {
        (0..<power).reduce(UInt64(1)) { value, _ in value &* 10 }
    }

    /// The places every GSME volume is scaled by: Divisor 1000 (litres), as every GSME
    /// register read of DCC's reference data and the emulator's three places have it.
    static let volumePlaces = 3

    // MARK: - Registers

    /// The Metering cluster's formatting of register values that need `places` decimal
    /// places (three at least): UnitofMeasure (0x0300, ENUM8) m³ (0x01), Multiplier
    /// (0x0301, UINT24) 1, Divisor (0x0302, UINT24) 10^places.
    static func volumeFormatting(places: Int) throws(GBCSAnswerError) -> [UInt16: ZCLValue] {
        let shown = max(places, volumePlaces)
        guard shown <= 7 else { throw .shape("a volume of \(places) decimal places (a UINT24 divisor holds 7)") }
        return [0x0300: try unsigned(0x01, type: ZCLType.enum8, size: 1, "UnitofMeasure"),
                0x0301: try unsigned(1, type: ZCLType.uint24, size: 3, "Multiplier"),
                0x0302: try unsigned(powerOfTen(shown), type: ZCLType.uint24, size: 3, "Divisor")]
    }

    /// Register values (`index` 1…4 of `name` in `parent`) as UINT48 attributes `ids`, with
    /// the formatting they need.
    static func registers(_ parent: DataNode, _ name: String, ids: [UInt16]) throws(GBCSAnswerError) -> [UInt16: ZCLValue] {
        var volumes: [UInt16: ExactDecimal] = [:]
        for node in parent.all(name) {
            guard let text = node.attribute("index"), let index = Int(text), (1...ids.count).contains(index) else {
                throw .shape("\(name) of index \(node.attribute("index") ?? "absent") (1 to \(ids.count))")
            }
            guard volumes[ids[index - 1]] == nil else { throw .shape("two \(name) of index \(index)") }
            volumes[ids[index - 1]] = try ExactDecimal(node, "\(name) \(index)")
        }
        guard !volumes.isEmpty else { throw .shape("no \(name) in the answer") }
        let places = volumes.values.map(\.places).max() ?? 0
        var values = try volumeFormatting(places: places)
        let shown = max(places, volumePlaces)
        for (id, volume) in volumes { values[id] = try unsigned(try volume.scaled(shown), type: ZCLType.uint48, size: 6, name) }
        return values
    }

    /// GCS13c (4.1.2): one encrypted Metering Read Attributes Response (default response
    /// disabled) of the attributes asked for (GBCS: Divisor 0x0302, Multiplier 0x0301,
    /// UnitofMeasure 0x0300, CurrentTier1…4SummationDelivered 0x0100, 0x0102, 0x0104,
    /// 0x0106, UINT48), from `Gas/TariffTOURegisterMatrix/TOURegisterMatrixValue` 1…4 in m³.
    static let touMatrices: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let ids = requestedAttributes(context, cluster: metering, fallback: [0x0302, 0x0301, 0x0300, 0x0100, 0x0102, 0x0104, 0x0106])
        var values: [UInt16: ZCLValue] = [:]
        if context.succeeded {
            guard let matrix = body.child("Gas")?.child("TariffTOURegisterMatrix") else { throw .shape("a TOU matrix answer without Gas/TariffTOURegisterMatrix") }
            values = try registers(matrix, "TOURegisterMatrixValue", ids: [0x0100, 0x0102, 0x0104, 0x0106])
        }
        return try gbz([readAttributes(context, cluster: metering, position: 0, frameControl: FrameControl.responseNoDefault, ids: ids,
                                       values: values, encrypted: true)], context)
    }

    /// GCS13b (4.1.4): one encrypted Metering Read Attributes Response (default response
    /// disabled) of the attributes asked for (GBCS: CurrentNoTierBlock1…4SummationDelivered
    /// 0x0700…0x0703, UINT48, then Divisor, Multiplier, UnitofMeasure), from
    /// `ImportBlockCounters/TariffBlockCounterValue` 1…4 in m³.
    static let blockCounters: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let ids = requestedAttributes(context, cluster: metering, fallback: [0x0700, 0x0701, 0x0702, 0x0703, 0x0302, 0x0301, 0x0300])
        var values: [UInt16: ZCLValue] = [:]
        if context.succeeded {
            guard let counters = body.child("ImportBlockCounters") else { throw .shape("a block counter answer without ImportBlockCounters") }
            values = try registers(counters, "TariffBlockCounterValue", ids: [0x0700, 0x0701, 0x0702, 0x0703])
        }
        return try gbz([readAttributes(context, cluster: metering, position: 0, frameControl: FrameControl.responseNoDefault, ids: ids,
                                       values: values, encrypted: true)], context)
    }

    /// The Price cluster's Price Trailing Digit (0x0617, BITMAP8) and Currency (0x0616,
    /// UINT16) a GCS14 answer carries. MMC keeps neither (its values are the meter's, with
    /// no scale), so they are written as DCC's reference answer has them: five digits
    /// (0x50) and GBP (826).
    static let priceFormatting: [UInt16: ZCLValue] = [
        0x0617: ZCLValue(type: ZCLType.bitmap8, octets: [0x50]),
        0x0616: ZCLValue(type: ZCLType.uint16, octets: littleEndian(826, 2)),
    ]

    /// GCS14 (4.3): a Price Read Attributes Response (Price Trailing Digit 0x0617, Currency
    /// 0x0616; `priceFormatting`), then an encrypted Prepayment Read Attributes Response of
    /// Accumulated Debt (0x0005, INT32), Emergency Credit Remaining (0x0002, INT32), Credit
    /// Remaining (0x0001, INT32, MeterBalance), DebtAmount#3 (0x0231, UINT32,
    /// PaymentDebtRegister), DebtAmount#1 and #2 (0x0211, 0x0221, UINT32,
    /// TimeDebtRegister1/2), as held. A refusal fails the price attributes and answers the
    /// prepayment read with a Default Response (0xFF, FAILURE), as DCC's ERROR answer does.
    static let prepayValues: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let priceIDs = requestedAttributes(context, cluster: price, fallback: [0x0617, 0x0616])
        let priceRead = readAttributes(context, cluster: price, position: 0, frameControl: FrameControl.response, ids: priceIDs,
                                       values: priceFormatting, encrypted: false)
        guard context.succeeded else {
            var refusal = defaultResponse(context, cluster: prepayment, position: 1, status: 0x01, fallbackCommand: 0xFF)
            refusal.payload = [0xFF, 0x01]
            return try gbz([priceRead, refusal], context)
        }
        let values: [UInt16: ZCLValue] = [
            0x0005: try int32(try GBCSAnswers.integer(body, child: "AccumulatedDebtRegister"), "AccumulatedDebtRegister"),
            0x0002: try int32(try GBCSAnswers.integer(body, child: "EmergencyCreditBalance"), "EmergencyCreditBalance"),
            0x0001: try int32(try GBCSAnswers.integer(body, child: "MeterBalance"), "MeterBalance"),
            0x0231: try unsigned(try natural(body, "PaymentDebtRegister"), type: ZCLType.uint32, size: 4, "PaymentDebtRegister"),
            0x0211: try unsigned(try natural(body, "TimeDebtRegister1"), type: ZCLType.uint32, size: 4, "TimeDebtRegister1"),
            0x0221: try unsigned(try natural(body, "TimeDebtRegister2"), type: ZCLType.uint32, size: 4, "TimeDebtRegister2"),
        ]
        let prepaymentIDs = requestedAttributes(context, cluster: prepayment, fallback: [0x0005, 0x0002, 0x0001, 0x0231, 0x0211, 0x0221])
        return try gbz([priceRead, readAttributes(context, cluster: prepayment, position: 1, frameControl: FrameControl.response,
                                                  ids: prepaymentIDs, values: values, encrypted: true)], context)
    }

    // MARK: - Logs

    /// GCS15d (4.4.4): an encrypted ZSE Publish Debt Log (Prepayment, command 0x06, default
    /// response disabled): Command Index 0 and Total Number of Commands 1 (UINT8 each), then
    /// per `PaymentBasedDebtRepayment/LogEntry`, in order, Collection Time (UTCTime),
    /// Amount Collected (UINT32), Debt Type 0x02 (the payment-based debt) and Outstanding
    /// Debt (UINT32; MMC does not keep it, so 0, as in DCC's reference answer). MMC holds
    /// ten. A refusal is a Default Response to Get Debt Repayment Log (0x0A) with 0xC0.
    static let debtPayments: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        guard context.succeeded else { return try gbz([defaultResponse(context, cluster: prepayment, status: failure, fallbackCommand: 0x0A)], context) }
        guard let log = body.child("PaymentBasedDebtRepayment") else { throw .shape("a debt payment answer without PaymentBasedDebtRepayment") }
        let entries = log.all("LogEntry")
        guard entries.count <= 10 else { throw .shape("\(entries.count) debt payments (MMC and the command hold 10)") }
        var payload: [UInt8] = [0x00, 0x01]
        for entry in entries {
            payload += littleEndian(UInt64(try utcTime(entry.child("Timestamp"), "a debt payment's Timestamp")), 4)
            payload += try unsigned(try natural(entry, "Amount"), type: ZCLType.uint32, size: 4, "a debt payment's Amount").octets
            payload += [0x02, 0x00, 0x00, 0x00, 0x00]
        }
        return try gbz([Part(cluster: prepayment, frameControl: FrameControl.serverCommandNoDefault, sequence: sequence(context, cluster: prepayment, position: 0),
                             command: 0x06, payload: payload, encrypted: true)], context)
    }

    /// A GetSampledData command's SampleID and EarliestSampleTime (Metering 0x0702,
    /// command 0x08: SampleID UINT16, EarliestSampleTime UTCTime, SampleType ENUM8,
    /// NumberOfSamples UINT16), when the command came as GBZ.
    static func sampledDataRequest(_ context: GBCSAnswerContext) -> (sampleID: UInt16, earliest: UInt32)? {
        guard let component = commandComponent(context, cluster: metering), component.command == 0x08, !component.isProfileWide,
              case .plain(let octets) = component.payload, octets.count >= 6 else { return nil }
        let earliest = octets[2..<6].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (UInt16(octets[0]) | UInt16(octets[1]) << 8, earliest)
    }

    /// An encrypted ZSE GetSampledDataResponse (Metering 0x0702, command 0x07, default
    /// response disabled): SampleID (the command's, else `fallbackID`), SampleStartTime
    /// (the first sample's time, else the command's EarliestSampleTime, else the device's
    /// clock), SampleType 0 (consumption delivered), SampleRequestInterval `interval`,
    /// NumberOfSamples and the UINT24 samples, each `time` apart from the one before
    /// (`step` seconds), in litres (the m³ value × 1000, `volumePlaces`), 0xFFFFFF for an
    /// entry without a value. A refusal is a Default Response to GetSampledData (0x08)
    /// with 0xC0.
    static func sampledData(_ entries: [(time: DataNode?, value: DataNode?)], _ context: GBCSAnswerContext, fallbackID: UInt16, interval: UInt16,
                            step: UInt32, max: Int) throws(GBCSAnswerError) -> GBCSAnswerBody {
        guard context.succeeded else { return try gbz([defaultResponse(context, cluster: metering, status: failure, fallbackCommand: 0x08)], context) }
        guard entries.count <= max else { throw .shape("\(entries.count) samples (MMC holds \(max))") }
        let request = sampledDataRequest(context)
        var start = request?.earliest ?? context.seconds2000
        var samples: [UInt8] = []
        for (index, entry) in entries.enumerated() {
            let time = try utcTime(entry.time, "sample \(index + 1)'s Timestamp")
            if index == 0 { start = time }
            let (offset, overflow) = UInt32(index).multipliedReportingOverflow(by: step)
            let (expected, carry) = start.addingReportingOverflow(offset)
            guard !overflow, !carry, time == expected else { throw .shape("sample \(index + 1) is not \(step) s after the one before") }
            if let value = entry.value {
                let litres = try ExactDecimal(value, "sample \(index + 1)'s volume").scaled(volumePlaces)
                guard litres < 0xFF_FFFF else { throw .shape("sample \(index + 1)'s volume \(value.text ?? "") does not fit a UINT24 sample") }
                samples += littleEndian(litres, 3)
            } else {
                samples += [0xFF, 0xFF, 0xFF]
            }
        }
        var payload = littleEndian(UInt64(request?.sampleID ?? fallbackID), 2) + littleEndian(UInt64(start), 4) + [0x00]
        payload += littleEndian(UInt64(interval), 2) + littleEndian(UInt64(entries.count), 2) + samples
        return try gbz([Part(cluster: metering, frameControl: FrameControl.serverCommandNoDefault, sequence: sequence(context, cluster: metering, position: 0),
                             command: 0x07, payload: payload, encrypted: true)], context)
    }

    /// GCS17 (4.8.1): the half-hour profile as a GetSampledDataResponse (`sampledData`,
    /// SampleID 0 as DCC's reference command asks, interval 1800 s) of each `LogEntry`'s
    /// `Timestamp` and `Gas/PrimaryValue` in m³. MMC holds 19056.
    static let profileData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        let entries = body.all("LogEntry").map { (time: $0.child("Timestamp"), value: $0.child("Gas")?.child("PrimaryValue")) }
        return try sampledData(entries, context, fallbackID: 0, interval: 1800, step: 1800, max: 19056)
    }

    /// GCS61 (4.17): the daily consumption log as a GetSampledDataResponse (`sampledData`,
    /// SampleID 1 as DCC's reference command asks, interval 0xFFFF, a day apart) of each
    /// `Gas/LogEntry`'s `Timestamp` and `Value` in m³. MMC holds 731.
    static let dailyConsumptionLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var entries: [(time: DataNode?, value: DataNode?)] = []
        if context.succeeded {
            guard let gas = body.child("Gas") else { throw .shape("a daily consumption log without Gas") }
            entries = gas.all("LogEntry").map { (time: $0.child("Timestamp"), value: $0.child("Value")) }
        }
        return try sampledData(entries, context, fallbackID: 1, interval: 0xFFFF, step: 86400, max: 731)
    }

    // MARK: - Configuration

    /// A number with ZSE's trailing-digit bitmap (the high nibble the places right of the
    /// decimal point, the fewest that write it exactly; the low nibble `reserved`): the
    /// UINT32 value and the BITMAP8.
    static func trailingDigit(_ node: DataNode?, _ what: String, reserved: UInt8 = 0) throws(GBCSAnswerError) -> (value: ZCLValue, digit: ZCLValue) {
        let decimal = try ExactDecimal(node, what)
        guard decimal.places <= 15 else { throw .shape("\(what) has \(decimal.places) decimal places (a trailing digit holds 15)") }
        let value = try unsigned(try decimal.scaled(decimal.places), type: ZCLType.uint32, size: 4, what)
        return (value, ZCLValue(type: ZCLType.bitmap8, octets: [UInt8(decimal.places) << 4 | reserved]))
    }

    /// GCS21a (6.2.8): a Price Read Attributes Response of CalorificValueTrailingDigit
    /// (0x0306), CalorificValueUnit (0x0305, MJ/m³ 0x01), CalorificValue (0x0304, UINT32),
    /// ConversionFactorTrailingDigit (0x0303) and ConversionFactor (0x0302, UINT32), then a
    /// Metering one of UncontrolledFlowDivisor (0x0B13), UncontrolledFlowMultiplier (0x0B12,
    /// 1), UncontrolledFlowThresholdUnitofMeasure (0x0B11, m³/h 0x01),
    /// UncontrolledFlowThreshold (0x0B10, UINT16 each: the rate × 10^places over 10^places),
    /// FlowStabilisationPeriod (0x0B14, UINT8) and FlowMeasurementPeriod (0x0B15, UINT16);
    /// neither encrypted. Each decimal is written with the fewest places that give it
    /// exactly; ConversionFactorTrailingDigit's reserved low nibble is 1, as DCC's reference
    /// answer sends it (Parse and Correlate reads only the high nibble).
    static let gasConfiguration: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var priceValues: [UInt16: ZCLValue] = [:]
        var meteringValues: [UInt16: ZCLValue] = [:]
        if context.succeeded {
            let calorific = try trailingDigit(body.child("CalorificValue"), "CalorificValue")
            let conversion = try trailingDigit(body.child("ConversionFactor"), "ConversionFactor", reserved: 0x01)
            priceValues = [0x0306: calorific.digit, 0x0305: ZCLValue(type: ZCLType.enum8, octets: [0x01]), 0x0304: calorific.value,
                           0x0303: conversion.digit, 0x0302: conversion.value]
            let flow = try ExactDecimal(body.child("UncontrolledGasFlowRate"), "UncontrolledGasFlowRate")
            guard flow.places <= 4 else { throw .shape("UncontrolledGasFlowRate has \(flow.places) decimal places (a UINT16 divisor holds 4)") }
            meteringValues = [
                0x0B13: try unsigned(powerOfTen(flow.places), type: ZCLType.uint16, size: 2, "UncontrolledFlowDivisor"),
                0x0B12: ZCLValue(type: ZCLType.uint16, octets: [0x01, 0x00]),
                0x0B11: ZCLValue(type: ZCLType.enum8, octets: [0x01]),
                0x0B10: try unsigned(try flow.scaled(flow.places), type: ZCLType.uint16, size: 2, "UncontrolledGasFlowRate"),
                0x0B14: try unsigned(try natural(body, "FlowStabilisationPeriod"), type: ZCLType.uint8, size: 1, "FlowStabilisationPeriod"),
                0x0B15: try unsigned(try natural(body, "FlowMeasurementPeriod"), type: ZCLType.uint16, size: 2, "FlowMeasurementPeriod"),
            ]
        }
        let priceIDs = requestedAttributes(context, cluster: price, fallback: [0x0306, 0x0305, 0x0304, 0x0303, 0x0302])
        let meteringIDs = requestedAttributes(context, cluster: metering, fallback: [0x0B13, 0x0B12, 0x0B11, 0x0B10, 0x0B14, 0x0B15])
        return try gbz([readAttributes(context, cluster: price, position: 0, frameControl: FrameControl.response, ids: priceIDs, values: priceValues, encrypted: false),
                        readAttributes(context, cluster: metering, position: 1, frameControl: FrameControl.response, ids: meteringIDs, values: meteringValues,
                                       encrypted: false)], context)
    }

    /// GCS21j (6.2.9): a Prepayment Read Attributes Response of Payment Control
    /// Configuration (0x0000, BITMAP16): GBCS's credit mode 0x0094 or prepayment mode
    /// 0x0097, with bit 11 set unless debt collection is suspended while emergency credit
    /// is in use and bit 10 set when it is suspended while the supply is disabled.
    static let paymentMode: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var values: [UInt16: ZCLValue] = [:]
        if context.succeeded {
            var bits: UInt64
            switch body.child("PaymentMode")?.text {
            case "Credit": bits = 0x0094
            case "Prepayment": bits = 0x0097
            case let other: throw .shape("PaymentMode \(other ?? "absent")")
            }
            if try flag(body, "SuspendDebtEmergency") == false { bits |= 0x0800 }
            if try flag(body, "SuspendDebtDisabled") { bits |= 0x0400 }
            values[0x0000] = try unsigned(bits, type: ZCLType.bitmap16, size: 2, "Payment Control Configuration")
        }
        let ids = requestedAttributes(context, cluster: prepayment, fallback: [0x0000])
        return try gbz([readAttributes(context, cluster: prepayment, position: 0, frameControl: FrameControl.response, ids: ids, values: values,
                                       encrypted: false)], context)
    }

    /// An `xs:boolean` element.
    static func flag(_ parent: DataNode, _ name: String) throws(GBCSAnswerError) -> Bool {
        switch parent.child(name)?.text {
        case "true", "1": return true
        case "false", "0": return false
        case let other: throw .shape("\(parent.name)/\(name) \(other ?? "absent") is not a boolean")
        }
    }

    // MARK: - Network data, device log, commands

    /// GCS31 (14.1): a ZSE StartSamplingResponse (Metering, command 0x0D): the SampleID
    /// (UINT16) the meter allocated; 0xFFFF when it could not start sampling (a refusal).
    static let recordNetworkData: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var sample: UInt64 = 0xFFFF
        if context.succeeded {
            sample = try natural(body, "SampleID")
            guard sample < 0xFFFF else { throw .shape("SampleID \(sample) (a UINT16 other than 0xFFFF, which refuses)") }
        }
        return try gbz([Part(cluster: metering, frameControl: FrameControl.serverCommand, sequence: sequence(context, cluster: metering, position: 0),
                             command: 0x0D, payload: littleEndian(sample, 2), encrypted: false)], context)
    }

    /// GBCS's ASN.1 DeviceType, as MMC names it.
    static let deviceTypes = ["GSME", "ESME", "CHF", "GPF", "HCALCS", "PPMID", "Type2"]

    /// GBCS's JoinResponseCode, as MMC names it.
    static let joinResponseCodes = [
        "success", "invalidMessageCodeForJoinMethodAndRole", "invalidJoinMethodAndRole", "incompatibleWithExistingEntry", "deviceLogFull",
        "writeFailure", "keyAgreementNoResources", "keyAgreementUnknownIssuer", "keyAgreementUnsupportedSuite", "keyAgreementBadMessage",
        "keyAgreementBadKeyConfirm", "invalidOrMissingCertificate", "noPartnerLinkKeyReceived", "noCBKEResponse",
    ]

    static func asn1(_ tag: UInt8, _ octets: [UInt8]) -> ASN1Value { ASN1Value(tag: [tag], content: .primitive(octets)) }
    static func asn1(_ children: [ASN1Value]) -> ASN1Value { ASN1Value(tag: [0x30], content: .constructed(children)) }

    /// GCS59 (8.12.2): SEQUENCE { SEQUENCE OF SEQUENCE { SEQUENCE { deviceID OCTET STRING
    /// (8), deviceType INTEGER }, JoinResponseCode INTEGER } }, one per
    /// `RestoreDeviceLogOutcome` (its `DeviceLogEntry` and `joinResponseCode`, whose
    /// ResponseCode and ASN1Status must agree). The answer has no refusal of its own: a
    /// refused restore is an empty list.
    static let restoreGPFDeviceLog: GBCSAnswerEncoder = { body, context throws(GBCSAnswerError) in
        var outcomes: [ASN1Value] = []
        if context.succeeded {
            for outcome in body.all("RestoreDeviceLogOutcome") {
                guard let entry = outcome.child("DeviceLogEntry") else { throw .shape("a restore outcome without DeviceLogEntry") }
                guard let idText = entry.child("DeviceID")?.text, let id = EUI64(idText) else {
                    throw .shape("DeviceID \(entry.child("DeviceID")?.text ?? "absent") is not an EUI-64")
                }
                guard let type = entry.child("DeviceType")?.text.flatMap({ deviceTypes.firstIndex(of: $0) }) else {
                    throw .shape("DeviceType \(entry.child("DeviceType")?.text ?? "absent") is not one GBCS names")
                }
                let status = outcome.child("joinResponseCode")
                let named = status?.child("ASN1Status")?.text.flatMap { joinResponseCodes.firstIndex(of: $0) }
                let numbered = status?.attribute("ResponseCode").flatMap { Int($0) }
                guard let code = named ?? numbered, numbered == nil || numbered == code, named == nil || named == code,
                      joinResponseCodes.indices.contains(code) else {
                    throw .shape("joinResponseCode \(status?.attribute("ResponseCode") ?? "") \(status?.child("ASN1Status")?.text ?? "") is not one GBCS defines")
                }
                outcomes.append(asn1([asn1([asn1(0x04, id.bytes), asn1(0x02, [UInt8(type)])]), asn1(0x02, [UInt8(code)])]))
            }
        }
        return GBCSAnswerBody(.asn1(asn1([asn1(outcomes)])))
    }

    /// GCS09 (3.2) and GCS44 (3.4): a ZCL Default Response to the Device Management
    /// cluster's publish command (Publish Change of Tenancy 0x00, Publish Change of
    /// Supplier 0x01), status success or, refused, 0xC0.
    static let defaultResponseOnly: GBCSAnswerEncoder = { _, context throws(GBCSAnswerError) in
        let command: UInt8 = context.useCase.name == "GCS09" ? 0x00 : 0x01
        return try gbz([defaultResponse(context, cluster: deviceManagement, status: context.succeeded ? 0x00 : failure, fallbackCommand: command,
                                        fallbackFrameControl: 0x00)], context)
    }

    /// CS11 (3.3): from a ZigBee device, a ZSE Clear Event Log Response (Events 0x0709,
    /// command 0x02): the ClearedEventsLogs bitmap, the bit of the log the request named
    /// (its Log ID, 0 all logs to 7; DCC asks for 3, the general event log, bit 3), none
    /// when refused. When the command came as DLMS, a result per request (success, or 1).
    static let clearEventLog: GBCSAnswerEncoder = { _, context throws(GBCSAnswerError) in
        if let requests = context.requests, !requests.isEmpty {
            return GBCSAnswers.dlmsRefusal(context, requests, result: context.succeeded ? 0 : 1)
        }
        var logID: UInt8 = 0x03
        if let component = commandComponent(context, cluster: events), component.command == 0x01, case .plain(let octets) = component.payload,
           let first = octets.first {
            logID = first
        }
        guard logID <= 7 else { throw .shape("a Clear Event Log Request for log \(logID), which ZSE does not define") }
        let cleared: UInt8 = context.succeeded ? 1 << logID : 0x00
        return try gbz([Part(cluster: events, frameControl: FrameControl.serverCommand, sequence: sequence(context, cluster: events, position: 0),
                             command: 0x02, payload: [cleared], encrypted: false)], context)
    }
}
