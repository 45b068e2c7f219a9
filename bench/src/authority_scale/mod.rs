//! Authority scale benchmark (issue 6, part 3): a national network of 25,000 members and 100,000
//! services (the real UK bodies shipped with psn, then synthetic ones of the same shapes), and
//! three figures with their goals:
//!
//! - **configuration build**: the authority's publish after a registry change (< 1 s);
//! - **gateway reload**: verifying and parsing the signed document (< 200 ms), with every other
//!   step of a gateway's load beside it;
//! - **revocation**: from an operator suspending a member until every one of 20 running gateways
//!   refuses it (< 5 s p99 over repeated suspensions);
//! - **followers**: many lightweight configuration followers (issue 22: 1,000 hold a change
//!   within 2 s p99), with an estimate for 10,000 (`followers`);
//! - **catalogue search**: a realistic query mix with facet counts over every listing
//!   (< 20 ms p99), against `GET /v1/health` on the same connection as the anchor.
//!
//! The authority and the gateways are real `psn` processes talking TLS over loopback, as in
//! production; only the registry's bulk seeding and the step-by-step timings run in this
//! process. See `rounds` for how a refusal is observed.

mod benchmarks;
mod followers;
mod http;
mod measure;
mod network;
mod peer;
mod process;
mod report;
mod rounds;
mod search;
mod stats;

use anyhow::{bail, Context};
use network::{Authority, Enrolment, Provider, Victim};
use process::Ports;
use psn_authority::datadir::DataDir;
use psn_core::names::NetworkId;
use report::{Machine, Report, RoundSummary};
use rounds::{Kind, Round};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Most distinct members suspended in turn: enough that rounds do not all hit one member, few
/// enough that enrolling them (one configuration build each) stays a small part of the run.
const MAX_VICTIMS: usize = 5;
/// Quiet time after gateways start, so their start-up work is over before a round begins.
const SETTLE: Duration = Duration::from_secs(2);

/// `psn-bench authority-scale`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Members registered: the real UK bodies first, then synthetic ones of the same shapes.
    #[arg(long, default_value_t = 25_000)]
    pub members: usize,
    /// Services each member lists.
    #[arg(long, default_value_t = 4)]
    pub services_per_member: usize,
    /// Gateways (with addresses) each member has registered, as every member of a national
    /// network would; 0 gives the shape of `cargo bench -p psn-authority --bench config_build`.
    #[arg(long, default_value_t = 1)]
    pub member_gateways: usize,
    /// Gateways run as `psn gateway serve` processes, each of a distinct member.
    #[arg(long, default_value_t = 20)]
    pub gateways: usize,
    /// Suspension rounds with every gateway running.
    #[arg(long, default_value_t = 10)]
    pub suspensions: usize,
    /// Rounds before those with a single gateway running: its own reload, nothing competing.
    #[arg(long, default_value_t = 3)]
    pub solo_rounds: usize,
    /// Rounds after the fleet rounds in which a federated regional network's authority
    /// suspends one of its members (0 leaves federation out).
    #[arg(long, default_value_t = 10)]
    pub federated_rounds: usize,
    /// Rounds of the catalogue search mix (16 queries a round).
    #[arg(long, default_value_t = 40)]
    pub search_rounds: usize,
    /// Lightweight configuration followers, after the rounds (0 leaves them out).
    #[arg(long, default_value_t = 1_000)]
    pub followers: usize,
    /// Changes the followers follow.
    #[arg(long, default_value_t = 5)]
    pub follower_rounds: usize,
    /// Repetitions of each in-process build and load measurement.
    #[arg(long, default_value_t = 5)]
    pub repetitions: usize,
    /// Longest a round may take, in seconds, before the run fails.
    #[arg(long, default_value_t = 60)]
    pub round_timeout: u64,
    /// The psn binary to run as authority and gateways.
    #[arg(long, default_value = "target/release/psn")]
    pub psn: PathBuf,
    /// Where the Markdown and JSON reports go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Keep the processes' logs in `--out` after a successful run too (a failed run always
    /// keeps them).
    #[arg(long)]
    pub keep_logs: bool,
    /// A check that everything works, in seconds: 300 members, 3 gateways, 2 suspensions, 1
    /// solo round, 2 repetitions (overriding those options).
    #[arg(long)]
    pub smoke: bool,
}

