//! Times a save and a load on each file store (run with `--release`; numbers vary by disk).
use std::time::Instant;

use mastodon_auth_core::{AccessToken, CredentialStore, UserCredentials};
use mastodon_auth_store::{AccountsFile, MastodonPyFiles};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let accounts = AccountsFile::open(dir.path().join("accounts.json"));
    let py = MastodonPyFiles::user_only(dir.path().join("usercred.secret"));
    const N: u32 = 200;
    for (name, store) in [
        ("AccountsFile", &accounts as &dyn CredentialStore),
        ("MastodonPyFiles", &py),
    ] {
        let start = Instant::now();
        for i in 0..N {
            let user = UserCredentials::new(
                "https://e.example".parse()?,
                AccessToken::new(format!("t{i}")),
            )
            .with_account(format!("u{}@e.example", i % 20).parse()?);
            store.save_user(&user).await?;
        }
        let save = start.elapsed() / N;
        let start = Instant::now();
        for _ in 0..N {
            store.load_active_user().await?;
        }
        println!("{name}: save {save:?}, load {:?}", start.elapsed() / N);
    }
    Ok(())
}
