//! AWS credentials for the s3 and ecr plugins, the way Harness and Drone hand them over: static
//! keys (+ session token), or the default chain (env, profile, web identity file, container,
//! IMDS); then `assume_role` (with external id and session name) or, with an OIDC token,
//! AssumeRoleWithWebIdentity; then an optional second hop `user_role_arn`.
//!
//! Unlike the anchors, `assume_role` applies even when static keys are given: that is how a
//! Harness connector with a cross-account role arrives, and the anchors silently ignored it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tracing::info;

use crate::secret::Secret;
use crate::settings::SettingsError;
use crate::tls::{self, CaBundle};

/// The credential settings of an AWS plugin, validated.
#[derive(Debug, Clone, Default)]
pub struct AwsAuth {
    /// Region.
    pub region: String,
    /// Static access key id.
    pub access_key: String,
    /// Static secret key.
    pub secret_key: Secret,
    /// Session token for the static keys.
    pub session_token: Secret,
    /// Role to assume.
    pub assume_role: String,
    /// Session name for the role.
    pub session_name: String,
    /// External id for the role.
    pub external_id: String,
    /// OIDC token: AssumeRoleWithWebIdentity instead of AssumeRole.
    pub oidc_token: Secret,
    /// Second-hop role.
    pub user_role_arn: String,
    /// External id of the second hop.
    pub user_role_external_id: String,
    /// Extra trust anchors from `AWS_CA_BUNDLE`, checked by [`ca_bundle`].
    pub ca_bundle: Option<CaBundle>,
}

impl AwsAuth {
    /// The checks every AWS plugin (s3, ecr) makes before any request: keys come in pairs, a
    /// web identity token needs the role it is exchanged for, roles are ARNs.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let required = |var: &str, hint: &str| SettingsError::Required {
            var: var.into(),
            hint: hint.into(),
        };
        if !self.access_key.is_empty() && self.secret_key.is_empty() {
            return Err(required(
                "PLUGIN_SECRET_KEY",
                "an access key is set, so its secret key is needed too",
            ));
        }
        if self.access_key.is_empty() && !self.secret_key.is_empty() {
            return Err(required(
                "PLUGIN_ACCESS_KEY",
                "a secret key is set, so its access key id is needed too",
            ));
        }
        if !self.oidc_token.is_empty() && self.assume_role.is_empty() {
            return Err(required(
                "PLUGIN_ASSUME_ROLE",
                "PLUGIN_OIDC_TOKEN_ID is exchanged for the credentials of a role",
            ));
        }
        for (var, role) in [
            ("PLUGIN_ASSUME_ROLE", &self.assume_role),
            ("PLUGIN_USER_ROLE_ARN", &self.user_role_arn),
        ] {
            if !role.is_empty() && !role.starts_with("arn:") {
                return Err(SettingsError::invalid(
                    var,
                    format!(
                        "'{}' is not a role ARN (arn:aws:iam::<account>:role/<name>)",
                        crate::files::excerpt(role, 100)
                    ),
                ));
            }
        }
        if !self.external_id.is_empty() && self.assume_role.is_empty() {
            tracing::warn!(
                "PLUGIN_EXTERNAL_ID is ignored: it only applies with PLUGIN_ASSUME_ROLE"
            );
        }
        Ok(())
    }
}

/// The CA certificates of `AWS_CA_BUNDLE` (the variable the AWS CLI and the other SDKs read, and
/// which the Rust SDK ignores), trusted beside the system roots by every AWS call we make.
/// Unset or empty: `None`. A file that cannot be read or holds no usable CA certificate is
/// refused here, before any network call, naming the variable: the SDK would panic on it at the
/// first connection.
pub fn ca_bundle(env: &crate::settings::Env) -> Result<Option<CaBundle>, SettingsError> {
    const VAR: &str = "AWS_CA_BUNDLE";
    let bundle = tls::ca_file_setting(env, VAR)?;
    if let Some(b) = &bundle {
        info!(
            "{VAR}: {} CA certificate(s) trusted beside the system roots",
            b.len()
        );
    }
    Ok(bundle)
}

