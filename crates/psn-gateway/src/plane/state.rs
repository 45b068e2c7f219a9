//! What every request reads: the configuration in force (indexed), the grants on this member's
//! services, and this gateway's identity. Replaced wholesale when the authority publishes, so a
//! request sees one consistent version.

use psn_core::access::Grant;
use psn_core::config::{GatewayEntry, GlobalConfig, MemberStatus};
use psn_core::names::{GatewayId, MemberId, ServiceId, SubsystemId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

/// One configuration version, indexed for the lookups made on every request.
#[derive(Debug)]
pub struct View {
    /// The document.
    pub config: Arc<GlobalConfig>,
    active_members: HashSet<MemberId>,
    gateways: HashMap<MemberId, Vec<GatewayEntry>>,
    trusted: HashSet<GatewayId>,
    revoked: HashSet<String>,
    services: HashSet<ServiceId>,
    subsystems: HashSet<SubsystemId>,
    /// Grants on this member's services.
    pub grants: Arc<Vec<Grant>>,
}

impl View {
    /// Indexes a configuration with the grants delivered for it.
    pub fn new(config: Arc<GlobalConfig>, grants: Arc<Vec<Grant>>) -> Self {
        let active_members: HashSet<MemberId> = config
            .members
            .iter()
            .filter(|m| m.status == MemberStatus::Active)
            .map(|m| m.id.clone())
            .collect();
        let mut gateways: HashMap<MemberId, Vec<GatewayEntry>> = HashMap::new();
        for g in &config.gateways {
            gateways
                .entry(g.id.member().clone())
                .or_default()
                .push(g.clone());
        }
        Self {
            trusted: config.gateways.iter().map(|g| g.id.clone()).collect(),
            revoked: config.revoked_serials.iter().cloned().collect(),
            services: config.services.iter().map(|s| s.id.clone()).collect(),
            subsystems: config.subsystems.iter().cloned().collect(),
            active_members,
            gateways,
            config,
            grants,
        }
    }

    /// Whether the configuration is past its validity window.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        !self.config.is_valid_at(now)
    }

    /// Whether a peer presenting this identity and certificate serial is trusted now.
    pub fn trusts(&self, gateway: &GatewayId, serial: &str) -> bool {
        self.trusted.contains(gateway)
            && self.active_members.contains(gateway.member())
            && !self.revoked.contains(serial)
    }

    /// The provider's gateways that have announced an address.
    pub fn gateways_of(&self, member: &MemberId) -> Vec<GatewayEntry> {
        self.gateways
            .get(member)
            .map(|g| g.iter().filter(|e| e.address.is_some()).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the service is listed and its provider active.
    pub fn has_service(&self, service: &ServiceId) -> bool {
        self.services.contains(service) && self.active_members.contains(service.member())
    }

    /// Whether the subsystem is registered to an active member.
    pub fn has_subsystem(&self, subsystem: &SubsystemId) -> bool {
        self.subsystems.contains(subsystem) && self.active_members.contains(subsystem.member())
    }

    /// Whether any grant allows the call.
    pub fn allows(
        &self,
        client: &SubsystemId,
        service: &ServiceId,
        method: &str,
        path: &str,
    ) -> bool {
        self.grants
            .iter()
            .any(|g| g.allows(client, service, method, path))
    }
}