impl Args {
    /// The settings to run with, checked.
    fn settings(&self) -> anyhow::Result<report::Settings> {
        let mut s = report::Settings {
            members: self.members,
            services_per_member: self.services_per_member,
            member_gateways: self.member_gateways,
            gateways: self.gateways,
            suspensions: self.suspensions,
            solo_rounds: self.solo_rounds,
            federated_rounds: self.federated_rounds,
            followers: self.followers,
            follower_rounds: self.follower_rounds,
            repetitions: self.repetitions,
            search_rounds: self.search_rounds,
            round_timeout_seconds: self.round_timeout,
            smoke: self.smoke,
        };
        if self.smoke {
            s.members = 300;
            s.gateways = 3;
            s.suspensions = 2;
            s.solo_rounds = 1;
            s.federated_rounds = 2;
            s.followers = 20;
            s.follower_rounds = 2;
            s.repetitions = 2;
            s.search_rounds = 2;
        }
        if s.gateways == 0
            || s.suspensions == 0
            || s.repetitions == 0
            || s.services_per_member == 0
            || s.search_rounds == 0
        {
            bail!("--gateways, --suspensions, --repetitions, --services-per-member and --search-rounds must be at least 1");
        }
        if s.round_timeout_seconds == 0 {
            bail!("--round-timeout must be at least 1 second");
        }
        // Providers, victims, and one more member whose status the build measurement toggles.
        let needed = s.gateways + victims(&s) + 1;
        if s.members < needed {
            bail!(
                "--members {} is too few: {} gateways, {} suspended members and one more need {needed}",
                s.members,
                s.gateways,
                victims(&s)
            );
        }
        Ok(s)
    }
}

fn victims(s: &report::Settings) -> usize {
    s.suspensions.max(s.solo_rounds).clamp(1, MAX_VICTIMS)
}

