//! End to end: the real client stack (`Mastodon` + `HyperTransport` over HTTPS + `Pacer` +
//! stores) against `LocalInstance`, for every server profile, and every fault.

use std::sync::Arc;
use std::time::Duration;

use mastodon_auth_core::{
    AuthorizationRequest, Error, LoginGrant, Mastodon, MastodonBuilder, Password, RateLimitKey,
    RedirectUri, Scopes, TransportError,
};
use mastodon_auth_http::HyperTransport;
use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
use mastodon_auth_store::AccountsFile;
use mastodon_auth_tests::{Approval, Fault, LocalInstance, Profile};

async fn instance(profile: Profile) -> LocalInstance {
    LocalInstance::builder()
        .profile(profile)
        .start()
        .await
        .unwrap()
}

fn transport(instance: &LocalInstance) -> HyperTransport {
    HyperTransport::builder()
        .add_root_pem(instance.ca_certificate_pem().as_bytes())
        .build()
        .unwrap()
}

fn client(instance: &LocalInstance) -> MastodonBuilder {
    Mastodon::builder(instance.base_url()).transport(transport(instance))
}

fn scopes(s: &str) -> Scopes {
    s.parse().unwrap()
}

/// Registers, authorizes through the test hook and the loopback-style redirect, logs in.
async fn code_login(instance: &LocalInstance, client: &Mastodon, wanted: &str) {
    client
        .create_app("e2e")
        .scopes(scopes(wanted))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1/callback"))
        .send()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes(wanted))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1:45678/callback"))
        .build()
        .await
        .unwrap();
    let Approval::Redirect(location) = instance.approve(&url).unwrap() else {
        panic!("no redirect")
    };
    let code = pending.callback(&location).unwrap();
    client
        .log_in(LoginGrant::AuthorizationCode(code))
        .await
        .unwrap();
}

fn password(instance: &LocalInstance, wanted: &str) -> LoginGrant {
    let user = instance.user();
    LoginGrant::Password {
        username: user.email.clone(),
        password: Password::new(user.password.clone()),
        scopes: scopes(wanted),
    }
}

