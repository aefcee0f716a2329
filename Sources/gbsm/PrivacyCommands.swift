import ArgumentParser
import Devices
import DUIS
import Foundation
import Homes
import Hub
import Privacy
import Storage

/// The inventory of a data folder, with its fleet, for admin commands that find premises.
func openInventory(_ data: DataOptions, store: any HubStore) async throws -> Inventory {
    let inventory = Inventory()
    inventory.load(premises: try await store.premises(), devices: try await store.devices(), registrations: try await store.registrations())
    let fleetURL = HubConfiguration.fleetURL(data.url)
    if FileManager.default.fileExists(atPath: fleetURL.path) { inventory.attach(FleetRegister(try Fleet.read(from: fleetURL))) }
    return inventory
}

/// `--device EUI | --mpxn N`: the premises a privacy command is about.
struct PremisesOptions: ParsableArguments {
    @Option(help: "A device at the premises (EUI-64).")
    var device: String?

    @Option(help: "An MPAN or MPRN of the premises.")
    var mpxn: String?

    func validate() throws {
        guard (device == nil) != (mpxn == nil) else { throw ValidationError("give --device or --mpxn") }
    }

    func premises(_ inventory: Inventory) throws -> PremisesRecord {
        if let device {
            let eui = try parseEUI(device)
            guard let record = inventory.device(eui) else { throw ValidationError("device \(eui) is not in the inventory") }
            guard let id = record.premises, let premises = inventory.premises(id) else { throw ValidationError("device \(eui) is not installed at a premises") }
            return premises
        }
        guard let mpxn, let premises = inventory.premises(mpxn: mpxn) else { throw ValidationError("no premises has MPxN \(mpxn ?? "")") }
        return premises
    }
}

