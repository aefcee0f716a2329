import ArgumentParser
import DUIS
import Foundation
import Hub
import Storage

struct WANCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wan",
        abstract: "The emulated SM WAN: inject regional outages, switch off the 2G/3G networks, list what is in force.",
        subcommands: [Outage.self, Sunset.self, List.self])

    struct Outage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a CSP region's WAN down for a while: device requests there are retried, then answered E20 (or succeed late when it comes back).")

        @OptionGroup var data: DataOptions

        @Option(help: "north, central, south or all.")
        var region: String

        @Option(help: "How long, minutes.")
        var minutes: Double = 10

        @Option(help: "When it starts (default now).")
        var start: String?

        @Option(help: "Why (recorded in the audit log).")
        var reason: String = "injected outage"

        func run() async throws {
            let scope: CSPRegion?
            switch region.lowercased() {
            case "all": scope = nil
            case "north": scope = .north
            case "central": scope = .central
            case "south": scope = .south
            default: throw ValidationError("--region is north, central, south or all")
            }
            guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
            let store = try await data.store()
            let begin = try start.map(parseTime) ?? Timestamp.now()
            let id = (try await store.wanOutages().map(\.id).max() ?? 0) + 1
            let outage = WANOutageRecord(id: id, region: scope, start: begin, end: begin.adding(milliseconds: Int64(minutes * 60_000)), reason: reason)
            try await store.apply([.putWANOutage(outage),
                                   .audit(AuditEvent(kind: .admin, detail: "WAN outage \(id) in \(scope?.rawValue ?? "every") region(s) from \(outage.start.iso8601) to \(outage.end.iso8601): \(reason)"))])
            print("WAN outage \(id): \(scope?.rawValue ?? "every") region(s) from \(outage.start.iso8601) to \(outage.end.iso8601)")
        }
    }

    struct Sunset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Switch off the 2G/3G networks from a date: the comms hubs at risk (about a third of the older cellular ones) become unreachable.")

        @OptionGroup var data: DataOptions

        @Option(help: "The switch-off date (YYYY-MM-DD or date-time); omit with --clear.")
        var date: String?

        @Flag(help: "Cancel the sunset.")
        var clear = false

        func run() async throws {
            let store = try await data.store()
            if clear {
                try await store.apply([.setMeta(key: "wan.sunset", value: ""), .audit(AuditEvent(kind: .admin, detail: "2G/3G sunset cancelled"))])
                print("2G/3G sunset cancelled")
                return
            }
            guard let date else { throw ValidationError("give --date or --clear") }
            let time = try parseTime(date)
            try await store.apply([.setMeta(key: "wan.sunset", value: time.iso8601),
                                   .audit(AuditEvent(kind: .admin, detail: "2G/3G networks switched off from \(time.iso8601)"))])
            print("2G/3G networks switched off from \(time.iso8601)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "WAN outages and the sunset date.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let store = try await data.store()
            let now = Timestamp.now()
            let sunset = try await store.meta("wan.sunset").flatMap { $0.isEmpty ? nil : $0 }
            print("2G/3G sunset: \(sunset ?? "not set")")
            let outages = try await store.wanOutages()
            guard !outages.isEmpty else {
                print("no WAN outages")
                return
            }
            printTable([["id", "region", "start", "end", "state", "reason"]] + outages.map { outage in
                [String(outage.id), outage.region?.rawValue ?? "all", outage.start.iso8601, outage.end.iso8601,
                 outage.end <= now ? "over" : (outage.start <= now ? "in force" : "planned"), outage.reason]
            })
        }
    }
}
