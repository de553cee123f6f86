//! The ACR credential flow of `longshore-acr` (a drop-in for plugins/acr, reference image-plugins
//! §2.2 and §6.4): the ACR settings, their validation (all before any network call), the Azure AD
//! token (client secret, certificate, federated OIDC token or managed identity, through
//! azure_identity), its exchange for an ACR refresh token at `https://<registry>/oauth2/exchange`,
//! and the push login `00000000-0000-0000-0000-000000000000` / refresh token. A service principal
//! given as `SERVICE_PRINCIPAL_CLIENT_ID/SECRET` logs in directly, with no exchange.
//!
//! TLS of the Azure calls is azure_core's reqwest with the platform verifier: the system trust
//! store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` for a private cloud's CA; with `HARNESS_CA_PATH`,
//! a client of ours with its CAs added (`transport`).

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, rand::SystemRandom, signature};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientMethodOptions, ClientOptions, Method, Request, Url};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tracing::info;

use super::flow::RegistryFlow;
use crate::docker::config::Config;
use crate::docker::settings::DockerSettings;
use crate::registry::auth::RegistryAuth;
use crate::secret::Secret;
use crate::settings::{Env, SettingsError};

crate::settings! {
    /// What plugins/acr reads on top of the docker settings, one field per setting.
    pub struct AcrSettings {
        /// Service principal application id used directly as the registry user (no token exchange; with `SERVICE_PRINCIPAL_CLIENT_SECRET`).
        sp_client_id: String = "", from ["SERVICE_PRINCIPAL_CLIENT_ID"];
        /// Service principal secret used directly as the registry password.
        sp_client_secret: Secret = "", from ["SERVICE_PRINCIPAL_CLIENT_SECRET"];
        /// Application (client) id of the service principal, or of a user-assigned managed identity when no secret, certificate or OIDC token is given.
        client_id: String = "", from ["CLIENT_ID", "AZURE_CLIENT_ID", "AZURE_APP_ID", "PLUGIN_CLIENT_ID"];
        /// Client secret of the service principal.
        client_secret: Secret = "", from ["CLIENT_SECRET", "PLUGIN_CLIENT_SECRET"];
        /// Client certificate of the service principal: base64 of a PEM file holding the certificate and its RSA private key (PKCS#8 or PKCS#1). Raw PEM is accepted too.
        client_certificate: Secret = "", from ["CLIENT_CERTIFICATE", "PLUGIN_CLIENT_CERTIFICATE"];
        /// Azure AD tenant (directory) id; needed with a secret, certificate or OIDC token, and sent with the token exchange.
        tenant_id: String = "", from ["TENANT_ID", "AZURE_TENANT_ID", "PLUGIN_TENANT_ID"];
        /// OIDC token of the CI run, used as a federated client assertion for the service principal (workload identity federation).
        oidc_token: Secret = "", from ["PLUGIN_OIDC_TOKEN_ID"];
        /// Azure AD authority (`https://login.microsoftonline.us`, `https://login.chinacloudapi.cn`, or a private cloud's). Must be https.
        authority_host: String = "https://login.microsoftonline.com", from ["AZURE_AUTHORITY_HOST", "PLUGIN_AZURE_AUTHORITY_HOST"];
        /// Accepted for compatibility and not used: plugins/acr used it only for an Azure portal link that no later step read.
        subscription_id: String = "", from ["SUBSCRIPTION_ID", "PLUGIN_SUBSCRIPTION_ID"];
    }
}

/// The user name of an ACR refresh-token login (ACR's documented fixed value).
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

/// The Azure AD scope the token is requested for: ARM, which the ACR exchange accepts.
const SCOPE: &str = "https://management.azure.com/.default";

/// Time allowed for each Azure call (token, exchange): the one policy's total time (30 s by
/// default, as the anchor's), plus a little for the last attempt to answer.
fn timeout() -> Duration {
    crate::retry::policy().max_time + Duration::from_secs(5)
}

