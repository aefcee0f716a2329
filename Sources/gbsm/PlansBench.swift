import ArgumentParser
import Devices
import DUIS
import Foundation
import Homes
import Hub
import Logging
import Privacy
import Storage

/// `gbsm bench plans`: one day of half-hourly readings for a generated fleet, taken in by
/// a network operator's data privacy plan (pseudonymised and tagged with each home's LV
/// feeder, as the hub does for a plan's reads) and aggregated to published feeder
/// profiles by the plan's pipeline, on SQLite or on PostgreSQL (`--store`). Beside it, in
/// the same run, DuckDB (Python's `duckdb`) sums the same rows by feeder and half hour:
/// the bound a columnar engine sets for the arithmetic alone. Every profile gbsm published
/// must agree with DuckDB's sums of its feeders, and the run fails if one does not.
struct PlansBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plans",
        abstract: "Time a data privacy plan's intake and aggregation of one day of half-hourly readings for a generated fleet, beside DuckDB summing the same rows; the published profiles must agree.")

    @Option(help: "Homes in the generated fleet (those of its largest distributor are read).")
    var homes: Int = 20_000

    @Option(help: "The fleet's seed.")
    var seed: UInt64 = 1

    @Option(help: "A PostgreSQL server (postgres://USER@HOST:PORT/DB) on which to make a fresh database for the run; SQLite in a temporary folder without it.")
    var store: StoreURL?

    @Option(help: "The Python that has duckdb (pip install duckdb); 'off' runs without the comparison.")
    var python: String = "python3"

    func validate() throws {
        guard (10...2_000_000).contains(homes) else { throw ValidationError("--homes is 10 to 2,000,000 (the day's readings are held in memory)") }
    }

    func run() async throws {
        #if DEBUG
        print("note: this is a debug build; measure with `swift run -c release gbsm bench plans`")
        #endif
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gbsm-plans-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let store {
            let url = try await store.freshDatabase(prefix: "gbsm_plans_")
            setenv(StoreLocation.environmentVariable, url, 1)
        } else {
            unsetenv(StoreLocation.environmentVariable)
        }
        let configuration = HubConfiguration(dataDirectory: directory)
        print("store: \(configuration.storeLocation)")

        // The fleet, installed well before the day read, and its parties.
        let today = Timestamp.now().day.number
        let fleet = Fleet.build(FleetSpec(seed: seed, premises: homes, createdDay: today))
        try await Provisioning.provision(dataDirectory: directory, keystoreFile: nil, responseURL: nil)
        try fleet.write(to: HubConfiguration.fleetURL(directory))
        _ = try await Provisioning.registerFleet(dataDirectory: directory, fleet: fleet, responseURL: nil)
        var logger = Logger(label: "gbsm.bench")
        logger.logLevel = .warning
        let (hub, _) = try await EmulatedHomes.open(configuration, homes: HomesSettings(events: .quiet), logger: logger)
        do {
            try await measure(hub: hub, fleet: fleet, day: today - 1, directory: directory)
        } catch {
            await hub.shutdown()
            throw error
        }
        await hub.shutdown()
    }

    private func measure(hub: Hub, fleet: Fleet, day: Int32, directory: URL) async throws {
        let store = hub.store
        // The distributor of most homes registers a half-hourly feeder plan that publishes
        // as soon as a feeder's every home has reported.
        var homesOf: [EUI64: Int] = [:]
        for index in 0..<fleet.count { homesOf[fleet.premises(index).distributor.eui, default: 0] += 1 }
        guard let user = homesOf.max(by: { ($0.value, $0.key.rawValue) < ($1.value, $1.key.rawValue) })?.key,
              let records = hub.inventory.fleet else { throw ValidationError("the fleet has no distributor") }
        let plan = DataPrivacyPlan(id: try await store.nextPlanID(), user: user, name: "bench feeder profiles", approvalReference: "BENCH",
                                   level: .feeder, minimumHouseholds: 5, publicationDelayHours: 0, granularity: .halfHourly, registeredAt: .now())
        let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
        try await store.apply([.privacy(.putPlan(plan, key: key, tokenHash: "bench"))])
        let pseudonymiser = Pseudonymiser(key: key)
        let covered = (0..<fleet.count).filter { records.network($0, fuel: .electricity)?.party == user }
        print("fleet of \(fleet.count) homes (seed \(seed)); plan \(plan.id) of \(user): \(covered.count) homes, one day (\(Timestamp(dayNumber: day).iso8601.prefix(10))) of half hours")

        // The day's readings, made before the clock starts (the meters' work, not the plan's).
        let engine = MeterEngine()
        var readings: [PlanReading] = []
        readings.reserveCapacity(covered.count * 48)
        for index in covered {
            let premises = records.premisesID(index)
            guard let group = hub.plans.location(premises: premises, level: plan.level)?.key else { continue }
            let pseudonym = pseudonymiser.pseudonym(premises: premises, occupancy: 0)
            let meter = engine.readings(PremisesModel(fleet: fleet, index: index), PremisesState(), day: day)
            for slot in 0..<48 {
                readings.append(PlanReading(pseudonym: pseudonym, group: group, slot: Timestamp(dayNumber: day, slot: slot), value: Int64(meter.importWh[slot])))
            }
        }

        // Intake: the plan's readings committed in batches of 500 homes, as reads arrive.
        let batch = 500 * 48
        let intakeStart = ContinuousClock.now
        var offset = 0
        while offset < readings.count {
            let end = min(offset + batch, readings.count)
            try await store.apply([.privacy(.addPlanReadings(plan: plan.id, readings: Array(readings[offset..<end]), at: .now()))])
            offset = end
        }
        let intake = seconds(ContinuousClock.now - intakeStart)
        // Aggregation: one run of the pipeline, after the day (nothing waits for a delay).
        let runStart = ContinuousClock.now
        let outcome = try await hub.plans.run(plan: plan, now: Timestamp(dayNumber: day + 3))
        let aggregation = seconds(ContinuousClock.now - runStart)
        let published = try await store.planAggregates(plan: plan.id, from: nil, to: nil)
        let left = try await store.planReadingCount(plan: plan.id)
        let perReading = { (seconds: Double) in seconds / Double(max(readings.count, 1)) * 1e6 }
        print(String(format: "gbsm (%@): intake %.2f s (%.0f readings/s, %.2f µs each), aggregation %.2f s (%.2f µs per reading): %d profiles published, %d suppressed, %d raw readings left",
                     store is PostgresStore ? "PostgreSQL" : "SQLite", intake, Double(readings.count) / max(intake, 1e-9), perReading(intake), aggregation,
                     perReading(aggregation), published.count, outcome.suppressed.count, left))
        let nation = 35_000_000.0 * 48
        let hours = (intake + aggregation) / Double(max(readings.count, 1)) * nation / 3600
        print(String(format: "at this rate 35 million homes' day (%.2f billion readings) takes %.1f hours of this machine (intake and aggregation, one process)",
                     nation / 1e9, hours))

        guard python != "off" else {
            print("DuckDB: not run (--python off)")
            return
        }
        try compareWithDuckDB(readings: readings, published: published, gbsmSeconds: aggregation, intakeSeconds: intake, directory: directory)
    }

    /// Writes the rows to CSV, has DuckDB load them and sum them by feeder and half hour,
    /// and checks every published profile against the sums of its feeders.
    private func compareWithDuckDB(readings: [PlanReading], published: [PlanAggregate], gbsmSeconds: Double, intakeSeconds: Double,
                                   directory: URL) throws {
        let rows = directory.appendingPathComponent("readings.csv")
        var csv = "pseudonym,grp,slot,value\n"
        csv.reserveCapacity(readings.count * 100)
        for reading in readings { csv += "\(reading.pseudonym),\(reading.group),\(reading.slot.milliseconds),\(reading.value)\n" }
        try Data(csv.utf8).write(to: rows)
        let sums = directory.appendingPathComponent("sums.csv")
        let script = """
            import sys, time, duckdb
            con = duckdb.connect()
            t0 = time.perf_counter()
            con.execute("CREATE TABLE r AS SELECT * FROM read_csv(?, header=true, columns={'pseudonym': 'VARCHAR', 'grp': 'VARCHAR', 'slot': 'BIGINT', 'value': 'BIGINT'})", [sys.argv[1]])
            t1 = time.perf_counter()
            con.execute("CREATE TABLE s AS SELECT grp, slot, COUNT(DISTINCT pseudonym) AS households, SUM(value) AS total FROM r GROUP BY grp, slot")
            t2 = time.perf_counter()
            con.execute("COPY (SELECT * FROM s ORDER BY grp, slot) TO '" + sys.argv[2].replace("'", "''") + "' (HEADER false)")
            print(duckdb.__version__, t1 - t0, t2 - t1)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", script, rows.path, sums.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("DuckDB did not run (\(python) exited \(process.terminationStatus)): pip install duckdb, or --python off")
        }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 3, let load = Double(fields[1]), let sum = Double(fields[2]) else { throw ValidationError("DuckDB printed \(text)") }
        // DuckDB's sums by feeder and half hour.
        var duck: [PlanAggregator.SlotKey: (households: Int, total: Int64)] = [:]
        for line in try String(contentsOf: sums, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: ",")
            guard parts.count == 4, let slot = Int64(parts[1]), let households = Int(parts[2]), let total = Int64(parts[3]) else {
                throw ValidationError("DuckDB wrote \(line)")
            }
            duck[PlanAggregator.SlotKey(group: String(parts[0]), slot: slot)] = (households, total)
        }
        // Nothing published would agree vacuously: a fleet too small for the plan's rules.
        guard !published.isEmpty else { throw ValidationError("no profile was published to compare: try more --homes") }
        // Each published profile (a feeder, or small feeders merged) against its feeders' sums.
        var disagreements: [String] = []
        for profile in published {
            var households = 0
            var total: Int64 = 0
            for feeder in profile.group.split(separator: "+") {
                let sum = duck[PlanAggregator.SlotKey(group: String(feeder), slot: profile.slot.milliseconds)]
                households += sum?.households ?? 0
                total += sum?.total ?? 0
            }
            if households != profile.households || total != profile.total {
                disagreements.append("\(profile.group) at \(profile.slot.iso8601): gbsm \(profile.households) homes \(profile.total) Wh, DuckDB \(households) homes \(total) Wh")
            }
        }
        print(String(format: "DuckDB %@ (same rows, same process tree): load %.2f s, sums by feeder and half hour %.3f s (%d sums); gbsm's aggregation is %.1f× DuckDB's sums, gbsm's intake %.1f× DuckDB's load",
                     String(fields[0]), load, sum, duck.count, gbsmSeconds / max(sum, 1e-9), intakeSeconds / max(load, 1e-9)))
        guard disagreements.isEmpty else {
            throw ValidationError("\(disagreements.count) of \(published.count) published profiles disagree with DuckDB: \(disagreements.prefix(3).joined(separator: "; "))")
        }
        print("the \(published.count) published profiles agree with DuckDB's sums of their feeders")
    }
}
