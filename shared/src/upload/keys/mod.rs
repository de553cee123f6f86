//! Object keys: from a matched local path, `target` and `strip_prefix` to the key of the object
//! (drone-s3's three strip modes, reference upload-plugins §2.4), the check that no two files
//! share a key, and the download-mode path helpers (§2.7).
//!
//! `strip_prefix` modes (backslashes become `/` first):
//! - empty: the key is `target/path` (a leading `/` of the path dropped);
//! - relative (legacy): a plain *string* prefix removed from the path as matched (`dis` turns
//!   `dist/app.js` into `t/app.js`, as the anchor does);
//! - absolute: validated, then a literal prefix or a wildcard pattern (`**` any depth, `*` one
//!   segment, `?` one character) removed from the absolute path. Unlike the anchor it must end
//!   on a segment boundary (`/foo` does not strip `/foobar/x`); a relative source is tested by
//!   its absolute path, so `source: dist/*` + `strip_prefix: /work/dist/` strips.
//!
//! In both strip modes a prefix that removes the whole path is a warning and the path is kept.
//! Where the anchor lets a key escape (`../out/a.zip` + target `t` gave `out/a.zip`), we refuse:
//! a key never has a `..` segment, a backslash, a leading `/` or an empty name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use super::glob::clean_path;
use super::select::LocalFile;

mod error;

pub use error::{KeyError, StripPrefixProblem};

/// The most characters an absolute `strip_prefix` may have.
const MAX_STRIP_PREFIX_LEN: usize = 256;
/// The most wildcards (`**`, `*`, `?`) an absolute `strip_prefix` may have.
const MAX_WILDCARDS: usize = 20;

/// A parsed `strip_prefix`.
#[derive(Debug, Clone)]
pub enum StripPrefix {
    /// Not set.
    None,
    /// Relative: a plain string prefix of the path as matched.
    Legacy(String),
    /// Absolute without wildcards: a prefix of the absolute path, ending on a segment boundary.
    Literal(String),
    /// Absolute with wildcards, compiled.
    Wildcard {
        /// The pattern (backslashes made `/`).
        pattern: String,
        /// The anchored regex.
        regex: Regex,
    },
}

impl StripPrefix {
    /// Parses the setting: backslashes become `/`, an absolute prefix is validated and
    /// compiled once.
    pub fn parse(raw: &str) -> Result<StripPrefix, KeyError> {
        let s = raw.replace('\\', "/");
        if s.is_empty() {
            return Ok(StripPrefix::None);
        }
        if !s.starts_with('/') {
            return Ok(StripPrefix::Legacy(s));
        }
        validate_strip_prefix(&s)?;
        if s.contains(['*', '?']) {
            let regex = pattern_to_regex(&s)?;
            Ok(StripPrefix::Wildcard { pattern: s, regex })
        } else {
            Ok(StripPrefix::Literal(s))
        }
    }

    /// Removes the prefix from `path`: `Ok(None)` when it does not match, an error when it
    /// would leave nothing.
    fn strip<'p>(&self, path: &'p str) -> Result<Option<&'p str>, KeyError> {
        let rest = match self {
            StripPrefix::None => return Ok(None),
            StripPrefix::Legacy(p) => path.strip_prefix(p.as_str()),
            StripPrefix::Literal(p) => strip_literal(path, p),
            StripPrefix::Wildcard { regex, .. } => {
                regex.find(path).and_then(|m| path.get(m.end()..))
            }
        };
        match rest {
            None => Ok(None),
            Some(r) if r.trim_matches('/').is_empty() => Err(KeyError::RemovesEntirePath {
                prefix: self.as_str().to_string(),
                path: path.to_string(),
            }),
            Some(r) => Ok(Some(r)),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            StripPrefix::None => "",
            StripPrefix::Legacy(p) | StripPrefix::Literal(p) => p,
            StripPrefix::Wildcard { pattern, .. } => pattern,
        }
    }
}

