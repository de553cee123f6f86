//! What `jf rt upload` does with a source pattern, a target and target properties (reference
//! upload-plugins §6.2, §6.3), so `longshore-jfrog` maps files to the same paths as
//! `plugins/artifactory`, plus the upload part of JFrog file specs (`PLUGIN_SPEC`).
//!
//! The rules kept from jf, because pipelines depend on them:
//! - a wildcard pattern is a regular expression where `*` is `.*` and **crosses directories**;
//!   a trailing `/` means "everything under"; parentheses are capture groups whose text replaces
//!   `{1}`, `{2}`… in the target;
//! - the walk starts at the pattern's longest literal directory prefix, recursively by default,
//!   and every file under it whose path (as written from that root, `./` removed) matches is
//!   uploaded;
//! - a target ending in `/` is a folder (the file name is appended when flat, its relative path
//!   with `./` and `../` removed otherwise); any other target is the exact path of the artifact;
//!   a target without any `/` is a repository root;
//! - target properties are `k=v;k2=v1,v2` (`\;` and `\,` keep the characters in a value).
//!
//! Changed on purpose (listed in the README): only `*` and parentheses are special in a
//! wildcard pattern (jf leaves `?`, `[`, `{`, `|` as accidental regex syntax); a pattern naming
//! a directory without the trailing `/` uploads its contents (jf silently matches nothing);
//! two files mapped to one artifact path are refused (jf uploads both, the last one wins); the
//! README's `k1=v1,k2=v2` form gives two properties (the anchor made one property with a value
//! `k2=v2`); target properties can also be a JSON map; symbolic links are followed only when they
//! resolve inside the working directory (jf follows them anywhere: `/etc`, `/proc/self/environ`),
//! as the s3 and gcs plugins do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::upload::local_fs::{FileId, remember};

pub use super::file_spec::{FileSpec, parse_file_spec, parse_props, parse_spec_vars};

/// Target properties: `(key, value)` pairs; a key with several values appears several times.
pub type Props = Vec<(String, String)>;

/// Why a pattern, target, property list or spec file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JfrogSpecError {
    /// The source pattern is malformed or its root does not exist.
    #[error("pattern '{pattern}': {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// The target cannot be used.
    #[error("target '{target}': {reason}")]
    Target {
        /// The target as given.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The target properties do not parse.
    #[error("{0}")]
    Props(String),
    /// The file spec does not parse or asks for something not supported.
    #[error("{0}")]
    Spec(String),
    /// Two files would become the same artifact.
    #[error("{first} and {second} would both be uploaded to {key}")]
    Collision {
        /// The artifact path.
        key: String,
        /// One local file.
        first: String,
        /// The other one.
        second: String,
    },
}

/// One upload group: what `jf rt u <pattern> <target>` or one entry of a file spec describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRule {
    /// Wildcard pattern (or a regular expression when `regexp`).
    pub pattern: String,
    /// `repo/path/` (folder) or `repo/path/file` (exact), relative to the Artifactory URL.
    pub target: String,
    /// Properties set on every artifact of this group.
    pub props: Props,
    /// Walk sub-directories (jf default: true).
    pub recursive: bool,
    /// Only the file name under a folder target (jf default: false).
    pub flat: bool,
    /// The pattern is a regular expression.
    pub regexp: bool,
    /// Patterns of local paths not to upload.
    pub exclusions: Vec<String>,
}

impl UploadRule {
    /// A rule with jf's defaults (recursive, not flat, wildcard, no exclusions).
    pub fn new(pattern: &str, target: &str) -> UploadRule {
        UploadRule {
            pattern: pattern.to_string(),
            target: target.to_string(),
            props: Vec::new(),
            recursive: true,
            flat: false,
            regexp: false,
            exclusions: Vec::new(),
        }
    }
}

/// A local file and the artifact path it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The file on disk.
    pub path: PathBuf,
    /// The path as matched (relative to the working directory when the pattern is).
    pub shown: String,
    /// The artifact path, relative to the Artifactory URL (`repo/dir/file`).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Properties of its group.
    pub props: Props,
}

/// `filepath.Clean` for `/`-separated strings, keeping a trailing `/` (jf's `cleanPath`).
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let abs = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let mut cleaned = out.join("/");
    if abs {
        cleaned.insert(0, '/');
    }
    if cleaned.is_empty() {
        cleaned = ".".into();
    }
    if path.ends_with('/') && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// jf's `TrimPath`: backslashes to slashes, `//` to `/`, every `../` and `./` removed.
