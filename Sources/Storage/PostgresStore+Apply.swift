import DUIS
import Foundation
import Logging
import PostgresNIO

/// Writing: every `Mutation` as PostgreSQL statements, all of one `apply` in one
/// transaction, with the same meaning as `SQLiteStore.apply` (a test runs both backends
/// through the same cases).
extension PostgresStore {
    public func apply(_ mutations: [Mutation]) async throws {
        guard !mutations.isEmpty else { return }
        let logger = logger, instance = instance
        try await write { [logger] connection in
            // A transaction that appends to the audit log locks its head before anything
            // else, so that every such transaction takes its locks in one order (no two
            // hubs can wait on each other through it) and sequence numbers follow each
            // other across processes.
            var head: (sequence: Int64, hash: [UInt8])?
            if mutations.contains(where: { if case .audit = $0 { true } else { false } }) {
                guard let row = try await connection.rows("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", logger).first else {
                    throw PostgresStoreError.unreadable(column: "audit_head")
                }
                head = (try row.int("seq"), try row.bytes("hash"))
            }
            // The chain's entries are computed here and inserted as one statement at the
            // end (a group commit holds about four per request: one round trip for all).
            var entries = AuditRows()
            for mutation in mutations {
                if case .audit(let event) = mutation, let current = head {
                    head = try entries.append(event, after: current)
                } else {
                    try await Self.apply(mutation, connection, instance: instance, logger)
                }
            }
            if let head, let first = entries.sequences.first {
                try await entries.insert(connection, logger)
                // The blocks the new entries complete, summarised from the stored entries.
                for sequence in first...head.sequence where sequence % AuditBlockSummary.size == 0 {
                    try await Self.summarizeAuditBlock(AuditBlockSummary.block(of: sequence), connection, logger)
                }
                try await connection.run("UPDATE audit_head SET seq = \(head.sequence), hash = \(Data(bytea: head.hash)) WHERE id = 1", logger)
            }
        }
    }

    /// Audit entries chained in memory, as columns for one `INSERT … SELECT FROM unnest(…)`.
    struct AuditRows {
        var sequences: [Int64] = []
        var times: [Int64] = []
        var kinds: [String] = []
        var actors: [Int64?] = []
        var devices: [Int64?] = []
        var srvs: [String?] = []
        var requestIDs: [String?] = []
        var codes: [String?] = []
        var details: [String] = []
        var previousHashes: [String] = []
        var hashes: [String] = []

        /// Chains `event` after `current` and keeps it; returns the new head.
        mutating func append(_ event: AuditEvent, after current: (sequence: Int64, hash: [UInt8])) throws -> (sequence: Int64, hash: [UInt8]) {
            let (sequence, overflow) = current.sequence.addingReportingOverflow(1)
            guard !overflow else { throw PostgresStoreError.unreadable(column: "audit_head.seq") }
            let hash = AuditChain.hash(previous: current.hash, sequence: sequence, event: event)
            sequences.append(sequence)
            times.append(event.at.milliseconds)
            kinds.append(event.kind.rawValue)
            actors.append(event.actor.map(sqlValue))
            devices.append(event.device.map(sqlValue))
            srvs.append(event.srv)
            requestIDs.append(event.requestID)
            codes.append(event.code)
            details.append(event.detail)
            previousHashes.append(AuditChain.hex(current.hash))
            hashes.append(AuditChain.hex(hash))
            return (sequence, hash)
        }

