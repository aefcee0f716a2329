import DUIS

/// What partition maintenance may drop (`HubStore.maintainPartitions`): the time before
/// which no active plan keeps raw readings, and before which none keeps aggregates. Each
/// is the earliest of the plans' own cutoffs, so a month goes whole only when every plan
/// is done with it; nil keeps every month (no active plan to say).
public struct PartitionRetention: Sendable, Hashable {
    public var rawReadingsBefore: Timestamp?
    public var aggregatesBefore: Timestamp?

    public init(rawReadingsBefore: Timestamp?, aggregatesBefore: Timestamp?) {
        self.rawReadingsBefore = rawReadingsBefore
        self.aggregatesBefore = aggregatesBefore
    }
}

/// What one pass of partition maintenance did.
public struct PartitionMaintenance: Sendable, Hashable {
    /// Partitions made (the months ahead, or months rows in a default partition fell in).
    public var made: [String] = []
    /// Partitions dropped whole, past every plan's retention.
    public var dropped: [String] = []
    /// Rows moved from a default partition into the month made for them.
    public var movedFromDefault = 0

    public init() {}
}
