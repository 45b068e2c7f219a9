//! Federation's signatures and trust with hostile inputs (docs/federation.md): anchors that do
//! not verify under the CA they carry, views from the wrong network or addressed elsewhere,
//! requests signed by the wrong signer, and partner CAs that try to vouch for names outside
//! their own network.

use psn_core::federation::{Anchor, Assertion, View, ANCHOR_FORMAT, VIEW_FORMAT};
use psn_core::names::{GatewayId, NetworkId};
use psn_pki::{CertificateAuthority, ConfigSigner, FederationError, GatewayKey, TrustedNetworks};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use std::time::Duration;
use time::OffsetDateTime;

const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn net(id: &str) -> NetworkId {
    id.parse().expect("network")
}

struct Side {
    network: NetworkId,
    ca: CertificateAuthority,
    signer: ConfigSigner,
}

fn side(id: &str) -> Side {
    let network = net(id);
    let ca = CertificateAuthority::create(&network).expect("ca");
    let signer = ConfigSigner::create(&ca, WEEK).expect("signer");
    Side {
        network,
        ca,
        signer,
    }
}

fn anchor_of(side: &Side, now: OffsetDateTime) -> Anchor {
    Anchor {
        format: ANCHOR_FORMAT.into(),
        network: side.network.clone(),
        endpoints: vec!["https://127.0.0.1:8443".into()],
        ca_certificate: side.ca.certificate_pem().to_owned(),
        signer_certificate: side.signer.certificate_pem().to_owned(),
        issued_at: now,
        expires_at: now + time::Duration::days(30),
    }
}

fn view_of(side: &Side, audience: &str, now: OffsetDateTime) -> View {
    View {
        format: VIEW_FORMAT.into(),
        network: side.network.clone(),
        audience: net(audience),
        version: 4,
        issued_at: now,
        expires_at: now + time::Duration::days(7),
        members: Default::default(),
        subsystems: Default::default(),
        gateways: Default::default(),
        services: Default::default(),
        revoked_serials: vec![],
        listings: vec![],
        reexport: false,
        relayed: vec![],
    }
}

#[test]
fn an_anchor_verifies_under_its_own_ca_and_nothing_else_passes() {
    let now = OffsetDateTime::now_utc();
    let kent = side("GB-KENT");
    let jws = kent
        .signer
        .sign_anchor(&anchor_of(&kent, now))
        .expect("sign");
    let verified = psn_pki::verify_anchor(&jws, now).expect("verifies");
    assert_eq!(verified.anchor.network, kent.network);
    assert_eq!(
        verified.fingerprint,
        psn_pki::ca_pin(kent.ca.certificate_der()).expect("pin")
    );

    // Signed by another network's signer while claiming Kent's CA.
    let rogue = side("GB-KENT");
    let forged = rogue
        .signer
        .sign_anchor(&anchor_of(&kent, now))
        .expect("sign");
    assert!(matches!(
        psn_pki::verify_anchor(&forged, now),
        Err(FederationError::Anchor(_))
    ));
    // A signer certified for another network cannot speak for this one.
    let gb = side("GB");
    let mut claimed = anchor_of(&gb, now);
    claimed.network = net("GB-KENT");
    let wrong = gb.signer.sign_anchor(&claimed).expect("sign");
    assert!(psn_pki::verify_anchor(&wrong, now).is_err());
    // Expired, not yet valid, truncated, oversized, and a configuration passed off as an anchor.
    let later = now + time::Duration::days(31);
    assert!(psn_pki::verify_anchor(&jws, later).is_err());
    let mut future = anchor_of(&kent, now + time::Duration::days(1));
    future.expires_at = now + time::Duration::days(10);
    let future = kent.signer.sign_anchor(&future).expect("sign");
    assert!(psn_pki::verify_anchor(&future, now).is_err());
    assert!(psn_pki::verify_anchor(&jws[..jws.len() - 3], now).is_err());
    assert!(psn_pki::verify_anchor(&"a".repeat(70_000), now).is_err());
    let config_typed = kent
        .signer
        .sign_document("psn-config+json", &anchor_of(&kent, now))
        .expect("sign");
    assert!(psn_pki::verify_anchor(&config_typed, now).is_err());
}

#[test]
fn a_view_must_come_from_the_partner_and_be_addressed_here() {
    let now = OffsetDateTime::now_utc();
    let gb = side("GB");
    let kent = side("GB-KENT");
    let ca = gb.ca.certificate_der();
    let verify = |jws: &str, held: Option<u64>| {
        psn_pki::verify_view(jws, ca, &gb.network, &kent.network, held, 1 << 20, now)
    };
    let jws = gb
        .signer
        .sign_view(&view_of(&gb, "GB-KENT", now))
        .expect("sign");
    assert_eq!(verify(&jws, Some(4)).expect("verifies").version, 4);
    assert!(matches!(
        verify(&jws, Some(5)),
        Err(FederationError::View(_))
    ));
    let elsewhere = gb
        .signer
        .sign_view(&view_of(&gb, "GB-YORKS", now))
        .expect("sign");
    assert!(matches!(
        verify(&elsewhere, None),
        Err(FederationError::View(_))
    ));
    // Kent's own signer cannot produce GB's view, and a view is not an anchor or a request.
    let forged = kent
        .signer
        .sign_view(&view_of(&kent, "GB-KENT", now))
        .expect("sign");
    assert!(matches!(
        verify(&forged, None),
        Err(FederationError::Signature(_))
    ));
    let as_request = gb
        .signer
        .sign_document(
            "psn-federation-assertion+json",
            &view_of(&gb, "GB-KENT", now),
        )
        .expect("sign");
    assert!(verify(&as_request, None).is_err());
}

