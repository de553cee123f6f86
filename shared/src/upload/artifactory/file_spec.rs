//! The jf CLI's file spec and its settings: `PLUGIN_SPEC` files with their `${var}`
//! placeholders (`PLUGIN_SPEC_VARS`), and the `key=value;…` properties of a deploy.

use std::collections::BTreeMap;

use super::spec::*;

/// Splits on `sep` unless escaped with a backslash (the backslash is dropped).
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let ch = if c == '\\' && chars.peek() == Some(&sep) {
            chars.next();
            sep
        } else if c == sep {
            parts.push(String::new());
            continue;
        } else {
            c
        };
        if let Some(p) = parts.last_mut() {
            p.push(ch);
        }
    }
    parts
}

/// Parses target properties: `k=v;k2=v1,v2` (jf's syntax; `\;` and `\,` escape) or a JSON
/// map whose values are strings (one value each) or arrays (several values).
///
/// As the anchor does, a property whose value is empty or `null` is dropped (with a warning,
/// returned); a part without `=` after a comma is another value of the property before it,
/// and one with `=` starts a new property (the README's `k1=v1,k2=v2`).
pub fn parse_props(raw: &str) -> Result<(Props, Vec<String>), JfrogSpecError> {
    let raw = raw.trim();
    let mut props = Vec::new();
    let mut warnings = Vec::new();
    fn push(
        k: &str,
        v: &str,
        props: &mut Props,
        warnings: &mut Vec<String>,
    ) -> Result<(), JfrogSpecError> {
        let k = k.trim();
        let v = v.trim();
        if k.is_empty() {
            return Err(JfrogSpecError::Props(format!(
                "a property has no name (value '{v}')"
            )));
        }
        if k.contains(|c: char| c.is_control() || c == '=') {
            return Err(JfrogSpecError::Props(format!(
                "'{k}' is not a valid property name"
            )));
        }
        let unquoted = v.trim_matches(|c| c == '"' || c == '\'');
        if unquoted.is_empty() || unquoted == "null" {
            warnings.push(format!("property {k} has no value: not set"));
            return Ok(());
        }
        props.push((k.to_string(), v.to_string()));
        Ok(())
    }
    if raw.is_empty() {
        return Ok((props, warnings));
    }
    if raw.starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(raw).map_err(|e| {
                JfrogSpecError::Props(format!("looks like JSON but does not parse: {e}"))
            })?;
        for (k, v) in map {
            let values = match v {
                serde_json::Value::Array(a) => a,
                other => vec![other],
            };
            for v in values {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                    other => {
                        return Err(JfrogSpecError::Props(format!(
                            "property {k}: values are strings, numbers or arrays of them, not {other}"
                        )));
                    }
                };
                push(&k, &v, &mut props, &mut warnings)?;
            }
        }
        return Ok((props, warnings));
    }
    for pair in split_escaped(raw, ';') {
        if pair.trim().is_empty() {
            continue;
        }
        let mut key: Option<String> = None;
        for part in split_escaped(&pair, ',') {
            match (part.split_once('='), &key) {
                (Some((k, v)), _) if key.is_none() || !k.trim().is_empty() => {
                    key = Some(k.to_string());
                    push(k, v, &mut props, &mut warnings)?;
                }
                (_, Some(k)) => {
                    let k = k.clone();
                    push(&k, &part, &mut props, &mut warnings)?;
                }
                (_, None) => {
                    // The anchor drops an item without '='; so do we, loudly.
                    warnings.push(format!("'{}' is not key=value: ignored", part.trim()));
                }
            }
        }
    }
    Ok((props, warnings))
}

/// `PLUGIN_SPEC_VARS`: `key1=value1;key2=value2`, used as `${key1}` in the spec file.
pub fn parse_spec_vars(raw: &str) -> Result<BTreeMap<String, String>, JfrogSpecError> {
    let mut vars = BTreeMap::new();
    for item in raw.split(';').filter(|s| !s.trim().is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(JfrogSpecError::Spec(format!(
                "'{}' is not key=value (the form is key1=value1;key2=value2)",
                item.trim()
            )));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(JfrogSpecError::Spec(format!("'{item}' has no name")));
        }
        vars.insert(k.to_string(), v.to_string());
    }
    Ok(vars)
}

