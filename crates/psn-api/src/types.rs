//! Request and response bodies. Identifiers are typed, so a malformed one is refused while the
//! body is parsed, with the identifier's own error message.

use psn_core::access::{Grant, Grantee};
use psn_core::config::MemberStatus;
use psn_core::names::{
    GatewayCode, GatewayId, MemberClass, MemberId, ServiceId, SubsystemCode, SubsystemId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A member to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// `{network}/{class}/{code}`; the code must match its class's scheme.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Sector facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A certificate issued to a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A gateway as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    /// `{member}@{code}`.
    pub id: GatewayId,
    /// Peer-facing `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// Certificates issued to it, newest first.
    #[serde(default)]
    pub certificates: Vec<CertificateView>,
    /// The configuration it was last answered with; absent until it first fetches one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigHeld>,
}

/// The configuration version a gateway holds, as its latest fetch or long poll showed: the
/// version the authority answered it with, or confirmed with `304 Not Modified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigHeld {
    /// The version.
    pub version: u64,
    /// When the authority answered; a gateway that follows the configuration asks again at
    /// least every minute, so an old time means it is out of touch.
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
}

/// A gateway in the network-wide list: its registry entry and how fresh the authority's view
/// of it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySummary {
    /// `{member}@{code}`.
    pub id: GatewayId,
    /// Peer-facing `host:port`, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// The configuration it was last answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigHeld>,
    /// When it last delivered its measurements.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_delivery: Option<OffsetDateTime>,
}

/// A page of gateways, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayList {
    /// The page.
    pub items: Vec<GatewaySummary>,
    /// Gateways in all pages.
    pub total: u64,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
    /// The latest published configuration version, to compare each gateway's with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<u64>,
}

/// A member as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// `{network}/{class}/{code}`.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Membership status.
    pub status: MemberStatus,
    /// Why the status was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Sector facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Subsystems (only in single-member responses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsystems: Vec<SubsystemId>,
    /// Gateways (only in single-member responses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayView>,
}

/// One page of members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    /// The page.
    pub items: Vec<MemberView>,
    /// Matching members in all pages.
    pub total: u64,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
}

/// Filters for listing members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Only this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Only this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
    /// Only this sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Name or code contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Page size (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Offset into the ordered list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// A function above a process in the catalogue's taxonomy (`psnf:1`, `lgfl:2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFunction {
    /// Namespaced function identifier.
    pub id: String,
    /// Its label.
    pub label: String,
}

/// A process a service listing may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessView {
    /// Namespaced identifier: `lgsl:N` (Local Government Service List) or `psn:N` (the
    /// network's own extension).
    pub id: String,
    /// Label.
    pub label: String,
    /// Scope note; may be empty.
    pub description: String,
    /// Functions above the process, outermost first; empty where the data names none (LGSL).
    pub functions: Vec<ProcessFunction>,
}

/// One page of processes, best match first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessList {
    /// The page.
    pub items: Vec<ProcessView>,
    /// Matching processes in all pages.
    pub total: u64,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
}

/// A search of the process taxonomy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessQuery {
    /// Words the label or scope note must contain (case-insensitive, at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Page size (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Offset into the ranked list (at most 100,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// A bulk registration; members that already exist are left as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Members to register.
    pub members: Vec<NewMember>,
}

/// A member the import refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRejection {
    /// The identifier as given.
    pub id: String,
    /// Why it was refused.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Newly registered.
    pub created: Vec<MemberId>,
    /// Already registered; unchanged.
    pub existing: Vec<MemberId>,
    /// Refused, with reasons.
    pub rejected: Vec<ImportRejection>,
    /// The configuration version that includes the new members.
    pub config_version: u64,
}

/// A status change with its reason, kept in the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A member after a change, with the configuration version that reflects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanged {
    /// The member now.
    pub member: MemberView,
    /// First configuration version reflecting the change.
    pub config_version: u64,
}

