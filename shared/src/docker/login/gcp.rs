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

use tracing::info;

use super::flow::RegistryFlow;
use crate::docker::config::Config;
use crate::docker::settings::DockerSettings;
use crate::registry::auth::RegistryAuth;
use crate::registry::reference::{registry_host, split_host};
use crate::secret::Secret;
use crate::settings::{Env, SettingsError};

// The credential model and token requests are shared with the gcs plugin.
pub use crate::gcp_auth::{CLOUD_PLATFORM, GcpError};
use crate::gcp_auth::{
    Creds, Federation, creds, creds_token, decode_key, federated_token, http, metadata_token,
    parse_creds,
};
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
/// Only `PLUGIN_REGISTRY`: the gcr and gar wrappers read it alone and set it before drone-docker
/// ran, so drone-docker's `DOCKER_REGISTRY` alias never took effect (kaniko-gcr even read
/// `DOCKER_REGISTRY` as the base-image registry).
const REGISTRY_VARS: &[&str] = &["PLUGIN_REGISTRY"];

crate::settings! {
    /// What plugins/gcr and plugins/gar add to the shared Google settings
    /// ([`crate::gcp_auth::GoogleSettings`]).
    pub struct GcpSettings {
        /// Service-account JSON key, raw or base64. Alone it logs in as `_json_key` with the key as the password.
        json_key: Secret = "", from ["PLUGIN_JSON_KEY", "GCR_JSON_KEY", "GOOGLE_CREDENTIALS", "TOKEN"];
        /// Log in as `oauth2accesstoken` with an access token minted from `json_key` (at the key's `token_uri`), or, without a key, from the application default credentials (metadata server included).
        workload_identity: bool = "false", from ["PLUGIN_WORKLOAD_IDENTITY"];
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

impl RegistryFlow for GcpFlow {
    type Error = GcpError;

    fn login_label(&self) -> Option<String> {
        Some("the Google login (JSON key, access token, workload identity or ADC)".into())
    }

    fn prepare(&mut self, s: &mut DockerSettings, env: &Env) -> Result<(), SettingsError> {
        let g = GcpSettings::load(env)?;
        let google = crate::gcp_auth::GoogleSettings::load(env)?;
        let location = match self.registry {
            Registry::Gar => GarSettings::load(env)?.location,
            Registry::Gcr => String::new(),
        };
        target(self.registry, s, env, location.trim())?;
        self.plan = Some(plan(&g, &google, s, env)?);
        Ok(())
    }

    async fn before_build(&self, cfg: &mut Config) -> Result<bool, GcpError> {
        let Some(plan) = &self.plan else {
            return Err(GcpError::Local("the gcp flow was not prepared".into()));
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
            Plan::Token { creds, source } => (
                TOKEN_USER,
                creds_token(&http()?, creds)
                    .await
                    .map_err(|e| e.named(source))?,
                *source,
            ),
            Plan::Federation(f) => {
                let source = "workload identity federation (PLUGIN_OIDC_TOKEN_ID)";
                (
                    TOKEN_USER,
                    federated_token(&http()?, f)
                        .await
                        .map_err(|e| e.named(source))?,
                    source,
                )
            }
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
fn plan(
    g: &GcpSettings,
    shared: &crate::gcp_auth::GoogleSettings,
    s: &DockerSettings,
    env: &Env,
) -> Result<Plan, SettingsError> {
    let key_var = env
        .first_set(JSON_KEY_VARS)
        .filter(|(_, v)| !v.trim().is_empty())
        .and_then(|(name, _)| JSON_KEY_VARS.iter().copied().find(|n| *n == name));
    let federation = shared.federation(env)?;
    let wif = federation.is_some();
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
    if let Some(f) = federation {
        return Ok(Plan::Federation(Box::new(f)));
    }
    if user_var.is_some() {
        return Ok(Plan::Given);
    }
    // Application default credentials, in Google's order. The anchor's workload_identity
    // needed a key and never reached the metadata server (§9.11).
    Ok(match shared.default_credentials(env)? {
        crate::gcp_auth::DefaultCredentials::File { creds, source } => {
            Plan::Token { creds, source }
        }
        crate::gcp_auth::DefaultCredentials::Metadata(host) => Plan::Metadata {
            host,
            implicit: !g.workload_identity,
        },
    })
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
