/// A day of the proleptic Gregorian calendar in UTC, counted from 1970-01-01.
///
/// Every date gbsm reads from a request is an `xs:date` or `xs:dateTime` with a four-digit
/// year, so a day always lies between 0000-01-01 and 9999-12-31 (`CalendarDay.range`).
/// Day arithmetic goes through this type and is checked: a result outside the range is
/// `nil`, never a trap, so no value a user sends (an offset of a trillion days, a time of
/// day of twenty digits) can crash the hub when a schedule or a future-dated request falls
/// due. The day number fits an `Int32` by construction, which is what the load model and
/// the meters index their days by.
public struct CalendarDay: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Days since 1970-01-01.
    public let number: Int32

    /// 0000-01-01 to 9999-12-31: the days a four-digit year can name.
    public static let range: ClosedRange<Int64> = daysFromCivil(year: 0, month: 1, day: 1)...daysFromCivil(year: 9999, month: 12, day: 31)
    public static let first = CalendarDay(unchecked: range.lowerBound)
    public static let last = CalendarDay(unchecked: range.upperBound)

    public static let millisecondsPerDay: Int64 = 86_400_000
    public static let millisecondsPerHalfHour: Int64 = 1_800_000

    private init(unchecked number: Int64) { self.number = Int32(truncatingIfNeeded: number) }

    /// The day with this number, or nil outside `range`.
    public init?(number: Int64) {
        guard Self.range.contains(number) else { return nil }
        self.init(unchecked: number)
    }

    /// The day with this number, or nil outside `range`.
    public init?(number: Int32) { self.init(number: Int64(number)) }

    /// The day a timestamp falls on, clamped into `range` (a timestamp outside it was not
    /// read from a request).
    public init(_ timestamp: Timestamp) {
        let day = timestamp.milliseconds.floorDivided(by: Self.millisecondsPerDay).quotient
        self.init(unchecked: min(max(day, Self.range.lowerBound), Self.range.upperBound))
    }

    /// The civil date, or nil for a date that does not exist or lies outside `range`.
    public init?(year: Int, month: Int, day: Int) {
        guard (0...9999).contains(year), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
        self.init(unchecked: daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)))
    }

    /// Midnight UTC at the start of the day.
    public var start: Timestamp { Timestamp(milliseconds: Int64(number) * Self.millisecondsPerDay) }

    /// Midnight UTC at the end of the day (the start of the next).
    public var end: Timestamp { Timestamp(milliseconds: (Int64(number) + 1) * Self.millisecondsPerDay) }

    /// The moment `time` on this day.
    public func at(_ time: TimeOfDay) -> Timestamp { Timestamp(milliseconds: Int64(number) * Self.millisecondsPerDay + Int64(time.milliseconds)) }

    /// The start of half-hour slot `slot` (0…47) of this day; slots outside are clamped.
    public func slotStart(_ slot: Int) -> Timestamp {
        start.adding(milliseconds: Int64(min(max(slot, 0), 47)) * Self.millisecondsPerHalfHour)
    }

    /// `days` later (or earlier, when negative), or nil outside `range`.
    public func adding(days: Int64) -> CalendarDay? {
        let (sum, overflow) = Int64(number).addingReportingOverflow(days)
        return overflow ? nil : CalendarDay(number: sum)
    }

    /// The same day of the month `months` later (the last day of a shorter month), or nil
    /// outside `range`.
    public func adding(months: Int64) -> CalendarDay? {
        let (year, month, day) = civil
        let (total, overflow) = (Int64(year) * 12 + Int64(month - 1)).addingReportingOverflow(months)
        guard !overflow else { return nil }
        let (newYear, newMonthIndex) = total.floorDivided(by: 12)
        guard (0...9999).contains(newYear) else { return nil }
        let newMonth = Int(newMonthIndex) + 1
        return CalendarDay(year: Int(newYear), month: newMonth, day: min(day, daysIn(month: newMonth, year: Int(newYear))))
    }

    /// Whole days from `self` to `other`.
    public func days(to other: CalendarDay) -> Int64 { Int64(other.number) - Int64(number) }

    /// Whole months from `self`'s month to `other`'s month.
    public func months(to other: CalendarDay) -> Int64 {
        let (y1, m1, _) = civil
        let (y2, m2, _) = other.civil
        return Int64(y2 - y1) * 12 + Int64(m2 - m1)
    }

    /// (year, month 1…12, day 1…31).
    public var civil: (year: Int, month: Int, day: Int) {
        let (year, month, day) = DUIS.civil(fromDays: Int64(number))
        return (Int(year), Int(month), Int(day))
    }

    /// `2022-08-12`
    public var isoDate: String { start.isoDate }

    public var description: String { isoDate }

    public static func < (lhs: CalendarDay, rhs: CalendarDay) -> Bool { lhs.number < rhs.number }
}

