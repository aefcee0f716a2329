import DUIS

/// One day of a household's readings for the inferences: half-hourly Wh.
public struct RevealDay: Sendable {
    public var day: Int32
    public var importWh: [Double]
    public var exportWh: [Double]

    public init(day: Int32, importWh: [Double], exportWh: [Double]) {
        self.day = day
        self.importWh = importWh
        self.exportWh = exportWh
    }

    /// 0 = Monday.
    public var weekday: Int { Int((Int64(day) + 3) % 7 + 7) % 7 }
    public var isWeekend: Bool { weekday >= 5 }
    public var importTotal: Double { importWh.reduce(0, +) }
    public var exportTotal: Double { exportWh.reduce(0, +) }
}

/// What one inference found at one granularity.
public struct Inference: Sendable, Hashable, Codable {
    public var name: String
    public var granularity: String
    /// What the data gives away, or why it cannot.
    public var finding: String
    public var revealed: Bool

    public init(name: String, granularity: String, finding: String, revealed: Bool) {
        self.name = name
        self.granularity = granularity
        self.finding = finding
        self.revealed = revealed
    }
}

/// The inferences seed 003 describes, run on one household's data at half-hourly, daily
/// and monthly granularity (and on a plan's aggregates): the evidence behind the rules.
/// The thresholds are gbsm's own modelling of the signatures 003 names (a morning rise
/// for waking, a 200–400 W baseline for an empty home, about 3 kW for half an hour of
/// cooking, about 7 kW overnight for an EV, standby-only days for holidays, midday
/// export for solar panels); the sources give no thresholds.
public enum Reveal {
    static func clock(_ slot: Int) -> String {
        let minutes = slot * 30
        return (minutes / 60 < 10 ? "0" : "") + "\(minutes / 60):" + (minutes % 60 == 0 ? "00" : "30")
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    /// The household's standby: the quietest night half hours (01:00–04:00).
    static func baseline(_ days: [RevealDay]) -> Double {
        let night = days.flatMap { $0.importWh[2..<8] }.sorted()
        return night.isEmpty ? 0 : night[night.count / 5]
    }

    static func isAway(_ day: RevealDay, baseline: Double) -> Bool {
        (day.importWh.max() ?? 0) < max(baseline * 2.2, baseline + 120) && day.importTotal < baseline * 48 * 1.35
    }

    /// Every inference at the three granularities.
    public static func analyse(_ days: [RevealDay]) -> [Inference] {
        guard days.count >= 7 else {
            return [Inference(name: "all", granularity: "any", finding: "fewer than 7 days of data: nothing to infer yet", revealed: false)]
        }
        let base = baseline(days)
        let present = days.filter { !isAway($0, baseline: base) }
        var result: [Inference] = []

        // Wake time.
        func wake(_ day: RevealDay) -> Int? { (8..<22).first { day.importWh[$0] > base + 150 && day.importWh[$0 + 1] > base + 100 } }
        let weekdayWakes = present.filter { !$0.isWeekend }.compactMap(wake)
        let weekendWakes = present.filter(\.isWeekend).compactMap(wake)
        if weekdayWakes.count >= 3 {
            let weekday = Int(median(weekdayWakes.map(Double.init)))
            var finding = "wakes around \(clock(weekday)) on weekdays"
            if weekendWakes.count >= 2 { finding += ", \(clock(Int(median(weekendWakes.map(Double.init))))) at weekends" }
            if weekday <= 10 { finding += " (an early start: shift work?)" } else if weekday >= 18 { finding += " (a late start: retired or working from home?)" }
            result.append(Inference(name: "wake time", granularity: "half-hourly", finding: finding, revealed: true))
        } else {
            result.append(Inference(name: "wake time", granularity: "half-hourly", finding: "no regular morning rise", revealed: false))
        }
        result.append(Inference(name: "wake time", granularity: "daily", finding: "not visible: a day's total says nothing about its hours", revealed: false))

        // Daytime occupancy.
        let weekdays = present.filter { !$0.isWeekend }
        let daytime = median(weekdays.map { day in day.importWh[20..<32].reduce(0, +) / 12 })
        let occupied = daytime > base * 1.6 + 60
        let daytimeExport = median(weekdays.map { day in day.exportWh[20..<32].reduce(0, +) / 12 })
        if daytimeExport > 25 {
            result.append(Inference(name: "daytime occupancy", granularity: "half-hourly",
                                    finding: "hidden: the solar panels cover daytime use, so the import says little about who is home", revealed: false))
        } else {
        result.append(Inference(name: "daytime occupancy", granularity: "half-hourly",
                                finding: occupied ? "someone is home on weekdays (10:00–16:00 at \(Int(daytime * 2)) W against a \(Int(base * 2)) W standby)"
                                    : "the home is empty on weekday daytimes (\(Int(daytime * 2)) W, close to its \(Int(base * 2)) W standby): a pattern a burglar could use",
                                revealed: true))
        }
        result.append(Inference(name: "daytime occupancy", granularity: "daily", finding: "not visible", revealed: false))

        // Cooking.
        let cooking = present.compactMap { day -> (Int, Double)? in
            guard let peak = (33..<41).max(by: { day.importWh[$0] < day.importWh[$1] }) else { return nil }
            // 3 kW or so for half an hour; a car charging is not a meal.
            return day.importWh[peak] > base + 700 && day.importWh[peak] < 2_500 ? (peak, day.importWh[peak]) : nil
        }
        if cooking.count * 2 >= present.count, !cooking.isEmpty {
            result.append(Inference(name: "cooking", granularity: "half-hourly",
                                    finding: "cooks on \(cooking.count) of \(present.count) days, the evening meal around \(clock(Int(median(cooking.map { Double($0.0) }))))"
                                        + " (\(String(format: "%.1f", median(cooking.map(\.1)) * 2 / 1000)) kW at the peak)", revealed: true))
        } else {
            result.append(Inference(name: "cooking", granularity: "half-hourly", finding: "no regular evening cooking peak", revealed: false))
        }
        result.append(Inference(name: "cooking", granularity: "daily", finding: "not visible", revealed: false))

        // EV charging: an hour or more at 5 kW and above.
        func charging(_ day: RevealDay) -> Int? { (0..<47).first { day.importWh[$0] >= 2_500 && day.importWh[$0 + 1] >= 2_500 } }
        let sessions = days.compactMap(charging)
        if sessions.count >= 3 {
            let night = sessions.filter { $0 < 14 || $0 >= 44 }.count * 2 > sessions.count
            result.append(Inference(name: "electric vehicle", granularity: "half-hourly",
                                    finding: "charges an electric vehicle (about 7 kW) on \(sessions.count) of \(days.count) days, usually from about \(clock(Int(median(sessions.map(Double.init)))))"
                                        + (night ? " (timed for cheap night hours)" : " (when someone gets home)"),
                                    revealed: true))
        } else {
            result.append(Inference(name: "electric vehicle", granularity: "half-hourly", finding: "no hour-long 7 kW charging", revealed: false))
        }
        let totals = days.map(\.importTotal)
        let typical = median(totals)
        let heavy = totals.filter { $0 > typical + 12_000 }.count
        result.append(Inference(name: "electric vehicle", granularity: "daily",
                                finding: heavy >= 3 ? "\(heavy) days use 12 kWh or more above the typical \(Int(typical / 1000)) kWh: an electric vehicle is likely, but not when it charges"
                                    : "no days with an EV's extra 20–40 kWh", revealed: heavy >= 3))

        // Holidays.
        let away = days.map { isAway($0, baseline: base) }
        var runs: [(Int32, Int)] = []
        var index = 0
        while index < days.count {
            if away[index] {
                var end = index
                while end + 1 < days.count && away[end + 1] { end += 1 }
                if end - index + 1 >= 3 { runs.append((days[index].day, end - index + 1)) }
                index = end + 1
            } else {
                index += 1
            }
        }
        func describe(_ runs: [(Int32, Int)]) -> String {
            runs.map { "\($0.1) days from \(Timestamp(dayNumber: $0.0).isoDate)" }.joined(separator: "; ")
        }
        result.append(Inference(name: "holidays", granularity: "half-hourly",
                                finding: runs.isEmpty ? "no days of standby only" : "away (standby only) for \(describe(runs)): the home was empty", revealed: !runs.isEmpty))
        let dailyAway = days.map { $0.importTotal < typical * 0.45 }
        var dailyRuns = 0
        var streak = 0
        for flag in dailyAway {
            streak = flag ? streak + 1 : 0
            if streak == 3 { dailyRuns += 1 }
        }
        result.append(Inference(name: "holidays", granularity: "daily",
                                finding: dailyRuns > 0 ? "\(dailyRuns) run(s) of 3 or more days at under half the usual total: holidays are visible in daily data too" : "no run of low days",
                                revealed: dailyRuns > 0))
        result.append(Inference(name: "holidays", granularity: "monthly", finding: "a week away lowers a month by about a fifth: not distinguishable from weather", revealed: false))

        // Solar panels.
        let exported = days.map(\.exportTotal)
        if exported.contains(where: { $0 > 500 }) {
            let peaks = days.compactMap { day in day.exportTotal > 500 ? (16..<34).max { day.exportWh[$0] < day.exportWh[$1] } : nil }
            let best = days.map { $0.exportWh.max() ?? 0 }.max() ?? 0
            result.append(Inference(name: "solar panels", granularity: "half-hourly",
                                    finding: "exports at midday (peak \(clock(Int(median(peaks.map(Double.init)))))), at least \(String(format: "%.1f", best * 2 / 1000)) kW of panels", revealed: true))
            result.append(Inference(name: "solar panels", granularity: "daily", finding: "daily export totals show panels (\(Int(median(exported) / 1000)) kWh a day)", revealed: true))
            result.append(Inference(name: "solar panels", granularity: "monthly", finding: "the export register shows panels", revealed: true))
        } else {
            result.append(Inference(name: "solar panels", granularity: "half-hourly", finding: "no export", revealed: false))
        }
        result.append(Inference(name: "consumption", granularity: "monthly",
                                finding: "about \(Int(typical * 30 / 1000)) kWh a month: the size of the bill, and over a year whether the home is heated electrically", revealed: true))
        return result
    }

    /// The same inferences on a plan's aggregate (a group's mean household): what the
    /// network operator can see.
    public static func analyseAggregate(_ days: [RevealDay], households: Int) -> [Inference] {
        analyse(days).filter { $0.granularity == "half-hourly" }.map { inference in
            var aggregate = inference
            aggregate.granularity = "plan aggregate (\(households) households)"
            aggregate.finding = inference.revealed ? "the group's mean: \(inference.finding); it belongs to no household" : inference.finding
            aggregate.revealed = false
            return aggregate
        }
    }
}
