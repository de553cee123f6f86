//! What a child process we start (`dockerd`, `ssh-agent`, `ssh-add`) may inherit of our
//! environment: the few variables it needs to run and reach the network, never the step's
//! `PLUGIN_*` settings, which hold passwords, keys and docker configs. A child's environment is
//! readable by anything that can read its `/proc/<pid>/environ` and is copied into its own
//! children.

use std::ffi::OsString;

/// The variables a child keeps: finding programs, temp and locale, the proxies a daemon pulls
/// through, and the trust settings of TLS libraries.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "USER",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "DOCKER_RAMDISK",
];

/// The inherited variables that are set, with their values, for `Command::env_clear().envs(…)`.
#[allow(
    clippy::disallowed_methods,
    reason = "passes the runner's own variables to children, not settings"
)]
pub fn inherited() -> Vec<(&'static str, OsString)> {
    INHERITED
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|v| (*name, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_setting_is_inherited() {
        assert!(INHERITED.iter().all(|n| !n.starts_with("PLUGIN_")));
        assert!(inherited().iter().any(|(n, _)| *n == "PATH"));
    }
}
