/// Milliseconds since the Unix epoch, UTC. Formats and parses the `xs:dateTime` and
/// `xs:date` forms DUIS uses without Foundation's date formatters (this is on the hot
/// path of every response).
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// `delta` milliseconds later. Saturates at the ends of `Int64` rather than trapping:
    /// values read from requests are bounded by their types before they get here, and a
    /// saturated timestamp is far outside every range the hub accepts.
    public func adding(milliseconds delta: Int64) -> Timestamp {
        let (sum, overflow) = milliseconds.addingReportingOverflow(delta)
        return Timestamp(milliseconds: overflow ? (delta < 0 ? .min : .max) : sum)
    }

    /// `days` whole days later (or earlier), saturating like `adding(milliseconds:)`.
    public func adding(days: Int64) -> Timestamp {
        let (product, overflow) = days.multipliedReportingOverflow(by: CalendarDay.millisecondsPerDay)
        return overflow ? Timestamp(milliseconds: days < 0 ? .min : .max) : adding(milliseconds: product)
    }

    /// The UTC day this instant falls on (clamped into `CalendarDay.range`).
    public var day: CalendarDay { CalendarDay(self) }

    /// The UTC time of day of this instant.
    public var timeOfDay: TimeOfDay { TimeOfDay(self) }

    /// Milliseconds from `self` to `other`, saturating.
    public func milliseconds(to other: Timestamp) -> Int64 {
        let (difference, overflow) = other.milliseconds.subtractingReportingOverflow(milliseconds)
        return overflow ? (other.milliseconds < milliseconds ? .min : .max) : difference
    }

    /// `2022-08-12T06:43:49.844Z`
    public var iso8601: String {
        let (days, msOfDay) = milliseconds.floorDivided(by: CalendarDay.millisecondsPerDay)
        let (year, month, day) = civil(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = (msOfDay / 60_000) % 60
        let second = (msOfDay / 1000) % 60
        let millis = msOfDay % 1000
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2) + "." + pad(millis, 3) + "Z"
    }

    /// `2022-08-12`
    public var isoDate: String {
        let (days, _) = milliseconds.floorDivided(by: CalendarDay.millisecondsPerDay)
        let (year, month, day) = civil(fromDays: days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }

    public var description: String { iso8601 }

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0) {
        let days = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        milliseconds = days * CalendarDay.millisecondsPerDay + Int64(hour) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
    }

    /// Parses `xs:dateTime`: `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm]`. A value without a
    /// zone is taken as UTC.
    public init?(xsDateTime text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
              let year = digits(bytes, 0, 4), let month = digits(bytes, 5, 2), let day = digits(bytes, 8, 2),
              let hour = digits(bytes, 11, 2), let minute = digits(bytes, 14, 2), let second = digits(bytes, 17, 2),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24 || (hour == 24 && minute == 0 && second == 0), minute < 60, second < 60
        else { return nil }
        guard let (millis, offsetMinutes) = fractionAndZone(bytes, from: 19) else { return nil }
        let days = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        milliseconds = days * CalendarDay.millisecondsPerDay + Int64(hour) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1000 + millis - offsetMinutes * 60_000
    }

    /// Parses `xs:date` (`YYYY-MM-DD`, optionally with `Z`) as midnight UTC.
    public init?(xsDate text: String) {
        var trimmed = text
        if trimmed.hasSuffix("Z") { trimmed.removeLast() }
        let bytes = Array(trimmed.utf8)
        guard bytes.count == 10, bytes[4] == 45, bytes[7] == 45,
              let year = digits(bytes, 0, 4), let month = digits(bytes, 5, 2), let day = digits(bytes, 8, 2),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        milliseconds = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)) * CalendarDay.millisecondsPerDay
    }
}

/// The tail of an `xs:time` or `xs:dateTime` from `index`: optional fractional seconds
/// (`.f…`, milliseconds kept) and an optional zone (`Z` or `±hh:mm`, at most 14 hours),
/// then the end of the text. Nil for anything else.
func fractionAndZone(_ bytes: [UInt8], from start: Int) -> (milliseconds: Int64, offsetMinutes: Int64)? {
    var index = start
    var millis: Int64 = 0
    if index < bytes.count, bytes[index] == 46 {
        index += 1
        var scale: Int64 = 100
        let first = index
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            millis += Int64(bytes[index] - 48) * scale
            scale /= 10
            index += 1
        }
        guard index > first else { return nil }
    }
    var offsetMinutes: Int64 = 0
    if index < bytes.count {
        if bytes[index] == 90, index == bytes.count - 1 {
            index += 1
        } else if bytes[index] == 43 || bytes[index] == 45, bytes.count == index + 6, bytes[index + 3] == 58,
                  let oh = digits(bytes, index + 1, 2), let om = digits(bytes, index + 4, 2), oh <= 14, om < 60 {
            offsetMinutes = Int64(oh * 60 + om) * (bytes[index] == 45 ? -1 : 1)
            index += 6
        } else {
            return nil
        }
    }
    guard index == bytes.count else { return nil }
    return (millis, offsetMinutes)
}

/// The decimal number of `count` digits at `start`, or nil (not digits, or out of range).
func digits(_ bytes: [UInt8], _ start: Int, _ count: Int) -> Int? {
    guard start >= 0, count > 0, start + count <= bytes.count else { return nil }
    var value = 0
    for i in start..<(start + count) {
        let byte = bytes[i]
        guard byte >= 48, byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
    }
    return value
}


private func pad(_ value: Int64, _ width: Int) -> String {
    var text = String(value)
    while text.count < width { text = "0" + text }
    return text
}

/// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian calendar).
func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (m <= 2 ? y + 1 : y, m, d)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
