//! Providers' OpenAPI documents and the catalogue export, end to end over real TLS on SQLite
//! and (when configured) PostgreSQL: upload, fetch with ETag, replace, remove, refusals that
//! change nothing, another member's gateway refused; the DCAT JSON-LD and CSV exports of a
//! fixed corpus, hostile text included.

mod common;

use common::{backends, enrol_member, EnrolledGateway, TestAuthority};
use psn_api::*;
use psn_core::names::ServiceId;
use psn_core::problem::ProblemType;
use serde_json::{json, Value};

fn doc(title: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0"},
        "paths": {"/check": {"get": {"responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}}}}},
        "components": {"schemas": {"Answer": {"type": "object"}}}
    }))
    .expect("json")
}

async fn publish(gw: &EnrolledGateway, id: &str, title: &str, details: ListingDetails) {
    gw.client
        .publish_service(&ServiceListing {
            id: id.parse().expect("service id"),
            title: title.into(),
            description: String::new(),
            processes: vec!["lgsl:4".into()],
            details,
        })
        .await
        .expect("publish");
}

async fn event_count(a: &TestAuthority) -> usize {
    a.store().events(0, 1_000_000).await.expect("events").len()
}

fn upload(service: &ServiceId, document: &str) -> OpenApiUpload {
    OpenApiUpload {
        service: service.clone(),
        document: document.into(),
    }
}

#[tokio::test]
async fn documents_are_uploaded_fetched_replaced_and_removed() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let dfe = enrol_member(&a, "GB/GOV/D6", "Department for Education", "eligibility").await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "hr").await;
        let fsm: ServiceId = "GB/GOV/D6/eligibility/fsm-check".parse().expect("id");
        publish(&dfe, &fsm.to_string(), "FSM", ListingDetails::default()).await;

        let first = doc("Free school meals");
        let kept = dfe
            .client
            .put_openapi(&upload(&fsm, &first))
            .await
            .expect("upload");
        let info = kept.openapi.expect("info");
        assert_eq!(
            info.sha256,
            psn_authority::store::sha256_hex(first.as_bytes())
        );
        assert_eq!(info.bytes, first.len() as u64);

        // Any reader fetches it byte for byte: the operator, and another member's gateway.
        for reader in [a.operator(), kent.client.clone()] {
            let fetched = reader.openapi(&fsm).await.expect("fetch");
            assert_eq!(fetched.text, first, "{backend:?}");
            assert_eq!(fetched.etag, Some(format!("\"{}\"", info.sha256)));
            assert_eq!(fetched.content_type.as_deref(), Some(OPENAPI_MEDIA_TYPE));
        }
        let resp = a
            .raw()
            .get(format!(
                "{}/v1/catalogue/services/{fsm}/openapi.json",
                a.url
            ))
            .bearer_auth(&a.operator_token)
            .header("If-None-Match", format!("\"{}\"", info.sha256))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 304);
        let entry = a.operator().catalogue_entry(&fsm).await.expect("entry");
        assert_eq!(entry.openapi.as_ref(), Some(&info));

        refusals_change_nothing(&a, &dfe, &kent, &fsm, &first).await;

        // Replace, then remove.
        let second = doc("Free school meals, version 2");
        let replaced = dfe
            .client
            .put_openapi(&upload(&fsm, &second))
            .await
            .expect("replace");
        assert_ne!(replaced.openapi.expect("info").sha256, info.sha256);
        assert_eq!(
            a.operator().openapi(&fsm).await.expect("fetch").text,
            second
        );
        dfe.client
            .remove_openapi(&ServiceRef { id: fsm.clone() })
            .await
            .expect("remove");
        let e = a.operator().openapi(&fsm).await.expect_err("removed");
        assert!(e.to_string().contains("has no OpenAPI document"), "{e}");
        let e = dfe
            .client
            .remove_openapi(&ServiceRef { id: fsm.clone() })
            .await
            .expect_err("nothing to remove");
        assert_eq!(e.problem_type(), Some(ProblemType::NotFound));
        assert!(a
            .operator()
            .catalogue_entry(&fsm)
            .await
            .expect("entry")
            .openapi
            .is_none());

        // Withdrawing the service takes its document with it.
        dfe.client
            .put_openapi(&upload(&fsm, &first))
            .await
            .expect("upload");
        dfe.client
            .withdraw_service(&ServiceRef { id: fsm.clone() })
            .await
            .expect("withdraw");
        assert!(a.store().document(&fsm).await.expect("read").is_none());
        publish(&dfe, &fsm.to_string(), "FSM", ListingDetails::default()).await;
        assert!(a.store().document(&fsm).await.expect("read").is_none());

        let actions: Vec<String> = a
            .store()
            .events(0, 1_000_000)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.action)
            .collect();
        let puts = actions
            .iter()
            .filter(|x| *x == "service.openapi.put")
            .count();
        let removes = actions
            .iter()
            .filter(|x| *x == "service.openapi.remove")
            .count();
        assert_eq!((puts, removes), (3, 1), "{backend:?}");
        a.stop().await;
    }
}

