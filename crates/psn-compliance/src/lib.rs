//! Compliance frameworks (docs/compliance.md): the controls a member meets to connect to the
//! network and to provide services through it, as versioned data in `data/compliance/`.
//!
//! A framework file is read and checked here before anything uses it, so a mistake in one (a
//! control for a kind the framework does not issue, a mapping to a Cyber Essentials control or
//! a CAF principle that does not exist, two controls with one id) stops the authority at start
//! with the file and the field named, rather than surfacing in a member's submission. Later
//! stages (submissions, reviews, certificates and their expiry) name a framework by id and
//! version, so adopting a new version leaves certificates of the old one as they were.
//!
//! The authority calls the pure checks of the later stages from here, in the order the data
//! flows: a member's answers as saved and submitted ([`check_draft`], [`check_submittable`]),
//! the evidence files it uploads ([`check_evidence`]), an assessor's review and the
//! certificate's length ([`check_review`], [`certificate_months`], [`add_months`]), and the
//! reminders before and after expiry ([`due_stages`]).

mod answers;
mod evidence;
mod lifecycle;
mod review;
mod text;

pub use answers::{
    check_answers, check_draft, check_submittable, controls_for, missing_answers, MAX_ANSWER_TEXT,
    MAX_CERTIFICATE_NUMBER, MAX_EVIDENCE_PER_ANSWER,
};
pub use evidence::{
    check_evidence, sha256_hex, EvidenceRefusal, ACCEPTED_TYPES, MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_NAME, MAX_EVIDENCE_QUOTA,
};
pub use lifecycle::{due_stages, ReminderStage, UnknownReminderStage};
pub use review::{
    add_months, certificate_months, check_review, DEFAULT_APPROACHING_MONTHS,
    MAX_APPROACHING_MONTHS, MAX_REVIEW_COMMENT, MAX_REVIEW_TEXT,
};

use psn_api::{Framework, FrameworkSummary};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// The frameworks shipped with psn, by file: the psn Code of Connection.
const EMBEDDED: &[(&str, &str)] = &[(
    "psn-coco-2026.1.json",
    include_str!("../../../data/compliance/psn-coco-2026.1.json"),
)];

/// The five technical controls of Cyber Essentials a control may map to.
pub const CYBER_ESSENTIALS: [&str; 5] = [
    "Firewalls",
    "Secure configuration",
    "Security update management",
    "User access control",
    "Malware protection",
];

/// The principles of the NCSC Cyber Assessment Framework (objectives A to D) a control may
/// contribute to.
pub const CAF_PRINCIPLES: [&str; 14] = [
    "A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4", "B5", "B6", "C1", "C2", "D1", "D2",
];

/// Longest id, version, title or kind name.
const MAX_NAME: usize = 80;
/// Longest text (a summary, guidance, an evidence item).
const MAX_TEXT: usize = 2_000;
/// Most controls one framework may have.
const MAX_CONTROLS: usize = 200;
/// Longest a certificate may last, months.
const MAX_VALIDITY_MONTHS: u32 = 36;

/// Why a framework file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {problem}")]
pub struct Error {
    /// The file.
    pub file: String,
    /// What is wrong, naming the control or field.
    pub problem: String,
}

/// The frameworks shipped with psn, each checked.
pub fn embedded() -> Result<Vec<Framework>, Error> {
    let frameworks = EMBEDDED
        .iter()
        .map(|(file, text)| parse(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&frameworks)?;
    Ok(frameworks)
}

/// Reads and checks one framework file (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<Framework, Error> {
    let refuse = |problem: String| Error {
        file: file.to_owned(),
        problem,
    };
    let framework: Framework =
        serde_json::from_str(text).map_err(|e| refuse(format!("not a framework: {e}")))?;
    check(&framework).map_err(refuse)?;
    Ok(framework)
}

/// The list entry of a framework.
pub fn summary(framework: &Framework) -> FrameworkSummary {
    FrameworkSummary {
        id: framework.id.clone(),
        version: framework.version.clone(),
        title: framework.title.clone(),
        controls: framework.controls.len() as u64,
        kinds: framework.kinds.iter().map(|k| k.kind.clone()).collect(),
    }
}

