//! The docker engine's error: one line per failure, naming what failed. The engine returns the
//! core's [`crate::Error`], so this file also says how a [`DockerError`] becomes one: the core
//! error names no module above it.

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

impl From<DockerError> for crate::Error {
    fn from(e: DockerError) -> Self {
        crate::Error::Step(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_error_shows_the_docker_error_unchanged() {
        let e = crate::Error::from(DockerError::Build("step 2 failed".into()));
        assert_eq!(e.to_string(), "build failed: step 2 failed");
        assert_eq!(crate::error::one_line(&e), "build failed: step 2 failed");
    }
}
