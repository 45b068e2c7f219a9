//! `psn demo`: an authority and member gateways of real UK public bodies on loopback, with sample
//! backends, grants and ready-to-paste calls. Everything is the real thing (TLS, certificates,
//! the SQLite registry, signed configuration, separate listeners per gateway); only the backends
//! are samples, since they stand for members' own systems.

pub mod backends;
mod catalogue;
mod federation;
mod people;

pub use federation::DemoRegion;
pub use people::DemoPerson;

use psn_api::{
    AuthorityClient, ImportRequest, NewGrant, NewMember, NewSubsystem, ServiceListing, TokenRequest,
};
use psn_authority::datadir::DataDir;
use psn_core::names::{MemberId, ServiceId, SubsystemId};
use psn_gateway::{EnrolOptions, GatewayDir, Listeners, RunningGateway};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Setting up failed.
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> DemoError + '_ {
    move |e| DemoError::Setup(format!("{context}: {e}"))
}

/// One member in the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoMember {
    /// Member id.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Its gateway.
    pub gateway: String,
    /// Where its own systems call it (plain HTTP).
    pub internal: String,
    /// Where peers reach it (mutual TLS).
    pub external: String,
    /// Its subsystems.
    pub subsystems: Vec<SubsystemId>,
    /// Its gateway's data directory, where its audit log is (`psn audit verify` it).
    pub data_dir: std::path::PathBuf,
}

/// One example call.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// What it shows.
    pub description: String,
    /// The command.
    pub curl: String,
    /// Status it returns.
    pub expect_status: u16,
}

/// What `demo.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct DemoInfo {
    /// Authority API URL.
    pub authority: String,
    /// The web UI's address.
    pub ui: String,
    /// Who can sign in to it.
    pub people: Vec<DemoPerson>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The regional network federated with GB, with its own authority.
    pub region: DemoRegion,
    /// Members with gateways (Kent County Council's regional gateway, in GB-KENT, last).
    pub members: Vec<DemoMember>,
    /// Services offered.
    pub services: Vec<ServiceId>,
    /// Example calls.
    pub examples: Vec<Example>,
}

/// A running demo.
pub struct Demo {
    /// What is running.
    pub info: DemoInfo,
    authority: psn_authority::Running,
    region: psn_authority::Running,
    gateways: Vec<RunningGateway>,
    backends: Vec<tokio::task::JoinHandle<()>>,
}

impl Demo {
    /// Stops everything.
    pub async fn stop(self) {
        for g in self.gateways {
            g.stop().await;
        }
        for b in self.backends {
            b.abort();
        }
        self.region.stop().await;
        self.authority.stop().await;
    }
}

/// The member that deliberately has no grant, to show a refusal.
const NO_GRANT: &str = "GB/LA/E10000008";

struct Plan {
    member: &'static str,
    subsystems: &'static [&'static str],
}

const PLAN: &[Plan] = &[
    Plan {
        member: "GB/GOV/D6",
        subsystems: &["eligibility"],
    },
    Plan {
        member: "GB/LA/E10000016",
        subsystems: &["revenues", "hr"],
    },
    Plan {
        member: "GB/LA/E10000019",
        subsystems: &["revenues"],
    },
    Plan {
        member: "GB/LA/E10000014",
        subsystems: &["payroll"],
    },
    Plan {
        member: "GB/LA/E10000008",
        subsystems: &["revenues"],
    },
];

/// The demo's compliance certificates (docs/compliance.md), each issued as of a day in the
/// past: the Department for Education and Hampshire provide services; Lincolnshire's
/// connection certificate expires within a week, so its 30- and 7-day reminders are sent at
/// start; Hampshire's service provision is approaching standard, on an improvement plan.
const CERTIFICATES: &[(&str, &str, i64, Option<&str>)] = &[
    ("GB/GOV/D6", "connection", 40, None),
    ("GB/GOV/D6", "service-provision", 40, None),
    ("GB/LA/E10000016", "connection", 20, None),
    ("GB/LA/E10000019", "connection", 360, None),
    ("GB/LA/E10000014", "connection", 100, None),
    (
        "GB/LA/E10000014",
        "service-provision",
        10,
        Some("Independent IT health check of the payroll hub booked; remediation of its findings within 60 days"),
    ),
    ("GB/LA/E10000008", "connection", 150, None),
];

async fn seed_compliance(authority: &psn_authority::Authority) -> Result<(), DemoError> {
    let now = authority.compliance.now();
    for (member, kind, days_ago, plan) in CERTIFICATES {
        let member: MemberId = member.parse().map_err(setup("certificate member"))?;
        psn_authority::compliance::seed_certificate(
            authority,
            "demo",
            &member,
            kind,
            now - time::Duration::days(*days_ago),
            *plan,
        )
        .await
        .map_err(setup("issuing the demo's certificates"))?;
    }
    psn_authority::compliance::tick(authority)
        .await
        .map_err(setup("sending the demo's compliance reminders"))?;
    Ok(())
}