#[tokio::test]
async fn the_whole_flow_over_https_on_current_mastodon() {
    let instance = instance(Profile::Current).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AccountsFile::open(dir.path().join("accounts.json")));
    let client = client(&instance)
        .shared_store(store.clone())
        .rate_limiter(Pacer::new(RateLimitMethod::Wait))
        .build()
        .await
        .unwrap();
    client
        .create_app("e2e")
        .scopes(scopes("read write profile"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1/callback"))
        .send()
        .await
        .unwrap();

    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes("read write profile"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1:40000/callback"))
        .build()
        .await
        .unwrap();
    assert!(pending.uses_pkce(), "current Mastodon advertises S256");
    // The server redirects to the registered loopback URI on another port (RFC 8252).
    let Approval::Redirect(location) = instance.approve(&url).unwrap() else {
        panic!("no redirect")
    };
    assert!(
        location.starts_with("http://127.0.0.1:40000/callback?code="),
        "{location}"
    );
    let code = pending.callback(&location).unwrap();
    client
        .log_in(LoginGrant::AuthorizationCode(code))
        .await
        .unwrap();
    let token_request = instance
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth/token")
        .unwrap();
    assert!(
        token_request.form("code_verifier").is_some(),
        "the PKCE verifier went to the token endpoint"
    );

    let account = client.account_verify_credentials().await.unwrap();
    assert_eq!(account.username, instance.user().username);
    assert_eq!(client.app_verify_credentials().await.unwrap().name, "e2e");
    let info = client.oauth_userinfo().await.unwrap();
    assert_eq!(
        info.preferred_username.as_deref(),
        Some(instance.user().username.as_str())
    );

    let saved = client.save_credentials().await.unwrap();
    assert_eq!(
        saved.account.as_ref().unwrap().to_string(),
        format!(
            "alice@{}",
            instance.base_url().trim_start_matches("https://")
        )
    );

    let reloaded = Mastodon::builder(instance.base_url())
        .transport(transport(&instance))
        .shared_store(Arc::new(AccountsFile::open(
            dir.path().join("accounts.json"),
        )))
        .build()
        .await
        .unwrap();
    assert_eq!(reloaded.access_token(), client.access_token());
    assert_eq!(
        reloaded.account_verify_credentials().await.unwrap().id,
        account.id
    );

    reloaded.revoke_access_token().await.unwrap();
    let err = client.account_verify_credentials().await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        err.api().unwrap().error.as_deref(),
        Some("The access token was revoked")
    );
    instance.shutdown().await;
}

#[tokio::test]
async fn a_wrong_state_or_a_denial_never_reaches_the_token_endpoint() {
    let instance = instance(Profile::Current).await;
    let client = client(&instance).build().await.unwrap();
    client
        .create_app("e2e")
        .scopes(scopes("read"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1/cb"))
        .send()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes("read"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1:1/cb"))
        .build()
        .await
        .unwrap();
    let Approval::Redirect(location) = instance.approve(&url).unwrap() else {
        panic!()
    };
    let forged = location.replace(pending.state().as_str(), "forged-state");
    assert!(matches!(
        pending.callback(&forged),
        Err(Error::StateMismatch)
    ));

    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes("read"))
        .redirect_uri(RedirectUri::from_static("http://127.0.0.1:1/cb"))
        .build()
        .await
        .unwrap();
    let Approval::Redirect(location) = instance.deny(&url).unwrap() else {
        panic!()
    };
    match pending.callback(&location) {
        Err(Error::AuthorizationRefused { error, description }) => {
            assert_eq!(error, mastodon_auth_core::OAuthErrorCode::AccessDenied);
            assert_eq!(
                description.as_deref(),
                Some("The resource owner or authorization server denied the request.")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(instance.requests().iter().all(|r| r.path != "/oauth/token"));
}

#[tokio::test]
async fn mastodon_4_2_without_metadata_falls_back_to_oauth_paths() {
    let instance = instance(Profile::Mastodon4_2).await;
    let client = client(&instance).build().await.unwrap();
    assert!(
        client
            .oauth_authorization_server_info()
            .await
            .unwrap()
            .is_none()
    );
    code_login(&instance, &client, "read write").await;
    assert_eq!(
        client.account_verify_credentials().await.unwrap().username,
        "alice"
    );
    let authorize = client
        .auth_request_url()
        .scopes(scopes("read"))
        .build()
        .await
        .unwrap();
    assert!(
        !authorize.pending.uses_pkce(),
        "no PKCE where the server does not advertise it"
    );
    // The password grant still exists there, and no metadata says otherwise.
    client
        .log_in(password(&instance, "read write"))
        .await
        .unwrap();
    client.revoke_access_token().await.unwrap();
}

#[tokio::test]
async fn mastodon_4_3_password_grant_and_missing_userinfo() {
    let instance = instance(Profile::Mastodon4_3).await;
    let client = client(&instance).build().await.unwrap();
    client
        .create_app("e2e")
        .scopes(scopes("read write profile"))
        .send()
        .await
        .unwrap();
    client
        .log_in(password(&instance, "read write profile"))
        .await
        .unwrap();
    assert_eq!(
        client.account_verify_credentials().await.unwrap().username,
        "alice"
    );
    let err = client.oauth_userinfo().await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let wrong = LoginGrant::Password {
        username: instance.user().email.clone(),
        password: Password::new("not it"),
        scopes: scopes("read"),
    };
    let err = client.log_in(wrong).await.unwrap_err();
    assert!(err.is_authentication());
    assert_eq!(
        err.api().unwrap().oauth_code(),
        Some(mastodon_auth_core::OAuthErrorCode::InvalidGrant)
    );
}

#[tokio::test]
async fn current_mastodon_refuses_the_password_grant_before_sending_it() {
    let instance = instance(Profile::Current).await;
    let client = client(&instance).build().await.unwrap();
    client
        .create_app("e2e")
        .scopes(scopes("read"))
        .send()
        .await
        .unwrap();
    let err = client
        .log_in(password(&instance, "read"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedGrant {
                grant: "password",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no longer supported in Mastodon 4.4.0"),
        "{err}"
    );
    assert!(instance.requests().iter().all(|r| r.path != "/oauth/token"));
}

#[tokio::test]
async fn pleroma_tokens_expire_and_are_refreshed_and_kept_in_the_store() {
    let instance = LocalInstance::builder()
        .profile(Profile::Pleroma)
        .token_lifetime(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AccountsFile::open(dir.path().join("accounts.json")));
    let client = client(&instance)
        .shared_store(store.clone())
        .build()
        .await
        .unwrap();
    assert!(
        client
            .oauth_authorization_server_info()
            .await
            .unwrap()
            .is_none(),
        "HTML at the metadata path"
    );
    client
        .create_app("e2e")
        .scopes(scopes("read write"))
        .send()
        .await
        .unwrap();
    client
        .log_in(password(&instance, "read write"))
        .await
        .unwrap();
    assert!(client.refresh_token().is_some() && client.token_expires_at().is_some());
    let first = client.access_token().unwrap();
    let refreshes = || {
        instance
            .requests()
            .into_iter()
            .filter(|r| r.form("grant_type") == Some("refresh_token"))
            .count()
    };
    // Five seconds is inside the 30 s refresh margin: every request refreshes first. Saving
    // asks who the account is, so it refreshes once, and stores the fresh token.
    let saved = client.save_credentials().await.unwrap();
    assert_eq!(refreshes(), 1);
    assert_ne!(saved.access_token, first);
    assert_eq!(Some(saved.access_token), client.access_token());

    client.account_verify_credentials().await.unwrap();
    assert_eq!(refreshes(), 2);
    let second = client.access_token().unwrap();
    let stored = mastodon_auth_core::CredentialStore::load_active_user(store.as_ref())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.access_token, second,
        "the refreshed token replaced the stored one"
    );
}

#[tokio::test]
async fn gotosocial_epoch_resets_feed_the_pacer() {
    let instance = instance(Profile::GoToSocial).await;
    let pacer = Arc::new(Pacer::new(RateLimitMethod::pace(1.1).unwrap()));
    let client = client(&instance)
        .shared_rate_limiter(pacer.clone())
        .build()
        .await
        .unwrap();
    code_login(&instance, &client, "read").await;
    for _ in 0..3 {
        client.account_verify_credentials().await.unwrap();
    }
    let state = pacer
        .snapshot(RateLimitKey::for_token(&client.access_token().unwrap()))
        .unwrap();
    assert!(state.reset.is_some(), "the epoch reset was understood");
    assert!(state.remaining < 300 && state.limit == 300, "{state:?}");
}

#[tokio::test]
async fn a_burst_of_429s_is_waited_out_or_thrown() {
    // A two-second window, so the wait for the reset is short.
    let instance = LocalInstance::builder()
        .rate_limit(300, Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let waiting = client(&instance)
        .rate_limiter(Pacer::new(RateLimitMethod::Wait).without_quota())
        .build()
        .await
        .unwrap();
    code_login(&instance, &waiting, "read").await;
    let token = waiting.access_token().unwrap();
    instance.inject_on(
        "/api/v1/accounts/verify_credentials",
        Fault::TooManyRequests,
        1,
    );
    // Mastodon's 429 says when the window resets (at most a window away): wait mode sleeps
    // until then and resends.
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        waiting.account_verify_credentials(),
    )
    .await;
    assert!(result.unwrap().is_ok());
    let hits = instance
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/accounts/verify_credentials")
        .count();
    assert_eq!(hits, 2, "the 429, then the resent request");

    let throwing = client(&instance)
        .access_token(token)
        .rate_limiter(Pacer::new(RateLimitMethod::Throw).without_quota())
        .build()
        .await
        .unwrap();
    instance.inject_on(
        "/api/v1/accounts/verify_credentials",
        Fault::TooManyRequests,
        1,
    );
    let err = throwing.account_verify_credentials().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RateLimit(mastodon_auth_core::RateLimitError::Hit { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn every_fault_gives_its_typed_error_and_the_store_keeps_its_credentials() {
    let instance = instance(Profile::Current).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AccountsFile::open(dir.path().join("accounts.json")));
    let small = HyperTransport::builder()
        .add_root_pem(instance.ca_certificate_pem().as_bytes())
        .max_body_size(64 * 1024)
        .build()
        .unwrap();
    let client = Mastodon::builder(instance.base_url())
        .transport(small)
        .shared_store(store.clone())
        .request_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    code_login(&instance, &client, "read").await;
    client.save_credentials().await.unwrap();
    let before = std::fs::read(dir.path().join("accounts.json")).unwrap();
    let path = "/api/v1/accounts/verify_credentials";

    type Expected = fn(&Error) -> bool;
    let cases: Vec<(Fault, Expected)> = vec![
        (Fault::Delay(Duration::from_secs(3)), |e| {
            matches!(e, Error::Network(TransportError::Timeout { .. }))
        }),
        (Fault::ResetConnection, |e| {
            matches!(e, Error::Network(TransportError::ConnectionClosed { .. }))
        }),
        (Fault::HtmlError(502), |e| {
            e.api()
                .is_some_and(|a| a.kind() == mastodon_auth_core::ApiErrorKind::BadGateway)
        }),
        (Fault::HtmlError(503), |e| {
            e.api()
                .is_some_and(|a| a.kind() == mastodon_auth_core::ApiErrorKind::ServiceUnavailable)
        }),
        (
            Fault::MalformedJson,
            |e| matches!(e, Error::MalformedResponse(m) if m.problem.contains("truncated")),
        ),
        (Fault::TruncatedJson, |e| {
            matches!(e, Error::Network(TransportError::ConnectionClosed { .. }))
        }),
        (Fault::Oversized(1 << 20), |e| {
            matches!(e, Error::Network(TransportError::BodyTooLarge { .. }))
        }),
        (Fault::TooManyRequests, |e| matches!(e, Error::RateLimit(_))),
    ];
    for (fault, expected) in cases {
        instance.inject_on(path, fault, 1);
        let err = client.account_verify_credentials().await.unwrap_err();
        assert!(expected(&err), "{fault:?} gave {err:?}");
        assert!(
            !err.to_string()
                .contains(client.access_token().unwrap().expose())
        );
        // The client and the store are unharmed: the next request works.
        client.account_verify_credentials().await.unwrap();
    }
    assert_eq!(
        std::fs::read(dir.path().join("accounts.json")).unwrap(),
        before,
        "nothing stored was touched"
    );
}
