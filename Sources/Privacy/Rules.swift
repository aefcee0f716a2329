import DUIS

/// What an SRV returns about a household, when it returns consumption at all.
public struct DataRequest: Sendable, Hashable {
    public var srv: SRV
    public var granularity: Granularity
    public var what: String

    /// Whether a data privacy plan aggregates this SRV's readings (import profiles and
    /// daily consumption); under a plan the others are withheld, not aggregated.
    public var feedsPlans: Bool { srv == "4.8.1" || srv == "4.17" }

    /// The SRVs that read a meter's registers: a monthly read when sent monthly, but a
    /// profile when polled.
    public static let registerReads: Set<SRV> = ["4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2", "4.3", "4.18", "4.4.2", "4.4.3"]

    public var isRegisterRead: Bool { Self.registerReads.contains(srv) }

    /// What a register read is, given when the same party last had this household's
    /// registers: two reads under 23 hours apart give a half-hourly-class profile, under
    /// 27 days apart a daily one (a register read every day is a daily consumption log).
    public func registerReadClass(previous: Timestamp?, at now: Timestamp) -> Granularity {
        guard isRegisterRead, let previous else { return granularity }
        let gap = previous.milliseconds(to: now)
        if gap < 23 * 3_600_000 { return .halfHourly }
        if gap < 27 * CalendarDay.millisecondsPerDay { return .daily }
        return .monthly
    }

    /// How long a log entry of this data covers (entries are stamped at its end): half an
    /// hour, a day, or 0 for snapshots (registers, billing data logs).
    public var periodMilliseconds: Int64 {
        switch granularity {
        case .halfHourly: return 1_800_000
        case .daily: return srv == "4.12.1" || srv == "4.12.2" ? 0 : CalendarDay.millisecondsPerDay
        case .monthly: return 0
        }
    }

    /// The consumption an SRV reveals, or nil for SRVs that return no consumption
    /// (configuration, tariffs, events, network data).
    public static func classify(srv: SRV) -> DataRequest? {
        switch srv {
        case "4.8.1": return DataRequest(srv: srv, granularity: .halfHourly, what: "half-hourly import profile")
        case "4.8.2": return DataRequest(srv: srv, granularity: .halfHourly, what: "half-hourly reactive import profile")
        case "4.8.3": return DataRequest(srv: srv, granularity: .halfHourly, what: "half-hourly export profile")
        case "4.16": return DataRequest(srv: srv, granularity: .halfHourly, what: "live active power")
        case "4.10": return DataRequest(srv: srv, granularity: .halfHourly, what: "network data (voltage profile, or gas register samples)")
        case "4.6.1": return DataRequest(srv: srv, granularity: .daily, what: "daily import register reads")
        case "4.6.2": return DataRequest(srv: srv, granularity: .daily, what: "daily export register reads")
        case "4.17": return DataRequest(srv: srv, granularity: .daily, what: "daily consumption log")
        case "4.14": return DataRequest(srv: srv, granularity: .daily, what: "prepayment daily read log")
        case "4.12.1", "4.12.2": return DataRequest(srv: srv, granularity: .daily, what: "maximum demand registers")
        case "4.4.4", "4.4.5": return DataRequest(srv: srv, granularity: .daily, what: "prepayment credit and debt log")
        case "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2", "4.3", "4.18", "4.4.2", "4.4.3":
            return DataRequest(srv: srv, granularity: .monthly, what: "register reads (as for a bill)")
        // Not consumption, but the household's all the same: what it pays, when it used its
        // heating boost or its auxiliary loads, which devices it has.
        case "4.11.1", "4.11.2": return DataRequest(srv: srv, granularity: .monthly, what: "the household's tariff")
        case "7.11": return DataRequest(srv: srv, granularity: .daily, what: "boost button use (when the heating was boosted)")
        // Event and security logs date the installation, top-ups, HAN joins and changes of
        // supplier (usually a move): the household's, at daily granularity.
        case "6.13": return DataRequest(srv: srv, granularity: .daily, what: "event and security logs (installation, top-ups, devices joined, changes of supplier)")
        case "7.15": return DataRequest(srv: srv, granularity: .daily, what: "auxiliary controller operation")
        case "7.7", "7.14": return DataRequest(srv: srv, granularity: .monthly, what: "auxiliary load settings")
        case "8.9": return DataRequest(srv: srv, granularity: .monthly, what: "the devices on the household's HAN")
        default: return nil
        }
    }
}

