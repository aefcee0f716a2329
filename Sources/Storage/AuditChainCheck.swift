/// The check of an audit log that both backends run over their entries in sequence order:
/// every entry links to the one before it and matches its hash, none is missing, and each
/// complete block's summary is rebuilt from its entries and compared with the stored one
/// (a summary that hides an entry from queries is a problem too). The backends read the
/// entries and the recorded head, each its own way; what counts as a problem is here once.
struct AuditChainCheck {
    /// Reading stops once this many problems are found.
    static let problemLimit = 100

    let salt: UInt64
    /// The stored summaries by block, as read (nil: unreadable), not yet matched to a block.
    private var stored: [Int64: AuditBlockSummary?]
    private(set) var problems: [String] = []
    private(set) var count: Int64 = 0
    private var previous = AuditChain.genesis
    private var expected: Int64 = 1
    private var blockEntries: [AuditBlockSummary.Entry] = []

    init(salt: UInt64, stored: [Int64: AuditBlockSummary?]) {
        self.salt = salt
        self.stored = stored
    }

    /// Checks the next entry; false once enough problems are found to stop reading.
    mutating func check(_ entry: AuditEntry) -> Bool {
        count += 1
        blockEntries.append(AuditBlockSummary.Entry(at: entry.event.at.milliseconds, actor: entry.event.actor.map(sqlValue),
                                                    device: entry.event.device.map(sqlValue), srv: entry.event.srv,
                                                    kind: entry.event.kind.rawValue, requestID: entry.event.requestID))
        if entry.sequence % AuditBlockSummary.size == 0 {
            let block = AuditBlockSummary.block(of: entry.sequence)
            let rebuilt = AuditBlockSummary(block: block, entries: blockEntries, salt: salt)
            switch stored.removeValue(forKey: block) {
            case .none: problems.append("block \(block) of the log (entries to \(entry.sequence)) has no summary")
            case .some(let summary) where summary != rebuilt:
                problems.append("the summary of block \(block) (entries to \(entry.sequence)) does not match its entries: queries may miss them")
            default: break
            }
            blockEntries = []
        }
        if entry.sequence != expected { problems.append("entries \(expected)…\(entry.sequence - 1) are missing (deleted)") }
        if entry.previousHash != previous { problems.append("entry \(entry.sequence) does not link to the entry before it") }
        if AuditChain.hash(previous: entry.previousHash, sequence: entry.sequence, event: entry.event) != entry.hash {
            problems.append("entry \(entry.sequence) was altered (its hash does not match its content)")
        }
        previous = entry.hash
        expected = entry.sequence &+ 1
        return problems.count <= Self.problemLimit
    }

    /// After the last entry: summaries of blocks the log does not fill are problems, and
    /// the head the entries end at (sequence:hash).
    mutating func finish() -> String {
        if problems.count <= Self.problemLimit {
            for block in stored.keys.sorted().prefix(10) { problems.append("a summary names block \(block), which the log does not fill") }
        }
        return count == 0 ? "0:\(AuditChain.hex(AuditChain.genesis))" : "\(expected &- 1):\(AuditChain.hex(previous))"
    }

    /// Compares the head the entries end at with the recorded one (nil: none recorded).
    mutating func compare(head actualHead: String, recorded: String?) {
        if let recorded, recorded != actualHead, problems.isEmpty {
            problems.append("the log ends at \(actualHead) but its recorded head is \(recorded) (entries removed from the end)")
        } else if recorded == nil, count > 0 {
            problems.append("the recorded head of the log is missing")
        }
    }

    /// The outcome, once `finish` and `compare` have run.
    func verification(head: String) -> AuditVerification { AuditVerification(entries: count, problems: problems, head: head) }

    /// Adds a problem the backend found itself.
    mutating func report(_ problem: String) { problems.append(problem) }
}
