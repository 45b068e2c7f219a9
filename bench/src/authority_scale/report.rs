//! The run's record: the machine, the settings, every raw observation, their summaries and the
//! goals, written as JSON (for tools) and Markdown (for people and docs/performance.md).

use super::benchmarks::BenchmarkFigures;
use super::followers::FollowerFigures;
use super::measure::{BuildFigures, LoadFigures, Step};
use super::rounds::{Kind, Round};
use super::search::SearchFigures;
use super::stats::Summary;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use time::OffsetDateTime;

/// Configuration build goal (issue 6): under a second at 25,000 members.
pub const BUILD_GOAL_MS: f64 = 1_000.0;
/// Gateway reload goal: under 200 ms.
pub const RELOAD_GOAL_MS: f64 = 200.0;

/// Issue 22's goal for a gateway's check and application of a one-member delta at national scale.
pub const DELTA_APPLY_GOAL_MS: f64 = 5.0;
/// Issue 22's goal for the authority's new version and delta after one member's change, worked
/// out from the last version.
pub const INCREMENTAL_BUILD_GOAL_MS: f64 = 50.0;
/// Issue 22's goal for a suspension enforced at every one of 20 gateways on a 2-core machine.
pub const SUSPENSION_GOAL_MS: f64 = 1_000.0;
/// Issue 22's goal for 1,000 configuration followers all holding a change.
pub const FOLLOWERS_GOAL_MS: f64 = 2_000.0;
/// Revocation goal: enforced at every gateway within 5 s, p99.
pub const REVOCATION_GOAL_MS: f64 = 5_000.0;
/// Federation goal (issue 19): a partner network's change at this network's gateways within
/// 5 s p99.
pub const FEDERATION_GOAL_MS: f64 = 5_000.0;
/// Catalogue search goal (issue 16): p99 under 20 ms at 100,000 listings, facets included.
pub const SEARCH_GOAL_MS: f64 = 20.0;
/// Benchmark report goal (issue 17): "well under 100 ms" for a council's report over every
/// council's returns; judged at p99.
pub const BENCHMARK_REPORT_GOAL_MS: f64 = 100.0;

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub nproc: usize,
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Memory, GiB, from `/proc/meminfo`.
    pub memory_gib: Option<f64>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// Operating system, from `/etc/os-release`.
    pub os: Option<String>,
    /// Load averages (1, 5, 15 minutes) when the run started: other work on the machine moves
    /// every figure, so a run on a busy machine says so.
    pub load_average: Option<[f64; 3]>,
}

impl Machine {
    /// What this machine says about itself (Linux; fields are absent elsewhere).
    pub fn detect() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cpu_model = read("/proc/cpuinfo").and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        });
        let memory_gib = read("/proc/meminfo").and_then(|text| {
            let kib: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(kib / (1024.0 * 1024.0))
        });
        let os = read("/etc/os-release").and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        });
        let load_average = read("/proc/loadavg").and_then(|text| {
            let mut loads = text.split_whitespace().map(|l| l.parse::<f64>().ok());
            Some([loads.next()??, loads.next()??, loads.next()??])
        });
        Self {
            load_average,
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()),
            os,
        }
    }
}

/// The settings the run used.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Members registered.
    pub members: usize,
    /// Services per member.
    pub services_per_member: usize,
    /// Gateways registered per member by the seed.
    pub member_gateways: usize,
    /// Gateways run as processes.
    pub gateways: usize,
    /// Fleet suspension rounds.
    pub suspensions: usize,
    /// Solo rounds.
    pub solo_rounds: usize,
    /// Federated rounds (a regional partner's suspension).
    pub federated_rounds: usize,
    /// Lightweight configuration followers.
    pub followers: usize,
    /// Changes the followers follow.
    pub follower_rounds: usize,
    /// Repetitions of the in-process measurements.
    pub repetitions: usize,
    /// Rounds of the catalogue search mix.
    pub search_rounds: usize,
    /// Longest a round may take, seconds.
    pub round_timeout_seconds: u64,
    /// Whether this was the smoke run.
    pub smoke: bool,
}

