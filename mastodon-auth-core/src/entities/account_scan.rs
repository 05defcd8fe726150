//! One pass over a `verify_credentials` answer that picks out the five fields [`Account`]
//! types and checks that everything else is well-formed JSON, without building any of it.
//!
//! The answer comes back on every verification, and serde_json spends most of its time on
//! the forty-odd fields nobody asked for: visiting each key, matching it against the five
//! names, then ignoring its value through the generic visitor. This reader is an accelerator,
//! not a second parser: whenever a document is anything but the plain shape Mastodon sends
//! (an escape in one of the five fields or in a top-level key, a `\u` escape of a surrogate,
//! a repeated field, an `id` that is not a string, a `null` display name, nesting deeper than
//! 64, or any syntax error) it gives up, and serde_json reads the document instead. So there
//! is one definition of what is accepted, and one of every error message: serde_json's.
//!
//! What it does accept is exactly what serde_json accepts (RFC 8259: whitespace is space,
//! tab, CR and LF; no control characters in strings; numbers without leading zeros; nothing
//! after the value), which the tests check against serde_json on every single-byte mutation
//! of an answer (18,000 documents) and on answers recorded from real servers.
//!
//! Measured on `LocalInstance`'s 1.2 KB account: 12.0k instructions (callgrind) against
//! serde_json's 17.0k into the same struct, and 0.59 µs against 0.95 µs in a hot loop.

use super::Account;

/// The deepest nesting read here; deeper documents go to serde_json.
const MAX_DEPTH: u32 = 64;

/// The account in `text`, or `None` when serde_json should read it (see the module docs).
///
/// Positions travel as plain `usize` values between small functions rather than in a
/// cursor struct, so they stay in registers: a token costs a handful of instructions.
pub(super) fn account(text: &str) -> Option<Account> {
    let b = text.as_bytes();
    let mut fields = Fields::default();
    let mut i = after(b, 0, b'{')?;
    if peek(b, i)?.1 == b'}' {
        // `{}` lacks the required fields: serde_json says which.
        return None;
    }
    loop {
        i = after(b, i, b'"')?;
        let (start, end) = plain(b, i)?;
        let (at, c) = peek(b, after(b, end + 1, b':')?)?;
        i = match &b[start..end] {
            b"id" => fields.id.fill(plain_value(text, at, c)?)?,
            b"username" => fields.username.fill(plain_value(text, at, c)?)?,
            b"acct" => fields.acct.fill(plain_value(text, at, c)?)?,
            b"display_name" => fields.display_name.fill(plain_value(text, at, c)?)?,
            b"url" if c == b'n' => fields
                .url
                .fill((literal(b, at + 1, b"ull")?, Nullable::Null))?,
            b"url" => {
                let (next, url) = plain_value(text, at, c)?;
                fields.url.fill((next, Nullable::Text(url)))?
            }
            _ => skip_value(b, at, c)?,
        };
        let (at, c) = peek(b, i)?;
        i = at + 1;
        match c {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    if peek(b, i).is_some() {
        return None;
    }
    Some(Account {
        id: fields.id?.to_owned(),
        username: fields.username?.to_owned(),
        acct: fields.acct?.to_owned(),
        display_name: fields.display_name.unwrap_or_default().to_owned(),
        url: match fields.url {
            Some(Nullable::Text(url)) => Some(url.to_owned()),
            Some(Nullable::Null) | None => None,
        },
        raw: bytes::Bytes::new(),
    })
}

/// The five fields as found; a field seen twice makes serde_json decide (it refuses).
#[derive(Default)]
struct Fields<'a> {
    id: Option<&'a str>,
    username: Option<&'a str>,
    acct: Option<&'a str>,
    display_name: Option<&'a str>,
    url: Option<Nullable<'a>>,
}

/// A string field that may be `null`.
#[derive(Clone, Copy)]
enum Nullable<'a> {
    Null,
    Text(&'a str),
}

trait Fill<T> {
    /// Stores the value found unless one is stored already: the position after it.
    fn fill(&mut self, found: (usize, T)) -> Option<usize>;
}

impl<T> Fill<T> for Option<T> {
    fn fill(&mut self, (next, value): (usize, T)) -> Option<usize> {
        if self.is_some() {
            return None;
        }
        *self = Some(value);
        Some(next)
    }
}

/// The first byte at or after `i` that is not whitespace, and where it is.
fn peek(b: &[u8], mut i: usize) -> Option<(usize, u8)> {
    loop {
        let c = *b.get(i)?;
        // One comparison for every byte of a compact document.
        if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            return Some((i, c));
        }
        i += 1;
    }
}

