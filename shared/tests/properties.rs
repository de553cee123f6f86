//! Property tests of the pure functions every plugin leans on: whatever the input, settings
//! parsing, tag computation, glob matching and key mapping never panic, and their outputs keep
//! their promises (valid tags; keys without `..`, backslashes or a leading `/`; download paths
//! inside the target directory; the same input always maps the same way).
#![cfg(all(feature = "docker", feature = "upload"))]

use std::path::Path;

use longshore_core::docker::tags;
use longshore_core::settings::{List, Value};
use longshore_core::upload::glob::Matcher;
use longshore_core::upload::keys::{KeyMapper, resolve_key, safe_local_path};
use proptest::prelude::*;

/// Path-like strings: segments of letters, dots, stars and the odd hostile character.
fn pathish() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9._*?\\[\\]{},-]{0,6}|\\.\\.|\\.|~|\\\\x", 0..6)
        .prop_map(|segs| segs.join("/"))
        .prop_flat_map(|p| prop_oneof![Just(p.clone()), Just(format!("/{p}"))])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn list_parsing_never_panics_and_yields_no_empty_items(raw in ".{0,64}") {
        if let Ok(list) = List::parse(&raw) {
            prop_assert!(list.0.iter().all(|i| !i.trim().is_empty()));
        }
    }

    #[test]
    fn booleans_accept_exactly_gos_set(raw in "[a-zA-Z0-9 ]{0,6}") {
        let ok = matches!(raw.trim(), "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False");
        prop_assert_eq!(bool::parse(&raw).is_ok(), ok);
    }

    #[test]
    fn auto_tags_are_valid_tags_once_sanitised(
        v in "v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,8})?(\\+[a-z0-9.]{1,8})?",
        suffix in "[a-z0-9-]{0,8}",
    ) {
        let r = format!("refs/tags/{v}");
        if let Ok(tags) = tags::default_tag_suffix(&r, &suffix) {
            for t in tags {
                let t = tags::sanitize_build_metadata(&t).unwrap_or(t);
                prop_assert!(tags::is_valid_tag(&t), "{t}");
            }
        }
    }

    #[test]
    fn auto_tag_never_panics(r in ".{0,40}", suffix in ".{0,10}") {
        let _ = tags::default_tag_suffix(&r, &suffix);
        let _ = tags::use_default_tag(&r, &suffix);
    }

    #[test]
    fn glob_matching_never_panics(pattern in pathish(), path in pathish()) {
        if let Ok(m) = Matcher::new(&pattern) {
            let _ = m.is_match(&path);
        }
    }

    #[test]
    fn keys_never_escape_and_mapping_is_deterministic(
        target in pathish(), path in pathish(), strip in pathish(),
    ) {
        let a = resolve_key(&target, &path, &strip);
        let b = resolve_key(&target, &path, &strip);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        if let Ok(key) = a {
            prop_assert!(!key.starts_with('/'), "{key}");
            prop_assert!(!key.contains('\\'), "{key}");
            prop_assert!(!key.split('/').any(|s| s == ".."), "{key}");
            prop_assert!(!key.is_empty());
        }
        if let Ok(m) = KeyMapper::new(&target, &strip)
            && let Ok(k) = m.key(Path::new(&path), &Path::new("/work").join(&path))
        {
            prop_assert!(!k.key.split('/').any(|s| s == ".."), "{}", k.key);
            prop_assert!(!k.key.starts_with('/'), "{}", k.key);
        }
    }

    #[test]
    fn download_paths_stay_inside_the_target(rel in pathish()) {
        let dir = Path::new("/tmp/longshore-target");
        if let Ok(p) = safe_local_path(dir, &rel) {
            prop_assert!(p.starts_with(dir), "{}", p.display());
            prop_assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)));
        }
    }
}