/// A subsystem to add to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubsystem {
    /// Lowercase code.
    pub code: SubsystemCode,
}

/// A subsystem after it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsystemAdded {
    /// Its full identifier.
    pub id: SubsystemId,
    /// First configuration version listing it.
    pub config_version: u64,
}

/// A request for a one-time enrolment token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Member whose gateway will enrol.
    pub member: MemberId,
    /// Code the gateway enrols as.
    pub gateway: GatewayCode,
    /// Lifetime in seconds (default 24 h, at most 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// A token, shown once; the authority keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssued {
    /// The token text to hand to the member.
    pub token: String,
    /// The gateway it enrols.
    pub gateway: GatewayId,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A gateway's revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRevoked {
    /// The gateway.
    pub gateway: GatewayId,
    /// Serials added to the configuration's revocation list.
    pub revoked_serials: Vec<String>,
    /// First configuration version without it.
    pub config_version: u64,
}

/// One entry of the administrative audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEvent {
    /// Position in the trail.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: `operator:{name}`, `gateway:{id}`, `person:{username}` (signing in and out),
    /// `oidc:{provider}` (people created or changed by an OpenID Connect sign-in) or `system`.
    pub actor: String,
    /// What, e.g. `member.suspend`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details of the change.
    pub detail: serde_json::Value,
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEventList {
    /// Events in order.
    pub items: Vec<AdminEvent>,
}

/// Member classes of the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassList {
    /// Classes ordered by code.
    pub items: Vec<MemberClass>,
}

/// A gateway's enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The enrolment token text.
    pub token: String,
    /// PEM signing request naming the gateway.
    pub csr: String,
    /// Peer-facing `host:port`, if already known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What an enrolled gateway receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The gateway's identity.
    pub gateway: GatewayId,
    /// PEM: the gateway certificate followed by the network CA.
    pub certificate_chain: String,
    /// The current signed configuration.
    pub config: String,
}

/// A certificate renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// PEM signing request naming the same gateway (a fresh key is recommended).
    pub csr: String,
}

/// A renewed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// PEM: the gateway certificate followed by the network CA.
    pub certificate_chain: String,
}

/// A gateway telling the authority where peers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressUpdate {
    /// `host:port`.
    pub address: String,
}

/// Health of the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Network id.
    pub network: String,
    /// Latest published configuration version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<u64>,
}

/// A service's catalogue listing, published by its provider's gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceListing {
    /// `{subsystem}/{service}`; the subsystem must belong to the publishing member.
    pub id: ServiceId,
    /// Short title.
    pub title: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Process identifiers of the catalogue's taxonomy (`GET /v1/processes`), e.g. `lgsl:4` or
    /// `psn:1001`; the authority refuses any other.
    #[serde(default)]
    pub processes: Vec<String>,
    /// What a consumer needs to know before asking: lifecycle, type, who may apply, terms.
    #[serde(default)]
    pub details: ListingDetails,
}

/// Where a service is in its life (GOV.UK service phases, then retirement).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Finding out what is needed; not callable for real work.
    Discovery,
    /// A prototype with a few consumers.
    Alpha,
    /// Open to consumers, still changing.
    Beta,
    /// In service.
    #[default]
    Live,
    /// Still answering, until its sunset date.
    Deprecated,
    /// No longer answering; kept listed so consumers learn what happened.
    Withdrawn,
}

/// How the service is consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceType {
    /// HTTP and JSON (or similar) resources.
    #[default]
    Rest,
    /// SOAP over HTTP.
    Soap,
    /// Events or messages pushed to consumers.
    Events,
    /// Files exchanged in batches.
    Files,
}

/// Who may ask the provider for access.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhoMayApply {
    /// Any member of the network.
    #[default]
    AnyMember,
    /// Members of the listed classes only.
    MemberClasses,
    /// Only those the provider invites.
    ByRequest,
}

