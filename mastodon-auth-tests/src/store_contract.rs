//! The contract every credential store keeps, as a test suite a store's author runs in one
//! line.
//!
//! [`check`] drives a store through [`CredentialStore`]
//! and [`AccountDirectory`] the way the client and an account switcher do, and fails with
//! every rule the store breaks:
//!
//! - apps are kept per instance (the same host on another port is another instance), come
//!   back exactly as saved, and saving one again replaces it, fields and all;
//! - users are kept per account and come back exactly, secrets included (quotes, backslashes,
//!   non-ASCII, white space at either end, 4 KiB tokens); the expiry to the second;
//! - saving a user replaces that account's credentials (nothing of the old ones is merged in)
//!   and makes it the active account;
//! - switching to a known account makes it active; switching to an unknown one is
//!   [`StoreError::UnknownAccount`] and changes nothing;
//! - removing an account forgets it (and the active account if it was that one), reports
//!   whether it was there, and leaves the apps alone;
//! - a user without an account name is either refused with [`StoreError::AccountRequired`]
//!   or kept as the active user without appearing in the account list;
//! - concurrent saves of different accounts are all kept;
//! - an account's lease ([`lease_user`](mastodon_auth_core::CredentialStore::lease_user))
//!   reads what is stored (nothing for an unknown account), stores what is saved through it
//!   before it is released, stores nothing when dropped, excludes every other lease of the
//!   account while held (read-modify-writes under it lose no update), and is released when
//!   dropped, when the future taking it is dropped while it waits, and when a future holding
//!   it is dropped. When two stores of the factory share their data (what one saves the
//!   other loads, as two processes on one database or file), leases taken through either
//!   exclude each other: [`check_lease`] checks that on two handles a test opens itself.
//!
//! Each rule gets a store of its own from the factory and works on instances of its own
//! (`caseN-<random>.store-contract.example`), so the factory may hand out stores over one
//! shared database: nothing the suite checks depends on what else the database holds, except
//! the active account, which each rule sets itself.
//!
//! ```
//! use mastodon_auth_store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! mastodon_auth_tests::store_contract::check(|| async { MemoryStore::new() }).await;
//! # }
//! ```

use std::fmt::{Debug, Write as _};
use std::future::Future;
use std::time::{Duration, UNIX_EPOCH};

use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, AppCredentials, ClientCredentials, CredentialStore,
    InstanceUrl, RefreshToken, Scopes, StoreError, UserCredentials,
};

/// What one rule found: `Err` says what the store did instead.
type Outcome = Result<(), String>;

/// Runs every rule of the contract against stores made by `new_store` (called once per rule).
///
/// # Panics
/// When the store breaks a rule; the message lists each broken rule and what the store did.
pub async fn check<S, F, Fut>(new_store: F)
where
    S: AccountDirectory,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let (broken, rules) = broken_rules(new_store).await;
    assert!(
        broken.is_empty(),
        "the store breaks {} of the {rules} rules of the credential store contract:\n- {}",
        broken.len(),
        broken.join("\n- ")
    );
}

/// Runs the lease rules of the contract on two handles of one store's data (two processes, as
/// far as the store can tell: two connections to one database, the same file opened twice;
/// or two clones of one in-memory store): leases taken through either exclude each other, and
/// what one saves under its lease the other reads under its own. For a store of one account
/// (a Mastodon.py token file) too: it needs no [`AccountDirectory`].
///
/// ```
/// use mastodon_auth_store::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// mastodon_auth_tests::store_contract::check_lease(&store, &store.clone()).await;
/// # }
/// ```
///
/// # Panics
/// When the store breaks a rule; the message lists each broken rule and what the store did.
pub async fn check_lease(first: &dyn CredentialStore, second: &dyn CredentialStore) {
    let run = Run::new();
    let mut broken = Vec::new();
    let rules = lease_rules(first, second, &run, 0, &mut broken).await;
    assert!(
        broken.is_empty(),
        "the store breaks {} of the {rules} lease rules of the credential store contract:\n- {}",
        broken.len(),
        broken.join("\n- ")
    );
}

/// Runs the lease rules on `first` and `second` (the same store, or two handles of its data),
/// numbering their namespaces after `before`; adds each broken one to `broken` and returns how
/// many rules there are.
async fn lease_rules(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    run: &Run,
    before: usize,
    broken: &mut Vec<String>,
) -> usize {
    let mut rules = 0;
    macro_rules! lease_rule {
        ($($name:ident),+ $(,)?) => {$(
            rules += 1;
            let ns = run.namespace(before + rules);
            if let Err(why) = $name(first, second, &ns).await {
                broken.push(format!("{}: {why}", stringify!($name).replace('_', " ")));
            }
        )+};
    }
    lease_rule!(
        a_lease_reads_what_is_stored,
        a_lease_stores_what_is_saved_through_it,
        a_dropped_lease_stores_nothing,
        leases_of_an_account_exclude_each_other,
        a_lease_is_released_when_its_futures_are_dropped,
    );
    rules
}

