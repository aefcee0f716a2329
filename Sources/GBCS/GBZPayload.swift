/// A GBZ payload: GBCS's wrapping of ZigBee Smart Energy (ZSE) cluster commands, for the
/// gas meter and its proxy on the comms hub (the GPF). Profile ID 0109, a count of
/// components, and each component: an extended header (control field, cluster, length)
/// around a ZCL frame (frame control, sequence number, command) and its payload.
///
/// An alert has its alert code and a UTC time after the count, and then whatever its use
/// case adds: components where they parse to the end, else the octets as sent.
/// A component whose control field has bit 1 set carries its ZCL payload encrypted
/// (additional header, then a 2-octet length and the GBCS encrypted block).
public struct GBZPayload: Sendable, Equatable {
    public static let profileID: UInt16 = 0x0109

    public struct Alert: Sendable, Equatable {
        public var code: UInt16
        /// Seconds since 2000-01-01T00:00:00Z (ZigBee UTCTime).
        public var time: UInt32
        public var rest: AlertRest
    }

    public enum AlertRest: Sendable, Equatable {
        case components([GBZComponent])
        case octets([UInt8])
    }

    public var profile: UInt16
    public var componentCount: UInt8
    public var alert: Alert?
    public var components: [GBZComponent]

    public init(profile: UInt16 = GBZPayload.profileID, componentCount: UInt8, alert: Alert? = nil, components: [GBZComponent]) {
        self.profile = profile
        self.componentCount = componentCount
        self.alert = alert
        self.components = components
    }

    static func decode(_ reader: inout ByteReader, isAlert: Bool) throws(GBCSError) -> GBZPayload {
        let profileAt = reader.offset
        let profile = UInt16(truncatingIfNeeded: try reader.uint(2))
        guard profile == profileID else { throw .unsupported(String(format: "GBZ profile %04X", profile), at: profileAt) }
        let count = try reader.byte()
        if isAlert {
            let code = UInt16(truncatingIfNeeded: try reader.uint(2))
            let time = UInt32(truncatingIfNeeded: try reader.uint(4))
            let restAt = reader.offset
            let octets = try reader.bytes(reader.remaining)
            var inner = ByteReader(octets)
            var components: [GBZComponent] = []
            var parsed = true
            do {
                while !inner.isAtEnd { components.append(try GBZComponent.decode(&inner)) }
            } catch {
                parsed = false
            }
            _ = restAt
            let rest: AlertRest = parsed && !components.isEmpty ? .components(components) : .octets(octets)
            return GBZPayload(profile: profile, componentCount: count, alert: Alert(code: code, time: time, rest: rest), components: [])
        }
        var components: [GBZComponent] = []
        components.reserveCapacity(min(Int(count), reader.remaining))
        for _ in 0..<count { components.append(try GBZComponent.decode(&reader)) }
        return GBZPayload(profile: profile, componentCount: count, components: components)
    }

    func encode(into writer: inout ByteWriter) {
        writer.uint(UInt64(profile), width: 2)
        writer.byte(componentCount)
        if let alert {
            writer.uint(UInt64(alert.code), width: 2)
            writer.uint(UInt64(alert.time), width: 4)
            switch alert.rest {
            case .components(let parts): for part in parts { part.encode(into: &writer) }
            case .octets(let octets): writer.append(octets)
            }
        }
        for component in components { component.encode(into: &writer) }
    }

    /// Every component, the alert's included.
    public var allComponents: [GBZComponent] {
        if let alert, case .components(let parts) = alert.rest { return parts }
        return components
    }
}

/// One GBZ component: a ZCL command or response for one cluster.
public struct GBZComponent: Sendable, Equatable {
    public var control: UInt8
    public var cluster: UInt16
    /// Present when the control field has bit 4 set (a log read from a date).
    public var fromDateTime: UInt32?
    /// Present when the payload is encrypted: the additional header's control and frame
    /// counter octets.
    public var additionalHeader: [UInt8]?
    public var frameControl: UInt8
    public var manufacturerCode: UInt16?
    public var sequenceNumber: UInt8
    public var command: UInt8
    public var payload: Payload

