//! Filing aggregate rows by what this network knows, so that input cannot add services or
//! consumers to SLA reports: a gateway's own batch (`POST /v1/gateway/aggregates`) and the rows
//! a federated partner forwards about exchanges with this network
//! (`GET /v1/federation/aggregates`) go through the same filing before they are stored.

use crate::store::StoreError;
use crate::Authority;
use psn_core::aggregate::{AggregateCounts, AggregateKey, AggregateRow, Side, UNKNOWN};
use psn_core::names::SubsystemId;
use std::collections::{BTreeMap, BTreeSet};

/// What becomes of a consumer side's client subsystem this network does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownClient {
    /// The whole batch is refused: the reporter is this network's gateway, whose member's
    /// subsystems the registry always has.
    Refuse,
    /// Filed as [`UNKNOWN`]: the reporter is a partner's gateway, whose subsystems this network
    /// knows only while its configuration lists them.
    FileAsUnknown,
}

/// Why rows were not filed.
#[derive(Debug)]
pub enum Filing {
    /// Looking the names up failed.
    Store(StoreError),
    /// A consumer side named a client subsystem this network does not know.
    UnregisteredClient(String),
}

impl std::fmt::Display for Filing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filing::Store(e) => write!(f, "{e}"),
            Filing::UnregisteredClient(client) => {
                write!(f, "client {client} is not a subsystem in the registry")
            }
        }
    }
}

/// Files checked rows: a service this network does not know (never listed, or withdrawn before
/// the rows arrived) becomes [`UNKNOWN`], and so does a provider side's client subsystem it
/// does not know (the peer named it); a consumer side's unknown client as `unknown_client`
/// says. Rows that then share a key are added up, so every record still counts once. A
/// federated partner's services and subsystems are known by the configuration that trusts
/// them: cross-network exchanges are filed under their real names on both sides.
pub async fn file_rows(
    a: &Authority,
    rows: Vec<AggregateRow>,
    unknown_client: UnknownClient,
) -> Result<Vec<AggregateRow>, Filing> {
    let named = |pick: fn(&AggregateKey) -> &String| {
        rows.iter()
            .map(|r| pick(&r.key))
            .filter(|n| n.contains('/'))
            .cloned()
            .collect::<BTreeSet<String>>()
    };
    // Services and subsystems have slashes; `unknown` and probing gateways' ids need no lookup
    // (gateway ids have them too, and are simply not found among the subsystems).
    let (services, clients) = (named(|k| &k.service), named(|k| &k.client));
    let (mut known_services, mut known_clients) = a
        .store
        .registered_names(&services, &clients)
        .await
        .map_err(Filing::Store)?;
    crate::federation::partner_names(a, &services, &mut known_services, |c, name| {
        crate::federation::lists(&c.services, name, |s| s.id.to_string())
    });
    crate::federation::partner_names(a, &clients, &mut known_clients, |c, name| {
        crate::federation::lists(&c.subsystems, name, ToString::to_string)
    });
    let mut filed: BTreeMap<AggregateKey, AggregateCounts> = BTreeMap::new();
    for row in rows {
        let mut key = row.key;
        let subsystem = key.client.parse::<SubsystemId>().is_ok();
        if subsystem && !known_clients.contains(&key.client) {
            if key.side == Side::Consumer && unknown_client == UnknownClient::Refuse {
                return Err(Filing::UnregisteredClient(key.client));
            }
            key.client = UNKNOWN.to_owned();
        }
        if key.service != UNKNOWN && !known_services.contains(&key.service) {
            key.service = UNKNOWN.to_owned();
        }
        filed.entry(key).or_default().merge(&row.counts);
    }
    Ok(filed
        .into_iter()
        .map(|(key, counts)| AggregateRow { key, counts })
        .collect())
}
