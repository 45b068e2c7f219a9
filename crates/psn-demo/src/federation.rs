//! The demo's regional network (docs/federation.md): `GB-KENT`, with its own authority, federated
//! with the national `GB`. Kent County Council's regional gateway calls the Department for
//! Education's eligibility check across the federation; Medway Council is a member Kent's network
//! does not export, so GB never hears of it. The two authorities exchange anchors the way two
//! operators would (export, confirm the fingerprint, import), then each follows the other's view.

use crate::{setup, DemoError, DemoMember};
use psn_api::{AuthorityClient, ExportPolicy, NewGrant, NewMember, NewSubsystem, PartnerImport};
use psn_authority::datadir::DataDir;
use psn_core::names::{MemberId, NetworkId, ServiceId};
use psn_gateway::GatewayDir;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The regional network's id.
pub const REGION: &str = "GB-KENT";
/// Kent County Council on the regional network.
pub const KENT: &str = "GB-KENT/LA/E10000016";
/// A regional member Kent's network keeps to itself.
const MEDWAY: &str = "GB-KENT/LA/E06000035";

/// What the demo says about the regional network.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRegion {
    /// `GB-KENT`.
    pub network: NetworkId,
    /// Its authority's API URL.
    pub authority: String,
    /// Its authority's data directory (`psn federation list --data-dir` it).
    pub data_dir: PathBuf,
}

/// The regional network, set up and federated, its gateway enrolled but not started.
pub(crate) struct Region {
    pub(crate) info: DemoRegion,
    pub(crate) authority: psn_authority::Running,
    pub(crate) member: DemoMember,
    pub(crate) gateway: crate::EnrolledGateway,
}

/// Starts `GB-KENT`'s authority in `dir`, registers Kent and Medway, enrols Kent's gateway,
/// grants Kent's revenues team the eligibility check on DfE's gateway (`dfe`), and federates the
/// two networks: GB exports the check, GB-KENT exports Kent. Returns once each authority has
/// published the other's names.
pub(crate) async fn start(
    dir: &Path,
    gb: &psn_authority::Running,
    gb_operator: &AuthorityClient,
    dfe: &GatewayDir,
    fsm: &ServiceId,
    monitoring: bool,
) -> Result<Region, DemoError> {
    let data = DataDir::new(dir.join("authority-kent"));
    let network: NetworkId = REGION.parse().map_err(setup("network"))?;
    let report = psn_authority::init(&data, network.clone(), None)
        .await
        .map_err(setup("initialising GB-KENT's authority"))?;
    let authority = psn_authority::start(
        &data,
        psn_authority::ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
        },
    )
    .await
    .map_err(setup("starting GB-KENT's authority"))?;
    let operator = AuthorityClient::operator(
        &authority.url,
        authority.authority.ca.certificate_der(),
        &report.operator_token,
    )
    .map_err(setup("GB-KENT operator client"))?;
    for (id, name) in [(KENT, "Kent County Council"), (MEDWAY, "Medway Council")] {
        operator
            .add_member(&NewMember {
                id: id.parse().map_err(setup("member"))?,
                name: name.into(),
                sector: Some("local-government".into()),
                region: Some("South East".into()),
            })
            .await
            .map_err(setup("adding a regional member"))?;
    }
    let kent: MemberId = KENT.parse().map_err(setup("member"))?;
    operator
        .add_subsystem(
            &kent,
            &NewSubsystem {
                code: "revenues".parse().map_err(setup("subsystem"))?,
            },
        )
        .await
        .map_err(setup("adding Kent's subsystem"))?;
    let (member, gateway) = crate::enrol_gateway(
        dir,
        &operator,
        &kent,
        "Kent County Council (regional network)".into(),
        &["revenues".to_owned()],
        monitoring,
    )
    .await?;
    psn_gateway::admin::grant(
        dfe,
        NewGrant {
            service: fsm.clone(),
            grantee: format!("{KENT}/revenues")
                .parse()
                .map_err(setup("grantee"))?,
            method: Some("GET".into()),
            path: Some("/check".into()),
        },
    )
    .await
    .map_err(setup("granting Kent's regional gateway"))?;

    federate(
        gb_operator,
        &operator,
        ExportPolicy {
            services: vec![fsm.clone()],
            ..Default::default()
        },
    )
    .await
    .map_err(setup("GB importing GB-KENT's anchor"))?;
    federate(
        &operator,
        gb_operator,
        ExportPolicy {
            members: vec![kent.clone()],
            ..Default::default()
        },
    )
    .await
    .map_err(setup("GB-KENT importing GB's anchor"))?;
    published(gb, "Kent County Council's regional gateway", |c| {
        c.gateways.iter().any(|g| g.id.member() == &kent)
    })
    .await?;
    published(&authority, "the eligibility check", |c| {
        c.services.iter().any(|s| &s.id == fsm)
    })
    .await?;
    Ok(Region {
        info: DemoRegion {
            network,
            authority: authority.url.clone(),
            data_dir: data.root().to_path_buf(),
        },
        authority,
        member,
        gateway,
    })
}

/// `importer` imports the anchor `exporter` signs, after checking its fingerprint the way an
/// operator would read it out, and exports `policy` to it.
async fn federate(
    importer: &AuthorityClient,
    exporter: &AuthorityClient,
    policy: ExportPolicy,
) -> Result<(), psn_api::ClientError> {
    let anchor = exporter.federation_anchor(30).await?;
    importer
        .import_partner(&PartnerImport {
            anchor: anchor.anchor,
            fingerprint: anchor.fingerprint,
            policy,
        })
        .await
        .map(drop)
}

/// Waits (at most 30 s) until `authority` has published a configuration that `holds`.
async fn published(
    authority: &psn_authority::Running,
    what: &str,
    holds: impl Fn(&psn_core::config::GlobalConfig) -> bool,
) -> Result<(), DemoError> {
    let publisher = &authority.authority.publisher;
    let mut versions = publisher.subscribe();
    let wait = async {
        loop {
            if publisher.latest_config().is_some_and(|c| holds(&c)) {
                return Ok(());
            }
            if versions.changed().await.is_err() {
                return Err(DemoError::Setup(format!("{what}: the publisher stopped")));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .map_err(|_| {
            DemoError::Setup(format!(
                "{what} did not reach the other network within 30 s"
            ))
        })?
}
