#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Places for impossible-travel checks: coordinates when events carry them, else the
/// approximate centre of the event's country (ISO 3166-1 alpha-2 code or English name).
public enum Geography {
    /// Great-circle distance in kilometres.
    public static func distanceKm(_ a: (lat: Double, lon: Double), _ b: (lat: Double, lon: Double)) -> Double {
        let r = 6_371.0
        let toRad = Double.pi / 180
        let dLat = (b.lat - a.lat) * toRad
        let dLon = (b.lon - a.lon) * toRad
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.lat * toRad) * cos(b.lat * toRad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * r * asin(min(1, sqrt(h)))
    }

    /// The event's location: its coordinates, or its country's centre.
    public static func location(of event: LogEvent) -> (lat: Double, lon: Double, precise: Bool)? {
        if let lat = event.latitude, let lon = event.longitude { return (lat, lon, true) }
        guard let country = event.country else { return nil }
        if let c = countryCentres[country.uppercased()] ?? countryCentres[countryCodes[country.lowercased()] ?? ""] {
            return (c.0, c.1, false)
        }
        return nil
    }

    /// Approximate population-weighted centres (lat, lon).
    static let countryCentres: [String: (Double, Double)] = [
        "US": (39.8, -98.6), "CA": (56.1, -106.3), "MX": (23.6, -102.6), "BR": (-14.2, -51.9), "AR": (-38.4, -63.6),
        "CL": (-35.7, -71.5), "CO": (4.6, -74.3), "PE": (-9.2, -75.0), "VE": (6.4, -66.6), "EC": (-1.8, -78.2),
        "GB": (54.0, -2.0), "IE": (53.4, -8.2), "FR": (46.2, 2.2), "DE": (51.2, 10.5), "NL": (52.1, 5.3),
        "BE": (50.5, 4.5), "LU": (49.8, 6.1), "CH": (46.8, 8.2), "AT": (47.5, 14.6), "IT": (41.9, 12.6),
        "ES": (40.5, -3.7), "PT": (39.4, -8.2), "DK": (56.3, 9.5), "NO": (60.5, 8.5), "SE": (60.1, 18.6),
        "FI": (61.9, 25.7), "IS": (64.9, -19.0), "PL": (51.9, 19.1), "CZ": (49.8, 15.5), "SK": (48.7, 19.7),
        "HU": (47.2, 19.5), "RO": (45.9, 24.9), "BG": (42.7, 25.5), "GR": (39.1, 21.8), "TR": (39.0, 35.2),
        "UA": (48.4, 31.2), "BY": (53.7, 28.0), "RU": (55.8, 37.6), "LT": (55.2, 23.9), "LV": (56.9, 24.6),
        "EE": (58.6, 25.0), "RS": (44.0, 21.0), "HR": (45.1, 15.2), "SI": (46.2, 15.0), "BA": (43.9, 17.7),
        "IL": (31.0, 34.9), "SA": (23.9, 45.1), "AE": (23.4, 53.8), "QA": (25.4, 51.2), "IR": (32.4, 53.7),
        "IQ": (33.2, 43.7), "EG": (26.8, 30.8), "MA": (31.8, -7.1), "DZ": (28.0, 1.7), "TN": (33.9, 9.5),
        "NG": (9.1, 8.7), "GH": (7.9, -1.0), "KE": (-0.0, 37.9), "ET": (9.1, 40.5), "ZA": (-30.6, 22.9),
        "IN": (20.6, 79.0), "PK": (30.4, 69.3), "BD": (23.7, 90.4), "LK": (7.9, 80.8), "NP": (28.4, 84.1),
        "CN": (35.9, 104.2), "HK": (22.3, 114.2), "TW": (23.7, 121.0), "JP": (36.2, 138.3), "KR": (35.9, 127.8),
        "KP": (40.3, 127.5), "MN": (46.9, 103.8), "KZ": (48.0, 66.9), "UZ": (41.4, 64.6), "VN": (14.1, 108.3),
        "TH": (15.9, 101.0), "MY": (4.2, 102.0), "SG": (1.35, 103.8), "ID": (-0.8, 113.9), "PH": (12.9, 121.8),
        "AU": (-25.3, 133.8), "NZ": (-40.9, 174.9),
    ]

    static let countryCodes: [String: String] = [
        "united states": "US", "usa": "US", "canada": "CA", "mexico": "MX", "brazil": "BR", "argentina": "AR",
        "united kingdom": "GB", "uk": "GB", "ireland": "IE", "france": "FR", "germany": "DE", "netherlands": "NL",
        "belgium": "BE", "switzerland": "CH", "austria": "AT", "italy": "IT", "spain": "ES", "portugal": "PT",
        "denmark": "DK", "norway": "NO", "sweden": "SE", "finland": "FI", "poland": "PL", "ukraine": "UA",
        "russia": "RU", "russian federation": "RU", "turkey": "TR", "israel": "IL", "egypt": "EG",
        "nigeria": "NG", "south africa": "ZA", "india": "IN", "pakistan": "PK", "china": "CN", "japan": "JP",
        "south korea": "KR", "korea": "KR", "north korea": "KP", "vietnam": "VN", "thailand": "TH",
        "singapore": "SG", "indonesia": "ID", "philippines": "PH", "australia": "AU", "new zealand": "NZ",
        "iran": "IR", "saudi arabia": "SA", "united arab emirates": "AE",
    ]
}
