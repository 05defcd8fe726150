//! `mastodon-auth-dev-server`: a local Mastodon-compatible instance to try a client on.
//!
//! ```text
//! cargo run -p mastodon-auth-tests --bin mastodon-auth-dev-server -- [--port N] [--https]
//!     [--ca-file PATH] [--profile NAME] [--auto-approve]
//! ```
//!
//! It serves [`LocalInstance`] on 127.0.0.1 (plain HTTP unless `--https`, which writes the
//! instance's CA certificate to a file for the client to trust), with Mastodon's sign-in and
//! approval pages for a person in a browser, or with `--auto-approve` approving every login at
//! once for scripts. It prints the address and the test user's e-mail and password, and stops
//! on Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use mastodon_auth_tests::{LocalInstance, Profile};

const USAGE: &str = "\
usage: mastodon-auth-dev-server [--port N] [--https] [--ca-file PATH] [--profile NAME] [--auto-approve]

  --port N         listen on 127.0.0.1:N (default: a free port)
  --https          serve HTTPS with a generated CA (default: plain HTTP)
  --ca-file PATH   where --https writes the CA certificate (default: mastodon-auth-dev-ca.pem)
  --profile NAME   the server to play: current (default), mastodon-4.3, mastodon-4.2,
                   pleroma, gotosocial
  --auto-approve   approve every authorization at once (no sign-in page), for scripts";

#[derive(Debug)]
struct Options {
    port: u16,
    https: bool,
    ca_file: PathBuf,
    profile: Profile,
    auto_approve: bool,
}

fn profile(name: &str) -> Option<Profile> {
    Some(match name {
        "current" | "mastodon" => Profile::Current,
        "mastodon-4.3" | "4.3" => Profile::Mastodon4_3,
        "mastodon-4.2" | "4.2" => Profile::Mastodon4_2,
        "pleroma" | "akkoma" => Profile::Pleroma,
        "gotosocial" => Profile::GoToSocial,
        _ => return None,
    })
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        https: false,
        ca_file: PathBuf::from("mastodon-auth-dev-ca.pem"),
        profile: Profile::Current,
        auto_approve: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--port" => {
                let port = value("--port")?;
                options.port = port
                    .parse()
                    .map_err(|_| format!("--port {port:?} is not a port number"))?;
            }
            "--https" => options.https = true,
            "--ca-file" => options.ca_file = PathBuf::from(value("--ca-file")?),
            "--profile" => {
                let name = value("--profile")?;
                options.profile = profile(&name).ok_or(format!("unknown profile {name:?}"))?;
            }
            "--auto-approve" => options.auto_approve = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mastodon-auth-dev-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let instance = match LocalInstance::builder()
        .profile(options.profile)
        .https(options.https)
        .port(options.port)
        .auto_approve(options.auto_approve)
        .record_requests(false)
        .start()
        .await
    {
        Ok(instance) => instance,
        Err(e) => {
            eprintln!("mastodon-auth-dev-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = instance.base_url();
    let mut trust = String::new();
    if options.https {
        if let Err(e) = std::fs::write(&options.ca_file, instance.ca_certificate_pem()) {
            eprintln!(
                "mastodon-auth-dev-server: cannot write {}: {e}",
                options.ca_file.display()
            );
            instance.shutdown().await;
            return ExitCode::FAILURE;
        }
        trust = format!(" --ca-cert {}", options.ca_file.display());
    }
    let user = instance.user();
    println!(
        "Serving {:?} ({}) at {base}",
        options.profile,
        instance.profile().version()
    );
    if options.auto_approve {
        println!(
            "Every authorization is approved at once, as {}.",
            user.email
        );
    } else {
        println!(
            "Sign in as {} with the password: {}",
            user.email, user.password
        );
    }
    println!("Try: mastodon-auth{trust} login --instance {base}");
    println!("Ctrl-C stops it.");
    let _ = tokio::signal::ctrl_c().await;
    instance.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_read_as_documented() {
        let o = parse(args("--port 3000 --https --profile pleroma --auto-approve")).unwrap();
        assert_eq!(
            (o.port, o.https, o.profile, o.auto_approve),
            (3000, true, Profile::Pleroma, true)
        );
        assert!(parse(args("--port x")).unwrap_err().contains("not a port"));
        assert!(
            parse(args("--profile misskey"))
                .unwrap_err()
                .contains("unknown profile")
        );
        assert!(parse(args("--port")).unwrap_err().contains("needs a value"));
        assert_eq!(parse(args("--help")).unwrap_err(), "");
    }
}
