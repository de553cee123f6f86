//! The GCS backend of the upload engine (reference upload-plugins §5): the anchor's file
//! selection and object naming with its bugs fixed, the credentials, and the [`Destination`].
//!
//! **Naming.** Each `source` item has a *base*: a file's directory, a directory itself, or for a
//! glob its fixed leading directory (the segments before the first `*`, `?` or `[`). An object
//! is named `prefix/<path relative to the base>`, so `dist/**` keeps `css/a.css` (the anchor
//! re-based on every matched directory and flattened the first level, colliding `a/x.js` with
//! `b/x.js`). `**` matches at every depth (a trailing `**` is everything under), `*` one
//! segment, `?` one character, `[…]` a class, `{a,b}` alternatives. Ignore patterns use the same
//! syntax against the same relative path; one that matches a directory ignores all under it.
//! A single literal file with a prefix not ending in `/` is uploaded *as* the prefix (the
//! anchor's rename); a bucket-only target names objects by their relative path (the anchor
//! made an empty name). Two files mapping to one name are an error naming both.
//!
//! **Wire.** Objects below the resumable threshold are written with the official
//! `google-cloud-storage` crate (`write_object`, single-shot multipart, our CRC32C + MD5 passed
//! as known checksums so the service validates them). Larger ones use a resumable session over
//! the JSON API with reqwest, declaring our CRC32C only (the service computes the MD5; an MD5 of
//! a large file would cost ~1.3 s of CPU per GiB before the first byte is sent, and CRC32C is
//! what GCS itself recommends for integrity): the crate sets `Host` without the port (gax-internal
//! `host::header`), so against any endpoint that builds the session URL from `Host` (the
//! emulator) its session URL points at port 80. Listing, metadata reads and downloads also use
//! the JSON API: the crate lists only over gRPC, and its `read_object` requires an
//! `x-goog-generation` header the emulator does not send (cloud-crate-facts §3).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tracing::{info, warn};

use crate::gcp_auth::{
    self, AccessToken, Creds, Federation, GcpError, ID_TOKEN_TYPE, Subject, check_id, creds,
    decode_key, endpoint, gcloud_adc_file, join, parse_creds,
};
use crate::secret::Secret;
use crate::settings::{Env, SettingsError};
use crate::upload::glob::{Matcher, clean_path};
use crate::upload::keys::{KeyMapper, check_collisions};
use crate::upload::select::select;
use crate::upload::transfer::{Destination, Item, Progress, Remote, SHA256_META, TransferError};

/// URLs as the settings parse them, and the CA certificates of [`GcsOptions::extra_roots`].
pub use reqwest::{Certificate, Url};

/// Google's endpoint (JSON API and uploads).
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// Objects at or above this size go through a resumable session.
pub const RESUMABLE_THRESHOLD: u64 = 8 * 1024 * 1024;
/// GCS's limit on object names, in bytes of UTF-8.
const MAX_NAME: usize = 1024;
/// Metadata holding the size before compression of a gzip-encoded object.
pub const ORIGINAL_SIZE_META: &str = "longshore-original-size";
/// The most of a JSON answer (a listing page, an object's metadata) we read: a page of 1000
/// objects with metadata is well under 8 MiB; a larger answer is a broken or hostile server.
const MAX_JSON: usize = 32 * 1024 * 1024;
/// The most of an error body we read; the message is cut to 300 characters anyway.
const MAX_ERROR_BODY: usize = 8 * 1024;
/// A gzip-encoded object without a stated original size decodes to at most this many times its
/// stored size (and at least [`MIN_GUNZIP_CAP`]): text compresses 5-20×, a gzip bomb 1000×.
const MAX_GUNZIP_RATIO: u64 = 200;
/// The decoded size always allowed, whatever the stored size.
const MIN_GUNZIP_CAP: u64 = 64 * 1024 * 1024;

// ------------------------------------------------------------------ target, globs, names

/// `bucket[/path]` → (bucket, path): the anchor's `extractBucketName`, path kept as written.
pub fn split_target(target: &str) -> (String, String) {
    let t = target.trim().trim_start_matches('/');
    match t.split_once('/') {
        Some((b, p)) => (b.to_string(), p.to_string()),
        None => (t.to_string(), String::new()),
    }
}

/// True when `pattern` is a glob by the anchor's rule: it has `*`, `?` or `[`.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The anchor's syntax in the engine's: `?` is one character (`[!/]`), a trailing `**` is
/// everything under (`**/*`), and a pattern whose only wildcards are classes is wrapped in a
/// one-way `{…}` so the engine treats it as a glob rather than a literal path.
fn engine_pattern(pattern: &str) -> String {
    // Segment by segment: a class never spans a `/`, and the last segment is what gets wrapped.
    let mut segments: Vec<String> = pattern.split('/').map(engine_segment).collect();
    if segments.last().is_some_and(|l| l == "**") {
        segments.push("*".into());
    }
    if !segments.iter().any(|s| s.contains(['*', '{']))
        && let Some(last) = segments.last_mut()
    {
        *last = format!("{{{last}}}");
    }
    segments.join("/")
}

/// One segment: `?` outside a class becomes `[!/]`.
fn engine_segment(segment: &str) -> String {
    let mut out = String::new();
    let mut in_class = false;
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '?' if !in_class => out.push_str("[!/]"),
            _ => out.push(c),
        }
    }
    out
}

/// The fixed leading directory of a glob (`.` when its first segment has a wildcard).
fn glob_base(pattern: &str) -> String {
    let cleaned = clean_path(pattern);
    let rooted = cleaned.starts_with('/');
    let fixed: Vec<&str> = cleaned
        .split('/')
        .take_while(|seg| !is_glob(seg) && !seg.contains(['{', '\\']))
        .collect();
    let joined = fixed.join("/");
    match (rooted, joined.is_empty()) {
        (true, true) => "/".into(),
        (_, false) => joined,
        (false, true) => ".".into(),
    }
}

/// One file to upload and its object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The absolute path, to open.
    pub path: PathBuf,
    /// The path as the source reached it, for the log and the header rules.
    pub shown: String,
    /// Its path relative to its source's base (what `ignore` is matched against).
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// The object name.
    pub name: String,
}

/// Why no upload plan could be made. One line naming the source, pattern or name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No source item.
    #[error("no source given")]
    NoSource,
    /// A literal source that does not exist.
    #[error("source path '{0}' does not exist")]
    NotFound(String),
    /// A glob that matched nothing.
    #[error("glob pattern '{0}' matched no files or directories")]
    NoMatch(String),
    /// A pattern that cannot be used, or a directory that cannot be read.
    #[error("{0}")]
    Select(String),
    /// An ignore pattern that cannot be used.
    #[error("ignore pattern '{pattern}': {reason}")]
    Ignore {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// An object name GCS would refuse, or two files for one name.
    #[error("{0}")]
    Name(String),
}

