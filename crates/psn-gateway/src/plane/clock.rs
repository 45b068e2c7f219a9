//! This gateway's clock against the authority's (`psn_core::clock`): the configuration follower
//! notes the offset at every fetch, and every exchange, on either side, reads it first. While
//! the two clocks differ by more than the network tolerates, the gateway refuses exchanges with
//! `clock-skew` rather than sign statements stamped with a time its peers and `psn audit verify`
//! would refuse; the refusal is then this gateway's own, and counted as such.

use std::sync::atomic::{AtomicI64, Ordering};
use time::Duration;

/// The last offset seen, in milliseconds (`i64::MIN`: none yet).
#[derive(Debug)]
pub struct ClockCheck {
    offset_ms: AtomicI64,
}

const UNKNOWN: i64 = i64::MIN;

impl Default for ClockCheck {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(UNKNOWN),
        }
    }
}

impl ClockCheck {
    /// Notes `offset` (the authority's clock minus this one); says whether it crossed the
    /// tolerance, either way, so the change is logged once.
    pub fn note(&self, offset: Duration) -> bool {
        let clamped = offset
            .whole_milliseconds()
            .clamp(i128::from(UNKNOWN + 1), i128::from(i64::MAX));
        let ms = i64::try_from(clamped).unwrap_or(i64::MAX);
        let before = self.offset_ms.swap(ms, Ordering::Relaxed);
        let was_beyond = before != UNKNOWN && psn_core::clock::beyond_tolerance(millis(before));
        was_beyond != psn_core::clock::beyond_tolerance(offset)
    }

    /// The last offset seen, if any.
    pub fn offset(&self) -> Option<Duration> {
        match self.offset_ms.load(Ordering::Relaxed) {
            UNKNOWN => None,
            ms => Some(millis(ms)),
        }
    }

    /// Why this gateway refuses exchanges now, if it does.
    pub fn refusal(&self) -> Option<String> {
        let offset = self.offset()?;
        psn_core::clock::beyond_tolerance(offset).then(|| {
            format!(
                "this gateway's clock is {} the authority's, more than the {} minutes the network \
                 tolerates; correct it (NTP) and exchanges resume at the next configuration fetch",
                psn_core::clock::describe(offset),
                psn_core::clock::TOLERATED_SKEW.whole_minutes()
            )
        })
    }
}

fn millis(ms: i64) -> Duration {
    Duration::milliseconds(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_are_refused_only_while_the_offset_is_beyond_the_tolerance() {
        let clock = ClockCheck::default();
        assert_eq!(clock.refusal(), None, "nothing known: nothing refused");
        assert!(!clock.note(Duration::minutes(4)));
        assert_eq!(clock.refusal(), None);
        assert!(clock.note(Duration::minutes(-11)), "crossing is reported");
        let refusal = clock.refusal().expect("refused");
        assert!(
            refusal.contains("11 min ahead of the authority's"),
            "{refusal}"
        );
        assert!(refusal.contains("5 minutes"), "{refusal}");
        assert!(
            !clock.note(Duration::minutes(-12)),
            "still beyond: not again"
        );
        assert!(clock.note(Duration::seconds(3)), "back within");
        assert_eq!(clock.refusal(), None);
        assert_eq!(clock.offset(), Some(Duration::seconds(3)));
    }

    #[test]
    fn an_absurd_offset_is_held_not_wrapped() {
        let clock = ClockCheck::default();
        clock.note(Duration::MIN);
        assert!(clock.refusal().is_some());
        clock.note(Duration::MAX);
        assert!(clock.refusal().is_some());
    }
}
