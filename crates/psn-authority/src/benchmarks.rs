//! Benchmarks at the authority (docs/benchmarks.md): the one place the API, the CLI's
//! operator commands and the web UI reach returns, peers and reports through.
//!
//! The data flows one way. Members' returns arrive as CSV or JSON, are parsed and validated by
//! `psn_benchmark::returns` against the published metric definitions and the network's current
//! distribution, and are stored all or nothing (`store::benchmarks`). A report reads the current
//! returns for a process and year, the subject's peers (the open model over the shipped council
//! profiles, or a saved group), and the catalogue's providers of the process with what the
//! network measured of them, and hands them to `psn_benchmark::report::build`, which applies the
//! publication rules. Nothing here computes a figure; it gathers and checks who may ask.

use crate::datadir::BenchmarkSettings;
use crate::store::StoreError;
use crate::Authority;
use psn_api::{
    BenchmarkReport, FinancialYear, MetricSet, PeerChoice, PeerGroupList, PeerGroupView, PeerList,
    PeerModel, ProcessLabel, ReportRequest, ReturnBatch, ReturnInput, ReturnList, SubmitOutcome,
};
use psn_benchmark::peers::PeerIndex;
use psn_benchmark::report::{Contribution, PeerMember, ProviderOffer, ReportInputs, Rules};
use psn_benchmark::returns::{Existing, ParsedRow};
use psn_core::names::MemberId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;

/// Who is asking: what a report may show depends on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// The network's operator (or a person with a network-wide role): may name any subject.
    Operator,
    /// A member (its gateway or its people): may name only itself.
    Member(MemberId),
}

/// Why a benchmark request failed, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    /// The request cannot be answered as asked: the caller's to fix.
    #[error("{0}")]
    Invalid(String),
    /// No such process, member, year or group.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not see or change this.
    #[error("{0}")]
    Forbidden(String),
    /// Reading or writing the registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A submission's body: a CSV file or a JSON batch.
pub enum Submission<'a> {
    /// `text/csv`, in the format `psn benchmark submit` reads.
    Csv(&'a [u8]),
    /// `application/json`.
    Batch(ReturnBatch),
}

/// Fewest and most members of a saved peer group.
pub const GROUP_MEMBERS: std::ops::RangeInclusive<usize> = 2..=100;

/// What the authority holds for benchmarks: the published definitions and model, the council
/// profiles, and the peer index over the network's current councils.
pub struct Benchmarks {
    metrics: MetricSet,
    model: PeerModel,
    profiles: psn_orgdata::Profiles,
    rules: Rules,
    /// The index over the members it was built for; rebuilt when they change.
    index: Mutex<Option<(Vec<MemberId>, Arc<PeerIndex>)>>,
}

