//! The contenders: a bare hyper-util client, the full mastodon-auth stack, megalodon, and
//! Mastodon.py in a Python subprocess; plus logging in to get the token they all use.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mastodon_auth_core::{
    AccessToken, Account, AuthorizationRequest, HttpTransport, LoginGrant, Mastodon, RedirectUri,
    Scopes,
};
use mastodon_auth_http::HyperTransport;
use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::child::LineChild;
use crate::runtime::BoxError;

/// The endpoint every contender calls.
pub(crate) const VERIFY_PATH: &str = "/api/v1/accounts/verify_credentials";

/// One instance as the contenders see it.
#[derive(Clone)]
pub(crate) struct Target {
    /// Base URL, no trailing slash: `https://` or `http://` on 127.0.0.1, which needs no
    /// `allow_http`.
    pub base_url: String,
    /// The CA to trust (unused over plain HTTP).
    pub ca_pem: String,
}

impl Target {
    /// Our transport, trusting the instance's CA.
    pub(crate) fn transport(&self) -> Result<HyperTransport, BoxError> {
        Ok(HyperTransport::builder()
            .add_root_pem(self.ca_pem.as_bytes())
            .build()?)
    }

    /// A client over `transport` with the given limiter, not yet logged in.
    pub(crate) async fn client(
        &self,
        transport: impl HttpTransport + 'static,
        pacer: Pacer,
        token: Option<&AccessToken>,
    ) -> Result<Mastodon, BoxError> {
        let mut builder = Mastodon::builder(&self.base_url)
            .transport(transport)
            .rate_limiter(pacer);
        if let Some(token) = token {
            builder = builder.access_token(token.clone());
        }
        Ok(builder.build().await?)
    }
}

/// The pacer of the full-stack contender: Mastodon.py's default method, without the
/// client-side quota (which would cap the rate at 300 per 5 minutes).
pub(crate) fn unthrottled_pacer() -> Pacer {
    Pacer::new(RateLimitMethod::Wait).without_quota()
}

/// Registers an app, has `approve` play the user for the out-of-band authorization URL, and
/// exchanges the code: the full OAuth flow, as a real client would run it.
pub(crate) async fn log_in(
    client: &Mastodon,
    approve: impl FnOnce(&str) -> Result<String, BoxError>,
) -> Result<AccessToken, BoxError> {
    let scopes: Scopes = "read".parse()?;
    client
        .create_app("mastodon-auth bench")
        .scopes(scopes.clone())
        .redirect_uri(RedirectUri::OOB)
        .send()
        .await?;
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes)
        .redirect_uri(RedirectUri::OOB)
        .build()
        .await?;
    let code = approve(&url)?;
    Ok(client
        .log_in(LoginGrant::AuthorizationCode(pending.code(code)))
        .await?)
}

type BareInner = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// hyper-util's pooled client with the TLS setup `HyperTransport` uses (ring, TLS 1.2/1.3,
/// ALPN h2 and http/1.1, TCP_NODELAY), and nothing else: no timeouts, no body limit, no
/// JSON.
pub(crate) struct Bare {
    client: BareInner,
    uri: http::Uri,
    auth: HeaderValue,
}

impl Bare {
    /// A client for `target` sending `token`.
    pub(crate) fn new(target: &Target, token: &AccessToken) -> Result<Self, BoxError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(target.ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
        auth.set_sensitive(true);
        Ok(Self {
            client,
            uri: format!("{}{VERIFY_PATH}", target.base_url).parse()?,
            auth,
        })
    }

    /// One authenticated GET; returns the HTTP version used.
    pub(crate) async fn verify(&self) -> Result<http::Version, String> {
        let (version, body) = self.fetch().await?;
        std::hint::black_box(body);
        Ok(version)
    }

    /// [`verify`](Self::verify), and the body parsed as any program on hyper would parse it:
    /// `serde_json::from_slice` into the same `Account` the full stack returns.
    async fn verify_and_parse(&self) -> Result<(), String> {
        let (_, body) = self.fetch().await?;
        let account: Account = serde_json::from_slice(&body)
            .map_err(|e| format!("bare hyper: parsing the account: {e}"))?;
        drop(std::hint::black_box(account));
        Ok(())
    }

    /// One authenticated GET: the HTTP version and the whole body.
    async fn fetch(&self) -> Result<(http::Version, Bytes), String> {
        let mut request = http::Request::get(self.uri.clone())
            .body(Empty::new())
            .map_err(|e| format!("bare hyper: building the request: {e}"))?;
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.auth.clone());
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("bare hyper: {e}"))?;
        let (version, status) = (response.version(), response.status());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("bare hyper: reading the body: {e}"))?;
        if status != http::StatusCode::OK {
            return Err(format!("bare hyper: status {status}"));
        }
        Ok((version, body.to_bytes()))
    }
}

/// Our transport without the client on top: the same request the client sends (Accept,
/// Authorization, the client's timeout), the body read, nothing parsed.
pub(crate) struct TransportOnly {
    transport: HyperTransport,
    uri: http::Uri,
    auth: HeaderValue,
}

impl TransportOnly {
    /// Sends `token` to `target` through `transport`.
    pub(crate) fn new(
        target: &Target,
        transport: HyperTransport,
        token: &AccessToken,
    ) -> Result<Self, BoxError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
        auth.set_sensitive(true);
        Ok(Self {
            transport,
            uri: format!("{}{VERIFY_PATH}", target.base_url).parse()?,
            auth,
        })
    }

    async fn verify(&self) -> Result<(), String> {
        let mut request = http::Request::get(self.uri.clone())
            .body(Bytes::new())
            .map_err(|e| format!("transport: building the request: {e}"))?;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        request
            .extensions_mut()
            .insert(mastodon_auth_core::RequestTimeout::DEFAULT);
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("transport: status {}", response.status()));
        }
        std::hint::black_box(response.into_body());
        Ok(())
    }
}

/// A contender that can run concurrently from many tasks.
#[derive(Clone)]
pub(crate) enum Contender {
    /// (a) bare hyper-util.
    Bare(Arc<Bare>),
    /// (a′) bare hyper-util and `serde_json` into `Account`: how much of the gap is parsing.
    BareParsed(Arc<Bare>),
    /// (a) inside `tokio::time::timeout`, as `HyperTransport` runs each request (profiling
    /// only: tells the timer's share of the difference between (a) and (b)).
    BareWithTimeout(Arc<Bare>),
    /// `HyperTransport::send` alone: no client, pacer or JSON (diagnostic row).
    Transport(Arc<TransportOnly>),
    /// (b) `Mastodon` + `HyperTransport` + `Pacer` + JSON parsing.
    Full(Mastodon),
    /// (c) megalodon 1.3 (reqwest + rustls).
    #[cfg(feature = "megalodon")]
    Megalodon(Arc<dyn megalodon::Megalodon + Send + Sync>),
}

impl Contender {
    /// One `verify_credentials` call, response fully read (and parsed, where the library
    /// parses).
    pub(crate) async fn verify(&self) -> Result<(), String> {
        match self {
            Self::Bare(bare) => bare.verify().await.map(drop),
            Self::BareParsed(bare) => bare.verify_and_parse().await,
            Self::BareWithTimeout(bare) => {
                tokio::time::timeout(Duration::from_secs(300), bare.verify())
                    .await
                    .map_err(|_| "bare hyper: timed out".to_owned())?
                    .map(drop)
            }
            Self::Transport(t) => t.verify().await,
            Self::Full(client) => client
                .account_verify_credentials()
                .await
                .map(|a| drop(std::hint::black_box(a)))
                .map_err(|e| format!("mastodon-auth: {e}")),
            #[cfg(feature = "megalodon")]
            Self::Megalodon(client) => client
                .verify_account_credentials()
                .await
                .map(|a| drop(std::hint::black_box(a)))
                .map_err(|e| format!("megalodon: {e}")),
        }
    }
}

/// Builds the megalodon contender, when compiled in.
#[cfg(feature = "megalodon")]
pub(crate) fn megalodon(target: &Target, token: &AccessToken) -> Result<Contender, BoxError> {
    let client = megalodon::generator(
        megalodon::SNS::Mastodon,
        target.base_url.clone(),
        Some(token.expose().to_owned()),
        None,
    )?;
    Ok(Contender::Megalodon(Arc::from(client)))
}

/// Mastodon.py's side: reads the token from the first line of stdin, then for each line `N`
/// calls `account_verify_credentials()` N times and prints `wall_seconds cpu_seconds acct`.
const PYTHON_DRIVER: &str = r#"
import sys, time
from mastodon import Mastodon
api = Mastodon(api_base_url=sys.argv[1], access_token=sys.stdin.readline().strip(),
               version_check_mode="none", request_timeout=30)
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        acct = api.account_verify_credentials()
    t1, c1 = time.perf_counter(), time.process_time()
    print(f"{t1 - t0} {c1 - c0} {acct['acct']}", flush=True)
"#;

/// How to get the Python contender, printed when it is missing.
pub(crate) const PYTHON_HINT: &str = "pip install Mastodon.py";

/// Whether `python3 -c "import mastodon"` works.
pub(crate) fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import mastodon"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running Mastodon.py driver; dropping it ends the process.
pub(crate) struct Python {
    io: LineChild,
}

impl Python {
    /// Starts the driver against `base_url` and hands it the token on stdin.
    pub(crate) fn start(base_url: &str, token: &AccessToken) -> Result<Self, BoxError> {
        let mut io = LineChild::spawn(
            Command::new("python3").args(["-c", PYTHON_DRIVER, base_url]),
            "the Mastodon.py driver",
        )?;
        io.send(token.expose())?;
        let line = io.read_line()?;
        if line.trim() != "ready" {
            return Err(format!("the Mastodon.py driver said {:?}", line.trim()).into());
        }
        Ok(Self { io })
    }

    /// Makes `n` calls; returns (wall, CPU) as the driver measured them, interpreter start
    /// excluded.
    pub(crate) fn run(&mut self, n: usize) -> Result<(Duration, Duration), BoxError> {
        self.io.send(&n.to_string())?;
        let line = self.io.read_line()?;
        let mut parts = line.split_whitespace();
        let mut secs = || -> Result<Duration, BoxError> {
            let s: f64 = parts
                .next()
                .ok_or("the Mastodon.py driver printed too few fields")?
                .parse()?;
            Ok(Duration::try_from_secs_f64(s)?)
        };
        Ok((secs()?, secs()?))
    }
}
