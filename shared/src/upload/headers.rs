//! Per-object headers: the content type from an embedded extension table, and the
//! `content_type` / `content_encoding` / `cache_control` rule settings (reference
//! upload-plugins §2.5).
//!
//! The anchors use Go's `mime.TypeByExtension`, whose answer depends on the image's
//! `/etc/mime.types` (a scratch image has none, so `.txt` and `.zip` upload as
//! `application/octet-stream`). We embed `mime_guess`'s complete table instead: the same file
//! gets the same type everywhere.
//!
//! A rule setting is a JSON object `{"regex": "value"}` or a plain string (one value for every
//! file, `{".*": value}`). Each regex is unanchored and tested against the full local path as
//! matched, like the anchor's `regexp.MatchString`; the first rule *in the order written* wins
//! (the anchor iterated a Go map, so overlapping rules picked at random). An invalid regex is an
//! error naming it, not a panic.

use std::fmt;
use std::path::Path;

use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::settings::Value;

/// The fallback content type when the extension is unknown.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The content type of `path` from its extension (case-insensitive), from the embedded table;
/// `application/octet-stream` when unknown.
pub fn content_type(path: impl AsRef<Path>) -> &'static str {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        // gzip is `application/gzip` (RFC 6713); the table says `application/x-compressed`
        // for `.tgz`, and pinning `.gz` too keeps a table update from changing it.
        Some("gz" | "tgz") => "application/gzip",
        Some(_) => mime_guess::from_path(path)
            .first_raw()
            .unwrap_or(DEFAULT_CONTENT_TYPE),
        None => DEFAULT_CONTENT_TYPE,
    }
}

/// The content type for `path`: the first matching `content_type` rule, else [`content_type`].
pub fn resolve_content_type<'a>(rules: &'a HeaderRules, path: &str) -> &'a str {
    rules.value_for(path).unwrap_or_else(|| content_type(path))
}

/// Ordered `{regex: value}` rules for one header.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    regex: Regex,
    value: String,
}

impl HeaderRules {
    /// Parses a setting value: a JSON object of `regex: value` (order kept) or a plain string
    /// for every file. An empty value gives no rules.
    pub fn parse(raw: &str) -> Result<HeaderRules, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(HeaderRules::default());
        }
        let pairs = if raw.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(raw);
            (&mut de)
                .deserialize_map(OrderedPairs)
                .and_then(|p| de.end().map(|()| p))
                .map_err(|e| format!("looks like a JSON object but does not parse: {e}"))?
        } else {
            vec![(".*".to_string(), raw.to_string())]
        };
        let rules = pairs
            .into_iter()
            .map(|(pattern, value)| {
                if value.contains(['\r', '\n', '\0']) {
                    return Err(format!(
                        "the value for '{pattern}' contains a line break, which a header cannot hold"
                    ));
                }
                let regex = Regex::new(&pattern)
                    .map_err(|e| format!("invalid regex '{pattern}': {e}"))?;
                Ok(Rule { regex, value })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(HeaderRules { rules })
    }

    /// The value of the first rule whose regex matches somewhere in `path`.
    pub fn value_for(&self, path: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.regex.is_match(path))
            .map(|r| r.value.as_str())
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules in precedence order, as `(regex, value)`.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules
            .iter()
            .map(|r| (r.regex.as_str(), r.value.as_str()))
    }
}

impl Value for HeaderRules {
    const KIND: &'static str = "JSON map or string";
    fn parse(raw: &str) -> Result<Self, String> {
        HeaderRules::parse(raw)
    }
    fn unset() -> Self {
        HeaderRules::default()
    }
}

/// Reads a JSON object into `(key, value)` pairs in document order (a `serde_json::Map` would
/// sort them). Numbers and booleans are taken as their text, as [`crate::settings::Map`] does.
struct OrderedPairs;