/// `path` without the literal `prefix`, when the prefix ends on a segment boundary.
fn strip_literal<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Checks an absolute `strip_prefix` (backslashes are made `/` first): the categories of
/// drone-s3's `validateStripPrefix`.
pub fn validate_strip_prefix(prefix: &str) -> Result<(), KeyError> {
    let s = prefix.replace('\\', "/");
    let fail = |problem| {
        Err(KeyError::StripPrefix {
            prefix: prefix.to_string(),
            problem,
        })
    };
    let bytes = s.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return fail(StripPrefixProblem::DriveLetter);
    }
    if !s.starts_with('/') {
        return fail(StripPrefixProblem::NotAbsolute);
    }
    if s.chars().count() > MAX_STRIP_PREFIX_LEN {
        return fail(StripPrefixProblem::TooLong);
    }
    // `**` counts as one wildcard.
    if s.replace("**", "*").matches(['*', '?']).count() > MAX_WILDCARDS {
        return fail(StripPrefixProblem::TooManyWildcards);
    }
    if s.contains("//") {
        return fail(StripPrefixProblem::EmptySegment);
    }
    if s.split('/').any(|seg| seg.contains("**") && seg != "**") {
        return fail(StripPrefixProblem::DoubleStarSegment);
    }
    Ok(())
}

/// Compiles a wildcard `strip_prefix` to a regex anchored at the start: `**` → `(.+)`,
/// `*` → `([^/]+)`, `?` → `([^/])`, the rest literal. A pattern not ending in `/` must end on
/// a segment boundary.
pub fn pattern_to_regex(pattern: &str) -> Result<Regex, KeyError> {
    // `(?s)`: `**` crosses directory names holding a newline (a legal name character) too.
    let mut re = String::from("(?s)^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str("(.+)");
            }
            '*' => re.push_str("([^/]+)"),
            '?' => re.push_str("([^/])"),
            other => re.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    if !pattern.ends_with('/') {
        re.push_str("(?:/|$)");
    }
    Regex::new(&re).map_err(|source| KeyError::Regex {
        prefix: pattern.to_string(),
        source,
    })
}

/// drone-s3's `stripWildcardPrefix`: `path` without the prefix `pattern` matches (literal or
/// wildcard); `path` unchanged when it does not match or `pattern` is empty; an error when
/// nothing would remain.
pub fn strip_wildcard_prefix(path: &str, pattern: &str) -> Result<String, KeyError> {
    let strip = StripPrefix::parse(pattern)?;
    Ok(strip.strip(path)?.unwrap_or(path).to_string())
}

/// One file's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedKey {
    /// The object key.
    pub key: String,
    /// True when `strip_prefix` matched the path.
    pub stripped: bool,
    /// Set when the prefix would have removed the whole path (the path was kept).
    pub warning: Option<String>,
}

/// The keys of a whole selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPlan {
    /// Each file (as matched) with its key, in selection order.
    pub keys: Vec<(PathBuf, String)>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// `target` + `strip_prefix`, parsed once, applied to each file.
#[derive(Debug, Clone)]
pub struct KeyMapper {
    target: String,
    strip: StripPrefix,
}

