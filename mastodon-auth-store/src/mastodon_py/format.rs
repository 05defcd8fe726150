//! The 1- to 4-line credential files Mastodon.py writes: parsed in every form it has written
//! and rendered byte for byte as it writes them on POSIX (`create_app(to_file=…)`,
//! `log_in(to_file=…)`, `create_account(to_file=…)`; read back by `Mastodon.__init__`).

use std::path::Path;

use mastodon_auth_core::{AccessToken, ClientCredentials, ClientSecret, InstanceUrl, StoreError};

use crate::atomic::corrupt;

/// The content of a Mastodon.py client credential file:
///
/// ```text
/// line 1: client_id
/// line 2: client_secret
/// line 3: api_base_url   (Mastodon.py 1.5.0 and later)
/// line 4: client_name    (Mastodon.py 1.5.2 and later)
/// ```
///
/// Optional parts that are `None` are left out when rendering, so each older form (2 or 3
/// lines) is reproduced as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientFile {
    /// The OAuth client id and secret (lines 1 and 2).
    pub client: ClientCredentials,
    /// The instance, when the file names it (line 3 present and not empty).
    pub base_url: Option<InstanceUrl>,
    /// The application name, when the file has a line 4 (possibly empty).
    pub name: Option<String>,
}

impl ClientFile {
    /// A client file with only the required lines.
    #[must_use]
    pub fn new(client: ClientCredentials) -> Self {
        Self {
            client,
            base_url: None,
            name: None,
        }
    }

    /// Sets the base URL (line 3).
    #[must_use]
    pub fn with_base_url(mut self, base_url: InstanceUrl) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Sets the application name (line 4).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The content of a Mastodon.py user credential file:
///
/// ```text
/// line 1: access_token
/// line 2: api_base_url   (Mastodon.py 1.5.0 and later)
/// line 3: client_id      (log_in(to_file=…); create_account writes only lines 1–2)
/// line 4: client_secret
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserFile {
    /// The bearer token.
    pub access_token: AccessToken,
    /// The instance, when the file names it (line 2 present and not empty).
    pub base_url: Option<InstanceUrl>,
    /// Lines 3 and 4, when the file has them and they are not empty.
    pub client: Option<ClientCredentials>,
}

impl UserFile {
    /// A one-line token file.
    #[must_use]
    pub fn new(access_token: AccessToken) -> Self {
        Self {
            access_token,
            base_url: None,
            client: None,
        }
    }

    /// Sets the base URL (line 2).
    #[must_use]
    pub fn with_base_url(mut self, base_url: InstanceUrl) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Sets the client id and secret (lines 3 and 4).
    #[must_use]
    pub fn with_client(mut self, client: ClientCredentials) -> Self {
        self.client = Some(client);
        self
    }
}

/// Splits like Python's text-mode `readline()` (universal newlines: `\n`, `\r\n` and a lone
/// `\r` all end a line), then `rstrip()`s each line.
fn py_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(i) = rest.find(['\r', '\n']) {
            lines.push(&rest[..i]);
            let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[i + skip..];
        } else {
            lines.push(rest);
            rest = "";
        }
    }
    lines.into_iter().map(str::trim_end).collect()
}

/// The first four lines (those Mastodon.py reads), missing ones as `""`, and how many exist.
fn first_four<'a>(text: &'a str, path: &Path) -> Result<([&'a str; 4], usize), StoreError> {
    let lines = py_lines(text);
    let mut out = [""; 4];
    for (i, line) in lines.iter().take(4).enumerate() {
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(corrupt(
                path,
                Some(i + 1),
                "contains control characters: this is not a credential file",
            ));
        }
        out[i] = line;
    }
    Ok((out, lines.len()))
}

fn parse_url(line: &str, n: usize, path: &Path) -> Result<Option<InstanceUrl>, StoreError> {
    if line.is_empty() {
        return Ok(None);
    }
    let bad = || {
        corrupt(
            path,
            Some(n),
            "should hold the instance's base URL, but it is not a valid http(s) URL",
        )
    };
    // Mastodon.py writes this line with its scheme, and a line without one is accepted as
    // Mastodon.py accepts it, but only when it looks like a host name: swapped or scrambled
    // files put a secret here, and a bare secret would otherwise pass as a host name and be
    // shown in a base-URL mismatch error.
    if !line.contains("://") {
        let authority = line.split('/').next().unwrap_or_default();
        let host_like =
            authority.contains(['.', ':', '[']) || authority.eq_ignore_ascii_case("localhost");
        if !host_like {
            return Err(bad());
        }
    }
    // The parse error quotes the line; keep it out for the same reason.
    InstanceUrl::parse(line).map(Some).map_err(|_| bad())
}