/// How suppliers may have half-hourly data.
public enum SupplierHalfHourlyPolicy: String, Sendable, Codable, CaseIterable {
    /// Only with the consumer's opt-in (the supply licence rule).
    case optIn = "opt-in"
    /// For settlement unless the consumer opted out (market-wide half-hourly settlement).
    case settlement
}

/// What the hub does with the rules' refusals.
public enum PrivacyEnforcement: String, Sendable, Codable, CaseIterable {
    /// Refuse what the rules refuse (gbsm's default).
    case enforce
    /// Audit what the rules would refuse and let it through, as DCC itself does.
    case dcc
}

/// The outcome of the rules for one read of one household's data.
public enum PrivacyVerdict: Sendable, Hashable {
    /// The user may have the readings from `dataFrom` on.
    case release(rule: String, reason: String, dataFrom: Timestamp)
    /// The readings go into the plan's aggregation; the user gets none of them raw.
    case aggregate(plan: Int64, rule: String, reason: String, dataFrom: Timestamp)
    case refuse(rule: String, reason: String)

    public var rule: String {
        switch self {
        case .release(let rule, _, _), .aggregate(_, let rule, _, _), .refuse(let rule, _): return rule
        }
    }

    public var reason: String {
        switch self {
        case .release(_, let reason, _), .aggregate(_, _, let reason, _), .refuse(_, let reason): return reason
        }
    }

    public var isRefusal: Bool { if case .refuse = self { return true } else { return false } }
}

/// The data access rules, per role. Pure: the caller supplies the occupancy's consent
/// ledger and the user's approved plans.
public struct PrivacyRules: Sendable {
    public var supplierHalfHourly: SupplierHalfHourlyPolicy

    public init(supplierHalfHourly: SupplierHalfHourlyPolicy = .optIn) {
        self.supplierHalfHourly = supplierHalfHourly
    }

    /// The purposes a supplier's reads serve.
    static let supplierPurposes: Set<Purpose> = [.billing, .settlement, .energyServices]

    /// SRVs that change which devices are on a home's HAN.
    public static let hanChangeSRVs: Set<SRV> = ["8.7.2", "8.8.2", "8.11"]

    /// An other user changing a home's HAN (DCC's matrix lets other users join, unjoin and
    /// update the comms hub's device log for any device). Joining a device to the meters
    /// (8.7.2) gives it the home's live readings, every 10 seconds: an other user needs the
    /// household's verified consent for half-hourly data (the finest the ledger knows).
    /// Unjoining a device or changing the device log (8.8.2, 8.11) is allowed for a device
    /// that user joined itself, and otherwise needs the same consent. Nil when the rule
    /// does not apply (another role, another SRV): suppliers' HAN changes follow their
    /// registration, as access control decided.
    public func hanChange(role: UserRole, party: EUI64, srv: SRV, ledger: ConsentLedger, joinedByParty: Bool) -> PrivacyVerdict? {
        guard role == .ou, Self.hanChangeSRVs.contains(srv) else { return nil }
        let what = srv == "8.7.2" ? "joining a device to this home's meters" : srv == "8.8.2" ? "unjoining a device from this home's meters" : "changing this home's comms hub device log"
        if srv != "8.7.2", joinedByParty {
            return .release(rule: "other-user-han", reason: "\(srv): \(what) is allowed for a device \(party) joined itself", dataFrom: ledger.occupancy.start)
        }
        guard let consent = ledger.consent(party: party, covering: .halfHourly, verified: true) else {
            return .refuse(rule: "other-user-han",
                           reason: "\(srv): \(what) needs the consumer's verified consent for half-hourly data (a joined device reads the meters every 10 seconds)"
                               + (srv == "8.7.2" ? "" : ", unless \(party) joined the device itself") + "; \(party) has none for this occupancy")
        }
        return .release(rule: "other-user-han",
                        reason: "\(srv): \(what) with the consumer's consent for \(consent.purpose.rawValue) at \(consent.granularity.name) given \(consent.given.isoDate)",
                        dataFrom: ledger.occupancy.start)
    }

