//! The Amazon ECR flow of `longshore-ecr` (reference image-plugins §2.2, §6.2): its settings,
//! the registry host (account and region parsed from it), the repository prefix, the ECR login
//! (`GetAuthorizationToken`), repository management (create, scan on push, tag immutability,
//! lifecycle and repository policies) and `skip_push_if_tag_exists`.
//!
//! ECR Public (`public.ecr.aws`, `ecr-public.aws.com`; reference §2.3 kaniko-ecr, §6.2) is the
//! same flow on the `ecr-public` API, which exists only in us-east-1: the login from its
//! `GetAuthorizationToken`, `CreateRepository`, `SetRepositoryPolicy` and `DescribeImages` there.
//! Public repositories are `public.ecr.aws/<alias>/<name>`; the API names them `<name>`.
//!
//! Fixed against the anchor (§9.6–9.8): creating a repository that already exists never switches
//! its scanning off; `skip_push_if_tag_exists` checks the tags really computed (auto tags
//! included) and skips only those that exist; a user `PLUGIN_USERNAME`/`PLUGIN_PASSWORD` cannot
//! silently replace the ECR login; `PLUGIN_ASSUME_ROLE` applies on top of static keys.
//!
//! Endpoints: the SDK's own `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_ECR`,
//! `AWS_ENDPOINT_URL_ECR_PUBLIC`, `AWS_ENDPOINT_URL_STS` (for VPC endpoints, FIPS or private
//! clouds); nothing of our own.

use aws_config::{Region, SdkConfig};
use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracing::{info, warn};

use super::flow::RegistryFlow;
use crate::aws::{AwsAuth, sdk_config, sdk_error};
use crate::docker::config::Config;
use crate::docker::settings::DockerSettings;
use crate::registry::auth::RegistryAuth;
use crate::registry::reference::{Repository, registry_host, split_host};
use crate::secret::{self, Secret};
use crate::settings::{Env, SettingsError, Value};

crate::settings! {
    /// What `plugins/ecr` reads on top of the docker settings.
    pub struct EcrSettings {
        /// AWS region. Default: the region in an ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com`), else `us-east-1`. ECR Public's API is always called in `us-east-1`.
        region: String = "", from ["PLUGIN_REGION", "ECR_REGION", "AWS_REGION"];
        /// Access key id (used with the secret key; otherwise the default AWS chain: env, profile, web identity, container, IMDS).
        access_key: String = "", from ["PLUGIN_ACCESS_KEY", "ECR_ACCESS_KEY", "AWS_ACCESS_KEY_ID"];
        /// Secret access key.
        secret_key: Secret = "", from ["PLUGIN_SECRET_KEY", "ECR_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"];
        /// Session token for temporary keys.
        session_token: Secret = "", from ["PLUGIN_SESSION_TOKEN", "AWS_SESSION_TOKEN"];
        /// Role to assume (STS AssumeRole), also on top of static keys.
        assume_role: String = "", from ["PLUGIN_ASSUME_ROLE"];
        /// External id for the assumed role.
        external_id: String = "", from ["PLUGIN_EXTERNAL_ID"];
        /// OIDC token: assume `assume_role` with AssumeRoleWithWebIdentity.
        oidc_token: Secret = "", from ["PLUGIN_OIDC_TOKEN_ID"];
        /// Create the repository when it does not exist (an existing one is fine).
        create_repository: bool = "false", from ["PLUGIN_CREATE_REPOSITORY", "ECR_CREATE_REPOSITORY"];
        /// With `create_repository`: scan images on push. `true` also switches scanning on for an existing repository; `false` never switches it off.
        scan_on_push: bool = "false", from ["PLUGIN_SCAN_ON_PUSH"];
        /// Path to a lifecycle policy JSON file, applied to the repository (PutLifecyclePolicy).
        lifecycle_policy: String = "", from ["PLUGIN_LIFECYCLE_POLICY"];
        /// Path to a repository policy JSON file, applied to the repository (SetRepositoryPolicy).
        repository_policy: String = "", from ["PLUGIN_REPOSITORY_POLICY"];
        /// `IMMUTABLE` or `MUTABLE` (any case), or a boolean (`true`: immutable); applied to a new or existing repository. Unset leaves it alone.
        tag_immutability: Option<Immutability> = "", from ["PLUGIN_TAG_IMMUTABILITY"];
        /// Do not push the tags that already exist in the repository (auto tags included); when every tag exists, end without building.
        skip_push_if_tag_exists: bool = "false", from ["PLUGIN_SKIP_PUSH_IF_TAG_EXISTS"];
    }
}

