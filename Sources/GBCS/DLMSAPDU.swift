/// The DLMS COSEM APDUs GBCS carries in a message's content: ACCESS-Request (commands,
/// tag D9), ACCESS-Response (answers, DA) and DATA-NOTIFICATION (alerts, 0F), each with a
/// long invoke ID (GBCS puts its own 4 octets there) and a date-time GBCS leaves empty.
public enum DLMSAPDU: Sendable, Equatable {
    case accessRequest(AccessRequest)
    case accessResponse(AccessResponse)
    case dataNotification(DataNotification)

    static let accessRequestTag: UInt8 = 0xD9
    static let accessResponseTag: UInt8 = 0xDA
    static let dataNotificationTag: UInt8 = 0x0F

    /// A COSEM object's attribute (get, set) or method (action): its interface class, its
    /// OBIS logical name and the attribute or method number.
    public struct Descriptor: Sendable, Equatable, CustomStringConvertible {
        public var classID: UInt16
        /// The OBIS code, 6 octets.
        public var instance: [UInt8]
        public var member: Int8

        public init(classID: UInt16, instance: [UInt8], member: Int8) {
            self.classID = classID
            self.instance = instance
            self.member = member
        }

        /// `class/a.b.c.d.e.f/member`.
        public var description: String {
            "\(classID)/" + instance.map(String.init).joined(separator: ".") + "/\(member)"
        }

        static func decode(_ reader: inout ByteReader) throws(GBCSError) -> Descriptor {
            let classID = UInt16(truncatingIfNeeded: try reader.uint(2))
            let instance = try reader.bytes(6)
            let member = Int8(bitPattern: try reader.byte())
            return Descriptor(classID: classID, instance: instance, member: member)
        }

        func encode(into writer: inout ByteWriter) {
            writer.uint(UInt64(classID), width: 2)
            writer.append(instance)
            writer.byte(UInt8(bitPattern: member))
        }
    }

    /// One request in an ACCESS-Request: get, set or action on an object, or a get or set
    /// with selective access (a selector and its parameters, for profile ranges).
    public enum RequestSpecification: Sendable, Equatable {
        case get(Descriptor)
        case set(Descriptor)
        case action(Descriptor)
        case getWithSelection(Descriptor, selector: UInt8, parameters: DLMSData)
        case setWithSelection(Descriptor, selector: UInt8, parameters: DLMSData)

        public var descriptor: Descriptor {
            switch self {
            case .get(let d), .set(let d), .action(let d), .getWithSelection(let d, _, _), .setWithSelection(let d, _, _): return d
            }
        }

        static func decode(_ reader: inout ByteReader) throws(GBCSError) -> RequestSpecification {
            let at = reader.offset
            switch try reader.byte() {
            case 1: return .get(try Descriptor.decode(&reader))
            case 2: return .set(try Descriptor.decode(&reader))
            case 3: return .action(try Descriptor.decode(&reader))
            case 4, 5:
                let choice = reader.bytes[at]
                let descriptor = try Descriptor.decode(&reader)
                let selector = try reader.byte()
                let parameters = try DLMSData.decode(&reader, depth: 1)
                return choice == 4 ? .getWithSelection(descriptor, selector: selector, parameters: parameters)
                    : .setWithSelection(descriptor, selector: selector, parameters: parameters)
            case let other: throw .unsupported("access request specification \(other)", at: at)
            }
        }

        func encode(into writer: inout ByteWriter) {
            switch self {
            case .get(let d): writer.byte(1); d.encode(into: &writer)
            case .set(let d): writer.byte(2); d.encode(into: &writer)
            case .action(let d): writer.byte(3); d.encode(into: &writer)
            case .getWithSelection(let d, let selector, let parameters), .setWithSelection(let d, let selector, let parameters):
                if case .getWithSelection = self { writer.byte(4) } else { writer.byte(5) }
                d.encode(into: &writer)
                writer.byte(selector)
                parameters.encode(into: &writer)
            }
        }
    }

    /// The result of one request in an ACCESS-Response: a data-access-result (get, set) or
    /// an action-result (action); 0 is success.
    public enum ResponseSpecification: Sendable, Equatable {
        case get(result: UInt8)
        case set(result: UInt8)
        case action(result: UInt8)

        public var result: UInt8 {
            switch self {
            case .get(let r), .set(let r), .action(let r): return r
            }
        }

        public var succeeded: Bool { result == 0 }

        static func decode(_ reader: inout ByteReader) throws(GBCSError) -> ResponseSpecification {
            let at = reader.offset
            switch try reader.byte() {
            case 1: return .get(result: try reader.byte())
            case 2: return .set(result: try reader.byte())
            case 3: return .action(result: try reader.byte())
            case let other: throw .unsupported("access response specification \(other)", at: at)
            }
        }

        func encode(into writer: inout ByteWriter) {
            switch self {
            case .get(let r): writer.byte(1); writer.byte(r)
            case .set(let r): writer.byte(2); writer.byte(r)
            case .action(let r): writer.byte(3); writer.byte(r)
            }
        }
    }

    public struct AccessRequest: Sendable, Equatable {
        public var invokeID: UInt32
        public var dateTime: [UInt8]
        public var specifications: [RequestSpecification]
        /// One value per specification: what to set, the action's parameter, or null.
        public var data: [DLMSData]

