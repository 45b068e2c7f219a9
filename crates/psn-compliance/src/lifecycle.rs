//! When reminders about a certificate's expiry are due.
//!
//! The authority checks current certificates periodically; for each, [`due_stages`] says which
//! reminder stages have come (30 days and 7 days before expiry, on the day, and 7 days after).
//! The authority records the stages it has sent (as [`ReminderStage::as_str`], e.g. in
//! `MemberCompliance::reminders`) and sends only those not yet sent, so each goes once; after an
//! outage, every stage that came meanwhile is returned, in order.

use crate::text::clip;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A reminder about a certificate's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReminderStage {
    /// 30 days before expiry (`30d`).
    #[serde(rename = "30d")]
    Days30,
    /// 7 days before expiry (`7d`).
    #[serde(rename = "7d")]
    Days7,
    /// At expiry (`0d`).
    #[serde(rename = "0d")]
    Day0,
    /// 7 days after expiry (`+7d`).
    #[serde(rename = "+7d")]
    After7,
}

impl ReminderStage {
    /// Every stage, in the order they come.
    pub const ALL: [ReminderStage; 4] = [
        ReminderStage::Days30,
        ReminderStage::Days7,
        ReminderStage::Day0,
        ReminderStage::After7,
    ];

    /// As written on the wire and recorded: `30d`, `7d`, `0d`, `+7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderStage::Days30 => "30d",
            ReminderStage::Days7 => "7d",
            ReminderStage::Day0 => "0d",
            ReminderStage::After7 => "+7d",
        }
    }

    /// Its moment relative to the expiry: days after it (negative: before).
    pub fn offset_days(self) -> i64 {
        match self {
            ReminderStage::Days30 => -30,
            ReminderStage::Days7 => -7,
            ReminderStage::Day0 => 0,
            ReminderStage::After7 => 7,
        }
    }
}

impl std::fmt::Display for ReminderStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reminder stage that is not one of `30d`, `7d`, `0d`, `+7d`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a reminder stage (30d, 7d, 0d or +7d)")]
pub struct UnknownReminderStage(
    /// What was given, clipped to 60 characters.
    pub String,
);

impl std::str::FromStr for ReminderStage {
    type Err = UnknownReminderStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReminderStage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| UnknownReminderStage(clip(s)))
    }
}

/// The reminder stages whose moment has come at `now` for a certificate expiring at
/// `expires_at`, in order: `30d` from 30 days before, `7d` from 7 days before, `0d` from the
/// expiry, `+7d` from 7 days after. A moment before the earliest representable time has come; one
/// after the latest has not.
pub fn due_stages(expires_at: OffsetDateTime, now: OffsetDateTime) -> Vec<ReminderStage> {
    ReminderStage::ALL
        .into_iter()
        .filter(|stage| {
            let days = stage.offset_days();
            match expires_at.checked_add(Duration::days(days)) {
                Some(moment) => now >= moment,
                None => days < 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use ReminderStage::*;

    #[test]
    fn stages_come_at_their_exact_moments() {
        let expires = datetime!(2027-03-31 12:00 UTC);
        let at = |d: OffsetDateTime| due_stages(expires, d);
        let second = Duration::SECOND;
        assert_eq!(at(datetime!(2026-01-01 00:00 UTC)), []);
        assert_eq!(at(datetime!(2027-03-01 12:00 UTC) - second), []);
        assert_eq!(at(datetime!(2027-03-01 12:00 UTC)), [Days30]);
        assert_eq!(at(datetime!(2027-03-24 12:00 UTC) - second), [Days30]);
        assert_eq!(at(datetime!(2027-03-24 12:00 UTC)), [Days30, Days7]);
        assert_eq!(at(expires - Duration::NANOSECOND), [Days30, Days7]);
        assert_eq!(at(expires), [Days30, Days7, Day0]);
        assert_eq!(
            at(datetime!(2027-04-07 12:00 UTC) - second),
            [Days30, Days7, Day0]
        );
        assert_eq!(at(datetime!(2027-04-07 12:00 UTC)), ReminderStage::ALL);
        // After an outage every stage that came is returned, in order.
        assert_eq!(at(datetime!(2030-01-01 00:00 UTC)), ReminderStage::ALL);
        // The moment is the same instant whatever offset `now` is written in.
        assert_eq!(
            at(datetime!(2027-03-31 13:00 +01:00)),
            [Days30, Days7, Day0]
        );
        assert_eq!(at(datetime!(2027-03-31 12:59 +01:00)), [Days30, Days7]);
    }

    #[test]
    fn stages_at_the_ends_of_time_do_not_panic() {
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        assert_eq!(due_stages(max, max), [Days30, Days7, Day0]);
        assert_eq!(due_stages(min, min), [Days30, Days7, Day0]);
    }

    #[test]
    fn stages_are_written_and_read_as_recorded() {
        for stage in ReminderStage::ALL {
            assert_eq!(stage.as_str().parse::<ReminderStage>(), Ok(stage));
            assert_eq!(stage.to_string(), stage.as_str());
            let json = serde_json::to_string(&stage).expect("serialises");
            assert_eq!(json, format!("\"{}\"", stage.as_str()));
            assert_eq!(
                serde_json::from_str::<ReminderStage>(&json).expect("parses"),
                stage
            );
        }
        let wrong = "30 days".parse::<ReminderStage>().expect_err("unknown");
        assert!(wrong
            .to_string()
            .contains("\"30 days\" is not a reminder stage"));
        let long = "x"
            .repeat(500)
            .parse::<ReminderStage>()
            .expect_err("unknown");
        assert!(long.0.chars().count() <= 61);
        assert!(serde_json::from_str::<ReminderStage>("\"days30\"").is_err());
    }
}
