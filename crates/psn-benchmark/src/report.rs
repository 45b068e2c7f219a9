//! Benchmark reports: one process and financial year, a member's cost per unit against the
//! network and its peers, under the publication rules, with projected savings.
//!
//! # Publication rules
//!
//! Figures go in as returns; what comes out is governed by three rules, so that taking part is
//! safe for a member before its figures are public.
//!
//! 1. **Embargo.** A member's own figures (cost per unit, volume) are shown to anyone but the
//!    member itself only once they are published: the embargo ends a number of months after the
//!    end of the financial year ([`Rules::embargo_months`], 12 by default: figures for 2024-25
//!    are published on 1 April 2026), or earlier when the member set `publish_now`. A peer
//!    without a published figure is listed with `published: false` and no figures, whether it
//!    made an embargoed return or none at all (the two are not told apart), and one
//!    [`PublicationRule::Embargo`] entry says how many peers have no published figure and when
//!    the year's embargo ends. The subject always sees its own figures.
//! 2. **At least k contributors.** An aggregate (the network's distribution, the peers'
//!    quartiles) is shown only when at least [`Rules::min_contributors`] figures (5 by
//!    default) stand behind it; otherwise it is left out with a
//!    [`PublicationRule::KContributors`] entry saying how many there are.
//! 3. **Member-chosen populations aggregate only published figures.** The requester chooses
//!    the subject and so the automatic peers, and chooses saved groups outright, so the peers'
//!    quartiles are computed from published figures only, and never include the subject's own.
//!    Embargoed figures enter only the network-wide distribution of every contributor for the
//!    process and year, which no member chooses. Two reports over groups G and G ∪ {x} can
//!    therefore differ only by x's *published* figure, which is public anyway: nothing about an
//!    embargoed x can be learnt by differencing.
//!
//! `published_costs` (for the distribution chart) lists published figures only, unnamed, and
//! only when the distribution itself is shown. The subject's percentile and band are against
//! the network distribution, and only when it is shown.
//!
//! # Projected savings
//!
//! Only for a subject with a return. Against the peers' quartiles (when shown): central =
//! (own cost per unit − peers' median) × own volume, cautious (low) with the peers' upper
//! quartile, hopeful (high) with their lower quartile. Against each provider in the catalogue
//! whose price is per unit in one of the metric's `price_units`: the price as pounds per unit
//! a year (a monthly price × 12; `each` and yearly × 1), low = own cost − highest price ×
//! volume, high = own cost − lowest price × volume, central the midpoint; providers cheapest
//! first. A negative saving means standing apart is cheaper, and is kept as it is.

use std::collections::HashSet;

use psn_api::{
    Band, BenchmarkReport, FinancialYear, MeasuredProvider, MeasuredSummary, MemberPosition,
    MetricDefinition, PeerChoice, PeerFigure, Price, PriceInterval, ProcessLabel, PublicationRule,
    Quartiles, Saving, SavingBasis, Withheld,
};
use psn_core::names::{MemberId, ServiceId};
use time::OffsetDateTime;

use crate::text::{counted, pounds, whole_pounds};

/// Quartiles by the inclusive method (spreadsheets' `QUARTILE.INC`): the value at position
/// `(n − 1) · p` of the sorted values, interpolating linearly between the closest ranks.
/// Non-finite values are ignored; none when no value is left.
pub fn quartiles(values: &[f64]) -> Option<Quartiles> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let position = (sorted.len() - 1) as f64 * p;
        let below = position.floor() as usize;
        let above = position.ceil() as usize;
        let fraction = position - below as f64;
        sorted[below] + (sorted[above] - sorted[below]) * fraction
    };
    Some(Quartiles {
        contributors: sorted.len() as u64,
        q1: at(0.25),
        median: at(0.5),
        q3: at(0.75),
    })
}

/// The band of a cost per unit: green at or below the lower quartile, red above the upper,
/// amber between.
pub fn band(cost_per_unit: f64, q: &Quartiles) -> Band {
    if cost_per_unit <= q.q1 {
        Band::Green
    } else if cost_per_unit > q.q3 {
        Band::Red
    } else {
        Band::Amber
    }
}

