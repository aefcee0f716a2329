import DUIS
import Foundation
import GRDB
import Privacy

/// Changes to the privacy tables, applied in the same transaction as any other mutation.
public enum PrivacyMutation: Sendable {
    /// Ends the premises' current occupancy at `occupancy.start` and begins this one.
    case startOccupancy(Occupancy)
    case addConsent(ConsentEntry)
    /// A newly approved plan, its pseudonymisation key and the SHA-256 of its API token.
    case putPlan(DataPrivacyPlan, key: [UInt8], tokenHash: String)
    /// Retires a plan and deletes everything it holds (readings and aggregates).
    case retirePlan(id: Int64, at: Timestamp)
    case addPlanReadings(plan: Int64, readings: [PlanReading], at: Timestamp)
    /// One aggregation run's results: published and suppressed periods, the raw readings
    /// to delete, and the decided readings to keep (for the plan's raw retention) out of
    /// the undecided ones. Each period's count of undecided readings goes down with them.
    case planDecided(plan: Int64, published: [PlanAggregate], suppressed: [PlanSuppression], deleteReadings: [PlanReading],
                     keepReadings: [PlanReading])
    /// Deletes raw readings (undecided and kept) of periods before `readingsBefore`, and
    /// aggregates and suppressions of periods before `aggregatesBefore`.
    case expirePlanData(plan: Int64, readingsBefore: Timestamp?, aggregatesBefore: Timestamp?)
    /// Deletes undecided readings received before `receivedBefore`, with their counts: a
    /// safety net for readings no run will decide (every period is decided soon after its
    /// publication delay, so none should be left that long).
    case expireUndecidedReadings(plan: Int64, receivedBefore: Timestamp)
    /// The sets of households a user's plans may release for a day (or were refused),
    /// fixed at the first decision: one set per group and day across granularities.
    case reserveReleaseSets([ReleaseReservation])
    case recordAccess(DataAccess)
    case putPortalSecret(premises: Int64, occupancy: Int, secretHash: String, at: Timestamp)
    case putPortalLink(tokenHash: String, premises: Int64, occupancy: Int, expires: Timestamp)
    case usePortalLink(tokenHash: String, at: Timestamp)
    /// Uses a one-use link, atomically: one UPDATE that marks it used only if it is unused,
    /// unexpired at `at`, for this premises and occupancy, and that occupancy is still the
    /// premises' current one. If it changes no row, the transaction fails with
    /// `PortalLinkUnavailable` and none of its other mutations is written, so of many
    /// concurrent uses exactly one commits.
    case consumePortalLink(tokenHash: String, premises: Int64, occupancy: Int, at: Timestamp)
}

/// The households a user's plans release as one group for one day, or the reason they may
/// not: `ReleaseAudit` decides it once, at the group's first publication of the day, and
/// every plan of the user then publishes that group on that day with these households or
/// not at all.
public struct ReleaseReservation: Sendable, Hashable {
    public var user: EUI64
    public var fuel: PlanFuel
    public var day: CalendarDay
    public var group: String
    public var members: [Int64]
    /// Why the group may not be released that day, or nil when it may.
    public var refusal: String?

    public init(user: EUI64, fuel: PlanFuel, day: CalendarDay, group: String, members: [Int64], refusal: String?) {
        self.user = user
        self.fuel = fuel
        self.day = day
        self.group = group
        self.members = members
        self.refusal = refusal
    }
}

/// A one-use portal link that was already used, has expired, or belongs to an occupancy
/// that has ended: `consumePortalLink` changed nothing.
public struct PortalLinkUnavailable: Error, Equatable, CustomStringConvertible {
    public var description: String { "the sign-in link has been used or has expired" }
}

/// A magic sign-in link for the consumer portal.
public struct PortalLink: Sendable, Hashable {
    public var premises: Int64
    public var occupancy: Int
    public var expires: Timestamp
    public var usedAt: Timestamp?
}

