//! The askama templates (templates/*.html, compiled into the binary) and the plain values they
//! show. Everything a template prints is escaped by askama; no template marks text as safe.

use askama::Template;
use psn_api::PersonView;

/// What every page's frame needs: where the assets are, which navigation item is current and
/// who is signed in.
pub struct Layout {
    /// Asset path prefix (digest included).
    pub assets: &'static str,
    /// Navigation item to mark current (its `href`).
    pub current: &'static str,
    /// The person signed in, if any.
    pub signed_in: Option<SignedIn>,
}

/// The signed-in person as the frame shows them.
pub struct SignedIn {
    /// Username.
    pub username: String,
    /// Role name.
    pub role: &'static str,
    /// Member they act for.
    pub member: Option<String>,
    /// The session's form token, for the sign-out form.
    pub csrf: String,
    /// Whether the People page is open to them.
    pub sees_people: bool,
    /// Whether the Events and Federation pages are open to them (the network's people).
    pub sees_events: bool,
}

impl SignedIn {
    /// The frame's view of a person and their session's form token.
    pub fn new(person: &PersonView, csrf: &str, sees_people: bool, sees_events: bool) -> Self {
        Self {
            username: person.username.clone(),
            role: person.role.as_str(),
            member: person.member.as_ref().map(ToString::to_string),
            csrf: csrf.to_owned(),
            sees_people,
            sees_events,
        }
    }
}

/// One service navigation item.
pub struct NavItem {
    /// Link.
    pub href: &'static str,
    /// Text.
    pub text: &'static str,
    /// Whether it is the current page.
    pub current: bool,
}

impl Layout {
    /// The navigation items for the signed-in person.
    pub fn nav(&self) -> Vec<NavItem> {
        let mut items = vec![
            ("/ui/", "Overview"),
            ("/ui/members", "Members"),
            ("/ui/catalogue", "Catalogue"),
            ("/ui/services", "Services"),
            ("/ui/gateways", "Gateways"),
            ("/ui/sla", "SLA reports"),
            ("/ui/benchmarks", "Benchmarks"),
            ("/ui/access", "Access requests"),
            ("/ui/compliance", "Compliance"),
        ];
        if self.signed_in.as_ref().is_some_and(|s| s.sees_people) {
            items.push(("/ui/people", "People"));
        }
        if self.signed_in.as_ref().is_some_and(|s| s.sees_events) {
            items.push(("/ui/events", "Events"));
            // The same people, the network's, see its federated partners (ui/federation.rs).
            items.push(("/ui/federation", "Federation"));
        }
        items
            .into_iter()
            .map(|(href, text)| NavItem {
                href,
                text,
                current: href == self.current,
            })
            .collect()
    }
}

/// A link.
pub struct Link {
    /// Target.
    pub href: &'static str,
    /// Text.
    pub text: &'static str,
}

/// An error page: what went wrong and what to do.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub title: &'static str,
    pub message: String,
    pub next: Option<Link>,
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub layout: Layout,
    pub csrf: String,
    pub username: String,
    pub error: Option<String>,
    pub providers: Vec<super::oidc::ProviderButton>,
}

/// The landing page of an OpenID Connect sign-in. A page, not a redirect: the browser arrived
/// from the provider's site, and a redirect in that cross-site chain may be sent without the
/// new `SameSite=Strict` session cookie; its refresh to the overview is a same-site navigation.
#[derive(Template)]
#[template(path = "signed_in.html")]
pub struct SignedInPage {
    pub layout: Layout,
}

/// The accessibility statement.
#[derive(Template)]
#[template(path = "accessibility.html")]
pub struct AccessibilityPage {
    pub layout: Layout,
}

/// A count of members with one value of a facet.
pub struct CountRow {
    /// Filter value (class code), empty when there is none.
    pub key: String,
    /// What the row shows.
    pub label: String,
    /// Members.
    pub count: u64,
}

