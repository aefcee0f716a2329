import DUIS
import Foundation
import Privacy
import Storage

/// The first stage of a device request at the boundary: what the hub knows about it when
/// it is due (the stored request read again, or a DCC schedule run's body built from the
/// schedule; the device, its premises and their model) and whether it may still run.
///
/// A request waits at the boundary (held for its execution time, behind a queue, through
/// a restart) after the gateway authorised it, so everything is decided again here, as of
/// the time the dispatcher passes in. The stage is apart from `DeviceDispatcher` so each
/// refusal can be tested alone: it reads only in-memory books (schedules, inventory,
/// registry, access control) and two lookups it is given (a premises' model, its current
/// occupancy), no clock, no WAN and no store.
final class DeviceRequestPreparation: Sendable {
    /// What the hub knows about a request it is about to run.
    struct Work: Sendable {
        var stored: StoredRequest
        var header: RequestHeader
        var body: ElementTree
        var device: DeviceRecord
        var premises: PremisesRecord
        /// When the premises' meters were installed.
        var installed: Timestamp
        var scheduleID: Int64?
        /// The request's `ExecutionDateTime` as written, for a critical command the device may hold.
        var executionDateTime: String? = nil
    }

    /// DCC's EUI: the originator in a schedule run's header.
    let dccEUI: EUI64
    let schedules: ScheduleBook
    let inventory: Inventory
    let registry: UserRegistry
    let accessControl: AccessControl
    /// The limits a stored request is parsed with again (as at the gateway).
    let limits: XMLParseLimits
    /// When a premises' metering system was installed (`Inventory.installed(premises:)`), or
    /// nil when DCC knows of no device installed there.
    let premisesInstalled: @Sendable (Int64) -> Timestamp?
    /// A premises' current occupancy (`PrivacyGuard.occupancy(premises:)`), for a 3.2's
    /// restriction date.
    let occupancy: @Sendable (Int64) async throws -> Occupancy

    init(dccEUI: EUI64, schedules: ScheduleBook, inventory: Inventory, registry: UserRegistry, accessControl: AccessControl, limits: XMLParseLimits,
         premisesInstalled: @escaping @Sendable (Int64) -> Timestamp?, occupancy: @escaping @Sendable (Int64) async throws -> Occupancy) {
        self.dccEUI = dccEUI
        self.schedules = schedules
        self.inventory = inventory
        self.registry = registry
        self.accessControl = accessControl
        self.limits = limits
        self.premisesInstalled = premisesInstalled
        self.occupancy = occupancy
    }

    /// The work of a stored request, or why it can no longer run: the stored request no
    /// longer reads, its schedule was deleted, its device left the inventory, opted out or
    /// is not installed at a premises gbsm emulates. `parsed` is the request as the gateway
    /// read it from the same bytes, when it handed it over (`ParsedRequests`); otherwise
    /// the stored bytes are parsed again.
    func prepare(_ stored: StoredRequest, parsed: ParsedRequests.Parsed? = nil) -> Result<Work, Refusal> {
        var body: ElementTree
        var scheduleID: Int64?
        var executionDateTime: String?
        let header: RequestHeader
        if let run = ScheduledRun(stored: stored) {
            // A DCC schedule's run: the body comes from the schedule's definition.
            guard let schedule = schedules.schedule(run.scheduleID), schedule.deletedAt == nil else {
                return .failure(Refusal(.E19, rule: .scheduleExists, "DCC schedule \(run.scheduleID) was deleted before this run"))
            }
            guard let variant = ServiceCatalogue.variant(text: schedule.srv) else {
                return .failure(Refusal(.E12, rule: .schedule, "schedule \(run.scheduleID) names an unknown SRV \(schedule.srv)"))
            }
            header = RequestHeader(schemaVersion: "5.4", requestID: RequestID(originator: dccEUI, target: schedule.device, counter: stored.counter),
                                   firstInSequence: nil, precedingRequestID: nil, commandVariantText: "1",
                                   serviceReference: variant.serviceReference, variant: variant)
            guard let runBody = run.body(schedule: schedule, variant: variant) else {
                return .failure(Refusal(.E12, rule: .schedule, "schedule \(run.scheduleID)'s read period does not fit the calendar on \(run.runAt.isoDate)"))
            }
            body = runBody
            scheduleID = run.scheduleID
        } else {
            if let parsed, parsed.header.requestID.description == stored.requestID {
                header = parsed.header
                body = parsed.body
            } else {
                do {
                    let request = try ServiceRequestDocument(try XMLDocument.parse(stored.raw, limits: limits))
                    header = request.header
                    body = request.body()
                } catch {
                    return .failure(Refusal(.E12, rule: .storedRequest, "the stored request can no longer be read: \(error)"))
                }
            }
            if body.children.first?.name == "ExecutionDateTime" {
                executionDateTime = body.children.removeFirst().text
            }
        }
        guard let device = inventory.device(stored.target) else {
            return .failure(Refusal(.E19, rule: .deviceExists, "device \(stored.target) left the inventory before the request ran"))
        }
        guard !device.optedOut else {
            return .failure(Refusal(.E5, rule: .deviceStatus, "device \(device.eui) opted out of DCC services before the request ran"))
        }
        guard let premisesID = device.premises, let premises = inventory.premises(premisesID), let installed = premisesInstalled(premisesID) else {
            return .failure(Refusal(.E20, rule: .deviceInstallation, "device \(device.eui) is not installed at a premises with a comms hub"))
        }
        return .success(Work(stored: stored, header: header, body: body, device: device, premises: premises, installed: installed, scheduleID: scheduleID,
                             executionDateTime: executionDateTime))
    }

