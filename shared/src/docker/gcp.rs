//! The Google login of the gcr and gar plugins (reference image-plugins §2.2, §6.3): which
//! registry and repository a run pushes to, and how the push login is obtained —
//!
//! - a service-account JSON key (raw or base64) → user `_json_key`, the key as the password;
//! - the key with `PLUGIN_WORKLOAD_IDENTITY` → an OAuth2 access token minted from it with the
//!   JWT-bearer grant at the key's own `token_uri` → user `oauth2accesstoken`;
//! - workload identity federation (the CI's OIDC token → STS token exchange → IAM
//!   `generateAccessToken`) → `oauth2accesstoken`;
//! - nothing given → the application default credentials: `GOOGLE_APPLICATION_CREDENTIALS`
//!   (service_account, authorized_user or external_account with a file source), gcloud's
//!   well-known file, else the metadata server → `oauth2accesstoken`.
//!
//! Everything is decided and validated in [`GcpFlow::prepare`] (no network); the token requests
//! happen in [`GcpFlow::before_build`]. google-cloud-auth is not used: it ignores a key's
//! `token_uri` and sends a self-signed JWT instead of the JWT-bearer grant (measured), which a
//! private or sovereign token endpoint would never see.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::Deserialize;
use tracing::{info, warn};

use super::auth::RegistryAuth;
use super::config::Config;
use super::flow::RegistryFlow;
use super::reference::{registry_host, split_host};
use super::settings::DockerSettings;
use crate::cli::BoxError;
use crate::secret::{self, Secret};
use crate::settings::{Env, SettingsError};

/// The one scope the registries need.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Where a key without `token_uri` (or an authorized_user file) gets its tokens.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The user name a registry expects with an OAuth2 access token.
const TOKEN_USER: &str = "oauth2accesstoken";
/// The user name a registry expects with a whole JSON key as the password.
const JSON_KEY_USER: &str = "_json_key";

const JSON_KEY_VARS: &[&str] = &[
    "PLUGIN_JSON_KEY",
    "GCR_JSON_KEY",
    "GOOGLE_CREDENTIALS",
    "TOKEN",
];
const WIF_VARS: [&str; 5] = [
    "PLUGIN_OIDC_TOKEN_ID",
    "PLUGIN_PROJECT_NUMBER",
    "PLUGIN_POOL_ID",
    "PLUGIN_PROVIDER_ID",
    "PLUGIN_SERVICE_ACCOUNT_EMAIL",
];
const REGISTRY_VARS: &[&str] = &["PLUGIN_REGISTRY", "DOCKER_REGISTRY"];

crate::settings! {
    /// The Google credential settings of plugins/gcr and plugins/gar.
    pub struct GcpSettings {
        /// Service-account JSON key, raw or base64. Alone it logs in as `_json_key` with the key as the password.
        json_key: Secret = "", from ["PLUGIN_JSON_KEY", "GCR_JSON_KEY", "GOOGLE_CREDENTIALS", "TOKEN"];
        /// Log in as `oauth2accesstoken` with an access token minted from `json_key` (at the key's `token_uri`), or, without a key, from the application default credentials (metadata server included).
        workload_identity: bool = "false", from ["PLUGIN_WORKLOAD_IDENTITY"];
        /// Workload identity federation: the CI run's OIDC ID token (with the next four settings; all five or none).
        oidc_token_id: Secret = "", from ["PLUGIN_OIDC_TOKEN_ID"];
        /// Workload identity federation: project number of the pool.
        project_number: String = "", from ["PLUGIN_PROJECT_NUMBER"];
        /// Workload identity federation: pool id.
        pool_id: String = "", from ["PLUGIN_POOL_ID"];
        /// Workload identity federation: provider id.
        provider_id: String = "", from ["PLUGIN_PROVIDER_ID"];
        /// Workload identity federation: the service account whose access token is generated.
        service_account_email: String = "", from ["PLUGIN_SERVICE_ACCOUNT_EMAIL"];
        /// Security Token Service base URL (`/v1/token` is appended), for private or sovereign endpoints.
        sts_endpoint: String = "https://sts.googleapis.com", from ["PLUGIN_STS_ENDPOINT"];
        /// IAM Service Account Credentials base URL (`/v1/projects/-/serviceAccounts/…:generateAccessToken` is appended), for private or sovereign endpoints.
        iam_endpoint: String = "https://iamcredentials.googleapis.com", from ["PLUGIN_IAM_ENDPOINT"];
        /// Application default credentials file (service_account, authorized_user, or external_account with a file source), used when no other credentials are given.
        application_credentials: String = "", from ["GOOGLE_APPLICATION_CREDENTIALS"];
        /// Metadata server `host[:port]`, the last source of the application default credentials.
        metadata_host: String = "metadata.google.internal", from ["GCE_METADATA_HOST"];
    }
}