/// How long a certificate assertion is valid (Azure AD accepts up to 10 minutes).
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// The ACR registry plugin's flow.
#[derive(Debug, Default)]
pub struct AcrFlow {
    plan: Option<Plan>,
}

#[derive(Debug)]
struct Plan {
    /// The registry host (`myregistry.azurecr.io`), no scheme.
    host: String,
    tenant: Option<String>,
    authority: Url,
    login: Login,
}

#[derive(Debug)]
enum Login {
    /// `SERVICE_PRINCIPAL_CLIENT_ID/SECRET` as docker user/password.
    Direct {
        user: String,
        password: Secret,
    },
    /// `PLUGIN_USERNAME/PLUGIN_PASSWORD`, `PLUGIN_CONFIG` or `ACCESS_TOKEN`: the docker settings'
    /// own login, kept as it is.
    Explicit,
    Secret {
        client_id: String,
        secret: Secret,
    },
    Certificate {
        client_id: String,
        cert: Arc<CertKey>,
    },
    Federated {
        client_id: String,
        token: Secret,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl Login {
    fn describe(&self) -> &'static str {
        match self {
            Login::Direct { .. } => "SERVICE_PRINCIPAL_CLIENT_ID/SECRET (direct login)",
            Login::Explicit => "the docker login settings",
            Login::Secret { .. } => "Azure AD client secret + ACR token exchange",
            Login::Certificate { .. } => "Azure AD client certificate + ACR token exchange",
            Login::Federated { .. } => "Azure AD federated OIDC token + ACR token exchange",
            Login::ManagedIdentity { .. } => "Azure managed identity + ACR token exchange",
        }
    }
}

impl RegistryFlow for AcrFlow {
    type Error = AcrError;

    fn login_label(&self) -> Option<String> {
        Some("the ACR login (Azure AD token exchanged for an ACR refresh token, or the service principal)".into())
    }

    fn prepare(&mut self, s: &mut DockerSettings, env: &Env) -> Result<(), SettingsError> {
        let a = AcrSettings::load(env)?;
        // Required: the anchor's `azurecr.io` default can never be a registry.
        let Some(registry) = env.string(&["PLUGIN_REGISTRY", "DOCKER_REGISTRY"]) else {
            return Err(SettingsError::Required {
                var: "PLUGIN_REGISTRY".into(),
                hint: "the registry host, e.g. myregistry.azurecr.io".into(),
            });
        };
        let host = registry_host(&registry)?;
        s.registry = host.clone();
        if !s.repo.is_empty() && !s.repo.starts_with(&format!("{host}/")) {
            s.repo = format!("{host}/{}", s.repo.trim_start_matches('/'));
        }
        if !s.set_by.is_set("registry_type") || s.registry_type.is_empty() {
            s.registry_type = "ACR".into();
        }
        let authority = authority(&a.authority_host, env)?;
        let tenant = (!a.tenant_id.is_empty())
            .then(|| tenant_id(&a.tenant_id, env))
            .transpose()?;
        let login = login(&a, s, env, tenant.as_deref())?;
        if !a.subscription_id.is_empty() {
            info!("acr: SUBSCRIPTION_ID is not used (it only served a portal link)");
        }
        self.plan = Some(Plan {
            host,
            tenant,
            authority,
            login,
        });
        Ok(())
    }

