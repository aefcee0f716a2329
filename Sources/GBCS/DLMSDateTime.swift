import DUIS

/// A DLMS COSEM date-time (12 octets: year, month, day of month, day of week, hour,
/// minute, second, hundredths, deviation in minutes, clock status). GBCS sends UTC
/// (deviation 0x8000, "not specified", or 0) and uses 0xFF for "not specified" fields, so
/// a date-time may be a pattern (every day at 00:00) rather than an instant.
public struct DLMSDateTime: Sendable, Equatable, CustomStringConvertible {
    public var year: Int?
    public var month: Int?
    public var day: Int?
    public var hour: Int?
    public var minute: Int?
    public var second: Int?
    public var hundredths: Int?
    public let octets: [UInt8]

    public init?(_ octets: [UInt8]) {
        guard octets.count == 12 else { return nil }
        let year = Int(octets[0]) << 8 | Int(octets[1])
        self.year = year == 0xFFFF ? nil : year
        func field(_ value: UInt8, _ range: ClosedRange<Int>) -> Int?? {
            if value == 0xFF { return .some(nil) }
            return range.contains(Int(value)) ? .some(Int(value)) : nil
        }
        guard let month = field(octets[2], 1...12), let day = field(octets[3], 1...31), let hour = field(octets[5], 0...23),
              let minute = field(octets[6], 0...59), let second = field(octets[7], 0...59), let hundredths = field(octets[8], 0...99) else { return nil }
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.hundredths = hundredths
        self.octets = octets
    }

    /// Every field given: an instant.
    public var isInstant: Bool { year != nil && month != nil && day != nil && hour != nil && minute != nil && second != nil }

    /// GBCS's "now" (all zeros) and "never" (all 0xFF) for activation times.
    public var isNow: Bool { octets.prefix(9).allSatisfy { $0 == 0 } }
    public var isNever: Bool { octets.prefix(9).allSatisfy { $0 == 0xFF } }

    /// The deviation octets: 0x8000 (not specified) or 0 for UTC, which GBCS uses.
    public var isUTC: Bool { (octets[9] == 0x80 && octets[10] == 0x00) || (octets[9] == 0 && octets[10] == 0) }

    /// Seconds since 1970 (UTC), when an instant: a real date (no 31 February) in years
    /// 1970 to 9999, in UTC (a time with another deviation is not read as UTC).
    public var unixTime: Int64? {
        guard let year, let month, let day, let hour, let minute, let second, isUTC else { return nil }
        return Self.unixTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// Seconds since 1970 of a UTC date and time, when it is a real one in years 1970 to
    /// 9999 (shared with GBCS's other time forms, such as ASN.1's GeneralizedTime).
    public static func unixTime(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1970...9999).contains(year), (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second) else {
            return nil
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let monthLengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...monthLengths[month - 1]).contains(day) else { return nil }
        return Timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second).milliseconds / 1000
    }

    public var description: String {
        if isNow { return "now" }
        if isNever { return "never" }
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "**" }
        return (year.map(String.init) ?? "****") + "-" + two(month) + "-" + two(day) + "T" + two(hour) + ":" + two(minute) + ":" + two(second)
    }
}
