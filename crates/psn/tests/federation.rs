//! Federation end to end (docs/federation.md): two networks, each with its own authority, the
//! national `GB` and the regional `GB-KENT`, join by importing each other's signed anchors. Kent
//! County Council's gateway in `GB-KENT` calls the Department for Education's service in `GB`
//! over mutual TLS checked against each partner's CA; both statements verify and both audit logs
//! verify offline. Hostile anchors are refused at import, a member not exported is unknown to the
//! partner, suspension and removal reach the other network's gateways, and a partner authority
//! that stops leaves calls working on its last good configuration while its state degrades.
//! A third network, `GB-HANTS`, reaches Kent through GB when Kent allows GB to re-export it.

mod common;

use common::backend;
use common::federation::{network, new_member, start_at, Network};
use psn_api::{
    ExportPolicy, FreshnessState, NewGrant, NewMember, PartnerImport, ServiceListing, StatusChange,
};
use psn_authority::datadir::DataDir;
use psn_core::names::{MemberId, NetworkId};
use psn_gateway::{GatewayDir, RunningGateway};
use std::net::SocketAddr;
use std::time::Duration;

const DFE: &str = "GB/GOV/D6";
const KENT: &str = "GB-KENT/LA/E10000016";
const MEDWAY: &str = "GB-KENT/LA/E06000035";
const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";

/// Publishes `service` (titled `title`, answered by `backend`) on the gateway in `dir` and
/// grants it to `grantee`, a subsystem of any network.
async fn provide(dir: &GatewayDir, service: &str, title: &str, backend: &str, grantee: &str) {
    psn_gateway::admin::add_service(
        dir,
        ServiceListing {
            id: service.parse().expect("service"),
            title: title.into(),
            description: String::new(),
            processes: vec!["lgsl:4".into()],
            details: Default::default(),
        },
        backend.to_owned(),
        None,
        None,
    )
    .await
    .expect("publish service");
    psn_gateway::admin::grant(
        dir,
        NewGrant {
            service: service.parse().expect("service"),
            grantee: grantee.parse().expect("grantee"),
            method: None,
            path: None,
        },
    )
    .await
    .expect("grant");
}

/// Waits until a running gateway's configuration satisfies `done`.
async fn gateway_holds(
    gateway: &RunningGateway,
    what: &str,
    done: impl Fn(&psn_core::config::GlobalConfig) -> bool,
) {
    let mut view = gateway.shared.view.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if done(&view.borrow().config) {
                return;
            }
            view.changed().await.expect("gateway alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gateway: {what} within 20 s"));
}

fn lists_member(config: &psn_core::config::GlobalConfig, id: &str) -> bool {
    config.members.iter().any(|m| m.id.to_string() == id)
}

async fn call(internal: SocketAddr, client: &str) -> reqwest::Response {
    call_service(internal, SERVICE, client).await
}

async fn call_service(internal: SocketAddr, service: &str, client: &str) -> reqwest::Response {
    common::client()
        .get(format!("http://{internal}/r1/{service}/echo"))
        .header("PSN-Client", client)
        .send()
        .await
        .expect("call")
}

async fn psn(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(&args)
            .env("PSN_LOG", "error")
            .output()
            .expect("run psn")
    })
    .await
    .expect("psn ran")
}

