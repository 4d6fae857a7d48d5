//! Which callback URLs the server calls: the operator's rules against SSRF.
//!
//! A URL given over HTTP names a host the server will connect to, so it is untrusted: only
//! `https` (plain `http` only with `--callback-allow-http`), only hosts the operator listed
//! with `--callback-allow HOST[:PORT]`, and never a loopback, private, link-local or
//! otherwise internal address unless the operator listed that very address. The check is
//! made on the addresses the name resolves to, each time a request is sent, and the request
//! goes to the address that was checked (no second lookup a rebinding DNS could answer
//! differently).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use reqwest::Url;

/// Longest callback URL accepted.
const MAX_URL_LEN: usize = 2048;

/// One `--callback-allow HOST[:PORT]`: a host name or an address, and optionally the only
/// port allowed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower case; an IPv6 address without its brackets.
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not HOST or HOST:PORT (an IPv6 address as [ADDR]:PORT)");
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (address, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            (address.to_string(), port)
        } else if text.parse::<Ipv6Addr>().is_ok() {
            (text.to_string(), None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (text.to_string(), None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        let valid_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
        if !valid_name {
            return Err(bad());
        }
        Ok(AllowedHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl AllowedHost {
    fn matches(&self, host: &str, port: u16) -> bool {
        let same_host = match (self.address(), host.parse::<IpAddr>()) {
            (Some(listed), Ok(address)) => listed == address,
            _ => self.host == host,
        };
        same_host && self.port.is_none_or(|p| p == port)
    }

    /// The address this entry names, when it names one rather than a host name.
    fn address(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// Why a callback URL is not called. The messages are the user's to read: they name the
/// user's own URL and host, never an address the host resolved to (that stays in the
/// operator's log).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the callback URL is not a valid absolute URL: {0}")]
    BadUrl(String),
    #[error("the callback URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the callback URL must use https (got `{0}`)")]
    Scheme(String),
    #[error("the callback URL must not carry a user name or password")]
    Credentials,
    #[error(
        "callbacks to `{0}` are not allowed: the operator allows callbacks only to the hosts it lists (`techpack serve --callback-allow HOST[:PORT]`)"
    )]
    HostNotAllowed(String),
    #[error(
        "callbacks to `{0}` are not allowed: it resolves to a loopback, private or otherwise internal address, which the operator allows only by listing the address itself"
    )]
    InternalAddress(String),
    #[error("the callback host `{0}` cannot be resolved")]
    Unresolvable(String),
}

/// Where a checked URL points.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// Lower case; an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
}

/// The operator's rules for callback URLs (`techpack serve --callback-allow`,
/// `--callback-allow-http`).
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    allowed: Vec<AllowedHost>,
    allow_http: bool,
}

impl CallbackPolicy {
    pub fn new(allowed: Vec<AllowedHost>, allow_http: bool) -> CallbackPolicy {
        CallbackPolicy {
            allowed,
            allow_http,
        }
    }

