import Foundation
import Testing
import TestSupport
@testable import Storage

/// What needs no PostgreSQL server: URLs are checked before any connection, and a server
/// that cannot be reached is an error at once, not a hang (its pool would retry for ever).
@Suite struct PostgresStoreTests {
    @Test func urlsAreCheckedAndPasswordsNeverShown() throws {
        let parsed = try PostgresURL("postgres://gbsm:secret@127.0.0.1:6543/hub")
        #expect(parsed.user == "gbsm" && parsed.password == "secret" && parsed.host == "127.0.0.1" && parsed.port == 6543 && parsed.database == "hub")
        #expect(!parsed.redacted.contains("secret"))
        #expect(!StoreLocation.postgres(url: "postgres://gbsm:secret@127.0.0.1:6543/hub").description.contains("secret"))
        let socket = try PostgresURL("postgres://gbsm@localhost:5433/hub?host=/tmp/pg")
        #expect(socket.socketPath == "/tmp/pg/.s.PGSQL.5433")
        for bad in ["mysql://u@h/db", "postgres://h:5432/db", "postgres://u@h:5432/", "postgres://u@h:99999/db", "postgres://u@h/a/b", "not a url"] {
            #expect(throws: PostgresStoreError.self, "\(bad)") { try PostgresURL(bad) }
            #expect(!StoreLocation.isValidPostgresURL(bad))
        }
    }

    /// Before the probe this never returned: the pool waited for a connection for ever.
    @Test(.timeLimit(.minutes(1))) func anUnreachableServerIsAnError() async throws {
        await #expect(throws: PostgresStoreError.self) { _ = try await PostgresStore(url: "postgres://gbsm@127.0.0.1:1/gbsm") }
    }

    @Test func tableNamesForCountsArePlainIdentifiers() {
        #expect(StoreLocation.isPlainIdentifier("audit_blocks"))
        for bad in ["", "audit; DROP TABLE audit", "Audit", "1abc", "a-b", String(repeating: "a", count: 64)] { #expect(!StoreLocation.isPlainIdentifier(bad)) }
    }
}
