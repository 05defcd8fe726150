//! The credential store contract (`mastodon_auth_tests::store_contract`) against the stores of
//! this crate that keep several accounts.

use std::sync::atomic::{AtomicUsize, Ordering};

use mastodon_auth_store::{AccountsFile, MemoryStore};
use mastodon_auth_tests::store_contract;

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    store_contract::check(|| async { MemoryStore::new() }).await;
}

#[tokio::test]
async fn accounts_file_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    store_contract::check(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        let store = AccountsFile::open(dir.path().join(format!("accounts-{n}.json")));
        async move { store }
    })
    .await;
}