        /// One statement for every entry (the hashes travel as hex text: postgres-nio has
        /// no array of octet strings, and `decode` turns them back).
        func insert(_ connection: PostgresConnection, _ logger: Logger) async throws {
            var bindings = PostgresBindings()
            bindings.append(sequences)
            bindings.append(times)
            bindings.append(kinds)
            bindings.append(actors.map { $0.map(String.init) ?? "" })
            bindings.append(devices.map { $0.map(String.init) ?? "" })
            bindings.append(srvs.map { $0 ?? "" })
            bindings.append(srvs.map { $0 == nil })
            bindings.append(requestIDs.map { $0 ?? "" })
            bindings.append(requestIDs.map { $0 == nil })
            bindings.append(codes.map { $0 ?? "" })
            bindings.append(codes.map { $0 == nil })
            bindings.append(details)
            bindings.append(previousHashes)
            bindings.append(hashes)
            try await connection.run(PostgresQuery(unsafeSQL: """
                INSERT INTO audit (seq, at, kind, actor, device, srv, request_id, code, detail, prev_hash, hash)
                SELECT seq, at, kind, NULLIF(actor, '')::BIGINT, NULLIF(device, '')::BIGINT, CASE WHEN no_srv THEN NULL ELSE srv END,
                       CASE WHEN no_request THEN NULL ELSE request_id END, CASE WHEN no_code THEN NULL ELSE code END, detail,
                       decode(prev_hash, 'hex'), decode(hash, 'hex')
                FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BOOLEAN[], $8::TEXT[], $9::BOOLEAN[],
                            $10::TEXT[], $11::BOOLEAN[], $12::TEXT[], $13::TEXT[], $14::TEXT[])
                    AS entry(seq, at, kind, actor, device, srv, no_srv, request_id, no_request, code, no_code, detail, prev_hash, hash)
                """, binds: bindings), logger)
        }
    }

    /// Writes the summary of a complete block of the audit log, from its entries.
    static func summarizeAuditBlock(_ block: Int64, _ connection: PostgresConnection, _ logger: Logger) async throws {
        guard let range = AuditBlockSummary.range(of: block) else { return }
        let summary = try await auditBlockSummary(block: block, range: range, connection, logger)
        try await connection.run("""
            INSERT INTO audit_blocks (block, earliest, latest, actors, srvs, kinds, devices, requests)
            VALUES (\(block), \(summary.earliest), \(summary.latest), \(AuditBlockSummary.encode(summary.actors ?? [])),
                    \(try AuditBlockSummary.encode(summary.srvs ?? [])), \(try AuditBlockSummary.encode(summary.kinds ?? [])),
                    \(summary.devices.data), \(summary.requests.data))
            ON CONFLICT (block) DO UPDATE SET earliest = EXCLUDED.earliest, latest = EXCLUDED.latest, actors = EXCLUDED.actors, srvs = EXCLUDED.srvs,
                kinds = EXCLUDED.kinds, devices = EXCLUDED.devices, requests = EXCLUDED.requests
            """, logger)
    }

    /// The key of the audit summaries' Bloom filters (0 if it was removed: `verifyAudit` then says so).
    static func auditBloomSalt(_ connection: PostgresConnection, _ logger: Logger) async throws -> UInt64 {
        try await connection.rows("SELECT value FROM meta WHERE key = 'audit_bloom_salt'", logger).first.flatMap { UInt64(try $0.text("value")) } ?? 0
    }

    /// The summary a block's entries make.
    static func auditBlockSummary(block: Int64, range: ClosedRange<Int64>, _ connection: PostgresConnection,
                                  _ logger: Logger) async throws -> AuditBlockSummary {
        var entries: [AuditBlockSummary.Entry] = []
        entries.reserveCapacity(Int(AuditBlockSummary.size))
        for row in try await connection.rows("""
            SELECT at, actor, device, srv, kind, request_id FROM audit WHERE seq BETWEEN \(range.lowerBound) AND \(range.upperBound)
            """, logger) {
            entries.append(AuditBlockSummary.Entry(at: try row.int("at"), actor: try row.optionalInt("actor"), device: try row.optionalInt("device"),
                                                   srv: try row.optionalText("srv"), kind: try row.text("kind"), requestID: try row.optionalText("request_id")))
        }
        return AuditBlockSummary(block: block, entries: entries, salt: try await auditBloomSalt(connection, logger))
    }