/// The SDK's default HTTPS client (rustls with aws-lc, the system roots, proxies from the
/// environment), with `anchors` as extra trust anchors. Plain-HTTP endpoints are unaffected.
fn https_client(anchors: &[&CaBundle]) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let trust = anchors.iter().fold(
        TrustStore::default().with_native_roots(true),
        |trust, bundle| trust.with_pem_certificate(bundle.pem().into_bytes()),
    );
    let context = TlsContext::builder().with_trust_store(trust).build();
    // `build` only fails on invalid server names, and none is given; fall back to the
    // defaults rather than panic.
    let context = context.unwrap_or_default();
    // The same construction as the SDK's default client (aws-smithy-runtime), which
    // `build_https` does not reproduce: it drops the proxy settings.
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut b = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context.clone());
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

/// A failure to obtain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// STS refused the web identity exchange. The SDK's error is its code and message, as
    /// [`sdk_error`] renders them.
    #[error("AWS credentials: AssumeRoleWithWebIdentity {role} failed: {reason}")]
    WebIdentity {
        /// `PLUGIN_ASSUME_ROLE`.
        role: String,
        /// STS's code and message.
        reason: String,
    },
    /// STS answered the web identity exchange without credentials.
    #[error("AWS credentials: AssumeRoleWithWebIdentity returned no credentials")]
    NoCredentials,
}

/// Builds the SDK configuration with the credential chain the settings ask for. The role hops
/// are lazy providers (refreshed before expiry), except web identity, which is exchanged here.
pub async fn sdk_config(a: &AwsAuth) -> Result<SdkConfig, AwsError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(a.region.clone()))
        .retry_config(crate::retry::aws_retry_config(&crate::retry::policy()));
    let anchors = crate::tls::with_harness(&a.ca_bundle);
    if !anchors.is_empty() {
        // On the loader, so STS (assume role, web identity) trusts them too.
        loader = loader.http_client(https_client(&anchors));
    }
    let mut source = "the default AWS chain (env, profile, web identity, container, IMDS)";
    if !a.access_key.is_empty() && !a.secret_key.is_empty() {
        let token = (!a.session_token.is_empty()).then(|| a.session_token.expose().to_string());
        loader = loader.credentials_provider(Credentials::new(
            a.access_key.clone(),
            a.secret_key.expose().to_string(),
            token,
            None,
            "longshore-static",
        ));
        source = "static keys (PLUGIN_ACCESS_KEY)";
    }
    let mut conf = loader.load().await;
    info!("credentials: {source}");

    if !a.assume_role.is_empty() && !a.oidc_token.is_empty() {
        let sts = aws_sdk_sts::Client::new(&conf);
        let out = sts
            .assume_role_with_web_identity()
            .role_arn(&a.assume_role)
            .role_session_name(&a.session_name)
            .web_identity_token(a.oidc_token.expose())
            .send()
            .await
            .map_err(|e| AwsError::WebIdentity {
                role: a.assume_role.clone(),
                reason: sdk_error(&e),
            })?;
        let c = out.credentials().ok_or(AwsError::NoCredentials)?;
        crate::secret::register(c.secret_access_key());
        crate::secret::register(c.session_token());
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "longshore-web-identity",
        );
        conf = conf
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build();
        info!("credentials: web identity for role {}", a.assume_role);
    } else if !a.assume_role.is_empty() {
        conf = assume(conf, &a.assume_role, Some(&a.session_name), &a.external_id).await;
        info!(
            "credentials: assume role {}{}",
            a.assume_role,
            if a.external_id.is_empty() {
                ""
            } else {
                " with external id"
            }
        );
    }
    if !a.user_role_arn.is_empty() {
        conf = assume(conf, &a.user_role_arn, None, &a.user_role_external_id).await;
        info!("credentials: then assume role {}", a.user_role_arn);
    }
    Ok(conf)
}

async fn assume(
    conf: SdkConfig,
    role: &str,
    session: Option<&str>,
    external_id: &str,
) -> SdkConfig {
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role).configure(&conf);
    b = b.session_name(session.filter(|s| !s.is_empty()).unwrap_or("longshore"));
    if !external_id.is_empty() {
        b = b.external_id(external_id);
    }
    let provider = b.build().await;
    conf.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// The service's message of an SDK error, not the generic "service error".
pub fn sdk_error<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => crate::error::one_line(err),
            }
        }
        other => crate::error::one_line(other),
    }
}
