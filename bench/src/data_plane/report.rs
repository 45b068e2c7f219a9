//! From raw runs to what the goals are stated in: per topology medians over repetitions, and
//! ratios against the anchors *paired within each repetition* (psn's run and nginx's run of the
//! same repetition were seconds apart on the same machine, so their ratio cancels most of the
//! drift that moves absolute numbers by tens of percent between repetitions on a shared machine).

use super::wrk::WrkResult;
use super::{Scenario, Topology};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The process roles whose CPU time is reported, in table order.
pub const ROLES: [&str; 8] = [
    "backend",
    "nginx-front",
    "nginx-back",
    "consumer-gw",
    "provider-gw",
    "authority",
    "wrk",
    "all",
];

/// One measured wrk run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Repetition, from 1.
    pub rep: u32,
    /// Request shape.
    pub scenario: Scenario,
    /// wrk connections.
    pub connections: u32,
    /// Path measured.
    pub topology: Topology,
    /// The URL wrk called.
    pub url: String,
    /// What wrk measured (absent when wrk itself failed).
    pub wrk: Option<WrkResult>,
    /// CPU time per completed request of each process role, in µs (`all` is their sum).
    pub cpu_us_per_request: BTreeMap<String, f64>,
    /// CPU time of each role over the run, in clock ticks.
    pub cpu_ticks: BTreeMap<String, u64>,
    /// Why the run does not count, if it does not.
    pub failure: Option<String>,
}

impl Run {
    /// The run's figures if it counts.
    fn ok(&self) -> Option<&WrkResult> {
        self.wrk.as_ref().filter(|_| self.failure.is_none())
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(match sorted.len() % 2 {
        1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    })
}

/// A set of values summarised as median and range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// `None` when there are no (finite) values.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        Some(Spread {
            median: median(&finite)?,
            min: finite.iter().copied().reduce(f64::min)?,
            max: finite.iter().copied().reduce(f64::max)?,
        })
    }
}

/// Which figure of a run a ratio compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests per second.
    Throughput,
    /// Median latency.
    P50,
}

impl Metric {
    fn of(self, r: &WrkResult) -> f64 {
        match self {
            Metric::Throughput => r.requests_per_sec,
            Metric::P50 => r.latency_us.p50,
        }
    }
}

/// `numerator / denominator` of `metric` within each repetition where both runs count, in
/// repetition order.
pub fn paired_ratios(
    runs: &[Run],
    scenario: Scenario,
    connections: u32,
    numerator: Topology,
    denominator: Topology,
    metric: Metric,
) -> Vec<f64> {
    let find = |rep: u32, topology: Topology| {
        runs.iter()
            .find(|r| {
                r.rep == rep
                    && r.scenario == scenario
                    && r.connections == connections
                    && r.topology == topology
            })
            .and_then(Run::ok)
            .map(|w| metric.of(w))
    };
    let mut reps: Vec<u32> = runs.iter().map(|r| r.rep).collect();
    reps.sort_unstable();
    reps.dedup();
    reps.into_iter()
        .filter_map(|rep| {
            let (n, d) = (find(rep, numerator)?, find(rep, denominator)?);
            (d > 0.0).then(|| n / d)
        })
        .collect()
}

/// One topology's medians over the repetitions that count.
#[derive(Debug, Clone, Serialize)]
pub struct TopologySummary {
    /// The path.
    pub topology: Topology,
    /// Repetitions that count.
    pub reps_ok: usize,
    /// Repetitions that failed.
    pub reps_failed: usize,
    /// Median requests per second.
    pub requests_per_sec: Option<f64>,
    /// Median of the runs' medians, µs.
    pub p50_us: Option<f64>,
    /// Median of the runs' 99th percentiles, µs.
    pub p99_us: Option<f64>,
    /// Median CPU µs per request of each role.
    pub cpu_us_per_request: BTreeMap<String, f64>,
}

/// A ratio paired per repetition.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// Numerator path.
    pub numerator: Topology,
    /// Denominator path (the anchor).
    pub denominator: Topology,
    /// What is compared.
    pub metric: Metric,
    /// The ratio in each repetition where both runs count.
    pub per_rep: Vec<f64>,
    /// Their median and range.
    pub spread: Option<Spread>,
}

/// One scenario at one connection count.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Request shape.
    pub scenario: Scenario,
    /// wrk connections.
    pub connections: u32,
    /// Each path measured.
    pub topologies: Vec<TopologySummary>,
    /// psn against its anchors.
    pub ratios: Vec<Ratio>,
}

