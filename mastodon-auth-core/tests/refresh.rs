//! Refreshing an expiring token through the store's lease (`CredentialStore::lease_user`):
//! clients that share a store refresh once between them, take the token another one
//! refreshed, and spend no refresh token when the store cannot lease the account.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use mastodon_auth_core::{
    AccessToken, AccountKey, AppCredentials, ClientCredentials, CredentialStore, Error,
    HttpTransport, InstanceUrl, Mastodon, RefreshToken, StoreError, TransportError,
    UserCredentials, UserLease, VersionCheckMode,
};

const BASE: &str = "https://pleroma.example";

fn alice() -> AccountKey {
    "alice@pleroma.example".parse().unwrap()
}

/// A Pleroma-like token endpoint: one live token pair at a time, rotated by every refresh,
/// a refresh token accepted once. `verify_credentials` accepts only the live access token.
#[derive(Clone)]
struct Server {
    live: Arc<Mutex<(String, String)>>,
    refreshes: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    /// The refresh tokens presented, in order.
    presented: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn new(access: &str, refresh: &str) -> Self {
        Self {
            live: Arc::new(Mutex::new((access.into(), refresh.into()))),
            refreshes: Arc::default(),
            refused: Arc::default(),
            presented: Arc::default(),
        }
    }

    fn live_access(&self) -> String {
        self.live.lock().unwrap().0.clone()
    }
}

fn reply(status: u16, body: String) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(Bytes::from(body))
        .unwrap()
}

#[async_trait::async_trait]
impl HttpTransport for Server {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        match request.uri().path() {
            "/oauth/token" => {
                let form: BTreeMap<String, String> = form_urlencoded::parse(request.body())
                    .into_owned()
                    .collect();
                assert_eq!(form["grant_type"], "refresh_token");
                let presented = form["refresh_token"].clone();
                self.presented.lock().unwrap().push(presented.clone());
                // Long enough for every other client to reach its own refresh meanwhile.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut live = self.live.lock().unwrap();
                if presented != live.1 {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                    return Ok(reply(
                        400,
                        r#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid"}"#.into(),
                    ));
                }
                let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                *live = (format!("A{n}"), format!("R{n}"));
                Ok(reply(
                    200,
                    format!(
                        r#"{{"access_token":"A{n}","refresh_token":"R{n}","expires_in":3600,"scope":"read","token_type":"Bearer"}}"#
                    ),
                ))
            }
            "/api/v1/accounts/verify_credentials" => {
                let sent = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if sent == format!("Bearer {}", self.live_access()) {
                    Ok(reply(
                        200,
                        r#"{"id":"1","username":"alice","acct":"alice"}"#.into(),
                    ))
                } else {
                    Ok(reply(
                        401,
                        r#"{"error":"The access token is invalid"}"#.into(),
                    ))
                }
            }
            _ => Ok(reply(404, "{}".into())),
        }
    }
}

/// Credentials in memory with a lease per store, as `lease_user` asks: what the leased stores
/// of `mastodon-auth-store` do, in a form this crate's tests can hold.
#[derive(Default)]
struct Leased {
    users: Mutex<BTreeMap<AccountKey, UserCredentials>>,
    lease: tokio::sync::Mutex<()>,
    /// `lease_user` fails before reading, as a database that is down does.
    down: bool,
}

impl Leased {
    fn with(user: UserCredentials) -> Self {
        let store = Self::default();
        store
            .users
            .lock()
            .unwrap()
            .insert(user.account.clone().unwrap(), user);
        store
    }

    fn stored(&self) -> UserCredentials {
        self.users.lock().unwrap()[&alice()].clone()
    }
}

#[async_trait::async_trait]
impl CredentialStore for Leased {
    async fn load_app(&self, _: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        Ok(None)
    }
    async fn save_app(&self, _: &AppCredentials) -> Result<(), StoreError> {
        Ok(())
    }
    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        Ok(self.users.lock().unwrap().get(account).cloned())
    }
    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        self.load_user(&alice()).await
    }
    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let account = user.account.clone().ok_or(StoreError::AccountRequired)?;
        self.users.lock().unwrap().insert(account, user.clone());
        Ok(())
    }
    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        if self.down {
            return Err(StoreError::backend(
                "test",
                std::io::Error::other("the database is down"),
            ));
        }
        let guard = self.lease.lock().await;
        let current = self.load_user(account).await?;
        Ok(Box::new(Lease {
            _guard: guard,
            store: self,
            current,
        }))
    }
}

/// A lease of [`Leased`]: its mutex's guard, borrowed from the store.
struct Lease<'a> {
    _guard: tokio::sync::MutexGuard<'a, ()>,
    store: &'a Leased,
    current: Option<UserCredentials>,
}

#[async_trait::async_trait]
impl UserLease for Lease<'_> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }
    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        self.store.save_user(user).await
    }
}

/// The same credentials without a lease: the trait's default `lease_user`.
#[derive(Default)]
struct Plain(Leased);

#[async_trait::async_trait]
impl CredentialStore for Plain {
    async fn load_app(&self, i: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        self.0.load_app(i).await
    }
    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        self.0.save_app(app).await
    }
    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        self.0.load_user(account).await
    }
    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        self.0.load_active_user().await
    }
    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        self.0.save_user(user).await
    }
}

/// Alice's stored credentials: `access`, refreshable with `refresh`, expiring at `expires_at`.
fn user(access: &str, refresh: &str, expires_at: SystemTime) -> UserCredentials {
    let mut user = UserCredentials::new(BASE.parse().unwrap(), AccessToken::new(access))
        .with_account(alice())
        .with_client(ClientCredentials::new("C", "S"));
    user.refresh_token = Some(RefreshToken::new(refresh));
    user.expires_at = Some(expires_at);
    user.scopes = Some("read".parse().unwrap());
    user
}

fn expired() -> SystemTime {
    SystemTime::now() - Duration::from_secs(1)
}

/// A client built from the store, as a freshly started process would be.
async fn client<S: CredentialStore + 'static>(server: &Server, store: &Arc<S>) -> Mastodon {
    Mastodon::builder(BASE)
        .transport(server.clone())
        .shared_store(store.clone())
        .account(alice())
        .version_check_mode(VersionCheckMode::None)
        .build()
        .await
        .unwrap()
}

