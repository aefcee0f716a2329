import DUIS

/// Formats device values as the Message Mapping Catalogue writes them.
public enum DeviceFormat {
    /// Litres as cubic metres with three decimals.
    public static func cubicMetres(_ litres: Int64) -> String {
        let sign = litres < 0 ? "-" : ""
        let magnitude = litres.magnitude
        let fraction = String(magnitude % 1000)
        return sign + String(magnitude / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A UTC time of day, `hh:mm:ss.00Z`.
    public static func time(minutes: Int) -> String {
        let hour = (minutes / 60) % 24
        let minute = minutes % 60
        return (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute) + ":00.00Z"
    }

    /// Minutes from midnight of an `xs:time` such as `17:00:00.00Z`.
    public static func minutes(ofTime text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count >= 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return hour * 60 + minute
    }

    public static func bool(_ value: Bool) -> String { value ? "true" : "false" }
}
