//! The federated catalogue end to end (docs/catalogue.md "Federated listings"): two networks'
//! authorities, the national `GB` and the regional `GB-KENT`, import each other's anchors; the
//! Department for Education publishes two services in `GB` and exports one to `GB-KENT`. Kent's
//! catalogue search finds the exported listing tagged with its network, never the other; the
//! `network` facet counts and filters; a wider export policy reaches Kent's catalogue with the
//! next view; a partner view listing a service it does not export, or carrying oversized text,
//! is refused and changes nothing; removing the partner removes its listings.

mod common;

use common::backend;
use common::federation::{network, new_member, Network};
use psn_api::{
    ExportPolicy, ListingDetails, NewMember, PartnerImport, SearchRequest, SearchResults,
    ServiceListing,
};
use psn_core::federation::MAX_LISTING_TITLE;
use psn_gateway::GatewayDir;

const DFE: &str = "GB/GOV/D6";
const KENT: &str = "GB-KENT/LA/E10000016";
const EXPORTED: &str = "GB/GOV/D6/eligibility/fsm-check";
const HIDDEN: &str = "GB/GOV/D6/eligibility/pupil-premium";
const KENT_SERVICE: &str = "GB-KENT/LA/E10000016/revenues/council-tax";

/// The catalogue's view of a network: what its operator finds.
async fn search(network: &Network, pairs: &[(&str, &str)]) -> SearchResults {
    let request = SearchRequest::from_pairs(pairs.iter().copied()).expect("request");
    network.operator.search(&request).await.expect("search")
}

/// A member of the central-government sector (the sector travels with its listings).
fn central(id: &str, name: &str) -> NewMember {
    NewMember {
        sector: Some("central-government".into()),
        ..new_member(id, name)
    }
}

async fn publish(dir: &GatewayDir, backend: &str, id: &str, title: &str, description: &str) {
    psn_gateway::admin::add_service(
        dir,
        ServiceListing {
            id: id.parse().expect("service"),
            title: title.into(),
            description: description.into(),
            processes: vec!["lgsl:4".into()],
            details: ListingDetails {
                areas: vec!["England".into()],
                ..ListingDetails::default()
            },
        },
        backend.to_owned(),
        None,
        None,
    )
    .await
    .expect("publish service");
}

fn lists_service(config: &psn_core::config::GlobalConfig, id: &str) -> bool {
    config.services.iter().any(|s| s.id.to_string() == id)
}

fn services(results: &SearchResults) -> Vec<String> {
    let mut found: Vec<String> = results
        .hits
        .iter()
        .map(|h| h.card.service.to_string())
        .collect();
    found.sort();
    found
}

