//! A real network's trust for audit tests: a CA, a configuration signer, two gateways with keys
//! and certificates from CSRs, a gateway data directory holding `ca.pem` and the configuration
//! history, and exchanges whose peer statements are really signed (in Merkle batches, as the
//! data plane signs them). Shared by this crate's tests and bench and by the CLI test.

#![allow(dead_code)]

use psn_audit::{AuditLog, AuditRecord, HopTimes, LogOptions, Recovery, Role, Sealer};
use psn_core::config::{
    AuthorityInfo, GatewayEntry, GlobalConfig, MemberEntry, MemberStatus, CONFIG_FORMAT,
};
use psn_core::encoding::sha256;
use psn_core::names::{GatewayId, MemberClasses, NetworkId};
use psn_core::proof::{batch, content_digest, encode_batched, Statement, StatementKind};
use psn_core::shared_list::SharedList;
use psn_pki::{CertificateAuthority, ConfigSigner, GatewayKey, IssuedCertificate, StatementSigner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub const ME: &str = "GB/LA/E10000016@gw1";
pub const PEER: &str = "GB/GOV/D6@gw1";
pub const CLIENT: &str = "GB/LA/E10000016/revenues";
pub const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";

pub fn network() -> NetworkId {
    "GB".parse().expect("network")
}

/// A gateway's key and certificate.
#[derive(Clone)]
pub struct Gateway {
    pub id: GatewayId,
    pub key_pem: String,
    pub cert: IssuedCertificate,
}

impl Gateway {
    pub fn issue(ca: &CertificateAuthority, id: &str, validity: Duration) -> Self {
        let id: GatewayId = id.parse().expect("gateway id");
        let key = GatewayKey::generate().expect("key");
        let cert = ca
            .issue_gateway_certificate(&key.csr_pem(&id).expect("csr"), &id, validity)
            .expect("certificate");
        Self {
            id,
            key_pem: key.to_pem(),
            cert,
        }
    }

    /// `identity.pem`: key then certificate, as a gateway keeps it.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert.pem)
    }

    pub fn from_identity_pem(pem: &str) -> Self {
        let der = psn_pki::parse_pem_certificates(pem).expect("certificate")[0].to_vec();
        let info = psn_pki::CertificateInfo::from_der(&der).expect("info");
        let key_end = pem
            .find("-----BEGIN CERTIFICATE-----")
            .expect("certificate");
        Self {
            id: psn_pki::gateway_identity(&info).expect("gateway"),
            key_pem: pem[..key_end].to_owned(),
            cert: IssuedCertificate {
                pem: pem[key_end..].to_owned(),
                der,
                serial: info.serial,
                not_before: info.not_before,
                not_after: info.not_after,
            },
        }
    }

    pub fn sealer(&self) -> Sealer {
        Sealer::from_identity_pem(&self.identity_pem()).expect("sealer")
    }

    pub fn signer(&self) -> StatementSigner {
        StatementSigner::from_pem(&self.key_pem).expect("signer")
    }

    pub fn der(&self) -> Arc<Vec<u8>> {
        Arc::new(self.cert.der.clone())
    }
}

/// A gateway data directory with its trust and two gateways' keys.
pub struct Fixture {
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub ca: Option<CertificateAuthority>,
    signer: Option<ConfigSigner>,
    pub me: Gateway,
    pub peer: Gateway,
}

pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("now")
}

