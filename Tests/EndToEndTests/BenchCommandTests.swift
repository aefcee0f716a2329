import Foundation
import Testing
import TestSupport

/// `gbsm bench duis --separate-process`, the benchmark the README's figures come from,
/// starts its own hub process on a port the kernel gives it (read from the hub's banner)
/// and every request it sends is answered. No timing is checked: only that it runs.
@Suite struct BenchCommandTests {
    @Test func theDeviceMixRunsAgainstAHubInItsOwnProcess() throws {
        let binary = try #require(GBSMBinary.url, "build the gbsm executable first")
        let result = try Tool.run(binary.path, ["bench", "duis", "--requests", "64", "--warmup", "0", "--mix", "device", "--separate-process"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("hub in its own process"), "\(result.stdout)")
        let answers = try #require(result.stdout.split(separator: "\n").first { $0.contains("answers ") }, "\(result.stdout)")
        #expect(answers.hasSuffix("I99=64"), "every request accepted: \(answers)")
        #expect(result.stdout.contains("hub CPU"), "the hub's CPU per request is read from its own process")
    }
}
