import DUIS
import Storage
import TestSupport
import Testing
@testable import Hub
import Privacy

let supplier = EUI64(0x90B3_D51F_3001_0000)
let rival = EUI64(0x90B3_D51F_3003_0000)
let operatorEUI = EUI64(0x90B3_D51F_3002_0000)
let esme = EUI64(0x00DB_1234_5678_90A0)
let gsme = EUI64(0x00DB_1234_5678_90A1)
let gpf = EUI64(0x00DB_1234_5678_90A3)
let chf = EUI64(0x00DB_1234_5678_90A2)
let dcc = Provisioning.dccEUI

func makeInventory(supplierFrom: Timestamp = Timestamp(year: 2020, month: 1, day: 1), supplierTo: Timestamp? = nil) -> Inventory {
    let inventory = Inventory()
    inventory.load(
        premises: [PremisesRecord(id: 1, uprn: 1, postcode: "M22 0RR", addressIdentifier: "1 Road", region: .north)],
        devices: [
            DeviceRecord(eui: esme, type: .esme, status: .commissioned, premises: 1, manufacturer: "M", model: "E", importMPxN: "1312345678111"),
            DeviceRecord(eui: gsme, type: .gsme, status: .commissioned, premises: 1, manufacturer: "M", model: "G", importMPxN: "1000999888"),
            DeviceRecord(eui: gpf, type: .gpf, status: .commissioned, premises: 1, manufacturer: "M", model: "P"),
            DeviceRecord(eui: chf, type: .chf, status: .installedNotCommissioned, premises: 1, manufacturer: "M", model: "C"),
        ],
        registrations: [
            RegistrationRecord(mpxn: "1312345678111", role: .is, party: supplier, from: supplierFrom, to: supplierTo),
            RegistrationRecord(mpxn: "1312345678111", role: .ed, party: operatorEUI, from: Timestamp(year: 2020, month: 1, day: 1)),
            RegistrationRecord(mpxn: "1000999888", role: .gs, party: supplier, from: Timestamp(year: 2020, month: 1, day: 1)),
        ])
    return inventory
}

func header(_ originator: EUI64, _ target: EUI64, cv: String = "1", srv: SRV) -> RequestHeader {
    RequestHeader(schemaVersion: "5.4", requestID: RequestID(originator: originator, target: target, counter: 1), firstInSequence: nil,
                  precedingRequestID: nil, commandVariantText: cv, serviceReference: ServiceCatalogue.variant(srv)!.serviceReference,
                  variant: ServiceCatalogue.variant(srv)!)
}

let supplierUser = UserRecord(eui: supplier, name: "S", roles: [.is, .gs])
let operatorUser = UserRecord(eui: operatorEUI, name: "N", roles: [.ed, .gt])
let now = Timestamp(year: 2026, month: 6, day: 1)

func code(_ body: () throws -> AccessDecision) -> String {
    do {
        _ = try body()
        return "allowed"
    } catch let refusal as Refusal {
        return refusal.code.rawValue
    } catch {
        return "\(error)"
    }
}

@Suite struct AccessControlUnitTests {
    let control = AccessControl(dccEUI: dcc, inventory: makeInventory())

    @Test func allowedRequestNamesTheRole() throws {
        let decision = try control.decide(header: header(supplier, esme, srv: "4.1.1"), user: supplierUser, service: .sendCommand, at: now)
        #expect(decision.role == .is)
        #expect(decision.rule.contains("1312345678111"))
        // Gas reads may go to the GPF, which answers for the gas supplier only.
        #expect(try control.decide(header: header(supplier, gpf, srv: "4.1.1"), user: supplierUser, service: .sendCommand, at: now).role == .gs)
    }