/// Compiled ignore patterns.
pub struct Ignore(Vec<Matcher>);

impl Ignore {
    /// Compiles the patterns (empty items skipped).
    pub fn new(patterns: &[String]) -> Result<Ignore, PlanError> {
        patterns
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let pat = if is_glob(p) {
                    engine_pattern(p)
                } else {
                    p.replace('{', "\\{")
                };
                Matcher::new(&pat).map_err(|e| PlanError::Ignore {
                    pattern: p.to_string(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Ignore)
    }

    /// True when a pattern matches `rel` or one of its directories.
    pub fn matches(&self, rel: &str) -> bool {
        let mut dir = rel;
        loop {
            if self.0.iter().any(|m| m.is_match(dir)) {
                return true;
            }
            match dir.rfind('/') {
                Some(i) => dir = &dir[..i],
                None => return false,
            }
        }
    }
}

/// Selects the files of every source and names their objects under `prefix` (the part of
/// `target` after the bucket). See the module docs for the rules.
pub fn plan(
    sources: &[String],
    ignore: &[String],
    prefix: &str,
    cwd: &Path,
) -> Result<Vec<Planned>, PlanError> {
    let sources: Vec<&str> = sources
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if sources.is_empty() {
        return Err(PlanError::NoSource);
    }
    let ignore = Ignore::new(ignore)?;
    let cwd_abs = std::path::absolute(cwd).map_err(|e| PlanError::Select(e.to_string()))?;
    let cwd_str = clean_path(&cwd_abs.to_string_lossy());
    let absolute = |p: &str| {
        if p.starts_with('/') {
            clean_path(p)
        } else {
            clean_path(&format!("{cwd_str}/{p}"))
        }
    };
    let mut seen = HashSet::new();
    let mut out: Vec<Planned> = Vec::new();
    let mut single_file_source = false;
    for source in &sources {
        let (pattern, base) = if is_glob(source) {
            (engine_pattern(source), absolute(&glob_base(source)))
        } else {
            let abs = absolute(source);
            let meta =
                std::fs::metadata(&abs).map_err(|_| PlanError::NotFound(source.to_string()))?;
            let base = if meta.is_dir() {
                abs.clone()
            } else {
                single_file_source = sources.len() == 1;
                Path::new(&abs)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into())
            };
            // The engine reads `{` as alternation; a literal path means it literally.
            (source.replace('{', "\\{"), base)
        };
        let selection =
            select(&[pattern], &[], cwd, false).map_err(|e| PlanError::Select(e.to_string()))?;
        for w in &selection.warnings {
            if !w.contains("matched no files") {
                warn!("{w}");
            }
        }
        if selection.files.is_empty() {
            return Err(PlanError::NoMatch(source.to_string()));
        }
        for f in selection.files {
            let abs = f.abs.to_string_lossy().into_owned();
            let rel = match abs.strip_prefix(&base) {
                Some(r) => r.trim_start_matches('/').to_string(),
                None => continue,
            };
            if rel.is_empty() || ignore.matches(&rel) || !seen.insert(f.abs.clone()) {
                continue;
            }
            out.push(Planned {
                path: f.abs,
                shown: f.path.to_string_lossy().into_owned(),
                rel,
                size: f.size,
                name: String::new(),
            });
        }
    }
    let mapper = KeyMapper::new(prefix, "").map_err(|e| PlanError::Name(e.to_string()))?;
    let rename =
        single_file_source && out.len() == 1 && !prefix.is_empty() && !prefix.ends_with('/');
    for p in &mut out {
        p.name = if rename {
            // KeyMapper::new already refused a prefix climbing out with '..'.
            clean_path(prefix.trim_start_matches('/'))
        } else {
            mapper
                .key(Path::new(&p.rel), &p.path)
                .map_err(|e| PlanError::Name(e.to_string()))?
                .key
        };
        check_name(&p.name)?;
    }
    let pairs: Vec<(PathBuf, String)> = out
        .iter()
        .map(|p| (p.path.clone(), p.name.clone()))
        .collect();
    check_collisions(&pairs).map_err(|e| PlanError::Name(e.to_string()))?;
    Ok(out)
}

/// GCS's naming rules (<https://cloud.google.com/storage/docs/objects#naming>).
fn check_name(name: &str) -> Result<(), PlanError> {
    let bad = |why: &str| Err(PlanError::Name(format!("object name '{name}' {why}")));
    if name.is_empty() || name == "." || name == ".." {
        return bad("is not allowed");
    }
    if name.len() > MAX_NAME {
        return bad("is longer than 1024 bytes");
    }
    if name.contains(['\r', '\n']) {
        return bad("contains a line break");
    }
    if name.starts_with(".well-known/acme-challenge/") {
        return bad("is reserved by GCS");
    }
    Ok(())
}

/// `entity:role` items → pairs. Roles are the object ACL roles; entities are GCS's forms.
pub fn parse_acl(items: &[String]) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (entity, role) = item
                .rsplit_once(':')
                .ok_or_else(|| format!("'{item}' is not entity:role"))?;
            let role = role.trim().to_ascii_uppercase();
            if role != "READER" && role != "OWNER" {
                return Err(format!("'{item}': role must be READER or OWNER"));
            }
            let entity = entity.trim();
            let ok = matches!(entity, "allUsers" | "allAuthenticatedUsers")
                || ["user-", "group-", "domain-", "project-"]
                    .iter()
                    .any(|p| entity.len() > p.len() && entity.starts_with(p))
                || (entity.contains('@') && !entity.contains(char::is_whitespace));
            if !ok {
                return Err(format!(
                    "'{item}': entity must be allUsers, allAuthenticatedUsers, user-/group-/domain-/project-…, or an e-mail"
                ));
            }
            // The anchor accepted a bare e-mail (user@domain.com:OWNER) for a user.
            let entity = if entity.contains('@')
                && !["user-", "group-"].iter().any(|p| entity.starts_with(p))
            {
                format!("user-{entity}")
            } else {
                entity.to_string()
            };
            Ok((entity, role))
        })
        .collect()
}

/// True when `name`'s extension (without the dot, case-insensitive) is in `exts`.
pub fn gzip_wanted(exts: &[String], name: &str) -> bool {
    let Some(ext) = Path::new(name).extension().and_then(|e| e.to_str()) else {
        return false;
    };
    exts.iter()
        .any(|e| e.trim().trim_start_matches('.').eq_ignore_ascii_case(ext))
}

/// The content type of an object name: the engine's table, with JavaScript as RFC 9239's
/// `text/javascript` (what the anchor's Go table says).
pub fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("js") || e.eq_ignore_ascii_case("mjs") => {
            "text/javascript"
        }
        _ => crate::upload::headers::content_type(name),
    }
}

// ----------------------------------------------------------------------------- credentials