struct ConsentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "The consent ledger: a consumer's grants and withdrawals of access to their data, per occupancy.",
        subcommands: [Grant.self, Withdraw.self, List.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the consumer's consent for a DCC user to have their data, for a purpose, at a granularity, until an expiry.")

        @OptionGroup var data: DataOptions
        @OptionGroup var where_: PremisesOptions

        @Option(help: "The DCC user given access (EUI-64).")
        var party: String

        @Option(help: "billing, settlement, energy-services, marketing, network-planning or research.")
        var purpose: String

        @Option(help: "The finest data allowed: half-hourly, daily or monthly.")
        var granularity: String

        @Option(help: "The consent lapses on this date (YYYY-MM-DD); none: until withdrawn.")
        var until: String?

        @Option(name: .customLong("from"), help: "Readings from this date only (default: from the occupancy's move-in).")
        var dataFrom: String?

        @Option(help: "How the consumer gave it: ihd-code (with --cin), phone or written.")
        var method: String?

        @Option(help: "The Customer Identification Number the consumer read from their IHD (shown after the party's SRV 9.1).")
        var cin: String?

        func run() async throws {
            let store = try await data.store()
            let inventory = try await openInventory(data, store: store)
            let premises = try where_.premises(inventory)
            let party = try parseEUI(self.party)
            let purpose = try parsePurpose(self.purpose)
            let granularity = try parseGranularity(self.granularity)
            let method = try consentMethod(method, cin: cin)
            let now = Timestamp.now()
            let until = try self.until.map(parseTime)
            if let until, until <= now { throw ValidationError("--until \(until.isoDate) is not in the future") }
            var note = "gbsm consent grant"
            if method == .ihdCode {
                let issuedAt = try await verifyCIN(store: store, premises: premises.id, party: party, cin: cin, at: now)
                note += ", CIN of \(issuedAt.iso8601)"
            }
            let users = try await store.users()
            guard users.contains(where: { $0.eui == party }) else { throw ValidationError("\(party) is not a registered DCC user") }
            let occupancy = try await store.currentOccupancy(premises: premises.id)
            let entry = ConsentEntry(premises: premises.id, occupancy: occupancy.sequence, party: party, purpose: purpose, action: .grant,
                                     granularity: granularity, dataFrom: try dataFrom.map(parseTime), until: until, method: method, at: now,
                                     note: note)
            try await store.apply(Mutation.recordConsent(entry, via: "gbsm consent grant"))
            print("consent granted: premises \(premises.id) (\(premises.postcode)), occupancy \(occupancy.sequence), \(party) may have \(granularity.name) data for \(purpose.rawValue)"
                  + (until.map { " until \($0.isoDate)" } ?? " until withdrawn") + "; given by \(method.rawValue)"
                  + (method.verifiesConsumer ? "" : " (not verified: other users need a portal or IHD-code consent)"))
        }
    }

    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the consumer's withdrawal: of one granularity (and finer) or, without --granularity, of everything for the purpose. A supplier's daily opt-out is `--purpose billing --granularity daily`.")

        @OptionGroup var data: DataOptions
        @OptionGroup var where_: PremisesOptions

        @Option(help: "The DCC user (EUI-64).")
        var party: String

        @Option(help: "billing, settlement, energy-services, marketing, network-planning or research.")
        var purpose: String

        @Option(help: "Withdraw this granularity and finer (half-hourly, daily or monthly); none: all.")
        var granularity: String?

        @Option(help: "How the consumer withdrew it: phone or written (default phone).")
        var method: String?

        func run() async throws {
            let store = try await data.store()
            let inventory = try await openInventory(data, store: store)
            let premises = try where_.premises(inventory)
            let party = try parseEUI(self.party)
            let purpose = try parsePurpose(self.purpose)
            let granularity = try self.granularity.map(parseGranularity)
            let method = try consentMethod(method, cin: nil)
            let now = Timestamp.now()
            let occupancy = try await store.currentOccupancy(premises: premises.id)
            let entry = ConsentEntry(premises: premises.id, occupancy: occupancy.sequence, party: party, purpose: purpose, action: .withdraw,
                                     granularity: granularity, method: method, at: now, note: "gbsm consent withdraw")
            let what = granularity.map { "\($0.name) data and finer" } ?? "all data"
            try await store.apply(Mutation.recordConsent(entry, via: "gbsm consent withdraw"))
            print("consent withdrawn: premises \(premises.id), occupancy \(occupancy.sequence), \(party) no longer has \(what) for \(purpose.rawValue); requests not yet run are refused")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The consent ledger of a premises and the consents in force now.")

        @OptionGroup var data: DataOptions
        @OptionGroup var where_: PremisesOptions

        func run() async throws {
            let store = try await data.store()
            let inventory = try await openInventory(data, store: store)
            let premises = try where_.premises(inventory)
            let occupancies = try await store.occupancies(premises: premises.id)
            let entries = try await store.consents(premises: premises.id)
            print("premises \(premises.id), \(premises.addressIdentifier), \(premises.postcode)")
            for occupancy in occupancies {
                print("occupancy \(occupancy.sequence): from \(occupancy.sequence == 0 ? "installation" : occupancy.start.iso8601)"
                      + (occupancy.end.map { " to \($0.iso8601)" } ?? " (current)") + ", \(occupancy.cause)")
            }
            var rows = [["AT", "OCC", "ACTION", "PARTY", "PURPOSE", "GRANULARITY", "UNTIL", "METHOD"]]
            for entry in entries {
                rows.append([entry.at.iso8601, String(entry.occupancy), entry.action.rawValue, entry.party.description, entry.purpose.rawValue,
                             entry.granularity?.name ?? "all", entry.until?.isoDate ?? "-", entry.method.rawValue])
            }
            print("")
            printTable(rows)
            guard let current = occupancies.last else { return }
            let ledger = ConsentLedger(occupancy: current, entries: entries, at: .now())
            print("\nin force for occupancy \(current.sequence):")
            if ledger.consents.isEmpty && ledger.withdrawals.isEmpty { print("  nothing: suppliers have monthly and daily reads, nobody else has anything") }
            for consent in ledger.consents {
                print("  \(consent.party): \(consent.granularity.name) for \(consent.purpose.rawValue)" + (consent.until.map { " until \($0.isoDate)" } ?? "")
                      + " (\(consent.method.rawValue)\(consent.method.verifiesConsumer ? "" : ", unverified"))")
            }
            for withdrawal in ledger.withdrawals {
                print("  \(withdrawal.party): withdrawn for \(withdrawal.purpose.rawValue)" + (withdrawal.ceiling.map { ", nothing finer than \($0.name)" } ?? ", nothing at all"))
            }
        }
    }
}

