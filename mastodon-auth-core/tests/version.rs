//! Version retrieval: the recorded answers, fallbacks, and never a retry loop.

mod support;

use mastodon_auth_core::{Error, VersionCheckMode, VersionError};
use support::{Recorded as _, Script, cassette};

#[tokio::test]
async fn created_mode_asks_once_and_caches() {
    let script = Script::new();
    for r in cassette("mastodon-4.7.3/test_verify_version.yaml") {
        script.then(r.answer());
    }
    let client = script
        .builder("http://localhost:3000")
        .access_token("T")
        .version_check_mode(VersionCheckMode::Created)
        .build()
        .await
        .unwrap();
    assert_eq!(client.mastodon_version().unwrap().to_string(), "4.7.3");
    assert_eq!(client.api_version(), Some(11));
    // Three checks, as in Mastodon.py's test: still only the two recorded requests.
    assert!(client.verify_minimum_version("2.3.3").await.unwrap());
    assert!(
        !client
            .verify_minimum_version("9999.9999.9999")
            .await
            .unwrap()
    );
    assert!(client.verify_minimum_version_cached("1.0.0").await.unwrap());
    let paths: Vec<String> = script.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/api/v1/instance/", "/api/v2/instance/"]);
}

#[tokio::test]
async fn a_failing_instance_endpoint_falls_back_to_1_0_0_without_looping() {
    let script = Script::new();
    script.json(
        401,
        r#"{"error":"This method requires an authenticated user"}"#,
    );
    script.json(
        401,
        r#"{"error":"This method requires an authenticated user"}"#,
    );
    let client = script
        .builder("social.example")
        .version_check_mode(VersionCheckMode::Created)
        .build()
        .await
        .unwrap();
    assert_eq!(client.mastodon_version().unwrap().to_string(), "1.0.0");
    assert_eq!(script.seen().len(), 2, "exactly one attempt, never a loop");
    // The version gate now refuses newer endpoints without a request.
    let err = client.app_verify_credentials().await.unwrap_err();
    assert!(matches!(
        &err,
        Error::Version(VersionError::TooOld { required, known })
            if *required == (2, 0, 0) && *known == (1, 0, 0)
    ));
    assert_eq!(
        err.to_string(),
        "Version check failed (Need Mastodon instance version 2.0.0 to call this endpoint)"
    );
    assert_eq!(script.seen().len(), 2);
    // The cached check takes the fallback as an answer; the plain one asks again.
    assert!(client.verify_minimum_version_cached("1.0.0").await.unwrap());
    assert_eq!(script.seen().len(), 2);
    script.json(200, r#"{"version":"4.4.0"}"#).json(404, "{}");
    assert!(client.verify_minimum_version("4.4.0").await.unwrap());
    assert_eq!(script.seen().len(), 4);
    assert!(client.version_is_known());
}

#[tokio::test]
async fn odd_version_strings_do_not_fail_the_client() {
    for (raw, expected) in [
        ("2.7.2 (compatible; Pleroma 2.5.0)", "2.7.2"),
        ("0.17.3", "0.17.3"),
        ("4.2", "4.2.0"),
        ("florence", "1.0.0"),
    ] {
        let script = Script::new();
        script.json(200, &format!(r#"{{"version":"{raw}"}}"#));
        script.json(404, "{}");
        let client = script
            .builder("social.example")
            .version_check_mode(VersionCheckMode::Changed)
            .build()
            .await
            .unwrap();
        assert_eq!(
            client.mastodon_version().unwrap().to_string(),
            expected,
            "{raw}"
        );
    }
}

#[tokio::test]
async fn changed_mode_needs_newer_versions_with_patch_hint() {
    let script = Script::new();
    let client = script
        .builder("social.example")
        .access_token("T")
        .mastodon_version("4.3.0")
        .version_check_mode(VersionCheckMode::Changed)
        .build()
        .await
        .unwrap();
    let err = client.oauth_userinfo().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Version check failed (Need Mastodon instance version 4.4.0 to call this endpoint)"
    );
    let client = script
        .builder("social.example")
        .access_token("T")
        .mastodon_version("4.2.9")
        .version_check_mode(VersionCheckMode::Changed)
        .build()
        .await
        .unwrap();
    let err = client.app_verify_credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Version check failed (Need Mastodon instance version 4.3.0 to call this endpoint)"
    );
    assert!(script.seen().is_empty());
}
