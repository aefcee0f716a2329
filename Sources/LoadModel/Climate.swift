import Foundation

/// A region's climate: where it is and how warm it is through the year. gbsm uses the 14
/// DNO licence areas as climate regions (index 0 is distributor 10, Eastern; 13 is 23,
/// Yorkshire).
public struct ClimateRegion: Sendable {
    public let name: String
    public let latitude: Double
    public let longitude: Double
    /// Annual mean air temperature, °C.
    public let meanTemperature: Double
    /// Half the difference between the warmest and coldest months' means, °C.
    public let seasonalAmplitude: Double
    /// Mean cloud cover, 0–1.
    public let cloudiness: Double

    public static let all: [ClimateRegion] = [
        ClimateRegion(name: "Eastern", latitude: 52.2, longitude: 0.9, meanTemperature: 10.4, seasonalAmplitude: 6.8, cloudiness: 0.62),
        ClimateRegion(name: "East Midlands", latitude: 52.9, longitude: -1.2, meanTemperature: 9.9, seasonalAmplitude: 6.6, cloudiness: 0.65),
        ClimateRegion(name: "London", latitude: 51.5, longitude: -0.1, meanTemperature: 11.3, seasonalAmplitude: 6.9, cloudiness: 0.62),
        ClimateRegion(name: "Merseyside and North Wales", latitude: 53.2, longitude: -3.0, meanTemperature: 10.0, seasonalAmplitude: 6.0, cloudiness: 0.68),
        ClimateRegion(name: "West Midlands", latitude: 52.5, longitude: -2.0, meanTemperature: 9.8, seasonalAmplitude: 6.5, cloudiness: 0.66),
        ClimateRegion(name: "North East", latitude: 54.9, longitude: -1.6, meanTemperature: 9.0, seasonalAmplitude: 6.0, cloudiness: 0.68),
        ClimateRegion(name: "North West", latitude: 53.6, longitude: -2.5, meanTemperature: 9.8, seasonalAmplitude: 6.0, cloudiness: 0.70),
        ClimateRegion(name: "North Scotland", latitude: 57.2, longitude: -3.8, meanTemperature: 7.8, seasonalAmplitude: 5.6, cloudiness: 0.74),
        ClimateRegion(name: "South Scotland", latitude: 55.9, longitude: -3.8, meanTemperature: 8.7, seasonalAmplitude: 5.7, cloudiness: 0.72),
        ClimateRegion(name: "South Eastern", latitude: 51.2, longitude: 0.7, meanTemperature: 10.9, seasonalAmplitude: 6.7, cloudiness: 0.60),
        ClimateRegion(name: "Southern", latitude: 51.1, longitude: -1.3, meanTemperature: 10.6, seasonalAmplitude: 6.5, cloudiness: 0.61),
        ClimateRegion(name: "South Wales", latitude: 51.6, longitude: -3.4, meanTemperature: 10.4, seasonalAmplitude: 5.9, cloudiness: 0.68),
        ClimateRegion(name: "South Western", latitude: 50.6, longitude: -3.9, meanTemperature: 10.8, seasonalAmplitude: 5.6, cloudiness: 0.64),
        ClimateRegion(name: "Yorkshire", latitude: 53.8, longitude: -1.4, meanTemperature: 9.5, seasonalAmplitude: 6.3, cloudiness: 0.67),
    ]
}

/// One day's weather in a region.
public struct DayWeather: Sendable {
    /// Daily mean temperature, °C.
    public var meanTemperature: Double
    /// Half the day's range between the early-morning low and the afternoon high, °C.
    public var diurnalAmplitude: Double
    /// Cloud cover, 0–1.
    public var cloud: Double

    /// Temperature at a UTC minute of the day (low near 04:30, high near 16:30).
    @inline(__always)
    public func temperature(atMinute minute: Double) -> Double {
        meanTemperature - diurnalAmplitude * cos(2 * Double.pi * (minute - 270) / 1440)
    }

    /// Temperature at the middle of a UTC half hour (0–47): `temperature(atMinute:)` at
    /// slot × 30 + 15, to the bit, with its cosine from a table (a meter's first read
    /// computes some 400 days of half hours).
    @inline(__always)
    public func temperature(atSlot slot: Int) -> Double {
        meanTemperature - diurnalAmplitude * Self.diurnalShape[slot]
    }

    /// cos(2π(m − 270)/1440) at the middle of each half hour.
    static let diurnalShape: [Double] = (0..<48).map { slot in
        let minute = Double(slot) * 30 + 15
        return cos(2 * Double.pi * (minute - 270) / 1440)
    }
}