/// Eight clients (eight processes, as far as the client can tell: nothing shared but the
/// store) whose token expires together: one refresh reaches the server, and every client
/// ends with its token.
async fn eight_clients_refresh<S: CredentialStore + 'static>(
    store: S,
) -> (Server, Arc<S>, Vec<Result<(), Error>>) {
    let server = Server::new("A0", "R0");
    let store = Arc::new(store);
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(client(&server, &store).await);
    }
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| {
            let c = c.clone();
            tokio::spawn(async move { c.account_verify_credentials().await.map(drop) })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    for c in &clients {
        if let Some(token) = c.access_token() {
            assert!(token.expose().starts_with('A'));
        }
    }
    (server, store, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_sharing_a_leased_store_refresh_once() {
    let (server, store, results) =
        eight_clients_refresh(Leased::with(user("A0", "R0", expired()))).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1, "one refresh");
    assert_eq!(
        server.refused.load(Ordering::SeqCst),
        0,
        "no refresh token spent twice"
    );
    let stored = store.stored();
    assert_eq!(stored.access_token.expose(), "A1");
    assert_eq!(stored.refresh_token.unwrap().expose(), "R1");
    assert!(stored.expires_at.unwrap() > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(server.live_access(), "A1");
}

/// What the lease prevents: without it (the trait's default `lease_user`), the clients all
/// refresh the same token and all but one are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_lease_the_clients_spend_the_refresh_token_twice() {
    let store = Plain(Leased::with(user("A0", "R0", expired())));
    let (server, _, results) = eight_clients_refresh(store).await;
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    assert!(server.refused.load(Ordering::SeqCst) > 0);
    assert!(results.iter().any(Result::is_err));
}

#[tokio::test]
async fn a_token_another_process_refreshed_is_taken_without_a_request() {
    let server = Server::new("A0", "R0");
    let store = Arc::new(Leased::with(user("A0", "R0", expired())));
    let late = client(&server, &store).await;
    // Another process refreshes meanwhile.
    let early = client(&server, &store).await;
    early.account_verify_credentials().await.unwrap();
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(late.access_token().unwrap().expose(), "A0");

    late.account_verify_credentials().await.unwrap();
    assert_eq!(
        server.refreshes.load(Ordering::SeqCst),
        1,
        "no second refresh"
    );
    assert_eq!(late.access_token().unwrap().expose(), "A1");
    assert_eq!(late.refresh_token().unwrap().expose(), "R1");
    assert!(late.token_expires_at().unwrap() > SystemTime::now());
}

#[tokio::test]
async fn a_stored_token_that_expired_too_is_refreshed_with_the_stored_refresh_token() {
    let server = Server::new("A0", "R0");
    let store = Arc::new(Leased::with(user("OLD", "R-OLD", expired())));
    let c = client(&server, &store).await;
    // Another process refreshed long ago, and its token has expired since.
    store.save_user(&user("A0", "R0", expired())).await.unwrap();
    c.account_verify_credentials().await.unwrap();
    assert_eq!(*server.presented.lock().unwrap(), vec!["R0".to_owned()]);
    assert_eq!(store.stored().access_token.expose(), "A1");
    assert_eq!(c.access_token().unwrap().expose(), "A1");
}

#[tokio::test]
async fn no_refresh_token_is_spent_when_the_store_cannot_lease_the_account() {
    let server = Server::new("A0", "R0");
    let store = Arc::new(Leased {
        down: true,
        ..Leased::with(user("A0", "R0", expired()))
    });
    let c = client(&server, &store).await;
    match c.account_verify_credentials().await {
        Err(Error::Store(e @ StoreError::Backend { .. })) => {
            assert!(e.to_string().contains("down"), "{e}");
        }
        other => panic!("expected the store's error, got {other:?}"),
    }
    assert!(server.presented.lock().unwrap().is_empty(), "nothing sent");
    assert_eq!(c.access_token().unwrap().expose(), "A0");
}

/// A store without `lease_user` of its own keeps working as before: the client refreshes and
/// the store is given the new token.
#[tokio::test]
async fn the_default_lease_user_refreshes_and_saves() {
    let server = Server::new("A0", "R0");
    let store = Arc::new(Plain(Leased::with(user("A0", "R0", expired()))));
    let c = client(&server, &store).await;
    c.account_verify_credentials().await.unwrap();
    c.account_verify_credentials().await.unwrap();
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(store.0.stored().access_token.expose(), "A1");
}

/// A refresh elsewhere revokes the token a request is already carrying: that request is
/// refused, then sent once more with the stored token. A refusal with nothing newer stored
/// stands.
#[tokio::test]
async fn a_request_refused_after_a_refresh_elsewhere_is_resent_with_the_stored_token() {
    let server = Server::new("A0", "R0");
    let fresh = SystemTime::now() + Duration::from_secs(3600);
    let store = Arc::new(Leased::with(user("A0", "R0", fresh)));
    let busy = client(&server, &store).await;
    // Another process loads the account as about to expire, and refreshes it.
    store.save_user(&user("A0", "R0", expired())).await.unwrap();
    client(&server, &store)
        .await
        .account_verify_credentials()
        .await
        .unwrap();
    assert_eq!(store.stored().access_token.expose(), "A1");

    busy.account_verify_credentials().await.unwrap();
    assert_eq!(busy.access_token().unwrap().expose(), "A1");
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);

    // The pair rotated by someone who did not tell the store: nothing to retry with.
    *server.live.lock().unwrap() = ("A9".into(), "R9".into());
    match busy.account_verify_credentials().await {
        Err(Error::Api(e)) => assert_eq!(e.status, 401),
        other => panic!("expected the server's 401, got {other:?}"),
    }
    assert_eq!(busy.access_token().unwrap().expose(), "A1");
}

/// The process whose refresh revoked the token holds the account's lease until the new pair is
/// stored: a request refused meanwhile waits for it rather than letting the refusal stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_waits_for_a_refresh_still_being_stored_elsewhere() {
    let server = Server::new("A0", "R0");
    let fresh = SystemTime::now() + Duration::from_secs(3600);
    let store = Arc::new(Leased::with(user("A0", "R0", fresh)));
    let busy = client(&server, &store).await;
    // Another process has refreshed at the server under the lease, and not stored yet.
    let lease = store.lease.lock().await;
    *server.live.lock().unwrap() = ("A1".into(), "R1".into());
    let request = tokio::spawn({
        let busy = busy.clone();
        async move { busy.account_verify_credentials().await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.save_user(&user("A1", "R1", fresh)).await.unwrap();
    drop(lease);
    request.await.unwrap().unwrap();
    assert_eq!(busy.access_token().unwrap().expose(), "A1");
}