/// Refused uploads (a broken document, another member's gateway, an unlisted service) name
/// why, and change nothing: the document held and the audit trail stay as they were.
async fn refusals_change_nothing(
    a: &TestAuthority,
    dfe: &EnrolledGateway,
    kent: &EnrolledGateway,
    fsm: &ServiceId,
    first: &str,
) {
    // A refused upload names its problems and changes nothing, not even the trail.
    let events = event_count(a).await;
    let dangling = first.replace("#/components/schemas/Answer", "#/components/schemas/Nope");
    let e = dfe
        .client
        .put_openapi(&upload(fsm, &dangling))
        .await
        .expect_err("dangling $ref");
    assert_eq!(e.problem_type(), Some(ProblemType::InvalidRequest));
    assert!(
        e.to_string()
            .contains("/paths/~1check/get/responses/200/content/application~1json/schema/$ref"),
        "{e}"
    );
    for bad in [
        "not json",
        "{\"swagger\": \"2.0\"}",
        &"x".repeat(MAX_OPENAPI_BYTES + 1),
    ] {
        let e = dfe
            .client
            .put_openapi(&upload(fsm, bad))
            .await
            .expect_err("bad");
        assert_eq!(e.problem_type(), Some(ProblemType::InvalidRequest), "{e}");
    }
    assert_eq!(event_count(a).await, events);
    assert_eq!(a.operator().openapi(fsm).await.expect("still").text, first);

    // Another member's gateway may not upload or remove it; an unknown service is 404.
    let e = kent
        .client
        .put_openapi(&upload(fsm, first))
        .await
        .expect_err("not Kent's");
    assert_eq!(e.problem_type(), Some(ProblemType::Forbidden));
    let e = kent
        .client
        .remove_openapi(&ServiceRef { id: fsm.clone() })
        .await
        .expect_err("not Kent's");
    assert_eq!(e.problem_type(), Some(ProblemType::Forbidden));
    let unknown: ServiceId = "GB/GOV/D6/eligibility/nothing".parse().expect("id");
    let e = dfe
        .client
        .put_openapi(&upload(&unknown, first))
        .await
        .expect_err("unlisted");
    assert_eq!(e.problem_type(), Some(ProblemType::NotFound));
    let e = a.operator().openapi(&unknown).await.expect_err("unlisted");
    assert_eq!(e.problem_type(), Some(ProblemType::NotFound));
    assert_eq!(event_count(a).await, events, "no event for a refusal");
}

/// A title a spreadsheet would run, and a description with everything CSV must quote.
const HOSTILE_TITLE: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";
const HOSTILE_TEXT: &str = "Quotes \"here\", commas, a\nnewline and <script>alert(1)</script>";

