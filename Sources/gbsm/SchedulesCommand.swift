import ArgumentParser
import DUIS
import Storage

/// `gbsm schedules`: the DCC schedules (5.1) a data folder holds, including those parked
/// because one of their runs was running when the hub died twice, and an operator's
/// way to delete or resume one. A running hub picks the change up within a second.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedules", abstract: "DCC schedules: list them, delete or resume one.",
                                                    subcommands: [List.self, Delete.self, Resume.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List DCC schedules with their state (active, parked, deleted) and next run.")

        @OptionGroup var data: DataOptions

        @Option(help: "Only this user's.")
        var user: String?

        @Flag(help: "Include deleted schedules.")
        var all = false

        func run() async throws {
            let user = try self.user.map(parseEUI)
            let now = Timestamp.now()
            var rows = [["ID", "OWNER", "DEVICE", "SRV", "FREQUENCY", "FROM", "TO", "AT", "STATE", "NEXT RUN"]]
            for schedule in try await data.store().schedules() where (user == nil || schedule.owner == user) && (all || schedule.deletedAt == nil) {
                let state = schedule.deletedAt != nil ? "deleted" : schedule.parkedAt.map { "parked \($0.iso8601)" } ?? "active"
                let next = schedule.isActive
                    ? schedule.frequency.nextRun(start: schedule.startDate, end: schedule.endDate, time: schedule.executionTime ?? .midnight, after: now)?.iso8601 ?? "none"
                    : "-"
                rows.append([String(schedule.id), schedule.owner.description, schedule.device.description, schedule.srv, schedule.frequency.rawValue,
                             schedule.startDate.isoDate, schedule.endDate?.isoDate ?? "-", schedule.executionTime?.xsTime ?? "00:00:00Z", state, next])
            }
            printTable(rows)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a DCC schedule: it never runs again.")

        @OptionGroup var data: DataOptions

        @Option(help: "The schedule's ID.")
        var id: Int64

        func run() async throws {
            try await SchedulesCommand.change(data: data, id: id, verb: "deleted") { schedule, now in
                guard schedule.deletedAt == nil else { throw ValidationError("schedule \(schedule.id) is already deleted") }
                return .deleteSchedule(id: schedule.id, at: now)
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a parked DCC schedule: its runs start again from the next one due.")

        @OptionGroup var data: DataOptions

        @Option(help: "The schedule's ID.")
        var id: Int64

        func run() async throws {
            try await SchedulesCommand.change(data: data, id: id, verb: "resumed") { schedule, _ in
                guard schedule.deletedAt == nil, schedule.parkedAt != nil else { throw ValidationError("schedule \(schedule.id) is not parked") }
                return .parkSchedule(id: schedule.id, at: nil)
            }
        }
    }

    static func change(data: DataOptions, id: Int64, verb: String, _ mutation: (ScheduleRecord, Timestamp) throws -> Mutation) async throws {
        let store = try await data.store()
        guard let schedule = try await store.schedules().first(where: { $0.id == id }) else { throw ValidationError("no DCC schedule \(id)") }
        let now = Timestamp.now()
        try await store.apply([
            try mutation(schedule, now),
            .audit(AuditEvent(at: now, kind: .admin, actor: schedule.owner, device: schedule.device, srv: schedule.srv, code: "schedule \(id)",
                              detail: "DCC schedule \(id) \(verb) by an operator")),
            .bumpRegistryVersion,
        ])
        print("schedule \(id) \(verb)")
    }
}
