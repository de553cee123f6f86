//! The docker engine, shared by the docker, ecr, gcr, gar and acr plugins: settings →
//! [`config::prepare`] (all validation) → [`engine::run`] (daemon, build, tag, push, save,
//! outputs, purge) through the Engine API with bollard — never the docker CLI.

#[cfg(feature = "acr")]
pub mod acr;
pub mod auth;
pub mod build;
pub mod config;
pub mod context;
pub mod daemon;
pub mod distribution;
#[cfg(feature = "ecr")]
pub mod ecr;
pub mod engine;
pub mod flow;
#[cfg(feature = "gcp")]
pub mod gcp;
pub mod plan;
pub mod push;
pub mod reference;
pub mod settings;
pub mod spool;
pub mod ssh;
pub mod tags;

pub use config::{Config, Prepared, prepare};
pub use engine::{Report, run};
pub use settings::DockerSettings;

/// A failure of the docker engine. One line each; the message names what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    /// The daemon does not answer.
    #[error(
        "cannot reach the docker daemon at {host}: {reason} (set DOCKER_HOST, or leave PLUGIN_DAEMON_OFF unset to start dockerd)"
    )]
    Unreachable {
        /// `DOCKER_HOST`.
        host: String,
        /// Why.
        reason: String,
    },
    /// The daemon we started failed.
    #[error("cannot start the docker daemon: {reason}{}", if log_tail.is_empty() { String::new() } else { format!("; dockerd log: {}", log_tail.lines().collect::<Vec<_>>().join(" | ")) })]
    Start {
        /// Why.
        reason: String,
        /// The last lines of the daemon's log.
        log_tail: String,
    },
    /// The build context cannot be packed.
    #[error("cannot pack the build context {path}: {reason}")]
    Context {
        /// The context directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The build failed.
    #[error("build failed: {0}")]
    Build(String),
    /// An image operation (inspect, tag, save, remove) failed.
    #[error("{op} {image} failed: {reason}")]
    Image {
        /// The operation.
        op: &'static str,
        /// The image.
        image: String,
        /// Why.
        reason: String,
    },
    /// A push failed; says which tags made it.
    #[error(
        "push of {failed} failed: {reason}{hint}; pushed: {}; not pushed: {}",
        list(pushed),
        list(not_pushed)
    )]
    Push {
        /// The reference that failed.
        failed: String,
        /// Why.
        reason: String,
        /// What to check.
        hint: String,
        /// Tags pushed before the failure.
        pushed: Vec<String>,
        /// Tags not pushed.
        not_pushed: Vec<String>,
    },
    /// Writing the image tarball failed.
    #[error("cannot save the image to {path}: {reason}")]
    Save {
        /// The tarball.
        path: String,
        /// Why.
        reason: String,
    },
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A temporary directory only we can enter (0700): it holds secret files, the ssh-agent socket,
/// or the daemon log, and is removed when dropped.
pub(crate) fn private_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    b.tempdir()
}

/// 16 random lower-case letters and digits, for temporary names.
pub(crate) fn random_suffix() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}