extension SQLiteStore {
    static func registerPrivacyMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-privacy") { db in
            try db.execute(sql: """
            CREATE TABLE occupancies (premises INTEGER NOT NULL, seq INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER,
                                      cause TEXT NOT NULL, PRIMARY KEY (premises, seq));
            CREATE TABLE consents (id INTEGER PRIMARY KEY AUTOINCREMENT, premises INTEGER NOT NULL, occupancy INTEGER NOT NULL,
                                   party INTEGER NOT NULL, purpose TEXT NOT NULL, action TEXT NOT NULL, granularity INTEGER,
                                   data_from INTEGER, until INTEGER, method TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL);
            CREATE INDEX consents_premises ON consents(premises, occupancy, at);
            CREATE TABLE dpp_plans (id INTEGER PRIMARY KEY, user INTEGER NOT NULL, plan TEXT NOT NULL, key BLOB NOT NULL,
                                    token_hash TEXT NOT NULL, registered_at INTEGER NOT NULL, retired_at INTEGER);
            CREATE TABLE dpp_readings (plan INTEGER NOT NULL, pseudonym TEXT NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL,
                                       value INTEGER NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (plan, pseudonym, slot));
            CREATE TABLE dpp_aggregates (plan INTEGER NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL, households INTEGER NOT NULL,
                                         total INTEGER NOT NULL, published_at INTEGER NOT NULL, PRIMARY KEY (plan, grp, slot));
            CREATE TABLE dpp_suppressed (plan INTEGER NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL, reason TEXT NOT NULL,
                                         decided_at INTEGER NOT NULL, PRIMARY KEY (plan, grp, slot));
            CREATE TABLE data_access (id INTEGER PRIMARY KEY AUTOINCREMENT, premises INTEGER NOT NULL, occupancy INTEGER NOT NULL,
                                      at INTEGER NOT NULL, party INTEGER NOT NULL, role TEXT NOT NULL, srv TEXT NOT NULL,
                                      granularity INTEGER NOT NULL, outcome TEXT NOT NULL, rule TEXT NOT NULL, detail TEXT NOT NULL,
                                      request_id TEXT);
            CREATE INDEX data_access_premises ON data_access(premises, occupancy, at);
            CREATE TABLE portal_secrets (premises INTEGER NOT NULL, occupancy INTEGER NOT NULL, secret_hash TEXT NOT NULL,
                                         created_at INTEGER NOT NULL, PRIMARY KEY (premises, occupancy));
            CREATE TABLE portal_links (token_hash TEXT PRIMARY KEY, premises INTEGER NOT NULL, occupancy INTEGER NOT NULL,
                                       expires_at INTEGER NOT NULL, used_at INTEGER);
            """)
        }
    }

    /// The plans' incremental aggregation (SQLite's v15): raw readings keyed by period first,
    /// so a run reads the periods it decides; a count of undecided readings per network
    /// group and period; decided readings kept for a plan's raw retention apart from the
    /// undecided ones. Readings already held are all undecided (a run discards any of a
    /// period decided before, as it did).
    static func registerIncrementalAggregationMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15-plan-open-slots") { db in
            try db.execute(sql: """
            CREATE TABLE dpp_readings_v15 (plan INTEGER NOT NULL, pseudonym TEXT NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL,
                                           value INTEGER NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (plan, slot, pseudonym)) WITHOUT ROWID;
            INSERT INTO dpp_readings_v15 SELECT plan, pseudonym, grp, slot, value, received_at FROM dpp_readings;
            DROP TABLE dpp_readings;
            ALTER TABLE dpp_readings_v15 RENAME TO dpp_readings;
            CREATE TABLE dpp_kept_readings (plan INTEGER NOT NULL, pseudonym TEXT NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL,
                                            value INTEGER NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (plan, slot, pseudonym)) WITHOUT ROWID;
            CREATE TABLE dpp_open_slots (plan INTEGER NOT NULL, grp TEXT NOT NULL, slot INTEGER NOT NULL, readings INTEGER NOT NULL,
                                         PRIMARY KEY (plan, grp, slot)) WITHOUT ROWID;
            INSERT INTO dpp_open_slots SELECT plan, grp, slot, COUNT(*) FROM dpp_readings GROUP BY plan, grp, slot;
            CREATE INDEX dpp_aggregates_slot ON dpp_aggregates(plan, slot);
            CREATE INDEX dpp_suppressed_slot ON dpp_suppressed(plan, slot);
            """)
        }
    }

    /// Adds to (or, negative, takes from) each period's count of undecided readings, and
    /// forgets the periods left with none.
    private static func countOpenReadings(plan: Int64, _ changes: [PlanAggregator.SlotKey: Int], _ db: Database) throws {
        guard !changes.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO dpp_open_slots (plan, grp, slot, readings) VALUES (?, ?, ?, ?)
            ON CONFLICT (plan, grp, slot) DO UPDATE SET readings = readings + excluded.readings
            """)
        let forget = try db.cachedStatement(sql: "DELETE FROM dpp_open_slots WHERE plan = ? AND grp = ? AND slot = ? AND readings <= 0")
        for (key, change) in changes where change != 0 {
            try upsert.execute(arguments: [plan, key.group, key.slot, change])
            if change < 0 { try forget.execute(arguments: [plan, key.group, key.slot]) }
        }
    }

    static func apply(_ mutation: PrivacyMutation, _ db: Database) throws {
        switch mutation {
        case .startOccupancy(let occupancy):
            try db.execute(sql: "UPDATE occupancies SET end_ms = ? WHERE premises = ? AND end_ms IS NULL",
                           arguments: [occupancy.start.milliseconds, occupancy.premises])
            if occupancy.sequence == 1,
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM occupancies WHERE premises = ?", arguments: [occupancy.premises]) == 0 {
                // The installation's occupancy becomes explicit when the first change of tenancy ends it.
                try db.execute(sql: "INSERT INTO occupancies (premises, seq, start_ms, end_ms, cause) VALUES (?, 0, 0, ?, 'installation')",
                               arguments: [occupancy.premises, occupancy.start.milliseconds])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO occupancies (premises, seq, start_ms, end_ms, cause) VALUES (?, ?, ?, ?, ?)",
                           arguments: [occupancy.premises, occupancy.sequence, occupancy.start.milliseconds, occupancy.end?.milliseconds, occupancy.cause])
        case .addConsent(let entry):
            try db.execute(sql: """
                INSERT INTO consents (premises, occupancy, party, purpose, action, granularity, data_from, until, method, at, note)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.premises, entry.occupancy, sqlValue(entry.party), entry.purpose.rawValue, entry.action.rawValue,
                                 entry.granularity?.rawValue, entry.dataFrom?.milliseconds, entry.until?.milliseconds, entry.method.rawValue,
                                 entry.at.milliseconds, entry.note])
        case .putPlan(let plan, let key, let tokenHash):
            let json = String(decoding: try JSONEncoder().encode(plan), as: UTF8.self)
            try db.execute(sql: "INSERT OR REPLACE INTO dpp_plans (id, user, plan, key, token_hash, registered_at, retired_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [plan.id, sqlValue(plan.user), json, Data(key), tokenHash, plan.registeredAt.milliseconds, plan.retiredAt?.milliseconds])
        case .retirePlan(let id, let at):
            if let text = try String.fetchOne(db, sql: "SELECT plan FROM dpp_plans WHERE id = ?", arguments: [id]) {
                var plan = try JSONDecoder().decode(DataPrivacyPlan.self, from: Data(text.utf8))
                plan.retiredAt = at
                try db.execute(sql: "UPDATE dpp_plans SET plan = ?, retired_at = ? WHERE id = ?",
                               arguments: [String(decoding: try JSONEncoder().encode(plan), as: UTF8.self), at.milliseconds, id])
            }
            for table in ["dpp_readings", "dpp_kept_readings", "dpp_open_slots", "dpp_aggregates", "dpp_suppressed"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE plan = ?", arguments: [id])
            }
        case .addPlanReadings(let plan, let readings, let at):
            // A later reading of a household's period replaces the value (the group stays the
            // one it arrived with); only a new one counts in its period's open readings.
            let insert = try db.cachedStatement(sql: """
                INSERT INTO dpp_readings (plan, pseudonym, grp, slot, value, received_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (plan, slot, pseudonym) DO NOTHING
                """)
            let replace = try db.cachedStatement(sql: "UPDATE dpp_readings SET value = ?, received_at = ? WHERE plan = ? AND slot = ? AND pseudonym = ?")
            var added: [PlanAggregator.SlotKey: Int] = [:]
            for reading in readings {
                try insert.execute(arguments: [plan, reading.pseudonym, reading.group, reading.slot.milliseconds, reading.value, at.milliseconds])
                if db.changesCount > 0 {
                    added[PlanAggregator.SlotKey(group: reading.group, slot: reading.slot.milliseconds), default: 0] += 1
                } else {
                    try replace.execute(arguments: [reading.value, at.milliseconds, plan, reading.slot.milliseconds, reading.pseudonym])
                }
            }
            try countOpenReadings(plan: plan, added, db)
        case .planDecided(let plan, let published, let suppressed, let deleteReadings, let keepReadings):
            let publish = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO dpp_aggregates (plan, grp, slot, households, total, published_at) VALUES (?, ?, ?, ?, ?, ?)
                """)
            for aggregate in published {
                try publish.execute(arguments: [plan, aggregate.group, aggregate.slot.milliseconds, aggregate.households, aggregate.total,
                                                aggregate.publishedAt.milliseconds])
            }
            let suppress = try db.cachedStatement(sql: "INSERT OR IGNORE INTO dpp_suppressed (plan, grp, slot, reason, decided_at) VALUES (?, ?, ?, ?, ?)")
            for suppression in suppressed {
                try suppress.execute(arguments: [plan, suppression.group, suppression.slot.milliseconds, suppression.reason, suppression.decidedAt.milliseconds])
            }
            let keep = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO dpp_kept_readings (plan, pseudonym, grp, slot, value, received_at)
                SELECT plan, pseudonym, grp, slot, value, received_at FROM dpp_readings WHERE plan = ? AND slot = ? AND pseudonym = ?
                """)
            let delete = try db.cachedStatement(sql: "DELETE FROM dpp_readings WHERE plan = ? AND slot = ? AND pseudonym = ? RETURNING grp")
            var removed: [PlanAggregator.SlotKey: Int] = [:]
            for (reading, kept) in deleteReadings.lazy.map({ ($0, false) }) + keepReadings.lazy.map({ ($0, true) }) {
                let key: [any DatabaseValueConvertible] = [plan, reading.slot.milliseconds, reading.pseudonym]
                if kept { try keep.execute(arguments: StatementArguments(key)) }
                if let group = try String.fetchOne(delete, arguments: StatementArguments(key)) {
                    removed[PlanAggregator.SlotKey(group: group, slot: reading.slot.milliseconds), default: 0] -= 1
                }
            }
            try countOpenReadings(plan: plan, removed, db)
        case .expirePlanData(let plan, let readingsBefore, let aggregatesBefore):
            if let readingsBefore {
                for table in ["dpp_readings", "dpp_kept_readings", "dpp_open_slots"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE plan = ? AND slot < ?", arguments: [plan, readingsBefore.milliseconds])
                }
            }
            if let aggregatesBefore {
                try db.execute(sql: "DELETE FROM dpp_aggregates WHERE plan = ? AND slot < ?", arguments: [plan, aggregatesBefore.milliseconds])
                try db.execute(sql: "DELETE FROM dpp_suppressed WHERE plan = ? AND slot < ?", arguments: [plan, aggregatesBefore.milliseconds])
            }
        case .expireUndecidedReadings(let plan, let receivedBefore):
            var removed: [PlanAggregator.SlotKey: Int] = [:]
            for row in try Row.fetchAll(db, sql: "DELETE FROM dpp_readings WHERE plan = ? AND received_at < ? RETURNING grp, slot",
                                        arguments: [plan, receivedBefore.milliseconds]) {
                removed[PlanAggregator.SlotKey(group: row["grp"], slot: row["slot"]), default: 0] -= 1
            }
            try countOpenReadings(plan: plan, removed, db)
        case .reserveReleaseSets(let reservations):
            // A plain INSERT: a run that decided against a stale ledger (another run reserved
            // the same group and day meanwhile) fails whole, and the next run decides again.
            let statement = try db.cachedStatement(sql: """
                INSERT INTO dpp_release_sets (user, fuel, day, grp, members, refusal) VALUES (?, ?, ?, ?, ?, ?)
                """)
            let member = try db.cachedStatement(sql: """
                INSERT INTO dpp_release_members (user, fuel, premises, last_day) VALUES (?, ?, ?, ?)
                ON CONFLICT (user, fuel, premises) DO UPDATE SET last_day = MAX(last_day, excluded.last_day)
                """)
            for reservation in reservations {
                var packed = Data(capacity: reservation.members.count * 8)
                for member in reservation.members.sorted() { withUnsafeBytes(of: member.littleEndian) { packed.append(contentsOf: $0) } }
                try statement.execute(arguments: [sqlValue(reservation.user), reservation.fuel.rawValue, Int64(reservation.day.number), reservation.group,
                                                  packed, reservation.refusal])
                guard reservation.refusal == nil else { continue }
                for premises in reservation.members {
                    try member.execute(arguments: [sqlValue(reservation.user), reservation.fuel.rawValue, premises, Int64(reservation.day.number)])
                }
            }
        case .recordAccess(let access):
            try db.cachedStatement(sql: """
                INSERT INTO data_access (premises, occupancy, at, party, role, srv, granularity, outcome, rule, detail, request_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [access.premises, access.occupancy, access.at.milliseconds, sqlValue(access.party), access.role, access.srv,
                                         access.granularity.rawValue, access.outcome.rawValue, access.rule, access.detail, access.requestID])
        case .putPortalSecret(let premises, let occupancy, let secretHash, let at):
            try db.execute(sql: "INSERT OR REPLACE INTO portal_secrets (premises, occupancy, secret_hash, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [premises, occupancy, secretHash, at.milliseconds])
        case .putPortalLink(let tokenHash, let premises, let occupancy, let expires):
            try db.execute(sql: "INSERT OR REPLACE INTO portal_links (token_hash, premises, occupancy, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [tokenHash, premises, occupancy, expires.milliseconds])
        case .usePortalLink(let tokenHash, let at):
            try db.execute(sql: "UPDATE portal_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL", arguments: [at.milliseconds, tokenHash])
        case .consumePortalLink(let tokenHash, let premises, let occupancy, let at):
            // The current occupancy is the premises' highest, or the installation's (0) if none is recorded.
            try db.execute(sql: """
                UPDATE portal_links SET used_at = ?
                WHERE token_hash = ? AND premises = ? AND occupancy = ? AND used_at IS NULL AND expires_at > ?
                  AND occupancy = (SELECT COALESCE(MAX(seq), 0) FROM occupancies WHERE occupancies.premises = portal_links.premises)
                """, arguments: [at.milliseconds, tokenHash, premises, occupancy, at.milliseconds])
            guard db.changesCount == 1 else { throw PortalLinkUnavailable() }
        }
    }

    // MARK: - Reading

    /// The premises' occupancies, oldest first (none recorded: only the installation's).
    public func occupancies(premises: Int64) async throws -> [Occupancy] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM occupancies WHERE premises = ? ORDER BY seq", arguments: [premises])
            if rows.isEmpty { return [Occupancy.initial(premises: premises)] }
            return rows.map { row in
                Occupancy(premises: premises, sequence: row["seq"], start: Timestamp(milliseconds: row["start_ms"]),
                          end: (row["end_ms"] as Int64?).map(Timestamp.init(milliseconds:)), cause: row["cause"])
            }
        }
    }

    /// The occupancy in the premises now.
    public func currentOccupancy(premises: Int64) async throws -> Occupancy {
        try await occupancies(premises: premises).last ?? Occupancy.initial(premises: premises)
    }

    /// The latest occupancy of each premises that had a change of tenancy.
    public func currentOccupancies(premises ids: [Int64]) async throws -> [Int64: Int] {
        try await pool.read { db in
            var result: [Int64: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT premises, MAX(seq) AS seq FROM occupancies GROUP BY premises") {
                result[row["premises"]] = row["seq"]
            }
            return ids.isEmpty ? result : result.filter { Set(ids).contains($0.key) }
        }
    }

    public func consents(premises: Int64, occupancy: Int?) async throws -> [ConsentEntry] {
        try await pool.read { db in
            let sql = "SELECT * FROM consents WHERE premises = ?" + (occupancy == nil ? "" : " AND occupancy = ?") + " ORDER BY at, id"
            let arguments: StatementArguments = occupancy.map { [premises, $0] } ?? [premises]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(Self.consent)
        }
    }

    /// Every consent entry given to a party (for `consent list --party`).
    public func consents(party: EUI64) async throws -> [ConsentEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM consents WHERE party = ? ORDER BY at, id", arguments: [sqlValue(party)]).compactMap(Self.consent)
        }
    }

    static func consent(_ row: Row) -> ConsentEntry? {
        guard let purpose = Purpose(rawValue: row["purpose"]), let action = ConsentEntry.Action(rawValue: row["action"]),
              let method = ConsentMethod(rawValue: row["method"]) else { return nil }
        return ConsentEntry(id: row["id"], premises: row["premises"], occupancy: row["occupancy"], party: eui(row["party"]), purpose: purpose,
                            action: action, granularity: (row["granularity"] as Int?).flatMap(Granularity.init(rawValue:)),
                            dataFrom: (row["data_from"] as Int64?).map(Timestamp.init(milliseconds:)),
                            until: (row["until"] as Int64?).map(Timestamp.init(milliseconds:)), method: method,
                            at: Timestamp(milliseconds: row["at"]), note: row["note"])
    }

    /// Approved plans (a user's, or all), with retired ones if asked.
    public func plans(user: EUI64?, includeRetired: Bool) async throws -> [DataPrivacyPlan] {
        try await pool.read { db in
            var sql = "SELECT plan FROM dpp_plans WHERE 1 = 1"
            var arguments: StatementArguments = []
            if let user {
                sql += " AND user = ?"
                arguments += [sqlValue(user)]
            }
            if !includeRetired { sql += " AND retired_at IS NULL" }
            return try String.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments).compactMap { text in
                try? JSONDecoder().decode(DataPrivacyPlan.self, from: Data(text.utf8))
            }
        }
    }

    public func planSecrets(id: Int64) async throws -> (key: [UInt8], tokenHash: String)? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT key, token_hash FROM dpp_plans WHERE id = ?", arguments: [id]).map { row in
                ([UInt8](row["key"] as Data), row["token_hash"] as String)
            }
        }
    }

    public func nextPlanID() async throws -> Int64 {
        try await pool.read { db in (try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM dpp_plans") ?? 0) + 1 }
    }

    public func planOpenSlots(plan: Int64) async throws -> [PlanAggregator.SlotKey: Int] {
        try await pool.read { db in
            var result: [PlanAggregator.SlotKey: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT grp, slot, readings FROM dpp_open_slots WHERE plan = ?", arguments: [plan]) {
                result[PlanAggregator.SlotKey(group: row["grp"], slot: row["slot"])] = row["readings"]
            }
            return result
        }
    }

    public func planReadings(plan: Int64, slots: [PlanAggregator.SlotKey]) async throws -> [PlanReading] {
        try await pool.read { db in
            // By period (the key's order), then the period's readings of the groups asked for.
            var groupsBySlot: [Int64: Set<String>] = [:]
            for key in slots { groupsBySlot[key.slot, default: []].insert(key.group) }
            let statement = try db.cachedStatement(sql: "SELECT pseudonym, grp, value FROM dpp_readings WHERE plan = ? AND slot = ?")
            var result: [PlanReading] = []
            for slot in groupsBySlot.keys.sorted() {
                let groups = groupsBySlot[slot] ?? []
                for row in try Row.fetchAll(statement, arguments: [plan, slot]) where groups.contains(row["grp"]) {
                    result.append(PlanReading(pseudonym: row["pseudonym"], group: row["grp"], slot: Timestamp(milliseconds: slot), value: row["value"]))
                }
            }
            return result
        }
    }

    public func planReadingCount(plan: Int64) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM dpp_readings WHERE plan = ?) + (SELECT COUNT(*) FROM dpp_kept_readings WHERE plan = ?)",
                             arguments: [plan, plan]) ?? 0
        }
    }

    public func decidedSlots(plan: Int64, slots: Set<Int64>) async throws -> Set<PlanAggregator.SlotKey> {
        try await pool.read { db in
            var result = Set<PlanAggregator.SlotKey>()
            for table in ["dpp_aggregates", "dpp_suppressed"] {
                // The primary key (plan, grp, slot) serves a slot's lookup only by group:
                // read the plan's decided periods at these slots through the slot index.
                let statement = try db.cachedStatement(sql: "SELECT grp FROM \(table) WHERE plan = ? AND slot = ?")
                for slot in slots {
                    for group in try String.fetchAll(statement, arguments: [plan, slot]) {
                        result.insert(PlanAggregator.SlotKey(group: group, slot: slot))
                    }
                }
            }
            return result
        }
    }

    /// The premises whose households ever granted `party` daily or finer data: it may hold
    /// their own readings, which a plan's aggregate must not be differenced against.
    public func consentedPremises(party: EUI64) async throws -> Set<Int64> {
        try await pool.read { db in
            Set(try Int64.fetchAll(db, sql: """
                SELECT DISTINCT premises FROM consents WHERE party = ? AND action = 'grant' AND (granularity IS NULL OR granularity >= ?)
                """, arguments: [sqlValue(party), Granularity.daily.rawValue]))
        }
    }

    /// The last day a household was part of a group released to `user` under its plans.
    public func lastReleasedDay(user: EUI64, fuel: PlanFuel, premises: Int64) async throws -> CalendarDay? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT last_day FROM dpp_release_members WHERE user = ? AND fuel = ? AND premises = ?",
                               arguments: [sqlValue(user), fuel.rawValue, premises]).flatMap { CalendarDay(number: $0) }
        }
    }

    /// Every change of tenancy's start, by premises (the table holds only premises that had one).
    public func occupancyStarts() async throws -> [Int64: [Timestamp]] {
        try await pool.read { db in
            var result: [Int64: [Timestamp]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT premises, start_ms FROM occupancies WHERE seq > 0") {
                result[row["premises"], default: []].append(Timestamp(milliseconds: row["start_ms"]))
            }
            return result
        }
    }

    /// The release sets of a user's plans for the given days.
    public func releaseReservations(user: EUI64, fuel: PlanFuel, days: [CalendarDay]) async throws -> [ReleaseReservation] {
        try await pool.read { db in
            var result: [ReleaseReservation] = []
            for day in Set(days) {
                for row in try Row.fetchAll(db, sql: "SELECT grp, members, refusal FROM dpp_release_sets WHERE user = ? AND fuel = ? AND day = ?",
                                            arguments: [sqlValue(user), fuel.rawValue, Int64(day.number)]) {
                    let packed = row["members"] as Data
                    var members: [Int64] = []
                    members.reserveCapacity(packed.count / 8)
                    var offset = packed.startIndex
                    while offset + 8 <= packed.endIndex {
                        var value: Int64 = 0
                        for byte in packed[offset..<offset + 8].reversed() { value = value << 8 | Int64(byte) }
                        members.append(value)
                        offset += 8
                    }
                    result.append(ReleaseReservation(user: user, fuel: fuel, day: day, group: row["grp"], members: members, refusal: row["refusal"]))
                }
            }
            return result
        }
    }

    public func planAggregates(plan: Int64, from: Timestamp?, to: Timestamp?) async throws -> [PlanAggregate] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dpp_aggregates WHERE plan = ? AND slot >= ? AND slot < ? ORDER BY grp, slot",
                             arguments: [plan, from?.milliseconds ?? Int64.min, to?.milliseconds ?? Int64.max]).map { row in
                PlanAggregate(plan: plan, group: row["grp"], slot: Timestamp(milliseconds: row["slot"]), households: row["households"],
                              total: row["total"], publishedAt: Timestamp(milliseconds: row["published_at"]))
            }
        }
    }

    public func planSuppressions(plan: Int64) async throws -> [PlanSuppression] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dpp_suppressed WHERE plan = ? ORDER BY grp, slot", arguments: [plan]).map { row in
                PlanSuppression(plan: plan, group: row["grp"], slot: Timestamp(milliseconds: row["slot"]), reason: row["reason"],
                                decidedAt: Timestamp(milliseconds: row["decided_at"]))
            }
        }
    }

    public func dataAccess(premises: Int64, occupancy: Int?, limit: Int) async throws -> [DataAccess] {
        try await pool.read { db in
            let sql = "SELECT * FROM data_access WHERE premises = ?" + (occupancy == nil ? "" : " AND occupancy = ?") + " ORDER BY at DESC, id DESC LIMIT ?"
            let arguments: StatementArguments = occupancy.map { [premises, $0, limit] } ?? [premises, limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
                guard let granularity = Granularity(rawValue: row["granularity"]), let outcome = DataAccess.Outcome(rawValue: row["outcome"]) else { return nil }
                return DataAccess(id: row["id"], premises: row["premises"], occupancy: row["occupancy"], at: Timestamp(milliseconds: row["at"]),
                                  party: eui(row["party"]), role: row["role"], srv: row["srv"], granularity: granularity, outcome: outcome,
                                  rule: row["rule"], detail: row["detail"], requestID: row["request_id"])
            }
        }
    }

    /// When `party` last had this premises' registers (a released or audit-only read of one
    /// of `srvs`), whatever the occupancy: keyed by the meter, so that a read that succeeds
    /// again early does not tell the party a change of tenancy happened.
    public func lastRegisterRead(premises: Int64, party: EUI64, srvs: Set<String>) async throws -> Timestamp? {
        try await pool.read { db in
            let marks = Array(repeating: "?", count: srvs.count).joined(separator: ", ")
            var arguments: StatementArguments = [premises, sqlValue(party)]
            for srv in srvs.sorted() { _ = arguments.append(contentsOf: [srv]) }
            return try Int64.fetchOne(db, sql: """
                SELECT MAX(at) FROM data_access WHERE premises = ? AND party = ? AND srv IN (\(marks))
                AND outcome IN ('\(DataAccess.Outcome.released.rawValue)', '\(DataAccess.Outcome.allowedAuditOnly.rawValue)')
                """, arguments: arguments).map(Timestamp.init(milliseconds:))
        }
    }

    public func portalSecretHash(premises: Int64, occupancy: Int) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT secret_hash FROM portal_secrets WHERE premises = ? AND occupancy = ?", arguments: [premises, occupancy])
        }
    }

    public func portalLink(tokenHash: String) async throws -> PortalLink? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM portal_links WHERE token_hash = ?", arguments: [tokenHash]).map { row in
                PortalLink(premises: row["premises"], occupancy: row["occupancy"], expires: Timestamp(milliseconds: row["expires_at"]),
                           usedAt: (row["used_at"] as Int64?).map(Timestamp.init(milliseconds:)))
            }
        }
    }
}

extension Mutation {
    /// A consent ledger entry with its audit event, however it was given.
    public static func recordConsent(_ entry: ConsentEntry, via channel: String) -> [Mutation] {
        let what = entry.action == .grant
            ? "consent granted to \(entry.party) for \(entry.purpose.rawValue) at \(entry.granularity?.name ?? "all")" + (entry.until.map { " until \($0.isoDate)" } ?? "")
            : "consent withdrawn from \(entry.party) for \(entry.purpose.rawValue): " + (entry.granularity.map { "\($0.name) data and finer" } ?? "all data")
        let verified = entry.method.verifiesConsumer ? "consumer verified" : "not verified by the hub"
        return [
            .privacy(.addConsent(entry)),
            .audit(AuditEvent(at: entry.at, kind: .consent, actor: entry.party,
                              detail: "premises \(entry.premises) occupancy \(entry.occupancy): \(what) (\(entry.method.rawValue), \(verified), \(channel))")),
        ]
    }

    /// A premises' new portal code and one-use link (stored as hashes only, the link valid
    /// for 24 hours), with its audit event.
    public static func issuePortalAccess(premises: Int64, occupancy: Int, code: String, token: String, at time: Timestamp, by issuer: String) -> [Mutation] {
        [
            .privacy(.putPortalSecret(premises: premises, occupancy: occupancy, secretHash: sha256Hex(PortalSecrets.normalise(code)), at: time)),
            .privacy(.putPortalLink(tokenHash: sha256Hex(token), premises: premises, occupancy: occupancy, expires: time.adding(days: 1))),
            .audit(AuditEvent(at: time, kind: .portal, detail: "portal sign-in code and one-use link issued for premises \(premises), occupancy \(occupancy) (\(issuer))")),
        ]
    }
}
