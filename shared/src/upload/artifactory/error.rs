//! Why the Artifactory client or a build-info publish cannot be had, one line each.

/// Why the client or a build-info publish cannot be had. One line each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactoryError {
    /// The URL has no `/artifactory` path (needed for the REST API, e.g. build info).
    #[error("url does not contain '/artifactory': {0}")]
    NoArtifactory(String),
    /// Not an http(s) URL.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A proxy URL is unusable.
    #[error("{var}: '{url}' is not a proxy URL: {reason}")]
    Proxy {
        /// The variable it came from.
        var: String,
        /// The value, credentials masked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS stack refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Artifactory did not accept the build info.
    #[error("build-info publish to {url} failed: {reason}")]
    BuildInfo {
        /// The endpoint.
        url: String,
        /// The server's answer.
        reason: String,
    },
}
