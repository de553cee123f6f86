//! Tags: the `auto_tag` algorithm of drone-docker (reference image-plugins §4, its test tables
//! are golden tests below) and the check that every tag is one a registry accepts.
//!
//! The version parser is our own because drone-docker's (coreos/go-semver) keeps zero padding
//! (`18.06.0` → `18`, `18.06`), which the `semver` crate rejects.

/// True when `auto_tag` should build for this ref: a tag, or the default branch.
pub fn use_default_tag(commit_ref: &str, default_branch: &str) -> bool {
    if commit_ref.starts_with("refs/tags/") {
        return true;
    }
    strip_head_prefix(commit_ref) == default_branch
}

/// `refs/heads/x` → `x`.
pub fn strip_head_prefix(r: &str) -> &str {
    r.strip_prefix("refs/heads/").unwrap_or(r)
}

/// `refs/tags/v1.0.0` → `1.0.0` (one lower-case `v` only, as the anchor).
pub fn strip_tag_prefix(r: &str) -> &str {
    let r = r.strip_prefix("refs/tags/").unwrap_or(r);
    r.strip_prefix('v').unwrap_or(r)
}

/// A `MAJOR.MINOR.PATCH[-pre][+build]` version with the textual parts kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    pub(crate) major: &'a str,
    pub(crate) minor: &'a str,
    pub(crate) patch: &'a str,
    pub(crate) pre: Option<&'a str>,
    pub(crate) build: Option<&'a str>,
}

pub(crate) fn parse_version(v: &str) -> Result<Version<'_>, String> {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("{v} is not in dotted-tri format"));
    }
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{v}: '{p}' is not a number"));
        }
    }
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if let Some(p) = pre
        && !ident_ok(p)
    {
        return Err(format!("{v}: bad pre-release '{p}'"));
    }
    if let Some(b) = build
        && !ident_ok(b)
    {
        return Err(format!("{v}: bad build metadata '{b}'"));
    }
    Ok(Version {
        major: parts[0],
        minor: parts[1],
        patch: parts[2],
        pre,
        build,
    })
}

/// The tags `auto_tag` produces for a ref.
pub fn default_tags(commit_ref: &str) -> Result<Vec<String>, String> {
    if !commit_ref.starts_with("refs/tags/") {
        return Ok(vec!["latest".into()]);
    }
    let v = strip_tag_prefix(commit_ref);
    let ver = parse_version(v)?;
    if ver.pre.is_some() || ver.build.is_some() {
        let mut s = format!("{}.{}.{}", ver.major, ver.minor, ver.patch);
        if let Some(p) = ver.pre {
            s = format!("{s}-{p}");
        }
        if let Some(b) = ver.build {
            s = format!("{s}+{b}");
        }
        return Ok(vec![s]);
    }
    let (m, mi, p) = (ver.major, ver.minor, ver.patch);
    // go-semver compares the number, so `00` is zero too.
    if m.bytes().all(|b| b == b'0') {
        Ok(vec![format!("{m}.{mi}"), format!("{m}.{mi}.{p}")])
    } else {
        Ok(vec![
            m.to_string(),
            format!("{m}.{mi}"),
            format!("{m}.{mi}.{p}"),
        ])
    }
}

/// [`default_tags`] with a suffix: `latest` becomes the suffix, every other tag gets `-suffix`.
pub fn default_tag_suffix(commit_ref: &str, suffix: &str) -> Result<Vec<String>, String> {
    let tags = default_tags(commit_ref)?;
    if suffix.is_empty() {
        return Ok(tags);
    }
    Ok(tags
        .into_iter()
        .map(|t| {
            if t == "latest" {
                suffix.to_string()
            } else {
                format!("{t}-{suffix}")
            }
        })
        .collect())
}

