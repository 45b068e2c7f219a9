//! A whole configuration document as a gateway fetches it, and a partner network's view as an
//! authority follows it, on arbitrary text.
//!
//! What arrives is checked as far as it goes without the network's key, and is never accepted:
//! only the network's configuration signer, whose key the input cannot know, signs what the
//! network CA vouches for. So that the checks behind the signature are reached too, whatever
//! parses is then signed by the network's signer and checked in full: the head, its signer and
//! validity, the lists' order and every entry against the signed root. A document that passes
//! holds exactly the entries signed and writes back byte for byte as it was signed; a view that
//! passes is the view signed. Only the entries' own checks may refuse a signed document, and
//! only the view's own checks a signed view.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_core::config::{ConfigDocument, GlobalConfig};
use psn_core::config_delta::{head_to_sign, ContentError};
use psn_core::config_tree::TreeError;
use psn_core::federation::View;
use psn_core::names::NetworkId;
use psn_pki::{
    verify_config, verify_view, CertificateAuthority, ConfigSigner, ConfigVerifyError,
    FederationError,
};
use std::sync::OnceLock;
use std::time::Duration;
use time::OffsetDateTime;

/// Larger than any input the fuzzer makes: the size limits are not what is exercised here.
const MAX_LEN: usize = 64 * 1024 * 1024;

/// The network "GB", its CA and configuration signer, and the partner "GB-KENT".
struct Network {
    id: NetworkId,
    partner: NetworkId,
    ca_der: Vec<u8>,
    signer: ConfigSigner,
    now: OffsetDateTime,
}

fn network() -> &'static Network {
    static NETWORK: OnceLock<Network> = OnceLock::new();
    NETWORK.get_or_init(|| {
        let id: NetworkId = "GB".parse().expect("network");
        let ca = CertificateAuthority::create(&id).expect("CA");
        let signer = ConfigSigner::create(&ca, Duration::from_secs(30 * 86_400)).expect("signer");
        Network {
            partner: "GB-KENT".parse().expect("partner"),
            ca_der: ca.certificate_der().to_vec(),
            signer,
            now: OffsetDateTime::now_utc(),
            id,
        }
    })
}

/// The document's entries signed by the network's signer, then verified as a gateway does.
fn signed_document(network: &Network, mut config: GlobalConfig) {
    // A head must be issued while its signer's certificate is valid; the entries are what is
    // exercised, so the document is given the network's name and a current issue time.
    config.network = network.id.clone();
    config.issued_at = network.now;
    match head_to_sign(&config) {
        Ok(_) => {}
        // Two equal entries cannot both be leaves of the tree: there is nothing to sign.
        Err(ContentError::Tree(TreeError::Duplicate)) => return,
        Err(e) => panic!("no head for a parsed document: {e}"),
    }
    let signed = network
        .signer
        .sign(&config)
        .expect("a document with a head is signed");
    match verify_config(&signed.document, &network.ca_der, &network.id, MAX_LEN) {
        Ok(verified) => {
            assert_eq!(verified.config(), &config);
            let written = verified
                .held
                .document()
                .expect("a verified document writes");
            assert_eq!(written, signed.document);
        }
        // The entries' own checks: lists in their one order, the format this version reads.
        Err(ConfigVerifyError::Content(_)) => {}
        Err(e) => panic!("a document the network's signer signed was refused: {e}"),
    }
}

/// The view signed by the network's signer for its partner, then verified as the partner does.
fn signed_view(network: &Network, mut view: View) {
    view.network = network.id.clone();
    view.issued_at = network.now;
    let jws = network.signer.sign_view(&view).expect("a view is signed");
    let audience = view.audience.clone();
    match verify_view(
        &jws,
        &network.ca_der,
        &network.id,
        &audience,
        None,
        MAX_LEN,
        network.now,
    ) {
        Ok(verified) => assert_eq!(verified, view),
        // The view's own checks: format, parties, names, listings, relayed networks, expiry.
        Err(FederationError::View(_)) => {}
        Err(e) => panic!("a view the network's signer signed was refused: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let network = network();
    assert!(
        verify_config(text, &network.ca_der, &network.id, MAX_LEN).is_err(),
        "a document was accepted without the network's signature"
    );
    assert!(
        verify_view(
            text,
            &network.ca_der,
            &network.id,
            &network.partner,
            None,
            MAX_LEN,
            network.now
        )
        .is_err(),
        "a view was accepted without the network's signature"
    );
    if let Ok(document) = serde_json::from_str::<ConfigDocument>(text) {
        let _ = psn_pki::verify_config_head(&document.head, &network.ca_der, &network.id);
        signed_document(network, document.config);
    }
    if let Ok(view) = serde_json::from_str::<View>(text) {
        let _ = view.check(
            &view.network,
            &view.audience,
            Some(view.version),
            network.now,
        );
        let _ = view.past_half_life(network.now);
        signed_view(network, view);
    }
});
