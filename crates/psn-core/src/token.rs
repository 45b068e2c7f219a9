//! Enrolment tokens: what an authority operator hands to a member so that its new gateway can
//! join without any hand-copied trust anchor. The token names the authority, pins its CA key, and
//! carries a one-time secret; the authority stores only the secret's hash.

use crate::encoding::{b64url, b64url_decode, sha256};
use crate::names::{GatewayCode, MemberId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const PREFIX: &str = "psn-enrol-1.";
/// Real tokens are a few hundred bytes; anything far larger is hostile.
const MAX_TOKEN_LEN: usize = 4096;

/// The decoded contents of an enrolment token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentToken {
    /// Base URL of the authority API.
    pub authority: String,
    /// base64url SHA-256 of the network CA's SubjectPublicKeyInfo; the gateway trusts only a
    /// server whose chain ends in that key.
    pub ca_pin: String,
    /// The member whose gateway may enrol.
    pub member: MemberId,
    /// The gateway code it will enrol as.
    pub gateway: GatewayCode,
    /// After this instant the authority refuses the token (informational here; the authority's
    /// record is authoritative).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// 32 random bytes, base64url.
    pub secret: String,
}

/// Why a token string was refused before it reached the authority.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a psn enrolment token at all.
    #[error("not a psn enrolment token (expected it to start with {PREFIX:?})")]
    WrongPrefix,
    /// Over the size limit.
    #[error("enrolment token is {0} bytes, more than a real token can be")]
    TooLong(usize),
    /// Damaged in transit or edited.
    #[error("enrolment token is damaged: {0}")]
    Damaged(&'static str),
}

impl EnrolmentToken {
    /// The text form handed to the member: `psn-enrol-1.` + base64url(JSON).
    pub fn encode(&self) -> String {
        // Serialising plain strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", b64url(&json))
    }

    /// Parses the text form; surrounding whitespace (from copy and paste) is ignored.
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong(text.len()));
        }
        let body = text.strip_prefix(PREFIX).ok_or(TokenError::WrongPrefix)?;
        let json = b64url_decode(body).ok_or(TokenError::Damaged("not base64url"))?;
        let token: Self = serde_json::from_slice(&json)
            .map_err(|_| TokenError::Damaged("contents unreadable"))?;
        let secret = b64url_decode(&token.secret).ok_or(TokenError::Damaged("bad secret"))?;
        if secret.len() != 32 {
            return Err(TokenError::Damaged("bad secret"));
        }
        if b64url_decode(&token.ca_pin).is_none_or(|pin| pin.len() != 32) {
            return Err(TokenError::Damaged("bad CA pin"));
        }
        Ok(token)
    }

    /// The value the authority stores and looks the token up by.
    pub fn secret_hash(&self) -> String {
        secret_hash(&self.secret)
    }
}

/// Hash of a token secret (or operator token) as stored by the authority: base64url SHA-256.
pub fn secret_hash(secret: &str) -> String {
    b64url(&sha256(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> EnrolmentToken {
        EnrolmentToken {
            authority: "https://127.0.0.1:7800".into(),
            ca_pin: b64url(&[7u8; 32]),
            member: "GB/LA/E10000016".parse().expect("member"),
            gateway: "gw1".parse().expect("gateway"),
            expires_at: OffsetDateTime::UNIX_EPOCH,
            secret: b64url(&[9u8; 32]),
        }
    }

    #[test]
    fn round_trips_and_tolerates_pasted_whitespace() {
        let t = token();
        assert_eq!(
            EnrolmentToken::decode(&format!("  {}\n", t.encode())),
            Ok(t)
        );
    }

    #[test]
    fn damaged_tokens_are_refused_with_a_reason() {
        let text = token().encode();
        assert_eq!(
            EnrolmentToken::decode("hello"),
            Err(TokenError::WrongPrefix)
        );
        assert!(matches!(
            EnrolmentToken::decode(&"x".repeat(10_000)),
            Err(TokenError::TooLong(_))
        ));
        assert!(EnrolmentToken::decode(&text[..text.len() - 5]).is_err());
        assert!(EnrolmentToken::decode(&format!("{text}!")).is_err());
        let mut extra: serde_json::Value = serde_json::to_value(token()).expect("json");
        extra["admin"] = true.into();
        let forged = format!("{PREFIX}{}", b64url(extra.to_string().as_bytes()));
        assert!(
            EnrolmentToken::decode(&forged).is_err(),
            "unknown fields must be refused"
        );
        let mut short = token();
        short.secret = b64url(&[1u8; 8]);
        assert!(EnrolmentToken::decode(&short.encode()).is_err());
        let mut bad_member = serde_json::to_value(token()).expect("json");
        bad_member["member"] = "GB/la/E1".into();
        let forged = format!("{PREFIX}{}", b64url(bad_member.to_string().as_bytes()));
        assert!(EnrolmentToken::decode(&forged).is_err());
    }
}