    /// Stores a device record whole (replacing the stored one).
    static func putDevice(_ device: DeviceRecord, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.run("""
            INSERT INTO devices (eui, type, status, premises, manufacturer, model, smets_chts_version, firmware_version, import_mpxn,
                secondary_import_mpan, export_mpan, esme_variant, date_commissioned, gbcs_version, han_variant, opted_out, notified_by)
            VALUES (\(sqlValue(device.eui)), \(device.type.rawValue), \(device.status.rawValue), \(device.premises), \(device.manufacturer),
                \(device.model), \(device.smetsCHTSVersion), \(device.firmwareVersion), \(device.importMPxN), \(device.secondaryImportMPAN),
                \(device.exportMPAN), \(device.esmeVariant), \(device.dateCommissioned?.milliseconds), \(device.gbcsVersion), \(device.hanVariant),
                \(device.optedOut), \(device.notifiedBy.map(sqlValue)))
            ON CONFLICT (eui) DO UPDATE SET type = EXCLUDED.type, status = EXCLUDED.status, premises = EXCLUDED.premises,
                manufacturer = EXCLUDED.manufacturer, model = EXCLUDED.model, smets_chts_version = EXCLUDED.smets_chts_version,
                firmware_version = EXCLUDED.firmware_version, import_mpxn = EXCLUDED.import_mpxn,
                secondary_import_mpan = EXCLUDED.secondary_import_mpan, export_mpan = EXCLUDED.export_mpan, esme_variant = EXCLUDED.esme_variant,
                date_commissioned = EXCLUDED.date_commissioned, gbcs_version = EXCLUDED.gbcs_version, han_variant = EXCLUDED.han_variant,
                opted_out = EXCLUDED.opted_out, notified_by = EXCLUDED.notified_by
            """, logger)
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    /// `instance`: the process committing (`HubStore.instance`), which holds the requests
    /// its commit puts at the device boundary.
    static func apply(_ mutation: Mutation, _ connection: PostgresConnection, instance: Int64, _ logger: Logger) async throws {
        switch mutation {
        case .audit:
            break  // appended by `apply(_:)`, which holds the chain's head
        case .putUser(let user):
            try await connection.run("""
                INSERT INTO users (eui, name, roles, status, response_url, created_at, answer_format)
                VALUES (\(sqlValue(user.eui)), \(user.name), \(Int64(user.roles.mask)), \(user.status.rawValue), \(user.responseURL),
                        \(user.createdAt.milliseconds), \(user.answerFormat.rawValue))
                ON CONFLICT (eui) DO UPDATE SET name = EXCLUDED.name, roles = EXCLUDED.roles, status = EXCLUDED.status,
                    response_url = EXCLUDED.response_url, created_at = EXCLUDED.created_at, answer_format = EXCLUDED.answer_format
                """, logger)
        case .putUserCertificate(let certificate):
            try await connection.run("""
                INSERT INTO user_certificates (issuer, issuer_normalized, serial, eui, role, der)
                VALUES (\(certificate.issuerName), \(DistinguishedNameText.normalize(certificate.issuerName)), \(certificate.serialNumber),
                        \(sqlValue(certificate.eui)), \(certificate.role), \(Data(bytea: certificate.der)))
                ON CONFLICT (issuer_normalized, serial) DO UPDATE SET issuer = EXCLUDED.issuer, eui = EXCLUDED.eui, role = EXCLUDED.role, der = EXCLUDED.der
                """, logger)
        case .deleteUserCertificates(let eui):
            try await connection.run("DELETE FROM user_certificates WHERE eui = \(sqlValue(eui))", logger)
        case .setCounter(let originator, let counter):
            // Keep the larger counter, compared as unsigned (stored as its bit pattern: when
            // the signs differ, the negative one is the larger).
            try await connection.run("""
                INSERT INTO counters (originator, counter) VALUES (\(sqlValue(originator)), \(Int64(bitPattern: counter)))
                ON CONFLICT (originator) DO UPDATE SET counter = CASE
                    WHEN (counters.counter < 0) = (EXCLUDED.counter < 0) THEN GREATEST(counters.counter, EXCLUDED.counter)
                    WHEN counters.counter < 0 THEN counters.counter
                    ELSE EXCLUDED.counter END
                """, logger)
        case .insertRequest(let request):
            try await connection.run("""
                INSERT INTO requests (request_id, originator, target, counter, srv, command_variant, received_at, execute_at, status, code,
                                      quarantine_ref, raw, schedule_id, held_by)
                VALUES (\(request.requestID), \(sqlValue(request.originator)), \(sqlValue(request.target)), \(Int64(bitPattern: request.counter)),
                        \(request.srv), \(request.commandVariant), \(request.receivedAt.milliseconds), \(request.executeAt?.milliseconds),
                        \(request.status.rawValue), \(request.code), \(request.quarantineRef), \(Data(bytea: request.raw)), \(request.scheduleID),
                        \(request.status.isAtDeviceBoundary ? instance : nil))
                """, logger)
        case .setRequestStatus(let requestID, let status, let code):
            // Only as `movableFromSQL` allows; a request moved back to the device boundary is
            // held by the committing process.
            var bindings = PostgresBindings()
            bindings.append(status.rawValue)
            bindings.append(code)
            bindings.append(requestID)
            bindings.append(status.isAtDeviceBoundary ? instance : nil)
            let sql = "UPDATE requests SET status = $1, code = $2, held_by = COALESCE($4, held_by) WHERE request_id = $3 AND \(status.movableFromSQL) RETURNING 1"
            if try await connection.run(PostgresQuery(unsafeSQL: sql, binds: bindings), logger) == 0,
               let found = try await connection.rows("SELECT status FROM requests WHERE request_id = \(requestID)", logger).first {
                throw RequestStatusConflict(requestID: requestID, status: RequestStatus(rawValue: try found.text("status")), wanted: status)
            }
        case .issuePreCommand(let record):
            try await connection.run("""
                INSERT INTO precommands (request_id, precommand, issued_at)
                VALUES (\(record.requestID), \(Data(bytea: record.preCommand)), \(record.issuedAt.milliseconds))
                """, logger)
        case .sendPreCommand(let requestID, let signed, let commandVariant, let status, let code, let executeAt, let time):
            // Only an issued pre-command not yet sent changes. Hubs sharing the store each
            // claim a send in memory only, so a second send committed by another hub fails
            // its commit (`PreCommandAlreadySent`): the group commit runs the others again
            // without it, and that hub refuses the send as a replay.
            let changed = try await connection.run("""
                UPDATE precommands SET signed = \(Data(bytea: signed)), sent_with = \(commandVariant), sent_at = \(time.milliseconds)
                WHERE request_id = \(requestID) AND sent_at IS NULL RETURNING 1
                """, logger)
            guard changed == 1 else { throw PreCommandAlreadySent(requestID: requestID) }
            try await connection.run("""
                UPDATE requests SET status = \(status.rawValue), code = \(code), command_variant = \(commandVariant),
                    execute_at = \(executeAt?.milliseconds), held_by = \(status.isAtDeviceBoundary ? instance : nil) WHERE request_id = \(requestID)
                """, logger)
        case .putPremises(let premises):
            try await connection.run("""
                INSERT INTO premises (id, uprn, postcode, address_identifier, region)
                VALUES (\(premises.id), \(premises.uprn), \(premises.postcode), \(premises.addressIdentifier), \(premises.region.rawValue))
                ON CONFLICT (id) DO UPDATE SET uprn = EXCLUDED.uprn, postcode = EXCLUDED.postcode,
                    address_identifier = EXCLUDED.address_identifier, region = EXCLUDED.region
                """, logger)
        case .putDevice(let device):
            try await putDevice(device, connection, logger)
        case .setFirmwareVersion(let device):
            let changed = try await connection.run("""
                UPDATE devices SET firmware_version = \(device.firmwareVersion) WHERE eui = \(sqlValue(device.eui)) RETURNING 1
                """, logger)
            if changed == 0 { try await putDevice(device, connection, logger) }
        case .deleteDevice(let eui):
            try await connection.run("DELETE FROM devices WHERE eui = \(sqlValue(eui))", logger)
        case .putRegistration(let registration):
            try await connection.run("""
                INSERT INTO registrations (mpxn, role, party, from_ms, to_ms)
                VALUES (\(registration.mpxn), \(registration.role.rawValue), \(sqlValue(registration.party)), \(registration.from.milliseconds),
                        \(registration.to?.milliseconds))
                ON CONFLICT (mpxn, role, from_ms) DO UPDATE SET party = EXCLUDED.party, to_ms = EXCLUDED.to_ms
                """, logger)
        case .enqueueOutbox(let item):
            try await connection.run("""
                INSERT INTO outbox (recipient, kind, message_id, request_id, body, created_at, attempts, next_attempt_at, status)
                VALUES (\(sqlValue(item.recipient)), \(item.kind), \(item.messageID), \(item.requestID), \(Data(bytea: item.body)),
                        \(item.createdAt.milliseconds), \(item.attempts), \(item.nextAttemptAt.milliseconds), \(item.status.rawValue))
                """, logger)
        case .outboxDelivered(let id, let at):
            try await connection.run("""
                UPDATE outbox SET status = 'delivered', delivered_at = \(at.milliseconds), attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL WHERE id = \(id)
                """, logger)
        case .outboxRetry(let id, let attempts, let next, let error):
            try await connection.run("""
                UPDATE outbox SET attempts = \(attempts), next_attempt_at = \(next.milliseconds), last_error = \(error), crashes = 0, claimed_by = NULL, claimed_until = NULL WHERE id = \(id)
                """, logger)
        case .putSchedule(let schedule):
            // The same schedule again changes it; another's ID fails (`ScheduleIDTaken`).
            let written = try await connection.run("""
                INSERT INTO schedules (id, owner, device, srv, frequency, start_date, end_date, execution_time, definition, created_at, deleted_at,
                                       parked_at)
                VALUES (\(schedule.id), \(sqlValue(schedule.owner)), \(sqlValue(schedule.device)), \(schedule.srv), \(schedule.frequency.rawValue),
                        \(schedule.startDate.start.milliseconds), \(schedule.endDate?.start.milliseconds), \(schedule.executionTime?.xsTime),
                        \(Data(bytea: schedule.definition)), \(schedule.createdAt.milliseconds), \(schedule.deletedAt?.milliseconds),
                        \(schedule.parkedAt?.milliseconds))
                ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, device = EXCLUDED.device, srv = EXCLUDED.srv, frequency = EXCLUDED.frequency,
                    start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date, execution_time = EXCLUDED.execution_time,
                    definition = EXCLUDED.definition, created_at = EXCLUDED.created_at, deleted_at = EXCLUDED.deleted_at, parked_at = EXCLUDED.parked_at
                WHERE schedules.owner = EXCLUDED.owner AND schedules.created_at = EXCLUDED.created_at
                RETURNING 1
                """, logger)
            if written == 0 { throw ScheduleIDTaken(id: schedule.id) }
        case .deleteSchedule(let id, let at):
            try await connection.run("UPDATE schedules SET deleted_at = \(at.milliseconds) WHERE id = \(id)", logger)
        case .parkSchedule(let id, let at):
            try await connection.run("UPDATE schedules SET parked_at = \(at?.milliseconds) WHERE id = \(id)", logger)
        case .clearCrashes(let job):
            switch job {
            case .request(let id): try await connection.run("UPDATE requests SET crashes = 0 WHERE request_id = \(id) AND crashes > 0", logger)
            case .outbox(let id): try await connection.run("UPDATE outbox SET crashes = 0 WHERE id = \(id) AND crashes > 0", logger)
            }
        case .recordCrash(let job):
            switch job {
            case .request(let id): try await connection.run("UPDATE requests SET crashes = crashes + 1 WHERE request_id = \(id)", logger)
            case .outbox(let id): try await connection.run("UPDATE outbox SET crashes = crashes + 1 WHERE id = \(id)", logger)
            }
        case .parkOutbox(let id):
            try await connection.run("UPDATE outbox SET status = 'parked' WHERE id = \(id)", logger)
        case .releaseOutbox(let id, let at):
            try await connection.run("UPDATE outbox SET status = 'pending', next_attempt_at = \(at.milliseconds) WHERE id = \(id) AND status = 'parked'",
                                     logger)
        case .discardOutbox(let id):
            try await connection.run("UPDATE outbox SET status = 'discarded' WHERE id = \(id) AND status = 'parked'", logger)
        case .recordHANJoin(let premises, let device, let party, let occupancy, let at):
            if let party {
                try await connection.run("""
                    INSERT INTO han_joins (premises, device, party, occupancy, at)
                    VALUES (\(premises), \(sqlValue(device)), \(sqlValue(party)), \(occupancy), \(at.milliseconds))
                    ON CONFLICT (premises, device) DO UPDATE SET party = EXCLUDED.party, occupancy = EXCLUDED.occupancy, at = EXCLUDED.at
                    """, logger)
            } else {
                try await connection.run("DELETE FROM han_joins WHERE premises = \(premises) AND device = \(sqlValue(device))", logger)
            }
        case .resetCounter(let originator, let counter, let at):
            try await connection.run("""
                INSERT INTO counters (originator, counter) VALUES (\(sqlValue(originator)), \(Int64(bitPattern: counter)))
                ON CONFLICT (originator) DO UPDATE SET counter = EXCLUDED.counter
                """, logger)
            try await connection.run("""
                INSERT INTO counter_resets (originator, counter, at) VALUES (\(sqlValue(originator)), \(Int64(bitPattern: counter)), \(at.milliseconds))
                """, logger)
        case .putFirmware(let firmware):
            try await connection.run("""
                INSERT INTO firmware (request_id, owner, srv, version, image_sha256, image_size, devices, created_at)
                VALUES (\(firmware.requestID), \(sqlValue(firmware.owner)), \(firmware.srv), \(firmware.version), \(firmware.imageSHA256),
                        \(firmware.imageSize), \(firmware.devices.map(\.description).joined(separator: ",")), \(firmware.createdAt.milliseconds))
                ON CONFLICT (request_id) DO UPDATE SET owner = EXCLUDED.owner, srv = EXCLUDED.srv, version = EXCLUDED.version,
                    image_sha256 = EXCLUDED.image_sha256, image_size = EXCLUDED.image_size, devices = EXCLUDED.devices, created_at = EXCLUDED.created_at
                """, logger)
        case .putThreshold(let threshold):
            try await connection.run("""
                INSERT INTO thresholds (user_eui, srv, max_requests, window_seconds)
                VALUES (\(sqlValue(threshold.user)), \(threshold.srv), \(threshold.limit), \(threshold.windowSeconds))
                ON CONFLICT (user_eui, srv) DO UPDATE SET max_requests = EXCLUDED.max_requests, window_seconds = EXCLUDED.window_seconds
                """, logger)
        case .deviceEvent(let event):
            try await connection.run("""
                INSERT INTO device_events (device, at, kind, request_id, detail)
                VALUES (\(sqlValue(event.device)), \(event.at.milliseconds), \(event.kind), \(event.requestID), \(event.detail))
                """, logger)
        case .setMeta(let key, let value):
            try await connection.run("INSERT INTO meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", logger)
        case .putDeviceState(let premises, let state, let wakeAt, let revision):
            // With a revision, only over the state it was made from: another hub's newer one
            // fails the commit (`DeviceStateConflict`). A state stored before revisions were
            // (NULL) is any revision's.
            let written = try await connection.run("""
                INSERT INTO device_states (premises, state, wake_at, revision) VALUES (\(premises), \(Data(bytea: state)), \(wakeAt?.milliseconds), \(revision?.to))
                ON CONFLICT (premises) DO UPDATE SET state = EXCLUDED.state, wake_at = EXCLUDED.wake_at, revision = EXCLUDED.revision
                WHERE \(revision?.from)::BIGINT IS NULL OR device_states.revision IS NULL OR device_states.revision = \(revision?.from)
                RETURNING 1
                """, logger)
            if written == 0 { throw DeviceStateConflict(premises: premises) }
        case .setDeviceWake(let premises, let wakeAt):
            try await connection.run("UPDATE device_states SET wake_at = \(wakeAt?.milliseconds) WHERE premises = \(premises)", logger)
        case .addTamperEvent(let premises, let at, let reason):
            try await connection.run("""
                INSERT INTO tamper_events (premises, at_ms, reason) VALUES (\(premises), \(at.milliseconds), \(String(reason.prefix(200))))
                """, logger)
        case .tamperHandled(let id, let at):
            try await connection.run("UPDATE tamper_events SET handled_ms = \(at.milliseconds) WHERE id = \(id)", logger)
        case .putWANOutage(let outage):
            try await connection.run("""
                INSERT INTO wan_outages (id, region, start_ms, end_ms, reason)
                VALUES (\(outage.id), \(outage.region?.rawValue), \(outage.start.milliseconds), \(outage.end.milliseconds), \(outage.reason))
                ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, reason = EXCLUDED.reason
                """, logger)
        case .putPowerCut(let cut):
            try await connection.run("""
                INSERT INTO power_cuts (id, scope, value, start_ms, end_ms, reason)
                VALUES (\(cut.id), \(cut.scope.rawValue), \(cut.value), \(cut.start.milliseconds), \(cut.end.milliseconds), \(cut.reason))
                ON CONFLICT (id) DO UPDATE SET scope = EXCLUDED.scope, value = EXCLUDED.value, start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms,
                    reason = EXCLUDED.reason
                """, logger)
        case .privacy(let change):
            try await apply(change, connection, logger)
        case .bumpRegistryVersion:
            try await connection.run("UPDATE meta SET value = (value::BIGINT + 1)::TEXT WHERE key = 'registry_version'", logger)
        }
    }
}
