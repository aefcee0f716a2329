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
    /// The archive: everything before `month`.
    func archive(_ month: Month) -> String { "\(name)_before_p\(month.suffix)" }
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

/// What maintenance makes: a month, or the archive of everything before a month.
enum Piece: Hashable, Comparable {
    case archive(before: Month)
    case month(Month)

    func name(_ table: MonthlyPartitionedTable) -> String {
        switch self {
        case .archive(let month): table.archive(month)
        case .month(let month): table.partition(month)
        }
    }
    var start: Int64 {
        switch self {
        case .archive: Int64.min
        case .month(let month): month.start
        }
    }
    var end: Int64 {
        switch self {
        case .archive(let month): month.start
        case .month(let month): month.end
        }
    }
    /// The lower bound as DDL writes it.
    var lowerSQL: String {
        switch self {
        case .archive: "MINVALUE"
        case .month(let month): String(month.start)
        }
    }

    static func < (lhs: Piece, rhs: Piece) -> Bool { (lhs.start, lhs.end) < (rhs.start, rhs.end) }
}

extension Int {
    fileprivate func floorDivided(by divisor: Int) -> Int { self >= 0 ? self / divisor : -((-self + divisor - 1) / divisor) }
    fileprivate func floorModulo(_ divisor: Int) -> Int { self - floorDivided(by: divisor) * divisor }
}

extension PostgresStore {
    /// Makes the months around `now` (one behind, two ahead) and the months that rows in a
    /// default partition fall in, moving those rows in; rows older than five years go to
    /// one archive partition (`_before_pYYYY_MM`, everything before that month), made
    /// once. Then drops each plan-data month (or archive) that ends before every active
    /// plan's cutoff. Each month is one short transaction under a transaction-scoped
    /// advisory lock (hubs take turns) that locks the default partition against writes
    /// while its rows move, so no row can land there between the move and the attach.
    public func maintainPartitions(now: Timestamp, retention: PartitionRetention) async throws -> PartitionMaintenance {
        var report = PartitionMaintenance()
        let current = Month(containing: now.milliseconds)
        for table in MonthlyPartitionedTable.all {
            let bound: Int64? = switch table.planData {
            case .rawReadings: retention.rawReadingsBefore?.milliseconds
            case .aggregates: retention.aggregatesBefore?.milliseconds
            case nil: nil
            }
            let (existing, low, high) = try await read { [logger] connection in
                var existing = Set<String>()
                for row in try await connection.rows("""
                    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = \(table.name)::regclass
                    """, logger) {
                    existing.insert(try row.text("name"))
                }
                let range = try await connection.rows("""
                    SELECT MIN(\(identifier: table.column)) AS low, MAX(\(identifier: table.column)) AS high FROM \(identifier: table.defaultPartition)
                    """, logger).first
                let low: Int64? = try range?.optionalInt("low")
                let high: Int64? = try range?.optionalInt("high")
                return (existing, low, high)
            }
            // The archive's month: everything before it is archived.
            let archived = existing.compactMap { name in Month(suffixOf: name).flatMap { name == table.archive($0) ? $0 : nil } }.max()
            var pieces: [Piece] = (-1...2).map { .month(current.adding($0)) }
            if let low, let high {
                var first = Month(containing: low)
                if let archived {
                    first = max(first, archived)
                } else if first < current.adding(-60) {
                    pieces.append(.archive(before: current.adding(-60)))
                    first = current.adding(-60)
                }
                var month = first
                let last = min(Month(containing: high), current.adding(24))
                while month <= last {
                    pieces.append(.month(month))
                    month = month.next
                }
            }
            for piece in Set(pieces).sorted() where !existing.contains(piece.name(table)) {
                // A piece past every plan's retention is not made to be dropped.
                if let bound, piece.end <= bound { continue }
                let moved = try await write { [logger] connection -> Int? in
                    try await connection.run("SELECT pg_advisory_xact_lock(\(Self.partitionLockKey))", logger)
                    let name = piece.name(table)
                    if try await connection.rows("SELECT to_regclass(\(name))::TEXT AS found", logger).first?.optionalText("found") != nil { return nil }
                    try await connection.run("LOCK TABLE \(identifier: table.defaultPartition) IN EXCLUSIVE MODE", logger)
                    try await connection.run("CREATE TABLE \(identifier: name) (LIKE \(identifier: table.name) INCLUDING DEFAULTS)", logger)
                    let moved = try await connection.run("""
                        WITH leaving AS (DELETE FROM \(identifier: table.defaultPartition)
                                         WHERE \(identifier: table.column) >= \(piece.start) AND \(identifier: table.column) < \(piece.end) RETURNING *)
                        INSERT INTO \(identifier: name) SELECT * FROM leaving RETURNING 1
                        """, logger)
                    // DDL takes no parameters: the bounds are numbers gbsm computed.
                    try await connection.run("""
                        ALTER TABLE \(identifier: table.name) ATTACH PARTITION \(identifier: name) FOR VALUES FROM (\(unescaped: piece.lowerSQL)) TO (\(unescaped: String(piece.end)))
                        """, logger)
                    return moved
                }
                if let moved {
                    report.made.append(piece.name(table))
                    report.movedFromDefault += moved
                }
            }
            guard let bound else { continue }
            for name in existing.sorted() {
                guard let month = Month(suffixOf: name) else { continue }
                let end: Int64
                if name == table.partition(month) {
                    end = month.end
                } else if name == table.archive(month) {
                    end = month.start
                } else {
                    continue
                }
                guard end <= bound else { continue }
                let dropped = try await write { [logger] connection -> Bool in
                    try await connection.run("SELECT pg_advisory_xact_lock(\(Self.partitionLockKey))", logger)
                    guard try await connection.rows("SELECT to_regclass(\(name))::TEXT AS found", logger).first?.optionalText("found") != nil else { return false }
                    try await connection.run("DROP TABLE \(identifier: name)", logger)
                    return true
                }
                if dropped { report.dropped.append(name) }
            }
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
