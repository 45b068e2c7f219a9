//! The contract of the authority's HTTPS API, shared by the server and every client so the two
//! cannot drift apart, and a typed client used by the CLI (operator) and gateways (member).

mod access;
mod benchmarks;
mod catalogue;
mod client;
mod compliance;
mod documents;
mod federation;
mod people;
mod types;

pub use access::*;
pub use benchmarks::*;
pub use catalogue::*;
pub use client::{
    AuthorityClient, ClientError, ConfigFetch, DeltaFetch, FetchedText, Retries, ViewFetch,
    FEDERATION_AUTH_SCHEME,
};
pub use compliance::*;
pub use documents::*;
pub use federation::*;
pub use people::*;
pub use types::*;

/// Media type of a signed configuration (RFC 7515 compact serialisation).
pub const JOSE_MEDIA_TYPE: &str = "application/jose";
