import Crypto
import Devices
import DUIS
import Foundation
import GBCS
import Homes
import Logging
import Privacy
import Storage
import Testing
import TestSupport
@testable import Hub

/// The device boundary's stages, each alone: no hub, no WAN, no clock. Times are passed
/// in, so a test moves time by passing a later one, never by waiting.
enum StageBench {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static let signer = ResponseSigner(key: P256.Signing.PrivateKey(), reference: SignerReference(issuerName: "CN=T", serialNumber: "1"))

    static func registry(_ users: [UserRecord] = [supplierUser, operatorUser]) -> UserRegistry {
        let registry = UserRegistry()
        registry.load(users: users, certificates: [])
        return registry
    }

    /// The emulated installation of premises 1 in `makeInventory()`.
    static func model(_ inventory: Inventory) -> PremisesModel {
        PremisesModel(premisesID: 1, postcode: "M22 0RR", region: .north, installDay: Timestamp(year: 2024, month: 1, day: 1).day.number,
                      devices: inventory.devices(atPremises: 1).map(PremisesDirectory.installed), supplierName: "S")
    }

    static func preparation(inventory: Inventory = makeInventory(), registry: UserRegistry = registry(),
                            schedules: ScheduleBook = ScheduleBook()) -> DeviceRequestPreparation {
        let installed = Timestamp(dayNumber: model(inventory).installDay)
        return DeviceRequestPreparation(dccEUI: dcc, schedules: schedules, inventory: inventory, registry: registry,
                                        accessControl: AccessControl(dccEUI: dcc, inventory: inventory), limits: .duis,
                                        premisesInstalled: { $0 == 1 ? installed : nil },
                                        occupancy: { Occupancy(premises: $0, sequence: 0, start: Timestamp(year: 2024, month: 1, day: 1), cause: "installation") })
    }

    static func stored(_ requestID: String, target: EUI64 = esme, srv: SRV = "4.1.1", commandVariant: Int = 1, raw: [UInt8] = []) -> StoredRequest {
        StoredRequest(requestID: requestID, originator: supplier, target: target, counter: 7, srv: srv.text, commandVariant: commandVariant, receivedAt: now,
                      executeAt: nil, status: .awaitingDevice, code: "I99", raw: raw)
    }

    static func schedule(_ id: Int64, device: EUI64 = esme, owner: EUI64 = supplier, deletedAt: Timestamp? = nil) -> ScheduleRecord {
        ScheduleRecord(id: id, owner: owner, device: device, srv: "4.17", frequency: .daily, startDate: now.day, endDate: nil, executionTime: nil,
                       definition: [], createdAt: now, deletedAt: deletedAt)
    }

    /// A stored run of schedule `id` at `now`.
    static func run(_ id: Int64, target: EUI64 = esme) -> StoredRequest {
        var run = ScheduledRun(scheduleID: id, runAt: now).request(schedule(id, device: target), counter: 7)
        run.status = .awaitingDevice
        return run
    }

    /// What preparation knows of a supplier's 7.4 to the electricity meter.
    static func work(_ inventory: Inventory, srv: SRV = "7.4") throws -> DeviceRequestPreparation.Work {
        DeviceRequestPreparation.Work(stored: stored("7.4-request", srv: srv), header: header(supplier, esme, srv: srv),
                                      body: ElementTree(name: "ReadSupplyStatus", namespace: DUISNamespace.serviceUserGateway),
                                      device: try #require(inventory.device(esme)), premises: try #require(inventory.premises(1)),
                                      installed: Timestamp(dayNumber: model(inventory).installDay))
    }

    static func responses(inventory: Inventory = makeInventory(), schedules: ScheduleBook = ScheduleBook()) -> DeviceResponses {
        DeviceResponses(dccEUI: dcc, inventory: inventory, registry: registry(), schedules: schedules,
                        answers: DeviceAnswers(keys: GBCSKeyStores([]), logger: quiet), signer: signer, delivery: Wakeup())
    }