crate::settings! {
    /// What plugins/gar adds.
    pub struct GarSettings {
        /// Artifact Registry location (`us`, `europe-west1`): the registry is `<location>-docker.pkg.dev` unless `registry` is set.
        location: String = "", from ["PLUGIN_LOCATION"];
    }
}

/// Which Google registry a plugin pushes to by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// Container Registry: `gcr.io`, artifact type `GCR`.
    Gcr,
    /// Artifact Registry: `<location>-docker.pkg.dev`, artifact type `GAR`.
    Gar,
}

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
    #[error("cannot reach {what} at {url}: {reason}")]
    Unreachable {
        /// Which endpoint.
        what: &'static str,
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
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
        "no Google credentials: set PLUGIN_JSON_KEY, the five workload identity federation settings (PLUGIN_OIDC_TOKEN_ID, PLUGIN_PROJECT_NUMBER, PLUGIN_POOL_ID, PLUGIN_PROVIDER_ID, PLUGIN_SERVICE_ACCOUNT_EMAIL) or GOOGLE_APPLICATION_CREDENTIALS; the metadata server at {host} did not answer: {reason}"
    )]
    NoCredentials {
        /// `GCE_METADATA_HOST`.
        host: String,
        /// Why.
        reason: String,
    },
    /// A local step (signing, reading the subject token file) failed.
    #[error("{0}")]
    Local(String),
}

/// The gcr / gar flow.
pub struct GcpFlow {
    registry: Registry,
    plan: Option<Plan>,
}

impl GcpFlow {
    /// A flow for `registry`'s defaults.
    pub fn new(registry: Registry) -> Self {
        GcpFlow {
            registry,
            plan: None,
        }
    }
}

