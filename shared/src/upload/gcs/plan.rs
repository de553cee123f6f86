//! The GCS plan: the anchor's file selection and object naming with its bugs fixed (see the
//! backend's notes in [`super`]), ACLs, which files are gzipped and their content types.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::upload::glob::{Matcher, clean_path};
use crate::upload::keys::{KeyMapper, check_collisions};
use crate::upload::select::select;

use super::MAX_NAME;

/// `bucket[/path]` → (bucket, path): the anchor's `extractBucketName`, path kept as written.
pub fn split_target(target: &str) -> (String, String) {
    let t = target.trim().trim_start_matches('/');
    match t.split_once('/') {
        Some((b, p)) => (b.to_string(), p.to_string()),
        None => (t.to_string(), String::new()),
    }
}

/// True when `pattern` is a glob by the anchor's rule: it has `*`, `?` or `[`.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The anchor's syntax in the engine's: `?` is one character (`[!/]`), a trailing `**` is
/// everything under (`**/*`), and a pattern whose only wildcards are classes is wrapped in a
/// one-way `{…}` so the engine treats it as a glob rather than a literal path.
fn engine_pattern(pattern: &str) -> String {
    // Segment by segment: a class never spans a `/`, and the last segment is what gets wrapped.
    let mut segments: Vec<String> = pattern.split('/').map(engine_segment).collect();
    if segments.last().is_some_and(|l| l == "**") {
        segments.push("*".into());
    }
    if !segments.iter().any(|s| s.contains(['*', '{']))
        && let Some(last) = segments.last_mut()
    {
        *last = format!("{{{last}}}");
    }
    segments.join("/")
}

/// One segment: `?` outside a class becomes `[!/]`.
fn engine_segment(segment: &str) -> String {
    let mut out = String::new();
    let mut in_class = false;
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '?' if !in_class => out.push_str("[!/]"),
            _ => out.push(c),
        }
    }
    out
}

/// The fixed leading directory of a glob (`.` when its first segment has a wildcard).
fn glob_base(pattern: &str) -> String {
    let cleaned = clean_path(pattern);
    let rooted = cleaned.starts_with('/');
    let fixed: Vec<&str> = cleaned
        .split('/')
        .take_while(|seg| !is_glob(seg) && !seg.contains(['{', '\\']))
        .collect();
    let joined = fixed.join("/");
    match (rooted, joined.is_empty()) {
        (true, true) => "/".into(),
        (_, false) => joined,
        (false, true) => ".".into(),
    }
}

/// One file to upload and its object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The absolute path, to open.
    pub path: PathBuf,
    /// The path as the source reached it, for the log and the header rules.
    pub shown: String,
    /// Its path relative to its source's base (what `ignore` is matched against).
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// The object name.
    pub name: String,
}

/// Why no upload plan could be made. One line naming the source, pattern or name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No source item.
    #[error("no source given")]
    NoSource,
    /// A literal source that does not exist.
    #[error("source path '{0}' does not exist")]
    NotFound(String),
    /// A glob that matched nothing.
    #[error("glob pattern '{0}' matched no files or directories")]
    NoMatch(String),
    /// A pattern that cannot be used, or a directory that cannot be read.
    #[error("{0}")]
    Select(String),
    /// An ignore pattern that cannot be used.
    #[error("ignore pattern '{pattern}': {source}")]
    Ignore {
        /// The pattern.
        pattern: String,
        /// Why it cannot be compiled.
        #[source]
        source: crate::upload::glob::GlobError,
    },
    /// An object name GCS would refuse, or two files for one name.
    #[error("{0}")]
    Name(String),
}

/// Compiled ignore patterns.
pub struct Ignore(Vec<Matcher>);

impl Ignore {
    /// Compiles the patterns (empty items skipped).
    pub fn new(patterns: &[String]) -> Result<Ignore, PlanError> {
        patterns
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let pat = if is_glob(p) {
                    engine_pattern(p)
                } else {
                    p.replace('{', "\\{")
                };
                Matcher::new(&pat).map_err(|source| PlanError::Ignore {
                    pattern: p.to_string(),
                    source,
                })
            })
            .collect::<Result<_, _>>()
            .map(Ignore)
    }

    /// True when a pattern matches `rel` or one of its directories.
    pub fn matches(&self, rel: &str) -> bool {
        let mut dir = rel;
        loop {
            if self.0.iter().any(|m| m.is_match(dir)) {
                return true;
            }
            match dir.rfind('/') {
                Some(i) => dir = &dir[..i],
                None => return false,
            }
        }
    }
}

