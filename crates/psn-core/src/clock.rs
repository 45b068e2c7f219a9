//! How far apart the clocks of a network's machines may be (docs/faults.md "Clocks").
//!
//! Every machine reads its own clock, and times cross machines: configurations carry when they
//! were issued, certificates when they start, statements when they were made. The authority's
//! clock is the network's reference. Each gateway compares its clock with the authority's at
//! every configuration fetch and refuses exchanges while they differ by more than
//! [`TOLERATED_SKEW`] (`clock-skew`); the CA starts certificates that much in the past, and a
//! configuration may be issued that much ahead of a gateway's clock. Two gateways each within the
//! tolerance of the authority are within twice it of each other, so a peer's statement is
//! accepted, live and by `psn audit verify`, within [`PEER_SKEW`] of the exchange.

use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// How far a machine's clock may be from the authority's.
pub const TOLERATED_SKEW: Duration = Duration::minutes(5);

/// How far a peer gateway's statement may be from this gateway's view of the exchange.
pub const PEER_SKEW: Duration = Duration::minutes(10);

/// [`PEER_SKEW`] in milliseconds, for statement times.
pub const PEER_SKEW_MS: i64 = PEER_SKEW.whole_seconds() * 1000;

/// Why something signed as valid from `issued_at` to `expires_at` (by the authority's clock) is
/// not in force at `now` (by this machine's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotInForce {
    /// `now` is at or past `expires_at`.
    Expired,
    /// `now` is more than [`TOLERATED_SKEW`] before `issued_at`: this clock is behind.
    IssuedAhead,
}

/// Whether something valid from `issued_at` to `expires_at` is in force at `now`, a clock being
/// allowed to be [`TOLERATED_SKEW`] behind the one that issued it. The one rule for
/// configurations, their signed heads, anchors and assertions.
pub fn in_force(
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), NotInForce> {
    if now >= expires_at {
        Err(NotInForce::Expired)
    } else if now < issued_at - TOLERATED_SKEW {
        Err(NotInForce::IssuedAhead)
    } else {
        Ok(())
    }
}

/// The instant an HTTP `Date` header names (RFC 9110's IMF-fixdate, the only form a server
/// sends: `Tue, 08 Dec 2026 00:02:52 GMT`), if it is one.
pub fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text, format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Why a peer's statement made at `at_ms` cannot be about an exchange this gateway saw from
/// `from_ms` to `to_ms` (Unix milliseconds), if it cannot: it was made more than [`PEER_SKEW`]
/// outside that span. Gateways check this live, and `psn audit verify` again.
pub fn statement_outside(at_ms: i64, from_ms: i64, to_ms: i64) -> Option<String> {
    let window = from_ms.saturating_sub(PEER_SKEW_MS)..=to_ms.saturating_add(PEER_SKEW_MS);
    (!window.contains(&at_ms)).then(|| {
        format!(
            "the statement was made at {at_ms} ms, outside the exchange ({from_ms} to {to_ms} ms, \
             with {PEER_SKEW_MS} ms for clock skew)"
        )
    })
}

/// Whether `offset` (another clock minus this one) is beyond [`TOLERATED_SKEW`].
pub fn beyond_tolerance(offset: Duration) -> bool {
    offset.abs() > TOLERATED_SKEW
}

/// `offset` (the other clock minus this one) in words: "4 min 10 s behind", from this clock's
/// side ("behind": this clock is behind the other).
pub fn describe(offset: Duration) -> String {
    let seconds = offset.whole_seconds().unsigned_abs();
    let side = if offset.is_negative() {
        "ahead of"
    } else {
        "behind"
    };
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s {side}"),
        (m, 0) => format!("{m} min {side}"),
        (m, s) => format!("{m} min {s} s {side}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_http_date_is_read_and_anything_else_refused() {
        assert_eq!(
            parse_http_date("Tue, 08 Dec 2026 00:02:52 GMT"),
            Some(datetime!(2026-12-08 00:02:52 UTC))
        );
        for bad in [
            "",
            "Tue, 08 Dec 2026 00:02:52",
            "Tue, 08 Dec 2026 00:02:52 BST",
            "Tuesday, 08-Dec-26 00:02:52 GMT",
            "Tue, 32 Dec 2026 00:02:52 GMT",
            "Tue, 08 Dec 2026 24:02:52 GMT",
            "Tue, 08 Dec 2026 00:02:52 GMT trailing",
            "\u{0}",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_tolerance_is_inclusive_and_either_way() {
        assert!(!beyond_tolerance(TOLERATED_SKEW));
        assert!(!beyond_tolerance(-TOLERATED_SKEW));
        assert!(beyond_tolerance(TOLERATED_SKEW + Duration::seconds(1)));
        assert!(beyond_tolerance(-TOLERATED_SKEW - Duration::seconds(1)));
        assert_eq!(PEER_SKEW.whole_milliseconds(), i128::from(PEER_SKEW_MS));
        assert_eq!(PEER_SKEW, TOLERATED_SKEW * 2);
    }

    #[test]
    fn a_statement_is_placed_within_the_peer_skew_of_the_exchange() {
        let (from, to) = (1_000_000_000, 1_000_000_500);
        for inside in [from, to, from - PEER_SKEW_MS, to + PEER_SKEW_MS] {
            assert_eq!(statement_outside(inside, from, to), None, "{inside}");
        }
        for outside in [
            from - PEER_SKEW_MS - 1,
            to + PEER_SKEW_MS + 1,
            i64::MIN,
            i64::MAX,
        ] {
            let why = statement_outside(outside, from, to).expect("outside");
            assert!(why.contains("clock skew"), "{why}");
        }
        assert_eq!(statement_outside(i64::MAX, i64::MAX, i64::MAX), None);
    }

    #[test]
    fn in_force_from_a_tolerated_skew_before_issue_until_expiry() {
        let issued = datetime!(2026-12-08 00:00 UTC);
        let expires = issued + Duration::days(7);
        assert_eq!(in_force(issued, expires, issued), Ok(()));
        assert_eq!(in_force(issued, expires, issued - TOLERATED_SKEW), Ok(()));
        assert_eq!(
            in_force(issued, expires, issued - TOLERATED_SKEW - Duration::SECOND),
            Err(NotInForce::IssuedAhead)
        );
        assert_eq!(
            in_force(issued, expires, expires - Duration::NANOSECOND),
            Ok(())
        );
        assert_eq!(in_force(issued, expires, expires), Err(NotInForce::Expired));
    }

    #[test]
    fn offsets_read_from_this_clocks_side() {
        assert_eq!(describe(Duration::seconds(250)), "4 min 10 s behind");
        assert_eq!(describe(Duration::seconds(-600)), "10 min ahead of");
        assert_eq!(describe(Duration::seconds(-7)), "7 s ahead of");
        assert_eq!(describe(Duration::ZERO), "0 s behind");
    }
}
