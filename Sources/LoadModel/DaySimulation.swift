import Foundation

/// An appliance running for a while at a steady power.
public struct ApplianceEvent: Sendable {
    /// Start, UTC minutes from the start of the day.
    public var start: Double
    public var minutes: Double
    public var watts: Double

    public init(start: Double, minutes: Double, watts: Double) {
        self.start = start
        self.minutes = minutes
        self.watts = watts
    }
}

/// One home's day in detail: steady loads per half hour, appliance events, PV and gas.
/// Half-hourly energy and instantaneous power (what a CAD sees every 10 s) both come
/// from it, so they agree.
public struct DaySchedule: Sendable {
    public static let eventCapacity = 48

    /// Steady electrical load per UTC half hour (base, activity, lighting, heating), W.
    public var steadyW = InlineArray<48, Double>(repeating: 0)
    /// PV output per UTC half hour (average), W.
    public var solarW = InlineArray<48, Double>(repeating: 0)
    /// Gas burned per UTC half hour, Wh.
    public var gasWh = InlineArray<48, Double>(repeating: 0)
    public var events = InlineArray<48, ApplianceEvent>(repeating: ApplianceEvent(start: 0, minutes: 0, watts: 0))
    public var eventCount = 0
    /// True on a day the household is away (days of standby only).
    public var away = false

    mutating func add(_ event: ApplianceEvent) {
        guard eventCount < Self.eventCapacity, event.minutes > 0, event.watts > 0 else { return }
        var clipped = event
        if clipped.start < 0 {
            clipped.minutes += clipped.start
            clipped.start = 0
        }
        if clipped.start + clipped.minutes > 1440 { clipped.minutes = 1440 - clipped.start }
        guard clipped.minutes > 0 else { return }
        events[eventCount] = clipped
        eventCount += 1
    }

    /// Electricity used in the home per UTC half hour, Wh.
    public func consumptionWh() -> InlineArray<48, Double> {
        var result = InlineArray<48, Double>(repeating: 0)
        for slot in 0..<48 { result[slot] = steadyW[slot] * 0.5 }
        for index in 0..<eventCount {
            let event = events[index]
            var minute = event.start
            let end = event.start + event.minutes
            while minute < end {
                let slot = Int(minute / 30)
                if slot >= 48 { break }
                let slotEnd = Double(slot + 1) * 30
                let overlap = min(end, slotEnd) - minute
                result[slot] += event.watts * overlap / 60
                minute = slotEnd
            }
        }
        return result
    }

    /// Electrical demand (before PV) at a UTC minute of the day, W.
    public func demandW(atMinute minute: Double) -> Double {
        let slot = max(0, min(47, Int(minute / 30)))
        var watts = steadyW[slot]
        for index in 0..<eventCount {
            let event = events[index]
            if minute >= event.start && minute < event.start + event.minutes { watts += event.watts }
        }
        return watts
    }
}

/// The demand model: a day of any home, on demand.
public struct DemandModel: Sendable {
    public let weather: Weather

    public init(weatherSeed: UInt64 = 0x6762_736D_7765_6174) {
        weather = Weather(seed: weatherSeed)
    }

    // MARK: - Routines

    /// When the household wakes, leaves, comes back and goes to bed (local minutes).
    struct Routine {
        var wake: Double
        var bed: Double
        /// Intervals the home is empty.
        var outings = InlineArray<2, (Double, Double)>(repeating: (0, 0))
        var outingCount = 0
        /// Activity while at home, relative (a parent alone at home while children are at school is lower).
        var daytimeActivity: Double = 1
        var daytimeStart: Double = 0
        var daytimeEnd: Double = 0

        func isHome(_ minute: Double) -> Bool {
            for index in 0..<outingCount where minute >= outings[index].0 && minute < outings[index].1 { return false }
            return true
        }

        func isAwake(_ minute: Double) -> Bool { minute >= wake && minute < bed }

        mutating func addOuting(_ start: Double, _ end: Double) {
            guard outingCount < 2, end > start else { return }
            outings[outingCount] = (start, end)
            outingCount += 1
        }

        /// When the home is next occupied after `minute` (or the minute itself).
        func returnTime(after minute: Double) -> Double {
            for index in 0..<outingCount where minute >= outings[index].0 && minute < outings[index].1 { return outings[index].1 }
            return minute
        }

