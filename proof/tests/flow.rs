//! The whole OAuth flow through `ReqwestTransport` and `SqliteStore` against the test kit's
//! local instance over HTTPS, and each failure as its typed error.

use std::error::Error as StdError;
use std::path::Path;
use std::time::Duration;

use mastodon_auth::{
    AccountDirectory, AuthorizationRequest, CredentialStore, Error, LoginGrant, Mastodon,
    RedirectUri, Scopes, StoreError, TimeoutPhase, TlsFailure, TransportError,
};
use mastodon_auth_proof::{ReqwestTransport, SqliteStore};
use mastodon_auth_tests::{Approval, Fault, LocalInstance};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), Box<dyn StdError>>;

/// A transport trusting the instance's test CA.
fn transport(instance: &LocalInstance) -> ReqwestTransport {
    ReqwestTransport::builder()
        .add_root_pem(instance.ca_certificate_pem().as_bytes())
        .expect("the test CA")
        .build()
        .expect("transport")
}

fn scopes(list: &str) -> Scopes {
    list.parse().expect("scopes")
}

/// A client of `base_url` over `transport` without a store, for the failures.
async fn client(base_url: &str, transport: ReqwestTransport) -> Mastodon {
    Mastodon::builder(base_url)
        .transport(transport)
        .build()
        .await
        .expect("client")
}

/// Registering an app: one anonymous request, enough to see a transport failure.
async fn register(client: &Mastodon) -> Result<(), Error> {
    client
        .create_app("proof")
        .scopes(scopes("read"))
        .send()
        .await
        .map(drop)
}

