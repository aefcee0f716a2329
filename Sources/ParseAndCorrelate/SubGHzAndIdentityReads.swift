import GBCS
import MMC

/// The CHF's Sub GHz configuration and channel log, the gas meter's identity and device security credentials (CS02f), GBCS payload to MMC elements.
///
/// CS02f (6.24.1, 0x011B) answers with CS02a's layout and is an outcome answer (its
/// status codes say whether the device succeeded), so it belongs with CS02a's
/// `DeviceSecurityReads.securityCredentials` in `DeviceSecurityReads.outcomeTable`,
/// not in this table.
enum SubGHzAndIdentityReads {
    static let table: [String: MMCMapping.Mapper] = [
        "DBCH03": subGHzConfiguration,
        "DBCH02": subGHzChannelLog,
        "GCS21e": gasIdentity,
    ]

    // MARK: - Sub GHz channels

    /// The MMC groups of the four channel page+mask bit strings, in the order DBCH03
    /// carries them: each group's ZigBee channel page and its first channel number.
    static let channelGroups: [(name: String, page: UInt32, first: Int, count: Int)] = [
        ("LowerBandSubGHzChannels0To26", 28, 0, 27),
        ("LowerBandSubGHzChannels27To34", 29, 27, 8),
        ("LowerBandSubGHzChannels35To61", 30, 35, 27),
        ("UpperBandSubGHzChannels0To26", 31, 0, 27),
    ]

    /// A 32-bit ZigBee channel page and mask (the page in the top 5 bits, one bit per
    /// channel in the low 27, bit 0 the page's first channel) from a DLMS bit-string(32).
    static func pageAndMask(_ value: DLMSData, _ what: String) throws(MappingError) -> (page: UInt32, mask: UInt32) {
        guard case .bitString(let bits) = value, bits.bitCount == 32, bits.octets.count == 4 else { throw .shape("\(what) is not a 32-bit bit string") }
        return pageAndMask(bits.octets)
    }

    static func pageAndMask(_ octets: [UInt8]) -> (page: UInt32, mask: UInt32) {
        let word = octets.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (word >> 27, word & 0x07FF_FFFF)
    }

    /// One channel page and mask with exactly one channel as MMC's OperatingSubGHzChannel
    /// (as DBCH01 reads it): pages 28, 29 and 30 are the lower band's channels 0–26,
    /// 27–34 and 35–61, page 31 the upper band's 0–26.
    static func operatingChannel(_ octets: [UInt8], _ what: String) throws(MappingError) -> DataNode {
        guard octets.count >= 4 else { throw .shape("\(what) has \(octets.count) octets, not a 32-bit channel page and mask") }
        let (page, mask) = pageAndMask(octets)
        guard mask != 0, mask & (mask - 1) == 0 else { throw .shape("\(what) has \(mask.nonzeroBitCount) channels, not one") }
        guard let group = channelGroups.first(where: { $0.page == page }) else { throw .shape("\(what) is on channel page \(page)") }
        let bit = mask.trailingZeroBitCount
        guard bit < group.count else { throw .shape("\(what) sets bit \(bit) of page \(page), which has \(group.count) channels") }
        let band = page == 31 ? "OperatingUpperBandSubGHzChannel" : "OperatingLowerBandSubGHzChannel"
        return DataNode("OperatingSubGHzChannel", children: [DataNode(band, children: [DataNode("Channel\(group.first + bit)")])])
    }

    /// A hundredths value (GBCS's duty cycle thresholds, in hundredths of a percent) as a
    /// decimal with at least one fraction digit: 130 is 1.3, 125 is 1.25 (the emulator's
    /// form where one digit is enough).
    static func hundredthsOneDigit(_ value: Int64) throws(MappingError) -> String {
        let text = try MMCFormat.scaled(value, scaler: -2)
        return text.hasSuffix("0") ? String(text.dropLast()) : text
    }