/// The Government Security Classification of what the service carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    /// OFFICIAL.
    #[default]
    Official,
    /// OFFICIAL-SENSITIVE.
    OfficialSensitive,
}

/// How often a price applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceInterval {
    /// Per call or item, whenever it happens.
    Each,
    /// Per month.
    Month,
    /// Per year.
    Year,
}

/// What consuming the service costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Price {
    /// No charge. (A struct variant, so that `deny_unknown_fields` refuses extra members: serde
    /// ignores them beside a unit variant's tag.)
    Free {},
    /// A charge per unit (an invoice, an employee, a call…) per interval, from a minimum to a
    /// maximum in pence (a tariff with bands).
    PerUnit {
        /// Lowest charge per unit, pence.
        min_pence: u64,
        /// Highest charge per unit, pence.
        max_pence: u64,
        /// What one unit is, e.g. `employee`, `invoice`.
        unit: String,
        /// How often the charge applies.
        interval: PriceInterval,
    },
}

/// Pounds with at most two decimals (`3.50`, `12`), as pence.
fn pence(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not an amount in pounds such as 3.50");
    let (pounds, fraction) = text.split_once('.').unwrap_or((text, "00"));
    if pounds.is_empty()
        || fraction.is_empty()
        || fraction.len() > 2
        || !pounds
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let pounds: u64 = pounds.parse().map_err(|_| bad())?;
    let fraction: u64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    pounds
        .checked_mul(100)
        .and_then(|p| p.checked_add(fraction))
        .ok_or_else(bad)
}

/// A price as people write it: `free`, or `POUNDS[-POUNDS]/UNIT/INTERVAL` such as
/// `3.50-4.42/employee/month` (interval `each`, `month` or `year`). The CLI's `--price` and the
/// web UI's listing form both read it.
impl std::str::FromStr for Price {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "free" {
            return Ok(Price::Free {});
        }
        let bad = || {
            format!("{text:?}: a price is free or POUNDS[-POUNDS]/UNIT/INTERVAL, e.g. 3.50-4.42/employee/month")
        };
        let mut parts = text.splitn(3, '/');
        let (amounts, unit, interval) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(u), Some(i)) => (a, u, i),
            _ => return Err(bad()),
        };
        let (min, max) = amounts.split_once('-').unwrap_or((amounts, amounts));
        let interval = match interval {
            "each" => PriceInterval::Each,
            "month" => PriceInterval::Month,
            "year" => PriceInterval::Year,
            _ => return Err(bad()),
        };
        Ok(Price::PerUnit {
            min_pence: pence(min)?,
            max_pence: pence(max)?,
            unit: unit.to_owned(),
            interval,
        })
    }
}