/// The credential settings, as the plugin read them.
pub struct AuthSettings {
    /// `PLUGIN_TOKEN` / `GOOGLE_CREDENTIALS` / `TOKEN` with the variable that set it.
    pub token: Option<(&'static str, Secret)>,
    /// `PLUGIN_JSON_KEY`.
    pub json_key: Secret,
    /// The five workload identity settings.
    pub oidc_token_id: Secret,
    /// Project number of the pool.
    pub project_number: String,
    /// Pool id.
    pub pool_id: String,
    /// Provider id.
    pub provider_id: String,
    /// Service account to impersonate.
    pub service_account_email: String,
    /// STS base URL.
    pub sts_endpoint: String,
    /// IAM credentials base URL.
    pub iam_endpoint: String,
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub application_credentials: String,
    /// `GCE_METADATA_HOST`.
    pub metadata_host: String,
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
    let wif = crate::gcp_auth::workload_identity_given(env)?;
    let sts = endpoint("PLUGIN_STS_ENDPOINT", &s.sts_endpoint)?;
    let iam = endpoint("PLUGIN_IAM_ENDPOINT", &s.iam_endpoint)?;
    let (source, label) = if wif {
        let email = s.service_account_email.trim();
        check_id(
            "PLUGIN_PROJECT_NUMBER",
            &s.project_number,
            |b| b.is_ascii_digit(),
            "digits",
        )?;
        let id = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        check_id(
            "PLUGIN_POOL_ID",
            &s.pool_id,
            id,
            "lower-case letters, digits and -",
        )?;
        check_id(
            "PLUGIN_PROVIDER_ID",
            &s.provider_id,
            id,
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
        let f = Federation {
            subject: Subject::Given(s.oidc_token_id.clone()),
            subject_token_type: ID_TOKEN_TYPE.into(),
            audience: format!(
                "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
                s.project_number.trim(),
                s.pool_id.trim(),
                s.provider_id.trim()
            ),
            token_url: join(&sts, "/v1/token"),
            impersonation_url: Some(join(
                &iam,
                &format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken"),
            )),
        };
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
    } else if !s.application_credentials.trim().is_empty() {
        let var = "GOOGLE_APPLICATION_CREDENTIALS";
        let path = s.application_credentials.trim();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::invalid(var, format!("cannot read {path}: {e}")))?;
        let text = Secret::new(text);
        let file = parse_creds(var, text.expose())?;
        (
            Some(Source::Creds(Box::new(creds(var, file)?))),
            var.to_string(),
        )
    } else if let Some(path) = gcloud_adc_file(env)
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        let var = "the gcloud application default credentials file";
        let text = Secret::new(text);
        let file = parse_creds(var, text.expose())?;
        (
            Some(Source::Creds(Box::new(creds(var, file)?))),
            var.to_string(),
        )
    } else {
        let host = s.metadata_host.trim();
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
        (
            Some(Source::Metadata(host.to_string())),
            "the metadata server (application default credentials)".to_string(),
        )
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
struct CrateCredentials(Arc<GcsAuth>);

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

// ----------------------------------------------------------------------------- destination

/// Per-run options of the destination.
#[derive(Debug, Clone)]
pub struct GcsOptions {
    /// JSON API base URL (no trailing `/`).
    pub endpoint: String,
    /// Object ACL entries `(entity, role)`.
    pub acl: Vec<(String, String)>,
    /// Extensions (no dot) compressed with gzip on upload.
    pub gzip: Vec<String>,
    /// Objects at or above this size use a resumable session; 0 sends everything that way
    /// (used when a proxy is configured by settings, which the crate's client cannot take).
    pub resumable_threshold: u64,
    /// Objects per listing page.
    pub page_size: u32,
    /// Proxies from `PLUGIN_ENABLE_PROXY` (`http`, `https`, `no_proxy`).
    pub proxy: Option<(Option<String>, Option<String>, Option<String>)>,
    /// The certificates of `SSL_CERT_FILE`, trusted by our JSON API client beside its built-in
    /// roots (the crate's client reads the variable itself).
    pub extra_roots: Vec<reqwest::Certificate>,
}

/// What a listing says of an object, kept for the download's integrity check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ObjectJson {
    name: String,
    size: String,
    crc32c: String,
    md5_hash: String,
    content_encoding: String,
    metadata: BTreeMap<String, String>,
}

/// A GCS bucket.
pub struct Gcs {
    storage: google_cloud_storage::client::Storage,
    http: reqwest::Client,
    auth: Arc<GcsAuth>,
    bucket: String,
    opts: GcsOptions,
    /// Key → local file, so `head` can compare a stored CRC32C with the local one.
    local: HashMap<String, (PathBuf, bool)>,
    /// What the listing said, for `get`.
    listed: Mutex<HashMap<String, ObjectJson>>,
}

/// A request's failure: the message and whether to retry it.
struct Failure {
    reason: String,
    transient: bool,
    status: Option<u16>,
}

impl Gcs {
    /// A destination for `bucket`. `local` maps each object name to its file (and whether it is
    /// gzipped on upload). Builds the clients; no request is made.
    pub async fn new(
        bucket: &str,
        auth: Arc<GcsAuth>,
        opts: GcsOptions,
        local: HashMap<String, (PathBuf, bool)>,
    ) -> Result<Arc<Gcs>, String> {
        use google_cloud_gax::retry_policy::RetryPolicyExt as _;
        let policy = crate::retry::policy();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .no_gzip()
            .user_agent(concat!("longshore-gcs/", env!("CARGO_PKG_VERSION")));
        if let Some((http_p, https_p, no)) = &opts.proxy {
            let no = reqwest::NoProxy::from_string(no.as_deref().unwrap_or(""));
            if let Some(p) = http_p {
                b = b.proxy(
                    reqwest::Proxy::http(p.as_str())
                        .map_err(|e| format!("HARNESS_HTTP_PROXY: {e}"))?
                        .no_proxy(no.clone()),
                );
            }
            if let Some(p) = https_p {
                b = b.proxy(
                    reqwest::Proxy::https(p.as_str())
                        .map_err(|e| format!("HARNESS_HTTPS_PROXY: {e}"))?
                        .no_proxy(no),
                );
            }
        }
        for c in &opts.extra_roots {
            b = b.add_root_certificate(c.clone());
        }
        let http = b.build().map_err(|e| crate::error::one_line(&e))?;
        let mut sb = google_cloud_storage::client::Storage::builder()
            // The crate retries the object writes itself: with our attempts, waits and time.
            .with_retry_policy(
                google_cloud_storage::retry_policy::RetryableErrors
                    .with_attempt_limit(policy.attempts)
                    .with_time_limit(policy.max_time),
            )
            .with_backoff_policy(
                google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
                    .with_initial_delay(policy.base)
                    .with_maximum_delay(policy.cap)
                    .build()
                    .map_err(|e| crate::error::one_line(&e))?,
            )
            .with_resumable_upload_threshold(usize::MAX);
        if opts.endpoint != DEFAULT_ENDPOINT {
            sb = sb.with_endpoint(opts.endpoint.clone());
        }
        sb = if auth.is_anonymous() {
            sb.with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        } else {
            sb.with_credentials(google_cloud_auth::credentials::Credentials::from(
                CrateCredentials(auth.clone()),
            ))
        };
        // The crate's gRPC channel (built for any https endpoint, Google's included) asks rustls
        // for the process-wide provider, which rustls cannot choose when both of its providers
        // are linked (reqwest brings ring, the Google crates aws-lc): it panicked. Pick aws-lc,
        // the one the crate's HTTP client uses; `Err` only means one is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let storage = sb.build().await.map_err(|e| crate::error::one_line(&e))?;
        Ok(Arc::new(Gcs {
            storage,
            http,
            auth,
            bucket: bucket.to_string(),
            opts,
            local,
            listed: Mutex::new(HashMap::new()),
        }))
    }

