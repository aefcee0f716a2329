import DUIS

/// An affine bijection on 0..<modulus, so identifiers look scattered yet map back to the
/// premises index without a table.
public struct Scatter: Sendable {
    public let modulus: UInt64
    let multiplier: UInt64
    let inverse: UInt64
    let offset: UInt64

    public init(modulus: UInt64, multiplier: UInt64, offset: UInt64) {
        precondition(modulus > 1 && modulus < 1 << 62)
        self.modulus = modulus
        self.multiplier = multiplier % modulus
        self.offset = offset % modulus
        inverse = Self.modularInverse(multiplier % modulus, modulus)
    }

    public func apply(_ value: UInt64) -> UInt64 {
        (Self.mulmod(value % modulus, multiplier, modulus) + offset) % modulus
    }

    public func invert(_ value: UInt64) -> UInt64 {
        Self.mulmod((value % modulus + modulus - offset) % modulus, inverse, modulus)
    }

    static func mulmod(_ a: UInt64, _ b: UInt64, _ m: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        return m.dividingFullWidth((high, low)).remainder
    }

    static func modularInverse(_ a: UInt64, _ m: UInt64) -> UInt64 {
        var (oldR, r) = (Int128(a), Int128(m))
        var (oldS, s) = (Int128(1), Int128(0))
        while r != 0 {
            let quotient = oldR / r
            (oldR, r) = (r, oldR - quotient * r)
            (oldS, s) = (s, oldS - quotient * s)
        }
        precondition(oldR == 1, "multiplier and modulus must be coprime")
        let result = oldS % Int128(m)
        return UInt64(result < 0 ? result + Int128(m) : result)
    }
}

/// The devices of one premises, by slot. Fleet EUIs put the premises index and the slot
/// into a locally administered EUI-64 (first octet 0x42), so a device's premises follows
/// from its EUI alone.
public enum DeviceSlot: UInt8, Sendable, CaseIterable, Codable {
    case esme = 0, gsme = 1, chf = 2, gpf = 3, ihd = 4, ppmid = 5, hcalcs = 6
    case cad1 = 8, cad2 = 9, cad3 = 10, cad4 = 11

    public var deviceType: DeviceType {
        switch self {
        case .esme: return .esme
        case .gsme: return .gsme
        case .chf: return .chf
        case .gpf: return .gpf
        case .ihd: return .ihd
        case .ppmid: return .ppmid
        case .hcalcs: return .hcalcs
        case .cad1, .cad2, .cad3, .cad4: return .cad
        }
    }

    public static let cads: [DeviceSlot] = [.cad1, .cad2, .cad3, .cad4]
}

public enum FleetEUI {
    public static let prefix: UInt64 = 0x42

    public static func make(index: Int, slot: DeviceSlot) -> EUI64 {
        EUI64(prefix << 56 | UInt64(index) << 4 | UInt64(slot.rawValue))
    }

    /// The premises index and slot of a fleet EUI.
    public static func parse(_ eui: EUI64) -> (index: Int, slot: DeviceSlot)? {
        guard eui.rawValue >> 56 == prefix, let slot = DeviceSlot(rawValue: UInt8(eui.rawValue & 0xF)) else { return nil }
        return (Int((eui.rawValue & 0x00FF_FFFF_FFFF_FFFF) >> 4), slot)
    }
}

/// A prepayment top-up token as GBCS lays it out: 20 digits, a 19-digit PPTD (a fixed
/// base plus the 64-bit PTUT) and a Verhoeff check digit computed with GBCS's tables.
/// The PTUT's upper half carries ten bits of the originator counter (bits 32 to 41), the
/// value class (pennies or pounds) and a 13-bit value; its lower half is a truncated MAC.
public struct UTRN: Sendable, Hashable, CustomStringConvertible {
    static let base: UInt64 = 7_394_156_990_786_306_048

    public enum ValueClass: UInt8, Sendable { case pennies = 0, pounds = 1 }

