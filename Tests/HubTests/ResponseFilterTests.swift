import Devices
import DUIS
import MMC
import Testing
@testable import Hub

/// The data window the device boundary applies to answers: nothing whose period began
/// before a move-in, and nothing whose time cannot be read.
@Suite struct ResponseFilterTests {
    let moveIn = Timestamp(year: 2026, month: 11, day: 20)

    func entry(_ name: String, time: String?, timeName: String = "Timestamp", value: String = "100") -> DataNode {
        var node = DataNode(name)
        if let time { node.add(timeName, time) }
        node.add("Value", value)
        return node
    }

    @Test func entriesBeforeTheWindowAreWithheldWhateverTheirName() {
        var body = DataNode("RetrieveExportDailyReadLogRsp", children: [
            entry("LogEntry", time: "2026-11-19T00:00:00.000Z", timeName: "TimeStamp"),
            entry("LogEntry", time: "2026-11-21T00:00:00.000Z", timeName: "TimeStamp"),
            entry("ESMEBillingDataLogEntry", time: "2026-11-01T00:00:00.000Z", timeName: "BillingDateTime"),
            entry("LogEntry", time: nil),
            DataNode("Unrelated", text: "kept"),
        ])
        let removed = ResponseFilter.dropEntries(&body, before: moveIn, period: 86_400_000)
        #expect(removed == 3, "the old daily read, the old billing entry and the one without a time")
        #expect(body.children.map(\.name) == ["LogEntry", "Unrelated"])
    }

    @Test func aDayStraddlingTheMoveInIsWithheldWhole() {
        let noon = moveIn.adding(milliseconds: 12 * 3_600_000)
        var daily = DataNode("Electricity", children: [
            entry("LogEntry", time: "2026-11-21T00:00:00.000Z"),  // the day of the move-in at noon
            entry("LogEntry", time: "2026-11-22T00:00:00.000Z"),
        ])
        #expect(ResponseFilter.dropEntries(&daily, before: noon, period: 86_400_000) == 1)
        var halfHours = DataNode("Rsp", children: [
            entry("LogEntry", time: "2026-11-20T12:00:00.000Z"),  // 11:30–12:00: before
            entry("LogEntry", time: "2026-11-20T12:30:00.000Z"),
        ])
        #expect(ResponseFilter.dropEntries(&halfHours, before: noon, period: 1_800_000) == 1)
        var untouched = halfHours
        #expect(ResponseFilter.dropEntries(&untouched, before: Timestamp(milliseconds: 0), period: 1_800_000) == 0, "no window: nothing withheld")
    }
}
