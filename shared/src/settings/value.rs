//! [`Value`]: how one raw environment string becomes a typed setting.

use std::collections::BTreeMap;

use crate::secret::Secret;

/// A type a setting can have.
pub trait Value: Sized {
    /// The kind shown in `--help` and the README.
    const KIND: &'static str;
    /// Parses a non-empty raw value; the error says what is wrong (the caller adds the name).
    fn parse(raw: &str) -> Result<Self, String>;
    /// The value when the setting is not given and has no default.
    fn unset() -> Self;
}

impl Value for String {
    const KIND: &'static str = "string";
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(raw.trim().to_string())
    }
    fn unset() -> Self {
        String::new()
    }
}

impl Value for Secret {
    const KIND: &'static str = "secret";
    fn parse(raw: &str) -> Result<Self, String> {
        // Secrets are not trimmed inside: only a trailing newline from a file or a secret store.
        Ok(Secret::new(raw.trim_end_matches(['\n', '\r'])))
    }
    fn unset() -> Self {
        Secret::default()
    }
}

/// Booleans as Go's `strconv.ParseBool` accepts them; anything else is an error, not `false`.
impl Value for bool {
    const KIND: &'static str = "bool";
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            other => Err(format!(
                "'{other}' is not a boolean (use true or false; also accepted: 1 t T TRUE True 0 f F FALSE False)"
            )),
        }
    }
    fn unset() -> Self {
        false
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            const KIND: &'static str = "integer";
            fn parse(raw: &str) -> Result<Self, String> {
                raw.trim().parse::<$t>().map_err(|_| {
                    format!("'{}' is not a whole number between {} and {}", raw.trim(), <$t>::MIN, <$t>::MAX)
                })
            }
            fn unset() -> Self { 0 }
        }
    )*};
}
int_value!(u16, u32, u64, i64, usize);

impl<T: Value> Value for Option<T> {
    const KIND: &'static str = T::KIND;
    fn parse(raw: &str) -> Result<Self, String> {
        T::parse(raw).map(Some)
    }
    fn unset() -> Self {
        None
    }
}

/// A list setting. Accepts a JSON array (so items may contain commas) or a comma-separated
/// list; items are trimmed and empty items dropped. `\,` keeps a comma inside an item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl List {
    /// Splits on `sep`, honouring `\<sep>` as a literal separator, trimming and dropping empties.
    pub fn split(raw: &str, sep: char) -> Vec<String> {
        split_items(raw, sep, false)
    }

    /// True when the list has no item.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value for List {
    const KIND: &'static str = "list";
    fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.starts_with('[') {
            let items: Vec<serde_json::Value> = serde_json::from_str(trimmed)
                .map_err(|e| format!("looks like a JSON array but does not parse: {e}"))?;
            let items = items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Ok(v.to_string()),
                    other => Err(format!("JSON array items must be strings, found {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(List(
                items.into_iter().filter(|s| !s.trim().is_empty()).collect(),
            ));
        }
        Ok(List(Self::split(trimmed, ',')))
    }
    fn unset() -> Self {
        List::default()
    }
}

/// Splits `raw` at `sep` (`\<sep>` is a literal one; with `braces`, a `sep` inside `{…}` does not
/// split either), trimming the items and dropping empty ones.
fn split_items(raw: &str, sep: char, braces: bool) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&sep) {
            cur.push(sep);
            chars.next();
        } else if c == sep && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            if braces && c == '{' {
                depth += 1;
            } else if braces && c == '}' {
                depth = depth.saturating_sub(1);
            }
            cur.push(c);
        }
    }
    items.push(cur);
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A list of glob patterns: as [`List`], except that a comma inside `{…}` does not split, so
/// `dist/*.{js,css}` stays one pattern as the anchors' single zglob pattern was (a plain comma
/// list would cut it into `dist/*.{js` and `css}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobList(pub Vec<String>);

impl GlobList {
    /// Splits at the commas outside braces; `\,` is a literal comma, as in [`List::split`].
    fn split(raw: &str) -> Vec<String> {
        split_items(raw, ',', true)
    }

    /// True when the list has no pattern.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value for GlobList {
    const KIND: &'static str = "list";
    fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().starts_with('[') {
            return List::parse(raw).map(|l| GlobList(l.0));
        }
        Ok(GlobList(Self::split(raw.trim())))
    }
    fn unset() -> Self {
        GlobList::default()
    }
}

/// A map setting: a JSON object of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Map(pub BTreeMap<String, String>);

impl Value for Map {
    const KIND: &'static str = "JSON map";
    fn parse(raw: &str) -> Result<Self, String> {
        let obj: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(raw.trim()).map_err(|e| format!("not a JSON object: {e}"))?;
        Ok(Map(obj
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()))
    }
    fn unset() -> Self {
        Map::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True", " true "] {
            assert!(bool::parse(t).unwrap(), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(!bool::parse(f).unwrap(), "{f}");
        }
        for bad in ["yes", "no", "on", "tRuE", "2", "y"] {
            let err = bool::parse(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}' is not a boolean")), "{err}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(u32::parse(" 15 ").unwrap(), 15);
        assert!(
            u32::parse("-1")
                .unwrap_err()
                .contains("'-1' is not a whole number")
        );
        assert!(u32::parse("abc").is_err());
    }

    #[test]
    fn comma_lists_are_trimmed() {
        assert_eq!(List::parse(" a , b,,c ").unwrap().0, vec!["a", "b", "c"]);
    }

    #[test]
    fn json_lists_keep_commas() {
        let l = List::parse(r#"["type=registry,ref=x/y:cache", "B=1,2"]"#).unwrap();
        assert_eq!(l.0, vec!["type=registry,ref=x/y:cache", "B=1,2"]);
    }

    #[test]
    fn escaped_commas() {
        assert_eq!(List::parse(r"A=1\,2,B=3").unwrap().0, vec!["A=1,2", "B=3"]);
    }

    #[test]
    fn glob_lists_keep_commas_inside_braces() {
        let l = GlobList::parse("dist/*.{js,css}, a/{b,{c,d}}/*.txt ,x").unwrap();
        assert_eq!(l.0, vec!["dist/*.{js,css}", "a/{b,{c,d}}/*.txt", "x"]);
        // An unclosed brace keeps the rest in one pattern: the glob parser then names it.
        assert_eq!(GlobList::parse("a{b,c").unwrap().0, vec!["a{b,c"]);
        assert_eq!(GlobList::parse(r"a\,b,c").unwrap().0, vec!["a,b", "c"]);
        let json = GlobList::parse(r#"["x,y", "*.{a,b}"]"#).unwrap();
        assert_eq!(json.0, vec!["x,y", "*.{a,b}"]);
    }

    #[test]
    fn malformed_json_list_is_an_error() {
        assert!(List::parse("[\"a\",").unwrap_err().contains("JSON array"));
        assert!(
            List::parse("[{\"a\":1}]")
                .unwrap_err()
                .contains("must be strings")
        );
    }

    #[test]
    fn maps() {
        let m = Map::parse(r#"{"a":"1","b":2}"#).unwrap();
        assert_eq!(m.0.get("b").unwrap(), "2");
        assert!(Map::parse("{nope").is_err());
    }
}