async fn corpus(a: &TestAuthority) {
    let dfe = enrol_member(a, "GB/GOV/D6", "Department for Education", "eligibility").await;
    let kent = enrol_member(a, "GB/LA/E10000016", "Kent County Council", "hr").await;
    let gone = enrol_member(a, "GB/LA/E10000008", "Essex County Council", "hr").await;
    dfe.client
        .publish_service(&ServiceListing {
            id: "GB/GOV/D6/eligibility/fsm-check".parse().expect("id"),
            title: HOSTILE_TITLE.into(),
            description: HOSTILE_TEXT.into(),
            processes: vec!["lgsl:4".into(), "psn:3004".into()],
            details: ListingDetails {
                contact: Some("fsm@education.gov.uk".into()),
                ..ListingDetails::default()
            },
        })
        .await
        .expect("publish");
    let fsm: ServiceId = "GB/GOV/D6/eligibility/fsm-check".parse().expect("id");
    dfe.client
        .put_openapi(&upload(&fsm, &doc("FSM")))
        .await
        .expect("upload");
    let payroll = ListingDetails {
        version: Some("2.1".into()),
        lifecycle: Lifecycle::Deprecated,
        sunset: Some(time::macros::date!(2027 - 03 - 31)),
        service_type: ServiceType::Files,
        who_may_apply: WhoMayApply::MemberClasses,
        member_classes: vec!["LA".parse().expect("class")],
        price: Price::PerUnit {
            min_pence: 350,
            max_pence: 442,
            unit: "employee".into(),
            interval: PriceInterval::Month,
        },
        onboarding_terms: "-1 month's notice".into(),
        areas: vec!["Kent".into(), "+Medway".into()],
        ..ListingDetails::default()
    };
    publish(
        &kent,
        "GB/LA/E10000016/hr/payroll",
        "Payroll bureau",
        payroll,
    )
    .await;
    publish(
        &gone,
        "GB/LA/E10000008/hr/payroll",
        "Essex payroll",
        ListingDetails::default(),
    )
    .await;
    a.operator()
        .suspend_member(
            &"GB/LA/E10000008".parse().expect("id"),
            &StatusChange {
                reason: Some("lapsed".into()),
            },
        )
        .await
        .expect("suspend");
}