/// `psn audit verify` passes on each gateway's log, offline.
async fn audit_logs_verify(dirs: &[&GatewayDir]) {
    for dir in dirs {
        let out = psn(vec![
            "audit".into(),
            "verify".into(),
            dir.root().display().to_string(),
        ])
        .await;
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Moves the expiry `data`'s authority holds for `partner`'s configuration an hour into the
/// past, as it would stand once that long had passed without a word from the partner, and moves
/// the registry generation so the next configuration carries it.
async fn expire_partner(data: &DataDir, partner: &str) {
    use sqlx::Connection;
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let text = past
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let ms = i64::try_from(past.unix_timestamp_nanos() / 1_000_000).expect("ms");
    let url = format!("sqlite://{}", data.root().join("authority.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("database");
    sqlx::query(
        "UPDATE federation_partners SET view_expires_at = $1, \
         view_payload = json_set(view_payload, '$.expires_at', $2) WHERE network = $3",
    )
    .bind(ms)
    .bind(text)
    .bind(partner)
    .execute(&mut db)
    .await
    .expect("expire");
    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'registry'")
        .execute(&mut db)
        .await
        .expect("generation");
}

/// The (side, service, client) of every aggregate row `data`'s authority stored.
async fn aggregate_rows(data: &DataDir) -> Vec<(String, String, String)> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.root().join("authority.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("database");
    sqlx::query_as("SELECT side, service_id, client FROM aggregate_rows")
        .fetch_all(&mut db)
        .await
        .expect("rows")
}

/// Waits until `data`'s authority holds a row `partner` forwarded with this (side, service,
/// client).
async fn forwarded_row_arrives(data: &DataDir, partner: &str, row: &(String, String, String)) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.root().join("authority.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("database");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT side, service_id, client FROM federated_aggregate_rows WHERE partner = $1",
            )
            .bind(partner)
            .fetch_all(&mut db)
            .await
            .expect("rows");
            if rows.contains(row) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{partner}'s {row:?} forwarded within 20 s"));
}

fn tampered(anchor: &str) -> String {
    // Flip one character of the payload: the signature no longer covers it.
    let mut parts: Vec<String> = anchor.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let flipped = if payload.ends_with('A') { 'B' } else { 'A' };
    payload.pop();
    payload.push(flipped);
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_networks_call_each_other_as_if_local_and_keep_every_guarantee() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut locks = Vec::new();
    let gb = network(tmp.path(), "GB").await;
    let mut kent = network(tmp.path(), "GB-KENT").await;
    let (backend, _) = backend().await;

    let (dfe_dir, _) = gb
        .member(
            tmp.path(),
            new_member(DFE, "Department for Education"),
            "eligibility",
            &mut locks,
        )
        .await;
    provide(
        &dfe_dir,
        SERVICE,
        "FSM check",
        &backend,
        &format!("{KENT}/revenues"),
    )
    .await;
    let (kent_dir, kent_internal) = kent
        .member(
            tmp.path(),
            new_member(KENT, "Kent County Council"),
            "revenues",
            &mut locks,
        )
        .await;
    kent.operator
        .add_member(&NewMember {
            id: MEDWAY.parse().expect("member"),
            name: "Medway Council".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("medway");

    // Anchors: exported, then hostile imports refused, changing nothing.
    let gb_anchor = gb.operator.federation_anchor(30).await.expect("GB anchor");
    let kent_anchor = kent
        .operator
        .federation_anchor(30)
        .await
        .expect("Kent anchor");
    let import = |anchor: &str, fingerprint: &str, policy: ExportPolicy| PartnerImport {
        anchor: anchor.to_owned(),
        fingerprint: fingerprint.to_owned(),
        policy,
    };
    for (hostile, why) in [
        (
            import(
                &gb_anchor.anchor,
                &gb_anchor.fingerprint,
                ExportPolicy::default(),
            ),
            "this network's own",
        ),
        (
            import(
                &kent_anchor.anchor,
                &gb_anchor.fingerprint,
                ExportPolicy::default(),
            ),
            "fingerprint",
        ),
        (
            import(
                &tampered(&kent_anchor.anchor),
                &kent_anchor.fingerprint,
                ExportPolicy::default(),
            ),
            "anchor refused",
        ),
        (
            import(
                "not an anchor",
                &kent_anchor.fingerprint,
                ExportPolicy::default(),
            ),
            "anchor refused",
        ),
        (
            import(
                &kent_anchor.anchor,
                &kent_anchor.fingerprint,
                ExportPolicy {
                    members: vec![KENT.parse().expect("member")],
                    ..Default::default()
                },
            ),
            "neither of network GB",
        ),
    ] {
        let refused = gb
            .operator
            .import_partner(&hostile)
            .await
            .expect_err("refused");
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }
    assert!(gb
        .operator
        .partners()
        .await
        .expect("partners")
        .items
        .is_empty());

    // The real imports, each exporting only what the other needs.
    let gb_exports = ExportPolicy {
        services: vec![SERVICE.parse().expect("service")],
        ..Default::default()
    };
    gb.operator
        .import_partner(&import(
            &kent_anchor.anchor,
            &kent_anchor.fingerprint,
            gb_exports,
        ))
        .await
        .expect("GB imports GB-KENT");
    let kent_exports = ExportPolicy {
        members: vec![KENT.parse().expect("member")],
        ..Default::default()
    };
    kent.operator
        .import_partner(&import(
            &gb_anchor.anchor,
            &gb_anchor.fingerprint,
            kent_exports,
        ))
        .await
        .expect("GB-KENT imports GB");
    gb.published("lists Kent County Council", |c| lists_member(c, KENT))
        .await;
    kent.published("lists DfE's service", |c| {
        c.services.iter().any(|s| s.id.to_string() == SERVICE)
    })
    .await;
    let gb_config = gb
        .running()
        .authority
        .publisher
        .latest_config()
        .expect("config");
    assert!(
        !lists_member(&gb_config, MEDWAY),
        "a member not exported is unknown to the partner"
    );
    let partner = gb.operator.partner_view(&kent.id).await.expect("partner");
    assert_eq!(partner.freshness.state, FreshnessState::Active);
    assert_eq!(partner.received.members, 1);

    // A change on one side that exports nothing new reaches the partner as a new view version
    // but does not make it republish (and so cannot bounce back and forth between the two).
    let version = |n: &Network| n.running().authority.publisher.current().map(|p| p.version);
    let kent_before = version(&kent);
    gb.operator
        .add_member(&NewMember {
            id: "GB/LA/E10000012".parse().expect("member"),
            name: "Essex County Council".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("essex");
    let gb_now = version(&gb).expect("GB published");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let held = kent.operator.partner_view(&gb.id).await.expect("partner");
            if held.freshness.version >= Some(gb_now) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("GB-KENT holds GB's latest view");
    assert_eq!(version(&kent), kent_before, "GB-KENT did not republish");
    assert_eq!(version(&gb), Some(gb_now), "nor did GB in return");

    // Gateways of both networks, each following only its own authority.
    for dir in [&dfe_dir, &kent_dir] {
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
    let dfe = psn_gateway::start(&dfe_dir).await.expect("DfE gateway");
    let kent_gw = psn_gateway::start(&kent_dir).await.expect("Kent gateway");
    gateway_holds(&dfe, "trusts Kent's gateway", |c| lists_member(c, KENT)).await;

    let client = format!("{KENT}/revenues");
    let answer = call(kent_internal, &client).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    // A subsystem Kent did not register is refused by Kent's own gateway; nothing crosses.
    let stranger = call(kent_internal, &format!("{KENT}/payroll")).await;
    assert_eq!(stranger.status(), 403);

    // Both audit logs verify offline, the partner's statements checked against its CA from the
    // configuration history kept with each log.
    kent_gw.stop().await;
    dfe.stop().await;
    audit_logs_verify(&[&kent_dir, &dfe_dir]).await;
    // Stopping delivered each gateway's aggregates to its own authority: both file the
    // cross-network exchange under its real names. Each forwards its side to the other, which
    // pulls it with its next poll, so both hold both sides and can report on them.
    let exchange = |side: &str| (side.to_owned(), SERVICE.to_owned(), client.clone());
    let kent_rows = aggregate_rows(&kent.data).await;
    assert!(kent_rows.contains(&exchange("consumer")), "{kent_rows:?}");
    let gb_rows = aggregate_rows(&gb.data).await;
    assert!(gb_rows.contains(&exchange("provider")), "{gb_rows:?}");
    forwarded_row_arrives(&gb.data, "GB-KENT", &exchange("consumer")).await;
    forwarded_row_arrives(&kent.data, "GB", &exchange("provider")).await;
    let dfe = psn_gateway::start(&dfe_dir)
        .await
        .expect("DfE gateway again");
    let kent_gw = psn_gateway::start(&kent_dir)
        .await
        .expect("Kent gateway again");

    // Suspending the consumer in its own network reaches the provider's gateway in the other.
    let kent_member: MemberId = KENT.parse().expect("member");
    kent.operator
        .suspend_member(&kent_member, &StatusChange { reason: None })
        .await
        .expect("suspend");
    gateway_holds(&dfe, "refuses the suspended member's gateway", |c| {
        c.members
            .iter()
            .any(|m| m.id == kent_member && m.status == psn_core::config::MemberStatus::Suspended)
            && !c.gateways.iter().any(|g| g.id.member() == &kent_member)
    })
    .await;
    kent.operator
        .reinstate_member(&kent_member, &StatusChange { reason: None })
        .await
        .expect("reinstate");
    gateway_holds(&dfe, "trusts Kent again", |c| {
        c.gateways.iter().any(|g| g.id.member() == &kent_member)
    })
    .await;
    gateway_holds(&kent_gw, "Kent active again", |c| {
        c.members
            .iter()
            .any(|m| m.id == kent_member && m.status == psn_core::config::MemberStatus::Active)
    })
    .await;
    let answer = call(kent_internal, &client).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    // The partner's authority stops: calls continue on the last good configuration, and the
    // partner's state turns degraded, never active on stale data.
    let kent_address = kent.running().local_addr;
    kent.authority.take().expect("running").stop().await;
    let gb_op = gb.operator.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let p = gb_op
                .partner_view(&"GB-KENT".parse().expect("n"))
                .await
                .expect("partner");
            if p.freshness.state == FreshnessState::Degraded {
                assert!(p.freshness.last_error.is_some(), "{p:?}");
                return;
            }
            assert_eq!(p.freshness.state, FreshnessState::Active);
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("degraded within 20 s");
    let answer = call(kent_internal, &client).await;
    assert_eq!(
        answer.status(),
        200,
        "calls continue while the partner authority is down"
    );

    // Time passes beyond the partner's expiry while its authority stays down. Seven days are
    // not waited for: the expiry GB holds for GB-KENT's configuration is moved into the past in
    // GB's database, exactly as it would stand then, and the registry generation moved so GB
    // publishes. Cross-network calls then fail closed, naming the cause; GB's own traffic is
    // untouched (its configuration is current).
    expire_partner(&gb.data, "GB-KENT").await;
    let kent_network: NetworkId = "GB-KENT".parse().expect("network");
    gateway_holds(&dfe, "holds GB-KENT as expired", |c| {
        c.federation
            .iter()
            .any(|f| f.network == kent_network && !f.is_valid_at(time::OffsetDateTime::now_utc()))
    })
    .await;
    let answer = call(kent_internal, &client).await;
    assert_eq!(answer.status(), 503);
    let body = answer.text().await.expect("body");
    assert!(
        body.contains("urn:psn:problem:partner-config-expired"),
        "{body}"
    );
    let partner = gb
        .operator
        .partner_view(&kent_network)
        .await
        .expect("partner");
    assert_eq!(partner.freshness.state, FreshnessState::Expired);

    // The partner's authority returns at its address: a fresh view arrives and calls cross
    // again.
    kent.authority = Some(start_at(&kent.data, kent_address).await);
    gateway_holds(&dfe, "holds a current GB-KENT", |c| {
        c.federation
            .iter()
            .any(|f| f.network == kent_network && f.is_valid_at(time::OffsetDateTime::now_utc()))
    })
    .await;
    let answer = call(kent_internal, &client).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    // Removing the federation stops cross-network calls.
    gb.operator.remove_partner(&kent.id).await.expect("remove");
    gateway_holds(&dfe, "forgets Kent", |c| {
        c.federation.is_empty() && !lists_member(c, KENT)
    })
    .await;
    let answer = call(kent_internal, &client).await;
    assert_ne!(answer.status(), 200, "no call crosses a removed federation");
    let events = gb.operator.events(0, 1000).await.expect("events");
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"federation.import") && actions.contains(&"federation.remove"),
        "{actions:?}"
    );

    kent_gw.stop().await;
    dfe.stop().await;
    for net in [gb, kent] {
        net.stop().await;
    }
}

const HAMPSHIRE: &str = "GB-HANTS/LA/E10000014";
const CLAIMS: &str = "GB-KENT/LA/E10000016/revenues/claims";

/// The `(anchor, fingerprint)` import of `from`'s anchor with `policy`.
async fn import_of(from: &Network, policy: ExportPolicy) -> PartnerImport {
    let issued = from.operator.federation_anchor(30).await.expect("anchor");
    PartnerImport {
        anchor: issued.anchor,
        fingerprint: issued.fingerprint,
        policy,
    }
}

/// The services `network`'s catalogue lists for `GB-KENT`.
async fn kent_listings(network: &Network) -> Vec<String> {
    let request =
        psn_api::SearchRequest::from_pairs([("network", "GB-KENT")]).expect("search request");
    let found = network.operator.search(&request).await.expect("search");
    found
        .hits
        .iter()
        .map(|h| h.card.service.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_reaches_another_region_through_the_national_network_only_as_allowed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut locks = Vec::new();
    let gb = network(tmp.path(), "GB").await;
    let kent = network(tmp.path(), "GB-KENT").await;
    let hants = network(tmp.path(), "GB-HANTS").await;
    let (backend, _) = backend().await;
    let (kent_dir, _) = kent
        .member(
            tmp.path(),
            new_member(KENT, "Kent County Council"),
            "revenues",
            &mut locks,
        )
        .await;
    provide(
        &kent_dir,
        CLAIMS,
        "Council tax claims",
        &backend,
        &format!("{HAMPSHIRE}/hr"),
    )
    .await;
    let (hants_dir, hants_internal) = hants
        .member(
            tmp.path(),
            new_member(HAMPSHIRE, "Hampshire County Council"),
            "hr",
            &mut locks,
        )
        .await;

    // Each region federates with GB only, lets GB re-export its council, and GB relays each
    // council to the other region by name.
    let kent_member: MemberId = KENT.parse().expect("member");
    let hants_member: MemberId = HAMPSHIRE.parse().expect("member");
    let allows_reexport =
        |member: &MemberId, services: Vec<psn_core::names::ServiceId>| ExportPolicy {
            members: vec![member.clone()],
            services,
            reexport: true,
            ..Default::default()
        };
    kent.operator
        .import_partner(
            &import_of(
                &gb,
                allows_reexport(&kent_member, vec![CLAIMS.parse().expect("s")]),
            )
            .await,
        )
        .await
        .expect("GB-KENT imports GB");
    hants
        .operator
        .import_partner(&import_of(&gb, allows_reexport(&hants_member, vec![])).await)
        .await
        .expect("GB-HANTS imports GB");
    gb.operator
        .import_partner(&import_of(&kent, ExportPolicy::default()).await)
        .await
        .expect("GB imports GB-KENT");
    // GB cannot relay a network's names back to it, nor names of a network it does not know.
    let own_back = gb
        .operator
        .import_partner(
            &import_of(
                &hants,
                ExportPolicy {
                    members: vec![hants_member.clone()],
                    ..Default::default()
                },
            )
            .await,
        )
        .await
        .expect_err("relaying Hampshire to itself");
    assert!(
        own_back.to_string().contains("neither of network GB"),
        "{own_back}"
    );
    gb.operator
        .import_partner(
            &import_of(
                &hants,
                ExportPolicy {
                    members: vec![kent_member.clone()],
                    services: vec![CLAIMS.parse().expect("service")],
                    ..Default::default()
                },
            )
            .await,
        )
        .await
        .expect("GB imports GB-HANTS, relaying Kent's service");
    let unknown = gb
        .operator
        .set_export_policy(
            &kent.id,
            &ExportPolicy {
                members: vec!["GB-YORKS/LA/E08000016".parse().expect("member")],
                ..Default::default()
            },
        )
        .await
        .expect_err("a network GB does not federate with");
    assert!(unknown.to_string().contains("GB-YORKS"), "{unknown}");
    gb.operator
        .set_export_policy(
            &kent.id,
            &ExportPolicy {
                members: vec![hants_member.clone()],
                ..Default::default()
            },
        )
        .await
        .expect("GB relays Hampshire to Kent");

    let relayed_from_gb = |c: &psn_core::config::GlobalConfig, network: &str| {
        c.federation.iter().any(|f| {
            f.network.as_ref() == network && f.via.as_ref().map(|v| v.as_ref()) == Some("GB")
        })
    };
    hants
        .published("trusts Kent's council on GB's word", |c| {
            lists_member(c, KENT)
                && c.services.iter().any(|s| s.id.to_string() == CLAIMS)
                && relayed_from_gb(c, "GB-KENT")
        })
        .await;
    kent.published("trusts Hampshire on GB's word", |c| {
        lists_member(c, HAMPSHIRE) && relayed_from_gb(c, "GB-HANTS")
    })
    .await;
    let seen_by_hants = hants.operator.partner_view(&gb.id).await.expect("partner");
    let relays: Vec<String> = seen_by_hants
        .relays
        .iter()
        .map(|r| r.network.to_string())
        .collect();
    assert_eq!(relays, ["GB-KENT"], "{seen_by_hants:?}");
    assert_eq!(seen_by_hants.relays[0].received.services, 1);
    assert_eq!(
        kent_listings(&hants).await,
        [CLAIMS],
        "Hampshire's catalogue finds Kent's service, tagged with Kent's network"
    );

    // Hampshire's gateway calls Kent's over mutual TLS checked against Kent's CA, which only
    // GB vouched for to Hampshire's network; both audit logs verify offline.
    for dir in [&kent_dir, &hants_dir] {
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
    let kent_gw = psn_gateway::start(&kent_dir).await.expect("Kent gateway");
    let hants_gw = psn_gateway::start(&hants_dir)
        .await
        .expect("Hampshire gateway");
    let client = format!("{HAMPSHIRE}/hr");
    let answer = call_service(hants_internal, CLAIMS, &client).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    kent_gw.stop().await;
    hants_gw.stop().await;
    audit_logs_verify(&[&kent_dir, &hants_dir]).await;

    // Kent withdraws GB's right to re-export it: Kent leaves Hampshire's network, and
    // Hampshire's gateway no longer reaches it, though GB still knows Kent.
    let hants_gw = psn_gateway::start(&hants_dir)
        .await
        .expect("Hampshire gateway");
    kent.operator
        .set_export_policy(
            &gb.id,
            &ExportPolicy {
                members: vec![kent_member.clone()],
                services: vec![CLAIMS.parse().expect("service")],
                ..Default::default()
            },
        )
        .await
        .expect("Kent withdraws re-export");
    gateway_holds(&hants_gw, "forgets Kent", |c| {
        !lists_member(c, KENT) && c.federation.iter().all(|f| f.network.as_ref() != "GB-KENT")
    })
    .await;
    let answer = call_service(hants_internal, CLAIMS, &client).await;
    assert_ne!(
        answer.status(),
        200,
        "nothing crosses once re-export is withdrawn"
    );
    let gb_config = gb
        .running()
        .authority
        .publisher
        .latest_config()
        .expect("config");
    assert!(
        lists_member(&gb_config, KENT),
        "GB itself still trusts Kent"
    );
    assert!(kent_listings(&hants).await.is_empty(), "nor is it listed");

    hants_gw.stop().await;
    for net in [gb, kent, hants] {
        net.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_authority_that_moves_is_followed_once_its_newer_anchor_is_renewed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gb = network(tmp.path(), "GB").await;
    let mut kent = network(tmp.path(), "GB-KENT").await;
    let yorks = network(tmp.path(), "GB-YORKS").await;
    common::register(
        &kent.operator,
        new_member(KENT, "Kent County Council"),
        "revenues",
    )
    .await;
    let first = import_of(&kent, ExportPolicy::default()).await;
    gb.operator
        .import_partner(&first)
        .await
        .expect("GB imports GB-KENT");
    kent.operator
        .import_partner(
            &import_of(
                &gb,
                ExportPolicy {
                    members: vec![KENT.parse().expect("member")],
                    ..Default::default()
                },
            )
            .await,
        )
        .await
        .expect("GB-KENT imports GB");
    gb.published("lists Kent", |c| lists_member(c, KENT)).await;

    // Kent's authority moves to another address; GB's follower can no longer reach it.
    let old_endpoint = gb
        .operator
        .partner_view(&kent.id)
        .await
        .expect("partner")
        .endpoints;
    kent.restart_at("127.0.0.1:0".parse().expect("addr")).await;
    let moved = import_of(&kent, ExportPolicy::default()).await;
    let renewal = |anchor: &str, fingerprint: &str| psn_api::AnchorRenewal {
        anchor: anchor.to_owned(),
        fingerprint: fingerprint.to_owned(),
    };

    // Hostile or mistaken renewals are refused and change nothing: the anchor held again (not
    // newer), another network's anchor, a fingerprint not confirmed, and a network that is not
    // a partner.
    let yorks_anchor = import_of(&yorks, ExportPolicy::default()).await;
    for (network, attempt, why) in [
        (
            &kent.id,
            renewal(&first.anchor, &first.fingerprint),
            "not after the one held",
        ),
        (
            &kent.id,
            renewal(&yorks_anchor.anchor, &yorks_anchor.fingerprint),
            "GB-YORKS's, not GB-KENT's",
        ),
        (
            &kent.id,
            renewal(&moved.anchor, &yorks_anchor.fingerprint),
            "fingerprint",
        ),
        (
            &yorks.id,
            renewal(&yorks_anchor.anchor, &yorks_anchor.fingerprint),
            "not a federated partner",
        ),
    ] {
        let refused = gb
            .operator
            .renew_partner_anchor(network, &attempt)
            .await
            .expect_err(why);
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }
    let held = gb.operator.partner_view(&kent.id).await.expect("partner");
    assert_eq!(held.endpoints, old_endpoint, "nothing changed");

    // The newer anchor is renewed: the policy stays, and GB follows Kent at its new address, so
    // Kent's next change reaches GB.
    let renewed = gb
        .operator
        .renew_partner_anchor(&kent.id, &renewal(&moved.anchor, &moved.fingerprint))
        .await
        .expect("renewed");
    assert_ne!(renewed.endpoints, old_endpoint);
    kent.operator
        .suspend_member(
            &KENT.parse().expect("member"),
            &StatusChange { reason: None },
        )
        .await
        .expect("suspend");
    gb.published("holds Kent suspended", |c| {
        c.members.iter().any(|m| {
            m.id.to_string() == KENT && m.status == psn_core::config::MemberStatus::Suspended
        })
    })
    .await;
    let events = gb.operator.events(0, 1000).await.expect("events");
    assert!(
        events.items.iter().any(|e| e.action == "federation.anchor"),
        "the renewal is in the events trail"
    );
    for net in [gb, kent, yorks] {
        net.stop().await;
    }
}
