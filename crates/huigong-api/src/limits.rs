//! Request limits shared by every route: the client's address, fixed counting windows, and the
//! 429 answer. Counters live in the shared ephemeral store, so every instance counts the same
//! attempts.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
/// Days are counted in Beijing time (UTC+8), as the workers live them.
pub const BEIJING_OFFSET: i64 = 8 * HOUR;

/// The window `now` falls in, for windows of `len` seconds shifted by `offset`: its index and
/// the seconds left in it (at least 1).
pub fn window(now: DateTime<Utc>, len: i64, offset: i64) -> (i64, u64) {
    let t = now.timestamp() + offset;
    let index = t.div_euclid(len);
    let left = len - t.rem_euclid(len);
    (index, u64::try_from(left).unwrap_or(1).max(1))
}

/// 429 `too_many_attempts` with `Retry-After`.
pub fn too_many(message: &'static str, retry_after: u64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
        .with_retry_after(retry_after)
}

/// The client's address: the TCP peer, or — when the peer is one of `server.trusted_proxies` —
/// the address those proxies put in `X-Forwarded-For` (see [`TrustedProxies::client`]). A
/// forged header from anyone else changes nothing.
pub fn client_ip(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.trusted_proxies.clone());
    let Some(trusted) = trusted.filter(|t| !t.is_empty()) else {
        return counted_as(peer);
    };
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    counted_as(trusted.client(peer, &forwarded))
}

/// How a client address is counted: an IPv4 address (also an IPv4-mapped IPv6 one) as itself,
/// an IPv6 address by its /64 (`2001:db8:1:2::/64`) — one subscriber is given a whole /64 and
/// can pick a new address in it for every request.
fn counted_as(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            format!("{}/64", std::net::Ipv6Addr::from(octets))
        }
    }
}

/// Client addresses this service may believe in `X-Forwarded-For`: the CIDR blocks of its own
/// load balancers and reverse proxies (`server.trusted_proxies`). Empty: no header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses CIDR blocks (`10.0.0.0/8`, `fd00::/8`) or single addresses (`192.0.2.1`).
    pub fn parse<S: AsRef<str>>(blocks: &[S]) -> Result<Self, String> {
        let mut parsed = Vec::with_capacity(blocks.len());
        for block in blocks {
            let text = block.as_ref().trim();
            let (addr, len) = match text.split_once('/') {
                Some((addr, len)) => (addr, Some(len)),
                None => (text, None),
            };
            let ip: IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("{text:?}: prefix length must be 0–{max}"))?,
                None => max,
            };
            // Blocks are kept canonical, as the addresses they are matched against: an
            // IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps (`10.0.0.0/8`).
            let (ip, len) = match ip {
                IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                    let v4 = v6.to_ipv4_mapped().map_or(ip, IpAddr::V4);
                    let len = len.checked_sub(96).ok_or_else(|| {
                        format!(
                            "{text:?}: an IPv4-mapped block needs a prefix length of 96–128 (write the IPv4 block instead)"
                        )
                    })?;
                    (v4, len)
                }
                other => (other, len),
            };
            parsed.push((ip, len));
        }
        Ok(Self(parsed))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, len)| match (*net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), *len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), *len),
            _ => false,
        })
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
    /// `X-Forwarded-For` entries (`forwarded`, in the order the headers came) are walked from the
    /// right, skipping trusted proxies, and the first other address is the client. Entries left
    /// of it are whatever the client sent and are never believed. An entry that is not an
    /// address stops the walk at the last trusted hop.
    pub fn client(&self, peer: IpAddr, forwarded: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded.iter().rev().flat_map(|h| h.rsplit(',')) {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                return client;
            };
            client = canonical(ip);
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    // `parse` keeps `len` within the address; clamped anyway, so no block can panic a request.
    let len = usize::from(len).min(a.len().min(b.len()) * 8);
    let full = len / 8;
    let rest = len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn cidr_blocks_match_their_addresses_only() {
        let t =
            TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]).unwrap_or_default();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::ffff:10.1.1.1")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
        let odd = TrustedProxies::parse(&["172.16.0.0/12"]).unwrap_or_default();
        assert!(odd.contains(ip("172.31.255.255")));
        assert!(!odd.contains(ip("172.32.0.0")));
    }

    #[test]
    fn item8_an_ipv4_mapped_block_becomes_its_ipv4_block_and_never_panics() {
        let t = TrustedProxies::parse(&["::ffff:10.0.0.0/104"]).unwrap_or_default();
        assert_eq!(t, TrustedProxies(vec![(ip("10.0.0.0"), 8)]));
        assert!(t.contains(ip("10.9.8.7")));
        assert!(t.contains(ip("::ffff:10.9.8.7")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(!t.contains(ip("2001:db8::1")));
        let single = TrustedProxies::parse(&["::ffff:192.0.2.1"]).unwrap_or_default();
        assert!(single.contains(ip("192.0.2.1")));
        let refused = TrustedProxies::parse(&["::ffff:10.0.0.0/64"]);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("96")),
            "{refused:?}"
        );
        // Even a block that bypassed `parse` cannot panic a request.
        let odd = TrustedProxies(vec![(ip("10.0.0.0"), 104)]);
        assert!(odd.contains(ip("10.0.0.0")) && !odd.contains(ip("10.0.0.1")));
    }

    #[test]
    fn item8_ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(counted_as(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            counted_as(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            "2001:db8:1:2::/64"
        );
        assert_ne!(counted_as(ip("2001:db8:1:3::1")), "2001:db8:1:2::/64");
        assert_eq!(counted_as(ip("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(counted_as(ip("203.0.113.9")), "203.0.113.9");
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap_or_default();
        let lb = ip("10.0.0.2");
        // Not from a proxy: the header is ignored.
        assert_eq!(
            t.client(ip("203.0.113.5"), &["198.51.100.1"]),
            ip("203.0.113.5")
        );
        // Through the proxy: its entry is the client; what the client forged to its left is not.
        assert_eq!(t.client(lb, &["1.2.3.4, 203.0.113.5"]), ip("203.0.113.5"));
        // Two proxies, two header lines.
        assert_eq!(
            t.client(lb, &["1.2.3.4, 203.0.113.5", "10.0.0.9"]),
            ip("203.0.113.5")
        );
        // No header: the proxy itself.
        assert_eq!(t.client(lb, &[]), lb);
        // Garbage stops at the last trusted hop.
        assert_eq!(t.client(lb, &["203.0.113.5, junk"]), lb);
        assert_eq!(TrustedProxies::default().client(lb, &["1.2.3.4"]), lb);
    }
}