        var mainReturn: Double {
            outingCount > 0 ? outings[0].1 : 17 * 60
        }
    }

    func routine(_ profile: HouseholdProfile, day: Int32, random: inout SplitMix64) -> Routine {
        let dayOff = UKCalendar.isDayOff(day)
        let weekday = UKCalendar.weekday(day)
        var routine = Routine(wake: 7 * 60, bed: 23 * 60)
        func outingAtDayOff(_ probability: Double) {
            if random.chance(probability) {
                let start = random.normal(11 * 60, 80)
                routine.addOuting(start, start + max(45, random.normal(170, 70)))
            }
        }
        switch profile.archetype {
        case .workingAway:
            let atOffice = !dayOff && random.chance(weekday == 4 ? 0.55 : 0.78)
            if dayOff {
                routine.wake = random.normal(8.3 * 60, 60)
                routine.bed = random.normal(23.4 * 60, 50)
                outingAtDayOff(0.6)
            } else if atOffice {
                routine.wake = random.normal(6.7 * 60, 35)
                let leave = routine.wake + max(30, random.normal(65, 15))
                let back = random.normal(17.9 * 60, 55)
                routine.addOuting(leave, max(leave + 240, back))
                routine.bed = random.normal(23.0 * 60, 45)
            } else {
                routine.wake = random.normal(7.2 * 60, 35)
                routine.bed = random.normal(23.1 * 60, 45)
            }
        case .family:
            if dayOff {
                routine.wake = random.normal(7.7 * 60, 45)
                routine.bed = random.normal(22.9 * 60, 40)
                outingAtDayOff(0.65)
            } else {
                routine.wake = random.normal(6.7 * 60, 25)
                routine.bed = random.normal(22.7 * 60, 40)
                if random.chance(0.55) {
                    // Everyone out: school and work.
                    let leave = routine.wake + max(40, random.normal(95, 15))
                    routine.addOuting(leave, random.normal(15.6 * 60, 40))
                } else {
                    routine.daytimeActivity = 0.45
                    routine.daytimeStart = 8.8 * 60
                    routine.daytimeEnd = 15.4 * 60
                }
            }
        case .retired:
            routine.wake = random.normal(7.6 * 60, 50)
            routine.bed = random.normal(22.8 * 60, 45)
            outingAtDayOff(dayOff ? 0.45 : 0.5)
        case .homeWorker:
            routine.wake = random.normal(7.25 * 60, 35)
            routine.bed = random.normal(23.2 * 60, 45)
            if dayOff { outingAtDayOff(0.6) }
        case .shiftWorker:
            let earlyWeek = (day / 7) % 2 == 0
            if dayOff {
                routine.wake = random.normal(9 * 60, 60)
                routine.bed = random.normal(23.5 * 60, 40)
                outingAtDayOff(0.5)
            } else if earlyWeek {
                routine.wake = random.normal(5 * 60, 15)
                routine.addOuting(routine.wake + 40, random.normal(14.6 * 60, 20))
                routine.bed = random.normal(22 * 60, 30)
            } else {
                routine.wake = random.normal(9.5 * 60, 30)
                routine.addOuting(random.normal(13.4 * 60, 15), random.normal(22.5 * 60, 15))
                routine.bed = min(1439, random.normal(23.6 * 60, 15))
            }
        }
        routine.wake = max(4 * 60, min(11 * 60, routine.wake))
        routine.bed = max(20.5 * 60, min(1439, routine.bed))
        return routine
    }

    /// Whether the household is away on holiday (days of standby only).
    public func isAway(_ profile: HouseholdProfile, day: Int32) -> Bool {
        let (year, _, _) = UKCalendar.date(day)
        let dayOfYear = UKCalendar.dayOfYear(day)
        var random = SplitMix64(seed: mix(profile.seed, 0x686F_6C69_6461_7973, UInt64(year)))
        let trips = profile.archetype == .retired ? 3 : (random.chance(0.75) ? 2 : 1)
        for trip in 0..<trips {
            let start: Int
            let length: Int
            if trip == 0 {
                // The summer holiday: school holidays for families.
                start = profile.archetype == .family ? Int(random.uniform(199, 228)) : Int(random.uniform(150, 250))
                length = Int(random.uniform(6, 15))
            } else if trip == 1 && random.chance(0.25) {
                start = Int(random.uniform(356, 361))
                length = Int(random.uniform(3, 7))
            } else {
                start = Int(random.uniform(60, 320))
                length = Int(random.uniform(3, 9))
            }
            if dayOfYear >= start && dayOfYear < start + length { return true }
        }
        return false
    }