/// Each broken rule with what the store did, and how many rules there are.
async fn broken_rules<S, F, Fut>(mut new_store: F) -> (Vec<String>, usize)
where
    S: AccountDirectory,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let run = Run::new();
    let mut broken = Vec::new();
    let mut rules = 0;
    macro_rules! rule {
        ($($name:ident),+ $(,)?) => {$(
            rules += 1;
            let store = new_store().await;
            let ns = run.namespace(rules);
            if let Err(why) = $name(&store, &ns).await {
                broken.push(format!("{}: {why}", stringify!($name).replace('_', " ")));
            }
        )+};
    }
    rule!(
        an_app_comes_back_exactly,
        saving_an_app_again_replaces_it,
        apps_are_kept_per_instance,
        a_user_comes_back_exactly,
        secrets_round_trip_exactly,
        saving_a_user_replaces_it_and_makes_it_active,
        users_are_kept_per_account,
        switching_the_active_account,
        unknown_accounts_are_reported,
        removing_an_account_forgets_it,
        a_user_without_an_account_is_refused_or_kept_unnamed,
        concurrent_saves_are_all_kept,
    );
    // The lease rules, with a second store when the factory's stores share their data.
    let first = new_store().await;
    let other = new_store().await;
    rules += 1;
    let shared = match shares_data(&first, &other, &run.namespace(rules)).await {
        Ok(shared) => shared,
        Err(why) => {
            broken.push(format!("two stores of the factory: {why}"));
            false
        }
    };
    let second: &dyn CredentialStore = if shared { &other } else { &first };
    rules += lease_rules(&first, second, &run, rules, &mut broken).await;
    (broken, rules)
}

/// One run of the suite: a random name keeps its data apart from earlier runs' in a database
/// that outlives the test.
struct Run {
    nonce: String,
}

impl Run {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        // Without an OS random source the data of two runs could meet; the clock still
        // separates runs of one machine.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = UNIX_EPOCH.elapsed().unwrap_or_default().subsec_nanos();
            bytes = nanos.to_be_bytes();
        }
        Self {
            nonce: bytes.iter().fold(String::new(), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            }),
        }
    }

    fn namespace(&self, rule: usize) -> Namespace {
        Namespace {
            host: format!("case{rule}-{}.store-contract.example", self.nonce),
        }
    }
}

/// The instances and accounts of one rule.
struct Namespace {
    host: String,
}

impl Namespace {
    /// `https://<host>`.
    fn instance(&self) -> InstanceUrl {
        parse_instance(&format!("https://{}", self.host))
    }

    /// The same host on port 8443: another instance.
    fn other_instance(&self) -> InstanceUrl {
        parse_instance(&format!("https://{}:8443", self.host))
    }

    /// A user of [`instance`](Self::instance) with only a token.
    fn user(&self, name: &str, token: &str) -> UserCredentials {
        let instance = self.instance();
        UserCredentials::new(instance.clone(), AccessToken::new(token))
            .with_account(account(name, &instance))
    }

    /// Whether `key` is one of this rule's accounts.
    fn owns(&self, key: &AccountKey) -> bool {
        key.host()
            .strip_prefix(self.host.as_str())
            .is_some_and(|rest| rest.is_empty() || rest == ":8443")
    }

    /// This rule's accounts in the store's list, in the store's order.
    async fn listed(&self, store: &dyn AccountDirectory) -> Result<Vec<AccountKey>, String> {
        let all = call("list_users", store.list_users().await)?;
        Ok(all.into_iter().filter(|k| self.owns(k)).collect())
    }
}

fn parse_instance(url: &str) -> InstanceUrl {
    url.parse()
        .unwrap_or_else(|e| panic!("the suite's own instance URL {url}: {e}"))
}

/// `user@<host>` on `instance`.
fn account(user: &str, instance: &InstanceUrl) -> AccountKey {
    AccountKey::new(user, instance)
        .unwrap_or_else(|e| panic!("the suite's own account key for {user}: {e}"))
}

/// A store call that must succeed.
fn call<T>(what: &str, result: Result<T, StoreError>) -> Result<T, String> {
    result.map_err(|e| format!("{what} failed: {e} ({e:?})"))
}