    async fn before_build(&self, cfg: &mut Config) -> Result<bool, AcrError> {
        let Some(plan) = &self.plan else {
            return Err(AcrError::Internal("the flow was not prepared"));
        };
        info!(
            "acr: logging in to {} with {}",
            plan.host,
            plan.login.describe()
        );
        let (user, password, source) = match &plan.login {
            Login::Explicit => return Ok(true),
            Login::Direct { user, password } => (
                user.clone(),
                password.clone(),
                "SERVICE_PRINCIPAL_CLIENT_ID/SERVICE_PRINCIPAL_CLIENT_SECRET",
            ),
            login => {
                let aad = aad_token(plan, login).await?;
                let refresh = exchange(&plan.host, plan.tenant.as_deref(), &aad).await?;
                (
                    REFRESH_TOKEN_USER.to_string(),
                    refresh,
                    "ACR refresh token (Azure AD token exchange)",
                )
            }
        };
        info!("acr: logged in to {} as {user} ({source})", plan.host);
        cfg.credentials.push = Some(RegistryAuth::basic(&plan.host, &user, password));
        cfg.credentials.push_source = source;
        Ok(true)
    }
}

/// `PLUGIN_REGISTRY` as a bare host (`name.azurecr.io`), scheme and trailing slash dropped.
fn registry_host(raw: &str) -> Result<String, SettingsError> {
    let r = raw.trim();
    let r = r
        .strip_prefix("https://")
        .unwrap_or(r)
        .trim_end_matches('/');
    if r.starts_with("http://") {
        return Err(SettingsError::invalid(
            "PLUGIN_REGISTRY",
            "ACR is reached over https only; give the host, e.g. myregistry.azurecr.io",
        ));
    }
    if r.is_empty()
        || r.contains(['/', '?', '#', '@', ' '])
        || Url::parse(&format!("https://{r}/")).map_or(true, |u| u.host_str().is_none())
    {
        return Err(SettingsError::invalid(
            "PLUGIN_REGISTRY",
            format!("'{raw}' is not a registry host (expected e.g. myregistry.azurecr.io)"),
        ));
    }
    Ok(r.to_ascii_lowercase())
}

/// The authority host as an https URL (azure_identity refuses anything else, later and less
/// clearly).
fn authority(raw: &str, env: &Env) -> Result<Url, SettingsError> {
    let var = env
        .first_set(&["AZURE_AUTHORITY_HOST", "PLUGIN_AZURE_AUTHORITY_HOST"])
        .map_or("AZURE_AUTHORITY_HOST", |(n, _)| n);
    let url = Url::parse(raw.trim())
        .map_err(|e| SettingsError::invalid(var, format!("'{raw}' is not a URL: {e}")))?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(SettingsError::invalid(
            var,
            format!("'{raw}' must be an https URL, e.g. https://login.microsoftonline.us"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
        return Err(SettingsError::invalid(
            var,
            format!("'{raw}' must be the authority host alone, without a path or query"),
        ));
    }
    Ok(url)
}

/// A tenant id as Azure AD accepts it in a URL path: letters, digits, `-` and `.`.
fn tenant_id(raw: &str, env: &Env) -> Result<String, SettingsError> {
    let var = env
        .first_set(&["TENANT_ID", "AZURE_TENANT_ID", "PLUGIN_TENANT_ID"])
        .map_or("PLUGIN_TENANT_ID", |(n, _)| n);
    if raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(raw.to_string())
    } else {
        Err(SettingsError::invalid(
            var,
            format!("'{raw}' is not a tenant id (a GUID or a domain like contoso.onmicrosoft.com)"),
        ))
    }
}

/// Which login the settings ask for; conflicting or incomplete ones are errors.
fn login(
    a: &AcrSettings,
    s: &DockerSettings,
    env: &Env,
    tenant: Option<&str>,
) -> Result<Login, SettingsError> {
    // Which docker-level login is set, if any (the anchor let it silently override the ACR one).
    let explicit = [
        (!s.password.is_empty(), "PLUGIN_PASSWORD"),
        (!s.config.is_empty(), "PLUGIN_CONFIG"),
        (!s.access_token.is_empty(), "ACCESS_TOKEN"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name));
    let given = azure_credentials(a, env, explicit)?;
    if !a.sp_client_id.is_empty() || !a.sp_client_secret.is_empty() {
        return direct_login(a);
    }
    if explicit.is_some() {
        return Ok(Login::Explicit);
    }
    match given.first() {
        None => Ok(Login::ManagedIdentity {
            client_id: (!a.client_id.is_empty()).then(|| a.client_id.clone()),
        }),
        Some(first) => service_principal(a, env, tenant, first),
    }
}

/// The Azure credential settings given (at most one kind, and not beside a docker login).
fn azure_credentials(
    a: &AcrSettings,
    env: &Env,
    explicit: Option<&'static str>,
) -> Result<Vec<&'static str>, SettingsError> {
    let mut given: Vec<&'static str> = Vec::new();
    if !a.sp_client_id.is_empty() || !a.sp_client_secret.is_empty() {
        given.push("SERVICE_PRINCIPAL_CLIENT_ID");
    }
    if !a.client_secret.is_empty() {
        given.push(first_name(env, &["CLIENT_SECRET", "PLUGIN_CLIENT_SECRET"]));
    }
    if !a.client_certificate.is_empty() {
        given.push(first_name(
            env,
            &["CLIENT_CERTIFICATE", "PLUGIN_CLIENT_CERTIFICATE"],
        ));
    }
    if !a.oidc_token.is_empty() {
        given.push("PLUGIN_OIDC_TOKEN_ID");
    }
    if given.len() > 1 {
        return Err(SettingsError::Conflict {
            first: given[0].into(),
            second: given[1].into(),
            reason: "give one way to authenticate to Azure".into(),
        });
    }
    if let (Some(first), Some(other)) = (given.first(), explicit) {
        return Err(SettingsError::Conflict {
            first: (*first).into(),
            second: other.into(),
            reason: "the registry login would be ambiguous: give either the Azure credentials or the docker login".into(),
        });
    }
    Ok(given)
}

/// `SERVICE_PRINCIPAL_CLIENT_ID/SECRET` as the registry login, both needed.
fn direct_login(a: &AcrSettings) -> Result<Login, SettingsError> {
    if a.sp_client_id.is_empty() {
        return Err(SettingsError::Required {
            var: "SERVICE_PRINCIPAL_CLIENT_ID".into(),
            hint: "SERVICE_PRINCIPAL_CLIENT_SECRET is set, so the service principal's application id is needed too".into(),
        });
    }
    if a.sp_client_secret.is_empty() {
        return Err(SettingsError::Required {
            var: "SERVICE_PRINCIPAL_CLIENT_SECRET".into(),
            hint: "SERVICE_PRINCIPAL_CLIENT_ID is set, so its secret is needed too".into(),
        });
    }
    Ok(Login::Direct {
        user: a.sp_client_id.clone(),
        password: a.sp_client_secret.clone(),
    })
}

/// A service-principal flow (secret, certificate or federated token, named by `given`): client
/// id and tenant are both needed.
fn service_principal(
    a: &AcrSettings,
    env: &Env,
    tenant: Option<&str>,
    given: &'static str,
) -> Result<Login, SettingsError> {
    if a.client_id.is_empty() {
        return Err(SettingsError::Required {
            var: "PLUGIN_CLIENT_ID".into(),
            hint: format!(
                "{given} needs the service principal's application id (CLIENT_ID, AZURE_CLIENT_ID, AZURE_APP_ID or PLUGIN_CLIENT_ID)"
            ),
        });
    }
    if tenant.is_none() {
        return Err(SettingsError::Required {
            var: "PLUGIN_TENANT_ID".into(),
            hint: format!(
                "{given} needs the Azure AD tenant id (TENANT_ID, AZURE_TENANT_ID or PLUGIN_TENANT_ID)"
            ),
        });
    }
    let client_id = a.client_id.clone();
    if client_id.contains(char::is_whitespace) {
        let client_id_var = env
            .first_set(&[
                "CLIENT_ID",
                "AZURE_CLIENT_ID",
                "AZURE_APP_ID",
                "PLUGIN_CLIENT_ID",
            ])
            .map_or("PLUGIN_CLIENT_ID", |(n, _)| n);
        return Err(SettingsError::invalid(
            client_id_var,
            "an application id has no spaces",
        ));
    }
    Ok(if !a.client_secret.is_empty() {
        Login::Secret {
            client_id,
            secret: a.client_secret.clone(),
        }
    } else if !a.client_certificate.is_empty() {
        let cert = CertKey::parse(a.client_certificate.expose())
            .map_err(|reason| SettingsError::invalid(given, reason))?;
        Login::Certificate {
            client_id,
            cert: Arc::new(cert),
        }
    } else {
        Login::Federated {
            client_id,
            token: a.oidc_token.clone(),
        }
    })
}

fn first_name(env: &Env, names: &[&'static str]) -> &'static str {
    names
        .iter()
        .find(|n| env.is_set(&[n]))
        .copied()
        .unwrap_or(names[0])
}

/// The Azure AD access token for [`SCOPE`], registered as a secret.
async fn aad_token(plan: &Plan, login: &Login) -> Result<Secret, AcrError> {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = plan.authority.as_str().trim_end_matches('/').to_string();
    let client_options = ClientOptions {
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        retry: crate::retry::azure_retry_options(&crate::retry::policy()),
        transport: transport()?,
        ..Default::default()
    };
    let tenant = plan.tenant.clone().unwrap_or_default();
    let credential: Arc<dyn TokenCredential> = match login {
        Login::Secret { client_id, secret } => ClientSecretCredential::new(
            &tenant,
            client_id.clone(),
            secret.expose().to_string().into(),
            Some(ClientSecretCredentialOptions { client_options }),
        )?,
        Login::Certificate { client_id, cert } => {
            let audience = token_endpoint(&plan.authority, &tenant)?;
            let assertion = CertAssertion {
                client_id: client_id.clone(),
                audience,
                cert: cert.clone(),
            };
            ClientAssertionCredential::new(
                tenant.clone(),
                client_id.clone(),
                assertion,
                Some(ClientAssertionCredentialOptions { client_options }),
            )?
        }
        Login::Federated { client_id, token } => ClientAssertionCredential::new(
            tenant.clone(),
            client_id.clone(),
            FederatedToken(token.clone()),
            Some(ClientAssertionCredentialOptions { client_options }),
        )?,
        Login::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options,
            }))?
        }
        Login::Direct { .. } | Login::Explicit => {
            return Err(AcrError::Internal(
                "no Azure AD token is needed for this login",
            ));
        }
    };
    let token = tokio::time::timeout(timeout(), credential.get_token(&[SCOPE], None))
        .await
        .map_err(|_| AcrError::TokenTimeout(timeout().as_secs()))?
        .map_err(|e| AcrError::Token {
            login: login.describe(),
            message: one_line(&e.to_string()),
        })?;
    Ok(Secret::new(token.token.secret()))
}