/// The form [`Price`]'s `FromStr` reads, so a price survives a round trip through a form.
impl std::fmt::Display for Price {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Price::Free {} => f.write_str("free"),
            Price::PerUnit {
                min_pence,
                max_pence,
                unit,
                interval,
            } => {
                let pounds = |p: u64| format!("{}.{:02}", p / 100, p % 100);
                let interval = match interval {
                    PriceInterval::Each => "each",
                    PriceInterval::Month => "month",
                    PriceInterval::Year => "year",
                };
                if min_pence == max_pence {
                    write!(f, "{}/{unit}/{interval}", pounds(*min_pence))
                } else {
                    write!(
                        f,
                        "{}-{}/{unit}/{interval}",
                        pounds(*min_pence),
                        pounds(*max_pence)
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod price_tests {
    use super::{pence, Price, PriceInterval};

    #[test]
    fn prices_are_read_in_pounds_refused_clearly_and_written_back() {
        assert_eq!("free".parse(), Ok(Price::Free {}));
        let banded = Price::PerUnit {
            min_pence: 350,
            max_pence: 442,
            unit: "employee".into(),
            interval: PriceInterval::Month,
        };
        assert_eq!("3.50-4.42/employee/month".parse(), Ok(banded.clone()));
        assert_eq!(banded.to_string(), "3.50-4.42/employee/month");
        let each = Price::PerUnit {
            min_pence: 79,
            max_pence: 79,
            unit: "invoice".into(),
            interval: PriceInterval::Each,
        };
        assert_eq!("0.79/invoice/each".parse(), Ok(each.clone()));
        assert_eq!(each.to_string().parse(), Ok(each));
        assert_eq!(Price::Free {}.to_string(), "free");
        assert_eq!(pence("12"), Ok(1200));
        assert_eq!(pence("0.5"), Ok(50));
        for bad in [
            "",
            ".5",
            "1.234",
            "-1",
            "1e3",
            "£3",
            "+3",
            "18446744073709551615",
        ] {
            assert!(pence(bad).is_err(), "{bad}");
        }
        for bad in [
            "3.50",
            "3.50/employee",
            "3.50/employee/fortnight",
            "x-y/u/month",
            "FREE",
        ] {
            let e = bad.parse::<Price>().expect_err(bad);
            assert!(
                e.contains("a price is free or") || e.contains("not an amount"),
                "{bad}: {e}"
            );
        }
    }
}

impl Default for Price {
    fn default() -> Self {
        Price::Free {}
    }
}

/// The listing's terms beyond its title and processes. Every field has a default, so a
/// listing published before these existed reads as a live, free REST service open to any
/// member at OFFICIAL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingDetails {
    /// The provider's version label, e.g. `2.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the service is in its life.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// The last day a deprecated service answers, `YYYY-MM-DD` (required when deprecated, only
    /// then).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "iso_date::option"
    )]
    pub sunset: Option<time::Date>,
    /// How it is consumed.
    #[serde(default)]
    pub service_type: ServiceType,
    /// Who may ask for access.
    #[serde(default)]
    pub who_may_apply: WhoMayApply,
    /// With `member-classes`: which classes (only then, and at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_classes: Vec<psn_core::names::ClassCode>,
    /// What it carries.
    #[serde(default)]
    pub classification: Classification,
    /// The provider team's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// What it costs.
    #[serde(default)]
    pub price: Price,
    /// Onboarding terms: what a consumer agrees to, in plain words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub onboarding_terms: String,
    /// Areas served, e.g. `England`, `Kent`, `South West`; empty for wherever the members are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub areas: Vec<String>,
}

time::serde::format_description!(pub(crate) iso_date, Date, "[year]-[month]-[day]");

/// Longest onboarding terms.
pub const MAX_TERMS: usize = 4_000;
/// Most areas a listing names.
pub const MAX_AREAS: usize = 32;

/// Text of one line: non-empty after trimming, at most `max` characters, no control characters.
fn one_line(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(format!(
            "{what} must be 1 to {max} characters of text on one line"
        ));
    }
    Ok(())
}

