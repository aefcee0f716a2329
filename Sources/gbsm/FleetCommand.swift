import ArgumentParser
import Devices
import DUIS
import Foundation
import Homes
import Hub
import LoadModel
import Storage
import Synchronization

/// A progress bar on standard error, redrawn at most ten times a second.
final class ProgressBar: Sendable {
    let total: Int
    let label: String
    private let state = Mutex<(done: Int, drawn: ContinuousClock.Instant?, drawnDone: Int)>((0, nil, -1))
    let started = ContinuousClock.now
    let interactive = isatty(2) != 0

    init(total: Int, label: String) {
        self.total = max(1, total)
        self.label = label
    }

    func update(_ done: Int) {
        let draw = state.withLock { state -> Bool in
            state.done = max(state.done, done)
            let now = ContinuousClock.now
            if let drawn = state.drawn, now - drawn < .milliseconds(interactive ? 100 : 2000), done < total { return false }
            if state.drawnDone == state.done { return false }
            state.drawn = now
            state.drawnDone = state.done
            return true
        }
        if draw { render(done) }
    }

    func advance(by count: Int) {
        let done = state.withLock { state -> Int in
            state.done += count
            return state.done
        }
        update(done)
    }

    private func render(_ done: Int) {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = seconds(ContinuousClock.now - started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let text = String(format: "%@ [%@] %3.0f%% %d/%d  %.0f/s  %@ left", label, bar, fraction * 100, done, total, rate, format(remaining))
        FileHandle.standardError.write(Data(((interactive ? "\r" : "") + text + (interactive ? "" : "\n")).utf8))
    }

    func finish() {
        let pending = state.withLock { state -> Int? in
            guard state.drawnDone != state.done else { return nil }
            state.drawnDone = state.done
            return state.done
        }
        if let pending { render(pending) }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func format(_ seconds: Double) -> String {
        seconds >= 3600 ? String(format: "%.1f h", seconds / 3600) : (seconds >= 60 ? String(format: "%.1f min", seconds / 60) : String(format: "%.0f s", seconds))
    }
}

func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

func loadFleet(_ data: DataOptions) throws -> Fleet {
    let url = HubConfiguration.fleetURL(data.url)
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw ValidationError("no fleet in \(data.data): create one with `gbsm fleet create --data \(data.data) --premises N --seed S`")
    }
    return try Fleet.read(from: url)
}

struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "The emulated homes: create a fleet, look at it, export its readings, cut its power.",
        subcommands: [Create.self, Stats.self, Show.self, Export.self, CAD.self, PowerCut.self, Tamper.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a deterministic fleet (same seed, same fleet, same readings) and register it with the hub: its suppliers, DNOs and gas transporters become DCC users.")

        @OptionGroup var data: DataOptions

        @Option(help: "Number of premises.")
        var premises: Int

        @Option(help: "Seed: the same seed gives the same fleet.")
        var seed: UInt64 = 1

        @Option(help: "Number of energy suppliers sharing the market.")
        var suppliers: Int = 7

        @Option(help: "The day the fleet is created (YYYY-MM-DD, default today): meters were installed before it.")
        var created: String?

        @Option(name: .customLong("response-url"), help: "Response endpoint for the fleet's users.")
        var responseURL: String?

        @Flag(help: "Replace an existing fleet in the data folder.")
        var force = false

        func validate() throws {
            guard premises > 0, premises <= 60_000_000 else { throw ValidationError("--premises must be between 1 and 60,000,000") }
            guard (1...12).contains(suppliers) else { throw ValidationError("--suppliers must be between 1 and 12") }
        }

        func run() async throws {
            let url = HubConfiguration.fleetURL(data.url)
            if FileManager.default.fileExists(atPath: url.path) && !force {
                throw ValidationError("\(data.data) already has a fleet (\(url.path)); add --force to replace it")
            }
            let createdDay: Int32
            if let created {
                createdDay = try parseTime(created).day.number
            } else {
                createdDay = Timestamp.now().day.number
            }
            // A data folder with nothing in it yet gets the demo's PKI, users and DCC Boxed's premises.
            if !FileManager.default.fileExists(atPath: HubConfiguration(dataDirectory: data.url).databasePath) {
                let report = try await Provisioning.provision(dataDirectory: data.url, keystoreFile: nil, responseURL: responseURL)
                print("data folder prepared: \(report.keystoreSource)")
            }
            let shares = Array(FleetSpec.defaultSupplierShares.prefix(suppliers)) + Array(repeating: 0.05, count: max(0, suppliers - FleetSpec.defaultSupplierShares.count))
            let spec = FleetSpec(seed: seed, premises: premises, createdDay: createdDay, supplierShares: shares)
            let progress = ProgressBar(total: premises, label: "premises")
            let started = ContinuousClock.now
            let fleet = Fleet.build(spec) { done in progress.update(done) }
            progress.finish()
            let built = seconds(ContinuousClock.now - started)
            try fleet.write(to: url)
            let parties = try await Provisioning.registerFleet(dataDirectory: data.url, fleet: fleet, responseURL: responseURL)
            print(String(format: "fleet of %d premises built in %.2f s (%.0f premises/s), %.1f bytes per premises, written to %@",
                         fleet.count, built, Double(fleet.count) / max(built, 1e-9), Double(fleet.memoryBytes) / Double(fleet.count), url.path))
            print("users registered (keys in \(data.data)/smki/keystore.json):")
            for party in parties { print("  \(party.eui)  \(party.name) (\(party.roles.codes))") }
            print("a running `gbsm serve` on this folder picks the fleet up when it restarts")
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the fleet is made of, and its demand: median annual kWh and winter after-diversity maximum demand (ADMD) per 100 homes on a feeder.")

        @OptionGroup var data: DataOptions

        @Option(help: "Premises sampled for the demand figures (spread evenly over the fleet).")
        var sample: Int = 2000

        @Option(help: "Year simulated for the demand figures.")
        var year: Int = 2025

        func run() async throws {
            let fleet = try loadFleet(data)
            var gas = 0, solar = 0, ev = 0, heatPump = 0, storage = 0, prepay = 0, ihd = 0, ppmid = 0, hcalcs = 0, cads = 0, atRisk = 0, export = 0
            var areas = [Int](repeating: 0, count: 14)
            var regions: [CSPRegion: Int] = [:]
            for traits in fleet.traits {
                let features = traits.householdFeatures
                if features.contains(.gas) { gas += 1 }
                if features.contains(.solar) { solar += 1 }
                if features.contains(.electricVehicle) { ev += 1 }
                if features.contains(.heatPump) { heatPump += 1 }
                if features.contains(.storageHeaters) { storage += 1 }
                if features.contains(.prepayment) { prepay += 1 }
                if traits.hasIHD { ihd += 1 }
                if traits.hasPPMID { ppmid += 1 }
                if traits.hasHCALCS { hcalcs += 1 }
                if traits.exportsEnergy { export += 1 }
                cads += traits.cadCount
                if traits.atRiskFromSunset { atRisk += 1 }
                areas[Int(traits.area)] += 1
                regions[LicenceArea.all[Int(traits.area)].region, default: 0] += 1
            }
            let count = Double(fleet.count)
            func share(_ value: Int) -> String { String(format: "%.1f%%", Double(value) / count * 100) }
            print("fleet: \(fleet.count) premises, seed \(fleet.spec.seed), created \(Timestamp(dayNumber: fleet.spec.createdDay).isoDate)")
            print("memory: \(fleet.memoryBytes) bytes (\(String(format: "%.1f", Double(fleet.memoryBytes) / count)) per premises)")
            print("network: \(fleet.layout.primaryStart.count) primary substations, \(fleet.layout.secondaryStart.count) secondary substations, \(fleet.layout.feederStart.count) LV feeders, \(fleet.layout.postcodeStart.count) postcodes")
            print("gas meters \(share(gas)), solar PV \(share(solar)) (export MPAN \(share(export))), EVs \(share(ev)), heat pumps \(share(heatPump)), storage heaters \(share(storage)), prepayment \(share(prepay))")
            print("IHDs \(share(ihd)), PPMIDs \(share(ppmid)), HCALCS \(share(hcalcs)), CADs \(cads), hubs at risk from the 2G/3G sunset \(share(atRisk))")
            print("CSP regions: " + CSPRegion.allCases.map { "\($0.rawValue) \(share(regions[$0] ?? 0))" }.joined(separator: ", "))
            printTable([["area", "premises"]] + LicenceArea.all.enumerated().map { ["\($1.distributorID) \($1.name)", String(areas[$0])] })
            let step = max(1, fleet.count / max(1, sample))
            let indices = Array(stride(from: 0, to: fleet.count, by: step).prefix(sample))
            let profiles = indices.map { fleet.profile($0) }
            let first = UKCalendar.day(year: year, month: 1, day: 1)
            let statistics = PopulationStatistics.measure(profiles, model: DemandModel(), first: first, days: 365)
            print("\ndemand of \(profiles.count) sampled premises over \(year):")
            print(statistics.summary)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One premises: its address, network position, meters and household.")

        @OptionGroup var data: DataOptions

        @Argument(help: "A premises index, a device EUI, an MPAN or an MPRN.")
        var what: String

        func run() async throws {
            let fleet = try loadFleet(data)
            let index: Int?
            if let eui = EUI64(what) {
                index = fleet.device(eui)?.index
            } else if what.count == 13, what.allSatisfy(\.isNumber) {
                index = fleet.index(mpan: what)
            } else if what.count == 10, what.allSatisfy(\.isNumber) {
                index = fleet.index(mprn: what)
            } else {
                index = Int(what).flatMap { $0 >= 0 && $0 < fleet.count ? $0 : nil }
            }
            guard let index else { throw ValidationError("\(what) is not a premises of this fleet") }
            let premises = fleet.premises(index)
            let profile = fleet.profile(index)
            let model = PremisesModel(fleet: fleet, index: index)
            print("premises \(index) (inventory ID \(Fleet.premisesIDBase + Int64(index))): \(premises.address), \(premises.postcode)")
            print("licence area \(premises.area.distributorID) \(premises.area.name), CSP region \(premises.region.rawValue); primary \(premises.primary), secondary \(premises.secondaryName), LV feeder \(premises.feeder)")
            print("MPAN \(premises.importMPAN)" + (premises.exportMPAN.map { ", export MPAN \($0)" } ?? "") + (premises.mprn.map { ", MPRN \($0)" } ?? ""))
            print("supplier \(premises.supplier.eui) \(premises.supplier.name); DNO \(premises.distributor.eui) \(premises.distributor.name)"
                  + (premises.gasTransporter.map { "; gas transporter \($0.eui) \($0.name)" } ?? ""))
            print("installed \(Timestamp(dayNumber: premises.traits.installedOn).isoDate); WAN signal class \(premises.traits.signalClass)" + (premises.traits.atRiskFromSunset ? ", 2G/3G hub at risk from the sunset" : ""))
            print("tariff \(model.electricityTariff.kind.rawValue), \(model.prepayment ? "prepayment" : "credit")")
            print("household: \(profile.archetype.name), \(profile.occupants) occupant(s), baseload \(profile.baseloadW) W, heat loss \(profile.heatLossWPerK) W/K")
            for slot in premises.slots { print("  \(slot.deviceType.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(premises.eui(slot))") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the fleet's half-hourly readings: electricity rows mpan,start,import_kwh,export_kwh or gas rows mprn,start,kwh (start in ISO 8601 UTC).")

        @OptionGroup var data: DataOptions

        @Option(help: "First day (YYYY-MM-DD), inclusive.")
        var from: String

        @Option(help: "Last day (YYYY-MM-DD), inclusive.")
        var to: String

        @Option(help: "csv or jsonl.")
        var format: String = "csv"

        @Option(help: "electricity or gas.")
        var fuel: String = "electricity"

        @Option(help: "Output file (- for standard output).")
        var output: String

        @Option(help: "Export only the first N premises.")
        var premises: Int?

        func validate() throws {
            guard ["csv", "jsonl"].contains(format) else { throw ValidationError("--format is csv or jsonl") }
            guard ["electricity", "gas"].contains(fuel) else { throw ValidationError("--fuel is electricity or gas") }
        }

        func run() async throws {
            let fleet = try loadFleet(data)
            let first = try parseTime(from).day.number
            let last = try parseTime(to).day.number
            guard first <= last else { throw ValidationError("--from is after --to") }
            let count = min(fleet.count, premises ?? fleet.count)
            // Meters read as their state says (supply disabled, outages): the hub's device states.
            var states: [Int64: PremisesState] = [:]
            let location = HubConfiguration(dataDirectory: data.url).storeLocation
            if location.exists {
                for (id, bytes) in try await location.open().deviceStates() {
                    if let state = try? PremisesState.decode(bytes) { states[id] = state }
                }
            }
            let sink: FileHandle
            if output == "-" {
                sink = FileHandle.standardOutput
            } else {
                guard FileManager.default.createFile(atPath: output, contents: nil) else { throw ValidationError("cannot create \(output)") }
                guard let handle = FileHandle(forWritingAtPath: output) else { throw ValidationError("cannot write \(output)") }
                sink = handle
            }
            let writer = ExportWriter(fleet: fleet, states: states, first: first, last: last, gas: fuel == "gas", json: format == "jsonl")
            if format == "csv" { sink.write(Data((fuel == "gas" ? "mprn,start,kwh\n" : "mpan,start,import_kwh,export_kwh\n").utf8)) }
            let progress = ProgressBar(total: count, label: "premises")
            let started = ContinuousClock.now
            let rows = try await writer.write(count: count, to: sink, progress: progress)
            progress.finish()
            if output != "-" { try sink.close() }
            let elapsed = seconds(ContinuousClock.now - started)
            FileHandle.standardError.write(Data(String(format: "%d rows for %d premises over %d days in %.1f s (%.0f rows/s)\n",
                                                       rows, count, Int(last - first + 1), elapsed, Double(rows) / max(elapsed, 1e-9)).utf8))
        }
    }

    struct CAD: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cad",
            abstract: "A premises' consumer feed, as its CADs see it: electricity demand and register every 10 s, gas every 30 min (JSON lines).")

        @OptionGroup var data: DataOptions

        @Argument(help: "A premises index of the fleet.")
        var premises: Int

        @Option(help: "Start (date or date-time; default now).")
        var from: String?

        @Option(help: "Minutes of feed to print.")
        var minutes: Int = 10

        @Flag(help: "Follow in real time, one electricity message every 10 s.")
        var follow = false

        func run() async throws {
            let fleet = try loadFleet(data)
            guard premises >= 0, premises < fleet.count else { throw ValidationError("premises \(premises) is not in the fleet (0 to \(fleet.count - 1))") }
            let model = PremisesModel(fleet: fleet, index: premises)
            var state = PremisesState()
            let location = HubConfiguration(dataDirectory: data.url).storeLocation
            if location.exists, let bytes = try await location.open().deviceState(premises: model.key) {
                state = try PremisesState.decode(bytes)
            }
            let feed = CADFeed(engine: MeterEngine(), model: model, state: state)
            if follow {
                while !Task.isCancelled {
                    let now = Timestamp.now()
                    var text = feed.electricity(at: now).json + "\n"
                    if now.milliseconds % CADFeed.gasInterval < CADFeed.electricityInterval, let gas = feed.gas(at: now) { text += gas.json + "\n" }
                    FileHandle.standardOutput.write(Data(text.utf8))
                    try await Task.sleep(for: .milliseconds(CADFeed.electricityInterval - Timestamp.now().milliseconds % CADFeed.electricityInterval))
                }
                return
            }
            let start = try from.map(parseTime) ?? Timestamp.now()
            feed.messages(from: start, to: start.adding(milliseconds: Int64(minutes) * 60_000)) { print($0.json) }
        }
    }

    struct PowerCut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "powercut",
            abstract: "Cut the power to a premises, LV feeder, secondary or primary substation: hubs send their last gasp, meters record the outage and alert when it is restored.")

        @OptionGroup var data: DataOptions

        @Option(help: "A premises ID (the inventory's: fleet premises are 1000000000 + index).")
        var premises: Int64?

        @Option(help: "An LV feeder of the fleet.")
        var feeder: Int64?

        @Option(help: "A secondary substation of the fleet.")
        var secondary: Int64?

        @Option(help: "A primary substation of the fleet.")
        var primary: Int64?

        @Option(help: "How long the power stays off, minutes.")
        var minutes: Double = 10

        @Option(help: "When it starts (default now).")
        var start: String?

        func run() async throws {
            let choices = [(PowerCutScope.premises, premises), (.feeder, feeder), (.secondary, secondary), (.primary, primary)].filter { $0.1 != nil }
            guard choices.count == 1, let (scope, value) = choices.first, let value else {
                throw ValidationError("give exactly one of --premises, --feeder, --secondary or --primary")
            }
            guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
            let store = try await data.store()
            let begin = try start.map(parseTime) ?? Timestamp.now()
            let id = (try await store.powerCuts().map(\.id).max() ?? 0) + 1
            let cut = PowerCutRecord(id: id, scope: scope, value: value, start: begin, end: begin.adding(milliseconds: Int64(minutes * 60_000)), reason: "injected")
            try await store.apply([.putPowerCut(cut), .audit(AuditEvent(kind: .admin, detail: "power cut \(id) injected: \(scope.rawValue) \(value) from \(cut.start.iso8601) to \(cut.end.iso8601)"))])
            print("power cut \(id): \(scope.rawValue) \(value) off from \(cut.start.iso8601) to \(cut.end.iso8601)")
        }
    }

