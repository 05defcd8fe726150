//! A refresh coordinated across processes: eight worker processes (or eight clients of one
//! process) share one Pleroma account whose token has expired, and exactly one refresh reaches
//! the server (whose refresh tokens work once); every worker ends with the new token. Each
//! store's lease (`CredentialStore::update_user`) is checked on its own, and PostgreSQL is
//! stopped around a refresh.
//!
//! The PostgreSQL tests are skipped (with a note) where PostgreSQL is not installed, unless
//! `MASTODON_AUTH_REQUIRE_SERVICES=1`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, CredentialStore, Error, HttpTransport, LoginGrant,
    Mastodon, Password, RateLimitKey, StoreError, TransportError, UserCredentials,
};
use mastodon_auth_http::HyperTransport;
use mastodon_auth_store::{AccountsFile, MastodonPyFiles, MemoryStore, PostgresStore};
use mastodon_auth_tests::{Fault, LocalInstance, PostgresServer, Profile, Worker};

/// How long the token request of the winning worker is held, so that every other worker
/// reaches its own refresh meanwhile.
const REFRESH_DELAY: Duration = Duration::from_millis(500);

/// A Pleroma instance over plain HTTP (its refresh tokens work once, its rate limit is out of
/// the way), with alice logged in
/// through the password grant and her credentials saved in `store`, as having expired: the
/// client decides when to refresh from the expiry it keeps, while the server takes the token
/// until it is refreshed. The instance's request log starts empty.
async fn logged_in(store: Arc<dyn CredentialStore>) -> (LocalInstance, AccountKey) {
    let instance = LocalInstance::builder()
        .profile(Profile::Pleroma)
        .https(false)
        // Not what these tests are about.
        .rate_limit(1_000_000, Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    let client = Mastodon::builder(instance.base_url())
        .transport(HyperTransport::new().unwrap())
        .allow_http(true)
        .shared_store(store.clone())
        .skip_stored_user()
        .build()
        .await
        .unwrap();
    client
        .create_app("fleet")
        .scopes("read".parse().unwrap())
        .send()
        .await
        .unwrap();
    let user = instance.user();
    client
        .log_in(LoginGrant::Password {
            username: user.email.clone(),
            password: Password::new(user.password.clone()),
            scopes: "read".parse().unwrap(),
        })
        .await
        .unwrap();
    let mut saved = client.save_credentials().await.unwrap();
    assert!(
        saved.refresh_token.is_some(),
        "Pleroma issues refresh tokens"
    );
    saved.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    store.save_user(&saved).await.unwrap();
    instance.clear_requests();
    (instance, saved.account.unwrap())
}

/// A worker's client: built from the store, for `account`.
async fn client_of(
    base_url: &str,
    transport: impl HttpTransport + 'static,
    store: Arc<dyn CredentialStore>,
    account: &AccountKey,
) -> Result<Mastodon, Error> {
    Mastodon::builder(base_url)
        .transport(transport)
        .allow_http(true)
        .shared_store(store)
        .account(account.clone())
        .build()
        .await
}

/// Refresh-token grants that reached the instance.
fn refreshes(instance: &LocalInstance) -> usize {
    instance
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token" && r.form("grant_type") == Some("refresh_token"))
        .count()
}

/// A token's fingerprint, for workers to report which token they hold without printing it.
fn fingerprint(token: &AccessToken) -> String {
    format!("{:016x}", RateLimitKey::for_token(token).id())
}

/// After the race: the store holds one token, every worker reported it, the server saw one
/// refresh, and the account works with the stored credentials (no further refresh).
async fn check_one_refresh(
    instance: &LocalInstance,
    store: Arc<dyn CredentialStore>,
    account: &AccountKey,
    held: &[String],
) {
    assert_eq!(
        refreshes(instance),
        1,
        "exactly one refresh reached the server"
    );
    let stored = store.load_user(account).await.unwrap().unwrap();
    assert!(
        stored.expires_at.unwrap() > SystemTime::now(),
        "stored fresh"
    );
    let expected = fingerprint(&stored.access_token);
    assert_eq!(held.len(), 8);
    for token in held {
        assert_eq!(*token, expected, "every worker ends with the stored token");
    }
    let later = client_of(
        &instance.base_url(),
        HyperTransport::new().unwrap(),
        store,
        account,
    )
    .await
    .unwrap();
    later.account_verify_credentials().await.unwrap();
    assert_eq!(refreshes(instance), 1);
}

// ---- Eight worker processes ----

const WORKER: &str = "MASTODON_AUTH_REFRESH_WORKER";

/// Not a test on its own: the eight-worker tests start the test binary again with this test
/// and the worker's settings in the environment. At its start time it verifies the account
/// once, then again and again until the end time; prints `refresh-worker ok <fingerprint>`,
/// or the first error.
#[test]
#[ignore = "a worker process started by the eight-worker refresh tests"]
fn refresh_worker() {
    let Ok(setup) = std::env::var(WORKER) else {
        return;
    };
    let parts: Vec<&str> = setup.split('\n').collect();
    let [kind, location, base_url, account, start, end] = parts[..] else {
        panic!("bad worker setup")
    };
    let (start, end): (u128, u128) = (start.parse().unwrap(), end.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = runtime.block_on(async {
        let store: Arc<dyn CredentialStore> = match kind {
            "postgres" => Arc::new(PostgresStore::connect(location).await?),
            _ => Arc::new(AccountsFile::open(location)),
        };
        let account: AccountKey = account.parse()?;
        let transport = HyperTransport::new().expect("a transport");
        let client = client_of(base_url, transport, store, &account).await?;
        let now = unix_ms();
        if now < start {
            tokio::time::sleep(Duration::from_millis(u64::try_from(start - now).unwrap())).await;
        }
        client.account_verify_credentials().await?;
        while unix_ms() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
            client.account_verify_credentials().await?;
        }
        client.access_token().ok_or(Error::NotLoggedIn)
    });
    match held {
        Ok(token) => println!("refresh-worker ok {}", fingerprint(&token)),
        Err(e) => println!("refresh-worker error {e}"),
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// When the workers start: time for every process to get ready first.
fn start_time() -> u128 {
    unix_ms() + 3000
}

/// Starts eight workers on the store (`kind` `postgres` with a URL, or `file` with a path),
/// the first at `start`, each of the others `stagger` after the one before, all making
/// requests until `start + run`; returns the fingerprints of the tokens they end with.
fn eight_workers(
    (kind, location): (&str, &str),
    instance: &LocalInstance,
    account: &AccountKey,
    start: u128,
    (stagger, run): (Duration, Duration),
) -> Vec<String> {
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let setup = [
                kind,
                location,
                &instance.base_url(),
                account.as_str(),
                &(start + i * stagger.as_millis()).to_string(),
                &(start + run.as_millis()).to_string(),
            ]
            .join("\n");
            Worker::spawn("refresh_worker", WORKER, &setup)
        })
        .collect();
    workers
        .into_iter()
        .map(|worker| {
            let line = worker.report("refresh-worker");
            match line.strip_prefix("ok ") {
                Some(token) => token.to_owned(),
                None => panic!("a worker failed: {line}"),
            }
        })
        .collect()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn eight_processes_refresh_once_through_postgres() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let runtime = multi_thread();
    let store: Arc<dyn CredentialStore> =
        Arc::new(runtime.block_on(PostgresStore::connect(pg.url())).unwrap());
    let (instance, account) = runtime.block_on(logged_in(store.clone()));
    instance.inject_on("/oauth/token", Fault::Delay(REFRESH_DELAY), 1);
    let held = eight_workers(
        ("postgres", &pg.url()),
        &instance,
        &account,
        start_time(),
        (Duration::ZERO, Duration::ZERO),
    );
    runtime.block_on(check_one_refresh(&instance, store, &account, &held));
}

/// The expiry met in the middle of steady traffic rather than at the first request: the
/// workers cross the refresh margin (30 s before expiry) while requests of theirs are on the
/// way (each held 200 ms by the server before it looks at the token); those the refresh
/// revokes are refused, and sent again with the new token.
#[test]
fn eight_processes_under_steady_traffic_refresh_once_through_postgres() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let runtime = multi_thread();
    let store: Arc<dyn CredentialStore> =
        Arc::new(runtime.block_on(PostgresStore::connect(pg.url())).unwrap());
    let (instance, account) = runtime.block_on(logged_in(store.clone()));
    instance.inject_on(
        "/api/v1/accounts/verify_credentials",
        Fault::Delay(Duration::from_millis(200)),
        100_000,
    );
    let start = start_time();
    runtime.block_on(async {
        let mut user = store.load_user(&account).await.unwrap().unwrap();
        let margin_crossed =
            UNIX_EPOCH + Duration::from_millis(u64::try_from(start).unwrap() + 1500);
        user.expires_at = Some(margin_crossed + Duration::from_secs(30));
        store.save_user(&user).await.unwrap();
    });
    let held = eight_workers(
        ("postgres", &pg.url()),
        &instance,
        &account,
        start,
        // Out of step, so that requests of some are on their way whenever another refreshes.
        (Duration::from_millis(25), Duration::from_secs(3)),
    );
    runtime.block_on(check_one_refresh(&instance, store, &account, &held));
}

