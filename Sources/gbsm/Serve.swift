import ArgumentParser
import Devices
import DUIS
import Foundation
import Homes
import Hub
import Hummingbird
import Logging
import Privacy
import Server
import ServiceLifecycle
import SMKI
import Storage
import WAN

struct HubOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = 8079

    @Option(name: .customLong("anomaly-limit"), help: "DCC's default anomaly detection threshold: requests per user and SRV within the window.")
    var anomalyLimit: Int = 100_000

    @Option(name: .customLong("anomaly-window"), help: "The anomaly detection window in seconds.")
    var anomalyWindow: Int = 3600

    @Option(name: .customLong("retry-initial"), help: "First delay, in seconds, before a failed response delivery is retried (doubling after each failure).")
    var retryInitial: Double = 1

    @Option(name: .customLong("retry-max"), help: "Longest delay, in seconds, between delivery retries.")
    var retryMax: Double = 300

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("wan-speedup"), help: "Run the WAN's delays this many times faster than real time (600 makes a gas meter's 30-minute wake-up wait 3 s).")
    var wanSpeedup: Double = 1

    @Option(name: .customLong("wan-delays"), help: "on, or off for no WAN delay at all.")
    var wanDelays: String = "on"

    @Option(name: .customLong("wan-losses"), help: "on, or off for a WAN that never loses a message.")
    var wanLosses: String = "on"

    @Option(name: .customLong("fault-rate"), help: "Power interruptions per premises per year in the fleet (LV feeder faults).")
    var faultRate: Double = 0.5

    @Option(name: .customLong("tamper-rate"), help: "Tamper alerts per premises per year in the fleet.")
    var tamperRate: Double = 0.0005

    @Option(name: .customLong("low-credit-alerts"), help: "on or off: prepayment meters alert when their balance runs low.")
    var lowCreditAlerts: String = "on"

    @Option(name: .customLong("device-concurrency"), help: "Device requests in progress at once at the device boundary.")
    var deviceConcurrency: Int = 512

    @Option(name: .customLong("privacy"), help: "enforce: the data access rules refuse reads without consent or plan (gbsm's default); dcc: audit what they would refuse and let it through, as DCC does.")
    var privacy: String = "enforce"

    @Option(name: .customLong("smki-port"), help: "Also serve SMKI's repository services (/services/certificatesearch, /services/retrievecertificate) on this port, as DCC Boxed does on 8083; they are on the hub's port in any case (gbsm demo: 8083; 0 for none).")
    var smkiPort: Int?

    @Option(name: .customLong("schemas"), help: "A folder with DCC's duis-5.4.xsd, mmc-5.4.xsd and xmldsig-core-schema.xsd: every request is validated against DUIS 5.4. Default: $GBSM_SCHEMAS, else shared/reference/duis/xsd beside the checkout. 'off' runs without schema validation.")
    var schemas: String?

    @Option(name: .customLong("supplier-half-hourly"), help: "opt-in: suppliers get half-hourly data only with the consumer's opt-in; settlement: for settlement unless the consumer opted out.")
    var supplierHalfHourly: String = "opt-in"

    @Option(name: .customLong("body-timeout"), help: "Seconds a request body that does not arrive with its head may take (a body announced large gets its length at --min-body-rate, up to --body-timeout-max); then 408 and the connection is closed.")
    var bodyTimeout: Double = 30

    @Option(name: .customLong("body-timeout-max"), help: "The most seconds any request body may take to arrive.")
    var bodyTimeoutMax: Double = 120

    @Option(name: .customLong("body-grace"), help: "Seconds before --min-body-rate applies to a request body.")
    var bodyGrace: Double = 5

    @Option(name: .customLong("min-body-rate"), help: "KiB/s a request body must average, since its head, once the grace has passed.")
    var minBodyRate: Int = 16

    @Option(name: .customLong("body-budget"), help: "MiB that large request bodies (over 64 KiB) still arriving may hold together; a request beyond it gets 503 with Retry-After.")
    var bodyBudget: Int = 64

    @Option(name: .customLong("client-body-budget"), help: "MiB of that budget one client (an IPv4 address or an IPv6 /64) may hold.")
    var clientBodyBudget: Int = 16

    @Option(name: .customLong("client-large-bodies"), help: "Large request bodies (over 64 KiB) one client may send at once.")
    var clientLargeBodies: Int = 4

    @Option(name: .customLong("max-connections"), help: "Connections open at once from all clients; lowered at start to leave half the open file limit (at least 256 descriptors) free. A connection beyond it gets 503 and is closed at once.")
    var maxConnections: Int = 4096

    @Option(name: .customLong("max-connections-per-client"), help: "Connections one client (an IPv4 address or an IPv6 /64) may hold open at once; beyond it, 503 and closed at once.")
    var maxConnectionsPerClient: Int = 64

    @Option(name: .customLong("metrics-token"), help: "Require Authorization: Bearer TOKEN on /metrics (the process list shows it: prefer --metrics-token-file).")
    var metricsToken: String?

    @Option(name: .customLong("metrics-token-file"), help: "A file holding the token /metrics requires (its first line).")
    var metricsTokenFile: String?

    @Option(name: .customLong("portal-origin"), help: "An origin (https://host[:port]) whose posts the portal accepts besides its own Host, e.g. behind a proxy that rewrites Host; repeatable.")
    var portalOrigins: [String] = []

    func validate() throws {
        guard (1...AnomalyWindow.longestSeconds).contains(anomalyWindow), anomalyLimit >= 0 else {
            throw ValidationError("--anomaly-window is 1 to \(AnomalyWindow.longestSeconds) seconds (a year and a day) and --anomaly-limit 0 or more")
        }
        for (name, value) in [("--body-timeout", bodyTimeout), ("--body-timeout-max", bodyTimeoutMax), ("--body-grace", bodyGrace)] where !(value >= 0 && value <= 86_400) {
            throw ValidationError("\(name) is between 0 and 86400 seconds")
        }
        for (name, value) in [("--min-body-rate", minBodyRate), ("--body-budget", bodyBudget), ("--client-body-budget", clientBodyBudget),
                              ("--client-large-bodies", clientLargeBodies), ("--max-connections", maxConnections),
                              ("--max-connections-per-client", maxConnectionsPerClient)] where !(value > 0 && value <= 1 << 20) {
            throw ValidationError("\(name) is between 1 and \(1 << 20)")
        }
        do {
            try bodyLimits.validate(largestBody: ServerConfiguration().maxBodyBytes)
        } catch {
            throw ValidationError("\(error)")
        }
        for origin in portalOrigins where !ServerConfiguration.validOrigin(origin) {
            throw ValidationError("--portal-origin \(origin) is not an origin such as https://portal.example or http://host:8079")
        }
        if metricsToken != nil && metricsTokenFile != nil { throw ValidationError("give --metrics-token or --metrics-token-file, not both") }
        if metricsToken?.trimmingCharacters(in: .whitespaces).isEmpty == true { throw ValidationError("--metrics-token cannot be empty") }
        guard wanSpeedup > 0 else { throw ValidationError("--wan-speedup must be positive") }
        for (name, value) in [("--wan-delays", wanDelays), ("--wan-losses", wanLosses), ("--low-credit-alerts", lowCreditAlerts)] where value != "on" && value != "off" {
            throw ValidationError("\(name) is on or off")
        }
        guard faultRate >= 0, tamperRate >= 0 else { throw ValidationError("rates cannot be negative") }
        guard deviceConcurrency > 0 else { throw ValidationError("--device-concurrency must be positive") }
        guard PrivacyEnforcement(rawValue: privacy) != nil else { throw ValidationError("--privacy is enforce or dcc") }
        guard SupplierHalfHourlyPolicy(rawValue: supplierHalfHourly) != nil else { throw ValidationError("--supplier-half-hourly is opt-in or settlement") }
    }

    var bodyLimits: BodyLimits {
        BodyLimits(readTimeout: .milliseconds(Int64(bodyTimeout * 1000)), maxReadTimeout: .milliseconds(Int64(bodyTimeoutMax * 1000)),
                   grace: .milliseconds(Int64(bodyGrace * 1000)), minimumRate: minBodyRate << 10, budgetBytes: bodyBudget << 20,
                   clientBudgetBytes: clientBodyBudget << 20, clientLargeBodies: clientLargeBodies)
    }

    /// The HTTP server's settings (reads the metrics token's file).
    func serverConfiguration() throws -> ServerConfiguration {
        var token = metricsToken
        if let metricsTokenFile {
            let line = try String(contentsOfFile: metricsTokenFile, encoding: .utf8).split(whereSeparator: \.isNewline).first
            token = line.map { $0.trimmingCharacters(in: .whitespaces) }
            guard token?.isEmpty == false else { throw ValidationError("\(metricsTokenFile) holds no token") }
        }
        return ServerConfiguration(host: host, port: port, bodyLimits: bodyLimits, metricsToken: token, portalOrigins: portalOrigins,
                                   maxConnections: maxConnections, maxConnectionsPerClient: maxConnectionsPerClient)
    }

    var wanSettings: WANSettings {
        WANSettings(speedUp: wanSpeedup, delays: wanDelays == "on", losses: wanLosses == "on")
    }

    var fleetEventSettings: FleetEventSettings {
        FleetEventSettings(interruptionsPerPremisesYear: faultRate, tampersPerPremisesYear: tamperRate, lowCreditAlerts: lowCreditAlerts == "on")
    }

    /// DCC's schemas, compiled: from `--schemas`, `$GBSM_SCHEMAS`, or the reference data
    /// beside the checkout. When none is named and none is found, `required` makes that
    /// an error (`serve`); otherwise (`demo`) the hub runs without, and says so.
    func loadSchemas(required: Bool) throws -> DUISSchemas? {
        let named = schemas ?? ProcessInfo.processInfo.environment["GBSM_SCHEMAS"]
        if named == "off" { return nil }
        let directory: URL
        if let named {
            directory = URL(fileURLWithPath: named)
        } else if let found = DUISSchemas.locateDefault() {
            directory = found
        } else {
            let looked = DUISSchemas.defaultCandidates().prefix(3).map(\.path).joined(separator: ", ")
            let message = "DCC's DUIS 5.4 schemas were not found (looked in \(looked), …). gbsm does not ship them (they are DCC's, published with GPL-3.0 tooling): point --schemas (or GBSM_SCHEMAS) at a folder holding \(DUISSchemas.duisFile), \(DUISSchemas.mmcFile) and \(DUISSchemas.signatureFile), such as the project's ../shared/reference/duis/xsd, or pass --schemas off to run without schema validation."
            if required { throw ValidationError(message) }
            FileHandle.standardError.write(Data(("warning: " + message + " Running without schema validation.\n").utf8))
            return nil
        }
        do {
            return try DUISSchemas(directory: directory)
        } catch {
            throw ValidationError("--schemas: \(error)")
        }
    }

    var deliveryPolicy: DeliveryPolicy {
        DeliveryPolicy(initialBackoff: .milliseconds(Int64(max(retryInitial, 0.01) * 1000)), maximumBackoff: .milliseconds(Int64(max(retryMax, retryInitial) * 1000)))
    }
}