impl Fixture {
    /// A fresh directory with `ca.pem`, configuration version 1 (issued a minute ago, both
    /// gateways trusted), and the two gateways' identities (`identity.pem`, `peer.pem`).
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut fixture = Self::create(tmp.path());
        fixture._tmp = Some(tmp);
        fixture
    }

    /// The same in a given directory.
    pub fn create(dir: &Path) -> Self {
        let ca = CertificateAuthority::create(&network()).expect("ca");
        let signer = ConfigSigner::create(&ca, Duration::from_secs(30 * 86_400)).expect("signer");
        let week = Duration::from_secs(7 * 86_400);
        let me = Gateway::issue(&ca, ME, week);
        let peer = Gateway::issue(&ca, PEER, week);
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::write(dir.join("ca.pem"), ca.certificate_pem()).expect("ca.pem");
        std::fs::write(dir.join("identity.pem"), me.identity_pem()).expect("identity");
        std::fs::write(dir.join("peer.pem"), peer.identity_pem()).expect("peer");
        let fixture = Self {
            dir: dir.to_path_buf(),
            _tmp: None,
            ca: Some(ca),
            signer: Some(signer),
            me,
            peer,
        };
        fixture.write_config(
            1,
            OffsetDateTime::now_utc() - time::Duration::minutes(1),
            &[],
        );
        fixture
    }

    /// A fixture over a directory made by [`Fixture::create`] (in another process): keys only.
    pub fn load(dir: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
        Self {
            dir: dir.to_path_buf(),
            _tmp: None,
            ca: None,
            signer: None,
            me: Gateway::from_identity_pem(&read("identity.pem")),
            peer: Gateway::from_identity_pem(&read("peer.pem")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn ca(&self) -> &CertificateAuthority {
        self.ca.as_ref().expect("fixture made here")
    }

    /// A signed configuration listing both gateways (members active), revoking `revoked`.
    pub fn config_jws(&self, version: u64, issued_at: OffsetDateTime, revoked: &[&str]) -> String {
        self.config_jws_with(version, issued_at, revoked, &[ME, PEER])
    }

    pub fn config_jws_with(
        &self,
        version: u64,
        issued_at: OffsetDateTime,
        revoked: &[&str],
        gateways: &[&str],
    ) -> String {
        self.signer
            .as_ref()
            .expect("fixture made here")
            .sign(&self.config_with(version, issued_at, revoked, gateways))
            .expect("sign config")
            .document
    }

    /// The configuration the fixture signs: two members, the given gateways and revocations.
    pub fn config_with(
        &self,
        version: u64,
        issued_at: OffsetDateTime,
        revoked: &[&str],
        gateways: &[&str],
    ) -> GlobalConfig {
        let member = |id: &str, name: &str| MemberEntry {
            id: id.parse().expect("member"),
            name: name.into(),
            status: MemberStatus::Active,
            sector: None,
            region: None,
        };
        let mut sorted_gateways: Vec<Arc<GatewayEntry>> = gateways
            .iter()
            .map(|g| {
                Arc::new(GatewayEntry {
                    id: g.parse().expect("gateway"),
                    address: None,
                })
            })
            .collect();
        sorted_gateways.sort_by_key(|g| g.id.to_string());
        let mut config = GlobalConfig {
            format: CONFIG_FORMAT.into(),
            network: network(),
            version,
            issued_at,
            expires_at: issued_at + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec!["https://127.0.0.1:7800".into()],
                ca_certificate: self.ca().certificate_pem().to_owned(),
            },
            classes: MemberClasses::uk_default().iter().cloned().collect(),
            members: vec![
                Arc::new(member("GB/GOV/D6", "Department for Education")),
                Arc::new(member("GB/LA/E10000016", "Kent County Council")),
            ]
            .into(),
            subsystems: SharedList::new(),
            gateways: sorted_gateways.into(),
            services: SharedList::new(),
            federation: vec![],
            revoked_serials: revoked.iter().map(|s| (*s).to_owned()).collect(),
        };
        config.revoked_serials.sort();
        config
    }

    /// Stores a configuration version as the gateway would (`config/v{N}.json`).
    pub fn write_config(&self, version: u64, issued_at: OffsetDateTime, revoked: &[&str]) {
        let jws = self.config_jws(version, issued_at, revoked);
        std::fs::write(self.dir.join(format!("config/v{version}.json")), jws).expect("config");
    }

    /// Stores a configuration version as a running gateway does: as the delta from the version
    /// before it, which must be stored whole (`config/v{N}.delta.json`).
    pub fn write_config_delta(&self, version: u64, issued_at: OffsetDateTime, revoked: &[&str]) {
        let before = self.dir.join(format!("config/v{}.json", version - 1));
        let before: psn_core::config::ConfigDocument =
            serde_json::from_str(&std::fs::read_to_string(before).expect("read")).expect("parse");
        let after = self.config_with(version, issued_at, revoked, &[ME, PEER]);
        let signed = self
            .signer
            .as_ref()
            .expect("fixture made here")
            .sign(&after)
            .expect("sign config");
        let delta =
            psn_core::config_delta::ConfigDelta::between(&before.config, &after, &signed.head)
                .expect("delta");
        std::fs::write(
            self.dir.join(format!("config/v{version}.delta.json")),
            serde_json::to_string(&delta).expect("json"),
        )
        .expect("delta");
    }

    pub fn open(&self, options: LogOptions) -> (AuditLog, Recovery) {
        AuditLog::open(&self.dir, options, self.me.sealer()).expect("open log")
    }

    /// `n` consumer-side records of exchanges with the peer, whose response statements the peer
    /// signed in batches of `batch_size` (one signature per batch, as under load).
    pub fn exchanges(&self, tag: &str, n: usize, batch_size: usize) -> Vec<AuditRecord> {
        let signer = self.peer.signer();
        let mut out = Vec::with_capacity(n);
        let start = now_ms();
        for chunk_start in (0..n).step_by(batch_size.max(1)) {
            let chunk: Vec<(AuditRecord, Vec<u8>)> = (chunk_start..n.min(chunk_start + batch_size))
                .map(|i| self.unsigned(&format!("{tag}-{i:06}"), start))
                .collect();
            let leaves: Vec<[u8; 32]> = chunk.iter().map(|(_, s)| batch::leaf(s)).collect();
            let (root, paths) = batch::tree(&leaves);
            let signature = signer.sign(&batch::signed_root(&root));
            for ((mut record, statement), path) in chunk.into_iter().zip(paths) {
                record.peer_proof = Some(encode_batched(&statement, &signature, &path));
                out.push(record);
            }
        }
        out
    }

    /// One record with its statement signed alone.
    pub fn exchange(&self, message_id: &str) -> AuditRecord {
        let (mut record, statement) = self.unsigned(message_id, now_ms());
        let signature = self
            .peer
            .signer()
            .sign(&batch::signed_root(&batch::leaf(&statement)));
        record.peer_proof = Some(encode_batched(&statement, &signature, &[]));
        record
    }

    fn unsigned(&self, message_id: &str, at_ms: i64) -> (AuditRecord, Vec<u8>) {
        let path = format!("/check?ref={message_id}");
        let request_digest = content_digest(&sha256(b""));
        let body = format!("{{\"eligible\":true,\"ref\":\"{message_id}\"}}");
        let response_digest = content_digest(&sha256(body.as_bytes()));
        let statement = Statement {
            kind: StatementKind::Response,
            message_id: message_id.into(),
            signer: PEER.into(),
            signer_serial: self.peer.cert.serial.clone(),
            client: CLIENT.into(),
            service: SERVICE.into(),
            method: "GET".into(),
            path: path.clone(),
            request_digest: request_digest.clone(),
            status: Some(200),
            response_digest: Some(response_digest.clone()),
            at_ms,
        };
        let record = AuditRecord {
            message_id: message_id.into(),
            role: Role::Consumer,
            client: CLIENT.into(),
            service: SERVICE.into(),
            method: "GET".into(),
            path,
            purpose: Some("free school meals eligibility".into()),
            times: HopTimes {
                received_ms: at_ms - 3,
                forwarded_ms: Some(at_ms - 2),
                response_in_ms: Some(at_ms - 1),
                response_out_ms: Some(at_ms),
            },
            request_digest: Some(request_digest),
            response_digest: Some(response_digest),
            status: 200,
            request_bytes: 0,
            response_bytes: body.len() as u64,
            peer: Some(PEER.into()),
            peer_serial: Some(self.peer.cert.serial.clone()),
            peer_proof: None,
            problem: None,
            request_body_stored: false,
            response_body_stored: false,
        };
        (record, statement.to_bytes())
    }

    /// Paths of the live segments, in order.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.join("audit/segments"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "psnlog"));
        paths.sort();
        paths
    }
}

/// Appends records concurrently (one task each), durably, with the peer certificate.
pub async fn append_all(log: &AuditLog, records: Vec<AuditRecord>, peer: Arc<Vec<u8>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for record in records {
        let (log, peer) = (log.clone(), peer.clone());
        tasks.spawn(async move {
            log.append(&record, Some(peer), psn_audit::Durability::Durable)
                .await
                .expect("append")
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
}

/// Appends records one after another (each its own batch, so size rotation happens between them).
pub async fn append_each(log: &AuditLog, records: Vec<AuditRecord>, peer: Arc<Vec<u8>>) {
    for record in records {
        log.append(&record, Some(peer.clone()), psn_audit::Durability::Durable)
            .await
            .expect("append");
    }
}
