import Crypto
import DUIS
import Foundation
import Testing
import TestSupport

/// The checked calendar and the typed DUIS values: whatever a request carries, date
/// arithmetic and conversions give an answer or nil, never a trap (issue 8, finding 1).
@Suite struct CheckedValueTests {
    @Test func timeOfDayParsesOnlyRealTimes() {
        #expect(TimeOfDay(xsTime: "17:00:00.00Z")?.minutes == 17 * 60)
        #expect(TimeOfDay(xsTime: "00:00:00Z") == .midnight)
        #expect(TimeOfDay(xsTime: "24:00:00") == .midnight)
        #expect(TimeOfDay(xsTime: "23:59:59.999")?.milliseconds == 86_399_999)
        // A zone moves the time to UTC, wrapping round midnight.
        #expect(TimeOfDay(xsTime: "00:30:00+01:00")?.minutes == 23 * 60 + 30)
        // What crashed the hub (finding 1), and other impossible times.
        for text in ["00:00:99999999999999999999", "00:00:99", "25:00:00", "24:00:01", "7:00:00", "07:00", "07:00:00.Z", "07:00:00Zx",
                     "07:00:00+15:00", "", String(repeating: "9", count: 100_000)] {
            #expect(TimeOfDay(xsTime: text) == nil, "\(text.prefix(30))")
        }
    }

    @Test func dayArithmeticIsCheckedAtBothEnds() throws {
        #expect(CalendarDay.first.adding(days: -1) == nil)
        #expect(CalendarDay.last.adding(days: 1) == nil)
        #expect(CalendarDay.last.adding(days: Int64.max) == nil)
        #expect(CalendarDay.first.adding(days: Int64.min) == nil)
        #expect(CalendarDay.last.adding(months: 1) == nil)
        #expect(CalendarDay.first.adding(months: -1) == nil)
        #expect(CalendarDay.first.adding(months: Int64.max) == nil)
        let start = try #require(CalendarDay(year: 2024, month: 1, day: 31))
        #expect(start.adding(months: 1) == CalendarDay(year: 2024, month: 2, day: 29))
        #expect(start.adding(months: 13) == CalendarDay(year: 2025, month: 2, day: 28))
        #expect(start.adding(days: -400)?.isoDate == "2022-12-27")
        // Timestamps saturate instead of trapping; days of any timestamp are clamped into range.
        #expect(Timestamp(milliseconds: .max).adding(milliseconds: 1).milliseconds == .max)
        #expect(Timestamp(milliseconds: .min).adding(days: -1).milliseconds == .min)
        #expect(Timestamp(milliseconds: .max).day == CalendarDay.last)
        #expect(Timestamp(milliseconds: .min).day == CalendarDay.first)
        #expect(Timestamp(milliseconds: .min).milliseconds(to: Timestamp(milliseconds: .max)) == .max)
    }

    @Test func scheduleRunsAreFoundForAnyDates() throws {
        let now = try #require(Timestamp(xsDateTime: "2026-11-25T12:00:00Z"))
        let start = try #require(CalendarDay(year: 2015, month: 1, day: 31))
        let seven = try #require(TimeOfDay(xsTime: "07:00:00Z"))
        #expect(ScheduleFrequency.daily.nextRun(start: start, end: nil, time: seven, after: now)?.iso8601 == "2026-11-26T07:00:00.000Z")
        #expect(ScheduleFrequency.monthly.nextRun(start: start, end: nil, time: seven, after: now)?.iso8601 == "2026-11-30T07:00:00.000Z")
        #expect(ScheduleFrequency.yearly.nextRun(start: start, end: nil, time: seven, after: now)?.iso8601 == "2027-01-31T07:00:00.000Z")
        #expect(ScheduleFrequency.weekly.nextRun(start: start, end: CalendarDay(year: 2020, month: 1, day: 1), time: seven, after: now) == nil)
        // At the ends of the calendar: no run, no trap.
        for frequency in ScheduleFrequency.allCases {
            #expect(frequency.nextRun(start: .last, end: nil, time: .midnight, after: Timestamp(milliseconds: .max)) == nil)
            _ = frequency.nextRun(start: .first, end: nil, time: .midnight, after: Timestamp(milliseconds: .max))
            _ = frequency.nextRun(start: .last, end: nil, time: .midnight, after: Timestamp(milliseconds: .min))
        }
    }

