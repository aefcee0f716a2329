import DUIS
import Foundation
import Testing
import WAN

/// The WAN model: per-region delays and losses, the sleeping gas meter, outages, the
/// 2G/3G sunset and coverage.
@Suite struct WANModelTests {
    let now = Timestamp(year: 2026, month: 1, day: 15, hour: 12)

    func endpoint(_ premises: Int64, _ region: CSPRegion, signal: Int = 0, atRisk: Bool = false) -> WANEndpoint {
        WANEndpoint(premises: premises, region: region, signalClass: signal, atRiskFromSunset: atRisk)
    }

    func roundTrips(_ model: WANModel, region: CSPRegion, device: DeviceType = .esme, count: Int = 4000) -> (times: [Double], lost: Int) {
        var times: [Double] = []
        var lost = 0
        for index in 0..<count {
            switch model.attempt(endpoint(Int64(index), region), device: device, message: UInt64(index), attempt: 0, at: now) {
            case .delivered(let roundTrip, _): times.append(Double(roundTrip.components.seconds) + Double(roundTrip.components.attoseconds) / 1e18)
            case .lost: lost += 1
            case .unreachable: Issue.record("unreachable without an outage")
            }
        }
        return (times.sorted(), lost)
    }

    @Test func theNorthsLongRangeRadioIsSlowerThanCellular() {
        let model = WANModel(settings: WANSettings(speedUp: 1, delays: true, losses: true))
        let north = roundTrips(model, region: .north), south = roundTrips(model, region: .south)
        let northMedian = north.times[north.times.count / 2], southMedian = south.times[south.times.count / 2]
        #expect(northMedian > 7 && northMedian < 11, "North median \(northMedian) s")
        #expect(southMedian > 2.5 && southMedian < 4.5, "South median \(southMedian) s")
        // Some messages are lost, well under 5% with a good signal; none with losses off.
        #expect(north.lost > 0 && north.lost < 200)
        #expect(roundTrips(WANModel(settings: WANSettings(speedUp: 1, delays: true, losses: false)), region: .north).lost == 0)
        // Every answer comes back before the hub's timeout.
        #expect(north.times.last ?? 99 < WANModel.timeout)
    }

    @Test func speedUpAndInstantSettingsScaleTheWaits() {
        let fast = roundTrips(WANModel(settings: WANSettings(speedUp: 100, delays: true, losses: false)), region: .north)
        let real = roundTrips(WANModel(settings: WANSettings(speedUp: 1, delays: true, losses: false)), region: .north)
        // Waits are whole milliseconds, so a hundredth of one is within 0.5 ms of exact.
        #expect(abs(fast.times[2000] * 100 - real.times[2000]) < 0.06)
        let instant = roundTrips(WANModel(settings: .instant), region: .north)
        #expect(instant.times.allSatisfy { $0 == 0 })
    }

    @Test func theGasMeterWakesEveryHalfHourAndTheGPFAnswersReads() {
        let model = WANModel(settings: WANSettings(speedUp: 1, delays: true, losses: false))
        var waits: [Double] = []
        for index in 0..<500 {
            let premises = endpoint(Int64(index), .central)
            guard case .delivered(_, let wait) = model.attempt(premises, device: .gsme, message: 1, attempt: 0, at: now) else {
                Issue.record("not delivered")
                continue
            }
            waits.append(Double(wait.components.seconds))
            guard case .delivered(_, let gpfWait) = model.attempt(premises, device: .gsme, message: 1, attempt: 0, at: now, answeredByGPF: true) else { continue }
            #expect(gpfWait == .zero)
        }
        #expect(waits.allSatisfy { $0 >= 0 && $0 <= WANModel.gasWakeInterval })
        let mean = waits.reduce(0, +) / Double(waits.count)
        #expect(mean > 700 && mean < 1100, "wake-ups spread over the half hour: mean wait \(mean) s")
    }

    @Test func outagesAndTheSunsetMakeHubsUnreachable() {
        var model = WANModel(settings: WANSettings(speedUp: 1, delays: false, losses: false, sunset: Timestamp(year: 2025, month: 12, day: 1)))
        model.outages = [WANOutage(id: 1, region: .north, start: now.adding(milliseconds: -60_000), end: now.adding(milliseconds: 60_000), reason: "test")]
        guard case .unreachable(let reason) = model.attempt(endpoint(1, .north), device: .esme, message: 1, attempt: 0, at: now) else {
            Issue.record("the outage did not cut the North off")
            return
        }
        #expect(reason.contains("North"))
        if case .unreachable = model.attempt(endpoint(1, .north), device: .esme, message: 1, attempt: 0, at: now.adding(milliseconds: 61_000)) {
            Issue.record("the outage did not end")
        }
        if case .unreachable = model.attempt(endpoint(1, .south), device: .esme, message: 1, attempt: 0, at: now) {
            Issue.record("the South was cut off by the North's outage")
        }
        // After the sunset, at-risk hubs are dark and the others are not.
        #expect(model.unreachable(endpoint(2, .south, atRisk: true), at: now)?.contains("2G/3G") == true)
        #expect(model.unreachable(endpoint(2, .south, atRisk: false), at: now) == nil)
        #expect(model.unreachable(endpoint(2, .south, atRisk: true), at: Timestamp(year: 2025, month: 11, day: 30)) == nil)
    }

    @Test func coverageMatchesTheRegionsAndIsStable() {
        let model = WANModel(settings: .realTime)
        var covered: [CSPRegion: Int] = [:]
        let count = 20_000
        for region in [CSPRegion.north, .central] {
            for index in 0..<count {
                let postcode = "ZZ\(index % 99) \(index / 99)AB"
                let coverage = model.coverage(postcode: postcode, region: region, at: now)
                if coverage.available { covered[region, default: 0] += 1 } else { #expect(coverage.anticipated != nil && coverage.likelihood == .low) }
                #expect(coverage == model.coverage(postcode: postcode.lowercased(), region: region, at: now), "the same postcode gets the same answer")
            }
        }
        let north = Double(covered[.north] ?? 0) / Double(count), central = Double(covered[.central] ?? 0) / Double(count)
        #expect(abs(north - 0.995) < 0.003, "North coverage \(north)")
        #expect(abs(central - 0.992) < 0.003, "Central coverage \(central)")
        #expect(model.coverage(postcode: "M22 0RR", region: .central, at: now).technology == "Cellular")
        #expect(model.coverage(postcode: "AB10 1AA", region: .north, at: now).technology == "Long Range Radio")
    }
}
