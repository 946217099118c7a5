//! Refuses outbound requests (deliveries, proxied connector calls) to loopback, private,
//! link-local and cloud-metadata addresses (server-side request forgery) unless the
//! capability's `allow_private_networks` setting, named in [`Allow`], is set.
//!
//! Two checks cover every path to a socket:
//! - [`GuardedResolver`], installed with `ClientBuilder::dns_resolver`, hands reqwest only
//!   public addresses, and reqwest connects to exactly those, so the address that was
//!   checked is the address connected to (a second, rebound DNS answer is never used);
//! - [`check_literal`] covers URLs whose host is an IP literal, for which reqwest never
//!   calls the resolver. It must run before every request, including redirect targets.
//!
//! [`check_host`] validates a URL when it is configured (an endpoint, a connection), so a
//! bad destination is reported to the user then rather than at the first request.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// IPv4 ranges that are not reachable on the public internet, as (network, prefix length).
const NON_PUBLIC_V4: &[(Ipv4Addr, u32)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8), // "this network", includes unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8), // private
    (Ipv4Addr::new(100, 64, 0, 0), 10), // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8), // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16), // link-local, includes cloud metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12), // private
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24), // documentation
    (Ipv4Addr::new(192, 168, 0, 0), 16), // private
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24), // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4), // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, includes broadcast
];

/// IPv6 ranges that are not reachable on the public internet, as (network, prefix length).
/// Ranges that embed an IPv4 address are judged by that address instead (see
/// [`embedded_v4`]).
const NON_PUBLIC_V6: &[(Ipv6Addr, u32)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),     // discard-only
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48),    // benchmarking
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),    // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),     // unique-local, includes fd00:ec2::254
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),    // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),    // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),     // multicast
];

/// Whether `ip` is reachable on the public internet. IPv6 addresses that embed an IPv4
/// address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the embedded address,
/// so `::ffff:127.0.0.1` is not public.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if NON_PUBLIC_V6
                .iter()
                .any(|&(net, len)| in_prefix(v6.to_bits(), net.to_bits(), len))
            {
                return false;
            }
            embedded_v4(v6).is_none_or(is_public_v4)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NON_PUBLIC_V4.iter().any(|&(net, len)| {
        in_prefix(
            u128::from(ip.to_bits()) << 96,
            u128::from(net.to_bits()) << 96,
            len,
        )
    })
}

/// The IPv4 address carried inside an IPv6 address, for the forms through which a
/// connection ends up at that IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from_bits((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible)
        [0, 0, 0, 0, 0, 0xffff | 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from_bits((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// Whether the top `len` bits of `addr` and `net` agree (both left-aligned in 128 bits).
fn in_prefix(addr: u128, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    addr & mask == net & mask
}

/// `localhost` and `*.localhost` always name the loopback interface (RFC 6761), whatever
/// DNS says.
fn is_localhost_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let tld = host.rsplit_once('.').map_or(host, |(_, tld)| tld);
    tld.eq_ignore_ascii_case("localhost")
}

/// Whether private destinations are allowed, and the setting that allows them (named in
/// refusals).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allow {
    pub private: bool,
    pub setting: &'static str,
}

impl Allow {
    /// Deliveries to endpoints.
    pub(crate) fn delivery(private: bool) -> Self {
        Self {
            private,
            setting: "delivery.allow_private_networks",
        }
    }
}

/// Why a destination was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GuardError {
    #[error(
        "destination {host} resolves to a non-public address {ip}; \
         set {setting} = true to allow it"
    )]
    PrivateDestination {
        host: String,
        ip: IpAddr,
        setting: &'static str,
    },
    #[error("destination {host} could not be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
}

impl GuardError {
    /// A stable machine-readable code for API responses and delivery attempt records.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            GuardError::PrivateDestination { .. } => "private_destination",
            GuardError::Unresolvable { .. } => "unresolvable_destination",
        }
    }
}

/// What a URL's host is, as far as the guard cares.
#[derive(Debug)]
enum Target<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

