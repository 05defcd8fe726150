//! The cost of many accounts: `AccountsFile` load/save with 10,000 accounts in the file,
//! `MemoryStore` and `Pacer` heap per account. Runs in its own process (the `accounts` role)
//! with the counting allocator on, so no other work moves the heap.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mastodon_auth_core::{
    AccessToken, AccountKey, ClientCredentials, CredentialStore, InstanceUrl, RateLimitInfo,
    RateLimitKey, RateLimiter, StoreError, UserCredentials,
};
use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
use mastodon_auth_store::{AccountsFile, MemoryStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alloc;
use crate::child::ROLE_ENV;
use crate::runtime::BoxError;

/// Accounts per measurement.
pub(crate) const ACCOUNTS: usize = 10_000;
/// Timed `AccountsFile` operations per kind (each reads, and a save also rewrites, the file).
pub(crate) const FILE_OPS: u32 = 20;
/// Instances the accounts are spread over.
const INSTANCES: usize = 100;

/// What the `accounts` role reports.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    pub memory_store_bytes: f64,
    pub memory_store_save: Duration,
    pub memory_store_load: Duration,
    pub pacer_bytes: f64,
    pub file: FileReport,
    /// When the full-size file was refused: the same measured at the largest size accepted.
    pub file_fit: Option<FileReport>,
}

/// `AccountsFile` with `accounts` users in the file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FileReport {
    pub accounts: usize,
    pub file_bytes: u64,
    /// Per `load_user`, or the error that refused it.
    pub load: Result<Duration, String>,
    /// Per `save_user` (replacing one account), or the error that refused it.
    pub save: Result<Duration, String>,
}

/// A realistic account: 43-character token, client id and secret (Mastodon's lengths),
/// scopes, spread over [`INSTANCES`] instances.
pub(crate) fn user(i: usize) -> Result<UserCredentials, BoxError> {
    let instance = InstanceUrl::parse(&format!("https://host{}.example", i % INSTANCES))?;
    let account = AccountKey::new(&format!("user{i}"), &instance)?;
    let secret = |kind: &str| format!("{kind}{i:0>40}");
    let mut user = UserCredentials::new(instance, AccessToken::new(secret("tok")))
        .with_account(account)
        .with_client(ClientCredentials::new(secret("cid"), secret("sec")));
    user.scopes = Some("read write".parse()?);
    Ok(user)
}

