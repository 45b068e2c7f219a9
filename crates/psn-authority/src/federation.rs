//! Federation (docs/federation.md, DESIGN.md "Federation"): the one place where this authority
//! meets its partners.
//!
//! Outbound, it signs this network's anchor for an operator to hand over, and answers each
//! partner authority's long poll with a view of this network's latest configuration cut down to
//! what that partner's export policy allows, signed for that partner alone. Inbound, one follower
//! task per partner long-polls the partner's authority, verifies each view under the CA imported
//! with the partner's anchor and stores it; the registry generation moves, and the publisher
//! merges the partner's names into this network's next signed configuration. Gateways therefore
//! keep one root of trust, this authority's signature, and never reach a partner's authority.
//! When a partner cannot be reached its last good view stays in use until it expires; its
//! freshness (`pending`, `active`, `degraded`, `expired`) is computed here from what the store
//! recorded, never assumed.

use crate::datadir::FederationSettings;
use crate::filing::UnknownClient;
use crate::search::wire_name;
use crate::store::{ListingSource, NewPartner, PartnerRecord, StoreError};
use crate::Authority;
use psn_api::{
    AnchorIssued, AnchorRenewal, AuthorityClient, ExportPolicy, ForwardedAggregates,
    ForwardedBatch, Freshness, FreshnessState, PartnerImport, PartnerView, Received,
    RelayedNetwork, ViewFetch, MAX_FORWARDED_BATCHES,
};
use psn_core::aggregate::AggregateRow;
use psn_core::config::{FederatedNetwork, GlobalConfig, MemberEntry, ServiceEntry};
use psn_core::federation::{
    Anchor, Assertion, ListingPrice, ListingSummary, View, ANCHOR_FORMAT, MAX_ANCHOR_BYTES,
    VIEW_FORMAT,
};
use psn_core::names::{MemberId, NetworkId, ServiceId};
use psn_core::problem::ProblemType;
use psn_core::shared_list::SharedList;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// The largest view accepted from a partner (the configuration's own limit).
const MAX_VIEW_BYTES: usize = 256 * 1024 * 1024;
/// The longest an anchor may be valid for.
pub const MAX_ANCHOR_DAYS: u32 = 365;
/// The longest a partner may hold a view request open.
pub const MAX_VIEW_WAIT: Duration = Duration::from_secs(60);

/// Why a federation operation was refused: a problem for the caller, or the store failing.
#[derive(Debug)]
pub enum Refusal {
    /// The caller's fault or the state's, with the problem type to answer with.
    Problem(ProblemType, String),
    /// Storage failed or refused.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn refuse(kind: ProblemType, detail: impl Into<String>) -> Refusal {
    Refusal::Problem(kind, detail.into())
}

