//! The credentials of the GCS backend: which Google credential the settings choose (JSON key,
//! access token, workload identity federation, ADC) and the provider the storage crate asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use crate::gcp_auth::{
    self, AccessToken, Creds, DefaultCredentials, Federation, GcpError, creds, decode_key,
    parse_creds,
};
use crate::secret::Secret;
use crate::settings::{Env, SettingsError};

/// The credential settings, as the plugin read them.
pub struct AuthSettings {
    /// `PLUGIN_TOKEN` / `GOOGLE_CREDENTIALS` / `TOKEN` with the variable that set it.
    pub token: Option<(&'static str, Secret)>,
    /// `PLUGIN_JSON_KEY`.
    pub json_key: Secret,
    /// The shared Google settings (workload identity federation, ADC).
    pub google: crate::gcp_auth::GoogleSettings,
    /// `STORAGE_EMULATOR_HOST` is set: no credentials means anonymous.
    pub emulator: bool,
}

enum Source {
    Creds(Box<Creds>),
    Federation(Box<Federation>),
    Metadata(String),
}

/// How requests are authorised: anonymously (emulator) or with refreshed access tokens.
pub struct GcsAuth {
    source: Option<Source>,
    /// Where the credentials come from, for the log.
    pub label: String,
    cached: tokio::sync::Mutex<Option<(AccessToken, Instant)>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for GcsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GcsAuth({})", self.label)
    }
}

/// Picks the credentials in the anchor's order (workload identity, `token`, `json_key`,
/// application default credentials) and validates them, without network.
pub fn auth(s: &AuthSettings, env: &Env) -> Result<GcsAuth, SettingsError> {
    let federation = s.google.federation(env)?;
    let (source, label) = if let Some(f) = federation {
        (
            Some(Source::Federation(Box::new(f))),
            "workload identity federation (PLUGIN_OIDC_TOKEN_ID)".to_string(),
        )
    } else if let Some((var, raw)) = &s.token {
        let json = decode_key(var, raw)?;
        let file = parse_creds(var, json.expose())?;
        if file.kind != "service_account" {
            return Err(SettingsError::invalid(
                *var,
                format!(
                    "is a '{}' credentials file: {var} takes a service_account key (use PLUGIN_JSON_KEY for other credentials)",
                    file.kind
                ),
            ));
        }
        (
            Some(Source::Creds(Box::new(creds(var, file)?))),
            format!("the service account key in {var}"),
        )
    } else if !s.json_key.is_empty() {
        let var = "PLUGIN_JSON_KEY";
        let json = decode_key(var, &s.json_key)?;
        let file = parse_creds(var, json.expose())?;
        let kind = file.kind.clone();
        (
            Some(Source::Creds(Box::new(creds(var, file)?))),
            format!("the {kind} credentials in {var}"),
        )
    } else if s.emulator {
        (None, "no credentials (STORAGE_EMULATOR_HOST)".to_string())
    } else {
        match s.google.default_credentials(env)? {
            DefaultCredentials::File { creds, source } => {
                (Some(Source::Creds(creds)), source.to_string())
            }
            DefaultCredentials::Metadata(host) => (
                Some(Source::Metadata(host)),
                "the metadata server (application default credentials)".to_string(),
            ),
        }
    };
    let http =
        gcp_auth::http().map_err(|e| SettingsError::invalid("PLUGIN_TOKEN", e.to_string()))?;
    Ok(GcsAuth {
        source,
        label,
        cached: tokio::sync::Mutex::new(None),
        http,
    })
}

impl GcsAuth {
    /// Anonymous (an emulator).
    pub fn anonymous() -> Result<GcsAuth, GcpError> {
        Ok(GcsAuth {
            source: None,
            label: "no credentials".into(),
            cached: tokio::sync::Mutex::new(None),
            http: gcp_auth::http()?,
        })
    }

    /// True when requests carry no credentials.
    pub fn is_anonymous(&self) -> bool {
        self.source.is_none()
    }

    /// A valid access token: the cached one until 5 minutes before it expires (tokens without
    /// a stated lifetime are taken as Google's default hour), then a new one, so uploads longer
    /// than a token's life keep going.
    pub async fn token(&self) -> Result<Option<Secret>, GcpError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let mut cached = self.cached.lock().await;
        if let Some((t, at)) = cached.as_ref() {
            let life = t.lifetime.unwrap_or(Duration::from_secs(3600));
            let margin = Duration::from_secs(300).min(life / 2);
            if at.elapsed() + margin < life {
                return Ok(Some(t.token.clone()));
            }
            info!("refreshing the access token");
        }
        let t = match source {
            Source::Creds(c) => gcp_auth::creds_access_token(&self.http, c).await,
            Source::Federation(f) => gcp_auth::federated_access_token(&self.http, f).await,
            Source::Metadata(host) => gcp_auth::metadata_access_token(host).await,
        }
        .map_err(|e| e.named(&self.label))?;
        let token = t.token.clone();
        *cached = Some((t, Instant::now()));
        Ok(Some(token))
    }
}

/// Our tokens for the google-cloud-storage client: its own credential types would ignore a
/// key's `token_uri` and sign a JWT instead of the JWT-bearer grant (cloud-crate-facts §4).
#[derive(Debug, Clone)]
pub(super) struct CrateCredentials(pub(super) Arc<GcsAuth>);

impl google_cloud_auth::credentials::CredentialsProvider for CrateCredentials {
    async fn headers(
        &self,
        _extensions: http::Extensions,
    ) -> Result<
        google_cloud_auth::credentials::CacheableResource<http::HeaderMap>,
        google_cloud_auth::errors::CredentialsError,
    > {
        let mut headers = http::HeaderMap::new();
        let token = self.0.token().await.map_err(|e| {
            google_cloud_auth::errors::CredentialsError::from_msg(false, e.to_string())
        })?;
        if let Some(token) = token {
            let mut v = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| {
                    google_cloud_auth::errors::CredentialsError::from_msg(
                        false,
                        "the access token is not a valid header value",
                    )
                })?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        Ok(google_cloud_auth::credentials::CacheableResource::New {
            entity_tag: google_cloud_auth::credentials::EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}
