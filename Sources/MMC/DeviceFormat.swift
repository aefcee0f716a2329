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

    /// Minutes from midnight of an `xs:time` such as `17:00:00.00Z` (`CommandBodyRules`'
    /// reading, so the gateway and the devices read a time alike).
    public static func minutes(ofTime text: String) -> Int? { CommandBodyRules.minutes(ofTime: text) }

    public static func bool(_ value: Bool) -> String { value ? "true" : "false" }
}