    fn terr(&self, key: &str, f: Failure) -> TransferError {
        // rustls's text for every verification failure: every request would fail the same way.
        let untrusted = f.reason.contains("invalid peer certificate");
        let fatal = untrusted
            || matches!(f.status, Some(401 | 403))
            || (f.status == Some(404) && f.reason.contains("ucket"));
        let mut reason = f.reason;
        if untrusted {
            reason.push_str(
                " (the endpoint's TLS certificate is not trusted: set SSL_CERT_FILE to a PEM file holding its CA)",
            );
        }
        TransferError {
            key: key.to_string(),
            reason,
            fatal,
        }
    }

    fn object_url(&self, name: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.opts.endpoint,
            enc(&self.bucket),
            enc(name)
        )
    }

    /// Sends a request (rebuilt per attempt, with a fresh token) under the one retry policy
    /// (408 / 429 / 5xx and connection failures). Returns the final response, whatever its
    /// status, unless it is a transient failure on the last attempt.
    async fn send(
        &self,
        req: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        let mut tries = crate::retry::policy().start();
        loop {
            let mut r = req();
            match self.auth.token().await {
                Ok(Some(t)) => r = r.bearer_auth(t.expose()),
                Ok(None) => {}
                Err(e) => {
                    return Err(Failure {
                        reason: e.to_string(),
                        transient: false,
                        status: Some(401),
                    });
                }
            }
            let (why, after) = match r.send().await {
                Ok(resp) if !crate::retry::transient_status(resp.status().as_u16()) => {
                    return Ok(resp);
                }
                Ok(resp) => (
                    format!("HTTP {}", resp.status().as_u16()),
                    crate::retry::retry_after(resp.headers()),
                ),
                Err(e) => {
                    let f = Failure {
                        reason: crate::error::one_line(&e),
                        transient: crate::retry::transient_transport(&e),
                        status: None,
                    };
                    if !f.transient {
                        return Err(f);
                    }
                    (f.reason, None)
                }
            };
            if !tries.pause("gcs", &why, after).await {
                return Err(Failure {
                    reason: tries.exhausted(&why),
                    transient: true,
                    status: None,
                });
            }
        }
    }

    /// Reads a JSON API answer: the body as `T` on 2xx, else GCS's error message.
    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, Failure> {
        let status = resp.status().as_u16();
        let ok = (200..300).contains(&status);
        let cap = if ok { MAX_JSON } else { MAX_ERROR_BODY };
        let (text, cut) = crate::http_body::read_capped(resp, cap)
            .await
            .map_err(|e| Failure {
                reason: crate::error::one_line(&e),
                transient: true,
                status: None,
            })?;
        if !ok {
            return Err(api_error(status, &String::from_utf8_lossy(&text)));
        }
        if cut {
            return Err(Failure {
                reason: format!("unexpected answer: larger than {} MiB", MAX_JSON >> 20),
                transient: false,
                status: Some(status),
            });
        }
        serde_json::from_slice(&text).map_err(|e| Failure {
            reason: format!("unexpected answer: {e}"),
            transient: false,
            status: Some(status),
        })
    }

    async fn put_small(
        &self,
        item: &Item,
        path: &Path,
        size: u64,
        sums: Sums,
    ) -> Result<(), TransferError> {
        let mut tries = crate::retry::policy().start();
        let obj = loop {
            let file = crate::upload::local_fs::open_selected_async(path)
                .await
                .map_err(|e| TransferError {
                    key: item.key.clone(),
                    reason: format!("cannot read {}: {e}", path.display()),
                    fatal: false,
                })?;
            let h = &item.headers;
            let mut w = self
                .storage
                .write_object(
                    format!("projects/_/buckets/{}", self.bucket),
                    &item.key,
                    file,
                )
                .set_content_type(&h.content_type)
                .set_metadata(h.metadata.clone())
                .with_known_crc32c(sums.0)
                // An upload of the same bytes to the same name is idempotent for us: retry it.
                .with_idempotency(true);
            if let Some(m) = sums.1 {
                w = w.with_known_md5_hash(m);
            }
            if let Some(v) = &h.cache_control {
                w = w.set_cache_control(v);
            }
            if let Some(v) = &h.content_encoding {
                w = w.set_content_encoding(v);
            }
            if !self.opts.acl.is_empty() {
                w = w.set_acl(self.opts.acl.iter().map(|(e, r)| {
                    google_cloud_storage::model::ObjectAccessControl::new()
                        .set_entity(e)
                        .set_role(r)
                }));
            }
            match w.send_unbuffered().await {
                Ok(obj) => break obj,
                // The client retries what failed before an answer, not an answer cut short (it
                // cannot read it): the object may or may not be stored, and resending the same
                // bytes (checked by their CRC32C and MD5) to the same name is safe.
                Err(e)
                    if e.is_deserialization()
                        && tries
                            .pause(&item.key, &crate::error::one_line(&e), None)
                            .await => {}
                Err(e) => {
                    return Err(self.terr(
                        &item.key,
                        Failure {
                            reason: crate::error::one_line(&e),
                            transient: false,
                            status: e.http_status_code(),
                        },
                    ));
                }
            }
        };
        let crc = obj.checksums.as_ref().and_then(|c| c.crc32c);
        let md5 = obj.checksums.as_ref().map(|c| c.md5_hash.to_vec());
        verify(
            &item.key,
            size,
            obj.size.max(0) as u64,
            crc,
            md5.as_deref(),
            sums,
        )
    }

