/// The same user in far-apart places faster than anyone can travel (T1078).
extension DetectionEngine {
    mutating func impossibleTravel(_ event: inout LogEvent, user: String, userKey: UInt64, into found: inout [Anomaly])
    {
        let rule = config.impossibleTravel
        guard let here = Geography.location(of: event) else { return }
        let time = event.timestamp
        let label = event.country ?? "\(rounded(here.lat)),\(rounded(here.lon))"
        let last = state.profiles.peek(userKey)?.lastLocation
        state.profiles.update(userKey, time: time, make: OnlineProfile.init) { online in
            if online.lastLocation.map({ $0.time <= time }) ?? true {
                online.lastLocation = (here.lat, here.lon, time, label, here.precise)
            }
        }
        guard rule.enabled, let last, last.time <= time else { return }
        let distance = Geography.distanceKm((last.lat, last.lon), (here.lat, here.lon))
        guard distance >= rule.minDistanceKm else { return }
        let hours = max(Double(time - last.time) / 3_600_000, 1.0 / 60)  // a minute at least
        let speed = distance / hours
        guard speed > rule.maxSpeedKmh else { return }
        let entity = Entity(.user, user)
        guard !suppressed(.impossibleTravel, entity, at: time) else { return }
        let minutes = Int((Double(time - last.time) / 60_000).rounded())
        found.append(
            anomaly(
                .impossibleTravel, event, entity: entity, severity: .high,
                score: min(1, 0.6 + 0.4 * (1 - rule.maxSpeedKmh / speed)),
                summary:
                    "\(user) seen in \(label) \(minutes) minutes after \(last.label): \(Int(distance)) km apart, \(Int(speed)) km/h (limit \(Int(rule.maxSpeedKmh)) km/h)",
                evidence: [
                    ("from", .string(last.label)), ("to", .string(label)), ("distance_km", .int(Int(distance))),
                    ("minutes", .int(minutes)), ("speed_kmh", .int(Int(speed))),
                    ("limit_kmh", .int(Int(rule.maxSpeedKmh))),
                    ("previous_seen", .time(last.time)), ("precise", .bool(here.precise && last.precise)),
                ],
                mitre: .validAccounts))
    }
}