    // MARK: - The day

    /// The baseload's gentle daily swing, sin(2π slot/48), once rather than per day.
    static let baseloadShape: [Double] = (0..<48).map { slot in sin(Double(slot) / 48 * 2 * Double.pi) }

    /// A PV panel's tilt (35°), its cosine and sine.
    static let panelTilt = 35 * Double.pi / 180
    static let cosPanelTilt = cos(panelTilt)
    static let sinPanelTilt = sin(panelTilt)

    public func schedule(_ profile: HouseholdProfile, day: Int32) -> DaySchedule {
        var schedule = DaySchedule()
        let regionIndex = Int(profile.region)
        let climate = ClimateRegion.all[min(regionIndex, ClimateRegion.all.count - 1)]
        let weather = self.weather.day(day, region: regionIndex)
        let sun = SunDay(day: day, latitude: climate.latitude, longitude: climate.longitude)
        let offset = Double(UKCalendar.localOffsetMinutes(day))
        let features = profile.features
        let occupants = Double(profile.occupants)
        let activity = Double(profile.activityPercent) / 100
        let baseload = Double(profile.baseloadW)
        let winter = max(0, min(1, (12 - weather.meanTemperature) / 10))

        if features.contains(.solar) { addSolar(profile, sun: sun, weather: weather, into: &schedule) }
        addEVSpillOver(profile, day: day, into: &schedule)

        if isAway(profile, day: day) {
            schedule.away = true
            for slot in 0..<48 { schedule.steadyW[slot] = baseload * 0.92 }
            // Frost protection only.
            if features.contains(.gas) {
                for slot in 0..<48 {
                    let outside = weather.temperature(atSlot: slot)
                    schedule.gasWh[slot] = Double(profile.heatLossWPerK) * max(0, 7 - outside) * 0.5 / 0.86
                }
            }
            return schedule
        }

        var random = stream(profile.seed, day: day, purpose: 1)
        let routine = routine(profile, day: day, random: &random)
        let dayOff = UKCalendar.isDayOff(day)

        // Steady loads, per half hour, in local time.
        let sunriseLocal = sun.sunrise + offset
        let sunsetLocal = sun.sunset + offset
        let dim = weather.cloud > 0.8 ? 50.0 : 30.0
        for slot in 0..<48 {
            let local = Double(slot) * 30 + 15 + offset
            var watts = baseload * (1 + 0.05 * Self.baseloadShape[slot])
            if routine.isHome(local) && routine.isAwake(local) {
                var present = (36 + 26 * occupants) * activity
                if routine.daytimeEnd > routine.daytimeStart && local >= routine.daytimeStart && local < routine.daytimeEnd {
                    present *= routine.daytimeActivity
                }
                if local >= 17.5 * 60 && local < 22.6 * 60 { present += (54 + 23 * occupants) * activity }
                if profile.archetype == .homeWorker && !dayOff && local >= 9 * 60 && local < 17.5 * 60 { present += 110 }
                if local < sunriseLocal + dim || local > sunsetLocal - dim { present += (35 + 22 * occupants) * (1 + 0.3 * winter) }
                watts += present
            }
            schedule.steadyW[slot] = watts
        }

        // Cooking, kettles and the morning.
        let wakeUTC = routine.wake - offset
        let bedUTC = routine.bed - offset
        schedule.add(ApplianceEvent(start: wakeUTC + random.uniform(5, 20), minutes: 3, watts: 2900))
        if occupants > 2 || random.chance(0.4) { schedule.add(ApplianceEvent(start: wakeUTC + random.uniform(25, 50), minutes: 3, watts: 2900)) }
        if random.chance(0.45) { schedule.add(ApplianceEvent(start: wakeUTC + random.uniform(10, 30), minutes: 4, watts: 950)) }
        // Showers.
        for _ in 0..<Int(occupants) where random.chance(0.72) {
            let start = random.chance(0.75) ? wakeUTC + random.uniform(0, 70) : bedUTC - random.uniform(40, 120)
            let minutes = max(3, random.normal(8, 2.5))
            if features.contains(.electricShower) {
                schedule.add(ApplianceEvent(start: start, minutes: minutes, watts: 9000))
            } else if features.contains(.gas) {
                addGas(&schedule, atMinute: start, wh: minutes / 8 * 1350 * Double(profile.hotWaterPercent) / 100)
            } else {
                // Hot water from an immersion heater, recovering after use.
                schedule.add(ApplianceEvent(start: start + 10, minutes: minutes * 3.5, watts: 3000))
            }
        }
        if features.contains(.gas) {
            // Washing up, hand washing and cylinder or combi losses through the day.
            for slot in 0..<48 where routine.isAwake(Double(slot) * 30 + 15 + offset) {
                schedule.gasWh[slot] += 38 * Double(profile.hotWaterPercent) / 100 * (0.5 + 0.25 * occupants)
            }
        }
        // Lunch at home.
        let lunch = random.normal(12.6 * 60, 25)
        if routine.isHome(lunch) && random.chance(0.6) {
            schedule.add(ApplianceEvent(start: lunch - offset, minutes: random.uniform(4, 9), watts: 900))
            schedule.add(ApplianceEvent(start: lunch - offset - 5, minutes: 3, watts: 2900))
        }
        // The evening meal.
        let usualDinner: Double
        switch profile.archetype {
        case .family: usualDinner = 17.6 * 60
        case .retired: usualDinner = 17.3 * 60
        default: usualDinner = 18.7 * 60
        }
        let dinner = max(random.normal(usualDinner, 35), routine.returnTime(after: usualDinner - 60) + random.uniform(20, 50))
        if random.chance(0.9) {
            let scale = 0.75 + 0.12 * occupants
            if random.chance(0.25) {
                schedule.add(ApplianceEvent(start: dinner - offset, minutes: random.uniform(6, 12), watts: 1000))
            } else if features.contains(.gasCooking) {
                addGas(&schedule, atMinute: dinner - offset, wh: 900 * scale)
                schedule.add(ApplianceEvent(start: dinner - offset + 20, minutes: 2, watts: 1200))
            } else {
                schedule.add(ApplianceEvent(start: dinner - offset - 40 * scale, minutes: max(20, random.normal(40, 10)) * scale, watts: 2000))
                schedule.add(ApplianceEvent(start: dinner - offset - 20, minutes: 20 * scale, watts: 1500))
            }
        }
        // Evening kettles and the television's friends.
        for _ in 0..<Int(random.uniform(1, 3.99)) {
            let minute = random.uniform(19.2 * 60, routine.bed - 15)
            if routine.isHome(minute) { schedule.add(ApplianceEvent(start: minute - offset, minutes: 3, watts: 2900)) }
        }
        // Laundry.
        let washChance = min(0.95, 0.19 * occupants) * (dayOff ? 1.3 : 0.85)
        if random.chance(washChance) {
            var start = dayOff ? random.normal(10 * 60, 70) : random.normal(19.6 * 60, 50)
            start = routine.returnTime(after: start)
            schedule.add(ApplianceEvent(start: start - offset, minutes: 15, watts: 2000))
            schedule.add(ApplianceEvent(start: start - offset + 15, minutes: 70, watts: 180))
            if features.contains(.tumbleDryer) && random.chance(0.25 + 0.5 * winter) {
                schedule.add(ApplianceEvent(start: start - offset + 90, minutes: random.uniform(45, 80), watts: 2200))
            }
        }
        if features.contains(.dishwasher) && random.chance(0.3 + 0.12 * occupants) {
            let start = max(dinner + 60, random.normal(20.8 * 60, 40))
            schedule.add(ApplianceEvent(start: start - offset, minutes: 25, watts: 2000))
            schedule.add(ApplianceEvent(start: start - offset + 25, minutes: 80, watts: 110))
        }
        // Vacuuming, ironing, hair dryers.
        if random.chance(0.18) {
            let minute = routine.returnTime(after: random.normal(11 * 60, 120))
            schedule.add(ApplianceEvent(start: minute - offset, minutes: random.uniform(10, 25), watts: 900))
        }
        if random.chance(0.12 * occupants) { schedule.add(ApplianceEvent(start: wakeUTC + random.uniform(20, 60), minutes: 6, watts: 1500)) }

        addHeating(profile, routine: routine, weather: weather, offset: offset, day: day, into: &schedule)
        addEVSession(profile, day: day, routine: routine, offset: offset, into: &schedule)
        return schedule
    }

