import DUIS
import Foundation
import Storage

/// A run of a DCC schedule (5.1), queued at the device boundary beside users' requests.
///
/// It is stored in the requests table so it shares their queue, crash recovery and
/// parking, marked as the schedule's (`StoredRequest.scheduleID`), due at its run time,
/// under a request ID of its own form (`schedule:<id>:<run time>`, which no DUIS
/// RequestID can be, so that a run is stored once however often the runner looks). The
/// rest of the hub asks `ScheduledRun(stored:)` or `isScheduledRun`.
struct ScheduledRun {
    let scheduleID: Int64
    let runAt: Timestamp

    /// Whether a stored request is a schedule's run.
    static func isScheduledRun(_ stored: StoredRequest) -> Bool { stored.scheduleID != nil }

    init(scheduleID: Int64, runAt: Timestamp) {
        self.scheduleID = scheduleID
        self.runAt = runAt
    }

    init?(stored: StoredRequest) {
        guard let id = stored.scheduleID else { return nil }
        scheduleID = id
        runAt = stored.executeAt ?? stored.receivedAt
    }

    var requestID: String { "schedule:\(scheduleID):\(runAt.milliseconds)" }

    /// The run as the device boundary queues it: DCC's command for the schedule's owner,
    /// over the WAN (as command variant 1), due at the run time, with DCC's `counter`.
    func request(_ schedule: ScheduleRecord, counter: UInt64) -> StoredRequest {
        StoredRequest(requestID: requestID, originator: schedule.owner, target: schedule.device, counter: counter, srv: schedule.srv,
                      commandVariant: CommandVariant.nonCriticalWAN.rawValue, receivedAt: runAt, executeAt: runAt, status: .scheduled, code: nil,
                      raw: [], scheduleID: scheduleID)
    }

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