impl KeyMapper {
    /// Parses the settings. The target's leading `/` is dropped and backslashes become `/`; a
    /// target that climbs above the bucket root (`../x`) is refused.
    pub fn new(target: &str, strip_prefix: &str) -> Result<KeyMapper, KeyError> {
        let slashed = target.replace('\\', "/");
        let cleaned = clean_path(slashed.trim_start_matches('/'));
        let cleaned = if cleaned == "." {
            String::new()
        } else {
            cleaned
        };
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(KeyError::Target {
                target: target.to_string(),
                reason: "climbs above the bucket root with '..'",
            });
        }
        Ok(KeyMapper {
            target: cleaned,
            strip: StripPrefix::parse(strip_prefix)?,
        })
    }

    /// The key of one file: `matched` is the path as the source matched it, `abs` its absolute
    /// path (used by an absolute `strip_prefix` when `matched` is relative).
    pub fn key(&self, matched: &Path, abs: &Path) -> Result<MappedKey, KeyError> {
        let shown = matched.to_string_lossy();
        let path = matched
            .to_str()
            .ok_or_else(|| unsafe_key(&shown, "not UTF-8"))?;
        let subject = match &self.strip {
            StripPrefix::Literal(_) | StripPrefix::Wildcard { .. } if !path.starts_with('/') => abs
                .to_str()
                .ok_or_else(|| unsafe_key(&shown, "not UTF-8"))?,
            _ => path,
        };
        let (rel, stripped, warning) = match self.strip.strip(subject) {
            Ok(Some(rest)) => (rest, true, None),
            Ok(None) => (path, false, None),
            Err(e) => (path, false, Some(format!("{e}; keeping the path"))),
        };
        Ok(MappedKey {
            key: self.join(rel, &shown)?,
            stripped,
            warning,
        })
    }

    /// The keys of all `files`, with the warnings, after checking that no two files share a key.
    pub fn map_files(&self, files: &[LocalFile]) -> Result<KeyPlan, KeyError> {
        let mut plan = KeyPlan::default();
        let mut any_stripped = false;
        for file in files {
            let mapped = self.key(&file.path, &file.abs)?;
            any_stripped |= mapped.stripped;
            plan.warnings.extend(mapped.warning);
            plan.keys.push((file.path.clone(), mapped.key));
        }
        if !any_stripped && !files.is_empty() && !matches!(self.strip, StripPrefix::None) {
            plan.warnings.push(format!(
                "strip_prefix '{}' did not match any paths; keys will include original path",
                self.strip.as_str()
            ));
        }
        check_collisions(&plan.keys)?;
        Ok(plan)
    }

    /// `target/rel`, with the safety rules for keys.
    fn join(&self, rel: &str, shown: &str) -> Result<String, KeyError> {
        if rel.contains('\\') {
            return Err(unsafe_key(shown, "it contains a backslash"));
        }
        let rel = clean_path(rel.trim_start_matches('/'));
        if rel == "." {
            return Err(unsafe_key(shown, "the name is empty"));
        }
        if rel == ".." || rel.starts_with("../") {
            return Err(unsafe_key(
                shown,
                "it climbs out of the target with '..' (use strip_prefix to remove the leading '../')",
            ));
        }
        Ok(if self.target.is_empty() {
            rel
        } else {
            format!("{}/{rel}", self.target)
        })
    }
}

fn unsafe_key(path: &str, reason: &'static str) -> KeyError {
    KeyError::UnsafeKey {
        path: path.to_string(),
        reason,
    }
}

/// The key of `src_path` (absolute or relative, as matched) under `target` with
/// `strip_prefix`; a prefix that removes the whole path keeps it (the mapper's warning).
pub fn resolve_key(target: &str, src_path: &str, strip_prefix: &str) -> Result<String, KeyError> {
    let path = Path::new(src_path);
    Ok(KeyMapper::new(target, strip_prefix)?.key(path, path)?.key)
}