/// The ratios reported, when both paths were measured.
const RATIOS: [(Topology, Topology, Metric); 6] = [
    (Topology::Psn, Topology::Nginx, Metric::Throughput),
    (Topology::PsnBuffered, Topology::Nginx, Metric::Throughput),
    (Topology::Psn, Topology::Direct, Metric::Throughput),
    (Topology::PsnBuffered, Topology::Direct, Metric::Throughput),
    (Topology::Psn, Topology::Nginx, Metric::P50),
    (Topology::PsnBuffered, Topology::Nginx, Metric::P50),
];

/// Summarises `runs`, one group per scenario and connection count, in the given orders.
pub fn summarise(
    runs: &[Run],
    scenarios: &[Scenario],
    connections: &[u32],
    topologies: &[Topology],
) -> Vec<Group> {
    let mut groups = Vec::new();
    for &scenario in scenarios {
        for &conns in connections {
            let of = |t: Topology| {
                runs.iter()
                    .filter(move |r| r.scenario == scenario && r.connections == conns)
                    .filter(move |r| r.topology == t)
            };
            let summaries = topologies
                .iter()
                .map(|&topology| {
                    let ok: Vec<&Run> = of(topology).filter(|r| r.ok().is_some()).collect();
                    let figure = |f: &dyn Fn(&WrkResult) -> f64| {
                        median(&ok.iter().filter_map(|r| r.ok()).map(f).collect::<Vec<_>>())
                    };
                    let cpu = ROLES
                        .iter()
                        .filter_map(|role| {
                            let values: Vec<f64> = ok
                                .iter()
                                .filter_map(|r| r.cpu_us_per_request.get(*role).copied())
                                .collect();
                            Some(((*role).to_owned(), median(&values)?))
                        })
                        .collect();
                    TopologySummary {
                        topology,
                        reps_ok: ok.len(),
                        reps_failed: of(topology).count() - ok.len(),
                        requests_per_sec: figure(&|w| w.requests_per_sec),
                        p50_us: figure(&|w| w.latency_us.p50),
                        p99_us: figure(&|w| w.latency_us.p99),
                        cpu_us_per_request: cpu,
                    }
                })
                .collect();
            let ratios = RATIOS
                .iter()
                .filter(|(n, d, _)| topologies.contains(n) && topologies.contains(d))
                .map(|&(numerator, denominator, metric)| {
                    let per_rep =
                        paired_ratios(runs, scenario, conns, numerator, denominator, metric);
                    Ratio {
                        numerator,
                        denominator,
                        metric,
                        spread: Spread::of(&per_rep),
                        per_rep,
                    }
                })
                .collect();
            groups.push(Group {
                scenario,
                connections: conns,
                topologies: summaries,
                ratios,
            });
        }
    }
    groups
}

/// `57890.4` → `57,890`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        let left = digits.len() - i;
        if i > 0 && left % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in µs, in the unit that reads best.
pub fn latency(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn cpu(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn ratio(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.1}")
    }
}

/// A ratio's cell: `0.052 [0.049–0.055]`.
fn spread_cell(spread: Option<Spread>) -> String {
    match spread {
        None => "–".to_owned(),
        Some(s) if s.min == s.max => ratio(s.median),
        Some(s) => format!("{} [{}–{}]", ratio(s.median), ratio(s.min), ratio(s.max)),
    }
}

/// The Markdown report: `heading` lines, one table per group, the ratio table, and the failures.
pub fn markdown(heading: &str, groups: &[Group], runs: &[Run]) -> String {
    let mut md = String::new();
    let dash = "–";
    let _ = writeln!(md, "{heading}");
    for g in groups {
        let _ = writeln!(
            md,
            "\n### {} /data, {} connection{}\n",
            g.scenario.method(),
            g.connections,
            if g.connections == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            md,
            "| topology | req/s | p50 | p99 | CPU µs/req: backend | front | back | authority | wrk | all |"
        );
        let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for t in &g.topologies {
            let c = |role: &str| {
                t.cpu_us_per_request
                    .get(role)
                    .map_or(dash.to_owned(), |v| cpu(*v))
            };
            let (front, back) = match t.topology {
                Topology::Nginx => (c("nginx-front"), c("nginx-back")),
                Topology::Psn | Topology::PsnBuffered => (c("consumer-gw"), c("provider-gw")),
                Topology::Direct => (dash.to_owned(), dash.to_owned()),
            };
            let name = if t.reps_failed > 0 {
                format!("{} ({} failed)", t.topology.name(), t.reps_failed)
            } else {
                t.topology.name().to_owned()
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {front} | {back} | {} | {} | {} |",
                t.requests_per_sec.map_or(dash.to_owned(), thousands),
                t.p50_us.map_or(dash.to_owned(), latency),
                t.p99_us.map_or(dash.to_owned(), latency),
                c("backend"),
                c("authority"),
                c("wrk"),
                c("all"),
            );
        }
    }
    let Some(first) = groups.iter().find(|g| !g.ratios.is_empty()) else {
        return md + &failures(runs);
    };
    let _ = writeln!(
        md,
        "\nfront/back: nginx A/B, or the consumer/provider gateway. Medians over repetitions.\n\n\
         ### Ratios, paired within each repetition: median [min–max]\n"
    );
    let _ = write!(md, "| scenario | conns |");
    for r in &first.ratios {
        let what = match r.metric {
            Metric::Throughput => "req/s",
            Metric::P50 => "p50",
        };
        let _ = write!(
            md,
            " {} / {} {what} |",
            r.numerator.name(),
            r.denominator.name()
        );
    }
    let _ = writeln!(md, "\n|---|--:|{}", "--:|".repeat(first.ratios.len()));
    for g in groups {
        let _ = write!(md, "| {} | {} |", g.scenario.method(), g.connections);
        for r in &g.ratios {
            let _ = write!(md, " {} |", spread_cell(r.spread));
        }
        md.push('\n');
    }
    md + &failures(runs)
}