/// A file spec value that jf accepts as a boolean: `true`/`false` or the strings.
fn spec_bool(
    entry: &serde_json::Map<String, serde_json::Value>,
    name: &str,
    default: bool,
    i: usize,
) -> Result<bool, JfrogSpecError> {
    match entry.get(name) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(default),
        Some(serde_json::Value::String(s)) => match s.trim() {
            "true" | "TRUE" | "True" | "t" | "1" => Ok(true),
            "false" | "FALSE" | "False" | "f" | "0" => Ok(false),
            other => Err(JfrogSpecError::Spec(format!(
                "files[{i}].{name}: '{other}' is not true or false"
            ))),
        },
        Some(other) => Err(JfrogSpecError::Spec(format!(
            "files[{i}].{name}: {other} is not true or false"
        ))),
    }
}

/// Fields of an upload file spec entry we read; the others jf knows but we refuse when set.
const SPEC_FIELDS: &[&str] = &[
    "pattern",
    "target",
    "props",
    "targetProps",
    "recursive",
    "flat",
    "regexp",
    "exclusions",
    "excludePatterns",
];
const UNSUPPORTED: &[&str] = &[
    "ant",
    "archive",
    "explode",
    "symlinks",
    "include-dirs",
    "includeDirs",
];

/// The upload rules of a file spec, which entries set `flat`, and the warnings to log.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// One rule per `files[]` entry.
    pub rules: Vec<UploadRule>,
    /// Entries that set `flat` themselves.
    pub flat_set: Vec<bool>,
    /// What to warn about.
    pub warnings: Vec<String>,
}

/// Parses the upload part of a JFrog file spec (`{"files": [{"pattern", "target", …}]}`)
/// after replacing `${var}` with `vars`.
pub fn parse_file_spec(
    text: &str,
    vars: &BTreeMap<String, String>,
) -> Result<FileSpec, JfrogSpecError> {
    let mut text = text.to_string();
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| JfrogSpecError::Spec(format!("not a JSON file spec: {e}")))?;
    let files = doc
        .get("files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| JfrogSpecError::Spec("no \"files\" array".into()))?;
    if files.is_empty() {
        return Err(JfrogSpecError::Spec("\"files\" is empty".into()));
    }
    let mut spec = FileSpec {
        rules: Vec::new(),
        flat_set: Vec::new(),
        warnings: Vec::new(),
    };
    for (i, f) in files.iter().enumerate() {
        let entry = f
            .as_object()
            .ok_or_else(|| JfrogSpecError::Spec(format!("files[{i}] is not an object")))?;
        let string = |name: &str| -> Result<String, JfrogSpecError> {
            match entry.get(name) {
                None | Some(serde_json::Value::Null) => Ok(String::new()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(JfrogSpecError::Spec(format!(
                    "files[{i}].{name}: {other} is not a string"
                ))),
            }
        };
        for k in entry.keys() {
            if UNSUPPORTED.contains(&k.as_str()) {
                if spec_bool(entry, k, false, i).unwrap_or(true) {
                    return Err(JfrogSpecError::Spec(format!(
                        "files[{i}].{k} is not supported by longshore-jfrog"
                    )));
                }
            } else if !SPEC_FIELDS.contains(&k.as_str()) {
                spec.warnings
                    .push(format!("files[{i}].{k} is not read by an upload: ignored"));
            }
        }
        if let Some(left) = text_var(&string("pattern")?).or(text_var(&string("target")?)) {
            return Err(JfrogSpecError::Spec(format!(
                "files[{i}] uses ${{{left}}}, which PLUGIN_SPEC_VARS does not define"
            )));
        }
        let pattern = string("pattern")?;
        if pattern.trim().is_empty() {
            return Err(JfrogSpecError::Spec(format!(
                "files[{i}].pattern is missing"
            )));
        }
        let target = string("target")?;
        if target.trim().is_empty() {
            return Err(JfrogSpecError::Spec(format!(
                "files[{i}].target is missing"
            )));
        }
        let mut props = Vec::new();
        for name in ["props", "targetProps"] {
            let (p, w) = parse_props(&string(name)?)
                .map_err(|e| JfrogSpecError::Spec(format!("files[{i}].{name}: {e}")))?;
            props.extend(p);
            spec.warnings
                .extend(w.into_iter().map(|w| format!("files[{i}].{name}: {w}")));
        }
        let mut exclusions = Vec::new();
        for name in ["exclusions", "excludePatterns"] {
            match entry.get(name) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::Array(a)) => {
                    for x in a {
                        let x = x.as_str().ok_or_else(|| {
                            JfrogSpecError::Spec(format!("files[{i}].{name}: {x} is not a string"))
                        })?;
                        exclusions.push(x.to_string());
                    }
                }
                Some(serde_json::Value::String(s)) => {
                    exclusions.extend(s.split(';').map(str::to_string));
                }
                Some(other) => {
                    return Err(JfrogSpecError::Spec(format!(
                        "files[{i}].{name}: {other} is not a list of patterns"
                    )));
                }
            }
        }
        spec.flat_set.push(entry.contains_key("flat"));
        spec.rules.push(UploadRule {
            pattern,
            target: target.trim_start_matches('/').to_string(),
            props,
            recursive: spec_bool(entry, "recursive", true, i)?,
            flat: spec_bool(entry, "flat", false, i)?,
            regexp: spec_bool(entry, "regexp", false, i)?,
            exclusions,
        });
    }
    Ok(spec)
}

