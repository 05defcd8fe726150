//! Request parameters as Rails sees them: query plus form-urlencoded or JSON body.

/// One parameter value: a scalar, or a list (`name[]=a&name[]=b`, or a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Str(String),
    List(Vec<String>),
}

/// Parameters of one request. Body parameters win over query parameters of the same name,
/// as in Rails' merged `params`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    body: Vec<(String, Value)>,
    query: Vec<(String, Value)>,
    /// The body could not be parsed (bad JSON): Rails answers 400 before any controller.
    pub(crate) malformed: bool,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Self {
        let mut p = Self {
            query: parse_form(query.unwrap_or("").as_bytes()),
            ..Self::default()
        };
        let is_json = content_type.is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/json") || ct.contains("+json")
        });
        if is_json {
            if body.iter().all(u8::is_ascii_whitespace) {
                return p;
            }
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Object(map)) => {
                    for (k, v) in map {
                        if let Some(v) = json_value(v) {
                            p.body.push((k, v));
                        }
                    }
                }
                Ok(_) | Err(_) => p.malformed = true,
            }
        } else {
            p.body = parse_form(body);
        }
        p
    }

    fn find(&self, name: &str) -> Option<&Value> {
        self.body
            .iter()
            .rev()
            .chain(self.query.iter().rev())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The scalar value of `name` (a list is not a scalar, as with Rails' `permit`).
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        match self.find(name)? {
            Value::Str(s) => Some(s),
            Value::List(_) => None,
        }
    }

    /// The value of `name`, unless blank (Rails' `present?`).
    pub(crate) fn present(&self, name: &str) -> Option<&str> {
        self.str(name).filter(|s| !s.trim().is_empty())
    }

    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.find(name)
    }

    /// Body fields flattened to name/value pairs, for the request log.
    pub(crate) fn body_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.body {
            match v {
                Value::Str(s) => out.push((k.clone(), s.clone())),
                Value::List(items) => {
                    for item in items {
                        out.push((format!("{k}[]"), item.clone()));
                    }
                }
            }
        }
        out
    }

    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.query {
            match v {
                Value::Str(s) => out.push((k.clone(), s.clone())),
                Value::List(items) => {
                    for item in items {
                        out.push((format!("{k}[]"), item.clone()));
                    }
                }
            }
        }
        out
    }
}

fn json_value(v: serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Null | serde_json::Value::Object(_) => None,
        serde_json::Value::String(s) => Some(Value::Str(s)),
        serde_json::Value::Bool(b) => Some(Value::Str(b.to_string())),
        serde_json::Value::Number(n) => Some(Value::Str(n.to_string())),
        serde_json::Value::Array(items) => Some(Value::List(
            items
                .into_iter()
                .filter_map(|i| match i {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    serde_json::Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect(),
        )),
    }
}

/// `a=1&b[]=x&b[]=y`: later scalars replace earlier ones, `[]` names collect into a list.
fn parse_form(raw: &[u8]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if let Some(base) = k.strip_suffix("[]") {
            if let Some((_, Value::List(items))) = out.iter_mut().find(|(n, _)| n == base) {
                items.push(v.into_owned());
            } else {
                out.retain(|(n, _)| n != base);
                out.push((base.to_owned(), Value::List(vec![v.into_owned()])));
            }
        } else {
            out.retain(|(n, _)| n != k.as_ref());
            out.push((k.into_owned(), Value::Str(v.into_owned())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_lists_and_scalars() {
        let p = Params::parse(
            Some("scope=read"),
            Some("application/x-www-form-urlencoded"),
            b"redirect_uris[]=a&redirect_uris[]=b&scope=write+push",
        );
        assert_eq!(p.str("scope"), Some("write push"));
        assert_eq!(
            p.value("redirect_uris"),
            Some(&Value::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(p.str("redirect_uris"), None);
    }

    #[test]
    fn json_bodies_parse_and_garbage_is_flagged() {
        let p = Params::parse(
            None,
            Some("application/json"),
            br#"{"client_name":"x","n":1}"#,
        );
        assert_eq!(p.str("client_name"), Some("x"));
        assert_eq!(p.str("n"), Some("1"));
        assert!(Params::parse(None, Some("application/json"), b"{").malformed);
    }
}
