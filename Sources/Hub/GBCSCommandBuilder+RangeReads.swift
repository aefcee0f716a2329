import DUIS
import Foundation
import GBCS

/// The range reads (issue 12): the log and profile reads that carry the request's
/// `ReadLogPeriod` (4.4.x billing data logs, 4.6.x daily read logs, 4.8.x half-hour
/// profiles, 4.10 network data, 4.14 prepayment daily read log, 4.17 daily consumption
/// log, 6.13 event and security logs, 6.32 the Sub GHz channel log, 7.11 boost data), and
/// the gas meter's (GBZ) forms of the reads whose electricity form is a fixed list of
/// attributes in `fixedReads`/`protectedReads` (4.1.1, 4.1.2, 4.1.4, 4.3, 4.11.1, 4.18,
/// 6.2.8, 6.2.9) and 14.1. `command()` keeps using the fixed tables for the ESME; these
/// builders make the other device types' commands.
///
/// Conventions, as every RTDS vector of these use cases shows:
/// - The electricity meter's sensitive logs are read with the data protection object's
///   get_protected_attributes (class 30, method 1) with a range access (from/to as COSEM
///   date-times); the others by a GET with selective access (range_descriptor, selector 1,
///   restricted on 0-0:94.44.100.255, from/to as seconds since 2000-01-01T00:00Z).
/// - The gas meter's logs are ZSE commands: Get Snapshot / Get Prepay Snapshot (one per
///   snapshot offset), Get Sampled Data, Get Debt Repayment Log / Get Top Up Log (the From
///   Date Time in the GBZ extended header), Get Event Log; times are ZigBee UTCTime.
/// - DCC's access control broker sends the command, with the user as the supplementary
///   remote party, when the use case's only remote party role is the broker (ECS21c, and
///   every CHF use case: ECS35c, ECS35d, DBCH02; GCS31 as the RTDS sends it), and when the
///   request carries `KAPublicSecurityCredentials`: an Unknown Remote Party's read, whose
///   KA certificate goes in the header (`rangeReadsURPCertificate`).
extension GBCSCommandBuilder {
    static let rangeReadBuilders: [SRV: CriticalCommandBuilder.Build] = [
        // 4.4.2 Retrieve Change Of Mode / Tariff Triggered Billing Data Log: ESME ECS20b, the
        // protected billing data log 0-0:98.1.2.255; GSME GCS15b, 12 prepay snapshots then 12
        // metering snapshots caused by a change of mode, supplier or tariff (0x00006008).
        "4.4.2": { input throws(TransformError) in
            if rangeReadsIsGas(input) {
                return try rangeReadsSnapshots(input, "GCS15b", 0x00C3, [(0x0705, 0x07, 12, 0x0000_6008), (0x0702, 0x06, 12, 0x0000_6008)])
            }
            return try rangeReadsProtected(input, "ECS20b", 0x002F, protection: "0-0:43.2.3.255", logs: ["0-0:98.1.2.255"])
        },
        // 4.4.3 Retrieve Billing Calendar Triggered Billing Data Log: ESME ECS20c, both billing
        // logs (0-0:98.1.0.255 and 0-0:98.1.1.255) in one protected read; GSME GCS15c, 12
        // metering then 12 prepay snapshots caused by the end of a billing period (0x00000002).
        "4.4.3": { input throws(TransformError) in
            if rangeReadsIsGas(input) {
                return try rangeReadsSnapshots(input, "GCS15c", 0x0076, [(0x0702, 0x06, 12, 0x0000_0002), (0x0705, 0x07, 12, 0x0000_0002)])
            }
            return try rangeReadsProtected(input, "ECS20c", 0x0030, protection: "0-0:43.2.2.255", logs: ["0-0:98.1.0.255", "0-0:98.1.1.255"])
        },
        // 4.4.4 Retrieve Billing Data Log (Payment Based Debt Payments): ESME ECS20a, selective
        // access to 0-0:98.1.4.255; GSME GCS15d, Get Debt Repayment Log (up to 10 payment-based
        // debt entries, debt type 2) from the start to the end of the period.
        "4.4.4": { input throws(TransformError) in
            if rangeReadsIsGas(input) {
                let period = try rangeReadsPeriod(input)
                let route = try rangeReadsRoute(input)
                var payload = CriticalCommandBuilder.configurationLE(period.to)
                payload += [10, 0x02]
                return rangeReadsGas("GCS15d", 0x00C4, route, [RangeReadsZCL(cluster: 0x0705, command: 0x0A, payload: payload, from: period.from)])
            }
            return try rangeReadsSelective(input, "ECS20a", 0x002E, log: "0-0:98.1.4.255")
        },
        // 4.4.5 Retrieve Billing Data Log (Prepayment Credits): ESME ECS20d, selective access
        // to 0-0:98.1.5.255; GSME GCS15e, Get Top Up Log (the 5 most recent top-ups) over the
        // period.
        "4.4.5": { input throws(TransformError) in
            if rangeReadsIsGas(input) {
                let period = try rangeReadsPeriod(input)
                let route = try rangeReadsRoute(input)
                var payload = CriticalCommandBuilder.configurationLE(period.to)
                payload.append(5)
                return rangeReadsGas("GCS15e", 0x00C5, route, [RangeReadsZCL(cluster: 0x0705, command: 0x08, payload: payload, from: period.from)])
            }
            return try rangeReadsSelective(input, "ECS20d", 0x00C9, log: "0-0:98.1.5.255")
        },
        // 4.6.1 Retrieve Import Daily Read Log: ESME ECS21a, the protected daily read log
        // 0-0:98.1.9.255; GSME GCS16a, 31 metering snapshots of cause General (0x00000001).
        "4.6.1": { input throws(TransformError) in
            if rangeReadsIsGas(input) { return try rangeReadsSnapshots(input, "GCS16a", 0x0077, [(0x0702, 0x06, 31, 0x0000_0001)]) }
            return try rangeReadsProtected(input, "ECS21a", 0x0033, protection: "0-0:43.2.5.255", logs: ["0-0:98.1.9.255"])
        },
        // 4.6.2 Retrieve Export Daily Read Log: ESME ECS21c (0-0:98.1.10.255), whose only remote
        // party role is the access control broker.
        "4.6.2": { input throws(TransformError) in
            try rangeReadsSelective(input, "ECS21c", 0x0035, log: "0-0:98.1.10.255", brokerOnly: true)
        },
        // 4.8.1 Read Active Import Profile Data: ESME ECS22b, the protected half-hour profile
        // 0-0:99.1.0.255; GSME GCS17, Get Sampled Data of the profile data log (sample ID 0),
        // one sample per half hour from start to end inclusive (at most 19056).
        "4.8.1": { input throws(TransformError) in
            if rangeReadsIsGas(input) { return try rangeReadsSamples(input, "GCS17", 0x0078, sampleID: 0, interval: 1800, maximum: 19056) }
            return try rangeReadsProtected(input, "ECS22b", 0x0037, protection: "0-0:43.2.7.255", logs: ["0-0:99.1.0.255"])
        },
        // 4.8.2 Read Reactive Import Profile Data: ESME ECS22c, 0-0:99.1.2.255.
        "4.8.2": { input throws(TransformError) in
            try rangeReadsSelective(input, "ECS22c", 0x0038, log: "0-0:99.1.2.255")
        },
        // 4.8.3 Read Export Profile Data: ESME ECS22a, 0-0:99.1.1.255.
        "4.8.3": { input throws(TransformError) in
            try rangeReadsSelective(input, "ECS22a", 0x0036, log: "0-0:99.1.1.255")
        },
        "4.10": { input throws(TransformError) in try rangeReadsNetworkData(input) },
        // 4.14 Read Prepayment Daily Read Log: ESME ECS21b, the protected prepayment daily log
        // 0-0:98.1.8.255; GSME GCS16b, 31 prepay snapshots of cause General.
        "4.14": { input throws(TransformError) in
            if rangeReadsIsGas(input) { return try rangeReadsSnapshots(input, "GCS16b", 0x0096, [(0x0705, 0x07, 31, 0x0000_0001)]) }
            return try rangeReadsProtected(input, "ECS21b", 0x0034, protection: "0-0:43.2.6.255", logs: ["0-0:98.1.8.255"])
        },
        // 4.17 Retrieve Daily Consumption Log: ESME ECS66, the protected daily consumption log
        // 0-0:99.1.3.255; gas GCS61, Get Sampled Data of the daily consumption log (sample ID
        // 1), one sample per day from start to end inclusive (at most 731).
        "4.17": { input throws(TransformError) in
            if rangeReadsIsGas(input) { return try rangeReadsSamples(input, "GCS61", 0x00A0, sampleID: 1, interval: 86400, maximum: 731) }
            return try rangeReadsProtected(input, "ECS66", 0x0060, protection: "0-0:43.2.4.255", logs: ["0-0:99.1.3.255"])
        },
        "6.13": { input throws(TransformError) in try rangeReadsEventLog(input) },
        // 6.32 Read CHF Sub GHz Channel Log: DBCH02, selective access to 0-0:94.44.10.3, from
        // the access control broker (the CHF trusts no other remote party).
        "6.32": { input throws(TransformError) in
            try rangeReadsSelective(input, "DBCH02", 0x010B, classID: 7, log: "0-0:94.44.10.3", on: [.chf], brokerOnly: true)
        },
        "7.11": { input throws(TransformError) in try rangeReadsBoost(input) },

        // The gas meter's fixed reads (ZCL Read Attributes), to the GSME or its proxy on the GPF.
        // 4.1.1 GCS13a: the consumption register with its divisor, multiplier and unit.
        "4.1.1": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS13a", 0x0074, [rangeReadsAttributes(0x0702, [0x0302, 0x0301, 0x0300, 0x0000])])
        },
        // 4.1.2 GCS13c: the TOU registers (tiers 1 to 4 summation delivered).
        "4.1.2": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS13c", 0x00B6, [rangeReadsAttributes(0x0702, [0x0302, 0x0301, 0x0300, 0x0100, 0x0102, 0x0104, 0x0106])])
        },
        // 4.1.4 GCS13b: the block counters (no-tier blocks 1 to 4).
        "4.1.4": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS13b", 0x00B8, [rangeReadsAttributes(0x0702, [0x0700, 0x0701, 0x0702, 0x0703, 0x0302, 0x0301, 0x0300])])
        },
        // 4.3 GCS14: the price trailing digit and currency, then the prepayment registers
        // (accumulated debt, emergency credit, credit remaining, the three debt amounts).
        "4.3": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS14", 0x0075, [
                rangeReadsAttributes(0x0700, [0x0617, 0x0616]),
                rangeReadsAttributes(0x0705, [0x0005, 0x0002, 0x0001, 0x0231, 0x0211, 0x0221]),
            ])
        },
        // 4.11.1 GCS21f: the tariff (price cluster attributes), the calendar (day and week
        // profiles from ID 1, seasons, special days, all of the current calendar) and the
        // current price.
        "4.11.1": { input throws(TransformError) in
            let calendar = CriticalCommandBuilder.configurationLE(UInt32(0)) + CriticalCommandBuilder.configurationLE(UInt32.max)
            return try rangeReadsGasRead(input, "GCS21f", 0x009F, [
                rangeReadsAttributes(0x0700, [0x0203, 0x0202, 0x0100, 0x0101, 0x0102, 0x0615, 0x0400, 0x0401, 0x0402, 0x0403,
                                              0x0410, 0x0420, 0x0430, 0x0440, 0x0616, 0x0617, 0x0301]),
                RangeReadsZCL(cluster: 0x0707, command: 0x01, payload: calendar + [1, 0]),
                RangeReadsZCL(cluster: 0x0707, command: 0x02, payload: calendar + [1, 0]),
                RangeReadsZCL(cluster: 0x0707, command: 0x03, payload: calendar),
                RangeReadsZCL(cluster: 0x0707, command: 0x04, payload: CriticalCommandBuilder.configurationLE(UInt32(0)) + [0, 0] + calendar),
                RangeReadsZCL(cluster: 0x0700, command: 0x00, payload: [0]),
            ])
        },
        // 4.18 GCS60: the meter balance (bill to date delivered, credit remaining).
        "4.18": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS60", 0x008D, [rangeReadsAttributes(0x0702, [0x0A00]), rangeReadsAttributes(0x0705, [0x0001])])
        },
        // 6.2.8 GCS21a: the gas configuration (price and metering cluster attributes).
        "6.2.8": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS21a", 0x007B, [
                rangeReadsAttributes(0x0700, [0x0306, 0x0305, 0x0304, 0x0303, 0x0302]),
                rangeReadsAttributes(0x0702, [0x0B13, 0x0B12, 0x0B11, 0x0B10, 0x0B14, 0x0B15]),
            ])
        },
        // 6.2.9 GCS21j: the payment control configuration.
        "6.2.9": { input throws(TransformError) in
            try rangeReadsGasRead(input, "GCS21j", 0x00BF, [rangeReadsAttributes(0x0705, [0x0000])])
        },
        // 14.1 Record Network Data (Gas): GCS31, Start Sampling now of 41 samples every 360 s
        // (the 4-hour network data log). The RTDS sends it from the access control broker.
        "14.1": { input throws(TransformError) in
            try rangeReadsRequire(input, [.gsme, .gpf])
            let route = try rangeReadsRoute(input, brokerOnly: true)
            var payload = CriticalCommandBuilder.configurationLE(CriticalCommandBuilder.configurationIssuerEventID)
            payload += CriticalCommandBuilder.configurationLE(UInt32(0))
            payload.append(0)
            payload += CriticalCommandBuilder.configurationLE(UInt16(360))
            payload += CriticalCommandBuilder.configurationLE(UInt16(41))
            return rangeReadsGas("GCS31", 0x0080, route, [RangeReadsZCL(cluster: 0x0702, command: 0x07, payload: payload)])
        },
    ]

    /// The DER of an Unknown Remote Party's key agreement certificate
    /// (`KAPublicSecurityCredentials`, base64), nil when the request has none. When there is
    /// one, the broker sends the command (`Built.sentByBroker`) and the frame's supplement is
    /// `.remotePartyAndKACertificate(id: user, counter: counter, certificate: this)` (the RTDS
    /// ECS21b URP and GCS61 vectors), so that the device encrypts its answer for that user.
    static func rangeReadsURPCertificate(_ body: ElementTree) throws(TransformError) -> [UInt8]? {
        guard let element = body.child("KAPublicSecurityCredentials") else { return nil }
        guard element.children.isEmpty else { throw TransformError("KAPublicSecurityCredentials is not base64 text") }
        let compact = element.text.filter { !$0.isWhitespace }
        guard compact.utf8.count <= (CriticalCommandBuilder.credentialsMaximumCertificate / 3 + 1) * 4 else {
            throw TransformError("KAPublicSecurityCredentials is longer than \(CriticalCommandBuilder.credentialsMaximumCertificate) octets")
        }
        guard let data = Data(base64Encoded: compact), !data.isEmpty else { throw TransformError("KAPublicSecurityCredentials is not base64") }
        let octets = [UInt8](data)
        let value: ASN1Value
        do {
            value = try ASN1Value.decode(octets)
        } catch {
            throw TransformError("KAPublicSecurityCredentials is not DER: \(error)")
        }
        guard value.tag == [0x30], value.children.count == 3, value.encoded() == octets else {
            throw TransformError("KAPublicSecurityCredentials is not an X.509 certificate")
        }
        return octets
    }

    // MARK: Use cases with a choice

    /// 4.10 Read Network Data. ESME ECS23: the average RMS voltage over- and under-voltage
    /// counters (1-0:32.32.0.4, 1-0:32.36.0.4: value, scaler/unit), the average RMS voltage
    /// profile 1-0:32.24.0.255 over the period and its capture period. GSME GCS18: Get
    /// Sampled Data of the network data log (sample ID 2), which holds at most 41 six-minute
    /// samples: GBCS fixes the earliest sample time (0x00000001) and the count (41), so the
    /// period is not sent. The polyphase form (ECS23b) needs the meter's variant and is not
    /// built.
    private static func rangeReadsNetworkData(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        if rangeReadsIsGas(input) {
            _ = try rangeReadsPeriod(input)
            let route = try rangeReadsRoute(input)
            var payload = CriticalCommandBuilder.configurationLE(UInt16(2))
            payload += CriticalCommandBuilder.configurationLE(UInt32(1))
            payload.append(0)
            payload += CriticalCommandBuilder.configurationLE(UInt16(41))
            return rangeReadsGas("GCS18", 0x0079, route, [RangeReadsZCL(cluster: 0x0702, command: 0x08, payload: payload)])
        }
        try rangeReadsRequire(input, [.esme])
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        let specifications: [DLMSAPDU.RequestSpecification] = [
            .get(get(3, "1-0:32.32.0.4", 2)), .get(get(3, "1-0:32.32.0.4", 3)),
            .get(get(3, "1-0:32.36.0.4", 2)), .get(get(3, "1-0:32.36.0.4", 3)),
            rangeReadsSelection(7, "1-0:32.24.0.255", period),
            .get(get(7, "1-0:32.24.0.255", 4)),
        ]
        let content = rangeReadsAccess(route.counter, specifications, [DLMSData](repeating: .null, count: specifications.count))
        return CriticalCommandBuilder.Built(useCase: "ECS23", messageCode: 0x0039, content: content, sentByBroker: route.viaBroker)
    }

    /// 7.11 Read Boost Button Details: ECS61c, the boost duration (0-0:94.44.7.255), the
    /// boost button event log 0-0:99.98.20.255 over the period, and the five auxiliary load
    /// control switches' boost flags (0-0:94.44.6.1 to .5).
    private static func rangeReadsBoost(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        try rangeReadsRequire(input, [.esme])
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        var specifications: [DLMSAPDU.RequestSpecification] = [.get(get(1, "0-0:94.44.7.255", 2)), rangeReadsSelection(7, "0-0:99.98.20.255", period)]
        for flag in 1...5 { specifications.append(.get(get(1, "0-0:94.44.6.\(flag)", 2))) }
        let content = rangeReadsAccess(route.counter, specifications, [DLMSData](repeating: .null, count: specifications.count))
        return CriticalCommandBuilder.Built(useCase: "ECS61c", messageCode: 0x005E, content: content, sentByBroker: route.viaBroker)
    }

    /// 6.13 Read Event Or Security Log: `LogToRead` and the target's type choose the log.
    /// ESME: the event (ECS35a, 0-0:99.98.0.255), security (ECS35b, 0-0:99.98.1.255) and
    /// power event (ECS35e, 0-0:99.98.4.255) logs, and for `ALCSEvent` the auxiliary
    /// controller event log (ECS35g, 0-17:99.98.2.255; the RTDS has no ECS35f). CHF: its
    /// event (ECS35c) and security (ECS35d) logs, from the access control broker. ZigBee
    /// devices: Get Event Log of the general event log (CS10a, log ID 0x13) or the security
    /// log (CS10b, 0x04), and on the GPF its copies of the GSME's logs (0x16, 0x07), as the
    /// GBCS message templates give the Event Control / Log ID octet.
    private static func rangeReadsEventLog(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> CriticalCommandBuilder.Built {
        guard let log = input.body.value("LogToRead") else { throw TransformError("\(input.body.name) has no LogToRead") }
        switch (input.deviceType, log) {
        case (.esme, "Event"): return try rangeReadsSelective(input, "ECS35a", 0x0048, log: "0-0:99.98.0.255")
        case (.esme, "Security"): return try rangeReadsSelective(input, "ECS35b", 0x0049, log: "0-0:99.98.1.255")
        case (.esme, "PowerEvent"): return try rangeReadsSelective(input, "ECS35e", 0x00B9, log: "0-0:99.98.4.255")
        case (.esme, "ALCSEvent"): return try rangeReadsSelective(input, "ECS35g", 0x00FD, log: "0-17:99.98.2.255")
        case (.chf, "Event"): return try rangeReadsSelective(input, "ECS35c", 0x0093, log: "0-0:99.98.0.255", on: [.chf], brokerOnly: true)
        case (.chf, "Security"): return try rangeReadsSelective(input, "ECS35d", 0x0094, log: "0-0:99.98.1.255", on: [.chf], brokerOnly: true)
        case (.gsme, "Event"), (.gpf, "Event"), (.ppmid, "Event"), (.hcalcs, "Event"):
            return try rangeReadsZigBeeLog(input, "CS10a", 0x0014, logID: 0x13)
        case (.gpf, "GSMEEvent"): return try rangeReadsZigBeeLog(input, "CS10a", 0x0014, logID: 0x16)
        case (.gsme, "Security"), (.gpf, "Security"), (.ppmid, "Security"), (.hcalcs, "Security"):
            return try rangeReadsZigBeeLog(input, "CS10b", 0x00A1, logID: 0x04)
        case (.gpf, "GSMESecurity"): return try rangeReadsZigBeeLog(input, "CS10b", 0x00A1, logID: 0x07)
        default:
            throw TransformError("LogToRead \(untrusted(log, limit: 24)) has no GBCS use case on a \(input.deviceType.rawValue)")
        }
    }

    /// Get Event Log (Events cluster 0x0709, command 0x00): the log ID, all event IDs (0),
    /// the period, all events (0) from the first (offset 0).
    private static func rangeReadsZigBeeLog(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16,
                                            logID: UInt8) throws(TransformError) -> CriticalCommandBuilder.Built {
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        var payload: [UInt8] = [logID]
        payload += CriticalCommandBuilder.configurationLE(UInt16(0))
        payload += CriticalCommandBuilder.configurationLE(period.from)
        payload += CriticalCommandBuilder.configurationLE(period.to)
        payload.append(0)
        payload += CriticalCommandBuilder.configurationLE(UInt16(0))
        return rangeReadsGas(useCase, code, route, [RangeReadsZCL(cluster: 0x0709, command: 0x00, payload: payload)])
    }

    // MARK: Electricity (DLMS)

    /// A protected log read: get_protected_attributes on `protection` for the buffer of each
    /// log (class 7, attribute 2) with range access from the period's start to its end as
    /// COSEM date-times (to the second, UTC, deviation unspecified), protected for the user
    /// (authenticated and encrypted, key agreement; transaction ID 04 ‖ the frame's counter).
    /// Sent by the broker for an Unknown Remote Party, the user is still the system title
    /// the answer is protected for (RTDS ECS21b URP).
    private static func rangeReadsProtected(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16, protection: String,
                                            logs: [String]) throws(TransformError) -> CriticalCommandBuilder.Built {
        try rangeReadsRequire(input, [.esme])
        guard let element = input.body.child("ReadLogPeriod") else { throw TransformError("\(input.body.name) has no ReadLogPeriod") }
        _ = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        let from = try CriticalCommandBuilder.auxiliaryDateTime(element, "StartDateTime")
        let to = try CriticalCommandBuilder.auxiliaryDateTime(element, "EndDateTime")
        let range = DLMSData.structure([.enumerated(1), .structure([.octetString(from), .octetString(to)])])
        let items = logs.map { DLMSData.structure([.longUnsigned(7), .octetString(obis($0)), .integer(2), .longUnsigned(0), range]) }
        var transaction: [UInt8] = [0x04]
        for shift in stride(from: 56, through: 0, by: -8) { transaction.append(UInt8(truncatingIfNeeded: route.counter >> UInt64(shift))) }
        let protectionParameters = DLMSData.structure([
            .enumerated(2),
            .structure([
                .octetString(transaction), .octetString(input.user.bytes), .octetString(input.device.bytes), .octetString([]),
                .structure([.enumerated(2), .structure([.octetString([0x02]), .octetString([])])]),
            ]),
        ])
        let parameter = DLMSData.structure([.array(items), .array([protectionParameters])])
        let content = rangeReadsAccess(route.counter, [.action(DLMSAPDU.Descriptor(classID: 30, instance: obis(protection), member: 1))], [parameter])
        return CriticalCommandBuilder.Built(useCase: useCase, messageCode: code, content: content, sentByBroker: route.viaBroker)
    }

    /// A log read by selective access: one GET of the log's buffer with the period's range.
    private static func rangeReadsSelective(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16, classID: UInt16 = 7,
                                            log: String, on types: [DeviceType] = [.esme],
                                            brokerOnly: Bool = false) throws(TransformError) -> CriticalCommandBuilder.Built {
        try rangeReadsRequire(input, types)
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input, brokerOnly: brokerOnly)
        let content = rangeReadsAccess(route.counter, [rangeReadsSelection(classID, log, period)], [.null])
        return CriticalCommandBuilder.Built(useCase: useCase, messageCode: code, content: content, sentByBroker: route.viaBroker)
    }

    /// GET of attribute 2 (buffer) with range_descriptor access (selector 1): restricted on
    /// the UTC-seconds clock value 0-0:94.44.100.255 (class 1, attribute 2), from and to as
    /// double-long-unsigned seconds since 2000, all columns (selected_values empty).
    private static func rangeReadsSelection(_ classID: UInt16, _ log: String, _ period: RangeReadsPeriod) -> DLMSAPDU.RequestSpecification {
        let restriction = DLMSData.structure([.longUnsigned(1), .octetString(obis("0-0:94.44.100.255")), .integer(2), .longUnsigned(0)])
        return .getWithSelection(DLMSAPDU.Descriptor(classID: classID, instance: obis(log), member: 2), selector: 1,
                                 parameters: .structure([restriction, .doubleLongUnsigned(period.from), .doubleLongUnsigned(period.to), .array([])]))
    }

    /// A DLMS ACCESS-Request, its long invoke ID 0x20 and the low 24 bits of the frame's
    /// counter (the broker's when it sends).
    private static func rangeReadsAccess(_ counter: UInt64, _ specifications: [DLMSAPDU.RequestSpecification], _ data: [DLMSData]) -> [UInt8] {
        let invokeID = 0x2000_0000 | UInt32(truncatingIfNeeded: counter & 0x00FF_FFFF)
        return GBCSPayload.dlms(.accessRequest(.init(invokeID: invokeID, specifications: specifications, data: data))).encode()
    }

    // MARK: Gas (GBZ)

    /// One ZCL command of a GBZ payload: a cluster-specific client-to-server command unless
    /// the frame control says otherwise; `from` is the extended header's From Date Time
    /// (control bit 0x10) of the log reads that have one.
    private struct RangeReadsZCL {
        var cluster: UInt16
        var frameControl: UInt8 = 0x01
        var command: UInt8
        var payload: [UInt8]
        var from: UInt32? = nil
    }

    /// ZCL Read Attributes (profile-wide, command 0x00) of attribute IDs, little-endian.
    private static func rangeReadsAttributes(_ cluster: UInt16, _ attributes: [UInt16]) -> RangeReadsZCL {
        RangeReadsZCL(cluster: cluster, frameControl: 0x00, command: 0x00, payload: attributes.flatMap { CriticalCommandBuilder.configurationLE($0) })
    }

    /// A gas meter's fixed read, to the GSME or to the GPF (which answers for it).
    private static func rangeReadsGasRead(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16,
                                          _ commands: [RangeReadsZCL]) throws(TransformError) -> CriticalCommandBuilder.Built {
        try rangeReadsRequire(input, [.gsme, .gpf])
        let route = try rangeReadsRoute(input)
        return rangeReadsGas(useCase, code, route, commands)
    }

    /// Snapshot reads (GCS15b, GCS15c, GCS16a, GCS16b): for each group in order, one command
    /// per snapshot offset 0..<count with the period's start and end and the snapshot cause;
    /// Get Snapshot is Metering 0x0702 command 0x06, Get Prepay Snapshot Prepayment 0x0705
    /// command 0x07, with the same payload.
    private static func rangeReadsSnapshots(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16,
                                            _ groups: [(cluster: UInt16, command: UInt8, count: UInt8, cause: UInt32)]) throws(TransformError)
        -> CriticalCommandBuilder.Built {
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        var commands: [RangeReadsZCL] = []
        for group in groups {
            for offset in 0..<group.count {
                var payload = CriticalCommandBuilder.configurationLE(period.from)
                payload += CriticalCommandBuilder.configurationLE(period.to)
                payload.append(offset)
                payload += CriticalCommandBuilder.configurationLE(group.cause)
                commands.append(RangeReadsZCL(cluster: group.cluster, command: group.command, payload: payload))
            }
        }
        return rangeReadsGas(useCase, code, route, commands)
    }

    /// Get Sampled Data (Metering 0x0702, command 0x08) of consumption delivered (sample
    /// type 0) from the period's start: the number of samples is the whole intervals from
    /// start to end plus one (both ends inclusive: RTDS GCS17 asks 2 days of half hours as
    /// 97, GCS61 10 days as 11), at most the log's size (GCS61 asks 731 for a longer period).
    private static func rangeReadsSamples(_ input: CriticalCommandBuilder.Input, _ useCase: String, _ code: UInt16, sampleID: UInt16,
                                          interval: Int64, maximum: Int64) throws(TransformError) -> CriticalCommandBuilder.Built {
        let period = try rangeReadsPeriod(input)
        let route = try rangeReadsRoute(input)
        let count = min((Int64(period.to) - Int64(period.from)) / interval + 1, maximum)
        var payload = CriticalCommandBuilder.configurationLE(sampleID)
        payload += CriticalCommandBuilder.configurationLE(period.from)
        payload.append(0)
        payload += CriticalCommandBuilder.configurationLE(UInt16(clamping: count))
        return rangeReadsGas(useCase, code, route, [RangeReadsZCL(cluster: 0x0702, command: 0x08, payload: payload)])
    }

    /// The GBZ payload: the components in order, control 0x01 on the last (0x10 added where a
    /// From Date Time precedes the ZCL header), ZCL sequence numbers from 0.
    private static func rangeReadsGas(_ useCase: String, _ code: UInt16, _ route: RangeReadsRoute, _ commands: [RangeReadsZCL]) -> CriticalCommandBuilder.Built {
        var components: [GBZComponent] = []
        for (index, command) in commands.enumerated() {
            var control: UInt8 = index == commands.count - 1 ? 0x01 : 0x00
            if command.from != nil { control |= 0x10 }
            components.append(GBZComponent(control: control, cluster: command.cluster, fromDateTime: command.from, frameControl: command.frameControl,
                                           sequenceNumber: UInt8(truncatingIfNeeded: index), command: command.command, payload: .plain(command.payload)))
        }
        let content = GBCSPayload.gbz(GBZPayload(componentCount: UInt8(truncatingIfNeeded: components.count), components: components)).encode()
        return CriticalCommandBuilder.Built(useCase: useCase, messageCode: code, content: content, sentByBroker: route.viaBroker)
    }

    // MARK: Shared

    /// Who sends the command and with which counter (the invoke ID, the protection's
    /// transaction ID): the user with the request's counter, or DCC's access control
    /// broker with its own, when the use case admits only the broker or the request comes
    /// from an Unknown Remote Party (`KAPublicSecurityCredentials`).
    private struct RangeReadsRoute {
        let counter: UInt64
        let viaBroker: Bool
    }

    private static func rangeReadsRoute(_ input: CriticalCommandBuilder.Input, brokerOnly: Bool = false) throws(TransformError) -> RangeReadsRoute {
        let unknownRemoteParty = try rangeReadsURPCertificate(input.body) != nil
        guard brokerOnly || unknownRemoteParty else {
            return RangeReadsRoute(counter: input.counter, viaBroker: false)
        }
        guard let counter = input.brokerCounter else {
            throw TransformError(unsupported: "\(input.srv) is sent by DCC's access control broker, and needs its counter")
        }
        return RangeReadsRoute(counter: counter, viaBroker: true)
    }

    /// The request's `ReadLogPeriod` as seconds since 2000-01-01T00:00:00Z (what DLMS
    /// range descriptors and ZigBee UTCTime carry): a fraction of a second is dropped; a
    /// time before 2000 or past 2136-02-07T06:28:15Z cannot be carried, and a period that
    /// ends before it starts is refused.
    private struct RangeReadsPeriod {
        let from: UInt32
        let to: UInt32
    }

    private static func rangeReadsPeriod(_ input: CriticalCommandBuilder.Input) throws(TransformError) -> RangeReadsPeriod {
        guard let period = input.body.child("ReadLogPeriod") else { throw TransformError("\(input.body.name) has no ReadLogPeriod") }
        let start = try rangeReadsTime(period, "StartDateTime")
        let end = try rangeReadsTime(period, "EndDateTime")
        guard start <= end else { throw TransformError("ReadLogPeriod ends (\(end)) before it starts (\(start))") }
        let from = try rangeReadsSeconds(start, "StartDateTime")
        let to = try rangeReadsSeconds(end, "EndDateTime")
        return RangeReadsPeriod(from: from, to: to)
    }

    private static func rangeReadsTime(_ element: ElementTree, _ name: String) throws(TransformError) -> Timestamp {
        guard let text = element.value(name) else { throw TransformError("\(element.name) has no \(name)") }
        guard let time = Timestamp(xsDateTime: text) else { throw TransformError("\(name) \(untrusted(text, limit: 40)) is not an xs:dateTime") }
        return time
    }

    private static func rangeReadsSeconds(_ time: Timestamp, _ name: String) throws(TransformError) -> UInt32 {
        let (since2000, overflow) = time.milliseconds.subtractingReportingOverflow(946_684_800_000)
        guard !overflow, since2000 >= 0, since2000 / 1000 <= Int64(UInt32.max) else {
            throw TransformError("\(name) \(time) is outside 2000-01-01T00:00:00Z to 2136-02-07T06:28:15Z, the seconds since 2000 GBCS carries")
        }
        return UInt32(since2000 / 1000)
    }

    /// Whether the gas form of a read is wanted (the GSME, or the GPF that answers for it).
    private static func rangeReadsIsGas(_ input: CriticalCommandBuilder.Input) -> Bool {
        input.deviceType == .gsme || input.deviceType == .gpf
    }

    /// Refuses a device type the SRV has no use case for.
    private static func rangeReadsRequire(_ input: CriticalCommandBuilder.Input, _ types: [DeviceType]) throws(TransformError) {
        guard types.contains(input.deviceType) else {
            throw TransformError(unsupported: "\(input.srv) has no GBCS command for a \(input.deviceType.rawValue) (only \(types.map(\.rawValue).joined(separator: ", ")))")
        }
    }
}