/// The region when neither a setting nor the registry host gives one (the anchor's default).
const DEFAULT_REGION: &str = "us-east-1";
/// The only region of the ECR Public API.
const PUBLIC_API_REGION: &str = "us-east-1";

/// Account and region of a private ECR registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The 12-digit account id (the registry id of the API calls).
    pub account: String,
    /// The region.
    pub region: String,
}

/// Parses a private ECR host: `<12 digits>.dkr.ecr.<region>.amazonaws.com` and its China
/// (`.amazonaws.com.cn`), EU sovereign (`.amazonaws.eu`), FIPS (`dkr.ecr-fips`) and dual-stack
/// (`dkr-ecr.<region>.on.aws`) forms. `None` for anything else.
pub fn parse_ecr_host(host: &str) -> Option<EcrHost> {
    let host = host.trim().to_ascii_lowercase();
    let (account, rest) = host.split_once('.')?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = ["dkr.ecr.", "dkr.ecr-fips.", "dkr-ecr."]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
    let region = [
        ".amazonaws.com",
        ".amazonaws.com.cn",
        ".amazonaws.eu",
        ".on.aws",
    ]
    .iter()
    .find_map(|s| rest.strip_suffix(s))?;
    valid_region(region).then(|| EcrHost {
        account: account.to_string(),
        region: region.to_string(),
    })
}

/// True for ECR Public hosts.
pub fn is_ecr_public_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    host == "public.ecr.aws"
        || host == "ecr-public.aws.com"
        || host.ends_with(".ecr-public.aws.com")
}

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-')
}

/// The ECR flow: settings validated in [`RegistryFlow::prepare`], used in
/// [`RegistryFlow::before_build`].
#[derive(Debug, Default)]
pub struct EcrFlow {
    auth: AwsAuth,
    /// The registry host, when known before the token (PLUGIN_REGISTRY, or an ECR host in PLUGIN_REPO).
    registry: Option<String>,
    /// The account of the repository calls (parsed from the registry host).
    registry_id: Option<String>,
    /// PLUGIN_REPO as given, to be put under the token's proxy endpoint when no registry is known.
    relative_repo: String,
    /// The registry is ECR Public: the `ecr-public` API in us-east-1.
    public: bool,
    create_repository: bool,
    scan_on_push: bool,
    tag_immutability: Option<bool>,
    lifecycle_policy: Option<String>,
    repository_policy: Option<String>,
    skip_push_if_tag_exists: bool,
}

const REGISTRY_VARS: &[&str] = &["PLUGIN_REGISTRY", "DOCKER_REGISTRY"];
const REGION_VARS: &[&str] = &["PLUGIN_REGION", "ECR_REGION", "AWS_REGION"];

impl RegistryFlow for EcrFlow {
    type Error = EcrError;

    fn login_label(&self) -> Option<String> {
        Some(if self.public {
            format!("the ECR Public login from GetAuthorizationToken ({PUBLIC_API_REGION})")
        } else {
            "the ECR login from GetAuthorizationToken".into()
        })
    }