impl<'de> Visitor<'de> for OrderedPairs {
    type Value = Vec<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of regex to header value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "the value for '{key}' must be a string, found {other}"
                    )));
                }
            };
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_content_types() {
        for (path, want) in [
            ("a.txt", "text/plain"),
            ("dist/index.html", "text/html"),
            ("app.js", "text/javascript"),
            ("style.css", "text/css"),
            ("data.json", "application/json"),
            ("logo.svg", "image/svg+xml"),
            ("mod.wasm", "application/wasm"),
            ("font.woff2", "font/woff2"),
            ("a.zip", "application/zip"),
            ("release.tar.gz", "application/gzip"),
            ("UPPER.HTML", "text/html"),
            ("noext", "application/octet-stream"),
            ("weird.zzzunknown", "application/octet-stream"),
        ] {
            assert_eq!(content_type(path), want, "{path}");
        }
    }

    #[test]
    fn plain_string_applies_to_every_file() {
        let rules = HeaderRules::parse(" max-age=3600 ").unwrap();
        assert_eq!(rules.value_for("any/file.bin"), Some("max-age=3600"));
        assert_eq!(rules.value_for(""), Some("max-age=3600"));
        assert!(HeaderRules::parse("  ").unwrap().is_empty());
    }

    #[test]
    fn json_rules_keep_the_written_order() {
        // Both patterns match `.min.js`: the first written wins, whichever sorts first.
        let rules =
            HeaderRules::parse(r#"{"\\.min\\.js$": "application/x-min", "\\.js$": "text/js"}"#)
                .unwrap();
        assert_eq!(rules.value_for("dist/a.min.js"), Some("application/x-min"));
        assert_eq!(rules.value_for("dist/a.js"), Some("text/js"));
        assert_eq!(rules.value_for("dist/a.css"), None);
        let rules =
            HeaderRules::parse(r#"{"\\.js$": "text/js", "\\.min\\.js$": "application/x-min"}"#)
                .unwrap();
        assert_eq!(rules.value_for("dist/a.min.js"), Some("text/js"));
        assert_eq!(
            rules.rules().collect::<Vec<_>>(),
            [("\\.js$", "text/js"), ("\\.min\\.js$", "application/x-min")]
        );
    }

    #[test]
    fn regexes_are_unanchored_on_the_full_path() {
        // As the anchor's `regexp.MatchString`: `.svg` matches anywhere.
        let rules = HeaderRules::parse(r#"{".svg": "image/svg+xml", "^dist/": "x"}"#).unwrap();
        assert_eq!(rules.value_for("a/xsvgy/file"), Some("image/svg+xml"));
        assert_eq!(rules.value_for("dist/a"), Some("x"));
        assert_eq!(rules.value_for("/abs/dist/a"), None);
    }

    #[test]
    fn errors_name_the_problem() {
        let err = HeaderRules::parse(r#"{"(unclosed": "x"}"#).unwrap_err();
        assert!(err.contains("invalid regex '(unclosed'"), "{err}");
        let err = HeaderRules::parse(r#"{"a": "x""#).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
        let err = HeaderRules::parse(r#"{"a": ["x"]}"#).unwrap_err();
        assert!(err.contains("'a' must be a string"), "{err}");
        let err = HeaderRules::parse(r#"{"a": "x\ny"}"#).unwrap_err();
        assert!(err.contains("line break"), "{err}");
        let err = HeaderRules::parse(r#"{"a": "x"} trailing"#).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
        // Numbers are taken as their text.
        let rules = HeaderRules::parse(r#"{".*": 3600}"#).unwrap();
        assert_eq!(rules.value_for("a"), Some("3600"));
    }

    #[test]
    fn content_type_rules_come_first() {
        let rules = HeaderRules::parse(r#"{"\\.map$": "application/json"}"#).unwrap();
        assert_eq!(resolve_content_type(&rules, "a.js.map"), "application/json");
        assert_eq!(resolve_content_type(&rules, "a.css"), "text/css");
        assert_eq!(
            <HeaderRules as Value>::parse("text/plain")
                .unwrap()
                .value_for("x"),
            Some("text/plain")
        );
    }
}