/// Checks an e-mail address's shape: one `@`, a local part and a dotted domain of letters,
/// digits and hyphens. Deliverability is the provider's to keep.
fn check_email(address: &str) -> Result<(), String> {
    let bad =
        || format!("contact {address:?} must be an e-mail address such as team@council.gov.uk");
    if address.len() > 254 {
        return Err(bad());
    }
    let (local, domain) = address.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !local_ok || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

impl ListingDetails {
    /// Checks every field and their combinations, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(version) = &self.version {
            one_line("version", version, 32)?;
        }
        match (self.lifecycle, self.sunset) {
            (Lifecycle::Deprecated, None) => {
                return Err("a deprecated service needs a sunset date".into())
            }
            (Lifecycle::Deprecated, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err("only a deprecated service has a sunset date".into()),
        }
        match (self.who_may_apply, self.member_classes.is_empty()) {
            (WhoMayApply::MemberClasses, true) => {
                return Err("who_may_apply member-classes needs member_classes".into())
            }
            (WhoMayApply::MemberClasses, false) | (_, true) => {}
            (_, false) => {
                return Err("member_classes go only with who_may_apply member-classes".into())
            }
        }
        if self.member_classes.len() > 16 {
            return Err("at most 16 member classes".into());
        }
        if let Some(contact) = &self.contact {
            check_email(contact)?;
        }
        if let Price::PerUnit {
            min_pence,
            max_pence,
            unit,
            ..
        } = &self.price
        {
            one_line("price unit", unit, 40)?;
            if min_pence > max_pence || *max_pence > 100_000_000 {
                return Err(
                    "price min_pence must not exceed max_pence, and max_pence is at most 100000000 (£1m)"
                        .into(),
                );
            }
        }
        if self.onboarding_terms.chars().count() > MAX_TERMS
            || self
                .onboarding_terms
                .chars()
                .any(|c| c.is_control() && c != '\n')
        {
            return Err(format!(
                "onboarding_terms must be at most {MAX_TERMS} characters without control characters"
            ));
        }
        if self.areas.len() > MAX_AREAS {
            return Err(format!("at most {MAX_AREAS} areas"));
        }
        for area in &self.areas {
            one_line("an area", area, 100)?;
        }
        Ok(())
    }
}

/// Every service level declaration in the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaList {
    /// By service id.
    pub items: Vec<psn_core::sla::SlaDeclaration>,
}

/// A service to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    /// The service.
    pub id: ServiceId,
}

/// A grant to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// One of the calling member's services.
    pub service: ServiceId,
    /// Subsystem, member or class that may call it.
    pub grantee: Grantee,
    /// Only this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only this path pattern (exact, or prefix ending in `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A grant to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRef {
    /// Grant id.
    pub id: String,
}

/// The grants on a member's services, as delivered to its gateways only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantList {
    /// Grants.
    pub items: Vec<Grant>,
    /// Configuration version at the time of reading.
    pub config_version: u64,
}

/// One gateway's aggregate delivery, as the authority has accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateDelivery {
    /// The gateway.
    pub gateway: GatewayId,
    /// Where its next batch must start in its audit log.
    pub cursor: psn_core::aggregate::LogCursor,
    /// Batches accepted.
    pub batches: u64,
    /// Audit records those batches covered: equal to the records in the gateway's log before
    /// the cursor, since delivery is exactly-once.
    pub records: u64,
    /// When the last batch was accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Every gateway's aggregate delivery, by gateway id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateDeliveryList {
    /// By gateway id.
    pub items: Vec<AggregateDelivery>,
}

/// What an SLA report covers. Times are RFC 3339; without `until` the report ends now, without
/// `since` it starts 30 days before `until`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaReportQuery {
    /// Only this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// Only the services of this provider member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<MemberId>,
    /// Only exchanges and probes of this consumer member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<MemberId>,
    /// Start (inclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub since: Option<OffsetDateTime>,
    /// End (exclusive).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub until: Option<OffsetDateTime>,
    /// With `service` only: also report the service over time, in steps of this many seconds
    /// (a whole number of minutes; at most 1,000 steps in the period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
}

/// Exchanges (and probes) by how they ended; see `psn_core::aggregate::Outcome`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Answered below 400.
    pub ok: u64,
    /// The caller's request was refused (4xx): counts against nobody.
    pub client_error: u64,
    /// The provider's backend failed.
    pub backend: u64,
    /// The provider's gateway or the path to it failed.
    pub provider_gateway: u64,
    /// The consumer's own gateway failed: counts against nobody's SLA.
    pub consumer_gateway: u64,
    /// Broken off mid-response: counts against nobody.
    pub unfinished: u64,
}

