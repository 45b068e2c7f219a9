//! Passwords: argon2id (RustCrypto `argon2`, its default parameters: 19 MiB, 2 passes), and
//! the one-time passwords operators hand out.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// Longest password accepted: argon2 hashes any length, but an unbounded one is free work.
pub const MAX_PASSWORD: usize = 1024;

fn random(bytes: &mut [u8]) -> Result<(), String> {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), bytes)
        .map_err(|_| "random number generator failed".to_owned())
}

/// The argon2id PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC string; a damaged hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Spends the time of one verification, so an unknown username answers as slowly as a known one.
pub fn verify_nobody(password: &str) {
    static DECOY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(decoy) = DECOY.get_or_init(|| hash("psn decoy password").ok()) {
        verify(password, decoy);
    }
}

/// A one-time password: 20 characters of base64url from 15 random bytes (120 bits).
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 15];
    random(&mut bytes)?;
    Ok(psn_core::encoding::b64url(&bytes))
}