    /// A resumable session: started with the object's metadata and our checksums (the service
    /// refuses to finalise an object whose bytes do not match), the file streamed from disk in
    /// one PUT, and on a transient failure the persisted offset queried and the rest resent.
    /// A session given up on is cancelled, so no object is created.
    async fn put_resumable(
        &self,
        item: &Item,
        path: &Path,
        size: u64,
        sums: Sums,
        progress: &Progress,
    ) -> Result<(), TransferError> {
        let h = &item.headers;
        let mut resource = serde_json::json!({
            "name": item.key,
            "contentType": h.content_type,
            "crc32c": STANDARD.encode(sums.0.to_be_bytes()),
        });
        if let Some(m) = sums.1 {
            resource["md5Hash"] = STANDARD.encode(m).into();
        }
        if let Some(v) = &h.cache_control {
            resource["cacheControl"] = v.clone().into();
        }
        if let Some(v) = &h.content_encoding {
            resource["contentEncoding"] = v.clone().into();
        }
        if !h.metadata.is_empty() {
            resource["metadata"] = serde_json::to_value(&h.metadata).unwrap_or_default();
        }
        if !self.opts.acl.is_empty() {
            resource["acl"] = self
                .opts
                .acl
                .iter()
                .map(|(e, r)| serde_json::json!({"entity": e, "role": r}))
                .collect();
        }
        let start = format!(
            "{}/upload/storage/v1/b/{}/o",
            self.opts.endpoint,
            enc(&self.bucket)
        );
        let resp = self
            .send(|| {
                self.http
                    .post(&start)
                    .query(&[("uploadType", "resumable"), ("name", item.key.as_str())])
                    .header("X-Upload-Content-Type", &h.content_type)
                    .header("X-Upload-Content-Length", size)
                    .json(&resource)
            })
            .await
            .map_err(|f| self.terr(&item.key, f))?;
        let status = resp.status().as_u16();
        let session = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let session = match (status, session) {
            (200..=299, Some(s)) => s,
            _ => {
                let text = resp.text().await.unwrap_or_default();
                return Err(self.terr(&item.key, api_error(status, &text)));
            }
        };
        let mut offset = 0u64;
        let mut tries = crate::retry::policy().start();
        loop {
            let result = self.send_rest(&session, path, offset, size, progress).await;
            let failure = match result {
                Ok(Some(obj)) => {
                    let crc = decode_crc(&obj.crc32c);
                    let md5 = STANDARD.decode(&obj.md5_hash).ok();
                    let stored = obj.size.parse().unwrap_or(0);
                    return verify(&item.key, size, stored, crc, md5.as_deref(), sums);
                }
                Ok(None) => Failure {
                    reason: "the session is not complete".into(),
                    transient: true,
                    status: Some(308),
                },
                Err(f) => f,
            };
            if !failure.transient || !tries.pause(&item.key, &failure.reason, None).await {
                self.cancel(&session).await;
                return Err(self.terr(&item.key, failure));
            }
            match self.query(&session, size).await {
                Ok(Ok(persisted)) => {
                    // Bytes got through: the next failure is a new one, with the full policy
                    // (a long upload must not lose its retries to the time it took).
                    if persisted > offset {
                        tries = crate::retry::policy().start();
                    }
                    offset = persisted;
                }
                Ok(Err(obj)) => {
                    let crc = decode_crc(&obj.crc32c);
                    let md5 = STANDARD.decode(&obj.md5_hash).ok();
                    let stored = obj.size.parse().unwrap_or(0);
                    return verify(&item.key, size, stored, crc, md5.as_deref(), sums);
                }
                Err(f) => {
                    self.cancel(&session).await;
                    return Err(self.terr(&item.key, f));
                }
            }
        }
    }

    /// PUTs bytes `offset..size` of the file. `Some(object)` when the upload is complete.
    async fn send_rest(
        &self,
        session: &str,
        path: &Path,
        offset: u64,
        size: u64,
        progress: &Progress,
    ) -> Result<Option<ObjectJson>, Failure> {
        let local = |e: std::io::Error| Failure {
            reason: format!("cannot read {}: {e}", path.display()),
            transient: false,
            status: None,
        };
        let mut file = crate::upload::local_fs::open_selected_async(path)
            .await
            .map_err(local)?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(local)?;
        let len = size - offset;
        let range = if size == 0 {
            "bytes */0".to_string()
        } else {
            format!("bytes {offset}-{}/{size}", size - 1)
        };
        let stream = futures_util::stream::unfold((file, len), move |(mut f, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; (256 * 1024).min(left as usize)];
            match f.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while uploading",
                    )),
                    (f, 0),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), (f, left - n as u64)))
                }
                Err(e) => Some((Err(e), (f, 0))),
            }
        });
        // The body must be 'static: its byte counts reach `progress` through a channel.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let counted = stream.inspect(move |c| {
            if let Ok(b) = c {
                let _ = tx.send(b.len() as u64);
            }
        });
        let mut req = self
            .http
            .put(session)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_RANGE, range)
            .body(reqwest::Body::wrap_stream(counted));
        if let Some(t) = self.auth.token().await.map_err(|e| Failure {
            reason: e.to_string(),
            transient: false,
            status: Some(401),
        })? {
            req = req.bearer_auth(t.expose());
        }
        let mut sending = std::pin::pin!(req.send());
        let sent = loop {
            tokio::select! {
                r = &mut sending => break r,
                Some(n) = rx.recv() => progress.add(n),
            }
        };
        while let Ok(n) = rx.try_recv() {
            progress.add(n);
        }
        let resp = sent.map_err(|e| Failure {
            reason: crate::error::one_line(&e),
            transient: true,
            status: None,
        })?;
        let status = resp.status().as_u16();
        match status {
            200 | 201 => Ok(Some(Self::json(resp).await?)),
            308 => Ok(None),
            _ => {
                let text = resp.text().await.unwrap_or_default();
                let mut f = api_error(status, &text);
                f.transient = status == 408 || status == 429 || status >= 500;
                Err(f)
            }
        }
    }

    /// The persisted offset of a session (`Ok(Ok(n))`), or its object when already complete.
    async fn query(&self, session: &str, size: u64) -> Result<Result<u64, ObjectJson>, Failure> {
        let resp = self
            .send(|| {
                self.http
                    .put(session)
                    .header(reqwest::header::CONTENT_LENGTH, 0)
                    .header(reqwest::header::CONTENT_RANGE, format!("bytes */{size}"))
            })
            .await?;
        match resp.status().as_u16() {
            200 | 201 => Ok(Err(Self::json(resp).await?)),
            308 => Ok(Ok(resp
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.rsplit('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .map(|last| last + 1)
                .unwrap_or(0))),
            s => {
                let text = resp.text().await.unwrap_or_default();
                Err(api_error(s, &text))
            }
        }
    }

    async fn cancel(&self, session: &str) {
        let r = self.send(|| self.http.delete(session)).await;
        match r {
            // GCS answers 499 to a cancelled session.
            Ok(resp) if resp.status().as_u16() == 499 || resp.status().is_success() => {
                info!("cancelled the resumable upload: no object was created")
            }
            Ok(resp) => warn!(
                "could not cancel the resumable upload: HTTP {}",
                resp.status().as_u16()
            ),
            Err(f) => warn!("could not cancel the resumable upload: {}", f.reason),
        }
    }
}