    static func refusal(_ result: Result<DeviceRequestPreparation.Work, Refusal>) -> Refusal? {
        if case .failure(let refusal) = result { return refusal }
        return nil
    }

    static func outbox(_ mutations: [Mutation]) -> [OutboxItem] {
        mutations.compactMap { mutation in
            if case .enqueueOutbox(let item) = mutation { return item }
            return nil
        }
    }
}

@Suite struct DeviceQueueStageTests {
    @Test func requestsComeOutByDueTimeThenInTheOrderQueued() {
        let queue = DeviceQueue(limit: 10)
        queue.enqueue("late", due: now.adding(milliseconds: 2000))
        queue.enqueue("first-at-now", due: now)
        queue.enqueue("second-at-now", due: now)
        queue.enqueue("overdue", due: now.adding(milliseconds: -1000))
        #expect(queue.next(at: now)?.requestID == "overdue")
        #expect(queue.next(at: now)?.requestID == "first-at-now")
        #expect(queue.next(at: now)?.requestID == "second-at-now")
        #expect(queue.next(at: now) == nil, "not due yet")
        #expect(queue.nextDue == now.adding(milliseconds: 2000))
        #expect(queue.next(at: now.adding(milliseconds: 1999)) == nil)
        #expect(queue.next(at: now.adding(milliseconds: 2000))?.requestID == "late")
        #expect(queue.inFlight == 4)
    }

    @Test func aRequestIsQueuedOnceWhileQueuedOrRunning() {
        let queue = DeviceQueue(limit: 10)
        #expect(queue.enqueue("r1", due: now))
        #expect(!queue.enqueue("r1", due: now.adding(milliseconds: -5000)), "already queued: not queued again, nor moved earlier")
        #expect(queue.pending == 1)
        #expect(queue.next(at: now)?.requestID == "r1")
        #expect(!queue.enqueue("r1", due: now), "running: not queued beside itself")
        #expect(queue.next(at: now) == nil)
        queue.finished("r1", retryAfter: nil, at: now)
        #expect(queue.pending == 0 && queue.inFlight == 0)
        #expect(queue.enqueue("r1", due: now), "finished: it may come again")
    }

    @Test func aRetryIsQueuedAgainAtNowPlusTheDelay() {
        let queue = DeviceQueue(limit: 10)
        queue.enqueue("r1", due: now)
        queue.enqueue("r2", due: now.adding(milliseconds: 10_000))
        #expect(queue.next(at: now)?.requestID == "r1")
        let finishedAt = now.adding(milliseconds: 3000)
        queue.finished("r1", retryAfter: .seconds(5), at: finishedAt)
        #expect(queue.pending == 2, "still the boundary's")
        #expect(queue.inFlight == 0)
        #expect(queue.nextDue == finishedAt.adding(milliseconds: 5000))
        #expect(queue.next(at: finishedAt.adding(milliseconds: 4999)) == nil)
        #expect(queue.next(at: finishedAt.adding(milliseconds: 5000))?.requestID == "r1")
        #expect(queue.next(at: now.adding(milliseconds: 10_000))?.requestID == "r2")
    }

    @Test func noMoreThanTheLimitRunAtOnce() {
        let queue = DeviceQueue(limit: 2)
        for index in 0..<3 { queue.enqueue("r\(index)", due: now) }
        #expect(queue.next(at: now)?.requestID == "r0")
        #expect(queue.next(at: now)?.requestID == "r1")
        #expect(queue.next(at: now) == nil, "two in progress: the third waits though due")
        #expect(queue.nextDue == nil, "nothing can start before one finishes")
        #expect(queue.inFlight == 2 && queue.pending == 3)
        queue.finished("r0", retryAfter: nil, at: now)
        #expect(queue.nextDue == now)
        #expect(queue.next(at: now)?.requestID == "r2")
    }
}