/// The network overview.
#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub network: String,
    pub config_version: Option<u64>,
    pub config_expires: Option<String>,
    pub members_total: u64,
    pub gateways_total: u64,
    pub gateway_states: Vec<StateCount>,
    pub services_total: u64,
    pub by_class: Vec<CountRow>,
    pub by_region: Vec<CountRow>,
}

/// GOV.UK pagination: previous, numbered pages (with ellipses), next.
pub struct Pagination {
    pub previous: Option<String>,
    pub next: Option<String>,
    pub items: Vec<PageItem>,
}

/// One numbered page or an ellipsis.
pub struct PageItem {
    pub number: u64,
    pub href: String,
    pub current: bool,
    pub ellipsis: bool,
}

/// A class in the members filter.
pub struct ClassOption {
    pub code: String,
    pub description: String,
    pub selected: bool,
}

/// A member in a list.
pub struct MemberLine {
    pub id: String,
    pub name: String,
    pub region: String,
    pub status: String,
}

/// The filtered, paginated member list.
#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub layout: Layout,
    pub q: String,
    pub classes: Vec<ClassOption>,
    pub total: u64,
    pub members: Vec<MemberLine>,
    pub pagination: Option<Pagination>,
}

/// A member's facts.
pub struct MemberFacts {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub sector: String,
    pub region: String,
}

/// A gateway of a member.
pub struct GatewayLine {
    pub id: String,
    pub member: String,
    pub address: String,
    pub status: String,
    pub certificate_until: String,
    pub last_delivery: String,
    pub config: ConfigFreshness,
}

/// Active gateways whose configuration stands one way.
pub struct StateCount {
    pub tag_class: &'static str,
    pub tag: &'static str,
    pub count: u64,
}

/// How current a gateway's configuration is, as a tag and a sentence.
pub struct ConfigFreshness {
    /// The tag's colour modifier (`govuk-tag--green` …).
    pub tag_class: &'static str,
    /// The tag's words.
    pub tag: &'static str,
    /// The version and when it was fetched, in words.
    pub detail: String,
}

/// A service in a list.
pub struct ServiceLine {
    pub id: String,
    pub title: String,
    pub processes: String,
}

/// One member: subsystems, gateways, services.
#[derive(Template)]
#[template(path = "member.html")]
pub struct MemberPage {
    pub layout: Layout,
    pub member: MemberFacts,
    pub may_see_grants: bool,
    pub subsystems: Vec<String>,
    pub gateways: Vec<GatewayLine>,
    pub services: Vec<ServiceLine>,
}

/// A grant.
pub struct GrantLine {
    pub id: String,
    pub service: String,
    pub grantee: String,
    pub method: String,
    pub path: String,
}

/// The grants on one member's services.
#[derive(Template)]
#[template(path = "grants.html")]
pub struct GrantsPage {
    pub layout: Layout,
    pub member_id: String,
    pub member_name: String,
    pub grants: Vec<GrantLine>,
}

/// The filtered, paginated service list.
#[derive(Template)]
#[template(path = "services.html")]
pub struct ServicesPage {
    pub layout: Layout,
    pub q: String,
    pub total: u64,
    pub services: Vec<ServiceLine>,
    pub pagination: Option<Pagination>,
}

/// The paginated gateway list.
#[derive(Template)]
#[template(path = "gateways.html")]
pub struct GatewaysPage {
    pub layout: Layout,
    pub config_version: Option<u64>,
    pub total: u64,
    pub gateways: Vec<GatewayLine>,
    pub pagination: Option<Pagination>,
}

/// A person in the people list.
pub struct PersonLine {
    pub username: String,
    pub role: &'static str,
    pub member: String,
    pub state: String,
    /// `password`, or the OpenID Connect provider they sign in with.
    pub sign_in: String,
}

/// People who may sign in.
#[derive(Template)]
#[template(path = "people.html")]
pub struct PeoplePage {
    pub layout: Layout,
    pub people: Vec<PersonLine>,
}

