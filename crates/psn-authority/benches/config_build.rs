//! National scale (DESIGN.md "Performance"): 25,000 members and 100,000 services. Measures the
//! registry snapshot, building and signing the configuration, and a gateway's verification of it
//! (the bulk of a reload). Figures go in docs/performance.md.

use criterion::{criterion_group, criterion_main, Criterion};
use psn_api::NewMember;
use psn_authority::publish::{build_config, AuthorityDescription};
use psn_authority::seed::{seed, Scale};
use psn_authority::store::Store;
use psn_core::names::{MemberClasses, NetworkId};
use psn_pki::{CertificateAuthority, ConfigSigner};
use std::time::Duration;

/// The allocator the `psn` binary runs the authority with, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEMBERS: usize = 25_000;
const SERVICES_PER_MEMBER: usize = 4;

fn members(network: &NetworkId) -> Vec<NewMember> {
    let real = psn_orgdata::embedded()
        .expect("embedded data")
        .organisations;
    let synthetic = psn_orgdata::synthetic(MEMBERS.saturating_sub(real.len()), 7);
    real.iter()
        .chain(synthetic.iter())
        .take(MEMBERS)
        .map(|o| NewMember {
            id: format!("{network}/{}/{}", o.class, o.code)
                .parse()
                .expect("valid id"),
            name: o.name.clone(),
            sector: Some(o.sector.as_str().to_owned()),
            region: o.region.clone(),
        })
        .collect()
}

fn national(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let network: NetworkId = "GB".parse().expect("network");
    let store = rt.block_on(async {
        let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::open(&database_url).await.expect("store");
        store
            .init_network(&network, &MemberClasses::uk_default())
            .await
            .expect("init");
        let scale = Scale {
            services_per_member: SERVICES_PER_MEMBER,
            gateways_per_member: 0,
        };
        let seeded = seed(&store, &database_url, &members(&network), scale)
            .await
            .expect("seed");
        assert_eq!(seeded.members, MEMBERS);
        store
    });
    let ca = CertificateAuthority::create(&network).expect("ca");
    let signer = ConfigSigner::create(&ca, Duration::from_secs(30 * 86_400)).expect("signer");
    let description = AuthorityDescription {
        network: network.clone(),
        endpoints: vec!["https://authority.example:7800".into()],
        ca_certificate: ca.certificate_pem().to_owned(),
        validity: Duration::from_secs(7 * 86_400),
    };
    let snapshot = rt.block_on(store.snapshot()).expect("snapshot");
    assert_eq!(snapshot.services.len(), MEMBERS * SERVICES_PER_MEMBER);
    let now = time::OffsetDateTime::now_utc();
    let document = signer
        .sign(&build_config(&snapshot, &description, 2, now))
        .expect("sign")
        .document;
    eprintln!(
        "signed configuration: {:.1} MB",
        document.len() as f64 / 1e6
    );

    let mut group = c.benchmark_group("national_scale");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("snapshot_from_sqlite", |b| {
        b.iter(|| rt.block_on(store.snapshot()).expect("snapshot"))
    });
    group.bench_function("build_and_sign", |b| {
        b.iter(|| {
            signer
                .sign(&build_config(&snapshot, &description, 2, now))
                .expect("sign")
        })
    });
    group.bench_function("configuration_build_total", |b| {
        b.iter(|| {
            let snapshot = rt.block_on(store.snapshot()).expect("snapshot");
            signer
                .sign(&build_config(&snapshot, &description, 2, now))
                .expect("sign")
        })
    });
    group.bench_function("gateway_verify_and_parse", |b| {
        b.iter(|| {
            psn_pki::verify_config(&document, ca.certificate_der(), &network, 1 << 28)
                .expect("verify")
        })
    });
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, national);
criterion_main!(benches);
