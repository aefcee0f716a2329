/// A libFuzzer target for everything the gateway does with untrusted bytes before it
/// trusts them: XML parsing with limits, DCC's DUIS 5.4 and MMC 5.4 schema validation
/// (when the schemas are found: GBSM_SCHEMAS or the reference data beside the checkout),
/// reading the DUIS structure, locating and checking the signature's structure,
/// canonicalisation, identifiers and timestamps.
///
/// Fuzzing build (see .ci/run):
///   swift build --product DUISFuzzer --scratch-path .build-fuzz \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
///   .build-fuzz/debug/DUISFuzzer -runs=200000 -dict=Fuzz/duis.dict CORPUS
/// In a normal build the executable replays files given as arguments (crash inputs).
import DUIS
import Foundation
import FuzzSupport

let schemas: DUISSchemas? = {
    let named = ProcessInfo.processInfo.environment["GBSM_SCHEMAS"].map { URL(fileURLWithPath: $0) }
    guard let directory = named ?? DUISSchemas.locateDefault() else { return nil }
    return try? DUISSchemas(directory: directory)
}()

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    if let text = String(validating: bytes.prefix(64), as: UTF8.self) {
        _ = RequestID(text)
        _ = EUI64(text)
        _ = Timestamp(xsDateTime: text)
        _ = Timestamp(xsDate: text)
    }
    guard let document = try? XMLDocument.parse(bytes, limits: .duis) else { return }
    if let schemas {
        _ = schemas.validateDUIS(document)
        _ = schemas.validateMMC(document)
    }
    _ = try? document.canonicalBytes(algorithm: .inclusive)
    _ = try? document.canonicalBytes(algorithm: .exclusive)
    guard let request = try? ServiceRequestDocument(document) else { return }
    if let variant = request.header.commandVariant { _ = try? request.checkBody(for: variant) }
    _ = try? request.executionDateTime()
    _ = request.body()
    if let signature = try? request.signature() {
        _ = signature.signer.normalizedIssuer
    }
}

@main
struct Fuzz {
    static func main() {
        exit(FuzzDriver.run(name: "DUISFuzzer", fuzzOne))
    }
}
