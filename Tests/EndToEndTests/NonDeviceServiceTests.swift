import DUIS
import Foundation
import Hub
import Storage
import Testing
import WAN
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
        // Only an MPRN the supplier is registered for.
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:UpdateMPxN><sr:ImportMPxN>1000999777</sr:ImportMPxN></sr:UpdateMPxN></sr:UpdateInventory>")).code == "E4")
        let registration = RegistrationRecord(mpxn: "1000999777", role: .gs, party: Provisioning.supplier, from: Timestamp(year: 2020, month: 1, day: 1))
        try await hub.hub.store.apply([.putRegistration(registration)])
        hub.hub.inventory.apply([.putRegistration(registration)])
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

    @Test func onlyTheResponsibleSupplierChangesADevice() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        let rewrite = "<sr:UpdateInventory><sr:DeviceID>\(esme)</sr:DeviceID><sr:UpdateMPxN><sr:ImportMPxN>9999999999999</sr:ImportMPxN></sr:UpdateMPxN></sr:UpdateInventory>"
        // The other user and the network operator may send 8.4, but not change a supplier's meter.
        #expect(try await send(client, nonDevice("8.4", rewrite, from: Provisioning.otherUser)).code == "E4")
        #expect(try await send(client, nonDevice("8.4", rewrite, from: Provisioning.networkOperator)).code == "E4")
        #expect(hub.hub.inventory.device(esme)?.importMPxN == Provisioning.defaultMPAN)
        // Nor re-notify it, nor withdraw its communications hub.
        let renotify = nonDevice("12.2", "<sr:DevicePrenotification><sr:DeviceID>\(esme)</sr:DeviceID><sr:DeviceManufacturer>EVIL</sr:DeviceManufacturer><sr:DeviceModel>X</sr:DeviceModel><sr:DeviceType>ESME</sr:DeviceType></sr:DevicePrenotification>",
                                 from: Provisioning.networkOperator)
        #expect(try await send(client, renotify).code == "E4")
        #expect(hub.hub.inventory.device(esme)?.manufacturer == "AB01")
        let withdraw = nonDevice("8.14.4", "<sr:CHFNoFaultReturn><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID><sr:CHFNoFaultReturnType>No Fault Return (general)</sr:CHFNoFaultReturnType></sr:CHFNoFaultReturn>",
                                 from: Provisioning.secondSupplier)
        #expect(try await send(client, withdraw).code == "E4")
        // A supplier registered elsewhere cannot (re)install another supplier's hub.
        try await hub.hub.store.apply([.putRegistration(RegistrationRecord(mpxn: "2000000000001", role: .is, party: Provisioning.secondSupplier, from: Timestamp(year: 2020, month: 1, day: 1)))])
        hub.hub.inventory.apply([.putRegistration(RegistrationRecord(mpxn: "2000000000001", role: .is, party: Provisioning.secondSupplier, from: Timestamp(year: 2020, month: 1, day: 1)))])
        let install = nonDevice("8.14.2", """
            <sr:CHFInstallSuccessNoSMWAN><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID><sr:CHFInstallType>CHF Install - no SM WAN</sr:CHFInstallType>\
            <sr:MPxN>2000000000001</sr:MPxN><sr:AerialInstall>false</sr:AerialInstall><sr:CHFLocation>Deep indoors</sr:CHFLocation>\
            <sr:PremiseType>Terraced</sr:PremiseType><sr:MetalObstructionCheck>true</sr:MetalObstructionCheck>\
            <sr:ConnectivityObstructionCheck>true</sr:ConnectivityObstructionCheck><sr:SharedObstructionCheck>false</sr:SharedObstructionCheck></sr:CHFInstallSuccessNoSMWAN>
            """, from: Provisioning.secondSupplier)
        #expect(try await send(client, install).code == "E4")
        #expect(hub.hub.inventory.device(EUI64(0x00DB_1234_5678_90A2))?.status == .commissioned)
        // A pre-notified device belongs to whoever notified it until it has an MPxN.
        let newMeter = EUI64(0x00DB_1234_5678_9A01)
        #expect(try await send(client, nonDevice("12.2", "<sr:DevicePrenotification><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:DeviceManufacturer>ZZ09</sr:DeviceManufacturer><sr:DeviceModel>M2</sr:DeviceModel><sr:DeviceType>ESME</sr:DeviceType></sr:DevicePrenotification>")).code == "I0")
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:DeleteDevice/></sr:UpdateInventory>", from: Provisioning.secondSupplier)).code == "E4")
        #expect(try await send(client, nonDevice("8.4", "<sr:UpdateInventory><sr:DeviceID>\(newMeter)</sr:DeviceID><sr:DeleteDevice/></sr:UpdateInventory>")).code == "I0")
        await hub.stop()
    }

    @Test func futureDatingAndListsAreChecked() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        // 4.1.1 may be future-dated; 6.2.1 (Read Device Configuration, Voltage) may not.
        let later = Timestamp.now().adding(days: 1).iso8601
        let futureRead = requestXML(originator: Provisioning.supplier, target: esme, commandVariant: "1", srv: "4.1.1",
                                    body: "<sr:ReadInstantaneousImportRegisters><sr:ExecutionDateTime>\(later)</sr:ExecutionDateTime></sr:ReadInstantaneousImportRegisters>")
        let signedFuture = try client.sign(futureRead, counter: Counters.next())
        #expect(try await client.post(signedFuture, to: .sendCommand).code == "I99")
        let id = try ServiceRequestDocument(try XMLDocument.parse(signedFuture)).header.requestID.description
        #expect(try await hub.hub.store.request(id: id)?.status == .scheduled)
        let notFutureDatable = requestXML(originator: Provisioning.supplier, target: esme, commandVariant: "1", srv: "6.2.1",
                                          body: "<sr:ReadDeviceConfigurationVoltage><sr:ExecutionDateTime>\(later)</sr:ExecutionDateTime></sr:ReadDeviceConfigurationVoltage>")
        let refused = try await client.post(try client.sign(notFutureDatable, counter: Counters.next()), to: .sendCommand)
        #expect(refused.status == 400)
        // DCC's schema gives 6.2.1 an empty body, so it refuses the date at intake.
        #expect(refused.text.contains("cannot be future-dated") || refused.refusedAsInvalid, "\(refused.refusal)")
        // Firmware device lists must hold EUIs; duplicates are counted once.
        let image = Data(repeating: 7, count: 64).base64EncodedString()
        let badList = nonDevice("11.1", "<sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>1</sr:FirmwareVersion><sr:DeviceIDList>\(esme),<script/></sr:DeviceIDList></sr:UpdateFirmware>")
        #expect(try await send(client, badList).refusedAsInvalid, "an element inside the list leaves an empty entry")
        let notEUI = nonDevice("11.1", "<sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>1</sr:FirmwareVersion><sr:DeviceIDList>\(esme),nonsense</sr:DeviceIDList></sr:UpdateFirmware>")
        #expect(try await send(client, notEUI).refusedAsInvalid)
        let twice = try await send(client, nonDevice("11.1", "<sr:UpdateFirmware><sr:FirmwareImage>\(image)</sr:FirmwareImage><sr:FirmwareVersion>1</sr:FirmwareVersion><sr:DeviceIDList>\(esme),\(esme)</sr:DeviceIDList></sr:UpdateFirmware>"))
        #expect(twice.code == "I0")
        #expect(try await hub.hub.store.firmware().first?.devices == [esme])
        // 8.13 for a request this hub never held changes nothing.
        let localResponse = nonDevice("8.13", "<sr:ReturnLocalCommandResponse><sr:OriginalRequestID>\(id)</sr:OriginalRequestID><sr:DeviceGBCSResponse>AAEC</sr:DeviceGBCSResponse></sr:ReturnLocalCommandResponse>")
        #expect(try await send(client, localResponse).code == "I0")
        #expect(try await hub.hub.store.request(id: id)?.status == .scheduled, "a command variant 1 request is not completed by a local response")
        await hub.stop()
    }

    @Test func schedules() async throws {
        let hub = try await RunningHub.start()
        let client = DUISClient(baseURL: hub.baseURL, keystore: hub.keystore)
        func create(_ originator: EUI64, srv: String, choice: String) -> String {
            let sr = ServiceCatalogue.variant(text: srv)?.serviceReference ?? srv
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
        #expect(try await send(client, create(Provisioning.supplier, srv: "4.1.1", choice: "<sr:DSPReadLoadLimitData/>")).refusedAsInvalid)
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
        // Where DCC has no installation yet, the WAN model's coverage answers.
        for postcode in ["SW1A 1AA", "CF10 1EP", "IV1 1AA", "NR1 1AA", "LS1 1UR"] {
            let answer = try await send(client, nonDevice("12.1", "<sr:RequestWANMatrix><sr:PartialAddress><sr:PostCode>\(postcode)</sr:PostCode><sr:AddressIdentifier>1</sr:AddressIdentifier></sr:PartialAddress></sr:RequestWANMatrix>"))
            let region = try #require(LicenceArea.area(postcode: postcode)?.region)
            let expected = WANModel(settings: .instant).coverage(postcode: postcode, region: region, at: .now())
            #expect(answer.text.contains("<sr:CSPRegion>\(region.rawValue)</sr:CSPRegion>"))
            #expect(answer.text.contains("<sr:CoverageAvailability>\(expected.available)</sr:CoverageAvailability>"))
            #expect(answer.text.contains("<sr:ConnectivityLikelihood>\(expected.likelihood.rawValue)</sr:ConnectivityLikelihood>"), "\(postcode)")
            #expect(answer.text.contains("<sr:WANTechnology>\(expected.technology)</sr:WANTechnology>"))
        }
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