#[tokio::test]
async fn the_catalogue_exports_as_dcat_and_csv() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        corpus(&a).await;
        let reader = a.operator();

        let fetched = reader.export_dcat().await.expect("dcat");
        assert_eq!(fetched.content_type.as_deref(), Some(JSON_LD_MEDIA_TYPE));
        let catalogue: Value = serde_json::from_str(&fetched.text).expect("JSON-LD is JSON");
        assert_eq!(catalogue["@context"]["dcat"], "http://www.w3.org/ns/dcat#");
        assert_eq!(catalogue["@type"], "dcat:Catalog");
        assert_eq!(catalogue["dct:publisher"]["@type"], "foaf:Organization");
        assert!(catalogue["dct:modified"]["@value"].is_string());
        let services = catalogue["dcat:service"].as_array().expect("services");
        let ids: Vec<&str> = services
            .iter()
            .filter_map(|s| s["dct:identifier"].as_str())
            .collect();
        // By id; the suspended member's listing is not exported.
        assert_eq!(
            ids,
            [
                "GB/GOV/D6/eligibility/fsm-check",
                "GB/LA/E10000016/hr/payroll"
            ]
        );
        let (fsm, payroll) = (&services[0], &services[1]);
        assert_eq!(fsm["@type"], "dcat:DataService");
        assert_eq!(fsm["dct:title"], HOSTILE_TITLE);
        assert_eq!(fsm["dct:description"], HOSTILE_TEXT);
        assert_eq!(
            fsm["dct:publisher"]["foaf:name"],
            "Department for Education"
        );
        assert_eq!(fsm["dct:publisher"]["dct:identifier"], "GB/GOV/D6");
        assert_eq!(
            fsm["dcat:contactPoint"]["vcard:hasEmail"]["@id"],
            "mailto:fsm@education.gov.uk"
        );
        assert_eq!(
            fsm["dcat:theme"][0]["@id"],
            "http://id.esd.org.uk/service/4"
        );
        assert_eq!(fsm["dcat:theme"][0]["skos:notation"], "lgsl:4");
        let taxonomy = psn_orgdata::ProcessCatalogue::embedded().expect("taxonomy");
        let label = &taxonomy.get("lgsl:4").expect("lgsl:4").label;
        assert_eq!(fsm["dcat:theme"][0]["skos:prefLabel"], label.as_str());
        assert_eq!(fsm["dcat:theme"][1]["skos:notation"], "psn:3004");
        let described = fsm["dcat:endpointDescription"]["@id"]
            .as_str()
            .unwrap_or_default();
        assert!(described.starts_with("https://"), "{described}");
        assert!(
            described
                .ends_with("/v1/catalogue/services/GB/GOV/D6/eligibility/fsm-check/openapi.json"),
            "{described}"
        );
        assert_eq!(fsm["psn:price"]["psn:kind"], "free");
        assert_eq!(fsm["adms:status"]["skos:prefLabel"], "live");
        assert!(payroll.get("dcat:endpointDescription").is_none());
        assert_eq!(payroll["dcat:version"], "2.1");
        assert_eq!(payroll["adms:status"]["skos:prefLabel"], "deprecated");
        assert_eq!(payroll["psn:sunset"]["@value"], "2027-03-31");
        assert_eq!(payroll["dct:conformsTo"]["rdfs:label"], "Files");
        assert_eq!(
            payroll["dct:accessRights"]["psn:whoMayApply"],
            "member-classes"
        );
        assert_eq!(payroll["dct:spatial"][1]["skos:prefLabel"], "+Medway");
        assert_eq!(payroll["psn:price"]["psn:minPence"], 350);
        assert_eq!(payroll["dct:rights"]["rdfs:label"], "-1 month's notice");

        let fetched = reader.export_csv().await.expect("csv");
        assert_eq!(fetched.content_type.as_deref(), Some(CSV_MEDIA_TYPE));
        let mut rows = csv::Reader::from_reader(fetched.text.as_bytes());
        let header: Vec<String> = rows
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, psn_authority::export::CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = rows.records().collect::<Result<_, _>>().expect("rows");
        assert_eq!(rows.len(), 2, "{}", fetched.text);
        let cell = |row: usize, column: &str| {
            let i = header.iter().position(|h| h == column).expect("column");
            rows[row][i].to_owned()
        };
        assert_eq!(cell(0, "service_id"), "GB/GOV/D6/eligibility/fsm-check");
        assert_eq!(
            cell(0, "title"),
            format!("'{HOSTILE_TITLE}"),
            "formula neutralised"
        );
        assert_eq!(
            cell(0, "description"),
            HOSTILE_TEXT,
            "hostile text round-trips"
        );
        assert_eq!(cell(0, "processes"), "lgsl:4;psn:3004");
        assert!(cell(0, "openapi_url").ends_with("/fsm-check/openapi.json"));
        assert_eq!(cell(1, "provider_name"), "Kent County Council");
        assert_eq!(cell(1, "price_min_pence"), "350");
        assert_eq!(cell(1, "price_interval"), "month");
        assert_eq!(cell(1, "areas"), "Kent;+Medway");
        assert_eq!(cell(1, "sunset"), "2027-03-31");
        assert_eq!(cell(1, "openapi_url"), "");
        assert_eq!(
            cell(1, "onboarding_terms"),
            "'-1 month's notice",
            "neutralised"
        );

        let resp = a
            .raw()
            .get(format!("{}/v1/catalogue/export.csv", a.url))
            .bearer_auth(&a.operator_token)
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.headers()["content-disposition"],
            "attachment; filename=\"psn-catalogue-GB.csv\""
        );
        let resp = a
            .raw()
            .get(format!("{}/v1/catalogue/export.jsonld", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 401, "readers only");
        a.stop().await;
    }
}