fn target(url: &Url) -> Result<Target<'_>, GuardError> {
    let host = url.host_str().ok_or_else(|| GuardError::Unresolvable {
        host: url.as_str().to_string(),
        reason: "the URL has no host".to_string(),
    })?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok(match bare.parse::<IpAddr>() {
        Ok(ip) => Target::Ip(ip),
        Err(_) if is_localhost_name(host) => Target::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Err(_) => Target::Name(host),
    })
}

/// Refuses a URL whose host is a non-public IP literal or `localhost`, unless
/// `allow.private`. Other hostnames pass; [`GuardedResolver`] checks them when connecting.
pub(crate) fn check_literal(url: &Url, allow: Allow) -> Result<(), GuardError> {
    match target(url)? {
        Target::Ip(ip) if !allow.private && !is_public(ip) => Err(GuardError::PrivateDestination {
            host: url.host_str().unwrap_or_default().to_string(),
            ip,
            setting: allow.setting,
        }),
        Target::Ip(_) | Target::Name(_) => Ok(()),
    }
}

/// Validates an endpoint URL when it is created: [`check_literal`], then a DNS lookup of
/// a hostname, refused if it fails or, unless `allow.private`, if any address is
/// non-public. The answer can change later, so deliveries still go through
/// [`GuardedResolver`].
pub(crate) async fn check_host(url: &Url, allow: Allow) -> Result<(), GuardError> {
    check_literal(url, allow)?;
    let Target::Name(host) = target(url)? else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(0);
    let addrs = resolve(host, port).await?;
    if !allow.private
        && let Some(addr) = addrs.iter().find(|a| !is_public(a.ip()))
    {
        return Err(GuardError::PrivateDestination {
            host: host.to_string(),
            ip: addr.ip(),
            setting: allow.setting,
        });
    }
    Ok(())
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, GuardError> {
    let unresolvable = |reason: String| GuardError::Unresolvable {
        host: host.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unresolvable(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable("no addresses found".to_string()));
    }
    Ok(addrs)
}

/// A reqwest DNS resolver that returns only public addresses (all addresses when
/// `allow.private`), and fails with a boxed [`GuardError`] when none remain. Install it
/// with `ClientBuilder::dns_resolver(Arc::new(GuardedResolver::new(..)))`.
///
/// It is not consulted for IP-literal hosts or when a proxy is in use; pair it with
/// [`check_literal`] and a client built with `no_proxy()`.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    allow: Allow,
}

impl GuardedResolver {
    pub(crate) fn new(allow: Allow) -> Self {
        Self { allow }
    }

