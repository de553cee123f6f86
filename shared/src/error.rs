//! The core error type. Every variant renders as one line that says what failed and why; a
//! binary prints it once (secrets masked) and exits 1. No code in the core panics or exits.

use crate::settings::SettingsError;

/// Everything that can stop a plugin run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing, malformed or conflicts with another one.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Writing an output file (`DRONE_OUTPUT`, artifact file, card) failed.
    #[error("cannot write {what} {path}: {source}")]
    Output {
        /// Which output.
        what: &'static str,
        /// Where it should have gone.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A step of the run failed (the docker engine, …): that module's own typed error, which
    /// the module turns into this one with `From` (`docker::DockerError`), so that this file
    /// names no module above it. Shown as the step's error, unchanged.
    #[error(transparent)]
    Step(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Renders an error and its chain of causes on one line, `outer: inner: innermost`, skipping a
/// cause whose text the outer message already contains.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line.replace(['\n', '\r'], " ")
}

/// rustls's text for a certificate that failed verification (unknown issuer, wrong name,
/// expired…), found anywhere in `err`'s chain of causes. Every request to that server would fail
/// the same way, so callers make it fatal and name the setting that fixes it.
pub fn untrusted_certificate(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(err);
    while let Some(c) = cause {
        let text = c.to_string();
        if text.contains("invalid peer certificate") {
            return Some(text);
        }
        cause = c.source();
    }
    None
}
