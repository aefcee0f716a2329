import DUIS
import GBCS
@testable import Hub
import Storage
import Testing

/// An issued pre-command may be sent once, within a day of its issue.
@Suite struct CriticalCommandDeskTests {
    @Test func aPreCommandLivesADayAndIsSentOnce() {
        let issued = Timestamp(milliseconds: 1_800_000_000_000)
        let record = PreCommandRecord(requestID: "x", preCommand: [0xDF], issuedAt: issued)
        #expect(CriticalCommandDesk.isLive(record, at: issued))
        #expect(CriticalCommandDesk.isLive(record, at: issued.adding(milliseconds: CriticalCommandDesk.lifetime)))
        #expect(!CriticalCommandDesk.isLive(record, at: issued.adding(milliseconds: CriticalCommandDesk.lifetime + 1)))
        var sent = record
        sent.sentAt = issued.adding(milliseconds: 10)
        #expect(!CriticalCommandDesk.isLive(sent, at: issued.adding(milliseconds: 20)))
    }

    /// A request's ExecutionDateTime as the device is to run it: the cancellation date as
    /// written, whatever its offset; now for a past time; refusals for text that is not a
    /// date-time and for a time no GBCS encoding holds.
    @Test func executionDateTimesAreReadAsWritten() throws {
        let now = Timestamp(year: 2026, month: 11, day: 26)
        #expect(try CriticalCommandDesk.executionTime("3000-12-31T00:00:00+01:00", at: now) == .cancel)
        #expect(try CriticalCommandDesk.executionTime("9999-12-31T23:59:59Z", at: now) == .cancel)
        #expect(try CriticalCommandDesk.executionTime("2020-01-01T00:00:00Z", at: now) == .now)
        #expect(try CriticalCommandDesk.executionTime("2030-01-15T09:00:00.5Z", at: now) == .at(Timestamp(year: 2030, month: 1, day: 15, hour: 9)))
        #expect(throws: Refusal.self) { try CriticalCommandDesk.executionTime("tomorrow", at: now) }
        #expect(throws: Refusal.self) { try CriticalCommandDesk.executionTime("2999-01-01T00:00:00Z", at: now) }
    }

    @Test func aClaimIsHeldOnce() {
        let desk = CriticalCommandDesk(keys: GBCSMemoryKeyStore())
        #expect(desk.claim("a"))
        #expect(!desk.claim("a"))
        desk.release("a")
        #expect(desk.claim("a"))
    }
}