/// Runs the benchmark, prints the Markdown report and writes it with the JSON one to `--out`.
/// On failure or Ctrl-C every process is stopped, and the processes' logs are kept in `--out`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let psn = std::path::absolute(&args.psn)
        .with_context(|| format!("resolving {}", args.psn.display()))?;
    if !psn.is_file() {
        bail!(
            "{} does not exist; build it first: cargo build --release -p psn",
            psn.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let work = tempfile::Builder::new()
        .prefix("psn-authority-scale-")
        .tempdir()
        .context("a working directory")?;
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let started_at = OffsetDateTime::now_utc();
    // Read before the run loads the machine itself.
    let machine = Machine::detect();
    let progress = Progress::new();
    if let Some([one, ..]) = machine.load_average.filter(|[one, ..]| *one > 0.5) {
        progress.say(&format!(
            "the machine is busy (load average {one:.2}); figures will show it"
        ));
    }
    let outcome = tokio::select! {
        outcome = measure(&settings, &psn, work.path(), &logs, &progress) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Every process has been stopped by now: `measure` owned them, and it has ended.
    let kept = args.out.join(format!(
        "authority-scale-{}-logs",
        report::file_stamp(started_at)
    ));
    let measured = match outcome {
        Ok(measured) => measured,
        Err(e) => {
            return Err(match copy_dir(&logs, &kept) {
                Ok(()) => e.context(format!("the processes' logs are in {}", kept.display())),
                Err(copy) => e.context(format!("(the logs could not be kept: {copy:#})")),
            });
        }
    };
    if args.keep_logs {
        copy_dir(&logs, &kept)?;
        progress.say(&format!("kept the processes' logs in {}", kept.display()));
    }
    let summary = RoundSummary::of(&measured.rounds);
    let report = Report {
        benchmark: "authority-scale",
        started_at,
        finished_at: OffsetDateTime::now_utc(),
        machine,
        psn: report::Build {
            binary: args.psn.display().to_string(),
            version: crate::provenance::command_output(&psn, &["--version"])
                .map(|v| v.trim_start_matches("psn ").to_owned()),
            revision: crate::provenance::revision(),
        },
        goals: Report::goals(
            &measured.build,
            &measured.load,
            &summary,
            &measured.search,
            &measured.benchmarks,
            measured.followers.as_ref(),
        ),
        summary,
        settings,
        registry: measured.registry,
        build: measured.build,
        load: measured.load,
        search: measured.search,
        benchmarks: measured.benchmarks,
        followers: measured.followers,
        rounds: measured.rounds,
    };
    let (json, markdown) = report.write(&args.out)?;
    println!("{}", report.markdown());
    progress.say(&format!(
        "wrote {} and {}",
        markdown.display(),
        json.display()
    ));
    Ok(())
}

/// What `measure` produced.
struct Measured {
    registry: report::Registry,
    build: measure::BuildFigures,
    load: measure::LoadFigures,
    search: search::SearchFigures,
    benchmarks: benchmarks::BenchmarkFigures,
    followers: Option<followers::FollowerFigures>,
    rounds: Vec<Round>,
}

/// Sets the network up and measures it. Owns every process it starts, so they all stop when it
/// returns or is dropped.
async fn measure(
    s: &report::Settings,
    psn: &Path,
    work: &Path,
    logs: &Path,
    progress: &Progress,
) -> anyhow::Result<Measured> {
    let network: NetworkId = "GB".parse()?;
    let dir = DataDir::new(work.join("authority"));
    psn_authority::init(&dir, network.clone(), None).await?;
    let (members, real) = network::members(&network, s.members)?;
    progress.say(&format!(
        "seeding {} members ({} real), {} services each, {} gateway(s) each",
        report::thousands(members.len()),
        report::thousands(real),
        s.services_per_member,
        s.member_gateways
    ));
    let scale = psn_authority::seed::Scale {
        services_per_member: s.services_per_member,
        gateways_per_member: s.member_gateways,
    };
    let seeded = network::seed(&dir, &members, scale).await?;
    let registry = report::Registry {
        real_members: real,
        synthetic_members: seeded.members - real.min(seeded.members),
        subsystems: seeded.subsystems,
        services: seeded.services,
        seeded_gateways: seeded.gateways,
    };

    let ports = Ports::new();
    let authority_port = ports.free()?;
    let toggle = members.last().map(|m| m.id.clone()).context("no members")?;
    progress.say(&format!(
        "measuring the configuration build ({} runs of each step)",
        s.repetitions
    ));
    let build = measure::build(
        &dir,
        &format!("https://127.0.0.1:{authority_port}"),
        &toggle,
        s.repetitions,
    )
    .await?;
    progress.say(&format!(
        "configuration: {:.1} MB; whole build median {}; publish after one member's change median {}",
        build.document_bytes as f64 / 1e6,
        build.whole_median().map_or("–".into(), report::duration),
        build.publish.median().map_or("–".into(), report::duration)
    ));

    let today = time::OffsetDateTime::now_utc().date();
    let returns = psn_authority::load_synthetic_returns(&dir, today).await?;
    progress.say(&format!(
        "loaded {} synthetic benchmark returns",
        report::thousands(usize::try_from(returns).unwrap_or(usize::MAX))
    ));

    let timeout = setup_timeout(s.members);
    progress.say("starting the authority");
    let mut authority = Authority::start(psn, &dir, authority_port, logs, timeout).await?;
    progress.say(&format!(
        "measuring catalogue search ({} rounds of the query mix)",
        s.search_rounds
    ));
    let search = search::measure(&authority.operator, s.search_rounds).await?;
    progress.say(&format!(
        "search over {} listings: p50 {}, p99 {}",
        report::thousands(usize::try_from(search.listings).unwrap_or(usize::MAX)),
        search
            .search
            .summary
            .map_or("–".into(), |x| report::duration(x.p50)),
        search
            .search
            .summary
            .map_or("–".into(), |x| report::duration(x.p99)),
    ));
    let benchmarks = benchmarks::measure(&authority.operator, returns, s.search_rounds).await?;
    progress.say(&format!(
        "benchmark reports over {} contributors: p50 {}, p99 {}",
        benchmarks.contributors,
        benchmarks
            .report
            .summary
            .map_or("–".into(), |x| report::duration(x.p50)),
        benchmarks
            .report
            .summary
            .map_or("–".into(), |x| report::duration(x.p99)),
    ));
    let n_victims = victims(s);
    progress.say(&format!(
        "enrolling {} provider gateways and {n_victims} members to suspend",
        s.gateways
    ));
    let wanted: Vec<Enrolment> = members
        .iter()
        .take(s.gateways)
        .map(|m| Enrolment::Provider(m.id.clone()))
        .chain(
            members
                .iter()
                .skip(s.gateways)
                .take(n_victims)
                .map(|m| Enrolment::Victim(m.id.clone())),
        )
        .collect();
    let enrolled = network::enrol_all(&authority.operator, work, &ports, wanted).await?;
    let (mut providers, victims) = (enrolled.providers, enrolled.victims);
    let first = providers
        .first()
        .context("no provider gateway was enrolled")?;
    let first_dir = first.dir.clone();

    progress.say(&format!(
        "measuring a gateway's load ({} runs of each step)",
        s.repetitions
    ));
    let ca_der = network::read_ca(&dir)?;
    let scratch = work.join("scratch");
    std::fs::create_dir_all(&scratch)?;
    let load = measure::load(
        measure::LoadSetting {
            operator: &authority.operator,
            network: &network,
            ca_der: &ca_der,
            provider: &first.dir,
            toggle: &toggle,
            scratch: &scratch,
        },
        s.repetitions,
    )
    .await?;

    let round_timeout = Duration::from_secs(s.round_timeout_seconds);
    let mut rounds = Vec::new();
    if s.solo_rounds > 0 {
        progress.say("starting one gateway for the solo rounds");
        start_and_settle(&mut authority, &mut providers[..1], psn, logs, timeout).await?;
        for round in 1..=s.solo_rounds {
            let victim = victim(&victims, rounds.len())?;
            let done = rounds::run(
                &mut authority,
                &rounds::Registrar::Own,
                &mut providers[..1],
                victim,
                Kind::Solo,
                round,
                round_timeout,
            )
            .await?;
            progress.round(&done);
            rounds.push(done);
        }
    }
    progress.say(&format!("starting {} gateways", s.gateways));
    let not_started = usize::from(s.solo_rounds > 0);
    start_and_settle(
        &mut authority,
        &mut providers[not_started..],
        psn,
        logs,
        timeout,
    )
    .await?;
    for provider in providers.iter_mut() {
        provider
            .wait_for_version(authority.version().await?, timeout)
            .await?;
    }
    for round in 1..=s.suspensions {
        let victim = victim(&victims, rounds.len())?;
        let done = rounds::run(
            &mut authority,
            &rounds::Registrar::Own,
            &mut providers,
            victim,
            Kind::Fleet,
            round,
            round_timeout,
        )
        .await?;
        progress.round(&done);
        rounds.push(done);
    }
    if s.federated_rounds > 0 {
        let federated = federated_rounds(
            s,
            &mut authority,
            &mut providers,
            &network,
            psn,
            work,
            logs,
            &ports,
            timeout,
        )
        .await?;
        for done in federated {
            progress.round(&done);
            rounds.push(done);
        }
    }
    let followers = if s.followers > 0 && s.follower_rounds > 0 {
        progress.say(&format!(
            "following {} changes with {} lightweight configuration followers",
            s.follower_rounds,
            report::thousands(s.followers)
        ));
        let figures = followers::run(
            followers::FollowSetting {
                url: &format!("https://127.0.0.1:{authority_port}"),
                ca_der: &ca_der,
                network: &network,
                identity: &first_dir,
                operator: &authority.operator,
                toggle: &toggle,
            },
            s.followers,
            s.follower_rounds,
            round_timeout,
        )
        .await?;
        progress.say(&format!(
            "followers: the last held each change after p99 {}",
            figures.last.map_or("–".into(), |x| report::duration(x.p99))
        ));
        Some(figures)
    } else {
        None
    };
    Ok(Measured {
        registry,
        build,
        load,
        search,
        benchmarks,
        followers,
        rounds,
    })
}

/// Kent's district councils: the regional network's members suspended in federated rounds.
const REGIONAL_MEMBERS: [&str; 5] = [
    "GB-KENT/LA/E07000105",
    "GB-KENT/LA/E07000106",
    "GB-KENT/LA/E07000107",
    "GB-KENT/LA/E07000108",
    "GB-KENT/LA/E07000109",
];

/// The federation rounds: a regional network `GB-KENT` with its own authority (a second `psn
/// authority serve`) exports its members to the national network, whose authority follows its
/// view by long poll; each round suspends one of them through the regional authority and times
/// the refusal at every running national gateway (DESIGN.md: a federated partner's change at
/// this network's gateways within 5 s p99).
#[allow(clippy::too_many_arguments)]
async fn federated_rounds(
    s: &report::Settings,
    authority: &mut Authority,
    providers: &mut [network::Provider],
    national: &NetworkId,
    psn: &Path,
    work: &Path,
    logs: &Path,
    ports: &Ports,
    timeout: Duration,
) -> anyhow::Result<Vec<Round>> {
    let progress = Progress::new();
    progress.say("starting the regional network GB-KENT's authority and federating it");
    let region: NetworkId = "GB-KENT".parse()?;
    let dir = DataDir::new(work.join("authority-kent"));
    psn_authority::init(&dir, region.clone(), None).await?;
    let kent = Authority::start_logging(
        psn,
        &dir,
        ports.free()?,
        &logs.join("authority-kent.log"),
        timeout,
    )
    .await?;
    let regional: Vec<psn_core::names::MemberId> = REGIONAL_MEMBERS
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;
    for member in &regional {
        kent.operator
            .add_member(&psn_api::NewMember {
                id: member.clone(),
                name: format!("Kent district council {}", member.code()),
                sector: Some("local-government".into()),
                region: Some("South East".into()),
            })
            .await?;
    }
    let wanted = regional.iter().cloned().map(Enrolment::Victim).collect();
    let victims = network::enrol_all(&kent.operator, work, ports, wanted)
        .await?
        .victims;
    let anchor =
        |operator: psn_api::AuthorityClient| async move { operator.federation_anchor(30).await };
    let (national_anchor, regional_anchor) = (
        anchor(authority.operator.clone()).await?,
        anchor(kent.operator.clone()).await?,
    );
    authority
        .operator
        .import_partner(&psn_api::PartnerImport {
            anchor: regional_anchor.anchor,
            fingerprint: regional_anchor.fingerprint,
            policy: psn_api::ExportPolicy::default(),
        })
        .await?;
    kent.operator
        .import_partner(&psn_api::PartnerImport {
            anchor: national_anchor.anchor,
            fingerprint: national_anchor.fingerprint,
            policy: psn_api::ExportPolicy {
                classes: vec!["LA".parse()?],
                ..Default::default()
            },
        })
        .await?;
    // Until the national authority has published the regional members (one long poll away).
    let deadline = Instant::now() + timeout;
    loop {
        let partner = authority.operator.partner_view(&region).await?;
        if partner.received.members == regional.len() as u64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the national authority did not receive GB-KENT's members within {timeout:?}: {partner:?}");
        }
        tokio::time::sleep(SETUP_POLL).await;
    }
    let version = authority.version().await?;
    for provider in providers.iter_mut() {
        provider.wait_for_version(version, timeout).await?;
    }
    tokio::time::sleep(SETTLE).await;
    let ca_der = network::read_ca(&DataDir::new(work.join("authority")))?;
    let registrar = rounds::Registrar::Partner {
        authority: &kent,
        ca_der: &ca_der,
        network: national,
    };
    let mut rounds = Vec::new();
    for round in 1..=s.federated_rounds {
        let victim = victim(&victims, round - 1)?;
        rounds.push(
            rounds::run(
                authority,
                &registrar,
                providers,
                victim,
                Kind::Federated,
                round,
                Duration::from_secs(s.round_timeout_seconds),
            )
            .await?,
        );
    }
    Ok(rounds)
}

/// How often setup asks whether the partner's members have arrived (setup, not measurement).
const SETUP_POLL: Duration = Duration::from_millis(200);

/// Starts `providers` and waits until each has the authority's latest version in force, then
/// lets the machine go quiet.
async fn start_and_settle(
    authority: &mut Authority,
    providers: &mut [Provider],
    psn: &Path,
    logs: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    for provider in providers.iter_mut() {
        provider.start(psn, logs)?;
    }
    let version = authority.version().await?;
    for provider in providers.iter_mut() {
        provider.wait_for_version(version, timeout).await?;
    }
    authority.process.ensure_running()?;
    tokio::time::sleep(SETTLE).await;
    Ok(())
}

fn victim(victims: &[Victim], round: usize) -> anyhow::Result<&Victim> {
    victims
        .get(round % victims.len().max(1))
        .context("no member to suspend was enrolled")
}

/// How long setting something up at this scale may take: generous, because twenty gateways
/// verifying a national configuration at once on two cores is slow, and setup is not measured.
fn setup_timeout(members: usize) -> Duration {
    Duration::from_secs(120 + (members / 1_000) as u64 * 10)
}

/// Progress lines on standard error, stamped with the time since the start.
struct Progress {
    start: Instant,
}

impl Progress {
    fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    fn say(&self, message: &str) {
        eprintln!("[{:>7.1} s] {message}", self.start.elapsed().as_secs_f64());
    }

    fn round(&self, round: &Round) {
        self.say(&format!(
            "{:?} round {}: {} suspended, version {}; {} gateway(s) refused it within {} \
             (suspend call {}), all accepted it again within {}",
            round.kind,
            round.round,
            round.member,
            round.config_version,
            round.observations.len(),
            report::duration(round.all_refused_ms),
            report::duration(round.suspend_call_ms),
            report::duration(round.all_reinstated_ms),
        ));
    }
}

/// Copies the files of `from` (not recursively) into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> anyhow::Result<report::Settings> {
        let cli =
            Cli::try_parse_from(std::iter::once("authority-scale").chain(argv.iter().copied()))?;
        cli.args.settings()
    }

    #[test]
    fn defaults_are_the_national_scale_of_the_issue() {
        let s = parse(&[]).expect("defaults");
        assert_eq!(
            (s.members, s.services_per_member, s.gateways, s.suspensions),
            (25_000, 4, 20, 10)
        );
        assert!(!s.smoke);
    }

    #[test]
    fn smoke_overrides_the_sizes() {
        let s = parse(&["--smoke", "--members", "25000"]).expect("smoke");
        assert_eq!((s.members, s.gateways, s.suspensions), (300, 3, 2));
        assert!(s.smoke);
    }

    #[test]
    fn impossible_settings_are_refused_with_a_reason() {
        let e = parse(&["--members", "10"]).expect_err("too few members");
        assert!(e.to_string().contains("too few"), "{e}");
        assert!(parse(&["--gateways", "0"]).is_err());
        assert!(parse(&["--round-timeout", "0"]).is_err());
    }

    #[test]
    fn victims_are_few_and_never_none() {
        let mut s = parse(&["--smoke"]).expect("smoke");
        assert_eq!(victims(&s), 2);
        s.suspensions = 50;
        assert_eq!(victims(&s), MAX_VICTIMS);
    }
}
