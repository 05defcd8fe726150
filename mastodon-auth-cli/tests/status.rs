//! `status` with many accounts on many instances.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{binary, run, seed_accounts};
use mastodon_auth::bytes::Bytes;
use mastodon_auth::http;
use mastodon_auth_tests::{Behaviour, TestServer};

/// Holds every arrival until `parties` have arrived, or gives up after a while (then the
/// instance answers 503): the servers answer only if they are asked at the same time.
struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    parties: usize,
}

impl Rendezvous {
    fn arrive(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (arrived, wait) = self
            .all_here
            .wait_timeout_while(arrived, Duration::from_secs(10), |n| *n < self.parties)
            .unwrap();
        drop(arrived);
        !wait.timed_out()
    }
}

async fn instance(rendezvous: Arc<Rendezvous>) -> TestServer {
    let answer = Arc::new(move |request: &http::request::Parts| {
        let json = |status: u16, body: &str| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json; charset=utf-8")
                .body(Bytes::from(body.to_owned()))
                .unwrap()
        };
        match request.uri.path() {
            // Off the runtime's worker, whose queued tasks (another server's connection)
            // would otherwise wait with it.
            "/api/v1/accounts/verify_credentials"
                if tokio::task::block_in_place(|| rendezvous.arrive()) =>
            {
                json(
                    200,
                    r#"{"id":"1","username":"alice","acct":"alice","display_name":"Alice","url":null}"#,
                )
            }
            "/api/v1/accounts/verify_credentials" => json(503, r#"{"error":"asked alone"}"#),
            _ => json(404, r#"{"error":"Record not found"}"#),
        }
    });
    TestServer::plain(Behaviour::Http(answer)).await.unwrap()
}

/// Issue 25: twenty accounts on twenty instances that each answered after 200 ms took 12 s,
/// one account after another. Each of these instances answers only while all are asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn status_checks_the_instances_at_once() {
    const INSTANCES: usize = 4;
    let rendezvous = Arc::new(Rendezvous {
        arrived: Mutex::new(0),
        all_here: Condvar::new(),
        parties: INSTANCES,
    });
    let mut servers = Vec::new();
    for _ in 0..INSTANCES {
        servers.push(instance(rendezvous.clone()).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let bases: Vec<String> = servers.iter().map(|s| s.url("http", "")).collect();
    let keys: Vec<String> = bases
        .iter()
        .map(|base| format!("alice@{}", base.trim_start_matches("http://")))
        .collect();
    let users: Vec<(&str, &str, &str)> = keys
        .iter()
        .zip(&bases)
        .map(|(key, base)| (key.as_str(), base.as_str(), "token"))
        .collect();
    seed_accounts(dir.path(), &users, Some(&keys[0]));

    let mut status = binary(dir.path());
    status.args(["status", "--json"]);
    let (code, out, err) = run(status, "").await;
    assert_eq!(code, 0, "{err}");
    let reports: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let checked: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r["account"].as_str().unwrap(), r["token"].as_str().unwrap()))
        .collect();
    let mut expected: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "valid")).collect();
    expected.sort_unstable();
    assert_eq!(
        checked, expected,
        "in the store's order, every token checked: {out}"
    );
}