    fn pending_registry(&self) -> Option<&'static str> {
        self.registry
            .is_none()
            .then_some("<the proxy endpoint of the ECR token>")
    }

    fn prepare(&mut self, s: &mut DockerSettings, env: &Env) -> Result<(), SettingsError> {
        let e = EcrSettings::load(env)?;
        let repo = s.repo.trim().to_string();
        let registry = registry(&repo, env)?;
        let public = registry.as_deref().is_some_and(is_ecr_public_host);
        let parsed = registry.as_deref().and_then(parse_ecr_host);
        if !repo.is_empty() {
            self.place_repository(s, &repo, registry.as_deref(), public)?;
        }
        let region = region(env, parsed.as_ref(), registry.as_deref())?;
        self.auth = credentials(&e, region, env)?;
        drop_user_login(s);
        self.repository_management(&e, public)?;
        self.public = public;

        // The engine's view: registry host without scheme (artifact `registryUrl`), type ECR.
        match &registry {
            Some(host) => s.registry = host.clone(),
            // Filled in from the token; empty keeps the engine from checking it against Hub.
            None => s.registry.clear(),
        }
        if !s.set_by.is_set("registry_type") {
            s.registry_type = "ECR".into();
        }
        self.registry_id = parsed.map(|h| h.account);
        self.registry = registry;
        Ok(())
    }

    async fn before_build(&self, cfg: &mut Config) -> Result<bool, EcrError> {
        let sdk = sdk_config(&self.auth).await?;
        if self.public {
            return self.public_before_build(&sdk, cfg).await;
        }
        let ecr = aws_sdk_ecr::Client::new(&sdk);

        // No registryIds: the SDK deprecates them, since the token works for every registry the
        // principal may use; the account matters only to the repository calls below.
        let out = ecr
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| EcrError::Token(sdk_error(&e)))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| EcrError::Token("the answer has no authorization data".into()))?;
        let (user, password) = decode_token(data.authorization_token().unwrap_or_default())?;
        let endpoint = registry_host(data.proxy_endpoint().unwrap_or_default());

        let host = match &self.registry {
            Some(h) => h.clone(),
            None => {
                if endpoint == "docker.io" {
                    return Err(EcrError::Token(
                        "the answer has no proxy endpoint: set PLUGIN_REGISTRY".into(),
                    ));
                }
                cfg.repo = Repository::parse(&format!("{endpoint}/{}", self.relative_repo))
                    .map_err(EcrError::Repo)?;
                cfg.outputs.registry_url = endpoint.clone();
                info!("registry: {endpoint} (the proxy endpoint of the ECR token)");
                endpoint
            }
        };
        cfg.credentials.push = Some(RegistryAuth::basic(&host, &user, password));
        cfg.credentials.push_source = "ECR GetAuthorizationToken";
        info!("ecr: logged in to {host} as {user}");

        if !cfg.push {
            if self.manages_repository() {
                info!("ecr: no push, so the repository is left as it is");
            }
            return Ok(true);
        }
        let repo = cfg
            .repo
            .name
            .strip_prefix(&format!("{}/", cfg.repo.host))
            .unwrap_or(&cfg.repo.name)
            .to_string();
        let api = Api {
            ecr: &ecr,
            repo: &repo,
            registry_id: self.registry_id.as_deref(),
        };
        if self.create_repository {
            api.create(self.scan_on_push, self.tag_immutability).await?;
        } else if let Some(immutable) = self.tag_immutability {
            api.tag_mutability(immutable).await?;
        }
        if let Some(text) = &self.lifecycle_policy {
            api.lifecycle_policy(text).await?;
        }
        if let Some(text) = &self.repository_policy {
            api.repository_policy(text).await?;
        }

        if self.skip_push_if_tag_exists {
            return skip_existing_tags(cfg, &repo, async |tag: &str| api.tag_exists(tag).await)
                .await;
        }
        Ok(true)
    }
}

