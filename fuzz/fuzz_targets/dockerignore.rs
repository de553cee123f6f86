//! `.dockerignore` matching while packing the build context: for any `.dockerignore` text,
//! packing a fixed tree never panics, and what goes in keeps docker's rules.
//!
//! Input: the `.dockerignore` text. Each run writes it into a fixed tree and packs the tree.
//! - A bad pattern is an error naming `.dockerignore`, never a panic.
//! - `.dockerignore` and the Dockerfile always go in (an ignored Dockerfile under a private
//!   name); nothing goes in that is not in the tree.
//! - Without `!` lines, a plain name (no wildcard, no `.`/`..` segment) excludes that path and
//!   everything under it.
//! - Packing twice gives the same entries.
#![no_main]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use longshore_core::docker::context::pack;

/// The context tree and its entries with an empty `.dockerignore`, made once per process (under
/// `$TMPDIR`, which the fuzz script sets and removes).
fn tree() -> &'static (PathBuf, BTreeSet<String>) {
    static TREE: OnceLock<(PathBuf, BTreeSet<String>)> = OnceLock::new();
    TREE.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("longshore-fuzz-dockerignore-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        longshore_fuzz::make_tree(
            &root,
            &[
                ("Dockerfile", "FROM scratch\n"),
                ("a.log", "a"),
                ("keep.txt", "k"),
                ("sub/b.log", "b"),
                ("sub/deep/c.txt", "c"),
                ("build/out", "o"),
                ("build/keep", "k"),
                (".git/HEAD", "ref: refs/heads/main\n"),
                ("sp ace/[x].md", "x"),
            ],
            &["empty"],
        );
        std::fs::write(root.join(".dockerignore"), "").expect("write .dockerignore");
        let all = entries(&root).expect("the tree packs without a .dockerignore");
        (root, all)
    })
}

fn entries(root: &Path) -> Result<BTreeSet<String>, String> {
    let ctx = pack(root, &root.join("Dockerfile"), false).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(ctx.tar.as_slice());
    let mut names: BTreeSet<String> = archive
        .entries()
        .expect("our own tar reads back")
        .map(|e| {
            let e = e.expect("our own tar reads back");
            let name = e.path().expect("a tar path").to_string_lossy().into_owned();
            name.trim_end_matches('/').to_string()
        })
        .collect();
    // The private name of an ignored Dockerfile is random: one fixed name stands for it.
    if ctx.dockerfile != "Dockerfile" {
        assert!(
            ctx.dockerfile.starts_with(".longshore-dockerfile-"),
            "{}",
            ctx.dockerfile
        );
        assert!(names.remove(&ctx.dockerfile));
        names.insert(PRIVATE.to_string());
    }
    Ok(names)
}

const PRIVATE: &str = "<private Dockerfile>";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (root, all) = tree();
    std::fs::write(root.join(".dockerignore"), text).expect("write .dockerignore");
    let got = match entries(root) {
        Ok(got) => got,
        Err(e) => {
            assert!(e.contains(".dockerignore"), "{e}");
            return;
        }
    };
    assert_eq!(entries(root).unwrap(), got, "not deterministic");
    assert!(got.contains(".dockerignore"));
    assert!(
        got.contains("Dockerfile") ^ got.contains(PRIVATE),
        "{got:?}"
    );
    for name in &got {
        assert!(
            all.contains(name) || name == PRIVATE,
            "{name:?} is not in the tree"
        );
    }

    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.iter().any(|l| l.starts_with('!')) {
        return;
    }
    for line in lines {
        let name = line.trim_start_matches("./").trim_start_matches('/');
        let plain = !name.is_empty()
            && !name.contains(['*', '?', '[', ']', '\\', '{', '}'])
            && !name.ends_with(' ')
            && !name
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if !plain {
            continue;
        }
        for entry in &got {
            let under = entry == name || entry.starts_with(&format!("{name}/"));
            assert!(
                !under || entry == ".dockerignore",
                "{entry:?} went in despite {line:?}"
            );
        }
    }
});
