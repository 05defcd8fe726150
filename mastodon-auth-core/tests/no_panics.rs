//! Whatever a server, a file or a caller sends, the parsers answer with a value or a typed
//! error, never a panic.

use mastodon_auth_core::{
    AccountKey, InstanceUrl, MastodonVersion, OAuthServerInfo, PendingAuthorization,
    PendingAuthorizationParts, RateLimitInfo, RedirectUri, Scope, Scopes, State,
};
use proptest::prelude::*;

fn pending(state: &str) -> PendingAuthorization {
    PendingAuthorization::from_parts(PendingAuthorizationParts::new(
        State::new(state),
        RedirectUri::parse("http://127.0.0.1/cb").unwrap(),
        Scopes::default(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn string_parsers_never_panic(s in "\\PC*|[a-zA-Z0-9:/.@+_ -]{0,40}") {
        let _ = InstanceUrl::parse(&s);
        let _ = Scope::new(s.clone());
        let _ = Scopes::parse(&s);
        let _ = MastodonVersion::parse(&s);
        let _ = AccountKey::parse(&s);
        let _ = RedirectUri::parse(&s);
        let _ = OAuthServerInfo::from_json(s.as_bytes());
        let _ = pending("S").callback(&s);
    }

    #[test]
    fn normalised_urls_are_stable(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){1,2}", port in proptest::option::of(1u16..), path in "(/[a-z0-9]{1,8}){0,2}/*") {
        let input = format!("{host}{}{path}", port.map(|p| format!(":{p}")).unwrap_or_default());
        let url = InstanceUrl::parse(&input).unwrap();
        prop_assert!(url.as_str().starts_with("https://"));
        prop_assert!(!url.as_str().ends_with('/'));
        prop_assert_eq!(url.host(), host.as_str());
        prop_assert_eq!(InstanceUrl::parse(url.as_str()).unwrap(), url.clone());
    }

    #[test]
    fn rate_limit_headers_never_panic(limit in "\\PC{0,24}", remaining in "[0-9.-]{0,24}", reset in "\\PC{0,40}|[0-9T:.Z+-]{0,40}", date in "\\PC{0,40}") {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [("x-ratelimit-limit", &limit), ("x-ratelimit-remaining", &remaining), ("x-ratelimit-reset", &reset), ("date", &date)] {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        if let Ok(Some(info)) = RateLimitInfo::from_headers(&headers) {
            let _ = info.reset_local(std::time::SystemTime::now());
        }
    }

    #[test]
    fn callbacks_only_yield_a_code_with_the_right_state(state in "[A-Za-z0-9_-]{1,43}", other in "[A-Za-z0-9_-]{1,43}", code in "[A-Za-z0-9_-]{1,43}") {
        let good = pending(&state).callback(&format!("http://127.0.0.1/cb?code={code}&state={state}"));
        prop_assert!(good.is_ok());
        if other != state {
            let bad = pending(&state).callback(&format!("http://127.0.0.1/cb?code={code}&state={other}"));
            prop_assert!(bad.is_err());
        }
    }
}
