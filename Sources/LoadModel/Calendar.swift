/// Days as integers since 1970-01-01 (UTC), half-hour slots 0..47 in UTC, and the UK's
/// civil calendar on top: British Summer Time and the bank holidays of England and Wales
/// (households keep their routines in local time; meters record in UTC).
public enum UKCalendar {
    public static let slotsPerDay = 48

    /// Monday = 0 … Sunday = 6. 1970-01-01 was a Thursday.
    @inline(__always)
    public static func weekday(_ day: Int32) -> Int { Int(((day % 7) + 7 + 3) % 7) }

    public static func isWeekend(_ day: Int32) -> Bool { weekday(day) >= 5 }

    /// Civil date of a day number.
    public static func date(_ day: Int32) -> (year: Int, month: Int, day: Int) {
        let z = Int64(day) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    public static func day(year: Int, month: Int, day: Int) -> Int32 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int32(era * 146_097 + doe - 719_468)
    }

    /// Day of the year, 0-based.
    public static func dayOfYear(_ day: Int32) -> Int {
        let (year, _, _) = date(day)
        return Int(day - self.day(year: year, month: 1, day: 1))
    }

    /// The last Sunday of a month.
    static func lastSunday(year: Int, month: Int) -> Int32 {
        let next = month == 12 ? self.day(year: year + 1, month: 1, day: 1) : self.day(year: year, month: month + 1, day: 1)
        var candidate = next - 1
        while weekday(candidate) != 6 { candidate -= 1 }
        return candidate
    }

    /// Whether British Summer Time applies at the start of this day's UTC slot 2 (01:00 UTC
    /// is when the clocks change); used for the whole day, which shifts at most one hour of
    /// routine on the two changeover days.
    public static func isSummerTime(_ day: Int32) -> Bool {
        let (year, month, _) = date(day)
        if month < 3 || month > 10 { return false }
        if month > 3 && month < 10 { return true }
        if month == 3 { return day >= lastSunday(year: year, month: 3) }
        return day < lastSunday(year: year, month: 10)
    }

    /// Minutes to add to UTC for local time on this day.
    public static func localOffsetMinutes(_ day: Int32) -> Int { isSummerTime(day) ? 60 : 0 }

    /// Easter Sunday (anonymous Gregorian algorithm).
    static func easter(_ year: Int) -> Int32 {
        let a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4
        let f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30
        let i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31, dayOfMonth = ((h + l - 7 * m + 114) % 31) + 1
        return self.day(year: year, month: month, day: dayOfMonth)
    }

    /// Bank holidays of England and Wales (with substitute days when they fall at a weekend).
    public static func isBankHoliday(_ day: Int32) -> Bool {
        let (year, month, dayOfMonth) = date(day)
        let easterSunday = easter(year)
        if day == easterSunday - 2 || day == easterSunday + 1 { return true }
        func firstMonday(_ month: Int) -> Int32 {
            var candidate = self.day(year: year, month: month, day: 1)
            while weekday(candidate) != 0 { candidate += 1 }
            return candidate
        }
        func lastMonday(_ month: Int) -> Int32 {
            var candidate = month == 12 ? self.day(year: year + 1, month: 1, day: 1) - 1 : self.day(year: year, month: month + 1, day: 1) - 1
            while weekday(candidate) != 0 { candidate -= 1 }
            return candidate
        }
        if day == firstMonday(5) || day == lastMonday(5) || day == lastMonday(8) { return true }
        // New Year's Day, Christmas Day and Boxing Day, moved to the next weekdays.
        let newYear = self.day(year: year, month: 1, day: 1)
        var newYearObserved = newYear
        while weekday(newYearObserved) >= 5 { newYearObserved += 1 }
        if day == newYearObserved { return true }
        if month == 12 && dayOfMonth >= 25 {
            let christmas = self.day(year: year, month: 12, day: 25)
            var observed: [Int32] = []
            var candidate = christmas
            while observed.count < 2 {
                if weekday(candidate) < 5 { observed.append(candidate) }
                candidate += 1
            }
            return observed.contains(day)
        }
        return false
    }

    /// Days off work and school: weekends and bank holidays.
    public static func isDayOff(_ day: Int32) -> Bool { isWeekend(day) || isBankHoliday(day) }
}
