//! Properties of characters that matter when text from a server or a file is shown or used
//! as a name.

/// `true` for the bidirectional-text controls (Unicode's `Bidi_Control` property, UAX #9):
/// embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069) and marks (U+200E,
/// U+200F, U+061C). They reorder the text around them, so `alice@evil.example` can be made to
/// read as something else: [`AccountKey`](crate::AccountKey) refuses them, and the CLI shows
/// them escaped.
///
/// ```
/// use mastodon_auth_core::is_bidi_control;
/// assert!(is_bidi_control('\u{202E}') && is_bidi_control('\u{2066}') && is_bidi_control('\u{061C}'));
/// assert!(!is_bidi_control('a') && !is_bidi_control('\u{200B}'));
/// ```
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}