/// How the push login is obtained, decided without I/O on the network.
enum Plan {
    /// `_json_key` with the key JSON as the password.
    JsonKey { key: Secret, var: &'static str },
    /// An access token from a credentials file (key, ADC file).
    Token {
        creds: Box<Creds>,
        source: &'static str,
    },
    /// Workload identity federation from the settings.
    Federation(Box<Federation>),
    /// The metadata server. `implicit`: nothing asked for Google credentials, so a login the
    /// docker settings already carry (`PLUGIN_CONFIG`) is kept.
    Metadata { host: String, implicit: bool },
    /// The docker settings' own login (`PLUGIN_PASSWORD`, `ACCESS_TOKEN`).
    Given,
}

/// A credentials JSON that mints access tokens.
enum Creds {
    ServiceAccount {
        email: String,
        key: jsonwebtoken::EncodingKey,
        key_id: Option<String>,
        token_uri: String,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: String,
    },
    External(Federation),
}

/// An STS token exchange, then optionally IAM `generateAccessToken`.
struct Federation {
    subject: Subject,
    subject_token_type: String,
    audience: String,
    token_url: String,
    /// `…:generateAccessToken` of the service account to impersonate.
    impersonation_url: Option<String>,
}

/// Where the subject token of a token exchange comes from.
enum Subject {
    Given(Secret),
    /// An external_account `credential_source.file`, read when the token is needed (the CI may
    /// refresh it); `field` is the JSON field holding the token when the file is JSON.
    File {
        path: PathBuf,
        field: Option<String>,
    },
}

/// The fields of the credential files we read (service_account, authorized_user,
/// external_account).
#[derive(Deserialize, Default)]
#[serde(default)]
struct CredFile {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    private_key_id: String,
    token_uri: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    audience: String,
    subject_token_type: String,
    token_url: String,
    service_account_impersonation_url: String,
    credential_source: Option<CredentialSource>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CredentialSource {
    file: String,
    url: String,
    executable: Option<serde_json::Value>,
    environment_id: String,
    format: Option<SourceFormat>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SourceFormat {
    #[serde(rename = "type")]
    kind: String,
    subject_token_field_name: String,
}

impl RegistryFlow for GcpFlow {
    fn login_label(&self) -> Option<String> {
        Some("the Google login (JSON key, access token, workload identity or ADC)".into())
    }

    fn prepare(&mut self, s: &mut DockerSettings, env: &Env) -> Result<(), SettingsError> {
        let g = GcpSettings::load(env)?;
        let location = match self.registry {
            Registry::Gar => GarSettings::load(env)?.location,
            Registry::Gcr => String::new(),
        };
        target(self.registry, s, env, location.trim())?;
        self.plan = Some(plan(&g, s, env)?);
        Ok(())
    }

    async fn before_build(&self, cfg: &mut Config) -> Result<bool, BoxError> {
        let Some(plan) = &self.plan else {
            return Err("the gcp flow was not prepared".into());
        };
        let host = cfg.repo.host.clone();
        let (user, password, source) = match plan {
            Plan::Given => {
                info!(
                    "login: {host} with the given registry login ({})",
                    cfg.credentials.push_source
                );
                return Ok(true);
            }
            Plan::JsonKey { key, var } => (JSON_KEY_USER, key.clone(), *var),
            Plan::Token { creds, source } => {
                (TOKEN_USER, creds_token(&http()?, creds).await?, *source)
            }
            Plan::Federation(f) => (
                TOKEN_USER,
                federated_token(&http()?, f).await?,
                "workload identity federation (PLUGIN_OIDC_TOKEN_ID)",
            ),
            Plan::Metadata { host: md, implicit } => {
                if *implicit && cfg.credentials.push.is_some() {
                    info!(
                        "login: {host} with the login of {} (no Google credentials given)",
                        cfg.credentials.push_source
                    );
                    return Ok(true);
                }
                (
                    TOKEN_USER,
                    metadata_token(md).await?,
                    "the metadata server (application default credentials)",
                )
            }
        };
        info!("login: {host} as {user} ({source})");
        cfg.credentials.push = Some(RegistryAuth::basic(&host, user, password));
        cfg.credentials.push_source = source;
        Ok(true)
    }
}

/// Registry host, repository and artifact type (reference §2.2, with the anchors' bugs §9.9,
/// §9.10 fixed: no `-docker.pkg.dev` from an empty location, `registryType` really set).
fn target(
    kind: Registry,
    s: &mut DockerSettings,
    env: &Env,
    location: &str,
) -> Result<(), SettingsError> {
    if !location.is_empty()
        && !location
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SettingsError::invalid(
            "PLUGIN_LOCATION",
            format!(
                "'{location}' is not a location (lower-case letters, digits and -, e.g. europe-west1)"
            ),
        ));
    }
    let repo = s.repo.trim().trim_start_matches('/').to_string();
    // A repository that already names a Google registry host (eu.gcr.io/p/app,
    // us-docker.pkg.dev/p/r/app) picks the registry when none is set; the anchor glued the
    // default in front of it instead.
    let repo_host = split_host(&repo)
        .0
        .filter(|h| is_google_registry(h))
        .map(str::to_string);
    let host = if let Some(r) = env.string(REGISTRY_VARS) {
        registry_host(&r)
    } else if let Some(h) = repo_host {
        h
    } else {
        match kind {
            Registry::Gcr => "gcr.io".to_string(),
            Registry::Gar if location.is_empty() => {
                return Err(SettingsError::Required {
                    var: "PLUGIN_LOCATION".into(),
                    hint: "the Artifact Registry host is <PLUGIN_LOCATION>-docker.pkg.dev (e.g. us, europe-west1); or set PLUGIN_REGISTRY".into(),
                });
            }
            Registry::Gar => format!("{location}-docker.pkg.dev"),
        }
    };
    if !repo.is_empty() && repo != host && !repo.starts_with(&format!("{host}/")) {
        s.repo = format!("{host}/{repo}");
    }
    s.registry = host;
    if env.string(&["PLUGIN_REGISTRY_TYPE"]).is_none() {
        s.registry_type = match kind {
            Registry::Gcr => "GCR",
            Registry::Gar => "GAR",
        }
        .into();
    }
    Ok(())
}

fn is_google_registry(host: &str) -> bool {
    host == "gcr.io" || host.ends_with(".gcr.io") || host.ends_with("-docker.pkg.dev")
}

/// Picks the login source and validates everything it needs.
fn plan(g: &GcpSettings, s: &DockerSettings, env: &Env) -> Result<Plan, SettingsError> {
    let key_var = env
        .first_set(JSON_KEY_VARS)
        .filter(|(_, v)| !v.trim().is_empty())
        .and_then(|(name, _)| JSON_KEY_VARS.iter().copied().find(|n| *n == name));
    let wif_given: Vec<&str> = WIF_VARS
        .iter()
        .copied()
        .filter(|v| env.string(&[v]).is_some())
        .collect();
    if !wif_given.is_empty() && wif_given.len() < WIF_VARS.len() {
        let missing: Vec<&str> = WIF_VARS
            .iter()
            .copied()
            .filter(|v| !wif_given.contains(v))
            .collect();
        return Err(SettingsError::Required {
            var: missing.join(", "),
            hint: format!(
                "workload identity federation needs all five of {}; given: {}",
                WIF_VARS.join(", "),
                wif_given.join(", ")
            ),
        });
    }
    let wif = !wif_given.is_empty();
    // Validated even when unused: a typo in a sovereign endpoint should not wait for the day
    // the flow changes.
    let sts = endpoint("PLUGIN_STS_ENDPOINT", &g.sts_endpoint)?;
    let iam = endpoint("PLUGIN_IAM_ENDPOINT", &g.iam_endpoint)?;
    if let Some(var) = key_var
        && wif
    {
        return Err(SettingsError::Conflict {
            first: var.into(),
            second: "PLUGIN_OIDC_TOKEN_ID".into(),
            reason: "give either a JSON key or workload identity federation".into(),
        });
    }
    // The anchor let PLUGIN_USERNAME/PLUGIN_PASSWORD silently replace the Google login (§9.8).
    let google = key_var.is_some() || wif || g.workload_identity;
    let user_var = if !s.password.is_empty() {
        Some("PLUGIN_PASSWORD")
    } else if !s.access_token.is_empty() {
        Some("ACCESS_TOKEN")
    } else {
        None
    };
    if google && let Some(user_var) = user_var {
        return Err(SettingsError::Conflict {
            first: key_var
                .unwrap_or(if wif {
                    "PLUGIN_OIDC_TOKEN_ID"
                } else {
                    "PLUGIN_WORKLOAD_IDENTITY"
                })
                .into(),
            second: user_var.into(),
            reason: "both give the push login".into(),
        });
    }

    if let Some(var) = key_var {
        let json = decode_key(var, &g.json_key)?;
        let file = parse_creds(var, json.expose())?;
        if g.workload_identity {
            let creds = creds(var, file)?;
            return Ok(Plan::Token {
                creds: Box::new(creds),
                source: "an access token minted from the JSON key (PLUGIN_WORKLOAD_IDENTITY)",
            });
        }
        if file.kind != "service_account" {
            return Err(SettingsError::invalid(
                var,
                format!(
                    "is a '{}' credentials file: the _json_key login needs a service_account key (set PLUGIN_WORKLOAD_IDENTITY=true to mint an access token from it)",
                    file.kind
                ),
            ));
        }
        // Checked here so a bad key fails now rather than as a registry 401.
        creds(var, file)?;
        return Ok(Plan::JsonKey { key: json, var });
    }
    if wif {
        let email = g.service_account_email.trim();
        check_id(
            "PLUGIN_PROJECT_NUMBER",
            &g.project_number,
            |b| b.is_ascii_digit(),
            "digits",
        )?;
        let id_chars = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        check_id(
            "PLUGIN_POOL_ID",
            &g.pool_id,
            id_chars,
            "lower-case letters, digits and -",
        )?;
        check_id(
            "PLUGIN_PROVIDER_ID",
            &g.provider_id,
            id_chars,
            "lower-case letters, digits and -",
        )?;
        if email.matches('@').count() != 1
            || !email
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'))
        {
            return Err(SettingsError::invalid(
                "PLUGIN_SERVICE_ACCOUNT_EMAIL",
                format!("'{email}' is not a service account e-mail"),
            ));
        }
        return Ok(Plan::Federation(Box::new(Federation {
            subject: Subject::Given(g.oidc_token_id.clone()),
            subject_token_type: ID_TOKEN_TYPE.into(),
            audience: format!(
                "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
                g.project_number.trim(),
                g.pool_id.trim(),
                g.provider_id.trim()
            ),
            token_url: join(&sts, "/v1/token"),
            impersonation_url: Some(join(
                &iam,
                &format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken"),
            )),
        })));
    }
    if user_var.is_some() {
        return Ok(Plan::Given);
    }
    // Application default credentials, in Google's order. The anchor's workload_identity
    // needed a key and never reached the metadata server (§9.11).
    if !g.application_credentials.trim().is_empty() {
        let var = "GOOGLE_APPLICATION_CREDENTIALS";
        let path = g.application_credentials.trim();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::invalid(var, format!("cannot read {path}: {e}")))?;
        let text = Secret::new(text);
        let file = parse_creds(var, text.expose())?;
        return Ok(Plan::Token {
            creds: Box::new(creds(var, file)?),
            source: "GOOGLE_APPLICATION_CREDENTIALS",
        });
    }
    if let Some(path) = gcloud_adc_file(env)
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        let var = "the gcloud application default credentials file";
        let text = Secret::new(text);
        let file = parse_creds(var, text.expose())?;
        return Ok(Plan::Token {
            creds: Box::new(creds(var, file)?),
            source: "the gcloud application default credentials file",
        });
    }
    let host = g.metadata_host.trim();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err(SettingsError::invalid(
            "GCE_METADATA_HOST",
            format!("'{host}' is not host[:port]"),
        ));
    }
    Ok(Plan::Metadata {
        host: host.to_string(),
        implicit: !g.workload_identity,
    })
}

