//! A small LAN of network namespaces for fault tests: the test process (with the authority and
//! the backend) is the host at `10.201.K.1`; each named part gets its own namespace at
//! `10.201.K.(10+i)`, all joined by a bridge in one more namespace, so every part reaches every
//! other over a real network stack and a fault can be put between any two of them:
//!
//! - [`Lan::partition`]: every packet between a part and others (addresses, or one TCP service
//!   such as the authority) is dropped silently by nftables in the part's namespace, as when a
//!   link or firewall in between fails: connections neither open nor close, they hang until a
//!   timeout;
//! - [`Lan::lose`]: a share of the packets between two parts is dropped at random, which TCP
//!   turns into retransmissions, that is, delay;
//! - [`Lan::heal`]: the part's faults are lifted.
//!
//! Delay as such would need `tc netem`, which the kernels these tests run on may lack
//! (`CONFIG_NET_SCH_NETEM`); loss gives delay through TCP, and a partition is delay without end.
//!
//! Building the LAN needs root (`ip netns`) and `nft`. Where they are missing, [`Lan::create`]
//! says why and returns `None` so the test can skip, unless `PSN_REQUIRE_FAULT_TOOLS=1` (set by
//! `.ci/run` when it runs as root), where it fails instead. The LAN's third octet `K` is locked
//! per test process like [`super::free_port`]'s ports, so tests running in parallel never share
//! a subnet; everything is deleted when the [`Lan`] is dropped.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

/// The other end of a fault: every packet to and from an address, or only a TCP service's.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Address(IpAddr),
    Service(SocketAddr),
}

impl Peer {
    /// An nftables rule doing `verdict` to packets sent to this peer.
    fn outgoing(&self, verdict: &str) -> String {
        match self {
            Peer::Address(ip) => format!("ip daddr {ip} {verdict}"),
            Peer::Service(at) => format!("ip daddr {} tcp dport {} {verdict}", at.ip(), at.port()),
        }
    }

    /// An nftables rule doing `verdict` to packets from this peer.
    fn incoming(&self, verdict: &str) -> String {
        match self {
            Peer::Address(ip) => format!("ip saddr {ip} {verdict}"),
            Peer::Service(at) => format!("ip saddr {} tcp sport {} {verdict}", at.ip(), at.port()),
        }
    }
}

/// The namespaces, addresses and lock of one test's LAN.
pub struct Lan {
    subnet: u8,
    parts: HashMap<&'static str, (String, u8)>,
    _lock: File,
}

