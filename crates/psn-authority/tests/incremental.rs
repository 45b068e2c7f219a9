//! The authority works out a version after a member's change from the last version it built
//! (docs/design.md "Incremental build"): each such version must be stored as a delta and be
//! exactly the document a whole build from the registry gives, with a root its signed head
//! covers. Every kind of change a member's entries go through is made once, on each backend.

mod common;

use common::{backends, enrol_member, EnrolledGateway, TestAuthority};
use psn_api::{
    AddressUpdate, ConfigFetch, ImportRequest, NewGrant, NewSubsystem, ServiceListing, ServiceRef,
    StatusChange,
};
use psn_authority::publish::{build_config, AuthorityDescription};
use psn_authority::store::Hold;
use psn_core::access::Grantee;
use psn_core::config::{ConfigDocument, GlobalConfig};
use psn_core::names::{GatewayId, MemberId, ServiceId};
use std::time::Duration;

fn kent() -> MemberId {
    "GB/LA/E10000016".parse().expect("id")
}

/// The current whole document, checked as a new gateway checks it.
async fn current(a: &TestAuthority) -> GlobalConfig {
    let ConfigFetch::Document { document, .. } =
        a.operator().config(None, None).await.expect("config")
    else {
        panic!("no configuration published");
    };
    let parsed: ConfigDocument = serde_json::from_str(&document).expect("document");
    let verified = psn_pki::verify_config(&document, &a.ca_der, &parsed.config.network, 1 << 26)
        .expect("the document's entries give the root its head signs");
    verified.config().clone()
}

/// Checks that `version` is the current one, was worked out from the one before (`stored as a
/// delta`), and is what a whole build from the registry now gives.
async fn assert_built_from_last(a: &TestAuthority, version: u64, what: &str) {
    let config = current(a).await;
    assert_eq!(config.version, version, "{what}: the current version");
    let record = a
        .store()
        .config_version(version)
        .await
        .expect("read")
        .expect("stored");
    assert!(
        record.delta.is_some(),
        "{what}: version {version} was built whole, not from the last"
    );
    let description = AuthorityDescription {
        network: config.network.clone(),
        endpoints: config.authority.endpoints.clone(),
        ca_certificate: config.authority.ca_certificate.clone(),
        validity: (config.expires_at - config.issued_at)
            .try_into()
            .expect("validity"),
    };
    let snapshot = a.store().snapshot().await.expect("snapshot");
    let whole = build_config(&snapshot, &description, version, config.issued_at);
    assert_eq!(config, whole, "{what}: the whole build differs");
}

/// Waits (long poll, not a sleep) for a version newer than `held`, published by the
/// authority's own loop after a change made in the store.
async fn next_version(a: &TestAuthority, held: u64) -> u64 {
    let etag = format!("\"v{held}\"");
    match a
        .operator()
        .config(Some(&etag), Some(Duration::from_secs(20)))
        .await
        .expect("long poll")
    {
        ConfigFetch::Document { document, .. } => {
            let parsed: ConfigDocument = serde_json::from_str(&document).expect("document");
            parsed.config.version
        }
        ConfigFetch::NotModified => panic!("no version after {held}"),
    }
}

/// Imports one member: a bulk change, which may touch anything.
async fn import_worcestershire(op: &psn_api::AuthorityClient) -> psn_api::ImportReport {
    op.import_members(&ImportRequest {
        members: vec![psn_api::NewMember {
            id: "GB/LA/E10000034".parse().expect("id"),
            name: "Worcestershire".into(),
            sector: None,
            region: None,
        }],
    })
    .await
    .expect("import")
}

async fn publish(gateway: &EnrolledGateway, service: &ServiceId, title: &str) -> u64 {
    gateway
        .client
        .publish_service(&ServiceListing {
            id: service.clone(),
            title: title.into(),
            description: String::new(),
            processes: vec!["lgsl:60".into()],
            details: Default::default(),
        })
        .await
        .expect("publish")
        .config_version
        .expect("the version with the service")
}

