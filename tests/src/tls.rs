//! A throw-away certificate authority and a leaf certificate for the local instance.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::StartError;

/// The CA's PEM (for clients to trust) and the server's TLS settings.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> StartError + '_ {
    move |e| StartError::Certificate(format!("{what}: {e}"))
}

/// Generates a CA and a leaf for `localhost`, `127.0.0.1` and `::1`, and a rustls server
/// configuration offering HTTP/2 and HTTP/1.1.
pub(crate) fn generate() -> Result<TestPki, StartError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())
        .map_err(cert_err("building the test CA parameters"))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mastodon-auth-tests local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(cert_err("generating the test CA key"))?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(cert_err("self-signing the test CA"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(cert_err("building the server certificate parameters"))?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.is_ca = IsCa::NoCa;
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_key = KeyPair::generate().map_err(cert_err("generating the server key"))?;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(cert_err("signing the server certificate"))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Certificate(format!("choosing TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| StartError::Certificate(format!("loading the server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TestPki {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}
