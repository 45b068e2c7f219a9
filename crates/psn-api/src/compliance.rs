//! Compliance (docs/compliance.md): the versioned frameworks a member is assessed against. A
//! framework is data in the repository (`data/compliance/`); a certificate names the framework
//! version it was assessed against, so a network can adopt a new version without invalidating
//! the certificates of the old.

use serde::{Deserialize, Serialize};

/// A kind of certificate a framework issues, and what holding one allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateKind {
    /// `connection`, `service-provision`, or a kind the network defines.
    pub kind: String,
    /// For people, e.g. `Service provision`.
    pub title: String,
    /// What holding it allows.
    pub purpose: String,
    /// How long a certificate of this kind lasts, months (1 to 36).
    pub validity_months: u32,
}

/// One control of a framework: what a member must do, and how it shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Stable id within the framework, e.g. `coco-1`.
    pub id: String,
    /// Short title, e.g. `Boundary firewalls and internet gateways`.
    pub title: String,
    /// What meeting it means.
    pub guidance: String,
    /// The evidence an assessor expects to see.
    pub evidence: Vec<String>,
    /// The certificate kinds it applies to.
    pub kinds: Vec<String>,
    /// The Cyber Essentials technical controls it covers (`Firewalls`, `Secure configuration`,
    /// `Security update management`, `User access control`, `Malware protection`).
    pub cyber_essentials: Vec<String>,
    /// The NCSC Cyber Assessment Framework principles it contributes to (`A1` … `D2`).
    pub caf: Vec<String>,
}

/// A versioned framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// Stable id, e.g. `psn-coco`.
    pub id: String,
    /// Version, e.g. `2026.1`.
    pub version: String,
    /// For people.
    pub title: String,
    /// What it is for.
    pub summary: String,
    /// The certificates it issues.
    pub kinds: Vec<CertificateKind>,
    /// Its controls, in the order a submission answers them.
    pub controls: Vec<Control>,
}

/// A framework version in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkSummary {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its title.
    pub title: String,
    /// How many controls it has.
    pub controls: u64,
    /// The certificate kinds it issues.
    pub kinds: Vec<String>,
}

/// Every framework version the network has adopted (`GET /v1/compliance/frameworks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkList {
    /// By id, then version.
    pub frameworks: Vec<FrameworkSummary>,
}