/// Fails when two different files would be uploaded to the same key, naming both.
pub fn check_collisions(pairs: &[(PathBuf, String)]) -> Result<(), KeyError> {
    let mut by_key: BTreeMap<&str, &Path> = BTreeMap::new();
    for (path, key) in pairs {
        if let Some(first) = by_key.insert(key, path)
            && first != path.as_path()
        {
            return Err(KeyError::Collision {
                key: key.clone(),
                first: first.display().to_string(),
                second: path.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Download mode: `source` / `target` as drone-s3 normalises them, one leading `/` removed.
pub fn normalize_path(path: &str) -> String {
    path.strip_prefix('/').unwrap_or(path).to_string()
}

/// Download mode: the local name of the object `source` listed under `source_dir`: the key
/// without `source_dir` and its `/`, with `strip_prefix` *prepended* (no separator: that is
/// the anchor's contract). Pass the result to [`safe_local_path`].
pub fn resolve_source(source_dir: &str, source: &str, strip_prefix: &str) -> String {
    let rest = source.strip_prefix(source_dir).unwrap_or(source);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    format!("{strip_prefix}{rest}")
}

/// Download mode: `target_dir/rel`, refusing anything that could land outside `target_dir`
/// (the anchor joined keys containing `../` as they were): `..` segments, absolute paths,
/// drive letters, backslashes, NUL, or an empty name.
pub fn safe_local_path(target_dir: &Path, rel: &str) -> Result<PathBuf, KeyError> {
    let refuse = |reason| {
        Err(KeyError::UnsafeLocalPath {
            rel: rel.to_string(),
            dir: target_dir.display().to_string(),
            reason,
        })
    };
    let bytes = rel.as_bytes();
    if rel.contains('\\') {
        return refuse("it contains a backslash");
    }
    if rel.contains('\0') {
        return refuse("it contains a NUL byte");
    }
    if rel.starts_with('/') {
        return refuse("it is absolute");
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return refuse("it starts with a drive letter");
    }
    let mut out = target_dir.to_path_buf();
    let mut named = false;
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => return refuse("it contains '..'"),
            s => {
                out.push(s);
                named = true;
            }
        }
    }
    if !named {
        return refuse("the name is empty");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(target: &str, src: &str, strip: &str) -> String {
        resolve_key(target, src, strip).unwrap_or_else(|e| panic!("{target} {src} {strip}: {e}"))
    }

    #[test]
    fn resolve_unix_key() {
        // TestResolveUnixKey, plus the two rows of the Windows variant.
        for (name, target, src, strip, want) in [
            ("target not set", "", "/foo/bar", "/foo", "bar"),
            (
                "strip prefix not set",
                "/hello",
                "/foo/bar",
                "",
                "hello/foo/bar",
            ),
            ("everything set", "hello", "/foo/bar", "/foo", "hello/bar"),
            (
                "backslash strip prefix",
                "hello",
                "foo/bar/world",
                "foo\\bar",
                "hello/world",
            ),
            (
                "forward slash strip prefix",
                "hello",
                "foo/bar/world",
                "foo/bar",
                "hello/world",
            ),
        ] {
            assert_eq!(key(target, src, strip), want, "{name}");
        }
    }

    #[test]
    fn strip_wildcard_prefix_table() {
        let deep = "/harness/artifacts/build-123/services/auth/v1.2/auth-service.zip";
        for (name, path, pattern, want) in [
            (
                "Single wildcard - */",
                "/harness/artifacts/9f2c1b/module/app.zip",
                "/harness/artifacts/*/",
                Some("module/app.zip"),
            ),
            (
                "Double wildcard - */*/",
                "/harness/artifacts/hash/nightly/lib.zip",
                "/harness/artifacts/*/*/",
                Some("lib.zip"),
            ),
            (
                "Triple wildcard",
                "/harness/artifacts/a/b/c/doc.zip",
                "/harness/artifacts/*/*/*/",
                Some("doc.zip"),
            ),
            (
                "Any depth - **/",
                "/harness/artifacts/x/y/z/file.zip",
                "/harness/artifacts/**/",
                Some("file.zip"),
            ),
            (
                "No match - path unchanged",
                "/different/path/file.zip",
                "/harness/artifacts/*/",
                Some("/different/path/file.zip"),
            ),
            (
                "Empty key error",
                "/harness/artifacts/build/app.zip",
                "/harness/artifacts/build/app.zip",
                None,
            ),
            (
                "Pattern with trailing content",
                "/harness/artifacts/build123/services/app.zip",
                "/harness/artifacts/*/services/",
                Some("app.zip"),
            ),
            (
                "Question mark wildcard",
                "/harness/artifacts/build1/app.zip",
                "/harness/artifacts/build?/",
                Some("app.zip"),
            ),
            (
                "Literal prefix",
                "/harness/artifacts/build/app.zip",
                "/harness/artifacts/",
                Some("build/app.zip"),
            ),
            ("Root wildcard", "/build/app.zip", "/*/", Some("app.zip")),
            (
                "Complex nested",
                deep,
                "/harness/artifacts/*/services/*/",
                Some("v1.2/auth-service.zip"),
            ),
            (
                "** with additional path",
                "/harness/artifacts/very/deep/nested/structure/file.zip",
                "/harness/artifacts/**/structure/",
                Some("file.zip"),
            ),
            (
                "Multiple ?",
                "/harness/artifacts/build123/app.zip",
                "/harness/artifacts/build???/",
                Some("app.zip"),
            ),
            (
                "Empty pattern",
                "/harness/artifacts/build/app.zip",
                "",
                Some("/harness/artifacts/build/app.zip"),
            ),
        ] {
            match (strip_wildcard_prefix(path, pattern), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{name}"),
                (Err(e), None) => {
                    assert!(matches!(e, KeyError::RemovesEntirePath { .. }), "{name}");
                    assert!(e.to_string().contains("removes entire path"), "{name}: {e}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn double_star_strips_names_with_newlines() {
        // Found with the key_mapping fuzz target's `/**/` check: `(.+)` stopped at a newline.
        assert_eq!(strip_wildcard_prefix("/a\nb/c", "/**/").unwrap(), "c");
        assert_eq!(
            strip_wildcard_prefix("/w/x\ny/z/f", "/w/**/z/").unwrap(),
            "f"
        );
    }

    #[test]
    fn pattern_to_regex_table() {
        let re = |p| pattern_to_regex(p).unwrap();
        assert!(re("/harness/artifacts/*/").is_match("/harness/artifacts/build123/"));
        assert!(re("/harness/artifacts/**/").is_match("/harness/artifacts/build123/module1/deep/"));
        assert!(re("build?/").is_match("build1/"));
        assert!(!re("build?/").is_match("build123/"));
        // Without a trailing `/` the match still ends on a segment boundary.
        assert!(!re("/a/b?").is_match("/a/b12/x"));
        assert!(re("/a/b?").is_match("/a/b1/x"));
    }

    #[test]
    fn build_key_with_wildcards() {
        for (name, target, src, strip, want) in [
            (
                "single wildcard",
                "deployment",
                "/harness/artifacts/build-123/module1/app.zip",
                "/harness/artifacts/*/",
                "deployment/module1/app.zip",
            ),
            (
                "deep nested **",
                "releases",
                "/harness/artifacts/build-456/services/auth/v1.0/auth-service.zip",
                "/harness/artifacts/**/services/",
                "releases/auth/v1.0/auth-service.zip",
            ),
            (
                "question mark",
                "upload",
                "/harness/artifacts/build1/app.zip",
                "/harness/artifacts/build?/",
                "upload/app.zip",
            ),
            (
                "literal prefix",
                "backup",
                "/harness/artifacts/build123/lib.zip",
                "/harness/artifacts/",
                "backup/build123/lib.zip",
            ),
            (
                "no match",
                "fallback",
                "/different/location/file.zip",
                "/harness/artifacts/*/",
                "fallback/different/location/file.zip",
            ),
        ] {
            assert_eq!(key(target, src, strip), want, "{name}");
        }
    }

    #[test]
    fn resolve_key_back_compat() {
        for (name, target, src, strip, want) in [
            (
                "Relative strip_prefix trims relative path",
                "hello",
                "foo/bar.zip",
                "foo/",
                "hello/bar.zip",
            ),
            (
                "Relative strip_prefix does not trim absolute path",
                "hello",
                "/foo/bar.zip",
                "foo/",
                "hello/foo/bar.zip",
            ),
            (
                "Absolute literal prefix trims absolute path",
                "hello",
                "/foo/bar.zip",
                "/foo/",
                "hello/bar.zip",
            ),
            (
                "No strip_prefix provided",
                "/hello",
                "/foo/bar.zip",
                "",
                "hello/foo/bar.zip",
            ),
        ] {
            assert_eq!(key(target, src, strip), want, "{name}");
        }
    }

    #[test]
    fn worked_examples() {
        // Reference §2.4's table, except the last row (see below).
        for (src, target, strip, want) in [
            (
                "dist/app.js",
                "releases/1.0",
                "",
                "releases/1.0/dist/app.js",
            ),
            (
                "dist/app.js",
                "releases/1.0",
                "dist/",
                "releases/1.0/app.js",
            ),
            ("dist/app.js", "releases/1.0", "dist", "releases/1.0/app.js"),
            (
                "dist/app.js",
                "releases/1.0",
                "dis",
                "releases/1.0/t/app.js",
            ),
            (
                "/harness/configfiles/filesconfig/upload-1.txt",
                "config",
                "/harness/configfiles",
                "config/filesconfig/upload-1.txt",
            ),
            ("/harness/out/a.zip", "t", "", "t/harness/out/a.zip"),
            ("a.zip", "/", "", "a.zip"),
        ] {
            assert_eq!(key(target, src, strip), want, "{src} {target} {strip}");
        }
        // A prefix that removes the whole path: warning, path kept.
        let mapper = KeyMapper::new("t", "/harness/out/a.zip").unwrap();
        let p = Path::new("/harness/out/a.zip");
        let mapped = mapper.key(p, p).unwrap();
        assert_eq!(mapped.key, "t/harness/out/a.zip");
        assert!(!mapped.stripped);
        assert!(
            mapped
                .warning
                .as_deref()
                .is_some_and(|w| w.contains("removes entire path"))
        );
        // The anchor turns `../out/a.zip` + `t` into `out/a.zip`, outside the target: refused.
        for target in ["t", ""] {
            let err = resolve_key(target, "../out/a.zip", "").unwrap_err();
            assert!(matches!(err, KeyError::UnsafeKey { .. }), "{err}");
            assert!(err.to_string().starts_with("../out/a.zip: "), "{err}");
        }
        // Stripping the `../` makes it fine.
        assert_eq!(key("t", "../out/a.zip", "../out/"), "t/a.zip");
    }

    #[test]
    fn keys_are_always_safe() {
        assert!(matches!(
            resolve_key("t", "a\\b.txt", ""),
            Err(KeyError::UnsafeKey { .. })
        ));
        assert!(matches!(
            resolve_key("t", ".", ""),
            Err(KeyError::UnsafeKey { .. })
        ));
        assert!(matches!(
            KeyMapper::new("a/../../x", ""),
            Err(KeyError::Target { .. })
        ));
        // Target: backslashes, repeated and trailing slashes are normalised.
        assert_eq!(key("\\rel\\1.0//", "a/./b.txt", ""), "rel/1.0/a/b.txt");
        assert_eq!(key("//", "/x.txt", ""), "x.txt");
        // `a/../b` stays inside the target.
        assert_eq!(key("t", "a/../b.txt", ""), "t/b.txt");
        // Legacy mode leaving nothing keeps the path, like the absolute mode.
        assert_eq!(key("t", "dist/a.js", "dist/a.js"), "t/dist/a.js");
    }

    #[test]
    fn absolute_strip_is_segment_aware_and_uses_the_absolute_path() {
        assert_eq!(key("t", "/foobar/x.txt", "/foo"), "t/foobar/x.txt");
        let mapper = KeyMapper::new("t", "/work/dist/").unwrap();
        let mapped = mapper
            .key(Path::new("dist/a/b.js"), Path::new("/work/dist/a/b.js"))
            .unwrap();
        assert_eq!(mapped.key, "t/a/b.js");
        assert!(mapped.stripped);
    }

    #[test]
    fn wildcard_error_handling() {
        use StripPrefixProblem::*;
        let long = format!("/{}*/", "very-long-directory-name/".repeat(15));
        let many = format!("/{}", "*/".repeat(21));
        for (prefix, want) in [
            ("harness/artifacts/*/", NotAbsolute),
            (long.as_str(), TooLong),
            (many.as_str(), TooManyWildcards),
            ("/harness//artifacts/*/", EmptySegment),
            ("/harness/**artifacts/*/", DoubleStarSegment),
        ] {
            match validate_strip_prefix(prefix) {
                Err(KeyError::StripPrefix { problem, .. }) => assert_eq!(problem, want, "{prefix}"),
                other => panic!("{prefix}: {other:?}"),
            }
        }
        for (problem, text) in [
            (NotAbsolute, "must start with '/'"),
            (TooLong, "too long"),
            (TooManyWildcards, "too many wildcards"),
            (EmptySegment, "empty segment"),
            (DoubleStarSegment, "standalone directory segment"),
            (DriveLetter, "drive letter"),
        ] {
            assert!(problem.to_string().contains(text), "{problem}");
        }
        // Through the mapper too: an invalid absolute prefix is an error up front.
        assert!(matches!(
            KeyMapper::new("t", "/a//b/"),
            Err(KeyError::StripPrefix { .. })
        ));
    }

    #[test]
    fn windows_backslash_inputs() {
        assert!(validate_strip_prefix("\\harness\\artifacts\\*/").is_ok());
        assert!(matches!(
            validate_strip_prefix("\\\\harness\\\\artifacts\\\\*/"),
            Err(KeyError::StripPrefix {
                problem: StripPrefixProblem::EmptySegment,
                ..
            })
        ));
        assert!(matches!(
            validate_strip_prefix("C:\\\\harness\\\\artifacts\\\\*/"),
            Err(KeyError::StripPrefix {
                problem: StripPrefixProblem::DriveLetter,
                ..
            })
        ));
    }

    #[test]
    fn exec_style_normalization_with_windows_patterns() {
        assert_eq!(
            strip_wildcard_prefix(
                "/harness/artifacts/abc123/module/app.zip",
                "\\harness\\artifacts\\*/"
            )
            .unwrap(),
            "module/app.zip"
        );
        assert_eq!(
            key(
                "",
                "/harness/artifacts/abc123/module/app.zip",
                "\\harness\\artifacts\\*/"
            ),
            "module/app.zip"
        );
    }

    fn file(path: &str) -> LocalFile {
        LocalFile {
            path: PathBuf::from(path),
            abs: PathBuf::from(format!("/w/{path}")),
            size: 0,
        }
    }

    #[test]
    fn map_files_warns_when_strip_matches_nothing_and_checks_collisions() {
        let mapper = KeyMapper::new("t", "/elsewhere/").unwrap();
        let plan = mapper.map_files(&[file("a.txt")]).unwrap();
        assert_eq!(plan.keys, [(PathBuf::from("a.txt"), "t/a.txt".to_string())]);
        assert_eq!(
            plan.warnings,
            ["strip_prefix '/elsewhere/' did not match any paths; keys will include original path"]
        );

        let mapper = KeyMapper::new("t", "/w/*/").unwrap();
        let err = mapper
            .map_files(&[file("x/a.txt"), file("y/a.txt")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x/a.txt and y/a.txt would both be uploaded to key 't/a.txt'"
        );
    }

    #[test]
    fn collisions() {
        let pairs = |items: &[(&str, &str)]| -> Vec<(PathBuf, String)> {
            items
                .iter()
                .map(|(p, k)| (PathBuf::from(p), k.to_string()))
                .collect()
        };
        assert!(check_collisions(&pairs(&[("a", "k1"), ("b", "k2"), ("a", "k1")])).is_ok());
        let err = check_collisions(&pairs(&[("a", "k1"), ("b", "k2"), ("c", "k1")])).unwrap_err();
        assert!(
            matches!(&err, KeyError::Collision { key, first, second } if key == "k1" && first == "a" && second == "c"),
            "{err}"
        );
    }

    #[test]
    fn normalize_path_table() {
        for (input, want) in [
            ("/path/to/file.txt", "path/to/file.txt"),
            (
                "C:\\Users\\username\\Documents\\file.doc",
                "C:\\Users\\username\\Documents\\file.doc",
            ),
            ("relative/path/to/file", "relative/path/to/file"),
            ("file.txt", "file.txt"),
            ("/root/directory/", "root/directory/"),
            ("no_slash", "no_slash"),
        ] {
            assert_eq!(normalize_path(input), want, "{input}");
        }
    }

    #[test]
    fn resolve_source_table() {
        for (dir, source, strip, want) in [
            (
                "/home/user/documents",
                "/home/user/documents/file.txt",
                "output-",
                "output-file.txt",
            ),
            ("assets", "assets/images/logo.png", "", "images/logo.png"),
            (
                "/var/www/html",
                "/var/www/html/pages/index.html",
                "web",
                "webpages/index.html",
            ),
            ("dist", "dist/js/app.js", "public", "publicjs/app.js"),
        ] {
            assert_eq!(resolve_source(dir, source, strip), want, "{source}");
        }
    }

    #[test]
    fn safe_local_paths() {
        let dir = Path::new("/dl");
        assert_eq!(
            safe_local_path(dir, "a/./b//c.txt").unwrap(),
            Path::new("/dl/a/b/c.txt")
        );
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "..\\..\\x",
            "a\\b",
            "C:/x",
            "c:x",
            "",
            ".",
            "./",
            "a\0b",
        ] {
            assert!(
                matches!(
                    safe_local_path(dir, bad),
                    Err(KeyError::UnsafeLocalPath { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