    @Test func eachRefusalCode() {
        var suspended = supplierUser
        suspended.status = .suspended
        #expect(code { try control.decide(header: header(supplier, esme, srv: "4.1.1"), user: suspended, service: .sendCommand, at: now) } == "E3")
        #expect(code { try control.decide(header: header(supplier, esme, cv: "x", srv: "4.1.1"), user: supplierUser, service: .sendCommand, at: now) } == "E12")
        #expect(code { try control.decide(header: header(supplier, esme, cv: "8", srv: "4.1.1"), user: supplierUser, service: .nonDevice, at: now) } == "E12")
        #expect(code { try control.decide(header: header(supplier, esme, cv: "3", srv: "4.1.1"), user: supplierUser, service: .nonDevice, at: now) } == "E13")
        #expect(code { try control.decide(header: header(operatorEUI, esme, srv: "2.2"), user: operatorUser, service: .sendCommand, at: now) } == "E2")
        #expect(code { try control.decide(header: header(supplier, EUI64(1), srv: "4.1.1"), user: supplierUser, service: .sendCommand, at: now) } == "E19")
        #expect(code { try control.decide(header: header(supplier, gsme, srv: "4.1.3"), user: supplierUser, service: .sendCommand, at: now) } == "E11")
        #expect(code { try control.decide(header: header(operatorEUI, gsme, srv: "4.1.1"), user: operatorUser, service: .sendCommand, at: now) } == "E4")
        // The CHF is installed but not commissioned: installation requests only.
        #expect(code { try control.decide(header: header(supplier, chf, srv: "6.32"), user: supplierUser, service: .sendCommand, at: now) } == "allowed")
        #expect(code { try control.decide(header: header(supplier, chf, srv: "8.9"), user: supplierUser, service: .sendCommand, at: now) } == "allowed")
        #expect(code { try control.decide(header: header(supplier, chf, srv: "6.13"), user: supplierUser, service: .sendCommand, at: now) } == "E5")
        // Non-device requests go to DCC.
        #expect(code { try control.decide(header: header(supplier, esme, cv: "8", srv: "8.2"), user: supplierUser, service: .nonDevice, at: now) } == "E19")
        #expect(code { try control.decide(header: header(supplier, dcc, cv: "8", srv: "8.2"), user: supplierUser, service: .nonDevice, at: now) } == "allowed")
    }

    @Test func registrationIsCheckedAtTheExecutionTime() {
        // The supplier loses the MPAN at the end of 2026: a request to run in 2027 is refused.
        let control = AccessControl(dccEUI: dcc, inventory: makeInventory(supplierTo: Timestamp(year: 2027, month: 1, day: 1)))
        let h = header(supplier, esme, srv: "4.1.1")
        #expect(code { try control.decide(header: h, user: supplierUser, service: .sendCommand, at: now) } == "allowed")
        #expect(code { try control.decide(header: h, user: supplierUser, service: .sendCommand, at: Timestamp(year: 2027, month: 3, day: 1)) } == "E4")
        // Before the registration starts, too.
        #expect(code { try control.decide(header: h, user: supplierUser, service: .sendCommand, at: Timestamp(year: 2019, month: 3, day: 1)) } == "E4")
    }

    @Test func dccAndOtherUsers() {
        let dccUser = UserRecord(eui: dcc, name: "DCC", roles: [.dcc])
        #expect(code { try control.decide(header: header(dcc, gpf, srv: "8.12.2"), user: dccUser, service: .sendCommand, at: now) } == "allowed")
        #expect(code { try control.decide(header: header(dcc, esme, srv: "4.1.1"), user: dccUser, service: .sendCommand, at: now) } == "E2")
        let other = UserRecord(eui: EUI64(0x00DB_1234_5678_9004), name: "OU", roles: [.ou])
        #expect(code { try control.decide(header: header(other.eui, esme, srv: "4.8.1"), user: other, service: .sendCommand, at: now) } == "allowed")
    }
}