impl Benchmarks {
    /// Loads the embedded definitions, the model (the network's own when `settings` names
    /// one) and the profiles with any extra variable files merged in, checked against
    /// `processes`; `dir` is the authority's data directory the settings' paths are relative to.
    pub fn new(
        processes: &psn_orgdata::ProcessCatalogue,
        settings: &BenchmarkSettings,
        dir: &std::path::Path,
    ) -> Result<Self, String> {
        let metrics = psn_benchmark::metrics::parse(psn_benchmark::metrics::EMBEDDED, processes)
            .map_err(|e| format!("the benchmark metric definitions: {e}"))?;
        let read = |file: &std::path::Path| {
            let path = dir.join(file);
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            if size > psn_orgdata::MAX_MERGE_BYTES as u64 {
                return Err(format!(
                    "{}: {size} bytes, more than the {} a benchmark data file may have",
                    path.display(),
                    psn_orgdata::MAX_MERGE_BYTES
                ));
            }
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let model = match &settings.peer_model {
            Some(file) => psn_benchmark::peers::parse_model(&read(file)?)
                .map_err(|e| format!("the peer model {}: {e}", file.display()))?,
            None => psn_benchmark::peers::embedded_model()
                .map_err(|e| format!("the peer model: {e}"))?,
        };
        let mut profiles =
            psn_orgdata::council_profiles().map_err(|e| format!("the council profiles: {e}"))?;
        for file in &settings.peer_variables {
            profiles
                .merge_csv(&read(file)?)
                .map_err(|e| format!("the peer variables {}: {e}", file.display()))?;
        }
        if let Some(v) = model
            .variables
            .iter()
            .find(|v| profiles.iter().all(|p| !p.values.contains_key(&v.name)))
        {
            return Err(format!(
                "the peer model's variable {:?} has no value for any council; add a peer_variables file with it",
                v.name
            ));
        }
        Ok(Self {
            metrics,
            model,
            profiles,
            rules: Rules {
                embargo_months: settings.embargo_months,
                min_contributors: settings.min_contributors,
            },
            index: Mutex::new(None),
        })
    }
}

/// The published metric definitions.
pub fn metrics(a: &Authority) -> &MetricSet {
    &a.benchmarks.metrics
}

/// The published peer model.
pub fn model(a: &Authority) -> &PeerModel {
    &a.benchmarks.model
}

/// The member a request is about: a member may name only itself, the operator anyone (and
/// must name someone when `required`).
fn subject(
    viewer: &Viewer,
    named: Option<&MemberId>,
    required: bool,
) -> Result<Option<MemberId>, BenchmarkError> {
    match (viewer, named) {
        (Viewer::Member(own), None) => Ok(Some(own.clone())),
        (Viewer::Member(own), Some(named)) if named == own => Ok(Some(own.clone())),
        (Viewer::Member(own), Some(named)) => Err(BenchmarkError::Forbidden(format!(
            "{own} may see benchmark reports only for itself, not for {named}"
        ))),
        (Viewer::Operator, Some(named)) => Ok(Some(named.clone())),
        (Viewer::Operator, None) if required => Err(BenchmarkError::Invalid(
            "name the member (member=GB/LA/...)".to_owned(),
        )),
        (Viewer::Operator, None) => Ok(None),
    }
}

fn metric_for<'a>(
    a: &'a Authority,
    process: &str,
) -> Result<&'a psn_api::MetricDefinition, BenchmarkError> {
    psn_benchmark::metrics::find(&a.benchmarks.metrics, process).ok_or_else(|| {
        let known: Vec<&str> = a
            .benchmarks
            .metrics
            .metrics
            .iter()
            .map(|m| m.process.as_str())
            .collect();
        BenchmarkError::NotFound(format!(
            "process {:?} is not benchmarked; benchmarked processes: {}",
            process.chars().take(64).collect::<String>(),
            known.join(", ")
        ))
    })
}

/// A benchmark report for `request`, as `viewer` may see it.
pub async fn report(
    a: &Authority,
    viewer: &Viewer,
    request: &ReportRequest,
    now: OffsetDateTime,
) -> Result<BenchmarkReport, BenchmarkError> {
    let metric = metric_for(a, &request.process)?;
    let subject = subject(viewer, request.member.as_ref(), false)?;
    let subject_name = match &subject {
        Some(member) => Some(member_name(a, member).await?),
        None => None,
    };
    let year = match request.year {
        Some(year) => year,
        None => *a
            .store
            .benchmark_years(&metric.process)
            .await?
            .first()
            .ok_or_else(|| {
                BenchmarkError::NotFound(format!(
                    "no member has made a return for {} yet",
                    metric.process
                ))
            })?,
    };
    let contributions: Vec<Contribution> = a
        .store
        .current_returns(&metric.process, year)
        .await?
        .into_iter()
        .map(|r| Contribution {
            member: r.view.member,
            name: r.member_name,
            cost_pence: r.view.cost_pence,
            volume: r.view.volume,
            fte: r.view.fte,
            satisfaction_percent: r.view.satisfaction_percent,
            publish_now: r.view.publish_now,
            synthetic: r.view.synthetic,
        })
        .collect();
    let peers = match &subject {
        Some(member) => peer_members(a, member, &request.peers).await?,
        None => Vec::new(),
    };
    let providers = provider_offers(a, &metric.process).await?;
    let inputs = ReportInputs {
        process: ProcessLabel {
            id: metric.process.clone(),
            label: metric.label.clone(),
        },
        metric,
        metrics_version: &a.benchmarks.metrics.version,
        model_version: &a.benchmarks.model.version,
        year,
        now,
        rules: &a.benchmarks.rules,
        contributions: &contributions,
        subject: subject.zip(subject_name),
        peers_choice: request.peers.clone(),
        peers: &peers,
        providers: &providers,
    };
    Ok(psn_benchmark::report::build(&inputs))
}

async fn member_name(a: &Authority, member: &MemberId) -> Result<String, BenchmarkError> {
    a.store
        .member(member)
        .await?
        .map(|m| m.name)
        .ok_or_else(|| BenchmarkError::NotFound(format!("no member {member}")))
}

