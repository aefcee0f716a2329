import GBCS
import MMC

/// The gas meter's and GPF's answers (GBZ, ZSE clusters), GBCS payload to MMC elements.
///
/// Gas volumes are written as gbsm's emulator writes them: m³ as an exact decimal with at
/// least three places. A ZSE consumption value becomes m³ through the Metering cluster's
/// formatting attributes read with it: UnitofMeasure (0x0300) must say m³ (0x01, binary),
/// and the value is `value × Multiplier (0x0301) / Divisor (0x0302)`, exactly; a divisor
/// whose quotient has no finite decimal, a zero multiplier or divisor, or another unit is
/// a `MappingError.shape`, never a rounded value.
enum GasReads {
    static let table: [String: MMCMapping.Mapper] = [
        "GCS13c": touMatrices,
        "GCS13b": blockCounters,
        "GCS14": prepayValues,
        "GCS15d": debtPayments,
        "GCS17": profileData,
        "GCS61": dailyConsumptionLog,
        "GCS21a": gasConfiguration,
        "GCS21j": paymentMode,
        "GCS31": recordNetworkData,
        "GCS59": restoreGPFDeviceLog,
    ]

    static let metering: UInt16 = 0x0702
    static let price: UInt16 = 0x0700
    static let prepayment: UInt16 = 0x0705

    // MARK: - Reading ZCL values

    /// A Read Attributes Response value of the given ZCL type, as an unsigned number.
    static func unsigned(_ attributes: [ZCLAttributeKey: ZCLValue], _ cluster: UInt16, _ id: UInt16, type: UInt8, _ what: String) throws(MappingError) -> UInt64 {
        guard let value = attributes[ZCLAttributeKey(cluster: cluster, id: id)] else { throw .shape("\(what) (attribute \(hex(id))) is missing") }
        guard value.type == type, let number = value.unsigned else { throw .shape("\(what) is ZCL type \(hex(value.type)), not \(hex(type))") }
        return number
    }

    /// A Read Attributes Response value of the given signed ZCL type.
    static func signed(_ attributes: [ZCLAttributeKey: ZCLValue], _ cluster: UInt16, _ id: UInt16, type: UInt8, _ what: String) throws(MappingError) -> Int64 {
        guard let value = attributes[ZCLAttributeKey(cluster: cluster, id: id)] else { throw .shape("\(what) (attribute \(hex(id))) is missing") }
        guard value.type == type, let number = value.signed else { throw .shape("\(what) is ZCL type \(hex(value.type)), not \(hex(type))") }
        return number
    }

    static func hex(_ value: UInt16) -> String { "0x" + MMCMapping.hex16(value) }
    static func hex(_ value: UInt8) -> String { "0x" + String(MMCMapping.hex16(UInt16(value)).suffix(2)) }

    /// The one component of the answer that is the given cluster's command from the
    /// server (not a profile-wide one), with its decrypted payload.
    static func serverCommand(_ reading: Reading, cluster: UInt16, command: UInt8, _ what: String) throws(MappingError) -> [UInt8] {
        let payloads = reading.componentPayloads
        var found: [UInt8]?
        for (component, payload) in zip(reading.components, payloads)
        where component.cluster == cluster && component.command == command && !component.isProfileWide && component.isFromServer {
            guard found == nil else { throw .shape("more than one \(what)") }
            found = payload
        }
        guard let found else { throw .shape("no \(what) (cluster \(hex(cluster)) command \(hex(command)))") }
        return found
    }

    /// Little-endian unsigned integers read in order, each a `.shape` error past the end.
    struct LittleEndian {
        let octets: [UInt8]
        var offset = 0
        let what: String

        init(_ octets: [UInt8], _ what: String) {
            self.octets = octets
            self.what = what
        }

        var remaining: Int { octets.count - offset }

        mutating func uint(_ size: Int, _ field: String) throws(MappingError) -> UInt64 {
            guard size <= remaining else { throw .shape("\(what) ends before its \(field)") }
            var value: UInt64 = 0
            for index in (offset..<offset + size).reversed() { value = value << 8 | UInt64(octets[index]) }
            offset += size
            return value
        }
    }

    // MARK: - Volumes

    /// The Metering cluster's formatting of a consumption value.
    struct Formatting: Equatable {
        var multiplier: UInt64
        var divisor: UInt64

