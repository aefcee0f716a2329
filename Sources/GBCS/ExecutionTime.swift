import DUIS

/// When a critical command takes effect at the device. DUIS's request matrix lets eleven
/// critical SRVs be future-dated at the device ("Device" response pattern: tariffs 1.1.x
/// and 1.2.x, 1.6, 2.1, 6.4.1, 6.14.2, 6.14.3, 6.15.1, 11.3): the user puts an
/// `ExecutionDateTime` in the request sent to the Transform service, DCC writes it into the
/// GBCS command's activation times, and the device holds the command until then. An
/// `ExecutionDateTime` on or after 3000-12-31 asks the device to drop what it holds of
/// that command instead (RTDS's CANCELLATION vectors).
///
/// The same instant has one form per encoding GBCS uses, each checked against the RTDS:
/// a COSEM date-time for DLMS activation attributes, ZSE's UTCTime for GBZ start times,
/// ASN.1's GeneralizedTime for CS06 and CS02b.
public enum ExecutionTime: Sendable, Hashable, CustomStringConvertible {
    /// Immediately (no `ExecutionDateTime`, or one not after the request's time).
    case now
    /// At this instant (whole seconds, UTC).
    case at(Timestamp)
    /// Drop the held command of this kind.
    case cancel

    /// DUIS's cancellation date: an `ExecutionDateTime` on or after it cancels.
    public static let cancellationDate = Timestamp(year: 3000, month: 12, day: 31)

    /// The latest instant a device holds a command for: ZSE's UTCTime (seconds since 2000
    /// in 32 bits, 0xFFFFFFFF reserved for "never") ends in 2136; a COSEM year has two
    /// octets. gbsm keeps to the shorter, so every encoding holds every instant.
    public static let latest = Timestamp(year: 2135, month: 12, day: 31, hour: 23, minute: 59, second: 59)

    /// From a request's `ExecutionDateTime` (nil when absent), as of `time`: absent, or not
    /// after `time`, is now; on or after 3000-12-31 cancels; otherwise the instant, to the
    /// whole second (GBCS's encodings carry seconds). Nil for an instant after `latest`.
    public init?(executionDateTime: Timestamp?, at time: Timestamp) {
        guard let executionDateTime else {
            self = .now
            return
        }
        if executionDateTime >= Self.cancellationDate {
            self = .cancel
        } else if executionDateTime <= time {
            self = .now
        } else if executionDateTime > Self.latest {
            return nil
        } else {
            let seconds = executionDateTime.milliseconds / 1000
            self = .at(Timestamp(milliseconds: seconds * 1000))
        }
    }

    public var description: String {
        switch self {
        case .now: return "now"
        case .at(let time): return time.iso8601
        case .cancel: return "cancel"
        }
    }

    /// A COSEM date-time: zeros for now, the instant in UTC (day of week and hundredths
    /// not specified as GBCS writes them: 0xFF and 0), 0xFF for cancel; deviation 0x8000
    /// (not specified) and clock status 0xFF in all three.
    public var cosemDateTime: [UInt8] {
        let tail: [UInt8] = [0x80, 0x00, 0xFF]
        switch self {
        case .now:
            return [UInt8](repeating: 0, count: 9) + tail
        case .cancel:
            return [UInt8](repeating: 0xFF, count: 9) + tail
        case .at(let time):
            let (year, month, day, hour, minute, second) = Self.fields(time)
            return [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year), UInt8(month), UInt8(day), 0xFF,
                    UInt8(hour), UInt8(minute), UInt8(second), 0x00] + tail
        }
    }

    /// ZSE's UTCTime: seconds since 2000-01-01T00:00:00Z; 0 for now, 0xFFFFFFFF for cancel.
    public var utcTime: UInt32 {
        switch self {
        case .now: return 0
        case .cancel: return 0xFFFF_FFFF
        case .at(let time):
            let seconds = (time.milliseconds - Self.epoch2000.milliseconds) / 1000
            return UInt32(clamping: seconds)
        }
    }

    /// ASN.1 GeneralizedTime text (YYYYMMDDhhmmssZ): nil for now (the element is then
    /// absent), 9999-12-31 23:59:59 for cancel.
    public var generalizedTime: String? {
        switch self {
        case .now: return nil
        case .cancel: return "99991231235959Z"
        case .at(let time):
            let (year, month, day, hour, minute, second) = Self.fields(time)
            func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
            return String(year) + two(month) + two(day) + two(hour) + two(minute) + two(second) + "Z"
        }
    }

    /// Reads a COSEM activation date-time back: zeros now, 0xFF never (cancel), else the
    /// instant. Nil when it is neither (a pattern, or not UTC).
    public init?(cosemDateTime octets: [UInt8]) {
        guard octets.count == 12 else { return nil }
        if octets.prefix(9).allSatisfy({ $0 == 0 }) {
            self = .now
        } else if octets.prefix(9).allSatisfy({ $0 == 0xFF }) {
            self = .cancel
        } else if let seconds = DLMSDateTime(octets)?.unixTime {
            self = .at(Timestamp(milliseconds: seconds * 1000))
        } else {
            return nil
        }
    }

    /// Reads a ZSE UTCTime start time back: 0 is now; 0xFFFFFFFF, and 0xFFFFFFFE which the
    /// RTDS's cancellations put in ZSE's calendar and price commands, cancel.
    public init(utcTime: UInt32) {
        switch utcTime {
        case 0: self = .now
        case 0xFFFF_FFFE, 0xFFFF_FFFF: self = .cancel
        default: self = .at(Self.epoch2000.adding(milliseconds: Int64(utcTime) * 1000))
        }
    }

    static let epoch2000 = Timestamp(year: 2000, month: 1, day: 1)

    private static func fields(_ time: Timestamp) -> (Int, Int, Int, Int, Int, Int) {
        let civil = time.day.civil
        let seconds = Int(time.milliseconds - time.day.start.milliseconds) / 1000
        return (civil.year, civil.month, civil.day, seconds / 3600, seconds / 60 % 60, seconds % 60)
    }
}
