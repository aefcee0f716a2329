#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open file descriptors (`RLIMIT_NOFILE`). Every connection holds
/// one, and the hub dies, not merely refuses, when the runtime cannot open one, so the
/// server raises its soft limit to the hard one when it starts (the soft limit is often
/// 1,024 while the hard one is far higher), and sizes its connection cap from the result
/// (`ConnectionLimits.total(configured:descriptors:)`).
struct FileDescriptorLimit: Sendable, Equatable {
    /// The soft limit before and after raising it, and the hard limit.
    var before: Int
    var soft: Int
    var hard: Int

    /// Raises the soft limit to the hard one (on Darwin, to `OPEN_MAX` at most, which is
    /// all `setrlimit` takes there). If the limits cannot be read, 1,024 is assumed.
    static func raise() -> FileDescriptorLimit {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return FileDescriptorLimit(before: 1024, soft: 1024, hard: 1024) }
        let before = limit.rlim_cur
        var target = limit.rlim_max
        #if canImport(Darwin)
        target = min(target, rlim_t(OPEN_MAX))
        #endif
        if target > limit.rlim_cur {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(resource, &raised) == 0 { limit.rlim_cur = target }
        }
        return FileDescriptorLimit(before: count(before), soft: count(limit.rlim_cur), hard: count(limit.rlim_max))
    }

    /// A limit as a count (`RLIM_INFINITY` and anything beyond `Int32.max` count as `Int32.max`).
    private static func count(_ value: rlim_t) -> Int {
        value >= rlim_t(Int32.max) ? Int(Int32.max) : Int(value)
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}
