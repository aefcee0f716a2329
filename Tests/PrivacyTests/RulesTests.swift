import Foundation
import DUIS
import Privacy
import Testing

/// The data access rules per role, on ledgers built by hand.
@Suite struct RulesTests {
    let premises: Int64 = 42
    let supplier = EUI64(0x1111_0000_0000_0001)
    let thirdParty = EUI64(0x2222_0000_0000_0002)
    let operatorEUI = EUI64(0x3333_0000_0000_0003)
    let now = Timestamp(year: 2026, month: 11, day: 23, hour: 12)
    let rules = PrivacyRules()

    func ledger(_ entries: [ConsentEntry], occupancy: Occupancy? = nil, at time: Timestamp? = nil) -> ConsentLedger {
        ConsentLedger(occupancy: occupancy ?? .initial(premises: premises), entries: entries, at: time ?? now)
    }

    func entry(_ party: EUI64, _ purpose: Purpose, _ action: ConsentEntry.Action, _ granularity: Granularity?, method: ConsentMethod = .portal,
               at: Timestamp? = nil, until: Timestamp? = nil, occupancy: Int = 0) -> ConsentEntry {
        ConsentEntry(id: Int64.random(in: 1...1_000_000), premises: premises, occupancy: occupancy, party: party, purpose: purpose, action: action,
                     granularity: granularity, until: until, method: method, at: at ?? now.adding(milliseconds: -3_600_000))
    }

    func decide(_ role: UserRole, _ party: EUI64, _ srv: SRV, _ ledger: ConsentLedger, plans: [DataPrivacyPlan] = []) -> PrivacyVerdict {
        rules.decide(role: role, party: party, request: DataRequest.classify(srv: srv)!, ledger: ledger, plans: plans, fuel: .electricity)
    }

    @Test func supplierGetsMonthlyAndDailyButHalfHourlyOnlyWithOptIn() {
        let empty = ledger([])
        #expect(decide(.is, supplier, "4.1.1", empty).rule == "supplier-monthly")
        #expect(!decide(.is, supplier, "4.17", empty).isRefusal)
        let refused = decide(.is, supplier, "4.8.1", empty)
        #expect(refused.isRefusal && refused.rule == "supplier-half-hourly-opt-in")
        let optedIn = ledger([entry(supplier, .billing, .grant, .halfHourly, method: .phone)])
        #expect(!decide(.is, supplier, "4.8.1", optedIn).isRefusal)
        // Settlement policy: half-hourly unless opted out.
        let settlement = PrivacyRules(supplierHalfHourly: .settlement)
        #expect(!settlement.decide(role: .is, party: supplier, request: DataRequest.classify(srv: "4.8.1")!, ledger: empty, plans: [], fuel: .electricity).isRefusal)
        let optedOut = ledger([entry(supplier, .settlement, .withdraw, .halfHourly)])
        #expect(settlement.decide(role: .is, party: supplier, request: DataRequest.classify(srv: "4.8.1")!, ledger: optedOut, plans: [], fuel: .electricity).rule == "supplier-settlement-opt-out")
    }

    @Test func supplierDailyOptOutLeavesMonthly() {
        let optedOut = ledger([entry(supplier, .billing, .withdraw, .daily)])
        let daily = decide(.is, supplier, "4.17", optedOut)
        #expect(daily.isRefusal && daily.rule == "supplier-daily-opt-out")
        #expect(!decide(.is, supplier, "4.1.1", optedOut).isRefusal, "monthly billing reads need no consent")
        // Withdrawing half-hourly after opting in keeps daily.
        let back = ledger([entry(supplier, .billing, .grant, .halfHourly, at: now.adding(milliseconds: -7_200_000)),
                           entry(supplier, .billing, .withdraw, .halfHourly)])
        #expect(decide(.is, supplier, "4.8.1", back).isRefusal)
        #expect(!decide(.is, supplier, "4.17", back).isRefusal)
    }