/// One service: its listing, declared SLA and (for those who may see them) its grants.
#[derive(Template)]
#[template(path = "service.html")]
pub struct ServicePage {
    pub layout: Layout,
    pub id: String,
    pub title: String,
    pub description: String,
    pub processes: String,
    pub provider_id: String,
    pub provider_name: String,
    pub sla: Option<String>,
    /// The measured columns over the last 30 days: (what, value).
    pub measured: Vec<(String, String)>,
    /// The listing's terms: (what, value).
    pub terms: Vec<(String, String)>,
    pub grants: Option<Vec<GrantLine>>,
    /// The OpenAPI document's size and digest, if the provider uploaded one.
    pub openapi: Option<String>,
    /// The provider's service-provision certificate, when it has one.
    pub compliance: Option<super::compliance_review::CertificateLine>,
}

/// An event of the audit trail.
pub struct EventLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// The audit trail, filtered and paginated.
#[derive(Template)]
#[template(path = "events.html")]
pub struct EventsPage {
    pub layout: Layout,
    pub action: String,
    pub target: String,
    pub actor: String,
    pub total: u64,
    pub events: Vec<EventLine>,
    pub pagination: Option<Pagination>,
}

/// A link to a report period.
pub struct PeriodLink {
    pub href: String,
    pub text: &'static str,
    pub current: bool,
}

/// A provider's attainment over the period.
pub struct SlaProviderLine {
    pub id: String,
    pub services: u64,
    pub eligible: String,
    pub failures: String,
    pub availability: String,
    pub breaches: u64,
}

/// A service's attainment over the period.
pub struct SlaServiceLine {
    pub id: String,
    pub sla: String,
    pub availability: String,
    /// Windows that met every objective, of all.
    pub windows: String,
    pub breaches: usize,
}

/// A missed objective.
pub struct BreachLine {
    pub service: String,
    pub window: String,
    pub objective: &'static str,
    pub target: String,
    pub measured: String,
    pub attribution: &'static str,
    pub evidence: String,
}

/// One SLA window of a service.
pub struct WindowLine {
    pub window: String,
    pub source: &'static str,
    pub judged: String,
    pub failures: String,
    pub availability: String,
    pub target: String,
    pub latency: String,
    pub latency_target: String,
    pub breaches: usize,
}

/// One consumer member's experience of a service.
pub struct ConsumerLine {
    pub id: String,
    pub judged: String,
    pub failures: String,
    pub availability: String,
}

/// One step of a service's series, as the charts' table shows it.
pub struct PointLine {
    pub start: String,
    pub judged: String,
    pub failures: String,
    pub availability: String,
    pub latency: String,
}

/// The network's SLA report: every provider, or one provider's services and breaches.
#[derive(Template)]
#[template(path = "sla.html")]
pub struct SlaPage {
    pub layout: Layout,
    pub period: &'static str,
    pub period_key: &'static str,
    pub periods: Vec<PeriodLink>,
    /// The provider filter as entered (empty for every provider).
    pub provider: String,
    pub providers: Vec<SlaProviderLine>,
    pub providers_total: u64,
    pub services: Vec<SlaServiceLine>,
    pub breaches: Vec<BreachLine>,
    pub pagination: Option<Pagination>,
}

/// One service's SLA report with its charts.
#[derive(Template)]
#[template(path = "service_sla.html")]
pub struct ServiceSlaPage {
    pub layout: Layout,
    pub id: String,
    pub title: String,
    pub provider: String,
    pub period: &'static str,
    pub periods: Vec<PeriodLink>,
    pub summary: SlaServiceLine,
    pub charts: Vec<super::chart::Chart>,
    pub points: Vec<PointLine>,
    pub windows: Vec<WindowLine>,
    pub breaches: Vec<BreachLine>,
    /// Per consumer, for those who may see the provider's private business.
    pub consumers: Option<Vec<ConsumerLine>>,
}
