import DUIS

/// A device's answer under a privacy decision: the devices leave out readings from before
/// the data window DCC's command carries (the occupancy's move-in, the consent's period),
/// and DCC takes the readings out of an answer for a data privacy plan.
public enum ResponseFilter {
    /// Removes every log entry (an element whose name ends in `Entry`) whose period
    /// began before `from`. Entries are stamped at the end of the period they cover
    /// (`period` long; 0 for snapshots such as billing data logs, kept only if taken
    /// after `from`), so a day's total that straddles a move-in is withheld whole. An
    /// entry whose time cannot be read is withheld (fail closed). Returns how many were
    /// removed.
    public static func dropEntries(_ node: inout DataNode, before from: Timestamp, period: Int64) -> Int {
        guard from.milliseconds > 0 else { return 0 }
        var removed = 0
        node.children.removeAll { child in
            guard child.name.hasSuffix("Entry") else { return false }
            guard let at = entryTime(child) else {
                removed += 1
                return true
            }
            if period > 0 ? at.milliseconds - period < from.milliseconds : at <= from {
                removed += 1
                return true
            }
            return false
        }
        for index in node.children.indices { removed += dropEntries(&node.children[index], before: from, period: period) }
        return removed
    }

    static let timeNames: Set<String> = ["Timestamp", "TimeStamp", "CaptureTime", "DateTime", "BillingDateTime"]

    static func entryTime(_ entry: DataNode) -> Timestamp? {
        for child in entry.children where timeNames.contains(child.name) {
            if let text = child.text, let time = Timestamp(xsDateTime: text) { return time }
        }
        return nil
    }

    /// The readings of a profile or consumption log, as (start of period, value): Wh for
    /// electricity, litres for gas.
    public static func readings(_ node: DataNode, periodMilliseconds: Int64) -> [(start: Timestamp, value: Int64)] {
        var result: [(Timestamp, Int64)] = []
        func walk(_ node: DataNode) {
            if node.name == "LogEntry", let text = node.children.first(where: { $0.name == "Timestamp" })?.text, let end = Timestamp(xsDateTime: text) {
                if let value = firstValue(node) { result.append((end.adding(milliseconds: -periodMilliseconds), value)) }
                return
            }
            for child in node.children { walk(child) }
        }
        walk(node)
        return result
    }

    /// Cubic metres as whole litres; nil for a value no meter holds (not finite, or beyond
    /// ±10¹² m³), so a device's text can never trap the conversion.
    static func litres(_ cubic: Double) -> Int64? {
        guard cubic.isFinite, cubic.magnitude <= 1e12 else { return nil }
        return Int64(exactly: (cubic * 1000).rounded())
    }

    private static func firstValue(_ entry: DataNode) -> Int64? {
        for child in entry.children where child.name != "Timestamp" {
            if child.name == "Gas", let text = child.children.first?.text, let cubic = Double(text) { return litres(cubic) }
            if child.children.isEmpty, let text = child.text {
                if let value = Int64(text) { return value }
                // Gas logs give cubic metres with decimals.
                if let cubic = Double(text) { return litres(cubic) }
            }
            if let nested = firstValue(child) { return nested }
        }
        return nil
    }
}
