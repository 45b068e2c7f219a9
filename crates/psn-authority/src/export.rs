//! The whole catalogue for harvesting by national catalogues (docs/catalogue.md "Export for
//! harvesting"): DCAT version 3 as JSON-LD, and CSV for spreadsheets.
//!
//! Both are built from one list of [`ExportListing`]s, read once and ordered by service id, so
//! the two formats always agree and two exports of an unchanged registry are identical (the
//! catalogue's `dct:modified` is the registry's last change, not the time of the request). Only listings of active members are exported: a suspended member's services
//! are out of the configuration and cannot be called. Building is pure (`dcat`, `csv`) so it
//! is tested without a server.

use crate::store::{ServiceFilter, ServiceRecord, StoreError};
use crate::Authority;
use psn_api::{
    Lifecycle, ListingDetails, MemberQuery, MemberView, Price, PriceInterval, ServiceDocumentInfo,
    ServiceType, WhoMayApply,
};
use psn_core::config::MemberStatus;
use psn_orgdata::ProcessCatalogue;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The namespace of psn's own terms in the JSON-LD (`psn:price`, …), where DCAT has no place.
pub const PSN_VOCABULARY: &str = "urn:psn:vocab:";

/// One listing with everything the export says about it.
#[derive(Debug, Clone)]
pub struct ExportListing {
    /// The listing.
    pub record: ServiceRecord,
    /// Its provider.
    pub provider: MemberView,
    /// Its OpenAPI document's facts, if it has one.
    pub openapi: Option<ServiceDocumentInfo>,
    /// First published.
    pub issued: Option<OffsetDateTime>,
    /// Last changed.
    pub modified: Option<OffsetDateTime>,
}

/// What the export says about the catalogue as a whole.
#[derive(Debug, Clone)]
pub struct CatalogueFacts {
    /// The network, e.g. `GB`.
    pub network: String,
    /// The authority's public base URL (no trailing `/`).
    pub base_url: String,
    /// When the registry last changed.
    pub modified: OffsetDateTime,
}

/// Every listing of an active member, by service id, with its provider and document.
pub async fn listings(a: &Authority) -> Result<Vec<ExportListing>, StoreError> {
    let store = &a.store;
    let everything = u64::from(u32::MAX);
    let (services, _) = store
        .service_page(&ServiceFilter::default(), everything, 0)
        .await?;
    let (members, _) = store
        .list_members(&MemberQuery::default(), everything, 0)
        .await?;
    let members: BTreeMap<_, _> = members.into_iter().map(|m| (m.id.clone(), m)).collect();
    let withheld: Vec<_> = store
        .compliance_holds()
        .await?
        .into_iter()
        .filter(|(_, hold, _)| *hold == crate::store::Hold::ServicesWithheld)
        .map(|(member, _, _)| member)
        .collect();
    let mut documents = store.document_infos().await?;
    let times = store.service_times().await?;
    let mut out: Vec<ExportListing> = services
        .into_iter()
        .filter_map(|record| {
            let provider = members.get(record.id.member())?;
            if provider.status != MemberStatus::Active || withheld.contains(&provider.id) {
                return None;
            }
            let time = times.get(&record.id);
            Some(ExportListing {
                openapi: documents.remove(&record.id),
                issued: time.map(|t| crate::store::from_millis(t.0)),
                modified: time.map(|t| crate::store::from_millis(t.1)),
                provider: provider.clone(),
                record,
            })
        })
        .collect();
    // By the id's text in Rust: PostgreSQL's collation may order `ORDER BY id` otherwise.
    out.sort_by_cached_key(|x| x.record.id.to_string());
    Ok(out)
}

