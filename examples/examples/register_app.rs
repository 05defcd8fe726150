//! Register an application once, and keep its credentials in a Mastodon.py client file
//! (Mastodon.py's `create_app(..., to_file=...)`).
//!
//! ```text
//! cargo run --example register_app [-- --instance URL]
//! ```

use mastodon_auth::{Mastodon, MastodonPyFiles, Scopes};

mod setup;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = setup::target().await?;
    let path = std::env::temp_dir().join(format!("clientcred-{}.secret", std::process::id()));
    let client = Mastodon::builder(&target.base_url)
        .transport(target.transport)
        .store(MastodonPyFiles::client_only(&path))
        .build()
        .await?;
    let app = client
        .create_app("My Bot Application")
        .scopes(Scopes::default())
        .send()
        .await?;
    println!("Registered: client id {}", app.client_id);
    println!(
        "Client credentials written to {} (mode 0600), in Mastodon.py's format",
        path.display()
    );
    std::fs::remove_file(&path)?;
    Ok(())
}
