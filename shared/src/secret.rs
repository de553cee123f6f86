//! Secrets: a [`Secret`] never prints its value, and every value that was ever wrapped in one is
//! masked (with its base64 forms) in everything [`mask`] sees: our log lines, error messages, and
//! the build output we relay from the daemon.
//!
//! Masking is the second line of defence; the first is never formatting a secret at all. The
//! value is only reachable through [`Secret::expose`], used where a credential goes on the wire.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// Shorter values are not masked: masking a 1–3 character secret would shred ordinary words in
/// the log while protecting nothing a person could not guess.
const MIN_MASKED_LEN: usize = 4;

/// What a masked value is replaced with.
pub const MASK: &str = "******";

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// A credential: password, token, key. `Debug` and `Display` print `******`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it (and its base64 forms) for masking.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The value, for the one place it must go on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Registers a value to be masked, with its standard and URL-safe base64 encodings (credentials
/// travel base64-encoded in registry headers and docker config files).
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < MIN_MASKED_LEN {
        return;
    }
    let mut forms = vec![value.to_string()];
    for engine in [&STANDARD, &URL_SAFE] {
        let encoded = engine.encode(value);
        // Padding is not part of what leaks inside a longer base64 string.
        forms.push(encoded.trim_end_matches('=').to_string());
    }
    // Multi-line values (PEM keys, JSON keys) are also masked line by line, since a log line
    // may hold only one of their lines.
    if value.contains('\n') {
        forms.extend(
            value
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 8)
                .map(str::to_string),
        );
    }
    let Ok(mut known) = KNOWN.write() else {
        return;
    };
    for form in forms {
        if form.len() >= MIN_MASKED_LEN && !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so a value that contains another is masked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Replaces every registered secret in `text` with [`MASK`], and drops the user information
/// (`user:password@`) of every URL in it.
pub fn mask(text: &str) -> Cow<'_, str> {
    let Ok(known) = KNOWN.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = without_userinfo(text);
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// `text` with the user information of every `scheme://user:password@host` in it removed: a
/// clone token in `DRONE_REMOTE_URL`, a key in `PLUGIN_ENDPOINT` or `DOCKER_HOST`. Used on every
/// line we print and every value we store or put in a label.
pub fn without_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| "/?#\"'<>`".contains(c) || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        out.push_str(match authority.rfind('@') {
            Some(at) => &authority[at + 1..],
            None => authority,
        });
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Registers, for masking, the user information of every URL in the process environment, in
/// its raw and percent-decoded forms: wherever such a URL is echoed whole or in part (a
/// library's error, a daemon's log), the password is masked.
pub fn register_url_credentials<'a>(values: impl Iterator<Item = &'a str>) {
    for value in values {
        let mut rest = value;
        while let Some(i) = rest.find("://") {
            let tail = &rest[i + 3..];
            let end = tail
                .find(|c: char| "/?#\"'<>`".contains(c) || c.is_whitespace())
                .unwrap_or(tail.len());
            if let Some(at) = tail[..end].rfind('@') {
                let userinfo = &tail[..at];
                register(userinfo);
                register(&percent_decode(userinfo));
                if let Some((_, password)) = userinfo.split_once(':') {
                    register(password);
                    register(&percent_decode(password));
                }
            }
            rest = &tail[end..];
        }
    }
}

/// `%XX` sequences decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn masks_value_and_base64_forms() {
        let _s = Secret::new("p4ss+word/?>x");
        let b64 = STANDARD.encode("p4ss+word/?>x");
        let url = URL_SAFE.encode("p4ss+word/?>x");
        let line = format!("a p4ss+word/?>x b {b64} c {url}");
        let masked = mask(&line);
        assert!(!masked.contains("p4ss+word"), "{masked}");
        assert!(!masked.contains(b64.trim_end_matches('=')), "{masked}");
        assert!(!masked.contains(url.trim_end_matches('=')), "{masked}");
    }

    #[test]
    fn url_user_information_is_dropped_and_its_password_masked() {
        assert_eq!(
            without_userinfo("push to http://user:pa%2Fss@s3.local:9000/b and ssh://git@h/x"),
            "push to http://s3.local:9000/b and ssh://h/x"
        );
        assert_eq!(without_userinfo("a@b c://d"), "a@b c://d");
        register_url_credentials(["https://x-token:tok%2Bvalue123@git.example/r.git"].into_iter());
        assert_eq!(
            mask("saw tok+value123 and tok%2Bvalue123"),
            "saw ****** and ******"
        );
    }

    #[test]
    fn short_values_are_not_masked() {
        let _s = Secret::new("ab");
        assert_eq!(mask("ab cd"), "ab cd");
    }
}