/// The peers a report compares `member` with.
async fn peer_members(
    a: &Authority,
    member: &MemberId,
    choice: &PeerChoice,
) -> Result<Vec<PeerMember>, BenchmarkError> {
    match choice {
        PeerChoice::Auto => {
            if member.class().as_str() != a.benchmarks.model.class
                || !fully_profiled(&a.benchmarks, member.code().as_str())
            {
                // The model profiles one class, and only members with every variable; others
                // have no automatic peers, only saved groups.
                return Ok(Vec::new());
            }
            Ok(peers(a, member)
                .await?
                .peers
                .into_iter()
                .map(|p| PeerMember {
                    member: p.member,
                    name: p.name,
                    distance: Some(p.distance),
                })
                .collect())
        }
        PeerChoice::Group(name) => {
            let group = a
                .store
                .peer_groups(member)
                .await?
                .into_iter()
                .find(|g| &g.name == name)
                .ok_or_else(|| {
                    BenchmarkError::NotFound(format!("{member} has no peer group {name:?}"))
                })?;
            let mut names = Vec::with_capacity(group.members.len());
            for peer in group.members {
                let name = member_name(a, &peer).await?;
                names.push(PeerMember {
                    member: peer,
                    name,
                    distance: None,
                });
            }
            Ok(names)
        }
    }
}

/// The catalogue's providers of `process`, with their listed prices and what the network
/// measured of them.
async fn provider_offers(
    a: &Authority,
    process: &str,
) -> Result<Vec<ProviderOffer>, BenchmarkError> {
    let cards = crate::search::process_providers(a, process);
    let ids: Vec<_> = cards.iter().map(|c| c.service.clone()).collect();
    let mut prices = a.store.listing_prices(&ids).await?;
    Ok(cards
        .into_iter()
        .map(|card| ProviderOffer {
            price: prices.remove(&card.service),
            service: card.service,
            title: card.title,
            provider: card.provider,
            provider_name: card.provider_name,
            measured: card.measured,
        })
        .collect())
}

/// `member`'s automatic peer group: its k nearest neighbours among the network's members of
/// the model's class, with each variable's share of the distance.
pub async fn peers(a: &Authority, member: &MemberId) -> Result<PeerList, BenchmarkError> {
    let model = &a.benchmarks.model;
    if member.class().as_str() != model.class {
        return Err(BenchmarkError::Invalid(format!(
            "the peer model (version {}) profiles members of class {}; {member} is not one",
            model.version, model.class
        )));
    }
    let names = a.store.member_names_of_class(&model.class).await?;
    let name = names
        .get(member)
        .cloned()
        .ok_or_else(|| BenchmarkError::NotFound(format!("no member {member}")))?;
    if !fully_profiled(&a.benchmarks, member.code().as_str()) {
        let missing: Vec<&str> = model
            .variables
            .iter()
            .filter(|v| {
                a.benchmarks
                    .profiles
                    .get(member.code().as_str())
                    .is_none_or(|p| !p.values.contains_key(&v.name))
            })
            .map(|v| v.name.as_str())
            .collect();
        return Err(BenchmarkError::Invalid(format!(
            "{member} has no automatic peers: the shipped data has no {} for it; compare it \
             with a saved peer group instead",
            missing.join(", ")
        )));
    }
    let index = peer_index(a, &names)?;
    let k = usize::try_from(model.k).unwrap_or(usize::MAX);
    let neighbours = index
        .nearest(member.code().as_str(), k)
        .map_err(|e| BenchmarkError::Invalid(format!("{member}: {e}")))?;
    let by_code: HashMap<&str, &MemberId> = names.keys().map(|m| (m.code().as_str(), m)).collect();
    let peers = neighbours
        .into_iter()
        .filter_map(|n| {
            let id = (*by_code.get(n.code.as_str())?).clone();
            Some(psn_api::Peer {
                rank: n.rank,
                name: names.get(&id).cloned().unwrap_or_default(),
                member: id,
                distance: n.distance,
                shares: n.shares,
            })
        })
        .collect();
    Ok(PeerList {
        member: member.clone(),
        name,
        model_version: model.version.clone(),
        peers,
    })
}