impl OutcomeCounts {
    /// Adds `count` exchanges that ended with `outcome`.
    pub fn add(&mut self, outcome: psn_core::aggregate::Outcome, count: u64) {
        use psn_core::aggregate::Outcome;
        let slot = match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::ClientError => &mut self.client_error,
            Outcome::Backend => &mut self.backend,
            Outcome::ProviderGateway => &mut self.provider_gateway,
            Outcome::ConsumerGateway => &mut self.consumer_gateway,
            Outcome::Unfinished => &mut self.unfinished,
        };
        *slot = slot.saturating_add(count);
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &OutcomeCounts) {
        self.ok = self.ok.saturating_add(other.ok);
        self.client_error = self.client_error.saturating_add(other.client_error);
        self.backend = self.backend.saturating_add(other.backend);
        self.provider_gateway = self.provider_gateway.saturating_add(other.provider_gateway);
        self.consumer_gateway = self.consumer_gateway.saturating_add(other.consumer_gateway);
        self.unfinished = self.unfinished.saturating_add(other.unfinished);
    }

    /// Everything counted.
    pub fn total(&self) -> u64 {
        [
            self.ok,
            self.client_error,
            self.backend,
            self.provider_gateway,
            self.consumer_gateway,
            self.unfinished,
        ]
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(*c))
    }

    /// Exchanges availability is judged on: answered, or failed on the provider's side.
    pub fn eligible(&self) -> u64 {
        self.ok
            .saturating_add(self.backend)
            .saturating_add(self.provider_gateway)
    }

    /// Failures on the provider's side (backend or provider gateway).
    pub fn failures(&self) -> u64 {
        self.backend.saturating_add(self.provider_gateway)
    }

    /// Percent of eligible exchanges that did not fail; `None` when nothing was eligible.
    pub fn availability_percent(&self) -> Option<f64> {
        let eligible = self.eligible();
        (eligible > 0)
            .then(|| 100.0 * (eligible - self.failures().min(eligible)) as f64 / eligible as f64)
    }
}

/// Where a window's availability figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AvailabilitySource {
    /// Consumer gateways' exchanges and probes: the service as its consumers experienced it.
    Consumers,
    /// No consumer reported anything in the window, so the provider gateway's probes of its
    /// own backend stand in.
    ProviderProbes,
    /// Nothing was reported in the window.
    None,
}

impl AvailabilitySource {
    /// The snake_case word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AvailabilitySource::Consumers => "consumers",
            AvailabilitySource::ProviderProbes => "provider_probes",
            AvailabilitySource::None => "none",
        }
    }
}

/// A window's latency against the declared objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyAttainment {
    /// The percentile measured: the declared one, or 95 for display when none is declared.
    pub percentile: f64,
    /// The measured percentile of the consumers' total time for successful exchanges, in ms
    /// (the upper bound of its histogram bucket, so never below the true value); `None`
    /// without successful exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_ms: Option<u64>,
    /// The declared threshold, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ms: Option<u32>,
    /// Successful exchanges measured.
    pub ok_exchanges: u64,
}

/// Where the time of successful exchanges went, as means in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeSplit {
    /// In the consumer's gateway: its total time minus its upstream time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_gateway_ms: Option<f64>,
    /// On the network and in the provider's gateway: the consumer gateway's upstream time
    /// minus the backend's time (all of it when the provider side reported nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_and_provider_gateway_ms: Option<f64>,
    /// In the provider's backend, as its gateway measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ms: Option<f64>,
}

/// Which objective a breach is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The availability target.
    Availability,
    /// The latency percentile target.
    Latency,
}

impl Objective {
    /// The snake_case word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Availability => "availability",
            Objective::Latency => "latency",
        }
    }
}

/// Who a breach is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The provider's backend (its 5xx, refusals, timeouts, slowness).
    Backend,
    /// The provider's gateway or its connectivity.
    ProviderGateway,
    /// The consumer's side (its gateway's own time).
    ConsumerSide,
}

impl Attribution {
    /// The snake_case word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::Backend => "backend",
            Attribution::ProviderGateway => "provider_gateway",
            Attribution::ConsumerSide => "consumer_side",
        }
    }
}