/// `$CLOUDSDK_CONFIG/application_default_credentials.json`, else under `~/.config/gcloud`.
fn gcloud_adc_file(env: &Env) -> Option<PathBuf> {
    let dir = match env.string(&["CLOUDSDK_CONFIG"]) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env.string(&["HOME"])?).join(".config/gcloud"),
    };
    let path = dir.join("application_default_credentials.json");
    path.is_file().then_some(path)
}

fn check_id(var: &str, v: &str, ok: impl Fn(u8) -> bool, what: &str) -> Result<(), SettingsError> {
    let v = v.trim();
    if v.bytes().all(ok) {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            var,
            format!("'{v}' may only contain {what}"),
        ))
    }
}

/// The key as JSON: given raw, or standard / URL-safe base64 of it (line breaks allowed).
fn decode_key(var: &str, raw: &Secret) -> Result<Secret, SettingsError> {
    let text = raw.expose().trim();
    if text.starts_with('{') {
        return Ok(raw.clone());
    }
    let compact: String = text.split_whitespace().collect();
    let decoded = STANDARD
        .decode(&compact)
        .or_else(|_| URL_SAFE.decode(&compact))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.trim_start().starts_with('{'))
        .ok_or_else(|| {
            SettingsError::invalid(var, "is neither a JSON key nor the base64 of one")
        })?;
    Ok(Secret::new(decoded))
}

