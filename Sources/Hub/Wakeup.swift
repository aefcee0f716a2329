import Synchronization

/// Lets a background loop sleep until it is signalled or a timeout passes.
final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Each wait has its own generation; a timer may end only the wait it was made for.
        var generation: UInt64 = 0
        /// A timer that fired before its wait began to sleep.
        var expiredGeneration: UInt64?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    /// Ends the wait of `generation` if it is still waiting (a timeout, not a signal:
    /// it leaves no signal behind for a later wait).
    private func timeOut(_ generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            guard let waiter = state.waiter else {
                state.expiredGeneration = generation
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Whether a signal is pending (for tests).
    var isSignalled: Bool { state.withLock { $0.signalled } }

    /// Returns when signalled, when `duration` has passed, or when the task is cancelled.
    func wait(upTo duration: Duration) async {
        let generation = state.withLock { state -> UInt64 in
            state.generation &+= 1
            return state.generation
        }
        let timer = Task { [weak self] in
            do {
                try await Task.sleep(for: duration)
            } catch {
                return
            }
            self?.timeOut(generation)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.expiredGeneration == generation { return true }
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
        timer.cancel()
    }
}