@Suite struct DeviceRequestPreparationStageTests {
    /// The gateway's parse, handed over with the request, gives the work the stored bytes
    /// give; one handed over for another request is not used.
    @Test func aRequestHandedOverParsedIsPreparedAsItsStoredBytes() throws {
        let xml = requestXML(originator: supplier, target: esme, counter: 7, commandVariant: "1", srv: "7.4",
                             body: "<sr:ReadSupplyStatus/>")
        let document = try ServiceRequestDocument(try XMLDocument.parse(xml, limits: .duis))
        let stored = StageBench.stored(document.header.requestID.description, srv: "7.4", raw: Array(xml.utf8))
        let preparation = StageBench.preparation()
        guard case .success(let reread) = preparation.prepare(stored),
              case .success(let handed) = preparation.prepare(stored, parsed: ParsedRequests.Parsed(header: document.header, body: document.body()))
        else {
            Issue.record("the request did not prepare")
            return
        }
        #expect(handed.header == reread.header && handed.body == reread.body)
        // Another request's parse is not this one's: the stored bytes are read instead.
        let other = try ServiceRequestDocument(try XMLDocument.parse(requestXML(originator: supplier, target: esme, counter: 8,
                                                                                commandVariant: "1", srv: "4.1.1", body: "<sr:ReadInstantaneousImportRegisters/>"),
                                                                     limits: .duis))
        guard case .success(let guarded) = preparation.prepare(stored, parsed: ParsedRequests.Parsed(header: other.header, body: other.body())) else {
            Issue.record("the request did not prepare")
            return
        }
        #expect(guarded.header == reread.header && guarded.body == reread.body)
        // The cache is bounded and each entry is taken once.
        let cache = ParsedRequests(limit: 1)
        cache.keep("a", ParsedRequests.Parsed(header: document.header, body: document.body()))
        cache.keep("b", ParsedRequests.Parsed(header: other.header, body: other.body()))
        #expect(cache.count == 1 && cache.take("b") == nil)
        #expect(cache.take("a") != nil && cache.take("a") == nil)
    }

    @Test func anUnreadableStoredRequestIsRefused() throws {
        let refusal = try #require(StageBench.refusal(StageBench.preparation().prepare(StageBench.stored("r1", raw: Array("<sr:Request".utf8)))))
        #expect(refusal.code == .E12)
        #expect(refusal.rule.rawValue == "stored-request")
    }