#[tokio::test]
async fn each_member_change_is_worked_out_from_the_last_version_and_equals_a_whole_build() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let op = a.operator();
        let kent_gw = enrol_member(&a, "GB/LA/E10000016", "Kent", "revenues").await;
        let surrey_gw = enrol_member(&a, "GB/LA/E10000030", "Surrey", "benefits").await;
        let change = StatusChange {
            reason: Some("test".into()),
        };

        let v = op.suspend_member(&kent(), &change).await.expect("suspend");
        assert_built_from_last(&a, v.config_version, "suspension").await;
        // The version's document is served by number too, as the one just published.
        let by_number = op
            .config_version(v.config_version)
            .await
            .expect("by number");
        let by_number: ConfigDocument = serde_json::from_str(&by_number).expect("document");
        assert_eq!(by_number.config, current(&a).await);
        let v = op
            .reinstate_member(&kent(), &change)
            .await
            .expect("reinstate");
        assert_built_from_last(&a, v.config_version, "reinstatement").await;

        let v = op
            .add_subsystem(
                &kent(),
                &NewSubsystem {
                    code: "planning".parse().expect("code"),
                },
            )
            .await
            .expect("subsystem")
            .config_version;
        assert_built_from_last(&a, v, "a new subsystem").await;

        let tax: ServiceId = "GB/LA/E10000016/revenues/council-tax".parse().expect("id");
        let v = publish(&kent_gw, &tax, "Council tax").await;
        assert_built_from_last(&a, v, "a new service").await;
        let v = publish(&kent_gw, &tax, "Council tax balance").await;
        assert_built_from_last(&a, v, "a changed service").await;

        let v = kent_gw
            .client
            .grant(&NewGrant {
                service: tax.clone(),
                grantee: Grantee::Member("GB/LA/E10000030".parse().expect("id")),
                method: None,
                path: None,
            })
            .await
            .expect("grant")
            .config_version;
        assert_built_from_last(&a, v, "a grant, which lists no entry").await;

        surrey_gw
            .client
            .set_address(&AddressUpdate {
                address: "surrey.example:8443".into(),
            })
            .await
            .expect("address");
        let config = current(&a).await;
        assert_built_from_last(&a, config.version, "a gateway's address").await;

        // Compliance withholds and releases Kent's services; the authority's own loop
        // publishes the change.
        let held = config.version;
        a.store()
            .place_hold(
                &kent(),
                Hold::ServicesWithheld,
                "no service-provision certificate",
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("hold");
        let v = next_version(&a, held).await;
        assert!(!current(&a).await.services.iter().any(|s| s.id == tax));
        assert_built_from_last(&a, v, "services withheld").await;
        a.store()
            .lift_hold(&kent(), Hold::ServicesWithheld, "certificate issued")
            .await
            .expect("lift");
        let v = next_version(&a, v).await;
        assert_built_from_last(&a, v, "services released").await;

        let v = kent_gw
            .client
            .withdraw_service(&ServiceRef { id: tax.clone() })
            .await
            .expect("withdraw")
            .config_version
            .expect("the version without the service");
        assert_built_from_last(&a, v, "a withdrawn service").await;

        let gateway: GatewayId = "GB/LA/E10000030@gw1".parse().expect("id");
        let revoked = op.revoke_gateway(&gateway).await.expect("revoke");
        let config = current(&a).await;
        assert!(!revoked.revoked_serials.is_empty());
        assert!(revoked
            .revoked_serials
            .iter()
            .all(|s| config.revoked_serials.contains(s)));
        assert_built_from_last(&a, config.version, "a revoked gateway").await;

        // A bulk import may touch anything: the version is built whole from the registry.
        let imported = import_worcestershire(&op).await;
        let record = a
            .store()
            .config_version(imported.config_version)
            .await
            .expect("read")
            .expect("stored");
        assert!(record.delta.is_none() && record.document.is_some());
        let v = op.suspend_member(&kent(), &change).await.expect("suspend");
        assert_built_from_last(&a, v.config_version, "a change after a whole build").await;

        // A gateway behind by several versions composes their deltas into one.
        let delta = match op.config_delta(1, None).await.expect("delta") {
            psn_api::DeltaFetch::Delta(delta) => delta,
            other => panic!("no delta from version 1: {other:?}"),
        };
        assert_eq!(delta.version, v.config_version);
        a.stop().await;
    }
}