impl EcrFlow {
    /// PLUGIN_REPO under the registry, or kept to be put under the token's proxy endpoint.
    fn place_repository(
        &mut self,
        s: &mut DockerSettings,
        repo: &str,
        registry: Option<&str>,
        public: bool,
    ) -> Result<(), SettingsError> {
        let (repo_host, _) = split_host(repo);
        match registry {
            Some(host) if repo_host == Some(host) => {}
            // Another ECR registry in PLUGIN_REPO: prefixing it would push to a nonsense path.
            Some(host)
                if repo_host
                    .is_some_and(|h| parse_ecr_host(h).is_some() || is_ecr_public_host(h)) =>
            {
                return Err(SettingsError::Conflict {
                    first: "PLUGIN_REPO".into(),
                    second: "PLUGIN_REGISTRY".into(),
                    reason: format!(
                        "the repository is in registry {} but the registry is {host}",
                        repo_host.unwrap_or_default()
                    ),
                });
            }
            // The anchor's rule: a repository not starting with the registry goes under it
            // (ECR names may hold dots, so `team.x/app` is a path, not a host).
            Some(host) => {
                s.repo = format!("{host}/{}", repo.trim_start_matches('/'));
            }
            None => {
                self.relative_repo = repo.trim_start_matches('/').to_string();
            }
        }
        if public && public_repo_name(split_host(&s.repo).1).is_none() {
            return Err(SettingsError::invalid(
                "PLUGIN_REPO",
                format!(
                    "'{}' is not an ECR Public repository: it is {}/<registry alias>/<name>",
                    s.repo,
                    registry.unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Repository management: what ECR does to the repository before the push.
    fn repository_management(
        &mut self,
        e: &EcrSettings,
        public: bool,
    ) -> Result<(), SettingsError> {
        if public {
            // ECR Public repositories have no scanning, lifecycle policies or tag mutability.
            let ignored = [
                ("PLUGIN_SCAN_ON_PUSH", e.scan_on_push),
                ("PLUGIN_LIFECYCLE_POLICY", !e.lifecycle_policy.is_empty()),
                ("PLUGIN_TAG_IMMUTABILITY", e.tag_immutability.is_some()),
            ];
            for (var, _) in ignored.iter().filter(|(_, set)| *set) {
                warn!("{var} is ignored for ECR Public, whose repositories have no such setting");
            }
        } else {
            if e.scan_on_push && !e.create_repository {
                warn!(
                    "PLUGIN_SCAN_ON_PUSH applies only with PLUGIN_CREATE_REPOSITORY=true: scanning is left as it is"
                );
            }
            self.lifecycle_policy = policy_file("PLUGIN_LIFECYCLE_POLICY", &e.lifecycle_policy)?;
            self.scan_on_push = e.scan_on_push;
            self.tag_immutability = e.tag_immutability.map(|i| i.0);
        }
        self.repository_policy = policy_file("PLUGIN_REPOSITORY_POLICY", &e.repository_policy)?;
        self.create_repository = e.create_repository;
        self.skip_push_if_tag_exists = e.skip_push_if_tag_exists;
        Ok(())
    }

    fn manages_repository(&self) -> bool {
        self.create_repository
            || self.tag_immutability.is_some()
            || self.lifecycle_policy.is_some()
            || self.repository_policy.is_some()
    }

    /// [`RegistryFlow::before_build`] for ECR Public: the login and the repository calls on the
    /// `ecr-public` API. Its tokens carry no proxy endpoint; the registry is the public host.
    async fn public_before_build(
        &self,
        sdk: &SdkConfig,
        cfg: &mut Config,
    ) -> Result<bool, EcrError> {
        // The API exists only in us-east-1; the credentials (and STS) keep the configured region.
        let conf = aws_sdk_ecrpublic::config::Builder::from(sdk)
            .region(Region::from_static(PUBLIC_API_REGION))
            .build();
        let client = aws_sdk_ecrpublic::Client::from_conf(conf);
        if self.auth.region == PUBLIC_API_REGION {
            info!("ecr-public: calling the ECR Public API in {PUBLIC_API_REGION}");
        } else {
            info!(
                "ecr-public: calling the ECR Public API in {PUBLIC_API_REGION}, its only region, not in {}",
                self.auth.region
            );
        }
        let out = client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| EcrError::PublicToken(sdk_error(&e)))?;
        let token = out
            .authorization_data()
            .and_then(|d| d.authorization_token())
            .ok_or_else(|| EcrError::PublicToken("the answer has no authorization token".into()))?;
        let (user, password) = decode_token(token).map_err(|e| match e {
            EcrError::Token(why) => EcrError::PublicToken(why),
            e => e,
        })?;
        let host = self
            .registry
            .clone()
            .unwrap_or_else(|| cfg.repo.host.clone());
        cfg.credentials.push = Some(RegistryAuth::basic(&host, &user, password));
        cfg.credentials.push_source = "ECR Public GetAuthorizationToken";
        info!("ecr-public: logged in to {host} as {user}");

        if !cfg.push {
            if self.manages_repository() {
                info!("ecr: no push, so the repository is left as it is");
            }
            return Ok(true);
        }
        let path = cfg
            .repo
            .name
            .strip_prefix(&format!("{}/", cfg.repo.host))
            .unwrap_or(&cfg.repo.name);
        let repo = public_repo_name(path)
            .ok_or_else(|| {
                EcrError::Repo(format!(
                    "'{}' is not an ECR Public repository ({host}/<registry alias>/<name>)",
                    cfg.repo.name
                ))
            })?
            .to_string();
        let api = PublicApi {
            client: &client,
            repo: &repo,
        };
        if self.create_repository {
            api.create().await?;
        }
        if let Some(text) = &self.repository_policy {
            api.repository_policy(text).await?;
        }
        if self.skip_push_if_tag_exists {
            return skip_existing_tags(cfg, &repo, async |tag: &str| api.tag_exists(tag).await)
                .await;
        }
        Ok(true)
    }
}

/// The registry: PLUGIN_REGISTRY, else an ECR host already in PLUGIN_REPO, else none yet (the
/// token's proxy endpoint, known only after the login).
fn registry(repo: &str, env: &Env) -> Result<Option<String>, SettingsError> {
    if let Some(r) = env.string(REGISTRY_VARS) {
        let host = registry_host(&r);
        if host == "docker.io" {
            return Err(SettingsError::invalid(
                "PLUGIN_REGISTRY",
                format!("'{r}' is Docker Hub, not an ECR registry"),
            ));
        }
        return Ok(Some(host));
    }
    // A dotted first component may be an ECR path (`team.x/app`); a port or localhost can only
    // be a host.
    Ok(split_host(repo)
        .0
        .filter(|h| {
            parse_ecr_host(h).is_some()
                || is_ecr_public_host(h)
                || h.contains(':')
                || *h == "localhost"
        })
        .map(str::to_string))
}

/// The region: the registry host's wins (tokens are regional), then the settings, then the
/// default.
fn region(
    env: &Env,
    parsed: Option<&EcrHost>,
    registry: Option<&str>,
) -> Result<String, SettingsError> {
    let set_region = env.first_set(REGION_VARS).and_then(|(var, v)| {
        let v = v.trim();
        (!v.is_empty()).then(|| (var.to_string(), v.to_string()))
    });
    if let Some((var, r)) = &set_region
        && !valid_region(r)
    {
        return Err(SettingsError::invalid(
            var.clone(),
            format!("'{r}' is not a region name (e.g. eu-west-1)"),
        ));
    }
    Ok(match (parsed, &set_region) {
        (Some(h), Some((var, r))) if *r != h.region => {
            warn!(
                "{var} is {r} but the registry {} is in {}: using {}",
                registry.unwrap_or_default(),
                h.region,
                h.region
            );
            h.region.clone()
        }
        (Some(h), _) => h.region.clone(),
        (None, Some((_, r))) => r.clone(),
        (None, None) => DEFAULT_REGION.to_string(),
    })
}

/// The AWS credential settings in `region`, validated.
fn credentials(e: &EcrSettings, region: String, env: &Env) -> Result<AwsAuth, SettingsError> {
    let auth = AwsAuth {
        region,
        access_key: e.access_key.clone(),
        secret_key: e.secret_key.clone(),
        session_token: e.session_token.clone(),
        assume_role: e.assume_role.clone(),
        session_name: "longshore-ecr".into(),
        external_id: e.external_id.clone(),
        oidc_token: e.oidc_token.clone(),
        // Checked here, before any request, like every other setting.
        ca_bundle: crate::aws::ca_bundle(env)?,
        ..Default::default()
    };
    auth.validate()?;
    Ok(auth)
}

/// The ECR login is the push login (§9.8: the anchor let these replace it silently).
fn drop_user_login(s: &mut DockerSettings) {
    if !s.password.is_empty() || !s.access_token.is_empty() || !s.username.is_empty() {
        warn!(
            "PLUGIN_USERNAME/PLUGIN_PASSWORD (or ACCESS_TOKEN) are ignored: the push registry uses the ECR login"
        );
        s.username.clear();
        s.password = Secret::default();
        s.access_token = Secret::default();
    }
}

/// The repository name the ECR Public API knows for the path `<alias>/<name>` of a public
/// repository (`<name>` may hold slashes).
fn public_repo_name(path: &str) -> Option<&str> {
    path.split_once('/')
        .filter(|(alias, name)| !alias.is_empty() && !name.is_empty())
        .map(|(_, name)| name)
}

/// `skip_push_if_tag_exists`: drops the tags `exists` finds in `repo`; false when no tag is
/// left, so the run ends without building.
async fn skip_existing_tags(
    cfg: &mut Config,
    repo: &str,
    exists: impl AsyncFn(&str) -> Result<bool, EcrError>,
) -> Result<bool, EcrError> {
    let mut existing = Vec::new();
    for tag in &cfg.tags {
        if exists(tag).await? {
            existing.push(tag.clone());
        }
    }
    if !existing.is_empty() {
        info!(
            "skip_push_if_tag_exists: {} already in {repo}: not pushed again",
            existing.join(", ")
        );
        cfg.tags.retain(|t| !existing.contains(t));
    }
    if cfg.tags.is_empty() {
        info!("skip_push_if_tag_exists: every tag already exists: nothing to build or push");
        return Ok(false);
    }
    Ok(true)
}

/// Reads a policy file now, so a missing or malformed file fails before any network call.
fn policy_file(var: &str, path: &str) -> Result<Option<String>, SettingsError> {
    if path.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::invalid(var, format!("cannot read {path}: {e}")))?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => Ok(Some(text)),
        Ok(_) => Err(SettingsError::invalid(
            var,
            format!("{path} is not a JSON object"),
        )),
        Err(e) => Err(SettingsError::invalid(
            var,
            format!("{path} is not valid JSON: {e}"),
        )),
    }
}

/// `base64("AWS:<password>")` → user and password; the token and password are masked.
fn decode_token(token: &str) -> Result<(String, Secret), EcrError> {
    secret::register(token);
    let bytes = STANDARD
        .decode(token.trim())
        .map_err(|_| EcrError::Token("the authorization token is not base64".into()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| EcrError::Token("the authorization token is not UTF-8".into()))?;
    let (user, password) = text
        .split_once(':')
        .filter(|(u, p)| !u.is_empty() && !p.is_empty())
        .ok_or_else(|| EcrError::Token("the authorization token is not user:password".into()))?;
    Ok((user.to_string(), Secret::new(password)))
}

/// `PLUGIN_TAG_IMMUTABILITY` (`true` = immutable). ECR's own words are accepted besides a
/// boolean: the documentation and ECR's API say `IMMUTABLE`/`MUTABLE`, and users copy them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Immutability(pub bool);

impl Value for Immutability {
    const KIND: &'static str = "IMMUTABLE, MUTABLE or bool";
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "IMMUTABLE" => Ok(Immutability(true)),
            "MUTABLE" => Ok(Immutability(false)),
            _ => bool::parse(raw)
                .map(Immutability)
                .map_err(|_| format!("'{}' is not IMMUTABLE, MUTABLE or a boolean", raw.trim())),
        }
    }
    fn unset() -> Self {
        Immutability(false)
    }
}

mod error;
mod repository;

pub use error::EcrError;

use repository::{Api, PublicApi};

#[cfg(test)]
mod tests {
    use super::*;