fn parse_creds(var: &str, json: &str) -> Result<CredFile, SettingsError> {
    // serde_json's message names a line and column, never the content.
    let file: CredFile = serde_json::from_str(json).map_err(|e| {
        SettingsError::invalid(var, format!("is not a valid credentials JSON: {e}"))
    })?;
    // The PEM has real line breaks only once decoded from JSON: mask it (and each of its
    // lines) in that form too.
    if !file.private_key.is_empty() {
        secret::register(&file.private_key);
    }
    for v in [&file.client_secret, &file.refresh_token] {
        secret::register(v);
    }
    Ok(file)
}

/// A credentials file that mints access tokens, validated.
fn creds(var: &'static str, f: CredFile) -> Result<Creds, SettingsError> {
    let need = |field: &str, v: &str| {
        if v.trim().is_empty() {
            Err(SettingsError::invalid(
                var,
                format!("the '{}' credentials have no {field}", f.kind),
            ))
        } else {
            Ok(())
        }
    };
    let uri = |field: &str, v: &str, default: &str| -> Result<String, SettingsError> {
        let v = if v.trim().is_empty() {
            default
        } else {
            v.trim()
        };
        endpoint(var, v)
            .map(|_| v.to_string())
            .map_err(|e| SettingsError::invalid(var, format!("{field}: {e}")))
    };
    match f.kind.as_str() {
        "service_account" => {
            need("client_email", &f.client_email)?;
            need("private_key", &f.private_key)?;
            // The error of jsonwebtoken says what is wrong with the PEM, not what it holds.
            let key =
                jsonwebtoken::EncodingKey::from_rsa_pem(f.private_key.as_bytes()).map_err(|e| {
                    SettingsError::invalid(
                        var,
                        format!("private_key is not an RSA private key in PEM: {e}"),
                    )
                })?;
            Ok(Creds::ServiceAccount {
                email: f.client_email.trim().to_string(),
                key,
                key_id: (!f.private_key_id.is_empty()).then(|| f.private_key_id.clone()),
                token_uri: uri("token_uri", &f.token_uri, DEFAULT_TOKEN_URI)?,
            })
        }
        "authorized_user" => {
            need("client_id", &f.client_id)?;
            need("client_secret", &f.client_secret)?;
            need("refresh_token", &f.refresh_token)?;
            Ok(Creds::AuthorizedUser {
                client_id: f.client_id.clone(),
                client_secret: Secret::new(f.client_secret.clone()),
                refresh_token: Secret::new(f.refresh_token.clone()),
                token_uri: uri("token_uri", &f.token_uri, DEFAULT_TOKEN_URI)?,
            })
        }
        "external_account" => {
            need("audience", &f.audience)?;
            need("subject_token_type", &f.subject_token_type)?;
            let src = f.credential_source.unwrap_or_default();
            if src.file.trim().is_empty() {
                let kind = if !src.url.is_empty() {
                    "url"
                } else if src.executable.is_some() {
                    "executable"
                } else if !src.environment_id.is_empty() {
                    "environment_id (AWS)"
                } else {
                    "none"
                };
                return Err(SettingsError::invalid(
                    var,
                    format!(
                        "external_account credential_source '{kind}' is not supported: use a file source"
                    ),
                ));
            }
            let field = match src.format {
                Some(fmt) if fmt.kind == "json" => {
                    if fmt.subject_token_field_name.is_empty() {
                        return Err(SettingsError::invalid(
                            var,
                            "credential_source.format json needs subject_token_field_name",
                        ));
                    }
                    Some(fmt.subject_token_field_name)
                }
                Some(fmt) if !fmt.kind.is_empty() && fmt.kind != "text" => {
                    return Err(SettingsError::invalid(
                        var,
                        format!(
                            "credential_source.format type '{}' is not text or json",
                            fmt.kind
                        ),
                    ));
                }
                _ => None,
            };
            let impersonation = if f.service_account_impersonation_url.trim().is_empty() {
                None
            } else {
                Some(uri(
                    "service_account_impersonation_url",
                    &f.service_account_impersonation_url,
                    "",
                )?)
            };
            Ok(Creds::External(Federation {
                subject: Subject::File {
                    path: PathBuf::from(src.file.trim()),
                    field,
                },
                subject_token_type: f.subject_token_type.clone(),
                audience: f.audience.clone(),
                token_url: uri(
                    "token_url",
                    &f.token_url,
                    "https://sts.googleapis.com/v1/token",
                )?,
                impersonation_url: impersonation,
            }))
        }
        "" => Err(SettingsError::invalid(
            var,
            "has no \"type\" (expected service_account, authorized_user or external_account)",
        )),
        other => Err(SettingsError::invalid(
            var,
            format!(
                "credentials of type '{other}' are not supported (service_account, authorized_user, external_account)"
            ),
        )),
    }
}

