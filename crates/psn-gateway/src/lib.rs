//! The psn gateway (DESIGN.md "Roles"): a member's only door to the network. This crate holds its
//! control plane: enrolment with a one-time token, the verified cache of the global
//! configuration, and certificate renewal.

pub mod admin;
pub mod aggregates;
mod config_store;
mod datadir;
mod enrol;
pub mod metrics;
pub mod plane;
mod renew;
mod serve;

pub use config_store::{
    Accepted, Arrival, ConfigStore, ConfigStoreError, DELTAS_PER_DOCUMENT, MAX_CONFIG_BYTES,
};
pub use datadir::{
    AuditSettings, BufferedAudit, ClientRule, GatewayDir, GatewaySettings, InternalTls, Limits,
    LocalService, MonitoringSettings,
};
pub use enrol::{enrol, EnrolOptions, Enrolled};
pub use renew::{needs_renewal, renew, sync_config};
pub use serve::{reload_identity, start, start_on, Listeners, RunningGateway};

/// Why a gateway operation failed, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The data directory is missing, incomplete or already used.
    #[error("{0}")]
    Setup(String),
    /// The enrolment token cannot be used.
    #[error("enrolment token: {0}")]
    Token(#[from] psn_core::token::TokenError),
    /// The authority refused or could not be reached.
    #[error(transparent)]
    Authority(#[from] psn_api::ClientError),
    /// Key or certificate handling failed, or the authority's answer did not check out.
    #[error(transparent)]
    Pki(#[from] psn_pki::PkiError),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigStoreError),
    /// The audit log could not be opened or written.
    #[error("audit log: {0}")]
    Audit(#[from] psn_audit::AuditError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> GatewayError + '_ {
    move |source| GatewayError::Io {
        path: path.display().to_string(),
        source,
    }
}
