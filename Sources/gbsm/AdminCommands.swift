import ArgumentParser
import DUIS
import Foundation
import Hub
import SMKI
import Storage

struct SMKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "smki", abstract: "The test PKI: generate it, list it.",
                                                     subcommands: [Init.self, List.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a test PKI (root, organisation CA, DCC's DSP signer and broker keys, users' XML-signing and GBCS keys) and register DCC Boxed's users with it.")

        @OptionGroup var data: DataOptions

        @Flag(help: "Replace an existing keystore (users get new certificates).")
        var force = false

        func run() async throws {
            let configuration = HubConfiguration(dataDirectory: data.url)
            if FileManager.default.fileExists(atPath: configuration.keystoreURL.path) {
                guard force else { throw ValidationError("\(configuration.keystoreURL.path) exists; use --force to replace it") }
                try FileManager.default.removeItem(at: configuration.keystoreURL)
            }
            let report = try await Provisioning.provision(dataDirectory: data.url, keystoreFile: nil, responseURL: nil, defaultPremises: false)
            print(report.keystoreSource)
            let keystore = try Keystore.load(from: configuration.keystoreURL)
            listKeystore(keystore)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the certificates in the data folder's keystore (or another ZAZ1-format file).")

        @OptionGroup var data: DataOptions

        @Option(help: "A keystore file to list instead.")
        var keystore: String?

        func run() async throws {
            let url = keystore.map { URL(fileURLWithPath: $0) } ?? HubConfiguration(dataDirectory: data.url).keystoreURL
            listKeystore(try Keystore.load(from: url))
        }
    }
}

