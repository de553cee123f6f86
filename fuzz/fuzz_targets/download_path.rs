//! Download path mapping (download mode of the S3 / GCS plugins: object key → local file): for
//! any listed key, source directory and strip prefix, the local path never escapes the target
//! directory.
//!
//! Input: line 1 the source directory, line 2 the strip prefix, line 3 (the rest) the object
//! key.
//! - `safe_local_path` accepts a name only when the result is strictly inside the target
//!   directory, made of plain name components (no `..`, no root, no NUL, no backslash);
//! - an accepted name is the target directory joined with the name's non-empty, non-`.`
//!   segments, in order; the same input gives the same answer.
#![no_main]

use std::path::{Component, Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use longshore_core::upload::keys::{normalize_path, resolve_source, safe_local_path};
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
});

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
