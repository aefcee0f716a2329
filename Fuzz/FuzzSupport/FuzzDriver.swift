/// The entry point gbsm's libFuzzer targets share. Built with `-sanitize=fuzzer
/// -DFUZZING`, `run` hands the target to libFuzzer's driver (with its command-line
/// options); otherwise it replays the files given as arguments (crash inputs), or lets the
/// target run its own replay (`replay`). Each target calls it from its `main` with the
/// function that takes one input.
import Foundation

public enum FuzzDriver {
    /// The target's function for one input (libFuzzer's callbacks are C functions and
    /// cannot capture it, so it waits here).
    nonisolated(unsafe) static var target: ((UnsafeRawBufferPointer) -> Void)?

    /// Runs `fuzzOne` under libFuzzer, or replays inputs; returns the exit status.
    public static func run(name: String, _ fuzzOne: @escaping (UnsafeRawBufferPointer) -> Void,
                           replay: (([String]) throws -> Bool)? = nil) -> Int32 {
        target = fuzzOne
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzDriver.target?(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        #else
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            if let replay, try replay(arguments) { return 0 }
            if arguments.isEmpty { print("usage: \(name) FILE... (replays inputs; build with -sanitize=fuzzer -DFUZZING to fuzz)") }
            for file in arguments {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                data.withUnsafeBytes { fuzzOne($0) }
                print("replayed \(file) (\(data.count) bytes)")
            }
            return 0
        } catch {
            print("\(name): \(error)")
            return 1
        }
        #endif
    }
}

/// libFuzzer's entry for each input (required by the fuzzing runtime even when a program
/// runs the driver itself).
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzDriver.target?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// libFuzzer's entry point for programs that have their own main.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif
