//! A throw-away certificate authority for tests: the local instance's certificates, and any
//! test server's (valid, expired, or for another name).

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Generating a certificate or building a TLS configuration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateError(String);

impl CertificateError {
    fn at(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |e| Self(format!("{what}: {e}"))
    }
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertificateError {}

/// A certificate authority made for one test run; clients trust it with its [`pem`](Self::pem)
/// (for example `HyperTransport::builder().add_root_pem(ca.pem().as_bytes())`).
///
/// ```
/// use mastodon_auth_tests::{Alpn, TestCa};
/// let ca = TestCa::new("my test CA")?;
/// let config = ca.leaf(&["localhost", "127.0.0.1"])?.server_config(Alpn::H2AndHttp11)?;
/// assert_eq!(config.alpn_protocols[0], b"h2");
/// assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # Ok::<(), mastodon_auth_tests::CertificateError>(())
/// ```
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A server's certificate chain (leaf, then the CA) and its private key.
#[non_exhaustive]
pub struct Leaf {
    /// The leaf certificate followed by the CA's.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// Which protocols a TLS server offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Alpn {
    /// `h2`, then `http/1.1`.
    H2AndHttp11,
    /// `http/1.1` only.
    Http11Only,
}

impl TestCa {
    /// A new CA with a fresh key.
    ///
    /// # Errors
    /// When rcgen cannot generate the key or sign the certificate.
    pub fn new(common_name: &str) -> Result<Self, CertificateError> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(CertificateError::at("the CA's parameters"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(CertificateError::at("the CA's key"))?;
        let issuer = CertifiedIssuer::self_signed(params, key)
            .map_err(CertificateError::at("self-signing the CA"))?;
        Ok(Self { issuer })
    }

    /// The CA certificate, PEM-encoded.
    #[must_use]
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate, DER-encoded.
    #[must_use]
    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    ///
    /// # Errors
    /// When rcgen fails.
    pub fn leaf(&self, names: &[&str]) -> Result<Leaf, CertificateError> {
        self.issue(names, false)
    }

    /// A server certificate for `names` that expired in 2001.
    ///
    /// # Errors
    /// When rcgen fails.
    pub fn expired_leaf(&self, names: &[&str]) -> Result<Leaf, CertificateError> {
        self.issue(names, true)
    }

    fn issue(&self, names: &[&str], expired: bool) -> Result<Leaf, CertificateError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names)
            .map_err(CertificateError::at("the server certificate's parameters"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::NoCa;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().map_err(CertificateError::at("the server key"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(CertificateError::at("signing the server certificate"))?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.issuer.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

impl Leaf {
    /// A rustls server configuration presenting this certificate, with ring and the safe
    /// default protocol versions.
    ///
    /// # Errors
    /// When rustls refuses the certificate or key.
    pub fn server_config(self, alpn: Alpn) -> Result<Arc<rustls::ServerConfig>, CertificateError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CertificateError(format!("choosing TLS versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .map_err(|e| CertificateError(format!("loading the server certificate: {e}")))?;
        config.alpn_protocols = match alpn {
            Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::Http11Only => vec![b"http/1.1".to_vec()],
        };
        Ok(Arc::new(config))
    }
}

/// The local instance's certificates: a CA (for clients to trust) and a server configuration
/// for `localhost`, `127.0.0.1` and `::1` offering HTTP/2 and HTTP/1.1.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

pub(crate) fn generate() -> Result<TestPki, CertificateError> {
    let ca = TestCa::new("mastodon-auth-tests local CA")?;
    let server_config = ca
        .leaf(&["localhost", "127.0.0.1", "::1"])?
        .server_config(Alpn::H2AndHttp11)?;
    Ok(TestPki {
        ca_pem: ca.pem(),
        server_config,
    })
}
