//! Glob patterns with go-zglob's meaning (the matcher drone-s3 uses, reference upload-plugins
//! §2.3), implemented here on top of `regex`, plus the lexical path cleaning the rest of the
//! upload engine shares.
//!
//! - A pattern without `*` or `{` is a literal path: it must exist. `?` and `[…]` alone do not
//!   make a glob (as in zglob).
//! - `*` is one path segment (`[^/]*`, dotfiles included); `**/` is zero or more directories; a
//!   `**` not followed by `/` is just `*` (so `dist/**` is the direct children of `dist`).
//! - `{a,b}` alternation (alternatives may hold wildcards), `[a-z]` / `[!a-z]` classes, `\x`
//!   escapes one character.
//! - Relative patterns give paths relative to `cwd`, absolute patterns absolute paths.
//! - Files and directories both match (callers decide what a directory means); symlinked
//!   directories are never entered.
//!
//! Unlike zglob the result is sorted, so a run is reproducible. Not supported: `~`, `$VAR`
//! segments and `!(…)` (never used in pipelines we know of, and `$VAR` is the runner's job).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use regex::Regex;

/// A pattern that cannot be expanded. One line naming the pattern or path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The pattern is empty.
    #[error("empty file pattern")]
    Empty,
    /// A literal path (no `*` or `{`) that does not exist.
    #[error("{path}: does not exist")]
    NotFound {
        /// The path as written.
        path: String,
    },
    /// The pattern does not translate to a valid matcher.
    #[error("invalid glob '{pattern}': {reason}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory could not be read while walking.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// True when `pattern` is a glob rather than a literal path: zglob's rule, a `*` or a `{`.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '{'])
}

