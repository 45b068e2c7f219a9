//! `psn gateway ...`: enrol and operate a member's gateway.

use super::output::{self, Output};
use anyhow::Context;
use clap::Subcommand;
use psn_core::access::Grantee;
use psn_core::names::ServiceId;
use psn_gateway::{Accepted, EnrolOptions, GatewayDir};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Enrol a new gateway with a one-time token from the authority's operator. Generates the
    /// gateway's key (it never leaves this machine), obtains its certificate and the signed
    /// configuration, and stores them in the data directory.
    Enrol {
        /// Directory for the new gateway (must not hold one).
        #[arg(long)]
        data_dir: PathBuf,
        /// The enrolment token (or set PSN_ENROL_TOKEN).
        #[arg(long, env = "PSN_ENROL_TOKEN", hide_env_values = true)]
        token: String,
        /// host:port where peer gateways will reach this gateway.
        #[arg(long)]
        address: Option<String>,
    },
    /// Renew this gateway's certificate now, with a fresh key.
    Renew {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Serve: the internal listener for this member's systems and the peer-facing mutual-TLS
    /// listener, following the configuration and renewing the certificate, until interrupted.
    Serve {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Offer, list and withdraw this member's services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Grant, list and revoke access to this member's services.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Declare, list and withdraw service level agreements for this member's services.
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Fetch, verify and store the latest signed configuration.
    Sync {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Wait up to this long for a version newer than the one held (e.g. 30s).
        #[arg(long, value_parser = psn_core::duration::parse_duration)]
        wait: Option<std::time::Duration>,
    },
}

/// A listing's terms on the command line (docs/catalogue.md); each has the API's default.
#[derive(Debug, clap::Args)]
pub struct ListingTerms {
    /// The provider's version label, e.g. 2.1.
    #[arg(long = "version-label")]
    version_label: Option<String>,
    /// discovery, alpha, beta, live, deprecated (with --sunset) or withdrawn.
    #[arg(long, value_parser = word::<psn_api::Lifecycle>, default_value = "live")]
    lifecycle: psn_api::Lifecycle,
    /// The last day a deprecated service answers, YYYY-MM-DD.
    #[arg(long, value_parser = day)]
    sunset: Option<time::Date>,
    /// rest, soap, events or files.
    #[arg(long, value_parser = word::<psn_api::ServiceType>, default_value = "rest")]
    service_type: psn_api::ServiceType,
    /// any-member, member-classes (with --member-class) or by-request.
    #[arg(long, value_parser = word::<psn_api::WhoMayApply>, default_value = "any-member")]
    who_may_apply: psn_api::WhoMayApply,
    /// A member class that may apply, e.g. LA (repeatable; with --who-may-apply member-classes).
    #[arg(long = "member-class")]
    member_classes: Vec<psn_core::names::ClassCode>,
    /// official or official-sensitive.
    #[arg(long, value_parser = word::<psn_api::Classification>, default_value = "official")]
    classification: psn_api::Classification,
    /// The provider team's e-mail address.
    #[arg(long)]
    contact: Option<String>,
    /// free, or pounds per unit per interval: 3.50-4.42/employee/month (or 0.79/invoice/each).
    #[arg(long, value_parser = str::parse::<psn_api::Price>, default_value = "free")]
    price: psn_api::Price,
    /// Onboarding terms, in plain words.
    #[arg(long, default_value = "")]
    terms: String,
    /// An area served, e.g. Kent (repeatable).
    #[arg(long = "area")]
    areas: Vec<String>,
}

impl ListingTerms {
    fn details(self) -> psn_api::ListingDetails {
        psn_api::ListingDetails {
            version: self.version_label,
            lifecycle: self.lifecycle,
            sunset: self.sunset,
            service_type: self.service_type,
            who_may_apply: self.who_may_apply,
            member_classes: self.member_classes,
            classification: self.classification,
            contact: self.contact,
            price: self.price,
            onboarding_terms: self.terms,
            areas: self.areas,
        }
    }
}

/// One of an API enum's words, as the API spells it.
fn word<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| e.to_string())
}