    @inline(__always)
    func addGas(_ schedule: inout DaySchedule, atMinute minute: Double, wh: Double) {
        let slot = max(0, min(47, Int(minute / 30)))
        schedule.gasWh[slot] += wh
    }

    // MARK: - Heating

    func addHeating(_ profile: HouseholdProfile, routine: Routine, weather: DayWeather, offset: Double, day: Int32, into schedule: inout DaySchedule) {
        let features = profile.features
        let heatLoss = Double(profile.heatLossWPerK)
        let setPoint = profile.setPoint
        let heatPump = features.contains(.heatPump)
        // Heat each half hour needs to hold the set point while heating is on.
        var dailyHeat = 0.0
        for slot in 0..<48 {
            let local = Double(slot) * 30 + 15 + offset
            let outside = weather.temperature(atSlot: slot)
            let home = routine.isHome(local)
            let awake = local >= routine.wake - 40 && local < routine.bed - 30
            let on: Bool
            let target: Double
            if heatPump {
                // Heat pumps run long and low: the day at the set point, nights a little cooler.
                on = true
                target = awake ? setPoint - 0.5 : setPoint - 2.5
            } else {
                on = awake && (home || routine.returnTime(after: local) - local < 40)
                target = setPoint
            }
            guard on else { continue }
            let gains = home && awake ? 180 + 70 * Double(profile.occupants) : 90
            var heat = heatLoss * max(0, target - outside) - gains
            // Warming the fabric back up after a cold spell off.
            if !heatPump && local - (routine.wake - 40) < 60 { heat *= 1.35 }
            heat = max(0, heat)
            guard heat > 0 else { continue }
            let wh = heat * 0.5
            dailyHeat += wh
            if features.contains(.gas) && !heatPump {
                schedule.gasWh[slot] += wh / 0.86
            } else if heatPump {
                let cop = max(2.0, min(4.5, 2.7 + 0.08 * outside))
                schedule.steadyW[slot] += heat / cop
            } else if features.contains(.electricHeaters) {
                schedule.steadyW[slot] += min(heat, 6000)
            }
        }
        if heatPump {
            // Hot water, in the early afternoon.
            let hotWater = (1200 + 600 * Double(profile.occupants)) * Double(profile.hotWaterPercent) / 100
            for slot in 26..<30 { schedule.steadyW[slot] += hotWater / 2 / 2.8 }
        }
        if features.contains(.storageHeaters) && dailyHeat > 0 {
            // Charged overnight on the Economy 7 hours (00:30–07:30 UTC), 7.5 kW at most.
            let charge = min(dailyHeat / 0.9, 7500 * 7)
            for slot in 1..<15 { schedule.steadyW[slot] += charge / 7 }
        }
    }