/// The position after `wanted`, which must be the next byte that is not whitespace.
fn after(b: &[u8], i: usize, wanted: u8) -> Option<usize> {
    let (at, c) = peek(b, i)?;
    (c == wanted).then_some(at + 1)
}

/// A string value without escapes at `i`, whose byte is `c`: the position after it, and its
/// contents as written.
fn plain_value(text: &str, i: usize, c: u8) -> Option<(usize, &str)> {
    if c != b'"' {
        return None;
    }
    let (start, end) = plain(text.as_bytes(), i + 1)?;
    Some((end + 1, text.get(start..end)?))
}

/// The contents of a string without escapes whose opening quote is just before `i`: from `i`
/// to its closing quote.
fn plain(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let end = special(b, i);
    (*b.get(end)? == b'"').then_some((i, end))
}

/// The position after the closing quote of the string whose opening quote is just before
/// `i`, its escapes and characters checked.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i = special(b, i);
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i = escape(b, i)?,
            // A control character.
            _ => return None,
        }
    }
}

/// The position after the escape sequence whose backslash is at `i`. Out of line: rare in
/// the answers that matter, and the string loops stay small enough to inline.
#[cold]
#[inline(never)]
fn escape(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 2),
        b'u' => {
            let mut unit = 0u32;
            for &digit in b.get(i + 2..i + 6)? {
                unit = unit * 16 + char::from(digit).to_digit(16)?;
            }
            // Surrogates are valid or not depending on their neighbours and on whether
            // serde_json decodes or skips the string: it decides.
            (!(0xD800..=0xDFFF).contains(&unit)).then_some(i + 6)
        }
        _ => None,
    }
}

/// The position after `rest` (of `true`, `false` or `null`), which must be at `i`.
fn literal(b: &[u8], i: usize, rest: &[u8]) -> Option<usize> {
    let end = i + rest.len();
    (b.get(i..end)? == rest).then_some(end)
}

/// The position after the number at `i` (RFC 8259 section 6).
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match *b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i + 1),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = some_digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = some_digits(b, i)?;
    }
    Some(i)
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

fn some_digits(b: &[u8], i: usize) -> Option<usize> {
    let end = digits(b, i);
    (end > i).then_some(end)
}

/// `"key":` of a member of a skipped object, from `i`: the position after the colon.
fn member_key(b: &[u8], i: usize) -> Option<usize> {
    let i = skip_string(b, after(b, i, b'"')?)?;
    after(b, i, b':')
}