func listKeystore(_ keystore: Keystore) {
    var rows = [["EUI", "ROLE", "USAGE", "KEY", "ISSUER", "SERIAL", "NAME"]]
    for entry in keystore.entries.sorted(by: { ($0.eui, $0.role ?? 0) < ($1.eui, $1.role ?? 0) }) {
        rows.append([entry.eui.description, entry.role.map(String.init) ?? "-", entry.usage.rawValue, entry.privateKeyPEM == nil ? "no" : "yes",
                     entry.certificate.issuerName, entry.certificate.serialNumber, entry.name ?? ""])
    }
    printTable(rows)
    for skipped in keystore.skipped { print("skipped: \(skipped)") }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "The DCC users the hub knows.",
                                                    subcommands: [Add.self, List.self, SetResponseURL.self, SetStatus.self, SetPayload.self, ResetCounter.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a DCC user. Without --certificate, a test XML-signing certificate and key are issued from the data folder's test PKI.")

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64 (its business originator ID).")
        var eui: String

        @Option(help: "A name for the user.")
        var name: String

        @Option(help: "Comma-separated roles: IS, ES, GS, ED, GT, OU, RSA.")
        var roles: String

        @Option(help: "The user's XML-signing certificate (PEM), issued elsewhere.")
        var certificate: String?

        @Option(name: .customLong("response-url"), help: "Where the hub POSTs the user's responses and alerts.")
        var responseURL: String?

        func run() async throws {
            let eui = try parseEUI(self.eui)
            let roles = try parseRoles(self.roles)
            let configuration = HubConfiguration(dataDirectory: data.url)
            let store = try await configuration.storeLocation.open()
            let smkiCertificate: SMKICertificate
            if let certificate {
                smkiCertificate = try SMKICertificate(pem: try String(contentsOfFile: certificate, encoding: .utf8))
                if let subject = smkiCertificate.subjectEUI, subject != eui {
                    throw ValidationError("the certificate's subject is \(subject), not \(eui)")
                }
                guard smkiCertificate.signingKey != nil else { throw ValidationError("the certificate does not hold an ECDSA P-256 key") }
            } else {
                let directory = configuration.keystoreURL.deletingLastPathComponent()
                var pki: TestPKI
                do {
                    pki = try TestPKI.load(from: directory)
                } catch {
                    throw ValidationError("no test PKI with an issuing CA key in \(directory.path) (its keystore may be an imported one): give --certificate")
                }
                let entry = try pki.issue(eui: eui, role: RemotePartyRole.xmlSigning, usage: .digitalSignature,
                                          name: name.lowercased().replacingOccurrences(of: " ", with: "-") + "-135-ds")
                try pki.keystore.write(to: configuration.keystoreURL)
                smkiCertificate = entry.certificate
                print("issued XML-signing certificate \(entry.certificate.serialNumber) from \(entry.certificate.issuerName); key added to \(configuration.keystoreURL.path)")
            }
            let existing = try await store.users().first { $0.eui == eui }
            let now = Timestamp.now()
            try await store.apply([
                .putUser(UserRecord(eui: eui, name: name, roles: roles, status: existing?.status ?? .active, responseURL: responseURL ?? existing?.responseURL,
                                    createdAt: existing?.createdAt ?? now)),
                .putUserCertificate(UserCertificateRecord(eui: eui, issuerName: smkiCertificate.issuerName, serialNumber: smkiCertificate.serialNumber,
                                                          role: smkiCertificate.role ?? RemotePartyRole.xmlSigning, der: smkiCertificate.der)),
                .audit(AuditEvent(at: now, kind: .admin, actor: eui, detail: "user \(eui) \"\(name)\" registered as \(roles.codes) with certificate \(smkiCertificate.serialNumber)")),
                .bumpRegistryVersion,
            ])
            print("registered \(eui) \(name) (\(roles.display))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users and their certificates.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let store = try await data.store()
            let certificates = try await store.userCertificates()
            var rows = [["EUI", "NAME", "ROLES", "STATUS", "ANSWERS", "RESPONSE URL", "CERTIFICATES"]]
            for user in try await store.users() {
                let serials = certificates.filter { $0.eui == user.eui }.map { "\($0.serialNumber) (\($0.issuerName))" }.joined(separator: ", ")
                rows.append([user.eui.description, user.name, user.roles.display, user.status.rawValue, user.answerFormat.rawValue, user.responseURL ?? "-", serials])
            }
            printTable(rows)
        }
    }

    struct SetResponseURL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-response-url", abstract: "Set where the hub POSTs a user's responses and alerts.")

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64.")
        var eui: String

        @Option(help: "The endpoint URL (empty to remove).")
        var url: String

        func run() async throws {
            if !url.isEmpty, URL(string: url)?.scheme.map({ ["http", "https"].contains($0) }) != true {
                throw ValidationError("\(url) is not an http or https URL")
            }
            try await updateUser(data: data, eui: eui, detail: "response endpoint set to \(url.isEmpty ? "none" : url)") { $0.responseURL = url.isEmpty ? nil : url }
        }
    }

    struct SetStatus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-status", abstract: "Set a user's status (active, suspended, withdrawn).")

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64.")
        var eui: String

        @Option(help: "active, suspended or withdrawn.")
        var status: String

        func run() async throws {
            guard let status = UserStatus(rawValue: status) else { throw ValidationError("status must be active, suspended or withdrawn") }
            try await updateUser(data: data, eui: eui, detail: "user status set to \(status.rawValue)") { $0.status = status }
        }
    }
}

extension AnswerFormat: ExpressibleByArgument {}

/// `gbsm audit list --kind`: one of the kinds gbsm writes.
extension AuditKind: ExpressibleByArgument {
    public init?(argument: String) {
        guard let kind = AuditKind.all.first(where: { $0.rawValue == argument }) else { return nil }
        self = kind
    }

    public static var allValueStrings: [String] { all.map(\.rawValue) }
}

/// `--srv`: a Service Reference Variant DUIS defines.
extension SRV: ExpressibleByArgument {
    public init?(argument: String) {
        guard let variant = ServiceCatalogue.variant(text: argument) else { return nil }
        self = variant.srv
    }
}