/// Share of `values` strictly lower than `value`, percent (0 for no values).
pub fn percentile(value: f64, values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let lower = values.iter().filter(|v| **v < value).count();
    lower as f64 / values.len() as f64 * 100.0
}

/// The publication rules' parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Months after the end of the financial year that a return stays embargoed.
    pub embargo_months: u32,
    /// Fewest contributors behind an aggregate that is shown.
    pub min_contributors: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            embargo_months: 12,
            min_contributors: 5,
        }
    }
}

/// The last day of a year's embargo: the year's last day (31 March) plus `months`, clamped to
/// the last day of the month reached (31 March + 1 month is 30 April).
pub fn embargo_ends(year: FinancialYear, months: u32) -> time::Date {
    let last = year.last_day();
    let index =
        i64::from(last.year()) * 12 + i64::from(u8::from(last.month())) - 1 + i64::from(months);
    let target_year = i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX);
    let month_number = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(12);
    let Ok(month) = time::Month::try_from(month_number) else {
        return time::Date::MAX;
    };
    let day = last.day().min(month.length(target_year));
    time::Date::from_calendar_date(target_year, month, day).unwrap_or(time::Date::MAX)
}

/// Whether a return's figures are published on `today`: the member opted in, or the embargo
/// has ended (on its last day they are still embargoed).
pub fn is_published(
    year: FinancialYear,
    publish_now: bool,
    today: time::Date,
    rules: &Rules,
) -> bool {
    publish_now || today > embargo_ends(year, rules.embargo_months)
}

/// One member's current return for the report's process and year.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The member.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// Total cost, pence.
    pub cost_pence: u64,
    /// Units handled.
    pub volume: u64,
    /// Staff, FTE.
    pub fte: Option<f64>,
    /// Satisfaction, percent.
    pub satisfaction_percent: Option<f64>,
    /// Published before the embargo at the member's request.
    pub publish_now: bool,
    /// Generated by `psn demo`.
    pub synthetic: bool,
}

impl Contribution {
    /// Cost per unit, pounds (none for a volume of 0, which validation never lets in).
    fn cost_per_unit(&self) -> Option<f64> {
        (self.volume > 0).then(|| self.cost_pence as f64 / 100.0 / self.volume as f64)
    }
}

/// A member of the peer group being compared against.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerMember {
    /// The peer.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// Its distance in the model (automatic peers).
    pub distance: Option<f64>,
}

/// A catalogue listing that supports the process, with what the network measured of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderOffer {
    /// The listing.
    pub service: ServiceId,
    /// Its title.
    pub title: String,
    /// The provider.
    pub provider: MemberId,
    /// The provider's name.
    pub provider_name: String,
    /// The listed price, if any.
    pub price: Option<Price>,
    /// What the network measured.
    pub measured: MeasuredSummary,
}

/// Everything a report is built from; the caller gathers it from its store.
#[derive(Debug, Clone)]
pub struct ReportInputs<'a> {
    /// The process.
    pub process: ProcessLabel,
    /// Its metric.
    pub metric: &'a MetricDefinition,
    /// The metric definitions' version.
    pub metrics_version: &'a str,
    /// The peer model's version.
    pub model_version: &'a str,
    /// The year.
    pub year: FinancialYear,
    /// Now (its date decides what is published).
    pub now: OffsetDateTime,
    /// The publication rules.
    pub rules: &'a Rules,
    /// The current version of every member's return for the process and year.
    pub contributions: &'a [Contribution],
    /// The subject member and its name, if any.
    pub subject: Option<(MemberId, String)>,
    /// Which peers.
    pub peers_choice: PeerChoice,
    /// The peers, in the order to show them (nearest first for automatic peers).
    pub peers: &'a [PeerMember],
    /// Listings supporting the process.
    pub providers: &'a [ProviderOffer],
}