    struct Tamper: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a premises' electricity meter detect tampering (alert 8F3F to the supplier).")

        @OptionGroup var data: DataOptions

        @Option(help: "The premises ID.")
        var premises: Int64

        func run() async throws {
            let store = try await data.store()
            let now = Timestamp.now()
            try await store.apply([.addTamperEvent(premises: premises, at: now, reason: "injected"),
                                   .audit(AuditEvent(kind: .admin, detail: "tamper injected at premises \(premises)"))])
            print("tamper detection injected at premises \(premises)")
        }
    }
}

/// Writes export rows fast: the day's timestamps are formatted once, each row is
/// appended as bytes, premises are computed in parallel and written in order.
struct ExportWriter: Sendable {
    let fleet: Fleet
    let states: [Int64: PremisesState]
    let first: Int32
    let last: Int32
    let gas: Bool
    let json: Bool

    func write(count: Int, to sink: FileHandle, progress: ProgressBar) async throws -> Int {
        let engine = MeterEngine(capacity: 16)
        let stamps: [[[UInt8]]] = (first...last).map { day in
            (0..<48).map { Array(DayReadings.slotStart(day: day, slot: $0).iso8601.utf8) }
        }
        let block = 64
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var rows = 0
        var next = 0
        try await withThrowingTaskGroup(of: (Int, [UInt8], Int).self) { group in
            var pending: [Int: ([UInt8], Int)] = [:]
            var written = 0
            func schedule() {
                guard next < count else { return }
                let start = next
                let end = min(count, start + block)
                next = end
                group.addTask { self.render(start..<end, engine: engine, stamps: stamps) }
            }
            for _ in 0..<(workers * 2) { schedule() }
            while let (start, bytes, lines) = try await group.next() {
                pending[start] = (bytes, lines)
                while let ready = pending.removeValue(forKey: written) {
                    sink.write(Data(ready.0))
                    rows += ready.1
                    let done = min(count, written + block)
                    progress.update(done)
                    written = done
                }
                schedule()
            }
        }
        return rows
    }

