//! The ACR flow's error: one line per failure, naming the call (Azure AD, the ACR token
//! exchange) and what to check.

/// A failure of the ACR login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcrError {
    /// A step called out of order (a bug, never a setting).
    #[error("acr: {0}")]
    Internal(&'static str),
    /// An Azure credential cannot be built.
    #[error(transparent)]
    Azure(#[from] azure_core::Error),
    /// The HTTP client with the `HARNESS_CA_PATH` CAs cannot be built.
    #[error(transparent)]
    Client(#[from] reqwest13::Error),
    /// A token endpoint's URL cannot be made.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// Azure AD did not answer in time.
    #[error("Azure AD token request timed out after {0}s")]
    TokenTimeout(u64),
    /// Azure AD refused or failed. The SDK's text is collapsed onto the line (it spans several
    /// lines), as it always was, so it is kept as text, not as a source.
    #[error("cannot get an Azure AD token with the {login}: {message}")]
    Token {
        /// The login, in words.
        login: &'static str,
        /// The SDK's error, on one line.
        message: String,
    },
    /// The token exchange did not answer in time.
    #[error("ACR token exchange at {host} timed out after {secs}s")]
    ExchangeTimeout {
        /// The registry.
        host: String,
        /// The time allowed.
        secs: u64,
    },
    /// The token exchange failed (transport). The SDK's text is collapsed onto the line.
    #[error("ACR token exchange at {host} failed: {message}")]
    Exchange {
        /// The registry.
        host: String,
        /// The SDK's error, on one line.
        message: String,
    },
    /// The registry refused the exchange.
    #[error(
        "ACR token exchange at {host} was refused (HTTP {status}): {message} — check that the identity has a role on the registry (AcrPush) and that the tenant is right"
    )]
    ExchangeRefused {
        /// The registry.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer, on one line.
        message: String,
    },
    /// The exchange's answer is not JSON.
    #[error("ACR token exchange at {host}: the answer is not JSON: {source}")]
    ExchangeNotJson {
        /// The registry.
        host: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The exchange's answer holds no refresh token.
    #[error("ACR token exchange at {host}: the answer has no refresh_token")]
    NoRefreshToken {
        /// The registry.
        host: String,
    },
}