/// Builds the report under the publication rules (see the module docs).
pub fn build(inputs: &ReportInputs) -> BenchmarkReport {
    let rules = inputs.rules;
    let today = inputs.now.date();
    let k = u64::from(rules.min_contributors);
    let published = |c: &Contribution| is_published(inputs.year, c.publish_now, today, rules);
    let mut withheld = Vec::new();

    // The network distribution: every contributor, embargoed or not (no member chooses it).
    let all_costs: Vec<f64> = inputs
        .contributions
        .iter()
        .filter_map(Contribution::cost_per_unit)
        .collect();
    let distribution = if all_costs.len() as u64 >= k {
        quartiles(&all_costs)
    } else {
        withheld.push(Withheld {
            part: "distribution".to_owned(),
            rule: PublicationRule::KContributors,
            detail: format!(
                "the network distribution for {} has {} contributors, at least {k} are needed",
                inputs.year,
                all_costs.len()
            ),
        });
        None
    };
    let mut published_costs: Vec<f64> = if distribution.is_some() {
        inputs
            .contributions
            .iter()
            .filter(|c| published(c))
            .filter_map(Contribution::cost_per_unit)
            .collect()
    } else {
        Vec::new()
    };
    published_costs.sort_by(f64::total_cmp);

    // The subject's own figures: always shown to it.
    let subject_id = inputs.subject.as_ref().map(|(id, _)| id);
    let own = subject_id.and_then(|id| inputs.contributions.iter().find(|c| &c.member == id));
    let member = match (&inputs.subject, own) {
        (Some((id, name)), Some(c)) => c.cost_per_unit().map(|cpu| MemberPosition {
            member: id.clone(),
            name: name.clone(),
            cost: c.cost_pence as f64 / 100.0,
            volume: c.volume,
            cost_per_unit: cpu,
            fte: c.fte,
            units_per_fte: c.fte.filter(|f| *f > 0.0).map(|f| c.volume as f64 / f),
            satisfaction_percent: c.satisfaction_percent,
            percentile: distribution.as_ref().map(|_| percentile(cpu, &all_costs)),
            band: distribution.as_ref().map(|q| band(cpu, q)),
        }),
        _ => None,
    };

    // Peers: published figures only, never the subject's.
    let mut seen = HashSet::new();
    let mut peers = Vec::new();
    let mut peer_costs = Vec::new();
    let mut unpublished = 0u64;
    for peer in inputs.peers {
        if Some(&peer.member) == subject_id || !seen.insert(&peer.member) {
            continue;
        }
        let figure = inputs
            .contributions
            .iter()
            .find(|c| c.member == peer.member)
            .filter(|c| published(c))
            .and_then(|c| c.cost_per_unit().map(|cpu| (cpu, c.volume)));
        if let Some((cpu, _)) = figure {
            peer_costs.push(cpu);
        } else {
            unpublished += 1;
        }
        peers.push(PeerFigure {
            member: peer.member.clone(),
            name: peer.name.clone(),
            distance: peer.distance,
            cost_per_unit: figure.map(|f| f.0),
            volume: figure.map(|f| f.1),
            published: figure.is_some(),
        });
    }
    if unpublished > 0 {
        let ends = embargo_ends(inputs.year, rules.embargo_months);
        withheld.push(Withheld {
            part: "peers' figures".to_owned(),
            rule: PublicationRule::Embargo,
            detail: format!(
                "{unpublished} of the {} peers have no published figure for {}: no return, or a return under embargo until {} {} {}",
                peers.len(),
                inputs.year,
                ends.day(),
                ends.month(),
                ends.year()
            ),
        });
    }
    let peer_quartiles = if peer_costs.len() as u64 >= k {
        quartiles(&peer_costs)
    } else {
        if !peers.is_empty() {
            withheld.push(Withheld {
                part: "peers' quartiles".to_owned(),
                rule: PublicationRule::KContributors,
                detail: format!(
                    "the peers have {} contributors with published figures, at least {k} are needed",
                    peer_costs.len()
                ),
            });
        }
        None
    };

    let comparable = |price: &Option<Price>| -> Option<(Price, f64, f64)> {
        match price {
            Some(
                p @ Price::PerUnit {
                    min_pence,
                    max_pence,
                    unit,
                    interval,
                },
            ) if inputs
                .metric
                .price_units
                .iter()
                .any(|u| u.trim().eq_ignore_ascii_case(unit.trim())) =>
            {
                let factor = match interval {
                    PriceInterval::Month => 12.0,
                    PriceInterval::Each | PriceInterval::Year => 1.0,
                };
                // Pence × factor first, then pounds, so 20p a month is exactly £2.40 a year.
                let low = *min_pence.min(max_pence) as f64 * factor / 100.0;
                let high = *min_pence.max(max_pence) as f64 * factor / 100.0;
                Some((p.clone(), low, high))
            }
            _ => None,
        }
    };

    let mut savings = Vec::new();
    if let Some(position) = &member {
        let volume = position.volume as f64;
        let units = counted(position.volume, &inputs.metric.unit);
        if let Some(q) = &peer_quartiles {
            let central = penny((position.cost_per_unit - q.median) * volume);
            savings.push(Saving {
                basis: SavingBasis::PeersMedian,
                formula: format!(
                    "({} − {} peers' median) × {units} = {} a year (from {} at the peers' upper quartile {} to {} at their lower quartile {})",
                    pounds(position.cost_per_unit),
                    pounds(q.median),
                    whole_pounds(central),
                    whole_pounds((position.cost_per_unit - q.q3) * volume),
                    pounds(q.q3),
                    whole_pounds((position.cost_per_unit - q.q1) * volume),
                    pounds(q.q1),
                ),
                low: penny((position.cost_per_unit - q.q3) * volume),
                central,
                high: penny((position.cost_per_unit - q.q1) * volume),
            });
        }
        let mut offers: Vec<(&ProviderOffer, Price, f64, f64)> = inputs
            .providers
            .iter()
            .filter_map(|o| comparable(&o.price).map(|(p, low, high)| (o, p, low, high)))
            .collect();
        offers.sort_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(a.3.total_cmp(&b.3))
                .then_with(|| a.0.service.to_string().cmp(&b.0.service.to_string()))
        });
        for (offer, price, low_price, high_price) in offers {
            let low = penny(position.cost - high_price * volume);
            let high = penny(position.cost - low_price * volume);
            let central = penny((low + high) / 2.0);
            // A price per item is already per unit of the year's volume; a monthly or yearly
            // one has been turned into a year's.
            let period = match &price {
                Price::PerUnit {
                    interval: PriceInterval::Each,
                    ..
                } => "",
                _ => " a year",
            };
            let price_text = if low_price == high_price {
                format!("{}{period}", pounds(low_price))
            } else {
                format!("{} to {}{period}", pounds(low_price), pounds(high_price))
            };
            let result = if low == high {
                format!("{} a year", whole_pounds(central))
            } else {
                format!(
                    "{} to {} a year, {} central",
                    whole_pounds(low),
                    whole_pounds(high),
                    whole_pounds(central)
                )
            };
            savings.push(Saving {
                basis: SavingBasis::Provider {
                    service: offer.service.clone(),
                    title: offer.title.clone(),
                    provider: offer.provider.clone(),
                    provider_name: offer.provider_name.clone(),
                    price,
                },
                formula: format!(
                    "{} own cost − {price_text} per {} from {} × {units} = {result}",
                    whole_pounds(position.cost),
                    inputs.metric.unit,
                    offer.provider_name
                ),
                low,
                central,
                high,
            });
        }
    }

    let mut providers: Vec<MeasuredProvider> = inputs
        .providers
        .iter()
        .map(|o| {
            let priced = comparable(&o.price);
            MeasuredProvider {
                service: o.service.clone(),
                title: o.title.clone(),
                provider: o.provider.clone(),
                provider_name: o.provider_name.clone(),
                price: priced.as_ref().map(|p| p.0.clone()),
                price_per_unit: priced.map(|p| (p.1, p.2)),
                availability_percent: o.measured.availability_percent,
                latency_p50_ms: o.measured.latency_p50_ms,
                latency_p95_ms: o.measured.latency_p95_ms,
                calls_per_day: o.measured.calls_per_day,
                consumers: o.measured.consumers,
            }
        })
        .collect();
    providers.sort_by(|a, b| {
        let key = |p: &MeasuredProvider| p.availability_percent.unwrap_or(f64::NEG_INFINITY);
        key(b)
            .total_cmp(&key(a))
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.service.to_string().cmp(&b.service.to_string()))
    });

    BenchmarkReport {
        process: inputs.process.clone(),
        metric: inputs.metric.clone(),
        metrics_version: inputs.metrics_version.to_owned(),
        model_version: inputs.model_version.to_owned(),
        year: inputs.year,
        generated_at: inputs.now,
        synthetic: inputs.contributions.iter().any(|c| c.synthetic),
        distribution,
        member,
        peers_choice: inputs.peers_choice.clone(),
        peers,
        peer_quartiles,
        savings,
        providers,
        withheld,
        published_costs,
    }
}