/// The Azure pipeline's HTTP client when `HARNESS_CA_PATH` is set: azure_core's own (reqwest
/// 0.13 with the platform verifier, the same timeouts, no redirects) with the Harness CAs added
/// to the system roots. Without it, `None`: the SDK's default client.
fn transport() -> Result<Option<azure_core::http::Transport>, AcrError> {
    let Some(ca) = crate::tls::harness_ca() else {
        return Ok(None);
    };
    let mut b = reqwest13::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest13::redirect::Policy::none());
    for der in ca.ders() {
        b = b.add_root_certificate(reqwest13::Certificate::from_der(der)?);
    }
    let client: Arc<dyn azure_core::http::HttpClient> = Arc::new(b.build()?);
    Ok(Some(azure_core::http::Transport::new(client)))
}

fn token_endpoint(authority: &Url, tenant: &str) -> Result<String, AcrError> {
    Ok(authority
        .join(&format!("/{tenant}/oauth2/v2.0/token"))?
        .to_string())
}

/// Exchanges the Azure AD token for an ACR refresh token (ACR's documented
/// `POST /oauth2/exchange`, grant `access_token`).
async fn exchange(host: &str, tenant: Option<&str>, aad: &Secret) -> Result<Secret, AcrError> {
    let url = Url::parse(&format!("https://{host}/oauth2/exchange"))?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "access_token")
        .append_pair("service", host);
    if let Some(t) = tenant {
        form.append_pair("tenant", t);
    }
    form.append_pair("access_token", aad.expose());
    let mut req = Request::new(url, Method::Post);
    req.insert_header("content-type", "application/x-www-form-urlencoded");
    req.insert_header("accept", "application/json");
    req.set_body(form.finish());
    // The SDK's pipeline, for its retry policy (exponential with jitter; 408 / 429 / 5xx and
    // connection failures, never another 4xx) — the same one the Azure AD requests above go
    // through. Bounded so the whole exchange fits in [`timeout`].
    let pipeline = azure_core::http::Pipeline::new(
        option_env!("CARGO_PKG_NAME"),
        option_env!("CARGO_PKG_VERSION"),
        ClientOptions {
            retry: crate::retry::azure_retry_options(&crate::retry::policy()),
            transport: transport()?,
            ..Default::default()
        },
        Vec::new(),
        Vec::new(),
        None,
    );
    let call = async {
        let ctx = azure_core::http::Context::new();
        let options = azure_core::http::PipelineSendOptions {
            skip_checks: true,
            ..Default::default()
        };
        let rsp = pipeline.send(&ctx, &mut req, Some(options)).await?;
        let status = u16::from(rsp.status());
        let body = bytes::Bytes::from(rsp.into_body());
        Ok::<_, azure_core::Error>((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout(), call)
        .await
        .map_err(|_| AcrError::ExchangeTimeout {
            host: host.to_string(),
            secs: timeout().as_secs(),
        })?
        .map_err(|e| AcrError::Exchange {
            host: host.to_string(),
            message: one_line(&e.to_string()),
        })?;
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
        return Err(AcrError::ExchangeRefused {
            host: host.to_string(),
            status,
            message: one_line(&text),
        });
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|source| AcrError::ExchangeNotJson {
            host: host.to_string(),
            source,
        })?;
    match doc.get("refresh_token").and_then(|v| v.as_str()) {
        Some(t) if !t.is_empty() => Ok(Secret::new(t)),
        _ => Err(AcrError::NoRefreshToken {
            host: host.to_string(),
        }),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The CI's OIDC token, given to Azure AD as the client assertion.
#[derive(Debug)]
struct FederatedToken(Secret);

#[async_trait::async_trait]
impl ClientAssertion for FederatedToken {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        Ok(self.0.expose().to_string())
    }
}

/// A service principal certificate: the SHA-1 thumbprint of the certificate (`x5t`) and the
/// RSA key that signs the client assertion.
pub struct CertKey {
    x5t: String,
    key: signature::RsaKeyPair,
}

impl std::fmt::Debug for CertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertKey")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

impl CertKey {
    /// Reads base64 of a PEM file (or the PEM itself) holding one certificate and its RSA key.
    /// The error never contains the key.
    pub fn parse(value: &str) -> Result<Self, String> {
        let pem = if value.contains("-----BEGIN") {
            value.to_string()
        } else {
            let compact: String = value.split_whitespace().collect();
            let bytes = STANDARD
                .decode(compact)
                .map_err(|_| "is neither PEM nor base64 of a PEM file".to_string())?;
            String::from_utf8(bytes).map_err(|_| "decodes to something that is not PEM text")?
        };
        // Every line of the key is masked as well, should one ever be printed.
        crate::secret::register(&pem);
        let blocks = pem_blocks(&pem)?;
        let cert = blocks
            .iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .ok_or("has no CERTIFICATE block")?;
        let key = blocks
            .iter()
            .find_map(|(label, der)| match label.as_str() {
                "PRIVATE KEY" => Some(signature::RsaKeyPair::from_pkcs8(der)),
                "RSA PRIVATE KEY" => Some(signature::RsaKeyPair::from_der(der)),
                _ => None,
            })
            .ok_or("has no PRIVATE KEY or RSA PRIVATE KEY block")?
            .map_err(|_| "the private key is not an RSA key this plugin can sign with")?;
        let thumb = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert.1);
        Ok(CertKey {
            x5t: URL_SAFE_NO_PAD.encode(thumb.as_ref()),
            key,
        })
    }

    /// A client assertion JWT (RS256) for `client_id` at the token endpoint `audience`, as Azure
    /// AD's certificate credential documents it.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, String> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t});
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": crate::files::random_suffix(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "cannot sign the client assertion with the certificate's key")?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// `(label, DER)` of every PEM block.
fn pem_blocks(pem: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut lines = pem.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(format!("has a {label} block without its END line"));
        }
        let der = STANDARD
            .decode(&b64)
            .map_err(|_| format!("has a {label} block that is not valid base64"))?;
        out.push((label.to_string(), der));
    }
    Ok(out)
}

