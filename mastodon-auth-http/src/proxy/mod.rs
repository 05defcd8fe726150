//! Proxies: which one a target goes through (from the builder or the environment, with
//! `NO_PROXY` exemptions), and the handshakes that open a stream through it.

mod endpoint;
mod environment;
mod handshake;
mod no_proxy;

use std::fmt;
use std::sync::Arc;

use http::uri::Scheme;
use http::{HeaderValue, Uri};

pub(crate) use endpoint::{Login, Protocol, ProxyEndpoint};
pub(crate) use environment::Variables;
pub(crate) use handshake::{socks5, tunnel};

use crate::error::{BuildError, ProxyOrigin};
use mastodon_auth_core::is_loopback_host;
use no_proxy::NoProxy;

/// The proxy configuration as the builder collects it; checked by [`ProxySettings::routes`].
#[derive(Clone, Default)]
pub(crate) struct ProxySettings {
    /// `HyperTransportBuilder::proxy`: used for every target, the environment is not read.
    pub(crate) explicit: Option<String>,
    pub(crate) environment: Environment,
    /// `HyperTransportBuilder::no_proxy`: replaces `NO_PROXY`.
    pub(crate) no_proxy: Option<String>,
}

/// Where proxy variables come from when no proxy is given explicitly.
#[derive(Clone, Default)]
pub(crate) enum Environment {
    /// The process environment, read when the transport is built.
    #[default]
    Process,
    /// Variables read through a caller's lookup.
    Captured(Variables),
    /// No proxy from the environment.
    Ignored,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let environment = match &self.environment {
            Environment::Process => "process",
            Environment::Captured(_) => "captured",
            Environment::Ignored => "ignored",
        };
        f.debug_struct("ProxySettings")
            .field("explicit", &self.explicit.as_deref().map(endpoint::redact))
            .field("environment", &environment)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxySettings {
    /// The routes these settings describe, `None` when no proxy is configured at all.
    pub(crate) fn routes(&self) -> Result<Option<Routes>, BuildError> {
        if let Some(url) = &self.explicit {
            let proxy = Arc::new(ProxyEndpoint::parse(url, ProxyOrigin::Builder)?);
            let no_proxy = self.no_proxy.as_deref().unwrap_or_default();
            return Ok(Routes::new(Some(proxy.clone()), Some(proxy), no_proxy));
        }
        let process;
        let variables = match &self.environment {
            Environment::Ignored => return Ok(None),
            Environment::Captured(variables) => variables,
            Environment::Process => {
                process = Variables::read(|name| std::env::var(name).ok());
                &process
            }
        };
        let parse = |variable: Option<&environment::Variable>| {
            variable
                .map(|v| {
                    ProxyEndpoint::parse(&v.value, ProxyOrigin::Environment(v.name)).map(Arc::new)
                })
                .transpose()
        };
        let all = parse(variables.all.as_ref())?;
        let https = parse(variables.https.as_ref())?.or_else(|| all.clone());
        let http = parse(variables.http.as_ref())?.or(all);
        if https.is_none() && http.is_none() {
            return Ok(None);
        }
        let no_proxy = self
            .no_proxy
            .as_deref()
            .or(variables.no_proxy.as_deref())
            .unwrap_or_default();
        Ok(Routes::new(http, https, no_proxy))
    }
}

/// Which proxy, if any, each target goes through.
pub(crate) struct Routes {
    /// Whether a target is proxied at all ([`NoProxy`]); the endpoints below say how.
    no_proxy: NoProxy,
    http: Option<Arc<ProxyEndpoint>>,
    https: Option<Arc<ProxyEndpoint>>,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("https", &self.https)
            .field("http", &self.http)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Routes {
    /// `None` when `no_proxy` exempts every host.
    fn new(
        http: Option<Arc<ProxyEndpoint>>,
        https: Option<Arc<ProxyEndpoint>>,
        no_proxy: &str,
    ) -> Option<Routes> {
        let no_proxy = NoProxy::parse(no_proxy);
        if no_proxy.exempts_every_target() {
            return None;
        }
        Some(Routes {
            no_proxy,
            http,
            https,
        })
    }

    /// The proxy for `target`, or `None` to connect directly.
    ///
    /// A proxy on another machine cannot reach this machine's loopback addresses, so loopback
    /// targets go through a proxy only when it is on loopback too (Go's
    /// `golang.org/x/net/http/httpproxy` never proxies loopback targets). This also keeps
    /// plain-HTTP loopback traffic, allowed because it never leaves the machine, on it.
    pub(crate) fn proxy_for(&self, target: &Uri) -> Option<&Arc<ProxyEndpoint>> {
        if self.no_proxy.exempts(target) {
            return None;
        }
        let proxy = match target.scheme_str()? {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        if !proxy.loopback && is_loopback_host(target.host()?) {
            return None;
        }
        Some(proxy)
    }

    /// The `Proxy-Authorization` a plain-http request needs when it is sent in absolute form
    /// to an HTTP proxy (a tunnelled request carries it in its CONNECT instead).
    pub(crate) fn forward_authorization(&self, target: &Uri) -> Option<&HeaderValue> {
        if target.scheme() != Some(&Scheme::HTTP) {
            return None;
        }
        match &self.proxy_for(target)?.protocol {
            Protocol::Http { authorization } => authorization.as_ref(),
            Protocol::Socks5 { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(vars: &[(&str, &str)]) -> ProxySettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxySettings {
            environment: Environment::Captured(Variables::read(|name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })),
            ..ProxySettings::default()
        }
    }

    fn proxy_for(settings: &ProxySettings, target: &str) -> Option<String> {
        let routes = settings.routes().expect("valid settings")?;
        let target: Uri = target.parse().expect("valid target");
        routes.proxy_for(&target).map(|p| p.url())
    }

    #[test]
    fn scheme_specific_variables_win_over_all_proxy() {
        let settings = captured(&[
            ("ALL_PROXY", "socks5h://all.example:1080"),
            ("HTTPS_PROXY", "http://secure.example:3128"),
        ]);
        assert_eq!(
            proxy_for(&settings, "https://mastodon.example/").as_deref(),
            Some("http://secure.example:3128")
        );
        assert_eq!(
            proxy_for(&settings, "http://mastodon.example/").as_deref(),
            Some("socks5h://all.example:1080")
        );
    }

    #[test]
    fn lower_case_variables_win_over_upper_case() {
        let settings = captured(&[
            ("https_proxy", "http://lower.example:1"),
            ("HTTPS_PROXY", "http://upper.example:2"),
        ]);
        assert_eq!(
            proxy_for(&settings, "https://mastodon.example/").as_deref(),
            Some("http://lower.example:1")
        );
    }

    #[test]
    fn no_proxy_exempts_domains_their_subdomains_and_networks() {
        let settings = captured(&[
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            ("NO_PROXY", "internal.example, 10.0.0.0/8"),
        ]);
        for exempt in [
            "https://internal.example/",
            "https://api.internal.example/",
            "https://10.1.2.3/",
        ] {
            assert_eq!(proxy_for(&settings, exempt), None, "{exempt}");
        }
        for proxied in ["https://notinternal.example/", "https://11.0.0.1/"] {
            assert!(proxy_for(&settings, proxied).is_some(), "{proxied}");
        }
    }

    /// Issue 22: `host.`, `host:port`, `*.domain` and `[v6]` entries were not honoured, and
    /// the request went to the proxy.
    #[test]
    fn no_proxy_honours_trailing_dots_ports_wildcards_and_bracketed_ipv6() {
        let settings = captured(&[
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            (
                "NO_PROXY",
                "dotted.example., ported.example:8443, *.wild.example, [fd00::1]",
            ),
        ]);
        for exempt in [
            "https://dotted.example/",
            "https://ported.example:8443/",
            "https://api.wild.example/",
            "https://wild.example/",
            "https://[fd00::1]/",
        ] {
            assert_eq!(proxy_for(&settings, exempt), None, "{exempt}");
        }
        for proxied in ["https://ported.example/", "https://[fd00::2]/"] {
            assert!(proxy_for(&settings, proxied).is_some(), "{proxied}");
        }
    }

    #[test]
    fn a_no_proxy_star_exempts_names_and_addresses() {
        let settings = captured(&[
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            ("NO_PROXY", "a.example, *"),
        ]);
        assert_eq!(proxy_for(&settings, "https://mastodon.example/"), None);
        assert_eq!(proxy_for(&settings, "https://192.0.2.1/"), None);
    }

    #[test]
    fn the_builder_no_proxy_replaces_the_variable() {
        let mut settings = captured(&[
            ("HTTPS_PROXY", "http://proxy.example:3128"),
            ("NO_PROXY", "a.example"),
        ]);
        settings.no_proxy = Some("b.example".into());
        assert!(proxy_for(&settings, "https://a.example/").is_some());
        assert_eq!(proxy_for(&settings, "https://b.example/"), None);
    }

    #[test]
    fn under_cgi_the_upper_case_http_proxy_is_ignored() {
        // httpoxy (CVE-2016-5385): a CGI server turns a request's `Proxy:` header into
        // HTTP_PROXY.
        let settings = captured(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker.example:80"),
        ]);
        assert!(settings.routes().expect("valid").is_none());
        let settings = captured(&[
            ("REQUEST_METHOD", "GET"),
            ("http_proxy", "http://proxy.example:80"),
        ]);
        assert!(proxy_for(&settings, "http://mastodon.example/").is_some());
    }

    #[test]
    fn loopback_targets_bypass_a_remote_proxy_but_not_a_local_one() {
        let remote = captured(&[("HTTPS_PROXY", "http://proxy.example:3128")]);
        assert_eq!(proxy_for(&remote, "https://127.0.0.1:8443/"), None);
        assert_eq!(proxy_for(&remote, "https://localhost/"), None);
        let local = captured(&[("HTTPS_PROXY", "http://127.0.0.1:3128")]);
        assert!(proxy_for(&local, "https://127.0.0.1:8443/").is_some());
    }

    #[test]
    fn an_explicit_proxy_ignores_the_environment() {
        let mut settings = captured(&[("HTTPS_PROXY", "http://env.example:1")]);
        settings.explicit = Some("socks5://explicit.example:2".into());
        assert_eq!(
            proxy_for(&settings, "https://mastodon.example/").as_deref(),
            Some("socks5://explicit.example:2")
        );
        assert_eq!(
            proxy_for(&settings, "http://mastodon.example/").as_deref(),
            Some("socks5://explicit.example:2")
        );
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let settings = captured(&[("https_proxy", "socks4://u:hunter2@proxy.example:1080")]);
        let err = settings.routes().expect_err("socks4 is refused");
        assert!(
            matches!(
                err,
                BuildError::Proxy {
                    origin: ProxyOrigin::Environment("https_proxy"),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn ignoring_the_environment_means_no_routes() {
        let mut settings = captured(&[("HTTPS_PROXY", "http://proxy.example:3128")]);
        settings.environment = Environment::Ignored;
        assert!(settings.routes().expect("valid").is_none());
    }

    #[test]
    fn forwarded_http_requests_carry_the_proxy_credentials() {
        let settings = captured(&[("ALL_PROXY", "http://u:p@127.0.0.1:3128")]);
        let routes = settings.routes().expect("valid").expect("routes");
        let http: Uri = "http://127.0.0.1:8080/".parse().expect("uri");
        let https: Uri = "https://127.0.0.1:8443/".parse().expect("uri");
        assert!(routes.forward_authorization(&http).is_some());
        assert!(routes.forward_authorization(&https).is_none());
    }
}
