//! Durations as operators write them in configuration files and flags: `250ms`, `30s`, `15m`,
//! `24h`, `7d`.

use std::time::Duration;

/// Parses `{number}{unit}` with unit `ms`, `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_millis = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "duration {text:?} must be a number followed by ms, s, m, h or d"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} must start with a whole number"))?;
    n.checked_mul(unit_millis)
        .filter(|ms| *ms <= 100 * 365 * 86_400_000)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is unreasonably long"))
}

/// Formats a duration in the largest unit that divides it exactly.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// serde helpers for duration fields written as text.
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serialises as `7d`-style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Deserialises from `7d`-style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// serde helpers for optional duration fields written as text (absent means none).
pub mod optional_text {
    use serde::{Deserializer, Serializer};
    use std::time::Duration;

    /// Serialises `Some` as `7d`-style text (pair with `skip_serializing_if = "Option::is_none"`).
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises from `7d`-style text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::text::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_each_unit() {
        for (text, secs) in [("30s", 30), ("15m", 900), ("24h", 86_400), ("7d", 604_800)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
            assert_eq!(
                format_duration(Duration::from_secs(secs)),
                text.replace("24h", "1d")
            );
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(2000)), "2s");
    }

    #[test]
    fn refuses_malformed_and_absurd_durations() {
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "-1d",
            "1.5h",
            "7 d",
            "5us",
            "ms",
            "99999999999999999999d",
            "40000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