    @Test func aDeviceNoLongerInTheInventoryIsRefused() throws {
        let gone = EUI64(0x00DB_1234_5678_90FF)
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(3, device: gone)])
        let refusal = try #require(StageBench.refusal(StageBench.preparation(schedules: schedules).prepare(StageBench.run(3, target: gone))))
        #expect(refusal.code == .E19)
        #expect(refusal.rule.rawValue == "device-exists")
    }

    @Test func anOptedOutDeviceIsRefused() throws {
        let inventory = makeInventory()
        var meter = try #require(inventory.device(esme))
        meter.optedOut = true
        inventory.apply([.putDevice(meter)])
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(4)])
        let refusal = try #require(StageBench.refusal(StageBench.preparation(inventory: inventory, schedules: schedules).prepare(StageBench.run(4))))
        #expect(refusal.code == .E5)
        #expect(refusal.rule.rawValue == "device-status")
    }

    @Test func aDeletedScheduleMakesNoRun() throws {
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(5, deletedAt: now.adding(milliseconds: -1))])
        let refusal = try #require(StageBench.refusal(StageBench.preparation(schedules: schedules).prepare(StageBench.run(5))))
        #expect(refusal.code == .E19)
        #expect(refusal.rule.rawValue == "schedule-exists")
        // Never stored at all: the same.
        #expect(StageBench.refusal(StageBench.preparation().prepare(StageBench.run(6)))?.rule.rawValue == "schedule-exists")
    }

    @Test func aLiveScheduleRunIsPreparedAsDCCsRequest() throws {
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(8)])
        let preparation = StageBench.preparation(schedules: schedules)
        let result = preparation.prepare(StageBench.run(8))
        guard case .success(let work) = result else {
            Issue.record("refused: \(String(describing: StageBench.refusal(result)))")
            return
        }
        #expect(work.scheduleID == 8)
        #expect(work.header.requestID.originator == dcc)
        #expect(work.header.variant.srv == "4.17")
        #expect(work.device.eui == esme && work.premises.id == 1)
        #expect(preparation.originator(of: work) == supplier, "the schedule's owner")
        #expect(preparation.reauthorise(work, at: now) == nil)
    }

    @Test func reauthorisationRefusesASuspendedUser() throws {
        let inventory = makeInventory()
        let work = try StageBench.work(inventory)
        #expect(StageBench.preparation(inventory: inventory).reauthorise(work, at: now) == nil, "active: it may run")
        var suspended = supplierUser
        suspended.status = .suspended
        let refusal = try #require(StageBench.preparation(inventory: inventory, registry: StageBench.registry([suspended])).reauthorise(work, at: now))
        #expect(refusal.code == .E3)
        // No longer registered at all.
        #expect(StageBench.preparation(inventory: inventory, registry: StageBench.registry([])).reauthorise(work, at: now)?.code == .E1)
    }

    @Test func reauthorisationRefusesASuspendedScheduleOwner() throws {
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(9)])
        var suspended = supplierUser
        suspended.status = .suspended
        let preparation = StageBench.preparation(registry: StageBench.registry([suspended]), schedules: schedules)
        guard case .success(let work) = preparation.prepare(StageBench.run(9)) else {
            Issue.record("the run was not prepared")
            return
        }
        let refusal = try #require(preparation.reauthorise(work, at: now))
        #expect(refusal.code == .E3)
        #expect(refusal.rule.rawValue == "user-status")
    }

    @Test func aRestrictionDateBeforeTheCurrentOccupancyIsAProblem() async throws {
        let inventory = makeInventory()
        let preparation = StageBench.preparation(inventory: inventory)
        let installed = Timestamp(dayNumber: StageBench.model(inventory).installDay)
        func body(_ date: Timestamp) -> ElementTree {
            ElementTree(name: "RestrictAccessForChangeOfTenancy", namespace: DUISNamespace.serviceUserGateway,
                        children: [ElementTree(name: "RestrictionDateTime", namespace: DUISNamespace.serviceUserGateway, text: date.iso8601)])
        }
        #expect(try await preparation.tenancyProblem(body(now.adding(milliseconds: -3_600_000)), premises: 1, installed: installed, at: now) == nil)
        let backInTime = try await preparation.tenancyProblem(body(Timestamp(year: 2023, month: 1, day: 1)), premises: 1, installed: installed, at: now)
        #expect(backInTime?.contains("not a day after the current occupancy began") == true)
        let late = try await preparation.tenancyProblem(body(now.adding(days: -(DeviceRequestPreparation.lateMoveIn + 1))), premises: 1, installed: installed, at: now)
        #expect(late?.contains("days in the past") == true)
    }
}

