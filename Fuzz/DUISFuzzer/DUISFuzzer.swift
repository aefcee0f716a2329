/// A libFuzzer target for everything the gateway does with untrusted bytes before it
/// trusts them: XML parsing with limits, reading the DUIS structure, locating and
/// checking the signature's structure, canonicalisation, identifiers and timestamps.
///
/// Fuzzing build (see .ci/run):
///   swift build --product DUISFuzzer --scratch-path .build-fuzz \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
///   .build-fuzz/debug/DUISFuzzer -runs=200000 -dict=Fuzz/duis.dict CORPUS
/// In a normal build the executable replays files given as arguments (crash inputs).
import DUIS
import Foundation

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    if let text = String(validating: bytes.prefix(64), as: UTF8.self) {
        _ = RequestID(text)
        _ = EUI64(text)
        _ = Timestamp(xsDateTime: text)
        _ = Timestamp(xsDate: text)
    }
    guard let document = try? XMLDocument.parse(bytes, limits: .duis) else { return }
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

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// libFuzzer's entry point for programs that have their own main.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
struct Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        exit(status)
    }
}
#else
@main
struct ReplayInputs {
    static func main() throws {
        let files = CommandLine.arguments.dropFirst()
        if files.isEmpty {
            print("usage: DUISFuzzer FILE... (replays inputs; build with -sanitize=fuzzer to fuzz)")
        }
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            data.withUnsafeBytes { fuzzOne($0) }
            print("replayed \(file) (\(data.count) bytes)")
        }
    }
}
#endif