    async fn lookup(self, host: String) -> Result<Vec<SocketAddr>, GuardError> {
        if !self.allow.private && is_localhost_name(&host) {
            return Err(GuardError::PrivateDestination {
                host,
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                setting: self.allow.setting,
            });
        }
        let addrs = resolve(&host, 0).await?;
        if self.allow.private {
            return Ok(addrs);
        }
        let (public, refused): (Vec<_>, Vec<_>) =
            addrs.into_iter().partition(|a| is_public(a.ip()));
        match refused.first() {
            Some(addr) if public.is_empty() => Err(GuardError::PrivateDestination {
                host,
                ip: addr.ip(),
                setting: self.allow.setting,
            }),
            _ => Ok(public),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = this
                .lookup(host)
                .await
                .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn ipv4_ranges_are_classified_at_their_boundaries() {
        let cases = [
            ("0.0.0.0", false),
            ("0.255.255.255", false),
            ("1.0.0.0", true),
            ("9.255.255.255", true),
            ("10.0.0.0", false),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("126.255.255.255", true),
            ("127.0.0.1", false),
            ("127.255.255.255", false),
            ("128.0.0.0", true),
            ("169.253.255.255", true),
            ("169.254.0.0", false),
            ("169.254.169.254", false),
            ("169.255.0.0", true),
            ("172.15.255.255", true),
            ("172.16.0.0", false),
            ("172.31.255.255", false),
            ("172.32.0.0", true),
            ("191.255.255.255", true),
            ("192.0.0.0", false),
            ("192.0.0.255", false),
            ("192.0.1.0", true),
            ("192.0.2.0", false),
            ("192.0.2.255", false),
            ("192.0.3.0", true),
            ("192.167.255.255", true),
            ("192.168.0.0", false),
            ("192.168.255.255", false),
            ("192.169.0.0", true),
            ("198.17.255.255", true),
            ("198.18.0.0", false),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("198.51.99.255", true),
            ("198.51.100.0", false),
            ("198.51.100.255", false),
            ("198.51.101.0", true),
            ("203.0.112.255", true),
            ("203.0.113.0", false),
            ("203.0.113.255", false),
            ("203.0.114.0", true),
            ("223.255.255.255", true),
            ("224.0.0.0", false),
            ("239.255.255.255", false),
            ("240.0.0.0", false),
            ("255.255.255.255", false),
            ("8.8.8.8", true),
            ("93.184.216.34", true),
        ];
        for (ip, expected) in cases {
            assert_eq!(public(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_classified_at_their_boundaries() {
        let cases = [
            ("::", false),
            ("::1", false),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("fc00::", false),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fd00:ec2::254", false),
            ("fe00::", true),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("fe80::", false),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fec0::1", false),
            ("ff00::", false),
            ("ff02::1", false),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:db9::", true),
            ("2606:4700:4700::1111", true),
            ("2001:4860:4860::8888", true),
        ];
        for (ip, expected) in cases {
            assert_eq!(public(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:172.15.255.255", true),
            ("::ffff:172.16.0.0", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("::8.8.8.8", true),
            ("64:ff9b::127.0.0.1", false),
            ("64:ff9b::192.168.1.1", false),
            ("64:ff9b::8.8.8.8", true),
            ("64:ff9b:1::8.8.8.8", false),
            ("2002:7f00:1::", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002:808:808::1", true),
        ];
        for (ip, expected) in cases {
            assert_eq!(public(ip), expected, "{ip}");
        }
    }

    #[test]
    fn check_literal_refuses_private_literals_and_localhost_unless_allowed() {
        for u in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost:9000/",
        ] {
            let err = check_literal(&url(u), Allow::delivery(false)).expect_err(u);
            assert_eq!(err.code(), "private_destination", "{u}");
            assert!(check_literal(&url(u), Allow::delivery(true)).is_ok(), "{u}");
        }
    }

    #[test]
    fn check_literal_passes_public_literals_and_hostnames() {
        for u in [
            "https://93.184.216.34/",
            "https://[2606:4700:4700::1111]/",
            "https://example.com/hook",
            "https://notlocalhost/",
        ] {
            assert!(
                check_literal(&url(u), Allow::delivery(false)).is_ok(),
                "{u}"
            );
        }
    }

    #[test]
    fn refusal_message_names_the_setting() {
        let err = check_literal(&url("http://10.1.2.3/"), Allow::delivery(false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "destination 10.1.2.3 resolves to a non-public address 10.1.2.3; \
             set delivery.allow_private_networks = true to allow it"
        );
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_unless_allowed() {
        let name: Name = "localhost".parse().unwrap();
        let err = match GuardedResolver::new(Allow::delivery(false))
            .resolve(name)
            .await
        {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let guard = err.downcast_ref::<GuardError>().expect("a GuardError");
        assert_eq!(guard.code(), "private_destination");

        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<_> = GuardedResolver::new(Allow::delivery(true))
            .resolve(name)
            .await
            .expect("localhost resolves")
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn resolver_filters_by_resolved_address() {
        let lookup = GuardedResolver::new(Allow::delivery(false)).lookup("127.0.0.1".to_string());
        assert_eq!(lookup.await.unwrap_err().code(), "private_destination");
        let addrs = GuardedResolver::new(Allow::delivery(false))
            .lookup("8.8.8.8".to_string())
            .await
            .unwrap();
        assert_eq!(addrs, [SocketAddr::from(([8, 8, 8, 8], 0))]);
    }

    #[tokio::test]
    async fn check_host_refuses_localhost() {
        let err = check_host(&url("http://localhost:1/"), Allow::delivery(false))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "private_destination");
        assert!(
            check_host(&url("http://localhost:1/"), Allow::delivery(true))
                .await
                .is_ok()
        );
        assert!(
            check_host(&url("https://93.184.216.34/"), Allow::delivery(false))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn check_host_reports_unresolvable_names() {
        let err = check_host(
            &url("https://does-not-exist.invalid/"),
            Allow::delivery(false),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "unresolvable_destination");
    }
}
