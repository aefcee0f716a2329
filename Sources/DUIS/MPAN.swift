/// MPAN cores: two digits of distributor ID, ten of meter point identifier, one check
/// digit (the weighted sum of the first twelve digits with the primes 3 to 43 without
/// 11, modulo 11, modulo 10).
public enum MPAN {
    static let weights: [Int] = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43]

    public static func checkDigit(_ twelveDigits: some Collection<UInt8>) -> Int {
        var sum = 0
        for (digit, weight) in zip(twelveDigits, weights) { sum += Int(digit - 48) * weight }
        return (sum % 11) % 10
    }

    /// The core for a distributor and a meter point identifier below 10^10.
    public static func make(distributor: Int, identifier: UInt64) -> String {
        var digits = [UInt8](repeating: 48, count: 13)
        digits[0] = UInt8(48 + distributor / 10)
        digits[1] = UInt8(48 + distributor % 10)
        var value = identifier
        for index in stride(from: 11, through: 2, by: -1) {
            digits[index] = UInt8(48 + value % 10)
            value /= 10
        }
        digits[12] = UInt8(48 + checkDigit(digits[0..<12]))
        return String(decoding: digits, as: UTF8.self)
    }

    /// Distributor and identifier of a well-formed core with a valid check digit.
    public static func parse(_ text: String) -> (distributor: Int, identifier: UInt64)? {
        let digits = Array(text.utf8)
        guard digits.count == 13, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        guard Int(digits[12] - 48) == checkDigit(digits[0..<12]) else { return nil }
        let distributor = Int(digits[0] - 48) * 10 + Int(digits[1] - 48)
        var identifier: UInt64 = 0
        for digit in digits[2..<12] { identifier = identifier * 10 + UInt64(digit - 48) }
        return (distributor, identifier)
    }

    public static func isValid(_ text: String) -> Bool { parse(text) != nil }
}
