/// DCC user roles as DUIS names them. `dcc` is DCC itself acting as a user for its own
/// communications hub operations.
public enum UserRole: String, CaseIterable, Sendable, Codable, Comparable {
    case `is` = "IS", es = "ES", gs = "GS", ed = "ED", gt = "GT", ou = "OU", rsa = "RSA", dcc = "DCC"

    public var title: String {
        switch self {
        case .is: return "Import Supplier"
        case .es: return "Export Supplier"
        case .gs: return "Gas Supplier"
        case .ed: return "Electricity Distributor"
        case .gt: return "Gas Transporter"
        case .ou: return "Other User"
        case .rsa: return "Registered Supplier Agent"
        case .dcc: return "DCC"
        }
    }

    var bit: UInt16 { 1 << UInt16(UserRole.allCases.firstIndex(of: self) ?? 0) }

    public static func < (lhs: UserRole, rhs: UserRole) -> Bool { lhs.bit < rhs.bit }
}

/// A set of roles as a bit mask.
public struct UserRoleSet: Hashable, Sendable, ExpressibleByArrayLiteral, Sequence {
    public var mask: UInt16
    public init(mask: UInt16) { self.mask = mask }
    public init(arrayLiteral elements: UserRole...) { self.init(elements) }
    public init(_ roles: some Sequence<UserRole>) { mask = roles.reduce(0) { $0 | $1.bit } }
    public func contains(_ role: UserRole) -> Bool { mask & role.bit != 0 }
    public var isEmpty: Bool { mask == 0 }
    public func intersection(_ other: UserRoleSet) -> UserRoleSet { UserRoleSet(mask: mask & other.mask) }
    public func makeIterator() -> IndexingIterator<[UserRole]> { UserRole.allCases.filter(contains).makeIterator() }
    public var codes: String { map(\.rawValue).joined(separator: ",") }
}

/// The CSP regions of the SM WAN: Arqiva's long range radio in the North, cellular in the
/// Central and South regions.
public enum CSPRegion: String, Sendable, Codable, CaseIterable {
    case north = "North", central = "Central", south = "South"
}

/// Device types of the Smart Metering Inventory.
public enum DeviceType: String, CaseIterable, Sendable, Codable {
    case esme = "ESME", gsme = "GSME", chf = "CHF", gpf = "GPF", ihd = "IHD", ppmid = "PPMID", hcalcs = "HCALCS", cad = "CAD"

    var bit: UInt8 { 1 << UInt8(DeviceType.allCases.firstIndex(of: self) ?? 0) }
}

public struct DeviceTypeSet: Hashable, Sendable, ExpressibleByArrayLiteral, Sequence {
    public var mask: UInt8
    public init(arrayLiteral elements: DeviceType...) { mask = elements.reduce(0) { $0 | $1.bit } }
    public func contains(_ type: DeviceType) -> Bool { mask & type.bit != 0 }
    public var isEmpty: Bool { mask == 0 }
    public func makeIterator() -> IndexingIterator<[DeviceType]> { DeviceType.allCases.filter(contains).makeIterator() }
}

/// The eight DUIS command variants and the web service each belongs to.
public enum CommandVariant: Int, Sendable, CaseIterable, Codable {
    case nonCriticalWAN = 1, nonCriticalLocal = 2, nonCriticalWANAndLocal = 3
    case criticalTransform = 4
    case signedPreCommandWAN = 5, signedPreCommandLocal = 6, signedPreCommandWANAndLocal = 7
    case nonDevice = 8

    public var service: DUISService {
        switch self {
        case .nonCriticalWAN, .nonCriticalWANAndLocal, .signedPreCommandWAN, .signedPreCommandWANAndLocal: return .sendCommand
        case .nonCriticalLocal, .signedPreCommandLocal, .nonDevice: return .nonDevice
        case .criticalTransform: return .transform
        }
    }

    /// Variants 4 to 7 carry critical commands, which need GBCS.
    public var isCritical: Bool { (4...7).contains(rawValue) }

    /// Command variants 5, 6 and 7: the body is a signed pre-command, sent under the
    /// RequestID of the transform request that issued it.
    public var sendsSignedPreCommand: Bool { (5...7).contains(rawValue) }
}

/// The three DUIS web services and the paths DCC Boxed serves them on.
public enum DUISService: String, Sendable, CaseIterable {
    case sendCommand = "S", nonDevice = "D", transform = "T"

    public var path: String { "/api/v1/service" + rawValue }

    public var title: String {
        switch self {
        case .sendCommand: return "Send Command Service"
        case .nonDevice: return "Non-Device Service"
        case .transform: return "Transform Service"
        }
    }
}

/// How a future-dated request's outcome is reported.
public enum FutureDating: String, Sendable {
    case none, dsp, device, dspAndDevice
}

/// One Service Request Variant (SRV) and the rules DCC applies to it.
public struct ServiceRequestVariant: Hashable, Sendable, CustomStringConvertible {
    public let srv: SRV
    public let serviceReference: String
    public let name: String
    public let isCritical: Bool
    public let isOnDemand: Bool
    public let futureDating: FutureDating
    public let isDCCSchedulable: Bool
    public let isNonDevice: Bool
    public let eligibleRoles: UserRoleSet
    public let deviceTypes: DeviceTypeSet
    /// The request body element for command variants 1 to 4 and 8.
    public let bodyElement: String
    public let commandVariants: Set<Int>

    init(_ srv: SRV, _ serviceReference: String, _ name: String, critical: Bool, onDemand: Bool, futureDating: FutureDating,
         dccSchedulable: Bool, nonDevice: Bool, roles: UserRoleSet, devices: DeviceTypeSet, body: String, variants: [Int]) {
        self.srv = srv
        self.serviceReference = serviceReference
        self.name = name
        self.isCritical = critical
        self.isOnDemand = onDemand
        self.futureDating = futureDating
        self.isDCCSchedulable = dccSchedulable
        self.isNonDevice = nonDevice
        self.eligibleRoles = roles
        self.deviceTypes = devices
        self.bodyElement = body
        self.commandVariants = Set(variants)
    }

    public var description: String { "\(srv) \(name)" }

    /// The body element expected for a command variant: signed pre-commands (5 to 7)
    /// carry `SignedPreCommand` instead of the request's own element.
    public func expectedBody(for variant: CommandVariant) -> String {
        switch variant {
        case .signedPreCommandWAN, .signedPreCommandLocal, .signedPreCommandWANAndLocal: return "SignedPreCommand"
        default: return bodyElement
        }
    }
}

/// Lookup of the 129 SRVs.
public enum ServiceCatalogue {
    public static let all: [ServiceRequestVariant] = table

    private static let index: [SRV: ServiceRequestVariant] = Dictionary(uniqueKeysWithValues: table.map { ($0.srv, $0) })

    public static func variant(_ srv: SRV) -> ServiceRequestVariant? { index[srv] }

    /// The variant named by text from outside (a request's `ServiceReferenceVariant`, a
    /// command line): nil unless it is an SRV DUIS defines.
    public static func variant(text: some StringProtocol) -> ServiceRequestVariant? { SRV(text).flatMap { index[$0] } }
}
