import ArgumentParser
import DUIS
import Foundation
import Hub
import SMKI

struct SignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a DUIS Service Request with its originator's XML-signing key from the keystore, setting a fresh counter.",
        discussion: "Like DCC Boxed's signing tool: any existing signature is replaced and the RequestID's counter is set to the current time in milliseconds (unless --preserve-counter). The signed request is written to standard output.")

    @OptionGroup var data: DataOptions

    @Argument(help: "The request file, or - for standard input.")
    var file: String

    @Option(help: "A keystore (ZAZ1 format) to take the key from, instead of the data folder's.")
    var keystore: String?

    @Flag(name: .customLong("preserve-counter"), help: "Keep the RequestID's counter.")
    var preserveCounter = false

    @Option(help: "Use this counter.")
    var counter: UInt64?

    func run() async throws {
        let input: Data
        if file == "-" {
            input = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            input = try Data(contentsOf: URL(fileURLWithPath: file))
        }
        let keystoreURL = keystore.map { URL(fileURLWithPath: $0) } ?? HubConfiguration(dataDirectory: data.url).keystoreURL
        let keys = try Keystore.load(from: keystoreURL)
        let signed = try signRequest([UInt8](input), keystore: keys,
                                     counter: preserveCounter ? nil : (counter ?? Timestamp.now().millisecondCounter))
        FileHandle.standardOutput.write(Data(signed))
    }
}

/// Sets the counter (when given), then signs with the originator's key.
func signRequest(_ bytes: [UInt8], keystore: Keystore, counter: UInt64?) throws -> [UInt8] {
    let document = try XMLDocument.parse(bytes, limits: .duis)
    let request = try ServiceRequestDocument(document)
    var requestID = request.header.requestID
    if let counter {
        requestID.counter = counter
        try request.setRequestID(requestID)
    }
    guard let entry = keystore.xmlSigningEntry(for: requestID.originator), let key = entry.signingKey else {
        throw ValidationError("the keystore holds no XML-signing key for \(requestID.originator)")
    }
    return try XMLSigner.sign(document, key: key, signer: entry.certificate.signerReference)
}

struct ExampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "example",
        abstract: "Print an unsigned example DUIS request addressed to the default premises (sign it with `gbsm sign`).")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case readInventory = "read-inventory"
        case readRegisters = "read-registers"
        case readProfile = "read-profile"
        case readFirmwareVersion = "read-firmware-version"
    }

    @Argument(help: "One of: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: Kind

    @Option(help: "The originator (the user sending it).")
    var from: String = Provisioning.supplier.description

    @Option(help: "The target device (ignored for non-device requests).")
    var device: String = "00-DB-12-34-56-78-90-A0"

    func run() throws {
        let originator = try parseEUI(from)
        let target = try parseEUI(device)
        let counter = Timestamp.now().millisecondCounter
        let (variant, srv, sr, destination, body): (Int, String, String, EUI64, String)
        switch kind {
        case .readInventory:
            (variant, srv, sr, destination, body) = (8, "8.2", "8.2", Provisioning.dccEUI,
                                                     "<sr:ReadInventory><sr:DeviceID>\(target)</sr:DeviceID></sr:ReadInventory>")
        case .readRegisters:
            (variant, srv, sr, destination, body) = (1, "4.1.1", "4.1", target, "<sr:ReadInstantaneousImportRegisters/>")
        case .readProfile:
            let end = Timestamp.now()
            let start = end.adding(days: -1)
            (variant, srv, sr, destination, body) = (1, "4.8.1", "4.8", target, """
                <sr:ReadActiveImportProfileData><sr:ReadLogPeriod><sr:StartDateTime>\(start.iso8601)</sr:StartDateTime>\
                <sr:EndDateTime>\(end.iso8601)</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadActiveImportProfileData>
                """)
        case .readFirmwareVersion:
            (variant, srv, sr, destination, body) = (1, "11.2", "11.2", target, "<sr:ReadFirmwareVersion/>")
        }
        print("""
        <?xml version="1.0" encoding="UTF-8"?>
        <sr:Request xmlns:sr="\(DUISNamespace.serviceUserGateway)" schemaVersion="5.4">
          <sr:Header>
            <sr:RequestID>\(originator):\(destination):\(counter)</sr:RequestID>
            <sr:CommandVariant>\(variant)</sr:CommandVariant>
            <sr:ServiceReference>\(sr)</sr:ServiceReference>
            <sr:ServiceReferenceVariant>\(srv)</sr:ServiceReferenceVariant>
          </sr:Header>
          <sr:Body>
            \(body)
          </sr:Body>
        </sr:Request>
        """)
    }
}