/// GCS's error JSON (`{"error":{"code":…,"message":…}}`) on one line.
fn api_error(status: u16, body: &str) -> Failure {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    Failure {
        reason: crate::retry::refused(status, &msg),
        transient: crate::retry::transient_status(status),
        status: Some(status),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a path segment or query).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_crc(b64: &str) -> Option<u32> {
    let b = STANDARD.decode(b64).ok()?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Compares what the service stored with what we sent.
fn verify(
    key: &str,
    size: u64,
    stored_size: u64,
    crc: Option<u32>,
    md5: Option<&[u8]>,
    sums: Sums,
) -> Result<(), TransferError> {
    let err = |reason: String| {
        Err(TransferError {
            key: key.to_string(),
            reason,
            fatal: false,
        })
    };
    if stored_size != size {
        return err(format!("stored {stored_size} bytes, sent {size}"));
    }
    if let Some(c) = crc
        && c != sums.0
    {
        return err(format!(
            "stored CRC32C {c:08x} does not match the local {:08x}",
            sums.0
        ));
    }
    if let (Some(m), Some(local)) = (md5, sums.1)
        && !m.is_empty()
        && m != local
    {
        return err("stored MD5 does not match the local MD5".into());
    }
    Ok(())
}

/// A file's CRC32C, and its MD5 when asked for.
pub type Sums = (u32, Option<[u8; 16]>);

/// The CRC32C of a file (and its MD5 when `with_md5`), streamed.
pub async fn checksums(path: &Path, with_md5: bool) -> std::io::Result<Sums> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use md5::Digest as _;
        use std::io::Read as _;
        let mut f = crate::upload::local_fs::open_selected(&path)?;
        let mut crc = 0u32;
        let mut md5 = with_md5.then(md5::Md5::new);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            if let Some(h) = md5.as_mut() {
                h.update(&buf[..n]);
            }
        }
        Ok((crc, md5.map(|h| h.finalize().into())))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Gzips `path` into a temporary file (deleted when dropped).
async fn gzip_file(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut input = crate::upload::local_fs::open_selected(&path)?;
        let tmp = tempfile::Builder::new()
            .prefix(".longshore-gzip-")
            .tempfile()?;
        let mut enc = flate2::write::GzEncoder::new(tmp.reopen()?, flate2::Compression::default());
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_all()?;
        Ok(tmp)
    })
    .await
    .map_err(std::io::Error::other)?
}

impl Destination for Gcs {
    fn describe(&self) -> String {
        format!("gs://{}", self.bucket)
    }

    fn url(&self, key: &str) -> String {
        let name = key.split('/').map(enc).collect::<Vec<_>>().join("/");
        if self.opts.endpoint == DEFAULT_ENDPOINT {
            format!("https://storage.googleapis.com/{}/{name}", self.bucket)
        } else {
            format!("{}/{}/{name}", self.opts.endpoint, self.bucket)
        }
    }

    async fn head(&self, key: &str) -> Result<Option<Remote>, TransferError> {
        let url = self.object_url(key);
        let resp = self
            .send(|| self.http.get(&url))
            .await
            .map_err(|f| self.terr(key, f))?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let obj: ObjectJson = Self::json(resp).await.map_err(|f| self.terr(key, f))?;
        let mut size = obj.size.parse().unwrap_or(0);
        if obj.content_encoding.eq_ignore_ascii_case("gzip")
            && let Some(original) = obj.metadata.get(ORIGINAL_SIZE_META)
        {
            size = original.parse().unwrap_or(size);
        }
        let mut sha256 = obj.metadata.get(SHA256_META).cloned();
        // Stored by another tool (or the anchor): the service's CRC32C decides.
        if sha256.is_none()
            && let Some((path, false)) = self.local.get(key)
            && let Some(remote_crc) = decode_crc(&obj.crc32c)
            && let Ok((crc, _)) = checksums(path, false).await
            && crc == remote_crc
        {
            sha256 = crate::upload::transfer::sha256_file(path).await.ok();
        }
        Ok(Some(Remote {
            key: key.to_string(),
            size,
            sha256,
        }))
    }

    async fn put(&self, item: &Item, progress: &Progress) -> Result<(), TransferError> {
        let local_err = |e: std::io::Error| TransferError {
            key: item.key.clone(),
            reason: format!("cannot read {}: {e}", item.path.display()),
            fatal: false,
        };
        let gz = if gzip_wanted(&self.opts.gzip, &item.key) {
            Some(gzip_file(&item.path).await.map_err(local_err)?)
        } else {
            None
        };
        let mut item = item.clone();
        let path = match &gz {
            Some(t) => {
                item.headers.content_encoding = Some("gzip".into());
                // The stored size is the compressed one: keep the original for skip-unchanged.
                item.headers
                    .metadata
                    .insert(ORIGINAL_SIZE_META.into(), item.size.to_string());
                t.path().to_path_buf()
            }
            None => item.path.clone(),
        };
        let size = tokio::fs::metadata(&path).await.map_err(local_err)?.len();
        let resumable =
            size >= self.opts.resumable_threshold.max(1) || self.opts.resumable_threshold == 0;
        let sums = checksums(&path, !resumable).await.map_err(local_err)?;
        if resumable {
            self.put_resumable(&item, &path, size, sums, progress).await
        } else {
            self.put_small(&item, &path, size, sums).await?;
            progress.add(size);
            Ok(())
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Remote>, TransferError> {
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Page {
            items: Vec<ObjectJson>,
            next_page_token: String,
        }
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.opts.endpoint,
            enc(&self.bucket)
        );
        let mut out = Vec::new();
        let mut token = String::new();
        // A server that hands back a token it already gave would be listed forever.
        let mut seen_tokens = HashSet::new();
        let page_size = self.opts.page_size.to_string();
        loop {
            let resp = self
                .send(|| {
                    let mut q = vec![("prefix", prefix), ("maxResults", page_size.as_str())];
                    if !token.is_empty() {
                        q.push(("pageToken", token.as_str()));
                    }
                    self.http.get(&url).query(&q)
                })
                .await
                .map_err(|f| self.terr(prefix, f))?;
            let page: Page = Self::json(resp).await.map_err(|f| {
                let mut e = self.terr(prefix, f);
                e.fatal = true;
                e
            })?;
            let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
            for o in page.items {
                out.push(Remote {
                    key: o.name.clone(),
                    size: o.size.parse().unwrap_or(0),
                    sha256: o.metadata.get(SHA256_META).cloned(),
                });
                listed.insert(o.name.clone(), o);
            }
            drop(listed);
            if page.next_page_token.is_empty() {
                break;
            }
            if !seen_tokens.insert(page.next_page_token.clone()) {
                return Err(TransferError {
                    key: prefix.to_string(),
                    reason: "the listing repeated a nextPageToken it already gave; stopped".into(),
                    fatal: true,
                });
            }
            token = page.next_page_token;
        }
        Ok(out)
    }

    async fn get(
        &self,
        key: &str,
        file: &mut tokio::fs::File,
        to: &Path,
    ) -> Result<u64, TransferError> {
        let info = self
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
            .unwrap_or_default();
        let url = format!(
            "{}/download/storage/v1/b/{}/o/{}",
            self.opts.endpoint,
            enc(&self.bucket),
            enc(key)
        );
        // Ask for the stored bytes (no decompressive transcoding), so the CRC32C can be checked;
        // a gzip-encoded object is decompressed here, as the anchor's client returned it.
        let resp = self
            .send(|| {
                self.http
                    .get(&url)
                    .query(&[("alt", "media")])
                    .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            })
            .await
            .map_err(|f| self.terr(key, f))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let (text, _) = crate::http_body::read_capped(resp, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(self.terr(key, api_error(status, &String::from_utf8_lossy(&text))));
        }
        let terr = |reason: String| TransferError {
            key: key.to_string(),
            reason,
            fatal: false,
        };
        let io = |e: std::io::Error| terr(format!("cannot write {}: {e}", to.display()));
        let mut sink = Gunzip::new(&info);
        let mut body = resp.bytes_stream();
        let mut crc = 0u32;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| terr(crate::error::one_line(&e)))?;
            crc = crc32c::crc32c_append(crc, &chunk);
            let out = sink.feed(&chunk).map_err(terr)?;
            file.write_all(out).await.map_err(io)?;
        }
        let out = sink.finish().map_err(terr)?;
        file.write_all(out).await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        if let Some(want) = decode_crc(&info.crc32c)
            && want != crc
        {
            return Err(terr(format!(
                "downloaded CRC32C {crc:08x} does not match the stored {want:08x}"
            )));
        }
        Ok(sink.written)
    }
}