    /// Authorises a request again when it runs: a held or future-dated request was
    /// authorised for its execution time when it arrived, but the user may since have been
    /// suspended, or its registration for the device ended.
    func reauthorise(_ work: Work, at time: Timestamp) -> Refusal? {
        if let scheduleID = work.scheduleID {
            guard let schedule = schedules.schedule(scheduleID) else { return nil }
            guard let owner = registry.user(schedule.owner) else {
                return Refusal(.E1, rule: .userRegistered, "\(schedule.owner), the owner of DCC schedule \(scheduleID), is no longer a registered DCC user")
            }
            guard owner.status == .active else {
                return Refusal(.E3, rule: .userStatus, "\(owner.eui), the owner of DCC schedule \(scheduleID), is \(owner.status.rawValue)")
            }
            let eligible = owner.roles.intersection(work.header.variant.eligibleRoles)
            guard eligible.contains(where: { accessControl.authorisation(role: $0, user: owner.eui, device: work.device, at: time) != nil }) else {
                return Refusal(.E4, rule: .deviceAuthorisation, "\(owner.eui) is no longer authorised for \(work.device.type.rawValue) \(work.device.eui) at \(time.iso8601)")
            }
            return nil
        }
        guard let user = registry.user(work.stored.originator) else {
            return Refusal(.E1, rule: .userRegistered, "\(work.stored.originator) is no longer a registered DCC user")
        }
        guard let commandVariant = work.header.commandVariant else { return Refusal(.E12, rule: .commandVariantRange, "invalid command variant") }
        do {
            _ = try accessControl.decide(header: work.header, user: user, service: commandVariant.service, at: time)
            return nil
        } catch {
            return error
        }
    }

    /// Who the device command comes from: the request's originator, or a schedule run's
    /// owner.
    func originator(of work: Work) -> EUI64 {
        work.scheduleID.flatMap { schedules.schedule($0)?.owner } ?? work.stored.originator
    }

    /// The roles a user holds now (none, if no longer registered).
    func roles(of user: EUI64) -> UserRoleSet {
        registry.user(user)?.roles ?? []
    }

    /// Why a 3.2's restriction date cannot start a new occupancy, or nil.
    ///
    /// A new household's time begins at the restriction date, so everything recorded from
    /// then on is theirs to see: the date must not reach back into the household before.
    /// It must lie after the installation and at least a day after the current occupancy
    /// began (the other fuel's 3.2 for the same move, within a day of it, is the same
    /// move), at most `lateMoveIn` in the past (a move-in reported late) and at most a day
    /// ahead.
    func tenancyProblem(_ body: ElementTree, premises: Int64, installed: Timestamp, at time: Timestamp) async throws -> String? {
        guard let text = body.value("RestrictionDateTime") else { return nil }
        guard let restriction = Timestamp(xsDateTime: text) else { return "RestrictionDateTime \(untrusted(text, limit: 40)) is not a date-time" }
        let current = try await occupancy(premises)
        let sameMove = current.sequence > 0 && current.cause.hasPrefix("3.2")
            && current.start.milliseconds(to: restriction).magnitude < UInt64(CalendarDay.millisecondsPerDay)
        if !sameMove, restriction < current.start.adding(days: 1) {
            return "RestrictionDateTime \(restriction.iso8601) is not a day after the current occupancy began (\(current.start.iso8601)): a change of tenancy cannot reach back into an earlier household's time"
        }
        if restriction < installed {
            return "RestrictionDateTime \(restriction.iso8601) is before the meters were installed (\(installed.isoDate))"
        }
        if restriction < time.adding(days: -Self.lateMoveIn) {
            return "RestrictionDateTime \(restriction.iso8601) is more than \(Self.lateMoveIn) days in the past: a change of tenancy reported that late would hand the previous household's data to the new one"
        }
        if restriction > time.adding(days: 1) {
            return "RestrictionDateTime \(restriction.iso8601) is more than a day ahead"
        }
        return nil
    }

    /// How late a move-in may be reported with 3.2, days.
    static let lateMoveIn: Int64 = 7
}
