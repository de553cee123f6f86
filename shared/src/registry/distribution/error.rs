//! The daemonless push's errors: what failed, with the failure that caused it kept as the
//! source. Each message is the line the docker engine shows (it carries the cause's text where
//! the line always has), so [`TarPushError`] is that line and the typed error beside it.

use std::path::PathBuf;

use super::client::TOKEN_BODY_CAP;
use super::tarball::MAX_INDEX_DEPTH;

/// A failure of the daemonless push.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// A local file (the tarball, a layer's spool) cannot be opened, read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// `open`, `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the tarball failed past opening it.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The private directory for compressed layers cannot be made.
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    /// The tarball is not a tar archive at all.
    #[error("{} is not a tar archive: {source}", path.display())]
    NotTar {
        /// The tarball.
        path: PathBuf,
        /// What the tar reader said.
        #[source]
        source: std::io::Error,
    },
    /// A member header of the tarball is broken.
    #[error("{} is not a valid tar archive: {source}", path.display())]
    BadTar {
        /// The tarball.
        path: PathBuf,
        /// What the tar reader said.
        #[source]
        source: std::io::Error,
    },
    /// The tarball is neither a `docker save` archive nor an OCI layout.
    #[error(
        "{} is neither a docker save tarball (manifest.json) nor an OCI layout (index.json)",
        path.display()
    )]
    NotAnImage {
        /// The tarball.
        path: PathBuf,
    },
    /// A member the archive's metadata names is not in it.
    #[error("{} has no {name}", path.display())]
    Missing {
        /// The tarball.
        path: PathBuf,
        /// The member.
        name: String,
    },
    /// A metadata member is too large to be metadata.
    #[error("{name} in {} is too large for metadata", path.display())]
    TooLarge {
        /// The member.
        name: String,
        /// The tarball.
        path: PathBuf,
    },
    /// An index of the archive is not JSON.
    #[error("{name} is not JSON: {source}")]
    NotJson {
        /// `manifest.json` or `index.json`.
        name: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest (read from the archive, or written for the push) is not valid JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The archive's metadata lacks what a push needs (no image, no config, no digest…).
    #[error("{0}")]
    Layout(&'static str),
    /// A blob the OCI manifest names is not in the archive.
    #[error("the archive has no blob {digest}")]
    NoBlob {
        /// Its digest.
        digest: String,
    },
    /// A blob of the OCI layout is not what its digest says.
    #[error("blob {blob} in the OCI layout has digest {actual}")]
    BlobDigest {
        /// The digest it is named by (cut to a readable length).
        blob: String,
        /// The digest of its bytes.
        actual: String,
    },
    /// Indexes nest deeper than any real layout.
    #[error("the OCI layout nests indexes more than {MAX_INDEX_DEPTH} deep")]
    Nesting,
    /// The parallel compressor cannot be set up.
    #[error("cannot start the compressor: {0}")]
    Compressor(#[source] gzp::GzpError),
    /// Compressing a layer failed.
    #[error("compressing a layer failed: {0}")]
    Compress(#[source] std::io::Error),
    /// The compressor failed to finish a layer.
    #[error("compressing a layer failed: {0}")]
    CompressEnd(#[source] gzp::GzpError),
    /// The compressed layer cannot be written to its spool.
    #[error("writing a compressed layer failed: {0}")]
    Spool(#[source] std::io::Error),
    /// The tarball shrank while a layer was read.
    #[error("{} changed while it was read (a layer ends early)", path.display())]
    Shrank {
        /// The tarball.
        path: PathBuf,
    },
    /// A blocking task (reading the tarball, compressing a layer) did not finish.
    #[error("{what} failed: {source}")]
    Task {
        /// What the task did.
        what: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The streamed upload of a layer did not finish.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// A CA of `/etc/docker/certs.d/<host>/` cannot be used.
    #[error("{}", crate::error::one_line(.0))]
    Ca(#[source] crate::tls::CaError),
    /// The HTTP client cannot be built.
    #[error("{0}")]
    Client(#[source] reqwest::Error),
    /// The registry cannot be reached, or its certificate is not trusted: the message says
    /// which, and what to set.
    #[error("{message}")]
    Unreachable {
        /// What failed and what fixes it.
        message: String,
        /// The HTTPS attempt's error.
        #[source]
        source: reqwest::Error,
    },
    /// A request failed after every attempt the retry policy allows.
    #[error("registry request failed: {0}")]
    Request(String),
    /// A request sent without the retry policy (a layer's streamed upload) failed.
    #[error("{}", crate::error::one_line(.0))]
    Send(#[source] reqwest::Error),
    /// The registry refused our credentials.
    #[error("authentication failed: the registry answered {0} (check the registry credentials)")]
    Denied(reqwest::StatusCode),
    /// The registry asks for Basic credentials and none were given.
    #[error("the registry requires credentials and none were given")]
    NoCredentials,
    /// The registry refused the Basic credentials we sent.
    #[error("authentication failed (check the registry credentials)")]
    BadCredentials,
    /// The registry's Bearer challenge cannot be followed (no realm, not a URL, plain HTTP).
    #[error("{0}")]
    Challenge(String),
    /// The token request failed.
    #[error("token request to {realm} failed: {source}")]
    Token {
        /// The token service.
        realm: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The token service refused.
    #[error("authentication failed: the token service answered {0}")]
    TokenRefused(reqwest::StatusCode),
    /// The token answer cannot be read.
    #[error("reading the token response failed: {0}")]
    TokenRead(#[source] reqwest::Error),
    /// The token answer is larger than a token.
    #[error("the token response is larger than {TOKEN_BODY_CAP} bytes")]
    TokenTooLarge,
    /// The token answer is not JSON.
    #[error("the token response is not JSON")]
    TokenNotJson(#[source] serde_json::Error),
    /// The token answer holds no token.
    #[error("the token response has no token")]
    NoToken,
    /// An upload session's location is missing or refused.
    #[error("{0}")]
    Location(String),
    /// The registry answered a request with a status it does not succeed with.
    #[error("{what} failed: {status} {message}")]
    Refused {
        /// The request, in words.
        what: String,
        /// The status.
        status: reqwest::StatusCode,
        /// The start of the registry's error body.
        message: String,
    },
    /// The streamed upload of a layer was answered with another status than 202.
    #[error("the registry answered {0}")]
    Answered(reqwest::StatusCode),
    /// The registry stored the manifest under another digest than the one sent.
    #[error("the registry stored digest {stored}, not the {sent} we sent")]
    DigestMismatch {
        /// The registry's `Docker-Content-Digest`.
        stored: String,
        /// The digest of the bytes we sent.
        sent: String,
    },
}

/// The failure of [`super::push_tarball`]: the one line the docker engine shows (`.0`, from which
/// it also reads its hint) and the typed error it came from (`.1`, the source).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TarPushError(pub String, #[source] pub DistributionError);

impl From<DistributionError> for TarPushError {
    fn from(e: DistributionError) -> Self {
        TarPushError(e.to_string(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_the_message_the_push_always_gave_and_the_cause_stays_typed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = TarPushError::from(DistributionError::File {
            action: "open",
            path: "/x/image.tar".into(),
            source: io,
        });
        assert_eq!(e.0, "cannot open /x/image.tar: gone");
        assert!(matches!(e.1, DistributionError::File { .. }));
        assert_eq!(crate::error::one_line(&e), e.0);

        let refused = DistributionError::Refused {
            what: "pushing the manifest for 1.0".into(),
            status: reqwest::StatusCode::NOT_FOUND,
            message: "name unknown".into(),
        };
        assert_eq!(
            refused.to_string(),
            "pushing the manifest for 1.0 failed: 404 Not Found name unknown"
        );
        assert_eq!(
            DistributionError::Nesting.to_string(),
            "the OCI layout nests indexes more than 4 deep"
        );
    }
}