impl Lan {
    /// A LAN with one namespace per part, or `None` (having said why) where this machine or
    /// user cannot make one and `PSN_REQUIRE_FAULT_TOOLS` is not set.
    pub fn create(parts: &[&'static str]) -> Option<Lan> {
        if let Err(missing) = prerequisites() {
            assert!(
                std::env::var("PSN_REQUIRE_FAULT_TOOLS").as_deref() != Ok("1"),
                "PSN_REQUIRE_FAULT_TOOLS=1 but {missing}"
            );
            eprintln!("skipped: {missing}; network-fault tests need root, iproute2 and nftables");
            return None;
        }
        let (subnet, lock) = lock_subnet();
        let mut lan = Lan {
            subnet,
            parts: HashMap::new(),
            _lock: lock,
        };
        lan.remove_leftovers();
        let switch = lan.switch();
        ip(&["netns", "add", &switch]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        let host_link = lan.host_link();
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", "up0", "netns", &switch,
        ]);
        ip(&["-n", &switch, "link", "set", "up0", "master", "br0", "up"]);
        ip(&[
            "addr",
            "add",
            &format!("10.201.{subnet}.1/24"),
            "dev",
            &host_link,
        ]);
        ip(&["link", "set", &host_link, "up"]);
        for (index, part) in (10u8..).zip(parts) {
            let namespace = format!("psn{subnet}-{index}");
            let port = format!("p{index}");
            ip(&["netns", "add", &namespace]);
            ip(&["-n", &namespace, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &namespace,
            ]);
            ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"]);
            ip(&[
                "-n",
                &namespace,
                "addr",
                "add",
                &format!("10.201.{subnet}.{index}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &namespace, "link", "set", "eth0", "up"]);
            lan.parts.insert(part, (namespace, index));
        }
        Some(lan)
    }

    /// The test process's own address on the LAN (the authority and the backend listen here).
    pub fn host(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 201, self.subnet, 1))
    }

    /// The address of `part`.
    pub fn ip(&self, part: &str) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 201, self.subnet, self.part(part).1))
    }

    /// `program` to be run inside `part`'s namespace.
    pub fn command(&self, part: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.part(part).0, program]);
        command
    }

    /// Drops, silently, every packet between `part` and each of `others`.
    pub fn partition(&self, part: &str, others: &[Peer]) {
        let (outgoing, incoming): (Vec<_>, Vec<_>) = others
            .iter()
            .map(|other| (other.outgoing("drop"), other.incoming("drop")))
            .unzip();
        self.filter(part, &outgoing, &incoming);
    }

    /// Drops, at random, `percent` of the packets between `part` and `other` each way.
    pub fn lose(&self, part: &str, other: Peer, percent: u8) {
        let lose = format!("numgen random mod 100 < {percent} drop");
        self.filter(part, &[other.outgoing(&lose)], &[other.incoming(&lose)]);
    }

    /// Lifts every fault put on `part`.
    pub fn heal(&self, part: &str) {
        nft(
            &self.part(part).0,
            "table inet fault {}\ndelete table inet fault\n",
        );
    }

    /// Replaces `part`'s faults with these rules for its outgoing and its incoming packets.
    fn filter(&self, part: &str, outgoing: &[String], incoming: &[String]) {
        let namespace = &self.part(part).0;
        let rules = format!(
            "table inet fault {{}}\ndelete table inet fault\ntable inet fault {{\n\
             chain output {{ type filter hook output priority 0; {}; }}\n\
             chain input {{ type filter hook input priority 0; {}; }}\n}}\n",
            outgoing.join("; "),
            incoming.join("; ")
        );
        nft(namespace, &rules);
    }

    fn part(&self, part: &str) -> &(String, u8) {
        self.parts
            .get(part)
            .unwrap_or_else(|| panic!("{part} is not a part of this LAN"))
    }

    fn switch(&self) -> String {
        format!("psn{}-lan", self.subnet)
    }

    fn host_link(&self) -> String {
        format!("psn{}", self.subnet)
    }

    /// What a test killed before it could clean up left under this subnet (the lock says no
    /// living test holds it).
    fn remove_leftovers(&self) {
        let prefix = format!("psn{}-", self.subnet);
        let listed = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list");
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            if let Some(name) = line.split_whitespace().next() {
                if name.starts_with(&prefix) {
                    quiet_ip(&["netns", "del", name]);
                }
            }
        }
        quiet_ip(&["link", "del", &self.host_link()]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the links in it, and with them their peers.
        for (namespace, _) in self.parts.values() {
            quiet_ip(&["netns", "del", namespace]);
        }
        quiet_ip(&["netns", "del", &self.switch()]);
        quiet_ip(&["link", "del", &self.host_link()]);
    }
}

/// Why no LAN can be made here, if it cannot.
fn prerequisites() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("`id -u`: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("the tests are not running as root".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("sh: {e}"))?;
        if !found.success() {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    Ok(())
}

/// A subnet number no other living test holds.
fn lock_subnet() -> (u8, File) {
    (1u8..=250)
        .find_map(|subnet| Some((subnet, super::try_lock("psn-test-lans", subnet)?)))
        .expect("a free test subnet")
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `ip` for cleaning up, where what it removes may already be gone.
fn quiet_ip(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn nft(namespace: &str, rules: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("nft's input")
        .write_all(rules.as_bytes())
        .expect("write nft rules");
    let output = child.wait_with_output().expect("nft");
    assert!(
        output.status.success(),
        "nft in {namespace}: {}\n{rules}",
        String::from_utf8_lossy(&output.stderr)
    );
}
