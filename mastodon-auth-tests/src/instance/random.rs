//! Random secrets, shaped like Mastodon's `SecureRandom.urlsafe_base64(32)`.

use base64::Engine as _;

/// 43 characters of base64url without padding (32 random bytes).
pub(crate) fn secret() -> String {
    let mut buf = [0u8; 32];
    if getrandom::fill(&mut buf).is_err() {
        // Only targets without an OS random source fail here; predictable codes and tokens
        // would make the server's single-use and reuse checks meaningless.
        std::process::abort();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
