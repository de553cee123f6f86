//! The image family, shared by the docker, ecr, gcr, gar and acr plugins: settings →
//! [`config::prepare`] (all validation) → [`engine::run`] (daemon, build, tag, push, save,
//! outputs, purge).
//!
//! | folder / file | owns |
//! |---|---|
//! | [`settings`], [`config`], [`build_config`], [`plan`], [`tags`] | the image settings, their validation into a [`Config`] (the build's half in [`build_config`]), the dry-run plan, tag rules |
//! | [`context`] | the build context: `.dockerignore`, the Dockerfile, the tar sent to a builder |
//! | [`engine`] | one run: build, tag, push (daemon or daemonless), save, outputs, purge |
//! | [`daemon`] | everything that talks to dockerd through bollard: start, build, push, SSH agent |
//! | [`login`] | the cloud logins (ECR, GCR/GAR, ACR) and the flow every registry plugin shares |
//!
//! The registry client (pull, push, auth, references, blob spool) is [`crate::registry`]: it
//! never needs a daemon, so the native builder and the manifest plugin use it alone.

pub mod build_config;
pub mod config;
pub mod context;
pub mod daemon;
pub mod engine;
pub mod login;
pub mod plan;
pub mod settings;
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