/// Prepares `dir` for a fresh demo: refuses a directory that holds anything but a previous demo.
fn prepare(dir: &Path) -> Result<(), DemoError> {
    if dir.exists() {
        let is_demo = dir.join("demo.json").exists()
            || std::fs::read_dir(dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !is_demo {
            return Err(DemoError::Setup(format!(
                "{} exists and is not a previous demo; choose another --data-dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(setup("clearing the previous demo"))?;
    }
    std::fs::create_dir_all(dir).map_err(setup("creating the data directory"))
}

/// Starts the demo in `dir` with `extra` more real councils as consumers. Without `monitoring`
/// the gateways deliver no aggregates and send no probes (for measuring what those cost).
pub async fn start(dir: &Path, extra: usize, monitoring: bool) -> Result<Demo, DemoError> {
    prepare(dir)?;
    let authority_dir = DataDir::new(dir.join("authority"));
    let report = psn_authority::init(
        &authority_dir,
        "GB".parse().map_err(setup("network"))?,
        None,
    )
    .await
    .map_err(setup("initialising the authority"))?;
    let authority = psn_authority::start(
        &authority_dir,
        psn_authority::ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
        },
    )
    .await
    .map_err(setup("starting the authority"))?;
    let ca_der = authority.authority.ca.certificate_der().to_vec();
    let operator = AuthorityClient::operator(&authority.url, &ca_der, &report.operator_token)
        .map_err(setup("operator client"))?;

    let orgs = psn_orgdata::embedded().map_err(setup("reading the embedded organisations"))?;
    let members: Vec<NewMember> = orgs
        .organisations
        .iter()
        .filter_map(|o| {
            Some(NewMember {
                id: format!("GB/{}/{}", o.class, o.code).parse().ok()?,
                name: o.name.clone(),
                sector: Some(o.sector.as_str().to_owned()),
                region: o.region.clone(),
            })
        })
        .collect();
    operator
        .import_members(&ImportRequest {
            members: members.clone(),
        })
        .await
        .map_err(setup("importing members"))?;
    let people = people::add(&operator).await?;
    let today = time::OffsetDateTime::now_utc().date();
    psn_authority::benchmarks::load_synthetic(
        &authority.authority.store,
        &authority.authority.benchmarks,
        "demo",
        &psn_authority::benchmarks::synthetic_years(today),
    )
    .await
    .map_err(setup("loading synthetic benchmark returns"))?;
    seed_compliance(&authority.authority).await?;

    let mut plan: Vec<(MemberId, Vec<String>)> = PLAN
        .iter()
        .map(|p| {
            Ok((
                p.member.parse().map_err(setup("plan"))?,
                p.subsystems.iter().map(|s| (*s).to_owned()).collect(),
            ))
        })
        .collect::<Result<_, DemoError>>()?;
    let fixed: Vec<MemberId> = plan.iter().map(|(m, _)| m.clone()).collect();
    plan.extend(
        members
            .iter()
            .filter(|m| m.id.class().as_str() == "LA" && !fixed.contains(&m.id))
            .take(extra)
            .map(|m| (m.id.clone(), vec!["revenues".to_owned()])),
    );

    let (fsm_url, fsm_task) = backends::start(backends::Sample::FreeSchoolMeals)
        .await
        .map_err(setup("backend"))?;
    let (payroll_url, payroll_task) = backends::start(backends::Sample::Payroll)
        .await
        .map_err(setup("backend"))?;

    let mut demo_members = Vec::new();
    let mut dirs = Vec::new();
    let mut listeners = Vec::new();
    for (member, subsystems) in &plan {
        for s in subsystems {
            operator
                .add_subsystem(
                    member,
                    &NewSubsystem {
                        code: s.parse().map_err(setup("subsystem"))?,
                    },
                )
                .await
                .map_err(setup("adding a subsystem"))?;
        }
        let name = members
            .iter()
            .find(|m| &m.id == member)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let (demo_member, enrolled) =
            enrol_gateway(dir, &operator, member, name, subsystems, monitoring).await?;
        demo_members.push(demo_member);
        dirs.push(enrolled.dir);
        listeners.push(enrolled.listeners);
    }

    let fsm: ServiceId = "GB/GOV/D6/eligibility/fsm-check"
        .parse()
        .map_err(setup("service"))?;
    let payroll: ServiceId = "GB/LA/E10000014/payroll/payroll-hub"
        .parse()
        .map_err(setup("service"))?;
    let dfe_dir = &dirs[0];
    let hampshire_dir = &dirs[3];
    psn_gateway::admin::add_service(
        dfe_dir,
        ServiceListing {
            id: fsm.clone(),
            title: "Free school meals eligibility check".into(),
            description:
                "Checks a parent's entitlement to free school meals from benefit records (LGSL 4)."
                    .into(),
            processes: vec!["lgsl:4".into()],
            details: Default::default(),
        },
        fsm_url,
        None,
        Some("/healthz".into()),
    )
    .await
    .map_err(setup("publishing the eligibility service"))?;
    psn_gateway::admin::add_service(
        hampshire_dir,
        ServiceListing {
            id: payroll.clone(),
            title: "Payroll hub: payslips and payroll runs".into(),
            description: "A county council payroll hub serving other councils (LGSL 979).".into(),
            processes: vec!["lgsl:979".into()],
            details: Default::default(),
        },
        payroll_url,
        None,
        Some("/healthz".into()),
    )
    .await
    .map_err(setup("publishing the payroll service"))?;
    let consumers = plan.iter().filter(|(m, subsystems)| {
        m.to_string() != NO_GRANT && subsystems.iter().any(|s| s == "revenues")
    });
    for (consumer, _) in consumers {
        psn_gateway::admin::grant(
            dfe_dir,
            NewGrant {
                service: fsm.clone(),
                grantee: format!("{consumer}/revenues")
                    .parse()
                    .map_err(setup("grantee"))?,
                method: Some("GET".into()),
                path: Some("/check".into()),
            },
        )
        .await
        .map_err(setup("granting access"))?;
    }
    psn_gateway::admin::grant(
        hampshire_dir,
        NewGrant {
            service: payroll.clone(),
            grantee: "GB/LA/E10000016/hr".parse().map_err(setup("grantee"))?,
            method: None,
            path: None,
        },
    )
    .await
    .map_err(setup("granting access"))?;

    catalogue::publish(&authority.authority, &operator).await?;
    let request =
        request_and_approve(&authority.url, &ca_der, &dirs[2], hampshire_dir, &payroll).await?;

    let region = federation::start(dir, &authority, &operator, dfe_dir, &fsm, monitoring).await?;
    demo_members.push(region.member.clone());
    dirs.push(region.gateway.dir.clone());
    listeners.push(region.gateway.listeners);

    let mut gateways = Vec::new();
    for (gw_dir, listeners) in dirs.iter().zip(listeners) {
        psn_gateway::sync_config(gw_dir, None)
            .await
            .map_err(setup("syncing a gateway"))?;
        gateways.push(
            psn_gateway::start_on(gw_dir, listeners)
                .await
                .map_err(setup("starting a gateway"))?,
        );
    }
    for (g, gw_dir) in gateways.iter().zip(&dirs) {
        let settings = gw_dir.load_settings().map_err(setup("gateway settings"))?;
        let own = if settings.network == region.info.network {
            &region.authority
        } else {
            &authority
        };
        let latest = own.authority.publisher.current().map_or(0, |p| p.version);
        let mut view = g.shared.view.clone();
        while view.borrow().config.version < latest {
            if view.changed().await.is_err() {
                break;
            }
        }
    }

    let kent = &demo_members[1];
    let lincs = &demo_members[2];
    let devon = &demo_members[4];
    let kent_region = &region.member;
    let call = |m: &DemoMember, subsystem: &str, path: &str| {
        format!(
            "curl -s -H 'PSN-Client: {}/{subsystem}' '{}/r1/{path}'",
            m.id, m.internal
        )
    };
    let examples = vec![
        Example {
            description: "Kent County Council checks free-school-meals eligibility with the Department for Education".into(),
            curl: call(kent, "revenues", "GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123456C"),
            expect_status: 200,
        },
        Example {
            description: format!(
                "Kent County Council's gateway on the regional network {} makes the same check across the federation with GB",
                region.info.network
            ),
            curl: call(kent_region, "revenues", "GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123458C"),
            expect_status: 200,
        },
        Example {
            description: "Lincolnshire County Council makes the same check".into(),
            curl: call(lincs, "revenues", "GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123457C"),
            expect_status: 200,
        },
        Example {
            description: "Kent's HR fetches a payslip from Hampshire County Council's payroll hub".into(),
            curl: call(kent, "hr", "GB/LA/E10000014/payroll/payroll-hub/employees/E1234/payslip"),
            expect_status: 200,
        },
        Example {
            description: format!(
                "Lincolnshire County Council asked Hampshire for its payroll hub (access request {request}); Hampshire approved it for GET, so this call succeeds"
            ),
            curl: call(lincs, "revenues", "GB/LA/E10000014/payroll/payroll-hub/employees/E1234/payslip"),
            expect_status: 200,
        },
        Example {
            description: "Devon County Council has no grant: refused with problem+json".into(),
            curl: call(devon, "revenues", "GB/GOV/D6/eligibility/fsm-check/check?nino=QQ123456C"),
            expect_status: 403,
        },
        Example {
            description: "An unknown service: refused with problem+json".into(),
            curl: call(kent, "revenues", "GB/GOV/D6/eligibility/no-such-service/check"),
            expect_status: 404,
        },
    ];
    let info = DemoInfo {
        authority: authority.url.clone(),
        ui: format!("{}/ui/", authority.url),
        people,
        data_dir: dir.to_path_buf(),
        region: region.info,
        members: demo_members,
        services: vec![fsm, payroll],
        examples,
    };
    std::fs::write(
        dir.join("demo.json"),
        serde_json::to_vec_pretty(&info).unwrap_or_default(),
    )
    .map_err(setup("writing demo.json"))?;
    Ok(Demo {
        info,
        authority,
        region: region.authority,
        gateways,
        backends: vec![fsm_task, payroll_task],
    })
}

/// A gateway enrolled but not started, and the sockets it will serve on.
pub(crate) struct EnrolledGateway {
    pub(crate) dir: GatewayDir,
    pub(crate) listeners: Listeners,
}

/// Enrols `member`'s gateway `gw1` with the authority `operator` speaks for, on two loopback
/// ports bound now and held until it starts, under `dir/gateways/`, monitoring as asked.
pub(crate) async fn enrol_gateway(
    dir: &Path,
    operator: &AuthorityClient,
    member: &MemberId,
    name: String,
    subsystems: &[String],
    monitoring: bool,
) -> Result<(DemoMember, EnrolledGateway), DemoError> {
    let token = operator
        .create_token(&TokenRequest {
            member: member.clone(),
            gateway: "gw1".parse().map_err(setup("gateway"))?,
            ttl_seconds: None,
        })
        .await
        .map_err(setup("creating a token"))?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let listeners = Listeners::bind(loopback, loopback).map_err(setup("binding a gateway"))?;
    let (internal, external) = listeners
        .addresses()
        .map_err(setup("a gateway's addresses"))?;
    let gw_dir = GatewayDir::new(
        dir.join("gateways")
            .join(member.to_string().replace('/', "-")),
    );
    psn_gateway::enrol(
        &gw_dir,
        EnrolOptions {
            token: token.token,
            address: Some(external.to_string()),
        },
    )
    .await
    .map_err(setup("enrolling a gateway"))?;
    let mut settings = gw_dir.load_settings().map_err(setup("gateway settings"))?;
    settings.internal_listen = internal;
    settings.external_listen = external;
    settings.monitoring.aggregates = monitoring;
    settings.monitoring.probes = monitoring;
    gw_dir
        .save_settings(&settings)
        .map_err(setup("gateway settings"))?;
    let demo_member = DemoMember {
        id: member.clone(),
        name,
        gateway: settings.gateway.to_string(),
        internal: format!("http://{internal}"),
        external: external.to_string(),
        subsystems: subsystems
            .iter()
            .filter_map(|s| format!("{member}/{s}").parse().ok())
            .collect(),
        data_dir: gw_dir.root().to_path_buf(),
    };
    Ok((
        demo_member,
        EnrolledGateway {
            dir: gw_dir,
            listeners,
        },
    ))
}

/// The demo's example access request: Lincolnshire's revenues team asks Hampshire for read
/// access to its payroll hub's employee records, and Hampshire approves it narrowed to GET.
/// Returns the request's id.
async fn request_and_approve(
    authority_url: &str,
    ca_der: &[u8],
    requester: &GatewayDir,
    provider: &GatewayDir,
    service: &ServiceId,
) -> Result<String, DemoError> {
    let client = |dir: &GatewayDir| -> Result<AuthorityClient, DemoError> {
        let (identity, _) = dir.load_identity().map_err(setup("gateway identity"))?;
        AuthorityClient::gateway(authority_url, ca_der, identity).map_err(setup("gateway client"))
    };
    let asked = client(requester)?
        .request_access(&psn_api::NewAccessRequest {
            subsystem: "GB/LA/E10000019/revenues"
                .parse()
                .map_err(setup("subsystem"))?,
            service: service.clone(),
            purpose: "Payslips of staff transferred to Lincolnshire under the shared payroll \
                      agreement, to assess council tax support claims."
                .into(),
            methods: vec!["GET".into(), "HEAD".into()],
            path: Some("/employees/*".into()),
        })
        .await
        .map_err(setup("requesting access"))?;
    client(provider)?
        .approve_access(
            &asked.id,
            &psn_api::AccessApproval {
                methods: Some(vec!["GET".into()]),
                path: None,
            },
        )
        .await
        .map_err(setup("approving access"))?;
    Ok(asked.id)
}