/// The facts of `a`'s catalogue as of its last change.
pub async fn facts(a: &Authority) -> Result<CatalogueFacts, StoreError> {
    Ok(CatalogueFacts {
        network: a.network.to_string(),
        base_url: a.public_url.trim_end_matches('/').to_owned(),
        modified: a
            .store
            .last_change()
            .await?
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn date_time(t: OffsetDateTime) -> Value {
    json!({"@value": rfc3339(t), "@type": "xsd:dateTime"})
}

/// An API enum's word, as the API spells it (`member-classes`).
fn word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// URL of a listing's catalogue entry in the API.
fn entry_url(facts: &CatalogueFacts, listing: &ExportListing) -> String {
    format!(
        "{}/v1/catalogue/services/{}",
        facts.base_url, listing.record.id
    )
}

/// URL of a listing's OpenAPI document, if it has one.
pub fn openapi_url(base_url: &str, listing: &ExportListing) -> Option<String> {
    listing.openapi.as_ref().map(|_| {
        format!(
            "{}/v1/catalogue/services/{}/openapi.json",
            base_url.trim_end_matches('/'),
            listing.record.id
        )
    })
}

/// An IRI for a process id: the esd-toolkit's own for the LGSL and LGFL, psn's for its own.
fn process_iri(id: &str) -> String {
    match id.split_once(':') {
        Some(("lgsl", n)) => format!("http://id.esd.org.uk/service/{n}"),
        Some(("lgfl", n)) => format!("http://id.esd.org.uk/function/{n}"),
        _ => format!("urn:psn:process:{id}"),
    }
}

/// Who may apply, in words.
pub fn access_words(network: &str, d: &ListingDetails) -> String {
    match d.who_may_apply {
        WhoMayApply::AnyMember => format!("Any member of the {network} network may apply"),
        WhoMayApply::MemberClasses => format!(
            "Members of these classes may apply: {}",
            d.member_classes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        WhoMayApply::ByRequest => "By request to the provider only".to_owned(),
    }
}

fn service_type_label(t: ServiceType) -> &'static str {
    match t {
        ServiceType::Rest => "REST",
        ServiceType::Soap => "SOAP",
        ServiceType::Events => "Events",
        ServiceType::Files => "Files",
    }
}

fn price_value(price: &Price) -> Value {
    match price {
        Price::Free {} => json!({"@type": "psn:Price", "psn:kind": "free"}),
        Price::PerUnit {
            min_pence,
            max_pence,
            unit,
            interval,
        } => json!({
            "@type": "psn:Price",
            "psn:kind": "per-unit",
            "psn:minPence": min_pence,
            "psn:maxPence": max_pence,
            "psn:currency": "GBP",
            "psn:unit": unit,
            "psn:interval": word(interval),
        }),
    }
}

/// The JSON-LD `@context`: DCAT 3 and the vocabularies it uses, and psn's own terms.
fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "adms": "http://www.w3.org/ns/adms#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "psn": PSN_VOCABULARY,
    })
}

/// The catalogue as a DCAT 3 `dcat:Catalog` in JSON-LD, one `dcat:DataService` per listing.
pub fn dcat(
    facts: &CatalogueFacts,
    listings: &[ExportListing],
    taxonomy: &ProcessCatalogue,
) -> Value {
    let services: Vec<Value> = listings
        .iter()
        .map(|l| data_service(facts, l, taxonomy))
        .collect();
    json!({
        "@context": context(),
        "@id": format!("{}/v1/catalogue/export.jsonld", facts.base_url),
        "@type": "dcat:Catalog",
        "dct:identifier": facts.network,
        "dct:title": format!("{} public services network: service catalogue", facts.network),
        "dct:description": format!(
            "The services members of the {} public services network offer each other, with their terms.",
            facts.network
        ),
        "dct:publisher": {
            "@id": format!("urn:psn:network:{}", facts.network),
            "@type": "foaf:Organization",
            "foaf:name": format!("{} public services network", facts.network),
            "dct:identifier": facts.network,
        },
        "dct:modified": date_time(facts.modified),
        "dcat:service": services,
    })
}