#[allow(clippy::needless_pass_by_value)] // Called with temporaries: `expect_eq(.., store.x().await?, ..)`.
fn expect_eq<T: PartialEq + Debug>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

/// The fields in which `got` differs from `want`, secrets compared by value.
fn app_diff(got: &AppCredentials, want: &AppCredentials) -> Vec<&'static str> {
    let mut diff = Vec::new();
    if got.instance != want.instance {
        diff.push("instance");
    }
    if got.client.id != want.client.id {
        diff.push("client_id");
    }
    if got.client.secret.expose() != want.client.secret.expose() {
        diff.push("client_secret");
    }
    if got.name != want.name {
        diff.push("name");
    }
    if got.scopes != want.scopes {
        diff.push("scopes");
    }
    if got.redirect_uris != want.redirect_uris {
        diff.push("redirect_uris");
    }
    diff
}

fn user_diff(got: &UserCredentials, want: &UserCredentials) -> Vec<&'static str> {
    let id = |u: &UserCredentials| u.client.as_ref().map(|c| c.id.clone());
    let secret = |u: &UserCredentials| u.client.as_ref().map(|c| c.secret.expose().to_owned());
    let mut diff = Vec::new();
    if got.instance != want.instance {
        diff.push("instance");
    }
    if got.account != want.account {
        diff.push("account");
    }
    if got.access_token.expose() != want.access_token.expose() {
        diff.push("access_token");
    }
    if got.refresh_token.as_ref().map(RefreshToken::expose)
        != want.refresh_token.as_ref().map(RefreshToken::expose)
    {
        diff.push("refresh_token");
    }
    if got.expires_at != want.expires_at {
        diff.push("expires_at");
    }
    if got.scopes != want.scopes {
        diff.push("scopes");
    }
    if id(got) != id(want) {
        diff.push("client_id");
    }
    if secret(got) != secret(want) {
        diff.push("client_secret");
    }
    diff
}

/// `loaded` must be `Some` and equal `want` in every field.
fn expect_app(what: &str, loaded: Option<AppCredentials>, want: &AppCredentials) -> Outcome {
    let got = loaded.ok_or_else(|| format!("{what}: nothing came back"))?;
    match app_diff(&got, want).as_slice() {
        [] => Ok(()),
        fields => Err(format!("{what}: {} differ", fields.join(", "))),
    }
}

/// `loaded` must be `Some` and equal `want` in every field.
fn expect_user(what: &str, loaded: Option<UserCredentials>, want: &UserCredentials) -> Outcome {
    let got = loaded.ok_or_else(|| format!("{what}: nothing came back"))?;
    match user_diff(&got, want).as_slice() {
        [] => Ok(()),
        fields => Err(format!("{what}: {} differ", fields.join(", "))),
    }
}

fn scopes(list: &str) -> Scopes {
    list.parse()
        .unwrap_or_else(|e| panic!("the suite's own scopes {list:?}: {e}"))
}

/// An app with every field set.
fn full_app(instance: InstanceUrl) -> AppCredentials {
    let mut app = AppCredentials::new(instance, ClientCredentials::new("client-id-1", "secret-1"))
        .with_name("Contract App");
    app.scopes = Some(scopes("read write:statuses profile"));
    app.redirect_uris = vec![
        "urn:ietf:wg:oauth:2.0:oob".into(),
        "http://127.0.0.1/callback".into(),
    ];
    app
}

/// A user with every field set; the expiry is a whole second, the precision stores keep.
fn full_user(ns: &Namespace, name: &str, token: &str) -> UserCredentials {
    let mut user = ns
        .user(name, token)
        .with_client(ClientCredentials::new("client-id-1", "secret-1"));
    user.refresh_token = Some(RefreshToken::new(format!("refresh-{token}")));
    user.expires_at = Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    user.scopes = Some(scopes("read write"));
    user
}

async fn an_app_comes_back_exactly(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let before = call("load_app", store.load_app(&ns.instance()).await)?;
    expect_eq("load_app before any save_app", before.is_some(), false)?;
    let app = full_app(ns.instance());
    call("save_app", store.save_app(&app).await)?;
    expect_app(
        "load_app",
        call("load_app", store.load_app(&ns.instance()).await)?,
        &app,
    )
}

async fn saving_an_app_again_replaces_it(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    call("save_app", store.save_app(&full_app(ns.instance())).await)?;
    // No name, scopes or redirect URIs: none of the first app's may survive.
    let second = AppCredentials::new(
        ns.instance(),
        ClientCredentials::new("client-id-2", "secret-2"),
    );
    call("save_app", store.save_app(&second).await)?;
    expect_app(
        "load_app after saving another app for the instance",
        call("load_app", store.load_app(&ns.instance()).await)?,
        &second,
    )
}