    /// Register reads classed by frequency: a network operator or other user reading this
    /// household's registers again within 27 days (`DataRequest.registerReadClass`) needs
    /// what a read of that granularity needs: the consumer's verified consent (a plan takes
    /// profiles and daily logs, not registers). Nil when the rule does not apply (suppliers,
    /// whose billing reads are unaffected; other SRVs; a first read, or one a month after).
    public func registerFrequency(role: UserRole, party: EUI64, request: DataRequest, ledger: ConsentLedger, previous: Timestamp?,
                                  at now: Timestamp) -> PrivacyVerdict? {
        guard [.ed, .gt, .ou].contains(role), request.isRegisterRead, let previous else { return nil }
        let effective = request.registerReadClass(previous: previous, at: now)
        guard effective > .monthly else { return nil }
        let what = "\(request.srv) (\(request.what)) again \(Self.interval(previous.milliseconds(to: now))) after the last, as often as \(effective.name) data"
        if let consent = ledger.consent(party: party, covering: effective, verified: true) {
            return .release(rule: "register-read-frequency",
                            reason: "\(what): the consumer consented to \(consent.granularity.name) data for \(consent.purpose.rawValue) on \(consent.given.isoDate)",
                            dataFrom: max(ledger.occupancy.start, consent.dataFrom ?? ledger.occupancy.start))
        }
        return .refuse(rule: "register-read-frequency",
                       reason: "\(what): register reads more often than monthly rebuild a \(effective.name) profile, which \(party) may have only with the consumer's verified consent (a data privacy plan takes profiles, not polled registers); read at most once in 27 days")
    }

    static func interval(_ milliseconds: Int64) -> String {
        let minutes = max(0, milliseconds / 60_000)
        if minutes < 120 { return "\(minutes) minute(s)" }
        if minutes < 48 * 60 { return "\(minutes / 60) hour(s)" }
        return "\(minutes / 1440) day(s)"
    }