/// An endpoint URL: https, or plain http to a loopback address only (a local proxy), so a
/// credential never crosses a network in clear text.
fn endpoint(var: &str, raw: &str) -> Result<reqwest::Url, SettingsError> {
    let raw = raw.trim();
    let url = reqwest::Url::parse(raw)
        .map_err(|e| SettingsError::invalid(var, format!("'{raw}' is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if loopback => {}
        _ => {
            return Err(SettingsError::invalid(
                var,
                format!("'{raw}' must be an https:// URL (plain http only to a loopback address)"),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SettingsError::invalid(
            var,
            "must not carry a user or password",
        ));
    }
    Ok(url)
}

fn join(base: &reqwest::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

// ------------------------------------------------------------------------------- the wire

fn http() -> Result<reqwest::Client, GcpError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("longshore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| GcpError::Local(format!("cannot make the HTTP client: {e}")))
}

/// Sends a request (rebuilt per attempt), retrying 5xx / 429 and, when `retry_unreachable`,
/// connection failures and timeouts: 3 attempts, 0.5 s then 1 s apart. Returns the JSON body.
async fn send(
    what: &'static str,
    url: &str,
    retry_unreachable: bool,
    req: impl Fn() -> reqwest::RequestBuilder,
) -> Result<serde_json::Value, GcpError> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt == ATTEMPTS;
        let resp = match req().send().await {
            Ok(r) => r,
            Err(e) => {
                if retry_unreachable && !last && (e.is_connect() || e.is_timeout()) {
                    warn!("{what}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    continue;
                }
                return Err(GcpError::Unreachable {
                    what,
                    url: url.into(),
                    reason: crate::error::one_line(&e),
                });
            }
        };
        let status = resp.status();
        if (status.is_server_error() || status.as_u16() == 429) && !last {
            warn!("{what} answered HTTP {}; retrying", status.as_u16());
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            continue;
        }
        let body = resp.text().await.map_err(|e| GcpError::Unreachable {
            what,
            url: url.into(),
            reason: crate::error::one_line(&e),
        })?;
        if !status.is_success() {
            let mut body = body.split_whitespace().collect::<Vec<_>>().join(" ");
            if body.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|i| body.is_char_boundary(*i))
                    .unwrap_or(0);
                body.truncate(cut);
                body.push('…');
            }
            return Err(GcpError::Refused {
                what,
                url: url.into(),
                status: status.as_u16(),
                body,
            });
        }
        return serde_json::from_str(&body).map_err(|_| GcpError::BadAnswer {
            what,
            url: url.into(),
            field: "a JSON body",
        });
    }
}

fn field(
    v: &serde_json::Value,
    name: &'static str,
    what: &'static str,
    url: &str,
) -> Result<Secret, GcpError> {
    v.get(name)
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| GcpError::BadAnswer {
            what,
            url: url.into(),
            field: name,
        })
}

async fn creds_token(http: &reqwest::Client, c: &Creds) -> Result<Secret, GcpError> {
    match c {
        Creds::ServiceAccount {
            email,
            key,
            key_id,
            token_uri,
        } => {
            #[derive(serde::Serialize)]
            struct Claims<'a> {
                iss: &'a str,
                scope: &'a str,
                aud: &'a str,
                iat: u64,
                exp: u64,
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = key_id.clone();
            let claims = Claims {
                iss: email,
                scope: CLOUD_PLATFORM,
                aud: token_uri,
                iat: now,
                exp: now + 3600,
            };
            let assertion = jsonwebtoken::encode(&header, &claims, key)
                .map_err(|e| GcpError::Local(format!("cannot sign the token request: {e}")))?;
            let assertion = Secret::new(assertion);
            let what = "the OAuth2 token endpoint (the key's token_uri)";
            let v = send(what, token_uri, true, || {
                http.post(token_uri.as_str()).form(&[
                    ("grant_type", JWT_BEARER),
                    ("assertion", assertion.expose()),
                ])
            })
            .await?;
            field(&v, "access_token", what, token_uri)
        }
        Creds::AuthorizedUser {
            client_id,
            client_secret,
            refresh_token,
            token_uri,
        } => {
            let what = "the OAuth2 token endpoint (the file's token_uri)";
            let v = send(what, token_uri, true, || {
                http.post(token_uri.as_str()).form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                    ("refresh_token", refresh_token.expose()),
                ])
            })
            .await?;
            field(&v, "access_token", what, token_uri)
        }
        Creds::External(f) => federated_token(http, f).await,
    }
}