async fn apps_are_kept_per_instance(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let app = full_app(ns.instance());
    call("save_app", store.save_app(&app).await)?;
    let other = call("load_app", store.load_app(&ns.other_instance()).await)?;
    expect_eq(
        "load_app for the same host on another port (another instance)",
        other.map(|a| a.client.id),
        None,
    )?;
    let on_port = AppCredentials::new(ns.other_instance(), ClientCredentials::new("port-app", "s"));
    call("save_app", store.save_app(&on_port).await)?;
    expect_app(
        "load_app for the first instance after saving the second's",
        call("load_app", store.load_app(&ns.instance()).await)?,
        &app,
    )?;
    expect_app(
        "load_app for the second instance",
        call("load_app", store.load_app(&ns.other_instance()).await)?,
        &on_port,
    )
}

async fn a_user_comes_back_exactly(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let user = full_user(ns, "alice", "token-a");
    let key = account("alice", &ns.instance());
    let before = call("load_user", store.load_user(&key).await)?;
    expect_eq("load_user before any save_user", before.is_some(), false)?;
    call("save_user", store.save_user(&user).await)?;
    expect_user(
        "load_user",
        call("load_user", store.load_user(&key).await)?,
        &user,
    )?;
    expect_user(
        "load_active_user",
        call("load_active_user", store.load_active_user().await)?,
        &user,
    )?;
    expect_eq(
        "active_user",
        call("active_user", store.active_user().await)?,
        Some(key.clone()),
    )?;
    expect_eq("list_users", ns.listed(store).await?, vec![key])
}

async fn secrets_round_trip_exactly(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    // What a careless store trims, unquotes, escapes twice or cuts.
    let tricky = [
        " leading and trailing white space\t",
        "quotes \" ' and back\\slashes \\\" and 100% + & = ; ,",
        "ünïcödé → 秘密 🔑",
        "line\nbreak and \r carriage return",
    ];
    let long = "x".repeat(4096);
    for (i, secret) in tricky.iter().copied().chain([long.as_str()]).enumerate() {
        let name = format!("user{i}");
        let mut user = ns
            .user(&name, secret)
            .with_client(ClientCredentials::new(format!("id {secret}"), secret));
        user.refresh_token = Some(RefreshToken::new(secret));
        call("save_user", store.save_user(&user).await)?;
        let key = account(&name, &ns.instance());
        expect_user(
            &format!("load_user of secret #{i}"),
            call("load_user", store.load_user(&key).await)?,
            &user,
        )?;
        let app = AppCredentials::new(ns.instance(), ClientCredentials::new(secret, secret));
        call("save_app", store.save_app(&app).await)?;
        expect_app(
            &format!("load_app of secret #{i}"),
            call("load_app", store.load_app(&ns.instance()).await)?,
            &app,
        )?;
    }
    Ok(())
}

async fn saving_a_user_replaces_it_and_makes_it_active(
    store: &dyn AccountDirectory,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    let bob = account("bob", &ns.instance());
    call(
        "save_user",
        store.save_user(&full_user(ns, "alice", "t1")).await,
    )?;
    let bob_user = ns.user("bob", "t2");
    call("save_user", store.save_user(&bob_user).await)?;
    expect_eq(
        "active_user after saving bob",
        call("active_user", store.active_user().await)?,
        Some(bob.clone()),
    )?;
    // Only a token this time: the first save's refresh token, expiry and client must go.
    let again = ns.user("alice", "t3");
    call("save_user", store.save_user(&again).await)?;
    expect_eq(
        "active_user after saving alice again",
        call("active_user", store.active_user().await)?,
        Some(alice.clone()),
    )?;
    expect_user(
        "load_user of the replaced account",
        call("load_user", store.load_user(&alice).await)?,
        &again,
    )?;
    expect_user(
        "load_active_user",
        call("load_active_user", store.load_active_user().await)?,
        &again,
    )?;
    expect_user(
        "load_user of the other account",
        call("load_user", store.load_user(&bob).await)?,
        &bob_user,
    )
}

async fn users_are_kept_per_account(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    // The same user name on another port is another account.
    let other = ns.other_instance();
    let users = [
        ns.user("alice", "t-alice"),
        UserCredentials::new(other.clone(), AccessToken::new("t-alice-8443"))
            .with_account(account("alice", &other)),
        ns.user("bob", "t-bob"),
    ];
    for user in &users {
        call("save_user", store.save_user(user).await)?;
    }
    expect_each_loads(store, &users, "").await?;
    let mut listed = ns.listed(store).await?;
    expect_eq(
        "list_users called twice (a stable order)",
        &ns.listed(store).await?,
        &listed,
    )?;
    listed.sort();
    expect_eq("list_users", listed, sorted_keys(&users))
}

