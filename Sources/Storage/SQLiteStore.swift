import DUIS
import Foundation
import GRDB

/// The embedded backend: one SQLite database in the data folder, in WAL mode with
/// `synchronous=FULL` (a committed transaction survives a crash or power loss). Several
/// processes may open it at once: the server and the admin subcommands.
public final class SQLiteStore: HubStore {
    public let path: String
    let pool: DatabasePool

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(15)
        configuration.label = "gbsm"
        configuration.prepareDatabase { db in
            // A new database gets 2 KB pages: a commit writes each page it changes whole to
            // the WAL (and the checkpoint again), and most of a commit's pages hold a few
            // small changes (a counter, the audit head, index entries). A request's row
            // still fits in one page. An existing database keeps its page size.
            try db.execute(sql: "PRAGMA page_size = 2048")
            // Checkpoint once the WAL holds 4,000 pages (8 MB; 16 MB in a database made
            // with 4 KB pages) rather than SQLite's 1,000:
            // a page changed by many commits in between is copied to the database once.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 4000")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets synchronous=NORMAL when it puts the writer in WAL mode, which syncs only
        // at checkpoints: a commit would survive a crash of the process but not of the
        // machine. Every commit is synced instead.
        try pool.barrierWriteWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        // A store a newer gbsm has migrated is refused: this one would write it the old way.
        if try pool.read({ db in try Self.migrator.hasBeenSuperseded(db) }) {
            throw DatabaseError(message: "\(path) was migrated by a newer gbsm: run that gbsm, or give this one a data folder of its own")
        }
        let migrated = try pool.read { db in try Self.migrator.hasCompletedMigrations(db) }
        try Self.migrator.migrate(pool)
        // A migration that rebuilt a table (v16 rewrites every request) leaves a WAL as
        // large as the table: it is copied into the database and emptied before serving.
        if !migrated { try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") } }
    }

    /// The octets the database's pages in use hold (its pages, less those free), as of the
    /// last commit, whether they are in the main file yet or still in the WAL.
    public func databaseBytes() async throws -> Int64 {
        try await pool.read { db in
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return (pages - free) * size
        }
    }

    /// The writer's `PRAGMA synchronous` (2 is FULL).
    public func writerSynchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE users (eui INTEGER PRIMARY KEY, name TEXT NOT NULL, roles INTEGER NOT NULL, status TEXT NOT NULL,
                                response_url TEXT, created_at INTEGER NOT NULL);
            CREATE TABLE user_certificates (issuer TEXT NOT NULL, issuer_normalized TEXT NOT NULL, serial TEXT NOT NULL,
                                eui INTEGER NOT NULL, role INTEGER NOT NULL, der BLOB NOT NULL, PRIMARY KEY (issuer_normalized, serial));
            CREATE TABLE counters (originator INTEGER PRIMARY KEY, counter INTEGER NOT NULL);
            CREATE TABLE requests (request_id TEXT PRIMARY KEY, originator INTEGER NOT NULL, target INTEGER NOT NULL,
                                counter INTEGER NOT NULL, srv TEXT NOT NULL, command_variant INTEGER NOT NULL,
                                received_at INTEGER NOT NULL, execute_at INTEGER, status TEXT NOT NULL, code TEXT,
                                quarantine_ref INTEGER, raw BLOB NOT NULL);
            CREATE INDEX requests_status ON requests(status, received_at);
            CREATE INDEX requests_originator ON requests(originator, received_at);
            CREATE TABLE premises (id INTEGER PRIMARY KEY, uprn INTEGER, postcode TEXT NOT NULL, address_identifier TEXT NOT NULL,
                                region TEXT NOT NULL);
            CREATE TABLE devices (eui INTEGER PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, premises INTEGER,
                                manufacturer TEXT NOT NULL, model TEXT NOT NULL, smets_chts_version TEXT, firmware_version TEXT,
                                import_mpxn TEXT, secondary_import_mpan TEXT, export_mpan TEXT, esme_variant TEXT,
                                date_commissioned INTEGER, gbcs_version TEXT, han_variant TEXT, opted_out INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX devices_premises ON devices(premises);
            CREATE TABLE registrations (mpxn TEXT NOT NULL, role TEXT NOT NULL, party INTEGER NOT NULL, from_ms INTEGER NOT NULL,
                                to_ms INTEGER, PRIMARY KEY (mpxn, role, from_ms));
            CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, recipient INTEGER NOT NULL, kind TEXT NOT NULL,
                                message_id TEXT NOT NULL, request_id TEXT, body BLOB NOT NULL, created_at INTEGER NOT NULL,
                                attempts INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL, status TEXT NOT NULL,
                                last_error TEXT, delivered_at INTEGER);
            CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
            CREATE TABLE schedules (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, device INTEGER NOT NULL, srv TEXT NOT NULL,
                                frequency TEXT NOT NULL, start_date INTEGER NOT NULL, end_date INTEGER, execution_time TEXT,
                                definition BLOB NOT NULL, created_at INTEGER NOT NULL, deleted_at INTEGER);
            CREATE TABLE firmware (request_id TEXT PRIMARY KEY, owner INTEGER NOT NULL, srv TEXT NOT NULL, version TEXT NOT NULL,
                                image_sha256 TEXT NOT NULL, image_size INTEGER NOT NULL, devices TEXT NOT NULL, created_at INTEGER NOT NULL);
            CREATE TABLE thresholds (user INTEGER NOT NULL, srv TEXT NOT NULL, max_requests INTEGER NOT NULL,
                                window_seconds INTEGER NOT NULL, PRIMARY KEY (user, srv));
            CREATE TABLE device_events (id INTEGER PRIMARY KEY AUTOINCREMENT, device INTEGER NOT NULL, at INTEGER NOT NULL,
                                kind TEXT NOT NULL, request_id TEXT, detail TEXT NOT NULL);
            CREATE INDEX device_events_device ON device_events(device, at);
            CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, actor INTEGER, device INTEGER,
                                srv TEXT, request_id TEXT, code TEXT, detail TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
            CREATE INDEX audit_actor ON audit(actor, seq);
            CREATE INDEX audit_device ON audit(device, seq);
            CREATE INDEX audit_srv ON audit(srv, seq);
            CREATE INDEX audit_at ON audit(at);
            CREATE INDEX audit_request ON audit(request_id);
            INSERT INTO meta (key, value) VALUES ('registry_version', '0');
            """)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE devices ADD COLUMN notified_by INTEGER")
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
            CREATE TABLE device_states (premises INTEGER PRIMARY KEY, state BLOB NOT NULL);
            CREATE TABLE wan_outages (id INTEGER PRIMARY KEY, region TEXT, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, reason TEXT NOT NULL);
            CREATE TABLE power_cuts (id INTEGER PRIMARY KEY, scope TEXT NOT NULL, value INTEGER NOT NULL, start_ms INTEGER NOT NULL,
                                     end_ms INTEGER NOT NULL, reason TEXT NOT NULL);
            """)
        }
        registerPrivacyMigration(&migrator)
        migrator.registerMigration("v5-hardening") { db in
            // How many times jobs died with the process (the running marks themselves are in
            // `RunningJobLog`), parked schedules, operators' counter resets and HAN joins.
            try db.execute(sql: """
            ALTER TABLE requests ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX requests_held ON requests(originator, target) WHERE status = 'scheduled';
            ALTER TABLE outbox ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE schedules ADD COLUMN parked_at INTEGER;
            CREATE TABLE counter_resets (seq INTEGER PRIMARY KEY AUTOINCREMENT, originator INTEGER NOT NULL, counter INTEGER NOT NULL,
                                         at INTEGER NOT NULL);
            CREATE TABLE han_joins (premises INTEGER NOT NULL, device INTEGER NOT NULL, party INTEGER NOT NULL, occupancy INTEGER NOT NULL,
                                    at INTEGER NOT NULL, PRIMARY KEY (premises, device));
            """)
        }
        migrator.registerMigration("v6-release-sets") { db in
            // One release per user: the households each group is released with, per day, and
            // the last day each household was part of a release to the user (its own readings
            // may not be released to that user for those days, even with consent later).
            try db.execute(sql: """
            CREATE TABLE dpp_release_sets (user INTEGER NOT NULL, fuel TEXT NOT NULL, day INTEGER NOT NULL, grp TEXT NOT NULL,
                                           members BLOB NOT NULL, refusal TEXT, PRIMARY KEY (user, fuel, day, grp));
            CREATE TABLE dpp_release_members (user INTEGER NOT NULL, fuel TEXT NOT NULL, premises INTEGER NOT NULL, last_day INTEGER NOT NULL,
                                              PRIMARY KEY (user, fuel, premises)) WITHOUT ROWID;
            """)
        }
        migrator.registerMigration("v7-precommands") { db in
            // Pre-commands the Transform service issued, and the signed ones sent: a send
            // is checked against what was issued for its RequestID, and sent once.
            try db.execute(sql: """
            CREATE TABLE precommands (request_id TEXT PRIMARY KEY, precommand BLOB NOT NULL, issued_at INTEGER NOT NULL,
                                      signed BLOB, sent_with INTEGER, sent_at INTEGER);
            """)
        }
        migrator.registerMigration("v8-answer-format") { db in
            // How each user receives devices' answers: GBCS as DCC sends it (the default,
            // also for users stored before), or Parse and Correlate's MMC XML.
            try db.execute(sql: "ALTER TABLE users ADD COLUMN answer_format TEXT NOT NULL DEFAULT 'gbcs'")
        }
        migrator.registerMigration("v9-device-wake") { db in
            // When a premises' devices next have something to do of their own (a held
            // future-dated command): the few premises with one are found by a partial
            // index, which costs the many without one nothing.
            try db.execute(sql: """
            ALTER TABLE device_states ADD COLUMN wake_at INTEGER;
            CREATE INDEX device_states_wake ON device_states (wake_at) WHERE wake_at IS NOT NULL;
            """)
        }
        migrator.registerMigration("v10-tamper-events") { db in
            // Tamper detections get their own table (they were power cuts of scope
            // "tamper"). Those already stored had their alerts raised by the running hub,
            // so they move over as handled.
            try db.execute(sql: """
            CREATE TABLE tamper_events (id INTEGER PRIMARY KEY, premises INTEGER NOT NULL, at_ms INTEGER NOT NULL, reason TEXT NOT NULL, handled_ms INTEGER);
            CREATE INDEX tamper_events_pending ON tamper_events (at_ms) WHERE handled_ms IS NULL;
            INSERT INTO tamper_events (premises, at_ms, reason, handled_ms) SELECT value, start_ms, reason, start_ms FROM power_cuts WHERE scope = 'tamper';
            DELETE FROM power_cuts WHERE scope = 'tamper';
            """)
        }
        migrator.registerMigration("v11-schedule-runs") { db in
            // A DCC schedule's run says so in a column of its own; it was stored under
            // command variant 0 (which DUIS does not have) with the schedule in its ID
            // (`schedule:<id>:<run time>`). Runs go over the WAN as command variant 1 does.
            try db.execute(sql: """
            ALTER TABLE requests ADD COLUMN schedule_id INTEGER;
            UPDATE requests SET schedule_id = CAST(substr(request_id, 10, instr(substr(request_id, 10), ':') - 1) AS INTEGER), command_variant = 1
                WHERE command_variant = 0 AND request_id LIKE 'schedule:%:%';
            """)
        }
        migrator.registerMigration("v12-audit-blocks") { db in
            // The audit log's five secondary indexes give way to one summary per block of
            // entries (`AuditBlockSummary`): appending an entry then writes only the log's
            // last page, and a block's summary once per 1,024 entries.
            try db.execute(sql: """
            DROP INDEX audit_actor;
            DROP INDEX audit_device;
            DROP INDEX audit_srv;
            DROP INDEX audit_at;
            DROP INDEX audit_request;
            CREATE TABLE audit_blocks (block INTEGER PRIMARY KEY, earliest INTEGER NOT NULL, latest INTEGER NOT NULL, actors BLOB NOT NULL,
                                       srvs TEXT NOT NULL, kinds TEXT NOT NULL, devices BLOB NOT NULL, requests BLOB NOT NULL);
            """)
            // The blocks the log fills, as its entries say (not counted up to its last
            // sequence number, which a damaged log could make huge).
            // The Bloom filters' key, secret to the store (`BloomFilter`).
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('audit_bloom_salt', ?)", arguments: [String(UInt64.random(in: 1...UInt64.max))])
            let size = AuditBlockSummary.size
            let complete = try Int64.fetchAll(db, sql: "SELECT (seq - 1) / ? AS block FROM audit WHERE seq >= 1 GROUP BY block HAVING COUNT(*) = ?",
                                              arguments: [size, size])
            for block in complete { try summarizeAuditBlock(db, block) }
        }
        migrator.registerMigration("v13-open-requests") { db in
            // Requests are found by status only while they are open (waiting for a device,
            // held, quarantined, released, transformed, parked, or kept as unsupported by
            // an older gbsm): one small partial index of those, in
            // order of arrival within a status, replaces the indexes of every request by
            // status and by user, which put each new request at one of as many places as
            // there are users (a user's open requests are few: read through this one).
            try db.execute(sql: """
            DROP INDEX requests_status;
            DROP INDEX requests_originator;
            CREATE INDEX requests_open ON requests(status, received_at) WHERE \(openRequestsV13);
            """)
        }
        migrator.registerMigration("v14-anomaly-windows") { db in
            // Anomaly detection's windows (`AnomalyWindow`). One SQLite store has one hub
            // process, which counts in memory; the table keeps both backends one protocol.
            try db.execute(sql: """
            CREATE TABLE anomaly_windows (originator INTEGER NOT NULL, srv TEXT NOT NULL, window_seconds INTEGER NOT NULL,
                                          window_start INTEGER NOT NULL, count INTEGER NOT NULL,
                                          PRIMARY KEY (originator, srv, window_seconds, window_start)) WITHOUT ROWID;
            """)
        }
        registerIncrementalAggregationMigration(&migrator)
        migrator.registerMigration("v16-request-lookup") { db in
            // Requests are found by ID through an index ordered by `RequestLookupKey` (the
            // counter) first: new requests land at the index's end instead of one place per
            // user. The table is rebuilt to drop the ID's own primary-key index.
            let key = DatabaseFunction("gbsm_request_lookup_key", argumentCount: 1, pure: true) { values in
                String.fromDatabaseValue(values[0]).map(RequestLookupKey.of) ?? 0
            }
            db.add(function: key)
            defer { db.remove(function: key) }
            try db.execute(sql: """
            CREATE TABLE requests_v16 (lookup_key INTEGER NOT NULL, request_id TEXT NOT NULL, originator INTEGER NOT NULL, target INTEGER NOT NULL,
                                counter INTEGER NOT NULL, srv TEXT NOT NULL, command_variant INTEGER NOT NULL,
                                received_at INTEGER NOT NULL, execute_at INTEGER, status TEXT NOT NULL, code TEXT,
                                quarantine_ref INTEGER, raw BLOB NOT NULL, crashes INTEGER NOT NULL DEFAULT 0, schedule_id INTEGER);
            INSERT INTO requests_v16 (lookup_key, request_id, originator, target, counter, srv, command_variant, received_at, execute_at,
                                      status, code, quarantine_ref, raw, crashes, schedule_id)
                SELECT gbsm_request_lookup_key(request_id), request_id, originator, target, counter, srv, command_variant, received_at, execute_at,
                       status, code, quarantine_ref, raw, crashes, schedule_id FROM requests ORDER BY rowid;
            DROP TABLE requests;
            ALTER TABLE requests_v16 RENAME TO requests;
            CREATE UNIQUE INDEX requests_id ON requests(lookup_key, request_id);
            CREATE INDEX requests_held ON requests(originator, target) WHERE status = 'scheduled';
            CREATE INDEX requests_open ON requests(status, received_at) WHERE \(openRequestsV13);
            """)
        }
        return migrator
    }

    /// The partial index `requests_open`'s condition as migration v13 created it (a
    /// migration never changes once released).
    static let openRequestsV13 = "status NOT IN ('completed', 'refused', 'failed', 'cancelled')"

    /// The condition the queries of open requests add, made from `isOpen`. SQLite uses a
    /// partial index only for a query that has its condition word for word as one of its
    /// own terms: while this is `openRequestsV13` (a test checks), the index serves them;
    /// a status added later that is final makes them read the table instead (correct,
    /// slower) until a migration rebuilds the index with the new condition.
    static let openRequests = "status NOT IN (" + RequestStatus.allCases.filter { !isOpen($0) }.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// Whether requests of `status` are in `requests_open`.
    static func isOpen(_ status: RequestStatus) -> Bool {
        switch status {
        case .completed, .refused, .failed, .cancelled: false
        case .awaitingDevice, .scheduled, .quarantined, .released, .unsupported, .transformed, .parked: true
        }
    }

    // MARK: - Writing

    /// Writes the summary of a complete block of the audit log, from its entries.
    static func summarizeAuditBlock(_ db: Database, _ block: Int64) throws {
        guard let range = AuditBlockSummary.range(of: block) else { return }
        let summary = try auditBlockSummary(db, block: block, range: range)
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO audit_blocks (block, earliest, latest, actors, srvs, kinds, devices, requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [block, summary.earliest, summary.latest, AuditBlockSummary.encode(summary.actors ?? []),
                                     try AuditBlockSummary.encode(summary.srvs ?? []), try AuditBlockSummary.encode(summary.kinds ?? []),
                                     summary.devices.data, summary.requests.data])
    }

    /// The key of the audit summaries' Bloom filters (0 if it was removed: the filters
    /// then no longer match what was stored, and `verifyAudit` says so).
    static func auditBloomSalt(_ db: Database) throws -> UInt64 {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = 'audit_bloom_salt'")).flatMap { UInt64($0) } ?? 0
    }

    /// The summary a block's entries make.
    static func auditBlockSummary(_ db: Database, block: Int64, range: ClosedRange<Int64>) throws -> AuditBlockSummary {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT at, actor, device, srv, kind, request_id FROM audit WHERE seq BETWEEN ? AND ?"),
                                       arguments: [range.lowerBound, range.upperBound])
        var entries: [AuditBlockSummary.Entry] = []
        entries.reserveCapacity(Int(AuditBlockSummary.size))
        while let row = try rows.next() {
            entries.append(AuditBlockSummary.Entry(at: row["at"], actor: row["actor"], device: row["device"], srv: row["srv"], kind: row["kind"],
                                                   requestID: row["request_id"]))
        }
        return AuditBlockSummary(block: block, entries: entries, salt: try auditBloomSalt(db))
    }

    /// A stored summary, read as untrusted (the file can be edited): a value of the wrong
    /// type or size reads as unknown, which rules nothing out, so its block is read; nil
    /// for a row that names no block.
    static func storedAuditBlockSummary(_ row: Row, salt: UInt64) -> AuditBlockSummary? {
        guard let block = row["block"] as Int64?, AuditBlockSummary.range(of: block) != nil else { return nil }
        let earliest = (row["earliest"] as Int64?) ?? Int64.min, latest = (row["latest"] as Int64?) ?? Int64.max
        return AuditBlockSummary(block: block, earliest: min(earliest, latest), latest: max(earliest, latest),
                                 actors: (row["actors"] as Data?).flatMap(AuditBlockSummary.decode),
                                 srvs: (row["srvs"] as String?).flatMap(AuditBlockSummary.decode(texts:)),
                                 kinds: (row["kinds"] as String?).flatMap(AuditBlockSummary.decode(texts:)),
                                 devices: (row["devices"] as Data?).flatMap { BloomFilter($0, salt: salt) } ?? .everything,
                                 requests: (row["requests"] as Data?).flatMap { BloomFilter($0, salt: salt) } ?? .everything)
    }

    /// Stores a device record whole (replacing the stored one).
    static func putDevice(_ db: Database, _ device: DeviceRecord) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO devices (eui, type, status, premises, manufacturer, model, smets_chts_version,
                firmware_version, import_mpxn, secondary_import_mpan, export_mpan, esme_variant, date_commissioned,
                gbcs_version, han_variant, opted_out, notified_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [sqlValue(device.eui), device.type.rawValue, device.status.rawValue, device.premises,
                                     device.manufacturer, device.model, device.smetsCHTSVersion, device.firmwareVersion,
                                     device.importMPxN, device.secondaryImportMPAN, device.exportMPAN, device.esmeVariant,
                                     device.dateCommissioned?.milliseconds, device.gbcsVersion, device.hanVariant, device.optedOut,
                                     device.notifiedBy.map(sqlValue)])
    }

    public func apply(_ mutations: [Mutation]) async throws {
        try await pool.write { db in
            var head: (sequence: Int64, hash: [UInt8])?
            for mutation in mutations {
                switch mutation {
                case .audit(let event):
                    if head == nil {
                        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")) {
                            head = (row["seq"], [UInt8](row["hash"] as Data))
                        } else {
                            head = (0, AuditChain.genesis)
                        }
                    }
                    guard let current = head else { continue }
                    let sequence = current.sequence + 1
                    let hash = AuditChain.hash(previous: current.hash, sequence: sequence, event: event)
                    try db.cachedStatement(sql: """
                        INSERT INTO audit (seq, at, kind, actor, device, srv, request_id, code, detail, prev_hash, hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [sequence, event.at.milliseconds, event.kind.rawValue, event.actor.map(sqlValue),
                                                 event.device.map(sqlValue), event.srv, event.requestID, event.code, event.detail,
                                                 Data(current.hash), Data(hash)])
                    head = (sequence, hash)
                    if sequence % AuditBlockSummary.size == 0 { try Self.summarizeAuditBlock(db, AuditBlockSummary.block(of: sequence)) }
                case .putUser(let user):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO users (eui, name, roles, status, response_url, created_at, answer_format) VALUES (?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [sqlValue(user.eui), user.name, Int64(user.roles.mask), user.status.rawValue,
                                                 user.responseURL, user.createdAt.milliseconds, user.answerFormat.rawValue])
                case .putUserCertificate(let certificate):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO user_certificates (issuer, issuer_normalized, serial, eui, role, der) VALUES (?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [certificate.issuerName, DistinguishedNameText.normalize(certificate.issuerName),
                                                 certificate.serialNumber, sqlValue(certificate.eui), certificate.role, Data(certificate.der)])
                case .deleteUserCertificates(let eui):
                    try db.cachedStatement(sql: "DELETE FROM user_certificates WHERE eui = ?").execute(arguments: [sqlValue(eui)])
                case .setCounter(let originator, let counter):
                    // Keep the larger counter (commits need not come in the order counters were
                    // admitted). Counters are unsigned, stored as their bit pattern: when the signs
                    // differ, the negative one is the larger.
                    try db.cachedStatement(sql: """
                        INSERT INTO counters (originator, counter) VALUES (?, ?)
                        ON CONFLICT(originator) DO UPDATE SET counter = CASE
                            WHEN (counter < 0) = (excluded.counter < 0) THEN max(counter, excluded.counter)
                            WHEN counter < 0 THEN counter
                            ELSE excluded.counter END
                        """).execute(arguments: [sqlValue(originator), Int64(bitPattern: counter)])
                case .insertRequest(let request):
                    try db.cachedStatement(sql: """
                        INSERT INTO requests (lookup_key, request_id, originator, target, counter, srv, command_variant, received_at, execute_at,
                                              status, code, quarantine_ref, raw, schedule_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [RequestLookupKey.of(request.requestID), request.requestID, sqlValue(request.originator), sqlValue(request.target),
                                                 Int64(bitPattern: request.counter), request.srv, request.commandVariant,
                                                 request.receivedAt.milliseconds, request.executeAt?.milliseconds, request.status.rawValue,
                                                 request.code, request.quarantineRef, Data(request.raw), request.scheduleID])
                case .setRequestStatus(let requestID, let status, let code):
                    try db.cachedStatement(sql: "UPDATE requests SET status = ?, code = ? WHERE lookup_key = ? AND request_id = ? AND \(status.movableFromSQL)")
                        .execute(arguments: [status.rawValue, code, RequestLookupKey.of(requestID), requestID])
                    if db.changesCount == 0,
                       let found = try String.fetchOne(db.cachedStatement(sql: "SELECT status FROM requests WHERE lookup_key = ? AND request_id = ?"),
                                                arguments: [RequestLookupKey.of(requestID), requestID]) {
                        throw RequestStatusConflict(requestID: requestID, status: RequestStatus(rawValue: found), wanted: status)
                    }
                case .issuePreCommand(let record):
                    try db.cachedStatement(sql: "INSERT INTO precommands (request_id, precommand, issued_at) VALUES (?, ?, ?)")
                        .execute(arguments: [record.requestID, Data(record.preCommand), record.issuedAt.milliseconds])
                case .sendPreCommand(let requestID, let signed, let commandVariant, let status, let code, let executeAt, let time):
                    // Only an issued pre-command not yet sent changes (the gateway claims each
                    // send once before it commits; one commit holds many users' changes, so a
                    // conflict here must not fail it).
                    try db.cachedStatement(sql: "UPDATE precommands SET signed = ?, sent_with = ?, sent_at = ? WHERE request_id = ? AND sent_at IS NULL")
                        .execute(arguments: [Data(signed), commandVariant, time.milliseconds, requestID])
                    if db.changesCount == 1 {
                        try db.cachedStatement(sql: "UPDATE requests SET status = ?, code = ?, command_variant = ?, execute_at = ? WHERE lookup_key = ? AND request_id = ?")
                            .execute(arguments: [status.rawValue, code, commandVariant, executeAt?.milliseconds, RequestLookupKey.of(requestID), requestID])
                    }
                case .putPremises(let premises):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO premises (id, uprn, postcode, address_identifier, region) VALUES (?, ?, ?, ?, ?)
                        """).execute(arguments: [premises.id, premises.uprn, premises.postcode, premises.addressIdentifier, premises.region.rawValue])
                case .putDevice(let device):
                    try Self.putDevice(db, device)
                case .setFirmwareVersion(let device):
                    try db.cachedStatement(sql: "UPDATE devices SET firmware_version = ? WHERE eui = ?")
                        .execute(arguments: [device.firmwareVersion, sqlValue(device.eui)])
                    if db.changesCount == 0 { try Self.putDevice(db, device) }
                case .deleteDevice(let eui):
                    try db.cachedStatement(sql: "DELETE FROM devices WHERE eui = ?").execute(arguments: [sqlValue(eui)])
                case .putRegistration(let registration):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO registrations (mpxn, role, party, from_ms, to_ms) VALUES (?, ?, ?, ?, ?)
                        """).execute(arguments: [registration.mpxn, registration.role.rawValue, sqlValue(registration.party),
                                                 registration.from.milliseconds, registration.to?.milliseconds])
                case .enqueueOutbox(let item):
                    try db.cachedStatement(sql: """
                        INSERT INTO outbox (recipient, kind, message_id, request_id, body, created_at, attempts, next_attempt_at, status)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [sqlValue(item.recipient), item.kind, item.messageID, item.requestID, Data(item.body),
                                                 item.createdAt.milliseconds, item.attempts, item.nextAttemptAt.milliseconds, item.status.rawValue])
                case .outboxDelivered(let id, let at):
                    try db.cachedStatement(sql: "UPDATE outbox SET status = 'delivered', delivered_at = ?, attempts = attempts + 1 WHERE id = ?")
                        .execute(arguments: [at.milliseconds, id])
                case .outboxRetry(let id, let attempts, let next, let error):
                    try db.cachedStatement(sql: "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, crashes = 0 WHERE id = ?")
                        .execute(arguments: [attempts, next.milliseconds, error, id])
                case .putSchedule(let schedule):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO schedules (id, owner, device, srv, frequency, start_date, end_date, execution_time,
                            definition, created_at, deleted_at, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [schedule.id, sqlValue(schedule.owner), sqlValue(schedule.device), schedule.srv,
                                                 schedule.frequency.rawValue, schedule.startDate.start.milliseconds, schedule.endDate?.start.milliseconds,
                                                 schedule.executionTime?.xsTime, Data(schedule.definition), schedule.createdAt.milliseconds,
                                                 schedule.deletedAt?.milliseconds, schedule.parkedAt?.milliseconds])
                case .deleteSchedule(let id, let at):
                    try db.cachedStatement(sql: "UPDATE schedules SET deleted_at = ? WHERE id = ?").execute(arguments: [at.milliseconds, id])
                case .parkSchedule(let id, let at):
                    try db.cachedStatement(sql: "UPDATE schedules SET parked_at = ? WHERE id = ?").execute(arguments: [at?.milliseconds, id])
                case .clearCrashes(let job):
                    switch job {
                    case .request(let id):
                        try db.cachedStatement(sql: "UPDATE requests SET crashes = 0 WHERE lookup_key = ? AND request_id = ? AND crashes > 0")
                            .execute(arguments: [RequestLookupKey.of(id), id])
                    case .outbox(let id):
                        try db.cachedStatement(sql: "UPDATE outbox SET crashes = 0 WHERE id = ? AND crashes > 0").execute(arguments: [id])
                    }
                case .recordCrash(let job):
                    switch job {
                    case .request(let id):
                        try db.cachedStatement(sql: "UPDATE requests SET crashes = crashes + 1 WHERE lookup_key = ? AND request_id = ?")
                            .execute(arguments: [RequestLookupKey.of(id), id])
                    case .outbox(let id):
                        try db.cachedStatement(sql: "UPDATE outbox SET crashes = crashes + 1 WHERE id = ?").execute(arguments: [id])
                    }
                case .parkOutbox(let id):
                    try db.cachedStatement(sql: "UPDATE outbox SET status = 'parked' WHERE id = ?").execute(arguments: [id])
                case .releaseOutbox(let id, let at):
                    try db.cachedStatement(sql: "UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE id = ? AND status = 'parked'")
                        .execute(arguments: [at.milliseconds, id])
                case .discardOutbox(let id):
                    try db.cachedStatement(sql: "UPDATE outbox SET status = 'discarded' WHERE id = ? AND status = 'parked'").execute(arguments: [id])
                case .recordHANJoin(let premises, let device, let party, let occupancy, let at):
                    if let party {
                        try db.cachedStatement(sql: "INSERT OR REPLACE INTO han_joins (premises, device, party, occupancy, at) VALUES (?, ?, ?, ?, ?)")
                            .execute(arguments: [premises, sqlValue(device), sqlValue(party), occupancy, at.milliseconds])
                    } else {
                        try db.cachedStatement(sql: "DELETE FROM han_joins WHERE premises = ? AND device = ?").execute(arguments: [premises, sqlValue(device)])
                    }
                case .resetCounter(let originator, let counter, let at):
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO counters (originator, counter) VALUES (?, ?)")
                        .execute(arguments: [sqlValue(originator), Int64(bitPattern: counter)])
                    try db.cachedStatement(sql: "INSERT INTO counter_resets (originator, counter, at) VALUES (?, ?, ?)")
                        .execute(arguments: [sqlValue(originator), Int64(bitPattern: counter), at.milliseconds])
                case .putFirmware(let firmware):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO firmware (request_id, owner, srv, version, image_sha256, image_size, devices, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [firmware.requestID, sqlValue(firmware.owner), firmware.srv, firmware.version,
                                                 firmware.imageSHA256, firmware.imageSize,
                                                 firmware.devices.map(\.description).joined(separator: ","), firmware.createdAt.milliseconds])
                case .putThreshold(let threshold):
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO thresholds (user, srv, max_requests, window_seconds) VALUES (?, ?, ?, ?)
                        """).execute(arguments: [sqlValue(threshold.user), threshold.srv, threshold.limit, threshold.windowSeconds])
                case .deviceEvent(let event):
                    try db.cachedStatement(sql: "INSERT INTO device_events (device, at, kind, request_id, detail) VALUES (?, ?, ?, ?, ?)")
                        .execute(arguments: [sqlValue(event.device), event.at.milliseconds, event.kind, event.requestID, event.detail])
                case .setMeta(let key, let value):
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").execute(arguments: [key, value])
                case .putDeviceState(let premises, let state, let wakeAt, _):
                    // One process writes the store, under its premises locks: the state it
                    // read is the latest, and the revision needs no check.
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO device_states (premises, state, wake_at) VALUES (?, ?, ?)")
                        .execute(arguments: [premises, Data(state), wakeAt?.milliseconds])
                case .setDeviceWake(let premises, let wakeAt):
                    try db.cachedStatement(sql: "UPDATE device_states SET wake_at = ? WHERE premises = ?").execute(arguments: [wakeAt?.milliseconds, premises])
                case .addTamperEvent(let premises, let at, let reason):
                    try db.cachedStatement(sql: "INSERT INTO tamper_events (premises, at_ms, reason) VALUES (?, ?, ?)")
                        .execute(arguments: [premises, at.milliseconds, String(reason.prefix(200))])
                case .tamperHandled(let id, let at):
                    try db.cachedStatement(sql: "UPDATE tamper_events SET handled_ms = ? WHERE id = ?").execute(arguments: [at.milliseconds, id])
                case .putWANOutage(let outage):
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO wan_outages (id, region, start_ms, end_ms, reason) VALUES (?, ?, ?, ?, ?)")
                        .execute(arguments: [outage.id, outage.region?.rawValue, outage.start.milliseconds, outage.end.milliseconds, outage.reason])
                case .putPowerCut(let cut):
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO power_cuts (id, scope, value, start_ms, end_ms, reason) VALUES (?, ?, ?, ?, ?, ?)")
                        .execute(arguments: [cut.id, cut.scope.rawValue, cut.value, cut.start.milliseconds, cut.end.milliseconds, cut.reason])
                case .privacy(let change):
                    try Self.apply(change, db)
                case .bumpRegistryVersion:
                    try db.cachedStatement(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version'").execute()
                }
            }
            if let head {
                // Updated in place: a replace would delete and insert the row, writing the
                // key's index page too, in every commit.
                let value = "\(head.sequence):\(AuditChain.hex(head.hash))"
                try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = 'audit_head'").execute(arguments: [value])
                if db.changesCount == 0 {
                    try db.cachedStatement(sql: "INSERT INTO meta (key, value) VALUES ('audit_head', ?)").execute(arguments: [value])
                }
            }
        }
    }

    // MARK: - Reading

    public func users() async throws -> [UserRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY eui").map { row in
                UserRecord(eui: eui(row["eui"]), name: row["name"], roles: UserRoleSet(mask: UInt16(truncatingIfNeeded: row["roles"] as Int64)),
                           status: UserStatus(rawValue: row["status"]) ?? .withdrawn, responseURL: row["response_url"],
                           createdAt: Timestamp(milliseconds: row["created_at"]), answerFormat: AnswerFormat(rawValue: row["answer_format"]) ?? .gbcs)
            }
        }
    }

    public func userCertificates() async throws -> [UserCertificateRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM user_certificates").map { row in
                UserCertificateRecord(eui: eui(row["eui"]), issuerName: row["issuer"], serialNumber: row["serial"],
                                      role: row["role"], der: [UInt8](row["der"] as Data))
            }
        }
    }

    public func premises() async throws -> [PremisesRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM premises ORDER BY id").map { row in
                PremisesRecord(id: row["id"], uprn: row["uprn"], postcode: row["postcode"], addressIdentifier: row["address_identifier"],
                               region: CSPRegion(rawValue: row["region"]) ?? .central)
            }
        }
    }

    public func devices() async throws -> [DeviceRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY eui").compactMap(Self.device)
        }
    }

    static func device(_ row: Row) -> DeviceRecord? {
        guard let type = DeviceType(rawValue: row["type"]), let status = DeviceStatus(rawValue: row["status"]) else { return nil }
        return DeviceRecord(
            eui: eui(row["eui"]), type: type, status: status, premises: row["premises"], manufacturer: row["manufacturer"],
            model: row["model"], smetsCHTSVersion: row["smets_chts_version"], firmwareVersion: row["firmware_version"],
            importMPxN: row["import_mpxn"], secondaryImportMPAN: row["secondary_import_mpan"], exportMPAN: row["export_mpan"],
            esmeVariant: row["esme_variant"], dateCommissioned: (row["date_commissioned"] as Int64?).map(Timestamp.init(milliseconds:)),
            gbcsVersion: row["gbcs_version"], hanVariant: row["han_variant"], optedOut: row["opted_out"],
            notifiedBy: (row["notified_by"] as Int64?).map(eui))
    }

    public func registrations() async throws -> [RegistrationRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM registrations ORDER BY mpxn, role, from_ms").compactMap { row in
                guard let role = UserRole(rawValue: row["role"]) else { return nil }
                return RegistrationRecord(mpxn: row["mpxn"], role: role, party: eui(row["party"]), from: Timestamp(milliseconds: row["from_ms"]),
                                          to: (row["to_ms"] as Int64?).map(Timestamp.init(milliseconds:)))
            }
        }
    }

    public func counters() async throws -> [EUI64: UInt64] {
        try await pool.read { db in
            var result: [EUI64: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT originator, counter FROM counters") {
                result[eui(row["originator"])] = UInt64(bitPattern: row["counter"])
            }
            return result
        }
    }

    public func thresholds() async throws -> [AnomalyThreshold] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM thresholds").map { row in
                AnomalyThreshold(user: eui(row["user"]), srv: row["srv"], limit: row["max_requests"], windowSeconds: row["window_seconds"])
            }
        }
    }

    public func schedules() async throws -> [ScheduleRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM schedules ORDER BY id").map { row in
                // A stored value that no longer reads as its type (written by an older gbsm,
                // or edited by hand) cannot make the scheduler fail: the schedule is parked.
                let frequency = ScheduleFrequency(rawValue: row["frequency"])
                let executionText: String? = row["execution_time"]
                let executionTime = executionText.flatMap { TimeOfDay(xsTime: $0) }
                let readable = frequency != nil && (executionText == nil || executionTime != nil)
                let created = Timestamp(milliseconds: row["created_at"])
                return ScheduleRecord(id: row["id"], owner: eui(row["owner"]), device: eui(row["device"]), srv: row["srv"], frequency: frequency ?? .yearly,
                                      startDate: Timestamp(milliseconds: row["start_date"]).day,
                                      endDate: (row["end_date"] as Int64?).map { Timestamp(milliseconds: $0).day },
                                      executionTime: executionTime, definition: [UInt8](row["definition"] as Data), createdAt: created,
                                      deletedAt: (row["deleted_at"] as Int64?).map(Timestamp.init(milliseconds:)),
                                      parkedAt: (row["parked_at"] as Int64?).map(Timestamp.init(milliseconds:)) ?? (readable ? nil : created))
            }
        }
    }

    public func firmware() async throws -> [FirmwareRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM firmware ORDER BY created_at").map { row in
                FirmwareRecord(requestID: row["request_id"], owner: eui(row["owner"]), srv: row["srv"], version: row["version"],
                               imageSHA256: row["image_sha256"], imageSize: row["image_size"],
                               devices: (row["devices"] as String).split(separator: ",").compactMap { EUI64($0) },
                               createdAt: Timestamp(milliseconds: row["created_at"]))
            }
        }
    }

    public func deviceEvents(device: EUI64) async throws -> [DeviceEventRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_events WHERE device = ? ORDER BY id", arguments: [sqlValue(device)]).map { row in
                DeviceEventRecord(device: eui(row["device"]), at: Timestamp(milliseconds: row["at"]), kind: row["kind"],
                                  requestID: row["request_id"], detail: row["detail"])
            }
        }
    }

    static func request(_ row: Row) -> StoredRequest {
        StoredRequest(requestID: row["request_id"], originator: eui(row["originator"]), target: eui(row["target"]),
                      counter: UInt64(bitPattern: row["counter"]), srv: row["srv"], commandVariant: row["command_variant"],
                      receivedAt: Timestamp(milliseconds: row["received_at"]),
                      executeAt: (row["execute_at"] as Int64?).map(Timestamp.init(milliseconds:)),
                      status: RequestStatus(rawValue: row["status"]) ?? .refused, code: row["code"],
                      quarantineRef: row["quarantine_ref"], raw: [UInt8](row["raw"] as Data), crashes: row["crashes"],
                      scheduleID: row["schedule_id"])
    }

    public func request(id: String) async throws -> StoredRequest? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM requests WHERE lookup_key = ? AND request_id = ?", arguments: [RequestLookupKey.of(id), id]).map(Self.request)
        }
    }

    public func preCommand(requestID: String) async throws -> PreCommandRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM precommands WHERE request_id = ?", arguments: [requestID]).map { row in
                PreCommandRecord(requestID: row["request_id"], preCommand: [UInt8](row["precommand"] as Data),
                                 issuedAt: Timestamp(milliseconds: row["issued_at"]), signed: (row["signed"] as Data?).map { [UInt8]($0) },
                                 sentWith: row["sent_with"], sentAt: (row["sent_at"] as Int64?).map(Timestamp.init(milliseconds:)))
            }
        }
    }

    public func requests(status: RequestStatus, originator: EUI64?, limit: Int) async throws -> [StoredRequest] {
        try await pool.read { db in
            let open = Self.isOpen(status) ? " AND \(Self.openRequests)" : ""
            if let originator {
                return try Row.fetchAll(db, sql: "SELECT * FROM requests WHERE status = ? AND originator = ?\(open) ORDER BY received_at LIMIT ?",
                                        arguments: [status.rawValue, sqlValue(originator), limit]).map(Self.request)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM requests WHERE status = ?\(open) ORDER BY received_at LIMIT ?",
                                    arguments: [status.rawValue, limit]).map(Self.request)
        }
    }

    public func requestKeys(status: RequestStatus, limit: Int) async throws -> [(requestID: String, due: Timestamp)] {
        try await pool.read { db in
            let open = Self.isOpen(status) ? " AND \(Self.openRequests)" : ""
            return try Row.fetchAll(db, sql: "SELECT request_id, COALESCE(execute_at, received_at) AS due FROM requests WHERE status = ?\(open) LIMIT ?",
                             arguments: [status.rawValue, limit]).map { row in (row["request_id"], Timestamp(milliseconds: row["due"])) }
        }
    }

    public func heldRequestIDs(originator: EUI64, target: EUI64, srv: String, limit: Int) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT request_id FROM requests WHERE status = 'scheduled' AND originator = ? AND target = ? AND srv = ? LIMIT ?",
                                arguments: [sqlValue(originator), sqlValue(target), srv, limit])
        }
    }

    public func heldRequestCount(originator: EUI64, target: EUI64) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM requests WHERE status = 'scheduled' AND originator = ? AND target = ?",
                             arguments: [sqlValue(originator), sqlValue(target)]) ?? 0
        }
    }

    public func requestCount(status: RequestStatus?) async throws -> Int {
        try await pool.read { db in
            if let status {
                let open = Self.isOpen(status) ? " AND \(Self.openRequests)" : ""
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM requests WHERE status = ?\(open)", arguments: [status.rawValue]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM requests") ?? 0
        }
    }

    static func outboxItem(_ row: Row) -> OutboxItem {
        OutboxItem(id: row["id"], recipient: eui(row["recipient"]), kind: row["kind"], messageID: row["message_id"], requestID: row["request_id"],
                   body: [UInt8](row["body"] as Data), createdAt: Timestamp(milliseconds: row["created_at"]), attempts: row["attempts"],
                   nextAttemptAt: Timestamp(milliseconds: row["next_attempt_at"]), status: OutboxStatus(rawValue: row["status"]) ?? .pending,
                   lastError: row["last_error"], deliveredAt: (row["delivered_at"] as Int64?).map(Timestamp.init(milliseconds:)), crashes: row["crashes"])
    }

    public func dueOutbox(now: Timestamp, limit: Int) async throws -> [OutboxItem] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                             arguments: [now.milliseconds, limit]).map(Self.outboxItem)
        }
    }

    public func dueOutboxKeys(now: Timestamp, limit: Int, excluding recipients: [EUI64] = []) async throws -> [(id: Int64, recipient: EUI64)] {
        try await pool.read { db in
            let excluded = recipients.prefix(500)
            let filter = excluded.isEmpty ? "" : " AND recipient NOT IN (\(Array(repeating: "?", count: excluded.count).joined(separator: ",")))"
            var arguments: StatementArguments = [now.milliseconds]
            arguments += StatementArguments(excluded.map(sqlValue))
            arguments += [limit]
            return try Row.fetchAll(db, sql: "SELECT id, recipient FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?\(filter) ORDER BY next_attempt_at, id LIMIT ?",
                                    arguments: arguments).map { row in (row["id"], eui(row["recipient"])) }
        }
    }

    public func pendingOutboxItems(ids: [Int64]) async throws -> [OutboxItem] {
        guard !ids.isEmpty else { return [] }
        return try await pool.read { db in
            let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ",")
            return try Row.fetchAll(db, sql: "SELECT * FROM outbox WHERE status = 'pending' AND id IN (\(placeholders)) ORDER BY next_attempt_at, id",
                                    arguments: StatementArguments(ids)).map(Self.outboxItem)
        }
    }

    public func outbox(recipient: EUI64?, status: OutboxStatus?, limit: Int) async throws -> [OutboxItem] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let recipient {
                conditions.append("recipient = ?")
                arguments += [sqlValue(recipient)]
            }
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            arguments += [limit]
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(db, sql: "SELECT * FROM outbox \(whereClause) ORDER BY id LIMIT ?", arguments: arguments).map(Self.outboxItem)
        }
    }

    public func nextOutboxDue() async throws -> Timestamp? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'").map(Timestamp.init(milliseconds:))
        }
    }

    static func auditEntry(_ row: Row) -> AuditEntry {
        AuditEntry(
            sequence: row["seq"],
            event: AuditEvent(at: Timestamp(milliseconds: row["at"]), kind: AuditKind(rawValue: row["kind"]), actor: (row["actor"] as Int64?).map(eui),
                              device: (row["device"] as Int64?).map(eui), srv: row["srv"], requestID: row["request_id"], code: row["code"],
                              detail: row["detail"]),
            previousHash: [UInt8](row["prev_hash"] as Data), hash: [UInt8](row["hash"] as Data))
    }

    public func audit(_ query: AuditQuery) async throws -> [AuditEntry] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let actor = query.actor { conditions.append("actor = ?"); arguments += [sqlValue(actor)] }
            if let device = query.device { conditions.append("device = ?"); arguments += [sqlValue(device)] }
            if let srv = query.srv { conditions.append("srv = ?"); arguments += [srv] }
            if let kind = query.kind { conditions.append("kind = ?"); arguments += [kind.rawValue] }
            if let requestID = query.requestID { conditions.append("request_id = ?"); arguments += [requestID] }
            if let from = query.from { conditions.append("at >= ?"); arguments += [from.milliseconds] }
            if let to = query.to { conditions.append("at < ?"); arguments += [to.milliseconds] }
            guard query.limit > 0 else { return [] }
            guard !conditions.isEmpty else {
                return try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq LIMIT ?", arguments: [query.limit]).map(Self.auditEntry)
            }
            // The blocks whose summaries say they may hold a match, in order, then the block
            // not yet summarised: each read by its range of the log's key.
            let matching = "SELECT * FROM audit WHERE seq BETWEEN ? AND ? AND " + conditions.joined(separator: " AND ") + " ORDER BY seq LIMIT ?"
            var found: [AuditEntry] = []
            var summarized: Int64 = 0
            let salt = try Self.auditBloomSalt(db)
            let blocks = try Row.fetchCursor(db, sql: "SELECT * FROM audit_blocks ORDER BY block")
            func read(_ range: ClosedRange<Int64>) throws {
                var bounded: StatementArguments = [range.lowerBound, range.upperBound]
                bounded += arguments
                bounded += [query.limit - found.count]
                found += try Row.fetchAll(db.cachedStatement(sql: matching), arguments: bounded).map(Self.auditEntry)
            }
            while found.count < query.limit, let row = try blocks.next() {
                guard let summary = Self.storedAuditBlockSummary(row, salt: salt), let range = AuditBlockSummary.range(of: summary.block),
                      range.lowerBound > summarized else { continue }
                // Summaries are written in order; one missing (never, unless removed by
                // hand) leaves its block to be read whole.
                if range.lowerBound > summarized + 1 { try read((summarized + 1)...(range.lowerBound - 1)) }
                summarized = range.upperBound
                if found.count < query.limit, summary.mayMatch(query) { try read(range) }
            }
            if found.count < query.limit { try read((summarized + 1)...Int64.max) }
            return Array(found.prefix(query.limit))
        }
    }

    /// The audit entry with this sequence number, if the log holds it.
    public func auditEntry(sequence: Int64) async throws -> AuditEntry? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM audit WHERE seq = ?", arguments: [sequence]).map(Self.auditEntry)
        }
    }

    public func verifyAudit() async throws -> AuditVerification {
        try await pool.read { db in
            let salt = try Self.auditBloomSalt(db)
            var stored: [Int64: AuditBlockSummary?] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit_blocks") {
                guard let block = row["block"] as Int64? else { continue }
                stored[block] = Self.storedAuditBlockSummary(row, salt: salt)
            }
            var check = AuditChainCheck(salt: salt, stored: stored)
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY seq")
            while let row = try cursor.next(), check.check(Self.auditEntry(row)) {}
            let actualHead = check.finish()
            check.compare(head: actualHead, recorded: try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'audit_head'"))
            return check.verification(head: actualHead)
        }
    }

    public func deviceState(premises: Int64) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT state FROM device_states WHERE premises = ?", arguments: [premises]).map { Array($0) }
        }
    }

    /// The premises whose devices have something to do by `time` (`wake_at`), earliest
    /// first, at most `limit`.
    public func premisesToWake(by time: Timestamp, limit: Int) async throws -> [Int64] {
        try await pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT premises FROM device_states WHERE wake_at IS NOT NULL AND wake_at <= ? ORDER BY wake_at LIMIT ?",
                               arguments: [time.milliseconds, limit])
        }
    }

    /// Every premises' device state (for exports), by premises ID.
    public func deviceStates() async throws -> [Int64: [UInt8]] {
        try await pool.read { db in
            var result: [Int64: [UInt8]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT premises, state FROM device_states") {
                let data: Data = row["state"]
                result[row["premises"]] = Array(data)
            }
            return result
        }
    }

    public func wanOutages() async throws -> [WANOutageRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM wan_outages ORDER BY id").map { row in
                WANOutageRecord(id: row["id"], region: (row["region"] as String?).flatMap(CSPRegion.init(rawValue:)),
                                start: Timestamp(milliseconds: row["start_ms"]), end: Timestamp(milliseconds: row["end_ms"]), reason: row["reason"])
            }
        }
    }

    public func powerCuts() async throws -> [PowerCutRecord] {
        try await pool.read { db in
            // A row of a scope this gbsm does not know is not a cut it can act on.
            try Row.fetchAll(db, sql: "SELECT * FROM power_cuts ORDER BY id").compactMap { row in
                guard let scope = PowerCutScope(rawValue: row["scope"]) else { return nil }
                return PowerCutRecord(id: row["id"], scope: scope, value: row["value"], start: Timestamp(milliseconds: row["start_ms"]),
                                      end: Timestamp(milliseconds: row["end_ms"]), reason: row["reason"])
            }
        }
    }

    public func pendingTamperEvents(limit: Int) async throws -> [TamperEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tamper_events WHERE handled_ms IS NULL ORDER BY at_ms LIMIT ?", arguments: [limit]).map { row in
                TamperEvent(id: row["id"], premises: row["premises"], at: Timestamp(milliseconds: row["at_ms"]), reason: row["reason"])
            }
        }
    }

    public func meta(_ key: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public func registryVersion() async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'registry_version'") ?? 0
        }
    }

    public func hanJoins(premises: Int64) async throws -> [EUI64: (party: EUI64, occupancy: Int)] {
        try await pool.read { db in
            var joins: [EUI64: (party: EUI64, occupancy: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, party, occupancy FROM han_joins WHERE premises = ?", arguments: [premises]) {
                joins[eui(row["device"])] = (eui(row["party"]), row["occupancy"])
            }
            return joins
        }
    }

    public func outboxItem(id: Int64) async throws -> OutboxItem? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM outbox WHERE id = ?", arguments: [id]).map(Self.outboxItem) }
    }

    public func counterResets(after sequence: Int64) async throws -> [CounterReset] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM counter_resets WHERE seq > ? ORDER BY seq", arguments: [sequence]).map { row in
                CounterReset(sequence: row["seq"], originator: eui(row["originator"]), counter: UInt64(bitPattern: row["counter"]),
                             at: Timestamp(milliseconds: row["at"]))
            }
        }
    }

    /// Moves the write-ahead log into the database file and truncates it (for measuring
    /// what is stored; SQLite also does this by itself as the log grows).
    public func checkpoint() async throws {
        try await pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// One process writes hub state to a SQLite store (admin commands only beside it).
    public var isShared: Bool { false }

    public func claimCounter(originator: EUI64, counter: UInt64) async throws -> UInt64? {
        try await pool.write { db in
            if let stored = try Int64.fetchOne(db, sql: "SELECT counter FROM counters WHERE originator = ?", arguments: [sqlValue(originator)])
                .map({ UInt64(bitPattern: $0) }), stored >= counter {
                return stored
            }
            try db.execute(sql: "INSERT OR REPLACE INTO counters (originator, counter) VALUES (?, ?)",
                           arguments: [sqlValue(originator), Int64(bitPattern: counter)])
            return nil
        }
    }

    public func countAnomalyWindow(_ window: AnomalyWindow) async throws -> AnomalyWindowCount {
        try await pool.write { db in
            let key: [any DatabaseValueConvertible] = [sqlValue(window.user), window.srv, Int64(window.seconds)]
            try db.execute(sql: """
                INSERT INTO anomaly_windows (originator, srv, window_seconds, window_start, count) VALUES (?, ?, ?, ?, 1)
                ON CONFLICT (originator, srv, window_seconds, window_start) DO UPDATE SET count = count + 1
                """, arguments: StatementArguments(key + [window.start]))
            let select = "SELECT count FROM anomaly_windows WHERE originator = ? AND srv = ? AND window_seconds = ? AND window_start = ?"
            let current = try Int.fetchOne(db, sql: select, arguments: StatementArguments(key + [window.start])) ?? 1
            let previous = try Int.fetchOne(db, sql: select, arguments: StatementArguments(key + [window.previousStart])) ?? 0
            return AnomalyWindowCount(current: current, previous: previous)
        }
    }

    /// One SQLite file has no partitions: retention deletes rows by plan (`expirePlanData`).
    public func maintainPartitions(now: Timestamp, retention: PartitionRetention) async throws -> PartitionMaintenance { PartitionMaintenance() }

    public func pruneAnomalyWindows(now: Int64) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM anomaly_windows WHERE window_start + 2 * window_seconds * 1000 <= ?", arguments: [now])
            return db.changesCount
        }
    }

    /// How many rows one of the store's tables holds (for tests and diagnostics; the name
    /// must be a plain identifier).
    public func rowCount(_ table: String) async throws -> Int {
        guard StoreLocation.isPlainIdentifier(table) else { throw DatabaseError(message: "\(table) is not a table name") }
        return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }

    /// Runs SQL directly (for tests that tamper with the audit log the way an attacker would).
    public func unsafeExecute(_ sql: String) async throws {
        try await pool.write { db in try db.execute(sql: sql) }
    }
}

@inline(__always)
func sqlValue(_ eui: EUI64) -> Int64 { Int64(bitPattern: eui.rawValue) }

@inline(__always)
func eui(_ value: Int64) -> EUI64 { EUI64(UInt64(bitPattern: value)) }
