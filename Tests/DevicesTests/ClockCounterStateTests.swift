import DUIS
import Foundation
import Testing
@testable import Devices

/// A read changes nothing of a premises but its device's counter, taken from the clock:
/// `differsOnlyByClockCounters` lets one hub process skip storing such a state.
@Suite struct ClockCounterStateTests {
    @Test func aReadChangesOnlyItsClockCounterAndACommandChangesMore() {
        let model = Bench.premises { _, _ in true }
        var state = PremisesState()
        let meter = Bench.command("4.1.1", model, .esme, body: Bench.element("ReadInstantaneousImportRegisters"))
        // The device's first answer gives it a counter: stored.
        let first = state
        _ = Bench.emulator.execute(meter, model: model, state: &state, at: Bench.now)
        #expect(!state.differsOnlyByClockCounters(from: first, at: Bench.now))
        // Its next read, a second later: only the counter moved, to the clock's time.
        let later = Timestamp(milliseconds: Bench.now.milliseconds + 1_000)
        let second = state
        let outcome = Bench.emulator.execute(meter, model: model, state: &state, at: later)
        #expect(outcome.success)
        #expect(outcome.response.header.counter == later.microsecondCounter)
        #expect(state.differsOnlyByClockCounters(from: second, at: later))
        // Two answers in one microsecond: the second counter is one above the clock's, and
        // must be stored (a reload would give the clock's again).
        let third = state
        _ = Bench.emulator.execute(meter, model: model, state: &state, at: later)
        #expect(!state.differsOnlyByClockCounters(from: third, at: later))
        // A log entry (as commands that change a meter add) is a change.
        var logged = second
        logged.deviceCounters = state.deviceCounters
        logged.log(LogEntry(at: later, code: 1, meaning: "x"), device: meter.target)
        #expect(!logged.differsOnlyByClockCounters(from: second, at: later))
        // Anything else that differs is a change, even with the revision unchanged.
        var tampered = second
        tampered.deviceCounters[meter.target] = later.microsecondCounter
        #expect(tampered.differsOnlyByClockCounters(from: second, at: later))
        tampered.revision += 1
        #expect(!tampered.differsOnlyByClockCounters(from: second, at: later))
    }

    @Test func aReloadedStateIsRaisedAboveTheCountersNotStored() {
        let device = EUI64(0x00DB_1234_5678_90A0), other = EUI64(0x00DB_1234_5678_90A1)
        var state = PremisesState()
        let now = Timestamp(milliseconds: 1_767_225_600_000)
        _ = state.nextDeviceCounter(device, at: now)
        let stored = state
        // The next read's counter (the clock's) is not stored; the memory forgets the state.
        let unstored = state.nextDeviceCounter(device, at: now.adding(milliseconds: 1))
        var reloaded = stored
        reloaded.deviceCounters[other] = 5
        reloaded.raiseDeviceCounters(atLeast: unstored)
        // Even in the same millisecond, the device answers above what it answered before.
        #expect(reloaded.nextDeviceCounter(device, at: now.adding(milliseconds: 1)) > unstored)
        #expect(reloaded.deviceCounters[other] == unstored)
    }
}