/// Every user in `users` loads back exactly by its account.
async fn expect_each_loads(
    store: &dyn AccountDirectory,
    users: &[UserCredentials],
    when: &str,
) -> Outcome {
    for user in users {
        let Some(key) = &user.account else { continue };
        expect_user(
            &format!("load_user({key}){when}"),
            call("load_user", store.load_user(key).await)?,
            user,
        )?;
    }
    Ok(())
}

fn sorted_keys(users: &[UserCredentials]) -> Vec<AccountKey> {
    let mut keys: Vec<AccountKey> = users.iter().filter_map(|u| u.account.clone()).collect();
    keys.sort();
    keys
}

async fn switching_the_active_account(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let alice_user = full_user(ns, "alice", "t-alice");
    let alice = account("alice", &ns.instance());
    call("save_user", store.save_user(&alice_user).await)?;
    call("save_user", store.save_user(&ns.user("bob", "t-bob")).await)?;
    call("set_active_user", store.set_active_user(&alice).await)?;
    expect_eq(
        "active_user after switching to alice",
        call("active_user", store.active_user().await)?,
        Some(alice.clone()),
    )?;
    expect_user(
        "load_active_user after switching to alice",
        call("load_active_user", store.load_active_user().await)?,
        &alice_user,
    )?;
    // Switching to the active account again changes nothing.
    call("set_active_user", store.set_active_user(&alice).await)?;
    expect_eq(
        "active_user after switching to alice twice",
        call("active_user", store.active_user().await)?,
        Some(alice),
    )
}

async fn unknown_accounts_are_reported(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let alice = account("alice", &ns.instance());
    let carol = account("carol", &ns.instance());
    call("save_user", store.save_user(&ns.user("alice", "t")).await)?;
    expect_eq(
        "load_user of an unknown account",
        call("load_user", store.load_user(&carol).await)?.is_some(),
        false,
    )?;
    match store.set_active_user(&carol).await {
        Err(StoreError::UnknownAccount(named)) if named == carol => {}
        other => {
            return Err(format!(
                "set_active_user of an unknown account: got {other:?}, expected UnknownAccount({carol})"
            ));
        }
    }
    expect_eq(
        "active_user after failing to switch",
        call("active_user", store.active_user().await)?,
        Some(alice),
    )?;
    expect_eq(
        "remove_user of an unknown account",
        call("remove_user", store.remove_user(&carol).await)?,
        false,
    )
}

async fn removing_an_account_forgets_it(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let alice = account("alice", &ns.instance());
    let bob = account("bob", &ns.instance());
    let app = full_app(ns.instance());
    call("save_app", store.save_app(&app).await)?;
    call("save_user", store.save_user(&ns.user("alice", "t1")).await)?;
    call("save_user", store.save_user(&ns.user("bob", "t2")).await)?;

    expect_eq(
        "remove_user of an inactive account",
        call("remove_user", store.remove_user(&alice).await)?,
        true,
    )?;
    expect_eq(
        "load_user after remove_user",
        call("load_user", store.load_user(&alice).await)?.is_some(),
        false,
    )?;
    expect_eq(
        "list_users after remove_user",
        ns.listed(store).await?,
        vec![bob.clone()],
    )?;
    expect_eq(
        "active_user after removing another account",
        call("active_user", store.active_user().await)?,
        Some(bob.clone()),
    )?;
    expect_eq(
        "remove_user of an account already removed",
        call("remove_user", store.remove_user(&alice).await)?,
        false,
    )?;

    expect_eq(
        "remove_user of the active account",
        call("remove_user", store.remove_user(&bob).await)?,
        true,
    )?;
    expect_eq(
        "active_user after removing the active account",
        call("active_user", store.active_user().await)?,
        None,
    )?;
    expect_eq(
        "load_active_user after removing the active account",
        call("load_active_user", store.load_active_user().await)?.is_some(),
        false,
    )?;
    expect_app(
        "load_app after removing every account",
        call("load_app", store.load_app(&ns.instance()).await)?,
        &app,
    )
}

