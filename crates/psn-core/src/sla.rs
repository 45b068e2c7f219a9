//! Service level declarations (DESIGN.md "Operational monitoring and SLAs"): what a provider
//! promises for one service, in terms the network can measure. What counts as a failure is fixed
//! by the network, not declared: psn errors attributable to the provider side, backend 5xx and
//! timeouts count; a consumer's own 4xx never does.

use crate::names::ServiceId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::macros::time;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset};

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

impl SlaWindow {
    /// The lowercase word used in declarations and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaWindow::Day => "day",
            SlaWindow::Week => "week",
            SlaWindow::Month => "month",
        }
    }

    /// The first local day of the window holding the local day `day`.
    fn first_day(self, day: Date) -> Date {
        match self {
            SlaWindow::Day => day,
            SlaWindow::Week => day
                .checked_sub(Duration::days(
                    day.weekday().number_days_from_monday().into(),
                ))
                .unwrap_or(Date::MIN),
            SlaWindow::Month => Date::from_calendar_date(day.year(), day.month(), 1).unwrap_or(day),
        }
    }

    /// The first local day of the window after the one starting on `first`.
    fn next_first_day(self, first: Date) -> Date {
        match self {
            SlaWindow::Day => first.next_day().unwrap_or(Date::MAX),
            SlaWindow::Week => first.checked_add(Duration::days(7)).unwrap_or(Date::MAX),
            SlaWindow::Month => {
                let (year, month) = match first.month() {
                    Month::December => (first.year().saturating_add(1), Month::January),
                    m => (first.year(), m.next()),
                };
                Date::from_calendar_date(year, month, 1).unwrap_or(Date::MAX)
            }
        }
    }

    /// When the window holding `t` starts: local midnight of the day, of the Monday of the
    /// week, or of the first of the month, in UK local time, because that is the calendar the
    /// provider and its consumers agree SLAs in.
    pub fn start_of(self, t: OffsetDateTime) -> OffsetDateTime {
        uk_midnight(self.first_day(uk_local(t).date()))
    }

    /// When the window holding `t` ends (the next window's start). A day is 23 or 25 hours long
    /// when the clocks change.
    pub fn end_of(self, t: OffsetDateTime) -> OffsetDateTime {
        uk_midnight(self.next_first_day(self.first_day(uk_local(t).date())))
    }
}

/// The last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    last.checked_sub(Duration::days(
        last.weekday().number_days_from_sunday().into(),
    ))
}

/// Whether British Summer Time is in force at `t`: from 01:00 UTC on the last Sunday of March
/// to 01:00 UTC on the last Sunday of October (the UK rule since 1996, also the EU's). Written
/// out rather than read from a time zone database, so the authority needs none installed and
/// every machine computes the same windows.
pub fn is_british_summer_time(t: OffsetDateTime) -> bool {
    let t = t.to_offset(UtcOffset::UTC);
    let (Some(start), Some(end)) = (
        last_sunday(t.year(), Month::March),
        last_sunday(t.year(), Month::October),
    ) else {
        return false;
    };
    let at_one = |d: Date| PrimitiveDateTime::new(d, time!(01:00)).assume_utc();
    t >= at_one(start) && t < at_one(end)
}

/// UK local time's offset from UTC at `t`: +01:00 in British Summer Time, otherwise zero.
pub fn uk_offset(t: OffsetDateTime) -> UtcOffset {
    if is_british_summer_time(t) {
        UtcOffset::from_whole_seconds(3600).unwrap_or(UtcOffset::UTC)
    } else {
        UtcOffset::UTC
    }
}

/// `t` in UK local time (Europe/London).
pub fn uk_local(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(uk_offset(t))
}

/// The instant a UK wall-clock time names. When the clocks go back, the hour from 01:00 to
/// 02:00 happens twice and the first (BST) one is taken; when they go forward the missing hour
/// is read as GMT. Midnight, where every SLA window starts, is never either.
pub fn uk_local_to_utc(local: PrimitiveDateTime) -> OffsetDateTime {
    let summer = local.assume_offset(UtcOffset::from_whole_seconds(3600).unwrap_or(UtcOffset::UTC));
    if is_british_summer_time(summer) {
        summer.to_offset(UtcOffset::UTC)
    } else {
        local.assume_utc()
    }
}