@Suite struct AnomalyDetectorTests {
    @Test func slidingWindowQuarantinesTheExcess() async throws {
        let detector = AnomalyDetector(defaultLimit: 1000, defaultWindowSeconds: 3600)
        detector.load([AnomalyThreshold(user: supplier, srv: "4.1.1", limit: 3, windowSeconds: 10)])
        let start = Timestamp(milliseconds: 1_000_000)
        for index in 0..<3 { #expect(try await detector.record(user: supplier, srv: "4.1.1", at: start.adding(milliseconds: Int64(index))) == nil) }
        let breach = try await detector.record(user: supplier, srv: "4.1.1", at: start.adding(milliseconds: 5))
        #expect(breach?.isUserThreshold == true)
        #expect(breach?.threshold.limit == 3)
        // Half a window later, half of the previous window still counts.
        #expect(try await detector.record(user: supplier, srv: "4.1.1", at: start.adding(milliseconds: 15_000)) == nil)
        // Two windows later, nothing of it does.
        for index in 0..<3 { #expect(try await detector.record(user: supplier, srv: "4.1.1", at: start.adding(milliseconds: 40_000 + Int64(index))) == nil) }
        // Other SRVs and users fall back to the user's * threshold, then DCC's default.
        #expect(try await detector.record(user: supplier, srv: "4.8.1", at: start) == nil)
        detector.load([AnomalyThreshold(user: supplier, srv: "*", limit: 0, windowSeconds: 60)])
        #expect(try await detector.record(user: supplier, srv: "4.8.1", at: start)?.isUserThreshold == true)
        let strict = AnomalyDetector(defaultLimit: 1, defaultWindowSeconds: 60)
        #expect(try await strict.record(user: rival, srv: "4.1.1", at: start) == nil)
        #expect(try await strict.record(user: rival, srv: "4.1.1", at: start)?.isUserThreshold == false)
    }

    /// A window's bounds never overflow, whatever the threshold says, and a time before
    /// 1970 falls in the window that holds it.
    @Test func windowsAreBounded() {
        let longest = AnomalyWindow(user: supplier, srv: "4.1.1", seconds: .max, containing: .max)
        #expect(longest.seconds == AnomalyWindow.longestSeconds)
        #expect(Int64.max - longest.start < longest.length)
        let early = AnomalyWindow(user: supplier, srv: "4.1.1", seconds: 10, containing: -1)
        #expect(early.start == -10_000)
        #expect(AnomalyWindow(user: supplier, srv: "4.1.1", seconds: 0, containing: 5).seconds == 1)
    }

    /// Two hub processes (two detectors with memories of their own) counting one user in
    /// one store, at once: the threshold holds for the user across both, as one DCC.
    /// Without the shared count each would let the limit through, twice the limit in all.
    @Test(arguments: StoreBackend.available) func aThresholdHoldsAcrossHubsSharingTheStore(_ backend: StoreBackend) async throws {
        let test = try await TestStore.make(backend)
        let store = test.store
        let hubs = (0..<2).map { _ in
            AnomalyDetector(defaultLimit: 1000, defaultWindowSeconds: 3600, shared: { window in try await store.countAnomalyWindow(window) })
        }
        for hub in hubs { hub.load([AnomalyThreshold(user: supplier, srv: "4.1.1", limit: 50, windowSeconds: 3600)]) }
        let at = Timestamp(milliseconds: 1_800_000_000_000)
        let breaches = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<200 {
                group.addTask { try await hubs[index % 2].record(user: supplier, srv: "4.1.1", at: at) == nil ? 0 : 1 }
            }
            return try await group.reduce(0, +)
        }
        #expect(breaches == 150)
        // The next window starts with the whole of this one behind it, and after two
        // windows it is forgotten.
        #expect(try await hubs[0].record(user: supplier, srv: "4.1.1", at: at.adding(milliseconds: 3_600_000))?.observed == 201)
        #expect(try await store.pruneAnomalyWindows(now: at.milliseconds + 7_200_000) == 1)
        #expect(try await store.pruneAnomalyWindows(now: at.milliseconds + 10_800_000) == 1)
        #expect(try await hubs[1].record(user: supplier, srv: "4.1.1", at: at.adding(milliseconds: 10_800_000)) == nil)
    }
}

@Suite struct ReplayGuardTests {
    @Test func countersRisePerOriginator() {
        let guardian = ReplayGuard()
        guardian.load([supplier: 10])
        #expect(guardian.admit(originator: supplier, counter: 10) == 10)
        #expect(guardian.admit(originator: supplier, counter: 9) == 10)
        #expect(guardian.admit(originator: supplier, counter: 11) == nil)
        #expect(guardian.admit(originator: rival, counter: 1) == nil)
        #expect(guardian.admit(originator: rival, counter: UInt64.max) == nil)
        #expect(guardian.admit(originator: rival, counter: UInt64.max) == UInt64.max)
    }
}

@Suite struct InventoryTests {
    @Test func accessMPxNsFollowTheDeviceType() throws {
        let inventory = makeInventory()
        #expect(inventory.accessMPxNs(for: try #require(inventory.device(esme))).map(\.mpxn) == ["1312345678111"])
        #expect(inventory.accessMPxNs(for: try #require(inventory.device(gpf))).map(\.mpxn) == ["1000999888"])
        #expect(Set(inventory.accessMPxNs(for: try #require(inventory.device(chf))).map(\.mpxn)) == ["1312345678111", "1000999888"])
        #expect(inventory.premises(mpxn: "1000999888")?.id == 1)
        #expect(inventory.premises(postcode: "m220rr", addressIdentifier: nil).count == 1)
        var moved = try #require(inventory.device(esme))
        moved.premises = 2
        inventory.apply([.putDevice(moved), .deleteDevice(gsme)])
        #expect(inventory.devices(atPremises: 1).map(\.eui) == [chf, gpf])
        #expect(inventory.devices(atPremises: 2).map(\.eui) == [esme])
    }
}

@Suite struct CatalogueAndGeographyTests {
    @Test func catalogueIsConsistent() {
        #expect(ServiceCatalogue.all.count == 129)
        #expect(Set(ServiceCatalogue.all.map(\.srv)).count == 129)
        for variant in ServiceCatalogue.all {
            #expect(variant.srv.text.hasPrefix(variant.serviceReference + ".") || variant.srv.text == variant.serviceReference, "\(variant.srv)")
            if variant.isNonDevice {
                #expect(variant.commandVariants == [8] && variant.deviceTypes.isEmpty, "\(variant.srv)")
            } else {
                #expect(!variant.deviceTypes.isEmpty, "\(variant.srv)")
                #expect(variant.isCritical == variant.commandVariants.contains(4), "\(variant.srv)")
            }
        }
        #expect(ServiceCatalogue.variant("6.20.1")?.serviceReference == "6.20")
        #expect(ServiceCatalogue.variant("4.8.1")?.eligibleRoles == [.is, .gs, .ed, .gt, .ou])
    }