/// The change log tells the publisher what it may work out from the last version: members'
/// entries and changes that list nothing, never a change to everything.
#[tokio::test]
async fn the_change_log_names_changed_members_and_refuses_changes_to_everything() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let op = a.operator();
        enrol_member(&a, "GB/LA/E10000016", "Kent", "revenues").await;
        let store = a.store();
        let before = store.generation().await.expect("generation");
        let change = StatusChange::default();
        op.suspend_member(&kent(), &change).await.expect("suspend");
        op.reinstate_member(&kent(), &change)
            .await
            .expect("reinstate");
        let increment = store
            .increment_since(before)
            .await
            .expect("read")
            .expect("only Kent's entries changed");
        assert_eq!(increment.generation, before + 2);
        let members: Vec<String> = increment.members.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(members, ["GB/LA/E10000016"], "each member once");
        let kent_now = &increment.members[0];
        assert_eq!(kent_now.subsystems.len(), 1);
        assert_eq!(kent_now.gateways.len(), 1);

        assert!(
            store
                .increment_since(before + 3)
                .await
                .expect("read")
                .is_none(),
            "a generation not reached yet"
        );
        let changed = store.generation().await.expect("generation");
        import_worcestershire(&op).await;
        assert!(
            store
                .increment_since(changed)
                .await
                .expect("read")
                .is_none(),
            "a bulk import may change anything"
        );
        a.stop().await;
    }
}

/// A gateway's store keeps each version as its delta and, after [`DELTAS_PER_DOCUMENT`] of
/// them, writes the version it holds whole, so that a restart replays few deltas; the whole
/// document is the one the authority serves.
/// An authority (SQLite) with Kent's gateway enrolled, and the configuration document it
/// publishes then.
async fn kent_enrolled() -> (TestAuthority, String) {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    enrol_member(&a, "GB/LA/E10000016", "Kent", "revenues").await;
    let fetched = a.operator().config(None, None).await.expect("config");
    let ConfigFetch::Document { document, .. } = fetched else {
        panic!("no configuration published");
    };
    (a, document)
}

#[tokio::test]
async fn a_gateways_store_writes_the_held_version_whole_after_its_run_of_deltas() {
    use psn_gateway::{Accepted, ConfigStore, GatewayDir, DELTAS_PER_DOCUMENT};
    let (a, document) = kent_enrolled().await;
    let op = a.operator();
    let dir = GatewayDir::new(a.gateway_dir("follower"));
    let network: psn_core::names::NetworkId = "GB".parse().expect("network");
    let mut store = ConfigStore::open(&dir, network.clone(), a.ca_der.clone()).expect("store");
    let now = time::OffsetDateTime::now_utc;
    let Accepted::New(mut held) = store.accept(&document, now()).expect("accept") else {
        panic!("a new version");
    };
    let whole = |version: u64| dir.config_dir().join(format!("v{version}.json"));
    let change = StatusChange::default();
    for step in 1..=DELTAS_PER_DOCUMENT {
        let changed = if step % 2 == 1 {
            op.suspend_member(&kent(), &change).await
        } else {
            op.reinstate_member(&kent(), &change).await
        };
        let version = changed.expect("change").config_version;
        let psn_api::DeltaFetch::Delta(delta) = op.config_delta(held, None).await.expect("delta")
        else {
            panic!("no delta from version {held}");
        };
        assert_eq!(
            store.accept_delta(&delta, now()).expect("accept delta"),
            Accepted::New(version)
        );
        store.write_document_if_due().expect("write if due");
        assert_eq!(
            whole(version).exists(),
            step == DELTAS_PER_DOCUMENT,
            "delta {step} of {DELTAS_PER_DOCUMENT}"
        );
        held = version;
    }
    let written = std::fs::read_to_string(whole(held)).expect("whole document");
    let ConfigFetch::Document { document, .. } = op.config(None, None).await.expect("config")
    else {
        panic!("no configuration published");
    };
    assert_eq!(written, document, "the document a full download gives");
    let reopened = ConfigStore::open(&dir, network, a.ca_der.clone()).expect("reopen");
    assert_eq!(reopened.current().map(|c| c.version), Some(held));
    a.stop().await;
}