/// The `accounts` role: measures and prints one JSON [`Report`] line.
pub(crate) fn child() -> ExitCode {
    alloc::enable();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("accounts: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime
        .block_on(measure_all())
        .and_then(|r| Ok(serde_json::to_string(&r)?))
    {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accounts: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the `accounts` role in a child process and reads its report.
pub(crate) fn run_child() -> Result<Report, BoxError> {
    let output = Command::new(std::env::current_exe()?)
        .env(ROLE_ENV, "accounts")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("the accounts child failed ({})", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

async fn measure_all() -> Result<Report, BoxError> {
    let (memory_store_bytes, memory_store_save, memory_store_load) = memory_store().await?;
    let pacer_bytes = pacer().await?;
    let dir = tempfile::Builder::new()
        .prefix("mastodon-auth-bench-")
        .tempdir()?;
    let path = dir.path().join("accounts.json");
    let file = accounts_file(&path, ACCOUNTS).await?;
    let file_fit = match (&file.load, file.file_bytes) {
        (Err(_), bytes) if bytes > 0 => {
            let per_account = bytes / u64::try_from(ACCOUNTS)?;
            let limit = mastodon_auth_store::atomic::MAX_FILE_SIZE;
            // Round down to whole thousands, leaving room for the file's frame.
            let fit = usize::try_from(limit / per_account.max(1))? / 1000 * 1000;
            Some(accounts_file(&path, fit.max(1000)).await?)
        }
        _ => None,
    };
    Ok(Report {
        memory_store_bytes,
        memory_store_save,
        memory_store_load,
        pacer_bytes,
        file,
        file_fit,
    })
}

#[allow(clippy::cast_precision_loss)] // heap sizes and counts are far below 2^52
fn per_account(bytes: isize, accounts: usize) -> f64 {
    bytes as f64 / accounts as f64
}

fn per_op(total: Duration, ops: usize) -> Duration {
    total / u32::try_from(ops).unwrap_or(u32::MAX).max(1)
}

async fn memory_store() -> Result<(f64, Duration, Duration), BoxError> {
    let keys: Vec<AccountKey> = (0..ACCOUNTS)
        .map(|i| user(i).map(|u| u.account))
        .collect::<Result<Option<Vec<_>>, _>>()?
        .ok_or("a generated user has no account")?;
    let store = MemoryStore::new();
    let before = alloc::live();
    let start = Instant::now();
    for i in 0..ACCOUNTS {
        // Built outside the timed store call would be fairer, but then the heap delta would
        // include the caller's copies; building costs the same for every store.
        store.save_user(&user(i)?).await?;
    }
    let save = per_op(start.elapsed(), ACCOUNTS);
    let bytes = alloc::live() - before;
    let start = Instant::now();
    for key in &keys {
        std::hint::black_box(store.load_user(key).await?);
    }
    let load = per_op(start.elapsed(), ACCOUNTS);
    Ok((per_account(bytes, ACCOUNTS), save, load))
}

async fn pacer() -> Result<f64, BoxError> {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-ratelimit-limit", http::HeaderValue::from_static("300"));
    headers.insert(
        "x-ratelimit-remaining",
        http::HeaderValue::from_static("299"),
    );
    headers.insert(
        "x-ratelimit-reset",
        http::HeaderValue::from_static("2030-01-01T00:05:00.000000Z"),
    );
    let keys: Vec<RateLimitKey> = (0..ACCOUNTS)
        .map(|i| RateLimitKey::for_token(&AccessToken::new(format!("tok{i:0>40}"))))
        .collect();
    // The default pacer (wait, with the per-key 300 per 5 minutes quota), as a client
    // holding many accounts would have it.
    let pacer = Pacer::new(RateLimitMethod::Wait);
    let before = alloc::live();
    for key in &keys {
        pacer.before_request(*key).await?;
        pacer
            .after_response(
                *key,
                http::StatusCode::OK,
                RateLimitInfo::from_headers(&headers),
            )
            .await?;
    }
    let bytes = alloc::live() - before;
    if pacer.len() != ACCOUNTS {
        return Err(format!("the pacer holds {} keys, not {ACCOUNTS}", pacer.len()).into());
    }
    Ok(per_account(bytes, ACCOUNTS))
}

/// Writes a file with `accounts` users in the store's own format, then times loads and saves.
pub(crate) async fn accounts_file(path: &PathBuf, accounts: usize) -> Result<FileReport, BoxError> {
    let _ = std::fs::remove_file(path);
    let store = AccountsFile::open(path);
    // Learn the on-disk shape of an entry from the store itself, then repeat it: saving
    // 10,000 accounts one by one would rewrite the whole file 10,000 times.
    store.save_user(&user(0)?).await?;
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let users = doc
        .get_mut("users")
        .and_then(Value::as_object_mut)
        .ok_or("the accounts file has no `users` object")?;
    let template = users
        .values()
        .next()
        .cloned()
        .ok_or("the accounts file lost the saved user")?;
    users.clear();
    for i in 0..accounts {
        let u = user(i)?;
        let mut entry = template.clone();
        if let Value::Object(map) = &mut entry {
            map.insert("instance".into(), Value::String(u.instance.to_string()));
            map.insert("access_token".into(), u.access_token.expose().into());
            if let Some(client) = &u.client {
                map.insert("client_id".into(), client.id.as_str().into());
                map.insert("client_secret".into(), client.secret.expose().into());
            }
        }
        let key = u
            .account
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        users.insert(key, entry);
    }
    // Written directly, 0600 like the store's own files (the file holds fake tokens only).
    mastodon_auth_store::atomic::write_atomic(path, serde_json::to_string(&doc)?.as_bytes())?;
    let file_bytes = std::fs::metadata(path)?.len();

    let ops = usize::try_from(FILE_OPS)?;
    let load = timed(ops, |n| {
        let store = &store;
        async move {
            let u = user(n * 7919 % accounts)?;
            let key = u.account.ok_or("a generated user has no account")?;
            match store.load_user(&key).await? {
                Some(found) if found.access_token == u.access_token => Ok(()),
                _ => Err("a saved account did not load back".into()),
            }
        }
    })
    .await;
    let save = timed(ops, |n| {
        let store = &store;
        async move {
            let mut u = user(n * 104_729 % accounts)?;
            u.access_token = AccessToken::new(format!("new{n:0>40}"));
            store.save_user(&u).await.map_err(BoxError::from)
        }
    })
    .await;
    Ok(FileReport {
        accounts,
        file_bytes,
        load,
        save,
    })
}

/// Time per call of `op` over `ops` calls, or the first error (as text: it names the file,
/// never its content).
pub(crate) async fn timed<F, Fut>(ops: usize, mut op: F) -> Result<Duration, String>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let start = Instant::now();
    for n in 0..ops {
        op(n)
            .await
            .map_err(|e| match e.downcast_ref::<StoreError>() {
                Some(StoreError::TooLarge { size, limit, .. }) => {
                    format!("file is {size} bytes, over the store's {limit}-byte limit")
                }
                _ => e.to_string(),
            })?;
    }
    Ok(per_op(start.elapsed(), ops))
}