        public init(invokeID: UInt32, dateTime: [UInt8] = [], specifications: [RequestSpecification], data: [DLMSData]) {
            self.invokeID = invokeID
            self.dateTime = dateTime
            self.specifications = specifications
            self.data = data
        }
    }

    public struct AccessResponse: Sendable, Equatable {
        public var invokeID: UInt32
        public var dateTime: [UInt8]
        /// The request's specifications when the response repeats them (GBCS does not).
        public var requestSpecifications: [RequestSpecification]?
        /// One value per request: what was read, or null.
        public var data: [DLMSData]
        public var results: [ResponseSpecification]

        public init(invokeID: UInt32, dateTime: [UInt8] = [], requestSpecifications: [RequestSpecification]? = nil, data: [DLMSData],
                    results: [ResponseSpecification]) {
            self.invokeID = invokeID
            self.dateTime = dateTime
            self.requestSpecifications = requestSpecifications
            self.data = data
            self.results = results
        }
    }

    public struct DataNotification: Sendable, Equatable {
        public var invokeID: UInt32
        public var dateTime: [UInt8]
        /// GBCS alerts: a structure of the alert code (long-unsigned), its time stamp and
        /// what the alert carries.
        public var body: DLMSData

        public init(invokeID: UInt32, dateTime: [UInt8] = [], body: DLMSData) {
            self.invokeID = invokeID
            self.dateTime = dateTime
            self.body = body
        }

        /// The GBCS alert code, when the body has the GBCS alert shape.
        public var alertCode: UInt16? {
            guard case .structure(let items) = body, case .longUnsigned(let code)? = items.first else { return nil }
            return code
        }
    }

    // MARK: - Decoding

    static func decode(_ reader: inout ByteReader) throws(GBCSError) -> DLMSAPDU {
        let at = reader.offset
        let tag = try reader.byte()
        let invokeID = UInt32(truncatingIfNeeded: try reader.uint(4))
        let dateTime = try reader.octetString()
        switch tag {
        case accessRequestTag:
            let specifications = try sequence(&reader, RequestSpecification.decode)
            let data = try sequence(&reader) { (r: inout ByteReader) throws(GBCSError) in try DLMSData.decode(&r) }
            return .accessRequest(AccessRequest(invokeID: invokeID, dateTime: dateTime, specifications: specifications, data: data))
        case accessResponseTag:
            let optionalAt = reader.offset
            var requestSpecifications: [RequestSpecification]?
            switch try reader.byte() {
            case 0: break
            case 1: requestSpecifications = try sequence(&reader, RequestSpecification.decode)
            default: throw .unsupported("an access response's optional request specification flag", at: optionalAt)
            }
            let data = try sequence(&reader) { (r: inout ByteReader) throws(GBCSError) in try DLMSData.decode(&r) }
            let results = try sequence(&reader, ResponseSpecification.decode)
            return .accessResponse(AccessResponse(invokeID: invokeID, dateTime: dateTime, requestSpecifications: requestSpecifications,
                                                  data: data, results: results))
        case dataNotificationTag:
            return .dataNotification(DataNotification(invokeID: invokeID, dateTime: dateTime, body: try DLMSData.decode(&reader)))
        default:
            throw .unsupported(String(format: "DLMS APDU %02X", tag), at: at)
        }
    }

    /// An A-XDR SEQUENCE OF: a count, then the elements. The count is checked against
    /// the octets left (every element takes at least one) before anything is reserved.
    static func sequence<T>(_ reader: inout ByteReader, _ element: (inout ByteReader) throws(GBCSError) -> T) throws(GBCSError) -> [T] {
        let at = reader.offset
        let count = try reader.length()
        guard count <= reader.remaining else { throw .invalidLength("a sequence of \(count) elements", at: at) }
        var items: [T] = []
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(try element(&reader)) }
        return items
    }

    // MARK: - Encoding

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .accessRequest(let request):
            header(Self.accessRequestTag, request.invokeID, request.dateTime, into: &writer)
            writer.length(request.specifications.count)
            for spec in request.specifications { spec.encode(into: &writer) }
            writer.length(request.data.count)
            for value in request.data { value.encode(into: &writer) }
        case .accessResponse(let response):
            header(Self.accessResponseTag, response.invokeID, response.dateTime, into: &writer)
            if let specs = response.requestSpecifications {
                writer.byte(1)
                writer.length(specs.count)
                for spec in specs { spec.encode(into: &writer) }
            } else {
                writer.byte(0)
            }
            writer.length(response.data.count)
            for value in response.data { value.encode(into: &writer) }
            writer.length(response.results.count)
            for result in response.results { result.encode(into: &writer) }
        case .dataNotification(let notification):
            header(Self.dataNotificationTag, notification.invokeID, notification.dateTime, into: &writer)
            notification.body.encode(into: &writer)
        }
    }

    private func header(_ tag: UInt8, _ invokeID: UInt32, _ dateTime: [UInt8], into writer: inout ByteWriter) {
        writer.byte(tag)
        writer.uint(UInt64(invokeID), width: 4)
        writer.octetString(dateTime)
    }
}
