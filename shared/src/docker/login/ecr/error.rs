//! The ECR flow's error: one line per failure, naming the call and what to check.

use crate::aws::AwsError;

/// A failure of the ECR flow, on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EcrError {
    /// No credentials.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The login token could not be had.
    #[error(
        "ECR GetAuthorizationToken failed: {0} (check the AWS credentials — PLUGIN_ACCESS_KEY/PLUGIN_SECRET_KEY, PLUGIN_ASSUME_ROLE, or the default chain — and PLUGIN_REGION)"
    )]
    Token(String),
    /// The ECR Public login token could not be had.
    #[error(
        "ECR Public GetAuthorizationToken (us-east-1) failed: {0} (check the AWS credentials — PLUGIN_ACCESS_KEY/PLUGIN_SECRET_KEY, PLUGIN_ASSUME_ROLE, or the default chain — and that they may call ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken)"
    )]
    PublicToken(String),
    /// A repository call failed.
    #[error("ECR {op} on repository {repo} failed: {reason}")]
    Api {
        /// The API operation.
        op: &'static str,
        /// The repository name.
        repo: String,
        /// Why.
        reason: String,
    },
    /// The registry from the token does not make a valid repository.
    #[error("PLUGIN_REPO: {0}")]
    Repo(String),
}