/// The counts a breach was found on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreachEvidence {
    /// (availability) Every outcome within support hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<OutcomeCounts>,
    /// (availability) Exchanges judged: ok, backend and provider gateway outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible: Option<u64>,
    /// (availability) Failures on the provider's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u64>,
    /// (latency) Successful exchanges measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_exchanges: Option<u64>,
    /// (latency) Successful exchanges certainly slower than the threshold (their histogram
    /// bucket lies wholly above it): a lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_threshold: Option<u64>,
    /// (latency) Where the time went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_split: Option<TimeSplit>,
}

/// A missed objective in one window, and whose doing it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// The service.
    pub service: ServiceId,
    /// The window's start (clipped to the report's period).
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    /// The window's end (clipped to the report's period).
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    /// Which objective.
    pub objective: Objective,
    /// The target as declared, e.g. `99.9%` or `p95<500ms`.
    pub target: String,
    /// The measured value: percent for availability, milliseconds for latency.
    pub measured: f64,
    /// Who it is attributed to.
    pub attribution: Attribution,
    /// What it was found on.
    pub evidence: BreachEvidence,
}

/// One SLA window of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    /// Start (inclusive), clipped to the report's period.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// End (exclusive), clipped to the report's period.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// Where the availability figures come from.
    pub source: AvailabilitySource,
    /// Every outcome within support hours, from that source.
    pub outcomes: OutcomeCounts,
    /// Exchanges judged.
    pub eligible: u64,
    /// Failures on the provider's side.
    pub failures: u64,
    /// Measured availability; `None` when nothing was eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// Declared availability target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_target: Option<f64>,
    /// Latency against its target.
    pub latency: LatencyAttainment,
    /// Where the time of successful exchanges went.
    pub time_split: TimeSplit,
    /// Objectives missed in this window.
    pub breaches: Vec<Breach>,
}

/// One consumer member's experience of one service over the whole report period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerAttainment {
    /// The consumer member.
    pub consumer: MemberId,
    /// Its exchanges and probes within support hours, by outcome.
    pub outcomes: OutcomeCounts,
    /// Exchanges judged.
    pub eligible: u64,
    /// Failures on the provider's side.
    pub failures: u64,
    /// Availability as this consumer saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
}

/// One service over the report period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The service.
    pub service: ServiceId,
    /// Its provider member.
    pub provider: MemberId,
    /// Its declaration, if it has one (without, one window covers the period and nothing is
    /// a breach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<psn_core::sla::SlaDeclaration>,
    /// Its windows in time order.
    pub windows: Vec<WindowReport>,
    /// Per consumer member.
    pub consumers: Vec<ConsumerAttainment>,
    /// The whole period at once.
    pub period: ServicePeriod,
    /// The service over time, one point per step, when the report was asked for with `step`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesPoint>,
}

/// One service over the whole report period: its windows taken together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePeriod {
    /// Exchanges judged, over every window.
    pub eligible: u64,
    /// Failures on the provider's side, over every window.
    pub failures: u64,
    /// Availability over the period; `None` when nothing was eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// Median total time of consumers' successful exchanges, ms (upper bound of its bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<u64>,
    /// Consumers' exchanges (not probes) of every outcome, at any hour: the service's volume.
    pub exchanges: u64,
}

/// A listing as the catalogue shows it: what the provider declares beside what the network
/// measured, and the health of the provider's gateways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    /// The provider's listing.
    pub listing: ServiceListing,
    /// Who provides it.
    pub provider: ProviderFacts,
    /// The declared service level, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<psn_core::sla::SlaDeclaration>,
    /// What the gateways measured over the last 30 days.
    pub measured: MeasuredQuality,
    /// The provider's gateways: status, the configuration each holds, their last delivery.
    pub gateways: Vec<GatewaySummary>,
    /// The latest published configuration version, to compare the gateways' with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<u64>,
    /// The provider's OpenAPI document, if it uploaded one (served at this entry's URL plus
    /// `/openapi.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<crate::ServiceDocumentInfo>,
    /// The provider's latest service-provision certificate, if it has had one: its state and
    /// expiry (docs/compliance.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<crate::ComplianceCertificate>,
}