/// A download's bytes on their way to the file: as they come, or gunzipped as they come for a
/// gzip-encoded object, never more than the object's stated original size (or
/// [`MAX_GUNZIP_RATIO`] times its stored size when it states none).
struct Gunzip {
    decoder: Option<flate2::write::GzDecoder<Vec<u8>>>,
    pass: Vec<u8>,
    cap: u64,
    written: u64,
}

impl Gunzip {
    fn new(info: &ObjectJson) -> Self {
        let gzip = info.content_encoding.eq_ignore_ascii_case("gzip");
        let stored: u64 = info.size.parse().unwrap_or(0);
        let cap = match info.metadata.get(ORIGINAL_SIZE_META) {
            Some(n) => n.parse().unwrap_or(0),
            None => stored.saturating_mul(MAX_GUNZIP_RATIO).max(MIN_GUNZIP_CAP),
        };
        Self {
            decoder: gzip.then(|| flate2::write::GzDecoder::new(Vec::new())),
            pass: Vec::new(),
            cap: if gzip { cap } else { u64::MAX },
            written: 0,
        }
    }

    /// The bytes to write for `chunk`.
    fn feed(&mut self, chunk: &[u8]) -> Result<&[u8], String> {
        use std::io::Write as _;
        match &mut self.decoder {
            None => {
                self.pass.clear();
                self.pass.extend_from_slice(chunk);
            }
            Some(d) => {
                d.get_mut().clear();
                d.write_all(chunk)
                    .map_err(|e| format!("cannot gunzip: {e}"))?;
            }
        }
        self.counted()
    }

    /// The last decoded bytes, once the body has ended.
    fn finish(&mut self) -> Result<&[u8], String> {
        match &mut self.decoder {
            // Everything was passed on already.
            None => self.pass.clear(),
            Some(d) => {
                d.get_mut().clear();
                d.try_finish().map_err(|e| format!("cannot gunzip: {e}"))?;
            }
        }
        self.counted()
    }

