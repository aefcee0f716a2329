/// A libFuzzer target for GBCS frames: decoding hostile bytes is a typed error or a frame
/// that encodes back to exactly those bytes, and never a trap.
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
    guard let frame = try? GBCSFrame.decode(input) else { return }
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