/// Selects the files of every source and names their objects under `prefix` (the part of
/// `target` after the bucket). See the module docs for the rules.
pub fn plan(
    sources: &[String],
    ignore: &[String],
    prefix: &str,
    cwd: &Path,
) -> Result<Vec<Planned>, PlanError> {
    let sources: Vec<&str> = sources
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if sources.is_empty() {
        return Err(PlanError::NoSource);
    }
    let ignore = Ignore::new(ignore)?;
    let cwd_abs = std::path::absolute(cwd).map_err(|e| PlanError::Select(e.to_string()))?;
    let cwd_str = clean_path(&cwd_abs.to_string_lossy());
    let absolute = |p: &str| {
        if p.starts_with('/') {
            clean_path(p)
        } else {
            clean_path(&format!("{cwd_str}/{p}"))
        }
    };
    let mut seen = HashSet::new();
    let mut out: Vec<Planned> = Vec::new();
    let mut single_file_source = false;
    for source in &sources {
        let (pattern, base) = if is_glob(source) {
            (engine_pattern(source), absolute(&glob_base(source)))
        } else {
            let abs = absolute(source);
            let meta =
                std::fs::metadata(&abs).map_err(|_| PlanError::NotFound(source.to_string()))?;
            let base = if meta.is_dir() {
                abs.clone()
            } else {
                single_file_source = sources.len() == 1;
                Path::new(&abs)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into())
            };
            // The engine reads `{` as alternation; a literal path means it literally.
            (source.replace('{', "\\{"), base)
        };
        let selection =
            select(&[pattern], &[], cwd, false).map_err(|e| PlanError::Select(e.to_string()))?;
        for w in &selection.warnings {
            if !w.contains("matched no files") {
                warn!("{w}");
            }
        }
        if selection.files.is_empty() {
            return Err(PlanError::NoMatch(source.to_string()));
        }
        for f in selection.files {
            let abs = f.abs.to_string_lossy().into_owned();
            let rel = match abs.strip_prefix(&base) {
                Some(r) => r.trim_start_matches('/').to_string(),
                None => continue,
            };
            if rel.is_empty() || ignore.matches(&rel) || !seen.insert(f.abs.clone()) {
                continue;
            }
            out.push(Planned {
                path: f.abs,
                shown: f.path.to_string_lossy().into_owned(),
                rel,
                size: f.size,
                name: String::new(),
            });
        }
    }
    let mapper = KeyMapper::new(prefix, "").map_err(|e| PlanError::Name(e.to_string()))?;
    let rename =
        single_file_source && out.len() == 1 && !prefix.is_empty() && !prefix.ends_with('/');
    for p in &mut out {
        p.name = if rename {
            // KeyMapper::new already refused a prefix climbing out with '..'.
            clean_path(prefix.trim_start_matches('/'))
        } else {
            mapper
                .key(Path::new(&p.rel), &p.path)
                .map_err(|e| PlanError::Name(e.to_string()))?
                .key
        };
        check_name(&p.name)?;
    }
    let pairs: Vec<(PathBuf, String)> = out
        .iter()
        .map(|p| (p.path.clone(), p.name.clone()))
        .collect();
    check_collisions(&pairs).map_err(|e| PlanError::Name(e.to_string()))?;
    Ok(out)
}

/// GCS's naming rules (<https://cloud.google.com/storage/docs/objects#naming>).
fn check_name(name: &str) -> Result<(), PlanError> {
    let bad = |why: &str| Err(PlanError::Name(format!("object name '{name}' {why}")));
    if name.is_empty() || name == "." || name == ".." {
        return bad("is not allowed");
    }
    if name.len() > MAX_NAME {
        return bad("is longer than 1024 bytes");
    }
    if name.contains(['\r', '\n']) {
        return bad("contains a line break");
    }
    if name.starts_with(".well-known/acme-challenge/") {
        return bad("is reserved by GCS");
    }
    Ok(())
}

/// `entity:role` items → pairs. Roles are the object ACL roles; entities are GCS's forms.
pub fn parse_acl(items: &[String]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (entity, role) = item
                .rsplit_once(':')
                .ok_or_else(|| format!("'{item}' is not entity:role"))?;
            let role = role.trim().to_ascii_uppercase();
            if role != "READER" && role != "OWNER" {
                return Err(format!("'{item}': role must be READER or OWNER"));
            }
            let entity = entity.trim();
            let ok = matches!(entity, "allUsers" | "allAuthenticatedUsers")
                || ["user-", "group-", "domain-", "project-"]
                    .iter()
                    .any(|p| entity.len() > p.len() && entity.starts_with(p))
                || (entity.contains('@') && !entity.contains(char::is_whitespace));
            if !ok {
                return Err(format!(
                    "'{item}': entity must be allUsers, allAuthenticatedUsers, user-/group-/domain-/project-…, or an e-mail"
                ));
            }
            // The anchor accepted a bare e-mail (user@domain.com:OWNER) for a user.
            let entity = if entity.contains('@')
                && !["user-", "group-"].iter().any(|p| entity.starts_with(p))
            {
                format!("user-{entity}")
            } else {
                entity.to_string()
            };
            Ok((entity, role))
        })
        .collect()
}