async fn a_user_without_an_account_is_refused_or_kept_unnamed(
    store: &dyn AccountDirectory,
    ns: &Namespace,
) -> Outcome {
    let unnamed = UserCredentials::new(ns.instance(), AccessToken::new("t-unnamed"));
    match store.save_user(&unnamed).await {
        Err(StoreError::AccountRequired) => {}
        Ok(()) => {
            expect_user(
                "load_active_user after saving a user without an account",
                call("load_active_user", store.load_active_user().await)?,
                &unnamed,
            )?;
            expect_eq(
                "active_user after saving a user without an account",
                call("active_user", store.active_user().await)?,
                None,
            )?;
            expect_eq(
                "list_users after saving a user without an account",
                ns.listed(store).await?,
                Vec::new(),
            )?;
        }
        Err(e) => {
            return Err(format!(
                "save_user without an account: got {e:?}, expected Ok or AccountRequired"
            ));
        }
    }
    let named = ns.user("alice", "t-alice");
    call("save_user", store.save_user(&named).await)?;
    expect_user(
        "load_active_user after saving a named user",
        call("load_active_user", store.load_active_user().await)?,
        &named,
    )
}

async fn concurrent_saves_are_all_kept(store: &dyn AccountDirectory, ns: &Namespace) -> Outcome {
    let users = ["u0", "u1", "u2", "u3"].map(|name| ns.user(name, &format!("t-{name}")));
    let [a, b, c, d] = &users;
    let results = tokio::join!(
        store.save_user(a),
        store.save_user(b),
        store.save_user(c),
        store.save_user(d),
    );
    for result in <[_; 4]>::from(results) {
        call("save_user (concurrent)", result)?;
    }
    let mut listed = ns.listed(store).await?;
    listed.sort();
    expect_eq(
        "list_users after concurrent saves",
        listed,
        sorted_keys(&users),
    )?;
    expect_each_loads(store, &users, " after concurrent saves").await?;
    let active = call("active_user", store.active_user().await)?;
    expect_eq(
        "active_user after concurrent saves is one of them",
        active.is_some_and(|k| users.iter().any(|u| u.account.as_ref() == Some(&k))),
        true,
    )
}

// ---- The lease ----

/// How long a rule waits for a lease that must be free before it reports a lease that was
/// never released (instead of hanging): a bound, not a measurement.
const RELEASE_BOUND: Duration = Duration::from_secs(60);

/// Whether what `first` saves, `second` loads: two handles of one store's data.
async fn shares_data(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Result<bool, String> {
    let probe = ns.user("probe", &format!("probe-{}", ns.host));
    call("save_user", first.save_user(&probe).await)?;
    let key = account("probe", &ns.instance());
    let seen = call("load_user", second.load_user(&key).await)?;
    Ok(seen.is_some_and(|u| u.access_token.expose() == probe.access_token.expose()))
}

/// Takes `account`'s lease through `store`, reporting a lease never released as such.
async fn lease_within_bound<'s>(
    store: &'s dyn CredentialStore,
    account: &AccountKey,
    what: &str,
) -> Result<Box<dyn mastodon_auth_core::UserLease + 's>, String> {
    match tokio::time::timeout(RELEASE_BOUND, store.lease_user(account)).await {
        Ok(lease) => call("lease_user", lease),
        Err(_) => Err(format!(
            "{what}: the lease was still held after {} s",
            RELEASE_BOUND.as_secs()
        )),
    }
}

/// The access token the account's lease reads through `store` (then released).
async fn leased_token(
    store: &dyn CredentialStore,
    account: &AccountKey,
    what: &str,
) -> Result<Option<String>, String> {
    let lease = lease_within_bound(store, account, what).await?;
    Ok(lease.current().map(|u| u.access_token.expose().to_owned()))
}

/// The access token `store` loads for `account`.
async fn loaded_token(
    store: &dyn CredentialStore,
    account: &AccountKey,
) -> Result<Option<String>, String> {
    let user = call("load_user", store.load_user(account).await)?;
    Ok(user.map(|u| u.access_token.expose().to_owned()))
}

/// Whether `store` keeps users by account: a store of one user (a Mastodon.py token file)
/// loads it whatever account is asked for.
async fn keeps_accounts(store: &dyn CredentialStore, ns: &Namespace) -> Result<bool, String> {
    Ok(loaded_token(store, &account("nobody", &ns.instance()))
        .await?
        .is_none())
}

async fn a_lease_reads_what_is_stored(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    call(
        "save_user",
        first.save_user(&ns.user("alice", "t-leased")).await,
    )?;
    expect_eq(
        "current() of the lease",
        leased_token(second, &alice, "lease_user").await?,
        Some("t-leased".to_owned()),
    )?;
    if !keeps_accounts(first, ns).await? {
        return Ok(());
    }
    let carol = account("carol", &ns.instance());
    expect_eq(
        "current() of an unknown account's lease",
        leased_token(first, &carol, "lease_user of an unknown account").await?,
        None,
    )
}