fn failures(runs: &[Run]) -> String {
    let failed: Vec<&Run> = runs.iter().filter(|r| r.failure.is_some()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut md = "\n### Failed runs (not counted)\n\n".to_owned();
    for r in failed {
        let _ = writeln!(
            md,
            "- rep {} {} {} conns {}: {}",
            r.rep,
            r.scenario.method(),
            r.connections,
            r.topology.name(),
            r.failure.as_deref().unwrap_or_default()
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::super::wrk::{Percentiles, SocketErrors};
    use super::*;

    fn run(rep: u32, topology: Topology, rps: f64, p50: f64, failure: Option<&str>) -> Run {
        Run {
            rep,
            scenario: Scenario::Get,
            connections: 64,
            topology,
            url: String::new(),
            wrk: Some(WrkResult {
                requests: (rps * 10.0) as u64,
                requests_per_sec: rps,
                latency_us: Percentiles {
                    p50,
                    p75: p50,
                    p90: p50,
                    p99: p50 * 2.0,
                },
                non_2xx: 0,
                socket_errors: SocketErrors::default(),
            }),
            cpu_us_per_request: BTreeMap::from([("backend".to_owned(), rps / 1000.0)]),
            cpu_ticks: BTreeMap::new(),
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn spreads() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[0.2, 0.1, 0.4]),
            Some(Spread {
                median: 0.2,
                min: 0.1,
                max: 0.4
            })
        );
    }

    #[test]
    fn ratios_are_paired_within_repetitions_and_skip_failures() {
        let runs = vec![
            run(1, Topology::Nginx, 10_000.0, 500.0, None),
            run(1, Topology::Psn, 2_000.0, 1_000.0, None),
            // Rep 2: the machine was slower for both.
            run(2, Topology::Nginx, 5_000.0, 1_000.0, None),
            run(2, Topology::Psn, 1_500.0, 1_500.0, None),
            // Rep 3: psn's run failed, so no ratio.
            run(3, Topology::Nginx, 9_000.0, 500.0, None),
            run(
                3,
                Topology::Psn,
                9_000.0,
                500.0,
                Some("5 non-2xx responses"),
            ),
        ];
        let per_rep = paired_ratios(
            &runs,
            Scenario::Get,
            64,
            Topology::Psn,
            Topology::Nginx,
            Metric::Throughput,
        );
        assert_eq!(per_rep, vec![0.2, 0.3]);
        let p50 = paired_ratios(
            &runs,
            Scenario::Get,
            64,
            Topology::Psn,
            Topology::Nginx,
            Metric::P50,
        );
        assert_eq!(p50, vec![2.0, 1.5]);
        let groups = summarise(
            &runs,
            &[Scenario::Get],
            &[64],
            &[Topology::Nginx, Topology::Psn],
        );
        let g = &groups[0];
        let psn = &g.topologies[1];
        assert_eq!((psn.reps_ok, psn.reps_failed), (2, 1));
        assert_eq!(psn.requests_per_sec, Some(1_750.0));
        assert_eq!(psn.cpu_us_per_request.get("backend"), Some(&1.75));
        assert_eq!(g.ratios.len(), 2, "only ratios whose paths were measured");
        let spread = g.ratios[0].spread.expect("spread");
        assert!((spread.median - 0.25).abs() < 1e-12);
        assert_eq!((spread.min, spread.max), (0.2, 0.3));
        let md = markdown("# test", &groups, &runs);
        assert!(md.contains("| psn (1 failed) | 1,750 |"), "{md}");
        assert!(md.contains("0.250 [0.200–0.300]"), "{md}");
        assert!(md.contains("5 non-2xx responses"), "{md}");
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(57_890.4), "57,890");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(latency(774.0), "774 µs");
        assert_eq!(latency(2_050.0), "2.05 ms");
        assert_eq!(latency(2_500_000.0), "2.50 s");
    }
}