extension UsersCommand {
    struct SetPayload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-payload",
            abstract: "Choose what a user receives in sr:GBCSPayload: the device's GBCS (gbcs, as DCC sends it) or the MMC XML gbsm's Parse and Correlate makes of it (mmc).",
            discussion: """
                With mmc, gbsm verifies the device's MAC or signature and decrypts its sensitive values for the user, \
                so the data folder's keystore must hold the user's KA private key (gbsm's own test PKI and DCC Boxed's ZAZ1 keystore do).
                """)

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64.")
        var eui: String

        @Argument(help: "gbcs or mmc.")
        var format: AnswerFormat

        func run() async throws {
            if format == .mmc {
                let eui = try parseEUI(self.eui)
                let keystore = try Keystore.load(from: HubConfiguration(dataDirectory: data.url).keystoreURL)
                guard keystore.entries.contains(where: { $0.eui == eui && $0.usage == .keyAgreement && $0.privateKeyPEM != nil }) else {
                    throw ValidationError("the data folder's keystore holds no KA private key for \(eui): gbsm cannot open its answers, so they stay GBCS (parse them with your own keys: gbsm gbcs parse)")
                }
            }
            try await updateUser(data: data, eui: eui, detail: "device answers sent as \(format.rawValue)") { $0.answerFormat = format }
        }
    }

    struct ResetCounter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-counter",
            abstract: "Set a user's anti-replay counter (lower than it is, if need be), for example after a request with a runaway counter.",
            discussion: "Requests must carry a counter above this one. Lowering it lets requests with counters between the new and the old value through again: only do it when the user has asked.")

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64.")
        var eui: String

        @Option(help: "The new counter.")
        var counter: UInt64 = 0

        func run() async throws {
            let eui = try parseEUI(self.eui)
            let store = try await data.store()
            guard try await store.users().contains(where: { $0.eui == eui }) else { throw ValidationError("no user \(eui)") }
            let before = try await store.counters()[eui]
            let now = Timestamp.now()
            try await store.apply([
                .resetCounter(originator: eui, counter: counter, at: now),
                .audit(AuditEvent(at: now, kind: .admin, actor: eui, code: "counter-reset",
                                  detail: "anti-replay counter reset from \(before.map(String.init) ?? "none") to \(counter) by an operator")),
                .bumpRegistryVersion,
            ])
            print("\(eui): anti-replay counter \(before.map(String.init) ?? "none") → \(counter)")
        }
    }
}

/// Changes one user, audits the change and tells running hubs to reload.
func updateUser(data: DataOptions, eui text: String, detail: String, change: (inout UserRecord) -> Void) async throws {
    let eui = try parseEUI(text)
    let store = try await data.store()
    guard var user = try await store.users().first(where: { $0.eui == eui }) else { throw ValidationError("no user \(eui)") }
    change(&user)
    try await store.apply([.putUser(user), .audit(AuditEvent(kind: .admin, actor: eui, detail: detail)), .bumpRegistryVersion])
    print("\(eui): \(detail)")
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The hash-chained audit log.",
                                                    subcommands: [Verify.self, List.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every entry's hash and link; exits 1 if any entry was edited or deleted.")

        @OptionGroup var data: DataOptions

        @Option(name: .customLong("expect-head"), help: "A head (sequence:hash) recorded earlier elsewhere; the log must still contain it.")
        var expectHead: String?

        func run() async throws {
            let store = try await data.store()
            let result = try await store.verifyAudit()
            var problems = result.problems
            if let expectHead {
                let parts = expectHead.split(separator: ":")
                if parts.count == 2, let sequence = Int64(parts[0]) {
                    if try await store.auditEntry(sequence: sequence).map({ AuditChain.hex($0.hash) }) != String(parts[1]) {
                        problems.append("the expected head \(expectHead) is not in the log")
                    }
                } else {
                    throw ValidationError("--expect-head takes sequence:hash as printed by this command")
                }
            }
            print("\(result.entries) entries, head \(result.head)")
            if problems.isEmpty {
                print("intact: every entry matches its hash and links to the one before")
            } else {
                for problem in problems { print("TAMPERED: \(problem)") }
                throw ExitCode(1)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List audit entries, filtered by user, device, SRV, kind, request and time.")

        @OptionGroup var data: DataOptions

        @Option(help: "Entries by this user (EUI-64).")
        var user: String?

        @Option(help: "Entries about this device (EUI-64).")
        var device: String?

        @Option(help: "Entries about this Service Request Variant, e.g. 4.8.1.")
        var srv: String?

        @Option(help: "Entries of one kind.")
        var kind: AuditKind?

        @Option(help: "Entries of one RequestID.")
        var request: String?

        @Option(help: "From this date or date-time (UTC).")
        var from: String?

        @Option(help: "Before this date or date-time (UTC).")
        var to: String?

        @Option(help: "At most this many entries.")
        var limit: Int = 200

        @Flag(help: "One JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...10_000_000).contains(limit) else { throw ValidationError("--limit is 1 to 10,000,000 entries") }
        }

        func run() async throws {
            let store = try await data.store()
            let query = AuditQuery(actor: try user.map(parseEUI), device: try device.map(parseEUI), srv: srv, kind: kind, requestID: request,
                                   from: try from.map(parseTime), to: try to.map(parseTime), limit: limit)
            let entries = try await store.audit(query)
            if json {
                for entry in entries {
                    var object: [String: Any] = ["seq": entry.sequence, "at": entry.event.at.iso8601, "kind": entry.event.kind.rawValue, "detail": entry.event.detail,
                                                 "hash": AuditChain.hex(entry.hash)]
                    if let actor = entry.event.actor { object["user"] = actor.description }
                    if let device = entry.event.device { object["device"] = device.description }
                    if let srv = entry.event.srv { object["srv"] = srv }
                    if let requestID = entry.event.requestID { object["requestID"] = requestID }
                    if let code = entry.event.code { object["code"] = code }
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: data, as: UTF8.self))
                }
                return
            }
            var rows = [["SEQ", "TIME", "KIND", "USER", "DEVICE", "SRV", "CODE", "DETAIL"]]
            for entry in entries {
                let event = entry.event
                rows.append([String(entry.sequence), event.at.iso8601, event.kind.rawValue, event.actor?.description ?? "-", event.device?.description ?? "-",
                             event.srv ?? "-", event.code ?? "-", (event.requestID.map { $0 + " " } ?? "") + event.detail])
            }
            printTable(rows)
        }
    }
}