    /// DBCH03 (6.30): the Sub GHz configuration (Data 0-0:94.44.10.0 attribute 2), the
    /// structure of 15 that DBCH04 sets and the 0x8F2A alert carries: the allowed channels
    /// as four bit-string(32) channel pages and masks (pages 28, 29, 30 and 31, in MMC's
    /// group order), then NormalLimitedDutyCycleThreshold and
    /// LimitedCriticalDutyCycleThreshold (long-unsigned, hundredths of a percent),
    /// MaximumSubGHzChannelChangesPerWeek (unsigned), GSMECurfew (long-unsigned),
    /// ChannelQuieterThreshold and ChannelNoisierThreshold (unsigned),
    /// NonGSMEPoorCommsPercentageThreshold (long-unsigned, hundredths),
    /// NonGSMEPoorCommsMeasurementPeriods (unsigned), LocalCHNoiseMeasurementPeriod
    /// (long-unsigned), LocalCHFailurePercentage and LocalCHRetryPercentage
    /// (long-unsigned, hundredths). Order and scale are the RTDS's DBCH04 command against
    /// the RTDS's DUIS 6.28 request it carries (1.3 is 130, 60.00 is 6000, channels 1 and
    /// 2 of page 28 are E0000006).
    static let subGHzConfiguration: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) Sub GHz configuration values, not 1") }
        let fields = try reading.value(0).items("the Sub GHz configuration", count: 15)
        var nodes: [DataNode] = []
        for (index, group) in channelGroups.enumerated() {
            let (page, mask) = try pageAndMask(fields[index], "the \(group.name) channel mask")
            guard page == group.page else { throw .shape("the \(group.name) channel mask is on page \(page), not \(group.page)") }
            guard mask >> group.count == 0 else { throw .shape("the \(group.name) channel mask sets bits beyond its \(group.count) channels") }
            var node = DataNode(group.name)
            for bit in 0..<group.count where mask & (1 << UInt32(bit)) != 0 { node.add(DataNode("Channel\(group.first + bit)")) }
            nodes.append(node)
        }
        func number(_ index: Int, _ name: String) throws(MappingError) -> Int64 {
            let value = try fields[index].integer(name)
            guard (0...65_535).contains(value) else { throw .shape("\(name) is \(value), outside an MMC unsignedShort") }
            return value
        }
        nodes.append(DataNode("NormalLimitedDutyCycleThreshold", text: try hundredthsOneDigit(try number(4, "NormalLimitedDutyCycleThreshold"))))
        nodes.append(DataNode("LimitedCriticalDutyCycleThreshold", text: try hundredthsOneDigit(try number(5, "LimitedCriticalDutyCycleThreshold"))))
        let names = ["MaximumSubGHzChannelChangesPerWeek", "GSMECurfew", "ChannelQuieterThreshold", "ChannelNoisierThreshold"]
        for (offset, name) in names.enumerated() { nodes.append(DataNode(name, text: String(try number(6 + offset, name)))) }
        nodes.append(DataNode("NonGSMEPoorCommsPercentageThreshold", text: try MMCFormat.scaled(try number(10, "NonGSMEPoorCommsPercentageThreshold"), scaler: -2)))
        nodes.append(DataNode("NonGSMEPoorCommsMeasurementPeriods", text: String(try number(11, "NonGSMEPoorCommsMeasurementPeriods"))))
        nodes.append(DataNode("LocalCHNoiseMeasurementPeriod", text: String(try number(12, "LocalCHNoiseMeasurementPeriod"))))
        nodes.append(DataNode("LocalCHFailurePercentage", text: try MMCFormat.scaled(try number(13, "LocalCHFailurePercentage"), scaler: -2)))
        nodes.append(DataNode("LocalCHRetryPercentage", text: try MMCFormat.scaled(try number(14, "LocalCHRetryPercentage"), scaler: -2)))
        return nodes
    }

    /// GBCS's "Sub GHz Channel Changed" event code, whose log entries carry the new
    /// channel.
    static let channelChanged: UInt16 = 0x8F26

    /// DBCH02 (6.32): the Sub GHz channel log (Profile generic 0-0:94.44.10.3 buffer, read
    /// by date range), a compact array of (time, double-long-unsigned seconds since 2000
    /// UTC; event code, long-unsigned; octet string). For a Sub GHz Channel Changed entry
    /// (0x8F26) the octet string is 7 octets: the channel page and mask now operated on,
    /// then 3 octets. MMC's LogEntry gets the time, the code, the code's GBCS name and the
    /// channel. The 3 trailing octets (`09 01 nn` in the RTDS, nn 0–7) are not mapped to
    /// ScanTrigger: no source for their encoding was found. Entries of other codes keep
    /// their time, code and name only.
    static let subGHzChannelLog: MMCMapping.Mapper = { reading throws(MappingError) in
        guard reading.values.count == 1 else { throw .shape("\(reading.values.count) channel log values, not 1") }
        let entries = try reading.value(0).items("the Sub GHz channel log")
        guard entries.count <= 100 else { throw .shape("\(entries.count) channel log entries (MMC holds 100)") }
        var nodes: [DataNode] = []
        for entry in entries {
            let fields = try entry.items("a channel log entry", count: 3)
            let seconds = try fields[0].integer("a channel log entry's time")
            guard (0...Int64(UInt32.max)).contains(seconds) else { throw .shape("a channel log entry's time of \(seconds) s") }
            let code = try fields[1].integer("a channel log entry's event code")
            guard (0...0xFFFF).contains(code) else { throw .shape("event code \(code)") }
            let data = try fields[2].octetString("a channel log entry's data")
            var node = DataNode("LogEntry")
            node.add("Timestamp", try MMCFormat.time(secondsSince2000: seconds))
            node.add("EventCode", MMCMapping.hex16(UInt16(code)))
            if let name = GBCSAlertCode.name(UInt16(code)) { node.add("EventDescription", name) }
            if UInt16(code) == channelChanged {
                guard data.count == 7 else { throw .shape("a channel change entry's data is \(data.count) octets, not 7") }
                node.add(try operatingChannel(data, "a channel change entry's channel"))
            }
            nodes.append(node)
        }
        return nodes
    }

    // MARK: - Gas meter identity

    static let basic: UInt16 = 0x0000
    static let metering: UInt16 = 0x0702

    /// A Read Attributes Response character string (ZCL type 0x42) of printable text.
    static func characters(_ attributes: [ZCLAttributeKey: ZCLValue], _ cluster: UInt16, _ id: UInt16, _ what: String) throws(MappingError) -> [UInt8] {
        guard let value = attributes[ZCLAttributeKey(cluster: cluster, id: id)] else { throw .shape("\(what) is missing") }
        guard value.type == 0x42 else { throw .shape("\(what) is ZCL type \(value.type), not a character string") }
        return value.octets
    }

    static func printable(_ octets: ArraySlice<UInt8>, _ what: String, limit: Int) throws(MappingError) -> String {
        guard octets.count <= limit else { throw .shape("\(what) has \(octets.count) characters (MMC holds \(limit))") }
        guard octets.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .shape("\(what) is not printable text") }
        return String(decoding: octets, as: UTF8.self)
    }

    /// A ZSE supply state attribute (enum8, SE 1.4 Table D-68: 0 off, 1 off/armed, 2 on,
    /// 3 unchanged) as MMC's Unchanged, or nil for 0–2: which of them GBCS calls
    /// "Locked" was not found, so that state is left out rather than guessed.
    static func supplyState(_ attributes: [ZCLAttributeKey: ZCLValue], _ id: UInt16, _ what: String) throws(MappingError) -> String? {
        guard let value = attributes[ZCLAttributeKey(cluster: metering, id: id)] else { throw .shape("\(what) is missing") }
        guard value.type == 0x30, let state = value.unsigned else { throw .shape("\(what) is ZCL type \(value.type), not an enum8") }
        switch state {
        case 3: return "Unchanged"
        case 0...2: return nil
        default: throw .shape("\(what) is \(state), not a ZSE supply state")
        }
    }

    /// GCS21e (6.2.4, a gas meter): Basic cluster Read Attributes of ManufacturerName
    /// (0x0004), ModelIdentifier (0x0005) and HWVersion (0x0003), then Metering cluster
    /// SupplyDepletionState (0x0608) and SupplyTamperState (0x0607). The GSME's
    /// ModelIdentifier is 16 octets: its 8-character model type, then its entity
    /// identifier (the RTDS's is `GFI     ` and 00-DB-12-34-56-78-90-A1, the meter's
    /// own). The manufacturer name is the ManufacturerIdentifier, as ECS26e's
    /// 0-0:96.1.6.255. HWVersion has no MMC element for gas (MeterVariant is the
    /// electricity meter's) and is left out.
    static let gasIdentity: MMCMapping.Mapper = { reading throws(MappingError) in
        let attributes = try reading.attributes()
        let model = try characters(attributes, basic, 0x0005, "the model identifier")
        guard model.count == 16 else { throw .shape("the model identifier is \(model.count) octets, not a model type and an entity identifier") }
        let eui = model[8...].map { SecurityReads.hexString([$0]) }.joined(separator: "-")
        var gas = DataNode("Gas")
        if let tamper = try supplyState(attributes, 0x0607, "the supply tamper state") { gas.add("SupplyTamperState", tamper) }
        if let depletion = try supplyState(attributes, 0x0608, "the supply depletion state") { gas.add("SupplyDepletionState", depletion) }
        return [DataNode("DeviceIdentifier", text: eui),
                DataNode("ModelType", text: try printable(model[..<8], "the model type", limit: 8)),
                DataNode("ManufacturerIdentifier", text: try printable(try characters(attributes, basic, 0x0004, "the manufacturer name")[...], "the manufacturer name", limit: 32)),
                gas]
    }
}