    @Test func fieldTypesCarryTheSchemaRanges() {
        let offset = DUISFields.types["StartDateOffset"]
        #expect(offset?.problem(with: "-1") == nil)
        #expect(offset?.problem(with: "-400") == nil)
        #expect(offset?.problem(with: "-401") != nil)
        #expect(offset?.problem(with: "1") != nil)
        #expect(offset?.problem(with: "-1000000000000") != nil)
        #expect(offset?.problem(with: "99999999999999999999999") != nil)
        #expect(DUISFields.types["ScheduleExecutionStartTime"]?.problem(with: "00:00:99999999999999999999") != nil)
        #expect(DUISFields.types["UPRN"]?.problem(with: "0") != nil)
        #expect(DUISFields.types["SupplierName"]?.problem(with: "E-ON") == nil)
        #expect(DUISFields.types["SupplierName"]?.problem(with: String(repeating: "A", count: 16)) != nil)
        #expect(DUISFields.types["SupplierMessage"]?.problem(with: "tab\there") != nil)
        #expect(DUISFields.types["DeviceIDList"]?.problem(with: "00-DB-12-34-56-78-90-A0,00-DB-12-34-56-78-90-A1") == nil)
        #expect(DUISFields.types["DeviceIDList"]?.problem(with: "00-DB-12-34-56-78-90-A0,,") != nil)
        #expect(DUISFieldType.integer("9223372036854775807") == Int64.max)
        #expect(DUISFieldType.integer("9223372036854775808") == nil)
        #expect(DUISFieldType.integer("-") == nil)

        // A whole body: the first value that does not fit, with where it is.
        let body = ElementTree(name: "CreateSchedule", children: [
            ElementTree(name: "ScheduleStartDate", text: "2015-01-02"),
            ElementTree(name: "DSPRetrieveDailyConsumptionLog", children: [ElementTree(name: "StartDateOffset", text: "1000000000000")]),
        ])
        let problem = DUISFields.problem(in: body)
        #expect(problem?.contains("CreateSchedule/DSPRetrieveDailyConsumptionLog/StartDateOffset") == true, "\(problem ?? "")")
        // Text of an untyped element is bounded.
        let long = ElementTree(name: "X", children: [ElementTree(name: "Whatever", text: String(repeating: "x", count: DUISFields.maxUntypedText + 1))])
        #expect(DUISFields.problem(in: long) != nil)
    }

    @Test func everyReferenceTemplateFitsTheTypes() throws {
        guard let reference = Reference.directory else {
            print("skipped: \(Reference.skipReason)")
            return
        }
        let folder = reference.appendingPathComponent("duis/templates")
        var checked = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let bytes = Array(try Data(contentsOf: folder.appendingPathComponent(name)))
            let request = try ServiceRequestDocument(try XMLDocument.parse(bytes, limits: .duis))
            #expect(DUISFields.problem(in: request.body()) == nil, "\(name): \(DUISFields.problem(in: request.body()) ?? "")")
            checked += 1
        }
        #expect(checked >= 100)
    }

    @Test func untrustedTextIsBoundedAndEscaped() {
        #expect(untrusted("abc") == "\"abc\"")
        #expect(untrusted("a\u{0}b\"") == "\"a\\u{0}b\\\"\"")
        let long = untrusted(String(repeating: "x", count: 5 << 20), limit: 10)
        #expect(long.utf8.count < 40)
        #expect(long.contains("5242880 octets"))
        #expect(String(repeating: "é", count: 10_000).boundedUTF8(100).utf8.count <= 100 + 40)
    }

    @Test func signaturesHaveOneEncoding() throws {
        // Base64: the canonical form only.
        #expect(decodeBase64("ZGVmYXVsdA==", canonical: true) == Array("default".utf8))
        #expect(decodeBase64("ZGVmYXVsdA====", canonical: true) == nil)
        #expect(decodeBase64("ZGVmYXVsdB==", canonical: true) == nil)
        #expect(decodeBase64("ZGVm\nYXVs dA==", canonical: true) == Array("default".utf8))
        // ECDSA: gbsm's signatures are low-S; the high-S twin of a signature still verifies
        // (standard signers produce both), and normalising it gives the low one back.
        let key = P256.Signing.PrivateKey()
        let message = Array("SignedInfo".utf8)
        var sawHigh = false
        for _ in 0..<64 {
            let raw = Array(try key.signature(for: message).rawRepresentation)
            let low = ECDSALowS.normalized(raw)
            #expect(!ECDSALowS.isHigh(low))
            #expect(key.publicKey.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: low), for: message))
            if ECDSALowS.isHigh(raw) {
                sawHigh = true
                #expect(low != raw)
            }
        }
        #expect(sawHigh, "about half of raw P-256 signatures are high-S")
    }
}
