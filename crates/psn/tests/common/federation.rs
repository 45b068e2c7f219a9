//! Networks for federation tests (docs/federation.md): each its own authority on loopback with
//! its own data directory, polling partners every 2 s and degraded after one missed poll, its
//! members' gateways enrolled with it.

use super::{enrol_gateway, register};
use psn_api::{AuthorityClient, NewMember};
use psn_authority::datadir::DataDir;
use psn_core::config::GlobalConfig;
use psn_core::names::NetworkId;
use psn_gateway::GatewayDir;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// One network: its authority (taken away while a test stops it), its operator and its data.
pub struct Network {
    pub id: NetworkId,
    pub authority: Option<psn_authority::Running>,
    pub operator: AuthorityClient,
    pub data: DataDir,
    operator_token: String,
}

/// Initialises and starts network `id`'s authority under `tmp/{id}`.
pub async fn network(tmp: &Path, id: &str) -> Network {
    let data = DataDir::new(tmp.join(id));
    let network: NetworkId = id.parse().expect("network");
    let report = psn_authority::init(&data, network.clone(), None)
        .await
        .expect("init");
    let mut settings = data.load_settings().expect("settings");
    settings.federation.poll_wait = Duration::from_secs(2);
    settings.federation.missed_polls = 1;
    std::fs::write(data.settings(), toml::to_string(&settings).expect("toml")).expect("settings");
    let authority = start_at(&data, "127.0.0.1:0".parse().expect("addr")).await;
    let ca = authority.authority.ca.certificate_der().to_vec();
    let operator =
        AuthorityClient::operator(&authority.url, &ca, &report.operator_token).expect("client");
    Network {
        id: network,
        authority: Some(authority),
        operator,
        data,
        operator_token: report.operator_token,
    }
}

/// Starts the authority of `data` on `listen`.
pub async fn start_at(data: &DataDir, listen: SocketAddr) -> psn_authority::Running {
    psn_authority::start(
        data,
        psn_authority::ServeOptions {
            listen,
            public_url: None,
        },
    )
    .await
    .expect("start authority")
}

impl Network {
    pub fn running(&self) -> &psn_authority::Running {
        self.authority.as_ref().expect("authority running")
    }

    /// Registers `member` with one subsystem and enrols its gateway under `tmp` (not started);
    /// returns its directory and internal address.
    pub async fn member(
        &self,
        tmp: &Path,
        member: NewMember,
        subsystem: &str,
        locks: &mut Vec<std::fs::File>,
    ) -> (GatewayDir, SocketAddr) {
        let dir = GatewayDir::new(tmp.join(member.id.to_string().replace('/', "-")));
        let id = register(&self.operator, member, subsystem).await;
        let enrolled = enrol_gateway(&self.operator, &id, dir, locks).await;
        (enrolled.dir, enrolled.internal)
    }

    /// Waits until this network's published configuration satisfies `done`.
    pub async fn published(&self, what: &str, done: impl Fn(&GlobalConfig) -> bool) {
        let publisher = &self.running().authority.publisher;
        let mut versions = publisher.subscribe();
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if publisher.latest_config().is_some_and(|c| done(&c)) {
                    return;
                }
                versions.changed().await.expect("publisher alive");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: {what} within 20 s", self.id));
    }

    /// Restarts the authority on `listen` (a new address when the port is 0) and points the
    /// operator at it.
    pub async fn restart_at(&mut self, listen: SocketAddr) {
        if let Some(running) = self.authority.take() {
            running.stop().await;
        }
        let running = start_at(&self.data, listen).await;
        let ca = running.authority.ca.certificate_der().to_vec();
        self.operator =
            AuthorityClient::operator(&running.url, &ca, &self.operator_token).expect("client");
        self.authority = Some(running);
    }

    /// Stops the authority if it runs.
    pub async fn stop(self) {
        if let Some(authority) = self.authority {
            authority.stop().await;
        }
    }
}

/// A member to register: `id` named `name`, with no sector or region.
pub fn new_member(id: &str, name: &str) -> NewMember {
    NewMember {
        id: id.parse().expect("member"),
        name: name.into(),
        sector: None,
        region: None,
    }
}