/// STS token exchange (RFC 8693 form, as Google's auth libraries send it), then IAM
/// `generateAccessToken` with the federated token when a service account is impersonated.
async fn federated_token(http: &reqwest::Client, f: &Federation) -> Result<Secret, GcpError> {
    let subject = match &f.subject {
        Subject::Given(s) => s.clone(),
        Subject::File { path, field } => read_subject(path, field.as_deref())?,
    };
    let what = "the Security Token Service";
    let url = f.token_url.as_str();
    let v = send(what, url, true, || {
        http.post(url).form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("audience", f.audience.as_str()),
            ("scope", CLOUD_PLATFORM),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", subject.expose()),
            ("subject_token_type", f.subject_token_type.as_str()),
        ])
    })
    .await?;
    let federated = field(&v, "access_token", what, url)?;
    let Some(url) = f.impersonation_url.as_deref() else {
        return Ok(federated);
    };
    let what = "IAM generateAccessToken";
    let body = serde_json::json!({ "scope": [CLOUD_PLATFORM] });
    let v = send(what, url, true, || {
        http.post(url).bearer_auth(federated.expose()).json(&body)
    })
    .await?;
    field(&v, "accessToken", what, url)
}

fn read_subject(path: &std::path::Path, field: Option<&str>) -> Result<Secret, GcpError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        GcpError::Local(format!(
            "cannot read the subject token file {}: {e}",
            path.display()
        ))
    })?;
    let token = match field {
        None => text.trim().to_string(),
        Some(name) => {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                GcpError::Local(format!(
                    "the subject token file {} is not JSON: {e}",
                    path.display()
                ))
            })?;
            v.get(name)
                .and_then(|t| t.as_str())
                .map(str::to_string)
                .unwrap_or_default()
        }
    };
    if token.is_empty() {
        return Err(GcpError::Local(format!(
            "the subject token file {} holds no token",
            path.display()
        )));
    }
    Ok(Secret::new(token))
}

