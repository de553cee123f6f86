//! Image reference parsing (`PLUGIN_REPO`, `PLUGIN_REGISTRY`, push status lines): for any text,
//! parsing never panics and an accepted repository is one a registry accepts.
//!
//! Input: line 1 a repository, line 2 a registry setting, line 3 a tag, line 4 a push status.
//! - An accepted repository has no tag, no digest and no whitespace around it; its path (after
//!   the host, if the first component looks like one) is lower-case components of
//!   `[a-z0-9._-]` starting and ending with a letter or digit; its host is that first
//!   component or `docker.io`; parsing its name again gives the same repository.
//! - `with_tag` is `name:tag`; the registry host never has a `/` and is never empty; Hub hosts
//!   file credentials under the Hub index.
//! - A digest read from a push status is `sha256:` and 64 characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use longshore_core::docker::daemon::push::parse_digest;
use longshore_core::registry::reference::{
    HUB_INDEX, Repository, auth_key, is_hub_host, registry_host, split_host,
};
use longshore_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data, 4) else {
        return;
    };
    let (repo, registry, tag, status) = (f[0], f[1], f[2], f[3]);

    if let Ok(r) = Repository::parse(repo) {
        assert_eq!(r.name, repo.trim());
        assert!(!r.name.contains('@'), "{r:?}");
        let (host, path) = split_host(&r.name);
        assert_eq!(r.host, host.unwrap_or("docker.io"));
        assert!(!path.is_empty());
        for comp in path.split('/') {
            let b = comp.as_bytes();
            assert!(!b.is_empty(), "{r:?}");
            assert!(
                b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric(),
                "{comp:?}"
            );
            assert!(
                b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c)),
                "{comp:?}"
            );
        }
        assert_eq!(Repository::parse(&r.name).unwrap(), r, "not idempotent");
        assert_eq!(r.with_tag(tag), format!("{}:{tag}", r.name));
        assert_eq!(r.is_hub(), is_hub_host(&r.host));
    }

    let host = registry_host(registry);
    assert!(
        !host.is_empty() && !host.contains('/'),
        "{registry:?} → {host:?}"
    );
    if host == host.trim() {
        assert_eq!(registry_host(&host), host, "not idempotent on {registry:?}");
    }
    let key = auth_key(&host);
    assert_eq!(key == HUB_INDEX, is_hub_host(&host));

    if let Some(d) = parse_digest(status) {
        assert!(d.starts_with("sha256:") && d.len() == 71, "{d:?}");
        assert!(status.contains(d));
    }
});