/// Local midnight at the start of the UK calendar day `day`, as a UTC instant.
fn uk_midnight(day: Date) -> OffsetDateTime {
    uk_local_to_utc(day.midnight())
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
    /// Whether `t` falls within the support hours, in UK local time: on a listed day, at or
    /// after `from` and before `to`. Declarations are validated before they are stored; one
    /// whose times do not parse contains nothing.
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        let local = uk_local(t);
        let day = WEEK[usize::from(local.weekday().number_days_from_monday())];
        let minute = u32::from(local.hour()) * 60 + u32::from(local.minute());
        match (minutes(&self.from), minutes(&self.to)) {
            (Some(from), Some(to)) => self.days.contains(&day) && from <= minute && minute < to,
            _ => false,
        }
    }

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
            self.window.as_str()
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

    fn utc(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn british_summer_time_starts_and_ends_at_one_utc_on_the_last_sundays() {
        for (before, after, summer_after) in [
            // 2024: 31 March and 27 October.
            ("2024-03-31T00:59:59Z", "2024-03-31T01:00:00Z", true),
            ("2024-10-27T00:59:59Z", "2024-10-27T01:00:00Z", false),
            // 2025: 30 March and 26 October.
            ("2025-03-30T00:59:59Z", "2025-03-30T01:00:00Z", true),
            ("2025-10-26T00:59:59Z", "2025-10-26T01:00:00Z", false),
            // 2026: 29 March (the month's last day is a Tuesday) and 25 October.
            ("2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", true),
            ("2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z", false),
        ] {
            assert_eq!(
                is_british_summer_time(utc(before)),
                !summer_after,
                "{before}"
            );
            assert_eq!(is_british_summer_time(utc(after)), summer_after, "{after}");
        }
        assert!(!is_british_summer_time(utc("2024-01-15T12:00:00Z")));
        assert!(is_british_summer_time(utc("2024-07-15T12:00:00Z")));
        // The same instant written with another offset is the same instant.
        assert!(is_british_summer_time(utc("2024-03-31T02:30:00+01:00")));
        assert_eq!(uk_local(utc("2024-07-01T11:00:00Z")).hour(), 12);
        assert_eq!(uk_local(utc("2024-12-01T11:00:00Z")).hour(), 11);
    }

    #[test]
    fn local_times_resolve_through_the_clock_changes() {
        use time::macros::datetime;
        assert_eq!(
            uk_local_to_utc(datetime!(2024-07-01 00:00)),
            utc("2024-06-30T23:00:00Z")
        );
        assert_eq!(
            uk_local_to_utc(datetime!(2024-01-01 00:00)),
            utc("2024-01-01T00:00:00Z")
        );
        // 01:30 happens twice on 27 October 2024: the BST one is taken.
        assert_eq!(
            uk_local_to_utc(datetime!(2024-10-27 01:30)),
            utc("2024-10-27T00:30:00Z")
        );
        // 01:30 does not happen on 31 March 2024: read as GMT.
        assert_eq!(
            uk_local_to_utc(datetime!(2024-03-31 01:30)),
            utc("2024-03-31T01:30:00Z")
        );
    }

    #[test]
    fn windows_follow_the_uk_calendar() {
        let t = utc("2024-07-03T22:30:00Z"); // Wednesday 23:30 BST
        assert_eq!(SlaWindow::Day.start_of(t), utc("2024-07-02T23:00:00Z"));
        assert_eq!(SlaWindow::Day.end_of(t), utc("2024-07-03T23:00:00Z"));
        // Monday 1 July, midnight BST.
        assert_eq!(SlaWindow::Week.start_of(t), utc("2024-06-30T23:00:00Z"));
        assert_eq!(SlaWindow::Week.end_of(t), utc("2024-07-07T23:00:00Z"));
        assert_eq!(SlaWindow::Month.start_of(t), utc("2024-06-30T23:00:00Z"));
        assert_eq!(SlaWindow::Month.end_of(t), utc("2024-07-31T23:00:00Z"));
        // 23:30 UTC on 3 July is already 4 July in London.
        let late = utc("2024-07-03T23:30:00Z");
        assert_eq!(SlaWindow::Day.start_of(late), utc("2024-07-03T23:00:00Z"));

        // The day the clocks go back has 25 hours; October's window ends at GMT midnight.
        let back = utc("2024-10-27T12:00:00Z");
        assert_eq!(SlaWindow::Day.start_of(back), utc("2024-10-26T23:00:00Z"));
        assert_eq!(SlaWindow::Day.end_of(back), utc("2024-10-28T00:00:00Z"));
        assert_eq!(SlaWindow::Month.start_of(back), utc("2024-09-30T23:00:00Z"));
        assert_eq!(SlaWindow::Month.end_of(back), utc("2024-11-01T00:00:00Z"));
        // The day they go forward has 23.
        let forward = utc("2024-03-31T12:00:00Z");
        assert_eq!(
            SlaWindow::Day.start_of(forward),
            utc("2024-03-31T00:00:00Z")
        );
        assert_eq!(SlaWindow::Day.end_of(forward), utc("2024-03-31T23:00:00Z"));
        // A week across the change, and December into January.
        assert_eq!(
            SlaWindow::Week.start_of(forward),
            utc("2024-03-25T00:00:00Z")
        );
        assert_eq!(SlaWindow::Week.end_of(forward), utc("2024-03-31T23:00:00Z"));
        let december = utc("2024-12-31T23:59:00Z");
        assert_eq!(
            SlaWindow::Month.start_of(december),
            utc("2024-12-01T00:00:00Z")
        );
        assert_eq!(
            SlaWindow::Month.end_of(december),
            utc("2025-01-01T00:00:00Z")
        );
        // Every window's end is the next one's start.
        let mut start = SlaWindow::Day.start_of(utc("2024-01-01T00:00:00Z"));
        for _ in 0..400 {
            let end = SlaWindow::Day.end_of(start);
            assert!(end > start);
            assert_eq!(SlaWindow::Day.start_of(end), end);
            assert_eq!(uk_local(end).hour(), 0, "{end}");
            start = end;
        }
    }

    #[test]
    fn support_hours_are_uk_local_time() {
        let hours: SupportHours = "mon-fri 08:00-18:00".parse().expect("hours");
        // Monday 1 July 2024 (BST): 07:00 UTC is 08:00 in London.
        assert!(!hours.contains(utc("2024-07-01T06:59:00Z")));
        assert!(hours.contains(utc("2024-07-01T07:00:00Z")));
        assert!(hours.contains(utc("2024-07-01T16:59:00Z")));
        assert!(!hours.contains(utc("2024-07-01T17:00:00Z")));
        // Monday 8 January 2024 (GMT).
        assert!(!hours.contains(utc("2024-01-08T07:59:00Z")));
        assert!(hours.contains(utc("2024-01-08T08:00:00Z")));
        assert!(hours.contains(utc("2024-01-08T17:59:00Z")));
        assert!(!hours.contains(utc("2024-01-08T18:00:00Z")));
        // Saturday, and a Friday night that is Saturday morning in London.
        assert!(!hours.contains(utc("2024-07-06T10:00:00Z")));
        assert!(!hours.contains(utc("2024-07-05T23:30:00Z")));
        // Sunday 23:30 UTC in summer is Monday 00:30 in London.
        let all_day: SupportHours = "mon 00:00-24:00".parse().expect("hours");
        assert!(all_day.contains(utc("2024-06-30T23:30:00Z")));
        assert!(!all_day.contains(utc("2024-06-30T22:59:00Z")));
        assert!(all_day.contains(utc("2024-07-01T22:59:00Z")));
        assert!(!all_day.contains(utc("2024-07-01T23:00:00Z")));
    }
}
