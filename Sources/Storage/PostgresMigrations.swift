import Logging
import PostgresNIO

/// The PostgreSQL backend's versioned schema. Each migration runs once, in order, in its
/// own transaction, and is recorded in `schema_migrations`; a transaction-level advisory
/// lock makes hubs that start together against one database take turns, so no migration
/// runs twice. A released migration never changes: a later change is a new one.
enum PostgresMigrations {
    /// The advisory lock's key ("gbsm" in ASCII): one number no other user of the database
    /// is likely to take.
    static let lockKey: Int64 = 0x6762_736D

    struct Migration {
        var name: String
        var statements: [String]
    }

    static var all: [Migration] {
        [Migration(name: "pg-v1", statements: hubSchemaV1 + PostgresStore.privacySchema),
         // Which hub process holds an outbox message, and until when (`claimOutboxItems`).
         Migration(name: "pg-v2-outbox-leases", statements: [
             "ALTER TABLE outbox ADD COLUMN claimed_by BIGINT",
             "ALTER TABLE outbox ADD COLUMN claimed_until BIGINT",
         ]),
         // Which hub process holds each request at the device boundary, and which processes
         // are alive (`adoptRequests`): a dead hub's requests and leases pass to the others.
         Migration(name: "pg-v3-request-holders", statements: [
             "ALTER TABLE requests ADD COLUMN held_by BIGINT",
             "CREATE TABLE hub_instances (instance BIGINT PRIMARY KEY, alive_until BIGINT NOT NULL, started_at BIGINT NOT NULL)",
         ]),
         // The revision each premises' device state is at (`DeviceStateRevision`).
         Migration(name: "pg-v4-device-state-revisions", statements: [
             "ALTER TABLE device_states ADD COLUMN revision BIGINT",
         ]),
         // Anomaly detection's windows, counted by every hub sharing the store (`AnomalyWindow`).
         Migration(name: "pg-v5-anomaly-windows", statements: [
             """
             CREATE TABLE anomaly_windows (originator BIGINT NOT NULL, srv TEXT NOT NULL, window_seconds BIGINT NOT NULL,
                                           window_start BIGINT NOT NULL, count BIGINT NOT NULL,
                                           PRIMARY KEY (originator, srv, window_seconds, window_start))
             """,
         ]),
         // The plans' incremental aggregation, as SQLite's v15-plan-open-slots.
         Migration(name: "pg-v6-plan-open-slots", statements: [
             "ALTER TABLE dpp_readings DROP CONSTRAINT dpp_readings_pkey",
             "ALTER TABLE dpp_readings ADD PRIMARY KEY (plan, slot, pseudonym)",
             """
             CREATE TABLE dpp_kept_readings (plan BIGINT NOT NULL, pseudonym TEXT NOT NULL, grp TEXT NOT NULL, slot BIGINT NOT NULL,
                                             value BIGINT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (plan, slot, pseudonym))
             """,
             """
             CREATE TABLE dpp_open_slots (plan BIGINT NOT NULL, grp TEXT NOT NULL, slot BIGINT NOT NULL, readings BIGINT NOT NULL,
                                          PRIMARY KEY (plan, grp, slot))
             """,
             "INSERT INTO dpp_open_slots SELECT plan, grp, slot, COUNT(*) FROM dpp_readings GROUP BY plan, grp, slot",
             "CREATE INDEX dpp_aggregates_slot ON dpp_aggregates (plan, slot)",
             "CREATE INDEX dpp_suppressed_slot ON dpp_suppressed (plan, slot)",
         ]),
         // The time-growing tables in monthly partitions (`MonthlyPartitionedTable`): each
         // table is made again partitioned, with a default partition that takes its rows
         // until maintenance makes their months. The access log's ids continue from a
         // sequence of its own (a partitioned table's identity needs PostgreSQL 17).
         Migration(name: "pg-v7-monthly-partitions", statements:
             repartition("dpp_kept_readings", column: "slot", indexes: [], create: """
                 CREATE TABLE dpp_kept_readings (plan BIGINT NOT NULL, pseudonym TEXT NOT NULL, grp TEXT NOT NULL, slot BIGINT NOT NULL,
                                                 value BIGINT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (plan, slot, pseudonym))
                 """, after: [])
             + repartition("dpp_aggregates", column: "slot", indexes: ["dpp_aggregates_slot"], create: """
                 CREATE TABLE dpp_aggregates (plan BIGINT NOT NULL, grp TEXT NOT NULL, slot BIGINT NOT NULL, households BIGINT NOT NULL,
                                              total BIGINT NOT NULL, published_at BIGINT NOT NULL, PRIMARY KEY (plan, grp, slot))
                 """, after: ["CREATE INDEX dpp_aggregates_slot ON dpp_aggregates (plan, slot)"])
             + repartition("dpp_suppressed", column: "slot", indexes: ["dpp_suppressed_slot"], create: """
                 CREATE TABLE dpp_suppressed (plan BIGINT NOT NULL, grp TEXT NOT NULL, slot BIGINT NOT NULL, reason TEXT NOT NULL,
                                              decided_at BIGINT NOT NULL, PRIMARY KEY (plan, grp, slot))
                 """, after: ["CREATE INDEX dpp_suppressed_slot ON dpp_suppressed (plan, slot)"])
             + ["CREATE SEQUENCE data_access_ids"]
             + repartition("data_access", column: "at", indexes: ["data_access_premises"], create: """
                 CREATE TABLE data_access (id BIGINT NOT NULL DEFAULT nextval('data_access_ids'), premises BIGINT NOT NULL, occupancy BIGINT NOT NULL,
                                           at BIGINT NOT NULL, party BIGINT NOT NULL, role TEXT NOT NULL, srv TEXT NOT NULL,
                                           granularity BIGINT NOT NULL, outcome TEXT NOT NULL, rule TEXT NOT NULL, detail TEXT NOT NULL,
                                           request_id TEXT, PRIMARY KEY (id, at))
                 """, after: ["CREATE INDEX data_access_premises ON data_access (premises, occupancy, at)",
                              "SELECT setval('data_access_ids', COALESCE((SELECT MAX(id) FROM data_access), 0) + 1, false)"])),
         // The audit log by month of its entries' time too (never dropped: it is DCC's
         // record). Its key becomes (seq, at): the head row, which every append locks,
         // keeps the sequence numbers unique, and the chain's check finds any gap or repeat.
         Migration(name: "pg-v8-audit-partitions", statements:
             repartition("audit", column: "at", indexes: [], create: """
                 CREATE TABLE audit (seq BIGINT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL, actor BIGINT, device BIGINT, srv TEXT, request_id TEXT,
                                     code TEXT, detail TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (seq, at))
                 """, after: [])),
        ]
    }