    /// Decides one read of `request` by `party` acting as `role`.
    public func decide(role: UserRole, party: EUI64, request: DataRequest, ledger: ConsentLedger, plans: [DataPrivacyPlan], fuel: PlanFuel) -> PrivacyVerdict {
        let occupancyStart = ledger.occupancy.start
        let what = "\(request.srv) (\(request.what), \(request.granularity.name))"
        switch role {
        case .is, .es, .gs, .rsa:
            return supplier(party: party, request: request, ledger: ledger, what: what, from: occupancyStart)
        case .ed, .gt:
            if request.granularity == .monthly {
                return .release(rule: "network-operator-monthly", reason: "\(what): a network operator may read data for periods of a month or more without a plan", dataFrom: occupancyStart)
            }
            if let consent = ledger.consent(party: party, covering: request.granularity, verified: true) {
                return .release(rule: "network-operator-consent",
                                reason: "\(what): the consumer consented to \(consent.granularity.name) data for \(consent.purpose.rawValue) on \(consent.given.isoDate) (\(consent.method.rawValue))",
                                dataFrom: max(occupancyStart, consent.dataFrom ?? occupancyStart))
            }
            if let plan = plans.first(where: { $0.covers(granularity: request.granularity, fuel: fuel) }) {
                return .aggregate(plan: plan.id, rule: "network-operator-dpp",
                                  reason: "\(what): under data privacy plan \(plan.id) (\(plan.name), approval \(plan.approvalReference)); the readings go into the plan's \(plan.level.rawValue) aggregates, never raw to the user",
                                  dataFrom: occupancyStart)
            }
            return .refuse(rule: "network-operator-dpp-required",
                           reason: "\(what): a network operator may have household data for periods under a month only with the consumer's consent or under an approved data privacy plan (SLC10A); \(party) has neither for \(request.granularity.name) \(fuel.rawValue) data")
        case .ou:
            guard let consent = ledger.consent(party: party, covering: request.granularity, verified: true) else {
                let unverified = ledger.consent(party: party, covering: request.granularity)
                let detail = unverified.map { "the consent of \($0.given.isoDate) was given by \($0.method.rawValue), which the hub cannot verify; the consumer must confirm it in the portal or with the IHD code" }
                    ?? "the consumer of this occupancy has given \(party) no current consent for \(request.granularity.name) data"
                return .refuse(rule: "other-user-consent", reason: "\(what): other users need the consumer's explicit, verified consent; \(detail)")
            }
            return .release(rule: "other-user-consent",
                            reason: "\(what): consent for \(consent.purpose.rawValue) at \(consent.granularity.name) given \(consent.given.isoDate) by \(consent.method.rawValue)"
                                + (consent.until.map { ", until \($0.isoDate)" } ?? ""),
                            dataFrom: max(occupancyStart, consent.dataFrom ?? occupancyStart))
        case .dcc:
            return .refuse(rule: "dcc-no-consumption", reason: "\(what): DCC does not read consumption")
        }
    }

    private func supplier(party: EUI64, request: DataRequest, ledger: ConsentLedger, what: String, from start: Timestamp) -> PrivacyVerdict {
        switch request.granularity {
        case .monthly:
            return .release(rule: "supplier-monthly", reason: "\(what): monthly reads for billing need no consent", dataFrom: start)
        case .daily:
            if let consent = ledger.consent(party: party, covering: .daily, purposes: Self.supplierPurposes) {
                return .release(rule: "supplier-daily", reason: "\(what): consent for \(consent.purpose.rawValue) at \(consent.granularity.name) given \(consent.given.isoDate)", dataFrom: start)
            }
            if let withdrawal = ledger.withdrawal(party: party, purpose: .billing), (withdrawal.ceiling ?? .monthly) < .daily {
                return .refuse(rule: "supplier-daily-opt-out", reason: "\(what): the consumer opted out of daily reads on \(withdrawal.at.isoDate); the supplier may read monthly")
            }
            return .release(rule: "supplier-daily", reason: "\(what): daily reads are allowed unless the consumer opts out", dataFrom: start)
        case .halfHourly:
            if let consent = ledger.consent(party: party, covering: .halfHourly, purposes: Self.supplierPurposes) {
                return .release(rule: "supplier-half-hourly-opt-in",
                                reason: "\(what): the consumer opted in to half-hourly data for \(consent.purpose.rawValue) on \(consent.given.isoDate) (\(consent.method.rawValue))", dataFrom: start)
            }
            if supplierHalfHourly == .settlement {
                if let withdrawal = ledger.withdrawal(party: party, purpose: .settlement), (withdrawal.ceiling ?? .monthly) < .halfHourly {
                    return .refuse(rule: "supplier-settlement-opt-out", reason: "\(what): the consumer opted out of half-hourly settlement on \(withdrawal.at.isoDate)")
                }
                return .release(rule: "supplier-settlement", reason: "\(what): half-hourly data for settlement (market-wide half-hourly settlement) unless the consumer opts out", dataFrom: start)
            }
            return .refuse(rule: "supplier-half-hourly-opt-in",
                           reason: "\(what): a supplier may have half-hourly data only with the consumer's opt-in; this occupancy has not opted in for \(party) (daily and monthly reads are allowed)")
        }
    }
}