/// One listing as a `dcat:DataService`.
fn data_service(facts: &CatalogueFacts, l: &ExportListing, taxonomy: &ProcessCatalogue) -> Value {
    let d = &l.record.details;
    let mut s = Map::new();
    let mut put = |k: &str, v: Value| {
        s.insert(k.to_owned(), v);
    };
    put("@id", json!(entry_url(facts, l)));
    put("@type", json!("dcat:DataService"));
    put("dct:identifier", json!(l.record.id.to_string()));
    put("dct:title", json!(l.record.title));
    if !l.record.description.is_empty() {
        put("dct:description", json!(l.record.description));
    }
    put(
        "dct:publisher",
        json!({
            "@id": format!("urn:psn:member:{}", l.provider.id),
            "@type": "foaf:Organization",
            "foaf:name": l.provider.name,
            "dct:identifier": l.provider.id.to_string(),
        }),
    );
    let mut contact = json!({"@type": "vcard:Organization", "vcard:fn": l.provider.name});
    if let Some(email) = &d.contact {
        contact["vcard:hasEmail"] = json!({"@id": format!("mailto:{email}")});
    }
    put("dcat:contactPoint", contact);
    let themes: Vec<Value> = l
        .record
        .processes
        .iter()
        .map(|p| {
            let label = taxonomy.get(p).map_or(p.as_str(), |c| c.label.as_str());
            json!({"@id": process_iri(p), "@type": "skos:Concept", "skos:notation": p, "skos:prefLabel": label})
        })
        .collect();
    put("dcat:theme", json!(themes));
    if let Some(url) = openapi_url(&facts.base_url, l) {
        put("dcat:endpointDescription", json!({"@id": url}));
    }
    put("psn:gatewayPath", json!(format!("/r1/{}", l.record.id)));
    if let Some(t) = l.issued {
        put("dct:issued", date_time(t));
    }
    if let Some(t) = l.modified {
        put("dct:modified", date_time(t));
    }
    terms(&mut s, &facts.network, d);
    Value::Object(s)
}

/// A listing's terms, on its `dcat:DataService`: who may apply, where, which version, in what
/// state, of what type, at what price, on what terms.
fn terms(s: &mut Map<String, Value>, network: &str, d: &ListingDetails) {
    let mut put = |k: &str, v: Value| {
        s.insert(k.to_owned(), v);
    };
    put(
        "dct:accessRights",
        json!({"@type": "dct:RightsStatement", "rdfs:label": access_words(network, d),
               "psn:whoMayApply": word(&d.who_may_apply)}),
    );
    if !d.areas.is_empty() {
        let areas: Vec<Value> = d
            .areas
            .iter()
            .map(|a| json!({"@type": "dct:Location", "skos:prefLabel": a}))
            .collect();
        put("dct:spatial", json!(areas));
    }
    if let Some(version) = &d.version {
        put("dcat:version", json!(version));
    }
    put(
        "adms:status",
        json!({"@id": format!("urn:psn:lifecycle:{}", word(&d.lifecycle)), "@type": "skos:Concept",
               "skos:prefLabel": word(&d.lifecycle)}),
    );
    if let (Lifecycle::Deprecated, Some(day)) = (d.lifecycle, d.sunset) {
        put(
            "psn:sunset",
            json!({"@value": day.to_string(), "@type": "xsd:date"}),
        );
    }
    put(
        "dct:conformsTo",
        json!({"@id": format!("urn:psn:service-type:{}", word(&d.service_type)),
               "@type": "dct:Standard", "rdfs:label": service_type_label(d.service_type)}),
    );
    put("psn:price", price_value(&d.price));
    if !d.onboarding_terms.is_empty() {
        put(
            "dct:rights",
            json!({"@type": "dct:RightsStatement", "rdfs:label": d.onboarding_terms}),
        );
    }
    put("psn:classification", json!(word(&d.classification)));
}

/// The CSV columns, in order (docs/catalogue.md lists what each holds).
pub const CSV_COLUMNS: [&str; 23] = [
    "service_id",
    "title",
    "description",
    "provider_id",
    "provider_name",
    "processes",
    "process_labels",
    "lifecycle",
    "sunset",
    "service_type",
    "who_may_apply",
    "member_classes",
    "classification",
    "contact",
    "price",
    "price_min_pence",
    "price_max_pence",
    "price_unit",
    "price_interval",
    "version",
    "areas",
    "onboarding_terms",
    "openapi_url",
];

