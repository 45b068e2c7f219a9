//! Service level declarations (DESIGN.md "Operational monitoring and SLAs"): what a provider
//! promises for one service, in terms the network can measure. What counts as a failure is fixed
//! by the network, not declared: psn errors attributable to the provider side, backend 5xx and
//! timeouts count; a consumer's own 4xx never does.

use crate::names::ServiceId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The period over which availability is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlaWindow {
    /// A calendar day.
    Day,
    /// A calendar week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl FromStr for SlaWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" | "daily" => Ok(Self::Day),
            "week" | "weekly" => Ok(Self::Week),
            "month" | "monthly" => Ok(Self::Month),
            _ => Err(format!("window {s:?} must be day, week or month")),
        }
    }
}

/// A latency objective: this percentile of successful exchanges answers within `under_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTarget {
    /// The percentile, 50 to 99.99.
    pub percentile: f64,
    /// The threshold, milliseconds (1 ms to 10 minutes).
    pub under_ms: u32,
}

impl FromStr for LatencyTarget {
    type Err = String;
    /// `p95<500ms` (also `p99.9<2s`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("latency {s:?} must look like p95<500ms or p99.9<2s");
        let (percentile, threshold) = s
            .strip_prefix('p')
            .and_then(|rest| rest.split_once('<'))
            .ok_or_else(bad)?;
        let percentile: f64 = percentile.parse().map_err(|_| bad())?;
        let under_ms = match threshold.strip_suffix("ms") {
            Some(ms) => ms.parse::<u32>().map_err(|_| bad())?,
            None => threshold
                .strip_suffix('s')
                .and_then(|s| s.parse::<u32>().ok())
                .and_then(|s| s.checked_mul(1000))
                .ok_or_else(bad)?,
        };
        let target = Self {
            percentile,
            under_ms,
        };
        target.validate()?;
        Ok(target)
    }
}

impl LatencyTarget {
    fn validate(&self) -> Result<(), String> {
        if !(50.0..=99.99).contains(&self.percentile) || !self.percentile.is_finite() {
            return Err(format!(
                "latency percentile {} must be between 50 and 99.99",
                self.percentile
            ));
        }
        if !(1..=600_000).contains(&self.under_ms) {
            return Err(format!(
                "latency threshold {} ms must be between 1 ms and 10 minutes",
                self.under_ms
            ));
        }
        Ok(())
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

impl FromStr for Weekday {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        names
            .iter()
            .position(|n| s.eq_ignore_ascii_case(n))
            .map(|i| WEEK[i])
            .ok_or_else(|| format!("day {s:?} must be one of mon, tue, wed, thu, fri, sat, sun"))
    }
}

/// When the service is supported, in UK local time (Europe/London); outside these hours
/// failures do not count against availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportHours {
    /// The days, in week order, without repeats.
    pub days: Vec<Weekday>,
    /// Start, `HH:MM`.
    pub from: String,
    /// End, `HH:MM`, after the start.
    pub to: String,
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl SupportHours {
    fn validate(&self) -> Result<(), String> {
        if self.days.is_empty() || self.days.windows(2).any(|w| w[0] >= w[1]) {
            return Err("support days must be listed once each, in week order".into());
        }
        match (minutes(&self.from), minutes(&self.to)) {
            (Some(from), Some(to)) if from < to => Ok(()),
            _ => Err(format!(
                "support hours {}-{} must be HH:MM-HH:MM with the start before the end",
                self.from, self.to
            )),
        }
    }
}

impl FromStr for SupportHours {
    type Err = String;
    /// `mon-fri 08:00-18:00` or `mon,wed,fri 09:00-17:00`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (days, hours) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("support hours {s:?} must look like mon-fri 08:00-18:00"))?;
        let mut listed = Vec::new();
        for part in days.split(',') {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last): (Weekday, Weekday) = (first.parse()?, last.parse()?);
                    if first > last {
                        return Err(format!("day range {part:?} runs backwards"));
                    }
                    listed.extend(WEEK.iter().copied().filter(|d| *d >= first && *d <= last));
                }
                None => listed.push(part.parse()?),
            }
        }
        let (from, to) = hours
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("support hours {hours:?} must look like 08:00-18:00"))?;
        let hours = Self {
            days: listed,
            from: from.to_owned(),
            to: to.to_owned(),
        };
        hours.validate()?;
        Ok(hours)
    }
}