        /// What gbsm assumes for a GetSampledDataResponse, which carries no formatting
        /// attributes (ZSE sends UnitofMeasure, Multiplier and Divisor only as attributes
        /// and GBCS's GCS17 and GCS61 do not read them): m³, Multiplier 1, Divisor 1000
        /// (samples in litres), the formatting every GSME register read of DCC's
        /// reference data (GCS13b, GCS13c) carries and the emulator's three places.
        /// UNCERTAIN: no GBCS or MMC text read states it.
        static let assumedForSamples = Formatting(multiplier: 1, divisor: 1000)
    }

    /// UnitofMeasure (which must be m³), Multiplier and Divisor as a Read Attributes
    /// Response of the Metering cluster gives them. GBCS's register reads ask for all
    /// three, so a missing one is a `.shape` error.
    static func volumeFormatting(_ attributes: [ZCLAttributeKey: ZCLValue]) throws(MappingError) -> Formatting {
        let unit = try unsigned(attributes, metering, 0x0300, type: 0x30, "UnitofMeasure")
        guard unit == 0x01 else { throw .shape("UnitofMeasure \(unit), not m³ (0x01)") }
        return Formatting(multiplier: try unsigned(attributes, metering, 0x0301, type: 0x22, "Multiplier"),
                          divisor: try unsigned(attributes, metering, 0x0302, type: 0x22, "Divisor"))
    }

    /// `value × multiplier / divisor` as an exact decimal with at least `places` places.
    static func decimal(_ value: UInt64, _ formatting: Formatting, places minimum: Int = 3) throws(MappingError) -> String {
        guard formatting.multiplier > 0, formatting.divisor > 0 else { throw .shape("a multiplier of \(formatting.multiplier) and divisor of \(formatting.divisor)") }
        let (product, overflow) = value.multipliedReportingOverflow(by: formatting.multiplier)
        guard !overflow else { throw .shape("\(value) × \(formatting.multiplier) is too large") }
        // Reduce the fraction; what is left of the divisor must be 2^a × 5^b.
        var a = product, b = formatting.divisor
        while b != 0 { (a, b) = (b, a % b) }
        let common = max(a, 1)
        let numerator = product / common
        var denominator = formatting.divisor / common
        var twos = 0, fives = 0
        while denominator % 2 == 0 { denominator /= 2; twos += 1 }
        while denominator % 5 == 0 { denominator /= 5; fives += 1 }
        guard denominator == 1 else { throw .shape("a divisor of \(formatting.divisor) gives \(value) no exact decimal") }
        let places = max(twos, fives)
        // numerator / (2^twos × 5^fives) = numerator × 2^(places − twos) × 5^(places − fives) / 10^places
        var scaled = numerator
        for _ in 0..<(places - twos) {
            let (next, over) = scaled.multipliedReportingOverflow(by: 2)
            guard !over else { throw .shape("\(value) is too large to scale") }
            scaled = next
        }
        for _ in 0..<(places - fives) {
            let (next, over) = scaled.multipliedReportingOverflow(by: 5)
            guard !over else { throw .shape("\(value) is too large to scale") }
            scaled = next
        }
        let shown = max(places, minimum)
        var digits = String(scaled) + String(repeating: "0", count: shown - places)
        if digits.count <= shown { digits = String(repeating: "0", count: shown + 1 - digits.count) + digits }
        guard shown > 0 else { return digits }
        return digits.dropLast(shown) + "." + digits.suffix(shown)
    }

    /// A number with a ZSE trailing-digit bitmap (the high nibble is the number of digits
    /// right of the decimal point; the low nibble is reserved), exactly.
    static func trailing(_ value: UInt64, digit bitmap: UInt64, places minimum: Int) throws(MappingError) -> String {
        var divisor: UInt64 = 1
        for _ in 0..<Int(bitmap >> 4 & 0x0F) { divisor *= 10 }
        return try decimal(value, Formatting(multiplier: 1, divisor: divisor), places: minimum)
    }

    // MARK: - Registers