/// Opens the hub on a prepared data folder and serves until SIGINT or SIGTERM.
func runHub(data: URL, options: HubOptions, schemasRequired: Bool, signPort: Int? = nil, banner: (Int) -> [String]) async throws {
    let schemas = try options.loadSchemas(required: schemasRequired)
    let logger = makeLogger("gbsm", level: options.logLevel)
    MetricsBootstrap.ensure()
    let configuration = HubConfiguration(dataDirectory: data, anomalyDefaultLimit: options.anomalyLimit,
                                         anomalyDefaultWindowSeconds: options.anomalyWindow, delivery: options.deliveryPolicy,
                                         deviceConcurrency: options.deviceConcurrency,
                                         privacy: PrivacyEnforcement(rawValue: options.privacy) ?? .enforce,
                                         supplierHalfHourly: SupplierHalfHourlyPolicy(rawValue: options.supplierHalfHourly) ?? .optIn,
                                         schemas: schemas)
    let serverConfiguration = try options.serverConfiguration()
    let (hub, homes) = try await EmulatedHomes.open(configuration, homes: HomesSettings(wan: options.wanSettings, events: options.fleetEventSettings),
                                                    logger: logger)
    let lines = banner(options.port)
    let app = HubServer.application(hub: hub, homes: homes, configuration: serverConfiguration, logger: logger) { port in
        var text = ServeBanner.line(host: options.host, port: port, data: data.path)
        for line in lines { text += line + "\n" }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
    var services: [any Service] = [app]
    if let smkiPort = options.smkiPort, smkiPort != 0 {
        services.append(SMKIService(repository: hub.smki).application(host: options.host, port: smkiPort, logger: logger) { port in
            FileHandle.standardOutput.write(Data("SMKI repository services on http://\(options.host):\(port)/services/certificatesearch and /services/retrievecertificate\n".utf8))
        })
    }
    if let signPort {
        let signing = SigningService(keystore: try Keystore.load(from: configuration.keystoreURL), schemas: schemas)
        services.append(signing.application(host: options.host, port: signPort, logger: logger) { port in
            FileHandle.standardOutput.write(Data("gbsm signing service (DCC Boxed's signing tool API) on http://\(options.host):\(port)/sign and /verify\n".utf8))
        })
    }
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}

struct SignServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-server",
        abstract: "Serve DCC Boxed's signing tool API: POST /sign and /verify with the data folder's keys.",
        discussion: """
        POST /sign {"message": base64 unsigned DUIS, "preserveCounter": false} answers {"message": base64 signed DUIS}, signed \
        with the RequestID originator's XML-signing key, the counter set to the current time in milliseconds unless \
        preserveCounter. POST /verify {"message": base64 signed DUIS} checks the signature against the keystore's \
        certificates and answers the message without it. Failures are HTTP 400 {"error", "errorCode"}.
        """)

    @OptionGroup var data: DataOptions

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (DCC Boxed's signing tool uses 8080).")
    var port: Int = 8080

    @Option(help: "A keystore (ZAZ1 format) to use instead of the data folder's.")
    var keystore: String?

    @Option(name: .customLong("schemas"), help: "DCC's schema folder (as for serve); 'off' signs without validating.")
    var schemas: String?

    @Option(name: .customLong("allow-host"), help: "A host name the service accepts in Host besides localhost, address literals and --host (it refuses others, against DNS rebinding); repeatable.")
    var allowHosts: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        let keystoreURL = keystore.map { URL(fileURLWithPath: $0) } ?? HubConfiguration(dataDirectory: data.url).keystoreURL
        guard FileManager.default.fileExists(atPath: keystoreURL.path) else {
            throw ValidationError("no keystore at \(keystoreURL.path) (run `gbsm serve` or `gbsm smki init` on the data folder first, or pass --keystore)")
        }
        var options = try HubOptions.parse([])
        options.schemas = schemas
        let service = SigningService(keystore: try Keystore.load(from: keystoreURL), schemas: try options.loadSchemas(required: false))
        let logger = makeLogger("gbsm.sign", level: logLevel)
        let app = service.application(host: host, port: port, allowedHosts: Set(allowHosts.map { $0.lowercased() }), logger: logger) { port in
            FileHandle.standardOutput.write(Data("gbsm signing service on http://\(host):\(port) (POST /sign, POST /verify; keys from \(keystoreURL.path))\n".utf8))
        }
        try await app.runService()
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the DCC hub: the DUIS web services on /api/v1/serviceS, serviceD and serviceT.")

    @OptionGroup var data: DataOptions
    @OptionGroup var options: HubOptions

    @Option(name: .customLong("dcc-boxed"), help: "Import a keystore in DCC Boxed's ZAZ1 format and behave like a fresh DCC Boxed (its users, DSP key and default premises).")
    var dccBoxed: String?

    @Option(name: .customLong("response-url"), help: "Response endpoint for the imported users (where asynchronous responses and alerts are POSTed).")
    var responseURL: String?

    func run() async throws {
        if let dccBoxed {
            let report = try await Provisioning.provision(dataDirectory: data.url, keystoreFile: URL(fileURLWithPath: dccBoxed), responseURL: responseURL)
            print("DCC Boxed mode: \(report.keystoreSource); users \(report.users.map { "\($0.eui) (\($0.roles.display))" }.joined(separator: ", "))"
                  + (report.createdPremises ? "; default premises commissioned" : ""))
            for skipped in report.skippedCertificates { print("  keystore entry skipped: \(skipped)") }
        } else if let responseURL {
            let store = try await data.store()
            let now = Timestamp.now()
            var mutations: [Mutation] = []
            for var user in try await store.users() {
                user.responseURL = responseURL
                mutations.append(.putUser(user))
            }
            mutations += [.audit(AuditEvent(at: now, kind: .admin, detail: "response endpoint of every user set to \(responseURL)")), .bumpRegistryVersion]
            try await store.apply(mutations)
        }
        try await runHub(data: data.url, options: options, schemasRequired: true) { _ in [] }
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub with demo defaults: SQLite in ./gbsm-data, a generated test PKI, DCC Boxed's users and default premises.")

    @Option(help: "The demo's data folder.")
    var data: String = "./gbsm-data"

    @OptionGroup var options: HubOptions

    @Option(name: .customLong("response-url"), help: "Response endpoint for the demo users.")
    var responseURL: String?

    @Option(help: "Homes in the demo's emulated fleet, built on the first start (0 for none; `gbsm fleet create` makes others).")
    var premises: Int = 10_000

    @Option(name: .customLong("sign-port"), help: "Port of the signing service (DCC Boxed's signing tool API, /sign and /verify); 0 for none.")
    var signPort: Int = 8080

    func validate() throws {
        guard premises >= 0, premises <= 60_000_000 else { throw ValidationError("--premises must be between 0 and 60,000,000") }
    }

    func run() async throws {
        var options = options
        if options.smkiPort == nil { options.smkiPort = 8083 }
        let url = URL(fileURLWithPath: data, isDirectory: true)
        let report = try await Provisioning.provision(dataDirectory: url, keystoreFile: nil, responseURL: responseURL)
        let fleetURL = HubConfiguration.fleetURL(url)
        var fleetLine = "Fleet: none (gbsm fleet create --data \(data) --premises N)"
        if premises > 0 && !FileManager.default.fileExists(atPath: fleetURL.path) {
            let fleet = Fleet.build(FleetSpec(seed: 1, premises: premises, createdDay: Timestamp.now().day.number))
            try fleet.write(to: fleetURL)
            _ = try await Provisioning.registerFleet(dataDirectory: url, fleet: fleet, responseURL: responseURL)
        }
        if FileManager.default.fileExists(atPath: fleetURL.path), let fleet = try? Fleet.read(from: fleetURL) {
            let first = fleet.premises(0)
            fleetLine = "Fleet: \(fleet.count) emulated homes (seed \(fleet.spec.seed)); e.g. \(first.postcode), MPAN \(first.importMPAN), ESME \(first.eui(.esme)), "
                + "supplier \(first.supplier.eui). See `gbsm fleet stats|show --data \(data)`"
        }
        // A fresh portal code for the default premises, as its IHD would show it.
        var portalLines: [String] = []
        if let store = try? await HubConfiguration(dataDirectory: url).storeLocation.open(),
           let premises = try? await store.premises().first(where: { $0.id == 1 }),
           let occupancy = try? await store.currentOccupancy(premises: premises.id) {
            let issued = PortalSecrets.issue()
            try await store.apply(Mutation.issuePortalAccess(premises: premises.id, occupancy: occupancy.sequence, code: issued.code, token: issued.token,
                                                             at: Timestamp.now(), by: "gbsm demo"))
            portalLines = [
                "Consumer portal for the default premises: http://\(options.host):\(options.port)/portal/link/\(issued.token)",
                "  (or sign in at /portal with MPAN \(Provisioning.defaultMPAN) and the IHD code \(issued.code); other homes: gbsm privacy portal-code --data \(data) --mpxn N)",
            ]
        }
        let executable = CommandLine.arguments.first.map { $0.hasPrefix("/") || $0.hasPrefix(".") ? $0 : "gbsm" } ?? "gbsm"
        try await runHub(data: url, options: options, schemasRequired: false, signPort: signPort == 0 ? nil : signPort) { port in
            [
                "PKI: \(report.keystoreSource)",
                "Users: " + report.users.map { "\($0.eui) \($0.name) (\($0.roles.display))" }.joined(separator: "; "),
                "Default premises: ESME 00-DB-12-34-56-78-90-A0, GSME …-A1, CHF …-A2, GPF …-A3, IHD …-A4, PPMID …-A5, HCALCS …-A6 at M22 0RR",
                fleetLine,
                "",
                "Send a first request from another terminal (read the inventory of the default premises):",
                "  \(executable) example read-inventory | \(executable) sign --data \(data) - | curl -s --data-binary @- http://\(options.host):\(options.port)/api/v1/serviceD",
                "or a device request (acknowledged with I99; the meter's answer is POSTed to your response endpoint):",
                "  \(executable) example read-registers | \(executable) sign --data \(data) - | curl -s --data-binary @- http://\(options.host):\(options.port)/api/v1/serviceS",
                "Audit trail: \(executable) audit list --data \(data)",
            ] + portalLines
        }
    }
}
