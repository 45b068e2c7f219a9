//! A token bucket: how many refusals of unidentified requests the gateway records, so that a
//! flood of bad requests costs a bounded amount of disk and log bandwidth however long it lasts.

use std::sync::Mutex;
use std::time::Instant;

/// Allows `per_second` events a second on average, in bursts of up to ten times as many.
#[derive(Debug)]
pub struct RefusalBudget {
    per_second: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RefusalBudget {
    /// A full bucket as of `now`.
    pub fn new(per_second: u32, now: Instant) -> Self {
        let per_second = f64::from(per_second);
        let burst = per_second * 10.0;
        Self {
            per_second,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: now,
            }),
        }
    }

    /// Takes one token now, if there is one.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Takes one token as of `now` (the clock is the caller's, so tests can drive it).
    pub fn try_take_at(&self, now: Instant) -> bool {
        let mut bucket = match self.state.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate_refills_it() {
        let start = Instant::now();
        let budget = RefusalBudget::new(5, start);
        let allowed = (0..100).filter(|_| budget.try_take_at(start)).count();
        assert_eq!(allowed, 50, "ten seconds' worth in a burst");
        assert!(!budget.try_take_at(start + Duration::from_millis(100)));
        assert!(budget.try_take_at(start + Duration::from_millis(200)));
        assert!(!budget.try_take_at(start + Duration::from_millis(200)));
        let later = start + Duration::from_secs(3600);
        let refilled = (0..100).filter(|_| budget.try_take_at(later)).count();
        assert_eq!(refilled, 50, "the bucket never holds more than the burst");
    }

    #[test]
    fn a_clock_going_backwards_grants_nothing_extra() {
        let start = Instant::now() + Duration::from_secs(10);
        let budget = RefusalBudget::new(1, start);
        assert_eq!((0..20).filter(|_| budget.try_take_at(start)).count(), 10);
        assert!(!budget.try_take_at(start - Duration::from_secs(5)));
        assert!(!budget.try_take_at(start));
        assert!(budget.try_take_at(start + Duration::from_secs(1)));
    }
}