async fn a_lease_stores_what_is_saved_through_it(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    call(
        "save_user",
        first.save_user(&ns.user("alice", "t-old")).await,
    )?;
    let lease = lease_within_bound(first, &alice, "lease_user").await?;
    let mut refreshed = lease
        .current()
        .cloned()
        .ok_or("current() of a lease of a stored account is None")?;
    refreshed.access_token = AccessToken::new("t-new");
    call("save through the lease", lease.save(&refreshed).await)?;
    expect_eq(
        "load_user after saving through the lease",
        loaded_token(second, &alice).await?,
        Some("t-new".to_owned()),
    )?;
    expect_eq(
        "current() of the next lease",
        leased_token(second, &alice, "lease_user after a save").await?,
        Some("t-new".to_owned()),
    )?;
    if !keeps_accounts(first, ns).await? {
        return Ok(());
    }
    // An account the store did not hold: saved through its lease, it is kept.
    let bob = account("bob", &ns.instance());
    let lease = lease_within_bound(first, &bob, "lease_user of an unknown account").await?;
    call(
        "save through an unknown account's lease",
        lease.save(&ns.user("bob", "t-bob")).await,
    )?;
    expect_eq(
        "load_user of an account first saved through its lease",
        loaded_token(second, &bob).await?,
        Some("t-bob".to_owned()),
    )
}

async fn a_dropped_lease_stores_nothing(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    call(
        "save_user",
        first.save_user(&ns.user("alice", "t-kept")).await,
    )?;
    let lease = lease_within_bound(first, &alice, "lease_user").await?;
    drop(lease);
    expect_eq(
        "load_user after a lease dropped unsaved",
        loaded_token(second, &alice).await?,
        Some("t-kept".to_owned()),
    )?;
    expect_eq(
        "current() of a lease after one dropped unsaved",
        leased_token(second, &alice, "lease_user after a dropped lease").await?,
        Some("t-kept".to_owned()),
    )
}

async fn leases_of_an_account_exclude_each_other(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    call("save_user", first.save_user(&ns.user("alice", "0")).await)?;
    let inside = std::sync::atomic::AtomicUsize::new(0);
    let overlapped = std::sync::atomic::AtomicBool::new(false);
    // A read-modify-write of a counter under the lease, with a request's worth of time
    // between the read and the write: without exclusion two of them read the same value and
    // an increment is lost.
    let increment = |through_second: bool| {
        let store = if through_second { second } else { first };
        let (alice, inside, overlapped) = (&alice, &inside, &overlapped);
        async move {
            let lease = lease_within_bound(store, alice, "lease_user (concurrent)").await?;
            if inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) != 0 {
                overlapped.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let current = lease
                .current()
                .ok_or("current() of a lease of a stored account is None")?;
            let n: u32 = current
                .access_token
                .expose()
                .parse()
                .map_err(|_| "current() of the lease is not the counter saved".to_owned())?;
            let mut next = current.clone();
            next.access_token = AccessToken::new((n + 1).to_string());
            tokio::time::sleep(Duration::from_millis(20)).await;
            inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            call(
                "save through the lease (concurrent)",
                lease.save(&next).await,
            )
        }
    };
    let results = tokio::join!(
        increment(false),
        increment(true),
        increment(false),
        increment(true),
        increment(false),
        increment(true),
        increment(false),
        increment(true),
    );
    for result in <[_; 8]>::from(results) {
        result?;
    }
    expect_eq(
        "two leases of one account held at once",
        overlapped.load(std::sync::atomic::Ordering::SeqCst),
        false,
    )?;
    expect_eq(
        "the counter after eight increments under the lease (an update was lost)",
        leased_token(first, &alice, "lease_user after the increments").await?,
        Some("8".to_owned()),
    )
}