    // MARK: - Electric vehicle

    /// The day's charging session (UTC start minute and minutes), if the car charges that day.
    func evSession(_ profile: HouseholdProfile, day: Int32, returnLocal: Double, offset: Double) -> (start: Double, minutes: Double)? {
        guard profile.features.contains(.electricVehicle), profile.evSessionKWh > 0 else { return nil }
        var random = stream(profile.seed, day: day, purpose: 7)
        let perWeek = Double(profile.evSessionsPerWeekTenths) / 10
        guard random.chance(perWeek / 7) else { return nil }
        let kWh = Double(profile.evSessionKWh) * random.uniform(0.6, 1.25)
        let minutes = kWh / 7.0 * 60
        if profile.features.contains(.economy7) {
            // Timed for the cheap night hours: starts after midnight, in the next day's first slots.
            return (1440 + random.uniform(30, 60), minutes)
        }
        return (returnLocal - offset + random.uniform(5, 90), minutes)
    }

    func addEVSession(_ profile: HouseholdProfile, day: Int32, routine: Routine, offset: Double, into schedule: inout DaySchedule) {
        guard let session = evSession(profile, day: day, returnLocal: routine.mainReturn, offset: offset) else { return }
        schedule.add(ApplianceEvent(start: session.start, minutes: session.minutes, watts: 7000))
    }

