//! What the authority's and the gateway's HTTP listeners share, so that every refusal a client
//! receives is an RFC 9457 problem (docs/api.md "Limits"):
//!
//! - [`limits`]: the documented request-head limits, checked by psn before any handler, and the
//!   HTTP library's own hard limits, set a bounded margin above them;
//! - [`ProblemIo`]: a connection wrapper that replaces the bare responses hyper writes by itself
//!   (a request head it cannot parse or hold) with problem documents;
//! - [`linger`]: closes a connection without resetting it, reading and discarding for a bounded
//!   time what the client is still sending, so a client that is still uploading an over-limit
//!   body receives the refusal rather than a connection reset.

mod io;
pub mod limits;

pub use io::{linger, ProblemIo, Refusals, Returned};