async fn a_lease_is_released_when_its_futures_are_dropped(
    first: &dyn CredentialStore,
    second: &dyn CredentialStore,
    ns: &Namespace,
) -> Outcome {
    let alice = account("alice", &ns.instance());
    call("save_user", first.save_user(&ns.user("alice", "t")).await)?;

    // A lease taken while another is held waits; the waiting future dropped (the request
    // that needed it cancelled) leaves nothing taken.
    let held = lease_within_bound(first, &alice, "lease_user").await?;
    let waited = tokio::time::timeout(Duration::from_millis(100), second.lease_user(&alice)).await;
    if waited.is_ok() {
        return Err("a second lease of the account was taken while the first was held".into());
    }
    drop(held);
    drop(
        lease_within_bound(
            first,
            &alice,
            "lease_user after a waiting lease was dropped",
        )
        .await?,
    );

    // A future holding the lease, dropped unfinished: the lease goes with it.
    let (entered, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = async {
        let lease = second.lease_user(&alice).await;
        let _ = entered.send(());
        std::future::pending::<()>().await;
        drop(lease);
    };
    tokio::select! {
        () = holder => {}
        _ = entered_rx => {}
    }
    let token = leased_token(first, &alice, "lease_user after its holder was dropped").await?;
    expect_eq(
        "current() after a holder was dropped",
        token,
        Some("t".to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use mastodon_auth_core::CredentialStore;
    use mastodon_auth_store::MemoryStore;

    use super::*;

    /// A store with two classic mistakes: it trims tokens, and says it switched to an account it
    /// does not know.
    struct Sloppy(MemoryStore);

    #[mastodon_auth_core::async_trait]
    impl CredentialStore for Sloppy {
        async fn load_app(
            &self,
            instance: &InstanceUrl,
        ) -> Result<Option<AppCredentials>, StoreError> {
            self.0.load_app(instance).await
        }
        async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
            self.0.save_app(app).await
        }
        async fn load_user(
            &self,
            account: &AccountKey,
        ) -> Result<Option<UserCredentials>, StoreError> {
            self.0.load_user(account).await
        }
        async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
            self.0.load_active_user().await
        }
        async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
            let mut user = user.clone();
            user.access_token = AccessToken::new(user.access_token.expose().trim());
            self.0.save_user(&user).await
        }
        async fn lease_user(
            &self,
            account: &AccountKey,
        ) -> Result<Box<dyn mastodon_auth_core::UserLease + '_>, StoreError> {
            self.0.lease_user(account).await
        }
    }

    #[mastodon_auth_core::async_trait]
    impl AccountDirectory for Sloppy {
        async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
            self.0.list_users().await
        }
        async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
            self.0.active_user().await
        }
        async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
            // Swallows UnknownAccount.
            let _ = self.0.set_active_user(account).await;
            Ok(())
        }
        async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
            self.0.remove_user(account).await
        }
    }

    #[tokio::test]
    async fn the_suite_names_each_broken_rule_and_what_the_store_did() {
        let (broken, rules) = broken_rules(|| async { Sloppy(MemoryStore::new()) }).await;
        assert_eq!(rules, 18);
        assert_eq!(broken.len(), 2, "{broken:#?}");
        assert_eq!(
            broken[0],
            "secrets round trip exactly: load_user of secret #0: access_token differ"
        );
        assert!(
            broken[1].starts_with(
                "unknown accounts are reported: set_active_user of an unknown account: got Ok(())"
            ),
            "{}",
            broken[1]
        );
    }

    /// A store without a lease of its own (the trait's default, which takes none).
    struct Unleased(MemoryStore);

    #[mastodon_auth_core::async_trait]
    impl CredentialStore for Unleased {
        async fn load_app(
            &self,
            instance: &InstanceUrl,
        ) -> Result<Option<AppCredentials>, StoreError> {
            self.0.load_app(instance).await
        }
        async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
            self.0.save_app(app).await
        }
        async fn load_user(
            &self,
            account: &AccountKey,
        ) -> Result<Option<UserCredentials>, StoreError> {
            self.0.load_user(account).await
        }
        async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
            self.0.load_active_user().await
        }
        async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
            self.0.save_user(user).await
        }
    }

    #[tokio::test]
    async fn leases_that_do_not_exclude_each_other_are_reported() {
        let store = Unleased(MemoryStore::new());
        let run = Run::new();
        let mut broken = Vec::new();
        let rules = lease_rules(&store, &store, &run, 0, &mut broken).await;
        assert_eq!(rules, 5);
        assert_eq!(broken.len(), 2, "{broken:#?}");
        assert!(
            broken[0].starts_with("leases of an account exclude each other: "),
            "{}",
            broken[0]
        );
        assert_eq!(
            broken[1],
            "a lease is released when its futures are dropped: a second lease of the account \
             was taken while the first was held"
        );
    }

    #[tokio::test]
    #[should_panic(expected = "the store breaks 2 of the 5 lease rules")]
    async fn check_lease_fails_the_test_of_a_store_without_a_lease() {
        let store = Unleased(MemoryStore::new());
        check_lease(&store, &store).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the store breaks 2 of the 18 rules")]
    async fn check_fails_the_test_of_a_broken_store() {
        check(|| async { Sloppy(MemoryStore::new()) }).await;
    }
}