#[test]
fn a_relayed_network_must_come_with_a_usable_ca() {
    let now = OffsetDateTime::now_utc();
    let gb = side("GB");
    let kent = side("GB-KENT");
    let relayed = |ca_certificate: String| psn_core::config::FederatedNetwork {
        network: kent.network.clone(),
        ca_certificate,
        version: 9,
        expires_at: now + time::Duration::days(7),
        revoked_serials: vec![],
        via: None,
    };
    let verify = |ca_certificate: String| {
        let mut view = view_of(&gb, "GB-HANTS", now);
        view.relayed.push(relayed(ca_certificate));
        let jws = gb.signer.sign_view(&view).expect("sign");
        psn_pki::verify_view(
            &jws,
            gb.ca.certificate_der(),
            &gb.network,
            &net("GB-HANTS"),
            None,
            1 << 20,
            now,
        )
    };
    let view = verify(kent.ca.certificate_pem().to_owned()).expect("a relayed CA verifies");
    assert_eq!(view.relayed[0].network, kent.network);
    // Not a certificate, two certificates, and a leaf passed off as a CA: each would leave the
    // reader's gateways unable to trust the relayed network, so the whole view is refused.
    let leaf = kent.signer.certificate_pem().to_owned();
    for bad in [
        "not a certificate".to_owned(),
        format!("{}{}", kent.ca.certificate_pem(), gb.ca.certificate_pem()),
        leaf,
    ] {
        assert!(
            matches!(verify(bad.clone()), Err(FederationError::View(_))),
            "{bad}"
        );
    }
}

#[test]
fn a_request_verifies_only_under_the_asking_partners_ca() {
    let now = OffsetDateTime::now_utc();
    let gb = side("GB");
    let kent = side("GB-KENT");
    let assertion = Assertion {
        network: kent.network.clone(),
        audience: gb.network.clone(),
        issued_at: now,
        expires_at: now + time::Duration::seconds(90),
    };
    let jws = kent.signer.sign_assertion(&assertion).expect("sign");
    assert_eq!(psn_pki::assertion_network(&jws), Some(kent.network.clone()));
    let kent_ca = kent.ca.certificate_der();
    psn_pki::verify_assertion(&jws, kent_ca, &kent.network, &gb.network, now).expect("verifies");
    assert!(psn_pki::verify_assertion(
        &jws,
        gb.ca.certificate_der(),
        &kent.network,
        &gb.network,
        now
    )
    .is_err());
    assert!(
        psn_pki::verify_assertion(&jws, kent_ca, &kent.network, &net("GB-YORKS"), now).is_err()
    );
    let stale = now + time::Duration::seconds(91);
    assert!(psn_pki::verify_assertion(&jws, kent_ca, &kent.network, &gb.network, stale).is_err());
    // Signed by Kent, claiming to be Yorkshire's.
    let claiming = Assertion {
        network: net("GB-YORKS"),
        ..assertion
    };
    let jws = kent.signer.sign_assertion(&claiming).expect("sign");
    assert!(psn_pki::verify_assertion(&jws, kent_ca, &kent.network, &gb.network, now).is_err());
    assert_eq!(psn_pki::assertion_network("garbage"), None);
}

fn certificate(ca: &CertificateAuthority, id: &str) -> CertificateDer<'static> {
    let id: GatewayId = id.parse().expect("gateway");
    let key = GatewayKey::generate().expect("key");
    let issued = ca
        .issue_gateway_certificate(&key.csr_pem(&id).expect("csr"), &id, WEEK)
        .expect("issue");
    CertificateDer::from(issued.der)
}

#[test]
fn a_partner_ca_vouches_for_its_own_networks_names_only() {
    let gb = side("GB");
    let kent = side("GB-KENT");
    let trusted = TrustedNetworks::new(gb.network.clone(), gb.ca.certificate_der()).expect("trust");
    let now = UnixTime::now();
    let kent_gateway = certificate(&kent.ca, "GB-KENT/LA/E10000016@gw1");
    let own_gateway = certificate(&gb.ca, "GB/GOV/D6@gw1");
    assert!(trusted.verify_client_cert(&own_gateway, &[], now).is_ok());
    assert!(
        trusted.verify_client_cert(&kent_gateway, &[], now).is_err(),
        "not a partner yet"
    );

    trusted
        .set_partners(&[(kent.network.clone(), kent.ca.certificate_der().to_vec())])
        .expect("partners");
    assert!(trusted.verify_client_cert(&kent_gateway, &[], now).is_ok());
    assert!(trusted.verify_client_cert(&own_gateway, &[], now).is_ok());

    // A partner whose CA issues a certificate naming one of GB's gateways gets nowhere: GB's
    // names are checked against GB's CA alone.
    let rogue = side("GB");
    let impostor = certificate(&rogue.ca, "GB/GOV/D6@gw1");
    trusted
        .set_partners(&[(kent.network.clone(), rogue.ca.certificate_der().to_vec())])
        .expect("partners");
    assert!(trusted.verify_client_cert(&impostor, &[], now).is_err());
    assert!(
        trusted.verify_client_cert(&kent_gateway, &[], now).is_err(),
        "Kent's names need Kent's CA"
    );
    // And no configuration can name this network as a partner.
    assert!(trusted
        .set_partners(&[(gb.network.clone(), rogue.ca.certificate_der().to_vec())])
        .is_err());
    // Removing the partner removes the trust.
    trusted.set_partners(&[]).expect("partners");
    assert!(trusted.verify_client_cert(&kent_gateway, &[], now).is_err());
    assert!(trusted.ca_der(&kent.network).is_none());
    assert!(trusted.ca_der(&gb.network).is_some());
}