/// What was registered and what the signed configuration lists.
#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    /// Members from the embedded real data.
    pub real_members: usize,
    /// Synthetic members.
    pub synthetic_members: usize,
    /// Subsystems seeded.
    pub subsystems: usize,
    /// Services seeded.
    pub services: usize,
    /// Gateways seeded (without the enrolled ones).
    pub seeded_gateways: usize,
}

/// The psn build measured.
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    /// The binary run as authority and gateways.
    pub binary: String,
    /// What it says its version is.
    pub version: Option<String>,
    /// The source revision, if the run was in a git checkout (`-dirty` with local changes).
    pub revision: Option<String>,
}

/// One goal and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is measured.
    pub name: String,
    /// The figure compared.
    pub measured_ms: Option<f64>,
    /// The bound it must stay under.
    pub target_ms: f64,
    /// Whether it did.
    pub met: bool,
}

impl Goal {
    fn new(name: impl Into<String>, measured_ms: Option<f64>, target_ms: f64) -> Self {
        Self {
            name: name.into(),
            measured_ms,
            target_ms,
            met: measured_ms.is_some_and(|m| m < target_ms),
        }
    }
}

/// Summaries over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct RoundSummary {
    /// Refusal times over every (fleet round, gateway).
    pub refused_each: Option<Summary>,
    /// Per fleet round, the time until the last gateway refused.
    pub refused_all: Option<Summary>,
    /// Refusal after the suspension call answered (publication), over every (fleet round,
    /// gateway): the fan-out alone.
    pub after_publish_each: Option<Summary>,
    /// The suspension call (registry change and publish), fleet rounds.
    pub suspend_call: Option<Summary>,
    /// Per fleet round, the time until every gateway accepted the reinstated member.
    pub reinstated_all: Option<Summary>,
    /// Gateway CPU seconds per fleet round, all gateways together.
    pub gateway_cpu_seconds: Option<Summary>,
    /// Authority CPU seconds per fleet round.
    pub authority_cpu_seconds: Option<Summary>,
    /// Megabytes all gateways wrote to storage per fleet round.
    pub gateway_written_mb: Option<Summary>,
    /// CPU seconds used by anything else on the machine per fleet round.
    pub other_cpu_seconds: Option<Summary>,
    /// Fleet rounds that no other work competed with.
    pub quiet_fleet_rounds: usize,
    /// Per quiet fleet round, the time until the last gateway refused.
    pub refused_all_quiet: Option<Summary>,
    /// Solo rounds: refusal from sending the suspension.
    pub solo_refused: Option<Summary>,
    /// Solo rounds: refusal after the suspension call answered (the gateway's own reload).
    pub solo_after_publish: Option<Summary>,
    /// Per federated round, from the partner's suspension until the last of this network's
    /// gateways refused.
    pub federated_refused_all: Option<Summary>,
    /// Federated rounds: every (round, gateway) refusal.
    pub federated_refused_each: Option<Summary>,
}

