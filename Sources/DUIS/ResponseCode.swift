/// DUIS response codes gbsm answers with. The synchronous answer and the asynchronous
/// Service Response both carry one.
public enum ResponseCode: String, Sendable, Codable, CaseIterable {
    /// Success.
    case I0
    /// Acknowledged: the request passed access control and was accepted for delivery.
    case I99
    /// The user (business originator) or its role is not a known, valid DCC user, or
    /// the request could not be authenticated.
    case E1
    /// The user's role is not eligible for this Service Request Variant.
    case E2
    /// The user's status does not allow this request.
    case E3
    /// The user's role is not authorised for this device at the date and time required.
    case E4
    /// The device's inventory status is incompatible with the request.
    case E5
    /// The request is not valid for the device's type.
    case E11
    /// The command variant is not valid for the request.
    case E12
    /// The request type is not valid for the web service it was sent to.
    case E13
    /// The local command is not available.
    case E17
    /// The device does not exist in the inventory.
    case E19
    /// DCC cannot communicate with the device.
    case E20
    /// The device did not respond.
    case E21
    /// A future-dated command timed out.
    case E30

    public var isSuccess: Bool { self == .I0 || self == .I99 }

    public var meaning: String {
        switch self {
        case .I0: return "success"
        case .I99: return "acknowledged"
        case .E1: return "user or role invalid, or request not authenticated"
        case .E2: return "role not eligible for the service request"
        case .E3: return "user status does not allow the request"
        case .E4: return "role not authorised for this device at this date and time"
        case .E5: return "device status incompatible with the request"
        case .E11: return "service request not valid for the device type"
        case .E12: return "command variant not valid for the request"
        case .E13: return "request type not valid for this web service"
        case .E17: return "local command not available"
        case .E19: return "device does not exist"
        case .E20: return "cannot communicate with the device"
        case .E21: return "no response from the device"
        case .E30: return "future-dated command timed out"
        }
    }
}