/// Puts together the frameworks the network uses: those shipped ([`embedded`]) and those the
/// operator adds as files (each read with [`parse`]).
///
/// Each is checked again; no two may have the same id and version, and a certificate kind may
/// be issued by versions of one framework only (so a certificate's kind says which framework
/// it was assessed against). Returns them sorted by id, then version (numeric parts compared as
/// numbers, so `2026.2` comes before `2026.10`).
pub fn combine(mut frameworks: Vec<Framework>) -> Result<Vec<Framework>, Error> {
    for f in &frameworks {
        check(f).map_err(|problem| Error {
            file: format!("{} {}", f.id, f.version),
            problem,
        })?;
    }
    check_unique(&frameworks)?;
    let mut issuers: BTreeMap<&str, &str> = BTreeMap::new();
    for f in &frameworks {
        for k in &f.kinds {
            match issuers.insert(k.kind.as_str(), f.id.as_str()) {
                Some(other) if other != f.id => {
                    return Err(Error {
                        file: format!("{} {}", f.id, f.version),
                        problem: format!(
                            "certificate kind {} is issued by both framework {other} and framework {}; give one of them another kind name",
                            k.kind, f.id
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    frameworks.sort_by(|a, b| {
        a.id.cmp(&b.id)
            .then_with(|| version_order(&a.version, &b.version))
    });
    Ok(frameworks)
}

/// Orders versions part by part (split at `.` and `-`), numeric parts as numbers, others as
/// text; equal versions compare by their text so the order is total.
fn version_order(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '-']).map(str::to_owned).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(nx), Ok(ny)) => nx.cmp(&ny),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len()).then_with(|| a.cmp(b))
}

/// Refuses two frameworks with the same id and version.
fn check_unique(frameworks: &[Framework]) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for f in frameworks {
        if !seen.insert((&f.id, &f.version)) {
            return Err(Error {
                file: format!("{} {}", f.id, f.version),
                problem: "the same framework version is loaded twice".to_owned(),
            });
        }
    }
    Ok(())
}

/// An id, version or kind: 1 to 80 of `a-z`, `0-9`, `.`, `-`.
fn check_name(what: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} must be 1 to {MAX_NAME} of a-z, 0-9, '.' and '-'"
        ))
    }
}