fn required(line: &str, n: usize, what: &str, count: usize, path: &Path) -> Result<(), StoreError> {
    if !line.is_empty() {
        Ok(())
    } else if count == 0 {
        Err(corrupt(path, Some(1), "the file is empty"))
    } else if count < n {
        Err(corrupt(
            path,
            Some(n),
            format!("{what} is missing (the file is truncated?)"),
        ))
    } else {
        Err(corrupt(path, Some(n), format!("{what} is empty")))
    }
}

/// Parses a client credential file in any of Mastodon.py's forms (2, 3 or 4 lines; `\n`,
/// `\r\n` or `\r` endings; trailing white space ignored; lines after the 4th ignored).
///
/// `path` only names the file in errors.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the line: an empty file, a missing or empty client id or
/// secret, a line 3 that is not a base URL, control characters.
///
/// ```
/// use std::path::Path;
/// use mastodon_auth_store::mastodon_py::parse_client_file;
/// let file = parse_client_file("CID\nCSEC\nhttp://127.0.0.1:45113\nMy App\n", Path::new("c"))?;
/// assert_eq!(file.client.id, "CID");
/// assert_eq!(file.client.secret.expose(), "CSEC");
/// assert_eq!(file.base_url.unwrap().as_str(), "http://127.0.0.1:45113");
/// assert_eq!(file.name.as_deref(), Some("My App"));
/// # Ok::<(), mastodon_auth_core::StoreError>(())
/// ```
pub fn parse_client_file(text: &str, path: &Path) -> Result<ClientFile, StoreError> {
    let ([id, secret, url, name], count) = first_four(text, path)?;
    required(id, 1, "the client id", count, path)?;
    required(secret, 2, "the client secret", count, path)?;
    Ok(ClientFile {
        client: ClientCredentials::new(id, secret),
        base_url: parse_url(url, 3, path)?,
        name: (count >= 4).then(|| name.to_owned()),
    })
}

/// Parses a user credential file in any of Mastodon.py's forms (1, 2 or 4 lines, and 3 as
/// Mastodon.py reads it; line endings and white space as for [`parse_client_file`]).
///
/// Lines 3 and 4 (client id and secret) are both there or both empty: half a client is
/// an error, which Mastodon.py would only discover when the server refused the empty half.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the line: an empty file or token, a line 2 that is not a
/// base URL, a client id without its secret or a secret without its id, control characters.
///
/// ```
/// use std::path::Path;
/// use mastodon_auth_store::mastodon_py::parse_user_file;
/// let file = parse_user_file("foo\r\nhttps://zombo.com\r\n", Path::new("u"))?;
/// assert_eq!(file.access_token.expose(), "foo");
/// assert_eq!(file.base_url.unwrap().as_str(), "https://zombo.com");
/// assert_eq!(file.client, None);
/// # Ok::<(), mastodon_auth_core::StoreError>(())
/// ```
pub fn parse_user_file(text: &str, path: &Path) -> Result<UserFile, StoreError> {
    let ([token, url, id, secret], count) = first_four(text, path)?;
    required(token, 1, "the access token", count, path)?;
    let present = |line: &str| (!line.is_empty()).then(|| line.to_owned());
    let client = ClientCredentials::from_halves(
        present(id).map(Into::into),
        present(secret).map(ClientSecret::new),
    )
    .map_err(|half| {
        let line = if id.is_empty() { 3 } else { 4 };
        corrupt(
            path,
            Some(line),
            format!("{half}: lines 3 and 4 hold the client id and secret, both or neither"),
        )
    })?;
    Ok(UserFile {
        access_token: AccessToken::new(token),
        base_url: parse_url(url, 2, path)?,
        client,
    })
}