/// Lexical cleaning with Go's `path.Clean` rules: `.` segments and repeated slashes go, `..`
/// removes the segment before it (at the root it is dropped), a trailing slash goes. An empty
/// path becomes `.`. No file system access: symlinks are not resolved.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match segments.last() {
                Some(last) if *last != ".." => {
                    segments.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`s.
                _ if rooted => {}
                _ => segments.push(".."),
            },
            s => segments.push(s),
        }
    }
    let joined = segments.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// A compiled pattern that tests path strings without touching the file system (excludes use
/// it on normalised absolute paths). A literal pattern matches its cleaned path only.
#[derive(Debug, Clone)]
pub struct Matcher {
    pattern: String,
    kind: MatcherKind,
}

#[derive(Debug, Clone)]
enum MatcherKind {
    Literal(String),
    Regex(Regex),
}

impl Matcher {
    /// Compiles `pattern` (cleaned first, like the walk does).
    pub fn new(pattern: &str) -> Result<Matcher, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let cleaned = clean_path(pattern);
        let kind = if is_glob(pattern) {
            MatcherKind::Regex(compile(pattern, &cleaned)?)
        } else {
            MatcherKind::Literal(cleaned)
        };
        Ok(Matcher {
            pattern: pattern.to_string(),
            kind,
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// True when `path` (with `/` separators) matches the whole pattern.
    pub fn is_match(&self, path: &str) -> bool {
        match &self.kind {
            MatcherKind::Literal(p) => p == path,
            MatcherKind::Regex(re) => re.is_match(path),
        }
    }
}

/// Expands `pattern` against the file system, relative paths resolved against `cwd`.
///
/// A literal path is returned (cleaned) when it exists and is an error naming it when it does
/// not; a glob that matches nothing gives an empty list (also when its fixed leading directory
/// does not exist). Matches are sorted by their bytes.
pub fn expand(pattern: &str, cwd: &Path) -> Result<Vec<PathBuf>, GlobError> {
    if pattern.is_empty() {
        return Err(GlobError::Empty);
    }
    let cleaned = clean_path(pattern);
    if !is_glob(pattern) {
        let on_disk = cwd.join(&cleaned);
        return match fs::metadata(&on_disk) {
            Ok(_) => Ok(vec![PathBuf::from(cleaned)]),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(GlobError::NotFound {
                path: pattern.to_string(),
            }),
            Err(source) => Err(GlobError::Io {
                path: on_disk,
                source,
            }),
        };
    }
    let regex = compile(pattern, &cleaned)?;
    let (root, rest) = split_root(&cleaned);
    // Without `**` a match is at most as deep as the pattern has segments (a `/` inside `{}`
    // only makes this bound looser), so the walk can stop there.
    let max_depth = if rest.contains("**") {
        usize::MAX
    } else {
        rest.matches('/').count() + 1
    };
    let walk = Walk {
        regex: &regex,
        max_depth,
    };
    let mut out = Vec::new();
    let start = cwd.join(root.as_deref().unwrap_or("."));
    match fs::symlink_metadata(&start) {
        Ok(m) if m.is_dir() => {}
        // A fixed leading directory that is missing or not a directory: nothing can match.
        Ok(_) => return Ok(out),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(GlobError::Io {
                path: start,
                source,
            });
        }
    }
    let shown = root.map(PathBuf::from).unwrap_or_default();
    walk.dir(&start, &shown, 1, &mut out)?;
    // Plain byte order of the path text (`a/b.txt` before `a/b/c`), as zglob's tests list them.
    out.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(out)
}

/// The directory walk of one expansion.
struct Walk<'a> {
    regex: &'a Regex,
    max_depth: usize,
}

impl Walk<'_> {
    /// Visits the entries of `dir` (on disk), reporting them under `shown` (as the user's
    /// pattern spells the path: relative or absolute).
    fn dir(
        &self,
        dir: &Path,
        shown: &Path,
        depth: usize,
        out: &mut Vec<PathBuf>,
    ) -> Result<(), GlobError> {
        let io_err = |source| GlobError::Io {
            path: dir.to_path_buf(),
            source,
        };
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let shown_path = shown.join(&name);
            // Non-UTF-8 names are matched lossily and kept as they are on disk, so a caller
            // can name them in an error rather than have them vanish.
            if self.regex.is_match(&shown_path.to_string_lossy()) {
                out.push(shown_path.clone());
            }
            // `file_type` does not follow symlinks: a symlinked directory is not entered.
            let file_type = entry.file_type().map_err(io_err)?;
            if file_type.is_dir() && depth < self.max_depth {
                self.dir(&entry.path(), &shown_path, depth + 1, out)?;
            }
        }
        Ok(())
    }
}

/// Splits a cleaned glob into its fixed leading directory (segments with no glob syntax at
/// all, `None` for the current directory) and the rest.
fn split_root(cleaned: &str) -> (Option<String>, &str) {
    let mut root_len = 0;
    let mut pos = 0;
    for seg in cleaned.split('/') {
        if seg.contains(['*', '{', '[', '\\']) {
            break;
        }
        pos += seg.len() + 1;
        root_len = pos;
    }
    if root_len == 0 {
        return (None, cleaned);
    }
    // The root is followed by a `/` (a glob has at least one non-literal segment).
    let root = &cleaned[..root_len - 1];
    let rest = cleaned.get(root_len..).unwrap_or("");
    let root = if root.is_empty() { "/" } else { root };
    (Some(root.to_string()), rest)
}

/// Compiles a cleaned glob to an anchored regex over `/`-separated paths.
fn compile(pattern: &str, cleaned: &str) -> Result<Regex, GlobError> {
    let bad = |reason: String| GlobError::Pattern {
        pattern: pattern.to_string(),
        reason,
    };
    let chars: Vec<char> = cleaned.chars().collect();
    let body = translate(&chars).map_err(bad)?;
    // `(?s)`: the `.*` of `**/` must cross a newline too (a legal name character), as `*`'s
    // `[^/]*` already does.
    Regex::new(&format!("(?s)^{body}$")).map_err(|e| bad(e.to_string()))
}

/// Translates glob characters to regex syntax (recursively for `{…}` alternatives).
fn translate(chars: &[char]) -> Result<String, String> {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => {
                if chars.get(i + 1) == Some(&'*') && chars.get(i + 2) == Some(&'/') {
                    out.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    out.push_str("[^/]*");
                    i += 1;
                }
            }
            '\\' => {
                // `\x` is a literal `x`; a trailing backslash is itself.
                let lit = chars.get(i + 1).copied().unwrap_or('\\');
                push_literal(&mut out, lit);
                i += 2;
            }
            '[' => {
                let (class, next) = class(chars, i)?;
                out.push_str(&class);
                i = next;
            }
            '{' => {
                let close = matching_brace(chars, i)?;
                let alternatives = split_alternatives(chars.get(i + 1..close).unwrap_or(&[]));
                let parts = alternatives
                    .iter()
                    .map(|alt| translate(alt))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push_str("(?:");
                out.push_str(&parts.join("|"));
                out.push(')');
                i = close + 1;
            }
            other => {
                push_literal(&mut out, other);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
}

/// A `[…]` class starting at `open`: returns its regex and the index after `]`. A leading `!`
/// or `^` negates (and a negated class never matches `/`); `-` keeps its range meaning, every
/// other character is literal. An inverted range (`[z-c]`) is left to the regex compiler, which
/// rejects it, as zglob does.
fn class(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let mut i = open + 1;
    let mut out = String::from("[");
    if matches!(chars.get(i), Some('!' | '^')) {
        out.push_str("^/");
        i += 1;
    }
    let first = i;
    while let Some(&c) = chars.get(i) {
        // A `]` right after the opening is a literal member, as in shell globs.
        if c == ']' && i > first {
            out.push(']');
            return Ok((out, i + 1));
        }
        if c == '-' {
            out.push('-');
        } else {
            push_literal(&mut out, c);
        }
        i += 1;
    }
    Err("unclosed '['".to_string())
}

/// The index of the `}` closing the `{` at `open`, honouring nesting and `\` escapes.
fn matching_brace(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut i = open;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => i += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unclosed '{'".to_string())
}

/// Splits the inside of `{…}` on its top-level commas.
fn split_alternatives(inner: &[char]) -> Vec<Vec<char>> {
    let mut parts = vec![Vec::new()];
    let mut depth = 0usize;
    let mut escaped = false;
    for &c in inner {
        if escaped {
            escaped = false;
        } else {
            match c {
                '\\' => escaped = true,
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(Vec::new());
                    continue;
                }
                _ => {}
            }
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go-zglob's own test tree (reference upload-plugins §2.6).
    fn zglob_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "foo/bar/baz",
            "foo/baz",
            "hoo/bar",
            "zzz/bar/baz",
            "zzz/nar/{noo,x}",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "foo/bar/baz.txt",
            "foo/bar/baz/noo.txt",
            "zzz/bar/baz/zoo.jpg",
            "zzz/bar/baz/joo.png",
            "zzz/nar/{noo,x}/joo.png",
        ] {
            fs::write(root.join(f), "x").unwrap();
        }
        dir
    }

    const ZGLOB_TABLE: &[(&str, &[&str])] = &[
        ("fo*", &["foo"]),
        ("foo", &["foo"]),
        ("foo/*", &["foo/bar", "foo/baz"]),
        ("foo/b[a]*", &["foo/bar", "foo/baz"]),
        ("foo/b[a][r]*", &["foo/bar"]),
        ("foo/b[a-z]*", &["foo/bar", "foo/baz"]),
        ("foo/b[c-z]*", &[]),
        ("foo/**", &["foo/bar", "foo/baz"]),
        ("f*o/**", &["foo/bar", "foo/baz"]),
        ("*oo/**", &["foo/bar", "foo/baz", "hoo/bar"]),
        ("*oo/b*", &["foo/bar", "foo/baz", "hoo/bar"]),
        ("*oo/bar", &["foo/bar", "hoo/bar"]),
        ("*oo/*z", &["foo/baz"]),
        (
            "foo/**/*",
            &[
                "foo/bar",
                "foo/bar/baz",
                "foo/bar/baz.txt",
                "foo/bar/baz/noo.txt",
                "foo/baz",
            ],
        ),
        (
            "*oo/**/*",
            &[
                "foo/bar",
                "foo/bar/baz",
                "foo/bar/baz.txt",
                "foo/bar/baz/noo.txt",
                "foo/baz",
                "hoo/bar",
            ],
        ),
        ("*oo/*.txt", &[]),
        ("*oo/*/*.txt", &["foo/bar/baz.txt"]),
        ("*oo/**/*.txt", &["foo/bar/baz.txt", "foo/bar/baz/noo.txt"]),
        ("./f*", &["foo"]),
        (
            "**/bar/**/*.txt",
            &["foo/bar/baz.txt", "foo/bar/baz/noo.txt"],
        ),
        (
            "**/bar/**/*.{jpg,png}",
            &["zzz/bar/baz/joo.png", "zzz/bar/baz/zoo.jpg"],
        ),
        ("zzz/bar/baz/zoo.{jpg,png}", &["zzz/bar/baz/zoo.jpg"]),
        ("zzz/bar/{baz,z}/zoo.jpg", &["zzz/bar/baz/zoo.jpg"]),
        (r"zzz/nar/\{noo,x\}/joo.png", &["zzz/nar/{noo,x}/joo.png"]),
    ];

    fn strings(paths: Vec<PathBuf>) -> Vec<String> {
        paths
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn zglob_table_relative() {
        let tree = zglob_tree();
        for (pattern, want) in ZGLOB_TABLE {
            let got = expand(pattern, tree.path()).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(strings(got), *want, "pattern {pattern}");
        }
    }

    #[test]
    fn zglob_table_absolute() {
        let tree = zglob_tree();
        let base = tree.path().to_string_lossy().into_owned();
        let elsewhere = tempfile::tempdir().unwrap();
        for (pattern, want) in ZGLOB_TABLE {
            let abs = format!("{base}/{}", pattern.trim_start_matches("./"));
            let got = expand(&abs, elsewhere.path()).unwrap_or_else(|e| panic!("{abs}: {e}"));
            let want: Vec<String> = want.iter().map(|w| format!("{base}/{w}")).collect();
            assert_eq!(strings(got), want, "pattern {abs}");
        }
    }

    #[test]
    fn double_star_crosses_names_with_newlines() {
        // Found by the glob_match fuzz target: `**/` did not match a directory named `b\nc`.
        let m = Matcher::new("**/x.jpg").unwrap();
        assert!(m.is_match("a/b\nc/x.jpg"));
        assert!(Matcher::new("a/**/*").unwrap().is_match("a/b\nc/d"));
        assert!(!m.is_match("a/b\nc/y.jpg"));
    }

    #[test]
    fn zglob_errors() {
        let tree = zglob_tree();
        let err = expand("foo/b[z-c]*", tree.path()).unwrap_err();
        assert!(matches!(err, GlobError::Pattern { .. }), "{err}");
        assert!(err.to_string().contains("foo/b[z-c]*"), "{err}");

        let err = expand("doo", tree.path()).unwrap_err();
        assert!(
            matches!(&err, GlobError::NotFound { path } if path == "doo"),
            "{err}"
        );
        assert_eq!(err.to_string(), "doo: does not exist");

        assert!(matches!(expand("", tree.path()), Err(GlobError::Empty)));
        assert!(matches!(
            expand("foo/{a,b", tree.path()),
            Err(GlobError::Pattern { .. })
        ));
        assert!(matches!(
            expand("foo/[ab*", tree.path()),
            Err(GlobError::Pattern { .. })
        ));
    }

    #[test]
    fn literal_paths_need_not_be_globs() {
        let tree = zglob_tree();
        // `?` and `[..]` alone do not make a glob: the path is taken literally.
        fs::write(tree.path().join("a?[b].txt"), "x").unwrap();
        assert_eq!(
            strings(expand("a?[b].txt", tree.path()).unwrap()),
            ["a?[b].txt"]
        );
        assert!(matches!(
            expand("a?b.txt", tree.path()),
            Err(GlobError::NotFound { .. })
        ));
        // Cleaned like the walk's results.
        assert_eq!(
            strings(expand("./foo/bar/", tree.path()).unwrap()),
            ["foo/bar"]
        );
    }

    #[test]
    fn dotfiles_match_star_and_missing_roots_match_nothing() {
        let tree = zglob_tree();
        fs::write(tree.path().join("foo/.hidden"), "x").unwrap();
        assert_eq!(
            strings(expand("foo/*", tree.path()).unwrap()),
            ["foo/.hidden", "foo/bar", "foo/baz"]
        );
        assert!(expand("nope/**/*", tree.path()).unwrap().is_empty());
        assert!(expand("foo/bar/baz.txt/*", tree.path()).unwrap().is_empty());
    }

    #[test]
    fn wildcards_inside_alternatives_and_negated_classes() {
        let tree = zglob_tree();
        assert_eq!(
            strings(expand("zzz/**/{*.jpg,z*.png}", tree.path()).unwrap()),
            ["zzz/bar/baz/zoo.jpg"]
        );
        assert_eq!(
            strings(expand("foo/ba[!r]*", tree.path()).unwrap()),
            ["foo/baz"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_directories_are_not_entered() {
        let tree = zglob_tree();
        std::os::unix::fs::symlink(tree.path().join("foo"), tree.path().join("link")).unwrap();
        // The link itself matches, what is behind it is not walked.
        assert_eq!(
            strings(expand("li*/**/*", tree.path()).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(strings(expand("lin*", tree.path()).unwrap()), ["link"]);
    }

    #[test]
    fn clean_path_follows_go() {
        for (input, want) in [
            ("", "."),
            ("./a/b/", "a/b"),
            ("a//b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("/a/./b/..", "/a"),
            ("..", ".."),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    #[test]
    fn matcher_tests_strings_only() {
        let m = Matcher::new("/w/dist/**/*.map").unwrap();
        assert!(m.is_match("/w/dist/a.map"));
        assert!(m.is_match("/w/dist/x/y/a.map"));
        assert!(!m.is_match("/w/dist/a.js"));
        let lit = Matcher::new("/w/./dist/a.js").unwrap();
        assert!(lit.is_match("/w/dist/a.js"));
        assert_eq!(lit.pattern(), "/w/./dist/a.js");
        assert!(is_glob("a/*") && is_glob("a/{b,c}") && !is_glob("a/b?[c]"));
    }
}
