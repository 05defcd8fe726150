//! Name resolution that marks its failures, so that a DNS failure can be told from a refused
//! connection after reqwest and hyper-util have wrapped it.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The operating system's resolver (`getaddrinfo`, through Tokio), as reqwest's default is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(Iterator::collect::<Vec<SocketAddr>>);
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(source) => Err(Box::new(DnsFailure { host, source }) as _),
            }
        })
    }
}

/// The host could not be resolved.
#[derive(Debug)]
pub(crate) struct DnsFailure {
    pub(crate) host: String,
    pub(crate) source: std::io::Error,
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve {}", self.host)
    }
}

impl StdError for DnsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}