impl RoundSummary {
    /// Summarises `rounds`.
    pub fn of(rounds: &[Round]) -> Self {
        let fleet: Vec<&Round> = rounds.iter().filter(|r| r.kind == Kind::Fleet).collect();
        let solo: Vec<&Round> = rounds.iter().filter(|r| r.kind == Kind::Solo).collect();
        let federated: Vec<&Round> = rounds
            .iter()
            .filter(|r| r.kind == Kind::Federated)
            .collect();
        let quiet: Vec<&Round> = fleet.iter().copied().filter(|r| !r.contended).collect();
        let each = |rounds: &[&Round], f: fn(&super::rounds::Observation) -> f64| {
            let samples: Vec<f64> = rounds
                .iter()
                .flat_map(|r| r.observations.iter().map(f))
                .collect();
            Summary::of(&samples)
        };
        let per_round = |rounds: &[&Round], f: fn(&Round) -> f64| {
            Summary::of(&rounds.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        Self {
            refused_each: each(&fleet, |o| o.refused_ms),
            refused_all: per_round(&fleet, |r| r.all_refused_ms),
            after_publish_each: each(&fleet, |o| o.after_publish_ms),
            suspend_call: per_round(&fleet, |r| r.suspend_call_ms),
            reinstated_all: per_round(&fleet, |r| r.all_reinstated_ms),
            gateway_cpu_seconds: per_round(&fleet, |r| r.gateway_cpu_seconds),
            authority_cpu_seconds: per_round(&fleet, |r| r.authority_cpu_seconds),
            gateway_written_mb: per_round(&fleet, |r| r.gateway_written_mb),
            other_cpu_seconds: per_round(&fleet, |r| r.other_cpu_seconds),
            quiet_fleet_rounds: quiet.len(),
            refused_all_quiet: per_round(&quiet, |r| r.all_refused_ms),
            solo_refused: each(&solo, |o| o.refused_ms),
            solo_after_publish: each(&solo, |o| o.after_publish_ms),
            federated_refused_all: per_round(&federated, |r| r.all_refused_ms),
            federated_refused_each: each(&federated, |o| o.refused_ms),
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `authority-scale`.
    pub benchmark: &'static str,
    /// Start of the run.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End of the run.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// The machine.
    pub machine: Machine,
    /// The psn build.
    pub psn: Build,
    /// Settings.
    pub settings: Settings,
    /// What was registered.
    pub registry: Registry,
    /// Configuration build figures.
    pub build: BuildFigures,
    /// Gateway load figures.
    pub load: LoadFigures,
    /// Catalogue search figures.
    pub search: SearchFigures,
    /// Benchmark report figures.
    pub benchmarks: BenchmarkFigures,
    /// Lightweight configuration followers, if they ran.
    pub followers: Option<FollowerFigures>,
    /// Every round, solo first.
    pub rounds: Vec<Round>,
    /// Summaries over the rounds.
    pub summary: RoundSummary,
    /// The goals.
    pub goals: Vec<Goal>,
}

impl Report {
    /// The goals, judged on the figures: the build is the authority's whole publish, the reload
    /// is verification and parsing (what `benches/config_build.rs` calls a gateway's load), and
    /// revocation is the time until the last gateway refused, p99 over the fleet rounds. The
    /// fuller reload (a running gateway on its own, publication to enforcement) is judged
    /// against the same bound as a stricter reading.
    pub fn goals(
        build: &BuildFigures,
        load: &LoadFigures,
        summary: &RoundSummary,
        search: &SearchFigures,
        benchmarks: &BenchmarkFigures,
        followers: Option<&FollowerFigures>,
    ) -> Vec<Goal> {
        let mut goals = vec![
            Goal::new(
                "configuration build, whole (snapshot, build, tree and signature), medians summed",
                build.whole_median(),
                BUILD_GOAL_MS,
            ),
            Goal::new(
                "configuration publish after one member's change (worked out from the last version: change log, the member's rows, delta, tree, signature, delta stored), median",
                build.publish.median(),
                INCREMENTAL_BUILD_GOAL_MS,
            ),
            Goal::new(
                "gateway reload of the whole document (new or lagging gateway): verify signature and chain, parse, median",
                load.verify_parse.median(),
                RELOAD_GOAL_MS,
            ),
            Goal::new(
                "gateway reload of a change, as a running gateway takes it (delta: check, store, apply), median",
                load.delta_accept.median(),
                RELOAD_GOAL_MS,
            ),
            Goal::new(
                "delta apply and verify at a gateway, one-member change, median",
                load.delta_apply.median(),
                DELTA_APPLY_GOAL_MS,
            ),
            Goal::new(
                "gateway reload, stricter: one running gateway alone, publication to refusal, median",
                summary.solo_after_publish.map(|s| s.p50),
                RELOAD_GOAL_MS,
            ),
            Goal::new(
                "revocation enforced at every running gateway, p99 over rounds",
                summary.refused_all.map(|s| s.p99),
                REVOCATION_GOAL_MS,
            ),
            Goal::new(
                "suspension enforced at every running gateway, p99 over rounds (issue 22)",
                summary.refused_all.map(|s| s.p99),
                SUSPENSION_GOAL_MS,
            ),
            Goal::new(
                "a federated partner's suspension enforced at every running gateway of this network, p99 over rounds",
                summary.federated_refused_all.map(|s| s.p99),
                FEDERATION_GOAL_MS,
            ),
            Goal::new(
                format!(
                    "catalogue search with facets over {} listings, p99 over the query mix",
                    thousands(usize::try_from(search.listings).unwrap_or(usize::MAX))
                ),
                search.search.summary.map(|s| s.p99),
                SEARCH_GOAL_MS,
            ),
            Goal::new(
                format!(
                    "benchmark report of a council over {} contributors, p99 over {} processes",
                    benchmarks.contributors, benchmarks.processes
                ),
                benchmarks.report.summary.map(|s| s.p99),
                BENCHMARK_REPORT_GOAL_MS,
            ),
        ];
        if let Some(f) = followers {
            goals.push(Goal::new(
                format!(
                    "{} configuration followers all hold a change, p99 over rounds (issue 22)",
                    thousands(f.followers)
                ),
                f.last.map(|s| s.p99),
                FOLLOWERS_GOAL_MS,
            ));
        }
        goals
    }

    /// Writes `authority-scale-{stamp}.json` and `.md` into `out`; returns their paths.
    pub fn write(&self, out: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
        use anyhow::Context;
        let stamp = file_stamp(self.started_at);
        let json = out.join(format!("authority-scale-{stamp}.json"));
        let markdown = out.join(format!("authority-scale-{stamp}.md"));
        std::fs::write(&json, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", json.display()))?;
        std::fs::write(&markdown, self.markdown())
            .with_context(|| format!("writing {}", markdown.display()))?;
        Ok((json, markdown))
    }

    /// The report for people.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.settings;
        let b = &self.build;
        let _ = writeln!(
            md,
            "# psn authority at scale: {} members, {} running gateways\n",
            thousands(s.members),
            s.gateways
        );
        let m = &self.machine;
        let _ = writeln!(
            md,
            "{} · {} CPUs ({}) · {} · {} · psn {} ({}){}\n",
            self.started_at.date(),
            m.nproc,
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.memory_gib
                .map_or_else(|| "memory unknown".to_owned(), |g| format!("{g:.0} GiB")),
            m.os.as_deref().unwrap_or("unknown OS"),
            self.psn.version.as_deref().unwrap_or("?"),
            self.psn.binary,
            self.psn
                .revision
                .as_deref()
                .map_or_else(String::new, |r| format!(" at {r}")),
        );
        if let Some([one, five, _]) = m.load_average {
            let _ = writeln!(
                md,
                "Load average when the run started: {one:.2} (1 min), {five:.2} (5 min).\n"
            );
        }
        let r = &self.registry;
        let _ = writeln!(
            md,
            "Registry: {} members ({} real, {} synthetic), {} subsystems, {} services, {} seeded \
             gateways. Signed configuration: {:.1} MB listing {} members, {} gateways, {} \
             services.{}\n",
            thousands(s.members),
            thousands(r.real_members),
            thousands(r.synthetic_members),
            thousands(r.subsystems),
            thousands(r.services),
            thousands(r.seeded_gateways),
            b.document_bytes as f64 / 1e6,
            thousands(b.members),
            thousands(b.gateways),
            thousands(b.services),
            if s.smoke {
                " **Smoke run: not a measurement.**"
            } else {
                ""
            },
        );

        let _ = writeln!(md, "## Goals\n");
        let _ = writeln!(md, "| goal | measured | target | met |\n|---|---|---|---|");
        for goal in &self.goals {
            let _ = writeln!(
                md,
                "| {} | {} | < {} | {} |",
                goal.name,
                goal.measured_ms.map_or_else(|| "–".to_owned(), duration),
                duration(goal.target_ms),
                if goal.met { "yes" } else { "**no**" }
            );
        }

        let fleet_rounds = self.summary.refused_all.map_or(0, |s| s.count);
        let contended = fleet_rounds - self.summary.quiet_fleet_rounds;
        if contended > 0 {
            let _ = writeln!(
                md,
                "\n{contended} of {fleet_rounds} fleet rounds competed with other work on the \
                 machine (marked \"contended\" below; their times are inflated). The goals are \
                 judged on all rounds; over the others alone, every gateway refused within {} \
                 (p99).",
                self.summary
                    .refused_all_quiet
                    .map_or_else(|| "–".to_owned(), |s| duration(s.p99))
            );
        }
        let _ = writeln!(
            md,
            "\n## Configuration build at the authority ({} runs, in process)\n",
            s.repetitions
        );
        step_table(
            &mut md,
            &[
                (
                    &b.snapshot,
                    "snapshot of the registry (one read transaction)",
                ),
                (&b.build, "build the document"),
                (&b.sign, "tree over the entries, head signed, document written"),
                (
                    &b.publish,
                    "**publish after one member's change** (worked out from the last version: change log, the member's rows, delta, tree, head signed, delta stored)",
                ),
                (
                    &b.latest,
                    "… of which: read the latest stored version's number and generation",
                ),
            ],
        );

        if let Some(f) = &self.followers {
            let _ = writeln!(
                md,
                "\n## Lightweight configuration followers ({} followers, {} changes)\n\n\
                 From the start of a suspension or reinstatement call until each follower held the \
                 new version (its delta checked against the signed root), the followers running in \
                 this process beside the authority and the gateways.\n",
                thousands(f.followers),
                f.rounds.len()
            );
            let _ = writeln!(md, "| | p50 | p99 | max | count |\n|---|---|---|---|---|");
            let _ = writeln!(md, "{}", summary_row("a follower holds the change", f.held));
            let _ = writeln!(
                md,
                "{}",
                summary_row("the last follower holds it (per round)", f.last)
            );
            let _ = writeln!(md, "{}", summary_row("anchor: the suspension call", f.call));
            for n in [1_000, 10_000] {
                let _ = writeln!(
                    md,
                    "\nEstimate for {} followers (last holds a change, p99 over rounds; linear in the work per follower measured here): {}",
                    thousands(n),
                    f.estimate_ms(n).map_or_else(|| "–".to_owned(), duration)
                );
            }
        }

        let q = &self.search;
        let _ = writeln!(
            md,
            "\n## Catalogue search ({} queries over {} listings, through the API over TLS)\n",
            q.search.samples_ms.len(),
            thousands(usize::try_from(q.listings).unwrap_or(usize::MAX))
        );
        step_table(
            &mut md,
            &[
                (&q.search, "**search with facet counts**, the query mix"),
                (&q.anchor, "anchor: `GET /v1/health` on the same connection"),
            ],
        );
        if let (Some(search), Some(anchor)) = (q.search.summary, q.anchor.summary) {
            let _ = writeln!(
                md,
                "\nSearch costs {:.1}× the anchor at the median and {:.1}× at p99.",
                search.p50 / anchor.p50.max(f64::MIN_POSITIVE),
                search.p99 / anchor.p99.max(f64::MIN_POSITIVE)
            );
        }

        let r = &self.benchmarks;
        let _ = writeln!(
            md,
            "\n## Benchmark reports ({} reports: {} processes, {} returns, up to {} contributors each, through the API over TLS)\n",
            r.report.samples_ms.len(),
            r.processes,
            thousands(usize::try_from(r.returns).unwrap_or(usize::MAX)),
            r.contributors
        );
        step_table(
            &mut md,
            &[
                (
                    &r.report,
                    "**a council's report**: distribution, position, peers, savings, providers",
                ),
                (&r.anchor, "anchor: `GET /v1/health` on the same connection"),
            ],
        );
        if let (Some(report), Some(anchor)) = (r.report.summary, r.anchor.summary) {
            let _ = writeln!(
                md,
                "\nA report costs {:.1}× the anchor at the median and {:.1}× at p99.",
                report.p50 / anchor.p50.max(f64::MIN_POSITIVE),
                report.p99 / anchor.p99.max(f64::MIN_POSITIVE)
            );
        }

        let l = &self.load;
        let _ = writeln!(
            md,
            "\n## A gateway's load of a new version ({} runs, one at a time)\n",
            s.repetitions
        );
        step_table(
            &mut md,
            &[
                (&l.download, "download from the authority (loopback TLS)"),
                (
                    &l.verify_parse,
                    "**verify the whole document: parse, signed head, every entry**",
                ),
                (&l.parse, "… of which: parse the document JSON (names validated)"),
                (
                    &l.head,
                    "… of which: the signed head's Ed25519 signature and signer chain",
                ),
                (
                    &l.tree,
                    "… of which: hash every entry into the tree, compare the root",
                ),
                (&l.index, "index for lookups"),
                (
                    &l.accept,
                    "accept: verify, parse, write the version durably",
                ),
                (&l.grants, "fetch the grants on its services"),
                (
                    &l.delta_download,
                    "a change as a delta: download (one suspension)",
                ),
                (
                    &l.delta_apply,
                    "**a change as a delta: check the head, the changed entries against its root, make the changes**",
                ),
                (
                    &l.delta_accept,
                    "a change as a delta, as the gateway's store takes it: check, write the delta durably, make the changes",
                ),
            ],
        );
        if let Some(path) = l.path_median() {
            let _ = writeln!(
                md,
                "\nSum of medians, download + accept + grants + index: {}.",
                duration(path)
            );
        }
        if let Some(path) = l.delta_path_median() {
            let _ = writeln!(
                md,
                "With a delta, as a running gateway follows a change: {}.",
                duration(path)
            );
        }

        let sum = &self.summary;
        let _ = writeln!(
            md,
            "\n## Revocation: suspension until refusal at every gateway\n\n\
             Times from sending the suspension to each gateway closing the suspended member's \
             connection (confirmed by a refused fresh connection); \"after publish\" counts from \
             the suspension call's answer, when the new version is published.\n"
        );
        let _ = writeln!(
            md,
            "| round | gateways | member | suspend call | first refusal | last refusal | \
             reinstated at all | gateway CPU | gateway writes | authority CPU | other CPU |\n\
             |---|---|---|---|---|---|---|---|---|---|---|"
        );
        for round in &self.rounds {
            let first = round
                .observations
                .iter()
                .map(|o| o.refused_ms)
                .fold(f64::INFINITY, f64::min);
            let _ = writeln!(
                md,
                "| {} {}{} | {} | {} | {} | {} | {} | {} | {:.2} s | {:.0} MB | {:.2} s | {:.2} s |",
                match round.kind {
                    Kind::Solo => "solo",
                    Kind::Fleet => "fleet",
                    Kind::Federated => "federated",
                },
                round.round,
                if round.contended { " (contended)" } else { "" },
                round.observations.len(),
                round.member,
                duration(round.suspend_call_ms),
                duration(first),
                duration(round.all_refused_ms),
                duration(round.all_reinstated_ms),
                round.gateway_cpu_seconds,
                round.gateway_written_mb,
                round.authority_cpu_seconds,
                round.other_cpu_seconds,
            );
        }
        let _ = writeln!(
            md,
            "\n| over the fleet rounds | p50 | p99 | max | samples |\n|---|---|---|---|---|"
        );
        let fleet_rounds = sum.refused_all.map_or(0, |s| s.count);
        let quiet_label = format!(
            "every gateway refuses, rounds without competing work only ({} of {fleet_rounds})",
            sum.quiet_fleet_rounds
        );
        for (name, summary) in [
            (
                "**every gateway refuses** (per round, last gateway)",
                sum.refused_all,
            ),
            (quiet_label.as_str(), sum.refused_all_quiet),
            (
                "a gateway refuses (every round × gateway)",
                sum.refused_each,
            ),
            (
                "a gateway refuses, after publish (every round × gateway)",
                sum.after_publish_each,
            ),
            (
                "suspension call (registry change + publish)",
                sum.suspend_call,
            ),
            (
                "every gateway accepts the reinstated member",
                sum.reinstated_all,
            ),
            (
                "solo: the gateway refuses, after publish",
                sum.solo_after_publish,
            ),
            (
                "**federated: every gateway refuses a partner's suspended member** (per round)",
                sum.federated_refused_all,
            ),
            (
                "federated: a gateway refuses (every round × gateway)",
                sum.federated_refused_each,
            ),
        ] {
            let _ = writeln!(md, "{}", summary_row(name, summary));
        }
        if let (Some(g), Some(a), Some(w), Some(o)) = (
            sum.gateway_cpu_seconds,
            sum.authority_cpu_seconds,
            sum.gateway_written_mb,
            sum.other_cpu_seconds,
        ) {
            let _ = writeln!(
                md,
                "\nPer fleet round, from the suspension to the last refusal (p50): the gateways \
                 together used {:.2} s of CPU and wrote {:.0} MB to storage, the authority used \
                 {:.2} s of CPU, and everything else on the machine {:.2} s (\"other CPU\"; far \
                 from zero means the round competed with other work). The machine has {} CPUs.",
                g.p50, w.p50, a.p50, o.p50, m.nproc
            );
        }
        md
    }
}

fn step_table(md: &mut String, steps: &[(&Step, &str)]) {
    let _ = writeln!(md, "| step | median | min | max |\n|---|---|---|---|");
    for (step, label) in steps {
        match step.summary {
            Some(s) => {
                let _ = writeln!(
                    md,
                    "| {label} | {} | {} | {} |",
                    duration(s.p50),
                    duration(s.min),
                    duration(s.max)
                );
            }
            None => {
                let _ = writeln!(md, "| {label} | – | – | – |");
            }
        }
    }
}

fn summary_row(name: &str, summary: Option<Summary>) -> String {
    match summary {
        Some(s) => format!(
            "| {name} | {} | {} | {} | {} |",
            duration(s.p50),
            duration(s.p99),
            duration(s.max),
            s.count
        ),
        None => format!("| {name} | – | – | – | 0 |"),
    }
}

/// Milliseconds for people: `0.42 ms`, `37 ms`, `1.23 s`.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() {
        "–".to_owned()
    } else if ms >= 1_000.0 {
        format!("{:.2} s", ms / 1_000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `25000` as `25,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    // The leading group has 1 to 3 digits, every later one exactly 3.
    let head = match digits.len() % 3 {
        0 => digits.len().min(3),
        partial => partial,
    };
    let (first, rest) = digits.split_at(head);
    let mut out = first.to_owned();
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.push_str(&String::from_utf8_lossy(group));
    }
    out
}

/// `20261123T164000Z`: a UTC timestamp usable in a file name.
pub fn file_stamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.4242), "0.42 ms");
        assert_eq!(duration(37.4), "37 ms");
        assert_eq!(duration(999.4), "999 ms");
        assert_eq!(duration(1234.0), "1.23 s");
        assert_eq!(duration(f64::INFINITY), "–");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(25_000), "25,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn file_stamps_are_utc() {
        let at = datetime!(2026-11-23 17:40:05 +01:00);
        assert_eq!(file_stamp(at), "20261123T164005Z");
    }

    #[test]
    fn a_goal_without_a_figure_is_not_met() {
        assert!(!Goal::new("x", None, 1.0).met);
        assert!(Goal::new("x", Some(0.5), 1.0).met);
        assert!(!Goal::new("x", Some(1.0), 1.0).met);
    }
}