    public let digits: String
    public let counterBits: UInt16
    public let valueClass: ValueClass
    public let value: UInt16
    public let mac: UInt32

    /// The amount in pence.
    public var pence: Int { valueClass == .pounds ? Int(value) * 100 : Int(value) }

    public var description: String { digits }

    public enum DecodeError: Error, CustomStringConvertible {
        case notTwentyDigits, badCheckDigit, outOfRange, reservedBitsSet, unknownValueClass

        public var description: String {
            switch self {
            case .notTwentyDigits: return "a UTRN is 20 decimal digits"
            case .badCheckDigit: return "the UTRN's check digit is wrong"
            case .outOfRange: return "the UTRN is outside the range of prepayment top-up tokens"
            case .reservedBitsSet: return "the UTRN's reserved bits are set"
            case .unknownValueClass: return "the UTRN's value class is not pennies or pounds"
            }
        }
    }

    public init(_ text: String) throws(DecodeError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes.allSatisfy({ (48...57).contains($0) }) else { throw .notTwentyDigits }
        guard Self.checkDigit(bytes[0..<19]) == bytes[19] - 48 else { throw .badCheckDigit }
        var pptd: UInt64 = 0
        for digit in bytes[0..<19] {
            let (product, overflow) = pptd.multipliedReportingOverflow(by: 10)
            guard !overflow else { throw .outOfRange }
            pptd = product + UInt64(digit - 48)
        }
        guard pptd >= Self.base else { throw .outOfRange }
        let ptut = pptd - Self.base
        let high = UInt32(ptut >> 32)
        guard high >> 25 == 0 else { throw .reservedBitsSet }
        guard let valueClass = ValueClass(rawValue: UInt8((high >> 13) & 0x3)) else { throw .unknownValueClass }
        self.digits = text
        self.counterBits = UInt16((high >> 15) & 0x3FF)
        self.valueClass = valueClass
        self.value = UInt16(high & 0x1FFF)
        self.mac = UInt32(truncatingIfNeeded: ptut)
    }

    /// A UTRN for a counter (its bits 32 to 41 are carried) and a value. Without the
    /// devices' key agreement keys (the GBCS step of gbsm) the MAC is computed from the
    /// fields alone, so it authenticates nothing.
    public static func make(counter: UInt64, valueClass: ValueClass, value: UInt16, mac: UInt32) -> String {
        let high = UInt64((counter >> 32) & 0x3FF) << 15 | UInt64(valueClass.rawValue) << 13 | UInt64(value & 0x1FFF)
        let pptd = base + (high << 32 | UInt64(mac))
        var digits = Array(String(pptd).utf8)
        while digits.count < 19 { digits.insert(48, at: 0) }
        digits.append(48 + checkDigit(digits[0..<19]))
        return String(decoding: digits, as: UTF8.self)
    }

    /// The full originator counter the token stands for: the smallest counter above
    /// `floor` whose bits 32 to 41 are the token's (GBCS top-up counters step in units
    /// of 2^32).
    public func counter(above floor: UInt64) -> UInt64 {
        let span: UInt64 = 1 << 42
        let base = floor & ~(span - 1)
        var candidate = base | UInt64(counterBits) << 32
        while candidate <= floor { candidate &+= span }
        return candidate
    }

    // GBCS's Verhoeff tables: permutation, dihedral multiplication and inverse.
    private static let permutation: [[UInt8]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]
    private static let multiplication: [[UInt8]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
    private static let inverse: [UInt8] = [1, 2, 6, 7, 5, 8, 3, 0, 9, 4]

    static func checkDigit(_ digits: some Collection<UInt8>) -> UInt8 {
        var check: UInt8 = 0
        var row = 4
        for digit in digits {
            check = multiplication[Int(check)][Int(permutation[row][Int(digit - 48)])]
            row = (row + 1) % 8
        }
        return inverse[Int(check)]
    }
}
