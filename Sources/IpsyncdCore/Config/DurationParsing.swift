/// Durations as the config and flags write them: `50ms`, `1s`, `5m`, `1h`, `1m30s`, `0`.
enum DurationText {
    static let allowed = "a number with ms, s, m or h, such as 50ms, 1s, 5m or 1m30s"

    enum Problem: Error { case notADuration, tooLarge }

    static func parse(_ text: String) -> Duration? { try? check(text).get() }

    /// The duration, or why not: a text of the right shape but beyond thirty years is "too large", not a typo.
    static func check(_ text: String) -> Result<Duration, Problem> {
        if text == "0" { return .success(.zero) }
        var total: Duration = .zero
        var rest = Substring(text)
        guard !rest.isEmpty else { return .failure(.notADuration) }
        var tooLarge = false
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !digits.isEmpty, digits.filter({ $0 == "." }).count <= 1,
                  digits.first != ".", digits.last != ".", let value = Double(digits) else { return .failure(.notADuration) }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            rest = rest.dropFirst(unit.count)
            let millis: Double
            switch unit {
            case "ms": millis = value
            case "s": millis = value * 1_000
            case "m": millis = value * 60_000
            case "h": millis = value * 3_600_000
            default: return .failure(.notADuration)
            }
            if millis >= 1e12 || tooLarge { tooLarge = true; continue }   // beyond thirty years
            total += .microseconds(Int64((millis * 1_000).rounded()))
        }
        return tooLarge ? .failure(.tooLarge) : .success(total)
    }

    /// The shortest text that parses back to `duration` (whole milliseconds), for `--help` and status.
    static func format(_ duration: Duration) -> String {
        var millis = duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis == 0 { return "0" }
        var text = ""
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1_000), ("ms", 1)] where millis >= size {
            text += "\(millis / size)\(unit)"
            millis %= size
        }
        return text
    }
}
