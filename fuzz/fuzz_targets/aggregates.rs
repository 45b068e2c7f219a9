//! What gateways report to the authority about their exchanges, on arbitrary bytes: an
//! aggregates batch through the authority's whole check of it (`check_batch`: the batch's own
//! rules, numbers the database can hold, each row's minute and identifiers) and each row's
//! test of who may report it; a partner authority's forwarded rows through the check the
//! authority makes of them; an SLA declaration through its validation, and its shorthands
//! (`p95<500ms`, `mon-fri 08:00-18:00`, `month`).
//!
//! Nothing panics. A batch the authority accepts serialises to JSON that parses back to it, its
//! rows' counts merge into an empty total unchanged, and its histograms' percentiles rise with
//! the percentile asked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_api::ForwardedAggregates;
use psn_authority::api::check_batch;
use psn_authority::federation::check_forwarded;
use psn_core::aggregate::{AggregateBatch, AggregateCounts};
use psn_core::names::{GatewayId, NetworkId};
use psn_core::sla::{LatencyTarget, SlaDeclaration, SlaWindow, SupportHours};
use std::sync::OnceLock;
use time::OffsetDateTime;

/// The reporting gateway, its network, and a partner network.
struct Fixture {
    gateway: GatewayId,
    network: NetworkId,
    partner: NetworkId,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        gateway: "GB/LA/E10000016@gw1".parse().expect("gateway"),
        network: "GB".parse().expect("network"),
        partner: "GB-KENT".parse().expect("partner"),
    })
}

/// A batch as `POST /v1/gateway/aggregates` takes it.
fn batch(fixture: &Fixture, batch: &AggregateBatch) {
    let checked = check_batch(batch);
    for row in &batch.rows {
        let _ = row.reported_by(&fixture.gateway);
        let _ = row.other_network(fixture.network.as_ref());
    }
    if checked.is_err() {
        return;
    }
    let json = serde_json::to_vec(batch).expect("a batch serialises");
    assert_eq!(
        serde_json::from_slice::<AggregateBatch>(&json)
            .ok()
            .as_ref(),
        Some(batch)
    );
    for row in &batch.rows {
        let mut total = AggregateCounts::default();
        total.merge(&row.counts);
        assert_eq!(total, row.counts);
        for histogram in [&row.counts.total, &row.counts.upstream] {
            let _ = histogram.mean_ms();
            let percentiles: Vec<Option<u64>> = [0.0, 50.0, 95.0, 99.9, 100.0]
                .into_iter()
                .map(|p| histogram.percentile(p))
                .collect();
            assert!(
                percentiles.windows(2).all(|w| w[0] <= w[1]),
                "percentiles fall: {percentiles:?}"
            );
        }
    }
}

/// An SLA declaration as `POST /v1/gateway/slas` takes it, and where it applies.
fn declaration(declaration: &SlaDeclaration) {
    let _ = declaration.validate();
    let _ = declaration.to_string();
    let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
    if let Some(hours) = &declaration.support_hours {
        let _ = hours.contains(at);
    }
    let start = declaration.window.start_of(at);
    assert!(start <= at && at < declaration.window.end_of(at));
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(parsed) = serde_json::from_slice::<AggregateBatch>(data) {
        batch(fixture, &parsed);
    }
    if let Ok(answer) = serde_json::from_slice::<ForwardedAggregates>(data) {
        let partner = answer
            .items
            .first()
            .map_or(&fixture.partner, |item| item.gateway.member().network());
        let _ = check_forwarded(&fixture.network, partner, 0, &answer);
    }
    if let Ok(parsed) = serde_json::from_slice::<SlaDeclaration>(data) {
        declaration(&parsed);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<LatencyTarget>();
        let _ = text.parse::<SlaWindow>();
        if let Ok(hours) = text.parse::<SupportHours>() {
            assert!(
                !hours.days.is_empty(),
                "{text:?} gave support hours on no day"
            );
        }
    }
});