/// A registry accepts `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Semver build metadata (`+build.5`) is not allowed in a docker tag: it becomes `-build.5`,
/// the convention docker/metadata-action users know. Returns None when nothing needed changing.
pub fn sanitize_build_metadata(tag: &str) -> Option<String> {
    tag.contains('+').then(|| tag.replace('+', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn strip_tag_prefix_table() {
        for (before, after) in [
            ("refs/tags/1.0.0", "1.0.0"),
            ("refs/tags/v1.0.0", "1.0.0"),
            ("v1.0.0", "1.0.0"),
        ] {
            assert_eq!(strip_tag_prefix(before), after);
        }
    }

    #[test]
    fn strip_head_prefix_table() {
        assert_eq!(strip_head_prefix("refs/heads/master"), "master");
    }

    #[test]
    fn default_tags_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["latest"]),
            ("refs/heads/master", &["latest"]),
            ("refs/tags/0.9.0", &["0.9", "0.9.0"]),
            ("refs/tags/1.0.0", &["1", "1.0", "1.0.0"]),
            ("refs/tags/v1.0.0", &["1", "1.0", "1.0.0"]),
            ("refs/tags/v1.0.0-alpha.1", &["1.0.0-alpha.1"]),
        ];
        for (r, want) in cases {
            assert_eq!(default_tags(r).unwrap(), v(want), "{r}");
        }
    }

    #[test]
    fn default_tags_error_table() {
        for r in ["refs/tags/x1.0.0", "refs/tags/20190203"] {
            assert!(default_tags(r).is_err(), "{r}");
        }
    }

    #[test]
    fn default_tag_suffix_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("", "", &["latest"]),
            ("refs/tags/v1.0.0", "", &["1", "1.0", "1.0.0"]),
            ("", "linux-amd64", &["linux-amd64"]),
            (
                "refs/tags/v1.0.0",
                "linux-amd64",
                &["1-linux-amd64", "1.0-linux-amd64", "1.0.0-linux-amd64"],
            ),
            ("", "nanoserver", &["nanoserver"]),
            (
                "refs/tags/v1.9.2",
                "nanoserver",
                &["1-nanoserver", "1.9-nanoserver", "1.9.2-nanoserver"],
            ),
            (
                "refs/tags/v18.06.0",
                "nanoserver",
                &["18-nanoserver", "18.06-nanoserver", "18.06.0-nanoserver"],
            ),
        ];
        for (r, suffix, want) in cases {
            assert_eq!(
                default_tag_suffix(r, suffix).unwrap(),
                v(want),
                "{r} {suffix}"
            );
        }
    }

    #[test]
    fn use_default_tag_table() {
        assert!(use_default_tag("refs/heads/master", "master"));
        assert!(use_default_tag("refs/tags/v1.0.0", "master"));
        assert!(!use_default_tag("refs/heads/develop", "master"));
    }

    #[test]
    fn edge_cases_from_the_anchor_code() {
        assert!(
            default_tags("refs/tags/v1.2")
                .unwrap_err()
                .contains("dotted-tri")
        );
        assert!(default_tags("refs/tags/V1.0.0").is_err());
        assert_eq!(
            default_tags("refs/tags/1.2.3+build.5").unwrap(),
            v(&["1.2.3+build.5"])
        );
        assert_eq!(
            default_tag_suffix("refs/tags/v1.0.0-rc.1", "linux").unwrap(),
            v(&["1.0.0-rc.1-linux"])
        );
        assert_eq!(
            default_tags("refs/tags/v0.0.1").unwrap(),
            v(&["0.0", "0.0.1"])
        );
        assert_eq!(
            default_tags("refs/tags/v01.2.3").unwrap(),
            v(&["01", "01.2", "01.2.3"])
        );
        assert!(!use_default_tag("refs/pull/12/head", "master"));
        assert!(use_default_tag("", ""));
        assert_eq!(default_tags("").unwrap(), v(&["latest"]));
    }

    #[test]
    fn tag_validity_and_build_metadata() {
        assert!(is_valid_tag("1.0.0-rc.1"));
        assert!(is_valid_tag("_x"));
        assert!(!is_valid_tag("1.2.3+build.5"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert_eq!(
            sanitize_build_metadata("1.2.3+build.5").as_deref(),
            Some("1.2.3-build.5")
        );
        assert_eq!(sanitize_build_metadata("1.2.3"), None);
    }
}
