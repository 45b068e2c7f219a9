//! The certificate authority and configuration signatures with hostile inputs: every refusal
//! named, nothing issued for a request that names the wrong identity.

use psn_core::config::{AuthorityInfo, GlobalConfig, CONFIG_FORMAT};
use psn_core::jws::{sign_compact, JwsHeader, ALG_EDDSA};
use psn_core::names::{GatewayId, MemberClasses, NetworkId};
use psn_pki::{CertificateAuthority, CertificateInfo, ConfigSigner, GatewayKey, PkiError};
use rcgen::{CertificateParams, KeyPair, SanType};
use std::time::Duration;
use time::OffsetDateTime;

fn network() -> NetworkId {
    "GB".parse().expect("network")
}

fn gateway() -> GatewayId {
    "GB/LA/E10000016@gw1".parse().expect("gateway")
}

const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn csr_with(params: CertificateParams, key: &KeyPair) -> String {
    params
        .serialize_request(key)
        .expect("csr")
        .pem()
        .expect("pem")
}

#[test]
fn issues_a_gateway_certificate_naming_exactly_the_gateway() {
    let ca = CertificateAuthority::create(&network()).expect("ca");
    let key = GatewayKey::generate().expect("key");
    let issued = ca
        .issue_gateway_certificate(&key.csr_pem(&gateway()).expect("csr"), &gateway(), WEEK)
        .expect("issue");
    let info = CertificateInfo::from_der(&issued.der).expect("parse");
    assert_eq!(info.uris, vec![gateway().to_uri()]);
    assert_eq!(psn_pki::gateway_identity(&info), Some(gateway()));
    assert_eq!(
        psn_pki::spki_der(&issued.der).expect("spki"),
        key.public_key_der()
    );
    let lifetime = info.not_after - OffsetDateTime::now_utc();
    assert!(lifetime > time::Duration::days(6) && lifetime <= time::Duration::days(7));
    assert_eq!(issued.serial.len(), 32, "16-byte serial");
}

#[test]
fn refuses_signing_requests_for_other_identities_or_with_extras() {
    let ca = CertificateAuthority::create(&network()).expect("ca");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let uri = |u: &str| SanType::URI(u.to_owned().try_into().expect("ia5"));
    let mut other = CertificateParams::default();
    other.distinguished_name = rcgen::DistinguishedName::new();
    other.subject_alt_names = vec![uri("urn:psn:gateway:GB:LA:E10000019:gw1")];
    let mut two = CertificateParams::default();
    two.subject_alt_names = vec![
        uri(&gateway().to_uri()),
        uri("urn:psn:gateway:GB:LA:E10000019:gw1"),
    ];
    let mut dns = CertificateParams::default();
    dns.subject_alt_names = vec![
        uri(&gateway().to_uri()),
        SanType::DnsName("evil.example".try_into().expect("ia5")),
    ];
    let mut cn = CertificateParams::default();
    cn.subject_alt_names = vec![uri(&gateway().to_uri())];
    cn.distinguished_name = rcgen::DistinguishedName::new();
    cn.distinguished_name
        .push(rcgen::DnType::CommonName, "GB/LA/E10000019@gw1");
    let mut none = CertificateParams::default();
    none.distinguished_name = rcgen::DistinguishedName::new();
    for (params, why) in [
        (other, "another member"),
        (two, "two identities"),
        (dns, "a DNS name"),
        (cn, "another common name"),
        (none, "no identity"),
    ] {
        let err = ca
            .issue_gateway_certificate(&csr_with(params, &key), &gateway(), WEEK)
            .expect_err(why);
        assert!(matches!(err, PkiError::CsrRefused(_)), "{why}: {err}");
    }
    let rsa_free_garbage = [
        String::new(),
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n".to_owned(),
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_owned(),
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            "A".repeat(40_000)
        ),
    ];
    for garbage in rsa_free_garbage {
        assert!(ca
            .issue_gateway_certificate(&garbage, &gateway(), WEEK)
            .is_err());
    }
    // A request whose signature was made by another key is refused.
    let honest = GatewayKey::generate()
        .expect("key")
        .csr_pem(&gateway())
        .expect("csr");
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(honest.as_bytes())
        .map(|d: rustls_pki_types::CertificateSigningRequestDer| d.as_ref().to_vec())
        .expect("der");
    let mut forged = der.clone();
    let last = forged.len() - 3;
    forged[last] ^= 0x55;
    let forged_pem = psn_pki::der_to_pem("CERTIFICATE REQUEST", &forged);
    assert!(ca
        .issue_gateway_certificate(&forged_pem, &gateway(), WEEK)
        .is_err());
}