/// A cell made safe to open in a spreadsheet: one that starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be taken for a formula (CSV injection), so it gets a leading `'`,
/// which spreadsheets show as text and do not display.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// One listing's CSV row, before neutralising.
fn csv_row(base_url: &str, l: &ExportListing, taxonomy: &ProcessCatalogue) -> Vec<String> {
    let d = &l.record.details;
    let (price, min, max, unit, interval) = match &d.price {
        Price::Free {} => (
            "free".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ),
        Price::PerUnit {
            min_pence,
            max_pence,
            unit,
            interval,
        } => (
            "per-unit".to_owned(),
            min_pence.to_string(),
            max_pence.to_string(),
            unit.clone(),
            word::<PriceInterval>(interval),
        ),
    };
    let labels: Vec<&str> = l
        .record
        .processes
        .iter()
        .map(|p| taxonomy.get(p).map_or(p.as_str(), |c| c.label.as_str()))
        .collect();
    vec![
        l.record.id.to_string(),
        l.record.title.clone(),
        l.record.description.clone(),
        l.provider.id.to_string(),
        l.provider.name.clone(),
        l.record.processes.join(";"),
        labels.join(";"),
        word(&d.lifecycle),
        d.sunset.map(|s| s.to_string()).unwrap_or_default(),
        word(&d.service_type),
        word(&d.who_may_apply),
        d.member_classes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        word(&d.classification),
        d.contact.clone().unwrap_or_default(),
        price,
        min,
        max,
        unit,
        interval,
        d.version.clone().unwrap_or_default(),
        d.areas.join(";"),
        d.onboarding_terms.clone(),
        openapi_url(base_url, l).unwrap_or_default(),
    ]
}

/// The catalogue as CSV (RFC 4180: a header, then one row per listing; CRLF line ends), every
/// cell neutralised against formula injection.
pub fn csv(
    base_url: &str,
    listings: &[ExportListing],
    taxonomy: &ProcessCatalogue,
) -> Result<Vec<u8>, ::csv::Error> {
    let mut out = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    for l in listings {
        out.write_record(csv_row(base_url, l, taxonomy).iter().map(|c| neutralise(c)))?;
    }
    out.into_inner()
        .map_err(|e| ::csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_leading_quote() {
        for risky in ["=1+1", "+44 1622", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(risky), format!("'{risky}"));
        }
        for safe in ["", "Kent", "'quoted", " =not first", "1-2"] {
            assert_eq!(neutralise(safe), safe);
        }
    }

    fn listing(id: &str, title: &str, description: &str) -> ExportListing {
        let id: psn_core::names::ServiceId = id.parse().expect("id");
        ExportListing {
            provider: MemberView {
                id: id.member().clone(),
                name: "Kent, \"the Garden of England\"".into(),
                status: MemberStatus::Active,
                status_reason: None,
                sector: None,
                region: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
                subsystems: Vec::new(),
                gateways: Vec::new(),
            },
            record: ServiceRecord {
                id,
                title: title.into(),
                description: description.into(),
                processes: vec!["lgsl:979".into(), "psn:9999".into()],
                details: ListingDetails::default(),
            },
            openapi: None,
            issued: None,
            modified: None,
        }
    }

    #[test]
    fn csv_reads_back_into_the_same_cells_and_dcat_has_one_service_each() {
        let taxonomy = ProcessCatalogue::embedded().expect("taxonomy");
        let hostile = "a,b \"c\"\r\nd <script>x</script>\u{2028}é";
        let listings = vec![
            listing("GB/LA/E10000016/hr/payroll", "@payroll", hostile),
            listing("GB/LA/E10000016/hr/pensions", "Pensions", ""),
        ];
        let bytes = csv("https://a.example/", &listings, &taxonomy).expect("csv");
        let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<::csv::StringRecord> =
            reader.records().collect::<Result<_, _>>().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][1], "'@payroll");
        assert_eq!(&rows[0][2], hostile);
        assert_eq!(&rows[0][4], "Kent, \"the Garden of England\"");
        assert_eq!(&rows[0][5], "lgsl:979;psn:9999");
        // An unknown process keeps its id as its label.
        assert!(rows[0][6].ends_with(";psn:9999"), "{}", &rows[0][6]);
        let facts = CatalogueFacts {
            network: "GB".into(),
            base_url: "https://a.example".into(),
            modified: OffsetDateTime::UNIX_EPOCH,
        };
        let doc = dcat(&facts, &listings, &taxonomy);
        assert_eq!(doc["dcat:service"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["dcat:service"][0]["dct:description"], hostile);
        assert_eq!(doc["dct:modified"]["@value"], "1970-01-01T00:00:00Z");
        assert!(doc["dcat:service"][1].get("dct:description").is_none());
    }
}
