//! `NO_PROXY`: which targets connect directly although a proxy is configured.
//!
//! The variable has no standard; what it holds in practice is curl's form (the `CURLOPT_NOPROXY`
//! documentation) with the additions Go's `golang.org/x/net/http/httpproxy` accepts, written
//! by hand and by tools alike, so every one of these is honoured:
//!
//! - `*` alone: every target;
//! - a domain name: that name and every name under it (`example.com` covers
//!   `api.example.com`); a leading `.` or `*.` says the same (`.example.com`,
//!   `*.example.com`), and a trailing `.` (the DNS root) is ignored on both sides;
//! - an IP address, IPv6 with or without brackets (`::1`, `[::1]`), or a CIDR range
//!   (`10.0.0.0/8`, `fd00::/8`);
//! - any of the names or addresses with a port (`example.com:8443`, `[::1]:3000`,
//!   `10.0.0.1:80`): then only that port of it.
//!
//! Entries are separated by commas or white space; case does not matter; an entry that is none
//! of these (`http://host`, `a b/c`) matches nothing.

use std::net::IpAddr;

use http::Uri;

/// The parsed exemptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    every_target: bool,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    host: HostRule,
    /// Only this port of the host, when the entry names one.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// A name and the names under it, lower-cased, without leading or trailing dots.
    Domain(String),
    /// An address and the addresses that share its first `prefix` bits.
    Network { address: IpAddr, prefix: u8 },
}

impl NoProxy {
    /// Parses a `NO_PROXY` value.
    pub(crate) fn parse(value: &str) -> Self {
        let mut exemptions = Self::default();
        for entry in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                exemptions.every_target = true;
            } else if let Some(rule) = Rule::parse(entry) {
                exemptions.rules.push(rule);
            }
        }
        exemptions
    }

    /// Whether every target is exempt (`*`).
    pub(crate) fn exempts_every_target(&self) -> bool {
        self.every_target
    }

    /// Whether `target` connects directly.
    pub(crate) fn exempts(&self, target: &Uri) -> bool {
        if self.every_target {
            return true;
        }
        let Some(host) = target.host() else {
            return false;
        };
        let port = target.port_u16().or(match target.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let host = Host::of(host);
        self.rules
            .iter()
            .any(|rule| rule.port.is_none_or(|p| Some(p) == port) && rule.host.covers(&host))
    }
}

impl Rule {
    fn parse(entry: &str) -> Option<Self> {
        let (host, port) = split_port(entry)?;
        let host = if let Some((address, prefix)) = host.split_once('/') {
            let address: IpAddr = unbracket(address).parse().ok()?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max)?;
            HostRule::Network { address, prefix }
        } else if let Ok(address) = unbracket(host).parse::<IpAddr>() {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            HostRule::Network { address, prefix }
        } else {
            let name = host.trim_start_matches("*.").trim_start_matches('.');
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
            if !valid {
                return None;
            }
            HostRule::Domain(name)
        };
        Some(Self { host, port })
    }
}

/// `host` and its port: `[v6]:port`, `name:port`, `v4:port`; a bare IPv6 address (more than
/// one colon, no brackets) has none. `None` for a port that is not one.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?.parse().ok()?),
        };
        // Keep the brackets' content only; a CIDR suffix after `]` is not a form anyone uses.
        return Some((inside, port));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A target's host, normalised the way the rules are.
enum Host {
    Name(String),
    Address(IpAddr),
}

impl Host {
    fn of(host: &str) -> Self {
        let host = unbracket(host);
        match host.parse() {
            Ok(address) => Self::Address(address),
            Err(_) => Self::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

impl HostRule {
    fn covers(&self, host: &Host) -> bool {
        match (self, host) {
            (Self::Domain(domain), Host::Name(name)) => {
                name == domain
                    || name
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            (Self::Network { address, prefix }, Host::Address(target)) => {
                same_network(*address, *target, *prefix)
            }
            _ => false,
        }
    }
}

fn same_network(network: IpAddr, target: IpAddr, prefix: u8) -> bool {
    let (network, target, width) = match (network, target) {
        (IpAddr::V4(n), IpAddr::V4(t)) => (u128::from(n.to_bits()), u128::from(t.to_bits()), 32),
        (IpAddr::V6(n), IpAddr::V6(t)) => (n.to_bits(), t.to_bits(), 128),
        // An IPv4-mapped IPv6 target is the IPv4 address it maps.
        (IpAddr::V4(n), IpAddr::V6(t)) => match t.to_ipv4_mapped() {
            Some(t) => (u128::from(n.to_bits()), u128::from(t.to_bits()), 32),
            None => return false,
        },
        (IpAddr::V6(_), IpAddr::V4(_)) => return false,
    };
    let shift = width - u32::from(prefix);
    shift >= width || (network >> shift) == (target >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exempts(no_proxy: &str, target: &str) -> bool {
        NoProxy::parse(no_proxy).exempts(&target.parse().unwrap())
    }

    #[test]
    fn a_domain_covers_itself_and_the_names_under_it() {
        for entry in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            assert!(exempts(entry, "https://example.com/"), "{entry}");
            assert!(exempts(entry, "https://api.Example.com./"), "{entry}");
            assert!(!exempts(entry, "https://notexample.com/"), "{entry}");
            assert!(!exempts(entry, "https://example.com.evil/"), "{entry}");
        }
    }

    #[test]
    fn a_port_limits_the_entry_to_that_port() {
        assert!(exempts("example.com:8443", "https://example.com:8443/"));
        assert!(!exempts("example.com:8443", "https://example.com/"));
        assert!(exempts("example.com:443", "https://example.com/"));
        assert!(exempts("10.0.0.1:80", "http://10.0.0.1/"));
        assert!(!exempts("10.0.0.1:80", "https://10.0.0.1/"));
        assert!(exempts("[::1]:3000", "http://[::1]:3000/"));
        assert!(!exempts("[::1]:3000", "http://[::1]:3001/"));
    }

    #[test]
    fn addresses_with_or_without_brackets_and_networks() {
        assert!(exempts("[fd00::1]", "https://[fd00::1]/"));
        assert!(exempts("fd00::1", "https://[fd00::1]/"));
        assert!(!exempts("fd00::1", "https://[fd00::2]/"));
        assert!(exempts("fd00::/8", "https://[fd12::1]/"));
        assert!(exempts("10.0.0.0/8", "https://10.200.3.4/"));
        assert!(!exempts("10.0.0.0/8", "https://11.0.0.1/"));
        assert!(exempts("0.0.0.0/0", "https://192.0.2.1/"));
        assert!(exempts("192.0.2.0/24", "https://[::ffff:192.0.2.7]/"));
        assert!(!exempts("192.0.2.1", "https://example.com/"));
    }

    #[test]
    fn star_alone_covers_everything_and_odd_entries_nothing() {
        let all = NoProxy::parse("a.example, *");
        assert!(all.exempts_every_target());
        assert!(all.exempts(&"https://192.0.2.1/".parse().unwrap()));
        for odd in [
            "http://example.com",
            "example.com:http",
            "10.0.0.0/33",
            "[::1",
            "a/b",
        ] {
            assert_eq!(NoProxy::parse(odd), NoProxy::default(), "{odd}");
        }
        assert!(exempts(
            "a.example b.example\tc.example",
            "https://b.example/"
        ));
    }
}