/// Signs this network's anchor, valid for `valid_days` from now.
pub fn anchor(authority: &Authority, valid_days: u32) -> Result<AnchorIssued, Refusal> {
    if !(1..=MAX_ANCHOR_DAYS).contains(&valid_days) {
        return Err(refuse(
            ProblemType::InvalidRequest,
            format!("valid_days must be between 1 and {MAX_ANCHOR_DAYS}"),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let signer = authority.publisher.signer();
    let expires_at = (now + time::Duration::days(i64::from(valid_days))).min(signer.not_after());
    let anchor = Anchor {
        format: ANCHOR_FORMAT.to_owned(),
        network: authority.network.clone(),
        endpoints: vec![authority.public_url.clone()],
        ca_certificate: authority.ca.certificate_pem().to_owned(),
        signer_certificate: signer.certificate_pem().to_owned(),
        issued_at: now,
        expires_at,
    };
    let jws = signer
        .sign_anchor(&anchor)
        .map_err(|e| refuse(ProblemType::Internal, e.to_string()))?;
    Ok(AnchorIssued {
        network: anchor.network,
        anchor: jws,
        fingerprint: authority.ca_pin.clone(),
        expires_at,
    })
}

/// Imports a partner's anchor: verified, not this network's own, its fingerprint the one the
/// operator confirmed, then recorded with its event. The partner's authority is polled once at
/// once, so the answer says whether its configuration could be fetched and verified (it cannot
/// until the partner has imported this network's anchor too: the state stays `pending` and the
/// error says why, and the follower keeps trying).
pub async fn import(
    authority: &Arc<Authority>,
    actor: &str,
    import: &PartnerImport,
) -> Result<PartnerView, Refusal> {
    let now = OffsetDateTime::now_utc();
    let verified = psn_pki::verify_anchor(import.anchor.trim(), now)
        .map_err(|e| refuse(ProblemType::InvalidRequest, e.to_string()))?;
    let network = verified.anchor.network.clone();
    if network == authority.network {
        return Err(refuse(
            ProblemType::InvalidRequest,
            format!("the anchor is this network's own ({network}); import a partner's anchor"),
        ));
    }
    if import.fingerprint.trim() != verified.fingerprint {
        return Err(refuse(
            ProblemType::InvalidRequest,
            format!(
                "the anchor's CA fingerprint is {}, not the {:?} confirmed; check it with {network}'s operator before importing",
                verified.fingerprint, import.fingerprint
            ),
        ));
    }
    check_policy(authority, &network, &import.policy).await?;
    let partner = partner_of(verified, &import.anchor, import.policy.clone());
    authority.store.add_partner(actor, &partner).await?;
    let _ = poll(authority, &network, Duration::ZERO).await;
    partner_view(authority, &network).await
}

/// What is recorded of a partner from its verified anchor (`text` as sent) and `policy`.
fn partner_of(verified: psn_pki::VerifiedAnchor, text: &str, policy: ExportPolicy) -> NewPartner {
    NewPartner {
        network: verified.anchor.network,
        anchor: text.trim().to_owned(),
        fingerprint: verified.fingerprint,
        endpoints: verified.anchor.endpoints,
        ca_certificate: verified.anchor.ca_certificate,
        policy,
    }
}

/// Replaces `network`'s anchor with a newer one its operator sent (its authority moved, or its
/// signer or CA was renewed): refused unless it verifies, is `network`'s, carries the
/// fingerprint confirmed and was issued after the anchor held (an older anchor cannot be
/// replayed). The policy, the last good view and the freshness stay; the partner is polled at
/// the new endpoints at once. A new CA takes over from the next configuration version, so the
/// partner re-issues its gateways' certificates under it before renewing (a cut-over).
pub async fn renew(
    authority: &Arc<Authority>,
    actor: &str,
    network: &NetworkId,
    renewal: &AnchorRenewal,
) -> Result<PartnerView, Refusal> {
    let invalid = |detail: String| refuse(ProblemType::InvalidRequest, detail);
    let verified = psn_pki::verify_anchor(renewal.anchor.trim(), OffsetDateTime::now_utc())
        .map_err(|e| invalid(e.to_string()))?;
    if &verified.anchor.network != network {
        return Err(invalid(format!(
            "the anchor is {}'s, not {network}'s",
            verified.anchor.network
        )));
    }
    if renewal.fingerprint.trim() != verified.fingerprint {
        return Err(invalid(format!(
            "the anchor's CA fingerprint is {}, not the {:?} confirmed; check it with {network}'s operator before renewing",
            verified.fingerprint, renewal.fingerprint
        )));
    }
    let held = authority.store.partner(network).await?.ok_or_else(|| {
        refuse(
            ProblemType::NotFound,
            format!("{network} is not a federated partner; import its anchor instead"),
        )
    })?;
    let held_issued = psn_core::jws::CompactJws::parse(&held.partner.anchor, MAX_ANCHOR_BYTES)
        .ok()
        .and_then(|jws| serde_json::from_slice::<Anchor>(jws.unverified_payload()).ok())
        .map(|anchor| anchor.issued_at)
        .ok_or_else(|| refuse(ProblemType::Internal, "the anchor held is unreadable"))?;
    if verified.anchor.issued_at <= held_issued {
        return Err(invalid(format!(
            "the anchor was issued at {}, not after the one held (issued at {held_issued})",
            verified.anchor.issued_at
        )));
    }
    let renewed = partner_of(verified, &renewal.anchor, held.partner.policy);
    authority.store.renew_anchor(actor, &renewed).await?;
    let _ = poll(authority, network, Duration::ZERO).await;
    partner_view(authority, network).await
}

/// A partner as the API shows it.
pub async fn partner_view(
    authority: &Authority,
    network: &NetworkId,
) -> Result<PartnerView, Refusal> {
    let record = authority.store.partner(network).await?.ok_or_else(|| {
        refuse(
            ProblemType::NotFound,
            format!("{network} is not a federated partner"),
        )
    })?;
    Ok(describe(authority, record, OffsetDateTime::now_utc()))
}

/// Every partner as the API shows them.
pub async fn partner_views(authority: &Authority) -> Result<Vec<PartnerView>, Refusal> {
    let now = OffsetDateTime::now_utc();
    Ok(authority
        .store
        .partners()
        .await?
        .into_iter()
        .map(|record| describe(authority, record, now))
        .collect())
}

fn describe(authority: &Authority, record: PartnerRecord, now: OffsetDateTime) -> PartnerView {
    let network = &record.partner.network;
    let config = authority.publisher.latest_config();
    let received_of = |of: &NetworkId| {
        config
            .as_ref()
            .map(|config| received(config, of))
            .unwrap_or_default()
    };
    let relays = config
        .iter()
        .flat_map(|config| config.federation.iter())
        .filter(|f| f.via.as_ref() == Some(network))
        .map(|f| RelayedNetwork {
            network: f.network.clone(),
            version: f.version,
            expires_at: f.expires_at,
            received: received_of(&f.network),
        })
        .collect();
    let received = received_of(network);
    let freshness = freshness(&record, &authority.settings.federation, now);
    PartnerView {
        network: network.clone(),
        fingerprint: record.partner.fingerprint,
        endpoints: record.partner.endpoints,
        imported_at: record.imported_at,
        imported_by: record.imported_by,
        policy: record.partner.policy,
        received,
        freshness,
        relays,
    }
}

/// How many of `network`'s names the configuration trusts.
fn received(config: &GlobalConfig, network: &NetworkId) -> Received {
    let count = |n: usize| n as u64;
    Received {
        members: count(
            config
                .members
                .iter()
                .filter(|m| m.id.network() == network)
                .count(),
        ),
        gateways: count(
            config
                .gateways
                .iter()
                .filter(|g| g.id.member().network() == network)
                .count(),
        ),
        services: count(
            config
                .services
                .iter()
                .filter(|s| s.id.member().network() == network)
                .count(),
        ),
    }
}

/// A partner's freshness at `now`: `expired` once its view has, `pending` before one arrived,
/// `active` while its authority has answered within `missed_polls` polling intervals (plus a
/// second of grace), `degraded` after that. Never `active` on a view past its expiry.
pub fn freshness(
    record: &PartnerRecord,
    settings: &FederationSettings,
    now: OffsetDateTime,
) -> Freshness {
    let allowed = settings.poll_wait * settings.missed_polls + Duration::from_secs(1);
    let age = record
        .last_success_at
        .map(|at| u64::try_from((now - at).whole_seconds().max(0)).unwrap_or_default());
    let state = match (record.view, record.last_success_at) {
        (Some((_, expires)), _) if now >= expires => FreshnessState::Expired,
        (None, _) => FreshnessState::Pending,
        (Some(_), Some(at)) if now - at <= allowed => FreshnessState::Active,
        (Some(_), _) => FreshnessState::Degraded,
    };
    Freshness {
        state,
        version: record.view.map(|(v, _)| v),
        last_success_at: record.last_success_at,
        age_seconds: age,
        expires_at: record.view.map(|(_, e)| e),
        last_error: record.last_error.as_ref().map(|(e, _)| e.clone()),
        last_error_at: record.last_error.as_ref().map(|(_, at)| *at),
    }
}

/// Adds to `known` those of `wanted` that the latest configuration lists as a federated
/// partner's (`listed` looks one name up): what aggregates may be filed under besides the
/// registry's own names.
pub fn partner_names(
    authority: &Authority,
    wanted: &std::collections::BTreeSet<String>,
    known: &mut std::collections::BTreeSet<String>,
    listed: impl Fn(&GlobalConfig, &str) -> bool,
) {
    let Some(config) = authority.publisher.latest_config() else {
        return;
    };
    if config.federation.is_empty() {
        return;
    }
    let own = format!("{}/", config.network);
    known.extend(
        wanted
            .iter()
            .filter(|name| !name.starts_with(&own) && listed(&config, name))
            .cloned(),
    );
}

/// Whether a list sorted by id text in byte order (as every keyed list of the configuration
/// is) holds `name`.
pub fn lists<T>(items: &SharedList<T>, name: &str, id: impl Fn(&T) -> String) -> bool {
    items
        .binary_search_by(|item| id(item).as_str().cmp(name))
        .is_ok()
}

/// Refuses a policy for `audience` that is oversized or names what this network cannot export
/// to it: names of neither this network nor another partner.
async fn check_policy(
    authority: &Authority,
    audience: &NetworkId,
    policy: &ExportPolicy,
) -> Result<(), Refusal> {
    let partners = authority.store.partner_networks().await?;
    policy
        .check(&authority.network, audience, &partners)
        .map_err(|e| refuse(ProblemType::InvalidRequest, e))
}

/// Replaces the export policy for a partner.
pub async fn set_policy(
    authority: &Authority,
    actor: &str,
    network: &NetworkId,
    policy: &ExportPolicy,
) -> Result<PartnerView, Refusal> {
    check_policy(authority, network, policy).await?;
    let record = authority
        .store
        .set_export_policy(actor, network, policy)
        .await?;
    Ok(describe(authority, record, OffsetDateTime::now_utc()))
}

/// Ends a federation: the partner's names leave the next configuration, so gateways refuse
/// exchanges with it from that version on.
pub async fn remove(
    authority: &Authority,
    actor: &str,
    network: &NetworkId,
) -> Result<PartnerView, Refusal> {
    let record = authority.store.remove_partner(actor, network).await?;
    // The partner's listings leave the catalogue before the answer, so a search after it no
    // longer finds them.
    catalogue_catch_up(authority).await;
    Ok(describe(authority, record, OffsetDateTime::now_utc()))
}

/// The partner a view request comes from, after its signed assertion verified. Its policy is
/// read when the view is built, not here: a long poll outlives a policy change.
pub struct Requester {
    network: NetworkId,
}

/// Checks a partner authority's signed request (`Authorization: PSN-Federation {jws}`).
pub async fn requester(authority: &Authority, assertion: &str) -> Result<Requester, Refusal> {
    let unauthenticated = |detail: String| refuse(ProblemType::Unauthenticated, detail);
    let network = psn_pki::assertion_network(assertion)
        .ok_or_else(|| unauthenticated("the request is not a federation assertion".into()))?;
    let record = authority.store.partner(&network).await?.ok_or_else(|| {
        unauthenticated(format!(
            "{network} is not a federated partner of this network"
        ))
    })?;
    let ca_der = ca_der(&record.partner.ca_certificate).map_err(unauthenticated)?;
    psn_pki::verify_assertion(
        assertion,
        &ca_der,
        &network,
        &authority.network,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| unauthenticated(e.to_string()))?;
    Ok(Requester { network })
}

fn ca_der(pem: &str) -> Result<Vec<u8>, String> {
    psn_pki::parse_pem_certificates(pem)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .map(|c| c.to_vec())
        .ok_or_else(|| "the partner's CA certificate is unreadable".to_owned())
}

/// The view for `requester` of the first configuration newer than `from`, waiting up to `wait`
/// for one; `None` if none came.
pub async fn view_for(
    authority: &Authority,
    requester: &Requester,
    from: Option<u64>,
    wait: Duration,
) -> Result<Option<String>, Refusal> {
    let mut versions = authority.publisher.subscribe();
    let mut stopping = authority.stopping.clone();
    let deadline = tokio::time::Instant::now() + wait.min(MAX_VIEW_WAIT);
    let config = loop {
        let newer = authority
            .publisher
            .current()
            .filter(|p| from.is_none_or(|from| p.version > from));
        if let Some(published) = newer {
            break config_of(authority, &published).await?;
        }
        tokio::select! {
            changed = versions.changed() => if changed.is_err() { return Ok(None) },
            _ = tokio::time::sleep_until(deadline) => return Ok(None),
            _ = stopping.changed() => return Ok(None),
        }
    };
    // The policy as it stands now: the change that woke this poll may be to the policy itself.
    let policy = authority
        .store
        .partner(&requester.network)
        .await?
        .ok_or_else(|| {
            refuse(
                ProblemType::Unauthenticated,
                format!("{} is no longer a federated partner", requester.network),
            )
        })?
        .partner
        .policy;
    let services: Vec<ServiceId> = exported_services(&config, &policy)
        .map(|s| s.id.clone())
        .collect();
    let listings = authority.store.listing_sources_of(&services).await?;
    let relays = authority.store.received_views().await?;
    let view = build_view(
        &config,
        &requester.network,
        &policy,
        &listings,
        &relays,
        OffsetDateTime::now_utc(),
    );
    authority
        .publisher
        .signer()
        .sign_view(&view)
        .map(Some)
        .map_err(|e| refuse(ProblemType::Internal, e.to_string()))
}

/// The document of a published version: the one this process built, or its signed text read
/// back (it was signed here, so it is parsed, not verified).
async fn config_of(
    authority: &Authority,
    published: &crate::publish::Published,
) -> Result<Arc<GlobalConfig>, Refusal> {
    if let Some(config) = authority
        .publisher
        .latest_config()
        .filter(|c| c.version == published.version)
    {
        return Ok(config);
    }
    let document = published
        .document()
        .await
        .map_err(|e| refuse(ProblemType::Internal, e.to_string()))?;
    serde_json::from_slice::<psn_core::config::ConfigDocument>(&document)
        .map(|document| Arc::new(document.config))
        .map_err(|e| refuse(ProblemType::Internal, e.to_string()))
}

/// The services of `config` that `policy` exports of this network's own (those it relays have
/// their listings in the partners' views).
pub fn exported_services<'a>(
    config: &'a GlobalConfig,
    policy: &'a ExportPolicy,
) -> impl Iterator<Item = &'a ServiceEntry> + 'a {
    config
        .services
        .iter()
        .filter(|s| s.id.member().network() == &config.network && policy.exports_service(&s.id))
        .map(Arc::as_ref)
}

/// What `policy` lets `audience` see of `config`: this network's own names, its exported
/// members with their subsystems and gateways, the services listed, and those services'
/// catalogue listings among `listings` (searchable ones only, so the partner's catalogue never
/// shows what this one withholds; a listing the view's checks would refuse is left out rather
/// than costing the partner the whole view). Of what partners exported to this network, only
/// what `relays` (the partners' views as held) allow to be re-exported is relayed, and only
/// what the policy names by id: never the audience's own names, never what was relayed here.
pub fn build_view(
    config: &GlobalConfig,
    audience: &NetworkId,
    policy: &ExportPolicy,
    listings: &[ListingSource],
    relays: &[crate::store::Received],
    now: OffsetDateTime,
) -> View {
    let own = &config.network;
    let relayed: Vec<FederatedNetwork> = config
        .federation
        .iter()
        .filter(|f| f.via.is_none() && &f.network != audience)
        .filter(|f| {
            relays
                .iter()
                .any(|r| r.network == f.network && r.view.reexport)
        })
        .cloned()
        .collect();
    let exported = |member: &MemberId| {
        if member.network() == own {
            policy.exports_member(member)
        } else {
            relayed.iter().any(|r| &r.network == member.network()) && policy.relays_member(member)
        }
    };
    let services: Vec<ServiceEntry> = config
        .services
        .iter()
        .filter(|s| exported(s.id.member()) && policy.exports_service(&s.id))
        .map(|s| s.as_ref().clone())
        .collect();
    let listed: std::collections::BTreeSet<&ServiceId> = services.iter().map(|s| &s.id).collect();
    let own_listings = listings
        .iter()
        .filter(|s| s.searchable() && listed.contains(&s.record.id))
        .map(summary);
    let relayed_listings = relays
        .iter()
        .filter(|r| relayed.iter().any(|f| f.network == r.network))
        .flat_map(|r| r.view.listings.iter())
        .filter(|l| listed.contains(&l.service))
        .cloned();
    let listings = own_listings
        .chain(relayed_listings)
        .filter(|l| l.check().is_ok())
        .collect();
    let members: Vec<MemberEntry> = config
        .members
        .iter()
        .filter(|m| exported(&m.id))
        .map(|m| m.as_ref().clone())
        .collect();
    View {
        format: VIEW_FORMAT.to_owned(),
        network: own.clone(),
        audience: audience.clone(),
        version: config.version,
        issued_at: now,
        expires_at: config.expires_at,
        subsystems: config
            .subsystems
            .iter()
            .filter(|s| exported(s.member()))
            .map(|s| s.as_ref().clone())
            .collect(),
        gateways: config
            .gateways
            .iter()
            .filter(|g| exported(g.id.member()))
            .map(|g| g.as_ref().clone())
            .collect(),
        services,
        revoked_serials: config.revoked_serials.clone(),
        listings,
        reexport: policy.reexport,
        relayed: relayed
            .into_iter()
            .filter(|r| members.iter().any(|m| m.id.network() == &r.network))
            .collect(),
        members,
    }
}

/// A listing as a view carries it.
fn summary(source: &ListingSource) -> ListingSummary {
    let record = &source.record;
    let details = &record.details;
    ListingSummary {
        service: record.id.clone(),
        title: record.title.clone(),
        description: record.description.clone(),
        processes: record.processes.clone(),
        provider_name: source.provider_name.clone(),
        sector: source.sector.clone(),
        region: source.region.clone(),
        areas: details.areas.clone(),
        service_type: wire_name(&details.service_type),
        lifecycle: wire_name(&details.lifecycle),
        who_may_apply: wire_name(&details.who_may_apply),
        price: match &details.price {
            psn_api::Price::Free {} => None,
            psn_api::Price::PerUnit {
                min_pence,
                max_pence,
                unit,
                interval,
            } => Some(ListingPrice {
                min_pence: *min_pence,
                max_pence: *max_pence,
                unit: unit.clone(),
                interval: wire_name(interval),
            }),
        },
        published_at: source.published_at,
    }
}

/// Brings the catalogue up to date with a partner's change; a failure is logged, and the
/// catalogue's own task retries it.
async fn catalogue_catch_up(authority: &Authority) {
    if let Err(error) = authority
        .catalogue
        .catch_up(authority, OffsetDateTime::now_utc())
        .await
    {
        tracing::warn!(%error, "indexing a partner's listings failed; will retry");
    }
}

/// What one poll brought.
enum Polled {
    /// A newer view, verified and stored.
    New(u64),
    /// Nothing newer.
    Current,
    /// The partner is no longer imported.
    Gone,
}

/// Polls the partner's authority once (holding the request up to `wait`), at each of its
/// endpoints in order until one answers. Failures are recorded on the partner. `Ok(false)` once
/// the partner is no longer imported.
async fn poll(
    authority: &Arc<Authority>,
    network: &NetworkId,
    wait: Duration,
) -> Result<bool, String> {
    match poll_once(authority, network, wait).await {
        Ok(Polled::New(version)) => {
            tracing::info!(%network, version, "received a federated partner's configuration");
            if let Err(e) = authority.publisher.publish().await {
                tracing::error!(error = %e, "publishing after a partner's change failed; will retry");
            }
            Ok(true)
        }
        Ok(Polled::Current) => Ok(true),
        Ok(Polled::Gone) => Ok(false),
        Err(e) => {
            let now = OffsetDateTime::now_utc();
            if let Err(stored) = authority.store.partner_failed(network, &e, now).await {
                tracing::error!(error = %stored, "recording a partner's failure");
            }
            // Until a first view arrives the partner is pending, and refusals are expected
            // while its operator has not imported this network's anchor yet.
            let pending = matches!(
                authority.store.partner(network).await,
                Ok(Some(record)) if record.view.is_none()
            );
            if pending {
                tracing::info!(%network, error = %e, "a federated partner is pending: no view yet");
            } else {
                tracing::warn!(%network, error = %e, "polling a federated partner failed");
            }
            Err(e)
        }
    }
}

async fn poll_once(
    authority: &Arc<Authority>,
    network: &NetworkId,
    wait: Duration,
) -> Result<Polled, String> {
    let Some(record) = authority
        .store
        .partner(network)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(Polled::Gone);
    };
    let ca_der = ca_der(&record.partner.ca_certificate)?;
    let held = record.view.map(|(v, _)| v);
    let assertion = sign_assertion(authority, network, wait + Duration::from_secs(60))?;
    let mut failures = Vec::new();
    for endpoint in &record.partner.endpoints {
        let fetched = match AuthorityClient::partner(endpoint, &ca_der) {
            Ok(client) => {
                client
                    .federation_view(&assertion, held, wait, MAX_VIEW_BYTES)
                    .await
            }
            Err(e) => Err(e),
        };
        let jws = match fetched {
            Ok(ViewFetch::NotModified) => {
                authority
                    .store
                    .partner_current(network, OffsetDateTime::now_utc())
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(Polled::Current);
            }
            Ok(ViewFetch::View(jws)) => jws,
            Err(e) => {
                failures.push(format!("{endpoint}: {e}"));
                continue;
            }
        };
        let now = OffsetDateTime::now_utc();
        let view = psn_pki::verify_view(
            &jws,
            &ca_der,
            network,
            &authority.network,
            held,
            MAX_VIEW_BYTES,
            now,
        )
        .map_err(|e| format!("{endpoint}: {e}"))?;
        let held_view = authority
            .store
            .held_view(network)
            .await
            .map_err(|e| e.to_string())?;
        let republish = held_view
            .as_ref()
            .is_none_or(|held| !held.same_names(&view) || held.past_half_life(now));
        let accepted = authority
            .store
            .accept_view(network, &jws, &view, now, republish)
            .await
            .map_err(|e| e.to_string())?;
        if accepted {
            // Indexed before any publishing, so once a configuration trusts the partner's names
            // their listings are searchable; and indexed even when the names are the same, as a
            // view whose listings alone changed is kept without republishing.
            catalogue_catch_up(authority).await;
        }
        return Ok(if accepted && republish {
            Polled::New(view.version)
        } else {
            Polled::Current
        });
    }
    Err(failures.join("; "))
}

/// This network's signed request to `partner`'s authority, valid for `valid_for`.
fn sign_assertion(
    authority: &Authority,
    partner: &NetworkId,
    valid_for: Duration,
) -> Result<String, String> {
    let now = OffsetDateTime::now_utc();
    let assertion = Assertion {
        network: authority.network.clone(),
        audience: partner.clone(),
        issued_at: now,
        expires_at: now + valid_for,
    };
    authority
        .publisher
        .signer()
        .sign_assertion(&assertion)
        .map_err(|e| e.to_string())
}

/// The rows among `rows` (a gateway's batch, filed) that concern each partner: those naming a
/// partner's service (consumer side) or a partner's subsystem or gateway (provider side). A
/// network relayed to this one has no channel of its own here, so its rows stay here.
pub async fn forwarded(
    authority: &Authority,
    rows: &[AggregateRow],
) -> Result<Vec<(NetworkId, Vec<AggregateRow>)>, StoreError> {
    let own = authority.network.as_ref();
    if rows.iter().all(|row| row.other_network(own).is_none()) {
        return Ok(Vec::new());
    }
    let partners = authority.store.partner_networks().await?;
    let mut by_partner: BTreeMap<&NetworkId, Vec<AggregateRow>> = BTreeMap::new();
    for row in rows {
        let partner = row
            .other_network(own)
            .and_then(|network| partners.iter().find(|p| p.as_ref() == network));
        if let Some(partner) = partner {
            by_partner.entry(partner).or_default().push(row.clone());
        }
    }
    Ok(by_partner
        .into_iter()
        .map(|(partner, rows)| (partner.clone(), rows))
        .collect())
}

/// The aggregates queued for `requester` after outbox entry `after` (the last it stored).
pub async fn aggregates_for(
    authority: &Authority,
    requester: &Requester,
    after: u64,
) -> Result<ForwardedAggregates, Refusal> {
    Ok(ForwardedAggregates {
        items: authority
            .store
            .forwarded_for(&requester.network, after, MAX_FORWARDED_BATCHES)
            .await?,
    })
}

/// Why a partner's forwarded rows are refused, if they are: entries out of order or beyond the
/// page, a reporter that is not the partner's gateway, or a row that is malformed, not that
/// gateway's to report, or not about an exchange with this network. Public for the fuzz
/// targets (`fuzz/`), which feed it arbitrary answers.
#[doc(hidden)]
pub fn check_forwarded(
    own: &NetworkId,
    partner: &NetworkId,
    after: u64,
    answer: &ForwardedAggregates,
) -> Result<(), String> {
    if answer.items.len() > MAX_FORWARDED_BATCHES {
        return Err(format!(
            "{} entries; at most {MAX_FORWARDED_BATCHES}",
            answer.items.len()
        ));
    }
    let mut last = after;
    for batch in &answer.items {
        if batch.seq <= last {
            return Err(format!("entry {} does not follow entry {last}", batch.seq));
        }
        last = batch.seq;
        if batch.gateway.member().network() != partner {
            return Err(format!("{} is not a gateway of {partner}", batch.gateway));
        }
        if batch.rows.len() > psn_core::aggregate::MAX_BATCH_ROWS {
            return Err(format!("entry {} holds too many rows", batch.seq));
        }
        for row in &batch.rows {
            row.check()
                .and_then(|()| row.reported_by(&batch.gateway))
                .and_then(|()| match row.other_network(partner.as_ref()) {
                    Some(network) if network == own.as_ref() => Ok(()),
                    _ => Err(format!("a row does not concern {own}")),
                })
                .map_err(|why| format!("entry {}: {why}", batch.seq))?;
        }
    }
    Ok(())
}

/// Pulls one page of the aggregates `partner` forwards about exchanges with this network,
/// checks and files them, and stores them with the partner's new position. How many entries
/// came (a full page means more are waiting).
async fn pull_aggregates(authority: &Authority, partner: &NetworkId) -> Result<usize, String> {
    let (Some(after), Some(record)) = (
        authority
            .store
            .aggregates_after(partner)
            .await
            .map_err(|e| e.to_string())?,
        authority
            .store
            .partner(partner)
            .await
            .map_err(|e| e.to_string())?,
    ) else {
        return Ok(0);
    };
    let ca_der = ca_der(&record.partner.ca_certificate)?;
    let assertion = sign_assertion(authority, partner, Duration::from_secs(60))?;
    let mut failures = Vec::new();
    for endpoint in &record.partner.endpoints {
        let answer = match AuthorityClient::partner(endpoint, &ca_der) {
            Ok(client) => client.federation_aggregates(&assertion, after).await,
            Err(e) => Err(e),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(format!("{endpoint}: {e}"));
                continue;
            }
        };
        check_forwarded(&authority.network, partner, after, &answer)
            .map_err(|e| format!("{endpoint}: forwarded aggregates refused: {e}"))?;
        let mut filed = Vec::with_capacity(answer.items.len());
        for batch in answer.items {
            let rows =
                crate::filing::file_rows(authority, batch.rows, UnknownClient::FileAsUnknown)
                    .await
                    .map_err(|e| format!("filing forwarded aggregates: {e}"))?;
            filed.push(ForwardedBatch { rows, ..batch });
        }
        authority
            .store
            .accept_forwarded(partner, after, &filed)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(filed.len());
    }
    Err(failures.join("; "))
}

