/// A libFuzzer target for GBCS frames and payloads: decoding hostile bytes is a typed
/// error or a frame (and its DLMS, GBZ or ASN.1 content, and any bare DLMS value) that
/// encodes back to exactly those bytes, and never a trap; and a device's reading of a
/// command's execution time (`FutureDatedCommand`) is a time, nothing, or a typed problem.
///
/// Fuzzing build (see .ci/run, which seeds the corpus with DCC's reference vectors when
/// they are present):
///   swift build --product GBCSFuzzer --scratch-path .build-fuzz \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
///   .build-fuzz/debug/GBCSFuzzer -runs=200000 CORPUS
import Foundation
import FuzzSupport
import GBCS

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    let input = Array(bytes)
    // The same bytes as a payload of each kind, and as a DLMS value (decrypted blocks).
    for cra in [CRAFlag.command, .alert] {
        if let payload = try? GBCSPayload.decode(input, cra: cra) {
            if payload.encode() != input { fatalError("a decoded payload did not re-encode byte-exact") }
            if cra == .command { _ = try? FutureDatedCommand.read(payload) }
        }
    }
    if let value = try? DLMSData.decode(input), value.encoded() != input { fatalError("a DLMS value did not re-encode byte-exact") }
    guard let frame = try? GBCSFrame.decode(input) else { return }
    if let payload = try? GBCSPayload.decode(frame.content, cra: frame.cra), payload.encode() != frame.content {
        fatalError("a message's payload did not re-encode byte-exact")
    }
    let encoded = frame.encode()
    if encoded != input { fatalError("a decoded frame did not re-encode byte-exact (\(input.count) octets in, \(encoded.count) out)") }
    _ = frame.groupingHeader()
}

@main
struct Fuzz {
    static func main() {
        exit(FuzzDriver.run(name: "GBCSFuzzer", fuzzOne))
    }
}