    @Test func otherUserNeedsCurrentVerifiedConsentAtTheGranularity() {
        #expect(decide(.ou, thirdParty, "4.8.1", ledger([])).rule == "other-user-consent")
        #expect(decide(.ou, thirdParty, "4.8.1", ledger([])).isRefusal)
        // Daily consent does not cover half-hourly.
        let daily = ledger([entry(thirdParty, .energyServices, .grant, .daily)])
        #expect(!decide(.ou, thirdParty, "4.17", daily).isRefusal)
        #expect(decide(.ou, thirdParty, "4.8.1", daily).isRefusal)
        // A phone consent is recorded but not verified.
        let phone = ledger([entry(thirdParty, .energyServices, .grant, .halfHourly, method: .phone)])
        let verdict = decide(.ou, thirdParty, "4.8.1", phone)
        #expect(verdict.isRefusal && verdict.reason.contains("cannot verify"))
        // Verified, then expired, then withdrawn.
        let granted = entry(thirdParty, .research, .grant, .halfHourly, method: .ihdCode, until: now.adding(days: 1))
        #expect(!decide(.ou, thirdParty, "4.8.1", ledger([granted])).isRefusal)
        #expect(decide(.ou, thirdParty, "4.8.1", ledger([granted], at: now.adding(milliseconds: 2 * 86_400_000))).isRefusal, "expired")
        #expect(decide(.ou, thirdParty, "4.8.1", ledger([granted, entry(thirdParty, .research, .withdraw, nil, at: now.adding(milliseconds: -60_000))])).isRefusal)
        // Another party's consent does not count.
        #expect(decide(.ou, EUI64(0x4444), "4.8.1", ledger([granted])).isRefusal)
    }

    @Test func consentsNeverCrossAChangeOfTenancy() {
        let previous = entry(thirdParty, .energyServices, .grant, .halfHourly, occupancy: 0)
        let newTenancy = Occupancy(premises: premises, sequence: 1, start: now.adding(milliseconds: -1000), cause: "3.2")
        #expect(decide(.ou, thirdParty, "4.8.1", ledger([previous], occupancy: newTenancy)).isRefusal)
        let fresh = entry(thirdParty, .energyServices, .grant, .halfHourly, occupancy: 1)
        guard case .release(_, _, let from) = decide(.ou, thirdParty, "4.8.1", ledger([previous, fresh], occupancy: newTenancy)) else {
            Issue.record("the new occupant's own consent allows the read")
            return
        }
        #expect(from == newTenancy.start, "never readings from before the move-in")
    }

    @Test func networkOperatorNeedsAPlanAndGetsOnlyAggregates() {
        #expect(decide(.ed, operatorEUI, "4.1.1", ledger([])).rule == "network-operator-monthly")
        let refused = decide(.ed, operatorEUI, "4.8.1", ledger([]))
        #expect(refused.isRefusal && refused.rule == "network-operator-dpp-required")
        let plan = DataPrivacyPlan(id: 7, user: operatorEUI, name: "feeders", approvalReference: "OFG-1")
        guard case .aggregate(let id, _, _, _) = decide(.ed, operatorEUI, "4.8.1", ledger([]), plans: [plan]) else {
            Issue.record("a plan routes the read into aggregation")
            return
        }
        #expect(id == 7)
        var gas = plan
        gas.fuel = .gas
        #expect(decide(.ed, operatorEUI, "4.8.1", ledger([]), plans: [gas]).isRefusal, "a gas plan does not cover electricity")
    }