    pub fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// Checks what can be checked without the network: the URL's form, scheme and host.
    pub fn check(&self, url: &str) -> Result<Target, Refused> {
        if url.len() > MAX_URL_LEN {
            return Err(Refused::TooLong);
        }
        let url = Url::parse(url).map_err(|e| Refused::BadUrl(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(Refused::Scheme(other.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let host = url
            .host_str()
            .ok_or_else(|| Refused::BadUrl("it has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refused::BadUrl("it has no port".into()))?;
        if !self.allowed.iter().any(|a| a.matches(&host, port)) {
            return Err(Refused::HostNotAllowed(display_host(&host, port)));
        }
        Ok(Target { url, host, port })
    }

    /// The addresses to connect to for `target`: every address its host resolves to, each
    /// checked. One internal address the operator did not list refuses the whole host.
    pub async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Refused> {
        let shown = display_host(&target.host, target.port);
        let addresses: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|_| Refused::Unresolvable(shown.clone()))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(Refused::Unresolvable(shown));
        }
        for address in &addresses {
            if is_internal(address.ip()) && !self.lists_address(address.ip(), target.port) {
                tracing::warn!(host = %shown, %address, "callback refused: internal address");
                return Err(Refused::InternalAddress(shown));
            }
        }
        Ok(addresses)
    }

    fn lists_address(&self, ip: IpAddr, port: u16) -> bool {
        self.allowed
            .iter()
            .any(|a| a.address() == Some(ip) && a.port.is_none_or(|p| p == port))
    }
}

fn display_host(host: &str, port: u16) -> String {
    match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// Addresses a callback must not reach unless the operator lists them: loopback, private,
/// link-local (cloud metadata services live there), shared, benchmarking, reserved,
/// documentation, multicast and unspecified ranges, and IPv6 forms that embed one of them.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let segments = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let octets = v6.octets();
                return is_internal_v4(Ipv4Addr::new(
                    octets[12], octets[13], octets[14], octets[15],
                ));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], allow_http: bool) -> CallbackPolicy {
        CallbackPolicy::new(
            allowed.iter().map(|a| a.parse().unwrap()).collect(),
            allow_http,
        )
    }

    #[test]
    fn allow_entries_parse_hosts_ports_and_addresses() {
        let entry = |t: &str| t.parse::<AllowedHost>();
        assert_eq!(
            entry("Hooks.Example.com:8443").unwrap(),
            AllowedHost {
                host: "hooks.example.com".into(),
                port: Some(8443)
            }
        );
        assert_eq!(
            entry("[::1]:9000").unwrap().address(),
            Some("::1".parse().unwrap())
        );
        assert_eq!(entry("::1").unwrap().port, None);
        assert!(entry("example.com:http").is_err());
        assert!(entry("exa mple.com").is_err());
        assert!(entry("").is_err());
    }

    #[test]
    fn only_https_to_listed_hosts_without_credentials() {
        let p = policy(&["hooks.example.com", "api.example.com:8443"], false);
        assert!(p.check("https://hooks.example.com/run-done?x=1").is_ok());
        assert!(p.check("https://api.example.com:8443/cb").is_ok());
        assert_eq!(
            p.check("https://api.example.com/cb").unwrap_err(),
            Refused::HostNotAllowed("api.example.com:443".into())
        );
        assert!(matches!(
            p.check("http://hooks.example.com/"),
            Err(Refused::Scheme(_))
        ));
        assert!(matches!(
            p.check("file:///etc/passwd"),
            Err(Refused::Scheme(_))
        ));
        assert_eq!(
            p.check("https://user:pw@hooks.example.com/").unwrap_err(),
            Refused::Credentials
        );
        assert!(matches!(
            p.check("https://evil.example.net/"),
            Err(Refused::HostNotAllowed(_))
        ));
        assert!(matches!(p.check("not a url"), Err(Refused::BadUrl(_))));
        let long = format!("https://hooks.example.com/{}", "a".repeat(3000));
        assert_eq!(p.check(&long).unwrap_err(), Refused::TooLong);
        assert!(
            policy(&["hooks.example.com"], true)
                .check("http://hooks.example.com/")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn internal_addresses_need_the_address_itself_listed() {
        // `localhost` is listed by name: its loopback address is still refused.
        let by_name = policy(&["localhost"], true);
        let target = by_name.check("http://localhost:9/").unwrap();
        assert_eq!(
            by_name.resolve(&target).await.unwrap_err(),
            Refused::InternalAddress("localhost:9".into())
        );
        let by_address = policy(&["127.0.0.1:9"], true);
        let target = by_address.check("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            by_address.resolve(&target).await.unwrap(),
            vec!["127.0.0.1:9".parse().unwrap()]
        );
        // Listed with another port only.
        let other_port = policy(&["127.0.0.1:10"], true);
        assert_eq!(
            other_port.check("http://127.0.0.1:9/").unwrap_err(),
            Refused::HostNotAllowed("127.0.0.1:9".into())
        );
    }

    #[test]
    fn internal_ranges() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(
                is_internal(internal.parse().unwrap()),
                "{internal} is internal"
            );
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public} is public");
        }
    }
}
