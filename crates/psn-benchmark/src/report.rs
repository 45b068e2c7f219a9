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
                let low = *min_pence.min(max_pence) as f64 / 100.0 * factor;
                let high = *min_pence.max(max_pence) as f64 / 100.0 * factor;
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
            let price_text = if low_price == high_price {
                format!("{} a year", pounds(low_price))
            } else {
                format!("{} to {} a year", pounds(low_price), pounds(high_price))
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