fn day(text: &str) -> Result<time::Date, String> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| format!("{text:?} is not a date YYYY-MM-DD: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Offer a service: publish its listing at the authority and record its backend here.
    Add {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id, e.g. GB/GOV/D6/eligibility/fsm-check.
        id: ServiceId,
        /// Backend base URL (http://host:port/path or https://…).
        #[arg(long)]
        backend: String,
        /// PEM CA bundle trusted for an https:// backend.
        #[arg(long)]
        backend_ca: Option<PathBuf>,
        /// Path on the backend that answers 2xx while it is healthy, e.g. /healthz; the gateway
        /// probes it so availability is known without traffic.
        #[arg(long)]
        health_path: Option<String>,
        /// Catalogue title.
        #[arg(long)]
        title: String,
        /// Catalogue description.
        #[arg(long, default_value = "")]
        description: String,
        /// Process id of the catalogue's taxonomy, e.g. lgsl:4 or psn:1001 (repeatable; `psn
        /// catalogue processes` finds them).
        #[arg(long = "process")]
        processes: Vec<String>,
        /// Boxed: the terms are most of the command's size.
        #[command(flatten)]
        terms: Box<ListingTerms>,
    },
    /// List the services this gateway provides.
    List {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Withdraw a service and its grants.
    Remove {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id.
        id: ServiceId,
    },
    /// Upload (or replace) a service's OpenAPI 3.0 or 3.1 document for the catalogue, or
    /// remove it. JSON only: convert YAML first, e.g. `yq -o=json openapi.yaml > openapi.json`.
    Openapi {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id.
        service: ServiceId,
        /// The document (JSON, at most 1 MiB).
        #[arg(long, conflicts_with = "remove", required_unless_present = "remove")]
        file: Option<PathBuf>,
        /// Remove the service's document instead.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// Declare (or replace) what a service promises. Failures attributable to the provider
    /// (its gateway, its backend's 5xx and timeouts) count against availability; a consumer's
    /// own 4xx never does.
    Set {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id.
        service: ServiceId,
        /// Availability target, percent (e.g. 99.9).
        #[arg(long)]
        availability: f64,
        /// Window availability is measured over: day, week or month.
        #[arg(long, default_value = "month")]
        window: psn_core::sla::SlaWindow,
        /// Latency objective, e.g. "p95<500ms".
        #[arg(long)]
        latency: Option<psn_core::sla::LatencyTarget>,
        /// Support hours in UK local time, e.g. "mon-fri 08:00-18:00" (default: always).
        #[arg(long)]
        support_hours: Option<psn_core::sla::SupportHours>,
    },
    /// Every SLA declared in the network.
    List {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Withdraw a service's SLA declaration.
    Remove {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id.
        service: ServiceId,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Allow a subsystem (GB/LA/E10000016/revenues), member (GB/LA/E10000016) or class (GB/LA)
    /// to call a service, optionally one method and path pattern of it.
    Grant {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Service id.
        #[arg(long)]
        service: ServiceId,
        /// Who may call it: a subsystem, member or class identifier.
        #[arg(long = "to", value_parser = parse_grantee)]
        grantee: Box<Grantee>,
        /// Only this method, e.g. GET.
        #[arg(long)]
        method: Option<String>,
        /// Only this path (exact, or a prefix ending in *).
        #[arg(long)]
        path: Option<String>,
    },
    /// Withdraw a grant by its id.
    Revoke {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Grant id (see `access list`).
        id: String,
    },
    /// List the grants on this member's services.
    List {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// A grantee, boxed: it is most of the size of a parsed `access grant`, and the other access
/// commands need none of it. The parser's output type is the field's, as clap requires.
fn parse_grantee(text: &str) -> Result<Box<Grantee>, psn_core::names::NameError> {
    text.parse().map(Box::new)
}

fn grant_table(list: &psn_api::GrantList, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => output::json(list),
        Output::Table => {
            let rows = list
                .items
                .iter()
                .map(|g| {
                    vec![
                        g.id.clone(),
                        g.service.to_string(),
                        g.grantee.to_string(),
                        g.method.clone().unwrap_or_else(|| "*".into()),
                        g.path.clone().unwrap_or_else(|| "*".into()),
                    ]
                })
                .collect::<Vec<_>>();
            output::table(&["ID", "SERVICE", "GRANTEE", "METHOD", "PATH"], &rows);
            Ok(())
        }
    }
}

/// Runs a gateway command.
pub async fn run(command: GatewayCommand) -> anyhow::Result<()> {
    match command {
        GatewayCommand::Enrol {
            data_dir,
            token,
            address,
        } => {
            let enrolled =
                psn_gateway::enrol(&GatewayDir::new(&data_dir), EnrolOptions { token, address })
                    .await
                    .context("enrolment failed")?;
            println!("enrolled {} in {}", enrolled.gateway, data_dir.display());
            println!(
                "certificate {} valid until {}",
                enrolled.serial, enrolled.not_after
            );
            println!(
                "configuration version {} verified and stored",
                enrolled.config_version
            );
            Ok(())
        }
        GatewayCommand::Renew { data_dir } => {
            let info = psn_gateway::renew(&GatewayDir::new(&data_dir))
                .await
                .context("renewal failed")?;
            println!(
                "renewed: certificate {} valid until {}",
                info.serial, info.not_after
            );
            Ok(())
        }
        GatewayCommand::Serve { data_dir } => {
            let stop = super::authority::shutdown_signal()?;
            let running = psn_gateway::start(&GatewayDir::new(&data_dir)).await?;
            println!(
                "gateway {} serving: internal http://{} external {}",
                running.shared.settings.gateway, running.internal, running.external
            );
            stop.await;
            running.stop().await;
            Ok(())
        }
        GatewayCommand::Service(ServiceCommand::Add {
            data_dir,
            id,
            backend,
            backend_ca,
            health_path,
            title,
            description,
            processes,
            terms,
        }) => {
            let backend_ca = backend_ca.map(std::path::absolute).transpose()?;
            let details = (*terms).details();
            details
                .validate()
                .map_err(|e| anyhow::anyhow!("the listing's terms: {e}"))?;
            let listing = psn_api::ServiceListing {
                id: id.clone(),
                title,
                description,
                processes,
                details,
            };
            psn_gateway::admin::add_service(
                &GatewayDir::new(&data_dir),
                listing,
                backend,
                backend_ca,
                health_path,
            )
            .await?;
            println!("published {id}; restart the gateway to serve it");
            Ok(())
        }
        GatewayCommand::Service(ServiceCommand::List { data_dir, output }) => {
            let settings = GatewayDir::new(&data_dir).load_settings()?;
            match output {
                Output::Json => output::json(&settings.services),
                Output::Table => {
                    let rows = settings
                        .services
                        .iter()
                        .map(|s| vec![s.id.to_string(), s.backend.clone()])
                        .collect::<Vec<_>>();
                    output::table(&["SERVICE", "BACKEND"], &rows);
                    Ok(())
                }
            }
        }
        GatewayCommand::Sla(SlaCommand::Set {
            data_dir,
            service,
            availability,
            window,
            latency,
            support_hours,
        }) => {
            let sla = psn_core::sla::SlaDeclaration {
                service,
                availability_percent: availability,
                window,
                latency,
                support_hours,
            };
            sla.validate().map_err(anyhow::Error::msg)?;
            psn_gateway::admin::declare_sla(&GatewayDir::new(&data_dir), sla.clone()).await?;
            println!("declared for {}: {sla}", sla.service);
            Ok(())
        }
        GatewayCommand::Sla(SlaCommand::List { data_dir, output }) => {
            let list = psn_gateway::admin::slas(&GatewayDir::new(&data_dir)).await?;
            match output {
                Output::Json => output::json(&list.items),
                Output::Table => {
                    let rows = list
                        .items
                        .iter()
                        .map(|s| vec![s.service.to_string(), s.to_string()])
                        .collect::<Vec<_>>();
                    output::table(&["SERVICE", "SLA"], &rows);
                    Ok(())
                }
            }
        }
        GatewayCommand::Sla(SlaCommand::Remove { data_dir, service }) => {
            psn_gateway::admin::withdraw_sla(&GatewayDir::new(&data_dir), &service).await?;
            println!("withdrew the SLA of {service}");
            Ok(())
        }
        GatewayCommand::Service(ServiceCommand::Openapi {
            data_dir,
            service,
            file,
            remove,
        }) => super::documents::gateway_openapi(&data_dir, &service, file, remove).await,
        GatewayCommand::Service(ServiceCommand::Remove { data_dir, id }) => {
            psn_gateway::admin::remove_service(&GatewayDir::new(&data_dir), &id).await?;
            println!("withdrew {id} and its grants");
            Ok(())
        }
        GatewayCommand::Access(AccessCommand::Grant {
            data_dir,
            service,
            grantee,
            method,
            path,
        }) => {
            let list = psn_gateway::admin::grant(
                &GatewayDir::new(&data_dir),
                psn_api::NewGrant {
                    service,
                    grantee: *grantee,
                    method,
                    path,
                },
            )
            .await?;
            grant_table(&list, Output::Table)
        }
        GatewayCommand::Access(AccessCommand::Revoke { data_dir, id }) => {
            let list = psn_gateway::admin::revoke_grant(&GatewayDir::new(&data_dir), &id).await?;
            grant_table(&list, Output::Table)
        }
        GatewayCommand::Access(AccessCommand::List { data_dir, output }) => grant_table(
            &psn_gateway::admin::grants(&GatewayDir::new(&data_dir)).await?,
            output,
        ),
        GatewayCommand::Sync { data_dir, wait } => {
            match psn_gateway::sync_config(&GatewayDir::new(&data_dir), wait).await? {
                Accepted::New(v) => println!("configuration version {v} verified and stored"),
                Accepted::Unchanged(v) => println!("configuration version {v} is current"),
            }
            Ok(())
        }
    }
}
