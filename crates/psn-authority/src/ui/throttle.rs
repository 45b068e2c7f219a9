//! Sign-in throttling by source address, in memory: after `MAX_FAILURES` wrong sign-ins from
//! one address within `WINDOW`, that address may not try again until the window ends. (Per
//! account lockout lives in the database, so it holds across restarts and replicas.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins an address may make in one window.
pub const MAX_FAILURES: u32 = 20;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most; beyond it, expired windows are dropped first, then the oldest.
const MAX_TRACKED: usize = 100_000;

/// Failures per address in the current window.
#[derive(Default)]
pub struct AddressThrottle {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AddressThrottle {
    /// Whether the address has used up its failures.
    pub fn blocked(&self, address: IpAddr) -> bool {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows
            .get(&address)
            .is_some_and(|(start, n)| start.elapsed() < WINDOW && *n >= MAX_FAILURES)
    }

    /// Counts a failure.
    pub fn fail(&self, address: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if windows.len() >= MAX_TRACKED {
                let oldest = windows.iter().min_by_key(|(_, (s, _))| *s).map(|(a, _)| *a);
                if let Some(a) = oldest {
                    windows.remove(&a);
                }
            }
        }
        let entry = windows.entry(address).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}
