//! File selection (`source` + `exclude` → the files to upload) over a fixed tree: for any
//! patterns, `select` never panics and its result keeps the rules of `upload::select`.
//!
//! Input: one pattern per line; a line starting with `!` is an exclude, any other a source.
//! Sources that would walk outside the tree (absolute, or climbing with `..`) are dropped, so a
//! run never walks the machine. On success:
//! - no file is listed twice, each is a regular file (or a symlink to one) inside the tree, its
//!   size is the one on disk, and its absolute path is the working directory + its path;
//! - no selected file, nor any directory above it, matches an exclude;
//! - the symlink pointing outside the tree is never selected;
//! - with one source, each file is matched by it or lies under a directory it matched;
//! - the same input selects the same files, and `fail_on_empty` changes only the empty case.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use longshore_core::upload::glob::{Matcher, clean_path};
use longshore_core::upload::select;

/// The tree, made once per process (under `$TMPDIR`, which the fuzz script sets and removes).
fn tree() -> &'static Path {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("longshore-fuzz-select-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let root = std::fs::canonicalize(root).expect("canonical temp dir");
        longshore_fuzz::make_tree(
            &root,
            &[
                ("a.txt", "a"),
                ("b.log", "bb"),
                (".hidden", "h"),
                ("dist/app.js", "app"),
                ("dist/app.js.map", "map"),
                ("dist/sub/x.css", "css"),
                ("dist/sub/deep/y.txt", "y"),
                ("docs/we{ird},name[1].txt", "w"),
                ("docs/sp ace.md", "s"),
            ],
            &["empty/inner"],
        );
        std::os::unix::fs::symlink("a.txt", root.join("link-in")).expect("symlink");
        std::os::unix::fs::symlink("/etc/hostname", root.join("link-out")).expect("symlink");
        std::os::unix::fs::symlink("dist", root.join("dist-link")).expect("symlink");
        root
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = Vec::new();
    let mut excludes = Vec::new();
    for line in text.lines().take(8) {
        match line.strip_prefix('!') {
            Some(e) => excludes.push(e.to_string()),
            None => {
                let c = clean_path(line.trim());
                if !(c.starts_with('/') || c == ".." || c.starts_with("../")) {
                    sources.push(line.to_string());
                }
            }
        }
    }
    let cwd = tree();
    let Ok(sel) = select(&sources, &excludes, cwd, false) else {
        return;
    };
    let again =
        select(&sources, &excludes, cwd, false).expect("the same input fails the second time");
    assert_eq!(sel, again, "not deterministic");
    match select(&sources, &excludes, cwd, true) {
        Ok(strict) => assert_eq!(strict.files, sel.files),
        Err(_) => assert!(
            sel.files.is_empty() || sel.warnings.iter().any(|w| w.contains("matched no files")),
            "fail_on_empty refused a non-empty selection"
        ),
    }

    let matchers: Vec<Matcher> = excludes
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(|e| {
            let abs = if e.starts_with('/') {
                e.to_string()
            } else {
                format!("{}/{e}", cwd.display())
            };
            Matcher::new(&clean_path(&abs)).expect("an exclude select accepted compiles")
        })
        .collect();
    let canonical_cwd = std::fs::canonicalize(cwd).unwrap();
    let mut seen = std::collections::HashSet::new();
    for f in &sel.files {
        assert!(seen.insert(&f.abs), "{} listed twice", f.abs.display());
        assert!(
            f.abs.starts_with(cwd),
            "{} outside the tree",
            f.abs.display()
        );
        let rel = f.path.to_str().unwrap();
        assert_eq!(
            f.abs,
            PathBuf::from(clean_path(&format!("{}/{rel}", cwd.display()))),
            "path and abs disagree"
        );
        let meta = std::fs::metadata(&f.abs).expect("a selected file exists");
        assert!(meta.is_file(), "{} is not a file", f.abs.display());
        assert_eq!(meta.len(), f.size);
        let real = std::fs::canonicalize(&f.abs).unwrap();
        assert!(
            real.starts_with(&canonical_cwd),
            "{} leads out of the tree",
            f.abs.display()
        );
        assert!(!f.abs.ends_with("link-out"));
        for ancestor in f.abs.ancestors() {
            let a = ancestor.to_str().unwrap();
            assert!(
                !matchers.iter().any(|m| m.is_match(a)),
                "{} is excluded (by {a})",
                f.abs.display()
            );
        }
    }
    if let [source] = sources
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()[..]
    {
        let m = Matcher::new(source).expect("a source select accepted compiles");
        for f in &sel.files {
            assert!(
                f.path.ancestors().any(|a| m.is_match(a.to_str().unwrap())),
                "{} is not matched by {source:?}",
                f.path.display()
            );
        }
    }
});
