//! The cassette loader and the replay server.

mod common;

use std::path::PathBuf;

use common::RawClient;
use mastodon_auth_tests::{Cassette, CassetteError, ReplayServer};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cassettes")
}

#[test]
fn every_fixture_cassette_parses() {
    let mut count = 0;
    for dir in ["mastodon-4.7.3", "mastodon-pre-4.4"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).expect("fixture dir") {
            let path = entry.expect("entry").path();
            let c = Cassette::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!c.interactions.is_empty(), "{}", path.display());
            count += 1;
        }
    }
    assert_eq!(count, 15);
}

#[test]
fn load_errors_name_the_file_and_the_problem() {
    let missing = Cassette::load("/nonexistent/cassette.yaml").expect_err("missing");
    assert!(matches!(missing, CassetteError::Io { .. }));
    assert!(missing.to_string().contains("/nonexistent/cassette.yaml"));
    let bad = Cassette::parse("interactions:\n- request: {method: GET}\n").expect_err("bad");
    assert!(bad.to_string().contains("interactions[0]"), "{bad}");
}

#[tokio::test]
async fn replays_in_order_rewrites_origin_and_records_requests() {
    let cassette =
        Cassette::load(fixtures().join("mastodon-pre-4.4/test_zzz_revoke.yaml")).expect("load");
    let recorded = cassette.clone();
    let server = ReplayServer::start(cassette).await.expect("start");
    let c = RawClient::new(&server.base_url(), "");

    let meta = c.get("/anything", None).await;
    assert_eq!(meta.status, 200);
    assert_eq!(
        meta.json()["token_endpoint"],
        format!("{}/oauth/token", server.base_url())
    );
    assert_eq!(
        meta.header("cache-control"),
        Some("max-age=0, private, must-revalidate")
    );

    let tok = c
        .post_form(
            "/oauth/token",
            &[("grant_type", "password"), ("username", "u")],
            None,
        )
        .await;
    assert_eq!(tok.text(), recorded.interactions[1].response.body);
    for _ in 2..recorded.interactions.len() {
        c.get("/next", Some("t")).await;
    }
    let last = &recorded.interactions[recorded.interactions.len() - 1].response;
    assert_eq!(last.status, 401);
    let done = c.get("/extra", None).await;
    assert_eq!(
        (done.status, done.text().as_str()),
        (500, r#"{"error":"replay: no more recorded interactions"}"#)
    );
    assert_eq!(server.remaining(), 0);

    let sent = server.requests();
    assert_eq!(sent.len(), recorded.interactions.len() + 1);
    assert_eq!(sent[1].method, "POST");
    assert_eq!(sent[1].path, "/oauth/token");
    assert_eq!(
        sent[1].form()[0],
        ("grant_type".to_owned(), "password".to_owned())
    );
    assert_eq!(sent[2].header("authorization"), Some("Bearer t"));
    server.shutdown().await;
}