/// A provider member as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderFacts {
    /// Member id.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Membership status.
    pub status: MemberStatus,
    /// Sector facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A service's measured quality over a period, from the gateways' aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredQuality {
    /// Start (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// End (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Availability, latency and volume over the period.
    pub period: ServicePeriod,
    /// Consumers' exchanges per day, on average over the period.
    pub calls_per_day: f64,
    /// Consumer members that called or probed it in the period.
    pub consumers: u64,
    /// The latest missed objective in the period, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_breach: Option<Breach>,
}

/// One step of a service's report over time: what its charts plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// End (exclusive), clipped to the report's period.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// Where the availability figures come from, as for windows.
    pub source: AvailabilitySource,
    /// Exchanges judged within support hours.
    pub eligible: u64,
    /// Failures on the provider's side.
    pub failures: u64,
    /// Availability; `None` when nothing was eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// The windows' latency percentile (declared, or 95) of successful exchanges' total time,
    /// in ms; `None` without successful exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Successful exchanges measured.
    pub ok_exchanges: u64,
}

/// One provider member's services together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAttainment {
    /// The provider member.
    pub provider: MemberId,
    /// Its services in the report.
    pub services: u64,
    /// Exchanges judged, over every window of every service.
    pub eligible: u64,
    /// Failures on its side.
    pub failures: u64,
    /// Its availability across them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// Breaches of its services' objectives.
    pub breaches: u64,
}

/// SLA attainment and breaches over a period, computed by the authority from the gateways'
/// aggregates and the providers' declarations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaReport {
    /// Start of the period (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// End of the period (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Only exchanges of this consumer member were counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<MemberId>,
    /// Services by id.
    pub services: Vec<ServiceReport>,
    /// Providers by id.
    pub providers: Vec<ProviderAttainment>,
    /// Every breach, by service and window.
    pub breaches: Vec<Breach>,
    /// The step of the services' series, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_seconds: Option<u64>,
}

/// Validates a peer-facing address: `host:port`, host a DNS name or IP literal, port non-zero.
pub fn validate_address(address: &str) -> Result<(), String> {
    if address.len() > 261 {
        return Err("address is longer than host:port can be".into());
    }
    if let Ok(addr) = address.parse::<std::net::SocketAddr>() {
        return if addr.port() == 0 {
            Err("port must not be 0".into())
        } else {
            Ok(())
        };
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| "address must be host:port".to_owned())?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(format!("port {port:?} must be a number from 1 to 65535")),
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!("host {host:?} is not a DNS name or IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated() {
        for ok in [
            "127.0.0.1:8443",
            "[::1]:443",
            "gw1.kent.gov.uk:8443",
            "localhost:1",
        ] {
            assert_eq!(validate_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "host:70000",
            "ho st:80",
            "-host:80",
            "a..b:80",
            "evil/path:80",
            ":80",
            &format!("{}:80", "a".repeat(300)),
        ] {
            assert!(validate_address(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_fields_and_bad_identifiers_are_refused() {
        let extra = r#"{"id":"GB/LA/E10000016","name":"Kent","admin":true}"#;
        assert!(serde_json::from_str::<NewMember>(extra).is_err());
        let bad = r#"{"id":"GB/LA/../x","name":"Kent"}"#;
        assert!(serde_json::from_str::<NewMember>(bad).is_err());
        let good = r#"{"id":"GB/LA/E10000016","name":"Kent County Council"}"#;
        assert!(serde_json::from_str::<NewMember>(good).is_ok());
    }
}