    /// The part of yesterday's charging session that runs past midnight.
    func addEVSpillOver(_ profile: HouseholdProfile, day: Int32, into schedule: inout DaySchedule) {
        guard profile.features.contains(.electricVehicle) else { return }
        let yesterday = day - 1
        var random = stream(profile.seed, day: yesterday, purpose: 1)
        let routine = self.routine(profile, day: yesterday, random: &random)
        let offset = Double(UKCalendar.localOffsetMinutes(yesterday))
        guard !isAway(profile, day: yesterday),
              let session = evSession(profile, day: yesterday, returnLocal: routine.mainReturn, offset: offset)
        else { return }
        let end = session.start + session.minutes
        guard end > 1440 else { return }
        let start = max(session.start, 1440)
        schedule.add(ApplianceEvent(start: start - 1440, minutes: end - start, watts: 7000))
    }

    // MARK: - Solar PV

    func addSolar(_ profile: HouseholdProfile, sun: SunDay, weather: DayWeather, into schedule: inout DaySchedule) {
        let peak = Double(profile.solarW)
        let panelAzimuth = (180 + profile.solarAzimuthDegrees) * Double.pi / 180
        let cloudFactor = 1 - 0.75 * pow(weather.cloud, 3.4)
        let diffuseShare = 0.25 + 0.55 * weather.cloud
        for slot in 0..<48 {
            let start = Double(slot) * 30
            guard start + 30 > sun.sunrise, start < sun.sunset else { continue }
            var watts = 0.0
            for sample in 0..<3 {
                let minute = start + 5 + Double(sample) * 10
                let (cosZenith, azimuth) = sun.position(atMinute: minute)
                guard cosZenith > 0.01 else { continue }
                let airMass = 1 / cosZenith
                let direct = 1000 * pow(0.7, pow(airMass, 0.678))
                let sinZenith = (1 - cosZenith * cosZenith).squareRoot()
                let cosIncidence = cosZenith * Self.cosPanelTilt + sinZenith * Self.sinPanelTilt * cos(azimuth - panelAzimuth)
                let global = direct * cosZenith
                let planeOfArray = (1 - diffuseShare) * direct * max(0, cosIncidence) + diffuseShare * global * (1 + Self.cosPanelTilt) / 2
                watts += peak * planeOfArray / 1000 * cloudFactor * 0.84
            }
            schedule.solarW[slot] = watts / 3
        }
    }

    // MARK: - Results

    /// Half-hourly energy of one day (UTC slots), Wh.
    public func day(_ profile: HouseholdProfile, day: Int32) -> DayEnergy {
        let schedule = self.schedule(profile, day: day)
        return DayEnergy(schedule: schedule)
    }
}

/// A day's half-hourly energy at the meter, Wh.
public struct DayEnergy: Sendable {
    public var consumption: InlineArray<48, Double>
    public var generation: InlineArray<48, Double>
    public var gas: InlineArray<48, Double>
    public var away: Bool

    public init(schedule: DaySchedule) {
        consumption = schedule.consumptionWh()
        generation = InlineArray<48, Double>(repeating: 0)
        for slot in 0..<48 { generation[slot] = schedule.solarW[slot] * 0.5 }
        gas = schedule.gasWh
        away = schedule.away
    }

    /// Import through the meter (consumption net of PV within the half hour), Wh.
    @inline(__always)
    public func importWh(_ slot: Int) -> Double { max(0, consumption[slot] - generation[slot]) }

    /// Export through the meter, Wh.
    @inline(__always)
    public func exportWh(_ slot: Int) -> Double { max(0, generation[slot] - consumption[slot]) }

    public var importTotal: Double { (0..<48).reduce(0) { $0 + importWh($1) } }
    public var exportTotal: Double { (0..<48).reduce(0) { $0 + exportWh($1) } }
    public var gasTotal: Double { (0..<48).reduce(0) { $0 + gas[$1] } }
}
