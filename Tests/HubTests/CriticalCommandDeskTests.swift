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

    @Test func aClaimIsHeldOnce() {
        let desk = CriticalCommandDesk(keys: GBCSMemoryKeyStore())
        #expect(desk.claim("a"))
        #expect(!desk.claim("a"))
        desk.release("a")
        #expect(desk.claim("a"))
    }
}