/// Text people read: trimmed, 1 to `max` characters, no control characters.
fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim() != value || value.is_empty() || value.chars().count() > max {
        return Err(format!(
            "{what} must be 1 to {max} characters without leading or trailing spaces"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(())
}

fn check(f: &Framework) -> Result<(), String> {
    check_name("id", &f.id)?;
    check_name("version", &f.version)?;
    check_text("title", &f.title, MAX_NAME)?;
    check_text("summary", &f.summary, MAX_TEXT)?;
    if f.kinds.is_empty() {
        return Err("a framework issues at least one kind of certificate".to_owned());
    }
    let mut kinds = BTreeSet::new();
    for k in &f.kinds {
        check_name("kind", &k.kind)?;
        let at = format!("kind {}", k.kind);
        check_text(&format!("{at}: title"), &k.title, MAX_NAME)?;
        check_text(&format!("{at}: purpose"), &k.purpose, MAX_TEXT)?;
        if !(1..=MAX_VALIDITY_MONTHS).contains(&k.validity_months) {
            return Err(format!(
                "{at}: validity_months must be 1 to {MAX_VALIDITY_MONTHS}"
            ));
        }
        if !kinds.insert(k.kind.as_str()) {
            return Err(format!("{at} is listed twice"));
        }
    }
    if f.controls.is_empty() || f.controls.len() > MAX_CONTROLS {
        return Err(format!("a framework has 1 to {MAX_CONTROLS} controls"));
    }
    let mut ids = BTreeSet::new();
    for c in &f.controls {
        check_name("control id", &c.id)?;
        let at = format!("control {}", c.id);
        if !ids.insert(c.id.as_str()) {
            return Err(format!("{at} is listed twice"));
        }
        check_text(&format!("{at}: title"), &c.title, MAX_NAME)?;
        check_text(&format!("{at}: guidance"), &c.guidance, MAX_TEXT)?;
        if c.evidence.is_empty() {
            return Err(format!("{at}: say what evidence an assessor expects"));
        }
        for e in &c.evidence {
            check_text(&format!("{at}: evidence"), e, MAX_TEXT)?;
        }
        if c.kinds.is_empty() {
            return Err(format!("{at}: name the certificate kinds it applies to"));
        }
        if let Some(k) = c.kinds.iter().find(|k| !kinds.contains(k.as_str())) {
            return Err(format!(
                "{at}: the framework issues no certificate kind {k:?}"
            ));
        }
        if let Some(ce) = c
            .cyber_essentials
            .iter()
            .find(|ce| !CYBER_ESSENTIALS.contains(&ce.as_str()))
        {
            return Err(format!(
                "{at}: {ce:?} is not a Cyber Essentials control ({})",
                CYBER_ESSENTIALS.join(", ")
            ));
        }
        if let Some(p) = c.caf.iter().find(|p| !CAF_PRINCIPLES.contains(&p.as_str())) {
            return Err(format!(
                "{at}: {p:?} is not a CAF principle (A1 to A4, B1 to B6, C1, C2, D1, D2)"
            ));
        }
    }
    for k in &kinds {
        if !f.controls.iter().any(|c| c.kinds.iter().any(|ck| ck == k)) {
            return Err(format!("kind {k} has no control that applies to it"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> (String, serde_json::Value) {
        let (file, text) = EMBEDDED[0];
        (
            file.to_owned(),
            serde_json::from_str(text).expect("the shipped file is JSON"),
        )
    }

    fn refused(change: impl Fn(&mut serde_json::Value)) -> String {
        let (file, mut value) = shipped();
        change(&mut value);
        parse(&file, &value.to_string())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn the_code_of_connection_is_shipped_and_covers_cyber_essentials() {
        let frameworks = embedded().expect("shipped frameworks");
        let coco = frameworks
            .iter()
            .find(|f| f.id == "psn-coco")
            .expect("the Code of Connection");
        assert_eq!(coco.version, "2026.1");
        let kinds: Vec<&str> = coco.kinds.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(kinds, ["connection", "service-provision"]);
        assert!(coco.controls.len() >= 9);
        // Every Cyber Essentials control is covered by some control of the framework.
        for ce in CYBER_ESSENTIALS {
            assert!(
                coco.controls
                    .iter()
                    .any(|c| c.cyber_essentials.iter().any(|x| x == ce)),
                "{ce}"
            );
        }
        let summary = summary(coco);
        assert_eq!(summary.controls, coco.controls.len() as u64);
    }

    #[test]
    fn mistakes_in_a_framework_file_are_refused_naming_the_field() {
        assert!(parse("f.json", "{")
            .expect_err("json")
            .problem
            .starts_with("not a framework"));
        assert!(refused(|v| v["id"] = "PSN COCO".into()).contains("id \"PSN COCO\""));
        assert!(refused(|v| v["version"] = "".into()).contains("version"));
        assert!(
            refused(|v| v["controls"][0]["kinds"][0] = "everything".into()).contains(
                "control coco-1: the framework issues no certificate kind \"everything\""
            )
        );
        assert!(refused(|v| v["controls"][1]["id"] = "coco-1".into())
            .contains("control coco-1 is listed twice"));
        assert!(
            refused(|v| v["controls"][0]["cyber_essentials"][0] = "Firewall".into())
                .contains("not a Cyber Essentials control")
        );
        assert!(
            refused(|v| v["controls"][0]["caf"][0] = "E1".into()).contains("not a CAF principle")
        );
        assert!(
            refused(|v| v["controls"][0]["evidence"] = serde_json::json!([])).contains("evidence")
        );
        assert!(refused(|v| v["controls"][0]["guidance"] = " padded".into())
            .contains("control coco-1: guidance"));
        assert!(refused(|v| v["controls"][0]["title"] = "bell\u{7}".into())
            .contains("control characters"));
        assert!(
            refused(|v| v["kinds"][0]["validity_months"] = 0.into()).contains("validity_months")
        );
        assert!(refused(|v| v["kinds"][1]["kind"] = "connection".into()).contains("listed twice"));
        assert!(refused(|v| v["surprise"] = true.into()).contains("unknown field"));
        // A kind no control applies to would certify nothing.
        assert!(refused(|v| {
            for c in v["controls"].as_array_mut().expect("controls") {
                c["kinds"] = serde_json::json!(["connection"]);
            }
        })
        .contains("kind service-provision has no control"));
    }

    fn coco() -> Framework {
        embedded()
            .expect("shipped")
            .into_iter()
            .next()
            .expect("one")
    }

    fn renamed(id: &str, version: &str, kinds: &[&str]) -> Framework {
        let mut f = coco();
        f.id = id.to_owned();
        f.version = version.to_owned();
        for (k, name) in f.kinds.iter_mut().zip(kinds) {
            k.kind = (*name).to_owned();
        }
        for c in &mut f.controls {
            for k in &mut c.kinds {
                *k = if k == "connection" {
                    kinds[0]
                } else {
                    kinds[1]
                }
                .to_owned();
            }
        }
        f
    }

    #[test]
    fn operator_frameworks_combine_with_the_shipped_ones_in_order() {
        let newer = renamed("psn-coco", "2026.10", &["connection", "service-provision"]);
        let next = renamed("psn-coco", "2026.2", &["connection", "service-provision"]);
        let local = renamed("city-net", "1", &["city-connection", "city-service"]);
        let all = combine(vec![newer, coco(), local, next]).expect("combined");
        let order: Vec<(&str, &str)> = all
            .iter()
            .map(|f| (f.id.as_str(), f.version.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("city-net", "1"),
                ("psn-coco", "2026.1"),
                ("psn-coco", "2026.2"),
                ("psn-coco", "2026.10"),
            ]
        );
        assert_eq!(version_order("2026.1", "2026.01"), Ordering::Greater);
    }

    #[test]
    fn combining_refuses_repeats_and_kinds_issued_by_two_frameworks() {
        let twice = combine(vec![coco(), coco()]).expect_err("twice");
        assert_eq!(twice.file, "psn-coco 2026.1");
        assert!(twice.problem.contains("loaded twice"));

        let rival = renamed("city-net", "1", &["connection", "city-service"]);
        let e = combine(vec![coco(), rival]).expect_err("rival");
        assert!(
            e.problem
                .contains("certificate kind connection is issued by both framework psn-coco and framework city-net"),
            "{e}"
        );

        let mut broken = renamed("city-net", "1", &["city-connection", "city-service"]);
        broken.controls[0].kinds = vec!["nowhere".to_owned()];
        let e = combine(vec![coco(), broken]).expect_err("checked");
        assert_eq!(e.file, "city-net 1");
        assert!(e.problem.contains("no certificate kind \"nowhere\""), "{e}");
    }
}
