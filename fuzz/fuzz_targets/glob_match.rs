//! Glob matching (the `source` / `exclude` patterns of the upload plugins): for any pattern and
//! path, compiling and matching never panic, are deterministic, and mean what the docs say.
//!
//! Input: line 1 a pattern, line 2 a path.
//! - A literal pattern (no `*` or `{`) matches exactly its cleaned path.
//! - `*` alone matches exactly the paths without a `/`.
//! - Any cleaned path, escaped character by character into `{…}`, matches itself and not itself
//!   with a character added; `**/<escaped last segment>` matches it too, and so does
//!   `<escaped parent>/*`.
//! - Cleaning is idempotent and never leaves `.` or empty segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use longshore_core::upload::glob::{Matcher, clean_path, is_glob};
use longshore_fuzz::{fields, glob_escape};

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data, 2) else {
        return;
    };
    let (pattern, path) = (f[0], f[1]);
    arbitrary_pattern(pattern, path);
    cleaning(path);
    escaped_path_matches_itself(path);
});

fn arbitrary_pattern(pattern: &str, path: &str) {
    let first = Matcher::new(pattern);
    let second = Matcher::new(pattern);
    assert_eq!(
        first.is_ok(),
        second.is_ok(),
        "not deterministic: {pattern:?}"
    );
    let Ok(m) = first else {
        return;
    };
    let hit = m.is_match(path);
    assert_eq!(hit, m.is_match(path));
    assert_eq!(hit, second.unwrap().is_match(path));
    assert_eq!(m.pattern(), pattern);
    if !is_glob(pattern) {
        assert_eq!(
            hit,
            clean_path(pattern) == path,
            "literal {pattern:?} vs {path:?}"
        );
    }
    let star = Matcher::new("*").unwrap();
    assert_eq!(star.is_match(path), !path.contains('/'), "'*' vs {path:?}");
}

fn cleaning(path: &str) {
    let c = clean_path(path);
    assert_eq!(clean_path(&c), c, "clean is not idempotent on {path:?}");
    if c != "." && c != "/" {
        assert!(!c.ends_with('/'), "{c:?}");
        assert!(
            !c.trim_start_matches('/')
                .split('/')
                .any(|s| s.is_empty() || s == "."),
            "{path:?} cleaned to {c:?}"
        );
    }
    if path.starts_with('/') {
        assert!(
            c.starts_with('/') && !c.split('/').any(|s| s == ".."),
            "{c:?}"
        );
    }
}

fn escaped_path_matches_itself(path: &str) {
    // Matching runs on cleaned paths (the walk and the excludes clean first).
    let p = clean_path(path);
    let exact =
        Matcher::new(&format!("{{{}}}", glob_escape(&p))).expect("an escaped path compiles");
    assert!(exact.is_match(&p), "{p:?} does not match its escaped form");
    assert!(!exact.is_match(&format!("{p}x")), "{p:?} is not anchored");

    let (parent, base) = match p.rsplit_once('/') {
        Some((parent, base)) => (Some(parent), base),
        None => (None, p.as_str()),
    };
    if base.is_empty() || base == "." || base == ".." {
        return;
    }
    let any_depth = format!("**/{}", glob_escape(base));
    assert!(
        Matcher::new(&any_depth).unwrap().is_match(&p),
        "{any_depth:?} does not match {p:?}"
    );
    if let Some(parent) = parent.filter(|d| !d.is_empty()) {
        let one_level = format!("{}/*", glob_escape(parent));
        assert!(
            Matcher::new(&one_level).unwrap().is_match(&p),
            "{one_level:?} does not match {p:?}"
        );
    }
}