/// Synthetic but plausible GB weather: a seasonal cycle per region, smooth anomalies that
/// span several days (shared nationally, with a regional part), so that cold snaps reach
/// many homes at once, and day-to-day cloud. Deterministic from the weather seed.
public struct Weather: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// Smooth noise: random values at knots every `spacing` days, cosine-interpolated.
    @inline(__always)
    func smoothNoise(_ day: Double, spacing: Double, stream: UInt64) -> Double {
        let position = day / spacing
        let knot = position.rounded(.down)
        let fraction = position - knot
        var left = SplitMix64(seed: mix(seed, stream, UInt64(bitPattern: Int64(knot))))
        var right = SplitMix64(seed: mix(seed, stream, UInt64(bitPattern: Int64(knot) + 1)))
        let a = left.normal(0, 1), b = right.normal(0, 1)
        let t = (1 - cos(fraction * Double.pi)) / 2
        return a * (1 - t) + b * t
    }

    public func day(_ day: Int32, region index: Int) -> DayWeather {
        let region = ClimateRegion.all[max(0, min(index, ClimateRegion.all.count - 1))]
        let dayOfYear = Double(UKCalendar.dayOfYear(day))
        // Coldest around 20 January.
        let seasonal = -cos(2 * Double.pi * (dayOfYear - 20) / 365.25)
        let national = 2.6 * smoothNoise(Double(day), spacing: 6, stream: 1)
        let regional = 1.0 * smoothNoise(Double(day), spacing: 4, stream: 100 + UInt64(index))
        var daily = SplitMix64(seed: mix(seed, 7 + UInt64(index), UInt64(bitPattern: Int64(day))))
        let temperature = region.meanTemperature + region.seasonalAmplitude * seasonal + national + regional + daily.normal(0, 0.8)
        // Winters are cloudier; clear, cold spells go with low temperatures.
        let cloudBase = region.cloudiness + 0.08 * -seasonal
        let cloud = cloudBase + 0.22 * smoothNoise(Double(day), spacing: 2, stream: 200 + UInt64(index)) + 0.05 * national / 2.6 + daily.normal(0, 0.12)
        let amplitude = 2.5 + 2.0 * (1 + seasonal * -1) / 2 * (1.2 - max(0, min(1, cloud)))
        return DayWeather(meanTemperature: temperature, diurnalAmplitude: amplitude, cloud: max(0.02, min(0.98, cloud)))
    }
}

/// The sun's position for a region on a day, by the NOAA approximations.
public struct SunDay: Sendable {
    let sinLatitude: Double
    let cosLatitude: Double
    let declination: Double
    /// The declination's sine, cosine and tangent, once per day rather than per position.
    let sinDeclination: Double
    let cosDeclination: Double
    let tanDeclination: Double
    let equationOfTime: Double
    let longitude: Double
    /// Sunrise and sunset in UTC minutes of the day.
    public let sunrise: Double
    public let sunset: Double

    public init(day: Int32, latitude: Double, longitude: Double) {
        let gamma = 2 * Double.pi / 365 * Double(UKCalendar.dayOfYear(day))
        declination = 0.006918 - 0.399912 * cos(gamma) + 0.070257 * sin(gamma) - 0.006758 * cos(2 * gamma)
            + 0.000907 * sin(2 * gamma) - 0.002697 * cos(3 * gamma) + 0.00148 * sin(3 * gamma)
        equationOfTime = 229.18 * (0.000075 + 0.001868 * cos(gamma) - 0.032077 * sin(gamma) - 0.014615 * cos(2 * gamma) - 0.040849 * sin(2 * gamma))
        let latitudeRadians = latitude * Double.pi / 180
        sinLatitude = sin(latitudeRadians)
        cosLatitude = cos(latitudeRadians)
        self.longitude = longitude
        sinDeclination = sin(declination)
        cosDeclination = cos(declination)
        tanDeclination = tan(declination)
        let cosHourAngle = (cos(90.833 * Double.pi / 180) - sinLatitude * sinDeclination) / (cosLatitude * cosDeclination)
        let hourAngle = acos(max(-1, min(1, cosHourAngle))) * 180 / Double.pi
        sunrise = 720 - 4 * (longitude + hourAngle) - equationOfTime
        sunset = 720 - 4 * (longitude - hourAngle) - equationOfTime
    }

    /// Cosine of the solar zenith angle and the sun's azimuth (radians from north,
    /// clockwise) at a UTC minute of the day.
    @inline(__always)
    public func position(atMinute minute: Double) -> (cosZenith: Double, azimuth: Double) {
        let trueSolar = minute + equationOfTime + 4 * longitude
        let hourAngle = (trueSolar / 4 - 180) * Double.pi / 180
        let cosHourAngle = cos(hourAngle)
        let cosZenith = sinLatitude * sinDeclination + cosLatitude * cosDeclination * cosHourAngle
        let azimuth = atan2(sin(hourAngle), cosHourAngle * sinLatitude - tanDeclination * cosLatitude) + Double.pi
        return (cosZenith, azimuth)
    }
}