#[test]
fn eight_processes_refresh_once_through_an_accounts_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let runtime = multi_thread();
    let store: Arc<dyn CredentialStore> = Arc::new(AccountsFile::open(&path));
    let (instance, account) = runtime.block_on(logged_in(store.clone()));
    instance.inject_on("/oauth/token", Fault::Delay(REFRESH_DELAY), 1);
    let held = eight_workers(
        ("file", path.to_str().unwrap()),
        &instance,
        &account,
        start_time(),
        (Duration::ZERO, Duration::ZERO),
    );
    runtime.block_on(check_one_refresh(&instance, store, &account, &held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_clients_refresh_once_through_a_memory_store() {
    let store: Arc<dyn CredentialStore> = Arc::new(MemoryStore::new());
    let (instance, account) = logged_in(store.clone()).await;
    instance.inject_on("/oauth/token", Fault::Delay(REFRESH_DELAY), 1);
    let transport = HyperTransport::new().unwrap();
    let mut clients = Vec::new();
    for _ in 0..8 {
        // Separate clients: nothing shared but the store.
        clients.push(
            client_of(
                &instance.base_url(),
                transport.clone(),
                store.clone(),
                &account,
            )
            .await
            .unwrap(),
        );
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            tokio::spawn(async move {
                client.account_verify_credentials().await.unwrap();
                fingerprint(&client.access_token().unwrap())
            })
        })
        .collect();
    let mut held = Vec::new();
    for task in tasks {
        held.push(task.await.unwrap());
    }
    check_one_refresh(&instance, store, &account, &held).await;
}

// ---- Each store's lease ----

fn user(token: &str) -> UserCredentials {
    let account: AccountKey = "alice@a.example".parse().unwrap();
    UserCredentials::new(
        "https://a.example".parse().unwrap(),
        AccessToken::new(token),
    )
    .with_account(account)
}

/// `update_user` on two handles of the same credentials (two processes, as far as the store
/// can tell), checked against what the trait documents: updates exclude each other and read
/// what the one before stored; `Ok(None)` and errors store nothing; an update dropped
/// unfinished releases the lease.
async fn check_lease(a: Arc<dyn CredentialStore>, b: Arc<dyn CredentialStore>) {
    let account = user("0").account.unwrap();
    a.save_user(&user("0")).await.unwrap();

    let inside = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (account, inside, overlapped) =
                (account.clone(), inside.clone(), overlapped.clone());
            tokio::spawn(async move {
                store
                    .update_user(
                        &account,
                        Box::new(move |current| {
                            Box::pin(async move {
                                if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                                    overlapped.store(true, Ordering::SeqCst);
                                }
                                let mut user = current.expect("alice is stored");
                                let n: u32 = user.access_token.expose().parse().unwrap();
                                // A request's worth of time with the lease held.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                user.access_token = AccessToken::new((n + 1).to_string());
                                inside.fetch_sub(1, Ordering::SeqCst);
                                Ok(Some(user))
                            })
                        }),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(
        !overlapped.load(Ordering::SeqCst),
        "two updates held the lease at once"
    );
    let token = |store: Arc<dyn CredentialStore>| {
        let account = account.clone();
        async move {
            let user = store.load_user(&account).await.unwrap().unwrap();
            user.access_token.expose().to_owned()
        }
    };
    assert_eq!(token(b.clone()).await, "8", "an update was lost");

    a.update_user(&account, Box::new(|_| Box::pin(async { Ok(None) })))
        .await
        .unwrap();
    let failed = a
        .update_user(
            &account,
            Box::new(|current| {
                Box::pin(async move {
                    assert!(current.is_some());
                    Err(Error::NotLoggedIn)
                })
            }),
        )
        .await;
    assert!(matches!(failed, Err(Error::NotLoggedIn)), "{failed:?}");
    assert_eq!(token(b.clone()).await, "8");

    let (entered, entered_rx) = tokio::sync::oneshot::channel();
    let stuck = {
        let (a, account) = (a.clone(), account.clone());
        tokio::spawn(async move {
            a.update_user(
                &account,
                Box::new(move |_| {
                    Box::pin(async move {
                        let _ = entered.send(());
                        std::future::pending::<Result<Option<UserCredentials>, Error>>().await
                    })
                }),
            )
            .await
        })
    };
    entered_rx.await.unwrap();
    stuck.abort();
    let _ = stuck.await;
    let after = tokio::time::timeout(
        Duration::from_secs(60),
        b.update_user(
            &account,
            Box::new(|current| Box::pin(async move { Ok(current) })),
        ),
    )
    .await
    .expect("the lease of a dropped update is released");
    after.unwrap();
    assert_eq!(token(a).await, "8");
}

/// An update replaces the account's credentials and leaves the active account alone.
async fn check_active_kept(store: Arc<dyn AccountDirectory>) {
    let bob = UserCredentials::new("https://b.example".parse().unwrap(), AccessToken::new("b"))
        .with_account("bob@b.example".parse().unwrap());
    store.save_user(&bob).await.unwrap();
    let alice = user("8").account.unwrap();
    store
        .update_user(
            &alice,
            Box::new(|current| {
                Box::pin(async move {
                    let mut user = current.unwrap();
                    user.access_token = AccessToken::new("refreshed");
                    Ok(Some(user))
                })
            }),
        )
        .await
        .unwrap();
    assert_eq!(store.active_user().await.unwrap(), bob.account);
    let stored = store.load_user(&alice).await.unwrap().unwrap();
    assert_eq!(stored.access_token.expose(), "refreshed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_lease() {
    let store = MemoryStore::new();
    check_lease(Arc::new(store.clone()), Arc::new(store.clone())).await;
    check_active_kept(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_file_lease() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    check_lease(
        Arc::new(AccountsFile::open(&path)),
        Arc::new(AccountsFile::open(&path)),
    )
    .await;
    check_active_kept(Arc::new(AccountsFile::open(&path))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastodon_py_files_lease() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        |d: &Path| MastodonPyFiles::new(d.join("clientcred.secret"), d.join("usercred.secret"));
    check_lease(Arc::new(files(dir.path())), Arc::new(files(dir.path()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_lease() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let connect = || PostgresStore::connect(pg.url());
    check_lease(
        Arc::new(connect().await.unwrap()),
        Arc::new(connect().await.unwrap()),
    )
    .await;
    check_active_kept(Arc::new(connect().await.unwrap())).await;
}

// ---- PostgreSQL stopped around a refresh ----

/// Holds the answer of the next token request until released, so that a test can act between
/// the server issuing a token and the client storing it.
#[derive(Clone, Default)]
struct Gate {
    armed: Arc<AtomicBool>,
    answered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl Gate {
    fn transport(&self) -> impl HttpTransport + 'static {
        let inner = Arc::new(HyperTransport::new().unwrap());
        let gate = self.clone();
        move |request: http::Request<Bytes>| {
            let (inner, gate) = (inner.clone(), gate.clone());
            async move {
                let token_request = request.uri().path() == "/oauth/token";
                let response: Result<http::Response<Bytes>, TransportError> =
                    inner.send(request).await;
                if token_request && gate.armed.swap(false, Ordering::SeqCst) {
                    gate.answered.notify_one();
                    gate.release.notified().await;
                }
                response
            }
        }
    }
}

/// Retries `op` until PostgreSQL, just restarted, answers; every failure meanwhile must be the
/// store's typed error.
async fn once_back<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(Error::Store(StoreError::Backend { backend, .. })) if Instant::now() < deadline => {
                assert_eq!(backend, "postgres");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("still failing after PostgreSQL came back: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_around_a_refresh() {
    let Some(mut pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = Arc::new(
        PostgresStore::builder(pg.url())
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap(),
    );
    let (instance, account) = logged_in(store.clone()).await;
    let base = instance.base_url();
    let gate = Gate::default();
    let client = client_of(&base, gate.transport(), store.clone(), &account)
        .await
        .unwrap();
    let first = client.access_token().unwrap();

    // Down before the refresh: the lease cannot be taken, so the refresh token is not spent.
    pg.crash().unwrap();
    match client.account_verify_credentials().await {
        Err(Error::Store(StoreError::Backend { backend, .. })) => assert_eq!(backend, "postgres"),
        other => panic!("expected the store's error, got {other:?}"),
    }
    assert_eq!(refreshes(&instance), 0, "nothing was sent");
    assert_eq!(client.access_token(), Some(first.clone()));
    pg.restart().unwrap();
    once_back(|| client.account_verify_credentials()).await;
    assert_eq!(refreshes(&instance), 1);
    let second = client.access_token().unwrap();
    assert_ne!(second, first);
    let stored = store.load_user(&account).await.unwrap().unwrap();
    assert_eq!(stored.access_token, second);

    // Down while the token request is in flight: the server has rotated the pair, the store
    // cannot take it. The client keeps the new token (the old refresh token is spent), the
    // store keeps the previous credentials whole, and `save_credentials` stores the new ones
    // once the database is back.
    let mut expiring = stored.clone();
    expiring.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    store.save_user(&expiring).await.unwrap();
    // As stored (PostgreSQL keeps microseconds).
    let expiring = store.load_user(&account).await.unwrap().unwrap();
    let client = client_of(&base, gate.transport(), store.clone(), &account)
        .await
        .unwrap();
    gate.armed.store(true, Ordering::SeqCst);
    let request = {
        let client = client.clone();
        tokio::spawn(async move { client.account_verify_credentials().await })
    };
    gate.answered.notified().await;
    pg.crash().unwrap();
    gate.release.notify_one();
    match request.await.unwrap() {
        Err(Error::Store(StoreError::Backend { backend, .. })) => assert_eq!(backend, "postgres"),
        other => panic!("expected the store's error, got {other:?}"),
    }
    assert_eq!(refreshes(&instance), 2);
    let third = client.access_token().unwrap();
    assert_ne!(third, second);
    client.account_verify_credentials().await.unwrap();
    pg.restart().unwrap();
    let (store_ref, account_ref) = (&store, &account);
    let kept = once_back(|| async move { Ok(store_ref.load_user(account_ref).await?) })
        .await
        .unwrap();
    assert_eq!(
        kept, expiring,
        "the stored credentials are whole and unchanged"
    );
    once_back(|| client.save_credentials()).await;
    let stored = store.load_user(&account).await.unwrap().unwrap();
    assert_eq!(stored.access_token, third);
    assert!(stored.expires_at.unwrap() > SystemTime::now());
    assert_eq!(refreshes(&instance), 2);
}