#[tokio::test]
async fn the_whole_flow_through_reqwest_and_sqlite() -> TestResult {
    let instance = LocalInstance::start().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("credentials.sqlite3");
    let store = SqliteStore::open(&db).await?;
    let client = Mastodon::builder(instance.base_url())
        .transport(transport(&instance))
        .store(store.clone())
        .build()
        .await?;

    client
        .create_app("proof")
        .scopes(scopes("read write profile"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1/callback"))
        .send()
        .await?;
    let app = store.load_app(client.base_url()).await?.expect("app saved");
    assert_eq!(app.name.as_deref(), Some("proof"));
    assert_eq!(Some(app.client), client.client_credentials());

    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes("read write profile"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1:40000/callback"))
        .build()
        .await?;
    assert!(pending.uses_pkce(), "current Mastodon advertises S256");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains(&format!("state={}", pending.state().as_str())),
        "{url}"
    );
    let Approval::Redirect(location) = instance.approve(&url)? else {
        panic!("no redirect to the loopback URI")
    };
    let code = pending.callback(&location)?;
    client.log_in(LoginGrant::AuthorizationCode(code)).await?;
    let token_request = instance
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth/token")
        .expect("a token request");
    assert!(token_request.form("code_verifier").is_some());

    let account = client.account_verify_credentials().await?;
    assert_eq!(account.username, instance.user().username);
    assert_eq!(client.app_verify_credentials().await?.name, "proof");
    let saved = client.save_credentials().await?;
    let key = saved.account.clone().expect("saved with its account");
    assert_eq!(store.active_user().await?, Some(key.clone()));
    assert_eq!(store.list_users().await?, vec![key]);

    // A new process: nothing but the database file.
    let reopened = SqliteStore::open(&db).await?;
    let restored = Mastodon::builder(instance.base_url())
        .transport(transport(&instance))
        .store(reopened)
        .build()
        .await?;
    assert_eq!(restored.access_token(), client.access_token());
    assert_eq!(restored.client_credentials(), client.client_credentials());
    assert_eq!(restored.account_verify_credentials().await?.id, account.id);

    restored.revoke_access_token().await?;
    let err = client
        .account_verify_credentials()
        .await
        .expect_err("revoked");
    assert!(err.is_unauthorized(), "{err:?}");
    instance.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_store_for_another_instance_is_a_base_url_mismatch() -> TestResult {
    let instance = LocalInstance::start().await?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("db.sqlite3")).await?;
    let user = mastodon_auth::UserCredentials::new(
        "https://elsewhere.example".parse()?,
        mastodon_auth::AccessToken::new("t"),
    )
    .with_account("alice@elsewhere.example".parse()?);
    store.save_user(&user).await?;
    let built = Mastodon::builder(instance.base_url())
        .transport(transport(&instance))
        .store(store)
        .build()
        .await;
    assert!(
        matches!(
            built,
            Err(Error::Store(StoreError::BaseUrlMismatch { ref found, .. }))
                if found == "https://elsewhere.example"
        ),
        "{built:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() -> TestResult {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let client = client(
        &format!("https://127.0.0.1:{port}"),
        ReqwestTransport::new()?,
    )
    .await;
    match register(&client).await {
        Err(Error::Network(TransportError::Connect { authority, .. })) => {
            assert_eq!(authority, Some(format!("127.0.0.1:{port}")));
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_server_that_stalls_is_a_response_timeout_of_the_clients_limit() -> TestResult {
    let instance = LocalInstance::start().await?;
    instance.inject(Fault::Delay(Duration::from_secs(30)), 1);
    // The transport's own limit is 300 s: the client's request timeout must win.
    let client = Mastodon::builder(instance.base_url())
        .transport(transport(&instance))
        .request_timeout(Duration::from_millis(300))
        .build()
        .await?;
    match register(&client).await {
        Err(Error::Network(TransportError::Timeout { phase, after })) => {
            assert_eq!(phase, TimeoutPhase::Response);
            assert_eq!(after, Some(Duration::from_millis(300)));
        }
        other => panic!("expected a response timeout, got {other:?}"),
    }
    instance.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_finishes_the_handshake_is_a_connect_timeout() -> TestResult {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Accepts, then says nothing: the TLS handshake never completes.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let transport = ReqwestTransport::builder()
        .connect_timeout(Duration::from_millis(300))
        .build()?;
    let client = client(&format!("https://{addr}"), transport).await;
    match register(&client).await {
        Err(Error::Network(TransportError::Timeout { phase, after })) => {
            assert_eq!(phase, TimeoutPhase::Connect);
            assert_eq!(after, Some(Duration::from_millis(300)));
        }
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    silent.abort();
    Ok(())
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_a_tls_error() -> TestResult {
    let instance = LocalInstance::start().await?;
    // The web PKI's roots only: the test CA is unknown.
    let client = client(&instance.base_url(), ReqwestTransport::new()?).await;
    match register(&client).await {
        Err(Error::Network(TransportError::Tls { host, reason, .. })) => {
            assert_eq!(reason, TlsFailure::UnknownIssuer);
            assert_eq!(host, "127.0.0.1");
        }
        other => panic!("expected an unknown issuer, got {other:?}"),
    }
    instance.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large() -> TestResult {
    let instance = LocalInstance::start().await?;
    instance.inject(Fault::Oversized(100_000), 1);
    let transport = ReqwestTransport::builder()
        .add_root_pem(instance.ca_certificate_pem().as_bytes())?
        .max_body_size(64 * 1024)
        .build()?;
    let client = client(&instance.base_url(), transport).await;
    match register(&client).await {
        Err(Error::Network(TransportError::BodyTooLarge { limit })) => {
            assert_eq!(limit, 64 * 1024);
        }
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    instance.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_502_html_page_is_an_api_error() -> TestResult {
    let instance = LocalInstance::start().await?;
    instance.inject_on("/api/v1/apps", Fault::HtmlError(502), 1);
    let client = client(&instance.base_url(), transport(&instance)).await;
    match register(&client).await {
        Err(Error::Api(api)) => assert_eq!(api.status, 502),
        other => panic!("expected a 502 API error, got {other:?}"),
    }
    instance.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_an_invalid_response() -> TestResult {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        if let Ok((mut socket, _)) = listener.accept().await {
            // The request first: an answer before it is a different failure.
            let _ = socket.read(&mut [0; 4096]).await;
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
            let _ = socket.shutdown().await;
        }
    });
    // Plain HTTP to a loopback address is allowed without an opt-in.
    let client = client(&format!("http://{addr}"), ReqwestTransport::new()?).await;
    match register(&client).await {
        Err(Error::Network(TransportError::InvalidResponse { .. })) => {}
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_broken_database_is_a_backend_error() -> TestResult {
    let dir = tempfile::tempdir()?;

    // Not a database at all: refused when opened.
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(&garbage, vec![0x5a; 8192])?;
    let err = SqliteStore::open(&garbage)
        .await
        .expect_err("not a database");
    assert_eq!(sqlite_code(&err), Some(rusqlite::ErrorCode::NotADatabase));

    // A database whose table went missing after it was opened: the client cannot start.
    let db = dir.path().join("broken.sqlite3");
    let store = SqliteStore::open(&db).await?;
    drop_table(&db, "users")?;
    let built = Mastodon::builder("https://social.example")
        .transport(ReqwestTransport::new()?)
        .store(store)
        .build()
        .await;
    match built {
        Err(Error::Store(err)) => assert!(
            matches!(
                &err,
                StoreError::Backend {
                    backend: "sqlite",
                    ..
                }
            ),
            "{err:?}"
        ),
        other => panic!("expected a store error, got {other:?}"),
    }
    Ok(())
}

fn drop_table(db: &Path, table: &str) -> rusqlite::Result<()> {
    rusqlite::Connection::open(db)?.execute_batch(&format!("DROP TABLE {table}"))
}

/// The SQLite error code behind a [`StoreError::Backend`] of the SQLite store.
fn sqlite_code(err: &StoreError) -> Option<rusqlite::ErrorCode> {
    match err {
        StoreError::Backend {
            backend: "sqlite",
            source,
        } => source
            .downcast_ref::<rusqlite::Error>()?
            .sqlite_error_code(),
        _ => None,
    }
}