struct AnomalyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "anomaly", abstract: "Anomaly detection thresholds per user and SRV.",
                                                    subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's threshold for an SRV (or * for every SRV without its own).")

        @OptionGroup var data: DataOptions

        @Option(help: "The user's EUI-64.")
        var user: String

        @Option(help: "The Service Request Variant, or * .")
        var srv: String = "*"

        @Option(help: "Requests allowed within the window; more are quarantined.")
        var limit: Int

        @Option(help: "The window in seconds, at most a year and a day.")
        var window: Int = 3600

        func run() async throws {
            let user = try parseEUI(self.user)
            guard srv == "*" || ServiceCatalogue.variant(text: srv) != nil else { throw ValidationError("unknown SRV \(srv)") }
            guard limit >= 0, (1...AnomalyWindow.longestSeconds).contains(window) else {
                throw ValidationError("the limit must be 0 or more and the window from 1 to \(AnomalyWindow.longestSeconds) s (a year and a day)")
            }
            let store = try await data.store()
            try await store.apply([
                .putThreshold(AnomalyThreshold(user: user, srv: srv, limit: limit, windowSeconds: window)),
                .audit(AuditEvent(kind: .admin, actor: user, srv: srv == "*" ? nil : srv, detail: "anomaly threshold \(limit) per \(window) s for \(srv)")),
                .bumpRegistryVersion,
            ])
            print("\(user) \(srv): at most \(limit) requests per \(window) s")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the thresholds users have set.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            var rows = [["USER", "SRV", "LIMIT", "WINDOW (s)"]]
            for threshold in try await data.store().thresholds().sorted(by: { ($0.user, $0.srv) < ($1.user, $1.srv) }) {
                rows.append([threshold.user.description, threshold.srv, String(threshold.limit), String(threshold.windowSeconds)])
            }
            printTable(rows)
        }
    }
}

