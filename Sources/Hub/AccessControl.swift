import DUIS
import Storage

/// A request refused with a DUIS response code, the rule that decided it and a text
/// saying why. Every refusal is audited with its rule.
public struct Refusal: Error, Sendable, CustomStringConvertible {
    public let code: ResponseCode
    public let rule: RuleID
    public let reason: String

    public init(_ code: ResponseCode, rule: RuleID, _ reason: String) {
        self.code = code
        self.rule = rule
        self.reason = reason
    }

    public var description: String { "\(code.rawValue) [\(rule)] \(reason)" }
}

/// What access control decided for an authenticated request.
public struct AccessDecision: Sendable {
    /// The role the user acts in for this request.
    public let role: UserRole
    /// The target device, for device requests.
    public let device: DeviceRecord?
    /// Why it was allowed, for the audit log.
    public let rule: String
}

/// Role and device authorisation (DUIS access control): user status (E3), command
/// variant and web service (E12, E13), role eligibility for the SRV (E2), the target
/// device's existence (E19), type (E11), the user's registration for it at the
/// execution time (E4) and its inventory status (E5).
public struct AccessControl: Sendable {
    public let dccEUI: EUI64
    let inventory: Inventory

    public init(dccEUI: EUI64, inventory: Inventory) {
        self.dccEUI = dccEUI
        self.inventory = inventory
    }

    /// SRVs a device may receive while installed but not yet commissioned (the install
    /// and commission flows), besides everything a commissioned device receives.
    static let installationSRVs: Set<SRV> = [
        "8.1.1", "8.7.1", "8.7.2", "8.8.1", "8.8.2", "8.9", "8.11", "8.12.1", "8.12.2", "6.11", "6.15.1", "6.15.2", "6.17",
        "6.21", "6.23", "6.24.1", "6.24.2", "6.2.4", "6.28", "6.29", "6.30", "6.31", "6.32", "11.2",
    ]

    public func decide(header: RequestHeader, user: UserRecord, service: DUISService, at time: Timestamp) throws(Refusal) -> AccessDecision {
        let variant = header.variant
        guard user.status == .active else {
            throw Refusal(.E3, rule: .userStatus, "user \(user.eui) is \(user.status.rawValue); only active users may send requests")
        }
        guard let commandVariant = header.commandVariant else {
            throw Refusal(.E12, rule: .commandVariantRange, "CommandVariant \"\(header.commandVariantText)\" is not one of 1 to 8")
        }
        guard variant.commandVariants.contains(commandVariant.rawValue) else {
            let allowed = variant.commandVariants.sorted().map(String.init).joined(separator: ", ")
            throw Refusal(.E12, rule: .commandVariantSrv, "command variant \(commandVariant.rawValue) is not valid for \(variant.srv) \(variant.name) (valid: \(allowed))")
        }
        guard commandVariant.service == service else {
            throw Refusal(.E13, rule: .webService, "command variant \(commandVariant.rawValue) belongs on the \(commandVariant.service.title) (\(commandVariant.service.path)), not the \(service.title) (\(service.path))")
        }
        let eligible = user.roles.intersection(variant.eligibleRoles)
        guard let firstEligible = eligible.first(where: { _ in true }) else {
            let allowed = variant.eligibleRoles.isEmpty ? "no role" : variant.eligibleRoles.codes
            throw Refusal(.E2, rule: .roleEligibility, "\(variant.srv) \(variant.name) may be sent by \(allowed); user \(user.eui) holds \(user.roles.codes)")
        }

        if variant.isNonDevice {
            guard header.requestID.target == dccEUI else {
                throw Refusal(.E19, rule: .nonDeviceTarget, "non-device requests are addressed to DCC (\(dccEUI)), not \(header.requestID.target)")
            }
            return AccessDecision(role: firstEligible, device: nil, rule: "non-device: \(firstEligible.rawValue) eligible for \(variant.srv)")
        }

        guard let device = inventory.device(header.requestID.target) else {
            throw Refusal(.E19, rule: .deviceExists, "device \(header.requestID.target) is not in the inventory")
        }
        guard variant.deviceTypes.contains(device.type) else {
            let types = variant.deviceTypes.map(\.rawValue).joined(separator: ", ")
            throw Refusal(.E11, rule: .deviceType, "\(variant.srv) \(variant.name) applies to \(types), not to \(device.type.rawValue) \(device.eui)")
        }
        var authorised: UserRole?
        var rule = ""
        for role in eligible {
            if let reason = authorisation(role: role, user: user.eui, device: device, at: time) {
                authorised = role
                rule = reason
                break
            }
        }
        guard let role = authorised else {
            let mpxns = inventory.accessMPxNs(for: device).map(\.mpxn)
            let over = mpxns.isEmpty ? "the device has no MPAN or MPRN" : "registered parties for \(mpxns.joined(separator: ", ")) differ"
            throw Refusal(.E4, rule: .deviceAuthorisation, "user \(user.eui) as \(eligible.codes) is not authorised for \(device.type.rawValue) \(device.eui) at \(time.iso8601): \(over)")
        }
        let statusAllowed: Bool
        switch device.status {
        case .commissioned: statusAllowed = true
        case .installedNotCommissioned, .whitelisted: statusAllowed = Self.installationSRVs.contains(variant.srv)
        default: statusAllowed = false
        }
        guard statusAllowed, !device.optedOut else {
            let state = device.optedOut ? "opted out of DCC services" : device.status.rawValue
            throw Refusal(.E5, rule: .deviceStatus, "device \(device.eui) is \(state); \(variant.srv) needs a commissioned device")
        }
        return AccessDecision(role: role, device: device, rule: rule)
    }

    /// Why `user` acting as `role` may address `device` at `time`, or nil.
    func authorisation(role: UserRole, user: EUI64, device: DeviceRecord, at time: Timestamp) -> String? {
        switch role {
        case .ou:
            return "OU: other users may address any device (consent rules apply to data)"
        case .dcc:
            return "DCC: communications hub operations"
        default:
            break
        }
        for (mpxn, fuel) in inventory.accessMPxNs(for: device) {
            let needed: UserRole?
            switch (role, fuel) {
            case (.is, .electricity), (.ed, .electricity), (.gs, .gas), (.gt, .gas), (.es, .export), (.ed, .export): needed = role
            case (.rsa, _): needed = .rsa
            default: needed = nil
            }
            guard let needed else { continue }
            if inventory.registrations(mpxn: mpxn).contains(where: { $0.role == needed && $0.party == user && $0.covers(time) }) {
                return "\(role.rawValue): registered for \(mpxn) at \(time.iso8601)"
            }
        }
        return nil
    }
}