/// True when `name`'s extension (without the dot, case-insensitive) is in `exts`.
pub fn gzip_wanted(exts: &[String], name: &str) -> bool {
    let Some(ext) = Path::new(name).extension().and_then(|e| e.to_str()) else {
        return false;
    };
    exts.iter()
        .any(|e| e.trim().trim_start_matches('.').eq_ignore_ascii_case(ext))
}

/// The content type of an object name: the engine's table, with JavaScript as RFC 9239's
/// `text/javascript` (what the anchor's Go table says).
pub fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("js") || e.eq_ignore_ascii_case("mjs") => {
            "text/javascript"
        }
        _ => crate::upload::headers::content_type(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_bucket_name() {
        for (input, bucket, path) in [
            (
                "bucket-name/object/file.txt",
                "bucket-name",
                "object/file.txt",
            ),
            ("only-bucket", "only-bucket", ""),
            (
                "nested/bucket/path/to/object",
                "nested",
                "bucket/path/to/object",
            ),
            ("root/bucket/", "root", "bucket/"),
            ("object/file.jpg", "object", "file.jpg"),
            ("no-slash", "no-slash", ""),
        ] {
            assert_eq!(split_target(input), (bucket.into(), path.into()), "{input}");
        }
    }

    #[test]
    fn is_glob_pattern() {
        for (p, want) in [
            ("simple/path", false),
            ("path/with/dirs", false),
            ("path/*", true),
            ("path/file?.txt", true),
            ("path/[abc].txt", true),
            ("path/**/file", true),
            ("normal-file.txt", false),
            ("/absolute/path", false),
            ("./relative/path", false),
        ] {
            assert_eq!(is_glob(p), want, "{p}");
        }
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f.as_bytes()).unwrap();
        }
        d
    }

    fn names(d: &Path, sources: &str, ignore: &str, prefix: &str) -> Result<Vec<String>, String> {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let ign = if ignore.is_empty() {
            vec![]
        } else {
            list(ignore)
        };
        plan(&list(sources), &ign, prefix, d)
            .map(|v| v.into_iter().map(|p| p.name).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expand_glob_patterns() {
        let d = tree(&["test/file1.txt", "test/file2.js", "test/sub/file3.css"]);
        let p = d.path();
        assert!(!names(p, "test", "", "").unwrap().is_empty());
        assert!(!names(p, "test/*.txt", "", "").unwrap().is_empty());
        assert!(!names(p, "test/**", "", "").unwrap().is_empty());
        assert!(names(p, "test/*.txt,test/*.js", "", "").unwrap().len() >= 2);
        assert!(names(p, "", "", "").is_err());
        assert!(names(p, "/non/existent/path", "", "").is_err());
    }

    #[test]
    fn run_table_names_and_ignore() {
        // TestRun: source <tmp>/upload, target bucket/dir/, ignore sub/*.bin.
        let d = tree(&[
            "upload/file.txt",
            "upload/file.js",
            "upload/sub/file.css",
            "upload/sub/file.bin",
        ]);
        let abs = d.path().join("upload").to_string_lossy().into_owned();
        let mut got = names(d.path(), &abs, "sub/*.bin", "dir/").unwrap();
        got.sort();
        assert_eq!(got, ["dir/file.js", "dir/file.txt", "dir/sub/file.css"]);
        assert_eq!(content_type("dir/file.txt"), "text/plain");
        assert_eq!(content_type("dir/file.js"), "text/javascript");
        assert_eq!(content_type("dir/sub/file.css"), "text/css");
        assert!(gzip_wanted(&["js".into()], "dir/file.js"));
        assert!(!gzip_wanted(&["js".into()], "dir/file.json"));
    }

    #[test]
    fn should_ignore_file() {
        for (ignore, file, want) in [
            ("", "file.txt", false),
            ("*.log", "debug.log", true),
            ("*.log", "file.txt", false),
            ("*.log,*.tmp", "debug.log", true),
            ("*.log,*.tmp", "cache.tmp", true),
            ("*.log,*.tmp", "file.txt", false),
        ] {
            let pats: Vec<String> = ignore.split(',').map(str::to_string).collect();
            assert_eq!(
                Ignore::new(&pats).unwrap().matches(file),
                want,
                "{ignore} {file}"
            );
        }
    }

    #[test]
    fn glob_patterns_with_ignore() {
        let d = tree(&["test/op.txt", "test/dg.txt", "test/keep.txt"]);
        let mut got = names(d.path(), "test/*.txt", "dg.txt", "").unwrap();
        got.sort();
        assert_eq!(got, ["keep.txt", "op.txt"]);
        assert_eq!(
            names(d.path(), "test/*.txt", "dg.txt,keep.txt", "").unwrap(),
            ["op.txt"]
        );
        let mut got = names(d.path(), "test/*.txt", "*g.txt", "").unwrap();
        got.sort();
        assert_eq!(got, ["keep.txt", "op.txt"]);
    }

    #[test]
    fn root_level_and_production_scenarios() {
        let d = tree(&[
            "op.txt",
            "data.txt",
            "readme.md",
            "test/op.txt",
            "test/x.txt",
        ]);
        let mut got = names(d.path(), "*.txt", "", "").unwrap();
        got.sort();
        assert_eq!(got, ["data.txt", "op.txt"]);
        let abs_glob = format!("{}/test/*.txt", d.path().display());
        for src in [
            "op.txt",
            "./test/op.txt",
            abs_glob.as_str(),
            "*.txt",
            "./test/*.txt",
        ] {
            for n in names(d.path(), src, "", "").unwrap() {
                assert!(!n.contains("..") && !n.starts_with('/'), "{src}: {n}");
            }
        }
    }

    #[test]
    fn target_path_fix_single_file_rename() {
        let d = tree(&["service-name_1.0.0.zip", "a.txt"]);
        let p = d.path();
        // A prefix not ending in '/' is the object's name (the anchor's rename).
        assert_eq!(
            names(
                p,
                "service-name_1.0.0.zip",
                "",
                "project/service-name/1.0.0/service-name_1.0.0.zip"
            )
            .unwrap(),
            ["project/service-name/1.0.0/service-name_1.0.0.zip"]
        );
        assert_eq!(names(p, "a.txt", "", "uploads").unwrap(), ["uploads"]);
        assert_eq!(names(p, "a.txt", "", "file.zip").unwrap(), ["file.zip"]);
        // A directory target keeps the file name.
        assert_eq!(
            names(p, "a.txt", "", "uploads/").unwrap(),
            ["uploads/a.txt"]
        );
        // Bucket only: the file's name, never an empty object name.
        assert_eq!(names(p, "a.txt", "", "").unwrap(), ["a.txt"]);
    }

    #[test]
    fn double_star_is_every_depth_without_flattening() {
        let d = tree(&[
            "dist/a/x.js",
            "dist/b/x.js",
            "dist/top.js",
            "dist/b/c/deep.js",
            "dist/b/c/n.map",
        ]);
        let mut got = names(d.path(), "dist/**", "", "p").unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                "p/a/x.js",
                "p/b/c/deep.js",
                "p/b/c/n.map",
                "p/b/x.js",
                "p/top.js"
            ]
        );
        let mut got = names(d.path(), "dist/**/*.js", "**/c", "").unwrap();
        got.sort();
        assert_eq!(got, ["a/x.js", "b/x.js", "top.js"]);
        let mut got = names(d.path(), "dist/*/x.js", "", "").unwrap();
        got.sort();
        assert_eq!(got, ["a/x.js", "b/x.js"]);
        assert_eq!(
            names(d.path(), "dist/b/c/n.ma?", "", "").unwrap(),
            ["n.map"]
        );
        assert_eq!(
            names(d.path(), "dist/[t]op.js", "", "").unwrap(),
            ["top.js"]
        );
        assert!(
            names(d.path(), "dist/*.css", "", "")
                .unwrap_err()
                .contains("matched no files")
        );
    }

    #[test]
    fn collisions_are_refused_naming_both() {
        let d = tree(&["a/x.js", "b/x.js"]);
        let e = names(d.path(), "a/x.js,b/x.js", "", "t/").unwrap_err();
        assert!(e.contains("a/x.js") && e.contains("b/x.js"), "{e}");
    }

    #[test]
    fn acl_items() {
        assert_eq!(
            parse_acl(&["allUsers:READER".into(), "user@domain.com:OWNER".into()]).unwrap(),
            [
                ("allUsers".to_string(), "READER".to_string()),
                ("user-user@domain.com".into(), "OWNER".into())
            ]
        );
        assert!(parse_acl(&["allUsers".into()]).is_err());
        assert!(parse_acl(&["allUsers:WRITER".into()]).is_err());
    }
}