/// A gateway whose clock is behind the authority's by more than the network tolerates
/// (`psn_core::clock`) refuses a version, whole or as a delta, saying that its clock is behind,
/// not that the version expired; within the tolerance it takes the same version.
#[tokio::test]
async fn a_gateway_whose_clock_is_behind_refuses_a_version_naming_its_clock() {
    use psn_gateway::{Accepted, ConfigStore, ConfigStoreError, GatewayDir, MAX_CONFIG_BYTES};
    let (a, document) = kent_enrolled().await;
    let op = a.operator();
    let network: psn_core::names::NetworkId = "GB".parse().expect("network");
    let verified = psn_pki::verify_config(&document, &a.ca_der, &network, MAX_CONFIG_BYTES)
        .expect("a signed configuration");
    let issued_at = verified.held.config().issued_at;
    let dir = GatewayDir::new(a.gateway_dir("behind"));
    let mut store = ConfigStore::open(&dir, network, a.ca_der.clone()).expect("store");

    let behind = issued_at - time::Duration::minutes(6);
    let refused = store
        .accept(&document, behind)
        .expect_err("six minutes behind");
    assert!(
        matches!(refused, ConfigStoreError::IssuedAhead { .. }),
        "{refused}"
    );
    let said = refused.to_string();
    assert!(said.contains("6 min behind the authority's"), "{said}");
    assert!(said.contains("NTP"), "{said}");
    assert!(store.current().is_none(), "nothing was taken");

    let within = issued_at - time::Duration::minutes(4);
    let Accepted::New(held) = store
        .accept(&document, within)
        .expect("four minutes behind")
    else {
        panic!("a new version");
    };
    op.suspend_member(&kent(), &StatusChange::default())
        .await
        .expect("a change");
    let psn_api::DeltaFetch::Delta(delta) = op.config_delta(held, None).await.expect("delta")
    else {
        panic!("no delta from version {held}");
    };
    let refused = store
        .accept_delta(&delta, behind)
        .expect_err("six minutes behind");
    assert!(
        matches!(refused, ConfigStoreError::IssuedAhead { .. }),
        "{refused}"
    );
    assert_eq!(store.current().map(|c| c.version), Some(held));
    a.stop().await;
}

/// A version is stored as its delta and its whole document written just after it is announced.
/// Should the authority stop between the two, its next start writes the document from the
/// version before and the delta, checked against the delta's signed head: what gateways that
/// took the delta hold, byte for byte. Two such versions in a row are restored in order.
#[tokio::test]
async fn versions_whose_documents_were_not_written_get_them_at_the_next_start() {
    for backend in backends() {
        let mut a = TestAuthority::start(backend).await;
        let op = a.operator();
        enrol_member(&a, "GB/LA/E10000016", "Kent", "revenues").await;
        let change = StatusChange::default();
        let suspended = op.suspend_member(&kent(), &change).await.expect("suspend");
        let reinstated = op
            .reinstate_member(&kent(), &change)
            .await
            .expect("reinstate");
        let versions = [suspended.config_version, reinstated.config_version];
        let mut served = Vec::new();
        for version in versions {
            served.push(op.config_version(version).await.expect("by number"));
            let record = a.store().config_version(version).await.expect("read");
            assert!(
                record.is_some_and(|r| r.delta.is_some()),
                "{backend:?}: version {version} was stored as a delta"
            );
        }

        let url = a
            .data_dir()
            .database_url(&a.data_dir().load_settings().expect("settings"));
        a.stop_serving().await;
        sqlx::any::install_default_drivers();
        let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("database");
        for version in versions {
            sqlx::query(
                "UPDATE config_versions SET document = NULL, digest = '' WHERE version = $1",
            )
            .bind(i64::try_from(version).expect("version"))
            .execute(&mut db)
            .await
            .expect("forget the document");
        }
        sqlx::Connection::close(db).await.expect("close");

        a.restart().await;
        for (version, served) in versions.iter().zip(&served) {
            let record = a
                .store()
                .config_version(*version)
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(
                record.document.as_ref(),
                Some(served),
                "{backend:?}: version {version}'s document restored as served"
            );
        }

        // A stored delta altered on disk gives no document: its changes no longer produce the
        // root its head signs. The authority still starts, and the version stays without.
        let last = i64::try_from(reinstated.config_version).expect("version");
        a.stop_serving().await;
        let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("database");
        sqlx::query(
            "UPDATE config_versions SET document = NULL, digest = '', \
             delta = replace(delta, '\"Kent\"', '\"Kant\"') WHERE version = $1",
        )
        .bind(last)
        .execute(&mut db)
        .await
        .expect("alter the delta");
        sqlx::Connection::close(db).await.expect("close");
        a.restart().await;
        let record = a
            .store()
            .config_version(reinstated.config_version)
            .await
            .expect("read")
            .expect("stored");
        assert!(
            record
                .delta
                .as_deref()
                .is_some_and(|d| d.contains("\"Kant\"")),
            "{backend:?}: the delta was altered"
        );
        assert_eq!(
            record.document, None,
            "{backend:?}: no document from an altered delta"
        );
        a.stop().await;
    }
}
