//! Google credentials shared by the gcr / gar logins and the gcs plugin: the credential JSON
//! files (service_account, authorized_user, external_account with a file source), their
//! validation (no network), and the token requests — the OAuth2 JWT-bearer grant at the key's
//! own `token_uri`, the refresh-token grant, the STS token exchange + IAM `generateAccessToken`
//! of workload identity federation, and the metadata server.
//!
//! google-cloud-auth is not used to mint tokens: it ignores a key's `token_uri` and sends a
//! self-signed JWT instead of the JWT-bearer grant (measured, cloud-crate-facts §4), which a
//! private or sovereign token endpoint would never see.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::Deserialize;

use crate::secret::{self, Secret};
use crate::settings::{Env, SettingsError};

mod error;
mod settings;

pub use error::GcpError;

pub(crate) use settings::DefaultCredentials;
pub use settings::GoogleSettings;

/// The one scope every token is asked for.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Where a key without `token_uri` (or an authorized_user file) gets its tokens.
pub(crate) const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A credentials JSON that mints access tokens.
pub(crate) enum Creds {
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
pub(crate) struct Federation {
    pub(crate) subject: Subject,
    pub(crate) subject_token_type: String,
    pub(crate) audience: String,
    pub(crate) token_url: String,
    /// `…:generateAccessToken` of the service account to impersonate.
    pub(crate) impersonation_url: Option<String>,
}

/// Where the subject token of a token exchange comes from.
pub(crate) enum Subject {
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
pub(crate) struct CredFile {
    #[serde(rename = "type")]
    pub(crate) kind: String,
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
pub(crate) struct CredentialSource {
    file: String,
    url: String,
    executable: Option<serde_json::Value>,
    environment_id: String,
    format: Option<SourceFormat>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SourceFormat {
    #[serde(rename = "type")]
    kind: String,
    subject_token_field_name: String,
}

/// `$CLOUDSDK_CONFIG/application_default_credentials.json`, else under `~/.config/gcloud`.
pub(crate) fn gcloud_adc_file(env: &Env) -> Option<PathBuf> {
    let dir = match env.string(&["CLOUDSDK_CONFIG"]) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env.string(&["HOME"])?).join(".config/gcloud"),
    };
    let path = dir.join("application_default_credentials.json");
    path.is_file().then_some(path)
}

/// The five settings of workload identity federation (OIDC token → STS → IAM credentials).
const WIF_VARS: [&str; 5] = [
    "PLUGIN_OIDC_TOKEN_ID",
    "PLUGIN_PROJECT_NUMBER",
    "PLUGIN_POOL_ID",
    "PLUGIN_PROVIDER_ID",
    "PLUGIN_SERVICE_ACCOUNT_EMAIL",
];

/// Whether workload identity federation is set up: all five of its settings, or none (then
/// `false`); some but not all is an error naming the missing ones.
pub(crate) fn workload_identity_given(env: &Env) -> Result<bool, SettingsError> {
    let given: Vec<&str> = WIF_VARS
        .iter()
        .copied()
        .filter(|v| env.string(&[v]).is_some())
        .collect();
    if !given.is_empty() && given.len() < WIF_VARS.len() {
        let missing: Vec<&str> = WIF_VARS
            .iter()
            .copied()
            .filter(|v| !given.contains(v))
            .collect();
        return Err(SettingsError::Required {
            var: missing.join(", "),
            hint: format!(
                "workload identity federation needs all five of {}; given: {}",
                WIF_VARS.join(", "),
                given.join(", ")
            ),
        });
    }
    Ok(!given.is_empty())
}

pub(crate) fn check_id(
    var: &str,
    v: &str,
    ok: impl Fn(u8) -> bool,
    what: &str,
) -> Result<(), SettingsError> {
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
pub(crate) fn decode_key(var: &str, raw: &Secret) -> Result<Secret, SettingsError> {
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

pub(crate) fn parse_creds(var: &str, json: &str) -> Result<CredFile, SettingsError> {
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
pub(crate) fn creds(var: &'static str, f: CredFile) -> Result<Creds, SettingsError> {
    match f.kind.as_str() {
        "service_account" => service_account(var, &f),
        "authorized_user" => authorized_user(var, &f),
        "external_account" => external_account(var, f),
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

/// A field the credentials of `kind` must have.
fn need(var: &'static str, kind: &str, field: &str, v: &str) -> Result<(), SettingsError> {
    if v.trim().is_empty() {
        Err(SettingsError::invalid(
            var,
            format!("the '{kind}' credentials have no {field}"),
        ))
    } else {
        Ok(())
    }
}

/// An endpoint field of the credentials (`default` when empty), checked by [`endpoint`].
fn uri(var: &'static str, field: &str, v: &str, default: &str) -> Result<String, SettingsError> {
    let v = if v.trim().is_empty() {
        default
    } else {
        v.trim()
    };
    endpoint(var, v)
        .map(|_| v.to_string())
        .map_err(|e| SettingsError::invalid(var, format!("{field}: {e}")))
}

/// A service account key: its email and RSA key sign the token request.
fn service_account(var: &'static str, f: &CredFile) -> Result<Creds, SettingsError> {
    need(var, &f.kind, "client_email", &f.client_email)?;
    need(var, &f.kind, "private_key", &f.private_key)?;
    // The error of jsonwebtoken says what is wrong with the PEM, not what it holds.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(f.private_key.as_bytes()).map_err(|e| {
        SettingsError::invalid(
            var,
            format!("private_key is not an RSA private key in PEM: {e}"),
        )
    })?;
    Ok(Creds::ServiceAccount {
        email: f.client_email.trim().to_string(),
        key,
        key_id: (!f.private_key_id.is_empty()).then(|| f.private_key_id.clone()),
        token_uri: uri(var, "token_uri", &f.token_uri, DEFAULT_TOKEN_URI)?,
    })
}

/// A user's refresh token (`gcloud auth application-default login`).
fn authorized_user(var: &'static str, f: &CredFile) -> Result<Creds, SettingsError> {
    need(var, &f.kind, "client_id", &f.client_id)?;
    need(var, &f.kind, "client_secret", &f.client_secret)?;
    need(var, &f.kind, "refresh_token", &f.refresh_token)?;
    Ok(Creds::AuthorizedUser {
        client_id: f.client_id.clone(),
        client_secret: Secret::new(f.client_secret.clone()),
        refresh_token: Secret::new(f.refresh_token.clone()),
        token_uri: uri(var, "token_uri", &f.token_uri, DEFAULT_TOKEN_URI)?,
    })
}

/// Workload identity federation from a credentials file: only a file subject token source.
fn external_account(var: &'static str, f: CredFile) -> Result<Creds, SettingsError> {
    need(var, &f.kind, "audience", &f.audience)?;
    need(var, &f.kind, "subject_token_type", &f.subject_token_type)?;
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
            var,
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
            var,
            "token_url",
            &f.token_url,
            "https://sts.googleapis.com/v1/token",
        )?,
        impersonation_url: impersonation,
    }))
}

/// An endpoint URL: https, or plain http to a loopback address only (a local proxy), so a
/// credential never crosses a network in clear text.
pub(crate) fn endpoint(var: &str, raw: &str) -> Result<reqwest::Url, SettingsError> {
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

pub(crate) fn join(base: &reqwest::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

// ------------------------------------------------------------------------------- the wire

/// The client of the token calls (OAuth2, STS, IAM): the trust of [`crate::tls`], so a token
/// endpoint behind a private CA or an intercepting proxy works with `SSL_CERT_FILE` or
/// `HARNESS_CA_PATH` (it used to know only the built-in Mozilla roots).
pub(crate) fn http() -> Result<reqwest::Client, GcpError> {
    crate::tls::reqwest_builder(None)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("longshore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| GcpError::Local(format!("cannot make the HTTP client: {e}")))
}

/// Sends a request (rebuilt per attempt) under the one retry policy, retrying 408 / 429 / 5xx
/// and, when `retry_unreachable`, connection failures, resets, cut answers and timeouts. A
/// 4xx is final at once: a refused credential does not get better by asking again. Returns the
/// JSON body.
pub(crate) async fn send(
    what: &'static str,
    url: &str,
    retry_unreachable: bool,
    req: impl Fn() -> reqwest::RequestBuilder,
) -> Result<serde_json::Value, GcpError> {
    let unreachable = |source: reqwest::Error| GcpError::Unreachable {
        what,
        url: url.into(),
        source,
    };
    let mut tries = crate::retry::policy().start();
    loop {
        let resp = match req().send().await {
            Ok(r) => r,
            // A token request carries no state: resending it after a reset is safe.
            Err(e) if retry_unreachable && crate::retry::transient_transport(&e) => {
                if tries.pause(what, &crate::error::one_line(&e), None).await {
                    continue;
                }
                return Err(unreachable(e));
            }
            Err(e) => return Err(unreachable(e)),
        };
        let status = resp.status();
        let after = crate::retry::retry_after(resp.headers());
        if crate::retry::transient_status(status.as_u16())
            && tries
                .pause(what, &format!("HTTP {}", status.as_u16()), after)
                .await
        {
            continue;
        }
        // A token answer is a few hundred bytes: anything past a MiB is not one.
        let body = match crate::http_body::read_capped(resp, 1 << 20).await {
            Ok((b, _)) => String::from_utf8_lossy(&b).into_owned(),
            // An answer cut short: ask again.
            Err(e)
                if retry_unreachable
                    && tries.pause(what, &crate::error::one_line(&e), None).await =>
            {
                continue;
            }
            Err(e) => return Err(unreachable(e)),
        };
        if !status.is_success() {
            return Err(GcpError::Refused {
                what,
                url: url.into(),
                status: status.as_u16(),
                body: crate::retry::server_message(&body),
            });
        }
        return serde_json::from_str(&body).map_err(|_| GcpError::BadAnswer {
            what,
            url: url.into(),
            field: "a JSON body",
        });
    }
}

pub(crate) fn field(
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

#[cfg(feature = "gcp")]
/// A token request's answer as the registry logins use it: the token alone.
pub(crate) async fn creds_token(http: &reqwest::Client, c: &Creds) -> Result<Secret, GcpError> {
    creds_access_token(http, c).await.map(|t| t.token)
}

/// An access token and how long it is good for, as the token endpoint said.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) token: Secret,
    /// `expires_in` (OAuth2, STS, metadata) or `expireTime` (IAM), when given. Only the gcs
    /// plugin refreshes tokens; a registry login uses one at once.
    #[cfg_attr(not(feature = "gcs"), allow(dead_code))]
    pub(crate) lifetime: Option<Duration>,
}

/// The access token in `v[name]` with its lifetime.
fn token(
    v: &serde_json::Value,
    name: &'static str,
    what: &'static str,
    url: &str,
) -> Result<AccessToken, GcpError> {
    let token = field(v, name, what, url)?;
    let lifetime = match (v.get("expires_in"), v.get("expireTime")) {
        (Some(n), _) => n
            .as_u64()
            .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            .map(Duration::from_secs),
        (None, Some(t)) => t
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| {
                (t.with_timezone(&chrono::Utc) - chrono::Utc::now())
                    .to_std()
                    .ok()
            }),
        _ => None,
    };
    Ok(AccessToken { token, lifetime })
}

/// A token from a credentials JSON (key, authorized user, external account).
pub(crate) async fn creds_access_token(
    http: &reqwest::Client,
    c: &Creds,
) -> Result<AccessToken, GcpError> {
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
            token(&v, "access_token", what, token_uri)
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
            token(&v, "access_token", what, token_uri)
        }
        Creds::External(f) => federated_access_token(http, f).await,
    }
}

#[cfg(feature = "gcp")]
/// STS token exchange (RFC 8693 form, as Google's auth libraries send it), then IAM
/// `generateAccessToken` with the federated token when a service account is impersonated.
pub(crate) async fn federated_token(
    http: &reqwest::Client,
    f: &Federation,
) -> Result<Secret, GcpError> {
    federated_access_token(http, f).await.map(|t| t.token)
}

/// [`federated_token`] with the token's lifetime.
pub(crate) async fn federated_access_token(
    http: &reqwest::Client,
    f: &Federation,
) -> Result<AccessToken, GcpError> {
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
        return Ok(AccessToken {
            token: federated,
            lifetime: v
                .get("expires_in")
                .and_then(|n| n.as_u64())
                .map(Duration::from_secs),
        });
    };
    let what = "IAM generateAccessToken";
    let body = serde_json::json!({ "scope": [CLOUD_PLATFORM] });
    let v = send(what, url, true, || {
        http.post(url).bearer_auth(federated.expose()).json(&body)
    })
    .await?;
    token(&v, "accessToken", what, url)
}

pub(crate) fn read_subject(
    path: &std::path::Path,
    field: Option<&str>,
) -> Result<Secret, GcpError> {
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

#[cfg(feature = "gcp")]
/// The metadata server's token of the attached service account. Short timeouts and no proxy:
/// off Google Cloud nothing answers, and that must fail fast with a clear line.
pub(crate) async fn metadata_token(host: &str) -> Result<Secret, GcpError> {
    metadata_access_token(host).await.map(|t| t.token)
}

/// [`metadata_token`] with the token's lifetime.
pub(crate) async fn metadata_access_token(host: &str) -> Result<AccessToken, GcpError> {
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
        Err(GcpError::Unreachable { source, .. }) => {
            return Err(GcpError::NoCredentials {
                host: host.into(),
                source,
            });
        }
        Err(e) => return Err(e),
    };
    token(&v, "access_token", what, &url)
}