/// The peer index over `members` (those of the model's class that have a profile), reused
/// while the network's members stay the same.
fn peer_index(
    a: &Authority,
    members: &BTreeMap<MemberId, String>,
) -> Result<Arc<PeerIndex>, BenchmarkError> {
    let ids: Vec<MemberId> = members.keys().cloned().collect();
    let mut cached = a
        .benchmarks
        .index
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((key, index)) = cached.as_ref() {
        if *key == ids {
            return Ok(index.clone());
        }
    }
    let population: Vec<String> = ids
        .iter()
        .map(|m| m.code().as_str().to_owned())
        .filter(|code| fully_profiled(&a.benchmarks, code))
        .collect();
    let index = Arc::new(
        PeerIndex::new(&a.benchmarks.model, &a.benchmarks.profiles, &population)
            .map_err(|e| BenchmarkError::Invalid(format!("the peer model: {e}")))?,
    );
    *cached = Some((ids, index.clone()));
    Ok(index)
}

/// Whether `code` has a value for every variable of the model. Members without one (the
/// shipped data has no population, area or location for combined authorities) are left out of
/// automatic peer groups: a missing variable would count as no difference and pull them close
/// to everyone. They can still compare themselves through saved groups.
fn fully_profiled(benchmarks: &Benchmarks, code: &str) -> bool {
    benchmarks.profiles.get(code).is_some_and(|profile| {
        benchmarks
            .model
            .variables
            .iter()
            .all(|v| profile.values.contains_key(&v.name))
    })
}

/// Validates and (unless `dry_run`, and only if every row passes) stores `member`'s returns.
/// `Ok` even when rows are refused: the outcome says which and why, and whether anything was
/// stored.
pub async fn submit(
    a: &Authority,
    member: &MemberId,
    actor: &str,
    body: Submission<'_>,
    dry_run: bool,
    now: OffsetDateTime,
) -> Result<SubmitOutcome, BenchmarkError> {
    let rows = match body {
        Submission::Csv(bytes) => psn_benchmark::returns::parse_csv(bytes),
        Submission::Batch(batch) => psn_benchmark::returns::from_batch(&batch),
    }
    .map_err(|e| BenchmarkError::Invalid(e.to_string()))?;
    if a.store.member(member).await?.is_none() {
        return Err(BenchmarkError::NotFound(format!("no member {member}")));
    }
    let existing: HashMap<(String, FinancialYear), Existing> = a
        .store
        .member_returns(member)
        .await?
        .into_iter()
        .filter(|r| !r.superseded)
        .map(|r| {
            (
                (r.process, r.year),
                Existing {
                    version: r.version,
                    cost_pence: r.cost_pence,
                    volume: r.volume,
                },
            )
        })
        .collect();
    let network = network_quartiles(a, member, &rows).await?;
    let validated = psn_benchmark::returns::validate(
        rows,
        &a.benchmarks.metrics,
        now.date(),
        &|process: &str, year| existing.get(&(process.to_owned(), year)).cloned(),
        &|process: &str, year| network.get(&(process.to_owned(), year)).cloned(),
    );
    let mut outcome = validated.outcome;
    outcome.dry_run = dry_run;
    let all_pass =
        !validated.accepted.is_empty() && outcome.refused == 0 && outcome.needs_confirmation == 0;
    if all_pass && !dry_run {
        a.store
            .put_benchmark_returns(actor, member, &validated.accepted, false)
            .await?;
        outcome.stored = true;
    }
    Ok(outcome)
}

/// The other members' distribution of cost per unit for each process and year the rows name,
/// where enough of them stand behind it, so outliers are judged against the network.
async fn network_quartiles(
    a: &Authority,
    member: &MemberId,
    rows: &[ParsedRow],
) -> Result<HashMap<(String, FinancialYear), psn_api::Quartiles>, BenchmarkError> {
    let mut wanted: Vec<(String, FinancialYear)> = rows
        .iter()
        .filter_map(|r| r.input.as_ref().ok())
        .filter(|r| psn_benchmark::metrics::find(&a.benchmarks.metrics, &r.process).is_some())
        .map(|r| (r.process.clone(), r.year))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut out = HashMap::new();
    let min = usize::try_from(a.benchmarks.rules.min_contributors).unwrap_or(usize::MAX);
    for (process, year) in wanted {
        let costs: Vec<f64> = a
            .store
            .current_returns(&process, year)
            .await?
            .into_iter()
            .filter(|r| &r.view.member != member)
            .map(|r| r.view.cost_per_unit)
            .collect();
        if costs.len() >= min {
            if let Some(q) = psn_benchmark::report::quartiles(&costs) {
                out.insert((process, year), q);
            }
        }
    }
    Ok(out)
}