    @Test func postcodeAreasMapToRegions() {
        #expect(LicenceArea.area(postcode: "M22 0RR")?.region == .north)
        #expect(LicenceArea.area(postcode: "SW1A 1AA")?.region == .south)
        #expect(LicenceArea.area(postcode: "B1 1AA")?.name == "West Midlands")
        #expect(LicenceArea.area(postcode: "EH1 1AA")?.distributorID == 18)
        #expect(LicenceArea.area(postcode: "BT1 1AA") == nil, "Northern Ireland is not served by DCC")
        #expect(LicenceArea.all.count == 14)
    }
}

@Suite struct WakeupTests {
    @Test func neitherSignalsNorTimeoutsLeaveASignalBehind() async throws {
        let wakeup = Wakeup()
        wakeup.signal()
        await wakeup.wait(upTo: .seconds(60))  // returns at once: it was signalled
        try await Task.sleep(for: .milliseconds(50))  // the wait's cancelled timer gets to run
        #expect(!wakeup.isSignalled, "a cancelled timer must not signal the next wait")
        await wakeup.wait(upTo: .milliseconds(1))  // ends by timing out
        try await Task.sleep(for: .milliseconds(50))
        #expect(!wakeup.isSignalled)
        // A signal during a wait ends it.
        async let waited: Void = wakeup.wait(upTo: .seconds(60))
        try await Task.sleep(for: .milliseconds(20))
        wakeup.signal()
        await waited
        #expect(!wakeup.isSignalled)
    }
}

/// Which open periods an aggregation run reads (`PlanPipeline.readySlots`): only those it
/// can decide, so a run does not read every undecided reading again.
@Suite struct PlanReadySlotTests {
    @Test func aRunReadsOnlyThePeriodsItCanDecide() {
        let plan = DataPrivacyPlan(id: 1, user: operatorEUI, name: "feeders", approvalReference: "OFG-T", minimumHouseholds: 3)
        let aggregator = PlanAggregator(plan: plan)
        // LV1 has three households; LV2 and LV3 one each, merged (two: still too few).
        let partition = aggregator.partition([NetworkGroup(key: "LV1", parent: "SS1", members: ["a", "b", "c"]),
                                              NetworkGroup(key: "LV2", parent: "SS1", members: ["d"]),
                                              NetworkGroup(key: "LV3", parent: "SS1", members: ["e"])])
        let halfHour = CalendarDay.millisecondsPerHalfHour
        let first: Int64 = 1_800_000_000_000, second = first + halfHour
        let key = { (group: String, slot: Int64) in PlanAggregator.SlotKey(group: group, slot: slot) }
        let open = [key("LV1", first): 3, key("LV1", second): 2, key("LV2", second): 1]
        let now = Timestamp(milliseconds: second + halfHour)
        // LV1's complete period, and the unpublishable LV2's (to discard); not LV1's second.
        #expect(PlanPipeline.readySlots(open: open, partition: partition, slotMilliseconds: halfHour, delayMilliseconds: 3_600_000, now: now)
            == [key("LV1", first), key("LV2", second)])
        // Once the delay has passed, the incomplete one too.
        #expect(PlanPipeline.readySlots(open: open, partition: partition, slotMilliseconds: halfHour, delayMilliseconds: 3_600_000,
                                        now: now.adding(milliseconds: 3_600_000)).contains(key("LV1", second)))
        // A delay that would overflow is never due.
        #expect(PlanPipeline.readySlots(open: [key("LV1", .max - 10): 1], partition: partition, slotMilliseconds: halfHour,
                                        delayMilliseconds: 3_600_000, now: Timestamp(milliseconds: .max)).isEmpty)
    }
}
