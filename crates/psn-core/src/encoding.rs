//! Small encodings shared by every component: base64url without padding and SHA-256 digests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes bytes as base64url without padding (RFC 4648 §5), the form JOSE and psn tokens use.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lowercase hexadecimal, used for certificate serial numbers and digests shown to people.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_round_trips_and_rejects_padding_and_foreign_alphabets() {
        let data = b"\x00\xffpsn?>";
        let text = b64url(data);
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        assert_eq!(b64url_decode(&text).as_deref(), Some(&data[..]));
        assert_eq!(b64url_decode("AA=="), None);
        assert_eq!(b64url_decode("a+b/"), None);
    }

    #[test]
    fn sha256_matches_the_published_test_vector() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
