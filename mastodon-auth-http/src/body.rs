//! Reading a response body into memory without ever holding more than the cap.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use mastodon_auth_core::TransportError;

use crate::classify;

/// Reads the whole body, failing with `BodyTooLarge` as soon as more than `limit` bytes
/// arrive. A body that arrives as one frame (the common case for small JSON) is returned
/// without copying.
pub(crate) async fn collect(mut body: Incoming, limit: usize) -> Result<Bytes, TransportError> {
    let too_large = || TransportError::BodyTooLarge { limit };
    let hint = body.size_hint();
    if hint.lower() > limit as u64 {
        return Err(too_large());
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut total: usize = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify::body_error(&e))?;
        let Ok(data) = frame.into_data() else {
            // Trailers carry nothing the client uses.
            continue;
        };
        if data.is_empty() {
            continue;
        }
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(too_large());
        }
        if let Some(buf) = rest.as_mut() {
            buf.extend_from_slice(&data);
        } else if let Some(prev) = first.take() {
            // Capacity from Content-Length when known (already checked against the cap),
            // otherwise let BytesMut grow; never past the cap since `total` is checked first.
            let exact = hint.exact().and_then(|n| usize::try_from(n).ok());
            let cap = exact.unwrap_or(total).clamp(total, limit);
            let mut buf = BytesMut::with_capacity(cap);
            buf.extend_from_slice(&prev);
            buf.extend_from_slice(&data);
            rest = Some(buf);
        } else {
            first = Some(data);
        }
    }
    Ok(match (rest, first) {
        (Some(buf), _) => buf.freeze(),
        (None, Some(one)) => one,
        (None, None) => Bytes::new(),
    })
}
