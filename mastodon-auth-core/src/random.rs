//! Randomness for state values and PKCE verifiers, from the operating system.

use base64::Engine as _;

/// `bytes` random bytes from the OS, base64url without padding.
pub(crate) fn token_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
}

fn fill(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // getrandom fails only on targets without an OS random source, which this crate
        // does not support; a predictable state or verifier would defeat its purpose.
        std::process::abort();
    }
}
