//! Download path mapping (download mode of the S3 / GCS plugins: object key → local file): for
//! any listed key, source directory and strip prefix, the local path never escapes the target
//! directory.
//!
//! Input: line 1 the source directory, line 2 the strip prefix, line 3 (the rest) the object
//! key.
//! - `safe_local_path` accepts a name only when the result is strictly inside the target
//!   directory, made of plain name components (no `..`, no root, no NUL, no backslash);
//! - an accepted name is the target directory joined with the name's non-empty, non-`.`
//!   segments, in order; the same input gives the same answer;
//! - written through `local_fs::TargetDir` into a real tree whose target directory holds links
//!   out of it (`up -> ../out`, an absolute link, `f -> ../out/victim`, a link to inside), the
//!   name either lands as a regular file strictly inside the target or is refused: nothing
//!   under `out/` is created or changed, and no partial file is left behind.
#![no_main]

use std::path::{Component, Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use longshore_core::upload::keys::{normalize_path, resolve_source, safe_local_path};
use longshore_core::upload::local_fs::TargetDir;
use longshore_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data, 3) else {
        return;
    };
    let (source_dir, strip, key) = (normalize_path(f[0]), f[1], normalize_path(f[2]));
    let rel = resolve_source(&source_dir, &key, strip);
    if key.starts_with(&source_dir) {
        assert!(
            rel.starts_with(strip),
            "{rel:?} lost the strip prefix {strip:?}"
        );
    }
    for dir in [
        Path::new("/tmp/longshore-target"),
        Path::new("out"),
        Path::new(""),
    ] {
        // Both the composed name and the raw key, as a caller could pass either.
        for name in [rel.as_str(), f[2]] {
            check(dir, name);
        }
    }
    write_in_a_tree_with_links(&rel);
});

/// The real-disk half: see the module docs.
fn write_in_a_tree_with_links(rel: &str) {
    let Ok(_) = safe_local_path(Path::new("t"), rel) else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let (t, out) = (root.path().join("t"), root.path().join("out"));
    std::fs::create_dir_all(t.join("d")).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("victim"), "keep").expect("write");
    for (link, to) in [
        ("up", Path::new("../out").to_path_buf()),
        ("abs", out.clone()),
        ("f", Path::new("../out/victim").to_path_buf()),
        ("d/in", Path::new("..").to_path_buf()),
    ] {
        std::os::unix::fs::symlink(to, t.join(link)).expect("symlink");
    }
    let dir = TargetDir::open(&t).expect("open the target");
    let written = dir.create_partial(Path::new(rel)).and_then(|mut p| {
        use std::io::Write as _;
        p.take_file()
            .expect("a file")
            .write_all(b"x")
            .expect("write");
        let at = p.path().to_path_buf();
        p.commit().map(|()| at)
    });
    let outside: Vec<_> = std::fs::read_dir(&out).expect("out").collect();
    assert_eq!(outside.len(), 1, "{rel:?} wrote outside the target");
    assert_eq!(
        std::fs::read_to_string(out.join("victim")).expect("victim"),
        "keep"
    );
    if let Ok(at) = written {
        let meta = std::fs::symlink_metadata(&at).expect("the written file");
        assert!(meta.is_file(), "{rel:?} → {}", at.display());
        let real = at.canonicalize().expect("canonical");
        let inside = t.canonicalize().expect("canonical");
        assert!(real.starts_with(&inside) && real != inside, "{rel:?}");
    }
    assert!(!has_partial(&t), "{rel:?} left a partial file");
}

fn has_partial(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            e.file_name()
                .to_string_lossy()
                .ends_with(".longshore-partial")
                || (is_dir && has_partial(&e.path()))
        })
}

fn check(dir: &Path, rel: &str) {
    let got = safe_local_path(dir, rel);
    assert_eq!(
        format!("{got:?}"),
        format!("{:?}", safe_local_path(dir, rel))
    );
    let Ok(p) = got else {
        return;
    };
    let inside = p
        .strip_prefix(dir)
        .expect("the path is under the target directory");
    assert!(
        inside.components().next().is_some(),
        "{rel:?} names the directory itself"
    );
    assert!(
        inside
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "{rel:?} → {}",
        p.display()
    );
    let text = p.to_str().expect("UTF-8 in, UTF-8 out");
    assert!(!text.contains('\0') && !text.contains('\\'), "{text:?}");
    let want: PathBuf = rel
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .fold(dir.to_path_buf(), |acc, s| acc.join(s));
    assert_eq!(p, want, "{rel:?}");
}
