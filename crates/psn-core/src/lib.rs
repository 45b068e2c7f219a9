//! psn's shared vocabulary: the identifiers of DESIGN.md "Names", the signed global configuration,
//! enrolment tokens and RFC 9457 problem types. Everything here is pure data and pure functions so
//! that the authority, the gateway and the CLI agree on one definition of each.

pub mod access;
pub mod aggregate;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod config_delta;
pub mod config_tree;
pub mod duration;
pub mod encoding;
pub mod federation;
pub mod jws;
pub mod names;
pub mod problem;
pub mod proof;
pub mod shared_list;
pub mod sla;
pub mod token;