    public enum Payload: Sendable, Equatable {
        case plain([UInt8])
        /// The GBCS encrypted block (`31 ‖ 00000000 ‖ ciphertext ‖ tag`).
        case encrypted([UInt8])
    }

    public var isEncrypted: Bool { control & 0x02 != 0 }
    /// ZCL frame type 0: a command that acts across the profile (read attributes and so on).
    public var isProfileWide: Bool { frameControl & 0x03 == 0 }
    /// Server to client (a response, in GBCS terms).
    public var isFromServer: Bool { frameControl & 0x08 != 0 }

    public init(control: UInt8, cluster: UInt16, fromDateTime: UInt32? = nil, additionalHeader: [UInt8]? = nil, frameControl: UInt8,
                manufacturerCode: UInt16? = nil, sequenceNumber: UInt8, command: UInt8, payload: Payload) {
        self.control = control
        self.cluster = cluster
        self.fromDateTime = fromDateTime
        self.additionalHeader = additionalHeader
        self.frameControl = frameControl
        self.manufacturerCode = manufacturerCode
        self.sequenceNumber = sequenceNumber
        self.command = command
        self.payload = payload
    }

    static func decode(_ reader: inout ByteReader) throws(GBCSError) -> GBZComponent {
        let control = try reader.byte()
        let cluster = UInt16(truncatingIfNeeded: try reader.uint(2))
        let lengthAt = reader.offset
        let length = Int(try reader.uint(2))
        guard length <= reader.remaining else { throw .invalidLength("a GBZ component of \(length) octets", at: lengthAt) }
        var body = ByteReader(reader.bytes, from: reader.offset, to: reader.offset + length)
        var fromDateTime: UInt32?
        var additionalHeader: [UInt8]?
        if control & 0x02 != 0 {
            additionalHeader = try body.bytes(2)
        } else if control & 0x10 != 0 {
            fromDateTime = UInt32(truncatingIfNeeded: try body.uint(4))
        }
        let frameControl = try body.byte()
        var manufacturerCode: UInt16?
        if frameControl & 0x04 != 0 { manufacturerCode = UInt16(truncatingIfNeeded: try body.uint(2)) }
        let sequence = try body.byte()
        let command = try body.byte()
        let payload: Payload
        if control & 0x02 != 0 {
            let blockAt = body.offset
            let blockLength = Int(try body.uint(2))
            guard blockLength == body.remaining else { throw .invalidLength("a GBZ encrypted block (\(blockLength) octets, \(body.remaining) present)", at: blockAt) }
            payload = .encrypted(try body.bytes(blockLength))
        } else {
            payload = .plain(try body.bytes(body.remaining))
        }
        _ = try reader.bytes(length)
        return GBZComponent(control: control, cluster: cluster, fromDateTime: fromDateTime, additionalHeader: additionalHeader,
                            frameControl: frameControl, manufacturerCode: manufacturerCode, sequenceNumber: sequence, command: command,
                            payload: payload)
    }

    func encode(into writer: inout ByteWriter) {
        var body = ByteWriter(capacity: 64)
        if let additionalHeader { body.append(additionalHeader) } else if let fromDateTime { body.uint(UInt64(fromDateTime), width: 4) }
        body.byte(frameControl)
        if let manufacturerCode { body.uint(UInt64(manufacturerCode), width: 2) }
        body.byte(sequenceNumber)
        body.byte(command)
        switch payload {
        case .plain(let octets): body.append(octets)
        case .encrypted(let block):
            body.uint(UInt64(block.count), width: 2)
            body.append(block)
        }
        writer.byte(control)
        writer.uint(UInt64(cluster), width: 2)
        writer.uint(UInt64(body.bytes.count), width: 2)
        writer.append(body.bytes)
    }
}
