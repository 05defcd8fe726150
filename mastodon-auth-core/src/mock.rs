//! mockall mocks of the pluggable traits (feature `mock`), for users' own test suites.
//!
//! ```
//! use mastodon_auth_core::mock::MockHttpTransport;
//! use mastodon_auth_core::HttpTransport;
//! let mut transport = MockHttpTransport::new();
//! transport.expect_send().returning(|_req| Ok(http::Response::new(bytes::Bytes::from_static(b"{}"))));
//! # let _ = transport;
//! ```

use bytes::Bytes;

use crate::account_key::AccountKey;
use crate::error::{HeaderError, RateLimitError, StoreError};
use crate::instance_url::InstanceUrl;
use crate::ratelimit::{RateLimitInfo, RateLimitKey, Verdict};
use crate::store::{AppCredentials, UserCredentials};
use crate::transport::TransportError;

mockall::mock! {
    /// A mock [`HttpTransport`](crate::HttpTransport).
    pub HttpTransport {}
    #[async_trait::async_trait]
    impl crate::HttpTransport for HttpTransport {
        async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError>;
    }
}

mockall::mock! {
    /// A mock [`CredentialStore`](crate::CredentialStore). Its
    /// [`lease_user`](crate::CredentialStore::lease_user) is the trait's default, which takes
    /// no lease: it reads through `load_user` and its lease saves through `save_user`, so the
    /// expectations of those two cover a refresh.
    pub CredentialStore {}
    #[async_trait::async_trait]
    impl crate::CredentialStore for CredentialStore {
        async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError>;
        async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError>;
        async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError>;
        async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError>;
        async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError>;
    }
}

mockall::mock! {
    /// A mock [`AccountDirectory`](crate::AccountDirectory) (with its
    /// [`CredentialStore`](crate::CredentialStore) methods).
    pub AccountDirectory {}
    #[async_trait::async_trait]
    impl crate::CredentialStore for AccountDirectory {
        async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError>;
        async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError>;
        async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError>;
        async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError>;
        async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError>;
    }
    #[async_trait::async_trait]
    impl crate::AccountDirectory for AccountDirectory {
        async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError>;
        async fn active_user(&self) -> Result<Option<AccountKey>, StoreError>;
        async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError>;
        async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError>;
    }
}

mockall::mock! {
    /// A mock [`RateLimiter`](crate::RateLimiter).
    pub RateLimiter {}
    #[async_trait::async_trait]
    impl crate::RateLimiter for RateLimiter {
        async fn before_request(&self, key: RateLimitKey) -> Result<(), RateLimitError>;
        async fn after_response(
            &self,
            key: RateLimitKey,
            status: http::StatusCode,
            info: Result<Option<RateLimitInfo>, HeaderError>,
        ) -> Result<Verdict, RateLimitError>;
    }
}