/// A time of day in UTC, from 00:00:00.000 to 23:59:59.999, as an `xs:time` names it.
public struct TimeOfDay: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Milliseconds since midnight, 0 ..< 86,400,000.
    public let milliseconds: Int32

    public static let midnight = TimeOfDay(uncheckedMilliseconds: 0)

    private init(uncheckedMilliseconds: Int64) { milliseconds = Int32(truncatingIfNeeded: uncheckedMilliseconds) }

    /// nil outside 0 ..< 86,400,000.
    public init?(milliseconds: Int64) {
        guard (0..<CalendarDay.millisecondsPerDay).contains(milliseconds) else { return nil }
        self.init(uncheckedMilliseconds: milliseconds)
    }

    /// nil unless 0 ≤ hour < 24, 0 ≤ minute < 60, 0 ≤ second < 60.
    public init?(hour: Int, minute: Int, second: Int = 0) {
        guard (0..<24).contains(hour), (0..<60).contains(minute), (0..<60).contains(second) else { return nil }
        self.init(uncheckedMilliseconds: Int64(hour * 3_600_000 + minute * 60_000 + second * 1000))
    }

    /// The time of day of a timestamp.
    public init(_ timestamp: Timestamp) {
        self.init(uncheckedMilliseconds: timestamp.milliseconds.floorDivided(by: CalendarDay.millisecondsPerDay).remainder)
    }

    /// Parses `xs:time`: `hh:mm:ss[.fff…][Z|±hh:mm]` with exactly two digits for each of
    /// hours, minutes and seconds (24:00:00 is midnight). A zone offset moves the time to
    /// UTC, wrapping around midnight. Anything else, twenty-digit seconds included, is nil.
    public init?(xsTime text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 8, bytes.count <= 32, bytes[2] == 58, bytes[5] == 58,
              let hour = digits(bytes, 0, 2), let minute = digits(bytes, 3, 2), let second = digits(bytes, 6, 2),
              minute < 60, second < 60, hour < 24 || (hour == 24 && minute == 0 && second == 0)
        else { return nil }
        guard let (millis, offsetMinutes) = fractionAndZone(bytes, from: 8) else { return nil }
        let local = Int64(hour % 24) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1000 + millis
        self.init(uncheckedMilliseconds: (local - offsetMinutes * 60_000).floorDivided(by: CalendarDay.millisecondsPerDay).remainder)
    }

    public var hour: Int { Int(milliseconds / 3_600_000) }
    public var minute: Int { Int(milliseconds / 60_000 % 60) }
    public var second: Int { Int(milliseconds / 1000 % 60) }
    /// Minutes since midnight.
    public var minutes: Int { Int(milliseconds / 60_000) }

    /// `17:00:00Z`
    public var xsTime: String {
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return two(hour) + ":" + two(minute) + ":" + two(second) + "Z"
    }

    public var description: String { xsTime }

    public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool { lhs.milliseconds < rhs.milliseconds }
}

