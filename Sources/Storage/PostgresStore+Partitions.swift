/// The tables that grow with time without bound, kept in monthly partitions on PostgreSQL
/// (migrations pg-v7 and pg-v8): a plan's kept raw readings, its aggregates and
/// suppressions (by the period they cover), the consumers' access log and the audit log
/// (by when the access or the event happened; neither is ever dropped).
/// Retention drops a whole month once every active plan's retention has passed it, instead
/// of deleting its rows one by one; what lies between a month's end and one plan's own
/// cutoff is still deleted row by row (`expirePlanData`). Each table has a default
/// partition for periods no month was made for yet (history older than the months kept,
/// or a clock far ahead); maintenance moves those rows into their month when it makes it.
import DUIS
import Foundation
import Logging
import PostgresNIO

/// A table partitioned by month on a column of milliseconds since 1970.
struct MonthlyPartitionedTable: Sendable {
    let name: String
    let column: String
    /// Whether plans' retention applies (the access log has none: it is the household's).
    let planData: PlanDataKind?

    enum PlanDataKind: Sendable { case rawReadings, aggregates }

    static let all: [MonthlyPartitionedTable] = [
        MonthlyPartitionedTable(name: "dpp_kept_readings", column: "slot", planData: .rawReadings),
        MonthlyPartitionedTable(name: "dpp_aggregates", column: "slot", planData: .aggregates),
        MonthlyPartitionedTable(name: "dpp_suppressed", column: "slot", planData: .aggregates),
        MonthlyPartitionedTable(name: "data_access", column: "at", planData: nil),
        MonthlyPartitionedTable(name: "audit", column: "at", planData: nil),
    ]

    func partition(_ month: Month) -> String { "\(name)_p\(month.suffix)" }
    var defaultPartition: String { "\(name)_default" }
}

/// A calendar month (UTC), the span of one partition.
struct Month: Sendable, Hashable, Comparable {
    let year: Int
    let month: Int

    init(year: Int, month: Int) {
        self.year = year + (month - 1).floorDivided(by: 12)
        self.month = (month - 1).floorModulo(12) + 1
    }

    init(containing milliseconds: Int64) {
        let (year, month, _) = CalendarDay(Timestamp(milliseconds: milliseconds)).civil
        self.init(year: year, month: month)
    }

    /// The month a partition name ends with (`_pYYYY_MM`), if it is one.
    init?(suffixOf name: String) {
        let parts = name.split(separator: "_").suffix(2)
        guard parts.count == 2, let first = parts.first, first.hasPrefix("p"), let year = Int(first.dropFirst()), let month = Int(parts.last ?? ""),
              (1...12).contains(month), (1970...9999).contains(year) else { return nil }
        self.init(year: year, month: month)
    }

    var suffix: String { "\(year)_" + (month < 10 ? "0\(month)" : "\(month)") }
    var next: Month { Month(year: year, month: month + 1) }
    func adding(_ months: Int) -> Month { Month(year: year, month: month + months) }
    /// The month's first millisecond (years outside the calendar's range clamp to its ends).
    var start: Int64 {
        guard let day = CalendarDay(year: year, month: month, day: 1) else { return year < 1970 ? 0 : Int64.max / 2 }
        return Timestamp(dayNumber: day.number).milliseconds
    }
    var end: Int64 { next.start }

    static func < (lhs: Month, rhs: Month) -> Bool { (lhs.year, lhs.month) < (rhs.year, rhs.month) }
}

extension Int {
    fileprivate func floorDivided(by divisor: Int) -> Int { self >= 0 ? self / divisor : -((-self + divisor - 1) / divisor) }
    fileprivate func floorModulo(_ divisor: Int) -> Int { self - floorDivided(by: divisor) * divisor }
}

extension PostgresStore {
    /// Makes the months around `now` (one behind, two ahead) and the months that rows in a
    /// default partition fall in (at most five years back), moving those rows in; then
    /// drops each plan-data month that ends before every active plan's cutoff. One hub at a
    /// time (a transaction-scoped advisory lock), one transaction per table.
    public func maintainPartitions(now: Timestamp, retention: PartitionRetention) async throws -> PartitionMaintenance {
        var report = PartitionMaintenance()
        let current = Month(containing: now.milliseconds)
        for table in MonthlyPartitionedTable.all {
            let bound: Int64? = switch table.planData {
            case .rawReadings: retention.rawReadingsBefore?.milliseconds
            case .aggregates: retention.aggregatesBefore?.milliseconds
            case nil: nil
            }
            let done = try await write { [logger] connection in
                var made: [String] = [], dropped: [String] = [], moved = 0
                // Hubs sharing the store maintain one at a time: the second waits, then finds it done.
                try await connection.run("SELECT pg_advisory_xact_lock(\(Self.partitionLockKey))", logger)
                var existing = Set<String>()
                for row in try await connection.rows("""
                    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = \(table.name)::regclass
                    """, logger) {
                    existing.insert(try row.text("name"))
                }
                var wanted = Set((-1...2).map { current.adding($0) })
                let range = try await connection.rows("""
                    SELECT MIN(\(identifier: table.column)) AS low, MAX(\(identifier: table.column)) AS high FROM \(identifier: table.defaultPartition)
                    """, logger).first
                if let range, let low: Int64 = try range.optionalInt("low"), let high: Int64 = try range.optionalInt("high") {
                    var month = max(Month(containing: low), current.adding(-60))
                    let last = min(Month(containing: high), current.adding(24))
                    while month <= last {
                        wanted.insert(month)
                        month = month.next
                    }
                }
                for month in wanted.sorted() where !existing.contains(table.partition(month)) {
                    // A month past every plan's retention is not made again to be dropped.
                    if let bound, month.end <= bound { continue }
                    let name = table.partition(month)
                    try await connection.run("CREATE TABLE \(identifier: name) (LIKE \(identifier: table.name) INCLUDING DEFAULTS)", logger)
                    moved += try await connection.run("""
                        WITH leaving AS (DELETE FROM \(identifier: table.defaultPartition)
                                         WHERE \(identifier: table.column) >= \(month.start) AND \(identifier: table.column) < \(month.end) RETURNING *)
                        INSERT INTO \(identifier: name) SELECT * FROM leaving RETURNING 1
                        """, logger)
                    // DDL takes no parameters: the bounds are numbers gbsm computed.
                    try await connection.run("""
                        ALTER TABLE \(identifier: table.name) ATTACH PARTITION \(identifier: name) FOR VALUES FROM (\(unescaped: String(month.start))) TO (\(unescaped: String(month.end)))
                        """, logger)
                    made.append(name)
                }
                if let bound {
                    for name in existing.sorted() {
                        guard let month = Month(suffixOf: name), name == table.partition(month), month.end <= bound else { continue }
                        try await connection.run("DROP TABLE \(identifier: name)", logger)
                        dropped.append(name)
                    }
                }
                return (made, dropped, moved)
            }
            report.made += done.0
            report.dropped += done.1
            report.movedFromDefault += done.2
        }
        return report
    }

    /// The advisory lock partition maintenance takes (any constant no other lock uses).
    static let partitionLockKey: Int64 = 0x6762_736D_7061_7274  // "gbsmpart"
}

/// Interpolation of identifiers gbsm writes itself (table and partition names, never input).
extension PostgresQuery.StringInterpolation {
    mutating func appendInterpolation(identifier: String) {
        precondition(StoreLocation.isPlainIdentifier(identifier), "\(identifier) is not an identifier gbsm makes")
        appendInterpolation(unescaped: identifier)
    }
}