pub fn trim_path(path: &str) -> String {
    path.replace('\\', "/")
        .replace("//", "/")
        .replace("../", "")
        .replace("./", "")
}

/// The regular expression of a wildcard pattern: `*` is `.*` (across directories), a trailing
/// `/` matches everything under, parentheses are groups, every other character is literal.
pub fn wildcard_to_regex(pattern: &str) -> Result<Regex, JfrogSpecError> {
    let bad = |reason: String| JfrogSpecError::Pattern {
        pattern: pattern.to_string(),
        reason,
    };
    // `(?s)`: `*` crosses names holding a newline (a legal name character) too.
    let mut re = String::from("(?s)^");
    let mut depth = 0i32;
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '(' => {
                depth += 1;
                re.push('(');
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(bad("')' without '('".into()));
                }
                re.push(')');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if depth != 0 {
        return Err(bad("'(' without ')'".into()));
    }
    if pattern.ends_with('/') {
        re.push_str(".*");
    }
    re.push('$');
    Regex::new(&re).map_err(|e| bad(e.to_string()))
}

/// The directory the walk starts from: the sections before the first one holding a wildcard
/// (or, for a regular expression, any regex syntax), as jf's `GetRootPath` does.
pub fn root_path(pattern: &str, regexp: bool) -> String {
    let special: &[char] = if regexp {
        &['(', '*', '+', '?', '[', '{', '|', '^', '$', '\\']
    } else {
        &['*', '(']
    };
    let abs = pattern.starts_with('/');
    let mut sections: Vec<&str> = Vec::new();
    for s in pattern.split('/') {
        if s.is_empty() {
            continue;
        }
        if s.contains(special) {
            break;
        }
        sections.push(s);
    }
    let mut root = sections.join("/");
    if abs {
        root.insert(0, '/');
    }
    if root.is_empty() { ".".into() } else { root }
}

/// Replaces `{1}`, `{2}`… in `target` with the groups of a match (backslashes as slashes).
fn replace_placeholders(target: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = target.to_string();
    for i in 1..caps.len() {
        let group = caps
            .get(i)
            .map(|m| m.as_str().replace('\\', "/"))
            .unwrap_or_default();
        out = out.replace(&format!("{{{i}}}"), &group);
    }
    out
}

/// jf's `getUploadTarget`: a folder target gets the file name (flat) or the trimmed local path.
pub fn upload_target(local: &str, target: &str, flat: bool) -> String {
    if !target.ends_with('/') {
        return target.to_string();
    }
    if flat {
        let name = local.rsplit('/').next().unwrap_or(local);
        format!("{target}{name}")
    } else {
        trim_path(&format!("{target}{local}"))
    }
}

/// The target as jf reads it: no leading `/`; a bare repository name is its root folder.
pub fn normalize_target(target: &str) -> Result<String, JfrogSpecError> {
    let t = target.trim().trim_start_matches('/');
    if t.is_empty() {
        return Err(JfrogSpecError::Target {
            target: target.to_string(),
            reason: "empty (it is [repository]/[path], e.g. libs-release-local/app/)".into(),
        });
    }
    if t.contains(char::is_control) {
        return Err(JfrogSpecError::Target {
            target: target.to_string(),
            reason: "contains control characters".into(),
        });
    }
    Ok(if t.contains('/') {
        t.to_string()
    } else {
        format!("{t}/")
    })
}

/// Checks a final artifact path: not empty, not a folder, no `..` or empty segments.
fn check_key(key: &str, target: &str) -> Result<String, JfrogSpecError> {
    // Only the local part of a key is trimmed (by `upload_target`); `..` in a target is refused.
    let mut key = key.replace('\\', "/");
    while key.contains("//") {
        key = key.replace("//", "/");
    }
    let key = key.trim_start_matches('/').to_string();
    let bad = |reason: &str| JfrogSpecError::Target {
        target: target.to_string(),
        reason: format!("gives the artifact path '{key}', which {reason}"),
    };
    if key.is_empty() || key.ends_with('/') {
        return Err(bad("names a folder, not a file"));
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(bad("has an empty, '.' or '..' segment"));
    }
    Ok(key)
}