    fn counted(&mut self) -> Result<&[u8], String> {
        let out = match &self.decoder {
            None => &self.pass,
            Some(d) => d.get_ref(),
        };
        self.written += out.len() as u64;
        if self.written > self.cap {
            return Err(format!(
                "the gzip-encoded object decodes to more than {} bytes (its stated size, or {MAX_GUNZIP_RATIO}× its stored size): refused",
                self.cap
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink_output(info: &ObjectJson, chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut sink = Gunzip::new(info);
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(sink.feed(c)?);
        }
        out.extend_from_slice(sink.finish()?);
        assert_eq!(sink.written, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn the_download_sink_passes_bytes_once_and_caps_gunzip() {
        use std::io::Write as _;
        let plain = ObjectJson::default();
        let got = sink_output(&plain, &[b"fi", b"ne"]).expect("plain");
        assert_eq!(got, b"fine");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&[7u8; 100_000]).expect("gzip");
        let gz = e.finish().expect("gzip");
        let mut info = ObjectJson {
            content_encoding: "gzip".into(),
            size: gz.len().to_string(),
            ..Default::default()
        };
        let (a, b) = gz.split_at(gz.len() / 2);
        info.metadata
            .insert(ORIGINAL_SIZE_META.into(), "100000".into());
        assert_eq!(sink_output(&info, &[a, b]).expect("gunzip").len(), 100_000);
        info.metadata.insert(ORIGINAL_SIZE_META.into(), "99".into());
        let e = sink_output(&info, &[a, b]).expect_err("over the stated size");
        assert!(e.contains("more than 99 bytes"), "{e}");
    }

    #[test]
    fn extract_bucket_name() {
        for (input, bucket, path) in [
            (
                "bucket-name/object/file.txt",
                "bucket-name",
                "object/file.txt",
            ),
            ("only-bucket", "only-bucket", ""),
            (
                "nested/bucket/path/to/object",
                "nested",
                "bucket/path/to/object",
            ),
            ("root/bucket/", "root", "bucket/"),
            ("object/file.jpg", "object", "file.jpg"),
            ("no-slash", "no-slash", ""),
        ] {
            assert_eq!(split_target(input), (bucket.into(), path.into()), "{input}");
        }
    }

    #[test]
    fn is_glob_pattern() {
        for (p, want) in [
            ("simple/path", false),
            ("path/with/dirs", false),
            ("path/*", true),
            ("path/file?.txt", true),
            ("path/[abc].txt", true),
            ("path/**/file", true),
            ("normal-file.txt", false),
            ("/absolute/path", false),
            ("./relative/path", false),
        ] {
            assert_eq!(is_glob(p), want, "{p}");
        }
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f.as_bytes()).unwrap();
        }
        d
    }

    fn names(d: &Path, sources: &str, ignore: &str, prefix: &str) -> Result<Vec<String>, String> {
        let list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let ign = if ignore.is_empty() {
            vec![]
        } else {
            list(ignore)
        };
        plan(&list(sources), &ign, prefix, d)
            .map(|v| v.into_iter().map(|p| p.name).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expand_glob_patterns() {
        let d = tree(&["test/file1.txt", "test/file2.js", "test/sub/file3.css"]);
        let p = d.path();
        assert!(!names(p, "test", "", "").unwrap().is_empty());
        assert!(!names(p, "test/*.txt", "", "").unwrap().is_empty());
        assert!(!names(p, "test/**", "", "").unwrap().is_empty());
        assert!(names(p, "test/*.txt,test/*.js", "", "").unwrap().len() >= 2);
        assert!(names(p, "", "", "").is_err());
        assert!(names(p, "/non/existent/path", "", "").is_err());
    }

    #[test]
    fn run_table_names_and_ignore() {
        // TestRun: source <tmp>/upload, target bucket/dir/, ignore sub/*.bin.
        let d = tree(&[
            "upload/file.txt",
            "upload/file.js",
            "upload/sub/file.css",
            "upload/sub/file.bin",
        ]);
        let abs = d.path().join("upload").to_string_lossy().into_owned();
        let mut got = names(d.path(), &abs, "sub/*.bin", "dir/").unwrap();
        got.sort();
        assert_eq!(got, ["dir/file.js", "dir/file.txt", "dir/sub/file.css"]);
        assert_eq!(content_type("dir/file.txt"), "text/plain");
        assert_eq!(content_type("dir/file.js"), "text/javascript");
        assert_eq!(content_type("dir/sub/file.css"), "text/css");
        assert!(gzip_wanted(&["js".into()], "dir/file.js"));
        assert!(!gzip_wanted(&["js".into()], "dir/file.json"));
    }

    #[test]
    fn should_ignore_file() {
        for (ignore, file, want) in [
            ("", "file.txt", false),
            ("*.log", "debug.log", true),
            ("*.log", "file.txt", false),
            ("*.log,*.tmp", "debug.log", true),
            ("*.log,*.tmp", "cache.tmp", true),
            ("*.log,*.tmp", "file.txt", false),
        ] {
            let pats: Vec<String> = ignore.split(',').map(str::to_string).collect();
            assert_eq!(
                Ignore::new(&pats).unwrap().matches(file),
                want,
                "{ignore} {file}"
            );
        }
    }

    #[test]
    fn glob_patterns_with_ignore() {
        let d = tree(&["test/op.txt", "test/dg.txt", "test/keep.txt"]);
        let mut got = names(d.path(), "test/*.txt", "dg.txt", "").unwrap();
        got.sort();
        assert_eq!(got, ["keep.txt", "op.txt"]);
        assert_eq!(
            names(d.path(), "test/*.txt", "dg.txt,keep.txt", "").unwrap(),
            ["op.txt"]
        );
        let mut got = names(d.path(), "test/*.txt", "*g.txt", "").unwrap();
        got.sort();
        assert_eq!(got, ["keep.txt", "op.txt"]);
    }

    #[test]
    fn root_level_and_production_scenarios() {
        let d = tree(&[
            "op.txt",
            "data.txt",
            "readme.md",
            "test/op.txt",
            "test/x.txt",
        ]);
        let mut got = names(d.path(), "*.txt", "", "").unwrap();
        got.sort();
        assert_eq!(got, ["data.txt", "op.txt"]);
        let abs_glob = format!("{}/test/*.txt", d.path().display());
        for src in [
            "op.txt",
            "./test/op.txt",
            abs_glob.as_str(),
            "*.txt",
            "./test/*.txt",
        ] {
            for n in names(d.path(), src, "", "").unwrap() {
                assert!(!n.contains("..") && !n.starts_with('/'), "{src}: {n}");
            }
        }
    }

    #[test]
    fn target_path_fix_single_file_rename() {
        let d = tree(&["service-name_1.0.0.zip", "a.txt"]);
        let p = d.path();
        // A prefix not ending in '/' is the object's name (the anchor's rename).
        assert_eq!(
            names(
                p,
                "service-name_1.0.0.zip",
                "",
                "project/service-name/1.0.0/service-name_1.0.0.zip"
            )
            .unwrap(),
            ["project/service-name/1.0.0/service-name_1.0.0.zip"]
        );
        assert_eq!(names(p, "a.txt", "", "uploads").unwrap(), ["uploads"]);
        assert_eq!(names(p, "a.txt", "", "file.zip").unwrap(), ["file.zip"]);
        // A directory target keeps the file name.
        assert_eq!(
            names(p, "a.txt", "", "uploads/").unwrap(),
            ["uploads/a.txt"]
        );
        // Bucket only: the file's name, never an empty object name.
        assert_eq!(names(p, "a.txt", "", "").unwrap(), ["a.txt"]);
    }

    #[test]
    fn double_star_is_every_depth_without_flattening() {
        let d = tree(&[
            "dist/a/x.js",
            "dist/b/x.js",
            "dist/top.js",
            "dist/b/c/deep.js",
            "dist/b/c/n.map",
        ]);
        let mut got = names(d.path(), "dist/**", "", "p").unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                "p/a/x.js",
                "p/b/c/deep.js",
                "p/b/c/n.map",
                "p/b/x.js",
                "p/top.js"
            ]
        );
        let mut got = names(d.path(), "dist/**/*.js", "**/c", "").unwrap();
        got.sort();
        assert_eq!(got, ["a/x.js", "b/x.js", "top.js"]);
        let mut got = names(d.path(), "dist/*/x.js", "", "").unwrap();
        got.sort();
        assert_eq!(got, ["a/x.js", "b/x.js"]);
        assert_eq!(
            names(d.path(), "dist/b/c/n.ma?", "", "").unwrap(),
            ["n.map"]
        );
        assert_eq!(
            names(d.path(), "dist/[t]op.js", "", "").unwrap(),
            ["top.js"]
        );
        assert!(
            names(d.path(), "dist/*.css", "", "")
                .unwrap_err()
                .contains("matched no files")
        );
    }

    #[test]
    fn collisions_are_refused_naming_both() {
        let d = tree(&["a/x.js", "b/x.js"]);
        let e = names(d.path(), "a/x.js,b/x.js", "", "t/").unwrap_err();
        assert!(e.contains("a/x.js") && e.contains("b/x.js"), "{e}");
    }

    #[test]
    fn acl_items() {
        assert_eq!(
            parse_acl(&["allUsers:READER".into(), "user@domain.com:OWNER".into()]).unwrap(),
            [
                ("allUsers".to_string(), "READER".to_string()),
                ("user-user@domain.com".into(), "OWNER".into())
            ]
        );
        assert!(parse_acl(&["allUsers".into()]).is_err());
        assert!(parse_acl(&["allUsers:WRITER".into()]).is_err());
    }

    #[test]
    fn urls_and_encoding() {
        assert_eq!(enc("a b/c+d"), "a%20b%2Fc%2Bd");
        assert_eq!(decode_crc("AAAAAA=="), Some(0));
    }
}
