import DUIS
import Foundation
import Logging
import PostgresNIO

/// Reading the hub's tables from PostgreSQL, with the same answers as `SQLiteStore`
/// (ordering included). A stored value of a type gbsm does not know is skipped or read
/// as SQLite's side reads it, never a crash.
extension PostgresStore {
    public func users() async throws -> [UserRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM users ORDER BY eui", logger).map { row in
                UserRecord(eui: try row.eui("eui"), name: try row.text("name"), roles: UserRoleSet(mask: UInt16(truncatingIfNeeded: try row.int("roles") as Int64)),
                           status: UserStatus(rawValue: try row.text("status")) ?? .withdrawn, responseURL: try row.optionalText("response_url"),
                           createdAt: try row.timestamp("created_at"), answerFormat: AnswerFormat(rawValue: try row.text("answer_format")) ?? .gbcs)
            }
        }
    }

    public func userCertificates() async throws -> [UserCertificateRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM user_certificates", logger).map { row in
                UserCertificateRecord(eui: try row.eui("eui"), issuerName: try row.text("issuer"), serialNumber: try row.text("serial"),
                                      role: try row.int("role"), der: try row.bytes("der"))
            }
        }
    }

    public func premises() async throws -> [PremisesRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM premises ORDER BY id", logger).map { row in
                PremisesRecord(id: try row.int("id"), uprn: try row.optionalInt("uprn"), postcode: try row.text("postcode"),
                               addressIdentifier: try row.text("address_identifier"), region: CSPRegion(rawValue: try row.text("region")) ?? .central)
            }
        }
    }

    public func devices() async throws -> [DeviceRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM devices ORDER BY eui", logger).compactMap(Self.device)
        }
    }

    static func device(_ row: PGRow) throws -> DeviceRecord? {
        guard let type = DeviceType(rawValue: try row.text("type")), let status = DeviceStatus(rawValue: try row.text("status")) else { return nil }
        return DeviceRecord(
            eui: try row.eui("eui"), type: type, status: status, premises: try row.optionalInt("premises"), manufacturer: try row.text("manufacturer"),
            model: try row.text("model"), smetsCHTSVersion: try row.optionalText("smets_chts_version"), firmwareVersion: try row.optionalText("firmware_version"),
            importMPxN: try row.optionalText("import_mpxn"), secondaryImportMPAN: try row.optionalText("secondary_import_mpan"),
            exportMPAN: try row.optionalText("export_mpan"), esmeVariant: try row.optionalText("esme_variant"),
            dateCommissioned: try row.optionalTimestamp("date_commissioned"), gbcsVersion: try row.optionalText("gbcs_version"),
            hanVariant: try row.optionalText("han_variant"), optedOut: try row.bool("opted_out"), notifiedBy: try row.optionalEUI("notified_by"))
    }

    public func registrations() async throws -> [RegistrationRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM registrations ORDER BY mpxn, role, from_ms", logger).compactMap { row in
                guard let role = UserRole(rawValue: try row.text("role")) else { return nil }
                return RegistrationRecord(mpxn: try row.text("mpxn"), role: role, party: try row.eui("party"), from: try row.timestamp("from_ms"),
                                          to: try row.optionalTimestamp("to_ms"))
            }
        }
    }

    public func counters() async throws -> [EUI64: UInt64] {
        try await read { [logger] connection in
            var result: [EUI64: UInt64] = [:]
            for row in try await connection.rows("SELECT originator, counter FROM counters", logger) {
                result[try row.eui("originator")] = UInt64(bitPattern: try row.int("counter"))
            }
            return result
        }
    }

    public func thresholds() async throws -> [AnomalyThreshold] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM thresholds", logger).map { row in
                AnomalyThreshold(user: try row.eui("user_eui"), srv: try row.text("srv"), limit: try row.int("max_requests"),
                                 windowSeconds: try row.int("window_seconds"))
            }
        }
    }

    public func schedules() async throws -> [ScheduleRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM schedules ORDER BY id", logger).map { row in
                // A stored value that no longer reads as its type parks the schedule (as on SQLite).
                let frequency = ScheduleFrequency(rawValue: try row.text("frequency"))
                let executionText = try row.optionalText("execution_time")
                let executionTime = executionText.flatMap { TimeOfDay(xsTime: $0) }
                let readable = frequency != nil && (executionText == nil || executionTime != nil)
                let created = try row.timestamp("created_at")
                return ScheduleRecord(id: try row.int("id"), owner: try row.eui("owner"), device: try row.eui("device"), srv: try row.text("srv"),
                                      frequency: frequency ?? .yearly, startDate: try row.timestamp("start_date").day,
                                      endDate: try row.optionalTimestamp("end_date")?.day, executionTime: executionTime,
                                      definition: try row.bytes("definition"), createdAt: created, deletedAt: try row.optionalTimestamp("deleted_at"),
                                      parkedAt: try row.optionalTimestamp("parked_at") ?? (readable ? nil : created))
            }
        }
    }

    public func firmware() async throws -> [FirmwareRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM firmware ORDER BY created_at", logger).map { row in
                FirmwareRecord(requestID: try row.text("request_id"), owner: try row.eui("owner"), srv: try row.text("srv"), version: try row.text("version"),
                               imageSHA256: try row.text("image_sha256"), imageSize: try row.int("image_size"),
                               devices: try row.text("devices").split(separator: ",").compactMap { EUI64($0) }, createdAt: try row.timestamp("created_at"))
            }
        }
    }

    public func deviceEvents(device: EUI64) async throws -> [DeviceEventRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM device_events WHERE device = \(sqlValue(device)) ORDER BY id", logger).map { row in
                DeviceEventRecord(device: try row.eui("device"), at: try row.timestamp("at"), kind: try row.text("kind"),
                                  requestID: try row.optionalText("request_id"), detail: try row.text("detail"))
            }
        }
    }

    static func request(_ row: PGRow) throws -> StoredRequest {
        var request = StoredRequest(requestID: try row.text("request_id"), originator: try row.eui("originator"), target: try row.eui("target"),
                      counter: UInt64(bitPattern: try row.int("counter")), srv: try row.text("srv"), commandVariant: try row.int("command_variant"),
                      receivedAt: try row.timestamp("received_at"), executeAt: try row.optionalTimestamp("execute_at"),
                      status: RequestStatus(rawValue: try row.text("status")) ?? .refused, code: try row.optionalText("code"),
                      quarantineRef: try row.optionalInt("quarantine_ref"), raw: try row.bytes("raw"), crashes: try row.int("crashes"),
                      scheduleID: try row.optionalInt("schedule_id"))
        request.holder = try row.optionalInt("held_by")
        return request
    }

    public func request(id: String) async throws -> StoredRequest? {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM requests WHERE request_id = \(id)", logger).first.map(Self.request)
        }
    }

    public func preCommand(requestID: String) async throws -> PreCommandRecord? {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM precommands WHERE request_id = \(requestID)", logger).first.map { row in
                PreCommandRecord(requestID: try row.text("request_id"), preCommand: try row.bytes("precommand"), issuedAt: try row.timestamp("issued_at"),
                                 signed: try row.optionalBytes("signed"), sentWith: try row.optionalInt("sent_with"),
                                 sentAt: try row.optionalTimestamp("sent_at"))
            }
        }
    }

    /// The condition of `requests_open`, for queries of an open status (the planner uses
    /// the partial index only when the query implies its condition).
    static func openCondition(_ status: RequestStatus) -> String {
        SQLiteStore.isOpen(status) ? " AND \(SQLiteStore.openRequests)" : ""
    }

    public func requests(status: RequestStatus, originator: EUI64?, limit: Int) async throws -> [StoredRequest] {
        try await read { [logger] connection in
            var bindings = PostgresBindings()
            bindings.append(status.rawValue)
            var sql = "SELECT * FROM requests WHERE status = $1" + Self.openCondition(status)
            if let originator {
                bindings.append(sqlValue(originator))
                sql += " AND originator = $2"
            }
            bindings.append(Int64(max(0, limit)))
            sql += " ORDER BY received_at LIMIT $\(bindings.count)"
            return try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: bindings), logger).map(Self.request)
        }
    }

    public func requestKeys(status: RequestStatus, limit: Int) async throws -> [(requestID: String, due: Timestamp)] {
        try await read { [logger] connection in
            var bindings = PostgresBindings()
            bindings.append(status.rawValue)
            bindings.append(Int64(max(0, limit)))
            let sql = "SELECT request_id, COALESCE(execute_at, received_at) AS due FROM requests WHERE status = $1\(Self.openCondition(status)) LIMIT $2"
            return try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: bindings), logger).map { row in
                (try row.text("request_id"), try row.timestamp("due"))
            }
        }
    }

    public func heldRequestIDs(originator: EUI64, target: EUI64, srv: String, limit: Int) async throws -> [String] {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT request_id FROM requests WHERE status = 'scheduled' AND originator = \(sqlValue(originator)) AND target = \(sqlValue(target))
                AND srv = \(srv) LIMIT \(Int64(max(0, limit)))
                """, logger).map { try $0.text("request_id") }
        }
    }

    public func heldRequestCount(originator: EUI64, target: EUI64) async throws -> Int {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT COUNT(*) AS n FROM requests WHERE status = 'scheduled' AND originator = \(sqlValue(originator)) AND target = \(sqlValue(target))
                """, logger).first?.int("n") ?? 0
        }
    }

    public func requestCount(status: RequestStatus?) async throws -> Int {
        try await read { [logger] connection in
            guard let status else { return try await connection.rows("SELECT COUNT(*) AS n FROM requests", logger).first?.int("n") ?? 0 }
            var bindings = PostgresBindings()
            bindings.append(status.rawValue)
            let sql = "SELECT COUNT(*) AS n FROM requests WHERE status = $1\(Self.openCondition(status))"
            return try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: bindings), logger).first?.int("n") ?? 0
        }
    }

    static func outboxItem(_ row: PGRow) throws -> OutboxItem {
        OutboxItem(id: try row.int("id"), recipient: try row.eui("recipient"), kind: try row.text("kind"), messageID: try row.text("message_id"),
                   requestID: try row.optionalText("request_id"), body: try row.bytes("body"), createdAt: try row.timestamp("created_at"),
                   attempts: try row.int("attempts"), nextAttemptAt: try row.timestamp("next_attempt_at"),
                   status: OutboxStatus(rawValue: try row.text("status")) ?? .pending, lastError: try row.optionalText("last_error"),
                   deliveredAt: try row.optionalTimestamp("delivered_at"), crashes: try row.int("crashes"))
    }

    public func dueOutbox(now: Timestamp, limit: Int) async throws -> [OutboxItem] {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= \(now.milliseconds) ORDER BY next_attempt_at, id
                LIMIT \(Int64(max(0, limit)))
                """, logger).map(Self.outboxItem)
        }
    }

    public func dueOutboxKeys(now: Timestamp, limit: Int, excluding recipients: [EUI64] = []) async throws -> [(id: Int64, recipient: EUI64)] {
        try await read { [logger] connection in
            let excluded = recipients.prefix(500).map(sqlValue)
            return try await connection.rows("""
                SELECT id, recipient FROM outbox WHERE status = 'pending' AND next_attempt_at <= \(now.milliseconds)
                AND (claimed_until IS NULL OR claimed_until <= \(now.milliseconds))
                AND NOT (recipient = ANY(\(excluded))) ORDER BY next_attempt_at, id LIMIT \(Int64(max(0, limit)))
                """, logger).map { row in (try row.int("id"), try row.eui("recipient")) }
        }
    }

    public func pendingOutboxItems(ids: [Int64]) async throws -> [OutboxItem] {
        guard !ids.isEmpty else { return [] }
        return try await read { [logger] connection in
            try await connection.rows("""
                SELECT * FROM outbox WHERE status = 'pending' AND id = ANY(\(ids)) ORDER BY next_attempt_at, id
                """, logger).map(Self.outboxItem)
        }
    }

    public func claimOutboxItems(ids: [Int64], owner: Int64, until: Timestamp, now: Timestamp) async throws -> [OutboxItem] {
        guard !ids.isEmpty else { return [] }
        return try await write { [logger] connection in
            try await connection.rows("""
                UPDATE outbox SET claimed_by = \(owner), claimed_until = \(until.milliseconds)
                WHERE id IN (SELECT id FROM outbox WHERE id = ANY(\(ids)) AND status = 'pending'
                             AND (claimed_until IS NULL OR claimed_until <= \(now.milliseconds) OR claimed_by = \(owner)
                                  OR NOT EXISTS (SELECT 1 FROM hub_instances h WHERE h.instance = outbox.claimed_by AND h.alive_until >= \(now.milliseconds)))
                             FOR UPDATE SKIP LOCKED)
                RETURNING *
                """, logger).map(Self.outboxItem).sorted { ($0.nextAttemptAt, $0.id ?? 0) < ($1.nextAttemptAt, $1.id ?? 0) }
        }
    }

    public func adoptRequests(aliveUntil: Timestamp, now: Timestamp, limit: Int) async throws -> [(requestID: String, due: Timestamp)] {
        try await write { [logger, instance] connection in
            try await connection.run("""
                INSERT INTO hub_instances (instance, alive_until, started_at) VALUES (\(instance), \(aliveUntil.milliseconds), \(now.milliseconds))
                ON CONFLICT (instance) DO UPDATE SET alive_until = EXCLUDED.alive_until
                """, logger)
            // Processes dead for a day hold nothing any more: their rows go.
            try await connection.run("DELETE FROM hub_instances WHERE alive_until < \(now.milliseconds - 86_400_000)", logger)
            // The boundary's statuses, with `requests_open`'s condition so that its index serves.
            let statuses = [RequestStatus.awaitingDevice, .scheduled].map { "'\($0.rawValue)'" }.joined(separator: ", ")
            var bindings = PostgresBindings()
            bindings.append(instance)
            bindings.append(now.milliseconds)
            bindings.append(Int64(max(0, limit)))
            let sql = """
                UPDATE requests SET held_by = $1 WHERE request_id IN (
                    SELECT request_id FROM requests q WHERE q.status IN (\(statuses)) AND \(SQLiteStore.openRequests)
                    AND (q.held_by IS NULL OR (q.held_by <> $1 AND NOT EXISTS (
                        SELECT 1 FROM hub_instances h WHERE h.instance = q.held_by AND h.alive_until >= $2)))
                    ORDER BY q.received_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING request_id, COALESCE(execute_at, received_at) AS due
                """
            return try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: bindings), logger).map { row in
                (try row.text("request_id"), try row.timestamp("due"))
            }
        }
    }

    public func leadingInstance(now: Timestamp) async throws -> Int64? {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT instance FROM hub_instances WHERE alive_until >= \(now.milliseconds) ORDER BY started_at, instance LIMIT 1
                """, logger).first?.optionalInt("instance")
        }
    }

    public func retireInstance() async throws {
        try await write { [logger, instance] connection in
            try await connection.run("UPDATE hub_instances SET alive_until = 0 WHERE instance = \(instance)", logger)
        }
    }

    public func outbox(recipient: EUI64?, status: OutboxStatus?, limit: Int) async throws -> [OutboxItem] {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT * FROM outbox WHERE (\(recipient.map(sqlValue))::BIGINT IS NULL OR recipient = \(recipient.map(sqlValue)))
                AND (\(status?.rawValue)::TEXT IS NULL OR status = \(status?.rawValue)) ORDER BY id LIMIT \(Int64(max(0, limit)))
                """, logger).map(Self.outboxItem)
        }
    }

    public func nextOutboxDue() async throws -> Timestamp? {
        try await read { [logger] connection in
            // A message another hub holds is due when its lease runs out, not before.
            try await connection.rows("SELECT MIN(GREATEST(next_attempt_at, COALESCE(claimed_until, 0))) AS due FROM outbox WHERE status = 'pending'", logger)
                .first?.optionalTimestamp("due")
        }
    }

    public func outboxItem(id: Int64) async throws -> OutboxItem? {
        try await read { [logger] connection in try await connection.rows("SELECT * FROM outbox WHERE id = \(id)", logger).first.map(Self.outboxItem) }
    }

    public func deviceState(premises: Int64) async throws -> [UInt8]? {
        try await read { [logger] connection in
            try await connection.rows("SELECT state FROM device_states WHERE premises = \(premises)", logger).first?.bytes("state")
        }
    }

    public func premisesToWake(by time: Timestamp, limit: Int) async throws -> [Int64] {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT premises FROM device_states WHERE wake_at IS NOT NULL AND wake_at <= \(time.milliseconds) ORDER BY wake_at
                LIMIT \(Int64(max(0, limit)))
                """, logger).map { try $0.int("premises") }
        }
    }

    /// Every premises' device state (for exports), by premises ID.
    public func deviceStates() async throws -> [Int64: [UInt8]] {
        try await read { [logger] connection in
            var result: [Int64: [UInt8]] = [:]
            for row in try await connection.rows("SELECT premises, state FROM device_states", logger) { result[try row.int("premises")] = try row.bytes("state") }
            return result
        }
    }

    public func wanOutages() async throws -> [WANOutageRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM wan_outages ORDER BY id", logger).map { row in
                WANOutageRecord(id: try row.int("id"), region: try row.optionalText("region").flatMap(CSPRegion.init(rawValue:)),
                                start: try row.timestamp("start_ms"), end: try row.timestamp("end_ms"), reason: try row.text("reason"))
            }
        }
    }

    public func powerCuts() async throws -> [PowerCutRecord] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM power_cuts ORDER BY id", logger).compactMap { row in
                guard let scope = PowerCutScope(rawValue: try row.text("scope")) else { return nil }
                return PowerCutRecord(id: try row.int("id"), scope: scope, value: try row.int("value"), start: try row.timestamp("start_ms"),
                                      end: try row.timestamp("end_ms"), reason: try row.text("reason"))
            }
        }
    }

    public func pendingTamperEvents(limit: Int) async throws -> [TamperEvent] {
        try await read { [logger] connection in
            try await connection.rows("""
                SELECT * FROM tamper_events WHERE handled_ms IS NULL ORDER BY at_ms LIMIT \(Int64(max(0, limit)))
                """, logger).map { row in
                TamperEvent(id: try row.int("id"), premises: try row.int("premises"), at: try row.timestamp("at_ms"), reason: try row.text("reason"))
            }
        }
    }

    public func meta(_ key: String) async throws -> String? {
        try await read { [logger] connection in try await connection.rows("SELECT value FROM meta WHERE key = \(key)", logger).first?.text("value") }
    }

    public func registryVersion() async throws -> Int64 {
        try await read { [logger] connection in
            try await connection.rows("SELECT value FROM meta WHERE key = 'registry_version'", logger).first.flatMap { Int64(try $0.text("value")) } ?? 0
        }
    }

    public func hanJoins(premises: Int64) async throws -> [EUI64: (party: EUI64, occupancy: Int)] {
        try await read { [logger] connection in
            var joins: [EUI64: (party: EUI64, occupancy: Int)] = [:]
            for row in try await connection.rows("SELECT device, party, occupancy FROM han_joins WHERE premises = \(premises)", logger) {
                joins[try row.eui("device")] = (try row.eui("party"), try row.int("occupancy"))
            }
            return joins
        }
    }

    public func counterResets(after sequence: Int64) async throws -> [CounterReset] {
        try await read { [logger] connection in
            try await connection.rows("SELECT * FROM counter_resets WHERE seq > \(sequence) ORDER BY seq", logger).map { row in
                CounterReset(sequence: try row.int("seq"), originator: try row.eui("originator"), counter: UInt64(bitPattern: try row.int("counter")),
                             at: try row.timestamp("at"))
            }
        }
    }

    // MARK: - The audit log

    static func auditEntry(_ row: PGRow) throws -> AuditEntry {
        AuditEntry(
            sequence: try row.int("seq"),
            event: AuditEvent(at: try row.timestamp("at"), kind: AuditKind(rawValue: try row.text("kind")), actor: try row.optionalEUI("actor"),
                              device: try row.optionalEUI("device"), srv: try row.optionalText("srv"), requestID: try row.optionalText("request_id"),
                              code: try row.optionalText("code"), detail: try row.text("detail")),
            previousHash: try row.bytes("prev_hash"), hash: try row.bytes("hash"))
    }

    /// A stored summary, read as untrusted (see `SQLiteStore.storedAuditBlockSummary`).
    static func storedAuditBlockSummary(_ row: PGRow, salt: UInt64) -> AuditBlockSummary? {
        guard let block = try? row.int("block") as Int64, AuditBlockSummary.range(of: block) != nil else { return nil }
        let earliest = (try? row.int("earliest") as Int64) ?? Int64.min, latest = (try? row.int("latest") as Int64) ?? Int64.max
        return AuditBlockSummary(block: block, earliest: min(earliest, latest), latest: max(earliest, latest),
                                 actors: (try? row.bytes("actors")).flatMap { AuditBlockSummary.decode(Data($0)) },
                                 srvs: (try? row.text("srvs")).flatMap(AuditBlockSummary.decode(texts:)),
                                 kinds: (try? row.text("kinds")).flatMap(AuditBlockSummary.decode(texts:)),
                                 devices: (try? row.bytes("devices")).flatMap { BloomFilter(Data($0), salt: salt) } ?? .everything,
                                 requests: (try? row.bytes("requests")).flatMap { BloomFilter(Data($0), salt: salt) } ?? .everything)
    }

    public func audit(_ query: AuditQuery) async throws -> [AuditEntry] {
        guard query.limit > 0 else { return [] }
        return try await read { [logger] connection in
            var conditions: [String] = []
            var values: [any PostgresNonThrowingEncodable] = []
            // $1 and $2 are the block's range, $3 the limit; the filters follow.
            func filter(_ sql: String, _ value: some PostgresNonThrowingEncodable) {
                values.append(value)
                conditions.append(sql.replacingOccurrences(of: "?", with: "$\(values.count + 3)"))
            }
            if let actor = query.actor { filter("actor = ?", sqlValue(actor)) }
            if let device = query.device { filter("device = ?", sqlValue(device)) }
            if let srv = query.srv { filter("srv = ?", srv) }
            if let kind = query.kind { filter("kind = ?", kind.rawValue) }
            if let requestID = query.requestID { filter("request_id = ?", requestID) }
            if let from = query.from { filter("at >= ?", from.milliseconds) }
            if let to = query.to { filter("at < ?", to.milliseconds) }
            let limit = Int64(query.limit)
            guard !conditions.isEmpty else {
                return try await connection.rows("SELECT * FROM audit ORDER BY seq LIMIT \(limit)", logger).map(Self.auditEntry)
            }
            // The blocks whose summaries say they may hold a match, then the block not yet summarised.
            let matching = "SELECT * FROM audit WHERE seq BETWEEN $1 AND $2 AND " + conditions.joined(separator: " AND ") + " ORDER BY seq LIMIT $3"
            var found: [AuditEntry] = []
            var summarized: Int64 = 0
            let salt = try await Self.auditBloomSalt(connection, logger)
            let summaries = try await connection.rows("SELECT * FROM audit_blocks ORDER BY block", logger)
            func readRange(_ range: ClosedRange<Int64>) async throws {
                var bound = PostgresBindings()
                bound.append(range.lowerBound)
                bound.append(range.upperBound)
                bound.append(limit - Int64(found.count))
                for value in values { bound.append(value) }
                found += try await connection.rows(PostgresQuery(unsafeSQL: matching, binds: bound), logger).map(Self.auditEntry)
            }
            for row in summaries where found.count < query.limit {
                guard let summary = Self.storedAuditBlockSummary(row, salt: salt), let range = AuditBlockSummary.range(of: summary.block),
                      range.lowerBound > summarized else { continue }
                if range.lowerBound > summarized + 1 { try await readRange((summarized + 1)...(range.lowerBound - 1)) }
                summarized = range.upperBound
                if found.count < query.limit, summary.mayMatch(query) { try await readRange(range) }
            }
            if found.count < query.limit { try await readRange((summarized + 1)...Int64.max) }
            return Array(found.prefix(query.limit))
        }
    }

    /// The audit entry with this sequence number, if the log holds it.
    public func auditEntry(sequence: Int64) async throws -> AuditEntry? {
        try await read { [logger] connection in try await connection.rows("SELECT * FROM audit WHERE seq = \(sequence)", logger).first.map(Self.auditEntry) }
    }

    public func verifyAudit() async throws -> AuditVerification {
        // One snapshot for the whole check, as SQLite's read is: hubs appending meanwhile
        // must not look like missing summaries or a removed tail.
        try await write { [logger] connection in
            try await connection.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger)
            let salt = try await Self.auditBloomSalt(connection, logger)
            var stored: [Int64: AuditBlockSummary?] = [:]
            for row in try await connection.rows("SELECT * FROM audit_blocks", logger) {
                guard let block = try? row.int("block") as Int64 else { continue }
                stored[block] = Self.storedAuditBlockSummary(row, salt: salt)
            }
            var check = AuditChainCheck(salt: salt, stored: stored)
            // Read in pages of the key, so a long log is not held in memory at once.
            var after: Int64?
            pages: while true {
                // The first page from the lowest key there is (a forged entry below 1 included).
                let rows = try await connection.rows("SELECT * FROM audit WHERE \(after == nil) OR seq > \(after ?? 0) ORDER BY seq LIMIT 4096", logger)
                if rows.isEmpty { break }
                for row in rows {
                    let entry = try Self.auditEntry(row)
                    after = entry.sequence
                    guard check.check(entry) else { break pages }
                }
            }
            let actualHead = check.finish()
            if let row = try await connection.rows("SELECT seq, hash FROM audit_head WHERE id = 1", logger).first {
                check.compare(head: actualHead, recorded: "\(try row.int("seq") as Int64):\(AuditChain.hex(try row.bytes("hash")))")
            } else {
                check.report("the recorded head of the log is missing")
            }
            return check.verification(head: actualHead)
        }
    }

    /// Several hub processes may share a PostgreSQL store.
    public var isShared: Bool { true }

    /// One conditional upsert: of two hubs claiming the same counter, the second waits
    /// for the first's row lock, finds the condition false and is told the stored counter.
    /// Its commit need not wait for the disk: the request it admits is acknowledged only
    /// after a commit of its own that does, which makes this one durable too.
    public func claimCounter(originator: EUI64, counter: UInt64) async throws -> UInt64? {
        try await write { [logger] connection in
            try await connection.run("SET LOCAL synchronous_commit = off", logger)
            let claimed = try await connection.run("""
                INSERT INTO counters (originator, counter) VALUES (\(sqlValue(originator)), \(Int64(bitPattern: counter)))
                ON CONFLICT (originator) DO UPDATE SET counter = EXCLUDED.counter
                WHERE CASE WHEN (counters.counter < 0) = (EXCLUDED.counter < 0) THEN EXCLUDED.counter > counters.counter
                           ELSE EXCLUDED.counter < 0 END
                RETURNING 1
                """, logger)
            guard claimed == 0 else { return nil }
            return UInt64(bitPattern: try await connection.rows("SELECT counter FROM counters WHERE originator = \(sqlValue(originator))", logger)
                .first?.int("counter") ?? 0)
        }
    }

    /// One upsert that counts the request and reads the previous window in one statement.
    /// Of two hubs counting one user's SRV at once, the second waits for the first's row
    /// lock, so every request is counted once and each sees the counts before it. Like a
    /// claimed counter, the count need not wait for the disk: a count lost in a crash
    /// lets a user send a little more once, it loses nothing anyone was told.
    public func countAnomalyWindow(_ window: AnomalyWindow) async throws -> AnomalyWindowCount {
        try await write { [logger] connection in
            try await connection.run("SET LOCAL synchronous_commit = off", logger)
            let user = sqlValue(window.user)
            let seconds = Int64(window.seconds)
            guard let row = try await connection.rows("""
                WITH counted AS (
                    INSERT INTO anomaly_windows (originator, srv, window_seconds, window_start, count)
                    VALUES (\(user), \(window.srv), \(seconds), \(window.start), 1)
                    ON CONFLICT (originator, srv, window_seconds, window_start) DO UPDATE SET count = anomaly_windows.count + 1
                    RETURNING count)
                SELECT (SELECT count FROM counted) AS current,
                       COALESCE((SELECT count FROM anomaly_windows WHERE originator = \(user) AND srv = \(window.srv)
                                 AND window_seconds = \(seconds) AND window_start = \(window.previousStart)), 0) AS previous
                """, logger).first else {
                throw PostgresStoreError.unreadable(column: "anomaly_windows.count")
            }
            return AnomalyWindowCount(current: try row.int("current"), previous: try row.int("previous"))
        }
    }

    public func pruneAnomalyWindows(now: Int64) async throws -> Int {
        try await write { [logger] connection in
            try await connection.run("DELETE FROM anomaly_windows WHERE window_start + 2 * window_seconds * 1000 <= \(now) RETURNING 1", logger)
        }
    }

    /// How many rows one of the store's tables holds (for tests and diagnostics; the name
    /// must be a plain identifier).
    public func rowCount(_ table: String) async throws -> Int {
        guard StoreLocation.isPlainIdentifier(table) else { throw PostgresStoreError.unreadable(column: table) }
        return try await read { [logger] connection in
            try await connection.rows(PostgresQuery(unsafeSQL: "SELECT COUNT(*) AS n FROM \(table)"), logger).first?.int("n") ?? 0
        }
    }

    /// Runs SQL directly (for tests that tamper with the store the way an attacker would).
    public func unsafeExecute(_ sql: String) async throws {
        try await write { [logger] connection in
            for statement in sql.split(separator: ";") where !statement.allSatisfy(\.isWhitespace) {
                try await connection.run(PostgresQuery(unsafeSQL: String(statement)), logger)
            }
        }
    }
}