@Suite struct DeviceResponsesStageTests {
    @Test func aFailureIsASignedResponseWithItsCodeToTheOriginator() throws {
        let stored = StageBench.stored("r-e20")
        let mutations = StageBench.responses().failure(stored, code: .E20, reason: "cannot communicate", rule: .deviceCommunication, at: now)
        let item = try #require(StageBench.outbox(mutations).first)
        #expect(StageBench.outbox(mutations).count == 1)
        #expect(item.recipient == supplier)
        #expect(item.kind == "service-response")
        #expect(item.messageID == "\(esme):\(supplier):7")
        #expect(item.requestID == "r-e20")
        #expect(item.createdAt == now && item.nextAttemptAt == now)
        let text = String(decoding: item.body, as: UTF8.self)
        #expect(text.contains("<sr:ResponseCode>E20</sr:ResponseCode>"))
        #expect(text.contains("Signature"), "signed")
        #expect(try DUISMessage(item.body).code == "E20")
        #expect(mutations.contains { mutation in
            if case .setRequestStatus(let requestID, let status, let code) = mutation { return requestID == "r-e20" && status == .failed && code == "E20" }
            return false
        })
    }

    @Test func aScheduleRunsFailureGoesToTheScheduleOwner() throws {
        let schedules = ScheduleBook()
        schedules.load([StageBench.schedule(11, owner: operatorEUI)])
        let mutations = StageBench.responses(schedules: schedules).failure(StageBench.run(11), code: .E19, reason: "gone", rule: .scheduleExists, at: now)
        let item = try #require(StageBench.outbox(mutations).first)
        #expect(item.recipient == operatorEUI)
        #expect(item.messageID == "\(dcc):\(operatorEUI):7")
        #expect(String(decoding: item.body, as: UTF8.self).contains("<sr:ResponseCode>E19</sr:ResponseCode>"))
    }

    @Test func aDeviceAnswerIsAnI0ResponseToTheOriginator() throws {
        let inventory = makeInventory()
        let work = try StageBench.work(inventory)
        var state = PremisesState()
        let command = DeviceCommand(srv: "7.4", serviceReference: "7.4", target: esme, targetType: .esme, originator: supplier, originatorRoles: [.is, .gs],
                                    requestID: work.stored.requestID, body: work.body)
        let outcome = DeviceEmulator(engine: MeterEngine()).execute(command, model: StageBench.model(inventory), state: &state, at: now)
        let reply = DeviceReply(response: outcome.response, success: outcome.success, alerts: outcome.alerts, note: outcome.note)
        let item = StageBench.responses(inventory: inventory).response(work, reply: reply, originator: supplier, command: nil, at: now)
        #expect(item.recipient == supplier)
        #expect(item.kind == "service-response")
        #expect(item.messageID == "\(esme):\(supplier):1")
        #expect(item.requestID == work.stored.requestID)
        let text = String(decoding: item.body, as: UTF8.self)
        #expect(text.contains("<sr:ResponseCode>I0</sr:ResponseCode>"))
        #expect(text.contains("GBCSPayload"))
    }
}

@Suite struct DevicePrivacyFilterStageTests {
    @Test func aReadByAUserNoLongerRegisteredIsRefusedAndOtherSRVsAreNotChecked() async throws {
        let directory = try TemporaryDirectory("gbsm-stage")
        let store = try SQLiteStore(path: directory.file("hub.sqlite").path)
        let inventory = makeInventory()
        let filter = DevicePrivacyFilter(privacy: PrivacyGuard(store: store, inventory: inventory, rules: PrivacyRules(), enforcement: .enforce, clock: MockClock(now)),
                                         registry: StageBench.registry([]), accessControl: AccessControl(dccEUI: dcc, inventory: inventory),
                                         plans: PlanPipeline(store: store, committer: GroupCommitter(store: store), inventory: inventory, logger: StageBench.quiet),
                                         store: store)
        let device = try #require(inventory.device(esme))
        let body = ElementTree(name: "RetrieveDailyConsumptionLog", namespace: DUISNamespace.serviceUserGateway)
        guard case .refuse(let refusal, _) = try await filter.decide(srv: "4.17", body: body, device: device, originator: supplier, requestID: "r1", at: now) else {
            Issue.record("a consumption read by an unregistered user ran")
            return
        }
        #expect(refusal.code == .E4)
        #expect(refusal.rule.rawValue == "device-authorisation")
        guard case .run(let check) = try await filter.decide(srv: "7.4", body: body, device: device, originator: supplier, requestID: "r2", at: now) else {
            Issue.record("a supply status read was refused")
            return
        }
        #expect(check == nil, "no consumption: no data access decision")
    }
}