    fn host(account: &str, region: &str) -> Option<EcrHost> {
        Some(EcrHost {
            account: account.into(),
            region: region.into(),
        })
    }

    #[test]
    fn ecr_hosts() {
        let table: &[(&str, Option<EcrHost>)] = &[
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                host("123456789012", "us-east-1"),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                host("123456789012", "cn-north-1"),
            ),
            (
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                host("123456789012", "eusc-de-east-1"),
            ),
            (
                "123456789012.dkr-ecr.eu-west-1.on.aws",
                host("123456789012", "eu-west-1"),
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                host("123456789012", "us-gov-west-1"),
            ),
            (
                "123456789012.DKR.ECR.US-EAST-2.AMAZONAWS.COM",
                host("123456789012", "us-east-2"),
            ),
            ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),
            ("1234567890123.dkr.ecr.us-east-1.amazonaws.com", None),
            ("12345678901a.dkr.ecr.us-east-1.amazonaws.com", None),
            ("123456789012.dkr.ecr..amazonaws.com", None),
            ("123456789012.dkr.ecr.us east.amazonaws.com", None),
            ("123456789012.ecr.us-east-1.amazonaws.com", None),
            ("123456789012.dkr.ecr.us-east-1.example.com", None),
            ("public.ecr.aws", None),
            ("127.0.0.1:5443", None),
            ("", None),
        ];
        for (h, want) in table {
            assert_eq!(&parse_ecr_host(h), want, "{h}");
        }
        assert!(is_ecr_public_host("public.ecr.aws"));
        assert!(is_ecr_public_host("ecr-public.aws.com"));
        assert!(!is_ecr_public_host(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        ));
    }

    fn prepare(pairs: &[(&str, &str)]) -> Result<(EcrFlow, DockerSettings), SettingsError> {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut s = DockerSettings::load(&env)?;
        let mut flow = EcrFlow::default();
        flow.prepare(&mut s, &env)?;
        Ok((flow, s))
    }

    const ECR: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    #[test]
    fn registry_repo_and_region() {
        // Relative repo under PLUGIN_REGISTRY; account and region from the host.
        let (f, s) = prepare(&[
            ("PLUGIN_REGISTRY", &format!("https://{ECR}")),
            ("PLUGIN_REPO", "team/app"),
            ("PLUGIN_REGION", "us-east-2"),
        ])
        .unwrap();
        assert_eq!(s.repo, format!("{ECR}/team/app"));
        assert_eq!(s.registry, ECR);
        assert_eq!(s.registry_type, "ECR");
        assert_eq!(f.registry_id.as_deref(), Some("123456789012"));
        assert_eq!(f.auth.region, "eu-west-1");

        // Already prefixed: unchanged. The registry may come from the repo alone.
        let (f, s) = prepare(&[("PLUGIN_REPO", &format!("{ECR}/app"))]).unwrap();
        assert_eq!(s.repo, format!("{ECR}/app"));
        assert_eq!(f.registry.as_deref(), Some(ECR));

        // Nothing known: the proxy endpoint decides later; the region is the setting or default.
        let (f, s) = prepare(&[("PLUGIN_REPO", "app"), ("AWS_REGION", "ap-south-1")]).unwrap();
        assert_eq!(f.registry, None);
        assert_eq!(f.relative_repo, "app");
        assert_eq!(f.registry_id, None);
        assert_eq!(f.auth.region, "ap-south-1");
        assert_eq!(s.registry, "");
        let (f, _) = prepare(&[("PLUGIN_REPO", "app")]).unwrap();
        assert_eq!(f.auth.region, "us-east-1");

        // A non-ECR registry (a mirror, a test registry): prefixed, no registry id.
        let (f, s) = prepare(&[
            ("PLUGIN_REGISTRY", "127.0.0.1:5443"),
            ("PLUGIN_REPO", "my.team/app"),
            ("PLUGIN_REGISTRY_TYPE", "Custom"),
        ])
        .unwrap();
        assert_eq!(s.repo, "127.0.0.1:5443/my.team/app");
        assert_eq!(s.registry_type, "Custom");
        assert_eq!(f.registry_id, None);
    }

    #[test]
    fn refusals_name_the_variable() {
        let err = |pairs: &[(&str, &str)]| prepare(pairs).unwrap_err().to_string();
        assert!(
            err(&[("PLUGIN_REGISTRY", "public.ecr.aws"), ("PLUGIN_REPO", "a")])
                .starts_with("PLUGIN_REPO: 'public.ecr.aws/a' is not an ECR Public repository")
        );
        assert!(
            err(&[
                ("PLUGIN_REGISTRY", ECR),
                ("PLUGIN_REPO", "public.ecr.aws/alias/a")
            ])
            .starts_with("PLUGIN_REPO and PLUGIN_REGISTRY")
        );
        assert!(
            err(&[
                ("PLUGIN_REGISTRY", ECR),
                (
                    "PLUGIN_REPO",
                    "210987654321.dkr.ecr.eu-west-1.amazonaws.com/a"
                )
            ])
            .starts_with("PLUGIN_REPO and PLUGIN_REGISTRY")
        );
        assert!(
            err(&[("PLUGIN_REPO", "a"), ("PLUGIN_ACCESS_KEY", "AKIA")])
                .starts_with("PLUGIN_SECRET_KEY is required")
        );
        assert!(
            err(&[("PLUGIN_REPO", "a"), ("PLUGIN_OIDC_TOKEN_ID", "tok")])
                .starts_with("PLUGIN_ASSUME_ROLE is required")
        );
        assert!(
            err(&[("PLUGIN_REPO", "a"), ("PLUGIN_ASSUME_ROLE", "admin")])
                .starts_with("PLUGIN_ASSUME_ROLE: 'admin' is not a role ARN")
        );
        assert!(
            err(&[("PLUGIN_REPO", "a"), ("ECR_REGION", "Mars 1")])
                .starts_with("ECR_REGION: 'Mars 1' is not a region")
        );
        assert!(
            err(&[("PLUGIN_REPO", "a"), ("PLUGIN_SCAN_ON_PUSH", "yes")])
                .starts_with("PLUGIN_SCAN_ON_PUSH: 'yes' is not a boolean")
        );
        assert!(
            err(&[
                ("PLUGIN_REPO", "a"),
                ("PLUGIN_LIFECYCLE_POLICY", "/nonexistent/policy.json")
            ])
            .starts_with("PLUGIN_LIFECYCLE_POLICY: cannot read /nonexistent/policy.json")
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("p.json");
        std::fs::write(&bad, "{\"rules\": [").unwrap();
        assert!(
            err(&[
                ("PLUGIN_REPO", "a"),
                ("PLUGIN_REPOSITORY_POLICY", bad.to_str().unwrap())
            ])
            .starts_with("PLUGIN_REPOSITORY_POLICY:")
        );
    }

    #[test]
    fn ecr_public_hosts_use_the_public_api_and_ignore_what_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("p.json");
        std::fs::write(&policy, "{}").unwrap();
        let policy = policy.to_str().unwrap();
        let (f, s) = prepare(&[
            ("PLUGIN_REGISTRY", "https://public.ecr.aws"),
            ("PLUGIN_REPO", "my-alias/team/app"),
            ("PLUGIN_REGION", "eu-west-1"),
            ("PLUGIN_SCAN_ON_PUSH", "true"),
            ("PLUGIN_TAG_IMMUTABILITY", "true"),
            // Ignored, so not even read.
            ("PLUGIN_LIFECYCLE_POLICY", "/nonexistent/lifecycle.json"),
            ("PLUGIN_REPOSITORY_POLICY", policy),
            ("PLUGIN_CREATE_REPOSITORY", "true"),
        ])
        .unwrap();
        assert!(f.public);
        assert_eq!(s.repo, "public.ecr.aws/my-alias/team/app");
        assert_eq!(s.registry, "public.ecr.aws");
        assert_eq!(s.registry_type, "ECR");
        assert_eq!(f.registry_id, None);
        // The credentials' region (STS); the public API itself is always called in us-east-1.
        assert_eq!(f.auth.region, "eu-west-1");
        assert!(!f.scan_on_push && f.tag_immutability.is_none() && f.lifecycle_policy.is_none());
        assert_eq!(f.repository_policy.as_deref(), Some("{}"));
        assert!(f.create_repository);
        assert!(
            f.login_label()
                .is_some_and(|l| l.contains("ECR Public") && l.contains("us-east-1"))
        );

        // The host in PLUGIN_REPO alone is enough; the other public form too.
        let (f, s) = prepare(&[("PLUGIN_REPO", "public.ecr.aws/a1b2c3d4/app")]).unwrap();
        assert!(f.public);
        assert_eq!(s.repo, "public.ecr.aws/a1b2c3d4/app");
        let (f, _) = prepare(&[
            ("PLUGIN_REGISTRY", "ecr-public.aws.com"),
            ("PLUGIN_REPO", "a/b"),
        ])
        .unwrap();
        assert!(f.public);
        let (f, _) = prepare(&[("PLUGIN_REGISTRY", ECR), ("PLUGIN_REPO", "a/b")]).unwrap();
        assert!(!f.public);

        assert_eq!(public_repo_name("alias/app"), Some("app"));
        assert_eq!(public_repo_name("alias/team/app"), Some("team/app"));
        assert_eq!(public_repo_name("app"), None);
        assert_eq!(public_repo_name("alias/"), None);
    }

    #[test]
    fn user_login_cannot_replace_the_ecr_login() {
        let (f, s) = prepare(&[
            ("PLUGIN_REPO", "a"),
            ("PLUGIN_USERNAME", "me"),
            ("PLUGIN_PASSWORD", "user-password-1"),
            ("PLUGIN_ACCESS_KEY", "AKIAEXAMPLE"),
            ("PLUGIN_SECRET_KEY", "secret-key-123"),
            ("PLUGIN_ASSUME_ROLE", "arn:aws:iam::123456789012:role/ci"),
            ("PLUGIN_EXTERNAL_ID", "ext-1"),
            ("PLUGIN_TAG_IMMUTABILITY", "true"),
        ])
        .unwrap();
        assert!(s.password.is_empty() && s.username.is_empty());
        // Assume role is kept next to static keys.
        assert_eq!(f.auth.access_key, "AKIAEXAMPLE");
        assert_eq!(f.auth.assume_role, "arn:aws:iam::123456789012:role/ci");
        assert_eq!(f.auth.external_id, "ext-1");
        assert_eq!(f.tag_immutability, Some(true));
    }

    #[test]
    fn tokens_decode_and_are_masked() {
        let token = STANDARD.encode("AWS:eyJwYXlsb2FkIjoidGVzdC1wYXNzd29yZCJ9");
        let (user, pass) = decode_token(&token).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(pass.expose(), "eyJwYXlsb2FkIjoidGVzdC1wYXNzd29yZCJ9");
        assert_eq!(
            crate::secret::mask(&format!("t={token} p={}", pass.expose())),
            "t=****** p=******"
        );
        assert!(decode_token("!!").is_err());
        assert!(decode_token(&STANDARD.encode("nocolon")).is_err());
    }
}
