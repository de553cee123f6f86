//! `auto_tag` (commit ref → image tags, drone-docker's algorithm): for any ref, suffix and
//! default branch, tag computation never panics and gives tags a registry accepts.
//!
//! Input: line 1 the commit ref, line 2 the suffix, line 3 the default branch.
//! - A tag ref is always built; a branch ref is built exactly when it is the default branch.
//! - A ref that is not a tag always gives `latest` (or the suffix in its place).
//! - A tag ref gives 1 to 3 tags, each a dot-boundary prefix of the last, which is the version
//!   itself (`v` stripped); `+build` metadata becomes `-build`.
//! - With a suffix that is itself a valid tag, every tag, once sanitised, is a valid docker tag
//!   (`[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 128 characters when the input is short enough).
#![no_main]

use libfuzzer_sys::fuzz_target;
use longshore_core::docker::tags::{
    default_tag_suffix, default_tags, is_valid_tag, sanitize_build_metadata, strip_head_prefix,
    strip_tag_prefix, use_default_tag,
};
use longshore_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data, 3) else {
        return;
    };
    let (commit_ref, suffix, branch) = (f[0], f[1], f[2]);
    let is_tag = commit_ref.starts_with("refs/tags/");

    let build = use_default_tag(commit_ref, branch);
    assert_eq!(build, is_tag || strip_head_prefix(commit_ref) == branch);

    let plain = default_tags(commit_ref);
    assert_eq!(
        format!("{plain:?}"),
        format!("{:?}", default_tags(commit_ref))
    );
    let Ok(plain) = plain else {
        assert!(is_tag, "a branch ref failed: {commit_ref:?}");
        assert!(default_tag_suffix(commit_ref, suffix).is_err());
        return;
    };
    if !is_tag {
        assert_eq!(plain, ["latest"]);
    } else {
        let version = strip_tag_prefix(commit_ref);
        assert!((1..=3).contains(&plain.len()), "{plain:?}");
        let last = plain.last().unwrap();
        assert_eq!(last, version, "{commit_ref:?}");
        for t in &plain {
            assert!(
                t == last || last.starts_with(&format!("{t}.")),
                "{t:?} is not a prefix of {last:?}"
            );
        }
    }

    let tags = default_tag_suffix(commit_ref, suffix).expect("the suffix cannot make it fail");
    assert_eq!(tags.len(), plain.len());
    if !(suffix.is_empty() || is_valid_tag(suffix)) {
        return;
    }
    for t in tags {
        let t = sanitize_build_metadata(&t).unwrap_or(t);
        if t.len() <= 128 {
            assert!(is_valid_tag(&t), "{t:?} from {commit_ref:?} + {suffix:?}");
        } else {
            // Too long for a registry: the plugin refuses it before the build (config.rs).
            assert!(!is_valid_tag(&t));
        }
    }
});
