import Foundation
import DUIS

/// One decision about a household's data, as the consumer sees it in "who accessed my
/// data": who asked, for what, under which rule, and what they got.
public struct DataAccess: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// The readings went to the user.
        case released
        /// The readings went into a data privacy plan's aggregation only.
        case aggregated
        /// The rules refused the request.
        case refused
        /// The rules would have refused it; the hub runs with `--privacy dcc` (audit only).
        case allowedAuditOnly = "allowed-audit-only"
    }

    public var id: Int64
    public var premises: Int64
    public var occupancy: Int
    public var at: Timestamp
    public var party: EUI64
    public var role: String
    public var srv: String
    public var granularity: Granularity
    public var outcome: Outcome
    public var rule: String
    public var detail: String
    public var requestID: String?

    public init(id: Int64 = 0, premises: Int64, occupancy: Int, at: Timestamp, party: EUI64, role: String, srv: String, granularity: Granularity,
                outcome: Outcome, rule: String, detail: String, requestID: String?) {
        self.id = id
        self.premises = premises
        self.occupancy = occupancy
        self.at = at
        self.party = party
        self.role = role
        self.srv = srv
        self.granularity = granularity
        self.outcome = outcome
        self.rule = rule
        self.detail = detail
        self.requestID = requestID
    }
}

/// The consumer portal's secrets: the per-premises code an IHD shows, and one-use links.
/// Only their SHA-256 is stored.
public enum PortalSecrets {
    /// Crockford's base-32 letters (no I, L, O or U): easy to read off a small screen.
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    public static func issue() -> (code: String, token: String) {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<8).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] }
        let code = String(characters.prefix(4)) + "-" + String(characters.suffix(4))
        let token = (0..<32).map { _ in String(format: "%02x", generator.next(upperBound: UInt32(256))) }.joined()
        return (code, token)
    }

    /// The code as typed: case, spaces and dashes do not matter; O reads as 0, I and L as 1.
    public static func normalise(_ text: String) -> String {
        String(text.uppercased().compactMap { character -> Character? in
            switch character {
            case "-", " ": return nil
            case "O": return "0"
            case "I", "L": return "1"
            default: return character
            }
        })
    }
}