extension Timestamp {
    /// Midnight UTC starting day `dayNumber` (days since 1970-01-01), plus `millisecond`.
    /// Any `Int32` day number times a day's milliseconds fits an `Int64`, so this cannot
    /// overflow for a millisecond within a few days.
    public init(dayNumber: Int32, millisecond: Int64 = 0) {
        self.init(milliseconds: Int64(dayNumber) * CalendarDay.millisecondsPerDay)
        self = adding(milliseconds: millisecond)
    }

    /// Microseconds since the epoch as an unsigned count: 0 before 1970, saturating at the
    /// top (the base of counters that follow the clock, as DCC Boxed's tools' do).
    public var microsecondCounter: UInt64 {
        let (micro, overflow) = UInt64(max(0, milliseconds)).multipliedReportingOverflow(by: 1000)
        return overflow ? .max : micro
    }

    /// Milliseconds since the epoch as an unsigned count (0 before 1970): the base of a
    /// user's request counters that follow the clock, as DCC Boxed's tools' do.
    public var millisecondCounter: UInt64 { UInt64(max(0, milliseconds)) }

    /// Milliseconds since the epoch, as a bit pattern (for seeds and hashes).
    public var bitPattern: UInt64 { UInt64(bitPattern: milliseconds) }

    /// The start of half-hour slot `slot` of day `dayNumber`.
    public init(dayNumber: Int32, slot: Int) {
        self.init(dayNumber: dayNumber, millisecond: Int64(slot) * CalendarDay.millisecondsPerHalfHour)
    }
}

extension Int64 {
    /// Floor division: the remainder is never negative (for a positive divisor).
    @inline(__always)
    public func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = self / divisor
        var remainder = self % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }
}

func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// How often a DCC schedule (5.1) runs: DUIS's `ScheduleFrequency`.
public enum ScheduleFrequency: String, Sendable, Codable, CaseIterable {
    case daily = "Daily", weekly = "Weekly", monthly = "Monthly", quarterly = "Quarterly", halfYearly = "Half-Yearly", yearly = "Yearly"

    /// The gap between runs: whole days, or whole months (on the same day of the month,
    /// or the month's last day when it is shorter).
    public enum Period: Sendable, Hashable {
        case days(Int64)
        case months(Int64)
    }

    public var period: Period {
        switch self {
        case .daily: return .days(1)
        case .weekly: return .days(7)
        case .monthly: return .months(1)
        case .quarterly: return .months(3)
        case .halfYearly: return .months(6)
        case .yearly: return .months(12)
        }
    }

    /// The day of the `occurrence`th run (0 is `start`), or nil when it would lie outside
    /// `CalendarDay.range`.
    public func day(ofOccurrence occurrence: Int64, from start: CalendarDay) -> CalendarDay? {
        switch period {
        case .days(let days):
            let (offset, overflow) = occurrence.multipliedReportingOverflow(by: days)
            return overflow ? nil : start.adding(days: offset)
        case .months(let months):
            let (offset, overflow) = occurrence.multipliedReportingOverflow(by: months)
            return overflow ? nil : start.adding(months: offset)
        }
    }

    /// The first run strictly after `after` of a schedule starting on `start` at `time`,
    /// ending on `end` (inclusive), or nil when there is none. Jumps straight to the
    /// neighbourhood of `after`, then steps: a handful of checked calendar operations
    /// whatever the dates.
    public func nextRun(start: CalendarDay, end: CalendarDay?, time: TimeOfDay, after: Timestamp) -> Timestamp? {
        let target = after.day
        var occurrence: Int64
        switch period {
        case .days(let days): occurrence = start.days(to: target) / days - 1
        case .months(let months): occurrence = start.months(to: target) / months - 1
        }
        occurrence = max(0, occurrence)
        for _ in 0..<8 {
            guard let day = day(ofOccurrence: occurrence, from: start) else { return nil }
            if let end, day > end { return nil }
            let run = day.at(time)
            if run > after { return run }
            occurrence += 1
        }
        return nil
    }
}
