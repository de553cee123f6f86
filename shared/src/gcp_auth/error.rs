//! Why a Google login cannot be obtained: the endpoint, and the credential setting it came from.

/// A Google login that cannot be obtained. One line; never carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GcpError {
    /// The endpoint answered with an error.
    #[error("{what} at {url} refused the request: HTTP {status}: {body}")]
    Refused {
        /// Which endpoint.
        what: &'static str,
        /// Its URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the error body, on one line.
        body: String,
    },
    /// The endpoint could not be reached.
    #[error("cannot reach {what} at {url}: {}", crate::error::one_line(source))]
    Unreachable {
        /// Which endpoint.
        what: &'static str,
        /// Its URL.
        url: String,
        /// The transport error (its whole chain is on the line).
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered 2xx without the token.
    #[error("{what} at {url} answered without {field}")]
    BadAnswer {
        /// Which endpoint.
        what: &'static str,
        /// Its URL.
        url: String,
        /// The missing field.
        field: &'static str,
    },
    /// No source of application default credentials answered.
    #[error(
        "no Google credentials: set PLUGIN_JSON_KEY, the five workload identity federation settings (PLUGIN_OIDC_TOKEN_ID, PLUGIN_PROJECT_NUMBER, PLUGIN_POOL_ID, PLUGIN_PROVIDER_ID, PLUGIN_SERVICE_ACCOUNT_EMAIL) or GOOGLE_APPLICATION_CREDENTIALS; the metadata server at {host} did not answer: {}",
        crate::error::one_line(source)
    )]
    NoCredentials {
        /// `GCE_METADATA_HOST`.
        host: String,
        /// Why the metadata server did not answer (its whole chain is on the line).
        #[source]
        source: reqwest::Error,
    },
    /// A local step (signing, reading the subject token file) failed.
    #[error("{0}")]
    Local(String),
    /// One of the above, naming the credential setting it came from (so the one line says what
    /// to fix).
    #[error("{inner} (credentials: {credentials})")]
    Named {
        /// The failure.
        #[source]
        inner: Box<GcpError>,
        /// Which setting or source, e.g. `the service account key in PLUGIN_TOKEN`.
        credentials: String,
    },
}

impl GcpError {
    /// This failure, naming the credentials it came from.
    pub(crate) fn named(self, credentials: &str) -> GcpError {
        GcpError::Named {
            inner: Box::new(self),
            credentials: credentials.to_string(),
        }
    }
}
