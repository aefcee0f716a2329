import DUIS
import Foundation
import Storage

/// A run of a DCC schedule (5.1), queued at the device boundary beside users' requests.
///
/// It is stored in the requests table so it shares their queue, crash recovery and
/// parking, under a request ID of its own form (`schedule:<id>:<run time>`, which no DUIS
/// RequestID can be) and command variant 0 (which DUIS does not have). Those two are
/// read and written here only: the rest of the hub asks `ScheduledRun(stored:)` or
/// `isScheduledRun`, never the raw values.
struct ScheduledRun {
    let scheduleID: Int64
    let runAt: Timestamp

    /// The command variant a run is stored under.
    static let storedCommandVariant = 0

    /// Whether a stored request is a schedule's run.
    static func isScheduledRun(_ stored: StoredRequest) -> Bool { stored.commandVariant == storedCommandVariant }

    init(scheduleID: Int64, runAt: Timestamp) {
        self.scheduleID = scheduleID
        self.runAt = runAt
    }

    init?(stored: StoredRequest) {
        guard Self.isScheduledRun(stored) else { return nil }
        let parts = stored.requestID.split(separator: ":")
        guard parts.count == 3, parts[0] == "schedule", let id = Int64(parts[1]), let at = Int64(parts[2]) else { return nil }
        scheduleID = id
        runAt = Timestamp(milliseconds: at)
    }

    var requestID: String { "schedule:\(scheduleID):\(runAt.milliseconds)" }

    /// The device command a run sends: the scheduled SRV's body, with the read period
    /// worked out from the schedule's offsets (−400 to 0 days, as DUIS types them) and
    /// times on the day of the run. Nil when the period does not fit the calendar.
    func body(schedule: ScheduleRecord, variant: ServiceRequestVariant) -> ElementTree? {
        let name = variant.expectedBody(for: .nonCriticalWAN)
        var body = ElementTree(name: name, namespace: DUISNamespace.serviceUserGateway)
        let details = (try? XMLDocument.parse(Array("<d xmlns:sr=\"\(DUISNamespace.serviceUserGateway)\">".utf8) + schedule.definition + Array("</d>".utf8), limits: .duis))
            .flatMap { $0.root.map(ElementTree.init) }
        guard let parameters = details?.children.first(where: { $0.name == "DSP" + name }), parameters.child("StartDateOffset") != nil else { return body }
        let day = runAt.day
        guard let startOffset = parameters.integer("StartDateOffset", in: -400...0), let endOffset = parameters.integer("EndDateOffset", in: -400...0),
              let startDay = day.adding(days: startOffset), let endDay = day.adding(days: endOffset)
        else { return nil }
        let start = startDay.at(parameters.time("StartTime") ?? .midnight)
        let end = endDay.at(parameters.time("EndTime") ?? .midnight)
        let ns = DUISNamespace.serviceUserGateway
        body.children.append(ElementTree(name: "ReadLogPeriod", namespace: ns, children: [
            ElementTree(name: "StartDateTime", namespace: ns, text: start.iso8601),
            ElementTree(name: "EndDateTime", namespace: ns, text: end.iso8601),
        ]))
        return body
    }
}
