//! Faults the local instance can inject into its answers.

use std::time::Duration;

/// A misbehaviour for [`LocalInstance::inject`](crate::LocalInstance::inject): the next
/// matching requests get this instead of (or, for [`Fault::Delay`], before) the normal answer.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_tests::Fault;
/// let faults = [Fault::Delay(Duration::from_millis(50)), Fault::HtmlError(502), Fault::Oversized(1 << 20)];
/// assert_eq!(faults.len(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without any answer.
    ResetConnection,
    /// Answer with this status (a proxy's 502/503) and an HTML body, `Content-Type: text/html`.
    HtmlError(u16),
    /// Answer 200 `application/json` with a body that stops mid-object (`{"access_token": `).
    MalformedJson,
    /// Declare a `Content-Length` larger than the body actually sent, then close.
    TruncatedJson,
    /// Answer 200 with a JSON body of exactly this many bytes (when at least 14).
    Oversized(usize),
    /// Answer 429 `{"error":"Too many requests"}` with `X-RateLimit-*` headers (Remaining 0)
    /// and no `Retry-After`, as rack-attack does. The reset is the end of the throttle's
    /// current window.
    TooManyRequests,
    /// Like [`TooManyRequests`](Self::TooManyRequests), with the reset this far in the future
    /// (a client that waits for it waits this long).
    TooManyRequestsFor(Duration),
}

/// A queued fault: applies to the next `remaining` requests whose path matches.
#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    pub(crate) path: Option<String>,
    pub(crate) fault: Fault,
    pub(crate) remaining: usize,
}

impl FaultRule {
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.remaining > 0 && self.path.as_deref().is_none_or(|p| p == path)
    }
}

/// Takes one use of the first rule that matches `path`.
pub(crate) fn take(rules: &mut Vec<FaultRule>, path: &str) -> Option<Fault> {
    let idx = rules.iter().position(|r| r.matches(path))?;
    let rule = &mut rules[idx];
    rule.remaining -= 1;
    let fault = rule.fault;
    if rule.remaining == 0 {
        rules.remove(idx);
    }
    Some(fault)
}
