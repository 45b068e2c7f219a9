//! The anchor psn is measured against: two nginx reverse proxies with mutual TLS 1.3 between
//! them, the conventional way to join two organisations' networks without psn. Tuned as an
//! operator who cared about throughput would tune it (keep-alive pools on both upstreams, no
//! access log, one worker per CPU), so that the comparison is fair to nginx.

use super::probe;
use super::process::{log_tail, Ports, Server, Servers, Spec};
use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name nginx B's certificate carries and nginx A verifies.
const SERVER_NAME: &str = "nginx-back.bench.invalid";

/// A PEM certificate and its PEM key.
struct Pem {
    cert: String,
    key: String,
}

/// The PKI of the pair: a CA certificate (ECDSA P-256; its key is thrown away), nginx B's server certificate and nginx A's client
/// certificate, both issued by it.
struct Pki {
    ca: String,
    server: Pem,
    client: Pem,
}

fn issue_pki() -> anyhow::Result<Pki> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "psn-bench nginx CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf = |name: &str, purpose: ExtendedKeyUsagePurpose| -> anyhow::Result<Pem> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    };
    Ok(Pki {
        server: leaf(SERVER_NAME, ExtendedKeyUsagePurpose::ServerAuth)?,
        client: leaf(
            "nginx-front.bench.invalid",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?,
        ca: ca.pem(),
    })
}

/// Whether this process runs as root (then nginx is told `user root;`, so its workers can read
/// the benchmark's private temporary directory).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// What every nginx of the pair shares: process settings, temporary paths under its own prefix,
/// client keep-alive.
fn common(prefix: &Path, as_root: bool) -> String {
    let p = prefix.display();
    format!(
        "{user}worker_processes auto;
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
",
        user = if as_root { "user root;\n" } else { "" },
    )
}

