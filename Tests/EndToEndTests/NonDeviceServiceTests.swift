import DUIS
import Foundation
import Hub
import Storage
import Testing
import TestSupport

/// DCC's own services change the inventory and schedules the way DUIS describes; the
/// refusals they make name their rule.
@Suite(.serialized) struct NonDeviceServiceTests {
    func nonDevice(_ srv: String, _ body: String, from originator: EUI64 = Provisioning.supplier) -> String {
        requestXML(originator: originator, target: Provisioning.dccEUI, commandVariant: "8", srv: srv, body: body)
    }

    func send(_ client: DUISClient, _ xml: String) async throws -> DUISClient.Answer {
        try await client.post(try client.sign(xml, counter: Counters.next()), to: .nonDevice)
    }

    @Test func inventoryLifecycle() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let newMeter = EUI64(0x00DB_1234_5678_9A00)
        // Pre-notification adds a Pending device.
        let prenotify = try await send(client, nonDevice("12.2", """
            <sr:DevicePrenotification><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:DeviceManufacturer>ZZ09</sr:DeviceManufacturer>\
            <sr:DeviceModel>M2</sr:DeviceModel><sr:DeviceType>GSME</sr:DeviceType></sr:DevicePrenotification>
            """))
        #expect(prenotify.code == "I0")
        #expect(hub.hub.inventory.device(newMeter)?.status == .pending)
        // Read back by DeviceID.
        let read = try await send(client, nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(newMeter)</sr:DeviceID></sr:ReadInventory>"))
        #expect(read.code == "I0")
        #expect(read.text.contains("<sr:DeviceStatus>Pending</sr:DeviceStatus>"))
        #expect(read.text.contains("<sr:DeviceManufacturer>ZZ09</sr:DeviceManufacturer>"))
        // Installed, then given its MPRN, then deleted.
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:UpdateDeviceStatusExceptCH>InstalledNotCommissioned</sr:UpdateDeviceStatusExceptCH></sr:UpdateInventory>")).code == "I0")
        #expect(hub.hub.inventory.device(newMeter)?.status == .installedNotCommissioned)
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:UpdateDeviceStatusCH>Commissioned</sr:UpdateDeviceStatusCH></sr:UpdateInventory>")).code == "E11")
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:UpdateMPxN><sr:ImportMPxN>1000999777</sr:ImportMPxN></sr:UpdateMPxN></sr:UpdateInventory>")).code == "I0")
        #expect(hub.hub.inventory.device(newMeter)?.importMPxN == "1000999777")
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:DeleteDevice/></sr:UpdateInventory>")).code == "I0")
        #expect(hub.hub.inventory.device(newMeter) == nil)
        #expect(try await send(client, nonDevice("8.2", "<sr:ReadInventory><sr:DeviceID>\(newMeter)</sr:DeviceID></sr:ReadInventory>")).code == "E19")
        // A commissioned meter cannot be deleted, nor decommissioned by a supplier not registered for it.
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(esme)</sr:DeviceID><sr:DeleteDevice/></sr:UpdateInventory>")).code == "E5")
        let rival = try await send(client, nonDevice("8.3", "<sr:DecommissionDevice><sr:DeviceID>\(esme)</sr:DeviceID></sr:DecommissionDevice>", from: Provisioning.secondSupplier))
        #expect(rival.code == "E4")
        // Every change is in the device's history and the audit log.
        let events = try await hub.hub.store.deviceEvents(device: newMeter)
        #expect(events.map(\.kind) == ["prenotification", "status", "mpxn", "deleted"])
        #expect(try await hub.hub.store.verifyAudit().isIntact)
        await hub.stop()
    }