    @Test func plansThatBreakTheRulesAreNotApproved() throws {
        let good = #"{"name": "LV feeders", "approvalReference": "OFG-DPP-1", "level": "feeder", "minimumHouseholds": 5, "dominanceLimit": 0.15}"#
        let plan = try DataPrivacyPlan.parse(Data(good.utf8), user: operatorEUI, at: now)
        #expect(plan.level == .feeder && plan.minimumHouseholds == 5 && plan.purposes == [.networkPlanning])
        #expect(plan.warnings().first?.contains("at least 7 households") == true)
        for (json, problem) in [
            (#"{"name": "x", "approvalReference": "A", "minimumHouseholds": 1}"#, "at least 2"),
            (#"{"name": "x", "approvalReference": "A", "purposes": ["marketing"]}"#, "not allowed"),
            (#"{"name": "x", "approvalReference": "A", "dominanceLimit": 1.5}"#, "between 0 and 1"),
            (#"{"name": "x", "approvalReference": ""}"#, "approved"),
            (#"{"name": "x", "approvalReference": "A", "level": "street"}"#, "not valid JSON"),
            (#"{"name": "x""#, "not valid JSON"),
        ] {
            #expect(throws: DataPrivacyPlan.ParseError.self) { try DataPrivacyPlan.parse(Data(json.utf8), user: operatorEUI, at: now) }
            do {
                _ = try DataPrivacyPlan.parse(Data(json.utf8), user: operatorEUI, at: now)
            } catch {
                #expect(error.description.contains(problem), "\(json): \(error)")
            }
        }
    }

    @Test func pseudonymsArePerPlanAndPerOccupancy() {
        let a = Pseudonymiser(key: Array(repeating: 1, count: 32))
        let b = Pseudonymiser(key: Array(repeating: 2, count: 32))
        #expect(a.pseudonym(premises: 5, occupancy: 0) == a.pseudonym(premises: 5, occupancy: 0))
        #expect(a.pseudonym(premises: 5, occupancy: 0) != b.pseudonym(premises: 5, occupancy: 0))
        #expect(a.pseudonym(premises: 5, occupancy: 0) != a.pseudonym(premises: 5, occupancy: 1))
        #expect(a.pseudonym(premises: 5, occupancy: 0).count == 24)
    }

    @Test func registerReadsAreClassedByHowOftenTheyAreSent() throws {
        let read = try #require(DataRequest.classify(srv: "4.1.1"))
        let hour: Int64 = 3_600_000
        #expect(read.registerReadClass(previous: nil, at: now) == .monthly)
        #expect(read.registerReadClass(previous: now.adding(milliseconds: -hour / 2), at: now) == .halfHourly)
        #expect(read.registerReadClass(previous: now.adding(days: -1), at: now) == .daily)
        #expect(read.registerReadClass(previous: now.adding(days: -27), at: now) == .monthly)
        #expect(try #require(DataRequest.classify(srv: "4.8.1")).registerReadClass(previous: now, at: now) == .halfHourly, "not a register read: its own class")

        let empty = ledger([])
        // A network operator polling registers: refused with the rule, even with a plan.
        let plan = DataPrivacyPlan(id: 1, user: operatorEUI, name: "p", approvalReference: "a")
        let polled = rules.registerFrequency(role: .ed, party: operatorEUI, request: read, ledger: empty, previous: now.adding(milliseconds: -hour), at: now)
        #expect(polled?.isRefusal == true && polled?.rule == "register-read-frequency")
        #expect(decide(.ed, operatorEUI, "4.1.1", empty, plans: [plan]).rule == "network-operator-monthly", "a first read is a monthly read")
        // Daily reads of registers need daily consent; with it, they are released.
        let daily = ledger([entry(operatorEUI, .networkPlanning, .grant, .daily, method: .portal)])
        #expect(rules.registerFrequency(role: .ed, party: operatorEUI, request: read, ledger: daily, previous: now.adding(days: -2), at: now)?.isRefusal == false)
        #expect(rules.registerFrequency(role: .ed, party: operatorEUI, request: read, ledger: daily, previous: now.adding(milliseconds: -hour), at: now)?.isRefusal == true)
        // Other users likewise; suppliers' billing reads are never classed.
        #expect(rules.registerFrequency(role: .ou, party: thirdParty, request: read, ledger: empty, previous: now.adding(days: -3), at: now)?.rule == "register-read-frequency")
        #expect(rules.registerFrequency(role: .is, party: supplier, request: read, ledger: empty, previous: now.adding(milliseconds: -hour), at: now) == nil)
        #expect(rules.registerFrequency(role: .ed, party: operatorEUI, request: read, ledger: empty, previous: now.adding(days: -30), at: now) == nil)
        // Event and security logs date an installation, top-ups and moves: daily data.
        #expect(decide(.ed, operatorEUI, "6.13", empty).rule == "network-operator-dpp-required")
        #expect(!decide(.is, supplier, "6.13", empty).isRefusal)
    }
}