struct QuarantineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "Requests held by anomaly detection, and jobs parked after they were running when the hub died twice.",
        subcommands: [List.self, Release.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List quarantined and parked requests, and parked outbox messages.")

        @OptionGroup var data: DataOptions

        @Option(help: "Only this user's.")
        var user: String?

        func run() async throws {
            let store = try await data.store()
            let user = try self.user.map(parseEUI)
            var rows = [["KIND", "REQUEST / MESSAGE", "SRV", "EVENT / CRASHES", "RECEIVED"]]
            for request in try await store.requests(status: .quarantined, originator: user, limit: 10_000) {
                rows.append(["quarantined", request.requestID, request.srv, request.quarantineRef.map(String.init) ?? "-", request.receivedAt.iso8601])
            }
            for request in try await store.requests(status: .parked, originator: nil, limit: 10_000) where user == nil || request.originator == user {
                rows.append(["parked", request.requestID, request.srv, "\(request.crashes) crash(es)", request.receivedAt.iso8601])
            }
            for item in try await store.outbox(recipient: user, status: .parked, limit: 10_000) {
                rows.append(["parked message", "\(item.id ?? 0) (\(item.kind) to \(item.recipient))", "-", "\(item.crashes) crash(es)", item.createdAt.iso8601])
            }
            printTable(rows)
        }
    }

    /// Which held thing a subcommand acts on.
    struct Target: ParsableArguments {
        @Option(help: "A quarantined or parked request's RequestID (or a DCC schedule run's ID).")
        var request: String?

        @Option(help: "A parked outbox message's ID (from `gbsm quarantine list`).")
        var message: Int64?

        func validate() throws {
            guard (request == nil) != (message == nil) else { throw ValidationError("give either --request or --message") }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a quarantined or parked request (the running hub processes it), or send a parked message again.")

        @OptionGroup var data: DataOptions
        @OptionGroup var target: Target

        func run() async throws {
            if let message = target.message { return try await settleMessage(data: data, id: message, release: true) }
            try await settle(data: data, requestID: target.request ?? "", status: .released, verb: "released")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a quarantined or parked request (it is never processed), or discard a parked message.")

        @OptionGroup var data: DataOptions
        @OptionGroup var target: Target

        func run() async throws {
            if let message = target.message { return try await settleMessage(data: data, id: message, release: false) }
            try await settle(data: data, requestID: target.request ?? "", status: .refused, verb: "deleted")
        }
    }

    static func settle(data: DataOptions, requestID: String, status: RequestStatus, verb: String) async throws {
        let store = try await data.store()
        guard let stored = try await store.request(id: requestID) else { throw ValidationError("no request \(requestID)") }
        guard stored.status == .quarantined || stored.status == .parked else {
            throw ValidationError("\(requestID) is \(stored.status.rawValue), neither quarantined nor parked")
        }
        let held = stored.status == .parked ? "parked" : "quarantine"
        try await store.apply([
            .setRequestStatus(requestID: requestID, status: status, code: stored.code),
            .audit(AuditEvent(kind: .decision, actor: stored.originator, device: stored.target, srv: stored.srv, requestID: requestID,
                              code: "\(held)-\(status == .refused ? "deleted" : "released")",
                              detail: stored.status == .parked
                                  ? "[job-parked] \(verb) by an operator after \(stored.crashes) crash(es)"
                                  : "[quarantine] \(verb) by its user (event \(stored.quarantineRef.map(String.init) ?? "-"))")),
        ])
        print("\(requestID) \(verb)")
    }

    static func settleMessage(data: DataOptions, id: Int64, release: Bool) async throws {
        let store = try await data.store()
        guard let item = try await store.outboxItem(id: id) else { throw ValidationError("no outbox message \(id)") }
        guard item.status == .parked else { throw ValidationError("outbox message \(id) is \(item.status.rawValue), not parked") }
        let now = Timestamp.now()
        try await store.apply([
            release ? .releaseOutbox(id: id, at: now) : .discardOutbox(id: id),
            .audit(AuditEvent(at: now, kind: .admin, actor: item.recipient, requestID: item.requestID, code: release ? "message-released" : "message-discarded",
                              detail: "parked outbox message \(id) (\(item.kind) \(item.messageID)) \(release ? "released: it will be sent again" : "discarded by an operator")")),
        ])
        print("outbox message \(id) \(release ? "released" : "discarded")")
    }
}