/// The count of each value of the `network` facet.
fn network_counts(results: &SearchResults) -> Vec<(String, u64)> {
    let facet = results
        .facets
        .iter()
        .find(|f| f.facet == "network")
        .expect("a network facet");
    let mut counts: Vec<(String, u64)> = facet
        .values
        .iter()
        .map(|v| (v.value.clone(), v.count))
        .collect();
    counts.sort();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partners_exported_listings_are_searchable_tagged_with_their_network() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut locks = Vec::new();
    let gb = network(tmp.path(), "GB").await;
    let kent = network(tmp.path(), "GB-KENT").await;
    let (backend, _) = backend().await;

    let (dfe, _) = gb
        .member(
            tmp.path(),
            central(DFE, "Department for Education"),
            "eligibility",
            &mut locks,
        )
        .await;
    publish(
        &dfe,
        &backend,
        EXPORTED,
        "Free school meals check",
        "Whether a child may have free school meals.",
    )
    .await;
    publish(
        &dfe,
        &backend,
        HIDDEN,
        "Pupil premium check",
        "Whether a school receives pupil premium for a child.",
    )
    .await;
    let (kent_council, _) = kent
        .member(
            tmp.path(),
            central(KENT, "Kent County Council"),
            "revenues",
            &mut locks,
        )
        .await;
    publish(
        &kent_council,
        &backend,
        KENT_SERVICE,
        "Council tax account",
        "A resident's council tax account.",
    )
    .await;

    // GB exports one of DfE's services to Kent; Kent exports nothing.
    let gb_anchor = gb.operator.federation_anchor(30).await.expect("GB anchor");
    let kent_anchor = kent
        .operator
        .federation_anchor(30)
        .await
        .expect("Kent anchor");
    let only = |services: &[&str]| ExportPolicy {
        services: services
            .iter()
            .map(|s| s.parse().expect("service"))
            .collect(),
        ..ExportPolicy::default()
    };
    gb.operator
        .import_partner(&PartnerImport {
            anchor: kent_anchor.anchor.clone(),
            fingerprint: kent_anchor.fingerprint.clone(),
            policy: only(&[EXPORTED]),
        })
        .await
        .expect("GB imports GB-KENT");
    kent.operator
        .import_partner(&PartnerImport {
            anchor: gb_anchor.anchor.clone(),
            fingerprint: gb_anchor.fingerprint.clone(),
            policy: ExportPolicy::default(),
        })
        .await
        .expect("GB-KENT imports GB");
    kent.published("lists DfE's exported service", |c| {
        lists_service(c, EXPORTED)
    })
    .await;

    // Kent's catalogue finds the exported listing, tagged with its network and unmeasured.
    let found = search(&kent, &[("q", "school meals")]).await;
    let hit = found
        .hits
        .iter()
        .find(|h| h.card.service.to_string() == EXPORTED)
        .expect("the exported listing is found");
    assert_eq!(hit.card.network.to_string(), "GB");
    assert_eq!(hit.card.provider_name, "Department for Education");
    assert_eq!(hit.card.sector.as_deref(), Some("central-government"));
    assert_eq!(hit.card.lifecycle, "live");
    assert_eq!(hit.card.measured, psn_api::MeasuredSummary::default());
    assert!(
        !services(&search(&kent, &[("q", "pupil premium")]).await).contains(&HIDDEN.to_owned()),
        "a service not exported is not found"
    );

    // The network facet counts both networks and filters to one.
    let everything = search(&kent, &[]).await;
    assert_eq!(services(&everything), [KENT_SERVICE, EXPORTED]);
    assert_eq!(
        network_counts(&everything),
        [("GB".to_owned(), 1), ("GB-KENT".to_owned(), 1)]
    );
    let partner_only = search(&kent, &[("network", "GB")]).await;
    assert_eq!(services(&partner_only), [EXPORTED]);
    let own_only = search(&kent, &[("network", "GB-KENT")]).await;
    assert_eq!(services(&own_only), [KENT_SERVICE]);
    assert_eq!(own_only.hits[0].card.network.to_string(), "GB-KENT");
    // GB's own catalogue is unchanged by the federation: Kent exports nothing to it.
    assert_eq!(
        services(&search(&gb, &[]).await),
        [EXPORTED, HIDDEN],
        "Kent exported nothing, so GB's catalogue holds only its own"
    );

    // The catalogue entry reads this registry, which does not hold a partner's service: a
    // clear "not found", never a failure.
    let entry = kent
        .operator
        .catalogue_entry(&EXPORTED.parse().expect("service"))
        .await
        .expect_err("a partner's service has no entry here");
    assert_eq!(
        entry.problem_type(),
        Some(psn_core::problem::ProblemType::NotFound),
        "{entry}"
    );

    // Hostile views, signed by GB's real signer: one listing a service GB does not export, one
    // with an oversized title. Both are refused by the check Kent's follower applies, and
    // Kent's catalogue is unchanged.
    let held = kent
        .running()
        .authority
        .store
        .held_view(&gb.id)
        .await
        .expect("store")
        .expect("a view from GB");
    assert_eq!(
        held.listings.len(),
        1,
        "the view carries the exported listing"
    );
    let signer = gb.running().authority.publisher.signer();
    let gb_ca = gb.running().authority.ca.certificate_der().to_vec();
    let mut unexported = held.clone();
    unexported.version += 100;
    let mut smuggled = held.listings[0].clone();
    smuggled.service = HIDDEN.parse().expect("service");
    unexported.listings.push(smuggled);
    let mut oversized = held.clone();
    oversized.version += 100;
    oversized.listings[0].title = "x".repeat(MAX_LISTING_TITLE + 1);
    for (hostile, why) in [
        (unexported, "does not export"),
        (oversized, "title is over"),
    ] {
        let jws = signer.sign_view(&hostile).expect("sign");
        let refused = psn_pki::verify_view(
            &jws,
            &gb_ca,
            &gb.id,
            &kent.id,
            Some(held.version),
            1024 * 1024,
            time::OffsetDateTime::now_utc(),
        )
        .expect_err("refused");
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }
    assert_eq!(
        services(&search(&kent, &[]).await),
        [KENT_SERVICE, EXPORTED]
    );

    // A wider export policy reaches Kent's catalogue with GB's next view.
    gb.operator
        .set_export_policy(&kent.id, &only(&[EXPORTED, HIDDEN]))
        .await
        .expect("wider policy");
    kent.published("lists DfE's second service", |c| lists_service(c, HIDDEN))
        .await;
    let found = search(&kent, &[("network", "GB")]).await;
    assert_eq!(services(&found), [EXPORTED, HIDDEN]);

    // Removing the partner removes its listings by the time the removal is answered.
    kent.operator.remove_partner(&gb.id).await.expect("remove");
    let after = search(&kent, &[]).await;
    assert_eq!(services(&after), [KENT_SERVICE]);
    assert_eq!(network_counts(&after), [("GB-KENT".to_owned(), 1)]);
    assert!(
        !services(&search(&kent, &[("q", "school meals")]).await).contains(&EXPORTED.to_owned())
    );
}