/// Checks that `value` survives a write and a Mastodon.py read unchanged.
fn line_ok(
    value: &str,
    n: usize,
    what: &str,
    may_be_empty: bool,
    path: &Path,
) -> Result<(), StoreError> {
    let problem = if value.is_empty() && !may_be_empty {
        "is empty"
    } else if value.contains(['\n', '\r']) {
        "contains a line break"
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        "contains control characters"
    } else if value.trim_end() != value {
        "ends with white space, which a reader strips"
    } else {
        return Ok(());
    };
    Err(corrupt(
        path,
        Some(n),
        format!("cannot write {what}: it {problem}, so the file could not keep it"),
    ))
}

fn render(lines: &[&str]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Renders a client file as Mastodon.py writes it on POSIX: each line followed by `\n`.
/// Two lines without base URL and name, three without a name, four otherwise.
///
/// `path` only names the target in errors.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the line when a value could not be read back as written
/// (empty id or secret, a line break, control characters, trailing white space).
///
/// ```
/// use std::path::Path;
/// use mastodon_auth_core::ClientCredentials;
/// use mastodon_auth_store::mastodon_py::{render_client_file, ClientFile};
/// let file = ClientFile::new(ClientCredentials::new("foo", "bar"))
///     .with_base_url("https://example.com".parse()?)
///     .with_name("Mastodon.py test suite");
/// assert_eq!(
///     render_client_file(&file, Path::new("c"))?,
///     "foo\nbar\nhttps://example.com\nMastodon.py test suite\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_client_file(file: &ClientFile, path: &Path) -> Result<String, StoreError> {
    let (id, secret) = (file.client.id.as_str(), file.client.secret.expose());
    line_ok(id, 1, "the client id", false, path)?;
    line_ok(secret, 2, "the client secret", false, path)?;
    let url = file.base_url.as_ref().map_or("", InstanceUrl::as_str);
    Ok(match &file.name {
        Some(name) => {
            line_ok(name, 4, "the application name", true, path)?;
            render(&[id, secret, url, name])
        }
        None if file.base_url.is_some() => render(&[id, secret, url]),
        None => render(&[id, secret]),
    })
}