/// Lists the files under `root` (`shown` is how paths are written: `root/rel`, or `rel` for
/// `.`), following directory symlinks once (jf walks into them), sorted. A link is followed only
/// when it resolves inside `tree` (the canonical working directory), as s3 and gcs do: jf would
/// upload `/etc` through `dist/etc -> /etc`.
fn list_files(
    root: &Path,
    shown: &str,
    recursive: bool,
    tree: &Path,
    out: &mut Vec<(PathBuf, String, u64)>,
) -> std::io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(root.to_path_buf(), shown.to_string())];
    while let Some((dir, shown_dir)) = stack.pop() {
        if let Ok(canon) = dir.canonicalize()
            && !seen.insert(canon)
        {
            continue;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            let shown = if shown_dir == "." {
                name
            } else if shown_dir.ends_with('/') {
                format!("{shown_dir}{name}")
            } else {
                format!("{shown_dir}/{name}")
            };
            // A dangling symlink has no metadata: skipped, as jf skips it.
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if e.file_type().is_ok_and(|t| t.is_symlink()) && !resolves_inside(&p, tree) {
                tracing::warn!("skipping {shown}: symlink to outside the working directory");
                continue;
            }
            if meta.is_dir() {
                if recursive {
                    stack.push((p, shown));
                }
            } else if meta.is_file() {
                remember(&p, FileId::of(&meta));
                out.push((p, shown, meta.len()));
            }
        }
    }
    Ok(())
}

/// True when `path` resolves (through any links) inside `tree`, a canonical directory.
fn resolves_inside(path: &Path, tree: &Path) -> bool {
    path.canonicalize().is_ok_and(|real| real.starts_with(tree))
}

/// The files one rule uploads and their artifact paths, relative to `cwd`.
pub fn plan(rule: &UploadRule, cwd: &Path) -> Result<Vec<Planned>, JfrogSpecError> {
    let bad_pattern = |reason: String| JfrogSpecError::Pattern {
        pattern: rule.pattern.clone(),
        reason,
    };
    let raw = rule.pattern.trim();
    if raw.is_empty() {
        return Err(bad_pattern("empty".into()));
    }
    let target = normalize_target(&rule.target)?;
    let raw = raw.strip_prefix("./").unwrap_or(raw);
    let pattern = if raw.is_empty() || raw == "." {
        "./".to_string()
    } else if rule.regexp {
        raw.to_string()
    } else {
        clean_path(raw)
    };
    let root = root_path(&pattern, rule.regexp);
    let root_abs = cwd.join(&root);
    let meta = std::fs::metadata(&root_abs)
        .map_err(|e| bad_pattern(format!("path does not exist: {root} ({e})")))?;
    // The working directory, and the tree links may point into. A root spelled outside it
    // (`../dist`) is what the user asked for, and bounds the links under it instead.
    let tree = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let tree = if Path::new(&clean_path(&root_abs.to_string_lossy())).starts_with(cwd) {
        if !resolves_inside(&root_abs, &tree) {
            return Err(bad_pattern(format!(
                "{root} resolves outside the working directory through a symlink"
            )));
        }
        tree
    } else {
        root_abs.canonicalize().unwrap_or_else(|_| root_abs.clone())
    };
    let props = rule.props.clone();
    if meta.is_file() {
        remember(&root_abs, FileId::of(&meta));
        let key = check_key(&upload_target(&root, &target, rule.flat), &rule.target)?;
        return Ok(vec![Planned {
            path: root_abs,
            shown: root,
            key,
            size: meta.len(),
            props,
        }]);
    }
    // A literal directory means its contents (jf would match nothing without the slash).
    let literal = if rule.regexp {
        !pattern.contains(['(', '*', '+', '?', '[', '{', '|', '^', '$', '\\'])
    } else {
        !pattern.contains(['*', '('])
    };
    let pattern = if literal && !pattern.ends_with('/') {
        tracing::info!("{pattern} is a directory: uploading everything under it ({pattern}/)");
        format!("{pattern}/")
    } else {
        pattern
    };
    let re = if pattern == "./" {
        Regex::new("^.*$").map_err(|e| bad_pattern(e.to_string()))?
    } else if rule.regexp {
        Regex::new(&pattern).map_err(|e| bad_pattern(e.to_string()))?
    } else {
        wildcard_to_regex(&pattern)?
    };
    let mut excludes = Vec::new();
    for x in rule
        .exclusions
        .iter()
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
    {
        let x = x.strip_prefix("./").unwrap_or(x);
        excludes.push(if rule.regexp {
            Regex::new(x).map_err(|e| bad_pattern(format!("exclusion '{x}': {e}")))?
        } else {
            wildcard_to_regex(&clean_path(x))?
        });
    }
    let mut files = Vec::new();
    list_files(&root_abs, &root, rule.recursive, &tree, &mut files)
        .map_err(|e| bad_pattern(format!("cannot list {root}: {e}")))?;
    let mut out = Vec::new();
    for (path, shown, size) in files {
        let Some(caps) = re.captures(&shown) else {
            continue;
        };
        if excludes.iter().any(|x| x.is_match(&shown)) {
            continue;
        }
        let t = replace_placeholders(&target, &caps);
        let key = check_key(&upload_target(&shown, &t, rule.flat), &rule.target)?;
        out.push(Planned {
            path,
            shown,
            key,
            size,
            props: props.clone(),
        });
    }
    Ok(out)
}