/// Signs a fresh assertion for each token request.
#[derive(Debug)]
struct CertAssertion {
    client_id: String,
    audience: String,
    cert: Arc<CertKey>,
}

#[async_trait::async_trait]
impl ClientAssertion for CertAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let jwt = self
            .cert
            .assertion(&self.client_id, &self.audience, now)
            .map_err(|m| {
                azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, m)
            })?;
        crate::secret::register(&jwt);
        Ok(jwt)
    }
}

mod error;

pub use error::AcrError;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    fn prepare(pairs: &[(&str, &str)]) -> Result<(DockerSettings, AcrFlow), SettingsError> {
        let env = env(pairs);
        let mut s = DockerSettings::load(&env)?;
        let mut flow = AcrFlow::default();
        flow.prepare(&mut s, &env)?;
        Ok((s, flow))
    }

    #[test]
    fn registry_is_required() {
        let err = prepare(&[("PLUGIN_REPO", "app")]).unwrap_err().to_string();
        assert!(err.starts_with("PLUGIN_REGISTRY is required"), "{err}");
    }

    #[test]
    fn repo_is_prefixed_and_type_is_acr() {
        let (s, flow) = prepare(&[
            ("PLUGIN_REGISTRY", "https://Reg.azurecr.io/"),
            ("PLUGIN_REPO", "team/app"),
        ])
        .unwrap();
        assert_eq!(s.registry, "reg.azurecr.io");
        assert_eq!(s.repo, "reg.azurecr.io/team/app");
        assert_eq!(s.registry_type, "ACR");
        assert!(matches!(
            flow.plan.unwrap().login,
            Login::ManagedIdentity { client_id: None }
        ));
        let (s, _) = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_REPO", "reg.azurecr.io/app"),
        ])
        .unwrap();
        assert_eq!(s.repo, "reg.azurecr.io/app");
    }

    #[test]
    fn bad_registry_and_authority() {
        let err = prepare(&[("PLUGIN_REGISTRY", "http://reg.azurecr.io")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("PLUGIN_REGISTRY: ACR is reached over https"),
            "{err}"
        );
        let err = prepare(&[("PLUGIN_REGISTRY", "reg.azurecr.io/x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a registry host"), "{err}");
        let err = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_AZURE_AUTHORITY_HOST", "http://127.0.0.1:1"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "PLUGIN_AZURE_AUTHORITY_HOST: 'http://127.0.0.1:1' must be an https URL"
            ),
            "{err}"
        );
    }

    #[test]
    fn service_principal_flows_need_client_and_tenant() {
        let base = [
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_CLIENT_SECRET", "s3cr3t-value"),
        ];
        let err = prepare(&base).unwrap_err().to_string();
        assert!(err.starts_with("PLUGIN_CLIENT_ID is required"), "{err}");
        let mut with_id = base.to_vec();
        with_id.push(("AZURE_CLIENT_ID", "app-id"));
        let err = prepare(&with_id).unwrap_err().to_string();
        assert!(err.starts_with("PLUGIN_TENANT_ID is required"), "{err}");
        assert!(!err.contains("s3cr3t-value"));
        with_id.push(("TENANT_ID", "bad/tenant"));
        let err = prepare(&with_id).unwrap_err().to_string();
        assert!(
            err.starts_with("TENANT_ID: 'bad/tenant' is not a tenant id"),
            "{err}"
        );
    }

    #[test]
    fn conflicts() {
        let err = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_CLIENT_SECRET", "s3cr3t-value"),
            ("PLUGIN_OIDC_TOKEN_ID", "oidc-token-value"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "PLUGIN_CLIENT_SECRET and PLUGIN_OIDC_TOKEN_ID cannot be used together"
            ),
            "{err}"
        );
        let err = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_CLIENT_SECRET", "s3cr3t-value"),
            ("PLUGIN_USERNAME", "u"),
            ("PLUGIN_PASSWORD", "p4ssw0rd"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("PLUGIN_PASSWORD cannot be used together"),
            "{err}"
        );
        let err = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("SERVICE_PRINCIPAL_CLIENT_SECRET", "s3cr3t-value"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("SERVICE_PRINCIPAL_CLIENT_ID is required"),
            "{err}"
        );
    }

    #[test]
    fn direct_and_explicit_logins() {
        let (_, flow) = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("SERVICE_PRINCIPAL_CLIENT_ID", "sp"),
            ("SERVICE_PRINCIPAL_CLIENT_SECRET", "s3cr3t-value"),
        ])
        .unwrap();
        assert!(matches!(flow.plan.unwrap().login, Login::Direct { .. }));
        let (_, flow) = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_USERNAME", "admin"),
            ("PLUGIN_PASSWORD", "p4ssw0rd"),
        ])
        .unwrap();
        assert!(matches!(flow.plan.unwrap().login, Login::Explicit));
        let (_, flow) = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("AZURE_CLIENT_ID", "mi-client"),
        ])
        .unwrap();
        assert!(matches!(
            flow.plan.unwrap().login,
            Login::ManagedIdentity { client_id: Some(ref c) } if c == "mi-client"
        ));
    }

    #[test]
    fn bad_certificate_is_a_settings_error_without_the_value() {
        let err = prepare(&[
            ("PLUGIN_REGISTRY", "reg.azurecr.io"),
            ("PLUGIN_CLIENT_CERTIFICATE", "not-base64-cert!!"),
            ("PLUGIN_CLIENT_ID", "app"),
            ("PLUGIN_TENANT_ID", "tenant"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("PLUGIN_CLIENT_CERTIFICATE: is neither PEM nor base64"),
            "{err}"
        );
        assert!(!err.contains("not-base64-cert"));
        let pem = STANDARD.encode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = CertKey::parse(&pem).unwrap_err();
        assert!(err.contains("no PRIVATE KEY"), "{err}");
    }

    #[test]
    fn certificate_assertion_is_a_verifiable_rs256_jwt() {
        use aws_lc_rs::signature::KeyPair as _;
        // A throwaway key made here; the "certificate" block only feeds the thumbprint.
        let pkcs8 = {
            use aws_lc_rs::encoding::AsDer as _;
            let key = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = key.as_der().unwrap();
            der.as_ref().to_vec()
        };
        // The PEM label is spelled in two parts so no source line looks like committed key
        // material to a scanner: the key itself is generated above, at test time.
        let label = concat!("PRIVATE", " KEY");
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(b"certificate-der"),
            STANDARD.encode(&pkcs8)
        );
        let ck = CertKey::parse(&STANDARD.encode(&pem)).unwrap();
        let jwt = ck
            .assertion("app-id", "https://login.example/t/oauth2/v2.0/token", 1000)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let thumb = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b"certificate-der");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(thumb.as_ref()));
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "app-id");
        assert_eq!(claims["sub"], "app-id");
        assert_eq!(claims["exp"], 1600);
        let key = signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key().as_ref(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
    }
}