/// Renders a user file as Mastodon.py writes it on POSIX: one line (token), two (+ base URL,
/// as `create_account(to_file=…)` writes) or four (+ client id and secret, as
/// `log_in(to_file=…)` writes).
///
/// # Errors
/// [`StoreError::Corrupt`] naming the line when a value could not be read back as written.
///
/// ```
/// use std::path::Path;
/// use mastodon_auth_core::AccessToken;
/// use mastodon_auth_store::mastodon_py::{render_user_file, UserFile};
/// let file = UserFile::new(AccessToken::new("foo")).with_base_url("zombo.com".parse()?);
/// assert_eq!(render_user_file(&file, Path::new("u"))?, "foo\nhttps://zombo.com\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_user_file(file: &UserFile, path: &Path) -> Result<String, StoreError> {
    let token = file.access_token.expose();
    line_ok(token, 1, "the access token", false, path)?;
    let url = file.base_url.as_ref().map_or("", InstanceUrl::as_str);
    let Some(client) = &file.client else {
        return Ok(if file.base_url.is_some() {
            render(&[token, url])
        } else {
            render(&[token])
        });
    };
    let (id, secret) = (client.id.as_str(), client.secret.expose());
    line_ok(id, 3, "the client id", false, path)?;
    line_ok(secret, 4, "the client secret", false, path)?;
    Ok(render(&[token, url, id, secret]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("creds")
    }

    #[test]
    fn python_readline_splitting() {
        assert_eq!(py_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(py_lines("a \t\n\nb  "), ["a", "", "b"]);
        assert_eq!(py_lines(""), Vec::<&str>::new());
        assert_eq!(py_lines("\n"), [""]);
        assert_eq!(py_lines("  lead\n"), ["  lead"]);
    }

    #[test]
    fn client_file_forms() {
        let two = parse_client_file("id\nsecret\n", p()).unwrap();
        assert_eq!((two.base_url, two.name), (None, None));
        let three = parse_client_file("id\nsecret\nexample.com/\n", p()).unwrap();
        assert_eq!(three.base_url.unwrap().as_str(), "https://example.com");
        assert_eq!(three.name, None);
        let four = parse_client_file("id\r\nsecret\r\nhttps://e.example\r\n\r\n", p()).unwrap();
        assert_eq!(four.name.as_deref(), Some(""));
        let extra = parse_client_file("id\nsecret\n\nname\nignored\n", p()).unwrap();
        assert_eq!(
            (extra.base_url, extra.name.as_deref()),
            (None, Some("name"))
        );
    }

    #[test]
    fn user_file_forms() {
        let one = parse_user_file("tok", p()).unwrap();
        assert_eq!(one.access_token.expose(), "tok");
        assert_eq!((one.base_url, one.client), (None, None));
        let four = parse_user_file("tok\nhttps://e.example\ncid\ncsec\n", p()).unwrap();
        assert_eq!(four.client, Some(ClientCredentials::new("cid", "csec")));
        let empty = parse_user_file("tok\nhttps://e.example\n\n\n", p()).unwrap();
        assert_eq!(empty.client, None);
    }

    #[test]
    fn half_a_client_in_a_user_file_names_the_line() {
        for (text, line, want) in [
            (
                "tok\nhttps://e.example\ncid\n",
                4,
                "client id without its client secret",
            ),
            (
                "tok\nhttps://e.example\ncid\n\n",
                4,
                "client id without its client secret",
            ),
            (
                "tok\nhttps://e.example\n\ncsec\n",
                3,
                "client secret without its client id",
            ),
        ] {
            match parse_user_file(text, p()) {
                Err(StoreError::Corrupt {
                    line: l, reason, ..
                }) => {
                    assert_eq!(l, Some(line), "{text:?}");
                    assert!(reason.contains(want), "{text:?}: {reason}");
                    assert!(!reason.contains("csec"), "{reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn truncated_and_empty_files_name_the_line() {
        let cases: [(&str, bool, usize, &str); 6] = [
            ("", true, 1, "empty"),
            ("", false, 1, "empty"),
            ("id\n", true, 2, "truncated"),
            ("id\n\n", true, 2, "client secret is empty"),
            ("\nsecret\n", true, 1, "client id is empty"),
            ("\n", false, 1, "access token is empty"),
        ];
        for (text, client, line, want) in cases {
            let err = if client {
                parse_client_file(text, p()).map(drop)
            } else {
                parse_user_file(text, p()).map(drop)
            };
            match err {
                Err(StoreError::Corrupt {
                    line: l, reason, ..
                }) => {
                    assert_eq!(l, Some(line), "{text:?}");
                    assert!(reason.contains(want), "{text:?}: {reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_url_line_is_reported_without_its_content() {
        let err = parse_client_file("id\nsecret\nftp://hunter2\n", p()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = parse_user_file("tok\nsup3rs3cret token\n", p()).unwrap_err();
        assert!(!err.to_string().contains("sup3rs3cret"));
    }

    #[test]
    fn url_lines_without_scheme_must_look_like_hosts() {
        for ok in [
            "example.com",
            "localhost",
            "127.0.0.1:3000",
            "example.com/sub",
        ] {
            assert!(parse_user_file(&format!("t\n{ok}\n"), p()).is_ok(), "{ok}");
        }
        for bad in ["abcDEF123_-xyz", "Zm9vYmFy/x"] {
            let err = parse_user_file(&format!("t\n{bad}\n"), p()).unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { line: Some(2), .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn control_characters_are_corrupt() {
        let err = parse_user_file("tok\x07en\n", p()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { line: Some(1), .. }));
    }

    #[test]
    fn values_that_would_not_survive_are_refused() {
        for bad in ["a\nb", "a\rb", "ab ", ""] {
            let file = ClientFile::new(ClientCredentials::new("id", bad));
            let err = render_client_file(&file, p()).unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { line: Some(2), .. }),
                "{bad:?}"
            );
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
        let file =
            UserFile::new(AccessToken::new("t")).with_client(ClientCredentials::new("id ", "s"));
        assert!(render_user_file(&file, p()).is_err());
    }

    #[test]
    fn user_file_render_forms() {
        let base: InstanceUrl = "https://e.example".parse().unwrap();
        let one = UserFile::new(AccessToken::new("t"));
        assert_eq!(render_user_file(&one, p()).unwrap(), "t\n");
        let no_url =
            UserFile::new(AccessToken::new("t")).with_client(ClientCredentials::new("i", "s"));
        assert_eq!(render_user_file(&no_url, p()).unwrap(), "t\n\ni\ns\n");
        let four = no_url.with_base_url(base);
        assert_eq!(
            render_user_file(&four, p()).unwrap(),
            "t\nhttps://e.example\ni\ns\n"
        );
    }
}