/// What a provider declares for one of its services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaDeclaration {
    /// The service.
    pub service: ServiceId,
    /// Availability target, percent of exchanges (within support hours) that do not fail on
    /// the provider's side, e.g. 99.9.
    pub availability_percent: f64,
    /// The period availability is measured over.
    pub window: SlaWindow,
    /// Optional latency objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyTarget>,
    /// Optional support hours; without them the service is supported at all times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_hours: Option<SupportHours>,
}

impl SlaDeclaration {
    /// Checks every field, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let a = self.availability_percent;
        if !a.is_finite() || a <= 0.0 || a > 100.0 {
            return Err(format!(
                "availability {a} must be a percentage above 0 and at most 100"
            ));
        }
        if (a * 10_000.0).fract() != 0.0 {
            return Err(format!(
                "availability {a} may have at most four decimal places"
            ));
        }
        if let Some(latency) = &self.latency {
            latency.validate()?;
        }
        if let Some(hours) = &self.support_hours {
            hours.validate()?;
        }
        Ok(())
    }
}

impl fmt::Display for SlaDeclaration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}% per {}",
            self.availability_percent,
            match self.window {
                SlaWindow::Day => "day",
                SlaWindow::Week => "week",
                SlaWindow::Month => "month",
            }
        )?;
        if let Some(l) = &self.latency {
            write!(f, ", p{} under {} ms", l.percentile, l.under_ms)?;
        }
        if let Some(h) = &self.support_hours {
            let days: Vec<String> = h
                .days
                .iter()
                .map(|d| format!("{d:?}").to_lowercase())
                .collect();
            write!(f, ", supported {} {}-{}", days.join(","), h.from, h.to)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaration() -> SlaDeclaration {
        SlaDeclaration {
            service: "GB/GOV/D6/eligibility/fsm-check".parse().expect("service"),
            availability_percent: 99.9,
            window: SlaWindow::Month,
            latency: Some("p95<500ms".parse().expect("latency")),
            support_hours: Some("mon-fri 08:00-18:00".parse().expect("hours")),
        }
    }

    #[test]
    fn shorthand_parses_and_a_declaration_round_trips() {
        let d = declaration();
        assert!(d.validate().is_ok());
        assert_eq!(
            d.latency,
            Some(LatencyTarget {
                percentile: 95.0,
                under_ms: 500
            })
        );
        assert_eq!(
            d.support_hours.as_ref().map(|h| h.days.len()),
            Some(5),
            "mon-fri is five days"
        );
        let json = serde_json::to_string(&d).expect("json");
        let back: SlaDeclaration = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, d);
        assert_eq!(
            d.to_string(),
            "99.9% per month, p95 under 500 ms, supported mon,tue,wed,thu,fri 08:00-18:00"
        );
        assert_eq!(
            "p99.9<2s".parse::<LatencyTarget>().map(|l| l.under_ms),
            Ok(2000)
        );
        assert_eq!(
            "mon,wed,sun 09:00-17:30"
                .parse::<SupportHours>()
                .map(|h| h.days),
            Ok(vec![Weekday::Mon, Weekday::Wed, Weekday::Sun])
        );
    }

    #[test]
    fn refuses_what_cannot_be_measured() {
        for availability in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY, 99.12345] {
            let d = SlaDeclaration {
                availability_percent: availability,
                ..declaration()
            };
            assert!(d.validate().is_err(), "{availability} accepted");
        }
        for latency in [
            "p95",
            "95<500ms",
            "p40<500ms",
            "p100<1s",
            "p95<0ms",
            "p95<11m",
            "p95<-1ms",
        ] {
            assert!(
                latency.parse::<LatencyTarget>().is_err(),
                "{latency} accepted"
            );
        }
        for hours in [
            "",
            "mon-fri",
            "fri-mon 08:00-18:00",
            "mon,mon 08:00-18:00",
            "mon-fri 18:00-08:00",
            "mon-fri 8:00-18:00",
            "mon-fri 08:00-25:00",
            "funday 08:00-18:00",
        ] {
            assert!(hours.parse::<SupportHours>().is_err(), "{hours:?} accepted");
        }
        let unordered = SlaDeclaration {
            support_hours: Some(SupportHours {
                days: vec![Weekday::Fri, Weekday::Mon],
                from: "08:00".into(),
                to: "18:00".into(),
            }),
            ..declaration()
        };
        assert!(unordered.validate().is_err());
        assert!(serde_json::from_str::<SlaDeclaration>(
            r#"{"service":"GB/GOV/D6/eligibility/fsm-check","availability_percent":99.9,"window":"fortnight"}"#
        )
        .is_err());
    }
}