#[test]
fn a_ca_key_that_does_not_match_its_certificate_is_refused() {
    let ca = CertificateAuthority::create(&network()).expect("ca");
    let other = CertificateAuthority::create(&network()).expect("ca");
    let err = CertificateAuthority::load(&network(), ca.certificate_pem(), &other.key_pem())
        .err()
        .expect("mismatched key");
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert!(CertificateAuthority::load(&network(), ca.certificate_pem(), &ca.key_pem()).is_ok());
}

fn config(version: u64) -> GlobalConfig {
    let now = OffsetDateTime::now_utc();
    GlobalConfig {
        format: CONFIG_FORMAT.into(),
        network: network(),
        version,
        issued_at: now,
        expires_at: now + time::Duration::days(7),
        authority: AuthorityInfo {
            endpoints: vec!["https://127.0.0.1:7800".into()],
            ca_certificate: String::new(),
        },
        classes: MemberClasses::uk_default().iter().cloned().collect(),
        members: Default::default(),
        subsystems: Default::default(),
        gateways: Default::default(),
        services: Default::default(),
        federation: vec![],
        revoked_serials: vec![],
    }
}

#[test]
fn a_delta_is_taken_only_if_it_produces_the_root_its_signed_head_covers() {
    use psn_core::config::{MemberEntry, MemberStatus};
    use psn_core::config_delta::ConfigDelta;
    let ca = CertificateAuthority::create(&network()).expect("ca");
    let signer = ConfigSigner::create(&ca, WEEK).expect("signer");
    let old = config(1);
    let mut new = config(2);
    new.members.push(std::sync::Arc::new(MemberEntry {
        id: "GB/LA/E10000016".parse().expect("member"),
        name: "Kent County Council".into(),
        status: MemberStatus::Active,
        sector: None,
        region: None,
    }));
    let signed_old = signer.sign(&old).expect("sign");
    let signed_new = signer.sign(&new).expect("sign");
    let held = psn_pki::verify_config(
        &signed_old.document,
        ca.certificate_der(),
        &network(),
        1 << 20,
    )
    .expect("verify")
    .held;
    let delta = ConfigDelta::between(&old, &new, &signed_new.head).expect("delta");
    let apply = |held: &mut psn_core::config_delta::HeldConfig,
                 delta: &ConfigDelta,
                 network: &NetworkId|
     -> Result<(), String> {
        let (head, _) = psn_pki::verify_config_head(&delta.head, ca.certificate_der(), network)
            .map_err(|e| e.to_string())?;
        held.apply(delta, &head).map_err(|e| e.to_string())
    };

    let mut following = held.clone();
    apply(&mut following, &delta, &network()).expect("apply");
    assert_eq!(following.config(), &new);
    assert_eq!(
        following.document().expect("document"),
        signed_new.document,
        "the document after the delta is the signed one, byte for byte"
    );

    // A delta that smuggles in a change the authority did not sign is refused, and the held
    // version is kept.
    let mut tampered = delta.clone();
    tampered.members.upsert[0].status = MemberStatus::Suspended;
    let mut kept = held.clone();
    let err = apply(&mut kept, &tampered, &network()).expect_err("tampered");
    assert!(err.contains("root"), "{err}");
    assert_eq!(kept.config(), &old);

    // A head whose signature was altered, or signed for another network, is refused.
    let mut forged = delta.clone();
    forged.head.push('A');
    assert!(apply(&mut kept, &forged, &network()).is_err());
    let kent: NetworkId = "GB-KENT".parse().expect("network");
    assert!(apply(&mut kept, &delta, &kent).is_err());
    assert_eq!(kept.config(), &old);

    // A whole document whose entries were changed after signing is refused.
    let mut document: serde_json::Value = serde_json::from_str(&signed_new.document).expect("json");
    document["config"]["members"][0]["status"] = "suspended".into();
    let err = psn_pki::verify_config(
        &document.to_string(),
        ca.certificate_der(),
        &network(),
        1 << 20,
    )
    .expect_err("tampered document");
    assert!(err.to_string().contains("root"), "{err}");
}

