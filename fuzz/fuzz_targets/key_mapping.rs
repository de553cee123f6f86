//! Object key mapping (`target` + `strip_prefix` + the matched path → the object key): for any
//! input, mapping never panics, is deterministic, and never makes an unsafe key.
//!
//! Input: line 1 the target, line 2 the strip prefix, line 3 (the rest) the path as matched.
//! - A key is never empty and has no leading `/`, no backslash, no empty, `.` or `..` segment;
//!   it starts with the cleaned target (when there is one) followed by `/`.
//! - Without a strip prefix the key is the cleaned `target/path`.
//! - Stripping only ever removes a prefix: the rest is a suffix of the path; `/**/` leaves the
//!   last segment of any absolute path.
//! - An absolute strip prefix parses exactly when it passes `validate_strip_prefix` (and, with
//!   wildcards, its pattern compiles).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use longshore_core::upload::glob::clean_path;
use longshore_core::upload::keys::{
    KeyMapper, StripPrefix, pattern_to_regex, resolve_key, strip_wildcard_prefix,
    validate_strip_prefix,
};
use longshore_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data, 3) else {
        return;
    };
    let (target, strip, path) = (f[0], f[1], f[2]);

    let a = resolve_key(target, path, strip);
    let b = resolve_key(target, path, strip);
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "not deterministic");
    if let Ok(key) = &a {
        check_key(key, target);
        if strip.is_empty() {
            let target = target.replace('\\', "/");
            let joined = clean_path(&format!("{}/{path}", target.trim_start_matches('/')));
            assert_eq!(key, joined.trim_start_matches('/'), "{target:?} + {path:?}");
        }
    }

    // A relative path with its absolute form, as the upload engine passes them.
    if let Ok(mapper) = KeyMapper::new(target, strip) {
        let abs = Path::new("/work").join(path.trim_start_matches('/'));
        if let Ok(k) = mapper.key(Path::new(path), &abs) {
            check_key(&k.key, target);
            assert!(!(k.stripped && k.warning.is_some()));
        }
    }

    if let Ok(rest) = strip_wildcard_prefix(path, strip) {
        assert!(
            path.ends_with(rest.as_str()),
            "{rest:?} is not a suffix of {path:?}"
        );
    }

    // `/**/` strips every directory of an absolute path: its last segment is left.
    if let Some((dir, base)) = path.rsplit_once('/')
        && path.starts_with('/')
        && dir.len() > 1
        && !base.is_empty()
    {
        assert_eq!(
            strip_wildcard_prefix(path, "/**/").unwrap(),
            base,
            "{path:?}"
        );
    }

    let slashed = strip.replace('\\', "/");
    if slashed.starts_with('/') {
        let valid = validate_strip_prefix(strip).is_ok()
            && (!slashed.contains(['*', '?']) || pattern_to_regex(&slashed).is_ok());
        assert_eq!(StripPrefix::parse(strip).is_ok(), valid, "{strip:?}");
    } else {
        assert!(StripPrefix::parse(strip).is_ok(), "{strip:?}");
    }
});

fn check_key(key: &str, target: &str) {
    assert!(!key.is_empty(), "empty key");
    assert!(!key.starts_with('/'), "{key:?}");
    assert!(!key.contains('\\'), "{key:?}");
    assert!(
        !key.split('/')
            .any(|s| s.is_empty() || s == "." || s == ".."),
        "{key:?}"
    );
    let t = clean_path(target.replace('\\', "/").trim_start_matches('/'));
    if t != "." {
        assert!(
            key.starts_with(&format!("{t}/")),
            "{key:?} is not under {t:?}"
        );
    }
}
