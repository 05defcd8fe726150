//! Conformance against recorded real traffic: for each auth-related cassette, the client
//! performs the operation Mastodon.py performed against a server replaying the recorded
//! answers. The client must send the same requests (method, path, query, form fields as a
//! multiset, without Mastodon.py's junk `oauth_info` fields) and make of the answers what the
//! recording says.

use mastodon_auth_core::{
    LoginGrant, Mastodon, MastodonBuilder, Password, Scopes, VersionCheckMode,
};
use mastodon_auth_store::MastodonPyFiles;
use mastodon_auth_tests::{Cassette, Interaction, ReplayServer, ReplayedRequest};

const CLIENT_ID: &str = "__MASTODON_PY_TEST_CLIENT_ID";
const CLIENT_SECRET: &str = "__MASTODON_PY_TEST_CLIENT_SECRET";

fn cassette(name: &str) -> Cassette {
    Cassette::recorded(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Keeps the recorded interactions the test's operation makes, by index.
fn only(mut c: Cassette, keep: &[usize]) -> Cassette {
    c.interactions = keep.iter().map(|&i| c.interactions[i].clone()).collect();
    c
}

fn builder(server: &ReplayServer) -> MastodonBuilder {
    Mastodon::builder(server.base_url())
        .transport(mastodon_auth_http::HyperTransport::new().unwrap())
}

fn multiset(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .into_iter()
        .filter(|(k, _)| k != "oauth_info")
        .collect();
    v.sort();
    v
}

/// Every request the client sent equals the recorded one, and nothing was left unasked.
fn assert_same_requests(server: &ReplayServer, recorded: &Cassette) {
    let sent: Vec<ReplayedRequest> = server.requests();
    assert_eq!(
        sent.len(),
        recorded.interactions.len(),
        "number of requests"
    );
    for (got, want) in sent.iter().zip(&recorded.interactions) {
        let want = &want.request;
        let got_target = match &got.query {
            Some(q) => format!("{}?{q}", got.path),
            None => got.path.clone(),
        };
        assert_eq!(
            (got.method.as_str(), got_target.as_str()),
            (want.method.as_str(), want.path_and_query())
        );
        let want_form = form_urlencoded::parse(want.body.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            multiset(got.form()),
            multiset(want_form),
            "form of {} {}",
            want.method,
            want.uri
        );
    }
    assert_eq!(server.remaining(), 0);
}

fn recorded_json(c: &Cassette, i: usize) -> serde_json::Value {
    serde_json::from_str(&c.interactions[i].response.body).unwrap()
}

/// A stand-in for a recording Mastodon.py did not need: the metadata document answered 404,
/// as servers before 4.3 do. Our `log_in` always consults the metadata first.
fn without_metadata(c: &Cassette) -> Interaction {
    let mut i = c.interactions[0].clone();
    i.request.method = "GET".into();
    i.request.uri = "http://localhost:3000/.well-known/oauth-authorization-server".into();
    i.request.body = None;
    i.response.status = 404;
    i.response.message = "Not Found".into();
    i.response.headers = vec![(
        "content-type".into(),
        vec!["application/json; charset=utf-8".into()],
    )];
    i.response.body = r#"{"error":"Not Found"}"#.into();
    i
}

#[tokio::test]
async fn app_registration_and_client_credentials_token() {
    let mut recorded = only(
        cassette("mastodon-4.7.3/test_app_account_create.yaml"),
        &[0, 1],
    );
    let metadata = without_metadata(&recorded);
    recorded.interactions.insert(1, metadata);
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .user_agent("mastodonpy")
        .build()
        .await
        .unwrap();
    let app = client
        .create_app("mastodon.py generated test app")
        .send()
        .await
        .unwrap();
    let answer = recorded_json(&recorded, 0);
    assert_eq!(app.client_id, answer["client_id"].as_str().unwrap());
    assert_eq!(
        app.client_secret.expose(),
        answer["client_secret"].as_str().unwrap()
    );
    let token = client
        .log_in(LoginGrant::ClientCredentials {
            scopes: Scopes::default(),
        })
        .await
        .unwrap();
    assert_eq!(
        token.expose(),
        recorded_json(&recorded, 2)["access_token"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        client.granted_scopes().unwrap().to_string(),
        "read write follow push"
    );
    assert_same_requests(&server, &recorded);
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some("mastodonpy")
    );
}

#[tokio::test]
async fn app_verify_credentials() {
    let recorded = cassette("mastodon-4.7.3/test_app_verify_credentials.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .access_token("__MASTODON_PY_TEST_ACCESS_TOKEN")
        .build()
        .await
        .unwrap();
    let app = client.app_verify_credentials().await.unwrap();
    let answer = recorded_json(&recorded, 0);
    assert_eq!(app.name, answer["name"].as_str().unwrap());
    assert_eq!(app.id.as_deref(), answer["id"].as_str());
    assert_eq!(
        app.scopes.as_ref().unwrap().len(),
        answer["scopes"].as_array().unwrap().len()
    );
    assert_same_requests(&server, &recorded);
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer __MASTODON_PY_TEST_ACCESS_TOKEN")
    );
}

#[tokio::test]
async fn auth_request_url_from_metadata_equals_the_fallback() {
    // Mastodon.py's test: the URL built from the metadata and the one built without it agree.
    let recorded = only(cassette("mastodon-4.7.3/test_auth_request_url.yaml"), &[0]);
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .unwrap();
    let (discovered, pending) = client.auth_request_url().pkce(false).build().await.unwrap();
    let (fallback, _) = client
        .auth_request_url()
        .pkce(false)
        .skip_server_info(true)
        .build()
        .await
        .unwrap();
    let strip_state = |u: &str| {
        u.replace(pending.state(), "")
            .split("&state=")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(strip_state(&discovered), strip_state(&fallback));
    assert!(discovered.starts_with(&format!(
        "{}/oauth/authorize?client_id={CLIENT_ID}&response_type=code",
        server.base_url()
    )));
    assert_same_requests(&server, &recorded);
    // Mastodon.py refuses the http endpoints of this development server without allow_http;
    // this client follows the transport's policy instead: plain HTTP to loopback needs no flag.
    let again = ReplayServer::start(recorded).await.unwrap();
    let loopback = Mastodon::builder(again.base_url())
        .transport(mastodon_auth_http::HyperTransport::new().unwrap())
        .client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .unwrap();
    let (url, _) = loopback.auth_request_url().build().await.unwrap();
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", again.base_url())),
        "{url}"
    );
}

#[tokio::test]
async fn verify_credentials_twice() {
    let recorded = cassette("mastodon-4.7.3/test_verify_credentials.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .access_token("__MASTODON_PY_TEST_ACCESS_TOKEN")
        .build()
        .await
        .unwrap();
    for i in 0..2 {
        let account = client.account_verify_credentials().await.unwrap();
        let answer = recorded_json(&recorded, i);
        assert_eq!(account.id, answer["id"].as_str().unwrap());
        assert_eq!(account.acct, answer["acct"].as_str().unwrap());
    }
    assert_same_requests(&server, &recorded);
}

#[tokio::test]
async fn version_is_read_once_for_three_checks() {
    let recorded = cassette("mastodon-4.7.3/test_verify_version.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .access_token("__MASTODON_PY_TEST_ACCESS_TOKEN")
        .version_check_mode(VersionCheckMode::Created)
        .build()
        .await
        .unwrap();
    assert!(client.verify_minimum_version("2.3.3").await.unwrap());
    assert!(
        !client
            .verify_minimum_version("9999.9999.9999")
            .await
            .unwrap()
    );
    assert!(client.verify_minimum_version("1.0.0").await.unwrap());
    assert_eq!(
        client.mastodon_version().unwrap().to_string(),
        recorded_json(&recorded, 0)["version"].as_str().unwrap()
    );
    assert_eq!(
        client.api_version(),
        recorded_json(&recorded, 1)["api_versions"]["mastodon"].as_u64()
    );
    assert_same_requests(&server, &recorded);
}

fn password_grant() -> LoginGrant {
    LoginGrant::Password {
        username: "mastodonpy_test_2@localhost".into(),
        password: Password::new("5fc638e0e53eafd9c4145b6bb852667d"),
        scopes: Scopes::default(),
    }
}

#[tokio::test]
async fn password_login_on_a_pre_4_4_server() {
    let recorded = cassette("mastodon-pre-4.4/test_log_in_password.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .unwrap();
    let token = client.log_in(password_grant()).await.unwrap();
    assert_eq!(
        token.expose(),
        recorded_json(&recorded, 1)["access_token"]
            .as_str()
            .unwrap()
    );
    assert_same_requests(&server, &recorded);
}

#[tokio::test]
async fn wrong_password_on_a_pre_4_4_server() {
    let recorded = cassette("mastodon-pre-4.4/test_log_in_password_incorrect.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .unwrap();
    let grant = LoginGrant::Password {
        username: "admin@localhost".into(),
        password: Password::new("hunter2"),
        scopes: Scopes::default(),
    };
    let err = client.log_in(grant).await.unwrap_err();
    let answer = recorded_json(&recorded, 1);
    let api = err.api().unwrap();
    assert_eq!(api.error.as_deref(), answer["error"].as_str());
    assert_eq!(
        api.error_description.as_deref(),
        answer["error_description"].as_str()
    );
    assert!(err.is_authentication());
    assert_same_requests(&server, &recorded);
}

#[tokio::test]
async fn password_login_to_file_writes_a_working_mastodon_py_token_file() {
    let recorded = cassette("mastodon-pre-4.4/test_log_in_password_to_file.yaml");
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let user_file = dir.path().join("usercred.secret");
    let client = builder(&server)
        .client(CLIENT_ID, CLIENT_SECRET)
        .store(MastodonPyFiles::user_only(&user_file))
        .build()
        .await
        .unwrap();
    client.log_in(password_grant()).await.unwrap();
    // Saving learns the account first: the recorded verify_credentials.
    client.save_credentials().await.unwrap();
    let text = std::fs::read_to_string(&user_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        recorded_json(&recorded, 1)["access_token"]
            .as_str()
            .unwrap()
    );
    assert_eq!(lines[1], server.base_url());
    assert_eq!(&lines[2..], [CLIENT_ID, CLIENT_SECRET]);
    assert_same_requests(&server, &recorded);
}

#[tokio::test]
async fn revoke_then_the_old_token_is_refused() {
    // Recorded: metadata, password login, metadata again, revoke, then status posts (not
    // part of this library). Our client keeps the metadata, so it asks once.
    let full = cassette("mastodon-pre-4.4/test_zzz_revoke.yaml");
    let recorded = only(full.clone(), &[0, 1, 3]);
    let server = ReplayServer::start(recorded.clone()).await.unwrap();
    let client = builder(&server)
        .client(CLIENT_ID, CLIENT_SECRET)
        .build()
        .await
        .unwrap();
    client.log_in(password_grant()).await.unwrap();
    client.revoke_access_token().await.unwrap();
    assert_eq!(client.access_token(), None);
    assert_same_requests(&server, &recorded);
    assert_eq!(
        server.requests()[2].header("authorization"),
        Some("Bearer __MASTODON_PY_TEST_ACCESS_TOKEN_3")
    );
}
