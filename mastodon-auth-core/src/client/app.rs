//! App registration (`POST /api/v1/apps`).

use http::Method;

use super::request::Call;
use super::template::ApiPath;
use super::{Mastodon, MetadataCache};
use crate::entities::RegisteredApp;
use crate::error::Error;
use crate::redirect_uri::RedirectUri;
use crate::scope::Scopes;
use crate::store::AppCredentials;

static APPS: ApiPath = ApiPath::new("/api/v1/apps");

/// Registers an application; made by [`Mastodon::create_app`].
#[derive(Debug)]
#[must_use = "nothing is registered until .send() is awaited"]
pub struct CreateApp<'a> {
    client: &'a Mastodon,
    name: String,
    scopes: Scopes,
    redirect_uris: Vec<RedirectUri>,
    website: Option<String>,
}

impl CreateApp<'_> {
    /// The scopes the app may ask for (default `read write follow push`). Pass the same
    /// scopes to `auth_request_url` and `log_in`.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// One redirect URI (default [`RedirectUri::OOB`]).
    pub fn redirect_uri(self, uri: RedirectUri) -> Self {
        self.redirect_uris(vec![uri])
    }

    /// Several redirect URIs (sent newline-separated, as Mastodon.py does).
    pub fn redirect_uris(mut self, uris: impl IntoIterator<Item = RedirectUri>) -> Self {
        self.redirect_uris = uris.into_iter().collect();
        self
    }

    /// The application's website.
    pub fn website(mut self, website: impl Into<String>) -> Self {
        self.website = Some(website.into());
        self
    }

    /// Registers the app. On success the client adopts its id and secret, and a configured
    /// store keeps them (Mastodon.py's `to_file`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or no redirect URI; [`Error::Api`] with
    /// the server's message for a rejected registration (Mastodon answers 422
    /// `Validation failed: …`); network, malformed-response and store errors.
    pub async fn send(self) -> Result<RegisteredApp, Error> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "the application name must not be empty".into(),
            ));
        }
        if self.redirect_uris.is_empty() {
            return Err(Error::InvalidArgument(
                "an application needs at least one redirect URI".into(),
            ));
        }
        let mut call = Call::api(Method::POST, &APPS)
            .param("client_name", self.name.clone())
            .param("scopes", self.scopes.to_string())
            .param("redirect_uris", join_lines(&self.redirect_uris));
        if let Some(website) = self.website {
            call = call.param("website", website);
        }
        // As in Mastodon.py: only a User-Agent, no token, no language, no pacing.
        call = call.oauth().without_language();
        let reply = self.client.call_anonymous(call).await?;
        let app: RegisteredApp = reply.json()?;
        let client = app.client_credentials();
        {
            let mut state = self.client.state();
            state.client = Some(client.clone());
            state.metadata = MetadataCache::Unknown;
        }
        if let Some(store) = &self.client.inner.store {
            let mut creds =
                AppCredentials::new(self.client.base_url().clone(), client).with_name(self.name);
            creds.scopes = Some(self.scopes);
            creds.redirect_uris = self.redirect_uris.iter().map(ToString::to_string).collect();
            store.save_app(&creds).await?;
        }
        Ok(app)
    }
}

impl Mastodon {
    /// Registers an application named `name` with the instance (Mastodon.py's `create_app`).
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon, Scopes, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let transport = |req: http::Request<bytes::Bytes>| async move {
    ///     assert_eq!(req.body().as_ref(), b"client_name=My+Bot&scopes=read&redirect_uris=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob");
    ///     Ok::<_, TransportError>(http::Response::new(bytes::Bytes::from_static(
    ///         br#"{"id":"1","name":"My Bot","client_id":"CID","client_secret":"CSEC"}"#)))
    /// };
    /// let client = Mastodon::builder("social.example").transport(transport).build().await?;
    /// let app = client.create_app("My Bot").scopes("read".parse()?).send().await?;
    /// assert_eq!(app.client_id, "CID");
    /// assert_eq!(client.client_credentials().map(|c| c.id), Some(app.client_id));
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    pub fn create_app(&self, name: impl Into<String>) -> CreateApp<'_> {
        CreateApp {
            client: self,
            name: name.into(),
            scopes: Scopes::default(),
            redirect_uris: vec![RedirectUri::OOB],
            website: None,
        }
    }
}

/// The redirect URIs as Mastodon takes several: one per line (none of them can contain a line
/// break: [`RedirectUri`] refuses white space).
fn join_lines(uris: &[RedirectUri]) -> String {
    let mut out = String::new();
    for (i, uri) in uris.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(uri.as_str());
    }
    out
}
