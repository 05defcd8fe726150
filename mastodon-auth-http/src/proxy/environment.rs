//! The proxy environment variables, read through a lookup so tests can supply their own.

/// One variable that was set (and not empty).
#[derive(Clone)]
pub(crate) struct Variable {
    /// The name it was found under, for error messages.
    pub(crate) name: &'static str,
    pub(crate) value: String,
}

/// The proxy variables curl and most HTTP clients honour.
#[derive(Clone, Default)]
pub(crate) struct Variables {
    pub(crate) https: Option<Variable>,
    pub(crate) http: Option<Variable>,
    pub(crate) all: Option<Variable>,
    pub(crate) no_proxy: Option<String>,
}

impl Variables {
    /// Reads the variables through `lookup`. As in curl, the lower-case name wins over the
    /// upper-case one, and an empty value counts as unset.
    ///
    /// When `REQUEST_METHOD` is set the program runs under CGI, where the server turns a
    /// request's `Proxy:` header into `HTTP_PROXY` (httpoxy, CVE-2016-5385), so only the
    /// lower-case `http_proxy` is honoured, as Go's `httpproxy.FromEnvironment` does.
    pub(crate) fn read(lookup: impl Fn(&str) -> Option<String>) -> Variables {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                lookup(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| Variable { name, value })
            })
        };
        let cgi = lookup("REQUEST_METHOD").is_some();
        let http: &[&'static str] = if cgi {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        Variables {
            https: first(&["https_proxy", "HTTPS_PROXY"]),
            http: first(http),
            all: first(&["all_proxy", "ALL_PROXY"]),
            no_proxy: first(&["no_proxy", "NO_PROXY"]).map(|v| v.value),
        }
    }
}