func parsePurpose(_ text: String) throws -> Purpose {
    guard let purpose = Purpose(rawValue: text) else {
        throw ValidationError("--purpose is one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return purpose
}

func parseGranularity(_ text: String) throws -> Granularity {
    guard let granularity = Granularity(name: text) else { throw ValidationError("--granularity is half-hourly, daily or monthly") }
    return granularity
}

func consentMethod(_ text: String?, cin: String?) throws -> ConsentMethod {
    guard let text else { return cin == nil ? .phone : .ihdCode }
    guard let method = ConsentMethod(rawValue: text), [.ihdCode, .phone, .written].contains(method) else {
        throw ValidationError("--method is ihd-code, phone or written (portal consents are given in the portal)")
    }
    if method == .ihdCode && cin == nil { throw ValidationError("--method ihd-code needs --cin, the number the consumer read from the IHD") }
    return method
}

/// Checks the CIN against the one the party's 9.1 put on the premises' IHD.
@discardableResult
func verifyCIN(store: any HubStore, premises: Int64, party: EUI64, cin: String?, at time: Timestamp) async throws -> Timestamp {
    guard let cin else { throw ValidationError("--cin is missing") }
    guard let bytes = try await store.deviceState(premises: premises),
          let state = try? PremisesState.decode(bytes),
          let shown = state.customerIdentificationNumber, let issuedAt = state.cinIssuedAt else {
        throw ValidationError("no Customer Identification Number has been shown at this premises: send SRV 9.1 to its meter first")
    }
    guard let issuedTo = state.cinIssuedTo, issuedTo == party else {
        throw ValidationError("the CIN on the IHD was requested by \(state.cinIssuedTo?.description ?? "an unknown user"), not \(party)")
    }
    let occupancy = try await store.currentOccupancy(premises: premises)
    guard issuedAt >= occupancy.start else {
        throw ValidationError("the CIN was shown before the current household moved in: send SRV 9.1 again")
    }
    if try await store.consents(premises: premises, occupancy: occupancy.sequence).contains(where: { $0.note.contains("CIN of \(issuedAt.iso8601)") }) {
        throw ValidationError("the CIN shown on \(issuedAt.iso8601) has already been used for a consent: send SRV 9.1 again")
    }
    guard issuedAt.milliseconds(to: time) <= 30 * CalendarDay.millisecondsPerDay else {
        throw ValidationError("the CIN shown on \(issuedAt.isoDate) has expired (30 days): send SRV 9.1 again")
    }
    guard shown == cin else { throw ValidationError("CIN \(cin) does not match the number on the consumer's IHD") }
    return issuedAt
}

struct DPPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpp",
        abstract: "Data privacy plans (SLC10A): register a network operator's approved plan, read its aggregated profiles, retire it.",
        subcommands: [Register.self, List.self, Profiles.self, Retire.self, DPPCoverage.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an approved plan for a network operator (JSON: name, approvalReference, level, minimumHouseholds, dominanceLimit, smallGroups, rawRetentionDays, aggregateRetentionDays, publicationDelayHours, purposes, granularity, fuel). See docs/PRIVACY.md.")

        @OptionGroup var data: DataOptions

        @Option(help: "The network operator (ED or GT) whose plan it is.")
        var user: String

        @Option(help: "The plan (JSON).")
        var file: String

        func run() async throws {
            let store = try await data.store()
            let user = try parseEUI(self.user)
            guard let record = try await store.users().first(where: { $0.eui == user }) else { throw ValidationError("\(user) is not a registered DCC user") }
            guard record.roles.contains(.ed) || record.roles.contains(.gt) else {
                throw ValidationError("\(user) holds \(record.roles.codes): data privacy plans are for network operators (ED, GT)")
            }
            let bytes: Data
            do {
                bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            let now = Timestamp.now()
            var plan: DataPrivacyPlan
            do {
                plan = try DataPrivacyPlan.parse(bytes, user: user, at: now)
            } catch {
                throw ValidationError(error.description)
            }
            if plan.fuel == .electricity && !record.roles.contains(.ed) { throw ValidationError("an electricity plan needs the ED role") }
            if plan.fuel == .gas && !record.roles.contains(.gt) { throw ValidationError("a gas plan needs the GT role") }
            if let existing = try await store.plans(user: user).first(where: { $0.fuel == plan.fuel && $0.granularity == plan.granularity }) {
                throw ValidationError("\(user) already has plan \(existing.id) for \(plan.granularity.name) \(plan.fuel.rawValue) data: two partitions of the same households could be differenced, so retire it first (`gbsm dpp retire --plan \(existing.id)`, which deletes its aggregates)")
            }
            plan.id = try await store.nextPlanID()
            // A successor takes in no period its retired predecessors may have published.
            plan.dataFrom = try await store.plans(user: user, includeRetired: true)
                .filter { $0.fuel == plan.fuel && $0.granularity == plan.granularity }.compactMap(\.retiredAt).max()
            let token = Pseudonymiser.newKey().map { String(format: "%02x", $0) }.joined()
            try await store.apply([
                .privacy(.putPlan(plan, key: Pseudonymiser.newKey(), tokenHash: sha256Hex(token))),
                .audit(AuditEvent(at: now, kind: .dataPrivacyPlan, actor: user, code: "plan \(plan.id)",
                                  detail: "data privacy plan \(plan.id) registered (\(plan.name), approval \(plan.approvalReference)): \(plan.level.rawValue) level, at least \(plan.minimumHouseholds) households, dominance \(plan.dominanceLimit), small groups \(plan.smallGroups.rawValue), raw kept \(plan.rawRetentionDays) day(s), aggregates \(plan.aggregateRetentionDays) days, purposes \(plan.purposes.map(\.rawValue).joined(separator: ", "))")),
            ])
            print("plan \(plan.id) registered for \(user): \(plan.granularity.name) \(plan.fuel.rawValue) reads now go into \(plan.level.rawValue) aggregates of at least \(plan.minimumHouseholds) households")
            for warning in plan.warnings() { print("note: \(warning)") }
            print("API token (shown once): \(token)")
            print("  curl -H 'Authorization: Bearer \(token)' http://127.0.0.1:8079/api/v1/dpp/\(plan.id)/profiles")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The registered plans, with what each holds.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let store = try await data.store()
            var rows = [["PLAN", "USER", "NAME", "LEVEL", "MIN", "DOMINANCE", "GRANULARITY", "FUEL", "RAW", "PUBLISHED", "SUPPRESSED", "RETIRED"]]
            for plan in try await store.plans(includeRetired: true) {
                rows.append([String(plan.id), plan.user.description, plan.name, plan.level.rawValue, String(plan.minimumHouseholds),
                             String(plan.dominanceLimit), plan.granularity.name, plan.fuel.rawValue, String(try await store.planReadingCount(plan: plan.id)),
                             String(try await store.planAggregates(plan: plan.id).count), String(try await store.planSuppressions(plan: plan.id).count),
                             plan.retiredAt?.isoDate ?? "-"])
            }
            printTable(rows)
        }
    }

    struct Profiles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A plan's published aggregates: per group and period, households and total (Wh, or litres of gas). Never a household's reading.")

        @OptionGroup var data: DataOptions

        @Option(help: "The network operator; with one plan it picks it.")
        var user: String?

        @Option(help: "The plan.")
        var plan: Int64?

        @Option(name: .customLong("from"), help: "Periods from this date.")
        var from: String?

        @Option(help: "Periods before this date.")
        var to: String?

        @Option(help: "table, csv or json.")
        var format: String = "table"

        func run() async throws {
            let store = try await data.store()
            let plans = try await store.plans(user: try user.map(parseEUI))
            guard let plan = plans.first(where: { self.plan == nil || $0.id == self.plan }) else { throw ValidationError("no such active plan") }
            let aggregates = try await store.planAggregates(plan: plan.id, from: try from.map(parseTime), to: try to.map(parseTime))
            switch format {
            case "json":
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(ProfileDocument(plan: plan, aggregates: aggregates)), as: UTF8.self))
            case "csv":
                print("group,period_start,households,total,mean")
                for aggregate in aggregates {
                    print("\(aggregate.group),\(aggregate.slot.iso8601),\(aggregate.households),\(aggregate.total),\(String(format: "%.1f", aggregate.mean))")
                }
            case "table":
                var rows = [["GROUP", "PERIOD", "HOUSEHOLDS", plan.fuel == .gas ? "TOTAL L" : "TOTAL WH", "MEAN"]]
                for aggregate in aggregates {
                    rows.append([aggregate.group, aggregate.slot.iso8601, String(aggregate.households), String(aggregate.total), String(format: "%.1f", aggregate.mean)])
                }
                printTable(rows)
                let suppressed = try await store.planSuppressions(plan: plan.id)
                print("\(aggregates.count) published period(s); \(suppressed.count) suppressed by the plan's rules")
            default:
                throw ValidationError("--format is table, csv or json")
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a plan: it takes no more reads and its readings and aggregates are deleted.")

        @OptionGroup var data: DataOptions

        @Option(help: "The plan.")
        var plan: Int64

        func run() async throws {
            let store = try await data.store()
            guard let found = try await store.plans().first(where: { $0.id == plan }) else { throw ValidationError("no active plan \(plan)") }
            let now = Timestamp.now()
            try await store.apply([
                .privacy(.retirePlan(id: plan, at: now)),
                .audit(AuditEvent(at: now, kind: .dataPrivacyPlan, actor: found.user, code: "plan \(plan)", detail: "data privacy plan \(plan) retired; its readings and aggregates deleted")),
            ])
            print("plan \(plan) retired; its readings and aggregates are deleted")
        }
    }
}

struct PrivacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "What a household's data reveals, and the consumer portal's sign-in codes.",
        subcommands: [RevealCommand.self, PortalCode.self])

    struct RevealCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reveal",
            abstract: "Run the inferences (wake time, daytime occupancy, cooking, EV charging, holidays, solar panels) on one home's data at half-hourly, daily and monthly granularity, and on the plan aggregates it is part of.")

        @OptionGroup var data: DataOptions
        @OptionGroup var where_: PremisesOptions

        @Option(help: "Days of data to look at.")
        var days: Int32 = 56

        func run() async throws {
            guard days >= 7 && days <= 397 else { throw ValidationError("--days is 7 to 397") }
            let store = try await data.store()
            let inventory = try await openInventory(data, store: store)
            let premises = try where_.premises(inventory)
            let configuration = HubConfiguration(dataDirectory: data.url)
            let (hub, homes) = try await EmulatedHomes.open(configuration, homes: HomesSettings(events: .quiet))
            let found: RevealReport?
            do {
                found = try await homes.reveal(premises: premises.id, days: days, plans: hub.plans)
            } catch {
                await hub.shutdown()
                throw error
            }
            await hub.shutdown()
            guard let report = found else {
                throw ValidationError("premises \(premises.id) has no emulated meters")
            }
            print("premises \(premises.id), \(premises.postcode): \(report.days) whole days of the current occupancy's data")
            var rows = [["INFERENCE", "GRANULARITY", "GIVES AWAY", "FINDING"]]
            for inference in report.inferences {
                rows.append([inference.name, inference.granularity, inference.revealed ? "yes" : "no", inference.finding])
            }
            printTable(rows)
            print("the household model really has: " + report.truth.joined(separator: ", "))
        }
    }

    struct PortalCode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "portal-code",
            abstract: "Issue the consumer portal's sign-in code for a premises (what its IHD shows) and a one-use magic link valid for 24 hours. A new code replaces the old; a change of tenancy revokes it.")

        @OptionGroup var data: DataOptions
        @OptionGroup var where_: PremisesOptions

        @Option(name: .customLong("base-url"), help: "The hub's address, for the link.")
        var baseURL: String = "http://127.0.0.1:8079"

        func run() async throws {
            let store = try await data.store()
            let inventory = try await openInventory(data, store: store)
            let premises = try where_.premises(inventory)
            let occupancy = try await store.currentOccupancy(premises: premises.id)
            let issued = PortalSecrets.issue()
            let now = Timestamp.now()
            try await store.apply(Mutation.issuePortalAccess(premises: premises.id, occupancy: occupancy.sequence, code: issued.code, token: issued.token,
                                                             at: now, by: "gbsm privacy portal-code"))
            print("premises \(premises.id), \(premises.addressIdentifier), \(premises.postcode) (occupancy \(occupancy.sequence))")
            print("IHD code: \(issued.code)   (sign in at \(baseURL)/portal with an MPAN or MPRN of the premises and this code)")
            print("magic link (one use, 24 hours): \(baseURL)/portal/link/\(issued.token)")
        }
    }
}