/// Pulls the partner's forwarded aggregates until a page is not full (at most 16 pages at a
/// time, so one busy partner cannot hold its follower); a failure is logged and retried with
/// the next poll.
async fn pull_all_aggregates(authority: &Authority, partner: &NetworkId) {
    for _ in 0..16 {
        match pull_aggregates(authority, partner).await {
            Ok(n) if n == MAX_FORWARDED_BATCHES => continue,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%partner, %error, "pulling a partner's aggregates failed; will retry");
                return;
            }
        }
    }
}

/// Follows one partner until it is removed or the authority stops: long polls back to back,
/// and after a failure retries with a backoff from 1 s up to one polling interval.
async fn follow(authority: Arc<Authority>, network: NetworkId) {
    let wait = authority.settings.federation.poll_wait;
    let mut backoff = Duration::from_secs(1);
    loop {
        match poll(&authority, &network, wait).await {
            Ok(true) => {
                backoff = Duration::from_secs(1);
                pull_all_aggregates(&authority, &network).await;
            }
            Ok(false) => return,
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(wait);
            }
        }
    }
}

/// Keeps one follower per imported partner until `shutdown`, and the partners' metrics current.
pub async fn run(authority: Arc<Authority>, mut shutdown: watch::Receiver<bool>) {
    let mut followers: HashMap<NetworkId, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let partners = match authority.store.partners().await {
            Ok(partners) => partners,
            Err(e) => {
                tracing::warn!(error = %e, "reading federated partners");
                continue;
            }
        };
        let now = OffsetDateTime::now_utc();
        let imported: HashMap<NetworkId, PartnerRecord> = partners
            .into_iter()
            .map(|p| (p.partner.network.clone(), p))
            .collect();
        followers.retain(|network, task| {
            let keep = imported.contains_key(network) && !task.is_finished();
            if !keep {
                task.abort();
                authority.metrics.forget_partner(network);
            }
            keep
        });
        for (network, record) in &imported {
            let state = freshness(record, &authority.settings.federation, now);
            authority.metrics.partner(network, &state);
            followers
                .entry(network.clone())
                .or_insert_with(|| tokio::spawn(follow(authority.clone(), network.clone())));
        }
    }
    for task in followers.values() {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::config::{AuthorityInfo, GatewayEntry, MemberEntry, MemberStatus, ServiceEntry};

    fn member(id: &str) -> MemberEntry {
        MemberEntry {
            id: id.parse().expect("member"),
            name: id.into(),
            status: MemberStatus::Active,
            sector: None,
            region: None,
        }
    }

    fn config() -> GlobalConfig {
        let now = OffsetDateTime::now_utc();
        GlobalConfig {
            format: psn_core::config::CONFIG_FORMAT.into(),
            network: "GB".parse().expect("network"),
            version: 9,
            issued_at: now,
            expires_at: now + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec![],
                ca_certificate: String::new(),
            },
            classes: vec![],
            members: [
                "GB-KENT/LA/E10000016",
                "GB/GOV/D6",
                "GB/LA/E10000014",
                "GB/NHS/RJ1",
            ]
            .map(|m| Arc::new(member(m)))
            .into_iter()
            .collect(),
            subsystems: [
                "GB-KENT/LA/E10000016/app",
                "GB/GOV/D6/eligibility",
                "GB/NHS/RJ1/pas",
            ]
            .iter()
            .map(|s| Arc::new(s.parse().expect("subsystem")))
            .collect(),
            gateways: [
                "GB-KENT/LA/E10000016@gw1",
                "GB/GOV/D6@gw1",
                "GB/NHS/RJ1@gw1",
            ]
            .iter()
            .map(|g| {
                Arc::new(GatewayEntry {
                    id: g.parse().expect("gateway"),
                    address: None,
                })
            })
            .collect(),
            services: [
                "GB/GOV/D6/eligibility/fsm-check",
                "GB/GOV/D6/eligibility/other",
            ]
            .iter()
            .map(|s| {
                Arc::new(ServiceEntry {
                    id: s.parse().expect("service"),
                    title: "t".into(),
                    processes: vec![],
                })
            })
            .collect(),
            federation: vec![],
            revoked_serials: vec!["0a".into()],
        }
    }

    #[test]
    fn a_view_carries_only_what_the_policy_exports_of_this_networks_own_names() {
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let nothing = build_view(
            &config(),
            &kent,
            &ExportPolicy::default(),
            &sources(),
            &[],
            OffsetDateTime::now_utc(),
        );
        assert!(
            nothing.members.is_empty()
                && nothing.gateways.is_empty()
                && nothing.services.is_empty()
                && nothing.listings.is_empty()
        );
        let policy = ExportPolicy {
            classes: vec!["NHS".parse().expect("class")],
            members: Default::default(),
            services: vec!["GB/GOV/D6/eligibility/fsm-check".parse().expect("service")],
            reexport: false,
        };
        let view = build_view(
            &config(),
            &kent,
            &policy,
            &sources(),
            &[],
            OffsetDateTime::now_utc(),
        );
        let ids: Vec<String> = view.members.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(
            ids,
            ["GB/GOV/D6", "GB/NHS/RJ1"],
            "the partner's own and unlisted members stay out"
        );
        assert_eq!(view.gateways.len(), 2);
        assert_eq!(view.services.len(), 1, "only the listed service of D6");
        let listed: Vec<String> = view
            .listings
            .iter()
            .map(|l| l.service.to_string())
            .collect();
        assert_eq!(
            listed,
            ["GB/GOV/D6/eligibility/fsm-check"],
            "only the exported service's listing"
        );
        let listing = &view.listings[0];
        assert_eq!(listing.provider_name, "Department for Education");
        assert_eq!(listing.lifecycle, "live");
        assert_eq!(listing.who_may_apply, "any-member");
        let price = listing.price.as_ref().expect("a per-unit price");
        assert_eq!((price.max_pence, price.interval.as_str()), (5, "month"));
        assert_eq!(view.version, 9);
        assert!(view
            .check(
                &"GB".parse().expect("n"),
                &kent,
                None,
                OffsetDateTime::now_utc()
            )
            .is_ok());
    }

    fn federated(network: &str, via: Option<&str>) -> FederatedNetwork {
        FederatedNetwork {
            network: network.parse().expect("network"),
            ca_certificate: format!("{network} CA"),
            version: 5,
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(1),
            revoked_serials: vec![],
            via: via.map(|v| v.parse().expect("network")),
        }
    }

    /// GB's configuration holding Kent's names (a partner) and Yorkshire's (relayed to GB).
    fn hub_config() -> GlobalConfig {
        let mut config = config();
        config
            .members
            .push(Arc::new(member("GB-YORKS/LA/E08000016")));
        for service in [
            "GB-KENT/LA/E10000016/app/claims",
            "GB-YORKS/LA/E08000016/app/claims",
        ] {
            config.services.push(Arc::new(ServiceEntry {
                id: service.parse().expect("service"),
                title: "Claims".into(),
                processes: vec![],
            }));
        }
        config.federation = vec![
            federated("GB-KENT", None),
            federated("GB-YORKS", Some("GB-NORTH")),
        ];
        config
    }

    /// Kent's view as GB holds it, re-export allowed or not.
    fn kent_view(reexport: bool) -> crate::store::Received {
        let now = OffsetDateTime::now_utc();
        let mut listing = summary(&source("GB/GOV/D6/eligibility/fsm-check", "Claims"));
        listing.service = "GB-KENT/LA/E10000016/app/claims".parse().expect("service");
        crate::store::Received {
            network: "GB-KENT".parse().expect("network"),
            ca_certificate: "GB-KENT CA".into(),
            view: View {
                format: VIEW_FORMAT.into(),
                network: "GB-KENT".parse().expect("network"),
                audience: "GB".parse().expect("network"),
                version: 5,
                issued_at: now,
                expires_at: now + time::Duration::days(1),
                members: vec![member("GB-KENT/LA/E10000016")],
                subsystems: Default::default(),
                gateways: Default::default(),
                services: Default::default(),
                revoked_serials: vec![],
                listings: vec![listing],
                reexport,
                relayed: vec![],
            },
        }
    }

    #[test]
    fn a_view_relays_a_partners_names_only_when_the_partner_allows_it_and_the_policy_names_them() {
        let hants: NetworkId = "GB-HANTS".parse().expect("network");
        let policy = ExportPolicy {
            classes: vec!["LA".parse().expect("class")],
            members: vec![
                "GB-KENT/LA/E10000016".parse().expect("member"),
                "GB-YORKS/LA/E08000016".parse().expect("member"),
            ],
            services: vec![
                "GB-KENT/LA/E10000016/app/claims".parse().expect("service"),
                "GB-YORKS/LA/E08000016/app/claims".parse().expect("service"),
            ],
            reexport: false,
        };
        let now = OffsetDateTime::now_utc();
        let view = build_view(&hub_config(), &hants, &policy, &[], &[kent_view(true)], now);
        let ids: Vec<String> = view.members.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(
            ids,
            ["GB-KENT/LA/E10000016", "GB/LA/E10000014"],
            "Kent by id and GB's own LA class; Yorkshire was relayed to GB and goes no further"
        );
        let relayed: Vec<String> = view.relayed.iter().map(|r| r.network.to_string()).collect();
        assert_eq!(relayed, ["GB-KENT"]);
        assert_eq!(view.relayed[0].ca_certificate, "GB-KENT CA");
        let services: Vec<String> = view.services.iter().map(|s| s.id.to_string()).collect();
        assert_eq!(services, ["GB-KENT/LA/E10000016/app/claims"]);
        assert_eq!(
            view.listings.len(),
            1,
            "Kent's listing travels with its service"
        );
        assert_eq!(
            view.check(&"GB".parse().expect("n"), &hants, None, now),
            Ok(())
        );

        let refused = build_view(
            &hub_config(),
            &hants,
            &policy,
            &[],
            &[kent_view(false)],
            now,
        );
        assert!(
            refused.relayed.is_empty()
                && refused
                    .members
                    .iter()
                    .all(|m| m.id.network().as_ref() == "GB"),
            "Kent did not allow re-export: {:?}",
            refused.members
        );
        let back = build_view(
            &hub_config(),
            &"GB-KENT".parse().expect("network"),
            &policy,
            &[],
            &[kent_view(true)],
            now,
        );
        assert!(
            back.relayed.is_empty(),
            "Kent's names are never relayed to Kent"
        );
    }

    fn source(id: &str, title: &str) -> ListingSource {
        ListingSource {
            record: crate::store::ServiceRecord {
                id: id.parse().expect("service"),
                title: title.into(),
                description: "Whether a child may have free school meals.".into(),
                processes: vec!["lgsl:4".into()],
                details: psn_api::ListingDetails {
                    price: psn_api::Price::PerUnit {
                        min_pence: 1,
                        max_pence: 5,
                        unit: "check".into(),
                        interval: psn_api::PriceInterval::Month,
                    },
                    ..psn_api::ListingDetails::default()
                },
            },
            published_at: OffsetDateTime::UNIX_EPOCH,
            provider_name: "Department for Education".into(),
            provider_status: MemberStatus::Active,
            services_withheld: false,
            sector: None,
            region: None,
        }
    }

    /// The listings of both of D6's services (the policies above export only the first).
    fn sources() -> Vec<ListingSource> {
        vec![
            source("GB/GOV/D6/eligibility/fsm-check", "FSM check"),
            source("GB/GOV/D6/eligibility/other", "Other"),
        ]
    }

    #[test]
    fn a_view_leaves_out_listings_withheld_or_too_big_for_the_partner() {
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let policy = ExportPolicy {
            services: vec![
                "GB/GOV/D6/eligibility/fsm-check".parse().expect("service"),
                "GB/GOV/D6/eligibility/other".parse().expect("service"),
            ],
            ..ExportPolicy::default()
        };
        let mut withheld = source("GB/GOV/D6/eligibility/fsm-check", "FSM check");
        withheld.services_withheld = true;
        let oversized = source(
            "GB/GOV/D6/eligibility/other",
            &"x".repeat(psn_core::federation::MAX_LISTING_TITLE + 1),
        );
        let view = build_view(
            &config(),
            &kent,
            &policy,
            &[withheld, oversized],
            &[],
            OffsetDateTime::now_utc(),
        );
        assert_eq!(view.services.len(), 2, "both services are still exported");
        assert!(view.listings.is_empty(), "{:?}", view.listings);
        let gb: NetworkId = "GB".parse().expect("network");
        assert!(view
            .check(&gb, &kent, None, OffsetDateTime::now_utc())
            .is_ok());
    }

    fn forwarded_row(side: psn_core::aggregate::Side, service: &str, client: &str) -> AggregateRow {
        AggregateRow {
            key: psn_core::aggregate::AggregateKey {
                minute: 29_000_000,
                side,
                kind: psn_core::aggregate::SampleKind::Exchange,
                service: service.into(),
                client: client.into(),
                outcome: psn_core::aggregate::Outcome::Ok,
            },
            counts: psn_core::aggregate::AggregateCounts::default(),
        }
    }

    #[test]
    fn forwarded_rows_must_be_the_partners_gateways_own_and_about_this_network() {
        use psn_core::aggregate::Side::{Consumer, Provider};
        let gb: NetworkId = "GB".parse().expect("network");
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let kent_gateway = "GB-KENT/LA/E10000016@gw1";
        let answer = |gateway: &str, rows: Vec<AggregateRow>| ForwardedAggregates {
            items: vec![ForwardedBatch {
                seq: 8,
                gateway: gateway.parse().expect("gateway"),
                rows,
            }],
        };
        // Kent's consumer calling DfE, and Kent's provider answering DfE's subsystem.
        let good = answer(
            kent_gateway,
            vec![
                forwarded_row(
                    Consumer,
                    "GB/GOV/D6/eligibility/fsm-check",
                    "GB-KENT/LA/E10000016/revenues",
                ),
                forwarded_row(
                    Provider,
                    "GB-KENT/LA/E10000016/revenues/claims",
                    "GB/GOV/D6/eligibility",
                ),
            ],
        );
        assert_eq!(check_forwarded(&gb, &kent, 7, &good), Ok(()));
        assert!(
            check_forwarded(&gb, &kent, 8, &good).is_err(),
            "entry 8 was stored already"
        );
        let refused = [
            (
                "a gateway of another network",
                answer(
                    "GB-YORKS/LA/E08000016@gw1",
                    vec![forwarded_row(
                        Consumer,
                        "GB/GOV/D6/eligibility/fsm-check",
                        "GB-YORKS/LA/E08000016/app",
                    )],
                ),
            ),
            (
                "a row about Kent alone",
                answer(
                    kent_gateway,
                    vec![forwarded_row(
                        Consumer,
                        "GB-KENT/LA/E06000035/app/x",
                        "GB-KENT/LA/E10000016/revenues",
                    )],
                ),
            ),
            (
                "another member's subsystem as Kent's consumer",
                answer(
                    kent_gateway,
                    vec![forwarded_row(
                        Consumer,
                        "GB/GOV/D6/eligibility/fsm-check",
                        "GB-KENT/LA/E06000035/app",
                    )],
                ),
            ),
            (
                "a provider row for a service of another member",
                answer(
                    kent_gateway,
                    vec![forwarded_row(
                        Provider,
                        "GB-KENT/LA/E06000035/app/x",
                        "GB/GOV/D6/eligibility",
                    )],
                ),
            ),
            (
                "a malformed service",
                answer(
                    kent_gateway,
                    vec![forwarded_row(
                        Consumer,
                        "GB/not a service",
                        "GB-KENT/LA/E10000016/revenues",
                    )],
                ),
            ),
        ];
        for (what, hostile) in refused {
            assert!(check_forwarded(&gb, &kent, 0, &hostile).is_err(), "{what}");
        }
        let too_many = ForwardedAggregates {
            items: (1..=MAX_FORWARDED_BATCHES as u64 + 1)
                .map(|seq| ForwardedBatch {
                    seq,
                    gateway: kent_gateway.parse().expect("gateway"),
                    rows: vec![],
                })
                .collect(),
        };
        assert!(check_forwarded(&gb, &kent, 0, &too_many).is_err());
        let mut backwards = good.clone();
        backwards.items.push(ForwardedBatch {
            seq: 8,
            ..good.items[0].clone()
        });
        assert!(
            check_forwarded(&gb, &kent, 0, &backwards).is_err(),
            "entries in order, once"
        );
    }

    #[test]
    fn freshness_is_never_active_on_an_expired_view_and_degrades_after_missed_polls() {
        let now = OffsetDateTime::now_utc();
        let settings = FederationSettings {
            poll_wait: Duration::from_secs(10),
            missed_polls: 3,
        };
        let record =
            |view: Option<(u64, OffsetDateTime)>, success: Option<OffsetDateTime>| PartnerRecord {
                partner: NewPartner {
                    network: "GB".parse().expect("network"),
                    anchor: String::new(),
                    fingerprint: String::new(),
                    endpoints: vec![],
                    ca_certificate: String::new(),
                    policy: ExportPolicy::default(),
                },
                imported_at: now,
                imported_by: "operator".into(),
                view,
                last_success_at: success,
                last_error: None,
            };
        let later = now + time::Duration::days(1);
        let state = |r: &PartnerRecord| freshness(r, &settings, now).state;
        assert_eq!(state(&record(None, None)), FreshnessState::Pending);
        assert_eq!(
            state(&record(
                Some((3, later)),
                Some(now - time::Duration::seconds(30))
            )),
            FreshnessState::Active
        );
        assert_eq!(
            state(&record(
                Some((3, later)),
                Some(now - time::Duration::seconds(32))
            )),
            FreshnessState::Degraded
        );
        assert_eq!(
            state(&record(Some((3, now)), Some(now))),
            FreshnessState::Expired
        );
    }
}