/// The first `${name}` left in `s`.
fn text_var(s: &str) -> Option<String> {
    let start = s.find("${")?;
    let rest = &s[start + 2..];
    let end = rest.find('}')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §6.3: the anchor's forms and the README's, plus JSON.
    #[test]
    fn props_table() {
        let p = |s: &str| parse_props(s).unwrap().0;
        let kv = |v: &[(&str, &str)]| -> Props {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(p("a=1;b=2"), kv(&[("a", "1"), ("b", "2")]));
        assert_eq!(p("k=v1,v2"), kv(&[("k", "v1"), ("k", "v2")]));
        assert_eq!(
            p("key1=value1,key2=value2"),
            kv(&[("key1", "value1"), ("key2", "value2")])
        );
        assert_eq!(
            p("key1=123;projectName=ExampleApp"),
            kv(&[("key1", "123"), ("projectName", "ExampleApp")])
        );
        assert_eq!(p(r"k=a\,b;x=1\;2"), kv(&[("k", "a,b"), ("x", "1;2")]));
        assert_eq!(p("a=1,2,b=3"), kv(&[("a", "1"), ("a", "2"), ("b", "3")]));
        assert_eq!(p("url=http://x/?q=1"), kv(&[("url", "http://x/?q=1")]));
        let (props, warnings) = parse_props("a=;b=null;c=\"\";d=ok;junk").unwrap();
        assert_eq!(props, kv(&[("d", "ok")]));
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert_eq!(
            p(r#"{"team": "core", "os": ["linux", "darwin"], "n": 3}"#),
            kv(&[
                ("n", "3"),
                ("os", "linux"),
                ("os", "darwin"),
                ("team", "core")
            ])
        );
        assert!(parse_props("=v").is_err());
        assert!(parse_props("{nope").is_err());
        assert!(parse_props(r#"{"a": {"b": 1}}"#).is_err());
    }

    #[test]
    fn file_specs() {
        let vars = parse_spec_vars("ver=1.2;repo=libs").unwrap();
        let spec = parse_file_spec(
            r#"{"files": [
                {"pattern": "dist/*.zip", "target": "/${repo}/${ver}/", "flat": "true",
                 "targetProps": "a=1", "exclusions": ["*-tmp.zip"]},
                {"pattern": "docs/", "target": "${repo}/docs/", "recursive": false, "props": "b=2"}
            ]}"#,
            &vars,
        )
        .unwrap();
        assert_eq!(spec.rules.len(), 2);
        assert_eq!(spec.rules[0].target, "libs/1.2/");
        assert!(spec.rules[0].flat);
        assert_eq!(spec.flat_set, vec![true, false]);
        assert_eq!(spec.rules[0].exclusions, vec!["*-tmp.zip"]);
        assert!(!spec.rules[1].recursive);
        assert_eq!(
            spec.rules[1].props,
            vec![("b".to_string(), "2".to_string())]
        );
        let bad = |s: &str| parse_file_spec(s, &vars).unwrap_err().to_string();
        assert!(bad("{}").contains("no \"files\""));
        assert!(bad(r#"{"files":[{"target":"r/"}]}"#).contains("pattern is missing"));
        assert!(
            bad(r#"{"files":[{"pattern":"a","target":"r/","explode":"true"}]}"#)
                .contains("explode is not supported")
        );
        assert!(bad(r#"{"files":[{"pattern":"${nope}","target":"r/"}]}"#).contains("${nope}"));
        assert!(
            bad(r#"{"files":[{"pattern":"a","target":"r/","flat":"maybe"}]}"#)
                .contains("not true or false")
        );
        assert!(parse_spec_vars("novalue").is_err());
    }
}