    static let jsonMPAN = Array("{\"mpan\":\"".utf8)
    static let jsonMPRN = Array("{\"mprn\":\"".utf8)
    static let jsonStart = Array("\",\"start\":\"".utf8)
    static let jsonKWh = Array("\",\"kwh\":".utf8)
    static let jsonImport = Array("\",\"import_kwh\":".utf8)
    static let jsonExport = Array(",\"export_kwh\":".utf8)

    func render(_ range: Range<Int>, engine: MeterEngine, stamps: [[[UInt8]]]) -> (Int, [UInt8], Int) {
        var out = [UInt8]()
        out.reserveCapacity(range.count * stamps.count * 48 * (json ? 80 : 50))
        var lines = 0
        for index in range {
            let model = PremisesModel(fleet: fleet, index: index)
            let state = states[model.key] ?? PremisesState()
            guard let id = gas ? model.mprn : model.importMPAN else { continue }
            let identifier = Array(id.utf8)
            for (offset, day) in (first...last).enumerated() where day >= model.installDay {
                let readings = engine.readings(model, state, day: day)
                for slot in 0..<48 {
                    if json {
                        out.append(contentsOf: gas ? Self.jsonMPRN : Self.jsonMPAN)
                        out.append(contentsOf: identifier)
                        out.append(contentsOf: Self.jsonStart)
                    } else {
                        out.append(contentsOf: identifier)
                        out.append(44)
                    }
                    out.append(contentsOf: stamps[offset][slot])
                    if gas {
                        let wh = Int64(model.wh(forLitres: Int64(readings.gasLitres[slot])).rounded())
                        if json { out.append(contentsOf: Self.jsonKWh) } else { out.append(44) }
                        appendThousandths(wh, to: &out)
                    } else {
                        if json { out.append(contentsOf: Self.jsonImport) } else { out.append(44) }
                        appendThousandths(Int64(readings.importWh[slot]), to: &out)
                        if json { out.append(contentsOf: Self.jsonExport) } else { out.append(44) }
                        appendThousandths(Int64(readings.exportWh[slot]), to: &out)
                    }
                    if json { out.append(125) }
                    out.append(10)
                    lines += 1
                }
            }
        }
        return (range.lowerBound, out, lines)
    }
}

/// Appends a value in thousandths as a decimal with three places (Wh as kWh).
@inline(__always)
func appendThousandths(_ value: Int64, to out: inout [UInt8]) {
    if value < 0 { out.append(45) }
    let magnitude = value.magnitude
    let fraction = magnitude % 1000
    var whole = magnitude / 1000
    var divisor: UInt64 = 1
    while whole / divisor >= 10 { divisor *= 10 }
    while divisor > 0 {
        out.append(UInt8(48 + whole / divisor))
        whole %= divisor
        divisor /= 10
    }
    out.append(46)
    out.append(UInt8(48 + fraction / 100))
    out.append(UInt8(48 + fraction / 10 % 10))
    out.append(UInt8(48 + fraction % 10))
}