/// The financial years `psn demo` and `psn authority benchmark load-synthetic` generate returns
/// for: the two latest whose embargo has ended at `today` under the default rules.
pub fn synthetic_years(today: time::Date) -> [FinancialYear; 2] {
    let latest_open = FinancialYear::containing(today).start.saturating_sub(2);
    [
        FinancialYear {
            start: latest_open.saturating_sub(1),
        },
        FinancialYear { start: latest_open },
    ]
}

/// Generates and stores synthetic returns (marked so, so reports say their figures are not
/// real) for every member of the model's class that has a profile, for each metric and each of
/// `years`. Returns how many were stored.
pub async fn load_synthetic(
    store: &crate::store::Store,
    benchmarks: &Benchmarks,
    actor: &str,
    years: &[FinancialYear],
) -> Result<u64, BenchmarkError> {
    let members = store.member_names_of_class(&benchmarks.model.class).await?;
    let by_code: HashMap<&str, &MemberId> =
        members.keys().map(|m| (m.code().as_str(), m)).collect();
    let councils: Vec<(String, f64)> = by_code
        .keys()
        .filter_map(|code| {
            let profile = benchmarks.profiles.get(code)?;
            match profile.values.get("population")? {
                psn_orgdata::ProfileValue::Number(people) => Some(((*code).to_owned(), *people)),
                _ => None,
            }
        })
        .collect();
    let generated = psn_benchmark::synthetic::council_returns(
        &benchmarks.metrics,
        &councils,
        years,
        SYNTHETIC_SEED,
    );
    let mut grouped: BTreeMap<&MemberId, Vec<ReturnInput>> = BTreeMap::new();
    for (code, input) in generated {
        if let Some(member) = by_code.get(code.as_str()) {
            grouped.entry(member).or_default().push(input);
        }
    }
    let mut stored = 0;
    for (member, rows) in grouped {
        store
            .put_benchmark_returns(actor, member, &rows, true)
            .await?;
        stored += rows.len() as u64;
    }
    Ok(stored)
}

/// Seed of the synthetic returns, so every demo shows the same figures.
const SYNTHETIC_SEED: u64 = 17;

/// Every version of every return `member` made.
pub async fn returns(a: &Authority, member: &MemberId) -> Result<ReturnList, BenchmarkError> {
    Ok(ReturnList {
        returns: a.store.member_returns(member).await?,
    })
}

/// `owner`'s saved peer groups.
pub async fn peer_groups(a: &Authority, owner: &MemberId) -> Result<PeerGroupList, BenchmarkError> {
    Ok(PeerGroupList {
        groups: a.store.peer_groups(owner).await?,
    })
}

/// Saves `owner`'s peer group `name` after checking it: a valid name, 2 to 100 registered
/// members, no repeats, not the owner itself.
pub async fn save_peer_group(
    a: &Authority,
    owner: &MemberId,
    actor: &str,
    name: &str,
    members: &[MemberId],
) -> Result<PeerGroupView, BenchmarkError> {
    psn_api::check_group_name(name).map_err(BenchmarkError::Invalid)?;
    if !GROUP_MEMBERS.contains(&members.len()) {
        return Err(BenchmarkError::Invalid(format!(
            "a peer group has {} to {} members; this one has {}",
            GROUP_MEMBERS.start(),
            GROUP_MEMBERS.end(),
            members.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for member in members {
        if member == owner {
            return Err(BenchmarkError::Invalid(format!(
                "a peer group lists others: {owner} is the member saving it"
            )));
        }
        if !seen.insert(member) {
            return Err(BenchmarkError::Invalid(format!(
                "{member} is listed twice in the peer group"
            )));
        }
    }
    a.store
        .put_peer_group(actor, owner, name, members)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(m) => BenchmarkError::NotFound(m),
            StoreError::Refused(m) => BenchmarkError::Invalid(m),
            e => BenchmarkError::Store(e),
        })
}

/// Deletes `owner`'s peer group `name`.
pub async fn delete_peer_group(
    a: &Authority,
    owner: &MemberId,
    actor: &str,
    name: &str,
) -> Result<(), BenchmarkError> {
    psn_api::check_group_name(name).map_err(BenchmarkError::Invalid)?;
    a.store
        .remove_peer_group(actor, owner, name)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(m) => BenchmarkError::NotFound(m),
            e => BenchmarkError::Store(e),
        })
}