/// nginx A: plain HTTP in, mutual TLS 1.3 out to nginx B over a keep-alive pool.
fn front_config(prefix: &Path, as_root: bool, listen: u16, back: u16) -> String {
    let p = prefix.display();
    format!(
        "{common}
    upstream back {{
        server 127.0.0.1:{back};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass https://back;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_ssl_protocols TLSv1.3;
            proxy_ssl_certificate {p}/client.pem;
            proxy_ssl_certificate_key {p}/client-key.pem;
            proxy_ssl_trusted_certificate {p}/ca.pem;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_name {SERVER_NAME};
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
",
        common = common(prefix, as_root)
    )
}

/// nginx B: mutual TLS 1.3 in (client certificate required), plain HTTP out to the backend over
/// a keep-alive pool.
fn back_config(prefix: &Path, as_root: bool, listen: u16, backend: &str) -> String {
    let p = prefix.display();
    format!(
        "{common}
    upstream backend {{
        server {backend};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }}
    server {{
        listen 127.0.0.1:{listen} ssl;
        ssl_protocols TLSv1.3;
        ssl_certificate {p}/server.pem;
        ssl_certificate_key {p}/server-key.pem;
        ssl_client_certificate {p}/ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_session_cache shared:bench:10m;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
",
        common = common(prefix, as_root)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The running pair.
pub struct NginxPair {
    /// nginx A's URL (what wrk calls).
    pub url: String,
    /// nginx A's master process (its workers are its children).
    pub front_pid: u32,
    /// nginx B's master process.
    pub back_pid: u32,
}

/// Starts nginx B then nginx A, each with its own prefix under `work` and pinned to `cpus`, in
/// front of `backend` (`host:port`); returns once a request through both reaches the backend.
pub async fn start(
    servers: &mut Servers,
    ports: &mut Ports,
    work: &Path,
    cpus: &str,
    backend: &str,
) -> anyhow::Result<NginxPair> {
    let pki = issue_pki().context("issuing the nginx pair's certificates")?;
    let as_root = running_as_root();
    let (front_port, back_port) = (ports.pick()?, ports.pick()?);
    let back_dir = work.join("nginx-back");
    let front_dir = work.join("nginx-front");
    for dir in [&back_dir, &front_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write(dir, "ca.pem", &pki.ca)?;
    }
    write(&back_dir, "server.pem", &pki.server.cert)?;
    write(&back_dir, "server-key.pem", &pki.server.key)?;
    write(
        &back_dir,
        "nginx.conf",
        &back_config(&back_dir, as_root, back_port, backend),
    )?;
    write(&front_dir, "client.pem", &pki.client.cert)?;
    write(&front_dir, "client-key.pem", &pki.client.key)?;
    write(
        &front_dir,
        "nginx.conf",
        &front_config(&front_dir, as_root, front_port, back_port),
    )?;
    let back = start_one(servers, "nginx-back", &back_dir, cpus).await?;
    probe::wait_listening(&format!("127.0.0.1:{back_port}"), Duration::from_secs(10))
        .await
        .map_err(|e| {
            servers
                .get_mut(back)
                .failure(&format!("does not listen: {e:#}"))
        })?;
    let front = start_one(servers, "nginx-front", &front_dir, cpus).await?;
    let url = format!("http://127.0.0.1:{front_port}");
    probe::wait_ok(&format!("{url}/healthz"), Duration::from_secs(10))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the nginx pair does not answer: {e:#}\nnginx-front's logs:\n{}\nnginx-back's logs:\n{}",
                logs(&front_dir),
                logs(&back_dir),
            )
        })?;
    Ok(NginxPair {
        url,
        front_pid: servers.get_mut(front).pid(),
        back_pid: servers.get_mut(back).pid(),
    })
}

/// The ends of an nginx's standard error (errors before its configuration is read) and of its
/// error log.
fn logs(dir: &Path) -> String {
    format!(
        "{}\n{}",
        log_tail(&dir.join("stderr.log"), 10),
        log_tail(&dir.join("error.log"), 10)
    )
}

/// Starts one nginx (`-p dir -c dir/nginx.conf`, in the foreground) and adds it to `servers`.
async fn start_one(
    servers: &mut Servers,
    role: &str,
    dir: &Path,
    cpus: &str,
) -> anyhow::Result<usize> {
    let program = PathBuf::from("nginx");
    let spec = Spec {
        role,
        program: &program,
        args: vec![
            "-p".into(),
            dir.display().to_string(),
            "-c".into(),
            dir.join("nginx.conf").display().to_string(),
        ],
        env: vec![],
        log: dir.join("stderr.log"),
    };
    let (server, _) = Server::start(spec, cpus, None, Duration::ZERO).await?;
    Ok(servers.add(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_are_tuned_and_mutual() {
        let dir = Path::new("/tmp/x");
        let front = front_config(dir, true, 20001, 20002);
        for needle in [
            "user root;",
            "worker_processes auto;",
            "keepalive 128;",
            "keepalive_requests 1000000;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "access_log off;",
            "proxy_ssl_verify on;",
            "proxy_ssl_certificate /tmp/x/client.pem;",
            "proxy_ssl_protocols TLSv1.3;",
            "server 127.0.0.1:20002;",
        ] {
            assert!(front.contains(needle), "front lacks {needle}:\n{front}");
        }
        let back = back_config(dir, false, 20002, "127.0.0.1:20003");
        for needle in [
            "listen 127.0.0.1:20002 ssl;",
            "ssl_verify_client on;",
            "ssl_protocols TLSv1.3;",
            "server 127.0.0.1:20003;",
            "keepalive 128;",
        ] {
            assert!(back.contains(needle), "back lacks {needle}:\n{back}");
        }
        assert!(!back.contains("user root;"));
    }

    #[test]
    fn certificates_are_issued_by_the_ca() {
        let pki = issue_pki().expect("pki");
        for pem in [&pki.ca, &pki.server.cert, &pki.client.cert] {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        }
        assert!(pki.server.key.contains("PRIVATE KEY"));
    }
}