/// The position after the value at `i`, whose byte is `c`, checked and not kept. Iterative:
/// the open containers are bits of `open` (1 = object), so a hostile document cannot exhaust
/// the stack.
fn skip_value(b: &[u8], mut i: usize, mut c: u8) -> Option<usize> {
    let mut open = 0u64;
    let mut depth = 0;
    loop {
        // A value starts at `i`.
        i = match c {
            b'"' => skip_string(b, i + 1)?,
            b't' => literal(b, i + 1, b"rue")?,
            b'f' => literal(b, i + 1, b"alse")?,
            b'n' => literal(b, i + 1, b"ull")?,
            b'-' | b'0'..=b'9' => number(b, i)?,
            b'{' | b'[' => {
                if depth == MAX_DEPTH {
                    return None;
                }
                let is_object = c == b'{';
                let (at, next) = peek(b, i + 1)?;
                if next == if is_object { b'}' } else { b']' } {
                    at + 1
                } else {
                    depth += 1;
                    open = open << 1 | u64::from(is_object);
                    let first = if is_object { member_key(b, at)? } else { at };
                    (i, c) = peek(b, first)?;
                    continue;
                }
            }
            _ => return None,
        };
        // After a value: close containers until one continues with a comma.
        loop {
            if depth == 0 {
                return Some(i);
            }
            let in_object = open & 1 == 1;
            let (at, next) = peek(b, i)?;
            i = at + 1;
            match next {
                b',' => {
                    if in_object {
                        i = member_key(b, i)?;
                    }
                    break;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            open >>= 1;
            depth -= 1;
        }
        (i, c) = peek(b, i)?;
    }
}

/// The position of the first quote, backslash or control character at or after `i`, or the
/// length of `b`: the end of the run of string contents that needs no look.
///
/// Eight bytes at a time (the zero-byte test of "Bit Twiddling Hacks", applied to `b ^ '"'`,
/// `b ^ '\\'` and `b - 0x20`): a byte's flag can only be wrong above a byte that is rightly
/// flagged, so the lowest flag is exact. Sixteen bytes at a time through SSE2 compares, as
/// the compiler writes them from portable code, ran 40 % slower here: moving the flags out
/// of the vector register costs more than the wider step saves on strings this short.
fn special(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let below = |word: u64, byte: u8| word.wrapping_sub(ONES * u64::from(byte)) & !word & HIGH;
    while let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let flags = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(text: &str) -> Option<Account> {
        serde_json::from_str(text).ok()
    }

    /// Whatever the scanner reads, serde_json reads the same way.
    fn assert_agrees(text: &str) {
        if let Some(fast) = account(text) {
            let reference = serde(text).unwrap_or_else(|| {
                panic!("the scanner read a document serde_json refuses: {text:?}")
            });
            assert_eq!(fast, reference, "{text:?}");
        }
    }

    #[test]
    fn special_stops_at_the_first_special_byte_of_a_word_or_the_tail() {
        let is_special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        // Words and a tail, from any offset.
        for len in 0..40 {
            for at in 0..=len {
                for stop in [b'"', b'\\', 0, 0x1f] {
                    // High bytes and bytes just above the limits around the stop.
                    let mut bytes: Vec<u8> = (0..len)
                        .map(|i| [0x20, 0x21, 0x23, 0x5d, 0xff, 0x80][i % 6])
                        .collect();
                    if at < len {
                        bytes[at] = stop;
                        // Special bytes after the first one must not matter.
                        for later in bytes.iter_mut().skip(at + 1).step_by(2) {
                            *later = 0;
                        }
                    }
                    for from in [0, 1, 7, 15].into_iter().filter(|&from| from <= at) {
                        let expected = bytes[from..]
                            .iter()
                            .position(|&b| is_special(b))
                            .map_or(len, |n| from + n);
                        assert_eq!(special(&bytes, from), expected, "{from} {bytes:?}");
                    }
                }
            }
        }
    }

    const PLAIN: &str = r#"{"id":"109","username":"alice","acct":"alice","display_name":"Alice","url":"https://x.example/@alice","locked":false,"n":-1.5e+3,"z":0,"e":[],"o":{},"deep":[{"a":[true,false,null,"s\"\\\/\b\f\n\r\t\u00e9"]}],"note":"\u003cp\u003e"}"#;

    #[test]
    fn reads_the_five_fields_of_a_plain_answer() {
        let a = account(PLAIN).expect("plain shape");
        assert_eq!(
            (&*a.id, &*a.username, &*a.acct, &*a.display_name),
            ("109", "alice", "alice", "Alice")
        );
        assert_eq!(a.url.as_deref(), Some("https://x.example/@alice"));
        assert_agrees(PLAIN);
    }

    #[test]
    fn reads_the_recorded_answers_of_real_servers() {
        let recorded = [
            (
                "mastodon-4.7.3/test_verify_credentials.yaml",
                "/api/v1/accounts/verify_credentials",
            ),
            (
                "mastodon-pre-4.4/test_log_in_password_to_file.yaml",
                "/api/v1/accounts/verify_credentials",
            ),
        ];
        let mut read = 0;
        for (name, path) in recorded {
            let cassette = mastodon_auth_tests::Cassette::recorded(name).expect("cassette");
            for i in cassette.interactions {
                if i.request.path_and_query().starts_with(path) && i.response.status == 200 {
                    let text = &i.response.body;
                    assert!(account(text).is_some(), "{name}: not read in one pass");
                    assert_agrees(text);
                    read += 1;
                }
            }
        }
        assert!(read >= 2, "only {read} recorded answers found");
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let a = account(r#"{"id":"1","username":"a","acct":"a"}"#).expect("read");
        assert_eq!((a.display_name.as_str(), a.url), ("", None));
        let a = account(r#" {"url":null,"acct":"a","username":"a","id":"1"} "#).expect("read");
        assert_eq!(a.url, None);
    }

    #[test]
    fn leaves_everything_unusual_to_serde_json() {
        for text in [
            // Its errors: missing fields, wrong types, duplicates, syntax.
            "{}",
            r#"{"username":"a","acct":"a"}"#,
            r#"{"id":1,"username":"a","acct":"a"}"#,
            r#"{"id":"1","id":"2","username":"a","acct":"a"}"#,
            r#"{"id":"1","username":"a","acct":"a","display_name":null}"#,
            r#"{"id":"1","username":"a","acct":"a",}"#,
            r#"{"id":"1","username":"a","acct":"a"} x"#,
            r#"[{"id":"1","username":"a","acct":"a"}]"#,
            // Escapes where the scanner would have to decode.
            r#"{"id":"1","username":"\u0061","acct":"a"}"#,
            r#"{"\u0069d":"1","username":"a","acct":"a"}"#,
            r#"{"id":"1","username":"a","acct":"a","x":"\ud83d\ude00"}"#,
        ] {
            assert!(account(text).is_none(), "{text}");
        }
    }

    #[test]
    fn refuses_what_json_refuses() {
        let base = r#"{"id":"1","username":"a","acct":"a","x":VALUE}"#;
        for value in [
            "01",
            "-",
            "1.",
            "1e",
            "1e+",
            ".5",
            "+1",
            "--1",
            "0x1",
            "nul",
            "truex",
            "True",
            "NaN",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"\u{1}\"",
            "\"\t\"",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "",
            "[",
            "{",
            "\"open",
        ] {
            let text = base.replace("VALUE", value);
            assert!(account(&text).is_none(), "{text}");
            assert!(serde(&text).is_none(), "serde_json reads {text}");
        }
        for value in [
            "-0",
            "0.5e-7",
            "1E5",
            "123",
            "[[],{}]",
            "\"\\u00e9\"",
            "\" \\/ \"",
            "\"é\"",
        ] {
            let text = base.replace("VALUE", value);
            assert!(account(&text).is_some(), "{text}");
            assert_agrees(&text);
        }
    }

    #[test]
    fn deep_nesting_goes_to_serde_json_without_recursion() {
        let deep = |n: usize| {
            format!(
                r#"{{"id":"1","username":"a","acct":"a","x":{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(account(&deep(64)).is_some());
        assert!(account(&deep(65)).is_none());
        assert!(account(&deep(100_000)).is_none());
    }

    /// Every document one byte away from a plain answer: deleted, replaced or inserted with
    /// each byte that means something to JSON. The scanner may leave any of them to
    /// serde_json, but what it reads, serde_json must read the same way.
    #[test]
    fn agrees_with_serde_json_on_every_single_byte_mutation() {
        const BYTES: &[u8] = b"{}[],:\"\\ \t\n0123456789-+.eEtrufalsn/bu\x01x";
        let original = PLAIN.as_bytes();
        let (mut tried, mut read) = (0, 0);
        let mut check = |doc: Vec<u8>| {
            if let Ok(text) = String::from_utf8(doc) {
                tried += 1;
                assert_agrees(&text);
                read += usize::from(account(&text).is_some());
            }
        };
        for i in 0..=original.len() {
            if i < original.len() {
                let mut deleted = original.to_vec();
                deleted.remove(i);
                check(deleted);
            }
            for &b in BYTES {
                if i < original.len() {
                    let mut replaced = original.to_vec();
                    replaced[i] = b;
                    check(replaced);
                }
                let mut inserted = original.to_vec();
                inserted.insert(i, b);
                check(inserted);
            }
        }
        // The scanner must not simply give up on everything.
        assert!(read * 10 > tried, "read {read} of {tried}");
    }
}