#[test]
fn configurations_verify_only_under_their_own_network_ca() {
    let ca = CertificateAuthority::create(&network()).expect("ca");
    let signer = ConfigSigner::create(&ca, WEEK).expect("signer");
    let jws = signer.sign(&config(3)).expect("sign").document;
    let verified =
        psn_pki::verify_config(&jws, ca.certificate_der(), &network(), 1 << 20).expect("verify");
    assert_eq!(verified.config().version, 3);

    // Another CA's signer, even for the same network id, is not trusted.
    let rogue_ca = CertificateAuthority::create(&network()).expect("ca");
    let rogue = ConfigSigner::create(&rogue_ca, WEEK)
        .expect("signer")
        .sign(&config(4))
        .expect("sign")
        .document;
    assert!(psn_pki::verify_config(&rogue, ca.certificate_der(), &network(), 1 << 20).is_err());

    // A signer for another network is not trusted for this one.
    let kent: NetworkId = "GB-KENT".parse().expect("network");
    let kent_ca = CertificateAuthority::create(&kent).expect("ca");
    let mut kent_config = config(5);
    kent_config.network = kent.clone();
    let kent_jws = ConfigSigner::create(&kent_ca, WEEK)
        .expect("signer")
        .sign(&kent_config)
        .expect("sign")
        .document;
    assert!(psn_pki::verify_config(&kent_jws, ca.certificate_der(), &network(), 1 << 20).is_err());
    assert!(
        psn_pki::verify_config(&kent_jws, kent_ca.certificate_der(), &network(), 1 << 20).is_err()
    );

    // A gateway key certified by the real CA cannot sign configurations: wrong role.
    let gw_key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
    let gw_cert = ca
        .issue_gateway_certificate(
            &csr_with(
                {
                    let mut p = CertificateParams::default();
                    p.distinguished_name = rcgen::DistinguishedName::new();
                    p.subject_alt_names =
                        vec![SanType::URI(gateway().to_uri().try_into().expect("ia5"))];
                    p
                },
                &gw_key,
            ),
            &gateway(),
            WEEK,
        )
        .expect("issue");
    let ring_key =
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&gw_key.serialize_der())
            .expect("key");
    use base64::Engine;
    let header = JwsHeader {
        alg: ALG_EDDSA.into(),
        typ: Some(psn_core::config::CONFIG_JWS_TYPE.into()),
        x5c: vec![base64::engine::general_purpose::STANDARD.encode(&gw_cert.der)],
    };
    let genuine = signer.sign(&config(6)).expect("sign");
    let head_payload = psn_core::jws::CompactJws::parse(&genuine.head, 1 << 16)
        .expect("head")
        .unverified_payload()
        .to_vec();
    let mut document: serde_json::Value = serde_json::from_str(&genuine.document).expect("json");
    document["head"] = sign_compact(&header, &head_payload, &ring_key).into();
    let forged = document.to_string();
    let err = psn_pki::verify_config(&forged, ca.certificate_der(), &network(), 1 << 20)
        .expect_err("gateway signed");
    assert!(
        err.to_string().contains("not the configuration signer"),
        "{err}"
    );

    // Oversized documents are refused before any decoding.
    assert!(psn_pki::verify_config(&jws, ca.certificate_der(), &network(), 100).is_err());
}