/// The metadata server's token of the attached service account. Short timeouts and no proxy:
/// off Google Cloud nothing answers, and that must fail fast with a clear line.
async fn metadata_token(host: &str) -> Result<Secret, GcpError> {
    let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
    let http = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| GcpError::Local(format!("cannot make the HTTP client: {e}")))?;
    let what = "the metadata server";
    let v = match send(what, &url, false, || {
        http.get(&url).header("Metadata-Flavor", "Google")
    })
    .await
    {
        Ok(v) => v,
        Err(GcpError::Unreachable { reason, .. }) => {
            return Err(GcpError::NoCredentials {
                host: host.into(),
                reason,
            });
        }
        Err(e) => return Err(e),
    };
    field(&v, "access_token", what, &url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(env: &Env) -> DockerSettings {
        DockerSettings::load(env).unwrap()
    }

    fn prepared(kind: Registry, pairs: &[(&str, &str)]) -> Result<(DockerSettings, Plan), String> {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut s = docker(&env);
        let mut flow = GcpFlow::new(kind);
        flow.prepare(&mut s, &env).map_err(|e| e.to_string())?;
        Ok((s, flow.plan.unwrap()))
    }

    fn target_of(kind: Registry, pairs: &[(&str, &str)]) -> (String, String, String) {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut s = docker(&env);
        let loc = env.string(&["PLUGIN_LOCATION"]).unwrap_or_default();
        target(kind, &mut s, &env, &loc).unwrap();
        (s.registry, s.repo, s.registry_type)
    }

    #[test]
    fn gcr_defaults_to_gcr_io_and_prefixes_the_repo() {
        assert_eq!(
            target_of(Registry::Gcr, &[("PLUGIN_REPO", "proj/app")]),
            ("gcr.io".into(), "gcr.io/proj/app".into(), "GCR".into())
        );
        // Already prefixed: kept.
        assert_eq!(
            target_of(Registry::Gcr, &[("PLUGIN_REPO", "gcr.io/proj/app")]).1,
            "gcr.io/proj/app"
        );
        // A regional host in the repo picks the registry.
        assert_eq!(
            target_of(Registry::Gcr, &[("PLUGIN_REPO", "eu.gcr.io/proj/app")]).0,
            "eu.gcr.io"
        );
        // Domain-scoped projects stay a path under the registry, as in the anchor.
        assert_eq!(
            target_of(Registry::Gcr, &[("PLUGIN_REPO", "example.com/proj/app")]).1,
            "gcr.io/example.com/proj/app"
        );
    }

    #[test]
    fn gar_maps_the_location_and_an_explicit_registry_wins() {
        assert_eq!(
            target_of(
                Registry::Gar,
                &[
                    ("PLUGIN_REPO", "proj/repo/app"),
                    ("PLUGIN_LOCATION", "europe-west1")
                ]
            ),
            (
                "europe-west1-docker.pkg.dev".into(),
                "europe-west1-docker.pkg.dev/proj/repo/app".into(),
                "GAR".into()
            )
        );
        assert_eq!(
            target_of(
                Registry::Gar,
                &[
                    ("PLUGIN_REPO", "proj/repo/app"),
                    ("PLUGIN_LOCATION", "us"),
                    ("PLUGIN_REGISTRY", "https://127.0.0.1:5443/"),
                    ("PLUGIN_REGISTRY_TYPE", "Custom"),
                ]
            ),
            (
                "127.0.0.1:5443".into(),
                "127.0.0.1:5443/proj/repo/app".into(),
                "Custom".into()
            )
        );
        assert_eq!(
            target_of(
                Registry::Gar,
                &[("PLUGIN_REPO", "us-docker.pkg.dev/p/r/app")]
            )
            .0,
            "us-docker.pkg.dev"
        );
    }

    #[test]
    fn gar_without_location_or_registry_names_both() {
        let e = prepared(Registry::Gar, &[("PLUGIN_REPO", "p/r/app")])
            .err()
            .unwrap();
        assert!(
            e.contains("PLUGIN_LOCATION") && e.contains("PLUGIN_REGISTRY"),
            "{e}"
        );
        let e = prepared(
            Registry::Gar,
            &[
                ("PLUGIN_REPO", "p/r/app"),
                ("PLUGIN_LOCATION", "Europe West"),
            ],
        )
        .err()
        .unwrap();
        assert!(e.starts_with("PLUGIN_LOCATION:"), "{e}");
    }

    #[test]
    fn partial_federation_names_the_missing_settings() {
        let e = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_OIDC_TOKEN_ID", "eyJ.oidc.token"),
                ("PLUGIN_PROJECT_NUMBER", "123"),
                (
                    "PLUGIN_SERVICE_ACCOUNT_EMAIL",
                    "ci@p.iam.gserviceaccount.com",
                ),
            ],
        )
        .err()
        .unwrap();
        assert!(
            e.starts_with("PLUGIN_POOL_ID, PLUGIN_PROVIDER_ID is required"),
            "{e}"
        );
        assert!(!e.contains("eyJ.oidc.token"), "{e}");
    }

    #[test]
    fn federation_builds_the_documented_audience_and_urls() {
        let (_, plan) = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_OIDC_TOKEN_ID", "eyJ.oidc.token"),
                ("PLUGIN_PROJECT_NUMBER", "123456"),
                ("PLUGIN_POOL_ID", "ci-pool"),
                ("PLUGIN_PROVIDER_ID", "harness"),
                (
                    "PLUGIN_SERVICE_ACCOUNT_EMAIL",
                    "ci@p.iam.gserviceaccount.com",
                ),
                ("PLUGIN_STS_ENDPOINT", "https://sts.example.test/"),
            ],
        )
        .unwrap();
        let Plan::Federation(f) = plan else {
            panic!("not federation")
        };
        assert_eq!(
            f.audience,
            "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ci-pool/providers/harness"
        );
        assert_eq!(f.token_url, "https://sts.example.test/v1/token");
        assert_eq!(
            f.impersonation_url.as_deref(),
            Some(
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/ci@p.iam.gserviceaccount.com:generateAccessToken"
            )
        );
    }

    #[test]
    fn bad_keys_and_conflicts_fail_naming_the_variable() {
        let e = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("GOOGLE_CREDENTIALS", "not a key!"),
            ],
        )
        .err()
        .unwrap();
        assert!(e.starts_with("GOOGLE_CREDENTIALS:"), "{e}");
        let e = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_JSON_KEY", "{\"type\": 1"),
            ],
        )
        .err()
        .unwrap();
        assert!(
            e.starts_with("PLUGIN_JSON_KEY: is not a valid credentials JSON"),
            "{e}"
        );
        let e = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_JSON_KEY", "{\"type\":\"service_account\"}"),
                ("PLUGIN_PASSWORD", "pw-pw-pw"),
                ("PLUGIN_USERNAME", "u"),
            ],
        )
        .err()
        .unwrap();
        assert!(e.contains("PLUGIN_JSON_KEY and PLUGIN_PASSWORD"), "{e}");
        let e = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("PLUGIN_STS_ENDPOINT", "http://sts.example.test"),
            ],
        )
        .err()
        .unwrap();
        assert!(e.starts_with("PLUGIN_STS_ENDPOINT:"), "{e}");
    }

    #[test]
    fn nothing_given_uses_the_metadata_server_and_a_password_is_kept() {
        let (_, plan) = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("HOME", "/nonexistent"),
                ("GCE_METADATA_HOST", "127.0.0.1:9"),
            ],
        )
        .unwrap();
        assert!(
            matches!(plan, Plan::Metadata { ref host, implicit: true } if host == "127.0.0.1:9")
        );
        let (_, plan) = prepared(
            Registry::Gcr,
            &[
                ("PLUGIN_REPO", "p/app"),
                ("ACCESS_TOKEN", "ya29.given-token"),
            ],
        )
        .unwrap();
        assert!(matches!(plan, Plan::Given));
    }
}
