/// Meter point reference numbers for gas: gbsm's are ten digits, eight of body and two
/// check digits (the body's digits weighted n down to 1, summed, modulo 11).
public enum MPRN {
    public static func checkDigits(_ body: some Collection<UInt8>) -> Int {
        var sum = 0
        var weight = body.count
        for digit in body {
            sum += Int(digit - 48) * weight
            weight -= 1
        }
        return sum % 11
    }

    public static func make(body: UInt64) -> String {
        var digits = [UInt8](repeating: 48, count: 10)
        var value = body
        for index in stride(from: 7, through: 0, by: -1) {
            digits[index] = UInt8(48 + value % 10)
            value /= 10
        }
        let check = checkDigits(digits[0..<8])
        digits[8] = UInt8(48 + check / 10)
        digits[9] = UInt8(48 + check % 10)
        return String(decoding: digits, as: UTF8.self)
    }

    public static func parse(_ text: String) -> UInt64? {
        let digits = Array(text.utf8)
        guard digits.count == 10, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        let check = Int(digits[8] - 48) * 10 + Int(digits[9] - 48)
        guard check == checkDigits(digits[0..<8]) else { return nil }
        return digits[0..<8].reduce(0) { $0 * 10 + UInt64($1 - 48) }
    }
}