/// Plans every rule and refuses two files mapped to one artifact path.
pub fn plan_all(rules: &[UploadRule], cwd: &Path) -> Result<Vec<Planned>, JfrogSpecError> {
    let mut all: Vec<Planned> = Vec::new();
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for rule in rules {
        for p in plan(rule, cwd)? {
            if let Some(first) = by_key.get(&p.key) {
                if *first == p.shown {
                    // The same file matched by two rules: one upload (properties of the first).
                    continue;
                }
                return Err(JfrogSpecError::Collision {
                    key: p.key,
                    first: first.clone(),
                    second: p.shown,
                });
            }
            by_key.insert(p.key.clone(), p.shown.clone());
            all.push(p);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_crosses_names_with_newlines() {
        // The glob and strip-prefix fuzz targets found `.*` stopping at a newline; same here.
        let re = wildcard_to_regex("dist/*.zip").unwrap();
        assert!(re.is_match("dist/a\nb/c.zip"));
        assert!(!re.is_match("dist/a\nb/c.tar"));
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f.as_bytes()).unwrap();
        }
        dir
    }

    fn keys(rule: &UploadRule, dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = plan(rule, dir)
            .unwrap()
            .into_iter()
            .map(|p| (p.shown, p.key))
            .collect();
        v.sort();
        v
    }

    const TREE: &[&str] = &[
        "dist/app.zip",
        "dist/app.txt",
        "dist/sub/lib.zip",
        "dist/sub/deep/x.zip",
        "other/o.zip",
    ];

    /// §6.2: `*` crosses directories, recursive by default, folder vs exact target, flat vs not.
    #[test]
    fn jf_wildcard_and_target_table() {
        let dir = tree(TREE);
        let d = dir.path();
        // (pattern, target, flat, recursive, expected (local, key) pairs)
        type Row = (
            &'static str,
            &'static str,
            bool,
            bool,
            &'static [(&'static str, &'static str)],
        );
        let table: &[Row] = &[
            (
                "dist/*.zip",
                "repo/a/",
                false,
                true,
                &[
                    ("dist/app.zip", "repo/a/dist/app.zip"),
                    ("dist/sub/deep/x.zip", "repo/a/dist/sub/deep/x.zip"),
                    ("dist/sub/lib.zip", "repo/a/dist/sub/lib.zip"),
                ],
            ),
            (
                "dist/*.zip",
                "repo/a/",
                true,
                true,
                &[
                    ("dist/app.zip", "repo/a/app.zip"),
                    ("dist/sub/deep/x.zip", "repo/a/x.zip"),
                    ("dist/sub/lib.zip", "repo/a/lib.zip"),
                ],
            ),
            (
                "dist/*.zip",
                "repo/a/",
                true,
                false,
                &[("dist/app.zip", "repo/a/app.zip")],
            ),
            (
                "./dist/app.zip",
                "repo/a/",
                false,
                true,
                &[("dist/app.zip", "repo/a/dist/app.zip")],
            ),
            (
                "dist/app.zip",
                "repo/a/renamed.zip",
                false,
                true,
                &[("dist/app.zip", "repo/a/renamed.zip")],
            ),
            (
                "dist/app.zip",
                "repo",
                true,
                true,
                &[("dist/app.zip", "repo/app.zip")],
            ),
            (
                "dist/",
                "repo/b/",
                false,
                true,
                &[
                    ("dist/app.txt", "repo/b/dist/app.txt"),
                    ("dist/app.zip", "repo/b/dist/app.zip"),
                    ("dist/sub/deep/x.zip", "repo/b/dist/sub/deep/x.zip"),
                    ("dist/sub/lib.zip", "repo/b/dist/sub/lib.zip"),
                ],
            ),
            (
                "dist/sub",
                "/repo/b/",
                true,
                true,
                &[
                    ("dist/sub/deep/x.zip", "repo/b/x.zip"),
                    ("dist/sub/lib.zip", "repo/b/lib.zip"),
                ],
            ),
            (
                "*.zip",
                "repo/",
                false,
                true,
                &[
                    ("dist/app.zip", "repo/dist/app.zip"),
                    ("dist/sub/deep/x.zip", "repo/dist/sub/deep/x.zip"),
                    ("dist/sub/lib.zip", "repo/dist/sub/lib.zip"),
                    ("other/o.zip", "repo/other/o.zip"),
                ],
            ),
            ("../x/dist/*.txt", "repo/", false, true, &[]),
        ];
        // `../x/dist` does not exist: covered by the error test below; skip it here.
        for (pattern, target, flat, recursive, want) in &table[..table.len() - 1] {
            let mut rule = UploadRule::new(pattern, target);
            rule.flat = *flat;
            rule.recursive = *recursive;
            let got = keys(&rule, d);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, want, "{pattern} → {target} flat={flat}");
        }
    }

    /// `{1}` placeholders come from parenthesised groups; the target is an exact path.
    #[test]
    fn placeholders() {
        let dir = tree(&[
            "build/app-1.2.3.jar",
            "build/lib/util-0.9.jar",
            "build/x.txt",
        ]);
        let rule = UploadRule::new("build/(*)-(*).jar", "libs/{1}/{2}/{1}.jar");
        assert_eq!(
            keys(&rule, dir.path()),
            vec![
                (
                    "build/app-1.2.3.jar".into(),
                    "libs/app/1.2.3/app.jar".into()
                ),
                (
                    "build/lib/util-0.9.jar".into(),
                    "libs/lib/util/0.9/lib/util.jar".into()
                ),
            ]
        );
        // A placeholder in a folder target still gets the file name appended.
        let mut rule = UploadRule::new("build/(*).txt", "docs/{1}/");
        rule.flat = true;
        assert_eq!(
            keys(&rule, dir.path()),
            vec![("build/x.txt".into(), "docs/x/x.txt".into())]
        );
    }

    #[test]
    fn exclusions_and_regexp() {
        let dir = tree(TREE);
        let mut rule = UploadRule::new("dist/*", "r/");
        rule.flat = true;
        rule.exclusions = vec!["*.txt".into(), "dist/sub/deep/".into()];
        assert_eq!(
            keys(&rule, dir.path()),
            vec![
                ("dist/app.zip".into(), "r/app.zip".into()),
                ("dist/sub/lib.zip".into(), "r/lib.zip".into()),
            ]
        );
        let mut rule = UploadRule::new("dist/(.*)\\.zip", "r/{1}.bin");
        rule.regexp = true;
        assert_eq!(
            keys(&rule, dir.path())[0],
            ("dist/app.zip".into(), "r/app.bin".into())
        );
    }

    #[test]
    fn errors() {
        let dir = tree(TREE);
        let e = plan(&UploadRule::new("nope/*.zip", "r/"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("path does not exist: nope"), "{e}");
        let e = plan(&UploadRule::new("dist/(*.zip", "r/"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("'(' without ')'"), "{e}");
        let e = plan(&UploadRule::new("dist/*.zip", ""), dir.path()).unwrap_err();
        assert!(matches!(e, JfrogSpecError::Target { .. }));
        // Every match to one exact path: refused, both files named.
        let e = plan_all(&[UploadRule::new("dist/*.zip", "r/one.zip")], dir.path()).unwrap_err();
        assert!(
            matches!(&e, JfrogSpecError::Collision { key, .. } if key == "r/one.zip"),
            "{e}"
        );
        // An empty group leaves a folder target: the path is appended, as jf does.
        let p = plan(&UploadRule::new("dist/app(*).zip", "r/{1}"), dir.path()).unwrap();
        assert_eq!(p[0].key, "r/dist/app.zip");
        // `..` cannot climb out of the repository.
        let e = plan(&UploadRule::new("dist/app.zip", "r/../../x"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("'..' segment"), "{e}");
    }

    #[test]
    fn helpers_match_jf() {
        assert_eq!(trim_path("a/../b/./c//d"), "a/b/c/d");
        assert_eq!(clean_path("./a/b/../c/"), "a/c/");
        assert_eq!(clean_path("/x/../../y"), "/y");
        assert_eq!(root_path("dist/a/*.zip", false), "dist/a");
        assert_eq!(root_path("dist/(a)/b", false), "dist");
        assert_eq!(root_path("*.zip", false), ".");
        assert_eq!(root_path("/abs/x/*", false), "/abs/x");
        assert_eq!(normalize_target("repo").unwrap(), "repo/");
        assert_eq!(normalize_target("/repo/a").unwrap(), "repo/a");
        let re = wildcard_to_regex("a.b/c+d/*[x]?").unwrap();
        assert!(re.is_match("a.b/c+d/zz/[x]?"));
        assert!(!re.is_match("aXb/c+d/zz/[x]?"));
    }
}