/// Rounds pounds to the penny.
fn penny(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::{date, datetime};

    pub(crate) fn member(code: &str) -> MemberId {
        format!("GB/LA/{code}").parse().expect("member id")
    }

    fn year() -> FinancialYear {
        "2024-25".parse().expect("year")
    }

    /// A contribution with cost per unit `cpu` pounds over 1,000 units.
    pub(crate) fn contribution(code: &str, cpu: f64, publish_now: bool) -> Contribution {
        Contribution {
            member: member(code),
            name: format!("Council {code}"),
            cost_pence: (cpu * 100_000.0).round() as u64,
            volume: 1_000,
            fte: None,
            satisfaction_percent: None,
            publish_now,
            synthetic: false,
        }
    }

    fn peer(code: &str) -> PeerMember {
        PeerMember {
            member: member(code),
            name: format!("Council {code}"),
            distance: Some(0.1),
        }
    }

    pub(crate) fn metric() -> MetricDefinition {
        crate::metrics::embedded()
            .ok()
            .and_then(|set| crate::metrics::find(&set, "psn:4004").cloned())
            .expect("accounts payable")
    }

    /// 2025-06-01: returns for 2024-25 are embargoed (until 2026-03-31) unless published now.
    const BEFORE_EMBARGO_ENDS: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    pub(crate) fn inputs<'a>(
        metric: &'a MetricDefinition,
        rules: &'a Rules,
        contributions: &'a [Contribution],
        subject: Option<&str>,
        peers: &'a [PeerMember],
        providers: &'a [ProviderOffer],
    ) -> ReportInputs<'a> {
        ReportInputs {
            process: ProcessLabel {
                id: "psn:4004".to_owned(),
                label: "Accounts payable".to_owned(),
            },
            metric,
            metrics_version: "2026.1",
            model_version: "2026.1",
            year: year(),
            now: BEFORE_EMBARGO_ENDS,
            rules,
            contributions,
            subject: subject.map(|c| (member(c), format!("Council {c}"))),
            peers_choice: PeerChoice::Auto,
            peers,
            providers,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn quartiles_by_hand() {
        // [1, 2, 3, 4]: positions 0.75, 1.5, 2.25 → 1.75, 2.5, 3.25.
        let q = quartiles(&[4.0, 1.0, 3.0, 2.0]).expect("q");
        assert_eq!(q.contributors, 4);
        assert!(close(q.q1, 1.75) && close(q.median, 2.5) && close(q.q3, 3.25));
        // [1..5]: positions 1, 2, 3 → 2, 3, 4.
        let q = quartiles(&[5.0, 1.0, 4.0, 2.0, 3.0]).expect("q");
        assert!(close(q.q1, 2.0) && close(q.median, 3.0) && close(q.q3, 4.0));
        // [10, 20, 40]: positions 0.5, 1, 1.5 → 15, 20, 30.
        let q = quartiles(&[10.0, 40.0, 20.0]).expect("q");
        assert!(close(q.q1, 15.0) && close(q.median, 20.0) && close(q.q3, 30.0));
        let q = quartiles(&[7.0, f64::NAN]).expect("q");
        assert_eq!(q.contributors, 1);
        assert!(close(q.q1, 7.0) && close(q.q3, 7.0));
        assert_eq!(quartiles(&[]), None);
    }

    #[test]
    fn bands_and_percentiles() {
        let q = Quartiles {
            contributors: 5,
            q1: 2.0,
            median: 3.0,
            q3: 4.0,
        };
        assert_eq!(band(1.0, &q), Band::Green);
        assert_eq!(band(2.0, &q), Band::Green);
        assert_eq!(band(2.0001, &q), Band::Amber);
        assert_eq!(band(4.0, &q), Band::Amber);
        assert_eq!(band(4.0001, &q), Band::Red);
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!(close(percentile(3.0, &values), 40.0));
        assert!(close(percentile(0.5, &values), 0.0));
        assert!(close(percentile(9.0, &values), 100.0));
        assert!(close(percentile(1.0, &[]), 0.0));
    }

    #[test]
    fn embargo_dates() {
        let y = year();
        assert_eq!(embargo_ends(y, 12), date!(2026 - 03 - 31));
        assert_eq!(embargo_ends(y, 0), date!(2025 - 03 - 31));
        assert_eq!(embargo_ends(y, 1), date!(2025 - 04 - 30));
        assert_eq!(embargo_ends(y, 11), date!(2026 - 02 - 28));
        assert_eq!(
            embargo_ends("2026-27".parse().expect("y"), 11),
            date!(2028 - 02 - 29)
        );
        let rules = Rules::default();
        assert!(!is_published(y, false, date!(2026 - 03 - 30), &rules));
        assert!(
            !is_published(y, false, date!(2026 - 03 - 31), &rules),
            "on the day"
        );
        assert!(is_published(y, false, date!(2026 - 04 - 01), &rules));
        assert!(is_published(y, true, date!(2025 - 04 - 01), &rules));
    }

    #[test]
    fn k_contributors_for_the_distribution() {
        let metric = metric();
        let rules = Rules::default();
        let four: Vec<Contribution> = (1..=4)
            .map(|i| contribution(&format!("E{i}"), f64::from(i), true))
            .collect();
        let report = build(&inputs(&metric, &rules, &four, Some("E1"), &[], &[]));
        assert_eq!(report.distribution, None);
        assert!(report.published_costs.is_empty());
        let w = report
            .withheld
            .iter()
            .find(|w| w.part == "distribution")
            .expect("withheld");
        assert_eq!(w.rule, PublicationRule::KContributors);
        assert!(
            w.detail.contains("4 contributors, at least 5 are needed"),
            "{}",
            w.detail
        );
        // The subject still sees its own figures, without a position.
        let own = report.member.expect("own figures");
        assert!(close(own.cost_per_unit, 1.0));
        assert_eq!(own.band, None);
        assert_eq!(own.percentile, None);

        let mut five = four.clone();
        five.push(contribution("E5", 5.0, false));
        let report = build(&inputs(&metric, &rules, &five, Some("E1"), &[], &[]));
        let q = report.distribution.expect("shown at k");
        assert_eq!(q.contributors, 5);
        assert!(close(q.median, 3.0));
        // E5 is embargoed: in the distribution, not in the published costs.
        assert_eq!(report.published_costs, vec![1.0, 2.0, 3.0, 4.0]);
        let own = report.member.expect("own");
        assert_eq!(own.band, Some(Band::Green));
        assert!(close(own.percentile.expect("percentile"), 0.0));
    }

    #[test]
    fn four_published_peers_withhold_the_peer_quartiles() {
        let metric = metric();
        let rules = Rules::default();
        let mut all: Vec<Contribution> = (1..=4)
            .map(|i| contribution(&format!("P{i}"), f64::from(i), true))
            .collect();
        all.push(contribution("P5", 9.0, false));
        all.push(contribution("S", 3.0, false));
        let peers: Vec<PeerMember> = (1..=5).map(|i| peer(&format!("P{i}"))).collect();
        let report = build(&inputs(&metric, &rules, &all, Some("S"), &peers, &[]));
        assert_eq!(report.peer_quartiles, None);
        let w = report
            .withheld
            .iter()
            .find(|w| w.part == "peers' quartiles")
            .expect("withheld");
        assert_eq!(w.rule, PublicationRule::KContributors);
        assert!(w.detail.contains("4 contributors"), "{}", w.detail);
        let embargo = report
            .withheld
            .iter()
            .find(|w| w.rule == PublicationRule::Embargo)
            .expect("embargo entry");
        assert!(
            embargo.detail.contains("1 of the 5 peers") && embargo.detail.contains("31 March 2026"),
            "{}",
            embargo.detail
        );
        let p5 = &report.peers[4];
        assert!(!p5.published && p5.cost_per_unit.is_none() && p5.volume.is_none());
        // No saving against peers without their quartiles.
        assert!(report.savings.is_empty());
        // The subject's own embargoed figure is shown to it.
        assert!(close(report.member.expect("own").cost_per_unit, 3.0));
    }

    #[test]
    fn differencing_reveals_nothing_about_an_embargoed_peer() {
        let metric = metric();
        let rules = Rules::default();
        let mut all: Vec<Contribution> = [1.0, 2.0, 2.1, 3.0, 4.0]
            .iter()
            .enumerate()
            .map(|(i, cpu)| contribution(&format!("G{i}"), *cpu, true))
            .collect();
        // x: embargoed, wildly different (£987.654321 per invoice).
        let mut x = contribution("X", 0.0, false);
        x.cost_pence = 987_654_321;
        x.volume = 1_000;
        all.push(x);
        all.push(contribution("S", 3.4, false));
        for i in 0..4 {
            all.push(contribution(&format!("N{i}"), 2.5 + f64::from(i), true));
        }
        let group: Vec<PeerMember> = (0..5).map(|i| peer(&format!("G{i}"))).collect();
        let mut with_x = group.clone();
        with_x.push(peer("X"));
        let a = build(&inputs(&metric, &rules, &all, Some("S"), &group, &[]));
        let b = build(&inputs(&metric, &rules, &all, Some("S"), &with_x, &[]));
        assert!(a.peer_quartiles.is_some());
        assert_eq!(a.peer_quartiles, b.peer_quartiles);
        assert_eq!(a.savings, b.savings);
        let json = serde_json::to_string(&b).expect("json");
        for needle in ["987.65", "987654", "98765432", "987,654", "987.6"] {
            assert!(!json.contains(needle), "{needle} in {json}");
        }
        let csv = crate::export::report_csv(&b);
        assert!(!csv.contains("987.6"), "{csv}");
        let x_row = b
            .peers
            .iter()
            .find(|p| p.member == member("X"))
            .expect("x listed");
        assert!(!x_row.published);
        // x does count in the network distribution, which no member chooses.
        assert_eq!(b.distribution.as_ref().map(|q| q.contributors), Some(11));
    }

    fn service(name: &str) -> ServiceId {
        format!("GB/COM/C1/finance/{name}.v1")
            .parse()
            .expect("service id")
    }

    fn offer(name: &str, price: Option<Price>, availability: Option<f64>) -> ProviderOffer {
        ProviderOffer {
            service: service(name),
            title: format!("{name} service"),
            provider: "GB/COM/C1".parse().expect("provider"),
            provider_name: "Shared Finance Ltd".to_owned(),
            price,
            measured: MeasuredSummary {
                availability_percent: availability,
                ..MeasuredSummary::default()
            },
        }
    }

    #[test]
    fn savings_by_hand() {
        let metric = metric();
        let rules = Rules::default();
        // Peers' published cost per invoice 1, 2, 2.10, 3, 4: Q1 2, median 2.10, Q3 3.
        let mut all: Vec<Contribution> = [1.0, 2.0, 2.1, 3.0, 4.0]
            .iter()
            .enumerate()
            .map(|(i, cpu)| contribution(&format!("G{i}"), *cpu, true))
            .collect();
        // The subject: £408,000 for 120,000 invoices, £3.40 each.
        all.push(Contribution {
            member: member("S"),
            name: "Council S".to_owned(),
            cost_pence: 40_800_000,
            volume: 120_000,
            fte: Some(8.0),
            satisfaction_percent: None,
            publish_now: false,
            synthetic: true,
        });
        let peers: Vec<PeerMember> = (0..5).map(|i| peer(&format!("G{i}"))).collect();
        let per_unit = |min, max, unit: &str, interval| {
            Some(Price::PerUnit {
                min_pence: min,
                max_pence: max,
                unit: unit.to_owned(),
                interval,
            })
        };
        let providers = [
            offer(
                "monthly",
                per_unit(20, 20, "invoice", PriceInterval::Month),
                Some(99.5),
            ),
            offer(
                "payroll",
                per_unit(442, 442, "employee", PriceInterval::Month),
                None,
            ),
            offer(
                "each",
                per_unit(150, 200, "Invoice", PriceInterval::Each),
                Some(99.9),
            ),
            offer("free", Some(Price::Free {}), Some(98.0)),
        ];
        let report = build(&inputs(
            &metric,
            &rules,
            &all,
            Some("S"),
            &peers,
            &providers,
        ));
        assert!(report.synthetic);
        let own = report.member.as_ref().expect("own");
        assert!(close(own.units_per_fte.expect("per fte"), 15_000.0));
        assert_eq!(report.savings.len(), 3);
        // (3.40 − 2.10) × 120,000 = 156,000; low (3.40 − 3) × 120,000 = 48,000;
        // high (3.40 − 2) × 120,000 = 168,000.
        let s = &report.savings[0];
        assert_eq!(s.basis, SavingBasis::PeersMedian);
        assert!(close(s.central, 156_000.0) && close(s.low, 48_000.0) && close(s.high, 168_000.0));
        assert!(
            s.formula.starts_with(
                "(£3.40 − £2.10 peers' median) × 120,000 invoices paid = £156,000 a year"
            ),
            "{}",
            s.formula
        );
        // £1.50–£2.00 each: low 408,000 − 2 × 120,000 = 168,000; high 408,000 − 1.5 × 120,000
        // = 228,000; central 198,000.
        let s = &report.savings[1];
        assert!(matches!(&s.basis, SavingBasis::Provider { title, .. } if title == "each service"));
        assert!(close(s.low, 168_000.0) && close(s.high, 228_000.0) && close(s.central, 198_000.0));
        assert!(
            s.formula.contains("£1.50 to £2.00 per invoice paid"),
            "{}",
            s.formula
        );
        // 20p a month = £2.40 a year: 408,000 − 2.40 × 120,000 = 120,000.
        let s = &report.savings[2];
        assert!(close(s.low, 120_000.0) && close(s.high, 120_000.0));
        assert!(
            s.formula.contains("£2.40 a year per invoice paid"),
            "{}",
            s.formula
        );
        // Standing apart cheaper: negative, kept.
        let mut cheap = all.clone();
        if let Some(c) = cheap.iter_mut().find(|c| c.member == member("S")) {
            c.cost_pence = 12_000_000; // £1.00 per invoice
        }
        let report2 = build(&inputs(
            &metric,
            &rules,
            &cheap,
            Some("S"),
            &peers,
            &providers,
        ));
        assert!(close(report2.savings[0].central, -132_000.0));
        assert!(
            report2.savings[0].formula.contains("−£132,000"),
            "{}",
            report2.savings[0].formula
        );
        // Providers: best measured availability first; price only when comparable.
        let order: Vec<&str> = report.providers.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            order,
            [
                "each service",
                "monthly service",
                "free service",
                "payroll service"
            ]
        );
        assert_eq!(report.providers[0].price_per_unit, Some((1.5, 2.0)));
        assert_eq!(report.providers[1].price_per_unit, Some((2.4, 2.4)));
        assert!(
            report.providers[2].price.is_none() && report.providers[3].price_per_unit.is_none()
        );
    }

    #[test]
    fn no_subject_no_position_no_savings() {
        let metric = metric();
        let rules = Rules::default();
        let all: Vec<Contribution> = (1..=6)
            .map(|i| contribution(&format!("E{i}"), f64::from(i), true))
            .collect();
        let peers: Vec<PeerMember> = (1..=6).map(|i| peer(&format!("E{i}"))).collect();
        let report = build(&inputs(&metric, &rules, &all, None, &peers, &[]));
        assert!(report.member.is_none());
        assert!(report.savings.is_empty());
        assert_eq!(report.peer_quartiles.map(|q| q.contributors), Some(6));
        // A subject without a return: no position, peers still compared without it.
        let report = build(&inputs(&metric, &rules, &all, Some("E9"), &peers, &[]));
        assert!(report.member.is_none());
        // The subject in its own saved group is left out of its peers.
        let report = build(&inputs(&metric, &rules, &all, Some("E1"), &peers, &[]));
        assert_eq!(report.peers.len(), 5);
        assert_eq!(report.peer_quartiles.map(|q| q.contributors), Some(5));
    }
}