    /// The statements that make `table` again partitioned by month on `column`: the old
    /// table and its indexes renamed aside, the new one (`create`, less its PARTITION BY)
    /// with its default partition and indexes (`after`, run once the rows are copied).
    static func repartition(_ table: String, column: String, indexes: [String], create: String, after: [String]) -> [String] {
        ["ALTER TABLE \(table) RENAME TO \(table)_unpartitioned",
         "ALTER INDEX \(table)_pkey RENAME TO \(table)_unpartitioned_pkey"]
            + indexes.map { "ALTER INDEX \($0) RENAME TO \($0)_unpartitioned" }
            + [create + " PARTITION BY RANGE (\(column))",
               "CREATE TABLE \(table)_default PARTITION OF \(table) DEFAULT",
               "INSERT INTO \(table) SELECT * FROM \(table)_unpartitioned"]
            + after
            + ["DROP TABLE \(table)_unpartitioned"]
    }

    /// The hub's tables as SQLite's migrations v1 to v13 leave them, in PostgreSQL's types.
    static let hubSchemaV1: [String] = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('registry_version', '0')",
        // The Bloom filters' key, secret to the store (`BloomFilter`): `migrate` sets it
        // from Swift's random generator.
        "INSERT INTO meta (key, value) VALUES ('audit_bloom_salt', '0')",
        """
        CREATE TABLE users (eui BIGINT PRIMARY KEY, name TEXT NOT NULL, roles BIGINT NOT NULL, status TEXT NOT NULL, response_url TEXT,
                            created_at BIGINT NOT NULL, answer_format TEXT NOT NULL DEFAULT 'gbcs')
        """,
        """
        CREATE TABLE user_certificates (issuer TEXT NOT NULL, issuer_normalized TEXT NOT NULL, serial TEXT NOT NULL, eui BIGINT NOT NULL,
                                        role BIGINT NOT NULL, der BYTEA NOT NULL, PRIMARY KEY (issuer_normalized, serial))
        """,
        "CREATE TABLE counters (originator BIGINT PRIMARY KEY, counter BIGINT NOT NULL)",
        """
        CREATE TABLE counter_resets (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, originator BIGINT NOT NULL, counter BIGINT NOT NULL,
                                     at BIGINT NOT NULL)
        """,
        """
        CREATE TABLE requests (request_id TEXT PRIMARY KEY, originator BIGINT NOT NULL, target BIGINT NOT NULL, counter BIGINT NOT NULL,
                               srv TEXT NOT NULL, command_variant BIGINT NOT NULL, received_at BIGINT NOT NULL, execute_at BIGINT,
                               status TEXT NOT NULL, code TEXT, quarantine_ref BIGINT, raw BYTEA NOT NULL, crashes BIGINT NOT NULL DEFAULT 0,
                               schedule_id BIGINT)
        """,
        // Only open requests are found by status (`SQLiteStore.isOpen`); held ones by user and device.
        "CREATE INDEX requests_open ON requests (status, received_at) WHERE status NOT IN ('completed', 'refused', 'failed', 'cancelled')",
        "CREATE INDEX requests_held ON requests (originator, target) WHERE status = 'scheduled'",
        """
        CREATE TABLE precommands (request_id TEXT PRIMARY KEY, precommand BYTEA NOT NULL, issued_at BIGINT NOT NULL, signed BYTEA,
                                  sent_with BIGINT, sent_at BIGINT)
        """,
        "CREATE TABLE premises (id BIGINT PRIMARY KEY, uprn BIGINT, postcode TEXT NOT NULL, address_identifier TEXT NOT NULL, region TEXT NOT NULL)",
        """
        CREATE TABLE devices (eui BIGINT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, premises BIGINT, manufacturer TEXT NOT NULL,
                              model TEXT NOT NULL, smets_chts_version TEXT, firmware_version TEXT, import_mpxn TEXT, secondary_import_mpan TEXT,
                              export_mpan TEXT, esme_variant TEXT, date_commissioned BIGINT, gbcs_version TEXT, han_variant TEXT,
                              opted_out BOOLEAN NOT NULL DEFAULT FALSE, notified_by BIGINT)
        """,
        "CREATE INDEX devices_premises ON devices (premises)",
        """
        CREATE TABLE registrations (mpxn TEXT NOT NULL, role TEXT NOT NULL, party BIGINT NOT NULL, from_ms BIGINT NOT NULL, to_ms BIGINT,
                                    PRIMARY KEY (mpxn, role, from_ms))
        """,
        """
        CREATE TABLE outbox (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, recipient BIGINT NOT NULL, kind TEXT NOT NULL,
                             message_id TEXT NOT NULL, request_id TEXT, body BYTEA NOT NULL, created_at BIGINT NOT NULL, attempts BIGINT NOT NULL,
                             next_attempt_at BIGINT NOT NULL, status TEXT NOT NULL, last_error TEXT, delivered_at BIGINT,
                             crashes BIGINT NOT NULL DEFAULT 0)
        """,
        // Delivered messages are most of the outbox and are never looked for by status.
        "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending'",
        """
        CREATE TABLE schedules (id BIGINT PRIMARY KEY, owner BIGINT NOT NULL, device BIGINT NOT NULL, srv TEXT NOT NULL, frequency TEXT NOT NULL,
                                start_date BIGINT NOT NULL, end_date BIGINT, execution_time TEXT, definition BYTEA NOT NULL,
                                created_at BIGINT NOT NULL, deleted_at BIGINT, parked_at BIGINT)
        """,
        """
        CREATE TABLE firmware (request_id TEXT PRIMARY KEY, owner BIGINT NOT NULL, srv TEXT NOT NULL, version TEXT NOT NULL,
                               image_sha256 TEXT NOT NULL, image_size BIGINT NOT NULL, devices TEXT NOT NULL, created_at BIGINT NOT NULL)
        """,
        """
        CREATE TABLE thresholds (user_eui BIGINT NOT NULL, srv TEXT NOT NULL, max_requests BIGINT NOT NULL, window_seconds BIGINT NOT NULL,
                                 PRIMARY KEY (user_eui, srv))
        """,
        """
        CREATE TABLE device_events (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, device BIGINT NOT NULL, at BIGINT NOT NULL,
                                    kind TEXT NOT NULL, request_id TEXT, detail TEXT NOT NULL)
        """,
        "CREATE INDEX device_events_device ON device_events (device, at)",
        """
        CREATE TABLE audit (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL, actor BIGINT, device BIGINT, srv TEXT, request_id TEXT,
                            code TEXT, detail TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL)
        """,
        // The chain's head, one row that every appending transaction locks first: entries
        // from several processes take their sequence numbers from it one after another.
        "CREATE TABLE audit_head (id BIGINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash BYTEA NOT NULL)",
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode('\(AuditChain.hex(AuditChain.genesis))', 'hex'))",
        """
        CREATE TABLE audit_blocks (block BIGINT PRIMARY KEY, earliest BIGINT NOT NULL, latest BIGINT NOT NULL, actors BYTEA NOT NULL,
                                   srvs TEXT NOT NULL, kinds TEXT NOT NULL, devices BYTEA NOT NULL, requests BYTEA NOT NULL)
        """,
        "CREATE TABLE device_states (premises BIGINT PRIMARY KEY, state BYTEA NOT NULL, wake_at BIGINT)",
        "CREATE INDEX device_states_wake ON device_states (wake_at) WHERE wake_at IS NOT NULL",
        "CREATE TABLE wan_outages (id BIGINT PRIMARY KEY, region TEXT, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL, reason TEXT NOT NULL)",
        """
        CREATE TABLE power_cuts (id BIGINT PRIMARY KEY, scope TEXT NOT NULL, value BIGINT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
                                 reason TEXT NOT NULL)
        """,
        """
        CREATE TABLE tamper_events (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, premises BIGINT NOT NULL, at_ms BIGINT NOT NULL,
                                    reason TEXT NOT NULL, handled_ms BIGINT)
        """,
        "CREATE INDEX tamper_events_pending ON tamper_events (at_ms) WHERE handled_ms IS NULL",
        """
        CREATE TABLE han_joins (premises BIGINT NOT NULL, device BIGINT NOT NULL, party BIGINT NOT NULL, occupancy BIGINT NOT NULL, at BIGINT NOT NULL,
                                PRIMARY KEY (premises, device))
        """,
    ]

    /// Applies the migrations the database has not had, each in its own transaction, and
    /// returns their names. A database a newer gbsm has migrated is refused: this one would
    /// write it the old way (readings its aggregation does not count, for one).
    @discardableResult
    static func migrate(_ store: PostgresStore) async throws -> [String] {
        let logger = store.logger
        let known = Set(all.map(\.name))
        let unknown = try await store.write { [logger] connection in
            try await connection.run("SELECT pg_advisory_xact_lock(\(lockKey))", logger)
            try await connection.run("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                                     logger)
            return try await connection.rows("SELECT name FROM schema_migrations", logger).map { try $0.text("name") }.filter { !known.contains($0) }
        }
        guard unknown.isEmpty else { throw PostgresStoreError.newerSchema(unknown.sorted()) }
        var applied: [String] = []
        for migration in all {
            let ran = try await store.write { [logger] connection -> Bool in
                try await connection.run("SELECT pg_advisory_xact_lock(\(lockKey))", logger)
                let done = try await connection.run("SELECT 1 FROM schema_migrations WHERE name = \(migration.name)", logger)
                guard done == 0 else { return false }
                for statement in migration.statements { try await connection.run(PostgresQuery(unsafeSQL: statement), logger) }
                if migration.name == "pg-v1" {
                    try await connection.run("UPDATE meta SET value = \(String(UInt64.random(in: 1...UInt64.max))) WHERE key = 'audit_bloom_salt'", logger)
                }
                try await connection.run("INSERT INTO schema_migrations (name) VALUES (\(migration.name))", logger)
                logger.info("applied PostgreSQL migration \(migration.name)")
                return true
            }
            if ran { applied.append(migration.name) }
        }
        return applied
    }

    /// The migrations a database has had, in the order they ran.
    static func applied(_ store: PostgresStore) async throws -> [String] {
        try await store.read { connection in
            try await connection.rows("SELECT name FROM schema_migrations ORDER BY applied_at, name", store.logger).map { try $0.text("name") }
        }
    }
}