    /// GCS13c (4.1.2): Metering Read Attributes of CurrentTier1…4SummationDelivered
    /// (0x0100, 0x0102, 0x0104, 0x0106, UINT48, SMETS TariffTOURegisterMatrix[1..4]) with
    /// UnitofMeasure, Multiplier and Divisor; written as `TOURegisterMatrixValue` 1…4 in m³.
    /// A tier the answer does not carry is left out.
    static let touMatrices: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let formatting = try volumeFormatting(attributes)
        var matrix = DataNode("TariffTOURegisterMatrix")
        for (index, id) in [UInt16(0x0100), 0x0102, 0x0104, 0x0106].enumerated() where attributes[ZCLAttributeKey(cluster: metering, id: id)] != nil {
            let value = try unsigned(attributes, metering, id, type: 0x25, "CurrentTier\(index + 1)SummationDelivered")
            matrix.add(DataNode("TOURegisterMatrixValue", text: try decimal(value, formatting), attributes: [("index", String(index + 1))]))
        }
        guard !matrix.children.isEmpty else { throw .shape("no CurrentTierNSummationDelivered in the answer") }
        var gas = DataNode("Gas")
        gas.add(matrix)
        return [gas]
    }

    /// GCS13b (4.1.4): Metering Read Attributes of CurrentNoTierBlock1…4SummationDelivered
    /// (0x0700…0x0703, UINT48, SMETS TariffBlockCounterMatrix[1..4]) with UnitofMeasure,
    /// Multiplier and Divisor; written as `TariffBlockCounterValue` 1…4 in m³.
    static let blockCounters: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let formatting = try volumeFormatting(attributes)
        var counters = DataNode("ImportBlockCounters")
        for (index, id) in [UInt16(0x0700), 0x0701, 0x0702, 0x0703].enumerated() where attributes[ZCLAttributeKey(cluster: metering, id: id)] != nil {
            let value = try unsigned(attributes, metering, id, type: 0x25, "CurrentNoTierBlock\(index + 1)SummationDelivered")
            counters.add(DataNode("TariffBlockCounterValue", text: try decimal(value, formatting), attributes: [("index", String(index + 1))]))
        }
        guard !counters.children.isEmpty else { throw .shape("no CurrentNoTierBlockNSummationDelivered in the answer") }
        return [counters]
    }

    /// GCS14 (4.3): Price Read Attributes of Price Trailing Digit (0x0617) and Currency
    /// (0x0616), then Prepayment Read Attributes: Accumulated Debt (0x0005, INT32),
    /// Emergency Credit Remaining (0x0002, INT32), Credit Remaining (0x0001, INT32, SMETS
    /// MeterBalance), DebtAmount#3 (0x0231, UINT32, PaymentDebtRegister), DebtAmount#1 and
    /// #2 (0x0211, 0x0221, UINT32, TimeDebtRegisters[1..2]).
    ///
    /// The values are written as the meter holds them, in its currency's units with the
    /// trailing digit not applied, as the electricity meter's (ECS19, ECS82) DLMS values
    /// are: MMC's elements are integers with no scale beside them. UNCERTAIN: no source
    /// read says whether DCC rescales them.
    static let prepayValues: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        return [DataNode("EmergencyCreditBalance", text: String(try signed(attributes, prepayment, 0x0002, type: 0x2B, "Emergency Credit Remaining"))),
                DataNode("AccumulatedDebtRegister", text: String(try signed(attributes, prepayment, 0x0005, type: 0x2B, "Accumulated Debt"))),
                DataNode("PaymentDebtRegister", text: String(try unsigned(attributes, prepayment, 0x0231, type: 0x23, "DebtAmount#3"))),
                DataNode("TimeDebtRegister1", text: String(try unsigned(attributes, prepayment, 0x0211, type: 0x23, "DebtAmount#1"))),
                DataNode("TimeDebtRegister2", text: String(try unsigned(attributes, prepayment, 0x0221, type: 0x23, "DebtAmount#2"))),
                DataNode("MeterBalance", text: String(try signed(attributes, prepayment, 0x0001, type: 0x2B, "Credit Remaining")))]
    }

    /// GCS15d (4.4.4): ZSE Publish Debt Log (Prepayment 0x0705, command 0x06): Command
    /// Index and Total Number of Commands (UINT8 each), then 13-octet records of
    /// Collection Time (UTCTime), Amount Collected (UINT32), Debt Type (ENUM8) and
    /// Outstanding Debt (UINT32). The use case reads the payment-based debt's payments, so
    /// every record must be of debt type 0x02 (ZSE's third debt, GBCS's payment-based
    /// debt); each becomes a `LogEntry` of `Amount` (currency units as held, as for GCS14)
    /// and `Timestamp`, in the order sent. MMC holds ten.
    static let debtPayments: MMCMapping.Mapper = { reading throws(MappingError) in
        let payload = try serverCommand(reading, cluster: prepayment, command: 0x06, "Publish Debt Log")
        var reader = LittleEndian(payload, "a Publish Debt Log")
        _ = try reader.uint(1, "Command Index")
        _ = try reader.uint(1, "Total Number of Commands")
        guard reader.remaining % 13 == 0 else { throw .shape("a Publish Debt Log of \(payload.count) octets is not whole records") }
        guard reader.remaining / 13 <= 10 else { throw .shape("\(reader.remaining / 13) debt payments (MMC holds 10)") }
        var log = DataNode("PaymentBasedDebtRepayment")
        while reader.remaining > 0 {
            let time = try reader.uint(4, "Collection Time")
            let amount = try reader.uint(4, "Amount Collected")
            let type = try reader.uint(1, "Debt Type")
            _ = try reader.uint(4, "Outstanding Debt")
            guard type == 0x02 else { throw .shape("a debt payment of debt type \(type), not the payment-based debt (2)") }
            var entry = DataNode("LogEntry")
            entry.add("Amount", String(amount))
            entry.add("Timestamp", try MMCFormat.time(secondsSince2000: Int64(time)))
            log.add(entry)
        }
        return [log]
    }

    // MARK: - Sampled data (profile and daily log)

    /// A ZSE GetSampledDataResponse (Metering 0x0702, command 0x07): SampleID (UINT16),
    /// SampleStartTime (UTCTime), SampleType (ENUM8, 0 consumption delivered),
    /// SampleRequestInterval (UINT16, seconds), NumberOfSamples (UINT16), then that many
    /// UINT24 samples, each the consumption since the previous sample, oldest first;
    /// 0xFFFFFF marks an invalid sample.
    struct Samples {
        var start: UInt64
        var interval: UInt64
        var values: [UInt64]

        init(_ payload: [UInt8]) throws(MappingError) {
            var reader = LittleEndian(payload, "a GetSampledDataResponse")
            _ = try reader.uint(2, "SampleID")
            start = try reader.uint(4, "SampleStartTime")
            let type = try reader.uint(1, "SampleType")
            guard type == 0 else { throw .shape("SampleType \(type), not consumption delivered (0)") }
            interval = try reader.uint(2, "SampleRequestInterval")
            let count = Int(try reader.uint(2, "NumberOfSamples"))
            guard reader.remaining == count * 3 else { throw .shape("\(count) samples in \(reader.remaining) octets") }
            values = []
            for _ in 0..<count { values.append(try reader.uint(3, "sample")) }
        }
    }

    /// Sample `index`'s capture time, seconds since 2000, or a `.shape` error past UTCTime.
    static func sampleTime(_ samples: Samples, _ index: Int, step: UInt64) throws(MappingError) -> Int64 {
        let time = samples.start + UInt64(index) * step
        guard time < 0xFFFF_FFFF else { throw .shape("a sample time past UTCTime's range") }
        return Int64(time)
    }

    /// GCS17 (4.8.1): a GetSampledDataResponse of the half-hour profile (interval 1800 s).
    /// Sample i is logged at SampleStartTime + i × 1800 s: ZSE's start time is that of the
    /// first sample, and SMETS stamps a profile entry at the end of its half hour. Each
    /// becomes a `LogEntry` of its `Timestamp` and `Gas/PrimaryValue` in m³, the samples
    /// scaled as `Formatting.assumedForSamples` says; an invalid sample (0xFFFFFF) keeps
    /// its timestamp with no value.
    static let profileData: MMCMapping.Mapper = { reading throws(MappingError) in
        let samples = try Samples(try serverCommand(reading, cluster: metering, command: 0x07, "GetSampledDataResponse"))
        guard samples.interval == 1800 else { throw .shape("a profile SampleRequestInterval of \(samples.interval) s, not 1800") }
        guard samples.values.count <= 19056 else { throw .shape("\(samples.values.count) profile samples (MMC holds 19056)") }
        var entries: [DataNode] = []
        for (index, value) in samples.values.enumerated() {
            var entry = DataNode("LogEntry")
            entry.add("Timestamp", try MMCFormat.time(secondsSince2000: try sampleTime(samples, index, step: 1800)))
            var gas = DataNode("Gas")
            if value != 0xFF_FFFF { gas.add("PrimaryValue", try decimal(value, Formatting.assumedForSamples)) }
            entry.add(gas)
            entries.append(entry)
        }
        return entries
    }

    /// GCS61 (4.17): a GetSampledDataResponse of the daily consumption log, whose
    /// SampleRequestInterval is 0xFFFF (a day does not fit the field's seconds). Sample i
    /// is logged at SampleStartTime + i days; each becomes a `Gas/LogEntry` of its `Value`
    /// in m³ (scaled as `Formatting.assumedForSamples` says) and `Timestamp`; an invalid
    /// sample (0xFFFFFF) keeps its timestamp with no value.
    static let dailyConsumptionLog: MMCMapping.Mapper = { reading throws(MappingError) in
        let samples = try Samples(try serverCommand(reading, cluster: metering, command: 0x07, "GetSampledDataResponse"))
        guard samples.interval == 0xFFFF else { throw .shape("a daily log SampleRequestInterval of \(samples.interval), not 0xFFFF") }
        guard samples.values.count <= 731 else { throw .shape("\(samples.values.count) daily log samples (MMC holds 731)") }
        var gas = DataNode("Gas")
        for (index, value) in samples.values.enumerated() {
            var entry = DataNode("LogEntry")
            if value != 0xFF_FFFF { entry.add("Value", try decimal(value, Formatting.assumedForSamples)) }
            entry.add("Timestamp", try MMCFormat.time(secondsSince2000: try sampleTime(samples, index, step: 86400)))
            gas.add(entry)
        }
        return [gas]
    }

    // MARK: - Configuration

    /// GCS21a (6.2.8): Price Read Attributes of CalorificValueTrailingDigit (0x0306),
    /// CalorificValueUnit (0x0305, which must be MJ/m³, 0x01), CalorificValue (0x0304,
    /// UINT32), ConversionFactorTrailingDigit (0x0303) and ConversionFactor (0x0302,
    /// UINT32); Metering Read Attributes of UncontrolledFlowDivisor (0x0B13),
    /// UncontrolledFlowMultiplier (0x0B12), UncontrolledFlowThresholdUnitofMeasure (0x0B11,
    /// which must be m³/h, 0x01), UncontrolledFlowThreshold (0x0B10, UINT16),
    /// FlowStabilisationPeriod (0x0B14, UINT8) and FlowMeasurementPeriod (0x0B15, UINT16).
    /// The ZSE meanings of these attributes (trailing digits as for prices, the flow
    /// threshold as threshold × multiplier / divisor) give the MMC values, exactly, with the
    /// emulator's places (three, five, three); the two periods are written as sent.
    static let gasConfiguration: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let calorificUnit = try unsigned(attributes, price, 0x0305, type: 0x30, "CalorificValueUnit")
        guard calorificUnit == 0x01 else { throw .shape("CalorificValueUnit \(calorificUnit), not MJ/m³ (0x01)") }
        let calorific = try trailing(try unsigned(attributes, price, 0x0304, type: 0x23, "CalorificValue"),
                                     digit: try unsigned(attributes, price, 0x0306, type: 0x18, "CalorificValueTrailingDigit"), places: 3)
        let conversion = try trailing(try unsigned(attributes, price, 0x0302, type: 0x23, "ConversionFactor"),
                                      digit: try unsigned(attributes, price, 0x0303, type: 0x18, "ConversionFactorTrailingDigit"), places: 5)
        let flowUnit = try unsigned(attributes, metering, 0x0B11, type: 0x30, "UncontrolledFlowThresholdUnitofMeasure")
        guard flowUnit == 0x01 else { throw .shape("UncontrolledFlowThresholdUnitofMeasure \(flowUnit), not m³/h (0x01)") }
        let flow = try decimal(try unsigned(attributes, metering, 0x0B10, type: 0x21, "UncontrolledFlowThreshold"),
                               Formatting(multiplier: try unsigned(attributes, metering, 0x0B12, type: 0x21, "UncontrolledFlowMultiplier"),
                                          divisor: try unsigned(attributes, metering, 0x0B13, type: 0x21, "UncontrolledFlowDivisor")))
        return [DataNode("CalorificValue", text: calorific),
                DataNode("ConversionFactor", text: conversion),
                DataNode("UncontrolledGasFlowRate", text: flow),
                DataNode("FlowStabilisationPeriod", text: String(try unsigned(attributes, metering, 0x0B14, type: 0x20, "FlowStabilisationPeriod"))),
                DataNode("FlowMeasurementPeriod", text: String(try unsigned(attributes, metering, 0x0B15, type: 0x21, "FlowMeasurementPeriod")))]
    }

    /// GCS21j (6.2.9): Prepayment Read Attributes of Payment Control Configuration
    /// (0x0000, BITMAP16). GBCS's values for the mode (those gbcs-parser names for Change
    /// Payment Mode): 0x0C94 is credit mode, and prepayment mode is 0x0097 with bit 10 set
    /// when debt collection is suspended while the supply is disabled and bit 11 clear when
    /// it is suspended while emergency credit is in use. Any other value is a `.shape`.
    static let paymentMode: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let bits = try unsigned(attributes, prepayment, 0x0000, type: 0x19, "Payment Control Configuration")
        let mode: String
        switch bits & ~0x0C00 {
        case 0x0094: mode = "Credit"
        case 0x0097: mode = "Prepayment"
        default: throw .shape(String(format: "Payment Control Configuration %04X is neither GBCS's credit nor prepayment mode", bits))
        }
        return [DataNode("PaymentMode", text: mode),
                DataNode("SuspendDebtEmergency", text: DeviceFormat.bool(bits & 0x0800 == 0)),
                DataNode("SuspendDebtDisabled", text: DeviceFormat.bool(bits & 0x0400 != 0))]
    }

    // MARK: - Network data

    /// GCS31 (14.1): ZSE StartSamplingResponse (Metering 0x0702, command 0x0D): the
    /// SampleID (UINT16) the meter allocated, 0xFFFF when it could not start sampling (a
    /// refusal, as DCC's reference ERROR answer has it).
    static let recordNetworkData: MMCMapping.Mapper = { reading throws(MappingError) in
        let payload = try serverCommand(reading, cluster: metering, command: 0x0D, "StartSamplingResponse")
        var reader = LittleEndian(payload, "a StartSamplingResponse")
        let sample = try reader.uint(2, "SampleID")
        guard reader.remaining == 0 else { throw .shape("a StartSamplingResponse of \(payload.count) octets, not 2") }
        guard sample != 0xFFFF else { return nil }
        return [DataNode("SampleID", text: String(sample))]
    }

    // MARK: - GPF device log

    /// GCS59 (8.12.2): SEQUENCE { SEQUENCE OF SEQUENCE { SEQUENCE { deviceID OCTET STRING
    /// (8), deviceType INTEGER }, JoinResponseCode INTEGER } }: for each device the
    /// restored log entry and the outcome of restoring it. Every outcome is written out
    /// (as the emulator does), a failed one with its code, so the answer itself succeeds.
    /// Device types and response codes are GBCS's, as `DeviceSecurityReads` names them.
    static let restoreGPFDeviceLog: MMCMapping.Mapper = { reading throws(MappingError) in
        guard let answer = reading.asn1, answer.tag == [0x30], answer.children.count == 1, answer.children[0].tag == [0x30] else {
            throw .shape("a GPF device log restore answer is a SEQUENCE of one SEQUENCE OF outcomes")
        }
        var outcomes: [DataNode] = []
        for outcome in answer.children[0].children {
            guard outcome.tag == [0x30], outcome.children.count == 2, outcome.children[0].tag == [0x30], outcome.children[0].children.count == 2,
                  outcome.children[0].children[0].tag == [0x04], let id = outcome.children[0].children[0].octets,
                  outcome.children[0].children[1].tag == [0x02], let type = outcome.children[0].children[1].integer,
                  outcome.children[1].tag == [0x02], let code = outcome.children[1].integer else {
                throw .shape("a restore outcome is a SEQUENCE of a device log entry (ID, type) and a response code")
            }
            guard type >= 0, type < Int64(DeviceSecurityReads.deviceTypes.count) else { throw .shape("device type \(type)") }
            var entry = DataNode("DeviceLogEntry")
            entry.add("DeviceID", try DeviceSecurityReads.eui(id, "a device ID"))
            entry.add("DeviceType", DeviceSecurityReads.deviceTypes[Int(type)])
            outcomes.append(DataNode("RestoreDeviceLogOutcome", children: [
                entry, try DeviceSecurityReads.status("joinResponseCode", code: code, names: DeviceSecurityReads.joinResponseCodes)]))
        }
        return outcomes
    }
}
