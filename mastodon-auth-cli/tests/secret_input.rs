//! Secrets read from stdin: never echoed at a terminal, bounded when piped.

mod common;

use common::{Env, binary, run};
use mastodon_auth_tests::{LocalInstance, Profile};

/// A token made by a first login, as the web interface would show it.
async fn a_token(env: &Env) -> String {
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let (code, token, err) = env.run(&["token"], "").await;
    assert_eq!(code, 0, "{err}");
    token.trim().to_owned()
}

#[tokio::test]
async fn a_secret_piped_beyond_64_kib_is_refused_before_anything_is_sent() {
    let env = Env::new(LocalInstance::builder().profile(Profile::Current)).await;
    let huge = "a".repeat(300 * 1024) + "\n";
    let (code, out, err) = env
        .run(&["login", "--with-token", "--instance", &env.base()], &huge)
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("longer than 64 KiB"), "{err}");
    assert!(
        err.len() < 1024,
        "the message quotes none of the input: {err}"
    );
    assert_eq!(env.requests_to("/api/v1/accounts/verify_credentials"), 0);
}

/// 300 MB on stdin used to be read whole (892 MB resident) and, under an address-space limit,
/// aborted the process. Run under `prlimit` (util-linux) where it is installed.
#[tokio::test]
async fn a_pipe_far_larger_than_memory_allows_ends_in_the_same_refusal() {
    let Ok(prlimit) = which("prlimit") else {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    };
    let env = Env::new(LocalInstance::builder().profile(Profile::Current)).await;
    let mut cmd = tokio::process::Command::new(prlimit);
    cmd.arg("--as=209715200")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mastodon-auth"))
        .arg("--config")
        .arg(env.config())
        .args(["login", "--with-token", "--instance", &env.base()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let (code, _, err) = run(cmd, "a".repeat(300 * 1024 * 1024)).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("longer than 64 KiB"), "{err}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or(())
}

#[cfg(unix)]
mod terminal {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use rustix::termios::{LocalModes, tcgetattr};

    use super::*;

    /// A pseudo-terminal: the master end the test types into and reads the screen from, and
    /// the terminal end the binary gets as its stdin.
    fn pty() -> (File, File) {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let terminal = File::options()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        (File::from(master), terminal)
    }

    fn echoes(master: &File) -> bool {
        tcgetattr(master)
            .unwrap()
            .local_modes
            .contains(LocalModes::ECHO)
    }

    /// Waits (bounded: a hang fails the test) until the binary has turned echo off.
    async fn wait_for_echo_off(master: &File) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while echoes(master) {
            assert!(Instant::now() < deadline, "echo was never turned off");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the terminal showed, read until the binary and every copy of the terminal
    /// end are gone.
    fn screen(mut master: File) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut shown = Vec::new();
            let mut buf = [0; 4096];
            // Linux answers EIO once the other end is closed.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&shown).into_owned()
        })
    }

    #[tokio::test]
    async fn a_token_typed_at_a_terminal_is_not_echoed_and_echo_comes_back() {
        let env = Env::new(LocalInstance::builder().profile(Profile::Current)).await;
        let token = a_token(&env).await;
        let other = env.dir.path().join("other");
        let (mut master, terminal) = pty();
        let mut cmd = binary(&other);
        cmd.arg("--ca-cert")
            .arg(env.ca())
            .args(["login", "--with-token", "--instance", &env.base()])
            .stdin(Stdio::from(terminal));
        let child = cmd.spawn().unwrap();
        drop(cmd); // the test's copy of the terminal end
        wait_for_echo_off(&master).await;
        master.write_all(format!("{token}\n").as_bytes()).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the binary ended")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("Enter the access token:"), "{stderr}");
        assert!(echoes(&master), "the terminal's echo was put back");
        let shown = screen(master).join().unwrap();
        assert!(!shown.contains(&token), "the token was echoed: {shown:?}");
        let mut stored = binary(&other);
        stored.arg("token");
        assert_eq!(
            run(stored, "").await.1.trim(),
            token,
            "the typed token was kept"
        );
    }

    #[tokio::test]
    async fn ctrl_c_while_echo_is_off_puts_the_terminal_back() {
        let env = Env::new(LocalInstance::builder().profile(Profile::Current)).await;
        let (master, terminal) = pty();
        let mut cmd = binary(env.dir.path());
        cmd.args(["login", "--with-token", "--instance", &env.base()])
            .stdin(Stdio::from(terminal));
        let child = cmd.spawn().unwrap();
        drop(cmd);
        wait_for_echo_off(&master).await;
        let pid = rustix::process::Pid::from_raw(child.id().unwrap().try_into().unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the binary ended")
            .unwrap();
        assert_eq!(out.status.code(), Some(130));
        assert!(echoes(&master), "the terminal's echo was put back");
    }
}