    @Test func schedules() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        func create(_ originator: EUI64, srv: String, choice: String) -> String {
            let sr = ServiceCatalogue.variant(srv)?.serviceReference ?? srv
            return nonDevice("5.1", """
                <sr:CreateSchedule><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency><sr:ScheduleStartDate>2026-01-01</sr:ScheduleStartDate>\
                <sr:DSPScheduledServiceReference>\(sr)</sr:DSPScheduledServiceReference>\
                <sr:DSPScheduledServiceReferenceVariant>\(srv)</sr:DSPScheduledServiceReferenceVariant><sr:DeviceID>\(esme)</sr:DeviceID>\(choice)</sr:CreateSchedule>
                """, from: originator)
        }
        let period = "<sr:StartDateOffset>-1</sr:StartDateOffset><sr:StartTime>00:00:00Z</sr:StartTime><sr:EndDateOffset>0</sr:EndDateOffset><sr:EndTime>00:00:00Z</sr:EndTime>"
        let created = try await send(client, create(Provisioning.supplier, srv: "4.6.1", choice: "<sr:DSPRetrieveImportDailyReadLog>\(period)</sr:DSPRetrieveImportDailyReadLog>"))
        #expect(created.code == "I0")
        let id = try #require(created.text.firstMatch(of: /<sr:DSPScheduleID>(\d+)<\/sr:DSPScheduleID>/).map { String($0.1) })
        // Not schedulable, not eligible.
        #expect(try await send(client, create(Provisioning.supplier, srv: "4.1.1", choice: "<sr:DSPReadLoadLimitData/>")).code == "E12")
        #expect(try await send(client, create(Provisioning.networkOperator, srv: "4.6.1", choice: "<sr:DSPRetrieveImportDailyReadLog>\(period)</sr:DSPRetrieveImportDailyReadLog>")).code == "E2")
        // Read by ID and by device; another user may not read it.
        let byID = try await send(client, nonDevice("5.2", "<sr:ReadSchedule><sr:DSPScheduleID>\(id)</sr:DSPScheduleID></sr:ReadSchedule>"))
        #expect(byID.code == "I0")
        #expect(byID.text.contains("<sr:DSPScheduleDetails><sr:ScheduleFrequency>Daily</sr:ScheduleFrequency>"))
        #expect(try await send(client, nonDevice("5.2", "<sr:ReadSchedule><sr:DeviceID>\(esme)</sr:DeviceID></sr:ReadSchedule>")).code == "I0")
        #expect(try await send(client, nonDevice("5.2", "<sr:ReadSchedule><sr:DSPScheduleID>\(id)</sr:DSPScheduleID></sr:ReadSchedule>", from: Provisioning.networkOperator)).code == "E4")
        // Deleted, it is gone, and stays gone after a restart of the hub's state.
        #expect(try await send(client, nonDevice("5.3", "<sr:DeleteSchedule><sr:DSPScheduleID>\(id)</sr:DSPScheduleID></sr:DeleteSchedule>")).code == "I0")
        #expect(try await send(client, nonDevice("5.2", "<sr:ReadSchedule><sr:DSPScheduleID>\(id)</sr:DSPScheduleID></sr:ReadSchedule>")).code == "E19")
        #expect(try await hub.hub.store.schedules().first?.deletedAt != nil)
        await hub.stop()
    }

    @Test func firmwareWanMatrixAndCommunicationsHubs() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let image = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0) }).base64EncodedString()
        func firmware(_ devices: String) -> String {
            nonDevice("11.1", "<sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>0003</sr:FirmwareVersion><sr:DeviceIDList>\(devices)</sr:DeviceIDList></sr:UpdateFirmware>")
        }
        let first = try await send(client, firmware("\(esme),00-DB-12-34-56-78-90-FF,\(ihd)"))
        #expect(first.code == "I0")
        #expect(first.text.contains("<sr:InvalidDeviceIDList>00-DB-12-34-56-78-90-FF,\(ihd)</sr:InvalidDeviceIDList>"))
        let second = try await send(client, firmware("\(esme)"))
        #expect(second.text.contains("<sr:OtherRequestInProgressList>\(esme)</sr:OtherRequestInProgressList>"))
        let stored = try await hub.hub.store.firmware()
        #expect(stored.first?.devices == [esme])
        #expect(FileManager.default.fileExists(atPath: hub.dataDirectory.appendingPathComponent("firmware/\(try #require(stored.first?.imageSHA256)).bin").path))

        // The WAN matrix at the default premises: a commissioned hub is there.
        let matrix = try await send(client, nonDevice("12.1", "<sr:RequestWANMatrix><sr:PartialAddress><sr:PostCode>M22 0RR</sr:PostCode><sr:AddressIdentifier>Threapwood Road</sr:AddressIdentifier></sr:PartialAddress></sr:RequestWANMatrix>"))
        #expect(matrix.text.contains("<sr:CSPRegion>North</sr:CSPRegion>"))
        #expect(matrix.text.contains("<sr:WANTechnology>Long Range Radio</sr:WANTechnology>"))
        #expect(matrix.text.contains("<sr:ConnectivityLikelihood>High</sr:ConnectivityLikelihood>"))
        #expect(try await send(client, nonDevice("12.1", "<sr:RequestWANMatrix><sr:PartialAddress><sr:PostCode>BT1 1AA</sr:PostCode><sr:AddressIdentifier>x</sr:AddressIdentifier></sr:PartialAddress></sr:RequestWANMatrix>")).code == "E19")
        // Reinstalled without SM WAN: the hub and its GPF are installed, not commissioned; the matrix says so.
        let noWAN = nonDevice("8.14.2", """
            <sr:CHFInstallSuccessNoSMWAN><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID><sr:CHFInstallType>CHF Install - no SM WAN</sr:CHFInstallType>\
            <sr:MPxN>1000999888</sr:MPxN><sr:AerialInstall>false</sr:AerialInstall><sr:CHFLocation>Deep indoors</sr:CHFLocation>\
            <sr:PremiseType>Terraced</sr:PremiseType><sr:MetalObstructionCheck>true</sr:MetalObstructionCheck>\
            <sr:ConnectivityObstructionCheck>true</sr:ConnectivityObstructionCheck><sr:SharedObstructionCheck>false</sr:SharedObstructionCheck></sr:CHFInstallSuccessNoSMWAN>
            """)
        #expect(try await send(client, noWAN).code == "I0")
        #expect(hub.hub.inventory.device(EUI64(0x00DB_1234_5678_90A2))?.status == .installedNotCommissioned)
        #expect(hub.hub.inventory.device(EUI64(0x00DB_1234_5678_90A3))?.status == .installedNotCommissioned)
        let after = try await send(client, nonDevice("12.1", "<sr:RequestWANMatrix><sr:PartialAddress><sr:PostCode>M22 0RR</sr:PostCode><sr:AddressIdentifier>Threapwood Road</sr:AddressIdentifier></sr:PartialAddress></sr:RequestWANMatrix>"))
        #expect(after.text.contains("<sr:ConnectivityLikelihood>Low</sr:ConnectivityLikelihood>"))
        // The gas proxy can no longer be read; a hub function operation still can.
        let gasRead = requestXML(originator: Provisioning.supplier, target: EUI64(0x00DB_1234_5678_90A3), commandVariant: "1", srv: "4.1.4",
                                 body: "<sr:ReadInstantaneousImportBlockCounters/>")
        #expect(try await client.post(try client.sign(gasRead, counter: Counters.next()), to: .sendCommand).code == "E5")
        // Returned as faulty: withdrawn.
        #expect(try await send(client, nonDevice("8.14.3", "<sr:CHFFaultReturn><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID><sr:CHFFaultReturnType>Fault identified post installation</sr:CHFFaultReturnType><sr:OtherDeviceID>\(esme)</sr:OtherDeviceID><sr:CHFConnectionMethod>Cradle</sr:CHFConnectionMethod><sr:CHFFaultReason>SM WAN Fault</sr:CHFFaultReason></sr:CHFFaultReturn>")).code == "I0")
        #expect(hub.hub.inventory.device(EUI64(0x00DB_1234_5678_90A2))?.status == .withdrawn)
        await hub.stop()
    }
}
